/*
 * virtio-console (virtio 1.2, section 5.3), single port. See console.h.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "virtio/console.h"
#include "virtio/worker.h"

#define LOG_SUB "virtio-console"

enum { CON_RXQ = 0, CON_TXQ = 1 };

struct virtio_console {
	struct virtio_dev_ops ops;

	/* Serves both queues; events: 1 << CON_RXQ (receiveq notified or
	 * new input), 1 << CON_TXQ (transmitq notified). */
	struct virtio_worker worker;

	pthread_mutex_t lock; /* everything below except the counters */
	struct virtio_console_host host;
	uint16_t cols, rows;

	/* Host input not yet given to the guest (a ring). */
	uint8_t in_buf[VIRTIO_CONSOLE_IN_BUF];
	size_t in_head, in_count;
	bool in_starved; /* an input() call was cut short */

	_Atomic uint64_t rx_bytes, tx_bytes, tx_requests;

	struct virtq_req req; /* worker scratch */
};

static struct virtio_console_host con_host(struct virtio_console *c)
{
	struct virtio_console_host h;

	pthread_mutex_lock(&c->lock);
	h = c->host;
	pthread_mutex_unlock(&c->lock);
	return h;
}

/* 5.3.6.2: the device sends what the driver put in the transmitq. */
int virtio_console_handle_tx(struct virtio_console *c,
			     const struct virtq_req *req)
{
	struct virtio_console_host h = con_host(c);
	unsigned i;

	if (req->n_in)
		return -EINVAL;
	for (i = 0; i < req->n_out; i++) {
		if (h.output && req->iov[i].iov_len)
			h.output(h.opaque, req->iov[i].iov_base,
				 req->iov[i].iov_len);
	}
	atomic_fetch_add_explicit(&c->tx_bytes, req->out_len,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&c->tx_requests, 1, memory_order_relaxed);
	return 0;
}

/* Move buffered input into the request's in-buffers (5.3.6.1: the
 * receiveq holds device-writable buffers only). */
int virtio_console_handle_rx(struct virtio_console *c,
			     const struct virtq_req *req)
{
	size_t written = 0;
	unsigned i;

	if (req->n_out || !req->n_in)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	for (i = req->n_out; i < req->n_out + req->n_in && c->in_count; i++) {
		uint8_t *dst = req->iov[i].iov_base;
		size_t room = req->iov[i].iov_len;

		while (room && c->in_count) {
			size_t n = VIRTIO_CONSOLE_IN_BUF - c->in_head;

			if (n > c->in_count)
				n = c->in_count;
			if (n > room)
				n = room;
			memcpy(dst, c->in_buf + c->in_head, n);
			dst += n;
			room -= n;
			written += n;
			c->in_head = (c->in_head + n) % VIRTIO_CONSOLE_IN_BUF;
			c->in_count -= n;
		}
	}
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_add_explicit(&c->rx_bytes, written, memory_order_relaxed);
	return (int)written;
}

static void con_process_tx(struct virtio_console *c, struct virtio_dev *vd)
{
	struct virtq *vq = virtio_queue(vd, CON_TXQ);
	bool pushed = false;
	int rc;

	if (!vq)
		return;
	while ((rc = virtq_pop(vq, &c->req)) > 0) {
		if (virtio_console_handle_tx(c, &c->req) < 0) {
			virtio_device_error(vd, "console: device-writable "
						"buffer in the transmitq");
			return;
		}
		virtq_push(vq, &c->req, 0);
		pushed = true;
	}
	if (rc < 0)
		virtio_device_error(vd, "console: malformed transmitq");
	else if (pushed)
		virtio_notify(vd, CON_TXQ);
}

