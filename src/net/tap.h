/*
 * TAP devices (/dev/net/tun) for switch uplinks: the switch's frames enter
 * the host's network stack through a TAP device, attached to an existing
 * Linux bridge for the bridged model.
 *
 * The TAP device is not persistent: it disappears when its file descriptor
 * is closed, so the switch removes what it created even when its process
 * dies. The bridge is the administrator's: it is never created, changed or
 * removed here, only the TAP is enslaved to it. Needs CAP_NET_ADMIN.
 */
#ifndef SV_NET_TAP_H
#define SV_NET_TAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define TAP_IFNAME_MAX 16 /* IFNAMSIZ */

/* Create TAP device ifname ("" or a pattern like "sv%d": the kernel picks
 * the number), non-blocking, without packet information; the name it got
 * into out (TAP_IFNAME_MAX bytes). Sets its MTU, brings it up and, when
 * bridge is not NULL, attaches it to that bridge. Returns the fd or a
 * negative errno with err naming the step that failed. */
int tap_open(const char *ifname, const char *bridge, uint32_t mtu, char *out,
	     struct error *err);

/* Attach interface ifname to the existing Linux bridge `bridge`. 0,
 * -ENODEV (no such device), -EOPNOTSUPP (a device that is not a Linux
 * bridge, e.g. an Open vSwitch bridge) or another negative errno (err). */
int tap_bridge_attach(const char *ifname, const char *bridge,
		      struct error *err);

/* Parse "A.B.C.D/N" (N 1..30): 0 or -EINVAL. addr in network order. */
int net_parse_cidr(const char *s, uint32_t *addr, unsigned *prefix);

/* Give interface ifname the IPv4 address addr/prefix (network byte
 * order), for the routed model: the host's side of the switch's subnet.
 * 0 or a negative errno (err). */
int tap_set_ipv4(const char *ifname, uint32_t addr, unsigned prefix,
		 struct error *err);

#endif
