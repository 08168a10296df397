/* Unit tests of src/cli/top_view.c: HostStats JSON -> rows, sort, text and
 * CSV formatting, hostile replies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/top_view.h"

/* Two VMs, one with two vCPUs, as the daemon sends them (docs/api). */
static const char *const stats_json =
	"{\"pcpus\": 8, \"capacity_mhz\": 16000, \"used_pct\": 37.5,"
	" \"vms\": ["
	"  {\"vm\": \"web1\", \"state\": \"running\", \"interval_us\": 2000000,"
	"   \"used_pct\": 120.5, \"ready_pct\": 3.25, \"wait_pct\": 76.0,"
	"   \"costop_pct\": 0.5, \"used_us\": 2410000, \"ready_us\": 65000,"
	"   \"wait_us\": 1520000, \"costop_us\": 10000,"
	"   \"entitled_mhz\": 2000, \"demand_mhz\": 2400, \"affinity\": "
	"\"0-3\","
	"   \"vcpus\": ["
	"    {\"vcpu\": 0, \"tid\": 4321, \"state\": \"run\", \"pcpu\": 2,"
	"     \"used_pct\": 100.0, \"ready_pct\": 0, \"wait_pct\": 0,"
	"     \"costop_pct\": 0, \"used_us\": 2000000, \"ready_us\": 0,"
	"     \"wait_us\": 0, \"costop_us\": 0},"
	"    {\"vcpu\": 1, \"tid\": 4322, \"state\": \"wait\", \"pcpu\": -1,"
	"     \"used_pct\": 20.5, \"ready_pct\": 3.25, \"wait_pct\": 76.0,"
	"     \"costop_pct\": 0.5, \"used_us\": 410000, \"ready_us\": 65000,"
	"     \"wait_us\": 1520000, \"costop_us\": 10000}]},"
	"  {\"vm\": \"db\", \"state\": \"paused\", \"interval_us\": 2000000,"
	"   \"used_pct\": 0, \"ready_pct\": 9.0, \"wait_pct\": 100,"
	"   \"costop_pct\": 7.0, \"used_us\": 0, \"ready_us\": 180000,"
	"   \"wait_us\": 2000000, \"costop_us\": 140000,"
	"   \"entitled_mhz\": 0, \"demand_mhz\": 0,"
	"   \"vcpus\": [{\"vcpu\": 0, \"tid\": 99, \"state\": \"wait\","
	"     \"wait_pct\": 100, \"wait_us\": 2000000}]}"
	" ]}";

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	assert_non_null(j);
	return j;
}

static void parse_ok(const char *text, struct top_sample *s)
{
	struct error err = { 0 };
	json_t *j = load(text);

	assert_int_equal(top_sample_parse(j, s, &err), 0);
	json_decref(j);
}

static int parse_fails(const char *text, const char *needle)
{
	struct top_sample s;
	struct error err = { 0 };
	json_t *j = load(text);
	int r = top_sample_parse(j, &s, &err);

	json_decref(j);
	assert_int_equal(r, -EPROTO);
	assert_int_equal(s.n_vms, 0);
	assert_null(s.vms);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
	return 0;
}

/* Run the CSV writer into a string (caller frees). */
static char *csv_of(const struct top_sample *s, uint64_t ts, bool vcpus,
		    bool header)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (header)
		assert_int_equal(top_csv_header(f), 0);
	assert_int_equal(top_csv_sample(f, s, ts, vcpus), 0);
	fclose(f);
	return buf;
}

