/*
 * The virtio worker: the one mechanism by which a device back end serves
 * its queues off the vCPU threads (console, input, rng, balloon). A device
 * embeds a struct virtio_worker, gives it a process function, and maps its
 * transport ops onto it:
 *
 *   start(vd)          virtio_worker_start(&d->w, vd, ALL_EVENTS)
 *   queue_notify(q)    virtio_worker_kick(&d->w, 1u << q)
 *   reset()            virtio_worker_stop(&d->w), then its own clean-up
 *   destroy            virtio_worker_destroy(&d->w)
 *
 * Events are a bit mask the device defines (typically one bit per queue,
 * plus its own, e.g. "host input arrived"). Kicks are coalesced: process()
 * gets every bit kicked since it last ran, never runs twice at once, and
 * runs only on the worker's thread, without the worker's lock, and not
 * while the transport has marked the device broken (virtio_broken()).
 *
 * The guest is hostile: a reset while a request is being processed waits
 * until process() returned (it is never interrupted half-way); kicks that
 * arrive during or after stop() are dropped with the queues they were for;
 * start() after stop() begins afresh with the events it is given.
 *
 * Periodic work (the balloon's statistics): with a period set, process()
 * also gets VIRTIO_WORKER_TICK once the period has passed since it last got
 * that bit (a kick with VIRTIO_WORKER_TICK counts, and restarts the
 * period).
 *
 * Threads: kick() from any thread, including process() itself. start(),
 * stop() and destroy() from the transport's or the owner's thread, never
 * from process() (stop joins the thread) and never with a lock held that
 * process() takes. Ownership: the device owns the struct; the worker owns
 * its thread.
 */
#ifndef SV_VIRTIO_WORKER_H
#define SV_VIRTIO_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct virtio_dev;

/* The period elapsed (virtio_worker_set_period). Devices use bits 0..30. */
#define VIRTIO_WORKER_TICK (1u << 31)

/* The device's request processing: events is the mask of what happened. */
typedef void (*virtio_worker_fn)(void *opaque, struct virtio_dev *vd,
				 uint32_t events);

struct virtio_worker {
	/* private: set by init, guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	uint32_t events;    /* kicked, not yet handed to fn */
	uint64_t period_ns; /* 0: no VIRTIO_WORKER_TICK */
	struct virtio_dev *vd;
	virtio_worker_fn fn;
	void *opaque;
	const char *name; /* "virtio-rng", for messages */
};

/* Set up w (not started). name must outlive w. */
void virtio_worker_init(struct virtio_worker *w, const char *name,
			virtio_worker_fn fn, void *opaque);

/* Stop (as virtio_worker_stop) and release w's resources. */
void virtio_worker_destroy(struct virtio_worker *w);

/* Deliver VIRTIO_WORKER_TICK every period_ns (0: never). Takes effect at
 * the next start(). */
void virtio_worker_set_period(struct virtio_worker *w, uint64_t period_ns);

/* Start the thread for vd with events pending (the queues may hold
 * buffers already). No-op if running. If no thread can be created the
 * device is marked broken (virtio_device_error) and -errno returned. */
int virtio_worker_start(struct virtio_worker *w, struct virtio_dev *vd,
			uint32_t events);

/* Record events and wake the thread. Dropped if the worker is not
 * running (start() is given what is pending then). */
void virtio_worker_kick(struct virtio_worker *w, uint32_t events);

/* Stop the thread: wait until process() returned, then join. Pending
 * events are dropped. No-op if not running. */
void virtio_worker_stop(struct virtio_worker *w);

/* The device the worker runs for (NULL when stopped). Any thread; the
 * value may change right after the call unless the caller serializes
 * with start/stop. */
struct virtio_dev *virtio_worker_dev(struct virtio_worker *w);

#endif
