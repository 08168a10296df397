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

/* The VM process: never returns. */
static SV_NORETURN void vm_child(struct virt_config *cfg)
{
	static struct sandbox sb;
	struct sandbox_config sc = { 0 };
	struct error err = { 0 };

	/* the keeper's death ends the VM too */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	sc.host_net = cfg->n_nets > 0;
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

int run_sandboxed(struct virt_config *cfg, struct error *err)
{
	struct termios tio;
	bool have_tio = isatty(0) && tcgetattr(0, &tio) == 0;
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sigs, &old);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = sandbox_fork(err);
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return pid;
	}
	if (pid == 0)
		vm_child(cfg);

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
			sigprocmask(SIG_SETMASK, &old, NULL);
			return error_set(err, errno, "waiting for the VM: %s",
					 strerror(errno));
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return report(pid, status, cfg, have_tio ? &tio : NULL);
}
