/*
 * What the daemon does when a VM's machine ends badly (issue 14, item 4;
 * docs/daemon.md, "When a worker dies"): the state it ends in and why,
 * and the VM's on_crash policy: preserve (stays crashed), destroy
 * (stopped, reason crashed), restart (started again, at most
 * restart_limit times within restart_window_s; then it stays crashed and
 * the event says so).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/daemon_impl.h"
#include "util/clock.h"
#include "util/log.h"

#define LOG "daemon"

#define RESTART_LIMIT	 3
#define RESTART_WINDOW_S 60

static void record(struct daemon *d, const char *vm, const char *action,
		   const char *result, const char *msg)
{
	struct error err = { 0 };
	if (inventory_event_add(d->inv, vm, "daemon", action, result, msg,
				&err))
		log_warn(LOG, "event not recorded: %s", err.msg);
}

enum vm_state daemon_end_state(struct daemon *d, struct dvm *v,
			       enum virt_end why, bool worker_died)
{
	enum vm_state st = vm_lifecycle_ended(why);
	const char *reason = "";
	if (why == VIRT_END_CRASHED) {
		reason = worker_died ? "worker-died" : "crashed";
		if (v->def.on_crash == VMDEF_ON_CRASH_DESTROY) {
			st = VM_STATE_STOPPED; /* libvirt: shut off, crashed */
			reason = "crashed";
		}
	} else if (why == VIRT_END_PANICKED) {
		reason = "panicked"; /* libvirt: crashed, panicked */
	}
	pthread_mutex_lock(&d->lock);
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
	pthread_mutex_unlock(&d->lock);
	return st;
}

void daemon_on_crash(struct daemon *d, struct dvm *v)
{
	if (v->def.on_crash != VMDEF_ON_CRASH_RESTART)
		return;
	pthread_mutex_lock(&d->lock);
	bool closing = d->closing || v->deleted;
	pthread_mutex_unlock(&d->lock);
	if (closing)
		return;
	unsigned limit = d->cfg.restart_limit ? d->cfg.restart_limit
					      : RESTART_LIMIT;
	unsigned window = d->cfg.restart_window_s ? d->cfg.restart_window_s
						  : RESTART_WINDOW_S;
	if (limit > VM_RESTART_MAX)
		limit = VM_RESTART_MAX;
	uint64_t now = clock_monotonic_ns() / 1000000;
	char msg[192];
	pthread_mutex_lock(&d->lock);
	bool ok = vm_restarts_take(&v->restarts, now, limit,
				   (uint64_t)window * 1000);
	unsigned n = vm_restarts_recent(&v->restarts, now,
					(uint64_t)window * 1000);
	pthread_mutex_unlock(&d->lock);
	if (!ok) {
		snprintf(msg, sizeof(msg),
			 "on_crash restart: not restarted, %u restarts within "
			 "%u s already (the limit); it stays crashed",
			 limit, window);
		record(d, v->def.name, "restart", "refused", msg);
		log_warn(LOG, "%s: %s", v->def.name, msg);
		return;
	}
	struct error err = { 0 };
	int r = daemon_vm_restart(d, v, &err);
	if (r)
		snprintf(msg, sizeof(msg),
			 "on_crash restart (%u of %u within %u s) failed: "
			 "%.100s",
			 n, limit, window, err.msg);
	else
		snprintf(msg, sizeof(msg),
			 "on_crash restart (%u of %u within %u s)", n, limit,
			 window);
	record(d, v->def.name, "restart", r ? "failed" : "ok", msg);
	log_info(LOG, "%s: %s", v->def.name, msg);
}
