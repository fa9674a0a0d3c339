/* IR mode: ./ir_mode INTERVAL ITERS COST [bad] */
#include <string.h>
#include "probe.h"

static long ncalls;
static long args[256];

static void handler(long count) {
    if (ncalls < 256)
        args[ncalls] = count;
    ncalls++;
}

int main(int argc, char **argv) {
    long interval = atol(argv[1]), iters = atol(argv[2]), cost = atol(argv[3]);
    int bad = argc > 4 && strcmp(argv[4], "bad") == 0;
    printf("budget_before=%lld\n", (long long)__ci_budget);
    if (bad)
        register_ci(0, 0, handler);
    else
        register_ci((int)interval, 0, handler);
    for (long i = 0; i < iters; i++)
        PROBE(cost);
    printf("calls=%ld\n", ncalls);
    printf("api_calls=%ld\n", ci_handler_calls());
    printf("count=%ld\n", ci_instruction_count());
    printf("args=");
    for (long i = 0; i < ncalls && i < 256; i++)
        printf("%s%ld", i ? "," : "", args[i]);
    printf("\n");
    deregister_ci();
    printf("budget_after_dereg=%lld\n", (long long)__ci_budget);
    long before = ncalls;
    for (long i = 0; i < iters; i++)
        PROBE(cost);
    printf("calls_after_dereg=%ld\n", ncalls - before);
    printf("count_end=%ld\n", ci_instruction_count());
    return 0;
}
