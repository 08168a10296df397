/*
 * The REST/JSON API server: listeners, authentication, the route table and
 * the handlers that map HTTP requests onto daemon calls (docs/api.yaml,
 * docs/api.md).
 *
 * Unix socket: Debian's civetweb is built without USE_X_DOM_SOCKET, so we
 * start it on a placeholder listener 127.0.0.1:0, find that listening fd
 * and dup3() our own AF_UNIX listening socket over it. civetweb then
 * accept()s unix connections and reports them with an empty remote_addr.
 * A plain request with an IP address reached the placeholder (or the TLS
 * relay's backend port without being the relay) and is refused with 403.
 */
#include "api/daemon_switch.h"
#include "api/rest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "api/rest_priv.h"
#include "util/log.h"

#define REST_MAX_SEGS  6
#define REST_PATH_MAX  2048
#define REST_TOKEN_MAX 256 /* a longer bearer subprotocol: ignored */

/* ---- replies ------------------------------------------------------------ */

/* The request this worker thread is answering (rest_handler): its audit
 * record is written before the reply leaves, so that a client that got
 * its answer finds the call in the log, and records are in the order the
 * calls were answered. */
static __thread struct rest *tl_rest;
static __thread struct rest_audit_info *tl_audit;

static void audit_before_reply(struct mg_connection *conn, int status)
{
	if (!tl_audit || !tl_audit->action || tl_audit->recorded)
		return;
	tl_audit->recorded = true;
	rest_audit_request(tl_rest, conn, tl_audit, status);
}

static void send_reply(struct mg_connection *conn, int status,
		       const char *extra_headers, const char *body, size_t len)
{
	const char *reason = mg_get_response_code_text(conn, status);

	audit_before_reply(conn, status);

	if (status == 204) {
		mg_printf(conn,
			  "HTTP/1.1 204 %s\r\nCache-Control: no-store\r\n"
			  "%s\r\n",
			  reason, extra_headers ? extra_headers : "");
		return;
	}
	mg_printf(conn,
		  "HTTP/1.1 %d %s\r\n"
		  "Content-Type: application/json\r\n"
		  "Content-Length: %zu\r\n"
		  "Cache-Control: no-store\r\n"
		  "%s\r\n",
		  status, reason, len, extra_headers ? extra_headers : "");
	if (len)
		mg_write(conn, body, len);
}

static int send_json(struct mg_connection *conn, int status,
		     const char *extra_headers, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	if (!text)
		return rest_send_error(conn, 500, "internal", NULL,
				       "cannot encode the reply");
	send_reply(conn, status, extra_headers, text, strlen(text));
	free(text);
	return status;
}

static const char *status_code_name(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 409: return "conflict";
	case 413: return "payload_too_large";
	default: return status < 500 ? "bad_request" : "internal";
	}
}

int rest_send_error(struct mg_connection *conn, int status, const char *code,
		    const char *extra_headers, const char *fmt, ...)
{
	char msg[600];
	json_t *body;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	body = json_pack("{s:{s:s,s:s}}", "error", "code",
			 code ? code : status_code_name(status), "message",
			 msg);
	if (!body) {
		/* Not UTF-8 (a path or name from the client): keep ASCII. */
		char *p;

		for (p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80 ||
			    (unsigned char)*p < 0x20)
				*p = '?';
		body = json_pack("{s:{s:s,s:s}}", "error", "code",
				 code ? code : status_code_name(status),
				 "message", msg);
	}
	if (!body) {
		send_reply(conn, status, extra_headers, "{}", 2);
		return status;
	}
	send_json(conn, status, extra_headers, body);
	json_decref(body);
	return status;
}

int rest_send_daemon_error(struct mg_connection *conn, int rc, const char *msg)
{
	const char *code = NULL;
	int status = daemon_http_status(rc, &code);

	if (status < 400 || status > 599)
		status = 500;
	return rest_send_error(conn, status, code, NULL, "%s",
			       msg && msg[0] ? msg : strerror(-rc));
}

/* civetweb's own errors (unparsable request, WebSocket to a non-console
 * path, ...) get the same JSON body as ours. */
int rest_on_http_error(struct mg_connection *conn, int status, const char *msg)
{
	if (status < 400)
		return 1;
	rest_send_error(conn, status, NULL, "Connection: close\r\n", "%s",
			msg ? msg : "error");
	return 0;
}

int rest_on_log_message(const struct mg_connection *conn, const char *msg)
{
	log_debug("api", "civetweb: %s", msg);
	return 1;
}

/* ---- authentication ------------------------------------------------------ */

/* A browser's WebSocket cannot send Authorization: it offers the token
 * as the subprotocol "bearer.<token>" (docs/api.md "Console WebSocket").
 * Returns "Bearer <token>" in buf, or NULL. */
