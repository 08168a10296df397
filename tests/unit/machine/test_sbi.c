/*
 * Unit tests for the built-in SBI (src/machine/sbi.c): each extension's
 * calls on a two-hart machine made of real harts and guest memory, with
 * arguments set in a0..a7 as a guest kernel would.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/hart.h"
#include "machine/virt_impl.h"
#include "mem/gmem.h"
#include "sbi_machine.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (16ULL << 20)

#define EXT_BASE   0x10
#define EXT_TIME   0x54494d45
#define EXT_IPI	   0x735049
#define EXT_RFENCE 0x52464e43
#define EXT_HSM	   0x48534d
#define EXT_SRST   0x53525354
#define EXT_PMU	   0x504d55
#define EXT_DBCN   0x4442434e

static struct virt *vm;

static int setup(void **state)
{
	vm = sbi_machine_new(RAM_BASE, RAM_SIZE);
	assert_non_null(vm);
	for (unsigned i = 0; i < 2; i++)
		hart_reset(vm->harts[i].h, RAM_BASE, PRIV_S);
	atomic_store(&vm->harts[0].hsm, HSM_STARTED);
	atomic_store(&vm->harts[1].hsm, HSM_STOPPED);
	return 0;
}

static int teardown(void **state)
{
	sbi_machine_free(vm);
	return 0;
}

/* Make an SBI call from hart `from`; returns a0 (error), *value = a1. */
static long call(unsigned from, unsigned long eid, unsigned long fid,
		 unsigned long a0, unsigned long a1, unsigned long a2,
		 long *value)
{
	struct hart *h = vm->harts[from].h;
	hart_set_reg(h, 10, a0);
	hart_set_reg(h, 11, a1);
	hart_set_reg(h, 12, a2);
	hart_set_reg(h, 16, fid);
	hart_set_reg(h, 17, eid);
	sbi_handle(&vm->harts[from], h);
	if (value)
		*value = (long)hart_get_reg(h, 11);
	return (long)hart_get_reg(h, 10);
}

