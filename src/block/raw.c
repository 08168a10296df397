/*
 * The raw format: the image file (or host block device) is the disk, byte
 * for byte. Reads and writes are preadv/pwritev at the same offset; flush is
 * fdatasync; discard punches a hole; write-zeroes uses FALLOC_FL_ZERO_RANGE
 * (or a hole when unmapping is allowed) and falls back to writing zeros on
 * file systems that support neither. See docs/block.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block_int.h"
#include "util/hostfile.h"
#include "util/log.h"

#define RAW_ZERO_CHUNK (64u << 10)

struct raw {
	struct blockdev bd; /* first: raw_of() */
	int fd;
	uint64_t size;
	/* Cleared at the first EOPNOTSUPP so later calls skip the syscall. */
	atomic_bool punch_ok;
	atomic_bool zero_range_ok;
};

static const char raw_zeros[RAW_ZERO_CHUNK];

static struct raw *raw_of(const struct blockdev *bd)
{
	return (struct raw *)bd;
}

/*
 * preadv/pwritev until every byte of iov is transferred. The iovecs are
 * copied in chunks of IOV_MAX so partial transfers can advance them. A read
 * that hits the end of the file (it shrank under us) zero-fills the rest.
 */
static int raw_rw(struct raw *r, const struct iovec *iov, int iovcnt,
		  uint64_t off, bool write)
{
	struct iovec v[IOV_MAX];

	while (iovcnt > 0) {
		int n = iovcnt < IOV_MAX ? iovcnt : IOV_MAX, i = 0;

		memcpy(v, iov, n * sizeof(v[0]));
		iov += n;
		iovcnt -= n;
		while (i < n) {
			ssize_t done;

			if (v[i].iov_len == 0) {
				i++;
				continue;
			}
			done = write ? block_pwritev(r->bd.aio, r->fd, v + i,
						     n - i, (off_t)off)
				     : block_preadv(r->bd.aio, r->fd, v + i,
						    n - i, (off_t)off);
			if (done < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (done == 0) {
				if (write)
					return -EIO;
				for (; i < n; i++)
					memset(v[i].iov_base, 0, v[i].iov_len);
				for (int j = 0; j < iovcnt; j++)
					memset(iov[j].iov_base, 0,
					       iov[j].iov_len);
				return 0;
			}
			off += (uint64_t)done;
			while (done > 0 && i < n) {
				size_t step = (size_t)done < v[i].iov_len
						      ? (size_t)done
						      : v[i].iov_len;
				v[i].iov_base = (char *)v[i].iov_base + step;
				v[i].iov_len -= step;
				done -= (ssize_t)step;
				if (v[i].iov_len == 0)
					i++;
			}
		}
	}
	return 0;
}

static int raw_readv(struct blockdev *bd, const struct iovec *iov, int iovcnt,
		     uint64_t off)
{
	return raw_rw(raw_of(bd), iov, iovcnt, off, false);
}

static int raw_writev(struct blockdev *bd, const struct iovec *iov, int iovcnt,
		      uint64_t off)
{
	return raw_rw(raw_of(bd), iov, iovcnt, off, true);
}

static int raw_flush(struct blockdev *bd)
{
	while (fdatasync(raw_of(bd)->fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static int raw_fallocate(struct raw *r, int mode, uint64_t off, uint64_t len)
{
	while (fallocate(r->fd, mode, (off_t)off, (off_t)len) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static bool unsupported(int ret)
{
	return ret == -EOPNOTSUPP || ret == -ENOSYS || ret == -EINVAL;
}

static int raw_punch(struct raw *r, uint64_t off, uint64_t len)
{
	int ret;

	if (!atomic_load(&r->punch_ok))
		return -EOPNOTSUPP;
	ret = raw_fallocate(r, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
			    len);
	if (unsupported(ret)) {
		atomic_store(&r->punch_ok, false);
		r->bd.can_unmap = false;
		return -EOPNOTSUPP;
	}
	return ret;
}

static int raw_discard(struct blockdev *bd, uint64_t off, uint64_t len)
{
	int ret = raw_punch(raw_of(bd), off, len);

	/* Discard is a hint: a file system without holes just keeps data. */
	return ret == -EOPNOTSUPP ? 0 : ret;
}

static int raw_write_zeroes(struct blockdev *bd, uint64_t off, uint64_t len,
			    bool may_unmap)
{
	struct raw *r = raw_of(bd);
	int ret = -EOPNOTSUPP;

	if (may_unmap)
		ret = raw_punch(r, off, len);
	if (ret == -EOPNOTSUPP && atomic_load(&r->zero_range_ok)) {
		ret = raw_fallocate(r,
				    FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
				    off, len);
		if (unsupported(ret)) {
			atomic_store(&r->zero_range_ok, false);
			ret = -EOPNOTSUPP;
		}
	}
	if (ret != -EOPNOTSUPP)
		return ret;
	/* Neither: write the zeros. */
	while (len > 0) {
		struct iovec v = {
			.iov_base = (void *)raw_zeros,
			.iov_len = len < RAW_ZERO_CHUNK ? len : RAW_ZERO_CHUNK,
		};
		ret = raw_rw(r, &v, 1, off, true);
		if (ret < 0)
			return ret;
		off += v.iov_len;
		len -= v.iov_len;
	}
	return 0;
}

static uint64_t raw_size(const struct blockdev *bd)
{
	return raw_of(bd)->size;
}

static int raw_resize(struct blockdev *bd, uint64_t size, struct error *err)
{
	struct raw *r = raw_of(bd);

	if (size < r->size)
		return error_set(err, ENOTSUP,
				 "disk %s: shrinking is not supported",
				 bd->path);
	if (ftruncate(r->fd, (off_t)size) < 0)
		return error_set(err, errno, "disk %s: resizing: %s", bd->path,
				 strerror(errno));
	r->size = size;
	return 0;
}

static void raw_close(struct blockdev *bd)
{
	struct raw *r = raw_of(bd);

	/* Closing the last descriptor of the open file releases the OFD
	 * lock. */
	close(r->fd);
	free(r);
}

static const struct blockdev_ops raw_ops = {
	.format = "raw",
	.readv = raw_readv,
	.writev = raw_writev,
	.flush = raw_flush,
	.discard = raw_discard,
	.write_zeroes = raw_write_zeroes,
	.size = raw_size,
	.close = raw_close,
	.resize = raw_resize,
};

struct blockdev *raw_open(const char *path, bool readonly, struct error *err)
{
	struct raw *r;
	struct stat st;
	int fd, ret;

	fd = hostfile_open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		error_set(err, e, "disk %s: %s%s", path, strerror(e),
			  e == EACCES || e == EROFS
				  ? " (use readonly=on for a read-only image)"
				  : "");
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		error_set(err, errno, "disk %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		error_set(err, EINVAL,
			  "disk %s: not a regular file or block device", path);
		goto fail;
	}
	ret = block_lock_file(fd, path, readonly, err);
	if (ret < 0)
		goto fail;

	r = calloc(1, sizeof(*r));
	if (!r) {
		error_set(err, ENOMEM, "disk %s: out of memory", path);
		goto fail;
	}
	r->fd = fd;
	r->bd.lock_fd = fd;
	r->bd.ops = &raw_ops;
	r->bd.can_unmap = true;
	atomic_init(&r->punch_ok, true);
	atomic_init(&r->zero_range_ok, true);
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes = 0;

		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
			error_set(err, errno, "disk %s: cannot get size: %s",
				  path, strerror(errno));
			free(r);
			goto fail;
		}
		r->size = bytes;
	} else {
		r->size = (uint64_t)st.st_size;
	}
	if (r->size % 512)
		log_warn("block",
			 "disk %s: size %llu is not a multiple of 512; the "
			 "last %llu bytes are not visible to the guest",
			 path, (unsigned long long)r->size,
			 (unsigned long long)(r->size % 512));
	return &r->bd;
fail:
	close(fd);
	return NULL;
}
