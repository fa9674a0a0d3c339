/*
 * ocean - a toy wind-driven ocean basin on a 2-D grid (SPLASH-2 OCEAN-like).
 *
 * Usage: ocean THREADS SIZE
 *   SIZE = number of interior grid points per side n (8..4096); grid is
 *          (n+2) x (n+2) doubles with a fixed zero boundary.
 *
 * Each time step solves the Poisson equation lap(psi) = q for the stream
 * function psi with red-black SOR sweeps, then advances the vorticity q with
 * an explicit step (advection by psi, diffusion, wind forcing) into a second
 * array.  Rows are split into contiguous ranges per thread, with barriers
 * between half-sweeps.  Red-black ordering makes each update depend only on
 * values of the other colour, so the result is independent of the thread
 * count.  The final residual is reduced per row and summed in row order.
 */
#include "wl_common.h"

#include <math.h>

#define STEPS 10
#define SWEEPS 20

typedef struct {
    long n, w; /* interior size, row width n + 2 */
    double *psi, *q, *qn, *force, *rowres;
    double h, omega, dt, nu;
    wl_barrier bar;
} ocean_ctx;

#define IX(c, i, j) ((i) * (c)->w + (j))

static void sor_half(ocean_ctx *c, long rlo, long rhi, int colour)
{
    double h2 = c->h * c->h, om = c->omega;
    for (long i = rlo; i < rhi; i++) {
        long j0 = 1 + ((i + colour + 1) & 1);
        double *p = &c->psi[IX(c, i, 0)];
        const double *up = p - c->w, *dn = p + c->w, *q = &c->q[IX(c, i, 0)];
        for (long j = j0; j <= c->n; j += 2) {
            double gs = 0.25 * (up[j] + dn[j] + p[j - 1] + p[j + 1] - h2 * q[j]);
            p[j] += om * (gs - p[j]);
        }
    }
}

static void advance(ocean_ctx *c, long rlo, long rhi)
{
    double inv2h = 0.5 / c->h, invh2 = 1.0 / (c->h * c->h);
    for (long i = rlo; i < rhi; i++) {
        for (long j = 1; j <= c->n; j++) {
            long k = IX(c, i, j);
            const double *p = c->psi, *q = c->q;
            double u = -(p[k + c->w] - p[k - c->w]) * inv2h; /* u = -dpsi/dy */
            double v = (p[k + 1] - p[k - 1]) * inv2h;        /* v =  dpsi/dx */
            double qx = (q[k + 1] - q[k - 1]) * inv2h;
            double qy = (q[k + c->w] - q[k - c->w]) * inv2h;
            double lap = (q[k + 1] + q[k - 1] + q[k + c->w] + q[k - c->w] - 4.0 * q[k]) * invh2;
            c->qn[k] = q[k] + c->dt * (-(u * qx + v * qy) + c->nu * lap + c->force[k]);
        }
    }
}

static void worker(int tid, int nt, void *arg)
{
    ocean_ctx *c = arg;
    long lo, hi;
    wl_range(c->n, tid, nt, &lo, &hi);
    lo += 1;
    hi += 1;
    for (int s = 0; s < STEPS; s++) {
        for (int it = 0; it < SWEEPS; it++) {
            sor_half(c, lo, hi, 0);
            wl_barrier_wait(&c->bar);
            sor_half(c, lo, hi, 1);
            wl_barrier_wait(&c->bar);
        }
        advance(c, lo, hi);
        if (wl_barrier_wait(&c->bar)) {
            double *t = c->q;
            c->q = c->qn;
            c->qn = t;
        }
        wl_barrier_wait(&c->bar);
    }
    /* residual of the last Poisson solve, one partial per row */
    double h2 = c->h * c->h;
    for (long i = lo; i < hi; i++) {
        double r = 0.0;
        for (long j = 1; j <= c->n; j++) {
            long k = IX(c, i, j);
            double lap = (c->psi[k + 1] + c->psi[k - 1] + c->psi[k + c->w] + c->psi[k - c->w] -
                          4.0 * c->psi[k]) / h2;
            double d = lap - c->q[k];
            r += d * d;
        }
        c->rowres[i] = r;
    }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "interior grid points per side (8..4096)", 8, 4096, &threads, &n);
    ocean_ctx c;
    c.n = n;
    c.w = n + 2;
    size_t cells = (size_t)(c.w * c.w);
    c.psi = wl_zalloc(sizeof(double) * cells);
    c.q = wl_zalloc(sizeof(double) * cells);
    c.qn = wl_zalloc(sizeof(double) * cells);
    c.force = wl_zalloc(sizeof(double) * cells);
    c.rowres = wl_zalloc(sizeof(double) * (size_t)c.w);
    c.h = 1.0 / (double)(n + 1);
    c.omega = 2.0 / (1.0 + sin(3.14159265358979 * c.h));
    c.dt = 1e-4;
    c.nu = 1e-3;
    wl_rng r;
    wl_rng_seed(&r, 2024);
    for (long i = 1; i <= n; i++)
        for (long j = 1; j <= n; j++) {
            double y = (double)i * c.h;
            c.force[IX(&c, i, j)] = -sin(3.14159265358979 * y) + 0.01 * wl_rng_range(&r, -1, 1);
            c.q[IX(&c, i, j)] = 0.1 * wl_rng_range(&r, -1, 1);
        }
    wl_barrier_init(&c.bar, threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    double res = 0.0;
    for (long i = 1; i <= n; i++)
        res += c.rowres[i];
    uint64_t h = wl_cks_f64(WL_CKS_INIT, res);
    for (long i = 1; i <= n; i++)
        for (long j = 1; j <= n; j++) {
            h = wl_cks_f64(h, c.psi[IX(&c, i, j)]);
            h = wl_cks_f64(h, c.q[IX(&c, i, j)]);
        }
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c.bar);
    free(c.psi);
    free(c.q);
    free(c.qn);
    free(c.force);
    free(c.rowres);
    return 0;
}