static void test_parse(void **state)
{
	struct top_sample s;

	parse_ok(stats_json, &s);
	assert_int_equal(s.pcpus, 8);
	assert_int_equal(s.capacity_mhz, 16000);
	assert_true(s.used_pct > 37.49 && s.used_pct < 37.51);
	assert_int_equal(s.n_vms, 2);
	assert_int_equal(s.n_running, 1);
	assert_false(s.has_limited);

	struct top_vm *w = &s.vms[0];
	assert_string_equal(w->row.name, "web1");
	assert_string_equal(w->row.state, "running");
	assert_int_equal(w->row.vcpu, -1);
	assert_int_equal(w->row.used_us, 2410000);
	assert_int_equal(w->row.costop_us, 10000);
	assert_int_equal(w->row.entitled_mhz, 2000);
	assert_int_equal(w->row.demand_mhz, 2400);
	assert_int_equal(w->n_vcpus, 2);
	assert_int_equal(w->vcpus[1].vcpu, 1);
	assert_int_equal(w->vcpus[1].tid, 4322);
	assert_string_equal(w->vcpus[1].state, "wait");
	assert_string_equal(w->vcpus[1].name, "web1");
	assert_true(w->vcpus[1].ready_pct > 3.24 &&
		    w->vcpus[1].ready_pct < 3.26);

	/* Missing figures default to 0. */
	assert_int_equal(s.vms[1].vcpus[0].used_us, 0);
	assert_int_equal(s.vms[1].vcpus[0].wait_us, 2000000);
	top_sample_free(&s);
	assert_null(s.vms);
	top_sample_free(&s); /* twice is harmless */
}

static void test_parse_empty_and_limited(void **state)
{
	struct top_sample s;

	parse_ok("{\"pcpus\": 2, \"capacity_mhz\": 4000, \"used_pct\": 0,"
		 " \"vms\": []}",
		 &s);
	assert_int_equal(s.n_vms, 0);
	assert_null(s.vms);
	top_sample_free(&s);

	parse_ok("{\"pcpus\": 1, \"vms\": [{\"vm\": \"a\", \"state\":"
		 " \"running\", \"limited_pct\": 12.5,"
		 " \"vcpus\": [{\"state\": \"ready\", \"limited_pct\": "
		 "12.5}]}]}",
		 &s);
	assert_true(s.has_limited);
	assert_true(s.vms[0].row.has_limited);
	assert_int_equal(s.vms[0].vcpus[0].vcpu, 0); /* from the position */
	top_sample_free(&s);
}

static void test_parse_hostile(void **state)
{
	struct top_sample s;

	parse_fails("[1, 2]", "expected a JSON object");
	parse_fails("{\"pcpus\": 1}", "vms: expected an array");
	parse_fails("{\"pcpus\": \"x\", \"vms\": []}",
		    "pcpus: expected a number");
	parse_fails("{\"vms\": [7]}", "vms[0]: expected an object");
	parse_fails("{\"vms\": [{\"state\": \"running\"}]}",
		    "vms[0].vm: expected a string");
	parse_fails("{\"vms\": [{\"vm\": \"a\"}, {\"vm\": \"b\","
		    " \"used_pct\": \"lots\"}]}",
		    "vms[1].used_pct: expected a number");
	parse_fails("{\"vms\": [{\"vm\": \"a\", \"vcpus\": {}}]}",
		    "vms[0].vcpus: expected an array");
	parse_fails("{\"vms\": [{\"vm\": \"a\", \"vcpus\": [{}, 3]}]}",
		    "vms[0].vcpus[1]: expected an object");
	parse_fails("{\"vms\": [{\"vm\": \"a\", \"vcpus\": [{\"tid\": []}]}]}",
		    "vms[0].vcpus[0].tid: expected a number");

	/* Absurd values are clamped, long strings truncated, control
	 * characters blanked: the reply never garbles the terminal. */
	char big[400];
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	char *text;
	assert_true(
		asprintf(
			&text,
			"{\"pcpus\": -3, \"vms\": [{\"vm\": \"%s\","
			" \"state\": \"run\\u001b[2J\","
			" \"used_pct\": -5, \"used_us\": -1,"
			" \"ready_us\": 1e300, \"costop_pct\": -0.0,"
			" \"vcpus\": [{\"vcpu\": 99999999999, \"tid\": -4}]}]}",
			big) > 0);
	parse_ok(text, &s);
	free(text);
	assert_int_equal(s.pcpus, 0);
	assert_int_equal(strlen(s.vms[0].row.name), TOP_NAME_MAX - 1);
	assert_null(strchr(s.vms[0].row.state, '\033'));
	assert_true(s.vms[0].row.used_pct == 0);
	assert_int_equal(s.vms[0].row.used_us, 0);
	assert_int_equal(s.vms[0].row.ready_us, 0);
	assert_int_equal(s.vms[0].vcpus[0].tid, 0);
	assert_true(s.vms[0].vcpus[0].vcpu >= 0);
	char line[256];
	top_format_row(line, sizeof(line), &s.vms[0].row, 1,
		       top_name_width(&s, true), false);
	top_format_row(line, sizeof(line), &s.vms[0].vcpus[0], 1,
		       top_name_width(&s, true), false);
	top_sample_free(&s);
}

