/*
 * virtio-blk (virtio 1.2, section 5.2): one request queue, requests parsed
 * on the device's I/O thread and executed on a block_pool worker. See blk.h
 * for the threads and docs/block.md for the features offered.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "block/pool.h"
#include "util/clock.h"
#include "util/compiler.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/virtq.h"

#define SECTOR_SHIFT 9
#define SECTOR_SIZE  (1u << SECTOR_SHIFT)

/*
 * Limits offered to the driver. Every data segment of at most SIZE_MAX
 * bytes maps to at most SIZE_MAX / 4096 + 1 host iovecs (one per guest
 * page), so SEG_MAX segments plus header (2) and status (1) always fit in
 * VIRTQ_MAX_IOV: a well-behaved driver never overflows the mapping.
 */
/* Guest page-cache I/O arrives as one 4 KiB segment per page: a large
 * seg_max (QEMU offers 254) lets a 1 MiB read be one or two requests
 * instead of five, and small segments keep the worst case bounded. */
#define BLK_SIZE_MAX	  (8u << 10)
#define BLK_SEG_MAX	  254
#define BLK_DWZ_SECTORS	  (1u << 22) /* 2 GiB per discard/zeroes segment */
#define BLK_DWZ_SEG_MAX	  16
#define BLK_DISCARD_ALIGN 8 /* sectors: the host file system's 4 KiB */
#define BLK_POOL_THREADS  8

_Static_assert(BLK_SEG_MAX *(BLK_SIZE_MAX / 4096 + 1) + 3 <= VIRTQ_MAX_IOV,
	       "seg_max/size_max must fit the virtqueue's iovec array");

/* struct virtio_blk_req header (5.2.6), little-endian. */
struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* struct virtio_blk_discard_write_zeroes (5.2.6), little-endian. */
struct blk_dwz_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};
#define BLK_DWZ_F_UNMAP 1u

/* Configuration layout (5.2.4), little-endian, up to
 * write_zeroes_may_unmap; the secure-erase and zoned fields are not
 * offered. */
struct blk_cfgspace {
	uint64_t capacity; /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(offsetof(struct blk_cfgspace, blk_size) == 20, "5.2.4");
_Static_assert(offsetof(struct blk_cfgspace, max_discard_sectors) == 36,
	       "5.2.4");
_Static_assert(sizeof(struct blk_cfgspace) == 60, "5.2.4");

enum blk_op {
	BLK_OP_NONE, /* complete at once with status */
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
	BLK_OP_DISCARD,
	BLK_OP_WRITE_ZEROES,
};

/* One request in flight. */
struct blk_req {
	struct block_job job; /* runs blk_job() on a pool worker */
	struct virtio_blk *blk;
	struct blk_req *next_free;
	enum blk_op op;
	uint8_t status;	     /* VIRTIO_BLK_S_* once done */
	uint8_t *status_ptr; /* last byte of the in buffers */
	uint32_t written;
	uint64_t off;
	uint64_t t0_ns;	    /* taken off the ring (latency) */
	struct iovec *data; /* into vreq.iov, trimmed to the data */
	int n_data;
	unsigned n_seg;
	struct blk_dwz_seg seg[BLK_DWZ_SEG_MAX]; /* host order */
	struct virtq_req vreq;			 /* large: last */
};

struct virtio_blk {
	struct virtio_dev_ops ops;
	struct virtio_blk_config cfg;
	struct blockdev *bd;
	struct block_pool *pool;
	struct blk_cfgspace cs;
	uint64_t capacity; /* sectors */
	bool can_unmap;
	/* live migration: opened incoming (bd is a stand-in until
	 * virtio_blk_activate), and the identity the source left */
	bool incoming, has_expect;
	bool mirror; /* virtio_blk_mirror_open: bd is the real image */
	struct blockdev_identity expect;

	/* lock guards the fields below it up to qlock. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* kicked or stop */
	bool kicked, stop, running;
	pthread_t thread;
	struct virtio_dev *vd;
	struct blk_req *free_list;

	/* Serializes virtq_pop/virtq_push/virtio_notify (virtq.h: one thread
	 * at a time per queue) between the I/O thread and the workers. */
	pthread_mutex_t qlock;
	atomic_bool stopping; /* reset in progress: drop completions */

