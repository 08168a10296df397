/*
 * Unit tests for the qcow2 format (src/block/qcow2*.c) and the image tools
 * (image.h): round trips, zero clusters, discard, backing files, resize,
 * compressed clusters, hostile headers and tables, image_check, and
 * interoperability with QEMU's qemu-img/qemu-io when they are installed
 * (Debian: qemu-utils; cases that need them say so and skip otherwise).
 * Images live in a temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "block/image.h"

#define MiB (1ull << 20)
#define CS  65536 /* cluster size of images we create */

static char dir[64];
static char img[128], img2[128], img3[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/sv-test-qcow2-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/a.qcow2", dir);
	snprintf(img2, sizeof(img2), "%s/b.img", dir);
	snprintf(img3, sizeof(img3), "%s/c.img", dir);
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

static void patch(const char *path, uint64_t off, const void *p, size_t n);

static bool have_qemu(void)
{
	return system("qemu-img --version >/dev/null 2>&1") == 0;
}

static int run(const char *fmt, ...) SV_PRINTF(1, 2);

/* Run a shell command; its exit status. */
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

static void fill(void *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

static bool is_zero(const void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (((const uint8_t *)buf)[i])
			return false;
	return true;
}

static struct blockdev *create_open(const char *path, uint64_t size,
				    const char *backing)
{
	struct error err = { 0 };
	struct blockdev *bd;

	assert_int_equal(image_create(path, "qcow2", size, backing, &err), 0);
	bd = blockdev_open(path, "qcow2", false, &err);
	if (!bd)
		fail_msg("%s", err.msg);
	return bd;
}

static int rd(struct blockdev *bd, void *buf, size_t len, uint64_t off)
{
	struct iovec v = { buf, len };

	return blockdev_readv(bd, &v, 1, off);
}

static int wr(struct blockdev *bd, const void *buf, size_t len, uint64_t off)
{
	struct iovec v = { (void *)buf, len };

	return blockdev_writev(bd, &v, 1, off);
}

static uint64_t file_blocks(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
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

static void test_roundtrip(void **state)
{
	static uint8_t a[3 * CS], b[3 * CS];
	struct blockdev *bd = create_open(img, 16 * MiB, NULL);
	struct iovec v[3];
	struct error err = { 0 };

	(void)state;
	assert_string_equal(blockdev_format(bd), "qcow2");
	assert_int_equal(blockdev_size(bd), 16 * MiB);
	/* unwritten: zeros */
	assert_int_equal(rd(bd, b, sizeof(b), 0), 0);
	assert_true(is_zero(b, sizeof(b)));
	/* a write spanning 3 clusters, unaligned, vectored */
	fill(a, sizeof(a), 1);
	v[0] = (struct iovec){ a, 512 };
	v[1] = (struct iovec){ a + 512, CS };
	v[2] = (struct iovec){ a + 512 + CS, CS + 1024 };
	assert_int_equal(blockdev_writev(bd, v, 3, CS / 2 + 512), 0);
	assert_int_equal(rd(bd, b, 2 * CS + 1536, CS / 2 + 512), 0);
	assert_memory_equal(a, b, 2 * CS + 1536);
	/* the head of the first cluster stayed zero */
	assert_int_equal(rd(bd, b, CS / 2 + 512, 0), 0);
	assert_true(is_zero(b, CS / 2 + 512));
	/* overwrite in place */
	fill(a, 4096, 2);
	assert_int_equal(wr(bd, a, 4096, CS), 0);
	assert_int_equal(blockdev_flush(bd), 0);
	blockdev_close(bd);

	bd = blockdev_open(img, "qcow2", true, &err);
	assert_non_null(bd);
	assert_int_equal(rd(bd, b, 4096, CS), 0);
	assert_memory_equal(a, b, 4096);
	/* the last byte of the disk */
	assert_int_equal(rd(bd, b, 1, 16 * MiB - 1), 0);
	assert_int_equal(rd(bd, b, 2, 16 * MiB - 1), -EINVAL);
	assert_int_equal(wr(bd, a, 512, 0), -EROFS);
	blockdev_close(bd);
	check_clean(img);
}

/* Thin: only written clusters take space; zeros and discard give it
 * back (freed clusters are reused, the file does not grow). */
static void test_zero_and_discard(void **state)
{
	static uint8_t a[8 * CS], b[8 * CS];
	struct blockdev *bd = create_open(img, 64 * MiB, NULL);
	struct stat st;
	off_t before;

	(void)state;
	fill(a, sizeof(a), 3);
	assert_int_equal(wr(bd, a, sizeof(a), 4 * CS), 0);
	assert_int_equal(stat(img, &st), 0);
	before = st.st_size;
	assert_true(file_blocks(img) < 2 * MiB);

	/* write-zeroes over 2 whole clusters and a partial one */
	assert_int_equal(blockdev_write_zeroes(bd, 5 * CS, 2 * CS + 512, true),
			 0);
	assert_int_equal(rd(bd, b, sizeof(b), 4 * CS), 0);
	assert_memory_equal(b, a, CS);
	assert_true(is_zero(b + CS, 2 * CS + 512));
	assert_memory_equal(b + 3 * CS + 512, a + 3 * CS + 512, 5 * CS - 512);

	/* discard 3 whole clusters: zeros (no backing), space reusable */
	assert_int_equal(blockdev_discard(bd, 8 * CS, 3 * CS), 0);
	assert_int_equal(rd(bd, b, 3 * CS, 8 * CS), 0);
	assert_true(is_zero(b, 3 * CS));
	/* new data lands in the freed clusters: the file does not grow */
	assert_int_equal(wr(bd, a, 3 * CS, 40 * CS), 0);
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, before);
	assert_int_equal(rd(bd, b, 3 * CS, 40 * CS), 0);
	assert_memory_equal(a, b, 3 * CS);
	/* writing into a zero cluster allocates it again */
	assert_int_equal(wr(bd, a, 512, 5 * CS + 512), 0);
	assert_int_equal(rd(bd, b, CS, 5 * CS), 0);
	assert_true(is_zero(b, 512));
	assert_memory_equal(b + 512, a, 512);
	assert_true(is_zero(b + 1024, CS - 1024));
	blockdev_close(bd);
	check_clean(img);
}

static void test_backing(void **state)
{
	static uint8_t base[4 * CS], a[CS], b[4 * CS];
	struct error err = { 0 };
	struct blockdev *bd;
	int fd;

	(void)state;
	/* raw backing file, 4 clusters of pattern, then 2 MiB of zeros */
	fill(base, sizeof(base), 4);
	fd = open(img2, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, base, sizeof(base)), sizeof(base));
	assert_int_equal(ftruncate(fd, 2 * MiB), 0);
	close(fd);
	bd = create_open(img, 0, "b.img"); /* relative to the overlay */
	assert_int_equal(blockdev_size(bd), 2 * MiB);
	assert_int_equal(rd(bd, b, sizeof(b), 0), 0);
	assert_memory_equal(b, base, sizeof(b));
	/* a partial write copies the rest of the cluster from the backing */
	fill(a, 1000, 5);
	assert_int_equal(wr(bd, a, 1000, CS + 100), 0);
	assert_int_equal(rd(bd, b, sizeof(b), 0), 0);
	assert_memory_equal(b, base, CS + 100);
	assert_memory_equal(b + CS + 100, a, 1000);
	assert_memory_equal(b + CS + 1100, base + CS + 1100,
			    sizeof(b) - CS - 1100);
	/* discard/zero over a backing file must not expose the backing */
	assert_int_equal(blockdev_discard(bd, 2 * CS, CS), 0);
	assert_int_equal(blockdev_write_zeroes(bd, 3 * CS, CS, true), 0);
	assert_int_equal(rd(bd, b, 2 * CS, 2 * CS), 0);
	assert_true(is_zero(b, 2 * CS));
	blockdev_close(bd);
	check_clean(img);

	/* the backing file is opened read-only: the base is untouched */
	bd = blockdev_open(img2, "raw", true, &err);
	assert_non_null(bd);
	assert_int_equal(rd(bd, b, sizeof(b), 0), 0);
	assert_memory_equal(b, base, sizeof(b));
	blockdev_close(bd);

	/* a chain: qcow2 over qcow2 over raw */
	assert_int_equal(image_create(img3, "qcow2", 0, "a.qcow2", &err), 0);
	bd = blockdev_open(img3, "qcow2", false, &err);
	assert_non_null(bd);
	assert_int_equal(rd(bd, b, 1000, CS + 100), 0);
	assert_memory_equal(b, a, 1000);
	blockdev_close(bd);

	/* a missing backing file is an error naming both */
	unlink(img2);
	assert_null(blockdev_open(img, "qcow2", true, &err));
	assert_non_null(strstr(err.msg, "a.qcow2: backing file"));
	assert_non_null(strstr(err.msg, "b.img"));
}

/* A backing chain that loops is cut by the depth limit. */
static void test_backing_loop(void **state)
{
	struct error err = { 0 };

	(void)state;
	/* c.img -> b.img (raw), then b.img becomes qcow2 -> c.img, and
	 * c.img's backing format extension (right after the 104-byte
	 * header) is patched from raw to qcow2: c -> b -> c -> ... */
	assert_int_equal(image_create(img2, "raw", MiB, NULL, &err), 0);
	assert_int_equal(image_create(img3, "qcow2", 0, "b.img", &err), 0);
	assert_int_equal(image_create(img2, "qcow2", 0, "c.img", &err), 0);
	patch(img3, 104 + 4, "\0\0\0\5qcow2\0\0\0", 12);
	assert_null(blockdev_open(img3, "qcow2", true, &err));
	if (!strstr(err.msg, "backing chain deeper than"))
		fail_msg("%s", err.msg);
}

static void test_resize(void **state)
{
	static uint8_t a[CS], b[CS];
	struct error err = { 0 };
	struct blockdev *bd = create_open(img, 600 * MiB, NULL);

	(void)state;
	fill(a, sizeof(a), 6);
	assert_int_equal(wr(bd, a, CS, 0), 0);
	/* beyond one L1 entry's 512 MiB: the L1 table grows and moves */
	assert_int_equal(blockdev_resize(bd, 3ull << 30, &err), 0);
	assert_int_equal(blockdev_size(bd), 3ull << 30);
	assert_int_equal(rd(bd, b, CS, (3ull << 30) - CS), 0);
	assert_true(is_zero(b, CS));
	assert_int_equal(wr(bd, a, CS, (3ull << 30) - CS), 0);
	assert_int_equal(blockdev_resize(bd, MiB, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "shrinking"));
	blockdev_close(bd);
	bd = blockdev_open(img, "qcow2", true, &err);
	assert_int_equal(blockdev_size(bd), 3ull << 30);
	assert_int_equal(rd(bd, b, CS, (3ull << 30) - CS), 0);
	assert_memory_equal(a, b, CS);
	assert_int_equal(rd(bd, b, CS, 0), 0);
	assert_memory_equal(a, b, CS);
	blockdev_close(bd);
	check_clean(img);
}

static void test_compressed(void **state)
{
	static uint8_t a[4 * CS], b[4 * CS];
	struct error err = { 0 };
	struct blockdev *bd;
	int fd;

	(void)state;
	if (!have_qemu()) {
		print_message("skipped: qemu-img not installed (qemu-utils)\n");
		return;
	}
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)((i / 100) % 7); /* compressible */
	fd = open(img2, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, a, sizeof(a)), sizeof(a));
	assert_int_equal(ftruncate(fd, MiB), 0);
	close(fd);
	assert_int_equal(
		run("qemu-img convert -c -f raw -O qcow2 %s %s", img2, img), 0);
	bd = blockdev_open(img, "qcow2", false, &err);
	assert_non_null(bd);
	assert_int_equal(rd(bd, b, sizeof(b), 0), 0);
	assert_memory_equal(a, b, sizeof(b));
	/* overwriting part of a compressed cluster: decompress, rewrite,
	 * free the compressed bytes */
	fill(b, 512, 7);
	memcpy(a + CS + 512, b, 512);
	assert_int_equal(wr(bd, b, 512, CS + 512), 0);
	assert_int_equal(rd(bd, b, sizeof(b), 0), 0);
	assert_memory_equal(a, b, sizeof(b));
	blockdev_close(bd);
	assert_int_equal(run("qemu-img check -q %s", img), 0);
}

