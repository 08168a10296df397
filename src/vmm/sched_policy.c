/*
 * vCPU scheduling policy: see sched_policy.h for the contract and
 * docs/scheduler.md for the model and the formulas.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/qos.h"
#include "vmm/sched_policy.h"

/* Virtual time advances by used_us * VT_SCALE / per-vCPU shares. */
#define VT_SCALE (1ull << 20)

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void sched_default_params(struct sched_params *prm, uint32_t n_pcpus,
			  uint64_t mhz_per_pcpu)
{
	prm->n_pcpus = n_pcpus;
	prm->mhz_per_pcpu = mhz_per_pcpu;
	prm->window_us = 100000;
	prm->quantum_us = 5000;
	prm->costop_us = 3000;
	prm->min_slice_us = 100;
}

void sched_fini(struct sched_policy *p)
{
	free(p->vms);
	free(p->roll_alloc);
	free(p->roll_idx);
	p->vms = NULL;
	p->roll_alloc = NULL;
	p->roll_idx = NULL;
	p->n_vms = p->cap_vms = 0;
}

int sched_init(struct sched_policy *p, const struct sched_params *prm,
	       struct error *err)
{
	memset(p, 0, sizeof(*p));
	if (prm->n_pcpus == 0 || prm->n_pcpus > SCHED_MAX_PCPUS)
		return error_set(err, EINVAL, "pcpus %u: expected 1..%u",
				 prm->n_pcpus, SCHED_MAX_PCPUS);
	if (prm->mhz_per_pcpu == 0 ||
	    prm->mhz_per_pcpu * prm->n_pcpus > SCHED_MAX_MHZ)
		return error_set(err, EINVAL,
				 "%llu MHz per pCPU: expected 1..%llu in total",
				 (unsigned long long)prm->mhz_per_pcpu,
				 (unsigned long long)SCHED_MAX_MHZ);
	if (prm->window_us < 1000 || prm->window_us > 10000000 ||
	    prm->quantum_us == 0 || prm->quantum_us > prm->window_us ||
	    prm->min_slice_us == 0 || prm->min_slice_us > prm->quantum_us)
		return error_set(
			err, EINVAL,
			"scheduler times: need 1 ms <= window <= 10 s, "
			"0 < min slice <= quantum <= window");
	p->prm = *prm;
	p->capacity_mhz = prm->mhz_per_pcpu * prm->n_pcpus;
	for (unsigned int i = 0; i < SCHED_MAX_PCPUS; i++)
		p->pcpus[i].vm = p->pcpus[i].vcpu = -1;
	return 0;
}

int sched_parse_shares(const char *s, uint32_t n_vcpus, uint32_t *shares,
		       struct error *err)
{
	char *end;
	unsigned long long v;

	if (n_vcpus == 0 || n_vcpus > SCHED_MAX_VCPUS)
		return error_set(err, EINVAL, "%u vCPUs: expected 1..%u",
				 n_vcpus, SCHED_MAX_VCPUS);
	if (!strcmp(s, "low"))
		v = (unsigned long long)SCHED_SHARES_LOW * n_vcpus;
	else if (!strcmp(s, "normal"))
		v = (unsigned long long)SCHED_SHARES_NORMAL * n_vcpus;
	else if (!strcmp(s, "high"))
		v = (unsigned long long)SCHED_SHARES_HIGH * n_vcpus;
	else {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno || end == s || *end || s[0] == '-' || v == 0 ||
		    v > SCHED_MAX_SHARES)
			return error_set(
				err, EINVAL,
				"shares %s: expected low, normal, high "
				"or a number 1..%u",
				s, SCHED_MAX_SHARES);
	}
	*shares = (uint32_t)v;
	return 0;
}

void sched_entitlements(struct sched_alloc *a, unsigned int n,
			uint64_t capacity_mhz)
{
	struct qos_claim stack[QOS_STACK_CLAIMS];
	struct qos_claim *c = stack;

	if (n > QOS_STACK_CLAIMS) {
		c = malloc(n * sizeof(*c));
		if (!c) {
			/* what admission control guarantees */
			for (unsigned int j = 0; j < n; j++)
				a[j].entitled_mhz = a[j].reservation_mhz;
			return;
		}
	}
	for (unsigned int j = 0; j < n; j++)
		c[j] = (struct qos_claim){ .shares = a[j].shares,
					   .reservation = a[j].reservation_mhz,
					   .limit = a[j].limit_mhz,
					   .demand = a[j].demand_mhz };
	qos_waterfill(c, n, min_u64(capacity_mhz, SCHED_MAX_MHZ));
	for (unsigned int j = 0; j < n; j++) {
		a[j].shares = c[j].shares;
		a[j].entitled_mhz = c[j].granted;
	}
	if (c != stack)
		free(c);
}

