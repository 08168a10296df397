/* Unit tests for the QMP-style control channel: spec parsing, greeting and
 * capabilities negotiation over a real unix socket, every command through
 * fake VM ops, error replies for malformed input, events, quit, and
 * clients attached through socketpairs. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine/qmp.h"

struct vm {
	uint64_t target, actual;
	bool has_balloon;
	_Atomic int quits;
	int stops;
	const char *status;
};

static const char *vm_status(void *opaque)
{
	return ((struct vm *)opaque)->status;
}

static int vm_set_target(void *opaque, uint64_t bytes)
{
	struct vm *vm = opaque;

	if (!vm->has_balloon)
		return -ENODEV;
	vm->target = bytes;
	return 0;
}

static int vm_get_balloon(void *opaque, uint64_t *actual)
{
	struct vm *vm = opaque;

	if (!vm->has_balloon)
		return -ENODEV;
	*actual = vm->actual;
	return 0;
}

static void vm_stats(void *opaque, struct qmp_stats *st)
{
	qmp_stats_u64(st, "virtio-rng", "bytes", 4096);
	qmp_stats_u64(st, "virtio-rng", "requests", 2);
	qmp_stats_u64(st, "virtio-balloon", "stat-free-memory", UINT64_MAX);
	qmp_stats_str(st, "virtio-balloon", "state", "ok");
}

static void vm_quit(void *opaque)
{
	((struct vm *)opaque)->quits++;
}

static int vm_stop(void *opaque)
{
	((struct vm *)opaque)->stops++;
	return 0;
}

static char migrated[256];

static int vm_migrate_file(void *opaque, const char *path, char *msg,
			   size_t msg_len)
{
	if (!strcmp(path, "/nonexistent/x")) {
		snprintf(msg, msg_len, "save: %s: No such file or directory",
			 path);
		return -ENOENT;
	}
	snprintf(migrated, sizeof(migrated), "%s", path);
	return 0;
}

static unsigned announced[4];

static int vm_announce(void *opaque, unsigned rounds, unsigned initial_ms,
		       unsigned max_ms, unsigned step_ms, char *msg,
		       size_t msg_len)
{
	if (rounds == 0) {
		snprintf(msg, msg_len, "announce rounds 0: expected 1..1000");
		return -EINVAL;
	}
	announced[0] = rounds;
	announced[1] = initial_ms;
	announced[2] = max_ms;
	announced[3] = step_ms;
	return 0;
}

static const struct qmp_ops vm_ops = {
	.query_status = vm_status,
	.set_balloon_target = vm_set_target,
	.get_balloon = vm_get_balloon,
	.get_stats = vm_stats,
	.quit = vm_quit,
	.stop = vm_stop,
	.migrate_file = vm_migrate_file,
	.announce = vm_announce,
};

struct fixture {
	char dir[32], path[64];
	struct vm vm;
	struct qmp *q;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct qmp_spec spec;
	struct qmp_opts o = { .version = "0.1.0" };
	struct error err = { 0 };
	char s[160];

	strcpy(f->dir, "/tmp/sv-qmp-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
	snprintf(s, sizeof(s), "unix:%s", f->path);
	assert_int_equal(qmp_parse(s, &spec, &err), 0);
	f->vm = (struct vm){ .actual = 1 << 30,
			     .has_balloon = true,
			     .status = "running" };
	f->q = qmp_open(&spec, &vm_ops, &f->vm, &o, &err);
	assert_non_null(f->q);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	qmp_close(f->q);
	assert_true(stat(f->path, &st) < 0); /* unlinked */
	rmdir(f->dir);
	free(f);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* One line (without '\n') or NULL on timeout/EOF. */
static char *read_line(int fd)
{
	static char buf[65536];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			return NULL;
		n = recv(fd, buf + len, 1, 0);
		if (n <= 0)
			return NULL;
		if (buf[len] == '\n') {
			buf[len] = 0;
			return buf;
		}
		len++;
	}
	return NULL;
}

static json_t *read_json(int fd)
{
	char *l = read_line(fd);
	json_t *j;

	assert_non_null(l);
	j = json_loads(l, 0, NULL);
	assert_non_null(j);
	return j;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL),
			 (ssize_t)strlen(s));
}

