/*
 * Minimal RFC 6455 WebSocket client (wsclient.h). Section numbers below are
 * those of RFC 6455.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli/wsclient.h"

#define WS_GUID	       "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_HEAD_MAX    16384
#define WS_BUF_INITIAL 65536

struct ws_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	uint8_t *buf; /* received, not yet consumed: buf[pos..len) */
	size_t pos, len, cap;
};

/* ---- frames (section 5.2) ------------------------------------------------ */

size_t ws_frame_encode(uint8_t *out, size_t cap, bool fin, uint8_t opcode,
		       const uint8_t *payload, size_t len,
		       const uint8_t mask[4])
{
	size_t h = len < 126 ? 2 : len <= 0xffff ? 4 : 10;

	if (cap < h + (mask ? 4 : 0) || cap - h - (mask ? 4 : 0) < len)
		return 0;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + h, mask, 4);
		h += 4;
		for (size_t i = 0; i < len; i++)
			out[h + i] = payload[i] ^ mask[i & 3];
	} else if (len) {
		memcpy(out + h, payload, len);
	}
	return h + len;
}

/* Parse the header at buf: the frame's total size (> 0), 0 if incomplete,
 * negative errno if malformed. *hlen receives the header size (mask
 * included). buf is not modified. */
static ssize_t frame_header(const uint8_t *buf, size_t len, size_t max_payload,
			    struct ws_frame *f, size_t *hlen)
{
	uint64_t plen;
	size_t h = 2;
	uint8_t op;

	if (len < 2)
		return 0;
	if (buf[0] & 0x70) /* RSV1-3: no extension was negotiated */
		return -EPROTO;
	op = buf[0] & 0x0f;
	if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY &&
	    op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
		return -EPROTO;
	f->fin = buf[0] & 0x80;
	f->opcode = op;
	f->masked = buf[1] & 0x80;
	plen = buf[1] & 0x7f;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = (uint64_t)buf[2] << 8 | buf[3];
		h = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | buf[2 + i];
		if (plen >> 63) /* section 5.2: the MSB must be 0 */
			return -EPROTO;
		h = 10;
	}
	/* section 5.5: control frames are short and not fragmented */
	if ((op & 0x8) && (plen > 125 || !f->fin))
		return -EPROTO;
	if (plen > max_payload)
		return -EMSGSIZE;
	if (f->masked)
		h += 4;
	if (len < h || len - h < plen)
		return 0;
	f->len = plen;
	*hlen = h;
	return (ssize_t)(h + plen);
}

ssize_t ws_frame_decode(uint8_t *buf, size_t len, size_t max_payload,
			struct ws_frame *f)
{
	size_t h = 0;
	ssize_t n = frame_header(buf, len, max_payload, f, &h);

	if (n <= 0)
		return n;
	f->payload = buf + h;
	if (f->masked) {
		const uint8_t *m = buf + h - 4;
		for (uint64_t i = 0; i < f->len; i++)
			f->payload[i] ^= m[i & 3];
	}
	return n;
}

void ws_accept_key(const char *key, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char in[128];
	int n;

	n = snprintf(in, sizeof(in), "%s%s", key, WS_GUID);
	if (n < 0 || (size_t)n >= sizeof(in))
		n = 0;
	EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen); /* 28 + NUL */
}

/* ---- transport ----------------------------------------------------------- */

