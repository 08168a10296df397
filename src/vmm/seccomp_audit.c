/*
 * The seccomp kill of a process, from the kernel's audit records in
 * /dev/kmsg. See seccomp_audit.h.
 *
 * A /dev/kmsg record is "PRI,SEQ,TS_USEC,FLAGS;MESSAGE\n" (continuation
 * lines follow, starting with a space); a seccomp kill reads
 * "audit: type=1326 audit(...): ... pid=N comm=... sig=31 arch=... syscall=NR
 * ...". Everything here is host-kernel output, but it is parsed as if it
 * were not: bounded, no assumption on field order but the key names.
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "vmm/seccomp_audit.h"

/* The value of " key=" in msg[0..n) as a decimal number. */
static bool field(const char *msg, size_t n, const char *key, long *out)
{
	size_t k = strlen(key);
	for (size_t i = 0; i + k < n; i++) {
		if ((i && msg[i - 1] != ' ') || memcmp(msg + i, key, k))
			continue;
		long v = 0;
		size_t j = i + k, digits = 0;
		while (j < n && msg[j] >= '0' && msg[j] <= '9' && digits < 9) {
			v = v * 10 + (msg[j++] - '0');
			digits++;
		}
		if (!digits || (j < n && msg[j] != ' ' && msg[j] != '\n'))
			return false;
		*out = v;
		return true;
	}
	return false;
}

bool seccomp_audit_parse(const char *rec, size_t n, pid_t pid,
			 uint64_t since_us, long *nr)
{
	const char *semi = memchr(rec, ';', n);
	if (!semi)
		return false;
	/* the prefix: PRI,SEQ,TS_USEC,... */
	unsigned long long pri, seq, ts;
	char pre[64];
	size_t pl = (size_t)(semi - rec);
	if (pl >= sizeof(pre))
		return false;
	memcpy(pre, rec, pl);
	pre[pl] = '\0';
	if (sscanf(pre, "%llu,%llu,%llu", &pri, &seq, &ts) != 3)
		return false;
	if (ts < since_us)
		return false;
	const char *msg = semi + 1;
	size_t mn = n - pl - 1;
	const char *nl = memchr(msg, '\n', mn);
	if (nl)
		mn = (size_t)(nl - msg);
	long type, p, sys;
	if (!field(msg, mn, "type=", &type) || type != 1326 ||
	    !field(msg, mn, "pid=", &p) || p != (long)pid ||
	    !field(msg, mn, "syscall=", &sys))
		return false;
	*nr = sys;
	return true;
}

/* One pass over the ring buffer: the last match, or -1. */
static long scan(pid_t pid, uint64_t since_us)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -2; /* not readable: do not wait */
	char rec[8192];
	long found = -1, nr;
	for (;;) {
		ssize_t r = read(fd, rec, sizeof(rec));
		if (r < 0 && errno == EPIPE)
			continue; /* overwritten while we read: go on */
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (seccomp_audit_parse(rec, (size_t)r, pid, since_us, &nr))
			found = nr;
	}
	close(fd);
	return found;
}

bool seccomp_audit_lookup(pid_t pid, uint64_t since_us, unsigned wait_ms,
			  char *name, size_t cap)
{
	long nr = -1;
	for (unsigned waited = 0;; waited += 50) {
		nr = scan(pid, since_us);
		if (nr != -1 || waited >= wait_ms)
			break;
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (nr < 0)
		return false;
	char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)nr);
	if (s)
		snprintf(name, cap, "%s", s);
	else
		snprintf(name, cap, "%ld", nr);
	free(s);
	return true;
}
