/*
 * threads.c -- an end-to-end test program for Compiler Interrupts.
 *
 *   ./threads ir|cycles INTERVAL
 *
 * The main thread and four workers each register their own handler (IR mode or cycles mode);
 * a fifth worker never registers.  The work covers loops, recursion, function pointers (also
 * called back from libc's qsort), setjmp/longjmp out of deep recursion, and pthread_create from
 * a registered thread.
 *
 * stdout: the results of the computation only (must not depend on the handler).
 * stderr: one line per thread, "stat name=... registered=0|1 calls=... rt_calls=... instr=...
 *         tsc=... cpu_tsc=... reentered=... nonmonotonic=...", plus "stat name=clock
 *         tsc_per_ns=...".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include <ci_lib.h>

static int cycles_mode;
static int interval;
static double tsc_per_ns;

struct tstat {
    const char *name;
    int registered;
    long calls;       /* counted by the handler */
    long rt_calls;    /* ci_handler_calls() */
    long reentered;   /* handler entered while already running on this thread */
    long nonmonotonic;
    long last_arg;
    long instr0, instr; /* ci_instruction_count() at start, delta at end */
    uint64_t tsc0, tsc;
    double cpu0_ns, cpu_ns;
    unsigned long result;
};

static __thread struct tstat *me;
static __thread volatile int in_handler;
static volatile unsigned long handler_sink;

__attribute__((noinline)) static void handler_work(int n) {
    for (int i = 0; i < n; i++)
        handler_sink += (unsigned long)i * 2654435761u;
}

static void handler(long count) {
    struct tstat *s = me;
    if (in_handler)
        s->reentered++;
    in_handler = 1;
    if (count < s->last_arg)
        s->nonmonotonic++;
    s->last_arg = count;
    s->calls++;
    handler_work(8); /* instrumented code inside the handler: must not re-enter it */
    in_handler = 0;
}

static double thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void begin(struct tstat *s, int do_register) {
    me = s;
    s->registered = do_register;
    if (do_register)
        register_ci(cycles_mode ? 0 : interval, cycles_mode ? interval : 0, handler);
    s->instr0 = ci_instruction_count();
    s->cpu0_ns = thread_cpu_ns();
    s->tsc0 = __rdtsc();
}

static void end(struct tstat *s) {
    s->tsc = __rdtsc() - s->tsc0;
    s->cpu_ns = thread_cpu_ns() - s->cpu0_ns;
    s->instr = ci_instruction_count() - s->instr0;
    if (s->registered)
        deregister_ci(); /* first: no handler call can slip in between the two counts */
    s->rt_calls = ci_handler_calls();
}

/* ---------------- loops ---------------- */

static unsigned long loops_work(void) {
    enum { N = 4096 };
    static unsigned a[N], b[N];
    unsigned long h = 1469598103934665603ul;
    for (int i = 0; i < N; i++) {
        a[i] = (unsigned)(i * 2654435761u);
        b[i] = (unsigned)(i ^ (i >> 3));
    }
    for (int rep = 0; rep < 1000; rep++) {
        for (int i = 0; i < N; i++) {
            unsigned x = a[i] ^ b[(i + rep) & (N - 1)];
            if (x & 1)
                h = (h ^ x) * 1099511628211ul;
            else
                h += x >> 2;
            a[i] = x + (unsigned)rep;
        }
        double acc = 0;
        for (int i = 1; i < 64; i++)
            acc += 1.0 / ((double)i * i + rep);
        h += (unsigned long)(acc * 1e6);
    }
    return h;
}

/* ---------------- recursion ---------------- */

struct node {
    struct node *l, *r;
    long v;
};

static struct node *build(int depth, long seed) {
    if (depth == 0)
        return NULL;
    struct node *n = malloc(sizeof *n);
    n->v = seed % 1000;
    n->l = build(depth - 1, seed * 31 + 7);
    n->r = build(depth - 1, seed * 17 + 3);
    return n;
}

static long tree_sum(struct node *n) {
    return n ? n->v + 2 * tree_sum(n->l) - tree_sum(n->r) % 7 : 0;
}

static void tree_free(struct node *n) {
    if (n) {
        tree_free(n->l);
        tree_free(n->r);
        free(n);
    }
}

static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static unsigned long recursion_work(void) {
    unsigned long r = 0;
    for (int k = 0; k < 12; k++) {
        struct node *t = build(13, k + 1);
        r = r * 31 + (unsigned long)tree_sum(t);
        tree_free(t);
    }
    return r + (unsigned long)fib(27);
}

/* ---------------- function pointers ---------------- */

typedef unsigned long (*op_fn)(unsigned long, unsigned long);
static unsigned long op_add(unsigned long a, unsigned long b) { return a + b; }
static unsigned long op_xor(unsigned long a, unsigned long b) { return a ^ (b << 1); }
static unsigned long op_mul(unsigned long a, unsigned long b) { return a * (b | 1); }
static unsigned long op_rot(unsigned long a, unsigned long b) {
    return (a << (b & 31)) | (a >> (64 - (b & 31) - 1) >> 1);
}
static op_fn volatile ops[4] = {op_add, op_xor, op_mul, op_rot};

