/*
 * The daemon's virtual switches: definitions in the inventory
 * (inventory_switch.h), each served by a switch service (net/switch_svc.h)
 * on <state-dir>/switch/NAME.sock while the daemon runs. VM NICs join with
 * nics[].type "switch" and the switch's name (net/swport.h resolves it in
 * that directory, which the daemon sets process-wide).
 *
 * Calls as in daemon.h: 0 or a negative errno with err; *out a new JSON
 * reference (schema Switch of docs/api.yaml: the definition of
 * api/switch_json.h plus "socket" and "ports"). Changes apply to a running
 * switch at once (connected VMs keep their ports) and are stored.
 * -EBUSY: deleting a switch with ports, or a port group in use.
 *
 * Threads: any; calls are serialized by one lock of the switch registry.
 */
#ifndef SV_API_DAEMON_SWITCH_H
#define SV_API_DAEMON_SWITCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api/metrics.h"

#include "util/error.h"

struct daemon;
struct daemon_switches;

/* daemon_open: load the inventory's switches and start them. A switch
 * that cannot start is logged and skipped. */
int daemon_switches_open(struct daemon *d, struct daemon_switches **out,
			 struct error *err);
/* daemon_close, after the VMs stopped: stop every switch. NULL: no-op. */
void daemon_switches_close(struct daemon_switches *s);

/* The switches' CPU time and per-port figures for GET /metrics: *out a
 * malloc'd array (each ports array malloc'd too), *n_out of them. 0 or
 * -ENOMEM. */
int daemon_switch_metrics(struct daemon *d, struct metrics_switch **out,
			  size_t *n_out);
int daemon_switch_list(struct daemon *d, json_t **out, struct error *err);
int daemon_switch_create(struct daemon *d, const char *actor, const char *body,
			 json_t **out, struct error *err);
int daemon_switch_get(struct daemon *d, const char *name, json_t **out,
		      struct error *err);
int daemon_switch_delete(struct daemon *d, const char *actor, const char *name,
			 struct error *err);
/* Add a port group or change the one of that name (body: PortGroup). */
int daemon_switch_portgroup_set(struct daemon *d, const char *actor,
				const char *sw, const char *body, json_t **out,
				struct error *err);
int daemon_switch_portgroup_delete(struct daemon *d, const char *actor,
				   const char *sw, const char *pg,
				   struct error *err);

/* Re-attaching a worker after a daemon restart (docs/architecture.md,
 * "Re-attaching workers"): its ports on this daemon's switches died with
 * the old daemon, and a sandboxed worker cannot connect again. For every
 * NIC of board on one of this daemon's switches, connect a port as the
 * NIC's (its MAC and port group from the definition, not the worker's
 * word: the worker ran the guest) into fds[k], nics[k] = the NIC's index.
 * Returns k; a NIC that cannot connect (port group gone, switch full) is
 * skipped and said in note (size bytes, "" if none). NICs on other
 * switches (a socket path of `switch serve`) keep their connection. */
struct virt_config;
unsigned daemon_switch_dial_ports(struct daemon *d,
				  const struct virt_config *board, int *fds,
				  uint8_t *nics, char *note, size_t size);

#endif
