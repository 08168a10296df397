/*
 * Host reference semantics of the RV64 M, Zba, Zbb and Zbs instructions,
 * written straight from the unprivileged spec (M: chapter 7 "M Standard
 * Extension"; B: "Bit-manipulation ISA-extensions" 1.0.0). Operands are the
 * 64-bit register values; results are what lands in rd (W forms
 * sign-extended). Plain static inline functions with no state: any thread,
 * any caller (the differential test, and the hart's handlers if they like).
 */
#ifndef SV_TESTS_DIFF_REF_INT_H
#define SV_TESTS_DIFF_REF_INT_H

#include <stdint.h>

static inline uint64_t ref_sext32(uint64_t x)
{
	return (uint64_t)(int64_t)(int32_t)(uint32_t)x;
}

/* --- M (spec 7.1, 7.2; division table 7.1) --- */

static inline uint64_t ref_mul(uint64_t a, uint64_t b)
{
	return a * b;
}

static inline uint64_t ref_mulh(uint64_t a, uint64_t b)
{
	return (uint64_t)(((__int128)(int64_t)a * (int64_t)b) >> 64);
}

/* mulhsu: rs1 signed times rs2 unsigned, high half. */
static inline uint64_t ref_mulhsu(uint64_t a, uint64_t b)
{
	return (uint64_t)(((__int128)(int64_t)a * (unsigned __int128)b) >> 64);
}

