/*
 * Guest RAM: frame reserve, p2m table, zero frame, page lookup, bulk copies,
 * release and statistics. See gmem.h for the contract, gmem_priv.h for the
 * p2m encoding and docs/memory.md for the design.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/gmem.h"
#include "mem/gmem_priv.h"
#include "util/log.h"

/* Guest (RISC-V) is little-endian; the bus helpers copy values as host
 * integers. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "src/mem assumes a little-endian host");
_Static_assert(sizeof(uintptr_t) == 8, "src/mem assumes a 64-bit host");

static void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct gmem *gmem_create(uint64_t ram_base, uint64_t ram_size,
			 struct error *err)
{
	struct gmem *gm;
	int e;

	if (ram_size == 0 || (ram_size & GUEST_PAGE_MASK) ||
	    (ram_base & GUEST_PAGE_MASK)) {
		error_set(err, EINVAL,
			  "guest RAM at 0x%llx size 0x%llx: base and size must "
			  "be multiples of 4 KiB and size > 0",
			  (unsigned long long)ram_base,
			  (unsigned long long)ram_size);
		return NULL;
	}
	if (ram_base + (ram_size - 1) < ram_base) {
		error_set(err, EINVAL,
			  "guest RAM at 0x%llx size 0x%llx: does not fit the "
			  "64-bit physical address space",
			  (unsigned long long)ram_base,
			  (unsigned long long)ram_size);
		return NULL;
	}

	gm = calloc(1, sizeof(*gm));
	if (!gm) {
		error_set(err, ENOMEM, "guest memory: out of host memory");
		return NULL;
	}
	gm->ram_fd = -1;
	pthread_mutex_init(&gm->pool_lock, NULL);
	gm->ram_base = ram_base;
	gm->ram_size = ram_size;
	gm->nframes = ram_size >> GUEST_PAGE_SHIFT;

	/* Guest RAM is a memfd (docs/memory.md, "Guest RAM in a memfd"):
	 * the daemon can read it (page sharing, migration), and a slot goes
	 * back to the host with a punched hole. */
	gm->ram_fd = memfd_create("softvisor-ram", MFD_CLOEXEC);
	if (gm->ram_fd < 0 || ftruncate(gm->ram_fd, (off_t)ram_size)) {
		e = errno;
		error_set(err, e,
			  "guest RAM of %llu MiB: cannot create its memfd: %s",
			  (unsigned long long)(ram_size >> 20), strerror(e));
		goto fail;
	}
	gm->reserve = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_NORESERVE, gm->ram_fd, 0);
	if (gm->reserve == MAP_FAILED) {
		gm->reserve = NULL;
		e = errno;
		error_set(err, e,
			  "guest RAM of %llu MiB: cannot reserve host address "
			  "space: %s",
			  (unsigned long long)(ram_size >> 20), strerror(e));
		goto fail;
	}
	/* Frames are the unit of sharing, release and swap: keep the kernel
	 * from backing the reserve with 2 MiB pages, or one first write would
	 * commit 512 frames and a release would split a huge page. */
	(void)madvise(gm->reserve, ram_size, MADV_NOHUGEPAGE);

	gm->zero_page = map_anon(GUEST_PAGE_SIZE, PROT_READ);
	gm->p2m_bytes = gm->nframes * sizeof(*gm->p2m);
	gm->p2m = map_anon(gm->p2m_bytes, PROT_READ | PROT_WRITE);
	gm->dirty_words = GMEM_DIRTY_WORDS(gm->nframes);
	gm->dirty = calloc(gm->dirty_words, sizeof(*gm->dirty));
	gm->code = calloc(gm->dirty_words, sizeof(*gm->code));
	gm->populated = calloc(
		GMEM_DIRTY_WORDS(gm->nframes / GMEM_POPULATE_FRAMES) + 1,
		sizeof(*gm->populated));
	gm->pins_bytes = gm->nframes * sizeof(*gm->pins);
	gm->pins = map_anon(gm->pins_bytes, PROT_READ | PROT_WRITE);
	if (!gm->zero_page || !gm->p2m || !gm->dirty || !gm->code ||
	    !gm->populated || !gm->pins) {
		error_set(err, ENOMEM,
			  "guest RAM of %llu MiB: cannot allocate the frame "
			  "table",
			  (unsigned long long)(ram_size >> 20));
		goto fail;
	}
	gm->zero_entry = (uintptr_t)gm->zero_page | P2M_F_RO | P2M_F_ZERO;
	/* The p2m is all zero words, which decode to the zero frame. */
	atomic_init(&gm->frames_private, 0);
	atomic_init(&gm->frames_released, 0);
	atomic_init(&gm->frames_zero_shared, 0);
	atomic_init(&gm->share_scanned, 0);
	atomic_init(&gm->cow_breaks, 0);
	atomic_init(&gm->dirty_active, false);
	atomic_init(&gm->code_gen, 0);
	atomic_init(&gm->harts, 0);
	log_debug("mem", "RAM 0x%llx..0x%llx: %llu frames reserved at %p",
		  (unsigned long long)ram_base,
		  (unsigned long long)(ram_base + ram_size - 1),
		  (unsigned long long)gm->nframes, (void *)gm->reserve);
	return gm;

