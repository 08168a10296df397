/*
 * The VM worker without its daemon (issue 14, docs/architecture.md,
 * "Re-attaching workers after a daemon restart"): the rendezvous socket
 * the daemon gave, running the guest on its own while no daemon is
 * there, and a new daemon attaching. See vmworker_priv.h.
 *
 * Threads: the worker's main thread, except worker_console_attach (main).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/swport.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/pidns.h"
#include "vmm/vm.h"
#include "vmm/vmworker_priv.h"

#define LOG		     "worker"
#define HANDSHAKE_TIMEOUT_MS 5000

void worker_note_daemon(struct worker *w)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	w->daemon_uid = getsockopt(w->sock, SOL_SOCKET, SO_PEERCRED, &cr, &cl)
				? getuid()
				: cr.uid;
}

int worker_console_attach(struct worker *w)
{
	struct vm_viewer_ops vo = { worker_con_output, NULL, w };
	return vm_console_attach(w->vm, true, &vo, &w->viewer);
}

int worker_rendezvous(struct worker *w, const struct vmproto_msg *m,
		      const int *fds, unsigned nfds)
{
	if (nfds != 1 || m->a0 <= 0 || m->a0 > VMPROTO_GRACE_MAX ||
	    m->a1 == 0 || w->listen_fd >= 0)
		return -EINVAL;
	int type = 0;
	socklen_t tl = sizeof(type);
	if (getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &type, &tl) ||
	    type != SOCK_SEQPACKET)
		return -EINVAL;
	/* we listen, not the daemon that bound it: a connecting daemon's
	 * SO_PEERCRED then names this process */
	if (listen(fds[0], 4))
		return -errno;
	w->listen_fd = fds[0];
	w->grace_s = (unsigned)m->a0;
	w->gen = (uint32_t)m->a1;
	return 0;
}

/* The daemon is gone: every vCPU runs without run tokens (no scheduler
 * exists to hand them out) until a new daemon attaches. */
