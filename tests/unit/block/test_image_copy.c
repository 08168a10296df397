/*
 * Unit tests of image_copy (src/block/image_copy.c), the full copy behind
 * a full clone: the copy holds the source's data read through its backing
 * chain, has no backing file, stays thin, reports progress, refuses an
 * existing destination, and checks clean.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "block/image.h"

#define MiB (1ull << 20)

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/sv-test-copy-XXXXXX");
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

static void put(const char *img, uint64_t off, size_t len, int v)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, "qcow2", false, &err);
	uint8_t *b = malloc(len);
	struct iovec io = { b, len };

	if (!bd)
		fail_msg("%s", err.msg);
	memset(b, v, len);
	assert_int_equal(blockdev_writev(bd, &io, 1, off), 0);
	assert_int_equal(blockdev_flush(bd), 0);
	free(b);
	blockdev_close(bd);
}

static void expect(const char *img, uint64_t off, size_t len, int v)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, "qcow2", true, &err);
	uint8_t *b = malloc(len);
	struct iovec io = { b, len };

	if (!bd)
		fail_msg("%s", err.msg);
	assert_int_equal(blockdev_readv(bd, &io, 1, off), 0);
	for (size_t i = 0; i < len; i++)
		if (b[i] != v)
			fail_msg("%s offset %llu: 0x%02x, expected 0x%02x", img,
				 (unsigned long long)(off + i), b[i], v);
	free(b);
	blockdev_close(bd);
}

struct prog {
	unsigned calls;
	uint64_t last, total;
};

static void progress(void *opaque, uint64_t done, uint64_t total)
{
	struct prog *p = opaque;

	assert_true(done > p->last && done <= total);
	p->calls++;
	p->last = done;
	p->total = total;
}

static void test_copy_flattens_chain(void **state)
{
	char base[128], over[128], copy[128];
	struct error err = { 0 };
	struct image_info info;
	struct image_check res;
	struct prog p = { 0 };
	(void)state;

	snprintf(base, sizeof(base), "%s/base.qcow2", dir);
	snprintf(over, sizeof(over), "%s/over.qcow2", dir);
	snprintf(copy, sizeof(copy), "%s/copy.qcow2", dir);
	assert_int_equal(image_create(base, "qcow2", 16 * MiB, NULL, &err), 0);
	put(base, 0, MiB, 0xaa);
	put(base, 8 * MiB, 64 << 10, 0xbb);
	assert_int_equal(image_clone(base, "qcow2", over, &err), 0);
	put(over, 8 * MiB, 4096, 0xcc);

	assert_int_equal(image_copy(over, "qcow2", copy, progress, &p, &err),
			 0);
	assert_int_equal(p.last, 16 * MiB);
	assert_int_equal(p.total, 16 * MiB);
	assert_int_equal(p.calls, 16);
	expect(copy, 0, MiB, 0xaa);
	expect(copy, 8 * MiB, 4096, 0xcc);
	expect(copy, 8 * MiB + 4096, (64 << 10) - 4096, 0xbb);
	expect(copy, 12 * MiB, MiB, 0);
	assert_int_equal(image_info(copy, &info, &err), 0);
	assert_string_equal(info.format, "qcow2");
	assert_string_equal(info.backing, "");
	assert_int_equal(info.virtual_size, 16 * MiB);
	/* thin: the zeros in between are not allocated */
	assert_true(info.disk_size < 4 * MiB);
	assert_int_equal(image_check(copy, NULL, &res, &err), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);

	/* never over an existing file, which stays as it was */
	assert_int_equal(image_copy(base, NULL, copy, NULL, NULL, &err),
			 -EEXIST);
	assert_non_null(strstr(err.msg, copy));
	expect(copy, 8 * MiB, 4096, 0xcc);
}

static void test_copy_missing_source(void **state)
{
	char src[128], dst[128];
	struct error err = { 0 };
	(void)state;

	snprintf(src, sizeof(src), "%s/none.qcow2", dir);
	snprintf(dst, sizeof(dst), "%s/dst.qcow2", dir);
	assert_true(image_copy(src, "qcow2", dst, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "none.qcow2"));
	/* the destination made for it is gone again */
	assert_int_equal(access(dst, F_OK), -1);
}

