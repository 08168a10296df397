/* rv64a.S - A extension: LR/SC reservations, all AMOs .w/.d, sign
 * extension of .w results, aq/rl forms. */
#include "test.h"

#define AMO_TEST(n, inst, init, src, expold, expmem, width) \
	TEST(n); la s0, amodata; li a1, init; s##width a1, 0(s0); \
	li a2, src; inst a0, a2, (s0); CHECK_EQ(a0, expold); \
	l##width a3, 0(s0); CHECK_EQ(a3, expmem)

RVTEST_CODE_BEGIN
	/* .d AMOs */
	AMO_TEST(1, amoswap.d, 0x1111, 0x2222, 0x1111, 0x2222, d)
	AMO_TEST(2, amoadd.d, -1, 1, -1, 0, d)
	AMO_TEST(3, amoxor.d, 0xff00, 0x0ff0, 0xff00, 0xf0f0, d)
	AMO_TEST(4, amoand.d, 0xff00, 0x0ff0, 0xff00, 0x0f00, d)
	AMO_TEST(5, amoor.d, 0xff00, 0x0ff0, 0xff00, 0xfff0, d)
	AMO_TEST(6, amomin.d, -5, 3, -5, -5, d)
	AMO_TEST(7, amomax.d, -5, 3, -5, 3, d)
	AMO_TEST(8, amominu.d, -5, 3, -5, 3, d)
	AMO_TEST(9, amomaxu.d, -5, 3, -5, -5, d)
	/* .w AMOs: old value sign-extended, upper word untouched */
	TEST(10)
	la s0, amodata
	li a1, 0x5555555580000000
	sd a1, 0(s0)
	li a2, 1
	amoadd.w a0, a2, (s0)
	CHECK_EQ(a0, 0xffffffff80000000)
	ld a3, 0(s0)
	CHECK_EQ(a3, 0x5555555580000001)
	AMO_TEST(11, amoswap.w, 0x80000000, 0x12345678, 0xffffffff80000000, 0x12345678, w)
	AMO_TEST(12, amoadd.w, 0x7fffffff, 1, 0x7fffffff, 0xffffffff80000000, w)
	AMO_TEST(13, amoxor.w, 0xffffffff, 0x0f0f0f0f, -1, 0xfffffffff0f0f0f0, w)
	AMO_TEST(14, amoand.w, 0xffffffff, 0x0f0f0f0f, -1, 0x0f0f0f0f, w)
	AMO_TEST(15, amoor.w, 0x80000000, 1, 0xffffffff80000000, 0xffffffff80000001, w)
	AMO_TEST(16, amomin.w, 0x80000000, 1, 0xffffffff80000000, 0xffffffff80000000, w)
	AMO_TEST(17, amomax.w, 0x80000000, 1, 0xffffffff80000000, 1, w)
	AMO_TEST(18, amominu.w, 0x80000000, 1, 0xffffffff80000000, 1, w)
	AMO_TEST(19, amomaxu.w, 0x80000000, 1, 0xffffffff80000000, 0xffffffff80000000, w)
	/* min/max .w compare only the low 32 bits (upper bits of rs2 ignored) */
	AMO_TEST(20, amomax.w, 1, 0x1ffffffff, 1, 1, w)
	/* aq/rl variants */
	AMO_TEST(21, amoadd.d.aq, 5, 6, 5, 11, d)
	AMO_TEST(22, amoadd.d.rl, 5, 6, 5, 11, d)
	AMO_TEST(23, amoadd.d.aqrl, 5, 6, 5, 11, d)
	AMO_TEST(24, amoswap.w.aqrl, 5, -1, 5, -1, w)
	/* rd = x0 still performs the write */
	TEST(25)
	la s0, amodata
	li a1, 40
	sd a1, 0(s0)
	li a2, 2
	amoadd.d x0, a2, (s0)
	ld a3, 0(s0)
	CHECK_EQ(a3, 42)

	/* LR/SC success */
	TEST(26)
	la s0, amodata
	li a1, 100
	sd a1, 0(s0)
	lr.d a0, (s0)
	CHECK_EQ(a0, 100)
	li a2, 200
	sc.d a3, a2, (s0)
	CHECK_EQ(a3, 0)
	ld a4, 0(s0)
	CHECK_EQ(a4, 200)
	/* SC without a reservation fails (the previous SC consumed it) */
	TEST(27)
	li a2, 300
	sc.d a3, a2, (s0)
	bnez a3, 1f
	j fail
1:	ld a4, 0(s0)
	CHECK_EQ(a4, 200)
	/* lr.w sign-extends; sc.w success */
	TEST(28)
	li a1, 0xfffffff0
	sw a1, 0(s0)
	lr.w a0, (s0)
	CHECK_EQ(a0, 0xfffffffffffffff0)
	li a2, 7
	sc.w a3, a2, (s0)
	CHECK_EQ(a3, 0)
	lw a4, 0(s0)
	CHECK_EQ(a4, 7)
	/* SC to a different address than the LR fails */
	TEST(29)
	lr.d a0, (s0)
	addi s1, s0, 64
	li a2, 9
	sd zero, 0(s1)
	sc.d a3, a2, (s1)
	bnez a3, 2f
	j fail
2:	ld a4, 0(s1)
	CHECK_EQ(a4, 0)
	/* a store by this hart between LR and SC may make SC fail; if SC
	 * succeeds the memory must hold the SC value (spec 8.2 allows both,
	 * Softvisor invalidates the reservation on any store to it). */
	TEST(30)
	lr.d a0, (s0)
	li a1, 55
	sd a1, 0(s0)
	li a2, 66
	sc.d a3, a2, (s0)
	ld a4, 0(s0)
	beqz a3, 3f
	CHECK_EQ(a4, 55)
	j 4f
3:	CHECK_EQ(a4, 66)
4:
	/* a trap (ecall) between LR and SC: SC must fail or succeed
	 * consistently; repeated lr/sc loop still makes progress */
	TEST(31)
	li a5, 0
	li a1, 0
	sd a1, 0(s0)
5:	lr.d.aq a0, (s0)
	addi a0, a0, 1
	sc.d.rl a3, a0, (s0)
	bnez a3, 5b
	addi a5, a5, 1
	li a6, 10
	blt a5, a6, 5b
	ld a4, 0(s0)
	CHECK_EQ(a4, 10)
	/* sc with rd == rs2 */
	TEST(32)
	lr.w a0, (s0)
	li a2, 77
	sc.w a2, a2, (s0)
	CHECK_EQ(a2, 0)
	lw a4, 0(s0)
	CHECK_EQ(a4, 77)
	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 6
amodata:
	.zero 128
