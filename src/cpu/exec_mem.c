/*
 * Loads, stores, atomics and fences (unprivileged spec ch. 2.6, 8 "A").
 * The fast path is a software-TLB hit: tag compare + add (hart_impl.h).
 * Everything else (misses, misaligned, MMIO, faults) goes to mmu.c.
 */
#include "cpu/exec.h"

#include <sched.h>
#include <string.h>

/* What a load writes where: integer loads extend into rd, FP loads fill
 * an f register (NaN-boxing a single). */
enum ld_kind { LD_B, LD_H, LD_W, LD_D, LD_BU, LD_HU, LD_WU, LD_FW, LD_FD };

static const uint8_t ld_size[] = { 1, 2, 4, 8, 1, 2, 4, 4, 8 };

static inline void ld_write(struct hart *h, const struct insn *in, uint64_t v,
			    enum ld_kind k)
{
	switch (k) {
	case LD_B: X(in->rd) = (uint64_t)(int64_t)(int8_t)v; break;
	case LD_H: X(in->rd) = (uint64_t)(int64_t)(int16_t)v; break;
	case LD_W: X(in->rd) = (uint64_t)(int64_t)(int32_t)v; break;
	case LD_D:
	case LD_BU:
	case LD_HU:
	case LD_WU: X(in->rd) = v; break;
	case LD_FW:
		h->s.f[in->rd] = v | 0xffffffff00000000ULL;
		hart_fs_dirty(h);
		break;
	case LD_FD:
		h->s.f[in->rd] = v;
		hart_fs_dirty(h);
		break;
	}
}

#define ADDR (X(in->rs1) + (uint64_t)(int64_t)in->imm)

/* Everything but a TLB hit: misses, misaligned, MMIO and faults. Kept out
 * of line so the fast path has no address-taken locals and its NEXT_INSN
 * stays a jump. */
static SV_NOINLINE void load_slow(struct hart *h, const struct insn *in,
				  enum ld_kind k)
{
	uint64_t v, tval;
	int cause = mmu_load_slow(h, ADDR, ld_size[k], &v, &tval);
	if (unlikely(cause)) {
		hart_exception(h, in, (uint64_t)cause, tval);
		return;
	}
	ld_write(h, in, v, k);
	NEXT_INSN(h, in);
}

static SV_ALWAYS_INLINE void load(struct hart *h, const struct insn *in,
				  enum ld_kind k)
{
	uint64_t va = ADDR, v;
	unsigned size = ld_size[k];
	const struct tlb_entry *e = &h->tlb_load[(va >> 12) & (TLB_SIZE - 1)];

	if (likely((va & tlb_cmp_mask(size)) == e->tag)) {
		const void *p = (const void *)(uintptr_t)(va + e->addend);
		switch (size) {
		case 1: v = *(const uint8_t *)p; break;
		case 2: v = *(const uint16_t *)p; break;
		case 4: v = *(const uint32_t *)p; break;
		default: v = *(const uint64_t *)p; break;
		}
		ld_write(h, in, v, k);
		NEXT_INSN(h, in);
	}
	load_slow(h, in, k);
}

static SV_NOINLINE void store_slow(struct hart *h, const struct insn *in,
				   unsigned size, uint64_t val)
{
	uint64_t tval;
	int cause = mmu_store_slow(h, ADDR, size, val, &tval);
	if (unlikely(cause)) {
		hart_exception(h, in, (uint64_t)cause, tval);
		return;
	}
	if (unlikely(h->ended_block_for_smc)) {
		/* the store rewrote code of this very block: continue with
		 * freshly decoded instructions after it */
		h->ended_block_for_smc = false;
		hart_end_block_after(h, in);
		return;
	}
	NEXT_INSN(h, in);
}

static SV_ALWAYS_INLINE void store(struct hart *h, const struct insn *in,
				   unsigned size, uint64_t val)
{
	uint64_t va = ADDR;
	const struct tlb_entry *e = &h->tlb_store[(va >> 12) & (TLB_SIZE - 1)];

	if (likely((va & tlb_cmp_mask(size)) == e->tag)) {
		void *p = (void *)(uintptr_t)(va + e->addend);
		switch (size) {
		case 1: *(uint8_t *)p = (uint8_t)val; break;
		case 2: *(uint16_t *)p = (uint16_t)val; break;
		case 4: *(uint32_t *)p = (uint32_t)val; break;
		default: *(uint64_t *)p = val; break;
		}
		NEXT_INSN(h, in);
	}
	store_slow(h, in, size, val);
}

