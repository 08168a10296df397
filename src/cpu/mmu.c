/*
 * Memory virtualization of the hart: guest virtual -> guest physical through
 * the guest's page tables (Sv39/Sv48/Sv57, priv. spec 4.3-4.6), PMP checks
 * (3.7), and the software TLB that caches guest virtual -> host pointer.
 * A/D bits are updated by the walker (Svadu behaviour), atomically.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "cpu/exec.h"

/* ---- TLB maintenance ------------------------------------------------------ */

static void tlb_clear(struct tlb_entry *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		t[i].tag = TLB_TAG_EMPTY;
}

void tlb_flush_all(struct hart *h)
{
	tlb_clear(&h->tlb_data[0][0][0], TLB_NCTX * 2 * TLB_SIZE);
	tlb_clear(&h->tlb_code[0][0], TLB_NCTX * TLB_SIZE);
}

void tlb_flush_va(struct hart *h, uint64_t va)
{
	unsigned i = (va >> GUEST_PAGE_SHIFT) & (TLB_SIZE - 1);
	for (int c = 0; c < TLB_NCTX; c++) {
		h->tlb_data[c][0][i].tag = TLB_TAG_EMPTY;
		h->tlb_data[c][1][i].tag = TLB_TAG_EMPTY;
		h->tlb_code[c][i].tag = TLB_TAG_EMPTY;
	}
}

void tlb_flush_store_gpa(struct hart *h, uint64_t gpa_page)
{
	for (int c = 0; c < TLB_NCTX; c++)
		for (unsigned i = 0; i < TLB_SIZE; i++) {
			struct tlb_entry *e = &h->tlb_data[c][1][i];
			if (e->tag != TLB_TAG_EMPTY && e->gpa_page == gpa_page)
				e->tag = TLB_TAG_EMPTY;
		}
}

bool hart_tlb_maps_store(const struct hart *h, uint64_t gpa_page)
{
	/* another thread's entries: each field read once, as its hart may be
	 * replacing it (code.c: a torn read hides only an entry no store uses) */
	for (int c = 0; c < TLB_NCTX; c++)
		for (unsigned i = 0; i < TLB_SIZE; i++) {
			const struct tlb_entry *e = &h->tlb_data[c][1][i];
			if (__atomic_load_n(&e->gpa_page, __ATOMIC_RELAXED) ==
				    gpa_page &&
			    __atomic_load_n(&e->tag, __ATOMIC_RELAXED) !=
				    TLB_TAG_EMPTY)
				return true;
		}
	return false;
}

static inline enum priv data_priv(const struct hart *h)
{
	if ((h->s.mstatus & MSTATUS_MPRV) && h->s.priv == PRIV_M)
		return (enum priv)((h->s.mstatus & MSTATUS_MPP) >>
				   MSTATUS_MPP_SHIFT);
	return h->s.priv;
}

static inline enum tlb_ctx ctx_of(enum priv p, bool sum)
{
	switch (p) {
	case PRIV_U: return TLB_CTX_U;
	case PRIV_S: return sum ? TLB_CTX_S_SUM : TLB_CTX_S;
	default: return TLB_CTX_M;
	}
}

void hart_update_tlb_ctx(struct hart *h)
{
	enum tlb_ctx d = ctx_of(data_priv(h), h->s.mstatus & MSTATUS_SUM);
	h->tlb_load = h->tlb_data[d][0];
	h->tlb_store = h->tlb_data[d][1];
	h->tlb_fetch = h->tlb_code[ctx_of(h->s.priv, false)];
}

/* ---- PMP (3.7) ------------------------------------------------------------- */

void pmp_update(struct hart *h)
{
	h->pmp_active = false;
	for (int i = 0; i < PMP_COUNT; i++)
		if (h->s.pmpcfg[i] & PMP_A)
			h->pmp_active = true;
	tlb_flush_all(h);
}

