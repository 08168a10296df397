/*
 * Reclamation past page sharing: memory compression and hypervisor swap
 * (docs/memory.md, "Compression and swap"). When a VM holds more frames
 * than its target, the scanner (share.c, gmem_share_step) picks frames on
 * a clock, probes them for one step, and takes the ones nobody touched:
 * their content goes to a per-VM compressed store (zstd, kept when it
 * shrinks to at most half a page) or to the VM's swap file, and the host
 * memory goes back. An access brings the content back into the frame's own
 * slot, on the same slow path as a copy-on-write break.
 *
 * Why nothing can be lost (the frame states are in gmem_priv.h):
 *  - probe: the entry gets COLD | RO | ZERO. gmem_page() hands out
 *    "read-only, do not cache", so once every hart flushed its TLB no hart
 *    (interpreter or translated code: both use the same TLB arrays) reads
 *    or writes the slot through a cached pointer; every access comes to
 *    gmem_reclaim_fault(), which ends the probe (the frame is hot).
 *  - commit (after that flush): the entry goes BUSY first; accessors wait.
 *    The pin count is checked behind a full fence (DMA mappings and bulk
 *    copies pin before they look the frame up), then the content is stored
 *    and the entry becomes OUT | HELD: the slot keeps its content.
 *  - release (after one more flush): a hart that looked the frame up
 *    uncached before the commit finished its instruction by now, so the
 *    slot can go (a punched hole in the RAM memfd). A fault before that just drops the copy.
 *  - fault: BUSY, the content back into the slot (which reads as zeros
 *    after the punch, so a full page is written), the copy freed, the entry
 *    private again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "mem/gmem.h"
#include "mem/gmem_priv.h"
#include "util/log.h"

/* zstd level 1: a page compresses in a few microseconds. */
#define RECLAIM_ZSTD_LEVEL 1

/* A compressed page in the store (malloc'ed, so its address has bit 0
 * clear; a swap slot is stored as slot << 1 | 1). */
struct zpage {
	uint16_t len;
	uint8_t data[];
};

struct gmem_swap {
	int fd;
	pthread_mutex_t lock;
	uint32_t *free; /* stack of free slots below top */
	uint32_t nfree, cap;
	uint32_t top; /* slots [0, top) were handed out once */
};

#define LOC_SWAP ((uintptr_t)1)

int gmem_reclaim_setup(struct gmem *gm, uint64_t limit, int swap_fd,
		       struct error *err)
{
	if (limit & GUEST_PAGE_MASK)
		return error_set(err, EINVAL,
				 "memory limit %llu: must be a multiple of "
				 "4 KiB",
				 (unsigned long long)limit);
	if (!gm->cctx) {
		gm->cctx = ZSTD_createCCtx();
		if (!gm->cctx)
			return error_set(err, ENOMEM,
					 "memory compression: cannot create "
					 "a zstd context");
	}
	if (swap_fd >= 0 && !gm->swap) {
		struct gmem_swap *sw = calloc(1, sizeof(*sw));

		if (!sw)
			return error_set(err, ENOMEM, "swap: out of memory");
		/* scratch: whatever a previous run left is garbage */
		if (ftruncate(swap_fd, 0) < 0) {
			int e = errno;

			free(sw);
			return error_set(err, e,
					 "swap file: cannot truncate it: %s",
					 strerror(e));
		}
		sw->fd = swap_fd;
		pthread_mutex_init(&sw->lock, NULL);
		gm->swap = sw;
	}
	atomic_store(&gm->limit_frames, limit >> GUEST_PAGE_SHIFT);
	return 0;
}

void gmem_set_limit(struct gmem *gm, uint64_t limit)
{
	atomic_store(&gm->limit_frames, limit >> GUEST_PAGE_SHIFT);
}

uint64_t gmem_get_limit(const struct gmem *gm)
{
	return atomic_load_explicit(&gm->limit_frames, memory_order_relaxed)
	       << GUEST_PAGE_SHIFT;
}