void op_lb(struct hart *h, const struct insn *in)
{
	load(h, in, LD_B);
}

void op_lh(struct hart *h, const struct insn *in)
{
	load(h, in, LD_H);
}

void op_lw(struct hart *h, const struct insn *in)
{
	load(h, in, LD_W);
}

void op_ld(struct hart *h, const struct insn *in)
{
	load(h, in, LD_D);
}

void op_lbu(struct hart *h, const struct insn *in)
{
	load(h, in, LD_BU);
}

void op_lhu(struct hart *h, const struct insn *in)
{
	load(h, in, LD_HU);
}

void op_lwu(struct hart *h, const struct insn *in)
{
	load(h, in, LD_WU);
}

void op_sb(struct hart *h, const struct insn *in)
{
	store(h, in, 1, X(in->rs2));
}

void op_sh(struct hart *h, const struct insn *in)
{
	store(h, in, 2, X(in->rs2));
}

void op_sw(struct hart *h, const struct insn *in)
{
	store(h, in, 4, X(in->rs2));
}

void op_sd(struct hart *h, const struct insn *in)
{
	store(h, in, 8, X(in->rs2));
}

/* ---- FP loads and stores: need mstatus.FS != Off ------------------------ */

void op_flw(struct hart *h, const struct insn *in)
{
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	load(h, in, LD_FW);
}

void op_fld(struct hart *h, const struct insn *in)
{
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	load(h, in, LD_FD);
}

void op_fsw(struct hart *h, const struct insn *in)
{
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	store(h, in, 4, h->s.f[in->rs2]);
}

void op_fsd(struct hart *h, const struct insn *in)
{
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	store(h, in, 8, h->s.f[in->rs2]);
}

/* ---- fences ------------------------------------------------------------- */

void op_fence(struct hart *h, const struct insn *in)
{
	/* Harts run on host threads: a full host barrier gives at least the
	 * ordering any RVWMO FENCE asks for. */
	atomic_thread_fence(memory_order_seq_cst);
	/* Pause-loop exiting: a hart spinning on a lock (Linux's
	 * cpu_relax() is a PAUSE) may wait for a vCPU that the host has not
	 * scheduled, when there are more harts than host CPUs; after a
	 * spin's worth of PAUSEs, give the host CPU away. The spin may wait
	 * for time to pass (jiffies): the timers are polled at the next
	 * block boundary, not after the next HART_POLL_BLOCKS. */
	if (in->raw == INSN_PAUSE && ++h->pause_spins >= HART_PAUSE_YIELD) {
		h->pause_spins = 0;
		h->pause_yields++;
		sched_yield();
		hart_request(h, HART_EV_IRQ);
	}
	NEXT_INSN(h, in);
}

void op_fence_i(struct hart *h, const struct insn *in)
{
	atomic_thread_fence(memory_order_seq_cst);
	bcache_fence_i(h);
	h->s.pc += in->pc_off + in->len;
	return;
}

/* ---- A: LR/SC and AMOs (ch. 8) ------------------------------------------
 * AMOs work on the host memory with host atomics, so harts on different
 * threads see each other's updates atomically. LR/SC: the reservation is the
 * physical address plus the value read; SC succeeds if the word still holds
 * that value (compare-and-swap). That cannot tell an ABA write from no write,
 * which RVWMO allows (an SC may succeed as long as no other hart's store to
 * the reservation set was observed in between... here the value is the
 * observation). Misaligned addresses raise address-misaligned (cause 6, or 4
 * for LR), never access faults. */

static inline void *amo_ptr(struct hart *h, const struct insn *in,
			    unsigned size, bool is_lr, uint64_t *gpa, int *ret)
{
	uint64_t va = X(in->rs1);
	int cause;

	if (unlikely(h->trig_data) &&
	    trig_fire(h, is_lr ? TRIG_LOAD : TRIG_LOAD | TRIG_STORE, va)) {
		*ret = hart_exception(h, in, EXC_BREAKPOINT, va);
		return NULL;
	}
	if (va & (size - 1)) {
		*ret = hart_exception(
			h, in,
			is_lr ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED, va);
		return NULL;
	}
	void *p = is_lr ? mmu_lr_ptr(h, va, size, gpa, &cause)
			: mmu_amo_ptr(h, va, size, gpa, &cause);
	if (!p)
		*ret = hart_exception(h, in, (uint64_t)cause, va);
	return p;
}

