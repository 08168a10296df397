/*
 * virtio-mmio transport, version 2 (virtio 1.2, section 4.2): the register
 * file, the device status machine (2.1, 3.1), feature negotiation, queue
 * set-up and interrupts. The contract is in virtio.h; docs/virtio.md
 * describes the registers as built.
 *
 * Locks. `lock` serializes the guest's register accesses (vCPU threads) and
 * is held across the back end's config_read/config_write, start, reset and
 * queue_notify callbacks. Back-end threads never take it: everything they
 * call (virtio_notify, virtio_config_changed, virtio_device_error, the
 * getters) uses `isr_lock` or atomics only. That is what lets reset() wait
 * for the back end's threads while the vCPU holds `lock`.
 * Lock order: lock -> (back end's own locks) -> isr_lock -> irq sink.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "util/compiler.h"
#include "util/log.h"
#include "util/state_io.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "config space values are assembled in host order");

/* 4.2.2: register offsets */
enum {
	VMMIO_MAGIC = 0x000,
	VMMIO_VERSION = 0x004,
	VMMIO_DEVICE_ID = 0x008,
	VMMIO_VENDOR_ID = 0x00c,
	VMMIO_DEVICE_FEATURES = 0x010,
	VMMIO_DEVICE_FEATURES_SEL = 0x014,
	VMMIO_DRIVER_FEATURES = 0x020,
	VMMIO_DRIVER_FEATURES_SEL = 0x024,
	VMMIO_QUEUE_SEL = 0x030,
	VMMIO_QUEUE_NUM_MAX = 0x034,
	VMMIO_QUEUE_NUM = 0x038,
	VMMIO_QUEUE_READY = 0x044,
	VMMIO_QUEUE_NOTIFY = 0x050,
	VMMIO_INTERRUPT_STATUS = 0x060,
	VMMIO_INTERRUPT_ACK = 0x064,
	VMMIO_STATUS = 0x070,
	VMMIO_QUEUE_DESC_LOW = 0x080,
	VMMIO_QUEUE_DESC_HIGH = 0x084,
	VMMIO_QUEUE_DRIVER_LOW = 0x090,
	VMMIO_QUEUE_DRIVER_HIGH = 0x094,
	VMMIO_QUEUE_DEVICE_LOW = 0x0a0,
	VMMIO_QUEUE_DEVICE_HIGH = 0x0a4,
	VMMIO_SHM_SEL = 0x0ac,
	VMMIO_SHM_LEN_LOW = 0x0b0,
	VMMIO_SHM_LEN_HIGH = 0x0b4,
	VMMIO_SHM_BASE_LOW = 0x0b8,
	VMMIO_SHM_BASE_HIGH = 0x0bc,
	VMMIO_CONFIG_GENERATION = 0x0fc,
	VMMIO_CONFIG = 0x100,
};

#define VMMIO_MAGIC_VALUE 0x74726976u /* "virt" */
#define VMMIO_VERSION_2	  2u
/* Same vendor as QEMU ("QEMU"): no guest driver looks at it. */
#define VMMIO_VENDOR_VALUE 0x554d4551u

/* 4.2.2: InterruptStatus bits */
#define VMMIO_INT_VRING	 1u
#define VMMIO_INT_CONFIG 2u

#define TRANSPORT_FEATURES                                                 \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC) | \
	 (1ull << VIRTIO_F_EVENT_IDX))

/* Per-queue registers as the driver wrote them (plain data: snapshot
 * state), plus the live queue once QueueReady was accepted. */
struct vmmio_queue {
	uint32_t num;
	uint32_t ready;
	uint64_t desc, driver, device;
	struct virtq *vq;
};

struct virtio_dev {
	struct gmem *mem;
	const struct virtio_dev_ops *ops;
	void *opaque;
	struct irq_line irq;
	uint64_t host_features; /* ops->features | TRANSPORT_FEATURES */

