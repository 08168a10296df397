/*
 * Water-filling: see qos.h for the contract.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "vmm/qos.h"

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t clamp_u64(uint64_t x, uint64_t lo, uint64_t hi)
{
	return x < lo ? lo : (x > hi ? hi : x);
}

/*
 * With claim j at x_j(L) = clamp(L * s_j, lo_j, hi_j), g(L) = sum_j x_j(L)
 * is nondecreasing and piecewise linear, so claim j is pinned at hi_j iff
 * g(hi_j / s_j) <= C, at lo_j iff g(lo_j / s_j) >= C, and free otherwise;
 * free claims split what the pinned ones leave by shares. g(num/den) * den
 * is computed in integers, so the classification is exact.
 */
typedef unsigned __int128 u128;

static u128 g_scaled(const uint64_t *lo, const uint64_t *hi,
		     const struct qos_claim *a, unsigned int n, uint64_t num,
		     uint64_t den)
{
	u128 sum = 0;

	for (unsigned int j = 0; j < n; j++)
		sum += clamp_u64(num * a[j].shares, lo[j] * den, hi[j] * den);
	return sum;
}

/* Per-claim bounds: lo[j] <= hi[j], the caps of water-filling. */
static void bounds(struct qos_claim *a, unsigned int n, uint64_t c,
		   uint64_t *lo, uint64_t *hi)
{
	for (unsigned int j = 0; j < n; j++) {
		uint64_t cap = a[j].limit ? a[j].limit : c;

		if (a[j].shares > QOS_MAX_SHARES)
			a[j].shares = QOS_MAX_SHARES;
		hi[j] = min_u64(min_u64(cap, a[j].demand), c);
		lo[j] = min_u64(a[j].reservation, hi[j]);
	}
}

static void fill(struct qos_claim *a, unsigned int n, uint64_t c, uint64_t *lo,
		 uint64_t *hi, bool *pinned)
{
	uint64_t sum_lo = 0, sum_hi = 0, fixed = 0, free_shares = 0;

	bounds(a, n, c, lo, hi);
	for (unsigned int j = 0; j < n; j++) {
		sum_lo += lo[j];
		sum_hi += hi[j];
	}
	if (sum_hi <= c) {
		/* Everybody gets what they want (up to their limit). */
		for (unsigned int j = 0; j < n; j++)
			a[j].granted = hi[j];
		return;
	}
	if (sum_lo >= c) {
		/* Only after a capacity drop: reservations pro rata. */
		for (unsigned int j = 0; j < n; j++)
			a[j].granted = lo[j] * c / sum_lo;
		return;
	}
	for (unsigned int j = 0; j < n; j++) {
		uint64_t s = a[j].shares;

		pinned[j] = true;
		if (s == 0 || lo[j] == hi[j] ||
		    g_scaled(lo, hi, a, n, lo[j], s) >= (u128)c * s) {
			a[j].granted = lo[j];
		} else if (g_scaled(lo, hi, a, n, hi[j], s) <= (u128)c * s) {
			a[j].granted = hi[j];
		} else {
			pinned[j] = false;
			free_shares += s;
			continue;
		}
		fixed += a[j].granted;
	}
	for (unsigned int j = 0; j < n; j++) {
		uint64_t rest = c > fixed ? c - fixed : 0;

		if (pinned[j])
			continue;
		a[j].granted = clamp_u64(rest * a[j].shares / free_shares,
					 lo[j], hi[j]);
	}
}

void qos_waterfill(struct qos_claim *a, unsigned int n, uint64_t capacity)
{
	uint64_t c = min_u64(capacity, QOS_MAX_CAPACITY);
	uint64_t lo_s[QOS_STACK_CLAIMS], hi_s[QOS_STACK_CLAIMS];
	bool pinned_s[QOS_STACK_CLAIMS];
	uint64_t *heap;

	if (n <= QOS_STACK_CLAIMS) {
		fill(a, n, c, lo_s, hi_s, pinned_s);
		return;
	}
	heap = malloc((size_t)n * (2 * sizeof(uint64_t) + sizeof(bool)));
	if (!heap) {
		uint64_t lo, hi;

		for (unsigned int j = 0; j < n; j++) {
			bounds(&a[j], 1, c, &lo, &hi);
			a[j].granted = lo;
		}
		return;
	}
	fill(a, n, c, heap, heap + n, (bool *)(heap + 2 * (size_t)n));
	free(heap);
}
