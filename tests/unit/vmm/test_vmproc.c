/* Unit tests of the daemon's side of a VM worker (vmm/vmproc.c) against
 * fake workers: this test binary re-executed as `__vm-worker`, behaving as
 * FAKE_WORKER says (a good worker, one that breaks the protocol, one that
 * crashes, one whose start fails, one that takes run tokens). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/sched.h"
#include "vmm/vmproc.h"

static uint8_t rxbuf[VMPROTO_RXBUF];

/* ---- the fake workers ------------------------------------------------- */

static void wsend(int fd, unsigned type, uint32_t seq, int a0, int a1,
		  const char *data)
{
	struct vmproto_msg m = { .type = (uint16_t)type,
				 .seq = seq,
				 .a0 = a0,
				 .a1 = a1,
				 .data = data,
				 .len = data ? (uint32_t)strlen(data) : 0 };
	if (vmproto_send(fd, &m, NULL, 0, 0, NULL))
		_exit(3);
}

static void wrecv(int fd, struct vmproto_msg *m)
{
	if (vmproto_recv(fd, rxbuf, m, NULL, NULL, NULL))
		_exit(0); /* the daemon let go */
}

/* Ask for vCPU 0's run token on its gate socket; the grant's a1. */
static int wenter(int gate)
{
	struct vmproto_msg m;
	wsend(gate, VMPROTO_GATE_ENTER, 0, 0, 0, NULL);
	wrecv(gate, &m);
	return m.type == VMPROTO_GATE_GRANT ? m.a1 : -1;
}

static int fake_worker(const char *mode)
{
	const int fd = 3;
	struct vmproto_msg m;

	wsend(fd, VMPROTO_HELLO, 0, VMPROTO_VERSION, getpid(), NULL);
	int gates[VMPROTO_MAX_FDS];
	unsigned n_gates = 0;
	if (vmproto_recv(fd, rxbuf, &m, gates, &n_gates, NULL))
		return 2;
	/* the daemon's page sharing pool comes first: one read-only fd */
	if (m.type == VMPROTO_POOL) {
		if (n_gates != 1 || m.a0 <= 0 || fcntl(gates[0], F_GETFL) < 0 ||
		    (fcntl(gates[0], F_GETFL) & O_ACCMODE) != O_RDONLY)
			return 2;
		close(gates[0]);
		n_gates = 0;
		if (vmproto_recv(fd, rxbuf, &m, gates, &n_gates, NULL))
			return 2;
	}
	if (m.type != VMPROTO_START)
		return 2;
	if (!strcmp(mode, "startfail")) {
		wsend(fd, VMPROTO_STARTED, m.seq, -ENOENT, 0,
		      "boot.kernel: no such file");
		wrecv(fd, &m);
		return 0;
	}
	wsend(fd, VMPROTO_STARTED, m.seq, 0, 0, NULL);
	if (!strcmp(mode, "gate") || !strcmp(mode, "gate-twice")) {
		if (n_gates != 1)
			return 2;
		int gate = gates[0];
		int g1 = wenter(gate);
		wsend(gate, VMPROTO_GATE_LEAVE, 0, 0, 0, NULL);
		if (!strcmp(mode, "gate-twice")) { /* enter twice: hostile */
			wsend(gate, VMPROTO_GATE_LEAVE, 0, 0, 0, NULL);
			for (;;)
				pause(); /* the daemon kills us */
		}
		int g2 = wenter(gate);
		wsend(gate, VMPROTO_GATE_LEAVE, 0, 0, 0, NULL);
		wsend(fd, VMPROTO_CONSOLE_OUT, 0, 0, 0,
		      g1 == 1 && g2 == 1 ? "granted twice" : "refused");
		wsend(fd, VMPROTO_ENDED, 0, VIRT_END_POWEROFF, 0, NULL);
	}
	for (;;) {
		int fds[VMPROTO_MAX_FDS];
		unsigned nfds = 0;
		if (vmproto_recv(fd, rxbuf, &m, fds, &nfds, NULL))
			_exit(0); /* the daemon let go */
		switch (m.type) {
		case VMPROTO_SAVE: {
			/* good: the state goes to the descriptor; savefail:
			 * an error with a control character; saveshort:
			 * success with a figures block of the wrong size */
			struct vmproto_saved sv = { .bytes = 5 };
			struct vmproto_msg r = { .type = VMPROTO_SAVED,
						 .seq = m.seq,
						 .data = &sv,
						 .len = sizeof(sv) };
			if (nfds != 1 || write(fds[0], "STATE", 5) != 5)
				_exit(4);
			close(fds[0]);
			if (!strcmp(mode, "savefail")) {
				r.a0 = -ENOSPC;
				r.data = "disk\x01"
					 "full";
				r.len = 9;
			} else if (!strcmp(mode, "saveshort")) {
				r.len = 8;
			}
			if (vmproto_send(fd, &r, NULL, 0, 0, NULL))
				_exit(3);
			break;
		}
		case VMPROTO_PAUSE:
			if (!strcmp(mode, "garbage")) {
				const char junk[] = "not a vmproto message!";
				send(fd, junk, sizeof(junk), 0);
				break;
			}
			if (!strcmp(mode, "segv")) {
				/* die by the signal (not a sanitizer's
				 * handler) */
				signal(SIGSEGV, SIG_DFL);
				raise(SIGSEGV);
			}
			if (!strcmp(mode, "exit134"))
				_exit(128 + SIGABRT);
			if (!strcmp(mode, "hang"))
				break; /* never answers */
			if (!strcmp(mode, "sigsys")) {
				/* as the seccomp filter kills (no audit
				 * record names a call for this one) */
				signal(SIGSYS, SIG_DFL);
				raise(SIGSYS);
			}
			if (!strcmp(mode, "panic"))
				wsend(fd, VMPROTO_PANICKED, 0, VIRT_PANIC_STUCK,
				      0, NULL);
			if (!strcmp(mode, "panic-bad"))
				wsend(fd, VMPROTO_PANICKED, 0, 99, 0, NULL);
			wsend(fd, VMPROTO_REPLY, m.seq, 0, 0, NULL);
			break;
		case VMPROTO_CONSOLE_IN: {
			char echo[64];
			snprintf(echo, sizeof(echo), "echo:%.*s", (int)m.len,
				 (const char *)m.data);
			wsend(fd, VMPROTO_CONSOLE_OUT, 0, 0, 0, echo);
			wsend(fd, VMPROTO_REPLY, m.seq, (int)m.len, 0, NULL);
			break;
		}
		case VMPROTO_STOP:
			wsend(fd, VMPROTO_ENDED, 0, VIRT_END_STOPPED, m.a0,
			      NULL);
			break;
		case VMPROTO_STATS: {
			/* pidns: our own pid and thread id as we number them
			 * (in a PID namespace of our own: 1) */
			struct vmproto_stats st = { .n_vcpus = 1 };
			st.tids[0] = (int32_t)gettid();
			struct vmproto_msg r = { .type = VMPROTO_STATS_REPLY,
						 .seq = m.seq,
						 .a1 = (int32_t)getpid(),
						 .data = &st,
						 .len = sizeof(st) };
			if (vmproto_send(fd, &r, NULL, 0, 0, NULL))
				_exit(3);
			break;
		}
		default: break;
		}
	}
}

