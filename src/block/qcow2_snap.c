/*
 * Internal qcow2 snapshots (spec "Snapshots"; image.h): create, list,
 * apply, delete. A snapshot is a copy of the L1 table plus one more
 * reference on every cluster that table reaches (its L2 tables, their data
 * clusters). A cluster with refcount > 1 is never written in place: its
 * L1/L2 entry has QCOW2_OFLAG_COPIED clear, and qcow2.c copies it on the
 * next write. Crash ordering: docs/block.md, "Internal snapshots".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/image.h"
#include "block/qcow2_int.h"

struct snap {
	uint64_t l1_offset;
	uint32_t l1_size;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock;
	uint32_t vm_state;
	uint32_t extra_len;
	uint8_t extra[64]; /* kept verbatim (QEMU: vm state, disk size, ...) */
	char id[128], name[256];
};

static struct qcow2 *snap_open(const char *path, bool ro, struct error *err)
{
	const char *fmt = blockdev_probe(path, err);

	if (!fmt)
		return NULL;
	if (strcmp(fmt, "qcow2")) {
		error_set(err, ENOTSUP,
			  "image %s: format %s has no internal snapshots", path,
			  fmt);
		return NULL;
	}
	return (struct qcow2 *)qcow2_open(path, ro, -1, NULL, err);
}

static void snap_close(struct qcow2 *q)
{
	q->bd.path = NULL;
	q->bd.ops->close(&q->bd);
}

/* Parse the snapshot table into *out (n = q->nb_snapshots entries). */
static int snap_load(struct qcow2 *q, struct snap **out, struct error *err)
{
	struct snap *s = calloc(q->nb_snapshots + 1, sizeof(*s));
	uint64_t pos = q->snapshots_offset;
	uint8_t h[40];
	int r = 0;

	if (!s)
		return error_set(err, ENOMEM, "image %s: out of memory",
				 q->name);
	for (uint32_t i = 0; i < q->nb_snapshots && r == 0; i++) {
		uint16_t idl, nl;

		r = qcow2_pread(q, h, sizeof(h), pos);
		if (r < 0)
			break;
		s[i].l1_offset = qcow2_be64(h);
		s[i].l1_size = qcow2_be32(h + 8);
		idl = (uint16_t)(h[12] << 8 | h[13]);
		nl = (uint16_t)(h[14] << 8 | h[15]);
		s[i].date_sec = qcow2_be32(h + 16);
		s[i].date_nsec = qcow2_be32(h + 20);
		s[i].vm_clock = qcow2_be64(h + 24);
		s[i].vm_state = qcow2_be32(h + 32);
		s[i].extra_len = qcow2_be32(h + 36);
		if (s[i].extra_len > sizeof(s[i].extra) ||
		    idl >= sizeof(s[i].id) || nl >= sizeof(s[i].name) ||
		    s[i].l1_offset % q->cluster_size ||
		    s[i].l1_size > (1u << 25) ||
		    s[i].l1_offset + (uint64_t)s[i].l1_size * 8 >
			    q->file_size) {
			r = -EINVAL;
			break;
		}
		pos += 40;
		r = qcow2_pread(q, s[i].extra, s[i].extra_len, pos);
		pos += s[i].extra_len;
		if (r == 0)
			r = qcow2_pread(q, s[i].id, idl, pos);
		pos += idl;
		if (r == 0)
			r = qcow2_pread(q, s[i].name, nl, pos);
		pos += nl;
		pos = (pos + 7) & ~7ull;
	}
	if (r < 0) {
		free(s);
		return error_set(
			err, -r, "image %s: snapshot table at 0x%llx: %s",
			q->name, (unsigned long long)q->snapshots_offset,
			r == -EINVAL ? "malformed entry" : strerror(-r));
	}
	*out = s;
	return 0;
}

