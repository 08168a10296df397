/*
 * Unit tests for src/virtio/mmio.c: the driver's initialization sequence
 * (3.1.1) through virtio_mmio_ops() against a fake back end; feature
 * negotiation, queue set-up, notify, interrupts, config space, reset and
 * DEVICE_NEEDS_RESET.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mem/gmem.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (1ull << 20)

/* Register offsets (4.2.2) written out independently of mmio.c. */
#define R_MAGIC	      0x000
#define R_VERSION     0x004
#define R_DEVICE_ID   0x008
#define R_VENDOR_ID   0x00c
#define R_DEV_FEAT    0x010
#define R_DEV_FEAT_S  0x014
#define R_DRV_FEAT    0x020
#define R_DRV_FEAT_S  0x024
#define R_QUEUE_SEL   0x030
#define R_QUEUE_MAX   0x034
#define R_QUEUE_NUM   0x038
#define R_QUEUE_READY 0x044
#define R_NOTIFY      0x050
#define R_INT_STATUS  0x060
#define R_INT_ACK     0x064
#define R_STATUS      0x070
#define R_DESC_LO     0x080
#define R_DESC_HI     0x084
#define R_DRIVER_LO   0x090
#define R_DRIVER_HI   0x094
#define R_DEVICE_LO   0x0a0
#define R_DEVICE_HI   0x0a4
#define R_SHM_LEN_LO  0x0b0
#define R_CONFIG_GEN  0x0fc
#define R_CONFIG      0x100

#define S_ACK	      1
#define S_DRIVER      2
#define S_DRIVER_OK   4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64

#define DEV_FEATURE_BIT 5 /* a device-specific feature we offer */

struct fake {
	int start_calls, reset_calls;
	int notify_calls;
	unsigned last_notify;
	struct virtio_dev *vd;
	uint8_t config[12];
	int irq_level, irq_calls;
};

static struct gmem *gm;
static struct fake fk;
static struct virtio_dev *vd;
static const struct mmio_ops *ops;

static void f_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct fake *f = opaque;

	assert_true(off + len <= sizeof(f->config));
	memcpy(buf, f->config + off, len);
}

static void f_config_write(void *opaque, uint32_t off, const void *buf,
			   uint32_t len)
{
	struct fake *f = opaque;

	assert_true(off + len <= sizeof(f->config));
	memcpy(f->config + off, buf, len);
}

static void f_start(void *opaque, struct virtio_dev *d)
{
	struct fake *f = opaque;

	f->start_calls++;
	f->vd = d;
}

static void f_reset(void *opaque)
{
	((struct fake *)opaque)->reset_calls++;
}

static void f_notify(void *opaque, unsigned q)
{
	struct fake *f = opaque;

	f->notify_calls++;
	f->last_notify = q;
}

static void f_irq(void *opaque, int level)
{
	struct fake *f = opaque;

	f->irq_level = level;
	f->irq_calls++;
}

static const struct virtio_dev_ops fake_ops = {
	.name = "virtio-fake",
	.device_id = VIRTIO_ID_RNG,
	.n_queues = 2,
	.queue_max = 64,
	.features = 1ull << DEV_FEATURE_BIT,
	.config_size = sizeof(fk.config),
	.config_read = f_config_read,
	.config_write = f_config_write,
	.start = f_start,
	.reset = f_reset,
	.queue_notify = f_notify,
};

static uint32_t rd(uint64_t off)
{
	return (uint32_t)ops->read(vd, off, 4);
}

static void wr(uint64_t off, uint32_t v)
{
	ops->write(vd, off, v, 4);
}

static int setup(void **state)
{
	struct irq_line irq = { f_irq, &fk };

	gm = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(gm);
	memset(&fk, 0, sizeof(fk));
	for (unsigned i = 0; i < sizeof(fk.config); i++)
		fk.config[i] = (uint8_t)(0x10 + i);
	vd = virtio_mmio_create(gm, &fake_ops, &fk, &irq, NULL);
	assert_non_null(vd);
	ops = virtio_mmio_ops();
	return 0;
}

static int teardown(void **state)
{
	virtio_mmio_destroy(vd);
	gmem_destroy(gm);
	return 0;
}

static void negotiate(uint64_t features)
{
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DRV_FEAT_S, 0);
	wr(R_DRV_FEAT, (uint32_t)features);
	wr(R_DRV_FEAT_S, 1);
	wr(R_DRV_FEAT, (uint32_t)(features >> 32));
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
}

