/*
 * Masquerade for a routed switch (forward mode "nat" in libvirt's terms):
 * one nftables rule that rewrites the source of the switch's subnet to the
 * host's address on whatever interface a packet leaves by.
 *
 * Everything lives in the daemon's own table `ip softvisor`; each switch
 * has its own base chain there, "masq-NAME" (type nat, hook postrouting,
 * priority srcnat), holding one rule:
 *
 *   ip saddr NET/N ip daddr != NET/N masquerade
 *
 * Adding is idempotent (a chain left by a crashed process is flushed and
 * refilled); deleting removes that chain only, and the table when no
 * chain is left in it. No other table is read or changed. Uses
 * libnftables (Debian's libnftables-dev); needs CAP_NET_ADMIN in the
 * network namespace of the calling process.
 *
 * IP forwarding (net.ipv4.ip_forward) is a host-wide setting and is not
 * changed here: nft_masq_forwarding() tells whether it is on.
 */
#ifndef SV_NET_NFT_MASQ_H
#define SV_NET_NFT_MASQ_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

#define NFT_MASQ_TABLE "softvisor"

/* Add (or refresh) the masquerade chain of switch name for subnet
 * net/prefix (network byte order; host bits are ignored). 0 or a
 * negative errno with err holding nftables' message. */
int nft_masq_add(const char *name, uint32_t net, unsigned prefix,
		 struct error *err);
/* Remove the chain of switch name (and the table once it is empty). 0,
 * -ENOENT when there was none, or a negative errno (err). */
int nft_masq_del(const char *name, struct error *err);
/* The masquerade rules currently in the table as nft prints them into
 * buf ("" when there is no table). For tests and diagnostics. */
int nft_masq_list(char *buf, size_t size, struct error *err);
/* Is IPv4 forwarding on in this network namespace? */
bool nft_masq_forwarding(void);

#endif
