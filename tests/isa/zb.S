/* zb.S - Zba, Zbb and Zbs, every instruction (bitmanip spec 1.0). */
#include "test.h"

RVTEST_CODE_BEGIN
	/* Zba */
	TEST_RR_OP(1, add.uw, 0x100000000 + 0xffffffff, 0xabcdef00ffffffff, 0x100000000)
	TEST_RR_OP(2, sh1add, 0x23, 0x10, 3)
	TEST_RR_OP(3, sh2add, 0x43, 0x10, 3)
	TEST_RR_OP(4, sh3add, 0x83, 0x10, 3)
	TEST_RR_OP(5, sh1add.uw, 0x2ffffffff, 0xffffffffffffffff, 0x100000001)
	TEST_RR_OP(6, sh2add.uw, 0x400000000, 0x1180000000, 0x200000000)
	TEST_RR_OP(7, sh3add.uw, 8, 0xffffffff00000001, 0)
	TEST_IMM_OP(8, slli.uw, 0x7fffffff80, 0xf0000000ffffffff, 7)
	TEST_IMM_OP(9, slli.uw, 0x8000000000000000, 0x80000001, 63)
	TEST_R_OP(10, zext.w, 0xffffffff, -1)
	TEST_RR_OP(11, sh1add, 0, 0x8000000000000000, 0)   /* wraps */

	/* Zbb logic with negate */
	TEST_RR_OP(12, andn, 0xf000, 0xff00, 0x0f00)
	TEST_RR_OP(13, orn, 0xfffffffffffff0ff, 0x00, 0x0f00)
	TEST_RR_OP(14, xnor, 0xffffffffffff0fff, 0xff00, 0x0f00)
	/* counts */
	TEST_R_OP(15, clz, 64, 0)
	TEST_R_OP(16, clz, 0, -1)
	TEST_R_OP(17, clz, 63, 1)
	TEST_R_OP(18, clzw, 32, 0xffffffff00000000)
	TEST_R_OP(19, clzw, 31, 1)
	TEST_R_OP(20, clzw, 0, 0x80000000)
	TEST_R_OP(21, ctz, 64, 0)
	TEST_R_OP(22, ctz, 63, 0x8000000000000000)
	TEST_R_OP(23, ctzw, 32, 0x100000000)
	TEST_R_OP(24, ctzw, 4, 0x10)
	TEST_R_OP(25, cpop, 64, -1)
	TEST_R_OP(26, cpop, 3, 0x8000000000000011)
	TEST_R_OP(27, cpopw, 32, -1)
	TEST_R_OP(28, cpopw, 1, 0xff00000001)
	/* min/max */
	TEST_RR_OP(29, max, 1, -1, 1)
	TEST_RR_OP(30, maxu, -1, -1, 1)
	TEST_RR_OP(31, min, -1, -1, 1)
	TEST_RR_OP(32, minu, 1, -1, 1)
	TEST_RR_OP(33, min, 0x8000000000000000, 0x8000000000000000, 0x7fffffffffffffff)
	/* extension */
	TEST_R_OP(34, sext.b, 0xffffffffffffff80, 0x1280)
	TEST_R_OP(35, sext.b, 0x7f, 0xffff7f)
	TEST_R_OP(36, sext.h, 0xffffffffffff8000, 0x128000)
	TEST_R_OP(37, sext.h, 0x7fff, 0xf7fff)
	TEST_R_OP(38, zext.h, 0x8000, 0xffffffffffff8000)
	/* rotates */
	TEST_RR_OP(39, rol, 0x0000000000000003, 0x8000000000000001, 1)
	TEST_RR_OP(40, rol, 0xc000000000000000, 0x8000000000000001, 63)
	TEST_RR_OP(41, rol, 0x8000000000000001, 0x8000000000000001, 64)  /* mod 64 */
	TEST_RR_OP(42, ror, 0xc000000000000000, 0x8000000000000001, 1)
	TEST_IMM_OP(43, rori, 0x0000000000000003, 0x8000000000000001, 63)
	TEST_IMM_OP(44, rori, 0x8123456781234567, 0x1234567812345678, 4)
	TEST_RR_OP(45, rolw, 0x0000000000000003, 0x80000001, 1)
	TEST_RR_OP(46, rolw, 0xffffffff80000000, 0x40000000, 1)           /* sext */
	TEST_RR_OP(47, rorw, 0xffffffffc0000000, 0x80000001, 1)
	TEST_RR_OP(48, rorw, 0x0000000012345678, 0xff12345678, 32)       /* mod 32 */
	TEST_IMM_OP(49, roriw, 0xffffffff81234567, 0x12345678, 4)
	TEST_IMM_OP(50, roriw, 0x00000003, 0xffffffff80000001, 31)
	/* orc.b / rev8 */
	TEST_R_OP(51, orc.b, 0xff00ff0000ffff00, 0x0100800000220100)
	TEST_R_OP(52, orc.b, 0, 0)
	TEST_R_OP(53, rev8, 0x0807060504030201, 0x0102030405060708)

	/* Zbs */
	TEST_RR_OP(54, bclr, 0x7fffffffffffffff, -1, 63)
	TEST_RR_OP(55, bclr, 0xfffffffffffffffe, -1, 64)   /* index mod 64 */
	TEST_IMM_OP(56, bclri, 0xfffffffffffffbff, -1, 10)
	TEST_RR_OP(57, bext, 1, 0x8000000000000000, 63)
	TEST_RR_OP(58, bext, 0, 0x8000000000000000, 62)
	TEST_IMM_OP(59, bexti, 1, 0x400, 10)
	TEST_RR_OP(60, binv, 0x8000000000000000, 0, 63)
	TEST_RR_OP(61, binv, 0, 1, 0)
	TEST_IMM_OP(62, binvi, 0x100000001, 1, 32)
	TEST_RR_OP(63, bset, 0x8000000000000001, 1, 63)
	TEST_IMM_OP(64, bseti, 0x80000000, 0, 31)
	TEST_IMM_OP(65, bseti, 1, 1, 0)
	TEST_RR_OP(66, bset, 2, 0, 65)
	RVTEST_PASS
RVTEST_CODE_END