	atomic_uint_fast64_t rd_ops, rd_bytes, wr_ops, wr_bytes;
	atomic_uint_fast64_t flush_ops, discard_ops, wz_ops, errors;
	atomic_uint_fast64_t rd_lat_ns, wr_lat_ns, cap_iops, cap_bps;
	atomic_bool warned; /* one host I/O error message per device */
};

/* ---- iovec helpers -------------------------------------------------------- */

static size_t iov_read(const struct iovec *iov, unsigned n, size_t off,
		       void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len, c;

		if (off >= l) {
			off -= l;
			continue;
		}
		c = l - off < len - done ? l - off : len - done;
		memcpy((char *)buf + done, (char *)iov[i].iov_base + off, c);
		done += c;
		off = 0;
	}
	return done;
}

static size_t iov_write(const struct iovec *iov, unsigned n, const void *buf,
			size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t c = iov[i].iov_len < len - done ? iov[i].iov_len
						       : len - done;
		memcpy(iov[i].iov_base, (const char *)buf + done, c);
		done += c;
	}
	return done;
}

/*
 * Narrow iov[0..n) in place to the bytes [skip, skip+len): the first
 * element is advanced, the last shortened. Returns the first element and
 * sets *count. The caller checked that skip+len bytes exist.
 */
static struct iovec *iov_trim(struct iovec *iov, unsigned n, size_t skip,
			      size_t len, int *count)
{
	unsigned first = 0, i;

	while (first < n && skip >= iov[first].iov_len) {
		skip -= iov[first].iov_len;
		first++;
	}
	if (len == 0 || first == n) {
		*count = 0;
		return iov;
	}
	iov[first].iov_base = (char *)iov[first].iov_base + skip;
	iov[first].iov_len -= skip;
	for (i = first; i < n; i++) {
		if (iov[i].iov_len >= len) {
			iov[i].iov_len = len;
			break;
		}
		len -= iov[i].iov_len;
	}
	*count = (int)(i - first + (i < n ? 1 : 0));
	return iov + first;
}

/* ---- request parsing (5.2.6) ---------------------------------------------- */

static int blk_done(struct blk_req *r, uint8_t status)
{
	r->op = BLK_OP_NONE;
	r->status = status;
	return 0;
}

/* [sector, sector + n) within the disk, without overflow. */
static bool blk_in_range(const struct virtio_blk *blk, uint64_t sector,
			 uint64_t n)
{
	return sector <= blk->capacity && n <= blk->capacity - sector;
}

static int blk_parse_dwz(struct virtio_blk *blk, struct blk_req *r, bool zeroes)
{
	const struct virtq_req *vr = &r->vreq;
	uint64_t bytes = vr->out_len - sizeof(struct blk_req_hdr);
	unsigned feature = zeroes ? VIRTIO_BLK_F_WRITE_ZEROES
				  : VIRTIO_BLK_F_DISCARD;
	uint32_t allowed = zeroes ? BLK_DWZ_F_UNMAP : 0;

	if (!(blk->ops.features & (1ull << feature)))
		return blk_done(r, VIRTIO_BLK_S_UNSUPP);
	if (bytes == 0 || bytes % sizeof(struct blk_dwz_seg) ||
	    bytes / sizeof(struct blk_dwz_seg) > BLK_DWZ_SEG_MAX)
		return blk_done(r, VIRTIO_BLK_S_IOERR);
	r->n_seg = (unsigned)(bytes / sizeof(struct blk_dwz_seg));
	iov_read(vr->iov, vr->n_out, sizeof(struct blk_req_hdr), r->seg, bytes);
	for (unsigned i = 0; i < r->n_seg; i++) {
		struct blk_dwz_seg *s = &r->seg[i];

		s->sector = le64toh(s->sector);
		s->num_sectors = le32toh(s->num_sectors);
		s->flags = le32toh(s->flags);
		/* Unknown flags, or unmap on a discard: UNSUPP (5.2.6.2). */
		if (s->flags & ~allowed)
			return blk_done(r, VIRTIO_BLK_S_UNSUPP);
		if (s->num_sectors > BLK_DWZ_SECTORS ||
		    !blk_in_range(blk, s->sector, s->num_sectors))
			return blk_done(r, VIRTIO_BLK_S_IOERR);
	}
	r->op = zeroes ? BLK_OP_WRITE_ZEROES : BLK_OP_DISCARD;
	return 0;
}

