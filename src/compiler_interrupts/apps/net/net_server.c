/*
 * net_server.c -- the HTTP server, in four variants, confined to one server core:
 *
 *  ci        one thread: takes requests from a queue and does their work; a CI handler polls
 *            memif/lwIP every few microseconds (IR mode, interval calibrated to --interval TSC
 *            cycles on this thread's work, plus a coarse TSC check in the handler);
 *  inline    one thread: polls memif/lwIP only between requests (what you do without CIs);
 *  dedicated a stack thread polls memif/lwIP and hands requests to an app thread through two
 *            single-producer/single-consumer rings (the mTCP model); --arrangement shared puts
 *            both threads on the server core (each yields when idle), split puts the stack
 *            thread on --other-core (the client's core);
 *  kernel    the same server on Linux TCP sockets (127.0.0.1) with epoll, one thread.
 *
 * lwIP is not reentrant: in the ci variant every lwIP call of the main thread runs between
 * ci_disable() and ci_enable(), so the handler never enters lwIP while the thread is inside.
 */
#define _GNU_SOURCE
#include "netapp.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "ci_lib.h"

#include "lwip/tcp.h"

#define SERVER_IP "127.77.0.1"
#define HTTP_PORT 80
#define MAX_CONNS 1024
#define INBUF 8192
#define OUTBUF 8192

/* ------------------------------------------------------------------ connections (lwIP) */

struct conn {
    struct tcp_pcb *pcb;
    int used, closed;
    int pending;            /* requests queued and not yet answered */
    int inlen, outlen;
    char in[INBUF];
    char out[OUTBUF];       /* response bytes lwIP could not take yet */
};

struct req {
    struct conn *c;
    uint32_t units;
    uint64_t seed;
};

struct resp {
    struct conn *c;
    uint64_t hash;
    int found;
};

static struct conn g_conns[MAX_CONNS];
static uint64_t g_served, g_bad, g_out_full;

/* request queue of the single-threaded variants (ci, inline): a plain ring */
#define QCAP 65536
static struct req g_q[QCAP];
static uint32_t g_qhead, g_qtail;

/* rings of the dedicated variant */
struct spsc {
    _Alignas(64) _Atomic uint32_t head;
    _Alignas(64) _Atomic uint32_t tail;
    _Alignas(64) uint32_t cap, esize;
    char *buf;
};

static void spsc_init(struct spsc *r, uint32_t cap, uint32_t esize) {
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
    r->cap = cap;
    r->esize = esize;
    r->buf = calloc(cap, esize);
}

static int spsc_push(struct spsc *r, const void *e) {
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&r->head, memory_order_acquire) == r->cap) return 0;
    memcpy(r->buf + (size_t)(t & (r->cap - 1)) * r->esize, e, r->esize);
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return 1;
}

static int spsc_pop(struct spsc *r, void *e) {
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h == atomic_load_explicit(&r->tail, memory_order_acquire)) return 0;
    memcpy(e, r->buf + (size_t)(h & (r->cap - 1)) * r->esize, r->esize);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return 1;
}

static struct spsc g_reqring, g_respring;
static int g_dedicated;
static uint32_t g_short_units;
static uint64_t g_short_now;  /* requests answered on receipt (short-request fast path) */

static void conn_free_if_done(struct conn *c) {
    if (c->closed && c->pending == 0) c->used = 0;
}

static void conn_close(struct conn *c) {
    if (c->pcb) {
        tcp_arg(c->pcb, NULL);
        tcp_recv(c->pcb, NULL);
        tcp_err(c->pcb, NULL);
        tcp_sent(c->pcb, NULL);
        if (tcp_close(c->pcb) != ERR_OK) tcp_abort(c->pcb);
        c->pcb = NULL;
    }
    c->closed = 1;
    conn_free_if_done(c);
}

/* Moves buffered response bytes into lwIP. */
static void conn_push_out(struct conn *c) {
    if (!c->pcb || !c->outlen) return;
    u16_t room = tcp_sndbuf(c->pcb);
    int n = c->outlen < room ? c->outlen : room;
    if (n > 0 && tcp_write(c->pcb, c->out, (u16_t)n, TCP_WRITE_FLAG_COPY) == ERR_OK) {
        memmove(c->out, c->out + n, (size_t)(c->outlen - n));
        c->outlen -= n;
        tcp_output(c->pcb);
    }
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
    (void)pcb; (void)len;
    if (arg) conn_push_out((struct conn *)arg);
    return ERR_OK;
}

