/*
 * REST client of the daemon on libcurl: the unix socket (plain HTTP, trusted)
 * or HTTPS with a bearer token (docs/api.md, notes on transport).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/client.h"

#define CLIENT_REPLY_MAX (64u << 20) /* a sane bound on a reply body */

struct client {
	CURL *curl;
	struct client_opts o; /* resolved */
	char socket_buf[256];
	char errbuf[CURL_ERROR_SIZE];
	char *auth_header; /* "Authorization: Bearer ..." or NULL */
};

struct reply_buf {
	char *data;
	size_t len;
	bool too_big;
};

int client_opts_handle(struct client_opts *o, int c, const char *arg,
		       struct error *err)
{
	switch (c) {
	case CLIENT_OPT_SOCKET: o->socket_path = arg; return 1;
	case CLIENT_OPT_URL:
		if (strncmp(arg, "https://", 8) != 0 &&
		    strncmp(arg, "http://", 7) != 0)
			return error_set(err, EINVAL,
					 "--url %s: expected https://HOST:PORT",
					 arg);
		o->url = arg;
		return 1;
	case CLIENT_OPT_TOKEN: o->token = arg; return 1;
	case CLIENT_OPT_CA_FILE: o->ca_file = arg; return 1;
	case CLIENT_OPT_INSECURE: o->insecure = true; return 1;
	case CLIENT_OPT_OUTPUT:
		if (strcmp(arg, "json") == 0)
			o->output = CLIENT_OUTPUT_JSON;
		else if (strcmp(arg, "table") == 0)
			o->output = CLIENT_OUTPUT_TABLE;
		else
			return error_set(err, EINVAL,
					 "--output %s: expected json or table",
					 arg);
		return 1;
	default: return 0;
	}
}

void client_opts_usage(FILE *f)
{
	fprintf(f,
		"connection (defaults from SOFTVISOR_SOCKET, SOFTVISOR_URL,\n"
		"SOFTVISOR_TOKEN, SOFTVISOR_CA_FILE):\n"
		"  --socket PATH     the daemon's unix socket\n"
		"  --url URL         https://HOST:PORT of a remote daemon\n"
		"  --token SECRET    bearer token (required over --url)\n"
		"  --ca-file FILE    PEM CA certificate(s) to verify the\n"
		"                    daemon with (its tls/server.pem)\n"
		"  --insecure        do not verify the daemon's certificate\n"
		"  --output FORMAT   table (default) or json\n");
}

void client_default_socket(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		snprintf(buf, size, "/run/softvisor/api.sock");
	else if (xdg && xdg[0] == '/')
		snprintf(buf, size, "%s/softvisor/api.sock", xdg);
	else
		snprintf(buf, size, "/tmp/softvisor-%u/api.sock",
			 (unsigned)getuid());
}

static const char *env_or(const char *v, const char *name)
{
	const char *e;

	if (v)
		return v;
	e = getenv(name);
	return e && e[0] ? e : NULL;
}

