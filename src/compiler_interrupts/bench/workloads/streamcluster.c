/*
 * streamcluster - online facility-location / k-median clustering of a point
 * stream with local search (PARSEC STREAMCLUSTER-like).
 *
 * Usage: streamcluster THREADS SIZE
 *   SIZE = number of points in the stream (100..10000000), in BLOCK-sized
 *          blocks; points have DIM dimensions.
 *
 * For each block, the working set is the weighted centres kept from earlier
 * blocks (which stay open) plus the new points, generated and attached to
 * their nearest centre in parallel (the first block instead runs a
 * sequential "speedy" pass on thread 0).  Then ITERS rounds of local search
 * evaluate opening a random candidate (pgain): the threads compute, over
 * fixed chunks of the
 * working set, the savings of points that would switch and the extra cost of
 * closing each open facility (double-buffered by round parity); after one
 * barrier every thread adds the chunk partials in chunk order and reaches the
 * same decision, drawing the next candidate from an identical private PRNG
 * stream.  Accepted moves reassign points in parallel and thread 0 updates
 * the facility list between two more barriers.  The result does not depend
 * on the thread count.
 */
#include "wl_common.h"

#define DIM 16
#define BLOCK 8192
#define ITERS 64
#define NCHUNK 32
#define KCAP 512
#define ZCOST 100000.0

typedef struct {
    double x[DIM];
    double w;
} point;

typedef struct {
    long n;
    point *ws;        /* working set: kept centres + block */
    long nws, nkeep;
    long *assign;     /* index (in ws) of the facility serving each point */
    double *cost, *newc;
    char *is_open;    /* per ws point */
    long open[KCAP];  /* ws indices of open facilities */
    int *slot;        /* per ws point: slot in open[] or -1 */
    int nopen;
    double gain[2][NCHUNK], extra[2][NCHUNK][KCAP]; /* by round parity */
    double total_cost;
    wl_rng rng;
    wl_barrier bar;
} sc_ctx;

static double dist2(const point *a, const point *b)
{
    double s = 0;
    for (int j = 0; j < DIM; j++) {
        double d = a->x[j] - b->x[j];
        s += d * d;
    }
    return s;
}

static void gen_point(long idx, point *p)
{
    wl_rng r;
    wl_rng_seed(&r, (uint64_t)idx * 7u + 99u);
    uint32_t blob = wl_rng_below(&r, 40);
    wl_rng br;
    wl_rng_seed(&br, blob + 12345u);
    for (int j = 0; j < DIM; j++)
        p->x[j] = wl_rng_range(&br, 0, 100) + wl_rng_range(&r, -6, 6);
    p->w = 1.0;
}

/*
 * thread 0: turn the open facilities into weighted centres at the front of
 * the working set (they stay open) and size the working set for the block.
 */
static void start_block(sc_ctx *c, long count)
{
    double w[KCAP];
    for (int s = 0; s < c->nopen; s++)
        w[s] = 0;
    for (long i = 0; i < c->nws; i++)
        w[c->slot[c->assign[i]]] += c->ws[i].w;
    int nkeep = c->nopen;
    for (int s = 0; s < nkeep; s++) { /* open[] is not sorted: stage, then copy */
        c->ws[BLOCK + KCAP + s] = c->ws[c->open[s]];
        c->ws[BLOCK + KCAP + s].w = w[s];
    }
    for (int s = 0; s < nkeep; s++)
        c->ws[s] = c->ws[BLOCK + KCAP + s];
    c->nkeep = nkeep;
    c->nws = nkeep + count;
    for (long i = 0; i < c->nws; i++) {
        int kept = i < nkeep;
        c->is_open[i] = (char)kept;
        c->slot[i] = kept ? (int)i : -1;
        c->assign[i] = kept ? i : -1;
        c->cost[i] = 0;
        if (kept)
            c->open[i] = i;
    }
}

/* thread 0, first block only: sequential "speedy" opening of facilities */
static void speedy(sc_ctx *c)
{
    c->nopen = 0;
    for (long i = 0; i < c->nws; i++) {
        long best = -1;
        double bd = 0;
        for (int s = 0; s < c->nopen; s++) {
            double d = c->ws[i].w * dist2(&c->ws[i], &c->ws[c->open[s]]);
            if (best < 0 || d < bd) {
                bd = d;
                best = c->open[s];
            }
        }
        if (c->nopen < KCAP / 2 && (best < 0 || wl_rng_double(&c->rng) * ZCOST < bd)) {
            c->slot[i] = c->nopen;
            c->open[c->nopen++] = i;
            c->is_open[i] = 1;
            c->assign[i] = i;
            c->cost[i] = 0;
        } else {
            c->assign[i] = best;
            c->cost[i] = bd;
        }
    }
}

/* new points of chunk ch: generate them */
static void gen_chunk(sc_ctx *c, long ch, long first)
{
    long lo, hi;
    wl_range(c->nws, ch, NCHUNK, &lo, &hi);
    for (long i = lo < c->nkeep ? c->nkeep : lo; i < hi; i++)
        gen_point(first + (i - c->nkeep), &c->ws[i]);
}

/* new points of chunk ch: attach them to the nearest kept centre */
static void attach_chunk(sc_ctx *c, long ch)
{
    long lo, hi;
    wl_range(c->nws, ch, NCHUNK, &lo, &hi);
    for (long i = lo < c->nkeep ? c->nkeep : lo; i < hi; i++) {
        long best = -1;
        double bd = 0;
        for (int s = 0; s < c->nopen; s++) {
            double d = c->ws[i].w * dist2(&c->ws[i], &c->ws[c->open[s]]);
            if (best < 0 || d < bd) {
                bd = d;
                best = c->open[s];
            }
        }
        c->assign[i] = best;
        c->cost[i] = bd;
    }
}