/* --- Per-window budgets ------------------------------------------------ */

static uint64_t budget_us(const struct sched_policy *p, uint64_t mhz)
{
	return mhz * p->prm.window_us / p->prm.mhz_per_pcpu;
}

/* Slices handed out to the VM's vCPUs and not charged yet. */
static uint64_t committed(const struct sched_policy *p, int vm)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < p->prm.n_pcpus; i++)
		if (p->pcpus[i].vm == vm)
			sum += p->pcpus[i].left;
	return sum;
}

static bool vm_throttled(const struct sched_policy *p, int vm)
{
	const struct sched_vm *v = &p->vms[vm];

	return v->cfg.limit_mhz &&
	       v->win_used + committed(p, vm) >= budget_us(p, v->cfg.limit_mhz);
}

/* Below its reservation in this window: picked before everybody else. */
static bool vm_boosted(const struct sched_policy *p, int vm)
{
	const struct sched_vm *v = &p->vms[vm];

	return v->cfg.reservation_mhz &&
	       v->win_used + committed(p, vm) <
		       budget_us(p, v->cfg.reservation_mhz);
}

/*
 * How much pCPU time a boosted VM can still go without in this window and
 * meet its reservation: what its vCPUs could run until the window ends,
 * less what the reservation still needs. Among boosted VMs the least slack
 * goes first (least laxity), so a reservation close to what its vCPUs can
 * run is not crowded out by boosted neighbours with time to spare.
 */
static uint64_t vm_slack(const struct sched_policy *p, int vm)
{
	const struct sched_vm *v = &p->vms[vm];
	uint64_t end = p->win_start + p->prm.window_us;
	uint64_t left = end > p->now ? end - p->now : 0;
	uint64_t can = left * min_u64(v->cfg.n_vcpus, p->prm.n_pcpus);
	uint64_t need = budget_us(p, v->cfg.reservation_mhz) - v->win_used -
			committed(p, vm); /* > 0: the VM is boosted */

	return can > need ? can - need : 0;
}

static bool runnable(const struct sched_vcpu *c)
{
	return c->state != SCHED_WAIT;
}

/* Least progress among the VM's runnable vCPUs (UINT64_MAX if none). */
static uint64_t min_progress(const struct sched_vm *v)
{
	uint64_t m = UINT64_MAX;

	for (unsigned int i = 0; i < v->cfg.n_vcpus; i++)
		if (runnable(&v->vcpus[i]))
			m = min_u64(m, v->vcpus[i].progress);
	return m;
}

/* --- Accounting --------------------------------------------------------- */

static void charge_vcpu(struct sched_policy *p, struct sched_vm *v,
			struct sched_vcpu *c, uint64_t t)
{
	uint64_t d = t - c->since;
	unsigned __int128 num;

	c->since = t;
	switch (c->state) {
	case SCHED_RUN:
		c->st.used_us += d;
		c->progress += d;
		v->win_used += d;
		v->win_runnable += d;
		/* 128 bits: d * 2^20 * 32 overflows u64 after ~6 days. */
		num = (unsigned __int128)d * VT_SCALE * v->cfg.n_vcpus +
		      c->vt_rem;
		c->vt += (uint64_t)(num / v->cfg.shares);
		c->vt_rem = (uint64_t)(num % v->cfg.shares);
		p->pcpus[c->pcpu].left -= min_u64(p->pcpus[c->pcpu].left, d);
		break;
	case SCHED_READY:
		c->st.ready_us += d;
		if (c->throttled)
			c->st.limited_us += d;
		v->win_runnable += d;
		break;
	case SCHED_COSTOP:
		c->st.costop_us += d;
		v->win_runnable += d;
		break;
	default:
		c->st.wait_us += d;
		c->progress += d;
		break;
	}
}

static void charge_to(struct sched_policy *p, uint64_t t)
{
	for (int i = 0; i < (int)p->n_vms; i++) {
		struct sched_vm *v = &p->vms[i];

		if (!v->used)
			continue;
		for (unsigned int j = 0; j < v->cfg.n_vcpus; j++)
			charge_vcpu(p, v, &v->vcpus[j], t);
	}
}