/* What the VM costs the host in frames: its private frames and its
 * compressed store (ESX carves the compression cache out of the VM's
 * memory too), so that the limit bounds both. */
static uint64_t charged_frames(const struct gmem *gm)
{
	uint64_t priv = atomic_load_explicit(&gm->frames_private,
					     memory_order_relaxed);
	uint64_t zbytes = atomic_load_explicit(&gm->bytes_compressed,
					       memory_order_relaxed);

	return priv + ((zbytes + GUEST_PAGE_MASK) >> GUEST_PAGE_SHIFT);
}

uint64_t gmem_reclaim_excess(const struct gmem *gm)
{
	uint64_t lim = atomic_load_explicit(&gm->limit_frames,
					    memory_order_relaxed);
	uint64_t used = charged_frames(gm);

	return lim && gm->cctx && used > lim ? used - lim : 0;
}

uint64_t gmem_reclaim_margin(const struct gmem *gm)
{
	return atomic_load_explicit(&gm->limit_frames, memory_order_relaxed) /
	       32;
}

void gmem_reclaim_destroy(struct gmem *gm)
{
	if (gm->loc) {
		for (uint64_t gfn = 0; gfn < gm->nframes; gfn++) {
			uintptr_t w = atomic_load(&gm->loc[gfn]);

			if (w && !(w & LOC_SWAP))
				free((void *)w);
		}
	}
	if (gm->swap) {
		pthread_mutex_destroy(&gm->swap->lock);
		free(gm->swap->free);
		free(gm->swap);
	}
	if (gm->cctx)
		ZSTD_freeCCtx(gm->cctx);
}

/* ---- the swap file's slots ----------------------------------------------- */

static bool swap_alloc(struct gmem_swap *sw, uint32_t *slot)
{
	bool ok = true;

	pthread_mutex_lock(&sw->lock);
	if (sw->nfree)
		*slot = sw->free[--sw->nfree];
	else if (sw->top < UINT32_MAX)
		*slot = sw->top++;
	else
		ok = false;
	pthread_mutex_unlock(&sw->lock);
	return ok;
}

static void swap_free(struct gmem_swap *sw, uint32_t slot)
{
	pthread_mutex_lock(&sw->lock);
	if (sw->nfree == sw->cap) {
		uint32_t cap = sw->cap ? sw->cap * 2 : 1024;
		uint32_t *f = realloc(sw->free, cap * sizeof(*f));

		if (!f) {
			/* the slot leaks (never reused); nothing breaks */
			pthread_mutex_unlock(&sw->lock);
			return;
		}
		sw->free = f;
		sw->cap = cap;
	}
	sw->free[sw->nfree++] = slot;
	pthread_mutex_unlock(&sw->lock);
}

uint64_t gmem_swap_slots_used(const struct gmem *gm)
{
	uint64_t n = 0;

	if (gm->swap) {
		pthread_mutex_lock(&gm->swap->lock);
		n = gm->swap->top - gm->swap->nfree;
		pthread_mutex_unlock(&gm->swap->lock);
	}
	return n;
}

uint64_t gmem_swap_slots_top(const struct gmem *gm)
{
	uint64_t n = 0;

	if (gm->swap) {
		pthread_mutex_lock(&gm->swap->lock);
		n = gm->swap->top;
		pthread_mutex_unlock(&gm->swap->lock);
	}
	return n;
}

static bool full_pwrite(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return true;
}

static bool full_pread(int fd, uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return true;
}

/* ---- the store ----------------------------------------------------------- */

/* Store a copy of page: compressed if it shrinks to half a page, else in
 * the swap file. Returns its location word, or 0 if it stays resident. */
