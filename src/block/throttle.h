/*
 * Per-disk I/O limits with QEMU's option names and QEMU's leaky-bucket
 * algorithm (docs/block.md, "I/O limits").
 *
 *   struct throttle_config cfg = { 0 };
 *   throttle_config_set(&cfg, "bps-write", "1048576", &err);
 *   struct throttle_member *m = throttle_member_new(&cfg, NULL, &err);
 *   throttle_member_io(m, true, 65536);     (blocks until allowed)
 *   throttle_member_free(m);
 *
 * A member is one disk; it belongs to a group that holds the buckets: a
 * private group of its own, or a named group (cfg.group) shared by every
 * disk in the process that names it. Inside a group, members contending for
 * the limit are served in proportion to their shares (start-time fair
 * queuing on bytes plus a per-request cost).
 *
 * Six buckets: bps-total, bps-read, bps-write, iops-total, iops-read,
 * iops-write. Each has an average rate (units per second), an optional
 * burst rate (-max) and a burst length in seconds (-max-length, default 1).
 * A request is admitted when none of the buckets that apply to it (the
 * total ones and those of its direction) is over its size; it is then
 * charged to them (bytes, and one I/O, or bytes/iops-size I/Os for large
 * requests when iops-size is set). Buckets leak at their average rate.
 *
 * Thread safety: throttle_member_io() may be called from any number of
 * threads at once; members of one group share its lock. new/free must not
 * race with io on the same member. The config functions are plain data.
 */
#ifndef SV_BLOCK_THROTTLE_H
#define SV_BLOCK_THROTTLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

enum throttle_bucket {
	THROTTLE_BPS_TOTAL,
	THROTTLE_BPS_READ,
	THROTTLE_BPS_WRITE,
	THROTTLE_IOPS_TOTAL,
	THROTTLE_IOPS_READ,
	THROTTLE_IOPS_WRITE,
	THROTTLE_N_BUCKETS
};

/* QEMU's upper bound for any limit value (THROTTLE_VALUE_MAX). */
#define THROTTLE_VALUE_MAX	1000000000000000ull
#define THROTTLE_GROUP_MAX	32    /* bytes of a group name with NUL */
#define THROTTLE_SHARES_DEFAULT 1000u /* as the CPU's "normal" shares */
#define THROTTLE_SHARES_MAX	1000000u

struct throttle_limit {
	uint64_t avg;	     /* units per second; 0: unlimited */
	uint64_t max;	     /* burst rate; 0: none (avg/10 of slack) */
	uint64_t max_length; /* seconds a burst may last; 0 means 1 */
};

struct throttle_config {
	struct throttle_limit l[THROTTLE_N_BUCKETS];
	uint64_t iops_size;		/* 0: every request is one I/O */
	char group[THROTTLE_GROUP_MAX]; /* "": a group of its own */
	uint32_t shares;		/* 0: THROTTLE_SHARES_DEFAULT */
};

/* True if any limit is set (a disk without one skips throttling). */
bool throttle_config_enabled(const struct throttle_config *cfg);

/* Set one option from its QEMU name without the "throttling." prefix:
 * "bps-total", "iops-read-max", "bps-write-max-length", "iops-size",
 * "group", "shares" (1..THROTTLE_SHARES_MAX, or low, normal, high:
 * 500, 1000, 2000). -EINVAL with a message naming key for an unknown
 * key or a bad value. */
int throttle_config_set(struct throttle_config *cfg, const char *key,
			const char *val, struct error *err);

/* Check the combination as QEMU does: total and read/write limits of one
 * kind exclusive, -max needs the average and may not be lower, a burst
 * length needs -max, values at most THROTTLE_VALUE_MAX. */
int throttle_config_check(const struct throttle_config *cfg, struct error *err);

/* The name of bucket b ("bps-total"). */
const char *throttle_bucket_name(enum throttle_bucket b);

/*
 * The clock a group runs on: the host's monotonic clock by default; unit
 * tests pass a fake one. wait_until() waits on cond (mu held, as
 * pthread_cond_timedwait) until signalled or the clock reaches deadline_ns
 * (UINT64_MAX: no deadline); spurious returns are fine. cond is created
 * with pthread_condattr_setclock(CLOCK_MONOTONIC).
 */
struct throttle_clock {
	uint64_t (*now)(void *opaque);
	void (*wait_until)(void *opaque, pthread_cond_t *cond,
			   pthread_mutex_t *mu, uint64_t deadline_ns);
	void *opaque;
};

struct throttle_member;
struct throttle_group;

/* A member with cfg's limits, in cfg->group (created with cfg's limits if
 * no member of that name exists; joining an existing group needs the same
 * limits, or none). clock NULL: the host's. NULL with err on a bad config,
 * a limit conflict, or out of memory. */
struct throttle_member *throttle_member_new(const struct throttle_config *cfg,
					    const struct throttle_clock *clock,
					    struct error *err);

/* Leave the group (freed with its last member). NULL is a no-op. */
void throttle_member_free(struct throttle_member *m);

/* Wait until a request of bytes in the given direction is allowed, then
 * charge it. NULL m: no limit. */
void throttle_member_io(struct throttle_member *m, bool is_write,
			uint64_t bytes);

/* Change the average rate of buckets iops-total and bps-total of m, a
 * member of a private group (no burst rates), while I/O runs: 0 removes
 * the limit. Requests waiting are re-evaluated at once. For the daemon's
 * datastore caps (docs/block.md, "Disk shares"). -EINVAL for a member of
 * a named group or a value above THROTTLE_VALUE_MAX. Any thread. */
int throttle_member_set_rate(struct throttle_member *m, uint64_t iops,
			     uint64_t bps);

/* Total nanoseconds requests of m spent waiting (for stats). */
uint64_t throttle_member_waited_ns(const struct throttle_member *m);

/*
 * The scheduler underneath throttle_member_io(), for unit tests that drive
 * it step by step on a fake clock (single thread, no locking).
 */
struct throttle_waiter {
	struct throttle_member *m;
	bool is_write;
	uint64_t bytes;
	bool admitted;
	struct throttle_waiter *next; /* scheduler use */
};

/* The group m belongs to. */
struct throttle_group *throttle_member_group(struct throttle_member *m);

/* Queue w (its m, is_write, bytes set) on its member's group. */
void throttle_sched_enqueue(struct throttle_waiter *w);

/* At time now: dequeue, charge and return the waiter to admit next, or
 * NULL with *wait_ns how long until one may be (0 if none is queued). */
struct throttle_waiter *throttle_sched_dispatch(struct throttle_group *g,
						uint64_t now,
						uint64_t *wait_ns);

#endif
