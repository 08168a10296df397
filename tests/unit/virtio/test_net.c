/*
 * Unit tests for src/virtio/net.c: --net spec parsing, and the device driven
 * through the real virtio-mmio transport by a minimal driver written here
 * (rings in a real gmem): with the slirp back end (an ARP request out, the
 * reply in) and with an echo back end (mergeable buffers, checksum offload,
 * malformed requests). Loopback only: nothing leaves the process.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "mem/gmem.h"
#include "net/netdev.h"
#include "virtio/net.h"

/* ---- configuration defaults (--net specs: tests/unit/vmm) -------------------- */

static void test_config_defaults(void **state)
{
	struct virtio_net_config c;

	virtio_net_config_init(&c, 0);
	assert_int_equal(c.backend, VIRTIO_NET_BACKEND_USER);
	assert_memory_equal(c.mac, "\x52\x54\x00\x12\x34\x56", 6);
	assert_string_equal(c.id, "net0");
	virtio_net_config_init(&c, 2);
	assert_int_equal(c.mac[5], 0x58);
	assert_string_equal(c.id, "net2");
}

/* ---- a minimal virtio-mmio driver ------------------------------------------------- */

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (16ull << 20)
#define QSZ	 16
#define QBASE(q) (RAM_BASE + (uint64_t)(q)*0x4000)
#define DESC(q)	 (QBASE(q))
#define AVAIL(q) (QBASE(q) + 0x1000)
#define USED(q)	 (QBASE(q) + 0x2000)
#define BUF(q, i) \
	(RAM_BASE + 0x100000 + (uint64_t)(q)*0x100000 + (uint64_t)(i)*0x10000)

#define F_NEXT	1
#define F_WRITE 2

enum {
	R_DEVICE_ID = 0x008,
	R_DEVICE_FEATURES = 0x010,
	R_DEVICE_FEATURES_SEL = 0x014,
	R_DRIVER_FEATURES = 0x020,
	R_DRIVER_FEATURES_SEL = 0x024,
	R_QUEUE_SEL = 0x030,
	R_QUEUE_NUM = 0x038,
	R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050,
	R_STATUS = 0x070,
	R_QUEUE_DESC_LOW = 0x080,
	R_QUEUE_DRIVER_LOW = 0x090,
	R_QUEUE_DEVICE_LOW = 0x0a0,
	R_CONFIG = 0x100,
};

struct drv {
	struct gmem *gm;
	struct virtio_net *n;
	struct virtio_dev *vd;
	const struct mmio_ops *mo;
	uint16_t avail[2], used_seen[2];
};

static void wr(struct drv *d, uint64_t gpa, const void *p, size_t n)
{
	assert_int_equal(gmem_write(d->gm, gpa, p, n), 0);
}

static void rd(struct drv *d, uint64_t gpa, void *p, size_t n)
{
	assert_int_equal(gmem_read(d->gm, gpa, p, n), 0);
}

static void wr16(struct drv *d, uint64_t gpa, uint16_t v)
{
	wr(d, gpa, &v, 2);
}

static uint16_t rd16(struct drv *d, uint64_t gpa)
{
	uint16_t v;

	rd(d, gpa, &v, 2);
	return v;
}

static void reg_w(struct drv *d, uint64_t off, uint32_t v)
{
	d->mo->write(d->vd, off, v, 4);
}

static uint32_t reg_r(struct drv *d, uint64_t off)
{
	return (uint32_t)d->mo->read(d->vd, off, 4);
}

static void desc(struct drv *d, unsigned q, unsigned i, uint64_t addr,
		 uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t b[16];

	memcpy(b, &addr, 8);
	memcpy(b + 8, &len, 4);
	memcpy(b + 12, &flags, 2);
	memcpy(b + 14, &next, 2);
	wr(d, DESC(q) + 16 * i, b, 16);
}

