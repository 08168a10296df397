/* The VM side of a vSwitch port (swport.h). */
#include "net/swport.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/netdev.h"
#include "net/swproto.h"
#include "net/vswitch.h"
#include "util/log.h"

#define LOG_SUB		 "net-switch"
#define HELLO_TIMEOUT_MS 5000
#define BATCH		 64
#define SOCK_BUF	 (1 << 20)
#define SEND_WAIT_MS	 10 /* back pressure before a drop */

struct swport {
	int fd;		  /* -1 once the switch went away (netdev thread) */
	atomic_int next;  /* a new connection to take, -1: none (any thread) */
	uint64_t dropped; /* frames the switch had no room for */
	uint64_t lost;	  /* frames sent while down (since it went down) */
	struct netdev *nd;
	uint8_t *buf; /* NETDEV_MAX_FRAME + 1 */
	char path[108];
};

static void swport_output(void *be, const uint8_t *frame, size_t len)
{
	struct swport *p = be;

	if (p->fd < 0) {
		/* no switch: the frame is lost, as on a cable pulled out;
		 * never wait for one to come back */
		p->lost++;
		netdev_count_tx_dropped(p->nd, 1);
		return;
	}
	for (int tries = 0; tries < 2; tries++) {
		if (send(p->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return;
		if (errno != EAGAIN && errno != ENOBUFS)
			break;
		/* the switch is behind: wait a little for room (back
		 * pressure on this VM only, as a full NIC ring is), then
		 * drop (TCP retransmits) */
		struct pollfd pfd = { p->fd, POLLOUT, 0 };
		if (poll(&pfd, 1, SEND_WAIT_MS) <= 0)
			break;
	}
	p->dropped++;
	netdev_count_tx_dropped(p->nd, 1);
}

/* Take a connection handed over by net_swport_reconnect (netdev thread):
 * it replaces the old one, whether that still looked open or not. */
static void swport_take_next(struct swport *p)
{
	int fd = atomic_exchange(&p->next, -1);

	if (fd < 0)
		return;
	bool was_down = p->fd < 0;
	if (!was_down)
		close(p->fd);
	p->fd = fd;
	log_info(LOG_SUB,
		 "%s: connected to switch %s again: link up (%" PRIu64
		 " frame(s) dropped while it was down)",
		 netdev_name(p->nd), p->path, was_down ? p->lost : 0);
	p->lost = 0;
}

static void swport_prepare(void *be, struct netdev_pollset *ps, int *timeout)
{
	struct swport *p = be;

	swport_take_next(p);
	if (p->fd >= 0)
		netdev_pollset_add(ps, p->fd, POLLIN);
}

static void swport_down(struct swport *p, const char *why)
{
	log_warn(LOG_SUB,
		 "%s: switch %s went away (%s): link down, frames dropped "
		 "until it is connected again",
		 netdev_name(p->nd), p->path, why);
	close(p->fd);
	p->fd = -1;
	p->lost = 0;
}

static void swport_dispatch(void *be, struct netdev_pollset *ps, bool error)
{
	struct swport *p = be;

	if (p->fd < 0 || error)
		return;
	for (int i = 0; i < BATCH; i++) {
		ssize_t n = recv(p->fd, p->buf, NETDEV_MAX_FRAME + 1,
				 MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				swport_down(p, strerror(errno));
			return;
		}
		if (n == 0) {
			swport_down(p, "closed");
			return;
		}
		if (n >= 14 && n <= NETDEV_MAX_FRAME)
			netdev_deliver(p->nd, p->buf, (size_t)n);
	}
}

static void swport_destroy(void *be)
{
	struct swport *p = be;
	int next = atomic_exchange(&p->next, -1);

	if (next >= 0)
		close(next);
	if (p->fd >= 0)
		close(p->fd);
	free(p->buf);
	free(p);
}

static const struct netdev_backend_ops swport_ops = {
	.kind = "switch",
	.output = swport_output,
	.poll_prepare = swport_prepare,
	.poll_dispatch = swport_dispatch,
	.destroy = swport_destroy,
};

/* Connect and say hello; returns the fd or a negative errno (err set). */
static int swport_connect(const char *path, const char *pg,
			  const uint8_t mac[6], uint32_t *mtu,
			  struct error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct swproto_hello h;
	struct swproto_reply r;
	struct pollfd pfd;
	int fd, sz = SOCK_BUF;

	if (strlen(path) >= sizeof(sa.sun_path))
		return error_set(err, ENAMETOOLONG,
				 "switch socket %s: longer than %zu bytes",
				 path, sizeof(sa.sun_path) - 1);
	if (strlen(pg) >= sizeof(h.portgroup))
		return error_set(err, EINVAL,
				 "portgroup=%s: longer than %zu bytes", pg,
				 sizeof(h.portgroup) - 1);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, errno, "switch socket: %s",
				 strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return error_set(err, e, "switch %s: cannot connect: %s", path,
				 strerror(e));
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SWPROTO_MAGIC, sizeof(h.magic));
	strcpy(h.portgroup, pg);
	memcpy(h.mac, mac, 6);
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h))
		goto io_error;
	pfd = (struct pollfd){ fd, POLLIN, 0 };
	if (poll(&pfd, 1, HELLO_TIMEOUT_MS) != 1) {
		close(fd);
		return error_set(err, ETIMEDOUT, "switch %s: no answer", path);
	}
	if (recv(fd, &r, sizeof(r), MSG_DONTWAIT) != sizeof(r) ||
	    memcmp(r.magic, SWPROTO_REPLY_MAGIC, sizeof(r.magic)))
		goto io_error;
	if (r.status) {
		int e = r.status < 0 && r.status > -4096 ? -r.status : EPROTO;
		r.msg[sizeof(r.msg) - 1] = '\0';
		close(fd);
		return error_set(err, e, "switch %s: %s", path, r.msg);
	}
	*mtu = r.mtu;
	return fd;
