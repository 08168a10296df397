/* Unit tests for virtio-balloon: inflate releases guest frames (they read
 * zero, frames_private falls, the TLB hook runs), PFN validation, deflate,
 * statistics, free page reporting, configuration and queue numbering,
 * malformed requests. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_transport.h"
#include "mem/gmem.h"
#include "virtio/balloon.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (4ULL << 20)
#define PG	 GUEST_PAGE_SIZE
#define FEAT_ALL                               \
	((1ULL << VIRTIO_BALLOON_F_STATS_VQ) | \
	 (1ULL << VIRTIO_BALLOON_F_REPORTING))

struct hooks {
	pthread_mutex_t lock;
	unsigned released_calls;
	unsigned actual_calls;
	uint64_t last_actual;
};

static void hook_released(void *opaque)
{
	struct hooks *h = opaque;

	pthread_mutex_lock(&h->lock);
	h->released_calls++;
	pthread_mutex_unlock(&h->lock);
}

static void hook_actual(void *opaque, uint64_t bytes)
{
	struct hooks *h = opaque;

	h->actual_calls++;
	h->last_actual = bytes;
}

struct fixture {
	struct gmem *gm;
	struct hooks h;
	struct virtio_balloon *b;
	const struct virtio_dev_ops *ops;
	struct virtq_req *req;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct virtio_balloon_opts o = { 0 };

	f->gm = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(f->gm);
	pthread_mutex_init(&f->h.lock, NULL);
	o.pages_released = hook_released;
	o.actual_changed = hook_actual;
	o.opaque = &f->h;
	f->b = virtio_balloon_create(f->gm, &o, NULL);
	assert_non_null(f->b);
	f->ops = virtio_balloon_dev_ops(f->b);
	f->req = calloc(1, sizeof(*f->req));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_balloon_destroy(f->b);
	gmem_destroy(f->gm);
	free(f->req);
	free(f);
	return 0;
}

static uint64_t n_private(struct gmem *gm)
{
	struct gmem_stats st;

	gmem_get_stats(gm, &st);
	return st.frames_private;
}

static void fill_pages(struct gmem *gm, uint64_t first, unsigned n)
{
	uint8_t buf[PG];
	unsigned i;

	memset(buf, 0xa5, sizeof(buf));
	for (i = 0; i < n; i++)
		assert_int_equal(gmem_write(gm, first + i * PG, buf, PG), 0);
}

static bool page_is_zero(struct gmem *gm, uint64_t gpa)
{
	uint8_t buf[PG];
	size_t i;

	assert_int_equal(gmem_read(gm, gpa, buf, PG), 0);
	for (i = 0; i < PG; i++)
		if (buf[i])
			return false;
	return true;
}

static uint32_t pfn(uint64_t gpa)
{
	return (uint32_t)(gpa >> VIRTIO_BALLOON_PFN_SHIFT);
}

static void test_inflate_releases(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = fake_dev_new(f->gm, 4, FEAT_ALL);
	uint64_t first = RAM_BASE + 64 * PG, before;
	uint32_t pfns[10];
	struct virtio_balloon_info info;
	unsigned i;

	fill_pages(f->gm, first - PG, 12); /* with both neighbours */
	before = n_private(f->gm);
	assert_true(before >= 10);
	for (i = 0; i < 10; i++)
		pfns[i] = pfn(first + i * PG);
	fake_req_out(f->req, pfns, 4 * 4);     /* split across two */
	fake_req_out(f->req, pfns + 4, 6 * 4); /* out-buffers */
	fake_queue_add(vd, 0, f->req);
	f->ops->start(f->b, vd);
	assert_true(fake_wait_used(vd, 0, 1, 5000));
	f->ops->reset(f->b);

	assert_int_equal(n_private(f->gm), before - 10);
	for (i = 0; i < 10; i++)
		assert_true(page_is_zero(f->gm, first + i * PG));
	assert_false(page_is_zero(f->gm, first - PG));
	assert_false(page_is_zero(f->gm, first + 10 * PG));
	assert_int_equal(f->h.released_calls, 1);
	virtio_balloon_get_info(f->b, &info);
	assert_int_equal(info.inflated_pages, 10);
	assert_int_equal(info.invalid_pfns, 0);
	fake_dev_free(vd);
}

