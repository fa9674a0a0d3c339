/* A signal handler running instrumented code while the slow path / handler may be active. */
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include "probe.h"

static volatile int depth, max_depth;
static volatile long calls, signals;

static void handler(long count) {
    (void)count;
    depth++;
    if (depth > max_depth)
        max_depth = depth;
    calls++;
    for (int i = 0; i < 2000; i++)
        PROBE(1);
    depth--;
}

static void on_signal(int sig) {
    (void)sig;
    signals++;
    for (int i = 0; i < 200; i++)
        PROBE(1);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    register_ci(50, 0, handler);
    uint64_t t0 = now_ticks();
    while (now_ticks() - t0 < 300000000ull && signals < 300)
        for (int i = 0; i < 1000; i++)
            PROBE(1);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    deregister_ci();
    printf("calls=%ld\nsignals=%ld\nmax_depth=%d\n", calls, signals, max_depth);
    return 0;
}
