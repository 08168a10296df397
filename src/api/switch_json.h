/*
 * Virtual switches in JSON: the definition the daemon keeps in its
 * inventory and serves on /v1/switches (docs/api.yaml, schemas Switch and
 * PortGroup; docs/network.md).
 *
 *   {"name": "sw0", "mtu": 1500,
 *    "portgroups": [{"name": "red", "vlan": 10, "promiscuous": false,
 *                    "mac_changes": true, "forged_transmits": true,
 *                    "shaping_tx": {"average_kbps": 100000,
 *                                   "peak_kbps": 200000,
 *                                   "burst_kb": 1024},
 *                    "shaping_rx": null}],
 *    "uplink": {"type": "bridge", "bridge": "br0", "portgroup": "red"}}
 *
 * uplink.type: "none" (isolated, the default), "bridge" (a TAP device in
 * an existing Linux bridge or Open vSwitch bridge; "bridge_type": "linux"
 * or "ovs" insists on one, without it a Linux bridge is tried first), "nat" (user-mode NAT) or "routed" (a TAP with
 * the host's "address": "10.78.0.1/24" and, with "dhcp": true, a
 * dnsmasq; with "nat": true an nftables masquerade of the subnet, libvirt's
 * forward mode "nat"); set at creation.
 *
 * "type": "distributed" (vSphere's vDS) carries the port groups to other
 * daemons over VXLAN: "vxlan": {"local": "192.0.2.1:4789", "peers":
 * ["192.0.2.2"], "vni_base": 10000, "etcd": "http://127.0.0.1:2379"};
 * no other uplink then. With "etcd" the definition and the VTEPs are
 * shared there (daemon_switch_etcd.h). Default type "standard".
 *
 * Pure functions (any thread). Parsers check every field and name the bad
 * one; unknown keys are refused.
 */
#ifndef SV_API_SWITCH_JSON_H
#define SV_API_SWITCH_JSON_H

#include <jansson.h>

#include "net/vswitch.h"
#include "net/vxlan.h"
#include "util/error.h"

struct switch_uplink {
	char type[8];	     /* "none", "bridge", "nat", "routed" */
	char bridge[16];     /* type bridge: the existing Linux or OVS bridge */
	char bridge_type[8]; /* type bridge: "" either, "linux", "ovs" */
	char address[24];    /* type routed: the host's "A.B.C.D/N" */
	bool dhcp;	     /* type routed: serve DHCP (dnsmasq) */
	bool nat;	     /* type routed: masquerade the subnet (nftables) */
	char portgroup[32];  /* "" = "default" */
};

/* A distributed switch's VXLAN endpoint (vxlan.h), as written. */
struct switch_vxlan {
	char local[24]; /* "A.B.C.D[:PORT]" (default port 4789) */
	char peers[VXLAN_MAX_PEERS][24];
	unsigned n_peers;
	uint32_t vni_base;
	char etcd[128]; /* "" or "http://HOST:PORT": definition and VTEPs */
};

struct switch_def {
	char name[VSWITCH_NAME_MAX + 1];
	uint32_t mtu;
	bool distributed;	   /* "type": "distributed" (else "standard") */
	struct switch_vxlan vxlan; /* distributed only */
	struct switch_uplink uplink;
	struct vswitch_portgroup_config pgs[VSWITCH_MAX_PORTGROUPS];
	unsigned n_pgs;
	bool pgs_given; /* "portgroups" was in the JSON (not the default) */
};

/* A port group as JSON (new reference; NULL: out of memory). */
json_t *switch_portgroup_to_json(const struct vswitch_portgroup_config *pg);
/* Parse one port group; where prefixes messages ("portgroups[1]"). */
int switch_portgroup_from_json(const json_t *v, const char *where,
			       struct vswitch_portgroup_config *pg,
			       struct error *err);
/* The whole definition. */
json_t *switch_def_to_json(const struct switch_def *def);
/* The VXLAN config of a distributed definition (addresses parsed). */
int switch_def_vxlan_config(const struct switch_def *def,
			    struct vxlan_config *cfg, struct error *err);
/* Parse a definition; a missing "portgroups" gives one "default" (VLAN
 * 0); a missing mtu the default. 0 or -EINVAL (err names the field). */
int switch_def_from_json(const json_t *v, struct switch_def *def,
			 struct error *err);

#endif
