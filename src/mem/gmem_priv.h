/*
 * Internals of src/mem shared by gmem.c, bus.c, dma.c and dirty.c. Nothing
 * outside src/mem includes this file.
 *
 * p2m encoding. Each RAM frame (gfn = (gpa - ram_base) >> 12) has one atomic
 * word. Its decoded value is a page-aligned host pointer with flag bits in
 * the low 12 bits (P2M_F_*). To let the p2m array itself be lazily
 * committed host memory (a 1 TiB guest has a 2 GiB p2m), the word stores
 * decoded ^ zero_entry: an untouched (all-zero) word decodes to the zero
 * frame. Decoding is one XOR, so the TLB fill path stays branch-free.
 *
 * Frame states today:
 *   zero       zero_page | P2M_F_RO | P2M_F_ZERO  (never written, released)
 *              (| P2M_F_SHARED when the scanner put it there)
 *   private    reserve + gfn * 4K      (slot gfn of the frame reserve)
 *   protected  slot | P2M_F_RO         (page sharing, phase 1: stores come
 *              back through gmem_page, which lifts the protection)
 *   busy       slot | P2M_F_RO | P2M_F_BUSY (the scanner is committing:
 *              writers wait the few microseconds until it decided)
 * Reclamation (reclaim.c), all with P2M_F_COLD | P2M_F_RO | P2M_F_ZERO so
 * that gmem_page() hands out "read-only, do not cache" and every access
 * comes back through its slow path (gmem_reclaim_fault):
 *   probed     slot | COLD ...      (one step without an access: cold)
 *   out, held  slot | COLD | OUT | HELD (compressed or swapped; the slot
 *              still holds the content until every hart passed a block
 *              boundary, then the host memory goes back)
 *   out        slot | COLD | OUT    (the content is only in the store)
 *   + P2M_F_BUSY while the reclaimer commits or releases it, or a fault
 *              brings it back (whoever set BUSY is the only one to clear
 *              it)
 * Cross-VM sharing (pool.c), with P2M_F_RO (a store anywhere moves the
 * frame to another page):
 *   offered    slot | OFFER (protected, flushed, hash sent to the
 *              daemon; reads go through the slot, which stays until a
 *              flush after the commit, so TLBs may cache them)
 *   pooled     pool frame | POOL (the slot was punched; a store copies
 *              the pool frame back into the slot: a COW break). Reads
 *              may be cached in TLBs when the owner gave a TLB sync
 *              (gmem_set_tlb_sync), else the entry is NOCACHE too.
 *   leaving    pooled | NOCACHE: a break or release is waiting for the
 *              TLB sync; no new TLB entry, reads still reach the frame
 *   file       file page | POOL | FILE (gmem_map_file: a sealed file's
 *              page, shared with every process that maps it; breaks and
 *              releases go as for a pooled frame, with no reference to
 *              give back)
 *   + P2M_F_BUSY while the answer is committed or the COW copy made
 * Slot gfn is the only private frame gfn can ever have, so two racing
 * first writes both CAS zero -> the same slot and agree on the result, and
 * a stale pointer to the slot reads what the frame holds or held.
 */
#ifndef SV_MEM_GMEM_PRIV_H
#define SV_MEM_GMEM_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/gmem.h"

/* Entry flags are the gmem_page_flags bits themselves, so gmem_page()
 * hands them out with one AND.
 * P2M_F_RO: the host page may only be read (zero frame; later shared COW
 * frames). P2M_F_ZERO: the shared zero frame (no TLB may cache it). */
#define P2M_F_RO       ((uintptr_t)GMEM_PAGE_READONLY)
#define P2M_F_ZERO     ((uintptr_t)GMEM_PAGE_ZERO)
#define P2M_F_NOCACHE  ((uintptr_t)GMEM_PAGE_NOCACHE)
#define P2M_PAGE_FLAGS (P2M_F_RO | P2M_F_ZERO | P2M_F_NOCACHE)
/* Internal flags, never handed out by gmem_page(). */
#define P2M_F_BUSY   ((uintptr_t)1 << 2)
#define P2M_F_SHARED ((uintptr_t)1 << 3)
#define P2M_F_COLD   ((uintptr_t)1 << 4)
#define P2M_F_OUT    ((uintptr_t)1 << 5)
#define P2M_F_HELD   ((uintptr_t)1 << 6)
/* Cross-VM sharing (pool.c): offered to the daemon (RO), mapped to a
 * pool frame (RO, and NOCACHE without a TLB sync). */