/* Send a line, return the reply. */
static json_t *cmd(int fd, const char *line)
{
	send_str(fd, line);
	send_str(fd, "\n");
	return read_json(fd);
}

static void assert_error(json_t *r, const char *cls, const char *desc_part)
{
	json_t *e = json_object_get(r, "error");

	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "class")),
			    cls);
	if (desc_part)
		assert_non_null(
			strstr(json_string_value(json_object_get(e, "desc")),
			       desc_part));
	json_decref(r);
}

static json_t *assert_return(json_t *r)
{
	json_t *ret = json_object_get(r, "return");

	assert_non_null(ret);
	json_incref(ret);
	json_decref(r);
	return ret;
}

static int connect_negotiated(struct fixture *f)
{
	int fd = connect_to(f->path);
	json_t *g = read_json(fd);

	json_decref(g);
	json_decref(
		assert_return(cmd(fd, "{\"execute\":\"qmp_capabilities\"}")));
	return fd;
}

static void test_parse(void **state)
{
	struct qmp_spec s;
	struct error err = { 0 };
	char longp[200];

	assert_int_equal(qmp_parse("unix:/tmp/x.sock", &s, &err), 0);
	assert_string_equal(s.path, "/tmp/x.sock");
	assert_int_equal(qmp_parse("unix:/tmp/y,server,nowait", &s, &err), 0);
	assert_string_equal(s.path, "/tmp/y");
	assert_int_equal(qmp_parse("unix:/tmp/y,server=on,wait=off", &s, &err),
			 0);
	assert_true(qmp_parse("tcp:1234", &s, &err) < 0);
	assert_non_null(strstr(err.msg, "unix:PATH"));
	assert_true(qmp_parse("unix:", &s, &err) < 0);
	assert_true(qmp_parse("unix:/a,bogus", &s, &err) < 0);
	assert_non_null(strstr(err.msg, "bogus"));
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "unix:", 5);
	longp[sizeof(longp) - 1] = 0;
	assert_true(qmp_parse(longp, &s, &err) < 0);
}

static void test_greeting_and_negotiation(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	json_t *g = read_json(fd), *v, *r;

	v = json_object_get(json_object_get(g, "QMP"), "version");
	assert_non_null(v);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(v, "qemu"), "minor")),
			 1);
	assert_true(json_is_array(
		json_object_get(json_object_get(g, "QMP"), "capabilities")));
	json_decref(g);

	assert_error(cmd(fd, "{\"execute\":\"query-status\"}"),
		     "CommandNotFound", "qmp_capabilities");
	json_decref(assert_return(cmd(fd, "{\"execute\":\"qmp_capabilities\","
					  "\"arguments\":{\"enable\":[]}}")));
	assert_error(cmd(fd, "{\"execute\":\"qmp_capabilities\"}"),
		     "CommandNotFound", "already complete");
	r = assert_return(cmd(fd, "{\"execute\":\"query-status\"}"));
	assert_string_equal(json_string_value(json_object_get(r, "status")),
			    "running");
	assert_true(json_is_true(json_object_get(r, "running")));
	json_decref(r);
	f->vm.status = "paused";
	r = assert_return(cmd(fd, "{\"execute\":\"query-status\"}"));
	assert_true(json_is_false(json_object_get(r, "running")));
	json_decref(r);
	close(fd);
}

static void test_balloon(void **state)
{
	struct fixture *f = *state;
	int fd = connect_negotiated(f);
	json_t *r;

	json_decref(assert_return(
		cmd(fd, "{\"execute\":\"balloon\",\"arguments\":{\"value\":"
			"536870912}}")));
	assert_int_equal(f->vm.target, 536870912);
	r = assert_return(cmd(fd, "{\"execute\":\"query-balloon\"}"));
	assert_int_equal(json_integer_value(json_object_get(r, "actual")),
			 1 << 30);
	json_decref(r);

	assert_error(cmd(fd, "{\"execute\":\"balloon\"}"), "GenericError",
		     "'value' is missing");
	assert_error(cmd(fd, "{\"execute\":\"balloon\",\"arguments\":"
			     "{\"value\":\"1G\"}}"),
		     "GenericError", "expected: integer");
	assert_error(cmd(fd, "{\"execute\":\"balloon\",\"arguments\":"
			     "{\"value\":-5}}"),
		     "GenericError", "> 0");
	assert_error(cmd(fd, "{\"execute\":\"balloon\",\"arguments\":"
			     "{\"value\":1,\"x\":2}}"),
		     "GenericError", "'x' is unexpected");
	f->vm.has_balloon = false;
	assert_error(cmd(fd, "{\"execute\":\"balloon\",\"arguments\":"
			     "{\"value\":4096}}"),
		     "DeviceNotActive", NULL);
	assert_error(cmd(fd, "{\"execute\":\"query-balloon\"}"),
		     "DeviceNotActive", NULL);
	close(fd);
}

