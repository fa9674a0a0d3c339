/*
 * quicksort - parallel sample sort whose buckets are sorted by a recursive,
 * comparator-driven quicksort (branchy, call-heavy).
 *
 * Usage: quicksort THREADS SIZE
 *   SIZE = number of records (1000..50000000); a record is a 64-bit key
 *          (with many duplicates) plus a unique 32-bit id.
 *
 * Splitters are chosen from a regular sample; the record array is cut into
 * NCHUNK fixed chunks whose records are classified by binary search through
 * a comparator function pointer, counted, and scattered into NBUCKET buckets
 * at offsets from a (bucket, chunk)-ordered prefix sum.  Buckets are then
 * dealt cyclically to the threads and sorted with a recursive median-of-three
 * quicksort calling the comparator through a function pointer.  The order
 * (key, id) is total, so the output is independent of the thread count.
 */
#include "wl_common.h"

#define NCHUNK 64
#define NBUCKET 64
#define OVERSAMPLE 32

typedef struct {
    uint64_t key;
    uint32_t id, pad;
} rec;

typedef int (*cmp_fn)(const rec *, const rec *);

static int cmp_key_id(const rec *a, const rec *b)
{
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static void insertion_sort(rec *a, long n, cmp_fn cmp)
{
    for (long i = 1; i < n; i++) {
        rec v = a[i];
        long j = i;
        while (j > 0 && cmp(&v, &a[j - 1]) < 0) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

static void swap_rec(rec *a, rec *b)
{
    rec t = *a;
    *a = *b;
    *b = t;
}

static void quicksort(rec *a, long n, cmp_fn cmp)
{
    while (n > 24) {
        long m = n / 2;
        /* median of three into a[m] */
        if (cmp(&a[m], &a[0]) < 0)
            swap_rec(&a[m], &a[0]);
        if (cmp(&a[n - 1], &a[m]) < 0) {
            swap_rec(&a[n - 1], &a[m]);
            if (cmp(&a[m], &a[0]) < 0)
                swap_rec(&a[m], &a[0]);
        }
        rec pivot = a[m];
        long i = 0, j = n - 1;
        for (;;) { /* Hoare partition */
            while (cmp(&a[i], &pivot) < 0)
                i++;
            while (cmp(&pivot, &a[j]) < 0)
                j--;
            if (i >= j)
                break;
            swap_rec(&a[i], &a[j]);
            i++;
            j--;
        }
        /* recurse on the smaller side, loop on the larger */
        long left = j + 1;
        if (left < n - left) {
            quicksort(a, left, cmp);
            a += left;
            n -= left;
        } else {
            quicksort(a + left, n - left, cmp);
            n = left;
        }
    }
    insertion_sort(a, n, cmp);
}

typedef struct {
    long n;
    rec *src, *dst;
    unsigned char *bkt;
    rec split[NBUCKET - 1];
    long count[NCHUNK][NBUCKET];
    long start[NBUCKET + 1];
    cmp_fn cmp;
    wl_barrier bar;
} qs_ctx;

static int classify(const qs_ctx *c, const rec *r)
{
    int lo = 0, hi = NBUCKET - 1; /* first splitter > r */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c->cmp(r, &c->split[mid]) < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void worker(int tid, int nt, void *arg)
{
    qs_ctx *c = arg;
    long clo, chi;
    wl_range(NCHUNK, tid, nt, &clo, &chi);
    for (long ch = clo; ch < chi; ch++) {
        long lo, hi;
        wl_range(c->n, ch, NCHUNK, &lo, &hi);
        memset(c->count[ch], 0, sizeof c->count[ch]);
        for (long i = lo; i < hi; i++) {
            int b = classify(c, &c->src[i]);
            c->bkt[i] = (unsigned char)b;
            c->count[ch][b]++;
        }
    }
    if (wl_barrier_wait(&c->bar)) {
        long sum = 0;
        for (int b = 0; b < NBUCKET; b++) {
            c->start[b] = sum;
            for (int ch = 0; ch < NCHUNK; ch++) {
                long v = c->count[ch][b];
                c->count[ch][b] = sum;
                sum += v;
            }
        }
        c->start[NBUCKET] = sum;
    }
    wl_barrier_wait(&c->bar);
    for (long ch = clo; ch < chi; ch++) {
        long lo, hi;
        wl_range(c->n, ch, NCHUNK, &lo, &hi);
        for (long i = lo; i < hi; i++)
            c->dst[c->count[ch][c->bkt[i]]++] = c->src[i];
    }
    wl_barrier_wait(&c->bar);
    for (int b = tid; b < NBUCKET; b += nt)
        quicksort(&c->dst[c->start[b]], c->start[b + 1] - c->start[b], c->cmp);
}

int main(int argc, char **argv)
{
    int threads;
    long n;
    wl_parse_args(argc, argv, "number of records (1000..50000000)", 1000, 50000000, &threads, &n);
    qs_ctx *c = wl_zalloc(sizeof *c);
    c->n = n;
    c->cmp = cmp_key_id;
    c->src = wl_alloc(sizeof(rec) * (size_t)n);
    c->dst = wl_alloc(sizeof(rec) * (size_t)n);
    c->bkt = wl_alloc((size_t)n);
    wl_rng r;
    wl_rng_seed(&r, 9001);
    uint64_t range = (uint64_t)n / 2 + 1;
    for (long i = 0; i < n; i++) {
        c->src[i].key = wl_rng_next(&r) % range * UINT64_C(0x10001);
        c->src[i].id = (uint32_t)i;
        c->src[i].pad = 0;
    }
    wl_barrier_init(&c->bar, threads);

    double t0 = wl_now();
    rec sample[NBUCKET * OVERSAMPLE];
    long ns = NBUCKET * OVERSAMPLE;
    for (long i = 0; i < ns; i++)
        sample[i] = c->src[i * (n / ns)];
    quicksort(sample, ns, c->cmp);
    for (int b = 0; b < NBUCKET - 1; b++)
        c->split[b] = sample[(b + 1) * OVERSAMPLE];
    wl_parallel(threads, worker, c);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT, sum = 0;
    long bad = 0;
    for (long i = 0; i < n; i++) {
        if (i > 0 && cmp_key_id(&c->dst[i - 1], &c->dst[i]) >= 0)
            bad++;
        sum += c->dst[i].id * (uint64_t)(i + 1) + c->dst[i].key;
        if ((i & 1023) == 0)
            h = wl_cks_u64(h, c->dst[i].key ^ c->dst[i].id);
    }
    h = wl_cks_u64(h, sum);
    h = wl_cks_u64(h, (uint64_t)bad);
    if (bad)
        fprintf(stderr, "error: output not sorted (%ld inversions)\n", bad);
    wl_report(h, t1 - t0);
    wl_barrier_destroy(&c->bar);
    free(c->src);
    free(c->dst);
    free(c->bkt);
    free(c);
    return bad ? 1 : 0;
}