/* image_format_probe: raw and qcow2 are read; other formats are named,
 * never taken for raw data. */
static void test_format_probe(void **state)
{
	uint8_t b[512] = { 0 };

	(void)state;
	assert_string_equal(image_format_probe(b, sizeof(b)), "raw");
	assert_string_equal(image_format_probe(b, 0), "raw");
	memcpy(b, "QFI\xfb\0\0\0\3", 8);
	assert_string_equal(image_format_probe(b, sizeof(b)), "qcow2");
	b[7] = 2;
	assert_string_equal(image_format_probe(b, sizeof(b)), "qcow2");
	b[7] = 1;
	assert_string_equal(image_format_probe(b, sizeof(b)), "qcow");
	assert_string_equal(image_format_probe(b, 4), "raw"); /* too short */
	memset(b, 0, sizeof(b));
	memcpy(b, "KDMV", 4);
	assert_string_equal(image_format_probe(b, sizeof(b)), "VMDK");
	memset(b, 0, sizeof(b));
	memcpy(b + 0x40, "\x7f\x10\xda\xbe", 4);
	assert_string_equal(image_format_probe(b, sizeof(b)), "VDI");
	assert_string_equal(image_format_probe(b, 0x43), "raw");
	memset(b, 0, sizeof(b));
	memcpy(b, "LUKS\xba\xbe", 6);
	assert_string_equal(image_format_probe(b, sizeof(b)), "LUKS");
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* image_import_check: what may become a new VM's disk. */
static void test_import_check(void **state)
{
	char p[128], q[128];
	struct image_info info;
	struct error err = { 0 };
	uint8_t b[4096] = { 1, 2, 3 };

	(void)state;
	snprintf(p, sizeof(p), "%s/none.img", dir);
	assert_int_equal(image_import_check(p, &info, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "none.img: no such file"));
	assert_int_equal(image_import_check(dir, &info, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "is not a regular file (a "
					"directory)"));
	snprintf(p, sizeof(p), "%s/empty.img", dir);
	write_file(p, b, 0);
	assert_int_equal(image_import_check(p, &info, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "empty.img is empty (0 bytes)"));
	snprintf(p, sizeof(p), "%s/d.vmdk", dir);
	memcpy(b, "KDMV", 4);
	write_file(p, b, sizeof(b));
	assert_int_equal(image_import_check(p, &info, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "d.vmdk is a VMDK image: only raw and "
					"qcow2 images can be imported"));
	snprintf(p, sizeof(p), "%s/d.raw", dir);
	memset(b, 7, sizeof(b));
	write_file(p, b, sizeof(b));
	assert_int_equal(image_import_check(p, &info, &err), 0);
	assert_string_equal(info.format, "raw");
	assert_int_equal(info.virtual_size, sizeof(b));
	snprintf(q, sizeof(q), "%s/d.qcow2", dir);
	assert_int_equal(image_create(q, "qcow2", 2 * MiB, NULL, &err), 0);
	assert_int_equal(image_import_check(q, &info, &err), 0);
	assert_string_equal(info.format, "qcow2");
	assert_int_equal(info.virtual_size, 2 * MiB);
	/* a qcow2 image whose backing file is gone */
	snprintf(q, sizeof(q), "%s/top.qcow2", dir);
	assert_int_equal(image_create_backing(q, "qcow2", 0, p, "raw", &err),
			 0);
	assert_int_equal(image_import_check(q, &info, &err), 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(image_import_check(q, &info, &err), -ENOENT);
	/* encrypted */
	snprintf(q, sizeof(q), "%s/enc.qcow2", dir);
	setenv("SV_TEST_IMPORT_KEY", "pass", 1);
	assert_int_equal(image_create_luks(q, MiB, NULL, NULL,
					   "env:SV_TEST_IMPORT_KEY", 10, &err),
			 0);
	assert_int_equal(image_import_check(q, &info, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "enc.qcow2 is an encrypted qcow2 "
					"image"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_flattens_chain, setup,
						teardown),
		cmocka_unit_test(test_format_probe),
		cmocka_unit_test_setup_teardown(test_import_check, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_copy_missing_source, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
