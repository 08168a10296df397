/*
 * The switch service: one vSwitch (vswitch.h) served on a unix socket.
 *
 * Each VM NIC on the switch is one SOCK_SEQPACKET connection to the
 * service's socket (protocol in swproto.h); the VM's side is swport.h.
 * Frames between two VMs go VM -> socket -> this service -> socket -> VM:
 * they never pass through the host's network stack.
 *
 * The service owns a thread running a poll() loop over the listening
 * socket and every port connection; it alone calls vswitch_input. The
 * configuration calls below may be called from any thread: they take the
 * service's lock, which the thread holds while it switches a batch of
 * frames, so a change applies between two frames without stopping ports
 * ("applied without restarting VMs").
 *
 * The socket is created with mode 0600 (the owner's VMs only); an existing
 * socket file at the path is replaced only when nobody listens on it.
 *
 * Ownership: switch_svc_start returns the service; switch_svc_stop closes
 * every port (the VMs see their link go away), removes the socket file and
 * frees everything.
 */
#ifndef SV_NET_SWITCH_SVC_H
#define SV_NET_SWITCH_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/user.h"
#include "net/vswitch.h"
#include "net/vxlan.h"
#include "util/error.h"

#define SWITCH_SVC_DEFAULT_PG "default"

struct switch_svc;

/* A connected port as seen from outside. */
struct switch_port_info {
	int id;
	char portgroup[VSWITCH_NAME_MAX + 1];
	uint8_t mac[6];
	struct vswitch_port_stats st;
	uint64_t sock_dropped; /* toward the VM: its socket was full */
	uint64_t cpu_ns;       /* the switch thread's CPU time spent on the
				* frames this port sent (recv, forwarding,
				* the sends to their destinations) */
};

/* Start a switch named name (vswitch_check_name) with MTU mtu (0 = the
 * default) listening on sock_path, with one port group "default" (VLAN 0).
 * NULL with err set (bad name, path in use, no memory). */
struct switch_svc *switch_svc_start(const char *name, const char *sock_path,
				    uint32_t mtu, struct error *err);
/* Stop and free (NULL: no-op). Any thread but the service's. */
void switch_svc_stop(struct switch_svc *svc);

const char *switch_svc_name(const struct switch_svc *svc);
const char *switch_svc_path(const struct switch_svc *svc);
uint32_t switch_svc_mtu(struct switch_svc *svc);
int switch_svc_set_mtu(struct switch_svc *svc, uint32_t mtu, struct error *err);

/* Give the switch a bridged uplink: a TAP device (net/tap.h) attached to
 * the existing Linux bridge `bridge`, as a port of port group pg (its VLAN
 * decides what the LAN sees: an access VLAN untagged, a trunk tagged).
 * The TAP is named sv-NAME (truncated to 15 characters) and goes away with
 * the switch. -EALREADY if it has one; errors of tap_open (-EPERM without
 * CAP_NET_ADMIN, -ENODEV without such a bridge). */
int switch_svc_set_uplink_bridge(struct switch_svc *svc, const char *bridge,
				 const char *pg, struct error *err);
/* Which bridge a bridged uplink joins: a Linux bridge, an Open vSwitch
 * bridge (net/ovs.h: the TAP becomes an OVS port of the uplink port
 * group's VLAN, removed again by switch_svc_stop), or whichever `bridge`
 * is (a Linux bridge first, then OVS if it runs). */
enum switch_bridge_kind {
	SWITCH_BRIDGE_AUTO,
	SWITCH_BRIDGE_LINUX,
	SWITCH_BRIDGE_OVS,
};
/* switch_svc_set_uplink_bridge with the bridge's kind. Blocks while
 * ovs-vsctl runs (seconds at most); -ENODEV without such a bridge,
 * -EEXIST when OVS has a port of the TAP's name that is not this
 * switch's, -ENOENT when OVS was asked for but does not run. */
int switch_svc_set_uplink_bridge_kind(struct switch_svc *svc,
				      const char *bridge,
				      enum switch_bridge_kind kind,
				      const char *pg, struct error *err);
