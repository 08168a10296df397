/*
 * The translator against the interpreter (tests/diff/jitdiff.h): random
 * programs of every extension (integer, M, A with LR/SC, F/D with random
 * rounding modes, Zba/Zbb/Zbs/Zicond, CSRs, traps, misaligned and
 * page-crossing accesses, accesses straddling the end of RAM, stores into
 * the code being run, FENCE.I, xRET) run under both engines from the same
 * state; every register, CSR and byte of RAM must agree.
 *
 * JITDIFF_SEEDS (default 400) programs; JITDIFF_SEED picks the first seed
 * (to replay a failure: the message names it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../diff/jitdiff.h"

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

static void test_random_programs(void **state)
{
	(void)state;
	unsigned seeds = env_or("JITDIFF_SEEDS", 400);
	unsigned first = env_or("JITDIFF_SEED", 1);
	char why[160];
	for (unsigned k = 0; k < seeds; k++) {
		unsigned seed = first + k;
		jd_generate(&prog, seed, 40 + seed % 400);
		if (!jd_check(&interp, &jit, &prog, why, sizeof(why)))
			fail_msg("seed %u (%u instructions): %s", seed, prog.n,
				 why);
	}
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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