static const char *subprotocol_token(struct mg_connection *conn, char *buf,
				     size_t size)
{
	const char *p = mg_get_header(conn, "Sec-WebSocket-Protocol");

	while (p && *p) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if (n > 7 && !strncmp(p, "bearer.", 7) && n - 7 + 8 < size) {
			snprintf(buf, size, "Bearer %.*s", (int)(n - 7), p + 7);
			return buf;
		}
		p += n;
	}
	return NULL;
}

int rest_authenticate(struct rest *r, struct mg_connection *conn, char *actor,
		      size_t actor_size, bool *tcp, struct grant *grant)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *auth;
	char bearer[REST_TOKEN_MAX + 8];
	struct error err = { 0 };

	grant_admin(grant);
	auth = mg_get_header(conn, "Authorization");
	if (!auth)
		auth = subprotocol_token(conn, bearer, sizeof(bearer));
	if (!ri->is_ssl && !ri->remote_addr[0]) {
		*tcp = false;
		snprintf(actor, actor_size, "unix");
		/* a token on the socket: the caller asks for its rights
		 * (a tool that runs with less than the socket's owner) */
		if (!auth)
			return 0;
	} else if (ri->is_ssl || strcmp(ri->remote_addr, "127.0.0.1") != 0 ||
		   !tls_proxy_owns(r->tls, (unsigned)ri->remote_port)) {
		return rest_send_error(conn, 403, "forbidden", NULL,
				       "plain HTTP is not served: use the unix "
				       "socket or TLS (--listen)");
	} else {
		*tcp = true;
	}
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7])
		return rest_send_error(
			conn, 401, "unauthorized",
			"WWW-Authenticate: Bearer "
			"realm=\"softvisor\"\r\n",
			"Authorization: Bearer <token> required");
	auth += 7;
	while (*auth == ' ')
		auth++;
	if (daemon_token_verify(r->d, auth, actor, actor_size, grant, &err) < 0)
		return rest_send_error(conn, 401, "unauthorized",
				       "WWW-Authenticate: Bearer "
				       "realm=\"softvisor\", "
				       "error=\"invalid_token\"\r\n",
				       "invalid or revoked token");
	return 0;
}

/* ---- routes -------------------------------------------------------------- */

struct req {
	struct rest *r;
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	const char *actor;
	bool tcp;
	const char *arg[2]; /* the path's "*" segments */
	char *body;	    /* NUL-terminated, NULL when empty */
	int action;	    /* enum daemon_action for action routes */
	json_t *out;
	char headers[400]; /* extra reply headers (Location) */
	struct error err;
	struct rest_audit_info *audit; /* handlers may set its target */
	struct grant grant;	       /* what the client may do */
	int status;		       /* success status; 0: the route's */
};

enum {
	ROUTE_BODY = 1 << 0,	  /* read the request body */
	ROUTE_UNIX_ONLY = 1 << 1, /* refused over TCP (token routes) */
	ROUTE_RAW = 1 << 2,	  /* fn sends its own reply, returns status */
};

struct route {
	const char *method;
	const char *path; /* "*" matches one segment */
	int status;	  /* on success */
	unsigned flags;
	int action;
	int (*fn)(struct req *q);
	const char *audit; /* audit log action; NULL: not recorded (reads) */
	unsigned perm;	   /* enum grant_perm the client needs */
	/* A VM-scoped client sees only its VMs of the reply: the objects of
	 * array out[filter] ("": out itself) whose filter_key names one. */
	const char *filter, *filter_key;
};

static int h_vm_list(struct req *q)
{
	const char *qs = q->ri->query_string ? q->ri->query_string : "";
	char view[16];
	int n = mg_get_var(qs, strlen(qs), "view", view, sizeof(view));

	if (n == -1 || (n >= 0 && !strcmp(view, "full")))
		return daemon_vm_list(q->r->d, &q->out, &q->err);
	if (n >= 0 && !strcmp(view, "summary")) /* the web console's list */
		return daemon_vm_summary(q->r->d, &q->out, &q->err);
	return error_set(&q->err, EINVAL, "view: expected full or summary");
}

static void set_location(struct req *q, const char *prefix, const char *id)
{
	snprintf(q->headers, sizeof(q->headers), "Location: %s%s\r\n", prefix,
		 id);
}

