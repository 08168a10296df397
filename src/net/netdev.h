/*
 * Network back ends: where Ethernet frames of a virtual NIC go.
 *
 * A netdev connects one front end (a virtual NIC such as virtio-net) to the
 * outside: user-mode NAT (slirp, user.h) today, a virtual switch port, tap
 * or a UDP tunnel later. Every back end is built on this core, which owns
 *   - one thread per netdev running a poll() loop (the back end adds its
 *     file descriptors and timeouts to it),
 *   - an eventfd to wake that thread,
 *   - a bounded queue of frames toward the guest for when the front end has
 *     no receive buffers (NETDEV_RX_QUEUE_MAX frames, then drops),
 *   - a bounded queue of frames from the guest sent from other threads.
 *
 * Front end side (the "client"):
 *   netdev_attach(nd, &client)   register receive() and poll() callbacks;
 *   netdev_send(nd, iov, n)      guest -> outside, one whole Ethernet frame;
 *   netdev_rx_ready(nd)          the guest posted receive buffers: retry
 *                                delivering queued frames;
 *   netdev_kick(nd)              run client->poll() on the netdev thread
 *                                (the front end's tx work happens there, so
 *                                the vCPU thread only kicks).
 *
 * Threads. All client callbacks run on the netdev thread, one at a time,
 * never re-entered: a frame the back end produces while a callback runs (a
 * slirp ARP reply to a frame sent from poll()) is queued and delivered after
 * the callback returns. netdev_send() from the netdev thread goes straight to
 * the back end; from any other thread it is copied into the send queue.
 * netdev_rx_ready(), netdev_kick(), netdev_send() and netdev_get_stats() may
 * be called from any thread. netdev_attach/detach/destroy from any thread but
 * the netdev thread; detach returns only when no callback is running.
 *
 * Ownership: the creator of a netdev (e.g. net_user_create) owns it and
 * frees it with netdev_destroy(), after detaching the client.
 */
#ifndef SV_NET_NETDEV_H
#define SV_NET_NETDEV_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/error.h"

/* Largest Ethernet frame (without FCS) a netdev carries: 64 KiB MTU plus the
 * Ethernet and VLAN headers. */
#define NETDEV_MAX_FRAME (65535 + 18)
/* Frames queued toward a guest that has no receive buffers. */
#define NETDEV_RX_QUEUE_MAX 256
/* Frames queued from threads other than the netdev thread. */
#define NETDEV_TX_QUEUE_MAX 256

struct netdev;

/* What a front end registers. opaque is passed to each callback. */
struct netdev_client {
	/* Deliver one frame to the guest (netdev thread). Return 0 when
	 * taken, -EAGAIN when there is no room now (the frame stays queued
	 * and is offered again after netdev_rx_ready()), any other negative
	 * errno to drop it. */
	int (*receive)(void *opaque, const struct iovec *iov, int n_iov);
	/* netdev_kick() was called: do pending work (netdev thread). */
	void (*poll)(void *opaque);
	void *opaque;
	/* One round of a self-announcement (netdev_announce; netdev thread;
	 * may be NULL: no announce). Fill mac with the NIC's current address
	 * and do the front end's part (virtio-net asks its guest to announce
	 * itself); return false to send nothing this round. */
	bool (*announce)(void *opaque, uint8_t mac[6]);
};

/* Self-announcement after a VM moved (QEMU's announce-self): rounds of a
 * RARP broadcast from the NIC's MAC so switches relearn its port. Round 1
 * at once, then after min(initial_ms + k * step_ms, max_ms) for k = 0.. */
struct netdev_announce_params {
	unsigned rounds;     /* 1..NETDEV_ANNOUNCE_MAX_ROUNDS */
	unsigned initial_ms; /* each at most NETDEV_ANNOUNCE_MAX_MS */
	unsigned max_ms;
	unsigned step_ms;
};
/* QEMU's defaults. */
#define NETDEV_ANNOUNCE_DEFAULTS \
	{                        \
		5, 50, 550, 100  \
	}
#define NETDEV_ANNOUNCE_MAX_ROUNDS 1000
#define NETDEV_ANNOUNCE_MAX_MS	   100000
/* A self-announce frame is 60 bytes (the Ethernet minimum without FCS). */
#define NETDEV_RARP_LEN 60

/* Counters, monotonically increasing. rx = toward the guest. */
struct netdev_stats {
	uint64_t tx_frames, tx_bytes, tx_dropped;
	uint64_t rx_frames, rx_bytes, rx_dropped;
};

/* ---- front end API -------------------------------------------------------- */

