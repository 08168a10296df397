/*
 * Prometheus text exposition format 0.0.4 (see metrics.h and
 * docs/metrics.md). One family at a time: its # HELP and # TYPE, then
 * every sample of it, so that a family's lines are contiguous as the
 * format requires ("Text format details": all lines for a given metric
 * must be provided as one single group).
 */
#include "api/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void metrics_write_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\': fputs("\\\\", f); break;
		case '"': fputs("\\\"", f); break;
		case '\n': fputs("\\n", f); break;
		default: fputc(*s, f);
		}
	}
}

/* # HELP text escapes only backslash and line feed; ours are constants
 * without either. */
static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A gauge of the host without labels: its family and its one sample. */
static void gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "gauge", help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void vm_label(FILE *f, const char *name, const struct metrics_vm *vm)
{
	fprintf(f, "%s{vm=\"", name);
	metrics_write_label_value(f, vm->name);
	fputc('"', f);
}

static void sample_u64(FILE *f, const char *name, const struct metrics_vm *vm,
		       const char *label, unsigned idx, uint64_t v)
{
	vm_label(f, name, vm);
	if (label)
		fprintf(f, ",%s=\"%u\"", label, idx);
	fprintf(f, "} %" PRIu64 "\n", v);
}

/* Microseconds as seconds, exactly (no float rounding). */
static void sample_us(FILE *f, const char *name, const struct metrics_vm *vm,
		      unsigned vcpu, uint64_t us)
{
	vm_label(f, name, vm);
	fprintf(f, ",vcpu=\"%u\"} %" PRIu64 ".%06" PRIu64 "\n", vcpu,
		us / 1000000, us % 1000000);
}

/* ---- the daemon and the host -------------------------------------------- */

static int cmp_api(const void *a, const void *b)
{
	const struct metrics_api_count *x = a, *y = b;

	return (x->status > y->status) - (x->status < y->status);
}

static void render_daemon(FILE *f, const struct metrics_snapshot *s)
{
	const struct metrics_host *h = &s->host;

	family(f, "softvisor_build_info", "gauge",
	       "Softvisor version of the daemon (always 1).");
	fputs("softvisor_build_info{version=\"", f);
	metrics_write_label_value(f, h->version ? h->version : "");
	fputs("\"} 1\n", f);
	family(f, "softvisor_daemon_uptime_seconds", "gauge",
	       "Seconds since the daemon started.");
	fprintf(f, "softvisor_daemon_uptime_seconds %.3f\n", h->uptime_s);

	family(f, "softvisor_api_requests_total", "counter",
	       "API requests answered, by HTTP status code.");
	struct metrics_api_count *api = NULL;
	if (s->n_api)
		api = malloc(s->n_api * sizeof(*api));
	if (api) {
		memcpy(api, s->api, s->n_api * sizeof(*api));
		qsort(api, s->n_api, sizeof(*api), cmp_api);
		for (size_t i = 0; i < s->n_api; i++)
			fprintf(f,
				"softvisor_api_requests_total{code=\"%d\"} "
				"%" PRIu64 "\n",
				api[i].status, api[i].count);
		free(api);
	}

	gauge(f, "softvisor_host_pcpus", "Host CPUs given to the vmkernel.",
	      h->pcpus);
	gauge(f, "softvisor_host_cpu_frequency_hertz",
	      "Nominal frequency of one host CPU.", h->mhz_per_pcpu * 1000000);
	gauge(f, "softvisor_host_cpu_capacity_hertz",
	      "Host CPU capacity: pCPUs times their nominal frequency.",
	      h->capacity_mhz * 1000000);
	gauge(f, "softvisor_host_cpu_reserved_hertz",
	      "CPU reserved by the running VMs (admission control).",
	      h->reserved_mhz * 1000000);
	gauge(f, "softvisor_host_memory_bytes", "Host memory.",
	      h->memory_bytes);
	gauge(f, "softvisor_host_memory_budget_bytes",
	      "Memory the VMs may hold in total (--mem-budget).",
	      h->mem_budget_bytes);
	gauge(f, "softvisor_host_memory_reserved_bytes",
	      "Memory reserved by the running VMs (admission control).",
	      h->mem_reserved_bytes);
	gauge(f, "softvisor_host_memory_pool_bytes",
	      "Frames of the pool of pages shared across VMs.",
	      h->mem_pool_bytes);
	gauge(f, "softvisor_host_memory_pool_shared_bytes",
	      "Guest memory of all VMs mapped to the pool.",
	      h->mem_pool_shared_bytes);
	gauge(f, "softvisor_host_memory_pool_saved_bytes",
	      "Host memory page sharing across VMs saves (shared - pool).",
	      h->mem_pool_saved_bytes);
	gauge(f, "softvisor_host_scheduler_enabled",
	      "1 if VMs run under the vCPU scheduler (0: --no-scheduler).",
	      h->scheduler ? 1 : 0);
}

