/* Unit tests for I/O limits (src/block/throttle.c): option parsing and
 * checks, and the limits on the real request path (blockdev_readv/writev of
 * a raw image) and the group scheduler, all on a fake clock: time moves
 * only when a request waits, so every figure is exact and no test depends
 * on the host's speed. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "block/throttle.h"

#define IMG_SIZE (16u << 20)
#define MiB	 (1024.0 * 1024.0)

static char img[64];

struct fake_clock {
	uint64_t now;
	unsigned waits;
};

static uint64_t fake_now(void *opaque)
{
	return ((struct fake_clock *)opaque)->now;
}

/* Waiting is jumping to the deadline: one thread, nobody to signal us. */
static void fake_wait_until(void *opaque, pthread_cond_t *cond,
			    pthread_mutex_t *mu, uint64_t deadline_ns)
{
	struct fake_clock *f = opaque;

	(void)cond;
	(void)mu;
	assert_true(deadline_ns != UINT64_MAX);
	if (deadline_ns > f->now)
		f->now = deadline_ns;
	f->waits++;
}

static struct fake_clock fake;
static const struct throttle_clock fake_clock = { fake_now, fake_wait_until,
						  &fake };

static int setup(void **state)
{
	int fd;

	(void)state;
	strcpy(img, "/tmp/sv-test-throttle-XXXXXX");
	fd = mkstemp(img);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	memset(&fake, 0, sizeof(fake));
	fake.now = 1000000000ull; /* not zero: time need not start at 0 */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(img);
	return 0;
}

static struct throttle_config parse(const char *const *kv)
{
	struct throttle_config cfg = { 0 };
	struct error err = { 0 };

	for (; kv[0]; kv += 2)
		assert_int_equal(throttle_config_set(&cfg, kv[0], kv[1], &err),
				 0);
	assert_int_equal(throttle_config_check(&cfg, &err), 0);
	return cfg;
}

static void test_config(void **state)
{
	struct throttle_config cfg = { 0 };
	struct error err = { 0 };

	(void)state;
	assert_false(throttle_config_enabled(&cfg));
	assert_int_equal(
		throttle_config_set(&cfg, "bps-total", "1048576", &err), 0);
	assert_int_equal(
		throttle_config_set(&cfg, "bps-total-max", "4194304", &err), 0);
	assert_int_equal(
		throttle_config_set(&cfg, "bps-total-max-length", "10", &err),
		0);
	assert_int_equal(throttle_config_set(&cfg, "iops-write", "100", &err),
			 0);
	assert_int_equal(throttle_config_set(&cfg, "iops-size", "4096", &err),
			 0);
	assert_int_equal(throttle_config_set(&cfg, "group", "db", &err), 0);
	assert_int_equal(throttle_config_set(&cfg, "shares", "2000", &err), 0);
	assert_true(throttle_config_enabled(&cfg));
	assert_int_equal(cfg.l[THROTTLE_BPS_TOTAL].avg, 1048576);
	assert_int_equal(cfg.l[THROTTLE_BPS_TOTAL].max, 4194304);
	assert_int_equal(cfg.l[THROTTLE_BPS_TOTAL].max_length, 10);
	assert_int_equal(cfg.l[THROTTLE_IOPS_WRITE].avg, 100);
	assert_int_equal(cfg.iops_size, 4096);
	assert_string_equal(cfg.group, "db");
	assert_int_equal(cfg.shares, 2000);
	assert_int_equal(throttle_config_check(&cfg, &err), 0);

	/* Unknown keys and bad values name the option. */
	assert_int_equal(throttle_config_set(&cfg, "bps-totl", "1", &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "throttling.bps-totl"));
	assert_int_equal(throttle_config_set(&cfg, "bps-read", "-1", &err),
			 -EINVAL);
	assert_int_equal(throttle_config_set(&cfg, "bps-read", "12x", &err),
			 -EINVAL);
	assert_int_equal(throttle_config_set(&cfg, "bps-read-maxx", "1", &err),
			 -EINVAL);
	assert_int_equal(throttle_config_set(&cfg, "shares", "0", &err),
			 -EINVAL);
	assert_int_equal(throttle_config_set(&cfg, "group", "a b", &err),
			 -EINVAL);
	assert_int_equal(throttle_config_set(&cfg, "bps-read", NULL, &err),
			 -EINVAL);

	/* QEMU's combination rules. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.l[THROTTLE_BPS_TOTAL].avg = 10;
	cfg.l[THROTTLE_BPS_READ].avg = 10;
	assert_int_equal(throttle_config_check(&cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cannot be combined"));
	memset(&cfg, 0, sizeof(cfg));
	cfg.l[THROTTLE_IOPS_WRITE].max = 10;
	assert_int_equal(throttle_config_check(&cfg, &err), -EINVAL);
	cfg.l[THROTTLE_IOPS_WRITE].avg = 20;
	assert_int_equal(throttle_config_check(&cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "lower"));
	cfg.l[THROTTLE_IOPS_WRITE].avg = 10;
	assert_int_equal(throttle_config_check(&cfg, &err), 0);
	cfg.l[THROTTLE_BPS_READ].avg = 10;
	cfg.l[THROTTLE_BPS_READ].max_length = 5;
	assert_int_equal(throttle_config_check(&cfg, &err), -EINVAL);
	cfg.l[THROTTLE_BPS_READ].max_length = 0;
	cfg.l[THROTTLE_BPS_READ].avg = THROTTLE_VALUE_MAX + 1;
	assert_int_equal(throttle_config_check(&cfg, &err), -EINVAL);
}

static struct blockdev *open_throttled(const char *const *kv)
{
	struct throttle_config cfg = parse(kv);
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, "raw", false, &err);

	assert_non_null(bd);
	assert_int_equal(blockdev_set_throttle(bd, &cfg, &fake_clock, &err), 0);
	return bd;
}

/* n requests of len bytes from offset 0 on; returns fake seconds taken. */
static double run_io(struct blockdev *bd, bool write, unsigned n, size_t len)
{
	static uint8_t buf[1 << 16];
	struct iovec v = { buf, len };
	uint64_t t0 = fake.now;

	assert_true(len <= sizeof(buf));
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = ((uint64_t)i * len) % (IMG_SIZE - len);

		if (write)
			assert_int_equal(blockdev_writev(bd, &v, 1, off), 0);
		else
			assert_int_equal(blockdev_readv(bd, &v, 1, off), 0);
	}
	return (double)(fake.now - t0) / 1e9;
}

