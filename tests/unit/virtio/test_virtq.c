/*
 * Unit tests for src/virtio/virtq.c: rings built by hand in a real gmem, as
 * a driver would lay them out, then popped and pushed; every malformed case
 * of virtq.h is rejected without advancing the queue.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mem/gmem.h"
#include "virtio/virtq.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (8ull << 20)
#define QSZ	 16
#define DESC	 (RAM_BASE + 0x0000)
#define AVAIL	 (RAM_BASE + 0x1000)
#define USED	 (RAM_BASE + 0x2000)
#define BUF	 (RAM_BASE + 0x10000)

#define F_NEXT	   1
#define F_WRITE	   2
#define F_INDIRECT 4

static struct gmem *gm;
static struct virtq_req req; /* 16 KiB: not on the stack */
static uint16_t drv_avail;   /* the driver's avail->idx */

static void wr(uint64_t gpa, const void *p, size_t n)
{
	assert_int_equal(gmem_write(gm, gpa, p, n), 0);
}

static void wr16(uint64_t gpa, uint16_t v)
{
	wr(gpa, &v, 2);
}

static uint16_t rd16(uint64_t gpa)
{
	uint16_t v;

	assert_int_equal(gmem_read(gm, gpa, &v, 2), 0);
	return v;
}

static uint32_t rd32(uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(gmem_read(gm, gpa, &v, 4), 0);
	return v;
}

static void desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	wr(table + 16 * i, d, 16);
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	desc_at(DESC, i, addr, len, flags, next);
}

static void make_avail(uint16_t head)
{
	wr16(AVAIL + 4 + 2 * (drv_avail % QSZ), head);
	drv_avail++;
	wr16(AVAIL + 2, drv_avail);
}

static struct virtq *mkq(bool event_idx, bool indirect)
{
	struct virtq *vq;
	static uint8_t zero[0x3000];

	wr(RAM_BASE, zero, sizeof(zero));
	drv_avail = 0;
	vq = virtq_create(gm, QSZ, DESC, AVAIL, USED, event_idx, indirect);
	assert_non_null(vq);
	return vq;
}

static int setup(void **state)
{
	gm = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	return gm ? 0 : -1;
}

static int teardown(void **state)
{
	gmem_destroy(gm);
	return 0;
}

/* ---- good chains ------------------------------------------------------- */

static void test_simple_chain(void **state)
{
	struct virtq *vq = mkq(false, false);
	char out[32] = { 0 };

	wr(BUF, "hello ", 6);
	wr(BUF + 0x100, "world", 5);
	desc(3, BUF, 6, F_NEXT, 7);
	desc(7, BUF + 0x100, 5, F_NEXT, 1);
	desc(1, BUF + 0x200, 64, F_WRITE, 0);
	assert_int_equal(virtq_pop(vq, &req), 0);
	assert_false(virtq_has_work(vq));
	make_avail(3);
	assert_true(virtq_has_work(vq));
	assert_int_equal(virtq_pop(vq, &req), 1);
	assert_int_equal(req.head, 3);
	assert_int_equal(req.n_out, 2);
	assert_int_equal(req.n_in, 1);
	assert_int_equal(req.out_len, 11);
	assert_int_equal(req.in_len, 64);
	assert_int_equal(virtq_req_read(&req, 0, out, sizeof(out)), 11);
	assert_string_equal(out, "hello world");
	assert_int_equal(virtq_req_read(&req, 4, out, 4), 4);
	assert_memory_equal(out, "o wo", 4);
	assert_int_equal(virtq_req_write(&req, 2, "XYZ", 3), 3);
	assert_int_equal(virtq_req_write(&req, 62, "XYZ", 3), 2);
	assert_int_equal(virtq_pop(vq, &req), 0);
	virtq_push(vq, &req, 5);
	assert_int_equal(rd16(USED + 2), 1);
	assert_int_equal(rd32(USED + 4), 3);
	assert_int_equal(rd32(USED + 8), 5);
	assert_int_equal(gmem_read(gm, BUF + 0x200, out, 5), 0);
	assert_memory_equal(out, "\0\0XYZ", 5);
	/* written is clamped to the in-buffers' size */
	make_avail(3);
	assert_int_equal(virtq_pop(vq, &req), 1);
	virtq_push(vq, &req, 1000);
	assert_int_equal(rd32(USED + 8 + 8), 64);
	virtq_destroy(vq);
}

