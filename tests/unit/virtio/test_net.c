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
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "mem/gmem.h"
#include "net/netdev.h"
#include "util/state_io.h"
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
	uint16_t avail[3], used_seen[3];
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
	/* the control queue with VIRTIO_NET_F_CTRL_VQ */
	for (unsigned q = 0; q < (feat & 1u << 17 ? 3u : 2u); q++) {
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

/* ---- control queue, receive filter, announce (5.1.6.5) -------------------------- */

#define F_CTRL_VQ	    (1u << 17)
#define F_CTRL_RX	    (1u << 18)
#define F_GUEST_ANNOUNCE    (1u << 21)
#define F_CTRL_MAC_ADDR	    (1u << 23)
#define R_INTERRUPT_STATUS  0x060
#define R_INTERRUPT_ACK	    0x064
#define R_CONFIG_GENERATION 0x0fc

/* One control command (class, command, data) in three descriptors; its
 * ack. */
static uint8_t ctrl(struct drv *d, uint8_t cls, uint8_t cmd, const void *data,
		    size_t len)
{
	static unsigned slot;
	unsigned i = slot++ % 5, h = 3 * i;
	uint8_t hdr[2] = { cls, cmd }, ack = 0xee;
	uint32_t id, ulen;

	wr(d, BUF(2, i), hdr, 2);
	wr(d, BUF(2, i) + 0x1000, &ack, 1);
	if (len) {
		wr(d, BUF(2, i) + 0x100, data, len);
		desc(d, 2, h, BUF(2, i), 2, F_NEXT, (uint16_t)(h + 1));
		desc(d, 2, h + 1, BUF(2, i) + 0x100, (uint32_t)len, F_NEXT,
		     (uint16_t)(h + 2));
	} else {
		desc(d, 2, h, BUF(2, i), 2, F_NEXT, (uint16_t)(h + 2));
	}
	desc(d, 2, h + 2, BUF(2, i) + 0x1000, 1, F_WRITE, 0);
	make_avail(d, 2, (uint16_t)h);
	reg_w(d, R_QUEUE_NOTIFY, 2);
	assert_true(wait_used(d, 2, &id, &ulen, 5000));
	assert_int_equal(id, h);
	assert_int_equal(ulen, 1);
	rd(d, BUF(2, i) + 0x1000, &ack, 1);
	return ack;
}

static uint16_t cfg_status(struct drv *d)
{
	return (uint16_t)d->mo->read(d->vd, R_CONFIG + 6, 2);
}

/* Send a 60-byte frame to dst through the echo back end; true if it
 * reached the guest's receive queue, false if the filter took it. */
static bool echo_reaches_guest(struct drv *d, const uint8_t dst[6])
{
	static unsigned txi;
	uint8_t f[60] = { 0 };
	uint32_t id, len;
	struct virtio_net_stats st;

	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	virtio_net_get_stats(d->n, &st);
	uint64_t filtered = st.rx_filtered, rx = st.nd.rx_frames;
	post_rx(d, 0, 2048);
	send_tx(d, txi++ % 4, NULL, f, sizeof(f));
	assert_true(wait_used(d, 1, &id, &len, 5000));
	for (int t = 0; t < 5000; t++) {
		virtio_net_get_stats(d->n, &st);
		if (st.nd.rx_frames > rx || st.nd.rx_dropped)
			break;
		usleep(1000);
	}
	assert_int_equal(st.nd.rx_frames, rx + 1);
	if (st.rx_filtered > filtered)
		return false;
	assert_true(wait_used(d, 0, &id, &len, 5000));
	assert_int_equal(len, 12 + 60);
	return true;
}

/* RX and MAC commands as Linux sends them, and what they do to the
 * receive filter; malformed or unnegotiated commands are refused and
 * change nothing. */
static void test_ctrl_rx_filter(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, F_CTRL_VQ | F_CTRL_RX | F_CTRL_MAC_ADDR);
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	static const uint8_t mcast[6] = { 0x01, 0, 0x5e, 0, 0, 0xfb };
	static const uint8_t mcast2[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t own[6], on = 1, off = 0, tab[64];

	for (unsigned i = 0; i < 6; i++)
		own[i] = (uint8_t)d.mo->read(d.vd, R_CONFIG + i, 1);
	/* after reset: promiscuous */
	assert_true(echo_reaches_guest(&d, other));
	assert_int_equal(ctrl(&d, 0, 0, &off, 1), 0); /* PROMISC off */
	assert_int_equal(ctrl(&d, 0, 1, &off, 1), 0); /* ALLMULTI off */
	assert_false(echo_reaches_guest(&d, other));
	assert_false(echo_reaches_guest(&d, mcast));
	assert_true(echo_reaches_guest(&d, own));
	assert_true(echo_reaches_guest(&d, bcast));

	/* MAC_TABLE_SET: 1 unicast, 1 multicast entry */
	memset(tab, 0, sizeof(tab));
	tab[0] = 1;
	memcpy(tab + 4, other, 6);
	tab[10] = 1;
	memcpy(tab + 14, mcast, 6);
	assert_int_equal(ctrl(&d, 1, 0, tab, 20), 0);
	assert_true(echo_reaches_guest(&d, other));
	assert_true(echo_reaches_guest(&d, mcast));
	assert_false(echo_reaches_guest(&d, mcast2));
	/* a table whose length disagrees with its data: refused, the old
	 * table stays */
	tab[10] = 2;
	assert_int_equal(ctrl(&d, 1, 0, tab, 20), 1);
	assert_true(echo_reaches_guest(&d, mcast));
	/* an empty table set: other unicast filtered again */
	memset(tab, 0, 8);
	assert_int_equal(ctrl(&d, 1, 0, tab, 8), 0);
	assert_false(echo_reaches_guest(&d, other));
	assert_int_equal(ctrl(&d, 0, 1, &on, 1), 0); /* ALLMULTI on */
	assert_true(echo_reaches_guest(&d, mcast2));

	/* MAC_ADDR_SET: the config space shows it, frames to it arrive */
	static const uint8_t newmac[6] = { 0x52, 0x54, 0, 0, 0, 0x42 };
	assert_int_equal(ctrl(&d, 1, 1, newmac, 6), 0);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(d.mo->read(d.vd, R_CONFIG + i, 1), newmac[i]);
	assert_true(echo_reaches_guest(&d, newmac));
	assert_false(echo_reaches_guest(&d, own));
	/* refused: a multicast address, a short one, PROMISC with 2 bytes or
	 * the value 2, unknown class and command, ANNOUNCE_ACK without
	 * GUEST_ANNOUNCE, VLAN (not offered) */
	assert_int_equal(ctrl(&d, 1, 1, mcast, 6), 1);
	assert_int_equal(ctrl(&d, 1, 1, newmac, 5), 1);
	uint8_t two[2] = { 1, 1 };
	assert_int_equal(ctrl(&d, 0, 0, two, 2), 1);
	assert_int_equal(ctrl(&d, 0, 0, two + 1, 1), 0);
	two[0] = 2;
	assert_int_equal(ctrl(&d, 0, 0, two, 1), 1);
	assert_int_equal(ctrl(&d, 0, 9, &on, 1), 1);
	assert_int_equal(ctrl(&d, 9, 0, &on, 1), 1);
	assert_int_equal(ctrl(&d, 3, 0, NULL, 0), 1);
	assert_int_equal(ctrl(&d, 2, 0, two, 2), 1);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(d.mo->read(d.vd, R_CONFIG + i, 1), newmac[i]);
	assert_false(virtio_broken(d.vd));

	/* a reset restores the configured address and promiscuity */
	reg_w(&d, R_STATUS, 0);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(d.mo->read(d.vd, R_CONFIG + i, 1), own[i]);
	echo_down(&d, e);
}

/* A control request without the ack byte: DEVICE_NEEDS_RESET. */
static void test_ctrl_malformed(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, F_CTRL_VQ | F_CTRL_RX);

	wr(&d, BUF(2, 0), "\x00\x00\x01", 3);
	desc(&d, 2, 0, BUF(2, 0), 3, 0, 0);
	make_avail(&d, 2, 0);
	reg_w(&d, R_QUEUE_NOTIFY, 2);
	for (int t = 0; t < 5000 && !virtio_broken(d.vd); t++)
		usleep(1000);
	assert_true(virtio_broken(d.vd));
	echo_down(&d, e);
}

