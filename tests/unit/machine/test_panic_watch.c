/*
 * Guest panic detection (vmm/panic_watch.h) on simulated samples: Linux's
 * panic loop (S-mode, interrupts off, no traps, one page) fires once after
 * the window; anything that takes traps, enables interrupts, runs in
 * M-mode, is parked or wanders over many pages does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "machine/panic_watch.h"

#define SEC 1000000ull

static struct hart_progress spin(uint64_t traps, uint64_t pc)
{
	return (struct hart_progress){
		.traps = traps, .pc = pc, .priv = PRIV_S, .irqs_off = true
	};
}

static const struct hart_progress parked = {
	.traps = 7, .priv = PRIV_S, .irqs_off = false, .parked = true
};

/* Feed one sample a second from t = 1 s to t = secs s; the second at which
 * the watch fired (0: never), and it must fire at most once. */
static bool banner; /* the console showed Linux's panic banner */
static uint64_t ips =
	1000000000; /* instructions a running hart retires a second */

static unsigned int feed(struct panic_watch *w, struct hart_progress *s,
			 unsigned int n, unsigned int secs,
			 void (*step)(struct hart_progress *, unsigned int,
				      unsigned int))
{
	unsigned int fired = 0;

	for (unsigned int t = 1; t <= secs; t++) {
		if (step)
			step(s, n, t);
		for (unsigned int i = 0; i < n; i++)
			if (!s[i].parked)
				s[i].instret += ips;
		if (panic_watch_sample(w, t * SEC, s, n, banner)) {
			assert_int_equal(fired, 0);
			fired = t;
		}
	}
	return fired;
}

static void test_panic_loop_fires_once(void **state)
{
	struct panic_watch w;
	struct hart_progress s[1] = { spin(100, 0xffffffff80001234) };

	(void)state;
	panic_watch_init(&w, 10 * SEC);
	/* stuck from the second sample (t = 2): fires at t = 12 */
	assert_int_equal(feed(&w, s, 1, 60, NULL), 12);
}

static void tick(struct hart_progress *s, unsigned int n, unsigned int t)
{
	(void)n;
	s[0].traps += t % 5 == 0; /* a timer interrupt every 5 s */
}

static void test_traps_are_progress(void **state)
{
	struct panic_watch w;
	struct hart_progress s[1] = { spin(0, 0x80200000) };

	(void)state;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 1, 60, tick), 0);
}

static void test_not_judged(void **state)
{
	struct panic_watch w;
	struct hart_progress s[1];

	(void)state;
	/* interrupts on: a long computation in the kernel, not a panic */
	s[0] = spin(1, 0x80200000);
	s[0].irqs_off = false;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 1, 60, NULL), 0);
	/* M-mode: a bare-metal program or firmware */
	s[0] = spin(1, 0x80000000);
	s[0].priv = PRIV_M;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 1, 60, NULL), 0);
	/* user mode (its interrupts cannot be off) */
	s[0].priv = PRIV_U;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 1, 60, NULL), 0);
	/* parked for good: halted, costs nothing */
	s[0] = parked;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 1, 60, NULL), 0);
}

static void wander(struct hart_progress *s, unsigned int n, unsigned int t)
{
	(void)n;
	s[0].pc = 0x80200000 + (uint64_t)t * 4096;
}

static void test_many_pages_are_progress(void **state)
{
	struct panic_watch w;
	struct hart_progress s[1] = { spin(3, 0) };

	(void)state;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 1, 60, wander), 0);
}

static void test_smp_panic(void **state)
{
	struct panic_watch w;
	struct hart_progress s[4] = { parked, spin(50, 0x80201000), parked,
				      parked };

	(void)state;
	panic_watch_init(&w, 5 * SEC);
	assert_int_equal(feed(&w, s, 4, 30, NULL), 7);
	/* a new boot re-arms it */
	panic_watch_reset(&w);
	assert_int_equal(feed(&w, s, 4, 30, NULL), 7);
}

static void one_wakes(struct hart_progress *s, unsigned int n, unsigned int t)
{
	(void)n;
	if (t == 5)
		s[0].traps++; /* the spinning hart took a trap after all */
}

static void test_any_trap_restarts_the_window(void **state)
{
	struct panic_watch w;
	struct hart_progress s[3] = { spin(50, 0x80201000), parked, parked };

	(void)state;
	panic_watch_init(&w, 5 * SEC);
	/* stuck from t = 2, broken at t = 5, stuck again from t = 6 */
	assert_int_equal(feed(&w, s, 3, 30, one_wakes), 11);
}

static void test_banner_with_interrupts_on(void **state)
{
	/* Linux 6.12's panic loop: interrupts on, timer ticks taken, the pc
	 * in panic() or a handler; only the banner tells */
	struct panic_watch w;
	struct hart_progress s[2] = { spin(0, 0xffffffff80a65186), parked };

	(void)state;
	s[0].irqs_off = false;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 2, 40, tick), 0);
	banner = true;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 2, 40, tick), 12);
	/* but never for code in user mode or all over the kernel */
	s[0].priv = PRIV_U;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 2, 40, tick), 0);
	s[0].priv = PRIV_S;
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 2, 40, wander), 0);
	banner = false;
}

static void test_silent_needs_instructions(void **state)
{
	/* a slow engine: 100 M instructions a second; early boot looks stuck
	 * for 10 s but is not 4 G instructions long, a panic loop is */
	struct panic_watch w;
	struct hart_progress s[1] = { spin(0, 0xffffffff80c21c2e) };

	(void)state;
	ips = 100000000;
	panic_watch_init(&w, 10 * SEC);
	/* stuck from t = 2 (instret then 200 M): 4 G more by t = 45 */
	assert_int_equal(feed(&w, s, 1, 60, NULL), 45);
	/* with the banner the window is enough */
	banner = true;
	s[0] = spin(0, 0xffffffff80c21c2e);
	panic_watch_init(&w, 10 * SEC);
	assert_int_equal(feed(&w, s, 1, 60, NULL), 12);
	banner = false;
	ips = 1000000000;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_panic_loop_fires_once),
		cmocka_unit_test(test_traps_are_progress),
		cmocka_unit_test(test_not_judged),
		cmocka_unit_test(test_many_pages_are_progress),
		cmocka_unit_test(test_smp_panic),
		cmocka_unit_test(test_any_trap_restarts_the_window),
		cmocka_unit_test(test_banner_with_interrupts_on),
		cmocka_unit_test(test_silent_needs_instructions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
