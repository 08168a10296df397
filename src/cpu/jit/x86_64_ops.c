/*
 * The x86-64 backend, continued (x86_64.c has the core): operations with
 * longer code - Zbb's bit counts, the A extension on the soft-TLB fast
 * path with host atomic instructions - and the perf map naming.
 */
#include <stddef.h>
#include <string.h>

#include "cpu/exec.h"
#include "cpu/jit/jit_impl.h"
#include "cpu/jit/x86_64.h"

/* ---- Zbb bit counts ----------------------------------------------------- */

/* clz, ctz, cpop and their 32-bit forms. bsr/bsf leave a zero source's
 * result to the cmov (RISC-V: 64 or 32); clz = 63 - bsr = bsr ^ 63, and
 * 127 ^ 63 = 64 for zero (31 and 63 for the word forms). */
bool jx_bitcount(struct tctx *t, const struct insn *in)
{
	bool word = in->op == OP_CLZW || in->op == OP_CTZW ||
		    in->op == OP_CPOPW;
	unsigned fl = word ? 0 : W, bits = word ? 32 : 64;
	unsigned a = jx_src(t, in->rs1, RAX);
	switch (in->op) {
	case OP_CLZ:
	case OP_CLZW:
		mov_ri(t, RDX, 2 * bits - 1);
		rr(t, fl, 0x0fbd, RAX, a);   /* bsr */
		rr(t, fl, 0x0f44, RAX, RDX); /* cmovz */
		alu_ri(t, fl, 6, RAX, (int32_t)bits - 1);
		break;
	case OP_CTZ:
	case OP_CTZW:
		mov_ri(t, RDX, bits);
		rr(t, fl, 0x0fbc, RAX, a); /* bsf */
		rr(t, fl, 0x0f44, RAX, RDX);
		break;
	default:
		b1(t, 0xf3); /* popcnt: the f3 goes before REX */
		rr(t, fl, 0x0fb8, RAX, a);
		break;
	}
	jx_set_rd(t, in->rd, RAX);
	return true;
}

/* ---- A: LR/SC and AMOs ---------------------------------------------------- */

/* lock-prefixed (or xchg) op reg, [rsi + rcx] */
static void locked(struct tctx *t, unsigned fl, unsigned op, unsigned reg)
{
	if (op != 0x87) /* xchg with memory locks by itself */
		b1(t, 0xf0);
	rm_idx(t, fl, op, reg, RSI, RCX);
}

/* rdx = the access's guest physical address: the TLB entry's page (rax
 * points to it after the lookup) and va's offset (rsi). Clobbers rax. */
static void gpa_to_rdx(struct tctx *t)
{
	ld64(t, RDX, RAX, (int32_t)offsetof(struct tlb_entry, gpa_page));
	rr(t, 0, 0x89, RSI, RAX); /* mov eax, esi */
	alu_ri(t, 0, 4, RAX, (int32_t)GUEST_PAGE_MASK);
	rr(t, W, 0x09, RAX, RDX); /* or rdx, rax */
}

/* op rdx, rs2 (op: a "reg, r/m" opcode): rs2's host register, or its
 * slot in the hart (x[0] for x0) */
static void rs2_operand(struct tctx *t, unsigned fl, unsigned op, unsigned g)
{
	if (g && t->host[g] >= 0)
		rr(t, fl, op, RDX, (unsigned)t->host[g]);
	else
		rm(t, fl, op, RDX, RBX, XOFF(g));
}

/* The condition under which amomin/amomax replace the old value by rs2
 * (cmp old, rs2): old greater (min), less (max), unsigned for the u
 * forms; 0 for the other AMOs. */
static unsigned minmax_cc(enum insn_op op)
{
	switch (op) {
	case OP_AMOMIN_W:
	case OP_AMOMIN_D: return CC_G;
	case OP_AMOMAX_W:
	case OP_AMOMAX_D: return CC_L;
	case OP_AMOMINU_W:
	case OP_AMOMINU_D: return CC_A;
	case OP_AMOMAXU_W:
	case OP_AMOMAXU_D: return CC_B;
	default: return 0;
	}
}

/*
 * The same operations as the interpreter's (exec_mem.c), on the TLB fast
 * path: LR through the load TLB, SC and AMOs through the store TLB (which
 * never maps code pages, MMIO or the zero frame); a miss, a misaligned
 * address (the alignment bits are in the tag compare) or a watched
 * access (data triggers keep the TLBs empty) runs the interpreter's
 * handler. Locked x86 instructions are full barriers: aq/rl hold.
 */
