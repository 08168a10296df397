/* Unit tests of the re-attach pieces (issue 14): the worker record's text
 * format (round trips, every malformed case an error naming it, random
 * mutations never crash nor yield an out-of-range record), its files,
 * and vmproc_adopt against fake workers that answer ATTACH wrongly: each
 * is refused with a clear error, none is adopted. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/vmproc.h"
#include "vmm/vmproto.h"
#include "vmm/worker_record.h"

static const struct worker_record good = {
	.vm_id = 42,
	.vm_name = "web-1.prod_a",
	.gen = 7,
	.pid = 12345,
	.pid_start = 987654321,
	.proto = 1, /* the format's field, whatever the protocol is now */
};

static const char good_text[] = "softvisor-worker-record 1\n"
				"vm_id 42\n"
				"vm_name web-1.prod_a\n"
				"gen 7\n"
				"pid 12345\n"
				"pid_start 987654321\n"
				"proto 1\n";

static void assert_same(const struct worker_record *a,
			const struct worker_record *b)
{
	assert_int_equal(a->vm_id, b->vm_id);
	assert_string_equal(a->vm_name, b->vm_name);
	assert_int_equal(a->gen, b->gen);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->pid_start, b->pid_start);
	assert_int_equal(a->proto, b->proto);
}

static void test_round_trip(void **state)
{
	(void)state;
	char buf[WORKER_RECORD_MAX];
	struct error err = { 0 };
	int n = worker_record_format(&good, buf, sizeof(buf), &err);
	assert_int_equal(n, (int)strlen(good_text));
	assert_string_equal(buf, good_text);
	struct worker_record r;
	assert_int_equal(worker_record_parse(buf, (size_t)n, &r, &err), 0);
	assert_same(&r, &good);
	/* keys in another order are the same record */
	const char *shuffled = "softvisor-worker-record 1\nproto 1\n"
			       "pid_start 987654321\npid 12345\ngen 7\n"
			       "vm_name web-1.prod_a\nvm_id 42\n";
	assert_int_equal(
		worker_record_parse(shuffled, strlen(shuffled), &r, &err), 0);
	assert_same(&r, &good);
	/* too small a buffer, an out-of-range field */
	assert_int_equal(worker_record_format(&good, buf, 10, &err), -ENOSPC);
	struct worker_record bad = good;
	bad.pid = 1;
	assert_int_equal(worker_record_format(&bad, buf, sizeof(buf), &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "pid"));
}

/* good_text with line `key` replaced by `line` ("" drops it). */
static void with_line(const char *key, const char *line, char *out)
{
	out[0] = 0;
	const char *p = good_text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = (size_t)(nl - p) + 1;
		if (!strncmp(p, key, strlen(key)) && p[strlen(key)] == ' ')
			strcat(out, line);
		else
			strncat(out, p, n);
		p += n;
	}
}

static void expect_bad(const char *text, size_t len, const char *what)
{
	struct worker_record r;
	struct error err = { 0 };
	int rc = worker_record_parse(text, len, &r, &err);
	if (rc != -EINVAL || !strstr(err.msg, what))
		fail_msg("%s: got %d \"%s\", want -EINVAL naming \"%s\"", text,
			 rc, err.msg, what);
}

