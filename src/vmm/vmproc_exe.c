/*
 * Which executable the daemon's VM workers run (vmproc.h,
 * vmproc_worker_exe): softvisor-vmx from the directory of the daemon's
 * own executable, the lean worker that maps none of the daemon's
 * libraries (docs/architecture.md, "Process per VM"), or, without it,
 * the daemon's own executable as `softvisor __vm-worker`.
 *
 * The file found is opened once (O_PATH) and workers are spawned through
 * /proc/self/fd/N: like /proc/self/exe, that names the file the daemon
 * found when it started even after an install replaced the path, so the
 * workers of a daemon are always of its own build (the protocol between
 * them, vmproto.h, is versioned but a worker of another build refused at
 * HELLO would fail every start until the daemon restarts).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "vmm/vmproc.h"
#include "vmm/vmproc_priv.h"

#define LOG	 "vmproc"
#define SELF_EXE "/proc/self/exe"

static struct {
	pthread_once_t once;
	char spawn[32]; /* what posix_spawn gets: /proc/self/fd/N */
	bool lean;	/* spawn names softvisor-vmx */
	char what[2 * PATH_MAX + 160]; /* for the log */
} wexe = { .once = PTHREAD_ONCE_INIT };

static void pick(void)
{
	char self[PATH_MAX];
	char path[PATH_MAX + sizeof(VMPROC_LEAN_EXE) + 1];
	ssize_t n = readlink(SELF_EXE, self, sizeof(self) - 1);
	char *slash = n > 0 ? memrchr(self, '/', (size_t)n) : NULL;

	if (!slash) {
		snprintf(wexe.what, sizeof(wexe.what),
			 "%s __vm-worker (cannot read its path: %s)", SELF_EXE,
			 n < 0 ? strerror(errno) : "not absolute");
		return;
	}
	self[n] = '\0';
	snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - self), self,
		 VMPROC_LEAN_EXE);
	int fd = open(path, O_PATH | O_CLOEXEC);
	struct stat st;
	const char *why = NULL;
	if (fd >= 0 && fd <= VMPROC_WORKER_FD) {
		/* the spawn's dup2 onto VMPROC_WORKER_FD would replace it
		 * before the exec looks the path up */
		int high = fcntl(fd, F_DUPFD_CLOEXEC, VMPROC_WORKER_FD + 1);
		close(fd);
		fd = high;
	}
	if (fd < 0)
		why = strerror(errno);
	else if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (access(path, X_OK))
		why = strerror(errno);
	if (why) {
		if (fd >= 0)
			close(fd);
		snprintf(wexe.what, sizeof(wexe.what),
			 "%s __vm-worker (no %s: %s)", self, path, why);
		return;
	}
	snprintf(wexe.spawn, sizeof(wexe.spawn), "/proc/self/fd/%d", fd);
	wexe.lean = true;
	snprintf(wexe.what, sizeof(wexe.what), "%s (kept open as fd %d)", path,
		 fd);
}

const char *vmproc_worker_exe(const char **what)
{
	pthread_once(&wexe.once, pick);
	if (what)
		*what = wexe.what;
	return wexe.lean ? wexe.spawn : SELF_EXE;
}

const char *vmproc_exe_argv0(const char *exe)
{
	pthread_once(&wexe.once, pick);
	return wexe.lean && !strcmp(exe, wexe.spawn) ? VMPROC_LEAN_EXE
						     : "softvisor";
}