/* bps-read: reading 8 MiB at 1 MiB/s takes 8 s less the tenth of a second
 * of slack the bucket holds, less the last request (admitted, then done). */
static void test_bps_read(void **state)
{
	static const char *const kv[] = { "bps-read", "1048576", NULL };
	struct blockdev *bd = open_throttled(kv);
	double t;

	(void)state;
	t = run_io(bd, false, 128, 65536);
	assert_true(t > 7.8 && t < 8.0);
	/* Writes are not limited: no time passes. */
	assert_true(run_io(bd, true, 128, 65536) == 0.0);
	/* The rate holds over a second run (the bucket stays full). */
	t = run_io(bd, false, 64, 65536);
	assert_true(t > 3.9 && t < 4.1);
	blockdev_close(bd);
}

/* iops-write = 100: 500 writes take 5 s less 10 I/Os of slack. */
static void test_iops_write(void **state)
{
	static const char *const kv[] = { "iops-write", "100", NULL };
	struct blockdev *bd = open_throttled(kv);
	double t;

	(void)state;
	t = run_io(bd, true, 500, 4096);
	assert_true(t > 4.85 && t < 4.95);
	assert_true(run_io(bd, false, 500, 4096) == 0.0);
	blockdev_close(bd);
}

/* iops-size: a 64 KiB request counts as 16 I/Os of 4 KiB. */
static void test_iops_size(void **state)
{
	static const char *const kv[] = { "iops-total", "160", "iops-size",
					  "4096", NULL };
	struct blockdev *bd = open_throttled(kv);
	double t;

	(void)state;
	t = run_io(bd, true, 100, 65536); /* 1600 I/Os: 10 s */
	assert_true(t > 9.7 && t < 10.0);
	blockdev_close(bd);
}

/*
 * A burst: bps-total 1 MiB/s, -max 4 MiB/s for 4 s. The bucket holds
 * 16 MiB (filling at 4 - 1 MiB/s while the burst lasts; the burst level
 * keeps it to 4 MiB/s); after that the average rate holds.
 */
static void test_burst(void **state)
{
	static const char *const kv[] = { "bps-total",
					  "1048576",
					  "bps-total-max",
					  "4194304",
					  "bps-total-max-length",
					  "4",
					  NULL };
	struct blockdev *bd = open_throttled(kv);
	double t;

	(void)state;
	/* 12 MiB: burst rate, minus 0.4 MiB of burst slack. */
	t = run_io(bd, true, 192, 65536);
	assert_true(t > 2.7 && t < 3.0);
	/* 16 MiB more. The bucket leaked 2.9 MiB meanwhile and fills at
	 * 4 - 1 MiB/s: about 9.2 MiB more go at the burst rate (2.3 s), the
	 * other 6.8 MiB at the average rate (6.8 s). */
	t = run_io(bd, true, 256, 65536);
	assert_true(t > 8.6 && t < 9.6);
	/* Steady state: the average rate. */
	t = run_io(bd, true, 64, 65536);
	assert_true(t > 3.9 && t < 4.1);
	blockdev_close(bd);
}

