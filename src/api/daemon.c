/*
 * The daemon's core: VM records over the inventory, the lifecycle state
 * machine, events, tasks and tokens (docs/daemon.md).
 *
 * Locks, outermost first: a VM record's op_lock (one API call on that VM at
 * a time), then d->lock (the registry, tasks, the record's run fields). The
 * machine's ended callback takes only d->lock and hands the rest to the
 * reaper thread, which takes op_lock like an API call: an API call that
 * waits for its machine to end (stop) can therefore never deadlock with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/daemon_switch.h"
#include "api/daemon.h"
#include "api/daemon_impl.h"
#include "api/daemon_snapshot.h"
#include "api/daemon_reattach.h"
#include "api/daemon_mem.h"
#include "api/daemon_io.h"
#include "api/event_bus.h"
#include "api/inventory.h"
#include "vmm/vmdef.h"
#include "vmm/vmproc.h"
#include "util/clock.h"
#include "util/log.h"

#define LOG "daemon"

#define TASKS_KEPT 256

/* ---- small helpers ---------------------------------------------------------- */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int daemon_http_status(int err, const char **code)
{
	const char *c;
	int st;
	switch (err) {
	case -EINVAL: st = 400, c = "bad_request"; break;
	case -EACCES: st = 401, c = "unauthorized"; break;
	case -EPERM: st = 403, c = "forbidden"; break;
	case -ENOENT: st = 404, c = "not_found"; break;
	case -EEXIST:
	case -EBUSY:
	case -EALREADY:
	case -ENOSPC: st = 409, c = "conflict"; break;
	case -E2BIG: st = 413, c = "payload_too_large"; break;
	default: st = 500, c = "internal"; break;
	}
	if (code)
		*code = c;
	return st;
}

static void event(struct daemon *d, const char *vm, const char *actor,
		  const char *action, int r, const struct error *err)
{
	struct error e2 = { 0 };
	const char *result = r == 0 ? "ok" : "failed";
	if (inventory_event_add(d->inv, vm, actor, action, result,
				r ? err->msg : NULL, &e2))
		log_warn(LOG, "event not recorded: %s", e2.msg);
}

/* ---- the registry ------------------------------------------------------------ */

static struct dvm *dvm_new(int64_t id, const struct vmdef *def,
			   enum vm_state st, int64_t created, int64_t updated)
{
	struct dvm *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->id = id;
	v->def = *def;
	v->state = st;
	v->created_ms = created;
	v->updated_ms = updated;
	v->refs = 1; /* the registry's */
	pthread_mutex_init(&v->op_lock, NULL);
	pthread_cond_init(&v->ended_cond, NULL);
	return v;
}

static void dvm_put_locked(struct daemon *d, struct dvm *v)
{
	(void)d;
	if (--v->refs)
		return;
	pthread_mutex_destroy(&v->op_lock);
	pthread_cond_destroy(&v->ended_cond);
	free(v);
}

void dvm_put(struct daemon *d, struct dvm *v)
{
	pthread_mutex_lock(&d->lock);
	dvm_put_locked(d, v);
	pthread_mutex_unlock(&d->lock);
}

/* Find a VM by name or decimal id and take a reference. */
struct dvm *dvm_find(struct daemon *d, const char *ref, struct error *err)
{
	char *end;
	long long id = strtoll(ref, &end, 10);
	bool by_id = *ref && !*end;

	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next) {
		if (v->deleted)
			continue;
		if ((by_id && v->id == id) || !strcasecmp(v->def.name, ref)) {
			v->refs++;
			pthread_mutex_unlock(&d->lock);
			return v;
		}
	}
	pthread_mutex_unlock(&d->lock);
	error_set(err, ENOENT, "no VM named '%s'", ref);
	return NULL;
}

struct dvm *dvm_first_running(struct daemon *d)
{
	struct dvm *v = NULL;
	pthread_mutex_lock(&d->lock);
	for (struct dvm *x = d->vms; x && !v; x = x->next)
		if (x->vm) {
			v = x;
			v->refs++;
		}
	pthread_mutex_unlock(&d->lock);
	return v;
}

struct dvm *dvm_op_begin(struct daemon *d, const char *ref, struct error *err)
{
	struct dvm *v = dvm_find(d, ref, err);
	if (!v)
		return NULL;
	pthread_mutex_lock(&v->op_lock);
	if (v->deleted) { /* deleted while we waited for it */
		pthread_mutex_unlock(&v->op_lock);
		dvm_put(d, v);
		error_set(err, ENOENT, "no VM named '%s'", ref);
		return NULL;
	}
	return v;
}

void dvm_op_end(struct daemon *d, struct dvm *v)
{
	pthread_mutex_unlock(&v->op_lock);
	dvm_put(d, v);
}

int dvm_get_json(struct daemon *d, const char *ref,
		 json_t *(*fn)(struct daemon *d, struct dvm *v), json_t **out,
		 struct error *err)
{
	struct dvm *v = dvm_find(d, ref, err);
	if (!v)
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	*out = fn(d, v);
	pthread_mutex_unlock(&d->lock);
	dvm_put(d, v);
	return 0;
}

static double uptime_s(const struct dvm *v)
{
	if (v->state != VM_STATE_RUNNING && v->state != VM_STATE_PAUSED)
		return 0;
	return (double)(clock_monotonic_ns() - v->started_ns) / 1e9;
}

