/*
 * ds.h -- the shared data structures of the delegation benchmark, written as plain sequential
 * code.  Whatever protects them (a lock, or a delegation server) calls the *_apply() functions,
 * which have the deleg_fn signature, so one critical section = one *_apply() call:
 *
 *   ctr_apply(a, key, n, delta)   fetch-and-add: for n counters chosen by hashing key, add
 *                                 `delta` and return the sum of the old values;
 *   hmap_apply(m, key, n, delta)  n hash-map operations on keys hashed from `key`: delta == 0
 *                                 looks them up (returns the sum of their values), delta > 0
 *                                 adds delta to each (inserting it with 0 first);
 *   pq_apply(q, key, n, unused)   n push-then-pop-min pairs on a binary min-heap (the "hold"
 *                                 model: the size never changes) with values hashed from key;
 *                                 returns the sum of ds_mix(popped value).
 *
 * `n` is the critical-section size of the benchmark.
 */
#ifndef DELEG_DS_H
#define DELEG_DS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DS_GOLDEN 0x9E3779B97F4A7C15ull

/* splitmix64's finaliser: a bijection on 64-bit values. */
static inline uint64_t ds_mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

/* ---- counter array ------------------------------------------------------------------------ */

struct ctr_array {
    uint64_t *v;
    uint64_t mask; /* size - 1, size a power of two */
};

static inline int ctr_init(struct ctr_array *a, uint64_t size) {
    a->mask = size - 1;
    a->v = aligned_alloc(64, size * sizeof(uint64_t));
    if (!a->v)
        return -1;
    memset(a->v, 0, size * sizeof(uint64_t));
    return 0;
}

static inline uint64_t ctr_index(const struct ctr_array *a, uint64_t key, uint64_t j) {
    return ds_mix(key + j * DS_GOLDEN) & a->mask;
}

static uint64_t ctr_apply(void *ctx, uint64_t key, uint64_t n, uint64_t delta) {
    struct ctr_array *a = ctx;
    uint64_t sum = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t *c = &a->v[ctr_index(a, key, j)];
        sum += *c;
        *c += delta;
    }
    return sum;
}

/* ---- hash map: open addressing, linear probing, keys 0..nkeys-1 (stored as key+1) -------- */

struct hmap_slot {
    uint64_t key; /* 0: empty */
    uint64_t val;
};

struct hmap {
    struct hmap_slot *slot;
    uint64_t mask;     /* capacity - 1 */
    uint64_t keymask;  /* nkeys - 1, nkeys a power of two */
    uint64_t count;
};

static inline int hmap_init(struct hmap *m, uint64_t nkeys) {
    uint64_t cap = 2 * nkeys; /* load factor <= 1/2 */
    m->slot = aligned_alloc(64, cap * sizeof(struct hmap_slot));
    if (!m->slot)
        return -1;
    memset(m->slot, 0, cap * sizeof(struct hmap_slot));
    m->mask = cap - 1;
    m->keymask = nkeys - 1;
    m->count = 0;
    return 0;
}

/* The slot of `key`, or of the empty slot where it would go. */
static inline struct hmap_slot *hmap_find(struct hmap *m, uint64_t key) {
    uint64_t h = ds_mix(key ^ DS_GOLDEN) & m->mask;
    while (m->slot[h].key != 0 && m->slot[h].key != key + 1)
        h = (h + 1) & m->mask;
    return &m->slot[h];
}

static inline uint64_t hmap_get(struct hmap *m, uint64_t key) {
    struct hmap_slot *s = hmap_find(m, key);
    return s->key ? s->val : 0;
}

static inline void hmap_add(struct hmap *m, uint64_t key, uint64_t delta) {
    struct hmap_slot *s = hmap_find(m, key);
    if (!s->key) {
        s->key = key + 1;
        s->val = 0;
        m->count++;
    }
    s->val += delta;
}

static inline uint64_t hmap_key(const struct hmap *m, uint64_t key, uint64_t j) {
    return ds_mix(key + j * DS_GOLDEN) & m->keymask;
}

static uint64_t hmap_apply(void *ctx, uint64_t key, uint64_t n, uint64_t delta) {
    struct hmap *m = ctx;
    uint64_t sum = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t k = hmap_key(m, key, j);
        if (delta)
            hmap_add(m, k, delta);
        else
            sum += hmap_get(m, k);
    }
    return sum;
}

/* ---- priority queue: binary min-heap -------------------------------------------------------- */

struct pqueue {
    uint64_t *h;
    uint64_t size, cap;
};

static inline int pq_init(struct pqueue *q, uint64_t cap) {
    q->h = aligned_alloc(64, (cap + 8) * sizeof(uint64_t));
    q->size = 0;
    q->cap = cap;
    return q->h ? 0 : -1;
}

static inline void pq_push(struct pqueue *q, uint64_t v) {
    uint64_t i = q->size++;
    while (i > 0) {
        uint64_t p = (i - 1) / 2;
        if (q->h[p] <= v)
            break;
        q->h[i] = q->h[p];
        i = p;
    }
    q->h[i] = v;
}

static inline uint64_t pq_pop(struct pqueue *q) {
    uint64_t top = q->h[0];
    uint64_t v = q->h[--q->size];
    uint64_t i = 0, n = q->size;
    for (;;) {
        uint64_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && q->h[c + 1] < q->h[c])
            c++;
        if (v <= q->h[c])
            break;
        q->h[i] = q->h[c];
        i = c;
    }
    if (n)
        q->h[i] = v;
    return top;
}

static inline uint64_t pq_value(uint64_t key, uint64_t j) {
    return ds_mix(key + j * DS_GOLDEN) >> 24;
}

static uint64_t pq_apply(void *ctx, uint64_t key, uint64_t n, uint64_t unused) {
    struct pqueue *q = ctx;
    uint64_t sum = 0;
    (void)unused;
    for (uint64_t j = 0; j < n; j++) {
        pq_push(q, pq_value(key, j));
        sum += ds_mix(pq_pop(q));
    }
    return sum;
}

#endif /* DELEG_DS_H */