static void test_invalid_pfns(void **state)
{
	struct fixture *f = *state;
	uint64_t in_ram = RAM_BASE + 3 * PG;
	uint32_t pfns[5] = {
		0,			  /* below RAM */
		pfn(RAM_BASE + RAM_SIZE), /* just past the end */
		0xffffffffu,		  /* far away */
		pfn(in_ram),		  /* the only valid one */
		pfn(RAM_BASE - PG),	  /* just below */
	};
	struct virtio_balloon_info info;

	fill_pages(f->gm, in_ram, 1);
	fake_req_out(f->req, pfns, sizeof(pfns));
	assert_int_equal(virtio_balloon_handle_pfns(f->b, f->req, true), 1);
	assert_true(page_is_zero(f->gm, in_ram));
	virtio_balloon_get_info(f->b, &info);
	assert_int_equal(info.invalid_pfns, 4);
	assert_int_equal(info.inflated_pages, 1);

	/* Deflate: accepted, nothing to do; invalid ones ignored. */
	assert_int_equal(virtio_balloon_handle_pfns(f->b, f->req, false), 1);
	virtio_balloon_get_info(f->b, &info);
	assert_int_equal(info.deflated_pages, 1);
	assert_int_equal(info.invalid_pfns, 8);

	/* The page is usable again after deflate: a write allocates it. */
	fill_pages(f->gm, in_ram, 1);
	assert_false(page_is_zero(f->gm, in_ram));
}

static void test_pfns_malformed(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = fake_dev_new(f->gm, 4, FEAT_ALL);
	uint32_t pfns[2] = { pfn(RAM_BASE), pfn(RAM_BASE + PG) };
	uint8_t wr[8];

	fake_req_out(f->req, pfns, 7); /* not a multiple of 4 */
	assert_int_equal(virtio_balloon_handle_pfns(f->b, f->req, true),
			 -EINVAL);
	memset(f->req, 0, sizeof(*f->req));
	fake_req_out(f->req, pfns, 8);
	fake_req_in(f->req, wr, sizeof(wr)); /* wrong direction */
	assert_int_equal(virtio_balloon_handle_pfns(f->b, f->req, false),
			 -EINVAL);
	/* Through the worker: DEVICE_NEEDS_RESET, nothing completed. */
	fake_queue_add(vd, 1, f->req);
	f->ops->start(f->b, vd);
	assert_true(fake_wait_broken(vd, 5000));
	f->ops->reset(f->b);
	assert_int_equal(fake_used(vd, 1), 0);
	fake_dev_free(vd);
}

static void put_stat(uint8_t *e, uint16_t tag, uint64_t val)
{
	memcpy(e, &tag, 2); /* little-endian host */
	memcpy(e + 2, &val, 8);
}

