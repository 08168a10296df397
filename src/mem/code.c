/*
 * Code-write log (gmem.h, "code-write log"): lets a hart's FENCE.I keep
 * its decoded blocks and translations when nobody can have written the
 * frames it decoded from since its last epoch (docs/jit.md, "Seventh
 * pass" and "Eighth pass").
 *
 * Host writers: Dekker's protocol on the frame's pin count and code bit.
 *
 *   hart (decode, revalidate)         host writer (gmem_code_write)
 *   set the code bit                  pin the frames
 *   full fence                        full fence
 *   read the pin count                read the code bits: set -> gen++
 *   read the instruction bytes        write; unpin
 *
 * Either the writer sees the bit (and moves the generation before it
 * writes), or the hart sees the pin (and treats what it read as unsure
 * until its next epoch). A write the hart read before the writer pinned
 * always moves the generation first.
 *
 * Harts' stores. A store TLB fill that does not store (the translator's,
 * mmu_jit_fill) refuses a marked frame (gmem_code_marked), so a store to
 * a marked frame takes the slow path, whose gmem_code_store clears the bit
 * and then moves the generation, before it writes; it may fill after
 * that. Clearing lets a frame that held code and now holds data go back to
 * fast stores; whoever reads code from it again marks it again.
 *
 * The move comes after the clear: a reader whose mark the clear took (its
 * fetch_or came first, found the bit set, and trusted it) loaded its
 * generation before its fetch_or, which the clear read, so it cannot have
 * seen the move, and its FENCE.I after the guest saw the bytes (written
 * after the move) moves its epoch. (The test_threads race: with the move
 * before the clear, such a reader could load the moved generation, keep
 * its mark for a moment, read the old bytes, lose the mark, and keep its
 * epoch at the next FENCE.I.) Between the clear and the move, someone
 * who reads the bit clear cannot rely on the move yet: code_clearing
 * counts stores in that window, and whoever finds the bit clear reads it
 * after the bit: a host writer (gmem_code_write) and another hart's slow
 * store then move the generation themselves, and the translator's fill
 * refuses. A zero there means every clear it could have read was followed
 * by its move (every lowering follows its raise, and the bit's clear is a
 * release its reader synchronises with).
 *
 * With several harts, two kinds of store can miss a first mark: one on
 * the slow path that read the bit clear before it was set, and one
 * through a store TLB entry filled before it was set.
 *
 * A slow-path store (mmu.c: a store, an AMO or SC, an A/D update) looks
 * again after it wrote, behind a full fence (gmem_code_stored):
 *
 *   hart (first mark)                 hart store, slow path
 *   set the code bit                  write
 *   full fence                        full fence
 *   read the instruction bytes        read the code bit: set -> unmark,
 *                                       move the generation
 *
 * Either the marker reads what was written, or the store moves the
 * generation, which the marker loaded before it marked (its epoch), so
 * its next FENCE.I does not keep the epoch.
 *
 * Store TLB entries. After the fence the marker asks the board's store
 * probe (gmem_set_store_probe) whether another hart's store TLB holds an
 * entry for the frame. A fill publishes its entry, fences, and reads the
 * bit, taking the entry back before any store uses it if the bit is set
 * (mmu.c, gmem_code_fill_ok): either the probe sees the entry or the
 * filler sees the bit. A hart replaces or clears its entries only between
 * its own accesses, so an entry the probe does not see is not in use. An
 * entry it sees may be: then, and without a probe, the marker calls the
 * board's TLB sync (gmem_set_tlb_sync, the one pool frames use) before it
 * reads the bytes. The sync posts a TLB flush to every hart and returns
 * when each flushed, or is parked, outside hart_run() or in a
 * device model with the request still pending: such a hart serves it
 * before its next guest access (the top of its run loop, after the fence
 * that follows in_run, or hart_device_leave), so none of its stores uses
 * an old entry after the sync returns; "not running" alone would not do,
 * the pending request is what makes it an acknowledgement. A store in
 * flight through an old entry is over when its hart acknowledges, and
 * the acknowledgement is a release that the sync's wait reads. Most first
 * marks are of frames no other hart stores to, and skip the wait (a
 * 4-hart boot: docs/jit.md, "Eleventh pass").
 *
 * A second hart that finds the bit already set may not trust its reads
 * until the first marker's sync is over: code_marking counts first marks
 * in flight (raised before the set, lowered after the sync), and a reader
 * that sees it nonzero after its fence treats what it read as unsure. It
 * does not wait: the marker may be waiting for its acknowledgement.
 *
 * With one hart attached nothing needs flushing (its own store TLB is
 * flushed for its code pages, block.c); a hart that attaches later fences
 * after the attach, so its fills see every bit set before the count was
 * read as 1.
 */
#include "mem/gmem.h"
#include "mem/gmem_priv.h"