#define P2M_F_OFFER ((uintptr_t)1 << 8)
#define P2M_F_POOL  ((uintptr_t)1 << 9)
/* With P2M_F_POOL: the page of the mapped file (gmem_map_file), not of
 * the daemon's pool. */
#define P2M_F_FILE		 ((uintptr_t)1 << 10)
#define P2M_OFFER_FLAGS		 (P2M_F_RO | P2M_F_OFFER)
#define P2M_POOL_FLAGS		 (P2M_F_RO | P2M_F_POOL)
#define P2M_COLD_FLAGS		 (P2M_F_COLD | P2M_F_RO | P2M_F_ZERO)
#define P2M_FLAGS_MASK		 ((uintptr_t)GUEST_PAGE_MASK)
#define GMEM_NAME_MAX		 48
#define GMEM_DIRTY_WORDS(frames) (((frames) + 63) / 64)
/* Frames a first write commits together (gmem_populate_group). */
#define GMEM_POPULATE_FRAMES 16

struct mmio_region {
	uint64_t base;
	uint64_t size;
	const struct mmio_ops *ops;
	void *opaque;
	char name[GMEM_NAME_MAX];
};

struct gmem {
	uint64_t ram_base;
	uint64_t ram_size;
	uint64_t nframes;

	/* Frame reserve: slot i backs gfn i once private. A MAP_SHARED
	 * mapping of the memfd ram_fd (slot i at offset i * 4K). Never
	 * unmapped before gmem_destroy(), so stale pointers stay harmless. */
	uint8_t *reserve;
	int ram_fd;
	/* First-write batching: one bit per GMEM_POPULATE_FRAMES aligned
	 * frames of the reserve, set when a first write into the group
	 * populated all of its slots with one madvise (gmem.c). */
	_Atomic uint64_t *populated;
	atomic_bool populate_off; /* the host refused MADV_POPULATE_WRITE */
	/* The shared zero frame, mapped PROT_READ. */
	uint8_t *zero_page;
	uintptr_t zero_entry; /* zero_page | P2M_F_RO | P2M_F_ZERO */
	/* nframes encoded entries, lazily committed (see top of file). */
	_Atomic uintptr_t *p2m;
	size_t p2m_bytes;

	_Atomic uint64_t frames_private;
	_Atomic uint64_t frames_released;
	_Atomic uint64_t frames_zero_shared;
	_Atomic uint64_t share_scanned;
	_Atomic uint64_t cow_breaks;

	/* DMA pins, one per frame, lazily committed like the p2m: a pinned
	 * frame is never shared (a device holds a pointer to its slot). */
	_Atomic uint32_t *pins;
	size_t pins_bytes;

	/* Reclamation (reclaim.c): the target in frames (0 = none), where
	 * the content of each out frame is (lazily committed, one word per
	 * frame: a compressed copy's address, or swap slot << 1 | 1), and
	 * the swap file (-1 = none; borrowed, not closed here). */
	_Atomic uint64_t limit_frames;
	_Atomic uintptr_t *loc;
	size_t loc_bytes;
	struct gmem_swap *swap;
	void *cctx; /* zstd compression context (the reclaimer's) */
	_Atomic uint64_t frames_compressed;
	_Atomic uint64_t bytes_compressed;
	_Atomic uint64_t frames_swapped;
	_Atomic uint64_t swap_ins;
	_Atomic uint64_t decompressions;
	_Atomic uint64_t reclaim_probed;
	_Atomic uint64_t reclaim_touched;
	_Atomic uint64_t reclaim_kept;

