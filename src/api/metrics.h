/*
 * The Prometheus text exposition (format 0.0.4) of GET /metrics
 * (docs/metrics.md): a pure renderer over a snapshot of plain numbers.
 * The daemon fills the snapshot (daemon_metrics.c), the REST layer adds its
 * request counts and serves the text (rest_metrics.c); unit tests render a
 * synthetic snapshot.
 *
 * Naming follows Prometheus' conventions: base units (seconds, bytes,
 * hertz), counters end in _total, VM names and devices are label values
 * (never part of a metric name), every family has # HELP and # TYPE and
 * its samples are contiguous.
 *
 * Threads: no state of its own; any thread. Ownership: the snapshot is
 * borrowed for the call; *text is malloc'd and the caller frees it.
 */
#ifndef SV_API_METRICS_H
#define SV_API_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define METRICS_MAX_VCPUS   64
#define METRICS_MAX_DEVICES 8
#define METRICS_NAME_MAX    128

/* Cumulative scheduler figures of one vCPU (microseconds, since the VM
 * started) and the instructions it retired in the current boot. */
struct metrics_vcpu {
	uint64_t used_us, ready_us, wait_us, costop_us;
	uint64_t instret;
};

/* Counters of one virtio disk and one NIC (current boot). rx is toward
 * the guest. */
struct metrics_disk {
	uint64_t rd_ops, rd_bytes, wr_ops, wr_bytes, flush_ops, errors;
	/* nanoseconds: reads and writes from the ring to completion
	 * (summed), waits on limits and the datastore cap */
	uint64_t rd_time_ns, wr_time_ns, throttled_ns;
	uint64_t cap_iops, cap_bps; /* the datastore cap now, 0: none */
	uint64_t shares;	    /* docs/block.md "Disk shares" */
};
struct metrics_nic {
	uint64_t rx_packets, rx_bytes, rx_dropped;
	uint64_t tx_packets, tx_bytes, tx_dropped;
};

/* Guest memory (docs/memory.md), bytes unless named otherwise. */
struct metrics_mem {
	uint64_t private_bytes, zero_shared_bytes, compressed_bytes,
		compressed_store_bytes, swapped_bytes, limit_bytes;
	uint64_t cow_breaks, decompressions, swap_ins; /* counters */
};

struct metrics_vm {
	char name[METRICS_NAME_MAX]; /* any bytes but NUL: escaped */
	int64_t id;
	const char *state; /* one of metrics_snapshot.states */
	/* configuration */
	unsigned cpus;
	uint64_t memory_bytes;
	uint64_t cpu_shares, cpu_reservation_mhz, cpu_limit_mhz; /* 0: none */
	/* live figures; only while it runs (running or paused) */
	bool live;
	bool sched; /* vcpu[] scheduler figures and entitlement are valid */
	uint64_t entitled_mhz, demand_mhz;
	unsigned n_vcpus;
	struct metrics_vcpu vcpu[METRICS_MAX_VCPUS];
	unsigned n_disks, n_nics;
	struct metrics_disk disk[METRICS_MAX_DEVICES];
	struct metrics_nic nic[METRICS_MAX_DEVICES];
	bool has_mem;
	struct metrics_mem mem;
	/* memory QoS (configuration) and the memory manager's figures
	 * (issue 15; mem_live: it measured the VM) */
	uint64_t mem_shares, mem_reservation_bytes, mem_limit_bytes;
	bool mem_live, mem_has_balloon;
	uint64_t mem_target_bytes, mem_active_bytes, mem_consumed_bytes;
	uint64_t mem_zero_shared_bytes, mem_cow_breaks;
	uint64_t mem_balloon_target_bytes, mem_balloon_bytes;
	uint64_t mem_pool_shared_bytes;	  /* mapped to the host-wide pool */
	uint64_t mem_kernel_shared_bytes; /* the daemon's kernel copy */
};

struct metrics_host {
	const char *version;
	double uptime_s;
	uint64_t pcpus, mhz_per_pcpu, capacity_mhz, reserved_mhz;
	uint64_t memory_bytes;	     /* host RAM */
	uint64_t mem_budget_bytes;   /* what the VMs may hold in total */
	uint64_t mem_reserved_bytes; /* reservations of the running VMs */
	/* cross-VM page sharing: the pool's frames, the guest frames that
	 * map them, what that saves ((shared - pool) bytes) */
	uint64_t mem_pool_bytes, mem_pool_shared_bytes, mem_pool_saved_bytes;
	bool scheduler;
};

/* API replies sent so far with one HTTP status. */
struct metrics_api_count {
	int status;
	uint64_t count;
};

/* One port of a virtual switch (docs/network.md "CPU cost"): a VM NIC,
 * or the uplink (id "uplink", mac ""). cpu_ns is the switch thread's CPU
 * time spent on the frames the port sent. */
struct metrics_switch_port {
	char id[12];
	char mac[18];
	char portgroup[32];
	uint64_t cpu_ns, tx_frames, tx_bytes, rx_frames, rx_bytes;
};
struct metrics_switch {
	char name[32];
	uint64_t cpu_ns; /* the switch thread's CPU time, all of it */
	size_t n_ports;
	struct metrics_switch_port *ports; /* malloc'd */
};

struct metrics_snapshot {
	struct metrics_host host;
	const struct metrics_vm *vms;
	size_t n_vms;
	/* every state name, for softvisor_vm_state's 0/1 series */
	const char *const *states;
	size_t n_states;
	const struct metrics_api_count *api; /* non-zero counts only */
	size_t n_api;
	const struct metrics_switch *switches; /* the daemon's switches */
	size_t n_switches;
};

/* Render s as text/plain; version=0.0.4. 0, or -ENOMEM. */
int metrics_render(const struct metrics_snapshot *s, char **text, size_t *len);

/* The switch families (metrics_switch.c); metrics_render calls it. */
void metrics_render_switches(FILE *f, const struct metrics_snapshot *s);

/* Write s as a label value: backslash, double quote and line feed become
 * \\, \" and \n (exposition format 0.0.4); other bytes pass unchanged. */
void metrics_write_label_value(FILE *f, const char *s);

/* The Content-Type of the rendered text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
