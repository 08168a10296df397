/* mmu.S - Sv39 address translation (priv 4.3-4.4): 4 KiB pages, 2 MiB
 * megapages, 1 GiB gigapages, misaligned superpages, V=0, W without R,
 * R/W/X checks, U with SUM, MXR, MPRV with MPP=S/U, non-canonical
 * addresses, page-fault causes and tval (fetch 12, load 13, store 15),
 * delegation of page faults to S, satp ASID and unsupported modes,
 * sfence.vma after a PTE change, and hardware A/D updating (Softvisor
 * implements Svadu behaviour: a PTE with A=0 or D=0 is updated by the
 * walker, never faulted).
 *
 * Layout (VA -> PA):
 *   0x80000000 +1G -> 0x80000000 gigapage RWX (S code, identity)
 *   0x40000000 +1G -> 0x80000000 gigapage RWX U (U code: PA - 1 GiB)
 *   0xc0000000 +1G -> 0x80000000 gigapage RW, no X
 *   0x140000000    -> misaligned gigapage (PA 0x80200000)
 *   0x100000000 + i*4K -> 4 KiB pages, see l0 below
 *   0x100200000 +2M -> 0x80400000 megapage RW
 *   0x100400000    -> misaligned megapage (PA 0x80401000)
 */
#include "test.h"
#include "mmu.h"

#define UOFF (-0x40000000)
#define VBASE 0x100000000
#define VPAGE(i) (VBASE + (i) * 0x1000)
#define VMEGA 0x100200000
#define VMEGA_BAD 0x100400000
#define VGIGA_RO 0xc0000000
#define VGIGA_BAD 0x140000000
#define MEGA_PA 0x80400000

RVTEST_CODE_BEGIN
	SET_STVEC_DEFAULT
	/* data */
	la s1, data_page
	li a0, 0x1111
	sd a0, 0(s1)
	la s2, data_page2
	li a0, 0x2222
	sd a0, 0(s2)
	li t0, MEGA_PA
	li a0, 0x3333
	sd a0, 0x10(t0)
	/* code page: li a0, 77; ret */
	la s3, code_page
	li t0, 0x04d00513
	sw t0, 0(s3)
	li t0, 0x00008067
	sw t0, 4(s3)
	fence.i

	/* level 2 (root) */
	li t6, 0x80000000
	SET_PTE(root, 2, t6, RWXAD)
	SET_PTE(root, 1, t6, RWXAD | PTE_U)
	SET_PTE(root, 3, t6, RWAD)
	li t6, 0x80200000
	SET_PTE(root, 5, t6, RWAD)            /* misaligned gigapage */
	SET_PTR(root, 4, l1)
	/* level 1 */
	SET_PTR(l1, 0, l0)
	li t6, MEGA_PA
	SET_PTE(l1, 1, t6, RWAD)
	li t6, MEGA_PA + 0x1000
	SET_PTE(l1, 2, t6, RWAD)              /* misaligned megapage */
	/* level 0 */
	SET_PTE(l0, 0, s1, RWAD)
	SET_PTE(l0, 1, s1, PTE_V | PTE_R | PTE_A)
	SET_PTE(l0, 2, s1, PTE_V | PTE_X | PTE_A)
	SET_PTE(l0, 3, s1, RWAD & ~PTE_V)
	SET_PTE(l0, 4, s1, PTE_V | PTE_W | PTE_A | PTE_D)
	SET_PTE(l0, 5, s1, RWAD | PTE_U)
	SET_PTE(l0, 6, s3, PTE_V | PTE_X | PTE_A)
	SET_PTE(l0, 7, s3, PTE_V | PTE_X | PTE_A | PTE_U)
	SET_PTE(l0, 9, s1, RWAD)                  /* for sfence.vma */
	SET_PTE(l0, 10, s2, PTE_V | PTE_R | PTE_W) /* A=0, D=0 */
	SET_PTE(l0, 11, s3, PTE_V | PTE_X)         /* A=0 */
	SET_PTE(l0, 12, s2, PTE_V | PTE_R | PTE_W | PTE_A) /* D=0 */
	SET_SATP(SATP_SV39, root)

	li s4, VPAGE(0)
	li s5, VPAGE(1)
	li s6, VPAGE(2)
	li s7, VPAGE(3)
	li s8, VPAGE(4)
	li s9, VPAGE(5)
	li s10, VPAGE(6)
	li s11, VPAGE(7)

	/* 4 KiB pages */
	OK_AT(1, PRV_S, 0, ld a1, 0(s4))
	CHECK_EQ(a1, 0x1111)
	OK_AT(2, PRV_S, 0, li a1, 0x4444; sd a1, 8(s4))
	ld a2, 8(s1)
	CHECK_EQ(a2, 0x4444)
	OK_AT(3, PRV_S, 0, ld a1, 8(s5))            /* read-only page */
	CHECK_EQ(a1, 0x4444)
	FAULT_AT(4, PRV_S, 0, CAUSE_STORE_PAGE, sd a1, 16(s5))
	addi t4, s5, 16
	CHECK_MTVAL_REG(t4)
	FAULT_AT(5, PRV_S, 0, CAUSE_STORE_PAGE, amoadd.d a1, a1, (s5))
	CHECK_MTVAL_REG(s5)
	FAULT_AT(6, PRV_S, 0, CAUSE_LOAD_PAGE, lr.d a1, (s6)) /* exec-only */
	CHECK_MTVAL_REG(s6)
	/* MXR makes execute-only pages readable */
	li t0, MSTATUS_MXR
	csrs mstatus, t0
	OK_AT(7, PRV_S, 0, ld a1, 0(s6))
	CHECK_EQ(a1, 0x1111)
	li t0, MSTATUS_MXR
	csrc mstatus, t0
	FAULT_AT(8, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s6))
	/* V = 0 */
	FAULT_AT(9, PRV_S, 0, CAUSE_LOAD_PAGE, lw a1, 4(s7))
	addi t4, s7, 4
	CHECK_MTVAL_REG(t4)
	FAULT_AT(10, PRV_S, 0, CAUSE_STORE_PAGE, sb a1, 5(s7))
	addi t4, s7, 5
	CHECK_MTVAL_REG(t4)
	TEST(11)                                     /* fetch page fault */
	CLEAR_TRAPS
	EXPECT_TRAP(3f)
	GOTO_S(4f)
