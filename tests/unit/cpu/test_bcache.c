/* Unit tests of the block cache (src/cpu/block.c): blocks whose addresses
 * share a table slot all stay decoded; and the idle trim gives the arena
 * back, and an arena that held little more than the idle guest decodes
 * again raises the next trim's threshold, so that an idle guest does not
 * trim, re-decode and re-translate its timers' code every few seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

/* More one-instruction blocks than the table has slots, so many share
 * one: looking each up again finds it decoded (a direct-mapped table
 * would have dropped it for its neighbour and decoded it again). */
static void test_blocks_sharing_a_slot_stay_decoded(void **state)
{
	(void)state;
	const uint64_t base = RAM_BASE + MiB;
	const uint32_t n = BCACHE_SIZE + BCACHE_SIZE / 4;
	const uint32_t j_self = 0x6f; /* jal x0, 0: ends its block */

	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(gmem_write(mem, base + 4ull * i, &j_self, 4),
				 0);
	struct block **first = calloc(n, sizeof(*first));
	assert_non_null(first);
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < n; i++) {
			h->s.pc = base + 4ull * i;
			h->bc.prev = NULL;
			struct block *b = bcache_lookup_slow(h);
			assert_non_null(b);
			assert_int_equal(b->gpa, base + 4ull * i);
			assert_int_equal(b->n, 1);
			if (pass == 0)
				first[i] = b;
			else
				assert_ptr_equal(b, first[i]);
		}
		assert_int_equal(h->bc.decodes, n);
	}
	assert_int_equal(h->bc.arena_resets, 0);
	free(first);
	bcache_flush(h);
	h->bc.decodes = 0;
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
	/* never above BCACHE_TRIM_MAX */
	trim_after(3 * MiB);
	assert_int_equal(h->bc.trim_at, BCACHE_TRIM_MAX);
	trim_after(BCACHE_TRIM_MAX + MiB);
	assert_int_equal(h->bc.trim_at, BCACHE_TRIM_MAX);
	assert_true(resident_kib() < 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocks_sharing_a_slot_stay_decoded),
		cmocka_unit_test(test_trim_threshold_follows_the_idle_set),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
