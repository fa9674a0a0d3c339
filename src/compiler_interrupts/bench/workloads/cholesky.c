/*
 * cholesky - dense right-looking Cholesky factorisation A = L L^T
 * (SPLASH-2 CHOLESKY-like, but dense).
 *
 * Usage: cholesky THREADS SIZE
 *   SIZE = matrix dimension n (8..4096); only the lower triangle is used.
 *
 * The input is a symmetric, strictly diagonally dominant matrix with a
 * positive diagonal (hence positive definite).  For each column k the pivot
 * column is scaled and copied into a contiguous vector; then the trailing
 * lower triangle is updated row by row, rows being dealt cyclically to the
 * threads.  Every element sees the same operations in the same order for any
 * thread count.
 */
#include "wl_common.h"

#include <math.h>

typedef struct {
    long n;
    double *a;   /* row-major n x n, lower triangle meaningful */
    double *col; /* scaled pivot column k */
    wl_barrier bar;
    int failed;
} chol_ctx;

static void worker(int tid, int nt, void *arg)
{
    chol_ctx *c = arg;
    long n = c->n;
    double *a = c->a, *col = c->col;
    for (long k = 0; k < n; k++) {
        if (tid == 0) {
            double d = a[k * n + k];
            if (!(d > 0.0)) {
                c->failed = 1;
                d = 1.0;
            }
            d = sqrt(d);
            a[k * n + k] = d;
            col[k] = d;
        }
        wl_barrier_wait(&c->bar);
        /* scale column k below the diagonal (rows split in contiguous ranges) */
        long lo, hi;
        wl_range(n - k - 1, tid, nt, &lo, &hi);
        for (long i = k + 1 + lo; i < k + 1 + hi; i++) {
            double v = a[i * n + k] / col[k];
            a[i * n + k] = v;
            col[i] = v;
        }
        wl_barrier_wait(&c->bar);
        /* trailing update: a[i][j] -= l_ik * l_jk for k < j <= i; rows cyclic */
        for (long i = k + 1 + tid; i < n; i += nt) {
            double li = col[i];
            double *row = &a[i * n];
            for (long j = k + 1; j <= i; j++)
                row[j] -= li * col[j];
        }
        wl_barrier_wait(&c->bar);
    }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "matrix dimension n (8..4096)", 8, 4096, &threads, &n);
    chol_ctx c;
    c.n = n;
    c.failed = 0;
    c.a = wl_alloc(sizeof(double) * (size_t)(n * n));
    c.col = wl_alloc(sizeof(double) * (size_t)n);
    wl_rng r;
    wl_rng_seed(&r, 99);
    for (long i = 0; i < n; i++)
        for (long j = 0; j <= i; j++) {
            double v = wl_rng_range(&r, -1.0, 1.0);
            c.a[i * n + j] = v;
            c.a[j * n + i] = v;
        }
    for (long i = 0; i < n; i++) {
        double s = 0.0;
        for (long j = 0; j < n; j++)
            s += fabs(c.a[i * n + j]);
        c.a[i * n + i] = s + 1.0;
    }
    wl_barrier_init(&c.bar, threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    for (long i = 0; i < n; i++)
        for (long j = 0; j <= i; j++)
            h = wl_cks_f64(h, c.a[i * n + j]);
    if (c.failed)
        fprintf(stderr, "error: matrix not positive definite\n");
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c.bar);
    free(c.a);
    free(c.col);
    return c.failed ? 1 : 0;
}
