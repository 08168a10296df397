/* Unit tests of the shared virtio worker (src/virtio/worker.c): what a
 * hostile driver can do to it (reset while a request is processed, kicks
 * during a reset, restart) and the period. Asserts on orders and counts,
 * never on how long anything took. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fake_transport.h"
#include "virtio/worker.h"

#define BIT_A	  1u
#define BIT_B	  2u
#define BIT_BLOCK 4u /* process() waits for release() */
#define BIT_SELF  8u /* process() kicks BIT_B itself */

struct dev {
	struct virtio_worker w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t seen;	  /* every event bit process() got */
	unsigned calls;	  /* process() calls */
	bool in_block;	  /* process() waits in BIT_BLOCK */
	bool release;	  /* let it go */
	unsigned order;	  /* sequence counter */
	unsigned left_at; /* order when BIT_BLOCK processing returned */
	unsigned stop_at; /* order when stop() returned */
};

static void process(void *opaque, struct virtio_dev *vd, uint32_t ev)
{
	struct dev *d = opaque;

	(void)vd;
	pthread_mutex_lock(&d->lock);
	d->calls++;
	d->seen |= ev;
	if (ev & BIT_BLOCK) {
		d->in_block = true;
		pthread_cond_broadcast(&d->cond);
		while (!d->release)
			pthread_cond_wait(&d->cond, &d->lock);
		d->left_at = ++d->order;
	}
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (ev & BIT_SELF)
		virtio_worker_kick(&d->w, BIT_B);
}

/* Wait until process() has seen all of bits (bounded, not timed). */
static bool wait_seen(struct dev *d, uint32_t bits)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&d->lock);
	while ((d->seen & bits) != bits)
		if (pthread_cond_timedwait(&d->cond, &d->lock, &ts))
			break;
	ok = (d->seen & bits) == bits;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

static void clear_seen(struct dev *d)
{
	pthread_mutex_lock(&d->lock);
	d->seen = 0;
	pthread_mutex_unlock(&d->lock);
}

/* Both stop() calls have begun (the worker's own flag). */
static void wait_stopping(struct dev *d)
{
	bool stopping = false;

	while (!stopping) {
		pthread_mutex_lock(&d->w.lock);
		stopping = d->w.stop;
		pthread_mutex_unlock(&d->w.lock);
		if (!stopping)
			sched_yield();
	}
}

static struct dev *dev_new(void)
{
	struct dev *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	virtio_worker_init(&d->w, "test-worker", process, d);
	return d;
}

static void dev_free(struct dev *d)
{
	virtio_worker_destroy(&d->w);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static void test_start_kick_stop(void **state)
{
	struct virtio_dev *vd = fake_dev_new(NULL, 1, 0);
	struct dev *d = dev_new();

	/* stop/destroy before any start are no-ops */
	virtio_worker_stop(&d->w);
	assert_null(virtio_worker_dev(&d->w));
	/* a kick before start is dropped: start says what is pending */
	virtio_worker_kick(&d->w, BIT_B);
	assert_int_equal(virtio_worker_start(&d->w, vd, BIT_A), 0);
	assert_ptr_equal(virtio_worker_dev(&d->w), vd);
	assert_true(wait_seen(d, BIT_A));
	virtio_worker_kick(&d->w, BIT_B);
	assert_true(wait_seen(d, BIT_B));
	/* a second start while running changes nothing */
	assert_int_equal(virtio_worker_start(&d->w, vd, 0), 0);
	/* process() may kick its own worker */
	clear_seen(d);
	virtio_worker_kick(&d->w, BIT_SELF);
	assert_true(wait_seen(d, BIT_SELF | BIT_B));
	virtio_worker_stop(&d->w);
	virtio_worker_stop(&d->w);
	assert_null(virtio_worker_dev(&d->w));
	dev_free(d);
	fake_dev_free(vd);
}

static void *stopper(void *arg)
{
	struct dev *d = arg;

	virtio_worker_stop(&d->w);
	pthread_mutex_lock(&d->lock);
	d->stop_at = ++d->order;
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* A reset while a request is being processed waits for it; kicks during
 * the reset are dropped; a restart begins afresh. */
static void test_stop_during_processing(void **state)
{
	struct virtio_dev *vd = fake_dev_new(NULL, 1, 0);
	struct dev *d = dev_new();
	pthread_t t[2];
	unsigned calls;

	assert_int_equal(virtio_worker_start(&d->w, vd, BIT_BLOCK), 0);
	pthread_mutex_lock(&d->lock);
	while (!d->in_block)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
	/* two resets at once (transport and destroy), and a kick in between */
	assert_int_equal(pthread_create(&t[0], NULL, stopper, d), 0);
	assert_int_equal(pthread_create(&t[1], NULL, stopper, d), 0);
	virtio_worker_kick(&d->w, BIT_A);
	wait_stopping(d);
	virtio_worker_kick(&d->w, BIT_A); /* during the reset: dropped */
	pthread_mutex_lock(&d->lock);
	assert_int_equal(d->stop_at, 0); /* still inside process() */
	d->release = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	assert_true(d->left_at < d->stop_at);
	assert_null(virtio_worker_dev(&d->w));

	/* a kick after the reset is dropped with the queues */
	calls = d->calls;
	virtio_worker_kick(&d->w, BIT_A);
	assert_int_equal(d->calls, calls);
	/* restart: only what start() is given */
	clear_seen(d);
	assert_int_equal(virtio_worker_start(&d->w, vd, BIT_B), 0);
	assert_true(wait_seen(d, BIT_B));
	virtio_worker_stop(&d->w);
	assert_int_equal(d->seen & BIT_A, 0);
	dev_free(d);
	fake_dev_free(vd);
}

/* A device the transport marked broken is not processed. */
static void test_broken(void **state)
{
	struct virtio_dev *vd = fake_dev_new(NULL, 1, 0);
	struct dev *d = dev_new();

	virtio_device_error(vd, "test");
	assert_true(fake_wait_broken(vd, 1000));
	assert_int_equal(virtio_worker_start(&d->w, vd, BIT_A), 0);
	virtio_worker_kick(&d->w, BIT_B);
	virtio_worker_stop(&d->w); /* joins: whatever ran, ran */
	assert_int_equal(d->calls, 0);
	dev_free(d);
	fake_dev_free(vd);
}

static void test_period(void **state)
{
	struct virtio_dev *vd = fake_dev_new(NULL, 1, 0);
	struct dev *d = dev_new();

	virtio_worker_set_period(&d->w, 1000000); /* 1 ms */
	assert_int_equal(virtio_worker_start(&d->w, vd, 0), 0);
	assert_true(wait_seen(d, VIRTIO_WORKER_TICK));
	/* ticks keep coming */
	clear_seen(d);
	assert_true(wait_seen(d, VIRTIO_WORKER_TICK));
	virtio_worker_stop(&d->w);
	dev_free(d);
	fake_dev_free(vd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_kick_stop),
		cmocka_unit_test(test_stop_during_processing),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_period),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