bool jx_atomic(struct tctx *t, const struct insn *in)
{
	enum insn_op op = (enum insn_op)in->op;
	bool word = op == OP_LR_W || op == OP_SC_W ||
		    (op >= OP_AMOSWAP_W && op <= OP_AMOMAXU_W);
	unsigned fl = word ? 0 : W, size = word ? 4 : 8;
	if (in->imm)
		return jx_fallback(t, in);
	bool lr = op == OP_LR_W || op == OP_LR_D;
	jx_tlb_lookup(t, in, size, lr ? HOFF(tlb_load) : HOFF(tlb_store));
	if (lr) {
		gpa_to_rdx(t);
		st64(t, RBX, HOFF(s.resv_addr), RDX);
		if (word) {
			rm_idx(t, 0, 0x8b, RAX, RSI, RCX); /* mov eax, [] */
			st64(t, RBX, HOFF(s.resv_value), RAX);
			movsxd(t, RAX, RAX);
		} else {
			rm_idx(t, W, 0x8b, RAX, RSI, RCX);
			st64(t, RBX, HOFF(s.resv_value), RAX);
		}
		jx_set_rd(t, in->rd, RAX);
	} else if (op == OP_SC_W || op == OP_SC_D) {
		gpa_to_rdx(t);
		rm(t, W, 0x3b, RDX, RBX, HOFF(s.resv_addr)); /* cmp rdx, [] */
		/* the reservation is gone either way (mov keeps flags) */
		rm(t, W, 0xc7, 0, RBX, HOFF(s.resv_addr));
		b4(t, 0xffffffffu);
		uint32_t fail = jcc(t, CC_NE);
		rm(t, fl, 0x8b, RAX, RBX, HOFF(s.resv_value)); /* expected */
		unsigned v = jx_src(t, in->rs2, RDX);
		locked(t, fl, 0x0fb1, v); /* lock cmpxchg [], v */
		patch(t, fail, off(t));
		/* rd = 0 on success (ZF), 1 on failure */
		setcc(t, CC_NE, RDX);
		rr(t, B8, 0x0fb6, RDX, RDX); /* movzx edx, dl */
		jx_set_rd(t, in->rd, RDX);
	} else {
		switch (op) {
		case OP_AMOSWAP_W:
		case OP_AMOSWAP_D:
			mov_rr(t, RAX, jx_src(t, in->rs2, RAX));
			locked(t, fl, 0x87, RAX); /* xchg [], rax */
			break;
		case OP_AMOADD_W:
		case OP_AMOADD_D:
			mov_rr(t, RAX, jx_src(t, in->rs2, RAX));
			locked(t, fl, 0x0fc1, RAX); /* lock xadd [], rax */
			break;
		default: {
			/* and, or, xor, min, max: compare-and-swap loop; rax
			 * = old, rdx = new. min/max: rdx = rs2 when old is
			 * past it (cmp; cmovcc rdx, rs2) */
			unsigned cc = minmax_cc(op), alu = 0;
			if (!cc)
				alu = op == OP_AMOAND_W || op == OP_AMOAND_D
					      ? 0x23
				      : op == OP_AMOOR_W || op == OP_AMOOR_D
					      ? 0x0b
					      : 0x33;
			/* rs2 = x0 reads the hart's x[0], always zero
			 * (writes to x0 go to the sink x[32]) */
			unsigned g = in->rs2 == 32 ? 0 : in->rs2;
			if (g)
				jx_use(t, g);
			rm_idx(t, fl, 0x8b, RAX, RSI, RCX);
			uint32_t retry = off(t);
			mov_rr(t, RDX, RAX);
			if (cc) {
				rs2_operand(t, fl, 0x3b, g); /* cmp rdx, rs2 */
				rs2_operand(t, fl, 0x0f40 + cc, g);
			} else {
				rs2_operand(t, fl, alu, g);
			}
			locked(t, fl, 0x0fb1, RDX); /* lock cmpxchg [], rdx */
			patch(t, jcc(t, CC_NE), retry);
			break;
		}
		}
		if (word)
			movsxd(t, RAX, RAX);
		jx_set_rd(t, in->rd, RAX);
	}
	jx_resume_here(t);
	return true;
}

/* ---- perf map (SV_JIT_PERFMAP) --------------------------------------------- */

/* What a main-line instruction's code is, for the profile's breakdown. */
static const char *op_class(const struct insn *in)
{
	enum insn_op op = (enum insn_op)in->op;
	if (op >= OP_LB && op <= OP_LWU)
		return "jit:load";
	if (op >= OP_SB && op <= OP_SD)
		return "jit:store";
	if (op >= OP_BEQ && op <= OP_BGEU)
		return "jit:branch";
	if (op == OP_JAL)
		return "jit:jal";
	if (op == OP_JALR)
		return "jit:jalr";
	if (op >= OP_MUL && op <= OP_REMUW)
		return "jit:muldiv";
	if (op >= OP_LR_W && op <= OP_AMOMAXU_D)
		return "jit:amo";
	if (op >= OP_FLW && op <= OP_FMV_D_X)
		return "jit:fp";
	if (op >= OP_CSRRW && op <= OP_CSRRCI)
		return "jit:call-csr";
	if (op >= OP_FENCE && op <= OP_SFENCE_VMA)
		return "jit:call-sys";
	return "jit:alu";
}

void jx_perfmap_block(struct tctx *t, uint32_t chain, uint32_t entry,
		      uint32_t main_end, uint32_t cold_end, uint32_t end)
{
	struct jit *j = t->j;
	jit_perfmap(j, chain, entry, "jit:chain-check");
	for (uint32_t i = 0; i < t->b->n; i++) {
		uint32_t a = t->insn_off[i], e = t->insn_off[i + 1];
		if (!e || e > main_end)
			e = main_end;
		if (a)
			jit_perfmap(j, a, e, op_class(&t->b->insn[i]));
	}
	if (t->insn_off[t->b->n])
		jit_perfmap(j, t->insn_off[t->b->n], main_end, "jit:exit");
	jit_perfmap(j, main_end, cold_end, "jit:cold");
	jit_perfmap(j, cold_end, end, "jit:exit");
}
