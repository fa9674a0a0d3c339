/*
 * reverse_index - extract the links of generated HTML-like documents and
 * build a reverse index link -> documents (Phoenix REVERSE_INDEX-like).
 *
 * Usage: reverse_index THREADS SIZE
 *   SIZE = number of documents (1..10000000); each is ~3 KiB of markup.
 *
 * Documents are generated from a PRNG stream seeded by the document number
 * (tags, filler words and <a href="..."> links drawn from a skewed pool).
 * Threads parse contiguous ranges of documents, scanning for anchors with
 * strstr/strchr, and record (link, doc) pairs in private chained hash tables
 * with growable doc arrays.  The main thread merges the tables, sorts the
 * links (qsort + strcmp) and each doc list, so the index does not depend on
 * the thread count.
 */
#include "wl_common.h"

#include <stdio.h>

#define NBUCKETS (1 << 14)
#define DOCBUF 8192
#define MAXLINK 96

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    long *docs;
    long ndocs, cap;
    char link[MAXLINK];
} entry;

typedef struct {
    entry **bucket;
    long nentries;
} index_t;

typedef struct {
    long ndocs;
    index_t *idx; /* per thread */
} ri_ctx;

static const char *const WORDS[] = {"lorem", "ipsum", "dolor", "sit", "amet", "data",
                                    "index", "page", "link", "home", "news", "about"};
static const char *const TAGS[] = {"p", "div", "span", "li", "em", "b"};

static uint64_t str_hash(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static void index_init(index_t *ix)
{
    ix->bucket = wl_zalloc(sizeof(entry *) * NBUCKETS);
    ix->nentries = 0;
}

static void index_add(index_t *ix, const char *link, uint64_t h, const long *docs, long n)
{
    entry **head = &ix->bucket[h & (NBUCKETS - 1)], *e;
    for (e = *head; e; e = e->next)
        if (e->hash == h && strcmp(e->link, link) == 0)
            break;
    if (!e) {
        e = wl_zalloc(sizeof *e);
        e->hash = h;
        snprintf(e->link, sizeof e->link, "%s", link);
        e->next = *head;
        *head = e;
        ix->nentries++;
    }
    if (e->ndocs + n > e->cap) {
        while (e->ndocs + n > e->cap)
            e->cap = e->cap ? 2 * e->cap : 4;
        long *nd = realloc(e->docs, sizeof(long) * (size_t)e->cap);
        if (!nd)
            wl_die("out of memory");
        e->docs = nd;
    }
    memcpy(&e->docs[e->ndocs], docs, sizeof(long) * (size_t)n);
    e->ndocs += n;
}

static void index_free(index_t *ix)
{
    for (long b = 0; b < NBUCKETS; b++)
        for (entry *e = ix->bucket[b], *nx; e; e = nx) {
            nx = e->next;
            free(e->docs);
            free(e);
        }
    free(ix->bucket);
}

/* Appends formatted text, never past the end of the buffer. */
static size_t emit(char *buf, size_t pos, const char *s)
{
    size_t n = strlen(s);
    if (pos + n >= DOCBUF)
        return pos;
    memcpy(&buf[pos], s, n + 1);
    return pos + n;
}

static void gen_doc(long doc, char *buf)
{
    wl_rng r;
    wl_rng_seed(&r, (uint64_t)doc * 2654435761u + 3u);
    size_t pos = emit(buf, 0, "<html><head><title>doc</title></head><body>\n");
    int nelem = 40 + (int)wl_rng_below(&r, 40);
    char tmp[256];
    for (int e = 0; e < nelem; e++) {
        if (wl_rng_below(&r, 4) == 0) {
            double u = wl_rng_double(&r);
            unsigned site = (unsigned)(u * u * 300.0);
            unsigned page = wl_rng_below(&r, 1 + site % 40);
            snprintf(tmp, sizeof tmp, "<a href=\"http://www.site%u.com/d%u/page%u.html\">%s</a>\n",
                     site, site % 7, page, WORDS[wl_rng_below(&r, 12)]);
        } else {
            const char *tag = TAGS[wl_rng_below(&r, 6)];
            int nw = 3 + (int)wl_rng_below(&r, 8);
            int p = snprintf(tmp, sizeof tmp, "<%s class=\"c%u\">", tag, wl_rng_below(&r, 9));
            for (int w = 0; w < nw && p < 200; w++)
                p += snprintf(tmp + p, sizeof tmp - (size_t)p, " %s", WORDS[wl_rng_below(&r, 12)]);
            snprintf(tmp + p, sizeof tmp - (size_t)p, "</%s>\n", tag);
        }
        pos = emit(buf, pos, tmp);
    }
    emit(buf, pos, "</body></html>\n");
}

static void parse_doc(index_t *ix, long doc, const char *buf)
{
    const char *p = buf;
    char link[MAXLINK];
    while ((p = strstr(p, "<a ")) != NULL) {
        const char *h = strstr(p, "href=\"");
        if (!h)
            break;
        h += 6;
        const char *end = strchr(h, '"');
        if (!end)
            break;
        size_t n = (size_t)(end - h);
        if (n > 0 && n < MAXLINK) {
            memcpy(link, h, n);
            link[n] = '\0';
            index_add(ix, link, str_hash(link), &doc, 1);
        }
        p = end + 1;
    }
}

static void worker(int tid, int nt, void *arg)
{
    ri_ctx *c = arg;
    index_t *ix = &c->idx[tid];
    index_init(ix);
    char *buf = wl_alloc(DOCBUF);
    long lo, hi;
    wl_range(c->ndocs, tid, nt, &lo, &hi);
    for (long d = lo; d < hi; d++) {
        gen_doc(d, buf);
        parse_doc(ix, d, buf);
    }
    free(buf);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp((*(const entry *const *)a)->link, (*(const entry *const *)b)->link);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int threads;
    long ndocs;
    wl_parse_args(argc, argv, "number of documents (1..10000000)", 1, 10000000, &threads, &ndocs);
    ri_ctx c = {ndocs, wl_alloc(sizeof(index_t) * (size_t)threads)};

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    index_t all;
    index_init(&all);
    for (int t = 0; t < threads; t++)
        for (long b = 0; b < NBUCKETS; b++)
            for (entry *e = c.idx[t].bucket[b]; e; e = e->next)
                index_add(&all, e->link, e->hash, e->docs, e->ndocs);
    entry **vec = wl_alloc(sizeof(entry *) * (size_t)all.nentries);
    long k = 0;
    for (long b = 0; b < NBUCKETS; b++)
        for (entry *e = all.bucket[b]; e; e = e->next)
            vec[k++] = e;
    qsort(vec, (size_t)k, sizeof *vec, cmp_entry);
    for (long i = 0; i < k; i++)
        qsort(vec[i]->docs, (size_t)vec[i]->ndocs, sizeof(long), cmp_long);
    double t1 = wl_now();

    uint64_t h = wl_cks_u64(WL_CKS_INIT, (uint64_t)k);
    for (long i = 0; i < k; i++) {
        h = wl_cks_bytes(h, vec[i]->link, strlen(vec[i]->link));
        h = wl_cks_bytes(h, vec[i]->docs, sizeof(long) * (size_t)vec[i]->ndocs);
    }
    wl_report(h, t1 - t0);
    free(vec);
    index_free(&all);
    for (int t = 0; t < threads; t++)
        index_free(&c.idx[t]);
    free(c.idx);
    return 0;
}