static int cmp_long(const void *x, const void *y) { /* called back from libc */
    long a = *(const long *)x, b = *(const long *)y;
    return (a > b) - (a < b);
}

static unsigned long fnptr_work(void) {
    enum { N = 20000 };
    static long arr[N];
    unsigned long acc = 7;
    for (int rep = 0; rep < 12; rep++) {
        for (int i = 0; i < N; i++) {
            acc = ops[(i + rep) & 3](acc, (unsigned long)i);
            arr[i] = (long)(acc % 100003) - 50000;
        }
        qsort(arr, N, sizeof arr[0], cmp_long);
        acc += (unsigned long)arr[N / 2] + (unsigned long)arr[rep];
    }
    return acc;
}

/* ---------------- setjmp / longjmp ---------------- */

static jmp_buf escape;
static volatile long deepest;

__attribute__((noinline)) static long dive(int depth, int limit, long acc) {
    volatile long frame[4] = {acc, depth, acc ^ depth, 0};
    if (depth > deepest)
        deepest = depth;
    if (depth == limit)
        longjmp(escape, (int)(frame[2] & 0xff) + 1); /* out of `limit` frames at once */
    frame[3] = dive(depth + 1, limit, acc * 3 + depth);
    return frame[3] + frame[0];
}

static unsigned long longjmp_work(void) {
    volatile unsigned long total = 0;
    for (volatile int rep = 0; rep < 6000; rep++) {
        int v = setjmp(escape);
        if (v == 0) {
            total += (unsigned long)dive(0, 200 + rep % 57, rep);
            total += 1000000; /* never reached: dive always longjmps */
        } else {
            total += (unsigned long)v;
        }
    }
    return total + (unsigned long)deepest;
}

/* ---------------- threads ---------------- */

struct job {
    struct tstat st;
    unsigned long (*work)(void);
    int do_register;
};

static void *worker(void *arg) {
    struct job *j = arg;
    begin(&j->st, j->do_register);
    j->st.result = j->work();
    end(&j->st);
    return NULL;
}

static void calibrate_tsc(void) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t t0 = __rdtsc();
    double ns;
    do {
        clock_gettime(CLOCK_MONOTONIC, &b);
        ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    } while (ns < 5e6);
    tsc_per_ns = (double)(__rdtsc() - t0) / ns;
}

static void report(const struct tstat *s) {
    fprintf(stderr,
            "stat name=%s registered=%d calls=%ld rt_calls=%ld instr=%ld tsc=%llu cpu_tsc=%.0f "
            "reentered=%ld nonmonotonic=%ld\n",
            s->name, s->registered, s->calls, s->rt_calls, s->instr, (unsigned long long)s->tsc,
            s->cpu_ns * tsc_per_ns, s->reentered, s->nonmonotonic);
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "ir") && strcmp(argv[1], "cycles"))) {
        fprintf(stderr, "usage: %s ir|cycles INTERVAL\n", argv[0]);
        return 2;
    }
    cycles_mode = !strcmp(argv[1], "cycles");
    interval = atoi(argv[2]);
    calibrate_tsc();

    /* The main thread's own registered work first (alone on the machine). */
    struct tstat main_st = {.name = "main"};
    begin(&main_st, 1);
    main_st.result = loops_work() ^ longjmp_work();
    end(&main_st);

    struct job jobs[5] = {
        {.st = {.name = "loops"}, .work = loops_work, .do_register = 1},
        {.st = {.name = "recursion"}, .work = recursion_work, .do_register = 1},
        {.st = {.name = "fnptr"}, .work = fnptr_work, .do_register = 1},
        {.st = {.name = "longjmp"}, .work = longjmp_work, .do_register = 1},
        {.st = {.name = "unregistered"}, .work = loops_work, .do_register = 0},
    };
    /* Created by a registered thread (main registers again), at most two at a time (2 cores),
     * so a thread's TSC time is close to its running time. */
    register_ci(cycles_mode ? 0 : interval, cycles_mode ? interval : 0, handler);
    pthread_t t[5];
    for (int i = 0; i < 5; i += 2) {
        int n = i + 2 <= 5 ? 2 : 1;
        for (int k = 0; k < n; k++)
            if (pthread_create(&t[i + k], NULL, worker, &jobs[i + k])) {
                perror("pthread_create");
                return 1;
            }
        for (int k = 0; k < n; k++)
            pthread_join(t[i + k], NULL);
    }
    deregister_ci();

    printf("main %lu\n", main_st.result);
    for (int i = 0; i < 5; i++)
        printf("%s %lu\n", jobs[i].st.name, jobs[i].st.result);
    fprintf(stderr, "stat name=clock tsc_per_ns=%.4f\n", tsc_per_ns);
    report(&main_st);
    for (int i = 0; i < 5; i++)
        report(&jobs[i].st);
    return 0;
}
