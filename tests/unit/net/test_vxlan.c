/*
 * Unit tests of VXLAN (src/net/vxlan.c) and of the distributed switch's
 * uplink (switch_svc over UDP on loopback): the RFC 7348 header, VLAN <->
 * VNI, head-end replication and learning, ageing, hostile datagrams
 * (each dropped with its counter, nothing learned), and two switches
 * carrying a VLAN between them while another VLAN stays apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/switch_svc.h"
#include "net/swproto.h"
#include "net/vxlan.h"

static const uint8_t MAC_A[6] = { 0x52, 0x54, 0, 0, 0, 0x0a };
static const uint8_t MAC_B[6] = { 0x52, 0x54, 0, 0, 0, 0x0b };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static struct sockaddr_in addr(const char *s)
{
	struct sockaddr_in a;

	assert_int_equal(vxlan_parse_addr(s, VXLAN_PORT, &a, "peer", NULL), 0);
	return a;
}

static struct vxlan *two_peers(void)
{
	struct vxlan_config c = { 0 };

	c.local = addr("127.0.0.1");
	c.peers[0] = addr("127.0.0.2");
	c.peers[1] = addr("127.0.0.3:4790");
	c.peers[2] = addr("127.0.0.1"); /* ourselves: left out */
	c.peers[3] = addr("127.0.0.2"); /* twice: once */
	c.n_peers = 4;
	c.vni_base = VXLAN_VNI_BASE;
	struct vxlan *vx = vxlan_new(&c, NULL);
	assert_non_null(vx);
	assert_int_equal(vxlan_config(vx)->n_peers, 2);
	return vx;
}

/* An Ethernet frame dst, src, optionally tagged, IPv4 type, len bytes. */
static size_t frame(uint8_t *f, const uint8_t *dst, const uint8_t *src,
		    uint16_t vlan, size_t len)
{
	size_t h = 12;

	memset(f, 0x5a, len);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (vlan) {
		f[12] = 0x81;
		f[13] = 0;
		f[14] = (uint8_t)(vlan >> 8);
		f[15] = (uint8_t)vlan;
		h = 16;
	}
	f[h] = 0x08;
	f[h + 1] = 0;
	return len;
}

/* A datagram: header for vni, then an untagged frame src -> dst. */
static size_t packet(uint8_t *p, uint32_t vni, const uint8_t *dst,
		     const uint8_t *src, size_t frame_len)
{
	vxlan_header(p, vni);
	return VXLAN_HLEN + frame(p + VXLAN_HLEN, dst, src, 0, frame_len);
}

