/* Unit tests for src/util: size/number parsing, log specs, errors, vclock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/error.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/pidns.h"
#include "util/prefault.h"
#include "util/vclock.h"

static void test_parse_size(void **state)
{
	struct error err;
	uint64_t v;

	assert_int_equal(parse_size("512M", 1, &v, "--memory", &err), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(parse_size("2G", 1, &v, "--memory", &err), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("1GiB", 1, &v, "--memory", &err), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(parse_size("4k", 1, &v, "--memory", &err), 0);
	assert_int_equal(v, 4096);
	/* QEMU's -m: a bare number means MiB */
	assert_int_equal(parse_size("256", 1 << 20, &v, "--memory", &err), 0);
	assert_int_equal(v, 256ULL << 20);

	assert_int_equal(parse_size("5X", 1, &v, "--memory", &err), -EINVAL);
	assert_string_equal(err.msg,
			    "--memory 5X: expected a size like 512M or 2G");
	assert_int_equal(parse_size("", 1, &v, "--memory", &err), -EINVAL);
	assert_int_equal(parse_size("-1G", 1, &v, "--memory", &err), -EINVAL);
	assert_int_equal(parse_size("1.5G", 1, &v, "--memory", &err), -EINVAL);
	assert_int_equal(parse_size("99999999999T", 1, &v, "--memory", &err),
			 -ERANGE);
}

static void test_parse_u64(void **state)
{
	struct error err;
	uint64_t v;

	assert_int_equal(parse_u64("4", 1, 64, &v, "--cpus", &err), 0);
	assert_int_equal(v, 4);
	assert_int_equal(parse_u64("0x10", 0, 64, &v, "--cpus", &err), 0);
	assert_int_equal(v, 16);
	assert_int_equal(parse_u64("65", 1, 64, &v, "--cpus", &err), -ERANGE);
	assert_string_equal(err.msg, "--cpus 65: out of range, expected 1..64");
	assert_int_equal(parse_u64("x", 1, 64, &v, "--cpus", &err), -EINVAL);
	assert_int_equal(parse_u64("-3", 1, 64, &v, "--cpus", &err), -EINVAL);
}

static void test_error_prefix(void **state)
{
	struct error err;

	assert_int_equal(error_set(&err, ENOENT, "no %s", "file"), -ENOENT);
	error_prefix(&err, "disk %d", 2);
	assert_string_equal(err.msg, "disk 2: no file");
	assert_int_equal(err.code, ENOENT);
	assert_int_equal(error_set(NULL, EIO, "ignored"), -EIO);
}

static void test_parse_mac(void **state)
{
	uint8_t mac[6] = { 0 };

	assert_int_equal(parse_mac("52:54:00:aA:bb:CC", mac), 0);
	assert_int_equal(mac[0], 0x52);
	assert_int_equal(mac[3], 0xaa);
	assert_int_equal(mac[5], 0xcc);
	/* short, long, wrong separator, not hex: refused, mac untouched */
	assert_int_equal(parse_mac("52:54:00:11:22", mac), -EINVAL);
	assert_int_equal(parse_mac("52:54:00:11:22:33:", mac), -EINVAL);
	assert_int_equal(parse_mac("52-54-00-11-22-33", mac), -EINVAL);
	assert_int_equal(parse_mac("52:54:00:11:22:3g", mac), -EINVAL);
	assert_int_equal(parse_mac("", mac), -EINVAL);
	assert_int_equal(mac[5], 0xcc);
}

static void test_log_spec(void **state)
{
	char msg[200];

	assert_int_equal(log_configure("info,cpu=trace", msg, sizeof(msg)), 0);
	assert_true(log_enabled(LOG_LVL_TRACE, "cpu"));
	assert_false(log_enabled(LOG_LVL_DEBUG, "sbi"));
	assert_true(log_enabled(LOG_LVL_INFO, "sbi"));
	assert_int_equal(log_configure("loud", msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "'loud'"));
	/* a bad spec leaves the old configuration in place */
	assert_true(log_enabled(LOG_LVL_TRACE, "cpu"));
	assert_int_equal(log_configure("warn", msg, sizeof(msg)), 0);
}

