/*
 * Unit tests for src/net: the netdev core and the libslirp back end on their
 * own (no guest): ARP and DHCP replies, receive back-pressure, work on the
 * netdev thread, host forwarding. Only loopback addresses are used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/netdev.h"
#include "net/user.h"

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* ---- a fake front end: collects frames -------------------------------------- */

#define MAX_FRAMES 64

struct sink {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t frame[MAX_FRAMES][2048];
	size_t len[MAX_FRAMES];
	int n;
	int refused; /* receive() calls answered -EAGAIN */
	bool refuse;
	int polls;
	struct netdev *nd;
	bool poll_sends_arp;
	bool poll_on_thread;
};

static int sink_receive(void *opaque, const struct iovec *iov, int n_iov)
{
	struct sink *s = opaque;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	if (s->refuse) {
		s->refused++;
		r = -EAGAIN;
	} else if (s->n < MAX_FRAMES) {
		size_t off = 0;
		for (int i = 0; i < n_iov; i++) {
			size_t l = iov[i].iov_len;
			if (off + l > sizeof(s->frame[0]))
				l = sizeof(s->frame[0]) - off;
			memcpy(s->frame[s->n] + off, iov[i].iov_base, l);
			off += l;
		}
		s->len[s->n++] = off;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static size_t build_arp_request(uint8_t *f, const char *target);

static void sink_poll(void *opaque)
{
	struct sink *s = opaque;
	uint8_t f[64];

	s->poll_on_thread = netdev_on_thread(s->nd);
	if (s->poll_sends_arp) {
		size_t len = build_arp_request(f, "10.0.2.2");
		struct iovec iov[2] = { { f, 20 }, { f + 20, len - 20 } };
		assert_int_equal(netdev_send(s->nd, iov, 2), 0);
	}
	pthread_mutex_lock(&s->lock);
	s->polls++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

typedef bool (*frame_pred)(const uint8_t *f, size_t len);

/* Wait up to ms for a frame matching pred; returns its index or -1. */
static int sink_wait(struct sink *s, frame_pred pred, int ms)
{
	struct timespec dl;
	int seen = 0, found = -1;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	for (;;) {
		for (; seen < s->n; seen++) {
			if (pred(s->frame[seen], s->len[seen])) {
				found = seen;
				goto out;
			}
		}
		if (pthread_cond_timedwait(&s->cond, &s->lock, &dl) ==
		    ETIMEDOUT) {
			for (; seen < s->n; seen++)
				if (pred(s->frame[seen], s->len[seen])) {
					found = seen;
					break;
				}
			break;
		}
	}
out:
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void sink_init(struct sink *s, struct netdev *nd)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->nd = nd;
	struct netdev_client c = { sink_receive, sink_poll, s };
	netdev_attach(nd, &c);
}

/* ---- frame builders ------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t build_arp_request(uint8_t *f, const char *target)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	uint8_t *a = f + 14;
	put16(a, 1);	      /* Ethernet */
	put16(a + 2, 0x0800); /* IPv4 */
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1); /* request */
	memcpy(a + 8, guest_mac, 6);
	inet_pton(AF_INET, "10.0.2.15", a + 14);
	memset(a + 18, 0, 6);
	inet_pton(AF_INET, target, a + 24);
	return 14 + 28;
}

static bool is_arp_reply_from_host(const uint8_t *f, size_t len)
{
	uint8_t host[4];

	inet_pton(AF_INET, "10.0.2.2", host);
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 14 + 6) == 2 &&
	       !memcmp(f + 14 + 14, host, 4) && !memcmp(f, guest_mac, 6);
}

static size_t build_dhcp_discover(uint8_t *f)
{
	size_t bootp_len = 240 + 4;
	size_t udp_len = 8 + bootp_len, ip_len = 20 + udp_len;

	memset(f, 0, 14 + ip_len);
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)ip_len);
	ip[8] = 64;
	ip[9] = 17;		  /* UDP */
	memset(ip + 16, 0xff, 4); /* 0.0.0.0 -> 255.255.255.255 */
	put16(ip + 10, ip_csum(ip, 20));
	uint8_t *udp = ip + 20;
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)udp_len);
	uint8_t *b = udp + 8;
	b[0] = 1; /* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, "\x12\x34\x56\x78", 4); /* xid */
	memcpy(b + 28, guest_mac, 6);
	memcpy(b + 236, "\x63\x82\x53\x63", 4); /* magic cookie */
	b[240] = 53;				/* DHCP message type */
	b[241] = 1;
	b[242] = 1; /* DISCOVER */
	b[243] = 255;
	return 14 + ip_len;
}