static void test_stats(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = fake_dev_new(f->gm, 4, FEAT_ALL);
	struct virtio_balloon_guest_stats st;
	uint8_t ent[4 * 10];

	virtio_balloon_get_stats(f->b, &st);
	assert_int_equal(st.valid, 0);
	assert_int_equal(st.updated_ns, 0);

	put_stat(ent, VIRTIO_BALLOON_S_MEMFREE, 1000);
	put_stat(ent + 10, VIRTIO_BALLOON_S_MEMTOT, 4000);
	put_stat(ent + 20, 999, 7); /* unknown tag: ignored */
	put_stat(ent + 30, VIRTIO_BALLOON_S_DIRECT_RECLAIM, 3);
	fake_req_out(f->req, ent, sizeof(ent));
	fake_queue_add(vd, 2, f->req);
	f->ops->start(f->b, vd);

	/* The driver's first buffer is held: nothing completed yet. */
	for (int i = 0; i < 1000; i++) {
		virtio_balloon_get_stats(f->b, &st);
		if (st.valid)
			break;
		usleep(10000);
	}
	assert_int_equal(st.valid,
			 (1u << VIRTIO_BALLOON_S_MEMFREE) |
				 (1u << VIRTIO_BALLOON_S_MEMTOT) |
				 (1u << VIRTIO_BALLOON_S_DIRECT_RECLAIM));
	assert_int_equal(st.val[VIRTIO_BALLOON_S_MEMFREE], 1000);
	assert_int_equal(st.val[VIRTIO_BALLOON_S_MEMTOT], 4000);
	assert_true(st.updated_ns > 0);
	assert_int_equal(fake_used(vd, 2), 0);

	/* Asking for fresh stats gives the buffer back to the driver. */
	virtio_balloon_request_stats(f->b);
	assert_true(fake_wait_used(vd, 2, 1, 5000));
	assert_int_equal(fake_used_head(vd, 2, 0), 0);
	/* No buffer held now: another request is a no-op. */
	virtio_balloon_request_stats(f->b);
	usleep(20000);
	assert_int_equal(fake_used(vd, 2), 1);

	/* The driver answers with a new buffer. */
	memset(f->req, 0, sizeof(*f->req));
	put_stat(ent, VIRTIO_BALLOON_S_MEMFREE, 2000);
	fake_req_out(f->req, ent, 10);
	fake_queue_add(vd, 2, f->req);
	f->ops->queue_notify(f->b, 2);
	for (int i = 0; i < 1000; i++) {
		virtio_balloon_get_stats(f->b, &st);
		if (st.val[VIRTIO_BALLOON_S_MEMFREE] == 2000)
			break;
		usleep(10000);
	}
	assert_int_equal(st.val[VIRTIO_BALLOON_S_MEMFREE], 2000);
	assert_int_equal(st.valid, 1u << VIRTIO_BALLOON_S_MEMFREE);
	f->ops->reset(f->b);

	/* Malformed: entry size. */
	memset(f->req, 0, sizeof(*f->req));
	fake_req_out(f->req, ent, 9);
	assert_int_equal(virtio_balloon_handle_stats(f->b, f->req), -EINVAL);
	assert_string_equal(virtio_balloon_stat_name(VIRTIO_BALLOON_S_MEMFREE),
			    "stat-free-memory");
	assert_null(virtio_balloon_stat_name(VIRTIO_BALLOON_S_NR));
	fake_dev_free(vd);
}

static void test_stats_periodic(void **state)
{
	struct gmem *gm = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	struct virtio_balloon_opts o = { .stats_interval_ms = 20 };
	struct virtio_balloon *b = virtio_balloon_create(gm, &o, NULL);
	const struct virtio_dev_ops *ops = virtio_balloon_dev_ops(b);
	struct virtio_dev *vd = fake_dev_new(gm, 4, FEAT_ALL);
	struct virtq_req *req = calloc(1, sizeof(*req));
	uint8_t ent[10];

	put_stat(ent, VIRTIO_BALLOON_S_SWAP_IN, 1);
	fake_req_out(req, ent, sizeof(ent));
	fake_queue_add(vd, 2, req);
	ops->start(b, vd);
	assert_true(fake_wait_used(vd, 2, 1, 5000));
	virtio_balloon_destroy(b);
	fake_dev_free(vd);
	gmem_destroy(gm);
	free(req);
}