/* ---- the daemon's side -------------------------------------------------- */

struct seen {
	pthread_mutex_t lock;
	char out[256];
	size_t n;
	int panicked;
	enum virt_panic how;
	int ended;
	enum virt_end why;
	int code;
};

static void on_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct seen *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < len && s->n + 1 < sizeof(s->out); i++)
		s->out[s->n++] = (char)buf[i];
	pthread_mutex_unlock(&s->lock);
}

static void on_ended(void *opaque, enum virt_end why, int code)
{
	struct seen *s = opaque;
	pthread_mutex_lock(&s->lock);
	s->ended++;
	s->why = why;
	s->code = code;
	pthread_mutex_unlock(&s->lock);
}

static void on_panicked(void *opaque, enum virt_panic how)
{
	struct seen *s = opaque;
	pthread_mutex_lock(&s->lock);
	s->panicked++;
	s->how = how;
	pthread_mutex_unlock(&s->lock);
}

static int start(const char *mode, struct seen *s, struct vmk_sched_vm *h,
		 struct vmproc **p, struct error *err)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	setenv("FAKE_WORKER", mode, 1);
	struct vmproc_params prm = {
		.exe = "/proc/self/exe",
		.def_json = "{\"name\":\"fake\"}",
		.n_vcpus = 1,
		.sched = h,
		.ops = { on_output, on_ended, s, on_panicked },
	};
	return vmproc_start(&prm, p, err);
}

static void test_good_worker(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct seen s;
	struct vmproc *p;
	assert_int_equal(start("good", &s, NULL, &p, &err), 0);
	assert_true(vmproc_pid(p) > 0 && vmproc_pid(p) != getpid());
	assert_true(vmproc_running(p));
	assert_int_equal(vmproc_call(p, VMPROTO_PAUSE, 0, NULL, 0), 0);
	assert_int_equal(vmproc_call(p, VMPROTO_CONSOLE_IN, 0, "ls", 2), 2);
	vmproc_stop(p, 7);
	int code;
	assert_int_equal(vmproc_wait(p, &code), VIRT_END_STOPPED);
	assert_int_equal(code, 7);
	assert_false(vmproc_running(p));
	assert_null(vmproc_cause(p));
	/* gone: calls fail cleanly */
	assert_int_equal(vmproc_call(p, VMPROTO_PAUSE, 0, NULL, 0), -EPIPE);
	vmproc_destroy(p);
	assert_string_equal(s.out, "echo:ls");
	assert_int_equal(s.ended, 1);
}

