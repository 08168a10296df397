/*
 * Backing chains and external snapshots of closed images (image.h):
 * walking a chain (qemu-img info --backing-chain), an overlay on an image
 * (virsh snapshot-create --disk-only), committing an overlay into its
 * backing file (qemu-img commit, virsh blockcommit) and pulling the
 * backing chain into an overlay (virsh blockpull, QEMU block-stream).
 * docs/block.md "External snapshots".
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/image.h"
#include "block/qcow2_int.h"
#include "util/hostfile.h"

/* The backing file name of an image, resolved as the qcow2 driver does:
 * relative to the directory of the image naming it. */
static void resolve(const char *image, const char *name, char *out, size_t len)
{
	if (name[0] == '/') {
		snprintf(out, len, "%s", name);
		return;
	}
	char *dup = strdup(image);
	snprintf(out, len, "%s/%s", dup ? dirname(dup) : ".", name);
	free(dup);
}

int image_chain(const char *path, const char *fmt,
		struct image_chain_entry **out, unsigned *n, struct error *err)
{
	struct image_chain_entry *c = calloc(QCOW2_MAX_BACKING, sizeof(*c));
	char *real[QCOW2_MAX_BACKING] = { 0 };
	char cur[4096], curfmt[32];
	unsigned k = 0;
	int r = 0;

	if (!c)
		return error_set(err, ENOMEM, "out of memory");
	snprintf(cur, sizeof(cur), "%s", path);
	snprintf(curfmt, sizeof(curfmt), "%s", fmt ? fmt : "");
	for (;;) {
		struct image_chain_entry *e = &c[k];
		struct image_info in;
		struct stat st;

		if (stat(cur, &st) < 0) {
			if (k)
				r = error_set(err, errno,
					      "image %s: backing file %s: %s",
					      c[k - 1].path, cur,
					      strerror(errno));
			else
				r = error_set(err, errno, "image %s: %s", cur,
					      strerror(errno));
			break;
		}
		real[k] = realpath(cur, NULL);
		if (!real[k]) {
			r = error_set(err, errno, "image %s: %s", cur,
				      strerror(errno));
			break;
		}
		for (unsigned i = 0; i < k && !r; i++)
			if (!strcmp(real[i], real[k]))
				r = error_set(err, ELOOP,
					      "image %s: backing chain loop: "
					      "its backing file %s is %s, "
					      "already in the chain",
					      c[k - 1].path, cur, c[i].path);
		if (r)
			break;
		snprintf(e->path, sizeof(e->path), "%s", cur);
		if (!strcmp(curfmt, "raw")) {
			/* never parsed: a raw image's bytes are the guest's */
			snprintf(e->format, sizeof(e->format), "raw");
			e->virtual_size = (uint64_t)st.st_size;
			k++;
			break;
		}
		r = image_info(cur, &in, err);
		if (r)
			break;
		if (curfmt[0] && strcmp(curfmt, in.format)) {
			r = error_set(err, EINVAL,
				      "image %s: recorded as %s, but it is %s",
				      cur, curfmt, in.format);
			break;
		}
		snprintf(e->format, sizeof(e->format), "%s", in.format);
		e->virtual_size = in.virtual_size;
		e->encrypted = in.encrypted;
		e->snapshots = in.snapshots;
		k++;
		if (!in.backing[0])
			break;
		if (k == QCOW2_MAX_BACKING) {
			r = error_set(err, ELOOP,
				      "image %s: backing chain deeper than %d "
				      "images (its backing file %s is one too "
				      "many)",
				      path, QCOW2_MAX_BACKING, in.backing);
			break;
		}
		resolve(cur, in.backing, e->backing, sizeof(e->backing));
		snprintf(curfmt, sizeof(curfmt), "%s", in.backing_format);
		snprintf(cur, sizeof(cur), "%s", e->backing);
	}
	for (unsigned i = 0; i < QCOW2_MAX_BACKING; i++)
		free(real[i]);
	if (r) {
		free(c);
		return r;
	}
	*out = c;
	*n = k;
	return 0;
}

