/*
 * The vmkernel's VM object: one running machine (struct virt) with what the
 * host keeps around it while it runs: its console (a scrollback and any
 * number of viewers, one of them the writer), its place in the vCPU
 * scheduler, and how it ended. The daemon (src/api/daemon.c) owns the
 * lifecycle state machine and the inventory on top of it.
 *
 *   struct vm *vm = vm_start(&cfg, &ops, &err);   the machine runs
 *   vm_pause(vm); vm_resume(vm); vm_power_button(vm);
 *   vm_stop(vm, 0);                               asynchronous
 *   vm_wait(vm, &code);                           joins it; ops.ended ran
 *   vm_destroy(vm);
 *
 * Threads: every function may be called from any thread, except that
 * vm_destroy must be the last call. ops.ended runs on the machine's control
 * thread and must not call vm_wait/vm_destroy on its own VM. Viewer
 * callbacks run on vCPU threads (output) or the control thread (closed).
 */
#ifndef SV_VMM_VM_H
#define SV_VMM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/virt.h"
#include "util/error.h"

#define VM_SCROLLBACK (64 * 1024)

struct vm;
struct vm_viewer;

struct vm_ops {
	/* The machine ended (guest poweroff, vm_stop, crash). */
	void (*ended)(void *opaque, struct vm *vm, enum virt_end why, int code);
	void *opaque;
	/* The guest panicked (once per boot; the machine acts on its
	 * on_panic itself). Control or worker reader thread: must not wait
	 * for calls on this VM. May be NULL. */
	void (*panicked)(void *opaque, struct vm *vm, enum virt_panic how);
};

struct vm_viewer_ops {
	/* Console output; must not block for long. */
	void (*output)(void *opaque, const uint8_t *buf, size_t len);
	/* The machine ended: no output follows. */
	void (*closed)(void *opaque);
	void *opaque;
};

struct vmk_sched_vm;

/* What vm_start needs besides the board configuration. */
struct vm_params {
	const struct virt_config *board;   /* borrowed until vm_destroy */
	const struct virt_vcpu_gate *gate; /* scheduler, or NULL */
	struct vm_ops ops;
	/* Set: run the machine in a VM worker process (issue 14,
	 * vmm/vmproc.h) of this binary instead of in this process. board
	 * and gate are then unused: the worker builds the machine from
	 * def_json (a VM definition) and its vCPUs take their run tokens
	 * from sched (the scheduler's VM handle, or NULL: run freely). */
	const char *worker_exe;
	const char *def_json;
	unsigned n_vcpus;
	struct vmk_sched_vm *sched;
	/* worker only: continue from the VM state readable at restore_fd
	 * (kept by the caller) instead of booting; in this process the
	 * board says so itself (virt_config.restore_by_fd) */
	bool restore;
	int restore_fd;
	bool start_paused; /* worker only (else virt_config.start_paused) */
	bool start_held;   /* worker only (else virt_config.start_held) */
	bool mirror_in;	   /* worker only (else virt_config.mirror_in) */
	/* worker only (else virt_config.mem_swap_fd): the VM's swap file,
	 * opened by the daemon (the caller's: the worker gets a duplicate) */
	bool swap;
	int swap_fd;
};

/* Build and start the machine (errors such as a missing kernel come back
 * here). The board's UART is connected to the VM's console. */
struct vm *vm_start(const struct vm_params *p, struct error *err);
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
void vm_reset(struct vm *vm);
/* -ENODEV when the machine has no power button. */
int vm_power_button(struct vm *vm);
/* Every NIC announces itself with the default rounds (virt_announce;
 * in a worker through VMPROTO_ANNOUNCE). 0, -ENODEV (no NIC) or -errno. */
int vm_announce(struct vm *vm);
/* Internal snapshot name of every writable disk at one instant, or (del)
 * its deletion (virt_disk_snapshot; in a worker process through
 * VMPROTO_DISK_SNAPSHOT, the worker holding the images open). 0 or -errno
 * with err. */
int vm_disk_snapshot(struct vm *vm, const char *name, bool del,
		     struct error *err);
/* External snapshot of every writable disk at one instant
 * (virt_disk_snapshot_external; in a worker process through
 * VMPROTO_DISK_SNAPSHOT_EXT with the overlays opened here, as the
 * sandboxed worker cannot open new files). overlays: n absolute paths of
 * empty files, one per writable disk in order. 0 or -errno with err. */
int vm_disk_snapshot_external(struct vm *vm, const char *const *overlays,
			      unsigned n, struct error *err);
/* Write the machine's state to fd (docs/vm-state.md; virt_save_fd): the
 * machine stays paused. 0 with *st filled, or -errno with err set. */
int vm_save_fd(struct vm *vm, int fd, struct virt_save_stats *st,
	       struct error *err);
/* A snapshot with memory: internal snapshot name of every writable disk
 * and the machine's state to fd at one instant (virt_snapshot_save; in a
 * worker process through VMPROTO_SAVE with VMPROTO_SAVE_SNAPSHOT). The
 * machine runs on (stays paused if it was). 0 with *st filled, or -errno
 * with err set; nothing of the snapshot is left on the disks then. */
int vm_snapshot_save(struct vm *vm, const char *name, int fd,
		     struct virt_save_stats *st, struct error *err);
/* Live migration: the state to fd with pre-copy (virt_precopy_fd) and a
 * downtime budget of budget_ms (0: stop-and-copy); the disks are handed
 * over at the final pause (vm_resume takes them back), or with
 * copy_storage mirrored into the stream (they stay here, untouched). */
