/*
 * The VM worker: runs one VM in its own process for the daemon. See
 * vmworker.h and docs/architecture.md, "Process per VM".
 *
 * Threads: the main thread reads the daemon's messages; the machine's own
 * threads (vCPUs, control) send console output, gate requests and the end.
 * w->lock guards the gate state.
 */
#include <dirent.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpu/hart.h"
#include "net/swport.h"
#include "util/hostfile.h"
#include "util/log.h"
#include "util/pidns.h"
#include "vmm/vm.h"
#include "vmm/vmdef.h"
#include "vmm/vmproto.h"
#include "vmm/vmworker.h"
#include "vmm/vmworker_state.h"
#include "vmm/vmworker_priv.h"

#define LOG "worker"

static void send_or_log(struct worker *w, const struct vmproto_msg *m)
{
	struct error err = { 0 };
	if (vmproto_send(w->sock, m, NULL, 0, 0, &err) && err.code != EPIPE)
		log_warn(LOG, "%s", err.msg);
}

static void send_simple(struct worker *w, unsigned type, uint32_t seq,
			int32_t a0, int32_t a1)
{
	struct vmproto_msg m = {
		.type = (uint16_t)type, .seq = seq, .a0 = a0, .a1 = a1
	};
	send_or_log(w, &m);
}

/* ---- the gate: run tokens from the daemon's scheduler ------------------ */

static bool gate_enter(void *opaque, unsigned vcpu, struct hart *h)
{
	struct worker *w = opaque;
	if (vcpu >= w->n_vcpus)
		return false;
	struct wvcpu *c = &w->vcpu[vcpu];
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->ready && !w->dead)
			pthread_cond_wait(&w->cond, &w->lock);
		bool local = !w->remote,
		     ok = !w->dead && !(local && w->closing);
		unsigned link = w->link_gen;
		c->granted = false;
		pthread_mutex_unlock(&w->lock);
		if (local || !ok)
			return ok;
		/* ask on our own gate socket; the grant wakes this thread */
		struct vmproto_msg m = { .type = VMPROTO_GATE_ENTER,
					 .a0 = (int32_t)vcpu };
		bool sock_ok = !vmproto_send(c->sock, &m, NULL, 0, 0, NULL) &&
			       !vmproto_recv(c->sock, c->buf, &m, NULL, NULL,
					     NULL);
		ok = sock_ok && m.type == VMPROTO_GATE_GRANT &&
		     m.a0 == (int32_t)vcpu && m.a1;
		pthread_mutex_lock(&w->lock);
		if (!sock_ok && !w->dead && w->listen_fd >= 0) {
			/* the daemon went away: wait until the main thread
			 * took note (we then run on our own) or a new daemon
			 * attached (we ask it) */
			while (!w->dead && w->link_gen == link)
				pthread_cond_wait(&w->cond, &w->lock);
			pthread_mutex_unlock(&w->lock);
			continue;
		}
		ok = ok && !w->dead && w->link_gen == link;
		c->granted = ok;
		c->h = ok ? h : NULL;
		if (ok && c->kick_pending) {
			/* the slice ended before this thread got to run:
			 * leave at once, as the in-process hart_request
			 * would have made it */
			hart_request(h, HART_REQ_EXIT);
		}
		c->kick_pending = false;
		pthread_mutex_unlock(&w->lock);
		return ok;
	}
}

static void gate_leave(void *opaque, unsigned vcpu, bool runnable)
{
	struct worker *w = opaque;
	if (vcpu >= w->n_vcpus)
		return;
	struct wvcpu *c = &w->vcpu[vcpu];
	pthread_mutex_lock(&w->lock);
	c->h = NULL;
	/* only a token of the daemon now attached is given back: one
	 * taken while on our own, or of the daemon that left, is not */
	bool held = c->granted;
	c->granted = false;
	pthread_mutex_unlock(&w->lock);
	if (!held)
		return;
	struct vmproto_msg m = { .type = VMPROTO_GATE_LEAVE,
				 .a0 = (int32_t)vcpu,
				 .a1 = runnable };
	vmproto_send(c->sock, &m, NULL, 0, 0, NULL);
}

