/*
 * Guest physical memory of one VM: RAM as 4 KiB frames behind a p2m table,
 * and the MMIO bus that dispatches the rest of the physical address space to
 * device callbacks.
 *
 * RAM model (ARCHITECTURE.md, "Boundaries"): guest frame number (gfn) ->
 * host frame. A frame that was never written maps to one shared, read-only
 * zero frame; the first write gives it a private frame. Nothing outside
 * src/mem may assume that two guest frames are adjacent in host memory:
 * every host pointer handed out covers one page at most (gmem_page) or is an
 * iovec list (DMA API).
 *
 * Host memory safety never depends on guest behaviour: a host pointer
 * obtained here stays valid (readable and writable for a private frame) for
 * the lifetime of the gmem, even if the frame is later released (balloon) or
 * remapped; at worst a stale pointer reads zeros or writes into a released
 * slot. Callers that cache pointers (the hart TLBs) must be flushed when the
 * owner changes a mapping; gmem itself never frees host memory before
 * gmem_destroy().
 *
 * Thread safety: all functions except create/destroy/map_mmio may be called
 * from any thread concurrently (harts, I/O threads). MMIO regions are
 * registered before the VM starts and never change while it runs.
 */
#ifndef SV_MEM_GMEM_H
#define SV_MEM_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/compiler.h"
#include "util/error.h"

#define GUEST_PAGE_SHIFT 12
#define GUEST_PAGE_SIZE	 (1ULL << GUEST_PAGE_SHIFT)
#define GUEST_PAGE_MASK	 (GUEST_PAGE_SIZE - 1)

struct gmem;

/* ---- lifetime ---------------------------------------------------------- */

/* RAM of ram_size bytes (multiple of 4 KiB, > 0) at guest physical ram_base
 * (4 KiB aligned). Host memory is reserved, not committed: a frame costs host
 * memory only once written. */
struct gmem *gmem_create(uint64_t ram_base, uint64_t ram_size,
			 struct error *err);
void gmem_destroy(struct gmem *gm);

uint64_t gmem_ram_base(const struct gmem *gm);
uint64_t gmem_ram_size(const struct gmem *gm);
/* The memfd holding guest RAM (byte gpa - ram_base of RAM at that offset
 * while the frame is private; frames that are not private read as zeros
 * there or hold stale content). Owned by the gmem, closed by
 * gmem_destroy(): dup it to keep it. Lets another process (the daemon)
 * read the VM's memory (page sharing, docs/memory.md). */
int gmem_ram_fd(const struct gmem *gm);

/* True if [gpa, gpa+len) lies entirely in RAM. */
bool gmem_is_ram(const struct gmem *gm, uint64_t gpa, uint64_t len);

/* ---- MMIO bus ---------------------------------------------------------- */

/*
 * Device callbacks. offset is relative to the region base; size is 1, 2, 4
 * or 8 and the access is naturally aligned (the hart splits misaligned
 * accesses to MMIO). read returns the value zero-extended; a device returns
 * 0 for registers it does not have and ignores writes to them.
 * Called on the accessing hart's thread (or a DMA thread): devices lock what
 * they share.
 */
struct mmio_ops {
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
	void (*write)(void *opaque, uint64_t offset, uint64_t value,
		      unsigned size);
};

/* Register [base, base+size) (both 4 KiB aligned, no overlap with RAM or
 * another region). name is kept for messages. Not thread-safe: board set-up
 * only. */
int gmem_map_mmio(struct gmem *gm, uint64_t base, uint64_t size,
		  const struct mmio_ops *ops, void *opaque, const char *name,
		  struct error *err);

/* True if gpa's page belongs to an MMIO region (such pages never enter a
 * TLB). */
bool gmem_is_mmio(const struct gmem *gm, uint64_t gpa);

/* Bus access of 1/2/4/8 bytes at a naturally aligned gpa, RAM or MMIO.
 * Returns 0, or -EFAULT if nothing is mapped there (the hart raises an
 * access fault), or -EINVAL for another size or a misaligned gpa (a caller
 * bug). Aligned RAM accesses are single-copy atomic. MMIO values are
 * truncated to size bytes both ways. */
