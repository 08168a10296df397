/*
 * Unit tests for the netdev core's self-announcement (netdev_announce,
 * netdev_rarp_frame): the RARP frame byte by byte, the rounds on the netdev
 * thread's timer (count, order, never early), the front end's part, and
 * parameters out of range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "net/netdev.h"
#include "util/clock.h"

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

/* ---- the frame ------------------------------------------------------------------- */

static void test_rarp_frame(void **state)
{
	uint8_t f[NETDEV_RARP_LEN + 4];

	memset(f, 0xa5, sizeof(f));
	assert_int_equal(netdev_rarp_frame(f, mac), 60);
	/* Ethernet: broadcast destination, our source, ethertype RARP */
	for (int i = 0; i < 6; i++)
		assert_int_equal(f[i], 0xff);
	assert_memory_equal(f + 6, mac, 6);
	assert_int_equal(f[12], 0x80);
	assert_int_equal(f[13], 0x35);
	/* RFC 903: hardware type 1 (Ethernet), protocol 0x0800 (IPv4) */
	assert_int_equal(f[14], 0x00);
	assert_int_equal(f[15], 0x01);
	assert_int_equal(f[16], 0x08);
	assert_int_equal(f[17], 0x00);
	/* address lengths 6 and 4, opcode 3 (reverse request) */
	assert_int_equal(f[18], 6);
	assert_int_equal(f[19], 4);
	assert_int_equal(f[20], 0x00);
	assert_int_equal(f[21], 0x03);
	/* sender hardware and protocol address */
	assert_memory_equal(f + 22, mac, 6);
	for (int i = 28; i < 32; i++)
		assert_int_equal(f[i], 0);
	/* target hardware and protocol address */
	assert_memory_equal(f + 32, mac, 6);
	for (int i = 38; i < 42; i++)
		assert_int_equal(f[i], 0);
	/* zero padding to the 60-byte minimum, nothing written beyond */
	for (int i = 42; i < 60; i++)
		assert_int_equal(f[i], 0);
	for (int i = 60; i < 64; i++)
		assert_int_equal(f[i], 0xa5);
}

/* ---- the rounds ------------------------------------------------------------------- */

#define MAX_SEEN 16

struct cap {
	pthread_mutex_t lock;
	struct netdev *nd;
	uint8_t frame[MAX_SEEN][64];
	size_t len[MAX_SEEN];
	uint64_t at[MAX_SEEN]; /* CLOCK_MONOTONIC ns */
	unsigned n;
	unsigned rounds; /* announce callbacks */
	bool send;	 /* what the callback returns */
};

static void cap_output(void *be, const uint8_t *frame, size_t len)
{
	struct cap *c = be;

	pthread_mutex_lock(&c->lock);
	if (c->n < MAX_SEEN) {
		memcpy(c->frame[c->n], frame, len < 64 ? len : 64);
		c->len[c->n] = len;
		c->at[c->n] = clock_monotonic_ns();
		c->n++;
	}
	pthread_mutex_unlock(&c->lock);
}

static void cap_prepare(void *be, struct netdev_pollset *ps, int *timeout)
{
}

static void cap_dispatch(void *be, struct netdev_pollset *ps, bool error)
{
}

static const struct netdev_backend_ops cap_ops = {
	.kind = "capture",
	.output = cap_output,
	.poll_prepare = cap_prepare,
	.poll_dispatch = cap_dispatch,
};

static int cl_receive(void *opaque, const struct iovec *iov, int n)
{
	return 0;
}

static bool cl_announce(void *opaque, uint8_t m[6])
{
	struct cap *c = opaque;

	pthread_mutex_lock(&c->lock);
	c->rounds++;
	bool send = c->send;
	pthread_mutex_unlock(&c->lock);
	memcpy(m, mac, 6);
	return send;
}

static void cap_up(struct cap *c, bool with_announce)
{
	struct error err = { 0 };

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->send = true;
	c->nd = netdev_new(&cap_ops, c, "cap", &err);
	assert_non_null(c->nd);
	assert_int_equal(netdev_start(c->nd, &err), 0);
	struct netdev_client cl = { cl_receive, NULL, c,
				    with_announce ? cl_announce : NULL };
	netdev_attach(c->nd, &cl);
}

static void cap_down(struct cap *c)
{
	netdev_detach(c->nd);
	netdev_destroy(c->nd);
	pthread_mutex_destroy(&c->lock);
}

/* Wait until the callback ran `rounds` times (false after 20 s). */
static bool wait_rounds(struct cap *c, unsigned rounds)
{
	for (int t = 0; t < 20000; t++) {
		pthread_mutex_lock(&c->lock);
		unsigned r = c->rounds;
		pthread_mutex_unlock(&c->lock);
		if (r >= rounds)
			return true;
		usleep(1000);
	}
	return false;
}

