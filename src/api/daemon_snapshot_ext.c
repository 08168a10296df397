/*
 * External (disk-only) snapshots of the daemon's VMs (daemon_snapshot.h,
 * docs/block.md "External snapshots", docs/api.md): libvirt's
 * `virsh snapshot-create --disk-only`. Each writable disk gets a new qcow2
 * overlay whose backing file is its current image, and the VM's definition
 * points at the overlays from then on; the images below stay as they were
 * at the snapshot. Revert discards the overlays above the snapshot and
 * starts a new empty one on its images; delete commits the overlay into
 * its backing file (blockcommit) and the disk is its old image again.
 *
 * The inventory keeps the snapshot's disks as objects {"disk": index,
 * "image": the frozen image, "format": its format, "overlay": the overlay
 * made}; internal snapshots keep plain paths.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/daemon_impl.h"
#include "api/daemon_snapshot.h"
#include "api/inventory_snapshot.h"
#include "block/image.h"
#include "util/log.h"

#define LOG "daemon"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The new definition of v (a copy with disk paths changed) recorded and
 * made current. */
static int set_def(struct daemon *d, struct dvm *v, const struct vmdef *def,
		   struct error *err)
{
	int r = inventory_vm_update(d->inv, v->id, def, err);
	if (r)
		return r;
	pthread_mutex_lock(&d->lock);
	v->def = *def;
	v->updated_ms = now_ms();
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* libvirt's name for an overlay: the image's name without its extension,
 * then .SNAPSHOT.qcow2, next to it. */
static int overlay_name(const char *image, const char *snap, char *out,
			size_t len, struct error *err)
{
	const char *base = strrchr(image, '/');
	const char *dot = strrchr(base ? base : image, '.');
	size_t stem = dot && dot > (base ? base + 1 : image)
			      ? (size_t)(dot - image)
			      : strlen(image);
	if ((size_t)snprintf(out, len, "%.*s.%s.qcow2", (int)stem, image,
			     snap) >= len)
		return error_set(err, ENAMETOOLONG,
				 "overlay of %s: name too "
				 "long",
				 image);
	return 0;
}

bool daemon_snapshot_is_external(const char *disks_json)
{
	json_t *a = json_loads(disks_json ? disks_json : "", 0, NULL);
	bool ext = json_is_object(json_array_get(a, 0));
	json_decref(a);
	return ext;
}

int daemon_snapshot_ext_create(struct daemon *d, struct dvm *v,
			       struct inventory_snapshot *s, struct error *err)
{
	const char *ovp[VIRT_MAX_VIRTIO];
	/* heap: the API's threads have small stacks */
	char(*ov)[VMDEF_PATH_MAX] = calloc(VIRT_MAX_VIRTIO, sizeof(*ov));
	unsigned idx[VIRT_MAX_VIRTIO], n = 0, made = 0;
	struct vmdef *def = malloc(sizeof(*def));
	json_t *disks = json_array();
	int r = 0;

