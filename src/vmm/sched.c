/*
 * vCPU scheduler mechanism: vCPU threads gated by pCPU run tokens, a timer
 * thread for slice ends and idle re-picks, and the stats sampler. The
 * policy (sched_policy.c) decides; this file owns the clock, the threads
 * and the hand-over. See docs/scheduler.md, "Mechanism".
 *
 * Invariants (all under s->lock):
 *  - pCPU k's token is held by vCPU (vm, vcpu) iff s->pol.pcpus[k].vm/vcpu
 *    name it iff that vCPU's tok == k. The policy's view and ours never
 *    differ: every grant follows a sched_pick, every release a sched_put.
 *  - A vCPU is `running` only between enter() returning true and leave();
 *    only then may the timer thread touch its hart (hart_request).
 *  - A token may be granted to a vCPU whose thread is not in enter() yet
 *    (it left runnable and is on its way back); if the thread does not
 *    come back within the slice, the timer thread takes the token back.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cpu/hart.h"
#include "machine/virt.h"
#include "util/clock.h"
#include "util/log.h"
#include "vmm/sched.h"

#define LOG "sched"

/* A waking vCPU may preempt one that has run at least this long in its
 * slice (see wake_preempt()). */
#define WAKE_GRANULARITY_US 1000u
/* Re-check a granted slice whose thread is still waking up. */
#define WAKING_RECHECK_US 1000u

struct vmk_vcpu {
	pthread_cond_t cond;	 /* signalled when tok changes or on shutdown */
	struct hart *h;		 /* valid while running */
	int tok;		 /* pCPU token held, -1 = none */
	int last_tok;		 /* the last one held, -1 = never */
	bool running;		 /* between enter() == true and leave() */
	bool in_enter;		 /* the thread waits in enter() */
	struct sched_stats prev; /* sampler */
	struct sched_pct pct;
};

struct vmk_sched_vm {
	struct vmk_sched *s;
	int id;
	unsigned n_vcpus;
	bool shutdown;
	/* preempts a running vCPU when its hart is in another process
	 * (vmk_sched_vm_set_kick); NULL: hart_request on its hart */
	void (*kick)(void *opaque, unsigned vcpu);
	void *kick_opaque;
	bool have_pct;
	struct sched_stats prev;
	struct sched_pct pct;
	struct vmk_vcpu vcpus[];
};

struct pcpu_slot {
	uint64_t deadline; /* slice end or idle re-pick time; UINT64_MAX */
	uint64_t start;	   /* when the current slice was granted */
	bool exit_posted;  /* HART_REQ_EXIT sent for this slice */
};

struct vmk_sched {
	pthread_mutex_t lock;
	pthread_cond_t timer_cond; /* CLOCK_MONOTONIC */
	pthread_t timer;
	bool stop;
	uint64_t timer_at; /* when the timer thread wakes next */
	uint64_t next_sample;
	uint64_t last_sample;
	struct sched_policy pol;
	struct pcpu_slot slot[SCHED_MAX_PCPUS];
	struct vmk_sched_vm **vms; /* by policy id, pol.cap_vms of them */
	uint32_t cap_vms;
};

static uint64_t now_us(void)
{
	return clock_monotonic_ns() / 1000;
}

/* ---- host facts ------------------------------------------------------------ */

static uint64_t read_u64_file(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned long long v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

uint64_t vmk_host_mhz(void)
{
	static const char *const khz[] = {
		"/sys/devices/system/cpu/cpu0/cpufreq/base_frequency",
		"/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq",
	};
	char line[256];
	uint64_t mhz = 0;
	FILE *f;

	for (unsigned i = 0; i < sizeof(khz) / sizeof(khz[0]); i++) {
		uint64_t v = read_u64_file(khz[i]);
		if (v >= 1000 && v < 100000000)
			return v / 1000;
	}
	f = fopen("/proc/cpuinfo", "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			double d;
			if (strncmp(line, "cpu MHz", 7) == 0 &&
			    sscanf(strchr(line, ':') ? strchr(line, ':') + 1
						     : "",
				   "%lf", &d) == 1 &&
			    d >= 1 && d < 100000) {
				mhz = (uint64_t)(d + 0.5);
				break;
			}
		}
		fclose(f);
	}
	return mhz ? mhz : 2000;
}

