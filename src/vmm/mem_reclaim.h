/*
 * The decisions of the memory policy loop (issue 15, docs/memory.md "The
 * policy loop"): from each running VM's configuration and measured
 * figures, its target (mem_targets(), vmm/mem_policy.h) and the balloon
 * size that reclaims toward it. Pure: no threads, no clock, no I/O; the
 * daemon (api/daemon_mem.c) measures, calls mem_reclaim_decide() every
 * interval and sends the changed balloon sizes to the workers.
 *
 *  - Active memory: the guest's own figure when its balloon driver sends
 *    statistics (in use and not reclaimable: MemTotal - MemAvailable;
 *    Linux takes ballooned pages out of MemTotal, so the balloon is not
 *    active), else the frames the host backs privately and does not share
 *    (an upper bound: every page the guest ever wrote).
 *  - The balloon asks the guest to give up size - target pages, but never
 *    more than MEM_BALLOON_MAX_PCT of its memory (ESX's Mem.CtlMaxPercent):
 *    the rest is for compression and swap.
 *  - Nor does it take the guest's working set: the guest keeps at least
 *    its active memory plus a headroom (the larger of
 *    MEM_BALLOON_HEADROOM_MIN_PAGES and 1/MEM_BALLOON_HEADROOM_DIV of its
 *    memory), or it would run out of memory (Linux's OOM killer) before
 *    the next round could deflate.
 *  - What the balloon cannot take (its cap, the working set, no balloon)
 *    goes to compression (and swap) in the worker: its reclaim limit is
 *    what the guest may hold outside the balloon, size - beyond_balloon -
 *    the balloon's actual size (so that a balloon still inflating is not
 *    compressed as well). With nothing beyond the balloon the limit is
 *    lifted (0).
 *  - A change smaller than MEM_RECLAIM_STEP_PAGES is not sent (no churn
 *    from the estimate's noise); a full deflate, setting and lifting the
 *    reclaim limit always are.
 *
 * With no contention (the VMs' memory, capped by their limits, fits in the
 * budget) every target is the whole size and no balloon is inflated.
 */
#ifndef SV_VMM_MEM_RECLAIM_H
#define SV_VMM_MEM_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/mem_policy.h"

#define MEM_BALLOON_MAX_PCT	       65u /* of a VM's memory, ESX's default */
#define MEM_RECLAIM_STEP_PAGES	       256u   /* 1 MiB */
#define MEM_BALLOON_HEADROOM_MIN_PAGES 16384u /* 64 MiB */
#define MEM_BALLOON_HEADROOM_DIV       8u

/* What was measured of one VM (the daemon fills it from the worker's
 * struct virt_mem_stats). All pages are 4 KiB. Every figure is the
 * worker's word, hence untrusted: the estimate clamps it to the size. */
struct mem_vm_figures {
	uint64_t size_pages;	    /* guest RAM */
	uint64_t private_pages;	    /* backed by a private host frame */
	uint64_t zero_shared_pages; /* mapped to the shared zero frame */
	uint64_t cow_breaks;	    /* total */
	uint32_t has_balloon;	    /* 1: a virtio-balloon device exists */
	uint32_t guest_stats;	    /* 1: the guest's figures below are valid */
	uint64_t balloon_target_pages; /* pages asked of the guest now */
	uint64_t balloon_actual_pages; /* pages the guest holds in it */
	uint64_t guest_total_pages;    /* MemTotal */
	uint64_t guest_avail_pages;    /* MemAvailable */
	uint64_t guest_free_pages;     /* MemFree */
	uint64_t guest_stats_age_ms;   /* since the guest sent them */
	uint64_t reclaim_limit_pages;  /* the worker's reclaim limit, 0: none */
};

/* Guest statistics older than this are not used. */
#define MEM_GUEST_STATS_MAX_AGE_MS 30000u

/* The active estimate of one VM (pages, <= its size), see above. */
uint64_t mem_active_estimate(const struct mem_vm_figures *f);

struct mem_reclaim_vm {
	/* in */
	struct mem_vm_config cfg;
	struct mem_vm_figures fig;
	/* out */
	uint64_t active_pages;
	uint32_t active_permille;
	uint64_t target_pages;	/* mem_targets() */
	uint64_t balloon_pages; /* to ask of the guest (0: deflated) */
	/* what the balloon cannot take (its cap, the working set, no
	 * balloon): size -
	 * target - what the balloon is asked for; the next steps'
	 * (compression, swap) to reclaim */
	uint64_t beyond_balloon_pages;
	bool send; /* differs enough from fig's target */
	/* compression's limit for the worker (0: none, else >=
	 * MEM_RECLAIM_STEP_PAGES), and whether it differs enough from
	 * fig.reclaim_limit_pages to be sent */
	uint64_t reclaim_limit_pages;
	bool send_limit;
};

/* Decide for the n VMs (see the header comment). fig.size_pages is taken
 * from cfg when 0 (a VM that does not answer keeps its figures at 0). */
void mem_reclaim_decide(const struct mem_params *p, struct mem_reclaim_vm *v,
			unsigned n);

#endif