/* "linux" or "ovs" for a bridged uplink, else "". */
const char *switch_svc_bridge_kind(struct switch_svc *svc);
/* Give the switch a routed uplink: a TAP device sv-NAME, not bridged,
 * with the host's address addr/prefix (network byte order) on the
 * switch's subnet, so the host routes between that subnet and its own
 * networks (forwarding and masquerade are the host's: not set here). With
 * dhcp, a dnsmasq (Debian's dnsmasq-base) serves leases on it from the
 * upper half of the subnet (the lower half if addr is there); it is
 * stopped with the switch. Errors as for the bridge, -ENOENT without
 * dnsmasq. */
int switch_svc_set_uplink_routed(struct switch_svc *svc, uint32_t addr,
				 unsigned prefix, bool dhcp, const char *pg,
				 struct error *err);
/* Masquerade the routed uplink's subnet (nft_masq.h): the daemon's own
 * nftables chain masq-NAME in table ip softvisor, removed by
 * switch_svc_stop. Call after switch_svc_set_uplink_routed. -EINVAL
 * without a routed uplink, -EALREADY if set, nftables' errors (-EPERM). */
int switch_svc_set_masquerade(struct switch_svc *svc, struct error *err);
/* Give the switch a NAT uplink: user-mode NAT (libslirp, net/user.h) as a
 * port of port group pg, shared by the VMs of that port group: they get
 * DHCP leases from 10.0.2.15 on, reach the outside through the host's
 * sockets, and cfg's host forwards reach them. -EALREADY if it has an
 * uplink; errors of net_user_create (a host port in use). */
int switch_svc_set_uplink_nat(struct switch_svc *svc,
			      const struct net_user_config *cfg, const char *pg,
			      struct error *err);
/* Make the switch distributed: its uplink is a VXLAN tunnel endpoint
 * (vxlan.h) on a UDP socket bound to cfg->local, a trunk port carrying
 * every VLAN to the peers (VNI = cfg->vni_base + VLAN). Frames stay out of
 * the host's network stack but for the UDP datagrams; no privilege is
 * needed (but for a port below 1024). -EALREADY if it has an uplink,
 * -EADDRINUSE, -EINVAL bad config. */
int switch_svc_set_uplink_vxlan(struct switch_svc *svc,
				const struct vxlan_config *cfg,
				struct error *err);
/* Replace the VXLAN peers (vxlan_set_peers), live. -ENOENT when not
 * distributed. *n_out (may be NULL) gets the number kept. */
int switch_svc_set_vxlan_peers(struct switch_svc *svc,
			       const struct sockaddr_in *peers, unsigned n,
			       unsigned *n_out);
/* Copy the current peers (up to VXLAN_MAX_PEERS) into out; their
 * number, or -ENOENT. */
int switch_svc_vxlan_peers(struct switch_svc *svc, struct sockaddr_in *out);
/* The VXLAN counters: 0, or -ENOENT when the switch is not distributed. */
int switch_svc_vxlan_stats(struct switch_svc *svc, struct vxlan_stats *st);
/* CPU time the switch's thread has used (switching cost), ns; 0 if the
 * clock cannot be read. Any thread. */
uint64_t switch_svc_cpu_ns(struct switch_svc *svc);
/* The uplink port's counters (tx: into the switch from the host's side or
 * the VXLAN peers; rx_dropped counts what its device refused). 0, or
 * -ENOENT without an uplink. */
int switch_svc_uplink_stats(struct switch_svc *svc,
			    struct vswitch_port_stats *st);
/* The part of it spent on frames from the uplink (TAP or VXLAN), ns. */
uint64_t switch_svc_uplink_cpu_ns(struct switch_svc *svc);
/* The uplink's TAP name into buf ("" without an uplink, "nat" for NAT). */
void switch_svc_uplink_name(struct switch_svc *svc, char *buf, size_t size);

/* Port groups: as vswitch_portgroup_set/del, under the lock. */
int switch_svc_portgroup_set(struct switch_svc *svc,
			     const struct vswitch_portgroup_config *pg,
			     struct error *err);
int switch_svc_portgroup_del(struct switch_svc *svc, const char *name,
			     struct error *err);
/* Copy up to max port groups into out; returns how many there are. */
unsigned switch_svc_portgroups(struct switch_svc *svc,
			       struct vswitch_portgroup_config *out,
			       unsigned max);
/* Copy up to max connected ports into out; returns how many there are. */
unsigned switch_svc_ports(struct switch_svc *svc, struct switch_port_info *out,
			  unsigned max);

#endif
