/* Unit tests for src/dev/aclint: MSWI, MTIMER halves, mtime, bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dev/aclint.h"

#define NHARTS 4

static uint64_t cmp[NHARTS];
static int set_calls;
static int msip_level[NHARTS];
static int msip_calls;
static struct vclock clk;

static void t_set(void *opaque, unsigned hart, uint64_t v)
{
	assert_true(hart < NHARTS);
	cmp[hart] = v;
	set_calls++;
}

static uint64_t t_get(void *opaque, unsigned hart)
{
	assert_true(hart < NHARTS);
	return cmp[hart];
}

static void msip_set(void *opaque, int level)
{
	msip_level[(uintptr_t)opaque] = level;
	msip_calls++;
}

static const struct aclint_timer_ops tops = { t_set, t_get };

static struct aclint *mk(void)
{
	struct irq_line lines[NHARTS];
	struct error err;

	memset(cmp, 0xff, sizeof(cmp));
	memset(msip_level, 0, sizeof(msip_level));
	set_calls = msip_calls = 0;
	vclock_init(&clk);
	for (uintptr_t i = 0; i < NHARTS; i++)
		lines[i] = (struct irq_line){ msip_set, (void *)i };
	struct aclint *a = aclint_create(NHARTS, &clk, lines, &tops, NULL,
					 &err);
	assert_non_null(a);
	return a;
}

static void test_msip(void **state)
{
	struct aclint *a = mk();
	const struct mmio_ops *ops = aclint_mmio_ops();

	ops->write(a, 4 * 2, 0xffffffff, 4);
	assert_int_equal(msip_level[2], 1);
	assert_int_equal(msip_level[1], 0);
	assert_int_equal(ops->read(a, 4 * 2, 4), 1); /* bit 0 only */
	ops->write(a, 4 * 2, 0, 4);
	assert_int_equal(msip_level[2], 0);
	assert_int_equal(ops->read(a, 4 * 2, 4), 0);

	/* 64-bit access covers two harts */
	ops->write(a, 0, 0x100000001ULL, 8);
	assert_int_equal(msip_level[0], 1);
	assert_int_equal(msip_level[1], 1);
	assert_int_equal(ops->read(a, 0, 8), 0x100000001ULL);
	/* byte access */
	ops->write(a, 4, 0, 1);
	assert_int_equal(msip_level[1], 0);
	assert_int_equal(ops->read(a, 0, 1), 1);

	/* hart beyond num_harts: ignored */
	msip_calls = 0;
	ops->write(a, 4 * NHARTS, 1, 4);
	ops->write(a, 0x3ffc, 1, 4);
	assert_int_equal(msip_calls, 0);
	assert_int_equal(ops->read(a, 4 * NHARTS, 4), 0);
	aclint_destroy(a);
}

static void test_mtimecmp(void **state)
{
	struct aclint *a = mk();
	const struct mmio_ops *ops = aclint_mmio_ops();
	uint64_t off = ACLINT_MTIMECMP_OFF + 8 * 3;

	ops->write(a, off, 0x1122334455667788ULL, 8);
	assert_int_equal(cmp[3], 0x1122334455667788ULL);
	assert_int_equal(set_calls, 1);
	assert_int_equal(ops->read(a, off, 8), 0x1122334455667788ULL);
	assert_int_equal(ops->read(a, off, 4), 0x55667788);
	assert_int_equal(ops->read(a, off + 4, 4), 0x11223344);
	assert_int_equal(ops->read(a, off + 6, 2), 0x1122);

	/* 32-bit halves (RV32-style update sequence) */
	ops->write(a, off, 0xffffffff, 4);
	assert_int_equal(cmp[3], 0x11223344ffffffffULL);
	ops->write(a, off + 4, 0xaabbccdd, 4);
	assert_int_equal(cmp[3], 0xaabbccddffffffffULL);
	ops->write(a, off, 0x01020304, 4);
	assert_int_equal(cmp[3], 0xaabbccdd01020304ULL);
	/* byte write */
	ops->write(a, off + 7, 0x00, 1);
	assert_int_equal(cmp[3], 0x00bbccdd01020304ULL);
	assert_int_equal(cmp[0], UINT64_MAX);

	/* beyond num_harts */
	set_calls = 0;
	ops->write(a, ACLINT_MTIMECMP_OFF + 8 * NHARTS, 5, 8);
	assert_int_equal(set_calls, 0);
	assert_int_equal(ops->read(a, ACLINT_MTIMECMP_OFF + 8 * NHARTS, 8), 0);
	aclint_destroy(a);
}

