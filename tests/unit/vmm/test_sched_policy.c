/* Unit tests for src/vmm/sched_policy: water-filling entitlements (worked
 * examples, 1000 random configurations against invariants and a float
 * reference), admission control, and a simulated-time harness (N pCPUs,
 * busy / idle / periodic vCPUs) for fair queuing, limits, reservations,
 * work conservation, co-stop, affinity, starvation and accounting. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/qos.h"
#include "vmm/sched_policy.h"

/* --- Simulated-time harness ------------------------------------------- */

enum wl_mode { WL_IDLE, WL_BUSY, WL_PERIODIC };

struct wl_vcpu {
	enum wl_mode mode;
	uint64_t on_us, off_us; /* WL_PERIODIC */
	bool busy;
	uint64_t next; /* next toggle */
};

/* The simulator's bound on VM ids (the policy has none below
 * SCHED_MAX_VMS). */
#define SIM_MAX_VMS 256

struct sim {
	struct sched_policy p;
	unsigned int n_pcpus;
	uint64_t now;
	int vm_of[SCHED_MAX_PCPUS], vcpu_of[SCHED_MAX_PCPUS];
	uint64_t until[SCHED_MAX_PCPUS];
	struct wl_vcpu wl[SIM_MAX_VMS][SCHED_MAX_VCPUS];
	uint64_t last_off[SIM_MAX_VMS][SCHED_MAX_VCPUS];
	uint64_t max_gap[SIM_MAX_VMS][SCHED_MAX_VCPUS];
	uint64_t max_skew[SIM_MAX_VMS];
	uint64_t runs_on[SIM_MAX_VMS][SCHED_MAX_VCPUS]; /* pCPU bitmask */
};

static struct sim *sim_new(unsigned int n_pcpus, uint64_t mhz,
			   const struct sched_params *prm)
{
	struct sim *s = calloc(1, sizeof(*s));
	struct sched_params def;
	struct error err = { 0 };

	assert_non_null(s);
	sched_default_params(&def, n_pcpus, mhz);
	assert_int_equal(sched_init(&s->p, prm ? prm : &def, &err), 0);
	s->n_pcpus = n_pcpus;
	for (unsigned int i = 0; i < SCHED_MAX_PCPUS; i++)
		s->vm_of[i] = s->vcpu_of[i] = -1;
	return s;
}

/* Admit a VM whose vCPUs all follow mode; returns its id. */
static int sim_vm(struct sim *s, uint32_t n_vcpus, uint32_t shares,
		  uint64_t res, uint64_t limit, enum wl_mode mode)
{
	struct sched_vm_config cfg = {
		.n_vcpus = n_vcpus,
		.shares = shares,
		.reservation_mhz = res,
		.limit_mhz = limit,
	};
	struct error err = { 0 };
	int vm = sched_admit(&s->p, &cfg, s->now, &err);

	if (vm < 0)
		fail_msg("admit: %s", err.msg);
	assert_true(vm < SIM_MAX_VMS);
	for (uint32_t j = 0; j < n_vcpus; j++) {
		s->wl[vm][j].mode = mode;
		s->wl[vm][j].on_us = 7000;
		s->wl[vm][j].off_us = 3000;
	}
	return vm;
}

/* Start the workloads at the current time. */
static void sim_start(struct sim *s)
{
	for (int i = 0; i < (int)s->p.n_vms; i++) {
		if (!s->p.vms[i].used)
			continue;
		for (uint32_t j = 0; j < s->p.vms[i].cfg.n_vcpus; j++) {
			struct wl_vcpu *w = &s->wl[i][j];

			w->busy = w->mode != WL_IDLE;
			w->next = w->mode == WL_PERIODIC ? s->now + w->on_us
							 : UINT64_MAX;
			s->last_off[i][j] = s->now;
			if (w->busy)
				sched_wake(&s->p, i, (int)j, s->now);
		}
	}
}

static void sim_stop_vcpu(struct sim *s, unsigned int pcpu, bool busy)
{
	int vm = s->vm_of[pcpu], vcpu = s->vcpu_of[pcpu];

	sched_put(&s->p, pcpu, s->now, busy);
	s->last_off[vm][vcpu] = s->now;
	s->vm_of[pcpu] = s->vcpu_of[pcpu] = -1;
}

static int pcpu_of(const struct sim *s, int vm, int vcpu)
{
	for (unsigned int i = 0; i < s->n_pcpus; i++)
		if (s->vm_of[i] == vm && s->vcpu_of[i] == vcpu)
			return (int)i;
	return -1;
}

static void sim_toggle(struct sim *s, int vm, int vcpu)
{
	struct wl_vcpu *w = &s->wl[vm][vcpu];
	int pc;

	w->busy = !w->busy;
	w->next += w->busy ? w->on_us : w->off_us;
	if (w->busy) {
		sched_wake(&s->p, vm, vcpu, s->now);
		s->last_off[vm][vcpu] = s->now;
		return;
	}
	pc = pcpu_of(s, vm, vcpu);
	if (pc >= 0)
		sim_stop_vcpu(s, (unsigned int)pc, false);
	else
		sched_block(&s->p, vm, vcpu, s->now);
}

