/*
 * Code-write log (gmem.h, "code-write log"): lets a hart's FENCE.I keep
 * its decoded blocks and translations when nothing but the hart itself
 * can have written the frames it decoded from (docs/jit.md, "Seventh
 * pass").
 *
 * The protocol is Dekker's, on the frame's pin count and code bit:
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
 */
#include "mem/gmem.h"
#include "mem/gmem_priv.h"

bool gmem_code_mark(struct gmem *gm, uint64_t gpa)
{
	uint64_t off;

	if (!gmem_ram_offset(gm, gpa, 1, &off))
		return true; /* never decoded from: nothing to log */
	uint64_t gfn = off >> GUEST_PAGE_SHIFT, bit = 1ULL << (gfn & 63);
	_Atomic uint64_t *w = &gm->code[gfn >> 6];

	/* Test first: a page of code is usually marked already, and a plain
	 * load keeps the line shared between harts. */
	if (!(atomic_load_explicit(w, memory_order_relaxed) & bit))
		atomic_fetch_or_explicit(w, bit, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&gm->pins[gfn], memory_order_relaxed) == 0;
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
}

void gmem_hart_detach(struct gmem *gm)
{
	/* Its stores through its own TLB were never logged: a hart left
	 * alone must not skip its next FENCE.I on their account. */
	gmem_code_moved(gm);
	atomic_fetch_sub(&gm->harts, 1);
}

unsigned gmem_harts(const struct gmem *gm)
{
	return atomic_load_explicit(&gm->harts, memory_order_acquire);
}
