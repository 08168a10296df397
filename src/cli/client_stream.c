/*
 * Server-sent events over libcurl (client_stream.h). The parser follows
 * the HTML Living Standard's "Interpreting an event stream": lines end in
 * LF, CR LF or CR; a blank line dispatches; "field: value" with one
 * optional space after the colon; lines starting with ':' are comments.
 */
#include "cli/client_stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#define SSE_LINE_MAX (1u << 20) /* a longer line: the stream is refused */

struct sse {
	int (*on_event)(void *opaque, const struct client_sse_event *e);
	void *opaque;
	volatile sig_atomic_t *stop;
	char *line; /* the line being read */
	size_t len, cap;
	bool last_cr; /* the previous byte ended a line with CR */
	char id[64], event[64];
	char *data; /* joined data lines */
	size_t data_len;
	int cb_rc;     /* what on_event returned, non-zero: stop */
	bool too_long; /* a line over SSE_LINE_MAX */
	char *body;    /* an error reply's body (not a stream) */
	size_t body_len;
	bool is_stream; /* Content-Type: text/event-stream */
	long status;
};

static void dispatch(struct sse *s)
{
	struct client_sse_event e = {
		.id = s->id,
		.event = s->event[0] ? s->event : "message",
		.data = s->data ? s->data : "",
	};

	if (s->data) {
		if (s->data_len && s->data[s->data_len - 1] == '\n')
			s->data[--s->data_len] = '\0';
		s->cb_rc = s->on_event(s->opaque, &e);
	}
	free(s->data);
	s->data = NULL;
	s->data_len = 0;
	s->event[0] = '\0';
	/* the id stays: it is the stream's last event id */
}

static void field(struct sse *s, char *line)
{
	char *colon = strchr(line, ':'), *value = "";
	char *nd;

	if (!line[0]) {
		dispatch(s);
		return;
	}
	if (colon == line)
		return; /* a comment (heartbeat) */
	if (colon) {
		*colon = '\0';
		value = colon + 1;
		if (*value == ' ')
			value++;
	}
	if (!strcmp(line, "event")) {
		snprintf(s->event, sizeof(s->event), "%s", value);
	} else if (!strcmp(line, "id")) {
		snprintf(s->id, sizeof(s->id), "%s", value);
	} else if (!strcmp(line, "data")) {
		size_t n = strlen(value);

		nd = realloc(s->data, s->data_len + n + 2);
		if (!nd)
			return;
		memcpy(nd + s->data_len, value, n);
		s->data_len += n;
		nd[s->data_len++] = '\n';
		nd[s->data_len] = '\0';
		s->data = nd;
	}
	/* retry and unknown fields: ignored */
}

static size_t on_header(char *buf, size_t size, size_t n, void *opaque)
{
	struct sse *s = opaque;
	size_t len = size * n;

	if (len > 13 && !strncasecmp(buf, "Content-Type:", 13)) {
		const char *v = buf + 13;

		while (*v == ' ')
			v++;
		s->is_stream = !strncasecmp(v, "text/event-stream", 17);
	}
	return len;
}

static size_t on_data(char *buf, size_t size, size_t n, void *opaque)
{
	struct sse *s = opaque;
	size_t len = size * n;

	if (!s->is_stream) {
		/* an error reply: keep it for the message (bounded) */
		size_t keep = len;
		char *nb;

		if (s->body_len + keep > 65536)
			keep = 65536 - s->body_len;
		nb = realloc(s->body, s->body_len + keep + 1);
		if (!nb)
			return 0;
		memcpy(nb + s->body_len, buf, keep);
		s->body = nb;
		s->body_len += keep;
		s->body[s->body_len] = '\0';
		return len;
	}
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];

		if (ch == '\n' && s->last_cr) {
			s->last_cr = false;
			continue;
		}
		s->last_cr = ch == '\r';
		if (ch == '\n' || ch == '\r') {
			if (!s->line && !(s->line = malloc(1)))
				return 0;
			s->line[s->len] = '\0';
			field(s, s->line);
			s->len = 0;
			if (s->cb_rc)
				return 0; /* aborts the transfer */
			continue;
		}
		if (s->len + 2 > s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 256;
			char *nl;

			if (cap > SSE_LINE_MAX) {
				s->too_long = true;
				return 0;
			}
			nl = realloc(s->line, cap);
			if (!nl)
				return 0;
			s->line = nl;
			s->cap = cap;
		}
		s->line[s->len++] = ch;
	}
	return len;
}

static int on_progress(void *opaque, curl_off_t a, curl_off_t b, curl_off_t c,
		       curl_off_t d)
{
	struct sse *s = opaque;

	(void)a, (void)b, (void)c, (void)d;
	return s->stop && *s->stop; /* non-zero aborts */
}

int client_stream(struct client *c, const char *path, int64_t last_id,
		  int (*on_event)(void *opaque,
				  const struct client_sse_event *e),
		  void *opaque, volatile sig_atomic_t *stop, struct error *err)
{
	const struct client_opts *o = client_resolved(c);
	struct sse s = { .on_event = on_event, .opaque = opaque, .stop = stop };
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", *url = NULL, *h = NULL;
	CURL *curl = curl_easy_init();
	CURLcode rc;
	int r = 0;

	if (!curl)
		return error_set(err, ENOMEM, "cannot start libcurl");
	if (asprintf(&url, "%s%s", o->url ? o->url : "http://localhost", path) <
	    0) {
		curl_easy_cleanup(curl);
		return error_set(err, ENOMEM, "out of memory");
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "softvisor-cli");
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &s);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &s);
	if (o->socket_path && !o->url)
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH,
				 o->socket_path);
	if (o->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, o->ca_file);
	if (o->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
	if (o->token && o->token[0] &&
	    asprintf(&h, "Authorization: Bearer %s", o->token) > 0) {
		hdrs = curl_slist_append(hdrs, h);
		free(h);
	}
	if (last_id >= 0 &&
	    asprintf(&h, "Last-Event-ID: %" PRId64, last_id) > 0) {
		hdrs = curl_slist_append(hdrs, h);
		free(h);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);

	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &s.status);
	if (s.cb_rc) {
		r = s.cb_rc;
	} else if (rc == CURLE_ABORTED_BY_CALLBACK && stop && *stop) {
		r = 0;
	} else if (s.too_long) {
		r = error_set(err, EPROTO, "event stream: a line over %u bytes",
			      SSE_LINE_MAX);
	} else if (s.status && (s.status < 200 || s.status >= 300)) {
		json_t *j = s.body ? json_loads(s.body, 0, NULL) : NULL;
		const char *m = json_string_value(json_object_get(
			json_object_get(j, "error"), "message"));

		/* 503: the daemon has too many streams; worth a retry */
		r = error_set(err, s.status == 503 ? EAGAIN : EREMOTEIO, "%s",
			      m ? m : "the daemon refused the event stream");
		json_decref(j);
	} else if (rc != CURLE_OK && rc != CURLE_PARTIAL_FILE &&
		   rc != CURLE_RECV_ERROR) {
		r = error_set(err, ECONNREFUSED,
			      "cannot reach the daemon at %s: %s",
			      client_target(c),
			      errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else if (rc == CURLE_OK && !s.is_stream) {
		r = error_set(err, EPROTO,
			      "the daemon's reply is not an event stream");
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	free(url);
	free(s.line);
	free(s.data);
	free(s.body);
	return r;
}
