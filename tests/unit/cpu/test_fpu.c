/*
 * Unit tests of src/cpu/fpu.c: hand-picked IEEE 754 / RISC-V F and D edge
 * cases with expected bits and fflags in every rounding mode, plus a random
 * cross-check of the host (SSE) path against the software path. The
 * differential test against QEMU lives in tests/diff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cpu/fpu.h"

#define NX FPU_NX
#define UF FPU_UF
#define OF FPU_OF
#define DZ FPU_DZ
#define NV FPU_NV

#define QNAN_S	  FPU_NAN_S
#define QNAN_D	  FPU_NAN_D
#define SNAN_S	  0x7f800001u
#define SNAN_D	  0x7ff0000000000001ull
#define PAYLOAD_S 0xffc12345u /* quiet, negative, with payload */
#define PAYLOAD_D 0xfff8123456789abcull
#define INF_S	  0x7f800000u
#define NINF_S	  0xff800000u
#define INF_D	  0x7ff0000000000000ull
#define NINF_D	  0xfff0000000000000ull
#define MAX_S	  0x7f7fffffu
#define MAX_D	  0x7fefffffffffffffull
#define ONE_S	  0x3f800000u
#define ONE_D	  0x3ff0000000000000ull

enum top {
	ADD_S,
	SUB_S,
	MUL_S,
	DIV_S,
	SQRT_S,
	MADD_S,
	MSUB_S,
	NMSUB_S,
	NMADD_S,
	ADD_D,
	SUB_D,
	MUL_D,
	DIV_D,
	SQRT_D,
	MADD_D,
	MSUB_D,
	NMSUB_D,
	NMADD_D,
	CVT_W_S,
	CVT_WU_S,
	CVT_L_S,
	CVT_LU_S,
	CVT_S_W,
	CVT_S_WU,
	CVT_S_L,
	CVT_S_LU,
	CVT_W_D,
	CVT_WU_D,
	CVT_L_D,
	CVT_LU_D,
	CVT_D_W,
	CVT_D_WU,
	CVT_D_L,
	CVT_D_LU,
	CVT_S_D,
};

static uint64_t run(enum top op, unsigned rm, uint64_t a, uint64_t b,
		    uint64_t c, unsigned *fl)
{
	uint32_t x = (uint32_t)a, y = (uint32_t)b, z = (uint32_t)c;

	switch (op) {
	case ADD_S: return fpu_add_s(x, y, rm, fl);
	case SUB_S: return fpu_sub_s(x, y, rm, fl);
	case MUL_S: return fpu_mul_s(x, y, rm, fl);
	case DIV_S: return fpu_div_s(x, y, rm, fl);
	case SQRT_S: return fpu_sqrt_s(x, rm, fl);
	case MADD_S: return fpu_madd_s(x, y, z, rm, fl);
	case MSUB_S: return fpu_msub_s(x, y, z, rm, fl);
	case NMSUB_S: return fpu_nmsub_s(x, y, z, rm, fl);
	case NMADD_S: return fpu_nmadd_s(x, y, z, rm, fl);
	case ADD_D: return fpu_add_d(a, b, rm, fl);
	case SUB_D: return fpu_sub_d(a, b, rm, fl);
	case MUL_D: return fpu_mul_d(a, b, rm, fl);
	case DIV_D: return fpu_div_d(a, b, rm, fl);
	case SQRT_D: return fpu_sqrt_d(a, rm, fl);
	case MADD_D: return fpu_madd_d(a, b, c, rm, fl);
	case MSUB_D: return fpu_msub_d(a, b, c, rm, fl);
	case NMSUB_D: return fpu_nmsub_d(a, b, c, rm, fl);
	case NMADD_D: return fpu_nmadd_d(a, b, c, rm, fl);
	case CVT_W_S: return fpu_cvt_w_s(x, rm, fl);
	case CVT_WU_S: return fpu_cvt_wu_s(x, rm, fl);
	case CVT_L_S: return fpu_cvt_l_s(x, rm, fl);
	case CVT_LU_S: return fpu_cvt_lu_s(x, rm, fl);
	case CVT_S_W: return fpu_cvt_s_w(a, rm, fl);
	case CVT_S_WU: return fpu_cvt_s_wu(a, rm, fl);
	case CVT_S_L: return fpu_cvt_s_l(a, rm, fl);
	case CVT_S_LU: return fpu_cvt_s_lu(a, rm, fl);
	case CVT_W_D: return fpu_cvt_w_d(a, rm, fl);
	case CVT_WU_D: return fpu_cvt_wu_d(a, rm, fl);
	case CVT_L_D: return fpu_cvt_l_d(a, rm, fl);
	case CVT_LU_D: return fpu_cvt_lu_d(a, rm, fl);
	case CVT_D_W: return fpu_cvt_d_w(a, rm, fl);
	case CVT_D_WU: return fpu_cvt_d_wu(a, rm, fl);
	case CVT_D_L: return fpu_cvt_d_l(a, rm, fl);
	case CVT_D_LU: return fpu_cvt_d_lu(a, rm, fl);
	case CVT_S_D: return fpu_cvt_s_d(a, rm, fl);
	}
	return 0;
}

