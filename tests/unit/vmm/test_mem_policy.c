/*
 * The memory QoS policy (vmm/mem_policy.h): the seeds' worked example
 * (24 GiB, shares 1:2:3 -> 4/8/12 GiB; an 8 GiB VM never gets more than 8),
 * reservations, limits, the idle memory tax, admission control, and the
 * invariants on random inputs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/mem_policy.h"

#define GIB (1024ull * 1024 * 1024 / MEM_POLICY_PAGE)

static const struct mem_params host24 = { .budget_pages = 24 * GIB,
					  .idle_tax_pct = 75 };

static struct mem_vm_state vm(uint64_t size, uint32_t shares, uint64_t res,
			      uint64_t limit, uint32_t active)
{
	return (struct mem_vm_state){ .cfg = { .size_pages = size,
					       .shares = shares,
					       .reservation_pages = res,
					       .limit_pages = limit },
				      .active_permille = active };
}

static void test_worked_example(void **state)
{
	/* three VMs that all want more than they can get */
	struct mem_vm_state v[3] = { vm(16 * GIB, 1000, 0, 0, 1000),
				     vm(16 * GIB, 2000, 0, 0, 1000),
				     vm(16 * GIB, 3000, 0, 0, 1000) };

	(void)state;
	mem_targets(&host24, v, 3);
	assert_int_equal(v[0].target_pages, 4 * GIB);
	assert_int_equal(v[1].target_pages, 8 * GIB);
	assert_int_equal(v[2].target_pages, 12 * GIB);
}

static void test_size_caps_the_share(void **state)
{
	/* VM 3 was created with 8 GiB: its share says 12, it gets 8, and the
	 * 16 left are split 1:2 */
	struct mem_vm_state v[3] = { vm(16 * GIB, 1000, 0, 0, 1000),
				     vm(16 * GIB, 2000, 0, 0, 1000),
				     vm(8 * GIB, 3000, 0, 0, 1000) };

	(void)state;
	mem_targets(&host24, v, 3);
	assert_int_equal(v[2].target_pages, 8 * GIB);
	assert_int_equal(v[0].target_pages, 16 * GIB / 3);
	assert_int_equal(v[1].target_pages, 32 * GIB / 3);

	/* the same with a limit instead of the size */
	v[2] = vm(16 * GIB, 3000, 0, 8 * GIB, 1000);
	mem_targets(&host24, v, 3);
	assert_int_equal(v[2].target_pages, 8 * GIB);
	/* water-filling rounds down: at most a page per VM is not given */
	assert_true(16 * GIB - (v[0].target_pages + v[1].target_pages) < 2);
}

static void test_reservation(void **state)
{
	/* an 8 GiB reservation on VM 1: 8 / 6.4 / 9.6, as for CPU */
	struct mem_vm_state v[3] = { vm(16 * GIB, 1000, 8 * GIB, 0, 1000),
				     vm(16 * GIB, 2000, 0, 0, 1000),
				     vm(16 * GIB, 3000, 0, 0, 1000) };

	(void)state;
	mem_targets(&host24, v, 3);
	assert_int_equal(v[0].target_pages, 8 * GIB);
	assert_int_equal(v[1].target_pages, 16 * GIB * 2 / 5);
	assert_int_equal(v[2].target_pages, 16 * GIB * 3 / 5);
}

static void test_no_contention_no_tax(void **state)
{
	/* everything fits: idle or not, every VM gets its whole size */
	struct mem_vm_state v[3] = { vm(4 * GIB, 1000, 0, 0, 0),
				     vm(8 * GIB, 1000, 0, 0, 1000),
				     vm(12 * GIB, 500, 0, 0, 300) };

	(void)state;
	mem_targets(&host24, v, 3);
	assert_int_equal(v[0].target_pages, 4 * GIB);
	assert_int_equal(v[1].target_pages, 8 * GIB);
	assert_int_equal(v[2].target_pages, 12 * GIB);
}

static void test_idle_tax(void **state)
{
	/* equal shares, one VM idle: at a 75 % tax its shares count a
	 * quarter, so it gets 1/5 of the budget; at 0 % half */
	struct mem_vm_state v[2] = { vm(24 * GIB, 1000, 0, 0, 0),
				     vm(24 * GIB, 1000, 0, 0, 1000) };
	struct mem_params p = { .budget_pages = 20 * GIB, .idle_tax_pct = 75 };

	(void)state;
	mem_targets(&p, v, 2);
	assert_int_equal(v[0].target_pages, 4 * GIB);
	assert_int_equal(v[1].target_pages, 16 * GIB);

	p.idle_tax_pct = 0;
	mem_targets(&p, v, 2);
	assert_int_equal(v[0].target_pages, 10 * GIB);
	assert_int_equal(v[1].target_pages, 10 * GIB);

	/* half active: weight 1000 * 25 / (12.5 + 50) = 400 against 1000 */
	p.idle_tax_pct = 75;
	v[0].active_permille = 500;
	mem_targets(&p, v, 2);
	assert_int_equal(v[0].target_pages, 20 * GIB * 2 / 7);

	/* a reservation is never taxed away */
	v[0] = vm(24 * GIB, 1000, 6 * GIB, 0, 0);
	mem_targets(&p, v, 2);
	assert_int_equal(v[0].target_pages, 6 * GIB);
	assert_int_equal(v[1].target_pages, 14 * GIB);
}

