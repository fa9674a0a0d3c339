/*
 * net_dpdk.c -- DPDK EAL + one net_memif port, and the lwIP netif on top of it (NO_SYS: this
 * file drives lwIP's input, timers and output from stack_poll()).
 *
 * Frames are copied between mbufs and pbufs (they are small: requests and responses are ~100
 * bytes).  Output frames are buffered and sent in bursts by stack_flush().
 */
#include "netapp.h"

#include <string.h>
#include <unistd.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/timeouts.h"
#include "lwip/etharp.h"
#include "netif/ethernet.h"

#define BURST 32
#define TXBUF 256

static uint16_t g_port;
static struct rte_mempool *g_pool;
static struct netif g_netif;
static struct rte_mbuf *g_txq[TXBUF];
static int g_ntx;
static uint64_t g_last_timer_tsc, g_timer_period;
static uint64_t g_tsc0;
uint64_t g_rx_frames, g_tx_frames, g_tx_dropped, g_tx_nombuf;

/* lwIP's clock (NO_SYS): milliseconds since start. */
u32_t sys_now(void) {
    return (u32_t)((double)(now_tsc() - g_tsc0) / g_tsc_hz * 1e3);
}

void stack_flush(void) {
    int sent = 0;
    for (int tries = 0; sent < g_ntx && tries < 4; tries++)
        sent += rte_eth_tx_burst(g_port, 0, g_txq + sent, (uint16_t)(g_ntx - sent));
    g_tx_frames += (uint64_t)sent;
    if (sent < g_ntx) {  /* the peer's ring is full: keep the rest for the next flush */
        memmove(g_txq, g_txq + sent, (size_t)(g_ntx - sent) * sizeof g_txq[0]);
    }
    g_ntx -= sent;
}

static err_t link_output(struct netif *netif, struct pbuf *p) {
    (void)netif;
    if (g_ntx == TXBUF) {
        stack_flush();
        if (g_ntx == TXBUF) { g_tx_dropped++; return ERR_OK; }  /* TCP retransmits */
    }
    struct rte_mbuf *m = rte_pktmbuf_alloc(g_pool);
    if (!m) { g_tx_nombuf++; return ERR_MEM; }
    char *d = rte_pktmbuf_append(m, p->tot_len);
    if (!d) { rte_pktmbuf_free(m); g_tx_dropped++; return ERR_BUF; }
    pbuf_copy_partial(p, d, p->tot_len, 0);
    g_txq[g_ntx++] = m;
    if (g_ntx >= BURST) stack_flush();
    return ERR_OK;
}

static err_t netif_setup(struct netif *netif) {
    struct rte_ether_addr mac;
    rte_eth_macaddr_get(g_port, &mac);
    netif->hwaddr_len = 6;
    memcpy(netif->hwaddr, mac.addr_bytes, 6);
    netif->mtu = 1500;
    netif->name[0] = 'm';
    netif->name[1] = 'f';
    netif->output = etharp_output;
    netif->linkoutput = link_output;
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
                   NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

int stack_init(const struct opts *o, int memif_server, const char *ip) {
    char core[16], vdev[512];
    snprintf(core, sizeof core, "%d", o->core);
    snprintf(vdev, sizeof vdev, "net_memif0,role=%s,socket=%s,socket-abstract=no",
             memif_server ? "server" : "client", o->sock);
    char *argv[] = {"netapp", "--no-huge", "--no-pci", "--no-shconf", "-m", "256",
                    "--file-prefix", (char *)o->prefix, "-l", core, "--vdev", vdev,
                    "--log-level", "*:error", "--no-telemetry", NULL};
    int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
    if (rte_eal_init(argc, argv) < 0) {
        fprintf(stderr, "netapp: rte_eal_init failed\n");
        return -1;
    }
    if (rte_eth_dev_count_avail() < 1) {
        fprintf(stderr, "netapp: no memif port (is the net_memif PMD installed?)\n");
        return -1;
    }
    RTE_ETH_FOREACH_DEV(g_port) break;
    g_pool = rte_pktmbuf_pool_create("netapp_mb", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                     (int)rte_socket_id());
    if (!g_pool) { fprintf(stderr, "netapp: mbuf pool\n"); return -1; }
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    if (rte_eth_dev_configure(g_port, 1, 1, &conf) < 0 ||
        rte_eth_rx_queue_setup(g_port, 0, 1024, (unsigned)rte_eth_dev_socket_id(g_port), NULL,
                               g_pool) < 0 ||
        rte_eth_tx_queue_setup(g_port, 0, 1024, (unsigned)rte_eth_dev_socket_id(g_port),
                               NULL) < 0 ||
        rte_eth_dev_start(g_port) < 0) {
        fprintf(stderr, "netapp: memif port setup failed\n");
        return -1;
    }
    g_tsc0 = now_tsc();
    g_timer_period = (uint64_t)(g_tsc_hz / 1000.0);  /* lwIP timers checked every ms */
    g_last_timer_tsc = g_tsc0;
    lwip_init();
    ip4_addr_t addr, mask, gw;
    ip4addr_aton(ip, &addr);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    ip4_addr_set_zero(&gw);
    netif_add(&g_netif, &addr, &mask, &gw, NULL, netif_setup, ethernet_input);
    netif_set_default(&g_netif);
    netif_set_up(&g_netif);
    return 0;
}

int stack_wait_link(double timeout_s) {
    uint64_t t0 = now_tsc();
    while (!g_stop) {
        struct rte_eth_link link;
        memset(&link, 0, sizeof link);
        rte_eth_link_get_nowait(g_port, &link);
        if (link.link_status == RTE_ETH_LINK_UP) return 0;
        if (tsc_to_us(now_tsc() - t0) > timeout_s * 1e6) return -1;
        usleep(1000);
    }
    return -1;
}

uint64_t g_poll_gap_max, g_poll_gaps_100us, g_poll_gaps_1ms;
static uint64_t g_prev_poll;

int stack_poll(void) {
    struct rte_mbuf *ms[BURST];
    uint64_t t0 = now_tsc();
    if (g_prev_poll) {  /* how long the stack went unpolled (diagnostics) */
        uint64_t gap = t0 - g_prev_poll;
        if (gap > g_poll_gap_max) g_poll_gap_max = gap;
        if (gap > g_tsc_hz / 1e4) g_poll_gaps_100us++;
        if (gap > g_tsc_hz / 1e3) g_poll_gaps_1ms++;
    }
    uint16_t n = rte_eth_rx_burst(g_port, 0, ms, BURST);
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = ms[i];
        uint16_t len = rte_pktmbuf_data_len(m);
        struct pbuf *p = pbuf_alloc(PBUF_RAW, len, PBUF_POOL);
        if (p) {
            pbuf_take(p, rte_pktmbuf_mtod(m, void *), len);
            if (g_netif.input(p, &g_netif) != ERR_OK) pbuf_free(p);
        }
        rte_pktmbuf_free(m);
    }
    g_rx_frames += n;
    uint64_t t = now_tsc();
    if (t - g_last_timer_tsc >= g_timer_period) {
        g_last_timer_tsc = t;
        sys_check_timeouts();
    }
    if (g_ntx) stack_flush();
    g_prev_poll = now_tsc();
    return n;
}

void stack_close(void) {
    stack_flush();
    for (int i = 0; i < g_ntx; i++) rte_pktmbuf_free(g_txq[i]);
    g_ntx = 0;
    rte_eth_dev_stop(g_port);
    rte_eth_dev_close(g_port);
    rte_eal_cleanup();
}