static uintptr_t store_put(struct gmem *gm, const uint8_t *page)
{
	uint8_t buf[GUEST_PAGE_SIZE / 2];
	size_t n = ZSTD_compressCCtx(gm->cctx, buf, sizeof(buf), page,
				     GUEST_PAGE_SIZE, RECLAIM_ZSTD_LEVEL);
	uint32_t slot;

	/* an error here is dstSize_tooSmall: it does not fit in half */
	if (!ZSTD_isError(n)) {
		struct zpage *z = malloc(sizeof(*z) + n);

		if (z) {
			z->len = (uint16_t)n;
			memcpy(z->data, buf, n);
			atomic_fetch_add(&gm->frames_compressed, 1);
			atomic_fetch_add(&gm->bytes_compressed, n);
			return (uintptr_t)z;
		}
	}
	if (!gm->swap || !swap_alloc(gm->swap, &slot))
		return 0;
	if (!full_pwrite(gm->swap->fd, page, GUEST_PAGE_SIZE,
			 (off_t)slot << GUEST_PAGE_SHIFT)) {
		int e = errno;
		static atomic_bool said;

		if (!atomic_exchange(&said, true))
			log_warn("mem",
				 "swap file: write failed (%s): frames stay "
				 "in memory",
				 strerror(e));
		swap_free(gm->swap, slot);
		return 0;
	}
	atomic_fetch_add(&gm->frames_swapped, 1);
	return ((uintptr_t)slot << 1) | LOC_SWAP;
}

/* Free the copy at w. */
static void store_free(struct gmem *gm, uintptr_t w)
{
	if (w & LOC_SWAP) {
		swap_free(gm->swap, (uint32_t)(w >> 1));
		atomic_fetch_sub(&gm->frames_swapped, 1);
		return;
	}
	struct zpage *z = (struct zpage *)w;

	atomic_fetch_sub(&gm->frames_compressed, 1);
	atomic_fetch_sub(&gm->bytes_compressed, z->len);
	free(z);
}

/* A decompression context per thread (harts and device threads fault
 * pages in concurrently): ZSTD_decompress() would allocate and free one,
 * about 100 KiB, on every call. Freed when the thread ends. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void dctx_key_init(void)
{
	(void)pthread_key_create(&dctx_key, dctx_free);
}

static ZSTD_DCtx *thread_dctx(void)
{
	ZSTD_DCtx *d;

	(void)pthread_once(&dctx_once, dctx_key_init);
	d = pthread_getspecific(dctx_key);
	if (!d) {
		d = ZSTD_createDCtx();
		if (d && pthread_setspecific(dctx_key, d)) {
			ZSTD_freeDCtx(d);
			d = NULL;
		}
	}
	return d;
}

/* The copy at w back into page. The store is host memory or our own swap
 * file: failing to read it back is a host failure (an I/O error of the
 * disk under the swap file), and the guest's memory is gone. Stop the VM
 * rather than hand it a page of garbage. */
