/* rv64i.S - RV64I base integer instructions (unprivileged spec ch. 2, 4). */
#include "test.h"

RVTEST_CODE_BEGIN
	/* add/sub/addi and W forms with sign extension */
	TEST_RR_OP(1, add, 0x0000000100000000, 0xffffffff, 1)
	TEST_RR_OP(2, add, 0, -1, 1)
	TEST_RR_OP(3, sub, -1, 0, 1)
	TEST_RR_OP(4, sub, 0x8000000000000000, 0x7fffffffffffffff, -1)
	TEST_IMM_OP(5, addi, -2048, 0, -2048)
	TEST_IMM_OP(6, addi, 0x80000000, 0x7fffffff, 1)
	TEST_RR_OP(7, addw, 0xffffffff80000000, 0x7fffffff, 1)
	TEST_RR_OP(8, addw, 0, 0xffffffff, 1)
	TEST_RR_OP(9, subw, 0x7fffffff, 0xffffffff80000000, 1)
	TEST_IMM_OP(10, addiw, 0xffffffff80000000, 0x7fffffff, 1)
	TEST_IMM_OP(11, addiw, 0x12345678, 0xabcdef0012345678, 0)
	TEST_RR_SRC1_EQ_DEST(12, add, 24, 13, 11)

	/* logic */
	TEST_RR_OP(13, and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f)
	TEST_RR_OP(14, or, 0xff0fff0f, 0xff00ff00, 0x0f0f0f0f)
	TEST_RR_OP(15, xor, 0xf00ff00f, 0xff00ff00, 0x0f0f0f0f)
	TEST_IMM_OP(16, andi, 0xff00ff00, 0xff00ff00, -1)
	TEST_IMM_OP(17, ori, -1, 0, -1)
	TEST_IMM_OP(18, xori, ~0x123, 0x123, -1)

	/* compares */
	TEST_RR_OP(19, slt, 1, -1, 0)
	TEST_RR_OP(20, sltu, 0, -1, 0)
	TEST_RR_OP(21, sltu, 1, 0, -1)
	TEST_IMM_OP(22, slti, 0, 0, -1)
	TEST_IMM_OP(23, sltiu, 1, 0, -1)   /* imm sign-extended then unsigned */
	TEST_IMM_OP(24, sltiu, 0, -1, -1)
	TEST_RR_OP(25, slt, 0, 0x8000000000000000, 0x8000000000000000)

	/* shifts, including by 63/31 and shamt taken mod 64/32 */
	TEST_RR_OP(26, sll, 0x8000000000000000, 1, 63)
	TEST_RR_OP(27, sll, 2, 1, 65)
	TEST_RR_OP(28, srl, 1, 0x8000000000000000, 63)
	TEST_RR_OP(29, sra, -1, 0x8000000000000000, 63)
	TEST_IMM_OP(30, slli, 0x8000000000000000, 1, 63)
	TEST_IMM_OP(31, srli, 1, 0x8000000000000000, 63)
	TEST_IMM_OP(32, srai, 0xffffffffff000000, 0x8000000000000000, 39)
	TEST_RR_OP(33, sllw, 0xffffffff80000000, 1, 31)
	TEST_RR_OP(34, sllw, 2, 1, 33)
	TEST_RR_OP(35, srlw, 1, 0xffffffff80000000, 31)
	TEST_RR_OP(36, srlw, 0x7fffffff, 0xfffffffffffffffe, 1)
	TEST_RR_OP(37, sraw, -1, 0x0000000080000000, 31)
	TEST_IMM_OP(38, slliw, 0xffffffff80000000, 1, 31)
	TEST_IMM_OP(39, srliw, -1, 0xffffffffffffffff, 0)
	TEST_IMM_OP(40, srliw, 1, 0x80000000, 31)
	TEST_IMM_OP(41, sraiw, 0xffffffffffff8000, 0x80000000, 16)
	TEST_IMM_OP(42, sraiw, 0x12345678, 0xffffffff12345678, 0)

	/* lui / auipc */
	TEST(43)
	lui a0, 0x80000
	CHECK_EQ(a0, 0xffffffff80000000)
	TEST(44)
	lui a0, 0x7ffff
	CHECK_EQ(a0, 0x7ffff000)
	TEST(45)
1:	auipc a0, 0
	la a1, 1b
	CHECK_REG(a0, a1)
	TEST(46)
