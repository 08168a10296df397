/*
 * Support half of the cpudiff program: configuration, PRNG, hash, input
 * generators biased toward edge values, HTIF console output and the main
 * loop over the op tables (ops_int.c, ops_fp.c).
 *
 * Built with -march=rv64ifd_zicsr (no M, A, C, Zb*) and written without
 * multiplication or division, so the instructions under test appear only
 * in ops_*.c: a broken `mul` or `sh1add` breaks its own line, not the
 * generator behind every line.
 */
#include <stdint.h>

#include "cpudiff.h"

#ifndef CPUDIFF_SEED
#define CPUDIFF_SEED 0x5eed0f50f7515042ULL
#endif
#define CPUDIFF_CFG_MAGIC 0x6669646370757364ULL /* "dspucdif" */

/*
 * Run configuration. cpudiff.py may patch a copy of the ELF here (found by
 * the symbol name), so a different seed, case count or a per-case dump of
 * one op needs no rebuild. Layout is part of that contract: keep it.
 */
struct cpudiff_cfg {
	uint64_t magic;
	uint64_t seed;
	uint64_t cases;
	int64_t dump_op; /* index of the op to dump case by case, or -1 */
};
volatile struct cpudiff_cfg cpudiff_cfg = {
	CPUDIFF_CFG_MAGIC,
	CPUDIFF_SEED,
	2000,
	-1,
};

int cpudiff_main(void);
void cpudiff_unexpected_trap(uint64_t cause, uint64_t epc, uint64_t tval);

/* ---- HTIF console --------------------------------------------------------
 * Softvisor serves the syscall proxy (magic_mem = {SYS_write, fd, buf, len});
 * QEMU 7.2 only the console device's putchar. The first write probes the
 * proxy: Softvisor replaces magic_mem[0] with the byte count. */
extern volatile uint64_t tohost, fromhost;

static volatile uint64_t magic_mem[8] __attribute__((aligned(64)));
static int proxy_state = -1; /* -1 unknown, 0 no, 1 yes */

static void htif_putc(char c)
{
	tohost = (1ULL << 56) | (1ULL << 48) | (uint8_t)c;
	for (uint64_t n = 0; n < 4000000000ULL && !fromhost; n++)
		;
	fromhost = 0;
}

static int htif_proxy_write(const char *buf, uint64_t len)
{
	magic_mem[0] = 64; /* SYS_write */
	magic_mem[1] = 1;
	magic_mem[2] = (uintptr_t)buf;
	magic_mem[3] = len;
	__asm__ volatile("fence" ::: "memory");
	tohost = (uintptr_t)magic_mem;
	for (uint64_t n = 0; n < 4000000000ULL && tohost; n++)
		;
	__asm__ volatile("fence" ::: "memory");
	fromhost = 0;
	return magic_mem[0] == len;
}

static void out(const char *buf, uint64_t len)
{
	if (proxy_state != 0 && len != 64) {
		int ok = htif_proxy_write(buf, len);
		if (proxy_state < 0)
			proxy_state = ok;
		if (ok)
			return;
	}
	for (uint64_t i = 0; i < len; i++)
		htif_putc(buf[i]);
}

/* Line buffer: one HTIF request per line. */
static char line[256];
static unsigned line_len;

static void put_str(const char *s)
{
	while (*s && line_len < sizeof(line))
		line[line_len++] = *s++;
}

static void put_hex(uint64_t v)
{
	for (int sh = 60; sh >= 0; sh -= 4)
		if (line_len < sizeof(line))
			line[line_len++] = "0123456789abcdef"[(v >> sh) & 15];
}

static void put_end(void)
{
	if (line_len < sizeof(line))
		line[line_len++] = '\n';
	out(line, line_len);
	line_len = 0;
}

void cpudiff_unexpected_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
	line_len = 0;
	put_str("cpudiff unexpected trap mcause=");
	put_hex(cause);
	put_str(" mepc=");
	put_hex(epc);
	put_str(" mtval=");
	put_hex(tval);
	put_end();
	tohost = (3 << 1) | 1;
	for (;;)
		;
}

/* ---- PRNG and hash (shifts, xors and adds only) ------------------------- */

static uint64_t rs0, rs1;

/* xorshift128+ */
static uint64_t rnd(void)
{
	uint64_t x = rs0, y = rs1;
	rs0 = y;
	x ^= x << 23;
	rs1 = x ^ y ^ (x >> 17) ^ (y >> 26);
	return rs1 + y;
}