/*
 * Decide what a popped chain asks for. Returns 0 with r->op set (NONE with
 * r->status for requests answered at once), or -EINVAL when the chain has no
 * device-writable byte for the status: that is not a request at all.
 */
static int blk_parse(struct virtio_blk *blk, struct blk_req *r)
{
	struct virtq_req *vr = &r->vreq;
	struct iovec *in = vr->iov + vr->n_out;
	struct blk_req_hdr h;
	uint64_t len;
	int i;

	r->data = NULL;
	r->n_data = 0;
	r->n_seg = 0;
	r->written = 1;
	r->status_ptr = NULL;

	/* The status byte is the last device-writable byte (5.2.6). */
	for (i = (int)vr->n_in - 1; i >= 0; i--) {
		if (in[i].iov_len) {
			r->status_ptr = (uint8_t *)in[i].iov_base +
					in[i].iov_len - 1;
			break;
		}
	}
	if (!r->status_ptr || vr->in_len == 0)
		return -EINVAL;

	if (vr->out_len < sizeof(h))
		return blk_done(r, VIRTIO_BLK_S_IOERR);
	iov_read(vr->iov, vr->n_out, 0, &h, sizeof(h));
	h.type = le32toh(h.type);
	h.sector = le64toh(h.sector);

	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		len = vr->in_len - 1;
		r->written = (uint32_t)vr->in_len;
		if (len % SECTOR_SIZE ||
		    !blk_in_range(blk, h.sector, len >> SECTOR_SHIFT))
			return blk_done(r, VIRTIO_BLK_S_IOERR);
		r->data = iov_trim(in, vr->n_in, 0, len, &r->n_data);
		r->off = h.sector << SECTOR_SHIFT;
		r->op = BLK_OP_READ;
		return 0;
	case VIRTIO_BLK_T_OUT:
		len = vr->out_len - sizeof(h);
		/* A write to a read-only device: IOERR, nothing written. */
		if (blockdev_readonly(blk->bd) || len % SECTOR_SIZE ||
		    !blk_in_range(blk, h.sector, len >> SECTOR_SHIFT))
			return blk_done(r, VIRTIO_BLK_S_IOERR);
		r->data = iov_trim(vr->iov, vr->n_out, sizeof(h), len,
				   &r->n_data);
		r->off = h.sector << SECTOR_SHIFT;
		r->op = BLK_OP_WRITE;
		return 0;
	case VIRTIO_BLK_T_FLUSH: r->op = BLK_OP_FLUSH; return 0;
	case VIRTIO_BLK_T_GET_ID: {
		/* Up to 20 bytes, NUL-padded, not NUL-terminated. */
		char id[VIRTIO_BLK_ID_BYTES] = { 0 };
		size_t n = vr->in_len - 1 < sizeof(id) ? vr->in_len - 1
						       : sizeof(id);

		memcpy(id, blk->cfg.serial,
		       strnlen(blk->cfg.serial, sizeof(id)));
		iov_write(in, vr->n_in, id, n);
		r->written = (uint32_t)n + 1;
		return blk_done(r, VIRTIO_BLK_S_OK);
	}
	case VIRTIO_BLK_T_DISCARD: return blk_parse_dwz(blk, r, false);
	case VIRTIO_BLK_T_WRITE_ZEROES: return blk_parse_dwz(blk, r, true);
	default: return blk_done(r, VIRTIO_BLK_S_UNSUPP);
	}
}

/* ---- execution (pool worker, or the caller for handle_sync) --------------- */

