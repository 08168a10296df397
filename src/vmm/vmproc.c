/*
 * The daemon's side of a VM worker: spawn, reader thread, run-token
 * proxies, reaping. See vmproc.h.
 *
 * Threads: the caller's (start, call, stop, destroy); the reader thread
 * (every message from the worker, the end); one proxy thread per vCPU that
 * blocks in vmk_sched_enter for its vCPU. p->lock guards the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/pidns.h"
#include "vmm/kernel_cache.h"
#include "vmm/sandbox.h"
#include "vmm/seccomp_audit.h"
#include "vmm/sched.h"
#include "vmm/vmdef.h"
#include "vmm/vmproc.h"
#include "vmm/vmproc_priv.h"

#define LOG		   "vmproc"
#define CALL_TIMEOUT_MS	   5000
#define STATS_TIMEOUT_MS   250
#define START_TIMEOUT_MS   30000
#define RESTORE_TIMEOUT_MS (600 * 1000)

extern char **environ;

static void deadline_after(unsigned ms, struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* ---- run-token proxies ---------------------------------------------------- */

void vmproc_kick(void *opaque, unsigned vcpu)
{
	struct vmproc *p = opaque;
	struct vmproto_msg m = { .type = VMPROTO_GATE_KICK,
				 .a0 = (int32_t)vcpu };
	/* under the scheduler's lock: never block on a full socket (a
	 * worker that does not read loses its kicks, not our time) */
	vmproto_send(p->sock, &m, NULL, 0, MSG_DONTWAIT, NULL);
}

/* The worker broke the protocol on a gate socket: kill it; the reader
 * then ends the VM crashed with this cause. */
static void proxy_violation(struct vmproc *p, const char *msg)
{
	pthread_mutex_lock(&p->lock);
	if (p->detaching) { /* our own sockets closing under it */
		pthread_mutex_unlock(&p->lock);
		return;
	}
	if (!p->proto_err[0])
		snprintf(p->proto_err, sizeof(p->proto_err), "%.100s", msg);
	pthread_mutex_unlock(&p->lock);
	log_error(LOG, "worker %d: %s: killing it", (int)p->pid, msg);
	vmproc_kill_worker(p);
}

void *vmproc_proxy_thread(void *arg)
{
	struct proxy *x = arg;
	struct vmproc *p = x->p;
	uint8_t *buf = malloc(VMPROTO_RXBUF);
	struct vmproto_msg m;
	struct error err = { 0 };

	while (buf) {
		int r = vmproto_recv(x->sock, buf, &m, NULL, NULL, &err);
		if (r == -ECONNRESET)
			break;
		if (!r && m.type != VMPROTO_GATE_ENTER &&
		    m.type != VMPROTO_GATE_LEAVE)
			r = error_set(&err, EPROTO,
				      "vCPU %u: %s on its gate socket", x->vcpu,
				      vmproto_type_name(m.type));
		else if (!r && m.a0 != (int32_t)x->vcpu)
			r = error_set(&err, EPROTO,
				      "vCPU %u: gate message for vCPU %d",
				      x->vcpu, m.a0);
		else if (!r && (m.type == VMPROTO_GATE_ENTER) == x->entered)
			r = error_set(&err, EPROTO, "vCPU %u: %s twice",
				      x->vcpu, x->entered ? "enter" : "leave");
		if (r) {
			if (r != -ESHUTDOWN && r != -EBADF)
				proxy_violation(p, err.msg);
			break;
		}
		x->entered = m.type == VMPROTO_GATE_ENTER;
		if (x->entered) {
			bool ok = vmk_sched_enter(p->sched, x->vcpu, NULL);
			struct vmproto_msg g = { .type = VMPROTO_GATE_GRANT,
						 .a0 = (int32_t)x->vcpu,
						 .a1 = ok };
			vmproto_send(x->sock, &g, NULL, 0, 0, NULL);
		} else {
			vmk_sched_leave(p->sched, x->vcpu, m.a1 != 0);
		}
	}
	free(buf);
	return NULL;
}

/* ---- the reader ------------------------------------------------------------ */

