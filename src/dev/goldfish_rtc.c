/*
 * Goldfish RTC. There is no formal spec; the register semantics are those
 * Linux's drivers/rtc/rtc-goldfish.c relies on (documented in goldfish_rtc.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dev/goldfish_rtc.h"
#include "util/clock.h"
#include "util/error.h"

enum {
	RTC_TIME_LOW = 0x00,
	RTC_TIME_HIGH = 0x04,
	RTC_ALARM_LOW = 0x08,
	RTC_ALARM_HIGH = 0x0c,
	RTC_IRQ_ENABLED = 0x10,
	RTC_CLEAR_ALARM = 0x14,
	RTC_ALARM_STATUS = 0x18,
	RTC_CLEAR_INTERRUPT = 0x1c,
};

/* The helper re-reads the wall clock at least this often while armed. */
#define RTC_MAX_SLEEP_NS 1000000000ULL

struct goldfish_rtc {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	pthread_t thread;
	bool stop;
	struct irq_line irq;
	bool irq_level;
	struct goldfish_rtc_state s;
};

static uint64_t rtc_now_locked(const struct goldfish_rtc *r)
{
	return clock_realtime_ns() + (uint64_t)r->s.offset_ns;
}

static void rtc_update_irq(struct goldfish_rtc *r)
{
	bool lvl = r->s.irq_pending && r->s.irq_enabled;
	if (lvl != r->irq_level) {
		r->irq_level = lvl;
		irq_line_set(&r->irq, lvl);
	}
}

/* Fire the alarm if it is due. Returns the ns until it is due, or 0. */
static uint64_t rtc_check_alarm(struct goldfish_rtc *r)
{
	uint64_t now;

	if (!r->s.alarm_running)
		return 0;
	now = rtc_now_locked(r);
	if (now < r->s.alarm_ns)
		return r->s.alarm_ns - now;
	r->s.alarm_running = 0;
	r->s.irq_pending = 1;
	rtc_update_irq(r);
	return 0;
}

