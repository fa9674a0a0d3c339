/*
 * word_count - count word frequencies in a generated text with chained hash
 * tables (Phoenix WORD_COUNT-like).
 *
 * Usage: word_count THREADS SIZE
 *   SIZE = text size in KiB (1..4000000).
 *
 * The text consists of CHUNK-byte chunks, each generated from its own PRNG
 * stream: mostly Zipf-like draws from a vocabulary, plus rare random 4-letter
 * words.  Each thread counts the words of its chunks (dealt cyclically) in a
 * private chained hash table with malloc'ed nodes; the main thread merges the
 * tables and sorts the distinct words with qsort (count descending, then
 * word).  Counts are integers and the sort key is total, so the result is
 * independent of the thread count.
 */
#include "wl_common.h"

#define CHUNK 65536
#define VOCAB 20000
#define NBUCKETS (1 << 16)
#define MAXW 16

typedef struct node {
    struct node *next;
    uint64_t hash;
    uint64_t count;
    int len;
    char word[MAXW];
} node;

typedef struct {
    node **bucket;
    long distinct;
} table;

typedef struct {
    long bytes, nchunks;
    char vocab[VOCAB][MAXW];
    int vlen[VOCAB];
    table *tabs; /* per thread */
} wc_ctx;

static uint64_t word_hash(const char *s, int len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (int i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h ^ (h >> 29);
}

static node *table_add(table *t, const char *w, int len, uint64_t h, uint64_t count)
{
    node **head = &t->bucket[h & (NBUCKETS - 1)];
    for (node *n = *head; n; n = n->next)
        if (n->hash == h && n->len == len && memcmp(n->word, w, (size_t)len) == 0) {
            n->count += count;
            return n;
        }
    node *n = wl_alloc(sizeof *n);
    n->next = *head;
    n->hash = h;
    n->count = count;
    n->len = len;
    memcpy(n->word, w, (size_t)len);
    *head = n;
    t->distinct++;
    return n;
}

static void table_init(table *t)
{
    t->bucket = wl_zalloc(sizeof(node *) * NBUCKETS);
    t->distinct = 0;
}

static void table_free(table *t)
{
    for (long b = 0; b < NBUCKETS; b++)
        for (node *n = t->bucket[b], *nx; n; n = nx) {
            nx = n->next;
            free(n);
        }
    free(t->bucket);
}

static long gen_chunk(const wc_ctx *c, long ch, char *buf)
{
    long cap = c->bytes - ch * CHUNK < CHUNK ? c->bytes - ch * CHUNK : CHUNK;
    wl_rng r;
    wl_rng_seed(&r, (uint64_t)ch * 31u + 5u);
    long pos = 0;
    for (;;) {
        char tmp[MAXW];
        const char *w;
        int len;
        if (wl_rng_below(&r, 100) == 0) {
            len = 4;
            for (int i = 0; i < 4; i++)
                tmp[i] = (char)('a' + wl_rng_below(&r, 26));
            w = tmp;
        } else {
            double u = wl_rng_double(&r);
            int idx = (int)(u * u * u * VOCAB);
            w = c->vocab[idx];
            len = c->vlen[idx];
        }
        if (pos + len + 1 > cap)
            break;
        memcpy(&buf[pos], w, (size_t)len);
        pos += len;
        buf[pos++] = wl_rng_below(&r, 10) == 0 ? '.' : ' ';
    }
    return pos;
}

static int is_letter(char ch)
{
    return ch >= 'a' && ch <= 'z';
}

static void worker(int tid, int nt, void *arg)
{
    wc_ctx *c = arg;
    table *t = &c->tabs[tid];
    table_init(t);
    char *buf = wl_alloc(CHUNK);
    for (long ch = tid; ch < c->nchunks; ch += nt) {
        long len = gen_chunk(c, ch, buf), i = 0;
        while (i < len) {
            while (i < len && !is_letter(buf[i]))
                i++;
            long s = i;
            while (i < len && is_letter(buf[i]))
                i++;
            if (i > s)
                table_add(t, &buf[s], (int)(i - s), word_hash(&buf[s], (int)(i - s)), 1);
        }
    }
    free(buf);
}

static int cmp_nodes(const void *pa, const void *pb)
{
    const node *a = *(const node *const *)pa, *b = *(const node *const *)pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    int m = a->len < b->len ? a->len : b->len;
    int d = memcmp(a->word, b->word, (size_t)m);
    if (d != 0)
        return d;
    return (a->len > b->len) - (a->len < b->len);
}

int main(int argc, char **argv)
{
    int threads;
    long kib;
    wl_parse_args(argc, argv, "text size in KiB (1..4000000)", 1, 4000000, &threads, &kib);
    wc_ctx *c = wl_zalloc(sizeof *c);
    c->bytes = kib * 1024;
    c->nchunks = (c->bytes + CHUNK - 1) / CHUNK;
    c->tabs = wl_alloc(sizeof(table) * (size_t)threads);
    wl_rng r;
    wl_rng_seed(&r, 1618);
    for (int i = 0; i < VOCAB; i++) {
        c->vlen[i] = 2 + (int)wl_rng_below(&r, 11);
        for (int j = 0; j < c->vlen[i]; j++)
            c->vocab[i][j] = (char)('a' + wl_rng_below(&r, 26));
    }

    double t0 = wl_now();
    wl_parallel(threads, worker, c);
    table all;
    table_init(&all);
    for (int t = 0; t < threads; t++)
        for (long b = 0; b < NBUCKETS; b++)
            for (node *n = c->tabs[t].bucket[b]; n; n = n->next)
                table_add(&all, n->word, n->len, n->hash, n->count);
    node **vec = wl_alloc(sizeof(node *) * (size_t)all.distinct);
    long k = 0;
    for (long b = 0; b < NBUCKETS; b++)
        for (node *n = all.bucket[b]; n; n = n->next)
            vec[k++] = n;
    qsort(vec, (size_t)k, sizeof(node *), cmp_nodes);
    double t1 = wl_now();

    uint64_t h = wl_cks_u64(WL_CKS_INIT, (uint64_t)k), total = 0;
    for (long i = 0; i < k; i++) {
        total += vec[i]->count;
        h = wl_cks_u64(h, vec[i]->count);
        if (i < 1000)
            h = wl_cks_bytes(h, vec[i]->word, (size_t)vec[i]->len);
    }
    h = wl_cks_u64(h, total);
    wl_report(h, t1 - t0);
    free(vec);
    table_free(&all);
    for (int t = 0; t < threads; t++)
        table_free(&c->tabs[t]);
    free(c->tabs);
    free(c);
    return 0;
}
