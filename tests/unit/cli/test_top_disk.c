/*
 * softvisor top -D, the pure part (src/cli/top_disk.c) on canned
 * /v1/host/disks replies: parsing (sorted by VM and disk; every bad field
 * named), the CSV (quoting, units) and the screen row.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/top_disk.h"

static const char *reply_text =
	"{\"period_ms\": 1000, \"datastores\": [], \"disks\": ["
	"{\"vm\": \"web\", \"vm_id\": 2, \"disk\": 1, \"path\": \"/d/w1\","
	" \"dev\": \"8:1\", \"datastore\": null, \"shares\": 1000,"
	" \"read_iops\": 0, \"write_iops\": 0, \"read_bytes_per_s\": 0,"
	" \"write_bytes_per_s\": 0, \"latency_ms\": 0,"
	" \"throttled_ms_per_s\": 0, \"cap_iops\": 0, \"cap_bytes_per_s\": 0},"
	"{\"vm\": \"d\\\"b\", \"vm_id\": 1, \"disk\": 0, \"path\": \"/d/db\","
	" \"dev\": \"8:1\", \"datastore\": \"/d\", \"shares\": 2000,"
	" \"read_iops\": 10.5, \"write_iops\": 32, \"read_bytes_per_s\": 1e6,"
	" \"write_bytes_per_s\": 131072, \"latency_ms\": 30.25,"
	" \"throttled_ms_per_s\": 950, \"cap_iops\": 32,"
	" \"cap_bytes_per_s\": 0},"
	"{\"vm\": \"web\", \"vm_id\": 2, \"disk\": 0, \"path\": \"/d/w0\","
	" \"dev\": \"8:1\", \"datastore\": \"/d\", \"shares\": 1000,"
	" \"read_iops\": 1, \"write_iops\": 16, \"read_bytes_per_s\": 0,"
	" \"write_bytes_per_s\": 65536, \"latency_ms\": 61,"
	" \"throttled_ms_per_s\": 990, \"cap_iops\": 16,"
	" \"cap_bytes_per_s\": 0}]}";

static void test_parse_and_csv(void **state)
{
	json_t *j = json_loads(reply_text, 0, NULL);
	struct top_disk *d;
	struct error err = { 0 };
	size_t n;
	char *buf = NULL, line[512];
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(j);
	assert_int_equal(top_disk_parse(j, &d, &n, &err), 0);
	json_decref(j);
	assert_int_equal(n, 3);
	/* by VM name, then disk */
	assert_string_equal(d[0].vm, "d\"b");
	assert_string_equal(d[1].vm, "web");
	assert_int_equal(d[1].disk, 0);
	assert_int_equal(d[2].disk, 1);
	assert_int_equal(d[0].shares, 2000);
	assert_int_equal(d[0].cap_iops, 32);
	assert_string_equal(d[0].datastore, "/d");
	assert_string_equal(d[2].datastore, "");

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(top_disk_csv_header(f), 0);
	assert_int_equal(top_disk_csv(f, d, 1, 1234), 0);
	fclose(f);
	assert_string_equal(
		buf, "time_ms,vm,disk,datastore,shares,read_iops,write_iops,"
		     "read_mb_s,write_mb_s,latency_ms,throttled_ms_per_s,"
		     "cap_iops,cap_mb_s\n"
		     "1234,\"d\"\"b\",0,\"/d\",2000,10.5,32.0,1.000,0.131,"
		     "30.250,950.0,32,0.000\n");
	free(buf);

	top_disk_row(line, sizeof(line), &d[2]);
	assert_non_null(strstr(line, "web"));
	assert_non_null(strstr(line, " - ")); /* no cap, no datastore */
	top_disk_row(line, sizeof(line), &d[0]);
	assert_non_null(strstr(line, "95.0")); /* THR% */
	assert_non_null(strstr(line, "/d"));
	top_disk_heading(line, sizeof(line));
	assert_non_null(strstr(line, "LAT/ms"));
	free(d);
}

static void test_bad_replies(void **state)
{
	static const struct {
		const char *json, *field;
	} cases[] = {
		{ "{}", "no \"disks\" array" },
		{ "{\"disks\": [{}]}", "disks[0].vm" },
		{ "{\"disks\": [{\"vm\": \"a\", \"disk\": -1}]}",
		  "disks[0].disk" },
		{ "{\"disks\": [{\"vm\": \"a\", \"disk\": 0, \"shares\": "
		  "\"x\"}]}",
		  "disks[0].shares" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_loads(cases[i].json, 0, NULL);
		struct top_disk *d = (struct top_disk *)1;
		struct error err = { 0 };
		size_t n = 7;

		assert_non_null(j);
		assert_int_equal(top_disk_parse(j, &d, &n, &err), -EPROTO);
		assert_non_null(strstr(err.msg, cases[i].field));
		assert_null(d);
		assert_int_equal(n, 0);
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_csv),
		cmocka_unit_test(test_bad_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
