/* Unit tests for virtio-rng: request handling, the worker thread against a
 * fake transport, malformed requests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_transport.h"
#include "virtio/rng.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

static void test_handle_fills(void **state)
{
	struct virtio_rng *r = virtio_rng_create(NULL);
	struct virtq_req *req = calloc(1, sizeof(*req));
	uint8_t a[100] = { 0 }, b[300] = { 0 };

	fake_req_in(req, a, sizeof(a));
	fake_req_in(req, b, sizeof(b));
	assert_int_equal(virtio_rng_handle(r, req), 400);
	assert_false(all_zero(a, sizeof(a)));
	assert_false(all_zero(b, sizeof(b)));
	free(req);
	virtio_rng_destroy(r);
}

static void test_handle_caps_request(void **state)
{
	struct virtio_rng *r = virtio_rng_create(NULL);
	struct virtq_req *req = calloc(1, sizeof(*req));
	size_t big = VIRTIO_RNG_MAX_REQ + 4096;
	uint8_t *buf = calloc(1, big);
	struct virtio_rng_stats st;

	fake_req_in(req, buf, big);
	assert_int_equal(virtio_rng_handle(r, req), VIRTIO_RNG_MAX_REQ);
	assert_true(all_zero(buf + VIRTIO_RNG_MAX_REQ, 4096));
	virtio_rng_get_stats(r, &st);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.bytes, VIRTIO_RNG_MAX_REQ);
	free(buf);
	free(req);
	virtio_rng_destroy(r);
}

static void test_handle_rejects_readonly(void **state)
{
	struct virtio_rng *r = virtio_rng_create(NULL);
	struct virtq_req *req = calloc(1, sizeof(*req));
	uint8_t a[16];

	fake_req_out(req, a, sizeof(a));
	assert_int_equal(virtio_rng_handle(r, req), -EINVAL);
	free(req);
	virtio_rng_destroy(r);
}

static void test_ops(void **state)
{
	struct virtio_rng *r = virtio_rng_create(NULL);
	const struct virtio_dev_ops *ops = virtio_rng_dev_ops(r);
	uint8_t cfg[4] = { 1, 2, 3, 4 };

	assert_int_equal(ops->device_id, VIRTIO_ID_RNG);
	assert_int_equal(ops->n_queues, 1);
	assert_true(ops->queue_max >= 1);
	ops->config_read(r, 0, cfg, sizeof(cfg));
	assert_true(all_zero(cfg, sizeof(cfg)));
	virtio_rng_destroy(r);
}

static void test_worker(void **state)
{
	struct virtio_rng *r = virtio_rng_create(NULL);
	const struct virtio_dev_ops *ops = virtio_rng_dev_ops(r);
	struct virtio_dev *vd = fake_dev_new(NULL, 1, 0);
	struct virtq_req *req = calloc(1, sizeof(*req));
	uint8_t a[64] = { 0 }, b[32] = { 0 };

	fake_req_in(req, a, sizeof(a));
	fake_queue_add(vd, 0, req); /* queued before DRIVER_OK */
	ops->start(r, vd);
	assert_true(fake_wait_used(vd, 0, 1, 5000));
	assert_int_equal(fake_used_written(vd, 0, 0), 64);
	assert_false(all_zero(a, sizeof(a)));

	memset(req, 0, sizeof(*req));
	fake_req_in(req, b, sizeof(b));
	fake_queue_add(vd, 0, req);
	ops->queue_notify(r, 0);
	assert_true(fake_wait_used(vd, 0, 2, 5000));
	assert_int_equal(fake_used_written(vd, 0, 1), 32);
	assert_int_equal(fake_used_head(vd, 0, 1), 1);

	ops->reset(r); /* joins the worker: its notify happened */
	assert_true(fake_notifies(vd, 0) >= 1);
	ops->reset(r); /* idempotent */
	ops->start(r, vd);
	virtio_rng_destroy(r); /* stops the restarted worker */
	free(req);
	fake_dev_free(vd);
}

static void test_worker_malformed(void **state)
{
	struct virtio_rng *r = virtio_rng_create(NULL);
	const struct virtio_dev_ops *ops = virtio_rng_dev_ops(r);
	struct virtio_dev *vd = fake_dev_new(NULL, 1, 0);
	struct virtq_req *req = calloc(1, sizeof(*req));
	uint8_t a[8];

	ops->start(r, vd);
	fake_req_out(req, a, sizeof(a));
	fake_queue_add(vd, 0, req);
	ops->queue_notify(r, 0);
	assert_true(fake_wait_broken(vd, 5000));
	assert_int_equal(fake_used(vd, 0), 0);
	virtio_rng_destroy(r);
	fake_dev_free(vd);

	/* A ring error reported by virtq_pop. */
	r = virtio_rng_create(NULL);
	ops = virtio_rng_dev_ops(r);
	vd = fake_dev_new(NULL, 1, 0);
	fake_queue_fail_next(vd, 0, -EINVAL);
	ops->start(r, vd);
	assert_true(fake_wait_broken(vd, 5000));
	virtio_rng_destroy(r);
	fake_dev_free(vd);
	free(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handle_fills),
		cmocka_unit_test(test_handle_caps_request),
		cmocka_unit_test(test_handle_rejects_readonly),
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_worker),
		cmocka_unit_test(test_worker_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
