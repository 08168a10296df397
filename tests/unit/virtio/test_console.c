/* Unit tests for virtio-console: transmit to the host sink, host input to
 * the receiveq (with back-pressure and input_ready), configuration space,
 * emergency writes, malformed requests. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_transport.h"
#include "virtio/console.h"

struct sink {
	pthread_mutex_t lock;
	char out[8192];
	size_t len;
	unsigned ready;
};

static void sink_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (len > sizeof(s->out) - s->len)
		len = sizeof(s->out) - s->len;
	memcpy(s->out + s->len, buf, len);
	s->len += len;
	pthread_mutex_unlock(&s->lock);
}

static void sink_ready(void *opaque)
{
	struct sink *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->ready++;
	pthread_mutex_unlock(&s->lock);
}

static struct sink *sink_new(void)
{
	struct sink *s = calloc(1, sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static struct virtio_console *new_console(struct sink *s, uint16_t cols,
					  uint16_t rows)
{
	struct virtio_console_host h = { sink_output, sink_ready, s };
	struct virtio_console_opts o = { cols, rows };
	struct virtio_console *c = virtio_console_create(&h, &o, NULL);

	assert_non_null(c);
	return c;
}

static void test_tx(void **state)
{
	struct sink *s = sink_new();
	struct virtio_console *c = new_console(s, 0, 0);
	const struct virtio_dev_ops *ops = virtio_console_dev_ops(c);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	struct virtq_req *req = calloc(1, sizeof(*req));
	struct virtio_console_stats st;

	assert_int_equal(ops->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(ops->n_queues, 2);
	ops->start(c, vd);
	fake_req_out(req, "hello", 5);
	fake_req_out(req, ", ", 2);
	fake_queue_add(vd, 1, req);
	memset(req, 0, sizeof(*req));
	fake_req_out(req, "world\n", 6);
	fake_queue_add(vd, 1, req);
	ops->queue_notify(c, 1);
	assert_true(fake_wait_used(vd, 1, 2, 5000));
	ops->reset(c);
	assert_int_equal(s->len, 13);
	assert_memory_equal(s->out, "hello, world\n", 13);
	assert_int_equal(fake_used_written(vd, 1, 0), 0);
	assert_true(fake_notifies(vd, 1) >= 1);
	virtio_console_get_stats(c, &st);
	assert_int_equal(st.tx_bytes, 13);
	assert_int_equal(st.tx_requests, 2);
	virtio_console_destroy(c);
	fake_dev_free(vd);
	free(req);
	free(s);
}

static void test_rx(void **state)
{
	struct sink *s = sink_new();
	struct virtio_console *c = new_console(s, 0, 0);
	const struct virtio_dev_ops *ops = virtio_console_dev_ops(c);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	struct virtq_req *req = calloc(1, sizeof(*req));
	char a[3] = { 0 }, b[16] = { 0 };

	/* Input before the driver has buffers is kept. */
	assert_int_equal(virtio_console_input(c, (const uint8_t *)"ls -l", 5),
			 5);
	ops->start(c, vd);
	fake_req_in(req, a, sizeof(a));
	fake_queue_add(vd, 0, req);
	ops->queue_notify(c, 0);
	assert_true(fake_wait_used(vd, 0, 1, 5000));
	assert_int_equal(fake_used_written(vd, 0, 0), 3);
	assert_memory_equal(a, "ls ", 3);

	memset(req, 0, sizeof(*req));
	fake_req_in(req, b, sizeof(b));
	fake_queue_add(vd, 0, req);
	ops->queue_notify(c, 0);
	assert_true(fake_wait_used(vd, 0, 2, 5000));
	assert_int_equal(fake_used_written(vd, 0, 1), 2);
	assert_memory_equal(b, "-l", 2);
	virtio_console_destroy(c);
	fake_dev_free(vd);
	free(req);
	free(s);
}

static void test_rx_backpressure(void **state)
{
	struct sink *s = sink_new();
	struct virtio_console *c = new_console(s, 0, 0);
	const struct virtio_dev_ops *ops = virtio_console_dev_ops(c);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	struct virtq_req *req = calloc(1, sizeof(*req));
	size_t big = VIRTIO_CONSOLE_IN_BUF + 100, i;
	uint8_t *in = malloc(big), *got = calloc(1, big);

	for (i = 0; i < big; i++)
		in[i] = (uint8_t)i;
	/* The buffer takes VIRTIO_CONSOLE_IN_BUF bytes, then refuses. */
	assert_int_equal(virtio_console_input(c, in, big),
			 VIRTIO_CONSOLE_IN_BUF);
	assert_int_equal(virtio_console_input(c, in, 1), 0);
	ops->start(c, vd);
	fake_req_in(req, got, 1000);
	fake_req_in(req, got + 1000, big - 1000);
	fake_queue_add(vd, 0, req);
	ops->queue_notify(c, 0);
	assert_true(fake_wait_used(vd, 0, 1, 5000));
	ops->reset(c);
	assert_int_equal(fake_used_written(vd, 0, 0), VIRTIO_CONSOLE_IN_BUF);
	assert_memory_equal(got, in, VIRTIO_CONSOLE_IN_BUF);
	/* Room again: the host was told once. */
	assert_int_equal(s->ready, 1);
	assert_int_equal(
		virtio_console_input(c, in + VIRTIO_CONSOLE_IN_BUF, 100), 100);
	virtio_console_destroy(c);
	fake_dev_free(vd);
	free(req);
	free(in);
	free(got);
	free(s);
}

