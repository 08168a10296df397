/* zifencei.S - self-modifying code made visible with FENCE.I (unpriv
 * ch. 6): a routine is executed, rewritten, fenced and executed again. */
#include "test.h"

#define LI_A0(v) (0x00000513 | ((v) << 20))     /* addi a0, zero, v */

RVTEST_CODE_BEGIN
	la s0, patch
	TEST(1)
	jal patch
	CHECK_EQ(a0, 1)
	/* rewrite and re-execute a few times (the old code is cached) */
	li s1, 2
1:	TEST(2)
	li t0, LI_A0(0)
	slli t1, s1, 20
	or t0, t0, t1
	sw t0, 0(s0)
	fence.i
	jal patch
	CHECK_REG(a0, s1)
	addi s1, s1, 1
	li t0, 10
	blt s1, t0, 1b
	TEST(3)                 /* patch only the upper halfword (imm) */
	li t0, (LI_A0(0x123) >> 16)
	sh t0, 2(s0)
	fence.i
	jal patch
	CHECK_EQ(a0, 0x123)
	TEST(4)                 /* replace with a compressed c.li + c.nop */
	li t0, 0x0001 << 16 | 0x4501 | (13 << 2)   /* c.li a0,13; c.nop */
	sw t0, 0(s0)
	fence.i
	jal patch
	CHECK_EQ(a0, 13)
	TEST(5)                 /* replace the ret by a jump-to-self-plus */
	li t0, LI_A0(7)
	sw t0, 0(s0)
	li t0, 0x00150513       /* addi a0, a0, 1 */
	sw t0, 4(s0)
	li t0, 0x00008067       /* ret */
	sw t0, 8(s0)
	fence.i
	jal patch
	CHECK_EQ(a0, 8)
	TEST(6)                 /* code copied to a data page and run there */
	la s2, codebuf
	li t0, LI_A0(42)
	sw t0, 0(s2)
	li t0, 0x00008067
	sw t0, 4(s2)
	fence.i
	jalr s2
	CHECK_EQ(a0, 42)
	li t0, LI_A0(43)
	sw t0, 0(s2)
	fence.i
	jalr s2
	CHECK_EQ(a0, 43)
	RVTEST_PASS

	.align 3
patch:
	li a0, 1
	ret
	nop
	nop
RVTEST_CODE_END

	.data
	.align 4
codebuf:
	.zero 64