static void con_process_rx(struct virtio_console *c, struct virtio_dev *vd)
{
	struct virtq *vq = virtio_queue(vd, CON_RXQ);
	struct virtio_console_host h;
	bool pushed = false, ready = false;
	int rc = 0;

	if (!vq)
		return;
	for (;;) {
		int n;

		pthread_mutex_lock(&c->lock);
		n = c->in_count > 0;
		pthread_mutex_unlock(&c->lock);
		if (!n)
			break;
		rc = virtq_pop(vq, &c->req);
		if (rc <= 0)
			break;
		n = virtio_console_handle_rx(c, &c->req);
		if (n < 0) {
			virtio_device_error(vd, "console: device-readable "
						"buffer in the receiveq");
			return;
		}
		virtq_push(vq, &c->req, (uint32_t)n);
		pushed = true;
	}
	if (rc < 0) {
		virtio_device_error(vd, "console: malformed receiveq");
		return;
	}
	if (pushed)
		virtio_notify(vd, CON_RXQ);

	pthread_mutex_lock(&c->lock);
	if (c->in_starved && c->in_count < VIRTIO_CONSOLE_IN_BUF) {
		c->in_starved = false;
		ready = true;
	}
	h = c->host;
	pthread_mutex_unlock(&c->lock);
	if (ready && h.input_ready)
		h.input_ready(h.opaque);
}

/* The worker's process function: what the guest or the host kicked. */
static void con_process(void *opaque, struct virtio_dev *vd, uint32_t events)
{
	struct virtio_console *c = opaque;

	if (events & (1u << CON_TXQ))
		con_process_tx(c, vd);
	if ((events & (1u << CON_RXQ)) && !virtio_broken(vd))
		con_process_rx(c, vd);
}

static void con_start(void *opaque, struct virtio_dev *vd)
{
	struct virtio_console *c = opaque;

	/* buffers may be queued already */
	virtio_worker_start(&c->worker, vd, 1u << CON_RXQ | 1u << CON_TXQ);
}

static void con_reset(void *opaque)
{
	struct virtio_console *c = opaque;

	virtio_worker_stop(&c->worker);
}

static void con_queue_notify(void *opaque, unsigned q)
{
	struct virtio_console *c = opaque;

	if (q == CON_TXQ || q == CON_RXQ)
		virtio_worker_kick(&c->worker, 1u << q);
}

/* 5.3.4: struct virtio_console_config { le16 cols, rows; le32
 * max_nr_ports; le32 emerg_wr; }. */
