/*
 * Disk snapshots of the daemon's VMs (daemon_snapshot.h): create, list,
 * revert, delete, on the images of a VM that is off or, through its
 * worker, of one that runs (docs/block.md "Snapshots of a running VM").
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/daemon_impl.h"
#include "api/daemon_snapshot.h"
#include "api/inventory_snapshot.h"
#include "block/image.h"
#include "util/log.h"

#define LOG "daemon"

static void snap_event(struct daemon *d, const char *vm, const char *actor,
		       const char *action, int r, const struct error *err)
{
	struct error e2 = { 0 };
	if (inventory_event_add(d->inv, vm, actor, action, r ? "failed" : "ok",
				r ? err->msg : NULL, &e2))
		log_warn(LOG, "event not recorded: %s", e2.msg);
}

static int check_name(const char *name, struct error *err)
{
	size_t n = strlen(name);
	bool digits = true;
	if (n == 0 || n > INVENTORY_SNAP_NAME_MAX ||
	    !isalnum((unsigned char)name[0]))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			goto bad;
		digits &= isdigit(c) != 0;
	}
	if (!digits)
		return 0;
bad:
	return error_set(err, EINVAL,
			 "snapshot name '%.80s': expected 1..%d of A-Z a-z "
			 "0-9 . _ -, starting with a letter or digit, not "
			 "all digits",
			 name, INVENTORY_SNAP_NAME_MAX);
}

/* The writable disks of v, which must all be qcow2, as a JSON array of
 * paths. */
static int snap_disks(const struct dvm *v, json_t **out, struct error *err)
{
	json_t *a = json_array();
	for (unsigned i = 0; i < v->def.n_disks; i++) {
		const struct vmdef_disk *dk = &v->def.disks[i];
		if (dk->readonly)
			continue;
		if (strcmp(dk->format, "qcow2")) {
			json_decref(a);
			return error_set(err, EINVAL,
					 "%s: disk %u (%s) is %s: internal "
					 "snapshots need qcow2 (softvisor "
					 "image convert -O qcow2), or make it "
					 "read-only",
					 v->def.name, i, dk->path, dk->format);
		}
		json_array_append_new(a, json_string(dk->path));
	}
	if (!json_array_size(a)) {
		json_decref(a);
		return error_set(err, EINVAL,
				 "%s has no writable disk to snapshot",
				 v->def.name);
	}
	*out = a;
	return 0;
}

static json_t *snap_json(const struct inventory_snapshot *s)
{
	json_t *disks = json_loads(s->disks, 0, NULL);
	bool ext = json_is_object(json_array_get(disks, 0));
	json_t *o = NULL;
	if (ext) { /* images frozen at the snapshot, and their overlays */
		json_t *img = json_array(), *ov = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(disks, i, e)
		{
			json_array_append(img, json_object_get(e, "image"));
			json_array_append(ov, json_object_get(e, "overlay"));
		}
		json_decref(disks);
		disks = img;
		o = ov;
	}
	json_t *j = json_pack("{s:s, s:I, s:s, s:o, s:s, s:s}", "name", s->name,
			      "created_ms", (json_int_t)s->created_ms,
			      "description", s->description, "disks",
			      disks ? disks : json_array(), "vm_state",
			      s->running ? "running" : "off", "type",
			      ext ? "external" : "internal");
	if (o)
		json_object_set_new(j, "overlays", o);
	return j;
}

static int refuse_template(const struct dvm *v, const char *what,
			   struct error *err)
{
	if (!v->is_template)
		return 0;
	return error_set(err, EBUSY,
			 "%s is a template: its images are read-only (linked "
			 "clones read them), so no snapshot can be %s",
			 v->def.name, what);
}

int daemon_snapshot_list(struct daemon *d, const char *ref, json_t **out,
			 struct error *err)
{
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	struct inventory_snapshot *s;
	size_t n;
	int r = inventory_snapshot_list(d->inv, v->id, &s, &n, err);
	if (!r) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, snap_json(&s[i]));
		inventory_snapshot_list_free(s, n);
		*out = json_pack("{s:s, s:o}", "vm", v->def.name, "snapshots",
				 a);
	}
	dvm_op_end(d, v);
	return r;
}

int daemon_snapshot_get(struct daemon *d, const char *ref, const char *name,
			json_t **out, struct error *err)
{
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	struct inventory_snapshot s;
	int r = inventory_snapshot_get(d->inv, v->id, name, &s, err);
	if (!r) {
		*out = snap_json(&s);
		free(s.disks);
	} else if (r == -ENOENT) {
		error_set(err, ENOENT, "%s has no snapshot named %s",
			  v->def.name, name);
	}
	dvm_op_end(d, v);
	return r;
}

