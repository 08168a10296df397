/*
 * The in-daemon event bus: every event the inventory records is published
 * here, and each live event stream (GET /v1/events/stream, docs/api.md)
 * holds a subscription with a bounded queue of its own.
 *
 * The publisher never waits for a subscriber: a subscriber whose queue is
 * full is marked overflowed and gets no more events; its stream ends and
 * the client resumes from the event log with Last-Event-ID. The log (the
 * inventory's events table) is the source of truth; the bus only says
 * "this one is new" without a poll.
 *
 * Threading: every function may be called from any thread. publish takes
 * the bus lock only (the inventory calls it with its own lock held, so the
 * queues see events in id order); nothing here calls out while holding it.
 */
#ifndef SV_API_EVENT_BUS_H
#define SV_API_EVENT_BUS_H

#include <stdint.h>

#include "api/inventory.h"

#define EVENT_BUS_QUEUE	   256 /* events a subscriber may fall behind */
#define EVENT_BUS_MAX_SUBS 16  /* streams at once (each holds a worker) */

struct event_bus;
struct event_sub;

/* A bus whose subscribers queue up to queue_cap events each (0: the
 * default EVENT_BUS_QUEUE) and of which at most max_subs exist at once
 * (0: EVENT_BUS_MAX_SUBS). NULL when out of memory. */
struct event_bus *event_bus_new(unsigned queue_cap, unsigned max_subs);
/* Free the bus; every subscription must be gone. NULL is allowed. */
void event_bus_free(struct event_bus *b);

/* Hand e to every subscriber. Never blocks on a subscriber. */
void event_bus_publish(struct event_bus *b, const struct inventory_event *e);

/* The publish callback of inventory_set_event_hook (opaque: the bus). */
void event_bus_hook(void *opaque, const struct inventory_event *e);

/* Subscribe: *out receives every event published from now on. -EBUSY
 * when max_subs streams exist, -ESHUTDOWN after event_bus_shutdown,
 * -ENOMEM. */
int event_bus_subscribe(struct event_bus *b, struct event_sub **out);
/* End a subscription (NULL allowed). */
void event_bus_unsubscribe(struct event_sub *s);

/* The next event of s into *e, waiting up to timeout_ms (< 0: forever).
 * Returns 1 with *e, 0 on timeout, -EOVERFLOW once the queue overflowed
 * (events were lost: resume from the log), -ESHUTDOWN when the bus shuts
 * down. */
int event_sub_next(struct event_sub *s, int timeout_ms,
		   struct inventory_event *e);

/* How many events s lost to a full queue (0 unless overflowed). */
uint64_t event_sub_dropped(const struct event_sub *s);

/* Wake every subscriber with -ESHUTDOWN and refuse new ones (the server
 * is stopping: its streams must end so the workers can be joined). */
void event_bus_shutdown(struct event_bus *b);

#endif
