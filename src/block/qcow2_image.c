/*
 * Image tools (image.h): create raw and qcow2 images, describe them, check
 * a qcow2 image's refcounts against its references (as qemu-img check).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/image.h"
#include "block/qcow2_int.h"

/* ---- create -------------------------------------------------------------- */

/* Layout of a new qcow2 image: header (cluster 0), refcount table (1),
 * one refcount block (2), L1 table (3...), then the LUKS area of an
 * encrypted image (as QEMU lays it out). Every one counted once. */
static int qcow2_write_new(int fd, const char *path, uint64_t size,
			   const char *backing, const char *backing_fmt,
			   const uint8_t *luks, uint64_t luks_len,
			   struct error *err)
{
	const unsigned cb = QCOW2_DEF_CLUSTER;
	const uint64_t cs = 1ull << cb, per_l1 = (cs / 8) << cb;
	uint64_t l1_size = (size + per_l1 - 1) / per_l1, l1c, n, lc;
	uint8_t *img;
	size_t pos = QCOW2_HDR_V3_LEN, blen = backing ? strlen(backing) : 0;
	ssize_t w;

	if (l1_size == 0)
		l1_size = 1;
	l1c = (l1_size * 8 + cs - 1) / cs;
	lc = (luks_len + cs - 1) / cs;
	n = 3 + l1c + lc;
	if (size > (1ull << 56) || n > cs * 8 / 16)
		return error_set(err, EINVAL, "image %s: size %llu too large",
				 path, (unsigned long long)size);
	if (blen > QCOW2_BACKING_MAX)
		return error_set(err, EINVAL,
				 "image %s: backing file name longer than %d "
				 "bytes",
				 path, QCOW2_BACKING_MAX);
	img = calloc(n, cs);
	if (!img)
		return error_set(err, ENOMEM, "image %s: out of memory", path);
	qcow2_put32(img, QCOW2_MAGIC);
	qcow2_put32(img + 4, 3);
	qcow2_put32(img + 20, cb);
	qcow2_put64(img + 24, size);
	qcow2_put32(img + 36, (uint32_t)l1_size);
	qcow2_put64(img + 40, 3 * cs);
	qcow2_put64(img + 48, cs);
	qcow2_put32(img + 56, 1);
	qcow2_put32(img + 96, 4); /* 16-bit refcounts */
	qcow2_put32(img + 100, QCOW2_HDR_V3_LEN);
	if (luks) {
		qcow2_put32(img + 32, QCOW2_CRYPT_LUKS);
		qcow2_put32(img + pos, QCOW2_EXT_CRYPTO);
		qcow2_put32(img + pos + 4, 16);
		qcow2_put64(img + pos + 8, (3 + l1c) * cs);
		qcow2_put64(img + pos + 16, luks_len);
		pos += 24;
		memcpy(img + (3 + l1c) * cs, luks, luks_len);
	}
	if (backing) {
		size_t fl = strlen(backing_fmt);

		qcow2_put32(img + pos, QCOW2_EXT_BACKING_FMT);
		qcow2_put32(img + pos + 4, (uint32_t)fl);
		memcpy(img + pos + 8, backing_fmt, fl);
		pos += 8 + ((fl + 7) & ~(size_t)7);
	}
	pos += 8; /* end of extensions */
	if (backing) {
		memcpy(img + pos, backing, blen);
		qcow2_put64(img + 8, pos);
		qcow2_put32(img + 16, (uint32_t)blen);
	}
	qcow2_put64(img + cs, 2 * cs); /* refcount table -> block */
	for (uint64_t i = 0; i < n; i++)
		img[2 * cs + i * 2 + 1] = 1;
	w = pwrite(fd, img, n * cs, 0);
	free(img);
	if (w != (ssize_t)(n * cs) || fsync(fd) < 0)
		return error_set(err, w < 0 ? errno : EIO,
				 "image %s: writing: %s", path,
				 strerror(w < 0 ? errno : EIO));
	return 0;
}

