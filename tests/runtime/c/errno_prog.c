/* errno is preserved across the slow path even if the handler clobbers it. */
#include <errno.h>
#include "probe.h"

static long calls;
static void handler(long count) { (void)count; calls++; errno = EIO; }

int main(void) {
    register_ci(10, 0, handler);
    long bad = 0;
    for (int i = 0; i < 10000; i++) {
        errno = 4242;
        PROBE(3);
        if (errno != 4242)
            bad++;
    }
    /* cycles mode too (reads the clock in the slow path) */
    register_ci(0, 5000, handler);
    for (int i = 0; i < 200000; i++) {
        errno = 4343;
        PROBE(3);
        if (errno != 4343)
            bad++;
    }
    printf("calls=%ld\nbad=%ld\n", calls, bad);
    return 0;
}
