/*
 * softvisor run --sandbox=on (the default): the keeper and the VM process.
 *
 *   keeper (this process)        VM process (its child)
 *   PID namespace for the child  descriptor allow-list, namespaces
 *   forwards INT/TERM/HUP        opens every file, device, channel
 *   waits; names the cause of    before_guest: empty root, nobody, no
 *   an abnormal death            capabilities, seccomp; then the guest
 *
 * The console needs no forwarding: the child inherits descriptors 0..2.
 * A test-only fault (SOFTVISOR_TEST_FAULT=syscall|crash, docs/security.md)
 * makes the sandboxed VM process call a forbidden system call or crash,
 * so the system tests can show that only it dies, with a clear message.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run_sandbox.h"
#include "util/compiler.h"
#include "util/hostfile.h"
#include "util/log.h"
#include "vmm/sandbox.h"

#define LOG "sandbox"

/* A real fault, as a device model bug would make it (a raise() from a
 * PID namespace's init would be ignored). */
static void test_fault_crash(void)
{
	static int *volatile nowhere;

	*nowhere = 1;
}

static void test_fault(void)
{
	const char *f = getenv("SOFTVISOR_TEST_FAULT");

	if (!f || !*f)
		return;
	log_warn(LOG, "test fault '%s' injected", f);
	if (!strcmp(f, "syscall"))
		/* not on the allow-list: the filter kills the process */
		syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
	else if (!strcmp(f, "crash"))
		test_fault_crash();
}

