/*
 * The VM object: a running machine, its console fan-out and how it ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/log.h"
#include "vmm/vm.h"
#include "vmm/vmproc.h"

#define LOG "vm"

struct vm_viewer {
	struct vm *vm;
	struct vm_viewer_ops ops;
	bool writer;
	struct vm_viewer *next;
};

struct vm {
	struct virt *board; /* in this process, or */
	bool remote;	    /* in a worker process: */
	/* the worker, until vm_destroy: the owner lets go of the process
	 * (and the scheduler handle it uses) even while viewers keep the
	 * object; calls take proc_lock to read, vm_destroy to clear */
	pthread_rwlock_t proc_lock;
	struct vmproc *proc;
	enum virt_end end_why; /* after vm_destroy let go of the worker */
	int end_code;
	char end_cause[128];
	pthread_mutex_t stats_lock; /* the worker's last figures */
	struct vmproto_stats *stats;
	uint64_t stats_ns;
	struct vm_ops ops;

	/* console: scrollback ring and viewers, under con_lock */
	pthread_mutex_t con_lock;
	uint8_t ring[VM_SCROLLBACK];
	size_t ring_head; /* next write position */
	size_t ring_len;
	struct vm_viewer *viewers;
	bool has_writer;
	bool ended;
	unsigned refs; /* the owner and each viewer, under con_lock */
};

/* Drop a reference; the last one frees the machine and the VM. */
static void vm_put(struct vm *vm)
{
	pthread_mutex_lock(&vm->con_lock);
	bool last = --vm->refs == 0;
	pthread_mutex_unlock(&vm->con_lock);
	if (!last)
		return;
	if (vm->remote)
		vmproc_destroy(vm->proc); /* NULL after vm_destroy */
	else
		virt_destroy(vm->board); /* stops and joins first */
	pthread_rwlock_destroy(&vm->proc_lock);
	pthread_mutex_destroy(&vm->stats_lock);
	pthread_mutex_destroy(&vm->con_lock);
	free(vm->stats);
	free(vm);
}

static void console_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;

	pthread_mutex_lock(&vm->con_lock);
	for (size_t i = 0; i < len; i++) {
		vm->ring[vm->ring_head] = buf[i];
		vm->ring_head = (vm->ring_head + 1) % VM_SCROLLBACK;
	}
	vm->ring_len = vm->ring_len + len > VM_SCROLLBACK ? VM_SCROLLBACK
							  : vm->ring_len + len;
	for (struct vm_viewer *v = vm->viewers; v; v = v->next)
		v->ops.output(v->ops.opaque, buf, len);
	pthread_mutex_unlock(&vm->con_lock);
}

static void machine_ended(void *opaque, enum virt_end why, int code)
{
	struct vm *vm = opaque;

	pthread_mutex_lock(&vm->con_lock);
	vm->ended = true;
	for (struct vm_viewer *v = vm->viewers; v; v = v->next)
		if (v->ops.closed)
			v->ops.closed(v->ops.opaque);
	pthread_mutex_unlock(&vm->con_lock);
	if (vm->ops.ended)
		vm->ops.ended(vm->ops.opaque, vm, why, code);
}

static void proc_ended(void *opaque, enum virt_end why, int code)
{
	machine_ended(opaque, why, code);
}

static void machine_panicked(void *opaque, enum virt_panic how)
{
	struct vm *vm = opaque;

	if (vm->ops.panicked)
		vm->ops.panicked(vm->ops.opaque, vm, how);
}