	/* Cross-VM sharing (pool.c): the daemon's pool, mapped read-only
	 * (NULL: not attached), the generation of this RAM in the daemon's
	 * eyes, and under pool_lock the references to give back (gfn, frame
	 * pairs) and the frames committed since the last flush (fresh); the
	 * scanner alone owns the list whose slots it punches next. */
	const uint8_t *pool_base;
	uint64_t pool_frames;
	/* the owner's TLB sync (NULL: pooled entries stay NOCACHE) */
	void (*tlb_sync)(void *opaque);
	void *tlb_sync_opaque;
	/* the owner's store-TLB probe for first marks (NULL: always sync) */
	bool (*store_probe)(void *opaque, uint64_t gpa_page);
	uint32_t pool_gen;
	struct gmem_pool_ops pool_ops;
	/* per frame, the batch it was last offered in (lazily committed);
	 * pool_batch: the batch frames protected now go out in (scanner) */
	_Atomic uint32_t *offer_batch;
	size_t offer_batch_bytes;
	uint32_t pool_batch;
	pthread_mutex_t pool_lock;
	uint32_t *pool_drops, n_drops, cap_drops; /* gfn, frame, batch */
	uint32_t *pool_fresh, n_fresh, cap_fresh;
	uint32_t *pool_punch, n_punch, cap_punch;
	_Atomic uint64_t frames_pool_shared;
	_Atomic uint64_t pool_offered;
	_Atomic uint64_t pool_cow_breaks;
	_Atomic uint64_t pool_commits; /* total: the scanner's back-off */

	/* gmem_map_file: the file's read-only mapping (NULL: none), kept
	 * until gmem_destroy like the reserve, and how many frames map it */
	const uint8_t *file_map;
	size_t file_bytes;
	_Atomic uint64_t frames_file;

	/* Code-write log (code.c): one bit per frame some hart decoded
	 * instructions from since the last hart store to it (a hart store
	 * clears it), the generation writers of such frames move, the harts
	 * using this RAM, first marks whose TLB sync is not over yet, how
	 * many syncs first marks did and how many the probe spared. */
	_Atomic uint64_t *code;
	_Atomic uint64_t code_gen;
	atomic_uint harts;
	atomic_uint code_marking;
	atomic_uint code_clearing; /* hart stores between unmark and move */
	_Atomic uint64_t code_syncs;
	_Atomic uint64_t code_probed;

	/* Dirty log: one bit per frame. */
	_Atomic uint64_t *dirty;
	size_t dirty_words;
	atomic_bool dirty_active;

	/* MMIO regions sorted by base, non-overlapping. Written only by
	 * gmem_map_mmio() (board set-up), read-only while harts run. */
	struct mmio_region *regions;
	size_t n_regions;
	size_t cap_regions;
};

static inline uintptr_t p2m_get(const struct gmem *gm, uint64_t gfn)
{
	return atomic_load_explicit(&gm->p2m[gfn], memory_order_acquire) ^
	       gm->zero_entry;
}

/* Replace *expected by desired if the entry holds *expected (decoded
 * values). On failure *expected receives the current decoded value. */
static inline bool p2m_cas(struct gmem *gm, uint64_t gfn, uintptr_t *expected,
			   uintptr_t desired)
{
	uintptr_t exp = *expected ^ gm->zero_entry;
	bool ok = atomic_compare_exchange_strong_explicit(
		&gm->p2m[gfn], &exp, desired ^ gm->zero_entry,
		memory_order_acq_rel, memory_order_acquire);

	if (!ok)
		*expected = exp ^ gm->zero_entry;
	return ok;
}

static inline uint8_t *p2m_slot(const struct gmem *gm, uint64_t gfn)
{
	return gm->reserve + (gfn << GUEST_PAGE_SHIFT);
}

/* Offset of [gpa, gpa+len) in RAM, or false if any byte is outside RAM.
 * Overflow-safe for any gpa and len. */
static inline bool gmem_ram_offset(const struct gmem *gm, uint64_t gpa,
				   uint64_t len, uint64_t *off)
{
	uint64_t o = gpa - gm->ram_base; /* wraps huge when gpa < base */

	if (o >= gm->ram_size || len > gm->ram_size - o)
		return false;
	*off = o;
	return true;
}

/* A host writer (device, loader, balloon) pinned frames first..last and
 * then fenced, and is about to change their content: if a hart decoded
 * code from any of them, move the code-write generation first (code.c). */
static inline void gmem_code_write(struct gmem *gm, uint64_t first,
				   uint64_t last)
{
	bool move = false;

	for (uint64_t f = first; f <= last && !move; f++)
		move = atomic_load_explicit(&gm->code[f >> 6],
					    memory_order_seq_cst) >>
			       (f & 63) &
		       1;
	/* After the bits: a bit a hart store just cleared may have been
	 * set by a reader whose generation only the store's move, not yet
	 * done, would cover (code.c). */
	if (!move)
		move = atomic_load(&gm->code_clearing) != 0;
	if (move)
		atomic_fetch_add_explicit(&gm->code_gen, 1,
					  memory_order_seq_cst);
}