static void test_header(void **state)
{
	uint8_t h[8];
	struct sockaddr_in a;
	char buf[32];

	(void)state;
	vxlan_header(h, 0x123456);
	const uint8_t want[8] = { 0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0 };
	assert_memory_equal(h, want, 8);
	assert_int_equal(vxlan_parse_addr("10.1.2.3:99", 4789, &a, "x", NULL),
			 0);
	vxlan_format_addr(&a, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.2.3:99");
	assert_int_equal(vxlan_parse_addr("10.1.2.3", 4789, &a, "x", NULL), 0);
	assert_int_equal(ntohs(a.sin_port), 4789);
	const char *bad[] = { "",	    "10.1.2",	      "10.1.2.3:",
			      "10.1.2.3:0", "10.1.2.3:70000", "h:1",
			      "1.2.3.4:-1", "1.2.3.4:1x",     NULL };
	for (int i = 0; bad[i]; i++) {
		struct error err = { 0 };
		assert_int_equal(
			vxlan_parse_addr(bad[i], 4789, &a, "peer", &err),
			-EINVAL);
		assert_non_null(strstr(err.msg, "peer"));
	}
	struct vxlan_config c = { .vni_base = VXLAN_VNI_MAX };
	struct error err = { 0 };
	assert_null(vxlan_new(&c, &err));
	assert_non_null(strstr(err.msg, "vni base"));
}

static void test_encap_flood_and_tags(void **state)
{
	struct vxlan *vx = two_peers();
	struct vxlan_tx tx;
	uint8_t f[128];
	struct vxlan_stats st;

	(void)state;
	/* VLAN 0 broadcast: every peer, VNI base, as is */
	size_t n = frame(f, BCAST, MAC_A, 0, 60);
	assert_int_equal(vxlan_encap(vx, f, n, 1, &tx), 2);
	assert_int_equal(tx.dst[0], 0);
	assert_int_equal(tx.dst[1], 1);
	assert_int_equal(tx.hdr[0], VXLAN_FLAG_I);
	uint32_t vni = (uint32_t)tx.hdr[4] << 16 | tx.hdr[5] << 8 | tx.hdr[6];
	assert_int_equal(vni, VXLAN_VNI_BASE);
	assert_int_equal(tx.inner_len, 60);
	assert_memory_equal(tx.inner, f, 60);
	/* VLAN 10: VNI base + 10, the tag taken out */
	n = frame(f, MAC_B, MAC_A, 10, 64);
	assert_int_equal(vxlan_encap(vx, f, n, 1, &tx), 2);
	vni = (uint32_t)tx.hdr[4] << 16 | tx.hdr[5] << 8 | tx.hdr[6];
	assert_int_equal(vni, VXLAN_VNI_BASE + 10);
	assert_int_equal(tx.inner_len, 60);
	assert_memory_equal(tx.inner, f, 12);
	assert_int_equal(tx.inner[12], 0x08);
	/* runts and a VLAN id the switch never sends */
	assert_int_equal(vxlan_encap(vx, f, 10, 1, &tx), 0);
	n = frame(f, MAC_B, MAC_A, 4095, 64);
	assert_int_equal(vxlan_encap(vx, f, n, 1, &tx), 0);
	f[12] = 0x81;
	f[13] = 0;
	assert_int_equal(vxlan_encap(vx, f, 15, 1, &tx), 0);
	vxlan_stats(vx, &st);
	assert_int_equal(st.tx_packets, 4);
	assert_int_equal(st.tx_flooded, 2);
	assert_int_equal(st.tx_dropped, 3);
	vxlan_free(vx);
}

static void test_decap_learn_unicast(void **state)
{
	struct vxlan *vx = two_peers();
	struct sockaddr_in p1 = addr("127.0.0.3:4790");
	uint8_t p[128], f[128];
	const uint8_t *out;
	size_t out_len;
	struct vxlan_tx tx;

	(void)state;
	/* B speaks from peer 1 on VLAN 10 */
	size_t n = packet(p, VXLAN_VNI_BASE + 10, BCAST, MAC_B, 60);
	assert_int_equal(vxlan_decap(vx, p, n, &p1, 100, &out, &out_len), 0);
	/* into the switch tagged for VLAN 10 */
	assert_int_equal(out_len, 64);
	assert_memory_equal(out, BCAST, 6);
	assert_memory_equal(out + 6, MAC_B, 6);
	assert_int_equal(out[12], 0x81);
	assert_int_equal(out[15], 10);
	assert_int_equal(out[16], 0x08);
	assert_int_equal(vxlan_fdb_lookup(vx, VXLAN_VNI_BASE + 10, MAC_B, 100),
			 1);
	/* learned per VNI: not on VLAN 20 */
	assert_int_equal(vxlan_fdb_lookup(vx, VXLAN_VNI_BASE + 20, MAC_B, 100),
			 -1);
	/* a unicast to B on VLAN 10 goes to peer 1 only */
	n = frame(f, MAC_B, MAC_A, 10, 64);
	assert_int_equal(vxlan_encap(vx, f, n, 200, &tx), 1);
	assert_int_equal(tx.dst[0], 1);
	/* on VLAN 20 it is unknown: flooded */
	n = frame(f, MAC_B, MAC_A, 20, 64);
	assert_int_equal(vxlan_encap(vx, f, n, 200, &tx), 2);
	/* VLAN 0 arrives untagged */
	n = packet(p, VXLAN_VNI_BASE, MAC_A, MAC_B, 60);
	assert_int_equal(vxlan_decap(vx, p, n, &p1, 300, &out, &out_len), 0);
	assert_int_equal(out_len, 60);
	assert_int_equal(out[12], 0x08);
	/* B moves to peer 0 */
	struct sockaddr_in p0 = addr("127.0.0.2");
	n = packet(p, VXLAN_VNI_BASE + 10, MAC_A, MAC_B, 60);
	assert_int_equal(vxlan_decap(vx, p, n, &p0, 400, &out, &out_len), 0);
	assert_int_equal(vxlan_fdb_lookup(vx, VXLAN_VNI_BASE + 10, MAC_B, 400),
			 0);
	/* forgotten after VXLAN_AGE_NS: flooded again */
	n = frame(f, MAC_B, MAC_A, 10, 64);
	assert_int_equal(vxlan_encap(vx, f, n, 400 + VXLAN_AGE_NS, &tx), 2);
	struct vxlan_stats st;
	vxlan_stats(vx, &st);
	assert_int_equal(st.rx_packets, 3);
	assert_int_equal(st.fdb_learned, 3); /* B@10, B@0, B@10 moved */
	vxlan_free(vx);
}

static void test_decap_hostile(void **state)
{
	struct vxlan *vx = two_peers();
	struct sockaddr_in p0 = addr("127.0.0.2");
	struct sockaddr_in stranger = addr("127.0.0.9");
	struct sockaddr_in wrong_port = addr("127.0.0.2:4790");
	static uint8_t p[70000];
	const uint8_t *out;
	size_t out_len, n;
	struct vxlan_stats st;

	(void)state;
	n = packet(p, VXLAN_VNI_BASE, BCAST, MAC_A, 60);
	/* not a peer (address, or a peer's address from another port) */
	assert_int_equal(vxlan_decap(vx, p, n, &stranger, 1, &out, &out_len),
			 -EPERM);
	assert_int_equal(vxlan_decap(vx, p, n, &wrong_port, 1, &out, &out_len),
			 -EPERM);
	/* short: nothing, a header alone, a header and 13 bytes */
	for (size_t k = 0; k < VXLAN_HLEN + 14; k++)
		assert_int_equal(vxlan_decap(vx, p, k, &p0, 1, &out, &out_len),
				 -EINVAL);
	/* I flag clear; reserved bits set are ignored (RFC 7348) */
	p[0] = 0x00;
	assert_int_equal(vxlan_decap(vx, p, n, &p0, 1, &out, &out_len),
			 -EINVAL);
	p[0] = 0xff;
	p[1] = p[2] = p[3] = p[7] = 0xff;
	assert_int_equal(vxlan_decap(vx, p, n, &p0, 1, &out, &out_len), 0);
	/* VNIs outside base .. base + 4094 */
	uint32_t bad_vni[] = { 0, VXLAN_VNI_BASE - 1, VXLAN_VNI_BASE + 4095,
			       VXLAN_VNI_MAX };
	for (unsigned i = 0; i < 4; i++) {
		n = packet(p, bad_vni[i], BCAST, MAC_A, 60);
		assert_int_equal(vxlan_decap(vx, p, n, &p0, 1, &out, &out_len),
				 -ENOENT);
	}
	/* inner: tagged (VLAN hopping), a multicast source, too long */
	n = packet(p, VXLAN_VNI_BASE, BCAST, MAC_A, 60);
	p[VXLAN_HLEN + 12] = 0x81;
	p[VXLAN_HLEN + 13] = 0x00;
	assert_int_equal(vxlan_decap(vx, p, n, &p0, 1, &out, &out_len),
			 -EINVAL);
	n = packet(p, VXLAN_VNI_BASE, MAC_A, BCAST, 60);
	assert_int_equal(vxlan_decap(vx, p, n, &p0, 1, &out, &out_len),
			 -EINVAL);
	n = packet(p, VXLAN_VNI_BASE + 1, BCAST, MAC_B, VXLAN_MAX_INNER + 1);
	assert_int_equal(vxlan_decap(vx, p, n, &p0, 1, &out, &out_len),
			 -EINVAL);
	/* the largest that fits, tagged on the way in */
	n = packet(p, VXLAN_VNI_BASE + 1, BCAST, MAC_B, VXLAN_MAX_INNER);
	assert_int_equal(vxlan_decap(vx, p, n, &p0, 1, &out, &out_len), 0);
	assert_int_equal(out_len, VXLAN_MAX_INNER + 4);
	vxlan_stats(vx, &st);
	assert_int_equal(st.rx_not_peer, 2);
	assert_int_equal(st.rx_short, VXLAN_HLEN + 14);
	assert_int_equal(st.rx_bad_flags, 1);
	assert_int_equal(st.rx_bad_vni, 4);
	assert_int_equal(st.rx_bad_frame, 3);
	assert_int_equal(st.rx_packets, 2);
	/* nothing learned from the refused ones */
	assert_int_equal(vxlan_fdb_lookup(vx, VXLAN_VNI_BASE, BCAST, 1), -1);
	assert_int_equal(vxlan_fdb_lookup(vx, VXLAN_VNI_BASE + 1, MAC_A, 1),
			 -1);
	vxlan_free(vx);
}

/* A flood of source addresses from a peer: the table stays its size,
 * the newest are found, nothing breaks. */
static void test_fdb_flood(void **state)
{
	struct vxlan *vx = two_peers();
	struct sockaddr_in p0 = addr("127.0.0.2");
	uint8_t p[128], mac[6] = { 0x02, 0, 0, 0, 0, 0 };
	const uint8_t *out;
	size_t out_len, n;

	(void)state;
	for (uint32_t i = 0; i < 100000; i++) {
		mac[3] = (uint8_t)(i >> 16);
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		n = packet(p, VXLAN_VNI_BASE + (i & 7), BCAST, mac, 60);
		assert_int_equal(vxlan_decap(vx, p, n, &p0, i, &out, &out_len),
				 0);
	}
	assert_int_equal(
		vxlan_fdb_lookup(vx, VXLAN_VNI_BASE + (99999 & 7), mac, 100000),
		0);
	vxlan_free(vx);
}

/* ---- two switches over UDP on loopback ------------------------------------ */

static int port_connect(const char *path, const char *pg, const uint8_t *mac)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct swproto_hello h = { 0 };
	struct swproto_reply r;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	memcpy(h.magic, SWPROTO_MAGIC, sizeof(h.magic));
	snprintf(h.portgroup, sizeof(h.portgroup), "%s", pg);
	memcpy(h.mac, mac, 6);
	assert_int_equal(send(fd, &h, sizeof(h), 0), sizeof(h));
	assert_int_equal(recv(fd, &r, sizeof(r), 0), sizeof(r));
	assert_int_equal(r.status, 0);
	return fd;
}

