/*
 * Traps and interrupts: entry (priv. spec 3.1.7 mtvec, 3.3.1 xRET, 3.1.8-9
 * delegation and interrupt priorities), the timer inputs, and the xRET/WFI/
 * ECALL/EBREAK/SFENCE.VMA instructions.
 */
#include <stdio.h>

#include "util/log.h"

#include "cpu/exec.h"

void hart_trap(struct hart *h, uint64_t pc, uint64_t cause, uint64_t tval)
{
	bool irq = cause & CAUSE_INTERRUPT;
	unsigned code = (unsigned)(cause & 63);
	uint64_t deleg = irq ? h->s.mideleg : h->s.medeleg;
	enum priv from = h->s.priv;

	__atomic_store_n(&h->n_traps, h->n_traps + 1, __ATOMIC_RELAXED);
	h->s.wfi = false;
	if (from <= PRIV_S && ((deleg >> code) & 1)) {
		h->s.sepc = pc;
		h->s.scause = cause;
		h->s.stval = tval;
		uint64_t st = h->s.mstatus &
			      ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE);
		if (h->s.mstatus & MSTATUS_SIE)
			st |= MSTATUS_SPIE;
		if (from == PRIV_S)
			st |= MSTATUS_SPP;
		h->s.mstatus = st;
		h->s.priv = PRIV_S;
		uint64_t base = h->s.stvec & ~3ULL;
		h->s.pc = (irq && (h->s.stvec & 1)) ? base + 4 * code : base;
	} else {
		if (h->sbi_builtin) {
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "trap into M-mode with the built-in SBI: "
				 "cause %#llx tval %#llx at pc %#llx",
				 (unsigned long long)cause,
				 (unsigned long long)tval,
				 (unsigned long long)pc);
			h->stopped = true;
			if (h->fatal)
				h->fatal(h->opaque, h, msg);
			return;
		}
		h->s.mepc = pc;
		h->s.mcause = cause;
		h->s.mtval = tval;
		uint64_t st = h->s.mstatus &
			      ~(MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE);
		if (h->s.mstatus & MSTATUS_MIE)
			st |= MSTATUS_MPIE;
		st |= (uint64_t)from << MSTATUS_MPP_SHIFT;
		h->s.mstatus = st;
		h->s.priv = PRIV_M;
		uint64_t base = h->s.mtvec & ~3ULL;
		h->s.pc = (irq && (h->s.mtvec & 1)) ? base + 4 * code : base;
	}
	hart_update_tlb_ctx(h);
	h->irq_check = true;
}

int hart_exception(struct hart *h, const struct insn *in, uint64_t cause,
		   uint64_t tval)
{
	/* the faulting instruction and the rest of the block do not retire */
	h->s.instret -= h->cur_n - in->idx;
	h->budget += h->cur_n - in->idx;
	h->cur_n = 0;
	hart_trap(h, h->s.pc + in->pc_off, cause, tval);
	return 1;
}

void hart_end_block_after(struct hart *h, const struct insn *in)
{
	h->s.instret -= h->cur_n - in->idx - 1;
	h->budget += h->cur_n - in->idx - 1;
	h->cur_n = 0;
	h->s.pc += in->pc_off + in->len;
}

void op_block_end(struct hart *h, const struct insn *in)
{
	h->s.pc += in->pc_off;
}

int hart_illegal(struct hart *h, const struct insn *in)
{
	if (unlikely(h->debug))
		log_debug("cpu",
			  "hart %llu: illegal instruction %#x (%s) at %#llx in "
			  "%c-mode",
			  (unsigned long long)h->hartid, in->raw,
			  decode_name(in->raw),
			  (unsigned long long)(h->s.pc + in->pc_off),
			  "US?M"[h->s.priv]);
	return hart_exception(h, in, EXC_ILLEGAL_INSN, in->raw);
}

void op_illegal(struct hart *h, const struct insn *in)
{
	hart_illegal(h, in);
}

/* ---- interrupts ----------------------------------------------------------- */

uint64_t hart_mip(struct hart *h)
{
	uint64_t lines = atomic_load_explicit(&h->irq_lines,
					      memory_order_acquire);
	if (unlikely(lines & MIP_SSIP)) {
		/* an SBI IPI: fold into the software-writable SSIP bit, which
		 * the guest clears through sip */
		atomic_fetch_and(&h->irq_lines, ~MIP_SSIP);
		h->s.mip_sw |= MIP_SSIP;
		lines &= ~MIP_SSIP;
	}
	uint64_t sw = h->s.mip_sw;
	if (h->s.menvcfg & MENVCFG_STCE)
		sw &= ~MIP_STIP; /* Sstc: STIP follows stimecmp only */
	return sw | h->mip_timer | lines;
}