fail:
	gmem_destroy(gm);
	return NULL;
}

void gmem_destroy(struct gmem *gm)
{
	if (!gm)
		return;
	gmem_bus_destroy(gm);
	gmem_reclaim_destroy(gm);
	gmem_pool_destroy(gm);
	if (gm->loc)
		munmap(gm->loc, gm->loc_bytes);
	free(gm->dirty);
	free(gm->code);
	free(gm->populated);
	if (gm->pins)
		munmap(gm->pins, gm->pins_bytes);
	if (gm->p2m)
		munmap(gm->p2m, gm->p2m_bytes);
	if (gm->zero_page)
		munmap(gm->zero_page, GUEST_PAGE_SIZE);
	if (gm->reserve)
		munmap(gm->reserve, gm->ram_size);
	if (gm->file_map)
		munmap((void *)(uintptr_t)gm->file_map, gm->file_bytes);
	if (gm->ram_fd >= 0)
		close(gm->ram_fd);
	free(gm);
}

uint64_t gmem_ram_base(const struct gmem *gm)
{
	return gm->ram_base;
}

uint64_t gmem_ram_size(const struct gmem *gm)
{
	return gm->ram_size;
}

int gmem_ram_fd(const struct gmem *gm)
{
	return gm->ram_fd;
}

void gmem_slot_discard(struct gmem *gm, uint64_t gfn)
{
	/* Punching also unmaps the page from every mapping of the memfd,
	 * so a later access through the reserve (or a stale pointer) reads
	 * zeros, as MADV_DONTNEED did on the anonymous reserve. Cannot fail
	 * on a range of our own memfd short of a kernel without hole
	 * punching in shmem (before 3.5). */
	(void)fallocate(gm->ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)(gfn << GUEST_PAGE_SHIFT), GUEST_PAGE_SIZE);
}

bool gmem_is_ram(const struct gmem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t off;

	if (len == 0)
		return gpa - gm->ram_base < gm->ram_size;
	return gmem_ram_offset(gm, gpa, len, &off);
}

/* The scanner is deciding about gfn (a few microseconds): wait. */
uintptr_t gmem_wait_not_busy(struct gmem *gm, uint64_t gfn)
{
	uintptr_t cur = p2m_get(gm, gfn);

	for (unsigned spins = 0; cur & P2M_F_BUSY; spins++) {
		if (spins > 64)
			sched_yield();
		cur = p2m_get(gm, gfn);
	}
	return cur;
}

