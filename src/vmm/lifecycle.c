/*
 * The VM lifecycle state machine. See lifecycle.h.
 */
#include <errno.h>
#include <string.h>

#include "vmm/lifecycle.h"

static const char *const state_names[] = {
	[VM_STATE_DEFINED] = "defined", [VM_STATE_RUNNING] = "running",
	[VM_STATE_PAUSED] = "paused",	[VM_STATE_STOPPED] = "stopped",
	[VM_STATE_CRASHED] = "crashed", [VM_STATE_SUSPENDED] = "suspended",
};

static const char *const op_names[] = {
	[VM_OP_START] = "start",       [VM_OP_STOP] = "stop",
	[VM_OP_SHUTDOWN] = "shutdown", [VM_OP_PAUSE] = "pause",
	[VM_OP_RESUME] = "resume",     [VM_OP_RESET] = "reset",
	[VM_OP_DELETE] = "delete",     [VM_OP_SUSPEND] = "suspend",
};

#define N_STATES (sizeof(state_names) / sizeof(state_names[0]))
#define N_OPS	 (sizeof(op_names) / sizeof(op_names[0]))

const char *vm_state_name(enum vm_state s)
{
	if ((unsigned)s >= N_STATES)
		return "?";
	return state_names[s];
}

int vm_state_parse(const char *s, enum vm_state *out)
{
	for (unsigned i = 0; i < N_STATES; i++) {
		if (s && strcmp(s, state_names[i]) == 0) {
			*out = (enum vm_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *vm_op_name(enum vm_op op)
{
	if ((unsigned)op >= N_OPS)
		return "?";
	return op_names[op];
}

bool vm_state_live(enum vm_state s)
{
	return s == VM_STATE_RUNNING || s == VM_STATE_PAUSED;
}

int vm_lifecycle_check(enum vm_state s, enum vm_op op, const char *name,
		       struct error *err)
{
	if ((unsigned)s >= N_STATES || (unsigned)op >= N_OPS)
		return error_set(err, EINVAL, "%s: no operation %u in state %u",
				 name, (unsigned)op, (unsigned)s);
	const char *sn = state_names[s];
	switch (op) {
	case VM_OP_START:
		if (vm_state_live(s))
			return error_set(err, EBUSY, "%s is already %s", name,
					 sn);
		return 0;
	case VM_OP_STOP:
		if (!vm_state_live(s) && s != VM_STATE_SUSPENDED)
			return error_set(err, EBUSY, "%s is %s, not running",
					 name, sn);
		return 0;
	case VM_OP_SUSPEND:
		if (!vm_state_live(s))
			return error_set(err, EBUSY, "%s is %s, not running",
					 name, sn);
		return 0;
	case VM_OP_SHUTDOWN:
	case VM_OP_PAUSE:
	case VM_OP_RESET:
		if (s != VM_STATE_RUNNING)
			return error_set(err, EBUSY, "%s is %s, not running",
					 name, sn);
		return 0;
	case VM_OP_RESUME:
		if (s != VM_STATE_PAUSED && s != VM_STATE_SUSPENDED)
			return error_set(err, EBUSY,
					 "%s is %s, not paused or suspended",
					 name, sn);
		return 0;
	case VM_OP_DELETE:
		if (vm_state_live(s))
			return error_set(err, EBUSY,
					 "%s is %s: stop it before deleting "
					 "it",
					 name, sn);
		return 0;
	}
	return error_set(err, EINVAL, "%s: unknown operation", name);
}

enum vm_state vm_lifecycle_next(enum vm_state s, enum vm_op op)
{
	switch (op) {
	case VM_OP_START:
	case VM_OP_RESUME:
	case VM_OP_RESET: return VM_STATE_RUNNING;
	case VM_OP_STOP: return VM_STATE_STOPPED;
	case VM_OP_PAUSE: return VM_STATE_PAUSED;
	case VM_OP_SUSPEND: return VM_STATE_SUSPENDED;
	case VM_OP_SHUTDOWN:
	case VM_OP_DELETE: break;
	}
	return s;
}

enum vm_state vm_lifecycle_ended(enum virt_end why)
{
	/* a panicked guest whose on_panic is stop ends crashed (libvirt:
	 * crashed, reason panicked; the daemon gives the reason) */
	return why == VIRT_END_CRASHED || why == VIRT_END_PANICKED
		       ? VM_STATE_CRASHED
		       : VM_STATE_STOPPED;
}

unsigned vm_restarts_recent(const struct vm_restarts *r, uint64_t now_ms,
			    uint64_t window_ms)
{
	unsigned n = 0;
	for (unsigned i = 0; i < VM_RESTART_MAX; i++)
		if (r->times[i] && r->times[i] <= now_ms &&
		    now_ms - r->times[i] < window_ms)
			n++;
	return n;
}

bool vm_restarts_take(struct vm_restarts *r, uint64_t now_ms, unsigned limit,
		      uint64_t window_ms)
{
	if (limit > VM_RESTART_MAX)
		limit = VM_RESTART_MAX;
	if (vm_restarts_recent(r, now_ms, window_ms) >= limit)
		return false;
	memmove(r->times, r->times + 1, sizeof(r->times) - sizeof(r->times[0]));
	r->times[VM_RESTART_MAX - 1] = now_ms;
	return true;
}
