/* rv64m.S - M extension: multiply/divide incl. /0 and overflow, W forms. */
#include "test.h"

#define MIN64 0x8000000000000000
#define MIN32 0xffffffff80000000

RVTEST_CODE_BEGIN
	TEST_RR_OP(1, mul, 6, 2, 3)
	TEST_RR_OP(2, mul, -6, -2, 3)
	TEST_RR_OP(3, mul, 0x0000000000000001, -1, -1)
	TEST_RR_OP(4, mul, MIN64, MIN64, -1)
	TEST_RR_OP(5, mulh, -1, -1, 1)
	TEST_RR_OP(6, mulh, 0, -1, -1)
	TEST_RR_OP(7, mulh, 0x4000000000000000, MIN64, MIN64)
	TEST_RR_OP(8, mulhu, 0xfffffffffffffffe, -1, -1)
	TEST_RR_OP(9, mulhu, 0, 0x7fffffffffffffff, 1)
	TEST_RR_OP(10, mulhsu, -1, -1, 1)
	TEST_RR_OP(11, mulhsu, -1, -1, -1)     /* -1 * (2^64-1) */
	TEST_RR_OP(12, mulhsu, 0x7ffffffffffffffe, 0x7fffffffffffffff, -1)
	TEST_RR_OP(13, mulw, 0xffffffff80000000, 0x40000000, 2)
	TEST_RR_OP(14, mulw, 1, 0xffffffffffffffff, 0xffffffff)
	TEST_RR_OP(15, mulw, 0x00000000, 0x100000000, 5)

	TEST_RR_OP(16, div, -3, 20, -6)
	TEST_RR_OP(17, div, 3, -20, -6)
	TEST_RR_OP(18, div, -1, 7, 0)           /* divide by zero */
	TEST_RR_OP(19, div, MIN64, MIN64, -1)   /* overflow */
	TEST_RR_OP(20, divu, 0x2aaaaaaaaaaaaaaa, -1, 6)
	TEST_RR_OP(21, divu, -1, 7, 0)
	TEST_RR_OP(22, rem, 2, 20, -6)
	TEST_RR_OP(23, rem, -2, -20, 6)
	TEST_RR_OP(24, rem, 7, 7, 0)
	TEST_RR_OP(25, rem, 0, MIN64, -1)
	TEST_RR_OP(26, remu, 3, -1, 6)
	TEST_RR_OP(27, remu, -7, -7, 0)

	TEST_RR_OP(28, divw, -3, 20, -6)
	TEST_RR_OP(29, divw, -1, 7, 0)
	TEST_RR_OP(30, divw, MIN32, 0x80000000, -1)
	TEST_RR_OP(31, divw, 1, 0x100000005, 5)      /* upper bits ignored */
	TEST_RR_OP(32, divuw, 0x7fffffff, 0xffffffff, 2)
	TEST_RR_OP(33, divuw, -1, 5, 0x100000000)    /* /0 in 32 bits */
	TEST_RR_OP(34, divuw, 0xffffffff80000000, 0x80000000, 1)
	TEST_RR_OP(35, remw, 2, 20, -6)
	TEST_RR_OP(36, remw, 0, 0x80000000, -1)
	TEST_RR_OP(37, remw, 0xffffffff80000000, 0x80000000, 0)
	TEST_RR_OP(38, remuw, 1, 0xffffffff, 2)
	TEST_RR_OP(39, remuw, 0xffffffff80000001, 0x180000001, 0)
	TEST_RR_SRC1_EQ_DEST(40, mul, 143, 13, 11)
	/* rd = x0 discards */
	TEST(41)
	li a1, 5
	div x0, a1, a1
	CHECK_EQ(x0, 0)
	RVTEST_PASS
RVTEST_CODE_END
