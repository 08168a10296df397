/*
 * The daemons' side of a live migration's block mirror (--copy-storage,
 * docs/vm-state.md "Disks copied with the VM"); the copy itself is the
 * workers' (machine/virt_mirror.c), inside the migration stream.
 *
 *   source       daemon_mirror_check: every disk writable, unencrypted,
 *                without a backing file (a linked clone is refused: it
 *                would need its template at the destination); the
 *                query for the destination, with each disk's virtual
 *                size: "copy_storage=1&disk_sizes=N,N"
 *   destination  daemon_mirror_prepare: each disk a new, empty image of
 *                the same format and size in <state_dir>/disks (never
 *                the source's path: a file there may be another VM's),
 *                the definition rewritten to point at them; after a
 *                failed migration daemon_mirror_discard removes them.
 *                Without copy_storage it only checks that every image
 *                is reachable at its path (shared storage), so that a
 *                move that cannot work is refused before any copy.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/daemon_impl.h"
#include "block/image.h"
#include "util/log.h"
#include "virtio/blk.h"

#define LOG "migrate"

int daemon_mirror_check(const struct vmdef *def, char *query, size_t cap,
			struct error *err)
{
	int n = snprintf(query, cap, "copy_storage=1&disk_sizes=");

	for (unsigned i = 0; i < def->n_disks; i++) {
		const struct vmdef_disk *dk = &def->disks[i];
		struct image_info info;
		if (dk->readonly)
			return error_set(err, EINVAL,
					 "disk %u (%s) is read-only: "
					 "--copy-storage copies writable disks "
					 "only (give the destination its own "
					 "copy and use shared storage)",
					 i, dk->path);
		if (dk->key_secret[0])
			return error_set(err, EINVAL,
					 "disk %u (%s) is encrypted: "
					 "--copy-storage does not copy "
					 "encrypted images yet",
					 i, dk->path);
		int r = image_info_unlocked(dk->path, &info, err);
		if (r)
			return r;
		if (info.backing[0])
			return error_set(err, EINVAL,
					 "disk %u (%s) has a backing file (%s; "
					 "a linked clone or an external "
					 "snapshot): --copy-storage copies "
					 "single images only; flatten it "
					 "first (softvisor image pull, or a "
					 "full clone)",
					 i, dk->path, info.backing);
		if (info.encrypted)
			return error_set(err, EINVAL,
					 "disk %u (%s) is encrypted: "
					 "--copy-storage does not copy "
					 "encrypted images yet",
					 i, dk->path);
		n += snprintf(query + n, n < (int)cap ? cap - (size_t)n : 0,
			      "%s%llu", i ? "," : "",
			      (unsigned long long)info.virtual_size);
	}
	if (n >= (int)cap)
		return error_set(err, ENAMETOOLONG, "too many disks");
	return 0;
}

/* "name=value" out of a query string; false if absent. */
static bool query_get(const char *qs, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	for (const char *p = qs; p && *p;) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			snprintf(out, cap, "%.*s", (int)(len - nl - 1),
				 p + nl + 1);
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

struct daemon_mirror_in {
	unsigned n;
	char paths[VMDEF_MAX_DISKS][VIRTIO_BLK_PATH_MAX];
};

void daemon_mirror_done(struct daemon_mirror_in *mi, bool ok)
{
	for (unsigned i = 0; mi && !ok && i < mi->n; i++)
		if (mi->paths[i][0] && unlink(mi->paths[i]) < 0 &&
		    errno != ENOENT)
			log_warn(LOG, "%s: %s", mi->paths[i], strerror(errno));
	free(mi);
}

int daemon_new_image_path(struct daemon *d, const char *vm, unsigned i,
			  const char *format, bool reserve, char *out,
			  size_t cap, struct error *err)
{
	char dir[4096];

	if (snprintf(dir, sizeof(dir), "%s/disks", d->cfg.state_dir) >=
	    (int)sizeof(dir))
		return error_set(err, ENAMETOOLONG, "state directory too long");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return error_set(err, errno, "%s: %s", dir, strerror(errno));
	for (unsigned k = 1; k < 100; k++) {
		char sfx[16] = "";
		if (k > 1)
			snprintf(sfx, sizeof(sfx), "-%u", k);
		if (snprintf(out, cap, "%s/%s-disk%u%s.%s", dir, vm, i, sfx,
			     format) >= (int)cap)
			return error_set(err, ENAMETOOLONG,
					 "disk path too long");
		if (!reserve) {
			if (access(out, F_OK) < 0 && errno == ENOENT)
				return 0;
			continue;
		}
		int fd = open(out, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
			      0600);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST)
			return error_set(err, errno, "%s: %s", out,
					 strerror(errno));
	}
	return error_set(err, EEXIST, "%s/%s-disk%u-*.%s: all taken", dir, vm,
			 i, format);
}

