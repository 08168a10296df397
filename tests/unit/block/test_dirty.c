/* Unit tests for the block mirror's dirty bitmap (block/dirty.c) and its
 * hook in the block layer's write path (blockdev_dirty_*): granule
 * arithmetic, collect-and-clear, concurrent marks beside a collector, and
 * which requests mark (writes, write-zeroes, discards, not reads), on raw
 * and qcow2 images. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "block/dirty.h"
#include "block/image.h"

#define GRAN (64u << 10)

static bool bit(const uint64_t *w, uint64_t g)
{
	return (w[g / 64] >> (g % 64)) & 1;
}

static void test_granules(void **state)
{
	(void)state;
	/* 200 granules and a partial one */
	uint64_t size = 200ull * GRAN + 4096;
	struct block_dirty *b = block_dirty_create(size, GRAN);
	assert_non_null(b);
	assert_int_equal(block_dirty_words(b), 4); /* 201 granules */
	assert_int_equal(block_dirty_granule(b), GRAN);

	block_dirty_mark(b, 0, 1);		     /* granule 0 */
	block_dirty_mark(b, GRAN - 1, 2);	     /* 0 and 1 */
	block_dirty_mark(b, 63ull * GRAN, 2 * GRAN); /* 63, 64: a word edge */
	block_dirty_mark(b, 100ull * GRAN, 0);	     /* nothing */
	block_dirty_mark(b, 200ull * GRAN + 10, 1 << 30); /* clamped: 200 */
	block_dirty_mark(b, size, 4096);		  /* past the end */
	assert_int_equal(block_dirty_count(b), 5);

	uint64_t w[4] = { 0 };
	assert_int_equal(block_dirty_collect(b, w, 4), 5);
	for (uint64_t g = 0; g < 201; g++)
		assert_int_equal(bit(w, g), g == 0 || g == 1 || g == 63 ||
						    g == 64 || g == 200);
	/* collected bits are cleared; collect ORs into out */
	assert_int_equal(block_dirty_count(b), 0);
	assert_int_equal(block_dirty_collect(b, w, 4), 0);
	block_dirty_mark(b, 5ull * GRAN, 1);
	assert_int_equal(block_dirty_collect(b, w, 4), 1);
	assert_true(bit(w, 5) && bit(w, 0));

	/* a whole word at once, and a range over three words */
	memset(w, 0, sizeof(w));
	block_dirty_mark(b, 64ull * GRAN, 64ull * GRAN);
	assert_int_equal(block_dirty_collect(b, w, 4), 64);
	assert_int_equal(w[1], ~0ull);
	memset(w, 0, sizeof(w));
	block_dirty_mark(b, 10ull * GRAN + 7, 150ull * GRAN);
	assert_int_equal(block_dirty_collect(b, w, 4), 151); /* 10..160 */
	assert_false(bit(w, 9));
	assert_true(bit(w, 10) && bit(w, 160));
	assert_false(bit(w, 161));
	block_dirty_free(b);

	/* bad granules */
	assert_null(block_dirty_create(size, 511));
	assert_null(block_dirty_create(size, 3 * 4096));
	assert_null(block_dirty_create(size, 32u << 20));
	/* an empty device: no granules, nothing to mark */
	b = block_dirty_create(0, GRAN);
	assert_non_null(b);
	block_dirty_mark(b, 0, 100);
	assert_int_equal(block_dirty_count(b), 0);
	block_dirty_free(b);
}

/* Writers mark disjoint granules, each once, while the main thread
 * collects: every mark is collected exactly once. */
#define WRITERS	   4
#define PER_WRITER 20000
struct writer {
	struct block_dirty *b;
	unsigned id;
};

