/*
 * bench/sched/bench_sched.c - cost of the vCPU scheduler mechanism
 * (src/vmm/sched.c); run it through bench/sched/run.
 *
 * 1. Overhead: guest instructions per second of one busy vCPU (a 4-insn
 *    integer loop in M-mode) running the board's loop
 *        { enter; hart_run(h, 1M); leave(true) }
 *    through the gate on a 1-pCPU scheduler (slices of 5 ms end by
 *    preemption), against the same loop with no gate. Rounds alternate;
 *    the best round of each is compared (host noise only slows).
 * 2. Wake-up latency: an idle vCPU (wfi loop, 1 ms timer) from its timer
 *    deadline to running guest code again: no gate (hart_park returns),
 *    gate with the pCPU free, gate next to a busy vCPU on the only pCPU.
 * 3. Preemption: two busy vCPUs that never give the pCPU up (one
 *    hart_run with an unbounded budget each turn) on one pCPU: how long
 *    each turn lasts (the quantum is 5 ms) and how long each waits.
 *    (tests/unit/vmm/test_sched.c checks only that they take turns.)
 *
 * Usage: bench_sched [seconds per round (default 1)] [rounds (default 3)]
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "cpu/hart.h"
#include "mem/gmem.h"
#include "util/clock.h"
#include "util/vclock.h"
#include "vmm/sched.h"

#define RAM_BASE  0x80000000ULL
#define SLICE	  1000000u /* instructions per hart_run, as the board */
#define PERIOD_TK (VCLOCK_HZ / 1000)
#define MAX_LAT	  20000

static const uint32_t prog_busy[] = {
	0x00150513, /* addi a0, a0, 1 */
	0x00258593, /* addi a1, a1, 2 */
	0x00b54633, /* xor a2, a0, a1 */
	0xff5ff06f, /* j .-12 */
};
static const uint32_t prog_idle[] = {
	0x08000293, /* addi t0, x0, 0x80 */
	0x30429073, /* csrw mie, t0 */
	0x10500073, /* wfi */
	0xffdff06f, /* j .-4 */
};

struct vcpu {
	struct gmem *mem;
	struct vclock clk;
	struct hart *h;
	struct vmk_sched_vm *vm; /* NULL: no gate */
	bool idle;
	bool unbounded; /* one hart_run per turn: only preemption ends it */
	pthread_t t;
	_Atomic bool stop;
	uint64_t run_ns;
	uint64_t insns;
	unsigned n_lat;
	uint64_t lat[MAX_LAT];
	unsigned n_turn, n_gap; /* unbounded: turn lengths and waits, ns */
	uint64_t turn[MAX_LAT], gap[MAX_LAT];
};

static void vcpu_init(struct vcpu *v, struct vmk_sched_vm *vm, bool idle)
{
	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->idle = idle;
	vclock_init(&v->clk);
	v->mem = gmem_create(RAM_BASE, 1 << 20, NULL);
	if (!v->mem)
		abort();
	int ok;

	if (idle)
		ok = gmem_write(v->mem, RAM_BASE, prog_idle, sizeof(prog_idle));
	else
		ok = gmem_write(v->mem, RAM_BASE, prog_busy, sizeof(prog_busy));
	if (ok)
		abort();
	/* BENCH_ACCEL=jit: the translator (where the host has one) */
	const char *accel = getenv("BENCH_ACCEL");
	struct hart_config cfg = { .hartid = 0,
				   .mem = v->mem,
				   .clock = &v->clk,
				   .jit = accel && !strcmp(accel, "jit") };
	v->h = hart_create(&cfg, NULL);
	if (!v->h)
		abort();
	hart_reset(v->h, RAM_BASE, PRIV_M);
	hart_set_mtimecmp(v->h, PERIOD_TK);
}

static void vcpu_fini(struct vcpu *v)
{
	hart_destroy(v->h);
	gmem_destroy(v->mem);
}

