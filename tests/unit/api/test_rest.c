/*
 * The REST server (src/api/rest*.c, tls.c) against a fake daemon
 * (fake_daemon.c), with libcurl as the client over the unix socket and
 * over TLS, and a tiny WebSocket client for the console. The route test
 * reads docs/api.yaml (env SV_API_YAML) and checks every path and method
 * in it is served.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "api/daemon.h"
#include "api/rest.h"
#include "fake_daemon.h"

static char tmpdir[64], sock_path[128], ca_path[160];
static struct daemon *dmn;
static struct rest *srv;
static unsigned tls_port;

struct resp {
	long status;
	char *body;
	size_t len;
	char headers[4096];
	json_t *json;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	assert_non_null(nb);
	memcpy(nb + r->len, p, sz * n);
	r->len += sz * n;
	nb[r->len] = '\0';
	r->body = nb;
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t used = strlen(r->headers);

	if (used + sz * n < sizeof(r->headers))
		memcpy(r->headers + used, p, sz * n);
	return sz * n;
}

static void resp_free(struct resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* One request. tls: over TLS with token (may be NULL), else the unix
 * socket. Returns the status; the JSON body (if any) in r->json. */
static long http(bool tls, const char *token, const char *method,
		 const char *path, const char *body, size_t body_len,
		 struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[512], auth[256];
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	assert_non_null(c);
	if (tls) {
		snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", tls_port,
			 path);
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_path);
	} else {
		snprintf(url, sizeof(url), "http://localhost%s", path);
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock_path);
	}
	if (token) { /* over TLS, or a token's rights on the socket */
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)body_len);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK && cc != CURLE_SEND_ERROR)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body)
		r->json = json_loads(r->body, 0, NULL);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r->status;
}

static long req(const char *method, const char *path, const char *body,
		struct resp *r)
{
	return http(false, NULL, method, path, body, body ? strlen(body) : 0,
		    r);
}

static const char *err_code(struct resp *r)
{
	return json_string_value(
		json_object_get(json_object_get(r->json, "error"), "code"));
}

static const char *err_msg(struct resp *r)
{
	const char *m = json_string_value(
		json_object_get(json_object_get(r->json, "error"), "message"));

	return m ? m : "";
}

static void expect(long status, const char *method, const char *path,
		   const char *body, const char *code)
{
	struct resp r;

	if (req(method, path, body, &r) != status)
		fail_msg("%s %s: %ld, expected %ld: %s", method, path, r.status,
			 status, r.body ? r.body : "");
	if (code && (!err_code(&r) || strcmp(err_code(&r), code)))
		fail_msg("%s %s: code %s, expected %s: %s", method, path,
			 err_code(&r) ? err_code(&r) : "(none)", code,
			 r.body ? r.body : "");
	resp_free(&r);
}

