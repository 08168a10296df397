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
	struct dvm_sched_slot sched; /* (op+d) */
	bool reap_pending;	     /* (d) the machine ended */
	unsigned reap_gen;
	bool is_template; /* (op+d) daemon_template.c */
};

struct daemon_task {
	int64_t id;
	char kind[16];
	char vm[VMDEF_NAME_MAX + 1];
	char state[12]; /* running, success, error */
	int progress;
	char message[256];
	int64_t created_ms, finished_ms;
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
	/* disk figures and shares (daemon_io.c) */
	struct daemon_io *io;
};

/* daemon.c: look a VM up by name or id and take a reference; drop it. */
struct dvm *dvm_find(struct daemon *d, const char *ref, struct error *err);
void dvm_put(struct daemon *d, struct dvm *v);
/* dvm_find + its op_lock (one API call on a VM at a time); NULL with err
 * (-ENOENT) if there is no such VM. dvm_op_end unlocks and puts. */
struct dvm *dvm_op_begin(struct daemon *d, const char *ref, struct error *err);
void dvm_op_end(struct daemon *d, struct dvm *v);
/* *out = fn(d, v) for VM ref, under d->lock (a consistent snapshot). */
int dvm_get_json(struct daemon *d, const char *ref,
		 json_t *(*fn)(struct daemon *d, struct dvm *v), json_t **out,
		 struct error *err);
/* Wait (without op_lock) until run gen of v ended or timeout_ms passed;
 * true if it ended. */
bool dvm_wait_ended(struct daemon *d, struct dvm *v, unsigned gen,
		    uint64_t timeout_ms);
/* Hard-stop run gen of v if it still runs (takes op_lock). */
void dvm_stop_gen(struct daemon *d, struct dvm *v, unsigned gen,
		  const char *actor);

/* daemon_task.c: start a shutdown (caller holds v->op_lock); *out is the
 * Task. Waiting for running tasks at close. */
int daemon_shutdown_task(struct daemon *d, struct dvm *v, const char *actor,
			 const char *body, json_t **out, struct error *err);
void daemon_tasks_close(struct daemon *d);

/* daemon_task.c, for tasks of other files: a new running task (*out its
 * JSON) and its id, or 0 with err; set its progress, message and (state
 * not NULL) its end; daemon_task_end once its thread is done. */
int64_t daemon_task_begin(struct daemon *d, const char *kind, const char *vm,
			  json_t **out, struct error *err);
void daemon_task_set(struct daemon *d, int64_t id, const char *state,
		     int progress, const char *msg);
void daemon_task_end(struct daemon *d);

/* daemon_template.c: a template cannot start (-EBUSY), nor be deleted
 * while linked clones use its images (-EBUSY naming them); caller holds
 * v->op_lock. Load the template marks at open. */
int daemon_template_check_start(struct daemon *d, struct dvm *v,
				struct error *err);
int daemon_template_check_delete(struct daemon *d, struct dvm *v,
				 struct error *err);
void daemon_templates_load(struct daemon *d);

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
