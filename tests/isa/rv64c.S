/* rv64c.S - every RV64C form (unpriv ch. 16), incl. FP loads/stores. */
#include "test.h"

RVTEST_CODE_BEGIN
	.option rvc
	la sp, cstack_top
	/* quadrant 0 */
	TEST(1)
	c.addi4spn s0, sp, 1020
	sub a0, s0, sp
	CHECK_EQ(a0, 1020)
	la s0, cdata
	li a0, 0x1122334480000001
	sd a0, 0(s0)
	TEST(2)
	c.lw a1, 0(s0)
	CHECK_EQ(a1, 0xffffffff80000001)
	TEST(3)
	c.ld a2, 0(s0)
	CHECK_EQ(a2, 0x1122334480000001)
	TEST(4)
	c.sw a1, 8(s0)
	c.sd a2, 16(s0)
	lwu a3, 8(s0)
	CHECK_EQ(a3, 0x80000001)
	ld a3, 16(s0)
	CHECK_EQ(a3, 0x1122334480000001)
	TEST(5)
	c.fld fa0, 16(s0)
	c.fsd fa0, 24(s0)
	ld a3, 24(s0)
	CHECK_EQ(a3, 0x1122334480000001)
	fmv.x.d a4, fa0
	CHECK_EQ(a4, 0x1122334480000001)
	TEST(6)
	c.ld a5, 248(s0)      /* max offset */
	ld a4, 248(s0)
	CHECK_REG(a5, a4)

	/* quadrant 1 */
	TEST(7)
	li a0, 5
	c.nop
	c.addi a0, -6
	CHECK_EQ(a0, -1)
	TEST(8)
	li a0, 0x7fffffff
	c.addiw a0, 1
	CHECK_EQ(a0, 0xffffffff80000000)
	TEST(9)
	li a0, 0x123456789
	c.addiw a0, 0         /* sext.w */
	CHECK_EQ(a0, 0x23456789)
	TEST(10)
	c.li a0, -32
	CHECK_EQ(a0, -32)
	TEST(11)
	mv a1, sp
	c.addi16sp sp, -512
	sub a2, a1, sp
	CHECK_EQ(a2, 512)
	c.addi16sp sp, 496
	c.addi16sp sp, 16
	CHECK_REG(sp, a1)
	TEST(12)
	c.lui a0, 0xfffe0     /* nzimm = -32 << 12 */
	CHECK_EQ(a0, 0xfffffffffffe0000)
	TEST(13)
	c.lui a0, 1
	CHECK_EQ(a0, 0x1000)
	TEST(14)
	li a0, -1
	c.srli a0, 63
	CHECK_EQ(a0, 1)
	TEST(15)
	li a0, 0x8000000000000000
	c.srai a0, 32
	CHECK_EQ(a0, 0xffffffff80000000)
	TEST(16)
	li a0, 0xff
	c.andi a0, -16
	CHECK_EQ(a0, 0xf0)
	TEST(17)
	li a0, 10
	li a1, 3
	c.sub a0, a1
	CHECK_EQ(a0, 7)
	TEST(18)
	li a0, 0xff00
	li a1, 0x0ff0
	c.xor a0, a1
	CHECK_EQ(a0, 0xf0f0)
	TEST(19)
	li a0, 0xff00
	c.or a0, a1
	CHECK_EQ(a0, 0xfff0)
	TEST(20)
	li a0, 0xff00
	c.and a0, a1
	CHECK_EQ(a0, 0x0f00)
	TEST(21)
	li a0, 0x80000000
	li a1, 1
	c.subw a0, a1
	CHECK_EQ(a0, 0x7fffffff)
	TEST(22)
	li a0, 0x7fffffff
	c.addw a0, a1
	CHECK_EQ(a0, 0xffffffff80000000)
	TEST(23)
	li a0, 0
	c.j 1f
	li a0, 1
1:	CHECK_EQ(a0, 0)
	TEST(24)
	li s1, 0
	li a0, 0
	c.beqz s1, 2f
	li a0, 1
2:	c.bnez s1, 3f         /* not taken */
	c.addi a0, 2
3:	CHECK_EQ(a0, 2)
	TEST(25)
	li s1, 4
	li a0, 0
	c.bnez s1, 4f
	li a0, 1
4:	c.beqz s1, 5f         /* not taken */
	c.addi a0, 3
5:	CHECK_EQ(a0, 3)

	/* quadrant 2 */
	TEST(26)
	li a0, 1
	c.slli a0, 63
	CHECK_EQ(a0, 0x8000000000000000)
	TEST(27)
	li a0, 0x55
	sd a0, 8(sp)
	c.ldsp a1, 8(sp)
	CHECK_EQ(a1, 0x55)
	TEST(28)
	li a0, -2
	c.swsp a0, 16(sp)
	c.lwsp a2, 16(sp)
	CHECK_EQ(a2, -2)
	TEST(29)
	li a0, 0x4008000000000000
	c.sdsp a0, 24(sp)
	c.fldsp fa1, 24(sp)
	c.fsdsp fa1, 32(sp)
	c.ldsp a3, 32(sp)
	CHECK_EQ(a3, 0x4008000000000000)
	TEST(30)
	c.ldsp t2, 504(sp)    /* any register, max offset */
	ld t3, 504(sp)
	CHECK_REG(t2, t3)
	TEST(31)
	li a0, 77
	c.mv t1, a0
	CHECK_EQ(t1, 77)
	TEST(32)
	li a0, 40
	li t1, 2
	c.add a0, t1
	CHECK_EQ(a0, 42)
	TEST(33)
	la t1, 6f
	li ra, 0
	c.jr t1
	j fail
6:	CHECK_EQ(ra, 0)
	TEST(34)
	la t1, 7f
	c.jalr t1
8:	j fail
7:	la t2, 8b
	CHECK_REG(ra, t2)     /* link = pc + 2 */
	TEST(35)
	CLEAR_TRAPS
	EXPECT_TRAP_SKIP
9:	c.ebreak
	CHECK_MCAUSE(CAUSE_BREAKPOINT)
	CHECK_MEPC(9b)
	TEST(36)              /* all-zero halfword is illegal */
	CLEAR_TRAPS
	EXPECT_TRAP_SKIP
10:	.2byte 0
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	CHECK_MEPC(10b)
	TEST(37)              /* a 4-byte instruction at a 2-byte boundary */
	.align 2
	c.nop
	li a0, 0x12345        /* lui+addiw, at pc % 4 == 2 */
	CHECK_EQ(a0, 0x12345)
	TEST(38)              /* c.jalr to a halfword-aligned target */
	la t1, 11f
	c.jalr t1
	j 12f
	.align 2
	c.nop
11:	c.addi a0, 1          /* 11 is at pc%4 == 2 */
	ret
12:	CHECK_EQ(a0, 0x12346)
	.option norvc
	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 4
cdata:
	.zero 256
cstack:
	.zero 1024
cstack_top:
	.zero 1024
