/*
 * POST /v1/migrations/incoming: the destination's end of a live
 * migration (docs/vm-state.md, "Live migration"). The body is a stream:
 *
 *   "SVMIGR1\n" (8 bytes)  u32 LE n  n bytes of VM definition (JSON)
 *   the VM state (docs/vm-state.md, file format), to its end section
 *
 * A query "copy_storage=1&disk_sizes=N,N" (--copy-storage): the stream
 * carries the disks' data too, into images created here first
 * (daemon_mirror_prepare).
 *
 * The definition is read here (bounded), the state is handed to the
 * daemon as it arrives: the reply comes once the VM was restored, paused
 * (200, the Vm), or it failed (the VM is not kept).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/daemon.h"
#include "api/rest_priv.h"

#define MIGR_MAGIC   "SVMIGR1\n"
#define MIGR_DEF_MAX (256u * 1024)

static long body_read(void *opaque, void *buf, size_t n)
{
	return (long)mg_read(opaque, buf, n);
}

/* Read exactly n bytes; false at a short body. */
static bool read_full(struct mg_connection *conn, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		int r = mg_read(conn, (char *)buf + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

int rest_migrate_in(struct rest *r, struct mg_connection *conn,
		    const char *actor, char *target, size_t target_size)
{
	char magic[8];
	uint8_t len[4];
	struct error err = { 0 };
	json_t *out = NULL;

	if (!read_full(conn, magic, sizeof(magic)) ||
	    memcmp(magic, MIGR_MAGIC, sizeof(magic)) ||
	    !read_full(conn, len, sizeof(len)))
		return rest_send_error(conn, 400, "bad_request", NULL,
				       "not a migration stream (it starts "
				       "with \"SVMIGR1\\n\")");
	uint32_t n = (uint32_t)len[0] | (uint32_t)len[1] << 8 |
		     (uint32_t)len[2] << 16 | (uint32_t)len[3] << 24;
	if (n < 2 || n > MIGR_DEF_MAX)
		return rest_send_error(conn, 400, "bad_request", NULL,
				       "migration stream: a definition of %u "
				       "bytes (2..%u)",
				       n, MIGR_DEF_MAX);
	char *def = malloc(n + 1);
	if (!def)
		return rest_send_error(conn, 500, "internal", NULL,
				       "out of memory");
	if (!read_full(conn, def, n)) {
		free(def);
		return rest_send_error(conn, 400, "bad_request", NULL,
				       "migration stream: it ends inside the "
				       "definition");
	}
	def[n] = '\0';
	json_t *j = json_loads(def, 0, NULL);
	const char *name = json_string_value(json_object_get(j, "name"));
	snprintf(target, target_size, "%s", name ? name : "");
	json_decref(j);
	/* --copy-storage: the disks are created here first (or, without,
	 * must be reachable here) */
	const char *qs = mg_get_request_info(conn)->query_string;
	struct daemon_mirror_in *mi = NULL;
	int rc = daemon_mirror_prepare(r->d, qs ? qs : "", &def, &mi, &err);
	if (!rc)
		rc = daemon_migrate_incoming(r->d, actor, def, mi != NULL,
					     body_read, conn, &out, &err);
	daemon_mirror_done(mi, rc == 0);
	free(def);
	if (rc < 0)
		return rest_send_daemon_error(conn, rc, err.msg);
	rc = rest_send_json(conn, 200, out);
	json_decref(out);
	return rc;
}
