/* The inventory in SQLite: see inventory.h and docs/inventory.md. */
#include "api/inventory.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "api/inventory_priv.h"

#define SALT_LEN   16
#define SECRET_LEN 32 /* random bytes, shown as 64 hex digits */

/* Schema migrations: migrations[v] takes a database from user_version v
 * to v + 1. Append, never edit a released step. */
static const char *const migrations[INVENTORY_SCHEMA_VERSION] = {
	"CREATE TABLE vms ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" definition TEXT NOT NULL CHECK (json_valid(definition)),"
	" state TEXT NOT NULL CHECK (state IN ('defined', 'running',"
	"  'paused', 'stopped', 'crashed')),"
	" autostart INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL,"
	" vm TEXT NOT NULL DEFAULT '',"
	" actor TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" result TEXT NOT NULL,"
	" message TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX events_vm ON events (vm, id);"
	"CREATE TABLE tokens ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL,"
	" salt BLOB NOT NULL,"
	" hash BLOB NOT NULL,"
	" created INTEGER NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX tokens_name ON tokens (name) WHERE revoked = 0;",
	/* 2: the audit log of API calls that change something (issue 19),
	 * append-only: the triggers refuse UPDATE and DELETE */
	"CREATE TABLE audit ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL,"
	" principal TEXT NOT NULL,"
	" token_id INTEGER,"
	" uid INTEGER,"
	" source TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" target TEXT NOT NULL DEFAULT '',"
	" status INTEGER NOT NULL);"
	"CREATE INDEX audit_time ON audit (time);"
	"CREATE INDEX audit_target ON audit (target, time);"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
	/* 3: roles and scoped tokens; tokens made before are admins */
	"ALTER TABLE tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'"
	" CHECK (role IN ('admin', 'operator', 'read-only'));"
	"ALTER TABLE tokens ADD COLUMN vms TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE tokens ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;",
	/* 4: the suspended state (issue 18). SQLite cannot change a CHECK
	 * constraint: the table is rebuilt, ids and AUTOINCREMENT kept */
	"CREATE TABLE vms_new ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" definition TEXT NOT NULL CHECK (json_valid(definition)),"
	" state TEXT NOT NULL CHECK (state IN ('defined', 'running',"
	"  'paused', 'stopped', 'crashed', 'suspended')),"
	" autostart INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);"
	"INSERT INTO vms_new (id, name, definition, state, autostart,"
	" created, updated) SELECT id, name, definition, state, autostart,"
	" created, updated FROM vms;"
	"INSERT INTO sqlite_sequence (name, seq) SELECT 'vms_new', seq"
	" FROM sqlite_sequence WHERE name = 'vms'"
	" AND NOT EXISTS (SELECT 1 FROM sqlite_sequence"
	"  WHERE name = 'vms_new');"
	"UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence"
	" WHERE name = 'vms') WHERE name = 'vms_new'"
	" AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'vms');"
	"DROP TABLE vms;"
	"ALTER TABLE vms_new RENAME TO vms;",
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int db_error(struct inventory *inv, const char *what, struct error *err)
{
	return error_set(err, EIO, "inventory: %s: %s", what,
			 sqlite3_errmsg(inv->db));
}

static int exec(struct inventory *inv, const char *sql, struct error *err)
{
	if (sqlite3_exec(inv->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(inv, sql, err);
	return 0;
}

/* Transactions: BEGIN IMMEDIATE takes the write lock up front, so a
 * read-then-write sequence cannot be overtaken by another process. */
static int begin(struct inventory *inv, struct error *err)
{
	return exec(inv, "BEGIN IMMEDIATE", err);
}

static int commit(struct inventory *inv, struct error *err)
{
	return exec(inv, "COMMIT", err);
}

static void rollback(struct inventory *inv)
{
	sqlite3_exec(inv->db, "ROLLBACK", NULL, NULL, NULL);
}

static int prepare(struct inventory *inv, const char *sql, sqlite3_stmt **st,
		   struct error *err)
{
	if (sqlite3_prepare_v2(inv->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_error(inv, "prepare", err);
	return 0;
}

static void col_text(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

/* For the other inventory files (inventory_priv.h). */
int64_t inventory_now_ms(void)
{
	return now_ms();
}

int inventory_db_error(struct inventory *inv, const char *what,
		       struct error *err)
{
	return db_error(inv, what, err);
}

int inventory_prepare(struct inventory *inv, const char *sql, sqlite3_stmt **st,
		      struct error *err)
{
	return prepare(inv, sql, st, err);
}

void inventory_col_text(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	col_text(st, col, buf, len);
}

/* ---- open / close ------------------------------------------------------ */

static int migrate(struct inventory *inv, struct error *err)
{
	sqlite3_stmt *st;
	int version;
	char sql[64];

	if (prepare(inv, "PRAGMA user_version", &st, err))
		return -EIO;
	version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0)
						 : -1;
	sqlite3_finalize(st);
	if (version < 0)
		return db_error(inv, "reading the schema version", err);
	if (version > INVENTORY_SCHEMA_VERSION)
		return error_set(err, EPROTO,
				 "inventory: schema version %d is newer than "
				 "this softvisor's (%d)",
				 version, INVENTORY_SCHEMA_VERSION);
	for (; version < INVENTORY_SCHEMA_VERSION; version++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
			 version + 1);
		if (begin(inv, err))
			return -EIO;
		if (exec(inv, migrations[version], err) ||
		    exec(inv, sql, err) || commit(inv, err)) {
			rollback(inv);
			return -EIO;
		}
	}
	return 0;
}

int inventory_open(const char *state_dir, struct inventory **out,
		   struct error *err)
{
	struct inventory *inv;
	char path[4096];
	sqlite3_stmt *st;
	int fd;

	*out = NULL;
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return error_set(err, errno, "state directory %s: %s",
				 state_dir, strerror(errno));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir,
			     INVENTORY_FILE) >= sizeof(path))
		return error_set(err, ENAMETOOLONG,
				 "state directory %s: path too long",
				 state_dir);
	/* Create it 0600 ourselves: it holds token hashes. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, errno, "inventory %s: %s", path,
				 strerror(errno));
	close(fd);

	inv = calloc(1, sizeof(*inv));
	if (!inv)
		return error_set(err, ENOMEM, "inventory: out of memory");
	pthread_mutex_init(&inv->lock, NULL);
	if (sqlite3_open_v2(path, &inv->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		error_set(err, EIO, "inventory %s: %s", path,
			  inv->db ? sqlite3_errmsg(inv->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(inv->db, 5000);
	sqlite3_extended_result_codes(inv->db, 1);
	/* WAL: readers never block the writer, a crash mid-write leaves the
	 * last committed state. FULL: a commit is on disk when it returns. */
	if (prepare(inv, "PRAGMA journal_mode = WAL", &st, err))
		goto fail;
	if (sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		sqlite3_finalize(st);
		error_set(err, EIO, "inventory %s: cannot enable WAL mode",
			  path);
		goto fail;
	}
	sqlite3_finalize(st);
	if (exec(inv, "PRAGMA synchronous = FULL", err) ||
	    exec(inv, "PRAGMA foreign_keys = ON", err) || migrate(inv, err)) {
		error_prefix(err, "%s", path);
		goto fail;
	}
	*out = inv;
	return 0;
fail:
	inventory_close(inv);
	return -(err && err->code ? err->code : EIO);
}

void inventory_close(struct inventory *inv)
{
	if (!inv)
		return;
	sqlite3_close_v2(inv->db);
	pthread_mutex_destroy(&inv->lock);
	free(inv);
}

/* ---- VMs ---------------------------------------------------------------- */

#define VM_COLUMNS "id, name, definition, state, autostart, created, updated"

static int vm_from_row(sqlite3_stmt *st, struct inventory_vm *vm)
{
	const unsigned char *def = sqlite3_column_text(st, 2);

	memset(vm, 0, sizeof(*vm));
	vm->id = sqlite3_column_int64(st, 0);
	col_text(st, 1, vm->name, sizeof(vm->name));
	vm->definition = strdup(def ? (const char *)def : "{}");
	if (vm_state_parse((const char *)sqlite3_column_text(st, 3),
			   &vm->state))
		vm->state = VM_STATE_CRASHED;
	vm->autostart = sqlite3_column_int(st, 4) != 0;
	vm->created_ms = sqlite3_column_int64(st, 5);
	vm->updated_ms = sqlite3_column_int64(st, 6);
	return vm->definition ? 0 : -ENOMEM;
}

void inventory_vm_clear(struct inventory_vm *vm)
{
	if (!vm)
		return;
	free(vm->definition);
	vm->definition = NULL;
}

void inventory_vm_list_free(struct inventory_vm *vms, size_t n)
{
	for (size_t i = 0; vms && i < n; i++)
		inventory_vm_clear(&vms[i]);
	free(vms);
}

int inventory_vm_create(struct inventory *inv, const struct vmdef *def,
			int64_t *id, struct error *err)
{
	char *json = vmdef_to_json(def);
	sqlite3_stmt *st = NULL;
	int64_t t = now_ms();
	int r = 0, rc;

	if (!json)
		return error_set(err, ENOMEM, "inventory: out of memory");
	pthread_mutex_lock(&inv->lock);
	if (prepare(inv,
		    "INSERT INTO vms (name, definition, state, autostart,"
		    " created, updated) VALUES (?, ?, 'defined', ?, ?, ?)",
		    &st, err)) {
		r = -EIO;
		goto out;
	}
	sqlite3_bind_text(st, 1, def->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, def->autostart);
	sqlite3_bind_int64(st, 4, t);
	sqlite3_bind_int64(st, 5, t);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		r = error_set(err, EEXIST, "vm '%s' already exists", def->name);
	else if (rc != SQLITE_DONE)
		r = db_error(inv, "creating a vm", err);
	else if (id)
		*id = sqlite3_last_insert_rowid(inv->db);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	free(json);
	return r;
}

static int vm_get(struct inventory *inv, const char *sql, int64_t id,
		  const char *name, struct inventory_vm *out, struct error *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc = SQLITE_DONE;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&inv->lock);
	r = prepare(inv, sql, &st, err);
	if (r)
		goto out;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = vm_from_row(st, out);
	else if (rc == SQLITE_DONE && name)
		r = error_set(err, ENOENT, "vm '%s' not found", name);
	else if (rc == SQLITE_DONE)
		r = error_set(err, ENOENT, "vm %" PRId64 " not found", id);
	else
		r = db_error(inv, "reading a vm", err);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	return r;
}

int inventory_vm_get(struct inventory *inv, int64_t id,
		     struct inventory_vm *out, struct error *err)
{
	return vm_get(inv, "SELECT " VM_COLUMNS " FROM vms WHERE id = ?", id,
		      NULL, out, err);
}

int inventory_vm_get_by_name(struct inventory *inv, const char *name,
			     struct inventory_vm *out, struct error *err)
{
	if (!name)
		return error_set(err, EINVAL, "vm name missing");
	return vm_get(inv, "SELECT " VM_COLUMNS " FROM vms WHERE name = ?", 0,
		      name, out, err);
}

int inventory_vm_list(struct inventory *inv, struct inventory_vm **out,
		      size_t *n, struct error *err)
{
	struct inventory_vm *vms = NULL;
	size_t cap = 0, cnt = 0;
	sqlite3_stmt *st = NULL;
	int r, rc = SQLITE_DONE;

	pthread_mutex_lock(&inv->lock);
	r = prepare(inv, "SELECT " VM_COLUMNS " FROM vms ORDER BY name", &st,
		    err);
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct inventory_vm *p = realloc(vms,
							 ncap * sizeof(*vms));

			if (!p) {
				r = error_set(err, ENOMEM, "out of memory");
				break;
			}
			vms = p;
			cap = ncap;
		}
		if (vm_from_row(st, &vms[cnt]) < 0)
			r = error_set(err, ENOMEM, "out of memory");
		cnt++;
	}
	if (!r && rc != SQLITE_DONE)
		r = db_error(inv, "listing vms", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	if (r) {
		inventory_vm_list_free(vms, cnt);
		return r;
	}
	*out = vms;
	*n = cnt;
	return 0;
}

