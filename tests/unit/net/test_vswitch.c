/*
 * Unit tests of the vSwitch core and the shaper (src/net/vswitch.c,
 * shaper.c): learning, flooding, ageing, VLAN access and trunk ports,
 * security policies, MTU, shaping, port group life cycle. Pure: simulated
 * time, ports are arrays that collect what the switch hands them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "net/shaper.h"
#include "net/vswitch.h"

#define MAXF 16

struct sink {
	int n;
	uint8_t f[MAXF][2048];
	size_t len[MAXF];
};

static void sink_out(void *opaque, const uint8_t *frame, size_t len)
{
	struct sink *s = opaque;

	if (s->n < MAXF && len <= sizeof(s->f[0])) {
		memcpy(s->f[s->n], frame, len);
		s->len[s->n] = len;
	}
	s->n++;
}

static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void mac_of(int i, uint8_t mac[6])
{
	const uint8_t m[6] = { 0x52, 0x54, 0x00, 0, 0, (uint8_t)i };
	memcpy(mac, m, 6);
}

/* An untagged frame dst <- src with a 64-byte payload tagged by id. */
static size_t frame(uint8_t *buf, const uint8_t *dst, const uint8_t *src,
		    uint8_t id)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	buf[12] = 0x08;
	buf[13] = 0x00;
	memset(buf + 14, id, 64);
	return 78;
}

struct rig {
	struct vswitch *sw;
	struct sink sink[8];
	int port[8];
	uint8_t mac[8][6];
};

static void pg_add(struct vswitch *sw, const char *name, uint16_t vlan)
{
	struct vswitch_portgroup_config pg;
	struct error err = { 0 };

	vswitch_portgroup_init(&pg, name);
	pg.vlan = vlan;
	assert_int_equal(vswitch_portgroup_set(sw, &pg, &err), 0);
}

static void port_add(struct rig *r, int i, const char *pg)
{
	struct error err = { 0 };

	mac_of(i + 1, r->mac[i]);
	r->port[i] = vswitch_port_add(r->sw, pg, r->mac[i], sink_out,
				      &r->sink[i], &err);
	assert_true(r->port[i] >= 0);
}

static void clear(struct rig *r)
{
	for (int i = 0; i < 8; i++)
		r->sink[i].n = 0;
}

static int send(struct rig *r, int from, const uint8_t *dst, uint64_t t)
{
	uint8_t buf[128];
	size_t n = frame(buf, dst, r->mac[from], (uint8_t)from);

	return vswitch_input(r->sw, r->port[from], buf, n, t);
}

static struct rig *rig_new(void)
{
	static struct rig r;

	memset(&r, 0, sizeof(r));
	r.sw = vswitch_new("sw0", 1500);
	assert_non_null(r.sw);
	return &r;
}

static void test_learning_and_flooding(void **state)
{
	struct rig *r = rig_new();

	pg_add(r->sw, "pg", 0);
	for (int i = 0; i < 3; i++)
		port_add(r, i, "pg");
	/* A -> B unknown: flooded to B and C, never back to A */
	assert_int_equal(send(r, 0, r->mac[1], 1), 2);
	assert_int_equal(r->sink[0].n, 0);
	assert_int_equal(r->sink[1].n, 1);
	assert_int_equal(r->sink[2].n, 1);
	assert_int_equal(vswitch_lookup(r->sw, 0, r->mac[0], 1), r->port[0]);
	clear(r);
	/* B -> A: A was learned: only A */
	assert_int_equal(send(r, 1, r->mac[0], 2), 1);
	assert_int_equal(r->sink[0].n, 1);
	assert_int_equal(r->sink[2].n, 0);
	assert_memory_equal(r->sink[0].f[0] + 6, r->mac[1], 6);
	clear(r);
	/* A -> B now known */
	assert_int_equal(send(r, 0, r->mac[1], 3), 1);
	assert_int_equal(r->sink[1].n, 1);
	assert_int_equal(r->sink[2].n, 0);
	clear(r);
	/* broadcast: everybody else */
	assert_int_equal(send(r, 2, BCAST, 4), 2);
	/* ageing: 300 s later A is unknown again: flooded */
	clear(r);
	assert_int_equal(send(r, 1, r->mac[0], 4 + VSWITCH_AGE_NS), 2);
	assert_int_equal(
		vswitch_lookup(r->sw, 0, r->mac[2], 5 + VSWITCH_AGE_NS), -1);
	/* a port that leaves is forgotten */
	vswitch_port_del(r->sw, r->port[1]);
	assert_int_equal(
		vswitch_lookup(r->sw, 0, r->mac[1], 5 + VSWITCH_AGE_NS), -1);
	assert_int_equal(vswitch_port_count(r->sw), 2);

	struct vswitch_port_stats st;
	assert_int_equal(vswitch_port_stats(r->sw, r->port[0], &st), 0);
	assert_int_equal(st.tx_frames, 2);
	assert_int_equal(st.tx_bytes, 156);
	assert_int_equal(st.rx_frames, 3);
	vswitch_free(r->sw);
}

