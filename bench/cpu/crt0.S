/*
 * crt0.S - start-up of the CPU benchmark guest (bench/cpu).
 *
 * Entered in M-mode at 0x80000000 with a0 = hartid.  Hart 0 clears .bss,
 * sets up a stack and FP state and calls main(); other harts park in WFI.
 * main()'s return value goes to HTIF tohost: 0 becomes 1 (pass), N becomes
 * (N << 1) | 1 (fail with exit status N); then the hart waits in WFI for
 * the host to end the run (a spin there would count in profiles).
 */
	.section .text.init, "ax", @progbits
	.option norvc
	.globl _start
_start:
	bnez	a0, park
	la	sp, __stack_top
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:	li	t0, 0x2000		/* mstatus.FS = Initial */
	csrs	mstatus, t0
	csrwi	fcsr, 0
	call	main
	slli	a0, a0, 1
	ori	a0, a0, 1
	fence
	la	t0, tohost
3:	sd	a0, 0(t0)
	wfi			/* until the host sees it: no spinning to profile */
	j	3b
park:
	wfi
	j	park

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
fromhost:
	.dword	0
