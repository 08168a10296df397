/*
 * The translator against the interpreter (tests/diff/jitdiff.h): random
 * programs of every extension (integer, M, A with LR/SC, F/D with random
 * rounding modes, Zba/Zbb/Zbs/Zicond, CSRs, traps, misaligned and
 * page-crossing accesses, accesses straddling the end of RAM, stores into
 * the code being run, FENCE.I, xRET) run under both engines from the same
 * state; every register, CSR and byte of RAM must agree.
 *
 * JITDIFF_SEEDS (default 400) programs; JITDIFF_SEED picks the first seed
 * (to replay a failure: the message names it). The same programs run
 * again on a translator that chooses its pinned registers anew at every
 * sample (SV_JIT_REPIN_SAMPLES=1), so that new pinned sets and the
 * flushes they make fall in the middle of the programs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../diff/jitdiff.h"
#include "cpu/jit/jit.h"

static struct jd_side interp, jit;
static struct jd_prog prog;

static int setup(void **state)
{
	(void)state;
	vclock_init(&jd_clock);
	assert_int_equal(jd_side_init(&interp, false), 0);
	assert_int_equal(jd_side_init(&jit, true), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	jd_side_fini(&interp);
	jd_side_fini(&jit);
	return 0;
}

static unsigned env_or(const char *name, unsigned dflt)
{
	const char *v = getenv(name);
	return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

/* Programs whose last trap was a page fault (load, store, fetch). */
static unsigned page_faulted;

static void random_programs(struct jd_side *side, const char *what, bool paging)
{
	unsigned seeds = env_or("JITDIFF_SEEDS", 400);
	unsigned first = env_or("JITDIFF_SEED", 1);
	char why[160];
	page_faulted = 0;
	for (unsigned k = 0; k < seeds; k++) {
		unsigned seed = first + k;
		jd_generate(&prog, seed, 40 + seed % 400);
		prog.paging = paging;
		prog.hi_perm = seed % 3;
		if (!jd_check(&interp, side, &prog, why, sizeof(why)))
			fail_msg("%sseed %u (%u instructions): %s", what, seed,
				 prog.n, why);
		uint64_t cause = side->h->s.mcause;
		page_faulted += cause == EXC_INSN_PAGE_FAULT ||
				cause == EXC_LOAD_PAGE_FAULT ||
				cause == EXC_STORE_PAGE_FAULT;
	}
}

static void test_random_programs(void **state)
{
	(void)state;
	random_programs(&jit, "", false);
}

/* The same programs in S-mode under Sv39 (jd_map): page faults across
 * the data window's page boundary (its upper page read-only or not
 * mapped in two programs of three) and off random addresses; fetches
 * and computed jumps through the fetch TLB of a paged mode. */
static void test_random_programs_paged(void **state)
{
	(void)state;
	random_programs(&jit, "paged: ", true);
	print_message("%u programs ended on a page fault\n", page_faulted);
	/* the paging is real */
	assert_true(page_faulted >= env_or("JITDIFF_SEEDS", 400) / 10);
}

/* A translator that may choose other pinned registers at every sample. */
static int repinning_side(struct jd_side *side)
{
	setenv("SV_JIT_REPIN_SAMPLES", "1", 1);
	int rc = jd_side_init(side, true);
	unsetenv("SV_JIT_REPIN_SAMPLES");
	return rc;
}

static void test_random_programs_repinned(void **state)
{
	(void)state;
	struct jd_side side;
	assert_int_equal(repinning_side(&side), 0);
	if (!hart_jit_enabled(side.h)) {
		jd_side_fini(&side);
		skip();
	}
	random_programs(&side, "repinned: ", false);
	uint64_t repins = jit_stats(side.h)->repins;
	print_message("%llu new pinned sets\n", (unsigned long long)repins);
	jd_side_fini(&side);
	/* the programs did run on changing sets */
	assert_true(repins >= env_or("JITDIFF_SEEDS", 400) / 4);
}

