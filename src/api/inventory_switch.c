/* Virtual switch definitions in the inventory (inventory_switch.h). */
#include "api/inventory_switch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/inventory_priv.h"

/* Caller holds inv->lock. */
static int ensure_table(struct inventory *inv, struct error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(inv->db,
			 "CREATE TABLE IF NOT EXISTS switches ("
			 " name TEXT PRIMARY KEY COLLATE NOCASE,"
			 " definition TEXT NOT NULL"
			 "  CHECK (json_valid(definition)),"
			 " created INTEGER NOT NULL, updated INTEGER NOT NULL)",
			 NULL, NULL, &msg) != SQLITE_OK) {
		error_set(err, EIO, "inventory: switches table: %s",
			  msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

int inventory_switch_put(struct inventory *inv, const char *name,
			 const char *definition, struct error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t now = inventory_now_ms();
	int r;

	pthread_mutex_lock(&inv->lock);
	r = ensure_table(inv, err);
	if (!r)
		r = inventory_prepare(
			inv,
			"INSERT INTO switches (name, definition, created,"
			" updated) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO"
			" UPDATE SET definition = excluded.definition,"
			" updated = excluded.updated",
			&st, err);
	if (r)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, definition, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = inventory_db_error(inv, "storing a switch", err);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	return r;
}

int inventory_switch_delete(struct inventory *inv, const char *name,
			    struct error *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	pthread_mutex_lock(&inv->lock);
	r = ensure_table(inv, err);
	if (!r)
		r = inventory_prepare(
			inv, "DELETE FROM switches WHERE name = ?", &st, err);
	if (r)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = inventory_db_error(inv, "deleting a switch", err);
	else if (sqlite3_changes(inv->db) == 0)
		r = error_set(err, ENOENT, "switch '%s' not found", name);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	return r;
}

void inventory_switch_list_free(struct inventory_switch *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i].definition);
	free(list);
}

int inventory_switch_list(struct inventory *inv, struct inventory_switch **out,
			  size_t *n, struct error *err)
{
	struct inventory_switch *list = NULL;
	sqlite3_stmt *st = NULL;
	size_t cnt = 0, cap = 0;
	int r, s;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&inv->lock);
	r = ensure_table(inv, err);
	if (!r)
		r = inventory_prepare(inv,
				      "SELECT name, definition FROM switches"
				      " ORDER BY name",
				      &st, err);
	if (r)
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 8;
			void *p = realloc(list, nc * sizeof(*list));
			if (!p) {
				r = error_set(err, ENOMEM, "out of memory");
				goto out;
			}
			list = p;
			cap = nc;
		}
		inventory_col_text(st, 0, list[cnt].name,
				   sizeof(list[cnt].name));
		const char *def = (const char *)sqlite3_column_text(st, 1);
		list[cnt].definition = strdup(def ? def : "{}");
		if (!list[cnt].definition) {
			r = error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		cnt++;
	}
	if (s != SQLITE_DONE)
		r = inventory_db_error(inv, "listing switches", err);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&inv->lock);
	if (r) {
		inventory_switch_list_free(list, cnt);
		return r;
	}
	*out = list;
	*n = cnt;
	return 0;
}
