/*
 * The virtual switch (vSwitch): layer-2 forwarding between the ports of
 * one switch, as an ESXi standard switch does it.
 *
 *   - Port groups: every port belongs to one named port group that carries
 *     a VLAN id: 0 = no VLAN (untagged), 1..4094 = an access VLAN (the
 *     switch tags and untags, the guest never sees the tag; "VST"), 4095 =
 *     a trunk (the guest tags its own frames; "VGT"; untagged frames are
 *     VLAN 0).
 *   - MAC learning per (VLAN, MAC) with ageing (VSWITCH_AGE_NS); broadcast,
 *     multicast and unknown unicast are flooded to every other port of the
 *     same VLAN; a known unicast goes to one port only.
 *   - Security policies per port group: promiscuous (the port also gets a
 *     copy of every unicast of its VLAN), forged transmits (when rejected,
 *     a frame whose source MAC is not the port's MAC is dropped), MAC
 *     changes (when rejected, the port receives unicast only for its own
 *     MAC: a guest that changed its address hears nothing).
 *   - MTU: frames whose payload exceeds the switch MTU are dropped.
 *   - Traffic shaping per port group, both directions (shaper.h).
 *   - Counters per port.
 *
 * This is a pure module: no threads, no clock (the caller passes the time),
 * no sockets. The switch service (switch_svc.h) owns one and serialises
 * every call; nothing here may be called concurrently on one switch.
 *
 * Frames are whole Ethernet frames without FCS, 14..VSWITCH_MAX_FRAME
 * bytes; whatever a port sends is guest-controlled and checked here.
 */
#ifndef SV_NET_VSWITCH_H
#define SV_NET_VSWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/shaper.h"
#include "util/error.h"

#define VSWITCH_NAME_MAX       31
#define VSWITCH_MAX_PORTS      256
#define VSWITCH_MAX_PORTGROUPS 64
#define VSWITCH_VLAN_NONE      0
#define VSWITCH_VLAN_TRUNK     4095
#define VSWITCH_MTU_MIN	       576
#define VSWITCH_MTU_MAX	       65500
#define VSWITCH_MTU_DEFAULT    1500
/* Largest frame: the MTU maximum plus an Ethernet and an 802.1Q header. */
#define VSWITCH_MAX_FRAME (VSWITCH_MTU_MAX + 18)
/* A learned address is forgotten after 300 s without traffic (ESXi and
 * Linux bridge default). */
#define VSWITCH_AGE_NS	  (300ull * 1000000000ull)
#define VSWITCH_MAC_TABLE 4096 /* entries; a power of two */

struct vswitch;

struct vswitch_policy {
	bool promiscuous;      /* default false (reject) */
	bool mac_changes;      /* default true (accept) */
	bool forged_transmits; /* default true (accept) */
};

struct vswitch_portgroup_config {
	char name[VSWITCH_NAME_MAX + 1];
	uint16_t vlan; /* 0, 1..4094 or VSWITCH_VLAN_TRUNK */
	struct vswitch_policy policy;
	struct shaper_config shape_tx; /* frames the VM sends */
	struct shaper_config shape_rx; /* frames toward the VM */
};

/* Counters of one port; tx = from the VM into the switch. */
struct vswitch_port_stats {
	uint64_t tx_frames, tx_bytes;
	uint64_t rx_frames, rx_bytes;
	uint64_t tx_dropped; /* bad, forged, over MTU, VLAN mismatch, shaped */
	uint64_t rx_dropped; /* shaped toward the VM */
	uint64_t tx_shaped, rx_shaped; /* of those drops, by the shaper */
};

/* Where the switch hands a frame for a port: the port's owner sends it to
 * its VM. Called from inside vswitch_input (the caller's thread). */
typedef void (*vswitch_output_fn)(void *opaque, const uint8_t *frame,
				  size_t len);

/* A port group config with the defaults (vlan 0, policy as above, no
 * shaping). name is copied (truncated to VSWITCH_NAME_MAX). */
void vswitch_portgroup_init(struct vswitch_portgroup_config *pg,
			    const char *name);