/* Decide READY / COSTOP / throttled for every runnable, waiting vCPU. */
static void classify(struct sched_policy *p)
{
	for (int i = 0; i < (int)p->n_vms; i++) {
		struct sched_vm *v = &p->vms[i];
		bool thr;
		uint64_t minp;

		if (!v->used)
			continue;
		thr = vm_throttled(p, i);
		minp = min_progress(v);
		for (unsigned int j = 0; j < v->cfg.n_vcpus; j++) {
			struct sched_vcpu *c = &v->vcpus[j];

			if (c->state != SCHED_READY && c->state != SCHED_COSTOP)
				continue;
			c->throttled = thr;
			/* Throttling wins: the whole VM waits anyway. */
			if (!thr && p->prm.costop_us &&
			    c->progress - minp >= p->prm.costop_us)
				c->state = SCHED_COSTOP;
			else
				c->state = SCHED_READY;
		}
	}
}

/*
 * Only differences of virtual time matter. Rebase all of it on the least
 * value among runnable vCPUs so it cannot grow without bound; waiting vCPUs
 * below that base go to 0, which sched_wake() lifts to the base anyway.
 */
static void normalise_vt(struct sched_policy *p)
{
	uint64_t base = UINT64_MAX;

	for (int i = 0; i < (int)p->n_vms; i++) {
		const struct sched_vm *v = &p->vms[i];

		if (!v->used)
			continue;
		for (unsigned int j = 0; j < v->cfg.n_vcpus; j++)
			if (runnable(&v->vcpus[j]))
				base = min_u64(base, v->vcpus[j].vt);
	}
	if (base == UINT64_MAX || base == 0)
		return;
	for (int i = 0; i < (int)p->n_vms; i++) {
		struct sched_vm *v = &p->vms[i];

		if (!v->used)
			continue;
		for (unsigned int j = 0; j < v->cfg.n_vcpus; j++) {
			struct sched_vcpu *c = &v->vcpus[j];

			c->vt = c->vt > base ? c->vt - base : 0;
		}
	}
}

/* Window end at t: demand and entitlements for reporting, new budgets. */
static void roll(struct sched_policy *p, uint64_t t)
{
	struct sched_alloc *a = p->roll_alloc;
	int *idx = p->roll_idx;
	unsigned int n = 0;
	uint64_t len = t - p->win_start;

	for (int i = 0; i < (int)p->n_vms; i++) {
		struct sched_vm *v = &p->vms[i];

		if (!v->used)
			continue;
		v->demand_mhz = len ? min_u64(v->win_runnable *
						      p->prm.mhz_per_pcpu / len,
					      v->cfg.n_vcpus *
						      p->prm.mhz_per_pcpu)
				    : 0;
		v->win_used = 0;
		v->win_runnable = 0;
		a[n] = (struct sched_alloc){
			.shares = v->cfg.shares,
			.reservation_mhz = v->cfg.reservation_mhz,
			.limit_mhz = v->cfg.limit_mhz,
			.demand_mhz = v->demand_mhz,
		};
		idx[n++] = i;
	}
	sched_entitlements(a, n, p->capacity_mhz);
	for (unsigned int k = 0; k < n; k++)
		p->vms[idx[k]].entitled_mhz = a[k].entitled_mhz;
	p->win_start = t;
	normalise_vt(p);
}

void sched_advance(struct sched_policy *p, uint64_t now)
{
	uint64_t w = p->prm.window_us;

	if (now < p->now)
		now = p->now; /* never go backwards */
	while (now - p->win_start >= w) {
		charge_to(p, p->win_start + w);
		roll(p, p->win_start + w);
		classify(p);
		if (now - p->win_start >= 2 * w) {
			/* Long gap (nothing called us): skip to the window
			 * before the current one in a single step. */
			uint64_t t = p->win_start +
				     ((now - p->win_start) / w - 1) * w;

			charge_to(p, t);
			roll(p, t);
			classify(p);
		}
	}
	charge_to(p, now);
	p->now = now;
	classify(p);
}

/* --- VMs ---------------------------------------------------------------- */

static int check_config(const struct sched_policy *p,
			const struct sched_vm_config *cfg, uint64_t reserved,
			struct error *err)
{
	uint64_t usable;

