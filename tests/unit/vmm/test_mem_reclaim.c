/*
 * The memory policy loop's decisions (vmm/mem_reclaim.h): measured figures
 * and QoS in, targets and balloon sizes out. No balloon without
 * contention; under contention the lower shares and the idle VM give
 * memory back, never below their reservation nor beyond
 * MEM_BALLOON_MAX_PCT; small changes are not sent; the active estimate
 * prefers the guest's figures and clamps hostile ones.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/mem_reclaim.h"

#define MIB 256ull /* pages */

static struct mem_params budget(uint64_t mib)
{
	return (struct mem_params){ .budget_pages = mib * MIB,
				    .idle_tax_pct = MEM_POLICY_TAX_DEFAULT };
}

/* A VM of size_mib with shares per MiB (as vmdef presets), a balloon,
 * and fresh guest statistics saying used_mib are in use. */
static struct mem_reclaim_vm vm(uint64_t size_mib, uint32_t shares_per_mib,
				uint64_t used_mib)
{
	struct mem_reclaim_vm v = { 0 };

	v.cfg = (struct mem_vm_config){
		.size_pages = size_mib * MIB,
		.shares = (uint32_t)(shares_per_mib * size_mib),
	};
	v.fig = (struct mem_vm_figures){
		.size_pages = size_mib * MIB,
		.private_pages = size_mib * MIB,
		.has_balloon = 1,
		.guest_stats = 1,
		.guest_total_pages = (size_mib - 20) * MIB,
		.guest_avail_pages = (size_mib - 20 - used_mib) * MIB,
		.guest_stats_age_ms = 1000,
	};
	return v;
}

static void test_no_contention_no_balloon(void **state)
{
	struct mem_params p = budget(2048);
	struct mem_reclaim_vm v[2] = { vm(512, 20, 100), vm(512, 5, 100) };

	(void)state;
	mem_reclaim_decide(&p, v, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(v[i].target_pages, 512 * MIB);
		assert_int_equal(v[i].balloon_pages, 0);
		assert_false(v[i].send); /* nothing inflated: nothing to do */
	}
	/* a balloon left inflated (budget raised) is deflated */
	v[1].fig.balloon_target_pages = 300 * MIB;
	mem_reclaim_decide(&p, v, 2);
	assert_int_equal(v[1].balloon_pages, 0);
	assert_true(v[1].send);
	assert_false(v[0].send);
}

/* The system test's case (tests/system/test_mem_qos.py): 640M for two
 * 512M VMs, shares high vs low: the high one keeps all, the low one gets
 * the rest, its balloon capped at 65 % of its memory. */
static void test_lower_shares_are_ballooned(void **state)
{
	struct mem_params p = budget(640);
	struct mem_reclaim_vm v[2] = { vm(512, 20, 60), vm(512, 5, 60) };

	(void)state;
	mem_reclaim_decide(&p, v, 2);
	assert_int_equal(v[0].target_pages, 512 * MIB);
	assert_int_equal(v[1].target_pages, 128 * MIB);
	assert_int_equal(v[0].balloon_pages, 0);
	assert_false(v[0].send);
	assert_int_equal(v[1].balloon_pages,
			 512 * MIB * MEM_BALLOON_MAX_PCT / 100);
	assert_true(v[1].send);
	/* what the balloon's cap leaves is for compression and swap */
	assert_int_equal(v[1].beyond_balloon_pages,
			 384 * MIB - v[1].balloon_pages);
	assert_int_equal(v[0].beyond_balloon_pages, 0);
	/* once the guest took it, the same decision is not sent again */
	v[1].fig.balloon_target_pages = v[1].balloon_pages;
	mem_reclaim_decide(&p, v, 2);
	assert_false(v[1].send);
}

static void test_small_changes_not_sent(void **state)
{
	struct mem_params p = budget(1024 - 64);
	struct mem_reclaim_vm v[2] = { vm(512, 10, 300), vm(512, 10, 300) };

	(void)state;
	mem_reclaim_decide(&p, v, 2);
	uint64_t want = v[0].balloon_pages;
	assert_int_equal(want, 32 * MIB);
	v[0].fig.balloon_target_pages = want - (MEM_RECLAIM_STEP_PAGES - 1);
	mem_reclaim_decide(&p, v, 2);
	assert_false(v[0].send);
	v[0].fig.balloon_target_pages = want - MEM_RECLAIM_STEP_PAGES;
	mem_reclaim_decide(&p, v, 2);
	assert_true(v[0].send);
	assert_int_equal(v[0].balloon_pages, want);
	/* a balloon left under a step by the last decision is deflated,
	 * and so little beyond it is not compressed either */
	struct mem_reclaim_vm w[2] = { vm(512, 20, 60), vm(512, 5, 60) };
	p = budget(640 - 0); /* lo gets 128 MiB, hi all of its 512 */
	w[0].cfg.size_pages += 20;
	w[0].fig.size_pages += 20;
	w[0].fig.balloon_target_pages = 193;
	mem_reclaim_decide(&p, w, 2);
	assert_true(w[0].target_pages < w[0].cfg.size_pages);
	assert_int_equal(w[0].balloon_pages, 0);
	assert_true(w[0].send);
	assert_true(w[0].beyond_balloon_pages < MEM_RECLAIM_STEP_PAGES);
	assert_int_equal(w[0].reclaim_limit_pages, 0);
}

