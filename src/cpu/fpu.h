/*
 * IEEE 754 floating-point core of the RISC-V F and D extensions (unprivileged
 * spec chapters "F" and "D", 20191213: sections 11 and 12).
 *
 * Pure functions over raw bit patterns: uint32_t holds a binary32, uint64_t a
 * binary64. Every operation that rounds takes the rounding mode `rm` as the
 * instruction encodes it (enum fpu_rm). The caller resolves the dynamic mode
 * (rm = 7) from frm and raises illegal-instruction for rm 5/6 or a dynamic
 * frm of 5..7 itself; a stray value >= 5 here is treated as RNE (never a host
 * crash). Exception flags are ORed into *fflags in the fflags CSR encoding
 * (FPU_NX..FPU_NV); nothing is ever cleared.
 *
 * Results follow the RISC-V rules exactly: every NaN an arithmetic operation
 * produces is the canonical NaN (no payload propagation), tininess is
 * detected after rounding, FMA raises NV for inf * 0 even with a quiet-NaN
 * addend, fmin/fmax follow IEEE 754-2019 minimumNumber/maximumNumber with
 * -0 < +0, and fcvt to integers saturates (spec table 11.4).
 *
 * Single-precision operands and results are bare binary32 values: the caller
 * unboxes f-register contents with fpu_unbox_s() and boxes results with
 * fpu_box_s() (spec 12.2).
 *
 * Threading: every function is reentrant and may be called from any thread;
 * there is no state. On x86-64 the host MXCSR of the calling thread is used
 * as scratch: on return its rounding control, FTZ/DAZ and exception masks
 * are the ones found on entry, its exception flags are unspecified (guest
 * fflags never depend on them). All SSE exceptions must be masked (the Linux
 * process default). No allocation, lock or system call.
 *
 * Build: fpu.c needs no special flags (no -frounding-math) but must never be
 * built with -ffast-math or any of its parts (-ffinite-math-only,
 * -fassociative-math, ...): its error terms rely on IEEE evaluation.
 */
#ifndef SV_CPU_FPU_H
#define SV_CPU_FPU_H

#include <stdint.h>

/* Rounding modes as encoded in the instruction rm field and in frm. */
enum fpu_rm {
	FPU_RNE = 0, /* to nearest, ties to even */
	FPU_RTZ = 1, /* toward zero */
	FPU_RDN = 2, /* down (toward -inf) */
	FPU_RUP = 3, /* up (toward +inf) */
	FPU_RMM = 4, /* to nearest, ties to max magnitude */
	FPU_DYN = 7, /* instruction field only: use frm (resolved by caller) */
};

/*
 * Testing only: OR into rm to force the portable software path (which
 * otherwise serves RMM only), so unit tests can check it against the host
 * FPU in the four other modes.
 */
#define FPU_RM_SOFT 8u

/* fflags bits (fcsr[4:0]). */
#define FPU_NX 0x01u /* inexact */
#define FPU_UF 0x02u /* underflow */
#define FPU_OF 0x04u /* overflow */
#define FPU_DZ 0x08u /* divide by zero */
#define FPU_NV 0x10u /* invalid operation */

/* Canonical quiet NaNs (spec 11.3). */
#define FPU_NAN_S 0x7fc00000u
#define FPU_NAN_D 0x7ff8000000000000ull

/* fclass result bits (spec table 11.5). */
#define FPU_CLASS_NINF	   (1u << 0)
#define FPU_CLASS_NNORMAL  (1u << 1)
#define FPU_CLASS_NSUBNORM (1u << 2)
#define FPU_CLASS_NZERO	   (1u << 3)
#define FPU_CLASS_PZERO	   (1u << 4)
#define FPU_CLASS_PSUBNORM (1u << 5)
#define FPU_CLASS_PNORMAL  (1u << 6)
#define FPU_CLASS_PINF	   (1u << 7)
#define FPU_CLASS_SNAN	   (1u << 8)
#define FPU_CLASS_QNAN	   (1u << 9)

/*
 * NaN-boxing (spec 12.2): a binary32 in a 64-bit f register is valid only if
 * the upper 32 bits are all ones; otherwise it reads as the canonical NaN.
 */
static inline uint32_t fpu_unbox_s(uint64_t reg)
{
	return (reg >> 32) == 0xffffffffu ? (uint32_t)reg : FPU_NAN_S;
}

/* NaN-box a binary32 result for writing to an f register. */
static inline uint64_t fpu_box_s(uint32_t v)
{
	return 0xffffffff00000000ull | v;
}