static ssize_t conn_write(struct ws_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n;
		if (c->ssl) {
			int r = SSL_write(c->ssl, p + done,
					  (int)(len - done > 1 << 30
							? 1 << 30
							: len - done));
			if (r <= 0)
				return -EIO;
			n = r;
		} else {
			n = send(c->fd, p + done, len - done, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t conn_read(struct ws_conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->ssl) {
		int r = SSL_read(c->ssl, buf,
				 (int)(len > 1 << 30 ? 1 << 30 : len));
		if (r > 0)
			return r;
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_ZERO_RETURN: return 0;
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE: return -EAGAIN;
		case SSL_ERROR_SYSCALL: return errno ? -errno : 0;
		default: return -EPROTO;
		}
	}
	do
		n = recv(c->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int connect_unix(const char *path, struct error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return error_set(err, ENAMETOOLONG,
				 "cannot reach the daemon at %s: path too long",
				 path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return error_set(err, e, "cannot reach the daemon at %s: %s",
				 path, strerror(e));
	}
	return fd;
}

/* "https://host:port[/...]" -> host (brackets stripped) and port. */
static int parse_url(const char *url, bool *tls, char *host, size_t hsize,
		     char *port, size_t psize, struct error *err)
{
	const char *p, *end, *colon;
	size_t n;

	if (!strncmp(url, "https://", 8)) {
		*tls = true;
		p = url + 8;
	} else if (!strncmp(url, "http://", 7)) {
		*tls = false;
		p = url + 7;
	} else {
		goto bad;
	}
	end = p + strcspn(p, "/?");
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb)
			goto bad;
		n = (size_t)(rb - p - 1);
		if (n >= hsize)
			goto bad;
		memcpy(host, p + 1, n);
		host[n] = '\0';
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon ? colon : end) - p);
		if (!n || n >= hsize)
			goto bad;
		memcpy(host, p, n);
		host[n] = '\0';
	}
	if (colon) {
		n = (size_t)(end - colon - 1);
		if (!n || n >= psize)
			goto bad;
		memcpy(port, colon + 1, n);
		port[n] = '\0';
	} else {
		snprintf(port, psize, "%s", *tls ? "443" : "80");
	}
	return 0;
bad:
	return error_set(err, EINVAL, "--url %s: expected https://HOST:PORT",
			 url);
}

static int connect_tcp(const char *url, const char *host, const char *port,
		       struct error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, e = 0, r;

	r = getaddrinfo(host, port, &hints, &res);
	if (r)
		return error_set(err, EHOSTUNREACH,
				 "cannot reach the daemon at %s: %s", url,
				 gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return error_set(err, e, "cannot reach the daemon at %s: %s",
				 url, strerror(e));
	return fd;
}

static int tls_start(struct ws_conn *c, const struct client_opts *o,
		     const char *host, struct error *err)
{
	unsigned char ipbuf[16];
	bool is_ip = inet_pton(AF_INET, host, ipbuf) == 1 ||
		     inet_pton(AF_INET6, host, ipbuf) == 1;
	unsigned long e;
	char why[256];

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx)
		return error_set(err, ENOMEM, "TLS: cannot create a context");
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	if (o->insecure) {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
		if (o->ca_file) {
			if (SSL_CTX_load_verify_locations(c->ctx, o->ca_file,
							  NULL) != 1)
				return error_set(err, EINVAL,
						 "--ca-file %s: not a PEM "
						 "certificate file",
						 o->ca_file);
		} else {
			SSL_CTX_set_default_verify_paths(c->ctx);
		}
	}
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl)
		return error_set(err, ENOMEM, "TLS: cannot create a session");
	SSL_set_fd(c->ssl, c->fd);
	if (!is_ip)
		SSL_set_tlsext_host_name(c->ssl, host);
	if (!o->insecure) {
		if (is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
						      host);
		else
			SSL_set1_host(c->ssl, host);
	}
	if (SSL_connect(c->ssl) != 1) {
		long v = SSL_get_verify_result(c->ssl);
		e = ERR_get_error();
		if (v != X509_V_OK)
			snprintf(why, sizeof(why), "certificate: %s",
				 X509_verify_cert_error_string(v));
		else
			ERR_error_string_n(e, why, sizeof(why));
		SSL_free(c->ssl);
		c->ssl = NULL; /* no TLS shutdown on a failed handshake */
		return error_set(err, EPROTO,
				 "cannot reach the daemon at %s: TLS: %s",
				 o->url, why);
	}
	return 0;
}

/* ---- handshake (section 4.1) --------------------------------------------- */

/* Value of header name in the response head (NUL-terminated, lines
 * "\r\n"), copied into out; false if absent. */
static bool head_value(const char *head, const char *name, char *out,
		       size_t size)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2]) {
		p += 2;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1, *e = strstr(v, "\r\n");
			size_t n;
			while (*v == ' ' || *v == '\t')
				v++;
			if (!e)
				e = v + strlen(v);
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			n = (size_t)(e - v) < size - 1 ? (size_t)(e - v)
						       : size - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
		p = strstr(p, "\r\n");
	}
	return false;
}

static int buf_reserve(struct ws_conn *c, size_t need)
{
	uint8_t *p;
	size_t ncap;

	if (c->cap - c->len >= need)
		return 0;
	if (c->pos) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
		if (c->cap - c->len >= need)
			return 0;
	}
	ncap = c->cap ? c->cap : WS_BUF_INITIAL;
	while (ncap - c->len < need)
		ncap *= 2;
	if (ncap > 2 * (WS_PAYLOAD_MAX + WS_HDR_MAX) + WS_BUF_INITIAL)
		return -EMSGSIZE;
	p = realloc(c->buf, ncap);
	if (!p)
		return -ENOMEM;
	c->buf = p;
	c->cap = ncap;
	return 0;
}

