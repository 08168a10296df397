/*
 * The console's WebSocket client (src/cli/wsclient.c): RFC 6455 frame
 * encoding/decoding and the handshake key, plus a whole exchange with a
 * scripted server on a socketpair-backed unix socket.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/wsclient.h"

/* RFC 6455 section 1.3 example */
static void test_accept_key(void **state)
{
	char out[29];

	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* RFC 6455 section 5.7 examples */
static void test_rfc_examples(void **state)
{
	uint8_t unmasked[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	uint8_t masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
			     0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t frag[] = {
		0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f
	};
	uint8_t ping[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t out[32];
	struct ws_frame f;

	assert_int_equal(ws_frame_decode(unmasked, sizeof(unmasked), 125, &f),
			 7);
	assert_true(f.fin);
	assert_int_equal(f.opcode, WS_OP_TEXT);
	assert_false(f.masked);
	assert_int_equal(f.len, 5);
	assert_memory_equal(f.payload, "Hello", 5);

	assert_int_equal(ws_frame_encode(out, sizeof(out), true, WS_OP_TEXT,
					 (const uint8_t *)"Hello", 5, mask),
			 sizeof(masked));
	assert_memory_equal(out, masked, sizeof(masked));
	assert_int_equal(ws_frame_decode(masked, sizeof(masked), 125, &f), 11);
	assert_true(f.masked);
	assert_memory_equal(f.payload, "Hello", 5);

	assert_int_equal(ws_frame_decode(frag, sizeof(frag), 125, &f), 5);
	assert_false(f.fin);
	assert_int_equal(f.opcode, WS_OP_TEXT);
	assert_int_equal(ws_frame_decode(frag + 5, 4, 125, &f), 4);
	assert_true(f.fin);
	assert_int_equal(f.opcode, WS_OP_CONT);

	assert_int_equal(ws_frame_decode(ping, sizeof(ping), 125, &f), 7);
	assert_int_equal(f.opcode, WS_OP_PING);
}

static void test_lengths(void **state)
{
	static const size_t lens[] = { 0, 125, 126, 127, 65535, 65536, 70000 };
	uint8_t mask[4] = { 1, 2, 3, 4 };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i], cap = WS_HDR_MAX + n, got;
		uint8_t *p = malloc(n + 1), *out = malloc(cap);
		struct ws_frame f;

		for (size_t j = 0; j < n; j++)
			p[j] = (uint8_t)(j * 7);
		got = ws_frame_encode(out, cap, true, WS_OP_BINARY, p, n, mask);
		assert_int_equal(got, (n < 126	   ? 2
				       : n < 65536 ? 4
						   : 10) +
					      4 + n);
		/* every prefix is "incomplete", never an error */
		for (size_t cut = 0; cut < got; cut += 1 + cut / 3)
			assert_int_equal(ws_frame_decode(out, cut, 1 << 20, &f),
					 0);
		assert_int_equal(ws_frame_decode(out, got, 1 << 20, &f),
				 (ssize_t)got);
		assert_int_equal(f.len, n);
		assert_memory_equal(f.payload, p, n);
		/* too small a buffer is refused, not overrun */
		assert_int_equal(ws_frame_encode(out, got - 1, true,
						 WS_OP_BINARY, p, n, mask),
				 0);
		free(p);
		free(out);
	}
}

static void test_malformed(void **state)
{
	uint8_t rsv[] = { 0xc2, 0x00 };			/* RSV1 */
	uint8_t op[] = { 0x83, 0x00 };			/* opcode 3 */
	uint8_t bigping[] = { 0x89, 0x7e, 0x00, 0x7e }; /* ping 126 */
	uint8_t fragclose[] = { 0x08, 0x00 };		/* close, FIN = 0 */
	uint8_t msb[10] = { 0x82, 0x7f, 0x80 };		/* 64-bit MSB set */
	uint8_t huge[10] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x20, 0, 0 };
	struct ws_frame f;

	assert_int_equal(ws_frame_decode(rsv, 2, 125, &f), -EPROTO);
	assert_int_equal(ws_frame_decode(op, 2, 125, &f), -EPROTO);
	assert_int_equal(ws_frame_decode(bigping, 4, 1000, &f), -EPROTO);
	assert_int_equal(ws_frame_decode(fragclose, 2, 125, &f), -EPROTO);
	assert_int_equal(ws_frame_decode(msb, 10, 125, &f), -EPROTO);
	assert_int_equal(ws_frame_decode(huge, 10, 1 << 20, &f), -EMSGSIZE);
}

/* ---- a whole session against a scripted server --------------------------- */

struct server {
	int lfd;
	char path[108];
	int mode;      /* 0: good, 1: wrong accept, 2: refuse 409 */
	char got[256]; /* what the client typed */
};