	pthread_mutex_t lock; /* guest register accesses */
	uint32_t dev_features_sel;
	uint32_t drv_features_sel;
	uint32_t queue_sel;
	bool started; /* ops->start() called since the last reset */
	struct vmmio_queue queues[VIRTIO_MAX_QUEUES];
	/* Written under lock, read by back-end threads. */
	_Atomic uint64_t driver_features;
	_Atomic uint32_t status; /* without DEVICE_NEEDS_RESET */
	atomic_bool broken;	 /* DEVICE_NEEDS_RESET */
	_Atomic uint32_t config_gen;

	pthread_mutex_t isr_lock; /* isr and the irq line level */
	uint32_t isr;
	bool irq_level;
};

/* ---- interrupts (any thread) ------------------------------------------- */

static void isr_update(struct virtio_dev *vd, uint32_t set, uint32_t clear)
{
	bool level;

	pthread_mutex_lock(&vd->isr_lock);
	vd->isr = (vd->isr | set) & ~clear;
	level = vd->isr != 0;
	/* Level-triggered line: it follows InterruptStatus != 0 (4.2.2). */
	if (level != vd->irq_level) {
		vd->irq_level = level;
		irq_line_set(&vd->irq, level);
	}
	pthread_mutex_unlock(&vd->isr_lock);
}

static uint32_t isr_get(struct virtio_dev *vd)
{
	uint32_t v;

	pthread_mutex_lock(&vd->isr_lock);
	v = vd->isr;
	pthread_mutex_unlock(&vd->isr_lock);
	return v;
}

static bool driver_ok(const struct virtio_dev *vd)
{
	return atomic_load(&vd->status) & VIRTIO_STATUS_DRIVER_OK;
}

/* ---- status machine (2.1, 3.1.1, 4.2.3.1) ------------------------------ */

/* Caller holds lock. Back-end threads are stopped by ops->reset() before
 * the queues go away. */
static void vmmio_reset(struct virtio_dev *vd)
{
	if (vd->ops->reset)
		vd->ops->reset(vd->opaque);
	vd->started = false;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		virtq_destroy(vd->queues[i].vq);
		memset(&vd->queues[i], 0, sizeof(vd->queues[i]));
	}
	vd->dev_features_sel = 0;
	vd->drv_features_sel = 0;
	vd->queue_sel = 0;
	atomic_store(&vd->driver_features, 0);
	atomic_store(&vd->status, 0);
	atomic_store(&vd->broken, false);
	isr_update(vd, 0, ~0u);
}

/* 2.2.2 / 3.1.1: the driver may only accept what we offered, and a
 * version-2 transport works only with VIRTIO_F_VERSION_1. */
static bool features_acceptable(const struct virtio_dev *vd)
{
	uint64_t f = atomic_load(&vd->driver_features);

	if (f & ~vd->host_features) {
		log_warn("virtio",
			 "%s: driver accepted features %#llx not "
			 "offered (%#llx): FEATURES_OK refused",
			 vd->ops->name, (unsigned long long)f,
			 (unsigned long long)vd->host_features);
		return false;
	}
	if (!(f & (1ull << VIRTIO_F_VERSION_1))) {
		log_warn("virtio",
			 "%s: driver did not accept VERSION_1 "
			 "(legacy driver?): FEATURES_OK refused",
			 vd->ops->name);
		return false;
	}
	return true;
}

static void vmmio_write_status(struct virtio_dev *vd, uint32_t val)
{
	uint32_t old = atomic_load(&vd->status), now, added;

	if (val == 0) {
		vmmio_reset(vd);
		return;
	}
	/* The driver never clears a bit (2.1.1) and never sets
	 * DEVICE_NEEDS_RESET: keep what we have, add what is new. */
	now = old | (val & 0xff & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	added = now & ~old;
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(vd))
		now &= ~VIRTIO_STATUS_FEATURES_OK;
	if ((added & VIRTIO_STATUS_DRIVER_OK) &&
	    !(now & VIRTIO_STATUS_FEATURES_OK)) {
		log_warn("virtio", "%s: DRIVER_OK without FEATURES_OK ignored",
			 vd->ops->name);
		now &= ~VIRTIO_STATUS_DRIVER_OK;
	}
	atomic_store(&vd->status, now);
	if ((now & ~old & VIRTIO_STATUS_DRIVER_OK) && !vd->started) {
		vd->started = true;
		if (vd->ops->start)
			vd->ops->start(vd->opaque, vd);
	}
}

