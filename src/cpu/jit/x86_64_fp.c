/*
 * The x86-64 backend, continued: F and D inline (docs/jit.md, "F and D").
 *
 * The common case runs on the host's SSE unit (and FMA3 for the fused
 * operations); guards send every other case to the interpreter, which
 * runs the rest of the block from the instruction (COLD_CALL,
 * jit_exec_rest; fpu.c is exact in every case). So a guard that passed
 * holds for the block's later instructions, and each is tested once per
 * block (tctx.fp_known). An instruction's guards, in the order its code
 * tests them:
 * - mstatus.FS: Dirty (with SD set, as hart_fs_dirty leaves it) for an
 *   instruction that writes an f register or may raise a flag, since the
 *   handler would set both; not Off for the others;
 * - the rounding mode: round to nearest even, static (the instruction's
 *   rm, checked here at translation) or dynamic with frm = RNE. The host
 *   rounds with MXCSR's mode, which is RNE with FTZ and DAZ off for the
 *   thread that translates and runs the code (checked at translation);
 * - fflags.NX already set, for an operation that may be inexact: reading
 *   which flags a host operation raised costs an MXCSR round trip, more
 *   than the arithmetic. With NX set, the only flags left to raise are
 *   NV, DZ, OF and UF, and a result that is a normal number at least twice
 *   the smallest normal (normal_result) rules all of them out: NV and DZ
 *   give a NaN or an infinity, OF an infinity in RNE, and UF (tininess
 *   after rounding) a result below the smallest normal, or the smallest
 *   normal itself when it was rounded up to. NaN inputs give NaN results
 *   and infinite ones infinite, NaN or zero results, so such a result also
 *   means finite operands, and no NaN to make canonical;
 * - single-precision operands NaN-boxed (a bad box reads as the canonical
 *   NaN).
 * A program that keeps fflags clear (a library saving and restoring the
 * environment around exact arithmetic) runs the rest of each block with
 * such an operation in the interpreter.
 *
 * FMIN/FMAX, FCLASS, the unsigned conversions and other rounding modes
 * stay with their handlers (jx_fallback).
 */
#include <stddef.h>

#include "cpu/exec.h"
#include "cpu/fpu.h"
#include "cpu/jit/jit_impl.h"
#include "cpu/jit/x86_64.h"

/* what an instruction's guards test (see above) */
enum {
	NEED_FS_ON = 1,	   /* mstatus.FS is not Off */
	NEED_FS_DIRTY = 2, /* mstatus.FS is Dirty and SD set */
	NEED_RNE = 4,	   /* a dynamic rm finds frm = RNE */
	NEED_NX = 8,	   /* fflags.NX is set */
};

/* Host MXCSR as the inline code needs it: RNE, FTZ and DAZ off, every
 * exception masked (the process default; fpu.c restores what it finds). */
static bool host_mxcsr_ok(void)
{
	unsigned csr;
	__asm__ volatile("stmxcsr %0" : "=m"(csr));
	return (csr & 0xffc0u) == 0x1f80u;
}

/* The rm field allows the inline code: RNE, or dynamic (guarded). An
 * exact operation (rounding never matters) may have any valid static
 * mode. */
static bool rm_ok(const struct insn *in, bool exact)
{
	return in->rm == 0 || in->rm == 7 || (exact && in->rm <= 4);
}