/* Sign injection (fsgnj/fsgnjn/fsgnjx): no flags, NaNs are not touched. */
static inline uint32_t fpu_sgnj_s(uint32_t a, uint32_t b)
{
	return (a & 0x7fffffffu) | (b & 0x80000000u);
}

/* fsgnjn.s: magnitude of a, inverted sign of b. */
static inline uint32_t fpu_sgnjn_s(uint32_t a, uint32_t b)
{
	return (a & 0x7fffffffu) | (~b & 0x80000000u);
}

/* fsgnjx.s: magnitude of a, sign a xor sign b. */
static inline uint32_t fpu_sgnjx_s(uint32_t a, uint32_t b)
{
	return a ^ (b & 0x80000000u);
}

/* fsgnj.d: magnitude of a, sign of b. */
static inline uint64_t fpu_sgnj_d(uint64_t a, uint64_t b)
{
	return (a & ~(1ull << 63)) | (b & (1ull << 63));
}

/* fsgnjn.d: magnitude of a, inverted sign of b. */
static inline uint64_t fpu_sgnjn_d(uint64_t a, uint64_t b)
{
	return (a & ~(1ull << 63)) | (~b & (1ull << 63));
}

/* fsgnjx.d: magnitude of a, sign a xor sign b. */
static inline uint64_t fpu_sgnjx_d(uint64_t a, uint64_t b)
{
	return a ^ (b & (1ull << 63));
}

/* --- binary32 --- */

/* fadd.s: a + b. */
uint32_t fpu_add_s(uint32_t a, uint32_t b, unsigned rm, unsigned *fflags);
/* fsub.s: a - b. */
uint32_t fpu_sub_s(uint32_t a, uint32_t b, unsigned rm, unsigned *fflags);
/* fmul.s: a * b. */
uint32_t fpu_mul_s(uint32_t a, uint32_t b, unsigned rm, unsigned *fflags);
/* fdiv.s: a / b. */
uint32_t fpu_div_s(uint32_t a, uint32_t b, unsigned rm, unsigned *fflags);
/* fsqrt.s: sqrt(a). */
uint32_t fpu_sqrt_s(uint32_t a, unsigned rm, unsigned *fflags);
/* fmadd.s: a * b + c, one rounding. */
uint32_t fpu_madd_s(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
		    unsigned *fflags);
/* fmsub.s: a * b - c, one rounding. */
uint32_t fpu_msub_s(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
		    unsigned *fflags);
/* fnmsub.s: -(a * b) + c, one rounding. */
uint32_t fpu_nmsub_s(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
		     unsigned *fflags);
/* fnmadd.s: -(a * b) - c, one rounding. */
uint32_t fpu_nmadd_s(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
		     unsigned *fflags);
/* fmin.s: minimumNumber, -0 < +0, NV on any signaling NaN. */
uint32_t fpu_min_s(uint32_t a, uint32_t b, unsigned *fflags);
/* fmax.s: maximumNumber, -0 < +0, NV on any signaling NaN. */
uint32_t fpu_max_s(uint32_t a, uint32_t b, unsigned *fflags);
/* feq.s: quiet compare (NV only for signaling NaN); returns 0 or 1. */
int fpu_eq_s(uint32_t a, uint32_t b, unsigned *fflags);
/* flt.s: signaling compare (NV for any NaN); returns 0 or 1. */
int fpu_lt_s(uint32_t a, uint32_t b, unsigned *fflags);
/* fle.s: signaling compare (NV for any NaN); returns 0 or 1. */
int fpu_le_s(uint32_t a, uint32_t b, unsigned *fflags);
/* fclass.s: one-hot 10-bit class mask (FPU_CLASS_*). */
unsigned fpu_class_s(uint32_t a);

/*
 * fcvt.{w,wu,l,lu}.s: to integer with saturation. The result is the value of
 * the destination register: W forms are sign-extended to 64 bits (also wu).
 */
uint64_t fpu_cvt_w_s(uint32_t a, unsigned rm, unsigned *fflags);
/* fcvt.wu.s (result sign-extended from bit 31). */
uint64_t fpu_cvt_wu_s(uint32_t a, unsigned rm, unsigned *fflags);
/* fcvt.l.s. */
uint64_t fpu_cvt_l_s(uint32_t a, unsigned rm, unsigned *fflags);
/* fcvt.lu.s. */
uint64_t fpu_cvt_lu_s(uint32_t a, unsigned rm, unsigned *fflags);
/* fcvt.s.w: from the low 32 bits of x as int32. */
uint32_t fpu_cvt_s_w(uint64_t x, unsigned rm, unsigned *fflags);
/* fcvt.s.wu: from the low 32 bits of x as uint32. */
uint32_t fpu_cvt_s_wu(uint64_t x, unsigned rm, unsigned *fflags);
/* fcvt.s.l: from x as int64. */
uint32_t fpu_cvt_s_l(uint64_t x, unsigned rm, unsigned *fflags);
/* fcvt.s.lu: from x as uint64. */
uint32_t fpu_cvt_s_lu(uint64_t x, unsigned rm, unsigned *fflags);

