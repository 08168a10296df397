/* zicntr_time.S - the time CSR (Zicntr): advances, agrees with the CLINT
 * mtime at 0x0200bff8, and is gated by mcounteren.TM / scounteren.TM.
 * Softvisor-only: QEMU's spike board does not implement the time CSR
 * (rdtime is an illegal instruction there). */
#include "test.h"

RVTEST_CODE_BEGIN
	TEST(1)                 /* time advances (bounded wait) */
	rdtime a0
	li t1, 50000000
1:	rdtime a1
	bne a0, a1, 2f
	addi t1, t1, -1
	bnez t1, 1b
	j fail
2:	bltu a0, a1, 3f
	j fail
3:	TEST(2)                 /* mtime <= time <= mtime' */
	li s0, CLINT_BASE + CLINT_MTIME
	ld a0, 0(s0)
	rdtime a1
	ld a2, 0(s0)
	bgeu a1, a0, 4f
	j fail
4:	bgeu a2, a1, 5f
	j fail
5:	TEST(3)                 /* S and U read time when both allow it */
	csrwi mcounteren, 7
	csrwi scounteren, 7
	CLEAR_TRAPS
	EXPECT_TRAP(6f)
	GOTO_U(7f)
7:	rdtime a0
	ecall
6:	CHECK_MCAUSE(CAUSE_ECALL_U)
	CHECK_MCOUNT(1)
#define GATED(n, prv) \
	TEST(n); CLEAR_TRAPS; EXPECT_TRAP(12f); GOTO_MODE(prv, 13f); \
13:	rdtime a0; j fail; \
12:	CHECK_MCAUSE(CAUSE_ILLEGAL); CHECK_MEPC(13b); \
	lwu t4, 13b; CHECK_MTVAL_REG(t4)
	csrwi scounteren, 5
	GATED(4, PRV_U)
	csrwi mcounteren, 5
	csrwi scounteren, 7
	GATED(5, PRV_S)
	GATED(6, PRV_U)
	TEST(7)                 /* M is never gated */
	csrwi mcounteren, 0
	rdtime a0
	csrwi mcounteren, 7
	RVTEST_PASS
RVTEST_CODE_END