static void test_vlan_isolation(void **state)
{
	struct rig *r = rig_new();

	pg_add(r->sw, "red", 10);
	pg_add(r->sw, "blue", 20);
	port_add(r, 0, "red");
	port_add(r, 1, "red");
	port_add(r, 2, "blue");
	/* broadcast from red stays in red */
	assert_int_equal(send(r, 0, BCAST, 1), 1);
	assert_int_equal(r->sink[1].n, 1);
	assert_int_equal(r->sink[2].n, 0);
	/* the guest never sees the access VLAN's tag */
	assert_int_equal(r->sink[1].len[0], 78);
	assert_int_equal(r->sink[1].f[0][12], 0x08);
	/* blue learned, red sends to blue's MAC: flooded in red only */
	assert_int_equal(send(r, 2, BCAST, 2), 0);
	clear(r);
	assert_int_equal(send(r, 0, r->mac[2], 3), 1);
	assert_int_equal(r->sink[2].n, 0);
	assert_int_equal(r->sink[1].n, 1);
	/* an access port's guest cannot tag its way into blue */
	uint8_t buf[128];
	memcpy(buf, BCAST, 6);
	memcpy(buf + 6, r->mac[0], 6);
	buf[12] = 0x81;
	buf[13] = 0x00;
	buf[14] = 0;
	buf[15] = 20;
	buf[16] = 0x08;
	buf[17] = 0;
	memset(buf + 18, 0, 64);
	clear(r);
	assert_int_equal(vswitch_input(r->sw, r->port[0], buf, 82, 4), 0);
	assert_int_equal(r->sink[2].n + r->sink[1].n, 0);
	struct vswitch_port_stats st;
	vswitch_port_stats(r->sw, r->port[0], &st);
	assert_int_equal(st.tx_dropped, 1);
	vswitch_free(r->sw);
}