/* One message of the worker (p->lock held); -EPROTO drops the worker. */
static int handle(struct vmproc *p, const struct vmproto_msg *m, int *fds,
		  unsigned nfds, struct error *err)
{
	if (!p->hello && m->type != VMPROTO_HELLO)
		return error_set(err, EPROTO, "%s before hello",
				 vmproto_type_name(m->type));
	switch (m->type) {
	case VMPROTO_HELLO:
		if (p->hello || m->a0 != VMPROTO_VERSION)
			return error_set(err, EPROTO,
					 "hello: protocol version %d (want "
					 "%u)",
					 m->a0, VMPROTO_VERSION);
		p->hello = true;
		return 0;
	case VMPROTO_STARTED:
		if (p->started)
			return error_set(err, EPROTO, "started twice");
		p->started = true;
		p->start_result = m->a0 > 0 ? -EINVAL : m->a0;
		snprintf(p->start_msg, sizeof(p->start_msg), "%.*s",
			 (int)m->len, m->len ? (const char *)m->data : "");
		pthread_cond_broadcast(&p->cond);
		return 0;
	case VMPROTO_REPLY:
	case VMPROTO_SAVED:
	case VMPROTO_STATS_REPLY:
		if (m->seq != p->reply_seq || p->reply_ready)
			return 0; /* a reply we stopped waiting for */
		p->reply_len = 0;
		if (m->type == VMPROTO_SAVED &&
		    m->len <= sizeof(p->reply_data)) {
			memcpy(p->reply_data, m->data, m->len);
			p->reply_len = m->len;
		}
		if (m->type == VMPROTO_STATS_REPLY) {
			if (!p->stats)
				return 0;
			memcpy(p->stats, m->data, sizeof(*p->stats));
			if (p->stats->n_vcpus > VMPROTO_STATS_VCPUS)
				p->stats->n_vcpus = VMPROTO_STATS_VCPUS;
			if (p->stats->dev.n_disks > VIRT_MAX_VIRTIO)
				p->stats->dev.n_disks = VIRT_MAX_VIRTIO;
			if (p->stats->dev.n_nets > VIRT_MAX_VIRTIO)
				p->stats->dev.n_nets = VIRT_MAX_VIRTIO;
		}
		p->reply = m->a0;
		p->reply_ready = true;
		pthread_cond_broadcast(&p->cond);
		return 0;
	case VMPROTO_CONSOLE_OUT:
		if (p->ops.output) {
			struct vmproc_ops ops = p->ops;
			pthread_mutex_unlock(&p->lock);
			ops.output(ops.opaque, m->data, m->len);
			pthread_mutex_lock(&p->lock);
		}
		return 0;
	case VMPROTO_ENDED:
		if (p->ended)
			return 0;
		if (m->a0 < VIRT_END_POWEROFF || m->a0 > VIRT_END_PANICKED)
			return error_set(err, EPROTO, "ended: bad reason %d",
					 m->a0);
		p->why = (enum virt_end)m->a0;
		p->code = m->a1;
		p->ended = true;
		pthread_cond_broadcast(&p->cond);
		struct vmproc_ops ops = p->ops;
		pthread_mutex_unlock(&p->lock);
		if (ops.ended)
			ops.ended(ops.opaque, (enum virt_end)m->a0, m->a1);
		pthread_mutex_lock(&p->lock);
		return 0;
	case VMPROTO_GATE_CLOSING:
	case VMPROTO_GATE_OPENING: {
		if (!p->sched)
			return error_set(err, EPROTO, "%s without a scheduler",
					 vmproto_type_name(m->type));
		if (m->type == VMPROTO_GATE_CLOSING)
			vmk_sched_vm_shutdown(p->sched);
		else
			vmk_sched_vm_reopen(p->sched);
		/* in effect: the worker's vCPUs may ask again */
		struct vmproto_msg a = { .type = VMPROTO_REPLY, .seq = m->seq };
		vmproto_send(p->sock, &a, NULL, 0, MSG_DONTWAIT, NULL);
		return 0;
	}
	case VMPROTO_RAM_FD:
	case VMPROTO_SHARE_OFFER:
	case VMPROTO_SHARE_DROP: {
		/* the pool has its own lock; answers may wait for room in
		 * the socket: not under ours */
		pthread_mutex_unlock(&p->lock);
		int r = vmproc_share_handle(p, m, fds, nfds, err);
		pthread_mutex_lock(&p->lock);
		return r;
	}
	case VMPROTO_PANICKED: {
		if (m->a0 < VIRT_PANIC_PVPANIC || m->a0 > VIRT_PANIC_REBOOT)
			return error_set(err, EPROTO, "panicked: bad reason %d",
					 m->a0);
		if (p->ended)
			return 0;
		struct vmproc_ops po = p->ops;
		pthread_mutex_unlock(&p->lock);
		if (po.panicked)
			po.panicked(po.opaque, (enum virt_panic)m->a0);
		pthread_mutex_lock(&p->lock);
		return 0;
	}
	case VMPROTO_PROGRESS: /* figures only: shown, never trusted */
		memcpy(&p->progress, m->data, sizeof(p->progress));
		return 0;
	default:
		return error_set(err, EPROTO, "unexpected %s from the worker",
				 vmproto_type_name(m->type));
	}
}

