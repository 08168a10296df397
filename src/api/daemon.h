/*
 * The daemon's core: the host's VMs as objects in this process, their
 * lifecycle state machine, the inventory behind them, events and tasks.
 * The REST layer (rest.c) is a thin HTTP/JSON mapping over these calls
 * (the API: docs/api.yaml; the model: docs/daemon.md).
 *
 * Every operation returns 0 or a negative errno with err filled; the REST
 * layer maps them to statuses (daemon_http_status): -EINVAL 400 (bad
 * input: the message names the field), -EACCES 401, -EPERM 403, -ENOENT
 * 404, -EEXIST / -EBUSY / -EALREADY / -ENOSPC 409 (wrong state, duplicate,
 * resources), anything else 500.
 *
 * JSON results (*out) are new references the caller json_decref()s. A VM
 * is named in calls by its name or its decimal id ("web1" or "3").
 * actor says who asked, for the event log ("unix", "token:ci", "daemon").
 *
 * Threads: every function may be called from any thread at once. Calls on
 * one VM are serialized (a mutex per VM); calls on different VMs proceed in
 * parallel. Console callbacks run on the VM's vCPU or console threads.
 */
#ifndef SV_API_DAEMON_H
#define SV_API_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/grant.h"
#include "util/error.h"

struct daemon;
struct daemon_datastore_cfg;

struct daemon_config {
	const char *state_dir; /* inventory, certificates */
	unsigned pcpus;	       /* 0: all host CPUs */
	uint64_t mhz;	       /* nominal MHz per pCPU; 0: read the host */
	unsigned shutdown_timeout_s; /* default for shutdown (0: 120) */
	bool no_scheduler; /* harts run freely (benchmarks, debugging) */
	/* Every VM runs in its own worker process (issue 14) of this
	 * executable, worker_exe (NULL: vmproc_worker_exe(), the lean
	 * softvisor-vmx next to ours or our own); in_process: in the
	 * daemon's own process instead (debugging). */
	bool in_process;
	const char *worker_exe;
	/* --sandbox off: workers run without the sandbox (docs/security.md) */
	bool no_sandbox;
	bool inter_vm_sharing; /* the pool of frames shared across VMs */
	/* on_crash restart: at most restart_limit restarts of a VM within
	 * restart_window_s (0, 0: 3 in 60 s; --restart-limit N/S) */
	unsigned restart_limit, restart_window_s;
	/* memory the VMs may hold in total (issue 15, docs/memory.md);
	 * 0: host RAM minus a reserve */
	uint64_t mem_budget;
	/* datastores with a capacity for disk shares (daemon_io.h) */
	const struct daemon_datastore_cfg *datastores;
	unsigned n_datastores;
	/* --keep-vms[=S]: workers outlive the daemon (a crash, or
	 * daemon_close_leave_vms) and wait keep_vms_grace_s (0: 300) for a
	 * new one (docs/architecture.md, "Re-attaching workers") */
	bool keep_vms;
	unsigned keep_vms_grace_s;
};

/* Open the inventory, mark VMs that were running as crashed and start
 * those with autostart. */
/* Close, leaving the VMs running in their workers for the next daemon
 * (--keep-vms; without it the workers stop their VMs as the daemon goes). */
void daemon_close_leave_vms(struct daemon *d);
int daemon_open(const struct daemon_config *cfg, struct daemon **out,
		struct error *err);
/* Stop every VM (disks flushed), close the inventory. */
void daemon_close(struct daemon *d);

/* Map a daemon error to an HTTP status and a stable error code string
 * ("bad_request", "unauthorized", "forbidden", "not_found", "conflict",
 * "internal"). */
int daemon_http_status(int err, const char **code);

/* ---- VMs -------------------------------------------------------------- */

/* {"vms": [VM, ...]} (VM: see docs/api.yaml, schema Vm). */
int daemon_vm_list(struct daemon *d, json_t **out, struct error *err);
/* GET /v1/vms?view=summary (the web console's list page, docs/api.md):
 * per VM what the list shows and its CPU figures; the host's name and
 * CPU used (daemon_live.c). */
int daemon_vm_summary(struct daemon *d, json_t **out, struct error *err);
/* Create from a VM definition (JSON text); *out is the new VM. */
int daemon_vm_create(struct daemon *d, const char *actor, const char *body,
		     json_t **out, struct error *err);
/* POST /v1/vms (daemon_import.c). Without disks[].import_from it is
 * daemon_vm_create (*task false, *out the VM). With, each such disk is
 * made from its image and *out is a task (*task true; 202, docs/api.yaml
 * "Disks from an image"): ended already when every import is linked,
 * else running while the copies are made; the VM exists once it
 * succeeded. Bad input fails before the task, naming disks[N]. */