/* The Vm object of the API (caller holds op_lock or d->lock). */
static json_t *vm_json(const struct dvm *v)
{
	json_t *def = vmdef_to_json_value(&v->def);
	json_t *o = json_pack(
		"{s:I, s:s, s:s, s:i, s:I, s:f, s:b, s:I, s:I, s:o}", "id",
		(json_int_t)v->id, "name", v->def.name, "state",
		vm_state_name(v->state), "cpus", (int)v->def.cpus, "memory",
		(json_int_t)v->def.memory, "uptime_s", uptime_s(v), "autostart",
		v->def.autostart, "created_ms", (json_int_t)v->created_ms,
		"updated_ms", (json_int_t)v->updated_ms, "definition",
		def ? def : json_object());
	if (o && v->reason[0]) /* why it is in its state (daemon_crash.c) */
		json_object_set_new(o, "state_reason", json_string(v->reason));
	/* the VM's worker process (issue 14); 0: none or in-process */
	if (o)
		json_object_set_new(
			o, "worker_pid",
			json_integer(v->vm ? vm_worker_pid(v->vm) : 0));
	if (o) /* issue 16: a template cannot start */
		json_object_set_new(o, "template",
				    json_boolean(v->is_template));
	return o;
}

static int set_state(struct daemon *d, struct dvm *v, enum vm_state st,
		     struct error *err)
{
	int r = inventory_vm_set_state(d->inv, v->id, st, err);
	if (r)
		return r;
	pthread_mutex_lock(&d->lock);
	v->state = st;
	v->updated_ms = wall_ms();
	if (st == VM_STATE_RUNNING) /* started or resumed: no reason left */
		v->reason[0] = '\0';
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* ---- machines ending --------------------------------------------------------- */

/* The machine of v (generation gen) ended: record it and release it.
 * Caller holds v->op_lock. No-op (-1) if that run was already finalized;
 * else how it ended (enum virt_end). */
static int finalize(struct daemon *d, struct dvm *v, unsigned gen,
		    const char *actor)
{
	struct error err = { 0 };
	pthread_mutex_lock(&d->lock);
	if (!v->vm || v->gen != gen) {
		pthread_mutex_unlock(&d->lock);
		return -1;
	}
	struct vm *vm = v->vm;
	struct dvm_sched_slot slot = v->sched;
	pthread_mutex_unlock(&d->lock);

	int code = 0;
	enum virt_end why = vm_wait(vm, &code);
	char cause[128] = "";
	if (vm_end_cause(vm))
		snprintf(cause, sizeof(cause), "%s", vm_end_cause(vm));

	/* readers under d->lock (the API's VM object, statistics, metrics)
	 * must not reach the machine or its scheduler handle once they are
	 * being freed */
	pthread_mutex_lock(&d->lock);
	v->vm = NULL;
	memset(&v->sched, 0, sizeof(v->sched));
	pthread_mutex_unlock(&d->lock);
	vm_destroy(vm);
	daemon_reattach_forget(d, v->id); /* its record, if it had one */
	daemon_sched_detach(d, &slot);
	daemon_mem_detach(d, v);

	pthread_mutex_lock(&d->lock);
	pthread_cond_broadcast(&v->ended_cond);
	pthread_mutex_unlock(&d->lock);

	/* on_crash destroy, reasons (daemon_crash.c) */
	enum vm_state st = daemon_end_state(d, v, why, cause[0] != 0);
	if (v->suspending) /* the suspend records its own event */
		st = VM_STATE_SUSPENDED;
	if (set_state(d, v, st, &err))
		log_error(LOG, "%s: %s", v->def.name, err.msg);
	if (v->suspending)
		return -1; /* no on_crash for it */
	const char *action = why == VIRT_END_POWEROFF ? "poweroff"
			     : why == VIRT_END_CRASHED ||
					     why == VIRT_END_PANICKED
				     ? "crash"
				     : "stopped";
	char msg[160];
	if (cause[0]) /* its worker process died */
		snprintf(msg, sizeof(msg), "%s", cause);
	else if (why == VIRT_END_PANICKED)
		snprintf(msg, sizeof(msg),
			 "the guest panicked (on_panic stop); exit code %d",
			 code);
	else
		snprintf(msg, sizeof(msg), "exit code %d", code);
	bool bad = why == VIRT_END_CRASHED || why == VIRT_END_PANICKED;
	if (inventory_event_add(d->inv, v->def.name, actor, action,
				bad ? "crashed" : "ok",
				code || cause[0] || bad ? msg : NULL, &err))
		log_warn(LOG, "event not recorded: %s", err.msg);
	log_info(LOG, "%s: %s (%s)", v->def.name, action, msg);
	return (int)why;
}

static void machine_ended(void *opaque, struct vm *vm, enum virt_end why,
			  int code)
{
	struct dvm *v = opaque;
	struct daemon *d = v->d;
	(void)vm, (void)why, (void)code;

	pthread_mutex_lock(&d->lock);
	v->refs++;
	v->reap_gen = v->gen;
	v->reap_pending = true;
	pthread_cond_broadcast(&d->reap_cond);
	pthread_cond_broadcast(&v->ended_cond);
	pthread_mutex_unlock(&d->lock);
}

void dvm_machine_ended(void *opaque, struct vm *vm, enum virt_end why, int code)
{
	machine_ended(opaque, vm, why, code);
}

static void *reaper_thread(void *arg)
{
	struct daemon *d = arg;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct dvm *v = NULL;
		for (struct dvm *x = d->vms; x; x = x->next)
			if (x->reap_pending || x->panic_pending) {
				v = x;
				break;
			}
		if (!v) {
			if (d->closing)
				break;
			pthread_cond_wait(&d->reap_cond, &d->lock);
			continue;
		}
		if (v->panic_pending) { /* before the end it may lead to */
			daemon_reap_panic(d, v);
			continue;
		}
		v->reap_pending = false;
		unsigned gen = v->reap_gen;
		pthread_mutex_unlock(&d->lock);
		pthread_mutex_lock(&v->op_lock);
		if (finalize(d, v, gen, "guest") == VIRT_END_CRASHED)
			daemon_on_crash(d, v); /* its on_crash policy */
		pthread_mutex_unlock(&v->op_lock);
		pthread_mutex_lock(&d->lock);
		dvm_put_locked(d, v);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* ---- actions ----------------------------------------------------------------- */

/* A new, empty swap file for v in the state directory's run/, already
 * unlinked; -1 (logged) if it cannot be made. */
static int open_swap_file(struct daemon *d, struct dvm *v)
{
	char path[4096];
	if (daemon_run_path(d, 0, NULL, path, sizeof(path)))
		return -1;
	(void)mkdir(path, 0700); /* or it exists: the open says */
	if (daemon_run_path(d, v->id, "swap", path, sizeof(path)))
		return -1;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      0600);
	if (fd < 0) {
		log_warn(LOG,
			 "VM %s: no swap file (%s: %s): memory over its "
			 "target is only compressed",
			 v->run_def.name, path, strerror(errno));
		return -1;
	}
	(void)unlink(path);
	return fd;
}

static int do_start(struct daemon *d, struct dvm *v, struct error *err)
{
	int r = vm_lifecycle_check(v->state, VM_OP_START, v->def.name, err);
	if (!r) /* a template never starts (daemon_template.c) */
		r = daemon_template_check_start(d, v, err);
	if (r)
		return r;
	/* the board borrows the definition's strings: run a private copy */
	v->run_def = v->def;
	r = vmdef_to_virt_config(&v->run_def, &v->board, err);
	if (r)
		return r;
	v->board.name = v->run_def.name;
	v->board.power_button = virt_virtio_count(&v->board) < VIRT_MAX_VIRTIO;
	struct dvm_sched_slot slot = { 0 };
	r = daemon_mem_attach(d, v, &v->run_def, err);
	if (!r)
		r = daemon_sched_attach(d, &v->run_def, &slot, err);
	if (r) {
		daemon_mem_detach(d, v);
		return r;
	}
	struct vm_params p = {
		.board = &v->board,
		.gate = slot.gate_valid ? &slot.gate : NULL,
		.ops = { machine_ended, v, daemon_machine_panicked },
	};
	char *json = NULL;
	if (!d->cfg.in_process) { /* a worker process per VM (issue 14) */
		json = vmdef_to_json(&v->run_def);
		p.worker_exe = d->cfg.worker_exe;
		p.def_json = json ? json : "";
		p.n_vcpus = v->run_def.cpus;
		p.sched = slot.handle;
	}
	/* the VM's swap file (docs/memory.md, "Swap file"): scratch, so
	 * unlinked at once (a crash leaves nothing behind); without one the
	 * memory policy can only compress */
	int swap_fd = open_swap_file(d, v);
	if (swap_fd >= 0) {
		p.swap = v->board.mem_swap_by_fd = true;
		p.swap_fd = v->board.mem_swap_fd = swap_fd;
	}
	if (v->restoring) { /* daemon_vm_restore, daemon_migrate.c */
		p.restore = v->board.restore_by_fd = true;
		p.restore_fd = v->board.restore_fd = v->restore_fd;
		p.start_paused = v->board.start_paused = v->start_paused;
		p.start_held = v->board.start_held = v->start_held;
		p.mirror_in = v->board.mirror_in = v->mirror_in;
	}
	pthread_mutex_lock(&d->lock);
	v->gen++;
	v->sched = slot;
	p.gate = slot.gate_valid ? &v->sched.gate : NULL;
	pthread_mutex_unlock(&d->lock);
	struct vm *vm = vm_start(&p, err);
	free(json);
	if (swap_fd >= 0) /* the machine holds its own duplicate now */
		close(swap_fd);
	v->board.mem_swap_by_fd = false;
	if (!vm) {
		daemon_sched_detach(d, &slot);
		daemon_mem_detach(d, v);
		pthread_mutex_lock(&d->lock);
		memset(&v->sched, 0, sizeof(v->sched));
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	pthread_mutex_lock(&d->lock);
	v->vm = vm;
	v->started_ns = clock_monotonic_ns();
	pthread_mutex_unlock(&d->lock);
	/* an incoming migration's copy waits paused for the source's
	 * resume: one state write, not running then paused */
	bool paused = v->restoring && v->start_paused;
	r = set_state(d, v, paused ? VM_STATE_PAUSED : VM_STATE_RUNNING, err);
	if (r) {
		vm_stop(vm, 0);
		finalize(d, v, v->gen, "daemon");
	}
	struct error re = { 0 }; /* --keep-vms: outlive the daemon */
	if (!r && daemon_reattach_give(d, v, &re))
		log_warn(LOG, "%s: cannot be re-attached after a restart: %s",
			 v->def.name, re.msg);
	return r;
}

int dvm_start(struct daemon *d, struct dvm *v, struct error *err)
{
	return do_start(d, v, err);
}

int dvm_set_state(struct daemon *d, struct dvm *v, enum vm_state st,
		  struct error *err)
{
	return set_state(d, v, st, err);
}

void dvm_finalize(struct daemon *d, struct dvm *v, unsigned gen,
		  const char *actor)
{
	finalize(d, v, gen, actor);
}

static int do_stop(struct daemon *d, struct dvm *v, const char *actor,
		   struct error *err)
{
	int r = vm_lifecycle_check(v->state, VM_OP_STOP, v->def.name, err);
	if (r)
		return r;
	if (v->state == VM_STATE_SUSPENDED) /* discard the saved state */
		return daemon_vm_discard_state(d, v, err);
	unsigned gen = v->gen;
	vm_stop(v->vm, 0);
	finalize(d, v, gen, actor);
	return 0;
}

static int do_pause(struct daemon *d, struct dvm *v, bool pause,
		    struct error *err)
{
	enum vm_op op = pause ? VM_OP_PAUSE : VM_OP_RESUME;
	int r = vm_lifecycle_check(v->state, op, v->def.name, err);
	if (r)
		return r;
	r = pause ? vm_pause(v->vm) : vm_resume(v->vm);
	if (r && r != -EINVAL) /* its disks (a migration's hand-over) */
		return error_set(err, -r, "%s: cannot resume: %s (see the log)",
				 v->def.name, strerror(-r));
	if (r)
		return error_set(err, -r, "%s: the machine is not running",
				 v->def.name);
	if (!pause) {
		pthread_mutex_lock(&d->lock);
		v->resumed_ns = clock_monotonic_ns();
		pthread_mutex_unlock(&d->lock);
	}
	return set_state(d, v, vm_lifecycle_next(v->state, op), err);
}

uint64_t daemon_vm_resumed_for_ns(struct daemon *d, const char *vm)
{
	struct error e = { 0 };
	struct dvm *v = dvm_find(d, vm, &e);
	uint64_t ns = 0;

	if (!v)
		return 0;
	pthread_mutex_lock(&d->lock);
	if (v->vm && v->resumed_ns)
		ns = clock_monotonic_ns() - v->resumed_ns;
	pthread_mutex_unlock(&d->lock);
	dvm_put(d, v);
	return ns;
}

/* The NICs announce themselves (QEMU's announce-self): a running or
 * paused machine only. */
static int do_announce(struct dvm *v, struct error *err)
{
	if (!v->vm ||
	    (v->state != VM_STATE_RUNNING && v->state != VM_STATE_PAUSED))
		return error_set(err, EBUSY,
				 "%s is %s: announce needs it "
				 "running or paused",
				 v->def.name, vm_state_name(v->state));
	int r = vm_announce(v->vm);
	if (r == -ENODEV)
		return error_set(err, ENODEV, "%s has no network card",
				 v->def.name);
	if (r)
		return error_set(err, -r, "%s: announce: %s", v->def.name,
				 strerror(-r));
	return 0;
}

int daemon_action_parse(const char *s, enum daemon_action *out)
{
	static const char *const names[] = {
		[DAEMON_START] = "start",	[DAEMON_STOP] = "stop",
		[DAEMON_SHUTDOWN] = "shutdown", [DAEMON_PAUSE] = "pause",
		[DAEMON_RESUME] = "resume",	[DAEMON_RESET] = "reset",
		[DAEMON_SUSPEND] = "suspend",	[DAEMON_MIGRATE] = "migrate",
		[DAEMON_ANNOUNCE] = "announce",
	};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum daemon_action)i;
			return 0;
		}
	return -EINVAL;
}