static void describe_status(struct vmproc *p, int status)
{
	char sys[32];
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
		/* the seccomp filter (docs/security.md): name the call from
		 * the kernel's audit record when we can read it */
		if (seccomp_audit_lookup(p->pid, p->spawned_us, 1000, sys,
					 sizeof(sys)))
			snprintf(p->cause, sizeof(p->cause),
				 "seccomp violation: syscall %s (worker "
				 "killed by signal %d, SIGSYS)",
				 sys, SIGSYS);
		else
			snprintf(p->cause, sizeof(p->cause),
				 "seccomp violation: a system call not on the "
				 "allow-list (worker killed by signal %d, "
				 "SIGSYS; the kernel's audit log names it)",
				 SIGSYS);
		p->code = 128 + SIGSYS;
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		snprintf(p->cause, sizeof(p->cause),
			 "worker killed by signal %d (%s)%s", sig,
			 strsignal(sig),
			 WCOREDUMP(status) ? ", core dumped" : "");
		p->code = 128 + sig;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGABRT) {
		/* abort() in the init of its PID namespace: its handler
		 * exits so (cli/worker_sandbox.c), as the signal would */
		snprintf(p->cause, sizeof(p->cause),
			 "worker killed by signal %d (%s)", SIGABRT,
			 strsignal(SIGABRT));
		p->code = 128 + SIGABRT;
	} else if (WIFEXITED(status) &&
		   WEXITSTATUS(status) == SANDBOX_EXIT_SECCOMP) {
		/* SOFTVISOR_SECCOMP=trap: the worker printed the call */
		snprintf(p->cause, sizeof(p->cause),
			 "seccomp violation (trap mode: the worker's "
			 "stderr names the call; exit status %d)",
			 SANDBOX_EXIT_SECCOMP);
		p->code = SANDBOX_EXIT_SECCOMP;
	} else if (WIFEXITED(status)) {
		snprintf(p->cause, sizeof(p->cause),
			 "worker exited with status %d", WEXITSTATUS(status));
		p->code = WEXITSTATUS(status);
	}
}

void *vmproc_reader_thread(void *arg)
{
	struct vmproc *p = arg;
	uint8_t *buf = malloc(VMPROTO_RXBUF);
	struct vmproto_msg m;
	struct error err = { 0 };
	int r = buf ? 0 : error_set(&err, ENOMEM, "out of memory");

	while (!r) {
		int fds[VMPROTO_MAX_FDS];
		unsigned nfds = 0;

		r = vmproto_recv(p->sock, buf, &m, fds, &nfds, &err);
		pthread_mutex_lock(&p->lock);
		if (!r)
			r = handle(p, &m, fds, nfds, &err);
		pthread_mutex_unlock(&p->lock);
		for (unsigned i = 0; i < nfds; i++)
			if (fds[i] >= 0) /* not taken */
				close(fds[i]);
	}
	free(buf);
	pthread_mutex_lock(&p->lock);
	bool detaching = p->detaching;
	pthread_mutex_unlock(&p->lock);
	if (detaching) /* vmproc_detach: the worker runs on without us */
		return NULL;
	if (r != -ECONNRESET) {
		log_error(LOG, "worker %d: %s: killing it", (int)p->pid,
			  err.msg);
		vmproc_kill_worker(p);
	}
	/* the worker is gone or going: release its vCPUs, reap it */
	if (p->sched)
		vmk_sched_vm_shutdown(p->sched);
	int status = 0;
	pid_t w;
	if (p->pidfd >= 0) { /* adopted: not our child (vmproc_attach.c) */
		w = vmproc_adopted_wait(p) ? p->pid : -1;
		if (w == p->pid) {
			pthread_mutex_lock(&p->lock);
			p->reaped = true;
			pthread_mutex_unlock(&p->lock);
		}
		goto died;
	}
	do
		w = waitpid(p->pid, &status, 0);
	while (w < 0 && errno == EINTR);
died:

	pthread_mutex_lock(&p->lock);
	p->gone = true;
	p->reaped = w == p->pid;
	bool was_ended = p->ended;
	if (!was_ended) {
		p->why = VIRT_END_CRASHED;
		p->code = 0;
		if (p->pidfd >= 0 && p->reaped)
			vmproc_adopted_cause(p);
		else if (p->reaped)
			describe_status(p, status);
		else
			snprintf(p->cause, sizeof(p->cause), "worker lost");
		if (r != -ECONNRESET)
			snprintf(p->cause, sizeof(p->cause),
				 "protocol error: %.80s", err.msg);
		else if (p->proto_err[0])
			snprintf(p->cause, sizeof(p->cause),
				 "protocol error: %.80s", p->proto_err);
		p->ended = true;
	}
	pthread_cond_broadcast(&p->cond);
	struct vmproc_ops ops = p->ops;
	pthread_mutex_unlock(&p->lock);
	if (!was_ended && ops.ended) { /* none if the start failed */
		log_warn(LOG, "worker %d: %s", (int)p->pid, p->cause);
		ops.ended(ops.opaque, p->why, p->code);
	}
	return NULL;
}

