/* softvisor run --sandbox=on: the VM in a sandboxed child process. */
#ifndef SV_CLI_RUN_SANDBOX_H
#define SV_CLI_RUN_SANDBOX_H

#include "machine/virt.h"
#include "util/error.h"

/*
 * Run cfg like virt_run, but in a child process that enters the sandbox
 * (vmm/sandbox.h) before the first guest instruction. This process stays
 * as its keeper: it forwards SIGINT/SIGTERM/SIGHUP, restores the terminal
 * and removes the unix sockets if the child dies, and returns the child's
 * exit status, or 128 + N when signal N killed it (159, SIGSYS: the seccomp
 * filter), after a message naming the cause. Set-up errors: -errno, err.
 * cfg->before_guest must be NULL (it is ours).
 */
int run_sandboxed(struct virt_config *cfg, struct error *err);

#endif
