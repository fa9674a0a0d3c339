/* Disable/enable nesting, pending delivery and margin hooks: ./disable ir|cycles */
#include <string.h>
#include "probe.h"

static long calls, last_arg = -1;
static long dis_hooks, en_hooks, dis_arg = -1, en_arg = -1;

static void handler(long count) { calls++; last_arg = count; }
static void on_disable(long count) { dis_hooks++; dis_arg = count; }
static void on_enable(long count) {
    en_hooks++;
    en_arg = count;
    /* probes inside the hook must not deliver anything (still disabled) */
    for (int i = 0; i < 500; i++)
        PROBE(1);
}

int main(int argc, char **argv) {
    int cycles = argc > 1 && strcmp(argv[1], "cycles") == 0;
    register_ci_disable_hook(on_disable);
    register_ci_enable_hook(on_enable);
    if (cycles)
        register_ci(0, 20000, handler);
    else
        register_ci(100, 0, handler);

    ci_disable();
    ci_disable();
    if (cycles) {
        uint64_t t0 = now_ticks();
        while (now_ticks() - t0 < 2000000)
            for (int i = 0; i < 100; i++)
                PROBE(1);
    } else {
        for (int i = 0; i < 1000; i++)
            PROBE(1);
    }
    printf("calls_disabled=%ld\n", calls);
    ci_enable();
    printf("calls_inner_enable=%ld\n", calls);
    printf("hooks_after_inner=%ld,%ld\n", dis_hooks, en_hooks);
    long count_before_enable = ci_instruction_count();
    ci_enable();
    printf("calls_outer_enable=%ld\n", calls);
    printf("pending_arg=%ld\n", last_arg);
    printf("count_before_enable=%ld\n", count_before_enable);
    printf("dis_hooks=%ld\nen_hooks=%ld\ndis_arg=%ld\nen_arg=%ld\n", dis_hooks, en_hooks, dis_arg,
           en_arg);
    ci_enable(); /* unbalanced: ignored */
    printf("calls_extra_enable=%ld\n", calls);
    if (!cycles) {
        long c0 = calls;
        for (int i = 0; i < 1000; i++)
            PROBE(1);
        printf("calls_after=%ld\n", calls - c0);
    }
    printf("count=%ld\n", ci_instruction_count());
    return 0;
}
