/*
 * GET /metrics (docs/metrics.md): the daemon's snapshot plus the REST
 * layer's reply counters, rendered by api/metrics.c. Authentication is
 * the API's (rest.c): trusted on the unix socket, a bearer token over TLS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "api/rest_priv.h"

void rest_count_reply(struct rest *r, int status)
{
	if (status >= REST_STATUS_MIN && status <= REST_STATUS_MAX)
		__atomic_fetch_add(&r->replies[status - REST_STATUS_MIN], 1,
				   __ATOMIC_RELAXED);
}

int rest_metrics_reply(struct rest *r, struct mg_connection *conn,
		       const struct grant *grant)
{
	struct metrics_api_count api[REST_STATUS_MAX - REST_STATUS_MIN + 1];
	struct metrics_snapshot s;
	struct error err = { 0 };
	size_t n_api = 0, len = 0;
	char *text = NULL;
	int rc;

	rc = daemon_metrics(r->d, &s, &err);
	if (rc < 0)
		return rest_send_daemon_error(conn, rc, err.msg);
	if (grant->n_vms) { /* a scoped token: its VMs only */
		struct metrics_vm *vms = (struct metrics_vm *)s.vms;
		size_t n = 0;

		for (size_t i = 0; i < s.n_vms; i++)
			if (grant_vm(grant, vms[i].name))
				memmove(&vms[n++], &vms[i], sizeof(vms[i]));
		s.n_vms = n;
	}
	for (int i = 0; i <= REST_STATUS_MAX - REST_STATUS_MIN; i++) {
		uint64_t c = __atomic_load_n(&r->replies[i], __ATOMIC_RELAXED);

		if (c)
			api[n_api++] = (struct metrics_api_count){
				.status = i + REST_STATUS_MIN, .count = c
			};
	}
	s.api = api;
	s.n_api = n_api;
	rc = metrics_render(&s, &text, &len);
	daemon_metrics_free(&s);
	if (rc < 0)
		return rest_send_error(conn, 500, "internal", NULL,
				       "cannot render the metrics: %s",
				       strerror(-rc));
	mg_printf(conn,
		  "HTTP/1.1 200 OK\r\n"
		  "Content-Type: " METRICS_CONTENT_TYPE "\r\n"
		  "Content-Length: %zu\r\n"
		  "Cache-Control: no-store\r\n\r\n",
		  len);
	mg_write(conn, text, len);
	free(text);
	return 200;
}