/* ---- queue registers (4.2.3.2) ----------------------------------------- */

/* The selected queue if the driver may still configure it: it exists, is
 * not live, and DRIVER_OK is not set. */
static struct vmmio_queue *setup_queue(struct virtio_dev *vd)
{
	struct vmmio_queue *q;

	if (vd->queue_sel >= vd->ops->n_queues || driver_ok(vd))
		return NULL;
	q = &vd->queues[vd->queue_sel];
	return q->ready ? NULL : q;
}

static void set_lo(uint64_t *r, uint32_t v)
{
	*r = (*r & ~0xffffffffull) | v;
}

static void set_hi(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffffull) | ((uint64_t)v << 32);
}

static void vmmio_queue_ready(struct virtio_dev *vd, uint32_t val)
{
	struct vmmio_queue *q;
	uint64_t f = atomic_load(&vd->driver_features);

	if (vd->queue_sel >= vd->ops->n_queues || driver_ok(vd))
		return;
	q = &vd->queues[vd->queue_sel];
	if (!val) {
		virtq_destroy(q->vq);
		q->vq = NULL;
		q->ready = 0;
		return;
	}
	if (q->ready)
		return;
	/* 3.1.1: queues are set up after FEATURES_OK, so the ring format
	 * (EVENT_IDX, INDIRECT_DESC) is known. */
	if (!(atomic_load(&vd->status) & VIRTIO_STATUS_FEATURES_OK) ||
	    q->num == 0 || q->num > vd->ops->queue_max) {
		log_warn("virtio", "%s: queue %u: QueueReady refused (num %u)",
			 vd->ops->name, vd->queue_sel, q->num);
		return;
	}
	q->vq = virtq_create(vd->mem, (uint16_t)q->num, q->desc, q->driver,
			     q->device, f & (1ull << VIRTIO_F_EVENT_IDX),
			     f & (1ull << VIRTIO_F_INDIRECT_DESC));
	if (!q->vq) {
		log_warn("virtio",
			 "%s: queue %u: bad rings (num %u desc %#llx "
			 "driver %#llx device %#llx): QueueReady refused",
			 vd->ops->name, vd->queue_sel, q->num,
			 (unsigned long long)q->desc,
			 (unsigned long long)q->driver,
			 (unsigned long long)q->device);
		return;
	}
	q->ready = 1;
}

/* ---- register file ----------------------------------------------------- */

static uint64_t vmmio_config_read(struct virtio_dev *vd, uint64_t off,
				  unsigned size)
{
	uint64_t v = 0;

	if (off >= vd->ops->config_size || size > vd->ops->config_size - off ||
	    !vd->ops->config_read)
		return 0;
	vd->ops->config_read(vd->opaque, (uint32_t)off, &v, size);
	return v;
}

static void vmmio_config_write(struct virtio_dev *vd, uint64_t off, uint64_t v,
			       unsigned size)
{
	if (off >= vd->ops->config_size || size > vd->ops->config_size - off ||
	    !vd->ops->config_write)
		return;
	vd->ops->config_write(vd->opaque, (uint32_t)off, &v, size);
}

