/*
 * Internals shared by rest.c (routes) and rest_console.c (the console
 * WebSocket). Not an API: only the REST server's files include it.
 */
#ifndef SV_API_REST_PRIV_H
#define SV_API_REST_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include <civetweb.h>

#include "api/daemon.h"
#include "api/rest.h"
#include "api/tls.h"
#include "util/compiler.h"

#define REST_ACTOR_MAX 160

/* HTTP statuses counted for softvisor_api_requests_total */
#define REST_STATUS_MIN 100
#define REST_STATUS_MAX 599

struct rest {
	struct daemon *d;
	struct mg_context *ctx;
	struct tls_proxy *tls;
	char socket_path[108];
	bool socket_bound;
	/* replies sent, by status (atomic adds; rest_metrics.c) */
	uint64_t replies[REST_STATUS_MAX - REST_STATUS_MIN + 1];
};

/* Who is asking: authenticate the request on conn. Returns 0 with actor
 * filled ("unix" or "token:NAME") and *tcp set, or sends the error reply
 * (401 with WWW-Authenticate, or 403) and returns its status. */
int rest_authenticate(struct rest *r, struct mg_connection *conn, char *actor,
		      size_t actor_size, bool *tcp);

/* Send {"error": {"code", "message"}} with status; extra_headers are
 * complete "Name: value\r\n" lines or NULL. Returns status. */
int rest_send_error(struct mg_connection *conn, int status, const char *code,
		    const char *extra_headers, const char *fmt, ...)
	SV_PRINTF(5, 6);

/* Send a daemon failure (rc < 0, message in msg) mapped with
 * daemon_http_status. Returns the status. */
int rest_send_daemon_error(struct mg_connection *conn, int rc, const char *msg);

/* What the audit log records of one request (rest.c fills it while it
 * routes and authenticates; rest_audit.c writes it). */
struct rest_audit_info {
	const char *action; /* "vm.start", ...; NULL: not audited (reads) */
	char target[128];   /* VM or token name, "" */
	char actor[REST_ACTOR_MAX]; /* "unix", "token:NAME"; "" if refused */
	bool authenticated;
	bool tcp;
	bool recorded; /* written already */
};

/* Record a changing request answered with status (rest.c calls it just
 * before the reply is sent): principal
 * ("local" with the peer's uid on the unix socket, "token:NAME" or
 * "unauthenticated"), source, action, target. Any thread. */
void rest_audit_request(struct rest *r, const struct mg_connection *conn,
			const struct rest_audit_info *ai, int status);

/* Count one reply with status (any thread). */
void rest_count_reply(struct rest *r, int status);

/* Answer GET /metrics on conn (authenticated by the caller): the
 * Prometheus text or a JSON error. Returns the status sent. */
int rest_metrics_reply(struct rest *r, struct mg_connection *conn);

/* Register the WebSocket handler of /v1/vms/{vm}/console. */
void rest_console_register(struct rest *r);

/* Safety net for connections that closed without the WebSocket close
 * handler (failed handshake): detach a leftover viewer. */
void rest_console_connection_closed(const struct mg_connection *conn);

#endif
