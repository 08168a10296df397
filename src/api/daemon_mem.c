/*
 * The daemon's memory manager: budget, admission and the policy loop that
 * drives each VM's balloon toward its target. See daemon_mem.h and
 * docs/memory.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/daemon_mem.h"
#include "api/metrics.h"
#include "vmm/qos.h"
#include "util/log.h"
#include "vmm/mem_pool.h"
#include "vmm/mem_reclaim.h"
#include "vmm/vmproc.h"

#define LOG	  "mem"
#define PAGE	  4096ull
#define MIB_PAGES 256ull

/* One admitted VM. */
struct dm_vm {
	struct dvm *v; /* identity only: dereferenced under a reference */
	struct mem_vm_config cfg;
	struct virt_mem_stats raw;  /* last figures of its worker */
	struct mem_reclaim_vm last; /* last decision */
	bool measured, decided;
	int send_err;  /* last balloon request failed with this */
	int limit_err; /* last reclaim limit request failed with this */
};

struct daemon_mem {
	pthread_mutex_t lock; /* the ledger, prm; a leaf lock */
	pthread_cond_t cond;
	pthread_t thread;
	bool started, closing, poke;
	struct mem_params prm;
	struct dm_vm *vms;
	unsigned n, cap;
	uint64_t rounds;
};

uint64_t daemon_mem_default_budget(uint64_t host_ram)
{
	uint64_t reserve = host_ram / 10;

	if (reserve < (1ull << 30))
		reserve = 1ull << 30;
	if (reserve > host_ram / 2)
		reserve = host_ram / 2;
	return host_ram - reserve;
}

static uint64_t host_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

static void vm_config(const struct vmdef *def, struct mem_vm_config *c)
{
	uint64_t shares = vmdef_mem_shares(def);

	c->size_pages = def->memory / PAGE;
	c->shares = shares > UINT32_MAX ? UINT32_MAX : (uint32_t)shares;
	c->reservation_pages = def->mem_reservation / PAGE;
	c->limit_pages = def->mem_limit / PAGE;
}

static struct dm_vm *find(struct daemon_mem *m, const struct dvm *v)
{
	for (unsigned i = 0; i < m->n; i++)
		if (m->vms[i].v == v)
			return &m->vms[i];
	return NULL;
}

/* The configurations of the admitted VMs but skip (m->lock held); *n gets
 * their count. malloc'd (NULL with none or out of memory). */
static struct mem_vm_config *admitted(struct daemon_mem *m,
				      const struct dvm *skip, unsigned *n)
{
	struct mem_vm_config *c = calloc(m->n ? m->n : 1, sizeof(*c));

	*n = 0;
	for (unsigned i = 0; c && i < m->n; i++)
		if (m->vms[i].v != skip)
			c[(*n)++] = m->vms[i].cfg;
	return c;
}

int daemon_mem_attach(struct daemon *d, struct dvm *v, const struct vmdef *def,
		      struct error *err)
{
	struct daemon_mem *m = d->mem;
	struct mem_vm_config cand, *run;
	unsigned n;
	int r;

	if (!m)
		return 0;
	vm_config(def, &cand);
	pthread_mutex_lock(&m->lock);
	run = admitted(m, v, &n);
	r = run ? mem_admit(&m->prm, run, n, &cand, err)
		: error_set(err, ENOMEM, "out of memory");
	free(run);
	if (!r && !find(m, v) && m->n == m->cap) {
		unsigned cap = m->cap ? m->cap * 2 : 16;
		struct dm_vm *x = realloc(m->vms, cap * sizeof(*x));

		if (x) {
			m->vms = x;
			m->cap = cap;
		} else {
			r = error_set(err, ENOMEM, "out of memory");
		}
	}
	if (!r) {
		struct dm_vm *e = find(m, v);

		if (!e)
			e = &m->vms[m->n++];
		*e = (struct dm_vm){ .v = v, .cfg = cand };
	}
	pthread_mutex_unlock(&m->lock);
	if (r == -ENOSPC) { /* name the VM the reservation is for */
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		error_set(err, ENOSPC, "cannot start %s: %s", def->name, why);
	}
	return r;
}

void daemon_mem_detach(struct daemon *d, struct dvm *v)
{
	struct daemon_mem *m = d->mem;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	struct dm_vm *e = find(m, v);
	if (e)
		*e = m->vms[--m->n];
	pthread_mutex_unlock(&m->lock);
}