/* Images QEMU created and wrote read back correctly. */
static void test_qemu_written(void **state)
{
	static uint8_t b[CS * 2];
	struct error err = { 0 };
	struct blockdev *bd;

	(void)state;
	if (!have_qemu()) {
		print_message("skipped: qemu-img not installed (qemu-utils)\n");
		return;
	}
	assert_int_equal(run("qemu-img create -q -f qcow2 %s 64M", img), 0);
	assert_int_equal(run("qemu-io -c 'write -P 0xab 0 64k' -c 'write -P "
			     "0xcd 70000 1000' -c 'write -z 1M 64k' %s "
			     ">/dev/null",
			     img),
			 0);
	bd = blockdev_open(img, "qcow2", false, &err);
	assert_non_null(bd);
	assert_int_equal(rd(bd, b, sizeof(b), 0), 0);
	for (size_t i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], i < CS			 ? 0xab
				       : i >= 70000 && i < 71000 ? 0xcd
								 : 0);
	/* and we can keep writing it */
	memset(b, 0x5a, 4096);
	assert_int_equal(wr(bd, b, 4096, 32 * MiB), 0);
	blockdev_close(bd);
	assert_int_equal(run("qemu-img check -q %s", img), 0);
	assert_int_equal(
		run("qemu-io -c 'read -P 0x5a 32M 4k' %s | grep -q 'read "
		    "4096/4096'",
		    img),
		0);

	/* 4 KiB clusters and 8-bit refcounts from qemu-img too */
	assert_int_equal(run("qemu-img create -q -f qcow2 -o cluster_size=4k,"
			     "refcount_bits=8 %s 8M && qemu-io -c 'write -P "
			     "0x11 8k 8k' %s >/dev/null",
			     img, img),
			 0);
	bd = blockdev_open(img, "qcow2", false, &err);
	assert_non_null(bd);
	memset(b, 0x22, 4096);
	assert_int_equal(wr(bd, b, 4096, 4 * MiB), 0);
	assert_int_equal(rd(bd, b, 8192, 8192), 0);
	for (size_t i = 0; i < 8192; i++)
		assert_int_equal(b[i], 0x11);
	blockdev_close(bd);
	assert_int_equal(run("qemu-img check -q %s", img), 0);
}

