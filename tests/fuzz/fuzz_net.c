/*
 * libFuzzer target: virtio-net (src/virtio/net.c) driven through the real
 * virtio-mmio transport and virtqueues, with an echo back end: every frame
 * the guest transmits comes back on the receive queue. Exercises the
 * transmit parser (header, checksum offload, lengths) and the receive path
 * (buffer gathering with and without MRG_RXBUF, num_buffers, hostile
 * receive buffers) deterministically: the netdev thread is never started,
 * its work runs here through netdev_run_once().
 *
 * Input layout:
 *   u8 features     bit 0: MRG_RXBUF, bit 1: CSUM, bit 2: GUEST_CSUM,
 *                   bit 3: CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR, GUEST_ANNOUNCE
 *                   (and the control queue)
 *   then operations until the input ends, each one byte op: 0xfa..0xfc a
 *   control request (as transmit, on queue 2), 0xfd..0xff an announce
 *   round (netdev_announce, 1 round, then the loop once), else op % 3:
 *     0 transmit: u8 n (1 + n % 4 buffers), n x { u8 flags (bit 0:
 *       device-writable), u16 len (% 2048), readable: len bytes }
 *     1 post receive buffers: u8 n (1 + n % 4), n x { u8 flags (bit 0:
 *       device-READABLE, a driver bug), u16 len (% 4096) }
 *     2 run the back end's loop once
 * Descriptor slots are handed out round robin (a hostile driver may reuse
 * slots the device still holds: that must be harmless).
 *
 * Invariants (abort): used ids < queue size, used lengths within what the
 * queue could have offered, transmit lengths 0, no more used entries than
 * chains made available.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "net/netdev.h"
#include "util/log.h"
#include "virtio/net.h"
#include "virtio/virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

#define RAM_BASE  0x80000000ull
#define RAM_SIZE  (1ull << 20)
#define QSZ	  16
#define QBASE(q)  (RAM_BASE + (uint64_t)(q)*0x4000)
#define BUF(q, i) (RAM_BASE + 0x10000 + ((uint64_t)(q)*QSZ + (i)) * 0x1000)

struct echo {
	struct netdev *nd;
};

static struct gmem *gm;
static struct echo echo;
static struct virtio_net *vn;
static struct virtio_dev *vd;
static const struct mmio_ops *mo;
static uint16_t avail[3], used_seen[3], next_desc[3];
static unsigned n_q = 2;

static void echo_output(void *be, const uint8_t *frame, size_t len)
{
	struct echo *e = be;

	CHECK(len >= 14 && len <= NETDEV_MAX_FRAME);
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

static void init(void)
{
	struct virtio_net_config cfg;
	struct error err;

	log_configure("error", NULL, 0);
	gm = gmem_create(RAM_BASE, RAM_SIZE, &err);
	CHECK(gm);
	echo.nd = netdev_new(&echo_ops, &echo, "fuzz", &err);
	CHECK(echo.nd);
	virtio_net_config_init(&cfg, 0);
	cfg.netdev = echo.nd;
	vn = virtio_net_create(&cfg, &err);
	CHECK(vn);
	vd = virtio_mmio_create(gm, virtio_net_dev_ops(vn), vn, NULL, &err);
	CHECK(vd);
	mo = virtio_mmio_ops();
}

static void reg_w(uint64_t off, uint32_t v)
{
	mo->write(vd, off, v, 4);
}

static void wr(uint64_t gpa, const void *p, size_t n)
{
	CHECK(gmem_write(gm, gpa, p, n) == 0);
}

static void desc(unsigned q, unsigned i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	uint8_t b[16];

	memcpy(b, &addr, 8);
	memcpy(b + 8, &len, 4);
	memcpy(b + 12, &flags, 2);
	memcpy(b + 14, &next, 2);
	wr(QBASE(q) + 16 * i, b, 16);
}

static void make_avail(unsigned q, uint16_t head)
{
	uint16_t idx;

	wr(QBASE(q) + 0x1000 + 4 + 2 * (avail[q] % QSZ), &head, 2);
	avail[q]++;
	idx = avail[q];
	wr(QBASE(q) + 0x1000 + 2, &idx, 2);
	reg_w(0x050, q); /* QueueNotify */
}