int daemon_vm_create_api(struct daemon *d, const char *actor, const char *body,
			 json_t **out, bool *task, struct error *err);
int daemon_vm_get(struct daemon *d, const char *vm, json_t **out,
		  struct error *err);
/* JSON merge patch (RFC 7396) of the definition. cpus, memory, boot,
 * devices only while not running/paused (-EBUSY); QoS and autostart at any
 * time (QoS applies to a running VM within one accounting window). */
int daemon_vm_patch(struct daemon *d, const char *actor, const char *vm,
		    const char *body, json_t **out, struct error *err);
/* Refused (-EBUSY) while running or paused. */
int daemon_vm_delete(struct daemon *d, const char *actor, const char *vm,
		     struct error *err);

enum daemon_action {
	DAEMON_START,
	DAEMON_STOP,
	DAEMON_SHUTDOWN, /* asynchronous: *out is a Task */
	DAEMON_PAUSE,
	DAEMON_RESUME,
	DAEMON_RESET,
	DAEMON_SUSPEND,	 /* save to a file and free the machine (issue 18) */
	DAEMON_MIGRATE,	 /* asynchronous: *out is a Task; body {"to", ...} */
	DAEMON_ANNOUNCE, /* the NICs announce themselves (docs/net.md) */
};
/* "start", "stop", ... -> action; -EINVAL if unknown. */
int daemon_action_parse(const char *s, enum daemon_action *out);
/* Run an action. body may be NULL or a JSON object of options
 * (shutdown: {"timeout_s": N}). *out: the VM after the action, or for
 * shutdown the Task (status 202). */
int daemon_vm_action(struct daemon *d, const char *actor, const char *vm,
		     enum daemon_action action, const char *body, json_t **out,
		     struct error *err);
/* How long VM's guest has run since its last resume, in ns (0: never
 * resumed, not there): the bookkeeping after a resume (state, event)
 * comes after the guest runs again, which a migration's downtime must
 * not count (the resume's Server-Timing header, rest.c). */
uint64_t daemon_vm_resumed_for_ns(struct daemon *d, const char *vm);
/* The destination of a live migration (docs/vm-state.md): create VM
 * def_json and restore it, paused, from the state rd reads (bytes, 0 at
 * the end, <0 on error); *out the VM. On failure nothing is kept. The
 * source then resumes it (DAEMON_RESUME). mirror: its disks are the new
 * images of a block mirror (daemon_mirror_prepare), which the stream's
 * disk-mirror sections may write; without it they are refused. */
int daemon_migrate_incoming(struct daemon *d, const char *actor,
			    const char *def_json, bool mirror,
			    long (*rd)(void *opaque, void *buf, size_t n),
			    void *opaque, json_t **out, struct error *err);
/* The destination's part of a block mirror (--copy-storage,
 * daemon_mirror.c): query is the incoming request's query string. With
 * copy_storage=1 each disk of *def_json gets a new empty image of the
 * size disk_sizes gives, in <state_dir>/disks, and *def_json (malloc'd)
 * is replaced by the definition pointing at them; *mi records them (NULL
 * without). Without, every image must be reachable at its path (-ENOENT
 * / -EPERM naming it). daemon_mirror_done ends it: ok keeps the images
 * (the VM lives here now), else they are removed; frees mi (NULL: no-op). */
struct daemon_mirror_in;
int daemon_mirror_prepare(struct daemon *d, const char *query, char **def_json,
			  struct daemon_mirror_in **mi, struct error *err);
void daemon_mirror_done(struct daemon_mirror_in *mi, bool ok);
/* Per-vCPU and per-VM scheduler figures (docs/api.yaml VmStats). */
int daemon_vm_stats(struct daemon *d, const char *vm, json_t **out,
		    struct error *err);

/* ---- console ------------------------------------------------------------ */

struct daemon_console;

struct daemon_console_ops {
	/* Guest output (the scrollback first, on attach). Must not block for
	 * long: a slow viewer may lose output, never stall the guest. */
	void (*output)(void *opaque, const uint8_t *buf, size_t len);
	/* The VM stopped (the stream ends); no output follows. */
	void (*closed)(void *opaque);
	void *opaque;
};

/* Attach a viewer to a running or paused VM's console; writer = true asks
 * for the one writer role (-EBUSY if taken). */
