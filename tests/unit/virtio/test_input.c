/* Unit tests for the virtio-input power button: the configuration space
 * (as Linux's virtio_input driver probes it), press delivery through the
 * worker against a fake transport, pending events and their bound, the
 * statusq, hostile buffers and config writes, save/load. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_transport.h"
#include "virtio/input.h"

#define EVQ 0
#define STQ 1

/* Select a pair through config writes and read the whole config back. */
static void cfg_select(struct virtio_input *in, uint8_t sel, uint8_t sub,
		       uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE])
{
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);
	uint32_t i;

	ops->config_write(in, 0, &sel, 1);
	ops->config_write(in, 1, &sub, 1);
	for (i = 0; i < VIRTIO_INPUT_CONFIG_SIZE; i++) /* bytewise, as Linux */
		ops->config_read(in, i, &cfg[i], 1);
}

static void test_ops(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);

	assert_int_equal(ops->device_id, 18);
	assert_int_equal(ops->n_queues, 2);
	assert_int_equal(ops->config_size, 136);
	assert_int_equal(ops->features, 0);
	assert_non_null(ops->config_write);
	virtio_input_destroy(in);
}

static void test_config_ids(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE];
	uint16_t v;

	cfg_select(in, VIRTIO_INPUT_CFG_ID_NAME, 0, cfg);
	assert_int_equal(cfg[0], VIRTIO_INPUT_CFG_ID_NAME);
	assert_int_equal(cfg[2], strlen("Softvisor Power Button"));
	assert_memory_equal(cfg + 8, "Softvisor Power Button", cfg[2]);

	cfg_select(in, VIRTIO_INPUT_CFG_ID_SERIAL, 0, cfg);
	assert_int_equal(cfg[2], 6);
	assert_memory_equal(cfg + 8, "power0", 6);

	cfg_select(in, VIRTIO_INPUT_CFG_ID_DEVIDS, 0, cfg);
	assert_int_equal(cfg[2], 8);
	memcpy(&v, cfg + 8, 2);
	assert_int_equal(le16toh(v), 0x06); /* BUS_VIRTUAL */
	memcpy(&v, cfg + 10, 2);
	assert_int_equal(le16toh(v), VIRTIO_INPUT_POWER_VENDOR);

	cfg_select(in, VIRTIO_INPUT_CFG_PROP_BITS, 0, cfg);
	assert_int_equal(cfg[2], 0);
	cfg_select(in, VIRTIO_INPUT_CFG_ABS_INFO, 0, cfg);
	assert_int_equal(cfg[2], 0);
	cfg_select(in, VIRTIO_INPUT_CFG_UNSET, 0, cfg);
	assert_int_equal(cfg[2], 0);
	cfg_select(in, 0x7f, 0x33, cfg); /* unknown: size 0 */
	assert_int_equal(cfg[2], 0);
	cfg_select(in, VIRTIO_INPUT_CFG_ID_NAME, 1, cfg); /* bad subsel */
	assert_int_equal(cfg[2], 0);
	virtio_input_destroy(in);
}

static void test_config_ev_bits(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE];
	unsigned ev, bit, set = 0;

	cfg_select(in, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_KEY, cfg);
	assert_int_equal(cfg[2], 116 / 8 + 1);
	for (bit = 0; bit < 128 * 8; bit++) {
		if (cfg[8 + bit / 8] & (1u << (bit % 8))) {
			assert_int_equal(bit, 116); /* KEY_POWER only */
			set++;
		}
	}
	assert_int_equal(set, 1);
	/* Every other event type (EV_SYN, EV_REL, EV_ABS, ... up to EV_MAX
	 * and beyond) is absent. */
	for (ev = 0; ev < 256; ev++) {
		if (ev == VIRTIO_INPUT_EV_KEY)
			continue;
		cfg_select(in, VIRTIO_INPUT_CFG_EV_BITS, (uint8_t)ev, cfg);
		assert_int_equal(cfg[2], 0);
	}
	virtio_input_destroy(in);
}

