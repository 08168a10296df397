/*
 * Disk snapshots of the daemon's VMs (daemon_snapshot.h): create, list,
 * revert, delete, on the images of a VM that is off or, through its
 * worker, of one that runs (docs/block.md "Snapshots of a running VM"),
 * with the VM's memory state when it runs (docs/vm-state.md, "Snapshots
 * with memory").
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	json_t *j = json_pack("{s:s, s:I, s:s, s:o, s:s, s:s, s:b, s:I}",
			      "name", s->name, "created_ms",
			      (json_int_t)s->created_ms, "description",
			      s->description, "disks",
			      disks ? disks : json_array(), "vm_state",
			      !s->running ? "off"
			      : s->paused ? "paused"
					  : "running",
			      "type", ext ? "external" : "internal", "memory",
			      s->memory_bytes > 0, "memory_bytes",
			      (json_int_t)s->memory_bytes);
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

/* ---- memory state files ------------------------------------------------ */

/* <state_dir>/snapshots/<id>: the VM's snapshots' state files, by id as
 * vmstate/<id>.state (a rename of the VM keeps them). */
static int mem_dir(struct daemon *d, int64_t id, char *buf, size_t cap,
		   struct error *err)
{
	int n = snprintf(buf, cap, "%s/snapshots/%lld", d->cfg.state_dir,
			 (long long)id);
	if (n < 0 || (size_t)n + INVENTORY_SNAP_NAME_MAX + 16 >= cap)
		return error_set(err, ENAMETOOLONG,
				 "the state directory's path is too long");
	return 0;
}

/* The state file of snapshot name (a checked name: no '/'). */
static int mem_path(struct daemon *d, int64_t id, const char *name, char *buf,
		    size_t cap, struct error *err)
{
	int r = mem_dir(d, id, buf, cap, err);
	if (!r)
		snprintf(buf + strlen(buf), cap - strlen(buf), "/%s.state",
			 name);
	return r;
}

static int mkdir_0700(const char *dir, struct error *err)
{
	if (mkdir(dir, 0700) && errno != EEXIST)
		return error_set(err, errno, "%s: %s", dir, strerror(errno));
	return 0;
}

static int fsync_dir(const char *dir, struct error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "%s: %s", dir, strerror(errno));
	int r = fsync(fd) ? error_set(err, errno, "fsync %s: %s", dir,
				      strerror(errno))
			  : 0;
	close(fd);
	return r;
}

void daemon_snapshot_files_remove(struct daemon *d, int64_t id)
{
	char dir[4096], p[4096 + 300];
	struct error e = { 0 };
	if (mem_dir(d, id, dir, sizeof(dir), &e))
		return;
	DIR *dh = opendir(dir);
	if (!dh) {
		if (errno != ENOENT)
			log_warn(LOG, "%s: %s", dir, strerror(errno));
		return;
	}
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (unlink(p))
			log_warn(LOG, "%s: %s", p, strerror(errno));
	}
	closedir(dh);
	if (rmdir(dir))
		log_warn(LOG, "%s: %s", dir, strerror(errno));
}

/* Remove snapshot name's state file, if any. */
static void mem_unlink(struct daemon *d, struct dvm *v, const char *name)
{
	char path[4096];
	struct error e = { 0 };
	if (!mem_path(d, v->id, name, path, sizeof(path), &e) && unlink(path) &&
	    errno != ENOENT)
		log_warn(LOG, "%s: %s: %s", v->def.name, path, strerror(errno));
}

/* The snapshot with memory: disks and state at one instant through
 * vm_snapshot_save into PATH.tmp, then fsync, rename to PATH, fsync the
 * directory. Any failure leaves no state file and no disk snapshot; the
 * VM runs on as it was. s->memory_bytes gets the file's size. */