static void test_stats(void **state)
{
	struct fixture *f = *state;
	int fd = connect_negotiated(f);
	json_t *r, *d;

	r = assert_return(cmd(fd, "{\"execute\":\"query-stats\"}"));
	d = json_object_get(r, "virtio-rng");
	assert_int_equal(json_integer_value(json_object_get(d, "bytes")), 4096);
	d = json_object_get(r, "virtio-balloon");
	assert_int_equal(
		json_integer_value(json_object_get(d, "stat-free-memory")),
		INT64_MAX);
	assert_string_equal(json_string_value(json_object_get(d, "state")),
			    "ok");
	json_decref(r);

	r = assert_return(cmd(fd, "{\"execute\":\"query-stats\",\"arguments\":"
				  "{\"device\":\"virtio-rng\"}}"));
	assert_int_equal(json_object_size(r), 1);
	json_decref(r);
	assert_error(cmd(fd, "{\"execute\":\"query-stats\",\"arguments\":"
			     "{\"device\":\"nope\"}}"),
		     "DeviceNotFound", "nope");
	assert_error(cmd(fd, "{\"execute\":\"query-stats\",\"arguments\":"
			     "{\"device\":3}}"),
		     "GenericError", NULL);
	close(fd);
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	int fd = connect_negotiated(f);
	char *big;
	json_t *r;

	assert_error(cmd(fd, "{\"execute\":"), "GenericError", "JSON parse");
	assert_error(cmd(fd, "[1,2]"), "GenericError", "JSON object");
	assert_error(cmd(fd, "42"), "GenericError", NULL);
	assert_error(cmd(fd, "{}"), "GenericError", "'execute'");
	assert_error(cmd(fd, "{\"execute\":1}"), "GenericError", "string");
	assert_error(cmd(fd, "{\"execute\":\"quit\",\"arguments\":[]}"),
		     "GenericError", "object");
	assert_error(cmd(fd, "{\"execute\":\"quit\",\"bogus\":1}"),
		     "GenericError", "bogus");
	assert_error(cmd(fd, "{\"execute\":\"no-such-thing\"}"),
		     "CommandNotFound", "no-such-thing");
	assert_error(cmd(fd, "{\"execute\":\"cont\"}"), "CommandNotFound",
		     NULL); /* op not provided */
	assert_error(cmd(fd, "{\"execute\":\"a\",\"execute\":\"b\"}"),
		     "GenericError", NULL);
	assert_error(cmd(fd, "{\"a\":1} {\"b\":2}"), "GenericError", NULL);
	/* Binary junk and a NUL byte. */
	send_str(fd, "\x01\x02\xff");
	assert_error(cmd(fd, ""), "GenericError", NULL);
	/* Blank lines get no reply; the next command still works. */
	send_str(fd, "\n  \r\n");
	r = assert_return(cmd(fd, "{\"execute\":\"query-status\",\"id\":7}"));
	json_decref(r);

	/* Over-long line: one error, the rest skipped, then back to normal. */
	big = malloc(QMP_MAX_LINE * 2 + 1);
	memset(big, 'x', QMP_MAX_LINE * 2);
	big[QMP_MAX_LINE * 2] = 0;
	send_str(fd, big);
	free(big);
	assert_error(cmd(fd, ""), "GenericError", "too long");
	json_decref(assert_return(cmd(fd, "{\"execute\":\"query-version\"}")));
	close(fd);
}

