/* The virtio worker: one thread per started device, woken by kicks (see
 * worker.h). */
#include "virtio/worker.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "virtio/virtio.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void virtio_worker_init(struct virtio_worker *w, const char *name,
			virtio_worker_fn fn, void *opaque)
{
	pthread_condattr_t ca;

	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	/* the period's deadlines are on the monotonic clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->fn = fn;
	w->opaque = opaque;
	w->name = name;
}

void virtio_worker_destroy(struct virtio_worker *w)
{
	virtio_worker_stop(w);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

void virtio_worker_set_period(struct virtio_worker *w, uint64_t period_ns)
{
	pthread_mutex_lock(&w->lock);
	w->period_ns = period_ns;
	pthread_mutex_unlock(&w->lock);
}

/* Wait (lock held) until there are events, a tick is due, or stop. */
static void wait_for_work(struct virtio_worker *w, uint64_t *next_tick)
{
	while (!w->events && !w->stop) {
		struct timespec ts;
		uint64_t now;

		if (!w->period_ns) {
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		now = now_ns();
		if (now >= *next_tick) {
			w->events |= VIRTIO_WORKER_TICK;
			break;
		}
		ts.tv_sec = (time_t)(*next_tick / 1000000000ull);
		ts.tv_nsec = (long)(*next_tick % 1000000000ull);
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
}

static void *worker_thread(void *arg)
{
	struct virtio_worker *w = arg;
	uint64_t next_tick;

	pthread_mutex_lock(&w->lock);
	next_tick = now_ns() + w->period_ns;
	for (;;) {
		uint32_t ev;

		wait_for_work(w, &next_tick);
		if (w->stop)
			break;
		ev = w->events;
		w->events = 0;
		if (ev & VIRTIO_WORKER_TICK)
			next_tick = now_ns() + w->period_ns;
		pthread_mutex_unlock(&w->lock);
		/* w->vd does not change while the thread runs: start() set it
		 * before creating us, stop() clears it after the join. */
		if (!virtio_broken(w->vd))
			w->fn(w->opaque, w->vd, ev);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int virtio_worker_start(struct virtio_worker *w, struct virtio_dev *vd,
			uint32_t events)
{
	int rc;

	pthread_mutex_lock(&w->lock);
	if (w->running) {
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	w->vd = vd;
	w->stop = false;
	w->events = events;
	rc = pthread_create(&w->thread, NULL, worker_thread, w);
	w->running = rc == 0;
	if (rc)
		w->vd = NULL;
	pthread_mutex_unlock(&w->lock);
	if (rc) {
		log_error(w->name, "cannot start worker: %s", strerror(rc));
		virtio_device_error(vd, "no worker thread");
		return -rc;
	}
	return 0;
}

void virtio_worker_kick(struct virtio_worker *w, uint32_t events)
{
	pthread_mutex_lock(&w->lock);
	if (w->running && !w->stop) {
		w->events |= events;
		/* broadcast: a stop() may wait on the same condition */
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
}

void virtio_worker_stop(struct virtio_worker *w)
{
	pthread_mutex_lock(&w->lock);
	/* stop stays set for the whole join: kicks are dropped, and a second
	 * stop() from another thread waits for the first to finish */
	if (w->stop) {
		while (w->running)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
		return;
	}
	if (!w->running) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_lock(&w->lock);
	w->running = false;
	w->stop = false;
	w->events = 0;
	w->vd = NULL;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

struct virtio_dev *virtio_worker_dev(struct virtio_worker *w)
{
	struct virtio_dev *vd;

	pthread_mutex_lock(&w->lock);
	vd = w->vd;
	pthread_mutex_unlock(&w->lock);
	return vd;
}
