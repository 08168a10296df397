/* priv_misaligned_amo.S - misaligned AMOs and SC raise store/AMO
 * address-misaligned (cause 6) with the address in mtval, and do not
 * write memory (priv 3.7 / table 3.6: "Store/AMO address misaligned").
 * Softvisor-only: QEMU 7.2 reports misaligned AMOs as load address
 * misaligned (cause 4). */
#include "test.h"

RVTEST_CODE_BEGIN
	la s0, buf
#define MIS(n, cause, off, ...) \
	TEST(n); CLEAR_TRAPS; addi s1, s0, off; EXPECT_TRAP(3f); \
4:	__VA_ARGS__; j fail; \
3:	CHECK_MCAUSE(cause); CHECK_MEPC(4b); CHECK_MTVAL_REG(s1)
	MIS(15, CAUSE_MISALIGNED_STORE, 2, amoadd.w a0, a0, (s1))
	MIS(16, CAUSE_MISALIGNED_STORE, 4, amoswap.d a0, a0, (s1))
	MIS(17, CAUSE_MISALIGNED_STORE, 1, amoor.d.aqrl a0, a0, (s1))
	MIS(18, CAUSE_MISALIGNED_STORE, 6, amomaxu.w a0, a0, (s1))
	MIS(21, CAUSE_MISALIGNED_STORE, 4, sc.d a0, a0, (s1))
	TEST(22)                        /* the AMO did not write */
	li a0, 0x1111111111111111
	sd a0, 32(s0)
	addi s1, s0, 34
	EXPECT_TRAP(5f)
	amoswap.w a1, zero, (s1)
5:	ld a2, 32(s0)
	CHECK_REG(a2, a0)
	TEST(23)                        /* delegated to S: scause/stval */
	li t0, 1 << CAUSE_MISALIGNED_STORE
	csrw medeleg, t0
	SET_STVEC_DEFAULT
	S_EXPECT(2)
	CLEAR_TRAPS
	addi s1, s0, 2
	EXPECT_TRAP(6f)
	GOTO_U(7f)
7:	amoadd.w a0, a0, (s1)
	j fail
6:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_SCAUSE(CAUSE_MISALIGNED_STORE)
	CHECK_STVAL_REG(s1)
	CHECK_SEPC(7b)
	csrwi medeleg, 0
	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 4
buf:
	.zero 64
