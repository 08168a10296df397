/* Inside the daemon: shared by daemon.c (VMs, lifecycle), daemon_task.c
 * (tasks, shutdown) and daemon_host.c (scheduler, host, stats). */
#ifndef SV_API_DAEMON_IMPL_H
#define SV_API_DAEMON_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/daemon.h"
#include "api/inventory.h"
#include "vmm/vmdef.h"
#include "machine/virt.h"
#include "vmm/lifecycle.h"
#include "vmm/vm.h"

struct vmk_sched;
struct event_bus;

/* A VM's place in the scheduler while it runs. */
struct dvm_sched_slot {
	void *handle; /* the scheduler's per-VM handle, NULL: none */
	struct virt_vcpu_gate gate;
	bool gate_valid;
};

/* One VM of the registry. Fields marked (op) change under op_lock only,
 * (d) under d->lock; readers hold either. */
struct dvm {
	struct daemon *d;
	struct dvm *next; /* (d) registry, by name */
	unsigned refs;	  /* (d) */
	bool deleted;	  /* (d) */
	pthread_mutex_t op_lock;
	pthread_cond_t ended_cond; /* (d) broadcast when vm goes NULL */

	int64_t id;
	struct vmdef def;    /* (op+d) */
	enum vm_state state; /* (op+d) */
	int64_t created_ms, updated_ms;

	/* the running machine */
	struct vmdef run_def; /* what it runs (the board borrows) */
	struct virt_config board;
	struct vm *vm; /* (op+d) NULL when not running */
	unsigned gen;  /* (op+d) bumped per start */
	uint64_t started_ns;
	uint64_t resumed_ns;	     /* (op+d) the last resume's vm_resume */
	struct dvm_sched_slot sched; /* (op+d) */
	bool reap_pending;	     /* (d) the machine ended */
	unsigned reap_gen;
	bool is_template; /* (op+d) daemon_template.c */
	/* (d) why it is in its state: "panicked", "crashed", ... ("": the
	 * state says it all); on_crash restarts so far (daemon_crash.c) */
	char reason[16];
	struct vm_restarts restarts;
	bool panic_pending; /* (d) the guest panicked (run panic_gen) */
	unsigned panic_gen;
	enum virt_panic panic_how;
	/* suspend and resume (daemon_state.c): the next start continues
	 * from restore_fd; the end being finalized is a suspend */
	bool restoring, suspending; /* (op) */
	int restore_fd;		    /* (op) */
	bool start_paused;	    /* (op) incoming migration */
	bool mirror_in;	 /* (op) its disks: a block mirror's (--copy-storage) */
	bool start_held; /* (op) restore paused (a snapshot's revert) */
};

struct daemon_task {
	int64_t id;
	char kind[16];
	char vm[VMDEF_NAME_MAX + 1];
	char state[12]; /* running, success, error */
	int progress;
	char message[256];
	int64_t created_ms, finished_ms;
	/* a transfer (migration): shown when has_xfer */
	bool has_xfer;
	uint64_t bytes_sent, bytes_remaining;
	double dirty_rate; /* bytes/s dirtied while copying */
	/* a block mirror (--copy-storage): shown when has_disk */
	bool has_disk;
	uint64_t disk_done, disk_total, disk_dirty, disk_sent;
};

struct daemon {
	struct daemon_config cfg;
	struct inventory *inv;
	uint64_t started_ns;
	pthread_mutex_t lock;	     /* registry, tasks */
	pthread_mutex_t create_lock; /* name uniqueness across creates */
	struct dvm *vms;
	bool closing;
	pthread_t reaper;
	bool reaper_started;
	pthread_cond_t reap_cond;

	/* tasks (d->lock): a ring of the last TASKS, and running ones */
	struct daemon_task *tasks;
	unsigned n_tasks, cap_tasks;
	int64_t next_task_id;
	unsigned tasks_running;
	pthread_cond_t task_cond;

	/* scheduler (daemon_host.c) */
	struct vmk_sched *sched;

	/* every event recorded is published here (event_bus.h) */
	struct event_bus *bus;
	/* virtual switches (daemon_switch.c) */
	struct daemon_switches *switches;
	/* memory budget, admission, policy loop (daemon_mem.c) */
	struct daemon_mem *mem;
	/* disk figures and shares (daemon_io.c) */
	struct daemon_io *io;
};

/* daemon.c: vm_ops.ended of a daemon VM (opaque: its dvm), for VMs that
 * daemon_reattach.c adopts. */
