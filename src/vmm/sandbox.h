/*
 * The VM process's sandbox (issue 14; docs/security.md): what a guest that
 * takes over the process through a device model or translator bug is left
 * with. Layers, applied in two steps:
 *
 *   sandbox_prepare()  in a fresh, still single-threaded VM process, before
 *                      it opens anything: closes every inherited descriptor
 *                      but an allow-list, enters new mount and IPC
 *                      namespaces, and a network namespace when the VM has
 *                      no user networking (which needs the host network).
 *   sandbox_enter()    after every file, device and channel is open, before
 *                      the first guest instruction (virt_config.before_guest):
 *                      an empty read-only root, the user nobody, no
 *                      capabilities, no_new_privs, then the seccomp filter,
 *                      for every thread of the process.
 *
 * The PID namespace comes with the fork of the VM process (sandbox_fork;
 * the daemon's spawn of a worker: util/pidns.h), which then is its
 * namespace's init. Without root
 * (euid != 0) the namespaces, the root and the user change are left out:
 * the process is unprivileged already; descriptors, no_new_privs and
 * seccomp still apply. Not thread-safe: one caller, the VM process's main
 * thread.
 */
#ifndef SV_VMM_SANDBOX_H
#define SV_VMM_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

#define SANDBOX_MAX_KEEP 16

struct sandbox_config {
	/* the VM uses user networking (slirp): keep the host network, allow
	 * socket/connect/bind/listen for AF_INET/AF_INET6 */
	bool host_net;
	/* descriptors inherited from the parent that stay open (0, 1 and 2
	 * always do) */
	unsigned n_keep;
	int keep[SANDBOX_MAX_KEEP];
	/* seccomp: trap (print the system call, exit 159) instead of killing
	 * the process; a development aid (SOFTVISOR_SECCOMP=trap) */
	bool seccomp_trap;
	/* end with the parent: sandbox_enter sets the parent-death signal
	 * (SIGKILL) again after the user change, which clears it, and fails
	 * if the parent is already gone, which it learns from parent_fd: the
	 * read end of a pipe whose only write end the parent holds (also in
	 * keep[]; closed by sandbox_enter). An init of a PID namespace cannot
	 * ask getppid(). */
	bool die_with_parent;
	int parent_fd;
};

/* What was applied (for logs and tests). */
struct sandbox {
	struct sandbox_config cfg;
	bool privileged; /* euid 0 when prepared */
	bool mnt_ns, ipc_ns, net_ns;
	bool jailed;  /* empty root */
	bool dropped; /* now nobody */
	bool seccomp;
	uid_t uid;
	gid_t gid;
};

/* fork(), with the child as the init of a new PID namespace when we are
 * root (the caller's own children later, such as LeakSanitizer's helper,
 * stay in its namespace). Returns as fork does; -errno with err set. */
pid_t sandbox_fork(struct error *err);

/* Step one (see above). Looks the user nobody up now, while /etc is still
 * there. Namespaces the host refuses are left out with a warning. */
int sandbox_prepare(struct sandbox *sb, const struct sandbox_config *cfg,
		    struct error *err);

/* Step two (see above). Any failure is an error: a VM must not run half
 * sandboxed. 0 or -errno with err set. */
int sandbox_enter(struct sandbox *sb, struct error *err);

/* ---- the layers, each usable alone (sandbox_fds.c, sandbox_seccomp.c) -- */

/* Close every descriptor but 0, 1, 2 and keep[0..n). 0 or -errno. */
int sandbox_close_fds(const int *keep, unsigned n, struct error *err);

/* Root only: setgroups(0), setgid/setuid to uid/gid, an empty bounding set,
 * no ambient or inheritable capabilities; every thread ends with none. */
int sandbox_drop_privileges(uid_t uid, gid_t gid, struct error *err);

/* True when this thread holds no capability at all (effective, permitted,
 * inheritable). */
bool sandbox_no_caps(void);

/* no_new_privs and the seccomp allow-list for every thread of the
 * process (SECCOMP_FILTER_FLAG_TSYNC). 0 or -errno with err set. */
int sandbox_seccomp_install(const struct sandbox_config *cfg,
			    struct error *err);

/* Exit status of a process killed by the seccomp filter (128 + SIGSYS). */
#define SANDBOX_EXIT_SECCOMP 159

#endif