	if (cfg->n_vcpus == 0 || cfg->n_vcpus > SCHED_MAX_VCPUS)
		return error_set(err, EINVAL, "%u vCPUs: expected 1..%u",
				 cfg->n_vcpus, SCHED_MAX_VCPUS);
	if (cfg->shares == 0 || cfg->shares > SCHED_MAX_SHARES)
		return error_set(err, EINVAL, "shares %u: expected 1..%u",
				 cfg->shares, SCHED_MAX_SHARES);
	if (cfg->limit_mhz && cfg->limit_mhz < cfg->reservation_mhz)
		return error_set(err, EINVAL,
				 "limit %llu MHz is below the reservation "
				 "%llu MHz",
				 (unsigned long long)cfg->limit_mhz,
				 (unsigned long long)cfg->reservation_mhz);
	usable = cfg->n_vcpus * p->prm.mhz_per_pcpu;
	if (cfg->reservation_mhz > usable)
		return error_set(err, EINVAL,
				 "reservation %llu MHz exceeds what %u vCPUs "
				 "can use (%llu MHz)",
				 (unsigned long long)cfg->reservation_mhz,
				 cfg->n_vcpus, (unsigned long long)usable);
	if (cfg->reservation_mhz > p->capacity_mhz - reserved)
		return error_set(err, ENOSPC,
				 "reservation %llu MHz does not fit: %llu MHz "
				 "capacity, %llu MHz already reserved",
				 (unsigned long long)cfg->reservation_mhz,
				 (unsigned long long)p->capacity_mhz,
				 (unsigned long long)reserved);
	return 0;
}

static bool valid_vcpu(const struct sched_policy *p, int vm, int vcpu)
{
	return vm >= 0 && vm < (int)p->n_vms && p->vms[vm].used && vcpu >= 0 &&
	       (unsigned int)vcpu < p->vms[vm].cfg.n_vcpus;
}

/* Room for one more VM id: n_vms < cap_vms afterwards, or -ENOMEM. */
static int grow(struct sched_policy *p, struct error *err)
{
	uint32_t cap = p->cap_vms ? p->cap_vms * 2 : 8;
	struct sched_vm *vms;
	struct sched_alloc *a;
	int *idx;

	if (cap > SCHED_MAX_VMS)
		cap = SCHED_MAX_VMS;
	vms = realloc(p->vms, cap * sizeof(*vms));
	if (vms)
		p->vms = vms;
	a = realloc(p->roll_alloc, cap * sizeof(*a));
	if (a)
		p->roll_alloc = a;
	idx = realloc(p->roll_idx, cap * sizeof(*idx));
	if (idx)
		p->roll_idx = idx;
	if (!vms || !a || !idx)
		return error_set(err, ENOMEM, "no memory for %u VMs", cap);
	memset(vms + p->cap_vms, 0, (cap - p->cap_vms) * sizeof(*vms));
	p->cap_vms = cap;
	return 0;
}

int sched_admit(struct sched_policy *p, const struct sched_vm_config *cfg,
		uint64_t now, struct error *err)
{
	int rc = check_config(p, cfg, p->reserved_mhz, err);
	uint64_t all = p->prm.n_pcpus == 64 ? UINT64_MAX
					    : (1ull << p->prm.n_pcpus) - 1;
	uint32_t i = 0;
	struct sched_vm *v;

	if (rc)
		return rc;
	while (i < p->n_vms && p->vms[i].used)
		i++;
	if (i == p->n_vms) {
		if (i == SCHED_MAX_VMS)
			return error_set(err, EMFILE,
					 "too many VMs (at most %d)",
					 SCHED_MAX_VMS);
		if (i == p->cap_vms && (rc = grow(p, err)) < 0)
			return rc;
		p->n_vms++;
	}
	sched_advance(p, now);
	v = &p->vms[i];
	memset(v, 0, sizeof(*v));
	v->used = true;
	v->cfg = *cfg;
	for (unsigned int j = 0; j < cfg->n_vcpus; j++) {
		v->vcpus[j].pcpu = -1;
		v->vcpus[j].affinity = all;
		v->vcpus[j].since = p->now;
	}
	p->reserved_mhz += cfg->reservation_mhz;
	return (int)i;
}

int sched_set_qos(struct sched_policy *p, int vm,
		  const struct sched_vm_config *cfg, struct error *err)
{
	struct sched_vm *v;
	int rc;

	if (!valid_vcpu(p, vm, 0))
		return error_set(err, ENOENT, "no VM %d", vm);
	v = &p->vms[vm];
	if (cfg->n_vcpus != v->cfg.n_vcpus)
		return error_set(err, EINVAL,
				 "vCPU count cannot change (%u, not %u)",
				 v->cfg.n_vcpus, cfg->n_vcpus);
	rc = check_config(p, cfg, p->reserved_mhz - v->cfg.reservation_mhz,
			  err);
	if (rc)
		return rc;
	p->reserved_mhz -= v->cfg.reservation_mhz;
	p->reserved_mhz += cfg->reservation_mhz;
	v->cfg = *cfg;
	classify(p);
	return 0;
}