static struct vm *start_worker(struct vm *vm, const struct vm_params *p,
			       struct error *err)
{
	struct vmproc_params wp = {
		.exe = p->worker_exe,
		.def_json = p->def_json,
		.n_vcpus = p->n_vcpus,
		.sched = p->sched,
		.ops = { console_output, proc_ended, vm, machine_panicked },
		.restore = p->restore,
		.restore_fd = p->restore_fd,
		.start_paused = p->start_paused,
		.start_held = p->start_held,
		.mirror_in = p->mirror_in,
		.swap = p->swap,
		.swap_fd = p->swap_fd,
		.kernel = p->board ? p->board->kernel : NULL,
	};
	vm->remote = true;
	pthread_rwlock_wrlock(&vm->proc_lock);
	int r = vmproc_start(&wp, &vm->proc, err);
	pthread_rwlock_unlock(&vm->proc_lock);
	if (r) {
		pthread_rwlock_destroy(&vm->proc_lock);
		pthread_mutex_destroy(&vm->stats_lock);
		pthread_mutex_destroy(&vm->con_lock);
		free(vm);
		return NULL;
	}
	return vm;
}

struct vm *vm_start(const struct vm_params *p, struct error *err)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	vm->ops = p->ops;
	vm->refs = 1;
	pthread_mutex_init(&vm->con_lock, NULL);
	pthread_rwlock_init(&vm->proc_lock, NULL);
	pthread_mutex_init(&vm->stats_lock, NULL);
	if (p->worker_exe)
		return start_worker(vm, p, err);
	struct virt_host_ops hops = {
		.console_output = console_output,
		.ended = machine_ended,
		.panicked = machine_panicked,
		.gate = p->gate,
		.opaque = vm,
	};
	vm->board = virt_create(p->board, &hops, err);
	if (!vm->board) {
		pthread_rwlock_destroy(&vm->proc_lock);
		pthread_mutex_destroy(&vm->stats_lock);
		pthread_mutex_destroy(&vm->con_lock);
		free(vm);
		return NULL;
	}
	int r = virt_start(vm->board, err);
	if (r) {
		if (r == 1)
			error_set(err, EINVAL, "nothing to run");
		virt_destroy(vm->board);
		pthread_rwlock_destroy(&vm->proc_lock);
		pthread_mutex_destroy(&vm->stats_lock);
		pthread_mutex_destroy(&vm->con_lock);
		free(vm);
		return NULL;
	}
	return vm;
}

/* The worker of a remote VM, read-locked: NULL once vm_destroy let go of
 * it. proc_put always follows. */
static struct vmproc *proc_get(const struct vm *vm)
{
	struct vm *m = (struct vm *)vm;
	pthread_rwlock_rdlock(&m->proc_lock);
	return m->proc;
}

static void proc_put(const struct vm *vm)
{
	pthread_rwlock_unlock(&((struct vm *)vm)->proc_lock);
}

static int proc_call(struct vm *vm, unsigned type, const void *data,
		     uint32_t len)
{
	struct vmproc *p = proc_get(vm);
	int r = p ? vmproc_call(p, type, 0, data, len) : -EPIPE;
	proc_put(vm);
	return r;
}

static int remote_save(struct vm *vm, int fd, unsigned budget_ms, int32_t flags,
		       const char *snapshot, struct virt_save_stats *st,
		       struct virt_precopy_result *res, struct error *err)
{
	struct vmproto_saved sv;
	struct vmproc *p = proc_get(vm);
	/* a big VM to a slow disk: minutes, not the 5 s of a call */
	int r = p ? vmproc_save(p, fd, (int32_t)budget_ms, flags, snapshot, &sv,
				600 * 1000, err)
		  : error_set(err, EPIPE, "save: the VM's worker is gone");
	proc_put(vm);
	if (!r && res) {
		res->passes = (unsigned)sv.passes;
		res->final_frames = sv.final_frames;
		res->final_pause_ns = sv.final_pause_ns;
		res->dirty_rate = sv.dirty_rate;
		res->disk_bytes = sv.disk_bytes;
	}
	if (!r && st) {
		st->bytes = sv.bytes;
		st->ram_frames = sv.ram_frames;
		st->ram_frames_saved = sv.ram_frames_saved;
		st->pause_ns = sv.pause_ns;
		st->total_ns = sv.total_ns;
	}
	return r;
}