/* Fold v into h: xor, then the xorshift64 bijection plus a constant. A
 * single differing value always changes the final hash. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h ^= h << 13;
	h ^= h >> 7;
	h ^= h << 17;
	return h + 0x9e3779b97f4a7c15ULL;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	while (*s)
		h = mix(h, (uint8_t)*s++);
	return h;
}

static void rng_seed(uint64_t seed, uint64_t stream)
{
	rs0 = seed ^ 0x243f6a8885a308d3ULL;
	rs1 = stream ^ 0x13198a2e03707344ULL;
	if (!rs0 && !rs1)
		rs1 = 1;
	for (int i = 0; i < 32; i++)
		rnd();
}

/* Uniform in [0, n), n >= 1, by rejection (no division). */
static uint64_t below(uint64_t n)
{
	uint64_t mask = 1;
	while (mask < n)
		mask = (mask << 1) | 1;
	for (;;) {
		uint64_t r = rnd() & mask;
		if (r < n)
			return r;
	}
}

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- integer inputs ------------------------------------------------------ */

static const uint64_t int_edges[] = {
	0,
	1,
	2,
	3,
	~0ULL,
	~1ULL,
	0x8000000000000000ULL,
	0x7fffffffffffffffULL,
	0x8000000000000001ULL,
	0x00000000ffffffffULL,
	0x000000007fffffffULL,
	0x0000000080000000ULL,
	0xffffffff80000000ULL,
	0xffffffff7fffffffULL,
	0x0000000100000000ULL,
	0xffffffff00000000ULL,
	0x000000000000ffffULL,
	0x0000000000008000ULL,
	0x00000000000000ffULL,
	0x0000000000000080ULL,
	0x000000000000007fULL,
	0x5555555555555555ULL,
	0xaaaaaaaaaaaaaaaaULL,
	0x0101010101010101ULL,
	0x8080808080808080ULL,
	0x00ff00ff00ff00ffULL,
	0x0123456789abcdefULL,
	0xfedcba9876543210ULL,
	0x0000000000000040ULL,
	0x000000000000003fULL,
	0x000000000000001fULL,
	0x0000000000000020ULL,
};

static uint64_t gen_int(void)
{
	uint64_t k = rnd() & 63;

	switch (rnd() & 15) {
	case 0:
	case 1:
	case 2: return int_edges[below(N_ELEMS(int_edges))];
	case 3: return 1ULL << k;
	case 4:
		switch (rnd() & 3) {
		case 0: return ~(1ULL << k);
		case 1: return (1ULL << k) - 1;
		case 2: return -(1ULL << k);
		default: return (1ULL << k) + 1;
		}
	case 5: return (uint64_t)(int64_t)(int32_t)rnd();
	case 6: return (uint32_t)rnd();
	case 7: /* garbage high word, edge low word (W forms) */
		return (rnd() << 32) |
		       (uint32_t)int_edges[below(N_ELEMS(int_edges))];
	case 8: return (rnd() & 127) - 64;
	case 9: return rnd() & rnd() & rnd();
	case 10: return rnd() | rnd() | rnd();
	case 11: {
		uint64_t v = rnd() >> k;
		return rnd() & 1 ? -v : v;
	}
	default: return rnd();
	}
}

/* Division-style edge pairs: overflow and division by zero. */
static void gen_int_pair(uint64_t *a, uint64_t *b)
{
	static const uint64_t as[] = {
		0x8000000000000000ULL,
		0xffffffff80000000ULL,
		0x1234567880000000ULL,
		0,
		1,
		~0ULL,
		0x7fffffffffffffffULL,
	};
	static const uint64_t bs[] = {
		~0ULL, 0, 0x00000000ffffffffULL, 0xffffffff00000000ULL, 1,
	};
	*a = rnd() & 1 ? as[below(N_ELEMS(as))] : gen_int();
	*b = bs[below(N_ELEMS(bs))];
}

/* ---- floating-point inputs ------------------------------------------------ */

struct fpfmt {
	unsigned ebits, mbits;
};

static const struct fpfmt fmt_s = { 8, 23 }, fmt_d = { 11, 52 };

static uint64_t fp_make(const struct fpfmt *f, uint64_t sign, int64_t exp,
			uint64_t mant)
{
	uint64_t emax = (1ULL << f->ebits) - 1;
	if (exp < 0)
		exp = 0;
	if ((uint64_t)exp > emax)
		exp = (int64_t)emax;
	return (sign & 1) << (f->ebits + f->mbits) | (uint64_t)exp << f->mbits |
	       (mant & ((1ULL << f->mbits) - 1));
}

static int64_t fp_exp(const struct fpfmt *f, uint64_t v)
{
	return (int64_t)((v >> f->mbits) & ((1ULL << f->ebits) - 1));
}

