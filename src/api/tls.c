/*
 * Server certificate and TLS front end of the REST API (see tls.h).
 */
#include "api/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/log.h"

#define TLS_VALID_DAYS 3650
#define TLS_RELAY_BUF  16384
#define TLS_IO_TIMEOUT 60 /* s: a handshake or a half-sent record */

struct tls_conn {
	struct tls_proxy *proxy;
	struct tls_conn *next;
	int cfd, bfd;	   /* client (TLS) and backend (plain) sockets */
	unsigned src_port; /* bfd's local port, as civetweb sees it */
};

struct tls_proxy {
	SSL_CTX *ctx;
	int lfd;
	int wake[2]; /* stop signal for the acceptor */
	uint16_t port, backend_port;
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_cond_t idle; /* conns became empty */
	struct tls_conn *conns;
	unsigned nconns;
	bool stopping;
};

static const char *tls_err_string(void)
{
	static __thread char buf[256];
	unsigned long e = ERR_get_error();

	if (!e)
		return "unknown TLS error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* ---- certificate -------------------------------------------------------- */

static int cert_add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *cert_build(EVP_PKEY *key, const char *host)
{
	unsigned char serial[16];
	char san[320];
	X509 *x = X509_new();
	X509_NAME *name;
	BIGNUM *bn = NULL;

	if (!x || !X509_set_version(x, 2)) /* 2 = X.509 v3 */
		goto fail;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* RFC 5280 4.1.2.2: positive, <= 20 octets */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto fail;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), TLS_VALID_DAYS, 0, NULL))
		goto fail;
	if (!X509_set_pubkey(x, key))
		goto fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					(const unsigned char *)"Softvisor", -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)host, -1, -1, 0))
		goto fail;
	if (!X509_set_issuer_name(x, name))
		goto fail;
	snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,IP:127.0.0.1", host);
	if (cert_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    cert_add_ext(x, NID_key_usage, "critical,digitalSignature") ||
	    cert_add_ext(x, NID_ext_key_usage, "serverAuth") ||
	    cert_add_ext(x, NID_subject_key_identifier, "hash") ||
	    cert_add_ext(x, NID_subject_alt_name, san))
		goto fail;
	if (!X509_sign(x, key, EVP_sha256()))
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

