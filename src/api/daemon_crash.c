/*
 * What the daemon does when a VM's machine ends badly (issue 14, item 4;
 * docs/daemon.md, "When a worker dies"): the state it ends in and why,
 * and the VM's on_crash policy: preserve (stays crashed), destroy
 * (stopped, reason crashed), restart (started again, at most
 * restart_limit times within restart_window_s; then it stays crashed and
 * the event says so). And a guest panic (issue 19; docs/shutdown.md): the
 * machine acts on its on_panic itself, the daemon records a "panic"
 * event with the guest's last console lines and follows with the state.
 */
#include <errno.h>
#include <stdint.h>
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
		record(d, v->def.name, "crash-restart", "refused", msg);
		log_warn(LOG, "%s: %s", v->def.name, msg);
		return;
	}
	struct error err = { 0 };
	int r = dvm_start(d, v, &err);
	if (r)
		snprintf(msg, sizeof(msg),
			 "on_crash restart (%u of %u within %u s) failed: "
			 "%.100s",
			 n, limit, window, err.msg);
	else
		snprintf(msg, sizeof(msg),
			 "on_crash restart (%u of %u within %u s)", n, limit,
			 window);
	record(d, v->def.name, "crash-restart", r ? "failed" : "ok", msg);
	log_info(LOG, "%s: %s", v->def.name, msg);
}

/* The last lines of the console (at most lines of them, cap bytes in
 * out), printable ASCII only, joined with " | ". */
static void last_lines(struct vm *vm, unsigned lines, char *out, size_t cap)
{
	uint8_t raw[1024];
	size_t n = vm_console_tail(vm, raw, sizeof(raw));
	/* walk back over lines lines with text */
	size_t start = n;
	unsigned got = 0;
	while (start > 0 && got < lines) {
		size_t end = start;
		while (start > 0 && raw[start - 1] != '\n')
			start--;
		bool text = false;
		for (size_t i = start; i < end; i++)
			text |= raw[i] > ' ' && raw[i] < 0x7f;
		got += text;
		if (start > 0 && got < lines)
			start--;
	}
	size_t o = 0;
	bool sep = false;
	for (size_t i = start; i < n && o + 4 < cap; i++) {
		uint8_t c = raw[i];
		if (c == '\n' || c == '\r') {
			sep = o > 0;
			continue;
		}
		if (sep) {
			memcpy(out + o, " | ", 3);
			o += 3;
			sep = false;
			if (o + 4 >= cap)
				break;
		}
		out[o++] = c >= ' ' && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

void daemon_on_panic(struct daemon *d, struct dvm *v, unsigned gen,
		     enum virt_panic how)
{
	static const char *const hows[] = {
		[VIRT_PANIC_PVPANIC] = "it said so through pvpanic",
		[VIRT_PANIC_STUCK] = "it stopped making progress",
		[VIRT_PANIC_REBOOT] = "it rebooted after a panic",
	};
	static const char *const acts[] = {
		[VIRT_ON_PANIC_STOP] = "stop: stopping it",
		[VIRT_ON_PANIC_PAUSE] = "pause: pausing it",
		[VIRT_ON_PANIC_RESTART] = "restart: restarting it",
	};
	pthread_mutex_lock(&d->lock);
	bool current = v->vm && v->gen == gen;
	struct vm *vm = current ? v->vm : NULL;
	pthread_mutex_unlock(&d->lock);
	/* the definition the machine runs decides what it did */
	enum virt_on_panic act = current ? v->run_def.on_panic
					 : v->def.on_panic;
	if ((unsigned)act > VIRT_ON_PANIC_RESTART)
		act = VIRT_ON_PANIC_STOP;
	char tail[320] = "";
	if (vm) /* op_lock held: the machine is not released under us */
		last_lines(vm, 3, tail, sizeof(tail));
	char msg[512];
	snprintf(msg, sizeof(msg), "the guest panicked (%s); on_panic %s%s%s",
		 (unsigned)how <= VIRT_PANIC_REBOOT ? hows[how] : "?",
		 acts[act], tail[0] ? "; console: " : "", tail);
	record(d, v->def.name, "panic", "panicked", msg);
	log_warn(LOG, "%s: %s", v->def.name, msg);
	/* stop: the machine's end follows (crashed, reason panicked);
	 * restart: it reboots and runs on */
	if (!current || act != VIRT_ON_PANIC_PAUSE ||
	    v->state != VM_STATE_RUNNING)
		return;
	struct error err = { 0 };
	if (dvm_set_state(d, v, VM_STATE_PAUSED, &err))
		log_error(LOG, "%s: %s", v->def.name, err.msg);
	pthread_mutex_lock(&d->lock);
	snprintf(v->reason, sizeof(v->reason), "panicked");
	pthread_mutex_unlock(&d->lock);
}

void daemon_machine_panicked(void *opaque, struct vm *vm, enum virt_panic how)
{
	struct dvm *v = opaque;
	struct daemon *d = v->d;
	(void)vm;

	pthread_mutex_lock(&d->lock);
	v->refs++; /* the reaper's, dropped by daemon_reap_panic */
	v->panic_gen = v->gen;
	v->panic_how = how;
	v->panic_pending = true;
	pthread_cond_broadcast(&d->reap_cond);
	pthread_mutex_unlock(&d->lock);
}

void daemon_reap_panic(struct daemon *d, struct dvm *v)
{
	v->panic_pending = false;
	unsigned gen = v->panic_gen;
	enum virt_panic how = v->panic_how;
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_lock(&v->op_lock);
	daemon_on_panic(d, v, gen, how);
	pthread_mutex_unlock(&v->op_lock);
	dvm_put(d, v);
	pthread_mutex_lock(&d->lock);
}
