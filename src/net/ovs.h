/*
 * Open vSwitch bridges as the target of a bridged uplink.
 *
 * The switch's TAP device becomes a port of an existing OVS bridge. The
 * database is changed through `ovs-vsctl`, as libvirt does (Debian's
 * openvswitch-switch): each call is one ovsdb transaction, run with
 * --timeout so an OVS that does not answer fails the call instead of
 * hanging it. ovs-vsctl uses its default database, unix:$OVS_RUNDIR/db.sock
 * (default /var/run/openvswitch/db.sock); when that socket is not there,
 * nothing is run and -ENOENT says that no Open vSwitch is running.
 *
 * Ownership: a port added here carries external_ids:softvisor-switch=NAME.
 * Only ports with that mark are changed or deleted; a port of the same
 * name without it is somebody else's and is never touched (-EEXIST). The
 * bridge is the administrator's: never created, changed or removed.
 *
 * VLANs: the port's VLAN is the switch port group's. VLAN 1..4094: an
 * access port with that tag (OVS tags and untags); VLAN 0: an access port
 * of OVS's untagged VLAN; 4095 (trunk): a trunk port of every VLAN.
 *
 * Blocking calls (a child process each): any thread, never on a path that
 * switches frames.
 */
#ifndef SV_NET_OVS_H
#define SV_NET_OVS_H

#include <stdbool.h>

#include "util/error.h"

/* Is an Open vSwitch database socket there to talk to? */
bool ovs_running(void);
/* Does OVS bridge br exist? 1 yes, 0 no, negative errno when OVS cannot be
 * asked (-ENOENT: not running or ovs-vsctl missing; err says why). */
int ovs_bridge_exists(const char *br, struct error *err);
/* Add interface port (an existing TAP) to bridge br as a port owned by
 * switch owner, with the VLAN mode of vlan (0..4095, above). A port of that
 * name left by a previous process of the same switch is replaced. 0 or a
 * negative errno (err has ovs-vsctl's message). */
int ovs_port_add(const char *br, const char *port, const char *owner,
		 unsigned vlan, struct error *err);
/* Change the VLAN of our port (a port group's VLAN changed live). */
int ovs_port_set_vlan(const char *port, const char *owner, unsigned vlan,
		      struct error *err);
/* Remove our port from br. -ENOENT when it is gone, -EEXIST when a port
 * of that name is not ours (left alone). */
int ovs_port_del(const char *br, const char *port, const char *owner,
		 struct error *err);

#endif