int client_open(const struct client_opts *o, struct client **out,
		struct error *err)
{
	static bool global_done;
	struct client *c;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return error_set(err, ENOMEM,
					 "cannot initialize libcurl");
		global_done = true;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return error_set(err, ENOMEM, "out of memory");
	c->o = *o;
	if (!c->o.url && !c->o.socket_path) {
		c->o.url = env_or(NULL, "SOFTVISOR_URL");
		if (!c->o.url)
			c->o.socket_path = env_or(NULL, "SOFTVISOR_SOCKET");
	}
	if (c->o.url) {
		c->o.socket_path = NULL;
	} else if (!c->o.socket_path) {
		client_default_socket(c->socket_buf, sizeof(c->socket_buf));
		c->o.socket_path = c->socket_buf;
	}
	c->o.token = env_or(c->o.token, "SOFTVISOR_TOKEN");
	c->o.ca_file = env_or(c->o.ca_file, "SOFTVISOR_CA_FILE");
	if (c->o.url && c->o.ca_file && access(c->o.ca_file, R_OK) < 0) {
		int e = errno;
		error_set(err, e, "--ca-file %s: %s", c->o.ca_file,
			  strerror(e));
		free(c);
		return -e;
	}
	if (c->o.token) {
		if (strpbrk(c->o.token, "\r\n")) {
			free(c);
			return error_set(err, EINVAL,
					 "--token: contains a line break");
		}
		if (asprintf(&c->auth_header, "Authorization: Bearer %s",
			     c->o.token) < 0) {
			free(c);
			return error_set(err, ENOMEM, "out of memory");
		}
	}
	c->curl = curl_easy_init();
	if (!c->curl) {
		client_close(c);
		return error_set(err, ENOMEM, "cannot initialize libcurl");
	}
	*out = c;
	return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *opaque)
{
	struct reply_buf *b = opaque;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > CLIENT_REPLY_MAX) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	p = realloc(b->data, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Fill err from a non-2xx reply: the API's {"error": {"message"}} when
 * there is one, the status otherwise. */
static int remote_error(json_t *reply, long status, const char *body,
			struct error *err)
{
	json_t *e = json_object_get(reply, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (msg && msg[0])
		return error_set(err, EREMOTEIO, "%s", msg);
	if (body && body[0] && !reply)
		return error_set(err, EREMOTEIO, "HTTP %ld: %.200s", status,
				 body);
	return error_set(err, EREMOTEIO, "the daemon answered HTTP %ld",
			 status);
}

static int transport_error(struct client *c, CURLcode rc, struct reply_buf *b,
			   struct error *err)
{
	long os_errno = 0;
	const char *why;
	int code;

	if (b->too_big)
		return error_set(err, EMSGSIZE,
				 "the daemon's reply is larger than %u MiB",
				 CLIENT_REPLY_MAX >> 20);
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
	code = os_errno > 0 ? (int)os_errno : ECONNREFUSED;
	if (os_errno > 0 && rc == CURLE_COULDNT_CONNECT)
		why = strerror((int)os_errno);
	else
		why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
	if (rc == CURLE_PEER_FAILED_VERIFICATION ||
	    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CONNECT_ERROR)
		code = EPROTO;
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		code = ETIMEDOUT;
	return error_set(err, code, "cannot reach the daemon at %s: %s",
			 client_target(c), why);
}

int client_request(struct client *c, const char *method, const char *path,
		   const json_t *body, json_t **reply, int *status,
		   struct error *err)
{
	struct curl_slist *hdrs = NULL;
	struct reply_buf b = { 0 };
	char *text = NULL, *url = NULL;
	json_t *j = NULL;
	long http = 0;
	CURLcode rc;
	int r;

	if (reply)
		*reply = NULL;
	if (status)
		*status = 0;
	if (asprintf(&url, "%s%s", c->o.url ? c->o.url : "http://localhost",
		     path) < 0)
		return error_set(err, ENOMEM, "out of memory");
	/* the handle is reused (keep-alive), so every option is set again */
	curl_easy_reset(c->curl);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "softvisor-cli");
	if (c->o.socket_path)
		curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH,
				 c->o.socket_path);
	if (c->o.ca_file)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->o.ca_file);
	if (c->o.insecure) {
		curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (c->auth_header)
		hdrs = curl_slist_append(hdrs, c->auth_header);
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text) {
			r = error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		hdrs = curl_slist_append(hdrs,
					 "Content-Type: application/json");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(text));
	} else if (strcmp(method, "POST") == 0 ||
		   strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	/* no "Expect: 100-continue" round trip for the small bodies here */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);

	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		r = transport_error(c, rc, &b, err);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http);
	if (status)
		*status = (int)http;
	if (b.len) {
		json_error_t je;
		j = json_loadb(b.data, b.len, JSON_DECODE_ANY, &je);
		if (!j && http >= 200 && http < 300) {
			r = error_set(err, EPROTO,
				      "the daemon's reply is not JSON: %s",
				      je.text);
			goto out;
		}
	}
	if (http < 200 || http >= 300)
		r = remote_error(j, http, b.data, err);
	else
		r = 0;
	if (reply) {
		*reply = j;
		j = NULL;
	}
out:
	json_decref(j);
	curl_slist_free_all(hdrs);
	free(text);
	free(url);
	free(b.data);
	return r;
}

const char *client_target(const struct client *c)
{
	return c->o.url ? c->o.url : c->o.socket_path;
}

const struct client_opts *client_resolved(const struct client *c)
{
	return &c->o;
}

enum client_output client_output(const struct client *c)
{
	return c->o.output;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->auth_header);
	free(c);
}
