/*
 * libFuzzer target: the virtio-mmio transport (src/virtio/mmio.c) driven by
 * a hostile driver, with the virtqueues behind it.
 *
 * The input is a list of 8-byte records, each one guest action:
 *   u8  op      0 register/config read, 1 write, 2 store to guest RAM,
 *               3 back-end event (config change / device error)
 *   u8  size    access width 1 << (size % 4)
 *   u16 off     offset in the 0x1000-byte window (or RAM offset for op 2)
 *   u32 value
 * A fake back end (single-threaded here) serves every kick at once: it pops
 * the queue, completes each chain and raises the interrupt, or reports a
 * malformed ring with virtio_device_error(), as a real back end would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "util/log.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_BASE 0x10000ull
#define RAM_SIZE 0x10000ull

static struct gmem *gm;
static struct virtio_dev *vd;
static struct virtq_req req;
static uint8_t config[24];
static int started;
static volatile uint64_t sink;

static void f_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	if (off + len > sizeof(config))
		abort();
	memcpy(buf, config + off, len);
}

static void f_config_write(void *opaque, uint32_t off, const void *buf,
			   uint32_t len)
{
	if (off + len > sizeof(config))
		abort();
	memcpy(config + off, buf, len);
}

static void f_start(void *opaque, struct virtio_dev *d)
{
	started = 1;
}

static void f_reset(void *opaque)
{
	started = 0;
}

static void f_notify(void *opaque, unsigned q)
{
	struct virtq *vq;
	int r;

	if (!started || virtio_broken(vd))
		return;
	vq = virtio_queue(vd, q);
	if (!vq)
		return;
	while ((r = virtq_pop(vq, &req)) > 0) {
		uint8_t b[64] = { 0 };

		sink += virtq_req_read(&req, 0, b, sizeof(b));
		sink += virtq_req_write(&req, 0, b, sizeof(b));
		virtq_push(vq, &req, (uint32_t)req.in_len);
		virtio_notify(vd, q);
	}
	if (r < 0)
		virtio_device_error(vd, "fuzz: malformed ring");
}

static void f_irq(void *opaque, int level)
{
	sink += (uint64_t)level;
}

static const struct virtio_dev_ops fuzz_ops = {
	.name = "virtio-fuzz",
	.device_id = VIRTIO_ID_BLOCK,
	.n_queues = 3,
	.queue_max = 256,
	.features = 1ull << 5,
	.config_size = sizeof(config),
	.config_read = f_config_read,
	.config_write = f_config_write,
	.start = f_start,
	.reset = f_reset,
	.queue_notify = f_notify,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct irq_line irq = { f_irq, NULL };
	const struct mmio_ops *ops = virtio_mmio_ops();

	if (!gm) {
		log_configure("error", NULL, 0);
		gm = gmem_create(RAM_BASE, RAM_SIZE, NULL);
		if (!gm)
			abort();
	}
	vd = virtio_mmio_create(gm, &fuzz_ops, NULL, &irq, NULL);
	if (!vd)
		abort();
	memset(config, 0x5a, sizeof(config));
	for (; size >= 8; data += 8, size -= 8) {
		unsigned width = 1u << (data[1] % 4);
		uint64_t off = (uint64_t)(data[2] | data[3] << 8);
		uint32_t v;

		memcpy(&v, data + 4, 4);
		switch (data[0] % 4) {
		case 0:
			off = (off & 0xfff) & ~(uint64_t)(width - 1);
			sink += ops->read(vd, off, width);
			break;
		case 1:
			off = (off & 0xfff) & ~(uint64_t)(width - 1);
			ops->write(vd, off, v, width);
			break;
		case 2:
			off = off & (RAM_SIZE - 4);
			if (gmem_write(gm, RAM_BASE + off, &v, 4) != 0)
				abort();
			break;
		default:
			if (v & 1)
				virtio_device_error(vd, "fuzz: back end error");
			else
				virtio_config_changed(vd);
			break;
		}
	}
	virtio_mmio_destroy(vd);
	vd = NULL;
	return 0;
}