/* One operation with its expected result and flags in RNE RTZ RDN RUP RMM. */
struct rm_case {
	int line;
	enum top op;
	uint64_t a, b, c;
	uint64_t res[5];
	unsigned fl[5];
};

#define ALL5(v)               \
	{                     \
		v, v, v, v, v \
	}

static void check_cases(const struct rm_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (unsigned rm = 0; rm < 5; rm++) {
			/* Both paths must agree with the table. */
			for (unsigned soft = 0; soft <= FPU_RM_SOFT;
			     soft += FPU_RM_SOFT) {
				unsigned fl = 0;
				uint64_t r = run(t[i].op, rm | soft, t[i].a,
						 t[i].b, t[i].c, &fl);

				if (r != t[i].res[rm] || fl != t[i].fl[rm])
					print_error(
						"line %d rm %u%s: got "
						"%#llx/%#x want %#llx/%#x\n",
						t[i].line, rm,
						soft ? " (soft)" : "",
						(unsigned long long)r, fl,
						(unsigned long long)t[i]
							.res[rm],
						t[i].fl[rm]);
				assert_int_equal(r, t[i].res[rm]);
				assert_int_equal(fl, t[i].fl[rm]);
			}
		}
	}
}

#define L __LINE__

static const struct rm_case arith_cases[] = {
	/* 1 + 2^-24: an exact tie between 1 and 1+ulp. */
	{ L,
	  ADD_S,
	  ONE_S,
	  0x33800000,
	  0,
	  { ONE_S, ONE_S, ONE_S, 0x3f800001, 0x3f800001 },
	  ALL5(NX) },
	/* 1 + 3 * 2^-24: tie between 1+ulp (odd) and 1+2ulp (even). */
	{ L,
	  ADD_S,
	  ONE_S,
	  0x34400000,
	  0,
	  { 0x3f800002, 0x3f800001, 0x3f800001, 0x3f800002, 0x3f800002 },
	  ALL5(NX) },
	/* -1 - 2^-24 */
	{ L,
	  SUB_S,
	  0xbf800000,
	  0x33800000,
	  0,
	  { 0xbf800000, 0xbf800000, 0xbf800001, 0xbf800000, 0xbf800001 },
	  ALL5(NX) },
	/* x - x is +0, but -0 when rounding down (IEEE 754 6.3). */
	{ L,
	  SUB_S,
	  0x3fc00000,
	  0x3fc00000,
	  0,
	  { 0, 0, 0x80000000, 0, 0 },
	  ALL5(0) },
	{ L, ADD_S, 0x80000000, 0x80000000, 0, ALL5(0x80000000), ALL5(0) },
	{ L, ADD_S, 0, 0x80000000, 0, { 0, 0, 0x80000000, 0, 0 }, ALL5(0) },
	{ L, ADD_S, INF_S, NINF_S, 0, ALL5(QNAN_S), ALL5(NV) },
	{ L, ADD_S, INF_S, MAX_S, 0, ALL5(INF_S), ALL5(0) },
	{ L, ADD_S, SNAN_S, ONE_S, 0, ALL5(QNAN_S), ALL5(NV) },
	{ L, ADD_S, PAYLOAD_S, ONE_S, 0, ALL5(QNAN_S), ALL5(0) },
	/* Overflow: to inf or to the largest finite, per mode. */
	{ L,
	  ADD_S,
	  MAX_S,
	  MAX_S,
	  0,
	  { INF_S, MAX_S, MAX_S, INF_S, INF_S },
	  ALL5(OF | NX) },
	{ L,
	  SUB_S,
	  0xff7fffff,
	  MAX_S,
	  0,
	  { NINF_S, 0xff7fffff, NINF_S, 0xff7fffff, NINF_S },
	  ALL5(OF | NX) },
	/* Subnormal sums are exact: no UF without NX. */
	{ L, ADD_S, 1, 1, 0, ALL5(2), ALL5(0) },
	{ L,
	  ADD_D,
	  ONE_D,
	  0x3ca0000000000000ull,
	  0,
	  { ONE_D, ONE_D, ONE_D, ONE_D + 1, ONE_D + 1 },
	  ALL5(NX) },
	{ L, SUB_D, 0x8000000000000000ull, 0, 0, ALL5(0x8000000000000000ull),
	  ALL5(0) },
	{ L,
	  ADD_D,
	  MAX_D,
	  0x7c90000000000000ull,
	  0, /* max + ulp/2 */
	  { INF_D, MAX_D, MAX_D, INF_D, INF_D },
	  { OF | NX, NX, NX, OF | NX, OF | NX } },
	{ L, ADD_D, SNAN_D, QNAN_D, 0, ALL5(QNAN_D), ALL5(NV) },

	/* mul: (1 - 2^-53) * 2^-1022 is a tie in the subnormal range. */
	{ L,
	  MUL_D,
	  0x3fefffffffffffffull,
	  0x0010000000000000ull,
	  0,
	  { 0x0010000000000000ull, 0x000fffffffffffffull, 0x000fffffffffffffull,
	    0x0010000000000000ull, 0x0010000000000000ull },
	  ALL5(UF | NX) },
	{ L,
	  MUL_S,
	  0x3f7fffff,
	  0x00800000,
	  0,
	  { 0x00800000, 0x007fffff, 0x007fffff, 0x00800000, 0x00800000 },
	  ALL5(UF | NX) },
	{ L, MUL_S, INF_S, 0x80000000, 0, ALL5(QNAN_S), ALL5(NV) },
	{ L, MUL_S, NINF_S, 0x80000001, 0, ALL5(INF_S), ALL5(0) },
	{ L, MUL_S, 0x80000000, 0x3f800000, 0, ALL5(0x80000000), ALL5(0) },
	/* Total underflow of the smallest subnormal squared. */
	{ L,
	  MUL_S,
	  1,
	  0x80000001,
	  0,
	  { 0x80000000, 0x80000000, 0x80000001, 0x80000000, 0x80000000 },
	  ALL5(UF | NX) },
	{ L,
	  MUL_D,
	  0x7fe0000000000000ull,
	  0x4000000000000000ull,
	  0,
	  { INF_D, MAX_D, MAX_D, INF_D, INF_D },
	  ALL5(OF | NX) },

	/* div */
	{ L,
	  DIV_S,
	  ONE_S,
	  0x40400000,
	  0,
	  { 0x3eaaaaab, 0x3eaaaaaa, 0x3eaaaaaa, 0x3eaaaaab, 0x3eaaaaab },
	  ALL5(NX) },
	{ L, DIV_S, 0xbf800000, 0, 0, ALL5(NINF_S), ALL5(DZ) },
	{ L, DIV_S, 0, 0x80000000, 0, ALL5(QNAN_S), ALL5(NV) },
	{ L, DIV_S, INF_S, NINF_S, 0, ALL5(QNAN_S), ALL5(NV) },
	{ L, DIV_S, INF_S, 0, 0, ALL5(INF_S), ALL5(0) }, /* no DZ */
	{ L, DIV_S, ONE_S, NINF_S, 0, ALL5(0x80000000), ALL5(0) },
	{ L,
	  DIV_D,
	  ONE_D,
	  0x4008000000000000ull,
	  0,
	  { 0x3fd5555555555555ull, 0x3fd5555555555555ull, 0x3fd5555555555555ull,
	    0x3fd5555555555556ull, 0x3fd5555555555555ull },
	  ALL5(NX) },
	{ L,
	  DIV_D,
	  1,
	  0x7fefffffffffffffull,
	  0,
	  { 0, 0, 0, 1, 0 },
	  ALL5(UF | NX) },

	/* sqrt */
	{ L,
	  SQRT_S,
	  0x40000000,
	  0,
	  0,
	  { 0x3fb504f3, 0x3fb504f3, 0x3fb504f3, 0x3fb504f4, 0x3fb504f3 },
	  ALL5(NX) },
	{ L, SQRT_S, 0x40800000, 0, 0, ALL5(0x40000000), ALL5(0) },
	{ L, SQRT_S, 0x80000000, 0, 0, ALL5(0x80000000), ALL5(0) },
	{ L, SQRT_S, 0xbf800000, 0, 0, ALL5(QNAN_S), ALL5(NV) },
	{ L, SQRT_S, NINF_S, 0, 0, ALL5(QNAN_S), ALL5(NV) },
	{ L, SQRT_S, INF_S, 0, 0, ALL5(INF_S), ALL5(0) },
	{ L,
	  SQRT_S,
	  1,
	  0,
	  0,
	  { 0x1a3504f3, 0x1a3504f3, 0x1a3504f3, 0x1a3504f4, 0x1a3504f3 },
	  ALL5(NX) },
	{ L,
	  SQRT_D,
	  0x4000000000000000ull,
	  0,
	  0,
	  { 0x3ff6a09e667f3bcdull, 0x3ff6a09e667f3bccull, 0x3ff6a09e667f3bccull,
	    0x3ff6a09e667f3bcdull, 0x3ff6a09e667f3bcdull },
	  ALL5(NX) },
	{ L, SQRT_D, SNAN_D, 0, 0, ALL5(QNAN_D), ALL5(NV) },

	/* fma: inf * 0 is invalid even with a quiet NaN addend. */
	{ L, MADD_S, INF_S, 0, QNAN_S, ALL5(QNAN_S), ALL5(NV) },
	{ L, MADD_D, 0, NINF_D, PAYLOAD_D, ALL5(QNAN_D), ALL5(NV) },
	{ L, MADD_S, ONE_S, ONE_S, SNAN_S, ALL5(QNAN_S), ALL5(NV) },
	{ L, MADD_S, ONE_S, ONE_S, QNAN_S, ALL5(QNAN_S), ALL5(0) },
	{ L, MADD_S, INF_S, ONE_S, NINF_S, ALL5(QNAN_S), ALL5(NV) },
	{ L, NMADD_S, INF_S, ONE_S, INF_S, ALL5(NINF_S), ALL5(0) },
	/* One rounding: (1+2^-23)^2 - 1 = 2^-22 + 2^-46 is a tie. */
	{ L,
	  MADD_S,
	  0x3f800001,
	  0x3f800001,
	  0xbf800000,
	  { 0x34800000, 0x34800000, 0x34800000, 0x34800001, 0x34800001 },
	  ALL5(NX) },
	{ L,
	  MSUB_S,
	  0x3f800001,
	  0x3f800001,
	  ONE_S,
	  { 0x34800000, 0x34800000, 0x34800000, 0x34800001, 0x34800001 },
	  ALL5(NX) },
	/* 2^-126 - 2^-151: tiny before rounding, not after (except RTZ/RDN). */
	{ L,
	  MADD_S,
	  0x9a000000,
	  0x19800000,
	  0x00800000,
	  { 0x00800000, 0x007fffff, 0x007fffff, 0x00800000, 0x00800000 },
	  { NX, UF | NX, UF | NX, NX, NX } },
	{ L,
	  MADD_D,
	  0x9e50000000000000ull,
	  0x1e50000000000000ull,
	  0x0010000000000000ull,
	  { 0x0010000000000000ull, 0x000fffffffffffffull, 0x000fffffffffffffull,
	    0x0010000000000000ull, 0x0010000000000000ull },
	  { NX, UF | NX, UF | NX, NX, NX } },
	/* Exact zero results and their signs. */
	{ L,
	  MADD_S,
	  0,
	  ONE_S,
	  0x80000000,
	  { 0, 0, 0x80000000, 0, 0 },
	  ALL5(0) },
	{ L, NMADD_S, 0, ONE_S, 0, ALL5(0x80000000), ALL5(0) },
	{ L, NMSUB_S, 0, ONE_S, 0, { 0, 0, 0x80000000, 0, 0 }, ALL5(0) },
	{ L,
	  MSUB_D,
	  0x4008000000000000ull,
	  0x4010000000000000ull,
	  0x4028000000000000ull,
	  { 0, 0, 0x8000000000000000ull, 0, 0 },
	  ALL5(0) },
	/* Product far below the addend: only sticky survives. */
	{ L,
	  MADD_D,
	  1,
	  1,
	  ONE_D,
	  { ONE_D, ONE_D, ONE_D, ONE_D + 1, ONE_D },
	  ALL5(NX) },
	{ L,
	  NMSUB_D,
	  1,
	  1,
	  ONE_D,
	  { ONE_D, ONE_D - 1, ONE_D - 1, ONE_D, ONE_D },
	  ALL5(NX) },
	{ L, MADD_D, MAX_D, 0x4000000000000000ull, NINF_D, ALL5(NINF_D),
	  ALL5(0) },
	{ L, MADD_D, MAX_D, 0x4000000000000000ull, 0xffefffffffffffffull,
	  ALL5(MAX_D), ALL5(0) },
};

