/*
 * api.c -- runtime API behaviour seen from an instrumented program.
 *
 *   ./api reentry-ir       handler running 20x the interval of instrumented code, IR mode
 *   ./api reentry-cycles   the same in cycles mode
 *   ./api nesting          nested ci_disable/ci_enable with a pending interrupt
 *
 * Prints "stat key=value ..." lines on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ci_lib.h>

static volatile unsigned long sink;

/* Instrumented busy work: roughly `n` loop iterations. */
__attribute__((noinline)) static void work(long n) {
    for (long i = 0; i < n; i++) {
        if (i & 1)
            sink += (unsigned long)i;
        else
            sink ^= (unsigned long)i << 3;
    }
}

/* ---------------- re-entrancy ---------------- */

static volatile int in_handler;
static long calls, reentered, max_depth, depth;

static void heavy_handler(long count) {
    (void)count;
    if (in_handler)
        reentered++;
    in_handler = 1;
    if (++depth > max_depth)
        max_depth = depth;
    calls++;
    work(5000); /* far more IR instructions than the interval */
    depth--;
    in_handler = 0;
}

static int reentry(int cycles) {
    long p0 = ci_instruction_count(); /* counted without a handler too */
    work(400000);
    long plain = ci_instruction_count() - p0;
    if (cycles)
        register_ci(0, 20000, heavy_handler);
    else
        register_ci(1000, 0, heavy_handler);
    long i0 = ci_instruction_count();
    work(400000);
    long di = ci_instruction_count() - i0;
    deregister_ci();
    printf("stat mode=%s calls=%ld rt_calls=%ld reentered=%ld max_depth=%ld instr=%ld "
           "plain_instr=%ld\n",
           cycles ? "cycles" : "ir", calls, ci_handler_calls(), reentered, max_depth, di, plain);
    return 0;
}

/* ---------------- disable / enable nesting ---------------- */

static volatile int depth_now;     /* our own view of the ci_disable nesting */
static volatile int enabling;      /* set by the enable hook, cleared after ci_enable returns */
static long while_disabled, during_enable, other_calls;
static long disable_hooks, enable_hooks;

static void counting_handler(long count) {
    (void)count;
    if (depth_now > 0 && !enabling)
        while_disabled++;
    else if (enabling)
        during_enable++;
    else
        other_calls++;
}

static void on_disable(long count) {
    (void)count;
    disable_hooks++;
}

static void on_enable(long count) {
    (void)count;
    enable_hooks++;
    enabling = 1;
}

static void dis(void) {
    ci_disable();
    depth_now++;
}

static void en(void) {
    depth_now--;
    ci_enable();
    enabling = 0;
}

static int nesting(void) {
    register_ci(1000, 0, counting_handler);
    register_ci_disable_hook(on_disable);
    register_ci_enable_hook(on_enable);

    work(20000); /* the handler works while enabled */
    long base = ci_handler_calls();

    dis();
    dis();
    long i0 = ci_instruction_count();
    work(50000);
    en(); /* inner: nothing delivered */
    long after_inner = ci_handler_calls() - base;
    work(50000);
    long disabled_instr = ci_instruction_count() - i0;
    long hooks_before_outer = enable_hooks;
    en(); /* outermost: the pending interrupt, exactly once */
    long delivered = during_enable;

    ci_enable(); /* unmatched: ignored */
    ci_enable();
    dis(); /* ...so this disables again */
    work(50000);
    long during_second = while_disabled;
    en();
    long delivered2 = during_enable - delivered;

    deregister_ci();
    printf("stat disabled_instr=%ld after_inner=%ld while_disabled=%ld during_second=%ld "
           "delivered=%ld delivered2=%ld disable_hooks=%ld enable_hooks=%ld "
           "hooks_before_outer=%ld other_calls=%ld\n",
           disabled_instr, after_inner, while_disabled, during_second, delivered, delivered2,
           disable_hooks, enable_hooks, hooks_before_outer, other_calls);
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "reentry-ir"))
        return reentry(0);
    if (!strcmp(what, "reentry-cycles"))
        return reentry(1);
    if (!strcmp(what, "nesting"))
        return nesting();
    fprintf(stderr, "usage: %s reentry-ir|reentry-cycles|nesting\n", argv[0]);
    return 2;
}
