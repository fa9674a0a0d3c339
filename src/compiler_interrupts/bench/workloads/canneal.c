/*
 * canneal - simulated annealing of a chip netlist placement to minimise
 * wire length (PARSEC CANNEAL-like).
 *
 * Usage: canneal THREADS SIZE
 *   SIZE = number of netlist elements (16..4000000), placed on a square grid.
 *
 * Elements are linked to a few others through pointer arrays (mostly local,
 * some long-range nets).  Each of STEPS temperature steps draws a batch of
 * candidate swaps in NCHUNK fixed chunks, each chunk from its own PRNG stream
 * seeded by (step, chunk); the threads evaluate the change of Manhattan wire
 * length of their chunks by chasing the element pointers.  Thread 0 then
 * commits the batch in order, accepting improving swaps and worsening ones
 * with probability exp(-delta/T), skipping swaps that touch an element
 * already moved in this step (their delta is stale).  The placement is thus
 * independent of the thread count.
 */
#include "wl_common.h"

#include <math.h>

#define STEPS 48
#define NCHUNK 64

typedef struct elem {
    int x, y;
    int nconn;
    struct elem **conn;
    long stamp; /* last step in which the element moved */
} elem;

typedef struct {
    elem *a, *b;
    long delta;
    double u;
} swap;

typedef struct {
    long n, batch;
    int side;
    elem *e;
    swap *sw;
    double temp;
    long accepted, step;
    wl_barrier bar;
} can_ctx;

static long wire_cost(const elem *e, int x, int y, const elem *skip)
{
    long c = 0;
    for (int k = 0; k < e->nconn; k++) {
        const elem *o = e->conn[k];
        if (o == skip)
            continue;
        c += labs((long)(o->x - x)) + labs((long)(o->y - y));
    }
    return c;
}

static long swap_delta(const elem *a, const elem *b)
{
    long before = wire_cost(a, a->x, a->y, b) + wire_cost(b, b->x, b->y, a);
    long after = wire_cost(a, b->x, b->y, b) + wire_cost(b, a->x, a->y, a);
    return after - before;
}

static void commit_batch(can_ctx *c)
{
    for (long i = 0; i < c->batch; i++) {
        swap *s = &c->sw[i];
        if (s->a == s->b || s->a->stamp == c->step || s->b->stamp == c->step)
            continue;
        if (s->delta < 0 || s->u < exp(-(double)s->delta / c->temp)) {
            int x = s->a->x, y = s->a->y;
            s->a->x = s->b->x;
            s->a->y = s->b->y;
            s->b->x = x;
            s->b->y = y;
            s->a->stamp = s->b->stamp = c->step;
            c->accepted++;
        }
    }
    c->temp *= 0.9;
    c->step++;
}

static void worker(int tid, int nt, void *arg)
{
    can_ctx *c = arg;
    long clo, chi;
    wl_range(NCHUNK, tid, nt, &clo, &chi);
    for (long step = 0; step < STEPS; step++) {
        for (long ch = clo; ch < chi; ch++) {
            long lo, hi;
            wl_range(c->batch, ch, NCHUNK, &lo, &hi);
            wl_rng r;
            wl_rng_seed(&r, (uint64_t)step * 1315423911u + (uint64_t)ch);
            for (long i = lo; i < hi; i++) {
                swap *s = &c->sw[i];
                s->a = &c->e[wl_rng_below(&r, (uint32_t)c->n)];
                s->b = &c->e[wl_rng_below(&r, (uint32_t)c->n)];
                s->u = wl_rng_double(&r);
                s->delta = swap_delta(s->a, s->b);
            }
        }
        if (wl_barrier_wait(&c->bar))
            commit_batch(c);
        wl_barrier_wait(&c->bar);
    }
}

static long total_cost(const can_ctx *c)
{
    long t = 0;
    for (long i = 0; i < c->n; i++)
        t += wire_cost(&c->e[i], c->e[i].x, c->e[i].y, NULL);
    return t;
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of netlist elements (16..4000000)", 16, 4000000, &threads,
                  &n);
    can_ctx c;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.batch = n / 2;
    c.side = 1;
    while ((long)c.side * c.side < n)
        c.side++;
    c.e = wl_zalloc(sizeof(elem) * (size_t)n);
    c.sw = wl_alloc(sizeof(swap) * (size_t)c.batch);
    elem **links = wl_alloc(sizeof(elem *) * (size_t)n * 6);
    wl_rng r;
    wl_rng_seed(&r, 6502);
    /* random initial placement: a shuffled identity over the grid slots */
    long *perm = wl_alloc(sizeof(long) * (size_t)n);
    for (long i = 0; i < n; i++)
        perm[i] = i;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)wl_rng_below(&r, (uint32_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (long i = 0; i < n; i++) {
        elem *e = &c.e[i];
        e->x = (int)(perm[i] % c.side);
        e->y = (int)(perm[i] / c.side);
        e->stamp = -1;
        e->conn = &links[i * 6];
        e->nconn = 2 + (int)wl_rng_below(&r, 5);
        for (int k = 0; k < e->nconn; k++) {
            long j;
            if (wl_rng_below(&r, 8) == 0)
                j = (long)wl_rng_below(&r, (uint32_t)n); /* long-range net */
            else
                j = (i + 1 + (long)wl_rng_below(&r, 64)) % n; /* "logically" near */
            e->conn[k] = &c.e[j];
        }
    }
    free(perm);
    c.temp = 2.0 * c.side;
    long initial = total_cost(&c);
    wl_barrier_init(&c.bar, threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    long final = total_cost(&c);
    uint64_t h = WL_CKS_INIT;
    h = wl_cks_u64(h, (uint64_t)initial);
    h = wl_cks_u64(h, (uint64_t)final);
    h = wl_cks_u64(h, (uint64_t)c.accepted);
    for (long i = 0; i < n; i++)
        h = wl_cks_u64(h, (uint64_t)c.e[i].x * 65536u + (uint64_t)c.e[i].y);
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c.bar);
    free(links);
    free(c.sw);
    free(c.e);
    return 0;
}
