/*
 * Cross-VM sharing of identical non-zero frames, the worker's side
 * (docs/memory.md, "Sharing identical pages across VMs"). The daemon owns
 * a host-wide pool of frames (a memfd this process maps read-only); the
 * scanner offers frames by content hash, the daemon confirms equality byte
 * for byte and answers with a pool frame, and the frame's slot goes back
 * to the host. A store copies the pool frame back into the slot.
 *
 * Why nothing can be lost (see share.c for the phases they share):
 *  - an offered or pooled entry is RO: no TLB caches it for stores, so a
 *    store by any hart comes to gmem_page() and breaks the sharing before
 *    its data lands anywhere.
 *  - a pooled entry may be cached for loads and fetches only when the
 *    owner gave a TLB sync (gmem_set_tlb_sync); otherwise it is NOCACHE
 *    too. With one, a break or release first makes the entry NOCACHE (no
 *    new TLB entry), then waits for the sync (no old one left), and only
 *    then maps the slot: no hart goes on reading the pool frame after a
 *    store to the page, nor after the reference went back to the daemon,
 *    which may fill the frame with another VM's page.
 *  - a frame is offered only after the flush that follows its protection,
 *    so no TLB entry filled while it was private survives; its content
 *    cannot change while it stays offered (a store lifts the offer).
 *  - the commit marks the entry busy, checks the DMA pin behind a fence
 *    and compares the slot with the pool frame before it maps it (the
 *    daemon's answer is only a proposal, the content decides).
 *  - the slot is punched only after one more flush of every hart: a hart
 *    that read the offered frame through the slot, or cached that read
 *    in its TLB (offered frames may be cached for reads: the slot holds
 *    the content), before the commit has dropped that entry by then.
 *  - the pool mapping is read-only (the daemon hands out a read-only
 *    descriptor; the kernel refuses a writable shared mapping of it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xxhash.h>

#include "mem/gmem.h"
#include "mem/gmem_priv.h"

uint64_t gmem_pool_hash(const void *page)
{
	return XXH3_64bits(page, GUEST_PAGE_SIZE);
}

/* Append an item of `width` words to a growable list (pool_lock held).
 * Out of memory: the item is lost, which costs a leaked pool reference
 * (until the VM ends) or a slot that stays committed: never correctness. */
static void list_push(uint32_t **v, uint32_t *n, uint32_t *cap,
		      const uint32_t *item, unsigned width)
{
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 256;
		uint32_t *nv = realloc(*v, (size_t)nc * width * sizeof(**v));

		if (!nv)
			return;
		*v = nv;
		*cap = nc;
	}
	memcpy(*v + (size_t)*n * width, item, width * sizeof(**v));
	(*n)++;
}

void gmem_pool_attach(struct gmem *gm, const void *base, uint64_t frames,
		      uint32_t gen, const struct gmem_pool_ops *ops)
{
	void *t;

	gm->offer_batch_bytes = gm->nframes * sizeof(*gm->offer_batch);
	t = mmap(NULL, gm->offer_batch_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t == MAP_FAILED)
		return;
	gm->offer_batch = t;
	gm->pool_base = base;
	gm->pool_frames = frames;
	gm->pool_gen = gen;
	gm->pool_ops = *ops;
}

uint32_t gmem_pool_batch(const struct gmem *gm)
{
	return gm->pool_batch;
}

void gmem_pool_next_batch(struct gmem *gm)
{
	gm->pool_batch++;
}

bool gmem_pool_attached(const struct gmem *gm)
{
	return gm->pool_base != NULL;
}

const uint8_t *gmem_pool_frame(const struct gmem *gm, uint32_t frame)
{
	return gm->pool_base + ((uint64_t)frame << GUEST_PAGE_SHIFT);
}

/* The pool frame an entry maps (the entry has P2M_F_POOL). */
static uint32_t pool_index(const struct gmem *gm, uintptr_t e)
{
	return (uint32_t)(((e & ~P2M_FLAGS_MASK) - (uintptr_t)gm->pool_base) >>
			  GUEST_PAGE_SHIFT);
}