/* Tell the daemon's scheduler that the harts close or open, and wait
 * until it is in effect: the harts of a reboot must not ask for a token
 * before the scheduler reopened. (Not on the main thread, which reads the
 * answer: that is only the first boot, when the gate is open anyway.) */
static void gate_tell(struct worker *w, unsigned type, bool closing)
{
	pthread_mutex_lock(&w->lock);
	w->closing = closing;
	uint32_t seq = ++w->next_seq;
	bool remote = w->remote;
	pthread_mutex_unlock(&w->lock);
	if (!remote)
		return;
	send_simple(w, type, seq, 0, 0);
	if (pthread_equal(pthread_self(), w->main))
		return;
	pthread_mutex_lock(&w->lock);
	while (w->acked_seq < seq && !w->dead)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static void gate_closing(void *opaque)
{
	gate_tell(opaque, VMPROTO_GATE_CLOSING, true);
}

static void gate_opening(void *opaque)
{
	gate_tell(opaque, VMPROTO_GATE_OPENING, false);
}

/* The daemon asks a running vCPU to leave (its slice ended). */
static int gate_kick(struct worker *w, const struct vmproto_msg *m,
		     struct error *err)
{
	if (m->a0 < 0 || (unsigned)m->a0 >= w->n_vcpus)
		return error_set(err, EPROTO, "%s: no vCPU %d",
				 vmproto_type_name(m->type), m->a0);
	struct wvcpu *c = &w->vcpu[m->a0];
	pthread_mutex_lock(&w->lock);
	if (c->h)
		hart_request(c->h, HART_REQ_EXIT);
	else
		c->kick_pending = true; /* granted, the thread not yet back */
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* ---- the machine --------------------------------------------------------- */

void worker_con_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct worker *w = opaque;
	if (len && !atomic_exchange(&w->said_something, true) && w->hooks &&
	    w->hooks->first_output)
		w->hooks->first_output(w->hooks->opaque);
	while (len) {
		size_t n = len > 4096 ? 4096 : len;
		struct vmproto_msg m = { .type = VMPROTO_CONSOLE_OUT,
					 .data = buf,
					 .len = (uint32_t)n };
		send_or_log(w, &m);
		buf += n;
		len -= n;
	}
}

static void machine_ended(void *opaque, struct vm *vm, enum virt_end why,
			  int code)
{
	struct worker *w = opaque;
	(void)vm;
	atomic_store(&w->machine_ended, true);
	send_simple(w, VMPROTO_ENDED, 0, (int32_t)why, code);
}

/* The guest panicked: the daemon records it and sets the VM's state; the
 * machine acts on on_panic itself (stop, pause, restart). */
static void machine_panicked(void *opaque, struct vm *vm, enum virt_panic how)
{
	struct worker *w = opaque;
	(void)vm;
	send_simple(w, VMPROTO_PANICKED, 0, (int32_t)how,
		    (int32_t)w->board.on_panic);
}

/* Connect the switch ports now, as netdevs the board borrows: a reboot
 * keeps them instead of connecting again. */
static int connect_ports(struct worker *w, struct error *err)
{
	for (unsigned i = 0; i < w->board.n_nets; i++) {
		struct virtio_net_config *n = &w->board.nets[i];
		if (n->backend != VIRTIO_NET_BACKEND_SWITCH || n->netdev)
			continue;
		uint32_t mtu = 0;
		w->ports[i] = net_swport_create(n->switch_path, n->portgroup,
						n->mac, n->id, &mtu, err);
		if (!w->ports[i])
			return err->code ? -err->code : -EIO;
		if (!n->user.mtu || n->user.mtu > mtu)
			n->user.mtu = mtu;
		n->netdev = w->ports[i];
	}
	return 0;
}

/* The descriptors open now (after the machine was built): all of them are
 * needed from here on. */
static unsigned open_fds(int *fds, unsigned cap)
{
	unsigned n = 0;
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return 0;
	int self = dirfd(dir);
	struct dirent *e;
	while ((e = readdir(dir)) && n < cap) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd != self)
			fds[n++] = fd;
	}
	closedir(dir);
	return n;
}

