/*
 * Inside the inventory: shared by inventory.c (schema, VMs, events,
 * tokens) and inventory_audit.c (the audit log). Not an API.
 */
#ifndef SV_API_INVENTORY_PRIV_H
#define SV_API_INVENTORY_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "api/inventory.h"

struct inventory {
	pthread_mutex_t lock; /* serializes every use of db */
	sqlite3 *db;
	/* inventory_set_event_hook: told of each event added (under lock) */
	void (*event_hook)(void *opaque, const struct inventory_event *e);
	void *event_hook_opaque;
	/* inventory_snapshot.c: vm_snapshots has its later columns */
	bool snap_columns;
};

/* Wall clock in ms since the epoch. */
int64_t inventory_now_ms(void);
/* err = "inventory: what: <sqlite message>"; returns -EIO. */
int inventory_db_error(struct inventory *inv, const char *what,
		       struct error *err);
/* sqlite3_prepare_v2 or -EIO (caller holds inv->lock). */
int inventory_prepare(struct inventory *inv, const char *sql, sqlite3_stmt **st,
		      struct error *err);
/* Column col as text into buf ("" for NULL), truncated to len. */
void inventory_col_text(sqlite3_stmt *st, int col, char *buf, size_t len);

#endif
