/* User-mode NAT back end on libslirp 4.7 (user.h). */
#include "net/user.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libslirp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/netdev.h"
#include "util/clock.h"
#include "util/log.h"

#define LOG_SUB "net-user"

/* One slirp timer: slirp_handle_timer(id, cb_opaque) at expire_ms. */
struct user_timer {
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
	struct user_timer *next;
};

struct net_user {
	Slirp *slirp;
	struct netdev *nd;
	struct user_timer *timers;
	struct netdev_pollset *ps; /* during pollfds_fill/poll */
};

/* ---- hostfwd syntax ---------------------------------------------------------- */

static int parse_port(const char *s, size_t n, uint16_t *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int parse_addr(const char *s, size_t n, struct in_addr *out)
{
	char buf[INET_ADDRSTRLEN];

	if (n == 0) {
		out->s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, out) == 1 ? 0 : -EINVAL;
}

int net_hostfwd_parse(const char *s, struct net_hostfwd *out, struct error *err)
{
	static const char expect[] =
		"expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, "
		"e.g. tcp:127.0.0.1:2222-:22";
	const char *p = s, *colon, *dash;

	memset(out, 0, sizeof(*out));
	if (!strncmp(p, "tcp:", 4)) {
		p += 4;
	} else if (!strncmp(p, "udp:", 4)) {
		out->udp = true;
		p += 4;
	} else if (*p == ':') {
		p++; /* protocol omitted: tcp, as in QEMU */
	} else {
		return error_set(err, EINVAL, "hostfwd=%s: bad protocol (%s)",
				 s, expect);
	}
	/* host side: [ADDR]:PORT up to '-' */
	dash = strchr(p, '-');
	colon = memchr(p, ':', dash ? (size_t)(dash - p) : strlen(p));
	if (!dash || !colon)
		return error_set(err, EINVAL, "hostfwd=%s: %s", s, expect);
	if (parse_addr(p, colon - p, &out->host_addr))
		return error_set(err, EINVAL,
				 "hostfwd=%s: bad host address '%.*s' "
				 "(expected IPv4 like 127.0.0.1 or empty)",
				 s, (int)(colon - p), p);
	if (parse_port(colon + 1, dash - colon - 1, &out->host_port))
		return error_set(err, EINVAL,
				 "hostfwd=%s: bad host port '%.*s' "
				 "(expected 1..65535)",
				 s, (int)(dash - colon - 1), colon + 1);
	/* guest side: [ADDR]:PORT */
	p = dash + 1;
	colon = strchr(p, ':');
	if (!colon)
		return error_set(err, EINVAL, "hostfwd=%s: %s", s, expect);
	if (parse_addr(p, colon - p, &out->guest_addr))
		return error_set(err, EINVAL,
				 "hostfwd=%s: bad guest address '%.*s' "
				 "(expected IPv4 like 10.0.2.15 or empty)",
				 s, (int)(colon - p), p);
	if (parse_port(colon + 1, strlen(colon + 1), &out->guest_port))
		return error_set(err, EINVAL,
				 "hostfwd=%s: bad guest port '%s' "
				 "(expected 1..65535)",
				 s, colon + 1);
	return 0;
}

void net_hostfwd_format(const struct net_hostfwd *f, char *buf, size_t len)
{
	char h[INET_ADDRSTRLEN] = "", g[INET_ADDRSTRLEN] = "";

	if (f->host_addr.s_addr != htonl(INADDR_ANY))
		inet_ntop(AF_INET, &f->host_addr, h, sizeof(h));
	if (f->guest_addr.s_addr != htonl(INADDR_ANY))
		inet_ntop(AF_INET, &f->guest_addr, g, sizeof(g));
	snprintf(buf, len, "%s:%s:%u-%s:%u", f->udp ? "udp" : "tcp", h,
		 f->host_port, g, f->guest_port);
}

/* ---- slirp callbacks (netdev thread, or creating thread before start) ------- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_user *u = opaque;

	if (len <= NETDEV_MAX_FRAME)
		netdev_deliver(u->nd, buf, len);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct net_user *u = opaque;

	log_debug(LOG_SUB, "%s: guest error: %s", netdev_name(u->nd), msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return (int64_t)clock_monotonic_ns();
}

static int64_t now_ms(void)
{
	return (int64_t)(clock_monotonic_ns() / 1000000);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct net_user *u = opaque;
	struct user_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = u->timers;
	u->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct net_user *u = opaque;

	for (struct user_timer **pp = &u->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = ((struct user_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct user_timer *t = timer;

	if (t)
		t->expire_ms = expire_ms < 0 ? 0 : expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	/* poll() set is rebuilt each iteration from slirp_pollfds_fill */
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
	struct net_user *u = opaque;

	netdev_wake(u->nd);
}

static const SlirpCb user_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* ---- netdev back-end ops (netdev thread) ----------------------------------- */

static void user_output(void *be, const uint8_t *frame, size_t len)
{
	struct net_user *u = be;

	slirp_input(u->slirp, frame, (int)len);
}

static int add_poll_cb(int fd, int events, void *opaque)
{
	struct net_user *u = opaque;
	short ev = 0;

	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	return netdev_pollset_add(u->ps, fd, ev);
}

static int get_revents_cb(int idx, void *opaque)
{
	struct net_user *u = opaque;
	short rev = netdev_pollset_revents(u->ps, idx);
	int r = 0;

	if (rev & POLLIN)
		r |= SLIRP_POLL_IN;
	if (rev & POLLOUT)
		r |= SLIRP_POLL_OUT;
	if (rev & POLLPRI)
		r |= SLIRP_POLL_PRI;
	if (rev & (POLLERR | POLLNVAL))
		r |= SLIRP_POLL_ERR;
	if (rev & POLLHUP)
		r |= SLIRP_POLL_HUP;
	return r;
}

