/*
 * Split virtqueues (virtio 1.2, section 2.7). The contract is in virtq.h.
 *
 * Guest memory. Every ring field is reached through gmem_page() at each
 * access (lock-free, no system call, a few instructions), never through a
 * cached host pointer: guest RAM is frames behind a p2m table that changes
 * under us (zero frame -> private frame on first write, balloon release,
 * later sharing and swap), and our stores to the used ring must pass the
 * dirty log. Ring fields are naturally aligned (checked at create), so no
 * field crosses a page; descriptors are 16 bytes at 16-byte alignment in
 * the main table. Indirect tables need not be aligned: an entry that crosses
 * a page is read with gmem_read().
 *
 * Concurrency with the driver (another hart): ring indexes are read and
 * written with single-copy atomic accesses; a descriptor is copied once and
 * only the copy is validated and used (no double fetch).
 *
 * Byte order: virtio 1.x rings are little-endian (2.7); le*toh() compile
 * to nothing on x86-64 hosts.
 */
#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "util/compiler.h"
#include "util/log.h"
#include "virtio/virtq.h"

/* 2.7.5: descriptor flags */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
/* 2.7.6, 2.7.8: ring flags */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/* 2.7: Queue Size is at most 32768. */
#define VIRTQ_MAX_SIZE 32768u
/* An indirect table holds at most this many descriptors (2.7.5.3.1 leaves
 * the bound to the device; Linux never builds one larger than its queue). */
#define VIRTQ_MAX_INDIRECT VIRTQ_MAX_SIZE

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct virtq_desc) == 16, "2.7.5 descriptor layout");

struct virtq {
	struct gmem *mem;
	uint64_t desc;	/* descriptor table gpa */
	uint64_t avail; /* driver area gpa */
	uint64_t used;	/* device area gpa */
	uint16_t size;
	uint16_t mask;
	bool event_idx;
	bool indirect;
	bool notify_enabled; /* what virtq_set_notify() last asked for */
	bool reported;	     /* a malformed ring was logged once */
	/* Device-side state (what a snapshot of the queue must save). */
	uint16_t last_avail;	 /* next avail ring entry to consume */
	uint16_t used_idx;	 /* our used->idx */
	uint16_t signalled_used; /* used_idx at the last notify decision */
};

/* ---- ring field access ------------------------------------------------- */

/*
 * Host address of a ring field. The rings were checked to lie in RAM at
 * create and RAM never shrinks, so gmem_page() cannot fail here.
 */
static inline void *vq_host(const struct virtq *vq, uint64_t gpa,
			    enum gmem_access access)
{
	return gmem_page(vq->mem, gpa, access, NULL) + (gpa & GUEST_PAGE_MASK);
}

static inline uint16_t vq_load16(const struct virtq *vq, uint64_t gpa,
				 int order)
{
	uint16_t *p = vq_host(vq, gpa, GMEM_READ);

	return le16toh(__atomic_load_n(p, order));
}

/* Ring stores go through gmem_bus_write (aligned, single-copy atomic;
 * create checked the alignment and that the rings are RAM): a hostile
 * guest may put a ring in a page it runs code from, and a host write
 * there must reach the code-write log (gmem.h). */
static inline void vq_store16(const struct virtq *vq, uint64_t gpa, uint16_t v,
			      int order)
{
	if (order != __ATOMIC_RELAXED)
		atomic_thread_fence(memory_order_release);
	(void)!gmem_bus_write(vq->mem, gpa, 2, htole16(v));
}

static inline void vq_store32(const struct virtq *vq, uint64_t gpa, uint32_t v)
{
	(void)!gmem_bus_write(vq->mem, gpa, 4, htole32(v));
}

/* 2.7.6: avail = { le16 flags; le16 idx; le16 ring[size]; le16 used_event } */
static inline uint16_t avail_flags(const struct virtq *vq)
{
	return vq_load16(vq, vq->avail, __ATOMIC_RELAXED);
}

/* Acquire: the ring entries and descriptors the driver wrote before
 * publishing idx are visible once we see idx (2.7.13.3). */
static inline uint16_t avail_idx(const struct virtq *vq)
{
	return vq_load16(vq, vq->avail + 2, __ATOMIC_ACQUIRE);
}

