/* mmu_reserved.S - reserved PTE encodings raise page faults (priv 4.3.2
 * step 3: "if any bits or encodings that are reserved for future standard
 * use are set within pte, stop and raise a page-fault exception"):
 * D, A, U set in a non-leaf PTE (reserved there, 4.3.1) and PTE bits
 * 60:54 (reserved; Softvisor implements neither Svnapot nor Svpbmt, so
 * bits 63:61 are reserved as well). */
#include "test.h"
#include "mmu.h"

RVTEST_CODE_BEGIN
	la s1, data_page
	li a0, 0x600d
	sd a0, 0(s1)
	li t6, 0x80000000
	SET_PTE(root, 2, t6, RWXAD)               /* identity */
	SET_PTR(root, 4, l1)                       /* 0x100000000: good */
	SET_PTR(l1, 0, l0)
	SET_PTE(l0, 0, s1, RWAD)
	SET_PTE(l0, 1, s1, RWAD)                   /* bit 58 set below */
	SET_PTE(l0, 2, s1, RWAD)                   /* bit 61 set below */
	GET_PTE(a1, l0, 1)
	li t0, 1 << 58
	or a1, a1, t0
	SET_RAW(l0, 1, a1)
	GET_PTE(a1, l0, 2)
	li t0, 1 << 61
	or a1, a1, t0
	SET_RAW(l0, 2, a1)
	la t2, l1                                  /* non-leaf with U */
	SET_PTE(root, 5, t2, PTE_V | PTE_U)
	SET_PTE(root, 6, t2, PTE_V | PTE_A)        /* non-leaf with A */
	SET_PTE(root, 7, t2, PTE_V | PTE_D)        /* non-leaf with D */
	SET_SATP(SATP_SV39, root)

	li s3, 0x100000000
	OK_AT(1, PRV_S, 0, ld a1, 0(s3))
	CHECK_EQ(a1, 0x600d)
	li s3, 0x100001000
	FAULT_AT(2, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s3))
	CHECK_MTVAL_REG(s3)
	li s3, 0x100002000
	FAULT_AT(3, PRV_S, 0, CAUSE_STORE_PAGE, sd a1, 0(s3))
	li s3, 0x140000000
	FAULT_AT(4, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s3))
	CHECK_MTVAL_REG(s3)
	li s3, 0x180000000
	FAULT_AT(5, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s3))
	li s3, 0x1c0000000
	FAULT_AT(6, PRV_S, 0, CAUSE_STORE_PAGE, sd a1, 0(s3))
	csrw satp, zero
	sfence.vma
	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 12
root:	.zero 4096
l1:	.zero 4096
l0:	.zero 4096
data_page:	.zero 4096