/* Set the dirty bit of gfn if the log is on (dirty.c). */
static inline void gmem_mark_dirty(struct gmem *gm, uint64_t gfn)
{
	_Atomic uint64_t *w;
	uint64_t bit;

	if (!atomic_load_explicit(&gm->dirty_active, memory_order_relaxed))
		return;
	w = &gm->dirty[gfn >> 6];
	bit = 1ULL << (gfn & 63);
	/* Test first: a hot page is usually already dirty, and a plain load
	 * keeps the cache line shared between harts. */
	if (!(atomic_load_explicit(w, memory_order_relaxed) & bit))
		atomic_fetch_or_explicit(w, bit, memory_order_relaxed);
}

/* Give the host memory of slot gfn back (a hole punched in the RAM
 * memfd): the slot reads as zeros afterwards. */
void gmem_slot_discard(struct gmem *gm, uint64_t gfn);

/* Make gfn private (first write, lifting a protection) and return its
 * decoded entry. */
uintptr_t gmem_make_private(struct gmem *gm, uint64_t gfn);
/* The entry of gfn once the scanner is not committing it. */
uintptr_t gmem_wait_not_busy(struct gmem *gm, uint64_t gfn);

/* An access reached a frame with P2M_F_COLD (reclaim.c): end the probe
 * or bring the content back into the frame's slot; returns the entry,
 * which no longer has P2M_F_COLD. */
uintptr_t gmem_reclaim_fault(struct gmem *gm, uint64_t gfn);
/* Drop the stored copy of an out frame that is being released to zero
 * (entry held BUSY by the caller). */
void gmem_reclaim_drop(struct gmem *gm, uint64_t gfn);
/* Frames the scanner reclaims past the target once over it (reclaim.c). */
uint64_t gmem_reclaim_margin(const struct gmem *gm);
/* Free the store and the location table (gmem_destroy). */
void gmem_reclaim_destroy(struct gmem *gm);
/* A first write is committing a new frame: wait a little if the VM is
 * far over its target (reclaim.c), unless this thread set
 * gmem_no_throttle (DMA mappings, bulk copies: device threads). */
extern _Thread_local bool gmem_no_throttle;
void gmem_reclaim_throttle(struct gmem *gm);

/* pool.c: a store reached a pooled entry cur: copy it into the slot
 * (returns the new entry, or the one found if it changed); a pooled or
 * file entry `was` left its gfn (a break, a release to zero); the lists'
 * memory. */
uintptr_t gmem_pool_break(struct gmem *gm, uint64_t gfn, uintptr_t cur);
/* A pooled entry cur is about to change: make sure no TLB caches it (set
 * NOCACHE, then the owner's sync). true: done, *cur is the entry now;
 * false: the entry changed meanwhile (*cur holds it). */
bool gmem_pool_uncache(struct gmem *gm, uint64_t gfn, uintptr_t *cur);
/* was: the entry that left; batch: gmem_pool_commit_batch() read before
 * it left (a later offer of the frame overwrites it) */
void gmem_pool_released(struct gmem *gm, uint64_t gfn, uintptr_t was,
			uint32_t batch);
void gmem_pool_queue_drop(struct gmem *gm, uint32_t gfn, uint32_t frame,
			  uint32_t batch);
/* The batch a pooled gfn was committed by (0 without a pool). */
uint32_t gmem_pool_commit_batch(const struct gmem *gm, uint64_t gfn);
void gmem_pool_destroy(struct gmem *gm);
/* The batch in flight went out (or was given up): new protections get a
 * new batch. */
void gmem_pool_next_batch(struct gmem *gm);

/* Words, not bytes: the scanners look at many frames (share.c). */
bool gmem_frame_is_zero(const uint8_t *p);

/* Region holding gpa, or NULL (bus.c). Binary search. */
const struct mmio_region *gmem_find_mmio(const struct gmem *gm, uint64_t gpa);

/* Free the region table (bus.c). */
void gmem_bus_destroy(struct gmem *gm);

#endif
