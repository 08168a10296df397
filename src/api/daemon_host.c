/*
 * The daemon's host side: the vCPU scheduler the VMs run under (issue 7),
 * host capacity and usage, and the esxtop-style figures of the API.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/sysinfo.h>

#include "api/daemon_impl.h"
#include "api/daemon_mem.h"
#include "config.h"
#include "util/clock.h"
#include "util/log.h"
#include "virtio/net.h"
#include "vmm/sched.h"

#define LOG "daemon"

int daemon_sched_open(struct daemon *d, struct error *err)
{
	if (d->cfg.no_scheduler)
		return 0;
	struct sched_params prm;
	uint32_t n = d->cfg.pcpus ? d->cfg.pcpus : vmk_host_pcpus();
	uint64_t mhz = d->cfg.mhz ? d->cfg.mhz : vmk_host_mhz();
	sched_default_params(&prm, n, mhz);
	return vmk_sched_create(&prm, &d->sched, err);
}

void daemon_sched_close(struct daemon *d)
{
	vmk_sched_destroy(d->sched);
	d->sched = NULL;
}

/* def passed vmdef_validate(), whose share counts fit SCHED_MAX_SHARES
 * (vmm/vmdef.c): handed over as they are. */
static void sched_config(const struct vmdef *def, struct sched_vm_config *c)
{
	c->n_vcpus = def->cpus;
	c->shares = (uint32_t)vmdef_cpu_shares(def);
	c->reservation_mhz = def->cpu_reservation_mhz;
	c->limit_mhz = def->cpu_limit_mhz;
}

/* qos.cpu.affinity must name a pCPU of this host (0 = all of them). */
static int affinity_check(struct daemon *d, const struct vmdef *def,
			  struct error *err)
{
	struct sched_params prm;
	char list[192];

	vmk_sched_params(d->sched, &prm);
	if (!def->cpu_affinity || prm.n_pcpus >= 64 ||
	    def->cpu_affinity & ((1ULL << prm.n_pcpus) - 1))
		return 0;
	vmdef_cpuset_str(def->cpu_affinity, list, sizeof(list));
	return error_set(err, EINVAL,
			 "qos.cpu.affinity %s names none of the host's pCPUs "
			 "0-%u",
			 list, prm.n_pcpus - 1);
}

/* qos.cpu.affinity on every vCPU (checked by affinity_check). */
static int sched_affinity(struct vmk_sched_vm *h, const struct vmdef *def,
			  struct error *err)
{
	uint64_t mask = def->cpu_affinity ? def->cpu_affinity : UINT64_MAX;

	for (unsigned i = 0; i < def->cpus; i++)
		if (vmk_sched_vcpu_set_affinity(h, i, mask, err))
			return -EINVAL;
	return 0;
}

int daemon_sched_attach(struct daemon *d, const struct vmdef *def,
			struct dvm_sched_slot *slot, struct error *err)
{
	memset(slot, 0, sizeof(*slot));
	if (!d->sched)
		return 0;
	struct sched_vm_config c;
	sched_config(def, &c);
	if (c.n_vcpus > SCHED_MAX_VCPUS)
		return error_set(err, EINVAL,
				 "cpus: the scheduler runs at most %d vCPUs "
				 "per VM",
				 SCHED_MAX_VCPUS);
	struct vmk_sched_vm *h;
	int r = affinity_check(d, def, err);
	if (r)
		return r;
	r = vmk_sched_vm_add(d->sched, &c, &h, err);
	if (r)
		return r;
	r = sched_affinity(h, def, err);
	if (r) {
		vmk_sched_vm_remove(h);
		return r;
	}
	slot->handle = h;
	vmk_sched_vm_gate(h, &slot->gate);
	slot->gate_valid = true;
	return 0;
}

void daemon_sched_detach(struct daemon *d, struct dvm_sched_slot *slot)
{
	(void)d;
	if (slot->handle)
		vmk_sched_vm_remove(slot->handle);
	memset(slot, 0, sizeof(*slot));
}

