/*
 * Unit tests of the hart's page-table walker, PMP check on page-table
 * accesses and software TLB (src/cpu/mmu.c), on a real hart and gmem.
 *
 * Page tables are built in guest RAM with gmem_write; privilege, satp and
 * mstatus are set directly in the hart's state (as a trap or CSR write
 * would), then mmu_translate / mmu_load_slow / mmu_store_slow are called.
 * Spec references: privileged spec 1.12, 4.3 (Sv39), 4.4-4.6 (Sv48, Sv57),
 * 3.1.6.3 (MPRV, MXR, SUM), 3.7 (PMP).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (64ULL << 20)
#include "one_hart.h"
/* page tables are allocated from here, data pages from DATA_BASE */
#define PT_BASE	  (RAM_BASE + 0x100000)
#define DATA_BASE (RAM_BASE + 0x800000)

#define PTE_RWX	 (PTE_R | PTE_W | PTE_X)
#define PTE_AD	 (PTE_A | PTE_D)
#define PTE_LEAF (PTE_V | PTE_RWX | PTE_AD)

static uint64_t pt_next; /* next free page-table page */
static uint64_t root;	 /* root table of the current address space */
static unsigned levels;	 /* 3, 4 or 5 */

/* ---- building page tables ---------------------------------------------------- */

static uint64_t rd64(uint64_t gpa)
{
	uint64_t v;
	assert_int_equal(gmem_read(mem, gpa, &v, 8), 0);
	return v;
}

static void wr64(uint64_t gpa, uint64_t v)
{
	assert_int_equal(gmem_write(mem, gpa, &v, 8), 0);
}

static uint64_t new_table(void)
{
	uint64_t t = pt_next;
	static const uint8_t zero[GUEST_PAGE_SIZE];
	pt_next += GUEST_PAGE_SIZE;
	assert_true(pt_next <= DATA_BASE);
	assert_int_equal(gmem_write(mem, t, zero, sizeof(zero)), 0);
	return t;
}

static uint64_t pte_of(uint64_t pa, uint64_t flags)
{
	return (pa >> 12) << PTE_PPN_SHIFT | flags;
}

/* Start a fresh address space of mode (SATP_MODE_SV39/48/57) and switch
 * the hart to it; the hart runs in priv with mstatus = 0. */
static void new_space(unsigned mode, enum priv priv)
{
	levels = mode == SATP_MODE_SV39 ? 3 : mode == SATP_MODE_SV48 ? 4 : 5;
	pt_next = PT_BASE;
	root = new_table();
	h->s.satp = (uint64_t)mode << SATP_MODE_SHIFT | root >> 12;
	h->s.priv = priv;
	h->s.mstatus = 0;
	h->pmp_active = false;
	memset(h->s.pmpcfg, 0, sizeof(h->s.pmpcfg));
	tlb_flush_all(h);
	hart_update_tlb_ctx(h);
}

/* Address of the PTE for va at level lvl (0 = 4 KiB leaf), creating the
 * tables above it. */
static uint64_t pte_addr(uint64_t va, unsigned lvl)
{
	uint64_t t = root;
	for (unsigned i = levels - 1; i > lvl; i--) {
		uint64_t a = t + ((va >> (12 + 9 * i)) & 0x1ff) * 8;
		uint64_t pte = rd64(a);
		if (!(pte & PTE_V)) {
			pte = pte_of(new_table(), PTE_V);
			wr64(a, pte);
		}
		t = ((pte >> PTE_PPN_SHIFT) & PTE_PPN_MASK) << 12;
	}
	return t + ((va >> (12 + 9 * lvl)) & 0x1ff) * 8;
}

/* Map va -> pa with a leaf at level lvl; returns the PTE's address. */
static uint64_t map(uint64_t va, uint64_t pa, unsigned lvl, uint64_t flags)
{
	uint64_t a = pte_addr(va, lvl);
	wr64(a, pte_of(pa, flags));
	return a;
}

static int xlate(uint64_t va, enum mmu_access acc, uint64_t *gpa)
{
	*gpa = ~0ULL;
	return mmu_translate(h, va, acc, gpa);
}

/* All three accesses translate va to expect. */
static void expect_rwx(uint64_t va, uint64_t expect)
{
	uint64_t gpa;
	for (int acc = MMU_LOAD; acc <= MMU_FETCH; acc++) {
		assert_int_equal(xlate(va, (enum mmu_access)acc, &gpa), 0);
		assert_int_equal(gpa, expect);
	}
}

