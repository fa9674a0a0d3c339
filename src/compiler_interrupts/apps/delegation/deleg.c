/*
 * deleg.c -- the delegation library (see deleg.h for the protocol).
 *
 * Built with ci-cc like the rest of the application: the server pass itself contains probes,
 * but a CI handler is never re-entered, so a pass started from the handler runs to the end.
 */
#define _GNU_SOURCE
#include "deleg.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <ci_lib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
uint64_t deleg_now(void) { return __rdtsc(); }
#else
uint64_t deleg_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

#define FENCE() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Sleep while *word == val (or return at once); wake one sleeper on word. */
static void park_wait(int *word, int val) {
#ifdef __linux__
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    (void)word;
    (void)val;
    sched_yield();
#endif
}

static void park_wake(int *word) {
#ifdef __linux__
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)word;
#endif
}

/* Servers hosted by this thread, and the deferral state of deleg_local(). */
static __thread struct deleg_server *tls_hosted[DELEG_MAX_HOSTED];
static __thread int tls_nhosted;
__thread int deleg_tls_busy __attribute__((tls_model("initial-exec")));
__thread int deleg_tls_deferred __attribute__((tls_model("initial-exec")));
#define tls_busy deleg_tls_busy
#define tls_deferred deleg_tls_deferred
static __thread int tls_ci_registered;

/* Timing of the CI handler (see deleg_host_ci_mode).  IR mode with a controller: every
 * DELEG_CAL_CALLS handler calls, one clock read measures the average period and scales the IR
 * interval towards the target. */
#define DELEG_CAL_CALLS 32
static __thread int tls_target;    /* target period, TSC cycles */
static __thread int tls_ir;        /* current IR interval; 0: runtime cycles mode */
static __thread unsigned tls_cal_calls;
static __thread uint64_t tls_cal_t0;

static void *alloc_lines(size_t n, size_t size) {
    void *p = NULL;
    if (posix_memalign(&p, DELEG_LINE, n * size) != 0)
        return NULL;
    memset(p, 0, n * size);
    return p;
}

int deleg_init(struct deleg_server *s, int nclients) {
    memset(s, 0, sizeof *s);
    if (nclients < 0 || nclients > DELEG_MAX_CLIENTS)
        return -1;
    s->nclients = nclients;
    s->ngroups = (nclients + DELEG_GROUP - 1) / DELEG_GROUP;
    int nreq = nclients > 0 ? nclients : 1, ngrp = s->ngroups > 0 ? s->ngroups : 1;
    s->req = alloc_lines((size_t)nreq, sizeof(struct deleg_request));
    s->resp = alloc_lines((size_t)ngrp, sizeof(struct deleg_response));
    s->answered = alloc_lines((size_t)ngrp, sizeof(uint64_t));
    if (!s->req || !s->resp || !s->answered) {
        deleg_destroy(s);
        return -1;
    }
    s->yield_after = 10000; /* ~4 us at 2.6 GHz */
    s->idle_yield = 4096;
    return 0;
}

void deleg_destroy(struct deleg_server *s) {
    free(s->req);
    free(s->resp);
    free(s->answered);
    s->req = NULL;
    s->resp = NULL;
    s->answered = NULL;
}

void deleg_client_init(struct deleg_client *c, struct deleg_server *s, int id) {
    memset(c, 0, sizeof *c);
    c->s = s;
    c->req = &s->req[id];
    c->resp = &s->resp[id / DELEG_GROUP];
    c->slot = id % DELEG_GROUP;
    c->bit = (uint64_t)1 << c->slot;
    c->toggle = __atomic_load_n(&c->req->toggle, __ATOMIC_RELAXED) & 1;
}