int gmem_bus_read(struct gmem *gm, uint64_t gpa, unsigned size,
		  uint64_t *val) SV_MUST_CHECK;
int gmem_bus_write(struct gmem *gm, uint64_t gpa, unsigned size,
		   uint64_t val) SV_MUST_CHECK;

/* ---- RAM pages (the hart's TLB fill path) ------------------------------ */

enum gmem_page_flags {
	/* The host page may only be read: a store must come back through
	 * gmem_page(..., GMEM_WRITE, ...) (zero frame, later COW/dirty-log). */
	GMEM_PAGE_READONLY = 1u << 0,
	/* The page is the shared zero frame (never written). It must not be
	 * cached for loads or fetches either: the first write anywhere (another
	 * hart, DMA) replaces it with a private frame, and a cached pointer to
	 * the zero frame would keep reading zeros. */
	GMEM_PAGE_ZERO = 1u << 1,
	/* Dirty logging is on (live migration): a store must not be cached
	 * in a TLB, or later stores to the page would not mark it again
	 * after the log was collected. */
	GMEM_PAGE_LOGGED = 1u << 2,
	/* The content is what the page holds, but no TLB may cache the
	 * pointer, not even for loads: the frame is shared through the
	 * host-wide pool (pool.c) without a TLB sync (gmem_set_tlb_sync),
	 * or being moved off the pool; a store by any hart
	 * or device moves it to another host page (copy-on-write), which a
	 * cached read pointer would not see. Unlike GMEM_PAGE_ZERO it says
	 * nothing about the content. */
	GMEM_PAGE_NOCACHE = 1u << 7,
};

enum gmem_access { GMEM_READ = 0, GMEM_WRITE = 1 };

/* Host address of the 4 KiB RAM page holding gpa (page-aligned address
 * returned; add gpa & GUEST_PAGE_MASK). For GMEM_WRITE the frame is made
 * private (allocated on first write) and marked dirty; *flags tells whether
 * later stores may go straight to it (flags may be NULL). Returns NULL if
 * gpa is not RAM. Lock-free, no system call: the TLB fill path. The
 * exceptions are the rare slow paths: a frame the reclaimer put out comes
 * back first (decompressed, or read from the swap file: a pread), and a
 * hart's new frame of a VM far over its limit sleeps 100 us. The pointer
 * must be used at once (within the current guest instruction); only a
 * hart TLB may keep it, and only as the flags allow. */
uint8_t *gmem_page(struct gmem *gm, uint64_t gpa, enum gmem_access access,
		   unsigned *flags);

/* ---- bulk copies (loaders, device emulation, tests) -------------------- */

/* Copy between a host buffer and guest RAM; any alignment, may cross pages.
 * Returns 0 or -EFAULT if any byte is outside RAM (then nothing is copied). */
int gmem_read(struct gmem *gm, uint64_t gpa, void *buf,
	      size_t len) SV_MUST_CHECK;
int gmem_write(struct gmem *gm, uint64_t gpa, const void *buf,
	       size_t len) SV_MUST_CHECK;
/* gmem_write for loaders (kernel, initrd, firmware): a whole page of
 * zeros over a page that maps the zero frame is skipped (it reads as
 * zeros already and stays unallocated), and the pages it writes are
 * allocated in one call per run rather than one page fault each. */
int gmem_load(struct gmem *gm, uint64_t gpa, const void *buf,
	      size_t len) SV_MUST_CHECK;
/* For loaders too: map [gpa, gpa + len) of RAM to the bytes of fd instead
 * of copying them (a kernel that many VMs boot, docs/memory.md "Kernel
 * images"). Each page reads the file's page, shared with every process
 * that maps the file, and the first store to it (a hart, a device, a
 * restore) copies it into the VM's own frame, as for a pool frame. Only
 * for content that cannot change under the guest: fd must be a memfd
 * sealed against writes and shrinking (F_SEAL_WRITE | F_SEAL_SHRINK) of
 * exactly len bytes. gpa page aligned, every frame of the range still the
 * zero frame (before the harts run), and the gmem has a TLB sync
 * (gmem_set_tlb_sync), so that harts cache the reads. One file per gmem,
 * mapped until gmem_destroy. Returns 0; -ENOTSUP (not such a file, no TLB
 * sync, a file mapped already): copy instead; -EFAULT (not RAM), -EINVAL
 * (gpa not page aligned), -EBUSY (a frame was written before), -errno. */