int vm_save_fd(struct vm *vm, int fd, struct virt_save_stats *st,
	       struct error *err)
{
	if (!vm->remote)
		return virt_save_fd(vm->board, fd, st, err);
	return remote_save(vm, fd, 0, 0, NULL, st, NULL, err);
}

int vm_snapshot_save(struct vm *vm, const char *name, int fd,
		     struct virt_save_stats *st, struct error *err)
{
	if (!vm->remote)
		return virt_snapshot_save(vm->board, name, fd, st, err);
	return remote_save(vm, fd, 0, VMPROTO_SAVE_SNAPSHOT, name, st, NULL,
			   err);
}

int vm_migrate_fd(struct vm *vm, int fd, unsigned budget_ms, bool copy_storage,
		  struct virt_save_stats *st, struct virt_precopy_result *res,
		  struct error *err)
{
	if (!vm->remote) {
		struct virt_precopy_params prm = {
			.downtime_ns = (uint64_t)budget_ms * 1000000,
			.stop_and_copy = budget_ms == 0,
			.release_disks = !copy_storage,
			.mirror_disks = copy_storage,
		};
		return virt_precopy_fd(vm->board, fd, &prm, st, res, err);
	}
	return remote_save(vm, fd, budget_ms,
			   VMPROTO_SAVE_MIGRATE |
				   (copy_storage ? VMPROTO_SAVE_MIRROR : 0),
			   NULL, st, res, err);
}

int vm_precopy_local(struct vm *vm, int fd,
		     const struct virt_precopy_params *prm,
		     struct virt_save_stats *st,
		     struct virt_precopy_result *res, struct error *err)
{
	if (vm->remote)
		return error_set(err, EINVAL, "save: the VM is in a worker");
	return virt_precopy_fd(vm->board, fd, prm, st, res, err);
}

void vm_migrate_progress(struct vm *vm, struct virt_precopy_progress *pr)
{
	memset(pr, 0, sizeof(*pr));
	if (!vm->remote)
		return;
	struct vmproto_progress x;
	struct vmproc *p = proc_get(vm);
	if (p) {
		vmproc_progress(p, &x);
		pr->pass = (unsigned)x.pass;
		pr->bytes_sent = x.bytes_sent;
		pr->dirty_frames = x.dirty_frames;
		pr->dirty_rate = x.dirty_rate;
		pr->bandwidth = x.bandwidth;
		pr->disk_done = x.disk_done;
		pr->disk_total = x.disk_total;
		pr->disk_dirty = x.disk_dirty;
		pr->disk_sent = x.disk_sent;
	}
	proc_put(vm);
}

int vm_pause(struct vm *vm)
{
	if (vm->remote)
		return proc_call(vm, VMPROTO_PAUSE, NULL, 0);
	return virt_pause(vm->board);
}

int vm_resume(struct vm *vm)
{
	if (vm->remote)
		return proc_call(vm, VMPROTO_RESUME, NULL, 0);
	/* disks a migration handed over (back) first: docs/vm-state.md */
	struct error e = { 0 };
	int r = virt_disks_activate(vm->board, &e);
	if (r) {
		log_warn("vm", "not resumed: %s", e.msg);
		return r;
	}
	return virt_resume(vm->board);
}

void vm_reset(struct vm *vm)
{
	if (vm->remote)
		proc_call(vm, VMPROTO_RESET, NULL, 0);
	else
		virt_reset(vm->board);
}

int vm_power_button(struct vm *vm)
{
	if (vm->remote)
		return proc_call(vm, VMPROTO_POWER, NULL, 0);
	return virt_power_button(vm->board);
}

int vm_announce(struct vm *vm)
{
	struct error err = { 0 };

	if (vm->remote)
		return proc_call(vm, VMPROTO_ANNOUNCE, NULL, 0);
	return virt_announce(vm->board, NULL, &err);
}