static void setup_queue(unsigned q, uint32_t num, uint64_t base)
{
	wr(R_QUEUE_SEL, q);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	wr(R_QUEUE_NUM, num);
	wr(R_DESC_LO, (uint32_t)base);
	wr(R_DESC_HI, (uint32_t)(base >> 32));
	wr(R_DRIVER_LO, (uint32_t)(base + 0x1000));
	wr(R_DRIVER_HI, (uint32_t)((base + 0x1000) >> 32));
	wr(R_DEVICE_LO, (uint32_t)(base + 0x2000));
	wr(R_DEVICE_HI, (uint32_t)((base + 0x2000) >> 32));
	wr(R_QUEUE_READY, 1);
}

#define ALL_FEATURES \
	((1ull << 32) | (1ull << 28) | (1ull << 29) | (1ull << DEV_FEATURE_BIT))

static void full_init(void)
{
	negotiate(ALL_FEATURES);
	assert_int_equal(rd(R_STATUS), S_ACK | S_DRIVER | S_FEATURES_OK);
	setup_queue(0, 16, RAM_BASE);
	assert_int_equal(rd(R_QUEUE_READY), 1);
	setup_queue(1, 64, RAM_BASE + 0x10000);
	assert_int_equal(rd(R_QUEUE_READY), 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

static void test_identity(void **state)
{
	assert_int_equal(rd(R_MAGIC), 0x74726976);
	assert_int_equal(rd(R_VERSION), 2);
	assert_int_equal(rd(R_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(rd(R_VENDOR_ID), 0x554d4551);
	wr(R_DEV_FEAT_S, 0);
	assert_int_equal(rd(R_DEV_FEAT),
			 (1u << 28) | (1u << 29) | (1u << DEV_FEATURE_BIT));
	wr(R_DEV_FEAT_S, 1);
	assert_int_equal(rd(R_DEV_FEAT), 1);
	wr(R_DEV_FEAT_S, 2);
	assert_int_equal(rd(R_DEV_FEAT), 0);
	wr(R_QUEUE_SEL, 1);
	assert_int_equal(rd(R_QUEUE_MAX), 64);
	wr(R_QUEUE_SEL, 2);
	assert_int_equal(rd(R_QUEUE_MAX), 0);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	assert_int_equal(rd(R_SHM_LEN_LO), 0xffffffff);
	/* Unknown offsets, write-only registers, wrong widths: 0. */
	assert_int_equal(rd(0x0f0), 0);
	assert_int_equal(rd(R_QUEUE_NUM), 0);
	assert_int_equal(ops->read(vd, R_MAGIC, 2), 0);
	assert_int_equal(ops->read(vd, R_MAGIC, 8), 0);
	assert_int_equal(ops->read(vd, R_MAGIC + 2, 4), 0);
	wr(0x0f0, 0xffffffff); /* ignored */
}

static void test_features_ok_needs_version_1(void **state)
{
	negotiate(1ull << DEV_FEATURE_BIT);
	assert_int_equal(rd(R_STATUS), S_ACK | S_DRIVER);
	/* A feature we did not offer */
	negotiate((1ull << 32) | (1ull << 40));
	assert_int_equal(rd(R_STATUS), S_ACK | S_DRIVER);
	/* DRIVER_OK without FEATURES_OK is refused */
	wr(R_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
	assert_int_equal(rd(R_STATUS) & S_DRIVER_OK, 0);
	assert_int_equal(fk.start_calls, 0);
	negotiate(1ull << 32);
	assert_int_equal(rd(R_STATUS), S_ACK | S_DRIVER | S_FEATURES_OK);
	/* Features are frozen after FEATURES_OK */
	wr(R_DRV_FEAT_S, 0);
	wr(R_DRV_FEAT, 1u << DEV_FEATURE_BIT);
	assert_int_equal(virtio_features(vd), 1ull << 32);
}

static void test_queue_setup_rules(void **state)
{
	/* Before FEATURES_OK a queue cannot become ready. */
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK | S_DRIVER);
	setup_queue(0, 16, RAM_BASE);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	negotiate(1ull << 32);
	/* Too large, not a power of two, misaligned, outside RAM. */
	setup_queue(0, 128, RAM_BASE);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	setup_queue(0, 12, RAM_BASE);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	setup_queue(0, 16, RAM_BASE + 8);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	setup_queue(0, 16, 0x1000);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	setup_queue(0, 16, RAM_BASE);
	assert_int_equal(rd(R_QUEUE_READY), 1);
	/* Writing 0 takes it down again before DRIVER_OK. */
	wr(R_QUEUE_READY, 0);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	setup_queue(0, 16, RAM_BASE);
	assert_int_equal(rd(R_QUEUE_READY), 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	assert_int_equal(fk.start_calls, 1);
	assert_non_null(virtio_queue(vd, 0));
	assert_null(virtio_queue(vd, 1)); /* never set up */
	assert_null(virtio_queue(vd, 7));
	/* After DRIVER_OK the queue registers are frozen. */
	wr(R_QUEUE_SEL, 1);
	wr(R_QUEUE_NUM, 16);
	wr(R_QUEUE_READY, 1);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	wr(R_QUEUE_SEL, 0);
	wr(R_QUEUE_READY, 0);
	assert_int_equal(rd(R_QUEUE_READY), 1);
	assert_non_null(virtio_queue(vd, 0));
}

static void test_notify_and_interrupts(void **state)
{
	static struct virtq_req req;
	struct virtq *vq;
	uint16_t v;

	full_init();
	assert_int_equal(fk.start_calls, 1);
	assert_ptr_equal(fk.vd, vd);
	assert_ptr_equal(virtio_mem(vd), gm);
	assert_int_equal(virtio_features(vd), ALL_FEATURES);
	wr(R_NOTIFY, 1);
	assert_int_equal(fk.notify_calls, 1);
	assert_int_equal(fk.last_notify, 1);
	wr(R_NOTIFY, 2); /* no such queue */
	wr(R_NOTIFY, 0xffff);
	assert_int_equal(fk.notify_calls, 1);

	/* The back end completes a request: used interrupt, line up. */
	vq = virtio_queue(vd, 0);
	assert_non_null(vq);
	v = 0; /* desc 0: 4 writable bytes */
	uint8_t d[16] = { 0 };
	uint64_t a = RAM_BASE + 0x8000;
	uint32_t l = 4;
	uint16_t fl = 2;
	memcpy(d, &a, 8);
	memcpy(d + 8, &l, 4);
	memcpy(d + 12, &fl, 2);
	assert_int_equal(gmem_write(gm, RAM_BASE, d, 16), 0);
	assert_int_equal(gmem_write(gm, RAM_BASE + 0x1000 + 4, &v, 2), 0);
	v = 1;
	assert_int_equal(gmem_write(gm, RAM_BASE + 0x1000 + 2, &v, 2), 0);
	assert_int_equal(virtq_pop(vq, &req), 1);
	virtq_push(vq, &req, 4);
	/* used_event (EVENT_IDX) is 0: the first completion notifies. */
	virtio_notify(vd, 0);
	assert_int_equal(rd(R_INT_STATUS), 1);
	assert_int_equal(fk.irq_level, 1);
	virtio_notify(vd, 0); /* nothing new: no change */
	virtio_config_changed(vd);
	assert_int_equal(rd(R_INT_STATUS), 3);
	assert_int_equal(rd(R_CONFIG_GEN), 1);
	wr(R_INT_ACK, 1);
	assert_int_equal(rd(R_INT_STATUS), 2);
	assert_int_equal(fk.irq_level, 1);
	wr(R_INT_ACK, 2);
	assert_int_equal(rd(R_INT_STATUS), 0);
	assert_int_equal(fk.irq_level, 0);
	assert_int_equal(fk.irq_calls, 2);
	virtio_notify(vd, 5); /* no such queue: ignored */
	assert_int_equal(rd(R_INT_STATUS), 0);
}

static void test_config_space(void **state)
{
	assert_int_equal(ops->read(vd, R_CONFIG, 1), 0x10);
	assert_int_equal(ops->read(vd, R_CONFIG + 2, 2), 0x1312);
	assert_int_equal(ops->read(vd, R_CONFIG + 4, 4), 0x17161514);
	assert_int_equal(ops->read(vd, R_CONFIG, 8), 0x1716151413121110ull);
	assert_int_equal(ops->read(vd, R_CONFIG + 8, 4), 0x1b1a1918);
	/* Past the end of the config space: 0, writes ignored. */
	assert_int_equal(ops->read(vd, R_CONFIG + 8, 8), 0);
	assert_int_equal(ops->read(vd, R_CONFIG + 12, 4), 0);
	assert_int_equal(ops->read(vd, 0xff8, 8), 0);
	ops->write(vd, R_CONFIG + 12, 0xff, 1);
	ops->write(vd, R_CONFIG + 1, 0xaa, 1);
	assert_int_equal(fk.config[1], 0xaa);
	ops->write(vd, R_CONFIG + 8, 0x01020304, 4);
	assert_int_equal(ops->read(vd, R_CONFIG + 8, 4), 0x01020304);
	/* Before DRIVER_OK a change bumps the generation but raises no
	 * interrupt. */
	virtio_config_changed(vd);
	assert_int_equal(rd(R_CONFIG_GEN), 1);
	assert_int_equal(rd(R_INT_STATUS), 0);
	assert_int_equal(fk.irq_level, 0);
}

static void test_reset(void **state)
{
	full_init();
	virtio_config_changed(vd);
	assert_int_equal(fk.irq_level, 1);
	fk.reset_calls = 0;
	wr(R_STATUS, 0);
	assert_int_equal(fk.reset_calls, 1);
	assert_int_equal(rd(R_STATUS), 0);
	assert_int_equal(rd(R_INT_STATUS), 0);
	assert_int_equal(fk.irq_level, 0);
	assert_null(virtio_queue(vd, 0));
	assert_int_equal(virtio_features(vd), 0);
	wr(R_QUEUE_SEL, 0);
	assert_int_equal(rd(R_QUEUE_READY), 0);
	wr(R_NOTIFY, 0);
	assert_int_equal(fk.notify_calls, 0);
	/* A second life: start is called again. */
	full_init();
	assert_int_equal(fk.start_calls, 2);
}

static void test_device_error(void **state)
{
	full_init();
	assert_false(virtio_broken(vd));
	virtio_device_error(vd, "test: malformed request");
	virtio_device_error(vd, "logged once only");
	assert_true(virtio_broken(vd));
	assert_int_equal(rd(R_STATUS), S_ACK | S_DRIVER | S_FEATURES_OK |
					       S_DRIVER_OK | S_NEEDS_RESET);
	assert_int_equal(rd(R_INT_STATUS), 2);
	assert_int_equal(fk.irq_level, 1);
	/* A broken device ignores kicks. */
	wr(R_NOTIFY, 0);
	assert_int_equal(fk.notify_calls, 0);
	/* The driver cannot set or clear NEEDS_RESET itself. */
	wr(R_STATUS, S_ACK);
	assert_true(rd(R_STATUS) & S_NEEDS_RESET);
	wr(R_STATUS, 0);
	assert_false(virtio_broken(vd));
	assert_int_equal(rd(R_STATUS), 0);
	wr(R_STATUS, S_NEEDS_RESET);
	assert_int_equal(rd(R_STATUS), 0);
}

/* A back-end thread raising interrupts while the vCPU acks: the line must
 * end up following InterruptStatus. */
static void *hammer(void *arg)
{
	for (int i = 0; i < 20000; i++)
		virtio_config_changed(vd);
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t;

	full_init();
	assert_int_equal(pthread_create(&t, NULL, hammer, NULL), 0);
	for (int i = 0; i < 20000; i++) {
		uint32_t s = rd(R_INT_STATUS);

		wr(R_INT_ACK, s);
	}
	pthread_join(t, NULL);
	assert_int_equal(fk.irq_level, rd(R_INT_STATUS) != 0);
	wr(R_INT_ACK, 3);
	assert_int_equal(fk.irq_level, 0);
	assert_int_equal(rd(R_CONFIG_GEN), 20000);
}

static void test_bad_create(void **state)
{
	struct virtio_dev_ops o = fake_ops;
	struct error err;

	o.n_queues = 0;
	assert_null(virtio_mmio_create(gm, &o, NULL, NULL, &err));
	assert_int_equal(err.code, EINVAL);
	o = fake_ops;
	o.queue_max = 100;
	assert_null(virtio_mmio_create(gm, &o, NULL, NULL, &err));
	o = fake_ops;
	o.config_read = NULL;
	assert_null(virtio_mmio_create(gm, &o, NULL, NULL, &err));
	/* No irq line and NULL callbacks are tolerated. */
	o = (struct virtio_dev_ops){ .name = "min",
				     .n_queues = 1,
				     .queue_max = 8 };
	struct virtio_dev *d = virtio_mmio_create(gm, &o, NULL, NULL, &err);
	assert_non_null(d);
	virtio_config_changed(d);
	virtio_mmio_destroy(d);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity),	   T(test_features_ok_needs_version_1),
		T(test_queue_setup_rules), T(test_notify_and_interrupts),
		T(test_config_space),	   T(test_reset),
		T(test_device_error),	   T(test_threads),
		T(test_bad_create),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