/* Without limits (or after removing them) nothing waits. */
static void test_unlimited(void **state)
{
	static const char *const kv[] = { "bps-write", "1000", NULL };
	struct throttle_config none = { 0 };
	struct blockdev *bd = open_throttled(kv);
	struct error err = { 0 };

	(void)state;
	assert_int_equal(blockdev_set_throttle(bd, &none, &fake_clock, &err),
			 0);
	assert_true(run_io(bd, true, 100, 65536) == 0.0);
	assert_int_equal(fake.waits, 0);
	blockdev_close(bd);
}

/* A named group: members share its limits; joining with other limits is
 * refused, joining with none is allowed; the group dies with its last
 * member (a new one may then have other limits). */
/* The datastore cap (throttle_member_set_rate): a private member whose
 * iops-total and bps-total change while it is used; 0 removes a cap; a
 * named group's member is refused. */
static void test_set_rate(void **state)
{
	struct throttle_config none = { 0 }, named = { 0 };
	struct error err = { 0 };
	struct throttle_member *m = throttle_member_new(&none, &fake_clock,
							&err);
	uint64_t t0;

	(void)state;
	assert_non_null(m);
	/* no cap: nothing waits */
	t0 = fake.now;
	for (int i = 0; i < 500; i++)
		throttle_member_io(m, true, 4096);
	assert_true(fake.now == t0);
	/* 100 IOPS: 500 writes take 5 s less 10 I/Os of slack */
	assert_int_equal(throttle_member_set_rate(m, 100, 0), 0);
	t0 = fake.now;
	for (int i = 0; i < 500; i++)
		throttle_member_io(m, i & 1, 4096);
	assert_true(fake.now - t0 > 4850000000ull &&
		    fake.now - t0 < 4950000000ull);
	/* raised to 200 IOPS: the next 500 take half as long */
	assert_int_equal(throttle_member_set_rate(m, 200, 0), 0);
	t0 = fake.now;
	for (int i = 0; i < 500; i++)
		throttle_member_io(m, false, 4096);
	assert_true(fake.now - t0 > 2400000000ull &&
		    fake.now - t0 < 2550000000ull);
	assert_true(throttle_member_waited_ns(m) > 0);
	/* bandwidth: 1 MiB/s for 4 MiB */
	assert_int_equal(throttle_member_set_rate(m, 0, 1048576), 0);
	t0 = fake.now;
	for (int i = 0; i < 64; i++)
		throttle_member_io(m, true, 65536);
	assert_true(fake.now - t0 > 3800000000ull &&
		    fake.now - t0 < 4000000000ull);
	/* uncapped again: free */
	assert_int_equal(throttle_member_set_rate(m, 0, 0), 0);
	t0 = fake.now;
	for (int i = 0; i < 500; i++)
		throttle_member_io(m, true, 65536);
	assert_true(fake.now == t0);
	assert_int_equal(throttle_member_set_rate(m, THROTTLE_VALUE_MAX + 1, 0),
			 -EINVAL);
	throttle_member_free(m);
	strcpy(named.group, "g");
	m = throttle_member_new(&named, &fake_clock, &err);
	assert_non_null(m);
	assert_int_equal(throttle_member_set_rate(m, 10, 0), -EINVAL);
	throttle_member_free(m);
}

static void test_group_membership(void **state)
{
	static const char *const a[] = { "bps-total", "1048576", "group", "g1",
					 NULL };
	static const char *const b[] = { "bps-total", "2097152", "group", "g1",
					 NULL };
	static const char *const c[] = { "group", "g1", NULL };
	struct throttle_config ca = parse(a), cb = parse(b), cc = parse(c);
	struct throttle_member *ma, *mb, *mc;
	struct error err = { 0 };

	(void)state;
	ma = throttle_member_new(&ca, &fake_clock, &err);
	assert_non_null(ma);
	mb = throttle_member_new(&cb, &fake_clock, &err);
	assert_null(mb);
	assert_int_equal(err.code, EEXIST);
	assert_non_null(strstr(err.msg, "g1"));
	mc = throttle_member_new(&cc, &fake_clock, &err);
	assert_non_null(mc);
	assert_ptr_equal(throttle_member_group(ma), throttle_member_group(mc));
	throttle_member_free(ma);
	throttle_member_free(mc);
	mb = throttle_member_new(&cb, &fake_clock, &err);
	assert_non_null(mb);
	throttle_member_free(mb);
}

/* Drive the scheduler of g for secs of fake time: every member in active
 * always has one 64 KiB write queued (queued[] tracks them); bytes[] adds
 * up what each was admitted. */