static inline uint16_t avail_ring(const struct virtq *vq, uint16_t i)
{
	return vq_load16(vq, vq->avail + 4 + 2 * (uint64_t)(i & vq->mask),
			 __ATOMIC_RELAXED);
}

static inline uint16_t used_event(const struct virtq *vq)
{
	return vq_load16(vq, vq->avail + 4 + 2 * (uint64_t)vq->size,
			 __ATOMIC_RELAXED);
}

/* 2.7.8: used = { le16 flags; le16 idx; { le32 id; le32 len } ring[size];
 * le16 avail_event } */
static inline void set_used_flags(const struct virtq *vq, uint16_t flags)
{
	vq_store16(vq, vq->used, flags, __ATOMIC_RELAXED);
}

static inline void set_avail_event(const struct virtq *vq, uint16_t v)
{
	vq_store16(vq, vq->used + 4 + 8 * (uint64_t)vq->size, v,
		   __ATOMIC_RELAXED);
}

/* ---- lifetime ---------------------------------------------------------- */

struct virtq *virtq_create(struct gmem *mem, uint16_t size, uint64_t desc,
			   uint64_t avail, uint64_t used, bool event_idx,
			   bool indirect)
{
	struct virtq *vq;

	/* 2.7: power of two, at most 32768. 2.7 table "Virtqueue Part
	 * Alignment": desc 16, avail 2, used 4. */
	if (!IS_POW2(size) || size > VIRTQ_MAX_SIZE)
		return NULL;
	if ((desc & 15) || (avail & 1) || (used & 3))
		return NULL;
	if (!gmem_is_ram(mem, desc, 16 * (uint64_t)size) ||
	    !gmem_is_ram(mem, avail, 6 + 2 * (uint64_t)size) ||
	    !gmem_is_ram(mem, used, 6 + 8 * (uint64_t)size))
		return NULL;
	vq = calloc(1, sizeof(*vq));
	if (!vq)
		return NULL;
	vq->mem = mem;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->size = size;
	vq->mask = size - 1;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->notify_enabled = true;
	return vq;
}

void virtq_destroy(struct virtq *vq)
{
	free(vq);
}

void virtq_get_state(const struct virtq *vq, struct virtq_state *st)
{
	st->last_avail = vq->last_avail;
	st->used_idx = vq->used_idx;
	st->signalled_used = vq->signalled_used;
	st->notify_enabled = vq->notify_enabled;
}

/* Any 16-bit values are safe: indices wrap, and virtq_pop checks the
 * distance to the driver's avail->idx against the queue size. */
void virtq_unpop(struct virtq *vq, uint16_t n)
{
	vq->last_avail = (uint16_t)(vq->last_avail - n);
}

void virtq_set_state(struct virtq *vq, const struct virtq_state *st)
{
	vq->last_avail = st->last_avail;
	vq->used_idx = st->used_idx;
	vq->signalled_used = st->signalled_used;
	vq->notify_enabled = st->notify_enabled;
}

/* ---- popping a chain (2.7.13.2 from the device side) ------------------- */

static SV_COLD int vq_bad(struct virtq *vq, int err, const char *what,
			  unsigned v)
{
	if (!vq->reported) {
		vq->reported = true;
		log_warn("virtio", "virtqueue: %s (%u)", what, v);
	}
	return err;
}

/* Copy descriptor idx of the table at gpa `table` (checked to be in RAM). */
static inline int read_desc(const struct virtq *vq, uint64_t table,
			    uint32_t idx, struct virtq_desc *d)
{
	uint64_t gpa = table + 16 * (uint64_t)idx;
	uint8_t *page;

	if (likely((gpa & GUEST_PAGE_MASK) <= GUEST_PAGE_SIZE - 16)) {
		page = gmem_page(vq->mem, gpa, GMEM_READ, NULL);
		if (unlikely(!page))
			return -EFAULT;
		memcpy(d, page + (gpa & GUEST_PAGE_MASK), sizeof(*d));
	} else if (gmem_read(vq->mem, gpa, d, sizeof(*d)) < 0) {
		return -EFAULT;
	}
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
	return 0;
}

/* Unpin the guest frames under the first n iovecs of req. */
static void unpin(struct gmem *mem, const struct virtq_req *req, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		/* device-writable: written after it was mapped (and marked),
		 * maybe after a dirty log collect in between */
		if (i >= req->n_out)
			gmem_dirty_log_mark(mem, req->addr[i], req->pin_len[i]);
		gmem_dma_unpin(mem, req->addr[i], req->pin_len[i]);
	}
}