static void test_reporting(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = fake_dev_new(f->gm, 4, FEAT_ALL);
	uint64_t r1 = RAM_BASE + 128 * PG, r2 = RAM_BASE + 200 * PG, before;
	struct virtio_balloon_info info;
	unsigned i;

	fill_pages(f->gm, r1, 8);
	fill_pages(f->gm, r2, 4);
	before = n_private(f->gm);
	fake_req_gpa(f->req, f->gm, r1, 8 * PG, true);
	fake_req_gpa(f->req, f->gm, r2, 4 * PG, true);
	fake_queue_add(vd, 3, f->req); /* reporting_vq = 3 with STATS_VQ */
	f->ops->start(f->b, vd);
	assert_true(fake_wait_used(vd, 3, 1, 5000));
	f->ops->reset(f->b);
	assert_int_equal(n_private(f->gm), before - 12);
	for (i = 0; i < 8; i++)
		assert_true(page_is_zero(f->gm, r1 + i * PG));
	for (i = 0; i < 4; i++)
		assert_true(page_is_zero(f->gm, r2 + i * PG));
	assert_int_equal(f->h.released_calls, 1);
	virtio_balloon_get_info(f->b, &info);
	assert_int_equal(info.reported_pages, 12);

	/* addr[] that does not match iov[] releases nothing. */
	fill_pages(f->gm, r1, 1);
	memset(f->req, 0, sizeof(*f->req));
	fake_req_gpa(f->req, f->gm, r1, PG, true);
	f->req->addr[0] = r2;
	assert_int_equal(virtio_balloon_handle_report(f->b, f->req), 0);
	assert_false(page_is_zero(f->gm, r1));
	/* Readable buffers are malformed here. */
	memset(f->req, 0, sizeof(*f->req));
	fake_req_gpa(f->req, f->gm, r1, PG, false);
	assert_int_equal(virtio_balloon_handle_report(f->b, f->req), -EINVAL);
	fake_dev_free(vd);
}

static void test_queue_numbering(void **state)
{
	struct fixture *f = *state;
	/* Without STATS_VQ the reporting_vq is queue 2 (absent queues are
	 * skipped). */
	struct virtio_dev *vd = fake_dev_new(
		f->gm, 4, 1ULL << VIRTIO_BALLOON_F_REPORTING);
	uint64_t r = RAM_BASE + 300 * PG;

	fill_pages(f->gm, r, 2);
	fake_req_gpa(f->req, f->gm, r, 2 * PG, true);
	fake_queue_add(vd, 2, f->req);
	f->ops->start(f->b, vd);
	assert_true(fake_wait_used(vd, 2, 1, 5000));
	f->ops->reset(f->b);
	assert_true(page_is_zero(f->gm, r));
	fake_dev_free(vd);
}

