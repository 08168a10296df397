/*
 * The daemon's side of a VM worker (issue 14): spawn `softvisor
 * __vm-worker`, drive it over vmproto, proxy its vCPUs' run-token requests
 * to the daemon's scheduler, notice its end (clean or crash) and reap it.
 *
 *   vmproc_start(&p, &proc, &err)   spawned, the machine built, running
 *   vmproc_call(proc, VMPROTO_PAUSE, 0, NULL, 0)   0 or -errno
 *   vmproc_stop(proc, code);  vmproc_wait(proc, &code);
 *   vmproc_destroy(proc)             kills if needed, reaps, joins
 *
 * Everything from the worker is untrusted: a malformed message or a
 * protocol violation kills the worker (SIGKILL) and the VM ends crashed.
 * ops.ended runs once, on the reader thread.
 */
#ifndef SV_VMM_VMPROC_H
#define SV_VMM_VMPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "machine/virt.h"
#include "util/error.h"
#include "vmm/vmproto.h"

struct vmproc;
struct vmk_sched_vm;

struct vmproc_ops {
	void (*output)(void *opaque, const uint8_t *buf, size_t len);
	void (*ended)(void *opaque, enum virt_end why, int code);
	void *opaque;
	/* The worker says its guest panicked (a0 validated). May be NULL. */
	void (*panicked)(void *opaque, enum virt_panic how);
};

struct vmproc_params {
	const char *exe;	    /* vmproc_worker_exe(), or a test's */
	const char *def_json;	    /* the VM definition */
	unsigned n_vcpus;	    /* its cpus */
	struct vmk_sched_vm *sched; /* the scheduler's handle, or NULL */
	struct vmproc_ops ops;
	/* continue from the VM state readable at restore_fd (the caller's:
	 * the worker gets a duplicate) instead of booting */
	bool restore;
	int restore_fd;
	bool start_paused; /* the vCPUs wait for RESUME */
	bool start_held;   /* the same, the disks opened as for a boot */
	bool mirror_in;	   /* the stream may write the disks (a mirror) */
	/* the VM's swap file (the caller's: the worker gets a duplicate) */
	bool swap;
	int swap_fd;
	/* the kernel the VM boots (NULL: none): the worker maps the
	 * daemon's sealed copy of it (vmm/kernel_cache.h) */
	const char *kernel;
};

/* Spawn the worker, start the VM in it; 0 once the machine was built (its
 * errors, e.g. a missing kernel, come back here), or -errno with err. */
int vmproc_start(const struct vmproc_params *p, struct vmproc **out,
		 struct error *err);
/* A request with a reply (PAUSE, RESUME, RESET, POWER, CONSOLE_IN): the
 * worker's answer, -EPIPE once it is gone, -ETIMEDOUT after 5 s. */
int vmproc_call(struct vmproc *p, unsigned type, int32_t a0, const void *data,
		uint32_t len);
/* vmproc_call with its own timeout (a disk snapshot may take longer). */
int vmproc_call_timeout(struct vmproc *p, unsigned type, int32_t a0,
			const void *data, uint32_t len, unsigned timeout_ms);
/* vmproc_call_timeout with descriptors (the worker gets duplicates). */
int vmproc_call_fds(struct vmproc *p, unsigned type, int32_t a0,
		    const void *data, uint32_t len, const int *fds,
		    unsigned nfds, unsigned timeout_ms);
/* Save the VM's state (docs/vm-state.md) to fd, which the worker gets a
 * duplicate of (a file, or a socket someone reads); the VM stays paused.
 * budget_ms > 0: live migration's pre-copy with that downtime budget.
 * snapshot (flags VMPROTO_SAVE_SNAPSHOT; else NULL): a snapshot with
 * memory of that name, after which the VM runs on (vm_snapshot_save).
 * 0 with *out filled, or -errno with err (the worker's message). */
int vmproc_save(struct vmproc *p, int fd, int32_t budget_ms, int32_t flags,
		const char *snapshot, struct vmproto_saved *out,
		unsigned timeout_ms, struct error *err);
/* The last PROGRESS of a pre-copy (zeroes before the first). */
void vmproc_progress(struct vmproc *p, struct vmproto_progress *out);
/* Figures of the running machine; zeroes if the worker does not answer
 * within 250 ms. */
