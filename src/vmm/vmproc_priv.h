/*
 * Inside vmproc: the state shared by vmproc.c (spawned workers) and
 * vmproc_attach.c (rendezvous, adoption after a daemon restart, detach).
 */
#ifndef SV_VMM_VMPROC_PRIV_H
#define SV_VMM_VMPROC_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/vmproc.h"

/* A vCPU's run-token proxy: reads GATE_ENTER/LEAVE from the vCPU's own
 * gate socket and answers GATE_GRANT on it, so a grant wakes the worker's
 * vCPU thread directly. */
struct proxy {
	struct vmproc *p;
	unsigned vcpu;
	int sock; /* our end of the vCPU's gate socketpair, -1: none */
	pthread_t thread;
	bool started;
	bool entered; /* between enter and leave, from the worker's view */
};

struct vmproc {
	int sock;
	pid_t pid;
	uint64_t spawned_us; /* CLOCK_MONOTONIC, for the audit records */
	struct vmproc_ops ops;
	struct vmk_sched_vm *sched;
	unsigned n_vcpus;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t reader;
	bool reader_started;
	bool gone;  /* the worker's socket closed or it broke protocol */
	bool ended; /* the VM ended (ENDED or the worker died) */
	bool reaped;
	enum virt_end why;
	int code;
	char cause[128];
	char proto_err[128]; /* why a proxy killed the worker */
	bool hello;
	bool started; /* STARTED arrived */
	int start_result;
	char start_msg[512];

	/* one outstanding reply at a time per caller, matched by seq */
	uint32_t next_seq;
	uint32_t reply_seq;
	bool busy; /* a request holds the slot until it consumed its reply */
	bool reply_ready;
	int reply;
	struct vmproto_stats *stats; /* where STATS_REPLY goes */
	char reply_data[512];	     /* SAVED's data */
	uint32_t reply_len;
	struct vmproto_progress progress; /* the last PROGRESS */

	struct proxy px[VMPROTO_STATS_VCPUS];

	/* the vCPU threads' ids as the worker numbers them (its own PID
	 * namespace) and as we do (vmproc_stats); remade when the worker
	 * reports other threads (a reboot) */
	pthread_mutex_t tid_lock;
	int32_t tid_in[VMPROTO_STATS_VCPUS], tid_out[VMPROTO_STATS_VCPUS];
	unsigned tid_n;

	/* re-attach (vmproc_attach.c) */
	int pidfd;	/* adopted: the worker is not our child; else -1 */
	bool detaching; /* vmproc_detach: let go, the worker runs on */

	/* page sharing (vmproc_share.c): the VM's view of the pool and the
	 * reader's buffers for offers and answers */
	struct mem_pool_vm *pool_vm;
	int share_sock; /* dup of sock for late answers, -1: none */
	struct gmem_pool_offer *share_in;
	struct gmem_pool_pair *share_out;
};

/* vmproc.c: the reader and proxy threads, the kick hook; SIGKILL the
 * worker unless it was reaped. */
void *vmproc_reader_thread(void *arg);
void *vmproc_proxy_thread(void *arg);
void vmproc_kick(void *opaque, unsigned vcpu);
void vmproc_kill_worker(struct vmproc *p);
/* The end of vmproc_destroy and vmproc_detach, once the reader is gone
 * and the sockets are shut down: join the proxies, close, free p. */
void vmproc_free(struct vmproc *p, bool worker_runs_on);
/* A request with descriptors and the default timeout. */
int vmproc_call_msg(struct vmproc *p, const struct vmproto_msg *m,
		    const int *fds, unsigned nfds);

/* vmproc_share.c: send the pool before START; drop the VM's references
 * (its worker ended) or keep them (it runs on: vmproc_detach); one
 * sharing message of the worker (RAM_FD takes fds[0] and sets it to -1). */
void vmproc_share_start(struct vmproc *p);
void vmproc_share_end(struct vmproc *p, bool worker_runs_on);
int vmproc_share_handle(struct vmproc *p, const struct vmproto_msg *m, int *fds,
			unsigned nfds, struct error *err);

/* vmproc_attach.c: wait until an adopted worker's pidfd says it ended
 * (true), or give up after 5 s (false); name the cause (p->lock not
 * held). SIGKILL through a pidfd. */
bool vmproc_adopted_wait(struct vmproc *p);
void vmproc_adopted_cause(struct vmproc *p);
void vmproc_pidfd_kill(int pidfd);

/* The descriptor a spawned worker finds the daemon's socket at (its
 * --fd): the spawn's file actions dup2 onto it, so nothing the child
 * must still see at exec time (the executable's descriptor,
 * vmproc_exe.c) may have this number. */
#define VMPROC_WORKER_FD 3

/* argv[0] of a worker spawned from exe: VMPROC_LEAN_EXE for the lean
 * executable vmproc_worker_exe() found, else "softvisor" (vmproc_exe.c). */
const char *vmproc_exe_argv0(const char *exe);

#endif
