/*
 * A virtual switch port as a netdev back end: the VM side of a connection
 * to a switch service (switch_svc.h, protocol in swproto.h).
 *
 * net_swport_create connects to the switch's socket, says hello (port
 * group, MAC) and waits for the answer; then the netdev thread passes
 * frames: the guest's frames go into the socket (never blocking: when the
 * switch cannot keep up the frame is dropped and counted as tx_dropped),
 * frames from the socket are delivered to the guest. When the switch goes
 * away the port stays down (frames dropped) and says so once in the log.
 *
 * Threads and ownership as for any netdev (netdev.h).
 */
#ifndef SV_NET_SWPORT_H
#define SV_NET_SWPORT_H

#include <stdint.h>

#include "util/error.h"

struct netdev;

/* Connect to the switch at sock_path, port group pg ("" = the switch's
 * default), with the NIC's mac. *mtu_out (may be NULL) gets the switch's
 * MTU. NULL with err set: no switch there, port group unknown, switch
 * full. */
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

struct netdev *net_swport_create(const char *sock_path, const char *pg,
				 const uint8_t mac[6], const char *name,
				 uint32_t *mtu_out, struct error *err);

#endif
