/*
 * Differential test of src/cpu/fpu.c (F, D) and tests/diff/ref_int.h (M, Zba,
 * Zbb, Zbs) against Debian's QEMU.
 *
 * The host generates random cases from a seed (biased toward NaNs, signed
 * zeros, infinities, subnormals, overflow and integer-conversion boundaries,
 * rounding ties and cancellations; every rounding mode), runs them through
 * the riscv64 program guest.c under qemu-riscv64, and compares rd and fflags
 * with what our functions compute, case by case.
 *
 * Usage: diff_fpu QEMU GUEST [--seed N] [--count N] [--int-count N]
 *        diff_fpu --skip REASON   (exit 77: meson's "skipped")
 */
#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu/fpu.h"
#include "diff_ops.h"
#include "ref_int.h"

_Static_assert(sizeof(struct diff_case) == 32, "record layout");
_Static_assert(sizeof(struct diff_result) == 16, "record layout");

extern char **environ;

/* --- random generation --------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t pick(const uint64_t *v, size_t n)
{
	return v[rnd() % n];
}

static const uint64_t special_s[] = {
	0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
	0x7f800001, 0x7fa00000, 0xff812345, 0x7fc12345, 0x00000001, 0x80000001,
	0x007fffff, 0x807fffff, 0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff,
	0x7f7ffffe, 0x3f800000, 0xbf800000, 0x3f000000, 0xbf000000, 0x3fc00000,
	0x40200000, 0xbfc00000, 0x3effffff, 0x4f000000, 0xcf000000, 0x4f800000,
	0x5f000000, 0xdf000000, 0x5f800000, 0x4effffff, 0x4f7fffff, 0x5effffff,
	0x5f7fffff, 0xcf000001, 0xdf000001, 0xbf7fffff, 0x4b000000, 0x4b800000,
	0x34000000, 0x33800000, 0x00400000,
};

static const uint64_t special_d[] = {
	0x0000000000000000, 0x8000000000000000, 0x7ff0000000000000,
	0xfff0000000000000, 0x7ff8000000000000, 0xfff8000000000000,
	0x7ff0000000000001, 0x7ff4000000000000, 0xfff0123456789abc,
	0x7ff8123456789abc, 0x0000000000000001, 0x8000000000000001,
	0x000fffffffffffff, 0x800fffffffffffff, 0x0010000000000000,
	0x8010000000000000, 0x7fefffffffffffff, 0xffefffffffffffff,
	0x3ff0000000000000, 0xbff0000000000000, 0x3fe0000000000000,
	0xbfe0000000000000, 0x3ff8000000000000, 0x4004000000000000,
	0x41e0000000000000, 0xc1e0000000000000, 0x41dfffffffffffff,
	0x41dfffffffc00000, 0x41e0000000100000, 0xc1e0000000200000,
	0x41efffffffffffff, 0x41f0000000000000, 0x43e0000000000000,
	0xc3e0000000000000, 0x43dfffffffffffff, 0x43efffffffffffff,
	0x43f0000000000000, 0xc3e0000000000001, 0x4330000000000000,
	0x3ca0000000000000, 0x36a0000000000000, 0x3810000000000000,
	0x47efffffe0000000, 0x47effffff0000000, 0x3690000000000000,
};

static const uint64_t special_i[] = {
	0,
	1,
	2,
	3,
	~0ull,
	~1ull,
	1ull << 63,
	(1ull << 63) - 1,
	0xffffffff80000000,
	0x80000000,
	0x7fffffff,
	0xffffffff,
	0x100000000,
	0xffffffff7fffffff,
	0x1000001,
	0x1000003,
	0x20000000000001,
	0x20000000000003,
	0xfffffffffeffffff,
	0x8000000000000400,
	0x80000000000007ff,
	0xffffffffffffff00,
	0x00000000000000ff,
	0x8000,
	0xffff,
	0x80,
	0x7f,
	63,
	64,
	31,
	32,
};

/*
 * A random binary floating value of `mbits` fraction bits, `ebits` exponent
 * bits, biased toward the interesting corners.
 */
