/*
 * The VM worker (issue 14): one host process per VM, the trust boundary.
 * The daemon starts `softvisor __vm-worker --fd N` (the same binary) with
 * one end of a SOCK_SEQPACKET socketpair as fd N; the worker builds and
 * runs that one VM (harts, devices, back ends) and speaks vmproto.h with
 * the daemon: commands in, console output, gate requests and the end out.
 * The vCPU scheduler stays in the daemon: each vCPU asks for its run
 * token with GATE_ENTER and runs only after GATE_GRANT.
 *
 * hooks.prepare runs in the worker once the machine is built (disk images,
 * TAP devices open) and before the guest's first instruction, with the
 * descriptors the worker must keep: the sandbox (seccomp, namespaces,
 * privilege drop) plugs in there. A non-zero return aborts the start and
 * the daemon gets the error.
 *
 * The worker exits when the daemon closes the socket (it stops its VM
 * first if it still runs): a daemon that dies takes its VMs with it.
 */
#ifndef SV_VMM_VMWORKER_H
#define SV_VMM_VMWORKER_H

#include "util/error.h"

struct vmdef;
struct virt_config;

struct vmworker_hooks {
	/* After the definition was parsed, before anything of the machine
	 * is built or opened (the worker is still single-threaded): e.g.
	 * a network namespace for a VM without user networking, recording
	 * host files. May be NULL; non-zero aborts the start. */
	int (*configure)(void *opaque, const struct vmdef *def,
			 const struct virt_config *board, struct error *err);
	int (*prepare)(void *opaque, const int *keep_fds, unsigned n_keep,
		       struct error *err);
	/* The guest wrote to its console for the first time (on a vCPU
	 * thread, inside the UART's transmit path); the test-only fault
	 * injection fires here (docs/security.md). May be NULL. */
	void (*first_output)(void *opaque);
	void *opaque;
};

/* Run the worker on the connected socket sock; returns the process's
 * exit status (0: the VM ran and the daemon let go of it). */
int vmworker_main(int sock, const struct vmworker_hooks *hooks);

#endif
