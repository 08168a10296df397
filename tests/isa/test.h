/*
 * test.h - shared runtime and macros for Softvisor's ISA tests.
 *
 * Every test is one bare-metal M-mode program (see docs/isa-tests.md):
 *   #include "test.h"
 *   RVTEST_CODE_BEGIN
 *           TEST_RR_OP(1, add, 3, 1, 2)
 *           ...
 *           RVTEST_PASS
 *   RVTEST_CODE_END
 *
 * Register conventions:
 *   gp (x3)  current test number; a failure exits with it (HTIF code).
 *   t6 (x31) scratch of the check macros; t0/t1 scratch of the trap and
 *            mode-switch macros.  The trap handlers preserve all registers.
 *   mscratch and sscratch point at trap_save and belong to the handlers:
 *   a test that writes them must restore them.
 *
 * Traps: the M-mode handler (trap_m) records mcause/mepc/mtval/mstatus in
 * trap_save and then, if a resume was armed with EXPECT_TRAP(label), returns
 * to `label` in the mode set by EXPECT_TRAP_MODE (default M), with
 * mstatus.MPRV cleared (the handler's own accesses must stay physical).  With
 * EXPECT_TRAP_SKIP it skips the faulting instruction (2 or 4 bytes, read
 * physically) and returns to the same mode; an interrupt then simply
 * returns.  An unarmed trap is a failure with the current test number.
 * The S-mode handler (trap_s, used when a test delegates) records
 * scause/sepc/stval/sstatus; S_RESUME selects: 1 skip, 2 "ecall to M"
 * (so an armed M resume takes over), any other value = resume address
 * in S-mode.
 *
 * HTIF: tohost/fromhost live alone in their page (section .tohost).
 * Pass writes 1; fail writes (gp << 1) | 1.  Console output uses HTIF
 * device 1 (console) command 1 (putchar), with a bounded wait for the
 * host's acknowledgement in fromhost.
 */
#ifndef SOFTVISOR_ISA_TEST_H
#define SOFTVISOR_ISA_TEST_H

/* clang-format off */

#define MSTATUS_SIE	0x2
#define MSTATUS_MIE	0x8
#define MSTATUS_SPIE	0x20
#define MSTATUS_MPIE	0x80
#define MSTATUS_SPP	0x100
#define MSTATUS_MPP	0x1800
#define MSTATUS_MPP_S	0x0800
#define MSTATUS_FS	0x6000
#define MSTATUS_FS_INIT	0x2000
#define MSTATUS_FS_DIRTY 0x6000
#define MSTATUS_MPRV	(1 << 17)
#define MSTATUS_SUM	(1 << 18)
#define MSTATUS_MXR	(1 << 19)
#define MSTATUS_TVM	(1 << 20)
#define MSTATUS_TW	(1 << 21)
#define MSTATUS_TSR	(1 << 22)
#define MSTATUS_SD	(1 << 63)

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

#define CAUSE_MISALIGNED_FETCH	0
#define CAUSE_FETCH_ACCESS	1
#define CAUSE_ILLEGAL		2
#define CAUSE_BREAKPOINT	3
#define CAUSE_MISALIGNED_LOAD	4
#define CAUSE_LOAD_ACCESS	5
#define CAUSE_MISALIGNED_STORE	6
#define CAUSE_STORE_ACCESS	7
#define CAUSE_ECALL_U		8
#define CAUSE_ECALL_S		9
#define CAUSE_ECALL_M		11
#define CAUSE_FETCH_PAGE	12
#define CAUSE_LOAD_PAGE		13
#define CAUSE_STORE_PAGE	15
#define CAUSE_INT		(1 << 63)

#define IRQ_SSI	1
#define IRQ_MSI	3
#define IRQ_STI	5
#define IRQ_MTI	7
#define IRQ_SEI	9
#define IRQ_MEI	11

#define CLINT_BASE	0x02000000
#define CLINT_MSIP	0x0
#define CLINT_MTIMECMP	0x4000
#define CLINT_MTIME	0xbff8

