/* Unit tests of the block cache's idle trim (src/cpu/block.c): a trim
 * gives the arena back, and an arena that held little more than the idle
 * guest decodes again raises the next trim's threshold, so that an idle
 * guest does not trim, re-decode and re-translate its timers' code every
 * few seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (16ULL << 20)
#include "one_hart.h"

#define MiB (1u << 20)

/* Pretend the hart decoded `used` bytes of blocks (touching the arena's
 * pages), then trim as a long park would. */
static void trim_after(size_t used)
{
	memset(h->bc.arena, 0xa5, used);
	h->bc.used = used;
	bcache_trim(h);
	assert_int_equal(h->bc.used, 0);
}

static size_t resident_kib(void)
{
	unsigned char v[BCACHE_ARENA / 4096];
	size_t n = 0;

	assert_int_equal(mincore(h->bc.arena, BCACHE_ARENA, v), 0);
	for (size_t i = 0; i < sizeof(v); i++)
		n += v[i] & 1;
	return n * 4;
}

static void test_trim_threshold_follows_the_idle_set(void **state)
{
	(void)state;
	assert_int_equal(h->bc.trim_at, BCACHE_TRIM_MIN);
	/* a boot's worth: trimmed, the threshold stays */
	trim_after(3 * MiB);
	assert_int_equal(h->bc.trim_at, BCACHE_TRIM_MIN);
	assert_true(resident_kib() < 64);
	/* then the idle guest's timers decode just over the threshold:
	 * the next trim waits for twice that */
	trim_after(MiB + MiB / 16);
	assert_int_equal(h->bc.trim_at, 2 * (MiB + MiB / 16));
	/* a burst well over it trims and leaves the threshold alone */
	trim_after(5 * MiB);
	assert_int_equal(h->bc.trim_at, 2 * (MiB + MiB / 16));
	/* never above half the arena */
	trim_after(3 * MiB);
	assert_int_equal(h->bc.trim_at, BCACHE_ARENA / 2);
	trim_after(BCACHE_ARENA / 2 + MiB);
	assert_int_equal(h->bc.trim_at, BCACHE_ARENA / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trim_threshold_follows_the_idle_set),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
