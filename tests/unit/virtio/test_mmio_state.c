/* Unit tests of the virtio-mmio transport's save/load (docs/vm-state.md):
 * a device set up by a driver and with used queue indices survives a save
 * and a load into a fresh device, which starts its back end; a section for
 * another device type or with rings outside RAM is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "mem/gmem.h"
#include "util/state_io.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (1ull << 20)

static int starts, quiesces;

static void f_start(void *opaque, struct virtio_dev *d)
{
	starts++;
}

static void f_reset(void *opaque)
{
}

static void f_quiesce(void *opaque)
{
	quiesces++;
}

static const struct virtio_dev_ops ops_rng = {
	.name = "fake-rng",
	.device_id = VIRTIO_ID_RNG,
	.n_queues = 2,
	.queue_max = 64,
	.start = f_start,
	.reset = f_reset,
	.quiesce = f_quiesce,
};

static const struct virtio_dev_ops ops_blk = {
	.name = "fake-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.n_queues = 2,
	.queue_max = 64,
	.start = f_start,
	.reset = f_reset,
};

static void wr(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	virtio_mmio_ops()->write(d, off, v, 4);
}

static uint32_t rd(struct virtio_dev *d, uint64_t off)
{
	return (uint32_t)virtio_mmio_ops()->read(d, off, 4);
}

/* A driver's set-up: features (VERSION_1), queue 0 of 16 entries. */
static void drive(struct virtio_dev *d)
{
	wr(d, 0x070, 1 | 2);
	wr(d, 0x024, 1);
	wr(d, 0x020, 1); /* VERSION_1 (bit 32) */
	wr(d, 0x070, 1 | 2 | 8);
	wr(d, 0x030, 0);
	wr(d, 0x038, 16);
	wr(d, 0x080, (uint32_t)(RAM_BASE + 0x1000));
	wr(d, 0x084, (uint32_t)((RAM_BASE + 0x1000) >> 32));
	wr(d, 0x090, (uint32_t)(RAM_BASE + 0x2000));
	wr(d, 0x094, (uint32_t)((RAM_BASE + 0x2000) >> 32));
	wr(d, 0x0a0, (uint32_t)(RAM_BASE + 0x3000));
	wr(d, 0x0a4, (uint32_t)((RAM_BASE + 0x3000) >> 32));
	wr(d, 0x044, 1);
	wr(d, 0x070, 1 | 2 | 8 | 4);
}

static int save(struct virtio_dev *d)
{
	struct state_writer w;
	struct error err = { 0 };
	int fd = memfd_create("vmmio", 0);
	assert_true(fd >= 0);
	assert_int_equal(state_writer_open(&w, fd, &err), 0);
	virtio_mmio_quiesce(d);
	virtio_mmio_save(d, 3, &w);
	assert_int_equal(state_end(&w, &err), 0);
	assert_int_equal(state_writer_finish(&w, &err), 0);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static int load(struct virtio_dev *d, int fd, uint32_t instance,
		struct error *err)
{
	struct state_reader r;
	lseek(fd, 0, SEEK_SET);
	int rc = state_reader_open(&r, fd, err);
	if (!rc && (rc = state_next(&r, err)) == 1)
		rc = virtio_mmio_load(d, instance, &r, err);
	state_reader_close(&r);
	return rc;
}

static void test_round_trip(void **unused)
{
	struct gmem *gm = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	struct virtio_dev *a = virtio_mmio_create(gm, &ops_rng, NULL, NULL,
						  NULL);
	struct virtio_dev *b = virtio_mmio_create(gm, &ops_rng, NULL, NULL,
						  NULL);
	struct error err = { 0 };

	assert_true(virtio_mmio_can_save(a));
	drive(a);
	assert_int_equal(starts, 1);
	struct virtq_state qs = { .last_avail = 7,
				  .used_idx = 5,
				  .signalled_used = 4,
				  .notify_enabled = true };
	virtq_set_state(virtio_queue(a, 0), &qs);
	virtq_unpop(virtio_queue(a, 0), 2); /* two held buffers given back */

	int fd = save(a);
	assert_int_equal(quiesces, 1);
	assert_int_equal(load(b, fd, 3, &err), 0);
	assert_int_equal(starts, 2); /* DRIVER_OK: the back end started */
	assert_int_equal(rd(b, 0x070), 1 | 2 | 8 | 4);
	wr(b, 0x030, 0);
	assert_int_equal(rd(b, 0x044), 1);
	wr(b, 0x024, 1);
	struct virtq_state got;
	virtq_get_state(virtio_queue(b, 0), &got);
	assert_int_equal(got.last_avail, 5);
	assert_int_equal(got.used_idx, 5);
	assert_int_equal(got.signalled_used, 4);
	assert_true(got.notify_enabled);
	assert_null(virtio_queue(b, 1));

	/* the wrong slot and the wrong device type */
	assert_int_equal(load(b, fd, 2, &err), -EINVAL);
	assert_string_equal(err.msg, "VM state section virtio-mmio/3: "
				     "expected virtio-mmio/2");
	struct virtio_dev *c = virtio_mmio_create(gm, &ops_blk, NULL, NULL,
						  NULL);
	assert_false(virtio_mmio_can_save(c));
	assert_int_equal(load(c, fd, 3, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "saved for virtio device type 4"));
	close(fd);
	virtio_mmio_destroy(a);
	virtio_mmio_destroy(b);
	virtio_mmio_destroy(c);
	gmem_destroy(gm);
}

/* Rings that are not in this VM's RAM are refused and nothing stays. */
static void test_rings_outside_ram(void **unused)
{
	struct gmem *big = gmem_create(RAM_BASE, 16 * RAM_SIZE, NULL);
	struct gmem *small = gmem_create(RAM_BASE, 0x2000, NULL);
	struct virtio_dev *a = virtio_mmio_create(big, &ops_rng, NULL, NULL,
						  NULL);
	struct virtio_dev *b = virtio_mmio_create(small, &ops_rng, NULL, NULL,
						  NULL);
	struct error err = { 0 };

	drive(a);
	int fd = save(a);
	assert_int_equal(load(b, fd, 3, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "queue 0: bad rings"));
	assert_int_equal(rd(b, 0x070), 0); /* reset, not half-loaded */
	close(fd);
	virtio_mmio_destroy(a);
	virtio_mmio_destroy(b);
	gmem_destroy(big);
	gmem_destroy(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rings_outside_ram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