static void test_malformed(void **state)
{
	(void)state;
	char t[2048];
	expect_bad("", 0, "no softvisor-worker-record");
	expect_bad(good_text, strlen(good_text) - 1, "newline");
	expect_bad(good_text, sizeof(good_text), "NUL");
	memset(t, 'a', sizeof(t));
	expect_bad(t, sizeof(t), "bytes");
	snprintf(t, sizeof(t), "%sextra 1\n", good_text);
	expect_bad(t, strlen(t), "unknown key");
	snprintf(t, sizeof(t), "%spid 12\n", good_text);
	expect_bad(t, strlen(t), "pid twice");
	with_line("softvisor-worker-record", "softvisor-worker-record 2\n", t);
	expect_bad(t, strlen(t), "bad softvisor-worker-record");
	snprintf(t, sizeof(t), "vm_id 42\n%s", good_text);
	expect_bad(t, strlen(t), "first line");
	with_line("gen", "", t);
	expect_bad(t, strlen(t), "no gen");
	with_line("vm_id", "vm_id -4\n", t);
	expect_bad(t, strlen(t), "bad vm_id");
	with_line("vm_id", "vm_id 042\n", t);
	expect_bad(t, strlen(t), "bad vm_id");
	with_line("vm_id", "vm_id 0\n", t);
	expect_bad(t, strlen(t), "vm_id 0 out of range");
	with_line("vm_id", "vm_id 99999999999999999999999\n", t);
	expect_bad(t, strlen(t), "bad vm_id");
	with_line("gen", "gen 4294967296\n", t);
	expect_bad(t, strlen(t), "bad gen");
	with_line("gen", "gen 0\n", t);
	expect_bad(t, strlen(t), "gen 0");
	with_line("pid", "pid 1\n", t);
	expect_bad(t, strlen(t), "pid 1 out of range");
	with_line("pid", "pid 4194305\n", t);
	expect_bad(t, strlen(t), "bad pid");
	with_line("pid", "pid 12 34\n", t);
	expect_bad(t, strlen(t), "key value");
	with_line("pid", "pid  12\n", t);
	expect_bad(t, strlen(t), "key value");
	with_line("pid", "pid 0x10\n", t);
	expect_bad(t, strlen(t), "bad pid");
	with_line("vm_name", "vm_name ../etc\n", t);
	expect_bad(t, strlen(t), "vm_name");
	with_line("vm_name", "vm_name a;rm\n", t);
	expect_bad(t, strlen(t), "vm_name");
	char longname[200] = "vm_name ";
	memset(longname + 8, 'n', 64);
	strcat(longname, "\n");
	with_line("vm_name", longname, t);
	expect_bad(t, strlen(t), "vm_name");
	with_line("proto", "proto 0\n", t);
	expect_bad(t, strlen(t), "proto");
	with_line("pid_start", "pid_start\n", t);
	expect_bad(t, strlen(t), "key value");
}

/* Random mutations of a valid record: parse never crashes; what it
 * accepts is in range and formats back to text that parses the same. */
static void test_fuzz(void **state)
{
	(void)state;
	static const char alphabet[] = "0123456789 \n\0-_.azZ/ \xff";
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned accepted = 0;
	for (unsigned it = 0; it < 50000; it++) {
		char t[WORKER_RECORD_MAX + 8];
		size_t n = strlen(good_text);
		memcpy(t, good_text, n);
		unsigned edits = 1 + it % 4;
		for (unsigned e = 0; e < edits; e++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t pos = (size_t)(x % (n + 1));
			char c = alphabet[(x >> 32) % (sizeof(alphabet) - 1)];
			switch ((x >> 40) % 3) {
			case 0: /* replace */
				if (pos < n)
					t[pos] = c;
				break;
			case 1: /* insert */
				if (n < sizeof(t) - 1) {
					memmove(t + pos + 1, t + pos, n - pos);
					t[pos] = c;
					n++;
				}
				break;
			default: /* delete */
				if (pos < n) {
					memmove(t + pos, t + pos + 1,
						n - pos - 1);
					n--;
				}
			}
		}
		struct worker_record r;
		struct error err = { 0 };
		int rc = worker_record_parse(t, n, &r, &err);
		if (rc) {
			assert_int_equal(rc, -EINVAL);
			assert_true(err.msg[0] != 0);
			continue;
		}
		accepted++;
		char back[WORKER_RECORD_MAX];
		int m = worker_record_format(&r, back, sizeof(back), &err);
		assert_true(m > 0);
		struct worker_record r2;
		assert_int_equal(
			worker_record_parse(back, (size_t)m, &r2, &err), 0);
		assert_same(&r, &r2);
	}
	/* some mutations keep it valid (a digit for a digit) */
	assert_true(accepted > 0);
}