int vm_disk_snapshot(struct vm *vm, const char *name, bool del,
		     struct error *err)
{
	if (!vm->remote)
		return virt_disk_snapshot(vm->board, name, del, err);
	/* the worker says why in its log; the reply carries the errno */
	struct vmproc *p = proc_get(vm);
	int r = p ? vmproc_call_timeout(p, VMPROTO_DISK_SNAPSHOT, del, name,
					(uint32_t)strlen(name), 60000)
		  : -EPIPE;
	proc_put(vm);
	if (r > 0 || r < -4095) /* the worker is not trusted */
		r = -EPROTO;
	if (r)
		error_set(err, -r, "snapshot %s of the running VM's disks: %s",
			  name,
			  r == -EPIPE ? "the VM's worker is gone"
				      : strerror(-r));
	return r;
}

int vm_disk_snapshot_external(struct vm *vm, const char *const *overlays,
			      unsigned n, struct error *err)
{
	if (!vm->remote)
		return virt_disk_snapshot_external(vm->board, overlays, n, err);
	int fds[VIRT_MAX_VIRTIO];
	char *data = malloc(VIRT_MAX_VIRTIO * 4096); /* small stacks */
	size_t len = 0;
	unsigned k;
	int r = 0;

	if (!data)
		return error_set(err, ENOMEM, "out of memory");
	if (n > VIRT_MAX_VIRTIO)
		r = error_set(err, EINVAL, "too many disks");
	for (k = 0; k < n && !r; k++) {
		size_t l = strlen(overlays[k]) + 1;
		fds[k] = -1;
		if (l > 4096)
			r = error_set(err, ENAMETOOLONG, "%.64s...: too long",
				      overlays[k]);
		fds[k] = r ? -1 : open(overlays[k], O_RDWR | O_CLOEXEC);
		if (!r && fds[k] < 0)
			r = error_set(err, errno, "overlay %s: %s", overlays[k],
				      strerror(errno));
		if (!r) {
			memcpy(data + len, overlays[k], l);
			len += l;
		}
	}
	if (r) {
		for (unsigned i = 0; i < k; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		free(data);
		return r;
	}
	/* the worker says why in its log; the reply carries the errno */
	struct vmproc *p = proc_get(vm);
	r = p ? vmproc_call_fds(p, VMPROTO_DISK_SNAPSHOT_EXT, (int32_t)n, data,
				(uint32_t)len, fds, n, 60000)
	      : -EPIPE;
	proc_put(vm);
	for (k = 0; k < n; k++)
		close(fds[k]);
	free(data);
	if (r > 0 || r < -4095)
		r = -EPROTO;
	if (r)
		error_set(err, -r,
			  "external snapshot of the running VM's disks: %s",
			  r == -EPIPE ? "the VM's worker is gone"
				      : strerror(-r));
	return r;
}

int vm_disk_caps(struct vm *vm, const struct virt_disk_cap *caps, unsigned n)
{
	if (n > VIRT_MAX_VIRTIO)
		return -EINVAL;
	if (!vm->remote)
		return virt_set_disk_caps(vm->board, caps, n);
	struct vmproc *p = proc_get(vm);
	int r = p ? vmproc_call_timeout(p, VMPROTO_DISK_CAP, 0, caps,
					(uint32_t)(n * sizeof(*caps)), 2000)
		  : -EPIPE;
	proc_put(vm);
	if (r > 0 || r < -4095) /* the worker is not trusted */
		r = -EPROTO;
	return r;
}

void vm_stop(struct vm *vm, int code)
{
	if (!vm->remote) {
		virt_stop(vm->board, code);
		return;
	}
	struct vmproc *p = proc_get(vm);
	if (p)
		vmproc_stop(p, code);
	proc_put(vm);
}

enum virt_end vm_wait(struct vm *vm, int *code)
{
	if (!vm->remote)
		return virt_wait(vm->board, code);
	struct vmproc *p = proc_get(vm);
	enum virt_end why = vm->end_why;
	int c = vm->end_code;
	if (p)
		why = vmproc_wait(p, &c);
	proc_put(vm);
	if (code)
		*code = c;
	return why;
}

bool vm_running(const struct vm *vm)
{
	if (!vm->remote)
		return virt_running(vm->board);
	struct vmproc *p = proc_get(vm);
	bool r = p && vmproc_running(p);
	proc_put(vm);
	return r;
}

struct vm *vm_hold(struct vm *vm)
{
	pthread_mutex_lock(&vm->con_lock);
	vm->refs++;
	pthread_mutex_unlock(&vm->con_lock);
	return vm;
}

void vm_release(struct vm *vm)
{
	if (vm)
		vm_put(vm);
}

int vm_worker_pid(const struct vm *vm)
{
	if (!vm->remote)
		return 0;
	struct vmproc *p = proc_get(vm);
	int pid = p ? (int)vmproc_pid(p) : 0;
	proc_put(vm);
	return pid;
}

const char *vm_end_cause(struct vm *vm)
{
	if (!vm->remote)
		return NULL;
	struct vmproc *p = proc_get(vm);
	if (p && vmproc_cause(p))
		snprintf(vm->end_cause, sizeof(vm->end_cause), "%s",
			 vmproc_cause(p));
	proc_put(vm);
	return vm->end_cause[0] ? vm->end_cause : NULL;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (vm_running(vm))
		vm_stop(vm, 0);
	if (vm->remote) {
		/* let go of the worker now: viewers may keep the object */
		vm->end_why = vm_wait(vm, &vm->end_code);
		vm_end_cause(vm);
		pthread_rwlock_wrlock(&vm->proc_lock);
		struct vmproc *p = vm->proc;
		vm->proc = NULL;
		pthread_rwlock_unlock(&vm->proc_lock);
		vmproc_destroy(p);
	} else {
		virt_wait(vm->board, NULL);
	}
	/* viewers still attached keep the object until they detach */
	vm_put(vm);
}

/* ---- re-attach (docs/architecture.md, "Re-attaching workers") ---------- */

struct vm *vm_adopt(const struct vm_adopt_params *a, struct error *err)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	vm->ops = a->ops;
	vm->refs = 1;
	vm->remote = true;
	pthread_mutex_init(&vm->con_lock, NULL);
	pthread_rwlock_init(&vm->proc_lock, NULL);
	pthread_mutex_init(&vm->stats_lock, NULL);
	struct vmproc_adopt pa = {
		.sock_path = a->sock_path,
		.pid = a->pid,
		.pid_start = a->pid_start,
		.gen = a->gen,
		.name = a->name,
		.n_vcpus = a->n_vcpus,
		.sched = a->sched,
		.ops = { console_output, proc_ended, vm, machine_panicked },
		.port_fds = a->port_fds,
		.port_nics = a->port_nics,
		.n_ports = a->n_ports,
	};
	pthread_rwlock_wrlock(&vm->proc_lock);
	int r = vmproc_adopt(&pa, &vm->proc, a->info, err);
	pthread_rwlock_unlock(&vm->proc_lock);
	if (r) {
		pthread_rwlock_destroy(&vm->proc_lock);
		pthread_mutex_destroy(&vm->stats_lock);
		pthread_mutex_destroy(&vm->con_lock);
		free(vm);
		return NULL;
	}
	return vm;
}

