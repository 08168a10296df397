/* Unit tests for src/dev/syscon: poweroff, failure code, reboot, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dev/syscon.h"

static int poweroffs, reboots, last_code;

static void on_poweroff(void *opaque, int code)
{
	assert_ptr_equal(opaque, &poweroffs);
	poweroffs++;
	last_code = code;
}

static void on_reboot(void *opaque)
{
	reboots++;
}

static const struct syscon_ops sops = { on_poweroff, on_reboot };

static void test_syscon(void **state)
{
	struct error err;
	struct syscon *s = syscon_create(&sops, &poweroffs, &err);
	const struct mmio_ops *ops = syscon_mmio_ops();

	assert_non_null(s);
	assert_int_equal(ops->read(s, 0, 4), 0);
	ops->write(s, 0, SYSCON_POWEROFF, 4);
	assert_int_equal(poweroffs, 1);
	assert_int_equal(last_code, 0);
	ops->write(s, 0, SYSCON_REBOOT, 4);
	assert_int_equal(reboots, 1);
	ops->write(s, 0, SYSCON_FAIL | 42 << 16, 4);
	assert_int_equal(poweroffs, 2);
	assert_int_equal(last_code, 42);
	ops->write(s, 0, SYSCON_FAIL, 4);
	assert_int_equal(last_code, 1); /* failure never reads as success */
	ops->write(s, 0, 0xffffffff00005555ULL, 8);
	assert_int_equal(poweroffs, 4);
	assert_int_equal(last_code, 0);
	ops->write(s, 0, SYSCON_REBOOT, 2);
	assert_int_equal(reboots, 2);

	/* anything else is ignored */
	ops->write(s, 0, 0x1234, 4);
	ops->write(s, 0, 0x55, 1);
	ops->write(s, 4, SYSCON_POWEROFF, 4);
	ops->write(s, 0xffc, SYSCON_REBOOT, 4);
	ops->write(s, UINT64_MAX, SYSCON_REBOOT, 1);
	assert_int_equal(ops->read(s, 0x1000, 8), 0);
	assert_int_equal(poweroffs, 4);
	assert_int_equal(reboots, 2);
	syscon_destroy(s);

	/* no callbacks: harmless */
	s = syscon_create(NULL, NULL, &err);
	ops->write(s, 0, SYSCON_POWEROFF, 4);
	ops->write(s, 0, SYSCON_REBOOT, 4);
	syscon_destroy(s);
	syscon_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syscon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
