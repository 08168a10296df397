/* softvisor top -N, the pure part (src/cli/top_net.c) on canned JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/top_net.h"

static const char *reply(unsigned k)
{
	static char buf[1024];

	/* k scales the counters: sample 1 and sample 2 */
	snprintf(buf, sizeof(buf),
		 "{\"switches\": [{\"name\": \"lan\", \"cpu_us\": %u, "
		 "\"uplink_cpu_us\": %u, \"uplink\": {\"type\": \"bridge\"}, "
		 "\"uplink_counters\": {\"tx_frames\": %u, \"tx_bytes\": %u, "
		 "\"rx_frames\": 0, \"rx_bytes\": 0, \"tx_dropped\": 0, "
		 "\"rx_dropped\": 0}, "
		 "\"ports\": [{\"id\": 1, \"portgroup\": \"red\", \"mac\": "
		 "\"52:54:00:00:00:01\", \"tx_frames\": %u, \"tx_bytes\": %u, "
		 "\"rx_frames\": %u, \"rx_bytes\": %u, \"tx_dropped\": 0, "
		 "\"rx_dropped\": %u, \"cpu_us\": %u}]}, "
		 "{\"name\": \"iso\", \"cpu_us\": 5, \"uplink\": {\"type\": "
		 "\"none\"}, \"uplink_cpu_us\": 0, \"ports\": []}]}",
		 300000 * k, 100000 * k, 10 * k, 15000 * k, 1000 * k,
		 125000 * k, 500 * k, 62500 * k, 2 * k, 200000 * k);
	return buf;
}

static void parse(unsigned k, struct top_net_port **p, size_t *n)
{
	struct error err = { 0 };
	json_t *j = json_loads(reply(k), 0, NULL);

	assert_non_null(j);
	assert_int_equal(top_net_parse(j, p, n, &err), 0);
	json_decref(j);
}

static void test_parse_and_rates(void **state)
{
	struct top_net_port *a, *b;
	size_t na, nb;
	char line[512];

	(void)state;
	parse(1, &a, &na);
	parse(2, &b, &nb);
	/* lan: its row, port 1, the uplink; iso: its row only */
	assert_int_equal(nb, 4);
	assert_string_equal(b[0].port, "*");
	assert_string_equal(b[1].port, "1");
	assert_string_equal(b[2].port, "uplink");
	assert_string_equal(b[3].sw, "iso");
	assert_int_equal(b[0].tx_frames, 2000); /* the ports summed */
	assert_int_equal(b[2].tx_frames, 20);

	struct top_net_rate r[4];
	top_net_rates(a, na, b, nb, 2.0, r);
	/* 200 ms of CPU on port 1's frames in 2 s: 10 % of a CPU */
	assert_true(r[1].cpu_pct > 9.99 && r[1].cpu_pct < 10.01);
	assert_true(r[0].cpu_pct > 14.99 && r[0].cpu_pct < 15.01);
	assert_true(r[2].cpu_pct > 4.99 && r[2].cpu_pct < 5.01);
	assert_true(r[1].tx_pps > 499.9 && r[1].tx_pps < 500.1);
	/* 125000 bytes in 2 s: 0.5 Mbit/s */
	assert_true(r[1].tx_mbps > 0.499 && r[1].tx_mbps < 0.501);
	assert_true(r[1].drop_rx > 0.99 && r[1].drop_rx < 1.01);
	assert_true(r[3].cpu_pct == 0);
	top_net_row(line, sizeof(line), &r[1]);
	assert_non_null(strstr(line, "52:54:00:00:00:01"));
	assert_non_null(strstr(line, "10.00"));
	/* a port that was not there before counts from zero */
	top_net_rates(a, 1, b, nb, 1.0, r);
	assert_true(r[1].tx_pps > 1999.9);
	free(a);
	free(b);
}

static void test_bad_reply(void **state)
{
	struct error err = { 0 };
	struct top_net_port *p;
	size_t n;
	json_t *j = json_loads("{\"switches\": [{\"name\": \"x\", "
			       "\"cpu_us\": 1, \"ports\": [{\"id\": 0}]}]}",
			       0, NULL);

	(void)state;
	assert_int_equal(top_net_parse(j, &p, &n, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "switches[0]"));
	json_decref(j);
	j = json_loads("{}", 0, NULL);
	assert_int_equal(top_net_parse(j, &p, &n, &err), -EPROTO);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_rates),
		cmocka_unit_test(test_bad_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