static void respond(struct conn *c, uint64_t hash, int found) {
    c->pending--;
    g_served++;
    if (c->pcb) {
        char buf[RESP_MAX];
        int n = http_format_response(buf, hash, found);
        if (c->outlen == 0 && tcp_write(c->pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY) == ERR_OK) {
            tcp_output(c->pcb);
        } else if (c->outlen + n <= OUTBUF) {
            memcpy(c->out + c->outlen, buf, (size_t)n);
            c->outlen += n;
            conn_push_out(c);
        } else {
            g_out_full++;
            conn_close(c);
            return;
        }
    }
    conn_free_if_done(c);
}

static void enqueue(struct conn *c, uint32_t units, uint64_t seed) {
    struct req r = {c, units, seed};
    c->pending++;
    if (g_dedicated) {
        while (!spsc_push(&g_reqring, &r)) sched_yield();  /* never full in practice */
    } else {
        if (g_qtail - g_qhead == QCAP) { fprintf(stderr, "netapp: queue full\n"); abort(); }
        g_q[g_qtail++ & (QCAP - 1)] = r;
    }
}

static void on_err(void *arg, err_t err) {
    (void)err;
    struct conn *c = arg;
    if (!c) return;
    c->pcb = NULL;  /* already freed by lwIP */
    c->closed = 1;
    conn_free_if_done(c);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
    struct conn *c = arg;
    (void)err;
    if (!c) { if (p) pbuf_free(p); return ERR_OK; }
    if (!p) { conn_close(c); return ERR_OK; }
    if (c->inlen + p->tot_len > INBUF) {
        pbuf_free(p);
        g_bad++;
        conn_close(c);
        return ERR_OK;
    }
    pbuf_copy_partial(p, c->in + c->inlen, p->tot_len, 0);
    c->inlen += p->tot_len;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    int off = 0, n;
    uint32_t units;
    uint64_t seed;
    while ((n = http_parse_request(c->in + off, c->inlen - off, &units, &seed)) > 0) {
        off += n;
        if (!g_dedicated && units <= g_short_units && c->pending == 0) {
            /* a short request with nothing queued before it on its connection: answer it now.
             * In the ci variant this runs in the CI handler, i.e. it preempts a long request. */
            c->pending++;
            g_short_now++;
            respond(c, do_work(seed, units), 1);
            if (!c->pcb) break;
            continue;
        }
        enqueue(c, units, seed);
    }
    if (n < 0) { g_bad++; c->inlen = 0; conn_close(c); return ERR_OK; }
    if (off) {
        memmove(c->in, c->in + off, (size_t)(c->inlen - off));
        c->inlen -= off;
    }
    return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
    (void)arg;
    if (err != ERR_OK || !pcb) return ERR_VAL;
    struct conn *c = NULL;
    for (int i = 0; i < MAX_CONNS; i++)
        if (!g_conns[i].used) { c = &g_conns[i]; break; }
    if (!c) { tcp_abort(pcb); return ERR_ABRT; }
    memset(c, 0, offsetof(struct conn, in));
    c->used = 1;
    c->pcb = pcb;
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_err(pcb, on_err);
    tcp_sent(pcb, on_sent);
    tcp_nagle_disable(pcb);
    return ERR_OK;
}

static int listen_lwip(void) {
    struct tcp_pcb *pcb = tcp_new();
    if (!pcb || tcp_bind(pcb, IP_ANY_TYPE, HTTP_PORT) != ERR_OK) return -1;
    pcb = tcp_listen(pcb);
    if (!pcb) return -1;
    tcp_accept(pcb, on_accept);
    return 0;
}

static void answer(const struct req *r) {
    int found = r->units != UINT32_MAX;
    uint64_t h = found ? do_work(r->seed, r->units) : 0;
    respond(r->c, h, found);
}

/* ------------------------------------------------------------------ variant: ci */

static uint64_t g_ci_calls, g_ci_polls, g_last_poll_tsc, g_min_gap;
static int g_ir_interval;

static void on_ci(long ic) {
    (void)ic;
    g_ci_calls++;
    uint64_t t = now_tsc();
    if (t - g_last_poll_tsc < g_min_gap) return;  /* polled very recently (coarse check) */
    g_ci_polls++;
    stack_poll();
    g_last_poll_tsc = now_tsc();
}

static void ci_calib_handler(long ic) { (void)ic; }

/* IR instructions per TSC cycle of this thread's request work, measured over ~20 ms. */
static double measure_ipc(void) {
    register_ci(1 << 30, 0, ci_calib_handler);
    volatile uint64_t sink = 0;
    long i0 = ci_instruction_count();
    uint64_t t0 = now_tsc();
    while (now_tsc() - t0 < (uint64_t)(g_tsc_hz * 0.02)) sink += do_work(sink, 16);
    long i1 = ci_instruction_count();
    uint64_t t1 = now_tsc();
    deregister_ci();
    return (double)(i1 - i0) / (double)(t1 - t0);
}