static int setup(void **state)
{
	struct rest_config cfg = { 0 };
	struct error err = { 0 };

	strcpy(tmpdir, "/tmp/sv-rest-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(sock_path, sizeof(sock_path), "%s/run/api.sock", tmpdir);
	snprintf(ca_path, sizeof(ca_path), "%s/tls/server.pem", tmpdir);
	assert_int_equal(daemon_open(NULL, &dmn, &err), 0);
	cfg.socket_path = sock_path;
	cfg.listen = "127.0.0.1:0";
	cfg.state_dir = tmpdir;
	if (rest_start(dmn, &cfg, &srv, &err) < 0)
		fail_msg("rest_start: %s", err.msg);
	tls_port = rest_tls_port(srv);
	assert_true(tls_port > 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	rest_stop(srv);
	daemon_close(dmn);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void test_second_server_refused(void **state)
{
	struct rest_config cfg = { .socket_path = sock_path };
	struct error err = { 0 };
	struct rest *r2 = NULL;

	assert_int_equal(rest_start(dmn, &cfg, &r2, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "already running"));
}

static void test_vm_lifecycle(void **state)
{
	struct resp r;

	assert_int_equal(req("POST", "/v1/vms",
			     "{\"name\":\"web1\",\"memory\":536870912}", &r),
			 201);
	assert_non_null(strstr(r.headers, "Location: /v1/vms/web1"));
	assert_string_equal(json_string_value(json_object_get(r.json, "state")),
			    "defined");
	resp_free(&r);

	assert_int_equal(req("GET", "/v1/vms", NULL, &r), 200);
	assert_true(json_array_size(json_object_get(r.json, "vms")) >= 1);
	assert_non_null(strstr(r.headers, "application/json"));
	resp_free(&r);

	/* disks made from images: 202 with the task, not the VM */
	assert_int_equal(req("POST", "/v1/vms",
			     "{\"name\":\"imported\",\"disks\":"
			     "[{\"import_from\":\"/i.img\"}]}",
			     &r),
			 202);
	assert_non_null(strstr(r.headers, "Location: /v1/tasks/9"));
	assert_string_equal(json_string_value(json_object_get(r.json, "kind")),
			    "create");
	resp_free(&r);

	expect(200, "GET", "/v1/vms/web1", NULL, NULL);
	expect(409, "POST", "/v1/vms", "{\"name\":\"web1\"}", "conflict");
	expect(400, "POST", "/v1/vms", "{bad json", "bad_request");
	expect(400, "POST", "/v1/vms", NULL, "bad_request");
	expect(200, "PATCH", "/v1/vms/web1", "{\"cpus\":2}", NULL);
	expect(200, "POST", "/v1/vms/web1/start", NULL, NULL);
	expect(409, "POST", "/v1/vms/web1/start", NULL, "conflict");
	expect(409, "PATCH", "/v1/vms/web1", "{\"cpus\":3}", "conflict");
	expect(409, "DELETE", "/v1/vms/web1", NULL, "conflict");
	expect(200, "POST", "/v1/vms/web1/pause", NULL, NULL);
	expect(200, "POST", "/v1/vms/web1/resume", NULL, NULL);
	expect(200, "POST", "/v1/vms/web1/reset", NULL, NULL);
	expect(200, "GET", "/v1/vms/web1/stats", NULL, NULL);
	expect(400, "POST", "/v1/vms/web1/shutdown", "[1]", "bad_request");

	assert_int_equal(
		req("POST", "/v1/vms/web1/shutdown", "{\"timeout_s\": 5}", &r),
		202);
	assert_non_null(strstr(r.headers, "Location: /v1/tasks/"));
	assert_string_equal(json_string_value(json_object_get(r.json, "kind")),
			    "shutdown");
	resp_free(&r);
	expect(200, "GET", "/v1/tasks", NULL, NULL);
	expect(200, "GET", "/v1/tasks/1", NULL, NULL);
	expect(404, "GET", "/v1/tasks/999", NULL, "not_found");
	expect(404, "GET", "/v1/tasks/abc", NULL, "not_found");

	/* by id */
	assert_int_equal(req("GET", "/v1/vms/1", NULL, &r), 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "name")),
			    "web1");
	resp_free(&r);

	assert_int_equal(req("DELETE", "/v1/vms/web1", NULL, &r), 204);
	assert_int_equal(r.len, 0);
	resp_free(&r);
	expect(404, "GET", "/v1/vms/web1", NULL, "not_found");
	expect(404, "POST", "/v1/vms/web1/start", NULL, "not_found");
}

static void test_errors(void **state)
{
	struct resp r;
	char *big;

	expect(404, "GET", "/nope", NULL, "not_found");
	expect(404, "GET", "/v1/vms/a/b/c/d", NULL, "not_found");
	expect(404, "POST", "/v1/vms/x/explode", NULL, "not_found");

	assert_int_equal(req("PUT", "/v1/vms", "{}", &r), 405);
	assert_string_equal(err_code(&r), "method_not_allowed");
	assert_non_null(strstr(r.headers, "Allow: GET, POST"));
	resp_free(&r);
	expect(405, "GET", "/v1/vms/x/start", NULL, "method_not_allowed");
	expect(405, "DELETE", "/v1/host", NULL, "method_not_allowed");

	/* a console without the upgrade */
	expect(400, "GET", "/v1/vms/x/console", NULL, "bad_request");

	big = malloc(REST_MAX_BODY + 2);
	assert_non_null(big);
	memset(big, ' ', REST_MAX_BODY + 1);
	big[REST_MAX_BODY + 1] = '\0';
	assert_int_equal(http(false, NULL, "POST", "/v1/vms", big,
			      REST_MAX_BODY + 1, &r),
			 413);
	assert_string_equal(err_code(&r), "payload_too_large");
	resp_free(&r);
	/* exactly 1 MiB is accepted (and then fails as bad JSON) */
	big[0] = '{';
	assert_int_equal(
		http(false, NULL, "POST", "/v1/vms", big, REST_MAX_BODY, &r),
		400);
	resp_free(&r);
	free(big);

	expect(200, "GET", "/v1/host", NULL, NULL);
	expect(200, "GET", "/v1/host/stats", NULL, NULL);
}

static void test_events(void **state)
{
	struct resp r;

	expect(201, "POST", "/v1/vms", "{\"name\":\"ev1\"}", NULL);
	expect(200, "POST", "/v1/vms/ev1/start", NULL, NULL);
	expect(200, "POST", "/v1/vms/ev1/stop", NULL, NULL);

	assert_int_equal(req("GET", "/v1/events?vm=ev1&limit=2", NULL, &r),
			 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "events")), 2);
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(r.json, "events"), 0),
			"actor")),
		"unix");
	resp_free(&r);
	assert_int_equal(req("GET", "/v1/events?vm=ev1&after=999999", NULL, &r),
			 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "events")), 0);
	resp_free(&r);
	expect(400, "GET", "/v1/events?after=abc", NULL, "bad_request");
	expect(400, "GET", "/v1/events?limit=-1", NULL, "bad_request");
	expect(204, "DELETE", "/v1/vms/ev1", NULL, NULL);
}

