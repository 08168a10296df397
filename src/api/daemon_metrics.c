/*
 * The daemon's figures for GET /metrics (api/metrics.h): one consistent
 * snapshot of the host and every VM, taken under d->lock like the
 * esxtop-style stats of daemon_host.c; the workers' figures are asked for
 * just before, without the lock (daemon_live.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "api/daemon_impl.h"
#include "api/daemon_mem.h"
#include "api/metrics.h"
#include "api/daemon_switch.h"
#include "config.h"
#include "util/clock.h"
#include "block/throttle.h"
#include "vmm/sched.h"

static const char *const all_states[] = {
	"defined", "running", "paused", "stopped", "crashed", "suspended",
};
_Static_assert(sizeof(all_states) / sizeof(all_states[0]) == VM_STATE_LAST + 1,
	       "every enum vm_state has a name for softvisor_vm_state");

static void host_figures(struct daemon *d, struct metrics_host *h)
{
	struct sysinfo si;

	memset(h, 0, sizeof(*h));
	h->version = SOFTVISOR_VERSION;
	h->uptime_s = (double)(clock_monotonic_ns() - d->started_ns) / 1e9;
	if (!sysinfo(&si))
		h->memory_bytes = (uint64_t)si.totalram * si.mem_unit;
	h->scheduler = d->sched != NULL;
	if (d->sched) {
		struct sched_params prm;

		vmk_sched_params(d->sched, &prm);
		h->pcpus = prm.n_pcpus;
		h->mhz_per_pcpu = prm.mhz_per_pcpu;
		h->capacity_mhz = vmk_sched_capacity_mhz(d->sched);
		h->reserved_mhz = vmk_sched_reserved_mhz(d->sched);
	} else {
		h->pcpus = d->cfg.pcpus ? d->cfg.pcpus : vmk_host_pcpus();
		h->mhz_per_pcpu = d->cfg.mhz ? d->cfg.mhz : vmk_host_mhz();
		h->capacity_mhz = h->pcpus * h->mhz_per_pcpu;
	}
	daemon_mem_host_metrics(d, h);
}

/* The live figures of a running or paused VM (d->lock held; l: its
 * worker's, asked before the lock was taken, daemon_live.c). */
static void vm_live(struct daemon *d, struct dvm *v, const struct dvm_live *l,
		    struct metrics_vm *m)
{
	static const struct virt_dev_stats none;
	unsigned n = l ? l->n_vcpus : 0;
	int id = v->sched.handle ? vmk_sched_vm_id(v->sched.handle) : -1;
	const struct virt_dev_stats *ds = l ? &l->ds : &none;

	m->live = true;
	m->sched = id >= 0;
	if (n > METRICS_MAX_VCPUS)
		n = METRICS_MAX_VCPUS;
	m->n_vcpus = n;
	for (unsigned c = 0; c < n; c++) {
		struct sched_stats st = { 0 };

		if (id >= 0)
			vmk_sched_vm_stats(d->sched, id, (int)c, &st);
		m->vcpu[c].used_us = st.used_us;
		m->vcpu[c].ready_us = st.ready_us;
		m->vcpu[c].wait_us = st.wait_us;
		m->vcpu[c].costop_us = st.costop_us;
		m->vcpu[c].instret = l->instret[c];
	}
	if (id >= 0)
		vmk_sched_vm_mhz(d->sched, id, &m->entitled_mhz,
				 &m->demand_mhz);