2:	auipc a0, 1
	la a1, 2b
	li a2, 0x1000
	add a1, a1, a2
	CHECK_REG(a0, a1)
	TEST(47)
3:	auipc a0, 0xfffff     /* -4096 */
	la a1, 3b
	li a2, -4096
	add a1, a1, a2
	CHECK_REG(a0, a1)

	/* loads of every width and sign */
	la s0, ldata
	TEST(48)
	lb a0, 0(s0)
	CHECK_EQ(a0, 0xffffffffffffff81)
	TEST(49)
	lbu a0, 0(s0)
	CHECK_EQ(a0, 0x81)
	TEST(50)
	lh a0, 0(s0)
	CHECK_EQ(a0, 0xffffffffffff8281)
	TEST(51)
	lhu a0, 0(s0)
	CHECK_EQ(a0, 0x8281)
	TEST(52)
	lw a0, 0(s0)
	CHECK_EQ(a0, 0xffffffff84838281)
	TEST(53)
	lwu a0, 0(s0)
	CHECK_EQ(a0, 0x84838281)
	TEST(54)
	ld a0, 0(s0)
	CHECK_EQ(a0, 0x8887868584838281)
	TEST(55)
	lb a0, 9(s0)
	CHECK_EQ(a0, 0x12)
	TEST(56)
	lw a0, -4+16(s0)  /* negative-ish offsets */
	addi s1, s0, 16
	lw a1, -4(s1)
	CHECK_REG(a0, a1)

	/* stores of every width */
	la s1, sdata
	TEST(57)
	sd zero, 0(s1)
	li a0, 0x1122334455667788
	sb a0, 0(s1)
	sh a0, 2(s1)
	sw a0, 4(s1)
	ld a1, 0(s1)
	CHECK_EQ(a1, 0x5566778877880088)
	TEST(58)
	sd a0, 8(s1)
	ld a1, 8(s1)
	CHECK_EQ(a1, 0x1122334455667788)
	TEST(59)
	sb zero, 15(s1)
	ld a1, 8(s1)
	CHECK_EQ(a1, 0x0022334455667788)

	/* branches taken and not taken */
#define TEST_BR(n, inst, v1, v2, taken) \
	TEST(n); li a1, v1; li a2, v2; li a0, 0; \
	inst a1, a2, 9f; li a0, 1; 9: CHECK_EQ(a0, 1 - (taken))
	TEST_BR(60, beq, 5, 5, 1)
	TEST_BR(61, beq, 5, 6, 0)
	TEST_BR(62, bne, 5, 6, 1)
	TEST_BR(63, bne, 5, 5, 0)
	TEST_BR(64, blt, -1, 0, 1)
	TEST_BR(65, blt, 0, -1, 0)
	TEST_BR(66, bge, 0, -1, 1)
	TEST_BR(67, bge, -1, 0, 0)
	TEST_BR(68, bge, 7, 7, 1)
	TEST_BR(69, bltu, 0, -1, 1)
	TEST_BR(70, bltu, -1, 0, 0)
	TEST_BR(71, bgeu, -1, 0, 1)
	TEST_BR(72, bgeu, 0, -1, 0)
	/* backward branch */
	TEST(73)
	li a0, 0
	li a1, 10
4:	addi a0, a0, 3
	addi a1, a1, -1
	bnez a1, 4b
	CHECK_EQ(a0, 30)

	/* jal / jalr */
	TEST(74)
	jal ra, 5f
6:	j fail
5:	la a1, 6b
	CHECK_REG(ra, a1)
	TEST(75)
	la a1, 7f
	addi a1, a1, 1          /* LSB must be cleared by jalr */
	jalr ra, 0(a1)
8:	j fail
7:	la a2, 8b
	CHECK_REG(ra, a2)
	TEST(76)
	la a1, 10f - 8
	jalr a1, 8(a1)          /* rd == rs1: target uses old rs1 */
11:	j fail
10:	la a2, 11b
	CHECK_REG(a1, a2)
	TEST(77)
	la a1, 12f + 3
	jalr x0, -3(a1)
	j fail
12:	CHECK_EQ(x0, 0)

	/* x0 is hardwired */
	TEST(78)
	li a1, 5
	add x0, a1, a1
	CHECK_EQ(x0, 0)

	/* fence / nop forms must not trap */
	TEST(79)
	fence
	fence rw, rw
	fence.tso
	nop
	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 4
ldata:
	.byte 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88
	.byte 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18
sdata:
	.zero 16