/* KERNEL_FILE: kept until START, which records it for the path (the
 * loader then maps it). A copy that cannot be kept only costs the copy. */
static int kernel_file(struct worker *w, const struct vmproto_msg *m,
		       const int *fds, unsigned nfds, struct error *err)
{
	const char *d = m->data;

	if (nfds != 1 || m->len < 2 || memchr(d, 0, m->len) != d + m->len - 1 ||
	    w->kernel_path)
		return error_set(err, EPROTO,
				 "kernel-file: %u descriptors, "
				 "%u bytes",
				 nfds, m->len);
	w->kernel_path = strdup(d);
	w->kernel_fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
	if (!w->kernel_path || w->kernel_fd < 0) {
		log_warn(LOG, "the daemon's copy of %s: %s", d,
			 strerror(errno));
		free(w->kernel_path);
		w->kernel_path = NULL;
		if (w->kernel_fd >= 0)
			close(w->kernel_fd);
		w->kernel_fd = -1;
	}
	return 0;
}

/* START: the daemon's copy of the kernel stands for its path from now on,
 * with or without the sandbox (a reboot loads the same copy). */
static void kernel_file_record(struct worker *w)
{
	if (!w->kernel_path)
		return;
	if (hostfile_add(w->kernel_path, w->kernel_fd, O_RDONLY) < 0)
		log_warn(LOG, "the daemon's copy of %s: %s", w->kernel_path,
			 strerror(errno));
	close(w->kernel_fd);
	free(w->kernel_path);
	w->kernel_fd = -1;
	w->kernel_path = NULL;
}