static void test_huge_shares_keep_ratios(void **state)
{
	/* 20 shares per MiB of a 4 TiB VM is beyond the water-filling's
	 * range: the weights are scaled, their ratio kept */
	struct mem_vm_state v[2] = { vm(16 * GIB, 4000000000u, 0, 0, 1000),
				     vm(16 * GIB, 1000000000u, 0, 0, 1000) };
	struct mem_params p = { .budget_pages = 10 * GIB, .idle_tax_pct = 75 };

	(void)state;
	mem_targets(&p, v, 2);
	assert_int_equal(v[0].target_pages, 8 * GIB);
	assert_int_equal(v[1].target_pages, 2 * GIB);
}

static void test_admission(void **state)
{
	struct mem_vm_config run[2] = {
		{ .size_pages = 16 * GIB,
		  .shares = 1,
		  .reservation_pages = 10 * GIB },
		{ .size_pages = 16 * GIB,
		  .shares = 1,
		  .reservation_pages = 11 * GIB },
	};
	struct mem_vm_config c = { .size_pages = 8 * GIB,
				   .shares = 1,
				   .reservation_pages = 4 * GIB };
	struct error err = { 0 };

	(void)state;
	assert_int_equal(mem_admit(&host24, run, 2, &c, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "4096M does not fit"));
	assert_non_null(strstr(err.msg, "21504M of the host's 24576M"));
	c.reservation_pages = 3 * GIB;
	assert_int_equal(mem_admit(&host24, run, 2, &c, &err), 0);
	c.reservation_pages = 9 * GIB;
	assert_int_equal(mem_admit(&host24, run, 0, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "more than the VM's 8192M"));
	c.reservation_pages = 2 * GIB;
	c.limit_pages = 1 * GIB;
	assert_int_equal(mem_admit(&host24, run, 0, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "below the reservation"));
	c.limit_pages = 0;
	c.shares = 0;
	assert_int_equal(mem_admit(&host24, run, 0, &c, &err), -EINVAL);
}

/* Random VMs: a target is at least the reservation and at most min(size,
 * limit); the targets use the whole budget when the VMs want more than it
 * and never exceed it; more shares (all else equal) never means less. */
static void test_invariants(void **state)
{
	unsigned int seed = 12345;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		struct mem_vm_state v[16];
		struct mem_params p = { .idle_tax_pct = rand_r(&seed) % 100 };
		unsigned int n = 1 + rand_r(&seed) % 16;
		uint64_t want = 0, reserved = 0, sum = 0;

		p.budget_pages = 1 + (uint64_t)rand_r(&seed) % (64 * GIB);
		for (unsigned int j = 0; j < n; j++) {
			uint64_t size = 1 +
					(uint64_t)rand_r(&seed) % (16 * GIB);
			uint64_t res = rand_r(&seed) % 3 ? 0 : size / 4;
			uint64_t lim = rand_r(&seed) % 3 ? 0 : size / 2 + res;

			if (reserved + res > p.budget_pages)
				res = 0;
			reserved += res;
			v[j] = vm(size, 1 + rand_r(&seed) % 20000, res, lim,
				  rand_r(&seed) % 1001);
			want += lim && lim < size ? lim : size;
		}
		mem_targets(&p, v, n);
		for (unsigned int j = 0; j < n; j++) {
			const struct mem_vm_config *c = &v[j].cfg;
			uint64_t cap = c->limit_pages && c->limit_pages <
								 c->size_pages
					       ? c->limit_pages
					       : c->size_pages;

			assert_true(v[j].target_pages >= c->reservation_pages);
			assert_true(v[j].target_pages <= cap);
			sum += v[j].target_pages;
		}
		assert_true(sum <= p.budget_pages);
		if (want >= p.budget_pages)
			assert_true(p.budget_pages - sum < n); /* rounding */
		else
			assert_int_equal(sum, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_example),
		cmocka_unit_test(test_size_caps_the_share),
		cmocka_unit_test(test_reservation),
		cmocka_unit_test(test_no_contention_no_tax),
		cmocka_unit_test(test_idle_tax),
		cmocka_unit_test(test_huge_shares_keep_ratios),
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
