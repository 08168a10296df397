/*
 * GET /v1/events/stream: the event log as server-sent events (the HTML
 * Living Standard, "Server-sent events"; docs/api.md).
 *
 * The stream first replays the log after the client's Last-Event-ID (or
 * ?after=ID), then follows the daemon's event bus (event_bus.h). It is
 * sent with chunked transfer encoding, so ending it leaves the connection
 * usable. A client that falls EVENT_BUS_QUEUE events behind is told
 * ("event: overflow") and the stream ends: it reconnects with
 * Last-Event-ID and reads what it missed from the log. Writing happens on
 * the worker thread of the connection: a client that does not read blocks
 * its own worker only, never the daemon (the bus drops it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/event_bus.h"
#include "api/rest_priv.h"
#include "util/log.h"

#define HEARTBEAT_DEFAULT_S 15
#define HEARTBEAT_MAX_S	    300
#define BACKLOG_PAGE	    1000

struct stream {
	struct mg_connection *conn;
	const struct grant *grant;
	const char *vm; /* only this VM's events, or NULL */
	int64_t last;	/* the id of the last event sent */
};

/* One chunk; false if the client went away. */
static bool send_chunk(struct stream *s, const char *text, size_t len)
{
	return mg_send_chunk(s->conn, text, (unsigned)len) > 0;
}

/* Send event o (an Event of docs/api.yaml) unless the client may not see
 * it or it was sent already. false if the client went away. */
static bool send_event(struct stream *s, json_t *o)
{
	int64_t id = json_integer_value(json_object_get(o, "id"));
	const char *vm = json_string_value(json_object_get(o, "vm"));
	char *data, *text;
	bool ok;
	int n;

	if (id <= s->last)
		return true;
	s->last = id;
	if (s->vm && (!vm || strcasecmp(vm, s->vm) != 0))
		return true;
	if (!rest_grant_keeps(s->grant, o, "vm"))
		return true;
	data = json_dumps(o, JSON_COMPACT);
	if (!data)
		return true;
	/* data never holds a newline: JSON_COMPACT escapes them */
	n = asprintf(&text, "id: %" PRId64 "\nevent: event\ndata: %s\n\n", id,
		     data);
	free(data);
	if (n < 0)
		return false;
	ok = send_chunk(s, text, (size_t)n);
	free(text);
	return ok;
}

static json_t *event_json(const struct inventory_event *e)
{
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "id",
			 (json_int_t)e->id, "time_ms", (json_int_t)e->time_ms,
			 "vm", e->vm, "actor", e->actor, "action", e->action,
			 "result", e->result, "message", e->message);
}

/* Replay the log after s->last. false if the client went away. */
static bool send_backlog(struct rest *r, struct stream *s)
{
	for (;;) {
		struct error err = { 0 };
		json_t *out = NULL, *arr, *o;
		size_t i, n;
		bool ok = true;

		if (daemon_event_list(r->d, s->vm, s->last, BACKLOG_PAGE, &out,
				      &err) < 0) {
			log_warn("api", "event stream: %s", err.msg);
			return false;
		}
		arr = json_object_get(out, "events");
		n = json_array_size(arr);
		json_array_foreach(arr, i, o)
		{
			if (!send_event(s, o)) {
				ok = false;
				break;
			}
		}
		json_decref(out);
		if (!ok)
			return false;
		if (n < BACKLOG_PAGE)
			return true;
	}
}

/* Where to start: Last-Event-ID (a reconnecting EventSource) or ?after=;
 * -1 if neither (live events only); -2 if malformed. */
static int64_t start_id(struct mg_connection *conn, const char *qs)
{
	const char *h = mg_get_header(conn, "Last-Event-ID");
	char buf[32];
	char *end;
	long long v;

	if (!h || !h[0]) {
		int n = mg_get_var(qs, strlen(qs), "after", buf, sizeof(buf));

		if (n == -1)
			return -1;
		if (n < 0)
			return -2;
		h = buf;
	}
	if (h[0] < '0' || h[0] > '9')
		return -2;
	errno = 0;
	v = strtoll(h, &end, 10);
	if (errno || *end || v < 0)
		return -2;
	return v;
}