static uint64_t snap_table_len(const struct snap *s, uint32_t n)
{
	uint64_t len = 0;

	for (uint32_t i = 0; i < n; i++)
		len += (40 + s[i].extra_len + strlen(s[i].id) +
			strlen(s[i].name) + 7) &
		       ~7ull;
	return len;
}

static uint64_t clusters(const struct qcow2 *q, uint64_t bytes)
{
	return (bytes + q->cluster_size - 1) >> q->cluster_bits;
}

/*
 * Write the table s[0..n) to new clusters, sync, point the header at it
 * (nb_snapshots and snapshots_offset: 12 contiguous bytes, one write),
 * sync, then free the old table. A crash leaves the old or the new table,
 * at worst with the other one leaked.
 */
static int snap_store(struct qcow2 *q, const struct snap *s, uint32_t n)
{
	uint64_t len = snap_table_len(s, n), off = 0, pos = 0;
	uint64_t old = q->snapshots_offset;
	uint64_t oldlen = 0;
	uint8_t *t = NULL, hdr[12];
	int r = 0;

	if (q->nb_snapshots) {
		struct snap *cur;
		struct error e = { 0 };

		if (snap_load(q, &cur, &e) < 0)
			return -e.code;
		oldlen = snap_table_len(cur, q->nb_snapshots);
		free(cur);
	}
	if (n) {
		t = calloc(1, clusters(q, len) << q->cluster_bits);
		if (!t)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			size_t idl = strlen(s[i].id), nl = strlen(s[i].name);

			qcow2_put64(t + pos, s[i].l1_offset);
			qcow2_put32(t + pos + 8, s[i].l1_size);
			t[pos + 12] = (uint8_t)(idl >> 8);
			t[pos + 13] = (uint8_t)idl;
			t[pos + 14] = (uint8_t)(nl >> 8);
			t[pos + 15] = (uint8_t)nl;
			qcow2_put32(t + pos + 16, s[i].date_sec);
			qcow2_put32(t + pos + 20, s[i].date_nsec);
			qcow2_put64(t + pos + 24, s[i].vm_clock);
			qcow2_put32(t + pos + 32, s[i].vm_state);
			qcow2_put32(t + pos + 36, s[i].extra_len);
			pos += 40;
			memcpy(t + pos, s[i].extra, s[i].extra_len);
			pos += s[i].extra_len;
			memcpy(t + pos, s[i].id, idl);
			pos += idl;
			memcpy(t + pos, s[i].name, nl);
			pos = (pos + nl + 7) & ~7ull;
		}
		r = qcow2_alloc(q, clusters(q, len), &off);
		if (r == 0)
			r = qcow2_pwrite(
				q, t, clusters(q, len) << q->cluster_bits, off);
		free(t);
		if (r == 0)
			r = qcow2_sync(q);
		if (r < 0)
			return r;
	}
	qcow2_put32(hdr, n);
	qcow2_put64(hdr + 4, off);
	r = qcow2_pwrite(q, hdr, sizeof(hdr), 60);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		return r;
	q->nb_snapshots = n;
	q->snapshots_offset = off;
	if (oldlen)
		r = qcow2_refcount_add(q, old >> q->cluster_bits,
				       clusters(q, oldlen), -1);
	return r;
}

/* Read an L1 table of n entries at off (host order). */
static int read_l1(struct qcow2 *q, uint64_t off, uint32_t n, uint64_t **l1)
{
	int r;

	*l1 = calloc(n + 1, 8);
	if (!*l1)
		return -ENOMEM;
	r = qcow2_pread(q, *l1, (uint64_t)n * 8, off);
	for (uint32_t i = 0; i < n; i++)
		(*l1)[i] = qcow2_be64(&(*l1)[i]);
	return r;
}

/* Add delta to the refcount of every cluster the L1 table reaches: each L2
 * table once per L1 entry, each data cluster once per L2 entry (as
 * qemu-img check counts references). */