static const char *action_name(enum daemon_action a)
{
	switch (a) {
	case DAEMON_START: return "start";
	case DAEMON_STOP: return "stop";
	case DAEMON_SHUTDOWN: return "shutdown";
	case DAEMON_PAUSE: return "pause";
	case DAEMON_RESUME: return "resume";
	case DAEMON_SUSPEND: return "suspend";
	case DAEMON_MIGRATE: return "migrate";
	case DAEMON_ANNOUNCE: return "announce";
	default: return "reset";
	}
}

int daemon_vm_action(struct daemon *d, const char *actor, const char *ref,
		     enum daemon_action action, const char *body, json_t **out,
		     struct error *err)
{
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	int r = 0;
	bool suspended = v->state == VM_STATE_SUSPENDED;
	switch (action) {
	case DAEMON_START:
		r = suspended ? daemon_vm_restore(d, v, err)
			      : do_start(d, v, err);
		break;
	case DAEMON_STOP: r = do_stop(d, v, actor, err); break;
	case DAEMON_PAUSE: r = do_pause(d, v, true, err); break;
	case DAEMON_RESUME:
		r = suspended ? daemon_vm_restore(d, v, err)
			      : do_pause(d, v, false, err);
		break;
	case DAEMON_SUSPEND: r = daemon_vm_suspend(d, v, actor, err); break;
	case DAEMON_MIGRATE:
		r = daemon_vm_migrate(d, v, actor, body, out, err);
		break;
	case DAEMON_RESET:
		r = vm_lifecycle_check(v->state, VM_OP_RESET, v->def.name, err);
		if (!r)
			vm_reset(v->vm);
		break;
	case DAEMON_SHUTDOWN:
		r = daemon_shutdown_task(d, v, actor, body, out, err);
		break;
	case DAEMON_ANNOUNCE: r = do_announce(v, err); break;
	}
	if (!r && action != DAEMON_SHUTDOWN && action != DAEMON_MIGRATE)
		*out = vm_json(v);
	/* a migration records its outcome when it ends (daemon_migrate.c) */
	if (r || action != DAEMON_MIGRATE)
		event(d, v->def.name, actor, action_name(action), r, err);
	dvm_op_end(d, v);
	return r;
}

