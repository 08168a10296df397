/* The switch service: a vSwitch behind a SOCK_SEQPACKET socket (switch_svc.h). */
#include "net/switch_svc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/netdev.h"
#include "net/nft_masq.h"
#include "net/ipfwd.h"
#include "net/ovs.h"
#include "net/swproto.h"
#include "net/tap.h"
#include "util/clock.h"
#include "util/log.h"

#define LOG_SUB "vswitch"
/* Connections: every port plus a few that have not said hello yet. */
#define MAX_CONNS (VSWITCH_MAX_PORTS + 16)
/* Frames read from one port before the loop looks at the others. */
#define BATCH 32
/* A connection that says no hello in this time is closed: it would hold
 * one of the few spare connection slots. */
#define HELLO_TIMEOUT_NS (5ull * 1000000000ull)
/* Socket buffers: a few 64 KiB frames in flight per port. */
#define SOCK_BUF (1 << 20)

struct conn {
	int fd;			    /* -1: free slot */
	int port;		    /* -1 until the hello was accepted */
	uint64_t hello_deadline_ns; /* port -1: closed when passed */
	uint8_t mac[6];
	uint64_t sock_dropped;
	uint64_t cpu_ns; /* switching its frames (thread CPU time) */
};

struct switch_svc {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int evfd;
	pthread_t thread;
	bool stop;

	pthread_mutex_t lock; /* sw, conns[].port/mac/sock_dropped, uplink */
	int uplink_fd;	      /* -1: none */
	struct netdev *nat;   /* the NAT uplink, or NULL */
	int uplink_port;
	char uplink_name[TAP_IFNAME_MAX];
	uint64_t uplink_dropped;
	uint64_t uplink_cpu_ns; /* switching the uplink's frames */
	pid_t dhcp_pid;		/* dnsmasq of a routed uplink, 0: none */
	uint32_t routed_addr;	/* routed uplink: host address, 0: none */
	unsigned routed_prefix;
	bool masq;  /* its nftables masquerade chain is ours to remove */
	bool ipfwd; /* holds IPv4 forwarding (ipfwd.h) */
	char ovs_bridge[TAP_IFNAME_MAX]; /* bridged into OVS: its bridge */
	char bridge_kind[8];		 /* "linux", "ovs" or "" */
	char uplink_pg[VSWITCH_NAME_MAX + 1];
	struct vxlan *vx; /* distributed: uplink_fd is its UDP socket */
	struct vswitch *sw;
	struct conn conns[MAX_CONNS];
	struct pollfd pfd[MAX_CONNS + 3];
	int pfd_conn[MAX_CONNS + 3]; /* conn index of pfd[i], -1 */
	uint8_t *buf;		     /* VSWITCH_MAX_FRAME bytes */
};

/* ---- socket set-up -------------------------------------------------------- */