static const char *order(const struct top_sample *s, char *buf)
{
	buf[0] = '\0';
	for (size_t i = 0; i < s->n_vms; i++) {
		strcat(buf, s->vms[i].row.name);
		strcat(buf, i + 1 < s->n_vms ? " " : "");
	}
	return buf;
}

static void test_sort(void **state)
{
	struct top_sample s;
	char buf[128];

	parse_ok("{\"vms\": ["
		 "{\"vm\": \"b\", \"used_pct\": 5, \"ready_pct\": 1,"
		 " \"wait_pct\": 50, \"costop_pct\": 0},"
		 "{\"vm\": \"c\", \"used_pct\": 90, \"ready_pct\": 0,"
		 " \"wait_pct\": 10, \"costop_pct\": 3},"
		 "{\"vm\": \"a\", \"used_pct\": 5, \"ready_pct\": 7,"
		 " \"wait_pct\": 20, \"costop_pct\": 2}]}",
		 &s);
	top_sample_sort(&s, TOP_SORT_USED, false);
	assert_string_equal(order(&s, buf), "c a b"); /* tie a/b by name */
	top_sample_sort(&s, TOP_SORT_USED, true);
	assert_string_equal(order(&s, buf), "b a c");
	top_sample_sort(&s, TOP_SORT_READY, false);
	assert_string_equal(order(&s, buf), "a b c");
	top_sample_sort(&s, TOP_SORT_WAIT, false);
	assert_string_equal(order(&s, buf), "b a c");
	top_sample_sort(&s, TOP_SORT_COSTOP, false);
	assert_string_equal(order(&s, buf), "c a b");
	top_sample_sort(&s, TOP_SORT_NAME, false);
	assert_string_equal(order(&s, buf), "a b c");
	top_sample_sort(&s, TOP_SORT_NAME, true);
	assert_string_equal(order(&s, buf), "c b a");
	assert_int_equal(top_sample_find(&s, "b"), 1);
	assert_int_equal(top_sample_find(&s, "zz"), -1);
	top_sample_free(&s);
}

static void test_sort_keys(void **state)
{
	enum top_sort_key k;

	assert_true(top_sort_key_from_char('U', &k));
	assert_int_equal(k, TOP_SORT_USED);
	assert_true(top_sort_key_from_char('r', &k));
	assert_int_equal(k, TOP_SORT_READY);
	assert_true(top_sort_key_from_char('W', &k));
	assert_int_equal(k, TOP_SORT_WAIT);
	assert_true(top_sort_key_from_char('C', &k));
	assert_int_equal(k, TOP_SORT_COSTOP);
	assert_true(top_sort_key_from_char('N', &k));
	assert_int_equal(k, TOP_SORT_NAME);
	assert_false(top_sort_key_from_char('q', &k));
	assert_string_equal(top_sort_key_name(TOP_SORT_READY), "%RDY");
	assert_string_equal(top_sort_key_name(TOP_SORT_NAME), "NAME");
}