/* ---- spawn ------------------------------------------------------------------ */

/* Workers enter the sandbox (vmproc_set_sandbox). */
static atomic_bool sandbox_on = true;

void vmproc_set_sandbox(bool on)
{
	atomic_store(&sandbox_on, on);
}

static int spawn_raw(const char *exe, pid_t *pid, int *sock, struct error *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return error_set(err, errno, "socketpair: %s", strerror(errno));
	/* the child's end must not already be VMPROC_WORKER_FD (dup2
	 * would then keep its close-on-exec flag) */
	int child = fcntl(sv[1], F_DUPFD_CLOEXEC, VMPROC_WORKER_FD + 1);
	close(sv[1]);
	if (child < 0) {
		close(sv[0]);
		return error_set(err, errno, "fcntl: %s", strerror(errno));
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, child, VMPROC_WORKER_FD);
	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", VMPROC_WORKER_FD);
	char *argv[] = { (char *)vmproc_exe_argv0(exe),
			 (char *)"__vm-worker",
			 (char *)"--fd",
			 fdarg,
			 (char *)"--sandbox",
			 (char *)(atomic_load(&sandbox_on) ? "on" : "off"),
			 NULL };
	/* its own process group: a terminal's ^C reaches the daemon, which
	 * stops its VMs cleanly, not the workers behind its back. Not its
	 * own session: with CFS autogroups every session is a task group of
	 * its own, and the host kernel would then share the CPU between the
	 * workers by group, not by the run tokens the daemon hands out. */
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	/* a sandboxed worker is the init of a PID namespace of its own
	 * (root only; docs/security.md, "Daemon workers"): its pid, as
	 * posix_spawn returns it, stays the one of our namespace */
	int ns = atomic_load(&sandbox_on) ? pidns_begin() : -1;
	int r = posix_spawn(pid, exe, &fa, &at, argv, environ);
	pidns_end(ns);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(child);
	if (r) {
		close(sv[0]);
		return error_set(err, r, "cannot start the VM worker %s: %s",
				 exe, strerror(r));
	}
	*sock = sv[0];
	return 0;
}

/* One spare worker, spawned ahead so that a start does not wait for the
 * exec and the dynamic linker (vmproc_spare_enable). */
static struct {
	pthread_mutex_t lock;
	bool on;
	const char *exe;
	pid_t pid; /* 0: none */
	int sock;
} spare = { PTHREAD_MUTEX_INITIALIZER, false, NULL, 0, -1 };

static void spare_refill(void)
{
	pthread_mutex_lock(&spare.lock);
	if (spare.on && !spare.pid) {
		struct error err = { 0 };
		if (spawn_raw(spare.exe, &spare.pid, &spare.sock, &err)) {
			log_warn(LOG, "spare worker: %s", err.msg);
			spare.pid = 0;
		}
	}
	pthread_mutex_unlock(&spare.lock);
}

/* Take the spare for exe if it is alive. */
static bool spare_take(const char *exe, pid_t *pid, int *sock)
{
	bool ok = false;
	pthread_mutex_lock(&spare.lock);
	if (spare.pid && !strcmp(spare.exe, exe)) {
		if (waitpid(spare.pid, NULL, WNOHANG) == 0) {
			*pid = spare.pid;
			*sock = spare.sock;
			ok = true;
		} else { /* it died waiting: reaped now */
			close(spare.sock);
		}
		spare.pid = 0;
		spare.sock = -1;
	}
	pthread_mutex_unlock(&spare.lock);
	return ok;
}