int vm_rendezvous(struct vm *vm, int listen_fd, unsigned grace_s, uint32_t gen,
		  struct error *err)
{
	struct vmproc *p = proc_get(vm);
	int r = p ? vmproc_rendezvous(p, listen_fd, grace_s, gen, err)
		  : error_set(err, EINVAL, "the VM does not run in a worker");
	proc_put(vm);
	return r;
}

void vm_detach(struct vm *vm)
{
	if (!vm)
		return;
	pthread_rwlock_wrlock(&vm->proc_lock);
	struct vmproc *p = vm->proc;
	vm->proc = NULL;
	pthread_rwlock_unlock(&vm->proc_lock);
	vmproc_detach(p);
	pthread_mutex_lock(&vm->con_lock);
	vm->ended = true; /* for us: viewers see no more output */
	for (struct vm_viewer *v = vm->viewers; v; v = v->next)
		if (v->ops.closed)
			v->ops.closed(v->ops.opaque);
	pthread_mutex_unlock(&vm->con_lock);
	vm->end_why = VIRT_END_STOPPED;
	vm_put(vm);
}

/* The worker's figures (NULL if it is gone; zeroes if it does not
 * answer). One query serves the callers of the next STATS_CACHE_NS: a
 * metrics scrape asks for every vCPU and device of a VM in a row. */