static int before_guest(void *opaque, struct error *err)
{
	struct sandbox *sb = opaque;
	int r = sandbox_enter(sb, err);

	if (r)
		return r;
	/* a reboot reopens images only as duplicates of what is open now */
	hostfile_seal();
	test_fault();
	return 0;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RUN_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RUN_ASAN 1
#endif

/* End the VM process. Under ASan, _exit() runs LeakSanitizer's check,
 * which needs /proc and ptrace, both gone in the sandbox: it would fail
 * the run. Sanitizer builds leave without it (--sandbox off keeps it). */
static SV_NORETURN void vm_exit(int code)
{
#ifdef RUN_ASAN
	syscall(SYS_exit_group, code);
#endif
	_exit(code);
}

/* The VM process: never returns. `keeper` is the read end of a pipe only
 * the keeper writes to (never): it hangs up when the keeper ends. */
static SV_NORETURN void vm_child(struct virt_config *cfg, int keeper)
{
	static struct sandbox sb;
	struct sandbox_config sc = { 0 };
	struct error err = { 0 };

	/* the keeper's death ends the VM too; the user change in
	 * sandbox_enter clears this, so it sets it again, and a keeper that
	 * ended before that is seen on the pipe */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	sc.die_with_parent = true;
	sc.parent_fd = keeper;
	sc.keep[sc.n_keep++] = keeper;
	sc.host_net = cfg->n_nets > 0;
	if (cfg->save_by_fd) { /* --save: the keeper's PATH.tmp */
		sc.keep[sc.n_keep++] = cfg->save_fd;
		sc.keep[sc.n_keep++] = cfg->save_done_fd;
	}
	const char *mode = getenv("SOFTVISOR_SECCOMP");
	sc.seccomp_trap = mode && !strcmp(mode, "trap");
	if (sandbox_prepare(&sb, &sc, &err)) {
		fprintf(stderr, "softvisor run: %s\n", err.msg);
		vm_exit(CLI_EXIT_FAIL);
	}
	hostfile_record();
	cfg->before_guest = before_guest;
	cfg->before_guest_opaque = &sb;
	int r = virt_run(cfg, &err);
	if (r < 0) {
		fprintf(stderr, "softvisor run: %s\n", err.msg);
		r = CLI_EXIT_USAGE;
	}
	fflush(stdout);
	fflush(stderr);
	vm_exit(r);
}

static void remove_socket(const char *path)
{
	if (path && path[0])
		(void)unlink(path);
}

/* Say why the VM process died; return the exit status. */
static int report(pid_t pid, int status, const struct virt_config *cfg,
		  const struct termios *tio)
{
	/* the sandboxed child cannot remove its sockets (no unlink) */
	if (cfg->console.kind == CONSOLE_UNIX)
		remove_socket(cfg->console.path);
	if (cfg->has_hvc && cfg->hvc.kind == CONSOLE_UNIX)
		remove_socket(cfg->hvc.path);
	if (cfg->has_qmp)
		remove_socket(cfg->qmp.path);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	int sig = WTERMSIG(status);
	if (tio)
		(void)tcsetattr(0, TCSANOW, tio);
	if (sig == SIGSYS)
		fprintf(stderr,
			"\r\nsoftvisor run: the VM process (pid %d) was killed "
			"by the sandbox: it made a system call that is not on "
			"its seccomp allow-list (SIGSYS; see "
			"docs/security.md)\r\n",
			(int)pid);
	else
		fprintf(stderr,
			"\r\nsoftvisor run: the VM process (pid %d) was killed "
			"by signal %d (%s)%s\r\n",
			(int)pid, sig, strsignal(sig),
			WCOREDUMP(status) ? ", core dumped" : "");
	return 128 + sig;
}

/* --save: the VM process cannot create files, so the keeper creates an
 * unnamed file (O_TMPFILE) in FILE's directory and hands it down with a
 * pipe; the VM process writes the state, fsyncs it and says so on the
 * pipe, and once it ended the keeper links the file in as FILE.tmp and
 * renames that to FILE (docs/vm-state.md). Nothing appears under FILE's
 * name before a save completed. Where the file system has no O_TMPFILE,
 * FILE.tmp is created up front instead. */
struct save_file {
	char tmp[4096];
	int fd;	     /* the keeper's copy of the state file */
	bool named;  /* fd is FILE.tmp (no O_TMPFILE) */
	int done_rd; /* -1: no --save */
};

static int save_open(struct virt_config *cfg, struct save_file *sf,
		     struct error *err)
{
	int pipefd[2];
	char dir[4096];

	sf->done_rd = -1;
	if (!cfg->save)
		return 0;
	if (snprintf(sf->tmp, sizeof(sf->tmp), "%s.tmp", cfg->save) >=
	    (int)sizeof(sf->tmp))
		return error_set(err, ENAMETOOLONG, "--save %s: path too long",
				 cfg->save);
	snprintf(dir, sizeof(dir), "%s", cfg->save);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	sf->named = false;
	sf->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (sf->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		sf->named = true;
		sf->fd = open(sf->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0600);
	}
	if (sf->fd < 0)
		return error_set(err, errno, "--save %s: %s", cfg->save,
				 strerror(errno));
	if (pipe2(pipefd, O_CLOEXEC)) {
		int e = errno;
		close(sf->fd);
		if (sf->named)
			unlink(sf->tmp);
		return error_set(err, e, "pipe: %s", strerror(e));
	}
	sf->done_rd = pipefd[0];
	cfg->save_by_fd = true;
	cfg->save_fd = sf->fd;
	cfg->save_done_fd = pipefd[1];
	return 0;
}

/* After the fork: the keeper keeps the file and the pipe's read end. */
static void save_forked(struct virt_config *cfg, struct save_file *sf)
{
	if (sf->done_rd >= 0)
		close(cfg->save_done_fd);
}

/* Put the completed state file in place as FILE. */
static int save_link(const struct virt_config *cfg, struct save_file *sf)
{
	char proc[64];

	if (!sf->named) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", sf->fd);
		unlink(sf->tmp); /* a leftover of an earlier crash */
		if (linkat(AT_FDCWD, proc, AT_FDCWD, sf->tmp,
			   AT_SYMLINK_FOLLOW))
			return -1;
	}
	if (rename(sf->tmp, cfg->save)) {
		int e = errno;
		unlink(sf->tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* The VM process ended: FILE if it said the save completed. */
static void save_finish(const struct virt_config *cfg, struct save_file *sf)
{
	char c = 0;

	if (sf->done_rd < 0)
		return;
	(void)fcntl(sf->done_rd, F_SETFL, O_NONBLOCK);
	bool saved = read(sf->done_rd, &c, 1) == 1 && c == 'S';
	close(sf->done_rd);
	if (saved && save_link(cfg, sf))
		fprintf(stderr, "softvisor run: --save %s: %s\n", cfg->save,
			strerror(errno));
	else if (!saved && sf->named)
		unlink(sf->tmp);
	close(sf->fd);
}

int run_sandboxed(struct virt_config *cfg, struct error *err)
{
	struct save_file sf;
	int sr = save_open(cfg, &sf, err);
	if (sr)
		return sr;
	struct termios tio;
	bool have_tio = isatty(0) && tcgetattr(0, &tio) == 0;
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	if (cfg->save)
		sigaddset(&sigs, SIGUSR1); /* save and go on (virt_run) */
	int alive[2]; /* the VM process learns the keeper's end from it */
	if (pipe2(alive, O_CLOEXEC)) {
		int e = errno;
		save_forked(cfg, &sf);
		save_finish(cfg, &sf);
		return error_set(err, e, "pipe: %s", strerror(e));
	}
	sigprocmask(SIG_BLOCK, &sigs, &old);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = sandbox_fork(err);
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(alive[0]);
		close(alive[1]);
		save_forked(cfg, &sf);
		save_finish(cfg, &sf);
		return pid;
	}
	if (pid == 0) {
		close(alive[1]);
		vm_child(cfg, alive[0]);
	}
	close(alive[0]);
	save_forked(cfg, &sf);

	int status = 0;
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&sigs, &si);

		if (sig > 0 && sig != SIGCHLD) {
			kill(pid, sig);
			continue;
		}
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			int e = errno;
			sigprocmask(SIG_SETMASK, &old, NULL);
			close(alive[1]);
			save_finish(cfg, &sf);
			return error_set(err, e, "waiting for the VM: %s",
					 strerror(e));
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(alive[1]);
	save_finish(cfg, &sf);
	return report(pid, status, cfg, have_tio ? &tio : NULL);
}
