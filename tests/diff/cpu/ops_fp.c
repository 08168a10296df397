/*
 * F and D instructions under test, executed as the real instructions through
 * inline assembly. Every instruction with a rounding-mode field runs in six
 * variants: the five static modes (frm then holds a random other valid mode,
 * which must be ignored) and the dynamic mode (frm = the case's mode).
 * fflags is read with csrr after each instruction and cleared with csrw.
 *
 * f operands are loaded with fmv.d.x, so binary32 operands may arrive
 * improperly NaN-boxed on purpose; f results are read back with fmv.x.d,
 * so the NaN-boxing of results is compared too.
 *
 * The "rm*" and "frm*" ops use reserved rounding modes 5-7 (static, or
 * through frm): those must raise an illegal-instruction trap, whose cause
 * is folded in instead of a result.
 */
#include <stdint.h>

#include "cpudiff.h"

/* One op: set frm, load ft0/ft1/ft3 from a/b/c, run body, read fflags. */
#define FP_FN(id, body)                                                    \
	static struct cpudiff_res id(uint64_t a, uint64_t b, uint64_t c,   \
				     uint64_t rm)                          \
	{                                                                  \
		uint64_t r, fl;                                            \
		__asm__ volatile(                                          \
			"csrw frm, %[rm]\n\t"                              \
			"fmv.d.x ft0, %[a]\n\t"                            \
			"fmv.d.x ft1, %[b]\n\t"                            \
			"fmv.d.x ft3, %[c]\n\t" body "\n\t"                \
			"csrr %[fl], fflags\n\t"                           \
			"csrw fflags, zero"                                \
			: [r] "=&r"(r), [fl] "=&r"(fl)                     \
			: [a] "r"(a), [b] "r"(b), [c] "r"(c), [rm] "r"(rm) \
			: "ft0", "ft1", "ft2", "ft3");                     \
		return (struct cpudiff_res){ r, fl };                      \
	}

/* Bodies. f results go through ft2 and fmv.x.d. */
#define B_FFF(insn, rm)	 insn " ft2, ft0, ft1, " rm "\n\tfmv.x.d %[r], ft2"
#define B_FF(insn, rm)	 insn " ft2, ft0, " rm "\n\tfmv.x.d %[r], ft2"
#define B_FFFF(insn, rm) insn " ft2, ft0, ft1, ft3, " rm "\n\tfmv.x.d %[r], ft2"
#define B_XF(insn, rm)	 insn " %[r], ft0, " rm
#define B_FX(insn, rm)	 insn " ft2, %[a], " rm "\n\tfmv.x.d %[r], ft2"
/* Exact conversions: binutils refuses an rm operand, so .insn with
 * "funct7, rs2-register" in insn and the numeric rm. */
#define B_FF_EXACT(insn, rm) \
	".insn r 0x53, " rm ", " insn "\n\tfmv.x.d %[r], ft2"

