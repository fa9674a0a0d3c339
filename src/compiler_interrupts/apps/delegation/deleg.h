/*
 * deleg.h -- a small delegation library (FFWD-style message passing instead of locks).
 *
 * A *server* owns a data structure; other threads (*clients*) never touch it.  Instead a client
 * writes a request -- a function pointer, a context pointer and three 64-bit arguments -- into
 * its own cache line and waits for the answer.  The server polls the request lines, runs the
 * functions one after another (so they are critical sections without any lock) and answers in
 * batches: the return values of up to DELEG_GROUP clients share one response cache line, which
 * the server writes once per pass, return values first and the toggle word last.
 *
 * Protocol (per client, one request in flight):
 *   client: fill fn/ctx/arg; flip its toggle bit; store it (release) into request.toggle;
 *           wait until bit `slot` of its group's response.toggles equals the new toggle
 *           (acquire); read response.ret[slot].
 *   server: for each request whose toggle differs from the last one it answered: run it;
 *           store ret[slot] for every answered client of the group, then the group's toggle
 *           word (release).
 *
 * Who serves:
 *   deleg_server_loop()  a dedicated thread spinning on deleg_serve() (FFWD);
 *   deleg_host_ci()      the calling thread becomes the host and registers deleg_ci_handler()
 *                        as its Compiler-Interrupt handler: about every `cycles` TSC cycles of
 *                        its own work, the handler runs one serving pass.  The host executes its own
 *                        operations with deleg_local() (no message, no lock); a handler that
 *                        falls due inside deleg_local() is deferred to its end, so the host's
 *                        own critical section is never interleaved with a delegated one.
 *   deleg_ci_handler()   the entry point: serves pending requests of every server hosted by the
 *                        calling thread (none: returns at once).  Hosting can move between
 *                        threads (deleg_unhost() on one, deleg_host*() on the next).
 *
 * Waiting clients spin with `pause`; once a wait has lasted longer than `yield_after` TSC
 * cycles the client parks: it sets request.park and sleeps on it (futex), and the server wakes
 * it after answering.  Without that, a client sharing a core with the thread that hosts the
 * server (more threads than cores, or a busy machine) would burn the host's time slice.  A
 * dedicated server that found nothing to do in `idle_yield` consecutive passes yields once.
 */
#ifndef DELEG_H
#define DELEG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DELEG_LINE 64
#define DELEG_GROUP 7         /* clients per response line: 7 return values + 1 toggle word */
#define DELEG_MAX_CLIENTS 256
#define DELEG_MAX_HOSTED 4    /* servers one thread can host at once */

typedef uint64_t (*deleg_fn)(void *ctx, uint64_t a0, uint64_t a1, uint64_t a2);

struct deleg_request {
    uint64_t toggle; /* written last by the client (release) */
    deleg_fn fn;
    void *ctx;
    uint64_t arg[3];
    int park;        /* 1: the client sleeps on this word (futex) until answered */
    int pad0;
    uint64_t pad[1];
} __attribute__((aligned(DELEG_LINE)));

struct deleg_response {
    uint64_t ret[DELEG_GROUP];
    uint64_t toggles; /* bit i: toggle of the last answered request of client i of the group */
} __attribute__((aligned(DELEG_LINE)));

struct deleg_stats {
    uint64_t served;  /* requests executed */
    uint64_t passes;  /* deleg_serve() calls */
    uint64_t batches; /* passes that answered at least one request */
    uint64_t handler_calls;   /* deleg_ci_handler() calls on a hosting thread */
    uint64_t handler_deferred; /* ... that fell inside deleg_local() and ran at its end */
    uint64_t wakes;   /* parked clients woken */
};

struct deleg_server {
    int nclients;
    int ngroups;
    struct deleg_request *req;   /* nclients lines, written by clients */
    struct deleg_response *resp; /* ngroups lines, written by the server */
    uint64_t *answered;          /* per group: toggles last answered (server-private) */
    uint64_t yield_after;        /* TSC cycles of waiting before a client starts to yield */
    uint64_t idle_yield;         /* empty passes before a dedicated server yields once */
    int host;                    /* 1 while some thread hosts it (CI or dedicated) */
    /* server-private statistics, on their own line */
    struct deleg_stats stats __attribute__((aligned(DELEG_LINE)));
};

