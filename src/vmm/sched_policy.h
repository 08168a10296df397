/*
 * vCPU scheduling policy (CPU QoS): shares, reservation and limit per VM,
 * water-filling entitlements, admission control, a per-pCPU pick by
 * weighted virtual time with limit throttling, reservation boost and relaxed
 * co-scheduling, and esxtop-style accounting (used / ready / wait / co-stop).
 * See docs/scheduler.md for the model and the formulas.
 *
 * This module is pure policy: no threads and no clock; it allocates only
 * its table of VMs, which sched_admit() grows and sched_fini() frees. The
 * mechanism (pCPU worker threads, parking, preemption) owns the clock and
 * tells the policy what happened with timestamps in microseconds:
 *
 *   sched_pick(p, pcpu, now, &d)    pCPU is free: what runs next, how long
 *   sched_put(p, pcpu, now, runnable) the vCPU on pcpu stopped running
 *   sched_wake / sched_block        a not-running vCPU became (not) runnable
 *
 * Timestamps must never go backwards between calls. A decision's slice_us is
 * the longest the mechanism may let the vCPU run before calling sched_put()
 * (a limit or the co-stop bound may depend on it).
 *
 * Ownership and threads: the caller allocates struct sched_policy and ends
 * it with sched_fini(). Nothing here locks: the mechanism serialises every
 * call on one policy (one lock around it, or one scheduler thread).
 */
#ifndef SV_VMM_SCHED_POLICY_H
#define SV_VMM_SCHED_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

#define SCHED_MAX_PCPUS	 64    /* affinity is a uint64_t bitmask */
#define SCHED_MAX_VMS	 32767 /* VM ids are int16_t in struct sched_pcpu */
#define SCHED_MAX_VCPUS	 32    /* per VM */
#define SCHED_MAX_SHARES 16000000u
#define SCHED_MAX_MHZ	 1000000000ull /* per host; keeps products in u64 */

/* Share presets, per vCPU (ESX convention: a VM gets preset x n_vcpus). */
#define SCHED_SHARES_LOW    500u
#define SCHED_SHARES_NORMAL 1000u
#define SCHED_SHARES_HIGH   2000u

/* Returned as slice_us of an idle decision when nothing can become runnable
 * without a sched_wake(): the pCPU may park until it is kicked. */
#define SCHED_FOREVER UINT64_MAX

struct sched_params {
	uint32_t n_pcpus;      /* 1..SCHED_MAX_PCPUS */
	uint64_t mhz_per_pcpu; /* nominal MHz of one pCPU */
	uint64_t window_us;    /* accounting window (limits, reservations) */
	uint64_t quantum_us;   /* longest slice */
	uint64_t costop_us;    /* relaxed co-scheduling skew threshold */
	uint64_t min_slice_us; /* shortest slice the co-stop cap may give */
};

/* QoS settings of one VM. */
struct sched_vm_config {
	uint32_t n_vcpus;	  /* 1..SCHED_MAX_VCPUS */
	uint32_t shares;	  /* VM total, 1..SCHED_MAX_SHARES */
	uint64_t reservation_mhz; /* guaranteed under contention */
	uint64_t limit_mhz;	  /* cap even on an idle host; 0 = unlimited */
};

/* Input/output of sched_entitlements() for one VM. */
struct sched_alloc {
	uint32_t shares;
	uint64_t reservation_mhz;
	uint64_t limit_mhz; /* 0 = unlimited */
	uint64_t demand_mhz;
	uint64_t entitled_mhz; /* output */
};

/* esxtop-style counters in microseconds. ready includes limited. */
struct sched_stats {
	uint64_t used_us;    /* running on a pCPU */
	uint64_t ready_us;   /* runnable, not running (incl. throttled) */
	uint64_t wait_us;    /* not runnable (idle, WFI, blocked) */
	uint64_t costop_us;  /* runnable but co-stopped */
	uint64_t limited_us; /* part of ready: throttled by the limit */
};

/* The same over an interval, in percent of the interval (a VM's figures
 * are sums over its vCPUs, so they can exceed 100 like esxtop's). */
struct sched_pct {
	double used, ready, wait, costop, limited;
};

enum sched_vcpu_state {
	SCHED_WAIT = 0,
	SCHED_READY,
	SCHED_COSTOP,
	SCHED_RUN,
};

struct sched_vcpu {
	uint8_t state;	   /* enum sched_vcpu_state */
	bool throttled;	   /* READY because the VM hit its limit */
	int16_t pcpu;	   /* when RUN */
	uint64_t affinity; /* allowed pCPUs */
	uint64_t since;	   /* accounted up to this time */
	uint64_t vt;	   /* virtual time, see docs/scheduler.md */
	uint64_t vt_rem;   /* remainder of the vt division, keeps it exact */
	uint64_t progress; /* used + wait: what co-stop compares */
	struct sched_stats st;
};

