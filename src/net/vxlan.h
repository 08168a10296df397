/*
 * VXLAN (RFC 7348) for the distributed switch: the switch's frames between
 * hosts inside UDP, one VXLAN network (VNI) per VLAN.
 *
 *   outer UDP, destination port 4789 (IANA; configurable) carrying
 *   | flags 0x08 (I: VNI valid) | 3 reserved | VNI (24 bits) | 1 reserved |
 *   followed by the inner Ethernet frame (no FCS, no 802.1Q tag).
 *
 * The switch's side is one trunk port (vswitch_trunk_uplink_add): frames
 * of VLAN v leave it tagged (untagged for VLAN 0) and travel in VNI
 * vni_base + v without the tag; a packet of VNI n enters the switch as a
 * frame of VLAN n - vni_base. So a port group on host A and one of the same
 * VLAN on host B are one broadcast domain, and other VLANs are not.
 *
 * Peers (VTEPs) are a static list. Broadcast, multicast and unknown unicast
 * go to every peer (head-end replication); a unicast to a MAC learned from
 * a peer's packets (per VNI, with ageing) goes to that peer only. Packets
 * from an address that is not a peer are dropped: a host outside the list
 * can neither inject frames nor poison the table.
 *
 * Pure module (no sockets, no clock: the caller passes the time), not
 * thread-safe: one caller (the switch's thread) at a time. Packets from the
 * network are hostile: each drop has its own counter, nothing is trusted.
 */
#ifndef SV_NET_VXLAN_H
#define SV_NET_VXLAN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define VXLAN_PORT	4789
#define VXLAN_HLEN	8
#define VXLAN_FLAG_I	0x08
#define VXLAN_VNI_MAX	0xffffff
#define VXLAN_VNI_BASE	10000 /* default: VLAN 0 is VNI 10000 */
#define VXLAN_MAX_PEERS 32
#define VXLAN_FDB_SIZE	4096 /* entries; a power of two */
#define VXLAN_AGE_NS	(300ull * 1000000000ull)
/* A UDP datagram over IPv4 carries at most 65507 bytes. */
#define VXLAN_MAX_INNER (65507 - VXLAN_HLEN)

struct vxlan;

struct vxlan_config {
	struct sockaddr_in local; /* the address and port this VTEP uses */
	struct sockaddr_in peers[VXLAN_MAX_PEERS];
	unsigned n_peers;
	uint32_t vni_base; /* VNI of VLAN 0; VLAN v is vni_base + v */
};

struct vxlan_stats {
	uint64_t tx_packets, tx_bytes; /* datagrams the caller should send */
	uint64_t tx_flooded;	       /* frames replicated to every peer */
	uint64_t tx_dropped;	       /* bad frame from the switch, no peer */
	uint64_t rx_packets, rx_bytes; /* accepted from peers */
	uint64_t rx_not_peer;	       /* from an address not in the list */
	uint64_t rx_short;	       /* shorter than header + Ethernet */
	uint64_t rx_bad_flags;	       /* I flag not set */
	uint64_t rx_bad_vni;	       /* no VLAN of ours (outside the base) */
	uint64_t rx_bad_frame;	       /* inner: tagged, too long, bad src */
	uint64_t fdb_learned;	       /* new or moved (VNI, MAC) entries */
};

/* Parse "A.B.C.D" or "A.B.C.D:PORT" (port 1..65535, default def_port).
 * 0 or -EINVAL (err names the value; what prefixes it). */
int vxlan_parse_addr(const char *s, uint16_t def_port, struct sockaddr_in *out,
		     const char *what, struct error *err);
/* Format "A.B.C.D:PORT" into buf. */
void vxlan_format_addr(const struct sockaddr_in *a, char *buf, size_t size);

/* A VTEP with cfg (peers equal to cfg->local are left out, so one list
 * can name every host). NULL with err set: bad VNI base, no memory. */
struct vxlan *vxlan_new(const struct vxlan_config *cfg, struct error *err);
void vxlan_free(struct vxlan *vx);
/* Replace the peer list (as in vxlan_new: the local address and duplicates
 * left out); the learned addresses are forgotten. Returns the number of
 * peers kept, or -EINVAL for more than VXLAN_MAX_PEERS. */
int vxlan_set_peers(struct vxlan *vx, const struct sockaddr_in *peers,
		    unsigned n);
const struct vxlan_config *vxlan_config(const struct vxlan *vx);

/* Write the 8-byte header for vni into hdr. */
void vxlan_header(uint8_t hdr[VXLAN_HLEN], uint32_t vni);

/* What to send for one frame the switch hands to the uplink. */
struct vxlan_tx {
	uint8_t hdr[VXLAN_HLEN];
	const uint8_t *inner; /* the frame without its tag */
	size_t inner_len;
	unsigned n_dst;
	unsigned dst[VXLAN_MAX_PEERS]; /* indices into the config's peers */
};

/* Encapsulate a frame from the switch (tagged for VLAN != 0). Fills tx;
 * returns the number of peers to send to (0: dropped, counted). tx->inner
 * may point into vx's scratch buffer, valid until the next call. */
unsigned vxlan_encap(struct vxlan *vx, const uint8_t *frame, size_t len,
		     uint64_t now_ns, struct vxlan_tx *tx);

/* Decapsulate a datagram pkt from from. On success returns 0 and *frame,
 * *frame_len the inner frame, tagged for its VLAN (VLAN 0 untagged), in
 * vx's scratch buffer (valid until the next call), and learns the inner
 * source MAC on that peer. Otherwise a negative errno (-EPERM not a peer,
 * -EINVAL malformed, -ENOENT VNI not ours), counted. */
int vxlan_decap(struct vxlan *vx, const uint8_t *pkt, size_t len,
		const struct sockaddr_in *from, uint64_t now_ns,
		const uint8_t **frame, size_t *frame_len);

/* The peer index a (vni, mac) was learned on, or -1. */
int vxlan_fdb_lookup(const struct vxlan *vx, uint32_t vni, const uint8_t mac[6],
		     uint64_t now_ns);
void vxlan_stats(const struct vxlan *vx, struct vxlan_stats *st);

#endif
