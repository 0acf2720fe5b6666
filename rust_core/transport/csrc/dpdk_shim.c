/*
 * dpdk_shim.c: the C side of quotewire's DPDK transport.
 *
 * DPDK's burst and mbuf functions (rte_eth_rx_burst, rte_eth_tx_burst,
 * rte_pktmbuf_alloc, rte_pktmbuf_mtod, ...) are static inline in its headers,
 * so Rust cannot link to them. This file wraps them in a handful of plain
 * functions, each called once per burst (or once per control-plane step),
 * never once per packet. It keeps no state of its own.
 *
 * Conventions: functions return 0 or a count on success and a negative errno
 * value on failure; qw_strerror() turns one into DPDK's message.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <rte_common.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>

/* The DPDK version the shim was compiled against, e.g. "DPDK 22.11.11". */
const char *qw_dpdk_version(void) { return rte_version(); }

/* rte_eal_init, restoring the caller's CPU affinity afterwards: EAL pins the
 * calling thread to the main lcore, but pinning the fast path is the
 * engine's decision, not the transport's. Returns the number of arguments
 * consumed, or -rte_errno. */
int qw_eal_init(int argc, char **argv) {
    cpu_set_t saved;
    int have_saved = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
    int rc = rte_eal_init(argc, argv);
    int err = rte_errno;
    if (have_saved) {
        pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
    }
    return rc < 0 ? -(err ? err : EINVAL) : rc;
}

/* DPDK's message for a (positive) errno value. */
const char *qw_strerror(int err) { return rte_strerror(err); }

/* Hot-plugs a device (e.g. "net_ring7" or "net_null0,size=64") after EAL init. */
int qw_dev_probe(const char *devargs) {
    int rc = rte_dev_probe(devargs);
    return rc < 0 ? rc : 0;
}

/* Detaches the device backing ethdev `port` (for hot-plugged vdevs). */
int qw_dev_remove(uint16_t port) {
    struct rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(port, &info);
    if (rc < 0) return rc;
    rc = rte_dev_remove(info.device);
    return rc < 0 ? rc : 0;
}

/* The ethdev port of a device name ("net_pcap0", "0000:3b:00.0"). */
int qw_port_by_name(const char *name, uint16_t *port) {
    return rte_eth_dev_get_port_by_name(name, port);
}

/* Number of usable ethdev ports. */
uint16_t qw_port_count(void) { return rte_eth_dev_count_avail(); }

/* A packet-buffer pool of `n` mbufs with `data_room` bytes each, on the
 * NUMA node of `port`. NULL on failure (see qw_last_errno). */
struct rte_mempool *qw_pool_create(const char *name, unsigned n, unsigned cache,
                                   uint16_t data_room, uint16_t port) {
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0) socket = (int)rte_socket_id();
    return rte_pktmbuf_pool_create(name, n, cache, 0, data_room, socket);
}

void qw_pool_free(struct rte_mempool *pool) { rte_mempool_free(pool); }

/* The errno of the last failed DPDK call on this thread. */
int qw_last_errno(void) { return rte_errno; }

/* Configures `queues` RX and TX queue pairs of `port` with `*rx_desc` /
 * `*tx_desc` descriptors (adjusted to the device's limits and written back),
 * all receiving into `pool`, then starts the port. */
int qw_port_start(uint16_t port, uint16_t queues, uint16_t *rx_desc, uint16_t *tx_desc,
                  struct rte_mempool *pool) {
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    int rc = rte_eth_dev_configure(port, queues, queues, &conf);
    if (rc < 0) return rc;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, rx_desc, tx_desc);
    if (rc < 0) return rc;
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0) socket = SOCKET_ID_ANY;
    for (uint16_t q = 0; q < queues; q++) {
        rc = rte_eth_rx_queue_setup(port, q, *rx_desc, (unsigned)socket, NULL, pool);
        if (rc < 0) return rc;
        rc = rte_eth_tx_queue_setup(port, q, *tx_desc, (unsigned)socket, NULL);
        if (rc < 0) return rc;
    }
    return rte_eth_dev_start(port);
}

