#include <stdlib.h>

#include "util.h"

long util_gcd(long a, long b) { return b == 0 ? labs(a) : util_gcd(b, a % b); }

long util_primes_below(long n) {
    if (n < 3)
        return 0;
    char *composite = calloc((size_t)n, 1);
    long count = 0;
    for (long i = 2; i < n; i++) {
        if (composite[i])
            continue;
        count++;
        for (long j = i * i; j < n; j += i)
            composite[j] = 1;
    }
    free(composite);
    return count;
}
