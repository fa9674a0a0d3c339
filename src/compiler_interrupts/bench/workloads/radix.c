/*
 * radix - parallel LSD radix sort of 32-bit integer keys (SPLASH-2 RADIX-like).
 *
 * Usage: radix THREADS SIZE
 *   SIZE = number of keys (1000..100000000).
 *
 * Four passes of 8 bits each.  The key array is cut into NCHUNK fixed chunks
 * (independent of the thread count); per pass every chunk builds a digit
 * histogram, a global prefix sum over (digit, chunk) gives each chunk its
 * output offsets, and each chunk scatters its keys stably.  Threads own whole
 * chunks, so the permutation is identical for any thread count.
 */
#include "wl_common.h"

#define RADIX_BITS 8
#define NBUCKET (1 << RADIX_BITS)
#define NCHUNK 64

typedef struct {
    long n;
    uint32_t *src, *dst;
    long (*count)[NBUCKET]; /* [NCHUNK][NBUCKET] histogram, then offsets */
    int shift;
    wl_barrier bar;
} radix_ctx;

static void worker(int tid, int nt, void *arg)
{
    radix_ctx *c = arg;
    long clo, chi;
    wl_range(NCHUNK, tid, nt, &clo, &chi);
    for (int pass = 0; pass < 32 / RADIX_BITS; pass++) {
        int shift = pass * RADIX_BITS;
        for (long ch = clo; ch < chi; ch++) {
            long lo, hi;
            wl_range(c->n, ch, NCHUNK, &lo, &hi);
            long *cnt = c->count[ch];
            memset(cnt, 0, sizeof(long) * NBUCKET);
            for (long i = lo; i < hi; i++)
                cnt[(c->src[i] >> shift) & (NBUCKET - 1)]++;
        }
        if (wl_barrier_wait(&c->bar)) {
            /* exclusive prefix sum in (digit, chunk) order, by one thread */
            long sum = 0;
            for (int d = 0; d < NBUCKET; d++) {
                for (int ch = 0; ch < NCHUNK; ch++) {
                    long v = c->count[ch][d];
                    c->count[ch][d] = sum;
                    sum += v;
                }
            }
        }
        wl_barrier_wait(&c->bar);
        for (long ch = clo; ch < chi; ch++) {
            long lo, hi;
            wl_range(c->n, ch, NCHUNK, &lo, &hi);
            long *off = c->count[ch];
            for (long i = lo; i < hi; i++) {
                uint32_t k = c->src[i];
                c->dst[off[(k >> shift) & (NBUCKET - 1)]++] = k;
            }
        }
        if (wl_barrier_wait(&c->bar)) {
            uint32_t *t = c->src;
            c->src = c->dst;
            c->dst = t;
        }
        wl_barrier_wait(&c->bar);
    }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of keys (1000..100000000)", 1000, 100000000, &threads, &n);
    radix_ctx c;
    c.n = n;
    c.src = wl_alloc(sizeof(uint32_t) * (size_t)n);
    c.dst = wl_alloc(sizeof(uint32_t) * (size_t)n);
    c.count = wl_alloc(sizeof(long) * NCHUNK * NBUCKET);
    wl_rng r;
    wl_rng_seed(&r, 1234);
    for (long i = 0; i < n; i++) {
        /* a skewed key distribution: small keys are more frequent */
        uint32_t k = wl_rng_u32(&r);
        c.src[i] = (i & 3) == 0 ? k >> (k & 15) : k;
    }
    wl_barrier_init(&c.bar, threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    long unsorted = 0;
    for (long i = 0; i < n; i++) {
        if (i > 0 && c.src[i - 1] > c.src[i])
            unsorted++;
        if ((i & 255) == 0)
            h = wl_cks_u64(h, c.src[i]);
    }
    uint64_t sum = 0;
    for (long i = 0; i < n; i++)
        sum += (uint64_t)c.src[i] * (uint64_t)(i + 1);
    h = wl_cks_u64(h, sum);
    h = wl_cks_u64(h, (uint64_t)unsorted);
    if (unsorted)
        fprintf(stderr, "error: output not sorted (%ld inversions)\n", unsorted);
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c.bar);
    free(c.src);
    free(c.dst);
    free(c.count);
    return unsorted ? 1 : 0;
}