static void test_config(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = fake_dev_new(f->gm, 4, FEAT_ALL);
	uint32_t cfg[4], v;
	uint64_t ram_pages = RAM_SIZE / PG;
	struct virtio_balloon_info info;

	assert_int_equal(f->ops->device_id, VIRTIO_ID_BALLOON);
	assert_true(f->ops->features & (1ULL << VIRTIO_BALLOON_F_STATS_VQ));
	assert_true(f->ops->features & (1ULL << VIRTIO_BALLOON_F_REPORTING));
	assert_false(f->ops->features &
		     (1ULL << VIRTIO_BALLOON_F_FREE_PAGE_HINT));
	assert_true(f->ops->queue_max >= 32);
	f->ops->config_read(f->b, 0, cfg, sizeof(cfg));
	assert_int_equal(cfg[0], 0);
	assert_int_equal(cfg[1], 0);
	assert_int_equal(virtio_balloon_actual(f->b), RAM_SIZE);

	/* Before start: stored, no interrupt. */
	virtio_balloon_set_target(f->b, RAM_SIZE / 2);
	f->ops->config_read(f->b, 0, &v, 4);
	assert_int_equal(v, ram_pages / 2);
	f->ops->start(f->b, vd);
	virtio_balloon_set_target(f->b, RAM_SIZE / 4 + 1); /* rounds up */
	assert_int_equal(fake_config_changes(vd), 1);
	f->ops->config_read(f->b, 0, &v, 4);
	assert_int_equal(v, ram_pages * 3 / 4 - 1);
	virtio_balloon_set_target(f->b, RAM_SIZE * 2); /* more than RAM */
	f->ops->config_read(f->b, 0, &v, 4);
	assert_int_equal(v, 0);

	/* The guest writes actual (any width); num_pages is read-only. */
	v = 100;
	f->ops->config_write(f->b, 4, &v, 4);
	assert_int_equal(f->h.actual_calls, 1);
	assert_int_equal(f->h.last_actual, RAM_SIZE - 100 * PG);
	v = 12345;
	f->ops->config_write(f->b, 0, &v, 4);
	f->ops->config_read(f->b, 0, cfg, 8);
	assert_int_equal(cfg[0], 0);
	assert_int_equal(cfg[1], 100);
	assert_int_equal(virtio_balloon_actual(f->b), RAM_SIZE - 100 * PG);
	/* A hostile actual larger than RAM is clamped. */
	v = 0xffffffffu;
	f->ops->config_write(f->b, 4, &v, 4);
	assert_int_equal(virtio_balloon_actual(f->b), 0);
	virtio_balloon_get_info(f->b, &info);
	assert_int_equal(info.actual_pages, ram_pages);
	/* Reset: the balloon is empty again. */
	f->ops->reset(f->b);
	assert_int_equal(virtio_balloon_actual(f->b), RAM_SIZE);
	fake_dev_free(vd);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = fake_dev_new(f->gm, 4, FEAT_ALL);
	struct virtio_balloon_state st, bad;
	struct virtio_balloon_guest_stats gs;
	struct virtio_balloon *b2;
	const struct virtio_dev_ops *ops2;
	uint8_t ent[10];
	uint32_t v = 42;

	virtio_balloon_set_target(f->b, RAM_SIZE / 2);
	f->ops->config_write(f->b, 4, &v, 4);
	put_stat(ent, VIRTIO_BALLOON_S_MEMFREE, 55);
	fake_req_out(f->req, ent, sizeof(ent));
	fake_queue_add(vd, 2, f->req);
	fake_queue_add(vd, 2, f->req); /* head 1 replaces head 0 */
	f->ops->start(f->b, vd);
	assert_true(fake_wait_used(vd, 2, 1, 5000)); /* head 0 given back */
	f->ops->reset(f->b);
	/* reset dropped the held buffer with its queue: take the state
	 * before it in a real VM; here rebuild it by hand. */
	virtio_balloon_save(f->b, &st);
	assert_int_equal(st.version, VIRTIO_BALLOON_STATE_VERSION);
	assert_int_equal(st.num_pages, RAM_SIZE / PG / 2);
	assert_int_equal(st.stats_valid, 1u << VIRTIO_BALLOON_S_MEMFREE);
	assert_int_equal(st.stats_val[VIRTIO_BALLOON_S_MEMFREE], 55);
	st.stats_held = 1;
	st.stats_head = 1;
	st.actual = 42;

	b2 = virtio_balloon_create(f->gm, NULL, NULL);
	ops2 = virtio_balloon_dev_ops(b2);
	bad = st;
	bad.version = 99;
	assert_int_equal(virtio_balloon_load(b2, &bad), -EINVAL);
	assert_int_equal(virtio_balloon_load(b2, &st), 0);
	assert_int_equal(virtio_balloon_actual(b2), RAM_SIZE - 42 * PG);
	virtio_balloon_get_stats(b2, &gs);
	assert_int_equal(gs.val[VIRTIO_BALLOON_S_MEMFREE], 55);
	fake_dev_free(vd);
	vd = fake_dev_new(f->gm, 4, FEAT_ALL);
	ops2->start(b2, vd);
	virtio_balloon_request_stats(b2); /* gives head 1 back */
	assert_true(fake_wait_used(vd, 2, 1, 5000));
	assert_int_equal(fake_used_head(vd, 2, 0), 1);
	virtio_balloon_destroy(b2);
	fake_dev_free(vd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inflate_releases, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_invalid_pfns, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pfns_malformed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test(test_stats_periodic),
		cmocka_unit_test_setup_teardown(test_reporting, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_queue_numbering, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
