/*
 * PID namespaces for the processes that run guests; see pidns.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/pidns.h"

#define LOG "sandbox"

int pidns_begin(void)
{
	static atomic_bool warned;

	if (geteuid() != 0)
		return -1;
	/* unshare(CLONE_NEWPID) changes where this thread's next child goes
	 * (its pid_for_children), not the thread itself: no need to be
	 * single-threaded; setns back after the fork */
	int ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (ns >= 0 && unshare(CLONE_NEWPID) < 0) {
		if (!atomic_exchange(&warned, true))
			log_warn(LOG, "no PID namespace: %s", strerror(errno));
		close(ns);
		ns = -1;
	}
	return ns;
}

void pidns_end(int ns)
{
	if (ns < 0)
		return;
	if (setns(ns, CLONE_NEWPID) < 0)
		log_warn(LOG, "back to our PID namespace: %s", strerror(errno));
	close(ns);
}

/* A decimal id 1..INT32_MAX at *s; 0 if none. */
static int parse_id(const char *s, char **end)
{
	errno = 0;
	long v = strtol(s, end, 10);
	if (errno || *end == s || v <= 0 || v > INT32_MAX)
		return 0;
	return (int)v;
}

pid_t pidns_outer_pid(void)
{
	static atomic_int outer;
	int pid = atomic_load(&outer);
	if (pid > 0)
		return pid;
	/* /proc/self resolves in the namespace /proc was mounted for */
	char buf[32], *end;
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
	pid = 0;
	if (n > 0) {
		buf[n] = 0;
		pid = parse_id(buf, &end);
		if (*end)
			pid = 0;
	}
	if (pid <= 0)
		pid = (int)getpid();
	atomic_store(&outer, pid);
	return pid;
}

bool pidns_parse_nspid(const char *line, int *outer, int *inner)
{
	if (strncmp(line, "NSpid:", 6))
		return false;
	const char *s = line + 6;
	int first = 0, last = 0;
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '\n')
			break;
		char *end;
		int id = parse_id(s, &end);
		if (!id || (*end && !isspace((unsigned char)*end)))
			return false;
		if (!first)
			first = id;
		last = id;
		s = end;
	}
	if (!first)
		return false;
	*outer = first;
	*inner = last;
	return true;
}

int pidns_map_threads(pid_t pid, struct pidns_map *m)
{
	char path[64];
	m->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	struct dirent *de;
	while (m->n < PIDNS_MAP_MAX && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char file[320], line[256];
		snprintf(file, sizeof(file), "/proc/%d/task/%s/status",
			 (int)pid, de->d_name);
		FILE *f = fopen(file, "re");
		if (!f)
			continue; /* the thread just ended */
		int outer, inner;
		while (fgets(line, sizeof(line), f)) {
			if (pidns_parse_nspid(line, &outer, &inner)) {
				m->e[m->n].inner = inner;
				m->e[m->n].outer = outer;
				m->n++;
				break;
			}
		}
		fclose(f);
	}
	closedir(d);
	return 0;
}

int pidns_map_outer(const struct pidns_map *m, int inner)
{
	for (unsigned i = 0; i < m->n; i++)
		if (m->e[i].inner == inner)
			return m->e[i].outer;
	return 0;
}