static void test_tokens_tls(void **state)
{
	struct resp r;
	char secret[128];

	/* no token, bad token */
	assert_int_equal(http(true, NULL, "GET", "/v1/vms", NULL, 0, &r), 401);
	assert_string_equal(err_code(&r), "unauthorized");
	assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
	resp_free(&r);
	assert_int_equal(http(true, "nope", "GET", "/v1/vms", NULL, 0, &r),
			 401);
	assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
	resp_free(&r);

	/* create over the unix socket */
	assert_int_equal(req("POST", "/v1/tokens", "{\"name\":\"ci\"}", &r),
			 201);
	snprintf(secret, sizeof(secret), "%s",
		 json_string_value(json_object_get(r.json, "secret")));
	resp_free(&r);
	expect(400, "POST", "/v1/tokens", "{}", "bad_request");
	expect(409, "POST", "/v1/tokens", "{\"name\":\"ci\"}", "conflict");
	expect(200, "GET", "/v1/tokens", NULL, NULL);

	assert_int_equal(http(true, secret, "GET", "/v1/vms", NULL, 0, &r),
			 200);
	resp_free(&r);
	assert_int_equal(http(true, secret, "POST", "/v1/vms",
			      "{\"name\":\"tls1\"}", 16, &r),
			 201);
	resp_free(&r);
	assert_int_equal(req("GET", "/v1/events?vm=tls1", NULL, &r), 200);
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(r.json, "events"), 0),
			"actor")),
		"token:ci");
	resp_free(&r);

	/* token routes over TCP */
	assert_int_equal(http(true, secret, "GET", "/v1/tokens", NULL, 0, &r),
			 403);
	assert_string_equal(err_code(&r), "forbidden");
	resp_free(&r);
	assert_int_equal(http(true, secret, "POST", "/v1/tokens",
			      "{\"name\":\"x\"}", 12, &r),
			 403);
	resp_free(&r);
	assert_int_equal(
		http(true, secret, "DELETE", "/v1/tokens/ci", NULL, 0, &r),
		403);
	resp_free(&r);

	/* errors over TLS too */
	assert_int_equal(http(true, secret, "GET", "/v1/vms/none", NULL, 0, &r),
			 404);
	assert_string_equal(err_code(&r), "not_found");
	resp_free(&r);

	/* revoke */
	expect(204, "DELETE", "/v1/tokens/ci", NULL, NULL);
	expect(404, "DELETE", "/v1/tokens/ci", NULL, "not_found");
	assert_int_equal(http(true, secret, "GET", "/v1/vms", NULL, 0, &r),
			 401);
	resp_free(&r);
	expect(204, "DELETE", "/v1/vms/tls1", NULL, NULL);
}