static int l1_refs(struct qcow2 *q, const uint64_t *l1, uint32_t n, int delta)
{
	uint64_t *t = malloc(q->cluster_size);
	int r = 0;

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < n && r == 0; i++) {
		uint64_t l2 = l1[i] & QCOW2_OFFSET_MASK;

		if (!l2)
			continue;
		if (l2 % q->cluster_size || l2 >= q->file_size) {
			r = qcow2_corrupt(q, "L1 entry %u: L2 table 0x%llx", i,
					  (unsigned long long)l2);
			break;
		}
		r = qcow2_pread(q, t, q->cluster_size, l2);
		for (uint64_t j = 0; j < q->l2_entries && r == 0; j++) {
			uint64_t e = qcow2_be64(&t[j]);

			if (e & QCOW2_OFLAG_COMPRESSED) {
				uint64_t off, len;

				qcow2_compressed(q, e, &off, &len);
				r = qcow2_refcount_add(
					q, off >> q->cluster_bits,
					((off + len - 1) >> q->cluster_bits) -
						(off >> q->cluster_bits) + 1,
					delta);
			} else if (e & QCOW2_OFFSET_MASK) {
				r = qcow2_refcount_add(
					q,
					(e & QCOW2_OFFSET_MASK) >>
						q->cluster_bits,
					1, delta);
			}
		}
		if (r == 0)
			r = qcow2_refcount_add(q, l2 >> q->cluster_bits, 1,
					       delta);
	}
	free(t);
	return r;
}

/*
 * Make the active tables' COPIED flags say "refcount == 1" (spec "Cluster
 * mapping"): an L1 entry's for its L2 table, an L2 entry's for its data
 * cluster (an entry in a shared L2 table is shared too). Tables are
 * rewritten only where a flag changes; the in-memory L1 follows.
 */
static int fix_copied(struct qcow2 *q)
{
	uint64_t *t = malloc(q->cluster_size), rc;
	int r = 0;

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->l1_size && r == 0; i++) {
		uint64_t l2 = q->l1[i] & QCOW2_OFFSET_MASK, ne;
		bool own, changed = false;

		if (!l2)
			continue;
		r = qcow2_refcount_get(q, l2 >> q->cluster_bits, &rc);
		if (r == 0)
			r = qcow2_pread(q, t, q->cluster_size, l2);
		own = rc == 1;
		for (uint64_t j = 0; j < q->l2_entries && r == 0; j++) {
			uint64_t e = qcow2_be64(&t[j]), d;

			if ((e & QCOW2_OFLAG_COMPRESSED) ||
			    !(e & QCOW2_OFFSET_MASK))
				continue;
			r = qcow2_refcount_get(
				q, (e & QCOW2_OFFSET_MASK) >> q->cluster_bits,
				&d);
			ne = (own && d == 1) ? e | QCOW2_OFLAG_COPIED
					     : e & ~QCOW2_OFLAG_COPIED;
			if (ne != e) {
				qcow2_put64(&t[j], ne);
				changed = true;
			}
		}
		if (r == 0 && changed)
			r = qcow2_pwrite(q, t, q->cluster_size, l2);
		ne = own ? q->l1[i] | QCOW2_OFLAG_COPIED
			 : q->l1[i] & ~QCOW2_OFLAG_COPIED;
		if (r == 0 && ne != q->l1[i]) {
			uint64_t be;

			qcow2_put64(&be, ne);
			r = qcow2_pwrite(q, &be, 8, q->l1_offset + i * 8ull);
			q->l1[i] = ne;
		}
	}
	free(t);
	if (r == 0)
		r = qcow2_sync(q);
	return r;
}

static int find(const struct snap *s, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(s[i].name, name))
			return (int)i;
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(s[i].id, name))
			return (int)i;
	return -1;
}

/* The end of an operation on an image some caller keeps open: the message
 * (if the step that failed set none) and s freed. */
static int snap_fail(struct qcow2 *q, struct snap *s, int r, const char *what,
		     const char *name, struct error *err)
{
	if (r < 0 && !err->code)
		error_set(err, -r, "image %s: snapshot %s: %s: %s", q->name,
			  name, what, strerror(-r));
	free(s);
	return r;
}

