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

static void random_programs(struct jd_side *side, const char *what)
{
	unsigned seeds = env_or("JITDIFF_SEEDS", 400);
	unsigned first = env_or("JITDIFF_SEED", 1);
	char why[160];
	for (unsigned k = 0; k < seeds; k++) {
		unsigned seed = first + k;
		jd_generate(&prog, seed, 40 + seed % 400);
		if (!jd_check(&interp, side, &prog, why, sizeof(why)))
			fail_msg("%sseed %u (%u instructions): %s", what, seed,
				 prog.n, why);
	}
}

static void test_random_programs(void **state)
{
	(void)state;
	random_programs(&jit, "");
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
	random_programs(&side, "repinned: ");
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
		cmocka_unit_test(test_random_programs_repinned),
		cmocka_unit_test(test_hot_registers_pinned),
		cmocka_unit_test(test_access_runs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
