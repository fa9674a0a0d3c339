/*
 * lu - blocked dense LU decomposition without pivoting (SPLASH-2 LU-like).
 *
 * Usage: lu THREADS SIZE
 *   SIZE = matrix dimension n (16..4096); the matrix is n x n doubles.
 *
 * The input is a deterministic, strictly diagonally dominant matrix, so no
 * pivoting is needed.  For each diagonal block k: one thread factors the
 * diagonal block, the perimeter blocks (row and column panels) are solved in
 * parallel, then the trailing blocks are updated in parallel; barriers
 * separate the phases.  Each block is always computed by the same sequence of
 * operations, so the result does not depend on the thread count.
 */
#include "wl_common.h"

#define BS 32

typedef struct {
    long n, nb;
    double *a;
    wl_barrier bar;
} lu_ctx;

static inline double *at(lu_ctx *c, long i, long j)
{
    return &c->a[i * c->n + j];
}

static long blen(lu_ctx *c, long b)
{
    long rest = c->n - b * BS;
    return rest < BS ? rest : BS;
}

static void factor_diag(lu_ctx *c, long k)
{
    long o = k * BS, m = blen(c, k);
    for (long p = 0; p < m; p++) {
        double piv = *at(c, o + p, o + p);
        for (long i = p + 1; i < m; i++) {
            double l = *at(c, o + i, o + p) / piv;
            *at(c, o + i, o + p) = l;
            double *ri = at(c, o + i, o), *rp = at(c, o + p, o);
            for (long j = p + 1; j < m; j++)
                ri[j] -= l * rp[j];
        }
    }
}

/* A_kj <- L_kk^{-1} A_kj (unit lower triangular solve) */
static void solve_row_block(lu_ctx *c, long k, long jb)
{
    long o = k * BS, m = blen(c, k), oj = jb * BS, mj = blen(c, jb);
    for (long p = 0; p < m; p++) {
        double *rp = at(c, o + p, oj);
        for (long i = p + 1; i < m; i++) {
            double l = *at(c, o + i, o + p);
            double *ri = at(c, o + i, oj);
            for (long j = 0; j < mj; j++)
                ri[j] -= l * rp[j];
        }
    }
}

/* A_ik <- A_ik U_kk^{-1} (upper triangular solve from the right) */
static void solve_col_block(lu_ctx *c, long k, long ib)
{
    long o = k * BS, m = blen(c, k), oi = ib * BS, mi = blen(c, ib);
    for (long i = 0; i < mi; i++) {
        double *ri = at(c, oi + i, o);
        for (long p = 0; p < m; p++) {
            double l = ri[p] / *at(c, o + p, o + p);
            ri[p] = l;
            double *up = at(c, o + p, o);
            for (long j = p + 1; j < m; j++)
                ri[j] -= l * up[j];
        }
    }
}

/* A_ij -= L_ik U_kj */
static void update_block(lu_ctx *c, long k, long ib, long jb)
{
    long o = k * BS, m = blen(c, k);
    long oi = ib * BS, mi = blen(c, ib), oj = jb * BS, mj = blen(c, jb);
    for (long i = 0; i < mi; i++) {
        double *ri = at(c, oi + i, oj);
        const double *li = at(c, oi + i, o);
        for (long p = 0; p < m; p++) {
            double l = li[p];
            const double *up = at(c, o + p, oj);
            for (long j = 0; j < mj; j++)
                ri[j] -= l * up[j];
        }
    }
}

static void worker(int tid, int nt, void *arg)
{
    lu_ctx *c = arg;
    long nb = c->nb;
    for (long k = 0; k < nb; k++) {
        if (tid == (int)(k % nt))
            factor_diag(c, k);
        wl_barrier_wait(&c->bar);
        long rest = nb - k - 1;
        for (long t = tid; t < 2 * rest; t += nt) {
            if (t < rest)
                solve_row_block(c, k, k + 1 + t);
            else
                solve_col_block(c, k, k + 1 + (t - rest));
        }
        wl_barrier_wait(&c->bar);
        for (long t = tid; t < rest * rest; t += nt)
            update_block(c, k, k + 1 + t / rest, k + 1 + t % rest);
        wl_barrier_wait(&c->bar);
    }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "matrix dimension n (16..4096)", 16, 4096, &threads, &n);
    lu_ctx c;
    c.n = n;
    c.nb = (n + BS - 1) / BS;
    c.a = wl_alloc(sizeof(double) * (size_t)(n * n));
    wl_rng r;
    wl_rng_seed(&r, 7);
    for (long i = 0; i < n; i++) {
        double rowsum = 0.0;
        for (long j = 0; j < n; j++) {
            double v = wl_rng_range(&r, -1.0, 1.0);
            *at(&c, i, j) = v;
            rowsum += v < 0 ? -v : v;
        }
        *at(&c, i, i) = rowsum + 1.0;
    }
    wl_barrier_init(&c.bar, threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    for (long i = 0; i < n * n; i++)
        h = wl_cks_f64(h, c.a[i]);
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c.bar);
    free(c.a);
    return 0;
}