static void make_avail(struct drv *d, unsigned q, uint16_t head)
{
	wr16(d, AVAIL(q) + 4 + 2 * (d->avail[q] % QSZ), head);
	d->avail[q]++;
	wr16(d, AVAIL(q) + 2, d->avail[q]);
}

/* Wait until the device used more buffers of queue q; returns the used
 * element (id, len) of the next unseen one. */
static bool wait_used(struct drv *d, unsigned q, uint32_t *id, uint32_t *len,
		      int ms)
{
	for (int t = 0; t < ms; t++) {
		uint16_t idx = rd16(d, USED(q) + 2);
		if (idx != d->used_seen[q]) {
			uint64_t e = USED(q) + 4 + 8 * (d->used_seen[q] % QSZ);
			rd(d, e, id, 4);
			rd(d, e + 4, len, 4);
			d->used_seen[q]++;
			return true;
		}
		usleep(1000);
	}
	return false;
}

static void irq_set(void *opaque, int level)
{
}

/* Bring the device up with the driver features `feat` (low 32 bits; the
 * driver always accepts VERSION_1). */
static void drv_up(struct drv *d, uint32_t feat)
{
	struct error err = { 0 };
	struct irq_line irq = { irq_set, NULL };

	d->gm = gmem_create(RAM_BASE, RAM_SIZE, &err);
	assert_non_null(d->gm);
	d->vd = virtio_mmio_create(d->gm, virtio_net_dev_ops(d->n), d->n, &irq,
				   &err);
	assert_non_null(d->vd);
	d->mo = virtio_mmio_ops();
	assert_int_equal(reg_r(d, R_DEVICE_ID), 1);
	reg_w(d, R_STATUS, 1);
	reg_w(d, R_STATUS, 3);
	reg_w(d, R_DEVICE_FEATURES_SEL, 0);
	uint32_t offered = reg_r(d, R_DEVICE_FEATURES);
	assert_int_equal(feat & ~offered, 0);
	reg_w(d, R_DRIVER_FEATURES_SEL, 0);
	reg_w(d, R_DRIVER_FEATURES, feat);
	reg_w(d, R_DRIVER_FEATURES_SEL, 1);
	reg_w(d, R_DRIVER_FEATURES, 1); /* VERSION_1 */
	reg_w(d, R_STATUS, 3 | 8);
	assert_int_equal(reg_r(d, R_STATUS) & 8, 8);
	for (unsigned q = 0; q < 2; q++) {
		reg_w(d, R_QUEUE_SEL, q);
		reg_w(d, R_QUEUE_NUM, QSZ);
		reg_w(d, R_QUEUE_DESC_LOW, (uint32_t)DESC(q));
		reg_w(d, R_QUEUE_DESC_LOW + 4, (uint32_t)(DESC(q) >> 32));
		reg_w(d, R_QUEUE_DRIVER_LOW, (uint32_t)AVAIL(q));
		reg_w(d, R_QUEUE_DRIVER_LOW + 4, (uint32_t)(AVAIL(q) >> 32));
		reg_w(d, R_QUEUE_DEVICE_LOW, (uint32_t)USED(q));
		reg_w(d, R_QUEUE_DEVICE_LOW + 4, (uint32_t)(USED(q) >> 32));
		reg_w(d, R_QUEUE_READY, 1);
	}
	reg_w(d, R_STATUS, 3 | 8 | 4);
	assert_int_equal(reg_r(d, R_STATUS) & 4, 4);
}

static void drv_down(struct drv *d)
{
	virtio_mmio_destroy(d->vd);
	virtio_net_destroy(d->n);
	gmem_destroy(d->gm);
}

/* Post rx buffer i (len bytes) on queue 0. */
static void post_rx(struct drv *d, unsigned i, uint32_t len)
{
	desc(d, 0, i, BUF(0, i), len, F_WRITE, 0);
	make_avail(d, 0, (uint16_t)i);
	reg_w(d, R_QUEUE_NOTIFY, 0);
}

