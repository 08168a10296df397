/*
 * Unit tests for backing chains and external snapshots
 * (src/block/image_chain.c): the chain walk and its bad inputs (a loop, a
 * missing backing file, a chain too deep), overlays, commit and pull,
 * checked by image_check and, when qemu-utils is installed, by qemu-img
 * check / compare / info --backing-chain.
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

#define MiB  (1ull << 20)
#define SIZE (16 * MiB)
#define CS   65536

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/sv-test-chain-XXXXXX");
	assert_non_null(mkdtemp(dir));
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
	char cmd[2048];
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
	return run("qemu-img --version >/dev/null 2>&1") == 0;
}

static const char *p(const char *name)
{
	static char buf[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

static void check_clean(const char *path)
{
	struct image_check res;
	struct error err = { 0 };

	assert_int_equal(image_check(path, stderr, &res, &err), 0);
	assert_int_equal(res.corruptions, 0);
	assert_int_equal(res.leaks, 0);
	if (have_qemu())
		assert_int_equal(run("qemu-img check -q %s", path), 0);
}

/* Write len bytes of value v at off through the image's chain. */
static void fill(const char *path, uint64_t off, size_t len, int v)
{
	struct error err = { 0 };
	const char *fmt = blockdev_probe(path, &err);
	struct blockdev *bd = blockdev_open(path, fmt, false, &err);
	uint8_t *b = malloc(len);

	if (!bd)
		fail_msg("%s", err.msg);
	memset(b, v, len);
	struct iovec iov = { b, len };
	assert_int_equal(blockdev_writev(bd, &iov, 1, off), 0);
	assert_int_equal(blockdev_flush(bd), 0);
	blockdev_close(bd);
	free(b);
}

/* Every byte of [off, off+len) of the image (through its chain) is v. */
static void expect(const char *path, const char *fmt, uint64_t off, size_t len,
		   int v)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(path, fmt, true, &err);
	uint8_t *b = malloc(len);

	if (!bd)
		fail_msg("%s", err.msg);
	struct iovec iov = { b, len };
	assert_int_equal(blockdev_readv(bd, &iov, 1, off), 0);
	for (size_t i = 0; i < len; i++)
		if (b[i] != (uint8_t)v)
			fail_msg("%s at %llu: 0x%02x, expected 0x%02x", path,
				 (unsigned long long)(off + i), b[i], v);
	blockdev_close(bd);
	free(b);
}

/* base (raw or qcow2) <- s1 <- s2, data in each layer:
 *   [0, 1M)     0x11 base
 *   [512K, 1.5M) 0x33 s1 (over base's and its own space)
 *   [4M, 4M+64K) 0x22 base, zeroed in s1 (a v3 zero cluster)
 *   [10M, +100K) 0x44 s2 */
static void make_chain(const char *base_fmt)
{
	struct error err = { 0 };

	assert_int_equal(image_create(p("base"), base_fmt, SIZE, NULL, &err),
			 0);
	fill(p("base"), 0, MiB, 0x11);
	fill(p("base"), 4 * MiB, CS, 0x22);
	assert_int_equal(
		image_snapshot_external(p("base"), base_fmt, p("s1"), &err), 0);
	fill(p("s1"), MiB / 2, MiB, 0x33);
	struct blockdev *bd = blockdev_open(p("s1"), "qcow2", false, &err);
	assert_non_null(bd);
	assert_int_equal(blockdev_write_zeroes(bd, 4 * MiB, CS, false), 0);
	blockdev_close(bd);
	assert_int_equal(
		image_snapshot_external(p("s1"), "qcow2", p("s2"), &err), 0);
	fill(p("s2"), 10 * MiB, 100 << 10, 0x44);
}

static void expect_top(const char *path)
{
	expect(path, "qcow2", 0, MiB / 2, 0x11);
	expect(path, "qcow2", MiB / 2, MiB, 0x33);
	expect(path, "qcow2", 4 * MiB, CS, 0);
	expect(path, "qcow2", 10 * MiB, 100 << 10, 0x44);
	expect(path, "qcow2", 12 * MiB, MiB, 0);
}