/*
 * The first write to a group of GMEM_POPULATE_FRAMES never-written frames
 * commits the whole group's slots with one madvise instead of one host
 * page fault each (a fault costs a few microseconds on a virtualized
 * host; a Debian boot writes ~22 000 frames, in groups of 16 it leaves
 * about 1 % of the committed slots unwritten). The slots stay zeros, so
 * frames still on the zero frame read the same; a group is populated
 * only once, so frames released later (balloon, free page reporting,
 * the scanner's punches) are not committed again behind the guest's
 * back.
 */
static void gmem_populate_group(struct gmem *gm, uint64_t gfn)
{
	uint64_t g = gfn / GMEM_POPULATE_FRAMES;
	uint64_t bit = 1ull << (g % 64);
	uint64_t n = GMEM_POPULATE_FRAMES;

	/* under a memory limit every committed slot must be one reclaim
	 * sees (a private frame): no unwritten slots behind its back */
	if (atomic_load_explicit(&gm->populate_off, memory_order_relaxed) ||
	    atomic_load_explicit(&gm->limit_frames, memory_order_relaxed) ||
	    (atomic_fetch_or_explicit(&gm->populated[g / 64], bit,
				      memory_order_relaxed) &
	     bit))
		return;
	if ((g + 1) * n > gm->nframes)
		n = gm->nframes - g * n;
	if (madvise(gm->reserve +
			    (g * GMEM_POPULATE_FRAMES << GUEST_PAGE_SHIFT),
		    n << GUEST_PAGE_SHIFT, MADV_POPULATE_WRITE) &&
	    errno == EINVAL) /* before Linux 5.14 */
		atomic_store_explicit(&gm->populate_off, true,
				      memory_order_relaxed);
}

/*
 * A store to a frame that is not plainly private. From the zero frame the
 * only transition is to slot gfn, so racing writers CAS the same value: one
 * wins and counts the frame, the others see the slot and are done. The slot
 * reads as zeros: it was never touched, or punched by
 * gmem_release_page() or the scanner. A protected frame (page sharing,
 * phase 1) just loses its protection: the scanner's commit then fails.
 */
uintptr_t gmem_make_private(struct gmem *gm, uint64_t gfn)
{
	uintptr_t cur = gmem_wait_not_busy(gm, gfn);
	uintptr_t slot = (uintptr_t)p2m_slot(gm, gfn);

	while (cur & P2M_F_RO) {
		if (cur & P2M_F_BUSY) {
			cur = gmem_wait_not_busy(gm, gfn);
			continue;
		}
		if (cur & P2M_F_COLD) {
			cur = gmem_reclaim_fault(gm, gfn);
			continue;
		}
		if (cur & P2M_F_POOL) {
			cur = gmem_pool_break(gm, gfn, cur);
			continue;
		}
		if (cur & P2M_F_OFFER) {
			/* still private: the offer is lifted, the daemon's
			 * answer will find it so */
			if (p2m_cas(gm, gfn, &cur, slot))
				return slot;
			continue;
		}
		if (cur & P2M_F_ZERO)
			gmem_reclaim_throttle(gm);
		if (!p2m_cas(gm, gfn, &cur, slot))
			continue;
		if (cur & P2M_F_ZERO) {
			atomic_fetch_add_explicit(&gm->frames_private, 1,
						  memory_order_relaxed);
			gmem_populate_group(gm, gfn);
		}
		if (cur & P2M_F_SHARED) {
			atomic_fetch_sub_explicit(&gm->frames_zero_shared, 1,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&gm->cow_breaks, 1,
						  memory_order_relaxed);
		}
		return slot;
	}
	return cur;
}

/* Store path off the fast path: first write and/or dirty logging. A tail
 * call from gmem_page(), so the common case needs no stack frame. */
static SV_NOINLINE uint8_t *gmem_page_write_slow(struct gmem *gm, uint64_t gfn,
						 uintptr_t e, unsigned *flags)
{
	if (e & P2M_F_RO)
		e = gmem_make_private(gm, gfn);
	gmem_mark_dirty(gm, gfn);
	if (flags)
		*flags = (unsigned)(e & P2M_PAGE_FLAGS) |
			 (atomic_load_explicit(&gm->dirty_active,
					       memory_order_relaxed)
				  ? GMEM_PAGE_LOGGED
				  : 0u);
	return (uint8_t *)(e & ~P2M_FLAGS_MASK);
}