static void guards(struct tctx *t, const struct insn *in, unsigned need)
{
	t->fp_in = in;
	t->fp_cold = NULL;
	if (in->rm != 7)
		need &= ~NEED_RNE; /* static: checked by rm_ok */
	/* tested by an earlier instruction of the block (tctx.fp_known):
	 * Dirty implies On */
	need &= ~t->fp_known;
	if (t->fp_known & NEED_FS_DIRTY)
		need &= ~NEED_FS_ON;
	t->fp_known |= need;
	if (need & NEED_FS_DIRTY) {
		/* rol brings SD to bit 0 and FS to bits 14-15 */
		ld64(t, RAX, RBX, HOFF(s.mstatus));
		shift_ri(t, W, 0, RAX, 1);
		rr(t, 0, 0xf7, 2, RAX); /* not eax */
		b1(t, 0xa9);		/* test eax, imm32 */
		b4(t, (uint32_t)(MSTATUS_FS << 1) | 1);
		jx_guard(t, CC_NE);
	} else if (need & NEED_FS_ON) {
		rm(t, 0, 0xf7, 0, RBX, HOFF(s.mstatus)); /* test dword */
		b4(t, (uint32_t)MSTATUS_FS);
		jx_guard(t, CC_E);
	}
	if (need & NEED_RNE) {
		alu_mi(t, 0, 7, RBX, HOFF(s.frm), 0);
		jx_guard(t, CC_NE);
	}
	if (need & NEED_NX) {
		rm(t, 0, 0xf6, 0, RBX, HOFF(s.fflags)); /* test byte */
		b1(t, FPU_NX);
		jx_guard(t, CC_E);
	}
}

/* f register r holds a NaN-boxed single */
static void boxed(struct tctx *t, unsigned r)
{
	alu_mi(t, 0, 7, RBX, FOFF(r) + 4, -1);
	jx_guard(t, CC_NE);
}

/* xmm x = f register r (its low half for a single) */
static void load_f(struct tctx *t, unsigned x, unsigned r, bool dbl)
{
	rm(t, PF3, dbl ? 0x0f7e : 0x0f10, x, RBX, FOFF(r)); /* movq/movss */
}

/* rax = the bits of xmm x; to the handler unless they are a normal
 * number with a biased exponent from 2 to the largest finite one */
static void normal_result(struct tctx *t, unsigned x, bool dbl)
{
	if (dbl) {
		rr(t, P66 | W, 0x0f7e, x, RAX); /* movq rax, xmm */
		mov_rr(t, RCX, RAX);
		shift_ri(t, W, 4, RCX, 1); /* drop the sign */
		shift_ri(t, W, 5, RCX, 53);
		alu_ri(t, 0, 5, RCX, 2);
		alu_ri(t, 0, 7, RCX, 0x7fd);
	} else {
		rr(t, P66, 0x0f7e, x, RAX); /* movd eax, xmm */
		rr(t, 0, 0x89, RAX, RCX);   /* mov ecx, eax */
		shift_ri(t, 0, 4, RCX, 1);
		shift_ri(t, 0, 5, RCX, 24);
		alu_ri(t, 0, 5, RCX, 2);
		alu_ri(t, 0, 7, RCX, 0xfd);
	}
	jx_guard(t, CC_AE);
}

/* f register rd = rax: all of it, or NaN-boxed eax */
static void put_f(struct tctx *t, unsigned rd, bool dbl)
{
	if (dbl) {
		st64(t, RBX, FOFF(rd), RAX);
		return;
	}
	rm(t, 0, 0x89, RAX, RBX, FOFF(rd));
	rm(t, 0, 0xc7, 0, RBX, FOFF(rd) + 4);
	b4(t, 0xffffffffu);
}

/* add, sub, mul, div (SSE opcode op, 0x0f58 ...) and sqrt (0x0f51) */
static bool arith(struct tctx *t, const struct insn *in, unsigned op, bool dbl)
{
	if (!rm_ok(in, false))
		return jx_fallback(t, in);
	bool sqrt = op == 0x0f51;
	guards(t, in, NEED_FS_DIRTY | NEED_RNE | NEED_NX);
	if (!dbl) {
		boxed(t, in->rs1);
		if (!sqrt)
			boxed(t, in->rs2);
	}
	unsigned pf = dbl ? PF2 : PF3;
	if (sqrt) {
		rm(t, pf, op, 0, RBX, FOFF(in->rs1));
	} else {
		load_f(t, 0, in->rs1, dbl);
		rm(t, pf, op, 0, RBX, FOFF(in->rs2));
	}
	normal_result(t, 0, dbl);
	put_f(t, in->rd, dbl);
	return true;
}