/* Send one frame on queue 1 as header + frame in two descriptors. */
static void send_tx(struct drv *d, unsigned i, const uint8_t *hdr,
		    const uint8_t *frame, size_t len)
{
	uint8_t zero[12] = { 0 };

	wr(d, BUF(1, i), hdr ? hdr : zero, 12);
	wr(d, BUF(1, i) + 0x100, frame, len);
	desc(d, 1, 2 * i, BUF(1, i), 12, F_NEXT, (uint16_t)(2 * i + 1));
	desc(d, 1, 2 * i + 1, BUF(1, i) + 0x100, (uint32_t)len, 0, 0);
	make_avail(d, 1, (uint16_t)(2 * i));
	reg_w(d, R_QUEUE_NOTIFY, 1);
}

static size_t arp_request(uint8_t *f, const uint8_t mac[6])
{
	static const uint8_t tail[] = { 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1 };

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	memcpy(f + 12, tail, sizeof(tail));
	memcpy(f + 22, mac, 6);
	inet_pton(AF_INET, "10.0.2.15", f + 28);
	memset(f + 32, 0, 6);
	inet_pton(AF_INET, "10.0.2.2", f + 38);
	return 42;
}

/* ---- with the slirp back end ---------------------------------------------------- */

static void test_slirp_arp(void **state)
{
	struct virtio_net_config cfg;
	struct error err = { 0 };
	struct drv d = { 0 };
	uint8_t f[64], mac[6], cfgsp[12];
	uint32_t id, len;

	virtio_net_config_init(&cfg, 0);
	d.n = virtio_net_create(&cfg, &err);
	assert_non_null(d.n);
	drv_up(&d, 1u << 5 | 1u << 15 | 1u << 16 | 1u << 3 | 1u << 1);

	/* config space: mac, status LINK_UP, 1 queue pair, the default mtu */
	for (unsigned i = 0; i < 12; i++)
		cfgsp[i] = (uint8_t)d.mo->read(d.vd, R_CONFIG + i, 1);
	assert_memory_equal(cfgsp, cfg.mac, 6);
	assert_int_equal(cfgsp[6] | cfgsp[7] << 8, 1);
	assert_int_equal(cfgsp[10] | cfgsp[11] << 8, NET_USER_MTU_DEFAULT);
	memcpy(mac, cfgsp, 6);

	for (unsigned i = 0; i < 4; i++)
		post_rx(&d, i, 2048);
	send_tx(&d, 0, NULL, f, arp_request(f, mac));
	assert_true(wait_used(&d, 1, &id, &len, 5000));
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);

	/* the ARP reply arrives in rx buffer 0 */
	bool found = false;
	while (!found && wait_used(&d, 0, &id, &len, 5000)) {
		uint8_t b[2048];
		assert_true(id < 4 && len >= 12 && len <= 2048);
		rd(&d, BUF(0, id), b, len);
		assert_int_equal(b[10] | b[11] << 8, 1); /* num_buffers */
		assert_int_equal(b[0], 2);		 /* DATA_VALID */
		const uint8_t *e = b + 12;
		if (len >= 12 + 42 && e[12] == 0x08 && e[13] == 0x06 &&
		    e[21] == 2 && !memcmp(e, mac, 6))
			found = true;
		post_rx(&d, id, 2048);
	}
	assert_true(found);
	struct virtio_net_stats st;
	for (int t = 0; t < 1000; t++) {
		virtio_net_get_stats(d.n, &st);
		if (st.nd.rx_frames >= 1)
			break;
		usleep(1000);
	}
	assert_true(st.nd.tx_frames >= 1 && st.nd.rx_frames >= 1);
	drv_down(&d);
}

/* ---- with an echo back end -------------------------------------------------------- */

struct echo {
	struct netdev *nd;
	pthread_mutex_t lock; /* last, last_len */
	uint8_t last[70000];
	size_t last_len;
	unsigned frames;
};

