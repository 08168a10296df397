/*
 * The guest's clock: the RISC-V `time` counter of one VM, running off the host
 * monotonic clock at a fixed timebase of 10 MHz (ARCHITECTURE.md, "The hot
 * path"). Pausing freezes it; resuming continues from the frozen value, so a
 * guest never sees the pause.
 *
 * Thread safety: vclock_now() may be called from any thread at any time.
 * vclock_pause()/vclock_resume() are called by the VM's owner only, while no
 * other thread changes the clock.
 */
#ifndef SV_UTIL_VCLOCK_H
#define SV_UTIL_VCLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/clock.h"

#define VCLOCK_HZ	   10000000ULL
#define VCLOCK_NS_PER_TICK (1000000000ULL / VCLOCK_HZ)

struct vclock {
	/* guest ticks = (host_ns - base_ns) / 100, while running */
	_Atomic int64_t base_ns;
	_Atomic uint64_t frozen_ticks; /* value while paused */
	_Atomic bool paused;
};

/* Start at tick 0 now. */
static inline void vclock_init(struct vclock *c)
{
	atomic_store(&c->base_ns, (int64_t)clock_monotonic_ns());
	atomic_store(&c->frozen_ticks, 0);
	atomic_store(&c->paused, false);
}

/* Current guest time in ticks. */
static inline uint64_t vclock_now(const struct vclock *c)
{
	if (atomic_load_explicit(&c->paused, memory_order_acquire))
		return atomic_load_explicit(&c->frozen_ticks,
					    memory_order_relaxed);
	int64_t ns = (int64_t)clock_monotonic_ns() -
		     atomic_load_explicit(&c->base_ns, memory_order_relaxed);
	return (uint64_t)ns / VCLOCK_NS_PER_TICK;
}

/* Host monotonic ns at which the guest clock reaches `ticks` (for timed
 * waits). Returns UINT64_MAX while paused. */
static inline uint64_t vclock_host_ns_at(const struct vclock *c, uint64_t ticks)
{
	if (atomic_load_explicit(&c->paused, memory_order_acquire))
		return UINT64_MAX;
	if (ticks > (UINT64_MAX / 2) / VCLOCK_NS_PER_TICK)
		return UINT64_MAX;
	return (uint64_t)atomic_load_explicit(&c->base_ns,
					      memory_order_relaxed) +
	       ticks * VCLOCK_NS_PER_TICK;
}

static inline void vclock_pause(struct vclock *c)
{
	if (atomic_load(&c->paused))
		return;
	atomic_store(&c->frozen_ticks, vclock_now(c));
	atomic_store_explicit(&c->paused, true, memory_order_release);
}

static inline void vclock_resume(struct vclock *c)
{
	if (!atomic_load(&c->paused))
		return;
	uint64_t t = atomic_load(&c->frozen_ticks);
	atomic_store(&c->base_ns, (int64_t)clock_monotonic_ns() -
					  (int64_t)(t * VCLOCK_NS_PER_TICK));
	atomic_store_explicit(&c->paused, false, memory_order_release);
}

#endif
