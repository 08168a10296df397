/*
 * virtio-balloon (virtio 1.2, section 5.5). See balloon.h.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem/gmem.h"
#include "util/log.h"
#include "virtio/balloon.h"
#include "virtio/worker.h"

#define LOG_SUB "virtio-balloon"

#define STAT_ENTRY_SIZE 10 /* le16 tag + le64 val, packed (5.5.6.3) */
#define INVALID_LOG_MAX 16 /* warnings about bad PFNs before going quiet */
#define PFN_CHUNK	256

enum balloon_queue { BQ_INFLATE, BQ_DEFLATE, BQ_STATS, BQ_REPORT, BQ_NR };

struct virtio_balloon {
	struct virtio_dev_ops ops;
	struct gmem *mem;
	struct virtio_balloon_opts opts;
	uint64_t ram_pages;

	/* Serves the queues; events: a bit per enum balloon_queue, and
	 * VIRTIO_WORKER_TICK to give the stats buffer back (every
	 * opts.stats_interval_ms, and on virtio_balloon_request_stats()). */
	struct virtio_worker worker;

	pthread_mutex_t lock; /* qidx, stats, restore_held */
	/* Transport queue index of each enum balloon_queue, -1 if absent:
	 * absent queues are skipped in the numbering (Linux's find_vqs, QEMU),
	 * so reporting_vq is 3 with STATS_VQ and 2 without. */
	int qidx[BQ_NR];
	struct virtio_balloon_guest_stats stats;

	_Atomic uint32_t num_pages, actual;
	_Atomic uint64_t inflated, deflated, reported, invalid, stats_updates;
	_Atomic unsigned invalid_logged;

