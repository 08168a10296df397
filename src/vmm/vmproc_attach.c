/*
 * Re-attaching VM workers after a daemon restart: the rendezvous a worker
 * listens on, adopting a worker another daemon started, letting go of a
 * worker without stopping it. See vmproc.h and docs/architecture.md,
 * "Re-attaching workers after a daemon restart".
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "vmm/sched.h"
#include "vmm/seccomp_audit.h"
#include "vmm/vmproc_priv.h"
#include "vmm/worker_record.h"

#define LOG		     "vmproc"
#define HANDSHAKE_TIMEOUT_MS 5000
#define ADOPTED_EXIT_WAIT_MS 5000

int vmproc_rendezvous(struct vmproc *p, int listen_fd, unsigned grace_s,
		      uint32_t gen, struct error *err)
{
	if (grace_s == 0 || grace_s > VMPROTO_GRACE_MAX)
		return error_set(err, EINVAL, "grace period %u s: 1..%u",
				 grace_s, VMPROTO_GRACE_MAX);
	struct vmproto_msg m = { .type = VMPROTO_RENDEZVOUS,
				 .a0 = (int32_t)grace_s,
				 .a1 = (int32_t)gen };
	int r = vmproc_call_msg(p, &m, &listen_fd, 1);
	if (r)
		return error_set(err, -r, "rendezvous: %s", strerror(-r));
	return 0;
}

void vmproc_pidfd_kill(int pidfd)
{
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

bool vmproc_adopted_wait(struct vmproc *p)
{
	struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };
	int n;
	do
		n = poll(&pf, 1, ADOPTED_EXIT_WAIT_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0) { /* closed its socket but lives on: end it */
		vmproc_pidfd_kill(p->pidfd);
		n = poll(&pf, 1, ADOPTED_EXIT_WAIT_MS);
	}
	return n > 0;
}

void vmproc_adopted_cause(struct vmproc *p)
{
	/* not our child: no exit status (its parent is init now), but a
	 * seccomp kill is in the kernel's audit records by pid */
	char sys[32];
	if (seccomp_audit_lookup(p->pid, p->spawned_us, 200, sys, sizeof(sys)))
		snprintf(p->cause, sizeof(p->cause),
			 "seccomp violation: syscall %s (worker killed by "
			 "signal %d, SIGSYS)",
			 sys, SIGSYS);
	else
		snprintf(p->cause, sizeof(p->cause),
			 "worker died (re-attached after a daemon restart: "
			 "its exit status is its parent's)");
}

/* uid of the sandbox's user (sandbox.c: nobody, else 65534). */
static uid_t sandbox_uid(void)
{
	struct passwd *pw = getpwnam("nobody");
	return pw ? pw->pw_uid : 65534;
}

static int connect_to(const char *path, struct error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return error_set(err, ENAMETOOLONG, "%s: path too long", path);
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return error_set(err, errno, "socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;
		close(s);
		/* no socket, or nobody listening on it: the worker ended
		 * (or is ending) */
		return error_set(err,
				 e == ENOENT || e == ECONNREFUSED ? ESRCH : e,
				 "%s: %s", path, strerror(e));
	}
	return s;
}

static void set_rcvtimeo(int s, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (long)(ms % 1000) * 1000 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Connect, check the peer, ATTACH, check ATTACHED. The gate sockets'
 * worker ends go with ATTACH and are closed here. */
static int handshake(const struct vmproc_adopt *a, int s, const int *wfds,
		     unsigned n_wfds, struct vmproto_attached *info,
		     struct error *err)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &cl))
		return error_set(err, errno, "SO_PEERCRED: %s",
				 strerror(errno));
	if (cr.pid != a->pid)
		return error_set(err, EPERM,
				 "%s: the socket's listener is pid %d, not "
				 "the recorded worker %d",
				 a->sock_path, (int)cr.pid, (int)a->pid);
	if (cr.uid != geteuid() && cr.uid != sandbox_uid())
		return error_set(err, EPERM,
				 "%s: the worker runs as uid %u (want %u or "
				 "the sandbox's)",
				 a->sock_path, (unsigned)cr.uid,
				 (unsigned)geteuid());
	/* the gate sockets, then the switch ports (data: their NICs) */
	int fds[VMPROTO_MAX_FDS];
	for (unsigned i = 0; i < n_wfds; i++)
		fds[i] = wfds[i];
	for (unsigned i = 0; i < a->n_ports; i++)
		fds[n_wfds + i] = a->port_fds[i];
	struct vmproto_msg m = { .type = VMPROTO_ATTACH,
				 .a0 = VMPROTO_VERSION,
				 .a1 = (int32_t)a->gen,
				 .data = a->port_nics,
				 .len = a->n_ports };
	int r = vmproto_send(s, &m, fds, n_wfds + a->n_ports, 0, err);
	if (r)
		return r;
	uint8_t *buf = malloc(VMPROTO_RXBUF);
	if (!buf)
		return error_set(err, ENOMEM, "out of memory");
	set_rcvtimeo(s, HANDSHAKE_TIMEOUT_MS);
	r = vmproto_recv(s, buf, &m, NULL, NULL, err);
	set_rcvtimeo(s, 0);
	if (r == -EAGAIN || r == -EWOULDBLOCK)
		r = error_set(err, ETIMEDOUT,
			      "the worker did not answer within %u s",
			      HANDSHAKE_TIMEOUT_MS / 1000);
	if (!r && m.type != VMPROTO_ATTACHED)
		r = error_set(err, EPROTO, "%s instead of attached",
			      vmproto_type_name(m.type));
	if (!r && m.a0 < 0) {
		char msg[256];
		uint32_t n = m.len < sizeof(msg) - 1 ? m.len : sizeof(msg) - 1;
		memcpy(msg, m.data, n);
		for (uint32_t i = 0; i < n; i++)
			if (msg[i] < 0x20 || msg[i] > 0x7e)
				msg[i] = '?';
		msg[n] = 0;
		r = error_set(err, m.a0 > -4096 ? -m.a0 : EIO,
			      "the worker refused: %s", msg);
	} else if (!r && (m.a0 != 0 || m.len != sizeof(*info))) {
		r = error_set(err, EPROTO, "attached: %u bytes (want %zu)",
			      m.len, sizeof(*info));
	}
	if (!r) {
		memcpy(info, m.data, sizeof(*info));
		info->name[sizeof(info->name) - 1] = 0;
		if (info->pid != a->pid || info->gen != a->gen ||
		    info->n_vcpus != a->n_vcpus || strcmp(info->name, a->name))
			r = error_set(
				err, EPERM,
				"the worker is pid %d, run %u of \"%.63s\" "
				"with %u vCPUs (recorded: pid %d, run "
				"%u of \"%s\" with %u)",
				(int)info->pid, info->gen, info->name,
				info->n_vcpus, (int)a->pid, a->gen, a->name,
				a->n_vcpus);
		else if (info->ports != a->n_ports)
			r = error_set(err, EPROTO,
				      "the worker took %u switch port(s) of %u",
				      info->ports, a->n_ports);
	}
	free(buf);
	return r;
}