#define FP6(id, body, insn)                \
	FP_FN(id##_rne, body(insn, "rne")) \
	FP_FN(id##_rtz, body(insn, "rtz")) \
	FP_FN(id##_rdn, body(insn, "rdn")) \
	FP_FN(id##_rup, body(insn, "rup")) \
	FP_FN(id##_rmm, body(insn, "rmm")) \
	FP_FN(id##_dyn, body(insn, "dyn"))
#define FP6N(id, body, insn)             \
	FP_FN(id##_rne, body(insn, "0")) \
	FP_FN(id##_rtz, body(insn, "1")) \
	FP_FN(id##_rdn, body(insn, "2")) \
	FP_FN(id##_rup, body(insn, "3")) \
	FP_FN(id##_rmm, body(insn, "4")) \
	FP_FN(id##_dyn, body(insn, "7"))

/* Per precision: arithmetic, fused, conversions with rounding. */
#define FP_ROUNDED(p, P)                            \
	FP6(op_fadd_##p, B_FFF, "fadd." #p)         \
	FP6(op_fsub_##p, B_FFF, "fsub." #p)         \
	FP6(op_fmul_##p, B_FFF, "fmul." #p)         \
	FP6(op_fdiv_##p, B_FFF, "fdiv." #p)         \
	FP6(op_fsqrt_##p, B_FF, "fsqrt." #p)        \
	FP6(op_fmadd_##p, B_FFFF, "fmadd." #p)      \
	FP6(op_fmsub_##p, B_FFFF, "fmsub." #p)      \
	FP6(op_fnmsub_##p, B_FFFF, "fnmsub." #p)    \
	FP6(op_fnmadd_##p, B_FFFF, "fnmadd." #p)    \
	FP6(op_fcvt_w_##p, B_XF, "fcvt.w." #p)      \
	FP6(op_fcvt_wu_##p, B_XF, "fcvt.wu." #p)    \
	FP6(op_fcvt_l_##p, B_XF, "fcvt.l." #p)      \
	FP6(op_fcvt_lu_##p, B_XF, "fcvt.lu." #p)    \
	FP6(op_fcvt_##p##_l, B_FX, "fcvt." #p ".l") \
	FP6(op_fcvt_##p##_lu, B_FX, "fcvt." #p ".lu")

FP_ROUNDED(s, S)
FP_ROUNDED(d, D)
FP6(op_fcvt_s_w, B_FX, "fcvt.s.w")
FP6(op_fcvt_s_wu, B_FX, "fcvt.s.wu")
FP6(op_fcvt_s_d, B_FF, "fcvt.s.d")
/* exact: fcvt.d.w (0x69, rs2 0), fcvt.d.wu (0x69, rs2 1), fcvt.d.s (0x21) */
FP6N(op_fcvt_d_w, B_FF_EXACT, "0x69, ft2, %[a], x0")
FP6N(op_fcvt_d_wu, B_FF_EXACT, "0x69, ft2, %[a], x1")
FP6N(op_fcvt_d_s, B_FF_EXACT, "0x21, ft2, ft0, f0")

/* No rounding mode. */
#define B_N_FFF(insn) insn " ft2, ft0, ft1\n\tfmv.x.d %[r], ft2"
#define B_N_XFF(insn) insn " %[r], ft0, ft1"
#define B_N_XF(insn)  insn " %[r], ft0"
#define B_N_FX(insn)  insn " ft2, %[a]\n\tfmv.x.d %[r], ft2"

#define FP_PLAIN(p)                                 \
	FP_FN(op_fmin_##p, B_N_FFF("fmin." #p))     \
	FP_FN(op_fmax_##p, B_N_FFF("fmax." #p))     \
	FP_FN(op_fsgnj_##p, B_N_FFF("fsgnj." #p))   \
	FP_FN(op_fsgnjn_##p, B_N_FFF("fsgnjn." #p)) \
	FP_FN(op_fsgnjx_##p, B_N_FFF("fsgnjx." #p)) \
	FP_FN(op_feq_##p, B_N_XFF("feq." #p))       \
	FP_FN(op_flt_##p, B_N_XFF("flt." #p))       \
	FP_FN(op_fle_##p, B_N_XFF("fle." #p))       \
	FP_FN(op_fclass_##p, B_N_XF("fclass." #p))

FP_PLAIN(s)
FP_PLAIN(d)
FP_FN(op_fmv_x_w, B_N_XF("fmv.x.w"))
FP_FN(op_fmv_w_x, B_N_FX("fmv.w.x"))
FP_FN(op_fmv_x_d, B_N_XF("fmv.x.d"))
FP_FN(op_fmv_d_x, B_N_FX("fmv.d.x"))

/* ---- reserved rounding modes ------------------------------------------------
 * rm = 0..7. The instruction either runs (rm valid) or traps; the trap
 * handler skips it, ft2 then still holds 0 and the cause is folded in. */
#define TRAPPED_FLAG (1ULL << 20)

#define RM_CASE(num, enc, load)                                            \
	case num:                                                          \
		__asm__ volatile(                                          \
			load "fmv.d.x ft2, zero\n\t"                       \
			     ".insn " enc "\n\t"                           \
			     "fmv.x.d %[r], ft2\n\t"                       \
			     "csrr %[fl], fflags\n\t"                      \
			     "csrw fflags, zero"                           \
			: [r] "=&r"(r), [fl] "=&r"(fl)                     \
			: [a] "r"(a), [b] "r"(b), [c] "r"(c), [n] "i"(num) \
			: "ft0", "ft1", "ft2", "ft3", "memory");           \
		break;

#define LOAD3 "fmv.d.x ft0, %[a]\n\tfmv.d.x ft1, %[b]\n\tfmv.d.x ft3, %[c]\n\t"

#define RM_FN(id, enc)                                                   \
	static struct cpudiff_res id(uint64_t a, uint64_t b, uint64_t c, \
				     uint64_t rm)                        \
	{                                                                \
		uint64_t r = 0, fl = 0;                                  \
		cpudiff_trap_cause = 0;                                  \
		cpudiff_trap_armed = 1;                                  \
		__asm__ volatile("csrwi frm, 0" ::: "memory");           \
		switch (rm) {                                            \
			RM_CASE(0, enc, LOAD3)                           \
			RM_CASE(1, enc, LOAD3)                           \
			RM_CASE(2, enc, LOAD3)                           \
			RM_CASE(3, enc, LOAD3)                           \
			RM_CASE(4, enc, LOAD3)                           \
			RM_CASE(5, enc, LOAD3)                           \
			RM_CASE(6, enc, LOAD3)                           \
			RM_CASE(7, enc, LOAD3)                           \
		}                                                        \
		if (!cpudiff_trap_armed)                                 \
			fl |= TRAPPED_FLAG | cpudiff_trap_cause << 8;    \
		cpudiff_trap_armed = 0;                                  \
		return (struct cpudiff_res){ r, fl };                    \
	}

/* Dynamic mode with frm = rm (0..7). */
#define FRM_FN(id, insn)                                                    \
	static struct cpudiff_res id(uint64_t a, uint64_t b, uint64_t c,    \
				     uint64_t rm)                           \
	{                                                                   \
		uint64_t r, fl;                                             \
		cpudiff_trap_cause = 0;                                     \
		cpudiff_trap_armed = 1;                                     \
		__asm__ volatile(                                           \
			"csrw frm, %[rm]\n\t" LOAD3 "fmv.d.x ft2, zero\n\t" \
			".insn " insn "\n\t"                                \
			"fmv.x.d %[r], ft2\n\t"                             \
			"csrr %[fl], fflags\n\t"                            \
			"csrw fflags, zero\n\t"                             \
			"csrwi frm, 0"                                      \
			: [r] "=&r"(r), [fl] "=&r"(fl)                      \
			: [a] "r"(a), [b] "r"(b), [c] "r"(c), [rm] "r"(rm)  \
			: "ft0", "ft1", "ft2", "ft3", "memory");            \
		if (!cpudiff_trap_armed)                                    \
			fl |= TRAPPED_FLAG | cpudiff_trap_cause << 8;       \
		cpudiff_trap_armed = 0;                                     \
		return (struct cpudiff_res){ r, fl };                       \
	}

RM_FN(op_rm_fadd_s, "r 0x53, %[n], 0x00, ft2, ft0, ft1")
RM_FN(op_rm_fadd_d, "r 0x53, %[n], 0x01, ft2, ft0, ft1")
RM_FN(op_rm_fsqrt_d, "r 0x53, %[n], 0x2d, ft2, ft0, f0")
RM_FN(op_rm_fmadd_d, "r4 0x43, %[n], 1, ft2, ft0, ft1, ft3")
/* rd = x0: the result is checked by the fcvt.w.d lines */
RM_FN(op_rm_fcvt_w_d, "r 0x53, %[n], 0x61, zero, ft0, f0")
RM_FN(op_rm_fcvt_d_s, "r 0x53, %[n], 0x21, ft2, ft0, f0")
RM_FN(op_rm_fcvt_d_w, "r 0x53, %[n], 0x69, ft2, %[a], x0")
RM_FN(op_rm_fcvt_s_l, "r 0x53, %[n], 0x68, ft2, %[a], x2")
FRM_FN(op_frm_fadd_s, "r 0x53, 7, 0x00, ft2, ft0, ft1")
FRM_FN(op_frm_fmul_d, "r 0x53, 7, 0x09, ft2, ft0, ft1")
FRM_FN(op_frm_fcvt_d_s, "r 0x53, 7, 0x21, ft2, ft0, f0")
FRM_FN(op_frm_fcvt_d_w, "r 0x53, 7, 0x69, ft2, %[a], x0")

/* ---- the table -------------------------------------------------------------- */

#define E(name, id, ka, kb, kc)                  \
	{                                        \
		name, { ka, kb, kc }, OPF_FP, id \
	}
#define E6(name, id, ka, kb, kc)                      \
	E(name "/rne", id##_rne, ka, kb, kc),         \
		E(name "/rtz", id##_rtz, ka, kb, kc), \
		E(name "/rdn", id##_rdn, ka, kb, kc), \
		E(name "/rup", id##_rup, ka, kb, kc), \
		E(name "/rmm", id##_rmm, ka, kb, kc), \
		E(name "/dyn", id##_dyn, ka, kb, kc)
#define ERM(name, id, ka, kb, kc)                    \
	{                                            \
		name, { ka, kb, kc }, OPF_RM_ANY, id \
	}

#define TABLE_ROUNDED(p, K)                                                \
	E6("fadd." #p, op_fadd_##p, K, K, K_NONE),                         \
		E6("fsub." #p, op_fsub_##p, K, K, K_NONE),                 \
		E6("fmul." #p, op_fmul_##p, K, K, K_NONE),                 \
		E6("fdiv." #p, op_fdiv_##p, K, K, K_NONE),                 \
		E6("fsqrt." #p, op_fsqrt_##p, K, K_NONE, K_NONE),          \
		E6("fmadd." #p, op_fmadd_##p, K, K, K),                    \
		E6("fmsub." #p, op_fmsub_##p, K, K, K),                    \
		E6("fnmsub." #p, op_fnmsub_##p, K, K, K),                  \
		E6("fnmadd." #p, op_fnmadd_##p, K, K, K),                  \
		E6("fcvt.w." #p, op_fcvt_w_##p, K, K_NONE, K_NONE),        \
		E6("fcvt.wu." #p, op_fcvt_wu_##p, K, K_NONE, K_NONE),      \
		E6("fcvt.l." #p, op_fcvt_l_##p, K, K_NONE, K_NONE),        \
		E6("fcvt.lu." #p, op_fcvt_lu_##p, K, K_NONE, K_NONE),      \
		E6("fcvt." #p ".l", op_fcvt_##p##_l, K_X, K_NONE, K_NONE), \
		E6("fcvt." #p ".lu", op_fcvt_##p##_lu, K_X, K_NONE, K_NONE)

#define TABLE_PLAIN(p, K)                                     \
	E("fmin." #p, op_fmin_##p, K, K, K_NONE),             \
		E("fmax." #p, op_fmax_##p, K, K, K_NONE),     \
		E("fsgnj." #p, op_fsgnj_##p, K, K, K_NONE),   \
		E("fsgnjn." #p, op_fsgnjn_##p, K, K, K_NONE), \
		E("fsgnjx." #p, op_fsgnjx_##p, K, K, K_NONE), \
		E("feq." #p, op_feq_##p, K, K, K_NONE),       \
		E("flt." #p, op_flt_##p, K, K, K_NONE),       \
		E("fle." #p, op_fle_##p, K, K, K_NONE),       \
		E("fclass." #p, op_fclass_##p, K, K_NONE, K_NONE)

const struct cpudiff_op cpudiff_fp_ops[] = {
	TABLE_ROUNDED(s, K_S),
	E6("fcvt.s.w", op_fcvt_s_w, K_X, K_NONE, K_NONE),
	E6("fcvt.s.wu", op_fcvt_s_wu, K_X, K_NONE, K_NONE),
	TABLE_PLAIN(s, K_S),
	E("fmv.x.w", op_fmv_x_w, K_S, K_NONE, K_NONE),
	E("fmv.w.x", op_fmv_w_x, K_X, K_NONE, K_NONE),
	TABLE_ROUNDED(d, K_D),
	E6("fcvt.d.w", op_fcvt_d_w, K_X, K_NONE, K_NONE),
	E6("fcvt.d.wu", op_fcvt_d_wu, K_X, K_NONE, K_NONE),
	TABLE_PLAIN(d, K_D),
	E("fmv.x.d", op_fmv_x_d, K_D, K_NONE, K_NONE),
	E("fmv.d.x", op_fmv_d_x, K_X, K_NONE, K_NONE),
	E6("fcvt.s.d", op_fcvt_s_d, K_D, K_NONE, K_NONE),
	E6("fcvt.d.s", op_fcvt_d_s, K_S, K_NONE, K_NONE),
	ERM("fadd.s/rm*", op_rm_fadd_s, K_S, K_S, K_NONE),
	ERM("fadd.d/rm*", op_rm_fadd_d, K_D, K_D, K_NONE),
	ERM("fsqrt.d/rm*", op_rm_fsqrt_d, K_D, K_NONE, K_NONE),
	ERM("fmadd.d/rm*", op_rm_fmadd_d, K_D, K_D, K_D),
	ERM("fcvt.w.d/rm*", op_rm_fcvt_w_d, K_D, K_NONE, K_NONE),
	ERM("fcvt.d.s/rm*", op_rm_fcvt_d_s, K_S, K_NONE, K_NONE),
	ERM("fcvt.d.w/rm*", op_rm_fcvt_d_w, K_X, K_NONE, K_NONE),
	ERM("fcvt.s.l/rm*", op_rm_fcvt_s_l, K_X, K_NONE, K_NONE),
	ERM("fadd.s/frm*", op_frm_fadd_s, K_S, K_S, K_NONE),
	ERM("fmul.d/frm*", op_frm_fmul_d, K_D, K_D, K_NONE),
	ERM("fcvt.d.s/frm*", op_frm_fcvt_d_s, K_S, K_NONE, K_NONE),
	ERM("fcvt.d.w/frm*", op_frm_fcvt_d_w, K_X, K_NONE, K_NONE),
};
const unsigned cpudiff_n_fp_ops = sizeof(cpudiff_fp_ops) /
				  sizeof(cpudiff_fp_ops[0]);