/* Stops and closes `port`. */
void qw_port_stop(uint16_t port) {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
}

/* The port's MAC address into out[6]. */
int qw_port_mac(uint16_t port, uint8_t *out) {
    struct rte_ether_addr a;
    int rc = rte_eth_macaddr_get(port, &a);
    if (rc < 0) return rc;
    memcpy(out, a.addr_bytes, RTE_ETHER_ADDR_LEN);
    return 0;
}

/* Lets the multicast MACs in `macs` (n * 6 bytes) through the port's filter,
 * trying, in order: the exact multicast list (rte_eth_dev_set_mc_addr_list),
 * adding each as a secondary MAC (rte_eth_dev_mac_addr_add), all-multicast,
 * promiscuous. Returns which one worked (0..3), or a negative errno when the
 * device supports none (virtual devices that receive everything anyway). */
int qw_mc_filter(uint16_t port, const uint8_t *macs, uint32_t n) {
    struct rte_ether_addr list[64];
    if (n > 64) return -E2BIG;
    for (uint32_t i = 0; i < n; i++) memcpy(list[i].addr_bytes, macs + 6 * i, 6);
    if (n == 0) return 0;
    if (rte_eth_dev_set_mc_addr_list(port, list, n) == 0) return 0;
    uint32_t added = 0;
    while (added < n && rte_eth_dev_mac_addr_add(port, &list[added], 0) == 0) added++;
    if (added == n) return 1;
    while (added > 0) rte_eth_dev_mac_addr_remove(port, &list[--added]);
    if (rte_eth_allmulticast_enable(port) == 0) return 2;
    int rc = rte_eth_promiscuous_enable(port);
    return rc == 0 ? 3 : rc;
}

/* One receive burst. First frees the `prev` mbufs of the previous burst
 * still held in `mbufs` (the caller has finished reading them), then
 * receives up to `max` packets into `mbufs`, writing each packet's data
 * address and length into `data` / `len`. A packet spread over several
 * segments gets length 0: the caller drops it. */
uint16_t qw_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t prev,
                     const uint8_t **data, uint16_t *len, uint16_t max) {
    if (prev > 0) rte_pktmbuf_free_bulk(mbufs, prev);
    uint16_t n = rte_eth_rx_burst(port, queue, mbufs, max);
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = mbufs[i];
        data[i] = rte_pktmbuf_mtod(m, const uint8_t *);
        len[i] = m->nb_segs == 1 ? m->data_len : 0;
    }
    return n;
}

/* Frees `n` mbufs still held by the caller. */
void qw_free_bulk(struct rte_mbuf **mbufs, uint16_t n) {
    if (n > 0) rte_pktmbuf_free_bulk(mbufs, n);
}

/* Transmits `n` frames laid out back to back at `frames` with lengths
 * `lens`, in one allocation burst and one tx burst. Returns the number
 * queued for transmission (frames not taken by the device are freed), or
 * -ENOMEM when the pool is empty, -EMSGSIZE when a frame exceeds an mbuf. */
int qw_tx_frames(struct rte_mempool *pool, uint16_t port, uint16_t queue,
                 const uint8_t *frames, const uint16_t *lens, uint16_t n) {
    struct rte_mbuf *m[64];
    if (n > 64) n = 64;
    if (n == 0) return 0;
    if (rte_pktmbuf_alloc_bulk(pool, m, n) != 0) return -ENOMEM;
    size_t at = 0;
    for (uint16_t i = 0; i < n; i++) {
        char *dst = rte_pktmbuf_append(m[i], lens[i]);
        if (dst == NULL) {
            rte_pktmbuf_free_bulk(m, n);
            return -EMSGSIZE;
        }
        memcpy(dst, frames + at, lens[i]);
        at += lens[i];
    }
    uint16_t sent = rte_eth_tx_burst(port, queue, m, n);
    if (sent < n) rte_pktmbuf_free_bulk(m + sent, n - sent);
    return sent;
}

/* Mbufs of `pool` not in use (for leak checks and sizing). */
unsigned qw_pool_avail(const struct rte_mempool *pool) { return rte_mempool_avail_count(pool); }
