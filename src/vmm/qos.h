/*
 * Proportional-share allocation of one resource (QoS): reservations first,
 * then the rest by shares, each claim capped by its limit and its demand
 * (water-filling). The CPU scheduler divides MHz with it, the memory policy
 * pages: the seeds' QoS is "the same policy for CPU and memory".
 *
 * Pure: no state and no clock; it allocates scratch only for more than
 * QOS_STACK_CLAIMS claims.
 */
#ifndef SV_VMM_QOS_H
#define SV_VMM_QOS_H

#include <stdint.h>

/* Bounds that keep each claim's exact integer arithmetic inside u64
 * (capacity * shares < 2^30 * 2^24); sums over claims are 128-bit, so the
 * number of claims is not bounded. */
#define QOS_MAX_SHARES	 16000000u
#define QOS_MAX_CAPACITY (1ull << 30)
#define QOS_STACK_CLAIMS 64u /* more than this: scratch from the heap */

/* The memory policy looks at this many VMs at the most (mem_policy.h). */
#define QOS_MAX_CLAIMS 512u

struct qos_claim {
	uint32_t shares;      /* weight; clamped to QOS_MAX_SHARES */
	uint64_t reservation; /* floor (when the capacity allows) */
	uint64_t limit;	      /* cap; 0 = none */
	uint64_t demand;      /* what the client could use now */
	uint64_t granted;     /* output */
};

/*
 * Fill granted for the n claims out of capacity (clamped to QOS_MAX_CAPACITY). With hi = min(limit, demand,
 * capacity) and lo = min(reservation, hi): if the his fit, everyone gets hi;
 * if the los do not, the los pro rata; else x_j = clamp(L * shares_j, lo_j,
 * hi_j) for the level L at which the x_j add up to the capacity, found
 * exactly in integers (docs/scheduler.md, "Entitlements"). When scratch
 * for more than QOS_STACK_CLAIMS claims cannot be had, everyone gets lo
 * (which fits when admission control kept the reservations in capacity).
 */
void qos_waterfill(struct qos_claim *a, unsigned int n, uint64_t capacity);

#endif