static int create_with_memory(struct daemon *d, struct dvm *v,
			      struct inventory_snapshot *s, bool defaulted,
			      struct error *err)
{
	char dir[4096], path[4096], tmp[4096 + 8];
	struct virt_save_stats st = { 0 };
	int r = mem_dir(d, v->id, dir, sizeof(dir), err);
	if (!r) {
		char top[4096];
		snprintf(top, sizeof(top), "%s/snapshots", d->cfg.state_dir);
		r = mkdir_0700(top, err);
	}
	if (!r)
		r = mkdir_0700(dir, err);
	if (!r)
		r = mem_path(d, v->id, s->name, path, sizeof(path), err);
	if (r)
		return r;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, errno, "%s: %s", tmp, strerror(errno));
	r = vm_snapshot_save(v->vm, s->name, fd, &st, err);
	/* no answer in time: the worker may have taken them after all */
	bool taken = !r || r == -ETIMEDOUT;
	struct stat sb;
	if (!r && fsync(fd))
		r = error_set(err, errno, "fsync %s: %s", tmp, strerror(errno));
	if (!r && fstat(fd, &sb))
		r = error_set(err, errno, "%s: %s", tmp, strerror(errno));
	if (close(fd) && !r)
		r = error_set(err, errno, "close %s: %s", tmp, strerror(errno));
	if (!r && rename(tmp, path))
		r = error_set(err, errno, "rename to %s: %s", path,
			      strerror(errno));
	if (!r)
		r = fsync_dir(dir, err);
	if (r) {
		unlink(tmp);
		unlink(path);
		struct error e = { 0 };
		if (taken && vm_disk_snapshot(v->vm, s->name, true, &e))
			log_warn(LOG, "%s: undoing snapshot %s: %s",
				 v->def.name, s->name, e.msg);
		if (r == -ENOTSUP && defaulted) {
			char m[sizeof(err->msg)];
			snprintf(m, sizeof(m), "%s", err->msg);
			error_set(err, ENOTSUP,
				  "%.400s (a snapshot without memory can be "
				  "taken: --no-memory, \"memory\": false)",
				  m);
		}
		return r;
	}
	s->memory_bytes = sb.st_size > 0 ? (int64_t)sb.st_size : 1;
	log_info(LOG,
		 "%s: snapshot %s with memory (%lld bytes, %llu of %llu RAM "
		 "pages, %.1f ms)",
		 v->def.name, s->name, (long long)s->memory_bytes,
		 (unsigned long long)st.ram_frames_saved,
		 (unsigned long long)st.ram_frames, st.total_ns / 1e6);
	return 0;
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

/* Parse {"name", "description", "disk_only", "memory"}; *memory stays
 * -1 when not given. */
static int parse_create(const char *body, struct inventory_snapshot *s,
			bool *disk_only, int *memory, struct error *err)
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
		if (!strcmp(key, "disk_only") || !strcmp(key, "memory")) {
			if (!json_is_boolean(val)) {
				r = error_set(err, EINVAL,
					      "%s: expected true or false",
					      key);
				break;
			}
			if (key[0] == 'd')
				*disk_only = json_is_true(val);
			else
				*memory = json_is_true(val);
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
	int memory = -1; /* not given: with memory if the VM runs */
	int r = parse_create(body, &s, &disk_only, &memory, err);
	if (!r && memory == 1 && disk_only)
		r = error_set(err, EINVAL,
			      "memory and disk_only: an external snapshot "
			      "holds the disks only");
	if (!r && memory == 1 && !v->vm)
		r = error_set(err, EINVAL,
			      "%s is %s: only a running or paused VM has "
			      "memory to snapshot",
			      v->def.name, vm_state_name(v->state));
	bool with_memory = !disk_only && v->vm && memory != 0;
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
		s.paused = s.running && v->state == VM_STATE_PAUSED;
		s.disks = json_dumps(disks, JSON_COMPACT);
		if (!s.disks)
			r = error_set(err, ENOMEM, "out of memory");
	}
	if (!r && with_memory)
		r = create_with_memory(d, v, &s, memory == -1, err);
	else if (!r)
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
			if (with_memory)
				mem_unlink(d, v, s.name);
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

