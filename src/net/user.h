/*
 * User-mode NAT back end ("--net user") built on libslirp.
 *
 * The guest sees QEMU's user network: 10.0.2.0/24, gateway and host alias
 * 10.0.2.2, DNS forwarder 10.0.2.3, DHCP leases from 10.0.2.15, IPv6 prefix
 * fec0::/64. Outgoing TCP/UDP connections become host sockets of this
 * process; incoming ones reach the guest only through host forwards.
 *
 * Threads. libslirp is not thread-safe: the Slirp instance is used only on
 * the netdev thread (see netdev.h), except during net_user_create() before
 * that thread starts. Frames from other threads reach it via the netdev
 * send queue.
 */
#ifndef SV_NET_USER_H
#define SV_NET_USER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

struct netdev;

#define NET_USER_MAX_HOSTFWD 16
#define NET_USER_MTU_DEFAULT \
	65520 /* like passt: 1500-byte frames cost the guest per-packet work */
#define NET_USER_MTU_MIN 576
#define NET_USER_MTU_MAX 65521 /* libslirp's IF_MTU_MAX */

/* A host forward: connections to host_addr:host_port on the host go to
 * guest_addr:guest_port in the guest. Addresses in network byte order;
 * 0.0.0.0 host = all host addresses, 0.0.0.0 guest = the first DHCP address
 * (10.0.2.15). */
struct net_hostfwd {
	bool udp;
	struct in_addr host_addr;
	uint16_t host_port;
	struct in_addr guest_addr;
	uint16_t guest_port;
};

struct net_user_config {
	struct net_hostfwd fwd[NET_USER_MAX_HOSTFWD];
	unsigned n_fwd;
	uint32_t mtu;	 /* 0 = NET_USER_MTU_DEFAULT */
	bool restricted; /* guest reaches only the host forwards (no NAT) */
};

/* Parse the value of a hostfwd= option in QEMU syntax:
 *   [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT
 * e.g. "tcp:127.0.0.1:2222-:22". 0 or -EINVAL with a message. */
int net_hostfwd_parse(const char *s, struct net_hostfwd *out,
		      struct error *err);
/* Format a forward back into that syntax (for messages). */
void net_hostfwd_format(const struct net_hostfwd *f, char *buf, size_t len);

/* Create and start a user-mode NAT netdev. name labels messages and the
 * thread. NULL with err set when slirp cannot start or a host forward cannot
 * listen (port in use). The caller owns the result (netdev_destroy). */
struct netdev *net_user_create(const struct net_user_config *cfg,
			       const char *name, struct error *err);

#endif
