/*
 * matrix_multiply - dense C = A * B (Phoenix MATRIX_MULTIPLY-like).
 *
 * Usage: matrix_multiply THREADS SIZE
 *   SIZE = matrix dimension n (4..4096); A, B and C are n x n doubles.
 *
 * Rows of C are split into contiguous ranges per thread.  The kernel is an
 * i-k-j loop nest tiled over k and j (TILE) so that the inner loop is a
 * vectorisable axpy over a row of B.  For a fixed element C[i][j] the
 * products are always accumulated in increasing k, whatever the thread
 * count, so the result is bit-identical.
 */
#include "wl_common.h"

#define TILE 128

typedef struct {
    long n;
    const double *a, *b;
    double *c;
} mm_ctx;

static void worker(int tid, int nt, void *arg)
{
    mm_ctx *m = arg;
    long n = m->n, lo, hi;
    wl_range(n, tid, nt, &lo, &hi);
    for (long i = lo; i < hi; i++)
        memset(&m->c[i * n], 0, sizeof(double) * (size_t)n);
    for (long kk = 0; kk < n; kk += TILE) {
        long kend = kk + TILE < n ? kk + TILE : n;
        for (long jj = 0; jj < n; jj += TILE) {
            long jend = jj + TILE < n ? jj + TILE : n;
            for (long i = lo; i < hi; i++) {
                double *ci = &m->c[i * n];
                const double *ai = &m->a[i * n];
                for (long k = kk; k < kend; k++) {
                    double aik = ai[k];
                    const double *bk = &m->b[k * n];
                    for (long j = jj; j < jend; j++)
                        ci[j] += aik * bk[j];
                }
            }
        }
    }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "matrix dimension n (4..4096)", 4, 4096, &threads, &n);
    size_t sz = (size_t)(n * n);
    double *a = wl_alloc(sizeof(double) * sz), *b = wl_alloc(sizeof(double) * sz);
    double *c = wl_alloc(sizeof(double) * sz);
    wl_rng r;
    wl_rng_seed(&r, 2718);
    for (size_t i = 0; i < sz; i++)
        a[i] = (double)((int)wl_rng_below(&r, 2001) - 1000) / 256.0;
    for (size_t i = 0; i < sz; i++)
        b[i] = wl_rng_range(&r, -1.0, 1.0);
    mm_ctx m = {n, a, b, c};

    double t0 = wl_now();
    wl_parallel(threads, worker, &m);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    for (size_t i = 0; i < sz; i++)
        h = wl_cks_f64(h, c[i]);
    wl_report(h, t1 - t0);
    free(a);
    free(b);
    free(c);
    return 0;
}
