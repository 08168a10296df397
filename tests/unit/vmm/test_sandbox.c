/* Unit tests of the VM process's sandbox (vmm/sandbox.h): each case runs
 * in a forked child, since a filter or a privilege drop cannot be undone.
 * The children report through their exit status (0 = all checks held,
 * 10 + n = check n failed) or die by the filter's SIGSYS. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/sandbox.h"

#define CHECK(n, cond)                   \
	do {                             \
		if (!(cond))             \
			_exit(10 + (n)); \
	} while (0)

/* Run fn in a child; return its wait status. */
static int in_child(void (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void assert_exit_ok(int st)
{
	if (WIFSIGNALED(st))
		fail_msg("child killed by signal %d", WTERMSIG(st));
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st))
		fail_msg("child check %d failed", WEXITSTATUS(st) - 10);
}

static void assert_killed_by_filter(int st)
{
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void install(bool host_net)
{
	struct sandbox_config c = { .host_net = host_net };
	CHECK(0, sandbox_seccomp_install(&c, NULL) == 0);
}

static void *thread_fn(void *arg)
{
	*(int *)arg = 42;
	return NULL;
}

/* What a VM does all the time: I/O, memory, threads, time, waiting. */
static void hot_path(void *arg)
{
	int p[2], efd, mfd;
	char buf[8];
	struct timespec ts;

	install(false);
	CHECK(1, pipe2(p, O_CLOEXEC) == 0);
	CHECK(2, write(p[1], "abc", 3) == 3 && read(p[0], buf, 3) == 3);
	struct iovec iov = { .iov_base = "xy", .iov_len = 2 };
	CHECK(3, writev(p[1], &iov, 1) == 2);
	struct pollfd pfd = { .fd = p[0], .events = POLLIN };
	CHECK(4, poll(&pfd, 1, 0) == 1);
	mfd = memfd_create("t", MFD_CLOEXEC);
	CHECK(5, mfd >= 0 && ftruncate(mfd, 4096) == 0);
	CHECK(6, pwrite(mfd, "hello", 5, 100) == 5 &&
			 pread(mfd, buf, 5, 100) == 5 &&
			 !memcmp(buf, "hello", 5));
	CHECK(7, fdatasync(mfd) == 0 || errno == EINVAL);
	/* the translator's double map: RW and RX views, never RWX */
	void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	void *rx = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, mfd, 0);
	CHECK(8, rw != MAP_FAILED && rx != MAP_FAILED);
	CHECK(9, mprotect(rw, 4096, PROT_READ) == 0 && munmap(rw, 4096) == 0);
	void *anon = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(10,
	      anon != MAP_FAILED && madvise(anon, 1 << 20, MADV_DONTNEED) == 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(11, efd >= 0);
	int futex_word = 0;
	CHECK(12, syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL,
			  NULL, 0) == 0);
	CHECK(13, syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0);
	CHECK(14, getrandom(buf, sizeof(buf), 0) == sizeof(buf));
	pthread_t t;
	int v = 0;
	CHECK(15, pthread_create(&t, NULL, thread_fn, &v) == 0 &&
			  pthread_join(t, NULL) == 0 && v == 42);
	ts.tv_sec = 0;
	ts.tv_nsec = 1000;
	CHECK(16, nanosleep(&ts, NULL) == 0 && sched_yield() == 0);
	/* refused without killing: a future io_uring back end falls back */
	CHECK(17, syscall(SYS_io_uring_setup, 8, buf) == -1 && errno == ENOSYS);
	CHECK(18, open("/dev/null", O_WRONLY) == -1 && errno == EACCES);
	CHECK(19, unlink("/nonexistent") == -1 && errno == EACCES);
	CHECK(20, pthread_kill(pthread_self(), 0) == 0);
	close(efd);
	close(mfd);
}

static void test_filter_allows_hot_path(void **state)
{
	assert_exit_ok(in_child(hot_path, NULL));
}

static void forbidden_ptrace(void *arg)
{
	install(false);
	syscall(SYS_ptrace, 0, 0, 0, 0);
	_exit(1); /* not reached */
}

static void forbidden_fork(void *arg)
{
	install(false);
	pid_t p = fork(); /* clone without CLONE_THREAD */
	_exit(p == 0 ? 2 : 1);
}

static void forbidden_rwx(void *arg)
{
	install(false);
	mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
	     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	_exit(1);
}

static void forbidden_socket(void *arg)
{
	install(*(bool *)arg);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	_exit(s >= 0 ? 0 : 1);
}

static void forbidden_netlink(void *arg)
{
	install(true);
	socket(AF_NETLINK, SOCK_RAW, 0);
	_exit(1);
}

static void forbidden_execve(void *arg)
{
	install(false);
	char *argv[] = { "/bin/true", NULL };
	execve("/bin/true", argv, NULL);
	_exit(1);
}

static void test_filter_kills_forbidden(void **state)
{
	bool no = false, yes = true;

	assert_killed_by_filter(in_child(forbidden_ptrace, NULL));
	assert_killed_by_filter(in_child(forbidden_fork, NULL));
	assert_killed_by_filter(in_child(forbidden_rwx, NULL));
	assert_killed_by_filter(in_child(forbidden_execve, NULL));
	/* host sockets only for user networking */
	assert_killed_by_filter(in_child(forbidden_socket, &no));
	assert_exit_ok(in_child(forbidden_socket, &yes));
	assert_killed_by_filter(in_child(forbidden_netlink, NULL));
}

