/*
 * Handing an image over between two processes: the source and the
 * destination of a live migration over shared storage (docs/vm-state.md,
 * "Disks on shared storage"). What QEMU calls inactivating and
 * activating a block device.
 *
 *   destination (build)   blockdev_open_incoming: read-only, no lock (the
 *                         source still writes the image); the files are
 *                         opened, so a sandbox keeps them, and the size
 *                         is known; no I/O goes through it
 *   source (paused)       blockdev_release: what the format kept back
 *                         written, synced, the lock dropped, I/O refused
 *   destination (go)      a fresh blockdev_open: the lock, and metadata
 *                         read now, after the source's last write (a
 *                         qcow2's L1/refcount tables are never stale)
 *   source (failure)      blockdev_reacquire: the lock again; nothing
 *                         else wrote meanwhile (the destination never ran)
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block_int.h"
#include "util/hostfile.h"

struct blockdev *blockdev_open_incoming(const char *path, const char *format,
					bool readonly, const char *key_secret,
					struct error *err)
{
	/* the switch-over opens it for writing, perhaps inside a sandbox
	 * that only reopens what was opened before (util/hostfile.h) */
	if (!readonly) {
		int fd = hostfile_open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			error_set(err, errno,
				  "disk %s: %s (an incoming VM's disks must "
				  "be reachable, writable, at the same path)",
				  path, strerror(errno));
			return NULL;
		}
		close(fd);
	}
	block_lock_skip = true;
	struct blockdev *bd = block_open_depth(path, format, true, 0,
					       key_secret, err);
	block_lock_skip = false;
	if (bd)
		bd->released = true;
	return bd;
}

int blockdev_identity(const struct blockdev *bd, struct blockdev_identity *id,
		      struct error *err)
{
	struct stat st;

	if (fstat(bd->lock_fd, &st) < 0)
		return error_set(err, errno, "disk %s: %s", bd->path,
				 strerror(errno));
	id->size = (uint64_t)st.st_size;
	id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		       st.st_mtim.tv_nsec;
	return 0;
}

int blockdev_release(struct blockdev *bd, struct blockdev_identity *id,
		     struct error *err)
{
	if (bd->released)
		return error_set(err, EINVAL, "disk %s: already released",
				 bd->path);
	if (!bd->readonly) {
		int r = bd->ops->release ? bd->ops->release(bd)
					 : bd->ops->flush(bd);
		if (r < 0)
			return error_set(err, -r,
					 "disk %s: writing back before the "
					 "hand-over: %s",
					 bd->path, strerror(-r));
	}
	int r = blockdev_identity(bd, id, err);
	if (r)
		return r;
	/* a reader keeps its shared lock: readers may share the image */
	if (!bd->readonly) {
		struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };
		if (fcntl(bd->lock_fd, F_OFD_SETLK, &fl) < 0)
			return error_set(err, errno,
					 "disk %s: cannot unlock: %s", bd->path,
					 strerror(errno));
	}
	bd->released = true;
	return 0;
}

int blockdev_reacquire(struct blockdev *bd, struct error *err)
{
	if (!bd->released)
		return 0;
	int r = block_lock_file(bd->lock_fd, bd->path, bd->readonly, err);
	if (r)
		return r;
	bd->released = false;
	return 0;
}

bool blockdev_released(const struct blockdev *bd)
{
	return bd->released;
}