/* Wait until the echo back end saw n frames. */
static bool echo_wait_frames(struct echo *e, unsigned n)
{
	for (int t = 0; t < 10000; t++) {
		if (__atomic_load_n(&e->frames, __ATOMIC_SEQ_CST) >= n)
			return true;
		usleep(1000);
	}
	return false;
}

/* The announce: a RARP from the NIC's (current) MAC into the back end,
 * and with GUEST_ANNOUNCE the status bit and a configuration interrupt
 * until the driver acks. */
static void test_announce(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, F_CTRL_VQ | F_GUEST_ANNOUNCE | F_CTRL_RX |
					     F_CTRL_MAC_ADDR);
	struct netdev_announce_params p = { 1, 0, 0, 0 };
	struct error err = { 0 };
	uint8_t want[NETDEV_RARP_LEN];
	static const uint8_t newmac[6] = { 0x52, 0x54, 0, 0, 0, 0x43 };

	assert_int_equal(cfg_status(&d), 1);
	assert_int_equal(ctrl(&d, 1, 1, newmac, 6), 0);
	uint32_t gen = reg_r(&d, R_CONFIG_GENERATION);
	reg_w(&d, R_INTERRUPT_ACK, reg_r(&d, R_INTERRUPT_STATUS));
	assert_int_equal(virtio_net_announce(d.n, &p, &err), 0);
	assert_true(echo_wait_frames(e, 1));
	pthread_mutex_lock(&e->lock);
	assert_int_equal(e->last_len, NETDEV_RARP_LEN);
	netdev_rarp_frame(want, newmac);
	assert_memory_equal(e->last, want, NETDEV_RARP_LEN);
	pthread_mutex_unlock(&e->lock);
	/* 5.1.6.5.4: the driver sees VIRTIO_NET_S_ANNOUNCE after a
	 * configuration change interrupt */
	assert_int_equal(cfg_status(&d), 1 | 2);
	assert_int_equal(reg_r(&d, R_INTERRUPT_STATUS) & 2, 2);
	assert_true(reg_r(&d, R_CONFIG_GENERATION) != gen);
	assert_int_equal(ctrl(&d, 3, 0, NULL, 0), 0); /* ANNOUNCE_ACK */
	assert_int_equal(cfg_status(&d), 1);
	struct virtio_net_stats st;
	virtio_net_get_stats(d.n, &st);
	assert_int_equal(st.announces, 1);
	assert_int_equal(virtio_net_announce(
				 d.n,
				 &(struct netdev_announce_params){ 0, 0, 0, 0 },
				 &err),
			 -EINVAL);
	echo_down(&d, e);

	/* a driver without GUEST_ANNOUNCE: only the RARP */
	e = echo_up(&d, F_CTRL_VQ);
	assert_int_equal(virtio_net_announce(d.n, &p, &err), 0);
	assert_true(echo_wait_frames(e, 1));
	assert_int_equal(cfg_status(&d), 1);
	assert_int_equal(reg_r(&d, R_INTERRUPT_STATUS) & 2, 0);
	echo_down(&d, e);
}

