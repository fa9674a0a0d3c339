/*
 * deleg_bench.c -- one configuration of the delegation benchmark per process.
 *
 *   deleg_bench --variant V --struct S --threads T [--cs N] [--ms D | --ops N]
 *               [--interval CYCLES] [--size N] [--think K] [--seed S] [--yield-after CYCLES]
 *               [--sample N] [--pin|--pin-apart] [--timer ir|cycles] [--ir-interval N]
 *
 * Variants (T = threads the variant runs; "workers" do the benchmark's operations):
 *   mutex            T workers, a pthread mutex around each critical section
 *   spin             T workers, TTAS spinlock with exponential backoff
 *   mcs              T workers, MCS queue lock
 *   dedicated        T-1 workers + 1 server thread spinning on the request lines (FFWD): the
 *                    server reserves one of the T threads/cores (T >= 2)
 *   dedicated_extra  T workers + 1 extra server thread (FFWD's own convention: T+1 threads)
 *   ci               T workers; worker 0 hosts the server in its Compiler-Interrupt handler
 *                    (fires about every --interval TSC cycles, timed as --timer says: the
 *                    runtime's IR mode plus a TSC controller in the handler (default), or the
 *                    runtime's cycles mode) and runs its own operations directly
 *                    (deleg_local); workers 1..T-1 delegate to it
 *
 * Structures: ctr (counter array, fetch-and-add), hmap (hash map: half lookups, half adds),
 * pq (priority queue, push + pop-min pairs).  --cs is the critical-section size: elementary
 * operations per critical section.  Each worker loops: draw a random key (xorshift), do
 * --think steps of private work, then one critical section; one critical section in --sample
 * (a power of two, default 8) is timed with the TSC (reading it costs ~20 ns in this VM, as much
 * as a short critical section, so timing every one would flatten the differences).
 *
 * --pin pins thread k (the server thread of dedicated*, then the workers in order) to the k-th
 * allowed CPU modulo their number; --pin-apart does the same except that the thread that serves
 * (dedicated server, ci host) gets the first CPU to itself and the others share the rest.
 *
 * --ms D runs for D milliseconds; --ops N makes every worker do exactly N operations and then
 * replays all workers' operations sequentially on a private copy to check the final state
 * (counters / map contents element by element).  Every run also checks conservation laws
 * (sum of counters = sum of added deltas; hash-map value sum; priority queue multiset hash and
 * heap order).  Output: one JSON object on stdout; exit status 1 if a check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <ci_lib.h>

#include "deleg.h"
#include "ds.h"
#include "locks.h"

enum variant { V_MUTEX, V_SPIN, V_MCS, V_DEDICATED, V_DEDICATED_EXTRA, V_CI };
static const char *const variant_names[] = {"mutex", "spin", "mcs", "dedicated",
                                            "dedicated_extra", "ci"};
enum structure { S_CTR, S_HMAP, S_PQ };
static const char *const struct_names[] = {"ctr", "hmap", "pq"};

/* ---- latency histogram: log-linear, 32 sub-buckets per power of two (~3% resolution) ------- */
#define H_SUB 5
#define H_LIN 64
#define H_BUCKETS (H_LIN + (64 - 6) * (1 << H_SUB))

static inline int hbucket(uint64_t v) {
    if (v < H_LIN)
        return (int)v;
    int e = 63 - __builtin_clzll(v);
    return H_LIN + (e - 6) * (1 << H_SUB) + (int)((v >> (e - H_SUB)) & ((1 << H_SUB) - 1));
}

static inline uint64_t hbucket_lo(int b) {
    if (b < H_LIN)
        return (uint64_t)b;
    int e = 6 + (b - H_LIN) / (1 << H_SUB), sub = (b - H_LIN) % (1 << H_SUB);
    return (uint64_t)((1 << H_SUB) + sub) << (e - H_SUB);
}

