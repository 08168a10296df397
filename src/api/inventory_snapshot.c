/* Snapshots, templates and clones in the inventory (inventory_snapshot.h). */
#include "api/inventory_snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/inventory_priv.h"

/* Caller holds inv->lock. Snapshots with memory (issue 18) added two
 * columns: a table made before gains them, once per open. */
static int snap_columns(struct inventory *inv, struct error *err)
{
	sqlite3_stmt *st;
	if (inv->snap_columns)
		return 0;
	if (inventory_prepare(inv,
			      "SELECT 1 FROM pragma_table_info('vm_snapshots')"
			      " WHERE name = 'memory_bytes'",
			      &st, err))
		return -EIO;
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE &&
	    sqlite3_exec(inv->db,
			 "ALTER TABLE vm_snapshots ADD COLUMN memory_bytes"
			 " INTEGER NOT NULL DEFAULT 0;"
			 "ALTER TABLE vm_snapshots ADD COLUMN paused"
			 " INTEGER NOT NULL DEFAULT 0;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return inventory_db_error(inv, "adding snapshot columns", err);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return inventory_db_error(inv, "snapshot columns", err);
	inv->snap_columns = true;
	return 0;
}

/* Caller holds inv->lock. A linked clone's linked_to keeps its template
 * (no ON DELETE action: the delete fails); origin is only informational. */
static int ensure_tables(struct inventory *inv, struct error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(inv->db,
			 "CREATE TABLE IF NOT EXISTS vm_snapshots ("
			 " vm INTEGER NOT NULL REFERENCES vms(id)"
			 "  ON DELETE CASCADE,"
			 " name TEXT NOT NULL,"
			 " created INTEGER NOT NULL,"
			 " description TEXT NOT NULL DEFAULT '',"
			 " disks TEXT NOT NULL CHECK (json_valid(disks)),"
			 " running INTEGER NOT NULL DEFAULT 0,"
			 " memory_bytes INTEGER NOT NULL DEFAULT 0,"
			 " paused INTEGER NOT NULL DEFAULT 0,"
			 " PRIMARY KEY (vm, name));"
			 "CREATE TABLE IF NOT EXISTS vm_templates ("
			 " vm INTEGER PRIMARY KEY REFERENCES vms(id)"
			 "  ON DELETE CASCADE,"
			 " created INTEGER NOT NULL);"
			 "CREATE TABLE IF NOT EXISTS vm_clones ("
			 " vm INTEGER PRIMARY KEY REFERENCES vms(id)"
			 "  ON DELETE CASCADE,"
			 " origin INTEGER NOT NULL,"
			 " linked_to INTEGER REFERENCES vms(id),"
			 " created INTEGER NOT NULL);"
			 "CREATE INDEX IF NOT EXISTS vm_clones_linked"
			 " ON vm_clones (linked_to);",
			 NULL, NULL, &msg) != SQLITE_OK) {
		error_set(err, EIO, "inventory: snapshot tables: %s",
			  msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	return snap_columns(inv, err);
}

/* Lock and prepare sql: 0 with *st, or -errno (unlocked again). */
static int begin_stmt(struct inventory *inv, const char *sql, sqlite3_stmt **st,
		      struct error *err)
{
	pthread_mutex_lock(&inv->lock);
	int r = ensure_tables(inv, err);
	if (!r)
		r = inventory_prepare(inv, sql, st, err);
	if (r) {
		*st = NULL;
		pthread_mutex_unlock(&inv->lock);
	}
	return r;
}

static void end_stmt(struct inventory *inv, sqlite3_stmt *st)
{
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
}

int inventory_snapshot_add(struct inventory *inv, int64_t vm,
			   const struct inventory_snapshot *s,
			   struct error *err)
{
	sqlite3_stmt *st;
	int r = begin_stmt(inv,
			   "INSERT INTO vm_snapshots (vm, name, created,"
			   " description, disks, running, memory_bytes,"
			   " paused) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			   &st, err);
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, vm);
	sqlite3_bind_text(st, 2, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3,
			   s->created_ms ? s->created_ms : inventory_now_ms());
	sqlite3_bind_text(st, 4, s->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, s->disks ? s->disks : "[]", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, s->running);
	sqlite3_bind_int64(st, 7, s->memory_bytes);
	sqlite3_bind_int(st, 8, s->paused);
	int rc = sqlite3_step(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT &&
	    sqlite3_extended_errcode(inv->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		r = error_set(err, EEXIST, "snapshot %s already exists",
			      s->name);
	else if ((rc & 0xff) == SQLITE_CONSTRAINT)
		r = error_set(err, ENOENT, "no VM with id %lld", (long long)vm);
	else if (rc != SQLITE_DONE)
		r = inventory_db_error(inv, "adding a snapshot", err);
	end_stmt(inv, st);
	return r;
}

static int snap_from_row(sqlite3_stmt *st, struct inventory_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	inventory_col_text(st, 0, s->name, sizeof(s->name));
	s->created_ms = sqlite3_column_int64(st, 1);
	inventory_col_text(st, 2, s->description, sizeof(s->description));
	const unsigned char *d = sqlite3_column_text(st, 3);
	s->disks = strdup(d ? (const char *)d : "[]");
	s->running = sqlite3_column_int(st, 4) != 0;
	s->memory_bytes = sqlite3_column_int64(st, 5);
	s->paused = sqlite3_column_int(st, 6) != 0;
	return s->disks ? 0 : -ENOMEM;
}

#define SNAP_COLS \
	"name, created, description, disks, running, memory_bytes, paused"

int inventory_snapshot_get(struct inventory *inv, int64_t vm, const char *name,
			   struct inventory_snapshot *out, struct error *err)
{
	sqlite3_stmt *st;
	int r = begin_stmt(inv,
			   "SELECT " SNAP_COLS " FROM vm_snapshots"
			   " WHERE vm = ? AND name = ?",
			   &st, err);
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, vm);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (snap_from_row(st, out))
			r = error_set(err, ENOMEM, "out of memory");
	} else if (rc == SQLITE_DONE) {
		r = error_set(err, ENOENT, "no snapshot named %s", name);
	} else {
		r = inventory_db_error(inv, "reading a snapshot", err);
	}
	end_stmt(inv, st);
	return r;
}

int inventory_snapshot_list(struct inventory *inv, int64_t vm,
			    struct inventory_snapshot **out, size_t *n,
			    struct error *err)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	int r = begin_stmt(inv,
			   "SELECT " SNAP_COLS " FROM vm_snapshots"
			   " WHERE vm = ? ORDER BY created, rowid",
			   &st, err);
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, vm);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct inventory_snapshot *ns = realloc(
				*out, nc * sizeof(**out));
			if (!ns) {
				r = error_set(err, ENOMEM, "out of memory");
				break;
			}
			*out = ns;
			cap = nc;
		}
		if (snap_from_row(st, &(*out)[*n])) {
			r = error_set(err, ENOMEM, "out of memory");
			break;
		}
		(*n)++;
	}
	if (!r && rc != SQLITE_DONE)
		r = inventory_db_error(inv, "listing snapshots", err);
	end_stmt(inv, st);
	if (r) {
		inventory_snapshot_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return r;
}