static void expect_faults(uint64_t va, int load, int store, int fetch)
{
	uint64_t gpa;
	assert_int_equal(xlate(va, MMU_LOAD, &gpa), load);
	assert_int_equal(xlate(va, MMU_STORE, &gpa), store);
	assert_int_equal(xlate(va, MMU_FETCH, &gpa), fetch);
}

static void expect_page_faults(uint64_t va)
{
	expect_faults(va, EXC_LOAD_PAGE_FAULT, EXC_STORE_PAGE_FAULT,
		      EXC_INSN_PAGE_FAULT);
}

static void set_mstatus(uint64_t bits, bool on)
{
	if (on)
		h->s.mstatus |= bits;
	else
		h->s.mstatus &= ~bits;
	hart_update_tlb_ctx(h);
}

/* ---- translation ------------------------------------------------------------- */

static void test_sv39_4k(void **state)
{
	(void)state;
	new_space(SATP_MODE_SV39, PRIV_S);
	map(0x40001000, DATA_BASE, 0, PTE_LEAF);
	expect_rwx(0x40001abc, DATA_BASE + 0xabc);
	/* the neighbouring pages are not mapped */
	expect_page_faults(0x40000ff8);
	expect_page_faults(0x40002000);
	/* the upper half of Sv39 (root index 256..511) */
	map(0xffffffffc0000000ULL, DATA_BASE + 0x1000, 0, PTE_LEAF);
	expect_rwx(0xffffffffc0000010ULL, DATA_BASE + 0x1010);
}

static void test_sv48_4k(void **state)
{
	(void)state;
	uint64_t va = 0x00007f1234567000ULL; /* needs all four levels */
	new_space(SATP_MODE_SV48, PRIV_S);
	map(va, DATA_BASE + 0x3000, 0, PTE_LEAF);
	expect_rwx(va + 0x18, DATA_BASE + 0x3018);
	map(0xffff800000000000ULL, DATA_BASE, 0, PTE_LEAF);
	expect_rwx(0xffff800000000008ULL, DATA_BASE + 8);
	/* 1 GiB and 2 MiB leaves also work with four levels */
	map(0x0000100040000000ULL, 0x40000000ULL, 2, PTE_LEAF);
	expect_rwx(0x0000100040123456ULL, 0x40123456ULL);
}

static void test_sv57_4k(void **state)
{
	(void)state;
	uint64_t va = 0x00ff123456789000ULL; /* bit 56 clear: canonical */
	new_space(SATP_MODE_SV57, PRIV_S);
	map(va, DATA_BASE + 0x5000, 0, PTE_LEAF);
	expect_rwx(va + 0xff8, DATA_BASE + 0x5ff8);
	map(0xff00000000000000ULL, DATA_BASE, 0, PTE_LEAF);
	expect_rwx(0xff00000000000100ULL, DATA_BASE + 0x100);
	/* a 512 GiB leaf at level 3 */
	map(0x0001008000000000ULL, 0x8000000000ULL, 3, PTE_LEAF);
	expect_rwx(0x0001008000abcdefULL, 0x8000abcdefULL);
}

static void test_superpages(void **state)
{
	(void)state;
	new_space(SATP_MODE_SV39, PRIV_S);
	map(0x40200000, RAM_BASE + 0x400000, 1, PTE_LEAF); /* 2 MiB */
	expect_rwx(0x40200000 + 0x1fffff, RAM_BASE + 0x5fffff);
	expect_rwx(0x40200000 + 0x123456, RAM_BASE + 0x523456);
	map(0x80000000, 0xc0000000, 2, PTE_LEAF); /* 1 GiB */
	expect_rwx(0x80000000 + 0x3fffffff, 0xffffffff);
	expect_rwx(0x80000000 + 0x12345678, 0xd2345678);
}

static void test_misaligned_superpage(void **state)
{
	(void)state;
	new_space(SATP_MODE_SV39, PRIV_S);
	/* 2 MiB leaf whose PPN is only 4 KiB aligned */
	map(0x40200000, RAM_BASE + 0x401000, 1, PTE_LEAF);
	expect_page_faults(0x40200000);
	/* 1 GiB leaf whose PPN is only 2 MiB aligned */
	map(0x80000000, 0xc0200000, 2, PTE_LEAF);
	expect_page_faults(0x80000000);
}