static void test_id_and_commands(void **state)
{
	struct fixture *f = *state;
	int fd = connect_negotiated(f);
	json_t *r;
	size_t i;
	bool has_stop = false, has_cont = false;

	send_str(fd, "{\"execute\":\"query-commands\",\"id\":\"abc\"}\n");
	r = read_json(fd);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "abc");
	r = assert_return(r);
	for (i = 0; i < json_array_size(r); i++) {
		const char *n = json_string_value(
			json_object_get(json_array_get(r, i), "name"));

		has_stop |= !strcmp(n, "stop");
		has_cont |= !strcmp(n, "cont");
	}
	assert_true(has_stop);
	assert_false(has_cont);
	json_decref(r);
	json_decref(assert_return(cmd(fd, "{\"execute\":\"stop\"}")));
	assert_int_equal(f->vm.stops, 1);
	/* Errors echo the id too. */
	send_str(fd, "{\"execute\":\"nope\",\"id\":5}\n");
	r = read_json(fd);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
	json_decref(r);
	close(fd);
}

static void test_events_and_quit(void **state)
{
	struct fixture *f = *state;
	int fd = connect_negotiated(f);
	int fresh = connect_to(f->path); /* not negotiated: no events */
	json_t *r;

	json_decref(read_json(fresh));
	qmp_event(f->q, "BALLOON_CHANGE", "{\"actual\": 1024}");
	qmp_event(f->q, "BAD", "[not an object"); /* dropped */
	r = read_json(fd);
	assert_string_equal(json_string_value(json_object_get(r, "event")),
			    "BALLOON_CHANGE");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(r, "data"), "actual")),
			 1024);
	assert_non_null(
		json_object_get(json_object_get(r, "timestamp"), "seconds"));
	json_decref(r);

	json_decref(assert_return(cmd(fd, "{\"execute\":\"quit\"}")));
	/* The quit op runs after the reply: wait for it. */
	for (int i = 0; i < 2000 && !f->vm.quits; i++)
		usleep(5000);
	assert_int_equal(f->vm.quits, 1);
	/* The not-negotiated client saw nothing but may still talk. */
	assert_error(cmd(fresh, "{\"execute\":\"query-status\"}"),
		     "CommandNotFound", NULL);
	close(fresh);
	close(fd);
}

static void test_attach_fd_and_limits(void **state)
{
	struct fixture *f = *state;
	int sv[2], fds[QMP_MAX_CLIENTS], i, extra;
	json_t *r;
	char *l;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(qmp_attach_fd(f->q, sv[1]), 0);
	json_decref(read_json(sv[0]));
	json_decref(assert_return(
		cmd(sv[0], "{\"execute\":\"qmp_capabilities\"}")));
	r = assert_return(cmd(sv[0], "{\"execute\":\"query-balloon\"}"));
	json_decref(r);

	/* Fill the remaining slots; one more is refused with an error. */
	for (i = 0; i < QMP_MAX_CLIENTS - 1; i++) {
		fds[i] = connect_to(f->path);
		json_decref(read_json(fds[i]));
	}
	extra = connect_to(f->path);
	l = read_line(extra);
	assert_non_null(l);
	assert_non_null(strstr(l, "too many"));
	close(extra);
	/* A client that disconnects frees its slot. */
	close(fds[0]);
	usleep(50000);
	fds[0] = connect_to(f->path);
	l = read_line(fds[0]);
	assert_non_null(l);
	assert_non_null(strstr(l, "QMP"));
	for (i = 0; i < QMP_MAX_CLIENTS - 1; i++)
		close(fds[i]);
	close(sv[0]);
}

/* migrate: file:PATH only, the op's message reaches the client. */
static void test_migrate(void **state)
{
	struct fixture *f = *state;
	int fd = connect_negotiated(f);
	json_t *r;

	json_decref(
		assert_return(cmd(fd, "{\"execute\":\"migrate\",\"arguments\":"
				      "{\"uri\":\"file:/tmp/vm.state\"}}")));
	assert_string_equal(migrated, "/tmp/vm.state");
	r = cmd(fd, "{\"execute\":\"migrate\",\"arguments\":"
		    "{\"uri\":\"exec:cat > /tmp/x\"}}");
	assert_error(r, "GenericError", "only file:PATH is supported");
	r = cmd(fd, "{\"execute\":\"migrate\",\"arguments\":"
		    "{\"uri\":\"file:/nonexistent/x\"}}");
	assert_error(
		r, "GenericError",
		"migrate: save: /nonexistent/x: No such file or directory");
	r = cmd(fd, "{\"execute\":\"migrate\"}");
	assert_error(r, "GenericError", "'uri' is missing");
	close(fd);
}

