/*
 * A full copy of an image into a new qcow2 image (image.h, image_copy):
 * what a full clone of a VM's disk is. Reads through the source's backing
 * chain, so the copy stands alone; writes only 64 KiB pieces that are not
 * all zeros, so it is as thin as the data allows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "block/image.h"

#define COPY_CHUNK (1u << 20)
#define COPY_GRAIN (64u << 10)

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int image_copy(const char *src, const char *src_fmt, const char *dst,
	       void (*progress)(void *opaque, uint64_t done, uint64_t total),
	       void *opaque, struct error *err)
{
	return image_copy_secret(src, src_fmt, NULL, dst, NULL, 0, progress,
				 opaque, err);
}

int image_copy_secret(const char *src, const char *src_fmt, const char *src_key,
		      const char *dst, const char *dst_key, unsigned iter_ms,
		      void (*progress)(void *opaque, uint64_t done,
				       uint64_t total),
		      void *opaque, struct error *err)
{
	struct blockdev *in = NULL, *out = NULL;
	uint8_t *buf = NULL;
	int r;

	if (!src_fmt && !(src_fmt = blockdev_probe(src, err)))
		return -err->code;
	/* O_EXCL: a copy is a new file, never one that exists */
	int fd = open(dst, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return error_set(
			err, errno, "copy to %s: %s%s", dst, strerror(errno),
			errno == EEXIST ? " (a copy is a new file)" : "");
	close(fd);
	in = blockdev_open_secret(src, src_fmt, true, src_key, err);
	if (!in) {
		r = -err->code;
		goto out;
	}
	uint64_t size = blockdev_size(in);
	r = dst_key ? image_create_luks(dst, size, NULL, NULL, dst_key, iter_ms,
					err)
		    : image_create(dst, "qcow2", size, NULL, err);
	if (!r &&
	    !(out = blockdev_open_secret(dst, "qcow2", false, dst_key, err)))
		r = -err->code;
	if (!r && !(buf = malloc(COPY_CHUNK)))
		r = error_set(err, ENOMEM, "copy to %s: out of memory", dst);
	for (uint64_t off = 0; !r && off < size;) {
		size_t n = size - off < COPY_CHUNK ? (size_t)(size - off)
						   : COPY_CHUNK;
		struct iovec v = { buf, n };
		int e = blockdev_readv(in, &v, 1, off);
		for (size_t p = 0; !e && p < n; p += COPY_GRAIN) {
			size_t k = n - p < COPY_GRAIN ? n - p : COPY_GRAIN;
			struct iovec w = { buf + p, k };
			if (!all_zero(buf + p, k))
				e = blockdev_writev(out, &w, 1, off + p);
		}
		if (e)
			r = error_set(err, -e,
				      "copy %s -> %s at offset %llu: %s", src,
				      dst, (unsigned long long)off,
				      strerror(-e));
		off += n;
		if (!r && progress)
			progress(opaque, off, size);
	}
	if (!r && blockdev_flush(out) < 0)
		r = error_set(err, EIO, "copy to %s: flush failed", dst);
out:
	free(buf);
	blockdev_close(in);
	blockdev_close(out);
	if (r)
		unlink(dst);
	return r;
}
