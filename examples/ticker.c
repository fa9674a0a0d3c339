/*
 * ticker.c -- the bundled Compiler Interrupts example.
 *
 * Two worker threads do different kinds of work (a floating-point matrix loop and a recursive,
 * branchy N-queens search).  Each registers its own handler in cycles mode:
 *
 *     register_ci(0, interval_cycles, on_tick);     // ir_interval <= 0: the runtime calibrates
 *
 * The handler measures, with the TSC, how long it has been since the end of its previous call
 * (its own running time is excluded) and stores the delta in a per-thread array allocated before
 * registering.  At the end the program prints, per thread: handler calls, IR instructions
 * counted by the runtime, and the p10/p50/p90 of the measured intervals against the requested
 * one; then the result of the computation, which does not depend on the handler.
 *
 * Build:  ci-cc -O2 ticker.c -o ticker        (the driver adds -pthread and the runtime)
 * Run:    ./ticker [interval_cycles=5000] [work_scale=1]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(__x86_64__) && !defined(__i386__)
#error "ticker.c measures intervals with the x86 TSC (__rdtsc)"
#endif
#include <x86intrin.h>

#include <ci_lib.h>

#define MAX_SAMPLES (1u << 20)

struct worker {
    const char *name;
    int scale;
    /* filled by the thread */
    uint32_t *samples; /* preallocated: the handler never allocates */
    size_t nsamples;
    uint64_t last;     /* TSC at the end of the previous handler call (or registration) */
    long calls;        /* counted by the handler itself */
    long rt_calls;     /* ci_handler_calls() at the end */
    long instructions; /* ci_instruction_count() at the end */
    double result;
    long result2;
};

static int interval_cycles = 5000;
static __thread struct worker *self;

/* The handler: runs on the thread that registered it, never re-entered. */
static void on_tick(long ir_count) {
    uint64_t now = __rdtsc();
    struct worker *w = self;
    (void)ir_count;
    if (w->nsamples < MAX_SAMPLES) {
        uint64_t d = now - w->last;
        w->samples[w->nsamples++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    }
    w->calls++;
    w->last = __rdtsc(); /* the next delta starts when this handler is done */
}

static void start_ticking(struct worker *w) {
    w->samples = malloc(MAX_SAMPLES * sizeof *w->samples);
    if (w->samples == NULL) {
        perror("malloc");
        exit(1);
    }
    memset(w->samples, 0, MAX_SAMPLES * sizeof *w->samples); /* touch the pages up front */
    self = w;
    w->last = __rdtsc();
    register_ci(0, interval_cycles, on_tick);
}

static void stop_ticking(struct worker *w) {
    deregister_ci();
    w->rt_calls = ci_handler_calls();
    w->instructions = ci_instruction_count();
}

/* ---- work 1: numeric (dense matrix products) ---- */

#define N 48
static double matrix_work(int reps) {
    static double a[N][N], b[N][N], c[N][N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            a[i][j] = (double)((i * 7 + j * 3) % 11) / 11.0;
            b[i][j] = (double)((i * 5 + j * 13) % 17) / 17.0;
        }
    double trace = 0.0;
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                double s = 0.0;
                for (int k = 0; k < N; k++)
                    s += a[i][k] * b[k][j];
                c[i][j] = s;
            }
        /* feed the product back, normalised (power iteration: values stay in [0, 1]) */
        double max = 0.0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                max = c[i][j] > max ? c[i][j] : max;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                a[i][j] = c[i][j] / max;
        trace += max + a[r % N][(r * 7) % N];
    }
    return trace;
}

static void *numeric_thread(void *arg) {
    struct worker *w = arg;
    start_ticking(w);
    w->result = matrix_work(1200 * w->scale);
    stop_ticking(w);
    return NULL;
}

/* ---- work 2: recursive and branchy (N-queens) ---- */

static long nodes[16]; /* search-tree nodes per row: a side effect, so no call is folded away */

static long queens(int n, int row, unsigned cols, unsigned d1, unsigned d2) {
    nodes[row]++;
    if (row == n)
        return 1;
    long count = 0;
    unsigned avail = ~(cols | d1 | d2) & ((1u << n) - 1);
    while (avail) {
        unsigned bit = avail & -avail;
        avail ^= bit;
        count += queens(n, row + 1, cols | bit, (d1 | bit) << 1, (d2 | bit) >> 1);
    }
    return count;
}

static void *recursive_thread(void *arg) {
    struct worker *w = arg;
    start_ticking(w);
    long total = 0;
    for (int r = 0; r < 4 * w->scale; r++)
        for (int n = 4; n <= 12; n++)
            total += queens(n, 0, 0, 0, 0);
    long visited = 0;
    for (int i = 0; i < 16; i++)
        visited += nodes[i];
    w->result = (double)total;
    w->result2 = visited;
    stop_ticking(w);
    return NULL;
}

/* ---- report ---- */

static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

static uint32_t percentile(const uint32_t *sorted, size_t n, int p) {
    size_t i = (size_t)((double)p / 100.0 * (double)(n - 1) + 0.5);
    return sorted[i];
}

int main(int argc, char **argv) {
    if (argc > 1)
        interval_cycles = atoi(argv[1]);
    int scale = argc > 2 ? atoi(argv[2]) : 1;
    if (interval_cycles <= 0 || scale <= 0) {
        fprintf(stderr, "usage: %s [interval_cycles>0] [work_scale>0]\n", argv[0]);
        return 2;
    }

    struct worker w[2] = {{.name = "numeric", .scale = scale},
                          {.name = "recursive", .scale = scale}};
    pthread_t t[2];
    pthread_create(&t[0], NULL, numeric_thread, &w[0]);
    pthread_create(&t[1], NULL, recursive_thread, &w[1]);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);

    printf("requested interval: %d cycles (handler time excluded from the measured ones)\n",
           interval_cycles);
    printf("%-10s %13s %15s %9s %9s %9s  %s\n", "thread", "handler_calls", "ir_instructions",
           "p10", "p50", "p90", "p50/requested");
    for (int i = 0; i < 2; i++) {
        struct worker *x = &w[i];
        if (x->calls != x->rt_calls)
            printf("warning: %s: handler counted %ld calls, runtime says %ld\n", x->name,
                   x->calls, x->rt_calls);
        if (x->nsamples == 0) {
            printf("%-10s %13ld %15ld %9s %9s %9s  %s\n", x->name, x->calls, x->instructions, "-",
                   "-", "-", "-");
        } else {
            qsort(x->samples, x->nsamples, sizeof *x->samples, cmp_u32);
            uint32_t p10 = percentile(x->samples, x->nsamples, 10);
            uint32_t p50 = percentile(x->samples, x->nsamples, 50);
            uint32_t p90 = percentile(x->samples, x->nsamples, 90);
            printf("%-10s %13ld %15ld %9u %9u %9u  %.2f\n", x->name, x->calls, x->instructions,
                   p10, p50, p90, (double)p50 / interval_cycles);
        }
        free(x->samples);
    }
    printf("result: trace=%.9g solutions=%.0f nodes=%ld\n", w[0].result, w[1].result,
           w[1].result2);
    return 0;
}