/* The same for an image the operation opened itself: closed too. */
static int op_fail(struct qcow2 *q, struct snap *s, int r, const char *what,
		   const char *name, struct error *err)
{
	snap_fail(q, s, r, what, name, err);
	snap_close(q);
	return r;
}

int image_snapshot_list(const char *path, struct image_snapshot **list,
			unsigned *n, struct error *err)
{
	struct qcow2 *q = snap_open(path, true, err);
	struct snap *s;

	*list = NULL;
	*n = 0;
	if (!q)
		return -err->code;
	error_clear(err); /* op_fail keeps a message set here */
	if (snap_load(q, &s, err) < 0) {
		snap_close(q);
		return -err->code;
	}
	*list = calloc(q->nb_snapshots + 1, sizeof(**list));
	if (!*list)
		return op_fail(q, s, -ENOMEM, "listing", "*", err);
	for (uint32_t i = 0; i < q->nb_snapshots; i++) {
		struct image_snapshot *o = &(*list)[i];

		snprintf(o->id, sizeof(o->id), "%s", s[i].id);
		snprintf(o->name, sizeof(o->name), "%s", s[i].name);
		o->date_sec = s[i].date_sec;
		o->date_nsec = s[i].date_nsec;
		o->vm_clock_nsec = s[i].vm_clock;
		o->vm_state_size = s[i].vm_state;
		if (s[i].extra_len >= 8)
			o->vm_state_size = qcow2_be64(s[i].extra);
	}
	*n = q->nb_snapshots;
	return op_fail(q, s, 0, "", "", err);
}