static void test_idle_vm_gives_back_first(void **state)
{
	struct mem_params p = budget(768);
	/* equal shares: the idle one pays the idle tax */
	struct mem_reclaim_vm v[2] = { vm(512, 10, 450), vm(512, 10, 10) };

	(void)state;
	mem_reclaim_decide(&p, v, 2);
	assert_true(v[0].active_permille > 800);
	assert_true(v[1].active_permille < 50);
	assert_true(v[0].target_pages > v[1].target_pages);
	assert_true(v[1].balloon_pages > v[0].balloon_pages);
	assert_int_equal(v[0].target_pages + v[1].target_pages, 768 * MIB);
}

static void test_reservation_and_limit(void **state)
{
	struct mem_params p = budget(640);
	struct mem_reclaim_vm v[2] = { vm(512, 20, 60), vm(512, 5, 60) };

	(void)state;
	/* the low-share VM's 400M reservation is never reclaimed */
	v[1].cfg.reservation_pages = 400 * MIB;
	mem_reclaim_decide(&p, v, 2);
	assert_int_equal(v[1].target_pages, 400 * MIB);
	assert_int_equal(v[1].balloon_pages, 112 * MIB);
	assert_int_equal(v[0].target_pages, 240 * MIB);
	assert_int_equal(v[0].balloon_pages, 272 * MIB);

	/* a limit is enforced by the balloon even with no contention */
	p = budget(4096);
	v[1].cfg.reservation_pages = 0;
	v[1].cfg.limit_pages = 256 * MIB;
	mem_reclaim_decide(&p, v, 2);
	assert_int_equal(v[0].balloon_pages, 0);
	assert_int_equal(v[1].target_pages, 256 * MIB);
	assert_int_equal(v[1].balloon_pages, 256 * MIB);
}

/* The balloon never takes the working set: a guest keeps its active
 * memory plus the headroom, whatever its target says. */
static void test_working_set_is_kept(void **state)
{
	struct mem_params p = budget(640);
	struct mem_reclaim_vm v[2] = { vm(512, 20, 60), vm(512, 5, 300) };

	(void)state;
	mem_reclaim_decide(&p, v, 2);
	assert_true(v[1].target_pages < 364 * MIB);
	/* 512 - 300 active - 64 headroom */
	assert_int_equal(v[1].balloon_pages, 148 * MIB);
	assert_int_equal(v[1].beyond_balloon_pages,
			 512 * MIB - v[1].target_pages - 148 * MIB);
	/* the headroom is 1/8 of a big VM */
	struct mem_reclaim_vm big[2] = { vm(4096, 20, 60), vm(4096, 5, 1000) };
	p = budget(4096 + 1024);
	mem_reclaim_decide(&p, big, 2);
	assert_int_equal(big[1].balloon_pages, (4096 - 1000 - 512) * MIB);
	/* all active: nothing to take */
	v[1] = vm(512, 5, 450);
	p = budget(640);
	mem_reclaim_decide(&p, v, 2);
	assert_int_equal(v[1].balloon_pages, 0);
	assert_false(v[1].send);
}

static void test_without_balloon_nothing_sent(void **state)
{
	struct mem_params p = budget(640);
	struct mem_reclaim_vm v[2] = { vm(512, 20, 60), vm(512, 5, 60) };

	(void)state;
	v[1].fig.has_balloon = 0;
	mem_reclaim_decide(&p, v, 2);
	assert_int_equal(v[1].target_pages, 128 * MIB);
	assert_int_equal(v[1].balloon_pages, 0);
	assert_int_equal(v[1].beyond_balloon_pages, 384 * MIB);
	assert_false(v[1].send);
}

/* What the balloon cannot take goes to compression: the worker's reclaim
 * limit is what the guest may hold outside its balloon; it is lifted when
 * the budget allows, and sent only when it changed enough. */