static void serve_single(const struct opts *o, int use_ci) {
    double ipc = 0;
    g_short_units = o->short_units;
    if (use_ci) {
        ipc = measure_ipc();
        g_ir_interval = ipc > 0 ? (int)(ipc * o->interval) : 0;
        if (g_ir_interval < 100) g_ir_interval = 0;  /* not an instrumented build */
        g_min_gap = (uint64_t)o->interval / 4;
        if (g_ir_interval && o->cycles_timer) {
            /* the runtime's cycles mode: it reads the clock on every interrupt */
            register_ci(g_ir_interval, o->interval, on_ci);
        } else if (g_ir_interval) {
            register_ci(g_ir_interval, 0, on_ci);
        }
    }
    while (!g_stop) {
        if (use_ci) ci_disable();
        if (g_qhead == g_qtail) {
            stack_poll();
            g_last_poll_tsc = now_tsc();
            if (use_ci) ci_enable();
            continue;
        }
        struct req r = g_q[g_qhead++ & (QCAP - 1)];
        if (use_ci) ci_enable();
        int found = r.units != UINT32_MAX;
        uint64_t h = found ? do_work(r.seed, r.units) : 0;   /* the handler polls in here */
        if (use_ci) ci_disable();
        respond(r.c, h, found);
        if (use_ci) {
            stack_flush();
            ci_enable();
        } else {
            stack_poll();  /* inline: poll between requests */
        }
    }
    if (use_ci) deregister_ci();
    printf("{\"timer\": \"%s\", ", o->cycles_timer ? "cycles" : "ir");
    printf("\"ir_interval\": %d, \"ipc\": %.4f, \"ci_handler_calls\": %llu, \"ci_polls\": %llu, "
           "\"short_units\": %u, \"short_now\": %llu, ", g_ir_interval, ipc,
           (unsigned long long)g_ci_calls, (unsigned long long)g_ci_polls, g_short_units,
           (unsigned long long)g_short_now);
}

/* ------------------------------------------------------------------ variant: dedicated */

static int g_yield_app, g_yield_stack;

static void pin(int core) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(core, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *app_thread(void *arg) {
    const struct opts *o = arg;
    pin(o->core);
    struct req r;
    uint64_t idle = 0;
    while (!g_stop) {
        if (!spsc_pop(&g_reqring, &r)) {
            if (g_yield_app) sched_yield();  /* shared core: let the stack thread run */
            else _mm_pause();
            continue;
        }
        idle = 0;
        struct resp s = {r.c, 0, r.units != UINT32_MAX};
        if (s.found) s.hash = do_work(r.seed, r.units);
        while (!spsc_push(&g_respring, &s)) sched_yield();
    }
    return NULL;
}

static void serve_dedicated(const struct opts *o) {
    int split = o->arrangement && strcmp(o->arrangement, "split") == 0;
    g_dedicated = 1;
    g_yield_app = !split;      /* shared: both threads yield the core when idle */
    g_yield_stack = 1;         /* shared: with the app thread; split: with the client */
    spsc_init(&g_reqring, QCAP, sizeof(struct req));
    spsc_init(&g_respring, QCAP, sizeof(struct resp));
    /* the calling thread (the EAL lcore) is the stack thread */
    pin(split ? o->other_core : o->core);
    pthread_t th;
    pthread_create(&th, NULL, app_thread, (void *)o);
    struct resp s;
    uint64_t idle = 0;
    while (!g_stop) {
        int n = stack_poll();
        int k = 0;
        while (spsc_pop(&g_respring, &s)) {
            respond(s.c, s.hash, s.found);
            k++;
        }
        if (k) stack_flush();
        if (g_yield_app && (n || !idle)) {
            /* shared core: hand the core to the app thread after every round that gave it
             * work (and after the first idle round), else it would wait for a time slice */
            idle = !(n || k);
            sched_yield();
        } else if (n || k) {
            idle = 0;
        } else if (g_yield_stack && ++idle >= 16) {
            sched_yield();  /* split: the core is the client's too */
        }
    }
    pthread_join(th, NULL);
    printf("{\"arrangement\": \"%s\", ", split ? "split" : "shared");
}

/* ------------------------------------------------------------------ variant: kernel */

struct kconn {
    int fd;
    int inlen, outlen, outoff;
    char in[INBUF];
    char out[OUTBUF * 4];
};

static int serve_kernel(const struct opts *o) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(o->core, &s);
    sched_setaffinity(0, sizeof s, &s);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1024) < 0) {
        perror("netapp: bind/listen");
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    fcntl(ls, F_SETFL, O_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("READY port=%d\n", ntohs(a.sin_port));
    fflush(stdout);
    struct epoll_event evs[64];
    while (!g_stop) {
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            struct kconn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct kconn *k = calloc(1, sizeof *k);
                    k->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = k};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            int dead = 0;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    ssize_t r = read(c->fd, c->in + c->inlen, (size_t)(INBUF - c->inlen));
                    if (r > 0) {
                        c->inlen += (int)r;
                        int off = 0, m;
                        uint32_t units;
                        uint64_t seed;
                        while ((m = http_parse_request(c->in + off, c->inlen - off, &units,
                                                       &seed)) > 0) {
                            off += m;
                            int found = units != UINT32_MAX;
                            uint64_t h = found ? do_work(seed, units) : 0;
                            g_served++;
                            if (c->outlen + RESP_MAX > (int)sizeof c->out) { dead = 1; break; }
                            c->outlen += http_format_response(c->out + c->outlen, h, found);
                        }
                        if (m < 0) { g_bad++; dead = 1; }
                        memmove(c->in, c->in + off, (size_t)(c->inlen - off));
                        c->inlen -= off;
                        if (dead || c->inlen == INBUF) { dead = 1; break; }
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EINTR)) dead = 1;
                    if (r < 0 && errno == EINTR) continue;
                    break;
                }
            }
            while (!dead && c->outoff < c->outlen) {
                ssize_t w = write(c->fd, c->out + c->outoff, (size_t)(c->outlen - c->outoff));
                if (w > 0) { c->outoff += (int)w; continue; }
                if (w < 0 && errno == EINTR) continue;
                if (w < 0 && errno == EAGAIN) break;
                dead = 1;
            }
            if (c->outoff == c->outlen) c->outoff = c->outlen = 0;
            struct epoll_event e = {.events = EPOLLIN | (c->outlen ? EPOLLOUT : 0),
                                    .data.ptr = c};
            if (dead) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c);
            } else {
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
            }
        }
    }
    close(ls);
    printf("{");
    return 0;
}

