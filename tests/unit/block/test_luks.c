/* Unit tests for LUKS encryption in qcow2 (src/block/luks.c,
 * qcow2_crypt.c): the header parser's checks, secrets, our images round
 * trip and are clean, wrong passphrases are refused; with qemu-img
 * (Debian: qemu-utils) installed, images QEMU encrypted open and read in
 * Softvisor, and qemu-img checks and reads images Softvisor encrypted. */
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
#include "block/luks.h"

static char dir[64], img[128], raw[128], pw[128], pwbad[128], spec[160],
	specbad[160];

static int setup(void **state)
{
	FILE *f;

	(void)state;
	strcpy(dir, "/tmp/sv-test-luks-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/enc.qcow2", dir);
	snprintf(raw, sizeof(raw), "%s/plain.raw", dir);
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	snprintf(pwbad, sizeof(pwbad), "%s/pwbad", dir);
	snprintf(spec, sizeof(spec), "file:%s", pw);
	snprintf(specbad, sizeof(specbad), "file:%s", pwbad);
	f = fopen(pw, "w");
	assert_non_null(f);
	fputs("correct horse battery", f);
	fclose(f);
	f = fopen(pwbad, "w");
	assert_non_null(f);
	fputs("correct horse battery!", f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 13 + (i >> 9));
}

static bool have_qemu_img(void)
{
	return system("qemu-img --version >/dev/null 2>&1") == 0;
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- luks.c ------------------------------------------------------------- */

static void test_format_unlock(void **state)
{
	uint64_t len = luks_area_len();
	uint8_t *area = calloc(1, len);
	uint8_t data[4096], copy[4096];
	struct luks *a, *b;
	struct error err = { 0 };
	struct luks_header h;

	(void)state;
	assert_int_equal(len, 2068480); /* QEMU's payload offset */
	assert_int_equal(
		luks_format(area, len, (const uint8_t *)"pw", 2, 1, &a, &err),
		0);
	assert_int_equal(luks_parse(area, len, len, &h, &err), 0);
	assert_string_equal(h.cipher_name, "aes");
	assert_string_equal(h.cipher_mode, "xts-plain64");
	assert_string_equal(h.hash_spec, "sha256");
	assert_int_equal(h.key_bytes, 64);
	assert_int_equal(h.slot[0].active, LUKS_SLOT_ACTIVE);
	assert_int_equal(h.slot[0].key_offset, 8);
	assert_int_equal(h.slot[1].active, LUKS_SLOT_DEAD);
	assert_int_equal(h.slot[1].key_offset, 8 + 504);
	assert_true(h.slot[0].iterations >= 1000);
	assert_int_equal(
		luks_unlock(area, len, (const uint8_t *)"pw", 2, &b, &err), 0);
	fill(data, sizeof(data), 1);
	memcpy(copy, data, sizeof(data));
	assert_int_equal(luks_crypt(a, 77, data, sizeof(data), true), 0);
	assert_memory_not_equal(data, copy, sizeof(data));
	assert_int_equal(luks_crypt(b, 77, data, sizeof(data), false), 0);
	assert_memory_equal(data, copy, sizeof(data));
	/* the IV is the sector: another sector number gives other bytes */
	assert_int_equal(luks_crypt(a, 78, data, 512, true), 0);
	assert_int_equal(luks_crypt(b, 77, data, 512, false), 0);
	assert_memory_not_equal(data, copy, 512);
	luks_free(b);
	assert_int_equal(
		luks_unlock(area, len, (const uint8_t *)"pW", 2, &b, &err),
		-EACCES);
	assert_int_equal(
		luks_unlock(area, len, (const uint8_t *)"pw!", 3, &b, &err),
		-EACCES);
	assert_null(b);
	assert_non_null(strstr(err.msg, "passphrase"));
	luks_free(a);
	free(area);
}

/* bad = a fresh copy of area. Out of line: GCC 12 with -fsanitize=address
 * otherwise takes bad for an object of size 0 after an inline
 * memcpy(bad, area, len) and calls every later poke an overflow. */
static __attribute__((noinline)) void fresh_copy(uint8_t *bad,
						 const uint8_t *area,
						 uint64_t len)
{
	memcpy(bad, area, len);
}

static void test_parse_errors(void **state)
{
	uint64_t len = luks_area_len();
	uint8_t *area = calloc(1, len), *bad = malloc(len);
	struct luks *a;
	struct luks_header h;
	struct error err = { 0 };

	(void)state;
	if (!area || !bad)
		fail();
	assert_int_equal(
		luks_format(area, len, (const uint8_t *)"x", 1, 1, &a, &err),
		0);
	luks_free(a);
	assert_int_equal(luks_parse(area, 100, len, &h, &err), -EINVAL);
	fresh_copy(bad, area, len);
	bad[0] = 'X';
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "magic"));
	fresh_copy(bad, area, len);
	bad[7] = 2;
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -ENOTSUP);
	fresh_copy(bad, area, len);
	memcpy(bad + 40, "cbc-essiv:sha256", 17);
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "aes-cbc-essiv:sha256"));
	fresh_copy(bad, area, len);
	memcpy(bad + 72, "md5\0\0\0", 6);
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -ENOTSUP);
	/* slot 0's key material past the area */
	fresh_copy(bad, area, len);
	bad[208 + 40] = 0x7f;
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "outside"));
	/* slot 1 active on top of slot 0 */
	fresh_copy(bad, area, len);
	memcpy(bad + 208 + 48, bad + 208, 48);
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "overlap"));
	/* a slot state that is neither */
	fresh_copy(bad, area, len);
	bad[208 + 48 + 3] = 0x01;
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -EINVAL);
	/* hostile iteration counts: refused at once, not tried for hours */
	fresh_copy(bad, area, len);
	memset(bad + 208 + 4, 0xff, 4); /* slot 0: 2^32 - 1 */
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "PBKDF2 iterations"));
	fresh_copy(bad, area, len);
	memset(bad + 164, 0xff, 4); /* the master key digest's */
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "master key digest iterations"));
	/* three active slots at the cap each: over the total */
	fresh_copy(bad, area, len);
	for (int s = 0; s < 3; s++) {
		uint8_t *p = bad + 208 + s * 48;
		memcpy(p, area + 208, 48);
		p[4] = 0x04, p[5] = p[6] = p[7] = 0; /* 2^26 */
		/* key material of slot s where luks_format puts it */
		memcpy(p + 40, area + 208 + s * 48 + 40, 4);
	}
	assert_int_equal(luks_parse(bad, len, len, &h, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "in all"));
	/* area shorter than the key material */
	assert_int_equal(luks_parse(area, len, 4096, &h, &err), -EINVAL);
	free(bad);
	free(area);
}

