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
/* Snapshots of an image kept open (a running VM's disk): the device
 * writes on after the snapshot, copy-on-write keeps the snapshot's data;
 * deleting one on the open device frees it; a raw device is refused. */
static void test_open_device(void **state)
{
	struct error err = { 0 };
	struct image_snapshot *l;
	unsigned n;
	(void)state;

	assert_int_equal(image_create(img, "qcow2", 8 * MiB, NULL, &err), 0);
	struct blockdev *bd = open_rw();
	uint8_t *b = malloc(2 * CS);
	struct iovec io = { b, 2 * CS };
	memset(b, 0x11, 2 * CS);
	assert_int_equal(blockdev_writev(bd, &io, 1, CS), 0);
	assert_int_equal(blockdev_snapshot_create(bd, "live", &err), 0);
	assert_int_equal(blockdev_snapshot_create(bd, "live", &err), -EEXIST);
	memset(b, 0x22, 2 * CS);
	assert_int_equal(blockdev_writev(bd, &io, 1, CS), 0);
	assert_int_equal(blockdev_snapshot_create(bd, "tmp", &err), 0);
	assert_int_equal(blockdev_snapshot_delete(bd, "tmp", &err), 0);
	assert_int_equal(blockdev_snapshot_delete(bd, "tmp", &err), -ENOENT);
	assert_int_equal(blockdev_flush(bd), 0);
	blockdev_close(bd);
	check_clean();
	expect(CS, 2 * CS, 0x22);
	assert_int_equal(image_snapshot_list(img, &l, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].name, "live");
	free(l);
	assert_int_equal(image_snapshot_apply(img, "live", &err), 0);
	expect(CS, 2 * CS, 0x11);
	check_clean();

	char raw[160];
	snprintf(raw, sizeof(raw), "%s/r.raw", dir);
	assert_int_equal(image_create(raw, "raw", MiB, NULL, &err), 0);
	bd = blockdev_open(raw, "raw", false, &err);
	assert_non_null(bd);
	assert_int_equal(blockdev_snapshot_create(bd, "x", &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "raw"));
	blockdev_close(bd);
	free(b);
}

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

/* Random writes, zeroes, discards and snapshot operations against a model
 * of the disk and of every snapshot; the image checks clean after each
 * snapshot operation. Deterministic (fixed seed). */
#define RND_SIZE  (4 * MiB)
#define RND_SNAPS 4

static void test_random(void **state)
{
	static uint8_t model[RND_SIZE], snap[RND_SNAPS][RND_SIZE],
		buf[RND_SIZE];
	bool have[RND_SNAPS] = { false };
	struct error err = { 0 };
	struct blockdev *bd;
	unsigned seed = 1234, ops[3] = { 0 };

	(void)state;
	assert_int_equal(image_create(img, "qcow2", RND_SIZE, NULL, &err), 0);
	memset(model, 0, sizeof(model));
	for (int step = 0; step < 100; step++) {
		int op = rand_r(&seed) % 8, k = rand_r(&seed) % RND_SNAPS;
		char name[8];

		snprintf(name, sizeof(name), "s%d", k);
		if (op < 5) { /* I/O burst */
			bd = open_rw();
			for (int i = 0; i < 8; i++) {
				uint64_t off =
					(uint64_t)(rand_r(&seed) % 1024) * 4096;
				size_t len = (size_t)(1 + rand_r(&seed) % 40) *
					     4096;
				int what = rand_r(&seed) % 6;
				struct iovec io = { buf, len };

				if (off + len > RND_SIZE)
					len = RND_SIZE - off;
				io.iov_len = len;
				if (what == 0) {
					assert_int_equal(
						blockdev_write_zeroes(
							bd, off, len,
							rand_r(&seed) & 1),
						0);
					memset(model + off, 0, len);
				} else {
					memset(buf, 1 + rand_r(&seed) % 250,
					       len);
					assert_int_equal(blockdev_writev(bd,
									 &io, 1,
									 off),
							 0);
					memcpy(model + off, buf, len);
				}
			}
			blockdev_close(bd);
		} else if (op == 5 && !have[k]) {
			assert_int_equal(image_snapshot_create(img, name, &err),
					 0);
			memcpy(snap[k], model, RND_SIZE);
			have[k] = true;
			ops[0]++;
			check_clean();
		} else if (op == 6 && have[k]) {
			assert_int_equal(image_snapshot_apply(img, name, &err),
					 0);
			memcpy(model, snap[k], RND_SIZE);
			ops[1]++;
			check_clean();
		} else if (op == 7 && have[k]) {
			assert_int_equal(image_snapshot_delete(img, name, &err),
					 0);
			have[k] = false;
			ops[2]++;
			check_clean();
		}
		bd = open_rw();
		{
			struct iovec io = { buf, RND_SIZE };

			assert_int_equal(blockdev_readv(bd, &io, 1, 0), 0);
		}
		blockdev_close(bd);
		if (memcmp(buf, model, RND_SIZE))
			fail_msg("step %d: the disk differs from the model",
				 step);
	}
	check_clean();
	print_message("%u creates, %u applies, %u deletes\n", ops[0], ops[1],
		      ops[2]);
	assert_true(ops[0] >= 3 && ops[1] >= 2 && ops[2] >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_qemu_interop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_random, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