/* ---- VMs --------------------------------------------------------------------- */

int daemon_vm_list(struct daemon *d, json_t **out, struct error *err)
{
	(void)err;
	json_t *arr = json_array();
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next)
		if (!v->deleted)
			json_array_append_new(arr, vm_json(v));
	pthread_mutex_unlock(&d->lock);
	*out = json_pack("{s:o}", "vms", arr);
	return 0;
}

int daemon_check_no_import(const struct vmdef *def, const char *where,
			   struct error *err)
{
	int i = vmdef_import_disk(def);
	if (i < 0)
		return 0;
	return error_set(err, EINVAL,
			 "disks[%d].import_from: only for the disks of %s", i,
			 where);
}

static json_t *vm_json_of(struct daemon *d, struct dvm *v)
{
	(void)d;
	return vm_json(v);
}

int daemon_vm_get(struct daemon *d, const char *ref, json_t **out,
		  struct error *err)
{
	return dvm_get_json(d, ref, vm_json_of, out, err);
}

static void registry_remove(struct daemon *d, struct dvm *v)
{
	for (struct dvm **p = &d->vms; *p; p = &(*p)->next)
		if (*p == v) {
			*p = v->next;
			return;
		}
}

/* Insert in name order (the list is what GET /v1/vms shows). */
static void registry_add(struct daemon *d, struct dvm *v)
{
	struct dvm **p = &d->vms;
	while (*p && strcasecmp((*p)->def.name, v->def.name) < 0)
		p = &(*p)->next;
	v->next = *p;
	*p = v;
	v->d = d;
}

