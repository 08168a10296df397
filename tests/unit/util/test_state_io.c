/* Unit tests for src/util/state_io: the VM state file's framing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/state_io.h"

static int memfd(void)
{
	int fd = memfd_create("state", 0);
	assert_true(fd >= 0);
	return fd;
}

/* A file of two sections: "alpha"/0 v1 and "beta"/3 v2. Returns its size
 * and copies it to out (if not NULL). */
static size_t make_file(uint8_t *out, size_t cap)
{
	struct state_writer w;
	struct error err = { 0 };
	int fd = memfd();

	assert_int_equal(state_writer_open(&w, fd, &err), 0);
	state_begin(&w, "alpha", 0, 1);
	state_put_u8(&w, 0xab);
	state_put_u16(&w, 0x1234);
	state_put_u32(&w, 0xdeadbeef);
	state_put_u64(&w, 0x0123456789abcdefULL);
	assert_int_equal(state_end(&w, &err), 0);
	state_begin(&w, "beta", 3, 2);
	state_put_bytes(&w, "hello", 5);
	assert_int_equal(state_end(&w, &err), 0);
	assert_int_equal(state_writer_finish(&w, &err), 0);
	off_t size = lseek(fd, 0, SEEK_END);
	assert_int_equal((uint64_t)size, w.bytes);
	if (out) {
		assert_true((size_t)size <= cap);
		assert_int_equal(pread(fd, out, (size_t)size, 0), size);
	}
	close(fd);
	return (size_t)size;
}