static void test_arith(void **state)
{
	check_cases(arith_cases, sizeof(arith_cases) / sizeof(arith_cases[0]));
}

#define SX32(v) ((uint64_t)(int64_t)(int32_t)(uint32_t)(v))

static const struct rm_case cvt_cases[] = {
	/* Saturation, spec table 11.4 */
	{ L, CVT_W_S, 0x4f000000, 0, 0, ALL5(0x7fffffff), ALL5(NV) },
	{ L, CVT_W_S, 0xcf000000, 0, 0, ALL5(SX32(0x80000000)), ALL5(0) },
	{ L, CVT_W_S, 0xcf000001, 0, 0, ALL5(SX32(0x80000000)), ALL5(NV) },
	{ L, CVT_W_S, QNAN_S, 0, 0, ALL5(0x7fffffff), ALL5(NV) },
	{ L, CVT_W_S, 0xffffffff, 0, 0, ALL5(0x7fffffff), ALL5(NV) },
	{ L, CVT_W_S, NINF_S, 0, 0, ALL5(SX32(0x80000000)), ALL5(NV) },
	{ L, CVT_W_S, INF_S, 0, 0, ALL5(0x7fffffff), ALL5(NV) },
	{ L, CVT_WU_S, 0xbf800000, 0, 0, ALL5(0), ALL5(NV) },
	{ L,
	  CVT_WU_S,
	  0xbf000000,
	  0,
	  0, /* -0.5 */
	  { 0, 0, 0, 0, 0 },
	  { NX, NX, NV, NX, NV } },
	{ L, CVT_WU_S, QNAN_S, 0, 0, ALL5(~0ull), ALL5(NV) },
	{ L, CVT_WU_S, 0x4f800000, 0, 0, ALL5(~0ull), ALL5(NV) },
	{ L, CVT_WU_S, 0x4f7fffff, 0, 0, ALL5(SX32(0xffffff00)), ALL5(0) },
	{ L, CVT_WU_S, 0x80000000, 0, 0, ALL5(0), ALL5(0) },
	{ L, CVT_L_S, 0x5f000000, 0, 0, ALL5(0x7fffffffffffffffull), ALL5(NV) },
	{ L, CVT_L_S, 0xdf000000, 0, 0, ALL5(1ull << 63), ALL5(0) },
	{ L, CVT_LU_S, 0x5f800000, 0, 0, ALL5(~0ull), ALL5(NV) },
	{ L, CVT_LU_S, 0x5f7fffff, 0, 0, ALL5(0xffffff0000000000ull), ALL5(0) },
	{ L, CVT_LU_S, NINF_S, 0, 0, ALL5(0), ALL5(NV) },
	{ L, CVT_L_D, 0x43e0000000000000ull, 0, 0, ALL5(0x7fffffffffffffffull),
	  ALL5(NV) },
	{ L, CVT_L_D, 0xc3e0000000000000ull, 0, 0, ALL5(1ull << 63), ALL5(0) },
	{ L, CVT_L_D, 0x43dfffffffffffffull, 0, 0, ALL5(0x7ffffffffffffc00ull),
	  ALL5(0) },
	{ L, CVT_LU_D, 0x43f0000000000000ull, 0, 0, ALL5(~0ull), ALL5(NV) },
	{ L, CVT_LU_D, QNAN_D, 0, 0, ALL5(~0ull), ALL5(NV) },
	{ L, CVT_LU_D, NINF_D, 0, 0, ALL5(0), ALL5(NV) },
	{ L, CVT_LU_D, 1, 0, 0, { 0, 0, 0, 1, 0 }, ALL5(NX) },
	{ L,
	  CVT_L_D,
	  0x8000000000000001ull,
	  0,
	  0,
	  { 0, 0, ~0ull, 0, 0 },
	  ALL5(NX) },
	/* Rounding of halves */
	{ L,
	  CVT_W_D,
	  0x4004000000000000ull,
	  0,
	  0, /* 2.5 */
	  { 2, 2, 2, 3, 3 },
	  ALL5(NX) },
	{ L,
	  CVT_W_D,
	  0xc004000000000000ull,
	  0,
	  0, /* -2.5 */
	  { SX32(-2), SX32(-2), SX32(-3), SX32(-2), SX32(-3) },
	  ALL5(NX) },
	{ L,
	  CVT_W_D,
	  0x3fe0000000000000ull,
	  0,
	  0, /* 0.5 */
	  { 0, 0, 0, 1, 1 },
	  ALL5(NX) },
	{ L,
	  CVT_W_D,
	  0x41dfffffffe00000ull,
	  0,
	  0, /* 2^31 - 0.5 */
	  { 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff },
	  { NV, NX, NX, NV, NV } },
	{ L,
	  CVT_W_D,
	  0xc1e0000000100000ull,
	  0,
	  0, /* -2^31 - 0.5 */
	  ALL5(SX32(0x80000000)),
	  { NX, NX, NV, NX, NV } },
	{ L,
	  CVT_WU_D,
	  0x41efffffffffffffull,
	  0,
	  0, /* 2^32 - 2^-21 */
	  { ~0ull, ~0ull, ~0ull, ~0ull, ~0ull },
	  { NV, NX, NX, NV, NV } },
	/* From integers */
	{ L,
	  CVT_S_W,
	  0x1000001,
	  0,
	  0, /* 2^24 + 1 */
	  { 0x4b800000, 0x4b800000, 0x4b800000, 0x4b800001, 0x4b800001 },
	  ALL5(NX) },
	{ L,
	  CVT_S_W,
	  SX32(-0x1000001),
	  0,
	  0,
	  { 0xcb800000, 0xcb800000, 0xcb800001, 0xcb800000, 0xcb800001 },
	  ALL5(NX) },
	{ L, CVT_S_W, 0xffffffff00000001ull, 0, 0, ALL5(ONE_S), ALL5(0) },
	{ L, CVT_S_W, 0, 0, 0, ALL5(0), ALL5(0) },
	{ L,
	  CVT_S_WU,
	  ~0ull,
	  0,
	  0,
	  { 0x4f800000, 0x4f7fffff, 0x4f7fffff, 0x4f800000, 0x4f800000 },
	  ALL5(NX) },
	{ L,
	  CVT_S_LU,
	  ~0ull,
	  0,
	  0,
	  { 0x5f800000, 0x5f7fffff, 0x5f7fffff, 0x5f800000, 0x5f800000 },
	  ALL5(NX) },
	{ L, CVT_S_L, 1ull << 63, 0, 0, ALL5(0xdf000000), ALL5(0) },
	{ L,
	  CVT_D_LU,
	  ~0ull,
	  0,
	  0,
	  { 0x43f0000000000000ull, 0x43efffffffffffffull, 0x43efffffffffffffull,
	    0x43f0000000000000ull, 0x43f0000000000000ull },
	  ALL5(NX) },
	{ L,
	  CVT_D_L,
	  0x20000000000001ull,
	  0,
	  0, /* 2^53 + 1 */
	  { 0x4340000000000000ull, 0x4340000000000000ull, 0x4340000000000000ull,
	    0x4340000000000001ull, 0x4340000000000001ull },
	  ALL5(NX) },
	{ L, CVT_D_L, 1ull << 63, 0, 0, ALL5(0xc3e0000000000000ull), ALL5(0) },
	{ L, CVT_D_W, 0x80000000, 0, 0, ALL5(0xc1e0000000000000ull), ALL5(0) },
	{ L, CVT_D_WU, 0x80000000, 0, 0, ALL5(0x41e0000000000000ull), ALL5(0) },
	/* Narrowing */
	{ L,
	  CVT_S_D,
	  0x47effffff0000000ull,
	  0,
	  0, /* max float + ulp/2 */
	  { INF_S, MAX_S, MAX_S, INF_S, INF_S },
	  { OF | NX, NX, NX, OF | NX, OF | NX } },
	{ L,
	  CVT_S_D,
	  0xc7f0000000000000ull,
	  0,
	  0, /* -2^128 */
	  { NINF_S, 0xff7fffff, NINF_S, 0xff7fffff, NINF_S },
	  ALL5(OF | NX) },
	{ L,
	  CVT_S_D,
	  0x380ffffff8000000ull,
	  0,
	  0, /* 2^-126 (1 - 2^-26) */
	  { 0x00800000, 0x007fffff, 0x007fffff, 0x00800000, 0x00800000 },
	  { NX, UF | NX, UF | NX, NX, NX } },
	{ L, CVT_S_D, 0x36a0000000000000ull, 0, 0, ALL5(1), ALL5(0) },
	{ L,
	  CVT_S_D,
	  0x3690000000000000ull,
	  0,
	  0, /* 2^-150: half of min */
	  { 0, 0, 0, 1, 1 },
	  ALL5(UF | NX) },
	{ L, CVT_S_D, SNAN_D, 0, 0, ALL5(QNAN_S), ALL5(NV) },
	{ L, CVT_S_D, PAYLOAD_D, 0, 0, ALL5(QNAN_S), ALL5(0) },
	{ L, CVT_S_D, 0x8000000000000000ull, 0, 0, ALL5(0x80000000), ALL5(0) },
	{ L,
	  CVT_S_D,
	  0x3ff0000010000000ull,
	  0,
	  0, /* 1 + 2^-24 */
	  { ONE_S, ONE_S, ONE_S, 0x3f800001, 0x3f800001 },
	  ALL5(NX) },
};