int daemon_sched_set_qos(struct daemon *d, struct dvm *v,
			 const struct vmdef *def, struct error *err)
{
	(void)d;
	if (!v->sched.handle)
		return 0;
	struct sched_vm_config c;
	sched_config(def, &c);
	int r = affinity_check(d, def, err);
	if (!r)
		r = vmk_sched_vm_set_qos(v->sched.handle, &c, err);
	return r ? r : sched_affinity(v->sched.handle, def, err);
}

/* ---- host -------------------------------------------------------------------- */

int daemon_host_info(struct daemon *d, json_t **out, struct error *err)
{
	(void)err;
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	struct sysinfo si;
	uint64_t mem_total = 0;
	if (!sysinfo(&si))
		mem_total = (uint64_t)si.totalram * si.mem_unit;

	uint64_t pcpus, mhz, cap = 0, reserved = 0;
	if (d->sched) {
		struct sched_params prm;
		vmk_sched_params(d->sched, &prm);
		pcpus = prm.n_pcpus;
		mhz = prm.mhz_per_pcpu;
		cap = vmk_sched_capacity_mhz(d->sched);
		reserved = vmk_sched_reserved_mhz(d->sched);
	} else {
		pcpus = d->cfg.pcpus ? d->cfg.pcpus : vmk_host_pcpus();
		mhz = d->cfg.mhz ? d->cfg.mhz : vmk_host_mhz();
		cap = pcpus * mhz;
	}
	unsigned total = 0, running = 0;
	uint64_t mem_running = 0;
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next) {
		total++;
		if (v->vm) {
			running++;
			mem_running += v->run_def.memory;
		}
	}
	pthread_mutex_unlock(&d->lock);
	*out = json_pack(
		"{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:f, s:b}",
		"hostname", host, "version", SOFTVISOR_VERSION, "pcpus",
		(json_int_t)pcpus, "mhz_per_pcpu", (json_int_t)mhz,
		"capacity_mhz", (json_int_t)cap, "reserved_mhz",
		(json_int_t)reserved, "memory_total", (json_int_t)mem_total,
		"memory_configured_running", (json_int_t)mem_running,
		"vms_total", (int)total, "vms_running", (int)running,
		"uptime_s",
		(double)(clock_monotonic_ns() - d->started_ns) / 1e9,
		"scheduler", d->sched != NULL);
	if (*out)
		daemon_mem_host_json(d, *out);
	return 0;
}

static const char *vcpu_state_name(int s)
{
	switch (s) {
	case SCHED_READY: return "ready";
	case SCHED_COSTOP: return "costop";
	case SCHED_RUN: return "run";
	default: return "wait";
	}
}

/* Guest memory figures (docs/memory.md) of a running VM, as "memory". */
static void vm_memory_json(const struct dvm_live *l, json_t *o)
{
	if (!l || !l->ds.has_mem)
		return;
	const struct gmem_stats *gm = &l->ds.mem;
	/* into the memory manager's object when it made one */
	json_t *m = json_object_get(o, "memory");
	if (!m) {
		m = json_object();
		json_object_set_new(o, "memory", m);
	}
	json_t *add = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"private_bytes", (json_int_t)(gm->frames_private * 4096),
		"zero_shared_bytes",
		(json_int_t)(gm->frames_zero_shared * 4096), "compressed_bytes",
		(json_int_t)(gm->frames_compressed * 4096),
		"compression_cache_bytes", (json_int_t)gm->bytes_compressed,
		"swapped_bytes", (json_int_t)(gm->frames_swapped * 4096),
		"limit_bytes", (json_int_t)(gm->limit_frames * 4096),
		"cow_breaks", (json_int_t)gm->cow_breaks, "decompressions",
		(json_int_t)gm->decompressions, "swap_ins",
		(json_int_t)gm->swap_ins);
	json_object_update(m, add);
	json_decref(add);
}

/* Each disk's and NIC's counters since the VM started, as "disks" and
 * "nics" (libvirt's domblkstat and domifstat; the same figures as
 * /metrics' softvisor_vm_disk_* and softvisor_vm_nic_*), with what names
 * the device to a user: the image's path, the NIC's MAC. Empty arrays
 * while the VM does not run (d->lock held). */