static void test_reclaim_limit(void **state)
{
	struct mem_params p = budget(640);
	struct mem_reclaim_vm v[2] = { vm(512, 20, 60), vm(512, 5, 60) };

	(void)state;
	v[1].fig.has_balloon = 0;
	mem_reclaim_decide(&p, v, 2);
	assert_int_equal(v[1].reclaim_limit_pages, 128 * MIB);
	assert_true(v[1].send_limit);
	assert_int_equal(v[0].reclaim_limit_pages, 0);
	assert_false(v[0].send_limit);
	/* the worker took it: not sent again, nor a change under 1 MiB */
	v[1].fig.reclaim_limit_pages = 128 * MIB;
	mem_reclaim_decide(&p, v, 2);
	assert_false(v[1].send_limit);
	v[1].fig.reclaim_limit_pages = 128 * MIB + 100;
	mem_reclaim_decide(&p, v, 2);
	assert_false(v[1].send_limit);
	/* a hostile figure beyond the size is corrected */
	v[1].fig.reclaim_limit_pages = ~0ull;
	mem_reclaim_decide(&p, v, 2);
	assert_true(v[1].send_limit);
	assert_int_equal(v[1].reclaim_limit_pages, 128 * MIB);

	/* the budget allows it again: lifted, once */
	v[1].fig.reclaim_limit_pages = 128 * MIB;
	p = budget(2048);
	mem_reclaim_decide(&p, v, 2);
	assert_int_equal(v[1].reclaim_limit_pages, 0);
	assert_true(v[1].send_limit);
	v[1].fig.reclaim_limit_pages = 0;
	mem_reclaim_decide(&p, v, 2);
	assert_false(v[1].send_limit);

	/* with a balloon at its cap: the balloon's part is not compressed
	 * while the guest still inflates it; once it did, the limit is the
	 * target */
	struct mem_reclaim_vm b[2] = { vm(512, 20, 60), vm(512, 5, 60) };
	p = budget(640);
	mem_reclaim_decide(&p, b, 2);
	uint64_t beyond = b[1].beyond_balloon_pages;
	assert_true(beyond > 0);
	assert_int_equal(b[1].reclaim_limit_pages, 512 * MIB - beyond);
	b[1].fig.balloon_actual_pages = b[1].balloon_pages;
	mem_reclaim_decide(&p, b, 2);
	assert_int_equal(b[1].reclaim_limit_pages, b[1].target_pages);
	/* a guest claiming a bigger balloon than asked for gains nothing */
	b[1].fig.balloon_actual_pages = 512 * MIB;
	mem_reclaim_decide(&p, b, 2);
	assert_int_equal(b[1].reclaim_limit_pages, b[1].target_pages);
	/* the balloon alone reaches the target: no limit */
	assert_int_equal(b[0].beyond_balloon_pages, 0);
	assert_int_equal(b[0].reclaim_limit_pages, 0);

	/* a target of a few pages still leaves a limit (0 means none) */
	struct mem_reclaim_vm t[2] = { vm(512, 1000, 60), vm(512, 1, 60) };
	t[1].fig.has_balloon = 0;
	p = budget(16);
	mem_reclaim_decide(&p, t, 2);
	assert_true(t[1].target_pages < MEM_RECLAIM_STEP_PAGES);
	assert_int_equal(t[1].reclaim_limit_pages, MEM_RECLAIM_STEP_PAGES);
	assert_true(t[1].send_limit);
}

static void test_active_estimate(void **state)
{
	struct mem_reclaim_vm v = vm(512, 10, 100);
	struct mem_vm_figures f = v.fig;

	(void)state;
	assert_int_equal(mem_active_estimate(&f), 100 * MIB);
	/* stale statistics: what the host backs and does not share */
	f.guest_stats_age_ms = MEM_GUEST_STATS_MAX_AGE_MS + 1;
	f.private_pages = 300 * MIB;
	f.zero_shared_pages = 50 * MIB;
	assert_int_equal(mem_active_estimate(&f), 250 * MIB);
	/* no statistics at all, more shared than private (a racy read) */
	f.guest_stats = 0;
	f.zero_shared_pages = 400 * MIB;
	assert_int_equal(mem_active_estimate(&f), 0);
	/* hostile figures are clamped or ignored */
	f = v.fig;
	f.guest_avail_pages = f.guest_total_pages + 1;
	f.private_pages = UINT64_MAX;
	assert_int_equal(mem_active_estimate(&f), 512 * MIB);
	f = v.fig;
	f.guest_total_pages = UINT64_MAX;
	f.guest_avail_pages = 0;
	assert_int_equal(mem_active_estimate(&f), 512 * MIB);
}

/* A worker that says its VM is bigger than configured changes nothing:
 * the policy uses the configured size. */
static void test_worker_size_ignored(void **state)
{
	struct mem_params p = budget(640);
	struct mem_reclaim_vm v[2] = { vm(512, 20, 60), vm(512, 5, 60) };

	(void)state;
	v[1].fig.size_pages = 1ull << 40;
	v[1].fig.guest_total_pages = 1ull << 40;
	v[1].fig.guest_avail_pages = 0;
	mem_reclaim_decide(&p, v, 2);
	assert_int_equal(v[1].active_pages, 512 * MIB);
	assert_int_equal(v[1].active_permille, 1000);
	assert_true(v[1].balloon_pages <= 512 * MIB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_contention_no_balloon),
		cmocka_unit_test(test_lower_shares_are_ballooned),
		cmocka_unit_test(test_small_changes_not_sent),
		cmocka_unit_test(test_idle_vm_gives_back_first),
		cmocka_unit_test(test_reservation_and_limit),
		cmocka_unit_test(test_working_set_is_kept),
		cmocka_unit_test(test_without_balloon_nothing_sent),
		cmocka_unit_test(test_reclaim_limit),
		cmocka_unit_test(test_active_estimate),
		cmocka_unit_test(test_worker_size_ignored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
