/* priv_misaligned.S - misaligned accesses.  Softvisor handles misaligned
 * loads and stores transparently (no trap, correct value, also across a
 * page boundary and for FP and compressed forms); misaligned LR raises
 * load address-misaligned (4) with the address in mtval (AMO and SC:
 * priv_misaligned_amo.S).  A misaligned fetch cannot
 * be produced while C is enabled (jalr clears bit 0, branch offsets are
 * even), so it is not tested. */
#include "test.h"

RVTEST_CODE_BEGIN
	la s0, buf
	li a0, 0x0807060504030201
	sd a0, 0(s0)
	li a0, 0x100f0e0d0c0b0a09
	sd a0, 8(s0)
	CLEAR_TRAPS
	TEST(1)
	lh a1, 1(s0)
	CHECK_EQ(a1, 0x0302)
	TEST(2)
	lhu a1, 7(s0)
	CHECK_EQ(a1, 0x0908)
	TEST(3)
	lw a1, 1(s0)
	CHECK_EQ(a1, 0x05040302)
	TEST(4)
	lw a1, 6(s0)
	CHECK_EQ(a1, 0x0a090807)
	TEST(5)
	ld a1, 3(s0)
	CHECK_EQ(a1, 0x0b0a090807060504)
	TEST(6)
	ld a1, 7(s0)
	CHECK_EQ(a1, 0x0f0e0d0c0b0a0908)
	TEST(7)                         /* sign extension of misaligned lw */
	li a0, 0x80
	sb a0, 12(s0)
	lw a1, 9(s0)
	CHECK_EQ(a1, 0xffffffff800c0b0a)
	TEST(8)                         /* stores */
	li a0, 0x1122334455667788
	sd a0, 5(s0)
	ld a1, 5(s0)
	CHECK_REG(a1, a0)
	ld a1, 0(s0)
	CHECK_EQ(a1, 0x6677880504030201)
	TEST(9)
	sw a0, 1(s0)
	lwu a1, 1(s0)
	CHECK_EQ(a1, 0x55667788)
	TEST(10)
	sh a0, 3(s0)
	lhu a1, 3(s0)
	CHECK_EQ(a1, 0x7788)
	TEST(11)                        /* FP loads/stores */
	fld f1, 5(s0)
	fsd f1, 17(s0)
	ld a1, 17(s0)
	ld a2, 5(s0)
	CHECK_REG(a1, a2)
	flw f2, 2(s0)
	fsw f2, 27(s0)
	lwu a1, 27(s0)
	lwu a2, 2(s0)
	CHECK_REG(a1, a2)
	TEST(12)                        /* compressed */
	.option rvc
	addi s1, s0, 1
	c.ld a1, 0(s1)
	ld a2, 1(s0)
	.option norvc
	CHECK_REG(a1, a2)
	TEST(13)                        /* across a page boundary */
	la s1, pagebuf + 4096
	li a0, 0xa1a2a3a4a5a6a7a8
	sd a0, -3(s1)
	ld a1, -3(s1)
	CHECK_REG(a1, a0)
	lw a1, -2(s1)
	CHECK_EQ(a1, 0xffffffffa4a5a6a7)
	lbu a1, 0(s1)
	CHECK_EQ(a1, 0xa5)
	lbu a1, -1(s1)
	CHECK_EQ(a1, 0xa6)
	TEST(14)                        /* U-mode too */
	EXPECT_TRAP(1f)
	GOTO_U(2f)
2:	ld a1, 3(s0)
	sw a1, 2(s0)
	ecall
1:	CHECK_MCAUSE(CAUSE_ECALL_U)
	CHECK_MCOUNT(1)                 /* nothing above trapped */

	/* misaligned LR faults (AMO and SC: priv_misaligned_amo.S, since
	 * QEMU 7.2 reports those as load-misaligned) */
#define MIS(n, cause, off, ...) \
	TEST(n); CLEAR_TRAPS; addi s1, s0, off; EXPECT_TRAP(3f); \
4:	__VA_ARGS__; j fail; \
3:	CHECK_MCAUSE(cause); CHECK_MEPC(4b); CHECK_MTVAL_REG(s1)
	MIS(19, CAUSE_MISALIGNED_LOAD, 2, lr.w a0, (s1))
	MIS(20, CAUSE_MISALIGNED_LOAD, 4, lr.d a0, (s1))
	MIS(24, CAUSE_MISALIGNED_LOAD, 1, lr.d.aq a0, (s1))
	TEST(23)                        /* delegated to S: scause/stval */
	li t0, 1 << CAUSE_MISALIGNED_LOAD
	csrw medeleg, t0
	SET_STVEC_DEFAULT
	S_EXPECT(2)
	CLEAR_TRAPS
	addi s1, s0, 2
	EXPECT_TRAP(6f)
	GOTO_U(7f)
7:	lr.w a0, (s1)
	j fail
6:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_SCAUSE(CAUSE_MISALIGNED_LOAD)
	CHECK_STVAL_REG(s1)
	CHECK_SEPC(7b)
	csrwi medeleg, 0
	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 4
buf:
	.zero 64
	.align 12
pagebuf:
	.zero 8192