struct fds {
	int keep, drop1, drop2;
};

static void close_fds(void *arg)
{
	struct fds *f = arg;

	CHECK(1, sandbox_close_fds(&f->keep, 1, NULL) == 0);
	CHECK(2, fcntl(f->keep, F_GETFD) >= 0);
	CHECK(3, fcntl(f->drop1, F_GETFD) == -1 && errno == EBADF);
	CHECK(4, fcntl(f->drop2, F_GETFD) == -1 && errno == EBADF);
	for (int fd = 0; fd < 3; fd++)
		CHECK(5, fcntl(fd, F_GETFD) >= 0);
	/* nothing else is left: the next descriptor fills the first gap */
	int n = dup(0);
	CHECK(6, n == 3 || n == f->keep + 1 || n < f->keep);
}

static void test_close_fds(void **state)
{
	int p[2], q[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	struct fds f = { .keep = q[0], .drop1 = p[0], .drop2 = q[1] };
	assert_exit_ok(in_child(close_fds, &f));
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	int bad = -1;
	struct error err = { 0 };
	assert_int_equal(sandbox_close_fds(&bad, 1, &err), -EBADF);
}

/* The CapEff line of a thread's status. */
static unsigned long long cap_eff(pid_t tid)
{
	char path[64], line[128];
	unsigned long long v = ~0ULL;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			break;
	fclose(f);
	return v;
}

static _Atomic pid_t other_tid;
static _Atomic int other_stop;

static void *idle_thread(void *arg)
{
	other_tid = (pid_t)syscall(SYS_gettid);
	while (!other_stop)
		usleep(1000);
	return NULL;
}

static void drop(void *arg)
{
	pthread_t t;

	/* a thread that exists before the drop loses its capabilities too */
	CHECK(1, pthread_create(&t, NULL, idle_thread, NULL) == 0);
	while (!other_tid)
		usleep(1000);
	CHECK(2, cap_eff(other_tid) != 0);
	CHECK(3, sandbox_drop_privileges(65534, 65534, NULL) == 0);
	CHECK(4, getuid() == 65534 && geteuid() == 65534 && getgid() == 65534);
	CHECK(5, sandbox_no_caps());
	CHECK(6, cap_eff(other_tid) == 0);
	CHECK(7, setuid(0) == -1);
	gid_t g[4];
	CHECK(8, getgroups(4, g) == 0);
	other_stop = 1;
	pthread_join(t, NULL);
}

static void test_drop_leaves_no_caps(void **state)
{
	if (geteuid() != 0)
		skip();
	assert_exit_ok(in_child(drop, NULL));
}

/* The whole sandbox; the parent reads the child's /proc status. */
static void whole(void *arg)
{
	int *p = arg; /* p[0]: wait on, p[1]: report on */
	struct sandbox sb;
	struct sandbox_config c = { .n_keep = 2, .keep = { p[0], p[1] } };

	CHECK(1, sandbox_prepare(&sb, &c, NULL) == 0);
	CHECK(2, sb.mnt_ns && sb.net_ns);
	CHECK(3, sandbox_enter(&sb, NULL) == 0);
	CHECK(4, sb.jailed && sb.dropped && sb.seccomp);
	/* the root is empty */
	CHECK(5, open("/etc/passwd", O_RDONLY) == -1 && errno == ENOENT);
	char c1 = 'r';
	CHECK(6, write(p[1], &c1, 1) == 1);
	CHECK(7, read(p[0], &c1, 1) == 1);
}

static void test_enter(void **state)
{
	int down[2], up[2];

	if (geteuid() != 0)
		skip();
	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	int kid[2] = { down[0], up[1] };
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		whole(kid);
		_exit(0);
	}
	char c;
	assert_int_equal(read(up[0], &c, 1), 1);
	char path[64], line[160];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	int seen = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		unsigned u;
		if (sscanf(line, "Seccomp: %u", &u) == 1)
			seen += (assert_int_equal(u, 2), 1);
		if (sscanf(line, "NoNewPrivs: %u", &u) == 1)
			seen += (assert_int_equal(u, 1), 1);
		if (sscanf(line, "Uid: %u", &u) == 1)
			seen += (assert_int_equal(u, 65534), 1);
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			seen += (assert_int_equal(v, 0), 1);
		if (sscanf(line, "CapPrm: %llx", &v) == 1)
			seen += (assert_int_equal(v, 0), 1);
	}
	fclose(f);
	assert_int_equal(seen, 5);
	assert_int_equal(write(down[1], "g", 1), 1);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_exit_ok(st);
	close(down[0]);
	close(down[1]);
	close(up[0]);
	close(up[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_allows_hot_path),
		cmocka_unit_test(test_filter_kills_forbidden),
		cmocka_unit_test(test_close_fds),
		cmocka_unit_test(test_drop_leaves_no_caps),
		cmocka_unit_test(test_enter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