/* ---- VMs ----------------------------------------------------------------- */

enum vm_field {
	F_VCPUS,
	F_MEMORY,
	F_SHARES,
	F_RESERVATION,
	F_LIMIT,
	F_ENTITLED,
	F_DEMAND,
};

/* A per-VM gauge; reports false if the VM has no such figure. */
static bool vm_field(const struct metrics_vm *vm, enum vm_field fld,
		     uint64_t *v)
{
	switch (fld) {
	case F_VCPUS: *v = vm->cpus; return true;
	case F_MEMORY: *v = vm->memory_bytes; return true;
	case F_SHARES: *v = vm->cpu_shares; return true;
	case F_RESERVATION: *v = vm->cpu_reservation_mhz * 1000000; return true;
	case F_LIMIT:
		*v = vm->cpu_limit_mhz * 1000000;
		return vm->cpu_limit_mhz != 0;
	case F_ENTITLED:
		*v = vm->entitled_mhz * 1000000;
		return vm->live && vm->sched;
	case F_DEMAND:
		*v = vm->demand_mhz * 1000000;
		return vm->live && vm->sched;
	}
	return false;
}

static const struct {
	const char *name, *help;
	enum vm_field fld;
} vm_gauges[] = {
	{ "softvisor_vm_vcpus", "Configured vCPUs.", F_VCPUS },
	{ "softvisor_vm_memory_bytes", "Configured guest memory.", F_MEMORY },
	{ "softvisor_vm_cpu_shares", "CPU shares (relative weight).",
	  F_SHARES },
	{ "softvisor_vm_cpu_reservation_hertz",
	  "CPU reservation (guaranteed under contention).", F_RESERVATION },
	{ "softvisor_vm_cpu_limit_hertz", "CPU limit (absent: unlimited).",
	  F_LIMIT },
	{ "softvisor_vm_cpu_entitlement_hertz",
	  "CPU entitlement over the last accounting window (running VMs).",
	  F_ENTITLED },
	{ "softvisor_vm_cpu_demand_hertz",
	  "CPU demand over the last accounting window (running VMs).",
	  F_DEMAND },
};

static void render_vm_config(FILE *f, const struct metrics_snapshot *s)
{
	family(f, "softvisor_vm_state", "gauge",
	       "1 for the VM's lifecycle state, 0 for the others.");
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct metrics_vm *vm = &s->vms[i];

		for (size_t k = 0; k < s->n_states; k++) {
			vm_label(f, "softvisor_vm_state", vm);
			fprintf(f, ",state=\"%s\"} %d\n", s->states[k],
				vm->state && !strcmp(vm->state, s->states[k]));
		}
	}
	family(f, "softvisor_vm_info", "gauge",
	       "The VM's inventory id (always 1).");
	for (size_t i = 0; i < s->n_vms; i++) {
		vm_label(f, "softvisor_vm_info", &s->vms[i]);
		fprintf(f, ",id=\"%" PRId64 "\"} 1\n", s->vms[i].id);
	}
	for (size_t g = 0; g < sizeof(vm_gauges) / sizeof(vm_gauges[0]); g++) {
		family(f, vm_gauges[g].name, "gauge", vm_gauges[g].help);
		for (size_t i = 0; i < s->n_vms; i++) {
			uint64_t v;

			if (vm_field(&s->vms[i], vm_gauges[g].fld, &v))
				sample_u64(f, vm_gauges[g].name, &s->vms[i],
					   NULL, 0, v);
		}
	}
}

