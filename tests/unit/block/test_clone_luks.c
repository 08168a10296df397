/*
 * Clones of an encrypted (qcow2 LUKS) template (image_clone_luks,
 * image_copy_secret): a linked clone is an encrypted overlay under the
 * template's passphrase, which also unlocks the template below it; a full
 * clone is a copy under the same or a new secret. qemu-img (qemu-utils,
 * when installed) opens and decrypts both.
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "block/image.h"

#define MiB  (1ull << 20)
#define SIZE (8 * MiB)
#define LEN  65536

static char dir[64], key[128], key2[128], tmpl[128], spec[160], spec2[160];

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

static void put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static void io(const char *path, const char *sp, bool wr, uint64_t off, int v)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open_secret(path, "qcow2", !wr, sp,
						   &err);
	uint8_t *b = malloc(LEN);

	if (!bd)
		fail_msg("%s", err.msg);
	struct iovec iov = { b, LEN };
	if (wr) {
		memset(b, v, LEN);
		assert_int_equal(blockdev_writev(bd, &iov, 1, off), 0);
		assert_int_equal(blockdev_flush(bd), 0);
	} else {
		assert_int_equal(blockdev_readv(bd, &iov, 1, off), 0);
		for (size_t i = 0; i < LEN; i++)
			if (b[i] != v)
				fail_msg("%s at %llu: 0x%02x, expected 0x%02x",
					 path, (unsigned long long)(off + i),
					 b[i], v);
	}
	blockdev_close(bd);
	free(b);
}

/* The file holds no 512-byte run of v: the data is not in clear. */
static void no_clear(const char *path, int v)
{
	FILE *f = fopen(path, "rb");
	uint8_t b[512], want[512];
	memset(want, v, sizeof(want));
	assert_non_null(f);
	while (fread(b, 1, sizeof(b), f) == sizeof(b))
		assert_false(!memcmp(b, want, sizeof(b)));
	fclose(f);
}

/* --image-opts for path under secret s0, its backing file too if any */
static const char *opts(const char *path)
{
	static char o[512];
	struct image_info in;
	struct error err = { 0 };
	assert_int_equal(image_info(path, &in, &err), 0);
	snprintf(o, sizeof(o),
		 "driver=qcow2,file.filename=%s,encrypt.key-secret=s0%s", path,
		 in.backing[0] ? ",backing.encrypt.key-secret=s0" : "");
	return o;
}

static void check_clean(const char *path, const char *k)
{
	struct image_check res;
	struct error err = { 0 };
	assert_int_equal(image_check(path, stderr, &res, &err), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	if (have_qemu())
		assert_int_equal(run("qemu-img check -q --object secret,id=s0,"
				     "file=%s --image-opts %s",
				     k, opts(path)),
				 0);
}

/* qemu-img decrypts path (and its backing file, same secret file k) to
 * raw; the byte at off is v. */
static void qemu_byte(const char *path, const char *k, uint64_t off, int v)
{
	char out[160];
	uint8_t b;
	snprintf(out, sizeof(out), "%s/out.raw", dir);
	unlink(out);
	assert_int_equal(run("qemu-img convert --object secret,id=s0,file=%s "
			     "--image-opts %s -O raw %s",
			     k, opts(path), out),
			 0);
	int fd = open(out, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	close(fd);
	assert_int_equal(b, v);
}

static int setup(void **state)
{
	struct error err = { 0 };
	(void)state;
	strcpy(dir, "/tmp/sv-test-clone-luks-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(key, sizeof(key), "%s/key", dir);
	snprintf(key2, sizeof(key2), "%s/key2", dir);
	snprintf(tmpl, sizeof(tmpl), "%s/tmpl.qcow2", dir);
	snprintf(spec, sizeof(spec), "file:%s", key);
	snprintf(spec2, sizeof(spec2), "file:%s", key2);
	put(key, "template passphrase");
	put(key2, "another passphrase");
	assert_int_equal(
		image_create_luks(tmpl, SIZE, NULL, NULL, spec, 10, &err), 0);
	io(tmpl, spec, true, 0, 0x5a);
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

static void test_linked_clone(void **state)
{
	struct image_info in;
	struct error err = { 0 };
	char c[160];

	(void)state;
	snprintf(c, sizeof(c), "%s/c.qcow2", dir);
	assert_int_equal(image_clone_luks(tmpl, "qcow2", c, spec, 10, &err), 0);
	assert_int_equal(image_info(c, &in, &err), 0);
	assert_true(in.encrypted);
	assert_string_equal(in.backing, tmpl);
	io(c, spec, false, 0, 0x5a); /* through to the template */
	io(c, spec, true, MiB, 0x66);
	io(c, spec, true, 32768, 0x77); /* half a cluster: copy-up */
	io(c, spec, false, MiB, 0x66);
	io(tmpl, spec, false, MiB, 0); /* never reaches the template */
	no_clear(c, 0x66);
	no_clear(c, 0x77);
	check_clean(c, key);
	/* the clone needs the key; a wrong one is refused */
	assert_null(blockdev_open_secret(c, "qcow2", true, spec2, &err));
	assert_int_equal(err.code, EACCES);
	if (have_qemu()) {
		qemu_byte(c, key, 0, 0x5a);
		qemu_byte(c, key, 32768, 0x77);
		qemu_byte(c, key, 32767, 0x5a);
		qemu_byte(c, key, MiB, 0x66);
	}
}

static void test_linked_clone_wrong_key(void **state)
{
	struct error err = { 0 };
	char c[160];

	(void)state;
	snprintf(c, sizeof(c), "%s/c.qcow2", dir);
	assert_int_equal(image_clone_luks(tmpl, "qcow2", c, spec2, 10, &err),
			 -EACCES);
	assert_non_null(strstr(err.msg, "linked clone of"));
	assert_int_equal(access(c, F_OK), -1); /* nothing made */
	/* an unencrypted clone of it cannot read the template */
	assert_int_equal(image_clone(tmpl, "qcow2", c, &err), 0);
	assert_null(blockdev_open(c, "qcow2", true, &err));
}

static void test_full_clone(void **state)
{
	struct error err = { 0 };
	char f[160], g[160];

	(void)state;
	snprintf(f, sizeof(f), "%s/f.qcow2", dir);
	snprintf(g, sizeof(g), "%s/g.qcow2", dir);
	/* a new secret */
	assert_int_equal(image_copy_secret(tmpl, "qcow2", spec, f, spec2, 10,
					   NULL, NULL, &err),
			 0);
	io(f, spec2, false, 0, 0x5a);
	assert_null(blockdev_open_secret(f, "qcow2", true, spec, &err));
	no_clear(f, 0x5a);
	check_clean(f, key2);
	/* the same secret */
	assert_int_equal(image_copy_secret(tmpl, "qcow2", spec, g, spec, 10,
					   NULL, NULL, &err),
			 0);
	io(g, spec, false, 0, 0x5a);
	io(g, spec, true, MiB, 0x11);
	io(tmpl, spec, false, MiB, 0);
	if (have_qemu()) {
		qemu_byte(f, key2, 0, 0x5a);
		qemu_byte(g, key, MiB, 0x11);
	}
	/* the source's key must be right */
	assert_int_equal(image_copy_secret(tmpl, "qcow2", spec2, g, spec, 10,
					   NULL, NULL, &err),
			 -EEXIST);
	unlink(g);
	assert_int_equal(image_copy_secret(tmpl, "qcow2", spec2, g, spec, 10,
					   NULL, NULL, &err),
			 -EACCES);
	assert_int_equal(access(g, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_linked_clone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_linked_clone_wrong_key,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_clone, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
