/*
 * IEEE 754 core of the RISC-V F and D extensions. See fpu.h for the contract.
 *
 * Two paths compute the same results:
 *
 * - The host path (x86-64 only) runs the operation on the host SSE unit with
 *   MXCSR's rounding control set to the guest mode and the guest flags read
 *   back from MXCSR. SSE add/sub/mul/div/sqrt and FMA3 are correctly rounded
 *   IEEE operations in the four directed/even modes, and like RISC-V they
 *   detect tininess after rounding and raise UE only when the tiny result is
 *   also inexact (exceptions masked). It serves RNE, RTZ, RDN and RUP.
 *
 *   For RNE, add/sub/mul/div/sqrt first try a fast path that never writes
 *   MXCSR (ldmxcsr costs more than the arithmetic): the host result plus an
 *   exact error term for NX, on operands where no other flag can arise
 *   (fast_d, fast_s).
 *
 * - The software path unpacks to an integer significand (128 bits: enough
 *   for an exact fused product plus guard bits), computes with a sticky bit,
 *   and rounds once in round_pack(). It serves RMM, which the host cannot do,
 *   every operation on a host without SSE/FMA3, and the special operands of
 *   FMA. It is also the reference the unit tests check the host path against
 *   (FPU_RM_SOFT).
 *
 * Conversions, comparisons, min/max and fclass are plain integer code.
 *
 * The host path never lets the compiler move arithmetic across the MXCSR
 * accesses: operands enter and results leave through empty volatile asm
 * statements (fpu_hide), and volatile asms keep their order. So fpu.c needs no
 * -frounding-math, and no FENV_ACCESS pragma (which GCC ignores).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cpu/fpu.h"
#include "util/compiler.h"

typedef unsigned __int128 u128;

/* --- formats ------------------------------------------------------------ */

struct fpu_fmt {
	unsigned mbits; /* stored fraction bits */
	unsigned ebits; /* exponent bits */
	int bias;
	uint64_t qnan; /* canonical NaN */
};

static const struct fpu_fmt fmt_s = { 23, 8, 127, FPU_NAN_S };
static const struct fpu_fmt fmt_d = { 52, 11, 1023, FPU_NAN_D };

static inline uint64_t f_emask(const struct fpu_fmt *f)
{
	return (1ull << f->ebits) - 1;
}

static inline uint64_t f_exp(const struct fpu_fmt *f, uint64_t x)
{
	return (x >> f->mbits) & f_emask(f);
}

static inline uint64_t f_frac(const struct fpu_fmt *f, uint64_t x)
{
	return x & ((1ull << f->mbits) - 1);
}

static inline int f_sign(const struct fpu_fmt *f, uint64_t x)
{
	return (int)((x >> (f->mbits + f->ebits)) & 1);
}

static inline uint64_t f_signbit(const struct fpu_fmt *f)
{
	return 1ull << (f->mbits + f->ebits);
}

static inline bool f_is_nan(const struct fpu_fmt *f, uint64_t x)
{
	return f_exp(f, x) == f_emask(f) && f_frac(f, x) != 0;
}

/* Signaling NaN: quiet bit (fraction MSB) clear (IEEE 754-2008 6.2.1). */
static inline bool f_is_snan(const struct fpu_fmt *f, uint64_t x)
{
	return f_is_nan(f, x) && !((x >> (f->mbits - 1)) & 1);
}

static inline bool f_is_inf(const struct fpu_fmt *f, uint64_t x)
{
	return f_exp(f, x) == f_emask(f) && f_frac(f, x) == 0;
}

static inline bool f_is_zero(const struct fpu_fmt *f, uint64_t x)
{
	return (x & (f_signbit(f) - 1)) == 0;
}

static inline uint64_t f_inf(const struct fpu_fmt *f, int sign)
{
	return ((uint64_t)sign << (f->mbits + f->ebits)) | f_emask(f)
								   << f->mbits;
}

static inline uint64_t f_zero(const struct fpu_fmt *f, int sign)
{
	return (uint64_t)sign << (f->mbits + f->ebits);
}

/* A finite nonzero value as sign * sig * 2^exp, sig's MSB at bit mbits. */
struct fpu_unpacked {
	int sign;
	int exp;
	uint64_t sig;
};

static struct fpu_unpacked f_unpack(const struct fpu_fmt *f, uint64_t x)
{
	struct fpu_unpacked u;
	uint64_t e = f_exp(f, x), m = f_frac(f, x);

	u.sign = f_sign(f, x);
	if (e == 0) {
		int sh = __builtin_clzll(m) - (63 - (int)f->mbits);

		u.sig = m << sh;
		u.exp = 1 - f->bias - (int)f->mbits - sh;
	} else {
		u.sig = m | 1ull << f->mbits;
		u.exp = (int)e - f->bias - (int)f->mbits;
	}
	return u;
}

static inline int clz128(u128 x)
{
	uint64_t hi = (uint64_t)(x >> 64);

	return hi ? __builtin_clzll(hi) : 64 + __builtin_clzll((uint64_t)x);
}

/* x >> d, ORing every bit shifted out into bit 0 ("jamming"). */
static inline u128 shift_jam(u128 x, int d)
{
	if (d <= 0)
		return x;
	if (d >= 128)
		return x != 0;
	return (x >> d) | ((x << (128 - d)) != 0);
}

/* Normalized rounding mode for the software path: 5..7 read as RNE. */
static inline unsigned soft_rm(unsigned rm)
{
	rm &= 7;
	return rm > FPU_RMM ? FPU_RNE : rm;
}

/*
 * Round sig (sig >= 0) to an integer multiple of 2^sh, sh >= 1, by rm.
 * Returns the quotient; *inexact tells whether anything was dropped.
 * Bit 0 of sig may be a sticky bit as long as sh >= 2.
 */
