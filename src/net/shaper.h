/*
 * Traffic shaping of one port direction as ESXi defines it: an average
 * bandwidth, a peak bandwidth and a burst size.
 *
 * Two token buckets: the average bucket fills at avg_bps and holds at most
 * burst_bytes (the traffic a port may send above the average); the peak
 * bucket fills at peak_bps and holds one largest frame, so even a burst
 * leaves at no more than the peak rate. A frame passes when both buckets
 * hold its size; otherwise it is dropped (a policer: TCP backs off, as it
 * does on an ESXi shaped port group).
 *
 * Pure: the caller passes a monotonic time. One shaper is used by one
 * thread at a time.
 */
#ifndef SV_NET_SHAPER_H
#define SV_NET_SHAPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct shaper_config {
	bool enabled;
	uint64_t avg_bps;     /* bits per second, > 0 */
	uint64_t peak_bps;    /* >= avg_bps */
	uint64_t burst_bytes; /* >= one largest frame */
};

struct shaper {
	struct shaper_config cfg;
	double avg_tokens;  /* bytes */
	double peak_tokens; /* bytes */
	double peak_cap;    /* bytes: one largest frame */
	uint64_t last_ns;
	bool primed;
};

/* Check a config against the largest frame: 0 or -EINVAL naming the field. */
int shaper_check(const struct shaper_config *cfg, size_t max_frame,
		 struct error *err);
/* (Re)start with full buckets. */
void shaper_init(struct shaper *s, const struct shaper_config *cfg,
		 size_t max_frame);
/* May a frame of len bytes pass at now_ns? Takes its tokens when it may.
 * Always true when shaping is off. */
bool shaper_admit(struct shaper *s, size_t len, uint64_t now_ns);

#endif