static void *vcpu_main(void *arg)
{
	struct vcpu *v = arg;
	uint64_t t0 = clock_monotonic_ns(), i0 = hart_instret(v->h);
	uint64_t wake_at = 0, left = 0;

	while (!atomic_load_explicit(&v->stop, memory_order_relaxed)) {
		if (v->vm && !vmk_sched_enter(v->vm, 0, v->h))
			break;
		if (wake_at) {
			uint64_t now = clock_monotonic_ns();
			if (v->n_lat < MAX_LAT)
				v->lat[v->n_lat++] = now > wake_at
							     ? now - wake_at
							     : 0;
			wake_at = 0;
		}
		/* the guest's timer handler, run once it holds a pCPU:
		 * arm the next tick */
		if (v->idle && vclock_now(&v->clk) >= hart_get_mtimecmp(v->h))
			hart_set_mtimecmp(v->h,
					  vclock_now(&v->clk) + PERIOD_TK);
		uint64_t in = clock_monotonic_ns();
		if (left && v->n_gap < MAX_LAT)
			v->gap[v->n_gap++] = in - left;
		enum hart_run_result r = hart_run(
			v->h, v->unbounded ? 1ULL << 40 : SLICE);
		left = clock_monotonic_ns();
		if (v->unbounded && v->n_turn < MAX_LAT)
			v->turn[v->n_turn++] = left - in;
		if (v->vm)
			vmk_sched_leave(v->vm, 0, r != HART_RUN_WFI);
		if (r == HART_RUN_WFI) {
			uint64_t dl = hart_get_mtimecmp(v->h);
			hart_park(v->h, UINT64_MAX);
			if (vclock_now(&v->clk) >= dl)
				wake_at = vclock_host_ns_at(&v->clk, dl);
		}
	}
	v->run_ns = clock_monotonic_ns() - t0;
	v->insns = hart_instret(v->h) - i0;
	return NULL;
}