/* The refusal of a non-101 answer: the API error message from the body. */
static int refused(struct ws_conn *c, int st, const char *head, size_t head_len,
		   struct error *err)
{
	char cl[32], *body;
	size_t want = 0, have = c->len - head_len;
	json_t *j;
	const char *msg;

	if (head_value(head, "Content-Length", cl, sizeof(cl)))
		want = strtoul(cl, NULL, 10);
	if (want > 65536)
		want = 65536;
	while (have < want) {
		ssize_t n;
		if (buf_reserve(c, 4096) < 0)
			break;
		n = conn_read(c, c->buf + c->len, c->cap - c->len);
		if (n <= 0)
			break;
		c->len += (size_t)n;
		have += (size_t)n;
	}
	body = (char *)c->buf + head_len;
	j = json_loadb(body, have, 0, NULL);
	msg = json_string_value(
		json_object_get(json_object_get(j, "error"), "message"));
	if (msg)
		error_set(err, EREMOTEIO, "%s", msg);
	else
		error_set(err, EREMOTEIO,
			  "the daemon refused the console (HTTP %d)", st);
	json_decref(j);
	return -EREMOTEIO;
}

static int handshake(struct ws_conn *c, const struct client_opts *o,
		     const char *host_hdr, const char *path, int *status,
		     struct error *err)
{
	unsigned char nonce[16];
	char key[32], accept[29], val[256], *req = NULL, *end;
	size_t head_len;
	int st, n;

	/* section 4.1: a random 16-byte nonce, base64 */
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return error_set(err, EIO, "no random bytes for the key");
	EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
	n = asprintf(&req,
		     "GET %s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "User-Agent: softvisor-cli\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "%s%s%s"
		     "\r\n",
		     path, host_hdr, key,
		     o->token ? "Authorization: Bearer " : "",
		     o->token ? o->token : "", o->token ? "\r\n" : "");
	if (n < 0)
		return error_set(err, ENOMEM, "out of memory");
	if (conn_write(c, req, (size_t)n) < 0) {
		free(req);
		return error_set(err, EIO,
				 "console: the daemon closed the "
				 "connection");
	}
	free(req);