int daemon_mem_set_qos(struct daemon *d, struct dvm *v, const struct vmdef *def,
		       struct error *err)
{
	struct daemon_mem *m = d->mem;
	struct mem_vm_config cand, *run;
	unsigned n;
	int r = 0;

	if (!m)
		return 0;
	vm_config(def, &cand);
	pthread_mutex_lock(&m->lock);
	struct dm_vm *e = find(m, v);
	if (e) {
		run = admitted(m, v, &n);
		r = run ? mem_admit(&m->prm, run, n, &cand, err)
			: error_set(err, ENOMEM, "out of memory");
		free(run);
		if (!r)
			e->cfg = cand;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

static uint64_t reserved_pages(const struct daemon_mem *m)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < m->n; i++)
		sum += m->vms[i].cfg.reservation_pages;
	return sum;
}

int daemon_mem_set_budget(struct daemon *d, uint64_t bytes, struct error *err)
{
	struct daemon_mem *m = d->mem;
	uint64_t pages = bytes / PAGE;

	if (!m)
		return error_set(err, EINVAL, "no memory manager");
	if (pages < 16 * MIB_PAGES || pages > QOS_MAX_CAPACITY)
		return error_set(
			err, EINVAL,
			"memory_budget %lluM: expected 16M .. %lluM",
			(unsigned long long)(bytes >> 20),
			(unsigned long long)(QOS_MAX_CAPACITY / MIB_PAGES));
	pthread_mutex_lock(&m->lock);
	uint64_t res = reserved_pages(m);
	int r = 0;
	if (pages < res)
		r = error_set(err, EINVAL,
			      "memory_budget %lluM: below the %lluM reserved "
			      "by %u running VMs",
			      (unsigned long long)(pages / MIB_PAGES),
			      (unsigned long long)(res / MIB_PAGES), m->n);
	else
		m->prm.budget_pages = pages;
	m->poke = !r;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (!r)
		log_info(LOG, "memory budget %lluM",
			 (unsigned long long)(pages / MIB_PAGES));
	return r;
}

/* ---- the loop ------------------------------------------------------------ */

struct dm_run {
	struct dvm *v;
	unsigned gen;
	bool measured;
	struct virt_mem_stats raw;
	uint64_t send_pages;
	bool send;
	uint64_t limit_pages; /* the reclaim limit to send */
	bool send_limit;
	char name[VMDEF_NAME_MAX + 1]; /* for the log, read under op_lock */
};

/* The worker's figures as the policy's (pages; untrusted values are
 * clamped by the policy). */
static void figures(const struct virt_mem_stats *s, struct mem_vm_figures *f)
{
	*f = (struct mem_vm_figures){
		.size_pages = s->ram_pages,
		.private_pages = s->private_pages,
		.zero_shared_pages = s->zero_shared_pages,
		.cow_breaks = s->cow_breaks,
		.has_balloon = s->has_balloon,
		.guest_stats = s->guest_stats,
		.balloon_target_pages = s->balloon_target_pages,
		.balloon_actual_pages = s->balloon_actual_pages,
		.guest_total_pages = s->guest_total_bytes / PAGE,
		.guest_avail_pages = s->guest_avail_bytes / PAGE,
		.guest_free_pages = s->guest_free_bytes / PAGE,
		.guest_stats_age_ms = s->guest_stats_age_ms,
		.reclaim_limit_pages = s->policy_limit_pages,
	};
}

/* Measured figures into the ledger, decide, and mark what to send. */
static void decide(struct daemon_mem *m, struct dm_run *run, unsigned n_run)
{
	pthread_mutex_lock(&m->lock);
	struct mem_reclaim_vm *rv = calloc(m->n ? m->n : 1, sizeof(*rv));
	if (!rv) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	for (unsigned i = 0; i < n_run; i++) {
		struct dm_vm *e = find(m, run[i].v);
		if (e && run[i].measured) {
			e->raw = run[i].raw;
			e->measured = true;
		}
	}
	for (unsigned i = 0; i < m->n; i++) {
		rv[i].cfg = m->vms[i].cfg;
		figures(&m->vms[i].raw, &rv[i].fig);
	}
	mem_reclaim_decide(&m->prm, rv, m->n);
	for (unsigned i = 0; i < m->n; i++) {
		m->vms[i].last = rv[i];
		m->vms[i].decided = true;
	}
	for (unsigned i = 0; i < n_run; i++) {
		struct dm_vm *e = find(m, run[i].v);
		if (!e || !run[i].measured)
			continue;
		run[i].send = e->last.send;
		run[i].send_pages = e->last.balloon_pages;
		run[i].send_limit = e->last.send_limit;
		run[i].limit_pages = e->last.reclaim_limit_pages;
	}
	m->rounds++;
	pthread_mutex_unlock(&m->lock);
	free(rv);
}

