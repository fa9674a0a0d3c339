/*
 * barnes - Barnes-Hut n-body simulation with an octree (SPLASH-2 BARNES-like).
 *
 * Usage: barnes THREADS SIZE
 *   SIZE = number of bodies (2..1000000).
 *
 * Each of STEPS time steps: the main thread builds an octree by recursive
 * insertion of the bodies (in index order) into pointer-linked cells and
 * computes centres of mass recursively; then the threads compute the
 * acceleration of their bodies by a recursive tree walk with an opening
 * criterion, and finally integrate their bodies.  The tree depends only on
 * the bodies, and each body's walk is sequential, so results are independent
 * of the thread count.
 */
#include "wl_common.h"

#include <math.h>

#define STEPS 4
#define THETA 0.5
#define EPS2 1e-4
#define DT 0.01
#define MAXDEPTH 48
#define POOL_BLOCK 4096

typedef struct body {
    double pos[3], vel[3], acc[3], mass;
    struct body *next; /* chaining inside a leaf at MAXDEPTH */
} body;

typedef struct node {
    double center[3], half;
    double com[3], mass;
    struct node *child[8];
    body *bodies; /* non-NULL only for leaves */
    int leaf;
} node;

typedef struct pool_block {
    struct pool_block *prev;
    node nodes[POOL_BLOCK];
} pool_block;

typedef struct {
    pool_block *blocks;
    int used;
} node_pool;

typedef struct {
    long n;
    body *b;
    node *root;
    node_pool pool;
} barnes_ctx;

static node *new_node(node_pool *p, const double center[3], double half)
{
    if (!p->blocks || p->used == POOL_BLOCK) {
        pool_block *blk = wl_alloc(sizeof(pool_block));
        blk->prev = p->blocks;
        p->blocks = blk;
        p->used = 0;
    }
    node *nd = &p->blocks->nodes[p->used++];
    memset(nd, 0, sizeof *nd);
    memcpy(nd->center, center, sizeof nd->center);
    nd->half = half;
    nd->leaf = 1;
    return nd;
}

static void pool_reset(node_pool *p)
{
    while (p->blocks) {
        pool_block *prev = p->blocks->prev;
        free(p->blocks);
        p->blocks = prev;
    }
    p->used = 0;
}

static int octant(const node *nd, const body *b)
{
    return (b->pos[0] >= nd->center[0]) | ((b->pos[1] >= nd->center[1]) << 1) |
           ((b->pos[2] >= nd->center[2]) << 2);
}

static void insert(node_pool *p, node *nd, body *b, int depth)
{
    if (nd->leaf) {
        if (!nd->bodies) {
            b->next = NULL;
            nd->bodies = b;
            return;
        }
        if (depth >= MAXDEPTH) {
            b->next = nd->bodies;
            nd->bodies = b;
            return;
        }
        body *old = nd->bodies;
        nd->bodies = NULL;
        nd->leaf = 0;
        insert(p, nd, old, depth);
    }
    int o = octant(nd, b);
    if (!nd->child[o]) {
        double h = nd->half * 0.5, c[3];
        for (int d = 0; d < 3; d++)
            c[d] = nd->center[d] + (((o >> d) & 1) ? h : -h);
        nd->child[o] = new_node(p, c, h);
    }
    insert(p, nd->child[o], b, depth + 1);
}

static void summarize(node *nd)
{
    double m = 0, c[3] = {0, 0, 0};
    if (nd->leaf) {
        for (body *b = nd->bodies; b; b = b->next) {
            m += b->mass;
            for (int d = 0; d < 3; d++)
                c[d] += b->mass * b->pos[d];
        }
    } else {
        for (int k = 0; k < 8; k++) {
            node *ch = nd->child[k];
            if (!ch)
                continue;
            summarize(ch);
            m += ch->mass;
            for (int d = 0; d < 3; d++)
                c[d] += ch->mass * ch->com[d];
        }
    }
    nd->mass = m;
    for (int d = 0; d < 3; d++)
        nd->com[d] = m > 0 ? c[d] / m : nd->center[d];
}

static void interact(const double p[3], const double q[3], double m, double acc[3])
{
    double dx = q[0] - p[0], dy = q[1] - p[1], dz = q[2] - p[2];
    double r2 = dx * dx + dy * dy + dz * dz + EPS2;
    double inv = 1.0 / sqrt(r2);
    double f = m * inv * inv * inv;
    acc[0] += f * dx;
    acc[1] += f * dy;
    acc[2] += f * dz;
}

