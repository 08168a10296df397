/*
 * The CLI's client of the daemon's REST API (docs/api.md contract:
 * HTTP/1.1 + JSON under /v1, over the unix socket or HTTPS with a bearer
 * token).
 *
 *   struct client_opts o = { 0 };        (NULL fields: environment/defaults)
 *   ... getopt_long() with CLIENT_LONG_OPTIONS in the table and
 *       client_opts_handle(&o, c, optarg, &err) in the default branch ...
 *   struct client *c;
 *   if (client_open(&o, &c, &err) < 0) ...
 *   json_t *reply; int status;
 *   r = client_request(c, "GET", "/v1/vms", NULL, &reply, &status, &err);
 *   if (r < 0) { fprintf(stderr, "softvisor: %s\n", err.msg); exit 1; }
 *   ... json_decref(reply); client_close(c);
 *
 * Ownership: a client owns its curl handle; the strings of client_opts are
 * borrowed until client_close(). *reply is a new reference (or NULL when
 * the body was empty) that the caller json_decref()s.
 *
 * Threads: one client is used by one thread at a time. client_open() calls
 * curl_global_init() the first time, which is not thread-safe: open the
 * first client before starting threads.
 */
#ifndef SV_CLI_CLIENT_H
#define SV_CLI_CLIENT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "util/error.h"

enum client_output {
	CLIENT_OUTPUT_TABLE, /* human-readable (the default) */
	CLIENT_OUTPUT_JSON,  /* the server's JSON, pretty-printed */
};

struct client_opts {
	/* Where the daemon is. url wins over socket_path; both NULL: the
	 * environment (SOFTVISOR_URL, then SOFTVISOR_SOCKET), else the
	 * default socket (client_default_socket()). */
	const char *socket_path;
	const char *url;     /* https://host:port */
	const char *token;   /* NULL: $SOFTVISOR_TOKEN; sent when set */
	const char *ca_file; /* NULL: $SOFTVISOR_CA_FILE, else system CAs */
	bool insecure;	     /* skip TLS certificate verification */
	enum client_output output;
};

struct client;

/* Option codes of the global options; values far above any short option
 * or command-specific code (commands use 256..0x3fff). */
enum {
	CLIENT_OPT_SOCKET = 0x4000,
	CLIENT_OPT_URL,
	CLIENT_OPT_TOKEN,
	CLIENT_OPT_CA_FILE,
	CLIENT_OPT_INSECURE,
	CLIENT_OPT_OUTPUT,
};

/* getopt_long() entries of the global options, for a command's table:
 *   static const struct option opts[] = { {...}, CLIENT_LONG_OPTIONS,
 *                                         { NULL, 0, NULL, 0 } }; */
#define CLIENT_LONG_OPTIONS                                                 \
	{ "socket", required_argument, NULL, CLIENT_OPT_SOCKET },           \
		{ "url", required_argument, NULL, CLIENT_OPT_URL },         \
		{ "token", required_argument, NULL, CLIENT_OPT_TOKEN },     \
		{ "ca-file", required_argument, NULL, CLIENT_OPT_CA_FILE }, \
		{ "insecure", no_argument, NULL, CLIENT_OPT_INSECURE },     \
	{                                                                   \
		"output", required_argument, NULL, CLIENT_OPT_OUTPUT        \
	}

/* Apply getopt code c (with its optarg) if it is a global option: 1 when
 * handled, 0 when c is not a global option, -EINVAL with err set for a bad
 * value ("--output yaml: expected json or table"). */
int client_opts_handle(struct client_opts *o, int c, const char *arg,
		       struct error *err);

/* Print the help lines of the global options (for a command's --help). */
void client_opts_usage(FILE *f);

/* The default socket path (root: /run/softvisor/api.sock; else
 * $XDG_RUNTIME_DIR/softvisor/api.sock; else /tmp/softvisor-$UID/api.sock)
 * into buf. */
void client_default_socket(char *buf, size_t size);

/* Resolve o against the environment and defaults and prepare a
 * connection (nothing is sent yet). 0, or -errno with err set. */
int client_open(const struct client_opts *o, struct client **out,
		struct error *err);

/* One HTTP exchange: method ("GET", "POST", ...) on path ("/v1/vms",
 * query included, already URL-encoded); body NULL or a JSON value sent as
 * the request body. Returns 0 when the exchange worked and the status is
 * 2xx; -EREMOTEIO on any other status, with err holding the server's
 * error.message (and *reply its body); another -errno when the daemon
 * could not be reached ("cannot reach the daemon at PATH: Connection
 * refused"). *status is the HTTP status (0 if there was none). reply may
 * be NULL if the caller does not want the body. */
int client_request(struct client *c, const char *method, const char *path,
		   const json_t *body, json_t **reply, int *status,
		   struct error *err);

/* Where this client connects: the socket path or the URL (borrowed). */
const char *client_target(const struct client *c);

/* The resolved options (socket path or URL, token, TLS settings) for
 * callers that open their own connection (the console WebSocket). */
const struct client_opts *client_resolved(const struct client *c);

/* Output format chosen with --output. */
enum client_output client_output(const struct client *c);

/* Free the client. NULL is allowed. */
void client_close(struct client *c);

#endif