static void blk_execute(struct virtio_blk *blk, struct blk_req *r)
{
	uint64_t bytes = 0;
	int ret = 0;

	switch (r->op) {
	case BLK_OP_NONE: break;
	case BLK_OP_READ:
		ret = blockdev_readv(blk->bd, r->data, r->n_data, r->off);
		for (int i = 0; i < r->n_data; i++)
			bytes += r->data[i].iov_len;
		if (r->t0_ns)
			atomic_fetch_add(&blk->rd_lat_ns,
					 clock_monotonic_ns() - r->t0_ns);
		atomic_fetch_add(&blk->rd_ops, 1);
		atomic_fetch_add(&blk->rd_bytes, bytes);
		break;
	case BLK_OP_WRITE:
		ret = blockdev_writev(blk->bd, r->data, r->n_data, r->off);
		for (int i = 0; i < r->n_data; i++)
			bytes += r->data[i].iov_len;
		if (r->t0_ns)
			atomic_fetch_add(&blk->wr_lat_ns,
					 clock_monotonic_ns() - r->t0_ns);
		atomic_fetch_add(&blk->wr_ops, 1);
		atomic_fetch_add(&blk->wr_bytes, bytes);
		break;
	case BLK_OP_FLUSH:
		/* fdatasync returns only when every completed write is on
		 * stable storage: only then is the FLUSH acknowledged. */
		ret = blockdev_flush(blk->bd);
		atomic_fetch_add(&blk->flush_ops, 1);
		break;
	case BLK_OP_DISCARD:
		for (unsigned i = 0; i < r->n_seg && ret == 0; i++)
			ret = blockdev_discard(blk->bd,
					       r->seg[i].sector << SECTOR_SHIFT,
					       (uint64_t)r->seg[i].num_sectors
						       << SECTOR_SHIFT);
		atomic_fetch_add(&blk->discard_ops, 1);
		break;
	case BLK_OP_WRITE_ZEROES:
		for (unsigned i = 0; i < r->n_seg && ret == 0; i++)
			ret = blockdev_write_zeroes(
				blk->bd, r->seg[i].sector << SECTOR_SHIFT,
				(uint64_t)r->seg[i].num_sectors << SECTOR_SHIFT,
				blk->can_unmap &&
					(r->seg[i].flags & BLK_DWZ_F_UNMAP));
		atomic_fetch_add(&blk->wz_ops, 1);
		break;
	}
	if (r->op != BLK_OP_NONE)
		r->status = ret < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	if (ret < 0 && !atomic_exchange(&blk->warned, true))
		log_warn("virtio-blk",
			 "%s: I/O error: %s (reported to the "
			 "guest; further errors are not logged)",
			 blockdev_path(blk->bd), strerror(-ret));
	if (r->status != VIRTIO_BLK_S_OK)
		atomic_fetch_add(&blk->errors, 1);
	*r->status_ptr = r->status;
}