static void go_local(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->remote = false;
	w->link_gen++;
	for (unsigned i = 0; i < w->n_vcpus; i++)
		w->vcpu[i].granted = false;
	w->acked_seq = w->next_seq; /* no answer to wait for */
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void set_rcvtimeo(int s, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (long)(ms % 1000) * 1000 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void refuse(int conn, int code, const char *msg)
{
	struct vmproto_msg a = { .type = VMPROTO_ATTACHED,
				 .a0 = -code,
				 .data = msg,
				 .len = (uint32_t)strlen(msg) };
	vmproto_send(conn, &a, NULL, 0, MSG_DONTWAIT, NULL);
	log_warn(LOG, "a daemon asked to attach: %s", msg);
}

/* The switch ports of ATTACH (after the want gate sockets): each byte of
 * data names the NIC a port is for. "" when they fit this machine, else
 * why not (into msg). */
static void check_ports(struct worker *w, const struct vmproto_msg *m,
			const int *fds, unsigned want, char *msg, size_t size)
{
	bool seen[VIRT_MAX_VIRTIO] = { false };
	const uint8_t *nic = m->data;

	for (uint32_t i = 0; i < m->len; i++) {
		int type = 0;
		socklen_t tl = sizeof(type);
		if (nic[i] >= w->board.n_nets || nic[i] >= VIRT_MAX_VIRTIO ||
		    !w->ports[nic[i]]) {
			snprintf(msg, size,
				 "switch port for NIC %u: not a switch NIC of "
				 "this machine",
				 nic[i]);
			return;
		}
		if (seen[nic[i]]) {
			snprintf(msg, size, "two switch ports for NIC %u",
				 nic[i]);
			return;
		}
		seen[nic[i]] = true;
		if (getsockopt(fds[want + i], SOL_SOCKET, SO_TYPE, &type,
			       &tl) ||
		    type != SOCK_SEQPACKET) {
			snprintf(msg, size,
				 "switch port for NIC %u: not a seqpacket "
				 "socket",
				 nic[i]);
			return;
		}
	}
}

/* One connection on the rendezvous: 0 when it became our daemon. */
static int attach(struct worker *w, int conn, uint64_t since_ns)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &cl) ||
	    (cr.uid != w->daemon_uid && cr.uid != 0)) {
		refuse(conn, EPERM, "not the daemon's user");
		return -1;
	}
	uint8_t *buf = malloc(VMPROTO_RXBUF);
	if (!buf)
		return -1;
	struct vmproto_msg m;
	struct error err = { 0 };
	int fds[VMPROTO_MAX_FDS];
	unsigned nfds = 0;
	set_rcvtimeo(conn, HANDSHAKE_TIMEOUT_MS);
	int r = vmproto_recv(conn, buf, &m, fds, &nfds, &err);
	set_rcvtimeo(conn, 0);
	unsigned want = w->use_gate ? w->n_vcpus : 0;
	uint8_t nics[VIRT_MAX_VIRTIO];
	unsigned n_ports = 0;
	char msg[160] = "";
	if (r)
		snprintf(msg, sizeof(msg), "%.150s",
			 err.msg[0] ? err.msg : "no attach");
	else if (m.type != VMPROTO_ATTACH)
		snprintf(msg, sizeof(msg), "%s instead of attach",
			 vmproto_type_name(m.type));
	else if (m.a0 != VMPROTO_VERSION)
		snprintf(msg, sizeof(msg),
			 "protocol version %d (this worker speaks %u)", m.a0,
			 VMPROTO_VERSION);
	else if ((uint32_t)m.a1 != w->gen)
		snprintf(msg, sizeof(msg), "run %u (this worker runs %u)",
			 (unsigned)m.a1, w->gen);
	else if (nfds != want + m.len)
		snprintf(msg, sizeof(msg),
			 "%u descriptors for %u vCPUs and %u switch ports",
			 nfds, want, (unsigned)m.len);
	else
		check_ports(w, &m, fds, want, msg, sizeof(msg));
	if (!msg[0] && m.len) {
		n_ports = m.len; /* <= VIRT_MAX_VIRTIO: vmproto checked */
		memcpy(nics, m.data, n_ports);
	}
	free(buf);
	if (msg[0]) {
		refuse(conn, r == -EPROTO || !r ? EPROTO : -r, msg);
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return -1;
	}
	struct vmproto_attached at = {
		.pid = (int32_t)pidns_outer_pid(), /* the daemon's numbering */
		.gen = w->gen,
		.n_vcpus = w->n_vcpus,
		.paused = atomic_load(&w->paused),
		.detached_s = (uint32_t)((clock_monotonic_ns() - since_ns) /
					 1000000000),
		.ports = n_ports,
	};
	snprintf(at.name, sizeof(at.name), "%s", w->def.name);
	struct vmproto_msg a = { .type = VMPROTO_ATTACHED,
				 .data = &at,
				 .len = sizeof(at) };
	if (vmproto_send(conn, &a, NULL, 0, 0, NULL)) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return -1;
	}
	/* the new daemon's sockets take the old ones' numbers: threads that
	 * read w->sock or a gate socket need no other change */
	if (w->viewer) {
		vm_console_detach(w->viewer);
		w->viewer = NULL;
	}
	dup2(conn, w->sock);
	for (unsigned i = 0; i < want; i++) {
		if (w->vcpu[i].sock >= 0) {
			dup2(fds[i], w->vcpu[i].sock);
			close(fds[i]);
		} else {
			w->vcpu[i].sock = fds[i];
		}
	}
	/* the switch ports: each NIC's netdev thread takes its new
	 * connection and drops the dead one; the guest sees no link change */
	for (unsigned i = 0; i < n_ports; i++)
		if (net_swport_reconnect(w->ports[nics[i]], fds[want + i]))
			close(fds[want + i]); /* checked above: not reached */
	pthread_mutex_lock(&w->lock);
	w->remote = w->use_gate;
	w->link_gen++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	/* the scrollback (what the guest wrote while we were alone) first,
	 * then the output as it comes */
	if (worker_console_attach(w))
		log_warn(LOG, "console: cannot attach it again");
	log_info(LOG,
		 "a new daemon attached after %u s on our own (%u switch "
		 "port(s) connected again)",
		 at.detached_s, n_ports);
	return 0;
}

int worker_wait_for_daemon(struct worker *w)
{
	go_local(w);
	uint64_t since = clock_monotonic_ns();
	uint64_t end = since + (uint64_t)w->grace_s * 1000000000ull;
	log_info(LOG,
		 "the daemon is gone: the guest runs on; waiting up to %u s "
		 "for a new daemon",
		 w->grace_s);
	while (!atomic_load(&w->machine_ended)) {
		uint64_t now = clock_monotonic_ns();
		if (now >= end) {
			log_warn(LOG,
				 "no daemon came within %u s: stopping the "
				 "VM",
				 w->grace_s);
			return -1;
		}
		/* wake every second to notice the machine's end */
		uint64_t left = end - now;
		struct timespec ts = { .tv_sec = left >= 1000000000ull ? 1 : 0,
				       .tv_nsec = left >= 1000000000ull
							  ? 0
							  : (long)left };
		struct pollfd pf = { .fd = w->listen_fd, .events = POLLIN };
		int n = ppoll(&pf, 1, &ts, NULL);
		if (n <= 0)
			continue;
		int conn = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		int r = attach(w, conn, since);
		close(conn);
		if (!r)
			return 0;
	}
	return -1;
}