int sched_remove(struct sched_policy *p, int vm)
{
	if (!valid_vcpu(p, vm, 0))
		return -ENOENT;
	for (unsigned int i = 0; i < p->prm.n_pcpus; i++)
		if (p->pcpus[i].vm == vm)
			return -EBUSY;
	p->reserved_mhz -= p->vms[vm].cfg.reservation_mhz;
	p->vms[vm].used = false;
	classify(p);
	return 0;
}

int sched_set_affinity(struct sched_policy *p, int vm, int vcpu, uint64_t mask,
		       struct error *err)
{
	uint64_t all = p->prm.n_pcpus == 64 ? UINT64_MAX
					    : (1ull << p->prm.n_pcpus) - 1;

	if (!valid_vcpu(p, vm, vcpu))
		return error_set(err, ENOENT, "no vCPU %d of VM %d", vcpu, vm);
	if (!(mask & all))
		return error_set(err, EINVAL,
				 "affinity %#llx names none of the %u pCPUs",
				 (unsigned long long)mask, p->prm.n_pcpus);
	p->vms[vm].vcpus[vcpu].affinity = mask & all;
	return 0;
}

/* --- Run-queue decisions ------------------------------------------------ */

void sched_wake(struct sched_policy *p, int vm, int vcpu, uint64_t now)
{
	struct sched_vcpu *c;
	uint64_t min_vt = UINT64_MAX;

	if (!valid_vcpu(p, vm, vcpu))
		return;
	c = &p->vms[vm].vcpus[vcpu];
	if (c->state != SCHED_WAIT)
		return;
	sched_advance(p, now);
	/* No credit for sleeping: start no earlier than the least virtual
	 * time among runnable vCPUs, or a sleeper would monopolise pCPUs. */
	for (int i = 0; i < (int)p->n_vms; i++) {
		const struct sched_vm *v = &p->vms[i];

		if (!v->used)
			continue;
		for (unsigned int j = 0; j < v->cfg.n_vcpus; j++)
			if (runnable(&v->vcpus[j]))
				min_vt = min_u64(min_vt, v->vcpus[j].vt);
	}
	if (min_vt != UINT64_MAX && c->vt < min_vt) {
		c->vt = min_vt;
		c->vt_rem = 0;
	}
	c->state = SCHED_READY;
	classify(p);
}

void sched_block(struct sched_policy *p, int vm, int vcpu, uint64_t now)
{
	struct sched_vcpu *c;

	if (!valid_vcpu(p, vm, vcpu))
		return;
	c = &p->vms[vm].vcpus[vcpu];
	if (c->state != SCHED_READY && c->state != SCHED_COSTOP)
		return; /* a running vCPU blocks through sched_put() */
	sched_advance(p, now);
	c->state = SCHED_WAIT;
	c->throttled = false;
	classify(p);
}

int sched_pick(struct sched_policy *p, unsigned int pcpu, uint64_t now,
	       struct sched_decision *d)
{
	int best_vm = -1, best_vcpu = -1;
	bool best_boost = false, waiting_here = false;
	uint64_t best_vt = 0, best_slack = 0, slice, minp;
	struct sched_vm *v;
	struct sched_vcpu *c;