static int h_vm_create(struct req *q)
{
	bool task = false;
	int rc = daemon_vm_create_api(q->r->d, q->actor, q->body ? q->body : "",
				      &q->out, &task, &q->err);
	const char *name;

	if (rc == 0 && task) {
		/* disks made from images: 202 and the task (docs/api.yaml) */
		q->status = 202;
		snprintf(q->headers, sizeof(q->headers),
			 "Location: /v1/tasks/%" JSON_INTEGER_FORMAT "\r\n",
			 json_integer_value(json_object_get(q->out, "id")));
		snprintf(q->audit->target, sizeof(q->audit->target), "%s",
			 json_string_value(json_object_get(q->out, "vm")));
	} else if (rc == 0 && (name = json_string_value(
				       json_object_get(q->out, "name")))) {
		set_location(q, "/v1/vms/", name);
		snprintf(q->audit->target, sizeof(q->audit->target), "%s",
			 name);
	} else if (rc < 0 && q->body) {
		json_t *in = json_loads(q->body, 0, NULL);

		name = json_string_value(json_object_get(in, "name"));
		snprintf(q->audit->target, sizeof(q->audit->target), "%s",
			 name ? name : "");
		json_decref(in);
	}
	return rc;
}

static int h_vm_get(struct req *q)
{
	return daemon_vm_get(q->r->d, q->arg[0], &q->out, &q->err);
}

static int h_vm_patch(struct req *q)
{
	return daemon_vm_patch(q->r->d, q->actor, q->arg[0],
			       q->body ? q->body : "", &q->out, &q->err);
}

static int h_vm_delete(struct req *q)
{
	return daemon_vm_delete(q->r->d, q->actor, q->arg[0], &q->err);
}

static int h_vm_action(struct req *q)
{
	int rc = daemon_vm_action(q->r->d, q->actor, q->arg[0],
				  (enum daemon_action)q->action, q->body,
				  &q->out, &q->err);
	char id[32];

	/* Server-Timing (W3C): how long the guest has been running again
	 * when the reply leaves; the source of a live migration takes it
	 * out of the downtime it measures (daemon_migrate.c) */
	uint64_t ns = rc == 0 && q->action == DAEMON_RESUME
			      ? daemon_vm_resumed_for_ns(q->r->d, q->arg[0])
			      : 0;
	if (ns)
		snprintf(q->headers, sizeof(q->headers),
			 "Server-Timing: running;desc=\"guest running\";"
			 "dur=%.3f\r\n",
			 ns / 1e6);
	if (rc == 0 && q->action == DAEMON_SHUTDOWN &&
	    json_is_integer(json_object_get(q->out, "id"))) {
		snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(q->out, "id")));
		set_location(q, "/v1/tasks/", id);
	}
	return rc;
}

static int h_vm_stats(struct req *q)
{
	return daemon_vm_stats(q->r->d, q->arg[0], &q->out, &q->err);
}

static int h_vm_console(struct req *q)
{
	return error_set(&q->err, EINVAL,
			 "console: a WebSocket upgrade is required "
			 "(GET with Upgrade: websocket)");
}

/* snapshots, templates, clones: rest_snapshot.c */
static int h_storage(struct req *q)
{
	return rest_storage_call(q->r->d, q->action, q->actor, q->arg, q->body,
				 &q->out, q->headers, sizeof(q->headers),
				 &q->err);
}

static int h_host(struct req *q)
{
	return daemon_host_info(q->r->d, &q->out, &q->err);
}

static int h_host_patch(struct req *q)
{
	return daemon_host_patch(q->r->d, q->actor, q->body, &q->out, &q->err);
}

static int h_host_stats(struct req *q)
{
	return daemon_host_stats(q->r->d, &q->out, &q->err);
}

static int h_host_disks(struct req *q)
{
	return daemon_host_disks(q->r->d, &q->out, &q->err);
}

/* A decimal integer >= 0 (query parameters, task ids). */
static int parse_u64(const char *s, int64_t max, int64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > (unsigned long long)max)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* The query parameter "vm" into vm (size bytes; "" when absent). */
static int query_vm(struct req *q, char *vm, size_t size)
{
	const char *qs = q->ri->query_string ? q->ri->query_string : "";
	int n = mg_get_var(qs, strlen(qs), "vm", vm, size);

	if (n == -2)
		return error_set(&q->err, EINVAL, "vm: too long");
	if (n == -1)
		vm[0] = '\0';
	return 0;
}

/* The integer query parameter name, 0..max, into *out (kept when absent);
 * what says what is expected, for the error. */
static int query_uint(struct req *q, const char *name, int64_t max,
		      const char *what, int64_t *out)
{
	const char *qs = q->ri->query_string ? q->ri->query_string : "";
	char buf[32];
	int n = mg_get_var(qs, strlen(qs), name, buf, sizeof(buf));

	if (n != -1 && (n < 0 || parse_u64(buf, max, out) < 0))
		return error_set(&q->err, EINVAL, "%s: expected %s", name,
				 what);
	return 0;
}