struct sched_vm {
	bool used;
	struct sched_vm_config cfg;
	uint64_t win_used;	/* pCPU-us used in the current window */
	uint64_t win_committed; /* slices handed out, not yet charged */
	uint64_t win_runnable;	/* used + ready + co-stop this window */
	uint64_t demand_mhz;	/* from the last window */
	uint64_t entitled_mhz;	/* from the last window */
	struct sched_vcpu vcpus[SCHED_MAX_VCPUS];
};

struct sched_pcpu {
	int16_t vm, vcpu; /* -1 when idle */
	uint64_t left;	  /* of the current slice, not yet charged */
};

struct sched_policy {
	struct sched_params prm;
	uint64_t capacity_mhz;
	uint64_t reserved_mhz; /* sum over admitted VMs */
	uint64_t now;	       /* last time seen */
	uint64_t win_start;
	struct sched_pcpu pcpus[SCHED_MAX_PCPUS];
	/* VM ids are indexes into vms; ids below n_vms have been handed out
	 * (a removed VM's id is reused first), cap_vms are allocated. */
	struct sched_vm *vms;
	uint32_t n_vms, cap_vms;
	struct sched_alloc *roll_alloc; /* cap_vms entries, for window ends */
	int *roll_idx;
};

struct sched_decision {
	int vm, vcpu;	   /* -1, -1: idle */
	uint64_t slice_us; /* run at most this long; idle: re-pick after */
};

/* Fill p with sensible defaults for n_pcpus of mhz each. */
void sched_default_params(struct sched_params *prm, uint32_t n_pcpus,
			  uint64_t mhz_per_pcpu);

/* Initialise p (zeroes it). Returns 0 or -EINVAL with a message. */
int sched_init(struct sched_policy *p, const struct sched_params *prm,
	       struct error *err);

/* Free what p allocated; p may be initialised again. */
void sched_fini(struct sched_policy *p);

/* Parse "low", "normal", "high" (x n_vcpus) or a number (VM total). */
int sched_parse_shares(const char *s, uint32_t n_vcpus, uint32_t *shares,
		       struct error *err);

/*
 * Water-filling (vmm/qos.h, shared with the memory policy): reservations
 * first, the rest by shares, each VM capped by min(limit, demand). Pure
 * function of its inputs.
 * Writes a[i].entitled_mhz. Sum of entitlements <= capacity_mhz.
 */
void sched_entitlements(struct sched_alloc *a, unsigned int n,
			uint64_t capacity_mhz);

/* Admission control: add a VM (all vCPUs idle) at time now. Returns its id
 * (>= 0), -ENOSPC if the reservation does not fit, -EINVAL, -ENOMEM, or
 * -EMFILE beyond SCHED_MAX_VMS. */
int sched_admit(struct sched_policy *p, const struct sched_vm_config *cfg,
		uint64_t now, struct error *err);

/* Change shares/reservation/limit of a VM (n_vcpus must not change);
 * admission control applies. Takes effect at once. */
int sched_set_qos(struct sched_policy *p, int vm,
		  const struct sched_vm_config *cfg, struct error *err);

/* Remove a VM; -EBUSY while one of its vCPUs is on a pCPU. */
int sched_remove(struct sched_policy *p, int vm);

/* Restrict a vCPU to the pCPUs in mask. -EINVAL if none of them exists. */
int sched_set_affinity(struct sched_policy *p, int vm, int vcpu, uint64_t mask,
		       struct error *err);

/* A waiting vCPU became runnable (timer, interrupt, IPI). */
void sched_wake(struct sched_policy *p, int vm, int vcpu, uint64_t now);

/* A runnable vCPU that is not on a pCPU stopped being runnable. */
void sched_block(struct sched_policy *p, int vm, int vcpu, uint64_t now);

/* Choose what pcpu runs next. -EBUSY if it is still running a vCPU. */
int sched_pick(struct sched_policy *p, unsigned int pcpu, uint64_t now,
	       struct sched_decision *d);

/* The vCPU on pcpu stopped (slice over, preempted, or it blocked:
 * runnable = false). No-op on an idle pCPU. */
void sched_put(struct sched_policy *p, unsigned int pcpu, uint64_t now,
	       bool runnable);

/* Bring all counters up to now (rolls windows). */
void sched_advance(struct sched_policy *p, uint64_t now);

/* Counters of one vCPU, or (vcpu < 0) the sum over the VM's vCPUs. */
void sched_get_stats(const struct sched_policy *p, int vm, int vcpu,
		     struct sched_stats *st);

/* Percentages of (now - before) over interval_us. */
void sched_stats_pct(const struct sched_stats *now,
		     const struct sched_stats *before, uint64_t interval_us,
		     struct sched_pct *pct);

#endif