void virtq_req_release(struct gmem *mem, struct virtq_req *req)
{
	unpin(mem, req, req->n_out + req->n_in);
	req->n_out = req->n_in = 0;
	req->out_len = req->in_len = 0;
}

/*
 * Walk the chain starting at head and map its buffers into req. All checks
 * of virtq.h happen here, on the copied descriptors. On error nothing of
 * the queue state has changed (frames a device-writable mapping made
 * private stay private, which is harmless).
 */
static int walk_chain(struct virtq *vq, uint16_t head, struct virtq_req *req)
{
	uint64_t table = vq->desc;
	uint32_t table_size = vq->size;
	uint32_t idx = head, count = 0;
	bool in_indirect = false, seen_write = false;
	unsigned n_iov = 0;
	struct virtq_desc d;
	int r;

	req->head = head;
	req->n_out = req->n_in = 0;
	req->out_len = req->in_len = 0;
	if (unlikely(head >= vq->size))
		return vq_bad(vq, -EINVAL, "head index out of range", head);
	for (;;) {
		/* 2.7.5.3 / 2.7.13.2: a chain is never longer than its table:
		 * a longer walk is a loop. */
		if (unlikely(++count > table_size)) {
			r = vq_bad(vq, -ELOOP, "descriptor loop", idx);
			goto fail;
		}
		if (unlikely(read_desc(vq, table, idx, &d) < 0)) {
			r = vq_bad(vq, -EFAULT, "descriptor not in RAM", idx);
			goto fail;
		}
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* 2.7.5.3.1 */
			if (unlikely(!vq->indirect)) {
				r = vq_bad(vq, -EINVAL,
					   "indirect not negotiated", idx);
				goto fail;
			}
			if (unlikely(in_indirect)) {
				r = vq_bad(vq, -EINVAL, "nested indirect table",
					   idx);
				goto fail;
			}
			if (unlikely(d.flags & VIRTQ_DESC_F_NEXT)) {
				r = vq_bad(vq, -EINVAL, "indirect with NEXT",
					   idx);
				goto fail;
			}
			if (unlikely(d.len == 0 || (d.len & 15) ||
				     d.len / 16 > VIRTQ_MAX_INDIRECT)) {
				r = vq_bad(vq, -EINVAL,
					   "bad indirect table length", d.len);
				goto fail;
			}
			if (unlikely(!gmem_is_ram(vq->mem, d.addr, d.len))) {
				r = vq_bad(vq, -EFAULT,
					   "indirect table not in RAM", idx);
				goto fail;
			}
			table = d.addr;
			table_size = d.len / 16;
			in_indirect = true;
			idx = 0;
			count = 0;
			continue;
		}
		/* 2.7.4.2: device-readable descriptors come first. */
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			seen_write = true;
		} else if (unlikely(seen_write)) {
			r = vq_bad(vq, -EINVAL, "readable after writable", idx);
			goto fail;
		}
		if (d.len) {
			uint64_t total = req->out_len + req->in_len + d.len;
			bool wr = d.flags & VIRTQ_DESC_F_WRITE;

			if (unlikely(total > VIRTQ_MAX_CHAIN_BYTES)) {
				r = vq_bad(vq, -E2BIG, "chain too long", d.len);
				goto fail;
			}
			r = gmem_dma_map(vq->mem, d.addr, d.len,
					 wr ? GMEM_WRITE : GMEM_READ,
					 &req->iov[n_iov],
					 (int)(VIRTQ_MAX_IOV - n_iov));
			if (unlikely(r < 0)) {
				r = vq_bad(vq, r,
					   r == -ENOBUFS ? "too many segments"
							 : "buffer not in RAM",
					   idx);
				goto fail;
			}
			/* guest address of each segment (balloon page
			 * reporting needs guest pages, not host pointers) */
			uint64_t seg = d.addr;
			for (int k = 0; k < r; k++) {
				size_t l =
					req->iov[n_iov + (unsigned)k].iov_len;

				req->addr[n_iov + (unsigned)k] = seg;
				req->pin_len[n_iov + (unsigned)k] = (uint32_t)l;
				seg += l;
			}
			n_iov += (unsigned)r;
			if (wr) {
				req->n_in += (unsigned)r;
				req->in_len += d.len;
			} else {
				req->n_out += (unsigned)r;
				req->out_len += d.len;
			}
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
		if (unlikely(idx >= table_size)) {
			r = vq_bad(vq, -EINVAL, "next index out of range", idx);
			goto fail;
		}
	}