int daemon_vm_create(struct daemon *d, const char *actor, const char *body,
		     json_t **out, struct error *err)
{
	struct vmdef *def = calloc(1, sizeof(*def));
	if (!def)
		return error_set(err, ENOMEM, "out of memory");
	int64_t id;
	int r = vmdef_parse(body, def, err);
	if (!r)
		r = daemon_check_no_import(def, "a new VM (POST /v1/vms)", err);
	if (!r) {
		pthread_mutex_lock(&d->create_lock);
		r = inventory_vm_create(d->inv, def, &id, err);
		if (!r) {
			int64_t now = wall_ms();
			struct dvm *v = dvm_new(id, def, VM_STATE_DEFINED, now,
						now);
			if (!v) {
				r = error_set(err, ENOMEM, "out of memory");
			} else {
				pthread_mutex_lock(&d->lock);
				registry_add(d, v);
				*out = vm_json(v);
				pthread_mutex_unlock(&d->lock);
			}
		}
		pthread_mutex_unlock(&d->create_lock);
	}
	event(d, def->name[0] ? def->name : NULL, actor, "create", r, err);
	free(def);
	return r;
}

/* RFC 7396 JSON merge patch: target (owned) patched by patch (borrowed). */
static json_t *merge_patch(json_t *target, const json_t *patch)
{
	if (!json_is_object(patch)) {
		json_decref(target);
		return json_deep_copy(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
	}
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)patch, key, val)
	{
		if (json_is_null(val)) {
			json_object_del(target, key);
		} else {
			json_t *cur = json_object_get(target, key);
			json_object_set_new(
				target, key,
				merge_patch(cur ? json_incref(cur) : NULL,
					    val));
		}
	}
	return target;
}

/* What may change while the machine runs: QoS and autostart. A vmdef is
 * too big for a civetweb worker's stack: the copy lives on the heap. */
static bool only_live_fields_differ(const struct vmdef *a,
				    const struct vmdef *b)
{
	struct vmdef *x = malloc(sizeof(*x));
	if (!x)
		return false;
	*x = *a;
	x->cpu_shares = b->cpu_shares;
	x->cpu_reservation_mhz = b->cpu_reservation_mhz;
	x->cpu_limit_mhz = b->cpu_limit_mhz;
	x->cpu_affinity = b->cpu_affinity;
	x->mem_shares = b->mem_shares;
	x->mem_reservation = b->mem_reservation;
	x->mem_limit = b->mem_limit;
	x->autostart = b->autostart;
	x->on_crash = b->on_crash;
	bool eq = vmdef_equal(x, b);
	free(x);
	return eq;
}

