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
struct netdev *net_swport_create(const char *sock_path, const char *pg,
				 const uint8_t mac[6], const char *name,
				 uint32_t *mtu_out, struct error *err);

#endif
