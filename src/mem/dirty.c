/*
 * Dirty log for live migration: one bit per RAM frame, set on every
 * write-mapping while the log is on (gmem_mark_dirty() in gmem_priv.h),
 * fetched and cleared word by word with an atomic exchange.
 */
#include "mem/gmem.h"
#include "mem/gmem_priv.h"

void gmem_dirty_log_start(struct gmem *gm)
{
	size_t i;

	/* Start from a clean log: the first migration pass sends every page
	 * anyway. Cleared before the flag goes up, so no bit set by this
	 * round is lost. */
	for (i = 0; i < gm->dirty_words; i++)
		atomic_store_explicit(&gm->dirty[i], 0, memory_order_relaxed);
	atomic_store_explicit(&gm->dirty_active, true, memory_order_seq_cst);
}

void gmem_dirty_log_stop(struct gmem *gm)
{
	/* Bits already set stay for a final gmem_dirty_log_collect(). */
	atomic_store_explicit(&gm->dirty_active, false, memory_order_seq_cst);
}

bool gmem_dirty_log_active(const struct gmem *gm)
{
	return atomic_load_explicit(&gm->dirty_active, memory_order_relaxed);
}

void gmem_dirty_log_wrote(struct gmem *gm, uint64_t gpa, uint64_t len)
{
	/* A log started after this load: its first pass copies every frame,
	 * after the store. */
	if (!atomic_load_explicit(&gm->dirty_active, memory_order_relaxed))
		return;
	atomic_thread_fence(memory_order_seq_cst);
	gmem_dirty_log_mark(gm, gpa, len);
}

size_t gmem_dirty_log_words(const struct gmem *gm)
{
	return gm->dirty_words;
}

uint64_t gmem_dirty_log_collect(struct gmem *gm, uint64_t *out, size_t n_words)
{
	size_t n = n_words < gm->dirty_words ? n_words : gm->dirty_words;
	uint64_t count = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t w = atomic_exchange_explicit(&gm->dirty[i], 0,
						      memory_order_acq_rel);

		out[i] = w;
		count += (uint64_t)__builtin_popcountll(w);
	}
	for (; i < n_words; i++)
		out[i] = 0;
	return count;
}

void gmem_dirty_log_mark(struct gmem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t off;

	if (!len ||
	    !atomic_load_explicit(&gm->dirty_active, memory_order_relaxed) ||
	    !gmem_ram_offset(gm, gpa, len, &off))
		return;
	for (uint64_t f = off >> GUEST_PAGE_SHIFT;
	     f <= (off + len - 1) >> GUEST_PAGE_SHIFT; f++)
		gmem_mark_dirty(gm, f);
}