int gmem_map_file(struct gmem *gm, uint64_t gpa, int fd,
		  uint64_t len) SV_MUST_CHECK;

/* ---- DMA API (devices) ------------------------------------------------- */

/*
 * Map [gpa, gpa+len) of RAM to host iovecs, one per run of host-contiguous
 * frames (at most one page each is guaranteed; adjacent frames may merge).
 * For GMEM_WRITE the frames are made private and marked dirty.
 * Returns the number of iovecs used (>= 1 for len > 0, 0 for len == 0),
 * -EFAULT if any byte is outside RAM or len overflows, -ENOBUFS if more than
 * max_iov iovecs would be needed (frames a failed GMEM_WRITE mapping already
 * made private stay private and dirty, which is harmless). A GMEM_READ
 * mapping may point at the shared read-only zero frame: never write through
 * it. Every frame of a mapped range is pinned until gmem_dma_unpin() of the
 * same range (page sharing leaves pinned frames alone: a device may be
 * reading or writing them); a failed map pins nothing.
 */
int gmem_dma_map(struct gmem *gm, uint64_t gpa, uint64_t len,
		 enum gmem_access access, struct iovec *iov,
		 int max_iov) SV_MUST_CHECK;
/* Unpin the frames of a range gmem_dma_map() mapped (the same gpa and len,
 * or the pieces of it its iovecs covered: each frame once). */
void gmem_dma_unpin(struct gmem *gm, uint64_t gpa, uint64_t len);

/* ---- frames: release and statistics ------------------------------------ */

/* Give the frame holding gpa back to the host (balloon inflate, free page
 * reporting): the guest frame reads as zero again and the host memory is
 * returned (a hole punched in the RAM memfd). The page counts as written for the dirty log.
 * Returns 0 or -EFAULT if not RAM. Hart TLBs that may cache the page must
 * be flushed by the caller's owner; a write racing with the release may be
 * lost (never host-unsafe). */
int gmem_release_page(struct gmem *gm, uint64_t gpa);
/* gmem_release_page for each of n gpas (any order; one outside RAM is
 * skipped), faster for many: the frames shared through the pool or a
 * mapped file cost one sync of the harts' TLBs per GMEM_RELEASE_BATCH
 * pages instead of one each (balloon inflation, free page reporting).
 * Returns how many were released. */
#define GMEM_RELEASE_BATCH 256
size_t gmem_release_pages(struct gmem *gm, const uint64_t *gpa, size_t n);

struct gmem_stats {
	uint64_t frames_total;	  /* ram_size / 4 KiB */
	uint64_t frames_private;  /* guest frames backed by a private frame */
	uint64_t frames_released; /* successful gmem_release_page() calls */
	/* page sharing (share.c) */
	uint64_t frames_zero_shared; /* zero frames the scanner shares now */
	uint64_t share_scanned;	     /* frames looked at, total */
	uint64_t cow_breaks;	     /* writes that unshared a frame, total */
	/* compression and swap (reclaim.c) */
	uint64_t limit_frames;	    /* the target, 0 = none */
	uint64_t frames_compressed; /* frames in the compressed store now */
	uint64_t bytes_compressed;  /* their compressed bytes */
	uint64_t frames_swapped;    /* frames in the swap file now */
	uint64_t swap_ins;	    /* frames read back from swap, total */
	uint64_t decompressions;    /* frames decompressed back, total */
	uint64_t reclaim_probed;    /* frames probed for an access, total */
	uint64_t reclaim_touched;   /* probes ended by an access, total */
	uint64_t reclaim_kept; /* cold frames kept: incompressible, no swap */
	/* cross-VM sharing (pool.c) */
	uint64_t frames_pool_shared; /* frames mapped to pool frames now */
	uint64_t pool_offered;	     /* frames offered to the daemon, total */
	uint64_t pool_cow_breaks;    /* of cow_breaks: pooled frames, total */
	uint64_t frames_file; /* frames reading a mapped file's page now */
};
void gmem_get_stats(const struct gmem *gm, struct gmem_stats *st);