int rest_events_stream(struct rest *r, struct mg_connection *conn,
		       const char *actor, const struct grant *grant)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *qs = ri->query_string ? ri->query_string : "";
	struct event_bus *bus = daemon_event_bus(r->d);
	struct stream s = { .conn = conn, .grant = grant };
	struct event_sub *sub = NULL;
	char vm[256], hb[16];
	long heartbeat_s = HEARTBEAT_DEFAULT_S;
	int64_t after;
	int n, rc;

	n = mg_get_var(qs, strlen(qs), "vm", vm, sizeof(vm));
	if (n == -2)
		return rest_send_error(conn, 400, "bad_request", NULL,
				       "vm: too long");
	if (n > 0) {
		if (!grant_vm(grant, vm))
			return rest_refuse_vm(conn, actor, grant, vm);
		s.vm = vm;
	}
	n = mg_get_var(qs, strlen(qs), "heartbeat", hb, sizeof(hb));
	if (n != -1) {
		char *end;

		heartbeat_s = n > 0 ? strtol(hb, &end, 10) : 0;
		if (n < 0 || *end || heartbeat_s < 1 ||
		    heartbeat_s > HEARTBEAT_MAX_S)
			return rest_send_error(conn, 400, "bad_request", NULL,
					       "heartbeat: expected seconds, "
					       "1..%d",
					       HEARTBEAT_MAX_S);
	}
	after = start_id(conn, qs);
	if (after == -2)
		return rest_send_error(conn, 400, "bad_request", NULL,
				       "after (or Last-Event-ID): expected an "
				       "event id (integer >= 0)");
	if (!bus)
		return rest_send_error(conn, 503, "unavailable", NULL,
				       "this server has no event stream");
	/* subscribe before reading the log: an event recorded in between is
	 * then in both, and sent once (ids only grow) */
	rc = event_bus_subscribe(bus, &sub);
	if (rc == -EBUSY)
		return rest_send_error(conn, 503, "unavailable",
				       "Retry-After: 5\r\n",
				       "too many event streams (at most %d)",
				       EVENT_BUS_MAX_SUBS);
	if (rc < 0)
		return rest_send_error(conn, 503, "unavailable", NULL,
				       "the event stream is closed: %s",
				       strerror(-rc));

	mg_printf(conn, "HTTP/1.1 200 OK\r\n"
			"Content-Type: text/event-stream\r\n"
			"Cache-Control: no-store\r\n"
			"X-Accel-Buffering: no\r\n"
			"Transfer-Encoding: chunked\r\n\r\n");
	if (!send_chunk(&s, "retry: 2000\n\n", 13))
		goto out;
	if (after >= 0) {
		s.last = after;
		if (!send_backlog(r, &s))
			goto out;
	}
	for (;;) {
		struct inventory_event e;
		json_t *o;
		bool ok;

		rc = event_sub_next(sub, (int)heartbeat_s * 1000, &e);
		if (rc == 0) {
			if (!send_chunk(&s, ": heartbeat\n\n", 13))
				break;
			continue;
		}
		if (rc == -EOVERFLOW) {
			char msg[128];

			n = snprintf(
				msg, sizeof(msg),
				"event: overflow\ndata: {\"last_id\":%" PRId64
				"}\n\n",
				s.last);
			send_chunk(&s, msg, (size_t)n);
			log_info("api", "event stream: a client fell behind "
					"and was dropped");
			break;
		}
		if (rc < 0)
			break;
		o = event_json(&e);
		ok = !o || send_event(&s, o);
		json_decref(o);
		if (!ok)
			break;
	}
	mg_write(conn, "0\r\n\r\n", 5); /* the last chunk */
out:
	event_bus_unsubscribe(sub);
	return 200;
}
