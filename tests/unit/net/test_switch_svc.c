/*
 * Unit tests of the switch service and the VM-side port over real unix
 * sockets (src/net/switch_svc.c, swport.c): frames between ports, VLAN
 * isolation, live port group changes, refused hellos, counters, a switch
 * that goes away. No guest; sockets live in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "net/netdev.h"
#include "net/switch_svc.h"
#include "net/swport.h"
#include "net/swproto.h"

struct sink {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int n;
	uint8_t last[256];
	size_t last_len;
};

static int sink_receive(void *opaque, const struct iovec *iov, int n_iov)
{
	struct sink *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->n++;
	s->last_len = iov[0].iov_len < sizeof(s->last) ? iov[0].iov_len
						       : sizeof(s->last);
	memcpy(s->last, iov[0].iov_base, s->last_len);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Wait until the sink has at least n frames or ms passed; its count. */
static int sink_wait(struct sink *s, int n, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	while (s->n < n && pthread_cond_timedwait(&s->cond, &s->lock, &ts) == 0)
		;
	int r = s->n;
	pthread_mutex_unlock(&s->lock);
	return r;
}

struct vnic {
	struct netdev *nd;
	struct sink sink;
	uint8_t mac[6];
};

static char dir[64];
static char path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/sv-swtest-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sw.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

static int vnic_open(struct vnic *v, int i, const char *pg, struct error *e)
{
	const uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, (uint8_t)i };
	char name[16];
	uint32_t mtu = 0;

	memset(v, 0, sizeof(*v));
	memcpy(v->mac, mac, 6);
	pthread_mutex_init(&v->sink.lock, NULL);
	pthread_cond_init(&v->sink.cond, NULL);
	snprintf(name, sizeof(name), "nic%d", i);
	v->nd = net_swport_create(path, pg, mac, name, &mtu, e);
	if (!v->nd)
		return -1;
	assert_int_equal(mtu, 1500);
	struct netdev_client c = { sink_receive, NULL, &v->sink };
	netdev_attach(v->nd, &c);
	return 0;
}

static void vnic_close(struct vnic *v)
{
	netdev_detach(v->nd);
	netdev_destroy(v->nd);
}

static void vnic_send(struct vnic *v, const uint8_t *dst, uint8_t tag)
{
	uint8_t f[100];

	memcpy(f, dst, 6);
	memcpy(f + 6, v->mac, 6);
	f[12] = 0x08;
	f[13] = 0;
	memset(f + 14, tag, sizeof(f) - 14);
	struct iovec iov = { f, sizeof(f) };
	assert_int_equal(netdev_send(v->nd, &iov, 1), 0);
}