void gmem_pool_queue_drop(struct gmem *gm, uint32_t gfn, uint32_t frame,
			  uint32_t batch)
{
	const uint32_t item[3] = { gfn, frame, batch };

	pthread_mutex_lock(&gm->pool_lock);
	list_push(&gm->pool_drops, &gm->n_drops, &gm->cap_drops, item, 3);
	pthread_mutex_unlock(&gm->pool_lock);
}

uint32_t gmem_pool_commit_batch(const struct gmem *gm, uint64_t gfn)
{
	if (!gm->offer_batch || gfn >= gm->nframes)
		return 0;
	return atomic_load_explicit(&gm->offer_batch[gfn],
				    memory_order_relaxed);
}

bool gmem_pool_protect(struct gmem *gm, uint64_t gfn)
{
	uintptr_t cur, slot;

	if (gfn >= gm->nframes || !gm->pool_base)
		return false;
	cur = p2m_get(gm, gfn);
	slot = (uintptr_t)p2m_slot(gm, gfn);
	if (cur != slot || atomic_load(&gm->pins[gfn]))
		return false;
	/* only this thread moves slot -> offered: the batch is in place
	 * before the entry says offered (the CAS releases it) */
	atomic_store_explicit(&gm->offer_batch[gfn], gm->pool_batch,
			      memory_order_relaxed);
	return p2m_cas(gm, gfn, &cur, slot | P2M_OFFER_FLAGS);
}

void gmem_pool_unoffer(struct gmem *gm, uint64_t gfn)
{
	uintptr_t slot, cur;

	if (gfn >= gm->nframes)
		return;
	slot = (uintptr_t)p2m_slot(gm, gfn);
	cur = slot | P2M_OFFER_FLAGS;
	(void)p2m_cas(gm, gfn, &cur, slot); /* a writer may have lifted it */
}

bool gmem_pool_offered(struct gmem *gm, uint64_t gfn, uint64_t *hash)
{
	uintptr_t slot;

	if (gfn >= gm->nframes)
		return false;
	slot = (uintptr_t)p2m_slot(gm, gfn);
	if (p2m_get(gm, gfn) != (slot | P2M_OFFER_FLAGS))
		return false;
	*hash = gmem_pool_hash(p2m_slot(gm, gfn));
	return true;
}

/* The daemon's answer for an offered frame: share it with pool frame
 * `frame` (commit), GMEM_POOL_NONE (no match yet: the offer stays, the
 * daemon keeps the frame as a candidate and may answer again, late, when
 * another frame with these bytes comes) or GMEM_POOL_LIFT (not kept: the
 * offer is lifted, a later pass offers it again).
 * Only the answer to the batch the frame was last offered in may touch
 * it: a frame written since and offered again is protected, but its new
 * offer waits for a flush that may not have happened yet (a hart may
 * still hold a writable TLB entry), so a late answer to the old offer
 * must not commit it. A late answer to the offer it still is in is fine:
 * the frame has stayed offered (read-only, flushed) since, so its content
 * is what was offered, and the commit compares it with the pool frame
 * anyway. */