static ssize_t read_head(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return -1;
		n++;
		buf[n] = '\0';
		if (n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4))
			return (ssize_t)n;
	}
	return -1;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	char head[2048], acc[29], key[64] = "", resp[512];
	uint8_t out[256], in[256];
	int fd = accept(s->lfd, NULL, NULL);
	const char *k;
	struct ws_frame f;
	size_t have = 0;
	int n;

	if (fd < 0 || read_head(fd, head, sizeof(head)) < 0)
		return NULL;
	k = strstr(head, "Sec-WebSocket-Key: ");
	if (k)
		sscanf(k + 19, "%63[^\r]", key);
	if (s->mode == 2) {
		const char *body = "{\"error\":{\"code\":\"conflict\","
				   "\"message\":\"console of web1 already has "
				   "a writer\"}}";
		n = snprintf(resp, sizeof(resp),
			     "HTTP/1.1 409 Conflict\r\nContent-Length: %zu\r\n"
			     "\r\n%s",
			     strlen(body), body);
		(void)!write(fd, resp, (size_t)n);
		close(fd);
		return NULL;
	}
	ws_accept_key(key, acc);
	if (s->mode == 1)
		acc[0] = acc[0] == 'A' ? 'B' : 'A';
	n = snprintf(
		resp, sizeof(resp),
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		acc);
	/* the head and the first frames in one write: the client must keep
	 * the bytes after the head */
	memcpy(out, resp, (size_t)n);
	n += (int)ws_frame_encode(out + n, sizeof(out) - (size_t)n, true,
				  WS_OP_BINARY, (const uint8_t *)"boot\r\n", 6,
				  NULL);
	n += (int)ws_frame_encode(out + n, sizeof(out) - (size_t)n, true,
				  WS_OP_PING, (const uint8_t *)"p", 1, NULL);
	(void)!write(fd, out, (size_t)n);
	/* expect: pong "p", then a binary frame, then close */
	for (int frames = 0; frames < 3;) {
		ssize_t r = read(fd, in + have, sizeof(in) - have);
		ssize_t used;
		if (r <= 0)
			break;
		have += (size_t)r;
		while ((used = ws_frame_decode(in, have, 125, &f)) > 0) {
			size_t l = strlen(s->got);
			snprintf(s->got + l, sizeof(s->got) - l, "[%d%s:%.*s]",
				 f.opcode, f.masked ? "m" : "", (int)f.len,
				 f.opcode == WS_OP_CLOSE ? ""
							 : (char *)f.payload);
			memmove(in, in + used, have - (size_t)used);
			have -= (size_t)used;
			frames++;
			if (f.opcode == WS_OP_BINARY) {
				n = (int)ws_frame_encode(
					out, sizeof(out), true, WS_OP_CLOSE,
					(const uint8_t *)"\x03\xe8", 2, NULL);
				(void)!write(fd, out, (size_t)n);
			}
		}
	}
	close(fd);
	return NULL;
}

static void start_server(struct server *s, pthread_t *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(s->path, sizeof(s->path), "/tmp/test_cli_ws_%d.sock",
		 (int)getpid());
	unlink(s->path);
	strcpy(sa.sun_path, s->path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 1), 0);
	assert_int_equal(pthread_create(t, NULL, server_main, s), 0);
}

static void stop_server(struct server *s, pthread_t t)
{
	pthread_join(t, NULL);
	close(s->lfd);
	unlink(s->path);
}

static void test_session(void **state)
{
	struct server s = { .mode = 0 };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	struct ws_conn *ws;
	struct ws_frame f;
	char out[64] = "";
	bool closed = false;
	pthread_t t;
	int st, r;

	start_server(&s, &t);
	o.socket_path = s.path;
	assert_int_equal(
		ws_connect(&o, "/v1/vms/web1/console?write=1", &ws, &st, &err),
		0);
	assert_int_equal(st, 101);
	/* frames that came with the head are there without a read */
	assert_true(ws_pending(ws));
	assert_int_equal(ws_next(ws, &f, &err), 1);
	assert_int_equal(f.opcode, WS_OP_BINARY);
	strncat(out, (char *)f.payload, f.len);
	assert_int_equal(ws_next(ws, &f, &err), 1); /* ping, answered */
	assert_int_equal(f.opcode, WS_OP_PING);
	assert_int_equal(ws_send(ws, WS_OP_BINARY, "ls\r", 3, &err), 0);
	while (!closed) {
		ssize_t n = ws_fill(ws, &err);
		while ((r = ws_next(ws, &f, &err)) > 0)
			if (f.opcode == WS_OP_CLOSE) {
				assert_int_equal(f.len, 2);
				ws_send_close(ws, WS_CLOSE_NORMAL, &err);
				closed = true;
			}
		assert_true(r >= 0);
		assert_true(n != 0 || closed);
	}
	ws_close(ws);
	stop_server(&s, t);
	assert_string_equal(out, "boot\r\n");
	assert_string_equal(s.got, "[10m:p][2m:ls\r][8m:]");
}

static void test_refused_and_bad_accept(void **state)
{
	struct server s = { .mode = 2 };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	struct ws_conn *ws;
	pthread_t t;
	int st;

	start_server(&s, &t);
	o.socket_path = s.path;
	assert_int_equal(ws_connect(&o, "/c", &ws, &st, &err), -EREMOTEIO);
	assert_int_equal(st, 409);
	assert_string_equal(err.msg, "console of web1 already has a writer");
	stop_server(&s, t);

	s.mode = 1;
	start_server(&s, &t);
	assert_int_equal(ws_connect(&o, "/c", &ws, &st, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "Sec-WebSocket-Accept"));
	stop_server(&s, t);

	o.socket_path = "/nonexistent/api.sock";
	assert_true(ws_connect(&o, "/c", &ws, &st, &err) < 0);
	assert_non_null(strstr(err.msg, "cannot reach the daemon at "
					"/nonexistent/api.sock"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_refused_and_bad_accept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