int daemon_vm_patch(struct daemon *d, const char *actor, const char *ref,
		    const char *body, json_t **out, struct error *err)
{
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	struct vmdef *def = calloc(1, sizeof(*def));
	json_error_t jerr;
	json_t *patch = json_loads(body, JSON_REJECT_DUPLICATES, &jerr);
	int r = 0;

	if (!def) {
		r = error_set(err, ENOMEM, "out of memory");
	} else if (!patch) {
		r = error_set(err, EINVAL, "body: %s (line %d, column %d)",
			      jerr.text, jerr.line, jerr.column);
	} else if (!json_is_object(patch)) {
		r = error_set(err, EINVAL, "body: expected a JSON object");
	} else {
		json_t *merged = merge_patch(vmdef_to_json_value(&v->def),
					     patch);
		r = vmdef_from_json(merged, def, err);
		json_decref(merged);
	}
	if (!r) /* an image is made into a disk once, with its VM */
		r = daemon_check_no_import(def, "a new VM (POST /v1/vms)", err);
	bool live = v->state == VM_STATE_RUNNING || v->state == VM_STATE_PAUSED;
	/* a suspended VM continues on the machine it was saved from */
	if (!r && v->state == VM_STATE_SUSPENDED &&
	    !only_live_fields_differ(&v->def, def))
		r = error_set(err, EBUSY,
			      "%s is suspended: only qos and autostart can "
			      "change (resume it, or stop it to discard the "
			      "saved state)",
			      v->def.name);
	if (!r && live && !only_live_fields_differ(&v->def, def))
		r = error_set(err, EBUSY,
			      "%s is %s: only qos, autostart and on_crash can "
			      "change "
			      "while it runs (stop it to change the rest)",
			      v->def.name, vm_state_name(v->state));
	if (!r && live)
		r = daemon_sched_set_qos(d, v, def, err);
	if (!r && live)
		r = daemon_mem_set_qos(d, v, def, err);
	if (!r)
		r = inventory_vm_update(d->inv, v->id, def, err);
	if (!r) {
		pthread_mutex_lock(&d->lock);
		bool renamed = strcmp(v->def.name, def->name) != 0;
		v->def = *def;
		v->updated_ms = wall_ms();
		if (renamed) { /* keep the registry in name order */
			registry_remove(d, v);
			registry_add(d, v);
		}
		*out = vm_json(v);
		pthread_mutex_unlock(&d->lock);
	}
	event(d, v->def.name, actor, "edit", r, err);
	dvm_op_end(d, v);
	json_decref(patch);
	free(def);
	return r;
}

int daemon_vm_delete(struct daemon *d, const char *actor, const char *ref,
		     struct error *err)
{
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	int r = vm_lifecycle_check(v->state, VM_OP_DELETE, v->def.name, err);
	if (!r) /* not a template its linked clones use */
		r = daemon_template_check_delete(d, v, err);
	if (!r && v->state == VM_STATE_SUSPENDED)
		r = daemon_vm_discard_state(d, v, err);
	if (!r)
		r = inventory_vm_delete(d->inv, v->id, err);
	if (!r) /* its snapshots' memory states (the records went with it) */
		daemon_snapshot_files_remove(d, v->id);
	if (!r) {
		pthread_mutex_lock(&d->lock);
		v->deleted = true;
		registry_remove(d, v);
		dvm_put_locked(d, v); /* the registry's reference */
		pthread_mutex_unlock(&d->lock);
	}
	event(d, v->def.name, actor, "delete", r, err);
	dvm_op_end(d, v);
	return r;
}

/* ---- console ----------------------------------------------------------------- */

struct daemon_console {
	struct daemon *d;
	struct dvm *v;
	struct vm_viewer *viewer;
	struct daemon_console_ops ops;
};

static void con_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct daemon_console *c = opaque;
	c->ops.output(c->ops.opaque, buf, len);
}

static void con_closed(void *opaque)
{
	struct daemon_console *c = opaque;
	if (c->ops.closed)
		c->ops.closed(c->ops.opaque);
}

int daemon_console_attach(struct daemon *d, const char *ref, bool writer,
			  const struct daemon_console_ops *ops,
			  struct daemon_console **out, struct error *err)
{
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	struct daemon_console *c = calloc(1, sizeof(*c));
	int r = 0;
	if (!c) {
		r = error_set(err, ENOMEM, "out of memory");
	} else if (!v->vm) {
		r = error_set(err, EBUSY,
			      "%s is %s: its console exists "
			      "only while it runs",
			      v->def.name, vm_state_name(v->state));
	} else {
		c->d = d;
		c->v = v;
		c->ops = *ops;
		struct vm_viewer_ops vo = { con_output, con_closed, c };
		r = vm_console_attach(v->vm, writer, &vo, &c->viewer);
		if (r == -EBUSY)
			error_set(err, EBUSY,
				  "the console of %s already has a writer",
				  v->def.name);
		else if (r)
			error_set(err, -r, "%s: the machine ended",
				  v->def.name);
	}
	pthread_mutex_unlock(&v->op_lock); /* the viewer keeps its reference */
	if (r) {
		free(c);
		dvm_put(d, v);
		return r;
	}
	*out = c;
	return 0;
}

int daemon_console_input(struct daemon_console *c, const uint8_t *buf,
			 size_t len)
{
	int r = vm_console_input(c->viewer, buf, len);
	return r < 0 ? r : 0;
}