uint32_t vmk_host_pcpus(void)
{
	cpu_set_t set;
	long n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	return n > SCHED_MAX_PCPUS ? SCHED_MAX_PCPUS : (uint32_t)n;
}

/* ---- tokens ---------------------------------------------------------------- */

static struct vmk_vcpu *vcpu_of(struct vmk_sched *s, int vm, int vcpu)
{
	return &s->vms[vm]->vcpus[vcpu];
}

/* Ask running vCPU (vm, vcpu) to leave at its next block boundary. */
static void post_exit(struct vmk_sched *s, int vm, int vcpu)
{
	struct vmk_sched_vm *v = s->vms[vm];

	if (v->kick)
		v->kick(v->kick_opaque, (unsigned)vcpu);
	else if (v->vcpus[vcpu].h)
		hart_request(v->vcpus[vcpu].h, HART_REQ_EXIT);
	/* else a worker's vCPU whose worker is gone (its kick cleared): the
	 * removal that follows takes its token back */
}

/* Make the timer thread wake up no later than t. */
static void timer_poke(struct vmk_sched *s, uint64_t t)
{
	if (t < s->timer_at) {
		s->timer_at = t;
		pthread_cond_signal(&s->timer_cond);
	}
}

/* Does the end of a slice of VM vm need enforcing now? Only if the VM has
 * a limit (the slice is its remaining budget) or another vCPU waits for a
 * pCPU. Otherwise the timer thread is not woken for it: an idle host's
 * vCPUs wake, run briefly and park without waking a second thread. */
static bool slice_matters(const struct vmk_sched *s, int vm)
{
	if (s->pol.vms[vm].cfg.limit_mhz)
		return true;
	for (unsigned i = 0; i < s->pol.n_vms; i++) {
		const struct sched_vm *v = &s->pol.vms[i];
		if (!v->used)
			continue;
		for (unsigned c = 0; c < v->cfg.n_vcpus; c++)
			if (v->vcpus[c].state == SCHED_READY ||
			    v->vcpus[c].state == SCHED_COSTOP)
				return true;
	}
	return false;
}

/* A vCPU waits for a pCPU: make sure the running slices end on time. */
static void enforce_slices(struct vmk_sched *s)
{
	for (unsigned k = 0; k < s->pol.prm.n_pcpus; k++)
		if (s->slot[k].deadline != UINT64_MAX)
			timer_poke(s, s->slot[k].deadline);
}

/* pCPU k is free in the policy: ask it what runs next and hand the token
 * over (or arm the idle re-pick). */
static void pick(struct vmk_sched *s, unsigned k, uint64_t now)
{
	struct sched_decision d;
	struct pcpu_slot *sl = &s->slot[k];

	if (sched_pick(&s->pol, k, now, &d) < 0)
		return;
	sl->exit_posted = false;
	sl->start = now;
	if (d.vm < 0) {
		sl->deadline = d.slice_us == SCHED_FOREVER ||
					       d.slice_us > UINT64_MAX - now
				       ? UINT64_MAX
				       : now + d.slice_us;
	} else {
		struct vmk_vcpu *c = vcpu_of(s, d.vm, d.vcpu);

		c->tok = (int)k;
		c->last_tok = (int)k;
		sl->deadline = d.slice_us > UINT64_MAX - now ? UINT64_MAX
							     : now + d.slice_us;
		if (c->in_enter)
			pthread_cond_signal(&c->cond);
		if (!slice_matters(s, d.vm))
			return; /* enforce_slices() if that changes */
	}
	if (sl->deadline != UINT64_MAX)
		timer_poke(s, sl->deadline);
}

/* Give every idle pCPU a chance to pick (after a wake-up, a vCPU became
 * ready, QoS changed): parked idle pCPUs only move when kicked. */
static void kick_idle(struct vmk_sched *s, uint64_t now)
{
	for (unsigned k = 0; k < s->pol.prm.n_pcpus; k++)
		if (s->pol.pcpus[k].vm < 0)
			pick(s, k, now);
}