/* Load (op 0x03) or store (0x23) with funct3 f3 of register r at
 * imm(base). */
static uint32_t access(uint32_t op, uint32_t f3, uint32_t r, int32_t imm,
		       uint32_t base)
{
	return jd_access_like(op | base << 15, f3, imm, r);
}

/* Runs the translator may give one TLB lookup, at the edges: across the
 * data window's page boundary (x1), across the end of RAM (x5 + 1024),
 * an access wider than the first (whose alignment the first's lookup
 * does not check), a load that overwrites the base. */
static void test_access_runs(void **state)
{
	(void)state;
	enum { LD = 0x03, ST = 0x23 };
	static const int32_t runs[][4][4] = {
		/* op, f3, register, offset; all off x1 or x5 below */
		{ { LD, 3, 6, -16 },
		  { LD, 3, 7, -8 },
		  { LD, 3, 8, 0 },
		  { LD, 3, 9, 8 } },
		{ { LD, 0, 6, 1023 },
		  { LD, 3, 7, 1023 },
		  { LD, 3, 8, 1015 },
		  { LD, 2, 9, 1019 } },
		{ { ST, 3, 6, 1008 },
		  { ST, 3, 7, 1016 },
		  { ST, 3, 8, 1024 },
		  { ST, 2, 9, 1020 } },
		{ { ST, 2, 6, -4 },
		  { ST, 1, 7, -2 },
		  { ST, 0, 8, 0 },
		  { ST, 0, 9, 1 } },
		{ { LD, 3, 6, 64 },
		  { LD, 2, 7, 60 },
		  { LD, 1, 8, 58 },
		  { LD, 4, 9, 57 } },
		{ { LD, 3, 6, 8 },
		  { LD, 3, 7, 16 },
		  { LD, 3, 1, 24 },
		  { LD, 3, 8, 32 } },
	};
	char why[160];
	for (unsigned k = 0; k < ARRAY_SIZE(runs); k++)
		for (uint32_t base = 1; base <= 5; base += 4) {
			memset(&prog, 0, sizeof(prog));
			for (unsigned i = 0; i < 4; i++) {
				const int32_t *a = runs[k][i];
				prog.code[prog.n++] = access(
					(uint32_t)a[0], (uint32_t)a[1],
					(uint32_t)a[2], a[3], base);
			}
			for (unsigned r = 6; r < 32; r++)
				prog.x[r] = 0x0123456789abcdefULL * r;
			prog.x[1] = JD_DATA;
			prog.x[2] = JD_CODE;
			prog.x[5] = JD_RAM_BASE + JD_RAM_SIZE - 1024;
			prog.jit_hot = 1;
			prog.budget = 400;
			if (!jd_check(&interp, &jit, &prog, why, sizeof(why)))
				fail_msg("run %u off x%u: %s", k, base, why);
		}
}

static uint32_t add(unsigned rd, unsigned rs1, unsigned rs2)
{
	return rs2 << 20 | rs1 << 15 | rd << 7 | 0x33;
}

/* A loop on registers outside the first pinned set (t3-t6, s2-s5) gets
 * them pinned, and still computes what the interpreter computes. */
