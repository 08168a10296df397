/*
 * The daemon's I/O control (docs/block.md, "Disk shares"): once a period
 * it samples every running VM's disks from their workers, computes each
 * disk's figures (IOPS, bytes/s, latency, time throttled), and for every
 * datastore with a configured capacity divides that capacity among its
 * disks by shares when they contend for it (vmm/io_policy.h), pushing the
 * resulting caps to the workers (vm_disk_caps). Figures for the API
 * (GET /v1/host/disks), softvisor top and /metrics.
 *
 * A datastore is the file system holding an image (st_dev of its path);
 * one is given a capacity with `softvisor daemon --datastore
 * PATH,iops=N[,bps=N]`.
 *
 * Threads: one thread of its own; the query functions may be called from
 * any thread.
 */
#ifndef SV_API_DAEMON_IO_H
#define SV_API_DAEMON_IO_H

#include <jansson.h>

#include "util/error.h"

struct daemon;
struct daemon_io;

#define DAEMON_IO_PERIOD_MS	 1000u
#define DAEMON_IO_MAX_DATASTORES 16u

/* Parse one --datastore PATH,iops=N[,bps=N] (PATH must exist). 0 or
 * -EINVAL with a message naming the option. */
struct daemon_datastore_cfg {
	char path[4096];
	uint64_t iops, bps;
};
int daemon_io_parse_datastore(const char *arg, struct daemon_datastore_cfg *out,
			      struct error *err);

/* Start the control thread (cfg: n datastores with capacities). */
int daemon_io_open(struct daemon *d, const struct daemon_datastore_cfg *cfg,
		   unsigned n, struct daemon_io **out, struct error *err);
/* Stop the thread (caps stay on the VMs still running: the daemon is
 * closing them). NULL is a no-op. */
void daemon_io_close(struct daemon_io *io);

/* {"period_ms": N, "datastores": [...], "disks": [...]} of the last
 * period (docs/api.yaml HostDisks). */
int daemon_io_disks_json(struct daemon_io *io, json_t **out, struct error *err);

/* The last period's figures of disk idx of VM id (for /metrics); false if
 * there are none yet. */
struct daemon_io_figures {
	double rd_iops, wr_iops, rd_bps, wr_bps;
	double latency_ms;   /* average over the period's reads and writes */
	double throttled_ms; /* per second */
	uint64_t cap_iops, cap_bps; /* 0: none */
	uint32_t shares;
};
bool daemon_io_figures(struct daemon_io *io, int64_t vm_id, unsigned idx,
		       struct daemon_io_figures *out);

#endif