void hart_poll_timers(struct hart *h)
{
	uint64_t now = vclock_now(h->clock);
	uint64_t t = 0;

	if (now >= atomic_load_explicit(&h->mtimecmp, memory_order_relaxed))
		t |= MIP_MTIP;
	if ((h->s.menvcfg & MENVCFG_STCE) && now >= h->s.stimecmp)
		t |= MIP_STIP;
	if (now >= atomic_load_explicit(&h->sbi_timecmp, memory_order_relaxed))
		t |= MIP_STIP;
	if (t != h->mip_timer) {
		h->mip_timer = t;
		h->irq_check = true;
	}
}

/* Priority order of 3.1.9: MEI, MSI, MTI, SEI, SSI, STI. */
static const uint8_t irq_order[] = { 11, 3, 7, 9, 1, 5 };

static int highest(uint64_t bits)
{
	for (size_t i = 0; i < ARRAY_SIZE(irq_order); i++)
		if ((bits >> irq_order[i]) & 1)
			return irq_order[i];
	return -1;
}

int hart_pending_irq(struct hart *h)
{
	uint64_t pending = hart_mip(h) & h->s.mie;
	if (!pending)
		return -1;
	enum priv p = h->s.priv;
	bool m_on = p < PRIV_M || (h->s.mstatus & MSTATUS_MIE);
	bool s_on = p < PRIV_S || (p == PRIV_S && (h->s.mstatus & MSTATUS_SIE));
	uint64_t m_pend = pending & ~h->s.mideleg;
	uint64_t s_pend = pending & h->s.mideleg;

	if (m_on && m_pend)
		return highest(m_pend);
	if (s_on && s_pend)
		return highest(s_pend);
	return -1;
}

/* ---- system instructions -------------------------------------------------- */

static int next(struct hart *h, const struct insn *in)
{
	h->s.pc += in->pc_off + in->len;
	return 1;
}

void op_ecall(struct hart *h, const struct insn *in)
{
	if (h->s.priv == PRIV_S && h->sbi_builtin) {
		/* hypercall: the vmkernel is the SEE (ARCHITECTURE.md) */
		h->s.pc += in->pc_off;
		hart_device_enter(h);
		h->sbi_call(h->opaque, h);
		hart_device_leave(h);
		h->s.pc += in->len;
		return;
	}
	static const uint8_t cause[4] = { EXC_ECALL_U, EXC_ECALL_S, 0,
					  EXC_ECALL_M };
	hart_exception(h, in, cause[h->s.priv], 0);
}

void op_ebreak(struct hart *h, const struct insn *in)
{
	hart_exception(h, in, EXC_BREAKPOINT, h->s.pc + in->pc_off);
}

void op_mret(struct hart *h, const struct insn *in)
{
	if (h->s.priv != PRIV_M) {
		hart_illegal(h, in);
		return;
	}
	uint64_t st = h->s.mstatus;
	enum priv to = (enum priv)((st & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT);
	st = (st & ~(MSTATUS_MIE | MSTATUS_MPP)) | MSTATUS_MPIE;
	if (h->s.mstatus & MSTATUS_MPIE)
		st |= MSTATUS_MIE;
	if (to != PRIV_M)
		st &= ~MSTATUS_MPRV;
	h->s.mstatus = st;
	h->s.priv = to;
	h->s.pc = h->s.mepc;
	hart_update_tlb_ctx(h);
	h->irq_check = true;
	return;
}

void op_sret(struct hart *h, const struct insn *in)
{
	if (h->s.priv < PRIV_S ||
	    (h->s.priv == PRIV_S && (h->s.mstatus & MSTATUS_TSR))) {
		hart_illegal(h, in);
		return;
	}
	uint64_t st = h->s.mstatus;
	enum priv to = (st & MSTATUS_SPP) ? PRIV_S : PRIV_U;
	st = (st & ~(MSTATUS_SIE | MSTATUS_SPP)) | MSTATUS_SPIE;
	if (h->s.mstatus & MSTATUS_SPIE)
		st |= MSTATUS_SIE;
	st &= ~MSTATUS_MPRV; /* to is never M */
	h->s.mstatus = st;
	h->s.priv = to;
	h->s.pc = h->s.sepc;
	hart_update_tlb_ctx(h);
	h->irq_check = true;
	return;
}

void op_wfi(struct hart *h, const struct insn *in)
{
	if (h->s.priv == PRIV_U ||
	    (h->s.priv == PRIV_S && (h->s.mstatus & MSTATUS_TW))) {
		hart_illegal(h, in);
		return;
	}
	hart_poll_timers(h);
	if (!(hart_mip(h) & h->s.mie))
		h->s.wfi = true; /* hart_run returns HART_RUN_WFI */
	next(h, in);
}

void op_sfence_vma(struct hart *h, const struct insn *in)
{
	if (h->s.priv == PRIV_U ||
	    (h->s.priv == PRIV_S && (h->s.mstatus & MSTATUS_TVM))) {
		hart_illegal(h, in);
		return;
	}
	/* Entries are not tagged by ASID: an ASID-only fence flushes all. */
	if (in->rs1)
		tlb_flush_va(h, X(in->rs1));
	else
		tlb_flush_all(h);
	next(h, in);
}