static void con_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_console *c = opaque;
	uint8_t cfg[VIRTIO_CONSOLE_CONFIG_SIZE] = { 0 };
	uint16_t v16;
	uint32_t v32 = htole32(1);

	pthread_mutex_lock(&c->lock);
	v16 = htole16(c->cols);
	memcpy(cfg + 0, &v16, 2);
	v16 = htole16(c->rows);
	memcpy(cfg + 2, &v16, 2);
	pthread_mutex_unlock(&c->lock);
	memcpy(cfg + 4, &v32, 4);
	memset(buf, 0, len);
	if (off < sizeof(cfg))
		memcpy(buf, cfg + off,
		       len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

/* 5.3.6.3 (VIRTIO_CONSOLE_F_EMERG_WRITE): a write to emerg_wr outputs one
 * character, even before the queues are set up. */
static void con_config_write(void *opaque, uint32_t off, const void *buf,
			     uint32_t len)
{
	struct virtio_console *c = opaque;
	struct virtio_console_host h;
	uint8_t ch;

	if (off != 8 || len == 0)
		return;
	ch = *(const uint8_t *)buf; /* little-endian: low byte first */
	h = con_host(c);
	if (h.output)
		h.output(h.opaque, &ch, 1);
	atomic_fetch_add_explicit(&c->tx_bytes, 1, memory_order_relaxed);
}

struct virtio_console *virtio_console_create(
	const struct virtio_console_host *host,
	const struct virtio_console_opts *opts, struct error *err)
{
	struct virtio_console *c = calloc(1, sizeof(*c));
	uint64_t features = 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE;

	if (!c) {
		error_set(err, ENOMEM, "virtio-console: out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	virtio_worker_init(&c->worker, LOG_SUB, con_process, c);
	if (host)
		c->host = *host;
	if (opts && opts->cols && opts->rows) {
		c->cols = opts->cols;
		c->rows = opts->rows;
		features |= 1ULL << VIRTIO_CONSOLE_F_SIZE;
	}
	c->ops = (struct virtio_dev_ops){
		.name = "virtio-console",
		.device_id = VIRTIO_ID_CONSOLE,
		.n_queues = 2,
		.queue_max = VIRTIO_CONSOLE_QUEUE_SIZE,
		.features = features,
		.config_size = VIRTIO_CONSOLE_CONFIG_SIZE,
		.config_read = con_config_read,
		.config_write = con_config_write,
		.start = con_start,
		.reset = con_reset,
		.queue_notify = con_queue_notify,
	};
	return c;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	virtio_worker_destroy(&c->worker);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const struct virtio_dev_ops *virtio_console_dev_ops(struct virtio_console *c)
{
	return &c->ops;
}

void virtio_console_attach(struct virtio_console *c,
			   const struct virtio_console_host *host)
{
	pthread_mutex_lock(&c->lock);
	if (host)
		c->host = *host;
	else
		memset(&c->host, 0, sizeof(c->host));
	pthread_mutex_unlock(&c->lock);
}

size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf,
			    size_t len)
{
	size_t room, done = 0;

	pthread_mutex_lock(&c->lock);
	room = VIRTIO_CONSOLE_IN_BUF - c->in_count;
	if (len > room) {
		c->in_starved = true;
		len = room;
	}
	while (done < len) {
		size_t tail = (c->in_head + c->in_count) %
			      VIRTIO_CONSOLE_IN_BUF;
		size_t n = VIRTIO_CONSOLE_IN_BUF - tail;

		if (n > len - done)
			n = len - done;
		memcpy(c->in_buf + tail, buf + done, n);
		c->in_count += n;
		done += n;
	}
	pthread_mutex_unlock(&c->lock);
	if (done)
		virtio_worker_kick(&c->worker, 1u << CON_RXQ);
	return done;
}

void virtio_console_set_size(struct virtio_console *c, uint16_t cols,
			     uint16_t rows)
{
	struct virtio_dev *vd;

	if (!(c->ops.features & (1ULL << VIRTIO_CONSOLE_F_SIZE)))
		return;
	pthread_mutex_lock(&c->lock);
	c->cols = cols;
	c->rows = rows;
	pthread_mutex_unlock(&c->lock);
	vd = virtio_worker_dev(&c->worker);
	/* Outside our lock: the transport may call config_read under its own
	 * lock (lock order transport -> device). */
	if (vd)
		virtio_config_changed(vd);
}

void virtio_console_save(struct virtio_console *c,
			 struct virtio_console_state *st)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	st->version = VIRTIO_CONSOLE_STATE_VERSION;
	pthread_mutex_lock(&c->lock);
	st->cols = c->cols;
	st->rows = c->rows;
	st->in_count = (uint32_t)c->in_count;
	for (i = 0; i < c->in_count; i++)
		st->in_buf[i] =
			c->in_buf[(c->in_head + i) % VIRTIO_CONSOLE_IN_BUF];
	pthread_mutex_unlock(&c->lock);
}

int virtio_console_load(struct virtio_console *c,
			const struct virtio_console_state *st)
{
	if (st->version != VIRTIO_CONSOLE_STATE_VERSION ||
	    st->in_count > VIRTIO_CONSOLE_IN_BUF)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (c->ops.features & (1ULL << VIRTIO_CONSOLE_F_SIZE)) {
		c->cols = st->cols;
		c->rows = st->rows;
	}
	memcpy(c->in_buf, st->in_buf, st->in_count);
	c->in_head = 0;
	c->in_count = st->in_count;
	pthread_mutex_unlock(&c->lock);
	virtio_worker_kick(&c->worker, 1u << CON_RXQ);
	return 0;
}

void virtio_console_get_stats(struct virtio_console *c,
			      struct virtio_console_stats *st)
{
	st->rx_bytes = atomic_load_explicit(&c->rx_bytes, memory_order_relaxed);
	st->tx_bytes = atomic_load_explicit(&c->tx_bytes, memory_order_relaxed);
	st->tx_requests = atomic_load_explicit(&c->tx_requests,
					       memory_order_relaxed);
}