	if (!def || !ov) {
		free(def);
		free(ov);
		json_decref(disks);
		return error_set(err, ENOMEM, "out of memory");
	}
	*def = v->def;
	for (unsigned i = 0; i < def->n_disks && !r; i++) {
		const struct vmdef_disk *dk = &def->disks[i];
		if (dk->readonly)
			continue;
		if (dk->key_secret[0])
			r = error_set(err, ENOTSUP,
				      "disk %u (%s) is encrypted: external "
				      "snapshots of encrypted disks are not "
				      "supported yet (take an internal one)",
				      i, dk->path);
		if (!r)
			r = overlay_name(dk->path, s->name, ov[n],
					 sizeof(ov[n]), err);
		if (!r && !access(ov[n], F_OK))
			r = error_set(err, EEXIST,
				      "disk %u: overlay %s exists already", i,
				      ov[n]);
		if (!r) {
			ovp[n] = ov[n];
			idx[n++] = i;
		}
	}
	if (!r && !n)
		r = error_set(err, EINVAL,
			      "%s has no writable disk to snapshot",
			      v->def.name);
	if (!r && v->vm) {
		/* the worker holds the images: it formats the overlays
		 * (opened here) and switches to them at one instant */
		for (; made < n && !r; made++) {
			FILE *f = fopen(ov[made], "wx");
			if (!f)
				r = error_set(err, errno, "overlay %s: %s",
					      ov[made], strerror(errno));
			else
				fclose(f);
		}
		if (!r)
			r = vm_disk_snapshot_external(v->vm, ovp, n, err);
	} else if (!r) {
		for (; made < n && !r; made++) {
			const struct vmdef_disk *dk = &def->disks[idx[made]];
			r = image_snapshot_external(dk->path, dk->format,
						    ov[made], err);
			if (r) /* image_clone removed its file */
				break;
		}
	}
	if (r) {
		for (unsigned k = 0; k < made; k++)
			unlink(ov[k]);
		goto out;
	}
	for (unsigned k = 0; k < n; k++) {
		struct vmdef_disk *dk = &def->disks[idx[k]];
		json_array_append_new(disks,
				      json_pack("{s:i, s:s, s:s, s:s}", "disk",
						(int)idx[k], "image", dk->path,
						"format", dk->format, "overlay",
						ov[k]));
		snprintf(dk->path, sizeof(dk->path), "%.4095s", ov[k]);
		snprintf(dk->format, sizeof(dk->format), "qcow2");
	}
	s->running = v->vm != NULL;
	free(s->disks);
	s->disks = json_dumps(disks, JSON_COMPACT);
	if (!s->disks)
		r = error_set(err, ENOMEM, "out of memory");
	/* the overlays are in use (the running VM writes them): the
	 * definition must name them whatever happens to the record */
	if (!r)
		r = set_def(d, v, def, err);
	if (!r)
		r = inventory_snapshot_add(d->inv, v->id, s, err);
	if (r)
		log_error(LOG, "%s: external snapshot %s: %s", v->def.name,
			  s->name, err->msg);
out:
	json_decref(disks);
	free(def);
	free(ov);
	return r;
}

/* One disk entry of an external snapshot's record. */
struct ext_disk {
	unsigned disk;
	const char *image, *format, *overlay;
};

static int parse_disks(const json_t *a, struct ext_disk *out, unsigned *n,
		       const struct dvm *v, const char *name, struct error *err)
{
	size_t i;
	json_t *o;
	*n = 0;
	json_array_foreach(a, i, o)
	{
		struct ext_disk *e = &out[*n];
		json_int_t k = json_integer_value(json_object_get(o, "disk"));
		e->image = json_string_value(json_object_get(o, "image"));
		e->format = json_string_value(json_object_get(o, "format"));
		e->overlay = json_string_value(json_object_get(o, "overlay"));
		if (*n >= VIRT_MAX_VIRTIO || !e->image || !e->format ||
		    !e->overlay || k < 0 || k >= (json_int_t)v->def.n_disks)
			return error_set(err, EIO,
					 "inventory: snapshot %s: bad disks",
					 name);
		e->disk = (unsigned)k;
		(*n)++;
	}
	return 0;
}

/* Is image in the backing chain of the disk's current image? */
static int chain_has(const struct vmdef_disk *dk, const char *image,
		     unsigned *snapshots, struct error *err)
{
	struct image_chain_entry *c;
	unsigned n;
	char *want = realpath(image, NULL);
	int r = image_chain(dk->path, dk->format, &c, &n, err);
	bool found = false;

	for (unsigned i = 0; !r && want && i < n; i++) {
		char *rp = realpath(c[i].path, NULL);
		if (rp && !strcmp(rp, want)) {
			found = true;
			if (snapshots)
				*snapshots = c[i].snapshots;
		}
		free(rp);
	}
	if (!r)
		free(c);
	if (!r && !found)
		r = error_set(err, ENOENT,
			      "disk %s no longer reads through %s (changed "
			      "outside the daemon?)",
			      dk->path, image);
	free(want);
	return r;
}

int daemon_snapshot_ext_revert(struct daemon *d, struct dvm *v,
			       const char *name, json_t *disks,
			       struct error *err)
{
	struct ext_disk e[VIRT_MAX_VIRTIO];
	struct inventory_snapshot *all = NULL;
	size_t na = 0, at = 0;
	unsigned n;
	struct vmdef *def = NULL;
	int r = parse_disks(disks, e, &n, v, name, err);

