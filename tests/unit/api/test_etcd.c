/*
 * Unit tests of the etcd v3 JSON gateway client (src/api/etcd.c) against a
 * single-member etcd started here on loopback (Debian's etcd-server, a
 * temporary data directory, ports from the test's pid). Skipped, saying
 * so, when /usr/bin/etcd is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/etcd.h"

#define ETCD_EXE "/usr/bin/etcd"

static pid_t etcd_pid;
static char url[64], dir[] = "/tmp/sv-etcd-XXXXXX";

static int start_etcd(void **state)
{
	int cport = 30000 + getpid() % 10000, pport = cport + 10000;
	char curls[64], purls[64], cluster[96], data[64];

	(void)state;
	if (access(ETCD_EXE, X_OK))
		return 0;
	if (!mkdtemp(dir))
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", cport);
	snprintf(curls, sizeof(curls), "http://127.0.0.1:%d", cport);
	snprintf(purls, sizeof(purls), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "t=http://127.0.0.1:%d", pport);
	snprintf(data, sizeof(data), "%s/data", dir);
	etcd_pid = fork();
	if (etcd_pid == 0) {
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execl(ETCD_EXE, ETCD_EXE, "--name", "t", "--data-dir", data,
		      "--listen-client-urls", curls, "--advertise-client-urls",
		      curls, "--listen-peer-urls", purls,
		      "--initial-advertise-peer-urls", purls,
		      "--initial-cluster", cluster, (char *)NULL);
		_exit(127);
	}
	/* ready when a put goes through (at most ~20 s) */
	struct etcd *e = etcd_open(url, NULL);
	for (int i = 0; i < 200; i++) {
		if (!etcd_put(e, "/ready", "1", NULL)) {
			etcd_close(e);
			return 0;
		}
		usleep(100000);
	}
	etcd_close(e);
	return -1;
}

static int stop_etcd(void **state)
{
	char cmd[128];

	(void)state;
	if (etcd_pid > 0) {
		kill(etcd_pid, SIGTERM);
		waitpid(etcd_pid, NULL, 0);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			return -1;
	}
	return 0;
}

static void collect(const char *key, const char *value, void *opaque)
{
	char *buf = opaque;

	strcat(buf, key);
	strcat(buf, "=");
	strcat(buf, value);
	strcat(buf, ";");
}

static void test_kv(void **state)
{
	struct error err = { 0 };
	char *v = NULL, seen[512] = "";

	(void)state;
	if (!etcd_pid) {
		print_message("skipped: %s not installed (Debian's "
			      "etcd-server)\n",
			      ETCD_EXE);
		skip();
	}
	struct etcd *e = etcd_open(url, &err);
	assert_non_null(e);
	assert_int_equal(etcd_put(e, "/sv/a/1", "{\"x\":1}", &err), 0);
	assert_int_equal(etcd_put(e, "/sv/a/2", "two", &err), 0);
	assert_int_equal(etcd_put(e, "/sv/b", "", &err), 0);
	assert_int_equal(etcd_get(e, "/sv/a/1", &v, &err), 0);
	assert_string_equal(v, "{\"x\":1}");
	free(v);
	assert_int_equal(etcd_get(e, "/sv/none", &v, &err), -ENOENT);
	assert_int_equal(etcd_list(e, "/sv/a/", collect, seen, &err), 2);
	assert_string_equal(seen, "/sv/a/1={\"x\":1};/sv/a/2=two;");
	seen[0] = '\0';
	assert_int_equal(etcd_list(e, "/sv/", collect, seen, &err), 3);
	assert_non_null(strstr(seen, "/sv/b=;"));
	assert_int_equal(etcd_delete(e, "/sv/a/", true, &err), 2);
	assert_int_equal(etcd_delete(e, "/sv/b", false, &err), 1);
	assert_int_equal(etcd_list(e, "/sv/", collect, seen, &err), 0);
	etcd_close(e);
}

/* A key under a lease: keepalive renews it, revoking the lease deletes
 * the key, an unknown lease is -ENOENT. Expiry itself is the system
 * test's (test_distributed_switch.py: a killed daemon's VTEP goes). */
static void test_lease(void **state)
{
	struct error err = { 0 };
	int64_t id = 0;
	char *v = NULL;

	(void)state;
	if (!etcd_pid) {
		print_message("skipped: %s not installed (Debian's "
			      "etcd-server)\n",
			      ETCD_EXE);
		skip();
	}
	struct etcd *e = etcd_open(url, &err);
	assert_non_null(e);
	assert_int_equal(etcd_lease_grant(e, 60, &id, &err), 0);
	assert_true(id > 0);
	assert_int_equal(etcd_put_lease(e, "/sv/l", "x", id, &err), 0);
	int ttl = etcd_lease_keepalive(e, id, &err);
	assert_true(ttl > 0 && ttl <= 60);
	assert_int_equal(etcd_get(e, "/sv/l", &v, &err), 0);
	assert_string_equal(v, "x");
	free(v);
	assert_int_equal(etcd_lease_revoke(e, id, &err), 0);
	assert_int_equal(etcd_get(e, "/sv/l", &v, &err), -ENOENT);
	memset(&err, 0, sizeof(err));
	assert_int_equal(etcd_lease_keepalive(e, id, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "expired"));
	/* a put under a lease that is gone fails, nothing is written */
	assert_true(etcd_put_lease(e, "/sv/l", "y", id, &err) < 0);
	assert_int_equal(etcd_get(e, "/sv/l", &v, &err), -ENOENT);
	etcd_close(e);
}

static void test_errors(void **state)
{
	struct error err = { 0 };
	char *v;

	(void)state;
	const char *bad[] = { "https://127.0.0.1:1", "127.0.0.1:2379",
			      "http://", "http://a/b", NULL };
	for (int i = 0; bad[i]; i++) {
		memset(&err, 0, sizeof(err));
		assert_null(etcd_open(bad[i], &err));
		assert_non_null(strstr(err.msg, "http://HOST:PORT"));
	}
	/* nobody listens on port 1: a clear error, no hang */
	struct etcd *e = etcd_open("http://127.0.0.1:1", &err);
	assert_non_null(e);
	assert_true(etcd_get(e, "/x", &v, &err) < 0);
	assert_non_null(strstr(err.msg, "127.0.0.1:1"));
	etcd_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, start_etcd, stop_etcd);
}