int vm_migrate_fd(struct vm *vm, int fd, unsigned budget_ms, bool copy_storage,
		  struct virt_save_stats *st, struct virt_precopy_result *res,
		  struct error *err);
/* The same for a VM of this process with the full parameters (the
 * worker's side; -EINVAL for a VM in a worker). */
int vm_precopy_local(struct vm *vm, int fd,
		     const struct virt_precopy_params *prm,
		     struct virt_save_stats *st,
		     struct virt_precopy_result *res, struct error *err);
/* The figures of the last pre-copy pass (zeroes if none yet or the VM
 * runs in this process). */
void vm_migrate_progress(struct vm *vm, struct virt_precopy_progress *pr);
/* Datastore caps of the disks (virt_set_disk_caps; in a worker process
 * through VMPROTO_DISK_CAP). 0 or -errno. */
int vm_disk_caps(struct vm *vm, const struct virt_disk_cap *caps, unsigned n);
/* Hard power-off; asynchronous. */
void vm_stop(struct vm *vm, int code);
/* Wait until the machine ended. */
enum virt_end vm_wait(struct vm *vm, int *code);
bool vm_running(const struct vm *vm);
/* Stop (if needed), wait, and drop the owner's reference: the VM is freed
 * once every viewer detached too. */
void vm_destroy(struct vm *vm);

/* Keep the object alive (not the machine) past a vm_destroy by its
 * owner; vm_release drops it. Lets a caller ask a worker for figures
 * without holding the lock that guards the owner's pointer: the figures
 * of a destroyed machine read as zeroes. */
struct vm *vm_hold(struct vm *vm);
void vm_release(struct vm *vm);
/* Re-attaching workers after a daemon restart (docs/architecture.md,
 * "Re-attaching workers after a daemon restart"; vmproc.h). */
struct vmproto_attached;
struct vm_adopt_params {
	const char *sock_path; /* the worker's rendezvous */
	int pid;	       /* the record's worker, its start time */
	uint64_t pid_start;
	uint32_t gen;
	const char *name;
	unsigned n_vcpus;
	struct vmk_sched_vm *sched; /* or NULL */
	struct vm_ops ops;
	struct vmproto_attached *info; /* filled: the worker's answer */
	/* connected switch ports for the worker's NICs port_nics[i]
	 * (vmproc_adopt; the caller keeps and closes them) */
	const int *port_fds;
	const uint8_t *port_nics;
	unsigned n_ports;
};
/* A VM object for a worker another daemon started (vmproc_adopt); the
 * worker's scrollback arrives as console output. NULL with err. */
struct vm *vm_adopt(const struct vm_adopt_params *a, struct error *err);
/* Give the worker its rendezvous (vmproc_rendezvous); -EINVAL for a VM
 * of this process. */
int vm_rendezvous(struct vm *vm, int listen_fd, unsigned grace_s, uint32_t gen,
		  struct error *err);
/* Let go of the worker without stopping the VM (vmproc_detach) and drop
 * the owner's reference, as vm_destroy does; ops.ended does not run. */
void vm_detach(struct vm *vm);

/* The worker process of the VM, 0 when it runs in this process. */
int vm_worker_pid(const struct vm *vm);
/* Why the machine ended when its worker died ("worker killed by signal 9
 * (Killed)"), NULL otherwise. Valid until vm_destroy. */
const char *vm_end_cause(struct vm *vm);

/* The daemon's answers to the machine's page sharing offers (in the VM
 * worker, which runs the machine in-process; virt_pool_answer). */
void vm_pool_answer(struct vm *vm, uint32_t gen, const struct gmem_pool_pair *a,
		    unsigned n);

/* Host thread ids of the vCPUs (in the worker's process if it has one);
 * returns the vCPU count. */
unsigned vm_vcpu_tids(const struct vm *vm, int *tids, unsigned n);
/* Guest instructions retired by a vCPU in the current boot. */
uint64_t vm_vcpu_instret(const struct vm *vm, unsigned vcpu);
/* Disk and NIC counters of the current boot (virt_dev_stats). */
void vm_dev_stats(const struct vm *vm, struct virt_dev_stats *st);
/* Memory figures (virt_mem_stats; a worker's are its word, untrusted)
 * and the balloon (virt_balloon_set: -ENODEV without one, -EINVAL for
 * more pages than RAM, -EPIPE once the worker is gone). */
void vm_mem_stats(const struct vm *vm, struct virt_mem_stats *st);
int vm_balloon_set(struct vm *vm, uint64_t pages);
/* The memory policy's reclaim target (virt_mem_target_set: pages, 0 =
 * none; -EINVAL beyond RAM, -EPIPE once the worker is gone). */
int vm_mem_target_set(struct vm *vm, uint64_t pages);

/* Attach a console viewer: ops.output first receives the scrollback.
 * writer: the one viewer allowed to type (-EBUSY if taken). -EINVAL once
 * the machine ended. */
int vm_console_attach(struct vm *vm, bool writer,
		      const struct vm_viewer_ops *ops, struct vm_viewer **out);
/* Type (writer only, else -EPERM): waits up to 2 s for the UART to take
 * it; returns the bytes taken. */
int vm_console_input(struct vm_viewer *v, const uint8_t *buf, size_t len);
/* Like vm_console_input without waiting: the bytes the UART took now. */
int vm_console_try_input(struct vm_viewer *v, const uint8_t *buf, size_t len);
/* Detach; no callback of v runs after it returns. */
void vm_console_detach(struct vm_viewer *v);
/* The last (up to cap) bytes of the console's scrollback into buf, oldest
 * first; returns how many (any thread; e.g. a panic's last lines). */
size_t vm_console_tail(struct vm *vm, uint8_t *buf, size_t cap);

#endif
