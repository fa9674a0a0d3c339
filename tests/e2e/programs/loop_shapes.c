/* Loop shapes the ci design rewrites (folded remainders, strip-mined counted loops): every
 * result must be the same with and without probes, for empty, short and long trip counts,
 * signed and unsigned bounds, 32- and 64-bit induction variables and early exits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <ci_lib.h>

static long calls;
static void tick(long ic) { (void)ic; calls++; }

__attribute__((noinline)) static uint64_t sum_u64(const uint32_t *a, uint64_t lo, uint64_t hi) {
    uint64_t s = 0;
    for (uint64_t i = lo; i < hi; i++) s = s * 31 + a[i];
    return s;
}
__attribute__((noinline)) static int64_t sum_s32(const int32_t *a, int lo, int hi) {
    int64_t s = 0;
    for (int i = lo; i < hi; i++) s += a[i] ^ (s >> 3);
    return s;
}
__attribute__((noinline)) static long find_first(const int32_t *a, long n, int32_t key) {
    for (long i = 0; i < n; i++)
        if (a[i] == key) return i;
    return -1;
}
__attribute__((noinline)) static uint32_t bytes_hash(const unsigned char *p, unsigned n) {
    uint32_t h = 2166136261u;
    for (unsigned i = 0; i != n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}
__attribute__((noinline)) static int64_t nested(const int32_t *a, int n) {
    int64_t s = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i % 13; j++) s += a[(i + j) % n] * (j + 1);
    return s;
}
/* "<=" loops (clang keeps `next > hi` exit tests for steps it cannot prove safe to rewrite). */
__attribute__((noinline)) static double le_step2(const int32_t *a, long lo, long hi) {
    double s = 0;
    for (long j = lo; j <= hi; j += 2) s = s * 0.5 + a[j] * 0.25;
    return s;
}
__attribute__((noinline)) static uint64_t le_unsigned(const uint32_t *a, unsigned lo, unsigned hi) {
    uint64_t s = 0;
    for (unsigned j = lo; j <= hi; j += 3) s = s * 7 + a[j];
    return s;
}
__attribute__((noinline)) static long csr_scan(const long *off, const int32_t *adj, long n) {
    long hits = 0;
    for (long v = 0; v < n; v++)
        for (long e = off[v]; e < off[v + 1]; e++)
            if (adj[e] % 7 == 0) { hits += e; break; }
    return hits;
}

int main(int argc, char **argv) {
    int iv = argc > 1 ? atoi(argv[1]) : 0;
    if (iv > 0) register_ci(iv, 0, tick);
    enum { N = 100003 };
    uint32_t *u = malloc(N * sizeof *u);
    int32_t *s = malloc(N * sizeof *s);
    long *off = malloc((N + 1) * sizeof *off);
    unsigned char *b = malloc(N);
    uint64_t x = 88172645463325252ull;
    for (long i = 0; i < N; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        u[i] = (uint32_t)x; s[i] = (int32_t)(x >> 32); b[i] = (unsigned char)x;
    }
    off[0] = 0;
    for (long v = 0; v < N; v++) off[v + 1] = off[v] + (long)(u[v] % 9);
    int32_t *adj = malloc((size_t)off[N] * sizeof *adj + 4);
    for (long e = 0; e < off[N]; e++) adj[e] = s[e % N];
    uint64_t acc = 0;
    long trips[] = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 100, 1000, 99999};
    for (unsigned t = 0; t < sizeof trips / sizeof *trips; t++) {
        long n = trips[t];
        acc = acc * 1000003 + sum_u64(u, 0, (uint64_t)n);
        acc = acc * 1000003 + sum_u64(u, (uint64_t)n, 10);      /* lo > hi for n > 10 */
        acc = acc * 1000003 + (uint64_t)sum_s32(s, -(int)n + (int)n, (int)n);
        acc = acc * 1000003 + (uint64_t)sum_s32(s, 5, (int)n - 3); /* empty when n < 8 */
        acc = acc * 1000003 + (uint64_t)find_first(s, n, s[n / 2]);
        acc = acc * 1000003 + bytes_hash(b, (unsigned)n);
        acc = acc * 1000003 + (uint64_t)nested(s, (int)(n % 5000) + 1);
        acc = acc * 1000003 + (uint64_t)(1e6 * le_step2(s, 1 + (n & 1), n < N ? n : N - 1));
        acc = acc * 1000003 + (uint64_t)(1e6 * le_step2(s, n < N ? n : 0, 5));
        acc = acc * 1000003 + le_unsigned(u, 2, (unsigned)(n < N - 3 ? n : N - 3));
    }
    acc = acc * 1000003 + (uint64_t)csr_scan(off, adj, N);
    printf("acc=%llu\n", (unsigned long long)acc);
    fprintf(stderr, "calls=%ld\n", calls);
    return 0;
}
