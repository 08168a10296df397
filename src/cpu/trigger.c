/*
 * Debug triggers (Sdtrig, RISC-V Debug Specification 1.0, ch. 5): tselect,
 * tdata1-3 and tinfo, with TRIG_COUNT mcontrol6 (type 6) triggers that
 * match execute, load and store addresses (match equal, >=, <) and raise a
 * breakpoint exception (action 0, timing before). What a guest's hardware
 * breakpoints and watchpoints need (OpenSBI's debug-trigger extension, gdb
 * in the guest). Not implemented (WARL fields hold 0): chaining, data
 * (value) match, size, debug-mode action, textra (tdata3), hypervisor
 * modes.
 *
 * Both engines: while an execute trigger is armed the dispatcher runs each
 * block here one instruction at a time, checking its pc first (translated
 * code is not entered); while a load or store trigger is armed, the data
 * TLBs are left empty, so every access (inline in translated code or in an
 * interpreter handler) takes the slow path, which checks the address.
 * Hart's thread only.
 */
#include "cpu/exec.h"

#define TDATA1_TYPE_SHIFT 60
#define TYPE_MCONTROL6	  6ULL
#define TYPE_DISABLED	  15ULL
#define MC6_HIT0	  (1ULL << 22)
#define MC6_MATCH_SHIFT	  7
#define MC6_M		  (1ULL << 6)
#define MC6_S		  (1ULL << 4)
#define MC6_U		  (1ULL << 3)
#define MC6_WRITABLE                                                     \
	(MC6_HIT0 | (15ULL << MC6_MATCH_SHIFT) | MC6_M | MC6_S | MC6_U | \
	 TRIG_EXEC | TRIG_STORE | TRIG_LOAD)
/* tinfo: version 1 (Sdtrig 1.0), types 6 and 15 */
#define TINFO_VALUE ((1ULL << 24) | (1ULL << 15) | (1ULL << 6))

static bool is_mc6(uint64_t t1)
{
	return t1 >> TDATA1_TYPE_SHIFT == TYPE_MCONTROL6;
}

void trig_reset(struct hart *h)
{
	for (unsigned i = 0; i < TRIG_COUNT; i++) {
		h->s.tdata1[i] = TYPE_DISABLED << TDATA1_TYPE_SHIFT;
		h->s.tdata2[i] = 0;
	}
	h->s.tselect = 0;
	h->trig_exec = h->trig_data = false;
}

/* Which kinds of access some trigger watches (in some mode). */
static void trig_update(struct hart *h)
{
	bool was_data = h->trig_data;
	h->trig_exec = h->trig_data = false;
	for (unsigned i = 0; i < TRIG_COUNT; i++) {
		uint64_t t1 = h->s.tdata1[i];
		if (!is_mc6(t1) || !(t1 & (MC6_M | MC6_S | MC6_U)))
			continue;
		h->trig_exec |= (t1 & TRIG_EXEC) != 0;
		h->trig_data |= (t1 & (TRIG_LOAD | TRIG_STORE)) != 0;
	}
	/* data accesses must all reach the slow path from now on */
	if (h->trig_data && !was_data)
		tlb_flush_all(h);
}

int trig_csr_read(struct hart *h, unsigned csr, uint64_t *val)
{
	unsigned i = (unsigned)h->s.tselect;
	switch (csr) {
	case CSR_TSELECT: *val = h->s.tselect; return 0;
	case CSR_TDATA1: *val = h->s.tdata1[i]; return 0;
	case CSR_TDATA2: *val = h->s.tdata2[i]; return 0;
	case CSR_TDATA3: *val = 0; return 0;
	case CSR_TINFO: *val = TINFO_VALUE; return 0;
	default: return -1;
	}
}

int trig_csr_write(struct hart *h, unsigned csr, uint64_t val)
{
	unsigned i = (unsigned)h->s.tselect;
	switch (csr) {
	case CSR_TSELECT:
		/* WARL: an index past the last trigger keeps the current one
		 * (a debugger counts triggers by reading back) */
		if (val < TRIG_COUNT)
			h->s.tselect = val;
		return 0;
	case CSR_TDATA1:
		if (val >> TDATA1_TYPE_SHIFT == TYPE_MCONTROL6) {
			uint64_t v = val & MC6_WRITABLE;
			unsigned match = (unsigned)(v >> MC6_MATCH_SHIFT) & 15;
			if (match != 0 && match != 2 && match != 3)
				v &= ~(15ULL << MC6_MATCH_SHIFT);
			h->s.tdata1[i] = TYPE_MCONTROL6 << TDATA1_TYPE_SHIFT |
					 v;
		} else {
			h->s.tdata1[i] = TYPE_DISABLED << TDATA1_TYPE_SHIFT;
		}
		trig_update(h);
		return 0;
	case CSR_TDATA2: h->s.tdata2[i] = val; return 0;
	case CSR_TDATA3: return 0; /* textra: not implemented, WARL 0 */
	case CSR_TINFO: return 0;  /* read-only value, writes ignored */
	default: return -1;
	}
}

bool trig_fire(struct hart *h, uint64_t kinds, uint64_t addr)
{
	/* without tcontrol, breakpoints do not fire in M-mode while
	 * mstatus.MIE is 0: the trap handler cannot be re-entered */
	enum priv p = h->s.priv;
	if (p == PRIV_M && !(h->s.mstatus & MSTATUS_MIE))
		return false;
	uint64_t mode = p == PRIV_M ? MC6_M : p == PRIV_S ? MC6_S : MC6_U;
	for (unsigned i = 0; i < TRIG_COUNT; i++) {
		uint64_t t1 = h->s.tdata1[i], a = h->s.tdata2[i];
		if (!is_mc6(t1) || !(t1 & mode) || !(t1 & kinds))
			continue;
		unsigned match = (unsigned)(t1 >> MC6_MATCH_SHIFT) & 15;
		bool hit = match == 0	? addr == a
			   : match == 2 ? addr >= a
					: addr < a;
		if (hit) {
			h->s.tdata1[i] |= MC6_HIT0;
			return true;
		}
	}
	return false;
}

/* Sentinel after a single instruction: it went on with the block. */
static void op_trig_stop(struct hart *h, const struct insn *in)
{
	(void)in;
	h->trig_continue = true;
}

void trig_run_block(struct hart *h, struct block *b)
{
	h->jit_link = 0;
	h->running_block_page = b->gpa & ~GUEST_PAGE_MASK;
	h->cur_n = b->n;
	h->s.instret += b->n;
	h->budget -= b->n;
	bool open = true;
	for (uint32_t i = 0; i < b->n && open; i++) {
		const struct insn *in = &b->insn[i];
		uint64_t pc = h->s.pc + in->pc_off;
		if (trig_fire(h, TRIG_EXEC, pc)) {
			hart_exception(h, in, EXC_BREAKPOINT, pc);
			open = false;
			break;
		}
		struct insn one[2] = { *in, { 0 } };
		one[1].fn = op_trig_stop;
		one[1].pc_off = (uint16_t)(in->pc_off + in->len);
		one[1].idx = (uint16_t)(in->idx + 1);
		h->trig_continue = false;
		one[0].fn(h, one);
		open = h->trig_continue;
	}
	if (open)
		h->s.pc += b->size; /* ran to its end: the fall-through */
	h->cur_n = 0;
	h->bc.prev = NULL;
}
