/* Token-bucket traffic shaping of one port direction (shaper.h). */
#include "net/shaper.h"

#include <errno.h>
#include <string.h>

int shaper_check(const struct shaper_config *cfg, size_t max_frame,
		 struct error *err)
{
	if (!cfg->enabled)
		return 0;
	if (!cfg->avg_bps)
		return error_set(err, EINVAL,
				 "shaping: average bandwidth must be > 0");
	if (cfg->peak_bps < cfg->avg_bps)
		return error_set(err, EINVAL,
				 "shaping: peak bandwidth %llu bit/s is below "
				 "the average %llu bit/s",
				 (unsigned long long)cfg->peak_bps,
				 (unsigned long long)cfg->avg_bps);
	if (cfg->burst_bytes < max_frame)
		return error_set(err, EINVAL,
				 "shaping: burst size %llu bytes is below one "
				 "frame (%zu bytes)",
				 (unsigned long long)cfg->burst_bytes,
				 max_frame);
	return 0;
}

void shaper_init(struct shaper *s, const struct shaper_config *cfg,
		 size_t max_frame)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->peak_cap = (double)max_frame;
	s->avg_tokens = (double)cfg->burst_bytes;
	s->peak_tokens = s->peak_cap;
}

static double refill(double tokens, double cap, uint64_t bps, uint64_t dt_ns)
{
	tokens += (double)dt_ns * (double)bps / 8e9;
	return tokens > cap ? cap : tokens;
}

bool shaper_admit(struct shaper *s, size_t len, uint64_t now_ns)
{
	if (!s->cfg.enabled)
		return true;
	if (s->primed && now_ns > s->last_ns) {
		uint64_t dt = now_ns - s->last_ns;

		s->avg_tokens = refill(s->avg_tokens,
				       (double)s->cfg.burst_bytes,
				       s->cfg.avg_bps, dt);
		s->peak_tokens = refill(s->peak_tokens, s->peak_cap,
					s->cfg.peak_bps, dt);
	}
	if (!s->primed || now_ns > s->last_ns)
		s->last_ns = now_ns;
	s->primed = true;
	if (s->avg_tokens < (double)len || s->peak_tokens < (double)len)
		return false;
	s->avg_tokens -= (double)len;
	s->peak_tokens -= (double)len;
	return true;
}