static int h_events(struct req *q)
{
	char vm[256];
	int64_t after = 0, limit = 0;

	if (query_vm(q, vm, sizeof(vm)) ||
	    query_uint(q, "after", INT64_MAX, "an event id (integer >= 0)",
		       &after) ||
	    query_uint(q, "limit", 100000,
		       "an integer 0..100000 (0: the default, 100)", &limit))
		return -EINVAL;
	return daemon_event_list(q->r->d, vm[0] ? vm : NULL, after,
				 (unsigned)limit, &q->out, &q->err);
}

/* POST /v1/migrations/incoming (rest_migrate.c): a streamed body */
static int h_migrate_in(struct req *q)
{
	return rest_migrate_in(q->r, q->conn, q->actor, q->audit->target,
			       sizeof(q->audit->target));
}

int rest_send_json(struct mg_connection *conn, int status, json_t *obj)
{
	return send_json(conn, status, NULL, obj);
}

static int h_events_stream(struct req *q)
{
	return rest_events_stream(q->r, q->conn, q->actor, &q->grant);
}

static int h_audit(struct req *q)
{
	char vm[256];
	int64_t since = 0, limit = 0;

	if (query_vm(q, vm, sizeof(vm)) ||
	    query_uint(q, "since", INT64_MAX,
		       "a time in ms since the epoch (integer >= 0)", &since) ||
	    query_uint(q, "limit", 10000,
		       "an integer 0..10000 (0: the default, 100)", &limit))
		return -EINVAL;
	return daemon_audit_list(q->r->d, since, vm[0] ? vm : NULL,
				 (unsigned)limit, &q->out, &q->err);
}

static int h_task_list(struct req *q)
{
	return daemon_task_list(q->r->d, &q->out, &q->err);
}

static int h_task_get(struct req *q)
{
	int64_t id;

	if (parse_u64(q->arg[0], INT64_MAX, &id) < 0)
		return error_set(&q->err, ENOENT, "task %s: no such task",
				 q->arg[0]);
	return daemon_task_get(q->r->d, id, &q->out, &q->err);
}

static int h_token_create(struct req *q)
{
	json_error_t jerr;
	json_t *in = q->body ? json_loads(q->body, 0, &jerr) : NULL;
	struct daemon_token_spec spec = {
		.name = json_string_value(json_object_get(in, "name")),
	};
	json_t *exp = json_object_get(in, "expires_in_s");
	int rc;

	if (!spec.name) {
		json_decref(in);
		return error_set(&q->err, EINVAL,
				 "name: required (a JSON object "
				 "{\"name\": \"ci\"})");
	}
	snprintf(q->audit->target, sizeof(q->audit->target), "%s", spec.name);
	rc = grant_from_json(in, &spec.grant, &q->err);
	if (!rc && exp && !json_is_null(exp)) {
		json_int_t s = json_integer_value(exp);

		if (!json_is_integer(exp) || s <= 0 || s > 100LL * 366 * 86400)
			rc = error_set(&q->err, EINVAL,
				       "expires_in_s: expected seconds, "
				       "1..%lld",
				       100LL * 366 * 86400);
		else
			spec.expires_ms = rest_now_ms() + (int64_t)s * 1000;
	}
	if (!rc)
		rc = daemon_token_create(q->r->d, q->actor, &spec, &q->out,
					 &q->err);
	if (rc == 0)
		set_location(q, "/v1/tokens/", spec.name);
	json_decref(in);
	return rc;
}

static int h_token_list(struct req *q)
{
	return daemon_token_list(q->r->d, &q->out, &q->err);
}

static int h_token_revoke(struct req *q)
{
	return daemon_token_revoke(q->r->d, q->actor, q->arg[0], &q->err);
}

/* virtual switches (daemon_switch.h) */
static int h_switch_list(struct req *q)
{
	return daemon_switch_list(q->r->d, &q->out, &q->err);
}

static int h_switch_create(struct req *q)
{
	int rc = daemon_switch_create(q->r->d, q->actor, q->body, &q->out,
				      &q->err);
	const char *name = json_string_value(json_object_get(q->out, "name"));

	if (rc == 0 && name) {
		set_location(q, "/v1/switches/", name);
		snprintf(q->audit->target, sizeof(q->audit->target), "%s",
			 name);
	}
	return rc;
}

static int h_switch_get(struct req *q)
{
	return daemon_switch_get(q->r->d, q->arg[0], &q->out, &q->err);
}

static int h_switch_delete(struct req *q)
{
	snprintf(q->audit->target, sizeof(q->audit->target), "%s", q->arg[0]);
	return daemon_switch_delete(q->r->d, q->actor, q->arg[0], &q->err);
}