static void test_hot_registers_pinned(void **state)
{
	(void)state;
	struct jd_side side;
	assert_int_equal(jd_side_init(&side, true), 0);
	if (!hart_jit_enabled(side.h)) {
		jd_side_fini(&side);
		skip();
	}
	static const uint8_t hot[] = { 28, 29, 30, 31, 18, 19, 20, 21 };
	memset(&prog, 0, sizeof(prog));
	for (unsigned r = 0; r < 4; r++)
		for (unsigned i = 0; i < 8; i++)
			prog.code[prog.n++] = add(hot[i], hot[i],
						  hot[(i + 1) % 8]);
	for (unsigned i = 0; i < 8; i++)
		prog.x[hot[i]] = 0x1234567ULL * (i + 1);
	prog.jit_hot = 1;
	/* ~12 000 countdowns of JIT_POLL_INSNS, 3 000 samples: two periods
	 * that pick the same set, which replaces the first */
	prog.budget = 96u << 20;
	char why[160];
	bool same = jd_check(&interp, &side, &prog, why, sizeof(why));
	uint64_t repins = jit_stats(side.h)->repins;
	uint8_t pin[32];
	unsigned n = jit_pinned(side.h, pin);
	jd_side_fini(&side);
	if (!same)
		fail_msg("%s", why);
	assert_int_equal(repins, 1);
	assert_int_equal(n, 8);
	for (unsigned i = 0; i < 8; i++)
		assert_non_null(memchr(pin, hot[i], n));
}

/* F and D programs (jd_fp_generate): the inline paths and every guard
 * that leaves them (FS not Dirty, frm or rm not RNE, NX clear, NaN,
 * infinite, zero, tiny or overflowing results and operands, bad boxes,
 * conversions out of range). */
static void test_fp_programs(void **state)
{
	(void)state;
	unsigned seeds = env_or("JITDIFF_SEEDS", 400);
	unsigned first = env_or("JITDIFF_SEED", 1);
	char why[160];
	for (unsigned k = 0; k < seeds; k++) {
		unsigned seed = first + k;
		jd_fp_generate(&prog, seed, 20 + seed % 120);
		if (!jd_check(&interp, &jit, &prog, why, sizeof(why)))
			fail_msg("fp seed %u (%u instructions): %s", seed,
				 prog.n, why);
	}
}

/* Every F and D operation the backend translates inline, on values that
 * keep to the inline path, translated without a handler call: with
 * mutations of that code (a wrong opcode, a lost box) the comparison
 * fails. */
static void test_fp_inline(void **state)
{
	(void)state;
	if (!hart_jit_enabled(jit.h))
		skip();
	/* riscv64-linux-gnu-as -march=rv64gc */
	static const uint32_t code[] = {
		0x035a7053, /* fadd.d ft0,fs4,fs5 */
		0x0b6af0d3, /* fsub.d ft1,fs5,fs6 */
		0x137b7153, /* fmul.d ft2,fs6,fs7 */
		0x1b8bf1d3, /* fdiv.d ft3,fs7,fs8 */
		0x5a0cf253, /* fsqrt.d ft4,fs9 */
		0x236a22d3, /* fsgnjx.d ft5,fs4,fs6 */
		0x235a9353, /* fneg.d ft6,fs5 */
		0xb35a73c3, /* fmadd.d ft7,fs4,fs5,fs6 */
		0xe1bd7447, /* fmsub.s fs0,fs10,fs11,ft8 */
		0x01bd74d3, /* fadd.s fs1,fs10,fs11 */
		0x401bf553, /* fcvt.s.d fa0,fs7 */
		0x420d05d3, /* fcvt.d.s fa1,fs10 */
		0xa34a2a53, /* feq.d s4,fs4,fs4 */
		0xa35a19d3, /* flt.d s3,fs4,fs5 */
		0xc20b1953, /* fcvt.w.d s2,fs6,rtz */
		0xd2297653, /* fcvt.d.l fa2,s2 */
		0xe20b8ad3, /* fmv.x.d s5,fs7 */
		0xf20a86d3, /* fmv.d.x fa3,s5 */
		0x0080b707, /* fld fa4,8(ra) */
		0x00e0b827, /* fsd fa4,16(ra) */
		0x238c07d3, /* fmv.d fa5,fs8 */
		0x0040a807, /* flw fa6,4(ra) */
		0x0100a627, /* fsw fa6,12(ra) */
		0xa1bd0b53, /* fle.s s6,fs10,fs11 */
		0xc02e7bd3, /* fcvt.l.s s7,ft8 */
		0xd00978d3, /* fcvt.s.w fa7,s2 */
		0xd2090953, /* fcvt.d.w fs2,s2 */
		0xe00d8c53, /* fmv.x.w s8,fs11 */
		0xf00c09d3, /* fmv.w.x fs3,s8 */
		0xc36a7ecf, /* fnmadd.d ft9,fs4,fs6,fs8 */
		0xe1bd7f4b, /* fnmsub.s ft10,fs10,fs11,ft8 */
		0x19cdffd3, /* fdiv.s ft11,fs11,ft8 */
	};
	memset(&prog, 0, sizeof(prog));
	jd_fp_generate(&prog, 1, 1);
	prog.n = ARRAY_SIZE(code);
	memcpy(prog.code, code, sizeof(code));
	/* sources f20-f28 (doubles, then boxed singles), never written */
	static const uint64_t src[] = {
		0x3ff8000000000000ULL, 0x4002000000000000ULL,
		0xc009000000000001ULL, 0x4202a05f20000000ULL,
		0x3fe6666666666666ULL, 0x4000000000000000ULL,
		0xffffffff3fc00001ULL, 0xffffffff40100003ULL,
		0xffffffffc1200000ULL,
	};
	memcpy(&prog.f[20], src, sizeof(src));
	prog.fs = FS_DIRTY;
	prog.frm = 0;
	prog.fflags = FPU_NX;
	prog.jit_hot = 1;
	prog.budget = 5000;
	uint64_t fallbacks = jit_stats(jit.h)->fallbacks;
	char why[160];
	assert_true(jd_check(&interp, &jit, &prog, why, sizeof(why)));
	/* the loop ran translated, none of it through a handler (the
	 * fused operations only on a host with FMA3) */
	assert_int_equal(jit_stats(jit.h)->fallbacks - fallbacks,
			 __builtin_cpu_supports("fma") ? 0 : 4);
	assert_true(jit.h->s.instret >= prog.budget);
	assert_int_equal(jit.h->s.mcause, 0);
}