/* Invariants that must hold after every step. */
static void sim_check(struct sim *s)
{
	const struct sched_policy *p = &s->p;

	for (int i = 0; i < (int)p->n_vms; i++) {
		const struct sched_vm *v = &p->vms[i];
		uint64_t committed = 0, lo = UINT64_MAX, hi = 0;

		if (!v->used)
			continue;
		for (unsigned int k = 0; k < s->n_pcpus; k++)
			if (p->pcpus[k].vm == i)
				committed += p->pcpus[k].left;
		if (v->cfg.limit_mhz)
			assert_true(v->win_used + committed <=
				    v->cfg.limit_mhz * p->prm.window_us /
					    p->prm.mhz_per_pcpu);
		for (uint32_t j = 0; j < v->cfg.n_vcpus; j++) {
			const struct sched_vcpu *c = &v->vcpus[j];

			/* The policy's view matches the workload's. */
			assert_int_equal(c->state != SCHED_WAIT,
					 s->wl[i][j].busy);
			if (c->state == SCHED_WAIT)
				continue;
			lo = c->progress < lo ? c->progress : lo;
			hi = c->progress > hi ? c->progress : hi;
		}
		if (hi >= lo && hi - lo > s->max_skew[i])
			s->max_skew[i] = hi - lo;
	}
}

static void sim_run(struct sim *s, uint64_t dur)
{
	uint64_t end = s->now + dur, next;

	for (;;) {
		for (int i = 0; i < (int)s->p.n_vms; i++) {
			if (!s->p.vms[i].used)
				continue;
			for (uint32_t j = 0; j < s->p.vms[i].cfg.n_vcpus; j++)
				if (s->wl[i][j].next <= s->now)
					sim_toggle(s, i, (int)j);
		}
		for (unsigned int k = 0; k < s->n_pcpus; k++)
			if (s->vm_of[k] >= 0 && s->until[k] <= s->now)
				sim_stop_vcpu(s, k, true);
		for (unsigned int k = 0; k < s->n_pcpus; k++) {
			struct sched_decision d;
			uint64_t gap;

			if (s->vm_of[k] >= 0)
				continue;
			assert_int_equal(sched_pick(&s->p, k, s->now, &d), 0);
			if (d.vm < 0) {
				s->until[k] = d.slice_us == SCHED_FOREVER
						      ? UINT64_MAX
						      : s->now + d.slice_us;
				continue;
			}
			assert_true(d.slice_us > 0);
			assert_true(s->wl[d.vm][d.vcpu].busy);
			assert_true(s->p.vms[d.vm].vcpus[d.vcpu].affinity >> k &
				    1);
			s->runs_on[d.vm][d.vcpu] |= 1ull << k;
			gap = s->now - s->last_off[d.vm][d.vcpu];
			if (gap > s->max_gap[d.vm][d.vcpu])
				s->max_gap[d.vm][d.vcpu] = gap;
			s->vm_of[k] = d.vm;
			s->vcpu_of[k] = d.vcpu;
			s->until[k] = s->now + d.slice_us;
		}
		sim_check(s);
		if (s->now >= end)
			break;
		next = end;
		for (unsigned int k = 0; k < s->n_pcpus; k++)
			if (s->until[k] > s->now && s->until[k] < next)
				next = s->until[k];
		for (int i = 0; i < (int)s->p.n_vms; i++) {
			if (!s->p.vms[i].used)
				continue;
			for (uint32_t j = 0; j < s->p.vms[i].cfg.n_vcpus; j++)
				if (s->wl[i][j].next < next)
					next = s->wl[i][j].next;
		}
		assert_true(next > s->now);
		s->now = next;
	}
	sched_advance(&s->p, s->now);
}

/* Percent of one pCPU a VM used over the whole run (VM sum). */
static double vm_used_pct(const struct sim *s, int vm)
{
	struct sched_stats st;
	struct sched_pct pct;

	sched_get_stats(&s->p, vm, -1, &st);
	sched_stats_pct(&st, NULL, s->now, &pct);
	return pct.used;
}

/* Share of the whole host (all pCPUs) a VM used, in percent. */
static double vm_host_pct(const struct sim *s, int vm)
{
	return vm_used_pct(s, vm) / s->n_pcpus;
}

/* Every vCPU's buckets add up to the elapsed time. */
static void check_accounting(const struct sim *s)
{
	for (int i = 0; i < (int)s->p.n_vms; i++) {
		if (!s->p.vms[i].used)
			continue;
		for (uint32_t j = 0; j < s->p.vms[i].cfg.n_vcpus; j++) {
			struct sched_stats st;

			sched_get_stats(&s->p, i, (int)j, &st);
			assert_int_equal(st.used_us + st.ready_us + st.wait_us +
						 st.costop_us,
					 s->now);
			assert_true(st.limited_us <= st.ready_us);
		}
	}
}