#define PTE_V 0x01
#define PTE_R 0x02
#define PTE_W 0x04
#define PTE_X 0x08
#define PTE_U 0x10
#define PTE_G 0x20
#define PTE_A 0x40
#define PTE_D 0x80

#define SATP_SV39 (8 << 60)
#define SATP_SV48 (9 << 60)
#define SATP_SV57 (10 << 60)

#define FAIL_MAGIC 0x5fa11

/* trap_save layout (byte offsets) */
#define SV_T1		0
#define SV_T2		8
#define SV_T3		16
#define M_CAUSE		24
#define M_EPC		32
#define M_TVAL		40
#define M_STATUS	48
#define M_COUNT		56
#define M_RESUME	64
#define M_RESUME_MPP	72
#define S_CAUSE		80
#define S_EPC		88
#define S_TVAL		96
#define S_STATUS	104
#define S_COUNT		112
#define S_RESUME	120
#define SV_ST0		128
#define SV_ST1		136
#define SV_ST2		144
#define SV_SIZE		160

#define TESTNUM gp

/* ---- checks --------------------------------------------------------- */

#define TEST(n) li TESTNUM, n

/* Branch to fail unless reg == imm (uses t6). */
#define CHECK_EQ(reg, imm) \
	li t6, imm; beq reg, t6, 10001f; j fail; 10001:

/* Branch to fail unless r1 == r2. */
#define CHECK_REG(r1, r2) \
	beq r1, r2, 10002f; j fail; 10002:

#define TEST_RR_OP(n, inst, result, v1, v2) \
	TEST(n); li a1, v1; li a2, v2; inst a0, a1, a2; CHECK_EQ(a0, result)

#define TEST_IMM_OP(n, inst, result, v1, imm) \
	TEST(n); li a1, v1; inst a0, a1, imm; CHECK_EQ(a0, result)

#define TEST_R_OP(n, inst, result, v1) \
	TEST(n); li a1, v1; inst a0, a1; CHECK_EQ(a0, result)

/* Same register as source and destination. */
#define TEST_RR_SRC1_EQ_DEST(n, inst, result, v1, v2) \
	TEST(n); li a1, v1; li a2, v2; inst a1, a1, a2; CHECK_EQ(a1, result)

/* ---- trap expectations ------------------------------------------------ */

/* Load trap_save field `off` into reg. */
#define LOAD_SAVE(reg, off) la reg, trap_save; ld reg, off(reg)

#define EXPECT_TRAP(label) \
	la t0, label; la t1, trap_save; sd t0, M_RESUME(t1)

#define EXPECT_TRAP_MODE(prv) \
	li t0, prv; la t1, trap_save; sd t0, M_RESUME_MPP(t1)

#define EXPECT_TRAP_SKIP \
	li t0, 1; la t1, trap_save; sd t0, M_RESUME(t1)

#define DISARM_TRAP \
	la t1, trap_save; sd zero, M_RESUME(t1)

#define S_EXPECT(val) \
	li t0, val; la t1, trap_save; sd t0, S_RESUME(t1)

#define S_EXPECT_LABEL(label) \
	la t0, label; la t1, trap_save; sd t0, S_RESUME(t1)

#define CHECK_SAVE(off, imm) LOAD_SAVE(t5, off); CHECK_EQ(t5, imm)
#define CHECK_SAVE_LABEL(off, label) \
	LOAD_SAVE(t5, off); la t4, label; CHECK_REG(t5, t4)
#define CHECK_SAVE_REG(off, reg) LOAD_SAVE(t5, off); CHECK_REG(t5, reg)

#define CHECK_MCAUSE(c) CHECK_SAVE(M_CAUSE, c)
#define CHECK_MTVAL(v) CHECK_SAVE(M_TVAL, v)
#define CHECK_MTVAL_REG(r) CHECK_SAVE_REG(M_TVAL, r)
#define CHECK_MEPC(label) CHECK_SAVE_LABEL(M_EPC, label)
#define CHECK_SCAUSE(c) CHECK_SAVE(S_CAUSE, c)
#define CHECK_STVAL(v) CHECK_SAVE(S_TVAL, v)
#define CHECK_STVAL_REG(r) CHECK_SAVE_REG(S_TVAL, r)
#define CHECK_SEPC(label) CHECK_SAVE_LABEL(S_EPC, label)
/* Zero the trap counters and causes. */
#define CLEAR_TRAPS \
	la t1, trap_save; sd zero, M_COUNT(t1); sd zero, S_COUNT(t1); \
	li t0, -1; sd t0, M_CAUSE(t1); sd t0, S_CAUSE(t1); \
	sd zero, M_TVAL(t1); sd zero, S_TVAL(t1)