	if (!r)
		r = inventory_snapshot_list(d->inv, v->id, &all, &na, err);
	while (!r && at < na && strcmp(all[at].name, name))
		at++;
	/* newer internal snapshots live in the overlays about to go */
	for (size_t k = at + 1; !r && k < na; k++)
		if (!daemon_snapshot_is_external(all[k].disks))
			r = error_set(err, EBUSY,
				      "internal snapshot %s was taken after "
				      "%s and lives in its overlays: delete "
				      "it first",
				      all[k].name, name);
	for (unsigned k = 0; !r && k < n; k++)
		r = chain_has(&v->def.disks[e[k].disk], e[k].overlay, NULL,
			      err);
	if (!r && !(def = malloc(sizeof(*def))))
		r = error_set(err, ENOMEM, "out of memory");
	if (r)
		goto out;
	/* discard the overlays of newer snapshots, newest first */
	for (size_t k = na; k-- > at + 1;) {
		json_t *a = json_loads(all[k].disks, 0, NULL);
		struct ext_disk ne[VIRT_MAX_VIRTIO];
		unsigned nn;
		struct error e2 = { 0 };
		if (!parse_disks(a, ne, &nn, v, all[k].name, &e2))
			for (unsigned i = 0; i < nn; i++)
				if (unlink(ne[i].overlay) && errno != ENOENT)
					log_warn(LOG, "removing %s: %s",
						 ne[i].overlay,
						 strerror(errno));
		json_decref(a);
		if (inventory_snapshot_delete(d->inv, v->id, all[k].name, &e2))
			log_warn(LOG, "%s", e2.msg);
	}
	/* a new empty overlay on the snapshot's images */
	*def = v->def;
	for (unsigned k = 0; !r && k < n; k++) {
		struct vmdef_disk *dk = &def->disks[e[k].disk];
		if (unlink(e[k].overlay) && errno != ENOENT)
			r = error_set(err, errno, "removing %s: %s",
				      e[k].overlay, strerror(errno));
		if (!r)
			r = image_snapshot_external(e[k].image, e[k].format,
						    e[k].overlay, err);
		snprintf(dk->path, sizeof(dk->path), "%s", e[k].overlay);
		snprintf(dk->format, sizeof(dk->format), "qcow2");
	}
	if (!r)
		r = set_def(d, v, def, err);
out:
	free(def);
	inventory_snapshot_list_free(all, na);
	return r;
}

/* The image of the disk's chain right above image (NULL: image is the
 * top) into *above (free() it), and image's internal snapshot count. */
static int above_in_chain(const struct vmdef_disk *dk, const char *image,
			  char **above, unsigned *snapshots, struct error *err)
{
	struct image_chain_entry *c;
	unsigned n;
	char *want = realpath(image, NULL);
	int r = image_chain(dk->path, dk->format, &c, &n, err);
	bool got = r == 0;
	int at = -1;

	for (unsigned i = 0; !r && want && i < n && at < 0; i++) {
		char *rp = realpath(c[i].path, NULL);
		if (rp && !strcmp(rp, want))
			at = (int)i;
		free(rp);
	}
	if (!r && at < 0)
		r = error_set(err, ENOENT,
			      "disk %s no longer reads through %s (changed "
			      "outside the daemon?)",
			      dk->path, image);
	if (!r) {
		*snapshots = c[at].snapshots;
		*above = at ? strdup(c[at - 1].path) : NULL;
		if (at && !*above)
			r = error_set(err, ENOMEM, "out of memory");
	}
	if (got)
		free(c);
	free(want);
	return r;
}

int daemon_snapshot_ext_delete(struct daemon *d, struct dvm *v,
			       const char *name, json_t *disks,
			       struct error *err)
{
	struct ext_disk e[VIRT_MAX_VIRTIO];
	char *above[VIRT_MAX_VIRTIO] = { 0 };
	struct inventory_snapshot *all = NULL;
	size_t na = 0;
	struct vmdef *def = NULL;
	unsigned n = 0;
	int r = parse_disks(disks, e, &n, v, name, err);