static void test_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_worker_record.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/vm-42.worker", dir);
	struct error err = { 0 };
	struct worker_record r;
	assert_int_equal(worker_record_read(path, &r, &err), -ENOENT);
	assert_int_equal(worker_record_write(path, &good, &err), 0);
	assert_int_equal(worker_record_read(path, &r, &err), 0);
	assert_same(&r, &good);
	/* garbage in the file: an error naming the file */
	FILE *f = fopen(path, "w");
	fputs("softvisor-worker-record 1\nvm_id x\n", f);
	fclose(f);
	assert_int_equal(worker_record_read(path, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, path));
	unlink(path);
	rmdir(dir);
	/* start times: ours is there, a reaped child's is not */
	uint64_t st = 0;
	assert_int_equal(worker_record_pid_start(getpid(), &st), 0);
	assert_true(st > 0);
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	/* a zombie is no worker */
	usleep(100000);
	assert_int_equal(worker_record_pid_start(c, &st), -ESRCH);
	waitpid(c, NULL, 0);
	assert_int_equal(worker_record_pid_start(c, &st), -ESRCH);
}

/* ---- vmproc_adopt against fake workers ---------------------------------- */

enum fake {
	FAKE_OK,
	FAKE_PID,
	FAKE_GEN,
	FAKE_NAME,
	FAKE_SHORT,
	FAKE_REFUSE,
	FAKE_WRONG_TYPE,
	FAKE_NO_LISTEN,
	FAKE_PORTS_LOST /* says it took no switch port */
};

/* A fake worker: listens at path, accepts one daemon, answers ATTACH as
 * told, then waits for the end of the connection. Returns its pid once
 * it listens. */
static pid_t fake_worker(const char *path, enum fake how)
{
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid) {
		char c;
		close(ready[1]);
		assert_int_equal(read(ready[0], &c, 1), 1);
		close(ready[0]);
		return pid;
	}
	close(ready[0]);
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)))
		_exit(2);
	if (how != FAKE_NO_LISTEN && listen(s, 1))
		_exit(2);
	if (write(ready[1], "x", 1) != 1)
		_exit(2);
	if (how == FAKE_NO_LISTEN) {
		pause();
		_exit(0);
	}
	int c = accept(s, NULL, NULL);
	static uint8_t buf[VMPROTO_RXBUF];
	struct vmproto_msg m;
	int fds[VMPROTO_MAX_FDS];
	unsigned nfds = 0;
	if (vmproto_recv(c, buf, &m, fds, &nfds, NULL) ||
	    m.type != VMPROTO_ATTACH || m.a0 != VMPROTO_VERSION)
		_exit(3);
	/* no gate sockets (no scheduler): one switch port per data byte,
	 * each a live seqpacket socket */
	if (nfds != m.len)
		_exit(4);
	for (unsigned i = 0; i < nfds; i++) {
		int type = 0;
		socklen_t tl = sizeof(type);
		if (getsockopt(fds[i], SOL_SOCKET, SO_TYPE, &type, &tl) ||
		    type != SOCK_SEQPACKET ||
		    ((const uint8_t *)m.data)[i] != 2 * i + 1)
			_exit(5);
		close(fds[i]);
	}
	struct vmproto_attached at = {
		.pid = getpid(), .gen = 7, .n_vcpus = 1, .ports = m.len
	};
	snprintf(at.name, sizeof(at.name), "vm1");
	struct vmproto_msg a = { .type = VMPROTO_ATTACHED,
				 .data = &at,
				 .len = sizeof(at) };
	switch (how) {
	case FAKE_PID: at.pid = 1; break;
	case FAKE_GEN: at.gen = 8; break;
	case FAKE_NAME: snprintf(at.name, sizeof(at.name), "vm2"); break;
	case FAKE_SHORT: a.len = 8; break;
	case FAKE_REFUSE:
		a.a0 = -EPROTO;
		a.data = "run 7\x01 (this worker runs 8)";
		a.len = (uint32_t)strlen(a.data);
		break;
	case FAKE_WRONG_TYPE: a.type = VMPROTO_CONSOLE_OUT; break;
	case FAKE_PORTS_LOST: at.ports = 0; break;
	default: break;
	}
	vmproto_send(c, &a, NULL, 0, 0, NULL);
	while (recv(c, buf, VMPROTO_RXBUF, 0) > 0)
		;
	_exit(0);
}