static void test_base(void **state)
{
	long v;
	assert_int_equal(call(0, EXT_BASE, 0, 0, 0, 0, &v), 0);
	assert_int_equal(v, 2L << 24); /* SBI 2.0 */
	assert_int_equal(call(0, EXT_BASE, 3, EXT_HSM, 0, 0, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(call(0, EXT_BASE, 3, EXT_DBCN, 0, 0, &v), 0);
	assert_int_equal(v, 1);
	/* PMU is not provided: probing says so cleanly */
	assert_int_equal(call(0, EXT_BASE, 3, EXT_PMU, 0, 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(call(0, EXT_PMU, 0, 0, 0, 0, NULL), -2);
	assert_int_equal(call(0, 0x12345678, 0, 0, 0, 0, NULL), -2);
	assert_int_equal(call(0, EXT_BASE, 99, 0, 0, 0, NULL), -2);
}

static bool stip(unsigned hart)
{
	uint64_t mip;
	assert_int_equal(hart_get_csr(vm->harts[hart].h, 0x344, &mip), 0);
	return mip & (1 << IRQ_STI);
}

static void test_time(void **state)
{
	/* a deadline in the far future: no timer interrupt pending */
	assert_int_equal(call(0, EXT_TIME, 0, ~0UL >> 1, 0, 0, NULL), 0);
	assert_false(stip(0));
	/* a past deadline raises STIP; a new one in the future clears it */
	assert_int_equal(call(0, EXT_TIME, 0, 0, 0, 0, NULL), 0);
	assert_true(stip(0));
	assert_int_equal(call(0, EXT_TIME, 0, ~0UL >> 1, 0, 0, NULL), 0);
	assert_false(stip(0));
	/* the legacy set_timer does the same */
	assert_int_equal(call(0, 0x00, 0, 1, 0, 0, NULL), 0);
	assert_true(stip(0));
	assert_int_equal(call(0, 0x00, 0, ~0UL, 0, 0, NULL), 0);
	assert_false(stip(0));
	assert_int_equal(call(0, EXT_TIME, 1, 0, 0, 0, NULL), -2);
}

static void test_ipi(void **state)
{
	uint64_t mip;
	/* hart mask 0b10 from base 0: hart 1 */
	assert_int_equal(call(0, EXT_IPI, 0, 2, 0, 0, NULL), 0);
	assert_int_equal(hart_get_csr(vm->harts[1].h, 0x344, &mip), 0);
	assert_true(mip & (1 << IRQ_SSI));
	assert_int_equal(hart_get_csr(vm->harts[0].h, 0x344, &mip), 0);
	assert_false(mip & (1 << IRQ_SSI));
	/* out-of-range harts are rejected */
	assert_int_equal(call(0, EXT_IPI, 0, 1, 7, 0, NULL), -3);
	assert_int_equal(call(0, EXT_IPI, 0, 4, 0, 0, NULL), -3);
	/* base -1: all harts */
	assert_int_equal(call(0, EXT_IPI, 0, 0, (unsigned long)-1, 0, NULL), 0);
	assert_int_equal(hart_get_csr(vm->harts[0].h, 0x344, &mip), 0);
	assert_true(mip & (1 << IRQ_SSI));
}

static void test_legacy_ipi_mask_in_memory(void **state)
{
	uint64_t mask = 2, mip;
	hart_reset(vm->harts[1].h, RAM_BASE, PRIV_S);
	assert_int_equal(gmem_write(vm->mem, RAM_BASE + 0x1000, &mask, 8), 0);
	assert_int_equal(call(0, 0x04, 0, RAM_BASE + 0x1000, 0, 0, NULL), 0);
	assert_int_equal(hart_get_csr(vm->harts[1].h, 0x344, &mip), 0);
	assert_true(mip & (1 << IRQ_SSI));
	/* a mask pointer outside RAM is an invalid address, not a crash */
	assert_int_equal(call(0, 0x04, 0, 0x1000, 0, 0, NULL), -5);
}

static void test_rfence(void **state)
{
	/* hart 1 is stopped: nothing to wait for */
	assert_int_equal(call(0, EXT_RFENCE, 0, 3, 0, 0, NULL), 0);
	assert_int_equal(call(0, EXT_RFENCE, 1, 3, 0, 0, NULL), 0);
	assert_int_equal(call(0, EXT_RFENCE, 2, 3, 0, 0, NULL), 0);
	/* hypervisor fences are not supported */
	assert_int_equal(call(0, EXT_RFENCE, 3, 3, 0, 0, NULL), -2);
	assert_int_equal(call(0, EXT_RFENCE, 0, 8, 0, 0, NULL), -3);

	/* hart 1 started but not running guest code (its vCPU waits for a
	 * pCPU that the caller's vCPU holds): the fence must not wait for
	 * it, it is served when hart 1 runs again. This deadlocked a 2-vCPU
	 * VM on one pCPU. */
	atomic_store(&vm->harts[1].hsm, HSM_STARTED);
	assert_int_equal(call(0, EXT_RFENCE, 1, 3, 0, 0, NULL), 0);
	assert_true(hart_request_done(vm->harts[1].h, HART_REQ_TLB_FLUSH));
	atomic_store(&vm->harts[1].hsm, HSM_STOPPED);
}

static void test_hsm(void **state)
{
	long v;
	atomic_store(&vm->harts[1].hsm, HSM_STOPPED);
	assert_int_equal(call(0, EXT_HSM, 2, 1, 0, 0, &v), 0);
	assert_int_equal(v, HSM_STOPPED);
	assert_int_equal(call(0, EXT_HSM, 2, 0, 0, 0, &v), 0);
	assert_int_equal(v, HSM_STARTED);
	/* start address outside RAM */
	assert_int_equal(call(0, EXT_HSM, 0, 1, 0x1000, 0, NULL), -5);
	assert_int_equal(call(0, EXT_HSM, 0, 5, RAM_BASE, 0, NULL), -3);
	assert_int_equal(call(0, EXT_HSM, 0, 1, RAM_BASE + 0x2000, 42, NULL),
			 0);
	assert_int_equal(call(0, EXT_HSM, 2, 1, 0, 0, &v), 0);
	assert_int_equal(v, HSM_START_PENDING);
	assert_int_equal(vm->harts[1].start_addr, RAM_BASE + 0x2000);
	assert_int_equal(vm->harts[1].start_opaque, 42);
	/* a second start while not stopped */
	assert_int_equal(call(0, EXT_HSM, 0, 1, RAM_BASE, 0, NULL), -6);
	assert_int_equal(call(0, EXT_HSM, 2, 9, 0, 0, NULL), -3);
	/* non-retentive suspend is not offered; bad types are invalid */
	assert_int_equal(call(0, EXT_HSM, 3, 0x80000000, 0, 0, NULL), -2);
	assert_int_equal(call(0, EXT_HSM, 3, 7, 0, 0, NULL), -3);
	/* hart_stop stops the caller */
	assert_int_equal(call(1, EXT_HSM, 1, 0, 0, 0, NULL), 0);
	assert_int_equal(atomic_load(&vm->harts[1].hsm), HSM_STOPPED);
}

static void test_dbcn(void **state)
{
	long v;
	const char msg[] = "hello";
	assert_int_equal(gmem_write(vm->mem, RAM_BASE + 0x3000, msg, 5), 0);
	assert_int_equal(call(0, EXT_DBCN, 0, 5, RAM_BASE + 0x3000, 0, &v), 0);
	assert_int_equal(v, 5);
	/* base_hi must be zero on RV64; memory must be RAM */
	assert_int_equal(call(0, EXT_DBCN, 0, 5, RAM_BASE, 1, NULL), -3);
	assert_int_equal(call(0, EXT_DBCN, 0, 5, 0x1000, 0, NULL), -3);
	/* a huge length is cut to what fits, never overruns */
	assert_int_equal(call(0, EXT_DBCN, 0, ~0UL, RAM_BASE, 0, &v), 0);
	assert_true(v > 0 && v <= 4096);
	assert_int_equal(call(0, EXT_DBCN, 2, 'x', 0, 0, NULL), 0);
}

static void test_srst(void **state)
{
	atomic_store(&vm->event, VIRT_EV_NONE);
	assert_int_equal(call(0, EXT_SRST, 0, 7, 0, 0, NULL), -3);
	assert_int_equal(atomic_load(&vm->event), VIRT_EV_NONE);
	assert_int_equal(call(0, EXT_SRST, 0, 1, 0, 0, NULL), 0);
	assert_int_equal(atomic_load(&vm->event), VIRT_EV_REBOOT);
	atomic_store(&vm->event, VIRT_EV_NONE);
	assert_int_equal(call(0, EXT_SRST, 0, 0, 1, 0, NULL), 0);
	assert_int_equal(atomic_load(&vm->event), VIRT_EV_POWEROFF);
	assert_int_equal(vm->exit_code, 1); /* reason: system failure */
	atomic_store(&vm->harts[0].hsm, HSM_STARTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_ipi),
		cmocka_unit_test(test_legacy_ipi_mask_in_memory),
		cmocka_unit_test(test_rfence),
		cmocka_unit_test(test_hsm),
		cmocka_unit_test(test_dbcn),
		cmocka_unit_test(test_srst),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