static void test_convert(void **state)
{
	unsigned fl = 0;

	check_cases(cvt_cases, sizeof(cvt_cases) / sizeof(cvt_cases[0]));
	assert_int_equal(fpu_cvt_d_s(1, &fl), 0x36a0000000000000ull);
	assert_int_equal(fpu_cvt_d_s(0xff7fffff, &fl), 0xc7efffffe0000000ull);
	assert_int_equal(fpu_cvt_d_s(0x80000000, &fl), 1ull << 63);
	assert_int_equal(fpu_cvt_d_s(NINF_S, &fl), NINF_D);
	assert_int_equal(fpu_cvt_d_s(PAYLOAD_S, &fl), QNAN_D);
	assert_int_equal(fl, 0);
	assert_int_equal(fpu_cvt_d_s(SNAN_S, &fl), QNAN_D);
	assert_int_equal(fl, NV);
}

static void test_minmax(void **state)
{
	unsigned fl = 0;

	assert_int_equal(fpu_min_s(0, 0x80000000, &fl), 0x80000000);
	assert_int_equal(fpu_min_s(0x80000000, 0, &fl), 0x80000000);
	assert_int_equal(fpu_max_s(0x80000000, 0, &fl), 0);
	assert_int_equal(fpu_max_s(0, 0x80000000, &fl), 0);
	assert_int_equal(fpu_min_s(QNAN_S, ONE_S, &fl), ONE_S);
	assert_int_equal(fpu_max_s(NINF_S, PAYLOAD_S, &fl), NINF_S);
	assert_int_equal(fpu_min_s(PAYLOAD_S, PAYLOAD_S, &fl), QNAN_S);
	assert_int_equal(fpu_min_s(0xbf800000, 0xc0000000, &fl), 0xc0000000);
	assert_int_equal(fpu_max_s(0xbf800000, 0xc0000000, &fl), 0xbf800000);
	assert_int_equal(fpu_max_s(1, 0, &fl), 1);
	assert_int_equal(fl, 0);
	assert_int_equal(fpu_min_s(SNAN_S, ONE_S, &fl), ONE_S);
	assert_int_equal(fl, NV);
	fl = 0;
	assert_int_equal(fpu_max_s(SNAN_S, SNAN_S, &fl), QNAN_S);
	assert_int_equal(fl, NV);

	fl = 0;
	assert_int_equal(fpu_min_d(0, 1ull << 63, &fl), 1ull << 63);
	assert_int_equal(fpu_max_d(1ull << 63, 0, &fl), 0);
	assert_int_equal(fpu_max_d(PAYLOAD_D, MAX_D, &fl), MAX_D);
	assert_int_equal(fpu_min_d(INF_D, MAX_D, &fl), MAX_D);
	assert_int_equal(fpu_min_d(QNAN_D, PAYLOAD_D, &fl), QNAN_D);
	assert_int_equal(fl, 0);
	assert_int_equal(fpu_max_d(ONE_D, SNAN_D, &fl), ONE_D);
	assert_int_equal(fl, NV);
}