void vmproc_spare_enable(const char *exe)
{
	pthread_mutex_lock(&spare.lock);
	spare.on = true;
	spare.exe = exe;
	pthread_mutex_unlock(&spare.lock);
	spare_refill();
}

void vmproc_spare_close(void)
{
	pthread_mutex_lock(&spare.lock);
	spare.on = false;
	if (spare.pid) {
		close(spare.sock); /* it exits at the end of its socket */
		while (waitpid(spare.pid, NULL, 0) < 0 && errno == EINTR)
			;
		spare.pid = 0;
		spare.sock = -1;
	}
	pthread_mutex_unlock(&spare.lock);
}

static int spawn(struct vmproc *p, const char *exe, struct error *err)
{
	/* 2 s of slack: the kernel log's clock and ours may differ a bit */
	uint64_t now = clock_monotonic_ns() / 1000;
	p->spawned_us = now > 2000000 ? now - 2000000 : 0;
	if (spare_take(exe, &p->pid, &p->sock))
		return 0;
	return spawn_raw(exe, &p->pid, &p->sock, err);
}

/* The daemon's sealed copy of the kernel, for the worker's loader to map
 * (KERNEL_FILE); without one the worker copies the file itself. */
static void send_kernel_file(struct vmproc *p, const char *path)
{
	struct error e = { 0 };
	int fd = kernel_cache_get(path, &e);

	if (fd < 0) {
		log_warn(LOG, "%s (the worker copies it)", e.msg);
		return;
	}
	struct vmproto_msg m = { .type = VMPROTO_KERNEL_FILE,
				 .data = path,
				 .len = (uint32_t)strlen(path) + 1 };
	if (m.len <= VMDEF_PATH_MAX)
		(void)vmproto_send(p->sock, &m, &fd, 1, 0, NULL);
	close(fd);
}