#define STATS_CACHE_NS 100000000ull
static struct vmproto_stats *worker_stats(const struct vm *vm)
{
	struct vm *m = (struct vm *)vm;
	struct vmproto_stats *st = malloc(sizeof(*st));
	struct vmproc *p = proc_get(vm);
	if (!st || !p) {
		proc_put(vm);
		free(st);
		return NULL;
	}
	pthread_mutex_lock(&m->stats_lock);
	uint64_t now = clock_monotonic_ns();
	if (!m->stats || now - m->stats_ns > STATS_CACHE_NS) {
		if (!m->stats)
			m->stats = malloc(sizeof(*m->stats));
		if (m->stats)
			vmproc_stats(p, m->stats);
		m->stats_ns = now;
	}
	if (m->stats)
		*st = *m->stats;
	else
		memset(st, 0, sizeof(*st));
	pthread_mutex_unlock(&m->stats_lock);
	proc_put(vm);
	return st;
}

unsigned vm_vcpu_tids(const struct vm *vm, int *tids, unsigned n)
{
	if (!vm->remote)
		return virt_vcpu_tids(vm->board, tids, n);
	struct vmproto_stats *st = worker_stats(vm);
	if (!st)
		return 0;
	unsigned k = st->n_vcpus;
	for (unsigned i = 0; i < k && i < n; i++)
		tids[i] = st->tids[i];
	free(st);
	return k;
}

uint64_t vm_vcpu_instret(const struct vm *vm, unsigned vcpu)
{
	if (!vm->remote)
		return virt_vcpu_instret(vm->board, vcpu);
	struct vmproto_stats *st = worker_stats(vm);
	uint64_t r = st && vcpu < st->n_vcpus ? st->instret[vcpu] : 0;
	free(st);
	return r;
}

void vm_dev_stats(const struct vm *vm, struct virt_dev_stats *st)
{
	if (!vm->remote) {
		virt_dev_stats(vm->board, st);
		return;
	}
	struct vmproto_stats *w = worker_stats(vm);
	if (w)
		*st = w->dev;
	else
		memset(st, 0, sizeof(*st));
	free(w);
}

void vm_mem_stats(const struct vm *vm, struct virt_mem_stats *st)
{
	if (!vm->remote) {
		virt_mem_stats(vm->board, st);
		return;
	}
	struct vmproto_stats *w = worker_stats(vm);
	if (w)
		*st = w->mem;
	else
		memset(st, 0, sizeof(*st));
	free(w);
	/* the pool's references are counted here, not by the worker */
	struct vmproc *p = proc_get(vm);
	st->pool_shared_pages = p ? vmproc_share_refs(p) : 0;
	proc_put(vm);
}

int vm_balloon_set(struct vm *vm, uint64_t pages)
{
	if (!vm->remote)
		return virt_balloon_set(vm->board, pages);
	if (pages > INT32_MAX)
		return -EINVAL;
	struct vmproc *p = proc_get(vm);
	int r = p ? vmproc_call(p, VMPROTO_BALLOON, (int32_t)pages, NULL, 0)
		  : -EPIPE;
	proc_put(vm);
	return r;
}