/* rs1 * rs2 + rs3 and its negations: xmm2 = +-xmm0 * xmm1 +- xmm2 by
 * vfmadd231 (op 0xb9), vfmsub231 (0xbb), vfnmadd231 (0xbd: -(a*b) + c)
 * or vfnmsub231 (0xbf: -(a*b) - c) */
static bool fused(struct tctx *t, const struct insn *in, unsigned op, bool dbl)
{
	if (!rm_ok(in, false) || !__builtin_cpu_supports("fma"))
		return jx_fallback(t, in);
	guards(t, in, NEED_FS_DIRTY | NEED_RNE | NEED_NX);
	if (!dbl) {
		boxed(t, in->rs1);
		boxed(t, in->rs2);
		boxed(t, in->rs3);
	}
	load_f(t, 0, in->rs1, dbl);
	load_f(t, 1, in->rs2, dbl);
	load_f(t, 2, in->rs3, dbl);
	/* VEX.LIG.66.0F38.W1/W0 op /r: reg xmm2, vvvv xmm0, rm xmm1 */
	b1(t, 0xc4);
	b1(t, 0xe2);
	b1(t, dbl ? 0xf9 : 0x79);
	b1(t, op);
	b1(t, 0xd1);
	normal_result(t, 2, dbl);
	put_f(t, in->rd, dbl);
	return true;
}

/* fsgnj (n: rs2's sign inverted; x: the signs' exclusive or) */
static bool sign_inject(struct tctx *t, const struct insn *in, bool n, bool x,
			bool dbl)
{
	guards(t, in, NEED_FS_DIRTY);
	unsigned fl = dbl ? W : 0;
	if (!dbl) {
		boxed(t, in->rs1);
		boxed(t, in->rs2);
	}
	rm(t, fl, 0x8b, RAX, RBX, FOFF(in->rs1));
	rm(t, fl, 0x8b, RCX, RBX, FOFF(in->rs2));
	if (n)
		rr(t, fl, 0xf7, 2, RCX); /* not */
	if (!x)
		rr(t, fl, 0x31, RAX, RCX); /* rcx ^= rax: the signs differ */
	/* rcx = its sign bit alone */
	shift_ri(t, fl, 5, RCX, dbl ? 63 : 31);
	shift_ri(t, fl, 4, RCX, dbl ? 63 : 31);
	rr(t, fl, 0x31, RCX, RAX); /* flip rax's sign where rcx says */
	put_f(t, in->rd, dbl);
	return true;
}

/* feq, flt, fle: x[rd] = (rs1 cc rs2), ordered operands only (a NaN may
 * raise NV: the handler) */
static bool compare(struct tctx *t, const struct insn *in, unsigned cc,
		    bool dbl)
{
	guards(t, in, NEED_FS_ON);
	if (!dbl) {
		boxed(t, in->rs1);
		boxed(t, in->rs2);
	}
	load_f(t, 0, in->rs1, dbl);
	rm(t, dbl ? P66 : 0, 0x0f2e, 0, RBX, FOFF(in->rs2)); /* ucomis */
	jx_guard(t, CC_P);				     /* unordered */
	setcc(t, cc, RAX);
	rr(t, B8, 0x0fb6, RAX, RAX); /* movzx eax, al */
	jx_set_rd(t, in->rd, RAX);
	return true;
}

/* fcvt.w/l.s/d: to a signed integer, truncating (rm = RTZ) or in RNE.
 * Out of range and NaN give the host's "integer indefinite", the most
 * negative value: the handler (which saturates and raises NV) then
 * takes it, and also an in-range most negative value. */
