/* Output helpers of the client commands (src/cli/output.c): units, tables,
 * flattened JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/output.h"

static void test_size(void **state)
{
	static const struct {
		uint64_t v;
		const char *s;
	} cases[] = {
		{ 0, "0" },
		{ 1000, "1000" },
		{ 1024, "1K" },
		{ 512ULL << 20, "512M" },
		{ 1536ULL << 20, "1.5G" },
		{ 24683620ULL << 10, "23.5G" },
		{ 2ULL << 30, "2G" },
		{ 1ULL << 40, "1T" },
		{ (1ULL << 30) + (1ULL << 29) + 1, "1.5G" },
		{ 1025, "1.0K" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fmt_size(cases[i].v, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].s);
	}
}

static void test_duration(void **state)
{
	char buf[32];

	fmt_duration(0, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	fmt_duration(12.5, buf, sizeof(buf));
	assert_string_equal(buf, "12s");
	fmt_duration(303, buf, sizeof(buf));
	assert_string_equal(buf, "5m03s");
	fmt_duration(7500, buf, sizeof(buf));
	assert_string_equal(buf, "2h05m");
	fmt_duration(3 * 86400 + 4 * 3600 + 59, buf, sizeof(buf));
	assert_string_equal(buf, "3d04h");
	fmt_time_ms(0, buf, sizeof(buf));
	assert_string_equal(buf, "-");
}

/* Render into a string with open_memstream. */
static char *render(struct table *t)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	table_print(t, f);
	fclose(f);
	return s;
}

static void test_table(void **state)
{
	static const char *const hdr[] = { "NAME", "STATE", "CPUS", "MEMORY" };
	const char *r1[] = { "web-server-1", "running", "4", "2G" };
	const char *r2[] = { "db", NULL, "16", "512M" };
	const char *r3[] = { "evil\x1b[2J", "x\ny", "1", "1G" };
	struct table *t = table_new(4, hdr);
	char *s;

	assert_non_null(t);
	table_align_right(t, 2);
	assert_int_equal(table_add(t, r1), 0);
	assert_int_equal(table_add(t, r2), 0);
	assert_int_equal(table_add(t, r3), 0);
	s = render(t);
	/* columns padded to the widest cell, two spaces apart, numbers
	 * right-aligned, the last column not padded, NULL as "-", control
	 * characters neutralized */
	assert_string_equal(s, "NAME          STATE    CPUS  MEMORY\n"
			       "web-server-1  running     4  2G\n"
			       "db            -          16  512M\n"
			       "evil?[2J      x?y         1  1G\n");
	free(s);
	table_free(t);
	assert_null(table_new(0, hdr));
	assert_null(table_new(TABLE_MAX_COLS + 1, hdr));
}

static void test_table_empty(void **state)
{
	static const char *const hdr[] = { "A", "B" };
	struct table *t = table_new(2, hdr);
	char *s = render(t);

	assert_string_equal(s, "A  B\n");
	free(s);
	table_free(t);
}

static void test_flat(void **state)
{
	json_t *j = json_loads(
		"{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
		"\"disks\":[{\"path\":\"/d\",\"readonly\":true}],"
		"\"nics\":[],\"cpus\":2,\"x\":null}",
		JSON_PRESERVE_ORDER, NULL);
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	output_flat(f, "", j, 16);
	fclose(f);
	assert_string_equal(s, "name              a\n"
			       "boot.kernel       /k\n"
			       "disks[0].path     /d\n"
			       "disks[0].readonly  true\n"
			       "nics              []\n"
			       "cpus              2\n"
			       "x                 -\n");
	free(s);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_empty),
		cmocka_unit_test(test_flat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