static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void test_two_ports(void **state)
{
	struct error err = { 0 };
	struct switch_svc *svc = switch_svc_start("sw0", path, 0, &err);
	struct vnic a, b;

	assert_non_null(svc);
	assert_int_equal(vnic_open(&a, 1, "", &err), 0);
	assert_int_equal(vnic_open(&b, 2, "default", &err), 0);
	vnic_send(&a, BCAST, 0xa1);
	assert_int_equal(sink_wait(&b.sink, 1, 5000), 1);
	assert_int_equal(b.sink.last_len, 100);
	assert_int_equal(b.sink.last[20], 0xa1);
	vnic_send(&b, a.mac, 0xb2);
	assert_int_equal(sink_wait(&a.sink, 1, 5000), 1);
	assert_int_equal(a.sink.last[20], 0xb2);
	/* nothing came back to the sender */
	assert_int_equal(sink_wait(&b.sink, 2, 100), 1);

	struct switch_port_info info[4];
	assert_int_equal(switch_svc_ports(svc, info, 4), 2);
	uint64_t tx = info[0].st.tx_frames + info[1].st.tx_frames;
	assert_int_equal(tx, 2);

	/* a second switch on the same live socket is refused */
	struct error e2 = { 0 };
	assert_null(switch_svc_start("sw1", path, 0, &e2));
	assert_int_equal(e2.code, EADDRINUSE);

	vnic_close(&a);
	vnic_close(&b);
	switch_svc_stop(svc);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_vlans_live(void **state)
{
	struct error err = { 0 };
	struct switch_svc *svc = switch_svc_start("sw0", path, 0, &err);
	struct vswitch_portgroup_config pg;
	struct vnic a, b, c;

	assert_non_null(svc);
	vswitch_portgroup_init(&pg, "red");
	pg.vlan = 10;
	assert_int_equal(switch_svc_portgroup_set(svc, &pg, &err), 0);
	vswitch_portgroup_init(&pg, "blue");
	pg.vlan = 20;
	assert_int_equal(switch_svc_portgroup_set(svc, &pg, &err), 0);
	assert_int_equal(vnic_open(&a, 1, "red", &err), 0);
	assert_int_equal(vnic_open(&b, 2, "red", &err), 0);
	assert_int_equal(vnic_open(&c, 3, "blue", &err), 0);
	vnic_send(&a, BCAST, 1);
	assert_int_equal(sink_wait(&b.sink, 1, 5000), 1);
	assert_int_equal(sink_wait(&c.sink, 1, 200), 0);
	/* move blue into VLAN 10 while connected: c hears a now */
	pg.vlan = 10;
	assert_int_equal(switch_svc_portgroup_set(svc, &pg, &err), 0);
	vnic_send(&a, BCAST, 2);
	assert_int_equal(sink_wait(&c.sink, 1, 5000), 1);
	assert_int_equal(sink_wait(&b.sink, 2, 5000), 2);
	/* a port group in use cannot go */
	assert_int_equal(switch_svc_portgroup_del(svc, "blue", &err), -EBUSY);
	struct vswitch_portgroup_config pgs[8];
	assert_int_equal(switch_svc_portgroups(svc, pgs, 8), 3);

	/* an unknown port group is refused with the switch's reason */
	struct vnic d;
	struct error e2 = { 0 };
	assert_int_equal(vnic_open(&d, 4, "green", &e2), -1);
	assert_non_null(strstr(e2.msg, "green"));

	/* the switch goes away: sending does not fail, nothing arrives */
	switch_svc_stop(svc);
	vnic_send(&a, BCAST, 3);
	assert_int_equal(sink_wait(&b.sink, 3, 200), 2);
	vnic_close(&a);
	vnic_close(&b);
	vnic_close(&c);
}

static void test_bad_hello(void **state)
{
	struct error err = { 0 };
	struct switch_svc *svc = switch_svc_start("sw0", path, 0, &err);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct swproto_reply r;
	struct swproto_hello h;
	int fd;

	assert_non_null(svc);
	strcpy(sa.sun_path, path);
	/* garbage */
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, "hello", 5, 0), 5);
	assert_int_equal(recv(fd, &r, sizeof(r), 0), sizeof(r));
	assert_int_equal(r.status, -EPROTO);
	assert_int_equal(recv(fd, &r, sizeof(r), 0), 0); /* closed */
	close(fd);
	/* an unterminated port group and a multicast MAC */
	for (int k = 0; k < 2; k++) {
		memset(&h, k ? 0 : 'x', sizeof(h));
		memcpy(h.magic, SWPROTO_MAGIC, sizeof(h.magic));
		if (k) {
			h.mac[0] = 1;
		}
		fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		assert_int_equal(
			connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(send(fd, &h, sizeof(h), 0), sizeof(h));
		assert_int_equal(recv(fd, &r, sizeof(r), 0), sizeof(r));
		assert_int_equal(r.status, -EINVAL);
		close(fd);
	}
	/* a connection that never says hello is closed after 5 s */
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { 15, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* closed (0), not the 15 s receive timeout (-1) */
	assert_int_equal(recv(fd, &r, sizeof(r), 0), 0);
	close(fd);
	/* a port that sends runt and oversized frames is still served */
	struct vnic a, b;
	assert_int_equal(vnic_open(&a, 1, "", &err), 0);
	assert_int_equal(vnic_open(&b, 2, "", &err), 0);
	static uint8_t big[70000];
	struct iovec iov = { big, 20000 };
	memset(big, 0xff, 12);
	big[6] = 0x52;
	assert_int_equal(netdev_send(a.nd, &iov, 1), 0); /* > mtu */
	vnic_send(&a, BCAST, 9);
	assert_int_equal(sink_wait(&b.sink, 1, 5000), 1);
	assert_int_equal(b.sink.last_len, 100);
	struct switch_port_info info[4];
	assert_int_equal(switch_svc_ports(svc, info, 4), 2);
	assert_int_equal(info[0].st.tx_dropped + info[1].st.tx_dropped, 1);
	vnic_close(&a);
	vnic_close(&b);
	switch_svc_stop(svc);
	/* no switch: a clear error */
	struct vnic c;
	assert_int_equal(vnic_open(&c, 3, "", &err), -1);
	assert_non_null(strstr(err.msg, "cannot connect"));
}

/* tx_dropped of a port once it reached n (or ms passed). */
static uint64_t wait_tx_dropped(struct vnic *v, uint64_t n, int ms)
{
	struct netdev_stats st;

	for (int t = 0;; t += 10) {
		netdev_get_stats(v->nd, &st);
		if (st.tx_dropped >= n || t >= ms)
			return st.tx_dropped;
		usleep(10000);
	}
}

/* Ports of svc once there are n of them (or ms passed). */
static unsigned wait_ports(struct switch_svc *svc, unsigned n, int ms)
{
	struct switch_port_info info[8];
	unsigned k;

	for (int t = 0;; t += 10) {
		k = switch_svc_ports(svc, info, 8);
		if (k == n || t >= ms)
			return k;
		usleep(10000);
	}
}

static int sink_count(struct sink *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Send from v until one more frame reached sink (bounded: 50 tries). */
static bool send_until(struct vnic *v, const uint8_t *dst, uint8_t tag,
		       struct sink *sink)
{
	int n = sink_count(sink);

	for (int i = 0; i < 50; i++) {
		vnic_send(v, dst, tag);
		if (sink_wait(sink, n + 1, 100) > n)
			return true;
	}
	return false;
}

/* A daemon restarted with --keep-vms: its switch goes away with it and a
 * new one listens on the same socket; ports handed a new connection
 * (net_swport_dial + net_swport_reconnect, as across the re-attach
 * handshake) pass frames again. Frames sent while down are dropped and
 * counted, at once. */
static void test_reconnect(void **state)
{
	struct error err = { 0 };
	struct switch_svc *svc = switch_svc_start("sw0", path, 0, &err);
	struct vswitch_portgroup_config pg;
	struct vnic a, b;

	assert_non_null(svc);
	assert_int_equal(vnic_open(&a, 1, "", &err), 0);
	assert_int_equal(vnic_open(&b, 2, "", &err), 0);
	vnic_send(&a, BCAST, 1);
	assert_int_equal(sink_wait(&b.sink, 1, 5000), 1);

	/* the switch dies: a's frames are dropped and counted */
	switch_svc_stop(svc);
	for (int i = 0; i < 3; i++)
		vnic_send(&a, BCAST, 2);
	assert_int_equal(wait_tx_dropped(&a, 3, 5000), 3);
	assert_int_equal(sink_wait(&b.sink, 2, 100), 1);

	/* a new switch on the same path, with a port group */
	svc = switch_svc_start("sw0", path, 0, &err);
	assert_non_null(svc);
	vswitch_portgroup_init(&pg, "red");
	pg.vlan = 10;
	assert_int_equal(switch_svc_portgroup_set(svc, &pg, &err), 0);
	/* the port group is checked at the hello: the daemon dials */
	assert_int_equal(net_swport_dial(path, "green", a.mac, NULL, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "green"));
	uint32_t mtu = 0;
	int fa = net_swport_dial(path, "red", a.mac, &mtu, &err);
	int fb = net_swport_dial(path, "red", b.mac, NULL, &err);
	assert_true(fa >= 0 && fb >= 0);
	assert_int_equal(mtu, 1500);
	assert_int_equal(net_swport_reconnect(NULL, fa), -EINVAL);
	assert_int_equal(net_swport_reconnect(a.nd, fa), 0);
	assert_int_equal(net_swport_reconnect(b.nd, fb), 0);
	assert_int_equal(wait_ports(svc, 2, 5000), 2);
	/* each netdev thread takes its connection on its next round (a frame
	 * sent before that is still dropped): frames flow again */
	assert_true(send_until(&a, BCAST, 3, &b.sink));
	assert_int_equal(b.sink.last[20], 3);
	assert_true(send_until(&b, a.mac, 4, &a.sink));
	assert_int_equal(a.sink.last[20], 4);
	/* nothing more dropped once connected */
	uint64_t dropped = wait_tx_dropped(&a, 0, 0);
	int nb = sink_count(&b.sink);
	vnic_send(&a, BCAST, 5);
	assert_int_equal(sink_wait(&b.sink, nb + 1, 5000), nb + 1);
	assert_int_equal(wait_tx_dropped(&a, dropped + 1, 200), dropped);

	/* a connection handed over while the old one still works replaces
	 * it: the switch sees the old port leave */
	fa = net_swport_dial(path, "red", a.mac, NULL, &err);
	assert_true(fa >= 0);
	assert_int_equal(wait_ports(svc, 3, 5000), 3);
	assert_int_equal(net_swport_reconnect(a.nd, fa), 0);
	assert_int_equal(wait_ports(svc, 2, 5000), 2);
	nb = sink_count(&b.sink);
	vnic_send(&a, BCAST, 6);
	assert_int_equal(sink_wait(&b.sink, nb + 1, 5000), nb + 1);
	assert_int_equal(b.sink.last[20], 6);

	vnic_close(&a);
	vnic_close(&b);
	switch_svc_stop(svc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_ports, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vlans_live, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_hello, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