static uint64_t gen_fp(unsigned mbits, unsigned ebits, const uint64_t *spec,
		       size_t nspec)
{
	uint64_t emax = (1ull << ebits) - 1, bias = emax >> 1;
	uint64_t fmask = (1ull << mbits) - 1;
	uint64_t sign = (rnd() & 1) << (mbits + ebits);
	uint64_t r = rnd(), e, m;

	switch (rnd() % 14) {
	case 0:
	case 1: return pick(spec, nspec);
	case 2: return sign | (r & fmask);	 /* subnormal */
	case 3: e = 1 + rnd() % 3; break;	 /* tiny normal */
	case 4: e = emax - 1 - rnd() % 3; break; /* huge */
	case 5: e = bias - 2 + rnd() % 5; break; /* near one */
	case 6:
		/* integer-conversion range, up to a bit past 2^64 */
		e = bias - 2 + rnd() % 70;
		break;
	case 7: /* few significant bits: products tie and cancel */
		e = bias - 40 + rnd() % 80;
		m = r & ~(fmask >> (mbits / 2 + 1)) & fmask;
		return sign | e << mbits | m;
	case 8: /* mantissa all ones / zero / one */
		e = rnd() % (emax + 1);
		m = (uint64_t[]){ fmask, 0, 1, fmask - 1 }[rnd() % 4];
		return sign | e << mbits | m;
	case 9: /* NaN with payload, either kind */
		return sign | emax << mbits | ((r & fmask) | 1);
	case 10: e = bias - 64 + rnd() % 128; break;
	default: return r & (fmask | emax << mbits | 1ull << (mbits + ebits));
	}
	return sign | e << mbits | (r & fmask);
}

static uint32_t gen_s(void)
{
	return (uint32_t)gen_fp(23, 8, special_s,
				sizeof(special_s) / sizeof(special_s[0]));
}

static uint64_t gen_d(void)
{
	return gen_fp(52, 11, special_d,
		      sizeof(special_d) / sizeof(special_d[0]));
}

/* NaN-boxed as fmv.d.x would load it; now and then improperly boxed. */
static uint64_t box(uint32_t v)
{
	switch (rnd() % 40) {
	case 0: return v;
	case 1: return (rnd() << 32) | v;
	default: return fpu_box_s(v);
	}
}

static uint64_t gen_int(void)
{
	uint64_t r = rnd();
	unsigned k = rnd() % 64;

	switch (rnd() % 10) {
	case 0:
	case 1:
		return pick(special_i,
			    sizeof(special_i) / sizeof(special_i[0]));
	case 2: return (uint64_t)((int64_t)(rnd() % 21) - 10);
	case 3: return (1ull << k) - (rnd() % 3) + 1;
	case 4: return r >> k;
	case 5: return -(r >> k);
	case 6: /* 25 or 54 significant bits ending in 1: conversion ties */
		r = (r >> ((rnd() & 1) ? 39 : 10)) | 1;
		return (r << (rnd() % (uint64_t)(__builtin_clzll(r) + 1))) *
		       ((rnd() & 1) ? 1 : ~0ull);
	case 7: return ref_sext32(r >> (k & 31));
	default: return r;
	}
}

/* Second/third operands related to the first: cancellation and ties. */
static uint64_t relate(uint64_t a, unsigned mbits, unsigned ebits,
		       uint64_t fresh)
{
	uint64_t signb = 1ull << (mbits + ebits);
	uint64_t e = (a >> mbits) & ((1ull << ebits) - 1);

	switch (rnd() % 8) {
	case 0: return a;
	case 1: return a ^ signb;
	case 2: return (a ^ (rnd() & signb)) + (rnd() % 5) - 2;
	case 3:
	case 4:
		/* half an ulp of a (or a bit around it): a rounding tie */
		if (e > mbits + 2) {
			uint64_t ne = e - mbits - 1 + rnd() % 3 - 1;

			return (rnd() & signb) | ne << mbits |
			       ((rnd() & 1) ? 0 : rnd() & 3);
		}
		return fresh;
	default: return fresh;
	}
}

/* --- the operation table --------------------------------------------- */

enum gen_kind {
	G_S,  /* single operands (f registers) */
	G_D,  /* double operands */
	G_I,  /* integer operands */
	G_SD, /* fcvt.s.d: one double */
	G_DS, /* fcvt.d.s: one single */
};

