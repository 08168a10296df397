/* mmu_sv48_57.S - Sv48 and Sv57 (priv 4.5, 4.6): 4- and 5-level walks,
 * 512 GiB terapages and 256 TiB petapages (and misaligned ones),
 * canonical-address checks.  The Sv57 root points at the Sv48 root as its
 * level-3 table, so the low half maps the same in both modes. */
#include "test.h"
#include "mmu.h"

#define VTERA (1 << 39)                  /* root48[1]: PA 0, RW */
#define VTERA_BAD (2 << 39)              /* root48[2]: misaligned */
#define V4K 0x400000000000               /* root48[128] -> ... -> data_page2 */
#define VPETA (1 << 48)                  /* root57[1]: PA 0, RW */
#define VPETA_BAD (2 << 48)              /* root57[2]: misaligned */

RVTEST_CODE_BEGIN
	la s1, data_page
	li a0, 0x4848
	sd a0, 0(s1)
	la s2, data_page2
	li a0, 0x5757
	sd a0, 0(s2)
	SET_PTR(root48, 0, l2)
	li t6, 0x80000000
	SET_PTE(l2, 2, t6, RWXAD)                 /* identity gigapage */
	li t6, 0
	SET_PTE(root48, 1, t6, RWAD)              /* terapage */
	li t6, 0x80000000
	SET_PTE(root48, 2, t6, RWAD)              /* misaligned terapage */
	SET_PTR(root48, 128, l2b)
	SET_PTR(l2b, 0, l1b)
	SET_PTR(l1b, 0, l0b)
	SET_PTE(l0b, 0, s2, RWAD)
	SET_PTR(root57, 0, root48)
	li t6, 0
	SET_PTE(root57, 1, t6, RWAD)              /* petapage */
	li t6, 0x80000000
	SET_PTE(root57, 2, t6, RWAD)              /* misaligned petapage */

	/* ---- Sv48 ---- */
	TEST(1)
	SET_SATP(SATP_SV48, root48)
	csrr a0, satp
	srli a0, a0, 60
	CHECK_EQ(a0, 9)
	li t0, VTERA
	add s3, s1, t0
	OK_AT(2, PRV_S, 0, ld a1, 0(s3))
	CHECK_EQ(a1, 0x4848)
	li s3, V4K
	OK_AT(3, PRV_S, 0, ld a1, 0(s3); sd a1, 8(s3))
	CHECK_EQ(a1, 0x5757)
	ld a2, 8(s2)
	CHECK_EQ(a2, 0x5757)
	li s3, VTERA_BAD + 0x1000
	FAULT_AT(4, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s3))
	CHECK_MTVAL_REG(s3)
	li s3, 0x0000800000000000                  /* non-canonical */
	FAULT_AT(5, PRV_S, 0, CAUSE_STORE_PAGE, sd a1, 0(s3))
	li s3, 0xffff800000000000                  /* canonical, unmapped */
	FAULT_AT(6, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s3))
	CHECK_MTVAL_REG(s3)
	li s3, VPETA                               /* beyond Sv48 */
	FAULT_AT(7, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s3))

	/* ---- Sv57 ---- */
	TEST(8)
	SET_SATP(SATP_SV57, root57)
	csrr a0, satp
	srli a0, a0, 60
	CHECK_EQ(a0, 10)
	li t0, VPETA
	add s3, s1, t0
	OK_AT(9, PRV_S, 0, ld a1, 0(s3))
	CHECK_EQ(a1, 0x4848)
	li t0, VTERA                               /* via L4[0] -> Sv48 root */
	add s3, s1, t0
	OK_AT(10, PRV_S, 0, ld a1, 0(s3))
	CHECK_EQ(a1, 0x4848)
	li s3, V4K
	OK_AT(11, PRV_S, 0, ld a1, 8(s3))
	CHECK_EQ(a1, 0x5757)
	li s3, VPETA_BAD + 0x2000
	FAULT_AT(12, PRV_S, 0, CAUSE_STORE_PAGE, sd a1, 0(s3))
	CHECK_MTVAL_REG(s3)
	li s3, 0x0100000000000000                  /* non-canonical */
	FAULT_AT(13, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s3))
	li s3, 0x0000800000000000                  /* canonical in Sv57 */
	FAULT_AT(14, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s3))
	CHECK_MTVAL_REG(s3)
	csrw satp, zero
	sfence.vma
	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 12
root48:	.zero 4096
root57:	.zero 4096
l2:	.zero 4096
l2b:	.zero 4096
l1b:	.zero 4096
l0b:	.zero 4096
data_page:	.zero 4096
data_page2:	.zero 4096