static void test_trunk(void **state)
{
	struct rig *r = rig_new();
	uint8_t buf[128];

	pg_add(r->sw, "v10", 10);
	pg_add(r->sw, "v20", 20);
	pg_add(r->sw, "trunk", VSWITCH_VLAN_TRUNK);
	port_add(r, 0, "v10");
	port_add(r, 1, "v20");
	port_add(r, 2, "trunk");
	/* v10 broadcast reaches the trunk tagged 10 */
	assert_int_equal(send(r, 0, BCAST, 1), 1);
	assert_int_equal(r->sink[2].n, 1);
	assert_int_equal(r->sink[2].len[0], 82);
	assert_int_equal(r->sink[2].f[0][12], 0x81);
	assert_int_equal(r->sink[2].f[0][13], 0x00);
	assert_int_equal(r->sink[2].f[0][15], 10);
	assert_int_equal(r->sink[2].f[0][16], 0x08);
	/* the trunk sends tagged 20: v20 gets it untagged, v10 nothing */
	memcpy(buf, BCAST, 6);
	memcpy(buf + 6, r->mac[2], 6);
	buf[12] = 0x81;
	buf[13] = 0x00;
	buf[14] = 0x20; /* PCP 1, VID 20 */
	buf[15] = 20;
	buf[16] = 0x08;
	buf[17] = 0;
	memset(buf + 18, 7, 64);
	clear(r);
	assert_int_equal(vswitch_input(r->sw, r->port[2], buf, 82, 2), 1);
	assert_int_equal(r->sink[1].n, 1);
	assert_int_equal(r->sink[0].n, 0);
	assert_int_equal(r->sink[1].len[0], 78);
	assert_int_equal(r->sink[1].f[0][12], 0x08);
	assert_int_equal(r->sink[1].f[0][14], 7);
	assert_int_equal(vswitch_lookup(r->sw, 20, r->mac[2], 3), r->port[2]);
	/* VID 4095 is reserved: dropped; a truncated tag: dropped */
	buf[14] = 0x0f;
	buf[15] = 0xff;
	assert_int_equal(vswitch_input(r->sw, r->port[2], buf, 82, 3), 0);
	assert_int_equal(vswitch_input(r->sw, r->port[2], buf, 16, 3), 0);
	vswitch_free(r->sw);
}

static void test_policies(void **state)
{
	struct rig *r = rig_new();
	struct vswitch_portgroup_config pg;
	struct error err = { 0 };
	uint8_t buf[128];

	pg_add(r->sw, "pg", 0);
	for (int i = 0; i < 3; i++)
		port_add(r, i, "pg");
	/* forged transmits accepted by default */
	uint8_t other[6] = { 0x52, 0x54, 0, 0, 0, 0x99 };
	size_t n = frame(buf, BCAST, other, 1);
	assert_int_equal(vswitch_input(r->sw, r->port[0], buf, n, 1), 2);
	vswitch_portgroup_init(&pg, "pg");
	pg.policy.forged_transmits = false;
	assert_int_equal(vswitch_portgroup_set(r->sw, &pg, &err), 0);
	assert_int_equal(vswitch_input(r->sw, r->port[0], buf, n, 2), 0);
	assert_int_equal(send(r, 0, BCAST, 2), 2); /* its own MAC still ok */
	/* a multicast source is never valid */
	n = frame(buf, BCAST, BCAST, 1);
	assert_int_equal(vswitch_input(r->sw, r->port[1], buf, n, 2), 0);

	/* promiscuous: port 2 sees the unicast between 0 and 1 */
	send(r, 1, BCAST, 3);
	clear(r);
	assert_int_equal(send(r, 0, r->mac[1], 4), 1);
	assert_int_equal(r->sink[2].n, 0);
	pg.policy.promiscuous = true;
	assert_int_equal(vswitch_portgroup_set(r->sw, &pg, &err), 0);
	clear(r);
	assert_int_equal(send(r, 0, r->mac[1], 5), 2);
	assert_int_equal(r->sink[2].n, 1);

	/* MAC changes rejected: an unknown unicast reaches only the port
	 * owning that MAC */
	pg.policy.promiscuous = false;
	pg.policy.mac_changes = false;
	assert_int_equal(vswitch_portgroup_set(r->sw, &pg, &err), 0);
	clear(r);
	uint8_t stranger[6] = { 0x52, 0x54, 0, 0, 0, 0x77 };
	assert_int_equal(send(r, 0, stranger, 6), 0);
	vswitch_free(r->sw);
}

