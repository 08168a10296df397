/*
 * VM control channel in the style of QEMU's QMP (docs/qmp.md): a listening
 * unix stream socket; every line a client sends is one JSON object
 * ({"execute": "balloon", "arguments": {"value": 1073741824}}), every line
 * it receives is one JSON object: the greeting {"QMP": {...}}, a reply
 * {"return": ...} / {"error": {"class": ..., "desc": ...}}, or an event
 * {"event": ..., "data": ..., "timestamp": {...}}.
 *
 * The channel knows nothing about the board: it calls into the VM through
 * struct qmp_ops, which the board fills. Malformed input, unknown commands
 * and bad arguments get an error reply; nothing a client sends can crash
 * the host or stall the VM (replies are written with a send timeout and a
 * client that does not read is dropped).
 *
 * Threads: one thread per channel accepts clients, reads commands and runs
 * the qmp_ops callbacks, one command at a time. qmp_event() may be called
 * from any thread (also from a callback). qmp_open/qmp_close from the owner
 * only; qmp_close joins the thread, so no callback runs after it returns.
 * A callback must not call qmp_close() (quit: post the request instead).
 */
#ifndef SV_MACHINE_QMP_H
#define SV_MACHINE_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define QMP_MAX_CLIENTS 8
#define QMP_MAX_LINE	(64 * 1024) /* longer lines get an error reply */

struct qmp_spec {
	char path[108]; /* unix socket path (sun_path limit) */
};

/* Parse "unix:PATH" (QEMU's ",server", ",nowait", ",server=on",
 * ",wait=off" suffixes are accepted and ignored). */
int qmp_parse(const char *s, struct qmp_spec *spec, struct error *err);

/* Collects device statistics for query-stats: device name -> object of
 * counters. Filled by the get_stats callback. */
struct qmp_stats;

/* Set counter key of device dev (created on first use). */
void qmp_stats_u64(struct qmp_stats *st, const char *dev, const char *key,
		   uint64_t val);
/* Set a string member key of device dev. */
void qmp_stats_str(struct qmp_stats *st, const char *dev, const char *key,
		   const char *val);

struct qmp_ops {
	/* "running", "paused", "shutdown", ... (QEMU's RunState names).
	 * NULL: always "running". */
	const char *(*query_status)(void *opaque);
	/* Ask the balloon to leave the guest `bytes` of memory. 0, -ENODEV
	 * if the VM has no balloon, or another negative errno. */
	int (*set_balloon_target)(void *opaque, uint64_t bytes);
	/* The guest's memory size now (RAM minus balloon): 0 or -ENODEV. */
	int (*get_balloon)(void *opaque, uint64_t *actual_bytes);
	/* Fill st with every device's counters. May be NULL. */
	void (*get_stats)(void *opaque, struct qmp_stats *st);
	/* Stop the VM (after the reply was sent). Must not block on the
	 * channel (no qmp_close here). */
	void (*quit)(void *opaque);
	/* Optional (NULL: command not available): pause / resume vCPUs. */
	int (*stop)(void *opaque);
	int (*cont)(void *opaque);
	/* Optional: system_powerdown, press the guest's power button
	 * (docs/shutdown.md). 0, -ENODEV if the VM has none, or another
	 * negative errno. On success the channel sends a POWERDOWN event
	 * after the reply. */
	int (*system_powerdown)(void *opaque);
	/* Optional: migrate to "file:PATH" (docs/vm-state.md): save the
	 * whole VM to path and leave it paused (QEMU's postmigrate; `cont`
	 * continues it, `quit` ends it). Runs on the channel's thread until
	 * the file is complete. 0 or -errno with msg (msg_len bytes) set. */
	int (*migrate_file)(void *opaque, const char *path, char *msg,
			    size_t msg_len);
	/* Optional: blockdev-snapshot-sync, an external snapshot of disk
	 * device ("blk0", ...) into the new qcow2 overlay file (created
	 * here). 0 or -errno with msg set. */
	int (*snapshot_external)(void *opaque, const char *device,
				 const char *file, char *msg, size_t msg_len);
	/* Optional: announce-self, every NIC announces itself (docs/net.md):
	 * rounds, then the intervals in ms as QEMU's arguments. 0 or -errno
	 * with msg set (-ENODEV: no NIC, -EINVAL: out of range). */
	int (*announce)(void *opaque, unsigned rounds, unsigned initial_ms,
			unsigned max_ms, unsigned step_ms, char *msg,
			size_t msg_len);
};

struct qmp_opts {
	const char *version; /* "0.1.0": shown in the greeting */
};

struct qmp;

/* Listen on spec->path (a stale socket file is replaced; a live one or a
 * non-socket file is an error) and start the channel thread. opts may be
 * NULL. */
struct qmp *qmp_open(const struct qmp_spec *spec, const struct qmp_ops *ops,
		     void *opaque, const struct qmp_opts *opts,
		     struct error *err);
/* Stop the thread, close the clients, unlink the socket. NULL: no-op. */
void qmp_close(struct qmp *q);
/* Serve an already connected stream socket as one more client (the
 * channel owns fd from now on; it gets the greeting). 0 or -errno. */
int qmp_attach_fd(struct qmp *q, int fd);
/* Send an event to every client past capabilities negotiation. data_json
 * is a JSON object text or NULL. Any thread. */
void qmp_event(struct qmp *q, const char *name, const char *data_json);

/* Handle one input line of a client (tests, fuzzing; the thread uses it):
 * returns the reply line (malloc'd, no newline) or NULL for a blank line.
 * *negotiated is the client's capabilities state (in/out). */
char *qmp_handle_line(struct qmp *q, bool *negotiated, const char *line,
		      size_t len);

#endif