static int start(struct worker *w, const struct vmproto_msg *m, const int *fds,
		 unsigned nfds, const struct vmworker_hooks *hooks,
		 struct error *err)
{
	if (w->vm)
		return error_set(err, EBUSY, "the VM is already started");
	char *json = strndup(m->data, m->len);
	if (!json)
		return error_set(err, ENOMEM, "out of memory");
	int r = vmdef_parse(json, &w->def, err);
	free(json);
	if (r)
		return r;
	r = vmdef_to_virt_config(&w->def, &w->board, err);
	if (r)
		return r;
	w->board.name = w->def.name;
	if (w->pool.base)
		w->board.pool = &w->pool;
	w->board.power_button = virt_virtio_count(&w->board) < VIRT_MAX_VIRTIO;
	w->n_vcpus = w->def.cpus;
	w->remote = w->use_gate = m->a0 != 0;
	/* docs/vm-state.md: the last descriptor is the state to continue */
	bool restore = (m->a1 & VMPROTO_START_RESTORE) != 0;
	w->board.start_paused = (m->a1 & VMPROTO_START_PAUSED) != 0;
	w->board.start_held = (m->a1 & VMPROTO_START_HELD) != 0;
	w->board.mirror_in = (m->a1 & VMPROTO_START_MIRROR) != 0;
	/* paused until RESUME either way (an incoming migration's too: a
	 * daemon re-attaching before the source says go must see it paused) */
	atomic_store(&w->paused, w->board.start_held || w->board.start_paused);
	if (restore && nfds) {
		w->board.restore_by_fd = true;
		w->board.restore_fd = fds[--nfds];
	}
	if ((m->a1 & VMPROTO_START_SWAP) && nfds) {
		w->board.mem_swap_by_fd = true; /* the board keeps a dup */
		w->board.mem_swap_fd = fds[--nfds];
	}
	w->hooks = hooks;
	if (hooks && hooks->configure) {
		r = hooks->configure(hooks->opaque, &w->def, &w->board, err);
		if (r)
			return r;
	}
	kernel_file_record(w);
	r = connect_ports(w, err);
	if (r)
		return r;
	if (w->n_vcpus > VIRT_MAX_HARTS || nfds != (w->remote ? w->n_vcpus : 0))
		return error_set(err, EINVAL,
				 "start: %u gate sockets for %u vCPUs", nfds,
				 w->remote ? w->n_vcpus : 0);
	for (unsigned i = 0; i < nfds; i++) {
		w->vcpu[i].buf = malloc(VMPROTO_RXBUF);
		if (!w->vcpu[i].buf)
			return error_set(err, ENOMEM, "out of memory");
		w->vcpu[i].sock = fds[i];
	}
	static struct virt_vcpu_gate gate = { gate_enter, gate_leave,
					      gate_closing, gate_opening,
					      NULL };
	gate.opaque = w;
	struct vm_params p = { .board = &w->board,
			       .gate = &gate,
			       .ops = { machine_ended, w, machine_panicked } };
	w->vm = vm_start(&p, err);
	if (!w->vm)
		return err->code ? -err->code : -EINVAL;
	r = worker_console_attach(w);
	if (r)
		return error_set(err, -r, "console: %s", strerror(-r));
	if (hooks && hooks->prepare) {
		int keep[256];
		unsigned n = open_fds(keep, 256);
		r = hooks->prepare(hooks->opaque, keep, n, err);
		if (r)
			return r;
	}
	pthread_mutex_lock(&w->lock);
	w->ready = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static void stats(struct worker *w, uint32_t seq)
{
	static struct vmproto_stats st;
	memset(&st, 0, sizeof(st));
	if (w->vm) {
		st.n_vcpus = vm_vcpu_tids(w->vm, st.tids, VMPROTO_STATS_VCPUS);
		if (st.n_vcpus > VMPROTO_STATS_VCPUS)
			st.n_vcpus = VMPROTO_STATS_VCPUS;
		for (unsigned i = 0; i < st.n_vcpus; i++)
			st.instret[i] = vm_vcpu_instret(w->vm, i);
		vm_dev_stats(w->vm, &st.dev);
		vm_mem_stats(w->vm, &st.mem);
	}
	struct vmproto_msg m = { .type = VMPROTO_STATS_REPLY,
				 .seq = seq,
				 .data = &st,
				 .len = sizeof(st) };
	send_or_log(w, &m);
}

/* A snapshot of the disks this worker holds open (the daemon checked the
 * name and the disks' formats; the message stays in this log). */
static int disk_snapshot(struct worker *w, const struct vmproto_msg *m)
{
	char name[256];
	struct error e = { 0 };
	if (m->len >= sizeof(name) || memchr(m->data, 0, m->len) ||
	    (m->a0 != 0 && m->a0 != 1))
		return -EINVAL;
	memcpy(name, m->data, m->len);
	name[m->len] = 0;
	int r = vm_disk_snapshot(w->vm, name, m->a0 == 1, &e);
	if (r)
		log_error(LOG, "%s", e.msg);
	return r;
}

/* An external snapshot: the daemon made and opened the overlay files (the
 * sandbox lets this process open only files it recorded), sent as fds
 * with their paths. */
static int disk_snapshot_ext(struct worker *w, const struct vmproto_msg *m,
			     const int *fds, unsigned nfds)
{
	const char *paths[VIRT_MAX_VIRTIO];
	const char *d = (const char *)m->data, *end = d + m->len;
	struct error e = { 0 };
	unsigned n = (unsigned)m->a0;

	if (m->a0 < 1 || n > VIRT_MAX_VIRTIO || nfds != n)
		return -EINVAL;
	for (unsigned k = 0; k < n; k++) {
		const char *z = memchr(d, 0, (size_t)(end - d));
		if (!z || d[0] != '/')
			return -EINVAL;
		paths[k] = d;
		d = z + 1;
		if (hostfile_add(paths[k], fds[k], O_RDWR) < 0)
			return -errno;
	}
	if (d != end)
		return -EINVAL;
	int r = vm_disk_snapshot_external(w->vm, paths, n, &e);
	if (r)
		log_error(LOG, "%s", e.msg);
	return r;
}

/* Datastore caps from the daemon: whole struct virt_disk_cap entries, each
 * value checked (the daemon is trusted, but a bad value is still an error,
 * not a wrong cap). */
static int disk_cap(struct worker *w, const struct vmproto_msg *m)
{
	struct virt_disk_cap caps[VIRT_MAX_VIRTIO];
	unsigned n = m->len / sizeof(caps[0]);

	if (m->len % sizeof(caps[0]) || n > VIRT_MAX_VIRTIO)
		return -EINVAL;
	memcpy(caps, m->data, m->len);
	return vm_disk_caps(w->vm, caps, n);
}

/* ---- page sharing (docs/memory.md) ----------------------------------- */

/* On the scanner's thread: the daemon answers with SHARE_ANSWER. */
static bool pool_offer(void *opaque, uint32_t gen, uint32_t batch,
		       const struct gmem_pool_offer *o, unsigned n)
{
	struct worker *w = opaque;
	struct vmproto_msg m = { .type = VMPROTO_SHARE_OFFER,
				 .a0 = (int32_t)batch,
				 .a1 = (int32_t)gen,
				 .data = o,
				 .len = n * (uint32_t)sizeof(*o) };

	return vmproto_send(w->sock, &m, NULL, 0, 0, NULL) == 0;
}

static void pool_drop(void *opaque, uint32_t gen,
		      const struct gmem_pool_pair *d, unsigned n)
{
	struct worker *w = opaque;
	struct vmproto_msg m = { .type = VMPROTO_SHARE_DROP,
				 .a1 = (int32_t)gen,
				 .data = d,
				 .len = n * (uint32_t)sizeof(*d) };

	(void)vmproto_send(w->sock, &m, NULL, 0, 0, NULL);
}

/* A new RAM (every boot): the daemon reads it through this memfd. */
static void pool_ram(void *opaque, int fd, uint64_t bytes, uint32_t gen)
{
	struct worker *w = opaque;
	struct vmproto_msg m = { .type = VMPROTO_RAM_FD,
				 .a0 = (int32_t)(bytes >> 20),
				 .a1 = (int32_t)gen };

	(void)vmproto_send(w->sock, &m, &fd, 1, 0, NULL);
}

/* POOL: map the daemon's pool read-only (the descriptor is read-only
 * too: a writable shared mapping would be refused by the kernel). */
static int pool_map(struct worker *w, const struct vmproto_msg *m,
		    const int *fds, unsigned nfds, struct error *err)
{
	void *p;

	if (nfds != 1 || m->a0 <= 0 || w->pool.base)
		return error_set(err, EPROTO, "pool: %u descriptors, %d frames",
				 nfds, m->a0);
	p = mmap(NULL, (size_t)m->a0 << 12, PROT_READ, MAP_SHARED, fds[0], 0);
	if (p == MAP_FAILED) {
		log_error(LOG, "page sharing off: cannot map the pool: %s",
			  strerror(errno));
		return 0;
	}
	w->pool.base = p;
	w->pool.frames = (uint64_t)m->a0;
	w->pool.ops.offer = pool_offer;
	w->pool.ops.drop = pool_drop;
	w->pool.ops.opaque = w;
	w->pool.ram = pool_ram;
	return 0;
}

/* One command of the daemon; -EPROTO ends the worker. */
static int command(struct worker *w, const struct vmproto_msg *m,
		   const int *fds, unsigned nfds,
		   const struct vmworker_hooks *hooks, struct error *err)
{
	int r;
	if (m->type == VMPROTO_RENDEZVOUS && w->vm) {
		r = worker_rendezvous(w, m, fds, nfds);
		send_simple(w, VMPROTO_REPLY, m->seq, r, 0);
		return 0;
	}
	if (m->type != VMPROTO_START && m->type != VMPROTO_STATS && !w->vm &&
	    m->type != VMPROTO_STOP && m->type != VMPROTO_POOL &&
	    m->type != VMPROTO_KERNEL_FILE)
		return error_set(err, EPROTO, "%s before start",
				 vmproto_type_name(m->type));
	switch (m->type) {
	case VMPROTO_START: {
		struct error e = { 0 };
		r = start(w, m, fds, nfds, hooks, &e);
		struct vmproto_msg s = { .type = VMPROTO_STARTED,
					 .seq = m->seq,
					 .a0 = r,
					 .data = e.msg,
					 .len = r ? (uint32_t)strlen(e.msg)
						  : 0 };
		send_or_log(w, &s);
		return 0;
	}
	case VMPROTO_STOP:
		if (w->vm)
			vm_stop(w->vm, m->a0);
		return 0;
	case VMPROTO_PAUSE:
		r = vm_pause(w->vm);
		if (!r)
			atomic_store(&w->paused, true);
		break;
	case VMPROTO_RESUME:
		r = vm_resume(w->vm);
		if (!r)
			atomic_store(&w->paused, false);
		break;
	case VMPROTO_RESET:
		vm_reset(w->vm);
		r = 0;
		break;
	case VMPROTO_POWER: r = vm_power_button(w->vm); break;
	case VMPROTO_ANNOUNCE: r = vm_announce(w->vm); break;
	case VMPROTO_CONSOLE_IN:
		r = vm_console_try_input(w->viewer, m->data, m->len);
		break;
	case VMPROTO_DISK_SNAPSHOT: r = disk_snapshot(w, m); break;
	case VMPROTO_DISK_CAP: r = disk_cap(w, m); break;
	case VMPROTO_DISK_SNAPSHOT_EXT:
		r = disk_snapshot_ext(w, m, fds, nfds);
		break;
	case VMPROTO_STATS: stats(w, m->seq); return 0;
	case VMPROTO_SAVE: {
		/* a snapshot's name: printable, as the daemon checked it */
		char snap[65] = "";
		bool is_snap = (m->a1 & VMPROTO_SAVE_SNAPSHOT) != 0;
		if (is_snap && m->len > 0 && m->len < sizeof(snap))
			memcpy(snap, m->data, m->len);
		for (unsigned i = 0; snap[i]; i++)
			if (snap[i] <= ' ' || snap[i] > '~' || snap[i] == '/')
				snap[0] = 0;
		if (is_snap && !snap[0]) {
			send_simple(w, VMPROTO_SAVED, m->seq, -EINVAL, 0);
			return 0;
		}
		vmworker_save(w->vm, w->sock, m->seq, nfds == 1 ? fds[0] : -1,
			      m->a0 > 0 ? (unsigned)m->a0 : 0,
			      (m->a1 & VMPROTO_SAVE_MIGRATE) != 0,
			      (m->a1 & VMPROTO_SAVE_MIRROR) != 0,
			      is_snap ? snap : NULL);
		return 0;
	}
	case VMPROTO_BALLOON:
		r = m->a0 < 0 ? -EINVAL
			      : vm_balloon_set(w->vm, (uint64_t)m->a0);
		break;
	case VMPROTO_MEM_TARGET:
		r = m->a0 < 0 ? -EINVAL
			      : vm_mem_target_set(w->vm, (uint64_t)m->a0);
		break;
	case VMPROTO_GATE_KICK: return gate_kick(w, m, err);
	case VMPROTO_POOL: return pool_map(w, m, fds, nfds, err);
	case VMPROTO_KERNEL_FILE: return kernel_file(w, m, fds, nfds, err);
	case VMPROTO_SHARE_ANSWER: {
		static struct gmem_pool_pair a[GMEM_SHARE_BATCH];
		if (m->len % sizeof(a[0]))
			return error_set(err, EPROTO, "share-answer: %u bytes",
					 m->len);
		memcpy(a, m->data, m->len); /* aligned */
		vm_pool_answer(w->vm, (uint32_t)m->a1, a,
			       m->len / (unsigned)sizeof(a[0]));
		return 0;
	}
	case VMPROTO_REPLY: /* to GATE_CLOSING/OPENING */
		pthread_mutex_lock(&w->lock);
		if (m->seq > w->acked_seq && m->seq <= w->next_seq)
			w->acked_seq = m->seq;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		return 0;
	default:
		return error_set(err, EPROTO, "unexpected %s from the daemon",
				 vmproto_type_name(m->type));
	}
	send_simple(w, VMPROTO_REPLY, m->seq, r, 0);
	return 0;
}

int vmworker_main(int sock, const struct vmworker_hooks *hooks)
{
	static struct worker w;
	static uint8_t buf[VMPROTO_RXBUF];
	struct vmproto_msg m;
	struct error err = { 0 };
	int status = 0;

	w.sock = sock;
	w.listen_fd = -1;
	w.kernel_fd = -1;
	worker_note_daemon(&w);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	send_simple(&w, VMPROTO_HELLO, 0, VMPROTO_VERSION,
		    (int32_t)pidns_outer_pid());
	for (unsigned i = 0; i < VIRT_MAX_HARTS; i++)
		w.vcpu[i].sock = -1;
	w.main = pthread_self();
	for (;;) {
		int fds[VMPROTO_MAX_FDS];
		unsigned nfds = 0;
		int r = vmproto_recv(sock, buf, &m, fds, &nfds, &err);
		if (!r) {
			r = command(&w, &m, fds, nfds, hooks, &err);
			/* descriptors the start did not take */
			for (unsigned i = 0; i < nfds; i++) {
				bool taken = false;
				for (unsigned k = 0; k < w.n_vcpus; k++)
					taken |= w.vcpu[k].sock == fds[i];
				taken |= w.listen_fd == fds[i];
				if (!taken)
					close(fds[i]);
			}
		}
		/* the daemon went away: with a rendezvous, run on and wait
		 * for a new one (its grace period) */
		if (r == -ECONNRESET && w.listen_fd >= 0 && w.vm &&
		    !atomic_load(&w.machine_ended) &&
		    worker_wait_for_daemon(&w) == 0)
			continue;
		if (r == -ECONNRESET)
			break;
		if (r) {
			log_error(LOG, "%s", err.msg);
			status = 1;
			break;
		}
	}
	/* the daemon let go (or broke the protocol): stop the VM */
	pthread_mutex_lock(&w.lock);
	w.dead = true;
	pthread_cond_broadcast(&w.cond);
	pthread_mutex_unlock(&w.lock);
	for (unsigned i = 0; i < VIRT_MAX_HARTS; i++)
		if (w.vcpu[i].sock >= 0) /* vCPUs waiting for a grant */
			shutdown(w.vcpu[i].sock, SHUT_RDWR);
	if (w.vm) {
		if (w.viewer)
			vm_console_detach(w.viewer);
		vm_destroy(w.vm);
	}
	for (unsigned i = 0; i < VIRT_MAX_VIRTIO; i++)
		if (w.ports[i])
			netdev_destroy(w.ports[i]);
	if (w.listen_fd >= 0)
		close(w.listen_fd);
	if (w.kernel_fd >= 0) /* KERNEL_FILE without a START */
		close(w.kernel_fd);
	free(w.kernel_path);
	close(sock);
	return status;
}