/* ---- code-write log (the harts' FENCE.I, docs/jit.md) ----------------- */

/*
 * Lets a hart's FENCE.I keep its decoded blocks when nobody can have
 * changed the frames it decoded from. A hart marks a frame as code before
 * it reads instructions from it; every host writer (bulk copies, DMA
 * write mappings, bus writes, virtqueue ring stores, page releases) pins
 * the frames it is about to change and, if any is marked, moves a
 * generation before it writes (code.c has the protocol). Content that
 * stays the same (copy-on-write breaks, sharing, reclaim and swap-in)
 * moves nothing. Harts' stores: no store TLB maps a marked frame (fills
 * ask gmem_code_marked before and gmem_code_fill_ok after), a store that
 * reaches one moves the generation and unmarks it (gmem_code_store before
 * it writes, gmem_code_stored after), and the first mark of a frame that
 * another hart's store TLB may map (gmem_set_store_probe) flushes every
 * hart's TLB through the TLB sync (gmem_set_tlb_sync) before the bytes
 * are read. Without a TLB sync a FENCE.I may skip only when its hart is
 * the only one using this RAM (gmem_code_smp).
 */

/* Mark gpa's frame as holding code, then report whether what the caller
 * reads next can be trusted: false if a host writer may be changing it
 * now (pinned) or another hart's first mark is still syncing; the caller
 * then must not trust it past its next FENCE.I. A first mark with several
 * harts attached asks the store probe, and calls the TLB sync if another
 * hart's store TLB may map the frame (the caller's own TLB is flushed
 * too when it is a hart of this RAM). Call before reading the instructions,
 * holding no lock a hart may wait for. Any thread. */
bool gmem_code_mark(struct gmem *gm, uint64_t gpa);
/* Is gpa's frame marked (or a hart store between its unmark and its
 * move)? A store TLB fill asks after the translation and refuses then.
 * Any thread. */
bool gmem_code_marked(struct gmem *gm, uint64_t gpa);
/* A hart is about to store to gpa other than through its store TLB: if
 * the frame is marked, unmark it, then move the generation (also when
 * another store is between the two). Any thread. */
void gmem_code_store(struct gmem *gm, uint64_t gpa);
/* A hart wrote gpa other than through its store TLB (after
 * gmem_code_store): with several harts, look again behind a fence, for a
 * first mark that read the bit clear meanwhile may not have seen the
 * write; if marked now, unmark and move as gmem_code_store. Any thread. */
void gmem_code_stored(struct gmem *gm, uint64_t gpa);
/* A hart published a store TLB entry for gpa (after gmem_code_marked said
 * no): may it keep it? With several harts, false if a first mark set the
 * bit meanwhile; the hart then takes the entry back before any store uses
 * it. Behind a fence, so that a first mark's store probe sees the entry
 * or this sees the bit. */
bool gmem_code_fill_ok(struct gmem *gm, uint64_t gpa);
/* The board's store probe: may a hart of this RAM other than the calling
 * thread's own hart hold a store TLB entry for gpa_page? Called by a first
 * mark with several harts, after its bit is set: false spares the TLB
 * sync; true (or no probe) calls it. The calling hart's own entries for
 * the frame are its own business (block.c drops them as it marks). Set at
 * board set-up, with the TLB sync. */
void gmem_set_store_probe(struct gmem *gm,
			  bool (*probe)(void *opaque, uint64_t gpa_page));
/* Do the marks cover other harts' stores (a TLB sync is set)? */
bool gmem_code_smp(const struct gmem *gm);
/* TLB syncs done by first marks so far, and first marks the store probe
 * spared one. */
uint64_t gmem_code_syncs(const struct gmem *gm);
uint64_t gmem_code_probed(const struct gmem *gm);
/* The code-write generation: moves after a frame marked as code was (or
 * is about to be) written by a host writer or a hart, or a hart detached.
 * A reader that loads it before reading memory sees every write that
 * moved it to that value. Any thread. */
