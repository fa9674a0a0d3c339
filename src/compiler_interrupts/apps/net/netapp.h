/*
 * netapp.h -- the net application: an HTTP/1.1 server and a load generator over lwIP (raw API,
 * NO_SYS) over DPDK's net_memif between two processes, plus the same server and load generator
 * over Linux TCP sockets (the `kernel` variant).  Our own code; built with ci-cc.
 *
 * Files: netapp.c (main, options), net_dpdk.c (EAL + memif port + lwIP netif glue),
 * net_http.c (request work, HTTP parsing, histograms), net_server.c (the server variants),
 * net_client.c (the load generator).
 */
#ifndef NETAPP_H
#define NETAPP_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#if defined(__x86_64__)
#include <x86intrin.h>
static inline uint64_t now_tsc(void) { return __rdtsc(); }
#else
#include <time.h>
static inline uint64_t now_tsc(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#endif

/* ------------------------------------------------------------------ options */

struct opts {
    const char *mode;       /* server | client | calibrate */
    const char *variant;    /* ci | inline | dedicated | kernel */
    const char *arrangement;/* dedicated: shared | split */
    int core;               /* the core of this process' main work (server: the server core) */
    int other_core;         /* dedicated split: the stack thread's core; client: unused */
    const char *sock;       /* memif socket path */
    const char *prefix;     /* EAL file prefix */
    int port;               /* kernel: TCP port (client) */
    int conns;              /* client: connections */
    int interval;           /* ci: handler period target in TSC cycles */
    int cycles_timer;       /* ci: use the runtime's cycles mode instead of IR mode */
    uint32_t short_units;   /* ci/inline: answer requests of at most this many units as soon
                               as they are received (when nothing is queued before them on
                               their connection); 0 = strict FIFO */
    int verify;             /* client: check every response body (else 1 in 64) */
    int yield;              /* client: sched_yield when idle (core shared with a server thread) */
    double max_seconds;     /* watchdog: exit after this long */
    int nphases;
    struct phase {
        int open;           /* 1 = open loop (Poisson at rate), 0 = closed loop */
        uint32_t units;     /* work units per request */
        double rate;        /* open: requests/s; closed: outstanding requests per connection */
        double ms;          /* duration (the first 20% is warm-up) */
        uint32_t long_units;/* mix: this many units for long_permille of the requests */
        uint32_t long_permille;
    } phases[64];
};

/* ------------------------------------------------------------------ time */

extern double g_tsc_hz;
void calibrate_tsc(void);
static inline double tsc_to_us(uint64_t c) { return (double)c / g_tsc_hz * 1e6; }

/* ------------------------------------------------------------------ work + HTTP (net_http.c) */

/* The request's CPU work: `units` rounds of 64 dependent multiply-xor-shift steps over a
 * 8 KiB table, seeded by the request.  Deterministic: the client can recompute it. */
uint64_t do_work(uint64_t seed, uint32_t units);
void work_init(void);

#define REQ_MAX 256
/* Writes a request for (units, seed) into buf; returns its length. */
int http_format_request(char *buf, uint32_t units, uint64_t seed);
/* Parses one complete request at buf[0..len): returns its length (0 = incomplete, -1 = bad);
   * units and seed are set for "GET /work?u=U&s=S", *units = UINT32_MAX for any other path. */
int http_parse_request(const char *buf, int len, uint32_t *units, uint64_t *seed);
/* Writes the response for a result into buf (status 200, body "%016llx\n"); returns length. */
int http_format_response(char *buf, uint64_t hash, int found);
#define RESP_MAX 128
/* Parses one complete response: returns its length (0 incomplete, -1 bad); *hash = body value,
 * *status = HTTP status. */
int http_parse_response(const char *buf, int len, int *status, uint64_t *hash);

/* Log-linear latency histogram in TSC cycles: 64 sub-buckets per power of two. */
#define HIST_SUB 64
#define HIST_N (64 * HIST_SUB)
struct hist { uint64_t n[HIST_N]; uint64_t count; };
void hist_add(struct hist *h, uint64_t cycles);
double hist_quantile_us(const struct hist *h, double q);
void hist_print_json(FILE *f, const struct hist *h); /* [[lo_cycles, hi_cycles, count], ...] */

/* ------------------------------------------------------------------ DPDK + lwIP (net_dpdk.c) */

/* EAL (no hugepages, no PCI, one lcore), one memif port, a 1-rx/1-tx queue; lwIP netif with
 * address `ip` (dotted), peer `peer_ip`.  Returns 0 or -1. */
int stack_init(const struct opts *o, int memif_server, const char *ip);
/* Waits (polling) until the memif link is up; 0 or -1 after timeout_s. */
int stack_wait_link(double timeout_s);
/* One polling round: receive a burst from memif into lwIP, run due lwIP timers, flush the
 * transmit buffer.  Returns the number of frames received. */
int stack_poll(void);
/* Sends the frames buffered by lwIP's output (called by stack_poll too). */
void stack_flush(void);
void stack_close(void);
extern uint64_t g_rx_frames, g_tx_frames, g_tx_dropped, g_tx_nombuf;
extern uint64_t g_poll_gap_max, g_poll_gaps_100us, g_poll_gaps_1ms;

/* ------------------------------------------------------------------ entry points */

int run_server(const struct opts *o);
int run_client(const struct opts *o);
extern volatile int g_stop;

#endif