static int listen_socket(const char *path, struct error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, probe;

	if (strlen(path) >= sizeof(sa.sun_path))
		return error_set(err, ENAMETOOLONG,
				 "switch socket %s: longer than %zu bytes",
				 path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	/* a socket file left by a dead service: replace it; a live one: no */
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		int r = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		int e = errno;
		close(probe);
		if (r == 0)
			return error_set(err, EADDRINUSE,
					 "switch socket %s: a switch already "
					 "listens there",
					 path);
		if (e == ECONNREFUSED)
			unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return error_set(err, errno, "switch socket: %s",
				 strerror(errno));
	mode_t old = umask(0077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		e = r < 0 ? e : errno;
		close(fd);
		return error_set(err, e, "switch socket %s: %s", path,
				 strerror(e));
	}
	return fd;
}

static void set_bufs(int fd)
{
	int sz = SOCK_BUF;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

/* ---- ports -------------------------------------------------------------------- */

/* The switch hands a frame to a port: into its socket, never blocking (a
 * VM that does not read loses frames, the switch goes on). */
static void conn_output(void *opaque, const uint8_t *frame, size_t len)
{
	struct conn *c = opaque;

	if (send(c->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		c->sock_dropped++;
}

static void conn_close(struct switch_svc *svc, struct conn *c)
{
	pthread_mutex_lock(&svc->lock);
	if (c->port >= 0)
		vswitch_port_del(svc->sw, c->port);
	c->port = -1;
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&svc->lock);
}

static void reply(int fd, int status, uint32_t mtu, const char *msg)
{
	struct swproto_reply r;

	memset(&r, 0, sizeof(r));
	memcpy(r.magic, SWPROTO_REPLY_MAGIC, sizeof(r.magic));
	r.status = status;
	r.mtu = mtu;
	snprintf(r.msg, sizeof(r.msg), "%s", msg ? msg : "");
	if (send(fd, &r, sizeof(r), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug(LOG_SUB, "hello reply: %s", strerror(errno));
}

/* The first message of a connection: check it, connect the port. false:
 * refused (the caller closes). */
static bool conn_hello(struct switch_svc *svc, struct conn *c)
{
	struct swproto_hello h;
	struct error err = { 0 };
	ssize_t n = recv(c->fd, &h, sizeof(h), MSG_DONTWAIT | MSG_TRUNC);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n != sizeof(h) || memcmp(h.magic, SWPROTO_MAGIC, sizeof(h.magic))) {
		reply(c->fd, -EPROTO, 0, "bad hello: not a softvisor port");
		return false;
	}
	if (!memchr(h.portgroup, 0, sizeof(h.portgroup))) {
		reply(c->fd, -EINVAL, 0, "bad hello: port group name");
		return false;
	}
	if (h.mac[0] & 1) {
		reply(c->fd, -EINVAL, 0, "bad hello: a multicast MAC");
		return false;
	}
	pthread_mutex_lock(&svc->lock);
	int port = vswitch_port_add(
		svc->sw, h.portgroup[0] ? h.portgroup : SWITCH_SVC_DEFAULT_PG,
		h.mac, conn_output, c, &err);
	uint32_t mtu = vswitch_mtu(svc->sw);
	if (port >= 0) {
		c->port = port;
		memcpy(c->mac, h.mac, 6);
		c->sock_dropped = 0;
		c->cpu_ns = 0;
	}
	pthread_mutex_unlock(&svc->lock);
	if (port < 0) {
		reply(c->fd, port, 0, err.msg);
		return false;
	}
	reply(c->fd, 0, mtu, NULL);
	log_debug(LOG_SUB, "%s: port %d joined %s", vswitch_name(svc->sw), port,
		  h.portgroup);
	return true;
}

/* CPU time of the calling thread, ns. The cost of switching is charged
 * per batch to the port the frames came from: two clock reads per batch
 * of up to BATCH frames, against a recv and a send per frame. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Frames from a port: switch up to BATCH of them. false: the VM left. */
static bool conn_input(struct switch_svc *svc, struct conn *c)
{
	bool alive = true;

	pthread_mutex_lock(&svc->lock);
	uint64_t cpu0 = thread_cpu_ns();
	uint64_t now = clock_monotonic_ns();
	for (int i = 0; i < BATCH; i++) {
		ssize_t n = recv(c->fd, svc->buf, VSWITCH_MAX_FRAME,
				 MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			alive = errno == EAGAIN || errno == EINTR;
			break;
		}
		if (n == 0) {
			alive = false;
			break;
		}
		/* a truncated frame has n > VSWITCH_MAX_FRAME: dropped there */
		vswitch_input(svc->sw, c->port, svc->buf, (size_t)n, now);
	}
	c->cpu_ns += thread_cpu_ns() - cpu0;
	pthread_mutex_unlock(&svc->lock);
	return alive;
}

static void accept_conns(struct switch_svc *svc)
{
	for (;;) {
		int fd = accept4(svc->listen_fd, NULL, NULL,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);
		int i;

		if (fd < 0)
			return;
		for (i = 0; i < MAX_CONNS && svc->conns[i].fd >= 0; i++)
			;
		if (i == MAX_CONNS) {
			reply(fd, -ENOSPC, 0, "switch: too many connections");
			close(fd);
			continue;
		}
		set_bufs(fd);
		pthread_mutex_lock(&svc->lock);
		svc->conns[i].fd = fd;
		svc->conns[i].port = -1;
		svc->conns[i].hello_deadline_ns = clock_monotonic_ns() +
						  HELLO_TIMEOUT_NS;
		pthread_mutex_unlock(&svc->lock);
	}
}

/* ---- the uplink ---------------------------------------------------------------- */

static void uplink_output(void *opaque, const uint8_t *frame, size_t len)
{
	struct switch_svc *svc = opaque;

	if (write(svc->uplink_fd, frame, len) < 0)
		svc->uplink_dropped++;
}

/* Datagrams from the VXLAN peers (caller holds the lock). */
static void vxlan_input(struct switch_svc *svc, uint64_t now)
{
	for (int i = 0; i < BATCH; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		const uint8_t *frame;
		size_t flen;
		ssize_t n = recvfrom(svc->uplink_fd, svc->buf,
				     VSWITCH_MAX_FRAME, MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		if (fl != sizeof(from) || from.sin_family != AF_INET)
			continue;
		if (vxlan_decap(svc->vx, svc->buf, (size_t)n, &from, now,
				&frame, &flen))
			continue; /* counted there */
		vswitch_input(svc->sw, svc->uplink_port, frame, flen, now);
	}
}

/* The switch hands a frame to the VXLAN uplink: to its peer, or to every
 * peer (head-end replication). */
static void vxlan_output(void *opaque, const uint8_t *frame, size_t len)
{
	struct switch_svc *svc = opaque;
	struct vxlan_tx tx;
	unsigned n = vxlan_encap(svc->vx, frame, len, clock_monotonic_ns(),
				 &tx);
	const struct vxlan_config *cfg = vxlan_config(svc->vx);

	for (unsigned i = 0; i < n; i++) {
		struct iovec iov[2] = { { tx.hdr, VXLAN_HLEN },
					{ (void *)tx.inner, tx.inner_len } };
		struct msghdr m = { .msg_name = (void *)&cfg->peers[tx.dst[i]],
				    .msg_namelen = sizeof(struct sockaddr_in),
				    .msg_iov = iov,
				    .msg_iovlen = 2 };
		if (sendmsg(svc->uplink_fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) <
		    0)
			svc->uplink_dropped++;
	}
}

int switch_svc_set_uplink_vxlan(struct switch_svc *svc,
				const struct vxlan_config *cfg,
				struct error *err)
{
	char a[32];
	int fd, one = 1;
	struct vxlan *vx = vxlan_new(cfg, err);

	if (!vx)
		return err ? -err->code : -EINVAL;
	vxlan_format_addr(&cfg->local, a, sizeof(a));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		vxlan_free(vx);
		return error_set(err, errno, "vxlan: socket: %s",
				 strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	set_bufs(fd);
	if (bind(fd, (const struct sockaddr *)&cfg->local, sizeof(cfg->local)) <
	    0) {
		int e = errno;
		close(fd);
		vxlan_free(vx);
		return error_set(err, e, "vxlan: bind %s: %s", a, strerror(e));
	}
	pthread_mutex_lock(&svc->lock);
	if (svc->uplink_fd >= 0 || svc->nat) {
		pthread_mutex_unlock(&svc->lock);
		close(fd);
		vxlan_free(vx);
		return error_set(err, EALREADY, "switch %s has an uplink",
				 vswitch_name(svc->sw));
	}
	int port = vswitch_trunk_uplink_add(svc->sw, vxlan_output, svc, err);
	if (port < 0) {
		pthread_mutex_unlock(&svc->lock);
		close(fd);
		vxlan_free(vx);
		return port;
	}
	svc->vx = vx;
	svc->uplink_fd = fd;
	svc->uplink_port = port;
	snprintf(svc->uplink_name, sizeof(svc->uplink_name), "vxlan");
	pthread_mutex_unlock(&svc->lock);
	uint64_t ev = 1;
	if (write(svc->evfd, &ev, sizeof(ev)) < 0)
		log_warn(LOG_SUB, "eventfd: %s", strerror(errno));
	log_info(LOG_SUB, "%s: VXLAN endpoint %s, %u peer(s)",
		 vswitch_name(svc->sw), a, vxlan_config(vx)->n_peers);
	return 0;
}

int switch_svc_set_vxlan_peers(struct switch_svc *svc,
			       const struct sockaddr_in *peers, unsigned n,
			       unsigned *n_out)
{
	int r = -ENOENT;

	pthread_mutex_lock(&svc->lock);
	if (svc->vx)
		r = vxlan_set_peers(svc->vx, peers, n);
	pthread_mutex_unlock(&svc->lock);
	if (r >= 0 && n_out)
		*n_out = (unsigned)r;
	return r < 0 ? r : 0;
}

int switch_svc_vxlan_peers(struct switch_svc *svc, struct sockaddr_in *out)
{
	int r = -ENOENT;

	pthread_mutex_lock(&svc->lock);
	if (svc->vx) {
		const struct vxlan_config *c = vxlan_config(svc->vx);
		memcpy(out, c->peers, c->n_peers * sizeof(*out));
		r = (int)c->n_peers;
	}
	pthread_mutex_unlock(&svc->lock);
	return r;
}

int switch_svc_vxlan_stats(struct switch_svc *svc, struct vxlan_stats *st)
{
	int r = -ENOENT;

	pthread_mutex_lock(&svc->lock);
	if (svc->vx) {
		vxlan_stats(svc->vx, st);
		r = 0;
	}
	pthread_mutex_unlock(&svc->lock);
	return r;
}

/* Frames from the host's side of the TAP. */
static void uplink_input(struct switch_svc *svc)
{
	pthread_mutex_lock(&svc->lock);
	uint64_t cpu0 = thread_cpu_ns();
	if (svc->vx) {
		vxlan_input(svc, clock_monotonic_ns());
		svc->uplink_cpu_ns += thread_cpu_ns() - cpu0;
		pthread_mutex_unlock(&svc->lock);
		return;
	}
	uint64_t now = clock_monotonic_ns();
	for (int i = 0; i < BATCH; i++) {
		ssize_t n = read(svc->uplink_fd, svc->buf, VSWITCH_MAX_FRAME);
		if (n <= 0)
			break;
		vswitch_input(svc->sw, svc->uplink_port, svc->buf, (size_t)n,
			      now);
	}
	svc->uplink_cpu_ns += thread_cpu_ns() - cpu0;
	pthread_mutex_unlock(&svc->lock);
}

static int uplink_attach_tap(struct switch_svc *svc, int fd, const char *name,
			     const char *pg, struct error *err);

/* The VLAN of port group name: 0..4095, or 0 when there is none (caller
 * holds the lock). */
static unsigned pg_vlan(struct switch_svc *svc, const char *name)
{
	unsigned n;
	const struct vswitch_portgroup_config *pg = vswitch_portgroups(svc->sw,
								       &n);

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(pg[i].name, name))
			return pg[i].vlan;
	return 0;
}

int switch_svc_set_uplink_bridge(struct switch_svc *svc, const char *bridge,
				 const char *pg, struct error *err)
{
	return switch_svc_set_uplink_bridge_kind(svc, bridge,
						 SWITCH_BRIDGE_AUTO, pg, err);
}

/* Attach TAP got to bridge as kind wants; *ovs set when it went into
 * Open vSwitch. No lock held: ovs-vsctl takes its time. */
static int bridge_attach(struct switch_svc *svc, const char *got,
			 const char *bridge, enum switch_bridge_kind kind,
			 unsigned vlan, bool *ovs, struct error *err)
{
	struct error e2 = { 0 };
	int r = -EOPNOTSUPP, x;

	*ovs = false;
	if (kind != SWITCH_BRIDGE_OVS) {
		r = tap_bridge_attach(got, bridge, err);
		if (!r || kind == SWITCH_BRIDGE_LINUX ||
		    (r != -EOPNOTSUPP && r != -ENODEV) || !ovs_running())
			return r;
	}
	/* not a Linux bridge (or asked for OVS): is it an OVS bridge? */
	x = ovs_bridge_exists(bridge, &e2);
	if (x == 1) {
		*ovs = true;
		return ovs_port_add(bridge, got, vswitch_name(svc->sw), vlan,
				    err);
	}
	if (kind == SWITCH_BRIDGE_OVS)
		return x == 0 ? error_set(err, ENODEV,
					  "no Open vSwitch bridge %s", bridge)
			      : error_set(err, -x, "%s", e2.msg);
	if (x == 0)
		error_set(err, -r, "tap %s: no Linux or Open vSwitch bridge %s",
			  got, bridge);
	return r;
}

int switch_svc_set_uplink_bridge_kind(struct switch_svc *svc,
				      const char *bridge,
				      enum switch_bridge_kind kind,
				      const char *pg, struct error *err)
{
	char want[TAP_IFNAME_MAX], got[TAP_IFNAME_MAX];
	const char *pgn = pg ? pg : SWITCH_SVC_DEFAULT_PG;
	bool ovs = false;
	unsigned vlan;
	int fd, r;

	if (strlen(bridge) >= TAP_IFNAME_MAX)
		return error_set(err, EINVAL, "bridge '%s': longer than %d",
				 bridge, TAP_IFNAME_MAX - 1);
	pthread_mutex_lock(&svc->lock);
	r = svc->uplink_fd >= 0 || svc->nat
		    ? error_set(err, EALREADY, "switch %s has an uplink",
				vswitch_name(svc->sw))
		    : 0;
	snprintf(want, sizeof(want), "sv-%.12s", vswitch_name(svc->sw));
	uint32_t mtu = vswitch_mtu(svc->sw);
	vlan = pg_vlan(svc, pgn);
	pthread_mutex_unlock(&svc->lock);
	if (r)
		return r;
	fd = tap_open(want, NULL, mtu, got, err);
	if (fd < 0)
		return fd;
	r = bridge_attach(svc, got, bridge, kind, vlan, &ovs, err);
	if (r) {
		close(fd);
		return r;
	}
	pthread_mutex_lock(&svc->lock);
	r = svc->uplink_fd >= 0 || svc->nat
		    ? error_set(err, EALREADY, "switch %s has an uplink",
				vswitch_name(svc->sw))
		    : uplink_attach_tap(svc, fd, got, pgn, err);
	if (!r) {
		snprintf(svc->bridge_kind, sizeof(svc->bridge_kind), "%s",
			 ovs ? "ovs" : "linux");
		snprintf(svc->uplink_pg, sizeof(svc->uplink_pg), "%s", pgn);
		if (ovs)
			snprintf(svc->ovs_bridge, sizeof(svc->ovs_bridge), "%s",
				 bridge);
	}
	pthread_mutex_unlock(&svc->lock);
	if (r) {
		if (ovs)
			ovs_port_del(bridge, got, vswitch_name(svc->sw), NULL);
		close(fd);
	}
	return r;
}

const char *switch_svc_bridge_kind(struct switch_svc *svc)
{
	return svc->bridge_kind; /* set once, before anyone asks */
}

/* Connect an opened TAP as the uplink port (caller holds the lock). */
static int uplink_attach_tap(struct switch_svc *svc, int fd, const char *name,
			     const char *pg, struct error *err)
{
	int port = vswitch_uplink_add(svc->sw, pg ? pg : SWITCH_SVC_DEFAULT_PG,
				      uplink_output, svc, err);
	uint64_t one = 1;

	if (port < 0)
		return port;
	svc->uplink_fd = fd;
	svc->uplink_port = port;
	snprintf(svc->uplink_name, sizeof(svc->uplink_name), "%s", name);
	/* the loop polls the new fd from its next round */
	if (write(svc->evfd, &one, sizeof(one)) < 0)
		log_warn(LOG_SUB, "eventfd: %s", strerror(errno));
	return 0;
}

extern char **environ;

/* ---- the DHCP server's record ------------------------------------------------
 * dnsmasq is our child, but a service that dies (a daemon's kill -9, left
 * running VMs or not) cannot stop it: it would run on for ever, and a
 * second one would serve the same subnet once the switch is back. So its
 * pid and start time go into a file next to the switch's socket
 * (NAME.dnsmasq.pid); the next start of that switch ends the one it names
 * if that is still the same process and still dnsmasq. */

static void dhcp_record_path(const struct switch_svc *svc, char *buf,
			     size_t size)
{
	size_t n = strlen(svc->path);

	if (n > 5 && !strcmp(svc->path + n - 5, ".sock"))
		n -= 5;
	snprintf(buf, size, "%.*s.dnsmasq.pid", (int)n, svc->path);
}

/* Start time (clock ticks after boot) and command name of pid: 0 or -1. */
static int proc_start(pid_t pid, unsigned long long *start, char *comm,
		      size_t size)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *open = strchr(buf, '('), *close_ = strrchr(buf, ')');
	if (!open || !close_ || close_ < open)
		return -1;
	snprintf(comm, size, "%.*s", (int)(close_ - open - 1), open + 1);
	/* after ") ": state is field 3, starttime field 22 */
	char *p = close_ + 1;
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	return sscanf(p + 1, "%llu", start) == 1 ? 0 : -1;
}

/* End the dnsmasq a dead service of this switch left, if any. */
static void dhcp_end_stale(struct switch_svc *svc)
{
	char path[160], comm[32];
	unsigned long long start = 0, now = 0;
	int pid = 0;

	dhcp_record_path(svc, path, sizeof(path));
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	int n = fscanf(f, "%d %llu", &pid, &start);
	fclose(f);
	unlink(path);
	if (n != 2 || pid <= 1 || pid == getpid())
		return;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return; /* gone */
	/* pinned: check it is the recorded process before the signal */
	if (!proc_start(pid, &now, comm, sizeof(comm)) && now == start &&
	    !strcmp(comm, "dnsmasq") &&
	    !syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0)) {
		struct pollfd pf = { pidfd, POLLIN, 0 };
		if (poll(&pf, 1, 2000) <= 0)
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		log_info(LOG_SUB,
			 "%s: ended the DHCP server (dnsmasq %d) its last run "
			 "left",
			 vswitch_name(svc->sw), pid);
	}
	close(pidfd);
}

static void dhcp_record(struct switch_svc *svc)
{
	char path[160], comm[32], tmp[176];
	unsigned long long start = 0;

	dhcp_record_path(svc, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (proc_start(svc->dhcp_pid, &start, comm, sizeof(comm)))
		return;
	FILE *f = fopen(tmp, "we");
	if (!f) {
		log_warn(LOG_SUB, "%s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f, "%d %llu\n", (int)svc->dhcp_pid, start);
	if (fclose(f) || rename(tmp, path)) {
		log_warn(LOG_SUB, "%s: %s", path, strerror(errno));
		unlink(tmp);
	}
}

/* dnsmasq on ifname serving [lo, hi] of the subnet. */
static int dhcp_start(struct switch_svc *svc, const char *ifname, uint32_t lo,
		      uint32_t hi, uint32_t mask, struct error *err)
{
	static const char exe[] = "/usr/sbin/dnsmasq";
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN];
	char range[96], iface[48];
	pid_t pid;
	int r;

	inet_ntop(AF_INET, &lo, a, sizeof(a));
	inet_ntop(AF_INET, &hi, b, sizeof(b));
	inet_ntop(AF_INET, &mask, m, sizeof(m));
	snprintf(range, sizeof(range), "--dhcp-range=%s,%s,%s,1h", a, b, m);
	snprintf(iface, sizeof(iface), "--interface=%s", ifname);
	char *argv[] = { (char *)exe,
			 "--keep-in-foreground",
			 "--no-resolv",
			 "--no-hosts",
			 "--port=0",
			 "--bind-interfaces",
			 "--conf-file",
			 iface,
			 "--except-interface=lo",
			 range,
			 "--leasefile-ro",
			 "--pid-file",
			 NULL };
	if (access(exe, X_OK) < 0)
		return error_set(err, ENOENT,
				 "dhcp: %s not found (Debian's dnsmasq-base)",
				 exe);
	/* the child starts with no signal blocked or ignored: the caller
	 * (switch serve) blocks SIGTERM for sigwait, and a dnsmasq that
	 * inherited that would never stop */
	posix_spawnattr_t attr;
	sigset_t none, def;
	sigemptyset(&none);
	sigfillset(&def);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	dhcp_end_stale(svc);
	r = posix_spawn(&pid, exe, NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (r)
		return error_set(err, r, "dhcp: cannot start %s: %s", exe,
				 strerror(r));
	svc->dhcp_pid = pid;
	dhcp_record(svc);
	return 0;
}

int switch_svc_set_uplink_routed(struct switch_svc *svc, uint32_t addr,
				 unsigned prefix, bool dhcp, const char *pg,
				 struct error *err)
{
	char want[TAP_IFNAME_MAX], got[TAP_IFNAME_MAX];
	int fd, r;

	if (prefix < 1 || prefix > 29)
		return error_set(err, EINVAL,
				 "routed: prefix /%u: expected 1..29", prefix);
	pthread_mutex_lock(&svc->lock);
	if (svc->uplink_fd >= 0 || svc->nat) {
		pthread_mutex_unlock(&svc->lock);
		return error_set(err, EALREADY, "switch %s has an uplink",
				 vswitch_name(svc->sw));
	}
	snprintf(want, sizeof(want), "sv-%.12s", vswitch_name(svc->sw));
	fd = tap_open(want, NULL, vswitch_mtu(svc->sw), got, err);
	r = fd < 0 ? fd : tap_set_ipv4(got, addr, prefix, err);
	if (!r) {
		uint32_t h = ntohl(addr), mask = ~0u << (32 - prefix);
		uint32_t net = h & mask, hostmax = ~mask;
		uint32_t lo = net | (hostmax / 2 + 1), hi = net | (hostmax - 1);
		if ((h & hostmax) > hostmax / 2) {
			lo = net | 2;
			hi = net | (hostmax / 2);
		}
		if (dhcp)
			r = dhcp_start(svc, got, htonl(lo), htonl(hi),
				       htonl(mask), err);
	}
	if (!r)
		r = uplink_attach_tap(svc, fd, got, pg, err);
	if (!r) {
		struct error fe = { 0 };
		svc->routed_addr = addr;
		svc->routed_prefix = prefix;
		/* routing needs forwarding; without it the host side is
		 * still reachable, so a refusal is a warning */
		svc->ipfwd = ipfwd_acquire(&fe) == 0;
		if (!svc->ipfwd)
			log_warn(LOG_SUB,
				 "%s: cannot turn IPv4 forwarding on: %s",
				 vswitch_name(svc->sw), fe.msg);
	}
	pthread_mutex_unlock(&svc->lock);
	if (r && fd >= 0)
		close(fd);
	return r;
}

int switch_svc_set_masquerade(struct switch_svc *svc, struct error *err)
{
	int r;

	pthread_mutex_lock(&svc->lock);
	if (!svc->routed_addr)
		r = error_set(err, EINVAL,
			      "switch %s: masquerade needs a routed uplink",
			      vswitch_name(svc->sw));
	else if (svc->masq)
		r = error_set(err, EALREADY, "switch %s: masquerade is on",
			      vswitch_name(svc->sw));
	else
		r = nft_masq_add(vswitch_name(svc->sw), svc->routed_addr,
				 svc->routed_prefix, err);
	if (!r) {
		svc->masq = true;
		if (!nft_masq_forwarding())
			log_warn(LOG_SUB,
				 "%s: masquerade set, but IPv4 forwarding is "
				 "off (sysctl net.ipv4.ip_forward=1)",
				 vswitch_name(svc->sw));
	}
	pthread_mutex_unlock(&svc->lock);
	return r;
}

/* NAT: the switch hands frames to slirp (queued to its netdev thread);
 * slirp's frames arrive on that thread through this client. */
static void nat_output(void *opaque, const uint8_t *frame, size_t len)
{
	struct switch_svc *svc = opaque;
	struct iovec iov = { (void *)frame, len };

	if (netdev_send(svc->nat, &iov, 1) < 0)
		svc->uplink_dropped++;
}

static int nat_receive(void *opaque, const struct iovec *iov, int n_iov)
{
	struct switch_svc *svc = opaque;

	if (n_iov != 1)
		return -EINVAL; /* the netdev core delivers one buffer */
	pthread_mutex_lock(&svc->lock);
	vswitch_input(svc->sw, svc->uplink_port, iov[0].iov_base,
		      iov[0].iov_len, clock_monotonic_ns());
	pthread_mutex_unlock(&svc->lock);
	return 0;
}

int switch_svc_set_uplink_nat(struct switch_svc *svc,
			      const struct net_user_config *cfg, const char *pg,
			      struct error *err)
{
	char name[32];
	struct netdev *nd;
	int port;

	pthread_mutex_lock(&svc->lock);
	if (svc->uplink_fd >= 0 || svc->nat) {
		pthread_mutex_unlock(&svc->lock);
		return error_set(err, EALREADY, "switch %s has an uplink",
				 vswitch_name(svc->sw));
	}
	snprintf(name, sizeof(name), "nat-%.20s", vswitch_name(svc->sw));
	/* slirp's frames must fit the switch */
	struct net_user_config c2 = *cfg;
	c2.mtu = vswitch_mtu(svc->sw);
	if (c2.mtu > NET_USER_MTU_MAX)
		c2.mtu = NET_USER_MTU_MAX;
	nd = net_user_create(&c2, name, err);
	if (!nd) {
		pthread_mutex_unlock(&svc->lock);
		return -EIO;
	}
	port = vswitch_uplink_add(svc->sw, pg ? pg : SWITCH_SVC_DEFAULT_PG,
				  nat_output, svc, err);
	if (port < 0) {
		pthread_mutex_unlock(&svc->lock);
		netdev_destroy(nd);
		return port;
	}
	svc->nat = nd;
	svc->uplink_port = port;
	snprintf(svc->uplink_name, sizeof(svc->uplink_name), "nat");
	pthread_mutex_unlock(&svc->lock);
	struct netdev_client c = { nat_receive, NULL, svc };
	netdev_attach(nd, &c);
	return 0;
}

uint64_t switch_svc_cpu_ns(struct switch_svc *svc)
{
	clockid_t cid;
	struct timespec ts;

	if (pthread_getcpuclockid(svc->thread, &cid) || clock_gettime(cid, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int switch_svc_uplink_stats(struct switch_svc *svc,
			    struct vswitch_port_stats *st)
{
	int r = -ENOENT;

	pthread_mutex_lock(&svc->lock);
	if (svc->uplink_fd >= 0 || svc->nat)
		r = vswitch_port_stats(svc->sw, svc->uplink_port, st);
	if (!r)
		st->rx_dropped += svc->uplink_dropped;
	pthread_mutex_unlock(&svc->lock);
	return r;
}

uint64_t switch_svc_uplink_cpu_ns(struct switch_svc *svc)
{
	pthread_mutex_lock(&svc->lock);
	uint64_t ns = svc->uplink_cpu_ns;
	pthread_mutex_unlock(&svc->lock);
	return ns;
}

void switch_svc_uplink_name(struct switch_svc *svc, char *buf, size_t size)
{
	pthread_mutex_lock(&svc->lock);
	snprintf(buf, size, "%s", svc->uplink_name);
	pthread_mutex_unlock(&svc->lock);
}

/* ---- the thread ------------------------------------------------------------------ */

static void *svc_thread(void *arg)
{
	struct switch_svc *svc = arg;

	for (;;) {
		int n = 0;

		svc->pfd[n] = (struct pollfd){ svc->evfd, POLLIN, 0 };
		svc->pfd_conn[n++] = -1;
		svc->pfd[n] = (struct pollfd){ svc->listen_fd, POLLIN, 0 };
		svc->pfd_conn[n++] = -1;
		pthread_mutex_lock(&svc->lock);
		int ufd = svc->uplink_fd;
		pthread_mutex_unlock(&svc->lock);
		svc->pfd[n] = (struct pollfd){ ufd, POLLIN, 0 };
		svc->pfd_conn[n++] = -1;
		for (int i = 0; i < MAX_CONNS; i++) {
			if (svc->conns[i].fd < 0)
				continue;
			svc->pfd[n] = (struct pollfd){ svc->conns[i].fd, POLLIN,
						       0 };
			svc->pfd_conn[n++] = i;
		}
		/* wake for the earliest hello deadline */
		uint64_t now = clock_monotonic_ns(), next = UINT64_MAX;
		for (int i = 0; i < MAX_CONNS; i++)
			if (svc->conns[i].fd >= 0 && svc->conns[i].port < 0 &&
			    svc->conns[i].hello_deadline_ns < next)
				next = svc->conns[i].hello_deadline_ns;
		int timeout = next == UINT64_MAX ? -1
			      : next <= now	 ? 0
					    : (int)((next - now) / 1000000 + 1);
		if (poll(svc->pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error(LOG_SUB, "poll: %s", strerror(errno));
			break;
		}
		if (__atomic_load_n(&svc->stop, __ATOMIC_ACQUIRE))
			break;
		if (svc->pfd[0].revents & POLLIN) {
			uint64_t cnt;
			if (read(svc->evfd, &cnt, sizeof(cnt)) < 0)
				log_debug(LOG_SUB, "eventfd: %s",
					  strerror(errno));
		}
		now = clock_monotonic_ns();
		for (int k = 3; k < n; k++) {
			struct conn *c = &svc->conns[svc->pfd_conn[k]];
			if (c->fd >= 0 && c->port < 0 &&
			    !(svc->pfd[k].revents & POLLIN) &&
			    now >= c->hello_deadline_ns) {
				log_debug(LOG_SUB,
					  "a connection said no hello");
				conn_close(svc, c);
				svc->pfd[k].revents = 0;
			}
		}
		if (svc->pfd[1].revents & POLLIN)
			accept_conns(svc);
		if (svc->pfd[2].revents & POLLIN)
			uplink_input(svc);
		for (int k = 3; k < n; k++) {
			struct conn *c = &svc->conns[svc->pfd_conn[k]];
			short ev = svc->pfd[k].revents;
			bool ok = true;

			if (!ev)
				continue;
			if (ev & POLLIN)
				ok = c->port < 0 ? conn_hello(svc, c)
						 : conn_input(svc, c);
			else if (ev & (POLLHUP | POLLERR | POLLNVAL))
				ok = false;
			if (!ok)
				conn_close(svc, c);
		}
	}
	return NULL;
}

/* ---- life cycle and configuration --------------------------------------------- */

struct switch_svc *switch_svc_start(const char *name, const char *sock_path,
				    uint32_t mtu, struct error *err)
{
	struct vswitch_portgroup_config pg;
	struct switch_svc *svc;
	sigset_t all, old;
	int r;

	if (vswitch_check_name(name, "switch", err))
		return NULL;
	if (mtu && (mtu < VSWITCH_MTU_MIN || mtu > VSWITCH_MTU_MAX)) {
		error_set(err, EINVAL, "switch %s: mtu %u: expected %d..%d",
			  name, mtu, VSWITCH_MTU_MIN, VSWITCH_MTU_MAX);
		return NULL;
	}
	svc = calloc(1, sizeof(*svc));
	if (!svc || !(svc->buf = malloc(VSWITCH_MAX_FRAME)) ||
	    !(svc->sw = vswitch_new(name, mtu))) {
		if (svc)
			free(svc->buf);
		free(svc);
		error_set(err, ENOMEM, "switch %s: out of memory", name);
		return NULL;
	}
	for (int i = 0; i < MAX_CONNS; i++)
		svc->conns[i].fd = -1;
	svc->uplink_fd = -1;
	vswitch_portgroup_init(&pg, SWITCH_SVC_DEFAULT_PG);
	vswitch_portgroup_set(svc->sw, &pg, NULL);
	pthread_mutex_init(&svc->lock, NULL);
	svc->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	svc->listen_fd = svc->evfd < 0 ? -1 : listen_socket(sock_path, err);
	if (svc->evfd < 0)
		error_set(err, errno, "switch %s: eventfd: %s", name,
			  strerror(errno));
	if (svc->listen_fd < 0)
		goto fail;
	snprintf(svc->path, sizeof(svc->path), "%s", sock_path);

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&svc->thread, NULL, svc_thread, svc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		error_set(err, r, "switch %s: thread: %s", name, strerror(r));
		close(svc->listen_fd);
		unlink(sock_path);
		goto fail;
	}
	char tname[16];
	snprintf(tname, sizeof(tname), "sw-%.12s", name);
	pthread_setname_np(svc->thread, tname);
	return svc;
fail:
	if (svc->evfd >= 0)
		close(svc->evfd);
	pthread_mutex_destroy(&svc->lock);
	vswitch_free(svc->sw);
	free(svc->buf);
	free(svc);
	return NULL;
}

void switch_svc_stop(struct switch_svc *svc)
{
	uint64_t one = 1;

	if (!svc)
		return;
	__atomic_store_n(&svc->stop, true, __ATOMIC_RELEASE);
	if (write(svc->evfd, &one, sizeof(one)) < 0)
		log_warn(LOG_SUB, "eventfd: %s", strerror(errno));
	pthread_join(svc->thread, NULL);
	if (svc->nat) {
		netdev_detach(svc->nat);
		netdev_destroy(svc->nat);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (svc->conns[i].fd >= 0)
			conn_close(svc, &svc->conns[i]);
	close(svc->listen_fd);
	unlink(svc->path);
	close(svc->evfd);
	if (svc->dhcp_pid > 0) {
		char rec[160];
		kill(svc->dhcp_pid, SIGTERM);
		waitpid(svc->dhcp_pid, NULL, 0);
		dhcp_record_path(svc, rec, sizeof(rec));
		unlink(rec);
	}
	if (svc->masq) {
		struct error e = { 0 };
		if (nft_masq_del(vswitch_name(svc->sw), &e))
			log_warn(LOG_SUB, "%s", e.msg);
	}
	if (svc->ovs_bridge[0]) {
		struct error e = { 0 };
		if (ovs_port_del(svc->ovs_bridge, svc->uplink_name,
				 vswitch_name(svc->sw), &e) < 0 &&
		    e.msg[0])
			log_warn(LOG_SUB, "%s", e.msg);
	}
	if (svc->uplink_fd >= 0)
		close(svc->uplink_fd); /* the TAP device goes with it */
	if (svc->ipfwd)
		ipfwd_release();
	vxlan_free(svc->vx);
	pthread_mutex_destroy(&svc->lock);
	vswitch_free(svc->sw);
	free(svc->buf);
	free(svc);
}

const char *switch_svc_name(const struct switch_svc *svc)
{
	return vswitch_name(svc->sw);
}

const char *switch_svc_path(const struct switch_svc *svc)
{
	return svc->path;
}

uint32_t switch_svc_mtu(struct switch_svc *svc)
{
	pthread_mutex_lock(&svc->lock);
	uint32_t m = vswitch_mtu(svc->sw);
	pthread_mutex_unlock(&svc->lock);
	return m;
}

int switch_svc_set_mtu(struct switch_svc *svc, uint32_t mtu, struct error *err)
{
	pthread_mutex_lock(&svc->lock);
	int r = vswitch_set_mtu(svc->sw, mtu, err);
	pthread_mutex_unlock(&svc->lock);
	return r;
}

int switch_svc_portgroup_set(struct switch_svc *svc,
			     const struct vswitch_portgroup_config *pg,
			     struct error *err)
{
	pthread_mutex_lock(&svc->lock);
	bool ovs = svc->ovs_bridge[0] && !strcmp(pg->name, svc->uplink_pg);
	unsigned old = pg_vlan(svc, pg->name);
	int r = vswitch_portgroup_set(svc->sw, pg, err);
	pthread_mutex_unlock(&svc->lock);
	/* the OVS port of a bridged uplink follows its port group's VLAN */
	if (!r && ovs && old != pg->vlan)
		r = ovs_port_set_vlan(svc->uplink_name, vswitch_name(svc->sw),
				      pg->vlan, err);
	return r;
}

int switch_svc_portgroup_del(struct switch_svc *svc, const char *name,
			     struct error *err)
{
	pthread_mutex_lock(&svc->lock);
	int r = vswitch_portgroup_del(svc->sw, name, err);
	pthread_mutex_unlock(&svc->lock);
	return r;
}

unsigned switch_svc_portgroups(struct switch_svc *svc,
			       struct vswitch_portgroup_config *out,
			       unsigned max)
{
	unsigned n;

	pthread_mutex_lock(&svc->lock);
	const struct vswitch_portgroup_config *pg = vswitch_portgroups(svc->sw,
								       &n);
	memcpy(out, pg, (n < max ? n : max) * sizeof(*pg));
	pthread_mutex_unlock(&svc->lock);
	return n;
}

unsigned switch_svc_ports(struct switch_svc *svc, struct switch_port_info *out,
			  unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&svc->lock);
	for (int i = 0; i < MAX_CONNS; i++) {
		const struct conn *c = &svc->conns[i];
		if (c->fd < 0 || c->port < 0)
			continue;
		if (n < max) {
			struct switch_port_info *p = &out[n];
			memset(p, 0, sizeof(*p));
			p->id = c->port;
			snprintf(p->portgroup, sizeof(p->portgroup), "%s",
				 vswitch_port_portgroup(svc->sw, c->port));
			memcpy(p->mac, c->mac, 6);
			vswitch_port_stats(svc->sw, c->port, &p->st);
			p->sock_dropped = c->sock_dropped;
			p->cpu_ns = c->cpu_ns;
		}
		n++;
	}
	pthread_mutex_unlock(&svc->lock);
	return n;
}
