/*
 * Goldfish RTC (`google,goldfish-rtc`) at 0x0010_1000, size 0x1000: the
 * host's wall clock for the guest (Linux drivers/rtc/rtc-goldfish.c).
 *
 *   0x00 TIME_LOW        read: low 32 bits of the time in ns since the
 *                        epoch, and latches the high half for TIME_HIGH
 *   0x04 TIME_HIGH       read: the latched high half
 *   0x08 ALARM_LOW       write: arms the alarm at (ALARM_HIGH << 32) | value
 *   0x0c ALARM_HIGH      high half of the alarm time
 *   0x10 IRQ_ENABLED     bit 0
 *   0x14 CLEAR_ALARM     write: disarm
 *   0x18 ALARM_STATUS    read: 1 while armed
 *   0x1c CLEAR_INTERRUPT write: drop the pending alarm interrupt
 *
 * Guest time = host CLOCK_REALTIME + an offset. Writing TIME_LOW/TIME_HIGH
 * replaces that half of the current time (the offset absorbs the change), so
 * Linux's HIGH-then-LOW write sets the full value; a 64-bit write at 0x00 sets
 * it at once. The IRQ line is high while an alarm interrupt is pending and
 * IRQ_ENABLED is 1. An alarm at or before the current time fires at once.
 * Registers are 32-bit: 8-byte accesses act as two word accesses (low word
 * first; 64-bit writes at 0x00/0x08 set the whole time/alarm), 1/2-byte reads
 * return part of the word, 1/2-byte writes are ignored.
 *
 * The alarm is timed by a helper thread owned by the device (created by
 * goldfish_rtc_create, joined by goldfish_rtc_destroy) that sleeps on a
 * CLOCK_MONOTONIC condition variable while an alarm is armed and re-checks the
 * wall clock at least once a second, so host clock steps are noticed.
 *
 * Thread safety: every function except create/destroy may be called from any
 * thread (a mutex serializes them). The irq_line is driven with that mutex
 * held, from a guest-access thread or the helper thread; its sink must not
 * call back into the RTC.
 */
#ifndef SV_DEV_GOLDFISH_RTC_H
#define SV_DEV_GOLDFISH_RTC_H

#include <stdint.h>

#include "mem/gmem.h"
#include "util/error.h"
#include "util/irq.h"

#define GOLDFISH_RTC_BASE      0x00101000ULL
#define GOLDFISH_RTC_MMIO_SIZE 0x1000ULL

struct goldfish_rtc;

/* Guest-visible state, plain data for snapshot/migration. */
struct goldfish_rtc_state {
	int64_t offset_ns;  /* guest time - host CLOCK_REALTIME */
	uint64_t alarm_ns;  /* guest time of the alarm */
	uint32_t time_high; /* latched by a TIME_LOW read */
	uint32_t alarm_high;
	uint32_t alarm_running;
	uint32_t irq_pending;
	uint32_t irq_enabled;
};

/* Create with guest time = host wall clock. Returns NULL (err set) if
 * memory or the helper thread cannot be had. */
struct goldfish_rtc *goldfish_rtc_create(const struct irq_line *irq,
					 struct error *err);
/* Stop the helper thread and free the device (NULL is fine). */
void goldfish_rtc_destroy(struct goldfish_rtc *r);

/* The MMIO callbacks; pass the rtc as opaque. */
const struct mmio_ops *goldfish_rtc_mmio_ops(void);

/* Current guest time, ns since the epoch. */
uint64_t goldfish_rtc_now(struct goldfish_rtc *r);

/* Copy the guest-visible state out. */
void goldfish_rtc_save(struct goldfish_rtc *r, struct goldfish_rtc_state *st);
/* Restore state from goldfish_rtc_save; re-arms the alarm, re-drives IRQ. */
void goldfish_rtc_load(struct goldfish_rtc *r,
		       const struct goldfish_rtc_state *st);

#endif