static int fd_of(const uint8_t *buf, size_t len)
{
	int fd = memfd();
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Read a whole file as make_file wrote it; 0 or the first error. */
static int read_file(const uint8_t *buf, size_t len, struct error *err)
{
	struct state_reader r;
	int fd = fd_of(buf, len);
	int rc = state_reader_open(&r, fd, err);
	while (!rc) {
		rc = state_next(&r, err);
		if (rc <= 0)
			break;
		if (state_is(&r, "alpha")) {
			state_get_u8(&r);
			state_get_u16(&r);
			state_get_u32(&r);
			state_get_u64(&r);
		} else {
			state_get_ptr(&r, 5);
		}
		rc = state_section_done(&r, err);
	}
	state_reader_close(&r);
	close(fd);
	return rc;
}

static void test_round_trip(void **unused)
{
	uint8_t buf[512];
	size_t n = make_file(buf, sizeof(buf));
	struct state_reader r;
	struct error err = { 0 };
	int fd = fd_of(buf, n);

	/* little-endian on every host */
	assert_memory_equal(buf, "SVSTATE\0\1\0\0\0", 12);
	assert_int_equal(state_reader_open(&r, fd, &err), 0);
	assert_int_equal(state_next(&r, &err), 1);
	assert_true(state_is(&r, "alpha"));
	assert_int_equal(r.instance, 0);
	assert_int_equal(r.version, 1);
	assert_int_equal(state_get_u8(&r), 0xab);
	assert_int_equal(state_get_u16(&r), 0x1234);
	assert_int_equal(state_get_u32(&r), 0xdeadbeef);
	assert_int_equal(state_get_u64(&r), 0x0123456789abcdefULL);
	assert_int_equal(state_section_done(&r, &err), 0);
	assert_int_equal(state_next(&r, &err), 1);
	assert_true(state_is(&r, "beta"));
	assert_int_equal(r.instance, 3);
	assert_int_equal(state_check_version(&r, 1, &err), -EPROTONOSUPPORT);
	assert_string_equal(err.msg, "VM state section beta/3: version 2, "
				     "this softvisor reads 1..1");
	assert_int_equal(state_check_version(&r, 2, &err), 0);
	char s[6] = { 0 };
	state_get_bytes(&r, s, 5);
	assert_string_equal(s, "hello");
	assert_int_equal(state_section_done(&r, &err), 0);
	assert_int_equal(state_next(&r, &err), 0);
	assert_int_equal(state_next(&r, &err), 0); /* stays at the end */
	state_reader_close(&r);
	close(fd);
}

static void test_short_and_long_parse(void **unused)
{
	uint8_t buf[512];
	size_t n = make_file(buf, sizeof(buf));
	struct state_reader r;
	struct error err = { 0 };
	int fd = fd_of(buf, n);

	assert_int_equal(state_reader_open(&r, fd, &err), 0);
	assert_int_equal(state_next(&r, &err), 1);
	state_get_u64(&r); /* 8 of 15 bytes */
	assert_int_equal(state_section_done(&r, &err), -EINVAL);
	assert_string_equal(err.msg, "VM state section alpha/0: 7 "
				     "unexpected bytes at its end");
	assert_int_equal(state_next(&r, &err), 1);
	assert_null(state_get_ptr(&r, 6));	/* 5 there */
	assert_int_equal(state_get_u32(&r), 0); /* sticky: zeros */
	assert_int_equal(state_section_done(&r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "beta/3: truncated"));
	state_reader_close(&r);
	close(fd);
}

/* Every proper prefix of the file is refused with a clear message. */
static void test_truncation(void **unused)
{
	uint8_t buf[512];
	size_t n = make_file(buf, sizeof(buf));
	struct error err = { 0 };

	assert_int_equal(read_file(buf, n, &err), 0);
	for (size_t cut = 0; cut < n; cut++) {
		error_clear(&err);
		int rc = read_file(buf, cut, &err);
		if (rc >= 0 || !(strstr(err.msg, "truncated") ||
				 strstr(err.msg, "bad magic")))
			fail_msg("cut %zu: rc %d, %s", cut, rc, err.msg);
		assert_true(strstr(err.msg, "truncated") ||
			    strstr(err.msg, "bad magic"));
	}
	/* a cut inside beta's CRC (before the 28-byte end section) names
	 * beta */
	error_clear(&err);
	assert_int_equal(read_file(buf, n - 28 - 3, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "beta/3"));
}

/* Any single flipped byte after the file header is detected. */
static void test_crc(void **unused)
{
	uint8_t buf[512], bad[512];
	size_t n = make_file(buf, sizeof(buf));
	struct error err = { 0 };

	for (size_t i = 16; i < n; i++) {
		memcpy(bad, buf, n);
		bad[i] ^= 0x10;
		error_clear(&err);
		assert_true(read_file(bad, n, &err) < 0);
		assert_true(err.msg[0] != 0);
	}
	/* a flipped payload byte of alpha: a CRC error naming alpha */
	memcpy(bad, buf, n);
	bad[16 + 4 + 1 + 5 + 16 + 2] ^= 1;
	assert_int_equal(read_file(bad, n, &err), -EINVAL);
	assert_string_equal(err.msg, "VM state section alpha/0: CRC "
				     "mismatch (the file is damaged)");
}

static void test_header(void **unused)
{
	uint8_t buf[512];
	size_t n = make_file(buf, sizeof(buf));
	struct error err = { 0 };

	buf[8] = 2; /* format version 2 */
	assert_int_equal(read_file(buf, n, &err), -EPROTONOSUPPORT);
	assert_string_equal(err.msg, "VM state format version 2, this "
				     "softvisor reads version 1");
	buf[8] = 1;
	buf[0] = 'X';
	assert_int_equal(read_file(buf, n, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "not a Softvisor VM state file (bad magic)");
}

/* A length field over the limit is refused before any allocation. */
static void test_huge_length(void **unused)
{
	uint8_t buf[512];
	size_t n = make_file(buf, sizeof(buf));
	struct error err = { 0 };

	/* alpha's length field: after tag, name length, name, instance,
	 * version */
	memset(buf + 16 + 4 + 1 + 5 + 8, 0xff, 8);
	assert_int_equal(read_file(buf, n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "alpha/0: length"));
}

static void test_writer_errors(void **unused)
{
	struct state_writer w;
	struct error err = { 0 };
	int fd = memfd();

	assert_int_equal(state_writer_open(&w, fd, &err), 0);
	state_begin(&w, "Bad Name", 0, 1);
	state_put_u32(&w, 1);
	assert_int_equal(state_end(&w, &err), -EINVAL);
	assert_int_equal(state_end(&w, &err), -EINVAL); /* sticky */
	state_writer_abort(&w);
	close(fd);
}

/* A reader with stream_over: sections longer than it are read by the
 * gets (beta: 5 bytes > 4), shorter ones whole (alpha: 15 > 4 too, so
 * both); the same values come out, the CRC is checked at the end of
 * each, a damaged byte is found there, a truncation is "truncated",
 * and moving on before the end of a streamed section is refused. */
static int read_streamed(const uint8_t *buf, size_t len, struct error *err,
			 bool skip_done, char *beta)
{
	struct state_reader r;
	int fd = fd_of(buf, len);
	int rc = state_reader_open(&r, fd, err);
	r.stream_over = 4;
	while (!rc) {
		rc = state_next(&r, err);
		if (rc <= 0)
			break;
		assert_true(r.streamed);
		if (state_is(&r, "alpha")) {
			assert_int_equal(state_get_u8(&r), 0xab);
			assert_int_equal(state_get_u16(&r), 0x1234);
			assert_int_equal(state_get_u32(&r), 0xdeadbeef);
			assert_int_equal(state_get_u64(&r),
					 0x0123456789abcdefULL);
		} else {
			/* a damaged payload is seen before its CRC */
			const char *p = state_get_ptr(&r, 5);
			if (p && beta)
				memcpy(beta, p, 5);
		}
		rc = skip_done ? 0 : state_section_done(&r, err);
	}
	state_reader_close(&r);
	close(fd);
	return rc;
}

static void test_streamed(void **unused)
{
	uint8_t buf[512];
	size_t n = make_file(buf, sizeof(buf));
	struct error err = { 0 };

	char beta[6] = { 0 };
	assert_int_equal(read_streamed(buf, n, &err, false, beta), 0);
	assert_string_equal(beta, "hello");
	/* a payload byte of beta */
	uint8_t bad[512];
	memcpy(bad, buf, n);
	uint8_t *h = memmem(bad, n, "hello", 5);
	assert_non_null(h);
	h[1] ^= 0x20;
	assert_int_equal(read_streamed(bad, n, &err, false, NULL), -EINVAL);
	assert_non_null(strstr(err.msg, "beta/3: CRC mismatch"));
	/* cut inside beta's payload */
	size_t cut = (size_t)(h - bad) + 2;
	assert_int_equal(read_streamed(buf, cut, &err, false, NULL), -EINVAL);
	assert_non_null(strstr(err.msg, "beta/3: truncated"));
	/* cut between beta's payload and its CRC */
	assert_int_equal(read_streamed(buf, (size_t)(h - bad) + 5 + 2, &err,
				       false, NULL),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "beta/3: truncated"));
	/* state_next before state_section_done */
	assert_int_equal(read_streamed(buf, n, &err, true, NULL), -EINVAL);
	assert_non_null(strstr(err.msg, "alpha/0: read before its end"));
	(void)unused;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_short_and_long_parse),
		cmocka_unit_test(test_streamed),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_crc),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_huge_length),
		cmocka_unit_test(test_writer_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