fail:
	unpin(vq->mem, req, n_iov);
	req->n_out = req->n_in = 0;
	req->out_len = req->in_len = 0;
	return r;
}

int virtq_pop(struct virtq *vq, struct virtq_req *req)
{
	uint16_t idx = avail_idx(vq);
	uint16_t pending = idx - vq->last_avail;
	int r;

	if (pending == 0) {
		if (!vq->event_idx || !vq->notify_enabled)
			return 0;
		/* 2.7.10: ask for a kick when the driver makes the next
		 * buffer available, then look again: the driver may have
		 * added one before it could see the new avail_event. */
		set_avail_event(vq, vq->last_avail);
		atomic_thread_fence(memory_order_seq_cst);
		idx = avail_idx(vq);
		pending = idx - vq->last_avail;
		if (pending == 0)
			return 0;
	}
	if (unlikely(pending > vq->size)) {
		req->n_out = req->n_in = 0;
		req->out_len = req->in_len = 0;
		return vq_bad(vq, -EINVAL, "avail index moved too far",
			      pending);
	}
	r = walk_chain(vq, avail_ring(vq, vq->last_avail), req);
	if (r < 0)
		return r;
	vq->last_avail++;
	return 1;
}

bool virtq_has_work(struct virtq *vq)
{
	return avail_idx(vq) != vq->last_avail;
}

/* ---- returning a chain (2.7.8, 2.7.14) --------------------------------- */

void virtq_push(struct virtq *vq, const struct virtq_req *req, uint32_t written)
{
	uint64_t elem = vq->used + 4 + 8 * (uint64_t)(vq->used_idx & vq->mask);

	if (written > req->in_len)
		written = (uint32_t)req->in_len;
	unpin(vq->mem, req, req->n_out + req->n_in);
	vq_store32(vq, elem, req->head);
	vq_store32(vq, elem + 4, written);
	vq->used_idx++;
	/* Release: the element is visible before the index that covers it
	 * (2.7.8.2). */
	vq_store16(vq, vq->used + 2, vq->used_idx, __ATOMIC_RELEASE);
}

/* 2.7.10: vring_need_event() of the spec: did new_idx pass event since
 * old? */
static inline bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool virtq_need_notify(struct virtq *vq)
{
	uint16_t old = vq->signalled_used;
	uint16_t now = vq->used_idx;

	vq->signalled_used = now;
	if (old == now)
		return false;
	/* Our used->idx store must be visible before we read the driver's
	 * suppression state (a store -> load order: a full fence). */
	atomic_thread_fence(memory_order_seq_cst);
	if (vq->event_idx)
		return need_event(used_event(vq), now, old);
	return !(avail_flags(vq) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

void virtq_set_notify(struct virtq *vq, bool enable)
{
	vq->notify_enabled = enable;
	if (vq->event_idx) {
		/* Disabled: leave avail_event behind; the driver kicks again
		 * only if its index wraps all the way round to it. */
		if (enable)
			set_avail_event(vq, vq->last_avail);
	} else {
		set_used_flags(vq, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	/* A caller that enables re-checks virtq_has_work(): order the store
	 * above before that load. */
	atomic_thread_fence(memory_order_seq_cst);
}

/* ---- copying over a request's iovecs ----------------------------------- */

static size_t iov_copy(const struct iovec *iov, unsigned n, size_t off,
		       void *buf, size_t len, bool to_iov)
{
	uint8_t *p = buf;
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len, chunk;

		if (off >= l) {
			off -= l;
			continue;
		}
		chunk = l - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, p + done,
			       chunk);
		else
			memcpy(p + done, (uint8_t *)iov[i].iov_base + off,
			       chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t virtq_req_read(const struct virtq_req *req, size_t off, void *buf,
		      size_t len)
{
	return iov_copy(req->iov, req->n_out, off, buf, len, false);
}

size_t virtq_req_write(const struct virtq_req *req, size_t off, const void *buf,
		       size_t len)
{
	return iov_copy(req->iov + req->n_out, req->n_in, off, (void *)buf, len,
			true);
}
