/*
 * Server-sent events from the daemon (GET /v1/events/stream, docs/api.md
 * "Event stream"): one streaming GET, parsed into events as they arrive.
 *
 * Threads: as the client it uses (one thread at a time). The callback runs
 * on the calling thread.
 */
#ifndef SV_CLI_CLIENT_STREAM_H
#define SV_CLI_CLIENT_STREAM_H

#include <signal.h>
#include <stdint.h>

#include "cli/client.h"
#include "util/error.h"

/* One event of the stream; the strings are valid during the callback. */
struct client_sse_event {
	const char *id;	   /* "" when the event had none */
	const char *event; /* "message" when the event had no type */
	const char *data;  /* its data lines, joined with '\n' */
};

/* GET path from c's daemon as an event stream, with Last-Event-ID:
 * last_id when last_id >= 0, and call on_event(opaque, e) for each event
 * until the server ends the stream (returns 0), *stop becomes non-zero
 * (checked at least once a second; returns 0), on_event returns non-zero
 * (returns that) or an error (-errno with err set: the daemon could not
 * be reached, a non-2xx reply with the server's message (-EAGAIN for 503:
 * too many streams, try again later), a reply that is not
 * text/event-stream). */
int client_stream(struct client *c, const char *path, int64_t last_id,
		  int (*on_event)(void *opaque,
				  const struct client_sse_event *e),
		  void *opaque, volatile sig_atomic_t *stop, struct error *err);

#endif
