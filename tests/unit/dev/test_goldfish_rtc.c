/* Unit tests for src/dev/goldfish_rtc: time, set time, alarm interrupt. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "dev/goldfish_rtc.h"
#include "util/clock.h"

enum {
	TIME_LOW = 0x00,
	TIME_HIGH = 0x04,
	ALARM_LOW = 0x08,
	ALARM_HIGH = 0x0c,
	IRQ_ENABLED = 0x10,
	CLEAR_ALARM = 0x14,
	ALARM_STATUS = 0x18,
	CLEAR_INTERRUPT = 0x1c,
};

#define MS 1000000ULL
/* How far a clock may have moved between two reads: generous, since this
 * machine is shared and a thread can wait seconds for a CPU. */
#define SLACK (10000 * MS)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int irq_level, irq_rises;
static const struct mmio_ops *ops;

static void irq_set(void *opaque, int level)
{
	pthread_mutex_lock(&mu);
	if (level && !irq_level)
		irq_rises++;
	irq_level = level;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static struct goldfish_rtc *mk(void)
{
	struct irq_line l = { irq_set, NULL };
	struct error err;

	irq_level = irq_rises = 0;
	ops = goldfish_rtc_mmio_ops();
	struct goldfish_rtc *r = goldfish_rtc_create(&l, &err);
	assert_non_null(r);
	return r;
}

static uint64_t read_time(struct goldfish_rtc *r)
{
	uint64_t lo = ops->read(r, TIME_LOW, 4);
	return lo | ops->read(r, TIME_HIGH, 4) << 32;
}

/* Wait up to timeout_ms for the IRQ line to reach level. */
static int wait_irq(int level, unsigned timeout_ms)
{
	struct timespec ts;
	int ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	while (irq_level != level)
		if (pthread_cond_timedwait(&cv, &mu, &ts))
			break;
	ok = irq_level == level;
	pthread_mutex_unlock(&mu);
	return ok;
}

static void test_time(void **state)
{
	struct goldfish_rtc *r = mk();
	uint64_t host = clock_realtime_ns();
	uint64_t t = read_time(r);

	assert_true(t >= host && t - host < SLACK);
	/* 64-bit read at 0 reads LOW then latched HIGH */
	uint64_t t64 = ops->read(r, TIME_LOW, 8);
	assert_true(t64 >= t && t64 - t < SLACK);
	/* HIGH is latched by the LOW read */
	ops->read(r, TIME_LOW, 4);
	uint32_t hi = (uint32_t)ops->read(r, TIME_HIGH, 4);
	assert_int_equal(hi, (uint32_t)(goldfish_rtc_now(r) >> 32));

	/* guest sets the time as Linux does: HIGH then LOW */
	uint64_t want = 1000000000ULL * 86400 * 365; /* 1971 */
	ops->write(r, TIME_HIGH, want >> 32, 4);
	ops->write(r, TIME_LOW, (uint32_t)want, 4);
	t = read_time(r);
	assert_true(t >= want && t - want < SLACK);
	/* 64-bit write */
	want = 5ULL << 40;
	ops->write(r, TIME_LOW, want, 8);
	t = goldfish_rtc_now(r);
	assert_true(t >= want && t - want < SLACK);
	/* absurd values do not break anything */
	ops->write(r, TIME_LOW, UINT64_MAX, 8);
	ops->write(r, TIME_LOW, 0, 8);
	t = goldfish_rtc_now(r);
	assert_true(t < SLACK);
	goldfish_rtc_destroy(r);
}

static void test_alarm(void **state)
{
	struct goldfish_rtc *r = mk();
	uint64_t when = goldfish_rtc_now(r) + 50 * MS;

	ops->write(r, IRQ_ENABLED, 1, 4);
	assert_int_equal(ops->read(r, IRQ_ENABLED, 4), 1);
	ops->write(r, ALARM_HIGH, when >> 32, 4);
	ops->write(r, ALARM_LOW, (uint32_t)when, 4);
	assert_int_equal(ops->read(r, ALARM_STATUS, 4), 1);
	assert_int_equal(ops->read(r, ALARM_LOW, 4), (uint32_t)when);
	assert_int_equal(ops->read(r, ALARM_HIGH, 4), (uint32_t)(when >> 32));
	assert_true(wait_irq(1, 20000));
	assert_true(goldfish_rtc_now(r) >= when);
	assert_int_equal(ops->read(r, ALARM_STATUS, 4), 0);
	ops->write(r, CLEAR_INTERRUPT, 1, 4);
	assert_true(wait_irq(0, 10));

	/* an alarm in the past fires at once */
	ops->write(r, ALARM_LOW, 0, 8);
	assert_int_equal(irq_level, 1);
	ops->write(r, CLEAR_INTERRUPT, 1, 4);
	assert_int_equal(irq_level, 0);

	/* pending but disabled: line low; enabling raises it */
	ops->write(r, IRQ_ENABLED, 0, 4);
	ops->write(r, ALARM_LOW, 0, 8);
	assert_int_equal(irq_level, 0);
	ops->write(r, IRQ_ENABLED, 1, 4);
	assert_int_equal(irq_level, 1);
	ops->write(r, CLEAR_INTERRUPT, 1, 4);

	/* cleared alarm never fires */
	when = goldfish_rtc_now(r) + 30 * MS;
	ops->write(r, ALARM_LOW, when, 8);
	ops->write(r, CLEAR_ALARM, 1, 4);
	assert_int_equal(ops->read(r, ALARM_STATUS, 4), 0);
	assert_false(wait_irq(1, 100));

	/* an alarm far in the future: destroy must not hang */
	ops->write(r, ALARM_LOW, UINT64_MAX, 8);
	assert_int_equal(ops->read(r, ALARM_STATUS, 4), 1);
	goldfish_rtc_destroy(r);
}

static void test_bounds_and_state(void **state)
{
	struct goldfish_rtc *r = mk();
	struct goldfish_rtc_state st;

	for (uint64_t off = 0x20; off < 0x1000; off += 4)
		for (unsigned sz = 1; sz <= 4; sz *= 2) {
			assert_int_equal(ops->read(r, off, sz), 0);
			ops->write(r, off, ~0ULL, sz);
		}
	assert_int_equal(ops->read(r, 0x1000, 4), 0);
	assert_int_equal(ops->read(r, UINT64_MAX - 3, 4), 0);
	ops->write(r, UINT64_MAX - 3, 0, 4);
	ops->write(r, IRQ_ENABLED, 1, 1); /* sub-word writes ignored */
	assert_int_equal(ops->read(r, IRQ_ENABLED, 4), 0);

	ops->write(r, TIME_LOW, 7ULL << 50, 8);
	ops->write(r, IRQ_ENABLED, 1, 4);
	goldfish_rtc_save(r, &st);
	goldfish_rtc_destroy(r);

	r = mk();
	goldfish_rtc_load(r, &st);
	assert_true(goldfish_rtc_now(r) - (7ULL << 50) < SLACK);
	assert_int_equal(ops->read(r, IRQ_ENABLED, 4), 1);
	goldfish_rtc_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_alarm),
		cmocka_unit_test(test_bounds_and_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
