/* Hand-written probes for runtime tests: exactly what the compiler pass emits. */
#ifndef CI_TEST_PROBE_H
#define CI_TEST_PROBE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "ci_lib.h"

#define PROBE(c)                         \
    do {                                 \
        __ci_budget -= (c);              \
        if (__ci_budget < 0)             \
            __ci_slow_path(c);           \
    } while (0)

static inline uint64_t now_ticks(void) { return __ci_timestamp(); }

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v in place; returns the q-quantile (0..1). */
static inline uint64_t quantile(uint64_t *v, size_t n, double q) {
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_u64);
    size_t i = (size_t)(q * (double)(n - 1));
    return v[i];
}
#endif