static void test_non_canonical(void **state)
{
	(void)state;
	new_space(SATP_MODE_SV39, PRIV_S);
	/* a leaf at the top of the lower half; the addresses below have
	 * the same low 39 bits, so only the canonical check can reject them */
	map(0x3ffffff000ULL, DATA_BASE, 0, PTE_LEAF);
	expect_rwx(0x3ffffff000ULL, DATA_BASE);
	expect_page_faults(0x3ffffff000ULL | 1ULL << 39);
	expect_page_faults(0x3ffffff000ULL | 1ULL << 63);
	expect_page_faults(0x3ffffff000ULL | 0xffffff8000000000ULL >> 1);
	/* canonical for Sv48 but not for Sv39 */
	expect_page_faults(0x00007f1234567000ULL);
	new_space(SATP_MODE_SV48, PRIV_S);
	expect_page_faults(0x0000800000000000ULL); /* bit 47 without 63:48 */
	new_space(SATP_MODE_SV57, PRIV_S);
	expect_page_faults(0x0100000000000000ULL); /* bit 56 without 63:57 */
}

static void test_invalid_ptes(void **state)
{
	(void)state;
	new_space(SATP_MODE_SV39, PRIV_S);
	uint64_t a = map(0x40001000, DATA_BASE, 0, PTE_LEAF & ~PTE_V);
	expect_page_faults(0x40001000); /* V = 0 */
	wr64(a, pte_of(DATA_BASE, PTE_V | PTE_W | PTE_AD));
	expect_page_faults(0x40001000); /* W without R */
	wr64(a, pte_of(DATA_BASE, PTE_V | PTE_W | PTE_X | PTE_AD));
	expect_page_faults(0x40001000); /* W without R, with X */
	wr64(a, pte_of(DATA_BASE, PTE_LEAF) | 1ULL << 61);
	expect_page_faults(0x40001000); /* PBMT bits (Svpbmt absent) */
	wr64(a, pte_of(DATA_BASE, PTE_LEAF) | 1ULL << 54);
	expect_page_faults(0x40001000); /* reserved bits 60:54 */
	wr64(a, pte_of(DATA_BASE, PTE_LEAF));
	expect_rwx(0x40001000, DATA_BASE);
	/* a pointer (non-leaf) at the last level is a fault */
	wr64(a, pte_of(DATA_BASE, PTE_V));
	expect_page_faults(0x40001000);
	/* V = 0 in the root entry */
	uint64_t ra = root + ((0x40001000ULL >> 30) & 0x1ff) * 8;
	uint64_t r = rd64(ra);
	wr64(ra, r & ~PTE_V);
	wr64(a, pte_of(DATA_BASE, PTE_LEAF));
	expect_page_faults(0x40001000);
	wr64(ra, r);
	expect_rwx(0x40001000, DATA_BASE);
}

static void test_permissions(void **state)
{
	(void)state;
	uint64_t gpa;
	new_space(SATP_MODE_SV39, PRIV_S);
	map(0x1000, DATA_BASE, 0, PTE_V | PTE_R | PTE_AD);
	map(0x2000, DATA_BASE, 0, PTE_V | PTE_R | PTE_W | PTE_AD);
	map(0x3000, DATA_BASE, 0, PTE_V | PTE_X | PTE_AD);
	expect_faults(0x1000, 0, EXC_STORE_PAGE_FAULT, EXC_INSN_PAGE_FAULT);
	expect_faults(0x2000, 0, 0, EXC_INSN_PAGE_FAULT);
	expect_faults(0x3000, EXC_LOAD_PAGE_FAULT, EXC_STORE_PAGE_FAULT, 0);
	assert_int_equal(xlate(0x3004, MMU_FETCH, &gpa), 0);
	assert_int_equal(gpa, DATA_BASE + 4);
}

static void test_user_pages_from_s(void **state)
{
	(void)state;
	new_space(SATP_MODE_SV39, PRIV_S);
	map(0x10000, DATA_BASE, 0, PTE_LEAF | PTE_U);
	/* SUM = 0: no S access to U pages */
	expect_page_faults(0x10000);
	/* SUM = 1: loads and stores, but never execution */
	set_mstatus(MSTATUS_SUM, true);
	expect_faults(0x10000, 0, 0, EXC_INSN_PAGE_FAULT);
	set_mstatus(MSTATUS_SUM, false);
	expect_page_faults(0x10000);
}

static void test_u_mode(void **state)
{
	(void)state;
	new_space(SATP_MODE_SV39, PRIV_U);
	map(0x10000, DATA_BASE, 0, PTE_LEAF | PTE_U);
	map(0x11000, DATA_BASE + 0x1000, 0, PTE_LEAF);
	expect_rwx(0x10010, DATA_BASE + 0x10);
	expect_page_faults(0x11000); /* S page */
	set_mstatus(MSTATUS_SUM, true);
	expect_page_faults(0x11000); /* SUM does not matter for U */
}