/* A random mantissa: uniform, sparse, dense, or with few top bits. */
static uint64_t gen_mant(const struct fpfmt *f)
{
	uint64_t m = (1ULL << f->mbits) - 1;
	switch (rnd() & 7) {
	case 0: return 0;
	case 1: return m;
	case 2: return rnd() & rnd() & m;
	case 3: return (rnd() | rnd()) & m;
	case 4: return (rnd() & 7) << (f->mbits - 3);
	case 5: return 1 + (rnd() & 3);
	case 6: return m - (rnd() & 3);
	default: return rnd() & m;
	}
}

static uint64_t gen_fp(const struct fpfmt *f)
{
	int64_t emax = (1LL << f->ebits) - 1, bias = emax >> 1;
	uint64_t sign = rnd() & 1, mmask = (1ULL << f->mbits) - 1;
	uint64_t quiet = 1ULL << (f->mbits - 1);

	switch (rnd() & 15) {
	case 0: return fp_make(f, sign, 0, 0);
	case 1: return fp_make(f, sign, emax, 0);
	case 2: /* NaNs: canonical, signalling, with payloads */
		switch (rnd() & 3) {
		case 0: return fp_make(f, sign, emax, quiet);
		case 1: return fp_make(f, sign, emax, 1 + (rnd() & 1));
		case 2:
			return fp_make(f, sign, emax,
				       (rnd() & (quiet - 1)) | 1);
		default: return fp_make(f, sign, emax, quiet | rnd());
		}
	case 3: /* subnormals */
		switch (rnd() & 3) {
		case 0: return fp_make(f, sign, 0, 1);
		case 1: return fp_make(f, sign, 0, mmask);
		default: return fp_make(f, sign, 0, gen_mant(f) | 1);
		}
	case 4: /* around min and max normal */
		return fp_make(f, sign, rnd() & 1 ? 1 : emax - 1, gen_mant(f));
	case 5: /* near one: 0.25 .. 4 with short mantissas */
		return fp_make(f, sign, bias - 2 + (int64_t)below(5),
			       gen_mant(f));
	case 6: { /* integer-conversion boundaries: 2^31, 2^32, 2^63, 2^64 */
		static const int8_t e[] = { 30, 31, 32, 33, 62, 63, 64, 65 };
		int64_t ex = bias + e[below(N_ELEMS(e))];
		if (rnd() & 1)
			return fp_make(f, sign, ex, 0);
		if (rnd() & 1)
			return fp_make(f, sign, ex - 1, mmask);
		return fp_make(f, sign, ex, gen_mant(f));
	}
	case 7: { /* k + 0.5 and other ties for conversions */
		int64_t k = (int64_t)below(f->mbits > 30 ? 30 : f->mbits);
		uint64_t frac = f->mbits - (uint64_t)k; /* fraction bits */
		uint64_t m = (rnd() << frac) & mmask;
		m |= 1ULL << (frac - 1);
		if (rnd() & 1) /* sticky bits below the half */
			m |= rnd() & ((1ULL << (frac - 1)) - 1) & 3;
		return fp_make(f, sign, bias + k, m);
	}
	case 8: /* exponent extremes */
		return fp_make(f, sign,
			       rnd() & 1 ? 1 + (int64_t)below(3)
					 : emax - 1 - (int64_t)below(3),
			       gen_mant(f));
	default:
		return fp_make(f, sign, (int64_t)below((uint64_t)emax + 1),
			       gen_mant(f));
	}
}

/* An operand related to a: equal, negated, a few ulps away, or aligned so
 * that a + b rounds at (or around) a tie. */
static uint64_t gen_fp_near(const struct fpfmt *f, uint64_t a)
{
	int64_t ea = fp_exp(f, a);
	uint64_t sign = rnd() & 1;
	uint64_t top = 1ULL << (f->ebits + f->mbits);

	switch (rnd() & 7) {
	case 0: return a;
	case 1: return a ^ top;
	case 2: return (a ^ (rnd() & 7)) ^ (sign ? top : 0);
	case 3: /* exactly half an ulp of a (tie when added) */
		return fp_make(f, sign, ea - (int64_t)f->mbits - 1, 0);
	case 4: /* just around half an ulp */
		return fp_make(f, sign, ea - (int64_t)f->mbits - 1,
			       rnd() & 1 ? 1 : (1ULL << f->mbits) - 1);
	default:
		return fp_make(f, sign, ea - (int64_t)below(f->mbits + 4) + 1,
			       gen_mant(f));
	}
}