	/* read the response head; bytes after it are frames already */
	for (;;) {
		ssize_t r;
		if (c->len && (end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
			break;
		if (c->len >= WS_HEAD_MAX)
			return error_set(err, EPROTO,
					 "console: response head too long");
		if (buf_reserve(c, 4096) < 0)
			return error_set(err, ENOMEM, "out of memory");
		r = conn_read(c, c->buf + c->len, c->cap - c->len - 1);
		if (r == -EAGAIN)
			continue;
		if (r <= 0)
			return error_set(err, EPROTO,
					 "console: the daemon closed the "
					 "connection during the handshake");
		c->len += (size_t)r;
	}
	*end = '\0';
	head_len = (size_t)(end - (char *)c->buf) + 4;
	if (sscanf((char *)c->buf, "HTTP/1.%*d %d", &st) != 1)
		return error_set(err, EPROTO, "console: not an HTTP response");
	*status = st;
	if (st != 101)
		return refused(c, st, (char *)c->buf, head_len, err);
	/* section 4.1, client requirements 2-4 */
	ws_accept_key(key, accept);
	if (!head_value((char *)c->buf, "Upgrade", val, sizeof(val)) ||
	    strcasecmp(val, "websocket") ||
	    !head_value((char *)c->buf, "Connection", val, sizeof(val)) ||
	    !strcasestr(val, "upgrade"))
		return error_set(err, EPROTO,
				 "console: the daemon did not upgrade to "
				 "WebSocket");
	if (!head_value((char *)c->buf, "Sec-WebSocket-Accept", val,
			sizeof(val)) ||
	    strcmp(val, accept))
		return error_set(err, EPROTO,
				 "console: wrong Sec-WebSocket-Accept");
	c->pos = head_len;
	return 0;
}

int ws_connect(const struct client_opts *o, const char *path,
	       struct ws_conn **out, int *status, struct error *err)
{
	char host[256], port[16], host_hdr[300];
	struct ws_conn *c;
	bool tls = false;
	int r;

	*status = 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return error_set(err, ENOMEM, "out of memory");
	c->fd = -1;
	if (o->url) {
		r = parse_url(o->url, &tls, host, sizeof(host), port,
			      sizeof(port), err);
		if (r < 0)
			goto fail;
		if (strchr(host, ':'))
			snprintf(host_hdr, sizeof(host_hdr), "[%s]:%s", host,
				 port);
		else
			snprintf(host_hdr, sizeof(host_hdr), "%s:%s", host,
				 port);
		r = connect_tcp(o->url, host, port, err);
	} else {
		snprintf(host_hdr, sizeof(host_hdr), "localhost");
		r = connect_unix(o->socket_path, err);
	}
	if (r < 0)
		goto fail;
	c->fd = r;
	if (tls && (r = tls_start(c, o, host, err)) < 0)
		goto fail;
	r = handshake(c, o, host_hdr, path, status, err);
	if (r < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	ws_close(c);
	return r;
}

int ws_fd(const struct ws_conn *c)
{
	return c->fd;
}

bool ws_pending(const struct ws_conn *c)
{
	struct ws_frame f;
	size_t h;

	if (c->ssl && SSL_pending(c->ssl) > 0)
		return true;
	/* a whole frame (or a malformed one, to report) already buffered */
	return c->len > c->pos && frame_header(c->buf + c->pos, c->len - c->pos,
					       WS_PAYLOAD_MAX, &f, &h) != 0;
}

ssize_t ws_fill(struct ws_conn *c, struct error *err)
{
	ssize_t n;

	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	if (buf_reserve(c, 16384) < 0)
		return error_set(err, EMSGSIZE, "console: frame too large");
	/* never block: the caller may come here for an already buffered
	 * frame with nothing new on the socket */
	if (!(c->ssl && SSL_pending(c->ssl) > 0) && poll(&p, 1, 0) == 0)
		return -EAGAIN;
	n = conn_read(c, c->buf + c->len, c->cap - c->len);
	if (n > 0)
		c->len += (size_t)n;
	else if (n < 0 && n != -EAGAIN)
		error_set(err, (int)-n, "console: %s", strerror((int)-n));
	return n;
}

int ws_next(struct ws_conn *c, struct ws_frame *f, struct error *err)
{
	ssize_t n;

	if (c->len == c->pos)
		return 0;
	n = ws_frame_decode(c->buf + c->pos, c->len - c->pos, WS_PAYLOAD_MAX,
			    f);
	if (n == 0)
		return 0;
	if (n < 0)
		return error_set(err, (int)-n,
				 "console: malformed frame from the daemon");
	/* section 5.1: a server must not mask the frames it sends */
	if (f->masked)
		return error_set(err, EPROTO,
				 "console: masked frame from the daemon");
	c->pos += (size_t)n;
	if (c->pos == c->len)
		c->pos = c->len = 0; /* payload stays valid: no memmove */
	if (f->opcode == WS_OP_PING) {
		/* section 5.5.3: answer with the same application data */
		int r = ws_send(c, WS_OP_PONG, f->payload, (size_t)f->len, err);
		if (r < 0)
			return r;
	}
	return 1;
}

int ws_send(struct ws_conn *c, uint8_t opcode, const void *buf, size_t len,
	    struct error *err)
{
	uint8_t mask[4], stackbuf[4096], *out = stackbuf;
	size_t n, cap = WS_HDR_MAX + len;
	int r = 0;

	/* section 5.3: a fresh unpredictable masking key per frame */
	if (RAND_bytes(mask, sizeof(mask)) != 1)
		return error_set(err, EIO, "no random bytes for the mask");
	if (cap > sizeof(stackbuf)) {
		out = malloc(cap);
		if (!out)
			return error_set(err, ENOMEM, "out of memory");
	}
	n = ws_frame_encode(out, cap, true, opcode, buf, len, mask);
	if (!n || conn_write(c, out, n) < 0)
		r = error_set(err, EPIPE,
			      "console: the daemon closed the connection");
	if (out != stackbuf)
		free(out);
	return r;
}

int ws_send_close(struct ws_conn *c, uint16_t code, struct error *err)
{
	uint8_t p[2] = { (uint8_t)(code >> 8), (uint8_t)code };

	return ws_send(c, WS_OP_CLOSE, p, sizeof(p), err);
}

void ws_close(struct ws_conn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}
