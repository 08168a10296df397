/*
 * The console WebSocket /v1/vms/{vm}/console (RFC 6455; docs/api.md).
 *
 * Guest output arrives on the VM's vCPU/console threads through
 * daemon_console_ops.output and must never wait for the network: each
 * viewer has a bounded ring (REST_CONSOLE_RING) that drops its oldest bytes
 * when full, drained by a sender thread of its own. Input frames arrive on
 * the civetweb worker thread that owns the connection.
 *
 * Lifetime of a viewer: created and attached in the connect handler (so a
 * busy writer role or an unknown VM is an HTTP error before the upgrade),
 * sender started by the ready handler, destroyed by the close handler:
 * detach first (no callback after it), then stop and join the sender.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/rest_priv.h"
#include "util/log.h"

#define REST_CONSOLE_RING  (256 * 1024) /* > the 64 KiB scrollback */
#define REST_CONSOLE_CHUNK 16384
#define WS_CLOSE_NORMAL	   1000 /* RFC 6455 7.4.1 */
#define WS_CLOSE_ERROR	   1011

struct viewer {
	struct rest *r;
	struct mg_connection *conn;
	struct daemon_console *console;
	bool writer;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *ring;
	size_t head, len; /* ring[head .. head+len) mod size */
	uint64_t dropped;
	bool eof;	 /* the VM stopped: close after the ring drains */
	bool stop;	 /* the connection is going away */
	bool close_sent; /* our close frame is out */
	bool sender_running;
	pthread_t sender;
};

