/*
 * A virtual switch port as a netdev back end: the VM side of a connection
 * to a switch service (switch_svc.h, protocol in swproto.h).
 *
 * net_swport_create connects to the switch's socket, says hello (port
 * group, MAC) and waits for the answer; then the netdev thread passes
 * frames: the guest's frames go into the socket (never blocking: when the
 * switch cannot keep up the frame is dropped and counted as tx_dropped),
 * frames from the socket are delivered to the guest. When the switch goes
 * away the port is down: it says so once in the log and drops the guest's
 * frames at once (counted as the netdev's tx_dropped; nothing waits for
 * the switch) until it is handed a new connection (net_swport_reconnect:
 * a daemon restarted with --keep-vms connects to its new switch for the
 * worker, which cannot connect itself once sandboxed, and passes the
 * socket over; docs/architecture.md, "Re-attaching workers").
 *
 * Threads and ownership as for any netdev (netdev.h).
 */
#ifndef SV_NET_SWPORT_H
#define SV_NET_SWPORT_H

#include <stdint.h>

#include "util/error.h"

struct netdev;

/* Where the socket of a named switch lives: name_or_path itself when it
 * holds a '/', else DIR/NAME.sock with DIR the one set by
 * net_switch_set_dir (the daemon's), $SOFTVISOR_SWITCH_DIR, or by default
 * /run/softvisor/switch (root), $XDG_RUNTIME_DIR/softvisor/switch,
 * /tmp/softvisor-UID/switch. 0 or -EINVAL/-ENAMETOOLONG (err set). */
int net_switch_socket_path(const char *name_or_path, char *buf, size_t size,
			   struct error *err);
/* The directory of named switches' sockets, into buf. */
void net_switch_dir(char *buf, size_t size);
/* Set it for this process (the daemon, at start; not thread-safe against
 * concurrent lookups). NULL restores the default. */
void net_switch_set_dir(const char *dir);

/* Connect to the switch at sock_path, port group pg ("" = the switch's
 * default), with the NIC's mac. *mtu_out (may be NULL) gets the switch's
 * MTU. NULL with err set: no switch there, port group unknown, switch
 * full. */
struct netdev *net_swport_create(const char *sock_path, const char *pg,
				 const uint8_t mac[6], const char *name,
				 uint32_t *mtu_out, struct error *err);

/* Connect to the switch at sock_path and say hello for port group pg with
 * mac, as net_swport_create does, but hand back the connected socket (for
 * net_swport_reconnect in another process). The fd or -errno (err set). */
int net_swport_dial(const char *sock_path, const char *pg, const uint8_t mac[6],
		    uint32_t *mtu_out, struct error *err);

/* Hand the port nd a new connection fd (from net_swport_dial, already
 * past its hello): the netdev thread takes it on its next round and drops
 * the old one, and frames flow again. Takes fd on success; -EINVAL (fd
 * still the caller's) when nd is no switch port. Any thread. */
int net_swport_reconnect(struct netdev *nd, int fd);

#endif