/* An addend near the product a*b (fused multiply-add cancellation). */
static uint64_t gen_fp_addend(const struct fpfmt *f, uint64_t a, uint64_t b)
{
	int64_t bias = (1LL << (f->ebits - 1)) - 1;
	int64_t e = fp_exp(f, a) + fp_exp(f, b) - bias - 2 + (int64_t)below(4);
	if (e >= (1LL << f->ebits) - 1)
		e = (1LL << f->ebits) - 2;
	return fp_make(f, rnd() & 1, e, gen_mant(f));
}

/* NaN-box a binary32 value; now and then leave it improperly boxed (the
 * instruction must then see the canonical NaN). */
static uint64_t box_s(uint64_t v)
{
	if ((rnd() & 31) == 0)
		return (rnd() & 1 ? 0 : rnd() << 32) | v;
	return 0xffffffff00000000ULL | v;
}

/* ---- the main loop ---------------------------------------------------------- */

static uint64_t gen_operand(unsigned kind, unsigned i, const uint64_t *prev,
			    unsigned prev_kind)
{
	const struct fpfmt *f = kind == K_S ? &fmt_s : &fmt_d;
	uint64_t v;

	switch (kind) {
	case K_X:
		if (i > 0 && prev_kind == K_X && (rnd() & 15) == 0)
			return prev[i - 1];
		return gen_int();
	case K_IMM5: return rnd() & 31;
	case K_IMM6: return rnd() & 63;
	case K_S:
	case K_D:
		if (i == 2 && prev_kind == kind && (rnd() & 3) == 0) {
			uint64_t a = prev[0], b = prev[1];
			if (kind == K_S) {
				a = (uint32_t)a;
				b = (uint32_t)b;
			}
			v = gen_fp_addend(f, a, b);
		} else if (i > 0 && prev_kind == kind && (rnd() & 3) == 0) {
			v = prev[i - 1];
			if (kind == K_S)
				v = (uint32_t)v;
			v = gen_fp_near(f, v);
		} else {
			v = gen_fp(f);
		}
		return kind == K_S ? box_s(v) : v;
	default: return 0;
	}
}

static void run_op(const struct cpudiff_op *op, unsigned idx, int dump)
{
	uint64_t h = 0x6a09e667f3bcc908ULL;
	uint64_t cases = cpudiff_cfg.cases;

	rng_seed(cpudiff_cfg.seed, hash_str(op->name));
	for (uint64_t n = 0; n < cases; n++) {
		uint64_t in[3] = { 0, 0, 0 };
		for (unsigned i = 0; i < 3; i++)
			in[i] = gen_operand(op->kind[i], i, in,
					    i ? op->kind[i - 1] : K_NONE);
		if (op->kind[0] == K_X && op->kind[1] == K_X &&
		    (rnd() & 15) == 0)
			gen_int_pair(&in[0], &in[1]);
		if (op->flags & OPF_LOW_WORD_NONZERO)
			while (!(uint32_t)in[0])
				in[0] = gen_int();
		uint64_t rm = 0;
		if (op->flags & OPF_RM_ANY)
			rm = rnd() & 7;
		else if (op->flags & OPF_FP)
			rm = below(5);

		struct cpudiff_res r = op->fn(in[0], in[1], in[2], rm);
		h = mix(h, r.val);
		h = mix(h, r.fflags);
		if (dump) {
			put_str("case ");
			put_hex(n);
			put_str(" ");
			put_hex(in[0]);
			put_str(" ");
			put_hex(in[1]);
			put_str(" ");
			put_hex(in[2]);
			put_str(" rm ");
			put_hex(rm);
			put_str(" -> ");
			put_hex(r.val);
			put_str(" ");
			put_hex(r.fflags);
			put_end();
		}
	}
	put_str(op->name);
	put_str(" ");
	put_hex(h);
	put_end();
	(void)idx;
}

int cpudiff_main(void)
{
	int64_t dump = cpudiff_cfg.dump_op;
	unsigned idx = 0, done = 0;

	if (cpudiff_cfg.magic != CPUDIFF_CFG_MAGIC)
		return 2;
	put_str("cpudiff seed ");
	put_hex(cpudiff_cfg.seed);
	put_str(" cases ");
	put_hex(cpudiff_cfg.cases);
	put_end();
	for (unsigned t = 0; t < 2; t++) {
		const struct cpudiff_op *ops = t ? cpudiff_fp_ops
						 : cpudiff_int_ops;
		unsigned n = t ? cpudiff_n_fp_ops : cpudiff_n_int_ops;
		for (unsigned i = 0; i < n; i++, idx++) {
			if (dump >= 0 && (int64_t)idx != dump)
				continue;
			run_op(&ops[i], idx, dump >= 0);
			done++;
		}
	}
	put_str("cpudiff done ");
	put_hex(done);
	put_end();
	return 0;
}