static void on_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct viewer *v = opaque;
	size_t tail, n;

	pthread_mutex_lock(&v->lock);
	if (len > REST_CONSOLE_RING) {
		v->dropped += len - REST_CONSOLE_RING;
		buf += len - REST_CONSOLE_RING;
		len = REST_CONSOLE_RING;
	}
	if (v->len + len > REST_CONSOLE_RING) {
		size_t drop = v->len + len - REST_CONSOLE_RING;

		v->head = (v->head + drop) % REST_CONSOLE_RING;
		v->len -= drop;
		v->dropped += drop;
	}
	while (len) {
		tail = (v->head + v->len) % REST_CONSOLE_RING;
		n = REST_CONSOLE_RING - tail;
		if (n > len)
			n = len;
		memcpy(v->ring + tail, buf, n);
		v->len += n;
		buf += n;
		len -= n;
	}
	pthread_cond_signal(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static void on_closed(void *opaque)
{
	struct viewer *v = opaque;

	pthread_mutex_lock(&v->lock);
	v->eof = true;
	pthread_cond_signal(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static void send_close(struct viewer *v, unsigned code)
{
	char payload[2] = { (char)(code >> 8), (char)(code & 0xff) };

	pthread_mutex_lock(&v->lock);
	if (v->close_sent) {
		pthread_mutex_unlock(&v->lock);
		return;
	}
	v->close_sent = true;
	pthread_mutex_unlock(&v->lock);
	mg_websocket_write(v->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE,
			   payload, sizeof(payload));
}

static void *sender_thread(void *arg)
{
	struct viewer *v = arg;
	char *chunk = malloc(REST_CONSOLE_CHUNK);

	if (!chunk) {
		send_close(v, WS_CLOSE_ERROR);
		return NULL;
	}
	for (;;) {
		size_t n, first;

		pthread_mutex_lock(&v->lock);
		while (!v->len && !v->eof && !v->stop)
			pthread_cond_wait(&v->cond, &v->lock);
		if (v->stop) {
			pthread_mutex_unlock(&v->lock);
			break;
		}
		if (!v->len) { /* eof and drained */
			pthread_mutex_unlock(&v->lock);
			send_close(v, WS_CLOSE_NORMAL);
			break;
		}
		n = v->len < REST_CONSOLE_CHUNK ? v->len : REST_CONSOLE_CHUNK;
		first = REST_CONSOLE_RING - v->head;
		if (first > n)
			first = n;
		memcpy(chunk, v->ring + v->head, first);
		memcpy(chunk + first, v->ring, n - first);
		v->head = (v->head + n) % REST_CONSOLE_RING;
		v->len -= n;
		pthread_mutex_unlock(&v->lock);
		if (mg_websocket_write(v->conn, MG_WEBSOCKET_OPCODE_BINARY,
				       chunk, n) <= 0)
			break;
	}
	free(chunk);
	return NULL;
}

static void viewer_free(struct viewer *v)
{
	pthread_mutex_destroy(&v->lock);
	pthread_cond_destroy(&v->cond);
	free(v->ring);
	free(v);
}

static void viewer_destroy(struct viewer *v)
{
	if (v->console)
		daemon_console_detach(v->console);
	pthread_mutex_lock(&v->lock);
	v->stop = true;
	pthread_cond_signal(&v->cond);
	pthread_mutex_unlock(&v->lock);
	if (v->sender_running)
		pthread_join(v->sender, NULL);
	if (v->dropped)
		log_debug("api", "console viewer dropped %llu bytes",
			  (unsigned long long)v->dropped);
	viewer_free(v);
}

/* "/v1/vms/<vm>/console" -> vm. */
static int vm_from_uri(const char *uri, char *vm, size_t size)
{
	const char *p = uri + strlen("/v1/vms/");
	const char *end = strchr(p, '/');
	size_t n;

	if (strncmp(uri, "/v1/vms/", 8) != 0 || !end ||
	    strcmp(end, "/console") != 0)
		return -1;
	n = (size_t)(end - p);
	if (!n || n >= size)
		return -1;
	memcpy(vm, p, n);
	vm[n] = '\0';
	return 0;
}

/* Record a writer's attach (or its refusal) in the audit log; returns 1,
 * the connect handler's "refused" (the reply is sent). */
static int console_audit(struct rest *r, const struct mg_connection *conn,
			 const struct rest_audit_info *ai, int status)
{
	if (ai->action)
		rest_audit_request(r, conn, ai, status);
	return 1;
}

static int ws_connect(const struct mg_connection *cconn, void *cbdata)
{
	/* civetweb hands us a const connection but expects a rejecting
	 * handler to have sent its own reply: we write the HTTP error. */
	struct mg_connection *conn = (struct mg_connection *)cconn;
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct daemon_console_ops ops = { .output = on_output,
					  .closed = on_closed };
	struct rest *r = cbdata;
	struct error err = { 0 };
	struct rest_audit_info ai = { 0 };
	char vm[256], w[8];
	const char *qs = ri->query_string ? ri->query_string : "";
	struct viewer *v;
	struct grant grant;
	bool tcp, writer;
	int rc;

	/* typing into a guest changes it: a writer's attach is audited */
	writer = mg_get_var(qs, strlen(qs), "write", w, sizeof(w)) > 0 &&
		 (strcmp(w, "1") == 0 || strcmp(w, "true") == 0);
	ai.action = writer ? "vm.console" : NULL;
	if (vm_from_uri(ri->local_uri, vm, sizeof(vm)) == 0 &&
	    daemon_vm_name(r->d, vm, ai.target, sizeof(ai.target)) < 0)
		snprintf(ai.target, sizeof(ai.target), "%.*s",
			 (int)sizeof(ai.target) - 1, vm);
	rc = rest_authenticate(r, conn, ai.actor, sizeof(ai.actor), &tcp,
			       &grant);
	if (rc)
		return console_audit(r, conn, &ai, rc);
	ai.authenticated = true;
	ai.tcp = tcp;
	ai.token_id = grant.token_id;
	if (vm_from_uri(ri->local_uri, vm, sizeof(vm)) < 0)
		return console_audit(
			r, conn, &ai,
			rest_send_error(conn, 404, "not_found", NULL,
					"%s: no such resource", ri->local_uri));
	/* viewing needs read, typing power (operator), both the VM in scope */
	if (!grant_has(&grant, writer ? GRANT_POWER : GRANT_READ))
		return console_audit(
			r, conn, &ai,
			rest_refuse_role(conn, ai.actor, &grant,
					 writer ? GRANT_POWER : GRANT_READ));
	if (!grant_vm(&grant, ai.target))
		return console_audit(
			r, conn, &ai,
			rest_refuse_vm(conn, ai.actor, &grant, ai.target));
	v = calloc(1, sizeof(*v));
	if (v)
		v->ring = malloc(REST_CONSOLE_RING);
	if (!v || !v->ring) {
		free(v);
		rest_send_error(conn, 500, "internal", NULL, "out of memory");
		return 1;
	}
	v->r = r;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	v->writer = writer;
	ops.opaque = v;
	rc = daemon_console_attach(r->d, vm, v->writer, &ops, &v->console,
				   &err);
	if (rc < 0) {
		viewer_free(v);
		return console_audit(r, conn, &ai,
				     rest_send_daemon_error(conn, rc, err.msg));
	}
	console_audit(r, conn, &ai, 101);
	log_debug("api", "console %s: %s attached%s", vm, ai.actor,
		  v->writer ? " as writer" : "");
	mg_set_user_connection_data(conn, v);
	return 0;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
	struct viewer *v = mg_get_user_connection_data(conn);

	if (!v)
		return;
	v->conn = conn;
	if (pthread_create(&v->sender, NULL, sender_thread, v) == 0)
		v->sender_running = true;
	else
		send_close(v, WS_CLOSE_ERROR);
}

static int ws_data(struct mg_connection *conn, int bits, char *data, size_t len,
		   void *cbdata)
{
	struct viewer *v = mg_get_user_connection_data(conn);
	int opcode = bits & 0xf;

	if (!v)
		return 0;
	switch (opcode) {
	case MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE:
		/* RFC 6455 5.5.1: answer a close with a close. */
		send_close(v, WS_CLOSE_NORMAL);
		return 0;
	case MG_WEBSOCKET_OPCODE_CONTINUATION:
	case MG_WEBSOCKET_OPCODE_TEXT:
	case MG_WEBSOCKET_OPCODE_BINARY:
		/* A viewer's keystrokes are ignored (contract). */
		if (v->writer && len)
			daemon_console_input(v->console, (const uint8_t *)data,
					     len);
		return 1;
	default: /* ping/pong: civetweb answers pings itself */ return 1;
	}
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
	struct viewer *v = mg_get_user_connection_data(conn);

	if (!v)
		return;
	mg_set_user_connection_data(conn, NULL);
	viewer_destroy(v);
}

void rest_console_connection_closed(const struct mg_connection *conn)
{
	struct viewer *v = mg_get_user_connection_data(conn);

	/* Only a failed handshake leaves a viewer here (the close handler
	 * clears it otherwise); its sender never started. */
	if (v) {
		mg_set_user_connection_data(conn, NULL);
		viewer_destroy(v);
	}
}

/* A browser cannot set headers on a WebSocket: it offers the protocols
 * "softvisor.console" and "bearer.<token>" (rest_authenticate reads the
 * token); the server answers with "softvisor.console" only, so the token
 * is never echoed. Clients that offer no protocol are served as before. */
static const char *ws_protocols[] = { "softvisor.console" };
static struct mg_websocket_subprotocols ws_subprotocols = {
	.nb_subprotocols = 1,
	.subprotocols = ws_protocols,
};

void rest_console_register(struct rest *r)
{
	mg_set_websocket_handler_with_subprotocols(
		r->ctx, "/v1/vms/*/console", &ws_subprotocols, ws_connect,
		ws_ready, ws_data, ws_close, r);
}