void vm_pool_answer(struct vm *vm, uint32_t gen, const struct gmem_pool_pair *a,
		    unsigned n)
{
	if (!vm->remote)
		virt_pool_answer(vm->board, gen, a, n);
}

int vm_mem_target_set(struct vm *vm, uint64_t pages)
{
	if (!vm->remote)
		return virt_mem_target_set(vm->board, pages);
	if (pages > INT32_MAX)
		return -EINVAL;
	struct vmproc *p = proc_get(vm);
	int r = p ? vmproc_call(p, VMPROTO_MEM_TARGET, (int32_t)pages, NULL, 0)
		  : -EPIPE;
	proc_put(vm);
	return r;
}

int vm_console_attach(struct vm *vm, bool writer,
		      const struct vm_viewer_ops *ops, struct vm_viewer **out)
{
	struct vm_viewer *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->ops = *ops;
	v->writer = writer;

	pthread_mutex_lock(&vm->con_lock);
	if (vm->ended || (writer && vm->has_writer)) {
		int r = vm->ended ? -EINVAL : -EBUSY;
		pthread_mutex_unlock(&vm->con_lock);
		free(v);
		return r;
	}
	/* the scrollback, oldest first, in at most two pieces */
	size_t start = (vm->ring_head + VM_SCROLLBACK - vm->ring_len) %
		       VM_SCROLLBACK;
	size_t first = vm->ring_len < VM_SCROLLBACK - start
			       ? vm->ring_len
			       : VM_SCROLLBACK - start;
	if (first)
		v->ops.output(v->ops.opaque, vm->ring + start, first);
	if (vm->ring_len > first)
		v->ops.output(v->ops.opaque, vm->ring, vm->ring_len - first);
	if (writer)
		vm->has_writer = true;
	vm->refs++;
	v->next = vm->viewers;
	vm->viewers = v;
	pthread_mutex_unlock(&vm->con_lock);
	*out = v;
	return 0;
}

int vm_console_input(struct vm_viewer *v, const uint8_t *buf, size_t len)
{
	if (!v->writer)
		return -EPERM;
	size_t done = 0;
	if (!vm_running(v->vm))
		return -EINVAL;
	/* the UART's FIFO is 16 bytes: offer the rest as it drains, at
	 * keyboard speed this never waits long */
	for (int tries = 0; done < len && tries < 2000; tries++) {
		int r = vm_console_try_input(v, buf + done, len - done);
		if (r < 0)
			return done ? (int)done : r;
		done += (size_t)r;
		if (done < len) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	return (int)done;
}

int vm_console_try_input(struct vm_viewer *v, const uint8_t *buf, size_t len)
{
	if (!v->writer)
		return -EPERM;
	if (!v->vm->remote)
		return (int)virt_console_input(v->vm->board, buf, len);
	if (len > 4096)
		len = 4096;
	int r = proc_call(v->vm, VMPROTO_CONSOLE_IN, buf, (uint32_t)len);
	return r > (int)len ? (int)len : r; /* the worker is not trusted */
}

void vm_console_detach(struct vm_viewer *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->con_lock);
	for (struct vm_viewer **p = &vm->viewers; *p; p = &(*p)->next) {
		if (*p == v) {
			*p = v->next;
			break;
		}
	}
	if (v->writer)
		vm->has_writer = false;
	pthread_mutex_unlock(&vm->con_lock);
	free(v);
	vm_put(vm);
}

size_t vm_console_tail(struct vm *vm, uint8_t *buf, size_t cap)
{
	pthread_mutex_lock(&vm->con_lock);
	size_t n = vm->ring_len < cap ? vm->ring_len : cap;
	size_t start = (vm->ring_head + VM_SCROLLBACK - n) % VM_SCROLLBACK;
	for (size_t i = 0; i < n; i++)
		buf[i] = vm->ring[(start + i) % VM_SCROLLBACK];
	pthread_mutex_unlock(&vm->con_lock);
	return n;
}