static void test_mxr(void **state)
{
	(void)state;
	uint64_t gpa;
	new_space(SATP_MODE_SV39, PRIV_S);
	map(0x3000, DATA_BASE, 0, PTE_V | PTE_X | PTE_AD);
	assert_int_equal(xlate(0x3000, MMU_LOAD, &gpa), EXC_LOAD_PAGE_FAULT);
	set_mstatus(MSTATUS_MXR, true);
	assert_int_equal(xlate(0x3000, MMU_LOAD, &gpa), 0);
	assert_int_equal(gpa, DATA_BASE);
	/* MXR gives read, not write */
	assert_int_equal(xlate(0x3000, MMU_STORE, &gpa), EXC_STORE_PAGE_FAULT);
	/* MXR with a U page from U-mode */
	map(0x4000, DATA_BASE, 0, PTE_V | PTE_X | PTE_U | PTE_AD);
	h->s.priv = PRIV_U;
	hart_update_tlb_ctx(h);
	assert_int_equal(xlate(0x4000, MMU_LOAD, &gpa), 0);
	set_mstatus(MSTATUS_MXR, false);
	assert_int_equal(xlate(0x4000, MMU_LOAD, &gpa), EXC_LOAD_PAGE_FAULT);
}

static void test_mprv(void **state)
{
	(void)state;
	uint64_t gpa;
	new_space(SATP_MODE_SV39, PRIV_M);
	map(0x40001000, DATA_BASE, 0, PTE_LEAF);
	map(0x40002000, DATA_BASE + 0x1000, 0, PTE_LEAF | PTE_U);
	/* M-mode without MPRV: bare */
	expect_rwx(0x40001000, 0x40001000);
	/* MPRV with MPP = S: loads and stores translate, fetches do not */
	h->s.mstatus = MSTATUS_MPRV | (uint64_t)PRIV_S << MSTATUS_MPP_SHIFT;
	hart_update_tlb_ctx(h);
	assert_int_equal(xlate(0x40001008, MMU_LOAD, &gpa), 0);
	assert_int_equal(gpa, DATA_BASE + 8);
	assert_int_equal(xlate(0x40001008, MMU_STORE, &gpa), 0);
	assert_int_equal(gpa, DATA_BASE + 8);
	assert_int_equal(xlate(0x40001008, MMU_FETCH, &gpa), 0);
	assert_int_equal(gpa, 0x40001008);
	/* ... with S rules: U page needs SUM */
	assert_int_equal(xlate(0x40002000, MMU_LOAD, &gpa),
			 EXC_LOAD_PAGE_FAULT);
	/* MPP = U: the U page works, the S page faults */
	h->s.mstatus = MSTATUS_MPRV | (uint64_t)PRIV_U << MSTATUS_MPP_SHIFT;
	hart_update_tlb_ctx(h);
	assert_int_equal(xlate(0x40002010, MMU_LOAD, &gpa), 0);
	assert_int_equal(gpa, DATA_BASE + 0x1010);
	assert_int_equal(xlate(0x40001000, MMU_STORE, &gpa),
			 EXC_STORE_PAGE_FAULT);
	/* MPP = M: bare again */
	h->s.mstatus = MSTATUS_MPRV | (uint64_t)PRIV_M << MSTATUS_MPP_SHIFT;
	hart_update_tlb_ctx(h);
	assert_int_equal(xlate(0x40002010, MMU_LOAD, &gpa), 0);
	assert_int_equal(gpa, 0x40002010);
	/* the data path honours MPRV too */
	h->s.mstatus = MSTATUS_MPRV | (uint64_t)PRIV_S << MSTATUS_MPP_SHIFT;
	hart_update_tlb_ctx(h);
	wr64(DATA_BASE + 0x20, 0x1122334455667788ULL);
	uint64_t v = 0, tval = 0;
	assert_int_equal(mmu_load_slow(h, 0x40001020, 8, &v, &tval), 0);
	assert_int_equal(v, 0x1122334455667788ULL);
}

