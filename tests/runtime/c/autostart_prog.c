/* Autostart: no register_ci here; ./autostart_prog DURATION_TICKS */
#include <pthread.h>
#include "probe.h"

static uint64_t duration;

static void spin(void) {
    volatile uint64_t x = 1;
    uint64_t t0 = now_ticks();
    for (;;) {
        for (int j = 0; j < 1000; j++) {
            PROBE(6);
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        }
        if (now_ticks() - t0 >= duration)
            break;
    }
}

static void *worker(void *p) {
    spin();
    if (p)
        pthread_exit(NULL); /* reporting must also work via pthread_exit */
    return NULL;
}

int main(int argc, char **argv) {
    duration = argc > 1 ? strtoull(argv[1], NULL, 0) : 50000000ull;
    pthread_t a, b;
    pthread_create(&a, NULL, worker, NULL);
    pthread_create(&b, NULL, worker, (void *)1);
    spin();
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("main_calls=%ld\n", ci_handler_calls());
    printf("main_count=%ld\n", ci_instruction_count());
    return 0;
}