static void test_uplink(void **state)
{
	struct rig *r = rig_new();
	struct vswitch_portgroup_config pg;
	struct error err = { 0 };
	uint8_t buf[128];
	const uint8_t lan[6] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };

	vswitch_portgroup_init(&pg, "pg");
	pg.policy.forged_transmits = false;
	pg.policy.mac_changes = false;
	assert_int_equal(vswitch_portgroup_set(r->sw, &pg, &err), 0);
	port_add(r, 0, "pg");
	r->port[1] = vswitch_uplink_add(r->sw, "pg", sink_out, &r->sink[1],
					&err);
	assert_true(r->port[1] >= 0);
	/* the LAN's hosts send through the uplink with their own MACs */
	size_t n = frame(buf, r->mac[0], lan, 1);
	assert_int_equal(vswitch_input(r->sw, r->port[1], buf, n, 1), 1);
	assert_int_equal(vswitch_lookup(r->sw, 0, lan, 1), r->port[1]);
	/* and the VM reaches them: unicast to a MAC that is not the
	 * uplink's own */
	assert_int_equal(send(r, 0, lan, 2), 1);
	assert_int_equal(r->sink[1].n, 1);
	/* an unknown unicast is flooded to the uplink too */
	uint8_t far[6] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x99 };
	assert_int_equal(send(r, 0, far, 3), 1);
	assert_int_equal(r->sink[1].n, 2);
	vswitch_free(r->sw);
}

static void test_mtu_and_bad_frames(void **state)
{
	struct rig *r = rig_new();
	static uint8_t big[VSWITCH_MAX_FRAME + 8];
	struct error err = { 0 };

	pg_add(r->sw, "pg", 0);
	port_add(r, 0, "pg");
	port_add(r, 1, "pg");
	memcpy(big, BCAST, 6);
	memcpy(big + 6, r->mac[0], 6);
	assert_int_equal(vswitch_input(r->sw, r->port[0], big, 14 + 1500, 1),
			 1);
	assert_int_equal(vswitch_input(r->sw, r->port[0], big, 14 + 1501, 1),
			 0);
	assert_int_equal(vswitch_input(r->sw, r->port[0], big, 13, 1), 0);
	assert_int_equal(vswitch_input(r->sw, r->port[0], big, sizeof(big), 1),
			 0);
	assert_int_equal(vswitch_input(r->sw, 77, big, 100, 1), 0);
	assert_int_equal(vswitch_input(r->sw, -1, big, 100, 1), 0);
	assert_int_equal(vswitch_set_mtu(r->sw, 9000, &err), 0);
	assert_int_equal(vswitch_input(r->sw, r->port[0], big, 14 + 9000, 1),
			 1);
	assert_int_equal(vswitch_set_mtu(r->sw, 100, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "576"));
	vswitch_free(r->sw);
}

static void test_portgroups(void **state)
{
	struct vswitch *sw = vswitch_new("sw", 0);
	struct vswitch_portgroup_config pg;
	struct error err = { 0 };
	uint8_t mac[6];
	unsigned n;

	assert_int_equal(vswitch_mtu(sw), VSWITCH_MTU_DEFAULT);
	vswitch_portgroup_init(&pg, "bad name");
	assert_int_equal(vswitch_portgroup_set(sw, &pg, &err), -EINVAL);
	vswitch_portgroup_init(&pg, "ok");
	pg.vlan = 4096;
	assert_int_equal(vswitch_portgroup_set(sw, &pg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "4096"));
	pg.vlan = 5;
	pg.shape_tx.enabled = true;
	pg.shape_tx.avg_bps = 1000000;
	pg.shape_tx.peak_bps = 10;
	pg.shape_tx.burst_bytes = 1 << 20;
	assert_int_equal(vswitch_portgroup_set(sw, &pg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "peak"));
	pg.shape_tx.enabled = false;
	assert_int_equal(vswitch_portgroup_set(sw, &pg, &err), 0);
	vswitch_portgroups(sw, &n);
	assert_int_equal(n, 1);
	mac_of(1, mac);
	assert_int_equal(
		vswitch_port_add(sw, "nope", mac, sink_out, NULL, &err),
		-ENOENT);
	int p = vswitch_port_add(sw, "ok", mac, sink_out, NULL, &err);
	assert_true(p >= 0);
	assert_string_equal(vswitch_port_portgroup(sw, p), "ok");
	assert_int_equal(vswitch_port_next(sw, -1), p);
	assert_int_equal(vswitch_port_next(sw, p), -1);
	assert_int_equal(vswitch_portgroup_del(sw, "ok", &err), -EBUSY);
	vswitch_port_del(sw, p);
	assert_int_equal(vswitch_portgroup_del(sw, "ok", &err), 0);
	assert_int_equal(vswitch_portgroup_del(sw, "ok", &err), -ENOENT);
	assert_int_equal(vswitch_check_name("-x", "switch", &err), -EINVAL);
	vswitch_free(sw);
}