uint64_t deleg_call(struct deleg_client *c, deleg_fn fn, void *ctx, uint64_t a0, uint64_t a1,
                    uint64_t a2) {
    struct deleg_request *r = c->req;
    r->fn = fn;
    r->ctx = ctx;
    r->arg[0] = a0;
    r->arg[1] = a1;
    r->arg[2] = a2;
    c->toggle ^= 1;
    __atomic_store_n(&r->toggle, c->toggle, __ATOMIC_RELEASE);

    const uint64_t want = c->toggle ? c->bit : 0;
    const uint64_t *tw = &c->resp->toggles;
    if ((__atomic_load_n(tw, __ATOMIC_ACQUIRE) & c->bit) != want) {
        uint64_t start = deleg_now(), limit = c->s->yield_after;
        unsigned n = 0;
        while ((__atomic_load_n(tw, __ATOMIC_ACQUIRE) & c->bit) != want) {
            deleg_relax();
            if ((++n & 31) != 0 || deleg_now() - start <= limit)
                continue;
            /* park: announce, re-check (the server stores the toggles before it looks at
             * park, both seq_cst: one of us sees the other), then sleep */
            __atomic_store_n(&r->park, 1, __ATOMIC_SEQ_CST);
            if ((__atomic_load_n(tw, __ATOMIC_SEQ_CST) & c->bit) == want) {
                __atomic_store_n(&r->park, 0, __ATOMIC_RELAXED);
                break;
            }
            c->parks++;
            park_wait(&r->park, 1);
        }
    }
    return c->resp->ret[c->slot];
}

int deleg_serve(struct deleg_server *s) {
    int served = 0;
    for (int g = 0; g < s->ngroups; g++) {
        const uint64_t old = s->answered[g];
        uint64_t now = old;
        uint64_t ret[DELEG_GROUP];
        int base = g * DELEG_GROUP;
        int n = s->nclients - base < DELEG_GROUP ? s->nclients - base : DELEG_GROUP;
        for (int i = 0; i < n; i++) {
            struct deleg_request *r = &s->req[base + i];
            uint64_t t = __atomic_load_n(&r->toggle, __ATOMIC_ACQUIRE) & 1;
            if (t != ((old >> i) & 1)) {
                ret[i] = r->fn(r->ctx, r->arg[0], r->arg[1], r->arg[2]);
                now ^= (uint64_t)1 << i;
            }
        }
        if (now != old) {
            struct deleg_response *rp = &s->resp[g];
            uint64_t changed = now ^ old;
            for (int i = 0; i < n; i++)
                if (changed & ((uint64_t)1 << i)) {
                    rp->ret[i] = ret[i];
                    served++;
                }
            __atomic_store_n(&rp->toggles, now, __ATOMIC_SEQ_CST);
            s->answered[g] = now;
            for (int i = 0; i < n; i++) {
                int *pk = &s->req[base + i].park;
                if ((changed & ((uint64_t)1 << i)) && __atomic_load_n(pk, __ATOMIC_SEQ_CST) &&
                    __atomic_exchange_n(pk, 0, __ATOMIC_SEQ_CST)) {
                    park_wake(pk);
                    s->stats.wakes++;
                }
            }
        }
    }
    s->stats.passes++;
    if (served) {
        s->stats.batches++;
        s->stats.served += (uint64_t)served;
    }
    return served;
}