struct op_desc {
	enum diff_op op;
	const char *name;
	enum gen_kind gen;
	bool rm; /* uses the rounding mode */
};

static const struct op_desc ops[] = {
	{ OP_FADD_S, "fadd.s", G_S, true },
	{ OP_FSUB_S, "fsub.s", G_S, true },
	{ OP_FMUL_S, "fmul.s", G_S, true },
	{ OP_FDIV_S, "fdiv.s", G_S, true },
	{ OP_FSQRT_S, "fsqrt.s", G_S, true },
	{ OP_FMADD_S, "fmadd.s", G_S, true },
	{ OP_FMSUB_S, "fmsub.s", G_S, true },
	{ OP_FNMSUB_S, "fnmsub.s", G_S, true },
	{ OP_FNMADD_S, "fnmadd.s", G_S, true },
	{ OP_FMIN_S, "fmin.s", G_S, false },
	{ OP_FMAX_S, "fmax.s", G_S, false },
	{ OP_FEQ_S, "feq.s", G_S, false },
	{ OP_FLT_S, "flt.s", G_S, false },
	{ OP_FLE_S, "fle.s", G_S, false },
	{ OP_FCLASS_S, "fclass.s", G_S, false },
	{ OP_FSGNJ_S, "fsgnj.s", G_S, false },
	{ OP_FSGNJN_S, "fsgnjn.s", G_S, false },
	{ OP_FSGNJX_S, "fsgnjx.s", G_S, false },
	{ OP_FCVT_W_S, "fcvt.w.s", G_S, true },
	{ OP_FCVT_WU_S, "fcvt.wu.s", G_S, true },
	{ OP_FCVT_L_S, "fcvt.l.s", G_S, true },
	{ OP_FCVT_LU_S, "fcvt.lu.s", G_S, true },
	{ OP_FCVT_S_W, "fcvt.s.w", G_I, true },
	{ OP_FCVT_S_WU, "fcvt.s.wu", G_I, true },
	{ OP_FCVT_S_L, "fcvt.s.l", G_I, true },
	{ OP_FCVT_S_LU, "fcvt.s.lu", G_I, true },
	{ OP_FADD_D, "fadd.d", G_D, true },
	{ OP_FSUB_D, "fsub.d", G_D, true },
	{ OP_FMUL_D, "fmul.d", G_D, true },
	{ OP_FDIV_D, "fdiv.d", G_D, true },
	{ OP_FSQRT_D, "fsqrt.d", G_D, true },
	{ OP_FMADD_D, "fmadd.d", G_D, true },
	{ OP_FMSUB_D, "fmsub.d", G_D, true },
	{ OP_FNMSUB_D, "fnmsub.d", G_D, true },
	{ OP_FNMADD_D, "fnmadd.d", G_D, true },
	{ OP_FMIN_D, "fmin.d", G_D, false },
	{ OP_FMAX_D, "fmax.d", G_D, false },
	{ OP_FEQ_D, "feq.d", G_D, false },
	{ OP_FLT_D, "flt.d", G_D, false },
	{ OP_FLE_D, "fle.d", G_D, false },
	{ OP_FCLASS_D, "fclass.d", G_D, false },
	{ OP_FSGNJ_D, "fsgnj.d", G_D, false },
	{ OP_FSGNJN_D, "fsgnjn.d", G_D, false },
	{ OP_FSGNJX_D, "fsgnjx.d", G_D, false },
	{ OP_FCVT_W_D, "fcvt.w.d", G_D, true },
	{ OP_FCVT_WU_D, "fcvt.wu.d", G_D, true },
	{ OP_FCVT_L_D, "fcvt.l.d", G_D, true },
	{ OP_FCVT_LU_D, "fcvt.lu.d", G_D, true },
	{ OP_FCVT_D_W, "fcvt.d.w", G_I, true },
	{ OP_FCVT_D_WU, "fcvt.d.wu", G_I, true },
	{ OP_FCVT_D_L, "fcvt.d.l", G_I, true },
	{ OP_FCVT_D_LU, "fcvt.d.lu", G_I, true },
	{ OP_FCVT_S_D, "fcvt.s.d", G_SD, true },
	{ OP_FCVT_D_S, "fcvt.d.s", G_DS, true },
	{ OP_MUL, "mul", G_I, false },
	{ OP_MULH, "mulh", G_I, false },
	{ OP_MULHSU, "mulhsu", G_I, false },
	{ OP_MULHU, "mulhu", G_I, false },
	{ OP_DIV, "div", G_I, false },
	{ OP_DIVU, "divu", G_I, false },
	{ OP_REM, "rem", G_I, false },
	{ OP_REMU, "remu", G_I, false },
	{ OP_MULW, "mulw", G_I, false },
	{ OP_DIVW, "divw", G_I, false },
	{ OP_DIVUW, "divuw", G_I, false },
	{ OP_REMW, "remw", G_I, false },
	{ OP_REMUW, "remuw", G_I, false },
	{ OP_ADD_UW, "add.uw", G_I, false },
	{ OP_SH1ADD, "sh1add", G_I, false },
	{ OP_SH2ADD, "sh2add", G_I, false },
	{ OP_SH3ADD, "sh3add", G_I, false },
	{ OP_SH1ADD_UW, "sh1add.uw", G_I, false },
	{ OP_SH2ADD_UW, "sh2add.uw", G_I, false },
	{ OP_SH3ADD_UW, "sh3add.uw", G_I, false },
	{ OP_SLLI_UW, "slli.uw", G_I, false },
	{ OP_ANDN, "andn", G_I, false },
	{ OP_ORN, "orn", G_I, false },
	{ OP_XNOR, "xnor", G_I, false },
	{ OP_CLZ, "clz", G_I, false },
	{ OP_CLZW, "clzw", G_I, false },
	{ OP_CTZ, "ctz", G_I, false },
	{ OP_CTZW, "ctzw", G_I, false },
	{ OP_CPOP, "cpop", G_I, false },
	{ OP_CPOPW, "cpopw", G_I, false },
	{ OP_MAX, "max", G_I, false },
	{ OP_MAXU, "maxu", G_I, false },
	{ OP_MIN, "min", G_I, false },
	{ OP_MINU, "minu", G_I, false },
	{ OP_SEXT_B, "sext.b", G_I, false },
	{ OP_SEXT_H, "sext.h", G_I, false },
	{ OP_ZEXT_H, "zext.h", G_I, false },
	{ OP_ROL, "rol", G_I, false },
	{ OP_ROLW, "rolw", G_I, false },
	{ OP_ROR, "ror", G_I, false },
	{ OP_RORW, "rorw", G_I, false },
	{ OP_RORI, "rori", G_I, false },
	{ OP_RORIW, "roriw", G_I, false },
	{ OP_ORC_B, "orc.b", G_I, false },
	{ OP_REV8, "rev8", G_I, false },
	{ OP_BCLR, "bclr", G_I, false },
	{ OP_BCLRI, "bclri", G_I, false },
	{ OP_BEXT, "bext", G_I, false },
	{ OP_BEXTI, "bexti", G_I, false },
	{ OP_BINV, "binv", G_I, false },
	{ OP_BINVI, "binvi", G_I, false },
	{ OP_BSET, "bset", G_I, false },
	{ OP_BSETI, "bseti", G_I, false },
};

