/*
 * VMs that outlive their daemon (issue 14, docs/architecture.md,
 * "Re-attaching workers after a daemon restart"): with --keep-vms every
 * VM's worker gets a rendezvous socket STATE/run/vm-ID.sock and the daemon
 * writes a record STATE/run/vm-ID.worker (worker_record.h); a daemon that
 * leaves on purpose (SIGUSR2) lets go of its workers without stopping
 * them; a new daemon on the same state directory adopts every worker whose
 * record still names a live process that answers, before the VMs still
 * recorded running are marked crashed.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/daemon_impl.h"
#include "api/daemon_mem.h"
#include "api/daemon_reattach.h"
#include "api/daemon_switch.h"
#include "util/clock.h"
#include "util/log.h"
#include "vmm/vmproto.h"
#include "vmm/worker_record.h"

#define LOG "daemon"

int daemon_run_path(struct daemon *d, int64_t id, const char *ext, char *buf,
		    size_t cap)
{
	int n;
	if (id)
		n = snprintf(buf, cap, "%s/run/vm-%" PRId64 ".%s",
			     d->cfg.state_dir, id, ext);
	else
		n = snprintf(buf, cap, "%s/run", d->cfg.state_dir);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

void daemon_reattach_forget(struct daemon *d, int64_t id)
{
	char path[4096];
	if (!daemon_run_path(d, id, "worker", path, sizeof(path)))
		unlink(path);
	if (!daemon_run_path(d, id, "sock", path, sizeof(path)))
		unlink(path);
}

/* A socket bound at path (mode 0600), not listening: the worker listens,
 * so that a daemon connecting later sees the worker as its peer. */
static int bind_at(const char *path, struct error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return error_set(err, ENAMETOOLONG,
				 "%s: longer than a unix socket path may be "
				 "(%zu bytes)",
				 path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return error_set(err, errno, "socket: %s", strerror(errno));
	unlink(path);
	mode_t old = umask(0177);
	int r = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r) {
		int e = errno;
		close(s);
		return error_set(err, e, "%s: %s", path, strerror(e));
	}
	return s;
}

int daemon_reattach_give(struct daemon *d, struct dvm *v, struct error *err)
{
	if (!d->cfg.keep_vms || d->cfg.in_process || !v->vm)
		return 0;
	char dir[4096], sock[4096], rec[4096];
	if (daemon_run_path(d, 0, NULL, dir, sizeof(dir)) ||
	    daemon_run_path(d, v->id, "sock", sock, sizeof(sock)) ||
	    daemon_run_path(d, v->id, "worker", rec, sizeof(rec)))
		return error_set(err, ENAMETOOLONG,
				 "state directory path too "
				 "long");
	if (mkdir(dir, 0700) && errno != EEXIST)
		return error_set(err, errno, "%s: %s", dir, strerror(errno));
	struct worker_record wr = {
		.vm_id = v->id,
		.gen = v->gen,
		.pid = vm_worker_pid(v->vm),
		.proto = VMPROTO_VERSION,
	};
	snprintf(wr.vm_name, sizeof(wr.vm_name), "%s", v->def.name);
	int r = worker_record_pid_start(wr.pid, &wr.pid_start);
	if (r)
		return error_set(err, -r, "worker %d: no start time",
				 (int)wr.pid);
	int s = bind_at(sock, err);
	if (s < 0)
		return s;
	unsigned grace = d->cfg.keep_vms_grace_s ? d->cfg.keep_vms_grace_s
						 : DAEMON_KEEP_VMS_GRACE_S;
	r = vm_rendezvous(v->vm, s, grace, v->gen, err);
	close(s);
	if (!r)
		r = worker_record_write(rec, &wr, err);
	if (r)
		daemon_reattach_forget(d, v->id);
	return r;
}

