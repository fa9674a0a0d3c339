/*
 * net_client.c -- the load generator: N keep-alive HTTP/1.1 connections, over lwIP/memif (its
 * own EAL process and lwIP instance) or over Linux TCP sockets (the kernel variant), running a
 * list of phases:
 *
 *   closed loop: every connection keeps `rate` requests outstanding (the saturating load);
 *   open loop:   Poisson arrivals at `rate` requests/s spread round-robin over the connections
 *                (pipelined when a connection is busy); latency is measured from the scheduled
 *                send time, so a client that falls behind does not hide queueing.
 *
 * Each phase: the first 20% is warm-up; completions inside the rest are counted and timed; then
 * the client stops sending and drains the outstanding requests.  Every 64th response (every one
 * with --verify) is checked against the work recomputed locally.  Output: one JSON object.
 */
#define _GNU_SOURCE
#include "netapp.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "lwip/tcp.h"

#define CLIENT_IP "127.77.0.2"
#define SERVER_IP "127.77.0.1"
#define CAP 32           /* outstanding requests per connection: 16 connections x 32 stay
                            below memif's 1024-slot ring, so an overloaded server makes the
                            client drop requests (counted) instead of the link dropping frames
                            (TCP retransmission time-outs would then spill into later phases) */
#define CINBUF 16384

struct cconn {
    struct tcp_pcb *pcb;
    int fd;
    int connected, dead;
    uint32_t head, tail;             /* outstanding requests: [head, tail) */
    uint64_t when[CAP];
    uint64_t seed[CAP];
    uint32_t units[CAP];
    int inlen;
    char in[CINBUF];
};

static struct cconn *g_cc;
static int g_n;
static int g_kernel;
static int g_ep;
static int g_verify_all;

/* per-phase accounting */
static uint64_t g_win_lo, g_win_hi;  /* measured window (TSC) */
static uint64_t g_done, g_done_win, g_errors, g_verified, g_dropped, g_sent;
static struct hist g_hist, g_hist_short, g_hist_long;
static uint32_t g_long_units, g_long_permille;
static uint64_t g_mix_rnd = 0x2545f4914f6cdd1dull;
static int g_closed_loop;
static double g_depth;
static uint32_t g_units;
static uint64_t g_seed_ctr = 1;
static int g_sending;

static void send_req(struct cconn *c, uint64_t when);

static void on_response(struct cconn *c, int status, uint64_t hash) {
    uint64_t now = now_tsc();
    uint32_t i = c->head % CAP;
    uint64_t when = c->when[i], seed = c->seed[i];
    uint32_t units = c->units[i];
    c->head++;
    g_done++;
    if (status != 200) g_errors++;
    else if (g_verify_all || (g_done & 63) == 0) {
        g_verified++;
        if (do_work(seed, units) != hash) g_errors++;
    }
    if (now >= g_win_lo && now < g_win_hi) {
        g_done_win++;
        hist_add(&g_hist, now - when);
        if (g_long_permille) hist_add(units == g_long_units ? &g_hist_long : &g_hist_short,
                                      now - when);
    }
    if (g_closed_loop && g_sending) send_req(c, now);
}

static void consume(struct cconn *c) {
    int off = 0, n, status;
    uint64_t hash;
    while (c->head != c->tail &&
           (n = http_parse_response(c->in + off, c->inlen - off, &status, &hash)) > 0) {
        off += n;
        on_response(c, status, hash);
    }
    if (c->head == c->tail && off < c->inlen &&
        http_parse_response(c->in + off, c->inlen - off, &status, &hash) != 0) {
        g_errors++;  /* a response nobody asked for, or garbage */
        off = c->inlen;
    }
    if (off) {
        memmove(c->in, c->in + off, (size_t)(c->inlen - off));
        c->inlen -= off;
    }
}

/* ------------------------------------------------------------------ transports */