_Static_assert(sizeof(ops) / sizeof(ops[0]) == OP_COUNT, "every op listed");

static bool is_fma(enum diff_op op)
{
	return (op >= OP_FMADD_S && op <= OP_FNMADD_S) ||
	       (op >= OP_FMADD_D && op <= OP_FNMADD_D);
}

static void gen_case(const struct op_desc *d, struct diff_case *k)
{
	unsigned f = 0;

	k->op = d->op;
	k->rm = d->rm ? (uint32_t)(rnd() % 5) : 0;
	switch (d->gen) {
	case G_S: {
		uint32_t a = gen_s(), b = gen_s(), c = gen_s();

		b = (uint32_t)relate(a, 23, 8, b);
		if (is_fma(d->op) && rnd() % 2) {
			/* c near -(a * b): deep cancellation */
			c = fpu_mul_s(a, b, rnd() % 4, &f) ^
			    ((rnd() & 1) << 31);
			c += (uint32_t)(rnd() % 5) - 2;
		} else {
			c = (uint32_t)relate(a, 23, 8, c);
		}
		k->a = box(a);
		k->b = box(b);
		k->c = box(c);
		break;
	}
	case G_D: {
		uint64_t a = gen_d(), b = gen_d(), c = gen_d();

		b = relate(a, 52, 11, b);
		if (is_fma(d->op) && rnd() % 2) {
			c = fpu_mul_d(a, b, rnd() % 4, &f) ^
			    ((rnd() & 1) << 63);
			c += (rnd() % 5) - 2;
		} else {
			c = relate(a, 52, 11, c);
		}
		k->a = a;
		k->b = b;
		k->c = c;
		break;
	}
	case G_SD:
		k->a = gen_d();
		k->b = k->c = 0;
		break;
	case G_DS:
		k->a = box(gen_s());
		k->b = k->c = 0;
		break;
	case G_I:
		k->a = gen_int();
		k->b = (rnd() % 4) ? gen_int() : k->a;
		k->c = rnd();
		break;
	}
}