static void test_vclock_pause(void **state)
{
	struct vclock c;
	struct timespec ts = { 0, 2000000 };

	vclock_init(&c);
	nanosleep(&ts, NULL);
	uint64_t t1 = vclock_now(&c);
	assert_true(t1 >= 20000); /* 2 ms at 10 MHz */
	vclock_pause(&c);
	uint64_t t2 = vclock_now(&c);
	nanosleep(&ts, NULL);
	assert_int_equal(vclock_now(&c), t2);
	vclock_resume(&c);
	uint64_t t3 = vclock_now(&c);
	/* resumed from the frozen value, not jumped by the 2 ms pause */
	assert_true(t3 >= t2 && t3 < t2 + 15000);
}

/* The NSpid line of /proc/PID/status: ours first, the innermost last. */
static void test_pidns_nspid(void **state)
{
	(void)state;
	int o = 0, in = 0;
	assert_true(pidns_parse_nspid("NSpid:\t4242\t1\n", &o, &in));
	assert_int_equal(o, 4242);
	assert_int_equal(in, 1);
	assert_true(pidns_parse_nspid("NSpid:\t77\n", &o, &in));
	assert_int_equal(o, 77);
	assert_int_equal(in, 77);
	assert_true(pidns_parse_nspid("NSpid:\t9\t8\t3\n", &o, &in));
	assert_int_equal(o, 9);
	assert_int_equal(in, 3);
	assert_false(pidns_parse_nspid("NStgid:\t9\t1\n", &o, &in));
	assert_false(pidns_parse_nspid("NSpid:\n", &o, &in));
	assert_false(pidns_parse_nspid("NSpid:\t12x\t1\n", &o, &in));
	assert_false(pidns_parse_nspid("NSpid:\t-3\n", &o, &in));
	assert_false(pidns_parse_nspid("NSpid:\t99999999999\n", &o, &in));
	/* our own threads: each maps to itself in our namespace */
	struct pidns_map m;
	assert_int_equal(pidns_map_threads(getpid(), &m), 0);
	assert_true(m.n >= 1);
	assert_int_equal(pidns_map_outer(&m, (int)getpid()), (int)getpid());
	assert_int_equal(pidns_map_outer(&m, -5), 0);
}

static size_t resident_pages(const uint8_t *p, size_t len)
{
	unsigned char vec[4 * PREFAULT_CHUNK / 4096];
	size_t n = 0;

	assert_true(len <= sizeof(vec) * 4096);
	assert_int_equal(mincore((void *)p, len, vec), 0);
	for (size_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	return n;
}

/* A fill from the bottom up commits whole chunks ahead, never past the
 * limit, and nothing again below the mark. */
static void test_prefault_ahead(void **state)
{
	const size_t len = 3 * PREFAULT_CHUNK + 8192;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t mark = 0;

	(void)state;
	assert_true(p != MAP_FAILED);
	prefault_ahead(p, &mark, 100, len, MADV_POPULATE_WRITE);
	assert_int_equal(mark, PREFAULT_CHUNK);
	assert_int_equal(resident_pages(p, len), PREFAULT_CHUNK / 4096);
	prefault_ahead(p, &mark, PREFAULT_CHUNK, len, MADV_POPULATE_WRITE);
	assert_int_equal(mark, PREFAULT_CHUNK); /* nothing new needed */
	prefault_ahead(p, &mark, 3 * PREFAULT_CHUNK + 1, len,
		       MADV_POPULATE_WRITE);
	assert_int_equal(mark, len); /* up to the limit, not past it */
	assert_int_equal(resident_pages(p, len), len / 4096);
	munmap(p, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_error_prefix),
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_log_spec),
		cmocka_unit_test(test_vclock_pause),
		cmocka_unit_test(test_pidns_nspid),
		cmocka_unit_test(test_prefault_ahead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