/* A frame on fd within ms, its length (0: none). */
static size_t port_recv(int fd, uint8_t *buf, size_t size, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	if (poll(&p, 1, ms) != 1)
		return 0;
	ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);
	return n > 0 ? (size_t)n : 0;
}

static struct switch_svc *dswitch(const char *dir, const char *name,
				  const char *local, const char *peer,
				  char *sock)
{
	struct vxlan_config c = { .vni_base = 5000 };
	struct vswitch_portgroup_config pg;
	struct error err = { 0 };

	sprintf(sock, "%s/%s.sock", dir, name);
	struct switch_svc *s = switch_svc_start(name, sock, 0, &err);
	assert_non_null(s);
	assert_int_equal(vxlan_parse_addr(local, 0, &c.local, "local", NULL),
			 0);
	assert_int_equal(vxlan_parse_addr(peer, 0, &c.peers[0], "peer", NULL),
			 0);
	c.n_peers = 1;
	assert_int_equal(switch_svc_set_uplink_vxlan(s, &c, &err), 0);
	assert_int_equal(vswitch_portgroup_parse("red,vlan=10", &pg, NULL), 0);
	assert_int_equal(switch_svc_portgroup_set(s, &pg, NULL), 0);
	assert_int_equal(vswitch_portgroup_parse("blue,vlan=20", &pg, NULL), 0);
	assert_int_equal(switch_svc_portgroup_set(s, &pg, NULL), 0);
	return s;
}