/* Address range [lo, hi) matched by entry i; false if OFF. */
static bool pmp_range(const struct hart *h, int i, uint64_t *lo, uint64_t *hi)
{
	uint8_t cfg = h->s.pmpcfg[i];
	uint64_t a = h->s.pmpaddr[i];

	switch (cfg & PMP_A) {
	case PMP_A_TOR:
		*lo = i ? h->s.pmpaddr[i - 1] << 2 : 0;
		*hi = a << 2;
		return true;
	case PMP_A_NA4:
		*lo = a << 2;
		*hi = *lo + 4;
		return true;
	case PMP_A_NAPOT: {
		/* trailing ones of pmpaddr give the size: 2^(ones+3) bytes */
		unsigned ones = (unsigned)__builtin_ctzll(~a);
		if (ones >= 54) {
			*lo = 0;
			*hi = ~0ULL;
			return true;
		}
		uint64_t size = 8ULL << ones;
		*lo = (a << 2) & ~(size - 1);
		*hi = *lo + size;
		return true;
	}
	default: return false;
	}
}

bool pmp_check(struct hart *h, uint64_t pa, uint64_t size, enum priv priv,
	       enum mmu_access acc)
{
	if (!h->pmp_active)
		return true;
	uint64_t end = pa + size;
	for (int i = 0; i < PMP_COUNT; i++) {
		uint64_t lo, hi;
		if (!pmp_range(h, i, &lo, &hi))
			continue;
		bool any = pa < hi && end > lo;
		if (!any)
			continue;
		/* the lowest-numbered matching entry decides; it must cover
		 * every byte of the access */
		if (pa < lo || end > hi)
			return false;
		uint8_t cfg = h->s.pmpcfg[i];
		if (priv == PRIV_M && !(cfg & PMP_L))
			return true;
		switch (acc) {
		case MMU_LOAD: return cfg & PMP_R;
		case MMU_STORE: return cfg & PMP_W;
		default: return cfg & PMP_X;
		}
	}
	/* No entry matched. M-mode succeeds. For S/U the spec fails the access
	 * when "at least one PMP entry is implemented"; like QEMU we count only
	 * active entries (pmp_active), so software that never programs PMP
	 * keeps working (docs/cpu.md). */
	return priv == PRIV_M;
}

/* ---- page-table walk (4.3.2, generalized to Sv48/Sv57 in 4.5/4.6) ------- */

static int fault_cause(enum mmu_access acc)
{
	static const int c[] = { EXC_LOAD_PAGE_FAULT, EXC_STORE_PAGE_FAULT,
				 EXC_INSN_PAGE_FAULT };
	return c[acc];
}

static int access_cause(enum mmu_access acc)
{
	static const int c[] = { EXC_LOAD_ACCESS, EXC_STORE_ACCESS,
				 EXC_INSN_ACCESS };
	return c[acc];
}

static int walk(struct hart *h, uint64_t va, enum mmu_access acc,
		enum priv priv, uint64_t *gpa)
{
	uint64_t satp = h->s.satp;
	unsigned mode = (unsigned)(satp >> SATP_MODE_SHIFT);
	unsigned levels = mode == SATP_MODE_SV39   ? 3
			  : mode == SATP_MODE_SV48 ? 4
						   : 5;
	unsigned va_bits = 12 + 9 * levels;