4:	jalr s7
	j fail
3:	CHECK_MCAUSE(CAUSE_FETCH_PAGE)
	CHECK_MTVAL_REG(s7)
	CHECK_SAVE_REG(M_EPC, s7)
	/* W without R is reserved */
	FAULT_AT(12, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s8))
	FAULT_AT(13, PRV_S, 0, CAUSE_STORE_PAGE, sd a1, 0(s8))
	/* U pages and SUM */
	FAULT_AT(14, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s9))
	OK_AT(15, PRV_U, UOFF, ld a1, 0(s9))
	CHECK_EQ(a1, 0x1111)
	FAULT_AT(16, PRV_U, UOFF, CAUSE_LOAD_PAGE, ld a1, 0(s4))
	FAULT_AT(17, PRV_U, UOFF, CAUSE_STORE_PAGE, sd a1, 0(s4))
	li t0, MSTATUS_SUM
	csrs mstatus, t0
	OK_AT(18, PRV_S, 0, ld a1, 0(s9); sd a1, 8(s9))
	TEST(19)                                     /* SUM never allows fetch */
	CLEAR_TRAPS
	EXPECT_TRAP(3f)
	GOTO_S(4f)
4:	jalr s11
	j fail
3:	CHECK_MCAUSE(CAUSE_FETCH_PAGE)
	CHECK_MTVAL_REG(s11)
	li t0, MSTATUS_SUM
	csrc mstatus, t0
	/* execution from a mapped code page */
	OK_AT(20, PRV_S, 0, li a0, 0; jalr s10)
	CHECK_EQ(a0, 77)
	OK_AT(21, PRV_U, UOFF, li a0, 0; jalr s11)
	CHECK_EQ(a0, 77)
	TEST(22)                                     /* U fetch of an S page */
	CLEAR_TRAPS
	EXPECT_TRAP(3f)
	GOTO_MODE_OFF(PRV_U, 4f, UOFF)
4:	jalr s10
	j fail