/* Snapshot name's record into *rec (free rec->disks) and its disks. */
static int recorded(struct daemon *d, struct dvm *v, const char *name,
		    struct inventory_snapshot *rec, json_t **disks,
		    struct error *err)
{
	int r = inventory_snapshot_get(d->inv, v->id, name, rec, err);
	if (r == -ENOENT)
		return error_set(err, ENOENT, "%s has no snapshot named %s",
				 v->def.name, name);
	if (r)
		return r;
	*disks = json_loads(rec->disks, 0, NULL);
	if (!json_is_array(*disks)) {
		json_decref(*disks);
		*disks = NULL;
		free(rec->disks);
		rec->disks = NULL;
		return error_set(err, EIO, "inventory: snapshot %s: bad disks",
				 name);
	}
	return 0;
}

/* The snapshot's disks, each still a disk of v. */
static int recorded_disks(struct daemon *d, struct dvm *v, const char *name,
			  json_t **disks, struct error *err)
{
	struct inventory_snapshot s;
	int r = recorded(d, v, name, &s, disks, err);
	if (!r)
		free(s.disks);
	return r;
}

/* A revert to a snapshot with memory replaces whatever the VM is doing
 * (virsh snapshot-revert): a machine is stopped, a suspended VM's saved
 * state discarded. */
static int end_current(struct daemon *d, struct dvm *v, const char *actor,
		       struct error *err)
{
	if (v->state == VM_STATE_SUSPENDED)
		return daemon_vm_discard_state(d, v, err);
	if (!v->vm)
		return 0;
	unsigned gen = v->gen;
	vm_stop(v->vm, 0);
	dvm_finalize(d, v, gen, actor);
	return 0;
}

/* Start v from the snapshot's state at fd (the restore of vm resume),
 * its vCPUs held paused if it was paused at the snapshot. */
static int start_from(struct daemon *d, struct dvm *v, int fd, bool paused,
		      struct error *err)
{
	v->restoring = true;
	v->restore_fd = fd;
	v->start_held = paused;
	int r = dvm_start(d, v, err);
	v->restoring = v->start_held = false;
	v->restore_fd = -1;
	if (!r && paused)
		r = dvm_set_state(d, v, VM_STATE_PAUSED, err);
	if (r)
		error_prefix(err, "the disks are reverted, but the VM did not "
				  "start from the snapshot's memory state (vm "
				  "start boots it afresh)");
	return r;
}

int daemon_snapshot_revert(struct daemon *d, const char *actor, const char *ref,
			   const char *name, json_t **out, struct error *err)
{
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	json_t *disks = NULL;
	struct inventory_snapshot rec = { 0 };
	char path[4096];
	int fd = -1;
	int r = refuse_template(v, "applied", err);
	if (!r)
		r = recorded(d, v, name, &rec, &disks, err);
	bool mem = !r && rec.memory_bytes > 0;
	if (!r && !mem && v->vm)
		r = error_set(err, EBUSY,
			      "%s is %s: stop it before reverting to snapshot "
			      "%s (it holds the disks only)",
			      v->def.name, vm_state_name(v->state), name);
	if (!r && !mem && v->state == VM_STATE_SUSPENDED)
		r = error_set(err, EBUSY,
			      "%s is suspended: stop it (which discards its "
			      "saved state) before reverting to snapshot %s",
			      v->def.name, name);
	if (!r && mem)
		r = mem_path(d, v->id, name, path, sizeof(path), err);
	if (!r && mem && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		r = error_set(err, errno, "its memory state %s: %s", path,
			      strerror(errno));
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
	/* a machine holds its images locked: it ends first (the checks
	 * above passed, so the snapshot is whole as far as the daemon
	 * knows) */
	if (!r && mem)
		r = end_current(d, v, actor, err);
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
	if (!r && mem)
		r = start_from(d, v, fd, rec.paused, err);
	if (fd >= 0)
		close(fd);
	if (r)
		error_prefix(err, "revert of %s to %s", v->def.name, name);
	snap_event(d, v->def.name, actor, "snapshot-revert", r, err);
	dvm_op_end(d, v);
	json_decref(disks);
	free(rec.disks);
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
	if (!r) /* its memory state, if it had one */
		mem_unlink(d, v, name);
	if (r)
		error_prefix(err, "deleting snapshot %s of %s", name,
			     v->def.name);
	snap_event(d, v->def.name, actor, "snapshot-delete", r, err);
	dvm_op_end(d, v);
	json_decref(disks);
	return r;
}