int image_snapshot_external(const char *path, const char *fmt,
			    const char *overlay, struct error *err)
{
	struct image_chain_entry *c;
	unsigned n;
	int r = image_chain(path, fmt, &c, &n, err);

	if (r)
		goto fail;
	for (unsigned i = 0; i < n && !r; i++)
		if (c[i].encrypted)
			r = error_set(err, ENOTSUP,
				      "image %s is encrypted: external "
				      "snapshots of encrypted images are not "
				      "supported yet (take an internal one)",
				      c[i].path);
	if (!r && n >= QCOW2_MAX_BACKING)
		r = error_set(err, ELOOP,
			      "image %s: its backing chain has %u images, an "
			      "overlay would exceed the limit of %d (commit "
			      "or pull first)",
			      path, n, QCOW2_MAX_BACKING);
	fmt = n ? c[0].format : fmt;
	if (!r)
		r = image_clone(path, fmt, overlay, err);
	free(c);
fail:
	if (r)
		error_prefix(err, "external snapshot of %s", path);
	return r;
}

/* Which guest bytes an overlay holds itself: for cluster gc, 0 (falls
 * through to the backing file), 1 (data here) or 2 (zeros here). */
static int layer_state(struct qcow2 *q, uint64_t e)
{
	(void)q;
	if (!(e & ~QCOW2_OFLAG_COPIED))
		return 0;
	if (!(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_OFLAG_ZERO) &&
	    q->version >= 3)
		return 2;
	return 1;
}

/* Call fn for every cluster the overlay q holds (state 1 or 2) or, with
 * holes, every cluster it does not (state 0). */
static int each_cluster(struct qcow2 *q, bool holes,
			int (*fn)(void *opaque, uint64_t off, uint64_t len,
				  int state),
			void *opaque,
			void (*progress)(void *opaque, uint64_t done,
					 uint64_t total),
			void *popaque)
{
	uint64_t clusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
	uint64_t *e = malloc(q->l2_entries * sizeof(*e));
	int r = 0;

	if (!e)
		return -ENOMEM;
	for (uint64_t gc = 0; gc < clusters && !r;) {
		uint64_t k = q->l2_entries - gc % q->l2_entries;
		if (k > clusters - gc)
			k = clusters - gc;
		pthread_rwlock_rdlock(&q->io);
		r = qcow2_l2_read(q, gc, e, (unsigned)k);
		pthread_rwlock_unlock(&q->io);
		for (uint64_t i = 0; i < k && !r; i++) {
			int s = layer_state(q, e[i]);
			uint64_t off = (gc + i) << q->cluster_bits;
			uint64_t len = q->size - off < q->cluster_size
					       ? q->size - off
					       : q->cluster_size;
			if ((s == 0) == holes)
				r = fn(opaque, off, len, s);
		}
		gc += k;
		if (!r && progress)
			progress(popaque,
				 gc >= clusters ? q->size
						: gc << q->cluster_bits,
				 q->size);
	}
	free(e);
	return r;
}

struct copy {
	struct blockdev *from, *to;
	uint8_t *buf;
};

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int commit_one(void *opaque, uint64_t off, uint64_t len, int state)
{
	struct copy *c = opaque;
	struct iovec v = { c->buf, len };
	int r;

	if (state == 2)
		return blockdev_write_zeroes(c->to, off, len, false);
	r = blockdev_readv(c->from, &v, 1, off);
	return r ? r : blockdev_writev(c->to, &v, 1, off);
}