	for (unsigned i = 0; i < ds->n_disks && i < METRICS_MAX_DEVICES; i++) {
		const struct virtio_blk_stats *b = &ds->disk[i];

		m->disk[i] = (struct metrics_disk){
			.rd_ops = b->rd_ops,
			.rd_bytes = b->rd_bytes,
			.wr_ops = b->wr_ops,
			.wr_bytes = b->wr_bytes,
			.flush_ops = b->flush_ops,
			.errors = b->errors,
			.rd_time_ns = b->rd_lat_ns,
			.wr_time_ns = b->wr_lat_ns,
			.throttled_ns = b->throttled_ns,
			.cap_iops = b->cap_iops,
			.cap_bps = b->cap_bps,
		};
		if (i < v->run_def.n_disks)
			m->disk[i].shares =
				v->run_def.disks[i].throttle.shares
					? v->run_def.disks[i].throttle.shares
					: THROTTLE_SHARES_DEFAULT;
		m->n_disks = i + 1;
	}
	for (unsigned i = 0; i < ds->n_nets && i < METRICS_MAX_DEVICES; i++) {
		const struct virtio_net_stats *s = &ds->net[i];

		/* netdev rx/tx are toward/from the guest; frames the device
		 * refused (malformed, too big) count as dropped too */
		m->nic[i] = (struct metrics_nic){
			.rx_packets = s->nd.rx_frames,
			.rx_bytes = s->nd.rx_bytes,
			.rx_dropped = s->nd.rx_dropped + s->rx_too_big,
			.tx_packets = s->nd.tx_frames,
			.tx_bytes = s->nd.tx_bytes,
			.tx_dropped = s->nd.tx_dropped + s->tx_bad,
		};
		m->n_nics = i + 1;
	}
	if (ds->has_mem) {
		m->has_mem = true;
		m->mem = (struct metrics_mem){
			.private_bytes = ds->mem.frames_private * 4096,
			.zero_shared_bytes = ds->mem.frames_zero_shared * 4096,
			.compressed_bytes = ds->mem.frames_compressed * 4096,
			.compressed_store_bytes = ds->mem.bytes_compressed,
			.swapped_bytes = ds->mem.frames_swapped * 4096,
			.limit_bytes = ds->mem.limit_frames * 4096,
			.cow_breaks = ds->mem.cow_breaks,
			.decompressions = ds->mem.decompressions,
			.swap_ins = ds->mem.swap_ins,
		};
	}
}

int daemon_metrics(struct daemon *d, struct metrics_snapshot *s,
		   struct error *err)
{
	struct metrics_vm *vms = NULL;
	size_t n = 0, cap = 0;
	struct dvm_live_set live;

	memset(s, 0, sizeof(*s));
	host_figures(d, &s->host);
	s->states = all_states;
	s->n_states = sizeof(all_states) / sizeof(all_states[0]);

	if (dvm_live_collect(d, NULL, &live))
		return error_set(err, ENOMEM, "out of memory");
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next)
		cap++;
	if (cap) {
		vms = calloc(cap, sizeof(*vms));
		if (!vms) {
			pthread_mutex_unlock(&d->lock);
			dvm_live_free(d, &live);
			return error_set(err, ENOMEM, "out of memory");
		}
	}
	for (struct dvm *v = d->vms; v && n < cap; v = v->next) {
		struct metrics_vm *m = &vms[n++];

		snprintf(m->name, sizeof(m->name), "%s", v->def.name);
		m->id = v->id;
		m->state = all_states[v->state];
		m->cpus = v->def.cpus;
		m->memory_bytes = v->def.memory;
		m->cpu_shares = vmdef_cpu_shares(&v->def);
		m->cpu_reservation_mhz = v->def.cpu_reservation_mhz;
		m->cpu_limit_mhz = v->def.cpu_limit_mhz;
		daemon_mem_vm_metrics(d, v, m);
		if (v->vm)
			vm_live(d, v, dvm_live_of(&live, v), m);
	}
	pthread_mutex_unlock(&d->lock);
	dvm_live_free(d, &live);
	s->vms = vms;
	s->n_vms = n;
	struct metrics_switch *sw = NULL;
	if (daemon_switch_metrics(d, &sw, &s->n_switches) == 0)
		s->switches = sw;
	return 0;
}

void daemon_metrics_free(struct metrics_snapshot *s)
{
	free((void *)s->vms);
	s->vms = NULL;
	s->n_vms = 0;
	for (size_t i = 0; i < s->n_switches; i++)
		free(s->switches[i].ports);
	free((void *)s->switches);
	s->switches = NULL;
	s->n_switches = 0;
}