static bool is_dhcp_offer(const uint8_t *f, size_t len)
{
	uint8_t lease[4];

	inet_pton(AF_INET, "10.0.2.15", lease);
	if (len < 14 + 20 + 8 + 244 || get16(f + 12) != 0x0800)
		return false;
	const uint8_t *ip = f + 14;
	if (ip[9] != 17 || ip_csum(ip, 20) != 0)
		return false;
	const uint8_t *udp = ip + (ip[0] & 15) * 4;
	const uint8_t *b = udp + 8;
	if (get16(udp) != 67 || get16(udp + 2) != 68 || b[0] != 2)
		return false;
	if (memcmp(b + 4, "\x12\x34\x56\x78", 4) || memcmp(b + 16, lease, 4))
		return false;
	/* option 53 = 2 (OFFER) somewhere in the options */
	for (size_t i = 240; b + i + 2 < f + len && b[i] != 255;) {
		if (b[i] == 0) {
			i++;
			continue;
		}
		if (b[i] == 53)
			return b[i + 2] == 2;
		i += 2 + b[i + 1];
	}
	return false;
}

/* A TCP SYN from a host forward to 10.0.2.15:22. */
static bool is_syn_to_guest_22(const uint8_t *f, size_t len)
{
	uint8_t guest[4];

	inet_pton(AF_INET, "10.0.2.15", guest);
	if (len < 14 + 20 + 20 || get16(f + 12) != 0x0800)
		return false;
	const uint8_t *ip = f + 14;
	if (ip[9] != 6 || memcmp(ip + 16, guest, 4))
		return false;
	const uint8_t *tcp = ip + (ip[0] & 15) * 4;
	return get16(tcp + 2) == 22 && (tcp[13] & 0x12) == 0x02;
}

static bool is_arp_request_for_guest(const uint8_t *f, size_t len)
{
	uint8_t guest[4];

	inet_pton(AF_INET, "10.0.2.15", guest);
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 14 + 6) == 1 &&
	       !memcmp(f + 14 + 24, guest, 4);
}

static struct netdev *make_user(struct net_user_config *cfg)
{
	struct error err = { 0 };
	struct netdev *nd = net_user_create(cfg, "t0", &err);

	if (!nd)
		fail_msg("net_user_create: %s", err.msg);
	return nd;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_arp(void **state)
{
	struct net_user_config cfg = { 0 };
	struct netdev *nd = make_user(&cfg);
	struct netdev_stats st;
	struct sink s;
	uint8_t f[64];

	sink_init(&s, nd);
	assert_string_equal(netdev_kind(nd), "user");
	size_t len = build_arp_request(f, "10.0.2.2");
	struct iovec iov = { f, len };
	assert_int_equal(netdev_send(nd, &iov, 1), 0);
	int i = sink_wait(&s, is_arp_reply_from_host, 5000);
	assert_true(i >= 0);
	/* the reply names the host's MAC (52:55:0a:00:02:02 in slirp) */
	assert_memory_equal(s.frame[i] + 6, s.frame[i] + 14 + 8, 6);
	/* counters follow the callback's return: give them a moment */
	for (int t = 0; t < 1000; t++) {
		netdev_get_stats(nd, &st);
		if (st.rx_frames >= 1)
			break;
		usleep(1000);
	}
	assert_true(st.tx_frames >= 1 && st.rx_frames >= 1);

	/* runt and oversize frames are refused */
	iov.iov_len = 10;
	assert_int_equal(netdev_send(nd, &iov, 1), -EMSGSIZE);
	netdev_detach(nd);
	netdev_destroy(nd);
}

static void test_dhcp(void **state)
{
	struct net_user_config cfg = { 0 };
	struct netdev *nd = make_user(&cfg);
	static uint8_t f[600];
	struct sink s;

	sink_init(&s, nd);
	size_t len = build_dhcp_discover(f);
	struct iovec iov = { f, len };
	assert_int_equal(netdev_send(nd, &iov, 1), 0);
	assert_true(sink_wait(&s, is_dhcp_offer, 5000) >= 0);
	netdev_detach(nd);
	netdev_destroy(nd);
}

/* The front end refuses (no rx buffers): the frame waits for rx_ready. */
static void test_backpressure(void **state)
{
	struct net_user_config cfg = { 0 };
	struct netdev *nd = make_user(&cfg);
	struct netdev_stats st;
	struct sink s;
	uint8_t f[64];

	sink_init(&s, nd);
	s.refuse = true;
	size_t len = build_arp_request(f, "10.0.2.2");
	struct iovec iov = { f, len };
	assert_int_equal(netdev_send(nd, &iov, 1), 0);
	assert_true(sink_wait(&s, is_arp_reply_from_host, 300) < 0);
	pthread_mutex_lock(&s.lock);
	assert_true(s.refused >= 1);
	s.refuse = false;
	pthread_mutex_unlock(&s.lock);
	netdev_rx_ready(nd);
	assert_true(sink_wait(&s, is_arp_reply_from_host, 5000) >= 0);
	netdev_get_stats(nd, &st);
	assert_int_equal(st.rx_dropped, 0);
	netdev_detach(nd);
	netdev_destroy(nd);
}

static bool any_poll(struct sink *s, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		pthread_mutex_lock(&s->lock);
		int p = s->polls;
		pthread_mutex_unlock(&s->lock);
		if (p)
			return true;
		usleep(10000);
	}
	return false;
}