	/* Worker-only state. */
	bool stats_held;   /* stats_req is the guest's buffer, not yet used */
	bool restore_held; /* virtio_balloon_load: start() holds stats_req */
	struct virtq_req req;
	struct virtq_req stats_req;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Copy len bytes at offset off of the request's out-buffers. Returns the
 * number copied (short at the end of the buffers). */
static size_t req_read(const struct virtq_req *req, size_t off, void *buf,
		       size_t len)
{
	uint8_t *dst = buf;
	size_t done = 0;
	unsigned i;

	for (i = 0; i < req->n_out && done < len; i++) {
		size_t l = req->iov[i].iov_len, n;

		if (off >= l) {
			off -= l;
			continue;
		}
		n = l - off < len - done ? l - off : len - done;
		memcpy(dst + done, (uint8_t *)req->iov[i].iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

/* Count and (a bounded number of times) log pages the guest named that
 * we ignore. */
static void note_invalid(struct virtio_balloon *b, const char *what,
			 const char *why, uint64_t gpa, uint64_t n)
{
	if (!n)
		return;
	atomic_fetch_add_explicit(&b->invalid, n, memory_order_relaxed);
	if (atomic_fetch_add(&b->invalid_logged, 1) < INVALID_LOG_MAX)
		log_warn(LOG_SUB,
			 "%s: ignored %" PRIu64 " page(s) %s (first at "
			 "0x%" PRIx64 ")",
			 what, n, why, gpa);
}

/* 5.5.6.1/5.5.6.2: the driver sends arrays of le32 PFNs (4 KiB units). */
int virtio_balloon_handle_pfns(struct virtio_balloon *b,
			       const struct virtq_req *req, bool inflate)
{
	uint32_t pfns[PFN_CHUNK];
	uint64_t gpas[PFN_CHUNK];
	uint64_t n_total, off, bad = 0, bad_gpa = 0;
	int done = 0;

	if (req->n_in || req->out_len % sizeof(uint32_t))
		return -EINVAL;
	n_total = req->out_len / sizeof(uint32_t);
	for (off = 0; off < n_total; off += PFN_CHUNK) {
		size_t n = n_total - off < PFN_CHUNK ? n_total - off
						     : PFN_CHUNK;
		size_t i;

		if (req_read(req, off * 4, pfns, n * 4) != n * 4)
			return -EINVAL;
		size_t k = 0;
		for (i = 0; i < n; i++) {
			uint64_t gpa = (uint64_t)le32toh(pfns[i])
				       << VIRTIO_BALLOON_PFN_SHIFT;

			if (!gmem_is_ram(b->mem, gpa, GUEST_PAGE_SIZE)) {
				if (!bad++)
					bad_gpa = gpa;
				continue;
			}
			gpas[k++] = gpa;
		}
		/* one TLB sync for the chunk's shared frames, not one each */
		done += (int)(inflate ? gmem_release_pages(b->mem, gpas, k)
				      : k);
	}
	note_invalid(b, inflate ? "inflate" : "deflate", "outside guest RAM",
		     bad_gpa, bad);
	atomic_fetch_add_explicit(inflate ? &b->inflated : &b->deflated,
				  (uint64_t)done, memory_order_relaxed);
	return done;
}

/* 5.5.6.3: a buffer of (le16 tag, le64 val) entries; unknown tags are
 * ignored (5.5.6.3.1: the device MUST ignore them). */
int virtio_balloon_handle_stats(struct virtio_balloon *b,
				const struct virtq_req *req)
{
	struct virtio_balloon_guest_stats st = { 0 };
	uint64_t n, i;

	if (req->n_in || req->out_len % STAT_ENTRY_SIZE)
		return -EINVAL;
	n = req->out_len / STAT_ENTRY_SIZE;
	if (n > 4096) /* far more tags than exist: refuse, do not loop */
		return -EINVAL;
	for (i = 0; i < n; i++) {
		uint8_t e[STAT_ENTRY_SIZE];
		uint16_t tag;
		uint64_t val;

		if (req_read(req, i * STAT_ENTRY_SIZE, e, sizeof(e)) !=
		    sizeof(e))
			return -EINVAL;
		memcpy(&tag, e, 2);
		memcpy(&val, e + 2, 8);
		tag = le16toh(tag);
		if (tag >= VIRTIO_BALLOON_S_NR)
			continue;
		st.val[tag] = le64toh(val);
		st.valid |= 1u << tag;
	}
	st.updated_ns = now_ns();
	pthread_mutex_lock(&b->lock);
	b->stats = st;
	pthread_mutex_unlock(&b->lock);
	atomic_fetch_add_explicit(&b->stats_updates, 1, memory_order_relaxed);
	return (int)n;
}

/* Free page reporting (5.5.6.6 in virtio 1.2): device-writable buffers,
 * each covering free guest pages; the device may discard their content. */
int virtio_balloon_handle_report(struct virtio_balloon *b,
				 const struct virtq_req *req)
{
	unsigned i;
	int done = 0;

	if (req->n_out || !req->n_in)
		return -EINVAL;
	for (i = 0; i < req->n_in; i++) {
		const struct iovec *iov = &req->iov[i];
		uint64_t gpa = req->addr[i], len = iov->iov_len;
		uint64_t start = (gpa + GUEST_PAGE_MASK) & ~GUEST_PAGE_MASK;
		uint64_t end = (gpa + len) & ~GUEST_PAGE_MASK;
		uint8_t *host;

		if (!len)
			continue;
		if (!gmem_is_ram(b->mem, gpa, len)) {
			note_invalid(b, "report", "outside guest RAM", gpa,
				     (len + GUEST_PAGE_MASK) >>
					     GUEST_PAGE_SHIFT);
			continue;
		}
		/* addr[] and iov[] must describe the same memory; never
		 * release pages on a mismatch (a transport bug). */
		host = gmem_page(b->mem, gpa, GMEM_READ, NULL);
		if (!host || host + (gpa & GUEST_PAGE_MASK) != iov->iov_base) {
			note_invalid(b, "report",
				     "(descriptor address does not match its "
				     "mapping)",
				     gpa, 1);
			continue;
		}
		while (start < end) {
			uint64_t gpas[PFN_CHUNK];
			size_t k = 0;

			for (; start < end && k < PFN_CHUNK;
			     start += GUEST_PAGE_SIZE)
				gpas[k++] = start;
			done += (int)gmem_release_pages(b->mem, gpas, k);
		}
	}
	atomic_fetch_add_explicit(&b->reported, (uint64_t)done,
				  memory_order_relaxed);
	return done;
}

static void pages_released(struct virtio_balloon *b)
{
	if (b->opts.pages_released)
		b->opts.pages_released(b->opts.opaque);
}

/* Drain one queue (worker). Returns false once the device is broken. */
static bool process_queue(struct virtio_balloon *b, struct virtio_dev *vd,
			  enum balloon_queue which)
{
	static const char *const names[BQ_NR] = { "inflateq", "deflateq",
						  "statsq", "reporting_vq" };
	struct virtq *vq;
	bool pushed = false;
	int rc;

	if (b->qidx[which] < 0)
		return true;
	vq = virtio_queue(vd, (unsigned)b->qidx[which]);
	if (!vq)
		return true;
	while ((rc = virtq_pop(vq, &b->req)) > 0) {
		int n;

		switch (which) {
		case BQ_INFLATE:
			n = virtio_balloon_handle_pfns(b, &b->req, true);
			if (n > 0)
				pages_released(b);
			break;
		case BQ_DEFLATE:
			n = virtio_balloon_handle_pfns(b, &b->req, false);
			break;
		case BQ_STATS:
			n = virtio_balloon_handle_stats(b, &b->req);
			if (n < 0)
				break;
			/* 5.5.6.3: keep the buffer until we want new stats;
			 * a second one while holding: give the old back. */
			if (b->stats_held)
				virtq_push(vq, &b->stats_req, 0);
			memcpy(&b->stats_req, &b->req, sizeof(b->req));
			b->stats_held = true;
			continue;
		default:
			n = virtio_balloon_handle_report(b, &b->req);
			if (n > 0)
				pages_released(b);
			break;
		}
		if (n < 0) {
			log_warn(LOG_SUB, "malformed %s request", names[which]);
			virtio_device_error(vd, "balloon: malformed request");
			return false;
		}
		virtq_push(vq, &b->req, 0);
		pushed = true;
	}
	if (rc < 0) {
		virtio_device_error(vd, "balloon: malformed queue");
		return false;
	}
	if (pushed)
		virtio_notify(vd, (unsigned)b->qidx[which]);
	return true;
}

/* 5.5.6.3: returning the buffer asks the driver for fresh statistics. */
static void release_stats_buffer(struct virtio_balloon *b,
				 struct virtio_dev *vd)
{
	struct virtq *vq;

	if (!b->stats_held || b->qidx[BQ_STATS] < 0)
		return;
	vq = virtio_queue(vd, (unsigned)b->qidx[BQ_STATS]);
	if (!vq)
		return;
	b->stats_held = false;
	virtq_push(vq, &b->stats_req, 0);
	virtio_notify(vd, (unsigned)b->qidx[BQ_STATS]);
}

/* The worker's process function. */
static void balloon_process(void *opaque, struct virtio_dev *vd,
			    uint32_t events)
{
	struct virtio_balloon *b = opaque;
	int w;

	for (w = 0; w < BQ_NR; w++)
		if ((events & (1u << w)) && !process_queue(b, vd, w))
			break;
	if ((events & VIRTIO_WORKER_TICK) && !virtio_broken(vd))
		release_stats_buffer(b, vd);
}

static void balloon_start(void *opaque, struct virtio_dev *vd)
{
	struct virtio_balloon *b = opaque;
	uint64_t f = virtio_features(vd);
	int next = 2;

	pthread_mutex_lock(&b->lock);
	b->qidx[BQ_INFLATE] = 0;
	b->qidx[BQ_DEFLATE] = 1;
	b->qidx[BQ_STATS] = f & (1ULL << VIRTIO_BALLOON_F_STATS_VQ) ? next++
								    : -1;
	/* FREE_PAGE_HINT is never offered: no free_page_vq. */
	b->qidx[BQ_REPORT] = f & (1ULL << VIRTIO_BALLOON_F_REPORTING) ? next++
								      : -1;
	/* worker-only state: no worker runs (start() runs after reset()) */
	b->stats_held = b->restore_held;
	b->restore_held = false;
	pthread_mutex_unlock(&b->lock);
	/* buffers may be queued already */
	virtio_worker_start(&b->worker, vd, (1u << BQ_NR) - 1);
}

static void balloon_reset(void *opaque)
{
	struct virtio_balloon *b = opaque;

	virtio_worker_stop(&b->worker);
	pthread_mutex_lock(&b->lock);
	b->stats_held = false; /* the queue is gone with its buffer */
	pthread_mutex_unlock(&b->lock);
	/* 5.5.6: after a reset the driver starts with an empty balloon. */
	atomic_store(&b->actual, 0);
}

static void balloon_queue_notify(void *opaque, unsigned q)
{
	struct virtio_balloon *b = opaque;
	uint32_t ev = 0;
	int i;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < BQ_NR; i++) {
		if (b->qidx[i] == (int)q)
			ev |= 1u << i;
	}
	pthread_mutex_unlock(&b->lock);
	virtio_worker_kick(&b->worker, ev);
}

/* 5.5.4: le32 num_pages, le32 actual, le32 free_page_hint_cmd_id,
 * le32 poison_val. */
static void balloon_config_read(void *opaque, uint32_t off, void *buf,
				uint32_t len)
{
	struct virtio_balloon *b = opaque;
	uint32_t cfg[VIRTIO_BALLOON_CONFIG_SIZE / 4] = { 0 };

	cfg[0] = htole32(atomic_load(&b->num_pages));
	cfg[1] = htole32(atomic_load(&b->actual));
	memset(buf, 0, len);
	if (off < sizeof(cfg))
		memcpy(buf, (uint8_t *)cfg + off,
		       len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

/* Only `actual` is driver-writable (5.5.4); any width the guest uses. */
static void balloon_config_write(void *opaque, uint32_t off, const void *buf,
				 uint32_t len)
{
	struct virtio_balloon *b = opaque;
	uint32_t v = htole32(atomic_load(&b->actual));
	uint32_t i;

	for (i = 0; i < len; i++) {
		uint32_t o = off + i;

		if (o >= 4 && o < 8)
			((uint8_t *)&v)[o - 4] = ((const uint8_t *)buf)[i];
	}
	v = le32toh(v);
	if (atomic_exchange(&b->actual, v) != v && b->opts.actual_changed)
		b->opts.actual_changed(b->opts.opaque,
				       virtio_balloon_actual(b));
}

struct virtio_balloon *virtio_balloon_create(
	struct gmem *mem, const struct virtio_balloon_opts *opts,
	struct error *err)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));
	uint64_t features = (1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
			    (1ULL << VIRTIO_BALLOON_F_REPORTING);
	int i;

	if (!b) {
		error_set(err, ENOMEM, "virtio-balloon: out of memory");
		return NULL;
	}
	b->mem = mem;
	if (opts)
		b->opts = *opts;
	if (b->opts.deflate_on_oom)
		features |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	b->ram_pages = gmem_ram_size(mem) >> GUEST_PAGE_SHIFT;
	pthread_mutex_init(&b->lock, NULL);
	virtio_worker_init(&b->worker, LOG_SUB, balloon_process, b);
	virtio_worker_set_period(
		&b->worker, (uint64_t)b->opts.stats_interval_ms * 1000000ull);
	for (i = 0; i < BQ_NR; i++)
		b->qidx[i] = -1;
	b->ops = (struct virtio_dev_ops){
		.name = "virtio-balloon",
		.device_id = VIRTIO_ID_BALLOON,
		.n_queues = 4, /* inflate, deflate, stats, reporting */
		.queue_max = VIRTIO_BALLOON_QUEUE_SIZE,
		.features = features,
		.config_size = VIRTIO_BALLOON_CONFIG_SIZE,
		.config_read = balloon_config_read,
		.config_write = balloon_config_write,
		.start = balloon_start,
		.reset = balloon_reset,
		.queue_notify = balloon_queue_notify,
	};
	return b;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	if (!b)
		return;
	balloon_reset(b);
	virtio_worker_destroy(&b->worker);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

const struct virtio_dev_ops *virtio_balloon_dev_ops(struct virtio_balloon *b)
{
	return &b->ops;
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint64_t guest_bytes)
{
	uint64_t keep = (guest_bytes + GUEST_PAGE_MASK) >> GUEST_PAGE_SHIFT;
	uint64_t pages = keep >= b->ram_pages ? 0 : b->ram_pages - keep;
	struct virtio_dev *vd;

	if (guest_bytes > UINT64_MAX - GUEST_PAGE_MASK)
		pages = 0;
	if (pages > UINT32_MAX)
		pages = UINT32_MAX;
	atomic_store(&b->num_pages, (uint32_t)pages);
	vd = virtio_worker_dev(&b->worker);
	/* Outside our lock: lock order is transport -> device. */
	if (vd)
		virtio_config_changed(vd);
}

uint64_t virtio_balloon_actual(struct virtio_balloon *b)
{
	uint64_t a = atomic_load(&b->actual);

	if (a > b->ram_pages)
		a = b->ram_pages;
	return (b->ram_pages - a) << GUEST_PAGE_SHIFT;
}

void virtio_balloon_get_info(struct virtio_balloon *b,
			     struct virtio_balloon_info *info)
{
	uint64_t a = atomic_load(&b->actual);

	info->ram_bytes = b->ram_pages << GUEST_PAGE_SHIFT;
	info->target_pages = atomic_load(&b->num_pages);
	info->actual_pages = a > b->ram_pages ? b->ram_pages : a;
	info->inflated_pages = atomic_load(&b->inflated);
	info->deflated_pages = atomic_load(&b->deflated);
	info->reported_pages = atomic_load(&b->reported);
	info->invalid_pfns = atomic_load(&b->invalid);
	info->stats_updates = atomic_load(&b->stats_updates);
}

void virtio_balloon_get_stats(struct virtio_balloon *b,
			      struct virtio_balloon_guest_stats *st)
{
	pthread_mutex_lock(&b->lock);
	*st = b->stats;
	pthread_mutex_unlock(&b->lock);
}

void virtio_balloon_request_stats(struct virtio_balloon *b)
{
	virtio_worker_kick(&b->worker, VIRTIO_WORKER_TICK);
}

void virtio_balloon_save(struct virtio_balloon *b,
			 struct virtio_balloon_state *st)
{
	memset(st, 0, sizeof(*st));
	st->version = VIRTIO_BALLOON_STATE_VERSION;
	st->num_pages = atomic_load(&b->num_pages);
	st->actual = atomic_load(&b->actual);
	pthread_mutex_lock(&b->lock);
	st->stats_held = b->stats_held || b->restore_held;
	st->stats_head = st->stats_held ? b->stats_req.head : 0;
	st->stats_valid = b->stats.valid;
	memcpy(st->stats_val, b->stats.val, sizeof(st->stats_val));
	pthread_mutex_unlock(&b->lock);
}

int virtio_balloon_load(struct virtio_balloon *b,
			const struct virtio_balloon_state *st)
{
	if (st->version != VIRTIO_BALLOON_STATE_VERSION)
		return -EINVAL;
	atomic_store(&b->num_pages, st->num_pages);
	atomic_store(&b->actual, st->actual);
	pthread_mutex_lock(&b->lock);
	b->stats.valid = st->stats_valid & ((1u << VIRTIO_BALLOON_S_NR) - 1);
	memcpy(b->stats.val, st->stats_val, sizeof(b->stats.val));
	b->stats.updated_ns = b->stats.valid ? now_ns() : 0;
	/* Only the head is needed to give the buffer back (no iovecs). */
	memset(&b->stats_req, 0, sizeof(b->stats_req));
	b->stats_req.head = st->stats_head;
	b->restore_held = st->stats_held != 0;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

const char *virtio_balloon_stat_name(unsigned tag)
{
	static const char *const names[VIRTIO_BALLOON_S_NR] = {
		"stat-swap-in",		 "stat-swap-out",
		"stat-major-faults",	 "stat-minor-faults",
		"stat-free-memory",	 "stat-total-memory",
		"stat-available-memory", "stat-disk-caches",
		"stat-htlb-pgalloc",	 "stat-htlb-pgfail",
		"stat-oom-kills",	 "stat-alloc-stalls",
		"stat-async-scans",	 "stat-direct-scans",
		"stat-async-reclaims",	 "stat-direct-reclaims",
	};

	return tag < VIRTIO_BALLOON_S_NR ? names[tag] : NULL;
}
