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
 * A store TLB entry filled before the bit was set is the danger: its
 * stores are never seen. So the hart that sets the bit (a first mark)
 * calls the board's TLB sync (gmem_set_tlb_sync, the one pool frames use)
 * before it reads the bytes. The sync posts a TLB flush to every hart and
 * returns when each flushed, or is parked, outside hart_run() or in a
 * device model with the request still pending: such a hart serves it
 * before its next guest access (the top of its run loop, after the fence
 * that follows in_run, or hart_device_leave), so none of its stores uses
 * an old entry after the sync returns; "not running" alone would not do,
 * the pending request is what makes it an acknowledgement.
 *
 * A fill racing with the mark. A hart acknowledges only between
 * instructions; take the last acknowledgement B made before its fill F.
 * If it read A's post, then A's set happened before it (the post is a
 * release after the set) and so before F: the translator's fill reads the
 * bit and refuses, and the slow path's gmem_code_store sees the bit, clears
 * it and moves the generation, so its fill maps an unmarked frame. If
 * not, B acknowledges A's post after F, and its flush takes the entry
 * away before B's next guest access, while A waits. A store in flight
 * through an old entry is over when its hart acknowledges, and the
 * acknowledgement is a release that A's wait reads: A reads its bytes.
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
			gm->tlb_sync(gm->tlb_sync_opaque);
			atomic_fetch_add_explicit(&gm->code_syncs, 1,
						  memory_order_relaxed);
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

bool gmem_code_smp(const struct gmem *gm)
{
	return gm->tlb_sync != NULL;
}

uint64_t gmem_code_syncs(const struct gmem *gm)
{
	return atomic_load_explicit(&gm->code_syncs, memory_order_relaxed);
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