struct deleg_client {
    struct deleg_server *s;
    struct deleg_request *req;
    struct deleg_response *resp;
    uint64_t bit;    /* 1 << slot */
    uint64_t toggle; /* toggle of this client's last request (0 or 1) */
    int slot;
    uint64_t parks;  /* times this client went to sleep waiting for an answer */
};

/* Allocate the request/response lines for `nclients` clients.  0 on success. */
int deleg_init(struct deleg_server *s, int nclients);
void deleg_destroy(struct deleg_server *s);

/* Client `id` (0 <= id < nclients) of server `s`.  One thread per client handle. */
void deleg_client_init(struct deleg_client *c, struct deleg_server *s, int id);

/* Delegate fn(ctx, a0, a1, a2) to the server and wait for its return value. */
uint64_t deleg_call(struct deleg_client *c, deleg_fn fn, void *ctx, uint64_t a0, uint64_t a1,
                    uint64_t a2);

/* One serving pass over all clients; returns the number of requests answered.  Only the thread
 * that currently hosts `s` may call it, and not while it can be interrupted by its own CI
 * handler (use deleg_poll() there). */
int deleg_serve(struct deleg_server *s);

/* Dedicated server: host `s` on the calling thread and serve until *stop becomes nonzero. */
void deleg_server_loop(struct deleg_server *s, const int *stop);

/* Host `s` on the calling thread without registering anything (serve with deleg_poll() or
 * deleg_ci_handler()). */
void deleg_host(struct deleg_server *s);

/* Host `s` on the calling thread and register deleg_ci_handler() as its CI handler, aiming at
 * one call every `cycles` TSC cycles (start to start).  Two ways to time it:
 *   DELEG_TIMER_IR (default of deleg_host_ci): the runtime's IR mode (no clock read on the
 *     interrupt path); the handler reads the TSC once every 32 calls and rescales the IR
 *     interval so that the average period matches `cycles` (windows with a preemption are
 *     ignored);
 *   DELEG_TIMER_CYCLES: the runtime's cycles mode (two TSC reads per interrupt).
 * A thread registers once: hosting more servers reuses the first registration. */
enum { DELEG_TIMER_IR = 0, DELEG_TIMER_CYCLES = 1 };
void deleg_host_ci(struct deleg_server *s, int cycles);
void deleg_host_ci_mode(struct deleg_server *s, int cycles, int mode);
/* The calling thread's current IR interval (DELEG_TIMER_IR), else 0. */
int deleg_ci_ir_interval(void);

/* Stop hosting `s` on the calling thread (deregisters the CI handler if no server is left). */
void deleg_unhost(struct deleg_server *s);

/* The CI handler: one serving pass for every server hosted by the calling thread. */
void deleg_ci_handler(long ic);

/* One serving pass for every server hosted by the calling thread, safe to call from the host's
 * own code while its CI handler is registered (a handler falling due meanwhile is dropped: this
 * pass is its replacement).  Returns the number of requests answered. */
int deleg_poll(void);

/* State of the calling thread used by deleg_local() (defined in deleg.c). */
extern __thread int deleg_tls_busy __attribute__((tls_model("initial-exec")));     /* in deleg_local()/deleg_poll()/a pass: defer */
extern __thread int deleg_tls_deferred __attribute__((tls_model("initial-exec"))); /* a handler call fell inside it */
void deleg_run_deferred(struct deleg_server *s);

/* Run fn(ctx, ...) directly on the hosting thread (its own share of the work).  A CI handler
 * falling due meanwhile is deferred to the end of the call.  Inline: it is the host's fast
 * path. */
static inline uint64_t deleg_local(struct deleg_server *s, deleg_fn fn, void *ctx, uint64_t a0,
                                   uint64_t a1, uint64_t a2) {
    deleg_tls_busy = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    uint64_t r = fn(ctx, a0, a1, a2);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (__builtin_expect(deleg_tls_deferred, 0))
        deleg_run_deferred(s); /* still busy: a handler due meanwhile is deferred again */
    deleg_tls_busy = 0;
    return r;
}

/* The clock used for waiting (TSC on x86-64, else nanoseconds). */
uint64_t deleg_now(void);

static inline void deleg_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* DELEG_H */