/* kick runs poll() on the netdev thread; a send from there goes straight
 * to slirp and the synchronous reply is delivered after poll() returns. */
static void test_kick_poll(void **state)
{
	struct net_user_config cfg = { 0 };
	struct netdev *nd = make_user(&cfg);
	struct sink s;

	sink_init(&s, nd);
	s.poll_sends_arp = true;
	netdev_kick(nd);
	assert_true(any_poll(&s, 5000));
	assert_true(s.poll_on_thread);
	assert_true(sink_wait(&s, is_arp_reply_from_host, 5000) >= 0);
	netdev_detach(nd);
	/* after detach nothing is called any more */
	netdev_kick(nd);
	usleep(50000);
	assert_int_equal(s.polls, 1);
	netdev_destroy(nd);
}

static uint16_t free_tcp_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_hostfwd(void **state)
{
	struct net_user_config cfg = { 0 };
	struct error err = { 0 };
	char spec[64];
	uint16_t port = free_tcp_port();
	struct sink s;
	uint8_t f[64];

	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u-:22", port);
	assert_int_equal(net_hostfwd_parse(spec, &cfg.fwd[0], &err), 0);
	cfg.n_fwd = 1;
	struct netdev *nd = make_user(&cfg);
	sink_init(&s, nd);

	/* let slirp learn the guest's MAC (it caches ARP senders) */
	size_t len = build_arp_request(f, "10.0.2.2");
	struct iovec iov = { f, len };
	assert_int_equal(netdev_send(nd, &iov, 1), 0);
	assert_true(sink_wait(&s, is_arp_reply_from_host, 5000) >= 0);

	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	assert_true(r == 0 || errno == EINPROGRESS);
	assert_true(sink_wait(&s, is_syn_to_guest_22, 5000) >= 0);
	close(fd);

	/* the same port a second time cannot be forwarded */
	struct netdev *nd2 = net_user_create(&cfg, "t1", &err);
	assert_null(nd2);
	assert_non_null(strstr(err.msg, "cannot listen"));
	netdev_detach(nd);
	netdev_destroy(nd);
	(void)is_arp_request_for_guest;
}

static void test_hostfwd_parse(void **state)
{
	struct net_hostfwd h;
	struct error err = { 0 };
	char buf[96];

	assert_int_equal(net_hostfwd_parse("tcp:127.0.0.1:2222-:22", &h, &err),
			 0);
	assert_false(h.udp);
	assert_int_equal(h.host_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(h.host_port, 2222);
	assert_int_equal(h.guest_addr.s_addr, 0);
	assert_int_equal(h.guest_port, 22);
	net_hostfwd_format(&h, buf, sizeof(buf));
	assert_string_equal(buf, "tcp:127.0.0.1:2222-:22");

	assert_int_equal(net_hostfwd_parse("udp::5353-10.0.2.15:53", &h, &err),
			 0);
	assert_true(h.udp);
	assert_int_equal(h.host_addr.s_addr, 0);
	assert_int_equal(h.host_port, 5353);
	assert_int_equal(ntohl(h.guest_addr.s_addr), 0x0a00020f);
	assert_int_equal(h.guest_port, 53);
	assert_int_equal(net_hostfwd_parse("::8080-:80", &h, &err), 0);
	assert_false(h.udp);

	static const char *const bad[] = {
		"",
		"sctp:1.2.3.4:1-:2",
		"tcp:127.0.0.1:2222",
		"tcp:127.0.0.1:2222-22",
		"tcp:127.0.0.1:0-:22",
		"tcp:127.0.0.1:65536-:22",
		"tcp:127.0.0.1:22x-:22",
		"tcp:127.0.0.1:2222-:",
		"tcp:localhost:2222-:22",
		"tcp:1.2.3:2222-:22",
		"tcp:127.0.0.1:2222-:22,",
		"tcp:127.0.0.1-:22",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error_clear(&err);
		if (net_hostfwd_parse(bad[i], &h, &err) != -EINVAL)
			fail_msg("accepted bad hostfwd '%s'", bad[i]);
		assert_non_null(strstr(err.msg, "hostfwd="));
	}
}

static void test_bad_mtu(void **state)
{
	struct net_user_config cfg = { .mtu = 100 };
	struct error err = { 0 };

	assert_null(net_user_create(&cfg, "t2", &err));
	assert_non_null(strstr(err.msg, "mtu"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostfwd_parse),
		cmocka_unit_test(test_bad_mtu),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_dhcp),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_kick_poll),
		cmocka_unit_test(test_hostfwd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