static void echo_output(void *be, const uint8_t *frame, size_t len)
{
	struct echo *e = be;

	pthread_mutex_lock(&e->lock);
	memcpy(e->last, frame, len);
	e->last_len = len;
	pthread_mutex_unlock(&e->lock);
	__atomic_fetch_add(&e->frames, 1, __ATOMIC_SEQ_CST);
	netdev_deliver(e->nd, frame, len);
}

static void echo_prepare(void *be, struct netdev_pollset *ps, int *timeout)
{
}

static void echo_dispatch(void *be, struct netdev_pollset *ps, bool error)
{
}

static const struct netdev_backend_ops echo_ops = {
	.kind = "echo",
	.output = echo_output,
	.poll_prepare = echo_prepare,
	.poll_dispatch = echo_dispatch,
};

static struct echo *echo_up(struct drv *d, uint32_t feat)
{
	static struct echo e;
	struct virtio_net_config cfg;
	struct error err = { 0 };

	memset(&e, 0, sizeof(e));
	pthread_mutex_init(&e.lock, NULL);
	e.nd = netdev_new(&echo_ops, &e, "echo", &err);
	assert_non_null(e.nd);
	assert_int_equal(netdev_start(e.nd, &err), 0);
	virtio_net_config_init(&cfg, 1);
	cfg.netdev = e.nd;
	d->n = virtio_net_create(&cfg, &err);
	assert_non_null(d->n);
	drv_up(d, feat);
	return &e;
}

static void echo_down(struct drv *d, struct echo *e)
{
	drv_down(d);
	netdev_destroy(e->nd);
}

/* A 3000-byte frame over 1024-byte mergeable buffers: num_buffers = 3. */
static void test_mrg_rxbuf(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, 1u << 15);
	static uint8_t f[3000], got[3100];
	uint32_t id, len;
	size_t pos = 0;

	for (size_t i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)(i * 7 + 3);
	send_tx(&d, 0, NULL, f, sizeof(f));
	assert_true(wait_used(&d, 1, &id, &len, 5000));
	/* no rx buffers yet: the frame waits in the netdev */
	usleep(20000);
	assert_int_equal(rd16(&d, USED(0) + 2), 0);
	for (unsigned i = 0; i < 4; i++)
		post_rx(&d, i, 1024);
	for (unsigned k = 0; k < 3; k++) {
		uint8_t b[1024];
		assert_true(wait_used(&d, 0, &id, &len, 5000));
		assert_int_equal(id, k);
		rd(&d, BUF(0, id), b, len);
		if (k == 0) {
			assert_int_equal(len, 1024);
			assert_int_equal(b[10] | b[11] << 8, 3);
			memcpy(got, b + 12, len - 12);
			pos = len - 12;
		} else {
			memcpy(got + pos, b, len);
			pos += len;
		}
	}
	assert_int_equal(pos, sizeof(f));
	assert_memory_equal(got, f, sizeof(f));
	/* buffer 3 stays unused (held by the device for the next frame) */
	assert_int_equal(rd16(&d, USED(0) + 2), 3);
	echo_down(&d, e);
}

/* Without MRG_RXBUF a frame larger than the buffer is dropped, the buffer
 * kept for the next frame that fits. */
static void test_no_mrg_too_big(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, 0);
	static uint8_t f[1500];
	struct virtio_net_stats st;
	uint32_t id, len;

	memset(f, 0x5a, sizeof(f));
	post_rx(&d, 0, 1024);
	send_tx(&d, 0, NULL, f, sizeof(f));
	assert_true(wait_used(&d, 1, &id, &len, 5000));
	for (int t = 0; t < 5000; t++) {
		virtio_net_get_stats(d.n, &st);
		if (st.rx_too_big)
			break;
		usleep(1000);
	}
	assert_int_equal(st.rx_too_big, 1);
	assert_int_equal(rd16(&d, USED(0) + 2), 0);
	send_tx(&d, 1, NULL, f, 200);
	assert_true(wait_used(&d, 1, &id, &len, 5000));
	assert_true(wait_used(&d, 0, &id, &len, 5000));
	assert_int_equal(len, 212);
	echo_down(&d, e);
}