int vmproc_adopt(const struct vmproc_adopt *a, struct vmproc **out,
		 struct vmproto_attached *info, struct error *err)
{
	if (a->n_vcpus == 0 || a->n_vcpus > VMPROTO_STATS_VCPUS)
		return error_set(err, EINVAL, "cpus: 1..%u",
				 VMPROTO_STATS_VCPUS);
	if (a->n_ports > VIRT_MAX_VIRTIO)
		return error_set(err, EINVAL, "%u switch ports (at most %u)",
				 a->n_ports, VIRT_MAX_VIRTIO);
	/* pin the process first, then check it is the recorded one: a pid
	 * reused after the worker died has another start time */
	int pidfd = (int)syscall(SYS_pidfd_open, a->pid, 0);
	if (pidfd < 0)
		return error_set(err, errno == ESRCH ? ESRCH : errno,
				 "worker pid %d: %s", (int)a->pid,
				 errno == ESRCH ? "no such process"
						: strerror(errno));
	uint64_t start = 0;
	int r = worker_record_pid_start(a->pid, &start);
	if (r || start != a->pid_start) {
		close(pidfd);
		return error_set(err, ESRCH, "worker pid %d: %s", (int)a->pid,
				 r ? "no such process"
				   : "another process now (its start time "
				     "differs)");
	}
	int s = connect_to(a->sock_path, err);
	if (s < 0) {
		close(pidfd);
		return s;
	}
	struct vmproc *p = calloc(1, sizeof(*p));
	if (!p) {
		close(pidfd);
		close(s);
		return error_set(err, ENOMEM, "out of memory");
	}
	p->ops = a->ops;
	p->sched = a->sched;
	p->n_vcpus = a->n_vcpus;
	p->sock = s;
	p->share_sock = -1;
	p->pid = a->pid;
	p->pidfd = pidfd;
	p->hello = p->started = true;
	uint64_t now = clock_monotonic_ns() / 1000;
	p->spawned_us = now > 2000000 ? now - 2000000 : 0;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->tid_lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	int wfds[VMPROTO_STATS_VCPUS];
	unsigned n_wfds = 0;
	for (unsigned i = 0; i < VMPROTO_STATS_VCPUS; i++)
		p->px[i].sock = -1;
	for (unsigned i = 0; p->sched && i < p->n_vcpus && !r; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
			r = error_set(err, errno, "socketpair: %s",
				      strerror(errno));
			break;
		}
		p->px[i].p = p;
		p->px[i].vcpu = i;
		p->px[i].sock = sv[0];
		wfds[n_wfds++] = sv[1];
	}
	if (!r)
		r = handshake(a, s, wfds, n_wfds, info, err);
	for (unsigned i = 0; i < n_wfds; i++)
		close(wfds[i]);
	if (!r && p->sched) {
		vmk_sched_vm_set_kick(p->sched, vmproc_kick, p);
		for (unsigned i = 0; i < p->n_vcpus; i++) {
			struct proxy *x = &p->px[i];
			x->started = !pthread_create(&x->thread, NULL,
						     vmproc_proxy_thread, x);
		}
	}
	if (!r)
		p->reader_started = !pthread_create(&p->reader, NULL,
						    vmproc_reader_thread, p);
	if (!r && !p->reader_started)
		r = error_set(err, EAGAIN, "cannot start a reader thread");
	if (r) {
		/* a worker that did not take us stays as it was (it waits
		 * for another daemon until its grace period ends) unless
		 * the caller ends it; the threads started end with the
		 * sockets */
		vmproc_detach(p);
		return r;
	}
	*out = p;
	return 0;
}

void vmproc_detach(struct vmproc *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->detaching = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	/* proxies blocked in the scheduler get a refusal; the worker's
	 * vCPUs then find their gate sockets closed and run on their own
	 * until a new daemon attaches */
	shutdown(p->sock, SHUT_RDWR);
	for (unsigned i = 0; i < p->n_vcpus; i++)
		if (p->px[i].sock >= 0)
			shutdown(p->px[i].sock, SHUT_RDWR);
	if (p->sched)
		vmk_sched_vm_shutdown(p->sched);
	if (p->reader_started)
		pthread_join(p->reader, NULL);
	/* the worker still maps the pool frames it holds */
	vmproc_free(p, true);
}
