/* An "instrumented" shared object: its probes use the same per-thread budget. */
#include "probe.h"

void lib_work(long iters) {
    for (long i = 0; i < iters; i++)
        PROBE(1);
}
