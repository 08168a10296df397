/* Format dispatch and the checks every format shares: see block.h. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "block/block_int.h"
#include "util/hostfile.h"

struct block_format {
	const char *name;
	struct blockdev *(*open)(const char *path, bool readonly, int depth,
				 const char *key_secret, struct error *err);
};

static struct blockdev *raw_open_depth(const char *path, bool readonly,
				       int depth, const char *key_secret,
				       struct error *err)
{
	(void)depth;
	if (key_secret) {
		error_set(err, EINVAL,
			  "disk %s: key-secret is only for encrypted qcow2 "
			  "images (this one is raw)",
			  path);
		return NULL;
	}
	return raw_open(path, readonly, err);
}

static const struct block_format formats[] = {
	{ "raw", raw_open_depth },
	{ "qcow2", qcow2_open },
};

struct blockdev *block_open_depth(const char *path, const char *format,
				  bool readonly, int depth,
				  const char *key_secret, struct error *err)
{
	const struct block_format *f = NULL;
	struct blockdev *bd;

	if (!format)
		format = "raw";
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(formats[i].name, format))
			f = &formats[i];
	if (!f) {
		error_set(err, EINVAL,
			  "disk %s: format '%s' is not supported (expected "
			  "raw or qcow2)",
			  path, format);
		return NULL;
	}
	if (!path || !*path) {
		error_set(err, EINVAL, "disk: empty image path");
		return NULL;
	}
	bd = f->open(path, readonly, depth, key_secret, err);
	if (!bd)
		return NULL;
	bd->path = strdup(path);
	if (!bd->path) {
		bd->ops->close(bd);
		error_set(err, ENOMEM, "disk %s: out of memory", path);
		return NULL;
	}
	bd->readonly = readonly;
	return bd;
}

struct blockdev *blockdev_open(const char *path, const char *format,
			       bool readonly, struct error *err)
{
	return block_open_depth(path, format, readonly, 0, NULL, err);
}

struct blockdev *blockdev_open_secret(const char *path, const char *format,
				      bool readonly, const char *key_secret,
				      struct error *err)
{
	return block_open_depth(path, format, readonly, 0, key_secret, err);
}

const char *blockdev_probe(const char *path, struct error *err)
{
	unsigned char m[4];
	ssize_t n;
	int fd = hostfile_open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		error_set(err, errno, "disk %s: %s", path, strerror(errno));
		return NULL;
	}
	n = pread(fd, m, sizeof(m), 0);
	close(fd);
	if (n == 4 && m[0] == 'Q' && m[1] == 'F' && m[2] == 'I' && m[3] == 0xfb)
		return "qcow2";
	return "raw";
}

int blockdev_resize(struct blockdev *bd, uint64_t size, struct error *err)
{
	if (bd->readonly)
		return error_set(err, EROFS, "disk %s: opened read-only",
				 bd->path);
	if (!bd->ops->resize)
		return error_set(err, ENOTSUP,
				 "disk %s: resizing %s images is not "
				 "supported",
				 bd->path, bd->ops->format);
	return bd->ops->resize(bd, size, err);
}

int blockdev_set_throttle(struct blockdev *bd,
			  const struct throttle_config *cfg,
			  const struct throttle_clock *clock, struct error *err)
{
	struct throttle_member *m = NULL;
	struct error e = { 0 };

	/* A group name alone joins the group (and its limits). */
	if (throttle_config_enabled(cfg) || cfg->group[0]) {
		m = throttle_member_new(cfg, clock, &e);
		if (!m)
			return error_set(err, e.code, "disk %s: %s", bd->path,
					 e.msg);
	}
	throttle_member_free(bd->throttle);
	bd->throttle = m;
	return 0;
}

/* The datastore cap: created by the first blockdev_set_cap() while I/O
 * may run, so published with a release store and read with an acquire
 * load; it lives until blockdev_close(). */
static struct throttle_member *blockdev_cap(struct blockdev *bd)
{
	return __atomic_load_n(&bd->cap, __ATOMIC_ACQUIRE);
}