static void test_config(void **state)
{
	struct sink *s = sink_new();
	struct virtio_console *c = new_console(s, 132, 43);
	const struct virtio_dev_ops *ops = virtio_console_dev_ops(c);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	uint16_t v16;
	uint32_t v32;
	uint8_t ch = 'X';

	assert_true(ops->features & (1ULL << VIRTIO_CONSOLE_F_SIZE));
	assert_true(ops->features & (1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE));
	assert_false(ops->features & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT));
	assert_int_equal(ops->config_size, 12);
	ops->config_read(c, 0, &v16, 2);
	assert_int_equal(v16, 132);
	ops->config_read(c, 2, &v16, 2);
	assert_int_equal(v16, 43);
	ops->config_read(c, 0, &v32, 4);
	assert_int_equal(v32, 132 | (43u << 16));
	ops->config_read(c, 11, &v32, 4); /* past the end: zero padded */
	assert_int_equal(v32, 0);

	ops->start(c, vd);
	virtio_console_set_size(c, 80, 25);
	assert_int_equal(fake_config_changes(vd), 1);
	ops->config_read(c, 0, &v16, 2);
	assert_int_equal(v16, 80);

	/* 5.3.6.3 emergency write. */
	v32 = 'E';
	ops->config_write(c, 8, &v32, 4);
	ops->config_write(c, 0, &ch, 1); /* cols: read-only, ignored */
	assert_int_equal(s->len, 1);
	assert_int_equal(s->out[0], 'E');
	virtio_console_destroy(c);
	fake_dev_free(vd);
	free(s);

	/* No size configured: no F_SIZE, set_size is ignored. */
	s = sink_new();
	c = new_console(s, 0, 0);
	ops = virtio_console_dev_ops(c);
	assert_false(ops->features & (1ULL << VIRTIO_CONSOLE_F_SIZE));
	virtio_console_set_size(c, 80, 25);
	ops->config_read(c, 0, &v32, 4);
	assert_int_equal(v32, 0);
	virtio_console_destroy(c);
	free(s);
}

static void test_malformed(void **state)
{
	struct sink *s = sink_new();
	struct virtio_console *c = new_console(s, 0, 0);
	const struct virtio_dev_ops *ops = virtio_console_dev_ops(c);
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	struct virtq_req *req = calloc(1, sizeof(*req));
	char buf[8];

	/* Direct handler checks. */
	fake_req_in(req, buf, sizeof(buf));
	assert_int_equal(virtio_console_handle_tx(c, req), -EINVAL);
	memset(req, 0, sizeof(*req));
	fake_req_out(req, buf, sizeof(buf));
	assert_int_equal(virtio_console_handle_rx(c, req), -EINVAL);

	/* A writable buffer in the transmitq stops the device. */
	ops->start(c, vd);
	memset(req, 0, sizeof(*req));
	fake_req_out(req, "ab", 2);
	fake_req_in(req, buf, sizeof(buf));
	fake_queue_add(vd, 1, req);
	ops->queue_notify(c, 1);
	assert_true(fake_wait_broken(vd, 5000));
	assert_int_equal(fake_used(vd, 1), 0);
	virtio_console_destroy(c);
	fake_dev_free(vd);

	/* A readable buffer in the receiveq too. */
	c = new_console(s, 0, 0);
	ops = virtio_console_dev_ops(c);
	vd = fake_dev_new(NULL, 2, 0);
	ops->start(c, vd);
	virtio_console_input(c, (const uint8_t *)"x", 1);
	memset(req, 0, sizeof(*req));
	fake_req_out(req, buf, sizeof(buf));
	fake_queue_add(vd, 0, req);
	ops->queue_notify(c, 0);
	assert_true(fake_wait_broken(vd, 5000));
	virtio_console_destroy(c);
	fake_dev_free(vd);
	free(req);
	free(s);
}

static void test_save_load(void **state)
{
	struct sink *s = sink_new();
	struct virtio_console *c = new_console(s, 100, 30), *c2;
	struct virtio_console_state *st = calloc(1, sizeof(*st));
	struct virtio_dev *vd = fake_dev_new(NULL, 2, 0);
	struct virtq_req *req = calloc(1, sizeof(*req));
	char got[8] = { 0 };
	uint32_t v32;

	assert_int_equal(virtio_console_input(c, (const uint8_t *)"abc", 3), 3);
	virtio_console_save(c, st);
	assert_int_equal(st->in_count, 3);
	c2 = new_console(s, 1, 1);
	assert_int_equal(virtio_console_load(c2, st), 0);
	virtio_console_dev_ops(c2)->config_read(c2, 0, &v32, 4);
	assert_int_equal(v32, 100 | (30u << 16));
	virtio_console_dev_ops(c2)->start(c2, vd);
	fake_req_in(req, got, sizeof(got));
	fake_queue_add(vd, 0, req);
	virtio_console_dev_ops(c2)->queue_notify(c2, 0);
	assert_true(fake_wait_used(vd, 0, 1, 5000));
	assert_string_equal(got, "abc");
	st->in_count = VIRTIO_CONSOLE_IN_BUF + 1;
	assert_int_equal(virtio_console_load(c2, st), -EINVAL);
	virtio_console_destroy(c2);
	virtio_console_destroy(c);
	fake_dev_free(vd);
	free(req);
	free(st);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx),
		cmocka_unit_test(test_rx),
		cmocka_unit_test(test_rx_backpressure),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_save_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
