/*
 * Disk back ends: a block device is an image file seen through a format
 * driver (raw or qcow2) as a flat array of bytes.
 *
 *   struct blockdev *bd = blockdev_open("disk.img", "raw", false, &err);
 *   blockdev_readv(bd, iov, n, offset);
 *   blockdev_flush(bd);
 *   blockdev_close(bd);
 *
 * A format is a struct blockdev_ops (block_int.h) plus a probe-free open
 * function registered in blockdev.c; everything above src/block uses only
 * the functions below. The I/O functions are synchronous (they block the
 * calling thread): callers that must not block run them on a block_pool
 * (pool.h) thread. See docs/block.md.
 *
 * Ownership: blockdev_open() returns a device owned by the caller, freed
 * (and its image unlocked and closed) by blockdev_close().
 *
 * Thread safety: the I/O functions and blockdev_size() may be called from
 * any number of threads at once (formats lock what they share).
 * blockdev_close() must not race with any other call on the same device.
 *
 * Errors: I/O functions return 0 or a negative errno: -EROFS for a write to
 * a read-only device, -EINVAL for a range outside the device (checked here,
 * once, for every format), else the host's error (-EIO, -ENOSPC, ...).
 *
 * Locking: a writable open takes an exclusive OFD lock on the whole image, a
 * read-only open a shared one (fcntl F_OFD_SETLK), so no two VMs, in this
 * process or another, can open the same image for writing, nor read it while
 * it is written. The lock lives as long as the device.
 */
#ifndef SV_BLOCK_BLOCK_H
#define SV_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/error.h"

struct blockdev;

/* Open the image at path with a format ("raw" or "qcow2"; NULL means
 * raw: never probed here). readonly
 * opens O_RDONLY and refuses writes. Returns NULL with a message in err
 * (no such file, unknown format, locked by another VM, ...). */
struct blockdev *blockdev_open(const char *path, const char *format,
			       bool readonly, struct error *err);

/* The same for an image that may be encrypted (qcow2 with LUKS,
 * docs/block.md "Encryption"): key_secret is "file:PATH" or "env:NAME"
 * naming the passphrase (NULL: none). An encrypted image without a key, a
 * key for an unencrypted image, or a wrong passphrase fail with a message
 * (-EACCES for the passphrase). */
struct blockdev *blockdev_open_secret(const char *path, const char *format,
				      bool readonly, const char *key_secret,
				      struct error *err);

/* The format of the image at path from its contents: "qcow2" if it starts
 * with the qcow2 magic, else "raw"; NULL with err if it cannot be read.
 * Only for images whose format nobody stated: a raw image a guest wrote a
 * qcow2 header into probes as qcow2 (docs/block.md, "Probing"). */
const char *blockdev_probe(const char *path, struct error *err);

/* Grow the device to size bytes (qcow2: L1 grows; raw: the file). Not
 * while other threads use the device. 0 or -errno with err. */
int blockdev_resize(struct blockdev *bd, uint64_t size, struct error *err);

struct throttle_config;
struct throttle_clock;

/* Apply I/O limits (throttle.h) to every later read, write and
 * write-zeroes of the device: a request waits in its caller's thread until
 * the limits allow it. A config without limits removes them. clock NULL:
 * the host's monotonic clock. Not while other threads use the device.
 * 0 or -errno with err (bad limits, a group with other limits). */
int blockdev_set_throttle(struct blockdev *bd,
			  const struct throttle_config *cfg,
			  const struct throttle_clock *clock,
			  struct error *err);

/* Cap the device's IOPS and bytes per second (0: no cap in that
 * dimension) on top of its own limits: the daemon's share of a contended
 * datastore (docs/block.md, "Disk shares"). Unlike blockdev_set_throttle
 * this may be called while other threads do I/O; requests waiting on the
 * old cap are re-evaluated at once. 0 or -ENOMEM / -EINVAL. */
int blockdev_set_cap(struct blockdev *bd, uint64_t iops, uint64_t bps);

/* Nanoseconds the device's requests waited on its limits and its cap. */
uint64_t blockdev_throttled_ns(const struct blockdev *bd);

/* Choose how data reads and writes reach the host (aio.h): "auto",
 * "threads" or "io_uring" as an enum block_aio. AUTO takes io_uring when
 * io_uring_setup works here, else threads; IO_URING fails (-ENOSYS with a
 * message) when it does not. Not while other threads use the device. */
int blockdev_set_aio(struct blockdev *bd, int mode, struct error *err);

/* The resolved mode's name: "threads" or "io_uring". */
const char *blockdev_aio_name(const struct blockdev *bd);

/* Internal snapshots of an image that is open here (a running VM's qcow2
 * disk; image.h has the same for a closed image): create a snapshot named
 * name of the device's current state, or delete one. Every write that
 * completed before the call is in the snapshot: the caller must keep new
 * requests out and let those in flight finish first (the VM paused and
 * its disk drained: src/machine/virt_snap.c). -ENOTSUP for a raw image,
 * -EROFS read-only, -EEXIST / -ENOENT for the name, with err. */
int blockdev_snapshot_create(struct blockdev *bd, const char *name,
			     struct error *err);
int blockdev_snapshot_delete(struct blockdev *bd, const char *name,
			     struct error *err);