#define CHECK_MCOUNT(n) CHECK_SAVE(M_COUNT, n)
#define CHECK_SCOUNT(n) CHECK_SAVE(S_COUNT, n)

/* Drop from M-mode to privilege `prv` at `label` (via mret), with
 * mstatus.MIE = 0 afterwards (MPIE is cleared first). */
#define GOTO_MODE(prv, label) \
	li t0, MSTATUS_MPP | MSTATUS_MPIE; csrc mstatus, t0; \
	li t0, (prv) << 11; csrs mstatus, t0; \
	la t0, label; csrw mepc, t0; mret

#define GOTO_S(label) GOTO_MODE(PRV_S, label)
#define GOTO_U(label) GOTO_MODE(PRV_U, label)

/* From S/U, get back to M at `label` via an (undelegated) ecall. */
#define RETURN_TO_M(label) EXPECT_TRAP(label); ecall

/* Install the shared S-mode trap handler. */
#define SET_STVEC_DEFAULT la t0, trap_s; csrw stvec, t0

/* ---- program skeleton --------------------------------------------------- */

#define RVTEST_PASS j pass
#define RVTEST_FAIL j fail

#define RVTEST_CODE_BEGIN \
	.option norvc; \
	.section .text.init, "ax", @progbits; \
	.globl _start; \
_start: \
	j reset_vector; \
	RVTEST_RUNTIME; \
	.text; \
	.align 2; \
test_main:

#define RVTEST_CODE_END \
	j fail; \
	.data; .align 3; .globl test_data_end; test_data_end: .dword 0

#define RVTEST_DATA_BEGIN .data; .align 4;
#define RVTEST_DATA_END

/* The runtime: reset, trap handlers, pass/fail, console. */
#define RVTEST_RUNTIME \
	.pushsection .tohost, "aw", @progbits; \
	.align 6; .globl tohost; .type tohost, @object; .size tohost, 8; \
tohost: .dword 0; \
	.align 6; .globl fromhost; .type fromhost, @object; \
	.size fromhost, 8; \
fromhost: .dword 0; \
	.popsection; \
	.pushsection .data; .align 6; .globl trap_save; \
trap_save: .zero SV_SIZE; \
	.popsection; \
	.align 2; \
reset_vector: \
	INIT_XREG; \
	la t0, trap_m; csrw mtvec, t0; \
	la t0, trap_save; csrw mscratch, t0; csrw sscratch, t0; \
	li t1, PRV_M; sd t1, M_RESUME_MPP(t0); \
	li t1, -1; sd t1, M_CAUSE(t0); sd t1, S_CAUSE(t0); \
	csrwi medeleg, 0; csrwi mideleg, 0; csrwi mie, 0; csrwi mip, 0; \
	csrwi satp, 0; \
	li t0, -1; csrw pmpaddr0, t0; li t0, 0x1f; csrw pmpcfg0, t0; \
	csrwi pmpcfg2, 0; \
	csrwi mcounteren, 7; csrwi scounteren, 7; \
	li t0, MSTATUS_FS_INIT; csrs mstatus, t0; csrwi fcsr, 0; \
	INIT_FREG; \
	li t0, 0; li t1, 0; li TESTNUM, 0; \
	j test_main; \
	\
	.align 2; \