int vmproc_start(const struct vmproc_params *prm, struct vmproc **out,
		 struct error *err)
{
	if (prm->n_vcpus == 0 || prm->n_vcpus > VMPROTO_STATS_VCPUS)
		return error_set(err, EINVAL, "cpus: 1..%u",
				 VMPROTO_STATS_VCPUS);
	size_t json_len = strlen(prm->def_json);
	if (json_len < 2 || json_len > VMPROTO_MAX_DATA)
		return error_set(err, EINVAL,
				 "the VM definition is too large for a "
				 "worker (%zu bytes)",
				 json_len);
	struct vmproc *p = calloc(1, sizeof(*p));
	if (!p)
		return error_set(err, ENOMEM, "out of memory");
	p->ops = prm->ops;
	p->sched = prm->sched;
	p->n_vcpus = prm->n_vcpus;
	p->sock = -1;
	p->pidfd = -1;
	p->share_sock = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->tid_lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	int r = spawn(p, prm->exe, err);
	if (r) {
		pthread_mutex_destroy(&p->lock);
		pthread_mutex_destroy(&p->tid_lock);
		pthread_cond_destroy(&p->cond);
		free(p);
		return r;
	}
	int wfds[VMPROTO_MAX_FDS];
	unsigned n_wfds = 0;
	for (unsigned i = 0; i < VMPROTO_STATS_VCPUS; i++)
		p->px[i].sock = -1;
	if (p->sched) {
		vmk_sched_vm_set_kick(p->sched, vmproc_kick, p);
		for (unsigned i = 0; i < p->n_vcpus && !r; i++) {
			struct proxy *x = &p->px[i];
			int sv[2];
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
				       0, sv)) {
				r = error_set(err, errno, "socketpair: %s",
					      strerror(errno));
				break;
			}
			x->p = p;
			x->vcpu = i;
			x->sock = sv[0];
			wfds[n_wfds++] = sv[1];
			x->started = !pthread_create(&x->thread, NULL,
						     vmproc_proxy_thread, x);
			if (!x->started)
				r = error_set(err, EAGAIN,
					      "cannot start a proxy thread");
		}
	}
	if (!r)
		p->reader_started = !pthread_create(&p->reader, NULL,
						    vmproc_reader_thread, p);
	if (!r && !p->reader_started) {
		vmproc_kill_worker(p);
		shutdown(p->sock, SHUT_RDWR);
		r = error_set(err, EAGAIN, "cannot start a reader thread");
	}
	if (!r)
		vmproc_share_start(p); /* before START: the first RAM */
	if (!r && prm->kernel)
		send_kernel_file(p, prm->kernel);
	struct vmproto_msg m = { .type = VMPROTO_START,
				 .a0 = p->sched != NULL,
				 .data = prm->def_json,
				 .len = (uint32_t)json_len };
	/* then the swap file, and the state to continue from goes last (the
	 * caller keeps both) */
	unsigned n_send = n_wfds;
	if (prm->swap) {
		m.a1 |= VMPROTO_START_SWAP;
		wfds[n_send++] = prm->swap_fd;
	}
	if (prm->restore) {
		m.a1 |= VMPROTO_START_RESTORE;
		wfds[n_send++] = prm->restore_fd;
	}
	if (prm->start_paused)
		m.a1 |= VMPROTO_START_PAUSED;
	if (prm->mirror_in)
		m.a1 |= VMPROTO_START_MIRROR;
	if (prm->start_held)
		m.a1 |= VMPROTO_START_HELD;
	if (!r)
		r = vmproto_send(p->sock, &m, wfds, n_send, 0, err);
	for (unsigned i = 0; i < n_wfds; i++)
		close(wfds[i]); /* the worker has its own now */
	/* the spare for the next start, while this one builds its machine
	 * (or restores a migration's stream): not after, where the spawn
	 * would add to this start's time */
	spare_refill();
	if (!r) {
		struct timespec ts;
		/* a restore reads a stream that may take its time (a live
		 * migration's passes) */
		deadline_after(prm->restore ? RESTORE_TIMEOUT_MS
					    : START_TIMEOUT_MS,
			       &ts);
		pthread_mutex_lock(&p->lock);
		int w = 0;
		while (!p->started && !p->gone && w == 0)
			w = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		if (p->started && p->start_result)
			r = error_set(err, -p->start_result, "%s",
				      p->start_msg);
		else if (!p->started)
			r = error_set(err, EIO,
				      "the VM worker did not start: %s",
				      p->gone ? p->cause : "timed out");
		pthread_mutex_unlock(&p->lock);
	}
	if (r) {
		/* the caller hears of the failure from us, not the end */
		pthread_mutex_lock(&p->lock);
		memset(&p->ops, 0, sizeof(p->ops));
		pthread_mutex_unlock(&p->lock);
		vmproc_destroy(p);
		return r;
	}
	*out = p;
	return 0;
}

/* ---- requests ------------------------------------------------------------- */

static int request_fds(struct vmproc *p, const struct vmproto_msg *req,
		       const int *fds, unsigned nfds, struct vmproto_stats *st,
		       unsigned timeout_ms, void *reply, uint32_t *reply_len)
{
	struct timespec ts;
	int w = 0;

	/* the deadline covers the wait for a previous request too: a long
	 * one (a save streaming a migration) must not hold a caller that
	 * may hold the daemon's locks (a stats poll) past its timeout */
	deadline_after(timeout_ms, &ts);
	pthread_mutex_lock(&p->lock);
	if (p->gone || p->ended) {
		pthread_mutex_unlock(&p->lock);
		return -EPIPE;
	}
	/* one request at a time: wait until the previous one has taken its
	 * reply (not only until it arrived: its data must not be replaced
	 * before its requester read it) */
	while (p->busy && !p->gone && w == 0)
		w = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	if (p->gone) {
		pthread_mutex_unlock(&p->lock);
		return -EPIPE;
	}
	if (p->busy) {
		pthread_mutex_unlock(&p->lock);
		return -ETIMEDOUT;
	}
	uint32_t seq = ++p->next_seq ? p->next_seq : ++p->next_seq;
	p->busy = true;
	p->reply_seq = seq;
	p->reply_ready = false;
	p->stats = st;
	pthread_mutex_unlock(&p->lock);

	struct vmproto_msg m = *req;
	m.seq = seq;
	int r = vmproto_send(p->sock, &m, fds, nfds, 0, NULL);

	pthread_mutex_lock(&p->lock);
	w = 0;
	while (!r && !p->reply_ready && !p->gone && w == 0)
		w = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	if (!r)
		r = p->reply_ready ? p->reply : p->gone ? -EPIPE : -ETIMEDOUT;
	if (reply_len) {
		bool got = p->reply_ready && p->reply_seq == seq;
		*reply_len = got ? p->reply_len : 0;
		if (got && p->reply_len)
			memcpy(reply, p->reply_data, p->reply_len);
	}
	p->reply_ready = true; /* a late reply to this one is dropped */
	p->busy = false;       /* the slot is free for the next request */
	p->stats = NULL;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return r;
}