/* --- expected results ------------------------------------------------- */

static struct diff_result expect(const struct diff_case *k)
{
	unsigned fl = 0, rm = k->rm;
	uint64_t a = k->a, b = k->b, c = k->c, v;
	uint32_t sa = fpu_unbox_s(a), sb = fpu_unbox_s(b), sc = fpu_unbox_s(c);

	switch ((enum diff_op)k->op) {
	case OP_FADD_S: v = fpu_box_s(fpu_add_s(sa, sb, rm, &fl)); break;
	case OP_FSUB_S: v = fpu_box_s(fpu_sub_s(sa, sb, rm, &fl)); break;
	case OP_FMUL_S: v = fpu_box_s(fpu_mul_s(sa, sb, rm, &fl)); break;
	case OP_FDIV_S: v = fpu_box_s(fpu_div_s(sa, sb, rm, &fl)); break;
	case OP_FSQRT_S: v = fpu_box_s(fpu_sqrt_s(sa, rm, &fl)); break;
	case OP_FMADD_S: v = fpu_box_s(fpu_madd_s(sa, sb, sc, rm, &fl)); break;
	case OP_FMSUB_S: v = fpu_box_s(fpu_msub_s(sa, sb, sc, rm, &fl)); break;
	case OP_FNMSUB_S:
		v = fpu_box_s(fpu_nmsub_s(sa, sb, sc, rm, &fl));
		break;
	case OP_FNMADD_S:
		v = fpu_box_s(fpu_nmadd_s(sa, sb, sc, rm, &fl));
		break;
	case OP_FMIN_S: v = fpu_box_s(fpu_min_s(sa, sb, &fl)); break;
	case OP_FMAX_S: v = fpu_box_s(fpu_max_s(sa, sb, &fl)); break;
	case OP_FEQ_S: v = (uint64_t)fpu_eq_s(sa, sb, &fl); break;
	case OP_FLT_S: v = (uint64_t)fpu_lt_s(sa, sb, &fl); break;
	case OP_FLE_S: v = (uint64_t)fpu_le_s(sa, sb, &fl); break;
	case OP_FCLASS_S: v = fpu_class_s(sa); break;
	case OP_FSGNJ_S: v = fpu_box_s(fpu_sgnj_s(sa, sb)); break;
	case OP_FSGNJN_S: v = fpu_box_s(fpu_sgnjn_s(sa, sb)); break;
	case OP_FSGNJX_S: v = fpu_box_s(fpu_sgnjx_s(sa, sb)); break;
	case OP_FCVT_W_S: v = fpu_cvt_w_s(sa, rm, &fl); break;
	case OP_FCVT_WU_S: v = fpu_cvt_wu_s(sa, rm, &fl); break;
	case OP_FCVT_L_S: v = fpu_cvt_l_s(sa, rm, &fl); break;
	case OP_FCVT_LU_S: v = fpu_cvt_lu_s(sa, rm, &fl); break;
	case OP_FCVT_S_W: v = fpu_box_s(fpu_cvt_s_w(a, rm, &fl)); break;
	case OP_FCVT_S_WU: v = fpu_box_s(fpu_cvt_s_wu(a, rm, &fl)); break;
	case OP_FCVT_S_L: v = fpu_box_s(fpu_cvt_s_l(a, rm, &fl)); break;
	case OP_FCVT_S_LU: v = fpu_box_s(fpu_cvt_s_lu(a, rm, &fl)); break;
	case OP_FADD_D: v = fpu_add_d(a, b, rm, &fl); break;
	case OP_FSUB_D: v = fpu_sub_d(a, b, rm, &fl); break;
	case OP_FMUL_D: v = fpu_mul_d(a, b, rm, &fl); break;
	case OP_FDIV_D: v = fpu_div_d(a, b, rm, &fl); break;
	case OP_FSQRT_D: v = fpu_sqrt_d(a, rm, &fl); break;
	case OP_FMADD_D: v = fpu_madd_d(a, b, c, rm, &fl); break;
	case OP_FMSUB_D: v = fpu_msub_d(a, b, c, rm, &fl); break;
	case OP_FNMSUB_D: v = fpu_nmsub_d(a, b, c, rm, &fl); break;
	case OP_FNMADD_D: v = fpu_nmadd_d(a, b, c, rm, &fl); break;
	case OP_FMIN_D: v = fpu_min_d(a, b, &fl); break;
	case OP_FMAX_D: v = fpu_max_d(a, b, &fl); break;
	case OP_FEQ_D: v = (uint64_t)fpu_eq_d(a, b, &fl); break;
	case OP_FLT_D: v = (uint64_t)fpu_lt_d(a, b, &fl); break;
	case OP_FLE_D: v = (uint64_t)fpu_le_d(a, b, &fl); break;
	case OP_FCLASS_D: v = fpu_class_d(a); break;
	case OP_FSGNJ_D: v = fpu_sgnj_d(a, b); break;
	case OP_FSGNJN_D: v = fpu_sgnjn_d(a, b); break;
	case OP_FSGNJX_D: v = fpu_sgnjx_d(a, b); break;
	case OP_FCVT_W_D: v = fpu_cvt_w_d(a, rm, &fl); break;
	case OP_FCVT_WU_D: v = fpu_cvt_wu_d(a, rm, &fl); break;
	case OP_FCVT_L_D: v = fpu_cvt_l_d(a, rm, &fl); break;
	case OP_FCVT_LU_D: v = fpu_cvt_lu_d(a, rm, &fl); break;
	case OP_FCVT_D_W: v = fpu_cvt_d_w(a, rm, &fl); break;
	case OP_FCVT_D_WU: v = fpu_cvt_d_wu(a, rm, &fl); break;
	case OP_FCVT_D_L: v = fpu_cvt_d_l(a, rm, &fl); break;
	case OP_FCVT_D_LU: v = fpu_cvt_d_lu(a, rm, &fl); break;
	case OP_FCVT_S_D: v = fpu_box_s(fpu_cvt_s_d(a, rm, &fl)); break;
	case OP_FCVT_D_S: v = fpu_cvt_d_s(sa, &fl); break;
	case OP_MUL: v = ref_mul(a, b); break;
	case OP_MULH: v = ref_mulh(a, b); break;
	case OP_MULHSU: v = ref_mulhsu(a, b); break;
	case OP_MULHU: v = ref_mulhu(a, b); break;
	case OP_DIV: v = ref_div(a, b); break;
	case OP_DIVU: v = ref_divu(a, b); break;
	case OP_REM: v = ref_rem(a, b); break;
	case OP_REMU: v = ref_remu(a, b); break;
	case OP_MULW: v = ref_mulw(a, b); break;
	case OP_DIVW: v = ref_divw(a, b); break;
	case OP_DIVUW: v = ref_divuw(a, b); break;
	case OP_REMW: v = ref_remw(a, b); break;
	case OP_REMUW: v = ref_remuw(a, b); break;
	case OP_ADD_UW: v = ref_add_uw(a, b); break;
	case OP_SH1ADD: v = ref_shadd(a, b, 1); break;
	case OP_SH2ADD: v = ref_shadd(a, b, 2); break;
	case OP_SH3ADD: v = ref_shadd(a, b, 3); break;
	case OP_SH1ADD_UW: v = ref_shadd_uw(a, b, 1); break;
	case OP_SH2ADD_UW: v = ref_shadd_uw(a, b, 2); break;
	case OP_SH3ADD_UW: v = ref_shadd_uw(a, b, 3); break;
	case OP_SLLI_UW: v = ref_slli_uw(a, c & 63); break;
	case OP_ANDN: v = ref_andn(a, b); break;
	case OP_ORN: v = ref_orn(a, b); break;
	case OP_XNOR: v = ref_xnor(a, b); break;
	case OP_CLZ: v = ref_clz(a); break;
	case OP_CLZW: v = ref_clzw(a); break;
	case OP_CTZ: v = ref_ctz(a); break;
	case OP_CTZW: v = ref_ctzw(a); break;
	case OP_CPOP: v = ref_cpop(a); break;
	case OP_CPOPW: v = ref_cpopw(a); break;
	case OP_MAX: v = ref_max(a, b); break;
	case OP_MAXU: v = ref_maxu(a, b); break;
	case OP_MIN: v = ref_min(a, b); break;
	case OP_MINU: v = ref_minu(a, b); break;
	case OP_SEXT_B: v = ref_sext_b(a); break;
	case OP_SEXT_H: v = ref_sext_h(a); break;
	case OP_ZEXT_H: v = ref_zext_h(a); break;
	case OP_ROL: v = ref_rol(a, b); break;
	case OP_ROLW: v = ref_rolw(a, b); break;
	case OP_ROR: v = ref_ror(a, b); break;
	case OP_RORW: v = ref_rorw(a, b); break;
	case OP_RORI: v = ref_ror(a, c & 63); break;
	case OP_RORIW: v = ref_rorw(a, c & 31); break;
	case OP_ORC_B: v = ref_orc_b(a); break;
	case OP_REV8: v = ref_rev8(a); break;
	case OP_BCLR: v = ref_bclr(a, b); break;
	case OP_BCLRI: v = ref_bclr(a, c & 63); break;
	case OP_BEXT: v = ref_bext(a, b); break;
	case OP_BEXTI: v = ref_bext(a, c & 63); break;
	case OP_BINV: v = ref_binv(a, b); break;
	case OP_BINVI: v = ref_binv(a, c & 63); break;
	case OP_BSET: v = ref_bset(a, b); break;
	case OP_BSETI: v = ref_bset(a, c & 63); break;
	default: v = 0; break;
	}
	return (struct diff_result){ .val = v, .fflags = fl };
}