static void test_save(void **state)
{
	(void)state;
	static const char *const modes[] = { "good", "savefail", "saveshort" };
	for (unsigned i = 0; i < 3; i++) {
		struct error err = { 0 };
		struct seen s;
		struct vmproc *p;
		struct vmproto_saved sv = { 0 };
		int pfd[2];
		char buf[8] = { 0 };
		assert_int_equal(pipe(pfd), 0);
		assert_int_equal(start(modes[i], &s, NULL, &p, &err), 0);
		int r = vmproc_save(p, pfd[1], 0, 0, NULL, &sv, 5000, &err);
		close(pfd[1]);
		/* the worker wrote to its duplicate of the descriptor */
		assert_int_equal(read(pfd[0], buf, sizeof(buf)), 5);
		assert_string_equal(buf, "STATE");
		close(pfd[0]);
		if (i == 0) {
			assert_int_equal(r, 0);
			assert_int_equal(sv.bytes, 5);
		} else if (i == 1) {
			assert_int_equal(r, -ENOSPC);
			assert_string_equal(err.msg, "disk?full");
		} else {
			assert_int_equal(r, -EPROTO);
			assert_non_null(strstr(err.msg, "8 bytes of figures"));
		}
		vmproc_stop(p, 0);
		vmproc_wait(p, NULL);
		vmproc_destroy(p);
	}
}

static void test_start_fails(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct seen s;
	struct vmproc *p;
	assert_int_equal(start("startfail", &s, NULL, &p, &err), -ENOENT);
	assert_string_equal(err.msg, "boot.kernel: no such file");
}

static void test_protocol_error_kills(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct seen s;
	struct vmproc *p;
	assert_int_equal(start("garbage", &s, NULL, &p, &err), 0);
	int r = vmproc_call(p, VMPROTO_PAUSE, 0, NULL, 0);
	assert_int_equal(r, -EPIPE);
	int code;
	assert_int_equal(vmproc_wait(p, &code), VIRT_END_CRASHED);
	assert_non_null(vmproc_cause(p));
	assert_non_null(strstr(vmproc_cause(p), "protocol error: vmproto: "
						"bad magic"));
	vmproc_destroy(p);
	assert_int_equal(s.ended, 1);
	assert_int_equal(s.why, VIRT_END_CRASHED);
}

static void test_crash(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct seen s;
	struct vmproc *p;
	assert_int_equal(start("segv", &s, NULL, &p, &err), 0);
	assert_int_equal(vmproc_call(p, VMPROTO_PAUSE, 0, NULL, 0), -EPIPE);
	int code;
	assert_int_equal(vmproc_wait(p, &code), VIRT_END_CRASHED);
	assert_int_equal(code, 128 + SIGSEGV);
	assert_non_null(strstr(vmproc_cause(p), "worker killed by signal 11"));
	vmproc_destroy(p);
}

/* A worker killed by SIGSYS is reported as a seccomp violation (the call
 * is named only when the kernel's audit record is there). */
static void test_sigsys(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct seen s;
	struct vmproc *p;
	assert_int_equal(start("sigsys", &s, NULL, &p, &err), 0);
	assert_int_equal(vmproc_call(p, VMPROTO_PAUSE, 0, NULL, 0), -EPIPE);
	int code;
	assert_int_equal(vmproc_wait(p, &code), VIRT_END_CRASHED);
	assert_int_equal(code, 128 + SIGSYS);
	assert_non_null(strstr(vmproc_cause(p), "seccomp violation"));
	assert_non_null(strstr(vmproc_cause(p), "SIGSYS"));
	vmproc_destroy(p);
}

/* As root a sandboxed worker is the init of a PID namespace of its own:
 * the thread ids it reports come back as ours; a signal it has no
 * handler for is ignored, but SIGKILL from us ends it. */
static void test_pid_namespace(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	struct error err = { 0 };
	struct seen s;
	struct vmproc *p;
	vmproc_set_sandbox(true);
	int r = start("good", &s, NULL, &p, &err);
	vmproc_set_sandbox(false);
	assert_int_equal(r, 0);
	char self[64], child[64], path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)vmproc_pid(p));
	ssize_t a = readlink("/proc/self/ns/pid", self, sizeof(self) - 1);
	ssize_t b = readlink(path, child, sizeof(child) - 1);
	assert_true(a > 0 && b > 0);
	self[a] = child[b] = 0;
	assert_string_not_equal(self, child);
	struct vmproto_stats st;
	assert_int_equal(vmproc_stats(p, &st), 0);
	assert_int_equal(st.n_vcpus, 1);
	/* its main thread, 1 to itself */
	assert_int_equal(st.tids[0], vmproc_pid(p));
	/* SIGTERM without a handler: ignored by a namespace's init */
	kill(vmproc_pid(p), SIGTERM);
	usleep(100 * 1000);
	assert_true(vmproc_running(p));
	kill(vmproc_pid(p), SIGKILL);
	int code;
	assert_int_equal(vmproc_wait(p, &code), VIRT_END_CRASHED);
	assert_int_equal(code, 128 + SIGKILL);
	vmproc_destroy(p);
}