int image_commit(const char *overlay,
		 void (*progress)(void *opaque, uint64_t done, uint64_t total),
		 void *opaque, struct error *err)
{
	struct image_chain_entry *c = NULL;
	struct blockdev *top = NULL, *base = NULL;
	struct copy cp = { 0 };
	unsigned n;
	int r = image_chain(overlay, "qcow2", &c, &n, err);

	if (!r && n < 2)
		r = error_set(err, EINVAL,
			      "image %s has no backing file: nothing to "
			      "commit into",
			      overlay);
	for (unsigned i = 0; !r && i < 2; i++)
		if (c[i].encrypted)
			r = error_set(err, ENOTSUP,
				      "image %s is encrypted: committing "
				      "encrypted images is not supported yet",
				      c[i].path);
	if (!r && c[0].virtual_size > c[1].virtual_size)
		r = error_set(err, EINVAL,
			      "image %s (%llu bytes) is larger than its "
			      "backing file %s (%llu bytes): resize the "
			      "backing file first",
			      overlay, (unsigned long long)c[0].virtual_size,
			      c[1].path, (unsigned long long)c[1].virtual_size);
	/* the overlay without its chain (its own clusters are all we
	 * read), so its backing file can be opened for writing */
	if (!r &&
	    !(top = block_open_depth(overlay, "qcow2", true, -1, NULL, err)))
		r = -err->code;
	if (!r && !(base = blockdev_open(c[1].path, c[1].format, false, err)))
		r = -err->code;
	if (!r && !(cp.buf = malloc(1u << QCOW2_MAX_CLUSTER)))
		r = error_set(err, ENOMEM, "out of memory");
	if (!r) {
		cp.from = top;
		cp.to = base;
		r = each_cluster(qcow2_of(top), false, commit_one, &cp,
				 progress, opaque);
		if (!r)
			r = blockdev_flush(base);
		if (r)
			error_set(err, -r, "writing %s: %s", c[1].path,
				  strerror(-r));
	}
	free(cp.buf);
	blockdev_close(top);
	blockdev_close(base);
	if (r)
		error_prefix(err, "commit of %s", overlay);
	free(c);
	return r;
}

static int pull_one(void *opaque, uint64_t off, uint64_t len, int state)
{
	struct copy *c = opaque;
	struct iovec v = { c->buf, len };
	int r;

	(void)state;
	r = blockdev_readv(c->from, &v, 1, off);
	if (r || all_zero(c->buf, len))
		return r;
	return blockdev_writev(c->to, &v, 1, off);
}

/* Point the header at another backing file (NULL: none): the backing
 * format extension and the name are rewritten after the other extensions,
 * in one write of the header's first bytes, then synced. */
static int set_backing(struct qcow2 *q, const char *backing, const char *fmt,
		       struct error *err)
{
	size_t hl = q->cluster_size < 65536 ? (size_t)q->cluster_size : 65536;
	uint8_t *in = calloc(1, hl), *out = calloc(1, hl);
	size_t pos = q->header_length, op = q->header_length, end;
	size_t blen = backing ? strlen(backing) : 0;
	size_t flen = fmt ? strlen(fmt) : 0;
	int r = 0;

