/*
 * The seccomp allow-list of a VM process (docs/security.md has the table
 * with the reason for each call). Anything else kills the whole process
 * (SECCOMP_RET_KILL_PROCESS): a guest that took over a thread must not get
 * a second try. A few calls fail instead of killing, because our own code
 * or a library makes them on purpose and copes with the failure:
 *   io_uring_setup  ENOSYS: an io_uring back end falls back to threads
 *   clone3          ENOSYS: glibc falls back to clone, whose flags we see
 *   unlink(at)      EACCES: socket paths are removed by the parent
 *   openat to write EACCES: nothing to write in the empty root
 * Memory may be writable or executable, never both (W^X), so a guest that
 * can write host memory still cannot make new code; the translator maps
 * its code buffer twice (jit.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/sandbox.h"

/* Without arguments to check: the hot path (I/O, memory, threads, time)
 * and what a thread and the C library need to live and die. */
static const int allow_plain[] = {
	/* descriptors and file I/O */
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	SCMP_SYS(preadv),
	SCMP_SYS(pwritev),
	SCMP_SYS(preadv2),
	SCMP_SYS(pwritev2),
	SCMP_SYS(lseek),
	SCMP_SYS(close),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(statx),
	SCMP_SYS(fcntl),
	SCMP_SYS(dup),
	SCMP_SYS(dup2),
	SCMP_SYS(dup3),
	SCMP_SYS(fsync),
	SCMP_SYS(fdatasync),
	SCMP_SYS(fallocate),
	SCMP_SYS(ftruncate),
	SCMP_SYS(sync_file_range),
	SCMP_SYS(pipe2),
	SCMP_SYS(eventfd2),
	SCMP_SYS(memfd_create),
	/* waiting */
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(select),
	SCMP_SYS(pselect6),
	SCMP_SYS(epoll_create1),
	SCMP_SYS(epoll_ctl),
	SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait),
	SCMP_SYS(timerfd_create),
	SCMP_SYS(timerfd_settime),
	SCMP_SYS(timerfd_gettime),
	SCMP_SYS(futex),
	SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(sched_yield),
	/* memory (mmap and mprotect: below, W^X) */
	SCMP_SYS(munmap),
	SCMP_SYS(madvise),
	SCMP_SYS(mremap),
	SCMP_SYS(brk),
	/* threads and signals */
	SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigtimedwait),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(sched_setaffinity),
	SCMP_SYS(getcpu),
	/* identity and time */
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(getppid),
	SCMP_SYS(getuid),
	SCMP_SYS(geteuid),
	SCMP_SYS(getgid),
	SCMP_SYS(getegid),
	SCMP_SYS(uname),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(time),
	SCMP_SYS(getrandom),
	/* sockets that exist already (QMP, console, slirp's) */
	SCMP_SYS(accept),
	SCMP_SYS(accept4),
	SCMP_SYS(recvfrom),
	SCMP_SYS(sendto),
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvmmsg),
	SCMP_SYS(sendmmsg),
	SCMP_SYS(shutdown),
	SCMP_SYS(getsockname),
	SCMP_SYS(getpeername),
	SCMP_SYS(getsockopt),
	SCMP_SYS(setsockopt),
	/* the rendezvous the daemon bound for re-attaching (vmworker_attach.c;
	 * no socket or bind without --net user: only a socket it was given) */
	SCMP_SYS(listen),
};

/* User networking (slirp) makes new host sockets: on guest connections,
 * and for its host forwards again on every reboot. */
static const int allow_net[] = {
	SCMP_SYS(connect),
	SCMP_SYS(bind),
	SCMP_SYS(listen),
};

/* Terminal (console), byte counts, non-blocking mode, block device size. */
static const unsigned long allow_ioctl[] = {
	TCGETS,	 TCSETS,  TCSETSW,  TCSETSF,	  TIOCGWINSZ, FIONREAD,
	FIONBIO, FIOCLEX, FIONCLEX, BLKGETSIZE64, BLKSSZGET,
};

