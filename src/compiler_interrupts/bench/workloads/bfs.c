/*
 * bfs - level-synchronous breadth-first search on a generated small-world
 * graph, building BFS trees from several sources (graph-analytics-like).
 *
 * Usage: bfs THREADS SIZE
 *   SIZE = number of vertices (16..20000000); the graph has ~4 SIZE
 *          undirected edges (ring-lattice edges plus random shortcuts), stored
 *          in CSR form.
 *
 * Each level is computed "bottom-up": every unvisited vertex scans its
 * adjacency list (in its fixed order) for a vertex of the current level and
 * takes the first one found as its parent.  Vertex ranges are split among the
 * threads; discoveries go to a separate array and are applied after a
 * barrier, so no thread reads state that another one writes in the same
 * phase.  Distances and parents depend only on the graph, so the output is
 * independent of the thread count.
 */
#include "wl_common.h"

#define NSOURCES 4

typedef struct {
    long n;
    long *off; /* CSR offsets, n + 1 */
    int32_t *adj;
    int32_t *dist, *parent, *next_parent;
    long found[WL_MAX_THREADS];
    long level;
    int done;
    wl_barrier bar;
} bfs_ctx;

static void bfs_worker(int tid, int nt, void *arg)
{
    bfs_ctx *c = arg;
    long lo, hi;
    wl_range(c->n, tid, nt, &lo, &hi);
    for (long level = 0;; level++) {
        long found = 0;
        for (long v = lo; v < hi; v++) {
            if (c->dist[v] >= 0)
                continue;
            for (long e = c->off[v]; e < c->off[v + 1]; e++) {
                int32_t u = c->adj[e];
                if (c->dist[u] == level) {
                    c->next_parent[v] = u;
                    found++;
                    break;
                }
            }
        }
        c->found[tid] = found;
        wl_barrier_wait(&c->bar);
        long total = 0;
        for (int t = 0; t < nt; t++)
            total += c->found[t];
        for (long v = lo; v < hi; v++)
            if (c->next_parent[v] >= 0) {
                c->dist[v] = (int32_t)(level + 1);
                c->parent[v] = c->next_parent[v];
                c->next_parent[v] = -1;
            }
        wl_barrier_wait(&c->bar);
        if (total == 0)
            break;
    }
}

static void build_graph(bfs_ctx *c)
{
    long n = c->n, m = 4 * n;
    int32_t *src = wl_alloc(sizeof(int32_t) * (size_t)m), *dst = wl_alloc(sizeof(int32_t) * (size_t)m);
    wl_rng r;
    wl_rng_seed(&r, 271828);
    for (long i = 0; i < m; i++) {
        long a = (long)wl_rng_below(&r, (uint32_t)n), b;
        if (i % 4 == 3) /* random shortcut */
            b = (long)wl_rng_below(&r, (uint32_t)n);
        else /* lattice-like: a near neighbour */
            b = (a + 1 + (long)wl_rng_below(&r, 8)) % n;
        src[i] = (int32_t)a;
        dst[i] = (int32_t)b;
    }
    c->off = wl_zalloc(sizeof(long) * (size_t)(n + 1));
    for (long i = 0; i < m; i++) {
        c->off[src[i] + 1]++;
        c->off[dst[i] + 1]++;
    }
    for (long v = 0; v < n; v++)
        c->off[v + 1] += c->off[v];
    c->adj = wl_alloc(sizeof(int32_t) * (size_t)(2 * m));
    long *fill = wl_alloc(sizeof(long) * (size_t)n);
    memcpy(fill, c->off, sizeof(long) * (size_t)n);
    for (long i = 0; i < m; i++) {
        c->adj[fill[src[i]]++] = dst[i];
        c->adj[fill[dst[i]]++] = src[i];
    }
    free(fill);
    free(src);
    free(dst);
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of vertices (16..20000000)", 16, 20000000, &threads, &n);
    bfs_ctx *c = wl_zalloc(sizeof *c);
    c->n = n;
    build_graph(c);
    c->dist = wl_alloc(sizeof(int32_t) * (size_t)n);
    c->parent = wl_alloc(sizeof(int32_t) * (size_t)n);
    c->next_parent = wl_alloc(sizeof(int32_t) * (size_t)n);
    wl_barrier_init(&c->bar, threads);

    uint64_t h = WL_CKS_INIT;
    double elapsed = 0;
    for (int s = 0; s < NSOURCES; s++) {
        long root = (long)((uint64_t)s * 2654435761u % (uint64_t)n);
        for (long v = 0; v < n; v++) {
            c->dist[v] = -1;
            c->parent[v] = -1;
            c->next_parent[v] = -1;
        }
        c->dist[root] = 0;
        c->parent[root] = (int32_t)root;
        double t0 = wl_now();
        wl_parallel(threads, bfs_worker, c);
        elapsed += wl_now() - t0;
        long reached = 0, maxd = 0;
        uint64_t sumd = 0, sump = 0;
        for (long v = 0; v < n; v++) {
            if (c->dist[v] < 0)
                continue;
            reached++;
            sumd += (uint64_t)c->dist[v];
            sump += (uint64_t)c->parent[v] * (uint64_t)(v % 1021 + 1);
            if (c->dist[v] > maxd)
                maxd = c->dist[v];
        }
        h = wl_cks_u64(h, (uint64_t)reached);
        h = wl_cks_u64(h, (uint64_t)maxd);
        h = wl_cks_u64(h, sumd);
        h = wl_cks_u64(h, sump);
    }
    wl_report(h, elapsed);
    wl_barrier_destroy(&c->bar);
    free(c->off);
    free(c->adj);
    free(c->dist);
    free(c->parent);
    free(c->next_parent);
    free(c);
    return 0;
}
