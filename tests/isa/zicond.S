/* zicond.S - Zicond czero.eqz / czero.nez (Zicond 1.0).  Encoded with
 * .insn because binutils 2.40 does not know Zicond.  Softvisor-only:
 * QEMU 7.2 lacks Zicond (it arrived in QEMU 8.1). */
#include "test.h"

/* czero.eqz rd, rs1, rs2: rd = rs2 == 0 ? 0 : rs1 */
.macro czero.eqz rd, rs1, rs2
	.insn r 0x33, 5, 7, \rd, \rs1, \rs2
.endm
/* czero.nez rd, rs1, rs2: rd = rs2 != 0 ? 0 : rs1 */
.macro czero.nez rd, rs1, rs2
	.insn r 0x33, 7, 7, \rd, \rs1, \rs2
.endm

RVTEST_CODE_BEGIN
	TEST_RR_OP(1, czero.eqz, 0x1234, 0x1234, 1)
	TEST_RR_OP(2, czero.eqz, 0, 0x1234, 0)
	TEST_RR_OP(3, czero.eqz, -1, -1, 0x8000000000000000)
	TEST_RR_OP(4, czero.nez, 0, 0x1234, 1)
	TEST_RR_OP(5, czero.nez, 0x1234, 0x1234, 0)
	TEST_RR_OP(6, czero.nez, 0, -1, 0x8000000000000000)
	TEST(7)                 /* rd == rs1 == rs2 */
	li a0, 5
	czero.eqz a0, a0, a0
	CHECK_EQ(a0, 5)
	li a0, 5
	czero.nez a0, a0, a0
	CHECK_EQ(a0, 0)
	TEST(8)                 /* x0 as condition: always zero / never zero */
	li a1, 9
	czero.eqz a0, a1, x0
	CHECK_EQ(a0, 0)
	czero.nez a0, a1, x0
	CHECK_EQ(a0, 9)
	TEST(9)                 /* branchless select: a0 = cond ? a1 : a2 */
	li a1, 111
	li a2, 222
	li a3, 1
	czero.eqz a4, a1, a3
	czero.nez a5, a2, a3
	or a0, a4, a5
	CHECK_EQ(a0, 111)
	li a3, 0
	czero.eqz a4, a1, a3
	czero.nez a5, a2, a3
	or a0, a4, a5
	CHECK_EQ(a0, 222)
	RVTEST_PASS
RVTEST_CODE_END