/* Take the token from the vCPU on pCPU k, tell the policy, pick again. */
static void release(struct vmk_sched *s, unsigned k, uint64_t now,
		    bool runnable)
{
	struct sched_pcpu *pc = &s->pol.pcpus[k];

	if (pc->vm < 0)
		return;
	vcpu_of(s, pc->vm, pc->vcpu)->tok = -1;
	sched_put(&s->pol, k, now, runnable);
	pick(s, k, now);
	/* the vCPU that left may now be ready for another idle pCPU */
	if (runnable)
		kick_idle(s, now);
}

/*
 * A vCPU woke and found no idle pCPU. It waits at most a quantum anyway
 * (the slice of whoever runs); to cut that, end the slice of a running
 * vCPU once it has run WAKE_GRANULARITY_US of it (now, or later by the
 * timer thread, so frequent wakers cannot thrash a runner) when the waker would
 * win the next pick: it is boosted (reservation) and the runner is not, or
 * the runner's virtual time is at or past the waker's (sched_wake() lifts
 * the waker to the least runnable virtual time, the runner's when it is
 * alone; the runner keeps running for a moment after the request, so it
 * is strictly behind at the pick). This bounds the wake-up latency of an
 * idle vCPU next to busy ones to about WAKE_GRANULARITY_US.
 */
static void wake_preempt(struct vmk_sched *s, int vm, int vcpu, uint64_t now)
{
	const struct sched_vcpu *w = &s->pol.vms[vm].vcpus[vcpu];
	bool w_boost = s->pol.vms[vm].cfg.reservation_mhz &&
		       s->pol.vms[vm].win_used <
			       s->pol.vms[vm].cfg.reservation_mhz *
				       s->pol.prm.window_us /
				       s->pol.prm.mhz_per_pcpu;
	int best = -1;
	uint64_t best_vt = 0;

	if (w->state != SCHED_READY || w->throttled)
		return;
	for (unsigned k = 0; k < s->pol.prm.n_pcpus; k++) {
		const struct sched_pcpu *pc = &s->pol.pcpus[k];
		const struct sched_vm *rv;
		const struct sched_vcpu *r;

		if (pc->vm < 0 || !(w->affinity >> k & 1) ||
		    s->slot[k].exit_posted)
			continue;
		rv = &s->pol.vms[pc->vm];
		r = &rv->vcpus[pc->vcpu];
		if (!vcpu_of(s, pc->vm, pc->vcpu)->running)
			continue;
		if (w_boost && !rv->cfg.reservation_mhz) {
			best = (int)k;
			break;
		}
		if (r->vt >= w->vt && (best < 0 || r->vt > best_vt)) {
			best = (int)k;
			best_vt = r->vt;
		}
	}
	if (best >= 0) {
		struct pcpu_slot *sl = &s->slot[best];
		struct sched_pcpu *pc = &s->pol.pcpus[best];

		if (now - sl->start >= WAKE_GRANULARITY_US) {
			sl->exit_posted = true;
			sl->deadline = UINT64_MAX;
			post_exit(s, pc->vm, pc->vcpu);
		} else if (sl->start + WAKE_GRANULARITY_US < sl->deadline) {
			/* too early for the runner: end its slice at the
			 * granularity instead (the timer thread does it) */
			sl->deadline = sl->start + WAKE_GRANULARITY_US;
			timer_poke(s, sl->deadline);
		}
	}
}

/* ---- the timer thread ------------------------------------------------------ */

static void sample_locked(struct vmk_sched *s, uint64_t now)
{
	uint64_t dt = now - s->last_sample;

	sched_advance(&s->pol, now);
	for (int i = 0; i < (int)s->pol.n_vms; i++) {
		struct vmk_sched_vm *vm = s->vms[i];
		struct sched_stats st;

		if (!vm)
			continue;
		for (unsigned j = 0; j < vm->n_vcpus; j++) {
			struct vmk_vcpu *c = &vm->vcpus[j];

			sched_get_stats(&s->pol, i, (int)j, &st);
			sched_stats_pct(&st, &c->prev, dt, &c->pct);
			c->prev = st;
		}
		sched_get_stats(&s->pol, i, -1, &st);
		sched_stats_pct(&st, &vm->prev, dt, &vm->pct);
		vm->prev = st;
		vm->have_pct = dt > 0;
	}
	s->last_sample = now;
	s->next_sample = now + VMK_SCHED_SAMPLE_US;
}