static void test_secret(void **state)
{
	uint8_t buf[LUKS_SECRET_MAX];
	struct error err = { 0 };
	size_t n;

	(void)state;
	assert_int_equal(luks_secret_load(spec, buf, &n, "key-secret", &err),
			 0);
	assert_int_equal(n, strlen("correct horse battery"));
	assert_memory_equal(buf, "correct horse battery", n);
	setenv("SV_TEST_LUKS_PW", "from env", 1);
	assert_int_equal(luks_secret_load("env:SV_TEST_LUKS_PW", buf, &n,
					  "key-secret", &err),
			 0);
	assert_memory_equal(buf, "from env", n);
	assert_int_equal(luks_secret_load("env:SV_TEST_NOT_SET", buf, &n,
					  "key-secret", &err),
			 -ENOENT);
	assert_int_equal(
		luks_secret_load("hunter2", buf, &n, "key-secret", &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "never given literally"));
	assert_int_equal(luks_secret_load("file:/nonexistent/pw", buf, &n,
					  "key-secret", &err),
			 -ENOENT);
}

/* ---- qcow2 with LUKS ------------------------------------------------------ */

/* Write a pattern at a few offsets (partial clusters, across clusters). */
static void write_pattern(struct blockdev *bd)
{
	static uint8_t buf[200 * 1024];
	struct iovec v = { buf, sizeof(buf) };

	fill(buf, sizeof(buf), 7);
	assert_int_equal(blockdev_writev(bd, &v, 1, 0), 0);
	v.iov_len = 4096;
	assert_int_equal(blockdev_writev(bd, &v, 1, 1 << 20), 0);
	v.iov_len = 512;
	assert_int_equal(blockdev_writev(bd, &v, 1, (3 << 20) + 512 * 5), 0);
}