static uint32_t vmmio_read_reg(struct virtio_dev *vd, uint64_t off)
{
	const struct vmmio_queue *q = NULL;

	if (vd->queue_sel < vd->ops->n_queues)
		q = &vd->queues[vd->queue_sel];
	switch (off) {
	case VMMIO_MAGIC: return VMMIO_MAGIC_VALUE;
	case VMMIO_VERSION: return VMMIO_VERSION_2;
	case VMMIO_DEVICE_ID: return vd->ops->device_id;
	case VMMIO_VENDOR_ID: return VMMIO_VENDOR_VALUE;
	case VMMIO_DEVICE_FEATURES:
		if (vd->dev_features_sel > 1)
			return 0;
		return (uint32_t)(vd->host_features >>
				  (32 * vd->dev_features_sel));
	case VMMIO_QUEUE_NUM_MAX: return q ? vd->ops->queue_max : 0;
	case VMMIO_QUEUE_READY: return q ? q->ready : 0;
	case VMMIO_INTERRUPT_STATUS: return isr_get(vd);
	case VMMIO_STATUS:
		return atomic_load(&vd->status) |
		       (atomic_load(&vd->broken)
				? VIRTIO_STATUS_DEVICE_NEEDS_RESET
				: 0);
	case VMMIO_SHM_LEN_LOW:
	case VMMIO_SHM_LEN_HIGH:
	case VMMIO_SHM_BASE_LOW:
	case VMMIO_SHM_BASE_HIGH:
		/* 4.2.2: no shared memory regions: length (and base) -1. */
		return 0xffffffffu;
	case VMMIO_CONFIG_GENERATION: return atomic_load(&vd->config_gen);
	default: return 0; /* write-only or unknown */
	}
}

static void vmmio_write_reg(struct virtio_dev *vd, uint64_t off, uint32_t v)
{
	struct vmmio_queue *q;
	uint64_t f;

	switch (off) {
	case VMMIO_DEVICE_FEATURES_SEL: vd->dev_features_sel = v; break;
	case VMMIO_DRIVER_FEATURES:
		/* 3.1.1: features are fixed once FEATURES_OK is set. */
		if (vd->drv_features_sel > 1 ||
		    (atomic_load(&vd->status) & VIRTIO_STATUS_FEATURES_OK))
			break;
		f = atomic_load(&vd->driver_features);
		if (vd->drv_features_sel)
			set_hi(&f, v);
		else
			set_lo(&f, v);
		atomic_store(&vd->driver_features, f);
		break;
	case VMMIO_DRIVER_FEATURES_SEL: vd->drv_features_sel = v; break;
	case VMMIO_QUEUE_SEL: vd->queue_sel = v; break;
	case VMMIO_QUEUE_NUM:
		q = setup_queue(vd);
		if (q)
			q->num = v;
		break;
	case VMMIO_QUEUE_READY: vmmio_queue_ready(vd, v); break;
	case VMMIO_QUEUE_NOTIFY:
		/* The vCPU only kicks: the back end does the work. */
		if (v < vd->ops->n_queues && vd->started && vd->queues[v].vq &&
		    !atomic_load(&vd->broken) && vd->ops->queue_notify)
			vd->ops->queue_notify(vd->opaque, v);
		break;
	case VMMIO_INTERRUPT_ACK: isr_update(vd, 0, v); break;
	case VMMIO_STATUS: vmmio_write_status(vd, v); break;
	case VMMIO_QUEUE_DESC_LOW:
	case VMMIO_QUEUE_DESC_HIGH:
	case VMMIO_QUEUE_DRIVER_LOW:
	case VMMIO_QUEUE_DRIVER_HIGH:
	case VMMIO_QUEUE_DEVICE_LOW:
	case VMMIO_QUEUE_DEVICE_HIGH: {
		uint64_t *r;

		q = setup_queue(vd);
		if (!q)
			break;
		if (off < VMMIO_QUEUE_DRIVER_LOW)
			r = &q->desc;
		else if (off < VMMIO_QUEUE_DEVICE_LOW)
			r = &q->driver;
		else
			r = &q->device;
		if (off & 4)
			set_hi(r, v);
		else
			set_lo(r, v);
		break;
	}
	default: break; /* read-only or unknown: ignored */
	}
}