/* Create snapshot name of q (open for writing; nothing else uses it). */
static int snap_create(struct qcow2 *q, const char *name, struct error *err)
{
	const char *path = q->name;
	struct snap *s = NULL, *ns;
	uint64_t l1off = 0, l1c, *be, maxid = 0;
	struct timespec ts;
	int r;

	error_clear(err); /* snap_fail keeps a message set here */
	if (!*name || strlen(name) >= sizeof(s->name))
		return error_set(err, EINVAL,
				 "image %s: snapshot name '%s': empty or "
				 "longer than %zu bytes",
				 path, name, sizeof(s->name) - 1),
		       snap_fail(q, s, -EINVAL, "", name, err);
	if (q->version < 3)
		return error_set(err, ENOTSUP,
				 "image %s: snapshot %s: needs a version 3 "
				 "image (compat 1.1)",
				 path, name),
		       snap_fail(q, s, -ENOTSUP, "", name, err);
	if (snap_load(q, &s, err) < 0)
		return snap_fail(q, s, -err->code, "", name, err);
	if (find(s, q->nb_snapshots, name) >= 0)
		return error_set(err, EEXIST,
				 "image %s: snapshot %s already exists", path,
				 name),
		       snap_fail(q, s, -EEXIST, "", name, err);
	if (q->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
		return error_set(err, ENOSPC,
				 "image %s: snapshot %s: already %u snapshots",
				 path, name, q->nb_snapshots),
		       snap_fail(q, s, -ENOSPC, "", name, err);
	ns = realloc(s, (q->nb_snapshots + 1) * sizeof(*s));
	if (!ns)
		return snap_fail(q, s, -ENOMEM, "creating", name, err);
	s = ns;
	for (uint32_t i = 0; i < q->nb_snapshots; i++)
		if (strtoull(s[i].id, NULL, 10) > maxid)
			maxid = strtoull(s[i].id, NULL, 10);
	ns = &s[q->nb_snapshots];
	memset(ns, 0, sizeof(*ns));
	snprintf(ns->id, sizeof(ns->id), "%llu", (unsigned long long)maxid + 1);
	snprintf(ns->name, sizeof(ns->name), "%s", name);
	clock_gettime(CLOCK_REALTIME, &ts);
	ns->date_sec = (uint32_t)ts.tv_sec;
	ns->date_nsec = (uint32_t)ts.tv_nsec;
	ns->extra_len = 24; /* vm state size, disk size, icount (-1) */
	qcow2_put64(ns->extra + 8, q->size);
	qcow2_put64(ns->extra + 16, UINT64_MAX);
	ns->l1_size = q->l1_size;

	/* 1. one more reference on everything the active L1 reaches */
	r = l1_refs(q, q->l1, q->l1_size, 1);
	if (r == 0)
		r = qcow2_sync(q);
	/* 2. the L1 copy (flags as they are; only the active's matter) */
	l1c = clusters(q, (uint64_t)q->l1_size * 8);
	be = calloc(l1c ? l1c : 1, q->cluster_size);
	if (!be)
		r = r ? r : -ENOMEM;
	for (uint32_t i = 0; be && i < q->l1_size; i++)
		qcow2_put64(&be[i], q->l1[i] & ~QCOW2_OFLAG_COPIED);
	if (r == 0 && l1c)
		r = qcow2_alloc(q, l1c, &l1off);
	if (r == 0 && l1c)
		r = qcow2_pwrite(q, be, l1c << q->cluster_bits, l1off);
	free(be);
	ns->l1_offset = l1off;
	/* 3. the active tables stop being written in place, before the
	 * snapshot exists: a crash here leaves only leaks */
	if (r == 0)
		r = fix_copied(q);
	/* 4. the new table, then the header */
	if (r == 0)
		r = snap_store(q, s, q->nb_snapshots + 1);
	return snap_fail(q, s, r, "creating", name, err);
}

int image_snapshot_create(const char *path, const char *name, struct error *err)
{
	struct qcow2 *q = snap_open(path, false, err);

	if (!q)
		return -err->code;
	int r = snap_create(q, name, err);
	snap_close(q);
	return r;
}

int image_snapshot_apply(const char *path, const char *name, struct error *err)
{
	struct qcow2 *q = snap_open(path, false, err);
	struct snap *s = NULL;
	uint64_t *l1 = NULL, *old = NULL, *be = NULL, size;
	int r, k;

	if (!q)
		return -err->code;
	error_clear(err); /* op_fail keeps a message set here */
	if (snap_load(q, &s, err) < 0)
		return op_fail(q, s, -err->code, "", name, err);
	k = find(s, q->nb_snapshots, name);
	if (k < 0)
		return error_set(err, ENOENT, "image %s: no snapshot named %s",
				 path, name),
		       op_fail(q, s, -ENOENT, "", name, err);
	size = s[k].extra_len >= 16 ? qcow2_be64(s[k].extra + 8) : q->size;
	if (size != q->size || s[k].l1_size > q->l1_size)
		return error_set(err, ENOTSUP,
				 "image %s: snapshot %s: its disk size (%llu "
				 "bytes) differs from the image's (%llu); "
				 "applying it is not supported",
				 path, name, (unsigned long long)size,
				 (unsigned long long)q->size),
		       op_fail(q, s, -ENOTSUP, "", name, err);
	r = read_l1(q, s[k].l1_offset, s[k].l1_size, &l1);
	/* 1. references for the snapshot's tables as the new active ones */
	if (r == 0)
		r = l1_refs(q, l1, s[k].l1_size, 1);
	if (r == 0)
		r = qcow2_sync(q);
	/* 2. the active L1 (in place: it is never shared) */
	old = malloc((uint64_t)q->l1_size * 8 + 8);
	be = calloc((uint64_t)q->l1_size + 1, 8);
	if (r == 0 && (!old || !be))
		r = -ENOMEM;
	if (r == 0) {
		memcpy(old, q->l1, (uint64_t)q->l1_size * 8);
		for (uint32_t i = 0; i < q->l1_size; i++) {
			q->l1[i] = i < s[k].l1_size
					   ? l1[i] & ~QCOW2_OFLAG_COPIED
					   : 0;
			qcow2_put64(&be[i], q->l1[i]);
		}
		r = qcow2_pwrite(q, be, (uint64_t)q->l1_size * 8, q->l1_offset);
	}
	if (r == 0)
		r = qcow2_sync(q);
	/* 3. drop the old active's references (crash before: leaks) */
	if (r == 0)
		r = l1_refs(q, old, q->l1_size, -1);
	if (r == 0)
		r = qcow2_sync(q);
	if (r == 0)
		r = fix_copied(q);
	free(l1);
	free(old);
	free(be);
	return op_fail(q, s, r, "applying", name, err);
}

/* Delete snapshot name of q (open for writing; nothing else uses it). */
static int snap_delete(struct qcow2 *q, const char *name, struct error *err)
{
	const char *path = q->name;
	struct snap *s = NULL, gone;
	uint64_t *l1 = NULL;
	int r, k;

	error_clear(err); /* snap_fail keeps a message set here */
	if (snap_load(q, &s, err) < 0)
		return snap_fail(q, s, -err->code, "", name, err);
	k = find(s, q->nb_snapshots, name);
	if (k < 0)
		return error_set(err, ENOENT, "image %s: no snapshot named %s",
				 path, name),
		       snap_fail(q, s, -ENOENT, "", name, err);
	gone = s[k];
	memmove(&s[k], &s[k + 1],
		(q->nb_snapshots - (uint32_t)k - 1) * sizeof(*s));
	/* 1. the table without it, then the header (crash after: leaks) */
	r = snap_store(q, s, q->nb_snapshots - 1);
	/* 2. its references, then its L1 copy */
	if (r == 0)
		r = read_l1(q, gone.l1_offset, gone.l1_size, &l1);
	if (r == 0)
		r = l1_refs(q, l1, gone.l1_size, -1);
	if (r == 0 && gone.l1_size)
		r = qcow2_refcount_add(q, gone.l1_offset >> q->cluster_bits,
				       clusters(q, (uint64_t)gone.l1_size * 8),
				       -1);
	if (r == 0)
		r = qcow2_sync(q);
	/* 3. clusters back to refcount 1 are written in place again */
	if (r == 0)
		r = fix_copied(q);
	free(l1);
	return snap_fail(q, s, r, "deleting", name, err);
}

int image_snapshot_delete(const char *path, const char *name, struct error *err)
{
	struct qcow2 *q = snap_open(path, false, err);

	if (!q)
		return -err->code;
	int r = snap_delete(q, name, err);
	snap_close(q);
	return r;
}

/* The image is open (a running VM's disk): its io lock held exclusive
 * keeps every guest request out while the tables change. The caller
 * (the machine) has also drained the device, so no request waits. */
static int open_op(struct blockdev *bd, const char *name, bool del,
		   struct error *err)
{
	if (strcmp(blockdev_format(bd), "qcow2"))
		return error_set(err, ENOTSUP,
				 "image %s: format %s has no internal "
				 "snapshots",
				 blockdev_path(bd), blockdev_format(bd));
	if (blockdev_readonly(bd))
		return error_set(err, EROFS,
				 "image %s: open read-only, no snapshot %s",
				 blockdev_path(bd), name);
	struct qcow2 *q = qcow2_of(bd);
	pthread_rwlock_wrlock(&q->io);
	int r = qcow2_sync(q);
	if (r < 0)
		error_set(err, -r, "image %s: flush before snapshot %s: %s",
			  q->name, name, strerror(-r));
	else
		r = del ? snap_delete(q, name, err) : snap_create(q, name, err);
	pthread_rwlock_unlock(&q->io);
	return r;
}

int blockdev_snapshot_create(struct blockdev *bd, const char *name,
			     struct error *err)
{
	return open_op(bd, name, false, err);
}

int blockdev_snapshot_delete(struct blockdev *bd, const char *name,
			     struct error *err)
{
	return open_op(bd, name, true, err);
}