static void test_config_hostile(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);
	uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE];
	uint32_t v32 = htole32(0x11223344);
	uint64_t v64 = 0;
	uint8_t junk[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	/* A 32-bit write at 0 sets select and subsel (low bytes first) and
	 * ignores size and reserved. */
	ops->config_write(in, 0, &v32, 4);
	ops->config_read(in, 0, &v64, 8);
	assert_int_equal(v64 & 0xff, 0x44);
	assert_int_equal((v64 >> 8) & 0xff, 0x33);
	assert_int_equal((v64 >> 16) & 0xff, 0); /* size: unsupported pair */
	/* Writes into size and the union are ignored. */
	ops->config_write(in, 2, junk, 8);
	ops->config_write(in, 128, junk, 8);
	ops->config_write(in, 1000, junk, 8); /* past the end */
	cfg_select(in, VIRTIO_INPUT_CFG_ID_SERIAL, 0, cfg);
	assert_int_equal(cfg[2], 6);
	/* Reads at and past the end are zero, never out of bounds. */
	v64 = ~0ull;
	ops->config_read(in, VIRTIO_INPUT_CONFIG_SIZE - 2, &v64, 8);
	assert_int_equal(v64, 0);
	v64 = ~0ull;
	ops->config_read(in, 0xffffffffu, &v64, 8);
	assert_int_equal(v64, 0);
	/* A reset clears the selection. */
	ops->reset(in);
	ops->config_read(in, 0, &v64, 2);
	assert_int_equal(v64, 0);
	virtio_input_destroy(in);
}

static void add_evbuf(struct virtio_dev *vd, uint8_t *buf, size_t len)
{
	struct virtq_req *req = calloc(1, sizeof(*req));

	fake_req_in(req, buf, len);
	fake_queue_add(vd, EVQ, req);
	free(req);
}

static void check_event(const uint8_t *b, uint16_t type, uint16_t code,
			uint32_t value)
{
	uint16_t t, c;
	uint32_t v;

	memcpy(&t, b, 2);
	memcpy(&c, b + 2, 2);
	memcpy(&v, b + 4, 4);
	assert_int_equal(le16toh(t), type);
	assert_int_equal(le16toh(c), code);
	assert_int_equal(le32toh(v), value);
}

static void check_press(uint8_t bufs[][8])
{
	check_event(bufs[0], VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_KEY_POWER, 1);
	check_event(bufs[1], VIRTIO_INPUT_EV_SYN, VIRTIO_INPUT_SYN_REPORT, 0);
	check_event(bufs[2], VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_KEY_POWER, 0);
	check_event(bufs[3], VIRTIO_INPUT_EV_SYN, VIRTIO_INPUT_SYN_REPORT, 0);
}

static void test_press_delivered(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	uint8_t bufs[8][8];
	struct virtio_input_stats st;
	unsigned i;

	memset(bufs, 0xaa, sizeof(bufs));
	for (i = 0; i < 8; i++)
		add_evbuf(vd, bufs[i], 8);
	ops->start(in, vd);
	assert_int_equal(virtio_input_power_press(in), 0);
	assert_true(fake_wait_used(vd, EVQ, 4, 5000));
	for (i = 0; i < 4; i++)
		assert_int_equal(fake_used_written(vd, EVQ, i), 8);
	check_press(bufs);
	/* The next buffers are untouched: one event per buffer. */
	assert_int_equal(bufs[4][0], 0xaa);
	ops->reset(in); /* joins the worker: its notify happened */
	assert_true(fake_notifies(vd, EVQ) >= 1);
	assert_int_equal(fake_used(vd, EVQ), 4);
	virtio_input_get_stats(in, &st);
	assert_int_equal(st.presses, 1);
	assert_int_equal(st.events, 4);
	assert_int_equal(st.pending, 0);
	virtio_input_destroy(in);
	fake_dev_free(vd);
}

/* VM save: quiesce stops the worker with no eventq buffer held (a held
 * one goes back to the queue); events not yet delivered stay and go out
 * after start, into buffers the guest adds later. */
static void test_quiesce(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	uint8_t bufs[4][8];

	(void)state;
	assert_non_null(ops->quiesce);
	memset(bufs, 0xaa, sizeof(bufs));
	add_evbuf(vd, bufs[0], 8);
	add_evbuf(vd, bufs[1], 8);
	ops->start(in, vd);
	assert_int_equal(virtio_input_power_press(in), 0);
	assert_true(fake_wait_used(vd, EVQ, 2, 5000));
	ops->quiesce(in);
	assert_int_equal(fake_popped(vd, EVQ), fake_used(vd, EVQ));
	add_evbuf(vd, bufs[2], 8);
	add_evbuf(vd, bufs[3], 8);
	ops->start(in, vd);
	assert_true(fake_wait_used(vd, EVQ, 4, 5000));
	check_press(bufs);
	ops->reset(in);
	virtio_input_destroy(in);
	fake_dev_free(vd);
}