/* After an SC or AMO wrote (a full barrier itself): look again for a
 * first mark of its frame, and mark the frame again for live migration,
 * as store_in_page does after a store. */
static inline void amo_wrote(struct hart *h, uint64_t gpa, unsigned size)
{
	gmem_code_stored(h->mem, gpa);
	gmem_dirty_log_mark(h->mem, gpa, size);
}

void op_lr_w(struct hart *h, const struct insn *in)
{
	uint64_t gpa;
	int ret;
	int32_t *p = amo_ptr(h, in, 4, true, &gpa, &ret);
	if (!p)
		return;
	int32_t v = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	h->s.resv_addr = gpa;
	h->s.resv_value = (uint32_t)v;
	X(in->rd) = (uint64_t)(int64_t)v;
	NEXT_INSN(h, in);
}

void op_lr_d(struct hart *h, const struct insn *in)
{
	uint64_t gpa;
	int ret;
	uint64_t *p = amo_ptr(h, in, 8, true, &gpa, &ret);
	if (!p)
		return;
	uint64_t v = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	h->s.resv_addr = gpa;
	h->s.resv_value = v;
	X(in->rd) = v;
	NEXT_INSN(h, in);
}

void op_sc_w(struct hart *h, const struct insn *in)
{
	uint64_t gpa;
	int ret;
	uint32_t *p = amo_ptr(h, in, 4, false, &gpa, &ret);
	if (!p)
		return;
	bool ok = false;
	if (h->s.resv_addr == gpa) {
		uint32_t expect = (uint32_t)h->s.resv_value;
		ok = __atomic_compare_exchange_n(
			p, &expect, (uint32_t)X(in->rs2), false,
			__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		if (ok)
			amo_wrote(h, gpa, 4);
	}
	h->s.resv_addr = ~0ULL;
	X(in->rd) = !ok;
	NEXT_INSN(h, in);
}

void op_sc_d(struct hart *h, const struct insn *in)
{
	uint64_t gpa;
	int ret;
	uint64_t *p = amo_ptr(h, in, 8, false, &gpa, &ret);
	if (!p)
		return;
	bool ok = false;
	if (h->s.resv_addr == gpa) {
		uint64_t expect = h->s.resv_value;
		ok = __atomic_compare_exchange_n(p, &expect, X(in->rs2), false,
						 __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST);
		if (ok)
			amo_wrote(h, gpa, 8);
	}
	h->s.resv_addr = ~0ULL;
	X(in->rd) = !ok;
	NEXT_INSN(h, in);
}

enum amo_op {
	AMO_SWAP,
	AMO_ADD,
	AMO_XOR,
	AMO_AND,
	AMO_OR,
	AMO_MIN,
	AMO_MAX,
	AMO_MINU,
	AMO_MAXU
};

static inline uint64_t amo_apply(enum amo_op op, uint64_t old, uint64_t src,
				 bool word)
{
	int64_t so = word ? (int32_t)old : (int64_t)old;
	int64_t ss = word ? (int32_t)src : (int64_t)src;
	uint64_t uo = word ? (uint32_t)old : old;
	uint64_t us = word ? (uint32_t)src : src;

	switch (op) {
	case AMO_SWAP: return src;
	case AMO_ADD: return old + src;
	case AMO_XOR: return old ^ src;
	case AMO_AND: return old & src;
	case AMO_OR: return old | src;
	case AMO_MIN: return so < ss ? old : src;
	case AMO_MAX: return so > ss ? old : src;
	case AMO_MINU: return uo < us ? old : src;
	default: return uo > us ? old : src;
	}
}

static int amo_w(struct hart *h, const struct insn *in, enum amo_op op)
{
	uint64_t gpa;
	int ret;
	uint32_t *p = amo_ptr(h, in, 4, false, &gpa, &ret);
	if (!p)
		return ret;
	uint32_t src = (uint32_t)X(in->rs2);
	uint32_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(
		p, &old, (uint32_t)amo_apply(op, old, src, true), true,
		__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
	amo_wrote(h, gpa, 4);
	X(in->rd) = (uint64_t)(int64_t)(int32_t)old;
	return 0;
}

static int amo_d(struct hart *h, const struct insn *in, enum amo_op op)
{
	uint64_t gpa;
	int ret;
	uint64_t *p = amo_ptr(h, in, 8, false, &gpa, &ret);
	if (!p)
		return ret;
	uint64_t src = X(in->rs2), old;
	switch (op) {
	case AMO_SWAP:
		old = __atomic_exchange_n(p, src, __ATOMIC_SEQ_CST);
		break;
	case AMO_ADD: old = __atomic_fetch_add(p, src, __ATOMIC_SEQ_CST); break;
	case AMO_XOR: old = __atomic_fetch_xor(p, src, __ATOMIC_SEQ_CST); break;
	case AMO_AND: old = __atomic_fetch_and(p, src, __ATOMIC_SEQ_CST); break;
	case AMO_OR: old = __atomic_fetch_or(p, src, __ATOMIC_SEQ_CST); break;
	default:
		old = __atomic_load_n(p, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(
			p, &old, amo_apply(op, old, src, false), true,
			__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			;
	}
	amo_wrote(h, gpa, 8);
	X(in->rd) = old;
	return 0;
}

void op_amoswap_w(struct hart *h, const struct insn *in)
{
	if (amo_w(h, in, AMO_SWAP))
		return;
	NEXT_INSN(h, in);
}
void op_amoadd_w(struct hart *h, const struct insn *in)
{
	if (amo_w(h, in, AMO_ADD))
		return;
	NEXT_INSN(h, in);
}
void op_amoxor_w(struct hart *h, const struct insn *in)
{
	if (amo_w(h, in, AMO_XOR))
		return;
	NEXT_INSN(h, in);
}
void op_amoand_w(struct hart *h, const struct insn *in)
{
	if (amo_w(h, in, AMO_AND))
		return;
	NEXT_INSN(h, in);
}
void op_amoor_w(struct hart *h, const struct insn *in)
{
	if (amo_w(h, in, AMO_OR))
		return;
	NEXT_INSN(h, in);
}
void op_amomin_w(struct hart *h, const struct insn *in)
{
	if (amo_w(h, in, AMO_MIN))
		return;
	NEXT_INSN(h, in);
}
void op_amomax_w(struct hart *h, const struct insn *in)
{
	if (amo_w(h, in, AMO_MAX))
		return;
	NEXT_INSN(h, in);
}
void op_amominu_w(struct hart *h, const struct insn *in)
{
	if (amo_w(h, in, AMO_MINU))
		return;
	NEXT_INSN(h, in);
}
void op_amomaxu_w(struct hart *h, const struct insn *in)
{
	if (amo_w(h, in, AMO_MAXU))
		return;
	NEXT_INSN(h, in);
}
void op_amoswap_d(struct hart *h, const struct insn *in)
{
	if (amo_d(h, in, AMO_SWAP))
		return;
	NEXT_INSN(h, in);
}
void op_amoadd_d(struct hart *h, const struct insn *in)
{
	if (amo_d(h, in, AMO_ADD))
		return;
	NEXT_INSN(h, in);
}
void op_amoxor_d(struct hart *h, const struct insn *in)
{
	if (amo_d(h, in, AMO_XOR))
		return;
	NEXT_INSN(h, in);
}
void op_amoand_d(struct hart *h, const struct insn *in)
{
	if (amo_d(h, in, AMO_AND))
		return;
	NEXT_INSN(h, in);
}
void op_amoor_d(struct hart *h, const struct insn *in)
{
	if (amo_d(h, in, AMO_OR))
		return;
	NEXT_INSN(h, in);
}
void op_amomin_d(struct hart *h, const struct insn *in)
{
	if (amo_d(h, in, AMO_MIN))
		return;
	NEXT_INSN(h, in);
}
void op_amomax_d(struct hart *h, const struct insn *in)
{
	if (amo_d(h, in, AMO_MAX))
		return;
	NEXT_INSN(h, in);
}
void op_amominu_d(struct hart *h, const struct insn *in)
{
	if (amo_d(h, in, AMO_MINU))
		return;
	NEXT_INSN(h, in);
}
void op_amomaxu_d(struct hart *h, const struct insn *in)
{
	if (amo_d(h, in, AMO_MAXU))
		return;
	NEXT_INSN(h, in);
}