static bool to_int(struct tctx *t, const struct insn *in, bool dbl, bool word)
{
	if (in->rm != 1 && !rm_ok(in, false))
		return jx_fallback(t, in);
	/* the handler dirties FS when it raises NX: it is dirty already */
	guards(t, in, NEED_FS_DIRTY | NEED_RNE | NEED_NX);
	if (!dbl)
		boxed(t, in->rs1);
	unsigned fl = (dbl ? PF2 : PF3) | (word ? 0 : W);
	/* cvttsd2si / cvtsd2si (and the ss forms) rax, [f] */
	rm(t, fl, in->rm == 1 ? 0x0f2c : 0x0f2d, RAX, RBX, FOFF(in->rs1));
	/* cmp rax, 1: only the most negative value overflows */
	alu_ri(t, word ? 0 : W, 7, RAX, 1);
	jx_guard(t, CC_O);
	if (word)
		movsxd(t, RAX, RAX);
	jx_set_rd(t, in->rd, RAX);
	return true;
}

/* fcvt.s/d.w/l: from a signed integer. Only fcvt.d.w is always exact;
 * the others can only be inexact (no integer overflows or underflows a
 * float). */
static bool from_int(struct tctx *t, const struct insn *in, bool dbl, bool word)
{
	bool exact = dbl && word;
	if (!rm_ok(in, exact))
		return jx_fallback(t, in);
	guards(t, in, NEED_FS_DIRTY | NEED_RNE | (exact ? 0 : NEED_NX));
	unsigned a = jx_src(t, in->rs1, RCX);
	rr(t, P66, 0x0fef, 0, 0); /* pxor xmm0, xmm0: no false dependency */
	/* cvtsi2sd / cvtsi2ss xmm0, r32/r64 */
	rr(t, (dbl ? PF2 : PF3) | (word ? 0 : W), 0x0f2a, 0, a);
	rr(t, P66 | (dbl ? W : 0), 0x0f7e, 0, RAX); /* movq/movd */
	put_f(t, in->rd, dbl);
	return true;
}

/* fcvt.d.s (exact: only a NaN needs the handler) and fcvt.s.d */
static bool convert_fp(struct tctx *t, const struct insn *in, bool to_dbl)
{
	if (!rm_ok(in, to_dbl))
		return jx_fallback(t, in);
	guards(t, in, NEED_FS_DIRTY | NEED_RNE | (to_dbl ? 0 : NEED_NX));
	if (to_dbl) {
		boxed(t, in->rs1);
		rm(t, PF3, 0x0f5a, 0, RBX, FOFF(in->rs1)); /* cvtss2sd */
		rr(t, P66, 0x0f2e, 0, 0); /* ucomisd xmm0, xmm0 */
		jx_guard(t, CC_P);
		rr(t, P66 | W, 0x0f7e, 0, RAX);
	} else {
		rm(t, PF2, 0x0f5a, 0, RBX, FOFF(in->rs1)); /* cvtsd2ss */
		normal_result(t, 0, false);
	}
	put_f(t, in->rd, to_dbl);
	return true;
}

/* fmv.x.w/d: the bits, a single's sign-extended; fmv.w/d.x: the bits
 * into an f register (a single NaN-boxed) */
static bool move(struct tctx *t, const struct insn *in, bool to_x, bool dbl)
{
	guards(t, in, to_x ? NEED_FS_ON : NEED_FS_DIRTY);
	if (to_x) {
		rm(t, W, dbl ? 0x8b : 0x63, RAX, RBX, FOFF(in->rs1));
		jx_set_rd(t, in->rd, RAX);
	} else {
		mov_rr(t, RAX, jx_src(t, in->rs1, RAX));
		put_f(t, in->rd, dbl);
	}
	return true;
}

/* flw/fld, fsw/fsd on the soft-TLB fast path (x86_64.c, tlb_lookup),
 * whose misses take the handler as an integer access's do */
static bool access(struct tctx *t, const struct insn *in, bool store, bool dbl)
{
	unsigned size = dbl ? 8 : 4, fl = dbl ? W : 0;
	/* a load dirties FS; a store only needs it on */
	guards(t, in, store ? NEED_FS_ON : NEED_FS_DIRTY);
	jx_tlb_lookup(t, in, size, store ? HOFF(tlb_store) : HOFF(tlb_load));
	if (store) {
		rm(t, fl, 0x8b, RDX, RBX, FOFF(in->rs2));
		rm_idx(t, fl, 0x89, RDX, RSI, RCX);
	} else {
		rm_idx(t, fl, 0x8b, RAX, RSI, RCX);
		put_f(t, in->rd, dbl);
	}
	jx_resume_here(t);
	return true;
}