static void test_pending_until_buffers(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	uint8_t bufs[8][8];
	struct virtio_input_stats st;

	/* Pressed before the driver is up, and a driver reset on probe. */
	assert_int_equal(virtio_input_power_press(in), 0);
	ops->reset(in);
	ops->start(in, vd);
	virtio_input_get_stats(in, &st);
	assert_int_equal(st.pending, 4);

	/* Buffers come two at a time: the press arrives in order. */
	memset(bufs, 0, sizeof(bufs));
	add_evbuf(vd, bufs[0], 8);
	add_evbuf(vd, bufs[1], 8);
	ops->queue_notify(in, EVQ);
	assert_true(fake_wait_used(vd, EVQ, 2, 5000));
	add_evbuf(vd, bufs[2], 16); /* bigger than an event: fine */
	add_evbuf(vd, bufs[3], 8);
	ops->queue_notify(in, EVQ);
	assert_true(fake_wait_used(vd, EVQ, 4, 5000));
	check_press(bufs);
	assert_int_equal(fake_used_written(vd, EVQ, 2), 8);

	/* A spare buffer waits for the next press. */
	add_evbuf(vd, bufs[4], 8);
	add_evbuf(vd, bufs[5], 8);
	add_evbuf(vd, bufs[6], 8);
	add_evbuf(vd, bufs[7], 8);
	ops->queue_notify(in, EVQ);
	virtio_input_power_press(in);
	assert_true(fake_wait_used(vd, EVQ, 8, 5000));
	check_press(&bufs[4]);
	virtio_input_destroy(in);
	fake_dev_free(vd);
}

static void test_pending_bound(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	struct virtio_input_stats st;
	unsigned i, presses = VIRTIO_INPUT_PENDING / 4;
	uint8_t bufs[4][8];

	for (i = 0; i < presses; i++)
		assert_int_equal(virtio_input_power_press(in), 0);
	assert_int_equal(virtio_input_power_press(in), 1); /* full */
	virtio_input_get_stats(in, &st);
	assert_int_equal(st.pending, VIRTIO_INPUT_PENDING);
	assert_int_equal(st.presses_dropped, 1);

	/* Half of the oldest press is delivered; then it must not be cut. */
	ops->start(in, vd);
	memset(bufs, 0, sizeof(bufs));
	add_evbuf(vd, bufs[0], 8);
	add_evbuf(vd, bufs[1], 8);
	add_evbuf(vd, bufs[2], 8);
	ops->queue_notify(in, EVQ);
	assert_true(fake_wait_used(vd, EVQ, 3, 5000));
	ops->reset(in);
	for (i = 0; i < 4; i++)
		virtio_input_power_press(in);
	virtio_input_get_stats(in, &st);
	/* One event of the partial press left, then whole presses. */
	assert_int_equal(st.pending, 1 + VIRTIO_INPUT_PENDING - 4);
	ops->start(in, vd);
	add_evbuf(vd, bufs[3], 8);
	ops->queue_notify(in, EVQ);
	assert_true(fake_wait_used(vd, EVQ, 4, 5000));
	check_press(bufs);
	virtio_input_destroy(in);
	fake_dev_free(vd);
}

static void test_statusq(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	struct virtq_req *req = calloc(1, sizeof(*req));
	uint8_t led[8] = { 0x11, 0, 0, 0, 1, 0, 0, 0 }; /* EV_LED */
	uint8_t junk[3], wr[8];
	struct virtio_input_stats st;

	ops->start(in, vd);
	fake_req_out(req, led, sizeof(led));
	fake_queue_add(vd, STQ, req);
	memset(req, 0, sizeof(*req));
	fake_req_out(req, junk, sizeof(junk)); /* short: still harmless */
	fake_queue_add(vd, STQ, req);
	memset(req, 0, sizeof(*req));
	fake_req_in(req, wr, sizeof(wr)); /* wrong direction: harmless */
	fake_queue_add(vd, STQ, req);
	ops->queue_notify(in, STQ);
	assert_true(fake_wait_used(vd, STQ, 3, 5000));
	assert_int_equal(fake_used_written(vd, STQ, 0), 0);
	assert_int_equal(fake_used_written(vd, STQ, 2), 0);
	ops->reset(in);
	virtio_input_get_stats(in, &st);
	assert_int_equal(st.status_events, 3);
	free(req);
	virtio_input_destroy(in);
	fake_dev_free(vd);
}

