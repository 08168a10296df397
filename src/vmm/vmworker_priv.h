/*
 * Inside the VM worker: the state shared by vmworker.c (start, commands,
 * the gate) and vmworker_attach.c (the rendezvous, running on without a
 * daemon, a new daemon attaching). See vmworker.h.
 */
#ifndef SV_VMM_VMWORKER_PRIV_H
#define SV_VMM_VMWORKER_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "machine/virt.h"
#include "vmm/vmdef.h"
#include "vmm/vmproto.h"
#include "vmm/vmworker.h"

struct hart;
struct vm;
struct vm_viewer;
struct netdev;

struct wvcpu {
	int sock;	   /* gate socket to the daemon's proxy, -1: none */
	uint8_t *buf;	   /* its receive buffer */
	struct hart *h;	   /* while granted and running */
	bool kick_pending; /* kicked before the granted thread ran */
	bool granted;	   /* holds a token of the daemon it asked */
};

struct worker {
	int sock;
	pthread_t main; /* reads sock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ready;   /* the guest may run (after hooks.prepare) */
	bool remote;  /* the daemon's scheduler grants run tokens */
	bool closing; /* local gate: the machine tears its harts down */
	bool dead;    /* the daemon is gone */
	uint32_t next_seq, acked_seq; /* GATE_CLOSING/OPENING answered */
	struct wvcpu vcpu[VIRT_MAX_HARTS];
	unsigned n_vcpus;

	struct vmdef def;
	struct virt_config board;
	struct vm *vm;
	struct vm_viewer *viewer;
	/* switch ports, made once: they live across the guest's reboots
	 * (a sandboxed worker could not connect again) */
	struct netdev *ports[VIRT_MAX_VIRTIO];
	const struct vmworker_hooks *hooks;
	atomic_bool said_something; /* the guest's first console output */

	/* re-attach (vmworker_attach.c): the rendezvous the daemon gave,
	 * the link to the daemon (bumped when it goes and when a new one
	 * attaches: a vCPU whose gate socket broke waits for the bump) */
	int listen_fd; /* -1: none, the VM ends with the daemon */
	unsigned grace_s;
	uint32_t gen;
	unsigned link_gen;	   /* (lock) */
	bool use_gate;		   /* START asked for the daemon's gate */
	uid_t daemon_uid;	   /* the first daemon's, from the socket */
	atomic_bool machine_ended; /* ENDED was sent (or lost) */
	atomic_bool paused;	   /* by PAUSE, until RESUME */

	/* page sharing: the daemon's pool, mapped read-only (POOL) */
	struct virt_pool pool;
	/* KERNEL_FILE: the daemon's sealed copy of the kernel at this path,
	 * until START hands it to hostfile (-1, NULL: none) */
	int kernel_fd;
	char *kernel_path;
};

/* vmworker.c: the console viewer's output (to the daemon). */
void worker_con_output(void *opaque, const uint8_t *buf, size_t len);

/* vmworker_attach.c. Learn the daemon's uid from the socket (at start). */
void worker_note_daemon(struct worker *w);
/* Attach the console viewer that sends output to the daemon (the
 * scrollback first). 0 or -errno. */
int worker_console_attach(struct worker *w);
/* RENDEZVOUS: take fds[0] as the socket to listen on. 0 or -errno. */
int worker_rendezvous(struct worker *w, const struct vmproto_msg *m,
		      const int *fds, unsigned nfds);
/* The daemon's socket closed: run on our own and accept a new daemon for
 * the grace period. 0: one attached (w->sock is its connection now);
 * -1: none came (or the machine ended): the worker stops. */
int worker_wait_for_daemon(struct worker *w);

#endif
