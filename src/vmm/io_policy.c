/* Disk shares: see io_policy.h. */
#include <stdlib.h>
#include <string.h>

#include "vmm/io_policy.h"
#include "vmm/qos.h"

uint64_t io_policy_demand(uint64_t done, bool waited, uint64_t min_extra)
{
	uint64_t grown;

	if (!waited)
		return done;
	grown = done * IO_DEMAND_GROWTH;
	return grown > done + min_extra ? grown : done + min_extra;
}

static uint32_t shares_of(const struct io_disk_sample *d)
{
	return d->shares ? d->shares : IO_SHARES_NORMAL;
}

/* One dimension: demand from done/waited, limit, capacity c. Returns true
 * (and fills grant[j]) if contended. */
static bool dimension(const struct io_disk_sample *d, unsigned n, uint64_t c,
		      bool iops, struct qos_claim *a, uint64_t *grant)
{
	uint64_t sum = 0, sum_shares = 0;

	if (!c)
		return false;
	if (c > QOS_MAX_CAPACITY)
		c = QOS_MAX_CAPACITY;
	for (unsigned j = 0; j < n; j++) {
		uint64_t done = iops ? d[j].iops : d[j].kbps;
		uint64_t lim = iops ? d[j].limit_iops : d[j].limit_kbps;

		a[j] = (struct qos_claim){
			.shares = shares_of(&d[j]),
			.limit = lim > QOS_MAX_CAPACITY ? QOS_MAX_CAPACITY
							: lim,
			.demand = io_policy_demand(done, d[j].waited,
						   iops ? IO_DEMAND_MIN_IOPS
							: IO_DEMAND_MIN_KBPS),
		};
		if (a[j].demand > QOS_MAX_CAPACITY)
			a[j].demand = QOS_MAX_CAPACITY;
		sum += a[j].limit && a[j].limit < a[j].demand ? a[j].limit
							      : a[j].demand;
		sum_shares += a[j].shares;
	}
	if (sum <= c)
		return false;
	qos_waterfill(a, n, c);
	for (unsigned j = 0; j < n; j++) {
		uint64_t g = a[j].granted;

		/* An idle disk: its proportional share, so it is neither
		 * stalled when it starts again nor able to take more than
		 * that before the next period. */
		if (!a[j].demand)
			g = c * a[j].shares / sum_shares;
		grant[j] = g ? g : 1;
	}
	return true;
}

unsigned io_policy_allocate(const struct io_disk_sample *d, unsigned n,
			    const struct io_capacity *cap, struct io_grant *out)
{
	struct qos_claim *a;
	uint64_t *g;
	unsigned r = 0;

	memset(out, 0, (size_t)n * sizeof(*out));
	if (!n)
		return 0;
	a = calloc(n, sizeof(*a));
	g = calloc(n, sizeof(*g));
	if (a && g) {
		if (dimension(d, n, cap->iops, true, a, g)) {
			r |= IO_CONTENDED_IOPS;
			for (unsigned j = 0; j < n; j++)
				out[j].iops = g[j];
		}
		if (dimension(d, n, cap->kbps, false, a, g)) {
			r |= IO_CONTENDED_KBPS;
			for (unsigned j = 0; j < n; j++)
				out[j].kbps = g[j];
		}
	}
	free(a);
	free(g);
	return r;
}
