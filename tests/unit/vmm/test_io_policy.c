/*
 * Disk shares (vmm/io_policy.h): shares 1:2 under contention get 1/3 and
 * 2/3 of the datastore; no contention, no cap; a disk's own limit still
 * holds and what it leaves goes to the others; idle disks; the demand
 * estimate; the invariants on random inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/io_policy.h"

static struct io_disk_sample busy(uint32_t shares, uint64_t iops, uint64_t kbps)
{
	return (struct io_disk_sample){
		.shares = shares, .iops = iops, .kbps = kbps, .waited = false
	};
}

static void test_shares_1_2(void **state)
{
	/* two disks each doing far more than the datastore's 300 IOPS */
	struct io_disk_sample d[2] = { busy(1000, 5000, 20000),
				       busy(2000, 5000, 20000) };
	struct io_capacity cap = { .iops = 300 };
	struct io_grant g[2];

	(void)state;
	assert_int_equal(io_policy_allocate(d, 2, &cap, g), IO_CONTENDED_IOPS);
	assert_int_equal(g[0].iops, 100);
	assert_int_equal(g[1].iops, 200);
	/* no bandwidth capacity given: bandwidth is not capped */
	assert_int_equal(g[0].kbps, 0);
	assert_int_equal(g[1].kbps, 0);
}

static void test_steady_state(void **state)
{
	/* the next period: each completed exactly its cap and waited on it;
	 * the allocation must stay where it is (no drift, no uncapping) */
	struct io_disk_sample d[2] = { busy(IO_SHARES_LOW, 100, 400),
				       busy(IO_SHARES_NORMAL, 200, 800) };
	struct io_capacity cap = { .iops = 300, .kbps = 1200 };
	struct io_grant g[2];

	(void)state;
	d[0].waited = d[1].waited = true;
	assert_int_equal(io_policy_allocate(d, 2, &cap, g),
			 IO_CONTENDED_IOPS | IO_CONTENDED_KBPS);
	assert_int_equal(g[0].iops, 100);
	assert_int_equal(g[1].iops, 200);
	assert_int_equal(g[0].kbps, 400);
	assert_int_equal(g[1].kbps, 800);
}

static void test_no_contention(void **state)
{
	/* together below the capacity: nobody is capped, whatever shares */
	struct io_disk_sample d[3] = { busy(500, 50, 100), busy(2000, 60, 100),
				       busy(1000, 0, 0) };
	struct io_capacity cap = { .iops = 300, .kbps = 1000 };
	struct io_grant g[3];

	(void)state;
	assert_int_equal(io_policy_allocate(d, 3, &cap, g), 0);
	for (int j = 0; j < 3; j++) {
		assert_int_equal(g[j].iops, 0);
		assert_int_equal(g[j].kbps, 0);
	}
	/* and a capped disk that stopped waiting is uncapped when the sum
	 * fits again */
	d[0].waited = true; /* 50 -> wants 100: 100 + 60 still fits */
	assert_int_equal(io_policy_allocate(d, 3, &cap, g), 0);
	/* a datastore of unknown capacity is never capped */
	struct io_capacity none = { 0 };
	d[0].iops = d[1].iops = 1000000;
	assert_int_equal(io_policy_allocate(d, 3, &none, g), 0);
	assert_int_equal(g[0].iops, 0);
}

static void test_limit_holds(void **state)
{
	/* disk 1 has shares 2:1 but its own limit of 50 IOPS: it gets 50
	 * and the rest goes to disk 0 */
	struct io_disk_sample d[2] = { busy(1000, 5000, 0),
				       busy(2000, 5000, 0) };
	struct io_capacity cap = { .iops = 300 };
	struct io_grant g[2];

	(void)state;
	d[1].limit_iops = 50;
	assert_int_equal(io_policy_allocate(d, 2, &cap, g), IO_CONTENDED_IOPS);
	assert_int_equal(g[1].iops, 50);
	assert_int_equal(g[0].iops, 250);
	/* limits that make the demand fit: no contention */
	d[0].limit_iops = 200;
	assert_int_equal(io_policy_allocate(d, 2, &cap, g), 0);
}

