/*
 * swaptions - Monte Carlo pricing of a portfolio of payer swaptions with a
 * simple 3-factor HJM model of the forward curve (PARSEC SWAPTIONS-like).
 *
 * Usage: swaptions THREADS SIZE
 *   SIZE = number of swaptions (1..100000); each uses TRIALS paths.
 *
 * For each path the forward curve (Musiela parametrisation, NTENOR points
 * spaced DT years) is evolved with the HJM no-arbitrage drift and normal
 * shocks (Box-Muller on a splitmix64 stream seeded by swaption and path) up
 * to the option expiry; the swap is then valued from the simulated curve and
 * the discounted positive part is averaged.  Swaptions are dealt cyclically
 * to threads and each one is priced sequentially, so prices do not depend on
 * the thread count.
 */
#include "wl_common.h"

#include <math.h>

#define NTENOR 16
#define NFACT 3
#define DT 0.5
#define TRIALS 8000

typedef struct {
    double strike;
    int expiry; /* option expiry in DT steps */
    int length; /* swap length in DT periods */
    double f0[NTENOR];
    double price, stderr_;
} swaption;

typedef struct {
    long n;
    swaption *sw;
    double vol[NFACT][NTENOR], drift[NTENOR];
} sw_ctx;

static void normals(wl_rng *r, double *z, int n)
{
    for (int i = 0; i < n; i += 2) {
        double u1 = wl_rng_double(r), u2 = wl_rng_double(r);
        double rad = sqrt(-2.0 * log(1.0 - u1));
        z[i] = rad * cos(6.283185307179586 * u2);
        if (i + 1 < n)
            z[i + 1] = rad * sin(6.283185307179586 * u2);
    }
}

static double simulate_path(const sw_ctx *c, const swaption *s, wl_rng *r)
{
    double f[NTENOR], z[NFACT + 1];
    memcpy(f, s->f0, sizeof f);
    double disc = 1.0, sq = sqrt(DT);
    int len = NTENOR;
    for (int step = 0; step < s->expiry; step++) {
        disc *= exp(-f[0] * DT);
        normals(r, z, NFACT);
        for (int j = 0; j + 1 < len; j++) {
            double shock = 0;
            for (int k = 0; k < NFACT; k++)
                shock += c->vol[k][j] * z[k];
            f[j] = f[j + 1] + c->drift[j] * DT + shock * sq;
        }
        len--;
    }
    /* value the payer swap at expiry from the simulated curve */
    double logp = 0, annuity = 0, p = 1.0;
    for (int i = 0; i < s->length && i < len; i++) {
        logp -= f[i] * DT;
        p = exp(logp);
        annuity += DT * p;
    }
    double value = 1.0 - p - s->strike * annuity;
    return value > 0 ? disc * value : 0.0;
}

static void worker(int tid, int nt, void *arg)
{
    sw_ctx *c = arg;
    for (long i = tid; i < c->n; i += nt) {
        swaption *s = &c->sw[i];
        double sum = 0, sum2 = 0;
        for (int t = 0; t < TRIALS; t++) {
            wl_rng r;
            wl_rng_seed(&r, (uint64_t)i * 1000003u + (uint64_t)t);
            double v = simulate_path(c, s, &r);
            sum += v;
            sum2 += v * v;
        }
        s->price = sum / TRIALS;
        s->stderr_ = sqrt((sum2 / TRIALS - s->price * s->price) / TRIALS);
    }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of swaptions (1..100000)", 1, 100000, &threads, &n);
    sw_ctx c;
    c.n = n;
    c.sw = wl_alloc(sizeof(swaption) * (size_t)n);
    for (int j = 0; j < NTENOR; j++) {
        double x = (double)j / (NTENOR - 1);
        c.vol[0][j] = 0.0060;
        c.vol[1][j] = 0.0045 * (1.0 - 2.0 * x);
        c.vol[2][j] = 0.0030 * (1.0 - 6.0 * x * (1.0 - x));
    }
    for (int j = 0; j < NTENOR; j++) { /* HJM drift: sum_k v_k(j) * integral of v_k */
        double mu = 0;
        for (int k = 0; k < NFACT; k++) {
            double integ = 0;
            for (int l = 0; l <= j; l++)
                integ += c.vol[k][l] * DT;
            mu += c.vol[k][j] * integ;
        }
        c.drift[j] = mu;
    }
    wl_rng r;
    wl_rng_seed(&r, 31415);
    for (long i = 0; i < n; i++) {
        swaption *s = &c.sw[i];
        s->strike = wl_rng_range(&r, 0.02, 0.06);
        s->expiry = 1 + (int)wl_rng_below(&r, 6);
        s->length = 2 + (int)wl_rng_below(&r, 8);
        double level = wl_rng_range(&r, 0.02, 0.05);
        double slope = wl_rng_range(&r, -0.001, 0.003);
        for (int j = 0; j < NTENOR; j++)
            s->f0[j] = level + slope * j - 0.0001 * j * j * (slope > 0);
    }

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    for (long i = 0; i < n; i++) {
        h = wl_cks_f64(h, c.sw[i].price);
        h = wl_cks_f64(h, c.sw[i].stderr_);
    }
    wl_report(h, t1 - t0);
    free(c.sw);
    return 0;
}