void dvm_machine_ended(void *opaque, struct vm *vm, enum virt_end why,
		       int code);
/* daemon.c: look a VM up by name or id and take a reference; drop it. */
struct dvm *dvm_find(struct daemon *d, const char *ref, struct error *err);
void dvm_put(struct daemon *d, struct dvm *v);
/* The first VM that still has a machine, with a reference (dvm_put), or
 * NULL: shutdown and leave-running loops take them one at a time. */
struct dvm *dvm_first_running(struct daemon *d);
/* dvm_find + its op_lock (one API call on a VM at a time); NULL with err
 * (-ENOENT) if there is no such VM. dvm_op_end unlocks and puts. */
struct dvm *dvm_op_begin(struct daemon *d, const char *ref, struct error *err);
void dvm_op_end(struct daemon *d, struct dvm *v);
/* *out = fn(d, v) for VM ref, under d->lock (a consistent snapshot). */
int dvm_get_json(struct daemon *d, const char *ref,
		 json_t *(*fn)(struct daemon *d, struct dvm *v), json_t **out,
		 struct error *err);
/* daemon_live.c: the worker's figures of running VMs, asked without
 * d->lock. collect: every running VM (only NULL) or only that one (a
 * reference held); then, under d->lock, dvm_live_of(s, v) gives v's
 * figures (NULL: not running when asked, or restarted since); free drops
 * the references (no lock held). */
struct dvm_live {
	struct dvm *v;
	struct vm *vm; /* vm_hold */
	unsigned n_vcpus;
	int tids[VIRT_MAX_HARTS];
	uint64_t instret[VIRT_MAX_HARTS];
	struct virt_dev_stats ds;
};
struct dvm_live_set {
	struct dvm_live *a;
	size_t n;
};
int dvm_live_collect(struct daemon *d, struct dvm *only,
		     struct dvm_live_set *s);
const struct dvm_live *dvm_live_of(const struct dvm_live_set *s,
				   const struct dvm *v);
void dvm_live_free(struct daemon *d, struct dvm_live_set *s);

/* Wait (without op_lock) until run gen of v ended or timeout_ms passed;
 * true if it ended. */
bool dvm_wait_ended(struct daemon *d, struct dvm *v, unsigned gen,
		    uint64_t timeout_ms);
/* Hard-stop run gen of v if it still runs (takes op_lock). */
void dvm_stop_gen(struct daemon *d, struct dvm *v, unsigned gen,
		  const char *actor);

/* daemon.c, for daemon_state.c (caller holds v->op_lock): start v's
 * machine (continuing from v->restore_fd if v->restoring); record a
 * state; record that run gen ended (vm_stop first). */
int dvm_start(struct daemon *d, struct dvm *v, struct error *err);
int dvm_set_state(struct daemon *d, struct dvm *v, enum vm_state st,
		  struct error *err);
void dvm_finalize(struct daemon *d, struct dvm *v, unsigned gen,
		  const char *actor);

/* daemon_state.c (docs/vm-state.md), caller holds v->op_lock: suspend
 * (save the machine to <state_dir>/vmstate/<id>.state, end it); continue
 * a suspended VM from that file (start, resume); discard it (stop of a
 * suspended VM, delete). */
int daemon_vm_suspend(struct daemon *d, struct dvm *v, const char *actor,
		      struct error *err);
int daemon_vm_restore(struct daemon *d, struct dvm *v, struct error *err);
int daemon_vm_discard_state(struct daemon *d, struct dvm *v, struct error *err);
/* The state file's path of VM id. 0 or -ENAMETOOLONG. */
int daemon_state_path(struct daemon *d, int64_t id, char *buf, size_t cap,
		      struct error *err);

/* daemon_task.c: a task other files run (migration): begin (counted
 * until end; *out its JSON), progress, end. */
int daemon_task_begin(struct daemon *d, const char *kind, const char *vm,
		      int64_t *id, json_t **out, struct error *err);
void daemon_task_progress(struct daemon *d, int64_t id, int progress,
			  const char *msg, uint64_t sent, uint64_t remaining,
			  double dirty_rate);
void daemon_task_end(struct daemon *d, int64_t id, bool ok, const char *msg);
/* A migration's block mirror (--copy-storage): bytes of the disks
 * scanned of their total, dirtied and not yet sent again, sent. */
void daemon_task_disk_progress(struct daemon *d, int64_t id, uint64_t done,
			       uint64_t total, uint64_t dirty, uint64_t sent);

