/*
 * A distributed switch's shared state in etcd (etcd.h), for the daemon's
 * switches (daemon_switch.c). Keys:
 *
 *   /softvisor/switches/NAME/definition     the switch definition
 *       (switch_json.h) without what is per host (vxlan.local, .peers,
 *       .etcd): name, type, mtu, vni_base, port groups
 *   /softvisor/switches/NAME/vteps/A.B.C.D:PORT   one per daemon serving
 *       the switch: {"vtep": "A.B.C.D:PORT", "ports": [{"mac": ...,
 *       "portgroup": ...}]}, which host serves which port; put under a
 *       lease of DSWITCH_LEASE_TTL_S that the daemon keeps alive, so the
 *       record of a daemon that died goes by itself
 *
 * A daemon joining takes the definition from etcd when its request names
 * no port groups (and writes its own otherwise, or when there is none);
 * its VXLAN peers are the static ones plus every VTEP key but its own,
 * refreshed by the daemon every second (dswitch_etcd_sync). Leaving
 * deletes its VTEP key, and the definition when no VTEP is left.
 */
#ifndef SV_API_DAEMON_SWITCH_ETCD_H
#define SV_API_DAEMON_SWITCH_ETCD_H

#include "api/etcd.h"
#include "api/switch_json.h"
#include "net/switch_svc.h"

#define DSWITCH_ETCD_PREFIX "/softvisor/switches/"
/* A VTEP record's lease: renewed every DSWITCH_LEASE_RENEW_S seconds. */
#define DSWITCH_LEASE_TTL_S   10
#define DSWITCH_LEASE_RENEW_S 3

/* Open def's etcd; with adopt and a definition in etcd, def takes its
 * mtu, vni_base and port groups; else def's is written there. *out: the
 * client (etcd_close). */
int dswitch_etcd_join(struct switch_def *def, bool adopt, struct etcd **out,
		      struct error *err);
/* Write this host's VTEP record with svc's ports under lease (skipped
 * when it equals *last, the JSON written before, which is updated; free
 * it with free). */
int dswitch_etcd_publish(struct etcd *e, const struct switch_def *def,
			 struct switch_svc *svc, int64_t lease, char **last,
			 struct error *err);
/* The peers: def's static ones and every VTEP in etcd (the caller's own
 * is left out by the switch). Their number, or a negative errno. */
int dswitch_etcd_peers(struct etcd *e, const struct switch_def *def,
		       struct sockaddr_in *out, struct error *err);
/* Write def's shared part (after a port group change). */
int dswitch_etcd_put_definition(struct etcd *e, const struct switch_def *def,
				struct error *err);
/* Delete this host's VTEP key; with forget, the definition too once no
 * VTEP is left. */
void dswitch_etcd_leave(struct etcd *e, const struct switch_def *def,
			bool forget);

#endif
