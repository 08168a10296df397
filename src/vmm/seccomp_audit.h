/*
 * Which system call the seccomp filter killed a process for (issue 14):
 * the kernel records each kill in its audit log (type=1326, "pid=N ...
 * syscall=NR"), which reaches the kernel ring buffer when no audit daemon
 * takes it. The daemon reads /dev/kmsg (root) after a worker died of
 * SIGSYS to name the call in the VM's crash event.
 *
 *   char name[32];
 *   if (seccomp_audit_lookup(pid, spawned_us, 1000, name, sizeof(name)))
 *       ... "seccomp violation: syscall ptrace"
 */
#ifndef SV_VMM_SECCOMP_AUDIT_H
#define SV_VMM_SECCOMP_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Parse one /dev/kmsg record (text, n bytes): true if it is a seccomp
 * audit record of pid at or after since_us (the record's monotonic
 * timestamp), with *nr its system call number. Pure (unit-tested). */
bool seccomp_audit_parse(const char *rec, size_t n, pid_t pid,
			 uint64_t since_us, long *nr);

/* The last seccomp kill of pid recorded since since_us (CLOCK_MONOTONIC,
 * microseconds), waiting up to wait_ms for it to appear (the kernel logs
 * it asynchronously). Writes the call's name (or its number when
 * libseccomp does not know it) to name; false when none was found or the
 * log cannot be read (not root, audit daemon). */
bool seccomp_audit_lookup(pid_t pid, uint64_t since_us, unsigned wait_ms,
			  char *name, size_t cap);

#endif