static void test_zero_frames_and_page_cross(void **state)
{
	struct virtq *vq = mkq(false, false);
	uint64_t b = RAM_BASE + 0x200000 - 8; /* never written: zero frames */
	uint8_t buf[16];

	desc(0, b, 16, F_NEXT, 1);
	desc(1, b + 0x1000, 0, F_WRITE | F_NEXT, 2); /* empty: no iovec */
	desc(2, b + 0x2000, 16, F_WRITE, 0);
	make_avail(0);
	assert_int_equal(virtq_pop(vq, &req), 1);
	assert_int_equal(req.n_out, 2); /* two distinct zero-frame iovecs */
	assert_int_equal(req.out_len, 16);
	assert_int_equal(req.n_in, 1); /* made private: adjacent, merged */
	assert_int_equal(virtq_req_read(&req, 0, buf, 16), 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(virtq_req_write(&req, 0, "0123456789abcdef", 16), 16);
	virtq_push(vq, &req, 16);
	assert_int_equal(gmem_read(gm, b + 0x2000, buf, 16), 0);
	assert_memory_equal(buf, "0123456789abcdef", 16);
	virtq_destroy(vq);
}

static void test_indirect(void **state)
{
	struct virtq *vq = mkq(false, true);
	/* An unaligned table crossing a page boundary. */
	uint64_t t = RAM_BASE + 0x5000 - 24;
	char out[8] = { 0 };

	wr(BUF, "abc", 3);
	desc_at(t, 0, BUF, 3, F_NEXT, 2);
	desc_at(t, 2, BUF + 0x10, 1, F_NEXT, 1); /* entry crossing the page */
	desc_at(t, 1, BUF + 0x100, 8, F_WRITE, 0);
	desc(5, t, 48, F_INDIRECT, 0);
	make_avail(5);
	assert_int_equal(virtq_pop(vq, &req), 1);
	assert_int_equal(req.head, 5);
	assert_int_equal(req.n_out, 2);
	assert_int_equal(req.n_in, 1);
	assert_int_equal(req.out_len, 4);
	assert_int_equal(req.in_len, 8);
	assert_int_equal(virtq_req_read(&req, 0, out, 3), 3);
	assert_string_equal(out, "abc");
	virtq_push(vq, &req, 0);
	/* A direct descriptor followed by an indirect one. */
	desc(6, BUF, 3, F_NEXT, 5);
	make_avail(6);
	assert_int_equal(virtq_pop(vq, &req), 1);
	assert_int_equal(req.n_out, 3);
	assert_int_equal(req.n_in, 1);
	virtq_push(vq, &req, 0);
	assert_int_equal(rd16(USED + 2), 2);
	virtq_destroy(vq);
}

static void test_wraparound(void **state)
{
	struct virtq *vq = mkq(true, false);

	desc(0, BUF, 4, F_WRITE, 0);
	for (unsigned i = 0; i < 70000; i++) {
		make_avail(0);
		if (i % 3 == 0)
			make_avail(0);
		while (virtq_has_work(vq)) {
			assert_int_equal(virtq_pop(vq, &req), 1);
			virtq_push(vq, &req, 4);
		}
	}
	assert_int_equal(rd16(USED + 2), drv_avail);
	assert_int_equal(virtq_pop(vq, &req), 0);
	virtq_destroy(vq);
}

/* ---- notifications ----------------------------------------------------- */

static void test_notify_flags(void **state)
{
	struct virtq *vq = mkq(false, false);

	desc(0, BUF, 4, F_WRITE, 0);
	assert_false(virtq_need_notify(vq)); /* nothing pushed */
	make_avail(0);
	assert_int_equal(virtq_pop(vq, &req), 1);
	virtq_push(vq, &req, 0);
	assert_true(virtq_need_notify(vq));
	assert_false(virtq_need_notify(vq)); /* already told */
	wr16(AVAIL, 1);			     /* VIRTQ_AVAIL_F_NO_INTERRUPT */
	make_avail(0);
	assert_int_equal(virtq_pop(vq, &req), 1);
	virtq_push(vq, &req, 0);
	assert_false(virtq_need_notify(vq));
	/* VIRTQ_USED_F_NO_NOTIFY follows virtq_set_notify */
	virtq_set_notify(vq, false);
	assert_int_equal(rd16(USED), 1);
	virtq_set_notify(vq, true);
	assert_int_equal(rd16(USED), 0);
	virtq_destroy(vq);
}

static void test_event_idx(void **state)
{
	struct virtq *vq = mkq(true, false);
	uint64_t used_event = AVAIL + 4 + 2 * QSZ;
	uint64_t avail_event = USED + 4 + 8 * QSZ;

	desc(0, BUF, 4, F_WRITE, 0);
	/* Flags are ignored with EVENT_IDX (2.7.10). */
	wr16(AVAIL, 1);
	/* The driver wants an interrupt when used idx passes 2. */
	wr16(used_event, 2);
	for (int i = 0; i < 4; i++)
		make_avail(0);
	assert_int_equal(virtq_pop(vq, &req), 1);
	virtq_push(vq, &req, 0); /* used 1 */
	assert_false(virtq_need_notify(vq));
	assert_int_equal(virtq_pop(vq, &req), 1);
	virtq_push(vq, &req, 0); /* used 2 */
	assert_false(virtq_need_notify(vq));
	assert_int_equal(virtq_pop(vq, &req), 1);
	virtq_push(vq, &req, 0); /* used 3: passed 2 (event + 1) */
	assert_true(virtq_need_notify(vq));
	/* Two pushes at once that jump over the event also notify. */
	wr16(used_event, 3);
	assert_int_equal(virtq_pop(vq, &req), 1);
	virtq_push(vq, &req, 0); /* used 4 */
	assert_true(virtq_need_notify(vq));
	/* An empty pop publishes avail_event = next index to consume. */
	assert_int_equal(virtq_pop(vq, &req), 0);
	assert_int_equal(rd16(avail_event), 4);
	/* Disabled: an empty pop leaves avail_event alone; enable moves it. */
	virtq_set_notify(vq, false);
	make_avail(0);
	assert_int_equal(virtq_pop(vq, &req), 1);
	virtq_push(vq, &req, 0);
	assert_int_equal(virtq_pop(vq, &req), 0);
	assert_int_equal(rd16(avail_event), 4);
	virtq_set_notify(vq, true);
	assert_int_equal(rd16(avail_event), 5);
	virtq_destroy(vq);
}

/* ---- hostile rings ----------------------------------------------------- */

/* The queue rejects the chain and stays where it was. */
static void expect_bad(struct virtq *vq, int err)
{
	int r = virtq_pop(vq, &req);

	assert_true(r < 0);
	if (err)
		assert_int_equal(r, err);
	assert_int_equal(virtq_pop(vq, &req), r);
	assert_int_equal(req.n_out + req.n_in, 0);
}

static void test_bad_avail_idx(void **state)
{
	struct virtq *vq = mkq(false, false);

	wr16(AVAIL + 2, QSZ + 1);
	expect_bad(vq, -EINVAL);
	wr16(AVAIL + 2, 0xffff); /* "moved backwards" */
	expect_bad(vq, -EINVAL);
	wr16(AVAIL + 2, QSZ); /* a full ring is fine */
	desc(0, BUF, 1, 0, 0);
	for (int i = 0; i < QSZ; i++)
		assert_int_equal(virtq_pop(vq, &req), 1);
	assert_int_equal(virtq_pop(vq, &req), 0);
	virtq_destroy(vq);
}

static void test_bad_indexes(void **state)
{
	struct virtq *vq = mkq(false, false);

	make_avail(QSZ); /* head out of range */
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);

	vq = mkq(false, false);
	desc(0, BUF, 1, F_NEXT, QSZ); /* next out of range */
	make_avail(0);
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);

	vq = mkq(false, false);
	desc(0, BUF, 1, F_NEXT, 1); /* 0 -> 1 -> 0 ... */
	desc(1, BUF, 1, F_NEXT, 0);
	make_avail(0);
	expect_bad(vq, -ELOOP);
	virtq_destroy(vq);

	vq = mkq(false, false);
	desc(0, BUF, 0, F_NEXT, 0); /* self loop of empty descriptors */
	make_avail(0);
	expect_bad(vq, -ELOOP);
	virtq_destroy(vq);
}