/* Check a name: 1..31 of [A-Za-z0-9_.-], not starting with '.' or '-'.
 * what names the thing in the message ("switch", "port group"). */
int vswitch_check_name(const char *name, const char *what, struct error *err);

/* Parse a CLI port group spec (vswitch_opts.c):
 *   NAME[,vlan=N][,promiscuous=on|off][,mac-changes=on|off]
 *       [,forged-transmits=on|off][,shape-tx=AVG:PEAK:BURST][,shape-rx=...]
 * shaping in ESXi's units (Kbit/s, Kbit/s, KB). 0 or -EINVAL (err). */
int vswitch_portgroup_parse(const char *spec,
			    struct vswitch_portgroup_config *pg,
			    struct error *err);

/* A switch with no port group. NULL when out of memory. */
struct vswitch *vswitch_new(const char *name, uint32_t mtu);
void vswitch_free(struct vswitch *sw);
const char *vswitch_name(const struct vswitch *sw);
uint32_t vswitch_mtu(const struct vswitch *sw);
/* Change the MTU (VSWITCH_MTU_MIN..MAX); applies to the next frame. */
int vswitch_set_mtu(struct vswitch *sw, uint32_t mtu, struct error *err);

/* Add a port group or, when one of that name exists, change it (live:
 * ports keep their connection; learned addresses of a changed VLAN are
 * flushed). -EINVAL bad name/VLAN/shaping, -ENOSPC too many. */
int vswitch_portgroup_set(struct vswitch *sw,
			  const struct vswitch_portgroup_config *pg,
			  struct error *err);
/* Remove a port group: -ENOENT, -EBUSY while ports use it. */
int vswitch_portgroup_del(struct vswitch *sw, const char *name,
			  struct error *err);
/* The port groups: n_out is set; returns a pointer valid until the next
 * change. */
const struct vswitch_portgroup_config *vswitch_portgroups(
	const struct vswitch *sw, unsigned *n_out);

/* Connect a port to port group pg with the VM's MAC. Returns the port id
 * (>= 0) or -ENOENT (no such port group), -ENOSPC. */
int vswitch_port_add(struct vswitch *sw, const char *pg, const uint8_t mac[6],
		     vswitch_output_fn out, void *opaque, struct error *err);
/* Connect an uplink port (to the host's network: a TAP) to port group pg.
 * An uplink carries any source MAC (the LAN's) and receives unicast for
 * any MAC: the forged-transmit and MAC-change policies do not apply to it.
 * Returns the port id or as vswitch_port_add. */
int vswitch_uplink_add(struct vswitch *sw, const char *pg,
		       vswitch_output_fn out, void *opaque, struct error *err);
/* Connect an uplink port that belongs to no port group and carries every
 * VLAN as a trunk (tagged, VLAN 0 untagged): the distributed switch's VXLAN
 * uplink (vxlan.h). Its port group name is "". Returns the port id or
 * -ENOSPC. */
int vswitch_trunk_uplink_add(struct vswitch *sw, vswitch_output_fn out,
			     void *opaque, struct error *err);
/* Disconnect a port; its learned addresses are forgotten. */
void vswitch_port_del(struct vswitch *sw, int port);
/* The port group name of a port, NULL for a bad id. */
const char *vswitch_port_portgroup(const struct vswitch *sw, int port);
int vswitch_port_stats(const struct vswitch *sw, int port,
		       struct vswitch_port_stats *st);
unsigned vswitch_port_count(const struct vswitch *sw);
/* Iterate: the next connected port id after port (-1 to start), or -1. */
int vswitch_port_next(const struct vswitch *sw, int port);

/* A frame from the VM on port: switch it. now_ns is a monotonic time (for
 * ageing and shaping). Returns the number of ports it was delivered to
 * (0 when dropped or nobody is there). */
int vswitch_input(struct vswitch *sw, int port, const uint8_t *frame,
		  size_t len, uint64_t now_ns);

/* The port a (vlan, mac) was learned on, or -1 (tests, diagnostics). */
int vswitch_lookup(const struct vswitch *sw, uint16_t vlan,
		   const uint8_t mac[6], uint64_t now_ns);

#endif