/* gpa's frame, its word and bit in the bitmap; false if not RAM. */
static bool code_bit(struct gmem *gm, uint64_t gpa, uint64_t *gfn,
		     _Atomic uint64_t **w, uint64_t *bit)
{
	uint64_t off;

	if (!gmem_ram_offset(gm, gpa, 1, &off))
		return false;
	*gfn = off >> GUEST_PAGE_SHIFT;
	*w = &gm->code[*gfn >> 6];
	*bit = 1ULL << (*gfn & 63);
	return true;
}

bool gmem_code_mark(struct gmem *gm, uint64_t gpa)
{
	_Atomic uint64_t *w;
	uint64_t gfn, bit;

	if (!code_bit(gm, gpa, &gfn, &w, &bit))
		return true; /* never decoded from: nothing to log */

	/* Test first: a page of code is usually marked already, and a plain
	 * load keeps the line shared between harts. */
	if (!(atomic_load_explicit(w, memory_order_acquire) & bit)) {
		atomic_fetch_add(&gm->code_marking, 1);
		if (!(atomic_fetch_or(w, bit) & bit) && gm->tlb_sync &&
		    gmem_harts(gm) > 1) {
			/* the probe reads the entries after the bit */
			atomic_thread_fence(memory_order_seq_cst);
			if (!gm->store_probe ||
			    gm->store_probe(gm->tlb_sync_opaque,
					    gpa & ~GUEST_PAGE_MASK)) {
				gm->tlb_sync(gm->tlb_sync_opaque);
				atomic_fetch_add_explicit(&gm->code_syncs, 1,
							  memory_order_relaxed);
			} else {
				atomic_fetch_add_explicit(&gm->code_probed, 1,
							  memory_order_relaxed);
			}
		}
		atomic_fetch_sub(&gm->code_marking, 1);
	}
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&gm->pins[gfn], memory_order_relaxed) ==
		       0 &&
	       atomic_load(&gm->code_marking) == 0;
}

bool gmem_code_marked(struct gmem *gm, uint64_t gpa)
{
	_Atomic uint64_t *w;
	uint64_t gfn, bit;

	if (!code_bit(gm, gpa, &gfn, &w, &bit))
		return false;
	/* a clear bit counts only once the store that cleared it moved */
	return (atomic_load(w) & bit) || atomic_load(&gm->code_clearing);
}

void gmem_code_store(struct gmem *gm, uint64_t gpa)
{
	_Atomic uint64_t *w;
	uint64_t gfn, bit;

	if (!code_bit(gm, gpa, &gfn, &w, &bit))
		return;
	if (!(atomic_load(w) & bit)) {
		/* cleared by a store whose move may not be done yet */
		if (atomic_load(&gm->code_clearing))
			gmem_code_moved(gm);
		return;
	}
	atomic_fetch_add(&gm->code_clearing, 1);
	atomic_fetch_and(w, ~bit);
	/* after the clear: a reader whose mark the clear took loaded its
	 * generation before (its fetch_or came first) */
	gmem_code_moved(gm);
	atomic_fetch_sub(&gm->code_clearing, 1);
}

void gmem_code_stored(struct gmem *gm, uint64_t gpa)
{
	if (gmem_harts(gm) < 2)
		return; /* the only marker is the storer */
	atomic_thread_fence(memory_order_seq_cst);
	gmem_code_store(gm, gpa);
}

bool gmem_code_fill_ok(struct gmem *gm, uint64_t gpa)
{
	if (gmem_harts(gm) < 2)
		return true;
	atomic_thread_fence(memory_order_seq_cst);
	return !gmem_code_marked(gm, gpa);
}

void gmem_set_store_probe(struct gmem *gm,
			  bool (*probe)(void *opaque, uint64_t gpa_page))
{
	gm->store_probe = probe;
}

bool gmem_code_smp(const struct gmem *gm)
{
	return gm->tlb_sync != NULL;
}

uint64_t gmem_code_syncs(const struct gmem *gm)
{
	return atomic_load_explicit(&gm->code_syncs, memory_order_relaxed);
}

uint64_t gmem_code_probed(const struct gmem *gm)
{
	return atomic_load_explicit(&gm->code_probed, memory_order_relaxed);
}

uint64_t gmem_code_gen(const struct gmem *gm)
{
	return atomic_load_explicit(&gm->code_gen, memory_order_acquire);
}

void gmem_code_moved(struct gmem *gm)
{
	atomic_fetch_add_explicit(&gm->code_gen, 1, memory_order_seq_cst);
}

void gmem_hart_attach(struct gmem *gm)
{
	atomic_fetch_add(&gm->harts, 1);
	/* its fills read the code bits after this (code.c, one hart) */
	atomic_thread_fence(memory_order_seq_cst);
}

void gmem_hart_detach(struct gmem *gm)
{
	/* Without a TLB sync its stores through its own TLB were never
	 * logged: a hart left alone must not skip its next FENCE.I on their
	 * account. */
	gmem_code_moved(gm);
	atomic_fetch_sub(&gm->harts, 1);
}

unsigned gmem_harts(const struct gmem *gm)
{
	return atomic_load_explicit(&gm->harts, memory_order_acquire);
}