static void test_compare(void **state)
{
	unsigned fl = 0;

	/* feq is quiet: NV only for signaling NaNs. */
	assert_int_equal(fpu_eq_s(QNAN_S, ONE_S, &fl), 0);
	assert_int_equal(fpu_eq_s(QNAN_S, QNAN_S, &fl), 0);
	assert_int_equal(fpu_eq_s(0, 0x80000000, &fl), 1);
	assert_int_equal(fpu_eq_s(ONE_S, ONE_S, &fl), 1);
	assert_int_equal(fpu_lt_s(0x80000000, 0, &fl), 0);
	assert_int_equal(fpu_le_s(0x80000000, 0, &fl), 1);
	assert_int_equal(fpu_lt_s(NINF_S, 0xff7fffff, &fl), 1);
	assert_int_equal(fpu_lt_s(0xc0000000, 0xbf800000, &fl), 1);
	assert_int_equal(fpu_le_s(0xbf800000, 0xc0000000, &fl), 0);
	assert_int_equal(fpu_lt_s(1, 2, &fl), 1);
	assert_int_equal(fl, 0);
	assert_int_equal(fpu_eq_s(SNAN_S, ONE_S, &fl), 0);
	assert_int_equal(fl, NV);
	/* flt/fle signal on any NaN. */
	fl = 0;
	assert_int_equal(fpu_lt_s(QNAN_S, ONE_S, &fl), 0);
	assert_int_equal(fl, NV);
	fl = 0;
	assert_int_equal(fpu_le_s(ONE_S, PAYLOAD_S, &fl), 0);
	assert_int_equal(fl, NV);

	fl = 0;
	assert_int_equal(fpu_eq_d(1ull << 63, 0, &fl), 1);
	assert_int_equal(fpu_le_d(INF_D, INF_D, &fl), 1);
	assert_int_equal(fpu_lt_d(INF_D, INF_D, &fl), 0);
	assert_int_equal(fpu_lt_d(0x8000000000000001ull, 0, &fl), 1);
	assert_int_equal(fpu_eq_d(QNAN_D, QNAN_D, &fl), 0);
	assert_int_equal(fl, 0);
	assert_int_equal(fpu_le_d(QNAN_D, ONE_D, &fl), 0);
	assert_int_equal(fl, NV);
	fl = 0;
	assert_int_equal(fpu_eq_d(ONE_D, SNAN_D, &fl), 0);
	assert_int_equal(fl, NV);
}