/* ---- device state (virtio-mmio section version 2) --------------------------------- */

static int load_fd(struct virtio_dev *vd, int fd, struct error *err)
{
	struct state_reader r;

	lseek(fd, 0, SEEK_SET);
	int rc = state_reader_open(&r, fd, err);
	if (!rc && (rc = state_next(&r, err)) == 1)
		rc = virtio_mmio_load(vd, 0, &r, err);
	state_reader_close(&r);
	return rc;
}

/* The filter, the guest's MAC and a pending announce survive a save and a
 * load into a fresh device on the same guest RAM. */
static void test_state_round_trip(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, F_CTRL_VQ | F_CTRL_RX | F_CTRL_MAC_ADDR |
					     F_GUEST_ANNOUNCE);
	static const uint8_t newmac[6] = { 0x52, 0x54, 0, 0, 0, 0x44 };
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x98 };
	static const uint8_t other2[6] = { 0x02, 0, 0, 0, 0, 0x97 };
	struct netdev_announce_params p = { 1, 0, 0, 0 };
	struct error err = { 0 };
	struct state_writer w;
	uint8_t off = 0, tab[14] = { 1, 0, 0, 0 };

	memcpy(tab + 4, other, 6);
	assert_int_equal(ctrl(&d, 0, 0, &off, 1), 0);
	/* unicast: other; multicast: none (le32 0) */
	assert_int_equal(ctrl(&d, 1, 0, tab, sizeof(tab)), 0);
	/* cut short: refused */
	assert_int_equal(ctrl(&d, 1, 0, tab, sizeof(tab) - 1), 1);
	assert_int_equal(ctrl(&d, 1, 1, newmac, 6), 0);
	assert_int_equal(virtio_net_announce(d.n, &p, &err), 0);
	assert_true(echo_wait_frames(e, 1));
	assert_int_equal(cfg_status(&d), 3);

	int fd = memfd_create("net-state", 0);
	assert_true(fd >= 0);
	assert_int_equal(state_writer_open(&w, fd, &err), 0);
	virtio_mmio_quiesce(d.vd);
	virtio_mmio_save(d.vd, 0, &w);
	assert_int_equal(state_end(&w, &err), 0);
	assert_int_equal(state_writer_finish(&w, &err), 0);
	virtio_mmio_destroy(d.vd);
	virtio_net_destroy(d.n);
	netdev_destroy(e->nd);

	/* a fresh device and back end, the same guest RAM and driver */
	struct virtio_net_config cfg;
	struct irq_line irq = { irq_set, NULL };
	e->nd = netdev_new(&echo_ops, e, "echo", &err);
	assert_non_null(e->nd);
	assert_int_equal(netdev_start(e->nd, &err), 0);
	virtio_net_config_init(&cfg, 1);
	cfg.netdev = e->nd;
	d.n = virtio_net_create(&cfg, &err);
	assert_non_null(d.n);
	d.vd = virtio_mmio_create(d.gm, virtio_net_dev_ops(d.n), d.n, &irq,
				  &err);
	assert_non_null(d.vd);
	assert_int_equal(cfg_status(&d), 1);
	assert_int_equal(load_fd(d.vd, fd, &err), 0);
	close(fd);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(d.mo->read(d.vd, R_CONFIG + i, 1), newmac[i]);
	assert_int_equal(cfg_status(&d), 3);
	assert_true(echo_reaches_guest(&d, newmac));
	assert_true(echo_reaches_guest(&d, other));
	assert_false(echo_reaches_guest(&d, other2));
	assert_int_equal(ctrl(&d, 3, 0, NULL, 0), 0);
	assert_int_equal(cfg_status(&d), 1);
	echo_down(&d, e);
}