bool gmem_pool_answer(struct gmem *gm, uint32_t gen, uint32_t batch,
		      uint32_t gfn, uint32_t frame)
{
	uintptr_t slot, cur, busy;
	const uint8_t *pf;
	bool lift = frame == GMEM_POOL_LIFT ||
		    (frame != GMEM_POOL_NONE && frame >= gm->pool_frames);

	if (frame == GMEM_POOL_NONE)
		return false; /* stays offered until written */
	if (!gm->pool_base || gen != gm->pool_gen || gfn >= gm->nframes)
		return false; /* another RAM's: the daemon forgot it */
	slot = (uintptr_t)p2m_slot(gm, gfn);
	cur = slot | P2M_OFFER_FLAGS;
	busy = cur | P2M_F_BUSY;
	if (!p2m_cas(gm, gfn, &cur, busy))
		goto refuse; /* written since the offer */
	if (atomic_load_explicit(&gm->offer_batch[gfn], memory_order_relaxed) !=
	    batch) {
		cur = busy; /* offered again since: not this answer's */
		(void)p2m_cas(gm, gfn, &cur, slot | P2M_OFFER_FLAGS);
		goto refuse;
	}
	if (lift) {
		/* not kept (or a daemon that names no pool frame) */
		cur = busy;
		(void)p2m_cas(gm, gfn, &cur, slot);
		return false;
	}
	atomic_thread_fence(memory_order_seq_cst);
	pf = gmem_pool_frame(gm, frame);
	if (atomic_load(&gm->pins[gfn]) ||
	    memcmp(p2m_slot(gm, gfn), pf, GUEST_PAGE_SIZE)) {
		cur = busy;
		(void)p2m_cas(gm, gfn, &cur, slot); /* only we leave busy */
		goto refuse;
	}
	cur = busy;
	(void)p2m_cas(gm, gfn, &cur,
		      (uintptr_t)pf | P2M_POOL_FLAGS |
			      (gm->tlb_sync ? 0 : P2M_F_NOCACHE));
	atomic_fetch_sub_explicit(&gm->frames_private, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&gm->frames_pool_shared, 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&gm->pool_commits, 1, memory_order_relaxed);
	pthread_mutex_lock(&gm->pool_lock);
	list_push(&gm->pool_fresh, &gm->n_fresh, &gm->cap_fresh, &gfn, 1);
	pthread_mutex_unlock(&gm->pool_lock);
	return true;

refuse:
	if (!lift)
		gmem_pool_queue_drop(gm, gfn, frame, batch);
	return false;
}

void gmem_set_tlb_sync(struct gmem *gm, void (*sync)(void *opaque),
		       void *opaque)
{
	gm->tlb_sync = sync;
	gm->tlb_sync_opaque = opaque;
}

bool gmem_pool_uncache(struct gmem *gm, uint64_t gfn, uintptr_t *cur)
{
	if (!gm->tlb_sync)
		return true; /* pooled entries are NOCACHE: nothing cached */
	if (!(*cur & P2M_F_NOCACHE)) {
		if (!p2m_cas(gm, gfn, cur, *cur | P2M_F_NOCACHE))
			return false;
		*cur |= P2M_F_NOCACHE;
	}
	/* also when another thread set NOCACHE: its sync may not be done */
	gm->tlb_sync(gm->tlb_sync_opaque);
	return true;
}

/* A store reached a pooled frame: copy it back into the slot (a COW
 * break). Called by gmem_make_private() with the current entry; returns
 * the new entry (the slot) or the entry it found changed. */
uintptr_t gmem_pool_break(struct gmem *gm, uint64_t gfn, uintptr_t cur)
{
	uintptr_t busy;
	uintptr_t slot = (uintptr_t)p2m_slot(gm, gfn);
	uint32_t batch;

	gmem_reclaim_throttle(gm);
	if (!gmem_pool_uncache(gm, gfn, &cur))
		return cur;
	busy = cur | P2M_F_BUSY;
	if (!p2m_cas(gm, gfn, &cur, busy))
		return cur;
	/* before the entry is the slot again: a new offer overwrites it */
	batch = gmem_pool_commit_batch(gm, gfn);
	/* the slot is a hole (or still holds the content until the punch,
	 * which leaves a frame that is no longer pooled alone) */
	memcpy(p2m_slot(gm, gfn), (const void *)(cur & ~P2M_FLAGS_MASK),
	       GUEST_PAGE_SIZE);
	cur = busy;
	(void)p2m_cas(gm, gfn, &cur, slot);
	atomic_fetch_add_explicit(&gm->frames_private, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&gm->cow_breaks, 1, memory_order_relaxed);
	gmem_pool_released(gm, gfn, busy, batch);
	if (!(busy & P2M_F_FILE))
		atomic_fetch_add_explicit(&gm->pool_cow_breaks, 1,
					  memory_order_relaxed);
	return slot;
}