static u128 round_shift(u128 sig, int sh, int sign, unsigned rm, bool *inexact)
{
	u128 mant, rem, half;
	bool inc = false;

	if (sh > 126) {
		sig = shift_jam(sig, sh - 126);
		sh = 126;
	}
	mant = sig >> sh;
	rem = sig & (((u128)1 << sh) - 1);
	half = (u128)1 << (sh - 1);
	switch (rm) {
	case FPU_RNE: inc = rem > half || (rem == half && (mant & 1)); break;
	case FPU_RMM: inc = rem >= half; break;
	case FPU_RDN: inc = sign && rem; break;
	case FPU_RUP: inc = !sign && rem; break;
	default: break; /* RTZ */
	}
	*inexact = rem != 0;
	return mant + inc;
}

/* Result of an overflow in mode rm (IEEE 754-2008 7.4). */
static uint64_t overflow(const struct fpu_fmt *f, int sign, unsigned rm,
			 unsigned *fflags)
{
	bool to_inf;

	*fflags |= FPU_OF | FPU_NX;
	switch (rm) {
	case FPU_RTZ: to_inf = false; break;
	case FPU_RDN: to_inf = sign; break;
	case FPU_RUP: to_inf = !sign; break;
	default: to_inf = true; break;
	}
	if (to_inf)
		return f_inf(f, sign);
	/* Largest finite: exponent emask - 1, fraction all ones. */
	return f_inf(f, sign) - 1;
}

/*
 * Round sign * sig * 2^exp (sig != 0) to format f in mode rm, raising NX,
 * UF (tininess after rounding, as RISC-V specifies: spec 11.2 refers to IEEE
 * 754-2008 7.5 with "after rounding") and OF. The lowest bit of sig may be a
 * sticky bit if sig holds at least two more bits than the result.
 */
static uint64_t round_pack(const struct fpu_fmt *f, int sign, int exp, u128 sig,
			   unsigned rm, unsigned *fflags)
{
	int m = (int)f->mbits;
	int emin = 1 - f->bias;
	int L = 127 - clz128(sig);
	int E = L + exp;		    /* value in [2^E, 2^(E+1)) */
	int q = (E >= emin ? E : emin) - m; /* exponent of the result's ulp */
	int sh = q - exp;
	bool inexact = false, tiny = false;
	uint64_t mant, bits;

	if (E > f->bias)
		return overflow(f, sign, rm, fflags);
	if (sh <= 0) {
		mant = (uint64_t)(sig << -sh);
	} else {
		mant = (uint64_t)round_shift(sig, sh, sign, rm, &inexact);
		if (E < emin && inexact) {
			tiny = true;
			/* Would rounding to full precision reach 2^emin? */
			if (E == emin - 1 && L - m > 0) {
				bool ign;
				u128 t = round_shift(sig, L - m, sign, rm,
						     &ign);

				if (t >> (m + 1))
					tiny = false;
			}
		}
	}
	/* mant carries the hidden bit, so a carry out bumps the exponent. */
	bits = (E >= emin ? (uint64_t)(E + f->bias - 1) << m : 0) + mant;
	if ((bits >> m) >= f_emask(f))
		return overflow(f, sign, rm, fflags);
	if (inexact)
		*fflags |= FPU_NX;
	if (tiny)
		*fflags |= FPU_UF;
	return f_zero(f, sign) | bits;
}

/* NaN operand(s): canonical NaN, NV if any is signaling. */
static uint64_t nan_result(const struct fpu_fmt *f, uint64_t a, uint64_t b,
			   uint64_t c, unsigned *fflags)
{
	if (f_is_snan(f, a) || f_is_snan(f, b) || f_is_snan(f, c))
		*fflags |= FPU_NV;
	return f->qnan;
}

static uint64_t invalid(const struct fpu_fmt *f, unsigned *fflags)
{
	*fflags |= FPU_NV;
	return f->qnan;
}

/* Sum of two zeros, or exact cancellation (IEEE 754-2008 6.3). */
static uint64_t zero_sum(const struct fpu_fmt *f, int sa, int sb, unsigned rm)
{
	if (sa == sb)
		return f_zero(f, sa);
	return f_zero(f, rm == FPU_RDN);
}

/* --- software arithmetic --------------------------------------------- */

static uint64_t soft_add(const struct fpu_fmt *f, uint64_t a, uint64_t b,
			 unsigned rm, unsigned *fflags)
{
	struct fpu_unpacked x, y, t;
	u128 sx, sy, s;
	int e, d, sign;

	if (f_is_nan(f, a) || f_is_nan(f, b))
		return nan_result(f, a, b, 0, fflags);
	if (f_is_inf(f, a)) {
		if (f_is_inf(f, b) && f_sign(f, a) != f_sign(f, b))
			return invalid(f, fflags);
		return a;
	}
	if (f_is_inf(f, b))
		return b;
	if (f_is_zero(f, a) && f_is_zero(f, b))
		return zero_sum(f, f_sign(f, a), f_sign(f, b), rm);
	if (f_is_zero(f, a))
		return b;
	if (f_is_zero(f, b))
		return a;
	x = f_unpack(f, a);
	y = f_unpack(f, b);
	if (x.exp < y.exp) {
		t = x;
		x = y;
		y = t;
	}
	d = x.exp - y.exp;
	if (d <= 64) {
		sx = (u128)x.sig << d;
		sy = y.sig;
		e = y.exp;
	} else {
		/* y lies far below x's rounding point: keep it as sticky. */
		sx = (u128)x.sig << 64;
		sy = shift_jam(y.sig, d - 64);
		e = x.exp - 64;
	}
	if (x.sign == y.sign) {
		s = sx + sy;
		sign = x.sign;
	} else if (sx >= sy) {
		s = sx - sy;
		sign = x.sign;
	} else {
		s = sy - sx;
		sign = y.sign;
	}
	if (s == 0)
		return zero_sum(f, 0, 1, rm);
	return round_pack(f, sign, e, s, rm, fflags);
}