	/* bits above va_bits must equal bit va_bits-1 */
	if (((int64_t)(va << (64 - va_bits)) >> (64 - va_bits)) != (int64_t)va)
		return fault_cause(acc);

restart:;
	uint64_t a = (satp & SATP_PPN_MASK) << GUEST_PAGE_SHIFT;
	for (int i = (int)levels - 1; i >= 0; i--) {
		uint64_t pte_addr = a + ((va >> (12 + 9 * i)) & 0x1ff) * 8;
		if (!pmp_check(h, pte_addr, 8, PRIV_S, MMU_LOAD))
			return access_cause(acc);
		unsigned flags;
		uint8_t *page = gmem_page(h->mem, pte_addr, GMEM_READ, &flags);
		if (!page)
			return access_cause(acc);
		uint64_t *ptep = (uint64_t *)(page +
					      (pte_addr & GUEST_PAGE_MASK));
		uint64_t pte = __atomic_load_n(ptep, __ATOMIC_ACQUIRE);

		if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) ||
		    (pte & PTE_HIGH_MASK))
			return fault_cause(acc);
		if (!(pte & (PTE_R | PTE_X))) {
			/* pointer to the next level; A/D/U reserved here */
			if (i == 0 || (pte & (PTE_A | PTE_D | PTE_U)))
				return fault_cause(acc);
			a = ((pte >> PTE_PPN_SHIFT) & PTE_PPN_MASK)
			    << GUEST_PAGE_SHIFT;
			continue;
		}
		/* leaf: permissions (4.3.1, SUM/MXR in 3.1.6.3) */
		bool mxr = h->s.mstatus & MSTATUS_MXR;
		bool ok;
		switch (acc) {
		case MMU_FETCH: ok = pte & PTE_X; break;
		case MMU_LOAD:
			ok = (pte & PTE_R) || (mxr && (pte & PTE_X));
			break;
		default: ok = pte & PTE_W; break;
		}
		if (!ok)
			return fault_cause(acc);
		if (priv == PRIV_U && !(pte & PTE_U))
			return fault_cause(acc);
		if (priv == PRIV_S && (pte & PTE_U) &&
		    (acc == MMU_FETCH || !(h->s.mstatus & MSTATUS_SUM)))
			return fault_cause(acc);
		uint64_t ppn = (pte >> PTE_PPN_SHIFT) & PTE_PPN_MASK;
		uint64_t low_mask = (1ULL << (9 * i)) - 1;
		if (ppn & low_mask) /* misaligned superpage */
			return fault_cause(acc);
		/* hardware A/D update, atomic with the checks above */
		uint64_t want = pte | PTE_A | (acc == MMU_STORE ? PTE_D : 0);
		if (want != pte) {
			if (!pmp_check(h, pte_addr, 8, PRIV_S, MMU_STORE))
				return access_cause(acc);
			page = gmem_page(h->mem, pte_addr, GMEM_WRITE, &flags);
			if (!page)
				return access_cause(acc);
			gmem_code_store(h->mem, pte_addr);
			if (bcache_is_code_page(&h->bc, pte_addr))
				bcache_invalidate_page(
					h, pte_addr & ~GUEST_PAGE_MASK);
			ptep = (uint64_t *)(page +
					    (pte_addr & GUEST_PAGE_MASK));
			if (!__atomic_compare_exchange_n(
				    ptep, &pte, want, false, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE))
				goto restart;
			gmem_code_stored(h->mem, pte_addr);
			if (flags & GMEM_PAGE_LOGGED)
				gmem_dirty_log_wrote(h->mem, pte_addr, 8);
		}
		*gpa = ((ppn | ((va >> 12) & low_mask)) << GUEST_PAGE_SHIFT) |
		       (va & GUEST_PAGE_MASK);
		return 0;
	}
	return fault_cause(acc);
}

static inline enum priv access_priv(const struct hart *h, enum mmu_access acc)
{
	return acc == MMU_FETCH ? h->s.priv : data_priv(h);
}

int mmu_translate(struct hart *h, uint64_t va, enum mmu_access acc,
		  uint64_t *gpa)
{
	enum priv priv = access_priv(h, acc);

	if (priv == PRIV_M ||
	    (h->s.satp >> SATP_MODE_SHIFT) == SATP_MODE_BARE) {
		*gpa = va;
		return 0;
	}
	return walk(h, va, acc, priv, gpa);
}

/* ---- slow paths ----------------------------------------------------------- */

/* Host memory access of 1..8 bytes, any alignment (fixed-size memcpy
 * compiles to single moves; a variable size would call the library). */
