/*
 * Virtual switch definitions in the inventory (inventory.h): one row per
 * switch in table switches(name TEXT PRIMARY KEY COLLATE NOCASE,
 * definition TEXT CHECK json_valid, created, updated), made on first use
 * (CREATE TABLE IF NOT EXISTS: an inventory of any schema version gains it
 * without a migration step; older programs ignore it).
 *
 * Threads and durability as inventory.h: one transaction per call.
 * Errors: -ENOENT (no such switch), -EIO (database), -EINVAL.
 */
#ifndef SV_API_INVENTORY_SWITCH_H
#define SV_API_INVENTORY_SWITCH_H

#include <stddef.h>

#include "api/inventory.h"
#include "util/error.h"

struct inventory_switch {
	char name[32];
	char *definition; /* JSON text, owned */
};

/* Insert or replace the switch name's definition (JSON text). */
int inventory_switch_put(struct inventory *inv, const char *name,
			 const char *definition, struct error *err);
/* Remove it (-ENOENT when there is none). */
int inventory_switch_delete(struct inventory *inv, const char *name,
			    struct error *err);
/* Every switch, by name; free with inventory_switch_list_free. */
int inventory_switch_list(struct inventory *inv, struct inventory_switch **out,
			  size_t *n, struct error *err);
void inventory_switch_list_free(struct inventory_switch *list, size_t n);

#endif
