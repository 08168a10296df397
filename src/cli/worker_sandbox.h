/*
 * The sandbox of the daemon's VM workers (issue 14; docs/security.md,
 * "Daemon workers"): the same layers as `softvisor run --sandbox on`, put
 * in through the worker's hooks (vmm/vmworker.h).
 */
#ifndef SV_CLI_WORKER_SANDBOX_H
#define SV_CLI_WORKER_SANDBOX_H

#include "util/error.h"
#include "vmm/vmworker.h"

/* Step one of the sandbox in the fresh worker (sandbox_prepare: every
 * descriptor but 0..2 and sock closed, mount and IPC namespaces) and the
 * hooks that do the rest: a network namespace for a VM without user
 * networking, then, once the machine is built, the empty root, nobody,
 * no capabilities and the seccomp filter. 0 or -errno with err. */
int worker_sandbox_init(int sock, struct vmworker_hooks *hooks,
			struct error *err);

/* Hooks of an unsandboxed worker: only the test-only fault injection. */
void worker_hooks_plain(struct vmworker_hooks *hooks);

/* The worker's status once vmworker_main returned. Sanitizer builds of a
 * sandboxed worker leave without LeakSanitizer's exit-time check, which
 * needs /proc and ptrace (as run's VM process: docs/security.md). */
int worker_sandbox_exit(int status);

#endif