uint64_t gmem_code_gen(const struct gmem *gm);
/* Move it (a writer outside this API, e.g. RAM replaced wholesale). */
void gmem_code_moved(struct gmem *gm);
/* Harts using this RAM (hart create/destroy; detach moves the
 * generation). Any thread. */
void gmem_hart_attach(struct gmem *gm);
void gmem_hart_detach(struct gmem *gm);
unsigned gmem_harts(const struct gmem *gm);

/* ---- dirty log (live migration) ---------------------------------------- */

/* Start or stop tracking writes. While on, every write-mapping of a page
 * (gmem_page GMEM_WRITE, gmem_write, gmem_bus_write, DMA write, release)
 * sets its bit. Pages already cached writable in hart TLBs are not seen: the
 * owner flushes TLBs after starting the log and after each collection, and
 * waits for the flush before copying pages. Start clears the bitmap; stop
 * keeps the bits for a final collection. Any thread, but start/stop/collect
 * from one owner at a time. */
void gmem_dirty_log_start(struct gmem *gm);
void gmem_dirty_log_stop(struct gmem *gm);
bool gmem_dirty_log_active(const struct gmem *gm);

/* Copy the dirty bitmap (one bit per RAM frame, bit i = frame at
 * ram_base + i*4K; words of 64 bits) into out and clear it atomically per
 * word. n_words must be >= (frames_total + 63) / 64 (gmem_dirty_log_words);
 * with fewer, only the first n_words are collected, with more the extra
 * words are zeroed. Returns the number of dirty frames collected. */
uint64_t gmem_dirty_log_collect(struct gmem *gm, uint64_t *out, size_t n_words);

/* Mark [gpa, gpa+len) dirty if the log is on (a device wrote it through a
 * mapping taken before the last collect). Any thread. */
void gmem_dirty_log_mark(struct gmem *gm, uint64_t gpa, uint64_t len);

/* After a store to [gpa, gpa+len) through a pointer gmem_page() gave:
 * gmem_page marked the frame before the store, and a migration pass that
 * collected the mark and copied the frame between the two missed the
 * store. Marks the range again once the store is visible to the pass (a
 * full fence first: the store may otherwise still sit in this CPU's store
 * buffer while the bit reads as set). Nothing when the log is off. Any
 * thread. */
void gmem_dirty_log_wrote(struct gmem *gm, uint64_t gpa, uint64_t len);

/* Number of 64-bit words of the dirty bitmap: (frames_total + 63) / 64. */
size_t gmem_dirty_log_words(const struct gmem *gm);

/* ---- page sharing (share.c, docs/memory.md "Page sharing") ------------ */

/*
 * The scanner gives private frames that hold only zeros back to the shared
 * zero frame, in two phases a flush of every hart's TLB apart:
 *
 *   protect  a private, unpinned frame that reads as zero is made
 *            read-only (stores come back through gmem_page, which cancels)
 *   ...      the owner flushes every hart's TLB (no store can still go
 *            straight to the frame) and waits until each hart did
 *   commit   still protected, unpinned and zero: the entry becomes the
 *            zero frame and the host memory is returned (a punched hole);
 *            the next write makes it private again (a COW break)
 *
 * struct gmem_share keeps the position and the batch between the phases;
 * gmem_share_step() runs one step of it for an owner that supplies the
 * flush. Not thread-safe against itself: one scanner per gmem.
 */
#define GMEM_SHARE_BATCH 4096

/* Cross-VM sharing (below): an offer; an answer or a reference given
 * back (gfn, pool frame, the batch of the offer it answers or was
 * committed by). Answers that name no frame: NONE, no match yet (the
 * daemon keeps the frame as a candidate, the offer stays until the guest
 * writes the frame); LIFT, not kept (the offer is lifted and made again
 * by a later pass). */
#define GMEM_POOL_NONE UINT32_MAX
#define GMEM_POOL_LIFT (UINT32_MAX - 1)

