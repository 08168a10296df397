/* interrupts.S - interrupts (priv 3.1.9, 3.3.3, 4.1.3): MTI from the CLINT
 * mtimecmp, MSI from msip, SSI/STI/SEI raised through mip, the priority
 * order when several are pending (MEI > MSI > MTI > SEI > SSI > STI; MEI
 * needs a PLIC and is not raised here), vectored mtvec and stvec, WFI
 * waking on a pending-but-disabled interrupt without trapping, delegation
 * through mideleg, global enables per privilege. */
#include "test.h"
#include "irq.h"


RVTEST_CODE_BEGIN
	TIMER_OFF
	li t0, 1 << 63
	csrc menvcfg, t0                    /* STCE = 0: STIP via mip */
	csrw mip, zero
	li t0, MSIP_ADDR
	sw zero, 0(t0)

	/* ---- MSI through msip ---- */
	TEST(1)
	USE_IRQ_HANDLER
	li t0, 1 << IRQ_MSI
	csrs mie, t0
	li t0, MSIP_ADDR
	li t1, 1
	sw t1, 0(t0)
	csrr a0, mip                        /* MSIP visible (no trap: MIE=0) */
	andi a0, a0, 1 << IRQ_MSI
	CHECK_EQ(a0, 1 << IRQ_MSI)
	MIE_ON
	nop
	nop
	MIE_OFF
	CHECK_LOG(0, 1)
	CHECK_LOG(1, IRQ_MSI)
	li t0, MSIP_ADDR
	sw zero, 0(t0)
	csrr a0, mip
	andi a0, a0, 1 << IRQ_MSI
	CHECK_EQ(a0, 0)

	/* ---- MTI from mtimecmp ---- */
	TEST(2)
	USE_IRQ_HANDLER
	li t0, 1 << IRQ_MTI
	csrs mie, t0
	MIE_ON
	li t0, MTIME_ADDR
	ld t1, 0(t0)
	addi t1, t1, 100
	li t0, MTIMECMP_ADDR
	sd t1, 0(t0)
	li t2, 100000000
1:	la t4, irq_log
	ld t5, 0(t4)
	bnez t5, 2f
	addi t2, t2, -1
	bnez t2, 1b
2:	MIE_OFF
	CHECK_LOG(0, 1)
	CHECK_LOG(1, IRQ_MTI)
	TEST(3)                             /* mepc is the interrupted pc */
	LOAD_SAVE(t5, M_EPC)
	la t4, 1b
	bltu t5, t4, 3f
	la t4, 2b
	bgtu t5, t4, 3f
	j 4f
3:	j fail
4:	TIMER_OFF
	csrr a0, mip
	andi a0, a0, 1 << IRQ_MTI
	CHECK_EQ(a0, 0)

	/* check 4 (priority order) is in interrupts_prio.S: QEMU 7.2 takes
	 * the lowest-numbered pending interrupt first. */

	/* ---- WFI wakes on a pending interrupt even with MIE = 0 ---- */
	TEST(5)
	USE_IRQ_HANDLER
	li t0, 1 << IRQ_MTI
	csrw mie, t0
	li t0, MTIME_ADDR
	ld t1, 0(t0)
	addi t1, t1, 1000
	li t0, MTIMECMP_ADDR
	sd t1, 0(t0)
	li t2, 100000
5:	wfi
	csrr a0, mip
	andi a0, a0, 1 << IRQ_MTI
	bnez a0, 6f
	addi t2, t2, -1                     /* spurious wake-ups are legal */
	bnez t2, 5b
	j fail
6:	CHECK_LOG(0, 0)                     /* and it did not trap */
	TIMER_OFF
	csrw mie, zero
	TEST(6)                             /* wfi in M with SSIP pending */
	li t0, 1 << IRQ_SSI
	csrs mie, t0
	csrs mip, t0
	wfi
	CHECK_LOG(0, 0)
	csrw mip, zero
	csrw mie, zero

	/* ---- vectored mtvec ---- */
	TEST(7)
	la t0, irq_log
	sd zero, 0(t0)
	la t0, mvec_table
	ori t0, t0, 1
	csrw mtvec, t0
	csrr a0, mtvec
	CHECK_REG(a0, t0)
	li t0, 1 << IRQ_SSI
	csrw mie, t0
	csrs mip, t0
	MIE_ON
	nop
	MIE_OFF
	CHECK_LOG(0, 1)
	CHECK_LOG(1, 0x100 | IRQ_SSI)       /* came through vector slot 1 */
	li t0, 1 << IRQ_MTI
	csrw mie, t0
	li t0, MTIMECMP_ADDR
	sd zero, 0(t0)
	MIE_ON
	nop
	MIE_OFF
	CHECK_LOG(0, 2)
	CHECK_LOG(2, 0x100 | IRQ_MTI)
	TIMER_OFF
	TEST(8)                             /* exceptions use the base */
	CLEAR_TRAPS
	EXPECT_TRAP_SKIP
	ecall
	CHECK_MCAUSE(CAUSE_ECALL_M)
	csrw mip, zero
	csrw mie, zero
	USE_TRAP_M

	/* ---- M interrupts preempt S regardless of mstatus.MIE ---- */
	TEST(9)
	CLEAR_TRAPS
	li t0, 1 << IRQ_SSI
	csrw mie, t0
	csrs mip, t0                        /* SSI, not delegated */
	EXPECT_TRAP(7f)
	GOTO_S(8f)                          /* mret: MIE = MPIE = 0 */
