/*
 * Page sharing, first step: zero frames (docs/memory.md, "Page sharing").
 * A private frame that holds only zeros goes back to the shared zero frame
 * and its host memory to the host, in two phases a TLB flush apart (see
 * gmem.h for the contract and gmem_priv.h for the frame states).
 *
 * Why nothing can be lost:
 *  - a hart stores straight into a frame only through a TLB entry filled by
 *    gmem_page(GMEM_WRITE) while the frame was writable. Protection makes
 *    new fills come back through gmem_page, which lifts it; the owner's
 *    flush removes the old entries before the commit looks at the frame.
 *  - the commit marks the frame busy first: a writer that comes now waits
 *    until the frame is the zero frame and then makes the same slot private
 *    again, after the punch. A reader may still read the slot through a
 *    stale pointer: it reads zeros, which is what the frame holds, and
 *    after the next write the same slot again.
 *  - a device may hold a pointer to the slot from gmem_dma_map() since
 *    before the protection: such frames are pinned and left alone. The
 *    pin is taken before the lookup and checked after the busy mark, with
 *    a full fence on both sides, so one of the two sees the other.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "mem/gmem.h"
#include "mem/gmem_priv.h"

/* Words, not bytes: the scanner looks at many frames. */
bool gmem_frame_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	uint64_t acc = 0;

	for (size_t i = 0; i < GUEST_PAGE_SIZE / 8; i += 8) {
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] |
		       w[i + 5] | w[i + 6] | w[i + 7];
		if (acc)
			return false;
	}
	return true;
}

bool gmem_share_protect_zero(struct gmem *gm, uint64_t gfn)
{
	uintptr_t cur, slot;

	if (gfn >= gm->nframes)
		return false;
	atomic_fetch_add_explicit(&gm->share_scanned, 1, memory_order_relaxed);
	cur = p2m_get(gm, gfn);
	slot = (uintptr_t)p2m_slot(gm, gfn);
	/* private and writable only; a racy look at the content is fine,
	 * the commit looks again once no store can be in flight */
	if (cur != slot || atomic_load(&gm->pins[gfn]) ||
	    !gmem_frame_is_zero(p2m_slot(gm, gfn)))
		return false;
	return p2m_cas(gm, gfn, &cur, slot | P2M_F_RO);
}

void gmem_share_unprotect(struct gmem *gm, uint64_t gfn)
{
	uintptr_t slot;

	if (gfn >= gm->nframes)
		return;
	slot = (uintptr_t)p2m_slot(gm, gfn);
	uintptr_t cur = slot | P2M_F_RO;
	(void)p2m_cas(gm, gfn, &cur, slot); /* a writer may have lifted it */
}

bool gmem_share_commit_zero(struct gmem *gm, uint64_t gfn)
{
	uintptr_t slot, cur, busy;

	if (gfn >= gm->nframes)
		return false;
	slot = (uintptr_t)p2m_slot(gm, gfn);
	cur = slot | P2M_F_RO;
	busy = slot | P2M_F_RO | P2M_F_BUSY;
	if (!p2m_cas(gm, gfn, &cur, busy))
		return false; /* written since the protection */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&gm->pins[gfn]) ||
	    !gmem_frame_is_zero(p2m_slot(gm, gfn))) {
		cur = busy;
		(void)p2m_cas(gm, gfn, &cur, slot); /* only we leave busy */
		return false;
	}
	gmem_slot_discard(gm, gfn);
	cur = busy;
	(void)p2m_cas(gm, gfn, &cur, gm->zero_entry | P2M_F_SHARED);
	atomic_fetch_sub_explicit(&gm->frames_private, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&gm->frames_zero_shared, 1,
				  memory_order_relaxed);
	return true;
}

void gmem_share_abort(struct gmem *gm, struct gmem_share *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		gmem_share_unprotect(gm, s->gfn[i]);
	for (uint32_t i = 0; i < s->n_cold; i++)
		gmem_reclaim_unprobe(gm, s->cold[i]);
	for (uint32_t i = 0; i < s->n_offer; i++)
		gmem_pool_unoffer(gm, s->offer[i]);
	if (s->n_offer)
		gmem_pool_next_batch(gm);
	s->n_offer = 0;
	s->n = 0;
	s->n_cold = 0;
	s->waited = 0;
}

/* Probe up to `want` frames on the clock (reclaim.c); a clock pass looks
 * at most at four batches' worth of frames. */
static void reclaim_probe(struct gmem *gm, struct gmem_share *s, uint64_t want)
{
	uint64_t look = 4 * (uint64_t)GMEM_SHARE_BATCH;

	if (want > GMEM_SHARE_BATCH)
		want = GMEM_SHARE_BATCH;
	for (uint64_t k = 0; k < look && s->n_cold < want; k++) {
		uint64_t gfn = s->clock++;

		if (s->clock >= gm->nframes)
			s->clock = 0;
		if (gmem_reclaim_probe(gm, gfn))
			s->cold[s->n_cold++] = (uint32_t)gfn;
	}
}

/* The flush after the offers' protection is done: their content is
 * stable, hash the ones still offered and hand them to the daemon; punch
 * the slots of frames committed before the last flush. */