void daemon_console_detach(struct daemon_console *c)
{
	if (!c)
		return;
	vm_console_detach(c->viewer);
	dvm_put(c->d, c->v);
	free(c);
}

/* ---- events, tokens ---------------------------------------------------------- */

int daemon_event_list(struct daemon *d, const char *vm, int64_t after_id,
		      unsigned limit, json_t **out, struct error *err)
{
	struct inventory_event *ev;
	size_t n;
	int r = inventory_event_list(d->inv, vm && *vm ? vm : NULL, after_id,
				     limit ? limit : 100, &ev, &n, err);
	if (r)
		return r;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}",
				       "id", (json_int_t)ev[i].id, "time_ms",
				       (json_int_t)ev[i].time_ms, "vm",
				       ev[i].vm, "actor", ev[i].actor, "action",
				       ev[i].action, "result", ev[i].result,
				       "message", ev[i].message));
	free(ev);
	*out = json_pack("{s:o}", "events", arr);
	return 0;
}

struct event_bus *daemon_event_bus(struct daemon *d)
{
	return d->bus;
}

/* role, vms, expires_ms of a token's JSON. */
static void token_grant_json(json_t *o, const struct grant *g,
			     int64_t expires_ms)
{
	json_t *vms = json_array();
	for (unsigned i = 0; i < g->n_vms; i++)
		json_array_append_new(vms, json_string(g->vms[i]));
	json_object_set_new(o, "role", json_string(grant_role_name(g->role)));
	json_object_set_new(o, "vms", vms);
	json_object_set_new(o, "expires_ms", json_integer(expires_ms));
}

int daemon_token_create(struct daemon *d, const char *actor,
			const struct daemon_token_spec *spec, json_t **out,
			struct error *err)
{
	char secret[INVENTORY_SECRET_MAX];
	int64_t id;
	int r = inventory_token_create_grant(d->inv, spec->name, &spec->grant,
					     spec->expires_ms, secret, &id,
					     err);
	if (!r) {
		*out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id,
				 "name", spec->name, "secret", secret);
		token_grant_json(*out, &spec->grant, spec->expires_ms);
	}
	event(d, NULL, actor, "token-create", r, err);
	explicit_bzero(secret, sizeof(secret));
	return r;
}

int daemon_token_list(struct daemon *d, json_t **out, struct error *err)
{
	struct inventory_token *t;
	size_t n;
	int r = inventory_token_list(d->inv, &t, &n, err);
	if (r)
		return r;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:I, s:s, s:I, s:I}", "id",
				      (json_int_t)t[i].id, "name", t[i].name,
				      "created_ms", (json_int_t)t[i].created_ms,
				      "revoked_ms",
				      (json_int_t)t[i].revoked_ms);
		token_grant_json(o, &t[i].grant, t[i].expires_ms);
		json_array_append_new(arr, o);
	}
	free(t);
	*out = json_pack("{s:o}", "tokens", arr);
	return 0;
}

int daemon_token_revoke(struct daemon *d, const char *actor, const char *name,
			struct error *err)
{
	int r = inventory_token_revoke(d->inv, name, err);
	event(d, NULL, actor, "token-revoke", r, err);
	return r;
}

int daemon_token_verify(struct daemon *d, const char *secret, char *actor,
			size_t actor_size, struct grant *grant,
			struct error *err)
{
	struct inventory_token t;
	int r = inventory_token_verify(d->inv, secret, &t, err);
	if (!r) {
		snprintf(actor, actor_size, "token:%s", t.name);
		if (grant) {
			*grant = t.grant;
			grant->token_id = t.id;
		}
	}
	return r;
}

/* ---- open and close ---------------------------------------------------------- */

static int load_inventory(struct daemon *d, struct error *err)
{
	struct inventory_vm *vms;
	size_t n;
	int r = inventory_vm_list(d->inv, &vms, &n, err);
	if (r)
		return r;
	struct vmdef *def = calloc(1, sizeof(*def));
	for (size_t i = 0; def && i < n; i++) {
		struct error e = { 0 };
		if (vmdef_parse(vms[i].definition, def, &e)) {
			/* a definition this version cannot read: keep the
			 * record, say so, but do not guess */
			log_error(LOG, "inventory: VM %s: %s (skipped)",
				  vms[i].name, e.msg);
			continue;
		}
		struct dvm *v = dvm_new(vms[i].id, def, vms[i].state,
					vms[i].created_ms, vms[i].updated_ms);
		if (v)
			registry_add(d, v);
	}
	free(def);
	inventory_vm_list_free(vms, n);
	return 0;
}

/* Adopt the workers that outlived the previous daemon; mark the VMs
 * still recorded running or paused crashed (in the registry too). */
static int reattach_or_crash(struct daemon *d, struct error *err)
{
	int64_t *kept = NULL;
	size_t n_kept = 0;
	daemon_reattach_open(d, &kept, &n_kept);
	int r = inventory_mark_crashed_on_restart_except(d->inv, kept, n_kept,
							 err);
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; !r && v; v = v->next)
		if (!v->vm && (v->state == VM_STATE_RUNNING ||
			       v->state == VM_STATE_PAUSED))
			v->state = VM_STATE_CRASHED;
	pthread_mutex_unlock(&d->lock);
	free(kept);
	return r;
}

