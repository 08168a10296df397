/*
 * The wire protocol between a VM's switch port (swport.h) and the switch
 * service (switch_svc.h): an AF_UNIX SOCK_SEQPACKET connection, one
 * connection per port, message boundaries kept by the kernel.
 *
 *   1. the VM side sends one struct swproto_hello;
 *   2. the switch answers one struct swproto_reply (status 0: connected;
 *      otherwise a negative errno and a message, then it closes);
 *   3. from then on every message in either direction is one whole
 *      Ethernet frame (no FCS), 14..VSWITCH_MAX_FRAME bytes.
 *
 * Integers are in host byte order (both ends are on one host). The switch
 * trusts nothing the VM side sends: a bad hello or frame is refused and
 * counted, never followed.
 */
#ifndef SV_NET_SWPROTO_H
#define SV_NET_SWPROTO_H

#include <stdint.h>

#define SWPROTO_MAGIC	    "SVSWP01"
#define SWPROTO_REPLY_MAGIC "SVSWR01"

struct swproto_hello {
	char magic[8];	    /* SWPROTO_MAGIC with its NUL */
	char portgroup[32]; /* NUL-terminated; "" = the switch's default */
	uint8_t mac[6];	    /* the VM NIC's address */
	uint8_t pad[2];
};

struct swproto_reply {
	char magic[8];
	int32_t status; /* 0 or a negative errno */
	uint32_t mtu;	/* the switch's MTU (status 0) */
	char msg[240];	/* why, when status != 0 */
};

_Static_assert(sizeof(struct swproto_hello) == 48, "hello layout");
_Static_assert(sizeof(struct swproto_reply) == 256, "reply layout");

#endif