void inventory_snapshot_list_free(struct inventory_snapshot *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].disks);
	free(s);
}

/* Run a statement with (int64 a, text b or int64 c) bound; *changes gets
 * the rows changed. */
static int run(struct inventory *inv, const char *sql, int64_t a, const char *b,
	       int64_t c, int nbind, int *changes, const char *what,
	       struct error *err)
{
	sqlite3_stmt *st;
	int r = begin_stmt(inv, sql, &st, err);
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, a);
	if (nbind >= 2) {
		if (b)
			sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, 2, c);
	}
	if (nbind >= 3)
		sqlite3_bind_int64(st, 3, inventory_now_ms());
	int rc = sqlite3_step(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		r = error_set(err, EBUSY, "inventory: %s: %s", what,
			      sqlite3_errmsg(inv->db));
	else if (rc != SQLITE_DONE)
		r = inventory_db_error(inv, what, err);
	if (changes)
		*changes = sqlite3_changes(inv->db);
	end_stmt(inv, st);
	return r;
}

int inventory_snapshot_delete(struct inventory *inv, int64_t vm,
			      const char *name, struct error *err)
{
	int n = 0;
	int r = run(inv, "DELETE FROM vm_snapshots WHERE vm = ? AND name = ?",
		    vm, name, 0, 2, &n, "deleting a snapshot", err);
	if (!r && n == 0)
		r = error_set(err, ENOENT, "no snapshot named %s", name);
	return r;
}