/* Handle every pCPU whose deadline passed; returns the next deadline. */
static uint64_t timer_tick(struct vmk_sched *s, uint64_t now)
{
	uint64_t next = s->next_sample;

	if (now >= s->next_sample) {
		sample_locked(s, now);
		next = s->next_sample;
	}
	for (unsigned k = 0; k < s->pol.prm.n_pcpus; k++) {
		struct pcpu_slot *sl = &s->slot[k];
		struct sched_pcpu *pc = &s->pol.pcpus[k];

		if (sl->deadline <= now) {
			if (pc->vm < 0) {
				pick(s, k, now); /* idle period over */
			} else {
				struct vmk_vcpu *c = vcpu_of(s, pc->vm,
							     pc->vcpu);

				if (c->running) {
					/* preempt at a block boundary;
					 * overrun is charged as used */
					sl->exit_posted = true;
					sl->deadline = UINT64_MAX;
					post_exit(s, pc->vm, pc->vcpu);
				} else if (c->in_enter) {
					/* granted, thread still waking */
					sl->deadline = now + WAKING_RECHECK_US;
				} else {
					/* granted to a thread that did not
					 * come back: take it back */
					release(s, k, now, true);
				}
			}
		}
		if (sl->deadline < next)
			next = sl->deadline;
	}
	return next;
}