static void test_classify(void **state)
{
	static const struct {
		uint32_t s;
		uint64_t d;
		unsigned mask;
	} t[] = {
		{ NINF_S, NINF_D, FPU_CLASS_NINF },
		{ 0xbf800000, 0xbff0000000000000ull, FPU_CLASS_NNORMAL },
		{ 0x807fffff, 0x800fffffffffffffull, FPU_CLASS_NSUBNORM },
		{ 0x80000000, 0x8000000000000000ull, FPU_CLASS_NZERO },
		{ 0, 0, FPU_CLASS_PZERO },
		{ 1, 1, FPU_CLASS_PSUBNORM },
		{ MAX_S, MAX_D, FPU_CLASS_PNORMAL },
		{ INF_S, INF_D, FPU_CLASS_PINF },
		{ SNAN_S, SNAN_D, FPU_CLASS_SNAN },
		{ 0xffbfffff, 0xfff7ffffffffffffull, FPU_CLASS_SNAN },
		{ QNAN_S, QNAN_D, FPU_CLASS_QNAN },
		{ PAYLOAD_S, PAYLOAD_D, FPU_CLASS_QNAN },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(fpu_class_s(t[i].s), t[i].mask);
		assert_int_equal(fpu_class_d(t[i].d), t[i].mask);
	}
	assert_int_equal(FPU_CLASS_QNAN, 0x200);
}