static void test_bad_indirect(void **state)
{
	uint64_t t = BUF + 0x1000;
	struct virtq *vq = mkq(false, false);

	desc_at(t, 0, BUF, 1, 0, 0);
	desc(0, t, 16, F_INDIRECT, 0); /* not negotiated */
	make_avail(0);
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);

	vq = mkq(false, true);
	desc(0, t, 16, F_INDIRECT | F_NEXT, 1); /* INDIRECT with NEXT */
	desc(1, BUF, 1, 0, 0);
	make_avail(0);
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);

	vq = mkq(false, true);
	desc(0, t, 0, F_INDIRECT, 0); /* empty table */
	make_avail(0);
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);

	vq = mkq(false, true);
	desc(0, t, 24, F_INDIRECT, 0); /* not a multiple of 16 */
	make_avail(0);
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);

	vq = mkq(false, true);
	desc(0, t, 0x80000000u, F_INDIRECT, 0); /* absurdly long */
	make_avail(0);
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);

	vq = mkq(false, true);
	desc(0, RAM_BASE + RAM_SIZE - 16, 32, F_INDIRECT, 0); /* past RAM */
	make_avail(0);
	expect_bad(vq, -EFAULT);
	virtq_destroy(vq);

	vq = mkq(false, true);
	desc_at(t, 0, t, 16, F_INDIRECT, 0); /* nested */
	desc(0, t, 16, F_INDIRECT, 0);
	make_avail(0);
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);

	vq = mkq(false, true);
	desc_at(t, 0, BUF, 1, F_NEXT, 1); /* loop inside the table */
	desc_at(t, 1, BUF, 1, F_NEXT, 0);
	desc(0, t, 32, F_INDIRECT, 0);
	make_avail(0);
	expect_bad(vq, -ELOOP);
	virtq_destroy(vq);

	vq = mkq(false, true);
	desc_at(t, 0, BUF, 1, F_NEXT, 2); /* next past the table's end */
	desc(0, t, 32, F_INDIRECT, 0);
	make_avail(0);
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);
}