static void test_format(void **state)
{
	struct top_sample s;
	char line[256];
	int w;

	parse_ok(stats_json, &s);
	top_format_host(line, sizeof(line), &s);
	assert_string_equal(line, "host: 8 pCPUs, 16000 MHz capacity, 37.5% "
				  "used, 1 of 2 VMs running");

	w = top_name_width(&s, false);
	assert_int_equal(w, 4);
	top_format_heading(line, sizeof(line), w, false);
	assert_string_equal(line,
			    "NAME STATE    NVCPU CPUS       %USED    %RDY   "
			    "%WAIT   %CSTP   ENTMHZ   DMDMHZ");
	top_format_row(line, sizeof(line), &s.vms[0].row, s.vms[0].n_vcpus, w,
		       false);
	assert_string_equal(line, "web1 running      2 0-3        120.5     3.2"
				  "    76.0     0.5     2000     2400");

	w = top_name_width(&s, true);
	assert_int_equal(w, (int)strlen("  vcpu0 tid 4321"));
	top_format_row(line, sizeof(line), &s.vms[0].vcpus[1], 0, w, false);
	assert_string_equal(line, "  vcpu1 tid 4322 wait           -       "
				  "    20.5     3.2    76.0     0.5          "
				  "        ");
	top_format_row(line, sizeof(line), &s.vms[0].vcpus[0], 0, w, false);
	assert_non_null(strstr(line, "run            2          100.0"));

	top_format_heading(line, sizeof(line), 4, true);
	assert_non_null(strstr(line, "%CSTP  %MLMTD   ENTMHZ"));
	top_format_row(line, sizeof(line), &s.vms[1].row, 1, 4, true);
	assert_string_equal(line, "db   paused       1              0.0     9.0"
				  "   100.0     7.0     0.0        0        0");

	/* A short buffer truncates, never overflows. */
	char small[10];
	top_format_row(small, sizeof(small), &s.vms[0].row, 2, w, false);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	top_sample_free(&s);
}

static void test_csv(void **state)
{
	struct top_sample s;
	char *csv;

	parse_ok(stats_json, &s);
	csv = csv_of(&s, 1700000000123ULL, false, true);
	assert_string_equal(
		csv, "timestamp_ms,vm,vcpu,state,used_pct,ready_pct,wait_pct,"
		     "costop_pct,used_us,ready_us,wait_us,costop_us,cpus\n"
		     "1700000000123,web1,,running,120.50,3.25,76.00,0.50,"
		     "2410000,65000,1520000,10000,0-3\n"
		     "1700000000123,db,,paused,0.00,9.00,100.00,7.00,"
		     "0,180000,2000000,140000,\n");
	free(csv);

	csv = csv_of(&s, 5, true, false);
	assert_string_equal(csv, "5,web1,,running,120.50,3.25,76.00,0.50,"
				 "2410000,65000,1520000,10000,0-3\n"
				 "5,web1,0,run,100.00,0.00,0.00,0.00,"
				 "2000000,0,0,0,2\n"
				 "5,web1,1,wait,20.50,3.25,76.00,0.50,"
				 "410000,65000,1520000,10000,-\n"
				 "5,db,,paused,0.00,9.00,100.00,7.00,"
				 "0,180000,2000000,140000,\n"
				 "5,db,0,wait,0.00,0.00,100.00,0.00,"
				 "0,0,2000000,0,\n");
	free(csv);
	top_sample_free(&s);

	/* Fields with separators or quotes are quoted (RFC 4180). */
	parse_ok("{\"vms\": [{\"vm\": \"a,\\\"b\", \"state\": \"x\"}]}", &s);
	csv = csv_of(&s, 1, false, false);
	assert_string_equal(csv, "1,\"a,\"\"b\",,x,0.00,0.00,0.00,0.00,"
				 "0,0,0,0,\n");
	free(csv);
	top_sample_free(&s);
}

/* The memory view (top_mem.c): a measured, ballooned VM, one without a
 * balloon, one the memory manager has no figures for. */
