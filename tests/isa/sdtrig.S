/* sdtrig.S - debug triggers (Sdtrig, RISC-V Debug Specification 1.0,
 * ch. 5): tselect/tdata1-3/tinfo as CSRs (WARL behaviour), mcontrol6
 * (type 6) execute, load and store address triggers with action 0 (a
 * breakpoint exception before the access: mepc = the instruction, mtval =
 * the address), in U-mode and in M-mode (where they fire only while
 * mstatus.MIE is 1), at the start and in the middle of a block. */
#include "test.h"

#define CSR_TSELECT 0x7a0
#define CSR_TDATA1  0x7a1
#define CSR_TDATA2  0x7a2
#define CSR_TDATA3  0x7a3
#define CSR_TINFO   0x7a4

#define MC6         (6 << 60)
#define MC6_HIT0    (1 << 22)
#define MC6_GE      (2 << 7)        /* match: address >= tdata2 */
#define MC6_M       (1 << 6)
#define MC6_U       (1 << 3)
#define MC6_EXEC    (1 << 2)
#define MC6_STORE   (1 << 1)
#define MC6_LOAD    (1 << 0)

/* Arm trigger `n` with tdata1 = t1 (an immediate) and tdata2 = reg. */
#define ARM(n, t1, reg) \
	li t0, n; csrw CSR_TSELECT, t0; csrw CSR_TDATA2, reg; \
	li t0, t1; csrw CSR_TDATA1, t0
#define DISARM(n) li t0, n; csrw CSR_TSELECT, t0; csrw CSR_TDATA1, zero

RVTEST_CODE_BEGIN
	csrw mie, zero
	/* ---- the registers ------------------------------------------ */
	TEST(1)
	csrw CSR_TSELECT, zero
	csrr a0, CSR_TSELECT
	CHECK_EQ(a0, 0)
	csrr a0, CSR_TINFO              /* type 6 (mcontrol6) supported */
	andi a0, a0, 0x40
	CHECK_EQ(a0, 0x40)
	TEST(2)                         /* an index past the last: kept */
	li t0, 1000
	csrw CSR_TSELECT, t0
	csrr a0, CSR_TSELECT
	CHECK_EQ(a0, 0)
	li t0, 1
	csrw CSR_TSELECT, t0
	csrr a0, CSR_TSELECT
	CHECK_EQ(a0, 1)
	TEST(3)                         /* an mcontrol6 reads back */
	la a1, data
	ARM(1, MC6 | MC6_U | MC6_LOAD, a1)
	csrr a0, CSR_TDATA1
	li t0, MC6 | MC6_U | MC6_LOAD
	CHECK_REG(a0, t0)
	csrr a0, CSR_TDATA2
	CHECK_REG(a0, a1)
	csrr a0, CSR_TDATA3             /* textra: not implemented */
	CHECK_EQ(a0, 0)
	DISARM(1)                       /* type 0: disabled (type 15) */
	csrr a0, CSR_TDATA1
	srli a0, a0, 60
	CHECK_EQ(a0, 15)

	/* ---- execute: before the instruction, in U-mode ------------- */
	TEST(4)
	la a1, 2f
	ARM(0, MC6 | MC6_U | MC6_EXEC, a1)
	CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_U(2f)
2:	nop
	j fail
1:	CHECK_MCAUSE(CAUSE_BREAKPOINT)
	CHECK_MEPC(2b)
	la t4, 2b
	CHECK_MTVAL_REG(t4)
	csrr a0, CSR_TDATA1             /* hit0 set */
	li t0, MC6_HIT0
	and a0, a0, t0
	CHECK_REG(a0, t0)
	TEST(5)                         /* in the middle of a block */
	la a1, 2f
	ARM(0, MC6 | MC6_U | MC6_EXEC, a1)
	li a0, 0
	CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_U(3f)
3:	addi a0, a0, 5
	addi a0, a0, 1
2:	addi a0, a0, 100
	j fail
1:	CHECK_MCAUSE(CAUSE_BREAKPOINT)
	CHECK_MEPC(2b)
	CHECK_EQ(a0, 6)                 /* the two before retired, not it */
	DISARM(0)
	TEST(6)                         /* disarmed: runs through */
	CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_U(2f)
2:	nop
	ecall                           /* back to M */
	j fail
1:	CHECK_MCAUSE(CAUSE_ECALL_U)

	/* ---- load and store: before the access, mtval = address ------ */
	TEST(7)
	la a2, data
	ARM(1, MC6 | MC6_U | MC6_LOAD, a2)
	li a1, 0
	CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_U(3f)
3:	ld a1, 8(a2)                    /* another address: no match */
	sd a1, 0(a2)                    /* a store: no match */
2:	ld a1, 0(a2)
	j fail
1:	CHECK_MCAUSE(CAUSE_BREAKPOINT)
	CHECK_MEPC(2b)
	CHECK_MTVAL_REG(a2)
	CHECK_EQ(a1, 0x22)              /* from data + 8 */
	DISARM(1)
	TEST(8)
	la a2, data
	ARM(2, MC6 | MC6_U | MC6_STORE, a2)
	li a1, 0x77
	CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_U(3f)
3:	ld a3, 0(a2)                    /* a load: no match */
2:	sw a1, 0(a2)
	j fail
1:	CHECK_MCAUSE(CAUSE_BREAKPOINT)
	CHECK_MEPC(2b)
	CHECK_MTVAL_REG(a2)
	DISARM(2)
	ld a3, 0(a2)                    /* the store did not happen */
	CHECK_EQ(a3, 0x22)
	TEST(9)                         /* AMOs are loads and stores */
	la a2, data
	ARM(3, MC6 | MC6_U | MC6_STORE, a2)
	CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_U(2f)
2:	amoadd.d a3, a1, (a2)
	j fail
1:	CHECK_MCAUSE(CAUSE_BREAKPOINT)
	CHECK_MEPC(2b)
	DISARM(3)

	/* ---- M-mode: only while mstatus.MIE is 1 --------------------- */
	TEST(10)
	la a2, data
	addi a4, a2, 16
	ARM(0, MC6 | MC6_M | MC6_LOAD | MC6_GE, a2)
	ld a3, 0(a4)                    /* MIE = 0: no breakpoint */
	CLEAR_TRAPS; EXPECT_TRAP(1f)
	csrsi mstatus, MSTATUS_MIE
2:	ld a3, 0(a4)                    /* >= data */
	j fail
1:	DISARM(0)
	csrci mstatus, MSTATUS_MIE
	CHECK_MCAUSE(CAUSE_BREAKPOINT)
	CHECK_MEPC(2b)
	CHECK_MTVAL_REG(a4)

	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 4
data:	.dword 0x22, 0x22, 0x33, 0x44