static inline uint64_t ref_mulhu(uint64_t a, uint64_t b)
{
	return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

/* Division by zero gives all ones; INT64_MIN / -1 overflows to INT64_MIN. */
static inline uint64_t ref_div(uint64_t a, uint64_t b)
{
	if (b == 0)
		return ~0ull;
	if (a == 1ull << 63 && b == ~0ull)
		return a;
	return (uint64_t)((int64_t)a / (int64_t)b);
}

static inline uint64_t ref_divu(uint64_t a, uint64_t b)
{
	return b ? a / b : ~0ull;
}

/* Remainder by zero is the dividend; of the overflow case, zero. */
static inline uint64_t ref_rem(uint64_t a, uint64_t b)
{
	if (b == 0)
		return a;
	if (a == 1ull << 63 && b == ~0ull)
		return 0;
	return (uint64_t)((int64_t)a % (int64_t)b);
}

static inline uint64_t ref_remu(uint64_t a, uint64_t b)
{
	return b ? a % b : a;
}

static inline uint64_t ref_mulw(uint64_t a, uint64_t b)
{
	return ref_sext32((uint32_t)a * (uint32_t)b);
}

static inline uint64_t ref_divw(uint64_t a, uint64_t b)
{
	int32_t x = (int32_t)a, y = (int32_t)b;

	if (y == 0)
		return ~0ull;
	if (x == INT32_MIN && y == -1)
		return ref_sext32((uint32_t)x);
	return ref_sext32((uint32_t)(x / y));
}

static inline uint64_t ref_divuw(uint64_t a, uint64_t b)
{
	uint32_t x = (uint32_t)a, y = (uint32_t)b;

	return y ? ref_sext32(x / y) : ~0ull;
}

static inline uint64_t ref_remw(uint64_t a, uint64_t b)
{
	int32_t x = (int32_t)a, y = (int32_t)b;

	if (y == 0)
		return ref_sext32((uint32_t)x);
	if (x == INT32_MIN && y == -1)
		return 0;
	return ref_sext32((uint32_t)(x % y));
}

static inline uint64_t ref_remuw(uint64_t a, uint64_t b)
{
	uint32_t x = (uint32_t)a, y = (uint32_t)b;

	return ref_sext32(y ? x % y : x);
}

/* --- Zba --- */

static inline uint64_t ref_add_uw(uint64_t a, uint64_t b)
{
	return b + (uint32_t)a;
}

/* shNadd: rs2 + (rs1 << n), n = 1..3. */
static inline uint64_t ref_shadd(uint64_t a, uint64_t b, unsigned n)
{
	return b + (a << n);
}

/* shNadd.uw: rs2 + (zext32(rs1) << n). */
static inline uint64_t ref_shadd_uw(uint64_t a, uint64_t b, unsigned n)
{
	return b + ((uint64_t)(uint32_t)a << n);
}

static inline uint64_t ref_slli_uw(uint64_t a, unsigned shamt)
{
	return (uint64_t)(uint32_t)a << (shamt & 63);
}

/* --- Zbb --- */

static inline uint64_t ref_andn(uint64_t a, uint64_t b)
{
	return a & ~b;
}

static inline uint64_t ref_orn(uint64_t a, uint64_t b)
{
	return a | ~b;
}

static inline uint64_t ref_xnor(uint64_t a, uint64_t b)
{
	return ~(a ^ b);
}

static inline uint64_t ref_clz(uint64_t a)
{
	return a ? (uint64_t)__builtin_clzll(a) : 64;
}

static inline uint64_t ref_clzw(uint64_t a)
{
	return (uint32_t)a ? (uint64_t)__builtin_clz((uint32_t)a) : 32;
}

static inline uint64_t ref_ctz(uint64_t a)
{
	return a ? (uint64_t)__builtin_ctzll(a) : 64;
}

static inline uint64_t ref_ctzw(uint64_t a)
{
	return (uint32_t)a ? (uint64_t)__builtin_ctz((uint32_t)a) : 32;
}

static inline uint64_t ref_cpop(uint64_t a)
{
	return (uint64_t)__builtin_popcountll(a);
}

static inline uint64_t ref_cpopw(uint64_t a)
{
	return (uint64_t)__builtin_popcount((uint32_t)a);
}

static inline uint64_t ref_max(uint64_t a, uint64_t b)
{
	return (int64_t)a < (int64_t)b ? b : a;
}

static inline uint64_t ref_maxu(uint64_t a, uint64_t b)
{
	return a < b ? b : a;
}

static inline uint64_t ref_min(uint64_t a, uint64_t b)
{
	return (int64_t)a < (int64_t)b ? a : b;
}

static inline uint64_t ref_minu(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t ref_sext_b(uint64_t a)
{
	return (uint64_t)(int64_t)(int8_t)(uint8_t)a;
}

static inline uint64_t ref_sext_h(uint64_t a)
{
	return (uint64_t)(int64_t)(int16_t)(uint16_t)a;
}

static inline uint64_t ref_zext_h(uint64_t a)
{
	return (uint16_t)a;
}

static inline uint64_t ref_rol(uint64_t a, uint64_t b)
{
	unsigned s = b & 63;

	return s ? (a << s) | (a >> (64 - s)) : a;
}

static inline uint64_t ref_ror(uint64_t a, uint64_t b)
{
	unsigned s = b & 63;

	return s ? (a >> s) | (a << (64 - s)) : a;
}

static inline uint64_t ref_rolw(uint64_t a, uint64_t b)
{
	uint32_t x = (uint32_t)a;
	unsigned s = b & 31;

	return ref_sext32(s ? (x << s) | (x >> (32 - s)) : x);
}

/* rorw, and roriw with the immediate as b. */
static inline uint64_t ref_rorw(uint64_t a, uint64_t b)
{
	uint32_t x = (uint32_t)a;
	unsigned s = b & 31;

	return ref_sext32(s ? (x >> s) | (x << (32 - s)) : x);
}

/* orc.b: each byte becomes 0xff if it was nonzero, else 0x00. */
static inline uint64_t ref_orc_b(uint64_t a)
{
	uint64_t r = 0;

	for (int i = 0; i < 64; i += 8)
		if ((a >> i) & 0xff)
			r |= 0xffull << i;
	return r;
}

static inline uint64_t ref_rev8(uint64_t a)
{
	return __builtin_bswap64(a);
}

/* --- Zbs (index is rs2 or the immediate, taken mod 64) --- */

static inline uint64_t ref_bclr(uint64_t a, uint64_t b)
{
	return a & ~(1ull << (b & 63));
}

static inline uint64_t ref_bext(uint64_t a, uint64_t b)
{
	return (a >> (b & 63)) & 1;
}

static inline uint64_t ref_binv(uint64_t a, uint64_t b)
{
	return a ^ (1ull << (b & 63));
}

static inline uint64_t ref_bset(uint64_t a, uint64_t b)
{
	return a | (1ull << (b & 63));
}

#endif