static void test_chain_walk(void **state)
{
	struct image_chain_entry *c;
	struct error err = { 0 };
	unsigned n;

	(void)state;
	make_chain("raw");
	assert_int_equal(image_chain(p("s2"), NULL, &c, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(c[0].format, "qcow2");
	assert_string_equal(c[1].format, "qcow2");
	assert_string_equal(c[2].format, "raw");
	assert_string_equal(c[0].backing, c[1].path);
	assert_string_equal(c[1].backing, c[2].path);
	assert_string_equal(c[2].backing, "");
	assert_true(strstr(c[2].path, "/base") != NULL);
	assert_int_equal(c[0].virtual_size, SIZE);
	free(c);
	expect(p("s1"), "qcow2", 10 * MiB, 100 << 10, 0); /* below s2 */
	expect(p("base"), "raw", 4 * MiB, CS, 0x22);	  /* frozen */
	expect_top(p("s2"));
	check_clean(p("s1"));
	check_clean(p("s2"));
	if (!have_qemu())
		return;
	/* QEMU sees the same chain and the same bytes */
	assert_int_equal(run("qemu-img info --backing-chain %s | grep -c "
			     "'^image:' | grep -qx 3",
			     p("s2")),
			 0);
	assert_int_equal(run("qemu-io -r -f qcow2 -c 'read -P 0x33 524288 "
			     "1048576' -c 'read -P 0 4194304 65536' -c "
			     "'read -P 0x44 10485760 102400' %s | grep -q "
			     "'^read' && ! qemu-io -r -f qcow2 -c 'read -P "
			     "0x33 524288 1048576' -c 'read -P 0 4194304 "
			     "65536' -c 'read -P 0x44 10485760 102400' %s | "
			     "grep -q 'Pattern verification failed'",
			     p("s2"), p("s2")),
			 0);
}

static void test_commit(void **state)
{
	struct error err = { 0 };

	(void)state;
	make_chain("qcow2");
	/* s2 into s1: s1 reads as s2 did; s2 unchanged */
	assert_int_equal(image_commit(p("s2"), NULL, NULL, &err), 0);
	expect_top(p("s1"));
	expect_top(p("s2"));
	check_clean(p("s1"));
	/* s1 into base: the zero cluster hides base's 0x22 */
	assert_int_equal(image_commit(p("s1"), NULL, NULL, &err), 0);
	expect_top(p("base"));
	check_clean(p("base"));
	if (have_qemu())
		assert_int_equal(
			run("qemu-img compare -q %s %s", p("base"), p("s2")),
			0);
	/* no backing file: nothing to commit into */
	assert_int_equal(image_commit(p("base"), NULL, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no backing file"));
}

static void test_commit_raw_base(void **state)
{
	struct error err = { 0 };

	(void)state;
	make_chain("raw");
	assert_int_equal(image_commit(p("s2"), NULL, NULL, &err), 0);
	assert_int_equal(image_commit(p("s1"), NULL, NULL, &err), 0);
	expect(p("base"), "raw", 0, MiB / 2, 0x11);
	expect(p("base"), "raw", MiB / 2, MiB, 0x33);
	expect(p("base"), "raw", 4 * MiB, CS, 0);
	expect(p("base"), "raw", 10 * MiB, 100 << 10, 0x44);
}

/* Deleting the middle of a chain: commit s1 into base, point s2 at base
 * (qemu-img rebase -u), drop s1: s2 reads the same. */
static void test_commit_middle_and_rebase(void **state)
{
	struct image_info in;
	struct error err = { 0 };
	char abs[256];

	(void)state;
	make_chain("qcow2");
	assert_int_equal(image_commit(p("s1"), NULL, NULL, &err), 0);
	assert_non_null(realpath(p("base"), abs));
	assert_int_equal(image_rebase_unsafe(p("s2"), abs, "qcow2", &err), 0);
	assert_int_equal(unlink(p("s1")), 0);
	assert_int_equal(image_info(p("s2"), &in, &err), 0);
	assert_string_equal(in.backing, abs);
	assert_string_equal(in.backing_format, "qcow2");
	expect_top(p("s2"));
	check_clean(p("s2"));
	if (have_qemu())
		assert_int_equal(
			run("qemu-img info --backing-chain %s | grep -c "
			    "'^image:' | grep -qx 2",
			    p("s2")),
			0);
	/* a relative name, then none */
	assert_int_equal(image_rebase_unsafe(p("s2"), "base", NULL, &err), 0);
	expect_top(p("s2"));
	assert_int_equal(image_rebase_unsafe(p("s2"), NULL, NULL, &err), 0);
	assert_int_equal(image_info(p("s2"), &in, &err), 0);
	assert_string_equal(in.backing, "");
	check_clean(p("s2"));
	expect(p("s2"), "qcow2", 10 * MiB, 100 << 10, 0x44);
	/* a missing new backing file changes nothing */
	assert_int_equal(image_rebase_unsafe(p("s2"), "nope", NULL, &err),
			 -ENOENT);
}

static void test_pull(void **state)
{
	struct image_info in;
	struct error err = { 0 };

	(void)state;
	make_chain("raw");
	assert_int_equal(image_pull(p("s2"), NULL, NULL, &err), 0);
	assert_int_equal(image_info(p("s2"), &in, &err), 0);
	assert_string_equal(in.backing, "");
	assert_string_equal(in.backing_format, "");
	/* it stands alone: the rest of the chain may go */
	assert_int_equal(unlink(p("s1")), 0);
	assert_int_equal(unlink(p("base")), 0);
	expect_top(p("s2"));
	check_clean(p("s2"));
	if (have_qemu())
		assert_int_equal(run("qemu-img info %s | grep -q 'backing "
				     "file'",
				     p("s2")),
				 1);
	assert_int_equal(image_pull(p("s2"), NULL, NULL, &err), -EINVAL);
}

static void test_pull_refuses_internal_snapshots(void **state)
{
	struct error err = { 0 };

	(void)state;
	make_chain("qcow2");
	assert_int_equal(image_snapshot_create(p("s2"), "keep", &err), 0);
	assert_int_equal(image_pull(p("s2"), NULL, NULL, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "internal snapshot"));
	expect_top(p("s2"));
}

static void test_missing_backing(void **state)
{
	struct image_chain_entry *c;
	struct error err = { 0 };
	unsigned n;

	(void)state;
	make_chain("qcow2");
	assert_int_equal(unlink(p("s1")), 0);
	assert_int_equal(image_chain(p("s2"), NULL, &c, &n, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "backing file"));
	assert_non_null(strstr(err.msg, "/s1"));
	assert_non_null(strstr(err.msg, "/s2"));
	assert_int_equal(image_commit(p("s2"), NULL, NULL, &err), -ENOENT);
	assert_int_equal(image_pull(p("s2"), NULL, NULL, &err), -ENOENT);
	assert_int_equal(
		image_snapshot_external(p("s2"), "qcow2", p("s3"), &err),
		-ENOENT);
	assert_int_equal(access(p("s3"), F_OK), -1); /* nothing left */
}

static void test_loop(void **state)
{
	struct image_chain_entry *c;
	struct error err = { 0 };
	unsigned n;

	(void)state;
	/* a -> c, b -> a; then c becomes a copy of b: a -> c -> a */
	assert_int_equal(image_create(p("c"), "qcow2", SIZE, NULL, &err), 0);
	assert_int_equal(image_snapshot_external(p("c"), NULL, p("a"), &err),
			 0);
	assert_int_equal(image_snapshot_external(p("a"), NULL, p("b"), &err),
			 0);
	assert_int_equal(run("cp %s %s", p("b"), p("c")), 0);
	assert_int_equal(image_chain(p("a"), NULL, &c, &n, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "loop"));
	assert_int_equal(image_commit(p("a"), NULL, NULL, &err), -ELOOP);
	assert_int_equal(image_snapshot_external(p("a"), NULL, p("d"), &err),
			 -ELOOP);
	/* the driver refuses to open it too */
	assert_null(blockdev_open(p("a"), "qcow2", true, &err));
}

static void test_too_deep(void **state)
{
	struct image_chain_entry *c;
	struct error err = { 0 };
	char prev[256], cur[256];
	unsigned n;

	(void)state;
	snprintf(prev, sizeof(prev), "%s", p("l0"));
	assert_int_equal(image_create(prev, "qcow2", SIZE, NULL, &err), 0);
	fill(prev, 0, CS, 0x5a);
	for (int i = 1; i < 8; i++) {
		snprintf(cur, sizeof(cur), "%s/l%d", dir, i);
		assert_int_equal(image_snapshot_external(prev, NULL, cur, &err),
				 0);
		snprintf(prev, sizeof(prev), "%s", cur);
	}
	assert_int_equal(image_chain(prev, NULL, &c, &n, &err), 0);
	assert_int_equal(n, 8);
	free(c);
	expect(prev, "qcow2", 0, CS, 0x5a); /* 8 images open fine */
	assert_int_equal(image_snapshot_external(prev, NULL, p("l8"), &err),
			 -ELOOP);
	assert_non_null(strstr(err.msg, "limit of 8"));
	if (!have_qemu())
		return;
	/* a ninth made by qemu-img: refused with a message */
	assert_int_equal(run("qemu-img create -q -f qcow2 -u -b %s -F qcow2 "
			     "%s 16M",
			     prev, p("l8")),
			 0);
	assert_int_equal(image_chain(p("l8"), NULL, &c, &n, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "deeper than 8"));
	assert_int_equal(image_commit(p("l8"), NULL, NULL, &err), -ELOOP);
	/* commit shortens it: l7 into l6, then l8 on l6 is fine again */
	assert_int_equal(image_commit(prev, NULL, NULL, &err), 0);
}

static void test_refuses_existing_overlay(void **state)
{
	struct error err = { 0 };

	(void)state;
	assert_int_equal(image_create(p("base"), "qcow2", SIZE, NULL, &err), 0);
	fill(p("base"), 0, CS, 0x77);
	assert_int_equal(image_create(p("x"), "raw", MiB, NULL, &err), 0);
	assert_int_equal(image_snapshot_external(p("base"), NULL, p("x"), &err),
			 -EEXIST);
	assert_int_equal(
		image_snapshot_external(p("base"), NULL, p("base"), &err),
		-EEXIST);
	expect(p("base"), "qcow2", 0, CS, 0x77);
	assert_int_equal(image_snapshot_external(p("nope"), NULL, p("y"), &err),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_walk, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_raw_base, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_commit_middle_and_rebase,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pull, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_pull_refuses_internal_snapshots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_backing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_deep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_existing_overlay,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