static void test_shaper(void **state)
{
	/* 8 Mbit/s = 1 MB/s average, 16 Mbit/s peak, 100 kB burst */
	struct shaper_config c = { true, 8000000, 16000000, 100000 };
	struct shaper s;
	struct error err = { 0 };
	uint64_t t = 1000000000;
	int n = 0;

	assert_int_equal(shaper_check(&c, 1500, &err), 0);
	shaper_init(&s, &c, 1500);
	/* at one instant: the peak bucket holds one frame only */
	while (shaper_admit(&s, 1000, t))
		n++;
	assert_int_equal(n, 1);
	/* at the peak rate (2 MB/s) 1000 bytes every 0.5 ms pass until the
	 * burst is spent: 100 kB + 1 MB/s refill over the time taken */
	n = 0;
	for (int i = 1; i <= 400; i++)
		if (shaper_admit(&s, 1000, t + (uint64_t)i * 500000))
			n++;
	/* 200 ms: the burst left (99 frames) + 200 ms of the average
	 * (200 frames) = ~299 of the 400 offered */
	assert_true(n >= 295 && n <= 303);
	/* a long pause refills only up to the burst */
	n = 0;
	uint64_t t2 = t + 100000000000ull;
	for (int i = 0; i < 1000; i++)
		if (shaper_admit(&s, 1000, t2 + (uint64_t)i * 500000))
			n++;
	/* 0.5 s: burst 100 + refill 500 = ~600 */
	assert_true(n >= 595 && n <= 605);
	/* off: everything passes */
	c.enabled = false;
	shaper_init(&s, &c, 1500);
	assert_true(shaper_admit(&s, 60000, 0));
	c.enabled = true;
	c.burst_bytes = 100;
	assert_int_equal(shaper_check(&c, 1500, &err), -EINVAL);
	c.burst_bytes = 1 << 20;
	c.avg_bps = 0;
	assert_int_equal(shaper_check(&c, 1500, &err), -EINVAL);
}

static void test_shaped_port(void **state)
{
	struct rig *r = rig_new();
	struct vswitch_portgroup_config pg;
	struct error err = { 0 };
	struct vswitch_port_stats st;

	vswitch_portgroup_init(&pg, "slow");
	pg.shape_tx = (struct shaper_config){ true, 8000, 8000,
					      VSWITCH_MAX_FRAME };
	assert_int_equal(vswitch_portgroup_set(r->sw, &pg, &err), 0);
	port_add(r, 0, "slow");
	port_add(r, 1, "slow");
	/* burst = one max frame: 840 78-byte frames at one instant pass,
	 * then the rest of 1000 is policed */
	int passed = 0;
	for (int i = 0; i < 1000; i++)
		passed += send(r, 0, BCAST, 1000000);
	assert_true(passed < 1000);
	vswitch_port_stats(r->sw, r->port[0], &st);
	assert_int_equal(st.tx_shaped, (uint64_t)(1000 - passed));
	assert_int_equal(st.tx_dropped, st.tx_shaped);
	vswitch_free(r->sw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learning_and_flooding),
		cmocka_unit_test(test_vlan_isolation),
		cmocka_unit_test(test_trunk),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_uplink),
		cmocka_unit_test(test_mtu_and_bad_frames),
		cmocka_unit_test(test_portgroups),
		cmocka_unit_test(test_shaper),
		cmocka_unit_test(test_shaped_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
