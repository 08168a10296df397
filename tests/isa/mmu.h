/*
 * mmu.h - page-table helpers for the MMU tests (included after test.h).
 * Tables are 4 KiB pages in the test image, filled by code at run time.
 */
#ifndef SOFTVISOR_ISA_MMU_H
#define SOFTVISOR_ISA_MMU_H

/* clang-format off */

/* reg = PTE pointing at the physical address in pa_reg with flags */
#define PTE_OF(reg, pa_reg, flags) \
	srli reg, pa_reg, 12; slli reg, reg, 10; ori reg, reg, flags

/* table[idx] = PTE(pa_reg, flags); clobbers t3-t5 */
#define SET_PTE(table, idx, pa_reg, flags) \
	PTE_OF(t3, pa_reg, flags); la t4, table; li t5, (idx) * 8; \
	add t4, t4, t5; sd t3, 0(t4)

/* table[idx] = pointer to next-level table `next`; clobbers t2-t5 */
#define SET_PTR(table, idx, next) la t2, next; SET_PTE(table, idx, t2, PTE_V)

/* table[idx] = raw value in reg; clobbers t4-t5 */
#define SET_RAW(table, idx, reg) \
	la t4, table; li t5, (idx) * 8; add t4, t4, t5; sd reg, 0(t4)

/* reg = table[idx]; clobbers t4-t5 */
#define GET_PTE(reg, table, idx) \
	la t4, table; li t5, (idx) * 8; add t4, t4, t5; ld reg, 0(t4)

/* satp = mode | root; sfence.vma (M) */
#define SET_SATP(mode, root) \
	la t0, root; srli t0, t0, 12; li t1, mode; or t0, t0, t1; \
	csrw satp, t0; sfence.vma

#define RWXAD (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define RWAD (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)

/* Enter mode prv at virtual address label + off (M-mode, via mret). */
#define GOTO_MODE_OFF(prv, label, off) \
	li t0, MSTATUS_MPP | MSTATUS_MPIE; csrc mstatus, t0; \
	li t0, (prv) << 11; csrs mstatus, t0; \
	la t0, label; li t1, off; add t0, t0, t1; csrw mepc, t0; mret

/* Run __VA_ARGS__ in mode prv (code at its VA label + off); expect an M
 * trap with cause; the resumed M code has MPRV cleared. */
#define FAULT_AT(n, prv, off, cause, ...) \
	TEST(n); CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_MODE_OFF(prv, 2f, off); \
2:	__VA_ARGS__; j fail; \
1:	CHECK_MCAUSE(cause); LOAD_SAVE(t5, M_EPC); la t4, 2b; li t3, off; \
	add t4, t4, t3; CHECK_REG(t5, t4)
#define OK_AT(n, prv, off, ...) \
	TEST(n); CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_MODE_OFF(prv, 2f, off); \
2:	__VA_ARGS__; ecall; j fail; \
1:	CHECK_MCAUSE(8 + (prv))

/* clang-format on */

#endif /* SOFTVISOR_ISA_MMU_H */