trap_m: \
	csrrw t0, mscratch, t0; \
	sd t1, SV_T1(t0); sd t2, SV_T2(t0); \
	csrr t1, mcause; sd t1, M_CAUSE(t0); \
	csrr t1, mepc; sd t1, M_EPC(t0); \
	csrr t1, mtval; sd t1, M_TVAL(t0); \
	csrr t1, mstatus; sd t1, M_STATUS(t0); \
	ld t1, M_COUNT(t0); addi t1, t1, 1; sd t1, M_COUNT(t0); \
	csrr t1, mcause; \
	li t2, CAUSE_ECALL_U; beq t1, t2, 1f; \
	li t2, CAUSE_ECALL_S; beq t1, t2, 1f; \
	li t2, CAUSE_ECALL_M; bne t1, t2, 2f; \
1:	li t2, FAIL_MAGIC; beq a7, t2, trap_fail; \
2:	ld t1, M_RESUME(t0); \
	beqz t1, trap_unexpected; \
	li t2, 1; beq t1, t2, 3f; \
	sd zero, M_RESUME(t0); \
	csrw mepc, t1; \
	ld t2, M_RESUME_MPP(t0); li t1, PRV_M; sd t1, M_RESUME_MPP(t0); \
	slli t2, t2, 11; \
	li t1, MSTATUS_MPP | MSTATUS_MPRV; csrc mstatus, t1; \
	csrs mstatus, t2; \
	j 5f; \
3:	sd zero, M_RESUME(t0); \
	csrr t1, mcause; bltz t1, 5f; \
	csrr t1, mepc; lhu t2, 0(t1); andi t2, t2, 3; \
	addi t1, t1, 2; addi t2, t2, -3; bnez t2, 4f; addi t1, t1, 2; \
4:	csrw mepc, t1; \
5:	ld t1, SV_T1(t0); ld t2, SV_T2(t0); \
	csrrw t0, mscratch, t0; \
	mret; \
	\
	.align 2; \
trap_s: \
	csrrw t0, sscratch, t0; \
	sd t1, SV_ST1(t0); sd t2, SV_ST2(t0); \
	csrr t1, scause; sd t1, S_CAUSE(t0); \
	csrr t1, sepc; sd t1, S_EPC(t0); \
	csrr t1, stval; sd t1, S_TVAL(t0); \
	csrr t1, sstatus; sd t1, S_STATUS(t0); \
	ld t1, S_COUNT(t0); addi t1, t1, 1; sd t1, S_COUNT(t0); \
	csrr t1, scause; \
	li t2, CAUSE_ECALL_U; bne t1, t2, 1f; \
	li t2, FAIL_MAGIC; bne a7, t2, 1f; \
	ecall; \
1:	ld t1, S_RESUME(t0); \
	beqz t1, 6f; \
	li t2, 1; beq t1, t2, 3f; \
	li t2, 2; beq t1, t2, 7f; \
	sd zero, S_RESUME(t0); \
	csrw sepc, t1; \
	li t1, MSTATUS_SPP; csrs sstatus, t1; \
	j 5f; \
3:	sd zero, S_RESUME(t0); \
	csrr t1, scause; bltz t1, 5f; \
	csrr t1, sepc; lhu t2, 0(t1); andi t2, t2, 3; \
	addi t1, t1, 2; addi t2, t2, -3; bnez t2, 4f; addi t1, t1, 2; \
4:	csrw sepc, t1; \
5:	ld t1, SV_ST1(t0); ld t2, SV_ST2(t0); \
	csrrw t0, sscratch, t0; \
	sret; \
6:	li a7, FAIL_MAGIC; ecall; \
7:	sd zero, S_RESUME(t0); \
	ld t1, SV_ST1(t0); ld t2, SV_ST2(t0); \
	csrrw t0, sscratch, t0; \
	ecall; \
	\
trap_unexpected: \
	li t0, MSTATUS_MPRV; csrc mstatus, t0; \
	la a0, msg_trap; jal htif_puts; \
	csrr a0, mcause; jal htif_puthex; \
	la a0, msg_epc; jal htif_puts; \
	csrr a0, mepc; jal htif_puthex; \
	la a0, msg_tval; jal htif_puts; \
	csrr a0, mtval; jal htif_puthex; \
	li a0, '\n'; jal htif_putc; \
	j fail_m; \
