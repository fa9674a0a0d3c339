/* Cycles mode: ./cycles_mode CYCLES_INTERVAL DURATION_TICKS [IR_INITIAL] */
#include <time.h>
#include "probe.h"

static double ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define MAXS 200000
static uint64_t t_entry[MAXS], t_exit[MAXS];
static long n;

static void handler(long count) {
    (void)count;
    uint64_t t = now_ticks();
    if (n < MAXS)
        t_entry[n] = t;
    if (n < MAXS)
        t_exit[n] = now_ticks();
    n++;
}

int main(int argc, char **argv) {
    long interval = atol(argv[1]);
    uint64_t duration = strtoull(argv[2], NULL, 0);
    int initial = argc > 3 ? atoi(argv[3]) : 0;
    volatile uint64_t x = 1;
    double cpu0 = ns(CLOCK_THREAD_CPUTIME_ID), wall0 = ns(CLOCK_MONOTONIC);
    uint64_t t0 = now_ticks();
    register_ci(initial, (int)interval, handler);
    for (;;) {
        for (int j = 0; j < 1000; j++) {
            PROBE(6);
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        }
        if (now_ticks() - t0 >= duration)
            break;
    }
    uint64_t t1 = now_ticks();
    double cpu1 = ns(CLOCK_THREAD_CPUTIME_ID), wall1 = ns(CLOCK_MONOTONIC);
    deregister_ci();
    long m = n < MAXS ? n : MAXS;
    static uint64_t iv[MAXS];
    long k = 0;
    for (long i = 1; i < m; i++)
        iv[k++] = t_entry[i] - t_exit[i - 1];
    printf("calls=%ld\n", n);
    /* fraction of the run this thread was actually on a CPU (others may share the machine) */
    printf("oncpu=%f\n", (cpu1 - cpu0) / (wall1 - wall0));
    printf("elapsed=%llu\n", (unsigned long long)(t1 - t0));
    printf("intervals=%ld\n", k);
    printf("p10=%llu\n", (unsigned long long)quantile(iv, k, 0.10));
    printf("median=%llu\n", (unsigned long long)quantile(iv, k, 0.50));
    printf("p90=%llu\n", (unsigned long long)quantile(iv, k, 0.90));
    printf("cpi=%f\n", __ci_cycles_per_instr());
    printf("count=%ld\n", ci_instruction_count());
    return 0;
}