static uint64_t vcpu_field(const struct metrics_vcpu *c, int k)
{
	switch (k) {
	case 0: return c->used_us;
	case 1: return c->ready_us;
	case 2: return c->costop_us;
	default: return c->wait_us;
	}
}

static void render_vm_cpu(FILE *f, const struct metrics_snapshot *s)
{
	static const struct {
		const char *name, *help;
	} fam[] = {
		{ "softvisor_vm_cpu_used_seconds_total",
		  "Time the vCPU ran on a host CPU." },
		{ "softvisor_vm_cpu_ready_seconds_total",
		  "Time the vCPU was runnable but not running (includes "
		  "throttling by the limit)." },
		{ "softvisor_vm_cpu_costop_seconds_total",
		  "Time the vCPU was runnable but co-stopped (relaxed "
		  "co-scheduling)." },
		{ "softvisor_vm_cpu_wait_seconds_total",
		  "Time the vCPU was idle or blocked." },
	};

	for (int k = 0; k < 4; k++) {
		family(f, fam[k].name, "counter", fam[k].help);
		for (size_t i = 0; i < s->n_vms; i++) {
			const struct metrics_vm *vm = &s->vms[i];

			if (!vm->live || !vm->sched)
				continue;
			for (unsigned c = 0; c < vm->n_vcpus; c++)
				sample_us(f, fam[k].name, vm, c,
					  vcpu_field(&vm->vcpu[c], k));
		}
	}
	family(f, "softvisor_vm_cpu_instructions_total", "counter",
	       "Guest instructions the vCPU retired in the current boot.");
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct metrics_vm *vm = &s->vms[i];

		if (!vm->live)
			continue;
		for (unsigned c = 0; c < vm->n_vcpus; c++)
			sample_u64(f, "softvisor_vm_cpu_instructions_total", vm,
				   "vcpu", c, vm->vcpu[c].instret);
	}
}

/* Guest memory of running VMs (docs/memory.md). */
/* The reclaimer's figures (compression, swap); the zero-page, COW and
 * limit families are render_vm_memory's. */
static void render_vm_mem(FILE *f, const struct metrics_snapshot *s)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} fam[] = {
#define MEM(n, t, h, field) \
	{ "softvisor_vm_memory_" n, t, h, offsetof(struct metrics_mem, field) }
		MEM("private_bytes", "gauge",
		    "Guest memory backed by host memory of its own.",
		    private_bytes),
		MEM("compressed_bytes", "gauge",
		    "Guest memory held compressed (its size before).",
		    compressed_bytes),
		MEM("compression_cache_bytes", "gauge",
		    "Host memory the compressed pages take.",
		    compressed_store_bytes),
		MEM("swapped_bytes", "gauge",
		    "Guest memory in the VM's swap file.", swapped_bytes),
		MEM("decompressions_total", "counter",
		    "Pages decompressed back on access.", decompressions),
		MEM("swap_ins_total", "counter",
		    "Pages read back from the swap file on access.", swap_ins),
#undef MEM
	};

	for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		family(f, fam[k].name, fam[k].type, fam[k].help);
		for (size_t i = 0; i < s->n_vms; i++) {
			const struct metrics_vm *vm = &s->vms[i];
			uint64_t v;

			if (!vm->live || !vm->has_mem)
				continue;
			memcpy(&v, (const char *)&vm->mem + fam[k].off,
			       sizeof(v));
			sample_u64(f, fam[k].name, vm, NULL, 0, v);
		}
	}
}

/* Device counters: an offset into the device struct, so one loop renders
 * every family. */
struct dev_family {
	const char *name, *help;
	size_t off;
};

#define DISK(field, name, help)                              \
	{                                                    \
		"softvisor_vm_disk_" name "_total", help,    \
			offsetof(struct metrics_disk, field) \
	}
static const struct dev_family disk_fam[] = {
	DISK(rd_bytes, "read_bytes", "Bytes the guest read from the disk."),
	DISK(rd_ops, "read_requests", "Read requests completed."),
	DISK(wr_bytes, "written_bytes", "Bytes the guest wrote to the disk."),
	DISK(wr_ops, "write_requests", "Write requests completed."),
	DISK(flush_ops, "flush_requests", "Flush requests completed."),
	DISK(errors, "errors", "Requests that completed with an error."),
};