int blockdev_set_cap(struct blockdev *bd, uint64_t iops, uint64_t bps)
{
	static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
	struct throttle_member *m = blockdev_cap(bd);

	if (!m) {
		struct throttle_config none = { 0 };
		struct error e = { 0 };

		if (!iops && !bps)
			return 0;
		pthread_mutex_lock(&create_lock);
		m = blockdev_cap(bd);
		if (!m) {
			m = throttle_member_new(&none, NULL, &e);
			if (m)
				__atomic_store_n(&bd->cap, m, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&create_lock);
		if (!m)
			return -ENOMEM;
	}
	return throttle_member_set_rate(m, iops, bps);
}

uint64_t blockdev_throttled_ns(const struct blockdev *bd)
{
	const struct throttle_member *cap = __atomic_load_n(&bd->cap,
							    __ATOMIC_ACQUIRE);
	uint64_t ns = 0;

	if (bd->throttle)
		ns += throttle_member_waited_ns(bd->throttle);
	if (cap)
		ns += throttle_member_waited_ns(cap);
	return ns;
}

int blockdev_set_aio(struct blockdev *bd, int mode, struct error *err)
{
	enum block_aio got;
	struct error e = { 0 };
	int r = block_aio_resolve((enum block_aio)mode, &got, &e);

	if (r < 0)
		return error_set(err, e.code, "disk %s: %s", bd->path, e.msg);
	bd->aio = got;
	return 0;
}

const char *blockdev_aio_name(const struct blockdev *bd)
{
	return block_aio_name(bd->aio == BLOCK_AIO_IO_URING
				      ? BLOCK_AIO_IO_URING
				      : BLOCK_AIO_THREADS);
}

void blockdev_close(struct blockdev *bd)
{
	char *path;

	if (!bd)
		return;
	throttle_member_free(bd->throttle);
	bd->throttle = NULL;
	throttle_member_free(bd->cap);
	bd->cap = NULL;
	block_dirty_free(atomic_exchange(&bd->dirty, NULL));
	path = bd->path;
	bd->ops->close(bd);
	free(path);
}

uint64_t blockdev_size(const struct blockdev *bd)
{
	return bd->ops->size(bd);
}

bool blockdev_readonly(const struct blockdev *bd)
{
	return bd->readonly;
}

const char *blockdev_path(const struct blockdev *bd)
{
	return bd->path;
}

const char *blockdev_format(const struct blockdev *bd)
{
	return bd->ops->format;
}

bool blockdev_can_unmap(const struct blockdev *bd)
{
	return bd->can_unmap && !bd->readonly;
}

/* After a write-type request completed (or failed: part of it may be
 * on the disk): a running mirror sends [off, off+len) again. */
static void mark_dirty(struct blockdev *bd, uint64_t off, uint64_t len)
{
	struct block_dirty *b = atomic_load_explicit(&bd->dirty,
						     memory_order_acquire);

	if (b)
		block_dirty_mark(b, off, len);
}

/* [off, off+len) inside the device, without overflow. */
static bool in_range(const struct blockdev *bd, uint64_t off, uint64_t len)
{
	uint64_t size = bd->ops->size(bd);

	return off <= size && len <= size - off;
}

static int iov_length(const struct iovec *iov, int iovcnt, uint64_t *len)
{
	uint64_t total = 0;

	if (iovcnt < 0)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	*len = total;
	return 0;
}

int blockdev_readv(struct blockdev *bd, const struct iovec *iov, int iovcnt,
		   uint64_t off)
{
	uint64_t len;

	if (iov_length(iov, iovcnt, &len) < 0 || !in_range(bd, off, len))
		return -EINVAL;
	if (bd->released) /* another process owns it (handover.c) */
		return -EIO;
	if (len == 0)
		return 0;
	throttle_member_io(bd->throttle, false, len);
	throttle_member_io(blockdev_cap(bd), false, len);
	return bd->ops->readv(bd, iov, iovcnt, off);
}

int blockdev_readv_unlimited(struct blockdev *bd, const struct iovec *iov,
			     int iovcnt, uint64_t off)
{
	uint64_t len;

	if (iov_length(iov, iovcnt, &len) < 0 || !in_range(bd, off, len))
		return -EINVAL;
	if (bd->released)
		return -EIO;
	if (len == 0)
		return 0;
	return bd->ops->readv(bd, iov, iovcnt, off);
}

int blockdev_writev(struct blockdev *bd, const struct iovec *iov, int iovcnt,
		    uint64_t off)
{
	uint64_t len;

	if (bd->readonly)
		return -EROFS;
	if (bd->released)
		return -EIO;
	if (iov_length(iov, iovcnt, &len) < 0 || !in_range(bd, off, len))
		return -EINVAL;
	if (len == 0)
		return 0;
	throttle_member_io(bd->throttle, true, len);
	throttle_member_io(blockdev_cap(bd), true, len);
	int r = bd->ops->writev(bd, iov, iovcnt, off);
	mark_dirty(bd, off, len);
	return r;
}

int blockdev_flush(struct blockdev *bd)
{
	/* Nothing was written through a read-only device. */
	if (bd->readonly)
		return 0;
	if (bd->released)
		return -EIO;
	return bd->ops->flush(bd);
}

int blockdev_discard(struct blockdev *bd, uint64_t off, uint64_t len)
{
	if (bd->readonly)
		return -EROFS;
	if (bd->released)
		return -EIO;
	if (!in_range(bd, off, len))
		return -EINVAL;
	if (len == 0)
		return 0;
	int r = bd->ops->discard(bd, off, len);
	mark_dirty(bd, off, len); /* reads of it may change */
	return r;
}

int blockdev_write_zeroes(struct blockdev *bd, uint64_t off, uint64_t len,
			  bool may_unmap)
{
	if (bd->readonly)
		return -EROFS;
	if (bd->released)
		return -EIO;
	if (!in_range(bd, off, len))
		return -EINVAL;
	if (len == 0)
		return 0;
	/* One write I/O: it moves no data through the host (docs/block.md,
	 * "I/O limits"). */
	throttle_member_io(bd->throttle, true, 0);
	throttle_member_io(blockdev_cap(bd), true, 0);
	int r = bd->ops->write_zeroes(bd, off, len, may_unmap);
	mark_dirty(bd, off, len);
	return r;
}

int blockdev_dirty_start(struct blockdev *bd, uint32_t granule)
{
	if (atomic_load(&bd->dirty))
		return -EBUSY;
	struct block_dirty *b = block_dirty_create(bd->ops->size(bd), granule);
	if (!b)
		return granule < 512 || (granule & (granule - 1)) ? -EINVAL
								  : -ENOMEM;
	atomic_store(&bd->dirty, b);
	return 0;
}

uint64_t blockdev_dirty_collect(struct blockdev *bd, uint64_t *out, size_t n)
{
	struct block_dirty *b = atomic_load(&bd->dirty);

	return b ? block_dirty_collect(b, out, n) : 0;
}

size_t blockdev_dirty_words(const struct blockdev *bd)
{
	struct block_dirty *b = atomic_load(&((struct blockdev *)bd)->dirty);

	return b ? block_dirty_words(b) : 0;
}

void blockdev_dirty_stop(struct blockdev *bd)
{
	block_dirty_free(atomic_exchange(&bd->dirty, NULL));
}
