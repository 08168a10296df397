/*
 * IPv4 forwarding for routed switches (net.ipv4.ip_forward of the calling
 * process's network namespace).
 *
 * A routed uplink makes the host a router between the switch's subnet and
 * its other networks, which needs forwarding on. The first routed switch
 * of the process turns it on if it was off and remembers that; when the
 * last one goes, it is turned off again. If it was on already it is never
 * changed. A process that dies while it holds forwarding (SIGKILL) leaves
 * it on: nothing can restore it then (docs/network.md).
 *
 * Any thread; a process-wide count under a lock.
 */
#ifndef SV_NET_IPFWD_H
#define SV_NET_IPFWD_H

#include "util/error.h"

/* Take a reference: forwarding is on when it returns 0. A negative errno
 * (err: /proc/sys not writable, no CAP_NET_ADMIN) leaves nothing held. */
int ipfwd_acquire(struct error *err);
/* Drop a reference taken by ipfwd_acquire; the last one restores the
 * value found by the first. */
void ipfwd_release(void);

#endif
