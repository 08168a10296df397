/*
 * virtio-net back end (virtio 1.2, section 5.1): one receive queue (0) and
 * one transmit queue (1) connected to a netdev (src/net): user-mode NAT by
 * default, any other netdev back end (a virtual switch port) when given.
 *
 * Ownership: the board fills a struct virtio_net_config (defaults from
 * virtio_net_config_init, then what the VM definition says: vmm/vmdef.h
 * parses "--net SPEC"), calls
 * virtio_net_create() when cfg.backend != VIRTIO_NET_BACKEND_NONE, passes
 * virtio_net_dev_ops(n) and n to virtio_mmio_create(), and at the end
 * destroys the transport first and the device after it. A netdev the device
 * created (user) is destroyed with it; one passed in cfg.netdev is only
 * detached.
 *
 * Threads: the guest's kicks (vCPU thread) only wake the netdev thread; both
 * queues are served there (transmit in the netdev's poll callback, receive
 * in its receive callback). reset() waits until that thread is out of the
 * device. virtio_net_parse_mac and virtio_net_config_init are pure.
 */
#ifndef SV_VIRTIO_NET_H
#define SV_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "net/netdev.h"
#include "net/user.h"
#include "util/error.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM_BIT		0
#define VIRTIO_NET_F_GUEST_CSUM_BIT	1
#define VIRTIO_NET_F_MTU_BIT		3
#define VIRTIO_NET_F_MAC_BIT		5
#define VIRTIO_NET_F_MRG_RXBUF_BIT	15
#define VIRTIO_NET_F_STATUS_BIT		16
#define VIRTIO_NET_F_CTRL_VQ_BIT	17
#define VIRTIO_NET_F_CTRL_RX_BIT	18
#define VIRTIO_NET_F_GUEST_ANNOUNCE_BIT 21
#define VIRTIO_NET_F_CTRL_MAC_ADDR_BIT	23

/* config status bits (5.1.4) */
#define VIRTIO_NET_S_LINK_UP  1
#define VIRTIO_NET_S_ANNOUNCE 2

/* Control queue (5.1.6.5): class, command, data..., then the ack byte. */
#define VIRTIO_NET_OK		      0
#define VIRTIO_NET_ERR		      1
#define VIRTIO_NET_CTRL_RX	      0
#define VIRTIO_NET_CTRL_RX_PROMISC    0
#define VIRTIO_NET_CTRL_RX_ALLMULTI   1
#define VIRTIO_NET_CTRL_MAC	      1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET  1
#define VIRTIO_NET_CTRL_ANNOUNCE      3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK  0
/* Entries of each MAC filter table (unicast, multicast) the device keeps;
 * a longer table from the driver accepts every address of its kind. */
#define VIRTIO_NET_MAC_TABLE_MAX 64

#define VIRTIO_NET_QUEUE_SIZE  256
#define VIRTIO_NET_CONFIG_SIZE 12 /* mac, status, max_vq_pairs, mtu */

/* 52:54:00:12:34:56 + slot index in the last byte, as QEMU does. */
#define VIRTIO_NET_DEFAULT_MAC                     \
	{                                          \
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56 \
	}

enum virtio_net_backend {
	VIRTIO_NET_BACKEND_NONE,   /* "--net none": no device */
	VIRTIO_NET_BACKEND_USER,   /* user-mode NAT (libslirp) */
	VIRTIO_NET_BACKEND_SWITCH, /* a vSwitch port (net/swport.h) */
};

struct virtio_net_config {
	enum virtio_net_backend backend;
	char id[16]; /* "net0": messages and the netdev thread's name */
	uint8_t mac[6];
	struct net_user_config user; /* backend == USER; user.mtu: the NIC's
					MTU for SWITCH too (capped by the
					switch's) */
	char switch_path[108];	     /* backend == SWITCH: its socket */
	char portgroup[32];	     /* backend == SWITCH: "" = default */
	/* If not NULL: use this netdev instead of creating one (not owned;
	 * its MTU is taken to be user.mtu or 1500). */
	struct netdev *netdev;
};

struct virtio_net;

/* Counters (any thread). rx = toward the guest. */
struct virtio_net_stats {
	struct netdev_stats nd; /* frames through the back end */
	uint64_t tx_bad;	/* malformed or unsupported frames dropped */
	uint64_t rx_too_big;	/* frames larger than the guest's buffers */
	uint64_t rx_filtered;	/* frames the receive filter discarded */
	uint64_t announces;	/* self-announce rounds run */
};

/* Defaults for NIC number index: user back end, MAC 52:54:00:12:34:56+index,
 * no host forwards, MTU 1500, id "net<index>". */
void virtio_net_config_init(struct virtio_net_config *cfg, unsigned index);
/* Parse "52:54:00:12:34:56" (unicast, not all zero). 0 or -EINVAL. */
int virtio_net_parse_mac(const char *s, uint8_t mac[6], struct error *err);

/* Create the device and (unless cfg->netdev) its back end. NULL with err
 * set on failure (e.g. a host forward's port is in use). */
struct virtio_net *virtio_net_create(const struct virtio_net_config *cfg,
				     struct error *err);
/* Free the device; the transport must be destroyed (reset) first. */
void virtio_net_destroy(struct virtio_net *n);
/* Back-end ops for virtio_mmio_create() (opaque = n). */
const struct virtio_dev_ops *virtio_net_dev_ops(struct virtio_net *n);
/* The netdev the device uses. */
struct netdev *virtio_net_netdev(struct virtio_net *n);
/* Counters (any thread). */
void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *st);

/* Announce the NIC (after a restore or a move; docs/net.md): rounds (p,
 * NULL = QEMU's defaults) of a RARP frame from its MAC into the back end
 * and, when the driver negotiated GUEST_ANNOUNCE, VIRTIO_NET_S_ANNOUNCE
 * with a configuration interrupt so the guest announces itself. Runs on
 * the netdev thread's timer; any thread; 0 or -EINVAL (bad params). */
int virtio_net_announce(struct virtio_net *n,
			const struct netdev_announce_params *p,
			struct error *err);

/* Handle one transmit request (netdev thread; exposed for unit tests and
 * fuzzing): strips the virtio_net_hdr, completes a partial checksum
 * (VIRTIO_NET_F_CSUM) and sends the frame. 0 = sent, 1 = dropped (bad
 * frame), -EINVAL = malformed request (shorter than the header). */
int virtio_net_handle_tx(struct virtio_net *n, const struct virtq_req *req);

#endif