/* Register the front end; replaces any previous one. */
void netdev_attach(struct netdev *nd, const struct netdev_client *client);
/* Unregister it; on return no client callback runs or will run. */
void netdev_detach(struct netdev *nd);
/* Send one frame guest -> outside. 0, -EMSGSIZE (longer than
 * NETDEV_MAX_FRAME or shorter than an Ethernet header), -ENOBUFS (send queue
 * full: dropped). Any thread. */
int netdev_send(struct netdev *nd, const struct iovec *iov, int n_iov);
/* The front end can take frames again. Any thread. */
void netdev_rx_ready(struct netdev *nd);
/* Schedule client->poll() on the netdev thread. Any thread. */
void netdev_kick(struct netdev *nd);
/* Start (or restart) a self-announcement with params p (NULL: the
 * defaults): the rounds run on the netdev thread's timer, each calling
 * client->announce and then sending the RARP frame to the back end (it
 * counts as a frame sent). -EINVAL (err set) for params out of range. Any
 * thread; never blocks on the rounds. */
int netdev_announce(struct netdev *nd, const struct netdev_announce_params *p,
		    struct error *err);
/* Build the self-announce frame of mac into buf (NETDEV_RARP_LEN bytes):
 * broadcast, ethertype 0x8035 (RARP), a "reverse request" (RFC 903) with
 * sender and target hardware address mac and both protocol addresses
 * 0.0.0.0, zero padded. Returns NETDEV_RARP_LEN. Pure. */
size_t netdev_rarp_frame(uint8_t *buf, const uint8_t mac[6]);
/* Copy the counters. Any thread. */
void netdev_get_stats(struct netdev *nd, struct netdev_stats *st);
/* Back-end kind ("user", ...) and instance name, for messages. */
const char *netdev_kind(const struct netdev *nd);
const char *netdev_name(const struct netdev *nd);
/* Stop the thread, free queued frames and the back end. NULL is a no-op. */
void netdev_destroy(struct netdev *nd);

/* ---- back end API ---------------------------------------------------------- */

/* The file descriptors one loop iteration polls. */
struct netdev_pollset {
	struct pollfd *fds;
	int n, cap;
};

/* Add fd; returns its index for netdev_pollset_revents, or -1 (no memory:
 * the fd is not polled this round). */
int netdev_pollset_add(struct netdev_pollset *ps, int fd, short events);
/* revents of the fd at idx (0 for a bad idx). */
short netdev_pollset_revents(const struct netdev_pollset *ps, int idx);

/* Implemented by each back end; be is the back end's state. All but destroy
 * run on the netdev thread. */
struct netdev_backend_ops {
	const char *kind;
	/* A frame from the guest (contiguous, 14..NETDEV_MAX_FRAME bytes). */
	void (*output)(void *be, const uint8_t *frame, size_t len);
	/* Before poll(): add fds, lower *timeout_ms (-1 = infinite) to the
	 * next timer. */
	void (*poll_prepare)(void *be, struct netdev_pollset *ps,
			     int *timeout_ms);
	/* After poll() (error: poll failed): handle events and timers. */
	void (*poll_dispatch)(void *be, struct netdev_pollset *ps, bool error);
	/* Free the back end (thread already stopped). */
	void (*destroy)(void *be);
};

/* Create the core of a netdev (thread not started yet). name is copied. */
struct netdev *netdev_new(const struct netdev_backend_ops *ops, void *be,
			  const char *name, struct error *err);
/* Start the netdev thread. 0 or negative errno (err set). */
int netdev_start(struct netdev *nd, struct error *err);
/* Hand one frame toward the guest (netdev thread only): to the client now,
 * or queued (bounded) when it has no room; dropped with no client. */
void netdev_deliver(struct netdev *nd, const uint8_t *frame, size_t len);
/* Wake the netdev thread (it runs a loop iteration). Any thread. */
void netdev_wake(struct netdev *nd);
/* True on the netdev thread. */
bool netdev_on_thread(const struct netdev *nd);
/* The back end's state if nd runs ops (its kind), else NULL. Any thread. */
void *netdev_backend(struct netdev *nd, const struct netdev_backend_ops *ops);
/* n frames the back end took from the guest but could not send (its peer
 * full or gone): counted as tx_dropped. Any thread. */
void netdev_count_tx_dropped(struct netdev *nd, uint64_t n);
/* For tests and fuzzers: run the loop's work on the calling thread, without
 * sleeping, as if it were the netdev thread. Only for a netdev that was
 * never started (a no-op otherwise). */
void netdev_run_once(struct netdev *nd);

#endif