/* Many random writes, zeroes and discards against a raw copy written the
 * same way: the same contents, a clean check, and qemu-img agrees. */
static void test_random_vs_raw(void **state)
{
	const uint64_t size = 24 * MiB;
	static uint8_t buf[3 * CS];
	struct error err = { 0 };
	struct blockdev *q = create_open(img, size, NULL), *r;
	unsigned seed = 12345;

	(void)state;
	assert_int_equal(image_create(img2, "raw", size, NULL, &err), 0);
	r = blockdev_open(img2, "raw", false, &err);
	assert_non_null(r);
	for (int i = 0; i < 600; i++) {
		uint64_t off = ((uint64_t)rand_r(&seed) % (size / 512)) * 512;
		size_t len = ((size_t)rand_r(&seed) % (sizeof(buf) / 512) + 1) *
			     512;
		int op = rand_r(&seed) % 8;

		if (off + len > size)
			len = (size_t)(size - off);
		if (op < 5) {
			fill(buf, len, (unsigned)i);
			assert_int_equal(wr(q, buf, len, off), 0);
			assert_int_equal(wr(r, buf, len, off), 0);
		} else if (op < 7) {
			/* discard reads back as zeros on both formats here
			 * (no backing file, raw punches holes) */
			assert_int_equal(blockdev_discard(q, off, len), 0);
			/* qcow2 ignores partial clusters of a discard:
			 * mirror only what it freed */
			{
				uint64_t a = (off + CS - 1) / CS * CS;
				uint64_t e = (off + len) / CS * CS;

				if (off + len == size)
					e = size;
				if (e > a)
					assert_int_equal(
						blockdev_write_zeroes(
							r, a, e - a, false),
						0);
			}
		} else {
			assert_int_equal(
				blockdev_write_zeroes(q, off, len, op & 1), 0);
			assert_int_equal(
				blockdev_write_zeroes(r, off, len, false), 0);
		}
		if (i % 50 == 0) {
			static uint8_t x[3 * CS], y[3 * CS];

			assert_int_equal(rd(q, x, len, off), 0);
			assert_int_equal(rd(r, y, len, off), 0);
			assert_memory_equal(x, y, len);
		}
	}
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		static uint8_t x[3 * CS], y[3 * CS];
		size_t n = size - off < sizeof(x) ? (size_t)(size - off)
						  : sizeof(x);

		assert_int_equal(rd(q, x, n, off), 0);
		assert_int_equal(rd(r, y, n, off), 0);
		assert_memory_equal(x, y, n);
	}
	blockdev_close(q);
	blockdev_close(r);
	check_clean(img);
	if (have_qemu())
		assert_int_equal(run("qemu-img compare -q -f qcow2 -F raw %s "
				     "%s",
				     img, img2),
				 0);
}

