/*
 * fft - iterative radix-2 complex FFT (SPLASH-2 FFT-like).
 *
 * Usage: fft THREADS SIZE
 *   SIZE = log2 of the number of complex points (n = 2^SIZE, 4..24).
 *
 * A deterministic complex signal is transformed forward, scaled, and then
 * transformed back (inverse FFT); this is repeated ROUNDS times.  Each
 * transform is a bit-reversal permutation followed by log2(n) butterfly
 * stages; the butterflies of a stage are split among the threads, with a
 * barrier between stages.  Every output element is computed by exactly the
 * same operations whatever the thread count, so the result is bit-identical.
 */
#include "wl_common.h"

#include <math.h>

#define ROUNDS 4

typedef struct {
    double re, im;
} cplx;

typedef struct {
    int log2n;
    long n;
    cplx *a, *b, *tw; /* a: data, b: scratch, tw: n/2 twiddles */
    wl_barrier bar;
} fft_ctx;

static unsigned long bitrev(unsigned long x, int bits)
{
    unsigned long r = 0;
    for (int i = 0; i < bits; i++) {
        r = (r << 1) | (x & 1u);
        x >>= 1;
    }
    return r;
}

/* One transform of ctx->a in place (through ctx->b); `inverse` conjugates twiddles. */
static void fft_pass(fft_ctx *c, int tid, int nt, int inverse)
{
    long lo, hi;
    wl_range(c->n, tid, nt, &lo, &hi);
    for (long i = lo; i < hi; i++)
        c->b[bitrev((unsigned long)i, c->log2n)] = c->a[i];
    wl_barrier_wait(&c->bar);
    if (tid == 0) {
        cplx *t = c->a;
        c->a = c->b;
        c->b = t;
    }
    wl_barrier_wait(&c->bar);

    cplx *x = c->a;
    long half_n = c->n / 2;
    wl_range(half_n, tid, nt, &lo, &hi);
    for (long h = 1; h < c->n; h <<= 1) {
        long stride = half_n / h; /* twiddle index step */
        for (long k = lo; k < hi; k++) {
            long j = k & (h - 1);
            long i1 = ((k - j) << 1) + j;
            long i2 = i1 + h;
            cplx w = c->tw[j * stride];
            if (inverse)
                w.im = -w.im;
            double tr = w.re * x[i2].re - w.im * x[i2].im;
            double ti = w.re * x[i2].im + w.im * x[i2].re;
            x[i2].re = x[i1].re - tr;
            x[i2].im = x[i1].im - ti;
            x[i1].re += tr;
            x[i1].im += ti;
        }
        wl_barrier_wait(&c->bar);
    }
}

static void worker(int tid, int nt, void *arg)
{
    fft_ctx *c = arg;
    long lo, hi;
    for (int round = 0; round < ROUNDS; round++) {
        fft_pass(c, tid, nt, 0);
        /* damp the spectrum a little so rounds differ, then go back */
        wl_range(c->n, tid, nt, &lo, &hi);
        double scale = 1.0 / (double)c->n;
        for (long i = lo; i < hi; i++) {
            double f = (i < c->n / 2 ? (double)i : (double)(c->n - i)) / (double)c->n;
            double d = scale * (1.0 - 0.5 * f);
            c->a[i].re *= d;
            c->a[i].im *= d;
        }
        wl_barrier_wait(&c->bar);
        fft_pass(c, tid, nt, 1);
    }
}

int main(int argc, char **argv)
{
    int threads;
    long size;
    wl_parse_args(argc, argv, "log2 of the number of complex points (4..24)", 4, 24, &threads,
                  &size);
    fft_ctx c;
    c.log2n = (int)size;
    c.n = 1L << size;
    c.a = wl_alloc(sizeof(cplx) * (size_t)c.n);
    c.b = wl_alloc(sizeof(cplx) * (size_t)c.n);
    c.tw = wl_alloc(sizeof(cplx) * (size_t)(c.n / 2));
    const double pi = 3.14159265358979323846;
    for (long k = 0; k < c.n / 2; k++) {
        c.tw[k].re = cos(-2.0 * pi * (double)k / (double)c.n);
        c.tw[k].im = sin(-2.0 * pi * (double)k / (double)c.n);
    }
    wl_rng r;
    wl_rng_seed(&r, 42);
    for (long i = 0; i < c.n; i++) {
        c.a[i].re = sin(0.001 * (double)i) + wl_rng_range(&r, -0.5, 0.5);
        c.a[i].im = wl_rng_range(&r, -0.5, 0.5);
    }
    wl_barrier_init(&c.bar, threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    for (long i = 0; i < c.n; i++) {
        h = wl_cks_f64(h, c.a[i].re);
        h = wl_cks_f64(h, c.a[i].im);
    }
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c.bar);
    free(c.a);
    free(c.b);
    free(c.tw);
    return 0;
}