static inline uint64_t hbucket_hi(int b) {
    if (b < H_LIN)
        return (uint64_t)b + 1;
    int e = 6 + (b - H_LIN) / (1 << H_SUB), sub = (b - H_LIN) % (1 << H_SUB);
    return (uint64_t)((1 << H_SUB) + sub + 1) << (e - H_SUB);
}

/* ---- configuration and shared state -------------------------------------------------------- */

static enum variant variant = V_MUTEX;
static enum structure structure = S_CTR;
static int threads = 1, nworkers, nclients;
static uint64_t cs = 1, duration_ms = 200, nops = 0, size = 4096, think = 0, seed = 1;
static int interval = 2000;
static int timer_mode = DELEG_TIMER_IR; /* --timer ir|cycles: see deleg_host_ci_mode() */
static int ir_interval = 0; /* --ir-interval N: fixed IR interval, no controller (experiments) */
static int final_ir;        /* the host's IR interval at the end */
static uint64_t yield_after = 10000;
static int pin = 0; /* 1 (--pin): thread k of the run (server thread first) on CPU k mod ncpu;
                       2 (--pin-apart): the same, but a server/CI host alone on the first CPU */
static uint64_t sample_mask = 8; /* --sample N, then N - 1: time operation i if !(i & mask) */

static struct ctr_array ctr;
static struct hmap hmap;
static struct pqueue pq;
static deleg_fn ds_fn;
static void *ds_ctx;
static uint64_t pq_prefill_hash;

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static struct spinlock spin;
static struct mcs_lock mcs;
static struct deleg_server server;

static int ready, go, stop, server_stop, clients_done;

struct worker {
    int id;
    int role; /* 0: lock user, 1: delegating client, 2: CI host (local operations) */
    pthread_t th;
    uint64_t ops;
    uint64_t tally;      /* ctr: sum of deltas added; hmap: sum of deltas; pq: sum ds_mix(pushed) */
    uint64_t ret_tally;  /* pq: sum of returned ds_mix(popped) */
    uint64_t sink;
    uint64_t parks;      /* delegating clients: times parked waiting for an answer */
    long ci_calls;
    struct mcs_node node;
    struct deleg_client client;
    uint64_t *hist;
} __attribute__((aligned(64)));

static struct worker *workers;

static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static inline uint64_t rng_seed(int id) {
    uint64_t s = ds_mix(seed * DS_GOLDEN + (uint64_t)id + 1);
    return s ? s : 1;
}

/* The third argument of an operation drawn with random value x. */
static inline uint64_t op_arg2(uint64_t x) {
    switch (structure) {
    case S_CTR:
        return 1 + (x >> 61);
    case S_HMAP:
        return (x >> 63) ? 0 : 1 + ((x >> 58) & 7);
    default:
        return 0;
    }
}

/* What the worker adds to its tally for one operation (before running it). */
static inline uint64_t op_tally(uint64_t key, uint64_t a2) {
    if (structure == S_PQ) {
        uint64_t t = 0;
        for (uint64_t j = 0; j < cs; j++)
            t += ds_mix(pq_value(key, j));
        return t;
    }
    return a2 * cs;
}

static inline uint64_t run_op(struct worker *w, uint64_t a0, uint64_t a2) {
    uint64_t r;
    switch (variant) {
    case V_MUTEX:
        pthread_mutex_lock(&mutex);
        r = ds_fn(ds_ctx, a0, cs, a2);
        pthread_mutex_unlock(&mutex);
        return r;
    case V_SPIN:
        spin_lock(&spin, yield_after);
        r = ds_fn(ds_ctx, a0, cs, a2);
        spin_unlock(&spin);
        return r;
    case V_MCS:
        mcs_acquire(&mcs, &w->node, yield_after);
        r = ds_fn(ds_ctx, a0, cs, a2);
        mcs_release(&mcs, &w->node);
        return r;
    default:
        if (w->role == 2)
            return deleg_local(&server, ds_fn, ds_ctx, a0, cs, a2);
        return deleg_call(&w->client, ds_fn, ds_ctx, a0, cs, a2);
    }
}