/* --- Entitlements ------------------------------------------------------ */

static void ent3(uint64_t cap, const uint32_t *shares, const uint64_t *res,
		 const uint64_t *out)
{
	struct sched_alloc a[3];

	for (int i = 0; i < 3; i++)
		a[i] = (struct sched_alloc){ .shares = shares[i],
					     .reservation_mhz = res[i],
					     .demand_mhz = 24000 };
	sched_entitlements(a, 3, cap);
	for (int i = 0; i < 3; i++)
		assert_int_equal(a[i].entitled_mhz, out[i]);
}

static void test_worked_examples(void **state)
{
	static const uint32_t s123[] = { 1, 2, 3 },
			      s1k[] = { 1000, 2000, 3000 };
	static const uint64_t none[] = { 0, 0, 0 }, r8[] = { 8000, 0, 0 };
	static const uint64_t e1[] = { 4000, 8000, 12000 };
	static const uint64_t e2[] = { 8000, 6400, 9600 };

	ent3(24000, s123, none, e1);
	ent3(24000, s1k, none, e1);
	ent3(24000, s123, r8, e2);
	ent3(24000, s1k, r8, e2);
}

/* The same examples through the policy: 8 pCPUs x 3000 MHz, three busy
 * 8-vCPU VMs; entitlements from measured demand and the measured split. */
static void run_worked(uint64_t res0, const double *want_pct,
		       const uint64_t *want_mhz)
{
	struct sim *s = sim_new(8, 3000, NULL);

	for (int i = 0; i < 3; i++)
		sim_vm(s, 8, 1000 * (uint32_t)(i + 1), i ? 0 : res0, 0,
		       WL_BUSY);
	sim_start(s);
	sim_run(s, 5000000);
	print_message("host split %.3f%% / %.3f%% / %.3f%%\n",
		      vm_host_pct(s, 0), vm_host_pct(s, 1), vm_host_pct(s, 2));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(s->p.vms[i].entitled_mhz, want_mhz[i]);
		if (fabs(vm_host_pct(s, i) - want_pct[i]) > 1.0)
			fail_msg("VM%d used %.2f%%, want %.2f%%", i,
				 vm_host_pct(s, i), want_pct[i]);
	}
	check_accounting(s);
	sched_fini(&s->p);
	free(s);
}

static void test_worked_examples_simulated(void **state)
{
	static const double p1[] = { 100.0 / 6, 200.0 / 6, 300.0 / 6 };
	static const double p2[] = { 100.0 / 3, 100.0 * 6.4 / 24,
				     100.0 * 9.6 / 24 };
	static const uint64_t m1[] = { 4000, 8000, 12000 };
	static const uint64_t m2[] = { 8000, 6400, 9600 };

	run_worked(0, p1, m1);
	run_worked(8000, p2, m2);
}

/* Reference water-filling by bisection in doubles. */
static void ref_waterfill(const struct sched_alloc *a, unsigned int n,
			  double cap, double *out)
{
	double lo[SIM_MAX_VMS], hi[SIM_MAX_VMS], sl = 0, sh = 0;
	double l0 = 0, l1 = 1e12;

	for (unsigned int j = 0; j < n; j++) {
		double c = a[j].limit_mhz ? (double)a[j].limit_mhz : cap;

		hi[j] = fmin(fmin(c, (double)a[j].demand_mhz), cap);
		lo[j] = fmin((double)a[j].reservation_mhz, hi[j]);
		sl += lo[j];
		sh += hi[j];
	}
	if (sh <= cap) {
		memcpy(out, hi, n * sizeof(double));
		return;
	}
	for (int it = 0; it < 200; it++) {
		double m = (l0 + l1) / 2, g = 0;

		for (unsigned int j = 0; j < n; j++)
			g += fmin(fmax(m * a[j].shares, lo[j]), hi[j]);
		if (g < cap)
			l0 = m;
		else
			l1 = m;
	}
	for (unsigned int j = 0; j < n; j++)
		out[j] = fmin(fmax(l1 * a[j].shares, lo[j]), hi[j]);
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % n;
}

/* iters random mixes of min_n .. min_n + span - 1 VMs against the
 * reference and the water-filling's invariants. */