int inventory_vm_update(struct inventory *inv, int64_t id,
			const struct vmdef *def, struct error *err)
{
	char *json = vmdef_to_json(def);
	sqlite3_stmt *st = NULL;
	int r, rc = SQLITE_DONE;

	if (!json)
		return error_set(err, ENOMEM, "inventory: out of memory");
	pthread_mutex_lock(&inv->lock);
	r = prepare(inv,
		    "UPDATE vms SET name = ?, definition = ?, autostart = ?,"
		    " updated = ? WHERE id = ?",
		    &st, err);
	if (r)
		goto out;
	sqlite3_bind_text(st, 1, def->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, def->autostart);
	sqlite3_bind_int64(st, 4, now_ms());
	sqlite3_bind_int64(st, 5, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		r = error_set(err, EEXIST, "vm '%s' already exists", def->name);
	else if (rc != SQLITE_DONE)
		r = db_error(inv, "updating a vm", err);
	else if (sqlite3_changes(inv->db) == 0)
		r = error_set(err, ENOENT, "vm %" PRId64 " not found", id);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	free(json);
	return r;
}

int inventory_vm_set_state(struct inventory *inv, int64_t id,
			   enum vm_state state, struct error *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((unsigned)state > VM_STATE_LAST)
		return error_set(err, EINVAL, "bad vm state %d", state);
	pthread_mutex_lock(&inv->lock);
	r = prepare(inv, "UPDATE vms SET state = ?, updated = ? WHERE id = ?",
		    &st, err);
	if (r)
		goto out;
	sqlite3_bind_text(st, 1, vm_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms());
	sqlite3_bind_int64(st, 3, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_error(inv, "setting a vm's state", err);
	else if (sqlite3_changes(inv->db) == 0)
		r = error_set(err, ENOENT, "vm %" PRId64 " not found", id);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	return r;
}

int inventory_vm_delete(struct inventory *inv, int64_t id, struct error *err)
{
	sqlite3_stmt *st = NULL;
	char name[VMDEF_NAME_MAX + 1], state[16];
	int r, rc = SQLITE_DONE;

	pthread_mutex_lock(&inv->lock);
	r = begin(inv, err);
	if (r)
		goto unlock;
	r = prepare(inv, "SELECT name, state FROM vms WHERE id = ?", &st, err);
	if (r)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = error_set(err, ENOENT, "vm %" PRId64 " not found", id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_error(inv, "deleting a vm", err);
		goto out;
	}
	col_text(st, 0, name, sizeof(name));
	col_text(st, 1, state, sizeof(state));
	sqlite3_finalize(st);
	st = NULL;
	if (strcmp(state, "running") == 0 || strcmp(state, "paused") == 0) {
		r = error_set(err, EBUSY, "vm '%s' is %s; stop it first", name,
			      state);
		goto out;
	}
	r = prepare(inv, "DELETE FROM vms WHERE id = ?", &st, err);
	if (r)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_error(inv, "deleting a vm", err);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	r = commit(inv, err);
out:
	sqlite3_finalize(st);
	if (r)
		rollback(inv);
unlock:
	pthread_mutex_unlock(&inv->lock);
	return r;
}

/* ---- events ------------------------------------------------------------ */

/* Insert one event; the caller holds the lock. */
static int event_insert(struct inventory *inv, const char *vm,
			const char *actor, const char *action,
			const char *result, const char *message,
			struct error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t t = now_ms();
	int r;

	r = prepare(inv,
		    "INSERT INTO events (time, vm, actor, action, result,"
		    " message) VALUES (?, ?, ?, ?, ?, ?)",
		    &st, err);
	if (r)
		return r;
	sqlite3_bind_int64(st, 1, t);
	sqlite3_bind_text(st, 2, vm ? vm : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, result, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, message ? message : "", -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_error(inv, "adding an event", err);
	sqlite3_finalize(st);
	if (!r && inv->event_hook) {
		struct inventory_event e = {
			.id = sqlite3_last_insert_rowid(inv->db),
			.time_ms = t,
		};

		snprintf(e.vm, sizeof(e.vm), "%s", vm ? vm : "");
		snprintf(e.actor, sizeof(e.actor), "%s", actor);
		snprintf(e.action, sizeof(e.action), "%s", action);
		snprintf(e.result, sizeof(e.result), "%s", result);
		snprintf(e.message, sizeof(e.message), "%s",
			 message ? message : "");
		inv->event_hook(inv->event_hook_opaque, &e);
	}
	return r;
}

void inventory_set_event_hook(struct inventory *inv,
			      void (*fn)(void *opaque,
					 const struct inventory_event *e),
			      void *opaque)
{
	pthread_mutex_lock(&inv->lock);
	inv->event_hook = fn;
	inv->event_hook_opaque = opaque;
	pthread_mutex_unlock(&inv->lock);
}

int inventory_event_add(struct inventory *inv, const char *vm,
			const char *actor, const char *action,
			const char *result, const char *message,
			struct error *err)
{
	int r;

	if (!actor || !action || !result)
		return error_set(err, EINVAL,
				 "event: actor, action and result required");
	pthread_mutex_lock(&inv->lock);
	r = event_insert(inv, vm, actor, action, result, message, err);
	pthread_mutex_unlock(&inv->lock);
	return r;
}

int inventory_event_list(struct inventory *inv, const char *vm,
			 int64_t after_id, unsigned limit,
			 struct inventory_event **out, size_t *n,
			 struct error *err)
{
	struct inventory_event *ev;
	sqlite3_stmt *st = NULL;
	size_t cnt = 0;
	int r, rc = SQLITE_DONE;

	if (limit == 0 || limit > 1000)
		limit = 1000;
	ev = calloc(limit, sizeof(*ev));
	if (!ev)
		return error_set(err, ENOMEM, "out of memory");
	pthread_mutex_lock(&inv->lock);
	r = prepare(inv,
		    vm ? "SELECT id, time, vm, actor, action, result, message"
			 " FROM events WHERE id > ? AND vm = ?"
			 " ORDER BY id LIMIT ?"
		       : "SELECT id, time, vm, actor, action, result, message"
			 " FROM events WHERE id > ? ORDER BY id LIMIT ?",
		    &st, err);
	if (r)
		goto out;
	sqlite3_bind_int64(st, 1, after_id);
	if (vm)
		sqlite3_bind_text(st, 2, vm, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, vm ? 3 : 2, (int)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && cnt < limit) {
		struct inventory_event *e = &ev[cnt++];

		e->id = sqlite3_column_int64(st, 0);
		e->time_ms = sqlite3_column_int64(st, 1);
		col_text(st, 2, e->vm, sizeof(e->vm));
		col_text(st, 3, e->actor, sizeof(e->actor));
		col_text(st, 4, e->action, sizeof(e->action));
		col_text(st, 5, e->result, sizeof(e->result));
		col_text(st, 6, e->message, sizeof(e->message));
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = db_error(inv, "listing events", err);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	if (r) {
		free(ev);
		return r;
	}
	*out = ev;
	*n = cnt;
	return 0;
}

/* ---- restart ----------------------------------------------------------- */

static bool kept(const int64_t *keep, size_t n_keep, int64_t id)
{
	for (size_t i = 0; i < n_keep; i++)
		if (keep[i] == id)
			return true;
	return false;
}

static int mark_crashed(struct inventory *inv, const int64_t *keep,
			size_t n_keep, int64_t **autostart_ids,
			size_t *n_autostart, struct error *err);

int inventory_mark_crashed_on_restart(struct inventory *inv,
				      int64_t **autostart_ids,
				      size_t *n_autostart, struct error *err)
{
	return mark_crashed(inv, NULL, 0, autostart_ids, n_autostart, err);
}

int inventory_mark_crashed_on_restart_except(struct inventory *inv,
					     const int64_t *keep, size_t n_keep,
					     struct error *err)
{
	return mark_crashed(inv, keep, n_keep, NULL, NULL, err);
}

static int mark_crashed(struct inventory *inv, const int64_t *keep,
			size_t n_keep, int64_t **autostart_ids,
			size_t *n_autostart, struct error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t *ids = NULL;
	size_t cnt = 0;
	int r, rc = SQLITE_DONE;

	pthread_mutex_lock(&inv->lock);
	r = begin(inv, err);
	if (r)
		goto unlock;
	r = prepare(inv,
		    "SELECT id, name, state, autostart FROM vms"
		    " WHERE state IN ('running', 'paused') ORDER BY id",
		    &st, err);
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char name[VMDEF_NAME_MAX + 1], msg[128];

		if (kept(keep, n_keep, sqlite3_column_int64(st, 0)))
			continue;
		col_text(st, 1, name, sizeof(name));
		snprintf(msg, sizeof(msg),
			 "the daemon stopped while the vm was %s",
			 (const char *)sqlite3_column_text(st, 2));
		r = event_insert(inv, name, "daemon", "restart", "crashed", msg,
				 err);
		if (!r && sqlite3_column_int(st, 3)) {
			int64_t *p = realloc(ids, (cnt + 1) * sizeof(*ids));

			if (!p) {
				r = error_set(err, ENOMEM, "out of memory");
				break;
			}
			ids = p;
			ids[cnt++] = sqlite3_column_int64(st, 0);
		}
	}
	if (!r && rc != SQLITE_DONE)
		r = db_error(inv, "marking crashed vms", err);
	sqlite3_finalize(st);
	st = NULL;
	if (!r && !n_keep)
		r = exec(inv,
			 "UPDATE vms SET state = 'crashed' WHERE state IN"
			 " ('running', 'paused')",
			 err);
	if (!r && n_keep) {
		/* every id but the kept ones (integers: no quoting) */
		size_t cap = 96 + n_keep * 24;
		char *sql = malloc(cap);
		size_t n = sql ? (size_t)snprintf(sql, cap,
						  "UPDATE vms SET state = "
						  "'crashed' WHERE state IN "
						  "('running', 'paused') AND "
						  "id NOT IN (")
			       : 0;
		for (size_t k = 0; sql && k < n_keep; k++)
			n += (size_t)snprintf(sql + n, cap - n, "%s%lld",
					      k ? "," : "", (long long)keep[k]);
		if (sql)
			snprintf(sql + n, cap - n, ")");
		r = sql ? exec(inv, sql, err)
			: error_set(err, ENOMEM, "out of memory");
		free(sql);
	}
	if (!r)
		r = commit(inv, err);
	if (r)
		rollback(inv);
unlock:
	pthread_mutex_unlock(&inv->lock);
	if (r) {
		free(ids);
		return r;
	}
	if (autostart_ids)
		*autostart_ids = ids;
	else
		free(ids);
	if (n_autostart)
		*n_autostart = cnt;
	return 0;
}

/* ---- tokens ------------------------------------------------------------ */

/* hash = SHA-256(salt || secret part). The secret is 256 random bits, so a
 * fast hash is enough (no password stretching needed); the salt keeps two
 * databases' hashes of an equal secret apart. */
static int token_hash(const uint8_t salt[SALT_LEN], const char *hex,
		      uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned len = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(ctx, salt, SALT_LEN) &&
		 EVP_DigestUpdate(ctx, hex, strlen(hex)) &&
		 EVP_DigestFinal_ex(ctx, out, &len) && len == 32;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static int check_token_name(const char *name, struct error *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= sizeof(((struct inventory_token *)0)->name))
		return error_set(err, EINVAL,
				 "token name: expected 1..63 characters");
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
			return error_set(err, EINVAL,
					 "token name \"%s\": expected "
					 "printable characters, no spaces",
					 name);
	return 0;
}

int inventory_token_create(struct inventory *inv, const char *name,
			   char secret[INVENTORY_SECRET_MAX], int64_t *id,
			   struct error *err)
{
	return inventory_token_create_grant(inv, name, NULL, 0, secret, id,
					    err);
}

int inventory_token_create_grant(struct inventory *inv, const char *name,
				 const struct grant *grant, int64_t expires_ms,
				 char secret[INVENTORY_SECRET_MAX], int64_t *id,
				 struct error *err)
{
	uint8_t salt[SALT_LEN], raw[SECRET_LEN], hash[32];
	char vms[GRANT_MAX_VMS * GRANT_NAME_MAX] = "";
	struct grant admin;
	char hex[2 * SECRET_LEN + 1];
	sqlite3_stmt *st = NULL;
	int64_t tid = 0;
	int r, rc = SQLITE_DONE;

	if (check_token_name(name, err))
		return -EINVAL;
	if (!grant) {
		grant_admin(&admin);
		grant = &admin;
	}
	grant_vms_format(grant, vms, sizeof(vms));
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    RAND_bytes(raw, sizeof(raw)) != 1)
		return error_set(err, EIO, "token: no random bytes");
	for (int i = 0; i < SECRET_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	if (token_hash(salt, hex, hash))
		return error_set(err, EIO, "token: hashing failed");

	pthread_mutex_lock(&inv->lock);
	r = prepare(inv,
		    "INSERT INTO tokens (name, salt, hash, created, role, vms,"
		    " expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
		    &st, err);
	if (r)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, salt, sizeof(salt), SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ms());
	sqlite3_bind_text(st, 5, grant_role_name(grant->role), -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 6, vms, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, expires_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		r = error_set(err, EEXIST, "token '%s' already exists", name);
	else if (rc != SQLITE_DONE)
		r = db_error(inv, "creating a token", err);
	else
		tid = sqlite3_last_insert_rowid(inv->db);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	if (!r) {
		snprintf(secret, INVENTORY_SECRET_MAX, "svt_%" PRId64 "_%s",
			 tid, hex);
		if (id)
			*id = tid;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hex, sizeof(hex));
	return r;
}

/* Role, vms, expires from columns col.. of st into t. False if the
 * stored role or scope does not parse. */
static bool token_grant(sqlite3_stmt *st, int col, struct inventory_token *t)
{
	const char *role = (const char *)sqlite3_column_text(st, col);
	const char *vms = (const char *)sqlite3_column_text(st, col + 1);
	struct error err = { 0 };

	grant_admin(&t->grant);
	t->expires_ms = sqlite3_column_int64(st, col + 2);
	return grant_role_parse(role, &t->grant.role) == 0 &&
	       grant_vms_parse(vms, &t->grant, &err) == 0;
}

int inventory_token_verify(struct inventory *inv, const char *secret,
			   struct inventory_token *out, struct error *err)
{
	uint8_t hash[32];
	const char *hex;
	char *end;
	long long tid;
	sqlite3_stmt *st = NULL;
	bool ok = false;
	int r;

	/* "svt_<id>_<64 hex>" */
	if (!secret || strncmp(secret, "svt_", 4) != 0)
		goto denied;
	errno = 0;
	tid = strtoll(secret + 4, &end, 10);
	if (errno || end == secret + 4 || *end != '_' || tid <= 0)
		goto denied;
	hex = end + 1;
	if (strlen(hex) != 2 * SECRET_LEN ||
	    strspn(hex, "0123456789abcdef") != 2 * SECRET_LEN)
		goto denied;

	pthread_mutex_lock(&inv->lock);
	r = prepare(inv,
		    "SELECT salt, hash, name, created, revoked, role, vms,"
		    " expires FROM tokens WHERE id = ?",
		    &st, err);
	if (r) {
		pthread_mutex_unlock(&inv->lock);
		return r;
	}
	sqlite3_bind_int64(st, 1, tid);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_bytes(st, 0) == SALT_LEN &&
	    sqlite3_column_bytes(st, 1) == 32 &&
	    token_hash(sqlite3_column_blob(st, 0), hex, hash) == 0 &&
	    CRYPTO_memcmp(hash, sqlite3_column_blob(st, 1), 32) == 0 &&
	    sqlite3_column_int64(st, 4) == 0 &&
	    (sqlite3_column_int64(st, 7) == 0 ||
	     now_ms() < sqlite3_column_int64(st, 7))) {
		struct inventory_token t = { .id = tid };

		/* a grant that does not parse denies (fail closed) */
		ok = token_grant(st, 5, &t);
		col_text(st, 2, t.name, sizeof(t.name));
		t.created_ms = sqlite3_column_int64(st, 3);
		if (ok && out)
			*out = t;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	if (ok)
		return 0;
denied:
	return error_set(err, EACCES, "invalid or revoked token");
}

int inventory_token_list(struct inventory *inv, struct inventory_token **out,
			 size_t *n, struct error *err)
{
	struct inventory_token *t = NULL;
	size_t cnt = 0;
	sqlite3_stmt *st = NULL;
	int r, rc = SQLITE_DONE;

	pthread_mutex_lock(&inv->lock);
	r = prepare(inv,
		    "SELECT id, name, created, revoked, role, vms, expires"
		    " FROM tokens ORDER BY id",
		    &st, err);
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct inventory_token *p = realloc(t, (cnt + 1) * sizeof(*t));

		if (!p) {
			r = error_set(err, ENOMEM, "out of memory");
			break;
		}
		t = p;
		memset(&t[cnt], 0, sizeof(t[cnt]));
		t[cnt].id = sqlite3_column_int64(st, 0);
		col_text(st, 1, t[cnt].name, sizeof(t[cnt].name));
		t[cnt].created_ms = sqlite3_column_int64(st, 2);
		t[cnt].revoked_ms = sqlite3_column_int64(st, 3);
		token_grant(st, 4, &t[cnt]);
		cnt++;
	}
	if (!r && rc != SQLITE_DONE)
		r = db_error(inv, "listing tokens", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	if (r) {
		free(t);
		return r;
	}
	*out = t;
	*n = cnt;
	return 0;
}

int inventory_token_revoke(struct inventory *inv, const char *name,
			   struct error *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (!name)
		return error_set(err, EINVAL, "token name missing");
	pthread_mutex_lock(&inv->lock);
	r = prepare(inv,
		    "UPDATE tokens SET revoked = ? WHERE name = ? AND"
		    " revoked = 0",
		    &st, err);
	if (r)
		goto out;
	sqlite3_bind_int64(st, 1, now_ms());
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_error(inv, "revoking a token", err);
	else if (sqlite3_changes(inv->db) == 0)
		r = error_set(err, ENOENT, "token '%s' not found", name);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	return r;
}