bool jx_fp(struct tctx *t, const struct insn *in)
{
	if (!host_mxcsr_ok())
		return jx_fallback(t, in);
	switch ((enum insn_op)in->op) {
	case OP_FLW: return access(t, in, false, false);
	case OP_FLD: return access(t, in, false, true);
	case OP_FSW: return access(t, in, true, false);
	case OP_FSD: return access(t, in, true, true);
	case OP_FADD_S: return arith(t, in, 0x0f58, false);
	case OP_FSUB_S: return arith(t, in, 0x0f5c, false);
	case OP_FMUL_S: return arith(t, in, 0x0f59, false);
	case OP_FDIV_S: return arith(t, in, 0x0f5e, false);
	case OP_FSQRT_S: return arith(t, in, 0x0f51, false);
	case OP_FADD_D: return arith(t, in, 0x0f58, true);
	case OP_FSUB_D: return arith(t, in, 0x0f5c, true);
	case OP_FMUL_D: return arith(t, in, 0x0f59, true);
	case OP_FDIV_D: return arith(t, in, 0x0f5e, true);
	case OP_FSQRT_D: return arith(t, in, 0x0f51, true);
	case OP_FMADD_S: return fused(t, in, 0xb9, false);
	case OP_FMSUB_S: return fused(t, in, 0xbb, false);
	case OP_FNMSUB_S: return fused(t, in, 0xbd, false);
	case OP_FNMADD_S: return fused(t, in, 0xbf, false);
	case OP_FMADD_D: return fused(t, in, 0xb9, true);
	case OP_FMSUB_D: return fused(t, in, 0xbb, true);
	case OP_FNMSUB_D: return fused(t, in, 0xbd, true);
	case OP_FNMADD_D: return fused(t, in, 0xbf, true);
	case OP_FSGNJ_S: return sign_inject(t, in, false, false, false);
	case OP_FSGNJN_S: return sign_inject(t, in, true, false, false);
	case OP_FSGNJX_S: return sign_inject(t, in, false, true, false);
	case OP_FSGNJ_D: return sign_inject(t, in, false, false, true);
	case OP_FSGNJN_D: return sign_inject(t, in, true, false, true);
	case OP_FSGNJX_D: return sign_inject(t, in, false, true, true);
	case OP_FEQ_S: return compare(t, in, CC_E, false);
	case OP_FLT_S: return compare(t, in, CC_B, false);
	case OP_FLE_S: return compare(t, in, CC_BE, false);
	case OP_FEQ_D: return compare(t, in, CC_E, true);
	case OP_FLT_D: return compare(t, in, CC_B, true);
	case OP_FLE_D: return compare(t, in, CC_BE, true);
	case OP_FCVT_W_S: return to_int(t, in, false, true);
	case OP_FCVT_L_S: return to_int(t, in, false, false);
	case OP_FCVT_W_D: return to_int(t, in, true, true);
	case OP_FCVT_L_D: return to_int(t, in, true, false);
	case OP_FCVT_S_W: return from_int(t, in, false, true);
	case OP_FCVT_S_L: return from_int(t, in, false, false);
	case OP_FCVT_D_W: return from_int(t, in, true, true);
	case OP_FCVT_D_L: return from_int(t, in, true, false);
	case OP_FCVT_D_S: return convert_fp(t, in, true);
	case OP_FCVT_S_D: return convert_fp(t, in, false);
	case OP_FMV_X_W: return move(t, in, true, false);
	case OP_FMV_X_D: return move(t, in, true, true);
	case OP_FMV_W_X: return move(t, in, false, false);
	case OP_FMV_D_X: return move(t, in, false, true);
	default: return jx_fallback(t, in);
	}
}