static void test_ad_update(void **state)
{
	(void)state;
	uint64_t gpa;
	new_space(SATP_MODE_SV39, PRIV_S);
	uint64_t a = map(0x5000, DATA_BASE, 0, PTE_V | PTE_RWX);
	assert_int_equal(xlate(0x5000, MMU_LOAD, &gpa), 0);
	assert_int_equal(rd64(a) & PTE_AD, PTE_A);
	assert_int_equal(xlate(0x5000, MMU_STORE, &gpa), 0);
	assert_int_equal(rd64(a) & PTE_AD, PTE_AD);
	/* fetch sets A only; the PTE's other bits are kept */
	wr64(a, pte_of(DATA_BASE, PTE_V | PTE_RWX | PTE_G));
	assert_int_equal(xlate(0x5000, MMU_FETCH, &gpa), 0);
	assert_int_equal(rd64(a),
			 pte_of(DATA_BASE, PTE_V | PTE_RWX | PTE_G | PTE_A));
	/* a faulting access sets nothing */
	wr64(a, pte_of(DATA_BASE, PTE_V | PTE_R));
	assert_int_equal(xlate(0x5000, MMU_STORE, &gpa), EXC_STORE_PAGE_FAULT);
	assert_int_equal(rd64(a), pte_of(DATA_BASE, PTE_V | PTE_R));
	/* superpage leaves get A/D too */
	uint64_t s = map(0x40200000, RAM_BASE + 0x400000, 1, PTE_V | PTE_RWX);
	assert_int_equal(xlate(0x40200008, MMU_STORE, &gpa), 0);
	assert_int_equal(rd64(s) & PTE_AD, PTE_AD);
}

/* NAPOT pmpaddr for the naturally aligned power-of-two region [base,
 * base+size), size >= 8. */
static uint64_t napot(uint64_t base, uint64_t size)
{
	return (base >> 2) | ((size >> 3) - 1);
}

static void test_pmp_on_page_table(void **state)
{
	(void)state;
	uint64_t gpa;
	new_space(SATP_MODE_SV39, PRIV_S);
	map(0x40001000, DATA_BASE, 0, PTE_LEAF);
	uint64_t leaf_table = pte_addr(0x40001000, 0) & ~GUEST_PAGE_MASK;
	/* entry 0: the leaf table, no access; entry 1: everything RWX */
	h->s.pmpaddr[0] = napot(leaf_table, GUEST_PAGE_SIZE);
	h->s.pmpcfg[0] = PMP_A_NAPOT;
	h->s.pmpaddr[1] = ~0ULL >> 10;
	h->s.pmpcfg[1] = PMP_A_NAPOT | PMP_R | PMP_W | PMP_X;
	pmp_update(h);
	assert_false(pmp_check(h, leaf_table, 8, PRIV_S, MMU_LOAD));
	assert_true(pmp_check(h, DATA_BASE, 8, PRIV_S, MMU_LOAD));
	expect_faults(0x40001000, EXC_LOAD_ACCESS, EXC_STORE_ACCESS,
		      EXC_INSN_ACCESS);
	/* read-only page table: fine while A/D are set ... */
	h->s.pmpcfg[0] = PMP_A_NAPOT | PMP_R;
	pmp_update(h);
	expect_rwx(0x40001000, DATA_BASE);
	/* ... but the A/D update is a store to the PTE: access fault */
	uint64_t a = pte_addr(0x40001000, 0);
	wr64(a, pte_of(DATA_BASE, PTE_V | PTE_RWX));
	assert_int_equal(xlate(0x40001000, MMU_LOAD, &gpa), EXC_LOAD_ACCESS);
	/* PMP on the final address is the caller's (load/store path) */
	h->s.pmpcfg[0] = PMP_A_NAPOT | PMP_R | PMP_W;
	h->s.pmpaddr[1] = napot(DATA_BASE, GUEST_PAGE_SIZE);
	h->s.pmpcfg[1] = PMP_A_NAPOT | PMP_R;
	h->s.pmpaddr[2] = ~0ULL >> 10;
	h->s.pmpcfg[2] = PMP_A_NAPOT | PMP_R | PMP_W | PMP_X;
	pmp_update(h);
	uint64_t v, tval;
	assert_int_equal(mmu_load_slow(h, 0x40001000, 8, &v, &tval), 0);
	assert_int_equal(mmu_store_slow(h, 0x40001000, 8, 1, &tval),
			 EXC_STORE_ACCESS);
	assert_int_equal(tval, 0x40001000);
}

/* ---- the software TLB -------------------------------------------------------- */

static struct tlb_entry *load_entry(uint64_t va)
{
	return &h->tlb_load[(va >> 12) & (TLB_SIZE - 1)];
}

static struct tlb_entry *store_entry(uint64_t va)
{
	return &h->tlb_store[(va >> 12) & (TLB_SIZE - 1)];
}

/* A data page that has been written (a private frame, not the zero
 * frame), mapped at va. */
static void map_data(uint64_t va, uint64_t pa, uint64_t flags)
{
	map(va, pa, 0, flags);
	wr64(pa + 8, 0xa5a5a5a55a5a5a5aULL);
}