static int h_switch_pg_set(struct req *q)
{
	snprintf(q->audit->target, sizeof(q->audit->target), "%s", q->arg[0]);
	return daemon_switch_portgroup_set(q->r->d, q->actor, q->arg[0],
					   q->body, &q->out, &q->err);
}

static int h_switch_pg_delete(struct req *q)
{
	snprintf(q->audit->target, sizeof(q->audit->target), "%s", q->arg[0]);
	return daemon_switch_portgroup_delete(q->r->d, q->actor, q->arg[0],
					      q->arg[1], &q->err);
}

static int h_metrics(struct req *q)
{
	return rest_metrics_reply(q->r, q->conn, &q->grant);
}

/* The API (docs/api.yaml). Keep both in step: a unit test checks that
 * every path and method of the document is served. */
static const struct route routes[] = {
	{ "GET", "/v1/vms", 200, 0, 0, h_vm_list, NULL, GRANT_READ, "vms",
	  "name" },
	{ "POST", "/v1/vms", 201, ROUTE_BODY, 0, h_vm_create, "vm.create",
	  GRANT_CONFIGURE },
	{ "GET", "/v1/vms/*", 200, 0, 0, h_vm_get, NULL, GRANT_READ },
	{ "PATCH", "/v1/vms/*", 200, ROUTE_BODY, 0, h_vm_patch, "vm.edit",
	  GRANT_CONFIGURE },
	{ "DELETE", "/v1/vms/*", 204, 0, 0, h_vm_delete, "vm.delete",
	  GRANT_CONFIGURE },
	{ "POST", "/v1/vms/*/start", 200, ROUTE_BODY, DAEMON_START, h_vm_action,
	  "vm.start", GRANT_POWER },
	{ "POST", "/v1/vms/*/stop", 200, ROUTE_BODY, DAEMON_STOP, h_vm_action,
	  "vm.stop", GRANT_POWER },
	{ "POST", "/v1/vms/*/shutdown", 202, ROUTE_BODY, DAEMON_SHUTDOWN,
	  h_vm_action, "vm.shutdown", GRANT_POWER },
	{ "POST", "/v1/vms/*/pause", 200, ROUTE_BODY, DAEMON_PAUSE, h_vm_action,
	  "vm.pause", GRANT_POWER },
	{ "POST", "/v1/vms/*/resume", 200, ROUTE_BODY, DAEMON_RESUME,
	  h_vm_action, "vm.resume", GRANT_POWER },
	{ "POST", "/v1/vms/*/reset", 200, ROUTE_BODY, DAEMON_RESET, h_vm_action,
	  "vm.reset", GRANT_POWER },
	{ "POST", "/v1/vms/*/suspend", 200, ROUTE_BODY, DAEMON_SUSPEND,
	  h_vm_action, "vm.suspend", GRANT_POWER },
	{ "POST", "/v1/vms/*/announce", 200, ROUTE_BODY, DAEMON_ANNOUNCE,
	  h_vm_action, "vm.announce", GRANT_POWER },
	{ "POST", "/v1/vms/*/migrate", 202, ROUTE_BODY, DAEMON_MIGRATE,
	  h_vm_action, "vm.migrate", GRANT_CONFIGURE },
	{ "POST", "/v1/migrations/incoming", 200, ROUTE_RAW, 0, h_migrate_in,
	  "vm.migrate-in", GRANT_CONFIGURE },
	{ "GET", "/v1/vms/*/stats", 200, 0, 0, h_vm_stats, NULL, GRANT_READ },
	{ "GET", "/v1/vms/*/console", 101, 0, 0, h_vm_console, NULL,
	  GRANT_READ },
	{ "GET", "/v1/vms/*/snapshots", 200, 0, REST_SNAP_LIST, h_storage, NULL,
	  GRANT_READ },
	{ "POST", "/v1/vms/*/snapshots", 201, ROUTE_BODY, REST_SNAP_CREATE,
	  h_storage, "vm.snapshot.create", GRANT_CONFIGURE },
	{ "GET", "/v1/vms/*/snapshots/*", 200, 0, REST_SNAP_GET, h_storage,
	  NULL, GRANT_READ },
	{ "DELETE", "/v1/vms/*/snapshots/*", 204, 0, REST_SNAP_DELETE,
	  h_storage, "vm.snapshot.delete", GRANT_CONFIGURE },
	{ "POST", "/v1/vms/*/snapshots/*/revert", 200, ROUTE_BODY,
	  REST_SNAP_REVERT, h_storage, "vm.snapshot.revert", GRANT_CONFIGURE },
	{ "POST", "/v1/vms/*/template", 200, ROUTE_BODY, REST_VM_TEMPLATE,
	  h_storage, "vm.template", GRANT_CONFIGURE },
	{ "POST", "/v1/vms/*/clone", 202, ROUTE_BODY, REST_VM_CLONE, h_storage,
	  "vm.clone", GRANT_CONFIGURE },
	{ "GET", "/v1/host", 200, 0, 0, h_host, NULL, GRANT_READ },
	{ "PATCH", "/v1/host", 200, ROUTE_BODY, 0, h_host_patch, "host.edit",
	  GRANT_CONFIGURE },
	{ "GET", "/v1/host/stats", 200, 0, 0, h_host_stats, NULL, GRANT_READ,
	  "vms", "vm" },
	{ "GET", "/v1/host/disks", 200, 0, 0, h_host_disks, NULL, GRANT_READ,
	  "disks", "vm" },
	{ "GET", "/v1/events", 200, 0, 0, h_events, NULL, GRANT_READ, "events",
	  "vm" },
	{ "GET", "/v1/events/stream", 200, ROUTE_RAW, 0, h_events_stream, NULL,
	  GRANT_READ },
	{ "GET", "/v1/audit", 200, 0, 0, h_audit, NULL, GRANT_AUDIT, "audit",
	  "target" },
	{ "GET", "/v1/tasks", 200, 0, 0, h_task_list, NULL, GRANT_READ, "tasks",
	  "vm" },
	{ "GET", "/v1/tasks/*", 200, 0, 0, h_task_get, NULL, GRANT_READ, "",
	  "vm" },
	{ "POST", "/v1/tokens", 201, ROUTE_BODY | ROUTE_UNIX_ONLY, 0,
	  h_token_create, "token.create", GRANT_CONFIGURE },
	{ "GET", "/v1/tokens", 200, ROUTE_UNIX_ONLY, 0, h_token_list, NULL,
	  GRANT_CONFIGURE },
	{ "DELETE", "/v1/tokens/*", 204, ROUTE_UNIX_ONLY, 0, h_token_revoke,
	  "token.revoke", GRANT_CONFIGURE },
	{ "GET", "/metrics", 200, ROUTE_RAW, 0, h_metrics, NULL, GRANT_READ },
	{ "GET", "/v1/switches", 200, 0, 0, h_switch_list, NULL, GRANT_READ },
	{ "POST", "/v1/switches", 201, ROUTE_BODY, 0, h_switch_create,
	  "switch.create", GRANT_CONFIGURE },
	{ "GET", "/v1/switches/*", 200, 0, 0, h_switch_get, NULL, GRANT_READ },
	{ "DELETE", "/v1/switches/*", 204, 0, 0, h_switch_delete,
	  "switch.delete", GRANT_CONFIGURE },
	{ "POST", "/v1/switches/*/portgroups", 200, ROUTE_BODY, 0,
	  h_switch_pg_set, "switch.portgroup.set", GRANT_CONFIGURE },
	{ "DELETE", "/v1/switches/*/portgroups/*", 204, 0, 0,
	  h_switch_pg_delete, "switch.portgroup.delete", GRANT_CONFIGURE },
};