void deleg_host(struct deleg_server *s) {
    for (int i = 0; i < tls_nhosted; i++)
        if (tls_hosted[i] == s)
            return; /* already ours */
    if (tls_nhosted >= DELEG_MAX_HOSTED)
        abort();
    /* Become the host once the previous one let go; the answered toggles (s->answered) and
     * the statistics are handed over by the acquire here and the release in deleg_unhost. */
    int expected = 0;
    while (!__atomic_compare_exchange_n(&s->host, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
        expected = 0;
        deleg_relax();
    }
    FENCE();
    tls_hosted[tls_nhosted++] = s; /* visible to this thread's handler only now */
}

void deleg_host_ci_mode(struct deleg_server *s, int cycles, int mode) {
    deleg_host(s);
    if (tls_ci_registered)
        return;
    tls_target = cycles > 0 ? cycles : 1;
    if (mode == DELEG_TIMER_CYCLES) {
        tls_ir = 0;
        register_ci(0, tls_target, deleg_ci_handler);
    } else {
        tls_ir = tls_target / 4 > 16 ? tls_target / 4 : 16; /* first guess: 4 cycles/instr */
        tls_cal_calls = 0;
        tls_cal_t0 = deleg_now();
        register_ci(tls_ir, 0, deleg_ci_handler);
    }
    tls_ci_registered = 1;
}

void deleg_host_ci(struct deleg_server *s, int cycles) {
    deleg_host_ci_mode(s, cycles, DELEG_TIMER_IR);
}

int deleg_ci_ir_interval(void) { return tls_ir; }

/* IR-mode controller: called at every handler entry. */
static void retune(void) {
    if (++tls_cal_calls < DELEG_CAL_CALLS)
        return;
    uint64_t now = deleg_now();
    double period = (double)(now - tls_cal_t0) / DELEG_CAL_CALLS;
    tls_cal_calls = 0;
    tls_cal_t0 = now;
    if (period > 8.0 * tls_target)
        return; /* preempted (or a long uninstrumented call) in the window: no information */
    double want = (double)tls_ir * tls_target / period;
    if (want > 2.0 * tls_ir)
        want = 2.0 * tls_ir;
    if (want < 0.5 * tls_ir)
        want = 0.5 * tls_ir;
    if (want < 16)
        want = 16;
    if (want > (double)(1 << 30))
        want = (double)(1 << 30);
    int ir = (int)want;
    if (ir - tls_ir > tls_ir / 16 || tls_ir - ir > tls_ir / 16) {
        tls_ir = ir;
        register_ci(ir, 0, deleg_ci_handler); /* allowed inside the handler */
    }
}

void deleg_unhost(struct deleg_server *s) {
    for (int i = 0; i < tls_nhosted; i++)
        if (tls_hosted[i] == s) {
            tls_hosted[i] = tls_hosted[--tls_nhosted];
            FENCE();
            __atomic_store_n(&s->host, 0, __ATOMIC_RELEASE);
            break;
        }
    if (tls_nhosted == 0 && tls_ci_registered) {
        deregister_ci();
        tls_ci_registered = 0;
        tls_ir = 0;
    }
}

/* Serve every server hosted by this thread; the caller has set tls_busy. */
static int serve_hosted(void) {
    int served = 0;
    for (int i = 0; i < tls_nhosted; i++)
        served += deleg_serve(tls_hosted[i]);
    return served;
}

void deleg_ci_handler(long ic) {
    (void)ic;
    if (tls_nhosted == 0)
        return;
    if (tls_ir)
        retune();
    for (int i = 0; i < tls_nhosted; i++)
        tls_hosted[i]->stats.handler_calls++;
    if (tls_busy) { /* inside deleg_local()/deleg_poll(): serve at its end */
        tls_deferred = 1;
        return;
    }
    tls_busy = 1;
    FENCE();
    serve_hosted();
    FENCE();
    tls_busy = 0;
}

void deleg_run_deferred(struct deleg_server *s) {
    tls_deferred = 0;
    s->stats.handler_deferred++;
    FENCE();
    serve_hosted();
    FENCE();
}

int deleg_poll(void) {
    tls_busy = 1;
    FENCE();
    int n = serve_hosted();
    FENCE();
    tls_deferred = 0;
    tls_busy = 0;
    return n;
}

void deleg_server_loop(struct deleg_server *s, const int *stop) {
    deleg_host(s);
    uint64_t idle = 0;
    while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
        if (deleg_serve(s)) {
            idle = 0;
        } else if (++idle >= s->idle_yield) {
            sched_yield();
            idle = 0;
        } else {
            deleg_relax();
        }
    }
    deleg_unhost(s);
}