static inline uint64_t read_sized(const uint8_t *p, unsigned size)
{
	uint8_t b;
	uint16_t hw;
	uint32_t w;
	uint64_t d;

	switch (size) {
	case 1: memcpy(&b, p, 1); return b;
	case 2: memcpy(&hw, p, 2); return hw;
	case 4: memcpy(&w, p, 4); return w;
	case 8: memcpy(&d, p, 8); return d;
	default:
		d = 0;
		for (unsigned i = 0; i < size; i++)
			d |= (uint64_t)p[i] << (8 * i);
		return d;
	}
}

static inline void write_sized(uint8_t *p, unsigned size, uint64_t v)
{
	uint8_t b = (uint8_t)v;
	uint16_t hw = (uint16_t)v;
	uint32_t w = (uint32_t)v;

	switch (size) {
	case 1: memcpy(p, &b, 1); break;
	case 2: memcpy(p, &hw, 2); break;
	case 4: memcpy(p, &w, 4); break;
	case 8: memcpy(p, &v, 8); break;
	default:
		for (unsigned i = 0; i < size; i++)
			p[i] = (uint8_t)(v >> (8 * i));
	}
}

static void tlb_fill(struct tlb_entry *e, uint64_t va, uint64_t gpa,
		     uint8_t *page)
{
	e->tag = va & ~GUEST_PAGE_MASK;
	e->addend = (uintptr_t)page - (va & ~GUEST_PAGE_MASK);
	e->gpa_page = gpa & ~GUEST_PAGE_MASK;
}

/* MMIO: the device model may block (hart_device_enter). */
static int bus_read(struct hart *h, uint64_t gpa, unsigned size, uint64_t *val)
{
	hart_device_enter(h);
	int r = gmem_bus_read(h->mem, gpa, size, val);
	hart_device_leave(h);
	return r;
}

static int bus_write(struct hart *h, uint64_t gpa, unsigned size, uint64_t val)
{
	hart_device_enter(h);
	int r = gmem_bus_write(h->mem, gpa, size, val);
	hart_device_leave(h);
	return r;
}

/* One access that lies within a page. */
static int load_in_page(struct hart *h, uint64_t va, unsigned size,
			uint64_t *val)
{
	uint64_t gpa;
	int cause = mmu_translate(h, va, MMU_LOAD, &gpa);
	if (cause)
		return cause;
	enum priv priv = data_priv(h);
	unsigned flags;
	uint8_t *page = gmem_page(h->mem, gpa, GMEM_READ, &flags);
	if (page) {
		if (!pmp_check(h, gpa, size, priv, MMU_LOAD))
			return EXC_LOAD_ACCESS;
		*val = read_sized(page + (gpa & GUEST_PAGE_MASK), size);
		/* a data trigger needs every access on this path */
		if (!(flags & (GMEM_PAGE_ZERO | GMEM_PAGE_NOCACHE)) &&
		    !(va & (size - 1)) && !h->trig_data &&
		    pmp_check(h, gpa & ~GUEST_PAGE_MASK, GUEST_PAGE_SIZE, priv,
			      MMU_LOAD))
			tlb_fill(&h->tlb_load[(va >> 12) & (TLB_SIZE - 1)], va,
				 gpa, page);
		return 0;
	}
	if (!pmp_check(h, gpa, size, priv, MMU_LOAD))
		return EXC_LOAD_ACCESS;
	if (gpa & (size - 1)) {
		/* misaligned MMIO: byte by byte */
		uint64_t v = 0;
		for (unsigned i = 0; i < size; i++) {
			uint64_t b;
			if (bus_read(h, gpa + i, 1, &b))
				return EXC_LOAD_ACCESS;
			v |= b << (8 * i);
		}
		*val = v;
		return 0;
	}
	if (bus_read(h, gpa, size, val))
		return EXC_LOAD_ACCESS;
	return 0;
}

