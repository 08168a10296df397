/*
 * Unit tests for internal qcow2 snapshots (src/block/qcow2_snap.c) and the
 * copy-on-write of shared clusters in the write path (qcow2.c): create,
 * write, apply, delete cycles checked by image_check and, when qemu-utils
 * is installed, by qemu-img check, with snapshots made by either tool
 * applied by the other.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "block/image.h"

#define MiB (1ull << 20)
#define CS  65536

static char dir[64], img[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/sv-test-snap-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/a.qcow2", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int run(const char *fmt, ...) SV_PRINTF(1, 2);

static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have_qemu(void)
{
	return run("qemu-img --version >/dev/null 2>&1") == 0 &&
	       run("qemu-io --version >/dev/null 2>&1") == 0;
}

static void check_clean(void)
{
	struct image_check res;
	struct error err = { 0 };

	assert_int_equal(image_check(img, stderr, &res, &err), 0);
	assert_int_equal(res.corruptions, 0);
	assert_int_equal(res.leaks, 0);
	if (have_qemu())
		assert_int_equal(run("qemu-img check -q %s", img), 0);
}

static struct blockdev *open_rw(void)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, "qcow2", false, &err);

	if (!bd)
		fail_msg("%s", err.msg);
	return bd;
}

/* Write byte v over [off, off+len) through Softvisor. */
static void put(uint64_t off, size_t len, int v)
{
	struct blockdev *bd = open_rw();
	uint8_t *b = malloc(len);
	struct iovec io = { b, len };

	memset(b, v, len);
	assert_int_equal(blockdev_writev(bd, &io, 1, off), 0);
	assert_int_equal(blockdev_flush(bd), 0);
	free(b);
	blockdev_close(bd);
}

/* Assert [off, off+len) reads as byte v through Softvisor. */
static void expect(uint64_t off, size_t len, int v)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, "qcow2", true, &err);
	uint8_t *b = malloc(len);
	struct iovec io = { b, len };

	assert_non_null(bd);
	assert_int_equal(blockdev_readv(bd, &io, 1, off), 0);
	for (size_t i = 0; i < len; i++)
		if (b[i] != v)
			fail_msg("offset %llu: 0x%02x, expected 0x%02x",
				 (unsigned long long)(off + i), b[i], v);
	free(b);
	blockdev_close(bd);
}

static void test_cycle(void **state)
{
	struct error err = { 0 };
	struct image_snapshot *l;
	struct blockdev *bd;
	unsigned n;

	(void)state;
	assert_int_equal(image_create(img, "qcow2", 64 * MiB, NULL, &err), 0);
	put(0, 2 * CS, 0x11);
	put(40 * MiB, CS, 0x12);
	assert_int_equal(image_snapshot_create(img, "s1", &err), 0);
	check_clean();
	/* partial and whole clusters, a new L2 region, zeroes, discard */
	put(100, 1000, 0x21);
	put(CS, CS, 0x22);
	put(60 * MiB, CS, 0x23);
	bd = open_rw();
	assert_int_equal(blockdev_write_zeroes(bd, 40 * MiB, CS, false), 0);
	blockdev_close(bd);
	check_clean();
	expect(0, 100, 0x11);
	expect(100, 1000, 0x21);
	expect(1100, CS - 1100, 0x11);
	expect(CS, CS, 0x22);
	expect(40 * MiB, CS, 0);
	assert_int_equal(image_snapshot_create(img, "s2", &err), 0);
	put(0, CS, 0x31);
	assert_int_equal(image_snapshot_list(img, &l, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].name, "s1");
	assert_string_equal(l[1].name, "s2");
	assert_string_equal(l[1].id, "2");
	free(l);

	assert_int_equal(image_snapshot_apply(img, "s1", &err), 0);
	check_clean();
	expect(0, 2 * CS, 0x11);
	expect(40 * MiB, CS, 0x12);
	expect(60 * MiB, CS, 0);
	assert_int_equal(image_snapshot_apply(img, "2", &err), 0); /* by id */
	check_clean();
	expect(100, 1000, 0x21);
	expect(CS, CS, 0x22);
	expect(60 * MiB, CS, 0x23);
	assert_int_equal(image_snapshot_delete(img, "s1", &err), 0);
	check_clean();
	assert_int_equal(image_snapshot_delete(img, "s2", &err), 0);
	check_clean();
	/* no snapshot left: everything is written in place again */
	put(CS, CS, 0x41);
	check_clean();
	expect(CS, CS, 0x41);

	/* errors name the image and the snapshot */
	assert_int_equal(image_snapshot_create(img, "x", &err), 0);
	assert_int_equal(image_snapshot_create(img, "x", &err), -EEXIST);
	assert_non_null(strstr(err.msg, img));
	assert_non_null(strstr(err.msg, "x"));
	assert_int_equal(image_snapshot_apply(img, "nope", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "nope"));
	assert_int_equal(image_snapshot_delete(img, "nope", &err), -ENOENT);
	check_clean();
}

/* Snapshots made by qemu-img applied by Softvisor and the reverse. */
static void test_qemu_interop(void **state)
{
	struct error err = { 0 };
	struct image_snapshot *l;
	unsigned n;

	(void)state;
	if (!have_qemu())
		skip();
	assert_int_equal(run("qemu-img create -q -f qcow2 %s 32M", img), 0);
	assert_int_equal(run("qemu-io -f qcow2 -c 'write -P 0x51 0 256k' %s "
			     ">/dev/null",
			     img),
			 0);
	assert_int_equal(run("qemu-img snapshot -c q1 %s", img), 0);
	put(0, 3 * CS, 0x52);
	check_clean();
	assert_int_equal(image_snapshot_list(img, &l, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].name, "q1");
	free(l);
	assert_int_equal(image_snapshot_apply(img, "q1", &err), 0);
	check_clean();
	expect(0, 4 * CS, 0x51);

	/* ours, listed and applied by qemu-img */
	put(0, CS, 0x53);
	assert_int_equal(image_snapshot_create(img, "sv1", &err), 0);
	assert_int_equal(run("qemu-img snapshot -l %s | grep -q sv1", img), 0);
	assert_int_equal(run("qemu-io -f qcow2 -c 'write -P 0x54 0 128k' %s "
			     ">/dev/null",
			     img),
			 0);
	check_clean();
	assert_int_equal(run("qemu-img snapshot -a sv1 %s", img), 0);
	check_clean();
	assert_int_equal(run("qemu-io -f qcow2 -c 'read -P 0x53 0 64k' "
			     "-c 'read -P 0x51 64k 192k' %s | grep -q Pattern",
			     img),
			 1);
	expect(0, CS, 0x53);
	assert_int_equal(run("qemu-img snapshot -d q1 %s", img), 0);
	assert_int_equal(image_snapshot_delete(img, "sv1", &err), 0);
	check_clean();
	assert_int_equal(run("qemu-img snapshot -l %s | grep -q sv1", img), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_interop, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
