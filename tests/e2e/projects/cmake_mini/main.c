/* cmake_mini: results on stdout; with ci-cc (weak runtime symbols resolved) the handler
 * statistics go to stderr. */
#include <stdio.h>

#include "stats.h"

extern void register_ci(int ir_interval, int cycles_interval, void (*handler)(long))
    __attribute__((weak));
extern long ci_handler_calls(void) __attribute__((weak));
extern void deregister_ci(void) __attribute__((weak));

static long ticks;
static void on_tick(long count) {
    (void)count;
    ticks++;
}

int main(void) {
    if (register_ci)
        register_ci(1000, 0, on_tick);
    static double x[3000];
    unsigned s = 12345;
    for (int i = 0; i < 3000; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (double)(s >> 8) / (double)(1u << 24);
    }
    stats_sort(x, 3000);
    printf("mean=%.9f stddev=%.9f median=%.9f\n", stats_mean(x, 3000), stats_stddev(x, 3000),
           x[1500]);
    if (register_ci) {
        deregister_ci(); /* no handler call between the two counts below */
        fprintf(stderr, "stat ci=present ticks=%ld rt_calls=%ld\n", ticks, ci_handler_calls());
    } else {
        fprintf(stderr, "stat ci=absent\n");
    }
    return 0;
}
