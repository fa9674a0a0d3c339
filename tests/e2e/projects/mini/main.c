/* mini: uses libutil.a and libshape.so.  Built with ci-cc it also registers a Compiler
 * Interrupts handler (the runtime's functions are declared weak, so the very same source builds
 * and runs with a plain compiler).  Results go to stdout, handler statistics to stderr. */
#include <stdio.h>
#include <string.h>

#include "shape.h"
#include "util.h"

extern void register_ci(int ir_interval, int cycles_interval, void (*handler)(long))
    __attribute__((weak));
extern long ci_handler_calls(void) __attribute__((weak));

static long ticks;
static void on_tick(long count) {
    (void)count;
    ticks++;
}

static long calls_now(void) { return ci_handler_calls ? ci_handler_calls() : 0; }

int main(void) {
    if (register_ci)
        register_ci(500, 0, on_tick);

    long c0 = calls_now();
    unsigned long h = 0;
    size_t words = 0;
    char line[128];
    for (int i = 0; i < 2000; i++) {
        snprintf(line, sizeof line, "the quick brown fox %d jumps over the lazy dog %d", i, i * 7);
        words += util_reverse_words(line);
        h ^= util_hash(line) + (unsigned long)i;
    }
    long g = 0;
    for (long a = 1; a < 300; a++)
        for (long b = 1; b < 100; b++)
            g += util_gcd(a * 12, b * 18);
    long primes = util_primes_below(200000);
    long in_util = calls_now() - c0;

    long c1 = calls_now();
    struct point star[64];
    double area = 0, perim = 0;
    for (int rep = 0; rep < 3000; rep++) {
        int n = shape_make_star(star, 3 + rep % 29, 1.0 + rep % 5, 3.0 + rep % 7);
        area += shape_area(star, n);
        perim += shape_perimeter(star, n);
    }
    long in_shape = calls_now() - c1;

    printf("words=%zu hash=%lu gcd=%ld primes=%ld\n", words, h, g, primes);
    printf("area=%.6f perimeter=%.6f\n", area, perim);
    if (register_ci)
        fprintf(stderr, "stat ci=present ticks=%ld in_util=%ld in_shape=%ld\n", ticks, in_util,
                in_shape);
    else
        fprintf(stderr, "stat ci=absent\n");
    return 0;
}