int daemon_console_attach(struct daemon *d, const char *vm, bool writer,
			  const struct daemon_console_ops *ops,
			  struct daemon_console **out, struct error *err);
/* Type into the console (writer only; otherwise -EPERM). */
int daemon_console_input(struct daemon_console *c, const uint8_t *buf,
			 size_t len);
/* Detach; no callback runs after it returns. */
void daemon_console_detach(struct daemon_console *c);

/* ---- host, events, tasks, tokens ---------------------------------------- */

/* Host capacity and usage (docs/api.yaml Host). */
int daemon_host_info(struct daemon *d, json_t **out, struct error *err);
/* Change host settings at run time: {"memory_budget": BYTES} (JSON
 * object; docs/api.yaml HostPatch). *out is the Host. */
int daemon_host_patch(struct daemon *d, const char *actor, const char *body,
		      json_t **out, struct error *err);
/* Scheduler figures of the host and each running VM (HostStats). */
int daemon_host_stats(struct daemon *d, json_t **out, struct error *err);
/* Per-disk figures of the last period and the datastores' shares
 * (daemon_io.h; docs/api.yaml HostDisks). */
int daemon_host_disks(struct daemon *d, json_t **out, struct error *err);
/* The host and every VM as a metrics snapshot (api/metrics.h) for
 * GET /metrics: one consistent view taken under the registry lock.
 * s->vms is malloc'd: release with daemon_metrics_free. The API request
 * counts (s->api) are the REST layer's to fill. */
struct metrics_snapshot;
int daemon_metrics(struct daemon *d, struct metrics_snapshot *s,
		   struct error *err);
void daemon_metrics_free(struct metrics_snapshot *s);
/* {"events": [...]}: vm NULL for all; after_id to page; limit 0 = 100. */
int daemon_event_list(struct daemon *d, const char *vm, int64_t after_id,
		      unsigned limit, json_t **out, struct error *err);
/* The bus every recorded event is published to (event_bus.h), for live
 * streams; NULL where there is none (a test's fake daemon). */
struct event_bus;
struct event_bus *daemon_event_bus(struct daemon *d);
/* {"tasks": [...]} and one Task. */
int daemon_task_list(struct daemon *d, json_t **out, struct error *err);
int daemon_task_get(struct daemon *d, int64_t id, json_t **out,
		    struct error *err);
/* A token to create: its name, what it may do, when it expires (ms since
 * the epoch; 0: never). */
struct daemon_token_spec {
	const char *name;
	struct grant grant;
	int64_t expires_ms;
};
/* {"id", "name", "secret", "role", "vms", "expires_ms"}: the secret is
 * shown this once. */
int daemon_token_create(struct daemon *d, const char *actor,
			const struct daemon_token_spec *spec, json_t **out,
			struct error *err);
int daemon_token_list(struct daemon *d, json_t **out, struct error *err);
int daemon_token_revoke(struct daemon *d, const char *actor, const char *name,
			struct error *err);
/* Check a bearer secret; actor receives "token:NAME" and *grant (may be
 * NULL) what the token may do. -EACCES if bad, revoked or expired. */
int daemon_token_verify(struct daemon *d, const char *secret, char *actor,
			size_t actor_size, struct grant *grant,
			struct error *err);

/* ---- audit log (daemon_audit.c; docs/api.md "Audit log") ---------------- */

/* One API call that changed (or tried to change) something. */
struct daemon_audit_record {
	const char *principal; /* "token:NAME", "local", "unauthenticated" */
	int64_t token_id;      /* the token's id; 0: none */
	int64_t uid;	       /* unix socket peer's uid; -1: unknown/TLS */
	const char *source;    /* "unix" or the TLS client's "ADDR:PORT" */
	const char *action;    /* "vm.start", "token.create", ... */
	const char *target;    /* VM or token name; NULL or "": none */
	int status;	       /* HTTP status of the reply */
};
/* Append r to the audit log (the inventory). The reply is already sent:
 * a failure to write is logged as an error, not returned. Never pass a
 * secret in any field. */
void daemon_audit(struct daemon *d, const struct daemon_audit_record *r);
/* {"audit": [Audit...]} oldest first: the newest limit (0 = 100, at most
 * 10000) records at or after since_ms (ms since the epoch; 0: all) about
 * VM vm (NULL: all). */
int daemon_audit_list(struct daemon *d, int64_t since_ms, const char *vm,
		      unsigned limit, json_t **out, struct error *err);
/* The name of VM ref (name or decimal id) into name; -ENOENT if none. */
int daemon_vm_name(struct daemon *d, const char *ref, char *name, size_t size);

#endif
