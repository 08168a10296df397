/* Inside the daemon: VMs that outlive it (daemon_reattach.c; issue 14,
 * docs/architecture.md, "Re-attaching workers after a daemon restart"). */
#ifndef SV_API_DAEMON_REATTACH_H
#define SV_API_DAEMON_REATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct daemon;
struct dvm;

/* STATE/run/vm-ID.EXT (id 0: STATE/run itself) into buf: 0, or
 * -ENAMETOOLONG. The run directory holds what lives only while the VM
 * runs: a kept worker's record and socket, the VM's swap file. */
int daemon_run_path(struct daemon *d, int64_t id, const char *ext, char *buf,
		    size_t cap);

/* How long a worker waits for a new daemon by default (seconds). */
#define DAEMON_KEEP_VMS_GRACE_S 300

/* With --keep-vms: give v's just-started worker its rendezvous and write
 * its record (caller holds v->op_lock). 0 or -errno with err: the VM runs
 * anyway, it only cannot be re-attached. */
int daemon_reattach_give(struct daemon *d, struct dvm *v, struct error *err);
/* v's run ended: remove its record and socket. */
void daemon_reattach_forget(struct daemon *d, int64_t id);
/* The daemon leaves its VMs running (SIGUSR2): let go of every worker
 * without stopping it; daemon_close follows. */
void daemon_reattach_leave(struct daemon *d);
/* At open, before the VMs still recorded running are marked crashed:
 * adopt the workers of STATE/run/. *kept (freed by the caller) gets the
 * ids of the VMs adopted; a record whose worker is gone or does not
 * answer gets a "reattach" event naming why (its VM is then marked
 * crashed as before). */
int daemon_reattach_open(struct daemon *d, int64_t **kept, size_t *n_kept);

#endif