/* The audit record with action on target, the last one; NULL if none. */
static json_t *audit_find(json_t *audit, const char *action, const char *target)
{
	json_t *found = NULL, *a;
	size_t i;

	json_array_foreach(audit, i, a)
	{
		if (!strcmp(json_string_value(json_object_get(a, "action")),
			    action) &&
		    !strcmp(json_string_value(json_object_get(a, "target")),
			    target))
			found = a;
	}
	return found;
}

/* Changing calls are audited with principal, source and outcome (refused
 * ones too); reads are not; secrets never appear. */
static void test_audit(void **state)
{
	(void)state;
	struct resp r, au;
	char secret[128], body[64];
	json_t *a;

	expect(201, "POST", "/v1/vms", "{\"name\":\"aud1\"}", NULL);
	expect(200, "GET", "/v1/vms/aud1", NULL, NULL);
	expect(404, "POST", "/v1/vms/none/start", NULL, "not_found");
	expect(404, "POST", "/v1/nowhere", NULL, "not_found");
	assert_int_equal(
		req("POST", "/v1/tokens", "{\"name\":\"auditor\"}", &r), 201);
	snprintf(secret, sizeof(secret), "%s",
		 json_string_value(json_object_get(r.json, "secret")));
	resp_free(&r);
	/* over TLS: refused without a token, then with it */
	assert_int_equal(
		http(true, NULL, "POST", "/v1/vms/aud1/stop", NULL, 0, &r),
		401);
	resp_free(&r);
	snprintf(body, sizeof(body), "{\"name\":\"aud2\"}");
	assert_int_equal(
		http(true, secret, "POST", "/v1/vms", body, strlen(body), &r),
		201);
	resp_free(&r);

	assert_int_equal(req("GET", "/v1/audit", NULL, &au), 200);
	json_t *audit = json_object_get(au.json, "audit");
	assert_null(strstr(au.body, secret));
	assert_null(audit_find(audit, "vm.get", "aud1"));

	a = audit_find(audit, "vm.create", "aud1");
	assert_non_null(a);
	assert_string_equal(json_string_value(json_object_get(a, "principal")),
			    "local");
	assert_string_equal(json_string_value(json_object_get(a, "source")),
			    "unix");
	/* only this process is connected: its uid is the peer's */
	assert_int_equal(json_integer_value(json_object_get(a, "uid")),
			 getuid());
	assert_int_equal(json_integer_value(json_object_get(a, "status")), 201);

	a = audit_find(audit, "vm.start", "none");
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "status")), 404);
	a = audit_find(audit, "unknown", "");
	assert_non_null(a);
	a = audit_find(audit, "token.create", "auditor");
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "status")), 201);

	a = audit_find(audit, "vm.stop", "aud1");
	assert_non_null(a);
	assert_string_equal(json_string_value(json_object_get(a, "principal")),
			    "unauthenticated");
	assert_int_equal(json_integer_value(json_object_get(a, "status")), 401);
	assert_int_equal(
		strncmp(json_string_value(json_object_get(a, "source")),
			"127.0.0.1:", 10),
		0);
	a = audit_find(audit, "vm.create", "aud2");
	assert_non_null(a);
	assert_string_equal(json_string_value(json_object_get(a, "principal")),
			    "token:auditor");
	assert_true(json_integer_value(json_object_get(a, "token_id")) > 0);
	assert_true(json_is_null(json_object_get(a, "uid")));
	resp_free(&au);

	expect(400, "GET", "/v1/audit?limit=x", NULL, "bad_request");
	expect(400, "GET", "/v1/audit?since=-1", NULL, "bad_request");
	expect(200, "GET", "/v1/audit?vm=aud1&since=0&limit=5", NULL, NULL);

	/* /metrics: text, authenticated like the API */
	assert_int_equal(req("GET", "/metrics", NULL, &r), 200);
	assert_non_null(strstr(r.headers, "text/plain; version=0.0.4"));
	assert_non_null(strstr(r.body, "softvisor_vm_state{vm=\"alpha\","));
	assert_non_null(strstr(r.body, "softvisor_api_requests_total{code="
				       "\"401\"} "));
	resp_free(&r);
	assert_int_equal(http(true, NULL, "GET", "/metrics", NULL, 0, &r), 401);
	resp_free(&r);
	assert_int_equal(http(true, secret, "GET", "/metrics", NULL, 0, &r),
			 200);
	resp_free(&r);
	expect(204, "DELETE", "/v1/tokens/auditor", NULL, NULL);
	expect(204, "DELETE", "/v1/vms/aud1", NULL, NULL);
	expect(204, "DELETE", "/v1/vms/aud2", NULL, NULL);
}

