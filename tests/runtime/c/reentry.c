/* Handler re-entry and (de)registration from inside the handler: ./reentry nested|dereg|rereg */
#include <string.h>
#include "probe.h"

static int depth, max_depth;
static long calls_a, calls_b, args_b[16];
static const char *mode;

static void handler_b(long count) {
    if (calls_b < 16)
        args_b[calls_b] = count;
    calls_b++;
}

static void handler_a(long count) {
    (void)count;
    depth++;
    if (depth > max_depth)
        max_depth = depth;
    calls_a++;
    if (strcmp(mode, "nested") == 0) {
        /* the handler is instrumented code too */
        for (int i = 0; i < 5000; i++)
            PROBE(1);
        ci_disable();
        for (int i = 0; i < 500; i++)
            PROBE(1);
        ci_enable();
    } else if (strcmp(mode, "dereg") == 0) {
        if (calls_a == 3)
            deregister_ci();
        for (int i = 0; i < 500; i++)
            PROBE(1);
    } else if (strcmp(mode, "rereg") == 0) {
        register_ci(1000, 0, handler_b);
        for (int i = 0; i < 5000; i++)
            PROBE(1);
    }
    depth--;
}

int main(int argc, char **argv) {
    (void)argc;
    mode = argv[1];
    register_ci(100, 0, handler_a);
    for (long i = 0; i < 100000; i++)
        PROBE(1);
    printf("calls_a=%ld\ncalls_b=%ld\nmax_depth=%d\n", calls_a, calls_b, max_depth);
    printf("api_calls=%ld\n", ci_handler_calls());
    printf("budget_idle=%d\n", __ci_budget > ((int64_t)1 << 61));
    printf("args_b=");
    for (long i = 0; i < calls_b && i < 16; i++)
        printf("%s%ld", i ? "," : "", args_b[i]);
    printf("\ncount=%ld\n", ci_instruction_count());
    return 0;
}