3:	CHECK_MCAUSE(CAUSE_FETCH_PAGE)
	CHECK_MTVAL_REG(s10)

	/* superpages */
	li s7, VMEGA
	OK_AT(23, PRV_S, 0, ld a1, 0x10(s7))
	CHECK_EQ(a1, 0x3333)
	li s7, VMEGA_BAD
	FAULT_AT(24, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0x10(s7))
	addi t4, s7, 0x10
	CHECK_MTVAL_REG(t4)
	la t0, data_page
	li t1, VGIGA_RO - 0x80000000
	add s7, t0, t1
	OK_AT(25, PRV_S, 0, ld a1, 0(s7))
	CHECK_EQ(a1, 0x1111)
	la t0, code_page
	li t1, VGIGA_RO - 0x80000000
	add s7, t0, t1
	TEST(26)                                     /* no X in that gigapage */
	CLEAR_TRAPS
	EXPECT_TRAP(3f)
	GOTO_S(4f)
4:	jalr s7
	j fail
3:	CHECK_MCAUSE(CAUSE_FETCH_PAGE)
	CHECK_MTVAL_REG(s7)
	li s7, VGIGA_BAD
	FAULT_AT(27, PRV_S, 0, CAUSE_STORE_PAGE, sd a1, 0(s7))
	CHECK_MTVAL_REG(s7)
	/* non-canonical (bit 39 set, bit 38 clear) */
	li s7, 0x0000008000000000
	FAULT_AT(28, PRV_S, 0, CAUSE_LOAD_PAGE, ld a1, 0(s7))

	/* MPRV with MPP = S / U, SUM for MPRV accesses */
#define MPRV_ON(prv) li t0, MSTATUS_MPP; csrc mstatus, t0; \
	li t0, ((prv) << 11) | MSTATUS_MPRV; csrs mstatus, t0
#define MPRV_OFF li t0, MSTATUS_MPRV; csrc mstatus, t0
	TEST(29)
	MPRV_ON(PRV_S)
	ld a1, 0(s4)
	MPRV_OFF
	CHECK_EQ(a1, 0x1111)
	TEST(30)
	CLEAR_TRAPS
	EXPECT_TRAP(5f)
	MPRV_ON(PRV_S)
6:	ld a1, 0(s9)                                /* U page, SUM = 0 */
	MPRV_OFF
	j fail
5:	MPRV_OFF
	CHECK_MCAUSE(CAUSE_LOAD_PAGE)
	CHECK_MEPC(6b)
	CHECK_MTVAL_REG(s9)
	TEST(31)
	li t0, MSTATUS_SUM
	csrs mstatus, t0
	MPRV_ON(PRV_S)
	ld a1, 0(s9)
	MPRV_OFF
	li t0, MSTATUS_SUM
	csrc mstatus, t0
	CHECK_EQ(a1, 0x1111)
	TEST(32)
	CLEAR_TRAPS
	EXPECT_TRAP(5f)
	MPRV_ON(PRV_U)
6:	sd a1, 0(s4)                                /* S page from U */
	MPRV_OFF
	j fail
5:	MPRV_OFF
	CHECK_MCAUSE(CAUSE_STORE_PAGE)
	CHECK_MEPC(6b)
	TEST(33)                                     /* fetches ignore MPRV */
	MPRV_ON(PRV_U)
	nop
	MPRV_OFF

	/* page faults delegated to S */
	li t0, (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE) | (1 << CAUSE_FETCH_PAGE)
	csrw medeleg, t0
	li s7, VPAGE(3)
	S_EXPECT(2)
	TEST(34)
	CLEAR_TRAPS
	EXPECT_TRAP(3f)
	GOTO_MODE_OFF(PRV_U, 4f, UOFF)
4:	ld a1, 0(s7)
	j fail
3:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_SCAUSE(CAUSE_LOAD_PAGE)
	CHECK_STVAL_REG(s7)
	LOAD_SAVE(t5, S_EPC)
	la t4, 4b
	li t3, UOFF
	add t4, t4, t3
	CHECK_REG(t5, t4)
	S_EXPECT(2)
	TEST(35)
	CLEAR_TRAPS
	EXPECT_TRAP(3f)
	GOTO_S(4f)
4:	sd a1, 0(s5)
	j fail
