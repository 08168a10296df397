/* etcd v3 over its JSON gateway (etcd.h). */
#include "api/etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 3000
#define REPLY_MAX  (4 << 20)

struct etcd {
	char url[ETCD_URL_MAX];
	pthread_mutex_t lock;
	CURL *curl;
};

int etcd_check_url(const char *url, struct error *err)
{
	const char *h = url + 7;

	if (strncmp(url, "http://", 7) || !h[0] ||
	    strlen(url) >= ETCD_URL_MAX || strpbrk(h, "/?#@ \t"))
		return error_set(err, EINVAL,
				 "etcd '%s': expected http://HOST:PORT (the "
				 "v3 JSON gateway, e.g. http://127.0.0.1:2379)",
				 url);
	return 0;
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct etcd *etcd_open(const char *url, struct error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct etcd *e;

	if (etcd_check_url(url, err))
		return NULL;
	pthread_once(&once, global_init);
	e = calloc(1, sizeof(*e));
	if (!e || !(e->curl = curl_easy_init())) {
		free(e);
		error_set(err, ENOMEM, "etcd: out of memory");
		return NULL;
	}
	snprintf(e->url, sizeof(e->url), "%s", url);
	pthread_mutex_init(&e->lock, NULL);
	return e;
}

void etcd_close(struct etcd *e)
{
	if (!e)
		return;
	curl_easy_cleanup(e->curl);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* ---- base64 (OpenSSL) --------------------------------------------------------- */

static char *b64(const void *data, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, data, (int)n);
	return out;
}

/* Decode s (NUL-terminated result); NULL on bad input. */
static char *unb64(const char *s)
{
	size_t n = strlen(s), pad = 0;
	char *out;

	if (n % 4)
		return NULL;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return NULL;
	int r = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s,
				(int)n);
	if (r < 0) {
		free(out);
		return NULL;
	}
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	out[(size_t)r - pad] = '\0';
	return out;
}

/* The key after every key that starts with prefix (etcd's range_end). */
static char *prefix_end(const char *prefix)
{
	size_t n = strlen(prefix);
	char *end = malloc(n + 1);

	if (!end)
		return NULL;
	memcpy(end, prefix, n + 1);
	while (n && (unsigned char)end[n - 1] == 0xff)
		end[--n] = '\0';
	if (n)
		end[n - 1]++;
	return end;
}

/* ---- requests ------------------------------------------------------------------ */

struct reply {
	char *buf;
	size_t len;
	bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *opaque)
{
	struct reply *r = opaque;
	size_t k = size * n;

	if (r->len + k > REPLY_MAX) {
		r->too_big = true;
		return 0;
	}
	char *nb = realloc(r->buf, r->len + k + 1);
	if (!nb)
		return 0;
	r->buf = nb;
	memcpy(r->buf + r->len, p, k);
	r->len += k;
	r->buf[r->len] = '\0';
	return k;
}

/* POST body (stolen) to path; *out the JSON reply. */
static int call(struct etcd *e, const char *path, json_t *body, json_t **out,
		struct error *err)
{
	char url[ETCD_URL_MAX + 32], *text = body ? json_dumps(body, 0) : NULL;
	struct reply rep = { 0 };
	struct curl_slist *hdr = NULL;
	long status = 0;
	CURLcode c;
	int r = 0;

	json_decref(body);
	if (!text)
		return error_set(err, ENOMEM, "etcd: out of memory");
	snprintf(url, sizeof(url), "%s%s", e->url, path);
	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	pthread_mutex_lock(&e->lock);
	curl_easy_reset(e->curl);
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &rep);
	c = curl_easy_perform(e->curl);
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_unlock(&e->lock);
	curl_slist_free_all(hdr);
	free(text);
	if (c != CURLE_OK) {
		r = error_set(err, rep.too_big ? E2BIG : EHOSTUNREACH,
			      "etcd %s: %s", e->url,
			      rep.too_big ? "reply too large"
					  : curl_easy_strerror(c));
	} else if (status != 200) {
		r = error_set(err, EIO, "etcd %s%s: HTTP %ld: %.200s", e->url,
			      path, status, rep.buf ? rep.buf : "");
	} else if (!(*out = json_loads(rep.buf ? rep.buf : "", 0, NULL))) {
		r = error_set(err, EPROTO, "etcd %s%s: the reply is not JSON",
			      e->url, path);
	}
	free(rep.buf);
	return r;
}

int etcd_put(struct etcd *e, const char *key, const char *value,
	     struct error *err)
{
	return etcd_put_lease(e, key, value, 0, err);
}

int etcd_put_lease(struct etcd *e, const char *key, const char *value,
		   int64_t lease, struct error *err)
{
	char *k = b64(key, strlen(key)), *v = b64(value, strlen(value));
	json_t *rep = NULL, *body;
	char id[24];
	int r;

	if (!k || !v) {
		free(k);
		free(v);
		return error_set(err, ENOMEM, "etcd: out of memory");
	}
	body = json_pack("{s:s,s:s}", "key", k, "value", v);
	/* int64 as a JSON string, as the gateway writes them */
	snprintf(id, sizeof(id), "%lld", (long long)lease);
	if (body && lease)
		json_object_set_new(body, "lease", json_string(id));
	r = call(e, "/v3/kv/put", body, &rep, err);
	free(k);
	free(v);
	json_decref(rep);
	return r;
}