static void random_entitlements(int iters, unsigned int min_n,
				unsigned int span)
{
	for (int iter = 0; iter < iters; iter++) {
		struct sched_alloc a[SIM_MAX_VMS];
		double ref[SIM_MAX_VMS];
		unsigned int n = min_n + (unsigned int)rnd(span);
		uint64_t cap = 10000 + rnd(100000), sum = 0, sum_lo = 0;
		uint64_t sum_hi = 0, reserved = 0;
		double ratio_min = 1e300, ratio_max = 0;

		for (unsigned int j = 0; j < n; j++) {
			a[j] = (struct sched_alloc){
				.shares = 1 + (uint32_t)rnd(8000),
				.demand_mhz = rnd(4) ? rnd(cap) : cap * 2,
			};
			if (!rnd(3) && reserved < cap) {
				a[j].reservation_mhz = rnd((cap - reserved) /
							   2);
				reserved += a[j].reservation_mhz;
			}
			if (!rnd(3))
				a[j].limit_mhz = a[j].reservation_mhz + 1 +
						 rnd(cap / 2);
		}
		sched_entitlements(a, n, cap);
		ref_waterfill(a, n, (double)cap, ref);
		for (unsigned int j = 0; j < n; j++) {
			uint64_t hi = a[j].demand_mhz, lo;

			if (a[j].limit_mhz && a[j].limit_mhz < hi)
				hi = a[j].limit_mhz;
			if (hi > cap)
				hi = cap;
			lo = a[j].reservation_mhz < hi ? a[j].reservation_mhz
						       : hi;
			sum += a[j].entitled_mhz;
			sum_lo += lo;
			sum_hi += hi;
			/* Limits (and demand) never exceeded. */
			assert_true(a[j].entitled_mhz <= hi);
			/* Reservations met (always feasible here). */
			assert_true(a[j].entitled_mhz >= lo);
			/* Matches the reference within rounding. */
			if (fabs((double)a[j].entitled_mhz - ref[j]) > 1.5)
				fail_msg("iter %d VM %u: %llu vs ref %.2f",
					 iter, j,
					 (unsigned long long)a[j].entitled_mhz,
					 ref[j]);
			/* Unconstrained VMs: same MHz per share. */
			if (a[j].entitled_mhz > lo && a[j].entitled_mhz < hi &&
			    a[j].entitled_mhz >= 200) {
				double r = (double)a[j].entitled_mhz /
					   a[j].shares;

				ratio_min = fmin(ratio_min, r);
				ratio_max = fmax(ratio_max, r);
			}
		}
		assert_true(sum_lo <= cap);
		assert_true(sum <= cap);
		/* Work-conserving: all of min(capacity, total wanted) is
		 * handed out, up to one MHz of rounding per VM. */
		assert_true(sum + n >= (sum_hi < cap ? sum_hi : cap));
		if (ratio_max > 0)
			assert_true(ratio_max <= ratio_min * 1.01);
	}
}

static void test_random_entitlements(void **state)
{
	random_entitlements(1000, 1, 16);
}

/* Beyond the water-filling's stack scratch (heap and 128-bit sums); run
 * after the simulations, which draw from the same random sequence. */
static void test_random_entitlements_many(void **state)
{
	random_entitlements(100, QOS_STACK_CLAIMS + 1, 150);
}

static void test_entitlement_edges(void **state)
{
	struct sched_alloc a[2] = {
		{ .shares = 1000, .limit_mhz = 1000, .demand_mhz = 24000 },
		{ .shares = 1000, .demand_mhz = 0 },
	};

	/* Limit holds on an otherwise idle host; idle VM gets nothing. */
	sched_entitlements(a, 2, 24000);
	assert_int_equal(a[0].entitled_mhz, 1000);
	assert_int_equal(a[1].entitled_mhz, 0);
	/* An idle VM's reservation goes to the busy one. */
	a[0].limit_mhz = 0;
	a[1].reservation_mhz = 12000;
	sched_entitlements(a, 2, 24000);
	assert_int_equal(a[0].entitled_mhz, 24000);
	assert_int_equal(a[1].entitled_mhz, 0);
	sched_entitlements(a, 0, 24000);
}

/* --- Admission control and settings ------------------------------------ */

static void test_admission(void **state)
{
	struct sched_policy *p = calloc(1, sizeof(*p));
	struct sched_params prm;
	struct error err = { 0 };
	struct sched_vm_config c = { .n_vcpus = 8, .shares = 8000 };
	uint32_t sh;
	int a, b;

	assert_non_null(p);
	sched_default_params(&prm, 8, 3000);
	assert_int_equal(sched_init(p, &prm, &err), 0);
	c.reservation_mhz = 20000;
	a = sched_admit(p, &c, 0, &err);
	assert_true(a >= 0);
	c.reservation_mhz = 9000;
	assert_int_equal(sched_admit(p, &c, 0, &err), -ENOSPC);
	assert_string_equal(err.msg, "reservation 9000 MHz does not fit: "
				     "24000 MHz capacity, 20000 MHz already "
				     "reserved");
	c.reservation_mhz = 4000;
	b = sched_admit(p, &c, 0, &err);
	assert_true(b >= 0 && b != a);
	/* Raising a running VM's reservation is admission-controlled too. */
	c.reservation_mhz = 5000;
	assert_int_equal(sched_set_qos(p, b, &c, &err), -ENOSPC);
	c.reservation_mhz = 1000;
	assert_int_equal(sched_set_qos(p, b, &c, &err), 0);
	assert_int_equal(p->reserved_mhz, 21000);
	assert_int_equal(sched_remove(p, a), 0);
	c.reservation_mhz = 9000;
	assert_true(sched_admit(p, &c, 0, &err) >= 0);
	/* Nonsense is refused with a reason. */
	c.reservation_mhz = 2000;
	c.limit_mhz = 1000;
	assert_int_equal(sched_admit(p, &c, 0, &err), -EINVAL);
	c = (struct sched_vm_config){ .n_vcpus = 1,
				      .shares = 1000,
				      .reservation_mhz = 3001 };
	assert_int_equal(sched_admit(p, &c, 0, &err), -EINVAL);
	c.reservation_mhz = 0;
	c.shares = 0;
	assert_int_equal(sched_admit(p, &c, 0, &err), -EINVAL);
	c.shares = 1;
	c.n_vcpus = 0;
	assert_int_equal(sched_admit(p, &c, 0, &err), -EINVAL);
	/* Share presets. */
	assert_int_equal(sched_parse_shares("low", 2, &sh, &err), 0);
	assert_int_equal(sh, 1000);
	assert_int_equal(sched_parse_shares("normal", 1, &sh, &err), 0);
	assert_int_equal(sh, 1000);
	assert_int_equal(sched_parse_shares("high", 4, &sh, &err), 0);
	assert_int_equal(sh, 8000);
	assert_int_equal(sched_parse_shares("1234", 4, &sh, &err), 0);
	assert_int_equal(sh, 1234);
	assert_int_equal(sched_parse_shares("0", 4, &sh, &err), -EINVAL);
	assert_int_equal(sched_parse_shares("-5", 4, &sh, &err), -EINVAL);
	assert_int_equal(sched_parse_shares("12x", 4, &sh, &err), -EINVAL);
	/* Bad parameters. */
	sched_fini(p);
	prm.n_pcpus = 0;
	assert_int_equal(sched_init(p, &prm, &err), -EINVAL);
	free(p);
}

/* --- Simulations --------------------------------------------------------- */

/* 1 pCPU, three busy 1-vCPU VMs 1000:2000:3000 over 20 s. */
static void test_three_vm_split(void **state)
{
	struct sim *s = sim_new(1, 3000, NULL);

	for (int i = 0; i < 3; i++)
		sim_vm(s, 1, 1000 * (uint32_t)(i + 1), 0, 0, WL_BUSY);
	sim_start(s);
	sim_run(s, 20000000);
	print_message("split over 20 s: %.3f%% / %.3f%% / %.3f%%\n",
		      vm_used_pct(s, 0), vm_used_pct(s, 1), vm_used_pct(s, 2));
	for (int i = 0; i < 3; i++)
		if (fabs(vm_used_pct(s, i) - 100.0 * (i + 1) / 6) > 1.0)
			fail_msg("VM%d used %.2f%%", i, vm_used_pct(s, i));
	check_accounting(s);
	sched_fini(&s->p);
	free(s);
}

/* A VM limited to 25 % of a pCPU on an otherwise idle host. */
static void test_limit_idle_host(void **state)
{
	struct sim *s = sim_new(2, 3000, NULL);
	struct sched_stats st;

	sim_vm(s, 2, 2000, 0, 750, WL_BUSY);
	sim_start(s);
	sim_run(s, 10000000);
	/* 750 MHz of 6000 = 12.5 % of the host = 25 % of one pCPU. */
	if (fabs(vm_used_pct(s, 0) - 25.0) > 0.5)
		fail_msg("limited VM used %.2f%%", vm_used_pct(s, 0));
	sched_get_stats(&s->p, 0, -1, &st);
	assert_true(st.used_us <= 10000000 / 4);
	assert_true(st.limited_us > 0);
	check_accounting(s);
	sched_fini(&s->p);
	free(s);
}

/* Reservation met against two busy neighbours with more shares. */
static void test_reservation_contention(void **state)
{
	struct sim *s = sim_new(1, 3000, NULL);

	sim_vm(s, 1, 1000, 1500, 0, WL_BUSY);
	sim_vm(s, 1, 2000, 0, 0, WL_BUSY);
	sim_vm(s, 1, 2000, 0, 0, WL_BUSY);
	sim_start(s);
	sim_run(s, 10000000);
	/* Shares alone would give 20 %; the reservation is 50 %. */
	if (fabs(vm_used_pct(s, 0) - 50.0) > 1.0 ||
	    fabs(vm_used_pct(s, 1) - 25.0) > 1.0 ||
	    fabs(vm_used_pct(s, 2) - 25.0) > 1.0)
		fail_msg("split %.2f / %.2f / %.2f", vm_used_pct(s, 0),
			 vm_used_pct(s, 1), vm_used_pct(s, 2));
	sched_fini(&s->p);
	free(s);
}

/* An idle VM's share goes to the busy ones. */
static void test_work_conservation(void **state)
{
	struct sim *s = sim_new(1, 3000, NULL);

	sim_vm(s, 1, 1000, 0, 0, WL_BUSY);
	sim_vm(s, 1, 2000, 0, 0, WL_BUSY);
	sim_vm(s, 1, 3000, 0, 0, WL_IDLE);
	sim_start(s);
	sim_run(s, 6000000);
	if (fabs(vm_used_pct(s, 0) - 100.0 / 3) > 1.0 ||
	    fabs(vm_used_pct(s, 1) - 200.0 / 3) > 1.0 ||
	    vm_used_pct(s, 2) != 0.0)
		fail_msg("split %.2f / %.2f / %.2f", vm_used_pct(s, 0),
			 vm_used_pct(s, 1), vm_used_pct(s, 2));
	assert_int_equal(s->p.vms[0].entitled_mhz, 1000);
	assert_int_equal(s->p.vms[1].entitled_mhz, 2000);
	assert_int_equal(s->p.vms[2].entitled_mhz, 0);
	check_accounting(s);
	sched_fini(&s->p);
	free(s);
}

/* VM0's vCPU1 shares pCPU1 with a heavy VM while vCPU0 has pCPU0 alone:
 * without co-stop vCPU0 runs far ahead; with it the skew stays bounded. */
static uint64_t costop_skew(uint64_t threshold, uint64_t *costop)
{
	struct sched_params prm;
	struct sim *s;
	struct error err = { 0 };
	struct sched_stats st;
	uint64_t skew;

	sched_default_params(&prm, 2, 3000);
	prm.costop_us = threshold;
	s = sim_new(2, 3000, &prm);
	sim_vm(s, 2, 2000, 0, 0, WL_BUSY);
	sim_vm(s, 1, 8000, 0, 0, WL_BUSY);
	assert_int_equal(sched_set_affinity(&s->p, 0, 0, 1, &err), 0);
	assert_int_equal(sched_set_affinity(&s->p, 0, 1, 2, &err), 0);
	assert_int_equal(sched_set_affinity(&s->p, 1, 0, 2, &err), 0);
	sim_start(s);
	sim_run(s, 2000000);
	sched_get_stats(&s->p, 0, 0, &st);
	*costop = st.costop_us;
	skew = s->max_skew[0];
	check_accounting(s);
	sched_fini(&s->p);
	free(s);
	return skew;
}

static void test_costop_bounds_skew(void **state)
{
	struct sched_params prm;
	uint64_t skew, cs;

	sched_default_params(&prm, 2, 3000);
	skew = costop_skew(prm.costop_us, &cs);
	print_message("max skew %llu us, co-stop %llu us of 2 s\n",
		      (unsigned long long)skew, (unsigned long long)cs);
	if (skew > prm.costop_us + prm.quantum_us)
		fail_msg("skew %llu us", (unsigned long long)skew);
	assert_true(cs > 500000); /* vCPU0 waited for its sibling */
	skew = costop_skew(0, &cs);
	print_message("without co-stop: max skew %llu us\n",
		      (unsigned long long)skew);
	assert_true(skew > 500000); /* and without co-stop it would not */
	assert_int_equal(cs, 0);
}

static void test_affinity(void **state)
{
	struct sim *s = sim_new(4, 3000, NULL);
	struct error err = { 0 };

	sim_vm(s, 2, 2000, 0, 0, WL_BUSY);
	sim_vm(s, 3, 3000, 0, 0, WL_PERIODIC);
	sim_vm(s, 1, 1000, 0, 0, WL_BUSY);
	assert_int_equal(sched_set_affinity(&s->p, 0, 0, 0x4, &err), 0);
	assert_int_equal(sched_set_affinity(&s->p, 0, 1, 0x4, &err), 0);
	assert_int_equal(sched_set_affinity(&s->p, 1, 2, 0x3, &err), 0);
	assert_int_equal(sched_set_affinity(&s->p, 2, 0, 0x0, &err), -EINVAL);
	assert_int_equal(sched_set_affinity(&s->p, 2, 0, 0x30, &err), -EINVAL);
	assert_int_equal(sched_set_affinity(&s->p, 2, 1, 0x1, &err), -ENOENT);
	sim_start(s);
	sim_run(s, 2000000);
	/* sim_run asserts every pick against the mask; check coverage. */
	assert_int_equal(s->runs_on[0][0] | s->runs_on[0][1], 0x4);
	assert_true((s->runs_on[1][2] & ~0x3ull) == 0);
	assert_true(s->runs_on[1][2] != 0);
	assert_true(s->runs_on[2][0] != 0);
	check_accounting(s);
	sched_fini(&s->p);
	free(s);
}

/* Low shares against 64x more: still runs every few dozen quanta; a VM
 * waking after a long sleep does not lock the others out. */
static void test_no_starvation(void **state)
{
	struct sim *s = sim_new(1, 3000, NULL);
	uint64_t q = s->p.prm.quantum_us;

	sim_vm(s, 1, SCHED_SHARES_LOW, 0, 0, WL_BUSY);
	sim_vm(s, 1, 32 * SCHED_SHARES_HIGH, 0, 0, WL_BUSY);
	sim_vm(s, 1, 1000, 0, 0, WL_PERIODIC);
	s->wl[2][0].on_us = 1000000;
	s->wl[2][0].off_us = 3000000;
	sim_start(s);
	sim_run(s, 10000000);
	for (int i = 0; i < 3; i++)
		if (s->max_gap[i][0] > 140 * q)
			fail_msg("VM%d waited %llu us", i,
				 (unsigned long long)s->max_gap[i][0]);
	assert_true(vm_used_pct(s, 0) > 0.5);
	check_accounting(s);
	sched_fini(&s->p);
	free(s);
}

/* A reservation close to what its vCPUs can run (3535 of 4000 MHz) next
 * to a boosted neighbour with time to spare: least slack goes first, so
 * both reservations are met (found by the random simulations: served by
 * virtual time alone, the tight one got 3136 of its 3535 MHz). */
static void test_tight_reservation(void **state)
{
	struct sim *s = sim_new(3, 2000, NULL);
	struct sched_stats st;

	sim_vm(s, 3, 4334, 1352, 0, WL_BUSY);
	sim_vm(s, 3, 1055, 0, 0, WL_PERIODIC);
	sim_vm(s, 1, 1171, 0, 0, WL_IDLE);
	sim_vm(s, 2, 1257, 3535, 0, WL_BUSY);
	sim_vm(s, 3, 168, 0, 0, WL_PERIODIC);
	sim_start(s);
	sim_run(s, 2000000);
	check_accounting(s);
	sched_get_stats(&s->p, 3, -1, &st);
	print_message("tight reservation: %llu us of %llu\n",
		      (unsigned long long)st.used_us, 3535ull * 1000);
	assert_true(st.used_us + 2 * s->p.prm.quantum_us >= 3535ull * 1000);
	sched_get_stats(&s->p, 0, -1, &st);
	assert_true(st.used_us + 2 * s->p.prm.quantum_us >= 1352ull * 1000);
	sched_fini(&s->p);
	free(s);
}

/* More VMs than the policy's first table (and than the 64 it once had):
 * 200 busy one-vCPU VMs with equal shares on 2 pCPUs each get 1/200 of the
 * host, a removed VM's id is handed out again, and nobody starves. */
static void test_many_vms(void **state)
{
	struct sim *s = sim_new(2, 3000, NULL);
	struct sched_vm_config c = { .n_vcpus = 1, .shares = 1000 };
	struct error err = { 0 };

	for (int i = 0; i < 200; i++)
		assert_int_equal(sim_vm(s, 1, 1000, 0, 0, WL_BUSY), i);
	assert_int_equal(s->p.n_vms, 200);
	assert_true(s->p.cap_vms >= 200);
	assert_int_equal(sched_remove(&s->p, 70), 0);
	assert_int_equal(sched_admit(&s->p, &c, s->now, &err), 70);
	assert_int_equal(s->p.n_vms, 200);
	sim_start(s);
	sim_run(s, 4000000);
	for (int i = 0; i < 200; i++)
		if (fabs(vm_host_pct(s, i) - 0.5) > 0.25)
			fail_msg("VM%d used %.3f%% of the host, want 0.5%%", i,
				 vm_host_pct(s, i));
	check_accounting(s);
	sched_fini(&s->p);
	free(s);
}

/* Random host / VM / workload mixes: the harness invariants (limits per
 * window, state consistency, affinity), accounting, capacity, and the
 * reservation of always-busy VMs. */
static void test_random_simulations(void **state)
{
	double worst = 0;
	int n_res = 0;

	for (int iter = 0; iter < 60; iter++) {
		unsigned int np = 1 + (unsigned int)rnd(4);
		struct sim *s = sim_new(np, 2000, NULL);
		uint64_t cap = np * 2000, reserved = 0, total = 0;
		int n = 1 + (int)rnd(5);

		for (int i = 0; i < n; i++) {
			uint32_t nv = 1 + (uint32_t)rnd(3);
			uint64_t res = 0, lim = 0;
			enum wl_mode m = (enum wl_mode)rnd(3);

			if (!rnd(3) && m == WL_BUSY) {
				res = rnd(cap - reserved);
				if (res > nv * 2000)
					res = nv * 2000;
				reserved += res;
			}
			if (!rnd(3))
				lim = res + 100 + rnd(cap);
			sim_vm(s, nv, 1 + (uint32_t)rnd(5000), res, lim, m);
		}
		sim_start(s);
		sim_run(s, 2000000);
		check_accounting(s);
		for (int i = 0; i < n; i++) {
			struct sched_stats st;
			const struct sched_vm_config *c = &s->p.vms[i].cfg;

			sched_get_stats(&s->p, i, -1, &st);
			total += st.used_us;
			if (c->limit_mhz)
				assert_true(st.used_us <=
					    c->limit_mhz * 2000000 / 2000);
			if (c->reservation_mhz &&
			    (double)st.used_us - (double)(c->reservation_mhz *
							  1000) <
				    worst)
				worst = (double)st.used_us -
					(double)(c->reservation_mhz * 1000);
			if (c->reservation_mhz)
				n_res++;
			/* Met within a few quanta over 2 s (the last window
			 * is cut short when the run ends). */
			if (c->reservation_mhz &&
			    st.used_us + 4 * s->p.prm.quantum_us <
				    c->reservation_mhz * 2000000 / 2000)
				fail_msg(
					"iter %d VM%d used %llu us, reserved "
					"%llu MHz",
					iter, i, (unsigned long long)st.used_us,
					(unsigned long long)c->reservation_mhz);
		}
		assert_true(total <= np * 2000000ull);
		sched_fini(&s->p);
		free(s);
	}
	print_message("%d reserved VMs, worst shortfall %.0f us\n", n_res,
		      worst);
	assert_true(n_res > 10);
}

