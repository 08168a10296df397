/*
 * Memory QoS policy: how much machine memory each VM gets (its target)
 * out of the host's budget, from its shares, reservation, limit and measured
 * activity, as ESX does it (docs/memory.md, "Memory QoS"):
 *
 *  - reservations first (never reclaimed), then the rest by shares, each VM
 *    capped by min(configured size, limit): the same water-filling as CPU
 *    (vmm/qos.h). A VM never gets more than its configured size.
 *  - idle memory tax: under contention a VM's shares count less the less of
 *    its memory is active (ESX's shares-per-page ratio S / (f + k (1 - f)),
 *    k = 1 / (1 - tax), f the active fraction), so idle memory is reclaimed
 *    first. With no contention every VM gets its whole size whatever its
 *    activity.
 *  - admission control: a VM whose reservation does not fit next to the
 *    running ones is refused with the figures.
 *
 * Pure policy: no threads, no clock, no allocation. The mechanism measures
 * activity, calls mem_targets() periodically and reclaims toward the targets
 * (balloon first, then compression and swap).
 */
#ifndef SV_VMM_MEM_POLICY_H
#define SV_VMM_MEM_POLICY_H

#include <stdint.h>

#include "util/error.h"

#define MEM_POLICY_PAGE	       4096u
#define MEM_POLICY_TAX_DEFAULT 75u /* percent, ESX's Mem.IdleTax */

struct mem_params {
	uint64_t budget_pages; /* what guests may hold in total */
	uint32_t idle_tax_pct; /* 0..99 */
};

/* A VM's memory QoS, in 4 KiB pages. */
struct mem_vm_config {
	uint64_t size_pages;	    /* configured memory, >= 1 */
	uint32_t shares;	    /* >= 1 */
	uint64_t reservation_pages; /* <= size */
	uint64_t limit_pages;	    /* 0 = none, else >= reservation */
};

struct mem_vm_state {
	struct mem_vm_config cfg;
	uint32_t active_permille; /* measured: 0 (idle) .. 1000 (all active) */
	uint64_t target_pages;	  /* output of mem_targets() */
};

/* A configuration that the policy can use, or a message naming the field. */
int mem_check_config(const struct mem_vm_config *c, struct error *err);

/* Admission control: 0 if cand's reservation fits in the budget next to
 * the reservations of the n running VMs, else -ENOSPC with the figures
 * (or -EINVAL for a bad configuration). */
int mem_admit(const struct mem_params *p, const struct mem_vm_config *running,
	      unsigned int n, const struct mem_vm_config *cand,
	      struct error *err);

/* Targets of the n VMs (n <= QOS_MAX_CLAIMS; the rest get their
 * reservation). The targets add up to at most the budget when the
 * reservations fit in it, to all of it when the VMs want more than it. */
void mem_targets(const struct mem_params *p, struct mem_vm_state *v,
		 unsigned int n);

#endif