static void test_bad_buffers(void **state)
{
	struct virtq *vq = mkq(false, false);

	desc(0, BUF, 4, F_WRITE | F_NEXT, 1); /* readable after writable */
	desc(1, BUF, 4, 0, 0);
	make_avail(0);
	expect_bad(vq, -EINVAL);
	virtq_destroy(vq);

	vq = mkq(false, false);
	desc(0, RAM_BASE - 4, 8, 0, 0); /* starts below RAM */
	make_avail(0);
	expect_bad(vq, -EFAULT);
	virtq_destroy(vq);

	vq = mkq(false, false);
	desc(0, RAM_BASE + RAM_SIZE - 4, 8, F_WRITE, 0); /* ends past RAM */
	make_avail(0);
	expect_bad(vq, -EFAULT);
	virtq_destroy(vq);

	vq = mkq(false, false);
	desc(0, 0xfffffffffffff000ull, 0x2000, 0, 0); /* wraps */
	make_avail(0);
	expect_bad(vq, -EFAULT);
	virtq_destroy(vq);

	vq = mkq(false, false);
	desc(0, BUF, 16, F_NEXT, 1); /* total too big */
	desc(1, BUF, VIRTQ_MAX_CHAIN_BYTES - 15, F_WRITE, 0);
	make_avail(0);
	expect_bad(vq, -E2BIG);
	virtq_destroy(vq);

	/* 1025 untouched pages: 1025 separate zero-frame iovecs. */
	vq = mkq(false, false);
	desc(0, RAM_BASE + 0x300000, 1025 * 4096, 0, 0);
	make_avail(0);
	expect_bad(vq, -ENOBUFS);
	virtq_destroy(vq);
}

static void test_bad_create(void **state)
{
	assert_null(virtq_create(gm, 12, DESC, AVAIL, USED, 0, 0));
	assert_null(virtq_create(gm, 0, DESC, AVAIL, USED, 0, 0));
	assert_null(virtq_create(gm, QSZ, DESC + 8, AVAIL, USED, 0, 0));
	assert_null(virtq_create(gm, QSZ, DESC, AVAIL + 1, USED, 0, 0));
	assert_null(virtq_create(gm, QSZ, DESC, AVAIL, USED + 2, 0, 0));
	assert_null(virtq_create(gm, QSZ, 0x1000, AVAIL, USED, 0, 0));
	assert_null(virtq_create(gm, QSZ, DESC, AVAIL, RAM_BASE + RAM_SIZE - 64,
				 0, 0));
	assert_null(virtq_create(gm, 32768, RAM_BASE + RAM_SIZE - 0x10000,
				 AVAIL, USED, 0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_chain),
		cmocka_unit_test(test_zero_frames_and_page_cross),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_notify_flags),
		cmocka_unit_test(test_event_idx),
		cmocka_unit_test(test_bad_avail_idx),
		cmocka_unit_test(test_bad_indexes),
		cmocka_unit_test(test_bad_indirect),
		cmocka_unit_test(test_bad_buffers),
		cmocka_unit_test(test_bad_create),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