static void adopt_case_ports(enum fake how, unsigned n_ports, int want,
			     const char *what)
{
	char path[108];
	snprintf(path, sizeof(path), "/tmp/test_worker_record.%d.sock",
		 (int)getpid());
	pid_t pid = fake_worker(path, how);
	struct vmproc_adopt a = { .sock_path = path,
				  .pid = pid,
				  .gen = 7,
				  .name = "vm1",
				  .n_vcpus = 1 };
	/* switch ports: socketpair ends stand in for connected ports */
	int ports[4], peers[4];
	uint8_t nics[4];
	for (unsigned i = 0; i < n_ports; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
		ports[i] = sv[0];
		peers[i] = sv[1];
		nics[i] = (uint8_t)(2 * i + 1);
	}
	a.port_fds = ports;
	a.port_nics = nics;
	a.n_ports = n_ports;
	assert_int_equal(worker_record_pid_start(pid, &a.pid_start), 0);
	struct vmproc *p = NULL;
	struct vmproto_attached info;
	struct error err = { 0 };
	int r = vmproc_adopt(&a, &p, &info, &err);
	for (unsigned i = 0; i < n_ports; i++) {
		close(ports[i]);
		close(peers[i]);
	}
	if (r != want || (what && !strstr(err.msg, what)))
		fail_msg("case %d: got %d \"%s\", want %d naming \"%s\"", how,
			 r, err.msg, want, what ? what : "");
	if (!r) {
		assert_int_equal(info.pid, pid);
		assert_int_equal(vmproc_pid(p), pid);
		vmproc_detach(p); /* lets go: the fake then exits */
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(path);
}

static void adopt_case(enum fake how, int want, const char *what)
{
	adopt_case_ports(how, 0, want, what);
}

static void test_adopt(void **state)
{
	(void)state;
	adopt_case(FAKE_OK, 0, NULL);
	/* the switch ports travel with ATTACH, their NICs as data */
	adopt_case_ports(FAKE_OK, 3, 0, NULL);
	adopt_case_ports(FAKE_PORTS_LOST, 2, -EPROTO,
			 "took 0 switch port(s) of 2");
	adopt_case(FAKE_PID, -EPERM, "pid 1");
	adopt_case(FAKE_GEN, -EPERM, "run 8");
	adopt_case(FAKE_NAME, -EPERM, "vm2");
	adopt_case(FAKE_SHORT, -EPROTO, "8 bytes");
	adopt_case(FAKE_REFUSE, -EPROTO, "run 7? (this worker runs 8)");
	adopt_case(FAKE_WRONG_TYPE, -EPROTO, "console-out instead");
	adopt_case(FAKE_NO_LISTEN, -ESRCH, NULL);

	/* the listener is not the recorded process: refused before ATTACH */
	char path[108];
	snprintf(path, sizeof(path), "/tmp/test_worker_record.%d.sock",
		 (int)getpid());
	pid_t pid = fake_worker(path, FAKE_OK);
	struct vmproc_adopt a = { .sock_path = path,
				  .pid = getpid(),
				  .gen = 7,
				  .name = "vm1",
				  .n_vcpus = 1 };
	assert_int_equal(worker_record_pid_start(getpid(), &a.pid_start), 0);
	struct vmproc *p = NULL;
	struct vmproto_attached info;
	struct error err = { 0 };
	assert_int_equal(vmproc_adopt(&a, &p, &info, &err), -EPERM);
	assert_non_null(strstr(err.msg, "not the recorded worker"));
	/* a recorded start time that differs: another process now (this
	 * process, alive for sure: the fake may have exited once the
	 * adoption above hung up on it) */
	a.pid = getpid();
	a.pid_start = 1;
	assert_int_equal(vmproc_adopt(&a, &p, &info, &err), -ESRCH);
	assert_non_null(strstr(err.msg, "start time"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(path);
	/* no such process */
	a.pid = pid;
	assert_int_equal(vmproc_adopt(&a, &p, &info, &err), -ESRCH);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_adopt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
