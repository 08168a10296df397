/*
 * The audit log table of the inventory (inventory.h; schema step 2 in
 * inventory.c): append and query. Append-only is enforced by the schema's
 * triggers, not only by this file having no UPDATE or DELETE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/inventory_priv.h"

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX	    10000

int inventory_audit_add(struct inventory *inv, const struct inventory_audit *a,
			struct error *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (!a->principal[0] || !a->source[0] || !a->action[0])
		return error_set(err, EINVAL,
				 "audit: principal, source and action "
				 "required");
	pthread_mutex_lock(&inv->lock);
	r = inventory_prepare(inv,
			      "INSERT INTO audit (time, principal, uid, source,"
			      " action, target, status, token_id)"
			      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			      &st, err);
	if (!r) {
		sqlite3_bind_int64(
			st, 1, a->time_ms ? a->time_ms : inventory_now_ms());
		sqlite3_bind_text(st, 2, a->principal, -1, SQLITE_STATIC);
		if (a->uid >= 0)
			sqlite3_bind_int64(st, 3, a->uid);
		else
			sqlite3_bind_null(st, 3);
		sqlite3_bind_text(st, 4, a->source, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, a->action, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, a->target, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 7, a->status);
		if (a->token_id > 0)
			sqlite3_bind_int64(st, 8, a->token_id);
		else
			sqlite3_bind_null(st, 8);
		if (sqlite3_step(st) != SQLITE_DONE)
			r = inventory_db_error(inv, "adding an audit record",
					       err);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	return r;
}

int inventory_audit_list(struct inventory *inv, int64_t since_ms,
			 const char *vm, unsigned limit,
			 struct inventory_audit **out, size_t *n,
			 struct error *err)
{
	struct inventory_audit *rec;
	sqlite3_stmt *st = NULL;
	size_t cnt = 0;
	int r, rc = SQLITE_DONE;

	if (limit == 0)
		limit = AUDIT_LIMIT_DEFAULT;
	if (limit > AUDIT_LIMIT_MAX)
		limit = AUDIT_LIMIT_MAX;
	rec = calloc(limit, sizeof(*rec));
	if (!rec)
		return error_set(err, ENOMEM, "out of memory");
	pthread_mutex_lock(&inv->lock);
	/* the newest `limit` (DESC), reversed below to oldest first */
	r = inventory_prepare(
		inv,
		vm ? "SELECT id, time, principal, uid, source, action, target,"
		     " status, token_id FROM audit WHERE time >= ?1"
		     " AND target = ?2 COLLATE NOCASE AND action LIKE 'vm.%'"
		     " ORDER BY id DESC LIMIT ?3"
		   : "SELECT id, time, principal, uid, source, action, target,"
		     " status, token_id FROM audit WHERE time >= ?1"
		     " ORDER BY id DESC LIMIT ?3",
		&st, err);
	if (r)
		goto out;
	sqlite3_bind_int64(st, 1, since_ms);
	if (vm)
		sqlite3_bind_text(st, 2, vm, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && cnt < limit) {
		struct inventory_audit *a = &rec[cnt++];

		a->id = sqlite3_column_int64(st, 0);
		a->time_ms = sqlite3_column_int64(st, 1);
		inventory_col_text(st, 2, a->principal, sizeof(a->principal));
		a->uid = sqlite3_column_type(st, 3) == SQLITE_NULL
				 ? -1
				 : sqlite3_column_int64(st, 3);
		inventory_col_text(st, 4, a->source, sizeof(a->source));
		inventory_col_text(st, 5, a->action, sizeof(a->action));
		inventory_col_text(st, 6, a->target, sizeof(a->target));
		a->status = sqlite3_column_int(st, 7);
		a->token_id = sqlite3_column_int64(st, 8); /* NULL: 0 */
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = inventory_db_error(inv, "listing the audit log", err);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	if (r) {
		free(rec);
		return r;
	}
	for (size_t i = 0; i < cnt / 2; i++) {
		struct inventory_audit t = rec[i];

		rec[i] = rec[cnt - 1 - i];
		rec[cnt - 1 - i] = t;
	}
	*out = rec;
	*n = cnt;
	return 0;
}
