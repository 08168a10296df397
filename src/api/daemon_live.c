/*
 * The figures a running VM's worker holds (vCPU thread ids, instructions
 * retired, disk, NIC and memory counters), asked for without d->lock.
 *
 * Asking a worker is a round trip to another process, and one that does
 * not answer costs its call deadline: under d->lock that would stall
 * every API call, the VM list included. So the VMs to ask are picked
 * under the lock (a reference on the dvm and one on its machine, which
 * outlives a stop), asked with no lock held, and the caller builds its
 * reply under d->lock from these figures: the figures of a VM stopped or
 * restarted meanwhile are dropped (dvm_live_of gives NULL).
 *
 * Also the VM list's summary view (GET /v1/vms?view=summary, the web
 * console's one request for its list page): the scheduler's figures
 * only, which live in this process.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/daemon_impl.h"
#include "util/clock.h"
#include "vmm/sched.h"

int dvm_live_collect(struct daemon *d, struct dvm *only, struct dvm_live_set *s)
{
	size_t cap = 0, n = 0;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next)
		cap += v->vm != NULL;
	if (only)
		cap = only->vm != NULL;
	s->a = cap ? calloc(cap, sizeof(*s->a)) : NULL;
	if (cap && !s->a) {
		pthread_mutex_unlock(&d->lock);
		return -ENOMEM;
	}
	for (struct dvm *v = only ? only : d->vms; v && n < cap;
	     v = only ? NULL : v->next) {
		if (!v->vm)
			continue;
		v->refs++;
		s->a[n].v = v;
		s->a[n].vm = vm_hold(v->vm);
		n++;
	}
	pthread_mutex_unlock(&d->lock);
	s->n = n;

	/* no lock: a worker's answer takes what it takes */
	for (size_t i = 0; i < n; i++) {
		struct dvm_live *l = &s->a[i];
		unsigned k = vm_vcpu_tids(l->vm, l->tids, VIRT_MAX_HARTS);

		l->n_vcpus = k < VIRT_MAX_HARTS ? k : VIRT_MAX_HARTS;
		for (unsigned c = 0; c < l->n_vcpus; c++)
			l->instret[c] = vm_vcpu_instret(l->vm, c);
		vm_dev_stats(l->vm, &l->ds);
	}
	return 0;
}

const struct dvm_live *dvm_live_of(const struct dvm_live_set *s,
				   const struct dvm *v)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->a[i].v == v)
			return v->vm == s->a[i].vm ? &s->a[i] : NULL;
	return NULL;
}

void dvm_live_free(struct daemon *d, struct dvm_live_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		vm_release(s->a[i].vm);
		dvm_put(d, s->a[i].v);
	}
	free(s->a);
	memset(s, 0, sizeof(*s));
}

/* ---- GET /v1/vms?view=summary ---------------------------------------------- */

static json_t *summary_json(struct daemon *d, const struct dvm *v,
			    double *used_sum)
{
	bool live = v->state == VM_STATE_RUNNING || v->state == VM_STATE_PAUSED;
	json_t *o = json_pack(
		"{s:I, s:s, s:s, s:i, s:I, s:f, s:b}", "id", (json_int_t)v->id,
		"name", v->def.name, "state", vm_state_name(v->state), "cpus",
		(int)v->def.cpus, "memory", (json_int_t)v->def.memory,
		"uptime_s",
		live && v->vm
			? (double)(clock_monotonic_ns() - v->started_ns) / 1e9
			: 0.0,
		"template", v->is_template);
	int id = v->vm && v->sched.handle ? vmk_sched_vm_id(v->sched.handle)
					  : -1;

	if (o && id >= 0 && d->sched) {
		struct sched_pct pct = { 0 };

		vmk_sched_vm_pct(d->sched, id, -1, &pct);
		json_object_set_new(o, "used_pct", json_real(pct.used));
		json_object_set_new(o, "ready_pct", json_real(pct.ready));
		*used_sum += pct.used;
	}
	return o;
}

int daemon_vm_summary(struct daemon *d, json_t **out, struct error *err)
{
	json_t *arr = json_array();
	double used = 0;
	uint64_t pcpus = d->cfg.pcpus ? d->cfg.pcpus : vmk_host_pcpus();
	char host[256] = "";

	if (!arr)
		return error_set(err, ENOMEM, "out of memory");
	if (d->sched) {
		struct sched_params prm;

		vmk_sched_params(d->sched, &prm);
		pcpus = prm.n_pcpus;
	}
	gethostname(host, sizeof(host) - 1);
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next)
		if (!v->deleted)
			json_array_append_new(arr, summary_json(d, v, &used));
	pthread_mutex_unlock(&d->lock);
	*out = json_pack("{s:o, s:{s:s, s:I, s:f}}", "vms", arr, "host",
			 "hostname", host, "pcpus", (json_int_t)pcpus,
			 "used_pct", pcpus ? used / (double)pcpus : 0.0);
	return *out ? 0 : error_set(err, ENOMEM, "out of memory");
}