static uint64_t soft_mul(const struct fpu_fmt *f, uint64_t a, uint64_t b,
			 unsigned rm, unsigned *fflags)
{
	struct fpu_unpacked x, y;
	int sign = f_sign(f, a) ^ f_sign(f, b);

	if (f_is_nan(f, a) || f_is_nan(f, b))
		return nan_result(f, a, b, 0, fflags);
	if (f_is_inf(f, a) || f_is_inf(f, b)) {
		if (f_is_zero(f, a) || f_is_zero(f, b))
			return invalid(f, fflags);
		return f_inf(f, sign);
	}
	if (f_is_zero(f, a) || f_is_zero(f, b))
		return f_zero(f, sign);
	x = f_unpack(f, a);
	y = f_unpack(f, b);
	return round_pack(f, sign, x.exp + y.exp, (u128)x.sig * y.sig, rm,
			  fflags);
}

static uint64_t soft_div(const struct fpu_fmt *f, uint64_t a, uint64_t b,
			 unsigned rm, unsigned *fflags)
{
	struct fpu_unpacked x, y;
	int sign = f_sign(f, a) ^ f_sign(f, b);
	u128 n, q;

	if (f_is_nan(f, a) || f_is_nan(f, b))
		return nan_result(f, a, b, 0, fflags);
	if (f_is_inf(f, a)) {
		if (f_is_inf(f, b))
			return invalid(f, fflags);
		return f_inf(f, sign);
	}
	if (f_is_inf(f, b))
		return f_zero(f, sign);
	if (f_is_zero(f, b)) {
		if (f_is_zero(f, a))
			return invalid(f, fflags);
		*fflags |= FPU_DZ;
		return f_inf(f, sign);
	}
	if (f_is_zero(f, a))
		return f_zero(f, sign);
	x = f_unpack(f, a);
	y = f_unpack(f, b);
	/* x.sig < 2^54: 74 extra bits give a quotient of >= 73 bits. */
	n = (u128)x.sig << 74;
	q = n / y.sig;
	q |= (n % y.sig) != 0;
	return round_pack(f, sign, x.exp - 74 - y.exp, q, rm, fflags);
}

/* floor(sqrt(n)) for n < 2^126. */
static uint64_t isqrt128(u128 n)
{
	u128 r = (u128)__builtin_sqrt((double)n);

	if (r == 0)
		return 0;
	r = (r + n / r) / 2; /* one Newton step: error now below 1 */
	while (r * r > n)
		r--;
	while ((r + 1) * (r + 1) <= n)
		r++;
	return (uint64_t)r;
}

static uint64_t soft_sqrt(const struct fpu_fmt *f, uint64_t a, unsigned rm,
			  unsigned *fflags)
{
	struct fpu_unpacked x;
	u128 n;
	uint64_t r;

	if (f_is_nan(f, a))
		return nan_result(f, a, 0, 0, fflags);
	if (f_is_zero(f, a))
		return a; /* sqrt(-0) = -0 */
	if (f_sign(f, a))
		return invalid(f, fflags);
	if (f_is_inf(f, a))
		return a;
	x = f_unpack(f, a);
	if (x.exp & 1) {
		x.sig <<= 1;
		x.exp -= 1;
	}
	n = (u128)x.sig << 72; /* < 2^126, root has >= 47 bits */
	r = isqrt128(n);
	return round_pack(f, 0, (x.exp - 72) / 2, (u128)r | ((u128)r * r != n),
			  rm, fflags);
}

/* a * b + c with one rounding; the caller has applied the fnm* negations. */
static uint64_t soft_fma(const struct fpu_fmt *f, uint64_t a, uint64_t b,
			 uint64_t c, unsigned rm, unsigned *fflags)
{
	struct fpu_unpacked x, y, z;
	int ps = f_sign(f, a) ^ f_sign(f, b), sc = f_sign(f, c), sign;
	int ep, ec, sh;
	u128 p, s, sa;
	bool inf_times_zero = (f_is_inf(f, a) && f_is_zero(f, b)) ||
			      (f_is_zero(f, a) && f_is_inf(f, b));

	/* Spec 11.6: inf * 0 raises NV even when c is a quiet NaN. */
	if (f_is_nan(f, a) || f_is_nan(f, b) || f_is_nan(f, c)) {
		if (inf_times_zero)
			*fflags |= FPU_NV;
		return nan_result(f, a, b, c, fflags);
	}
	if (inf_times_zero)
		return invalid(f, fflags);
	if (f_is_inf(f, a) || f_is_inf(f, b)) {
		if (f_is_inf(f, c) && sc != ps)
			return invalid(f, fflags);
		return f_inf(f, ps);
	}
	if (f_is_inf(f, c))
		return c;
	if (f_is_zero(f, a) || f_is_zero(f, b)) {
		if (f_is_zero(f, c))
			return zero_sum(f, ps, sc, rm);
		return c;
	}
	x = f_unpack(f, a);
	y = f_unpack(f, b);
	p = (u128)x.sig * y.sig;
	ep = x.exp + y.exp;
	if (f_is_zero(f, c))
		return round_pack(f, ps, ep, p, rm, fflags);
	z = f_unpack(f, c);
	/* Put both MSBs at bit 125; the smaller exponent is the smaller value. */
	sh = 125 - (127 - clz128(p));
	p <<= sh;
	ep -= sh;
	sa = (u128)z.sig << (125 - (int)f->mbits);
	ec = z.exp - (125 - (int)f->mbits);
	if (ep >= ec) {
		sa = shift_jam(sa, ep - ec);
		ec = ep;
	} else {
		p = shift_jam(p, ec - ep);
		ep = ec;
	}
	if (ps == sc) {
		s = p + sa;
		sign = ps;
	} else if (p >= sa) {
		s = p - sa;
		sign = ps;
	} else {
		s = sa - p;
		sign = sc;
	}
	if (s == 0)
		return zero_sum(f, 0, 1, rm);
	return round_pack(f, sign, ep, s, rm, fflags);
}

/* --- host path ------------------------------------------------------- */

