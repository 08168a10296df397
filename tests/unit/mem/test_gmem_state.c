/* Unit tests of src/mem/gmem_state.c: guest RAM survives a save and a load
 * into another gmem (zero frames skipped and restored as zero), and a
 * section for another RAM size is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "mem/gmem.h"
#include "util/state_io.h"

#define BASE 0x80000000ULL
#define SIZE ((uint64_t)GMEM_STATE_CHUNK * 4096 + (40ULL << 12)) /* 2 chunks */

static int save(struct gmem *gm, struct gmem_state_stats *st)
{
	struct state_writer w;
	struct error err = { 0 };
	int fd = memfd_create("ram", 0);
	assert_true(fd >= 0);
	assert_int_equal(state_writer_open(&w, fd, &err), 0);
	assert_int_equal(gmem_state_save(gm, &w, st, &err), 0);
	assert_int_equal(state_writer_finish(&w, &err), 0);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static int load(struct gmem *gm, int fd, struct error *err)
{
	struct state_reader r;
	int rc = state_reader_open(&r, fd, err);
	while (!rc && (rc = state_next(&r, err)) == 1)
		rc = gmem_state_load(gm, &r, err);
	state_reader_close(&r);
	return rc;
}

static void fill(struct gmem *gm, uint64_t gpa, uint8_t v, size_t len)
{
	uint8_t buf[3 * 4096];
	memset(buf, v, len);
	assert_int_equal(gmem_write(gm, gpa, buf, len), 0);
}

static void test_round_trip(void **unused)
{
	struct gmem *a = gmem_create(BASE, SIZE, NULL);
	struct gmem *b = gmem_create(BASE, SIZE, NULL);
	struct gmem_state_stats st = { 0 };
	struct error err = { 0 };

	assert_int_equal(gmem_state_chunks(a), 2);
	fill(a, BASE, 0x11, 4096);
	fill(a, BASE + 5 * 4096 + 100, 0x22, 2 * 4096); /* frames 5..7 */
	fill(a, BASE + SIZE - 4096, 0x33, 4096);	/* the last frame */
	fill(a, BASE + 9 * 4096, 0, 4096); /* written, but zeros: skipped */
	/* b holds other data where a has zeros: it must go */
	fill(b, BASE + 20 * 4096, 0x44, 4096);
	fill(b, BASE + SIZE - 2 * 4096, 0x55, 4096);

	int fd = save(a, &st);
	assert_int_equal(st.frames_total, SIZE / 4096);
	assert_int_equal(st.frames_saved, 5);
	off_t len = lseek(fd, 0, SEEK_END);
	assert_true(len > 5 * 4096 && len < 6 * 4096);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(load(b, fd, &err), 0);

	uint8_t pa[4096], pb[4096];
	for (uint64_t f = 0; f < SIZE / 4096; f++) {
		assert_int_equal(gmem_read(a, BASE + f * 4096, pa, 4096), 0);
		assert_int_equal(gmem_read(b, BASE + f * 4096, pb, 4096), 0);
		if (memcmp(pa, pb, 4096))
			fail_msg("frame %llu differs", (unsigned long long)f);
	}
	close(fd);
	gmem_destroy(a);
	gmem_destroy(b);
}

/* Live migration: a full pass while "the guest runs" (frames not named
 * zeroed in the receiver, whose own build put a kernel there), then the
 * frames written meanwhile as deltas (other frames kept): the receiver
 * ends equal to the sender. */
static void test_passes(void **unused)
{
	struct gmem *a = gmem_create(BASE, SIZE, NULL);
	struct gmem *b = gmem_create(BASE, SIZE, NULL);
	size_t nw = gmem_dirty_log_words(a);
	uint64_t *bm = calloc(nw, sizeof(*bm));
	struct state_writer w;
	struct error err = { 0 };
	int fd = memfd_create("ram", 0);

	fill(a, BASE, 0x11, 4096);
	fill(a, BASE + 7 * 4096, 0x12, 4096);
	fill(b, BASE + 30 * 4096, 0x66, 4096); /* gone after pass 0 */
	assert_int_equal(state_writer_open(&w, fd, &err), 0);
	gmem_dirty_log_start(a);
	assert_int_equal(
		gmem_state_save_frames(a, &w, "ram-pass", NULL, NULL, &err), 0);
	fill(a, BASE + 7 * 4096, 0x13, 4096);	 /* changed after pass 0 */
	fill(a, BASE + SIZE - 4096, 0x14, 4096); /* new */
	assert_int_equal(gmem_dirty_log_collect(a, bm, nw), 2);
	assert_int_equal(
		gmem_state_save_frames(a, &w, "ram-pass", bm, NULL, &err), 0);
	fill(a, BASE, 0, 4096); /* zeroed: the delta carries zeros */
	gmem_dirty_log_stop(a);
	assert_int_equal(gmem_dirty_log_collect(a, bm, nw), 1);
	assert_int_equal(gmem_state_save_frames(a, &w, "ram", bm, NULL, &err),
			 0);
	assert_int_equal(state_writer_finish(&w, &err), 0);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(load(b, fd, &err), 0);

	uint8_t pa[4096], pb[4096];
	for (uint64_t f = 0; f < SIZE / 4096; f++) {
		assert_int_equal(gmem_read(a, BASE + f * 4096, pa, 4096), 0);
		assert_int_equal(gmem_read(b, BASE + f * 4096, pb, 4096), 0);
		if (memcmp(pa, pb, 4096))
			fail_msg("frame %llu differs", (unsigned long long)f);
	}
	close(fd);
	free(bm);
	gmem_destroy(a);
	gmem_destroy(b);
}

static void test_size_mismatch(void **unused)
{
	struct gmem *a = gmem_create(BASE, 1 << 20, NULL);
	struct gmem *b = gmem_create(BASE, 2 << 20, NULL);
	struct error err = { 0 };

	fill(a, BASE, 0x11, 4096);
	int fd = save(a, NULL);
	assert_int_equal(load(b, fd, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "VM state section ram/0: saved with 1 MiB of RAM "
			    "at 0x80000000, this VM has 2 MiB (--memory)");
	close(fd);
	gmem_destroy(a);
	gmem_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_passes),
		cmocka_unit_test(test_size_mismatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