/* Patch bytes of the image file. */
static void patch(const char *path, uint64_t off, const void *p, size_t n)
{
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void put64(uint8_t *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static void expect_refused(const char *what, const char *needle)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, "qcow2", false, &err);

	if (bd)
		fail_msg("%s: opened", what);
	if (!strstr(err.msg, needle) || !strstr(err.msg, img))
		fail_msg("%s: message '%s' lacks '%s'", what, err.msg, needle);
}

static void fresh(void)
{
	struct error err = { 0 };

	assert_int_equal(image_create(img, "qcow2", 16 * MiB, NULL, &err), 0);
}

static void test_hostile_headers(void **state)
{
	uint8_t b[8];
	struct error err = { 0 };
	struct blockdev *bd;

	(void)state;
	fresh();
	patch(img, 0, "QFIx", 4);
	expect_refused("magic", "not a qcow2 image");
	fresh();
	patch(img, 4, "\0\0\0\4", 4);
	expect_refused("version", "version 4");
	fresh();
	patch(img, 20, "\0\0\0\x30", 4);
	expect_refused("cluster bits", "cluster_bits 48");
	fresh();
	put64(b, 1ull << 7); /* unknown incompatible bit 7 */
	patch(img, 72, b, 8);
	expect_refused("incompat", "incompatible features 0x80");
	fresh();
	put64(b, 1ull << 4); /* extended L2 */
	patch(img, 72, b, 8);
	expect_refused("extl2", "incompatible features 0x10");
	fresh();
	patch(img, 96, "\0\0\0\7", 4);
	expect_refused("refcount order", "refcount_order 7");
	fresh();
	put64(b, 1ull << 40); /* L1 beyond the file */
	patch(img, 40, b, 8);
	expect_refused("l1 offset", "L1 table at offset 0x10000000000");
	fresh();
	put64(b, 3 * CS + 8); /* misaligned refcount table */
	patch(img, 48, b, 8);
	expect_refused("rt offset", "refcount table at offset 0x30008");
	fresh();
	put64(b, 1ull << 50); /* huge disk, L1 too small */
	patch(img, 24, b, 8);
	expect_refused("size", "l1_size 1 too small");
	fresh();
	put64(b, 1); /* dirty: no writes (lazy refcounts not ours) */
	patch(img, 72, b, 8);
	expect_refused("dirty", "dirty");
	bd = blockdev_open(img, "qcow2", true, &err);
	assert_non_null(bd);
	blockdev_close(bd);
	fresh();
	put64(b, 1ull << 40); /* refcount block beyond the file */
	patch(img, CS, b, 8);
	expect_refused("refcount block", "refcount table entry 0");
	fresh();
	patch(img, 32, "\0\0\0\1", 4);
	expect_refused("encryption", "encrypted");
}

