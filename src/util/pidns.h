/*
 * PID namespaces for the processes that run guests (issue 14,
 * docs/security.md): `softvisor run`'s VM process (vmm/sandbox.c,
 * sandbox_fork) and the daemon's workers (vmm/vmproc.c) are each the init
 * of a namespace of their own, so a guest that takes one over sees no
 * other host process.
 *
 * What the init of a PID namespace must know about itself: it is pid 1
 * to itself, while its parent, /proc and the kernel's audit records
 * number it in the parent's namespace; signals it has no handler for are
 * ignored, even fatal ones it raises itself (a fault, a seccomp kill and
 * SIGKILL from the parent still end it); when it exits every process of
 * its namespace dies.
 *
 * Threads: any thread; see each function.
 */
#ifndef SV_UTIL_PIDNS_H
#define SV_UTIL_PIDNS_H

#include <stdbool.h>
#include <sys/types.h>

/* Root only: the calling thread's next child (fork, posix_spawn) becomes
 * the init of a new PID namespace. Returns a descriptor to give to
 * pidns_end() right after that child is made, or -1: not root, or the
 * host refuses (inside some containers; logged once per process) and
 * the child is made in our namespace. Only the calling thread's children
 * are affected, other threads fork as before. */
int pidns_begin(void);

/* The calling thread's next children in its own namespace again, ns from
 * pidns_begin() (-1: nothing to do); closes ns. */
void pidns_end(int ns);

/* Our pid as our parent numbers it (the init of a namespace is 1 to
 * itself): /proc, which the namespace shares with its parent, names us
 * as the parent does. Read once, by the first call, which must come
 * while /proc is reachable (vmm/sandbox.c makes it in sandbox_prepare);
 * getpid() when /proc cannot be read. */
pid_t pidns_outer_pid(void);

/* The thread ids of a process, innermost (as the process numbers them)
 * to ours: the NSpid line of /proc/PID/task/TID/status holds one id per
 * namespace level, ours first. */
#define PIDNS_MAP_MAX 256
struct pidns_map {
	unsigned n;
	struct {
		int inner, outer;
	} e[PIDNS_MAP_MAX];
};

/* One status line: true for an "NSpid:" line, with the first (outer) and
 * last (inner) id. */
bool pidns_parse_nspid(const char *line, int *outer, int *inner);

/* Fill m from /proc/PID/task (at most PIDNS_MAP_MAX threads). 0 or
 * -errno (-ESRCH: no such process). */
int pidns_map_threads(pid_t pid, struct pidns_map *m);

/* Our id of the thread the process numbers inner; 0 if not in m. */
int pidns_map_outer(const struct pidns_map *m, int inner);

#endif
