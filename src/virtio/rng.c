/*
 * virtio-rng (virtio 1.2, section 5.4). See rng.h.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/log.h"
#include "virtio/rng.h"
#include "virtio/worker.h"

#define LOG_SUB "virtio-rng"

struct virtio_rng {
	struct virtio_dev_ops ops;

	struct virtio_worker worker; /* serves the request queue */

	_Atomic uint64_t requests, bytes;
	bool warned; /* getrandom failure logged */

	struct virtq_req req; /* worker scratch */
};

/* Fill up to len bytes at p; returns the count written (short only if
 * getrandom(2) fails, which the host should never let happen). */
static size_t rng_fill(struct virtio_rng *r, uint8_t *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(p + done, len - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (!r->warned) {
				r->warned = true;
				log_error(LOG_SUB, "getrandom: %s",
					  strerror(errno));
			}
			break;
		}
		done += (size_t)n;
	}
	return done;
}

/* 5.4.6: the device fills the driver's device-writable buffers; it may use
 * less than all of them (we cap a request at VIRTIO_RNG_MAX_REQ). */
int virtio_rng_handle(struct virtio_rng *r, const struct virtq_req *req)
{
	size_t budget = VIRTIO_RNG_MAX_REQ, written = 0;
	unsigned i;

	if (req->n_in == 0)
		return -EINVAL;
	for (i = req->n_out; i < req->n_out + req->n_in && budget; i++) {
		size_t len = req->iov[i].iov_len;
		size_t got;

		if (len > budget)
			len = budget;
		got = rng_fill(r, req->iov[i].iov_base, len);
		written += got;
		budget -= got;
		if (got < len)
			break;
	}
	atomic_fetch_add_explicit(&r->requests, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->bytes, written, memory_order_relaxed);
	return (int)written;
}

/* Drain the request queue once (worker thread). */
static void rng_process(void *opaque, struct virtio_dev *vd, uint32_t events)
{
	struct virtio_rng *r = opaque;
	struct virtq *vq = virtio_queue(vd, 0);
	bool pushed = false;
	int rc;

	(void)events; /* one queue */
	if (!vq)
		return;
	while ((rc = virtq_pop(vq, &r->req)) > 0) {
		int n = virtio_rng_handle(r, &r->req);

		if (n < 0) {
			virtio_device_error(vd, "rng: request without a "
						"device-writable buffer");
			return;
		}
		virtq_push(vq, &r->req, (uint32_t)n);
		pushed = true;
	}
	if (rc < 0)
		virtio_device_error(vd, "rng: malformed request queue");
	else if (pushed)
		virtio_notify(vd, 0);
}

static void rng_start(void *opaque, struct virtio_dev *vd)
{
	struct virtio_rng *r = opaque;

	/* buffers may be queued already */
	virtio_worker_start(&r->worker, vd, 1);
}

static void rng_reset(void *opaque)
{
	struct virtio_rng *r = opaque;

	virtio_worker_stop(&r->worker);
}

/* 5.4.4: no configuration space; reads see zeros. */
static void rng_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	memset(buf, 0, len);
}

static void rng_queue_notify(void *opaque, unsigned q)
{
	struct virtio_rng *r = opaque;

	virtio_worker_kick(&r->worker, 1u << q);
}

struct virtio_rng *virtio_rng_create(struct error *err)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));

	if (!r) {
		error_set(err, ENOMEM, "virtio-rng: out of memory");
		return NULL;
	}
	virtio_worker_init(&r->worker, LOG_SUB, rng_process, r);
	r->ops = (struct virtio_dev_ops){
		.name = "virtio-rng",
		.device_id = VIRTIO_ID_RNG,
		.n_queues = 1,
		.queue_max = VIRTIO_RNG_QUEUE_SIZE,
		.features = 0,
		.config_size = 0,
		.config_read = rng_config_read,
		.start = rng_start,
		.reset = rng_reset,
		/* every request is served within one process() call: a
		 * stopped worker has nothing in flight */
		.quiesce = rng_reset,
		.queue_notify = rng_queue_notify,
	};
	return r;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_worker_destroy(&r->worker);
	free(r);
}

const struct virtio_dev_ops *virtio_rng_dev_ops(struct virtio_rng *r)
{
	return &r->ops;
}

void virtio_rng_get_stats(struct virtio_rng *r, struct virtio_rng_stats *st)
{
	st->requests = atomic_load_explicit(&r->requests, memory_order_relaxed);
	st->bytes = atomic_load_explicit(&r->bytes, memory_order_relaxed);
}