/* A frame the reclaimer probed or put out: end the probe or bring the
 * content back, then as usual. */
static SV_NOINLINE uint8_t *gmem_page_cold(struct gmem *gm, uint64_t gfn,
					   enum gmem_access access,
					   unsigned *flags)
{
	uintptr_t e = gmem_reclaim_fault(gm, gfn);

	if (access == GMEM_WRITE)
		return gmem_page_write_slow(gm, gfn, e, flags);
	if (flags)
		*flags = (unsigned)(e & P2M_PAGE_FLAGS);
	return (uint8_t *)(e & ~P2M_FLAGS_MASK);
}

uint8_t *gmem_page(struct gmem *gm, uint64_t gpa, enum gmem_access access,
		   unsigned *flags)
{
	uint64_t off = gpa - gm->ram_base;
	uint64_t gfn;
	uintptr_t e;

	if (unlikely(off >= gm->ram_size))
		return NULL;
	gfn = off >> GUEST_PAGE_SHIFT;
	e = p2m_get(gm, gfn);
	if (unlikely(e & P2M_F_COLD))
		return gmem_page_cold(gm, gfn, access, flags);
	if (access == GMEM_WRITE &&
	    unlikely((e & P2M_F_RO) ||
		     atomic_load_explicit(&gm->dirty_active,
					  memory_order_relaxed)))
		return gmem_page_write_slow(gm, gfn, e, flags);
	if (flags)
		*flags = (unsigned)(e & P2M_PAGE_FLAGS);
	return (uint8_t *)(e & ~P2M_FLAGS_MASK);
}

/* Copy between buf and [gpa, gpa+len) of RAM page by page: guest frames are
 * not adjacent in host memory. */
static int gmem_copy(struct gmem *gm, uint64_t gpa, uint8_t *buf, size_t len,
		     enum gmem_access access)
{
	uint64_t off;

	if (len == 0)
		return 0;
	if (!gmem_ram_offset(gm, gpa, len, &off))
		return -EFAULT;
	gmem_no_throttle = true; /* loaders and devices: never wait */
	while (len) {
		size_t in_page = GUEST_PAGE_SIZE - (gpa & GUEST_PAGE_MASK);
		size_t n = len < in_page ? len : in_page;
		uint64_t gfn = (gpa - gm->ram_base) >> GUEST_PAGE_SHIFT;
		uint8_t *p;

		/* Pinned across the copy, as a DMA mapping: neither the
		 * sharing nor the reclaim commit takes the frame from under
		 * the memcpy (they check the pin behind a fence). */
		atomic_fetch_add(&gm->pins[gfn], 1);
		atomic_thread_fence(memory_order_seq_cst);
		p = gmem_page(gm, gpa, access, NULL) + (gpa & GUEST_PAGE_MASK);
		if (access == GMEM_WRITE) {
			gmem_code_write(gm, gfn, gfn);
			memcpy(p, buf, n);
			gmem_dirty_log_wrote(gm, gpa, n);
		} else
			memcpy(buf, p, n);
		atomic_fetch_sub(&gm->pins[gfn], 1);
		buf += n;
		gpa += n;
		len -= n;
	}
	gmem_no_throttle = false;
	return 0;
}

int gmem_read(struct gmem *gm, uint64_t gpa, void *buf, size_t len)
{
	return gmem_copy(gm, gpa, buf, len, GMEM_READ);
}

int gmem_write(struct gmem *gm, uint64_t gpa, const void *buf, size_t len)
{
	/* gmem_copy only reads from buf when access is GMEM_WRITE */
	return gmem_copy(gm, gpa, (uint8_t *)(uintptr_t)buf, len, GMEM_WRITE);
}

