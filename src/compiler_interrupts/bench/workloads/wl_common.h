/*
 * wl_common.h - shared helpers for the benchmark workloads.
 *
 * Every workload is a single C11 file that includes this header first.  It
 * provides: a deterministic PRNG (splitmix64), monotonic timing, a checksum
 * helper (integers and doubles), argument parsing for `prog THREADS SIZE`,
 * output of the `checksum:` / `runtime:` lines, a spawn/join helper that runs
 * a function on N threads, a simple reusable barrier, and range helpers.
 *
 * Determinism rule used by all workloads: work whose results are combined
 * (sums, histograms, ...) is split into a fixed number of chunks that depends
 * only on the problem size; every chunk has its own partial result, and the
 * partials are combined by the main thread in chunk order.  Threads merely
 * decide *who* computes a chunk, never *what* it computes.
 */
#ifndef WL_COMMON_H
#define WL_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WL_MAX_THREADS 256

/*
 * Keep floating-point results independent of the target: no fused multiply-add
 * contraction (clang would otherwise fuse a*b+c when FMA is available, e.g. with
 * -march=native).  GCC in ISO C mode (-std=c11) does not contract either.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ---------------------------------------------------------------- PRNG -- */

typedef struct {
    uint64_t s;
} wl_rng;

static inline uint64_t wl_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline void wl_rng_seed(wl_rng *r, uint64_t seed)
{
    r->s = wl_mix64(seed + UINT64_C(0x9e3779b97f4a7c15));
}

/* splitmix64 */
static inline uint64_t wl_rng_next(wl_rng *r)
{
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    return wl_mix64(r->s);
}

static inline uint32_t wl_rng_u32(wl_rng *r)
{
    return (uint32_t)(wl_rng_next(r) >> 32);
}

/* Uniform integer in [0, n), n > 0 (multiply-shift, tiny bias is fine). */
static inline uint32_t wl_rng_below(wl_rng *r, uint32_t n)
{
    return (uint32_t)(((uint64_t)wl_rng_u32(r) * n) >> 32);
}

/* Uniform double in [0, 1). */
static inline double wl_rng_double(wl_rng *r)
{
    return (double)(wl_rng_next(r) >> 11) * 0x1p-53;
}

/* Uniform double in [lo, hi). */
static inline double wl_rng_range(wl_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * wl_rng_double(r);
}

/* ------------------------------------------------------------ timing -- */

static inline double wl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------- checksum -- */

#define WL_CKS_INIT UINT64_C(0xcbf29ce484222325)

static inline uint64_t wl_cks_u64(uint64_t h, uint64_t v)
{
    return wl_mix64(h ^ (v + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2)));
}

/*
 * Mix a double into a checksum.  The value is first rounded to ~40 mantissa
 * bits so that the checksum only depends on the computed value, not on the
 * last few ulps (all workloads are nevertheless computed in a fixed order).
 */
static inline uint64_t wl_cks_f64(uint64_t h, double x)
{
    uint64_t bits;
    if (x == 0.0)
        x = 0.0; /* fold -0.0 into +0.0 */
    memcpy(&bits, &x, sizeof bits);
    bits = (bits + (UINT64_C(1) << 11)) & ~((UINT64_C(1) << 12) - 1);
    return wl_cks_u64(h, bits);
}

static inline uint64_t wl_cks_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t f = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        f ^= b[i];
        f *= UINT64_C(0x100000001b3);
    }
    return wl_cks_u64(h, f ^ (uint64_t)n);
}

/* ------------------------------------------------- arguments / output -- */

static inline _Noreturn void wl_usage(const char *prog, const char *size_doc)
{
    fprintf(stderr, "usage: %s THREADS SIZE\n  THREADS: 1..%d worker threads\n  SIZE: %s\n",
            prog, WL_MAX_THREADS, size_doc);
    exit(2);
}

static inline int wl_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