/* QEMU's defaults: 5 rounds, then nothing more; each gap at least the
 * schedule's (50, 150, 250, 350 ms: the timer never fires early). */
static void test_default_rounds(void **state)
{
	static struct cap c;
	struct error err = { 0 };
	struct netdev_stats st;

	cap_up(&c, true);
	assert_int_equal(netdev_announce(c.nd, NULL, &err), 0);
	assert_true(wait_rounds(&c, 5));
	/* the schedule is over: no sixth round comes */
	usleep(800 * 1000);
	pthread_mutex_lock(&c.lock);
	assert_int_equal(c.rounds, 5);
	assert_int_equal(c.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		uint8_t want[NETDEV_RARP_LEN];
		netdev_rarp_frame(want, mac);
		assert_int_equal(c.len[i], NETDEV_RARP_LEN);
		assert_memory_equal(c.frame[i], want, NETDEV_RARP_LEN);
	}
	static const unsigned gap_ms[4] = { 50, 150, 250, 350 };
	for (unsigned i = 1; i < 5; i++)
		assert_true(c.at[i] - c.at[i - 1] >=
			    (uint64_t)gap_ms[i - 1] * 1000000);
	pthread_mutex_unlock(&c.lock);
	netdev_get_stats(c.nd, &st);
	assert_int_equal(st.tx_frames, 5);
	assert_int_equal(st.tx_bytes, 5 * NETDEV_RARP_LEN);
	cap_down(&c);
}

/* max_ms caps the gap; a new announce restarts the count. */
static void test_params_and_restart(void **state)
{
	static struct cap c;
	struct error err = { 0 };
	struct netdev_announce_params p = { 3, 10, 20, 1000 };

	cap_up(&c, true);
	assert_int_equal(netdev_announce(c.nd, &p, &err), 0);
	assert_true(wait_rounds(&c, 3));
	pthread_mutex_lock(&c.lock);
	assert_true(c.at[1] - c.at[0] >= 10 * 1000000ull);
	assert_true(c.at[2] - c.at[1] >= 20 * 1000000ull);
	pthread_mutex_unlock(&c.lock);
	p.rounds = 2;
	assert_int_equal(netdev_announce(c.nd, &p, &err), 0);
	assert_true(wait_rounds(&c, 5));
	usleep(300 * 1000);
	pthread_mutex_lock(&c.lock);
	assert_int_equal(c.n, 5);
	pthread_mutex_unlock(&c.lock);
	cap_down(&c);
}

/* The front end says "nothing this round", or has no announce: the
 * rounds run, no frame is sent. */
static void test_front_end_declines(void **state)
{
	static struct cap c;
	struct error err = { 0 };
	struct netdev_announce_params p = { 2, 1, 1, 0 };

	cap_up(&c, true);
	c.send = false;
	assert_int_equal(netdev_announce(c.nd, &p, &err), 0);
	assert_true(wait_rounds(&c, 2));
	usleep(100 * 1000);
	pthread_mutex_lock(&c.lock);
	assert_int_equal(c.n, 0);
	pthread_mutex_unlock(&c.lock);
	cap_down(&c);

	cap_up(&c, false);
	assert_int_equal(netdev_announce(c.nd, &p, &err), 0);
	usleep(200 * 1000);
	pthread_mutex_lock(&c.lock);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.rounds, 0);
	pthread_mutex_unlock(&c.lock);
	cap_down(&c);
}

static void test_bad_params(void **state)
{
	static struct cap c;
	struct error err = { 0 };
	static const struct netdev_announce_params bad[] = {
		{ 0, 50, 550, 100 },
		{ NETDEV_ANNOUNCE_MAX_ROUNDS + 1, 50, 550, 100 },
		{ 5, 600, 550, 100 },
		{ 5, 50, NETDEV_ANNOUNCE_MAX_MS + 1, 100 },
		{ 5, 50, 550, NETDEV_ANNOUNCE_MAX_MS + 1 },
	};

	cap_up(&c, true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(netdev_announce(c.nd, &bad[i], &err), -EINVAL);
		assert_true(strstr(err.msg, "announce") != NULL);
	}
	usleep(50 * 1000);
	pthread_mutex_lock(&c.lock);
	assert_int_equal(c.rounds, 0);
	pthread_mutex_unlock(&c.lock);
	cap_down(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rarp_frame),
		cmocka_unit_test(test_default_rounds),
		cmocka_unit_test(test_params_and_restart),
		cmocka_unit_test(test_front_end_declines),
		cmocka_unit_test(test_bad_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
