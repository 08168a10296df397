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
#include "api/grant.h"
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
 * filled ("unix" or "token:NAME"), *tcp set and *grant what it may do
 * (the unix socket: an unscoped admin), or sends the error reply (401
 * with WWW-Authenticate, or 403) and returns its status. */
int rest_authenticate(struct rest *r, struct mg_connection *conn, char *actor,
		      size_t actor_size, bool *tcp, struct grant *grant);

/* rest_grant.c: 403 because the role lacks perms (the message names the
 * roles that have them), or because VM vm is outside the token's scope.
 * Return the status sent. */
int rest_refuse_role(struct mg_connection *conn, const char *actor,
		     const struct grant *g, unsigned perms);
int rest_refuse_vm(struct mg_connection *conn, const char *actor,
		   const struct grant *g, const char *vm);
/* True if a scoped client may see object o, whose o[key] names its VM
 * (key "target": an audit record, which must be a vm.* call too). */
bool rest_grant_keeps(const struct grant *g, const json_t *o, const char *key);
/* Remove from array arr the objects the client may not see. */
void rest_grant_filter(const struct grant *g, json_t *arr, const char *key);
/* Wall clock, ms since the epoch. */
int64_t rest_now_ms(void);

/* Send {"error": {"code", "message"}} with status; extra_headers are
 * complete "Name: value\r\n" lines or NULL. Returns status. */
int rest_send_error(struct mg_connection *conn, int status, const char *code,
		    const char *extra_headers, const char *fmt, ...)
	SV_PRINTF(5, 6);

/* Send obj as the JSON reply with status. Returns status. */
int rest_send_json(struct mg_connection *conn, int status, json_t *obj);

/* rest_migrate.c: POST /v1/migrations/incoming, an incoming live
 * migration's stream (docs/vm-state.md); target gets the VM's name for
 * the audit log. Returns the status sent. */
int rest_migrate_in(struct rest *r, struct mg_connection *conn,
		    const char *actor, char *target, size_t target_size);

/* Send a daemon failure (rc < 0, message in msg) mapped with
 * daemon_http_status. Returns the status. */
int rest_send_daemon_error(struct mg_connection *conn, int rc, const char *msg);

/* What the audit log records of one request (rest.c fills it while it
 * routes and authenticates; rest_audit.c writes it). */
struct rest_audit_info {
	const char *action; /* "vm.start", ...; NULL: not audited (reads) */
	char target[128];   /* VM or token name, "" */
	char actor[REST_ACTOR_MAX]; /* "unix", "token:NAME"; "" if refused */
	int64_t token_id;	    /* its id; 0: no token */
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
 * Prometheus text (a scoped grant sees its VMs only) or a JSON error.
 * Returns the status sent. */
int rest_metrics_reply(struct rest *r, struct mg_connection *conn,
		       const struct grant *grant);

/* Answer GET /v1/events/stream on conn (authenticated by the caller,
 * who is actor with grant): server-sent events until the client goes
 * away, falls behind or the server stops (rest_events.c). Returns the
 * status sent. */
int rest_events_stream(struct rest *r, struct mg_connection *conn,
		       const char *actor, const struct grant *grant);

/* True if conn came over a listener the API serves: the unix socket or
 * the TLS front end (not plain HTTP). rest.c. */
bool rest_trusted_transport(struct rest *r, const struct mg_connection *conn);

/* rest_web.c: answer a GET/HEAD of the web console's files ("/",
 * "/ui/...") on a trusted transport, with no token. Returns the status
 * sent, or 0 if conn is not such a request (the API routes it). */
int rest_web_serve(struct rest *r, struct mg_connection *conn);

/* rest.c: the request handler of every path, and civetweb's error and
 * log callbacks (rest_listen.c installs them). */
int rest_handler(struct mg_connection *conn, void *cbdata);
int rest_on_http_error(struct mg_connection *conn, int status, const char *msg);
int rest_on_log_message(const struct mg_connection *conn, const char *msg);

/* rest_snapshot.c: the snapshot, template and clone routes (issue 16):
 * op is one of these, arg the path's "*" segments; headers receives a
 * Location line. Returns as the daemon call. */
enum {
	REST_SNAP_LIST,
	REST_SNAP_GET,
	REST_SNAP_CREATE,
	REST_SNAP_REVERT,
	REST_SNAP_DELETE,
	REST_VM_TEMPLATE,
	REST_VM_CLONE,
};
int rest_storage_call(struct daemon *d, int op, const char *actor,
		      const char *const arg[2], const char *body, json_t **out,
		      char *headers, size_t hsize, struct error *err);

/* Register the WebSocket handler of /v1/vms/{vm}/console. */
void rest_console_register(struct rest *r);

/* Safety net for connections that closed without the WebSocket close
 * handler (failed handshake): detach a leftover viewer. */
void rest_console_connection_closed(const struct mg_connection *conn);

#endif