static void test_tlb_fill_and_flush_va(void **state)
{
	(void)state;
	uint64_t v = 0, tval;
	new_space(SATP_MODE_SV39, PRIV_S);
	map_data(0x40001000, DATA_BASE, PTE_LEAF);
	assert_int_equal(load_entry(0x40001008)->tag, TLB_TAG_EMPTY);
	assert_int_equal(mmu_load_slow(h, 0x40001008, 8, &v, &tval), 0);
	assert_int_equal(v, 0xa5a5a5a55a5a5a5aULL);
	/* the fast path: tag compare + add */
	struct tlb_entry *e = load_entry(0x40001008);
	assert_int_equal(e->tag, 0x40001000);
	assert_int_equal(e->gpa_page, DATA_BASE);
	uint64_t va = 0x40001008;
	assert_true((va & tlb_cmp_mask(8)) == e->tag);
	assert_false(((va + 1) & tlb_cmp_mask(8)) == e->tag); /* misaligned */
	uint64_t host;
	memcpy(&host, (void *)(uintptr_t)(va + e->addend), 8);
	assert_int_equal(host, 0xa5a5a5a55a5a5a5aULL);
	/* the entry points at the frame: a store through gmem is seen */
	wr64(DATA_BASE + 8, 42);
	memcpy(&host, (void *)(uintptr_t)(va + e->addend), 8);
	assert_int_equal(host, 42);
	/* sfence.vma va */
	tlb_flush_va(h, 0x40001abc);
	assert_int_equal(e->tag, TLB_TAG_EMPTY);
	/* a store fills the store TLB of the page, not a read-only page's */
	assert_int_equal(mmu_store_slow(h, 0x40001010, 8, 7, &tval), 0);
	assert_int_equal(store_entry(0x40001010)->tag, 0x40001000);
	assert_int_equal(rd64(DATA_BASE + 0x10), 7);
	map_data(0x40002000, DATA_BASE + 0x1000, PTE_V | PTE_R | PTE_AD);
	assert_int_equal(mmu_load_slow(h, 0x40002008, 8, &v, &tval), 0);
	assert_int_equal(load_entry(0x40002008)->tag, 0x40002000);
	assert_int_equal(mmu_store_slow(h, 0x40002008, 8, 1, &tval),
			 EXC_STORE_PAGE_FAULT);
	assert_int_equal(store_entry(0x40002008)->tag, TLB_TAG_EMPTY);
}

static void test_tlb_satp_write_flushes(void **state)
{
	(void)state;
	uint64_t v, tval;
	new_space(SATP_MODE_SV39, PRIV_S);
	map_data(0x40001000, DATA_BASE, PTE_LEAF);
	assert_int_equal(mmu_load_slow(h, 0x40001008, 8, &v, &tval), 0);
	assert_int_equal(load_entry(0x40001008)->tag, 0x40001000);
	/* remap the page in memory: the TLB still has the old entry */
	map_data(0x40001000, DATA_BASE + 0x2000, PTE_LEAF);
	assert_int_equal(load_entry(0x40001008)->tag, 0x40001000);
	assert_int_equal(csr_write(h, CSR_SATP, h->s.satp), 0);
	assert_int_equal(load_entry(0x40001008)->tag, TLB_TAG_EMPTY);
	assert_int_equal(mmu_load_slow(h, 0x40001008, 8, &v, &tval), 0);
	assert_int_equal(load_entry(0x40001008)->gpa_page, DATA_BASE + 0x2000);
	/* an unsupported mode is ignored and flushes nothing it need not */
	uint64_t satp = h->s.satp;
	assert_int_equal(csr_write(h, CSR_SATP, 7ULL << SATP_MODE_SHIFT), 0);
	assert_int_equal(h->s.satp, satp);
}

static void test_tlb_mstatus_changes(void **state)
{
	(void)state;
	uint64_t v, tval;
	new_space(SATP_MODE_SV39, PRIV_S);
	/* SUM selects another TLB context: clearing it hides U pages */
	map_data(0x40001000, DATA_BASE, PTE_LEAF | PTE_U);
	assert_int_equal(csr_write(h, CSR_SSTATUS, MSTATUS_SUM), 0);
	assert_int_equal(mmu_load_slow(h, 0x40001008, 8, &v, &tval), 0);
	assert_int_equal(load_entry(0x40001008)->tag, 0x40001000);
	assert_int_equal(csr_write(h, CSR_SSTATUS, 0), 0);
	assert_int_equal(load_entry(0x40001008)->tag, TLB_TAG_EMPTY);
	assert_int_equal(mmu_load_slow(h, 0x40001008, 8, &v, &tval),
			 EXC_LOAD_PAGE_FAULT);
	assert_int_equal(tval, 0x40001008);
	/* MXR: a load through an execute-only page must not survive MXR = 0 */
	map_data(0x40003000, DATA_BASE + 0x3000, PTE_V | PTE_X | PTE_AD);
	assert_int_equal(csr_write(h, CSR_SSTATUS, MSTATUS_MXR), 0);
	assert_int_equal(mmu_load_slow(h, 0x40003008, 8, &v, &tval), 0);
	assert_int_equal(csr_write(h, CSR_SSTATUS, 0), 0);
	assert_int_equal(load_entry(0x40003008)->tag, TLB_TAG_EMPTY);
	assert_int_equal(mmu_load_slow(h, 0x40003008, 8, &v, &tval),
			 EXC_LOAD_PAGE_FAULT);
}