#define NIC(field, name, help)                              \
	{                                                   \
		"softvisor_vm_nic_" name "_total", help,    \
			offsetof(struct metrics_nic, field) \
	}
static const struct dev_family nic_fam[] = {
	NIC(rx_bytes, "rx_bytes", "Bytes delivered to the guest."),
	NIC(rx_packets, "rx_packets", "Frames delivered to the guest."),
	NIC(rx_dropped, "rx_dropped",
	    "Frames for the guest that were dropped."),
	NIC(tx_bytes, "tx_bytes", "Bytes the guest sent."),
	NIC(tx_packets, "tx_packets", "Frames the guest sent."),
	NIC(tx_dropped, "tx_dropped",
	    "Frames from the guest that were dropped."),
};

/* Memory figures of the memory manager (issue 15, docs/memory.md): one
 * gauge family per field of struct metrics_vm. */
#define MEM(field, name, help, type)                       \
	{                                                  \
		"softvisor_vm_memory_" name, help, type,   \
			offsetof(struct metrics_vm, field) \
	}
static const struct {
	const char *name, *help, *type;
	size_t off;
} mem_fam[] = {
	MEM(mem_target_bytes, "target_bytes",
	    "Memory the policy grants the VM (shares, reservation, limit, "
	    "idle tax).",
	    "gauge"),
	MEM(mem_active_bytes, "active_bytes",
	    "Active memory estimate (the guest's in use, else touched).",
	    "gauge"),
	MEM(mem_consumed_bytes, "consumed_bytes",
	    "Guest memory backed by a private host frame.", "gauge"),
	MEM(mem_zero_shared_bytes, "zero_shared_bytes",
	    "Guest memory mapped to the shared zero frame.", "gauge"),
	MEM(mem_cow_breaks, "cow_breaks_total",
	    "Guest writes that broke the sharing of a frame.", "counter"),
	MEM(mem_balloon_target_bytes, "balloon_target_bytes",
	    "Memory the balloon asks the guest to give up.", "gauge"),
	MEM(mem_balloon_bytes, "balloon_bytes",
	    "Memory the guest holds in its balloon.", "gauge"),
	MEM(mem_pool_shared_bytes, "pool_shared_bytes",
	    "Guest memory mapped to the pool of pages shared across VMs.",
	    "gauge"),
	MEM(mem_kernel_shared_bytes, "kernel_shared_bytes",
	    "Guest memory reading the daemon's shared copy of the kernel.",
	    "gauge"),
};

static void render_vm_memory(FILE *f, const struct metrics_snapshot *s)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} cfg[] = {
		{ "softvisor_vm_memory_shares", "Memory shares.",
		  offsetof(struct metrics_vm, mem_shares) },
		{ "softvisor_vm_memory_reservation_bytes",
		  "Memory reservation (never reclaimed).",
		  offsetof(struct metrics_vm, mem_reservation_bytes) },
	};

	for (size_t k = 0; k < sizeof(cfg) / sizeof(cfg[0]); k++) {
		family(f, cfg[k].name, "gauge", cfg[k].help);
		for (size_t i = 0; i < s->n_vms; i++) {
			uint64_t v;

			memcpy(&v, (const char *)&s->vms[i] + cfg[k].off,
			       sizeof(v));
			sample_u64(f, cfg[k].name, &s->vms[i], NULL, 0, v);
		}
	}
	family(f, "softvisor_vm_memory_limit_bytes", "gauge",
	       "Memory limit (absent: none).");
	for (size_t i = 0; i < s->n_vms; i++)
		if (s->vms[i].mem_limit_bytes)
			sample_u64(f, "softvisor_vm_memory_limit_bytes",
				   &s->vms[i], NULL, 0,
				   s->vms[i].mem_limit_bytes);
	for (size_t k = 0; k < sizeof(mem_fam) / sizeof(mem_fam[0]); k++) {
		bool balloon = strstr(mem_fam[k].name, "balloon") != NULL;

		family(f, mem_fam[k].name, mem_fam[k].type, mem_fam[k].help);
		for (size_t i = 0; i < s->n_vms; i++) {
			const struct metrics_vm *vm = &s->vms[i];
			uint64_t v;

			if (!vm->live || !vm->mem_live ||
			    (balloon && !vm->mem_has_balloon))
				continue;
			memcpy(&v, (const char *)vm + mem_fam[k].off,
			       sizeof(v));
			sample_u64(f, mem_fam[k].name, vm, NULL, 0, v);
		}
	}
}