/* Write a virtio-mmio section for a net device without a driver (3 queues
 * of zeros) of version `version`, then the net part if version 2. */
static int crafted(uint32_t version, unsigned nq, uint32_t n_uc,
		   const uint8_t mac[6], uint8_t promisc)
{
	struct state_writer w;
	struct error err = { 0 };
	int fd = memfd_create("net-crafted", 0);

	assert_true(fd >= 0);
	assert_int_equal(state_writer_open(&w, fd, &err), 0);
	state_begin(&w, "virtio-mmio", 0, version);
	state_put_u32(&w, 1);
	state_put_u32(&w, nq);
	state_put_u32(&w, 0);
	state_put_u8(&w, 0);
	state_put_u8(&w, 0);
	state_put_u64(&w, 0);
	for (int i = 0; i < 5; i++)
		state_put_u32(&w, 0);
	for (unsigned q = 0; q < nq; q++) {
		state_put_u32(&w, 0);
		state_put_u32(&w, 0);
		state_put_u64(&w, 0);
		state_put_u64(&w, 0);
		state_put_u64(&w, 0);
		state_put_u16(&w, 0);
		state_put_u16(&w, 0);
		state_put_u16(&w, 0);
		state_put_u8(&w, 0);
	}
	if (version >= 2) {
		state_put_u8(&w, promisc);
		state_put_u8(&w, 0);
		state_put_u8(&w, 0);
		state_put_bytes(&w, mac, 6);
		state_put_u8(&w, 0);
		state_put_u8(&w, 0);
		state_put_u32(&w, n_uc);
		for (uint32_t i = 0; i < n_uc && i < 100; i++)
			state_put_bytes(&w, mac, 6);
		state_put_u32(&w, 0);
	}
	assert_int_equal(state_end(&w, &err), 0);
	assert_int_equal(state_writer_finish(&w, &err), 0);
	return fd;
}

/* Hostile or old device state: refused with a message naming the field,
 * or (a version-1 file of two queues) taken with the reset filter. */
static void test_state_checked(void **state)
{
	struct drv d = { 0 };
	struct echo *e = echo_up(&d, 0);
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 0x45 };
	static const uint8_t mcast[6] = { 0x53, 0x54, 0, 0, 0, 0x45 };
	struct error err = { 0 };
	int fd;

	fd = crafted(2, 3, 65, mac, 1);
	assert_int_equal(load_fd(d.vd, fd, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "at most 64"));
	close(fd);
	fd = crafted(2, 3, 0, mcast, 1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(load_fd(d.vd, fd, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a unicast address"));
	close(fd);
	fd = crafted(2, 3, 0, mac, 7);
	assert_int_equal(load_fd(d.vd, fd, &err), -EINVAL);
	close(fd);
	fd = crafted(2, 4, 0, mac, 1); /* more queues than the device */
	assert_int_equal(load_fd(d.vd, fd, &err), -EINVAL);
	close(fd);
	/* a good one: the MAC shows */
	fd = crafted(2, 3, 2, mac, 0);
	assert_int_equal(load_fd(d.vd, fd, &err), 0);
	close(fd);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(d.mo->read(d.vd, R_CONFIG + i, 1), mac[i]);
	/* version 1, two queues (before the control queue): the reset
	 * state, the configured MAC */
	fd = crafted(1, 2, 0, mac, 0);
	assert_int_equal(load_fd(d.vd, fd, &err), 0);
	close(fd);
	assert_int_equal(d.mo->read(d.vd, R_CONFIG + 5, 1), 0x57);
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
		cmocka_unit_test(test_ctrl_rx_filter),
		cmocka_unit_test(test_ctrl_malformed),
		cmocka_unit_test(test_announce),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