io_error:
	close(fd);
	return error_set(err, EPROTO, "switch %s: bad answer to hello", path);
}

struct netdev *net_swport_create(const char *sock_path, const char *pg,
				 const uint8_t mac[6], const char *name,
				 uint32_t *mtu_out, struct error *err)
{
	struct swport *p = calloc(1, sizeof(*p));
	uint32_t mtu = 0;

	if (!p || !(p->buf = malloc(NETDEV_MAX_FRAME + 1))) {
		free(p);
		error_set(err, ENOMEM, "net %s: out of memory", name);
		return NULL;
	}
	atomic_init(&p->next, -1);
	snprintf(p->path, sizeof(p->path), "%s", sock_path);
	p->fd = swport_connect(sock_path, pg ? pg : "", mac, &mtu, err);
	if (p->fd < 0) {
		swport_destroy(p);
		return NULL;
	}
	p->nd = netdev_new(&swport_ops, p, name, err);
	if (!p->nd) {
		swport_destroy(p);
		return NULL;
	}
	if (netdev_start(p->nd, err) < 0) {
		netdev_destroy(p->nd); /* frees p */
		return NULL;
	}
	if (mtu_out)
		*mtu_out = mtu;
	return p->nd;
}

int net_swport_dial(const char *sock_path, const char *pg, const uint8_t mac[6],
		    uint32_t *mtu_out, struct error *err)
{
	uint32_t mtu = 0;
	int fd = swport_connect(sock_path, pg ? pg : "", mac, &mtu, err);

	if (fd >= 0 && mtu_out)
		*mtu_out = mtu;
	return fd;
}

int net_swport_reconnect(struct netdev *nd, int fd)
{
	struct swport *p = netdev_backend(nd, &swport_ops);

	if (!p || fd < 0)
		return -EINVAL;
	int old = atomic_exchange(&p->next, fd);
	if (old >= 0)
		close(old); /* handed over twice before the thread ran */
	netdev_wake(nd);
	return 0;
}

/* ---- naming ------------------------------------------------------------------ */

static char switch_dir[92];

void net_switch_set_dir(const char *dir)
{
	snprintf(switch_dir, sizeof(switch_dir), "%s", dir ? dir : "");
	/* the daemon's VM workers (other processes) find it in their
	 * environment */
	if (dir && dir[0] == '/')
		(void)setenv("SOFTVISOR_SWITCH_DIR", dir, 1);
}

void net_switch_dir(char *buf, size_t size)
{
	const char *env = getenv("SOFTVISOR_SWITCH_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (switch_dir[0])
		snprintf(buf, size, "%s", switch_dir);
	else if (env && env[0] == '/')
		snprintf(buf, size, "%s", env);
	else if (geteuid() == 0)
		snprintf(buf, size, "/run/softvisor/switch");
	else if (xdg && xdg[0] == '/')
		snprintf(buf, size, "%s/softvisor/switch", xdg);
	else
		snprintf(buf, size, "/tmp/softvisor-%u/switch",
			 (unsigned)geteuid());
}

int net_switch_socket_path(const char *name_or_path, char *buf, size_t size,
			   struct error *err)
{
	char dir[108];
	int n;

	if (strchr(name_or_path, '/')) {
		n = snprintf(buf, size, "%s", name_or_path);
	} else {
		if (vswitch_check_name(name_or_path, "switch", err))
			return -EINVAL;
		net_switch_dir(dir, sizeof(dir));
		n = snprintf(buf, size, "%s/%s.sock", dir, name_or_path);
	}
	if (n < 0 || (size_t)n >= size || (size_t)n >= 108)
		return error_set(err, ENAMETOOLONG,
				 "switch socket path for '%s': too long",
				 name_or_path);
	return 0;
}
