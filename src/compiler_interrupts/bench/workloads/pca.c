/*
 * pca - row means and covariance matrix of a data matrix, the first stage
 * of principal component analysis (Phoenix PCA-like).
 *
 * Usage: pca THREADS SIZE
 *   SIZE = number of variables (rows) r (2..4000); each row has 2r
 *          observations (columns).
 *
 * Phase 1 computes each row's mean and centres the row; phase 2 computes the
 * upper triangle of the r x r covariance matrix, rows dealt cyclically to the
 * threads; each entry is a dot product summed in column order.  The data
 * are generated from a few latent factors so the covariance has structure.
 * Results do not depend on the thread count.
 */
#include "wl_common.h"

#define NFACT 4

typedef struct {
    long rows, cols;
    double *x;   /* rows x cols, centred in place */
    double *cov; /* rows x rows, upper triangle */
} pca_ctx;

static void mean_worker(int tid, int nt, void *arg)
{
    pca_ctx *c = arg;
    long lo, hi;
    wl_range(c->rows, tid, nt, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        double *row = &c->x[i * c->cols];
        double s = 0;
        for (long k = 0; k < c->cols; k++)
            s += row[k];
        double mean = s / (double)c->cols;
        for (long k = 0; k < c->cols; k++)
            row[k] -= mean;
    }
}

static double dot(const double *a, const double *b, long n)
{
    double s = 0;
    for (long k = 0; k < n; k++)
        s += a[k] * b[k];
    return s;
}

static void cov_worker(int tid, int nt, void *arg)
{
    pca_ctx *c = arg;
    double scale = 1.0 / (double)(c->cols - 1);
    for (long i = tid; i < c->rows; i += nt) {
        const double *ri = &c->x[i * c->cols];
        for (long j = i; j < c->rows; j++)
            c->cov[i * c->rows + j] = dot(ri, &c->x[j * c->cols], c->cols) * scale;
    }
}

int main(int argc, char **argv)
{
    int threads;
    long rows;
    wl_parse_args(argc, argv, "number of variables (rows) r (2..4000); columns = 2r", 2, 4000,
                  &threads, &rows);
    pca_ctx c;
    c.rows = rows;
    c.cols = 2 * rows;
    c.x = wl_alloc(sizeof(double) * (size_t)(c.rows * c.cols));
    c.cov = wl_zalloc(sizeof(double) * (size_t)(c.rows * c.rows));
    wl_rng r;
    wl_rng_seed(&r, 161803);
    double *load = wl_alloc(sizeof(double) * (size_t)rows * NFACT);
    double *fact = wl_alloc(sizeof(double) * (size_t)c.cols * NFACT);
    for (long i = 0; i < rows * NFACT; i++)
        load[i] = wl_rng_range(&r, -2, 2);
    for (long i = 0; i < c.cols * NFACT; i++)
        fact[i] = wl_rng_range(&r, -1, 1);
    for (long i = 0; i < rows; i++)
        for (long k = 0; k < c.cols; k++) {
            double v = 10.0 + (double)(i % 7);
            for (int f = 0; f < NFACT; f++)
                v += load[i * NFACT + f] * fact[k * NFACT + f];
            c.x[i * c.cols + k] = v + wl_rng_range(&r, -0.5, 0.5);
        }
    free(load);
    free(fact);

    double t0 = wl_now();
    wl_parallel(threads, mean_worker, &c);
    wl_parallel(threads, cov_worker, &c);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    for (long i = 0; i < rows; i++)
        for (long j = i; j < rows; j++)
            h = wl_cks_f64(h, c.cov[i * rows + j]);
    wl_report(h, t1 - t0);
    free(c.x);
    free(c.cov);
    return 0;
}
