/*
 * irq.h - logging interrupt handlers for the interrupt tests (included
 * after test.h).  irq_m (mtvec, direct) and irq_s (stvec, direct) append
 * the interrupt number to irq_log (irq_log[0] = count; M entries are the
 * plain number, S entries 0x200 | number), mask that interrupt in mie /
 * sie so it is taken once, and return.  Exceptions reaching irq_m go to
 * the common trap_m; exceptions reaching irq_s to trap_s.
 */
#ifndef SOFTVISOR_ISA_IRQ_H
#define SOFTVISOR_ISA_IRQ_H

/* clang-format off */

#define MSIP_ADDR (CLINT_BASE + CLINT_MSIP)
#define MTIMECMP_ADDR (CLINT_BASE + CLINT_MTIMECMP)
#define MTIME_ADDR (CLINT_BASE + CLINT_MTIME)

#define USE_IRQ_HANDLER la t0, irq_m; csrw mtvec, t0; \
	la t0, irq_log; sd zero, 0(t0)
#define USE_IRQ_HANDLER_S la t0, irq_s; csrw stvec, t0
#define USE_TRAP_M la t0, trap_m; csrw mtvec, t0
#define CHECK_LOG(i, v) la t4, irq_log; ld t5, (i) * 8(t4); CHECK_EQ(t5, v)
#define MIE_ON li t0, MSTATUS_MIE; csrs mstatus, t0
#define MIE_OFF li t0, MSTATUS_MIE; csrc mstatus, t0
#define TIMER_OFF li t0, MTIMECMP_ADDR; li t1, -1; sd t1, 0(t0)

.macro IRQ_HANDLERS
	.align 2
irq_m:
	csrrw t0, mscratch, t0
	sd t1, SV_T1(t0)
	sd t2, SV_T2(t0)
	csrr t1, mcause
	bgez t1, 1f
	csrr t1, mepc
	sd t1, M_EPC(t0)
	csrr t1, mcause
	slli t1, t1, 1
	srli t1, t1, 1
	li t2, 1
	sll t2, t2, t1
	csrc mie, t2
	la t2, irq_log
	ld t1, 0(t2)
	addi t1, t1, 1
	sd t1, 0(t2)
	slli t1, t1, 3
	add t2, t2, t1
	csrr t1, mcause
	slli t1, t1, 1
	srli t1, t1, 1
	sd t1, 0(t2)
	ld t1, SV_T1(t0)
	ld t2, SV_T2(t0)
	csrrw t0, mscratch, t0
	mret
1:	ld t1, SV_T1(t0)
	ld t2, SV_T2(t0)
	csrrw t0, mscratch, t0
	j trap_m

	.align 2
irq_s:
	csrrw t0, sscratch, t0
	sd t1, SV_ST1(t0)
	sd t2, SV_ST2(t0)
	csrr t1, scause
	bgez t1, 2f
	sd t1, S_CAUSE(t0)
	slli t1, t1, 1
	srli t1, t1, 1
	li t2, 1
	sll t2, t2, t1
	csrc sie, t2
	la t2, irq_log
	ld t1, 0(t2)
	addi t1, t1, 1
	sd t1, 0(t2)
	slli t1, t1, 3
	add t2, t2, t1
	csrr t1, scause
	slli t1, t1, 1
	srli t1, t1, 1
	ori t1, t1, 0x200
	sd t1, 0(t2)
	ld t1, SV_ST1(t0)
	ld t2, SV_ST2(t0)
	csrrw t0, sscratch, t0
	sret
2:	ld t1, SV_ST1(t0)
	ld t2, SV_ST2(t0)
	csrrw t0, sscratch, t0
	j trap_s
.endm

.macro IRQ_DATA
	.data
	.align 4
irq_log:
	.zero 128
.endm

/* clang-format on */

#endif /* SOFTVISOR_ISA_IRQ_H */