static void test_mtime(void **state)
{
	struct aclint *a = mk();
	const struct mmio_ops *ops = aclint_mmio_ops();

	vclock_pause(&clk);
	atomic_store(&clk.frozen_ticks, 0x123456789abcULL);
	assert_int_equal(ops->read(a, ACLINT_MTIME_OFF, 8), 0x123456789abcULL);
	assert_int_equal(ops->read(a, ACLINT_MTIME_OFF, 4), 0x56789abc);
	assert_int_equal(ops->read(a, ACLINT_MTIME_OFF + 4, 4), 0x1234);
	/* writes ignored */
	ops->write(a, ACLINT_MTIME_OFF, 0, 8);
	assert_int_equal(ops->read(a, ACLINT_MTIME_OFF, 8), 0x123456789abcULL);
	vclock_resume(&clk);
	uint64_t t1 = ops->read(a, ACLINT_MTIME_OFF, 8);
	uint64_t t2 = ops->read(a, ACLINT_MTIME_OFF, 8);
	assert_true(t2 >= t1);
	assert_true(t1 >= 0x123456789abcULL);
	aclint_destroy(a);
}

static void test_bounds(void **state)
{
	struct aclint *a = mk();
	const struct mmio_ops *ops = aclint_mmio_ops();
	static const uint64_t offs[] = { 0x10000,   0xfffc, 0xfff8,
					 0xc000,    0xbff0, UINT64_MAX - 3,
					 1ULL << 40 };

	set_calls = msip_calls = 0;
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (unsigned sz = 1; sz <= 8; sz *= 2) {
			assert_int_equal(ops->read(a, offs[i], sz), 0);
			ops->write(a, offs[i], ~0ULL, sz);
		}
	}
	/* misaligned: ignored */
	ops->write(a, ACLINT_MTIMECMP_OFF + 2, 0, 4);
	assert_int_equal(ops->read(a, 1, 2), 0);
	assert_int_equal(set_calls, 0);
	assert_int_equal(msip_calls, 0);
	aclint_destroy(a);
}

static void test_create_and_state(void **state)
{
	struct irq_line l[1] = { { 0 } };
	struct error err;

	assert_null(aclint_create(0, &clk, l, &tops, NULL, &err));
	assert_int_equal(err.code, EINVAL);
	assert_null(aclint_create(ACLINT_MAX_HARTS + 1, &clk, l, &tops, NULL,
				  &err));

	struct aclint *a = mk();
	const struct mmio_ops *ops = aclint_mmio_ops();
	struct aclint_state st;
	ops->write(a, 4, 1, 4);
	ops->write(a, ACLINT_MTIMECMP_OFF + 16, 1234, 8);
	aclint_save(a, &st);
	assert_int_equal(st.num_harts, NHARTS);
	assert_int_equal(st.msip[1], 1);
	assert_int_equal(st.mtimecmp[2], 1234);
	aclint_destroy(a);

	a = mk();
	assert_int_equal(aclint_load(a, &st), 0);
	assert_int_equal(msip_level[1], 1);
	assert_int_equal(cmp[2], 1234);
	st.num_harts = 1;
	assert_int_equal(aclint_load(a, &st), -EINVAL);
	aclint_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msip),
		cmocka_unit_test(test_mtimecmp),
		cmocka_unit_test(test_mtime),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_create_and_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
