/* Per-thread state: ./threads */
#include <pthread.h>
#include "probe.h"

#define NT 4
#define ITERS 200000

static __thread long my_calls;
static __thread long my_last_arg;
static long main_calls;

struct res {
    int idx, registered;
    long interval, calls, api_calls, count, last_arg;
};

static void thread_handler(long count) { my_calls++; my_last_arg = count; }
static void main_handler(long count) { (void)count; main_calls++; }

static void *worker(void *p) {
    struct res *r = (struct res *)p;
    if (r->registered)
        register_ci((int)r->interval, 0, thread_handler);
    for (long i = 0; i < ITERS; i++)
        PROBE(1);
    r->calls = my_calls;
    r->api_calls = ci_handler_calls();
    r->count = ci_instruction_count();
    r->last_arg = my_last_arg;
    return NULL;
}

int main(void) {
    register_ci(1000, 0, main_handler); /* not inherited by the threads */
    pthread_t t[NT + 1];
    struct res r[NT + 1];
    for (int i = 0; i <= NT; i++) {
        r[i] = (struct res){.idx = i, .registered = i < NT, .interval = 100 * (i + 1)};
        pthread_create(&t[i], NULL, worker, &r[i]);
    }
    for (int i = 0; i <= NT; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i <= NT; i++)
        printf("thread%d=%d,%ld,%ld,%ld,%ld,%ld\n", i, r[i].registered, r[i].interval, r[i].calls,
               r[i].api_calls, r[i].count, r[i].last_arg);
    for (long i = 0; i < 10000; i++)
        PROBE(1);
    printf("main_calls=%ld\n", main_calls);
    return 0;
}