int mmu_load_slow(struct hart *h, uint64_t va, unsigned size, uint64_t *val,
		  uint64_t *tval)
{
	uint64_t off = va & GUEST_PAGE_MASK;
	*tval = va;
	if (unlikely(h->trig_data) && trig_fire(h, TRIG_LOAD, va))
		return EXC_BREAKPOINT;
	if (off + size <= GUEST_PAGE_SIZE)
		return load_in_page(h, va, size, val);
	/* crosses a page: both halves translate before anything is read */
	unsigned n1 = (unsigned)(GUEST_PAGE_SIZE - off);
	uint64_t lo, hi, gpa;
	int cause = mmu_translate(h, va + n1, MMU_LOAD, &gpa);
	if (cause) {
		*tval = va + n1;
		return cause;
	}
	cause = load_in_page(h, va, n1, &lo);
	if (cause)
		return cause;
	cause = load_in_page(h, va + n1, size - n1, &hi);
	if (cause) {
		*tval = va + n1;
		return cause;
	}
	*val = lo | (hi << (8 * n1));
	return 0;
}

/* A store reached guest physical page that may hold decoded code. */
static void store_hits_code(struct hart *h, uint64_t gpa)
{
	uint64_t page = gpa & ~GUEST_PAGE_MASK;
	if (!bcache_is_code_page(&h->bc, gpa))
		return;
	bcache_invalidate_page(h, page);
	if (page == h->running_block_page)
		h->ended_block_for_smc = true;
}

static int store_in_page(struct hart *h, uint64_t va, unsigned size,
			 uint64_t val)
{
	uint64_t gpa;
	int cause = mmu_translate(h, va, MMU_STORE, &gpa);
	if (cause)
		return cause;
	enum priv priv = data_priv(h);
	if (!pmp_check(h, gpa, size, priv, MMU_STORE))
		return EXC_STORE_ACCESS;
	unsigned flags;
	uint8_t *page = gmem_page(h->mem, gpa, GMEM_WRITE, &flags);
	if (page) {
		bool code = bcache_is_code_page(&h->bc, gpa);
		/* some hart may have decoded from it: log, unmark (code.c) */
		gmem_code_store(h->mem, gpa);
		write_sized(page + (gpa & GUEST_PAGE_MASK), size, val);
		if (flags & GMEM_PAGE_LOGGED)
			gmem_dirty_log_wrote(h->mem, gpa, size);
		if (code)
			store_hits_code(h, gpa);
		else if (!(flags & (GMEM_PAGE_READONLY | GMEM_PAGE_ZERO |
				    GMEM_PAGE_NOCACHE | GMEM_PAGE_LOGGED)) &&
			 !(va & (size - 1)) && !h->trig_data &&
			 pmp_check(h, gpa & ~GUEST_PAGE_MASK, GUEST_PAGE_SIZE,
				   priv, MMU_STORE))
			/* the frame is unmarked now; a first mark from now
			 * on finds the entry (gmem_code_stored fences) */
			tlb_fill(&h->tlb_store[(va >> 12) & (TLB_SIZE - 1)], va,
				 gpa, page);
		/* a first mark meanwhile may not have seen the write */
		gmem_code_stored(h->mem, gpa);
		return 0;
	}
	if (gpa & (size - 1)) {
		for (unsigned i = 0; i < size; i++)
			if (bus_write(h, gpa + i, 1, (val >> (8 * i)) & 0xff))
				return EXC_STORE_ACCESS;
		return 0;
	}
	if (bus_write(h, gpa, size, val))
		return EXC_STORE_ACCESS;
	return 0;
}

int mmu_store_slow(struct hart *h, uint64_t va, unsigned size, uint64_t val,
		   uint64_t *tval)
{
	uint64_t off = va & GUEST_PAGE_MASK;
	*tval = va;
	if (unlikely(h->trig_data) && trig_fire(h, TRIG_STORE, va))
		return EXC_BREAKPOINT;
	if (off + size <= GUEST_PAGE_SIZE)
		return store_in_page(h, va, size, val);
	unsigned n1 = (unsigned)(GUEST_PAGE_SIZE - off);
	uint64_t gpa;
	/* translate both halves first so a fault writes nothing */
	int cause = mmu_translate(h, va, MMU_STORE, &gpa);
	if (cause)
		return cause;
	cause = mmu_translate(h, va + n1, MMU_STORE, &gpa);
	if (cause) {
		*tval = va + n1;
		return cause;
	}
	cause = store_in_page(h, va, n1, val);
	if (cause)
		return cause;
	cause = store_in_page(h, va + n1, size - n1, val >> (8 * n1));
	if (cause)
		*tval = va + n1;
	return cause;
}