static void vm_devices_json(const struct dvm *v, const struct dvm_live *l,
			    json_t *o)
{
	json_t *disks = json_array(), *nics = json_array();
	const struct virt_dev_stats *ds = l ? &l->ds : NULL;

	for (unsigned i = 0; ds && i < ds->n_disks; i++) {
		const struct virtio_blk_stats *b = &ds->disk[i];
		const char *path = i < v->run_def.n_disks
					   ? v->run_def.disks[i].path
					   : "";

		json_array_append_new(
			disks,
			json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
				  "disk", (int)i, "path", path, "read_ops",
				  (json_int_t)b->rd_ops, "read_bytes",
				  (json_int_t)b->rd_bytes, "write_ops",
				  (json_int_t)b->wr_ops, "write_bytes",
				  (json_int_t)b->wr_bytes, "flush_ops",
				  (json_int_t)b->flush_ops, "errors",
				  (json_int_t)b->errors));
	}
	for (unsigned i = 0; ds && i < ds->n_nets; i++) {
		const struct virtio_net_stats *s = &ds->net[i];
		char mac[18] = "";

		if (i < v->run_def.n_nics)
			snprintf(mac, sizeof(mac), "%s",
				 v->run_def.nics[i].mac);
		if (!mac[0]) { /* the default the device was given */
			struct virtio_net_config c;

			virtio_net_config_init(&c, i);
			snprintf(mac, sizeof(mac),
				 "%02x:%02x:%02x:%02x:%02x:%02x", c.mac[0],
				 c.mac[1], c.mac[2], c.mac[3], c.mac[4],
				 c.mac[5]);
		}
		/* as /metrics: frames the device refused count as dropped */
		json_array_append_new(
			nics,
			json_pack(
				"{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
				"nic", (int)i, "mac", mac, "rx_packets",
				(json_int_t)s->nd.rx_frames, "rx_bytes",
				(json_int_t)s->nd.rx_bytes, "rx_dropped",
				(json_int_t)(s->nd.rx_dropped + s->rx_too_big),
				"tx_packets", (json_int_t)s->nd.tx_frames,
				"tx_bytes", (json_int_t)s->nd.tx_bytes,
				"tx_dropped",
				(json_int_t)(s->nd.tx_dropped + s->tx_bad)));
	}
	json_object_set_new(o, "disks", disks);
	json_object_set_new(o, "nics", nics);
}

/* VmStats of a running VM (d->lock held; l: its worker's figures,
 * daemon_live.c). */
static json_t *vm_stats_json(struct daemon *d, struct dvm *v,
			     const struct dvm_live *l)
{
	json_t *o = json_pack("{s:s, s:s, s:I}", "vm", v->def.name, "state",
			      vm_state_name(v->state), "interval_us",
			      (json_int_t)VMK_SCHED_SAMPLE_US);
	unsigned n = l ? l->n_vcpus : 0;
	int id = v->sched.handle ? vmk_sched_vm_id(v->sched.handle) : -1;
	json_t *vcpus = json_array();

	for (int c = -1; c < (int)n; c++) {
		struct sched_stats st = { 0 };
		struct sched_pct pct = { 0 };
		json_t *x = c < 0 ? o : json_object();
		if (id >= 0) {
			vmk_sched_vm_stats(d->sched, id, c, &st);
			vmk_sched_vm_pct(d->sched, id, c, &pct);
		}
		json_object_set_new(x, "used_pct", json_real(pct.used));
		json_object_set_new(x, "ready_pct", json_real(pct.ready));
		json_object_set_new(x, "wait_pct", json_real(pct.wait));
		json_object_set_new(x, "costop_pct", json_real(pct.costop));
		json_object_set_new(x, "limited_pct", json_real(pct.limited));
		json_object_set_new(x, "used_us", json_integer(st.used_us));
		json_object_set_new(x, "ready_us", json_integer(st.ready_us));
		json_object_set_new(x, "wait_us", json_integer(st.wait_us));
		json_object_set_new(x, "costop_us", json_integer(st.costop_us));
		if (c < 0)
			continue;
		json_object_set_new(x, "vcpu", json_integer(c));
		json_object_set_new(
			x, "pcpu",
			json_integer(
				id >= 0 ? vmk_sched_vcpu_pcpu(d->sched, id, c)
					: -1));
		json_object_set_new(x, "tid", json_integer(l->tids[c]));
		json_object_set_new(x, "instret",
				    json_integer((json_int_t)l->instret[c]));
		int vs = SCHED_WAIT;
		if (id >= 0)
			vs = vmk_sched_vcpu_state(d->sched, id, c);
		json_object_set_new(x, "state",
				    json_string(vcpu_state_name(vs)));
		json_array_append_new(vcpus, x);
	}
	uint64_t ent = 0, dem = 0;
	if (id >= 0)
		vmk_sched_vm_mhz(d->sched, id, &ent, &dem);
	json_object_set_new(o, "entitled_mhz", json_integer((json_int_t)ent));
	char aff[192];
	vmdef_cpuset_str(v->def.cpu_affinity, aff, sizeof(aff));
	json_object_set_new(o, "affinity", json_string(aff));
	json_object_set_new(o, "demand_mhz", json_integer((json_int_t)dem));
	json_object_set_new(o, "vcpus", vcpus);
	json_t *mem = daemon_mem_vm_json(d, v);
	if (mem)
		json_object_set_new(o, "memory", mem);
	vm_memory_json(l, o);
	vm_devices_json(v, l, o);
	return o;
}