/* Match the split request path against a route pattern; fill args. */
static bool route_match(const char *pattern, char **segs, int nsegs,
			const char **args)
{
	char pat[64], *save = NULL, *p;
	int i = 0, na = 0;

	snprintf(pat, sizeof(pat), "%s", pattern);
	for (p = strtok_r(pat, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (i >= nsegs)
			return false;
		if (strcmp(p, "*") == 0) {
			if (na < 2)
				args[na++] = segs[i];
		} else if (strcmp(p, segs[i]) != 0) {
			return false;
		}
		i++;
	}
	return i == nsegs;
}

/* Read the body into q->body (NUL-terminated). Returns 0 or a status
 * already sent. */
static int read_body(struct req *q)
{
	long long cl = q->ri->content_length;
	size_t cap, len = 0;
	char *buf;
	int n;

	if (cl > (long long)REST_MAX_BODY)
		return rest_send_error(q->conn, 413, "payload_too_large",
				       "Connection: close\r\n",
				       "request body over %u bytes",
				       REST_MAX_BODY);
	if (cl == 0)
		return 0;
	cap = cl > 0 ? (size_t)cl + 1 : 65536;
	buf = malloc(cap);
	if (!buf)
		return rest_send_error(q->conn, 500, "internal", NULL,
				       "out of memory");
	for (;;) {
		if (len + 1 >= cap) {
			char *nb;

			if (cap > REST_MAX_BODY + 1) {
				free(buf);
				return rest_send_error(
					q->conn, 413, "payload_too_large",
					"Connection: close\r\n",
					"request body over %u bytes",
					REST_MAX_BODY);
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return rest_send_error(q->conn, 500, "internal",
						       NULL, "out of memory");
			}
			buf = nb;
		}
		n = mg_read(q->conn, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (len > REST_MAX_BODY) {
		free(buf);
		return rest_send_error(q->conn, 413, "payload_too_large",
				       "Connection: close\r\n",
				       "request body over %u bytes",
				       REST_MAX_BODY);
	}
	buf[len] = '\0';
	if (!len) {
		free(buf);
		return 0;
	}
	q->body = buf;
	return 0;
}

/* May the client make this call (docs/api.md "Roles and scoped
 * tokens")? body NULL: before the body is read (role, VM in the path,
 * query); else what the body names (the VM a create would make). Returns
 * 0 or the status of the 403 sent. */
static int check_grant(struct req *q, const struct route *rt, const char *body)
{
	const struct grant *g = &q->grant;
	char name[GRANT_NAME_MAX];

	/* switches are host-wide: a token limited to VMs may only read */
	if (g->n_vms && rt->audit && !strncmp(rt->path, "/v1/switches", 12))
		return rest_send_error(q->conn, 403, "forbidden", NULL,
				       "%s is limited to some VMs: virtual "
				       "switches are host-wide",
				       q->actor);
	if (!body) {
		if (!grant_has(g, rt->perm))
			return rest_refuse_role(q->conn, q->actor, g, rt->perm);
		if (!g->n_vms)
			return 0;
		if (q->arg[0] && !strncmp(rt->path, "/v1/vms/*", 9)) {
			/* by name, also when the path gives its id */
			if (daemon_vm_name(q->r->d, q->arg[0], name,
					   sizeof(name)) < 0)
				snprintf(name, sizeof(name), "%s", q->arg[0]);
			if (!grant_vm(g, name))
				return rest_refuse_vm(q->conn, q->actor, g,
						      name);
		}
		if (rt->fn == h_events) {
			const char *qs = q->ri->query_string
						 ? q->ri->query_string
						 : "";

			if (mg_get_var(qs, strlen(qs), "vm", name,
				       sizeof(name)) > 0 &&
			    !grant_vm(g, name))
				return rest_refuse_vm(q->conn, q->actor, g,
						      name);
		}
		return 0;
	}
	/* a create, or a rename, must name a VM of the scope */
	if (g->n_vms &&
	    (rt->fn == h_vm_create || rt->fn == h_vm_patch ||
	     (rt->fn == h_storage && rt->action == REST_VM_CLONE))) {
		json_t *in = json_loads(body, 0, NULL);
		const char *vm = json_string_value(json_object_get(in, "name"));
		int st = 0;

		if (vm && !grant_vm(g, vm))
			st = rest_refuse_vm(q->conn, q->actor, g, vm);
		json_decref(in);
		return st;
	}
	return 0;
}

static int run_route(struct req *q, const struct route *rt)
{
	int rc;

	if ((rt->flags & ROUTE_UNIX_ONLY) &&
	    (q->tcp || !strncmp(q->actor, "token:", 6)))
		return rest_send_error(q->conn, 403, "forbidden", NULL,
				       "tokens are managed over the unix "
				       "socket only, by its owner (no token)");
	rc = check_grant(q, rt, NULL);
	if (rc)
		return rc;
	if (rt->flags & ROUTE_BODY) {
		rc = read_body(q);
		if (rc)
			return rc;
		rc = check_grant(q, rt, q->body);
		if (rc) {
			free(q->body);
			q->body = NULL;
			return rc;
		}
	}
	q->action = rt->action;
	if (rt->flags & ROUTE_RAW)
		return rt->fn(q);
	rc = rt->fn(q);
	free(q->body);
	q->body = NULL;
	if (rc < 0) {
		json_decref(q->out);
		return rest_send_daemon_error(q->conn, rc, q->err.msg);
	}
	if (rt->status == 204) {
		json_decref(q->out);
		send_reply(q->conn, 204, q->headers, NULL, 0);
		return 204;
	}
	if (!q->out)
		return rest_send_error(q->conn, 500, "internal", NULL,
				       "the daemon returned no result");
	if (q->grant.n_vms && rt->filter) {
		if (rt->filter[0]) {
			rest_grant_filter(&q->grant,
					  json_object_get(q->out, rt->filter),
					  rt->filter_key);
		} else if (!rest_grant_keeps(&q->grant, q->out,
					     rt->filter_key)) {
			const char *vm = json_string_value(
				json_object_get(q->out, rt->filter_key));

			json_decref(q->out);
			return rest_refuse_vm(q->conn, q->actor, &q->grant,
					      vm ? vm : "");
		}
	}
	rc = send_json(q->conn, q->status ? q->status : rt->status, q->headers,
		       q->out);
	json_decref(q->out);
	return rc;
}

/* The route of the request's path and method (NULL: none; allow then
 * lists the methods the path has). Pure: sends nothing. */
static const struct route *find_route(const char *uri, const char *method,
				      char *path, const char **args,
				      char *allow, size_t allow_size,
				      bool *path_ok)
{
	char *segs[REST_MAX_SEGS], *save = NULL, *s;
	int nsegs = 0;

	*path_ok = false;
	if (strlen(uri) >= REST_PATH_MAX)
		return NULL;
	strcpy(path, uri);
	for (s = strtok_r(path, "/", &save); s;
	     s = strtok_r(NULL, "/", &save)) {
		if (nsegs == REST_MAX_SEGS)
			return NULL;
		segs[nsegs++] = s;
	}
	*path_ok = true;
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		const char *a[2] = { NULL, NULL };

		if (!route_match(routes[i].path, segs, nsegs, a))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			args[0] = a[0];
			args[1] = a[1];
			return &routes[i];
		}
		if (!strstr(allow, routes[i].method))
			snprintf(allow + strlen(allow),
				 allow_size - strlen(allow), "%s%s",
				 allow[0] ? ", " : "", routes[i].method);
	}
	return NULL;
}

static bool method_changes(const char *method)
{
	return strcmp(method, "GET") && strcmp(method, "HEAD") &&
	       strcmp(method, "OPTIONS");
}

static int rest_dispatch(struct mg_connection *conn, struct rest *r,
			 struct rest_audit_info *ai)
{
	struct req q = { .r = r, .conn = conn, .audit = ai };
	char path[REST_PATH_MAX], allow[128] = "";
	const char *args[2] = { NULL, NULL };
	const struct route *rt;
	bool path_ok;
	int st;

	q.ri = mg_get_request_info(conn);
	/* what to audit is known before authentication, so that refused
	 * attempts are recorded too */
	rt = find_route(q.ri->local_uri, q.ri->request_method, path, args,
			allow, sizeof(allow), &path_ok);
	if (rt && rt->audit) {
		ai->action = rt->audit;
		if (args[0])
			snprintf(ai->target, sizeof(ai->target), "%s", args[0]);
	} else if (!rt && method_changes(q.ri->request_method)) {
		ai->action = "unknown"; /* the path is not echoed */
	}

	st = rest_authenticate(r, conn, ai->actor, sizeof(ai->actor), &q.tcp,
			       &q.grant);
	if (st)
		return st;
	ai->authenticated = true;
	ai->tcp = q.tcp;
	ai->token_id = q.grant.token_id;
	q.actor = ai->actor;

	if (!path_ok)
		return rest_send_error(
			conn, 404, "not_found", NULL, "%s: no such resource",
			strlen(q.ri->local_uri) < 200 ? q.ri->local_uri
						      : "path");
	if (rt) {
		/* a VM named by its id is recorded by its name */
		if (rt->audit && !strncmp(rt->audit, "vm.", 3) && args[0])
			daemon_vm_name(r->d, args[0], ai->target,
				       sizeof(ai->target));
		q.arg[0] = args[0];
		q.arg[1] = args[1];
		return run_route(&q, rt);
	}
	if (allow[0]) {
		char hdr[160];

		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
		return rest_send_error(conn, 405, "method_not_allowed", hdr,
				       "%s %s: method not allowed (allowed: "
				       "%s)",
				       q.ri->request_method, q.ri->local_uri,
				       allow);
	}
	return rest_send_error(conn, 404, "not_found", NULL,
			       "%s: no such resource", q.ri->local_uri);
}

bool rest_trusted_transport(struct rest *r, const struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(
		(struct mg_connection *)conn);

	if (!ri->is_ssl && !ri->remote_addr[0])
		return true; /* the unix socket */
	return !ri->is_ssl && strcmp(ri->remote_addr, "127.0.0.1") == 0 &&
	       tls_proxy_owns(r->tls, (unsigned)ri->remote_port);
}

int rest_handler(struct mg_connection *conn, void *cbdata)
{
	struct rest_audit_info ai = { 0 };
	int st;

	st = rest_web_serve(cbdata, conn);
	if (st) {
		rest_count_reply(cbdata, st);
		return st;
	}
	tl_rest = cbdata;
	tl_audit = &ai;
	st = rest_dispatch(conn, cbdata, &ai);
	audit_before_reply(conn, st); /* a reply not sent by send_reply */
	tl_audit = NULL;
	rest_count_reply(cbdata, st);
	return st;
}