/* Run code (n words) from FS = fs, NX set, frm = RNE, f20-f23 = f,
 * translated from the first time, on both engines. */
static void fp_edge(const uint32_t *code, unsigned n, unsigned fs,
		    const uint64_t *f)
{
	memset(&prog, 0, sizeof(prog));
	jd_fp_generate(&prog, 1, 1);
	prog.n = n;
	memcpy(prog.code, code, n * sizeof(*code));
	memcpy(&prog.f[20], f, 4 * sizeof(*f));
	prog.fs = fs;
	prog.frm = 0;
	prog.fflags = FPU_NX;
	prog.jit_hot = 1;
	prog.budget = 300;
	char why[160];
	assert_true(jd_check(&interp, &jit, &prog, why, sizeof(why)));
}

/* Edges of the inline path's guards that random programs hardly reach
 * before the interpreter's handler has set the state they guard:
 * - a product that rounds up to the smallest normal but is tiny after
 *   rounding: RISC-V raises UF, so a normal exponent is not enough;
 * - FS Clean: the handler makes it Dirty;
 * - FS made Dirty by a CSR write that leaves SD clear in the hart: the
 *   handler sets SD. */
static void test_fp_edges(void **state)
{
	(void)state;
	/* the flags each raises (x6, x7), then NX alone again */
	static const uint32_t tiny[] = {
		0x135a7053, /* fmul.d f0, f20, f21 */
		0x0010d373, /* csrrwi x6, fflags, 1 */
		0x117b70d3, /* fmul.s f1, f22, f23 */
		0x0010d3f3, /* csrrwi x7, fflags, 1 */
	};
	static const uint64_t tiny_f[] = {
		0x0010000000000000ULL, /* 2^-1022 */
		0x3fefffffffffffffULL, /* 1 - 2^-53 */
		0xffffffff00800000ULL, /* 2^-126 */
		0xffffffff3f7fffffULL, /* 1 - 2^-24 */
	};
	fp_edge(tiny, 4, FS_DIRTY, tiny_f);
	assert_int_equal(jit.h->s.f[0], 0x0010000000000000ULL);
	assert_int_equal(jit.h->s.f[1], 0xffffffff00800000ULL);
	assert_int_equal(jit.h->s.x[6], FPU_NX | FPU_UF);
	assert_int_equal(jit.h->s.x[7], FPU_NX | FPU_UF);

	static const uint32_t add[] = {
		0x035a7053, /* fadd.d f0, f20, f21 */
		0x234a0153, /* fmv.d f2, f20 */
	};
	static const uint32_t set_dirty_add[] = {
		0x300fa073, /* csrs mstatus, x31 (FS Dirty) */
		0x035a7053, /* fadd.d f0, f20, f21 */
	};
	static const uint64_t normal_f[] = { 0x3ff8000000000000ULL,
					     0x4002000000000001ULL,
					     0x3ff8000000000000ULL,
					     0x3ff8000000000000ULL };
	fp_edge(add, 2, FS_CLEAN, normal_f);
	assert_int_equal(jit.h->s.mstatus & MSTATUS_FS, MSTATUS_FS);
	fp_edge(set_dirty_add, 2, 0, normal_f);
	assert_true(jit.h->s.mstatus & MSTATUS_SD);

	/* A block's later F/D instructions share the guards its earlier
	 * ones tested, but only those: an instruction that tests neither
	 * NX nor Dirty before an inexact add (x6: the flags, then
	 * mstatus, right after it; NX cleared, FS made Clean again) */
	static const uint32_t share_nx[] = {
		0x234a0153, /* fmv.d f2, f20 */
		0x035a7053, /* fadd.d f0, f20, f21 */
		0x00102373, /* frflags x6 */
		0x0010f073, /* csrc fflags, 1 */
	};
	static const uint32_t share_fs[] = {
		0xe20a03d3, /* fmv.x.d x7, f20 */
		0x035a7053, /* fadd.d f0, f20, f21 */
		0x30002373, /* csrr x6, mstatus */
		0x300f1073, /* csrw mstatus, x30 (FS Clean) */
	};
	static const uint64_t inexact_f[] = {
		0x3ff8000000000000ULL, /* 1.5 */
		0x3c90000000000000ULL, /* 2^-54: the sum is inexact */
		0, 0
	};
	fp_edge(share_nx, 4, FS_DIRTY, inexact_f);
	assert_int_equal(jit.h->s.x[6], FPU_NX);
	fp_edge(share_fs, 4, FS_CLEAN, inexact_f);
	assert_int_equal(jit.h->s.x[6] & MSTATUS_FS, MSTATUS_FS);
}

/* The translator really ran: the comparison is not interp vs interp. */
static void test_jit_engaged(void **state)
{
	(void)state;
	if (!hart_jit_enabled(jit.h))
		skip();
	jd_generate(&prog, 7, 200);
	prog.jit_hot = 1;
	char why[160];
	assert_true(jd_check(&interp, &jit, &prog, why, sizeof(why)));
	assert_false(hart_jit_enabled(interp.h));
	/* it ran long enough to translate */
	assert_true(jit.h->s.instret >= prog.budget);
	print_message("instret %llu, pc %#llx\n",
		      (unsigned long long)jit.h->s.instret,
		      (unsigned long long)jit.h->s.pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jit_engaged),
		cmocka_unit_test(test_random_programs),
		cmocka_unit_test(test_random_programs_paged),
		cmocka_unit_test(test_random_programs_repinned),
		cmocka_unit_test(test_hot_registers_pinned),
		cmocka_unit_test(test_access_runs),
		cmocka_unit_test(test_fp_programs),
		cmocka_unit_test(test_fp_inline),
		cmocka_unit_test(test_fp_edges),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