	if (pcpu >= p->prm.n_pcpus)
		return -EINVAL;
	if (p->pcpus[pcpu].vm >= 0)
		return -EBUSY;
	sched_advance(p, now);
	for (int i = 0; i < (int)p->n_vms; i++) {
		bool boost;
		uint64_t slack;

		v = &p->vms[i];
		if (!v->used)
			continue;
		boost = vm_boosted(p, i);
		slack = boost ? vm_slack(p, i) : 0;
		for (unsigned int j = 0; j < v->cfg.n_vcpus; j++) {
			c = &v->vcpus[j];
			if (!(c->affinity >> pcpu & 1) || !runnable(c) ||
			    c->state == SCHED_RUN)
				continue;
			if (c->state != SCHED_READY || c->throttled) {
				waiting_here = true;
				continue;
			}
			/* Boosted first (the least slack first), then least
			 * virtual time; ties go to the lowest index
			 * (deterministic). */
			if (best_vm < 0 || (boost && !best_boost) ||
			    (boost && best_boost && slack < best_slack) ||
			    (boost == best_boost && slack == best_slack &&
			     c->vt < best_vt)) {
				best_vm = i;
				best_vcpu = (int)j;
				best_boost = boost;
				best_slack = slack;
				best_vt = c->vt;
			}
		}
	}
	if (best_vm < 0) {
		d->vm = d->vcpu = -1;
		/* Throttled or co-stopped vCPUs may become eligible without
		 * a wake-up: look again after a quantum or the window end. */
		d->slice_us = waiting_here ? min_u64(p->prm.quantum_us,
						     p->win_start +
							     p->prm.window_us -
							     p->now)
					   : SCHED_FOREVER;
		return 0;
	}
	v = &p->vms[best_vm];
	c = &v->vcpus[best_vcpu];
	slice = p->prm.quantum_us;
	if (p->prm.costop_us && v->cfg.n_vcpus > 1) {
		/* Stop before running costop_us ahead of the slowest
		 * runnable sibling (classify() keeps c below that). */
		minp = min_progress(v);
		slice = min_u64(slice, p->prm.costop_us - (c->progress - minp));
		if (slice < p->prm.min_slice_us)
			slice = p->prm.min_slice_us;
	}
	/* Budgets last: the limit is a hard cap, min_slice_us or not. */
	if (best_boost)
		slice = min_u64(slice, budget_us(p, v->cfg.reservation_mhz) -
					       v->win_used -
					       committed(p, best_vm));
	if (v->cfg.limit_mhz)
		slice = min_u64(slice, budget_us(p, v->cfg.limit_mhz) -
					       v->win_used -
					       committed(p, best_vm));
	c->state = SCHED_RUN;
	c->throttled = false;
	c->pcpu = (int16_t)pcpu;
	p->pcpus[pcpu].vm = (int16_t)best_vm;
	p->pcpus[pcpu].vcpu = (int16_t)best_vcpu;
	p->pcpus[pcpu].left = slice;
	d->vm = best_vm;
	d->vcpu = best_vcpu;
	d->slice_us = slice;
	classify(p);
	return 0;
}

void sched_put(struct sched_policy *p, unsigned int pcpu, uint64_t now,
	       bool still_runnable)
{
	struct sched_pcpu *pc;
	struct sched_vcpu *c;

	if (pcpu >= p->prm.n_pcpus || p->pcpus[pcpu].vm < 0)
		return;
	sched_advance(p, now);
	pc = &p->pcpus[pcpu];
	c = &p->vms[pc->vm].vcpus[pc->vcpu];
	c->state = still_runnable ? SCHED_READY : SCHED_WAIT;
	c->pcpu = -1;
	pc->vm = pc->vcpu = -1;
	pc->left = 0;
	classify(p);
}

/* --- Statistics ---------------------------------------------------------- */

static void stats_add(struct sched_stats *a, const struct sched_stats *b)
{
	a->used_us += b->used_us;
	a->ready_us += b->ready_us;
	a->wait_us += b->wait_us;
	a->costop_us += b->costop_us;
	a->limited_us += b->limited_us;
}

void sched_get_stats(const struct sched_policy *p, int vm, int vcpu,
		     struct sched_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!valid_vcpu(p, vm, 0))
		return;
	if (vcpu >= 0) {
		if (valid_vcpu(p, vm, vcpu))
			*st = p->vms[vm].vcpus[vcpu].st;
		return;
	}
	for (unsigned int j = 0; j < p->vms[vm].cfg.n_vcpus; j++)
		stats_add(st, &p->vms[vm].vcpus[j].st);
}

static double pct(uint64_t now, uint64_t before, uint64_t interval)
{
	return now > before ? 100.0 * (double)(now - before) / (double)interval
			    : 0.0;
}

void sched_stats_pct(const struct sched_stats *now,
		     const struct sched_stats *before, uint64_t interval_us,
		     struct sched_pct *out)
{
	static const struct sched_stats zero;

	if (!before)
		before = &zero;
	if (interval_us == 0) {
		memset(out, 0, sizeof(*out));
		return;
	}
	out->used = pct(now->used_us, before->used_us, interval_us);
	out->ready = pct(now->ready_us, before->ready_us, interval_us);
	out->wait = pct(now->wait_us, before->wait_us, interval_us);
	out->costop = pct(now->costop_us, before->costop_us, interval_us);
	out->limited = pct(now->limited_us, before->limited_us, interval_us);
}