	if (!r && v->vm)
		r = error_set(err, EBUSY,
			      "%s is %s: deleting external snapshot %s "
			      "commits its overlays into their backing files, "
			      "which is done with the VM stopped (live "
			      "blockcommit is not supported yet)",
			      v->def.name, vm_state_name(v->state), name);
	for (unsigned k = 0; !r && k < n; k++) {
		unsigned snaps = 0;
		r = above_in_chain(&v->def.disks[e[k].disk], e[k].overlay,
				   &above[k], &snaps, err);
		if (!r && snaps)
			r = error_set(err, EBUSY,
				      "overlay %s holds %u internal "
				      "snapshot(s): delete them first",
				      e[k].overlay, snaps);
	}
	if (!r)
		r = inventory_snapshot_list(d->inv, v->id, &all, &na, err);
	if (!r && !(def = malloc(sizeof(*def))))
		r = error_set(err, ENOMEM, "out of memory");
	if (r)
		goto out;
	/* blockcommit: each overlay into its image (a crash midway: the
	 * overlays still read the same) */
	for (unsigned k = 0; !r && k < n; k++)
		r = image_commit(e[k].overlay, NULL, NULL, err);
	/* the image reads as the overlay did: what read through the overlay
	 * (a newer snapshot's overlay, or the VM's disk) reads the image */
	*def = v->def;
	for (unsigned k = 0; !r && k < n; k++) {
		struct vmdef_disk *dk = &def->disks[e[k].disk];
		if (above[k]) {
			r = image_rebase_unsafe(above[k], e[k].image,
						e[k].format, err);
			continue;
		}
		snprintf(dk->path, sizeof(dk->path), "%s", e[k].image);
		snprintf(dk->format, sizeof(dk->format), "%s", e[k].format);
	}
	if (!r)
		r = set_def(d, v, def, err);
	/* newer snapshots' records name the overlay as their image */
	for (size_t i = 0; !r && i < na; i++) {
		json_t *a = json_loads(all[i].disks, 0, NULL);
		size_t x;
		json_t *o;
		bool changed = false;
		if (strcmp(all[i].name, name) &&
		    json_is_object(json_array_get(a, 0)))
			json_array_foreach(a, x, o)
			{
				const char *img = json_string_value(
					json_object_get(o, "image"));
				for (unsigned k = 0; img && k < n; k++) {
					if (strcmp(img, e[k].overlay))
						continue;
					json_object_set_new(
						o, "image",
						json_string(e[k].image));
					json_object_set_new(
						o, "format",
						json_string(e[k].format));
					changed = true;
					break;
				}
			}
		char *txt = changed ? json_dumps(a, JSON_COMPACT) : NULL;
		if (changed && !txt)
			r = error_set(err, ENOMEM, "out of memory");
		else if (txt)
			r = inventory_snapshot_set_disks(d->inv, v->id,
							 all[i].name, txt, err);
		free(txt);
		json_decref(a);
	}
	for (unsigned k = 0; !r && k < n; k++)
		if (unlink(e[k].overlay))
			log_warn(LOG, "removing %s: %s", e[k].overlay,
				 strerror(errno));
out:
	for (unsigned k = 0; k < n; k++)
		free(above[k]);
	inventory_snapshot_list_free(all, na);
	free(def);
	return r;
}
