/*
 * TLS for the daemon's TCP listener (softvisor daemon --listen ADDR:PORT):
 * the server certificate and a small TLS front end.
 *
 * Why a front end of our own: Debian 12's civetweb (1.15+dfsg-4) loads
 * OpenSSL with dlopen() and looks up SSL_get_peer_certificate, which
 * OpenSSL 3 no longer exports (it is a macro for SSL_get1_peer_certificate),
 * so civetweb's own TLS never initializes. The front end terminates TLS
 * with libssl and relays the plain bytes to a private loopback listener of
 * civetweb. Requests arriving there are trusted as "came over TLS" only if
 * their source port is one of the front end's live relay connections
 * (tls_proxy_owns); the REST layer refuses anything else (docs/api.md).
 *
 * Threads: one acceptor thread plus one relay thread per connection.
 * tls_proxy_owns may be called from any thread. tls_proxy_stop joins all.
 */
#ifndef SV_API_TLS_H
#define SV_API_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define TLS_PROXY_MAX_CONN 256 /* concurrent TLS clients */

struct tls_proxy;

/* Make sure <state_dir>/tls/server.pem exists: a PEM file holding an EC
 * P-256 private key and a self-signed X.509 v3 certificate (CN and SAN
 * DNS = host name, SAN IP 127.0.0.1, valid 10 years), mode 0600. An
 * existing file is reused as is. path receives the file name. */
int tls_cert_ensure(const char *state_dir, char *path, size_t path_size,
		    struct error *err);

/* Write a new self-signed key + certificate to path (mode 0600). */
int tls_cert_generate(const char *path, struct error *err);

/* Listen on listen ("ADDR:PORT", "[ADDR6]:PORT" or ":PORT"), terminate TLS
 * with cert_file/key_file (key_file NULL: the key is in cert_file) and
 * relay every connection to 127.0.0.1:backend_port. */
int tls_proxy_start(const char *listen, const char *cert_file,
		    const char *key_file, uint16_t backend_port,
		    struct tls_proxy **out, struct error *err);

/* True if a relay connection with local (source) port src_port to the
 * backend is open right now. */
bool tls_proxy_owns(struct tls_proxy *p, unsigned src_port);

/* The TLS client ("ADDR:PORT", "[ADDR6]:PORT") of the live relay
 * connection with source port src_port into buf; false if there is none. */
bool tls_proxy_peer(struct tls_proxy *p, unsigned src_port, char *buf,
		    size_t size);

/* The TCP port actually bound (useful with port 0). */
uint16_t tls_proxy_port(const struct tls_proxy *p);

/* Close the listener and every relay connection; wait for the threads. */
void tls_proxy_stop(struct tls_proxy *p);

/* Bound a socket's buffer (which: SO_RCVBUF or SO_SNDBUF) to
 * TLS_STREAM_BUFFER instead of the kernel's autotuning, which lets a
 * loopback connection hold megabytes. A live migration's stream runs
 * through the TLS front end (tls.c) to civetweb and a relay to the
 * worker: what sits in those buffers when the source pauses the guest
 * is drained inside the downtime (docs/vm-state.md, "Buffers"). */
#define TLS_STREAM_BUFFER (256 * 1024)
void tls_bound_buffer(int fd, int which);

#endif
