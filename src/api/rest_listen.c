/*
 * The REST server's listeners (see rest.c for the unix socket trick):
 * the unix socket, civetweb's start and stop, the TLS front end.
 */
#include "api/rest.h"
#include "api/tls.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/event_bus.h"
#include "api/rest_priv.h"
#include "util/log.h"

/* ---- listeners ------------------------------------------------------------ */

int rest_default_socket_path(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (geteuid() == 0)
		n = snprintf(buf, size, "/run/softvisor/api.sock");
	else if (xdg && xdg[0] == '/')
		n = snprintf(buf, size, "%s/softvisor/api.sock", xdg);
	else
		n = snprintf(buf, size, "/tmp/softvisor-%u/api.sock",
			     (unsigned)geteuid());
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int mkdir_parents(const char *path)
{
	char dir[108], *p;

	snprintf(dir, sizeof(dir), "%s", path);
	p = strrchr(dir, '/');
	if (!p || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int unix_listen(struct rest *r, struct error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = r->socket_path;
	struct stat st;
	int fd, rc;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	rc = mkdir_parents(path);
	if (rc < 0)
		return error_set(err, -rc,
				 "%s: cannot create its directory: %s", path,
				 strerror(-rc));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, errno, "socket: %s", strerror(errno));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return error_set(err, EEXIST,
					 "%s: exists and is not a socket",
					 path);
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return error_set(err, EADDRINUSE,
					 "%s: a daemon is already running "
					 "(it answers on the socket)",
					 path);
		}
		/* Nobody answers: a stale socket of a daemon that died. */
		close(fd);
		unlink(path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return error_set(err, errno, "socket: %s",
					 strerror(errno));
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = error_set(err, errno, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	r->socket_bound = true;
	if (chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
		rc = error_set(err, errno, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

/* The listening socket civetweb opened for 127.0.0.1:port. */
static int find_listen_fd(unsigned port)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (!dir)
		return -1;
	while ((e = readdir(dir)) && found < 0) {
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);
		int fd = atoi(e->d_name), acc = 0;
		socklen_t al = sizeof(acc);

		if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    fd == dirfd(dir))
			continue;
		if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
		    sa.sin_family != AF_INET || ntohs(sa.sin_port) != port ||
		    sa.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == 0 &&
		    acc)
			found = fd;
	}
	closedir(dir);
	return found;
}

int rest_start(struct daemon *d, const struct rest_config *cfg,
	       struct rest **out, struct error *err)
{
	const char *opts[] = {
		"listening_ports",
		cfg->listen ? "127.0.0.1:0,127.0.0.1:0" : "127.0.0.1:0",
		"num_threads",
		REST_THREADS,
		"request_timeout_ms",
		"30000",
		"websocket_timeout_ms",
		"30000",
		"enable_websocket_ping_pong",
		"yes",
		"enable_keep_alive",
		"yes",
		"keep_alive_timeout_ms",
		"5000",
		/* the TLS front end's backend connection (tls.c) is TCP on
		 * loopback: without it a reply's body, written after its
		 * headers, waits for the delayed ACK of the headers (Nagle,
		 * 40 ms a reply) */
		"tcp_nodelay",
		"1",
		NULL,
		NULL,
	};
	struct mg_callbacks cb = {
		.http_error = rest_on_http_error,
		.log_message = rest_on_log_message,
		.connection_close = rest_console_connection_closed,
	};
	struct mg_server_port ports[4];
	struct rest *r;
	int ufd = -1, tfd, n, rc;

	if (!cfg->socket_path || !cfg->socket_path[0])
		return error_set(err, EINVAL, "API socket: no path");
	if (strlen(cfg->socket_path) >= sizeof(r->socket_path))
		return error_set(err, ENAMETOOLONG,
				 "%s: too long for a unix socket (max %zu)",
				 cfg->socket_path, sizeof(r->socket_path) - 1);
	r = calloc(1, sizeof(*r));
	if (!r)
		return error_set(err, ENOMEM, "out of memory");
	r->d = d;
	strcpy(r->socket_path, cfg->socket_path);

	ufd = unix_listen(r, err);
	if (ufd < 0) {
		rc = ufd;
		goto fail;
	}
	mg_init_library(MG_FEATURES_WEBSOCKET);
	r->ctx = mg_start(&cb, r, opts);
	if (!r->ctx) {
		mg_exit_library();
		rc = error_set(err, EIO, "cannot start the HTTP server");
		goto fail;
	}
	mg_set_request_handler(r->ctx, "/", rest_handler, r);
	rest_console_register(r);

	n = mg_get_server_ports(r->ctx, (int)ARRAY_SIZE(ports), ports);
	if (n < (cfg->listen ? 2 : 1)) {
		rc = error_set(err, EIO, "HTTP server: no listener");
		goto fail;
	}
	tfd = find_listen_fd((unsigned)ports[0].port);
	if (tfd < 0) {
		rc = error_set(err, EIO, "HTTP server: listener not found");
		goto fail;
	}
	/* the TLS front end's backend listener (tls.h, TLS_STREAM_BUFFER) */
	if (cfg->listen && n >= 2) {
		int bfd = find_listen_fd((unsigned)ports[1].port);
		if (bfd >= 0)
			tls_bound_buffer(bfd, SO_RCVBUF);
	}
	if (dup3(ufd, tfd, O_CLOEXEC) < 0) {
		rc = error_set(err, errno, "dup3: %s", strerror(errno));
		goto fail;
	}
	close(ufd);
	ufd = -1;

	if (cfg->listen) {
		char pem[4200];
		const char *cert = cfg->tls_cert, *key = cfg->tls_key;

		if (!cert) {
			if (!cfg->state_dir) {
				rc = error_set(err, EINVAL,
					       "TLS: no certificate and no "
					       "state directory");
				goto fail;
			}
			rc = tls_cert_ensure(cfg->state_dir, pem, sizeof(pem),
					     err);
			if (rc < 0)
				goto fail;
			cert = pem;
			key = NULL;
		}
		rc = tls_proxy_start(cfg->listen, cert, key,
				     (uint16_t)ports[1].port, &r->tls, err);
		if (rc < 0)
			goto fail;
		log_info("api", "listening on %s (TLS) and %s", cfg->listen,
			 r->socket_path);
	} else {
		log_info("api", "listening on %s", r->socket_path);
	}
	*out = r;
	return 0;
fail:
	if (ufd >= 0)
		close(ufd);
	rest_stop(r);
	return rc;
}

unsigned rest_tls_port(const struct rest *r)
{
	return r && r->tls ? tls_proxy_port(r->tls) : 0;
}

void rest_stop(struct rest *r)
{
	if (!r)
		return;
	tls_proxy_stop(r->tls); /* no new TLS clients; relays end */
	/* event streams end, so that their workers can be joined */
	if (r->d)
		event_bus_shutdown(daemon_event_bus(r->d));
	if (r->ctx) {
		mg_stop(r->ctx); /* consoles detach in their close handlers */
		mg_exit_library();
	}
	if (r->socket_bound)
		unlink(r->socket_path);
	free(r);
}
