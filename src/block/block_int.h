/*
 * Inside src/block: what a format driver implements. Not for use outside
 * src/block (and its unit tests).
 *
 * A format fills a struct blockdev (embedded first in its own state) in its
 * open function. blockdev.c checks read-only and ranges before calling the
 * ops, so ops see only valid, in-range requests on writable devices for the
 * write-type ops. Ops may run on several threads at once.
 */
#ifndef SV_BLOCK_BLOCK_INT_H
#define SV_BLOCK_BLOCK_INT_H

#include "block/block.h"
#include <stdatomic.h>

#include "block/aio.h"
#include "block/dirty.h"
#include "block/throttle.h"

struct blockdev_ops {
	const char *format; /* "raw" */
	int (*readv)(struct blockdev *bd, const struct iovec *iov, int iovcnt,
		     uint64_t off);
	int (*writev)(struct blockdev *bd, const struct iovec *iov, int iovcnt,
		      uint64_t off);
	int (*flush)(struct blockdev *bd);
	int (*discard)(struct blockdev *bd, uint64_t off, uint64_t len);
	int (*write_zeroes)(struct blockdev *bd, uint64_t off, uint64_t len,
			    bool may_unmap);
	uint64_t (*size)(const struct blockdev *bd);
	/* Grow the device to size bytes (NULL: not supported). */
	int (*resize)(struct blockdev *bd, uint64_t size, struct error *err);
	/* Release the format's state; blockdev.c frees path afterwards and
	 * the format frees the struct it allocated. */
	void (*close)(struct blockdev *bd);
	/* Write back whatever the format keeps for itself before another
	 * process takes the image over (qcow2: the clusters counted ahead),
	 * then sync; afterwards close() must write nothing. NULL: flush. */
	int (*release)(struct blockdev *bd);
};

struct blockdev {
	const struct blockdev_ops *ops;
	char *path; /* owned, set by blockdev_open */
	bool readonly;
	bool can_unmap;			  /* discard/unmap really deallocates */
	struct throttle_member *throttle; /* owned; NULL: no I/O limits */
	struct throttle_member *cap; /* owned; the datastore cap, NULL: none
				      * (blockdev_set_cap; atomic pointer) */
	enum block_aio aio; /* resolved: THREADS (0) or IO_URING, for the
			     * format's data I/O */
	int lock_fd;	    /* the descriptor the image lock is held on */
	bool released;	    /* blockdev_release(): no lock, no I/O */
	/* blockdev_dirty_start(): the write path marks it (dirty.h); NULL:
	 * no tracking */
	struct block_dirty *_Atomic dirty;
};

/* The raw format (raw.c). */
struct blockdev *raw_open(const char *path, bool readonly, struct error *err);

/* The qcow2 format (qcow2.c); depth is the position in a backing chain
 * (0 for the image a VM opens; -1: metadata only, for the image tools,
 * which may open an encrypted image without its key). key_secret: the
 * "file:PATH"/"env:NAME" spec of an encrypted image's passphrase, or
 * NULL. */
struct blockdev *qcow2_open(const char *path, bool readonly, int depth,
			    const char *key_secret, struct error *err);

/* blockdev_open() for a backing file at the given chain depth. */
struct blockdev *block_open_depth(const char *path, const char *format,
				  bool readonly, int depth,
				  const char *key_secret, struct error *err);

/*
 * Lock an open image file (lock.c): exclusive OFD lock for writers, shared
 * for readers, on the whole file. On conflict returns -EBUSY with a message
 * naming the holder if it can be found ("locked by process 1234
 * (softvisor)", "already open in this process").
 */
int block_lock_file(int fd, const char *path, bool readonly, struct error *err);

/* Set by blockdev_open_incoming() around its open on this thread:
 * block_lock_file() takes no lock (the source of a live migration still
 * holds it). */
extern _Thread_local bool block_lock_skip;

/* Find who holds a conflicting lock on the file open at fd: fills buf with
 * a description and returns its pid, or -1 (buf "another process or VM"). */
int block_lock_holder(int fd, char *buf, size_t len);

#endif