int qcow2_format_overlay(int fd, const char *path, uint64_t size,
			 const char *backing, const char *backing_fmt,
			 struct error *err)
{
	return qcow2_write_new(fd, path, size, backing, backing_fmt, NULL, 0,
			       err);
}

int image_create(const char *path, const char *format, uint64_t size,
		 const char *backing, struct error *err)
{
	return image_create_backing(path, format, size, backing, NULL, err);
}

static int create(const char *path, const char *format, uint64_t size,
		  const char *backing, const char *backing_fmt,
		  const char *key_secret, unsigned iter_ms, struct error *err);

int image_create_backing(const char *path, const char *format, uint64_t size,
			 const char *backing, const char *backing_fmt,
			 struct error *err)
{
	return create(path, format, size, backing, backing_fmt, NULL, 0, err);
}

int image_create_luks(const char *path, uint64_t size, const char *backing,
		      const char *backing_fmt, const char *key_secret,
		      unsigned iter_ms, struct error *err)
{
	return create(path, "qcow2", size, backing, backing_fmt, key_secret,
		      iter_ms ? iter_ms : 2000, err);
}

static int create(const char *path, const char *format, uint64_t size,
		  const char *backing, const char *backing_fmt,
		  const char *key_secret, unsigned iter_ms, struct error *err)
{
	const char *bfmt = backing_fmt;
	uint8_t *luks = NULL;
	uint64_t luks_len = 0;
	int fd, r;

	if (strcmp(format, "raw") && strcmp(format, "qcow2"))
		return error_set(err, EINVAL,
				 "image %s: unknown format '%s' (expected raw "
				 "or qcow2)",
				 path, format);
	if (backing && strcmp(format, "qcow2"))
		return error_set(err, EINVAL,
				 "image %s: a backing file needs format qcow2",
				 path);
	if (backing) {
		char full[4096];
		struct blockdev *b;

		if (backing[0] == '/') {
			snprintf(full, sizeof(full), "%s", backing);
		} else {
			const char *slash = strrchr(path, '/');

			snprintf(full, sizeof(full), "%.*s%s",
				 slash ? (int)(slash - path + 1) : 0, path,
				 backing);
		}
		if (bfmt && strcmp(bfmt, "raw") && strcmp(bfmt, "qcow2"))
			return error_set(err, EINVAL,
					 "image %s: backing file %s: unknown "
					 "format '%s' (expected raw or qcow2)",
					 path, backing, bfmt);
		if (!bfmt)
			bfmt = blockdev_probe(full, err);
		if (!bfmt)
			return -err->code;
		/* its metadata only (the size): an encrypted backing file
		 * opens without its key */
		b = block_open_depth(full, bfmt, true, -1, NULL, err);
		if (!b)
			return -err->code;
		if (!size)
			size = blockdev_size(b);
		blockdev_close(b);
	}
	/* the key first: a bad secret leaves no file behind */
	if (key_secret) {
		r = qcow2_crypt_new_area(key_secret, iter_ms, &luks, &luks_len,
					 err);
		if (r < 0) {
			error_prefix(err, "image %s", path);
			return r;
		}
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(luks);
		return error_set(err, errno, "image %s: %s", path,
				 strerror(errno));
	}
	/* lock before truncating: never clobber an image a VM has open */
	r = block_lock_file(fd, path, false, err);
	if (r == 0 && ftruncate(fd, 0) < 0)
		r = error_set(err, errno, "image %s: %s", path,
			      strerror(errno));
	if (r == 0 && !strcmp(format, "raw") && ftruncate(fd, (off_t)size) < 0)
		r = error_set(err, errno, "image %s: %s", path,
			      strerror(errno));
	if (r == 0 && !strcmp(format, "qcow2"))
		r = qcow2_write_new(fd, path, size, backing, bfmt, luks,
				    luks_len, err);
	close(fd);
	free(luks);
	return r;
}

/* ---- linked clone ------------------------------------------------------- */

static int clone_impl(const char *template, const char *template_fmt,
		      const char *path, const char *key_secret,
		      unsigned iter_ms, struct error *err);

