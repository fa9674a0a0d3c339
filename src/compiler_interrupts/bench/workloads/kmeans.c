/*
 * kmeans - Lloyd's k-means clustering (Phoenix KMEANS-like).
 *
 * Usage: kmeans THREADS SIZE
 *   SIZE = number of points (100..20000000); points have DIM dimensions
 *          and are clustered into K clusters for at most ITERS iterations.
 *
 * Points come from a deterministic mixture of blobs.  Each iteration assigns
 * every point to its nearest centre (ties go to the lower index) and
 * accumulates per-chunk sums; the point array is cut into NCHUNK fixed
 * chunks independent of the thread count, and the chunk partials are added
 * in chunk order by one thread to form the new centres.  Hence the result is
 * bit-identical for any thread count.
 */
#include "wl_common.h"

#define DIM 8
#define K 16
#define ITERS 20
#define NCHUNK 64

typedef struct {
    double sum[K][DIM];
    long count[K];
    long changed;
} partial;

typedef struct {
    long n;
    double *pts; /* n x DIM */
    int *assign;
    double cent[K][DIM];
    partial part[NCHUNK];
    int done, iters;
    wl_barrier bar;
} km_ctx;

static int nearest(const double *p, double cent[K][DIM])
{
    int best = 0;
    double bd = 0;
    for (int k = 0; k < K; k++) {
        double d = 0;
        for (int j = 0; j < DIM; j++) {
            double t = p[j] - cent[k][j];
            d += t * t;
        }
        if (k == 0 || d < bd) {
            bd = d;
            best = k;
        }
    }
    return best;
}

static void update_centres(km_ctx *c)
{
    double sum[K][DIM];
    long count[K], changed = 0;
    memset(sum, 0, sizeof sum);
    memset(count, 0, sizeof count);
    for (int ch = 0; ch < NCHUNK; ch++) {
        for (int k = 0; k < K; k++) {
            count[k] += c->part[ch].count[k];
            for (int j = 0; j < DIM; j++)
                sum[k][j] += c->part[ch].sum[k][j];
        }
        changed += c->part[ch].changed;
    }
    for (int k = 0; k < K; k++)
        if (count[k] > 0)
            for (int j = 0; j < DIM; j++)
                c->cent[k][j] = sum[k][j] / (double)count[k];
    c->iters++;
    if (changed == 0 || c->iters >= ITERS)
        c->done = 1;
}

static void worker(int tid, int nt, void *arg)
{
    km_ctx *c = arg;
    long clo, chi;
    wl_range(NCHUNK, tid, nt, &clo, &chi);
    for (;;) {
        for (long ch = clo; ch < chi; ch++) {
            partial *pp = &c->part[ch];
            memset(pp, 0, sizeof *pp);
            long lo, hi;
            wl_range(c->n, ch, NCHUNK, &lo, &hi);
            for (long i = lo; i < hi; i++) {
                const double *p = &c->pts[i * DIM];
                int k = nearest(p, c->cent);
                if (k != c->assign[i]) {
                    c->assign[i] = k;
                    pp->changed++;
                }
                pp->count[k]++;
                for (int j = 0; j < DIM; j++)
                    pp->sum[k][j] += p[j];
            }
        }
        if (wl_barrier_wait(&c->bar))
            update_centres(c);
        wl_barrier_wait(&c->bar);
        if (c->done)
            break;
    }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of points (100..20000000)", 100, 20000000, &threads, &n);
    km_ctx *c = wl_zalloc(sizeof *c);
    c->n = n;
    c->pts = wl_alloc(sizeof(double) * DIM * (size_t)n);
    c->assign = wl_alloc(sizeof(int) * (size_t)n);
    wl_rng r;
    wl_rng_seed(&r, 4242);
    double blob[K + 4][DIM];
    for (int b = 0; b < K + 4; b++)
        for (int j = 0; j < DIM; j++)
            blob[b][j] = wl_rng_range(&r, -10, 10);
    for (long i = 0; i < n; i++) {
        int b = (int)wl_rng_below(&r, K + 4);
        for (int j = 0; j < DIM; j++)
            c->pts[i * DIM + j] = blob[b][j] + wl_rng_range(&r, -3, 3);
        c->assign[i] = -1;
    }
    for (int k = 0; k < K; k++) /* initial centres: evenly spaced points */
        memcpy(c->cent[k], &c->pts[(long)k * (n / K) * DIM], sizeof c->cent[k]);
    wl_barrier_init(&c->bar, threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, c);
    double t1 = wl_now();

    uint64_t h = wl_cks_u64(WL_CKS_INIT, (uint64_t)c->iters);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < DIM; j++)
            h = wl_cks_f64(h, c->cent[k][j]);
    for (long i = 0; i < n; i++)
        h = wl_cks_u64(h, (uint64_t)c->assign[i]);
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c->bar);
    free(c->pts);
    free(c->assign);
    free(c);
    return 0;
}
