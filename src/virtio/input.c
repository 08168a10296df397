/*
 * virtio-input power button (virtio 1.2, section 5.8). See input.h.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "util/log.h"
#include "virtio/input.h"
#include "virtio/worker.h"

#define LOG_SUB "virtio-input"

enum { INPUT_EVENTQ = 0, INPUT_STATUSQ = 1 };

/* Offsets in struct virtio_input_config (5.8.4). */
enum { CFG_SELECT = 0, CFG_SUBSEL = 1, CFG_SIZE = 2, CFG_U = 8 };
#define CFG_U_SIZE (VIRTIO_INPUT_CONFIG_SIZE - CFG_U)

_Static_assert(VIRTIO_INPUT_CONFIG_SIZE == 8 + 128, "5.8.4 layout");
_Static_assert(VIRTIO_INPUT_KEY_POWER / 8 < CFG_U_SIZE, "bitmap size");
_Static_assert(VIRTIO_INPUT_PENDING >= 8, "room for two presses");

struct virtio_input {
	struct virtio_dev_ops ops;

	/* Serves both queues; events: 1 << INPUT_EVENTQ (eventq notified or
	 * new events), 1 << INPUT_STATUSQ (statusq notified). Lock order:
	 * lock, then the worker's (kicks under lock are fine). */
	struct virtio_worker worker;

	pthread_mutex_t lock; /* everything below except the counters */
	uint8_t select, subsel;

	/* Events not yet in a guest buffer, oldest first, in groups (a press
	 * is one group): first[i] marks the first event of a group. If
	 * first[0] is clear, the head group is being delivered and is never
	 * dropped (the guest would see the key stay down). */
	struct virtio_input_event pending[VIRTIO_INPUT_PENDING];
	bool first[VIRTIO_INPUT_PENDING];
	unsigned n_pending;

	_Atomic uint64_t presses, presses_dropped, events, status_events;

	/* Worker scratch: one request per queue; ev_req may be held popped
	 * (have_req) until an event comes for it. */
	struct virtq_req ev_req, st_req;
	bool have_req;
};

/* ---- configuration space (5.8.4, 5.8.5) -------------------------------- */

static void cfg_string(uint8_t *cfg, const char *s)
{
	size_t n = strlen(s);

	if (n > CFG_U_SIZE)
		n = CFG_U_SIZE;
	memcpy(cfg + CFG_U, s, n);
	cfg[CFG_SIZE] = (uint8_t)n;
}

static void cfg_u16(uint8_t *cfg, unsigned off, uint16_t v)
{
	v = htole16(v);
	memcpy(cfg + CFG_U + off, &v, 2);
}

/*
 * 5.8.5.2: the device answers a select/subsel pair with size and the
 * union, and sets size to 0 for a pair it does not support. A power button
 * has a name, a serial, bus ids, no properties, one event type (EV_KEY)
 * with one code (KEY_POWER) and no axes. EV_SYN is not announced: Linux's
 * driver asks only for EV_KEY..EV_SND and the input core gives every
 * device EV_SYN; SYN_REPORT events are delivered all the same.
 */
void virtio_input_config_image(uint8_t select, uint8_t subsel,
			       uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE])
{
	memset(cfg, 0, VIRTIO_INPUT_CONFIG_SIZE);
	cfg[CFG_SELECT] = select;
	cfg[CFG_SUBSEL] = subsel;
	switch (select) {
	case VIRTIO_INPUT_CFG_ID_NAME:
		if (subsel == 0)
			cfg_string(cfg, VIRTIO_INPUT_POWER_NAME);
		break;
	case VIRTIO_INPUT_CFG_ID_SERIAL:
		if (subsel == 0)
			cfg_string(cfg, VIRTIO_INPUT_POWER_SERIAL);
		break;
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
		if (subsel != 0)
			break;
		cfg_u16(cfg, 0, VIRTIO_INPUT_BUS_VIRTUAL);
		cfg_u16(cfg, 2, VIRTIO_INPUT_POWER_VENDOR);
		cfg_u16(cfg, 4, VIRTIO_INPUT_POWER_PRODUCT);
		cfg_u16(cfg, 6, VIRTIO_INPUT_POWER_VERSION);
		cfg[CFG_SIZE] = 8;
		break;
	case VIRTIO_INPUT_CFG_EV_BITS:
		/* Bit n of the bitmap is code n: byte n / 8, bit n % 8. The
		 * size covers the bytes up to the last non-zero one. */
		if (subsel != VIRTIO_INPUT_EV_KEY)
			break;
		cfg[CFG_U + VIRTIO_INPUT_KEY_POWER / 8] |=
			(uint8_t)(1u << (VIRTIO_INPUT_KEY_POWER % 8));
		cfg[CFG_SIZE] = VIRTIO_INPUT_KEY_POWER / 8 + 1;
		break;
	default: /* UNSET, PROP_BITS (empty), ABS_INFO (no axes), unknown */
		break;
	}
}