static void test_tlb_zero_frame(void **state)
{
	(void)state;
	uint64_t v = 1, tval;
	new_space(SATP_MODE_SV39, PRIV_S);
	/* DATA_BASE + 0x7000 was never written: the shared zero frame */
	map(0x40007000, DATA_BASE + 0x7000, 0, PTE_LEAF);
	assert_int_equal(mmu_load_slow(h, 0x40007008, 8, &v, &tval), 0);
	assert_int_equal(v, 0);
	assert_int_equal(load_entry(0x40007008)->tag, TLB_TAG_EMPTY);
	/* the same in M-mode (bare) */
	h->s.priv = PRIV_M;
	hart_update_tlb_ctx(h);
	assert_int_equal(mmu_load_slow(h, DATA_BASE + 0x7010, 8, &v, &tval), 0);
	assert_int_equal(load_entry(DATA_BASE + 0x7010)->tag, TLB_TAG_EMPTY);
	/* after the first store the frame is private and may be cached */
	assert_int_equal(mmu_store_slow(h, DATA_BASE + 0x7010, 8, 5, &tval), 0);
	assert_int_equal(mmu_load_slow(h, DATA_BASE + 0x7010, 8, &v, &tval), 0);
	assert_int_equal(v, 5);
	assert_int_equal(load_entry(DATA_BASE + 0x7010)->tag,
			 DATA_BASE + 0x7000);
}

/* A device model's callback: a TLB flush posted to its hart meanwhile
 * counts as done (the hart may block here on a thread that waits for the
 * flush), a fence.i does not; the hart flushes on its way out. */
static unsigned mmio_seen;

static uint64_t flush_probe_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)size;
	hart_request(h, HART_REQ_TLB_FLUSH);
	mmio_seen += hart_request_done(h, HART_REQ_TLB_FLUSH);
	hart_request(h, HART_REQ_FENCE_I);
	mmio_seen += !hart_request_done(h, HART_REQ_FENCE_I);
	atomic_fetch_and(&h->requests, ~(unsigned)HART_REQ_FENCE_I);
	return 0x77;
}

static void flush_probe_write(void *opaque, uint64_t off, uint64_t v,
			      unsigned size)
{
	(void)opaque;
	(void)off;
	(void)v;
	(void)size;
}

static void test_mmio_counts_as_flushed(void **state)
{
	static const struct mmio_ops ops = { flush_probe_read,
					     flush_probe_write };
	uint64_t v = 0, tval;

	(void)state;
	assert_int_equal(gmem_map_mmio(mem, 0x10000000, 0x1000, &ops, NULL,
				       "probe", NULL),
			 0);
	wr64(DATA_BASE + 8, 1);		/* a private frame: cached for loads */
	atomic_store(&h->in_run, true); /* as inside hart_run() */
	assert_int_equal(mmu_load_slow(h, DATA_BASE + 8, 8, &v, &tval), 0);
	assert_int_equal(load_entry(DATA_BASE + 8)->tag, DATA_BASE);
	/* outside a device model a posted flush waits for the hart */
	hart_request(h, HART_REQ_TLB_FLUSH);
	assert_false(hart_request_done(h, HART_REQ_TLB_FLUSH));
	hart_service_tlb_flush(h);
	assert_true(hart_request_done(h, HART_REQ_TLB_FLUSH));
	assert_int_equal(load_entry(DATA_BASE + 8)->tag, TLB_TAG_EMPTY);

	assert_int_equal(mmu_load_slow(h, DATA_BASE + 8, 8, &v, &tval), 0);
	assert_int_equal(load_entry(DATA_BASE + 8)->tag, DATA_BASE);
	mmio_seen = 0;
	assert_int_equal(mmu_load_slow(h, 0x10000000, 4, &v, &tval), 0);
	assert_int_equal(v, 0x77);
	assert_int_equal(mmio_seen, 2);
	/* served on the way out of the device model */
	assert_int_equal(atomic_load(&h->requests) & HART_REQ_TLB_FLUSH, 0);
	assert_int_equal(load_entry(DATA_BASE + 8)->tag, TLB_TAG_EMPTY);
	atomic_store(&h->in_run, false);
}