static void check_pattern(struct blockdev *bd)
{
	static uint8_t buf[200 * 1024], want[200 * 1024];
	struct iovec v = { buf, sizeof(buf) };

	fill(want, sizeof(want), 7);
	assert_int_equal(blockdev_readv(bd, &v, 1, 0), 0);
	assert_memory_equal(buf, want, sizeof(buf));
	v.iov_len = 8192;
	assert_int_equal(blockdev_readv(bd, &v, 1, 1 << 20), 0);
	assert_memory_equal(buf, want, 4096);
	for (int i = 4096; i < 8192; i++)
		assert_int_equal(buf[i], 0);
	v.iov_len = 1024;
	assert_int_equal(blockdev_readv(bd, &v, 1, (3 << 20) + 512 * 4), 0);
	for (int i = 0; i < 512; i++)
		assert_int_equal(buf[i], 0);
	assert_memory_equal(buf + 512, want, 512);
}

static void test_qcow2_luks_roundtrip(void **state)
{
	struct error err = { 0 };
	struct image_check ck;
	struct blockdev *bd;
	uint8_t sector[512];
	struct iovec v = { sector, 512 };
	FILE *f;
	char cmd[512];
	uint8_t clear[512];

	(void)state;
	assert_int_equal(
		image_create_luks(img, 8 << 20, NULL, NULL, spec, 10, &err), 0);
	bd = blockdev_open_secret(img, "qcow2", false, spec, &err);
	assert_non_null(bd);
	write_pattern(bd);
	check_pattern(bd);
	/* unaligned I/O cannot be encrypted by sector */
	v.iov_len = 100;
	assert_int_equal(blockdev_readv(bd, &v, 1, 0), -EINVAL);
	blockdev_close(bd);

	/* no clear text on disk */
	fill(clear, sizeof(clear), 7);
	f = fopen(img, "rb");
	assert_non_null(f);
	{
		static uint8_t file[4 << 20];
		size_t n = fread(file, 1, sizeof(file), f);

		for (size_t o = 0; o + 512 <= n; o += 512)
			assert_memory_not_equal(file + o, clear, 512);
	}
	fclose(f);

	bd = blockdev_open_secret(img, "qcow2", true, spec, &err);
	assert_non_null(bd);
	check_pattern(bd);
	blockdev_close(bd);

	/* wrong, missing, misplaced keys */
	assert_null(blockdev_open_secret(img, "qcow2", true, specbad, &err));
	assert_int_equal(err.code, EACCES);
	assert_non_null(strstr(err.msg, "no key slot matches"));
	assert_null(blockdev_open(img, "qcow2", true, &err));
	assert_int_equal(err.code, EACCES);
	assert_non_null(strstr(err.msg, "key-secret="));
	assert_int_equal(image_create(raw, "raw", 1 << 20, NULL, &err), 0);
	assert_null(blockdev_open_secret(raw, "raw", true, spec, &err));
	assert_non_null(strstr(err.msg, "only for encrypted"));

	/* our check counts the LUKS area: no leak */
	assert_int_equal(image_check(img, NULL, &ck, &err), 0);
	assert_int_equal(ck.corruptions, 0);
	assert_int_equal(ck.leaks, 0);

	if (!have_qemu_img()) {
		skip();
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "qemu-img check -q --object secret,id=s0,file='%s' "
		 "--image-opts driver=qcow2,file.filename='%s',"
		 "encrypt.key-secret=s0",
		 pw, img);
	assert_int_equal(run(cmd), 0);
	/* qemu-img decrypts what we wrote: convert to raw, compare */
	snprintf(cmd, sizeof(cmd),
		 "qemu-img convert -O raw --object secret,id=s0,file='%s' "
		 "--image-opts driver=qcow2,file.filename='%s',"
		 "encrypt.key-secret=s0 '%s/out.raw'",
		 pw, img, dir);
	assert_int_equal(run(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/out.raw", dir);
	bd = blockdev_open(cmd, "raw", true, &err);
	assert_non_null(bd);
	check_pattern(bd);
	blockdev_close(bd);
	/* and refuses the wrong passphrase */
	snprintf(cmd, sizeof(cmd),
		 "qemu-img compare -q --object secret,id=s0,file='%s' "
		 "--image-opts driver=qcow2,file.filename='%s',"
		 "encrypt.key-secret=s0 driver=raw,file.filename='%s/out.raw' "
		 "2>/dev/null",
		 pwbad, img, dir);
	assert_true(run(cmd) != 0);
}

static void test_qemu_image(void **state)
{
	struct error err = { 0 };
	struct image_check ck;
	struct blockdev *bd;
	char cmd[1024];

	(void)state;
	if (!have_qemu_img()) {
		skip();
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "qemu-img create -q -f qcow2 --object secret,id=s0,file='%s' "
		 "-o encrypt.format=luks,encrypt.key-secret=s0,"
		 "encrypt.iter-time=10 '%s' 8M",
		 pw, img);
	/* qemu-img times PBKDF2 with getrusage and on a busy host may fail
	 * with "Unable to get accurate CPU usage": try again */
	{
		int r = 1;

		for (int i = 0; i < 5 && r; i++)
			r = run(cmd);
		assert_int_equal(r, 0);
	}
	/* QEMU writes the same pattern: 200 KiB at 0, 4 KiB at 1 MiB, one
	 * sector at 3 MiB + 2.5 KiB, from a raw file we make */
	assert_int_equal(image_create(raw, "raw", 8 << 20, NULL, &err), 0);
	bd = blockdev_open(raw, "raw", false, &err);
	assert_non_null(bd);
	write_pattern(bd);
	blockdev_close(bd);
	snprintf(cmd, sizeof(cmd),
		 "qemu-img convert -n --object secret,id=s0,file='%s' "
		 "-f raw '%s' --target-image-opts "
		 "driver=qcow2,file.filename='%s',encrypt.key-secret=s0",
		 pw, raw, img);
	assert_int_equal(run(cmd), 0);

	bd = blockdev_open_secret(img, "qcow2", false, spec, &err);
	assert_non_null(bd);
	check_pattern(bd);
	/* we write to QEMU's image; QEMU reads it back equal to the raw */
	{
		static uint8_t buf[65536];
		struct iovec v = { buf, sizeof(buf) };
		struct blockdev *r = blockdev_open(raw, "raw", false, &err);

		assert_non_null(r);
		fill(buf, sizeof(buf), 99);
		assert_int_equal(blockdev_writev(bd, &v, 1, 5 << 20), 0);
		assert_int_equal(blockdev_writev(r, &v, 1, 5 << 20), 0);
		blockdev_close(r);
	}
	blockdev_close(bd);
	assert_null(blockdev_open_secret(img, "qcow2", true, specbad, &err));
	assert_int_equal(err.code, EACCES);
	assert_int_equal(image_check(img, NULL, &ck, &err), 0);
	assert_int_equal(ck.corruptions + ck.leaks, 0);
	snprintf(cmd, sizeof(cmd),
		 "qemu-img check -q --object secret,id=s0,file='%s' "
		 "--image-opts driver=qcow2,file.filename='%s',"
		 "encrypt.key-secret=s0",
		 pw, img);
	assert_int_equal(run(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		 "qemu-img compare -q --object secret,id=s0,file='%s' "
		 "--image-opts driver=qcow2,file.filename='%s',"
		 "encrypt.key-secret=s0 driver=raw,file.filename='%s'",
		 pw, img, raw);
	assert_int_equal(run(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_unlock),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test_setup_teardown(test_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qcow2_luks_roundtrip,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_image, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