/* Parse `prog THREADS SIZE`; exits with status 2 and a usage message on error. */
static inline void wl_parse_args(int argc, char **argv, const char *size_doc, long size_min,
                                 long size_max, int *threads, long *size)
{
    long t = 0;
    if (argc != 3 || !wl_parse_long(argv[1], 1, WL_MAX_THREADS, &t) ||
        !wl_parse_long(argv[2], size_min, size_max, size)) {
        wl_usage(argc > 0 ? argv[0] : "prog", size_doc);
    }
    *threads = (int)t;
}

static inline void wl_report(uint64_t checksum, double seconds)
{
    printf("checksum: %016llx\n", (unsigned long long)checksum);
    fflush(stdout);
    fprintf(stderr, "runtime: %.6f\n", seconds);
}

static inline _Noreturn void wl_die(const char *msg)
{
    fprintf(stderr, "error: %s\n", msg);
    exit(1);
}

static inline void *wl_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        wl_die("out of memory");
    return p;
}

static inline void *wl_zalloc(size_t n)
{
    void *p = calloc(n ? n : 1, 1);
    if (!p)
        wl_die("out of memory");
    return p;
}

/* ------------------------------------------------------------ ranges -- */

/* [*lo, *hi) is part `i` of `parts` contiguous, near-equal parts of [0, n). */
static inline void wl_range(long n, long i, long parts, long *lo, long *hi)
{
    long q = n / parts, r = n % parts;
    *lo = i * q + (i < r ? i : r);
    *hi = *lo + q + (i < r ? 1 : 0);
}

/* ----------------------------------------------------------- threads -- */

typedef void (*wl_thread_fn)(int tid, int nthreads, void *arg);

typedef struct {
    wl_thread_fn fn;
    void *arg;
    int tid, nthreads;
} wl_thread_slot;

static inline void *wl_thread_tramp(void *p)
{
    wl_thread_slot *s = (wl_thread_slot *)p;
    s->fn(s->tid, s->nthreads, s->arg);
    return NULL;
}

/* Spawn `n` threads running fn(tid, n, arg) for tid = 0..n-1 and join them. */
static inline void wl_parallel(int n, wl_thread_fn fn, void *arg)
{
    pthread_t th[WL_MAX_THREADS];
    wl_thread_slot slot[WL_MAX_THREADS];
    for (int i = 0; i < n; i++) {
        slot[i].fn = fn;
        slot[i].arg = arg;
        slot[i].tid = i;
        slot[i].nthreads = n;
        if (pthread_create(&th[i], NULL, wl_thread_tramp, &slot[i]) != 0)
            wl_die("pthread_create failed");
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/*
 * Reusable barrier: a mutex + condition variable, with a short spin on an
 * atomic phase counter before blocking (cheap when threads <= cores, still
 * correct and polite when the machine is oversubscribed).
 */
#define WL_BARRIER_SPIN 20000

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count, waiting;
    atomic_ulong phase;
} wl_barrier;

static inline void wl_barrier_init(wl_barrier *b, int count)
{
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->count = count;
    b->waiting = 0;
    atomic_init(&b->phase, 0);
}

static inline void wl_barrier_destroy(wl_barrier *b)
{
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
}

/* Returns 1 in exactly one thread per round (the last to arrive), 0 in the others. */
static inline int wl_barrier_wait(wl_barrier *b)
{
    pthread_mutex_lock(&b->mu);
    unsigned long my_phase = atomic_load(&b->phase);
    if (++b->waiting == b->count) {
        b->waiting = 0;
        atomic_store(&b->phase, my_phase + 1);
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        return 1;
    }
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < WL_BARRIER_SPIN; i++)
        if (atomic_load_explicit(&b->phase, memory_order_acquire) != my_phase)
            return 0;
    pthread_mutex_lock(&b->mu);
    while (atomic_load(&b->phase) == my_phase)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

#endif /* WL_COMMON_H */