static void input_config_read(void *opaque, uint32_t off, void *buf,
			      uint32_t len)
{
	struct virtio_input *in = opaque;
	uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE];
	uint8_t select, subsel;

	pthread_mutex_lock(&in->lock);
	select = in->select;
	subsel = in->subsel;
	pthread_mutex_unlock(&in->lock);
	virtio_input_config_image(select, subsel, cfg);
	memset(buf, 0, len);
	if (off < sizeof(cfg))
		memcpy(buf, cfg + off,
		       len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

/* 5.8.5.1: the driver writes select and subsel; every other byte is
 * read-only and a write to it is ignored. buf holds the value little-endian
 * (low byte first), whatever the access width. */
static void input_config_write(void *opaque, uint32_t off, const void *buf,
			       uint32_t len)
{
	struct virtio_input *in = opaque;
	const uint8_t *b = buf;
	uint32_t i;

	pthread_mutex_lock(&in->lock);
	for (i = 0; i < len && off + i <= CFG_SUBSEL; i++) {
		if (off + i == CFG_SELECT)
			in->select = b[i];
		else if (off + i == CFG_SUBSEL)
			in->subsel = b[i];
	}
	pthread_mutex_unlock(&in->lock);
}

/* ---- pending events ----------------------------------------------------- */

/* Index of the group after the one holding event from (n_pending if it is
 * the last). Caller holds the lock. */
static unsigned group_end(const struct virtio_input *in, unsigned from)
{
	unsigned i;

	for (i = from + 1; i < in->n_pending; i++)
		if (in->first[i])
			return i;
	return in->n_pending;
}

/* Remove events [start, end). Caller holds the lock. */
static void remove_events(struct virtio_input *in, unsigned start, unsigned end)
{
	memmove(&in->pending[start], &in->pending[end],
		(in->n_pending - end) * sizeof(in->pending[0]));
	memmove(&in->first[start], &in->first[end],
		(in->n_pending - end) * sizeof(in->first[0]));
	in->n_pending -= end - start;
}

/* Drop the oldest whole group that is not being delivered; false if there
 * is none. 5.8.6.2: a device may drop events when the eventq has no
 * buffers, but not single events of one update. Caller holds the lock. */
static bool drop_oldest(struct virtio_input *in)
{
	unsigned start = 0;

	if (in->n_pending && !in->first[0])
		start = group_end(in, 0);
	if (start >= in->n_pending)
		return false;
	remove_events(in, start, group_end(in, start));
	return true;
}

/* Queue n events as one group. 1 if older groups were dropped for it, 0
 * if not, -ENOSPC if it does not fit at all. Caller holds the lock. */
static int queue_events(struct virtio_input *in,
			const struct virtio_input_event *ev, unsigned n)
{
	int dropped = 0;

	if (n > VIRTIO_INPUT_PENDING)
		return -ENOSPC;
	while (VIRTIO_INPUT_PENDING - in->n_pending < n) {
		if (!drop_oldest(in))
			return -ENOSPC;
		dropped = 1;
	}
	memcpy(&in->pending[in->n_pending], ev, n * sizeof(*ev));
	memset(&in->first[in->n_pending], 0, n * sizeof(in->first[0]));
	in->first[in->n_pending] = true;
	in->n_pending += n;
	virtio_worker_kick(&in->worker, 1u << INPUT_EVENTQ);
	return dropped;
}

/* Take the oldest pending event; false if there is none. Caller holds the
 * lock. */
static bool take_event(struct virtio_input *in, struct virtio_input_event *e)
{
	if (!in->n_pending)
		return false;
	*e = in->pending[0];
	remove_events(in, 0, 1);
	return true;
}

int virtio_input_power_press(struct virtio_input *in)
{
	static const struct virtio_input_event press[] = {
		{ VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_KEY_POWER, 1 },
		{ VIRTIO_INPUT_EV_SYN, VIRTIO_INPUT_SYN_REPORT, 0 },
		{ VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_KEY_POWER, 0 },
		{ VIRTIO_INPUT_EV_SYN, VIRTIO_INPUT_SYN_REPORT, 0 },
	};
	int rc;

	atomic_fetch_add_explicit(&in->presses, 1, memory_order_relaxed);
	pthread_mutex_lock(&in->lock);
	rc = queue_events(in, press, sizeof(press) / sizeof(press[0]));
	pthread_mutex_unlock(&in->lock);
	if (rc > 0) {
		atomic_fetch_add_explicit(&in->presses_dropped, 1,
					  memory_order_relaxed);
		log_warn(LOG_SUB, "power button: the guest does not take "
				  "events; dropped the oldest press");
	}
	return rc;
}

/* ---- the worker ---------------------------------------------------------- */

/* Copy len bytes into the request's device-writable buffers (an event may
 * be split across descriptors); the caller checked in_len >= len. */
static void copy_to_in(const struct virtq_req *req, const uint8_t *src,
		       size_t len)
{
	unsigned i;

	for (i = req->n_out; i < req->n_out + req->n_in && len; i++) {
		size_t n = req->iov[i].iov_len < len ? req->iov[i].iov_len
						     : len;

		memcpy(req->iov[i].iov_base, src, n);
		src += n;
		len -= n;
	}
}

/* 5.8.6.2: the device fills eventq buffers with one event each, in order.
 * 5.8.6.1 says they are device-writable and hold at least one event; a
 * buffer that does not is a driver error. */
static void input_process_events(struct virtio_input *in, struct virtio_dev *vd)
{
	struct virtq *vq = virtio_queue(vd, INPUT_EVENTQ);
	struct virtio_input_event e;
	bool pushed = false;
	uint8_t wire[VIRTIO_INPUT_EVENT_SIZE];
	uint16_t v16;
	uint32_t v32;
	int rc = 0;

	if (!vq)
		return;
	for (;;) {
		bool any;

		pthread_mutex_lock(&in->lock);
		any = in->n_pending > 0;
		pthread_mutex_unlock(&in->lock);
		if (!any)
			break;
		if (!in->have_req) {
			rc = virtq_pop(vq, &in->ev_req);
			if (rc <= 0)
				break;
			in->have_req = true;
		}
		if (in->ev_req.n_out ||
		    in->ev_req.in_len < VIRTIO_INPUT_EVENT_SIZE) {
			in->have_req = false;
			virtio_device_error(vd, "input: eventq buffer not "
						"device-writable or too small");
			return;
		}
		pthread_mutex_lock(&in->lock);
		any = take_event(in, &e);
		pthread_mutex_unlock(&in->lock);
		if (!any)
			break; /* keep the buffer for the next event */
		v16 = htole16(e.type);
		memcpy(wire, &v16, 2);
		v16 = htole16(e.code);
		memcpy(wire + 2, &v16, 2);
		v32 = htole32(e.value);
		memcpy(wire + 4, &v32, 4);
		copy_to_in(&in->ev_req, wire, sizeof(wire));
		virtq_push(vq, &in->ev_req, sizeof(wire));
		in->have_req = false;
		pushed = true;
		atomic_fetch_add_explicit(&in->events, 1, memory_order_relaxed);
	}
	if (rc < 0)
		virtio_device_error(vd, "input: malformed eventq");
	else if (pushed)
		virtio_notify(vd, INPUT_EVENTQ);
}

/* 5.8.6: statusq buffers carry events from the driver (LEDs, ...). A
 * power button has no outputs: complete them unread. */
static void input_process_status(struct virtio_input *in, struct virtio_dev *vd)
{
	struct virtq *vq = virtio_queue(vd, INPUT_STATUSQ);
	bool pushed = false;
	int rc;

	if (!vq)
		return;
	while ((rc = virtq_pop(vq, &in->st_req)) > 0) {
		virtq_push(vq, &in->st_req, 0);
		pushed = true;
		atomic_fetch_add_explicit(&in->status_events, 1,
					  memory_order_relaxed);
	}
	if (rc < 0)
		virtio_device_error(vd, "input: malformed statusq");
	else if (pushed)
		virtio_notify(vd, INPUT_STATUSQ);
}

/* The worker's process function. */
static void input_process(void *opaque, struct virtio_dev *vd, uint32_t events)
{
	struct virtio_input *in = opaque;

	if (events & (1u << INPUT_STATUSQ))
		input_process_status(in, vd);
	if ((events & (1u << INPUT_EVENTQ)) && !virtio_broken(vd))
		input_process_events(in, vd);
}

static void input_start(void *opaque, struct virtio_dev *vd)
{
	struct virtio_input *in = opaque;

	in->have_req = false; /* worker scratch; no worker runs */
	/* buffers may be queued already */
	virtio_worker_start(&in->worker, vd,
			    1u << INPUT_EVENTQ | 1u << INPUT_STATUSQ);
}

/* Pending events stay: see input.h. A buffer popped but not filled goes
 * with the queue the driver is resetting. */
static void input_reset(void *opaque)
{
	struct virtio_input *in = opaque;
	struct virtio_dev *vd = virtio_worker_dev(&in->worker);

	pthread_mutex_lock(&in->lock);
	in->select = in->subsel = 0;
	pthread_mutex_unlock(&in->lock);
	virtio_worker_stop(&in->worker);
	/* the worker is gone: its scratch is ours */
	if (vd && in->have_req)
		virtq_req_release(virtio_mem(vd), &in->ev_req);
	in->have_req = false;
}

/*
 * VM save (docs/vm-state.md): the worker stops after the request it is
 * serving (statusq buffers are completed at once, so none is in flight);
 * the eventq buffer held for the next event is the most recent pop of
 * that queue and goes back to it (virtq_unpop), to be popped again after
 * the restore. Events not yet delivered (a press racing the save) are not
 * part of the state: they are delivered here if the VM goes on, and lost
 * with the machine if it ends.
 */
static void input_quiesce(void *opaque)
{
	struct virtio_input *in = opaque;
	struct virtio_dev *vd = virtio_worker_dev(&in->worker);

	virtio_worker_stop(&in->worker);
	if (vd && in->have_req) {
		struct virtq *vq = virtio_queue(vd, INPUT_EVENTQ);

		virtq_req_release(virtio_mem(vd), &in->ev_req);
		if (vq)
			virtq_unpop(vq, 1);
	}
	in->have_req = false;
}

static void input_queue_notify(void *opaque, unsigned q)
{
	struct virtio_input *in = opaque;

	if (q == INPUT_EVENTQ || q == INPUT_STATUSQ)
		virtio_worker_kick(&in->worker, 1u << q);
}

/* ---- object -------------------------------------------------------------- */

struct virtio_input *virtio_input_create(struct error *err)
{
	struct virtio_input *in = calloc(1, sizeof(*in));

	if (!in) {
		error_set(err, ENOMEM, "virtio-input: out of memory");
		return NULL;
	}
	pthread_mutex_init(&in->lock, NULL);
	virtio_worker_init(&in->worker, LOG_SUB, input_process, in);
	in->ops = (struct virtio_dev_ops){
		.name = "virtio-input",
		.device_id = VIRTIO_ID_INPUT,
		.n_queues = 2,
		.queue_max = VIRTIO_INPUT_QUEUE_SIZE,
		.features = 0, /* 5.8.3: none */
		.config_size = VIRTIO_INPUT_CONFIG_SIZE,
		.config_read = input_config_read,
		.config_write = input_config_write,
		.start = input_start,
		.reset = input_reset,
		.quiesce = input_quiesce,
		.queue_notify = input_queue_notify,
	};
	return in;
}

void virtio_input_destroy(struct virtio_input *in)
{
	if (!in)
		return;
	input_reset(in);
	virtio_worker_destroy(&in->worker);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

const struct virtio_dev_ops *virtio_input_dev_ops(struct virtio_input *in)
{
	return &in->ops;
}

void virtio_input_get_stats(struct virtio_input *in,
			    struct virtio_input_stats *st)
{
	st->presses = atomic_load_explicit(&in->presses, memory_order_relaxed);
	st->presses_dropped = atomic_load_explicit(&in->presses_dropped,
						   memory_order_relaxed);
	st->events = atomic_load_explicit(&in->events, memory_order_relaxed);
	st->status_events = atomic_load_explicit(&in->status_events,
						 memory_order_relaxed);
	pthread_mutex_lock(&in->lock);
	st->pending = in->n_pending;
	pthread_mutex_unlock(&in->lock);
}

void virtio_input_save(struct virtio_input *in, struct virtio_input_state *st)
{
	memset(st, 0, sizeof(*st));
	st->version = VIRTIO_INPUT_STATE_VERSION;
	pthread_mutex_lock(&in->lock);
	st->select = in->select;
	st->subsel = in->subsel;
	st->n_pending = in->n_pending;
	for (unsigned i = 0; i < in->n_pending; i++) {
		st->pending[i] = in->pending[i];
		st->group_start[i] = in->first[i];
	}
	pthread_mutex_unlock(&in->lock);
}

int virtio_input_load(struct virtio_input *in,
		      const struct virtio_input_state *st)
{
	if (st->version != VIRTIO_INPUT_STATE_VERSION ||
	    st->n_pending > VIRTIO_INPUT_PENDING)
		return -EINVAL;
	pthread_mutex_lock(&in->lock);
	in->select = st->select;
	in->subsel = st->subsel;
	in->n_pending = st->n_pending;
	for (unsigned i = 0; i < st->n_pending; i++) {
		in->pending[i] = st->pending[i];
		in->first[i] = st->group_start[i] != 0;
	}
	virtio_worker_kick(&in->worker, 1u << INPUT_EVENTQ);
	pthread_mutex_unlock(&in->lock);
	return 0;
}