static void store_get(struct gmem *gm, uintptr_t w, uint8_t *page)
{
	if (w & LOC_SWAP) {
		uint32_t slot = (uint32_t)(w >> 1);

		if (!full_pread(gm->swap->fd, page, GUEST_PAGE_SIZE,
				(off_t)slot << GUEST_PAGE_SHIFT)) {
			log_error("mem",
				  "swap file: cannot read slot %u back (%s): "
				  "the guest's memory is lost, stopping",
				  slot, strerror(errno));
			abort();
		}
		atomic_fetch_add(&gm->swap_ins, 1);
		return;
	}
	struct zpage *z = (struct zpage *)w;
	ZSTD_DCtx *dctx = thread_dctx();
	/* without a context of its own (out of memory), zstd's one-shot call
	 * makes a temporary one */
	size_t n = dctx ? ZSTD_decompressDCtx(dctx, page, GUEST_PAGE_SIZE,
					      z->data, z->len)
			: ZSTD_decompress(page, GUEST_PAGE_SIZE, z->data,
					  z->len);

	if (ZSTD_isError(n) || n != GUEST_PAGE_SIZE) {
		log_error("mem", "compressed page does not decompress (%s)",
			  ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
		abort();
	}
	atomic_fetch_add(&gm->decompressions, 1);
}

/* ---- the frame protocol (see the top of the file) ------------------------ */

bool gmem_reclaim_probe(struct gmem *gm, uint64_t gfn)
{
	uintptr_t slot, cur;

	if (gfn >= gm->nframes || !gm->cctx)
		return false;
	slot = (uintptr_t)p2m_slot(gm, gfn);
	cur = p2m_get(gm, gfn);
	/* an offered frame (pool.c) stays offered until written, however
	 * cold: take it too, the probe ends its offer (a late answer then
	 * finds it no longer offered and refuses) */
	if ((cur != slot && cur != (slot | P2M_OFFER_FLAGS)) ||
	    atomic_load(&gm->pins[gfn]))
		return false;
	if (!p2m_cas(gm, gfn, &cur, slot | P2M_COLD_FLAGS))
		return false;
	atomic_fetch_add_explicit(&gm->reclaim_probed, 1, memory_order_relaxed);
	return true;
}

void gmem_reclaim_unprobe(struct gmem *gm, uint64_t gfn)
{
	uintptr_t slot, cur;

	if (gfn >= gm->nframes)
		return;
	slot = (uintptr_t)p2m_slot(gm, gfn);
	cur = slot | P2M_COLD_FLAGS;
	(void)p2m_cas(gm, gfn, &cur, slot); /* a fault may have ended it */
}

/* The location table is lazily committed like the p2m: only frames that
 * went out ever touch its pages. */
static bool loc_ready(struct gmem *gm)
{
	if (gm->loc)
		return true;
	gm->loc_bytes = gm->nframes * sizeof(*gm->loc);
	void *p = mmap(NULL, gm->loc_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	gm->loc = p;
	return true;
}

enum gmem_reclaim_result gmem_reclaim_commit(struct gmem *gm, uint64_t gfn)
{
	uintptr_t slot, cur, busy, w;
	uint8_t *page;

	if (gfn >= gm->nframes || !loc_ready(gm))
		return GMEM_RECLAIM_KEPT;
	slot = (uintptr_t)p2m_slot(gm, gfn);
	page = p2m_slot(gm, gfn);
	cur = slot | P2M_COLD_FLAGS;
	busy = cur | P2M_F_BUSY;
	if (!p2m_cas(gm, gfn, &cur, busy))
		return GMEM_RECLAIM_TOUCHED; /* accessed during the probe */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&gm->pins[gfn])) {
		cur = busy;
		(void)p2m_cas(gm, gfn, &cur, slot); /* only we leave busy */
		return GMEM_RECLAIM_KEPT;
	}
	if (gmem_frame_is_zero(page)) {
		/* nobody reads the slot but through stale pointers, and they
		 * read zeros: what the frame holds */
		gmem_slot_discard(gm, gfn);
		cur = busy;
		(void)p2m_cas(gm, gfn, &cur, gm->zero_entry | P2M_F_SHARED);
		atomic_fetch_sub(&gm->frames_private, 1);
		atomic_fetch_add(&gm->frames_zero_shared, 1);
		return GMEM_RECLAIM_ZERO;
	}
	w = store_put(gm, page);
	if (!w) {
		atomic_fetch_add_explicit(&gm->reclaim_kept, 1,
					  memory_order_relaxed);
		cur = busy;
		(void)p2m_cas(gm, gfn, &cur, slot);
		return GMEM_RECLAIM_KEPT;
	}
	/* published by the CAS below (release); a fault reads it after its
	 * own CAS on the entry (acquire) */
	atomic_store_explicit(&gm->loc[gfn], w, memory_order_relaxed);
	cur = busy;
	(void)p2m_cas(gm, gfn, &cur,
		      slot | P2M_COLD_FLAGS | P2M_F_OUT | P2M_F_HELD);
	return GMEM_RECLAIM_OUT;
}

