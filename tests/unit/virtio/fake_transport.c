/* Fake transport for device unit tests: see fake_transport.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_transport.h"
#include "mem/gmem.h"

#define FAKE_MAX_PENDING 64
#define FAKE_MAX_USED	 1024

struct virtq {
	struct virtio_dev *vd;
	struct virtq_req *pending[FAKE_MAX_PENDING];
	unsigned n_pending, next;
	uint16_t used_head[FAKE_MAX_USED];
	uint32_t used_written[FAKE_MAX_USED];
	unsigned n_used;
	unsigned notifies;
	int fail_next;
};

struct virtio_dev {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct gmem *mem;
	uint64_t features;
	unsigned n_queues;
	struct virtq q[VIRTIO_MAX_QUEUES];
	unsigned config_changes;
	bool broken;
};

struct virtio_dev *fake_dev_new(struct gmem *mem, unsigned n_queues,
				uint64_t features)
{
	struct virtio_dev *vd = calloc(1, sizeof(*vd));
	unsigned i;

	pthread_mutex_init(&vd->lock, NULL);
	pthread_cond_init(&vd->cond, NULL);
	vd->mem = mem;
	vd->n_queues = n_queues;
	vd->features = features;
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vd->q[i].vd = vd;
	return vd;
}

void fake_dev_free(struct virtio_dev *vd)
{
	unsigned i, j;

	for (i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		for (j = 0; j < vd->q[i].n_pending; j++)
			free(vd->q[i].pending[j]);
	}
	pthread_cond_destroy(&vd->cond);
	pthread_mutex_destroy(&vd->lock);
	free(vd);
}

void fake_queue_add(struct virtio_dev *vd, unsigned q,
		    const struct virtq_req *req)
{
	struct virtq_req *copy = malloc(sizeof(*copy));

	memcpy(copy, req, sizeof(*copy));
	pthread_mutex_lock(&vd->lock);
	copy->head = (uint16_t)vd->q[q].n_pending;
	if (vd->q[q].n_pending < FAKE_MAX_PENDING)
		vd->q[q].pending[vd->q[q].n_pending++] = copy;
	else
		free(copy);
	pthread_mutex_unlock(&vd->lock);
}

void fake_queue_fail_next(struct virtio_dev *vd, unsigned q, int rc)
{
	pthread_mutex_lock(&vd->lock);
	vd->q[q].fail_next = rc;
	pthread_mutex_unlock(&vd->lock);
}

unsigned fake_used(struct virtio_dev *vd, unsigned q)
{
	unsigned n;

	pthread_mutex_lock(&vd->lock);
	n = vd->q[q].n_used;
	pthread_mutex_unlock(&vd->lock);
	return n;
}

uint16_t fake_used_head(struct virtio_dev *vd, unsigned q, unsigned i)
{
	return vd->q[q].used_head[i];
}

uint32_t fake_used_written(struct virtio_dev *vd, unsigned q, unsigned i)
{
	return vd->q[q].used_written[i];
}

static void deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

bool fake_wait_used(struct virtio_dev *vd, unsigned q, unsigned n,
		    unsigned timeout_ms)
{
	struct timespec ts;
	bool ok;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&vd->lock);
	while (vd->q[q].n_used < n &&
	       pthread_cond_timedwait(&vd->cond, &vd->lock, &ts) == 0)
		;
	ok = vd->q[q].n_used >= n;
	pthread_mutex_unlock(&vd->lock);
	return ok;
}

bool fake_wait_broken(struct virtio_dev *vd, unsigned timeout_ms)
{
	struct timespec ts;
	bool ok;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&vd->lock);
	while (!vd->broken &&
	       pthread_cond_timedwait(&vd->cond, &vd->lock, &ts) == 0)
		;
	ok = vd->broken;
	pthread_mutex_unlock(&vd->lock);
	return ok;
}

unsigned fake_notifies(struct virtio_dev *vd, unsigned q)
{
	unsigned n;

	pthread_mutex_lock(&vd->lock);
	n = vd->q[q].notifies;
	pthread_mutex_unlock(&vd->lock);
	return n;
}

unsigned fake_config_changes(struct virtio_dev *vd)
{
	unsigned n;

	pthread_mutex_lock(&vd->lock);
	n = vd->config_changes;
	pthread_mutex_unlock(&vd->lock);
	return n;
}

void fake_req_out(struct virtq_req *req, const void *buf, size_t len)
{
	unsigned i = req->n_out + req->n_in;

	req->iov[i].iov_base = (void *)buf;
	req->iov[i].iov_len = len;
	req->n_out++;
	req->out_len += len;
}

void fake_req_in(struct virtq_req *req, void *buf, size_t len)
{
	unsigned i = req->n_out + req->n_in;

	req->iov[i].iov_base = buf;
	req->iov[i].iov_len = len;
	req->n_in++;
	req->in_len += len;
}

void fake_req_gpa(struct virtq_req *req, struct gmem *mem, uint64_t gpa,
		  uint64_t len, bool writable)
{
	unsigned i = req->n_out + req->n_in;
	int n = gmem_dma_map(mem, gpa, len, writable ? GMEM_WRITE : GMEM_READ,
			     &req->iov[i], (int)(VIRTQ_MAX_IOV - i));
	int k;

	if (n < 0)
		abort();
	for (k = 0; k < n; k++) {
		req->addr[i + (unsigned)k] = gpa;
		gpa += req->iov[i + (unsigned)k].iov_len;
	}
	if (writable) {
		req->n_in += (unsigned)n;
		req->in_len += len;
	} else {
		req->n_out += (unsigned)n;
		req->out_len += len;
	}
}

/* ---- the virtio.h / virtq.h functions the devices call ------------------ */