static void device_up(uint32_t feat)
{
	static const uint8_t zero[0x4000];

	n_q = feat & 1u << VIRTIO_NET_F_CTRL_VQ_BIT ? 3 : 2;
	for (unsigned q = 0; q < 3; q++) {
		wr(QBASE(q), zero, sizeof(zero));
		avail[q] = used_seen[q] = next_desc[q] = 0;
	}
	reg_w(0x070, 0); /* reset */
	reg_w(0x070, 1);
	reg_w(0x070, 3);
	reg_w(0x024, 0);
	reg_w(0x020, feat);
	reg_w(0x024, 1);
	reg_w(0x020, 1); /* VERSION_1 */
	reg_w(0x070, 3 | 8);
	for (unsigned q = 0; q < n_q; q++) {
		reg_w(0x030, q);
		reg_w(0x038, QSZ);
		reg_w(0x080, (uint32_t)QBASE(q));
		reg_w(0x084, (uint32_t)(QBASE(q) >> 32));
		reg_w(0x090, (uint32_t)(QBASE(q) + 0x1000));
		reg_w(0x094, (uint32_t)((QBASE(q) + 0x1000) >> 32));
		reg_w(0x0a0, (uint32_t)(QBASE(q) + 0x2000));
		reg_w(0x0a4, (uint32_t)((QBASE(q) + 0x2000) >> 32));
		reg_w(0x044, 1);
	}
	reg_w(0x070, 3 | 8 | 4);
}

/* Check the used entries the device added since the last look. */
static void check_used(unsigned q)
{
	uint16_t idx;

	CHECK(gmem_read(gm, QBASE(q) + 0x2000 + 2, &idx, 2) == 0);
	CHECK((uint16_t)(idx - used_seen[q]) <=
	      (uint16_t)(avail[q] - used_seen[q]));
	while (used_seen[q] != idx) {
		uint32_t e[2];
		uint64_t at = QBASE(q) + 0x2000 + 4 + 8 * (used_seen[q] % QSZ);

		CHECK(gmem_read(gm, at, e, 8) == 0);
		CHECK(e[0] < QSZ);
		if (q == 1)
			CHECK(e[1] == 0);
		else if (q == 2)
			CHECK(e[1] == 1); /* the ack byte */
		else
			CHECK(e[1] <= QSZ * 4096);
		used_seen[q]++;
	}
}

/* Build a chain of up to 4 buffers on queue q; returns bytes consumed. */
static size_t chain(unsigned q, const uint8_t *data, size_t size)
{
	uint16_t slot[4], flags[4];
	uint32_t len[4];
	unsigned n, k;
	size_t used = 1;

	if (size < 1)
		return size;
	n = 1 + data[0] % 4;
	for (k = 0; k < n && size - used >= 3; k++) {
		uint8_t fl = data[used];
		uint32_t l = (uint32_t)(data[used + 1] | data[used + 2] << 8);

		used += 3;
		slot[k] = next_desc[q]++ % QSZ;
		if (q >= 1) {
			len[k] = l % 2048;
			flags[k] = (fl & 1) ? 2 : 0; /* WRITE: odd for tx */
			if (!(fl & 1)) {
				size_t c = len[k] < size - used ? len[k]
								: size - used;
				wr(BUF(q, slot[k]), data + used, c);
				used += c;
			}
		} else {
			len[k] = l % 4096;
			flags[k] = (fl & 1) ? 0 : 2; /* readable: hostile */
		}
	}
	if (k == 0)
		return used;
	for (unsigned i = 0; i < k; i++)
		desc(q, slot[i], BUF(q, slot[i]), len[i],
		     (uint16_t)(flags[i] | (i + 1 < k ? 1 : 0)),
		     i + 1 < k ? slot[i + 1] : 0);
	make_avail(q, slot[0]);
	return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t feat = 0;
	size_t pos = 1;

	if (!vn)
		init();
	if (size < 1)
		return 0;
	if (data[0] & 1)
		feat |= 1u << VIRTIO_NET_F_MRG_RXBUF_BIT;
	if (data[0] & 2)
		feat |= 1u << VIRTIO_NET_F_CSUM_BIT;
	if (data[0] & 4)
		feat |= 1u << VIRTIO_NET_F_GUEST_CSUM_BIT;
	if (data[0] & 8)
		feat |= 1u << VIRTIO_NET_F_CTRL_VQ_BIT |
			1u << VIRTIO_NET_F_CTRL_RX_BIT |
			1u << VIRTIO_NET_F_CTRL_MAC_ADDR_BIT |
			1u << VIRTIO_NET_F_GUEST_ANNOUNCE_BIT;
	device_up(feat);
	while (pos < size) {
		uint8_t b = data[pos++], op = b % 3;

		if (b >= 0xfd) {
			struct netdev_announce_params p = { 1, 0, 0, 0 };
			CHECK(virtio_net_announce(vn, &p, NULL) == 0);
			netdev_run_once(echo.nd);
		} else if (b >= 0xfa) {
			if (n_q == 3)
				pos += chain(2, data + pos, size - pos);
		} else if (op == 2) {
			netdev_run_once(echo.nd);
		} else {
			pos += chain(op == 0 ? 1 : 0, data + pos, size - pos);
		}
		for (unsigned q = 0; q < n_q; q++)
			check_used(q);
	}
	netdev_run_once(echo.nd);
	for (unsigned q = 0; q < n_q; q++)
		check_used(q);
	/* reset: the device lets go of held buffers; queued frames drop */
	reg_w(0x070, 0);
	netdev_run_once(echo.nd);
	return 0;
}