struct gmem_pool_offer {
	uint32_t gfn, pad;
	uint64_t hash;
};
struct gmem_pool_pair {
	uint32_t gfn, frame, batch, pad;
};

struct gmem_share_ops {
	/* Ask every hart to flush its TLB (returns at once). */
	void (*flush)(void *opaque);
	/* Every hart flushed since the last flush() (or runs no guest code:
	 * parked, stopped). */
	bool (*flushed)(void *opaque);
	void *opaque;
};

struct gmem_share {
	uint64_t cursor; /* next gfn to look at */
	uint32_t n;	 /* protected frames waiting for the commit */
	uint32_t waited; /* steps the flush has not completed */
	uint32_t gfn[GMEM_SHARE_BATCH];
	/* cross-VM sharing: frames offered by the last step, hashed and
	 * sent once every hart flushed */
	uint32_t n_offer;
	uint32_t offer[GMEM_SHARE_BATCH];
	struct gmem_pool_offer offers[GMEM_SHARE_BATCH];
	/* reclamation (reclaim.c): the clock hand, frames probed by the
	 * last step, frames out whose slot goes back after the flush */
	uint64_t clock;
	uint32_t n_cold, n_held;
	uint32_t cold[GMEM_SHARE_BATCH];
	uint32_t held[GMEM_SHARE_BATCH];
	/* back-off (share.c): the pass so far (steps that scanned, frames
	 * shared: zero commits, pool commits, reclaimed zero frames; not
	 * offers), passes in a row that found next to nothing, steps still
	 * to rest, the private frames when the last pass ended, the pool
	 * commits counted so far */
	uint32_t pass_steps, pass_found, idle_passes, rest;
	uint64_t private_at_end;
	uint64_t pool_commits_seen;
};

/* Phase 1 and 2 for one frame (the step below and the tests use them):
 * protect returns true if the frame is now protected; commit true if it
 * became the zero frame (else the protection is lifted); unprotect lifts
 * it without a commit. */
bool gmem_share_protect_zero(struct gmem *gm, uint64_t gfn);
bool gmem_share_commit_zero(struct gmem *gm, uint64_t gfn);
void gmem_share_unprotect(struct gmem *gm, uint64_t gfn);

/* One step: if every hart flushed since the last step (after 8 steps
 * without, the protected and probed batches are given up), release the
 * slots of the frames the last step put out, commit the zero frames and
 * the cold frames (reclaim.c) the last step protected or probed; then look
 * at up to `scan` more frames and protect the zero ones (at most
 * GMEM_SHARE_BATCH), and if the VM is over its target probe as many
 * frames as it is over (a clock); ask for a flush if anything waits for
 * one. Returns the frames shared by this step. A step with scan = 0 only
 * reclaims: an owner steps often while gmem_reclaim_excess() says so.
 * After a pass over the whole VM that shared less than a 256th of it,
 * the scan rests as many steps as the pass took, doubling with each such
 * pass up to 15 times as many; a rest ends early once the VM's private
 * frames grew by a 256th of it (docs/memory.md, "Page sharing"). */
unsigned gmem_share_step(struct gmem *gm, struct gmem_share *s,
			 const struct gmem_share_ops *ops, unsigned scan);
/* Lift the protection of a batch in flight (before the owner stops); the
 * frames already out stay out (their slots are released later or never:
 * harmless). */
void gmem_share_abort(struct gmem *gm, struct gmem_share *s);
/* ---- cross-VM sharing (pool.c, docs/memory.md) ------------------------ */

/*
 * Identical non-zero frames of all VMs share one read-only frame of a
 * host-wide pool that the daemon owns (this process maps it read-only).
 * The scanner (gmem_share_step) protects private frames as for zero
 * sharing (offered: reads go on through the slot), and after
 * the flush hands their XXH3-64 hashes to ops.offer. The daemon compares
 * candidates byte for byte and answers each with a pool frame,
 * GMEM_POOL_NONE or GMEM_POOL_LIFT (gmem_pool_answer, any thread); a
 * committed frame's slot is punched after one more flush. An unmatched
 * frame (NONE) stays offered until the guest writes it, so later passes
 * skip it and the daemon does not read it again; when another frame with
 * the same content is offered later, the daemon answers this offer then
 * (a late answer, checked like any other). A store copies the pool frame
 * back into the slot (a COW break). References let go of (COW breaks,
 * releases, refused answers) go to ops.drop from the next step, each with
 * the batch it was answered for. `gen` tells this RAM's offers and
 * answers from an older RAM's (a reboot).
 */