static uint64_t vmmio_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_dev *vd = opaque;
	uint64_t v;

	/* 4.2.2.2: registers are 32-bit; config space any width. */
	if (off < VMMIO_CONFIG && (size != 4 || (off & 3)))
		return 0;
	pthread_mutex_lock(&vd->lock);
	if (off >= VMMIO_CONFIG)
		v = vmmio_config_read(vd, off - VMMIO_CONFIG, size);
	else
		v = vmmio_read_reg(vd, off);
	pthread_mutex_unlock(&vd->lock);
	return v;
}

static void vmmio_write(void *opaque, uint64_t off, uint64_t value,
			unsigned size)
{
	struct virtio_dev *vd = opaque;

	if (off < VMMIO_CONFIG && (size != 4 || (off & 3)))
		return;
	pthread_mutex_lock(&vd->lock);
	if (off >= VMMIO_CONFIG)
		vmmio_config_write(vd, off - VMMIO_CONFIG, value, size);
	else
		vmmio_write_reg(vd, off, (uint32_t)value);
	pthread_mutex_unlock(&vd->lock);
}

static const struct mmio_ops vmmio_ops = {
	.read = vmmio_read,
	.write = vmmio_write,
};

const struct mmio_ops *virtio_mmio_ops(void)
{
	return &vmmio_ops;
}

/* ---- lifetime ---------------------------------------------------------- */

struct virtio_dev *virtio_mmio_create(struct gmem *mem,
				      const struct virtio_dev_ops *ops,
				      void *opaque, const struct irq_line *irq,
				      struct error *err)
{
	struct virtio_dev *vd;
	const char *name = ops && ops->name ? ops->name : "virtio";

	if (!ops || ops->n_queues < 1 || ops->n_queues > VIRTIO_MAX_QUEUES ||
	    !IS_POW2(ops->queue_max) || ops->queue_max > 32768 ||
	    (ops->config_size && !ops->config_read)) {
		error_set(err, EINVAL, "%s: bad virtio device description",
			  name);
		return NULL;
	}
	vd = calloc(1, sizeof(*vd));
	if (!vd) {
		error_set(err, ENOMEM, "%s: out of memory", name);
		return NULL;
	}
	vd->mem = mem;
	vd->ops = ops;
	vd->opaque = opaque;
	if (irq)
		vd->irq = *irq;
	vd->host_features = ops->features | TRANSPORT_FEATURES;
	pthread_mutex_init(&vd->lock, NULL);
	pthread_mutex_init(&vd->isr_lock, NULL);
	return vd;
}

void virtio_mmio_destroy(struct virtio_dev *vd)
{
	if (!vd)
		return;
	pthread_mutex_lock(&vd->lock);
	vmmio_reset(vd);
	pthread_mutex_unlock(&vd->lock);
	pthread_mutex_destroy(&vd->lock);
	pthread_mutex_destroy(&vd->isr_lock);
	free(vd);
}

/* ---- for back ends (any thread) ---------------------------------------- */

struct virtq *virtio_queue(struct virtio_dev *vd, unsigned q)
{
	if (q >= vd->ops->n_queues)
		return NULL;
	return vd->queues[q].vq;
}

uint64_t virtio_features(const struct virtio_dev *vd)
{
	return atomic_load(&vd->driver_features);
}

void virtio_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtq *vq = virtio_queue(vd, q);

	if (vq && virtq_need_notify(vq))
		isr_update(vd, VMMIO_INT_VRING, 0);
}

void virtio_config_changed(struct virtio_dev *vd)
{
	atomic_fetch_add(&vd->config_gen, 1);
	/* Before DRIVER_OK the driver reads the config itself (3.1.1). */
	if (driver_ok(vd))
		isr_update(vd, VMMIO_INT_CONFIG, 0);
}