/* Parse {"name", "description", "disk_only"}. */
static int parse_create(const char *body, struct inventory_snapshot *s,
			bool *disk_only, struct error *err)
{
	json_error_t jerr;
	json_t *o = json_loads(body ? body : "", JSON_REJECT_DUPLICATES, &jerr);
	int r = 0;
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return error_set(err, EINVAL,
				 "body: expected a JSON object like "
				 "{\"name\": \"before-upgrade\"}");
	}
	const char *key;
	json_t *val;
	json_object_foreach(o, key, val)
	{
		if (!strcmp(key, "disk_only")) {
			if (!json_is_boolean(val)) {
				r = error_set(err, EINVAL,
					      "disk_only: expected true or "
					      "false");
				break;
			}
			*disk_only = json_is_true(val);
			continue;
		}
		if (strcmp(key, "name") && strcmp(key, "description")) {
			r = error_set(err, EINVAL, "unknown field '%s'", key);
			break;
		}
		if (!json_is_string(val)) {
			r = error_set(err, EINVAL, "%s: expected a string",
				      key);
			break;
		}
	}
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *desc = json_string_value(json_object_get(o, "description"));
	if (!r && !name)
		r = error_set(err, EINVAL, "name: required");
	if (!r)
		r = check_name(name, err);
	if (!r && desc && strlen(desc) > INVENTORY_SNAP_DESC_MAX)
		r = error_set(err, EINVAL, "description: longer than %d bytes",
			      INVENTORY_SNAP_DESC_MAX);
	if (!r) {
		snprintf(s->name, sizeof(s->name), "%s", name);
		snprintf(s->description, sizeof(s->description), "%s",
			 desc ? desc : "");
	}
	json_decref(o);
	return r;
}

/* Snapshot (or delete, del) name on each image of disks, for a VM whose
 * machine is off. A create that fails undoes the others. */
static int offline(const json_t *disks, const char *name, bool del,
		   struct error *err)
{
	size_t i, n = json_array_size(disks);
	int r = 0;
	for (i = 0; i < n && !r; i++) {
		const char *p = json_string_value(json_array_get(disks, i));
		if (!del) {
			r = image_snapshot_create(p, name, err);
			continue;
		}
		struct error e = { 0 };
		r = image_snapshot_delete(p, name, &e);
		if (r == -ENOENT)
			r = 0; /* gone already (or never there) */
		else if (r)
			*err = e;
	}
	if (r && !del)
		for (size_t k = 0; k + 1 < i; k++) {
			struct error e = { 0 };
			const char *p = json_string_value(
				json_array_get(disks, k));
			if (image_snapshot_delete(p, name, &e))
				log_warn(LOG, "undoing snapshot %s: %s", name,
					 e.msg);
		}
	return r;
}

int daemon_snapshot_create(struct daemon *d, const char *actor, const char *ref,
			   const char *body, json_t **out, struct error *err)
{
	struct inventory_snapshot s = { 0 }, old;
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	json_t *disks = NULL;
	bool disk_only = false;
	int r = parse_create(body, &s, &disk_only, err);
	if (!r)
		r = refuse_template(v, "taken", err);
	if (!r && !disk_only)
		r = snap_disks(v, &disks, err);
	if (!r && !inventory_snapshot_get(d->inv, v->id, s.name, &old, err)) {
		free(old.disks);
		r = error_set(err, EEXIST, "%s already has a snapshot named %s",
			      v->def.name, s.name);
	}
	if (!r && disk_only) {
		error_clear(err);
		r = daemon_snapshot_ext_create(d, v, &s, err);
		goto recorded;
	}
	if (!r) {
		error_clear(err);
		s.running = v->vm != NULL;
		s.disks = json_dumps(disks, JSON_COMPACT);
		if (!s.disks)
			r = error_set(err, ENOMEM, "out of memory");
	}
	if (!r)
		r = s.running ? vm_disk_snapshot(v->vm, s.name, false, err)
			      : offline(disks, s.name, false, err);
	if (!r) {
		r = inventory_snapshot_add(d->inv, v->id, &s, err);
		if (r) { /* no record: no snapshot either */
			struct error e = { 0 };
			if (s.running)
				vm_disk_snapshot(v->vm, s.name, true, &e);
			else
				offline(disks, s.name, true, &e);
		}
	}
recorded:
	if (!r) { /* as recorded (its time); else as taken */
		struct error e = { 0 };
		bool got = !inventory_snapshot_get(d->inv, v->id, s.name, &old,
						   &e);
		*out = snap_json(got ? &old : &s);
		if (got)
			free(old.disks);
	}
	if (r)
		error_prefix(err, "snapshot of %s", v->def.name);
	snap_event(d, v->def.name, actor, "snapshot-create", r, err);
	dvm_op_end(d, v);
	json_decref(disks);
	free(s.disks);
	return r;
}