struct gmem_pool_ops {
	/* On the scanner's thread; n <= GMEM_SHARE_BATCH. false: not sent
	 * (no daemon): the offers are lifted at once. */
	bool (*offer)(void *opaque, uint32_t gen, uint32_t batch,
		      const struct gmem_pool_offer *o, unsigned n);
	void (*drop)(void *opaque, uint32_t gen, const struct gmem_pool_pair *d,
		     unsigned n);
	void *opaque;
};

/* Share through the pool mapped read-only at base (frames 4 KiB frames;
 * it must stay mapped until gmem_destroy). Before the scanner runs; out of
 * memory for its table, the gmem stays unattached. */
void gmem_pool_attach(struct gmem *gm, const void *base, uint64_t frames,
		      uint32_t gen, const struct gmem_pool_ops *ops);
bool gmem_pool_attached(const struct gmem *gm);
/* The daemon's answer to an offer of this RAM (gen) sent in batch `batch`
 * (ops.offer's), at once or late: true if gfn now maps pool frame
 * `frame`. false: not committed (no match yet: NONE leaves the offer;
 * LIFT lifts it; written since the offer, pinned, content differs,
 * another gen; an answer to an older batch than the one gfn was last
 * offered in leaves the entry alone); a reference the daemon took is
 * given back through ops.drop. Any thread. */
bool gmem_pool_answer(struct gmem *gm, uint32_t gen, uint32_t batch,
		      uint32_t gfn, uint32_t frame);
/* The batch the frames protected now will be offered in (tests). */
uint32_t gmem_pool_batch(const struct gmem *gm);
/* XXH3-64 of a 4 KiB page. */
uint64_t gmem_pool_hash(const void *page);
/* Host address of pool frame `frame` (read-only). */
const uint8_t *gmem_pool_frame(const struct gmem *gm, uint32_t frame);
/* The phases for one frame (the step drives them; tests call them):
 * protect a private unpinned frame as offered; after the flush, offered
 * gives its hash if it is still offered; unoffer lifts the offer. */
bool gmem_pool_protect(struct gmem *gm, uint64_t gfn);
bool gmem_pool_offered(struct gmem *gm, uint64_t gfn, uint64_t *hash);
void gmem_pool_unoffer(struct gmem *gm, uint64_t gfn);
/*
 * Cached reads of pool frames. Without a TLB sync a pooled entry is
 * handed out NOCACHE: every load and fetch from it takes the slow path.
 * With one, it is handed out READONLY only, so a hart's TLB may cache it
 * for loads and fetches, and every move of the gfn away from the pool
 * frame (a COW break, a release) first makes the entry NOCACHE, then
 * calls sync(opaque), and only then changes the mapping. sync must return
 * once no hart of this RAM can still use a TLB entry filled before the
 * call (the caller's own hart, if the caller is one, included). Called on
 * whatever thread breaks the frame: a hart inside gmem_page(), a device
 * thread, a bulk copy; never with a p2m entry busy; also by a hart's first
 * mark of a code frame (gmem_code_mark), from its run loop. Set before the
 * first frame is pooled and before the harts are created (board set-up).
 */
void gmem_set_tlb_sync(struct gmem *gm, void (*sync)(void *opaque),
		       void *opaque);
/* Scanner internals (share.c): slots waiting for a flush; punch them
 * after one; send the queued drops. */
bool gmem_pool_flush_pending(struct gmem *gm);
void gmem_pool_flushed(struct gmem *gm);
void gmem_pool_send_drops(struct gmem *gm);

/* ---- compression and swap (reclaim.c, docs/memory.md) ----------------- */