static void walk(const node *nd, const body *self, double acc[3])
{
    if (nd->leaf) {
        for (const body *b = nd->bodies; b; b = b->next)
            if (b != self)
                interact(self->pos, b->pos, b->mass, acc);
        return;
    }
    double dx = nd->com[0] - self->pos[0], dy = nd->com[1] - self->pos[1],
           dz = nd->com[2] - self->pos[2];
    double d2 = dx * dx + dy * dy + dz * dz;
    double size = 2.0 * nd->half;
    if (size * size < THETA * THETA * d2) {
        interact(self->pos, nd->com, nd->mass, acc);
        return;
    }
    for (int k = 0; k < 8; k++)
        if (nd->child[k])
            walk(nd->child[k], self, acc);
}

static void build_tree(barnes_ctx *c)
{
    double lo[3], hi[3];
    for (int d = 0; d < 3; d++)
        lo[d] = hi[d] = c->b[0].pos[d];
    for (long i = 1; i < c->n; i++)
        for (int d = 0; d < 3; d++) {
            if (c->b[i].pos[d] < lo[d])
                lo[d] = c->b[i].pos[d];
            if (c->b[i].pos[d] > hi[d])
                hi[d] = c->b[i].pos[d];
        }
    double center[3], half = 0;
    for (int d = 0; d < 3; d++) {
        center[d] = 0.5 * (lo[d] + hi[d]);
        if (0.5 * (hi[d] - lo[d]) > half)
            half = 0.5 * (hi[d] - lo[d]);
    }
    pool_reset(&c->pool);
    c->root = new_node(&c->pool, center, half * 1.0001 + 1e-9);
    for (long i = 0; i < c->n; i++)
        insert(&c->pool, c->root, &c->b[i], 0);
    summarize(c->root);
}

static void force_worker(int tid, int nt, void *arg)
{
    barnes_ctx *c = arg;
    /* interleaved bodies balance the cost of dense and sparse regions */
    for (long i = tid; i < c->n; i += nt) {
        body *b = &c->b[i];
        b->acc[0] = b->acc[1] = b->acc[2] = 0.0;
        walk(c->root, b, b->acc);
    }
}

static void update_worker(int tid, int nt, void *arg)
{
    barnes_ctx *c = arg;
    long lo, hi;
    wl_range(c->n, tid, nt, &lo, &hi);
    for (long i = lo; i < hi; i++)
        for (int d = 0; d < 3; d++) {
            c->b[i].vel[d] += DT * c->b[i].acc[d];
            c->b[i].pos[d] += DT * c->b[i].vel[d];
        }
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of bodies (2..1000000)", 2, 1000000, &threads, &n);
    barnes_ctx c;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.b = wl_zalloc(sizeof(body) * (size_t)n);
    wl_rng r;
    wl_rng_seed(&r, 31337);
    for (long i = 0; i < n; i++) {
        /* two clustered "galaxies": uniform in balls, slow rotation */
        double p[3], r2;
        do {
            for (int d = 0; d < 3; d++)
                p[d] = wl_rng_range(&r, -1.0, 1.0);
            r2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
        } while (r2 > 1.0);
        double off = (i & 1) ? 1.5 : -1.5;
        c.b[i].pos[0] = p[0] + off;
        c.b[i].pos[1] = p[1];
        c.b[i].pos[2] = p[2] * 0.3;
        c.b[i].vel[0] = -0.2 * p[1];
        c.b[i].vel[1] = 0.2 * p[0];
        c.b[i].vel[2] = 0.0;
        c.b[i].mass = 1.0 / (double)n;
    }

    double t0 = wl_now();
    for (int s = 0; s < STEPS; s++) {
        build_tree(&c);
        wl_parallel(threads, force_worker, &c);
        wl_parallel(threads, update_worker, &c);
    }
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    for (long i = 0; i < n; i++)
        for (int d = 0; d < 3; d++) {
            h = wl_cks_f64(h, c.b[i].pos[d]);
            h = wl_cks_f64(h, c.b[i].vel[d]);
        }
    wl_report(h, t1 - t0);
    pool_reset(&c.pool);
    free(c.b);
    return 0;
}