static void *rtc_thread(void *arg)
{
	struct goldfish_rtc *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		uint64_t wait = rtc_check_alarm(r);
		if (!r->s.alarm_running) {
			pthread_cond_wait(&r->cond, &r->lock);
			continue;
		}
		if (wait > RTC_MAX_SLEEP_NS)
			wait = RTC_MAX_SLEEP_NS;
		uint64_t dl = clock_monotonic_ns() + wait;
		struct timespec ts = {
			.tv_sec = (time_t)(dl / 1000000000ULL),
			.tv_nsec = (long)(dl % 1000000000ULL),
		};
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Replace the bits of mask in the guest time by those of val. */
static void rtc_set_time_bits(struct goldfish_rtc *r, uint64_t val,
			      uint64_t mask)
{
	uint64_t now = rtc_now_locked(r);
	uint64_t t = (now & ~mask) | (val & mask);
	/* unsigned: the guest may pick any value, no signed overflow */
	r->s.offset_ns = (int64_t)((uint64_t)r->s.offset_ns + (t - now));
	pthread_cond_signal(&r->cond);
}

static void rtc_arm(struct goldfish_rtc *r, uint64_t when)
{
	r->s.alarm_ns = when;
	r->s.alarm_running = 1;
	rtc_check_alarm(r); /* due already: fire now */
	pthread_cond_signal(&r->cond);
}

static uint32_t rtc_read32(struct goldfish_rtc *r, uint64_t off)
{
	uint64_t t;

	switch (off) {
	case RTC_TIME_LOW:
		t = rtc_now_locked(r);
		r->s.time_high = (uint32_t)(t >> 32);
		return (uint32_t)t;
	case RTC_TIME_HIGH: return r->s.time_high;
	case RTC_ALARM_LOW: return (uint32_t)r->s.alarm_ns;
	case RTC_ALARM_HIGH: return (uint32_t)(r->s.alarm_ns >> 32);
	case RTC_IRQ_ENABLED: return r->s.irq_enabled;
	case RTC_ALARM_STATUS: return r->s.alarm_running;
	default: return 0;
	}
}

static void rtc_write32(struct goldfish_rtc *r, uint64_t off, uint32_t v)
{
	switch (off) {
	case RTC_TIME_LOW: rtc_set_time_bits(r, v, 0xffffffffULL); break;
	case RTC_TIME_HIGH:
		rtc_set_time_bits(r, (uint64_t)v << 32, ~0xffffffffULL);
		break;
	case RTC_ALARM_LOW:
		rtc_arm(r, (uint64_t)r->s.alarm_high << 32 | v);
		break;
	case RTC_ALARM_HIGH: r->s.alarm_high = v; break;
	case RTC_IRQ_ENABLED:
		r->s.irq_enabled = v & 1;
		rtc_update_irq(r);
		break;
	case RTC_CLEAR_ALARM:
		r->s.alarm_running = 0;
		pthread_cond_signal(&r->cond);
		break;
	case RTC_CLEAR_INTERRUPT:
		r->s.irq_pending = 0;
		rtc_update_irq(r);
		break;
	default: break;
	}
}

static bool rtc_access_ok(uint64_t off, unsigned size)
{
	return (size == 1 || size == 2 || size == 4 || size == 8) &&
	       off < GOLDFISH_RTC_MMIO_SIZE &&
	       size <= GOLDFISH_RTC_MMIO_SIZE - off && !(off & (size - 1));
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
	struct goldfish_rtc *r = opaque;
	uint64_t v;

	if (!rtc_access_ok(off, size))
		return 0;
	pthread_mutex_lock(&r->lock);
	if (size == 8) {
		v = rtc_read32(r, off);
		v |= (uint64_t)rtc_read32(r, off + 4) << 32;
	} else {
		uint32_t w = rtc_read32(r, off & ~3ULL);
		v = size == 4
			    ? w
			    : (w >> ((off & 3) * 8)) & ((1u << (size * 8)) - 1);
	}
	pthread_mutex_unlock(&r->lock);
	return v;
}

static void rtc_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct goldfish_rtc *r = opaque;

	if (!rtc_access_ok(off, size) || size < 4)
		return;
	pthread_mutex_lock(&r->lock);
	if (size == 8 && off == RTC_TIME_LOW) {
		rtc_set_time_bits(r, val, ~0ULL);
	} else if (size == 8 && off == RTC_ALARM_LOW) {
		r->s.alarm_high = (uint32_t)(val >> 32);
		rtc_arm(r, val);
	} else if (size == 8) {
		rtc_write32(r, off, (uint32_t)val);
		rtc_write32(r, off + 4, (uint32_t)(val >> 32));
	} else {
		rtc_write32(r, off, (uint32_t)val);
	}
	pthread_mutex_unlock(&r->lock);
}

static const struct mmio_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};

const struct mmio_ops *goldfish_rtc_mmio_ops(void)
{
	return &rtc_ops;
}

struct goldfish_rtc *goldfish_rtc_create(const struct irq_line *irq,
					 struct error *err)
{
	struct goldfish_rtc *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;
	int rc;

	if (!r) {
		error_set(err, ENOMEM, "goldfish-rtc: out of memory");
		return NULL;
	}
	if (irq)
		r->irq = *irq;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&r->thread, NULL, rtc_thread, r);
	if (rc) {
		error_set(err, rc, "goldfish-rtc: cannot start alarm thread");
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return NULL;
	}
	return r;
}

void goldfish_rtc_destroy(struct goldfish_rtc *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

uint64_t goldfish_rtc_now(struct goldfish_rtc *r)
{
	uint64_t t;

	pthread_mutex_lock(&r->lock);
	t = rtc_now_locked(r);
	pthread_mutex_unlock(&r->lock);
	return t;
}

void goldfish_rtc_save(struct goldfish_rtc *r, struct goldfish_rtc_state *st)
{
	pthread_mutex_lock(&r->lock);
	*st = r->s;
	pthread_mutex_unlock(&r->lock);
}

void goldfish_rtc_load(struct goldfish_rtc *r,
		       const struct goldfish_rtc_state *st)
{
	pthread_mutex_lock(&r->lock);
	r->s = *st;
	r->s.alarm_running = !!r->s.alarm_running;
	r->s.irq_pending = !!r->s.irq_pending;
	r->s.irq_enabled &= 1;
	rtc_check_alarm(r);
	r->irq_level = r->s.irq_pending && r->s.irq_enabled;
	irq_line_set(&r->irq, r->irq_level);
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}
