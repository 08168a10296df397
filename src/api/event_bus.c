/*
 * The in-daemon event bus (event_bus.h): a list of subscribers under one
 * lock, each with a ring of events and a condition variable.
 */
#include "api/event_bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct event_sub {
	struct event_bus *bus;
	struct event_sub *next; /* (bus->lock) */
	pthread_cond_t cond;	/* signalled on publish and shutdown */
	struct inventory_event *ring;
	unsigned head, len; /* (bus->lock) ring[head .. head+len) */
	bool overflowed;    /* (bus->lock) */
	uint64_t dropped;   /* (bus->lock) */
};

struct event_bus {
	pthread_mutex_t lock;
	struct event_sub *subs;
	unsigned n_subs, max_subs, cap;
	bool shutdown;
};

struct event_bus *event_bus_new(unsigned queue_cap, unsigned max_subs)
{
	struct event_bus *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	b->cap = queue_cap ? queue_cap : EVENT_BUS_QUEUE;
	b->max_subs = max_subs ? max_subs : EVENT_BUS_MAX_SUBS;
	return b;
}

void event_bus_free(struct event_bus *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void event_bus_publish(struct event_bus *b, const struct inventory_event *e)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	for (struct event_sub *s = b->subs; s; s = s->next) {
		if (s->overflowed) {
			s->dropped++;
			continue;
		}
		if (s->len == b->cap) {
			/* the reader fell behind: it loses its place rather
			 * than the daemon waiting or the queue growing */
			s->overflowed = true;
			s->dropped++;
		} else {
			s->ring[(s->head + s->len) % b->cap] = *e;
			s->len++;
		}
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&b->lock);
}

void event_bus_hook(void *opaque, const struct inventory_event *e)
{
	event_bus_publish(opaque, e);
}

int event_bus_subscribe(struct event_bus *b, struct event_sub **out)
{
	struct event_sub *s;
	pthread_condattr_t ca;

	if (!b)
		return -ENOTSUP;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ring = calloc(b->cap, sizeof(*s->ring));
	if (!s->ring) {
		free(s);
		return -ENOMEM;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->bus = b;

	pthread_mutex_lock(&b->lock);
	if (b->shutdown || b->n_subs >= b->max_subs) {
		int r = b->shutdown ? -ESHUTDOWN : -EBUSY;

		pthread_mutex_unlock(&b->lock);
		pthread_cond_destroy(&s->cond);
		free(s->ring);
		free(s);
		return r;
	}
	s->next = b->subs;
	b->subs = s;
	b->n_subs++;
	pthread_mutex_unlock(&b->lock);
	*out = s;
	return 0;
}

void event_bus_unsubscribe(struct event_sub *s)
{
	struct event_bus *b;

	if (!s)
		return;
	b = s->bus;
	pthread_mutex_lock(&b->lock);
	for (struct event_sub **p = &b->subs; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			b->n_subs--;
			break;
		}
	pthread_mutex_unlock(&b->lock);
	pthread_cond_destroy(&s->cond);
	free(s->ring);
	free(s);
}

int event_sub_next(struct event_sub *s, int timeout_ms,
		   struct inventory_event *e)
{
	struct event_bus *b = s->bus;
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	if (timeout_ms > 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&b->lock);
	for (;;) {
		if (b->shutdown) {
			r = -ESHUTDOWN;
			break;
		}
		if (s->len) {
			/* events queued before an overflow are still good */
			*e = s->ring[s->head];
			s->head = (s->head + 1) % b->cap;
			s->len--;
			r = 1;
			break;
		}
		if (s->overflowed) {
			r = -EOVERFLOW;
			break;
		}
		if (timeout_ms == 0)
			break;
		if (timeout_ms < 0) {
			pthread_cond_wait(&s->cond, &b->lock);
		} else if (pthread_cond_timedwait(&s->cond, &b->lock, &until) ==
			   ETIMEDOUT) {
			if (!s->len && !s->overflowed && !b->shutdown)
				break;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

uint64_t event_sub_dropped(const struct event_sub *s)
{
	struct event_bus *b = s->bus;
	uint64_t n;

	pthread_mutex_lock(&b->lock);
	n = s->dropped;
	pthread_mutex_unlock(&b->lock);
	return n;
}

void event_bus_shutdown(struct event_bus *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->shutdown = true;
	for (struct event_sub *s = b->subs; s; s = s->next)
		pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&b->lock);
}
