/*
 * VM definitions from command-line flags (src/cli/vmargs.c): the JSON that
 * `vm create`, `vm set` and `vm edit` send (docs/vm-definition.md).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cmdutil.h"
#include "cli/vmargs.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

/* Compare v with the JSON text want (key order does not matter). */
static void assert_json(const json_t *v, const char *want)
{
	json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);

	assert_non_null(w);
	if (!json_equal(v, w)) {
		char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		fprintf(stderr, "got  %s\nwant %s\n", got, want);
		free(got);
		fail();
	}
	json_decref(w);
}

static void test_create_full(void **state)
{
	char *argv[] = {
		"create",
		"web1",
		"--cpus",
		"4",
		"--memory",
		"2G",
		"--kernel",
		"/k/Image",
		"--initrd",
		"/k/initrd",
		"--append",
		"console=ttyS0",
		"--disk",
		"/d/a.img,readonly,serial=d0",
		"--disk",
		"/d/b,,c.img",
		"--net",
		"user,hostfwd=tcp:127.0.0.1:2222-:22,mac=52:54:00:aa:bb:cc",
		"--rng",
		"--balloon",
		"--autostart",
		"--cpu-shares",
		"high",
		"--cpu-reservation",
		"1000",
		"--cpu-limit",
		"4000",
		"--socket",
		"/tmp/x.sock",
		"--output",
		"json",
		NULL
	};
	struct client_opts o = { 0 };
	struct error err = { 0 };
	json_t *def;

	assert_int_equal(vmargs_parse_create(ARGC(argv), argv, &o, &def, &err),
			 0);
	assert_json(
		def,
		"{\"name\":\"web1\",\"cpus\":4,\"memory\":2147483648,"
		"\"boot\":{\"kernel\":\"/k/Image\",\"initrd\":\"/k/initrd\","
		"\"append\":\"console=ttyS0\"},"
		"\"disks\":[{\"path\":\"/d/a.img\",\"readonly\":true,"
		"\"serial\":\"d0\"},{\"path\":\"/d/b,c.img\"}],"
		"\"nics\":[{\"type\":\"user\",\"hostfwd\":"
		"[\"tcp:127.0.0.1:2222-:22\"],\"mac\":\"52:54:00:aa:bb:cc\"}],"
		"\"rng\":true,\"balloon\":true,\"autostart\":true,"
		"\"qos\":{\"cpu\":{\"shares\":\"high\","
		"\"reservation_mhz\":1000,\"limit_mhz\":4000}}}");
	assert_string_equal(o.socket_path, "/tmp/x.sock");
	assert_int_equal(o.output, CLIENT_OUTPUT_JSON);
	json_decref(def);
}

static void test_create_minimal_and_relative(void **state)
{
	char *argv[] = { "create", "--firmware", "fw.bin", "a", NULL };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	char cwd[4096], want[8192];
	json_t *def;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(vmargs_parse_create(ARGC(argv), argv, &o, &def, &err),
			 0);
	snprintf(want, sizeof(want),
		 "{\"name\":\"a\",\"boot\":{\"firmware\":\"%s/fw.bin\"}}",
		 strcmp(cwd, "/") ? cwd : "");
	assert_json(def, want);
	json_decref(def);
}

static void test_create_from_json(void **state)
{
	char path[] = "/tmp/test_cli_args_XXXXXX";
	int fd = mkstemp(path);
	const char *text = "{\"name\":\"base\",\"cpus\":2,\"boot\":{\"kernel\":"
			   "\"/k\"},\"disks\":[{\"path\":\"/d\"}],"
			   "\"qos\":{\"cpu\":{\"shares\":\"low\"}}}";
	char *argv[] = { "create", "--from-json", path,	 "--cpus",
			 "8",	   "--cpu-limit", "100", NULL };
	char *argv2[] = { "create",	 "renamed", "--disk", "/e",
			  "--from-json", path,	    NULL };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	json_t *def;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	/* flags override fields; objects merge; the name comes from the
	 * file when no NAME is given */
	assert_int_equal(vmargs_parse_create(ARGC(argv), argv, &o, &def, &err),
			 0);
	assert_json(def, "{\"name\":\"base\",\"cpus\":8,\"boot\":{\"kernel\":"
			 "\"/k\"},\"disks\":[{\"path\":\"/d\"}],"
			 "\"qos\":{\"cpu\":{\"shares\":\"low\","
			 "\"limit_mhz\":100}}}");
	json_decref(def);
	/* --disk replaces the file's list; NAME wins */
	assert_int_equal(
		vmargs_parse_create(ARGC(argv2), argv2, &o, &def, &err), 0);
	assert_json(def, "{\"name\":\"renamed\",\"cpus\":2,\"boot\":{"
			 "\"kernel\":\"/k\"},\"disks\":[{\"path\":\"/e\"}],"
			 "\"qos\":{\"cpu\":{\"shares\":\"low\"}}}");
	json_decref(def);
	unlink(path);
}