static void user_poll_prepare(void *be, struct netdev_pollset *ps,
			      int *timeout_ms)
{
	struct net_user *u = be;
	uint32_t to = UINT32_MAX;
	int64_t now = now_ms(), best = -1;

	u->ps = ps;
	slirp_pollfds_fill(u->slirp, &to, add_poll_cb, u);
	if (to != UINT32_MAX)
		best = to > INT_MAX ? INT_MAX : (int64_t)to;
	for (struct user_timer *t = u->timers; t; t = t->next) {
		if (t->expire_ms < 0)
			continue;
		int64_t d = t->expire_ms > now ? t->expire_ms - now : 0;
		if (best < 0 || d < best)
			best = d;
	}
	if (best >= 0 && (*timeout_ms < 0 || best < *timeout_ms))
		*timeout_ms = (int)(best > INT_MAX ? INT_MAX : best);
}

static void user_fire_timers(struct net_user *u)
{
	int64_t now = now_ms();
	bool again = true;

	/* slirp_handle_timer may free or re-arm timers: rescan after each */
	while (again) {
		again = false;
		for (struct user_timer *t = u->timers; t; t = t->next) {
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				slirp_handle_timer(u->slirp, t->id,
						   t->cb_opaque);
				again = true;
				break;
			}
		}
	}
}

static void user_poll_dispatch(void *be, struct netdev_pollset *ps, bool error)
{
	struct net_user *u = be;

	u->ps = ps;
	slirp_pollfds_poll(u->slirp, error, get_revents_cb, u);
	user_fire_timers(u);
}

static void user_destroy(void *be)
{
	struct net_user *u = be;

	if (u->slirp)
		slirp_cleanup(u->slirp);
	while (u->timers) {
		struct user_timer *t = u->timers;
		u->timers = t->next;
		free(t);
	}
	free(u);
}

static const struct netdev_backend_ops user_ops = {
	.kind = "user",
	.output = user_output,
	.poll_prepare = user_poll_prepare,
	.poll_dispatch = user_poll_dispatch,
	.destroy = user_destroy,
};

/* ---- creation ---------------------------------------------------------------- */

static struct in_addr ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a;
}

static struct in6_addr ip6(const char *s)
{
	struct in6_addr a;

	inet_pton(AF_INET6, s, &a);
	return a;
}

struct netdev *net_user_create(const struct net_user_config *cfg,
			       const char *name, struct error *err)
{
	struct net_user *u;
	struct netdev *nd;
	SlirpConfig sc;
	uint32_t mtu = cfg->mtu ? cfg->mtu : NET_USER_MTU_DEFAULT;

	if (mtu < NET_USER_MTU_MIN || mtu > NET_USER_MTU_MAX) {
		error_set(err, EINVAL, "net %s: mtu %u out of range %u..%u",
			  name, mtu, NET_USER_MTU_MIN, NET_USER_MTU_MAX);
		return NULL;
	}
	if (cfg->n_fwd > NET_USER_MAX_HOSTFWD) {
		error_set(err, EINVAL, "net %s: more than %d host forwards",
			  name, NET_USER_MAX_HOSTFWD);
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		error_set(err, ENOMEM, "net %s: out of memory", name);
		return NULL;
	}
	nd = netdev_new(&user_ops, u, name, err);
	if (!nd) {
		free(u);
		return NULL;
	}
	u->nd = nd;

	/* QEMU's user-network defaults (docs/net.md). */
	memset(&sc, 0, sizeof(sc));
	sc.version = 4;
	sc.restricted = cfg->restricted;
	sc.in_enabled = true;
	sc.vnetwork = ip4("10.0.2.0");
	sc.vnetmask = ip4("255.255.255.0");
	sc.vhost = ip4("10.0.2.2");
	sc.vdhcp_start = ip4("10.0.2.15");
	sc.vnameserver = ip4("10.0.2.3");
	sc.in6_enabled = true;
	sc.vprefix_addr6 = ip6("fec0::");
	sc.vprefix_len = 64;
	sc.vhost6 = ip6("fec0::2");
	sc.vnameserver6 = ip6("fec0::3");
	sc.vhostname = "softvisor";
	sc.if_mtu = mtu;
	sc.if_mru = mtu;
	u->slirp = slirp_new(&sc, &user_callbacks, u);
	if (!u->slirp) {
		error_set(err, EIO, "net %s: libslirp failed to start", name);
		netdev_destroy(nd);
		return NULL;
	}
	for (unsigned i = 0; i < cfg->n_fwd; i++) {
		const struct net_hostfwd *f = &cfg->fwd[i];
		char what[96];

		if (slirp_add_hostfwd(u->slirp, f->udp, f->host_addr,
				      f->host_port, f->guest_addr,
				      f->guest_port) < 0) {
			net_hostfwd_format(f, what, sizeof(what));
			error_set(err, EADDRINUSE,
				  "net %s: hostfwd=%s: cannot listen on host "
				  "port %u (in use, or address not local?)",
				  name, what, f->host_port);
			netdev_destroy(nd);
			return NULL;
		}
	}
	if (netdev_start(nd, err) < 0) {
		netdev_destroy(nd);
		return NULL;
	}
	log_debug(LOG_SUB, "%s: libslirp %s, mtu %u, %u host forward(s)", name,
		  slirp_version_string(), mtu, cfg->n_fwd);
	return nd;
}