static void run_group(struct throttle_group *g, struct throttle_waiter *w,
		      bool *queued, const bool *active, double secs,
		      uint64_t *bytes)
{
	uint64_t end = fake.now + (uint64_t)(secs * 1e9);

	for (int i = 0; i < 2; i++)
		if (active[i] && !queued[i]) {
			throttle_sched_enqueue(&w[i]);
			queued[i] = true;
		}
	while (fake.now < end) {
		uint64_t wait;
		struct throttle_waiter *x = throttle_sched_dispatch(g, fake.now,
								    &wait);
		long i;

		if (!x) {
			assert_true(wait > 0);
			fake.now += wait;
			continue;
		}
		assert_true(x->admitted);
		i = x - w;
		bytes[i] += x->bytes;
		queued[i] = false;
		if (active[i]) { /* the guest sends another */
			throttle_sched_enqueue(x);
			queued[i] = true;
		}
	}
}

/*
 * Two disks in a group limited to 1 MiB/s total, shares 1000 and 3000,
 * each always with a 64 KiB write waiting: over 40 s of fake time the
 * group moves 40 MiB (plus the slack), split 1:3. One alone gets the whole
 * limit, and coming back after being idle it gets no catch-up credit.
 */
static void test_group_shares(void **state)
{
	static const char *const a[] = { "bps-total", "1048576", "group", "g2",
					 "shares",    "1000",	 NULL };
	static const char *const b[] = { "group", "g2", "shares", "3000",
					 NULL };
	struct throttle_config ca = parse(a), cb = parse(b);
	struct throttle_member *m[2];
	struct throttle_waiter w[2];
	bool queued[2] = { false, false };
	const bool both[2] = { true, true }, only1[2] = { false, true };
	uint64_t bytes[2] = { 0, 0 };
	struct throttle_group *g;
	struct error err = { 0 };
	double total, ratio;

	(void)state;
	m[0] = throttle_member_new(&ca, &fake_clock, &err);
	m[1] = throttle_member_new(&cb, &fake_clock, &err);
	assert_non_null(m[0]);
	assert_non_null(m[1]);
	g = throttle_member_group(m[0]);
	for (int i = 0; i < 2; i++)
		w[i] = (struct throttle_waiter){ .m = m[i],
						 .is_write = true,
						 .bytes = 65536 };
	run_group(g, w, queued, both, 40, bytes);
	total = (double)(bytes[0] + bytes[1]) / MiB;
	ratio = (double)bytes[1] / (double)bytes[0];
	assert_true(total > 39.9 && total < 40.3);
	assert_true(ratio > 2.9 && ratio < 3.1);

	/* Member 0 idle for 20 s: member 1 gets the whole 1 MiB/s. */
	memset(bytes, 0, sizeof(bytes));
	run_group(g, w, queued, only1, 20, bytes);
	assert_true(bytes[0] <= 65536);
	assert_true((double)bytes[1] / MiB > 19.8 &&
		    (double)bytes[1] / MiB < 20.2);

	/* Back together: 1:3 again from the start, no catch-up. */
	memset(bytes, 0, sizeof(bytes));
	run_group(g, w, queued, both, 8, bytes);
	ratio = (double)bytes[1] / (double)bytes[0];
	assert_true(ratio > 2.6 && ratio < 3.4);

	throttle_member_free(m[0]);
	throttle_member_free(m[1]);
}

struct thr {
	struct throttle_member *m;
	unsigned n;
};

static void *thr_run(void *p)
{
	struct thr *t = p;

	for (unsigned i = 0; i < t->n; i++)
		throttle_member_io(t->m, i & 1, 4096);
	return NULL;
}

/*
 * The blocking path with real threads on the host clock: 4 threads on two
 * members of one group (5000 I/Os per second, 2000 I/Os: about 0.3 s of
 * waiting) all finish, and the members that waited say so. No assertion
 * on time: only that nobody is lost or stuck.
 */
static void test_threads(void **state)
{
	static const char *const a[] = { "iops-total", "5000", "group", "g3",
					 NULL };
	static const char *const b[] = { "group", "g3", "shares", "500", NULL };
	struct throttle_config ca = parse(a), cb = parse(b);
	struct error err = { 0 };
	struct thr t[4];
	pthread_t th[4];

	(void)state;
	t[0].m = t[1].m = throttle_member_new(&ca, NULL, &err);
	t[2].m = t[3].m = throttle_member_new(&cb, NULL, &err);
	assert_non_null(t[0].m);
	assert_non_null(t[2].m);
	for (int i = 0; i < 4; i++) {
		t[i].n = 500;
		assert_int_equal(pthread_create(&th[i], NULL, thr_run, &t[i]),
				 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_true(throttle_member_waited_ns(t[0].m) > 0 ||
		    throttle_member_waited_ns(t[2].m) > 0);
	throttle_member_free(t[0].m);
	throttle_member_free(t[2].m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test_setup_teardown(test_bps_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iops_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_iops_size, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlimited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_set_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_membership, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_group_shares, setup,
						teardown),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