int virtio_blk_handle_sync(struct virtio_blk *blk, struct virtq_req *req,
			   uint32_t *written)
{
	struct blk_req *r = malloc(sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	memcpy(&r->vreq, req, sizeof(*req));
	r->blk = blk;
	r->t0_ns = 0;
	ret = blk_parse(blk, r);
	if (ret == 0) {
		blk_execute(blk, r);
		*written = r->written;
		ret = r->status;
	}
	free(r);
	return ret;
}

/* ---- the I/O thread and completions ---------------------------------------- */

static struct blk_req *blk_req_get(struct virtio_blk *blk)
{
	struct blk_req *r;

	pthread_mutex_lock(&blk->lock);
	r = blk->free_list;
	if (r)
		blk->free_list = r->next_free;
	pthread_mutex_unlock(&blk->lock);
	if (!r)
		r = malloc(sizeof(*r));
	if (r)
		r->blk = blk;
	return r;
}

static void blk_req_put(struct virtio_blk *blk, struct blk_req *r)
{
	pthread_mutex_lock(&blk->lock);
	r->next_free = blk->free_list;
	blk->free_list = r;
	pthread_mutex_unlock(&blk->lock);
}

/* Status byte written: give the chain back and interrupt the driver. */
static void blk_complete(struct virtio_blk *blk, struct blk_req *r)
{
	pthread_mutex_lock(&blk->qlock);
	if (!atomic_load(&blk->stopping)) {
		virtq_push(virtio_queue(blk->vd, 0), &r->vreq, r->written);
		virtio_notify(blk->vd, 0);
	}
	pthread_mutex_unlock(&blk->qlock);
	blk_req_put(blk, r);
}

static void blk_job(struct block_job *job)
{
	struct blk_req *r = container_of(job, struct blk_req, job);

	blk_execute(r->blk, r);
	blk_complete(r->blk, r);
}

/* Pop and start every available request. */
static void blk_process(struct virtio_blk *blk)
{
	struct virtio_dev *vd = blk->vd;
	struct virtq *vq = virtio_queue(vd, 0);

	while (!atomic_load(&blk->stopping) && !virtio_broken(vd)) {
		struct blk_req *r = blk_req_get(blk);
		int ret;

		if (!r) {
			log_error("virtio-blk", "%s: out of memory",
				  blockdev_path(blk->bd));
			return; /* the next kick retries */
		}
		pthread_mutex_lock(&blk->qlock);
		ret = virtq_pop(vq, &r->vreq);
		pthread_mutex_unlock(&blk->qlock);
		r->t0_ns = clock_monotonic_ns();
		if (ret <= 0) {
			blk_req_put(blk, r);
			if (ret < 0)
				virtio_device_error(vd, "virtio-blk: malformed "
							"descriptor chain");
			return;
		}
		if (blk_parse(blk, r) < 0) {
			blk_req_put(blk, r);
			virtio_device_error(vd, "virtio-blk: request without a "
						"device-writable status byte");
			return;
		}
		if (r->op == BLK_OP_NONE) {
			blk_execute(blk, r); /* only stores the status */
			blk_complete(blk, r);
		} else {
			r->job.fn = blk_job;
			block_pool_submit(blk->pool, &r->job);
		}
	}
}

static void *blk_thread(void *arg)
{
	struct virtio_blk *blk = arg;

	pthread_mutex_lock(&blk->lock);
	for (;;) {
		while (!blk->kicked && !blk->stop)
			pthread_cond_wait(&blk->cond, &blk->lock);
		if (blk->stop)
			break;
		blk->kicked = false;
		pthread_mutex_unlock(&blk->lock);
		blk_process(blk);
		pthread_mutex_lock(&blk->lock);
	}
	pthread_mutex_unlock(&blk->lock);
	return NULL;
}

/* ---- virtio_dev_ops ------------------------------------------------------- */

static void blk_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_blk *blk = opaque;
	uint32_t size = sizeof(blk->cs);

	memset(buf, 0, len);
	if (off < size)
		memcpy(buf, (const uint8_t *)&blk->cs + off,
		       len < size - off ? len : size - off);
}

static void blk_start(void *opaque, struct virtio_dev *vd)
{
	struct virtio_blk *blk = opaque;
	int ret;

	pthread_mutex_lock(&blk->lock);
	if (blk->running) {
		pthread_mutex_unlock(&blk->lock);
		return;
	}
	blk->vd = vd;
	/* a migration's hand-over (docs/vm-state.md): the image is not
	 * ours; requests the guest queued wait in the ring until
	 * virtio_blk_activate starts the device again */
	if (blk->incoming || blockdev_released(blk->bd)) {
		pthread_mutex_unlock(&blk->lock);
		return;
	}
	blk->stop = false;
	blk->kicked = true; /* look at the queue once: it may hold work */
	atomic_store(&blk->stopping, false);
	ret = pthread_create(&blk->thread, NULL, blk_thread, blk);
	blk->running = ret == 0;
	pthread_mutex_unlock(&blk->lock);
	if (ret) {
		log_error("virtio-blk", "%s: cannot start I/O thread: %s",
			  blockdev_path(blk->bd), strerror(ret));
		virtio_device_error(vd, "virtio-blk: no I/O thread");
		return;
	}
	pthread_setname_np(blk->thread, "virtio-blk");
}

/*
 * End the I/O thread and wait for every pool job. With drop_completions
 * (reset: the driver is resetting the rings) the completions in flight are
 * dropped and the device forgets its transport; without (VM save: quiesce)
 * they are pushed to the used ring as usual, so nothing is in flight when
 * the state is written and blk_start continues. The completions call
 * virtio_notify(): the transport must not hold a lock across reset() that
 * virtio_notify() takes.
 */