static void test_two_switches(void **state)
{
	char dir[] = "/tmp/sv-vxlan-XXXXXX", s1[128], s2[128];
	char l1[32], l2[32];
	uint8_t f[128], got[256];
	int base = 20000 + (getpid() % 20000);
	struct vxlan_stats st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(l1, sizeof(l1), "127.0.0.1:%d", base);
	snprintf(l2, sizeof(l2), "127.0.0.1:%d", base + 1);
	struct switch_svc *a = dswitch(dir, "dsa", l1, l2, s1);
	struct switch_svc *b = dswitch(dir, "dsb", l2, l1, s2);
	/* a second endpoint on a used address is refused */
	struct vxlan_config c = { .vni_base = 5000 };
	struct error err = { 0 };
	vxlan_parse_addr(l1, 0, &c.local, "local", NULL);
	assert_int_equal(switch_svc_set_uplink_vxlan(a, &c, &err), -EALREADY);

	int ra = port_connect(s1, "red", MAC_A);
	int rb = port_connect(s2, "red", MAC_B);
	const uint8_t MAC_C[6] = { 0x52, 0x54, 0, 0, 0, 0x0c };
	int bb = port_connect(s2, "blue", MAC_C);
	/* A's broadcast on red reaches red on the other switch, not blue */
	size_t n = frame(f, BCAST, MAC_A, 0, 60);
	assert_int_equal(send(ra, f, n, 0), (ssize_t)n);
	n = port_recv(rb, got, sizeof(got), 5000);
	assert_int_equal(n, 60);
	assert_memory_equal(got, f, 60);
	assert_int_equal(port_recv(bb, got, sizeof(got), 200), 0);
	/* B's answer: unicast back, learned on both sides */
	n = frame(f, MAC_A, MAC_B, 0, 70);
	assert_int_equal(send(rb, f, n, 0), (ssize_t)n);
	assert_int_equal(port_recv(ra, got, sizeof(got), 5000), 70);
	assert_memory_equal(got, f, 70);
	/* blue's broadcast does not reach red on the other switch */
	n = frame(f, BCAST, MAC_C, 0, 60);
	assert_int_equal(send(bb, f, n, 0), (ssize_t)n);
	assert_int_equal(port_recv(ra, got, sizeof(got), 300), 0);
	assert_int_equal(switch_svc_vxlan_stats(a, &st), 0);
	assert_int_equal(st.rx_packets, 2); /* B's unicast, blue's flood */
	assert_true(st.tx_packets >= 1);
	assert_int_equal(switch_svc_vxlan_stats(b, &st), 0);
	assert_int_equal(st.rx_packets, 1);
	/* a stranger's datagram to A is dropped and counted */
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in to;
	vxlan_parse_addr(l1, 0, &to, "x", NULL);
	n = packet(f, 5010, BCAST, MAC_C, 60);
	assert_int_equal(sendto(u, f, n, 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)n);
	close(u);
	for (int i = 0; i < 100; i++) {
		switch_svc_vxlan_stats(a, &st);
		if (st.rx_not_peer)
			break;
		usleep(10000);
	}
	assert_int_equal(st.rx_not_peer, 1);
	assert_int_equal(port_recv(ra, got, sizeof(got), 100), 0);
	close(ra);
	close(rb);
	close(bb);
	switch_svc_stop(a);
	switch_svc_stop(b);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_encap_flood_and_tags),
		cmocka_unit_test(test_decap_learn_unicast),
		cmocka_unit_test(test_decap_hostile),
		cmocka_unit_test(test_fdb_flood),
		cmocka_unit_test(test_two_switches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