static void test_demand_follows(void **state)
{
	/* a small reader that gets what it wants keeps it; the big one gets
	 * the rest even with lower shares */
	struct io_disk_sample d[2] = { busy(2000, 40, 0), busy(500, 5000, 0) };
	struct io_capacity cap = { .iops = 300 };
	struct io_grant g[2];

	(void)state;
	assert_int_equal(io_policy_allocate(d, 2, &cap, g), IO_CONTENDED_IOPS);
	assert_int_equal(g[0].iops, 40);
	assert_int_equal(g[1].iops, 260);
	/* the estimate: a disk that waited may want more */
	assert_int_equal(io_policy_demand(40, false, 16), 40);
	assert_int_equal(io_policy_demand(40, true, 16), 80);
	assert_int_equal(io_policy_demand(2, true, 16), 18);
	assert_int_equal(io_policy_demand(0, true, 16), 16);
}

static void test_idle_disk(void **state)
{
	/* an idle disk on a contended datastore gets its proportional share
	 * as a cap (never 0, which would mean none) */
	struct io_disk_sample d[3] = { busy(1000, 5000, 0), busy(1000, 5000, 0),
				       busy(1000, 0, 0) };
	struct io_capacity cap = { .iops = 300 };
	struct io_grant g[3];

	(void)state;
	assert_int_equal(io_policy_allocate(d, 3, &cap, g), IO_CONTENDED_IOPS);
	assert_int_equal(g[0].iops, 150);
	assert_int_equal(g[1].iops, 150);
	assert_int_equal(g[2].iops, 100);
	/* shares 0 means normal */
	d[0].shares = 0;
	assert_int_equal(io_policy_allocate(d, 3, &cap, g), IO_CONTENDED_IOPS);
	assert_int_equal(g[0].iops, 150);
}

static void test_random_invariants(void **state)
{
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		struct io_disk_sample d[8];
		struct io_grant g[8];
		struct io_capacity cap = { .iops = 1 + rand_r(&seed) % 10000,
					   .kbps = rand_r(&seed) % 100000 };
		unsigned n = 1 + rand_r(&seed) % 8, r;
		uint64_t sum = 0, sum_demand = 0;

		for (unsigned j = 0; j < n; j++) {
			d[j] = busy(1 + rand_r(&seed) % 5000,
				    rand_r(&seed) % 8000,
				    rand_r(&seed) % 80000);
			d[j].waited = rand_r(&seed) & 1;
			d[j].limit_iops = rand_r(&seed) % 3
						  ? 0
						  : 1 + rand_r(&seed) % 3000;
			uint64_t dem = io_policy_demand(d[j].iops, d[j].waited,
							IO_DEMAND_MIN_IOPS);
			if (d[j].limit_iops && d[j].limit_iops < dem)
				dem = d[j].limit_iops;
			sum_demand += dem;
		}
		r = io_policy_allocate(d, n, &cap, g);
		assert_int_equal(!!(r & IO_CONTENDED_IOPS),
				 sum_demand > cap.iops);
		for (unsigned j = 0; j < n; j++) {
			if (!(r & IO_CONTENDED_IOPS)) {
				assert_int_equal(g[j].iops, 0);
				continue;
			}
			assert_true(g[j].iops >= 1);
			if (d[j].limit_iops)
				assert_true(g[j].iops <= d[j].limit_iops);
			sum += g[j].iops;
		}
		/* caps of busy disks never add up to more than the datastore
		 * (idle ones get their share on top, at most all of it) */
		if (r & IO_CONTENDED_IOPS)
			assert_true(sum <= 2 * cap.iops + n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_1_2),
		cmocka_unit_test(test_steady_state),
		cmocka_unit_test(test_no_contention),
		cmocka_unit_test(test_limit_holds),
		cmocka_unit_test(test_demand_follows),
		cmocka_unit_test(test_idle_disk),
		cmocka_unit_test(test_random_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
