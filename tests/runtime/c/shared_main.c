/* Executable using libci_rt.so and an instrumented shared library. */
#include "probe.h"

void lib_work(long iters);
static long calls, last_arg;
static void handler(long count) { calls++; last_arg = count; }

int main(void) {
    register_ci(1000, 0, handler);
    for (long i = 0; i < 50000; i++) {
        PROBE(1);
        if (i % 10 == 0)
            lib_work(3);
    }
    printf("calls=%ld\nlast_arg=%ld\ncount=%ld\n", calls, last_arg, ci_instruction_count());
    return 0;
}
