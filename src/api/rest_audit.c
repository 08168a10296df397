/*
 * The REST layer's half of the audit log (docs/api.md "Audit log"): who
 * made a changing request and from where; the daemon stores it
 * (daemon_audit).
 *
 * The unix socket's peer: Debian's civetweb gives a handler no access to
 * its connection's descriptor, so SO_PEERCRED cannot be asked of "this
 * connection". What is sound instead: the requesting connection is open
 * while its handler runs, and it is one of the connections accepted on
 * the API socket; if every such connection has the same peer uid, that
 * is the requester's uid. Otherwise (two users connected at that moment)
 * the uid is recorded as unknown rather than guessed.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "api/rest_priv.h"

static int64_t unix_peer_uid(const char *sock_path)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int64_t uid = -1;
	bool mixed = false;

	if (!dir)
		return -1;
	while ((e = readdir(dir)) && !mixed) {
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		int fd = atoi(e->d_name), acc = 1;
		socklen_t al = sizeof(acc);

		if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    fd == dirfd(dir))
			continue;
		/* an accepted connection of our socket: it has the
		 * listener's name, and does not listen itself */
		if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
		    sa.sun_family != AF_UNIX ||
		    len <= offsetof(struct sockaddr_un, sun_path) ||
		    strncmp(sa.sun_path, sock_path, sizeof(sa.sun_path)) != 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 ||
		    acc)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
			continue;
		if (uid < 0)
			uid = cred.uid;
		else if (uid != (int64_t)cred.uid)
			mixed = true;
	}
	closedir(dir);
	return mixed ? -1 : uid;
}

void rest_audit_request(struct rest *r, const struct mg_connection *conn,
			const struct rest_audit_info *ai, int status)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct daemon_audit_record rec = {
		.uid = -1,
		.action = ai->action,
		.target = ai->target,
		.status = status,
	};
	char source[64] = "unix";

	if (!ai->authenticated) {
		rec.principal = "unauthenticated";
		if (ri->remote_addr[0] &&
		    !tls_proxy_peer(r->tls, (unsigned)ri->remote_port, source,
				    sizeof(source)))
			snprintf(source, sizeof(source), "%s:%d",
				 ri->remote_addr, ri->remote_port);
	} else if (!ai->tcp) {
		/* the socket's owner, or a token presented on the socket */
		rec.principal = strncmp(ai->actor, "token:", 6) ? "local"
								: ai->actor;
		rec.uid = unix_peer_uid(r->socket_path);
	} else {
		rec.principal = ai->actor; /* "token:NAME" */
		if (!tls_proxy_peer(r->tls, (unsigned)ri->remote_port, source,
				    sizeof(source)))
			snprintf(source, sizeof(source), "tls");
	}
	if (ai->authenticated)
		rec.token_id = ai->token_id;
	rec.source = source;
	daemon_audit(r->d, &rec);
}