static void record_send(struct daemon_mem *m, struct dm_run *x, int r)
{
	pthread_mutex_lock(&m->lock);
	struct dm_vm *e = find(m, x->v);
	bool first = e && e->send_err != r;
	if (e)
		e->send_err = r;
	pthread_mutex_unlock(&m->lock);
	if (r && first) /* once per change, not every round */
		log_warn(LOG, "%s: balloon to %lluM: %s", x->name,
			 (unsigned long long)(x->send_pages / MIB_PAGES),
			 strerror(-r));
	else if (!r)
		log_debug(LOG, "%s: balloon %lluM", x->name,
			  (unsigned long long)(x->send_pages / MIB_PAGES));
}

static void record_limit(struct daemon_mem *m, struct dm_run *x, int r)
{
	pthread_mutex_lock(&m->lock);
	struct dm_vm *e = find(m, x->v);
	bool first = e && e->limit_err != r;
	if (e)
		e->limit_err = r;
	pthread_mutex_unlock(&m->lock);
	if (r && first)
		log_warn(LOG, "%s: reclaim limit %lluM: %s", x->name,
			 (unsigned long long)(x->limit_pages / MIB_PAGES),
			 strerror(-r));
	else if (!r)
		log_debug(LOG, "%s: reclaim limit %lluM", x->name,
			  (unsigned long long)(x->limit_pages / MIB_PAGES));
}

void daemon_mem_tick(struct daemon *d)
{
	struct daemon_mem *m = d->mem;
	struct dm_run *run = NULL;
	unsigned n = 0, cap = 0;

	if (!m)
		return;
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next)
		cap += v->vm != NULL;
	run = cap ? calloc(cap, sizeof(*run)) : NULL;
	for (struct dvm *v = d->vms; run && v && n < cap; v = v->next) {
		if (!v->vm)
			continue;
		v->refs++;
		run[n++] = (struct dm_run){ .v = v, .gen = v->gen };
	}
	pthread_mutex_unlock(&d->lock);

	/* measure: op_lock keeps the machine (v->vm) alive meanwhile */
	for (unsigned i = 0; i < n; i++) {
		struct dvm *v = run[i].v;
		if (pthread_mutex_trylock(&v->op_lock))
			continue;
		if (v->vm && v->gen == run[i].gen && !v->deleted) {
			vm_mem_stats(v->vm, &run[i].raw);
			run[i].measured = run[i].raw.ram_pages != 0;
		}
		pthread_mutex_unlock(&v->op_lock);
	}
	decide(m, run, n);
	for (unsigned i = 0; i < n; i++) {
		struct dvm *v = run[i].v;
		if ((!run[i].send && !run[i].send_limit) ||
		    pthread_mutex_trylock(&v->op_lock))
			continue;
		int r = 0, rl = 0;
		bool live = v->vm && v->gen == run[i].gen;
		if (live && run[i].send)
			r = vm_balloon_set(v->vm, run[i].send_pages);
		/* what the balloon cannot take, compression reclaims */
		if (live && run[i].send_limit)
			rl = vm_mem_target_set(v->vm, run[i].limit_pages);
		snprintf(run[i].name, sizeof(run[i].name), "%s", v->def.name);
		pthread_mutex_unlock(&v->op_lock);
		if (run[i].send)
			record_send(m, &run[i], r);
		if (run[i].send_limit)
			record_limit(m, &run[i], rl);
	}
	for (unsigned i = 0; i < n; i++)
		dvm_put(d, run[i].v);
	free(run);
}