static void test_tlb_no_store_entry_for_code(void **state)
{
	(void)state;
	uint64_t v, tval;
	const uint64_t code = DATA_BASE + 0x9000;
	const uint32_t insns[2] = { 0x00000013, 0x00008067 }; /* nop; ret */

	new_space(SATP_MODE_SV39, PRIV_M); /* M-mode: bare addresses */
	bcache_flush(h);
	assert_int_equal(gmem_write(mem, code, insns, sizeof(insns)), 0);
	/* before it holds code, a store may be cached */
	assert_int_equal(mmu_store_slow(h, code + 0x800, 8, 1, &tval), 0);
	assert_int_equal(store_entry(code + 0x800)->tag, code);
	/* decoding a block there makes it a code page: the entry goes */
	h->s.pc = code;
	assert_non_null(bcache_lookup_slow(h));
	assert_true(bcache_is_code_page(&h->bc, code));
	assert_int_equal(store_entry(code + 0x800)->tag, TLB_TAG_EMPTY);
	/* a store there is not cached; it drops the page's decoded blocks
	 * (any store to a code page does), so the page is no longer code */
	assert_int_equal(mmu_store_slow(h, code + 0x800, 8, 2, &tval), 0);
	assert_int_equal(store_entry(code + 0x800)->tag, TLB_TAG_EMPTY);
	assert_int_equal(rd64(code + 0x800), 2);
	assert_false(bcache_is_code_page(&h->bc, code));
	/* loads from a code page may be cached */
	h->bc.prev = NULL;
	assert_non_null(bcache_lookup_slow(h));
	assert_true(bcache_is_code_page(&h->bc, code));
	assert_int_equal(mmu_load_slow(h, code + 0x800, 8, &v, &tval), 0);
	assert_int_equal(v, 2);
	assert_int_equal(load_entry(code + 0x800)->tag, code);
}

/* Live migration's dirty log: no store entry is cached while it is on
 * (neither by the slow path nor by the JIT's fill), so every store reaches
 * gmem_page and marks its frame; loads may still be cached. */
static void test_tlb_dirty_log(void **state)
{
	(void)state;
	uint64_t v, tval;
	const uint64_t pa = DATA_BASE + 0xb000;
	size_t nw = gmem_dirty_log_words(mem);
	uint64_t *bm = calloc(nw, sizeof(*bm));
	assert_non_null(bm);

	new_space(SATP_MODE_SV39, PRIV_M); /* M-mode: bare addresses */
	assert_int_equal(mmu_store_slow(h, pa, 8, 1, &tval), 0);
	assert_int_equal(store_entry(pa)->tag, pa);
	tlb_flush_all(h);
	gmem_dirty_log_start(mem);
	assert_int_equal(mmu_store_slow(h, pa + 8, 8, 2, &tval), 0);
	assert_int_equal(store_entry(pa)->tag, TLB_TAG_EMPTY);
	assert_false(mmu_jit_fill(h, pa + 16, 8, true));
	assert_int_equal(store_entry(pa)->tag, TLB_TAG_EMPTY);
	assert_true(mmu_jit_fill(h, pa + 16, 8, false));
	assert_int_equal(mmu_load_slow(h, pa + 8, 8, &v, &tval), 0);
	assert_int_equal(v, 2);
	uint64_t gfn = (pa - RAM_BASE) >> 12;
	assert_int_equal(gmem_dirty_log_collect(mem, bm, nw), 1);
	assert_true(bm[gfn / 64] & (1ULL << (gfn % 64)));
	/* a store after the collect marks the frame again */
	assert_int_equal(mmu_store_slow(h, pa + 24, 8, 3, &tval), 0);
	assert_int_equal(gmem_dirty_log_collect(mem, bm, nw), 1);
	gmem_dirty_log_stop(mem);
	/* with the log off, the page is cached for stores again */
	assert_true(mmu_jit_fill(h, pa + 16, 8, true));
	assert_int_equal(store_entry(pa)->tag, pa);
	free(bm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sv39_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmio_counts_as_flushed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sv48_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sv57_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_superpages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_misaligned_superpage,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_canonical, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_invalid_ptes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_permissions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_user_pages_from_s, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_u_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mxr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mprv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlb_dirty_log, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ad_update, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pmp_on_page_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tlb_fill_and_flush_va,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlb_satp_write_flushes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlb_mstatus_changes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tlb_zero_frame, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_tlb_no_store_entry_for_code, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
