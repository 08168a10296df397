/*
 * The daemon's memory manager (issue 15, docs/memory.md "Admission" and
 * "The policy loop"): the host's memory budget, admission control of
 * memory reservations, and the loop that every interval measures each
 * running VM, computes its target (vmm/mem_reclaim.h) and drives its
 * virtio-balloon toward it through the VM's worker.
 *
 * The ledger holds every admitted VM (attach at start, detach once its
 * machine ended) with its memory QoS and its last figures. Locks: the
 * ledger's own mutex is a leaf (taken under d->lock, never the other way
 * round); the loop takes a VM's op_lock (trylock: a VM busy in an API call
 * keeps its balloon until the next round) and never holds d->lock while
 * it talks to a worker.
 */
#ifndef SV_API_DAEMON_MEM_H
#define SV_API_DAEMON_MEM_H

#include <jansson.h>

#include "api/daemon_impl.h"

/* The loop's period. */
#define DAEMON_MEM_INTERVAL_MS 2000u

/* Default budget: host RAM minus a reserve for the host and the daemon
 * (the larger of 1 GiB and 10 %, at most half of it). */
uint64_t daemon_mem_default_budget(uint64_t host_ram);

/* Start the ledger and the loop (d->cfg.mem_budget, 0: the default). */
int daemon_mem_open(struct daemon *d, struct error *err);
void daemon_mem_close(struct daemon *d);

/* Admission control for a VM about to start: -ENOSPC with the figures if
 * its reservation does not fit next to those of the admitted VMs
 * (mem_admit), else it is admitted until daemon_mem_detach. Caller holds
 * v->op_lock. */
int daemon_mem_attach(struct daemon *d, struct dvm *v, const struct vmdef *def,
		      struct error *err);
void daemon_mem_detach(struct daemon *d, struct dvm *v);
/* The memory QoS of an admitted VM changed (PATCH): admission again for
 * its new reservation. No-op for a VM that is not admitted. */
int daemon_mem_set_qos(struct daemon *d, struct dvm *v, const struct vmdef *def,
		       struct error *err);

/* Change the budget at run time: -EINVAL below the admitted VMs'
 * reservations (named), or out of range. The loop acts on it at once. */
int daemon_mem_set_budget(struct daemon *d, uint64_t bytes, struct error *err);

/* memory_budget, memory_reserved (bytes) into the Host object. */
void daemon_mem_host_json(struct daemon *d, json_t *host);
/* The "memory" object of VmStats for v (d->lock may be held), or NULL
 * when v is not admitted. */
json_t *daemon_mem_vm_json(struct daemon *d, struct dvm *v);

/* The memory figures of v and the host for GET /metrics (d->lock may be
 * held): m->mem_* stay 0 / false when v is not admitted. */
struct metrics_vm;
struct metrics_host;
void daemon_mem_vm_metrics(struct daemon *d, struct dvm *v,
			   struct metrics_vm *m);
void daemon_mem_host_metrics(struct daemon *d, struct metrics_host *h);

/* Run one round of the loop now (tests, and set_budget). */
void daemon_mem_tick(struct daemon *d);

#endif