static void blk_stop(struct virtio_blk *blk, bool drop_completions)
{
	pthread_mutex_lock(&blk->lock);
	if (!blk->running) {
		pthread_mutex_unlock(&blk->lock);
		return;
	}
	blk->stop = true;
	pthread_cond_signal(&blk->cond);
	pthread_mutex_unlock(&blk->lock);
	if (drop_completions) {
		pthread_mutex_lock(&blk->qlock);
		atomic_store(&blk->stopping, true);
		pthread_mutex_unlock(&blk->qlock);
	}

	pthread_join(blk->thread, NULL);
	block_pool_drain(blk->pool);

	pthread_mutex_lock(&blk->lock);
	blk->running = false;
	if (drop_completions)
		blk->vd = NULL;
	pthread_mutex_unlock(&blk->lock);
}

static void blk_reset(void *opaque)
{
	blk_stop(opaque, true);
}

static void blk_quiesce(void *opaque)
{
	blk_stop(opaque, false);
}

static void blk_queue_notify(void *opaque, unsigned q)
{
	struct virtio_blk *blk = opaque;

	if (q != 0)
		return;
	pthread_mutex_lock(&blk->lock);
	blk->kicked = true;
	pthread_cond_signal(&blk->cond);
	pthread_mutex_unlock(&blk->lock);
}

/* ---- create / destroy ----------------------------------------------------- */

static void blk_fill_config(struct virtio_blk *blk)
{
	struct blk_cfgspace *cs = &blk->cs;
	bool ro = blk->cfg.readonly; /* an incoming stand-in is read-only */
	uint64_t f = (1ull << VIRTIO_BLK_F_SIZE_MAX) |
		     (1ull << VIRTIO_BLK_F_SEG_MAX) |
		     (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_FLUSH);

	if (ro)
		f |= 1ull << VIRTIO_BLK_F_RO;
	else
		f |= (1ull << VIRTIO_BLK_F_DISCARD) |
		     (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	blk->ops.features = f;

	memset(cs, 0, sizeof(*cs));
	cs->capacity = htole64(blk->capacity);
	cs->size_max = htole32(BLK_SIZE_MAX);
	cs->seg_max = htole32(BLK_SEG_MAX);
	cs->blk_size = htole32(SECTOR_SIZE);
	cs->num_queues = htole16(1);
	if (!ro) {
		cs->max_discard_sectors = htole32(BLK_DWZ_SECTORS);
		cs->max_discard_seg = htole32(BLK_DWZ_SEG_MAX);
		cs->discard_sector_alignment = htole32(BLK_DISCARD_ALIGN);
		cs->max_write_zeroes_sectors = htole32(BLK_DWZ_SECTORS);
		cs->max_write_zeroes_seg = htole32(BLK_DWZ_SEG_MAX);
		cs->write_zeroes_may_unmap = blk->can_unmap;
	}
}

struct virtio_blk *virtio_blk_create(const struct virtio_blk_config *cfg,
				     struct error *err)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));

	if (!blk) {
		error_set(err, ENOMEM, "disk %s: out of memory", cfg->path);
		return NULL;
	}
	blk->cfg = *cfg;
	blk->cfg.path[sizeof(blk->cfg.path) - 1] = '\0';
	blk->cfg.serial[sizeof(blk->cfg.serial) - 1] = '\0';
	blk->incoming = cfg->incoming;
	blk->bd = (cfg->incoming ? blockdev_open_incoming
				 : blockdev_open_secret)(
		cfg->path, cfg->format[0] ? cfg->format : "raw", cfg->readonly,
		cfg->key_secret[0] ? cfg->key_secret : NULL, err);
	if (!blk->bd) {
		free(blk);
		return NULL;
	}
	if (blockdev_set_aio(blk->bd, cfg->aio, err) < 0 ||
	    blockdev_set_throttle(blk->bd, &cfg->throttle, NULL, err) < 0) {
		blockdev_close(blk->bd);
		free(blk);
		return NULL;
	}
	blk->pool = block_pool_create(BLK_POOL_THREADS, "virtio", err);
	if (!blk->pool) {
		blockdev_close(blk->bd);
		free(blk);
		return NULL;
	}
	blk->capacity = blockdev_size(blk->bd) >> SECTOR_SHIFT;
	blk->can_unmap = blockdev_can_unmap(blk->bd);
	pthread_mutex_init(&blk->lock, NULL);
	pthread_mutex_init(&blk->qlock, NULL);
	pthread_cond_init(&blk->cond, NULL);

	blk->ops = (struct virtio_dev_ops){
		.name = "virtio-blk",
		.device_id = VIRTIO_ID_BLOCK,
		.n_queues = 1,
		.queue_max = VIRTIO_BLK_QUEUE_MAX,
		.config_size = sizeof(struct blk_cfgspace),
		.config_read = blk_config_read,
		.config_write = NULL,
		.start = blk_start,
		.reset = blk_reset,
		.quiesce = blk_quiesce,
		.queue_notify = blk_queue_notify,
	};
	blk_fill_config(blk);
	return blk;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	struct blk_req *r;

	if (!blk)
		return;
	blk_reset(blk);
	block_pool_destroy(blk->pool);
	while ((r = blk->free_list)) {
		blk->free_list = r->next_free;
		free(r);
	}
	blockdev_close(blk->bd);
	pthread_cond_destroy(&blk->cond);
	pthread_mutex_destroy(&blk->qlock);
	pthread_mutex_destroy(&blk->lock);
	free(blk);
}