/* A loader's page of zeros: its buffer may have any alignment. */
static bool load_page_is_zero(const uint8_t *p)
{
	uint64_t acc = 0, w[8];

	for (size_t i = 0; i < GUEST_PAGE_SIZE && !acc; i += sizeof(w)) {
		memcpy(w, p + i, sizeof(w));
		acc = w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7];
	}
	return !acc;
}

/* A page gmem_load need not write: zeros over the zero frame. */
static bool load_skips(struct gmem *gm, uint64_t gfn, const uint8_t *src)
{
	return (p2m_get(gm, gfn) & ~P2M_F_SHARED) == gm->zero_entry &&
	       load_page_is_zero(src);
}

/* Allocate the slots of the n pages from gfn at once: a fault per page
 * costs a trap each, which in a VM host is most of a loader's time. A
 * kernel without MADV_POPULATE_WRITE (before 5.14) faults them as
 * before. */
static void load_populate(struct gmem *gm, uint64_t gfn, uint64_t n)
{
#ifdef MADV_POPULATE_WRITE
	if (n > 1)
		(void)madvise(p2m_slot(gm, gfn), n << GUEST_PAGE_SHIFT,
			      MADV_POPULATE_WRITE);
#else
	(void)gm, (void)gfn, (void)n;
#endif
}

