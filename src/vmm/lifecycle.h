/*
 * The VM lifecycle state machine (issue 14: moved out of api/daemon.c so
 * that the daemon and its workers share it): the states a VM record goes
 * through, which operation each state allows, and where each operation
 * or the machine's end leads. Pure: no locks, no I/O.
 *
 *            start               pause
 *   defined ------> running <----------> paused
 *   stopped ------>   |  ^     resume      |
 *   crashed ------>   |  | reset           | stop
 *                     v  |                 v
 *   (the machine ends: poweroff, stop -> stopped; crash, panic stop ->
 *    crashed)
 *
 *   running, paused --suspend--> suspended (its state saved to a file,
 *   the machine gone: docs/vm-state.md); suspended --start/resume-->
 *   running (continued from that file); suspended --stop--> stopped (the
 *   file discarded, as a power-off of a suspended VM in vSphere)
 *
 *   if (vm_lifecycle_check(st, VM_OP_PAUSE, name, &err)) -> -EBUSY, message
 *   st = vm_lifecycle_next(st, VM_OP_PAUSE);
 *   st = vm_lifecycle_ended(VIRT_END_CRASHED);           -> crashed
 */
#ifndef SV_VMM_LIFECYCLE_H
#define SV_VMM_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/virt.h"
#include "util/error.h"

enum vm_state {
	VM_STATE_DEFINED,
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,
	VM_STATE_STOPPED,
	VM_STATE_CRASHED,
	VM_STATE_SUSPENDED, /* saved to a file, no machine (issue 18) */
};
#define VM_STATE_LAST VM_STATE_SUSPENDED

enum vm_op {
	VM_OP_START,
	VM_OP_STOP,	/* hard power-off */
	VM_OP_SHUTDOWN, /* the power button */
	VM_OP_PAUSE,
	VM_OP_RESUME,
	VM_OP_RESET,
	VM_OP_DELETE,
	VM_OP_SUSPEND, /* save the machine to a file and end it */
};

/* "defined", "running", ...; "?" out of range. */
const char *vm_state_name(enum vm_state s);
/* Parse a state name. 0 or -EINVAL. */
int vm_state_parse(const char *s, enum vm_state *out);
/* Name of an operation ("start", ...). */
const char *vm_op_name(enum vm_op op);

/* The machine exists (running or paused). */
bool vm_state_live(enum vm_state s);

/* 0 if op is allowed in state s; else -EBUSY (-EINVAL for an unknown op
 * or state) with err saying why, about VM name. */
int vm_lifecycle_check(enum vm_state s, enum vm_op op, const char *name,
		       struct error *err);

/* The state once op (allowed in s) succeeded. SHUTDOWN leaves the state
 * as it is: the guest decides when its machine ends. */
enum vm_state vm_lifecycle_next(enum vm_state s, enum vm_op op);

/* The state of a VM whose machine ended with why. */
enum vm_state vm_lifecycle_ended(enum virt_end why);

/* The bounded restart rate of on_crash restart: at most limit restarts
 * in any window_ms. times[0..VM_RESTART_MAX) holds the last restarts
 * (ms > 0, 0: none), oldest first; limit <= VM_RESTART_MAX. */
#define VM_RESTART_MAX 16
struct vm_restarts {
	uint64_t times[VM_RESTART_MAX];
};
/* How many restarts of r fall within the window ending at now_ms. */
unsigned vm_restarts_recent(const struct vm_restarts *r, uint64_t now_ms,
			    uint64_t window_ms);
/* True if one more restart at now_ms keeps within limit per window_ms;
 * it is then recorded. False: the limit is reached, nothing recorded. */
bool vm_restarts_take(struct vm_restarts *r, uint64_t now_ms, unsigned limit,
		      uint64_t window_ms);

#endif
