/*
 * The web console's files (docs/web.md), served from the binary: GET or
 * HEAD of "/", "/ui/app.js", "/ui/app.css". They hold no data and need
 * no token (the page asks for one and sends it with every API call), but
 * they are served on the same listeners as the API only: the unix socket
 * and the TLS front end, never plain HTTP.
 */
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

/* Does If-None-Match name etag (or "*")? */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	for (const char *p = inm; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (!strncmp(p, etag, n))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

int rest_web_serve(struct rest *r, struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const struct web_asset *a;
	const char *inm;
	bool head;

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
	inm = mg_get_header(conn, "If-None-Match");
	if (inm && etag_matches(inm, a->etag)) {
		mg_printf(conn,
			  "HTTP/1.1 304 Not Modified\r\nETag: %s\r\n"
			  "Cache-Control: no-cache\r\n"
			  "Content-Security-Policy: %s\r\n" WEB_HEADERS "\r\n",
			  a->etag, web_csp);
		return 304;
	}
	/* no-cache: the browser revalidates (a 304 when unchanged), so a
	 * new daemon's console is picked up at once */
	mg_printf(conn,
		  "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
		  "Content-Length: %zu\r\nETag: %s\r\n"
		  "Cache-Control: no-cache\r\n"
		  "Content-Security-Policy: %s\r\n" WEB_HEADERS "\r\n",
		  a->content_type, a->len, a->etag, web_csp);
	if (!head)
		mg_write(conn, a->data, a->len);
	return 200;
}
