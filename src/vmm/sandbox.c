/*
 * The VM process's sandbox: namespaces, an empty root, the user nobody,
 * no capabilities (see sandbox.h; the seccomp filter and the descriptor
 * allow-list are in sandbox_seccomp.c and sandbox_fds.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"
#include "util/pidns.h"
#include "vmm/sandbox.h"

#define LOG "sandbox"

/* Where the empty root is mounted, in our own mount namespace only. */
#define JAIL "/tmp"

pid_t sandbox_fork(struct error *err)
{
	int ns = pidns_begin();
	pid_t pid = fork();
	int e = errno;
	if (pid != 0)
		pidns_end(ns);
	else if (ns >= 0)
		close(ns);
	if (pid < 0)
		return error_set(err, e, "cannot start the VM process: %s",
				 strerror(e));
	return pid;
}

/* unshare one namespace; a host that refuses (a container) is not an
 * error, the layer is just missing (logged). */
static bool try_unshare(int flag, const char *what)
{
	if (unshare(flag) == 0)
		return true;
	log_warn(LOG, "no %s namespace: %s", what, strerror(errno));
	return false;
}

int sandbox_prepare(struct sandbox *sb, const struct sandbox_config *cfg,
		    struct error *err)
{
	memset(sb, 0, sizeof(*sb));
	sb->cfg = *cfg;
	sb->privileged = geteuid() == 0;
	(void)pidns_outer_pid(); /* while /proc is there (pidns.h) */
	sb->uid = 65534;
	sb->gid = 65534;
	struct passwd *pw = getpwnam("nobody");
	if (pw) {
		sb->uid = pw->pw_uid;
		sb->gid = pw->pw_gid;
	}
	int r = sandbox_close_fds(cfg->keep, cfg->n_keep, err);
	if (r)
		return r;
	if (!sb->privileged)
		return 0;
	sb->mnt_ns = try_unshare(CLONE_NEWNS, "mount");
	/* nothing we mount may reach the host's mount tree */
	if (sb->mnt_ns && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		return error_set(err, errno,
				 "sandbox: making the mounts private: %s",
				 strerror(errno));
	}
	sb->ipc_ns = try_unshare(CLONE_NEWIPC, "IPC");
	if (!cfg->host_net)
		sb->net_ns = try_unshare(CLONE_NEWNET, "network");
	return 0;
}

/* Bind the host's resolv.conf at root/etc/resolv.conf: user networking
 * forwards the guest's DNS to the host's resolvers. */
static void jail_resolv_conf(const char *root)
{
	char dir[64], file[96];
	struct stat st;

	if (stat("/etc/resolv.conf", &st) < 0)
		return;
	snprintf(dir, sizeof(dir), "%s/etc", root);
	snprintf(file, sizeof(file), "%s/resolv.conf", dir);
	int fd = -1;
	if (mkdir(dir, 0755) == 0)
		fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	if (fd < 0 || mount("/etc/resolv.conf", file, NULL, MS_BIND, NULL))
		log_warn(LOG, "no resolv.conf in the sandbox: %s",
			 strerror(errno));
	else
		(void)mount(NULL, file, NULL,
			    MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
				    MS_NODEV | MS_NOEXEC,
			    NULL);
}

/* An empty, read-only tmpfs as the root of every thread (they share one
 * fs_struct). */
static int jail(struct sandbox *sb, struct error *err)
{
	const unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	if (mount("softvisor-jail", JAIL, "tmpfs", fl, "size=16k,mode=0755"))
		return error_set(err, errno, "sandbox: empty root on %s: %s",
				 JAIL, strerror(errno));
	if (sb->cfg.host_net)
		jail_resolv_conf(JAIL);
	if (mount(NULL, JAIL, NULL, MS_REMOUNT | MS_RDONLY | fl, NULL))
		return error_set(err, errno,
				 "sandbox: making the root read-only: %s",
				 strerror(errno));
	if (chdir(JAIL) || chroot(".") || chdir("/"))
		return error_set(err, errno, "sandbox: chroot: %s",
				 strerror(errno));
	sb->jailed = true;
	return 0;
}

bool sandbox_no_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return false;
	return true;
}

int sandbox_drop_privileges(uid_t uid, gid_t gid, struct error *err)
{
	/* the bounding set while we still have CAP_SETPCAP */
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return error_set(err, errno,
					 "sandbox: dropping capability %d: %s",
					 c, strerror(errno));
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/* glibc applies these to every thread */
	if (setgroups(0, NULL) < 0)
		return error_set(err, errno, "sandbox: setgroups: %s",
				 strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		return error_set(err, errno, "sandbox: setgid %u: %s",
				 (unsigned)gid, strerror(errno));
	/* from uid 0 to another: the kernel clears every capability */
	if (setresuid(uid, uid, uid) < 0)
		return error_set(err, errno, "sandbox: setuid %u: %s",
				 (unsigned)uid, strerror(errno));
	if (setuid(0) == 0)
		return error_set(err, EPERM,
				 "sandbox: could become root again");
	if (!sandbox_no_caps())
		return error_set(err, EPERM,
				 "sandbox: capabilities left after the drop");
	return 0;
}

/* The parent-death signal, and a parent that died before it was set. */
static int die_with_parent(int fd, struct error *err)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return error_set(err, errno, "sandbox: parent-death signal: %s",
				 strerror(errno));
	int n = poll(&p, 1, 0);
	int e = errno;
	close(fd);
	if (n < 0)
		return error_set(err, e, "sandbox: polling the parent: %s",
				 strerror(e));
	if (n > 0)
		return error_set(err, ESRCH,
				 "sandbox: the parent process ended before "
				 "the guest started");
	return 0;
}

int sandbox_enter(struct sandbox *sb, struct error *err)
{
	int r;

	if (sb->privileged) {
		if (sb->mnt_ns) {
			r = jail(sb, err);
			if (r)
				return r;
		}
		r = sandbox_drop_privileges(sb->uid, sb->gid, err);
		if (r)
			return r;
		sb->dropped = true;
	}
	if (sb->cfg.die_with_parent) {
		r = die_with_parent(sb->cfg.parent_fd, err);
		sb->cfg.die_with_parent = false; /* the pipe is closed */
		if (r)
			return r;
	}
	r = sandbox_seccomp_install(&sb->cfg, err);
	if (r)
		return r;
	sb->seccomp = true;
	log_info(LOG,
		 "in place: namespaces mount=%d ipc=%d net=%d, empty root=%d, "
		 "uid %u, seccomp",
		 sb->mnt_ns, sb->ipc_ns, sb->net_ns, sb->jailed,
		 (unsigned)getuid());
	return 0;
}