void virtio_device_error(struct virtio_dev *vd, const char *what)
{
	if (atomic_exchange(&vd->broken, true))
		return;
	log_warn("virtio", "%s: %s: device needs reset", vd->ops->name,
		 what ? what : "malformed request");
	/* 2.1.2: with DRIVER_OK set, tell the driver through a
	 * configuration change notification. */
	if (driver_ok(vd))
		isr_update(vd, VMMIO_INT_CONFIG, 0);
}

bool virtio_broken(const struct virtio_dev *vd)
{
	return atomic_load(&vd->broken);
}

struct gmem *virtio_mem(const struct virtio_dev *vd)
{
	return vd->mem;
}

/* ---- save and restore (docs/vm-state.md) --------------------------------- */

/* 1: the transport; 2: then the device's own state (ops->save_state) */
#define VMMIO_STATE_VERSION 2

const char *virtio_mmio_name(const struct virtio_dev *vd)
{
	return vd->ops->name ? vd->ops->name : "virtio";
}

bool virtio_mmio_can_save(const struct virtio_dev *vd)
{
	return vd->ops->quiesce != NULL;
}

void virtio_mmio_quiesce(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	if (vd->started && vd->ops->quiesce)
		vd->ops->quiesce(vd->opaque);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_mmio_resume(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	if (vd->started && vd->ops->start)
		vd->ops->start(vd->opaque, vd);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_mmio_save(struct virtio_dev *vd, uint32_t instance,
		      struct state_writer *w)
{
	pthread_mutex_lock(&vd->lock);
	state_begin(w, "virtio-mmio", instance, VMMIO_STATE_VERSION);
	state_put_u32(w, vd->ops->device_id);
	state_put_u32(w, vd->ops->n_queues);
	state_put_u32(w, atomic_load(&vd->status));
	state_put_u8(w, atomic_load(&vd->broken));
	state_put_u8(w, vd->started);
	state_put_u64(w, atomic_load(&vd->driver_features));
	state_put_u32(w, vd->dev_features_sel);
	state_put_u32(w, vd->drv_features_sel);
	state_put_u32(w, vd->queue_sel);
	state_put_u32(w, atomic_load(&vd->config_gen));
	state_put_u32(w, isr_get(vd));
	for (unsigned i = 0; i < vd->ops->n_queues; i++) {
		const struct vmmio_queue *q = &vd->queues[i];
		struct virtq_state qs = { 0 };
		if (q->vq)
			virtq_get_state(q->vq, &qs);
		state_put_u32(w, q->num);
		state_put_u32(w, q->ready);
		state_put_u64(w, q->desc);
		state_put_u64(w, q->driver);
		state_put_u64(w, q->device);
		state_put_u16(w, qs.last_avail);
		state_put_u16(w, qs.used_idx);
		state_put_u16(w, qs.signalled_used);
		state_put_u8(w, qs.notify_enabled);
	}
	if (vd->ops->save_state)
		vd->ops->save_state(vd->opaque, w);
	pthread_mutex_unlock(&vd->lock);
}

static int vmmio_load_locked(struct virtio_dev *vd, uint32_t instance,
			     struct state_reader *r, struct error *err)
{
	struct vmmio_queue qs[VIRTIO_MAX_QUEUES];
	struct virtq_state vs[VIRTIO_MAX_QUEUES];
	const char *name = vd->ops->name;

	if (!state_is(r, "virtio-mmio") || r->instance != instance)
		return state_fail(r, err, EINVAL, "expected virtio-mmio/%u",
				  instance);
	int rc = state_check_version(r, VMMIO_STATE_VERSION, err);
	if (rc)
		return rc;
	uint32_t id = state_get_u32(r), nq = state_get_u32(r);
	/* fewer queues: saved before the device gained one (virtio-net's
	 * control queue); the missing ones stay unset, as after a reset */
	if (!r->short_read && (id != (uint32_t)vd->ops->device_id ||
			       nq > vd->ops->n_queues || nq == 0))
		return state_fail(r, err, EINVAL,
				  "saved for virtio device type %u with %u "
				  "queues, this slot has %s",
				  id, nq, name);
	uint32_t status = state_get_u32(r);
	bool broken = state_get_u8(r), started = state_get_u8(r);
	uint64_t feat = state_get_u64(r);
	uint32_t dsel = state_get_u32(r), drsel = state_get_u32(r);
	uint32_t qsel = state_get_u32(r), gen = state_get_u32(r);
	uint32_t isr = state_get_u32(r);
	for (unsigned i = 0; i < nq && i < VIRTIO_MAX_QUEUES; i++) {
		qs[i].num = state_get_u32(r);
		qs[i].ready = state_get_u32(r);
		qs[i].desc = state_get_u64(r);
		qs[i].driver = state_get_u64(r);
		qs[i].device = state_get_u64(r);
		vs[i].last_avail = state_get_u16(r);
		vs[i].used_idx = state_get_u16(r);
		vs[i].signalled_used = state_get_u16(r);
		vs[i].notify_enabled = state_get_u8(r);
	}
	/* version 2: the device's own state follows (read after the reset
	 * below); then the section must be done */
	bool dev_part = r->version >= 2 && vd->ops->load_state;
	if (r->short_read || !dev_part) {
		rc = state_section_done(r, err);
		if (rc)
			return rc;
	}
	if (status & ~0xffu)
		return state_fail(r, err, EINVAL, "%s: status %#x", name,
				  status);
	if (feat & ~vd->host_features)
		return state_fail(r, err, EINVAL,
				  "%s: features %#llx not offered (%#llx)",
				  name, (unsigned long long)feat,
				  (unsigned long long)vd->host_features);
	if (started && !(status & VIRTIO_STATUS_DRIVER_OK))
		return state_fail(r, err, EINVAL,
				  "%s: started without DRIVER_OK", name);

	vmmio_reset(vd);
	if (dev_part) {
		rc = vd->ops->load_state(vd->opaque, r, err);
		if (!rc)
			rc = state_section_done(r, err);
		if (rc)
			return rc;
	}
	vd->dev_features_sel = dsel;
	vd->drv_features_sel = drsel;
	vd->queue_sel = qsel;
	atomic_store(&vd->driver_features, feat);
	atomic_store(&vd->config_gen, gen);
	for (unsigned i = 0; i < nq; i++) {
		struct vmmio_queue *q = &vd->queues[i];
		if (qs[i].num > vd->ops->queue_max)
			return state_fail(r, err, EINVAL,
					  "%s: queue %u of %u entries, at "
					  "most %u",
					  name, i, qs[i].num,
					  vd->ops->queue_max);
		q->num = qs[i].num;
		q->desc = qs[i].desc;
		q->driver = qs[i].driver;
		q->device = qs[i].device;
		if (!qs[i].ready)
			continue;
		q->vq = virtq_create(vd->mem, (uint16_t)q->num, q->desc,
				     q->driver, q->device,
				     feat & (1ull << VIRTIO_F_EVENT_IDX),
				     feat & (1ull << VIRTIO_F_INDIRECT_DESC));
		if (!q->vq)
			return state_fail(r, err, EINVAL,
					  "%s: queue %u: bad rings", name, i);
		virtq_set_state(q->vq, &vs[i]);
		q->ready = 1;
	}
	atomic_store(&vd->status, status & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	atomic_store(&vd->broken, broken);
	isr_update(vd, isr & (VMMIO_INT_VRING | VMMIO_INT_CONFIG), 0);
	if (started) {
		vd->started = true;
		if (vd->ops->start)
			vd->ops->start(vd->opaque, vd);
	}
	return 0;
}

int virtio_mmio_load(struct virtio_dev *vd, uint32_t instance,
		     struct state_reader *r, struct error *err)
{
	pthread_mutex_lock(&vd->lock);
	int rc = vmmio_load_locked(vd, instance, r, err);
	if (rc)
		vmmio_reset(vd); /* nothing half-loaded stays */
	pthread_mutex_unlock(&vd->lock);
	return rc;
}