static const int allow_prctl[] = { PR_SET_NAME, PR_GET_NAME,
				   PR_SET_TIMERSLACK };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int add_rules(scmp_filter_ctx ctx, const struct sandbox_config *cfg)
{
	int r = 0;

	for (size_t i = 0; !r && i < N(allow_plain); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow_plain[i], 0);
	for (size_t i = 0; !r && cfg->host_net && i < N(allow_net); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow_net[i], 0);
	if (!r && cfg->host_net)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_EQ, AF_INET));
	if (!r && cfg->host_net)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_EQ, AF_INET6));
	for (size_t i = 0; !r && i < N(allow_ioctl); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, allow_ioctl[i]));
	for (size_t i = 0; !r && i < N(allow_prctl); i++)
		r = seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
			SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allow_prctl[i]));
	/* W^X: allowed when not executable, or when not writable */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!r)
		r = seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_WRITE, 0));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!r)
		r = seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_WRITE, 0));
	/* threads, never processes */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
					     CLONE_THREAD));
	/* signals to our own threads only */
	if (!r)
		r = seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
			SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	/* read our limits, never set them */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64),
				     1, SCMP_A2(SCMP_CMP_EQ, 0));
	/* read-only opens inside the empty root (the resolver's
	 * resolv.conf, /proc lookups that then fail) */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ,
					     O_ACCMODE | O_CREAT | O_TRUNC,
					     O_RDONLY));
	/* opens for writing fail (the root is read-only anyway):
	 * pthread_setname_np writes /proc/self/task/TID/comm */
	static const scmp_datum_t wr[][2] = {
		{ O_ACCMODE, O_WRONLY },
		{ O_ACCMODE, O_RDWR },
		{ O_CREAT, O_CREAT },
		{ O_TRUNC, O_TRUNC },
	};
	for (size_t i = 0; !r && i < N(wr); i++)
		r = seccomp_rule_add(
			ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
			SCMP_A2(SCMP_CMP_MASKED_EQ, wr[i][0], wr[i][1]));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				     SCMP_SYS(io_uring_setup), 0);
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				     SCMP_SYS(clone3), 0);
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
				     SCMP_SYS(unlink), 0);
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
				     SCMP_SYS(unlinkat), 0);
	return r;
}

/* SOFTVISOR_SECCOMP=trap: name the call, then die as the filter would. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[96] = "softvisor: sandbox: forbidden system call ";
	size_t n = strlen(msg);
	char num[12];
	int k = 0, v = si->si_syscall;

	do
		num[k++] = (char)('0' + v % 10);
	while ((v /= 10) && k < 11);
	while (k)
		msg[n++] = num[--k];
	msg[n++] = '\n';
	(void)!write(2, msg, n);
	_exit(SANDBOX_EXIT_SECCOMP);
}

int sandbox_seccomp_install(const struct sandbox_config *cfg, struct error *err)
{
	uint32_t def = cfg->seccomp_trap ? SCMP_ACT_TRAP
					 : SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx = seccomp_init(def);
	int r;

	if (!ctx)
		return error_set(err, ENOMEM,
				 "seccomp: cannot create a filter");
	if (cfg->seccomp_trap) {
		struct sigaction sa = { .sa_sigaction = on_sigsys,
					.sa_flags = SA_SIGINFO };
		sigaction(SIGSYS, &sa, NULL);
		/* the handler's own write and _exit are allowed anyway */
	}
	r = add_rules(ctx, cfg);
	if (!r)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	if (!r)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	/* a binary tree over the syscall numbers: the hot calls (futex,
	 * read, write, ppoll) pass in a few comparisons */
	if (!r)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r) {
		seccomp_release(ctx);
		return error_set(err, -r, "seccomp: building the filter: %s",
				 strerror(-r));
	}
	/* no_new_privs first (seccomp_load sets it too, for this thread;
	 * TSYNC gives it to the others) */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		seccomp_release(ctx);
		return error_set(err, -r, "sandbox: no_new_privs: %s",
				 strerror(-r));
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r)
		return error_set(err, -r, "seccomp: loading the filter: %s",
				 strerror(-r));
	return 0;
}
