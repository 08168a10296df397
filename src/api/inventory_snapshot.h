/*
 * Disk snapshots, templates and linked clones in the inventory (issue 16;
 * docs/inventory.md "Snapshots, templates, clones"). Three tables of the
 * same database as inventory.h, created on first use, each row tied to
 * its VM by id (ON DELETE CASCADE: deleting a VM drops its snapshots'
 * records and its template mark):
 *
 *   vm_snapshots   (vm, name) -> created, description, disks (JSON array
 *                  of the image paths snapshotted), running (taken while
 *                  the VM ran), memory_bytes (the size of its memory
 *                  state file, 0: disks only), paused (the VM was)
 *   vm_templates   vm -> created
 *   vm_clones      clone vm -> template vm, linked. A linked clone's row
 *                  holds a reference the template cannot be deleted under
 *                  (the database refuses it too: a foreign key).
 *
 * Threads, errors and durability as inventory.h: -ENOENT no such record,
 * -EEXIST duplicate, -EIO database, -EINVAL bad argument.
 */
#ifndef SV_API_INVENTORY_SNAPSHOT_H
#define SV_API_INVENTORY_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/inventory.h"

#define INVENTORY_SNAP_NAME_MAX 64
#define INVENTORY_SNAP_DESC_MAX 512

struct inventory_snapshot {
	char name[INVENTORY_SNAP_NAME_MAX + 1];
	int64_t created_ms;
	char description[INVENTORY_SNAP_DESC_MAX + 1];
	char *disks; /* JSON array of image paths, owned (malloc) */
	bool running;
	/* a snapshot with memory: its state file's size (> 0; 0: disks
	 * only) and whether the VM was paused at it */
	int64_t memory_bytes;
	bool paused;
};

/* Record snapshot s of VM vm (s->created_ms 0: now). -EEXIST if the VM
 * has one of that name. */
int inventory_snapshot_add(struct inventory *inv, int64_t vm,
			   const struct inventory_snapshot *s,
			   struct error *err);
/* One snapshot into out (free out->disks). -ENOENT if none. */
int inventory_snapshot_get(struct inventory *inv, int64_t vm, const char *name,
			   struct inventory_snapshot *out, struct error *err);
/* The VM's snapshots, oldest first: *out malloc'd (free with
 * inventory_snapshot_list_free). */
int inventory_snapshot_list(struct inventory *inv, int64_t vm,
			    struct inventory_snapshot **out, size_t *n,
			    struct error *err);
void inventory_snapshot_list_free(struct inventory_snapshot *s, size_t n);
/* -ENOENT if none. */
int inventory_snapshot_delete(struct inventory *inv, int64_t vm,
			      const char *name, struct error *err);

/* Mark VM vm a template (on) or not. */
/* Replace the recorded disks (JSON) of snapshot name (an external
 * snapshot whose backing image changed when an older one was deleted). */
int inventory_snapshot_set_disks(struct inventory *inv, int64_t vm,
				 const char *name, const char *disks,
				 struct error *err);

int inventory_template_set(struct inventory *inv, int64_t vm, bool on,
			   struct error *err);
/* *is: is VM vm a template. */
int inventory_template_get(struct inventory *inv, int64_t vm, bool *is,
			   struct error *err);

/* Record that VM clone was cloned from VM tmpl (linked: on its images). */
int inventory_clone_add(struct inventory *inv, int64_t clone, int64_t tmpl,
			bool linked, struct error *err);
/* The names of the linked clones of VM tmpl, comma-separated, into names
 * ("" if none); *n their count. */
int inventory_clone_names(struct inventory *inv, int64_t tmpl, char *names,
			  size_t size, unsigned *n, struct error *err);
/* *tmpl: the template VM clone was cloned from, 0 if none (or not a
 * clone); *linked how. */
int inventory_clone_origin(struct inventory *inv, int64_t clone, int64_t *tmpl,
			   bool *linked, struct error *err);

#endif