enum fpu_hop { HOP_ADD, HOP_SUB, HOP_MUL, HOP_DIV, HOP_SQRT, HOP_FMA };

#if defined(__x86_64__)

#define MXCSR_FLAGS 0x003fu /* IE DE ZE OE UE PE */
#define MXCSR_DAZ   0x0040u
#define MXCSR_RC    0x6000u
#define MXCSR_FTZ   0x8000u

/* Keep a value in a register the compiler cannot see through. */
#define fpu_hide(v) __asm__ volatile("" : "+x"(v))

static inline bool host_ok(unsigned rm)
{
	return rm < FPU_RMM;
}

static inline bool host_fma_ok(unsigned rm)
{
	return rm < FPU_RMM && __builtin_cpu_supports("fma");
}

/* Set MXCSR for rm with clear flags; returns the value to restore. */
static SV_ALWAYS_INLINE unsigned host_begin(unsigned rm)
{
	/* MXCSR.RC: 00 nearest, 01 down, 10 up, 11 toward zero. */
	static const unsigned rc[4] = { 0u << 13, 3u << 13, 1u << 13,
					2u << 13 };
	unsigned old, want;

	__asm__ volatile("stmxcsr %0" : "=m"(old));
	want = (old & ~(MXCSR_FLAGS | MXCSR_DAZ | MXCSR_RC | MXCSR_FTZ)) |
	       rc[rm];
	if (unlikely(want != old))
		__asm__ volatile("ldmxcsr %0" : : "m"(want));
	return old & ~MXCSR_FLAGS;
}

/* Collect the flags raised since host_begin and restore MXCSR. */
static SV_ALWAYS_INLINE void host_end(unsigned saved, unsigned *fflags)
{
	unsigned now;

	__asm__ volatile("stmxcsr %0" : "=m"(now));
	if (now != saved) {
		*fflags |= (now & 0x01u) << 4 | /* IE -> NV */
			   (now & 0x04u) << 1 | /* ZE -> DZ */
			   (now & 0x08u) >> 1 | /* OE -> OF */
			   (now & 0x10u) >> 3 | /* UE -> UF */
			   (now & 0x20u) >> 5;	/* PE -> NX */
		__asm__ volatile("ldmxcsr %0" : : "m"(saved));
	}
}

static SV_ALWAYS_INLINE uint64_t host_d(enum fpu_hop op, uint64_t a, uint64_t b,
					uint64_t c, unsigned rm,
					unsigned *fflags)
{
	double x, y, z, r;
	uint64_t bits;
	unsigned saved;

	memcpy(&x, &a, 8);
	memcpy(&y, &b, 8);
	memcpy(&z, &c, 8);
	saved = host_begin(rm);
	fpu_hide(x);
	fpu_hide(y);
	fpu_hide(z);
	switch (op) {
	case HOP_ADD: r = x + y; break;
	case HOP_SUB: r = x - y; break;
	case HOP_MUL: r = x * y; break;
	case HOP_DIV: r = x / y; break;
	case HOP_SQRT: __asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x)); break;
	default:
		r = z;
		__asm__("vfmadd231sd %2, %1, %0" : "+x"(r) : "x"(x), "x"(y));
		break;
	}
	fpu_hide(r);
	host_end(saved, fflags);
	memcpy(&bits, &r, 8);
	/* Any NaN result becomes the canonical NaN (spec 11.3). */
	if (unlikely((bits & ~(1ull << 63)) > 0x7ff0000000000000ull))
		return FPU_NAN_D;
	return bits;
}

static SV_ALWAYS_INLINE uint32_t host_s(enum fpu_hop op, uint32_t a, uint32_t b,
					uint32_t c, unsigned rm,
					unsigned *fflags)
{
	float x, y, z, r;
	uint32_t bits;
	unsigned saved;

	memcpy(&x, &a, 4);
	memcpy(&y, &b, 4);
	memcpy(&z, &c, 4);
	saved = host_begin(rm);
	fpu_hide(x);
	fpu_hide(y);
	fpu_hide(z);
	switch (op) {
	case HOP_ADD: r = x + y; break;
	case HOP_SUB: r = x - y; break;
	case HOP_MUL: r = x * y; break;
	case HOP_DIV: r = x / y; break;
	case HOP_SQRT: __asm__("sqrtss %1, %0" : "=x"(r) : "x"(x)); break;
	default:
		r = z;
		__asm__("vfmadd231ss %2, %1, %0" : "+x"(r) : "x"(x), "x"(y));
		break;
	}
	fpu_hide(r);
	host_end(saved, fflags);
	memcpy(&bits, &r, 4);
	if (unlikely((bits & 0x7fffffffu) > 0x7f800000u))
		return FPU_NAN_S;
	return bits;
}

static inline double d_of(uint64_t v)
{
	double d;

	memcpy(&d, &v, 8);
	return d;
}

static inline uint64_t bits_d(double d)
{
	uint64_t v;

	memcpy(&v, &d, 8);
	return v;
}

static inline double d_of_s(uint32_t v)
{
	float f;

	memcpy(&f, &v, 4);
	return f;
}

static inline uint32_t bits_s(float f)
{
	uint32_t v;

	memcpy(&v, &f, 4);
	return v;
}

/* MXCSR as the fast paths need it: RNE, no FTZ/DAZ (flags don't matter). */
static SV_ALWAYS_INLINE bool host_rne(void)
{
	unsigned csr;

	__asm__ volatile("stmxcsr %0" : "=m"(csr));
	return !(csr & (MXCSR_RC | MXCSR_FTZ | MXCSR_DAZ));
}

static SV_ALWAYS_INLINE double fma_hw(double x, double y, double z)
{
	__asm__("vfmadd231sd %2, %1, %0" : "+x"(z) : "x"(x), "x"(y));
	return z;
}

