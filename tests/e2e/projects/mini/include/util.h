#ifndef MINI_UTIL_H
#define MINI_UTIL_H
#include <stddef.h>

/* libutil.a: strings (strutil.c) and integer maths (mathutil.c) */
unsigned long util_hash(const char *s);
size_t util_reverse_words(char *s);
long util_gcd(long a, long b);
long util_primes_below(long n);

#endif
