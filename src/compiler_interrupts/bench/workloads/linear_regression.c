/*
 * linear_regression - least-squares fit y = a x + b over generated points
 * (Phoenix LINEAR_REGRESSION-like).
 *
 * Usage: linear_regression THREADS SIZE
 *   SIZE = number of points in thousands (1..1000000).
 *
 * Points are produced in BLOCK-sized blocks, each from its own PRNG stream
 * seeded by the block index, staged in a small buffer and then reduced to
 * exact 64-bit integer sums (sum x, y, xx, yy, xy).  Blocks are dealt
 * cyclically to threads; integer sums make the result independent of the
 * thread count, and the fit is computed from them once at the end.
 */
#include "wl_common.h"

#define BLOCK 4096

typedef struct {
    int64_t sx, sy, sxx, syy, sxy;
} sums;

typedef struct {
    long n, nblocks;
    sums *part; /* one per thread */
} lr_ctx;

typedef struct {
    int16_t x, y;
} point;

static void gen_block(long blk, long count, point *pts)
{
    wl_rng r;
    wl_rng_seed(&r, (uint64_t)blk * 7919u + 17u);
    /* every block has its own slope "regime" to make the data less trivial */
    int slope = 1 + (int)(blk % 3);
    for (long i = 0; i < count; i++) {
        uint64_t v = wl_rng_next(&r);
        int x = (int)(v & 1023);
        int noise = (int)((v >> 10) & 127) - 64;
        pts[i].x = (int16_t)x;
        pts[i].y = (int16_t)(slope * x + 100 + noise);
    }
}

static void accumulate(const point *pts, long count, sums *s)
{
    int64_t sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (long i = 0; i < count; i++) {
        int64_t x = pts[i].x, y = pts[i].y;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
    }
    s->sx += sx;
    s->sy += sy;
    s->sxx += sxx;
    s->syy += syy;
    s->sxy += sxy;
}

static void worker(int tid, int nt, void *arg)
{
    lr_ctx *c = arg;
    point buf[BLOCK];
    sums *s = &c->part[tid];
    memset(s, 0, sizeof *s);
    for (long b = tid; b < c->nblocks; b += nt) {
        long count = c->n - b * BLOCK < BLOCK ? c->n - b * BLOCK : BLOCK;
        gen_block(b, count, buf);
        accumulate(buf, count, s);
    }
}

int main(int argc, char **argv)
{
    int threads;
    long size;
    wl_parse_args(argc, argv, "number of points in thousands (1..1000000)", 1, 1000000, &threads,
                  &size);
    lr_ctx c;
    c.n = size * 1000;
    c.nblocks = (c.n + BLOCK - 1) / BLOCK;
    c.part = wl_alloc(sizeof(sums) * (size_t)threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    sums s = {0, 0, 0, 0, 0};
    for (int t = 0; t < threads; t++) {
        s.sx += c.part[t].sx;
        s.sy += c.part[t].sy;
        s.sxx += c.part[t].sxx;
        s.syy += c.part[t].syy;
        s.sxy += c.part[t].sxy;
    }
    double n = (double)c.n;
    double a = (n * (double)s.sxy - (double)s.sx * (double)s.sy) /
               (n * (double)s.sxx - (double)s.sx * (double)s.sx);
    double b = ((double)s.sy - a * (double)s.sx) / n;
    uint64_t h = WL_CKS_INIT;
    h = wl_cks_u64(h, (uint64_t)s.sx);
    h = wl_cks_u64(h, (uint64_t)s.sy);
    h = wl_cks_u64(h, (uint64_t)s.sxx);
    h = wl_cks_u64(h, (uint64_t)s.syy);
    h = wl_cks_u64(h, (uint64_t)s.sxy);
    h = wl_cks_f64(h, a);
    h = wl_cks_f64(h, b);
    wl_report(h, t1 - t0);
    free(c.part);
    return 0;
}