void daemon_reattach_leave(struct daemon *d)
{
	for (;;) {
		struct dvm *v = dvm_first_running(d);
		if (!v)
			break;
		pthread_mutex_lock(&v->op_lock);
		pthread_mutex_lock(&d->lock);
		struct vm *vm = v->vm;
		struct dvm_sched_slot slot = v->sched;
		v->vm = NULL;
		memset(&v->sched, 0, sizeof(v->sched));
		pthread_cond_broadcast(&v->ended_cond);
		pthread_mutex_unlock(&d->lock);
		if (vm) {
			int pid = vm_worker_pid(vm);
			vm_detach(vm);
			daemon_sched_detach(d, &slot);
			daemon_mem_detach(d, v);
			log_info(LOG, "%s: left running in worker %d",
				 v->def.name, pid);
		}
		pthread_mutex_unlock(&v->op_lock);
		dvm_put(d, v);
	}
}

/* Kill the recorded worker if it is still that process (a worker we
 * cannot take over must not run on unmanaged). */
static void end_worker(const struct worker_record *wr)
{
	uint64_t start = 0;
	if (!worker_record_pid_start(wr->pid, &start) && start == wr->pid_start)
		kill(wr->pid, SIGKILL);
}

/* Adopt the worker of v (caller holds v->op_lock). */
static int adopt(struct daemon *d, struct dvm *v,
		 const struct worker_record *wr, struct error *err)
{
	char sock[4096];
	if (daemon_run_path(d, v->id, "sock", sock, sizeof(sock)))
		return error_set(err, ENAMETOOLONG, "path too long");
	if (strcmp(wr->vm_name, v->def.name))
		return error_set(err, EPERM,
				 "the record names VM \"%s\", not \"%s\"",
				 wr->vm_name, v->def.name);
	if (v->state != VM_STATE_RUNNING && v->state != VM_STATE_PAUSED)
		return error_set(err, EINVAL,
				 "the inventory has the VM %s, not running",
				 vm_state_name(v->state));
	v->run_def = v->def;
	int r = vmdef_to_virt_config(&v->run_def, &v->board, err);
	if (r)
		return r;
	v->board.name = v->run_def.name;
	struct dvm_sched_slot slot = { 0 };
	r = daemon_mem_attach(d, v, &v->run_def, err);
	if (!r)
		r = daemon_sched_attach(d, &v->run_def, &slot, err);
	if (r) {
		daemon_mem_detach(d, v);
		return r;
	}
	/* the VM's ports on our switches: connected here, handed over with
	 * ATTACH (the worker's died with the old daemon's switches) */
	int port_fds[VIRT_MAX_VIRTIO];
	uint8_t port_nics[VIRT_MAX_VIRTIO];
	char port_note[200];
	unsigned n_ports = daemon_switch_dial_ports(d, &v->board, port_fds,
						    port_nics, port_note,
						    sizeof(port_note));
	struct vmproto_attached info;
	struct vm_adopt_params a = {
		.sock_path = sock,
		.pid = wr->pid,
		.pid_start = wr->pid_start,
		.gen = wr->gen,
		.name = v->def.name,
		.n_vcpus = v->run_def.cpus,
		.sched = slot.handle,
		.ops = { dvm_machine_ended, v, daemon_machine_panicked },
		.info = &info,
		.port_fds = port_fds,
		.port_nics = port_nics,
		.n_ports = n_ports,
	};
	pthread_mutex_lock(&d->lock);
	v->gen = wr->gen;
	v->sched = slot;
	pthread_mutex_unlock(&d->lock);
	struct vm *vm = vm_adopt(&a, err);
	for (unsigned i = 0; i < n_ports; i++)
		close(port_fds[i]); /* the worker has its own now */
	if (!vm) {
		pthread_mutex_lock(&d->lock);
		memset(&v->sched, 0, sizeof(v->sched));
		pthread_mutex_unlock(&d->lock);
		daemon_sched_detach(d, &slot);
		daemon_mem_detach(d, v);
		return -EIO;
	}
	pthread_mutex_lock(&d->lock);
	v->vm = vm;
	v->started_ns = clock_monotonic_ns();
	pthread_mutex_unlock(&d->lock);
	/* the worker's word on pause wins over the record */
	enum vm_state st = info.paused ? VM_STATE_PAUSED : VM_STATE_RUNNING;
	if (st != v->state && dvm_set_state(d, v, st, err))
		log_warn(LOG, "%s: %s", v->def.name, err->msg);
	char msg[400];
	int n = snprintf(msg, sizeof(msg),
			 "worker %d re-attached after %u s without a daemon",
			 (int)wr->pid, info.detached_s);
	if (n_ports && n > 0 && (size_t)n < sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - (size_t)n,
			      "; %u switch port(s) connected again", n_ports);
	if (port_note[0] && n > 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n,
			 "; not connected again (that network stays down "
			 "until the next start): %s",
			 port_note);
	struct error e = { 0 };
	if (inventory_event_add(d->inv, v->def.name, "daemon", "reattach", "ok",
				msg, &e))
		log_warn(LOG, "event not recorded: %s", e.msg);
	log_info(LOG, "%s: %s", v->def.name, msg);
	return 0;
}