const struct virtio_dev_ops *virtio_blk_ops(struct virtio_blk *blk)
{
	return &blk->ops;
}

struct blockdev *virtio_blk_blockdev(struct virtio_blk *blk)
{
	return blk->bd;
}

void virtio_blk_set_blockdev(struct virtio_blk *blk, struct blockdev *bd)
{
	blk->bd = bd;
	snprintf(blk->cfg.path, sizeof(blk->cfg.path), "%s", blockdev_path(bd));
	snprintf(blk->cfg.format, sizeof(blk->cfg.format), "%s",
		 blockdev_format(bd));
}

void virtio_blk_get_stats(struct virtio_blk *blk, struct virtio_blk_stats *st)
{
	st->rd_ops = atomic_load(&blk->rd_ops);
	st->rd_bytes = atomic_load(&blk->rd_bytes);
	st->wr_ops = atomic_load(&blk->wr_ops);
	st->wr_bytes = atomic_load(&blk->wr_bytes);
	st->flush_ops = atomic_load(&blk->flush_ops);
	st->discard_ops = atomic_load(&blk->discard_ops);
	st->write_zeroes_ops = atomic_load(&blk->wz_ops);
	st->errors = atomic_load(&blk->errors);
	st->rd_lat_ns = atomic_load(&blk->rd_lat_ns);
	st->wr_lat_ns = atomic_load(&blk->wr_lat_ns);
	pthread_mutex_lock(&blk->lock); /* virtio_blk_activate swaps bd */
	st->throttled_ns = blockdev_throttled_ns(blk->bd);
	pthread_mutex_unlock(&blk->lock);
	st->cap_iops = atomic_load(&blk->cap_iops);
	st->cap_bps = atomic_load(&blk->cap_bps);
}

int virtio_blk_set_cap(struct virtio_blk *blk, uint64_t iops, uint64_t bps)
{
	pthread_mutex_lock(&blk->lock);
	int r = blockdev_set_cap(blk->bd, iops, bps);
	pthread_mutex_unlock(&blk->lock);

	if (!r) {
		atomic_store(&blk->cap_iops, iops);
		atomic_store(&blk->cap_bps, bps);
	}
	return r;
}

/* ---- live migration over shared storage ------------------------------------ */

int virtio_blk_release(struct virtio_blk *blk, struct blockdev_identity *id,
		       struct error *err)
{
	return blockdev_release(blk->bd, id, err);
}

void virtio_blk_expect(struct virtio_blk *blk,
		       const struct blockdev_identity *id)
{
	blk->expect = *id;
	blk->has_expect = true;
}

/* The incoming side's own descriptor of the image (a block mirror's
 * target, or the shared image the source handed over). */
static struct blockdev *reopen_image(struct virtio_blk *blk, bool readonly,
				     struct error *err)
{
	const struct virtio_blk_config *cfg = &blk->cfg;

	return blockdev_open_secret(
		cfg->path, cfg->format[0] ? cfg->format : "raw", readonly,
		cfg->key_secret[0] ? cfg->key_secret : NULL, err);
}