/* A corrupt L1 or L2 entry fails the request (-EIO, message logged);
 * nothing crashes and nothing is written outside the file. */
static void test_hostile_tables(void **state)
{
	static uint8_t a[CS];
	uint8_t b[8];
	struct error err = { 0 };
	struct blockdev *bd;

	(void)state;
	fresh();
	bd = blockdev_open(img, "qcow2", false, &err);
	fill(a, CS, 9);
	assert_int_equal(wr(bd, a, CS, 0), 0);
	blockdev_close(bd);
	/* L2 table is the cluster after the L1 (cluster 4); data at 5 */
	put64(b, (1ull << 63) | (1ull << 45)); /* data beyond the file */
	patch(img, 4 * CS, b, 8);
	bd = blockdev_open(img, "qcow2", false, &err);
	assert_non_null(bd);
	assert_int_equal(rd(bd, a, 512, 0), -EIO);
	assert_int_equal(wr(bd, a, 512, 0), -EIO);
	blockdev_close(bd);
	put64(b, (1ull << 63) | (5 * CS + 512)); /* misaligned */
	patch(img, 4 * CS, b, 8);
	bd = blockdev_open(img, "qcow2", false, &err);
	assert_int_equal(rd(bd, a, 512, 0), -EIO);
	blockdev_close(bd);
	put64(b, (1ull << 63) | (1ull << 44)); /* L1 -> L2 beyond the file */
	patch(img, 3 * CS, b, 8);
	bd = blockdev_open(img, "qcow2", false, &err);
	assert_int_equal(rd(bd, a, 512, 0), -EIO);
	assert_int_equal(wr(bd, a, 512, 0), -EIO);
	blockdev_close(bd);
}