static void test_boxing(void **state)
{
	unsigned fl = 0;

	assert_int_equal(fpu_unbox_s(0xffffffff3f800000ull), ONE_S);
	assert_int_equal(fpu_unbox_s(0x000000003f800000ull), QNAN_S);
	assert_int_equal(fpu_unbox_s(0xfffffffe3f800000ull), QNAN_S);
	assert_int_equal(fpu_unbox_s(0x7fffffff3f800000ull), QNAN_S);
	assert_int_equal(fpu_box_s(ONE_S), 0xffffffff3f800000ull);
	/* sign injection leaves NaN payloads alone and raises nothing */
	assert_int_equal(fpu_sgnj_s(SNAN_S, 0x80000000), 0xff800001);
	assert_int_equal(fpu_sgnjn_s(ONE_S, ONE_S), 0xbf800000);
	assert_int_equal(fpu_sgnjx_s(0xbf800000, 0x80000000), ONE_S);
	assert_int_equal(fpu_sgnj_d(SNAN_D, 1ull << 63), SNAN_D | 1ull << 63);
	assert_int_equal(fpu_sgnjn_d(ONE_D, 0), ONE_D | 1ull << 63);
	assert_int_equal(fpu_sgnjx_d(ONE_D | 1ull << 63, 1ull << 63), ONE_D);
	/* Reserved rounding modes never crash; they behave as RNE. */
	assert_int_equal(fpu_add_s(ONE_S, 0x33800000, 5, &fl), ONE_S);
	assert_int_equal(fpu_add_d(ONE_D, 0x3ca0000000000000ull, 6, &fl),
			 ONE_D);
	assert_int_equal(fpu_madd_s(ONE_S, ONE_S, 0x33800000, 7, &fl), ONE_S);
	assert_int_equal(fpu_cvt_w_d(0x4004000000000000ull, 6, &fl), 2);
	assert_int_equal(fl, NX);
}