int daemon_mirror_prepare(struct daemon *d, const char *query, char **def_json,
			  struct daemon_mirror_in **out_mi, struct error *err)
{
	char v[1024];
	bool copy = query_get(query, "copy_storage", v, sizeof(v)) &&
		    !strcmp(v, "1");
	json_t *def = json_loads(*def_json, 0, NULL);
	json_t *disks = json_object_get(def, "disks");
	const char *name = json_string_value(json_object_get(def, "name"));
	size_t n = json_array_size(disks);
	int r = 0;
	struct daemon_mirror_in *mi = NULL;

	*out_mi = NULL;
	if (!def || !name) {
		json_decref(def);
		return 0; /* daemon_vm_create says what is wrong with it */
	}
	if (!copy) {
		/* shared storage: each image must be here, at its path */
		for (size_t i = 0; i < n && !r; i++) {
			json_t *o = json_array_get(disks, i);
			const char *p = json_string_value(
				json_object_get(o, "path"));
			bool ro = json_is_true(json_object_get(o, "readonly"));
			if (p && access(p, ro ? R_OK : R_OK | W_OK) < 0)
				r = error_set(
					err, errno == ENOENT ? ENOENT : EPERM,
					"disk %zu: %s is not reachable on the "
					"destination (%s): without "
					"--copy-storage a VM's disks must be "
					"on storage both hosts see at the same "
					"path",
					i, p, strerror(errno));
		}
		json_decref(def);
		return r;
	}
	/* the name goes into file names here, before daemon_vm_create
	 * checks it: the same rule (vmdef.c) */
	size_t nl = strlen(name);
	bool name_ok = nl > 0 && nl <= VMDEF_NAME_MAX && name[0] != '-' &&
		       name[nl - 1] != '-';
	for (size_t i = 0; name_ok && i < nl; i++)
		name_ok = isalnum((unsigned char)name[i]) || name[i] == '-';
	if (!name_ok)
		r = error_set(err, EINVAL,
			      "name: \"%s\": expected letters, digits and '-' "
			      "(not first or last)",
			      name);
	else if (n > VMDEF_MAX_DISKS)
		r = error_set(err, EINVAL, "%zu disks", n);
	else if (!(mi = calloc(1, sizeof(*mi))))
		r = error_set(err, ENOMEM, "out of memory");
	/* the sizes, in the disks' order */
	uint64_t size[VMDEF_MAX_DISKS] = { 0 };
	if (!r && !query_get(query, "disk_sizes", v, sizeof(v)) && n)
		r = error_set(err, EINVAL, "copy_storage: disk_sizes missing");
	const char *p = v;
	for (size_t i = 0; !r && i < n; i++) {
		char *end;
		errno = 0;
		unsigned long long x = strtoull(p, &end, 10);
		if (errno || end == p || (*end && *end != ',') || !x)
			r = error_set(err, EINVAL,
				      "copy_storage: disk_sizes: expected %zu "
				      "sizes in bytes",
				      n);
		size[i] = x;
		p = *end ? end + 1 : end;
	}
	for (size_t i = 0; !r && i < n; i++) {
		json_t *o = json_array_get(disks, i);
		const char *fmt = json_string_value(
			json_object_get(o, "format"));
		if (!fmt || !fmt[0])
			fmt = "raw";
		if (strcmp(fmt, "raw") && strcmp(fmt, "qcow2")) {
			r = error_set(err, EINVAL, "disk %zu: format %s", i,
				      fmt);
			break;
		}
		r = daemon_new_image_path(d, name, (unsigned)i, fmt, true,
					  mi->paths[i], sizeof(mi->paths[i]),
					  err);
		if (r)
			break;
		mi->n = (unsigned)i + 1;
		r = image_create(mi->paths[i], fmt, size[i], NULL, err);
		if (!r)
			json_object_set_new(o, "path",
					    json_string(mi->paths[i]));
	}
	char *out = r ? NULL : json_dumps(def, JSON_COMPACT);
	if (!r && !out)
		r = error_set(err, ENOMEM, "out of memory");
	json_decref(def);
	if (r) {
		error_prefix(err, "copy_storage");
		daemon_mirror_done(mi, false);
		return r;
	}
	free(*def_json);
	*def_json = out;
	*out_mi = mi;
	log_info(LOG, "%s: %u disks created for the block mirror", name, mi->n);
	return 0;
}
