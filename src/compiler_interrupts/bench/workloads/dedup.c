/*
 * dedup - deduplicating compression of a data stream (PARSEC DEDUP-like):
 * content-defined chunking with a rolling hash, a hash of every chunk, a
 * shared hash table of chunks seen so far, and zlib compression (verified by
 * decompression) of every unique chunk.
 *
 * Usage: dedup THREADS SIZE
 *   SIZE = input size in KiB (64..1000000).
 *
 * The input is generated with lots of repetition: text-like segments from a
 * pool, reused with small mutations.  It is cut into fixed SEG-byte blocks
 * (independent of the thread count); threads take blocks cyclically and
 * chunk each block with a buzhash rolling hash.  Unique chunks are found
 * through a hash table with striped mutexes; the thread that inserts a chunk
 * compresses it.  Which thread compresses a chunk varies, but the set of
 * unique chunks, their compressed sizes and the per-block chunk sequences do
 * not, so the output is independent of the thread count.
 */
#include "wl_common.h"

#include <zlib.h>

#define SEG (1 << 20)
#define WIN 48
#define MINCHUNK 1024
#define MAXCHUNK 65536
#define CHUNKMASK 0xfffu /* ~4 KiB average chunks */
#define NBUCKET (1 << 16)
#define NLOCK 64

typedef struct entry {
    struct entry *next;
    uint64_t h1, h2;
    uint32_t len, csize;
} entry;

typedef struct {
    uint64_t nchunks, seqhash, dup_bytes, new_chunks;
} block_result;

typedef struct {
    long size, nblocks;
    unsigned char *data;
    uint64_t buz[256];
    entry *bucket[NBUCKET];
    pthread_mutex_t lock[NLOCK];
    block_result *res;
    int failed;
} dd_ctx;

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static void chunk_hash(const unsigned char *p, size_t n, uint64_t *h1, uint64_t *h2)
{
    uint64_t a = UINT64_C(0xcbf29ce484222325), b = UINT64_C(0x84222325cbf29ce4);
    for (size_t i = 0; i < n; i++) {
        a = (a ^ p[i]) * UINT64_C(0x100000001b3);
        b = rotl(b + p[i], 23) * UINT64_C(0x9e3779b97f4a7c15);
    }
    *h1 = wl_mix64(a ^ n);
    *h2 = wl_mix64(b) ^ (uint64_t)adler32(1L, p, (uInt)n);
}

/* Returns the entry; *inserted tells whether this call created it. */
static entry *lookup_insert(dd_ctx *c, uint64_t h1, uint64_t h2, uint32_t len, int *inserted)
{
    size_t bkt = h1 & (NBUCKET - 1);
    pthread_mutex_t *mu = &c->lock[bkt % NLOCK];
    pthread_mutex_lock(mu);
    entry *e;
    for (e = c->bucket[bkt]; e; e = e->next)
        if (e->h1 == h1 && e->h2 == h2 && e->len == len)
            break;
    *inserted = 0;
    if (!e) {
        e = wl_zalloc(sizeof *e);
        e->h1 = h1;
        e->h2 = h2;
        e->len = len;
        e->next = c->bucket[bkt];
        c->bucket[bkt] = e;
        *inserted = 1;
    }
    pthread_mutex_unlock(mu);
    return e;
}

static uint32_t compress_chunk(dd_ctx *c, const unsigned char *p, size_t n, unsigned char *zbuf,
                               size_t zcap, unsigned char *check)
{
    uLongf zlen = (uLongf)zcap;
    if (compress2(zbuf, &zlen, p, (uLong)n, 6) != Z_OK) {
        c->failed = 1;
        return 0;
    }
    uLongf back = (uLongf)MAXCHUNK;
    if (uncompress(check, &back, zbuf, zlen) != Z_OK || back != n || memcmp(check, p, n) != 0)
        c->failed = 1;
    return (uint32_t)zlen;
}

static void process_block(dd_ctx *c, long blk, unsigned char *zbuf, size_t zcap,
                          unsigned char *check)
{
    long start = blk * SEG, end = start + SEG < c->size ? start + SEG : c->size;
    block_result *r = &c->res[blk];
    memset(r, 0, sizeof *r);
    r->seqhash = WL_CKS_INIT;
    long cs = start;
    while (cs < end) {
        /* find the chunk end: rolling buzhash over the last WIN bytes */
        uint64_t h = 0;
        long i = cs, limit = cs + MAXCHUNK < end ? cs + MAXCHUNK : end;
        for (; i < limit; i++) {
            h = rotl(h, 1) ^ c->buz[c->data[i]];
            if (i - cs >= WIN)
                h ^= rotl(c->buz[c->data[i - WIN]], WIN % 64);
            if (i - cs + 1 >= MINCHUNK && (h & CHUNKMASK) == CHUNKMASK) {
                i++;
                break;
            }
        }
        size_t len = (size_t)(i - cs);
        uint64_t h1, h2;
        chunk_hash(&c->data[cs], len, &h1, &h2);
        int inserted;
        entry *e = lookup_insert(c, h1, h2, (uint32_t)len, &inserted);
        if (inserted) {
            e->csize = compress_chunk(c, &c->data[cs], len, zbuf, zcap, check);
            r->new_chunks++;
        } else {
            r->dup_bytes += len;
        }
        r->nchunks++;
        r->seqhash = wl_cks_u64(r->seqhash, h1 ^ (uint64_t)len);
        cs = i;
    }
}

