/*
 * string_match - hash every word of a generated text and look it up in a
 * small set of key words (Phoenix STRING_MATCH-like).
 *
 * Usage: string_match THREADS SIZE
 *   SIZE = text size in KiB (1..4000000).
 *
 * The text is made of CHUNK-byte chunks, each generated from its own PRNG
 * stream (seeded by the chunk index) from a skewed vocabulary.  Every word is
 * hashed with a deliberately heavy multi-round hash and probed in an
 * open-addressing table of key hashes; hash hits are confirmed with memcmp.
 * Chunks are dealt cyclically to the threads, which count matches per key in
 * private integer arrays that the main thread adds up, so the result does not
 * depend on the thread count.
 */
#include "wl_common.h"

#define CHUNK 65536
#define VOCAB 4096
#define NKEYS 48
#define TABLE 128 /* power of two > NKEYS */
#define MAXW 16

typedef struct {
    char word[MAXW];
    int len;
} word;

typedef struct {
    long nchunks, bytes;
    word vocab[VOCAB];
    word keys[NKEYS];
    uint64_t key_hash[NKEYS];
    int table[TABLE]; /* key index or -1 */
    uint64_t (*counts)[NKEYS + 2]; /* per thread: key matches, words, hash hits */
} sm_ctx;

static uint64_t heavy_hash(const char *s, int len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (int i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(0x100000001b3);
    }
    for (int round = 0; round < 6; round++) /* "encrypt" the hash a few times */
        h = wl_mix64(h + (uint64_t)round);
    return h;
}

static void make_word(wl_rng *r, word *w)
{
    w->len = 3 + (int)wl_rng_below(r, 10);
    for (int i = 0; i < w->len; i++)
        w->word[i] = (char)('a' + wl_rng_below(r, 26));
}

static long gen_chunk(const sm_ctx *c, long ch, char *buf)
{
    long cap = c->bytes - ch * CHUNK < CHUNK ? c->bytes - ch * CHUNK : CHUNK;
    wl_rng r;
    wl_rng_seed(&r, (uint64_t)ch + 1000003u);
    long pos = 0;
    for (;;) {
        double u = wl_rng_double(&r);
        const word *w = &c->vocab[(int)(u * u * VOCAB)];
        if (pos + w->len + 1 > cap)
            break;
        memcpy(&buf[pos], w->word, (size_t)w->len);
        pos += w->len;
        buf[pos++] = (wl_rng_below(&r, 12) == 0) ? '\n' : ' ';
    }
    return pos;
}

static int lookup(const sm_ctx *c, const char *s, int len, uint64_t h, uint64_t *hits)
{
    for (uint64_t slot = h & (TABLE - 1);; slot = (slot + 1) & (TABLE - 1)) {
        int k = c->table[slot];
        if (k < 0)
            return -1;
        if (c->key_hash[k] == h) {
            (*hits)++;
            if (c->keys[k].len == len && memcmp(c->keys[k].word, s, (size_t)len) == 0)
                return k;
        }
    }
}

static void worker(int tid, int nt, void *arg)
{
    sm_ctx *c = arg;
    char *buf = wl_alloc(CHUNK);
    uint64_t *cnt = c->counts[tid];
    memset(cnt, 0, sizeof(uint64_t) * (NKEYS + 2));
    for (long ch = tid; ch < c->nchunks; ch += nt) {
        long len = gen_chunk(c, ch, buf);
        long i = 0;
        while (i < len) {
            while (i < len && (buf[i] == ' ' || buf[i] == '\n'))
                i++;
            long start = i;
            while (i < len && buf[i] != ' ' && buf[i] != '\n')
                i++;
            if (i == start)
                break;
            int wl = (int)(i - start);
            uint64_t h = heavy_hash(&buf[start], wl);
            cnt[NKEYS]++;
            int k = lookup(c, &buf[start], wl, h, &cnt[NKEYS + 1]);
            if (k >= 0)
                cnt[k]++;
        }
    }
    free(buf);
}

int main(int argc, char **argv)
{
    int threads;
    long kib;
    wl_parse_args(argc, argv, "text size in KiB (1..4000000)", 1, 4000000, &threads, &kib);
    sm_ctx *c = wl_zalloc(sizeof *c);
    c->bytes = kib * 1024;
    c->nchunks = (c->bytes + CHUNK - 1) / CHUNK;
    c->counts = wl_alloc(sizeof(*c->counts) * (size_t)threads);
    wl_rng r;
    wl_rng_seed(&r, 8675309);
    for (int i = 0; i < VOCAB; i++)
        make_word(&r, &c->vocab[i]);
    for (int k = 0; k < NKEYS; k++) {
        if (k % 4 == 3)
            make_word(&r, &c->keys[k]); /* probably absent from the text */
        else
            c->keys[k] = c->vocab[(k * 37) % VOCAB];
        c->key_hash[k] = heavy_hash(c->keys[k].word, c->keys[k].len);
    }
    for (int s = 0; s < TABLE; s++)
        c->table[s] = -1;
    for (int k = 0; k < NKEYS; k++) {
        uint64_t slot = c->key_hash[k] & (TABLE - 1);
        while (c->table[slot] >= 0)
            slot = (slot + 1) & (TABLE - 1);
        c->table[slot] = k;
    }

    double t0 = wl_now();
    wl_parallel(threads, worker, c);
    double t1 = wl_now();

    uint64_t total[NKEYS + 2];
    memset(total, 0, sizeof total);
    for (int t = 0; t < threads; t++)
        for (int k = 0; k < NKEYS + 2; k++)
            total[k] += c->counts[t][k];
    uint64_t h = WL_CKS_INIT;
    for (int k = 0; k < NKEYS + 2; k++)
        h = wl_cks_u64(h, total[k]);
    wl_report(h, t1 - t0);
    free(c->counts);
    free(c);
    return 0;
}
