/*
 * Start-up and trap handling of the cpudiff program (M-mode, bare metal).
 * _start enables the FPU (mstatus.FS = Initial), zeroes .bss, runs
 * cpudiff_main and reports its return value through HTIF tohost:
 * 0 -> 1 (pass), n -> (n << 1) | 1 (fail).
 *
 * Traps: when cpudiff_trap_armed is set (an op that may be illegal), the
 * handler stores mcause in cpudiff_trap_cause, disarms and resumes after
 * the 4-byte instruction. Any other trap goes to cpudiff_unexpected_trap
 * (support.c), which prints it and fails the run.
 */
#define MSTATUS_FS_INITIAL 0x2000

	.section .text.init, "ax", @progbits
	.globl _start
_start:
	.option push
	.option norvc
	la	t0, trap_entry
	csrw	mtvec, t0
	li	t0, MSTATUS_FS_INITIAL
	csrs	mstatus, t0
	csrwi	fflags, 0
	csrwi	frm, 0
	la	sp, stack_top
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:	call	cpudiff_main
	slli	a0, a0, 1
	ori	a0, a0, 1
	la	t0, tohost
3:	sd	a0, 0(t0)
	j	3b

	.align	4
trap_entry:
	csrw	mscratch, t0
	la	t0, trap_save
	sd	t1, 0(t0)
	la	t0, cpudiff_trap_armed
	ld	t1, 0(t0)
	beqz	t1, unexpected
	sd	zero, 0(t0)
	csrr	t1, mcause
	la	t0, cpudiff_trap_cause
	sd	t1, 0(t0)
	csrr	t1, mepc
	addi	t1, t1, 4
	csrw	mepc, t1
	la	t0, trap_save
	ld	t1, 0(t0)
	csrr	t0, mscratch
	mret
unexpected:
	la	sp, stack_top
	csrr	a0, mcause
	csrr	a1, mepc
	csrr	a2, mtval
	call	cpudiff_unexpected_trap
4:	j	4b
	.option pop

	.section .tohost, "aw", @progbits
	.align	6
	.globl	tohost
	.type	tohost, @object
	.size	tohost, 8
tohost:	.dword	0
	.align	6
	.globl	fromhost
	.type	fromhost, @object
	.size	fromhost, 8
fromhost: .dword 0

	.data
	.align	3
	.globl	cpudiff_trap_armed
cpudiff_trap_armed: .dword 0
	.globl	cpudiff_trap_cause
cpudiff_trap_cause: .dword 0
trap_save: .dword 0

	.bss
	.align	4
stack:	.space	65536
stack_top:
