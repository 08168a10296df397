/*
 * Unit tests of the scheduler mechanism (src/vmm/sched.c) with real harts on
 * real threads. Each vCPU thread loops like the board's hart thread:
 *
 *     enter; r = hart_run(h, huge); leave(r != WFI); if WFI: park
 *
 * Busy vCPUs run `j .` in M-mode (only the timer thread's preemption ends
 * hart_run); idle vCPUs run `wfi; j .-4` with mie.MTIE set, and the test
 * thread plays the ACLINT: after each wake-up it moves mtimecmp PERIOD
 * into the future (a 100 Hz guest tick).
 *
 * These tests assert on what the scheduler decides, never on how fast the
 * host is: the machine is shared and may be 4x slower at times (a host that
 * delays a thread shortens or stretches its slices, but cannot change which
 * vCPU the policy picks). So they check ratios of the scheduler's own
 * accounting between vCPUs, orders and counts, with margins that hold under
 * that slowdown; latencies and per-slice figures are in bench/sched.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpu/hart.h"
#include "mem/gmem.h"
#include "util/clock.h"
#include "util/vclock.h"
#include "vmm/sched.h"

#define RAM_BASE   0x80000000ULL
#define RAM_SIZE   (1ULL << 20)
#define MHZ	   1000u
#define PERIOD_TK  (VCLOCK_HZ / 100) /* idle vCPU timer: 10 ms */
#define MAX_SAMPLE 4096

static const uint32_t prog_busy[] = { 0x0000006f }; /* j . */
static const uint32_t prog_idle[] = {
	0x08000293, /* addi t0, x0, 0x80 */
	0x30429073, /* csrw mie, t0 (MTIE; mstatus.MIE stays 0) */
	0x10500073, /* wfi */
	0xffdff06f, /* j .-4 */
};

struct vcpu_thr {
	struct vmk_sched_vm *vm;
	unsigned idx;
	bool idle;
	struct gmem *mem;
	struct vclock clk;
	struct hart *h;
	pthread_t t;
	_Atomic bool done;
	uint64_t instret; /* at the end */
	uint64_t cpu_ns;  /* thread CPU time, at the end */
	uint64_t wall_ns; /* thread lifetime */
	/* idle: wake latency (deadline -> running); busy: run lengths and
	 * gaps between runs, in us */
	unsigned n_lat, n_run, n_gap;
	uint64_t lat[MAX_SAMPLE], run[MAX_SAMPLE], gap[MAX_SAMPLE];
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void *vcpu_main(void *arg)
{
	struct vcpu_thr *v = arg;
	uint64_t t0 = clock_monotonic_ns(), left = 0;
	uint64_t wake_at = 0; /* host ns of the deadline that woke us */

	for (;;) {
		if (!vmk_sched_enter(v->vm, v->idx, v->h))
			break;
		uint64_t in = clock_monotonic_ns();
		if (wake_at && v->n_lat < MAX_SAMPLE)
			v->lat[v->n_lat++] = in > wake_at
						     ? (in - wake_at) / 1000
						     : 0;
		wake_at = 0;
		if (left && v->n_gap < MAX_SAMPLE)
			v->gap[v->n_gap++] = (in - left) / 1000;
		/* the guest's timer handler, run once it holds a pCPU:
		 * arm the next tick */
		if (v->idle && vclock_now(&v->clk) >= hart_get_mtimecmp(v->h))
			hart_set_mtimecmp(v->h,
					  vclock_now(&v->clk) + PERIOD_TK);
		enum hart_run_result r = hart_run(v->h, 1ULL << 40);
		left = clock_monotonic_ns();
		if (!v->idle && v->n_run < MAX_SAMPLE)
			v->run[v->n_run++] = (left - in) / 1000;
		vmk_sched_leave(v->vm, v->idx, r != HART_RUN_WFI);
		if (r == HART_RUN_WFI) {
			left = 0;
			uint64_t dl = hart_get_mtimecmp(v->h);
			hart_park(v->h, UINT64_MAX);
			if (vclock_now(&v->clk) >= dl)
				wake_at = vclock_host_ns_at(&v->clk, dl);
		}
	}
	v->instret = hart_instret(v->h);
	v->cpu_ns = thread_cpu_ns();
	v->wall_ns = clock_monotonic_ns() - t0;
	atomic_store(&v->done, true);
	return NULL;
}

static struct vcpu_thr *vcpu_new(struct vmk_sched_vm *vm, unsigned idx,
				 bool idle)
{
	struct vcpu_thr *v = calloc(1, sizeof(*v));
	const uint32_t *p = idle ? prog_idle : prog_busy;
	size_t n = idle ? sizeof(prog_idle) : sizeof(prog_busy);

	assert_non_null(v);
	v->vm = vm;
	v->idx = idx;
	v->idle = idle;
	vclock_init(&v->clk);
	v->mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(v->mem);
	assert_int_equal(gmem_write(v->mem, RAM_BASE, p, n), 0);
	struct hart_config cfg = { .hartid = idx,
				   .mem = v->mem,
				   .clock = &v->clk };
	v->h = hart_create(&cfg, NULL);
	assert_non_null(v->h);
	hart_reset(v->h, RAM_BASE, PRIV_M);
	hart_set_mtimecmp(v->h, PERIOD_TK);
	return v;
}

static void vcpu_start(struct vcpu_thr *v)
{
	assert_int_equal(pthread_create(&v->t, NULL, vcpu_main, v), 0);
}

/* Join within 20 s (a hang is a failure, not a stuck test). */
static void vcpu_join(struct vcpu_thr *v)
{
	for (int i = 0; i < 2000 && !atomic_load(&v->done); i++)
		usleep(10000);
	assert_true(atomic_load(&v->done));
	pthread_join(v->t, NULL);
}

static void vcpu_free(struct vcpu_thr *v)
{
	hart_destroy(v->h);
	gmem_destroy(v->mem);
	free(v);
}

static struct vmk_sched *sched_new(uint32_t n_pcpus)
{
	struct sched_params prm;
	struct vmk_sched *s;
	struct error err;

	sched_default_params(&prm, n_pcpus, MHZ);
	assert_int_equal(vmk_sched_create(&prm, &s, &err), 0);
	return s;
}

static struct vmk_sched_vm *vm_new(struct vmk_sched *s, uint32_t n_vcpus,
				   uint32_t shares, uint64_t res, uint64_t lim)
{
	struct sched_vm_config cfg = { n_vcpus, shares, res, lim };
	struct vmk_sched_vm *vm;
	struct error err;

	if (vmk_sched_vm_add(s, &cfg, &vm, &err))
		fail_msg("vm_add: %s", err.msg);
	return vm;
}

static uint64_t vm_used(struct vmk_sched *s, struct vmk_sched_vm *vm)
{
	struct sched_stats st;
	assert_int_equal(vmk_sched_vm_stats(s, vmk_sched_vm_id(vm), -1, &st),
			 0);
	return st.used_us;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pctile(uint64_t *a, unsigned n, unsigned p)
{
	if (!n)
		return 0;
	qsort(a, n, sizeof(*a), cmp_u64);
	return a[(uint64_t)(n - 1) * p / 100];
}

static void stop_vm(struct vmk_sched_vm *vm, struct vcpu_thr **v, unsigned n)
{
	vmk_sched_vm_shutdown(vm);
	for (unsigned i = 0; i < n; i++)
		vcpu_join(v[i]);
	vmk_sched_vm_remove(vm);
	for (unsigned i = 0; i < n; i++)
		vcpu_free(v[i]);
}

/* ---- tests ----------------------------------------------------------------- */

/* Three busy VMs, shares 1000:2000:3000 on one pCPU for 2 s: pCPU time
 * (the scheduler's accounting and its sampler) splits 1/6 : 2/6 : 3/6 and
 * the entitlements are exactly that. Guest instructions are printed, not
 * checked: they follow the host's CPU, not the split alone. */
static void test_shares_split(void **state)
{
	(void)state;
	struct vmk_sched *s = sched_new(1);
	struct vmk_sched_vm *vm[3];
	struct vcpu_thr *v[3];
	const uint32_t shares[3] = { 1000, 2000, 3000 };
	uint64_t used[3], used_sum = 0, ins_sum = 0;

	for (int i = 0; i < 3; i++) {
		vm[i] = vm_new(s, 1, shares[i], 0, 0);
		v[i] = vcpu_new(vm[i], 0, false);
	}
	for (int i = 0; i < 3; i++)
		vcpu_start(v[i]);
	usleep(200000);
	vmk_sched_sample(s);
	usleep(1800000);
	vmk_sched_sample(s);
	struct sched_pct pct[3];
	double pct_sum = 0;
	for (int i = 0; i < 3; i++) {
		used[i] = vm_used(s, vm[i]);
		used_sum += used[i];
		assert_int_equal(vmk_sched_vm_pct(s, vmk_sched_vm_id(vm[i]), -1,
						  &pct[i]),
				 0);
		pct_sum += pct[i].used;
	}
	for (int i = 0; i < 3; i++) {
		uint64_t ent, dem;
		double want = (i + 1) / 6.0;

		assert_int_equal(
			vmk_sched_vm_mhz(s, vmk_sched_vm_id(vm[i]), &ent, &dem),
			0);
		print_message("VM%d shares %u: used %.2f%% ready %.2f%% "
			      "(sampler), entitled %llu MHz, demand %llu "
			      "MHz\n",
			      i, shares[i], pct[i].used, pct[i].ready,
			      (unsigned long long)ent, (unsigned long long)dem);
		assert_true(pct_sum > 0);
		assert_true(pct[i].used / pct_sum > want - 0.06 &&
			    pct[i].used / pct_sum < want + 0.06);
		/* every VM wants more than its share: entitlement = share */
		assert_true(dem >= MHZ * 3 / 4);
		assert_true(ent + 3 >= MHZ * (i + 1) / 6 &&
			    ent <= MHZ * (i + 1) / 6 + 3);
	}
	for (int i = 0; i < 3; i++) {
		vmk_sched_vm_shutdown(vm[i]);
		vcpu_join(v[i]);
		ins_sum += v[i]->instret;
	}
	for (int i = 0; i < 3; i++) {
		double fu = (double)used[i] / (double)used_sum;
		double fi = (double)v[i]->instret / (double)ins_sum;
		double want = (i + 1) / 6.0;

		print_message("VM%d: used %5.2f%% instret %5.2f%% (want "
			      "%5.2f%%), %.1f guest MIPS while running\n",
			      i, 100 * fu, 100 * fi, 100 * want,
			      (double)v[i]->instret / (double)used[i]);
		/* A thread descheduled by the host while it holds the pCPU
		 * overruns its slice; the charge is repaid over later turns,
		 * but not all of it within 2 s on a loaded host: 3.8 points
		 * were seen at a load of 7 on 2 cores. */
		assert_true(fu > want - 0.06 && fu < want + 0.06);
		/* Guest instructions depend on how much host CPU the thread
		 * got while it held the pCPU, which the host decides (4.7 %
		 * for a 16.7 % share was seen under two busy loops): only
		 * progress is the scheduler's business. */
		assert_true(v[i]->instret > 0);
		vmk_sched_vm_remove(vm[i]);
		vcpu_free(v[i]);
	}
	/* whatever the host does, more shares never get less */
	assert_true(used[0] < used[1] && used[1] < used[2]);
	/* the single pCPU was handed on, not left idle: most of the 2 s
	 * are charged to somebody even if the host delays hand-overs */
	assert_true(used_sum > 1000000);
	vmk_sched_destroy(s);
}

/* A limit of 25 % of a pCPU holds even with the pCPU free (about 25 %;
 * a loaded host shifts it either way by delaying the thread), and the
 * throttled thread does not burn host CPU. */
static void test_limit_alone(void **state)
{
	(void)state;
	struct vmk_sched *s = sched_new(1);
	struct vmk_sched_vm *vm = vm_new(s, 1, 1000, 0, MHZ / 4);
	struct vcpu_thr *v = vcpu_new(vm, 0, false);
	uint64_t t0 = clock_monotonic_ns(), u0 = vm_used(s, vm);

	vcpu_start(v);
	/* A limit holds per 100 ms window; an interval of T can hold T/W + 1
	 * window starts: over 2.5 s that may read 26 % (+ overrun). */
	usleep(2500000);
	double used = 100.0 * (double)(vm_used(s, vm) - u0) /
		      ((double)(clock_monotonic_ns() - t0) / 1000);
	uint64_t ent, dem;
	vmk_sched_sample(s);
	assert_int_equal(vmk_sched_vm_mhz(s, vmk_sched_vm_id(vm), &ent, &dem),
			 0);
	vmk_sched_vm_shutdown(vm);
	vcpu_join(v);
	double cpu = 100.0 * (double)v->cpu_ns / (double)v->wall_ns;
	print_message("limit 25%%: entitled %llu MHz, used %.2f%%, thread CPU "
		      "%.2f%%\n",
		      (unsigned long long)ent, used, cpu);
	/* The policy's decision is exact: the limit caps the entitlement. */
	assert_true(ent <= MHZ / 4);
	/* The mechanism throttles: an unlimited busy vCPU holds the pCPU
	 * ~100 % of the time. How close to 25 % it stays is a figure: a
	 * host that deschedules the thread while it holds the pCPU
	 * stretches its slices (46 % was seen under two busy loops, with
	 * the thread on a host CPU 4 % of the time). */
	assert_true(used > 1 && used < 75);
	assert_true(cpu < 35);
	vmk_sched_vm_remove(vm);
	vcpu_free(v);
	vmk_sched_destroy(s);
}

/* A reservation of 60 % of the pCPU holds against two busy neighbours of
 * equal shares (which alone would give it a third): of the time the pCPU
 * was charged, VM0 gets about 60 %, the two others split the rest evenly. */
static void test_reservation(void **state)
{
	(void)state;
	struct vmk_sched *s = sched_new(1);
	struct vmk_sched_vm *vm[3];
	struct vcpu_thr *v[3];
	uint64_t u0[3], t0;
	double pct[3], frac[3], sum = 0;

	vm[0] = vm_new(s, 1, 1000, MHZ * 6 / 10, 0);
	vm[1] = vm_new(s, 1, 1000, 0, 0);
	vm[2] = vm_new(s, 1, 1000, 0, 0);
	for (int i = 0; i < 3; i++)
		v[i] = vcpu_new(vm[i], 0, false);
	for (int i = 0; i < 3; i++)
		vcpu_start(v[i]);
	usleep(200000);
	t0 = clock_monotonic_ns();
	for (int i = 0; i < 3; i++)
		u0[i] = vm_used(s, vm[i]);
	/* long enough that one overrun of a descheduled neighbour (a busy
	 * host) moves the two equal ones apart by a few points at most */
	usleep(2600000);
	uint64_t dt = (clock_monotonic_ns() - t0) / 1000;
	for (int i = 0; i < 3; i++)
		pct[i] = 100.0 * (double)(vm_used(s, vm[i]) - u0[i]) /
			 (double)dt;
	print_message("reservation 60%%: %.2f%% / %.2f%% / %.2f%% of the "
		      "wall time\n",
		      pct[0], pct[1], pct[2]);
	for (int i = 0; i < 3; i++)
		sum += pct[i];
	assert_true(sum > 0);
	for (int i = 0; i < 3; i++)
		frac[i] = pct[i] / sum;
	/* about 0.60; up to 0.71 was seen under two busy loops (overruns
	 * of the neighbours' descheduled threads are repaid to VM0) */
	assert_true(frac[0] > 0.55 && frac[0] < 0.85);
	assert_true(frac[1] > 0.05 && frac[2] > 0.05);
	assert_true(frac[1] - frac[2] < 0.08 && frac[2] - frac[1] < 0.08);
	for (int i = 0; i < 3; i++)
		stop_vm(vm[i], &v[i], 1);
	vmk_sched_destroy(s);
}

/* Idle (WFI) vCPUs with a 100 Hz timer cost ~0 host CPU, keep waking up
 * for their ticks next to a busy vCPU on the only pCPU, and the busy one
 * keeps most of it. (Wake-up latency is a figure: bench/sched.) */
static void test_idle_vcpus(void **state)
{
	(void)state;
	struct vmk_sched *s = sched_new(1);
	struct vmk_sched_vm *idle_vm = vm_new(s, 4, 4000, 0, 0);
	struct vmk_sched_vm *busy_vm = vm_new(s, 1, 1000, 0, 0);
	struct vcpu_thr *iv[4], *bv = vcpu_new(busy_vm, 0, false);
	uint64_t lat[4 * MAX_SAMPLE];
	unsigned n_lat = 0;

	for (int i = 0; i < 4; i++)
		iv[i] = vcpu_new(idle_vm, (unsigned)i, true);
	for (int i = 0; i < 4; i++)
		vcpu_start(iv[i]);
	vcpu_start(bv);
	usleep(200000);
	uint64_t t0 = clock_monotonic_ns(), u0 = vm_used(s, busy_vm);
	struct sched_stats w0, w1;
	assert_int_equal(
		vmk_sched_vm_stats(s, vmk_sched_vm_id(idle_vm), 0, &w0), 0);
	usleep(1300000);
	uint64_t dt = (clock_monotonic_ns() - t0) / 1000;
	double busy = 100.0 * (double)(vm_used(s, busy_vm) - u0) / (double)dt;
	assert_int_equal(
		vmk_sched_vm_stats(s, vmk_sched_vm_id(idle_vm), 0, &w1), 0);
	double wait = 100.0 * (double)(w1.wait_us - w0.wait_us) / (double)dt;
	double cpu_max = 0;
	vmk_sched_vm_shutdown(idle_vm);
	for (int i = 0; i < 4; i++) {
		vcpu_join(iv[i]);
		double c = 100.0 * (double)iv[i]->cpu_ns /
			   (double)iv[i]->wall_ns;
		cpu_max = c > cpu_max ? c : cpu_max;
		for (unsigned j = 0; j < iv[i]->n_lat; j++)
			lat[n_lat++] = iv[i]->lat[j];
	}
	vmk_sched_vm_remove(idle_vm);
	for (int i = 0; i < 4; i++)
		vcpu_free(iv[i]);
	stop_vm(busy_vm, &bv, 1);
	uint64_t l50 = pctile(lat, n_lat, 50), l90 = pctile(lat, n_lat, 90);
	print_message("idle: busy neighbour %.2f%%, idle vCPU wait %.2f%%, "
		      "idle thread CPU <= %.2f%%, %u wake-ups: latency p50 "
		      "%llu us p90 %llu us\n",
		      busy, wait, cpu_max, n_lat, (unsigned long long)l50,
		      (unsigned long long)l90);
	assert_true(busy > 50);
	assert_true(wait > 50);
	assert_true(cpu_max < 5);
	/* ~130 ticks each; every one must come (a lost wake-up shows as
	 * far fewer), however late a loaded host delivers it */
	assert_true(n_lat > 4 * 30);
	vmk_sched_destroy(s);
}

/* Preemption works: two busy vCPUs (`j .`, which never gives the pCPU up)
 * of equal shares on one pCPU take turns many times a second and split it
 * evenly; no slice comes near a second. (Slice lengths are a figure:
 * bench/sched.) */
static void test_preemption_alternates(void **state)
{
	(void)state;
	struct vmk_sched *s = sched_new(1);
	struct vmk_sched_vm *vm[2];
	struct vcpu_thr *v[2];

	for (int i = 0; i < 2; i++) {
		vm[i] = vm_new(s, 1, 1000, 0, 0);
		v[i] = vcpu_new(vm[i], 0, false);
	}
	for (int i = 0; i < 2; i++)
		vcpu_start(v[i]);
	usleep(1000000);
	for (int i = 0; i < 2; i++) {
		vmk_sched_vm_shutdown(vm[i]);
		vcpu_join(v[i]);
	}
	uint64_t u[2];
	for (int i = 0; i < 2; i++)
		u[i] = vm_used(s, vm[i]);
	assert_true(u[0] + u[1] > 0);
	for (int i = 0; i < 2; i++) {
		unsigned n = v[i]->n_run;
		double frac = (double)u[i] / (double)(u[0] + u[1]);
		uint64_t r50 = pctile(v[i]->run, n, 50);
		uint64_t r90 = pctile(v[i]->run, n, 90);
		uint64_t g50 = pctile(v[i]->gap, v[i]->n_gap, 50);
		uint64_t g90 = pctile(v[i]->gap, v[i]->n_gap, 90);

		print_message("vCPU%d: %u runs, run p50 %llu us p90 %llu us, "
			      "wait p50 %llu us p90 %llu us\n",
			      i, n, (unsigned long long)r50,
			      (unsigned long long)r90, (unsigned long long)g50,
			      (unsigned long long)g90);
		/* ~100 turns expected in 1 s at 5 ms quanta */
		assert_true(n >= 10);
		assert_true(r90 <= 250000);
		assert_true(frac > 0.35 && frac < 0.65);
		vmk_sched_vm_remove(vm[i]);
		vcpu_free(v[i]);
	}
	vmk_sched_destroy(s);
}

/* Shutting a VM down while others run: its threads leave promptly, it can
 * be removed, the others take over its pCPU time. */
static void test_shutdown_while_running(void **state)
{
	(void)state;
	struct vmk_sched *s = sched_new(1);
	struct vmk_sched_vm *a = vm_new(s, 2, 2000, 0, 0);
	struct vmk_sched_vm *b = vm_new(s, 1, 1000, 0, 0);
	struct vcpu_thr *av[2], *bv = vcpu_new(b, 0, false);

	av[0] = vcpu_new(a, 0, false);
	av[1] = vcpu_new(a, 1, true);
	vcpu_start(av[0]);
	vcpu_start(av[1]);
	vcpu_start(bv);
	usleep(300000);
	uint64_t t0 = clock_monotonic_ns();
	stop_vm(a, av, 2);
	uint64_t stop_ms = (clock_monotonic_ns() - t0) / 1000000;
	assert_true(stop_ms < 10000);
	uint64_t u0 = vm_used(s, b);
	t0 = clock_monotonic_ns();
	usleep(400000);
	double used = 100.0 * (double)(vm_used(s, b) - u0) /
		      ((double)(clock_monotonic_ns() - t0) / 1000);
	print_message("shutdown took %llu ms; the other VM then used "
		      "%.2f%%\n",
		      (unsigned long long)stop_ms, used);
	assert_true(used > 50);
	/* the freed slot can be reused */
	struct vmk_sched_vm *c = vm_new(s, 1, 1000, 0, 0);
	vmk_sched_vm_remove(c);
	stop_vm(b, &bv, 1);
	vmk_sched_destroy(s);
}

/* Admission control and host facts. */
static void test_admission(void **state)
{
	(void)state;
	struct vmk_sched *s = sched_new(2);
	struct sched_vm_config cfg = { 1, 1000, 900, 0 };
	struct vmk_sched_vm *a, *b;
	struct error err;

	assert_int_equal(vmk_sched_capacity_mhz(s), 2 * MHZ);
	assert_int_equal(vmk_sched_vm_add(s, &cfg, &a, &err), 0);
	assert_int_equal(vmk_sched_vm_add(s, &cfg, &b, &err), 0);
	assert_int_equal(vmk_sched_reserved_mhz(s), 1800);
	struct vmk_sched_vm *c = NULL;
	assert_int_equal(vmk_sched_vm_add(s, &cfg, &c, &err), -ENOSPC);
	assert_null(c);
	print_message("refused: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "does not fit"));
	cfg.reservation_mhz = 100;
	assert_int_equal(vmk_sched_vm_set_qos(a, &cfg, &err), 0);
	assert_int_equal(vmk_sched_reserved_mhz(s), 1000);
	vmk_sched_vm_remove(a);
	vmk_sched_vm_remove(b);
	assert_int_equal(vmk_sched_reserved_mhz(s), 0);
	struct sched_stats st;
	assert_int_equal(vmk_sched_vm_stats(s, 0, -1, &st), -ENOENT);
	vmk_sched_destroy(s);
	assert_true(vmk_host_mhz() >= 1);
	assert_true(vmk_host_pcpus() >= 1);
	print_message("host: %u pCPUs x %llu MHz\n", vmk_host_pcpus(),
		      (unsigned long long)vmk_host_mhz());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_shares_split),
		cmocka_unit_test(test_limit_alone),
		cmocka_unit_test(test_reservation),
		cmocka_unit_test(test_idle_vcpus),
		cmocka_unit_test(test_preemption_alternates),
		cmocka_unit_test(test_shutdown_while_running),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