/* Each bad command line is refused with a message naming the flag. */
static void test_create_errors(void **state)
{
	static const struct {
		const char *args[6];
		const char *msg;
	} cases[] = {
		{ { "x", "--kernel", "/k", "--memory", "5X" }, "--memory 5X" },
		{ { "x", "--kernel", "/k", "--memory", "8M" }, "between 16M" },
		{ { "x", "--kernel", "/k", "--cpus", "65" }, "--cpus" },
		{ { "x", "--kernel", "/k", "--cpus", "0" }, "--cpus" },
		{ { "x", "--kernel", "/k", "--disk", "/a,bogus" }, "bogus" },
		{ { "x", "--kernel", "/k", "--disk", ",readonly" }, "--disk" },
		{ { "x", "--kernel", "/k", "--net", "tap" }, "--net tap" },
		{ { "x", "--kernel", "/k", "--net", "user,mtu=100" }, "mtu" },
		{ { "x", "--kernel", "/k", "--cpu-shares", "0" },
		  "--cpu-shares" },
		{ { "x", "--kernel", "/k", "--cpu-limit", "lots" },
		  "--cpu-limit" },
		{ { "x", "--kernel", "/k", "--console", "stdio" },
		  "--console" },
		{ { "x", "--kernel", "/k", "--output", "yaml" }, "--output" },
		{ { "x", "--kernel", "/k", "--frob" }, "--frob" },
		{ { "x", "--kernel", "/k", "y" }, "unexpected argument 'y'" },
		{ { "x" }, "--kernel FILE or --firmware FILE is required" },
		{ { "--kernel", "/k" }, "NAME is required" },
		{ { "x", "--from-json", "/nonexistent.json" },
		  "/nonexistent.json" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[8] = { "create" };
		struct client_opts o = { 0 };
		struct error err = { 0 };
		json_t *def = (json_t *)1;
		int argc = 1;

		for (int j = 0; cases[i].args[j]; j++)
			argv[argc++] = (char *)cases[i].args[j];
		assert_int_equal(
			vmargs_parse_create(argc, argv, &o, &def, &err),
			-EINVAL);
		assert_null(def);
		if (!strstr(err.msg, cases[i].msg)) {
			fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i,
				err.msg, cases[i].msg);
			fail();
		}
	}
}

static void test_set(void **state)
{
	char *argv[] = { "set",	 "web1",	"--cpu-shares",
			 "1500", "--cpu-limit", "unlimited",
			 NULL };
	char *argv_none[] = { "set", "web1", NULL };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	const char *name;
	json_t *patch;

	assert_int_equal(
		vmargs_parse_set(ARGC(argv), argv, &o, &name, &patch, &err), 0);
	assert_string_equal(name, "web1");
	assert_json(patch, "{\"qos\":{\"cpu\":{\"shares\":1500,"
			   "\"limit_mhz\":null}}}");
	json_decref(patch);
	assert_int_equal(vmargs_parse_set(ARGC(argv_none), argv_none, &o, &name,
					  &patch, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "nothing to set"));
}

static void test_set_kv(void **state)
{
	json_t *o = json_object();
	struct error err = { 0 };

	assert_int_equal(vmargs_set(o, "cpus=2", &err), 0);
	assert_int_equal(vmargs_set(o, "memory=1G", &err), 0);
	assert_int_equal(vmargs_set(o, "autostart=on", &err), 0);
	assert_int_equal(vmargs_set(o, "rng=false", &err), 0);
	assert_int_equal(vmargs_set(o, "qos.cpu.limit_mhz=null", &err), 0);
	assert_int_equal(vmargs_set(o, "qos.cpu.shares=high", &err), 0);
	assert_int_equal(vmargs_set(o, "boot.append=a=b c", &err), 0);
	assert_json(o,
		    "{\"cpus\":2,\"memory\":\"1G\",\"autostart\":true,"
		    "\"rng\":false,\"qos\":{\"cpu\":{\"limit_mhz\":null,"
		    "\"shares\":\"high\"}},\"boot\":{\"append\":\"a=b c\"}}");
	assert_int_equal(vmargs_set(o, "cpus", &err), -EINVAL);
	assert_int_equal(vmargs_set(o, "=3", &err), -EINVAL);
	assert_int_equal(vmargs_set(o, "qos..x=3", &err), -EINVAL);
	json_decref(o);
}

static void test_merge_diff(void **state)
{
	json_t *a = json_loads("{\"name\":\"a\",\"cpus\":1,\"rng\":true,"
			       "\"boot\":{\"kernel\":\"/k\",\"append\":\"x\"},"
			       "\"disks\":[{\"path\":\"/d\"}],"
			       "\"qos\":{\"cpu\":{\"shares\":\"normal\"}}}",
			       0, NULL);
	json_t *b = json_loads(
		"{\"name\":\"a\",\"cpus\":2,"
		"\"boot\":{\"kernel\":\"/k\"},"
		"\"disks\":[{\"path\":\"/d\",\"readonly\":true}],"
		"\"qos\":{\"cpu\":{\"shares\":\"normal\"}},"
		"\"balloon\":true}",
		0, NULL);
	json_t *d = vmargs_merge_diff(a, b);

	assert_json(d, "{\"cpus\":2,\"rng\":null,\"boot\":{\"append\":null},"
		       "\"disks\":[{\"path\":\"/d\",\"readonly\":true}],"
		       "\"balloon\":true}");
	json_decref(d);
	d = vmargs_merge_diff(a, a);
	assert_json(d, "{}");
	json_decref(d);
	json_decref(a);
	json_decref(b);
}

static void test_escape(void **state)
{
	char *e, *p;

	e = cmd_escape("a b/c%d~e");
	assert_string_equal(e, "a%20b%2Fc%25d~e");
	free(e);
	p = cmd_vm_path("we b", "/console?write=1");
	assert_string_equal(p, "/v1/vms/we%20b/console?write=1");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_full),
		cmocka_unit_test(test_create_minimal_and_relative),
		cmocka_unit_test(test_create_from_json),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_set_kv),
		cmocka_unit_test(test_merge_diff),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
