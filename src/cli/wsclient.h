/*
 * A minimal WebSocket client (RFC 6455) for the console stream of the
 * daemon: the opening handshake over the unix socket, plain TCP or TLS
 * (OpenSSL), masked client frames, binary/text/ping/pong/close.
 *
 *   struct ws_conn *ws;
 *   if (ws_connect(opts, "/v1/vms/web1/console?write=1", &ws, &st, &err))
 *       ... (st: the HTTP status when the server refused, e.g. 409)
 *   poll(ws_fd(ws)) / ws_pending(ws) -> ws_fill(ws, &err);
 *   while ((r = ws_next(ws, &f, &err)) > 0) ... f.payload, f.len ...
 *   ws_send(ws, WS_OP_BINARY, buf, n, &err);
 *   ws_close(ws);
 *
 * Frame payloads returned by ws_next() point into the connection's buffer
 * and stay valid until the next ws_fill() or ws_close(). Pings are
 * answered by ws_next() itself (and still returned).
 *
 * Threads: a connection is used by one thread. ws_frame_encode/decode and
 * ws_accept_key are pure.
 */
#ifndef SV_CLI_WSCLIENT_H
#define SV_CLI_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli/client.h"
#include "util/error.h"

/* RFC 6455 section 5.2 opcodes */
enum {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

#define WS_HDR_MAX	   14	      /* 2 + 8 (length) + 4 (mask) */
#define WS_PAYLOAD_MAX	   (1u << 20) /* larger frames are refused */
#define WS_CLOSE_NORMAL	   1000
#define WS_CLOSE_GOINGAWAY 1001

struct ws_frame {
	bool fin;
	uint8_t opcode;
	bool masked;
	uint64_t len;
	uint8_t *payload; /* into the decoded buffer (unmasked in place) */
};

/* Encode one frame into out: header, then payload masked with mask (NULL:
 * unmasked, as a server sends). Bytes written, or 0 if cap is too small
 * (cap >= WS_HDR_MAX + len always suffices). */
size_t ws_frame_encode(uint8_t *out, size_t cap, bool fin, uint8_t opcode,
		       const uint8_t *payload, size_t len,
		       const uint8_t mask[4]);

/* Decode the frame at the start of buf[0..len): bytes it takes (> 0) with
 * f filled and the payload unmasked in place; 0 if buf holds only part of
 * a frame; -EPROTO for a malformed frame (reserved bits, bad control
 * frame, unknown opcode), -EMSGSIZE if the payload exceeds max_payload. */
ssize_t ws_frame_decode(uint8_t *buf, size_t len, size_t max_payload,
			struct ws_frame *f);

/* Sec-WebSocket-Accept for key (section 4.2.2: base64(SHA-1(key +
 * GUID))); out holds 28 characters and a NUL. */
void ws_accept_key(const char *key, char out[29]);

struct ws_conn;

/* Connect to the daemon described by o (socket_path, or url http(s)://
 * with ca_file/insecure, token as a bearer) and upgrade path. 0; or
 * -EREMOTEIO with the server's error message and *status when it answered
 * something else than 101; -errno when it could not be reached. */
int ws_connect(const struct client_opts *o, const char *path,
	       struct ws_conn **out, int *status, struct error *err);

/* The socket to poll for input. */
int ws_fd(const struct ws_conn *c);

/* True when input is already buffered (TLS records or undecoded bytes):
 * call ws_fill()/ws_next() without waiting for ws_fd(). */
bool ws_pending(const struct ws_conn *c);

/* One read from the connection into the buffer, without waiting: bytes
 * read (> 0), 0 at end of stream, -EAGAIN if nothing was available,
 * -errno. */
ssize_t ws_fill(struct ws_conn *c, struct error *err);

/* The next complete frame in the buffer: 1 (f filled), 0 if none yet,
 * -errno for a protocol error. */
int ws_next(struct ws_conn *c, struct ws_frame *f, struct error *err);

/* Send one masked frame (whole buffer; blocks). 0 or -errno. */
int ws_send(struct ws_conn *c, uint8_t opcode, const void *buf, size_t len,
	    struct error *err);

/* Send a close frame with code (section 5.5.1). */
int ws_send_close(struct ws_conn *c, uint16_t code, struct error *err);

/* Close the connection and free it. NULL is allowed. */
void ws_close(struct ws_conn *c);

#endif