/* private per-thread view of the current local-search round */
typedef struct {
    wl_rng cand_rng; /* identical stream in every thread */
    long cand;
    int accept;
    char closing[KCAP];
} round_state;

/* every thread: combine chunk partials in chunk order, decide about rs->cand */
static void decide(const sc_ctx *c, int buf, round_state *rs)
{
    double gain = -ZCOST;
    for (int ch = 0; ch < NCHUNK; ch++)
        gain += c->gain[buf][ch];
    for (int s = 0; s < c->nopen; s++) {
        double extra = 0;
        for (int ch = 0; ch < NCHUNK; ch++)
            extra += c->extra[buf][ch][s];
        rs->closing[s] = (ZCOST - extra > 0) && c->open[s] != rs->cand;
        if (rs->closing[s])
            gain += ZCOST - extra;
    }
    rs->accept = gain > 1e-9 && !c->is_open[rs->cand] && c->nopen < KCAP;
}

/* thread 0: apply the facility changes after the points moved */
static void commit(sc_ctx *c, const round_state *rs)
{
    int k = 0;
    for (int s = 0; s < c->nopen; s++) {
        long f = c->open[s];
        if (rs->closing[s]) {
            c->is_open[f] = 0;
            c->slot[f] = -1;
        } else {
            c->slot[f] = k;
            c->open[k++] = f;
        }
    }
    c->slot[rs->cand] = k;
    c->open[k++] = rs->cand;
    c->is_open[rs->cand] = 1;
    c->nopen = k;
}

static void evaluate(sc_ctx *c, long ch, int buf, long cand)
{
    long lo, hi;
    wl_range(c->nws, ch, NCHUNK, &lo, &hi);
    double g = 0, *extra = c->extra[buf][ch];
    for (int s = 0; s < c->nopen; s++)
        extra[s] = 0;
    for (long i = lo; i < hi; i++) {
        double nc = c->ws[i].w * dist2(&c->ws[i], &c->ws[cand]);
        c->newc[i] = nc;
        if (nc < c->cost[i])
            g += c->cost[i] - nc;
        else
            extra[c->slot[c->assign[i]]] += nc - c->cost[i];
    }
    c->gain[buf][ch] = g;
}

static void apply(sc_ctx *c, long ch, const round_state *rs)
{
    long lo, hi;
    wl_range(c->nws, ch, NCHUNK, &lo, &hi);
    for (long i = lo; i < hi; i++)
        if (c->newc[i] < c->cost[i] || rs->closing[c->slot[c->assign[i]]]) {
            c->assign[i] = rs->cand;
            c->cost[i] = c->newc[i];
        }
}

static void worker(int tid, int nt, void *arg)
{
    sc_ctx *c = arg;
    round_state rs;
    wl_rng_seed(&rs.cand_rng, 8086);
    long clo, chi;
    wl_range(NCHUNK, tid, nt, &clo, &chi);
    int buf = 0;
    for (long first = 0; first < c->n; first += BLOCK) {
        if (tid == 0)
            start_block(c, c->n - first < BLOCK ? c->n - first : BLOCK);
        wl_barrier_wait(&c->bar);
        for (long ch = clo; ch < chi; ch++)
            gen_chunk(c, ch, first);
        wl_barrier_wait(&c->bar);
        if (c->nkeep == 0) {
            if (tid == 0)
                speedy(c);
        } else {
            for (long ch = clo; ch < chi; ch++)
                attach_chunk(c, ch);
        }
        wl_barrier_wait(&c->bar);
        for (int it = 0; it < ITERS; it++) {
            rs.cand = (long)wl_rng_below(&rs.cand_rng, (uint32_t)c->nws);
            for (long ch = clo; ch < chi; ch++)
                evaluate(c, ch, buf, rs.cand);
            wl_barrier_wait(&c->bar);
            decide(c, buf, &rs);
            buf ^= 1;
            if (!rs.accept)
                continue;
            for (long ch = clo; ch < chi; ch++)
                apply(c, ch, &rs);
            wl_barrier_wait(&c->bar);
            if (tid == 0)
                commit(c, &rs);
            wl_barrier_wait(&c->bar);
        }
        wl_barrier_wait(&c->bar);
    }
    if (tid == 0) {
        double tc = c->nopen * ZCOST;
        for (long i = 0; i < c->nws; i++)
            tc += c->cost[i];
        c->total_cost = tc;
    }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of stream points (100..10000000)", 100, 10000000, &threads,
                  &n);
    sc_ctx *c = wl_zalloc(sizeof *c);
    c->n = n;
    long cap = BLOCK + 2 * KCAP;
    c->ws = wl_alloc(sizeof(point) * (size_t)cap);
    c->assign = wl_alloc(sizeof(long) * (size_t)cap);
    c->cost = wl_alloc(sizeof(double) * (size_t)cap);
    c->newc = wl_alloc(sizeof(double) * (size_t)cap);
    c->is_open = wl_zalloc((size_t)cap);
    c->slot = wl_alloc(sizeof(int) * (size_t)cap);
    wl_rng_seed(&c->rng, 5150);
    wl_barrier_init(&c->bar, threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, c);
    double t1 = wl_now();

    uint64_t h = wl_cks_u64(WL_CKS_INIT, (uint64_t)c->nopen);
    h = wl_cks_f64(h, c->total_cost);
    for (int s = 0; s < c->nopen; s++) {
        const point *p = &c->ws[c->open[s]];
        for (int j = 0; j < DIM; j++)
            h = wl_cks_f64(h, p->x[j]);
    }
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c->bar);
    free(c->ws);
    free(c->assign);
    free(c->cost);
    free(c->newc);
    free(c->is_open);
    free(c->slot);
    free(c);
    return 0;
}