void daemon_close_leave_vms(struct daemon *d)
{
	if (!d)
		return;
	daemon_reattach_leave(d);
	daemon_close(d);
}

int daemon_open(const struct daemon_config *cfg, struct daemon **out,
		struct error *err)
{
	struct daemon *d = calloc(1, sizeof(*d));
	if (!d)
		return error_set(err, ENOMEM, "out of memory");
	d->cfg = *cfg;
	d->started_ns = clock_monotonic_ns();
	if (!cfg->in_process && !cfg->worker_exe) {
		/* softvisor-vmx next to us, else ourselves (vmproc.h) */
		const char *what;
		d->cfg.worker_exe = vmproc_worker_exe(&what);
		log_debug(LOG, "VM workers: %s", what);
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->create_lock, NULL);
	pthread_cond_init(&d->reap_cond, NULL);
	pthread_cond_init(&d->task_cond, NULL);
	d->bus = event_bus_new(0, 0);
	int r = d->bus ? inventory_open(cfg->state_dir, &d->inv, err)
		       : error_set(err, ENOMEM, "out of memory");
	if (!r)
		inventory_set_event_hook(d->inv, event_bus_hook, d->bus);
	/* the VMs as recorded; those still recorded running are adopted
	 * (daemon_reattach.c) or marked crashed further down */
	if (!r)
		r = load_inventory(d, err);
	if (!r)
		daemon_templates_load(d);
	if (!r)
		r = daemon_sched_open(d, err);
	if (!r)
		r = daemon_switches_open(d, &d->switches, err);
	vmproc_set_sandbox(!cfg->no_sandbox);
	vmproc_share_enable(cfg->inter_vm_sharing);
	if (!r)
		r = daemon_mem_open(d, err);
	if (!r)
		r = daemon_io_open(d, cfg->datastores, cfg->n_datastores,
				   &d->io, err);
	if (!r)
		r = reattach_or_crash(d, err);
	if (!r && !cfg->in_process) /* a worker ready for the first start */
		vmproc_spare_enable(d->cfg.worker_exe);
	if (!r && pthread_create(&d->reaper, NULL, reaper_thread, d))
		r = error_set(err, EAGAIN, "cannot start the reaper thread");
	if (r) {
		daemon_mem_close(d);
		daemon_io_close(d->io);
		vmproc_spare_close();
		inventory_close(d->inv);
		event_bus_free(d->bus);
		free(d);
		return r;
	}
	d->reaper_started = true;

	/* autostart, as an ESXi host powers its autostart VMs on at boot */
	struct error e = { 0 };
	for (struct dvm *v = d->vms; v; v = v->next) {
		if (!v->def.autostart)
			continue;
		json_t *vmj = NULL;
		char ref[32];
		snprintf(ref, sizeof(ref), "%lld", (long long)v->id);
		if (daemon_vm_action(d, "daemon", ref, DAEMON_START, NULL, &vmj,
				     &e))
			log_error(LOG, "autostart of %s: %s", v->def.name,
				  e.msg);
		json_decref(vmj);
	}
	*out = d;
	return 0;
}

void daemon_close(struct daemon *d)
{
	if (!d)
		return;
	/* stop every machine: disks are flushed as their devices close */
	for (;;) {
		struct dvm *v = dvm_first_running(d);
		if (!v)
			break;
		pthread_mutex_lock(&v->op_lock);
		if (v->vm) {
			unsigned gen = v->gen;
			vm_stop(v->vm, 0);
			finalize(d, v, gen, "daemon");
		}
		pthread_mutex_unlock(&v->op_lock);
		dvm_put(d, v);
	}
	daemon_tasks_close(d);
	daemon_io_close(d->io);
	d->io = NULL;
	pthread_mutex_lock(&d->lock);
	d->closing = true;
	pthread_cond_broadcast(&d->reap_cond);
	pthread_mutex_unlock(&d->lock);
	if (d->reaper_started)
		pthread_join(d->reaper, NULL);
	daemon_mem_close(d);
	daemon_sched_close(d);
	daemon_switches_close(d->switches);
	vmproc_spare_close();
	while (d->vms) {
		struct dvm *v = d->vms;
		d->vms = v->next;
		dvm_put_locked(d, v);
	}
	inventory_close(d->inv);
	event_bus_free(d->bus);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->create_lock);
	pthread_cond_destroy(&d->reap_cond);
	pthread_cond_destroy(&d->task_cond);
	free(d);
}

bool dvm_wait_ended(struct daemon *d, struct dvm *v, unsigned gen,
		    uint64_t timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(timeout_ms / 1000);
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&d->lock);
	int r = 0;
	while (v->vm && v->gen == gen && !v->reap_pending && r == 0)
		r = pthread_cond_timedwait(&v->ended_cond, &d->lock, &ts);
	bool ended = !v->vm || v->gen != gen || v->reap_pending;
	pthread_mutex_unlock(&d->lock);
	return ended;
}

void dvm_stop_gen(struct daemon *d, struct dvm *v, unsigned gen,
		  const char *actor)
{
	pthread_mutex_lock(&v->op_lock);
	if (v->vm && v->gen == gen) {
		vm_stop(v->vm, 0);
		finalize(d, v, gen, actor);
	}
	pthread_mutex_unlock(&v->op_lock);
}