/* announce-self: QEMU's defaults, its arguments, and errors. */
static void test_announce_self(void **state)
{
	struct fixture *f = *state;
	int fd = connect_negotiated(f);
	json_t *r;

	json_decref(assert_return(cmd(fd, "{\"execute\":\"announce-self\"}")));
	assert_int_equal(announced[0], 5);
	assert_int_equal(announced[1], 50);
	assert_int_equal(announced[2], 550);
	assert_int_equal(announced[3], 100);
	json_decref(assert_return(
		cmd(fd, "{\"execute\":\"announce-self\",\"arguments\":"
			"{\"rounds\":2,\"initial\":10,\"max\":20,"
			"\"step\":5}}")));
	assert_int_equal(announced[0], 2);
	assert_int_equal(announced[1], 10);
	assert_int_equal(announced[2], 20);
	assert_int_equal(announced[3], 5);
	r = cmd(fd, "{\"execute\":\"announce-self\",\"arguments\":"
		    "{\"rounds\":0}}");
	assert_error(r, "GenericError", "announce rounds 0");
	r = cmd(fd, "{\"execute\":\"announce-self\",\"arguments\":"
		    "{\"rounds\":\"five\"}}");
	assert_error(r, "GenericError", "'rounds' expects an integer");
	r = cmd(fd, "{\"execute\":\"announce-self\",\"arguments\":"
		    "{\"step\":-1}}");
	assert_error(r, "GenericError", "'step' expects an integer");
	r = cmd(fd, "{\"execute\":\"announce-self\",\"arguments\":"
		    "{\"interfaces\":[]}}");
	assert_non_null(json_object_get(r, "error"));
	json_decref(r);
	close(fd);
}

static void test_handle_line_direct(void **state)
{
	struct fixture *f = *state;
	bool neg = false;
	char *s;
	unsigned i, seed = 1;
	const char *caps = "{\"execute\":\"qmp_capabilities\"}";

	assert_null(qmp_handle_line(f->q, &neg, "   ", 3));
	s = qmp_handle_line(f->q, &neg, caps, strlen(caps));
	assert_string_equal(s, "{\"return\":{}}");
	free(s);
	assert_true(neg);
	/* Random bytes never crash and always get a reply or nothing. */
	for (i = 0; i < 2000; i++) {
		char buf[64];
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf)), k;

		for (k = 0; k < n; k++)
			buf[k] = (char)(rand_r(&seed) % 256);
		free(qmp_handle_line(f->q, &neg, buf, n));
	}
}

static void test_stale_and_busy_path(void **state)
{
	struct fixture *f = *state;
	struct qmp_spec spec = { 0 };
	struct error err = { 0 };
	char path[64];
	FILE *fp;

	/* The live socket of the fixture: refused. */
	snprintf(spec.path, sizeof(spec.path), "%s", f->path);
	assert_null(qmp_open(&spec, &vm_ops, &f->vm, NULL, &err));
	assert_non_null(strstr(err.msg, "listening"));
	/* A regular file: refused, left alone. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fp = fopen(path, "w");
	fclose(fp);
	snprintf(spec.path, sizeof(spec.path), "%s", path);
	assert_null(qmp_open(&spec, &vm_ops, &f->vm, NULL, &err));
	assert_non_null(strstr(err.msg, "not a socket"));
	unlink(path);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		T(test_greeting_and_negotiation),
		T(test_balloon),
		T(test_stats),
		T(test_malformed),
		T(test_id_and_commands),
		T(test_events_and_quit),
		T(test_attach_fd_and_limits),
		T(test_migrate),
		T(test_announce_self),
		T(test_handle_line_direct),
		T(test_stale_and_busy_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