/* ------------------------------------------------------------------ entry */

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

int run_server(const struct opts *o) {
    const char *v = o->variant;
    int rc = 0;
    uint64_t t0;
    if (strcmp(v, "kernel") == 0) {
        t0 = now_tsc();
        rc = serve_kernel(o);
    } else {
        if (strcmp(v, "ci") && strcmp(v, "inline") && strcmp(v, "dedicated")) {
            fprintf(stderr, "netapp: unknown variant %s\n", v);
            return 2;
        }
        int dedicated = strcmp(v, "dedicated") == 0;
        int split = dedicated && o->arrangement && strcmp(o->arrangement, "split") == 0;
        struct opts eo = *o;
        if (split) eo.core = o->other_core;  /* EAL lcore = the stack thread's core */
        if (stack_init(&eo, 1, SERVER_IP) < 0 || listen_lwip() < 0) return 1;
        printf("READY port=%d\n", HTTP_PORT);
        fflush(stdout);
        t0 = now_tsc();
        if (dedicated) serve_dedicated(o);
        else serve_single(o, strcmp(v, "ci") == 0);
    }
    double secs = tsc_to_us(now_tsc() - t0) / 1e6;
    printf("\"variant\": \"%s\", \"served\": %llu, \"bad\": %llu, \"out_full\": %llu, "
           "\"rx_frames\": %llu, \"tx_frames\": %llu, \"tx_dropped\": %llu, \"tx_nombuf\": %llu, "
           "\"poll_gap_max_us\": %.1f, \"poll_gaps_over_100us\": %llu, "
           "\"poll_gaps_over_1ms\": %llu, "
           "\"cpu_seconds\": %.4f, \"seconds\": %.4f, \"tsc_hz\": %.0f}\n", v,
           (unsigned long long)g_served, (unsigned long long)g_bad,
           (unsigned long long)g_out_full, (unsigned long long)g_rx_frames,
           (unsigned long long)g_tx_frames, (unsigned long long)g_tx_dropped,
           (unsigned long long)g_tx_nombuf, tsc_to_us(g_poll_gap_max),
           (unsigned long long)g_poll_gaps_100us, (unsigned long long)g_poll_gaps_1ms,
           cpu_seconds(),
           secs, g_tsc_hz);
    fflush(stdout);
    if (strcmp(v, "kernel") != 0) stack_close();
    return rc;
}