/* daemon_mirror.c: the source's checks for --copy-storage (every disk
 * writable, unencrypted, no backing file) and the destination's query
 * ("copy_storage=1&disk_sizes=N,N") into query. 0 or -EINVAL naming
 * the disk (or image_info's error). */
int daemon_mirror_check(const struct vmdef *def, char *query, size_t cap,
			struct error *err);

/* daemon_migrate.c (docs/vm-state.md, "Live migration"). */
int daemon_vm_migrate(struct daemon *d, struct dvm *v, const char *actor,
		      const char *body, json_t **out, struct error *err);

/* daemon_crash.c (issue 14, 19): the state a VM ends in (on_crash
 * destroy turns a crash into stopped) and its reason; then, for a crash,
 * the on_crash policy (a bounded restart). Caller holds v->op_lock. */
enum vm_state daemon_end_state(struct daemon *d, struct dvm *v,
			       enum virt_end why, bool worker_died);
void daemon_on_crash(struct daemon *d, struct dvm *v);
/* The guest of run gen panicked (issue 19): a "panic" event with the
 * last console lines; on_panic pause makes the VM paused (reason
 * panicked). The machine acted on on_panic itself. Holds op_lock. */
void daemon_on_panic(struct daemon *d, struct dvm *v, unsigned gen,
		     enum virt_panic how);
/* vm_ops.panicked of a daemon VM (opaque: its dvm): marks it for the
 * reaper, which calls daemon_reap_panic (d->lock held, held again on
 * return) and so daemon_on_panic under op_lock. */
void daemon_machine_panicked(void *opaque, struct vm *vm, enum virt_panic how);
void daemon_reap_panic(struct daemon *d, struct dvm *v);

/* daemon_task.c: start a shutdown (caller holds v->op_lock); *out is the
 * Task. Waiting for running tasks at close. */
int daemon_shutdown_task(struct daemon *d, struct dvm *v, const char *actor,
			 const char *body, json_t **out, struct error *err);
void daemon_tasks_close(struct daemon *d);

/* daemon_task.c: set a task's progress, message and (state not NULL)
 * its state, for tasks without a transfer (clones); daemon_task_end
 * still ends it. */
void daemon_task_set(struct daemon *d, int64_t id, const char *state,
		     int progress, const char *msg);
/* A task that copies disks one after the other (full clones, imports):
 * image_copy's progress callback, with the counts here as its opaque. */
struct disk_copy_progress {
	struct daemon *d;
	int64_t task;
	unsigned disk;	      /* being copied */
	uint64_t done, total; /* bytes, all disks */
	uint64_t disk_base;   /* of done, the disks before this one */
};
void daemon_disk_copy_progress(void *opaque, uint64_t done, uint64_t total);

/* daemon_template.c: a template cannot start (-EBUSY), nor be deleted
 * while linked clones use its images (-EBUSY naming them); caller holds
 * v->op_lock. Load the template marks at open. */
int daemon_template_check_start(struct daemon *d, struct dvm *v,
				struct error *err);
int daemon_template_check_delete(struct daemon *d, struct dvm *v,
				 struct error *err);
void daemon_templates_load(struct daemon *d);

/* daemon.c: -EINVAL naming the first disk of def with import_from (a
 * definition only POST /v1/vms takes, daemon_import.c); where says
 * what may have it. 0 without. */
int daemon_check_no_import(const struct vmdef *def, const char *where,
			   struct error *err);

/* daemon_mirror.c: a name for a new image of VM vm's disk i,
 * <state_dir>/disks/<vm>-disk<i>[-k].<format> (the directory made if
 * needed): the first k that is free. reserve: the file is created (empty,
 * O_EXCL) so that nobody else takes it; else the caller creates it, with
 * O_EXCL (image_clone, image_copy), and a race is an EEXIST error. */
int daemon_new_image_path(struct daemon *d, const char *vm, unsigned i,
			  const char *format, bool reserve, char *out,
			  size_t cap, struct error *err);

/* daemon_host.c: the scheduler. attach fills slot for a VM about to start
 * (admission control: -ENOSPC with the numbers); detach after it ended. */
int daemon_sched_open(struct daemon *d, struct error *err);
void daemon_sched_close(struct daemon *d);
int daemon_sched_attach(struct daemon *d, const struct vmdef *def,
			struct dvm_sched_slot *slot, struct error *err);
void daemon_sched_detach(struct daemon *d, struct dvm_sched_slot *slot);
/* QoS of a running VM changed (caller holds op_lock). */
int daemon_sched_set_qos(struct daemon *d, struct dvm *v,
			 const struct vmdef *def, struct error *err);

#endif