trap_fail: \
	li t0, MSTATUS_MPRV; csrc mstatus, t0; \
	j fail_m; \
	\
	.globl fail; \
fail: \
	li a7, FAIL_MAGIC; ecall; \
fail_m: \
	li t0, MSTATUS_MPRV; csrc mstatus, t0; \
	bnez TESTNUM, 1f; li TESTNUM, 0xfff; \
1:	la a0, msg_fail; jal htif_puts; \
	mv a0, TESTNUM; jal htif_puthex; \
	li a0, '\n'; jal htif_putc; \
	slli a0, TESTNUM, 1; ori a0, a0, 1; \
	la t0, tohost; \
2:	sd a0, 0(t0); j 2b; \
	\
	.globl pass; \
pass: \
	li t0, MSTATUS_MPRV; csrc mstatus, t0; \
	fence; li a0, 1; la t0, tohost; \
1:	sd a0, 0(t0); j 1b; \
	\
htif_putc: \
	andi a0, a0, 0xff; li t1, 0x0101; slli t1, t1, 48; or t1, t1, a0; \
	la t2, tohost; sd t1, 0(t2); \
	li t3, 20000000; la t4, fromhost; \
1:	ld t5, 0(t4); bnez t5, 2f; addi t3, t3, -1; bnez t3, 1b; \
2:	sd zero, 0(t4); sd zero, 0(t2); \
	ret; \
htif_puts: \
	mv s10, ra; mv s9, a0; \
1:	lbu a0, 0(s9); beqz a0, 2f; jal htif_putc; addi s9, s9, 1; j 1b; \
2:	mv ra, s10; ret; \
htif_puthex: \
	mv s10, ra; mv s9, a0; li s8, 60; \
1:	srl a0, s9, s8; andi a0, a0, 15; addi a0, a0, '0'; \
	li t1, '9' + 1; blt a0, t1, 2f; addi a0, a0, 'a' - '9' - 1; \
2:	jal htif_putc; addi s8, s8, -4; bgez s8, 1b; \
	mv ra, s10; ret; \
msg_trap: .asciz "unexpected trap mcause="; \
msg_epc: .asciz " mepc="; \
msg_tval: .asciz " mtval="; \
msg_fail: .asciz "FAIL test "; \
	.align 2

#define INIT_XREG \
	li x1, 0; li x2, 0; li x3, 0; li x4, 0; li x5, 0; li x6, 0; \
	li x7, 0; li x8, 0; li x9, 0; li x10, 0; li x11, 0; li x12, 0; \
	li x13, 0; li x14, 0; li x15, 0; li x16, 0; li x17, 0; li x18, 0; \
	li x19, 0; li x20, 0; li x21, 0; li x22, 0; li x23, 0; li x24, 0; \
	li x25, 0; li x26, 0; li x27, 0; li x28, 0; li x29, 0; li x30, 0; \
	li x31, 0

#define INIT_FREG \
	fmv.d.x f0, x0; fmv.d.x f1, x0; fmv.d.x f2, x0; fmv.d.x f3, x0; \
	fmv.d.x f4, x0; fmv.d.x f5, x0; fmv.d.x f6, x0; fmv.d.x f7, x0; \
	fmv.d.x f8, x0; fmv.d.x f9, x0; fmv.d.x f10, x0; fmv.d.x f11, x0; \
	fmv.d.x f12, x0; fmv.d.x f13, x0; fmv.d.x f14, x0; fmv.d.x f15, x0; \
	fmv.d.x f16, x0; fmv.d.x f17, x0; fmv.d.x f18, x0; fmv.d.x f19, x0; \
	fmv.d.x f20, x0; fmv.d.x f21, x0; fmv.d.x f22, x0; fmv.d.x f23, x0; \
	fmv.d.x f24, x0; fmv.d.x f25, x0; fmv.d.x f26, x0; fmv.d.x f27, x0; \
	fmv.d.x f28, x0; fmv.d.x f29, x0; fmv.d.x f30, x0; fmv.d.x f31, x0

/* clang-format on */

#endif /* SOFTVISOR_ISA_TEST_H */
