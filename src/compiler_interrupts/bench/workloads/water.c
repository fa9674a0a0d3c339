/*
 * water - O(n^2) molecular dynamics of a Lennard-Jones fluid with a cutoff
 * in a periodic box (SPLASH-2 WATER-NSQUARED-like).
 *
 * Usage: water THREADS SIZE
 *   SIZE = number of molecules n (8..20000).
 *
 * Molecules start on a cubic lattice with a small random jitter and random
 * velocities.  Each of STEPS time steps computes, for every molecule i, the
 * sum of the pairwise forces from all j != i within the cutoff (minimum image
 * convention; j in ascending order, no Newton's-third-law sharing, so no
 * write conflicts), then integrates.  Molecules are split into contiguous
 * ranges per thread; per-molecule energies are summed by the main thread in
 * index order, so results do not depend on the thread count.
 */
#include "wl_common.h"

#include <math.h>

#define STEPS 12
#define RCUT 2.5
#define DT 0.002

typedef struct {
    long n;
    double box;
    double *x, *y, *z, *vx, *vy, *vz, *fx, *fy, *fz, *epot;
    wl_barrier bar;
} water_ctx;

static inline double min_image(double d, double box)
{
    if (d > 0.5 * box)
        d -= box;
    else if (d < -0.5 * box)
        d += box;
    return d;
}

static void forces(water_ctx *c, long lo, long hi)
{
    const double rc2 = RCUT * RCUT;
    for (long i = lo; i < hi; i++) {
        double fx = 0, fy = 0, fz = 0, ep = 0;
        for (long j = 0; j < c->n; j++) {
            if (j == i)
                continue;
            double dx = min_image(c->x[i] - c->x[j], c->box);
            double dy = min_image(c->y[i] - c->y[j], c->box);
            double dz = min_image(c->z[i] - c->z[j], c->box);
            double r2 = dx * dx + dy * dy + dz * dz;
            if (r2 >= rc2)
                continue;
            double ir2 = 1.0 / r2, ir6 = ir2 * ir2 * ir2;
            double f = 24.0 * ir2 * ir6 * (2.0 * ir6 - 1.0);
            fx += f * dx;
            fy += f * dy;
            fz += f * dz;
            ep += 2.0 * ir6 * (ir6 - 1.0); /* half of 4 (r^-12 - r^-6) */
        }
        c->fx[i] = fx;
        c->fy[i] = fy;
        c->fz[i] = fz;
        c->epot[i] = ep;
    }
}

static inline double wrap(double p, double box)
{
    if (p >= box)
        p -= box;
    else if (p < 0.0)
        p += box;
    return p;
}

static void worker(int tid, int nt, void *arg)
{
    water_ctx *c = arg;
    long lo, hi;
    wl_range(c->n, tid, nt, &lo, &hi);
    for (int s = 0; s < STEPS; s++) {
        forces(c, lo, hi);
        wl_barrier_wait(&c->bar); /* everyone must read old positions first */
        for (long i = lo; i < hi; i++) {
            c->vx[i] += DT * c->fx[i];
            c->vy[i] += DT * c->fy[i];
            c->vz[i] += DT * c->fz[i];
            c->x[i] = wrap(c->x[i] + DT * c->vx[i], c->box);
            c->y[i] = wrap(c->y[i] + DT * c->vy[i], c->box);
            c->z[i] = wrap(c->z[i] + DT * c->vz[i], c->box);
        }
        wl_barrier_wait(&c->bar);
    }
    forces(c, lo, hi); /* final energies */
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of molecules (8..20000)", 8, 20000, &threads, &n);
    water_ctx c;
    c.n = n;
    double *mem = wl_alloc(sizeof(double) * 10 * (size_t)n);
    double **arrs[10] = {&c.x, &c.y, &c.z, &c.vx, &c.vy, &c.vz, &c.fx, &c.fy, &c.fz, &c.epot};
    for (int k = 0; k < 10; k++)
        *arrs[k] = mem + (size_t)k * (size_t)n;
    long m = 1;
    while (m * m * m < n)
        m++;
    const double spacing = 1.15;
    c.box = (double)m * spacing;
    wl_rng r;
    wl_rng_seed(&r, 555);
    for (long i = 0; i < n; i++) {
        long a = i % m, b = (i / m) % m, d = i / (m * m);
        c.x[i] = ((double)a + 0.5) * spacing + wl_rng_range(&r, -0.05, 0.05);
        c.y[i] = ((double)b + 0.5) * spacing + wl_rng_range(&r, -0.05, 0.05);
        c.z[i] = ((double)d + 0.5) * spacing + wl_rng_range(&r, -0.05, 0.05);
        c.vx[i] = wl_rng_range(&r, -1.0, 1.0);
        c.vy[i] = wl_rng_range(&r, -1.0, 1.0);
        c.vz[i] = wl_rng_range(&r, -1.0, 1.0);
    }
    wl_barrier_init(&c.bar, threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    double ep = 0.0, ek = 0.0;
    uint64_t h = WL_CKS_INIT;
    for (long i = 0; i < n; i++) {
        ep += c.epot[i];
        ek += 0.5 * (c.vx[i] * c.vx[i] + c.vy[i] * c.vy[i] + c.vz[i] * c.vz[i]);
        h = wl_cks_f64(h, c.x[i]);
        h = wl_cks_f64(h, c.y[i]);
        h = wl_cks_f64(h, c.z[i]);
    }
    h = wl_cks_f64(h, ep);
    h = wl_cks_f64(h, ek);
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c.bar);
    free(mem);
    return 0;
}