8:	nop
	j fail
7:	CHECK_MCAUSE(CAUSE_INT | IRQ_SSI)
	CHECK_MEPC(8b)
	csrw mip, zero

	/* ---- delegation to S, vectored stvec ---- */
	TEST(10)
	la t0, svec_table
	ori t0, t0, 1
	csrw stvec, t0
	li t0, (1 << IRQ_SSI) | (1 << IRQ_STI)
	csrw mideleg, t0
	csrw mie, t0
	la t0, irq_log
	sd zero, 0(t0)
	csrsi mip, 1 << IRQ_SSI            /* SSIP: not taken in M */
	MIE_ON
	nop
	MIE_OFF
	CHECK_LOG(0, 0)
	TEST(11)                            /* in S with SIE = 0: not taken */
	CLEAR_TRAPS
	EXPECT_TRAP(9f)
	GOTO_S(10f)
10:	nop
	ecall
9:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_LOG(0, 0)
	TEST(12)                            /* SIE = 1: taken in S, slot 1 */
	CLEAR_TRAPS
	EXPECT_TRAP(11f)
	GOTO_S(12f)
12:	csrsi sstatus, MSTATUS_SIE
	nop
	j fail
11:	CHECK_MCAUSE(CAUSE_ECALL_S)         /* the S vector ecalls to M */
	CHECK_LOG(0, 1)
	CHECK_LOG(1, 0x200 | IRQ_SSI)
	csrw mip, zero
	TEST(13)                            /* in U: S interrupts always on */
	CLEAR_TRAPS
	li t0, MSTATUS_SIE
	csrc mstatus, t0
	li t0, 1 << IRQ_STI
	csrs mip, t0
	EXPECT_TRAP(13f)
	GOTO_U(14f)
14:	nop
	j fail
13:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_LOG(0, 2)
	CHECK_LOG(2, 0x200 | IRQ_STI)
	LOAD_SAVE(t5, S_EPC)
	la t4, 14b
	CHECK_REG(t5, t4)
	LOAD_SAVE(t5, S_CAUSE)
	li t4, CAUSE_INT | IRQ_STI
	CHECK_REG(t5, t4)
	csrw mip, zero
	csrw mie, zero
	csrw mideleg, zero
	RVTEST_PASS

	IRQ_HANDLERS

	/* vectored M table: slot n logs 0x100|n */
	.align 8
mvec_table:
	j trap_m
	.irp n, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
	j mvec_\n
	.endr
	.irp n, 1, 3, 5, 7, 9, 11
mvec_\n:
	csrrw t0, mscratch, t0
	sd t1, SV_T1(t0)
	sd t2, SV_T2(t0)
	li t1, 0x100 | \n
	j vec_common_m
	.endr
	.irp n, 2, 4, 6, 8, 10
mvec_\n:
	j fail
	.endr
vec_common_m:
	sd t3, SV_T3(t0)
	la t2, irq_log
	ld t3, 0(t2)
	addi t3, t3, 1
	sd t3, 0(t2)
	slli t3, t3, 3
	add t2, t2, t3
	sd t1, 0(t2)
	andi t1, t1, 0xff
	li t2, 1
	sll t2, t2, t1
	csrc mie, t2
	ld t1, SV_T1(t0)
	ld t2, SV_T2(t0)
	ld t3, SV_T3(t0)
	csrrw t0, mscratch, t0
	mret

	/* vectored S table: slot n logs 0x200|n, then ecalls to M (the M
	 * resume armed by the test takes over) */
	.align 8
svec_table:
	j trap_s
	.irp n, 1, 2, 3, 4, 5, 6, 7, 8, 9
	j svec_\n
	.endr
	.irp n, 1, 5, 9
svec_\n:
	li t1, 0x200 | \n
	j vec_common_s
	.endr
	.irp n, 2, 3, 4, 6, 7, 8
svec_\n:
	j fail
	.endr
vec_common_s:
	la t2, irq_log
	ld t0, 0(t2)
	addi t0, t0, 1
	sd t0, 0(t2)
	slli t0, t0, 3
	add t2, t2, t0
	sd t1, 0(t2)
	csrr t1, scause
	la t2, trap_save
	sd t1, S_CAUSE(t2)
	csrr t1, sepc
	sd t1, S_EPC(t2)
	ecall
RVTEST_CODE_END

	IRQ_DATA
