/*
 * Disk shares between VMs contending for one datastore (docs/block.md,
 * "Disk shares"): the same water-filling as CPU and memory (qos.h), on a
 * datastore's IOPS and bandwidth.
 *
 * The daemon measures every disk of a datastore over a period (what it
 * completed, and whether it waited on a cap or a limit) and calls
 * io_policy_allocate() with the datastore's capacity. When the disks'
 * demand fits the capacity there is no contention and no disk is capped;
 * when it does not, each disk gets a cap of its entitlement: the capacity
 * divided by shares among the disks that want it, each capped by its own
 * limit and demand. A dimension (IOPS or KiB/s) whose capacity is 0 is
 * never capped.
 *
 * Pure: no state, no clock, no threads; tested in tests/unit/vmm.
 */
#ifndef SV_VMM_IO_POLICY_H
#define SV_VMM_IO_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* Per-disk shares: presets as the CPU's per vCPU and VMware SIOC's. */
#define IO_SHARES_LOW	 500u
#define IO_SHARES_NORMAL 1000u
#define IO_SHARES_HIGH	 2000u
/* A disk that waited during the period may want more than it got: its
 * demand is taken as this many times what it completed (at least
 * IO_DEMAND_MIN_* more), so entitlements follow a rising demand. */
#define IO_DEMAND_GROWTH   2u
#define IO_DEMAND_MIN_IOPS 16u
#define IO_DEMAND_MIN_KBPS 256u

/* One disk over the last period. Rates are per second. */
struct io_disk_sample {
	uint32_t shares;     /* 0: IO_SHARES_NORMAL */
	uint64_t limit_iops; /* its own limit (throttling.*), 0: none */
	uint64_t limit_kbps; /* KiB/s, 0: none */
	uint64_t iops;	     /* completed */
	uint64_t kbps;	     /* completed, KiB/s */
	bool waited;	     /* requests waited on a cap or limit */
};

/* A datastore's capacity; 0 in a dimension: unknown (not capped). */
struct io_capacity {
	uint64_t iops;
	uint64_t kbps;
};

/* A disk's cap for the next period; 0 in a dimension: none. */
struct io_grant {
	uint64_t iops;
	uint64_t kbps;
};

/* What a disk is taken to want in each dimension (see IO_DEMAND_GROWTH). */
uint64_t io_policy_demand(uint64_t done, bool waited, uint64_t min_extra);

/*
 * Fill out[0..n) for the n disks of one datastore. Returns a bit set:
 * bit 0 the IOPS dimension is contended (sum of demands above capacity),
 * bit 1 the bandwidth one. In a contended dimension every disk gets a
 * cap: its water-filling entitlement, or for a disk that wants nothing
 * (idle) its proportional share of the capacity (so it may start again at
 * once, but not take more than its share); never 0. In an uncontended one
 * no disk gets a cap.
 */
unsigned io_policy_allocate(const struct io_disk_sample *d, unsigned n,
			    const struct io_capacity *cap,
			    struct io_grant *out);

#define IO_CONTENDED_IOPS 1u
#define IO_CONTENDED_KBPS 2u

#endif
