/* zicsr_strict.S - CSR rules QEMU 7.2 does not follow (softvisor-only):
 * 1. CSRRS/CSRRC with rs1 != x0 always write (Zicsr table "Conditions
 *    determining whether a CSR instruction reads or writes"), so on a
 *    read-only CSR they raise illegal instruction even when rs1 holds
 *    zero; QEMU 7.2 checks the mask value instead.
 * 2. mepc[0] and sepc[0] are always zero (priv 3.1.14, IALIGN=16);
 *    QEMU 7.2 keeps the bit and masks it only on xRET. */
#include "test.h"

RVTEST_CODE_BEGIN
	TEST(1)
	CLEAR_TRAPS
	li a1, 0
	EXPECT_TRAP_SKIP
1:	csrrs a0, mhartid, a1
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	CHECK_MEPC(1b)
	TEST(2)
	EXPECT_TRAP_SKIP
	csrrc a0, mvendorid, a1
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	CHECK_MCOUNT(2)
	TEST(3)                     /* x0 forms stay pure reads */
	csrrs a0, mhartid, x0
	csrrc a0, mhartid, x0
	csrrsi a0, mhartid, 0
	csrrci a0, mhartid, 0
	CHECK_MCOUNT(2)
	TEST(4)
	li a0, 0x80001003
	csrw mepc, a0
	csrr a1, mepc
	CHECK_EQ(a1, 0x80001002)
	TEST(5)
	csrw sepc, a0
	csrr a1, sepc
	CHECK_EQ(a1, 0x80001002)
	RVTEST_PASS
RVTEST_CODE_END