static void test_check(void **state)
{
	static uint8_t a[CS];
	struct image_check res;
	struct error err = { 0 };
	struct blockdev *bd;
	FILE *devnull = fopen("/dev/null", "w");

	(void)state;
	fresh();
	bd = blockdev_open(img, "qcow2", false, &err);
	fill(a, CS, 10);
	assert_int_equal(wr(bd, a, CS, 0), 0);
	blockdev_close(bd);
	assert_int_equal(image_check(img, devnull, &res, &err), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	assert_int_equal(res.allocated, 1);
	/* refcount block at cluster 2: a leaked cluster 9 (inside the file:
	 * qemu-img does not count refcounts past its end) */
	assert_int_equal(truncate(img, 10 * CS), 0);
	patch(img, 2 * CS + 9 * 2, "\0\1", 2);
	assert_int_equal(image_check(img, devnull, &res, &err), 0);
	assert_int_equal(res.leaks, 1);
	assert_int_equal(res.corruptions, 0);
	if (have_qemu())
		assert_int_equal(run("qemu-img check -q %s", img), 3);
	/* the data cluster (5) with refcount 0: corruption */
	patch(img, 2 * CS + 5 * 2, "\0\0", 2);
	assert_int_equal(image_check(img, devnull, &res, &err), 0);
	assert_true(res.corruptions >= 1);
	if (have_qemu())
		assert_int_equal(run("qemu-img check -q %s", img), 2);
	fclose(devnull);
}

static void test_probe_and_info(void **state)
{
	struct image_info in;
	struct error err = { 0 };

	(void)state;
	fresh();
	assert_string_equal(blockdev_probe(img, &err), "qcow2");
	assert_int_equal(image_create(img2, "raw", MiB, NULL, &err), 0);
	assert_string_equal(blockdev_probe(img2, &err), "raw");
	assert_null(blockdev_probe("/nonexistent/x", &err));
	/* a raw image stays raw when asked: its contents are never parsed */
	patch(img2, 0, "QFI\xfb", 4);
	{
		struct blockdev *bd = blockdev_open(img2, "raw", true, &err);

		assert_non_null(bd);
		assert_string_equal(blockdev_format(bd), "raw");
		assert_int_equal(blockdev_size(bd), MiB);
		blockdev_close(bd);
	}
	assert_int_equal(image_info(img, &in, &err), 0);
	assert_string_equal(in.format, "qcow2");
	assert_int_equal(in.virtual_size, 16 * MiB);
	assert_int_equal(in.cluster_size, CS);
	assert_int_equal(in.version, 3);
	assert_int_equal(in.refcount_bits, 16);
	if (have_qemu())
		assert_int_equal(
			run("qemu-img info %s | grep -q 'virtual size: "
			    "16 MiB'",
			    img),
			0);
}

/* Threads writing (allocating and in place), reading, discarding and
 * zeroing disjoint regions of one image at once: each sees its own data,
 * and the image checks clean (the pool runs requests like this). */
struct worker {
	struct blockdev *bd;
	unsigned id;
	int failed;
};

#define WORKER_SPAN (2 * MiB)

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	static __thread uint8_t a[CS + 4096], b[CS + 4096];
	uint64_t base = w->id * WORKER_SPAN;
	unsigned seed = w->id;

	for (int i = 0; i < 300 && !w->failed; i++) {
		uint64_t off = base + ((uint64_t)rand_r(&seed) %
				       (WORKER_SPAN - sizeof(a))) /
					      512 * 512;
		size_t len = ((size_t)rand_r(&seed) % (sizeof(a) / 512) + 1) *
			     512;

		fill(a, len, (unsigned)(w->id * 1000 + i));
		if (wr(w->bd, a, len, off) || rd(w->bd, b, len, off) ||
		    memcmp(a, b, len))
			w->failed = 1;
		if (i % 17 == 0 &&
		    blockdev_discard(w->bd, base + CS * (uint64_t)(i % 8), CS))
			w->failed = 2;
		if (i % 23 == 0 &&
		    (blockdev_write_zeroes(w->bd, off, 4096, true) ||
		     rd(w->bd, b, 4096, off) || !is_zero(b, 4096)))
			w->failed = 3;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct blockdev *bd = create_open(img, 4 * WORKER_SPAN, NULL);
	struct worker w[4];
	pthread_t t[4];

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ bd, i, 0 };
		assert_int_equal(
			pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failed, 0);
	}
	blockdev_close(bd);
	check_clean(img);
}