int gmem_load(struct gmem *gm, uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	uint64_t off;

	if (len == 0)
		return 0;
	if (!gmem_ram_offset(gm, gpa, len, &off))
		return -EFAULT;
	while (len) {
		size_t head = (size_t)(gpa & GUEST_PAGE_MASK);
		uint64_t gfn = (gpa - gm->ram_base) >> GUEST_PAGE_SHIFT;
		size_t n = 0;

		/* a partial page is written as gmem_write would */
		if (head || len < GUEST_PAGE_SIZE) {
			n = GUEST_PAGE_SIZE - head < len
				    ? GUEST_PAGE_SIZE - head
				    : len;
			if (gmem_write(gm, gpa, src, n))
				return -EFAULT;
		} else if (load_skips(gm, gfn, src)) {
			n = GUEST_PAGE_SIZE;
		} else {
			/* the run of whole pages to write */
			while (n + GUEST_PAGE_SIZE <= len &&
			       !load_skips(gm, gfn + n / GUEST_PAGE_SIZE,
					   src + n))
				n += GUEST_PAGE_SIZE;
			load_populate(gm, gfn, n / GUEST_PAGE_SIZE);
			if (gmem_write(gm, gpa, src, n))
				return -EFAULT;
		}
		src += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

int gmem_map_file(struct gmem *gm, uint64_t gpa, int fd, uint64_t len)
{
	const int need = F_SEAL_WRITE | F_SEAL_SHRINK;
	uint64_t off, gfn, pages;
	struct stat st;
	int seals;
	uint8_t *map;

	if (len == 0)
		return 0;
	if (!gmem_ram_offset(gm, gpa, len, &off))
		return -EFAULT;
	if (gpa & GUEST_PAGE_MASK)
		return -EINVAL;
	seals = fcntl(fd, F_GET_SEALS);
	if (!gm->tlb_sync || gm->file_map || seals < 0 ||
	    (seals & need) != need)
		return -ENOTSUP;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size != len)
		return -ENOTSUP;
	gfn = off >> GUEST_PAGE_SHIFT;
	/* RAM and gpa are page aligned: the rounded range is RAM too */
	pages = (len + GUEST_PAGE_MASK) >> GUEST_PAGE_SHIFT;
	for (uint64_t i = 0; i < pages; i++)
		if (p2m_get(gm, gfn + i) != gm->zero_entry)
			return -EBUSY;
	map = mmap(NULL, pages << GUEST_PAGE_SHIFT, PROT_READ, MAP_SHARED, fd,
		   0);
	if (map == MAP_FAILED)
		return -errno;
	gm->file_map = map;
	gm->file_bytes = pages << GUEST_PAGE_SHIFT;
	for (uint64_t i = 0; i < pages; i++) {
		uintptr_t cur = gm->zero_entry;
		uintptr_t e = (uintptr_t)(map + (i << GUEST_PAGE_SHIFT)) |
			      P2M_POOL_FLAGS | P2M_F_FILE;

		/* a racing writer keeps its frame (the caller copies) */
		if (!p2m_cas(gm, gfn + i, &cur, e))
			return -EBUSY;
		atomic_fetch_add_explicit(&gm->frames_file, 1,
					  memory_order_relaxed);
	}
	return 0;
}

/*
 * Release gfn's frame: the entry back to the zero frame first, then the
 * host memory. A writer racing with the release (the guest wrote a page
 * it gave away, or a hart used a stale TLB entry) loses its write but
 * never touches memory it does not own: the slot stays mapped and the
 * punched hole leaves it reading zeros, which keeps the invariant
 * gmem_make_private() relies on. synced: a pooled entry with NOCACHE that
 * was in place before a TLB sync ended (gmem_release_pages; 0: none),
 * which needs no sync of its own while gfn still holds exactly it.
 */
static void release_frame(struct gmem *gm, uint64_t gfn, uintptr_t synced)
{
	/* the content becomes zeros: a host write for the code log */
	atomic_fetch_add(&gm->pins[gfn], 1);
	atomic_thread_fence(memory_order_seq_cst);
	gmem_code_write(gm, gfn, gfn);

	uintptr_t cur = gmem_wait_not_busy(gm, gfn);

	/* private, protected, probed or out (not the zero frame): to zero */
	while ((cur & ~P2M_FLAGS_MASK) != (uintptr_t)gm->zero_page) {
		if (cur & P2M_F_BUSY) {
			cur = gmem_wait_not_busy(gm, gfn);
			continue;
		}
		if (cur & P2M_F_OUT) {
			/* hold it busy while its copy goes */
			uintptr_t busy = cur | P2M_F_BUSY;

			if (!p2m_cas(gm, gfn, &cur, busy))
				continue;
			gmem_reclaim_drop(gm, gfn);
			cur = busy;
			(void)p2m_cas(gm, gfn, &cur, gm->zero_entry);
			if (busy & P2M_F_HELD)
				atomic_fetch_sub_explicit(&gm->frames_private,
							  1,
							  memory_order_relaxed);
			break;
		}
		/* no TLB may go on reading the pool frame once its
		 * reference goes back */
		if ((cur & P2M_F_POOL) && cur != synced &&
		    !gmem_pool_uncache(gm, gfn, &cur))
			continue;
		/* read before the entry leaves: a new offer overwrites it */
		uint32_t batch = gmem_pool_commit_batch(gm, gfn);

		if (p2m_cas(gm, gfn, &cur, gm->zero_entry)) {
			if (cur & P2M_F_POOL)
				gmem_pool_released(gm, gfn, cur, batch);
			else
				atomic_fetch_sub_explicit(&gm->frames_private,
							  1,
							  memory_order_relaxed);
			break;
		}
	}
	/* Unconditional: a stale writer may have touched a zero frame's
	 * slot. */
	gmem_slot_discard(gm, gfn);
	/* The guest-visible content changed (now zeros): migration must send
	 * the page again. */
	gmem_mark_dirty(gm, gfn);
	atomic_fetch_sub(&gm->pins[gfn], 1);
	atomic_fetch_add_explicit(&gm->frames_released, 1,
				  memory_order_relaxed);
}

int gmem_release_page(struct gmem *gm, uint64_t gpa)
{
	uint64_t off;

	if (!gmem_ram_offset(gm, gpa, 1, &off))
		return -EFAULT;
	release_frame(gm, off >> GUEST_PAGE_SHIFT, 0);
	return 0;
}

/*
 * A batch: every pooled (or file) entry of it is made NOCACHE first and
 * one TLB sync covers them all, instead of one sync per page. Each such
 * gfn stays pinned until its release, so no commit can map a pool frame
 * there again meanwhile (commits refuse pinned frames): an entry that is
 * still the one seen before the sync was never cached after it.
 */
size_t gmem_release_pages(struct gmem *gm, const uint64_t *gpa, size_t n)
{
	uintptr_t synced[GMEM_RELEASE_BATCH];
	uint64_t gfns[GMEM_RELEASE_BATCH];
	bool pinned[GMEM_RELEASE_BATCH];
	size_t done = 0;

	for (size_t base = 0; base < n; base += GMEM_RELEASE_BATCH) {
		size_t m = n - base < GMEM_RELEASE_BATCH ? n - base
							 : GMEM_RELEASE_BATCH;
		bool sync = false;

		for (size_t i = 0; i < m; i++) {
			uint64_t off;
			uintptr_t cur;

			synced[i] = 0;
			pinned[i] = false;
			gfns[i] = UINT64_MAX;
			if (!gmem_ram_offset(gm, gpa[base + i], 1, &off))
				continue;
			gfns[i] = off >> GUEST_PAGE_SHIFT;
			if (!gm->tlb_sync ||
			    !(p2m_get(gm, gfns[i]) & P2M_F_POOL))
				continue; /* nothing a TLB may cache */
			atomic_fetch_add(&gm->pins[gfns[i]], 1);
			pinned[i] = true;
			atomic_thread_fence(memory_order_seq_cst);
			cur = p2m_get(gm, gfns[i]);
			while ((cur & P2M_F_POOL) &&
			       !(cur & (P2M_F_BUSY | P2M_F_NOCACHE)) &&
			       !p2m_cas(gm, gfns[i], &cur, cur | P2M_F_NOCACHE))
				;
			if ((cur & P2M_F_POOL) && !(cur & P2M_F_BUSY)) {
				synced[i] = cur | P2M_F_NOCACHE;
				sync = true;
			}
		}
		if (sync)
			gm->tlb_sync(gm->tlb_sync_opaque);
		for (size_t i = 0; i < m; i++) {
			if (gfns[i] == UINT64_MAX)
				continue;
			release_frame(gm, gfns[i], synced[i]);
			if (pinned[i])
				atomic_fetch_sub(&gm->pins[gfns[i]], 1);
			done++;
		}
	}
	return done;
}

void gmem_get_stats(const struct gmem *gm, struct gmem_stats *st)
{
	st->frames_total = gm->nframes;
	st->frames_private = atomic_load_explicit(&gm->frames_private,
						  memory_order_relaxed);
	st->frames_released = atomic_load_explicit(&gm->frames_released,
						   memory_order_relaxed);
	st->frames_zero_shared = atomic_load_explicit(&gm->frames_zero_shared,
						      memory_order_relaxed);
	st->share_scanned = atomic_load_explicit(&gm->share_scanned,
						 memory_order_relaxed);
	st->cow_breaks = atomic_load_explicit(&gm->cow_breaks,
					      memory_order_relaxed);
	st->limit_frames = atomic_load(&gm->limit_frames);
	st->frames_compressed = atomic_load(&gm->frames_compressed);
	st->bytes_compressed = atomic_load(&gm->bytes_compressed);
	st->frames_swapped = atomic_load(&gm->frames_swapped);
	st->swap_ins = atomic_load(&gm->swap_ins);
	st->decompressions = atomic_load(&gm->decompressions);
	st->reclaim_probed = atomic_load(&gm->reclaim_probed);
	st->reclaim_touched = atomic_load(&gm->reclaim_touched);
	st->reclaim_kept = atomic_load(&gm->reclaim_kept);
	st->frames_pool_shared = atomic_load(&gm->frames_pool_shared);
	st->pool_offered = atomic_load(&gm->pool_offered);
	st->pool_cow_breaks = atomic_load(&gm->pool_cow_breaks);
	st->frames_file = atomic_load(&gm->frames_file);
}