static void pool_send_offers(struct gmem *gm, struct gmem_share *s)
{
	unsigned n = 0;

	gmem_pool_flushed(gm);
	for (uint32_t i = 0; i < s->n_offer; i++) {
		uint64_t h;

		if (!gmem_pool_offered(gm, s->offer[i], &h))
			continue; /* written since */
		s->offers[n].gfn = s->offer[i];
		s->offers[n].pad = 0;
		s->offers[n].hash = h;
		n++;
	}
	s->n_offer = 0;
	atomic_fetch_add_explicit(&gm->pool_offered, n, memory_order_relaxed);
	if (n && (!gm->pool_ops.offer ||
		  !gm->pool_ops.offer(gm->pool_ops.opaque, gm->pool_gen,
				      gmem_pool_batch(gm), s->offers, n)))
		for (unsigned i = 0; i < n; i++)
			gmem_pool_unoffer(gm, s->offers[i].gfn);
	/* what the scan protects from now on goes out in the next batch */
	gmem_pool_next_batch(gm);
}

/* A 256th of the VM: below it a pass found "nothing", above it the VM's
 * new private frames end a rest. */
static uint64_t share_idle_frames(const struct gmem *gm)
{
	return gm->nframes / 256 + 1;
}

/* Frames the daemon's answers committed since the last call (answers
 * come on another thread, at once or late): finds of the pass. An offer
 * is no find: an unmatched one stays offered and is not made again. */
static uint32_t share_pool_commits(struct gmem *gm, struct gmem_share *s)
{
	uint64_t c = atomic_load_explicit(&gm->pool_commits,
					  memory_order_relaxed);
	uint64_t d = c - s->pool_commits_seen;

	s->pool_commits_seen = c;
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* One step of a rest: true while the scan should stay still. */
static bool share_resting(struct gmem *gm, struct gmem_share *s)
{
	uint64_t priv;

	if (!s->rest)
		return false;
	priv = atomic_load_explicit(&gm->frames_private, memory_order_relaxed);
	if (priv >= s->private_at_end + share_idle_frames(gm)) {
		s->rest = 0; /* the guest took memory: look again */
		return false;
	}
	s->rest--;
	return true;
}

/* The cursor went round: rest after a pass that found next to nothing,
 * longer after each one in a row (ESX spreads its scan of an idle VM
 * over an hour; an idle VM here pays about a sixteenth of the scan). */
static void share_pass_ended(struct gmem *gm, struct gmem_share *s)
{
	s->pass_found += share_pool_commits(gm, s);
	if (s->pass_found >= share_idle_frames(gm))
		s->idle_passes = 0;
	else if (s->idle_passes < 4)
		s->idle_passes++;
	s->rest = s->pass_steps * ((1u << s->idle_passes) - 1);
	s->pass_steps = 0;
	s->pass_found = 0;
	s->private_at_end = atomic_load_explicit(&gm->frames_private,
						 memory_order_relaxed);
}

unsigned gmem_share_step(struct gmem *gm, struct gmem_share *s,
			 const struct gmem_share_ops *ops, unsigned scan)
{
	unsigned shared = 0;
	uint64_t excess;

	bool pool = gmem_pool_attached(gm);

	if (pool)
		gmem_pool_send_drops(gm);
	if (s->n || s->n_cold || s->n_held || s->n_offer ||
	    (pool && gmem_pool_flush_pending(gm))) {
		if (!ops->flushed(ops->opaque)) {
			/* a vCPU that does not run for long (throttled,
			 * descheduled) holds the batch back: give it up
			 * (the held slots wait: they only cost memory) */
			if (++s->waited >= 8)
				gmem_share_abort(gm, s);
			return 0;
		}
		for (uint32_t i = 0; i < s->n_held; i++)
			(void)gmem_reclaim_release(gm, s->held[i]);
		s->n_held = 0;
		for (uint32_t i = 0; i < s->n; i++)
			shared += gmem_share_commit_zero(gm, s->gfn[i]);
		s->n = 0;
		for (uint32_t i = 0; i < s->n_cold; i++) {
			switch (gmem_reclaim_commit(gm, s->cold[i])) {
			case GMEM_RECLAIM_OUT:
				s->held[s->n_held++] = s->cold[i];
				break;
			case GMEM_RECLAIM_ZERO: shared++; break;
			default: break;
			}
		}
		s->n_cold = 0;
		s->waited = 0;
		if (pool)
			pool_send_offers(gm, s);
		s->pass_found += shared;
	}
	if (scan && share_resting(gm, s))
		scan = 0;
	if (scan)
		s->pass_steps++;
	for (unsigned k = 0; k < scan && s->n < GMEM_SHARE_BATCH; k++) {
		uint64_t gfn = s->cursor++;

		if (gmem_share_protect_zero(gm, gfn))
			s->gfn[s->n++] = (uint32_t)gfn;
		else if (pool && s->n_offer < GMEM_SHARE_BATCH &&
			 gmem_pool_protect(gm, gfn))
			s->offer[s->n_offer++] = (uint32_t)gfn;
		if (s->cursor >= gm->nframes) {
			s->cursor = 0;
			share_pass_ended(gm, s);
			break;
		}
	}
	/* frames whose slot goes back next step count as gone already; a
	 * VM over its target is taken a little further (1/32 of the
	 * target), so that it runs a while before it is over again */
	excess = gmem_reclaim_excess(gm);
	if (excess > s->n_held)
		reclaim_probe(gm, s,
			      excess - s->n_held + gmem_reclaim_margin(gm));
	if (s->n || s->n_cold || s->n_held || s->n_offer ||
	    (pool && gmem_pool_flush_pending(gm)))
		ops->flush(ops->opaque);
	return shared;
}