3:	CHECK_SCAUSE(CAUSE_STORE_PAGE)
	CHECK_STVAL_REG(s5)
	S_EXPECT(2)
	TEST(36)
	CLEAR_TRAPS
	EXPECT_TRAP(3f)
	GOTO_S(4f)
4:	jalr s7
	j fail
3:	CHECK_SCAUSE(CAUSE_FETCH_PAGE)
	CHECK_STVAL_REG(s7)
	LOAD_SAVE(t5, S_EPC)
	CHECK_REG(t5, s7)
	csrwi medeleg, 0

	/* sfence.vma after a PTE change */
	li s7, VPAGE(9)
	OK_AT(37, PRV_S, 0, ld a1, 0(s7))
	CHECK_EQ(a1, 0x1111)
	SET_PTE(l0, 9, s2, RWAD)
	OK_AT(38, PRV_S, 0, sfence.vma s7; ld a1, 0(s7))
	CHECK_EQ(a1, 0x2222)
	SET_PTE(l0, 9, s2, RWAD & ~PTE_V)
	TEST(39)
	CLEAR_TRAPS
	EXPECT_TRAP(3f)
	GOTO_S(4f)
4:	sfence.vma
5:	ld a1, 0(s7)
	j fail
3:	CHECK_MCAUSE(CAUSE_LOAD_PAGE)
	CHECK_MEPC(5b)
	SET_PTE(l0, 9, s1, RWAD)
	OK_AT(40, PRV_S, 0, sfence.vma zero, zero; ld a1, 0(s7))
	CHECK_EQ(a1, 0x1111)

	/* hardware A/D updates (Svadu behaviour) */
	li s7, VPAGE(10)
	OK_AT(41, PRV_S, 0, ld a1, 0(s7))           /* A=0: no fault */
	CHECK_EQ(a1, 0x2222)
	GET_PTE(a2, l0, 10)
	andi a3, a2, PTE_A | PTE_D
	CHECK_EQ(a3, PTE_A)                          /* A set, D still 0 */
	OK_AT(42, PRV_S, 0, li a1, 0x5555; sd a1, 8(s7))
	GET_PTE(a2, l0, 10)
	andi a3, a2, PTE_A | PTE_D
	CHECK_EQ(a3, PTE_A | PTE_D)
	ld a1, 8(s2)
	CHECK_EQ(a1, 0x5555)
	li s7, VPAGE(12)                             /* A=1, D=0: store sets D */
	OK_AT(43, PRV_S, 0, sd zero, 16(s7))
	GET_PTE(a2, l0, 12)
	andi a3, a2, PTE_A | PTE_D
	CHECK_EQ(a3, PTE_A | PTE_D)
	li s7, VPAGE(11)                             /* fetch sets A */
	OK_AT(44, PRV_S, 0, li a0, 0; jalr s7)
	CHECK_EQ(a0, 77)
	GET_PTE(a2, l0, 11)
	andi a3, a2, PTE_A | PTE_D
	CHECK_EQ(a3, PTE_A)
	/* a faulting access does not set A */
	SET_PTE(l0, 10, s2, PTE_V | PTE_R)           /* read-only, A=0 */
	li s7, VPAGE(10)
	TEST(45)
	CLEAR_TRAPS
	EXPECT_TRAP(3f)
	GOTO_S(4f)
4:	sfence.vma
5:	sd a1, 0(s7)
	j fail
3:	CHECK_MCAUSE(CAUSE_STORE_PAGE)
	CHECK_MEPC(5b)
	GET_PTE(a2, l0, 10)
	andi a3, a2, PTE_A | PTE_D
	CHECK_EQ(a3, 0)

	/* satp: ASID is kept, unsupported modes are ignored */
	TEST(46)
	csrr a0, satp
	li t0, 5 << 44
	or a1, a0, t0
	csrw satp, a1
	csrr a2, satp
	CHECK_REG(a2, a1)
	TEST(47)
	li t0, 5 << 60                               /* reserved mode */
	csrw satp, t0
	csrr a3, satp
	CHECK_REG(a3, a1)
	OK_AT(48, PRV_S, 0, sfence.vma zero, s4; ld a1, 0(s4))  /* with ASID */
	CHECK_EQ(a1, 0x1111)
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
data_page2:	.zero 4096
code_page:	.zero 4096