static void *loop_thread(void *arg)
{
	struct daemon *d = arg;
	struct daemon_mem *m = d->mem;

	pthread_mutex_lock(&m->lock);
	while (!m->closing) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += DAEMON_MEM_INTERVAL_MS / 1000;
		ts.tv_nsec += (long)(DAEMON_MEM_INTERVAL_MS % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		int w = 0;
		while (!m->closing && !m->poke && w == 0)
			w = pthread_cond_timedwait(&m->cond, &m->lock, &ts);
		if (m->closing)
			break;
		m->poke = false;
		pthread_mutex_unlock(&m->lock);
		daemon_mem_tick(d);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int daemon_mem_open(struct daemon *d, struct error *err)
{
	struct daemon_mem *m = calloc(1, sizeof(*m));
	uint64_t budget = d->cfg.mem_budget;

	if (!m)
		return error_set(err, ENOMEM, "out of memory");
	if (!budget)
		budget = daemon_mem_default_budget(host_ram());
	if (budget / PAGE > QOS_MAX_CAPACITY)
		budget = QOS_MAX_CAPACITY * PAGE;
	m->prm.budget_pages = budget / PAGE;
	m->prm.idle_tax_pct = MEM_POLICY_TAX_DEFAULT;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	d->mem = m;
	if (pthread_create(&m->thread, NULL, loop_thread, d)) {
		d->mem = NULL;
		pthread_mutex_destroy(&m->lock);
		pthread_cond_destroy(&m->cond);
		free(m);
		return error_set(err, EAGAIN,
				 "cannot start the memory policy thread");
	}
	m->started = true;
	log_info(LOG, "memory budget %lluM",
		 (unsigned long long)(m->prm.budget_pages / MIB_PAGES));
	return 0;
}

void daemon_mem_close(struct daemon *d)
{
	struct daemon_mem *m = d->mem;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->closing = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->started)
		pthread_join(m->thread, NULL);
	d->mem = NULL;
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	free(m->vms);
	free(m);
}

/* ---- figures -------------------------------------------------------------- */

void daemon_mem_host_json(struct daemon *d, json_t *host)
{
	struct daemon_mem *m = d->mem;
	uint64_t budget = 0, res = 0;

	if (m) {
		pthread_mutex_lock(&m->lock);
		budget = m->prm.budget_pages * PAGE;
		res = reserved_pages(m) * PAGE;
		pthread_mutex_unlock(&m->lock);
	}
	json_object_set_new(host, "memory_budget",
			    json_integer((json_int_t)budget));
	json_object_set_new(host, "memory_reserved",
			    json_integer((json_int_t)res));
	struct mem_pool *pool = vmproc_share_pool();
	if (pool) {
		struct mem_pool_stats ps;

		mem_pool_stats(pool, &ps);
		json_object_set_new(
			host, "page_sharing",
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
				  "pool_bytes", (json_int_t)(ps.frames * PAGE),
				  "shared_bytes", (json_int_t)(ps.refs * PAGE),
				  "saved_bytes", (json_int_t)ps.saved_bytes,
				  "compared", (json_int_t)ps.compared,
				  "mismatches", (json_int_t)ps.mismatches,
				  "candidates", (json_int_t)ps.candidates));
	}
}

static json_int_t bytes(uint64_t pages)
{
	return (json_int_t)(pages * PAGE);
}

/* A page count the worker reported, clamped to the VM's size (its words
 * are not trusted). */
static uint64_t in_vm(uint64_t pages, uint64_t size)
{
	return pages > size ? size : pages;
}