/* An external snapshot of an open device (a running VM's disk; image.h
 * has the same for a closed image, docs/block.md "External snapshots"):
 * the empty file at overlay (opened through hostfile_open; the daemon
 * made it) becomes a qcow2 image of bd's size whose backing file is bd's
 * path (absolute; format recorded), and is opened writable with bd itself
 * as its backing device: bd is never written again and belongs to *out
 * (closed with it), which takes over bd's limits, cap and aio mode. The
 * caller keeps requests out (as for blockdev_snapshot_create). On failure
 * bd is unchanged. -ELOOP past 8 images, -ENOTSUP encrypted, -EEXIST a
 * file that is not empty. */
int blockdev_snapshot_external(struct blockdev *bd, const char *overlay,
			       struct blockdev **out, struct error *err);
/* Undo it (all disks or none): close the overlay device, give back its
 * backing device (with the limits) and empty the overlay file. */
struct blockdev *blockdev_snapshot_external_undo(struct blockdev *ov);

/*
 * Live migration over shared storage (block/handover.c; docs/vm-state.md,
 * "Disks on shared storage"). The identity of an image file as the
 * source left it: a destination that sees another size or modification
 * time is not looking at the same file.
 */
struct blockdev_identity {
	uint64_t size;	  /* bytes of the file */
	int64_t mtime_ns; /* its modification time, ns since the epoch */
};
/* Open an image whose writer is another process that will hand it over:
 * read-only and without a lock (its size known, its files opened); no
 * I/O. A writable one is also opened for writing once, so that a
 * sandbox can reopen it so later. The real open replaces it. */
struct blockdev *blockdev_open_incoming(const char *path, const char *format,
					bool readonly, const char *key_secret,
					struct error *err);
/* Hand the image over (no request in flight): write back and sync what
 * the format keeps, note its identity, drop the write lock. From then on
 * every I/O fails with -EIO and close writes nothing. */
int blockdev_release(struct blockdev *bd, struct blockdev_identity *id,
		     struct error *err);
/* Take a released image back (the hand-over failed): its lock again. */
int blockdev_reacquire(struct blockdev *bd, struct error *err);
/* Released (or opened incoming): holds no write lock, does no I/O. */
bool blockdev_released(const struct blockdev *bd);
/* The identity of the open image file now. */
int blockdev_identity(const struct blockdev *bd, struct blockdev_identity *id,
		      struct error *err);

/*
 * Dirty tracking for a block mirror (docs/vm-state.md, "Disks copied with
 * the VM"; dirty.h): while on, every write, write-zeroes and discard marks
 * the granules it touched once it completed (whatever its result). Start
 * and stop only with no request in flight (the device quiesced or not
 * started); collect from any thread while requests run. start: 0, -EBUSY
 * (already on), -EINVAL (granule) or -ENOMEM.
 */
int blockdev_dirty_start(struct blockdev *bd, uint32_t granule);
/* A mirror's read: as blockdev_readv, but not held back by the device's
 * I/O limits or datastore cap (they are the guest's; QEMU's mirror job
 * reads below its throttle group too). */
int blockdev_readv_unlimited(struct blockdev *bd, const struct iovec *iov,
			     int iovcnt, uint64_t off);
/* Move the granules marked since the last collect into out (OR-ed;
 * n words of 64 granules); returns how many. 0 when tracking is off. */
uint64_t blockdev_dirty_collect(struct blockdev *bd, uint64_t *out, size_t n);
/* Words of the bitmap (0 when tracking is off). */
size_t blockdev_dirty_words(const struct blockdev *bd);
void blockdev_dirty_stop(struct blockdev *bd);

/* Unlock and close the image, free the device. NULL is a no-op. */
void blockdev_close(struct blockdev *bd);

/* Size of the device in bytes. */
uint64_t blockdev_size(const struct blockdev *bd);

/* True if opened read-only. */
bool blockdev_readonly(const struct blockdev *bd);

/* Path the device was opened with (for messages). */
const char *blockdev_path(const struct blockdev *bd);

/* Format name ("raw" or "qcow2"). */
const char *blockdev_format(const struct blockdev *bd);

/* True if discard and write-zeroes with unmap can deallocate space (the
 * host file system supports hole punching). */
bool blockdev_can_unmap(const struct blockdev *bd);

/* Read exactly the bytes the iovecs describe from offset off. */
int blockdev_readv(struct blockdev *bd, const struct iovec *iov, int iovcnt,
		   uint64_t off);

/* Write exactly the bytes the iovecs describe at offset off. */
int blockdev_writev(struct blockdev *bd, const struct iovec *iov, int iovcnt,
		    uint64_t off);

/* Make every completed write durable (fdatasync for raw). */
int blockdev_flush(struct blockdev *bd);

/* Hint that [off, off+len) is unused: its space may be deallocated and
 * reads of it return unspecified data (zeros for raw on Linux). */
int blockdev_discard(struct blockdev *bd, uint64_t off, uint64_t len);

/* Make [off, off+len) read as zeros. With may_unmap the space may be
 * deallocated (a hole) instead of written. */
int blockdev_write_zeroes(struct blockdev *bd, uint64_t off, uint64_t len,
			  bool may_unmap);

#endif