	if (!in || !out) {
		r = error_set(err, ENOMEM, "out of memory");
		goto done;
	}
	if (q->version < 3 && backing) {
		r = error_set(err, ENOTSUP,
			      "image %s: a version 2 image: rebase it with "
			      "qemu-img",
			      q->name);
		goto done;
	}
	if (hl > q->file_size)
		hl = (size_t)q->file_size;
	r = qcow2_pread(q, in, hl, 0);
	if (r) {
		error_set(err, -r, "image %s: reading the header", q->name);
		goto done;
	}
	memcpy(out, in, q->header_length);
	while (q->version >= 3 && pos + 8 <= hl) {
		uint32_t type = qcow2_be32(in + pos);
		size_t len = qcow2_be32(in + pos + 4), step;

		if (type == QCOW2_EXT_END)
			break;
		step = 8 + ((len + 7) & ~(size_t)7);
		if (step > hl - pos) {
			r = error_set(err, EINVAL,
				      "image %s: header extension at %zu runs "
				      "past the header",
				      q->name, pos);
			goto done;
		}
		if (type != QCOW2_EXT_BACKING_FMT) {
			memcpy(out + op, in + pos, step);
			op += step;
		}
		pos += step;
	}
	end = pos + 8; /* the old extensions and their end marker */
	if (qcow2_be64(in + 8) + qcow2_be32(in + 16) > end)
		end = qcow2_be64(in + 8) + qcow2_be32(in + 16);
	if (backing && (blen > QCOW2_BACKING_MAX || flen > 16 ||
			op + 8 + 16 + 8 + blen > hl)) {
		r = error_set(err, EINVAL,
			      "image %s: backing file name %s does not fit in "
			      "the header",
			      q->name, backing);
		goto done;
	}
	if (backing && flen) {
		qcow2_put32(out + op, QCOW2_EXT_BACKING_FMT);
		qcow2_put32(out + op + 4, (uint32_t)flen);
		memcpy(out + op + 8, fmt, flen);
		op += 8 + ((flen + 7) & ~(size_t)7);
	}
	op += 8; /* end of extensions (zeros) */
	qcow2_put64(out + 8, backing ? op : 0);
	qcow2_put32(out + 16, (uint32_t)blen);
	memcpy(out + op, backing ? backing : "", blen);
	op += blen;
	if (op > end)
		end = op;
	if (end > hl)
		end = hl;
	r = qcow2_pwrite(q, out, end, 0);
	if (!r)
		r = qcow2_sync(q);
	if (r) {
		error_set(err, -r, "image %s: writing the header", q->name);
	} else {
		snprintf(q->backing_name, sizeof(q->backing_name), "%s",
			 backing ? backing : "");
		snprintf(q->backing_fmt, sizeof(q->backing_fmt), "%s",
			 backing && fmt ? fmt : "");
	}
done:
	free(in);
	free(out);
	return r;
}

int image_rebase_unsafe(const char *path, const char *backing,
			const char *backing_fmt, struct error *err)
{
	struct blockdev *bd;
	int r = 0;

	if (backing_fmt && strcmp(backing_fmt, "raw") &&
	    strcmp(backing_fmt, "qcow2"))
		return error_set(err, EINVAL,
				 "rebase of %s: backing format '%s' (expected "
				 "raw or qcow2)",
				 path, backing_fmt);
	if (backing) {
		char full[4096];
		struct stat st;
		resolve(path, backing, full, sizeof(full));
		if (stat(full, &st) < 0)
			return error_set(err, errno,
					 "rebase of %s: backing file %s: %s",
					 path, full, strerror(errno));
		if (!backing_fmt && !(backing_fmt = blockdev_probe(full, err)))
			return -err->code;
	}
	/* metadata only: the old chain stays closed */
	bd = block_open_depth(path, "qcow2", false, -1, NULL, err);
	if (!bd)
		return -err->code;
	r = set_backing(qcow2_of(bd), backing, backing_fmt, err);
	blockdev_close(bd);
	if (r)
		error_prefix(err, "rebase of %s", path);
	return r;
}

int image_pull(const char *overlay,
	       void (*progress)(void *opaque, uint64_t done, uint64_t total),
	       void *opaque, struct error *err)
{
	struct image_chain_entry *c = NULL;
	struct blockdev *bd = NULL;
	struct copy cp = { 0 };
	unsigned n;
	int r = image_chain(overlay, "qcow2", &c, &n, err);

	if (!r && n < 2)
		r = error_set(err, EINVAL,
			      "image %s has no backing file: nothing to pull",
			      overlay);
	for (unsigned i = 0; !r && i < n; i++)
		if (c[i].encrypted)
			r = error_set(err, ENOTSUP,
				      "image %s is encrypted: pulling into or "
				      "from encrypted images is not supported "
				      "yet",
				      c[i].path);
	if (!r && c[0].snapshots)
		r = error_set(err, EBUSY,
			      "image %s has %u internal snapshot(s), which "
			      "read through its backing file too: delete "
			      "them first",
			      overlay, c[0].snapshots);
	if (!r && !(bd = blockdev_open(overlay, "qcow2", false, err)))
		r = -err->code;
	if (!r && !(cp.buf = malloc(1u << QCOW2_MAX_CLUSTER)))
		r = error_set(err, ENOMEM, "out of memory");
	if (!r) {
		cp.from = cp.to = bd;
		r = each_cluster(qcow2_of(bd), true, pull_one, &cp, progress,
				 opaque);
		if (!r)
			r = blockdev_flush(bd);
		if (r)
			error_set(err, -r, "writing %s: %s", overlay,
				  strerror(-r));
	}
	/* every cluster is in the overlay and synced: now it may forget
	 * its backing file */
	if (!r)
		r = set_backing(qcow2_of(bd), NULL, NULL, err);
	free(cp.buf);
	blockdev_close(bd);
	if (r)
		error_prefix(err, "pull into %s", overlay);
	free(c);
	return r;
}