json_t *daemon_mem_vm_json(struct daemon *d, struct dvm *v)
{
	struct daemon_mem *m = d->mem;
	json_t *o = NULL;

	if (!m)
		return NULL;
	pthread_mutex_lock(&m->lock);
	struct dm_vm *e = find(m, v);
	if (e) {
		const struct mem_reclaim_vm *l = &e->last;
		const struct virt_mem_stats *s = &e->raw;
		uint64_t size = e->cfg.size_pages;
		uint64_t bt = in_vm(s->balloon_target_pages, size),
			 ba = in_vm(s->balloon_actual_pages, size);

		o = json_pack("{s:I, s:I, s:I, s:I, s:b}", "size", bytes(size),
			      "shares", (json_int_t)e->cfg.shares,
			      "reservation", bytes(e->cfg.reservation_pages),
			      "limit", bytes(e->cfg.limit_pages), "measured",
			      e->measured);
		json_object_set_new(
			o, "target",
			json_integer(
				bytes(e->decided ? l->target_pages : size)));
		json_object_set_new(o, "active",
				    json_integer(bytes(l->active_pages)));
		json_object_set_new(
			o, "consumed",
			json_integer(bytes(in_vm(s->private_pages, size))));
		json_object_set_new(
			o, "zero_shared",
			json_integer(bytes(in_vm(s->zero_shared_pages, size))));
		json_object_set_new(o, "cow_breaks",
				    json_integer((json_int_t)s->cow_breaks));
		/* cross-VM sharing: the daemon's own count of the VM's
		 * references to the pool; COW breaks of them (the worker's) */
		json_object_set_new(
			o, "pool_shared",
			json_integer(bytes(in_vm(s->pool_shared_pages, size))));
		json_object_set_new(
			o, "pool_cow_breaks",
			json_integer((json_int_t)s->pool_cow_breaks));
		/* the daemon's sealed kernel copy: one host copy for all */
		json_object_set_new(o, "kernel_shared",
				    json_integer(bytes(in_vm(
					    s->kernel_shared_pages, size))));
		json_object_set_new(o, "balloon", json_boolean(s->has_balloon));
		json_object_set_new(o, "balloon_target",
				    json_integer(bytes(bt)));
		json_object_set_new(o, "balloon_size", json_integer(bytes(ba)));
		json_object_set_new(
			o, "beyond_balloon",
			json_integer(bytes(e->decided ? l->beyond_balloon_pages
						      : 0)));
		/* compression's limit as the worker holds it, clamped (the
		 * figures of compression are the machine's: daemon_host.c) */
		json_object_set_new(o, "reclaim_limit",
				    json_integer(bytes(in_vm(
					    s->policy_limit_pages, size))));
		if (s->guest_stats)
			json_object_set_new(
				o, "guest",
				json_pack("{s:I, s:I, s:I}", "total",
					  (json_int_t)s->guest_total_bytes,
					  "available",
					  (json_int_t)s->guest_avail_bytes,
					  "free",
					  (json_int_t)s->guest_free_bytes));
	}
	pthread_mutex_unlock(&m->lock);
	return o;
}

void daemon_mem_vm_metrics(struct daemon *d, struct dvm *v,
			   struct metrics_vm *mv)
{
	struct daemon_mem *m = d->mem;

	mv->mem_shares = vmdef_mem_shares(&v->def);
	mv->mem_reservation_bytes = v->def.mem_reservation;
	mv->mem_limit_bytes = v->def.mem_limit;
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	struct dm_vm *e = find(m, v);
	if (e && e->decided) {
		const struct virt_mem_stats *s = &e->raw;
		uint64_t size = e->cfg.size_pages;

		mv->mem_live = true;
		mv->mem_has_balloon = s->has_balloon != 0;
		mv->mem_target_bytes = e->last.target_pages * PAGE;
		mv->mem_active_bytes = e->last.active_pages * PAGE;
		mv->mem_consumed_bytes = in_vm(s->private_pages, size) * PAGE;
		mv->mem_zero_shared_bytes = in_vm(s->zero_shared_pages, size) *
					    PAGE;
		mv->mem_cow_breaks = s->cow_breaks;
		mv->mem_pool_shared_bytes = in_vm(s->pool_shared_pages, size) *
					    PAGE;
		mv->mem_kernel_shared_bytes =
			in_vm(s->kernel_shared_pages, size) * PAGE;
		mv->mem_balloon_target_bytes =
			in_vm(s->balloon_target_pages, size) * PAGE;
		mv->mem_balloon_bytes = in_vm(s->balloon_actual_pages, size) *
					PAGE;
	}
	pthread_mutex_unlock(&m->lock);
}

void daemon_mem_host_metrics(struct daemon *d, struct metrics_host *h)
{
	struct daemon_mem *m = d->mem;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	h->mem_budget_bytes = m->prm.budget_pages * PAGE;
	h->mem_reserved_bytes = reserved_pages(m) * PAGE;
	pthread_mutex_unlock(&m->lock);
	struct mem_pool *pool = vmproc_share_pool();
	if (pool) {
		struct mem_pool_stats ps;

		mem_pool_stats(pool, &ps);
		h->mem_pool_bytes = ps.frames * PAGE;
		h->mem_pool_shared_bytes = ps.refs * PAGE;
		h->mem_pool_saved_bytes = ps.saved_bytes;
	}
}