bool gmem_reclaim_release(struct gmem *gm, uint64_t gfn)
{
	uintptr_t slot, cur, busy;

	if (gfn >= gm->nframes)
		return false;
	slot = (uintptr_t)p2m_slot(gm, gfn);
	cur = slot | P2M_COLD_FLAGS | P2M_F_OUT | P2M_F_HELD;
	busy = cur | P2M_F_BUSY;
	if (!p2m_cas(gm, gfn, &cur, busy))
		return false; /* brought back (or released) meanwhile */
	gmem_slot_discard(gm, gfn);
	cur = busy;
	(void)p2m_cas(gm, gfn, &cur, slot | P2M_COLD_FLAGS | P2M_F_OUT);
	atomic_fetch_sub(&gm->frames_private, 1);
	return true;
}

uintptr_t gmem_reclaim_fault(struct gmem *gm, uint64_t gfn)
{
	uintptr_t slot = (uintptr_t)p2m_slot(gm, gfn);

	for (;;) {
		uintptr_t cur = gmem_wait_not_busy(gm, gfn);
		uintptr_t busy, w;

		if (!(cur & P2M_F_COLD))
			return cur;
		if (!(cur & P2M_F_OUT)) {
			/* a probe: the frame is in use, keep it */
			if (!p2m_cas(gm, gfn, &cur, slot))
				continue;
			atomic_fetch_add_explicit(&gm->reclaim_touched, 1,
						  memory_order_relaxed);
			return slot;
		}
		/* before the busy mark: other accessors need not wait */
		if (!(cur & P2M_F_HELD))
			gmem_reclaim_throttle(gm);
		busy = cur | P2M_F_BUSY;
		if (!p2m_cas(gm, gfn, &cur, busy))
			continue;
		w = atomic_load_explicit(&gm->loc[gfn], memory_order_relaxed);
		if (!(cur & P2M_F_HELD)) {
			store_get(gm, w, p2m_slot(gm, gfn));
			atomic_fetch_add(&gm->frames_private, 1);
		}
		store_free(gm, w);
		atomic_store_explicit(&gm->loc[gfn], 0, memory_order_relaxed);
		cur = busy;
		(void)p2m_cas(gm, gfn, &cur, slot); /* only we leave busy */
		return slot;
	}
}

void gmem_reclaim_drop(struct gmem *gm, uint64_t gfn)
{
	uintptr_t w = atomic_load_explicit(&gm->loc[gfn], memory_order_relaxed);

	store_free(gm, w);
	atomic_store_explicit(&gm->loc[gfn], 0, memory_order_relaxed);
}

_Thread_local bool gmem_no_throttle;

/*
 * A new frame (a first write, a page brought back) while the VM is an
 * eighth over its target: the reclaimer is behind, so slow the guest down
 * (100 us a frame, at most ~40 MB/s a hart) instead of letting it run away
 * with the host's memory. Only with a swap file, where reclaim always
 * makes progress, and only for harts (device back-ends mapping buffers set
 * gmem_no_throttle: a device must not stall on a page, and a balloon
 * report holds pins meanwhile).
 */
void gmem_reclaim_throttle(struct gmem *gm)
{
	uint64_t lim = atomic_load_explicit(&gm->limit_frames,
					    memory_order_relaxed);
	const struct timespec ts = { 0, 100000 };

	if (!lim || !gm->swap || gmem_no_throttle)
		return;
	/* One short sleep per frame, never a wait until the VM is under the
	 * limit again: the reclaimer needs this hart to pass a block
	 * boundary (acknowledge its flush) before it can commit anything. */
	if (charged_frames(gm) > lim + lim / 8 + 256)
		nanosleep(&ts, NULL);
}
