/*
 * The web console's files (docs/web.md), served from the binary: GET or
 * HEAD of "/" and "/ui/NAME" (gzip when the client takes it). They hold
 * no data and need no token (the page asks for one and sends it with
 * every API call), but
 * they are served on the same listeners as the API only: the unix socket
 * and the TLS front end, never plain HTTP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/rest_priv.h"
#include "api/web_assets.h"

/* With web_csp (the page's scripts by origin and hash): no framing, no
 * sniffing, no referrer. */
#define WEB_HEADERS                           \
	"X-Frame-Options: DENY\r\n"           \
	"X-Content-Type-Options: nosniff\r\n" \
	"Referrer-Policy: no-referrer\r\n"

static const struct web_asset *find_asset(const char *path)
{
	if (!strcmp(path, "/index.html"))
		path = "/";
	for (const struct web_asset *a = web_assets; a->path; a++)
		if (!strcmp(a->path, path))
			return a;
	return NULL;
}

/* Does If-None-Match name etag, its gzip form's (etag with -gz before
 * the closing quote) or "*"? Either means the client has this content. */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag) - 1; /* up to the closing quote */

	for (const char *p = inm; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (!strncmp(p, etag, n) &&
		    (p[n] == '"' || !strncmp(p + n, "-gz\"", 4)))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

/* Does Accept-Encoding take gzip ("gzip" or "*", with no q=0)? */
static bool accepts_gzip(const char *ae)
{
	for (const char *p = ae; p && *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t n = strcspn(p, " \t;,");
		bool name = (n == 4 && !strncasecmp(p, "gzip", 4)) ||
			    (n == 1 && *p == '*');
		const char *end = p + strcspn(p, ",");
		if (name) {
			const char *q = p + n;

			while (q < end &&
			       (*q == ' ' || *q == '\t' || *q == ';'))
				q++;
			/* q=0, q=0.0, q=0.000: refused */
			if (q + 2 <= end && (q[0] == 'q' || q[0] == 'Q') &&
			    q[1] == '=' && strtod(q + 2, NULL) <= 0.0)
				return false;
			return true;
		}
		p = end;
	}
	return false;
}

int rest_web_serve(struct rest *r, struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const struct web_asset *a;
	const char *inm, *cache;
	char etag[80];
	bool head, gz;

	if (strcmp(ri->request_method, "GET") &&
	    strcmp(ri->request_method, "HEAD"))
		return 0;
	if (strcmp(ri->local_uri, "/") &&
	    strcmp(ri->local_uri, "/index.html") &&
	    strncmp(ri->local_uri, "/ui/", 4))
		return 0;
	if (!rest_trusted_transport(r, conn))
		return 0; /* the API's 403 */
	a = find_asset(ri->local_uri);
	if (!a) {
		if (!web_assets[0].path && !strcmp(ri->local_uri, "/"))
			return rest_send_error(conn, 404, "not_found", NULL,
					       "this softvisor was built "
					       "without the web console "
					       "(meson -Dweb=enabled)");
		return rest_send_error(
			conn, 404, "not_found", NULL, "%s: no such file",
			strlen(ri->local_uri) < 200 ? ri->local_uri : "path");
	}
	head = !strcmp(ri->request_method, "HEAD");
	gz = a->gz && accepts_gzip(mg_get_header(conn, "Accept-Encoding"));
	/* the gzip form is another representation: its own validator */
	if (gz)
		snprintf(etag, sizeof(etag), "%.*s-gz\"",
			 (int)strlen(a->etag) - 1, a->etag);
	else
		snprintf(etag, sizeof(etag), "%s", a->etag);
	/* a file named by its hash never changes: cached for a year without
	 * asking again; the page itself (no-cache) is revalidated each time
	 * (a 304 when unchanged), so a new daemon's console, and with it the
	 * names of its new files, is picked up at once */
	cache = a->immutable ? "public, max-age=31536000, immutable"
			     : "no-cache";
	inm = mg_get_header(conn, "If-None-Match");
	if (inm && etag_matches(inm, a->etag)) {
		mg_printf(conn,
			  "HTTP/1.1 304 Not Modified\r\nETag: %s\r\n"
			  "Cache-Control: %s\r\n%s"
			  "Content-Security-Policy: %s\r\n" WEB_HEADERS "\r\n",
			  etag, cache, a->gz ? "Vary: Accept-Encoding\r\n" : "",
			  web_csp);
		return 304;
	}
	mg_printf(conn,
		  "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
		  "Content-Length: %zu\r\nETag: %s\r\n"
		  "Cache-Control: %s\r\n%s%s"
		  "Content-Security-Policy: %s\r\n" WEB_HEADERS "\r\n",
		  a->content_type, gz ? a->gz_len : a->len, etag, cache,
		  a->gz ? "Vary: Accept-Encoding\r\n" : "",
		  gz ? "Content-Encoding: gzip\r\n" : "", web_csp);
	if (!head)
		mg_write(conn, gz ? a->gz : a->data, gz ? a->gz_len : a->len);
	return 200;
}