static void run_for(struct vcpu *const *v, unsigned n, double secs)
{
	for (unsigned i = 0; i < n; i++)
		pthread_create(&v[i]->t, NULL, vcpu_main, v[i]);
	struct timespec ts = { (time_t)secs,
			       (long)((secs - (double)(time_t)secs) * 1e9) };
	nanosleep(&ts, NULL);
	for (unsigned i = 0; i < n; i++) {
		atomic_store(&v[i]->stop, true);
		if (v[i]->vm)
			vmk_sched_vm_shutdown(v[i]->vm);
		hart_request(v[i]->h, HART_REQ_EXIT);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(v[i]->t, NULL);
}

static struct vmk_sched_vm *add_vm(struct vmk_sched *s)
{
	struct sched_vm_config cfg = { 1, 1000, 0, 0 };
	struct vmk_sched_vm *vm;
	struct error err;

	if (vmk_sched_vm_add(s, &cfg, &vm, &err)) {
		fprintf(stderr, "bench_sched: %s\n", err.msg);
		exit(1);
	}
	return vm;
}

static double mips(bool gated, double secs)
{
	struct vmk_sched *s = NULL;
	struct vmk_sched_vm *vm = NULL;
	struct vcpu *v = malloc(sizeof(*v));
	struct sched_params prm;
	struct error err;

	if (gated) {
		sched_default_params(&prm, 1, vmk_host_mhz());
		if (vmk_sched_create(&prm, &s, &err)) {
			fprintf(stderr, "bench_sched: %s\n", err.msg);
			exit(1);
		}
		vm = add_vm(s);
	}
	vcpu_init(v, vm, false);
	run_for(&v, 1, secs);
	double r = (double)v->insns / ((double)v->run_ns / 1e3);
	vcpu_fini(v);
	free(v);
	if (s) {
		vmk_sched_vm_remove(vm);
		vmk_sched_destroy(s);
	}
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* mode 0: no gate, 1: gate alone, 2: gate + busy neighbour */
static void latency(int mode, double secs)
{
	static const char *const name[] = {
		"no gate (hart_park)", "gate, pCPU free",
		"gate, busy vCPU on the same pCPU"
	};
	struct vmk_sched *s = NULL;
	struct vcpu *v[2] = { malloc(sizeof(struct vcpu)),
			      malloc(sizeof(struct vcpu)) };
	struct sched_params prm;
	struct error err;
	unsigned n = mode == 2 ? 2 : 1;

	if (mode) {
		sched_default_params(&prm, 1, vmk_host_mhz());
		if (vmk_sched_create(&prm, &s, &err)) {
			fprintf(stderr, "bench_sched: %s\n", err.msg);
			exit(1);
		}
	}
	vcpu_init(v[0], s ? add_vm(s) : NULL, true);
	vcpu_init(v[1], s ? add_vm(s) : NULL, false);
	run_for(v, n, secs);
	qsort(v[0]->lat, v[0]->n_lat, sizeof(uint64_t), cmp_u64);
	unsigned m = v[0]->n_lat;
	if (m)
		printf("wake-up latency, %-34s %5u wake-ups: median %6.1f us, "
		       "p99 %7.1f us\n",
		       name[mode], m, (double)v[0]->lat[m / 2] / 1e3,
		       (double)v[0]->lat[(m - 1) * 99 / 100] / 1e3);
	else
		printf("wake-up latency, %-34s no wake-ups measured (%llu "
		       "insns)\n",
		       name[mode], (unsigned long long)v[0]->insns);
	for (unsigned i = 0; i < 2; i++) {
		if (s)
			vmk_sched_vm_remove(v[i]->vm);
		vcpu_fini(v[i]);
		free(v[i]);
	}
	vmk_sched_destroy(s);
}

static double pct_us(uint64_t *a, unsigned n, unsigned p)
{
	qsort(a, n, sizeof(*a), cmp_u64);
	return n ? (double)a[(n - 1) * p / 100] / 1e3 : 0;
}

static void preemption(double secs)
{
	struct vmk_sched *s;
	struct vcpu *v[2] = { malloc(sizeof(struct vcpu)),
			      malloc(sizeof(struct vcpu)) };
	struct sched_params prm;
	struct error err;

	sched_default_params(&prm, 1, vmk_host_mhz());
	if (vmk_sched_create(&prm, &s, &err)) {
		fprintf(stderr, "bench_sched: %s\n", err.msg);
		exit(1);
	}
	for (unsigned i = 0; i < 2; i++) {
		vcpu_init(v[i], add_vm(s), false);
		v[i]->unbounded = true;
	}
	run_for(v, 2, secs);
	for (unsigned i = 0; i < 2; i++) {
		unsigned nt = v[i]->n_turn, ng = v[i]->n_gap;
		printf("preemption, busy vCPU %u of 2 on one pCPU: %4u turns: "
		       "turn median %6.1f us p90 %6.1f us, wait median "
		       "%6.1f us p90 %6.1f us\n",
		       i, nt, pct_us(v[i]->turn, nt, 50),
		       pct_us(v[i]->turn, nt, 90), pct_us(v[i]->gap, ng, 50),
		       pct_us(v[i]->gap, ng, 90));
	}
	for (unsigned i = 0; i < 2; i++) {
		vmk_sched_vm_remove(v[i]->vm);
		vcpu_fini(v[i]);
		free(v[i]);
	}
	vmk_sched_destroy(s);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	double best_free = 0, best_gated = 0;

	if (secs <= 0 || secs > 600 || rounds < 1 || rounds > 100) {
		fprintf(stderr, "usage: bench_sched [seconds 0..600] "
				"[rounds 1..100]\n");
		return 2;
	}
	for (int r = 0; r < rounds; r++) {
		double f = mips(false, secs), g = mips(true, secs);
		printf("round %d: no gate %.1f MIPS, gate %.1f MIPS\n", r + 1,
		       f, g);
		best_free = f > best_free ? f : best_free;
		best_gated = g > best_gated ? g : best_gated;
	}
	printf("overhead: best no gate %.1f MIPS, best gate %.1f MIPS, "
	       "ratio %.3f (target >= 0.98)\n",
	       best_free, best_gated, best_gated / best_free);
	for (int mode = 0; mode < 3; mode++)
		latency(mode, secs);
	preemption(secs);
	return 0;
}