bool mmu_jit_fill(struct hart *h, uint64_t va, unsigned size, bool store)
{
	/* the conditions under which load_in_page / store_in_page fill */
	if ((va & (size - 1)) ||
	    (va & GUEST_PAGE_MASK) + size > GUEST_PAGE_SIZE || h->trig_data)
		return false;
	enum mmu_access acc = store ? MMU_STORE : MMU_LOAD;
	uint64_t gpa;
	if (mmu_translate(h, va, acc, &gpa))
		return false;
	/* the whole page allowed implies the access allowed */
	if (!pmp_check(h, gpa & ~GUEST_PAGE_MASK, GUEST_PAGE_SIZE, data_priv(h),
		       acc))
		return false;
	/* a store to code, or the first store after an AMO rewrote this
	 * block's code (store_slow ends the block then) */
	if (store &&
	    (bcache_is_code_page(&h->bc, gpa) || h->ended_block_for_smc))
		return false;
	unsigned flags;
	uint8_t *page = gmem_page(h->mem, gpa, store ? GMEM_WRITE : GMEM_READ,
				  &flags);
	/* a logged page (live migration's dirty log) stays out of the store
	 * TLB: every store must reach gmem_page to mark its frame */
	if (!page || (flags & (GMEM_PAGE_ZERO | GMEM_PAGE_NOCACHE)) ||
	    (store && (flags & (GMEM_PAGE_READONLY | GMEM_PAGE_LOGGED))))
		return false;
	/* a frame some hart decoded from stays out of every store TLB: its
	 * stores must reach gmem_code_store (code.c has the race with the
	 * first mark) */
	if (store && gmem_code_marked(h->mem, gpa))
		return false;
	struct tlb_entry *t = store ? h->tlb_store : h->tlb_load;
	struct tlb_entry *e = &t[(va >> 12) & (TLB_SIZE - 1)];
	tlb_fill(e, va, gpa, page);
	if (store && !gmem_code_fill_ok(h->mem, gpa)) {
		e->tag = TLB_TAG_EMPTY; /* marked meanwhile: never used */
		return false;
	}
	return true;
}

void *mmu_amo_ptr(struct hart *h, uint64_t va, unsigned size, uint64_t *gpa,
		  int *cause)
{
	*cause = mmu_translate(h, va, MMU_STORE, gpa);
	if (*cause)
		return NULL;
	if (!pmp_check(h, *gpa, size, data_priv(h), MMU_STORE)) {
		*cause = EXC_STORE_ACCESS;
		return NULL;
	}
	unsigned flags;
	uint8_t *page = gmem_page(h->mem, *gpa, GMEM_WRITE, &flags);
	if (!page) {
		*cause = EXC_STORE_ACCESS; /* AMOs to MMIO are not supported */
		return NULL;
	}
	gmem_code_store(h->mem, *gpa);
	store_hits_code(h, *gpa);
	return page + (*gpa & GUEST_PAGE_MASK);
}

void *mmu_lr_ptr(struct hart *h, uint64_t va, unsigned size, uint64_t *gpa,
		 int *cause)
{
	*cause = mmu_translate(h, va, MMU_LOAD, gpa);
	if (*cause)
		return NULL;
	if (!pmp_check(h, *gpa, size, data_priv(h), MMU_LOAD)) {
		*cause = EXC_LOAD_ACCESS;
		return NULL;
	}
	unsigned flags;
	uint8_t *page = gmem_page(h->mem, *gpa, GMEM_READ, &flags);
	if (!page) {
		*cause = EXC_LOAD_ACCESS;
		return NULL;
	}
	return page + (*gpa & GUEST_PAGE_MASK);
}