/* VIRTIO_NET_F_CSUM: the device completes a partial UDP checksum. */
static void test_tx_csum(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, 1u << 0);
	uint8_t f[14 + 20 + 8 + 4] = { 0 }, hdr[12] = { 0 };
	uint32_t id, len;

	f[12] = 0x08;
	f[14] = 0x45;
	f[14 + 9] = 17;
	memcpy(f + 42, "abcd", 4);
	/* UDP checksum field holds the pseudo-header sum (here 0x1234) */
	f[34 + 6] = 0x12;
	f[34 + 7] = 0x34;
	hdr[0] = 1;  /* NEEDS_CSUM */
	hdr[6] = 34; /* csum_start */
	hdr[8] = 6;  /* csum_offset */
	send_tx(&d, 0, hdr, f, sizeof(f));
	assert_true(wait_used(&d, 1, &id, &len, 5000));
	pthread_mutex_lock(&e->lock);
	assert_int_equal(e->last_len, sizeof(f));
	/* pseudo-header + UDP header + data (with the result) sum to 0xffff */
	uint32_t sum = 0x1234;
	for (size_t i = 34; i < sizeof(f); i += 2)
		sum += (uint32_t)(e->last[i] << 8 | e->last[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	pthread_mutex_unlock(&e->lock);
	assert_int_equal(sum, 0xffff);

	/* csum_start beyond the frame: dropped, not sent */
	hdr[6] = 200;
	unsigned before = __atomic_load_n(&e->frames, __ATOMIC_SEQ_CST);
	send_tx(&d, 1, hdr, f, sizeof(f));
	assert_true(wait_used(&d, 1, &id, &len, 5000));
	assert_int_equal(__atomic_load_n(&e->frames, __ATOMIC_SEQ_CST), before);
	echo_down(&d, e);
}

/* A transmit chain shorter than the header: DEVICE_NEEDS_RESET. */
static void test_tx_malformed(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, 0);

	wr(&d, BUF(1, 0), "abcdef", 6);
	desc(&d, 1, 0, BUF(1, 0), 6, 0, 0);
	make_avail(&d, 1, 0);
	reg_w(&d, R_QUEUE_NOTIFY, 1);
	for (int t = 0; t < 5000 && !virtio_broken(d.vd); t++)
		usleep(1000);
	assert_true(virtio_broken(d.vd));
	assert_int_equal(reg_r(&d, R_STATUS) & 64, 64);
	assert_int_equal(__atomic_load_n(&e->frames, __ATOMIC_SEQ_CST), 0);
	echo_down(&d, e);
}

/* A device-readable receive buffer: DEVICE_NEEDS_RESET. */
static void test_rx_malformed(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, 0);
	uint8_t f[60] = { 0 };
	uint32_t id, len;

	desc(&d, 0, 0, BUF(0, 0), 1024, 0, 0); /* not WRITE */
	make_avail(&d, 0, 0);
	send_tx(&d, 0, NULL, f, sizeof(f));
	assert_true(wait_used(&d, 1, &id, &len, 5000));
	for (int t = 0; t < 5000 && !virtio_broken(d.vd); t++)
		usleep(1000);
	assert_true(virtio_broken(d.vd));
	echo_down(&d, e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_slirp_arp),
		cmocka_unit_test(test_mrg_rxbuf),
		cmocka_unit_test(test_no_mrg_too_big),
		cmocka_unit_test(test_tx_csum),
		cmocka_unit_test(test_tx_malformed),
		cmocka_unit_test(test_rx_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