static void *writer_main(void *arg)
{
	struct writer *wr = arg;

	for (uint64_t i = 0; i < PER_WRITER; i++) {
		uint64_t g = i * WRITERS + wr->id;
		block_dirty_mark(wr->b, g * 4096 + (i % 4096), 1);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	uint64_t granules = (uint64_t)WRITERS * PER_WRITER;
	struct block_dirty *b = block_dirty_create(granules * 4096, 4096);
	assert_non_null(b);
	size_t n = block_dirty_words(b);
	uint64_t *all = calloc(n, sizeof(*all)), *once = calloc(n, 8);
	assert_non_null(all);
	assert_non_null(once);
	pthread_t th[WRITERS];
	struct writer wr[WRITERS];
	for (unsigned i = 0; i < WRITERS; i++) {
		wr[i] = (struct writer){ b, i };
		assert_int_equal(
			pthread_create(&th[i], NULL, writer_main, &wr[i]), 0);
	}
	uint64_t total = 0;
	for (int k = 0; k < 200; k++) {
		memset(once, 0, n * 8);
		total += block_dirty_collect(b, once, n);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(all[i] & once[i], 0); /* no twice */
			all[i] |= once[i];
		}
	}
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	memset(once, 0, n * 8);
	total += block_dirty_collect(b, once, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(all[i] & once[i], 0);
		all[i] |= once[i];
	}
	assert_int_equal(total, granules);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(all[i], ~0ull);
	free(all);
	free(once);
	block_dirty_free(b);
}

/* The write path of an open image marks what changed, and only while on. */
static void check_blockdev(const char *fmt)
{
	char path[64];
	struct error err = { 0 };
	strcpy(path, "/tmp/sv-test-dirty-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(image_create(path, fmt, 4u << 20, NULL, &err), 0);
	struct blockdev *bd = blockdev_open(path, fmt, false, &err);
	assert_non_null(bd);
	char buf[8192];
	memset(buf, 0xa5, sizeof(buf));
	struct iovec iov = { buf, sizeof(buf) };
	uint64_t w[1] = { 0 };

	/* off: nothing is tracked */
	assert_int_equal(blockdev_dirty_words(bd), 0);
	assert_int_equal(blockdev_writev(bd, &iov, 1, 0), 0);
	assert_int_equal(blockdev_dirty_collect(bd, w, 1), 0);

	assert_int_equal(blockdev_dirty_start(bd, 3000), -EINVAL);
	assert_int_equal(blockdev_dirty_start(bd, GRAN), 0);
	assert_int_equal(blockdev_dirty_start(bd, GRAN), -EBUSY);
	assert_int_equal(blockdev_dirty_words(bd), 1); /* 64 granules */
	/* a read marks nothing, nor does the mirror's own read, which
	 * sees what was written */
	assert_int_equal(blockdev_readv(bd, &iov, 1, 0), 0);
	char back[8192];
	struct iovec bv = { back, sizeof(back) };
	assert_int_equal(blockdev_readv_unlimited(bd, &bv, 1, 0), 0);
	assert_memory_equal(back, buf, sizeof(buf));
	assert_int_equal(blockdev_readv_unlimited(bd, &bv, 1, 4u << 20),
			 -EINVAL);
	assert_int_equal(blockdev_dirty_collect(bd, w, 1), 0);
	/* a write over a granule edge: two */
	assert_int_equal(blockdev_writev(bd, &iov, 1, GRAN - 4096), 0);
	/* write-zeroes and discard */
	assert_int_equal(blockdev_write_zeroes(bd, 10ull * GRAN, 512, false),
			 0);
	assert_int_equal(blockdev_discard(bd, 20ull * GRAN, GRAN), 0);
	/* a refused write (out of range) marks nothing */
	assert_int_equal(blockdev_writev(bd, &iov, 1, 4u << 20), -EINVAL);
	assert_int_equal(blockdev_dirty_collect(bd, w, 1), 4);
	assert_int_equal(w[0], (1ull << 0) | (1ull << 1) | (1ull << 10) |
				       (1ull << 20));
	w[0] = 0;
	assert_int_equal(blockdev_dirty_collect(bd, w, 1), 0);
	blockdev_dirty_stop(bd);
	assert_int_equal(blockdev_writev(bd, &iov, 1, 30ull * GRAN), 0);
	assert_int_equal(blockdev_dirty_collect(bd, w, 1), 0);
	/* on again, and closed while on: freed with the device */
	assert_int_equal(blockdev_dirty_start(bd, GRAN), 0);
	assert_int_equal(blockdev_writev(bd, &iov, 1, 63ull * GRAN), 0);
	assert_int_equal(blockdev_dirty_collect(bd, w, 1), 1);
	assert_int_equal(w[0], 1ull << 63);
	blockdev_close(bd);
	unlink(path);
}

static void test_blockdev_raw(void **state)
{
	(void)state;
	check_blockdev("raw");
}

static void test_blockdev_qcow2(void **state)
{
	(void)state;
	check_blockdev("qcow2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_granules),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_blockdev_raw),
		cmocka_unit_test(test_blockdev_qcow2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