/* A token with a role and scope; its secret into secret. */
static void make_token(const char *body, char *secret, size_t size)
{
	struct resp r;

	if (req("POST", "/v1/tokens", body, &r) != 201)
		fail_msg("POST /v1/tokens %s: %ld %s", body, r.status, r.body);
	snprintf(secret, size, "%s",
		 json_string_value(json_object_get(r.json, "secret")));
	resp_free(&r);
}

/* status of method path with token over one transport; a 403 must say
 * why (want_msg). */
static void as(bool tls, const char *token, long status, const char *method,
	       const char *path, const char *body, const char *want_msg)
{
	struct resp r;
	long st = http(tls, token, method, path, body, body ? strlen(body) : 0,
		       &r);

	if (st != status)
		fail_msg("%s %s %s: %ld, expected %ld: %s",
			 tls ? "TLS" : "unix", method, path, st, status,
			 r.body ? r.body : "");
	if (want_msg && !strstr(err_msg(&r), want_msg))
		fail_msg("%s %s: message '%s' lacks '%s'", method, path,
			 err_msg(&r), want_msg);
	resp_free(&r);
}

/* Each role is refused what it may not do, over TLS and on the unix
 * socket with the token; a scoped token sees and touches its VMs only. */
static void test_roles(void **state)
{
	(void)state;
	char ro[128], op[128], adm[128], sc[128], sa[128];
	struct resp r;

	expect(201, "POST", "/v1/vms", "{\"name\":\"g1\"}", NULL);
	expect(201, "POST", "/v1/vms", "{\"name\":\"g2\"}", NULL);
	make_token("{\"name\":\"ro\",\"role\":\"read-only\"}", ro, sizeof(ro));
	make_token("{\"name\":\"op\",\"role\":\"operator\"}", op, sizeof(op));
	make_token("{\"name\":\"adm\"}", adm, sizeof(adm));
	make_token("{\"name\":\"sc\",\"role\":\"operator\","
		   "\"vms\":[\"g1\"]}",
		   sc, sizeof(sc));
	make_token("{\"name\":\"sa\",\"vms\":[\"g1\"]}", sa, sizeof(sa));
	expect(400, "POST", "/v1/tokens", "{\"name\":\"x\",\"role\":\"boss\"}",
	       "bad_request");
	expect(400, "POST", "/v1/tokens", "{\"name\":\"x\",\"vms\":\"g1\"}",
	       "bad_request");
	expect(400, "POST", "/v1/tokens", "{\"name\":\"x\",\"vms\":[\"a,b\"]}",
	       "bad_request");

	for (int tls = 0; tls < 2; tls++) {
		/* read-only: reads, nothing else */
		as(tls, ro, 200, "GET", "/v1/vms", NULL, NULL);
		as(tls, ro, 200, "GET", "/v1/vms/g1", NULL, NULL);
		as(tls, ro, 200, "GET", "/metrics", NULL, NULL);
		as(tls, ro, 403, "POST", "/v1/vms/g1/start", NULL,
		   "token:ro has the read-only role: POST /v1/vms/g1/start "
		   "needs the operator or admin role");
		as(tls, ro, 403, "POST", "/v1/vms", "{\"name\":\"g3\"}",
		   "needs the admin role");
		as(tls, ro, 403, "DELETE", "/v1/vms/g2", NULL, "read-only");
		as(tls, ro, 403, "GET", "/v1/audit", NULL, "admin role");
		/* operator: power, not configuration */
		as(tls, op, 200, "POST", "/v1/vms/g1/start", NULL, NULL);
		as(tls, op, 200, "POST", "/v1/vms/g1/stop", NULL, NULL);
		as(tls, op, 403, "PATCH", "/v1/vms/g1", "{\"cpus\":2}",
		   "token:op has the operator role");
		as(tls, op, 403, "POST", "/v1/vms", "{\"name\":\"g3\"}",
		   "admin role");
		as(tls, op, 403, "DELETE", "/v1/vms/g2", NULL, "admin role");
		as(tls, op, 403, "GET", "/v1/audit", NULL, "admin role");
		/* admin: everything but token management */
		as(tls, adm, 201, "POST", "/v1/vms", "{\"name\":\"g3\"}", NULL);
		as(tls, adm, 204, "DELETE", "/v1/vms/g3", NULL, NULL);
		as(tls, adm, 200, "GET", "/v1/audit", NULL, NULL);
		as(tls, adm, 403, "POST", "/v1/tokens", "{\"name\":\"y\"}",
		   NULL);
		as(tls, adm, 403, "GET", "/v1/tokens", NULL, NULL);
		/* scoped to g1 */
		as(tls, sc, 200, "POST", "/v1/vms/g1/start", NULL, NULL);
		as(tls, sc, 200, "POST", "/v1/vms/g1/stop", NULL, NULL);
		as(tls, sc, 403, "POST", "/v1/vms/g2/start", NULL,
		   "token:sc is limited to the VMs g1: not 'g2'");
		as(tls, sc, 403, "GET", "/v1/vms/g2", NULL, "not 'g2'");
		/* a scoped admin may not create or rename out of scope */
		as(tls, sa, 403, "PATCH", "/v1/vms/g1", "{\"name\":\"g9\"}",
		   "not 'g9'");
		as(tls, sa, 403, "POST", "/v1/vms", "{\"name\":\"g9\"}",
		   "not 'g9'");
		as(tls, sa, 200, "PATCH", "/v1/vms/g1", "{\"cpus\":2}", NULL);
		as(tls, sc, 403, "GET", "/v1/events?vm=g2", NULL, "not 'g2'");
		assert_int_equal(http(tls, sc, "GET", "/v1/vms", NULL, 0, &r),
				 200);
		json_t *vms = json_object_get(r.json, "vms");
		assert_int_equal(json_array_size(vms), 1);
		assert_string_equal(json_string_value(json_object_get(
					    json_array_get(vms, 0), "name")),
				    "g1");
		resp_free(&r);
		assert_int_equal(
			http(tls, sc, "GET", "/v1/events", NULL, 0, &r), 200);
		json_t *ev, *events = json_object_get(r.json, "events");
		size_t i;
		json_array_foreach(events, i, ev) assert_string_equal(
			json_string_value(json_object_get(ev, "vm")), "g1");
		resp_free(&r);
	}
	/* the socket without a token is its owner: everything */
	expect(200, "GET", "/v1/tokens", NULL, NULL);
	/* a revoked token is refused at once */
	expect(204, "DELETE", "/v1/tokens/op", NULL, NULL);
	as(false, op, 401, "GET", "/v1/vms", NULL, NULL);
	as(true, op, 401, "GET", "/v1/vms", NULL, NULL);
	expect(200, "GET", "/v1/tokens", NULL, NULL);
	expect(204, "DELETE", "/v1/tokens/ro", NULL, NULL);
	expect(204, "DELETE", "/v1/tokens/adm", NULL, NULL);
	expect(204, "DELETE", "/v1/tokens/sc", NULL, NULL);
	expect(204, "DELETE", "/v1/tokens/sa", NULL, NULL);
	expect(204, "DELETE", "/v1/vms/g1", NULL, NULL);
	expect(204, "DELETE", "/v1/vms/g2", NULL, NULL);
}