/*
 * Past a target (the VM's memory limit), the scanner reclaims cold frames:
 * a frame is probed for one step (every access comes to the slow path and
 * ends the probe), and one that nobody touched is compressed with zstd
 * into a per-VM store if it shrinks to half a page or less, else written
 * to the swap file (without one it stays). Its host memory goes back after
 * one more TLB flush; the next access brings the content back into the
 * same slot. Pinned frames (DMA) are never reclaimed.
 *
 * gmem_reclaim_setup: limit in bytes (multiple of 4 KiB; 0 = none, which
 * also leaves everything resident), swap_fd a file open read-write (it is
 * truncated: its content is scratch) or -1. The fd is borrowed: it must
 * stay open until gmem_destroy(). Call before the harts run; 0 or -errno
 * with err set. gmem_set_limit changes the target at any time.
 */
int gmem_reclaim_setup(struct gmem *gm, uint64_t limit, int swap_fd,
		       struct error *err);
void gmem_set_limit(struct gmem *gm, uint64_t limit);
/* The target now, in bytes (0 = none). */
uint64_t gmem_get_limit(const struct gmem *gm);
/* Frames over the target now (0 if none or within it): private frames
 * plus the compressed store's bytes in frames count against it. */
uint64_t gmem_reclaim_excess(const struct gmem *gm);

enum gmem_reclaim_result {
	GMEM_RECLAIM_TOUCHED, /* accessed since the probe (or gone) */
	GMEM_RECLAIM_KEPT,    /* pinned, or incompressible without swap */
	GMEM_RECLAIM_ZERO,    /* held zeros: shared with the zero frame */
	GMEM_RECLAIM_OUT,     /* stored; release the slot after a flush */
};
/* The phases for one frame (gmem_share_step drives them; tests call them
 * directly): probe a private unpinned frame (true if probed); after a
 * flush of every hart, commit it; after one more, release its slot (true
 * if the host memory went back). unprobe ends a probe without a commit. */
bool gmem_reclaim_probe(struct gmem *gm, uint64_t gfn);
void gmem_reclaim_unprobe(struct gmem *gm, uint64_t gfn);
enum gmem_reclaim_result gmem_reclaim_commit(struct gmem *gm, uint64_t gfn);
bool gmem_reclaim_release(struct gmem *gm, uint64_t gfn);
/* Swap slots in use now, and the file's size in slots. */
uint64_t gmem_swap_slots_used(const struct gmem *gm);
uint64_t gmem_swap_slots_top(const struct gmem *gm);

/* ---- VM state file (gmem_state.c; docs/vm-state.md) --------------------- */

struct state_reader;
struct state_writer;

/* Frames per "ram" section. */
#define GMEM_STATE_CHUNK (16384u) /* 64 MiB */

struct gmem_state_stats {
	uint64_t frames_total; /* RAM frames */
	uint64_t frames_saved; /* frames not all zeros, written out */
};

/* Live migration: write the frames of bitmap (bit i: frame i) as
 * sections name ("ram-pass": while the guest runs, with the dirty log on;
 * "ram": the final part), version 2: a load leaves the frames they do not
 * name as they are. bitmap NULL: every frame that is not zeros, version 1
 * (a load zeroes the others), as gmem_state_save. */
int gmem_state_save_frames(struct gmem *gm, struct state_writer *w,
			   const char *name, const uint64_t *bitmap,
			   struct gmem_state_stats *st, struct error *err);

/* Number of "ram" sections a save writes (and a load needs). */
uint32_t gmem_state_chunks(const struct gmem *gm);
/* Write RAM as "ram" sections 0..chunks-1, skipping zero frames. The VM's
 * harts and devices must not write RAM meanwhile (paused, quiesced).
 * 0 or -errno with err set. st may be NULL. */
int gmem_state_save(struct gmem *gm, struct state_writer *w,
		    struct gmem_state_stats *st, struct error *err);
/* Load the reader's current "ram" section: its frames get the saved
 * contents, the chunk's other frames read as zero. Refuses a section of
 * another RAM size or layout. 0 or -errno with err set. */
int gmem_state_load(struct gmem *gm, struct state_reader *r, struct error *err);

#endif