/*
 * RNE fast path for binary64 that never writes MXCSR (ldmxcsr costs more
 * than the arithmetic). The host computes the RNE result; NX comes from an
 * exact error term: 2Sum for add, the FMA residual for mul, div, sqrt. Only
 * operands for which that term is exactly representable and the result can
 * neither overflow nor underflow are taken; anything else returns false and
 * goes the MXCSR way. Sums never underflow: a sum in the subnormal range is
 * exact.
 */
static SV_ALWAYS_INLINE bool fast_d(enum fpu_hop op, uint64_t a, uint64_t b,
				    uint64_t *res, unsigned *fflags)
{
	int ea = (int)((a >> 52) & 0x7ff), eb = (int)((b >> 52) & 0x7ff);
	double x = d_of(a), y = d_of(b), r, e;

	switch (op) {
	case HOP_ADD:
		/* |a|, |b| < 2^1020: no intermediate of 2Sum overflows. */
		if (ea >= 0x7fb || eb >= 0x7fb || !host_rne())
			return false;
		fpu_hide(x);
		fpu_hide(y);
		r = x + y;
		e = r - x;
		e = (x - (r - e)) + (y - e);
		break;
	case HOP_MUL:
		/* normal operands, product exponent in [-969, 1020] */
		if (ea == 0 || eb == 0 || ea == 0x7ff || eb == 0x7ff ||
		    ea + eb < 2046 - 969 || ea + eb > 2046 + 1020 ||
		    !__builtin_cpu_supports("fma") || !host_rne())
			return false;
		fpu_hide(x);
		fpu_hide(y);
		r = x * y;
		e = fma_hw(x, y, -r);
		break;
	case HOP_DIV:
		/* normal operands, |a| >= 2^-968, quotient exponent bounded */
		if (ea == 0 || eb == 0 || ea == 0x7ff || eb == 0x7ff ||
		    ea < 1023 - 968 || ea - eb > 1020 || eb - ea > 1020 ||
		    !__builtin_cpu_supports("fma") || !host_rne())
			return false;
		fpu_hide(x);
		fpu_hide(y);
		r = x / y;
		e = fma_hw(-r, y, x);
		break;
	default: /* HOP_SQRT: positive normal >= 2^-968 */
		if ((a >> 63) || ea < 55 || ea == 0x7ff ||
		    !__builtin_cpu_supports("fma") || !host_rne())
			return false;
		fpu_hide(x);
		__asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x));
		e = fma_hw(-r, r, x);
		break;
	}
	fpu_hide(r);
	fpu_hide(e);
	if (e != 0)
		*fflags |= FPU_NX;
	*res = bits_d(r);
	return true;
}

/*
 * RNE fast path for binary32: compute in binary64 and narrow. Double
 * rounding is innocuous for + - * / sqrt since 53 >= 2 * 24 + 2 (Figueroa,
 * "When is double rounding innocuous?", 1995). NX is exact: for add the
 * 2Sum error or the narrowing loss, for mul the narrowing loss (the binary64
 * product is exact), for div/sqrt the residual, exact in binary64. Results
 * that are zero, tiny (below 2^-125), infinite or NaN go the MXCSR way.
 */
static SV_ALWAYS_INLINE bool fast_s(enum fpu_hop op, uint32_t a, uint32_t b,
				    uint32_t *res, unsigned *fflags)
{
	unsigned ea = (a >> 23) & 0xff, eb = (b >> 23) & 0xff, ef;
	double x, y, d, e = 0;
	float f;

	if (ea == 0xff || eb == 0xff || !host_rne())
		return false;
	if ((op == HOP_DIV && (b & 0x7fffffffu) == 0) ||
	    (op == HOP_SQRT && (a >> 31)))
		return false;
	x = d_of_s(a);
	y = d_of_s(b);
	fpu_hide(x);
	fpu_hide(y);
	switch (op) {
	case HOP_ADD:
		d = x + y;
		e = d - x;
		e = (x - (d - e)) + (y - e);
		break;
	case HOP_MUL: d = x * y; break;
	case HOP_DIV: d = x / y; break;
	default: __asm__("sqrtsd %1, %0" : "=x"(d) : "x"(x)); break;
	}
	f = (float)d;
	fpu_hide(f);
	ef = (bits_s(f) >> 23) & 0xff;
	if (ef < 2 || ef == 0xff)
		return false;
	switch (op) {
	case HOP_DIV: e = x - (double)f * y; break;
	case HOP_SQRT: e = x - (double)f * (double)f; break;
	default:
		if (e == 0)
			e = d - (double)f;
		break;
	}
	fpu_hide(e);
	if (e != 0)
		*fflags |= FPU_NX;
	*res = bits_s(f);
	return true;
}

#else /* !__x86_64__: everything takes the software path */

static inline bool host_ok(unsigned rm)
{
	return false;
}

static inline bool host_fma_ok(unsigned rm)
{
	return false;
}

static inline uint64_t host_d(enum fpu_hop op, uint64_t a, uint64_t b,
			      uint64_t c, unsigned rm, unsigned *fflags)
{
	return FPU_NAN_D;
}

static inline uint32_t host_s(enum fpu_hop op, uint32_t a, uint32_t b,
			      uint32_t c, unsigned rm, unsigned *fflags)
{
	return FPU_NAN_S;
}

static inline bool fast_d(enum fpu_hop op, uint64_t a, uint64_t b,
			  uint64_t *res, unsigned *fflags)
{
	return false;
}

static inline bool fast_s(enum fpu_hop op, uint32_t a, uint32_t b,
			  uint32_t *res, unsigned *fflags)
{
	return false;
}

#endif

/* --- arithmetic entry points ------------------------------------------ */

