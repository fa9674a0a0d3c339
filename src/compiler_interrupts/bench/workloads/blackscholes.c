/*
 * blackscholes - price a portfolio of European options with the
 * Black-Scholes formula (PARSEC BLACKSCHOLES-like).
 *
 * Usage: blackscholes THREADS SIZE
 *   SIZE = number of options (1..10000000); the portfolio is priced RUNS
 *          times, with a small volatility bump per run.
 *
 * The cumulative normal distribution uses the same polynomial approximation
 * as the PARSEC kernel.  Options are split into contiguous ranges per
 * thread; each option's price (and its sum over runs) is computed by the
 * same operations whatever the thread count, so the output is bit-identical.
 */
#include "wl_common.h"

#include <math.h>

#define RUNS 40

typedef struct {
    double spot, strike, rate, vol, time;
    int put;
} option;

typedef struct {
    long n;
    const option *opt;
    double *price, *acc;
} bs_ctx;

static double cndf(double x)
{
    const double inv_sqrt_2pi = 0.39894228040143270286;
    int neg = x < 0.0;
    if (neg)
        x = -x;
    double expv = exp(-0.5 * x * x);
    double nprime = expv * inv_sqrt_2pi;
    double k = 1.0 / (1.0 + 0.2316419 * x);
    double k2 = k * k, k3 = k2 * k, k4 = k3 * k, k5 = k4 * k;
    double poly = 0.319381530 * k - 0.356563782 * k2 + 1.781477937 * k3 - 1.821255978 * k4 +
                  1.330274429 * k5;
    double res = 1.0 - poly * nprime;
    return neg ? 1.0 - res : res;
}

static double bs_price(const option *o, double vol)
{
    double sqrt_t = sqrt(o->time);
    double d1 = (log(o->spot / o->strike) + (o->rate + 0.5 * vol * vol) * o->time) / (vol * sqrt_t);
    double d2 = d1 - vol * sqrt_t;
    double disc = o->strike * exp(-o->rate * o->time);
    if (o->put)
        return disc * cndf(-d2) - o->spot * cndf(-d1);
    return o->spot * cndf(d1) - disc * cndf(d2);
}

static void worker(int tid, int nt, void *arg)
{
    bs_ctx *c = arg;
    long lo, hi;
    wl_range(c->n, tid, nt, &lo, &hi);
    for (long i = lo; i < hi; i++)
        c->acc[i] = 0.0;
    for (int run = 0; run < RUNS; run++) {
        double bump = 0.0005 * run;
        for (long i = lo; i < hi; i++) {
            double p = bs_price(&c->opt[i], c->opt[i].vol + bump);
            c->price[i] = p;
            c->acc[i] += p;
        }
    }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of options (1..10000000)", 1, 10000000, &threads, &n);
    option *opt = wl_alloc(sizeof(option) * (size_t)n);
    double *price = wl_alloc(sizeof(double) * (size_t)n);
    double *acc = wl_alloc(sizeof(double) * (size_t)n);
    wl_rng r;
    wl_rng_seed(&r, 1973);
    for (long i = 0; i < n; i++) {
        opt[i].spot = wl_rng_range(&r, 10.0, 150.0);
        opt[i].strike = opt[i].spot * wl_rng_range(&r, 0.7, 1.3);
        opt[i].rate = wl_rng_range(&r, 0.01, 0.1);
        opt[i].vol = wl_rng_range(&r, 0.05, 0.65);
        opt[i].time = wl_rng_range(&r, 0.1, 3.0);
        opt[i].put = (int)(wl_rng_next(&r) & 1);
    }
    bs_ctx c = {n, opt, price, acc};

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    for (long i = 0; i < n; i++) {
        h = wl_cks_f64(h, price[i]);
        h = wl_cks_f64(h, acc[i]);
    }
    wl_report(h, t1 - t0);
    free(opt);
    free(price);
    free(acc);
    return 0;
}