/* QoS changed on a running VM takes effect within one window. */
static void test_set_qos_live(void **state)
{
	struct sim *s = sim_new(1, 3000, NULL);
	struct sched_vm_config c = { .n_vcpus = 1,
				     .shares = 1000,
				     .limit_mhz = 1500 };
	struct sched_stats a, b;
	struct sched_pct pct;
	struct error err = { 0 };

	sim_vm(s, 1, 1000, 0, 0, WL_BUSY);
	sim_start(s);
	sim_run(s, 1000000);
	assert_true(vm_used_pct(s, 0) > 99.9);
	assert_int_equal(sched_set_qos(&s->p, 0, &c, &err), 0);
	/* Let the current window (and slice) finish, then measure. */
	sim_run(s, s->p.prm.window_us);
	sched_get_stats(&s->p, 0, -1, &a);
	sim_run(s, 1000000);
	sched_get_stats(&s->p, 0, -1, &b);
	sched_stats_pct(&b, &a, 1000000, &pct);
	assert_true(fabs(pct.used - 50.0) < 0.5);
	assert_true(fabs(pct.limited - 50.0) < 0.5);
	sched_fini(&s->p);
	free(s);
}

/* Hours without a call: windows are skipped, accounting stays exact. */
static void test_long_gap(void **state)
{
	struct sim *s = sim_new(2, 3000, NULL);
	struct sched_decision d;
	struct sched_stats st;
	uint64_t hour = 3600ull * 1000000;

	sim_vm(s, 2, 2000, 0, 0, WL_IDLE);
	sim_start(s);
	sched_advance(&s->p, hour);
	sched_get_stats(&s->p, 0, -1, &st);
	assert_int_equal(st.wait_us, 2 * hour);
	sched_wake(&s->p, 0, 1, hour + 10);
	assert_int_equal(sched_pick(&s->p, 1, hour + 20, &d), 0);
	assert_int_equal(d.vm, 0);
	assert_int_equal(d.vcpu, 1);
	assert_int_equal(sched_pick(&s->p, 1, hour + 30, &d), -EBUSY);
	assert_int_equal(sched_pick(&s->p, 0, hour + 30, &d), 0);
	assert_int_equal(d.vm, -1);
	assert_true(d.slice_us == SCHED_FOREVER);
	/* Time going backwards is ignored, not trusted. */
	sched_put(&s->p, 1, 5, false);
	sched_get_stats(&s->p, 0, 1, &st);
	assert_int_equal(st.used_us, 10);
	assert_int_equal(st.ready_us, 10);
	assert_int_equal(sched_remove(&s->p, 0), 0);
	assert_int_equal(sched_remove(&s->p, 0), -ENOENT);
	sched_fini(&s->p);
	free(s);
}

static void test_stats_pct(void **state)
{
	struct sched_stats a = { 100, 200, 300, 400, 50 };
	struct sched_stats b = { 600, 400, 500, 500, 150 };
	struct sched_pct pct;

	sched_stats_pct(&b, &a, 1000, &pct);
	assert_true(fabs(pct.used - 50.0) < 1e-9);
	assert_true(fabs(pct.ready - 20.0) < 1e-9);
	assert_true(fabs(pct.wait - 20.0) < 1e-9);
	assert_true(fabs(pct.costop - 10.0) < 1e-9);
	assert_true(fabs(pct.limited - 10.0) < 1e-9);
	sched_stats_pct(&b, &a, 0, &pct);
	assert_true(pct.used == 0.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_examples),
		cmocka_unit_test(test_worked_examples_simulated),
		cmocka_unit_test(test_random_entitlements),
		cmocka_unit_test(test_entitlement_edges),
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_three_vm_split),
		cmocka_unit_test(test_limit_idle_host),
		cmocka_unit_test(test_reservation_contention),
		cmocka_unit_test(test_work_conservation),
		cmocka_unit_test(test_costop_bounds_skew),
		cmocka_unit_test(test_affinity),
		cmocka_unit_test(test_no_starvation),
		cmocka_unit_test(test_random_simulations),
		cmocka_unit_test(test_tight_reservation),
		cmocka_unit_test(test_many_vms),
		cmocka_unit_test(test_random_entitlements_many),
		cmocka_unit_test(test_set_qos_live),
		cmocka_unit_test(test_long_gap),
		cmocka_unit_test(test_stats_pct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