static void pin_self(int k) {
    if (!pin)
        return;
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all) != 0)
        return;
    int n = CPU_COUNT(&all), seen = 0, slot = k % n;
    /* --pin-apart: a server or CI host (thread 0) keeps its CPU to itself */
    if (pin == 2 && n > 1 && (variant == V_CI || variant == V_DEDICATED ||
                              variant == V_DEDICATED_EXTRA))
        slot = k == 0 ? 0 : 1 + (k - 1) % (n - 1);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &all) && seen++ == slot) {
            CPU_ZERO(&one);
            CPU_SET(c, &one);
            sched_setaffinity(0, sizeof one, &one);
            return;
        }
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    pin_self(w->id + (variant == V_DEDICATED || variant == V_DEDICATED_EXTRA));
    if (w->role == 2) {
        deleg_host_ci_mode(&server, interval, timer_mode);
        if (ir_interval > 0)
            register_ci(ir_interval, 0, deleg_ci_handler); /* fixed IR interval (experiments) */
    }
    uint64_t rng = rng_seed(w->id);
    uint64_t *hist = w->hist;
    __atomic_add_fetch(&ready, 1, __ATOMIC_ACQ_REL);
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
        deleg_relax();

    const uint64_t limit = nops ? nops : UINT64_MAX;
    uint64_t i = 0, tally = 0, ret_tally = 0, sink = w->sink;
    for (; i < limit; i++) {
        if (!nops && __atomic_load_n(&stop, __ATOMIC_RELAXED))
            break;
        uint64_t x = rng_next(&rng);
        uint64_t a2 = op_arg2(x);
        for (uint64_t k = 0; k < think; k++)
            sink = sink * 6364136223846793005ull + x;
        tally += op_tally(x, a2);
        uint64_t r;
        if ((i & sample_mask) == 0) {
            uint64_t t0 = deleg_now();
            r = run_op(w, x, a2);
            uint64_t t1 = deleg_now();
            hist[hbucket(t1 - t0)]++;
        } else {
            r = run_op(w, x, a2);
        }
        ret_tally += r;
    }
    w->ops = i;
    w->tally = tally;
    w->ret_tally = ret_tally;
    w->sink = sink;
    if (w->role == 1) {
        w->parks = w->client.parks;
        __atomic_add_fetch(&clients_done, 1, __ATOMIC_ACQ_REL);
    } else if (w->role == 2) {
        /* keep serving until every client has had its last answer */
        while (__atomic_load_n(&clients_done, __ATOMIC_ACQUIRE) < nclients) {
            if (!deleg_poll())
                deleg_relax();
        }
        w->ci_calls = ci_handler_calls();
        final_ir = deleg_ci_ir_interval();
        deleg_unhost(&server);
    }
    return NULL;
}