/* Version 2 images (qemu-img -o compat=0.10): read and write; over a
 * backing file, write-zeroes has no zero flag and must write zeros. */
static void test_v2(void **state)
{
	static uint8_t a[2 * CS], b[2 * CS];
	struct error err = { 0 };
	struct blockdev *bd;
	int fd;

	(void)state;
	if (!have_qemu()) {
		print_message("skipped: qemu-img not installed (qemu-utils)\n");
		return;
	}
	fill(a, sizeof(a), 11);
	fd = open(img2, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, a, sizeof(a)), sizeof(a));
	assert_int_equal(ftruncate(fd, MiB), 0);
	close(fd);
	assert_int_equal(run("qemu-img create -q -f qcow2 -o compat=0.10 -b "
			     "%s -F raw %s",
			     img2, img),
			 0);
	bd = blockdev_open(img, "qcow2", false, &err);
	assert_non_null(bd);
	assert_int_equal(rd(bd, b, sizeof(b), 0), 0);
	assert_memory_equal(a, b, sizeof(b));
	assert_int_equal(blockdev_write_zeroes(bd, 0, CS, true), 0);
	assert_int_equal(blockdev_discard(bd, CS, CS), 0); /* a hint */
	fill(a, 512, 12);
	assert_int_equal(wr(bd, a, 512, 4 * CS), 0);
	assert_int_equal(rd(bd, b, CS, 0), 0);
	assert_true(is_zero(b, CS));
	assert_int_equal(rd(bd, b, 512, 4 * CS), 0);
	assert_memory_equal(a, b, 512);
	blockdev_close(bd);
	assert_int_equal(run("qemu-img check -q %s", img), 0);
	assert_int_equal(run("qemu-img info %s | grep -q 'compat: 0.10'", img),
			 0);
}

/* 512-byte clusters: one refcount block covers 128 KiB and qemu-img's
 * one-cluster refcount table 8 MiB, so writing 24 MiB grows the table
 * several times (it moves to the end of the file each time). */
static void test_refcount_table_growth(void **state)
{
	static uint8_t a[MiB], b[MiB];
	struct error err = { 0 };
	struct blockdev *bd;

	(void)state;
	if (!have_qemu()) {
		print_message("skipped: qemu-img not installed (qemu-utils)\n");
		return;
	}
	assert_int_equal(
		run("qemu-img create -q -f qcow2 -o cluster_size=512 %s 32M",
		    img),
		0);
	bd = blockdev_open(img, "qcow2", false, &err);
	assert_non_null(bd);
	for (unsigned i = 0; i < 24; i++) {
		fill(a, sizeof(a), 100 + i);
		assert_int_equal(wr(bd, a, sizeof(a), (uint64_t)i * MiB), 0);
	}
	for (unsigned i = 0; i < 24; i++) {
		fill(a, sizeof(a), 100 + i);
		assert_int_equal(rd(bd, b, sizeof(b), (uint64_t)i * MiB), 0);
		assert_memory_equal(a, b, sizeof(a));
	}
	blockdev_close(bd);
	check_clean(img);
}

/* A persistent dirty bitmap (qemu-img bitmap --add): our check counts its
 * clusters; a writable open clears the autoclear bits (spec: a writer that
 * does not maintain the bitmaps must), so QEMU then sees the bitmap as
 * stale and its clusters as leaks, never as corruption. */