/* The snapshot's disks, each still a disk of v. */
static int recorded_disks(struct daemon *d, struct dvm *v, const char *name,
			  json_t **disks, struct error *err)
{
	struct inventory_snapshot s;
	int r = inventory_snapshot_get(d->inv, v->id, name, &s, err);
	if (r == -ENOENT)
		return error_set(err, ENOENT, "%s has no snapshot named %s",
				 v->def.name, name);
	if (r)
		return r;
	*disks = json_loads(s.disks, 0, NULL);
	free(s.disks);
	if (!json_is_array(*disks)) {
		json_decref(*disks);
		return error_set(err, EIO, "inventory: snapshot %s: bad disks",
				 name);
	}
	return 0;
}

int daemon_snapshot_revert(struct daemon *d, const char *actor, const char *ref,
			   const char *name, json_t **out, struct error *err)
{
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	json_t *disks = NULL;
	int r = refuse_template(v, "applied", err);
	if (!r && v->vm)
		r = error_set(err, EBUSY,
			      "%s is %s: stop it before reverting to snapshot "
			      "%s",
			      v->def.name, vm_state_name(v->state), name);
	if (!r)
		r = recorded_disks(d, v, name, &disks, err);
	if (!r && json_is_object(json_array_get(disks, 0))) {
		r = daemon_snapshot_ext_revert(d, v, name, disks, err);
		json_decref(disks);
		disks = json_array(); /* done */
	}
	for (size_t i = 0; !r && i < json_array_size(disks); i++) {
		const char *p = json_string_value(json_array_get(disks, i));
		bool found = false;
		for (unsigned k = 0; p && k < v->def.n_disks; k++)
			found |= !strcmp(v->def.disks[k].path, p);
		if (!found)
			r = error_set(err, EINVAL,
				      "%s: disk %s of snapshot %s is no longer "
				      "a disk of the VM",
				      v->def.name, p ? p : "?", name);
	}
	/* every image first checked to hold it, so a missing one changes
	 * nothing */
	for (size_t i = 0; !r && i < json_array_size(disks); i++) {
		const char *p = json_string_value(json_array_get(disks, i));
		struct image_snapshot *l;
		unsigned n;
		bool found = false;
		r = image_snapshot_list(p, &l, &n, err);
		for (unsigned k = 0; !r && k < n; k++)
			found |= !strcmp(l[k].name, name);
		if (!r)
			free(l);
		if (!r && !found)
			r = error_set(err, ENOENT,
				      "image %s has no snapshot %s (removed "
				      "outside the daemon?)",
				      p, name);
	}
	for (size_t i = 0; !r && i < json_array_size(disks); i++)
		r = image_snapshot_apply(
			json_string_value(json_array_get(disks, i)), name, err);
	if (r)
		error_prefix(err, "revert of %s to %s", v->def.name, name);
	snap_event(d, v->def.name, actor, "snapshot-revert", r, err);
	dvm_op_end(d, v);
	json_decref(disks);
	if (!r)
		r = daemon_vm_get(d, ref, out, err);
	return r;
}

int daemon_snapshot_delete(struct daemon *d, const char *actor, const char *ref,
			   const char *name, struct error *err)
{
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	json_t *disks = NULL;
	int r = refuse_template(v, "deleted", err);
	if (!r)
		r = recorded_disks(d, v, name, &disks, err);
	if (!r && json_is_object(json_array_get(disks, 0)))
		r = daemon_snapshot_ext_delete(d, v, name, disks, err);
	else if (!r)
		r = v->vm ? vm_disk_snapshot(v->vm, name, true, err)
			  : offline(disks, name, true, err);
	if (!r)
		r = inventory_snapshot_delete(d->inv, v->id, name, err);
	if (r)
		error_prefix(err, "deleting snapshot %s of %s", name,
			     v->def.name);
	snap_event(d, v->def.name, actor, "snapshot-delete", r, err);
	dvm_op_end(d, v);
	json_decref(disks);
	return r;
}