int vmproc_stats(struct vmproc *p, struct vmproto_stats *st);
/* Hard power-off (asynchronous). */
void vmproc_stop(struct vmproc *p, int code);
/* Wait until the VM ended (or the worker died). */
enum virt_end vmproc_wait(struct vmproc *p, int *code);
bool vmproc_running(struct vmproc *p);
pid_t vmproc_pid(const struct vmproc *p);
/* Why it ended when the worker died ("worker killed by signal 9"), or
 * NULL. Valid until vmproc_destroy. */
const char *vmproc_cause(struct vmproc *p);
/* Stop it if it runs, reap the worker, free. */
void vmproc_destroy(struct vmproc *p);

/*
 * Re-attaching workers after a daemon restart (docs/architecture.md,
 * "Re-attaching workers after a daemon restart"; vmproc_attach.c).
 */

/* Give the running worker its rendezvous: listen_fd, a bound AF_UNIX
 * SOCK_SEQPACKET socket (the caller keeps its own descriptor and closes
 * it), on which the worker accepts a new daemon for grace_s seconds after
 * this one let go of it or died. gen: the run's generation (the record's).
 * 0 or -errno with err. */
int vmproc_rendezvous(struct vmproc *p, int listen_fd, unsigned grace_s,
		      uint32_t gen, struct error *err);

/* What vmproc_adopt needs: the record (worker_record.h) and the VM. */
struct vmproc_adopt {
	const char *sock_path; /* the rendezvous */
	pid_t pid;	       /* the record's worker and its start time */
	uint64_t pid_start;
	uint32_t gen;
	const char *name;	    /* the VM's */
	unsigned n_vcpus;	    /* its definition's */
	struct vmk_sched_vm *sched; /* the scheduler's handle, or NULL */
	struct vmproc_ops ops;
	/* switch ports the daemon connected for the worker (its switches
	 * died with the old daemon): n_ports sockets past their hello, for
	 * the NICs port_nics[i]; sent with ATTACH, closed by the caller */
	const int *port_fds;
	const uint8_t *port_nics;
	unsigned n_ports; /* 0..VIRT_MAX_VIRTIO */
};

/* Reconnect to a worker a previous daemon started: check the process is
 * the recorded one (pid, start time), connect, check the peer (its pid,
 * uid: ours or the sandbox's), ATTACH with fresh gate sockets and the
 * switch ports, check the ATTACHED answer (pid, generation, vCPUs, name,
 * ports taken). 0 with *out (a vmproc
 * as from vmproc_start) and *info, or -errno with err (ESRCH: no such
 * worker any more; EPERM: not that worker; EPROTO; ETIMEDOUT). */
int vmproc_adopt(const struct vmproc_adopt *a, struct vmproc **out,
		 struct vmproto_attached *info, struct error *err);

/* Let go of the worker without stopping its VM (the daemon leaves its VMs
 * running): the threads end, ops.ended does not run, p is freed. The
 * worker keeps running and waits for a new daemon (its rendezvous). */
void vmproc_detach(struct vmproc *p);

/* The lean worker executable (issue 14): the VM's layers only, none of
 * the daemon's libraries (src/cli/vmx_main.c). */
#define VMPROC_LEAN_EXE "softvisor-vmx"

/* The executable for vmproc_params.exe: VMPROC_LEAN_EXE from the
 * directory of this process's own executable when it is there (opened
 * once and kept, so workers run the file found even after an install
 * replaced it: the daemon's own build), else this process's executable
 * (/proc/self/exe, as `softvisor __vm-worker`). Decided on the first call
 * and the same afterwards; *what (if what) says which, for the log.
 * Process-wide, any thread. */
const char *vmproc_worker_exe(const char **what);

/* Keep one worker of exe spawned ahead: a start then takes it and does not
 * wait for the exec (the daemon enables it; off by default). Close ends
 * and reaps the spare. Process-wide. */
void vmproc_spare_enable(const char *exe);
/* Workers spawned from now on enter the sandbox (on, the default) or not
 * (`softvisor daemon --sandbox off`). Set before the spare is enabled. */
void vmproc_set_sandbox(bool on);
void vmproc_spare_close(void);

/* Cross-VM page sharing (docs/memory.md): the daemon's host-wide pool
 * (created with the first worker; NULL if it could not be), and the guest
 * frames of p's VM that map it now (the daemon's own count). */
struct mem_pool *vmproc_share_pool(void);
/* Sharing across VMs through the pool for the workers started from now
 * on (daemon --inter-vm-sharing, on by default; docs/memory.md). Off:
 * vmproc_share_pool is NULL, workers share zero pages only. */
void vmproc_share_enable(bool on);
uint64_t vmproc_share_refs(struct vmproc *p);

#endif