/* A pooled (or file) frame left gfn: a COW break, or gmem_release_page()
 * took it back to the zero frame. A pool frame's reference goes back. */
void gmem_pool_released(struct gmem *gm, uint64_t gfn, uintptr_t was,
			uint32_t batch)
{
	if (was & P2M_F_FILE) {
		atomic_fetch_sub_explicit(&gm->frames_file, 1,
					  memory_order_relaxed);
		return;
	}
	atomic_fetch_sub_explicit(&gm->frames_pool_shared, 1,
				  memory_order_relaxed);
	gmem_pool_queue_drop(gm, (uint32_t)gfn, pool_index(gm, was), batch);
}

bool gmem_pool_flush_pending(struct gmem *gm)
{
	bool r;

	pthread_mutex_lock(&gm->pool_lock);
	r = gm->n_punch || gm->n_fresh;
	pthread_mutex_unlock(&gm->pool_lock);
	return r;
}

/* Every hart flushed since the last step: punch the slots committed
 * before that flush was asked for (pool_punch, the scanner's); the ones
 * committed since (pool_fresh) become the next list. */
void gmem_pool_flushed(struct gmem *gm)
{
	uint32_t *fresh, n_fresh, cap_fresh;

	for (uint32_t i = 0; i < gm->n_punch; i++) {
		uint32_t gfn = gm->pool_punch[i];
		uintptr_t cur = p2m_get(gm, gfn), busy;

		if (!(cur & P2M_F_POOL) || (cur & P2M_F_BUSY))
			continue; /* broken or released since: not ours */
		busy = cur | P2M_F_BUSY;
		if (!p2m_cas(gm, gfn, &cur, busy))
			continue;
		gmem_slot_discard(gm, gfn);
		cur = busy;
		(void)p2m_cas(gm, gfn, &cur, busy & ~P2M_F_BUSY);
	}
	pthread_mutex_lock(&gm->pool_lock);
	fresh = gm->pool_fresh;
	n_fresh = gm->n_fresh;
	cap_fresh = gm->cap_fresh;
	gm->pool_fresh = gm->pool_punch;
	gm->cap_fresh = gm->cap_punch;
	gm->n_fresh = 0;
	pthread_mutex_unlock(&gm->pool_lock);
	gm->pool_punch = fresh;
	gm->n_punch = n_fresh;
	gm->cap_punch = cap_fresh;
}

/* Send the references COW breaks, releases and refused answers let go
 * of; a frame a device still has pinned keeps its reference until the
 * pin goes (the device may read the pool frame through its mapping). */
void gmem_pool_send_drops(struct gmem *gm)
{
	struct gmem_pool_pair out[512];
	unsigned n = 0;

	pthread_mutex_lock(&gm->pool_lock);
	uint32_t keep = 0;
	for (uint32_t i = 0; i < gm->n_drops; i++) {
		const uint32_t *d = gm->pool_drops + 3 * (size_t)i;
		uint32_t gfn = d[0];

		if (n == sizeof(out) / sizeof(out[0]) ||
		    (gfn < gm->nframes && atomic_load(&gm->pins[gfn]))) {
			memmove(gm->pool_drops + 3 * (size_t)keep, d,
				3 * sizeof(*d));
			keep++;
			continue;
		}
		out[n].gfn = gfn;
		out[n].frame = d[1];
		out[n].batch = d[2];
		out[n].pad = 0;
		n++;
	}
	gm->n_drops = keep;
	pthread_mutex_unlock(&gm->pool_lock);
	if (n && gm->pool_ops.drop)
		gm->pool_ops.drop(gm->pool_ops.opaque, gm->pool_gen, out, n);
}

void gmem_pool_destroy(struct gmem *gm)
{
	if (gm->offer_batch)
		munmap(gm->offer_batch, gm->offer_batch_bytes);
	free(gm->pool_drops);
	free(gm->pool_fresh);
	free(gm->pool_punch);
	pthread_mutex_destroy(&gm->pool_lock);
}
