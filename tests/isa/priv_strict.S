/* priv_strict.S - privileged rules that QEMU 7.2 does not follow, so
 * this file is registered for Softvisor only (see docs/isa-tests.md):
 * 1. medeleg[11] (ecall from M) is read-only zero (priv 3.1.8).
 * 2. An MRET to a mode other than M clears mstatus.MPRV (priv 3.1.6.1,
 *    "If y != M, xRET also sets MPRV=0"); QEMU 7.2 leaves MPRV set.
 * 3. The same for an MRET to U. */
#include "test.h"

RVTEST_CODE_BEGIN
	TEST(1)
	li t0, 1 << 11
	csrw medeleg, t0
	csrr a0, medeleg
	CHECK_EQ(a0, 0)
	TEST(2)                          /* mret to S clears MPRV */
	li t0, MSTATUS_MPRV
	csrs mstatus, t0
	CLEAR_TRAPS
	EXPECT_TRAP(1f)
	GOTO_S(2f)
2:	ecall
	j fail
1:	CHECK_MCAUSE(CAUSE_ECALL_S)
	LOAD_SAVE(t5, M_STATUS)
	li t0, MSTATUS_MPRV
	and t5, t5, t0
	CHECK_EQ(t5, 0)
	TEST(3)                          /* mret to U clears MPRV */
	li t0, MSTATUS_MPRV
	csrs mstatus, t0
	EXPECT_TRAP(3f)
	GOTO_U(4f)
4:	ecall
	j fail
3:	CHECK_MCAUSE(CAUSE_ECALL_U)
	LOAD_SAVE(t5, M_STATUS)
	li t0, MSTATUS_MPRV
	and t5, t5, t0
	CHECK_EQ(t5, 0)
	RVTEST_PASS
RVTEST_CODE_END