static void *server_main(void *arg) {
    (void)arg;
    pin_self(0);
    deleg_server_loop(&server, &server_stop);
    return NULL;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int parse_enum(const char *s, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static void usage(void) {
    fprintf(stderr,
            "usage: deleg_bench --variant mutex|spin|mcs|dedicated|dedicated_extra|ci "
            "--struct ctr|hmap|pq --threads T [--cs N] [--ms D | --ops N] [--interval CYCLES] "
            "[--size N] [--think K] [--seed S] [--yield-after CYCLES] [--sample 2^k] [--pin|--pin-apart] [--timer ir|cycles]\n");
    exit(2);
}

/* ---- checks ----------------------------------------------------------------------------- */

static char check_msg[256] = "ok";
static uint64_t state_hash;

static void fail(const char *fmt, uint64_t a, uint64_t b) {
    if (!strcmp(check_msg, "ok"))
        snprintf(check_msg, sizeof check_msg, fmt, a, b);
}

static void check_state(void) {
    uint64_t tally = 0, ret_tally = 0;
    for (int i = 0; i < nworkers; i++) {
        tally += workers[i].tally;
        ret_tally += workers[i].ret_tally;
    }
    uint64_t h = 0;
    if (structure == S_CTR) {
        uint64_t sum = 0;
        for (uint64_t i = 0; i <= ctr.mask; i++) {
            sum += ctr.v[i];
            h = ds_mix(h ^ (ctr.v[i] + i * DS_GOLDEN));
        }
        if (sum != tally)
            fail("counter sum %" PRIu64 " != added %" PRIu64, sum, tally);
    } else if (structure == S_HMAP) {
        uint64_t sum = 0, n = 0;
        for (uint64_t k = 0; k <= hmap.keymask; k++) {
            struct hmap_slot *s = hmap_find(&hmap, k);
            if (s->key) {
                sum += s->val;
                n++;
            }
            h = ds_mix(h ^ (hmap_get(&hmap, k) + k * DS_GOLDEN));
        }
        if (sum != tally)
            fail("map value sum %" PRIu64 " != added %" PRIu64, sum, tally);
        if (n != hmap.count)
            fail("map holds %" PRIu64 " keys but counted %" PRIu64, n, hmap.count);
    } else {
        uint64_t rest = 0, prev = 0, n = pq.size;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t v = pq_pop(&pq);
            if (v < prev)
                fail("heap order: %" PRIu64 " after %" PRIu64, v, prev);
            prev = v;
            rest += ds_mix(v);
        }
        if (pq_prefill_hash + tally != ret_tally + rest)
            fail("multiset hash in %" PRIu64 " != out %" PRIu64, pq_prefill_hash + tally,
                 ret_tally + rest);
        if (n != size)
            fail("queue size %" PRIu64 " != %" PRIu64, n, size);
        h = prev; /* nondeterministic anyway */
    }
    state_hash = h;

    if (!nops || structure == S_PQ)
        return;
    /* --ops: replay every worker's operations sequentially and compare element by element */
    if (structure == S_CTR) {
        struct ctr_array ref;
        if (ctr_init(&ref, size) != 0)
            return;
        for (int w = 0; w < nworkers; w++) {
            uint64_t rng = rng_seed(w);
            for (uint64_t i = 0; i < nops; i++) {
                uint64_t x = rng_next(&rng);
                ctr_apply(&ref, x, cs, op_arg2(x));
            }
        }
        for (uint64_t i = 0; i < size; i++)
            if (ref.v[i] != ctr.v[i]) {
                fail("counter %" PRIu64 " differs from the sequential replay (%" PRIu64 ")", i,
                     ref.v[i]);
                break;
            }
        free(ref.v);
    } else {
        struct hmap ref;
        if (hmap_init(&ref, size) != 0)
            return;
        for (int w = 0; w < nworkers; w++) {
            uint64_t rng = rng_seed(w);
            for (uint64_t i = 0; i < nops; i++) {
                uint64_t x = rng_next(&rng);
                hmap_apply(&ref, x, cs, op_arg2(x));
            }
        }
        if (ref.count != hmap.count)
            fail("map has %" PRIu64 " keys, the sequential replay %" PRIu64, hmap.count,
                 ref.count);
        for (uint64_t k = 0; k < size; k++) {
            struct hmap_slot *a = hmap_find(&ref, k), *b = hmap_find(&hmap, k);
            if (!a->key != !b->key || (a->key && a->val != b->val)) {
                fail("key %" PRIu64 " differs from the sequential replay (%" PRIu64 ")", k,
                     a->val);
                break;
            }
        }
        free(ref.slot);
    }
}

/* ---- output ------------------------------------------------------------------------------ */

static void print_hist(const char *name, int role_lo, int role_hi) {
    printf("\"%s\": [", name);
    int first = 1;
    for (int b = 0; b < H_BUCKETS; b++) {
        uint64_t n = 0;
        for (int i = 0; i < nworkers; i++)
            if (workers[i].role >= role_lo && workers[i].role <= role_hi)
                n += workers[i].hist[b];
        if (n) {
            printf("%s[%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", first ? "" : ", ", hbucket_lo(b),
                   hbucket_hi(b), n);
            first = 0;
        }
    }
    printf("]");
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"variant", 1, 0, 'v'}, {"struct", 1, 0, 's'},  {"threads", 1, 0, 't'},
        {"cs", 1, 0, 'c'},      {"ms", 1, 0, 'm'},      {"ops", 1, 0, 'o'},
        {"interval", 1, 0, 'i'}, {"size", 1, 0, 'n'},   {"think", 1, 0, 'k'},
        {"seed", 1, 0, 'r'},    {"yield-after", 1, 0, 'y'}, {"sample", 1, 0, 'S'},
        {"pin", 0, 0, 'P'},     {"pin-apart", 0, 0, 'A'},     {"ir-interval", 1, 0, 'I'},
        {"timer", 1, 0, 'T'},   {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            if ((c = parse_enum(optarg, variant_names, 6)) < 0)
                usage();
            variant = (enum variant)c;
            break;
        case 's':
            if ((c = parse_enum(optarg, struct_names, 3)) < 0)
                usage();
            structure = (enum structure)c;
            break;
        case 't': threads = atoi(optarg); break;
        case 'c': cs = strtoull(optarg, NULL, 0); break;
        case 'm': duration_ms = strtoull(optarg, NULL, 0); break;
        case 'o': nops = strtoull(optarg, NULL, 0); break;
        case 'i': interval = atoi(optarg); break;
        case 'n': size = strtoull(optarg, NULL, 0); break;
        case 'k': think = strtoull(optarg, NULL, 0); break;
        case 'r': seed = strtoull(optarg, NULL, 0); break;
        case 'y': yield_after = strtoull(optarg, NULL, 0); break;
        case 'P': pin = 1; break;
        case 'A': pin = 2; break;
        case 'I': ir_interval = atoi(optarg); break;
        case 'T':
            if (!strcmp(optarg, "ir"))
                timer_mode = DELEG_TIMER_IR;
            else if (!strcmp(optarg, "cycles"))
                timer_mode = DELEG_TIMER_CYCLES;
            else
                usage();
            break;
        case 'S': sample_mask = strtoull(optarg, NULL, 0); break;
        default: usage();
        }
    }
    if (sample_mask < 1 || (sample_mask & (sample_mask - 1)))
        usage();
    sample_mask -= 1;
    if (optind != argc || threads < 1 || threads > 64 || cs < 1 || interval < 1 || size < 2 ||
        (size & (size - 1)))
        usage();
    if (variant == V_DEDICATED && threads < 2) {
        fprintf(stderr, "deleg_bench: dedicated needs --threads >= 2 (a server and a client)\n");
        return 2;
    }

    switch (structure) {
    case S_CTR:
        if (ctr_init(&ctr, size))
            return 2;
        ds_fn = ctr_apply;
        ds_ctx = &ctr;
        break;
    case S_HMAP:
        if (hmap_init(&hmap, size))
            return 2;
        ds_fn = hmap_apply;
        ds_ctx = &hmap;
        break;
    case S_PQ:
        if (pq_init(&pq, size + 1))
            return 2;
        for (uint64_t i = 0; i < size; i++) {
            uint64_t v = pq_value(seed * 7919 + 12345, i);
            pq_push(&pq, v);
            pq_prefill_hash += ds_mix(v);
        }
        ds_fn = pq_apply;
        ds_ctx = &pq;
        break;
    }

    int has_server = variant == V_DEDICATED || variant == V_DEDICATED_EXTRA;
    nworkers = variant == V_DEDICATED ? threads - 1 : threads;
    nclients = variant == V_CI ? nworkers - 1 : has_server ? nworkers : 0;
    if ((variant == V_CI || has_server) && deleg_init(&server, nclients) != 0) {
        fprintf(stderr, "deleg_bench: cannot allocate the delegation server\n");
        return 2;
    }
    server.yield_after = yield_after;

    if (posix_memalign((void **)&workers, 64, (size_t)nworkers * sizeof *workers))
        return 2;
    memset(workers, 0, (size_t)nworkers * sizeof *workers);
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        w->id = i;
        w->hist = calloc(H_BUCKETS, sizeof(uint64_t));
        if (!w->hist)
            return 2;
        if (variant == V_CI)
            w->role = i == 0 ? 2 : 1;
        else
            w->role = has_server ? 1 : 0;
        if (w->role == 1)
            deleg_client_init(&w->client, &server, variant == V_CI ? i - 1 : i);
    }

    pthread_t server_th;
    if (has_server && pthread_create(&server_th, NULL, server_main, NULL)) {
        perror("pthread_create");
        return 2;
    }
    for (int i = 0; i < nworkers; i++)
        if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i])) {
            perror("pthread_create");
            return 2;
        }
    while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < nworkers)
        sched_yield();

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t ns0 = now_ns(), tsc0 = deleg_now();
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    uint64_t ns1, tsc1;
    if (!nops) {
        struct timespec ts = {(time_t)(duration_ms / 1000), (long)(duration_ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
            ;
        ns1 = now_ns();
        tsc1 = deleg_now();
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    }
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i].th, NULL);
    if (nops) {
        ns1 = now_ns();
        tsc1 = deleg_now();
    }
    __atomic_store_n(&server_stop, 1, __ATOMIC_RELEASE);
    if (has_server)
        pthread_join(server_th, NULL);
    getrusage(RUSAGE_SELF, &ru1);

    check_state();

    double secs = (double)(ns1 - ns0) / 1e9;
    double tsc_hz = (double)(tsc1 - tsc0) / secs;
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    uint64_t total = 0;
    for (int i = 0; i < nworkers; i++)
        total += workers[i].ops;

    printf("{\"variant\": \"%s\", \"struct\": \"%s\", \"threads\": %d, \"workers\": %d, "
           "\"server_threads\": %d, \"cs\": %" PRIu64 ", \"size\": %" PRIu64
           ", \"think\": %" PRIu64 ", \"sample\": %" PRIu64 ", \"interval\": %d, \"seconds\": %.6f, \"tsc_hz\": %.0f, "
           "\"cpu_seconds\": %.4f, \"total_ops\": %" PRIu64 ", \"mops\": %.4f, \"ops\": [",
           variant_names[variant], struct_names[structure], threads, nworkers, has_server, cs,
           size, think, sample_mask + 1, variant == V_CI ? interval : 0, secs, tsc_hz, cpu, total,
           (double)total / secs / 1e6);
    for (int i = 0; i < nworkers; i++)
        printf("%s%" PRIu64, i ? ", " : "", workers[i].ops);
    printf("], \"roles\": [");
    for (int i = 0; i < nworkers; i++)
        printf("%s\"%s\"", i ? ", " : "",
               workers[i].role == 2 ? "host" : workers[i].role == 1 ? "client" : "lock");
    printf("], \"parks\": [");
    for (int i = 0; i < nworkers; i++)
        printf("%s%" PRIu64, i ? ", " : "", workers[i].parks);
    printf("], ");
    if (variant == V_CI || has_server) {
        printf("\"server\": {\"served\": %" PRIu64 ", \"passes\": %" PRIu64
               ", \"batches\": %" PRIu64 ", \"handler_calls\": %" PRIu64
               ", \"handler_deferred\": %" PRIu64 ", \"wakes\": %" PRIu64
               ", \"ci_handler_calls\": %ld, \"timer\": \"%s\", \"ir_interval\": %d}, ",
               server.stats.served, server.stats.passes, server.stats.batches,
               server.stats.handler_calls, server.stats.handler_deferred, server.stats.wakes,
               variant == V_CI ? workers[0].ci_calls : 0L,
               ir_interval > 0 ? "fixed-ir" : timer_mode == DELEG_TIMER_IR ? "ir" : "cycles",
               ir_interval > 0 ? ir_interval : final_ir);
    }
    print_hist("hist_client", 0, 1);
    printf(", ");
    print_hist("hist_all", 0, 2);
    printf(", \"state_hash\": \"%016" PRIx64 "\", \"check\": \"%s\"}\n", state_hash, check_msg);
    return strcmp(check_msg, "ok") ? 1 : 0;
}