int daemon_vm_stats(struct daemon *d, const char *ref, json_t **out,
		    struct error *err)
{
	struct dvm *v = dvm_find(d, ref, err);
	struct dvm_live_set live;

	if (!v)
		return -ENOENT;
	if (dvm_live_collect(d, v, &live)) {
		dvm_put(d, v);
		return error_set(err, ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&d->lock);
	*out = vm_stats_json(d, v, dvm_live_of(&live, v));
	pthread_mutex_unlock(&d->lock);
	dvm_live_free(d, &live);
	dvm_put(d, v);
	return 0;
}

int daemon_host_stats(struct daemon *d, json_t **out, struct error *err)
{
	json_t *vms = json_array();
	double used = 0;
	struct dvm_live_set live;
	uint64_t pcpus = d->cfg.pcpus ? d->cfg.pcpus : vmk_host_pcpus();
	uint64_t cap = 0;
	if (d->sched) {
		struct sched_params prm;
		vmk_sched_params(d->sched, &prm);
		pcpus = prm.n_pcpus;
		cap = vmk_sched_capacity_mhz(d->sched);
	}
	if (dvm_live_collect(d, NULL, &live)) {
		json_decref(vms);
		return error_set(err, ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next) {
		if (!v->vm)
			continue;
		json_t *s = vm_stats_json(d, v, dvm_live_of(&live, v));
		used += json_real_value(json_object_get(s, "used_pct"));
		json_array_append_new(vms, s);
	}
	pthread_mutex_unlock(&d->lock);
	dvm_live_free(d, &live);
	*out = json_pack("{s:I, s:I, s:f, s:o}", "pcpus", (json_int_t)pcpus,
			 "capacity_mhz", (json_int_t)cap, "used_pct",
			 pcpus ? used / (double)pcpus : 0.0, "vms", vms);
	if (*out)
		daemon_mem_host_json(d, *out);
	return 0;
}

int daemon_host_patch(struct daemon *d, const char *actor, const char *body,
		      json_t **out, struct error *err)
{
	(void)actor;
	json_error_t jerr;
	json_t *o = json_loads(body ? body : "", JSON_REJECT_DUPLICATES, &jerr);
	const char *key;
	json_t *val;
	int r = 0;

	if (!o)
		return error_set(err, EINVAL, "body: %s (line %d, column %d)",
				 jerr.text, jerr.line, jerr.column);
	if (!json_is_object(o))
		r = error_set(err, EINVAL, "body: expected a JSON object");
	json_object_foreach(o, key, val)
	{
		if (r)
			break;
		if (strcmp(key, "memory_budget"))
			r = error_set(err, EINVAL,
				      "%s: unknown field (expected "
				      "memory_budget)",
				      key);
		else if (!json_is_integer(val) || json_integer_value(val) <= 0)
			r = error_set(err, EINVAL,
				      "memory_budget: expected a size in "
				      "bytes");
		else
			r = daemon_mem_set_budget(
				d, (uint64_t)json_integer_value(val), err);
	}
	json_decref(o);
	return r ? r : daemon_host_info(d, out, err);
}