static err_t cl_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
    struct cconn *c = arg;
    (void)err;
    if (!p) { c->dead = 1; tcp_arg(pcb, NULL); tcp_recv(pcb, NULL); tcp_close(pcb); c->pcb = NULL; return ERR_OK; }
    if (c->inlen + p->tot_len > CINBUF) { g_errors++; c->inlen = 0; }
    pbuf_copy_partial(p, c->in + c->inlen, p->tot_len, 0);
    c->inlen += p->tot_len;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    consume(c);
    return ERR_OK;
}

static void cl_err(void *arg, err_t err) {
    struct cconn *c = arg;
    (void)err;
    if (c) { c->dead = 1; c->pcb = NULL; }
}

static err_t cl_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
    struct cconn *c = arg;
    (void)pcb;
    if (err == ERR_OK) c->connected = 1;
    return ERR_OK;
}

static void send_req(struct cconn *c, uint64_t when) {
    if (c->dead || c->tail - c->head >= CAP) { g_dropped++; return; }
    char buf[REQ_MAX];
    uint64_t seed = g_seed_ctr++ * 0x9e3779b97f4a7c15ull;
    seed >>= 8;
    uint32_t units = g_units;
    if (g_long_permille) {
        g_mix_rnd ^= g_mix_rnd << 13; g_mix_rnd ^= g_mix_rnd >> 7; g_mix_rnd ^= g_mix_rnd << 17;
        if (g_mix_rnd % 1000 < g_long_permille) units = g_long_units;
    }
    int n = http_format_request(buf, units, seed);
    uint32_t i = c->tail % CAP;
    c->when[i] = when;
    c->seed[i] = seed;
    c->units[i] = units;
    c->tail++;
    g_sent++;
    if (g_kernel) {
        int off = 0;
        while (off < n) {
            ssize_t w = write(c->fd, buf + off, (size_t)(n - off));
            if (w > 0) off += (int)w;
            else if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            else { c->dead = 1; break; }
        }
    } else {
        if (!c->pcb || tcp_write(c->pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK) {
            g_dropped++;  /* lwIP's send queue is full (the server is not keeping up) */
            c->tail--;
            g_sent--;
            return;
        }
        tcp_output(c->pcb);
    }
}

static int poll_kernel(void) {
    struct epoll_event evs[64];
    int n = epoll_wait(g_ep, evs, 64, 0);
    for (int i = 0; i < n; i++) {
        struct cconn *c = evs[i].data.ptr;
        for (;;) {
            ssize_t r = read(c->fd, c->in + c->inlen, (size_t)(CINBUF - c->inlen));
            if (r > 0) { c->inlen += (int)r; consume(c); continue; }
            if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                c->dead = 1;
                epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
            break;
        }
    }
    return n;
}

static int poll_once(void) { return g_kernel ? poll_kernel() : stack_poll(); }

static int connect_all(const struct opts *o) {
    g_cc = calloc((size_t)o->conns, sizeof *g_cc);
    g_n = o->conns;
    uint64_t t0 = now_tsc();
    if (g_kernel) {
        g_ep = epoll_create1(0);
        for (int i = 0; i < g_n; i++) {
            struct cconn *c = &g_cc[i];
            c->fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons((uint16_t)o->port);
            if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return -1; }
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            fcntl(c->fd, F_SETFL, O_NONBLOCK);
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &e);
            c->connected = 1;
        }
        return 0;
    }
    if (stack_wait_link(20.0) < 0) { fprintf(stderr, "netapp: memif link down\n"); return -1; }
    ip4_addr_t srv;
    ip4addr_aton(SERVER_IP, &srv);
    for (int i = 0; i < g_n; i++) {
        struct cconn *c = &g_cc[i];
        c->pcb = tcp_new();
        tcp_arg(c->pcb, c);
        tcp_recv(c->pcb, cl_recv);
        tcp_err(c->pcb, cl_err);
        tcp_nagle_disable(c->pcb);
        err_t e = tcp_connect(c->pcb, &srv, 80, cl_connected);
        if (e != ERR_OK) { fprintf(stderr, "netapp: tcp_connect: error %d\n", (int)e); return -1; }
        /* lwIP queues one packet per unresolved ARP entry: let the first connection resolve
         * the server's address before the other SYNs go out (else they wait for a 3 s RTO) */
        while (i == 0 && !c->connected && !g_stop && tsc_to_us(now_tsc() - t0) < 10e6)
            poll_once();
    }
    for (;;) {
        poll_once();
        int up = 0;
        for (int i = 0; i < g_n; i++) up += g_cc[i].connected;
        if (up == g_n) return 0;
        if (tsc_to_us(now_tsc() - t0) > 10e6 || g_stop) {
            fprintf(stderr, "netapp: only %d of %d connections up\n", up, g_n);
            return -1;
        }
    }
}