static int request(struct vmproc *p, unsigned type, int32_t a0,
		   const void *data, uint32_t len, struct vmproto_stats *st,
		   unsigned timeout_ms)
{
	struct vmproto_msg m = {
		.type = (uint16_t)type, .a0 = a0, .data = data, .len = len
	};
	return request_fds(p, &m, NULL, 0, st, timeout_ms, NULL, NULL);
}

void vmproc_progress(struct vmproc *p, struct vmproto_progress *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->progress;
	pthread_mutex_unlock(&p->lock);
}

int vmproc_save(struct vmproc *p, int fd, int32_t budget_ms, int32_t flags,
		const char *snapshot, struct vmproto_saved *out,
		unsigned timeout_ms, struct error *err)
{
	struct vmproto_msg m = { .type = VMPROTO_SAVE,
				 .a0 = budget_ms,
				 .a1 = flags,
				 .data = snapshot,
				 .len = snapshot ? (uint32_t)strlen(snapshot)
						 : 0 };
	pthread_mutex_lock(&p->lock);
	memset(&p->progress, 0, sizeof(p->progress));
	pthread_mutex_unlock(&p->lock);
	char data[512];
	uint32_t len = 0;
	int r = request_fds(p, &m, &fd, 1, NULL, timeout_ms, data, &len);
	if (r && !len && r == -EPIPE)
		return error_set(err, EPIPE, "save: the VM's worker is gone");
	if (r && !len && r == -ETIMEDOUT)
		return error_set(err, ETIMEDOUT,
				 "save: no answer from the VM's worker "
				 "within %u s",
				 timeout_ms / 1000);
	if (r) {
		/* the worker's answer is untrusted: an errno, printable text */
		int e = r < 0 && r > -4096 ? -r : EIO;
		for (uint32_t i = 0; i < len; i++)
			if (data[i] < 0x20 || data[i] > 0x7e)
				data[i] = '?';
		return error_set(err, e, "%.*s", (int)len,
				 len ? data : strerror(e));
	}
	if (len != sizeof(*out))
		return error_set(err, EPROTO,
				 "save: the worker answered %u bytes of "
				 "figures (want %zu)",
				 len, sizeof(*out));
	memcpy(out, data, sizeof(*out));
	return 0;
}

int vmproc_call_msg(struct vmproc *p, const struct vmproto_msg *m,
		    const int *fds, unsigned nfds)
{
	return request_fds(p, m, fds, nfds, NULL, CALL_TIMEOUT_MS, NULL, NULL);
}

int vmproc_call(struct vmproc *p, unsigned type, int32_t a0, const void *data,
		uint32_t len)
{
	return request(p, type, a0, data, len, NULL, CALL_TIMEOUT_MS);
}

int vmproc_call_timeout(struct vmproc *p, unsigned type, int32_t a0,
			const void *data, uint32_t len, unsigned timeout_ms)
{
	return request(p, type, a0, data, len, NULL, timeout_ms);
}

int vmproc_call_fds(struct vmproc *p, unsigned type, int32_t a0,
		    const void *data, uint32_t len, const int *fds,
		    unsigned nfds, unsigned timeout_ms)
{
	struct vmproto_msg m = {
		.type = (uint16_t)type, .a0 = a0, .data = data, .len = len
	};
	return request_fds(p, &m, fds, nfds, NULL, timeout_ms, NULL, NULL);
}

/* The worker numbers its threads in its own PID namespace; whoever
 * reads the figures (softvisor top, /proc/PID/task/TID) needs our ids.
 * Only threads of the worker are found: a tid it makes up becomes 0. */
