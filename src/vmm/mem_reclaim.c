/*
 * The policy loop's decisions: see mem_reclaim.h and docs/memory.md.
 */
#include "vmm/mem_reclaim.h"
#include "vmm/qos.h"

uint64_t mem_active_estimate(const struct mem_vm_figures *f)
{
	uint64_t size = f->size_pages, a;

	if (f->guest_stats &&
	    f->guest_stats_age_ms <= MEM_GUEST_STATS_MAX_AGE_MS &&
	    f->guest_total_pages &&
	    f->guest_avail_pages <= f->guest_total_pages) {
		/* in use and not reclaimable by the guest; Linux takes
		 * ballooned pages out of MemTotal, so the balloon does not
		 * count as active (as in ESX) */
		a = f->guest_total_pages - f->guest_avail_pages;
	} else {
		a = f->private_pages;
		a = a > f->zero_shared_pages ? a - f->zero_shared_pages : 0;
	}
	return a > size ? size : a;
}

/* What compression is to reclaim: the guest holds at most size - beyond -
 * what its balloon holds now (untrusted, so clamped to what it is asked
 * for). */
static void reclaim_limit(struct mem_reclaim_vm *v)
{
	uint64_t size = v->cfg.size_pages, beyond = v->beyond_balloon_pages;
	uint64_t actual = v->fig.balloon_actual_pages, lim = 0;
	uint64_t cur = v->fig.reclaim_limit_pages;

	if (actual > v->balloon_pages)
		actual = v->balloon_pages;
	if (beyond >= MEM_RECLAIM_STEP_PAGES) { /* less is not worth it */
		lim = size - beyond - actual;	/* >= target >= 0 */
		if (lim < MEM_RECLAIM_STEP_PAGES)
			lim = MEM_RECLAIM_STEP_PAGES;
	}
	if (cur > size) /* the worker's word */
		cur = size + 1;
	uint64_t diff = lim > cur ? lim - cur : cur - lim;
	v->reclaim_limit_pages = lim;
	v->send_limit = diff &&
			(diff >= MEM_RECLAIM_STEP_PAGES || !lim || !cur);
}

void mem_reclaim_decide(const struct mem_params *p, struct mem_reclaim_vm *v,
			unsigned n)
{
	struct mem_vm_state st[QOS_MAX_CLAIMS];
	unsigned m = n < QOS_MAX_CLAIMS ? n : QOS_MAX_CLAIMS;

	for (unsigned j = 0; j < m; j++) {
		struct mem_vm_figures f = v[j].fig;
		uint64_t size = v[j].cfg.size_pages;

		f.size_pages = size; /* ours, not the worker's word */
		v[j].active_pages = mem_active_estimate(&f);
		v[j].active_permille =
			size ? (uint32_t)(v[j].active_pages * 1000 / size) : 0;
		st[j] = (struct mem_vm_state){
			.cfg = v[j].cfg,
			.active_permille = v[j].active_permille,
		};
	}
	mem_targets(p, st, m);
	for (unsigned j = 0; j < n; j++) {
		uint64_t size = v[j].cfg.size_pages;
		uint64_t target = j < m ? st[j].target_pages
					: v[j].cfg.reservation_pages;
		uint64_t max_balloon = size / 100 * MEM_BALLOON_MAX_PCT +
				       size % 100 * MEM_BALLOON_MAX_PCT / 100;
		uint64_t want = target < size ? size - target : 0;
		uint64_t cur = v[j].fig.balloon_target_pages;

		if (j >= m) {
			v[j].active_pages = 0;
			v[j].active_permille = 0;
		}
		v[j].target_pages = target;
		uint64_t headroom = size / MEM_BALLOON_HEADROOM_DIV;
		if (headroom < MEM_BALLOON_HEADROOM_MIN_PAGES)
			headroom = MEM_BALLOON_HEADROOM_MIN_PAGES;
		uint64_t keep = v[j].active_pages + headroom;
		uint64_t free_pages = keep < size ? size - keep : 0;
		if (max_balloon > free_pages)
			max_balloon = free_pages;
		v[j].balloon_pages = want > max_balloon ? max_balloon : want;
		/* a balloon under a step is not worth it: deflated, which
		 * is always sent (else it would stay at a small size the
		 * hysteresis never lets go) */
		if (!v[j].fig.has_balloon ||
		    v[j].balloon_pages < MEM_RECLAIM_STEP_PAGES)
			v[j].balloon_pages = 0;
		v[j].beyond_balloon_pages = want - v[j].balloon_pages;
		uint64_t diff = v[j].balloon_pages > cur
					? v[j].balloon_pages - cur
					: cur - v[j].balloon_pages;
		v[j].send = v[j].fig.has_balloon && diff &&
			    (diff >= MEM_RECLAIM_STEP_PAGES ||
			     v[j].balloon_pages == 0);
		reclaim_limit(&v[j]);
	}
}
