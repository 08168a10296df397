/*
 * DMA API: guest-physical ranges to host iovecs for device back-ends.
 * Every gpa and len here comes from a guest (virtqueue descriptors): the
 * whole range is checked, overflow-safe, before anything is mapped.
 */
#include <errno.h>

#include "mem/gmem.h"
#include "mem/gmem_priv.h"

static void pin_range(struct gmem *gm, uint64_t gfn, uint64_t last, int d)
{
	for (; gfn <= last; gfn++)
		atomic_fetch_add(&gm->pins[gfn], (uint32_t)d);
}

int gmem_dma_map(struct gmem *gm, uint64_t gpa, uint64_t len,
		 enum gmem_access access, struct iovec *iov, int max_iov)
{
	uint64_t off, first, last;
	int n = 0;

	if (len == 0)
		return 0;
	if (!gmem_ram_offset(gm, gpa, len, &off))
		return -EFAULT;
	if (max_iov <= 0 || !iov)
		return -ENOBUFS;
	/* Pin before looking the frames up (sequentially consistent on both
	 * sides): the scanner either sees the pin or its commit is seen by
	 * the lookup below (share.c). */
	first = off >> GUEST_PAGE_SHIFT;
	last = (off + len - 1) >> GUEST_PAGE_SHIFT;
	pin_range(gm, first, last, 1);
	atomic_thread_fence(memory_order_seq_cst);
	/* the device may write from now until the unpin (code.c) */
	if (access == GMEM_WRITE)
		gmem_code_write(gm, first, last);
	gmem_no_throttle = true; /* a device thread: never wait for reclaim */
	while (len) {
		uint64_t in_page = GUEST_PAGE_SIZE - (gpa & GUEST_PAGE_MASK);
		uint64_t chunk = len < in_page ? len : in_page;
		uint8_t *p = gmem_page(gm, gpa, access, NULL) +
			     (gpa & GUEST_PAGE_MASK);

		/* Private slots of adjacent frames are adjacent in the
		 * reserve; anything else (zero frame) starts a new iovec. */
		if (n > 0 &&
		    (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == p) {
			iov[n - 1].iov_len += chunk;
		} else {
			/* Frames already made private stay so: harmless, a
			 * retry with more iovecs finds them private. */
			if (n == max_iov) {
				pin_range(gm, first, last, -1);
				gmem_no_throttle = false;
				return -ENOBUFS;
			}
			iov[n].iov_base = p;
			iov[n].iov_len = chunk;
			n++;
		}
		gpa += chunk;
		len -= chunk;
	}
	gmem_no_throttle = false;
	return n;
}

void gmem_dma_unpin(struct gmem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t off;

	if (len == 0 || !gmem_ram_offset(gm, gpa, len, &off))
		return;
	pin_range(gm, off >> GUEST_PAGE_SHIFT,
		  (off + len - 1) >> GUEST_PAGE_SHIFT, -1);
}
