/*
 * The record a daemon keeps of each VM worker it started with a
 * rendezvous socket (issue 14, docs/architecture.md, "Re-attaching
 * workers after a daemon restart"): STATE/run/vm-ID.worker, next to the
 * socket STATE/run/vm-ID.sock the worker listens on. A new daemon reads
 * it to find the worker again and to check that the process it reaches
 * is that worker (pid and the pid's start time, so a reused pid is not
 * mistaken for it), of that VM and run.
 *
 * Format: text, one "key value" per line, every key exactly once:
 *
 *   softvisor-worker-record 1      first line, the format's version
 *   vm_id 3                        the inventory's id (1..2^53)
 *   vm_name web1                   [A-Za-z0-9._-], 1..63 bytes
 *   gen 2                          the run's generation (1..2^32-1)
 *   pid 12345                      the worker (2..4194304)
 *   pid_start 987654               /proc/PID/stat field 22 (clock ticks)
 *   proto 1                        vmproto's version it speaks
 *
 * The file is written by the daemon (trusted) but parsing is strict all
 * the same: anything else is an error naming the line, never a guess.
 *
 * Threads: no state; any thread.
 */
#ifndef SV_VMM_WORKER_RECORD_H
#define SV_VMM_WORKER_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

#define WORKER_RECORD_VERSION 1
#define WORKER_RECORD_MAX     1024 /* bytes of a record file */

struct worker_record {
	int64_t vm_id;
	char vm_name[64];
	uint32_t gen;
	pid_t pid;
	uint64_t pid_start;
	uint32_t proto;
};

/* Text of r into buf (cap bytes): its length, or -ENOSPC / -EINVAL (a
 * field out of range) with err. */
int worker_record_format(const struct worker_record *r, char *buf, size_t cap,
			 struct error *err);
/* Parse len bytes of text into *out; 0 or -EINVAL with err naming the
 * line and what was wrong. */
int worker_record_parse(const char *text, size_t len, struct worker_record *out,
			struct error *err);
/* Write r to path atomically (a temporary file renamed over it, mode
 * 0600, fsynced). 0 or -errno with err. */
int worker_record_write(const char *path, const struct worker_record *r,
			struct error *err);
/* Read and parse path. 0, -ENOENT, -EINVAL (bad content), other -errno;
 * err set. */
int worker_record_read(const char *path, struct worker_record *out,
		       struct error *err);
/* The start time of process pid (/proc/PID/stat field 22). 0, or -ESRCH
 * when there is no such process (or only its zombie), -EIO unreadable. */
int worker_record_pid_start(pid_t pid, uint64_t *out);

#endif
