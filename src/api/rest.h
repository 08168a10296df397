/*
 * The daemon's REST/JSON API server (routes: docs/api.yaml; transport and
 * authentication: docs/api.md). A thin HTTP mapping over src/api/daemon.h,
 * served by civetweb on a unix socket (trusted, actor "unix") and, with
 * --listen, on TLS over TCP (bearer tokens).
 *
 *   struct rest_config cfg = {.socket_path = path, .state_dir = dir};
 *   if (rest_start(daemon, &cfg, &rest, &err) < 0) ...
 *   ...
 *   rest_stop(rest);           before daemon_close()
 *
 * Threads: requests run on civetweb's worker threads (REST_THREADS) and
 * call the daemon concurrently; the daemon serializes per VM. Each console
 * viewer holds one worker thread and one sender thread while attached.
 * rest_start/rest_stop are called from one thread (the daemon's main).
 * Ownership: the daemon must outlive the server; cfg strings are copied.
 */
#ifndef SV_API_REST_H
#define SV_API_REST_H

#include <stddef.h>

#include "api/daemon.h"
#include "util/error.h"

#define REST_MAX_BODY (1u << 20) /* larger request bodies: 413 */
#define REST_THREADS  "48"	 /* civetweb worker threads */

struct rest;

struct rest_config {
	const char *socket_path; /* unix socket (required) */
	const char *listen;	 /* "ADDR:PORT" for TLS, or NULL */
	const char *tls_cert;	 /* PEM certificate chain; NULL: generate */
	const char *tls_key;	 /* PEM key; NULL: in tls_cert */
	const char *state_dir;	 /* <state_dir>/tls/server.pem */
};

/* The default socket path: /run/softvisor/api.sock for root, else
 * $XDG_RUNTIME_DIR/softvisor/api.sock, else /tmp/softvisor-$UID/api.sock.
 * Returns 0, or -ENAMETOOLONG. */
int rest_default_socket_path(char *buf, size_t size);

/* Listen and serve. Fails with -EADDRINUSE if another daemon answers on
 * the socket (a stale socket file is replaced), -EINVAL for a bad --listen
 * or certificate. */
int rest_start(struct daemon *d, const struct rest_config *cfg,
	       struct rest **out, struct error *err);

/* Close every connection (console viewers are detached), wait for the
 * threads, remove the socket file. r may be NULL. */
void rest_stop(struct rest *r);

/* The TLS port actually bound (0 without --listen); for tests with
 * "127.0.0.1:0". */
unsigned rest_tls_port(const struct rest *r);

#endif
