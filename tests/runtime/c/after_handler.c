/* ci_after_handler: a handler that preempts the running "green thread" by switching to the
 * other one from the after-handler hook (two ucontexts, round-robin).  ./after_handler ir
 * Prints: calls (handler calls), switches, sum_a, sum_b (results of both computations),
 * outside (ci_after_handler outside a handler), in_handler_seen (hook ran inside the handler:
 * must be 0), errno_a (errno of computation a after being preempted many times: 7). */
#include <errno.h>
#include <stdio.h>
#include <ucontext.h>
#include "probe.h"

static ucontext_t ctx_main, ctx_a, ctx_b;
static ucontext_t *cur;
static int done_a, done_b;
static long calls, switches, hook_in_handler;
static int handler_running;
static long sum_a, sum_b;
static char stack_a[1 << 16], stack_b[1 << 16];

static void switch_away(void *arg) {
    (void)arg;
    if (handler_running)
        hook_in_handler++;
    ucontext_t *from = cur;
    ucontext_t *to = (cur == &ctx_a) ? (done_b ? NULL : &ctx_b) : (done_a ? NULL : &ctx_a);
    if (to == NULL)
        return;
    switches++;
    cur = to;
    errno = 1234; /* the other thread's errno: must not leak into the interrupted code */
    swapcontext(from, to);
}

static void handler(long count) {
    (void)count;
    handler_running = 1;
    calls++;
    ci_after_handler(switch_away, NULL);
    handler_running = 0;
}

static int errno_a;

static void work_a(void) {
    errno = 7;
    for (long i = 0; i < 2000000; i++) {
        sum_a += i % 7;
        PROBE(3);
    }
    errno_a = errno;
    done_a = 1;
}

static void work_b(void) {
    for (long i = 0; i < 1000000; i++) {
        sum_b += i % 11;
        PROBE(5);
    }
    done_b = 1;
}

int main(void) {
    int outside = ci_after_handler(switch_away, NULL);
    getcontext(&ctx_a);
    ctx_a.uc_stack.ss_sp = stack_a;
    ctx_a.uc_stack.ss_size = sizeof stack_a;
    ctx_a.uc_link = &ctx_main;
    makecontext(&ctx_a, work_a, 0);
    getcontext(&ctx_b);
    ctx_b.uc_stack.ss_sp = stack_b;
    ctx_b.uc_stack.ss_size = sizeof stack_b;
    ctx_b.uc_link = &ctx_main;
    makecontext(&ctx_b, work_b, 0);
    register_ci(10000, 0, handler);
    errno = 0;
    /* Run until both finish: a finished context returns here (uc_link). */
    while (!(done_a && done_b)) {
        cur = !done_a ? &ctx_a : &ctx_b;
        swapcontext(&ctx_main, cur);
    }
    deregister_ci();
    printf("calls=%ld\nswitches=%ld\nsum_a=%ld\nsum_b=%ld\noutside=%d\nin_handler_seen=%ld\n",
           calls, switches, sum_a, sum_b, outside, hook_in_handler);
    printf("errno_a=%d\n", errno_a);
    return 0;
}