/* --- binary64 --- */

/* fadd.d: a + b. */
uint64_t fpu_add_d(uint64_t a, uint64_t b, unsigned rm, unsigned *fflags);
/* fsub.d: a - b. */
uint64_t fpu_sub_d(uint64_t a, uint64_t b, unsigned rm, unsigned *fflags);
/* fmul.d: a * b. */
uint64_t fpu_mul_d(uint64_t a, uint64_t b, unsigned rm, unsigned *fflags);
/* fdiv.d: a / b. */
uint64_t fpu_div_d(uint64_t a, uint64_t b, unsigned rm, unsigned *fflags);
/* fsqrt.d: sqrt(a). */
uint64_t fpu_sqrt_d(uint64_t a, unsigned rm, unsigned *fflags);
/* fmadd.d: a * b + c, one rounding. */
uint64_t fpu_madd_d(uint64_t a, uint64_t b, uint64_t c, unsigned rm,
		    unsigned *fflags);
/* fmsub.d: a * b - c, one rounding. */
uint64_t fpu_msub_d(uint64_t a, uint64_t b, uint64_t c, unsigned rm,
		    unsigned *fflags);
/* fnmsub.d: -(a * b) + c, one rounding. */
uint64_t fpu_nmsub_d(uint64_t a, uint64_t b, uint64_t c, unsigned rm,
		     unsigned *fflags);
/* fnmadd.d: -(a * b) - c, one rounding. */
uint64_t fpu_nmadd_d(uint64_t a, uint64_t b, uint64_t c, unsigned rm,
		     unsigned *fflags);
/* fmin.d: minimumNumber, -0 < +0, NV on any signaling NaN. */
uint64_t fpu_min_d(uint64_t a, uint64_t b, unsigned *fflags);
/* fmax.d: maximumNumber, -0 < +0, NV on any signaling NaN. */
uint64_t fpu_max_d(uint64_t a, uint64_t b, unsigned *fflags);
/* feq.d: quiet compare; returns 0 or 1. */
int fpu_eq_d(uint64_t a, uint64_t b, unsigned *fflags);
/* flt.d: signaling compare; returns 0 or 1. */
int fpu_lt_d(uint64_t a, uint64_t b, unsigned *fflags);
/* fle.d: signaling compare; returns 0 or 1. */
int fpu_le_d(uint64_t a, uint64_t b, unsigned *fflags);
/* fclass.d: one-hot 10-bit class mask (FPU_CLASS_*). */
unsigned fpu_class_d(uint64_t a);

/* fcvt.w.d (result sign-extended to 64 bits). */
uint64_t fpu_cvt_w_d(uint64_t a, unsigned rm, unsigned *fflags);
/* fcvt.wu.d (result sign-extended from bit 31). */
uint64_t fpu_cvt_wu_d(uint64_t a, unsigned rm, unsigned *fflags);
/* fcvt.l.d. */
uint64_t fpu_cvt_l_d(uint64_t a, unsigned rm, unsigned *fflags);
/* fcvt.lu.d. */
uint64_t fpu_cvt_lu_d(uint64_t a, unsigned rm, unsigned *fflags);
/* fcvt.d.w: from the low 32 bits of x as int32 (always exact). */
uint64_t fpu_cvt_d_w(uint64_t x, unsigned rm, unsigned *fflags);
/* fcvt.d.wu: from the low 32 bits of x as uint32 (always exact). */
uint64_t fpu_cvt_d_wu(uint64_t x, unsigned rm, unsigned *fflags);
/* fcvt.d.l: from x as int64. */
uint64_t fpu_cvt_d_l(uint64_t x, unsigned rm, unsigned *fflags);
/* fcvt.d.lu: from x as uint64. */
uint64_t fpu_cvt_d_lu(uint64_t x, unsigned rm, unsigned *fflags);

/* fcvt.s.d: narrow with rounding. */
uint32_t fpu_cvt_s_d(uint64_t a, unsigned rm, unsigned *fflags);
/* fcvt.d.s: widen (exact; only a signaling NaN raises NV). */
uint64_t fpu_cvt_d_s(uint32_t a, unsigned *fflags);

#endif