static const char *const mem_json =
	"{\"pcpus\": 2, \"capacity_mhz\": 4000, \"used_pct\": 1,"
	" \"memory_budget\": 671088640, \"memory_reserved\": 104857600,"
	" \"vms\": ["
	"  {\"vm\": \"lo\", \"state\": \"running\", \"memory\": {"
	"   \"size\": 536870912, \"target\": 134217728, \"active\": 52428800,"
	"   \"consumed\": 188743680, \"zero_shared\": 1048576,"
	"   \"pool_shared\": 2097152, \"kernel_shared\": 16777216,"
	"   \"balloon\": true, \"balloon_target\": 348962816,"
	"   \"balloon_size\": 340787200}},"
	"  {\"vm\": \"nb\", \"state\": \"running\", \"memory\": {"
	"   \"size\": 268435456, \"target\": 268435456, \"active\": 0,"
	"   \"consumed\": 0, \"zero_shared\": 0, \"balloon\": false,"
	"   \"compressed_bytes\": 4096, \"swapped_bytes\": 8192}},"
	"  {\"vm\": \"x\", \"state\": \"paused\"}"
	" ]}";

static void test_memory_view(void **state)
{
	struct top_sample s;
	char buf[512];
	char *csv = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	parse_ok(mem_json, &s);
	assert_int_equal(s.mem_budget, 671088640);
	assert_int_equal(s.mem_reserved, 104857600);
	assert_true(s.vms[0].row.mem.present);
	assert_int_equal(s.vms[0].row.mem.balloon_size, 340787200);
	assert_false(s.vms[2].row.mem.present);

	top_format_mem_heading(buf, sizeof(buf), 4);
	assert_string_equal(buf, "NAME STATE       MEMSZ    GRANT    SZTGT "
				 "    ACTV     ZERO     SHRD MCTL?  MCTLTGT "
				 "  MCTLSZ     ZIP   SWCUR");
	top_format_mem_row(buf, sizeof(buf), &s.vms[0].row, 4);
	assert_string_equal(buf, "lo   running       512      180      128 "
				 "      50        1       18     Y      333 "
				 "     325       -       -");
	top_format_mem_row(buf, sizeof(buf), &s.vms[1].row, 4);
	assert_string_equal(buf, "nb   running       256        0      256 "
				 "       0        0        -     N        - "
				 "       -       0       0");
	top_format_mem_row(buf, sizeof(buf), &s.vms[2].row, 4);
	assert_string_equal(buf, "x    paused          -        -        - "
				 "       -        -        -     -        - "
				 "       -       -       -");
	top_format_mem_host(buf, sizeof(buf), &s);
	assert_non_null(strstr(buf, "budget 640 MiB, 100 MiB reserved"));
	assert_non_null(strstr(buf, "2 VMs measured: 768 MiB configured, "
				    "384 MiB granted"));

	f = open_memstream(&csv, &len);
	assert_non_null(f);
	assert_int_equal(top_mem_csv_header(f), 0);
	assert_int_equal(top_mem_csv_sample(f, &s, 7), 0);
	fclose(f);
	assert_string_equal(
		csv,
		"timestamp_ms,vm,state,memsz,grant,sztgt,active,zero_shared,"
		"balloon,mctltgt,mctlsz,compressed,swapped,pool_shared,"
		"kernel_shared\n"
		"7,lo,running,536870912,188743680,134217728,52428800,1048576,"
		"1,348962816,340787200,,,2097152,16777216\n"
		"7,nb,running,268435456,0,268435456,0,0,0,,,4096,8192,,\n"
		"7,x,paused,,,,,,,,,,,,\n");
	free(csv);
	top_sample_free(&s);

	/* a hostile memory object is refused with its path */
	parse_fails("{\"vms\": [{\"vm\": \"a\", \"memory\": 5}]}",
		    "vms[0].memory");
	parse_fails("{\"vms\": [{\"vm\": \"a\", \"memory\": "
		    "{\"size\": \"big\"}}]}",
		    "vms[0].memory.size");
	parse_fails("{\"vms\": [{\"vm\": \"a\", \"memory\": "
		    "{\"balloon\": 1}}]}",
		    "vms[0].memory.balloon");
	parse_fails("{\"vms\": [{\"vm\": \"a\", \"memory\": "
		    "{\"size\": 1, \"target\": 1, \"active\": 1, "
		    "\"consumed\": 1, \"zero_shared\": 1, "
		    "\"kernel_shared\": \"big\"}}]}",
		    "vms[0].memory.kernel_shared");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_empty_and_limited),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_sort_keys),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_memory_view),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
