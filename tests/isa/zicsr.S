/* zicsr.S - Zicsr instructions and CSR access rules (unpriv ch. 9,
 * priv 2.1-2.3): read/write/set/clear and immediate forms, rs1=x0 and
 * uimm=0 do not write, rd=x0 does not read, read-only and privileged CSRs
 * trap with the instruction bits in mtval. */
#include "test.h"

RVTEST_CODE_BEGIN
	TEST(1)
	li a0, 0x1234
	csrw mscratch, a0
	li a1, 0x5678
	csrrw a2, mscratch, a1
	CHECK_EQ(a2, 0x1234)
	csrr a3, mscratch
	CHECK_EQ(a3, 0x5678)
	TEST(2)
	li a1, 0x0f00
	csrrs a2, mscratch, a1
	CHECK_EQ(a2, 0x5678)
	csrr a3, mscratch
	CHECK_EQ(a3, 0x5f78)
	TEST(3)
	li a1, 0x0078
	csrrc a2, mscratch, a1
	CHECK_EQ(a2, 0x5f78)
	csrr a3, mscratch
	CHECK_EQ(a3, 0x5f00)
	TEST(4)
	csrrwi a2, mscratch, 31
	CHECK_EQ(a2, 0x5f00)
	csrr a3, mscratch
	CHECK_EQ(a3, 31)
	TEST(5)
	csrrci a2, mscratch, 0x11
	CHECK_EQ(a2, 31)
	csrrsi a3, mscratch, 0x20 & 31
	CHECK_EQ(a3, 14)
	TEST(6)
	li a0, -1
	csrw mscratch, a0
	csrr a1, mscratch
	CHECK_EQ(a1, -1)
	csrrwi x0, mscratch, 5
	csrr a1, mscratch
	CHECK_EQ(a1, 5)
	TEST(7)                     /* sscratch is independent */
	li a0, 99
	csrw sscratch, a0
	csrr a1, sscratch
	CHECK_EQ(a1, 99)
	csrr a1, mscratch
	CHECK_EQ(a1, 5)
	la t0, trap_save           /* the trap handlers own the scratches */
	csrw sscratch, t0
	csrw mscratch, t0

	/* read-only CSRs: reads with rs1=x0 / uimm=0 are fine */
	TEST(8)
	CLEAR_TRAPS
	csrr a0, mhartid
	CHECK_EQ(a0, 0)
	csrrs a0, mvendorid, x0
	csrrsi a0, marchid, 0
	csrrci a0, mimpid, 0
	CHECK_MCOUNT(0)
	TEST(9)                     /* any write to a read-only CSR traps */
	EXPECT_TRAP_SKIP
1:	csrw mhartid, zero
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	CHECK_MEPC(1b)
	lw t4, 1b
	slli t4, t4, 32
	srli t4, t4, 32
	CHECK_MTVAL_REG(t4)
	/* test 10 (csrrs with rs1 != x0 holding 0 on a read-only CSR) lives
	 * in zicsr_strict.S: QEMU 7.2 does not trap there. */
	TEST(11)
	EXPECT_TRAP_SKIP
	csrrsi a0, mvendorid, 1
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	TEST(12)
	EXPECT_TRAP_SKIP
	csrw cycle, zero
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	TEST(13)                    /* unimplemented CSR */
	CLEAR_TRAPS
	EXPECT_TRAP_SKIP
	csrr a0, 0x7ff
	CHECK_MCAUSE(CAUSE_ILLEGAL)

	/* misa: RV64 with I M A F D C S U */
	TEST(14)
	csrr a0, misa
	srli a1, a0, 62
	CHECK_EQ(a1, 2)
	li t0, (1 << 8) | (1 << 12) | (1 << 0) | (1 << 5) | (1 << 3) | (1 << 2) | (1 << 18) | (1 << 20)
	and a1, a0, t0
	CHECK_REG(a1, t0)

	/* test 15 (mepc/sepc bit 0 reads as zero) is in zicsr_strict.S:
	 * QEMU 7.2 keeps the bit and only masks it on xRET. */

	/* privilege checks: S cannot touch M CSRs, U cannot touch S CSRs;
	 * the instruction bits are reported in mtval */
	TEST(16)
	CLEAR_TRAPS
	EXPECT_TRAP(2f)
	GOTO_S(3f)
3:	csrr a0, mscratch
	j fail
2:	CHECK_MCAUSE(CAUSE_ILLEGAL)
	CHECK_MEPC(3b)
	lwu t4, 3b
	CHECK_MTVAL_REG(t4)
	LOAD_SAVE(t5, M_STATUS)
	srli t5, t5, 11
	andi t5, t5, 3
	CHECK_EQ(t5, PRV_S)
	TEST(17)
	EXPECT_TRAP(4f)
	GOTO_U(5f)
5:	csrw sscratch, zero
	j fail
4:	CHECK_MCAUSE(CAUSE_ILLEGAL)
	CHECK_MEPC(5b)
	LOAD_SAVE(t5, M_STATUS)
	srli t5, t5, 11
	andi t5, t5, 3
	CHECK_EQ(t5, PRV_U)
	TEST(18)                    /* S can use S CSRs */
	EXPECT_TRAP(6f)
	GOTO_S(7f)
7:	li a0, 0xabc
	csrw sscratch, a0
	csrr a1, sscratch
	ecall
6:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_EQ(a1, 0xabc)
	la t0, trap_save
	csrw sscratch, t0
	TEST(19)                    /* fcsr from U is fine when FS != Off */
	EXPECT_TRAP(8f)
	GOTO_U(9f)
9:	csrwi frm, 2
	csrr a1, frm
	ecall
8:	CHECK_MCAUSE(CAUSE_ECALL_U)
	CHECK_EQ(a1, 2)
	csrwi fcsr, 0
	RVTEST_PASS
RVTEST_CODE_END