static void *timer_thread(void *arg)
{
	struct vmk_sched *s = arg;

	/* slice ends are charged as used time: do not let the kernel
	 * coalesce our wake-ups by its default 50 us slack */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		uint64_t now = now_us();
		uint64_t next = timer_tick(s, now);

		s->timer_at = next;
		if (next > now) {
			struct timespec ts = {
				.tv_sec = (time_t)(next / 1000000u),
				.tv_nsec = (long)(next % 1000000u) * 1000,
			};
			pthread_cond_timedwait(&s->timer_cond, &s->lock, &ts);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- create / destroy ------------------------------------------------------ */

int vmk_sched_create(const struct sched_params *prm, struct vmk_sched **out,
		     struct error *err)
{
	struct sched_params def;
	pthread_condattr_t ca;
	struct vmk_sched *s;
	int ret;

	*out = NULL;
	if (!prm) {
		sched_default_params(&def, vmk_host_pcpus(), vmk_host_mhz());
		prm = &def;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return error_set(err, ENOMEM, "no memory for the scheduler");
	ret = sched_init(&s->pol, prm, err);
	if (ret < 0) {
		free(s);
		return ret;
	}
	for (unsigned k = 0; k < SCHED_MAX_PCPUS; k++)
		s->slot[k].deadline = UINT64_MAX;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->timer_cond, &ca);
	pthread_condattr_destroy(&ca);
	s->last_sample = now_us();
	s->next_sample = s->last_sample + VMK_SCHED_SAMPLE_US;
	s->timer_at = UINT64_MAX;
	ret = pthread_create(&s->timer, NULL, timer_thread, s);
	if (ret) {
		pthread_cond_destroy(&s->timer_cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return error_set(err, ret, "cannot start the scheduler thread");
	}
	log_info(LOG, "%u pCPUs x %llu MHz, quantum %llu us", prm->n_pcpus,
		 (unsigned long long)prm->mhz_per_pcpu,
		 (unsigned long long)prm->quantum_us);
	*out = s;
	return 0;
}

void vmk_sched_destroy(struct vmk_sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->timer_cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->timer, NULL);
	for (int i = 0; i < (int)s->pol.n_vms; i++)
		if (s->vms[i]) {
			log_warn(LOG, "VM %d still added at destroy", i);
			for (unsigned j = 0; j < s->vms[i]->n_vcpus; j++)
				pthread_cond_destroy(&s->vms[i]->vcpus[j].cond);
			free(s->vms[i]);
		}
	free(s->vms);
	sched_fini(&s->pol);
	pthread_cond_destroy(&s->timer_cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void vmk_sched_params(const struct vmk_sched *s, struct sched_params *prm)
{
	*prm = s->pol.prm; /* constant after create */
}

uint64_t vmk_sched_capacity_mhz(struct vmk_sched *s)
{
	return s->pol.capacity_mhz; /* constant after create */
}

uint64_t vmk_sched_reserved_mhz(struct vmk_sched *s)
{
	uint64_t r;

	pthread_mutex_lock(&s->lock);
	r = s->pol.reserved_mhz;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- VMs ------------------------------------------------------------------- */

int vmk_sched_vm_add(struct vmk_sched *s, const struct sched_vm_config *cfg,
		     struct vmk_sched_vm **out, struct error *err)
{
	struct vmk_sched_vm *vm;
	int id;

	*out = NULL;
	if (cfg->n_vcpus < 1 || cfg->n_vcpus > SCHED_MAX_VCPUS)
		return error_set(err, EINVAL, "%u vCPUs: expected 1..%d",
				 cfg->n_vcpus, SCHED_MAX_VCPUS);
	vm = calloc(1, sizeof(*vm) + cfg->n_vcpus * sizeof(vm->vcpus[0]));
	if (!vm)
		return error_set(err, ENOMEM, "no memory for a VM");
	vm->s = s;
	vm->n_vcpus = cfg->n_vcpus;
	for (unsigned j = 0; j < cfg->n_vcpus; j++) {
		vm->vcpus[j].tok = -1;
		vm->vcpus[j].last_tok = -1;
		pthread_cond_init(&vm->vcpus[j].cond, NULL);
	}
	pthread_mutex_lock(&s->lock);
	id = sched_admit(&s->pol, cfg, now_us(), err);
	if (id >= 0 && s->cap_vms < s->pol.cap_vms) {
		/* the policy's table grew: so does ours, zeroed */
		struct vmk_sched_vm **v = realloc(s->vms,
						  s->pol.cap_vms * sizeof(*v));

		if (v) {
			memset(v + s->cap_vms, 0,
			       (s->pol.cap_vms - s->cap_vms) * sizeof(*v));
			s->vms = v;
			s->cap_vms = s->pol.cap_vms;
		} else {
			sched_remove(&s->pol, id);
			id = error_set(err, ENOMEM, "no memory for a VM");
		}
	}
	if (id >= 0) {
		vm->id = id;
		s->vms[id] = vm;
		/* start the sampler's interval for it now */
		sched_get_stats(&s->pol, id, -1, &vm->prev);
	}
	pthread_mutex_unlock(&s->lock);
	if (id < 0) {
		for (unsigned j = 0; j < cfg->n_vcpus; j++)
			pthread_cond_destroy(&vm->vcpus[j].cond);
		free(vm);
		return id;
	}
	*out = vm;
	return 0;
}

int vmk_sched_vm_id(const struct vmk_sched_vm *vm)
{
	return vm->id;
}

int vmk_sched_vm_set_qos(struct vmk_sched_vm *vm,
			 const struct sched_vm_config *cfg, struct error *err)
{
	struct vmk_sched *s = vm->s;
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = sched_set_qos(&s->pol, vm->id, cfg, err);
	if (ret >= 0)
		kick_idle(s, now_us()); /* a raised limit may unthrottle */
	pthread_mutex_unlock(&s->lock);
	return ret < 0 ? ret : 0;
}

int vmk_sched_vcpu_set_affinity(struct vmk_sched_vm *vm, unsigned vcpu,
				uint64_t mask, struct error *err)
{
	struct vmk_sched *s = vm->s;
	int ret;

	if (vcpu >= vm->n_vcpus)
		return error_set(err, ENOENT, "no vCPU %u (the VM has %u)",
				 vcpu, vm->n_vcpus);
	pthread_mutex_lock(&s->lock);
	ret = sched_set_affinity(&s->pol, vm->id, (int)vcpu, mask, err);
	if (ret >= 0) {
		struct vmk_vcpu *c = &vm->vcpus[vcpu];
		uint64_t now = now_us();

		if (c->tok >= 0 &&
		    !(s->pol.vms[vm->id].vcpus[vcpu].affinity >> c->tok & 1)) {
			if (c->running) {
				s->slot[c->tok].exit_posted = true;
				post_exit(s, vm->id, (int)vcpu);
			} else {
				release(s, (unsigned)c->tok, now, true);
			}
		}
		kick_idle(s, now);
	}
	pthread_mutex_unlock(&s->lock);
	return ret < 0 ? ret : 0;
}

void vmk_sched_vm_shutdown(struct vmk_sched_vm *vm)
{
	struct vmk_sched *s = vm->s;
	uint64_t now = now_us();

	pthread_mutex_lock(&s->lock);
	vm->shutdown = true;
	for (unsigned j = 0; j < vm->n_vcpus; j++) {
		struct vmk_vcpu *c = &vm->vcpus[j];

		if (c->running)
			post_exit(s, vm->id, (int)j);
		else if (c->tok >= 0)
			release(s, (unsigned)c->tok, now, false);
		else
			sched_block(&s->pol, vm->id, (int)j, now);
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

void vmk_sched_vm_reopen(struct vmk_sched_vm *vm)
{
	pthread_mutex_lock(&vm->s->lock);
	vm->shutdown = false;
	pthread_mutex_unlock(&vm->s->lock);
}

void vmk_sched_vm_remove(struct vmk_sched_vm *vm)
{
	struct vmk_sched *s;
	uint64_t now = now_us();

	if (!vm)
		return;
	s = vm->s;
	pthread_mutex_lock(&s->lock);
	for (unsigned j = 0; j < vm->n_vcpus; j++) {
		struct vmk_vcpu *c = &vm->vcpus[j];

		if (c->running || c->in_enter)
			log_error(LOG,
				  "VM %d vCPU %u removed while its thread is "
				  "inside the gate",
				  vm->id, j);
		c->running = false;
		if (c->tok >= 0)
			release(s, (unsigned)c->tok, now, false);
	}
	if (sched_remove(&s->pol, vm->id) < 0)
		log_error(LOG, "VM %d: policy refused removal", vm->id);
	s->vms[vm->id] = NULL;
	kick_idle(s, now);
	pthread_mutex_unlock(&s->lock);
	for (unsigned j = 0; j < vm->n_vcpus; j++)
		pthread_cond_destroy(&vm->vcpus[j].cond);
	free(vm);
}

/* ---- the gate -------------------------------------------------------------- */

bool vmk_sched_enter(void *opaque, unsigned vcpu, struct hart *h)
{
	struct vmk_sched_vm *vm = opaque;
	struct vmk_sched *s = vm->s;
	struct vmk_vcpu *c;
	bool ok;

	if (vcpu >= vm->n_vcpus)
		return false;
	c = &vm->vcpus[vcpu];
	pthread_mutex_lock(&s->lock);
	if (!vm->shutdown && c->tok < 0) {
		const struct sched_vcpu *pv = &s->pol.vms[vm->id].vcpus[vcpu];
		uint64_t now = now_us();

		if (pv->state == SCHED_WAIT) {
			sched_wake(&s->pol, vm->id, (int)vcpu, now);
			kick_idle(s, now);
			if (c->tok < 0) {
				wake_preempt(s, vm->id, (int)vcpu, now);
				enforce_slices(s);
			}
		}
		c->in_enter = true;
		while (c->tok < 0 && !vm->shutdown)
			pthread_cond_wait(&c->cond, &s->lock);
		c->in_enter = false;
	}
	ok = !vm->shutdown && c->tok >= 0;
	if (ok) {
		c->h = h;
		c->running = true;
	} else if (c->tok >= 0) {
		release(s, (unsigned)c->tok, now_us(), false);
	} else {
		sched_block(&s->pol, vm->id, (int)vcpu, now_us());
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

void vmk_sched_leave(void *opaque, unsigned vcpu, bool runnable)
{
	struct vmk_sched_vm *vm = opaque;
	struct vmk_sched *s = vm->s;
	struct vmk_vcpu *c;
	uint64_t now;

	if (vcpu >= vm->n_vcpus)
		return;
	c = &vm->vcpus[vcpu];
	pthread_mutex_lock(&s->lock);
	now = now_us();
	c->running = false;
	c->h = NULL;
	if (vm->shutdown)
		runnable = false;
	if (c->tok >= 0)
		release(s, (unsigned)c->tok, now, runnable);
	else if (!runnable)
		sched_block(&s->pol, vm->id, (int)vcpu, now);
	pthread_mutex_unlock(&s->lock);
}

void vmk_sched_vm_set_kick(struct vmk_sched_vm *vm,
			   void (*kick)(void *opaque, unsigned vcpu),
			   void *opaque)
{
	pthread_mutex_lock(&vm->s->lock);
	vm->kick = kick;
	vm->kick_opaque = opaque;
	pthread_mutex_unlock(&vm->s->lock);
}

static void gate_closing(void *opaque)
{
	vmk_sched_vm_shutdown(opaque);
}

static void gate_opening(void *opaque)
{
	vmk_sched_vm_reopen(opaque);
}

void vmk_sched_vm_gate(struct vmk_sched_vm *vm, struct virt_vcpu_gate *gate)
{
	gate->enter = vmk_sched_enter;
	gate->leave = vmk_sched_leave;
	gate->closing = gate_closing;
	gate->opening = gate_opening;
	gate->opaque = vm;
}

/* ---- statistics ------------------------------------------------------------ */

static bool valid(struct vmk_sched *s, int vm_id, int vcpu)
{
	return vm_id >= 0 && vm_id < (int)s->pol.n_vms && s->vms[vm_id] &&
	       vcpu < (int)s->vms[vm_id]->n_vcpus;
}

int vmk_sched_vm_stats(struct vmk_sched *s, int vm_id, int vcpu,
		       struct sched_stats *st)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	if (valid(s, vm_id, vcpu)) {
		sched_advance(&s->pol, now_us());
		sched_get_stats(&s->pol, vm_id, vcpu < 0 ? -1 : vcpu, st);
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int vmk_sched_vcpu_state(struct vmk_sched *s, int vm_id, int vcpu)
{
	int state = SCHED_WAIT;

	pthread_mutex_lock(&s->lock);
	if (vcpu >= 0 && valid(s, vm_id, vcpu))
		state = s->pol.vms[vm_id].vcpus[vcpu].state;
	pthread_mutex_unlock(&s->lock);
	return state;
}

int vmk_sched_vcpu_pcpu(struct vmk_sched *s, int vm_id, int vcpu)
{
	int k = -1;

	pthread_mutex_lock(&s->lock);
	if (vcpu >= 0 && valid(s, vm_id, vcpu))
		k = s->vms[vm_id]->vcpus[vcpu].last_tok;
	pthread_mutex_unlock(&s->lock);
	return k;
}

int vmk_sched_vm_pct(struct vmk_sched *s, int vm_id, int vcpu,
		     struct sched_pct *pct)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	if (valid(s, vm_id, vcpu)) {
		struct vmk_sched_vm *vm = s->vms[vm_id];

		ret = vm->have_pct ? 0 : -EAGAIN;
		*pct = vcpu < 0 ? vm->pct : vm->vcpus[vcpu].pct;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int vmk_sched_vm_mhz(struct vmk_sched *s, int vm_id, uint64_t *entitled_mhz,
		     uint64_t *demand_mhz)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	if (valid(s, vm_id, -1)) {
		sched_advance(&s->pol, now_us());
		*entitled_mhz = s->pol.vms[vm_id].entitled_mhz;
		*demand_mhz = s->pol.vms[vm_id].demand_mhz;
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void vmk_sched_sample(struct vmk_sched *s)
{
	pthread_mutex_lock(&s->lock);
	sample_locked(s, now_us());
	timer_poke(s, s->next_sample);
	pthread_mutex_unlock(&s->lock);
}
