/*
 * How a disk's data reads and writes reach the host (docs/block.md,
 * "Asynchronous I/O"): preadv/pwritev on the block pool's threads
 * ("threads"), or io_uring (liburing): each pool thread owns a small ring
 * and submits one vectored read or write at a time, waiting for its
 * completion ("io_uring"). "auto" takes io_uring when the kernel allows it
 * (io_uring_setup can fail: an old kernel, ENOSYS under a seccomp filter,
 * io_uring_disabled, a memlock limit) and threads otherwise.
 *
 * Thread safety: block_preadv/pwritev may be called from any thread; the
 * ring is per thread (freed when the thread exits).
 */
#ifndef SV_BLOCK_AIO_H
#define SV_BLOCK_AIO_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "util/error.h"

/* THREADS is 0: the default of a disk that names no aio= (io_uring's
 * synchronous one-request rings measured slower on buffered files: the
 * kernel punts buffered writes to its io-wq threads; docs/block.md). */
enum block_aio {
	BLOCK_AIO_THREADS = 0,
	BLOCK_AIO_AUTO,
	BLOCK_AIO_IO_URING,
};

/* "auto", "threads", "io_uring" -> mode; -EINVAL for anything else. */
int block_aio_parse(const char *s, enum block_aio *mode);

/* The name of a mode. */
const char *block_aio_name(enum block_aio mode);

/* True if io_uring can be set up in this process now (a ring is created
 * and destroyed; not cached, so a filter installed later is seen). */
bool block_aio_uring_available(void);

/* Resolve a requested mode: AUTO becomes IO_URING or THREADS; IO_URING
 * when io_uring is unavailable is -ENOSYS with a message. */
int block_aio_resolve(enum block_aio want, enum block_aio *got,
		      struct error *err);

/* preadv/pwritev with their semantics (bytes, or -1 with errno), through
 * the calling thread's ring when mode is IO_URING (falling back to the
 * syscall if this thread cannot get a ring). cnt <= IOV_MAX. */
ssize_t block_preadv(enum block_aio mode, int fd, const struct iovec *iov,
		     int cnt, off_t off);
ssize_t block_pwritev(enum block_aio mode, int fd, const struct iovec *iov,
		      int cnt, off_t off);

#endif
