/*
 * The event bus (src/api/event_bus.c): events reach every subscriber in
 * order, a subscriber that falls behind is dropped without the publisher
 * waiting, the number of streams is bounded, shutdown wakes waiters.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/event_bus.h"

static void publish(struct event_bus *b, int64_t id, const char *vm)
{
	struct inventory_event e = { .id = id, .time_ms = 1000 + id };

	snprintf(e.vm, sizeof(e.vm), "%s", vm);
	snprintf(e.action, sizeof(e.action), "start");
	event_bus_publish(b, &e);
}

static void test_fanout_in_order(void **state)
{
	struct event_bus *b = event_bus_new(8, 4);
	struct event_sub *s1, *s2;
	struct inventory_event e;

	(void)state;
	assert_non_null(b);
	publish(b, 1, "before"); /* nobody listens: lost, not queued */
	assert_int_equal(event_bus_subscribe(b, &s1), 0);
	assert_int_equal(event_bus_subscribe(b, &s2), 0);
	for (int64_t i = 2; i <= 6; i++)
		publish(b, i, "web1");
	for (int64_t i = 2; i <= 6; i++) {
		assert_int_equal(event_sub_next(s1, 0, &e), 1);
		assert_int_equal(e.id, i);
		assert_string_equal(e.vm, "web1");
	}
	assert_int_equal(event_sub_next(s1, 0, &e), 0);
	assert_int_equal(event_sub_next(s1, 10, &e), 0); /* timeout */
	assert_int_equal(event_sub_next(s2, 0, &e), 1);
	assert_int_equal(e.id, 2);
	event_bus_unsubscribe(s1);
	event_bus_unsubscribe(s2);
	event_bus_free(b);
}

static void test_slow_subscriber_dropped(void **state)
{
	struct event_bus *b = event_bus_new(4, 4);
	struct event_sub *slow, *fast;
	struct inventory_event e;

	(void)state;
	assert_int_equal(event_bus_subscribe(b, &slow), 0);
	assert_int_equal(event_bus_subscribe(b, &fast), 0);
	for (int64_t i = 1; i <= 10; i++) {
		publish(b, i, "vm");
		/* fast keeps up */
		assert_int_equal(event_sub_next(fast, 0, &e), 1);
		assert_int_equal(e.id, i);
	}
	/* slow: the 4 that fit, then the overflow, for good */
	for (int64_t i = 1; i <= 4; i++) {
		assert_int_equal(event_sub_next(slow, 0, &e), 1);
		assert_int_equal(e.id, i);
	}
	assert_int_equal(event_sub_next(slow, 0, &e), -EOVERFLOW);
	assert_int_equal(event_sub_next(slow, 50, &e), -EOVERFLOW);
	assert_int_equal(event_sub_dropped(slow), 6);
	assert_int_equal(event_sub_dropped(fast), 0);
	event_bus_unsubscribe(slow);
	event_bus_unsubscribe(fast);
	event_bus_free(b);
}

static void test_max_subscribers(void **state)
{
	struct event_bus *b = event_bus_new(4, 2);
	struct event_sub *s[3];

	(void)state;
	assert_int_equal(event_bus_subscribe(b, &s[0]), 0);
	assert_int_equal(event_bus_subscribe(b, &s[1]), 0);
	assert_int_equal(event_bus_subscribe(b, &s[2]), -EBUSY);
	event_bus_unsubscribe(s[0]);
	assert_int_equal(event_bus_subscribe(b, &s[2]), 0);
	event_bus_unsubscribe(s[1]);
	event_bus_unsubscribe(s[2]);
	event_bus_free(b);
}

static void *waiter(void *arg)
{
	struct inventory_event e;

	return (void *)(intptr_t)event_sub_next(arg, -1, &e);
}

static void test_shutdown_wakes(void **state)
{
	struct event_bus *b = event_bus_new(0, 0);
	struct event_sub *s, *t;
	pthread_t th;
	void *ret;

	(void)state;
	assert_int_equal(event_bus_subscribe(b, &s), 0);
	assert_int_equal(pthread_create(&th, NULL, waiter, s), 0);
	publish(b, 7, ""); /* wakes it once with the event */
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_int_equal((intptr_t)ret, 1);
	assert_int_equal(pthread_create(&th, NULL, waiter, s), 0);
	event_bus_shutdown(b);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_int_equal((intptr_t)ret, -ESHUTDOWN);
	assert_int_equal(event_bus_subscribe(b, &t), -ESHUTDOWN);
	event_bus_unsubscribe(s);
	event_bus_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fanout_in_order),
		cmocka_unit_test(test_slow_subscriber_dropped),
		cmocka_unit_test(test_max_subscribers),
		cmocka_unit_test(test_shutdown_wakes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