static uint64_t outstanding(void) {
    uint64_t s = 0;
    for (int i = 0; i < g_n; i++)
        if (!g_cc[i].dead) s += g_cc[i].tail - g_cc[i].head;
    return s;
}

/* ', "key": quantile' (null for an empty histogram) */
static void jq(FILE *f, const char *key, const struct hist *h, double q) {
    double v = hist_quantile_us(h, q);
    if (isnan(v)) fprintf(f, ", \"%s\": null", key);
    else fprintf(f, ", \"%s\": %.3f", key, v);
}

static void run_phase(const struct opts *o, const struct phase *ph, FILE *out, int first) {
    memset(&g_hist, 0, sizeof g_hist);
    memset(&g_hist_short, 0, sizeof g_hist_short);
    memset(&g_hist_long, 0, sizeof g_hist_long);
    g_long_units = ph->long_units;
    g_long_permille = ph->long_units ? ph->long_permille : 0;
    g_done = g_done_win = g_errors = g_verified = g_dropped = g_sent = 0;
    g_closed_loop = !ph->open;
    g_depth = ph->rate;
    g_units = ph->units;
    uint64_t t0 = now_tsc();
    uint64_t dur = (uint64_t)(ph->ms / 1e3 * g_tsc_hz);
    g_win_lo = t0 + dur / 5;
    g_win_hi = t0 + dur;
    g_sending = 1;
    int rr = 0;
    uint64_t idle = 0;
    if (g_closed_loop) {
        int depth = (int)(ph->rate < 1 ? 1 : ph->rate);
        for (int i = 0; i < g_n; i++)
            for (int d = 0; d < depth; d++) send_req(&g_cc[i], t0);
        while (!g_stop && now_tsc() < g_win_hi) {
            if (poll_once()) idle = 0;
            else if (o->yield && ++idle >= 16) sched_yield();
        }
    } else {
        double mean = g_tsc_hz / ph->rate;  /* cycles between arrivals */
        double next = (double)t0;
        uint64_t rnd = 0x853c49e6748fea9bull ^ (uint64_t)ph->units;
        while (!g_stop) {
            uint64_t now = now_tsc();
            if (now >= g_win_hi) break;
            int sent = 0;
            while (next <= (double)now) {
                send_req(&g_cc[rr], (uint64_t)next);
                rr = (rr + 1) % g_n;
                rnd ^= rnd << 13; rnd ^= rnd >> 7; rnd ^= rnd << 17;
                double u = ((double)(rnd >> 11) + 0.5) / 9007199254740992.0;
                next += -log(u) * mean;
                sent = 1;
            }
            if (poll_once() || sent) idle = 0;
            else if (o->yield && ++idle >= 16) sched_yield();
        }
    }
    g_sending = 0;
    uint64_t t_end = now_tsc();
    while (!g_stop && outstanding() && tsc_to_us(now_tsc() - t_end) < 5e6) {
        if (poll_once()) idle = 0;
        else if (o->yield && ++idle >= 16) sched_yield();
    }
    uint64_t lost = outstanding();
    double win_s = (double)(g_win_hi - g_win_lo) / g_tsc_hz;
    int dead = 0;
    for (int i = 0; i < g_n; i++) dead += g_cc[i].dead;
    fprintf(out, "%s{\"open\": %d, \"units\": %u, \"rate\": %.1f, \"ms\": %.1f, \"sent\": %llu, "
            "\"completed\": %llu, \"completed_in_window\": %llu, \"window_s\": %.4f, "
            "\"throughput_rps\": %.1f, \"dropped\": %llu, \"lost\": %llu, \"dead_conns\": %d, "
            "\"errors\": %llu, \"verified\": %llu, \"long_units\": %u, \"long_permille\": %u, "
            "\"short_count\": %llu, \"long_count\": %llu",
            first ? "" : ", ", ph->open, ph->units, ph->rate, ph->ms,
            (unsigned long long)g_sent, (unsigned long long)g_done,
            (unsigned long long)g_done_win, win_s, (double)g_done_win / win_s,
            (unsigned long long)g_dropped, (unsigned long long)lost, dead,
            (unsigned long long)g_errors, (unsigned long long)g_verified, g_long_units,
            g_long_permille, (unsigned long long)g_hist_short.count,
            (unsigned long long)g_hist_long.count);
    jq(out, "p50_us", &g_hist, 0.5);
    jq(out, "p90_us", &g_hist, 0.9);
    jq(out, "p99_us", &g_hist, 0.99);
    jq(out, "p999_us", &g_hist, 0.999);
    jq(out, "short_p50_us", &g_hist_short, 0.5);
    jq(out, "short_p90_us", &g_hist_short, 0.9);
    jq(out, "short_p99_us", &g_hist_short, 0.99);
    jq(out, "long_p99_us", &g_hist_long, 0.99);
    fprintf(out, ", \"hist\": ");
    hist_print_json(out, &g_hist);
    fprintf(out, "}");
    /* requests lost in a drain time-out would desynchronise the next phase */
    if (lost) {
        for (int i = 0; i < g_n; i++) g_cc[i].dead |= g_cc[i].tail != g_cc[i].head;
    }
}