int image_clone(const char *template, const char *template_fmt,
		const char *path, struct error *err)
{
	return clone_impl(template, template_fmt, path, NULL, 0, err);
}

int image_clone_luks(const char *template, const char *template_fmt,
		     const char *path, const char *key_secret, unsigned iter_ms,
		     struct error *err)
{
	struct blockdev *t;

	if (!key_secret)
		return error_set(err, EINVAL, "clone %s: no key-secret", path);
	/* the template must open with this key: the clone reads it so */
	t = blockdev_open_secret(template,
				 template_fmt ? template_fmt : "qcow2", true,
				 key_secret, err);
	if (!t) {
		error_prefix(err, "linked clone of %s", template);
		return -err->code;
	}
	blockdev_close(t);
	return clone_impl(template, template_fmt, path, key_secret, iter_ms,
			  err);
}

static int clone_impl(const char *template, const char *template_fmt,
		      const char *path, const char *key_secret,
		      unsigned iter_ms, struct error *err)
{
	char *abs = realpath(template, NULL);
	struct stat st;
	int fd, r;

	if (!abs)
		return error_set(err, errno, "clone %s: template %s: %s", path,
				 template, strerror(errno));
	if (stat(abs, &st) < 0 || !S_ISREG(st.st_mode)) {
		free(abs);
		return error_set(err, EINVAL,
				 "clone %s: template %s is not a regular file",
				 path, template);
	}
	/* O_EXCL: never clobber a file (or the template itself) */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = error_set(
			err, errno, "clone %s: %s%s", path, strerror(errno),
			errno == EEXIST ? " (a clone is a new file)" : "");
		free(abs);
		return r;
	}
	close(fd);
	r = key_secret ? image_create_luks(path, 0, abs, template_fmt,
					   key_secret, iter_ms, err)
		       : image_create_backing(path, "qcow2", 0, abs,
					      template_fmt, err);
	if (r < 0) {
		unlink(path);
		error_prefix(err, "linked clone of %s", template);
	}
	free(abs);
	return r;
}

/* ---- info ------------------------------------------------------------- */

int image_info_unlocked(const char *path, struct image_info *info,
			struct error *err)
{
	block_lock_skip = true;
	int r = image_info(path, info, err);
	block_lock_skip = false;
	return r;
}

int image_info(const char *path, struct image_info *info, struct error *err)
{
	const char *fmt = blockdev_probe(path, err);
	struct qcow2 *q;
	struct stat st;

	memset(info, 0, sizeof(*info));
	if (!fmt)
		return -err->code;
	if (stat(path, &st) < 0)
		return error_set(err, errno, "image %s: %s", path,
				 strerror(errno));
	info->disk_size = (uint64_t)st.st_blocks * 512;
	snprintf(info->format, sizeof(info->format), "%s", fmt);
	if (!strcmp(fmt, "raw")) {
		struct blockdev *bd = blockdev_open(path, "raw", true, err);

		if (!bd)
			return -err->code;
		info->virtual_size = blockdev_size(bd);
		blockdev_close(bd);
		return 0;
	}
	/* depth at the limit: read the header without opening the chain */
	q = (struct qcow2 *)qcow2_open(path, true, -1, NULL, err);
	if (!q)
		return -err->code;
	info->virtual_size = q->size;
	info->version = q->version;
	info->cluster_size = q->cluster_size;
	info->refcount_bits = 1u << q->refcount_order;
	info->snapshots = q->nb_snapshots;
	info->dirty = q->incompat & QCOW2_INCOMPAT_DIRTY;
	info->corrupt = q->incompat & QCOW2_INCOMPAT_CORRUPT;
	info->encrypted = q->crypt_method == QCOW2_CRYPT_LUKS;
	snprintf(info->backing, sizeof(info->backing), "%s", q->backing_name);
	snprintf(info->backing_format, sizeof(info->backing_format), "%s",
		 q->backing_fmt);
	q->bd.path = NULL;
	q->bd.ops->close(&q->bd);
	return 0;
}