/* ---- a tiny WebSocket client (RFC 6455) over the unix socket ---------- */

static int ws_open(const char *path, char *status_line, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	char buf[2048];
	size_t len = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, sock_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(buf, sizeof(buf),
		 "GET %s HTTP/1.1\r\nHost: localhost\r\n"
		 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n",
		 path);
	assert_int_equal(write(fd, buf, strlen(buf)), (ssize_t)strlen(buf));
	/* read the response head byte by byte (frames may follow) */
	while (len < sizeof(buf) - 1) {
		if (read(fd, buf + len, 1) != 1)
			break;
		len++;
		buf[len] = '\0';
		if (len >= 4 && !strcmp(buf + len - 4, "\r\n\r\n"))
			break;
	}
	buf[len] = '\0';
	snprintf(status_line, size, "%.*s", (int)strcspn(buf, "\r"), buf);
	return fd;
}

static void ws_send(int fd, int opcode, const char *data, size_t len)
{
	uint8_t f[256];
	const uint8_t mask[4] = { 1, 2, 3, 4 };
	size_t i;

	assert_true(len < 126);
	f[0] = 0x80 | (uint8_t)opcode;
	f[1] = 0x80 | (uint8_t)len;
	memcpy(f + 2, mask, 4);
	for (i = 0; i < len; i++)
		f[6 + i] = (uint8_t)data[i] ^ mask[i % 4];
	assert_int_equal(write(fd, f, 6 + len), (ssize_t)(6 + len));
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read one frame (skipping pings); returns its opcode, payload in buf. */
static int ws_recv(int fd, uint8_t *buf, size_t size, size_t *len)
{
	for (;;) {
		uint8_t h[2], ext[8];
		uint64_t n;
		int op;

		if (read_full(fd, h, 2) < 0)
			return -1;
		op = h[0] & 0xf;
		n = h[1] & 0x7f;
		if (n == 126) {
			assert_int_equal(read_full(fd, ext, 2), 0);
			n = ((uint64_t)ext[0] << 8) | ext[1];
		} else if (n == 127) {
			fail_msg("frame too large");
		}
		assert_true(n <= size);
		assert_int_equal(read_full(fd, buf, n), 0);
		*len = n;
		if (op != 0x9)
			return op;
	}
}

static void test_console(void **state)
{
	char status[128];
	uint8_t buf[4096];
	size_t len, before;
	int w, v, fd;

	expect(201, "POST", "/v1/vms", "{\"name\":\"con1\"}", NULL);

	/* not running: 409 before the upgrade; unknown VM: 404 */
	fd = ws_open("/v1/vms/con1/console", status, sizeof(status));
	assert_non_null(strstr(status, " 409"));
	close(fd);
	fd = ws_open("/v1/vms/none/console", status, sizeof(status));
	assert_non_null(strstr(status, " 404"));
	close(fd);

	expect(200, "POST", "/v1/vms/con1/start", NULL, NULL);
	w = ws_open("/v1/vms/con1/console?write=1", status, sizeof(status));
	assert_non_null(strstr(status, " 101"));
	assert_int_equal(ws_recv(w, buf, sizeof(buf), &len), 2);
	assert_int_equal(len, 12);
	assert_memory_equal(buf, "scrollback\r\n", 12);

	/* a second writer is refused; a viewer is fine */
	fd = ws_open("/v1/vms/con1/console?write=1", status, sizeof(status));
	assert_non_null(strstr(status, " 409"));
	close(fd);
	v = ws_open("/v1/vms/con1/console", status, sizeof(status));
	assert_non_null(strstr(status, " 101"));
	assert_int_equal(ws_recv(v, buf, sizeof(buf), &len), 2);

	/* writer input is echoed by the fake guest to both */
	ws_send(w, 2, "hello", 5);
	assert_int_equal(ws_recv(w, buf, sizeof(buf), &len), 2);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(ws_recv(v, buf, sizeof(buf), &len), 2);
	assert_memory_equal(buf, "hello", 5);

	/* the viewer's input is ignored */
	before = fake_daemon_input_bytes();
	ws_send(v, 2, "zz", 2);
	ws_send(w, 1, "!", 1); /* text frames count as input too */
	assert_int_equal(ws_recv(w, buf, sizeof(buf), &len), 2);
	assert_memory_equal(buf, "!", 1);
	assert_int_equal(ws_recv(v, buf, sizeof(buf), &len), 2);
	assert_memory_equal(buf, "!", 1);
	assert_int_equal(fake_daemon_input_bytes(), before + 1);

	/* the VM stops: close with 1000 */
	expect(200, "POST", "/v1/vms/con1/stop", NULL, NULL);
	assert_int_equal(ws_recv(w, buf, sizeof(buf), &len), 8);
	assert_int_equal(len, 2);
	assert_int_equal((buf[0] << 8) | buf[1], 1000);
	assert_int_equal(ws_recv(v, buf, sizeof(buf), &len), 8);
	assert_int_equal((buf[0] << 8) | buf[1], 1000);
	ws_send(w, 8, "\x03\xe8", 2);
	ws_send(v, 8, "\x03\xe8", 2);
	close(w);
	close(v);

	/* a client-initiated close is answered and detaches the writer */
	expect(200, "POST", "/v1/vms/con1/start", NULL, NULL);
	w = ws_open("/v1/vms/con1/console?write=1", status, sizeof(status));
	assert_non_null(strstr(status, " 101"));
	assert_int_equal(ws_recv(w, buf, sizeof(buf), &len), 2);
	ws_send(w, 8, "\x03\xe8", 2);
	assert_int_equal(ws_recv(w, buf, sizeof(buf), &len), 8);
	close(w);
	usleep(200 * 1000);
	w = ws_open("/v1/vms/con1/console?write=1", status, sizeof(status));
	assert_non_null(strstr(status, " 101"));
	close(w); /* abrupt close: the server detaches too */
	usleep(200 * 1000);
	w = ws_open("/v1/vms/con1/console?write=1", status, sizeof(status));
	assert_non_null(strstr(status, " 101"));
	close(w);
	usleep(100 * 1000);
	expect(200, "POST", "/v1/vms/con1/stop", NULL, NULL);
	expect(204, "DELETE", "/v1/vms/con1", NULL, NULL);
}

/* Every path + method of docs/api.yaml is served (not 405, and not our
 * router's "no such resource" 404). */
static void test_routes_from_yaml(void **state)
{
	const char *yaml = getenv("SV_API_YAML");
	char line[512], path[512] = "", url[600];
	int in_paths = 0, checked = 0;
	FILE *f;

	if (!yaml)
		yaml = "docs/api.yaml";
	f = fopen(yaml, "r");
	if (!f)
		fail_msg("%s: %s (set SV_API_YAML)", yaml, strerror(errno));
	expect(201, "POST", "/v1/vms", "{\"name\":\"rt1\"}", NULL);
	expect(201, "POST", "/v1/tokens", "{\"name\":\"rt\"}", NULL);
	while (fgets(line, sizeof(line), f)) {
		char method[16], *p, *o;
		struct resp r;
		int i;

		if (!strncmp(line, "paths:", 6)) {
			in_paths = 1;
			continue;
		}
		if (in_paths && line[0] != ' ' && line[0] != '\n' &&
		    line[0] != '#')
			in_paths = 0;
		if (!in_paths)
			continue;
		if (!strncmp(line, "  /", 3)) {
			snprintf(path, sizeof(path), "%s", line + 2);
			path[strcspn(path, ":")] = '\0';
			continue;
		}
		if (strncmp(line, "    ", 4) || line[4] == ' ')
			continue;
		if (sscanf(line + 4, "%15[a-z]:", method) != 1)
			continue;
		if (strcmp(method, "get") && strcmp(method, "post") &&
		    strcmp(method, "patch") && strcmp(method, "delete") &&
		    strcmp(method, "put"))
			continue;
		for (i = 0; method[i]; i++)
			method[i] = (char)(method[i] - 'a' + 'A');
		/* substitute {vm} {id} {name} */
		for (p = path, o = url; *p && o < url + sizeof(url) - 8; p++) {
			if (!strncmp(p, "{vm}", 4)) {
				o += sprintf(o, "rt1");
				p += 3;
			} else if (!strncmp(p, "{id}", 4)) {
				o += sprintf(o, "1");
				p += 3;
			} else if (!strncmp(p, "{name}", 6)) {
				o += sprintf(o, "rt");
				p += 5;
			} else {
				*o++ = *p;
			}
		}
		*o = '\0';
		req(method, url, strcmp(method, "GET") ? "{}" : NULL, &r);
		if (r.status == 405 ||
		    (r.status == 404 &&
		     strstr(err_msg(&r), "no such resource")))
			fail_msg("%s %s (from %s): %ld %s", method, url, yaml,
				 r.status, r.body ? r.body : "");
		resp_free(&r);
		checked++;
	}
	fclose(f);
	assert_true(checked >= 21);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_second_server_refused),
		cmocka_unit_test(test_vm_lifecycle),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_tokens_tls),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_console),
		cmocka_unit_test(test_routes_from_yaml),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, setup, teardown);
	curl_global_cleanup();
	return rc;
}