/* An int64 the gateway sends as a JSON string (or a number); 0 if none. */
static int64_t int64_of(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

int etcd_lease_grant(struct etcd *e, unsigned ttl_s, int64_t *id,
		     struct error *err)
{
	json_t *rep = NULL;
	int r = call(e, "/v3/lease/grant",
		     json_pack("{s:I}", "TTL", (json_int_t)ttl_s), &rep, err);

	if (!r) {
		*id = int64_of(json_object_get(rep, "ID"));
		if (*id <= 0)
			r = error_set(
				err, EPROTO,
				"etcd %s: lease grant: no lease ID "
				"(%s)",
				e->url,
				json_string_value(json_object_get(rep, "error"))
					?: "no error given");
	}
	json_decref(rep);
	return r;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, struct error *err)
{
	char s[24];
	json_t *rep = NULL;
	int r;

	snprintf(s, sizeof(s), "%lld", (long long)id);
	/* a stream in gRPC; over the gateway one request gets one
	 * {"result": {...}} and the stream ends */
	r = call(e, "/v3/lease/keepalive", json_pack("{s:s}", "ID", s), &rep,
		 err);
	if (!r) {
		/* an expired or unknown lease answers TTL 0, which the
		 * gateway leaves out */
		int64_t ttl = int64_of(
			json_object_get(json_object_get(rep, "result"), "TTL"));
		r = ttl > 0 ? (int)(ttl > INT32_MAX ? INT32_MAX : ttl)
			    : error_set(err, ENOENT,
					"etcd %s: lease %lld expired", e->url,
					(long long)id);
	}
	json_decref(rep);
	return r;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, struct error *err)
{
	char s[24];
	json_t *rep = NULL;
	int r;

	snprintf(s, sizeof(s), "%lld", (long long)id);
	r = call(e, "/v3/lease/revoke", json_pack("{s:s}", "ID", s), &rep, err);
	json_decref(rep);
	return r;
}

/* A range request; fn for each key/value decoded. */
static int range(struct etcd *e, const char *key, bool prefix,
		 void (*fn)(const char *key, const char *value, void *opaque),
		 void *opaque, struct error *err)
{
	char *k = b64(key, strlen(key)), *end = prefix ? prefix_end(key) : NULL;
	char *ke = end ? b64(end, strlen(end)) : NULL;
	json_t *body, *rep = NULL, *kv;
	size_t i;
	int r, n = 0;

	free(end);
	if (!k || (prefix && !ke)) {
		free(k);
		free(ke);
		return error_set(err, ENOMEM, "etcd: out of memory");
	}
	body = json_pack("{s:s}", "key", k);
	if (ke)
		json_object_set_new(body, "range_end", json_string(ke));
	free(k);
	free(ke);
	r = call(e, "/v3/kv/range", body, &rep, err);
	if (r)
		return r;
	json_array_foreach(json_object_get(rep, "kvs"), i, kv)
	{
		const char *kk = json_string_value(json_object_get(kv, "key"));
		const char *vv = json_string_value(
			json_object_get(kv, "value"));
		char *dk = kk ? unb64(kk) : NULL;
		/* an empty value is left out of the gateway's JSON */
		char *dv = vv ? unb64(vv) : strdup("");
		if (dk && dv) {
			fn(dk, dv, opaque);
			n++;
		}
		free(dk);
		free(dv);
	}
	json_decref(rep);
	return n;
}

struct one {
	char *value;
};

static void take_one(const char *key, const char *value, void *opaque)
{
	struct one *o = opaque;

	(void)key;
	if (!o->value)
		o->value = strdup(value);
}

int etcd_get(struct etcd *e, const char *key, char **value, struct error *err)
{
	struct one o = { NULL };
	int r = range(e, key, false, take_one, &o, err);

	if (r < 0)
		return r;
	if (!o.value)
		return -ENOENT;
	*value = o.value;
	return 0;
}

int etcd_list(struct etcd *e, const char *prefix,
	      void (*fn)(const char *key, const char *value, void *opaque),
	      void *opaque, struct error *err)
{
	return range(e, prefix, true, fn, opaque, err);
}

int etcd_delete(struct etcd *e, const char *key, bool prefix, struct error *err)
{
	char *k = b64(key, strlen(key)), *end = prefix ? prefix_end(key) : NULL;
	char *ke = end ? b64(end, strlen(end)) : NULL;
	json_t *body, *rep = NULL;
	int r;

	free(end);
	if (!k || (prefix && !ke)) {
		free(k);
		free(ke);
		return error_set(err, ENOMEM, "etcd: out of memory");
	}
	body = json_pack("{s:s}", "key", k);
	if (ke)
		json_object_set_new(body, "range_end", json_string(ke));
	free(k);
	free(ke);
	r = call(e, "/v3/kv/deleterange", body, &rep, err);
	if (!r) {
		/* int64 as a JSON string in the gateway's answer */
		const char *d = json_string_value(
			json_object_get(rep, "deleted"));
		r = d ? atoi(d) : 0;
	}
	json_decref(rep);
	return r;
}