struct virtq *virtio_queue(struct virtio_dev *vd, unsigned q)
{
	return q < vd->n_queues ? &vd->q[q] : NULL;
}

uint64_t virtio_features(const struct virtio_dev *vd)
{
	return vd->features;
}

void virtio_notify(struct virtio_dev *vd, unsigned q)
{
	pthread_mutex_lock(&vd->lock);
	vd->q[q].notifies++;
	pthread_mutex_unlock(&vd->lock);
}

void virtio_config_changed(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	vd->config_changes++;
	pthread_mutex_unlock(&vd->lock);
}

void virtio_device_error(struct virtio_dev *vd, const char *what)
{
	pthread_mutex_lock(&vd->lock);
	vd->broken = true;
	pthread_cond_broadcast(&vd->cond);
	pthread_mutex_unlock(&vd->lock);
}

bool virtio_broken(const struct virtio_dev *vd)
{
	bool b;

	pthread_mutex_lock((pthread_mutex_t *)&vd->lock);
	b = vd->broken;
	pthread_mutex_unlock((pthread_mutex_t *)&vd->lock);
	return b;
}

struct gmem *virtio_mem(const struct virtio_dev *vd)
{
	return vd->mem;
}

int virtq_pop(struct virtq *vq, struct virtq_req *req)
{
	struct virtio_dev *vd = vq->vd;
	int rc = 0;

	pthread_mutex_lock(&vd->lock);
	if (vq->fail_next) {
		rc = vq->fail_next;
		vq->fail_next = 0;
	} else if (vq->next < vq->n_pending) {
		memcpy(req, vq->pending[vq->next++], sizeof(*req));
		rc = 1;
	}
	pthread_mutex_unlock(&vd->lock);
	return rc;
}

void virtq_push(struct virtq *vq, const struct virtq_req *req, uint32_t written)
{
	struct virtio_dev *vd = vq->vd;

	pthread_mutex_lock(&vd->lock);
	if (vq->n_used < FAKE_MAX_USED) {
		vq->used_head[vq->n_used] = req->head;
		vq->used_written[vq->n_used] = written;
		vq->n_used++;
	}
	pthread_cond_broadcast(&vd->cond);
	pthread_mutex_unlock(&vd->lock);
}

void virtq_unpop(struct virtq *vq, uint16_t n)
{
	pthread_mutex_lock(&vq->vd->lock);
	vq->next = n > vq->next ? 0 : vq->next - n;
	pthread_mutex_unlock(&vq->vd->lock);
}

unsigned fake_popped(struct virtio_dev *vd, unsigned q)
{
	unsigned n;

	pthread_mutex_lock(&vd->lock);
	n = vd->q[q].next;
	pthread_mutex_unlock(&vd->lock);
	return n;
}

bool virtq_has_work(struct virtq *vq)
{
	bool w;

	pthread_mutex_lock(&vq->vd->lock);
	w = vq->next < vq->n_pending;
	pthread_mutex_unlock(&vq->vd->lock);
	return w;
}

void virtq_req_release(struct gmem *mem, struct virtq_req *req)
{
	/* The fake's requests are not pinned (fake_req_gpa's pins are
	 * dropped with the gmem). */
	(void)mem;
	req->n_out = req->n_in = 0;
	req->out_len = req->in_len = 0;
}