/* A worker that exits 128 + SIGABRT (abort() in a namespace's init:
 * cli/worker_sandbox.c) is reported as killed by the signal. */
static void test_exit_for_signal(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct seen s;
	struct vmproc *p;
	assert_int_equal(start("exit134", &s, NULL, &p, &err), 0);
	assert_int_equal(vmproc_call(p, VMPROTO_PAUSE, 0, NULL, 0), -EPIPE);
	int code;
	assert_int_equal(vmproc_wait(p, &code), VIRT_END_CRASHED);
	assert_int_equal(code, 128 + SIGABRT);
	assert_non_null(strstr(vmproc_cause(p), "worker killed by signal 6"));
	vmproc_destroy(p);
}

/* PANICKED reaches ops.panicked before the reply; a bad reason is a
 * protocol error that kills the worker. */
static void test_panicked(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct seen s;
	struct vmproc *p;
	assert_int_equal(start("panic", &s, NULL, &p, &err), 0);
	assert_int_equal(vmproc_call(p, VMPROTO_PAUSE, 0, NULL, 0), 0);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.panicked, 1);
	assert_int_equal(s.how, VIRT_PANIC_STUCK);
	pthread_mutex_unlock(&s.lock);
	vmproc_destroy(p);

	assert_int_equal(start("panic-bad", &s, NULL, &p, &err), 0);
	assert_int_equal(vmproc_call(p, VMPROTO_PAUSE, 0, NULL, 0), -EPIPE);
	int code;
	assert_int_equal(vmproc_wait(p, &code), VIRT_END_CRASHED);
	assert_non_null(strstr(vmproc_cause(p),
			       "protocol error: panicked: bad reason"));
	vmproc_destroy(p);
	assert_int_equal(s.panicked, 0);
}

static void test_hung_worker(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct seen s;
	struct vmproc *p;
	assert_int_equal(start("hang", &s, NULL, &p, &err), 0);
	/* no answer: the call times out, the worker is still there */
	assert_int_equal(vmproc_call(p, VMPROTO_PAUSE, 0, NULL, 0), -ETIMEDOUT);
	assert_true(vmproc_running(p));
	vmproc_destroy(p); /* it does stop when asked */
}

static void test_run_tokens(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct sched_params prm;
	struct vmk_sched *sc;
	struct vmk_sched_vm *h;
	sched_default_params(&prm, 1, 1000);
	assert_int_equal(vmk_sched_create(&prm, &sc, &err), 0);
	struct sched_vm_config c = { .n_vcpus = 1, .shares = 1000 };
	assert_int_equal(vmk_sched_vm_add(sc, &c, &h, &err), 0);

	struct seen s;
	struct vmproc *p;
	assert_int_equal(start("gate", &s, h, &p, &err), 0);
	assert_int_equal(vmproc_wait(p, NULL), VIRT_END_POWEROFF);
	vmproc_destroy(p);
	assert_string_equal(s.out, "granted twice");

	/* leaving twice is a protocol violation: the worker is killed */
	vmk_sched_vm_reopen(h);
	assert_int_equal(start("gate-twice", &s, h, &p, &err), 0);
	assert_int_equal(vmproc_wait(p, NULL), VIRT_END_CRASHED);
	assert_non_null(strstr(vmproc_cause(p), "leave twice"));
	vmproc_destroy(p);

	vmk_sched_vm_remove(h);
	vmk_sched_destroy(sc);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "__vm-worker"))
		return fake_worker(getenv("FAKE_WORKER") ? getenv("FAKE_WORKER")
							 : "good");
	signal(SIGPIPE, SIG_IGN);
	/* the fake workers die by raise(), which the init of a PID
	 * namespace would ignore: in our namespace, but test_pid_namespace */
	vmproc_set_sandbox(false);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_worker),
		cmocka_unit_test(test_save),
		cmocka_unit_test(test_start_fails),
		cmocka_unit_test(test_protocol_error_kills),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_sigsys),
		cmocka_unit_test(test_pid_namespace),
		cmocka_unit_test(test_exit_for_signal),
		cmocka_unit_test(test_panicked),
		cmocka_unit_test(test_hung_worker),
		cmocka_unit_test(test_run_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