/* ---- external snapshots of open devices ------------------------------ */

static bool is_qcow2(const struct blockdev *bd)
{
	return !strcmp(blockdev_format(bd), "qcow2");
}

int blockdev_snapshot_external(struct blockdev *bd, const char *overlay,
			       struct blockdev **out, struct error *err)
{
	unsigned depth = 1;
	struct stat st;
	int fd, r;

	for (struct blockdev *b = bd; is_qcow2(b) && qcow2_of(b)->backing;
	     b = qcow2_of(b)->backing)
		depth++;
	if (depth >= QCOW2_MAX_BACKING)
		return error_set(err, ELOOP,
				 "disk %s: its backing chain has %u images, "
				 "an overlay would exceed the limit of %d",
				 bd->path, depth, QCOW2_MAX_BACKING);
	if (bd->readonly)
		return error_set(err, EROFS, "disk %s is read-only", bd->path);
	if (is_qcow2(bd) && qcow2_of(bd)->crypt_method)
		return error_set(err, ENOTSUP,
				 "disk %s is encrypted: external snapshots "
				 "of encrypted images are not supported yet",
				 bd->path);
	if (bd->path[0] != '/')
		return error_set(err, EINVAL,
				 "disk %s: an overlay needs its backing "
				 "file's absolute path",
				 bd->path);
	fd = hostfile_open(overlay, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "overlay %s: %s", overlay,
				 strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_size != 0) {
		close(fd);
		return error_set(err, EEXIST,
				 "overlay %s: not an empty new file", overlay);
	}
	r = blockdev_flush(bd);
	if (r < 0) {
		close(fd);
		return error_set(err, -r, "disk %s: flush: %s", bd->path,
				 strerror(-r));
	}
	r = qcow2_format_overlay(fd, overlay, blockdev_size(bd), bd->path,
				 blockdev_format(bd), err);
	close(fd);
	if (r < 0)
		return r;
	struct blockdev *ov = qcow2_open_over(overlay, bd, err);
	if (!ov)
		return -err->code;
	ov->path = strdup(overlay);
	if (!ov->path) {
		qcow2_of(ov)->backing = NULL;
		ov->ops->close(ov);
		return error_set(err, ENOMEM, "out of memory");
	}
	ov->readonly = false;
	ov->aio = bd->aio;
	ov->throttle = bd->throttle;
	bd->throttle = NULL;
	ov->cap = __atomic_exchange_n(&bd->cap, NULL, __ATOMIC_ACQ_REL);
	*out = ov;
	return 0;
}

struct blockdev *blockdev_snapshot_external_undo(struct blockdev *ov)
{
	struct qcow2 *q = qcow2_of(ov);
	struct blockdev *bd = q->backing;
	int fd = dup(q->fd);

	q->backing = NULL;
	bd->throttle = ov->throttle;
	ov->throttle = NULL;
	bd->cap = ov->cap;
	ov->cap = NULL;
	blockdev_close(ov);
	if (fd >= 0) { /* the daemon removes the file */
		if (ftruncate(fd, 0) < 0) {
			/* nothing names it: the daemon removes it anyway */
		}
		close(fd);
	}
	return bd;
}