int tls_cert_generate(const char *path, struct error *err)
{
	char host[256] = "localhost", tmp[4200];
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	FILE *f = NULL;
	int fd, rc = 0;

	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	key = EVP_EC_gen("P-256");
	if (!key)
		return error_set(err, EIO, "TLS key: %s", tls_err_string());
	x = cert_build(key, host);
	if (!x) {
		rc = error_set(err, EIO, "TLS certificate: %s",
			       tls_err_string());
		goto out;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		rc = error_set(err, ENAMETOOLONG, "%s: path too long", path);
		goto out;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		rc = error_set(err, errno, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_X509(f, x) || fflush(f) != 0 || fsync(fileno(f)) < 0) {
		rc = error_set(err, EIO, "%s: cannot write", tmp);
		fclose(f);
		unlink(tmp);
		goto out;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		rc = error_set(err, errno, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	log_info("api", "generated a self-signed TLS certificate for %s in %s",
		 host, path);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

int tls_cert_ensure(const char *state_dir, char *path, size_t path_size,
		    struct error *err)
{
	char dir[4096];
	struct stat st;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/tls", state_dir) >=
		    sizeof(dir) ||
	    (size_t)snprintf(path, path_size, "%s/server.pem", dir) >=
		    path_size)
		return error_set(err, ENAMETOOLONG, "%s: path too long",
				 state_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return error_set(err, errno, "%s: %s", dir, strerror(errno));
	if (stat(path, &st) == 0)
		return 0;
	if (errno != ENOENT)
		return error_set(err, errno, "%s: %s", path, strerror(errno));
	return tls_cert_generate(path, err);
}

/* ---- relay -------------------------------------------------------------- */

void tls_bound_buffer(int fd, int which)
{
	int n = TLS_STREAM_BUFFER;

	setsockopt(fd, SOL_SOCKET, which, &n, sizeof(n));
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int ssl_write_all(SSL *ssl, const char *buf, size_t len)
{
	while (len) {
		int n = SSL_write(ssl, buf,
				  len > INT32_MAX ? INT32_MAX : (int)len);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int backend_connect(struct tls_conn *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	pthread_mutex_lock(&c->proxy->lock); /* tls_proxy_stop reads bfd */
	c->bfd = fd;
	pthread_mutex_unlock(&c->proxy->lock);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(c->proxy->backend_port);
	setsockopt(c->bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	tls_bound_buffer(c->bfd, SO_SNDBUF);
	if (connect(c->bfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	if (getsockname(c->bfd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	pthread_mutex_lock(&c->proxy->lock);
	c->src_port = ntohs(sa.sin_port);
	pthread_mutex_unlock(&c->proxy->lock);
	return 0;
}

static void relay(struct tls_conn *c, SSL *ssl)
{
	char *buf = malloc(TLS_RELAY_BUF);
	struct pollfd pfd[2] = {
		{ .fd = c->cfd, .events = POLLIN },
		{ .fd = c->bfd, .events = POLLIN },
	};

	if (!buf)
		return;
	for (;;) {
		int pending = SSL_pending(ssl) > 0;
		int n = poll(pfd, 2, pending ? 0 : -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (pending ||
		    (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = SSL_read(ssl, buf, TLS_RELAY_BUF);
			if (n <= 0) {
				int e = SSL_get_error(ssl, n);

				if (e == SSL_ERROR_WANT_READ ||
				    e == SSL_ERROR_WANT_WRITE)
					continue;
				break;
			}
			if (write_all(c->bfd, buf, (size_t)n) < 0)
				break;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(c->bfd, buf, TLS_RELAY_BUF, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			if (ssl_write_all(ssl, buf, (size_t)r) < 0)
				break;
		}
	}
	free(buf);
}

static void conn_unlink(struct tls_conn *c)
{
	struct tls_proxy *p = c->proxy;
	struct tls_conn **pp;

	pthread_mutex_lock(&p->lock);
	for (pp = &p->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	p->nconns--;
	if (!p->nconns)
		pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
}

static void *conn_thread(void *arg)
{
	struct tls_conn *c = arg;
	SSL *ssl = SSL_new(c->proxy->ctx);

	if (!ssl || !SSL_set_fd(ssl, c->cfd))
		goto out;
	set_timeouts(c->cfd, TLS_IO_TIMEOUT);
	if (SSL_accept(ssl) != 1) {
		log_debug("api", "TLS handshake failed: %s", tls_err_string());
		goto out;
	}
	if (backend_connect(c) < 0) {
		log_warn("api", "TLS relay: cannot reach the API: %s",
			 strerror(errno));
		goto out;
	}
	relay(c, ssl);
	SSL_shutdown(ssl);
out:
	/* Unlink first: afterwards nobody shuts the fds down under us. */
	conn_unlink(c);
	SSL_free(ssl);
	ERR_clear_error();
	close(c->cfd);
	if (c->bfd >= 0)
		close(c->bfd);
	free(c);
	return NULL;
}

static void accept_one(struct tls_proxy *p)
{
	struct tls_conn *c;
	pthread_attr_t attr;
	pthread_t t;
	int one = 1;
	int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	c = calloc(1, sizeof(*c));
	pthread_mutex_lock(&p->lock);
	if (!c || p->nconns >= TLS_PROXY_MAX_CONN || p->stopping) {
		pthread_mutex_unlock(&p->lock);
		log_warn("api", "TLS: too many connections, refusing one");
		free(c);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->proxy = p;
	c->cfd = fd;
	c->bfd = -1;
	c->next = p->conns;
	p->conns = c;
	p->nconns++;
	pthread_mutex_unlock(&p->lock);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn_thread, c) != 0) {
		conn_unlink(c);
		close(fd);
		free(c);
	}
	pthread_attr_destroy(&attr);
}

static void *acceptor_thread(void *arg)
{
	struct tls_proxy *p = arg;
	struct pollfd pfd[2] = {
		{ .fd = p->lfd, .events = POLLIN },
		{ .fd = p->wake[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & POLLIN)
			accept_one(p);
	}
	return NULL;
}

/* ---- listener ------------------------------------------------------------ */

static int listen_socket(const char *listen_spec, struct error *err)
{
	char host[256];
	const char *colon = strrchr(listen_spec, ':');
	const char *h = listen_spec;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	size_t hl;
	int fd = -1, rc, one = 1;

	if (!colon || !colon[1])
		return error_set(err, EINVAL, "--listen %s: expected ADDR:PORT",
				 listen_spec);
	hl = (size_t)(colon - listen_spec);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return error_set(err, EINVAL, "--listen %s: address too long",
				 listen_spec);
	memcpy(host, h, hl);
	host[hl] = '\0';
	rc = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res);
	if (rc)
		return error_set(err, EINVAL, "--listen %s: %s", listen_spec,
				 gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		tls_bound_buffer(fd, SO_RCVBUF); /* accepted sockets inherit */
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	rc = errno;
	freeaddrinfo(res);
	if (fd < 0)
		return error_set(err, rc ? rc : EADDRNOTAVAIL,
				 "--listen %s: %s", listen_spec,
				 strerror(rc ? rc : EADDRNOTAVAIL));
	return fd;
}

int tls_proxy_start(const char *listen_spec, const char *cert_file,
		    const char *key_file, uint16_t backend_port,
		    struct tls_proxy **out, struct error *err)
{
	struct tls_proxy *p = calloc(1, sizeof(*p));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int rc;

	if (!p)
		return error_set(err, ENOMEM, "out of memory");
	p->lfd = -1;
	p->wake[0] = p->wake[1] = -1;
	p->backend_port = backend_port;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);

	p->ctx = SSL_CTX_new(TLS_server_method());
	if (!p->ctx) {
		rc = error_set(err, EIO, "TLS: %s", tls_err_string());
		goto fail;
	}
	SSL_CTX_set_min_proto_version(p->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(p->ctx, SSL_MODE_AUTO_RETRY);
	if (SSL_CTX_use_certificate_chain_file(p->ctx, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(p->ctx, key_file ? key_file : cert_file,
					SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(p->ctx) != 1) {
		rc = error_set(err, EINVAL, "TLS certificate %s: %s", cert_file,
			       tls_err_string());
		goto fail;
	}
	p->lfd = listen_socket(listen_spec, err);
	if (p->lfd < 0) {
		rc = p->lfd;
		goto fail;
	}
	if (getsockname(p->lfd, (struct sockaddr *)&ss, &sl) == 0)
		p->port = ntohs(
			ss.ss_family == AF_INET6
				? ((struct sockaddr_in6 *)&ss)->sin6_port
				: ((struct sockaddr_in *)&ss)->sin_port);
	if (pipe2(p->wake, O_CLOEXEC) < 0) {
		rc = error_set(err, errno, "pipe: %s", strerror(errno));
		goto fail;
	}
	rc = pthread_create(&p->acceptor, NULL, acceptor_thread, p);
	if (rc) {
		rc = error_set(err, rc, "TLS thread: %s", strerror(rc));
		goto fail;
	}
	*out = p;
	return 0;
fail:
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->wake[0] >= 0) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	SSL_CTX_free(p->ctx);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->idle);
	free(p);
	return rc;
}

bool tls_proxy_owns(struct tls_proxy *p, unsigned src_port)
{
	struct tls_conn *c;
	bool found = false;

	if (!p || !src_port)
		return false;
	pthread_mutex_lock(&p->lock);
	for (c = p->conns; c && !found; c = c->next)
		found = c->src_port == src_port;
	pthread_mutex_unlock(&p->lock);
	return found;
}

bool tls_proxy_peer(struct tls_proxy *p, unsigned src_port, char *buf,
		    size_t size)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	char host[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;
	struct tls_conn *c;
	bool found = false;

	if (!p || !src_port)
		return false;
	pthread_mutex_lock(&p->lock);
	for (c = p->conns; c && !found; c = c->next) {
		if (c->src_port != src_port)
			continue;
		found = getpeername(c->cfd, (struct sockaddr *)&sa, &len) == 0;
	}
	pthread_mutex_unlock(&p->lock);
	if (!found)
		return false;
	if (sa.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, size, "%s:%u", host, port);
	} else if (sa.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, size, "[%s]:%u", host, port);
	} else {
		return false;
	}
	return true;
}

uint16_t tls_proxy_port(const struct tls_proxy *p)
{
	return p->port;
}

void tls_proxy_stop(struct tls_proxy *p)
{
	struct tls_conn *c;
	char b = 1;

	if (!p)
		return;
	if (write(p->wake[1], &b, 1) < 0)
		log_warn("api", "TLS stop: %s", strerror(errno));
	pthread_join(p->acceptor, NULL);
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	for (c = p->conns; c; c = c->next) {
		shutdown(c->cfd, SHUT_RDWR);
		if (c->bfd >= 0)
			shutdown(c->bfd, SHUT_RDWR);
	}
	while (p->nconns)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
	close(p->lfd);
	close(p->wake[0]);
	close(p->wake[1]);
	SSL_CTX_free(p->ctx);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->idle);
	free(p);
}