static void test_bitmaps(void **state)
{
	static uint8_t b[4096];
	struct image_check res;
	struct error err = { 0 };
	struct blockdev *bd;

	(void)state;
	if (!have_qemu()) {
		print_message("skipped: qemu-img not installed (qemu-utils)\n");
		return;
	}
	assert_int_equal(run("qemu-img create -q -f qcow2 %s 64M && qemu-img "
			     "bitmap --add %s b0 && qemu-io -c 'write 0 64k' "
			     "%s >/dev/null",
			     img, img, img),
			 0);
	assert_int_equal(image_check(img, NULL, &res, &err), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	bd = blockdev_open(img, "qcow2", false, &err);
	assert_non_null(bd);
	memset(b, 1, sizeof(b));
	assert_int_equal(wr(bd, b, sizeof(b), MiB), 0);
	blockdev_close(bd);
	assert_int_equal(image_check(img, NULL, &res, &err), 0);
	assert_int_equal(res.corruptions, 0);
	assert_int_not_equal(run("qemu-img check -q %s 2>/dev/null", img), 2);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* FNV-1a of a whole file: the template must not change under a clone. */
static uint64_t file_hash(const char *path)
{
	static uint8_t b[1 << 16];
	uint64_t h = 1469598103934665603ull;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	while ((n = read(fd, b, sizeof(b))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ b[i]) * 1099511628211ull;
	close(fd);
	return h;
}

/* A linked clone: an overlay on the template (absolute path, format
 * recorded), reads through, writes stay in the clone. */
static void test_clone(void **state)
{
	static uint8_t a[2 * CS], b[2 * CS];
	struct image_info in;
	struct error err = { 0 };
	struct blockdev *bd;
	char clone[160], cwd[512];
	uint64_t h;

	(void)state;
	bd = create_open(img, 2048 * MiB, NULL);
	fill(a, sizeof(a), 11);
	assert_int_equal(wr(bd, a, sizeof(a), 5 * MiB), 0);
	blockdev_close(bd);
	h = file_hash(img);

	/* relative template path: stored absolute */
	snprintf(clone, sizeof(clone), "%s/clone.qcow2", dir);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(image_clone("a.qcow2", NULL, clone, &err), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(image_info(clone, &in, &err), 0);
	assert_string_equal(in.backing, img);
	assert_string_equal(in.backing_format, "qcow2");
	assert_int_equal(in.virtual_size, 2048 * MiB);
	assert_true(file_blocks(clone) < 1 * MiB);

	bd = blockdev_open(clone, "qcow2", false, &err);
	assert_non_null(bd);
	assert_int_equal(rd(bd, b, sizeof(b), 5 * MiB), 0);
	assert_memory_equal(b, a, sizeof(b));
	fill(b, CS, 12);
	assert_int_equal(wr(bd, b, 100, 5 * MiB + 10), 0);
	assert_int_equal(wr(bd, b, CS, 7 * MiB), 0);
	assert_int_equal(blockdev_flush(bd), 0);
	assert_int_equal(rd(bd, b, sizeof(b), 5 * MiB), 0);
	assert_memory_equal(b, a, 10);
	assert_memory_equal(b + 110, a + 110, sizeof(b) - 110);
	blockdev_close(bd);
	assert_int_equal(file_hash(img), h);
	check_clean(clone);
	check_clean(img);

	/* a raw template; an existing target is refused, template intact */
	assert_int_equal(image_create(img2, "raw", MiB, NULL, &err), 0);
	snprintf(clone, sizeof(clone), "%s/clone2.qcow2", dir);
	assert_int_equal(image_clone(img2, NULL, clone, &err), 0);
	assert_int_equal(image_info(clone, &in, &err), 0);
	assert_string_equal(in.backing_format, "raw");
	assert_int_equal(image_clone(img, NULL, clone, &err), -EEXIST);
	assert_non_null(strstr(err.msg, clone));
	assert_int_equal(image_clone(img, NULL, img, &err), -EEXIST);
	assert_int_equal(file_hash(img), h);
	assert_int_equal(image_clone(img3, NULL, clone, &err), -ENOENT);
	/* a format given is believed, not probed: a raw disk holding a
	 * qcow2 header (as a guest may write) stays raw */
	snprintf(clone, sizeof(clone), "%s/clone3.qcow2", dir);
	assert_int_equal(image_clone(img, "raw", clone, &err), 0);
	assert_int_equal(image_info(clone, &in, &err), 0);
	assert_string_equal(in.backing_format, "raw");
	assert_int_equal(in.virtual_size, file_size(img));
	assert_int_equal(image_clone(img, "vmdk", img3, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "vmdk"));
	assert_non_null(strstr(err.msg, "c.img"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_zero_and_discard, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_backing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backing_loop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compressed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_qemu_written, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_random_vs_raw, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_headers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_tables, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_and_info, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refcount_table_growth,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bitmaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
