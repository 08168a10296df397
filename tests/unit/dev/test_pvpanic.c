/* Unit tests for src/dev/pvpanic: capabilities, events, what is ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dev/pvpanic.h"

static unsigned calls, last;

static void on_event(void *opaque, unsigned events)
{
	assert_ptr_equal(opaque, &calls);
	calls++;
	last = events;
}

static const struct pvpanic_ops pops = { on_event };

static void test_pvpanic(void **state)
{
	struct error err;
	struct pvpanic *p = pvpanic_create(&pops, &calls, &err);
	const struct mmio_ops *ops = pvpanic_mmio_ops();

	(void)state;
	assert_non_null(p);
	/* Linux's driver reads what the device supports first */
	assert_int_equal(ops->read(p, 0, 1),
			 PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	ops->write(p, 0, PVPANIC_PANICKED, 1);
	assert_int_equal(calls, 1);
	assert_int_equal(last, PVPANIC_PANICKED);
	ops->write(p, 0, PVPANIC_CRASH_LOADED | 0xf0, 1);
	assert_int_equal(calls, 2);
	assert_int_equal(last, PVPANIC_CRASH_LOADED);

	/* anything else is ignored */
	ops->write(p, 0, 0xfc, 1);	       /* no known bit */
	ops->write(p, 1, PVPANIC_PANICKED, 1); /* other offsets */
	ops->write(p, 0, PVPANIC_PANICKED, 4); /* other sizes */
	ops->write(p, UINT64_MAX, PVPANIC_PANICKED, 1);
	assert_int_equal(calls, 2);
	assert_int_equal(ops->read(p, 0, 4), 0);
	assert_int_equal(ops->read(p, 8, 1), 0);
	pvpanic_destroy(p);
	pvpanic_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pvpanic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
