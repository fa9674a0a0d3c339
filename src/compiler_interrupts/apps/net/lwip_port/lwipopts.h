/* lwipopts.h -- lwIP configuration of the net application: NO_SYS raw API, IPv4 + TCP only,
 * pools sized for a few hundred keep-alive connections at ~100k requests/s. */
#ifndef NET_LWIPOPTS_H
#define NET_LWIPOPTS_H

#define NO_SYS                  1
#define SYS_LIGHTWEIGHT_PROT    0
#define LWIP_SOCKET             0
#define LWIP_NETCONN            0
#define LWIP_RAW                0
#define LWIP_UDP                0
#define LWIP_DHCP               0
#define LWIP_DNS                0
#define LWIP_IGMP               0
#define LWIP_ICMP               1
#define LWIP_IPV4               1
#define LWIP_IPV6               0
#define LWIP_ARP                1
#define LWIP_ETHERNET           1
#define LWIP_TCP                1
#define LWIP_ALTCP              0
#define LWIP_STATS              0
#define LWIP_NETIF_LOOPBACK     0
#define LWIP_HAVE_LOOPIF        0
#define LWIP_SINGLE_NETIF       0  /* 1 would refuse routes to 127.x: we use 127.77.0.0/24 */
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK   0
#define IP_REASSEMBLY           0
#define IP_FRAG                 0
#define ETHARP_SUPPORT_STATIC_ENTRIES 1

#define MEM_ALIGNMENT           8
#define MEM_SIZE                (16 * 1024 * 1024)
#define MEMP_NUM_PBUF           4096
#define MEMP_NUM_TCP_PCB        512
#define MEMP_NUM_TCP_PCB_LISTEN 4
#define MEMP_NUM_TCP_SEG        8192
#define PBUF_POOL_SIZE          8192
#define PBUF_POOL_BUFSIZE       1600

#define TCP_MSS                 1460
#define TCP_WND                 (32 * TCP_MSS)
#define TCP_SND_BUF             (32 * TCP_MSS)
#define TCP_SND_QUEUELEN        (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_QUEUE_OOSEQ         1
#define LWIP_TCP_KEEPALIVE      0
#define TCP_LISTEN_BACKLOG      0

#define LWIP_CHECKSUM_ON_COPY   1
#define LWIP_NOASSERT_ON_ERROR  0
/* DPDK pulls in <netinet/in.h>: keep the C library's htons/htonl macros */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

#endif
