/* interrupts_prio.S - interrupt priority and Sstc.  Softvisor-only:
 * QEMU 7.2 takes the lowest-numbered pending interrupt first, and its
 * spike board has no time CSR, so no Sstc.
 * 1. Several M-level interrupts pending at once are taken in the order
 *    MSI > MTI > SEI > SSI > STI (priv 3.1.9; MEI > MSI needs a PLIC
 *    and is not raised here).
 * 2. Delegated ones taken in S follow the same order (SEI > SSI > STI),
 *    and a pending M-level interrupt wins over pending S-level ones.
 * 3. Sstc (menvcfg.STCE = 1): stimecmp drives mip.STIP, which becomes
 *    read-only in mip; STI delivered to S when delegated; stimecmp is
 *    illegal in S when STCE = 0 or mcounteren.TM = 0. */
#include "test.h"
#include "irq.h"

RVTEST_CODE_BEGIN
	TIMER_OFF
	li t0, 1 << 63
	csrc menvcfg, t0
	csrw mip, zero
	li t0, MSIP_ADDR
	sw zero, 0(t0)

	TEST(1)
	USE_IRQ_HANDLER
	li t0, MSIP_ADDR
	li t1, 1
	sw t1, 0(t0)
	li t0, MTIMECMP_ADDR
	sd zero, 0(t0)
	li t0, (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI)
	csrs mip, t0
	li t0, (1 << IRQ_MSI) | (1 << IRQ_MTI) | (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI)
	csrw mie, t0
	MIE_ON
	nop
	MIE_OFF
	CHECK_LOG(0, 5)
	CHECK_LOG(1, IRQ_MSI)
	CHECK_LOG(2, IRQ_MTI)
	CHECK_LOG(3, IRQ_SEI)
	CHECK_LOG(4, IRQ_SSI)
	CHECK_LOG(5, IRQ_STI)
	li t0, MSIP_ADDR
	sw zero, 0(t0)
	TIMER_OFF
	csrw mip, zero
	csrw mie, zero

	TEST(2)                              /* delegated, taken in S */
	USE_IRQ_HANDLER
	USE_IRQ_HANDLER_S
	li t0, (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI)
	csrw mideleg, t0
	csrs mip, t0
	csrw mie, t0
	li t0, MSIP_ADDR                     /* plus one M-level */
	li t1, 1
	sw t1, 0(t0)
	li t0, 1 << IRQ_MSI
	csrs mie, t0
	CLEAR_TRAPS
	EXPECT_TRAP(1f)
	GOTO_S(2f)
2:	csrsi sstatus, MSTATUS_SIE
	nop
	csrci sstatus, MSTATUS_SIE
	ecall
	j fail
1:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_LOG(0, 4)
	CHECK_LOG(1, IRQ_MSI)                /* M-level first, even in S */
	CHECK_LOG(2, 0x200 | IRQ_SEI)
	CHECK_LOG(3, 0x200 | IRQ_SSI)
	CHECK_LOG(4, 0x200 | IRQ_STI)
	li t0, MSIP_ADDR
	sw zero, 0(t0)
	csrw mip, zero
	csrw mie, zero
	csrw mideleg, zero

	/* ---- Sstc ---- */
	TEST(3)
	li t0, 1 << 63
	csrs menvcfg, t0
	li t0, -1
	csrw stimecmp, t0
	csrr a0, stimecmp
	CHECK_EQ(a0, -1)
	csrr a0, mip
	andi a0, a0, 1 << IRQ_STI
	CHECK_EQ(a0, 0)
	TEST(4)                              /* STIP read-only in mip */
	li t0, 1 << IRQ_STI
	csrs mip, t0
	csrr a0, mip
	andi a0, a0, 1 << IRQ_STI
	CHECK_EQ(a0, 0)
	TEST(5)                              /* stimecmp <= time sets STIP */
	rdtime t0
	addi t0, t0, 100
	csrw stimecmp, t0
	li t2, 100000000
3:	csrr a0, mip
	andi a0, a0, 1 << IRQ_STI
	bnez a0, 4f
	addi t2, t2, -1
	bnez t2, 3b
	j fail
4:	li t0, -1
	csrw stimecmp, t0
	csrr a0, mip
	andi a0, a0, 1 << IRQ_STI
	CHECK_EQ(a0, 0)
	TEST(6)                              /* delivered to S */
	la t0, irq_log
	sd zero, 0(t0)
	li t0, 1 << IRQ_STI
	csrw mideleg, t0
	csrw mie, t0
	CLEAR_TRAPS
	EXPECT_TRAP(5f)
	GOTO_S(6f)
6:	csrsi sstatus, MSTATUS_SIE
	rdtime t0
	addi t0, t0, 100
	csrw stimecmp, t0
	li t2, 100000000
7:	la t4, irq_log
	ld t5, 0(t4)
	bnez t5, 8f
	addi t2, t2, -1
	bnez t2, 7b
8:	csrci sstatus, MSTATUS_SIE
	li t0, -1
	csrw stimecmp, t0
	ecall
	j fail
5:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_LOG(0, 1)
	CHECK_LOG(1, 0x200 | IRQ_STI)
	CHECK_SCAUSE(CAUSE_INT | IRQ_STI)
	csrw mie, zero
	csrw mideleg, zero
	TEST(7)                              /* STCE = 0: illegal in S */
	li t0, 1 << 63
	csrc menvcfg, t0
	CLEAR_TRAPS
	EXPECT_TRAP(9f)
	GOTO_S(10f)
10:	csrr a0, stimecmp
	j fail
9:	CHECK_MCAUSE(CAUSE_ILLEGAL)
	TEST(8)                              /* TM = 0: illegal in S */
	li t0, 1 << 63
	csrs menvcfg, t0
	csrwi mcounteren, 5
	CLEAR_TRAPS
	EXPECT_TRAP(11f)
	GOTO_S(12f)
12:	csrw stimecmp, zero
	j fail
11:	CHECK_MCAUSE(CAUSE_ILLEGAL)
	csrwi mcounteren, 7
	li t0, 1 << 63
	csrc menvcfg, t0
	USE_TRAP_M
	RVTEST_PASS

	IRQ_HANDLERS
RVTEST_CODE_END

	IRQ_DATA