/* Disk times (nanoseconds, rendered as seconds) and the disk shares'
 * gauges (docs/metrics.md, docs/block.md "Disk shares"). */
struct disk_extra {
	const char *name, *type, *help;
	size_t off;
	bool ns; /* a u64 of nanoseconds, else a plain u64 */
};

#define DISK_X(field, name, type, ns, help)                      \
	{                                                        \
		"softvisor_vm_disk_" name, type, help,           \
			offsetof(struct metrics_disk, field), ns \
	}
static const struct disk_extra disk_extra[] = {
	DISK_X(rd_time_ns, "read_time_seconds_total", "counter", true,
	       "Time reads took from the queue to completion (latency = "
	       "this / read requests)."),
	DISK_X(wr_time_ns, "write_time_seconds_total", "counter", true,
	       "Time writes took from the queue to completion."),
	DISK_X(throttled_ns, "throttled_seconds_total", "counter", true,
	       "Time requests waited on the disk's limits and its datastore "
	       "cap."),
	DISK_X(cap_iops, "cap_iops", "gauge", false,
	       "The datastore cap of the disk's IOPS under contention (0: "
	       "none)."),
	DISK_X(cap_bps, "cap_bytes_per_second", "gauge", false,
	       "The datastore cap of the disk's bytes per second (0: none)."),
	DISK_X(shares, "shares", "gauge", false,
	       "The disk's shares on its datastore."),
};

static void render_disk_extra(FILE *f, const struct metrics_snapshot *s)
{
	for (size_t k = 0; k < sizeof(disk_extra) / sizeof(disk_extra[0]);
	     k++) {
		const struct disk_extra *x = &disk_extra[k];

		family(f, x->name, x->type, x->help);
		for (size_t i = 0; i < s->n_vms; i++) {
			const struct metrics_vm *vm = &s->vms[i];

			if (!vm->live)
				continue;
			for (unsigned d = 0;
			     d < vm->n_disks && d < METRICS_MAX_DEVICES; d++) {
				const char *base = (const char *)&vm->disk[d];
				uint64_t v;

				memcpy(&v, base + x->off, sizeof(v));
				if (!x->ns) {
					sample_u64(f, x->name, vm, "disk", d,
						   v);
					continue;
				}
				vm_label(f, x->name, vm);
				fprintf(f,
					",disk=\"%u\"} %" PRIu64 ".%09" PRIu64
					"\n",
					d, v / 1000000000u, v % 1000000000u);
			}
		}
	}
}

static void render_devices(FILE *f, const struct metrics_snapshot *s,
			   const struct dev_family *fam, size_t n_fam,
			   bool disks)
{
	for (size_t k = 0; k < n_fam; k++) {
		family(f, fam[k].name, "counter", fam[k].help);
		for (size_t i = 0; i < s->n_vms; i++) {
			const struct metrics_vm *vm = &s->vms[i];
			unsigned n = disks ? vm->n_disks : vm->n_nics;

			if (!vm->live)
				continue;
			for (unsigned d = 0; d < n && d < METRICS_MAX_DEVICES;
			     d++) {
				const char *base =
					disks ? (const char *)&vm->disk[d]
					      : (const char *)&vm->nic[d];
				uint64_t v;

				memcpy(&v, base + fam[k].off, sizeof(v));
				sample_u64(f, fam[k].name, vm,
					   disks ? "disk" : "nic", d, v);
			}
		}
	}
}

int metrics_render(const struct metrics_snapshot *s, char **text, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	render_daemon(f, s);
	render_vm_config(f, s);
	render_vm_cpu(f, s);
	render_vm_mem(f, s);
	render_vm_memory(f, s);
	render_devices(f, s, disk_fam, sizeof(disk_fam) / sizeof(disk_fam[0]),
		       true);
	render_disk_extra(f, s);
	render_devices(f, s, nic_fam, sizeof(nic_fam) / sizeof(nic_fam[0]),
		       false);
	metrics_render_switches(f, s);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*text = buf;
	*len = size;
	return 0;
}