uint32_t fpu_add_s(uint32_t a, uint32_t b, unsigned rm, unsigned *fflags)
{
	uint32_t r;

	if (rm == FPU_RNE && fast_s(HOP_ADD, a, b, &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_s(HOP_ADD, a, b, 0, rm, fflags);
	return (uint32_t)soft_add(&fmt_s, a, b, soft_rm(rm), fflags);
}

uint32_t fpu_sub_s(uint32_t a, uint32_t b, unsigned rm, unsigned *fflags)
{
	uint32_t r;

	if (rm == FPU_RNE && fast_s(HOP_ADD, a, b ^ 0x80000000u, &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_s(HOP_SUB, a, b, 0, rm, fflags);
	return (uint32_t)soft_add(&fmt_s, a, b ^ 0x80000000u, soft_rm(rm),
				  fflags);
}

uint32_t fpu_mul_s(uint32_t a, uint32_t b, unsigned rm, unsigned *fflags)
{
	uint32_t r;

	if (rm == FPU_RNE && fast_s(HOP_MUL, a, b, &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_s(HOP_MUL, a, b, 0, rm, fflags);
	return (uint32_t)soft_mul(&fmt_s, a, b, soft_rm(rm), fflags);
}

uint32_t fpu_div_s(uint32_t a, uint32_t b, unsigned rm, unsigned *fflags)
{
	uint32_t r;

	if (rm == FPU_RNE && fast_s(HOP_DIV, a, b, &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_s(HOP_DIV, a, b, 0, rm, fflags);
	return (uint32_t)soft_div(&fmt_s, a, b, soft_rm(rm), fflags);
}

uint32_t fpu_sqrt_s(uint32_t a, unsigned rm, unsigned *fflags)
{
	uint32_t r;

	if (rm == FPU_RNE && fast_s(HOP_SQRT, a, 0, &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_s(HOP_SQRT, a, 0, 0, rm, fflags);
	return (uint32_t)soft_sqrt(&fmt_s, a, soft_rm(rm), fflags);
}

/*
 * Inf/NaN operands go the software way: x86 FMA3 raises no IE for
 * inf * 0 + qNaN, RISC-V wants NV there (spec 11.6).
 */
static uint32_t fma_s(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
		      unsigned *fflags)
{
	if (likely(host_fma_ok(rm) && (a & 0x7f800000u) != 0x7f800000u &&
		   (b & 0x7f800000u) != 0x7f800000u &&
		   (c & 0x7f800000u) != 0x7f800000u))
		return host_s(HOP_FMA, a, b, c, rm, fflags);
	return (uint32_t)soft_fma(&fmt_s, a, b, c, soft_rm(rm), fflags);
}

uint32_t fpu_madd_s(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
		    unsigned *fflags)
{
	return fma_s(a, b, c, rm, fflags);
}

uint32_t fpu_msub_s(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
		    unsigned *fflags)
{
	return fma_s(a, b, c ^ 0x80000000u, rm, fflags);
}

uint32_t fpu_nmsub_s(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
		     unsigned *fflags)
{
	return fma_s(a ^ 0x80000000u, b, c, rm, fflags);
}

uint32_t fpu_nmadd_s(uint32_t a, uint32_t b, uint32_t c, unsigned rm,
		     unsigned *fflags)
{
	return fma_s(a ^ 0x80000000u, b, c ^ 0x80000000u, rm, fflags);
}

uint64_t fpu_add_d(uint64_t a, uint64_t b, unsigned rm, unsigned *fflags)
{
	uint64_t r;

	if (rm == FPU_RNE && fast_d(HOP_ADD, a, b, &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_d(HOP_ADD, a, b, 0, rm, fflags);
	return soft_add(&fmt_d, a, b, soft_rm(rm), fflags);
}

uint64_t fpu_sub_d(uint64_t a, uint64_t b, unsigned rm, unsigned *fflags)
{
	uint64_t r;

	if (rm == FPU_RNE && fast_d(HOP_ADD, a, b ^ (1ull << 63), &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_d(HOP_SUB, a, b, 0, rm, fflags);
	return soft_add(&fmt_d, a, b ^ (1ull << 63), soft_rm(rm), fflags);
}

uint64_t fpu_mul_d(uint64_t a, uint64_t b, unsigned rm, unsigned *fflags)
{
	uint64_t r;

	if (rm == FPU_RNE && fast_d(HOP_MUL, a, b, &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_d(HOP_MUL, a, b, 0, rm, fflags);
	return soft_mul(&fmt_d, a, b, soft_rm(rm), fflags);
}

uint64_t fpu_div_d(uint64_t a, uint64_t b, unsigned rm, unsigned *fflags)
{
	uint64_t r;

	if (rm == FPU_RNE && fast_d(HOP_DIV, a, b, &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_d(HOP_DIV, a, b, 0, rm, fflags);
	return soft_div(&fmt_d, a, b, soft_rm(rm), fflags);
}

uint64_t fpu_sqrt_d(uint64_t a, unsigned rm, unsigned *fflags)
{
	uint64_t r;

	if (rm == FPU_RNE && fast_d(HOP_SQRT, a, 0, &r, fflags))
		return r;
	if (likely(host_ok(rm)))
		return host_d(HOP_SQRT, a, 0, 0, rm, fflags);
	return soft_sqrt(&fmt_d, a, soft_rm(rm), fflags);
}

static uint64_t fma_d(uint64_t a, uint64_t b, uint64_t c, unsigned rm,
		      unsigned *fflags)
{
	const uint64_t em = 0x7ff0000000000000ull;

	if (likely(host_fma_ok(rm) && (a & em) != em && (b & em) != em &&
		   (c & em) != em))
		return host_d(HOP_FMA, a, b, c, rm, fflags);
	return soft_fma(&fmt_d, a, b, c, soft_rm(rm), fflags);
}

uint64_t fpu_madd_d(uint64_t a, uint64_t b, uint64_t c, unsigned rm,
		    unsigned *fflags)
{
	return fma_d(a, b, c, rm, fflags);
}

uint64_t fpu_msub_d(uint64_t a, uint64_t b, uint64_t c, unsigned rm,
		    unsigned *fflags)
{
	return fma_d(a, b, c ^ (1ull << 63), rm, fflags);
}

uint64_t fpu_nmsub_d(uint64_t a, uint64_t b, uint64_t c, unsigned rm,
		     unsigned *fflags)
{
	return fma_d(a ^ (1ull << 63), b, c, rm, fflags);
}

uint64_t fpu_nmadd_d(uint64_t a, uint64_t b, uint64_t c, unsigned rm,
		     unsigned *fflags)
{
	return fma_d(a ^ (1ull << 63), b, c ^ (1ull << 63), rm, fflags);
}

/* --- min/max, compare, classify (spec 11.6, 11.8, 11.9) --------------- */

/* Map a non-NaN value to an unsigned key ordered like the reals, -0 < +0. */
static inline uint64_t order_key(const struct fpu_fmt *f, uint64_t x)
{
	uint64_t sb = f_signbit(f);

	return (x & sb) ? ~x & (sb | (sb - 1)) : x | sb;
}

static uint64_t minmax(const struct fpu_fmt *f, uint64_t a, uint64_t b,
		       bool max, unsigned *fflags)
{
	bool an = f_is_nan(f, a), bn = f_is_nan(f, b);

	if (f_is_snan(f, a) || f_is_snan(f, b))
		*fflags |= FPU_NV;
	if (an && bn)
		return f->qnan;
	if (an)
		return b;
	if (bn)
		return a;
	if ((order_key(f, a) < order_key(f, b)) == max)
		return b;
	return a;
}

/* 0: less, 1: equal, 2: greater, 3: unordered (quiet; caller raises NV). */
static int compare(const struct fpu_fmt *f, uint64_t a, uint64_t b)
{
	uint64_t ka, kb;

	if (f_is_nan(f, a) || f_is_nan(f, b))
		return 3;
	if (f_is_zero(f, a) && f_is_zero(f, b))
		return 1;
	ka = order_key(f, a);
	kb = order_key(f, b);
	return ka < kb ? 0 : ka == kb ? 1 : 2;
}

static int cmp_eq(const struct fpu_fmt *f, uint64_t a, uint64_t b,
		  unsigned *fflags)
{
	int r = compare(f, a, b);

	if (r == 3 && (f_is_snan(f, a) || f_is_snan(f, b)))
		*fflags |= FPU_NV;
	return r == 1;
}

static int cmp_lt(const struct fpu_fmt *f, uint64_t a, uint64_t b, bool le,
		  unsigned *fflags)
{
	int r = compare(f, a, b);

	if (r == 3)
		*fflags |= FPU_NV;
	return r == 0 || (le && r == 1);
}

static unsigned classify(const struct fpu_fmt *f, uint64_t x)
{
	int s = f_sign(f, x);
	uint64_t e = f_exp(f, x);

	if (e == f_emask(f)) {
		if (f_frac(f, x) == 0)
			return s ? FPU_CLASS_NINF : FPU_CLASS_PINF;
		return f_is_snan(f, x) ? FPU_CLASS_SNAN : FPU_CLASS_QNAN;
	}
	if (e == 0) {
		if (f_frac(f, x) == 0)
			return s ? FPU_CLASS_NZERO : FPU_CLASS_PZERO;
		return s ? FPU_CLASS_NSUBNORM : FPU_CLASS_PSUBNORM;
	}
	return s ? FPU_CLASS_NNORMAL : FPU_CLASS_PNORMAL;
}

uint32_t fpu_min_s(uint32_t a, uint32_t b, unsigned *fflags)
{
	return (uint32_t)minmax(&fmt_s, a, b, false, fflags);
}

uint32_t fpu_max_s(uint32_t a, uint32_t b, unsigned *fflags)
{
	return (uint32_t)minmax(&fmt_s, a, b, true, fflags);
}

int fpu_eq_s(uint32_t a, uint32_t b, unsigned *fflags)
{
	return cmp_eq(&fmt_s, a, b, fflags);
}

int fpu_lt_s(uint32_t a, uint32_t b, unsigned *fflags)
{
	return cmp_lt(&fmt_s, a, b, false, fflags);
}

int fpu_le_s(uint32_t a, uint32_t b, unsigned *fflags)
{
	return cmp_lt(&fmt_s, a, b, true, fflags);
}

unsigned fpu_class_s(uint32_t a)
{
	return classify(&fmt_s, a);
}

uint64_t fpu_min_d(uint64_t a, uint64_t b, unsigned *fflags)
{
	return minmax(&fmt_d, a, b, false, fflags);
}

uint64_t fpu_max_d(uint64_t a, uint64_t b, unsigned *fflags)
{
	return minmax(&fmt_d, a, b, true, fflags);
}

int fpu_eq_d(uint64_t a, uint64_t b, unsigned *fflags)
{
	return cmp_eq(&fmt_d, a, b, fflags);
}

int fpu_lt_d(uint64_t a, uint64_t b, unsigned *fflags)
{
	return cmp_lt(&fmt_d, a, b, false, fflags);
}

int fpu_le_d(uint64_t a, uint64_t b, unsigned *fflags)
{
	return cmp_lt(&fmt_d, a, b, true, fflags);
}

unsigned fpu_class_d(uint64_t a)
{
	return classify(&fmt_d, a);
}

/* --- conversions (spec 11.7, 12.5) ------------------------------------ */

/*
 * Float to integer of `bits` width, saturating per spec table 11.4: NaN and
 * too-large positive give the maximum, too-large negative the minimum, both
 * with NV and without NX. In-range inexact results raise NX only.
 */
static uint64_t to_int(const struct fpu_fmt *f, uint64_t a, unsigned rm,
		       int bits, bool is_signed, unsigned *fflags)
{
	uint64_t max = is_signed ? (1ull << (bits - 1)) - 1
				 : ~0ull >> (64 - bits);
	uint64_t min = is_signed ? ~max : 0; /* as two's complement */
	struct fpu_unpacked x;
	u128 mag;
	bool inexact = false;
	uint64_t r;

	if (f_is_nan(f, a))
		goto out_of_range_pos;
	if (f_is_inf(f, a))
		goto out_of_range;
	if (f_is_zero(f, a))
		return 0;
	x = f_unpack(f, a);
	if (x.exp >= 0) {
		if (x.exp + (int)f->mbits >= 64)
			goto out_of_range;
		mag = (u128)x.sig << x.exp;
	} else {
		mag = round_shift(x.sig, -x.exp, x.sign, soft_rm(rm), &inexact);
	}
	if (x.sign) {
		if (mag > (u128)(is_signed ? max + 1 : 0))
			goto out_of_range;
		r = -(uint64_t)mag;
	} else {
		if (mag > max)
			goto out_of_range;
		r = (uint64_t)mag;
	}
	if (inexact)
		*fflags |= FPU_NX;
	goto done;
out_of_range:
	if (f_sign(f, a)) {
		*fflags |= FPU_NV;
		r = min;
		goto done;
	}
out_of_range_pos:
	*fflags |= FPU_NV;
	r = max;
done:
	if (bits == 32)
		r = (uint64_t)(int64_t)(int32_t)(uint32_t)r;
	return r;
}

/* Integer (sign, magnitude) to float: zero is +0. */
static uint64_t from_int(const struct fpu_fmt *f, int sign, uint64_t mag,
			 unsigned rm, unsigned *fflags)
{
	if (mag == 0)
		return 0;
	return round_pack(f, sign, 0, mag, soft_rm(rm), fflags);
}

uint64_t fpu_cvt_w_s(uint32_t a, unsigned rm, unsigned *fflags)
{
	return to_int(&fmt_s, a, rm, 32, true, fflags);
}

uint64_t fpu_cvt_wu_s(uint32_t a, unsigned rm, unsigned *fflags)
{
	return to_int(&fmt_s, a, rm, 32, false, fflags);
}

uint64_t fpu_cvt_l_s(uint32_t a, unsigned rm, unsigned *fflags)
{
	return to_int(&fmt_s, a, rm, 64, true, fflags);
}

uint64_t fpu_cvt_lu_s(uint32_t a, unsigned rm, unsigned *fflags)
{
	return to_int(&fmt_s, a, rm, 64, false, fflags);
}

uint64_t fpu_cvt_w_d(uint64_t a, unsigned rm, unsigned *fflags)
{
	return to_int(&fmt_d, a, rm, 32, true, fflags);
}

uint64_t fpu_cvt_wu_d(uint64_t a, unsigned rm, unsigned *fflags)
{
	return to_int(&fmt_d, a, rm, 32, false, fflags);
}

uint64_t fpu_cvt_l_d(uint64_t a, unsigned rm, unsigned *fflags)
{
	return to_int(&fmt_d, a, rm, 64, true, fflags);
}

uint64_t fpu_cvt_lu_d(uint64_t a, unsigned rm, unsigned *fflags)
{
	return to_int(&fmt_d, a, rm, 64, false, fflags);
}

uint32_t fpu_cvt_s_w(uint64_t x, unsigned rm, unsigned *fflags)
{
	int32_t v = (int32_t)(uint32_t)x;

	return (uint32_t)from_int(&fmt_s, v < 0,
				  v < 0 ? -(uint64_t)(int64_t)v : (uint64_t)v,
				  rm, fflags);
}

uint32_t fpu_cvt_s_wu(uint64_t x, unsigned rm, unsigned *fflags)
{
	return (uint32_t)from_int(&fmt_s, 0, (uint32_t)x, rm, fflags);
}

uint32_t fpu_cvt_s_l(uint64_t x, unsigned rm, unsigned *fflags)
{
	int neg = (int64_t)x < 0;

	return (uint32_t)from_int(&fmt_s, neg, neg ? -x : x, rm, fflags);
}

uint32_t fpu_cvt_s_lu(uint64_t x, unsigned rm, unsigned *fflags)
{
	return (uint32_t)from_int(&fmt_s, 0, x, rm, fflags);
}

uint64_t fpu_cvt_d_w(uint64_t x, unsigned rm, unsigned *fflags)
{
	int32_t v = (int32_t)(uint32_t)x;

	return from_int(&fmt_d, v < 0,
			v < 0 ? -(uint64_t)(int64_t)v : (uint64_t)v, rm,
			fflags);
}

uint64_t fpu_cvt_d_wu(uint64_t x, unsigned rm, unsigned *fflags)
{
	return from_int(&fmt_d, 0, (uint32_t)x, rm, fflags);
}

uint64_t fpu_cvt_d_l(uint64_t x, unsigned rm, unsigned *fflags)
{
	int neg = (int64_t)x < 0;

	return from_int(&fmt_d, neg, neg ? -x : x, rm, fflags);
}

uint64_t fpu_cvt_d_lu(uint64_t x, unsigned rm, unsigned *fflags)
{
	return from_int(&fmt_d, 0, x, rm, fflags);
}

/* Between formats: NaN -> canonical (NV if signaling), else one rounding. */
static uint64_t convert(const struct fpu_fmt *to, const struct fpu_fmt *from,
			uint64_t a, unsigned rm, unsigned *fflags)
{
	struct fpu_unpacked x;

	if (f_is_nan(from, a)) {
		nan_result(from, a, 0, 0, fflags);
		return to->qnan;
	}
	if (f_is_inf(from, a))
		return f_inf(to, f_sign(from, a));
	if (f_is_zero(from, a))
		return f_zero(to, f_sign(from, a));
	x = f_unpack(from, a);
	return round_pack(to, x.sign, x.exp, x.sig, soft_rm(rm), fflags);
}

uint32_t fpu_cvt_s_d(uint64_t a, unsigned rm, unsigned *fflags)
{
	return (uint32_t)convert(&fmt_s, &fmt_d, a, rm, fflags);
}

uint64_t fpu_cvt_d_s(uint32_t a, unsigned *fflags)
{
	return convert(&fmt_d, &fmt_s, a, FPU_RNE, fflags);
}