/* A reopened image still has the guest's capacity; its I/O back end. */
static int check_reopened(struct virtio_blk *blk, struct blockdev *bd,
			  struct error *err)
{
	if (blockdev_size(bd) >> SECTOR_SHIFT != blk->capacity)
		return error_set(err, ESTALE, "disk %s: its size changed",
				 blk->cfg.path);
	return blockdev_set_aio(bd, blk->cfg.aio, err);
}

/* The disk's throttle and its datastore cap, on the image it serves from
 * now on. */
static int apply_limits(struct virtio_blk *blk, struct blockdev *bd,
			struct error *err)
{
	int r = blockdev_set_throttle(bd, &blk->cfg.throttle, NULL, err);
	uint64_t iops = atomic_load(&blk->cap_iops);
	uint64_t bps = atomic_load(&blk->cap_bps);

	if (!r && (iops || bps) && blockdev_set_cap(bd, iops, bps) < 0)
		r = error_set(err, ENOMEM, "disk %s: datastore cap",
			      blk->cfg.path);
	return r;
}

/* Serve from bd instead of the placeholder; the old one is closed. */
static void swap_image(struct virtio_blk *blk, struct blockdev *bd, bool mirror)
{
	pthread_mutex_lock(&blk->lock);
	struct blockdev *old = blk->bd;
	blk->bd = bd;
	if (mirror)
		blk->mirror = true;
	else
		blk->incoming = false;
	pthread_mutex_unlock(&blk->lock);
	blockdev_close(old);
}

int virtio_blk_mirror_open(struct virtio_blk *blk, struct error *err)
{
	const struct virtio_blk_config *cfg = &blk->cfg;

	if (blk->mirror)
		return 0;
	if (!blk->incoming || cfg->readonly)
		return error_set(err, EINVAL,
				 "disk %s: a block mirror writes only an "
				 "incoming migration's writable disks",
				 cfg->path);
	struct blockdev *bd = reopen_image(blk, false, err);
	if (!bd)
		return -err->code;
	int r = check_reopened(blk, bd, err);
	if (r) {
		blockdev_close(bd);
		return r;
	}
	swap_image(blk, bd, true);
	return 0;
}

bool virtio_blk_mirror_target(struct virtio_blk *blk)
{
	return blk->mirror;
}

bool virtio_blk_inactive(struct virtio_blk *blk)
{
	return blk->incoming || blockdev_released(blk->bd);
}

int virtio_blk_activate(struct virtio_blk *blk, struct error *err)
{
	const struct virtio_blk_config *cfg = &blk->cfg;

	if (!blk->incoming)
		return blockdev_reacquire(blk->bd, err);
	if (blk->mirror) {
		/* what the mirror wrote is durable before the guest runs
		 * here: the source's acknowledged flushes hold on this copy */
		int r = blockdev_flush(blk->bd);
		if (r < 0)
			return error_set(err, -r, "disk %s: flush: %s",
					 cfg->path, strerror(-r));
		r = apply_limits(blk, blk->bd, err);
		if (r)
			return r;
		pthread_mutex_lock(&blk->lock);
		blk->incoming = false;
		pthread_mutex_unlock(&blk->lock);
		return 0;
	}
	if (!blk->has_expect)
		return error_set(err, EPROTO,
				 "disk %s: the source did not hand the image "
				 "over",
				 cfg->path);
	struct blockdev *bd = reopen_image(blk, cfg->readonly, err);
	if (!bd)
		return -err->code;
	struct blockdev_identity now;
	int r = blockdev_identity(bd, &now, err);
	if (!r && (now.size != blk->expect.size ||
		   now.mtime_ns != blk->expect.mtime_ns))
		r = error_set(err, ESTALE,
			      "disk %s: not the image the source left (its "
			      "size or modification time differs): live "
			      "migration needs the same file on shared "
			      "storage at the same path",
			      cfg->path);
	if (!r)
		r = check_reopened(blk, bd, err);
	if (!r)
		r = apply_limits(blk, bd, err);
	if (r) {
		blockdev_close(bd);
		return r;
	}
	swap_image(blk, bd, false);
	return 0;
}