/* --- host path against software path --------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t rnd_d(void)
{
	uint64_t r = rnd(), s = r & (1ull << 63),
		 m = rnd() & 0xfffffffffffffull;

	switch (r % 8) {
	case 0: return s | (rnd() % 4) << 52 | m; /* subnormal / tiny */
	case 1: return s | (0x7fdull + rnd() % 3) << 52 | m; /* huge */
	case 2: return s | (0x3feull + rnd() % 3) << 52 | m;
	case 3: return s | 0x7ffull << 52 | (rnd() % 3 ? 0 : m);
	case 4: return s | (r >> 1 & 0x7ffull << 52) | (m & ~0xffffffull);
	default: return r;
	}
}

static uint32_t rnd_s(void)
{
	uint64_t d = rnd_d();

	/* Reuse the double shapes: top bits of sign/exponent, low mantissa. */
	return (uint32_t)(d >> 63 << 31) |
	       (uint32_t)((((d >> 52) & 0x7ff) % 0x100) << 23) |
	       (uint32_t)(d & 0x7fffff);
}

static void test_host_vs_soft(void **state)
{
	for (int i = 0; i < 300000; i++) {
		unsigned rm = (unsigned)(rnd() % 4), f1 = 0, f2 = 0;
		enum top op = (enum top)(rnd() % (NMADD_D + 1));
		uint64_t a, b, c, r1, r2;

		if (op <= NMADD_S) {
			a = rnd_s();
			b = rnd_s();
			c = rnd() % 4 ? rnd_s()
				      : (uint32_t)run(MUL_S, rm, a, b, 0, &f1) ^
						0x80000000u;
		} else {
			a = rnd_d();
			b = rnd_d();
			c = rnd() % 4 ? rnd_d()
				      : run(MUL_D, rm, a, b, 0, &f1) ^
						(1ull << 63);
		}
		f1 = 0;
		r1 = run(op, rm, a, b, c, &f1);
		r2 = run(op, rm | FPU_RM_SOFT, a, b, c, &f2);
		if (r1 != r2 || f1 != f2)
			print_error("op %d rm %u %#llx %#llx %#llx: host "
				    "%#llx/%#x soft %#llx/%#x\n",
				    op, rm, (unsigned long long)a,
				    (unsigned long long)b,
				    (unsigned long long)c,
				    (unsigned long long)r1, f1,
				    (unsigned long long)r2, f2);
		assert_int_equal(r1, r2);
		assert_int_equal(f1, f2);
	}
}

#if defined(__x86_64__)
#include <xmmintrin.h>

/* The host's rounding control survives; its flags are left clear. */
static void test_host_state(void **state)
{
	unsigned saved = _mm_getcsr(), fl = 0;

	_mm_setcsr((saved & ~0x6000u) | 0x4000u); /* host rounds up */
	assert_int_equal(fpu_add_d(ONE_D, 0x3ca0000000000000ull, FPU_RNE, &fl),
			 ONE_D);
	assert_int_equal(fpu_div_s(ONE_S, 0x40400000, FPU_RTZ, &fl),
			 0x3eaaaaaa);
	assert_int_equal(fl, NX);
	assert_int_equal(_mm_getcsr() & 0x603fu, 0x4000u);
	_mm_setcsr(saved);
}
#else
static void test_host_state(void **state)
{
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arith),
		cmocka_unit_test(test_convert),
		cmocka_unit_test(test_minmax),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_boxing),
		cmocka_unit_test(test_host_vs_soft),
		cmocka_unit_test(test_host_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