/* --- running the guest ------------------------------------------------ */

/* Write all of buf to fd; 0 or -errno. */
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Read up to len bytes from fd until EOF; returns the count read. */
static size_t read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static int wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Run QEMU GUEST with the cases on its stdin and the results from its
 * stdout, over pipes (no temporary files). A forked child feeds the input
 * while we read, so neither side can block the other. Returns the number of
 * results read; *status gets QEMU's exit status or -errno.
 */
static size_t run_guest(const char *qemu, const char *guest,
			const struct diff_case *cases, size_t n,
			struct diff_result *res, int *status)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)qemu, (char *)guest, NULL };
	int in[2], out[2], rc;
	pid_t qpid, wpid;
	size_t got;

	if (pipe(in) < 0 || pipe(out) < 0) {
		*status = -errno;
		return 0;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addclose(&fa, in[0]);
	posix_spawn_file_actions_addclose(&fa, in[1]);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	posix_spawn_file_actions_addclose(&fa, out[1]);
	rc = posix_spawn(&qpid, qemu, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (rc) {
		close(in[1]);
		close(out[0]);
		*status = -rc;
		return 0;
	}
	wpid = fork();
	if (wpid == 0) {
		close(out[0]);
		_exit(write_all(in[1], cases, n * sizeof(*cases)) ? 1 : 0);
	}
	close(in[1]);
	got = read_all(out[0], res, n * sizeof(*res)) / sizeof(*res);
	close(out[0]);
	*status = wait_status(qpid);
	if (wpid > 0)
		wait_status(wpid);
	else
		*status = -EAGAIN;
	return got;
}

/*
 * Deviations of the reference QEMU (Debian 12's 7.2) from the spec that we
 * tolerate rather than copy: ctzw of a value whose low word is zero must be
 * 32 (Zbb 1.0.0, "ctzw"), QEMU 7.2 counts into the upper word.
 */
static bool qemu_known_bug(const struct diff_case *k,
			   const struct diff_result *q)
{
	return k->op == OP_CTZW && (uint32_t)k->a == 0 &&
	       q->val == ref_ctz(k->a) && q->fflags == 0;
}

static const char *rm_name(uint32_t rm)
{
	static const char *const n[] = { "rne", "rtz", "rdn", "rup", "rmm" };

	return rm < 5 ? n[rm] : "?";
}

int main(int argc, char **argv)
{
	uint64_t seed = 20261123;
	long count = 20000, int_count = 20000;
	const char *qemu, *guest;
	struct diff_case *cases;
	struct diff_result *res;
	size_t n = 0, bad = 0, known = 0, got;
	long per_op_bad[OP_COUNT] = { 0 };
	int rc;

	if (argc >= 2 && !strcmp(argv[1], "--skip")) {
		printf("SKIP: %s\n", argc > 2 ? argv[2] : "tools missing");
		return 77;
	}
	if (argc < 3) {
		fprintf(stderr,
			"usage: %s QEMU GUEST [--seed N] [--count N] "
			"[--int-count N]\n",
			argv[0]);
		return 2;
	}
	qemu = argv[1];
	guest = argv[2];
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--count"))
			count = strtol(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--int-count"))
			int_count = strtol(argv[i + 1], NULL, 0);
	}
	rng_state = seed ? seed : 1;
	for (int o = 0; o < OP_COUNT; o++) {
		if (ops[o].op != (enum diff_op)o) {
			fprintf(stderr, "ops[] out of order at %d\n", o);
			return 2;
		}
	}
	printf("diff-fpu-qemu: seed %llu, %ld FP / %ld integer cases per op\n",
	       (unsigned long long)seed, count, int_count);

	cases = calloc((size_t)OP_COUNT *
			       (size_t)(count > int_count ? count : int_count),
		       sizeof(*cases));
	if (!cases)
		return 2;
	for (int o = 0; o < OP_COUNT; o++) {
		long per = ops[o].op >= OP_MUL ? int_count : count;

		for (long i = 0; i < per; i++)
			gen_case(&ops[o], &cases[n++]);
	}
	/* Shuffle so a guest crash mid-way does not hide whole ops. */
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd() % i;
		struct diff_case t = cases[i - 1];

		cases[i - 1] = cases[j];
		cases[j] = t;
	}

	res = calloc(n, sizeof(*res));
	if (!res)
		return 2;
	got = run_guest(qemu, guest, cases, n, res, &rc);
	if (rc != 0 || got != n) {
		fprintf(stderr, "guest failed: status %d, %zu of %zu results\n",
			rc, got, n);
		return 1;
	}

	for (size_t i = 0; i < n; i++) {
		const struct diff_case *k = &cases[i];
		struct diff_result e = expect(k);

		if (e.val == res[i].val && e.fflags == res[i].fflags)
			continue;
		if (qemu_known_bug(k, &res[i])) {
			known++;
			continue;
		}
		per_op_bad[k->op]++;
		if (bad++ < 40)
			printf("MISMATCH %-10s %s a=%016llx b=%016llx "
			       "c=%016llx: ours %016llx/%02llx qemu "
			       "%016llx/%02llx\n",
			       ops[k->op].name, rm_name(k->rm),
			       (unsigned long long)k->a,
			       (unsigned long long)k->b,
			       (unsigned long long)k->c,
			       (unsigned long long)e.val,
			       (unsigned long long)e.fflags,
			       (unsigned long long)res[i].val,
			       (unsigned long long)res[i].fflags);
	}
	for (int o = 0; o < OP_COUNT; o++)
		if (per_op_bad[o])
			printf("  %-10s %ld mismatches\n", ops[o].name,
			       per_op_bad[o]);
	if (known)
		printf("  %zu ctzw results with a zero low word took QEMU "
		       "7.2's "
		       "non-conforming value (tolerated)\n",
		       known);
	printf("diff-fpu-qemu: %zu cases, %zu mismatches\n", n, bad);
	free(cases);
	free(res);
	return bad ? 1 : 0;
}