int run_client(const struct opts *o) {
    g_kernel = strcmp(o->variant, "kernel") == 0;
    g_verify_all = o->verify;
    if (g_kernel) {
        cpu_set_t s;
        CPU_ZERO(&s);
        CPU_SET(o->core, &s);
        sched_setaffinity(0, sizeof s, &s);
    } else if (stack_init(o, 0, CLIENT_IP) < 0) {
        return 1;
    }
    if (connect_all(o) < 0) return 1;
    FILE *out = stdout;
    fprintf(out, "{\"variant\": \"%s\", \"conns\": %d, \"tsc_hz\": %.0f, \"phases\": [",
            o->variant, o->conns, g_tsc_hz);
    for (int i = 0; i < o->nphases && !g_stop; i++) run_phase(o, &o->phases[i], out, i == 0);
    fprintf(out, "], \"rx_frames\": %llu, \"tx_frames\": %llu, \"tx_dropped\": %llu}\n",
            (unsigned long long)g_rx_frames, (unsigned long long)g_tx_frames,
            (unsigned long long)g_tx_dropped);
    fflush(out);
    /* close the connections (FINs reach the server) */
    for (int i = 0; i < g_n; i++) {
        if (g_kernel) close(g_cc[i].fd);
        else if (g_cc[i].pcb) {
            tcp_arg(g_cc[i].pcb, NULL);
            tcp_recv(g_cc[i].pcb, NULL);
            tcp_err(g_cc[i].pcb, NULL);
            if (tcp_close(g_cc[i].pcb) != ERR_OK) tcp_abort(g_cc[i].pcb);
        }
    }
    if (!g_kernel) {
        uint64_t t0 = now_tsc();
        while (tsc_to_us(now_tsc() - t0) < 20000) poll_once();
        stack_close();
    }
    return 0;
}