static struct dvm *find_id(struct daemon *d, int64_t id)
{
	struct dvm *v = NULL;
	pthread_mutex_lock(&d->lock);
	for (struct dvm *x = d->vms; x && !v; x = x->next)
		if (x->id == id && !x->deleted) {
			v = x;
			v->refs++;
		}
	pthread_mutex_unlock(&d->lock);
	return v;
}

/* One record file: adopt its worker or report why not. Appends an
 * adopted VM's id to *kept. */
static void one(struct daemon *d, const char *file, int64_t *kept,
		size_t *n_kept, size_t cap)
{
	char path[4096];
	struct worker_record wr;
	struct error err = { 0 };
	int64_t id = 0;
	if (sscanf(file, "vm-%" SCNd64 ".worker", &id) != 1 || id < 1)
		return;
	if (snprintf(path, sizeof(path), "%s/run/%s", d->cfg.state_dir, file) >=
	    (int)sizeof(path))
		return;
	if (worker_record_read(path, &wr, &err)) {
		log_error(LOG, "%s (removed)", err.msg);
		daemon_reattach_forget(d, id);
		return;
	}
	struct dvm *v = wr.vm_id == id ? find_id(d, id) : NULL;
	if (!v) {
		log_warn(LOG,
			 "%s: no VM %" PRId64 " in the inventory: its worker "
			 "%d is ended",
			 path, id, (int)wr.pid);
		end_worker(&wr);
		daemon_reattach_forget(d, id);
		return;
	}
	pthread_mutex_lock(&v->op_lock);
	int r = *n_kept < cap ? adopt(d, v, &wr, &err)
			      : error_set(&err, ENOSPC, "too many records");
	if (!r) {
		kept[(*n_kept)++] = v->id;
	} else {
		/* the VM is marked crashed with the others; say why */
		bool gone = err.code == ESRCH;
		char msg[200];
		snprintf(msg, sizeof(msg), "%s%.170s",
			 gone ? "its worker is gone: " : "not re-attached: ",
			 err.msg);
		struct error e = { 0 };
		if (inventory_event_add(d->inv, v->def.name, "daemon",
					"reattach", "crashed", msg, &e))
			log_warn(LOG, "event not recorded: %s", e.msg);
		log_warn(LOG, "%s: %s", v->def.name, msg);
		if (!gone)
			end_worker(&wr);
		daemon_reattach_forget(d, id);
		pthread_mutex_lock(&d->lock);
		snprintf(v->reason, sizeof(v->reason), "%s",
			 gone ? "worker-lost" : "not-attached");
		pthread_mutex_unlock(&d->lock);
	}
	pthread_mutex_unlock(&v->op_lock);
	dvm_put(d, v);
}

int daemon_reattach_open(struct daemon *d, int64_t **kept, size_t *n_kept)
{
	*kept = NULL;
	*n_kept = 0;
	char dir[4096];
	if (d->cfg.in_process || daemon_run_path(d, 0, NULL, dir, sizeof(dir)))
		return 0;
	DIR *dh = opendir(dir);
	if (!dh)
		return 0; /* none recorded */
	size_t cap = 4096;
	int64_t *ids = calloc(cap, sizeof(*ids));
	struct dirent *e;
	while (ids && (e = readdir(dh))) {
		size_t n = strlen(e->d_name);
		if (n > 7 && !strcmp(e->d_name + n - 7, ".worker"))
			one(d, e->d_name, ids, n_kept, cap);
	}
	closedir(dh);
	*kept = ids;
	return 0;
}