static void worker(int tid, int nt, void *arg)
{
    dd_ctx *c = arg;
    size_t zcap = compressBound(MAXCHUNK);
    unsigned char *zbuf = wl_alloc(zcap), *check = wl_alloc(MAXCHUNK);
    for (long b = tid; b < c->nblocks; b += nt)
        process_block(c, b, zbuf, zcap, check);
    free(zbuf);
    free(check);
}

static void gen_input(dd_ctx *c)
{
    static const char *const words[] = {"alpha ", "beta ",   "gamma ",  "delta ", "stream ",
                                        "chunk ", "packet ", "header ", "0x1f ",  "\n",
                                        "node ",  "value=",  "42 ",     "; ",     "return "};
    enum { NSEGS = 96, SEGMAX = 65536 };
    wl_rng r;
    wl_rng_seed(&r, 1337);
    unsigned char *pool = wl_alloc((size_t)NSEGS * SEGMAX);
    size_t seglen[NSEGS];
    for (int s = 0; s < NSEGS; s++) {
        size_t len = 8192 + wl_rng_below(&r, SEGMAX - 8192), pos = 0;
        while (pos < len) {
            const char *w = words[wl_rng_below(&r, 15)];
            for (; *w && pos < len; w++)
                pool[(size_t)s * SEGMAX + pos++] = (unsigned char)*w;
        }
        seglen[s] = len;
    }
    long pos = 0;
    while (pos < c->size) {
        int s = (int)wl_rng_below(&r, NSEGS);
        size_t len = seglen[s];
        if ((long)len > c->size - pos)
            len = (size_t)(c->size - pos);
        memcpy(&c->data[pos], &pool[(size_t)s * SEGMAX], len);
        if (wl_rng_below(&r, 3) == 0) /* mutate a few bytes: a "new" version */
            for (int k = 0; k < 4; k++)
                c->data[pos + (long)wl_rng_below(&r, (uint32_t)len)] = (unsigned char)wl_rng_u32(&r);
        pos += (long)len;
    }
    free(pool);
}

int main(int argc, char **argv)
{
    int threads;
    long kib;
    wl_parse_args(argc, argv, "input size in KiB (64..1000000)", 64, 1000000, &threads, &kib);
    dd_ctx *c = wl_zalloc(sizeof *c);
    c->size = kib * 1024;
    c->nblocks = (c->size + SEG - 1) / SEG;
    c->data = wl_alloc((size_t)c->size);
    c->res = wl_alloc(sizeof(block_result) * (size_t)c->nblocks);
    for (int i = 0; i < NLOCK; i++)
        pthread_mutex_init(&c->lock[i], NULL);
    wl_rng r;
    wl_rng_seed(&r, 4004);
    for (int i = 0; i < 256; i++)
        c->buz[i] = wl_rng_next(&r);
    gen_input(c);

    double t0 = wl_now();
    wl_parallel(threads, worker, c);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT, unique = 0, zbytes = 0, chunks = 0, dup = 0;
    for (long b = 0; b < c->nblocks; b++) {
        h = wl_cks_u64(h, c->res[b].seqhash);
        chunks += c->res[b].nchunks;
        dup += c->res[b].dup_bytes;
    }
    for (long i = 0; i < NBUCKET; i++)
        for (entry *e = c->bucket[i], *nx; e; e = nx) {
            nx = e->next;
            unique++;
            zbytes += e->csize;
            free(e);
        }
    h = wl_cks_u64(h, chunks);
    h = wl_cks_u64(h, unique);
    h = wl_cks_u64(h, zbytes);
    h = wl_cks_u64(h, dup);
    if (c->failed)
        fprintf(stderr, "error: zlib round trip failed\n");
    wl_report(h, t1 - t0);
    for (int i = 0; i < NLOCK; i++)
        pthread_mutex_destroy(&c->lock[i]);
    int failed = c->failed;
    free(c->data);
    free(c->res);
    free(c);
    return failed ? 1 : 0;
}