int inventory_snapshot_set_disks(struct inventory *inv, int64_t vm,
				 const char *name, const char *disks,
				 struct error *err)
{
	sqlite3_stmt *st;
	int r = begin_stmt(inv,
			   "UPDATE vm_snapshots SET disks = ?3"
			   " WHERE vm = ?1 AND name = ?2",
			   &st, err);
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, vm);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, disks, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = inventory_db_error(inv, "updating a snapshot", err);
	else if (sqlite3_changes(inv->db) == 0)
		r = error_set(err, ENOENT, "no snapshot named %s", name);
	end_stmt(inv, st);
	return r;
}

int inventory_template_set(struct inventory *inv, int64_t vm, bool on,
			   struct error *err)
{
	if (!on)
		return run(inv, "DELETE FROM vm_templates WHERE vm = ?", vm,
			   NULL, 0, 1, NULL, "unmarking a template", err);
	/* ?2 is unused: the time goes in ?3 */
	int r = run(inv,
		    "INSERT INTO vm_templates (vm, created) VALUES (?1, ?3)"
		    " ON CONFLICT(vm) DO NOTHING",
		    vm, NULL, 0, 3, NULL, "marking a template", err);
	if (r == -EBUSY)
		r = error_set(err, ENOENT, "no VM with id %lld", (long long)vm);
	return r;
}

int inventory_template_get(struct inventory *inv, int64_t vm, bool *is,
			   struct error *err)
{
	sqlite3_stmt *st;
	int r = begin_stmt(inv, "SELECT 1 FROM vm_templates WHERE vm = ?", &st,
			   err);
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, vm);
	int rc = sqlite3_step(st);
	*is = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = inventory_db_error(inv, "reading a template mark", err);
	end_stmt(inv, st);
	return r;
}

int inventory_clone_add(struct inventory *inv, int64_t clone, int64_t tmpl,
			bool linked, struct error *err)
{
	sqlite3_stmt *st;
	int r = begin_stmt(inv,
			   "INSERT INTO vm_clones (vm, origin, linked_to,"
			   " created) VALUES (?, ?, ?, ?)",
			   &st, err);
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, clone);
	sqlite3_bind_int64(st, 2, tmpl);
	if (linked)
		sqlite3_bind_int64(st, 3, tmpl);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, inventory_now_ms());
	int rc = sqlite3_step(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		r = error_set(err, EEXIST,
			      "inventory: VM %lld is already a clone or VM "
			      "%lld does not exist",
			      (long long)clone, (long long)tmpl);
	else if (rc != SQLITE_DONE)
		r = inventory_db_error(inv, "recording a clone", err);
	end_stmt(inv, st);
	return r;
}

int inventory_clone_names(struct inventory *inv, int64_t tmpl, char *names,
			  size_t size, unsigned *n, struct error *err)
{
	sqlite3_stmt *st;
	int r = begin_stmt(inv,
			   "SELECT v.name FROM vm_clones c JOIN vms v"
			   " ON v.id = c.vm WHERE c.linked_to = ?"
			   " ORDER BY v.name",
			   &st, err);
	if (size)
		names[0] = 0;
	*n = 0;
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, tmpl);
	int rc;
	size_t len = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *s = sqlite3_column_text(st, 0);
		int k = snprintf(names + len, size > len ? size - len : 0,
				 "%s%s", *n ? ", " : "",
				 s ? (const char *)s : "?");
		if (k > 0)
			len += (size_t)k;
		if (len >= size)
			len = size ? size - 1 : 0; /* truncated */
		(*n)++;
	}
	if (rc != SQLITE_DONE)
		r = inventory_db_error(inv, "listing clones", err);
	end_stmt(inv, st);
	return r;
}

int inventory_clone_origin(struct inventory *inv, int64_t clone, int64_t *tmpl,
			   bool *linked, struct error *err)
{
	sqlite3_stmt *st;
	int r = begin_stmt(inv,
			   "SELECT origin, linked_to IS NOT NULL FROM vm_clones"
			   " WHERE vm = ?",
			   &st, err);
	*tmpl = 0;
	*linked = false;
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, clone);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*tmpl = sqlite3_column_int64(st, 0);
		*linked = sqlite3_column_int(st, 1) != 0;
	} else if (rc != SQLITE_DONE) {
		r = inventory_db_error(inv, "reading a clone", err);
	}
	end_stmt(inv, st);
	return r;
}
