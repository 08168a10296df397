/*
 * DMA API: guest-physical ranges to host iovecs for device back-ends.
 * Every gpa and len here comes from a guest (virtqueue descriptors): the
 * whole range is checked, overflow-safe, before anything is mapped.
 */
#include <errno.h>

#include "mem/gmem.h"
#include "mem/gmem_priv.h"

int gmem_dma_map(struct gmem *gm, uint64_t gpa, uint64_t len,
		 enum gmem_access access, struct iovec *iov, int max_iov)
{
	uint64_t off;
	int n = 0;

	if (len == 0)
		return 0;
	if (!gmem_ram_offset(gm, gpa, len, &off))
		return -EFAULT;
	if (max_iov <= 0 || !iov)
		return -ENOBUFS;
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
			if (n == max_iov)
				return -ENOBUFS;
			iov[n].iov_base = p;
			iov[n].iov_len = chunk;
			n++;
		}
		gpa += chunk;
		len -= chunk;
	}
	return n;
}

void gmem_dma_unmap(struct gmem *gm, const struct iovec *iov, int n_iov)
{
	/* Nothing is pinned yet. Sharing and swap will hold a per-frame pin
	 * between map and unmap. */
	(void)gm;
	(void)iov;
	(void)n_iov;
}