static void tids_to_ours(struct vmproc *p, struct vmproto_stats *st)
{
	unsigned n = st->n_vcpus; /* <= VMPROTO_STATS_VCPUS: handle() */

	pthread_mutex_lock(&p->tid_lock);
	if (n != p->tid_n ||
	    memcmp(st->tids, p->tid_in, n * sizeof(st->tids[0]))) {
		struct pidns_map *m = malloc(sizeof(*m));
		bool all = m && !pidns_map_threads(p->pid, m);
		for (unsigned i = 0; i < n; i++) {
			p->tid_in[i] = st->tids[i];
			p->tid_out[i] = all && st->tids[i] > 0
						? pidns_map_outer(m,
								  st->tids[i])
						: 0;
			all &= st->tids[i] <= 0 || p->tid_out[i] > 0;
		}
		/* a miss (a thread that just ended) is looked up again */
		p->tid_n = all ? n : 0;
		free(m);
	}
	for (unsigned i = 0; i < n; i++)
		st->tids[i] = p->tid_out[i];
	pthread_mutex_unlock(&p->tid_lock);
}

int vmproc_stats(struct vmproc *p, struct vmproto_stats *st)
{
	memset(st, 0, sizeof(*st));
	int r = request(p, VMPROTO_STATS, 0, NULL, 0, st, STATS_TIMEOUT_MS);
	if (r)
		memset(st, 0, sizeof(*st));
	else
		tids_to_ours(p, st);
	return r;
}

/* SIGKILL the worker unless it was reaped (its pid may be reused). */
void vmproc_kill_worker(struct vmproc *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->pidfd >= 0) /* adopted: never a reused pid */
		vmproc_pidfd_kill(p->pidfd);
	else if (!p->reaped)
		kill(p->pid, SIGKILL);
	pthread_mutex_unlock(&p->lock);
}

/* Wait up to ms for flag (under p->lock); false on timeout. */
static bool wait_flag(struct vmproc *p, const bool *flag, unsigned ms)
{
	struct timespec ts;
	deadline_after(ms, &ts);
	pthread_mutex_lock(&p->lock);
	int w = 0;
	while (!*flag && w == 0)
		w = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	bool ok = *flag;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

void vmproc_stop(struct vmproc *p, int code)
{
	struct vmproto_msg m = { .type = VMPROTO_STOP, .a0 = code };
	if (vmproto_send(p->sock, &m, NULL, 0, MSG_DONTWAIT, NULL))
		vmproc_kill_worker(p); /* cannot ask it: end it */
}

enum virt_end vmproc_wait(struct vmproc *p, int *code)
{
	pthread_mutex_lock(&p->lock);
	while (!p->ended)
		pthread_cond_wait(&p->cond, &p->lock);
	enum virt_end why = p->why;
	if (code)
		*code = p->code;
	pthread_mutex_unlock(&p->lock);
	return why;
}

bool vmproc_running(struct vmproc *p)
{
	pthread_mutex_lock(&p->lock);
	bool r = !p->ended;
	pthread_mutex_unlock(&p->lock);
	return r;
}

pid_t vmproc_pid(const struct vmproc *p)
{
	return p->pid;
}

const char *vmproc_cause(struct vmproc *p)
{
	pthread_mutex_lock(&p->lock);
	const char *c = p->cause[0] ? p->cause : NULL;
	pthread_mutex_unlock(&p->lock);
	return c;
}

void vmproc_destroy(struct vmproc *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	bool ended = p->ended;
	pthread_mutex_unlock(&p->lock);
	if (!ended) {
		vmproc_stop(p, 0);
		/* a worker that does not stop within 5 s is killed */
		if (!wait_flag(p, &p->ended, 5000))
			vmproc_kill_worker(p);
	}
	/* closing our ends lets the worker exit; the reader then reaps it
	 * (a worker that does not exit within 5 s is killed) */
	if (p->sched)
		vmk_sched_vm_shutdown(p->sched);
	shutdown(p->sock, SHUT_RDWR);
	for (unsigned i = 0; i < p->n_vcpus; i++)
		if (p->px[i].sock >= 0)
			shutdown(p->px[i].sock, SHUT_RDWR);
	if (p->reader_started) {
		if (!wait_flag(p, &p->gone, 5000))
			vmproc_kill_worker(p);
		pthread_join(p->reader, NULL);
	} else {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	vmproc_free(p, false);
}

void vmproc_free(struct vmproc *p, bool worker_runs_on)
{
	for (unsigned i = 0; i < p->n_vcpus; i++) {
		if (p->px[i].started)
			pthread_join(p->px[i].thread, NULL);
		if (p->px[i].sock >= 0)
			close(p->px[i].sock);
	}
	if (p->sched)
		vmk_sched_vm_set_kick(p->sched, NULL, NULL);
	close(p->sock);
	if (p->pidfd >= 0)
		close(p->pidfd);
	vmproc_share_end(p, worker_runs_on);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->tid_lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