static void test_bad_eventq(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	struct virtq_req *req = calloc(1, sizeof(*req));
	uint8_t small[4], ro[8];

	/* Too small a buffer. */
	add_evbuf(vd, small, sizeof(small));
	ops->start(in, vd);
	virtio_input_power_press(in);
	assert_true(fake_wait_broken(vd, 5000));
	assert_int_equal(fake_used(vd, EVQ), 0);
	virtio_input_destroy(in);
	fake_dev_free(vd);

	/* A device-readable buffer. */
	in = virtio_input_create(NULL);
	ops = virtio_input_dev_ops(in);
	vd = fake_dev_new(NULL, 2, 0);
	fake_req_out(req, ro, sizeof(ro));
	fake_queue_add(vd, EVQ, req);
	virtio_input_power_press(in);
	ops->start(in, vd);
	assert_true(fake_wait_broken(vd, 5000));
	virtio_input_destroy(in);
	fake_dev_free(vd);

	/* A ring error on either queue. */
	in = virtio_input_create(NULL);
	ops = virtio_input_dev_ops(in);
	vd = fake_dev_new(NULL, 2, 0);
	virtio_input_power_press(in);
	fake_queue_fail_next(vd, EVQ, -EINVAL);
	ops->start(in, vd);
	assert_true(fake_wait_broken(vd, 5000));
	virtio_input_destroy(in);
	fake_dev_free(vd);

	in = virtio_input_create(NULL);
	ops = virtio_input_dev_ops(in);
	vd = fake_dev_new(NULL, 2, 0);
	fake_queue_fail_next(vd, STQ, -EINVAL);
	ops->start(in, vd);
	assert_true(fake_wait_broken(vd, 5000));
	virtio_input_destroy(in);
	fake_dev_free(vd);

	/* A driver that set up no queues at all. */
	in = virtio_input_create(NULL);
	ops = virtio_input_dev_ops(in);
	vd = fake_dev_new(NULL, 0, 0);
	ops->start(in, vd);
	virtio_input_power_press(in);
	ops->queue_notify(in, EVQ);
	ops->queue_notify(in, STQ);
	ops->queue_notify(in, 7); /* no such queue */
	virtio_input_destroy(in);
	fake_dev_free(vd);
	free(req);
}

static void test_concurrent_presses(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops = virtio_input_dev_ops(in);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	static uint8_t bufs[48][8];
	struct virtio_input_stats st;
	unsigned i, n;

	for (i = 0; i < 48; i++)
		add_evbuf(vd, bufs[i], 8);
	ops->start(in, vd);
	for (i = 0; i < 12; i++)
		virtio_input_power_press(in);
	/* Presses faster than the worker may drop some (the queue holds
	 * eight); whatever the interleaving, the guest gets whole presses
	 * in order. */
	for (i = 0; i < 500; i++) {
		virtio_input_get_stats(in, &st);
		if (!st.pending)
			break;
		usleep(10000);
	}
	assert_int_equal(st.pending, 0);
	n = 12 - (unsigned)st.presses_dropped;
	assert_true(n >= 8);
	assert_true(fake_wait_used(vd, EVQ, 4 * n, 5000));
	ops->reset(in);
	assert_int_equal(fake_used(vd, EVQ), 4 * n);
	for (i = 0; i < n; i++)
		check_press(&bufs[4 * i]);
	virtio_input_destroy(in);
	fake_dev_free(vd);
}

static void test_save_load(void **state)
{
	struct virtio_input *in = virtio_input_create(NULL);
	struct virtio_input *in2 = virtio_input_create(NULL);
	const struct virtio_dev_ops *ops2 = virtio_input_dev_ops(in2);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	struct virtio_input_state s;
	struct virtio_input_stats st;
	uint8_t bufs[4][8];
	unsigned i;

	virtio_input_power_press(in);
	virtio_input_save(in, &s);
	assert_int_equal(s.version, VIRTIO_INPUT_STATE_VERSION);
	assert_int_equal(s.n_pending, 4);
	assert_int_equal(virtio_input_load(in2, &s), 0);
	virtio_input_get_stats(in2, &st);
	assert_int_equal(st.pending, 4);
	for (i = 0; i < 4; i++)
		add_evbuf(vd, bufs[i], 8);
	ops2->start(in2, vd);
	assert_true(fake_wait_used(vd, EVQ, 4, 5000));
	check_press(bufs);

	s.version = 99;
	assert_int_equal(virtio_input_load(in, &s), -EINVAL);
	s.version = VIRTIO_INPUT_STATE_VERSION;
	s.n_pending = VIRTIO_INPUT_PENDING + 1;
	assert_int_equal(virtio_input_load(in, &s), -EINVAL);
	virtio_input_destroy(in);
	virtio_input_destroy(in2);
	fake_dev_free(vd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_config_ids),
		cmocka_unit_test(test_config_ev_bits),
		cmocka_unit_test(test_config_hostile),
		cmocka_unit_test(test_press_delivered),
		cmocka_unit_test(test_quiesce),
		cmocka_unit_test(test_pending_until_buffers),
		cmocka_unit_test(test_pending_bound),
		cmocka_unit_test(test_statusq),
		cmocka_unit_test(test_bad_eventq),
		cmocka_unit_test(test_concurrent_presses),
		cmocka_unit_test(test_save_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
