/* Data I/O through preadv/pwritev or a per-thread io_uring: aio.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "block/aio.h"

#define RING_ENTRIES 4 /* one request in flight per thread */

int block_aio_parse(const char *s, enum block_aio *mode)
{
	if (!strcmp(s, "auto"))
		*mode = BLOCK_AIO_AUTO;
	else if (!strcmp(s, "threads"))
		*mode = BLOCK_AIO_THREADS;
	else if (!strcmp(s, "io_uring"))
		*mode = BLOCK_AIO_IO_URING;
	else
		return -EINVAL;
	return 0;
}

const char *block_aio_name(enum block_aio mode)
{
	switch (mode) {
	case BLOCK_AIO_THREADS: return "threads";
	case BLOCK_AIO_IO_URING: return "io_uring";
	case BLOCK_AIO_AUTO: return "auto";
	default: return "threads";
	}
}

bool block_aio_uring_available(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(RING_ENTRIES, &ring, 0) < 0)
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

int block_aio_resolve(enum block_aio want, enum block_aio *got,
		      struct error *err)
{
	struct io_uring ring;
	int r;

	if (want == BLOCK_AIO_THREADS) {
		*got = BLOCK_AIO_THREADS;
		return 0;
	}
	r = io_uring_queue_init(RING_ENTRIES, &ring, 0);
	if (r == 0) {
		io_uring_queue_exit(&ring);
		*got = BLOCK_AIO_IO_URING;
		return 0;
	}
	if (want == BLOCK_AIO_AUTO) {
		*got = BLOCK_AIO_THREADS;
		return 0;
	}
	return error_set(err, ENOSYS,
			 "aio=io_uring: io_uring is not available here "
			 "(io_uring_setup: %s); use aio=threads or aio=auto",
			 strerror(-r));
}

/* ---- the calling thread's ring -------------------------------------------- */

struct thread_ring {
	struct io_uring ring;
	int state; /* 0: not tried, 1: ready, -1: setup failed */
};

static __thread struct thread_ring tring;
static pthread_key_t ring_key;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

static void ring_destroy(void *p)
{
	struct thread_ring *t = p;

	if (t->state == 1)
		io_uring_queue_exit(&t->ring);
	t->state = 0;
}

static void ring_key_init(void)
{
	if (pthread_key_create(&ring_key, ring_destroy) != 0)
		abort();
}

static struct io_uring *thread_ring(void)
{
	if (tring.state == 0) {
		pthread_once(&ring_once, ring_key_init);
		if (io_uring_queue_init(RING_ENTRIES, &tring.ring, 0) == 0) {
			tring.state = 1;
			/* the destructor runs when the thread exits */
			pthread_setspecific(ring_key, &tring);
		} else {
			tring.state = -1;
		}
	}
	return tring.state == 1 ? &tring.ring : NULL;
}

/* One readv/writev through the ring: the result as preadv gives it. */
static ssize_t uring_rw(struct io_uring *ring, int fd, const struct iovec *iov,
			int cnt, off_t off, bool write)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int r, res;

	if (!sqe)
		return -2; /* cannot happen with one request in flight */
	if (write)
		io_uring_prep_writev(sqe, fd, iov, (unsigned)cnt, (__u64)off);
	else
		io_uring_prep_readv(sqe, fd, iov, (unsigned)cnt, (__u64)off);
	do
		r = io_uring_submit_and_wait(ring, 1);
	while (r == -EINTR);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	do
		r = io_uring_wait_cqe(ring, &cqe);
	while (r == -EINTR);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	if (res < 0) {
		errno = -res;
		return -1;
	}
	return res;
}

static ssize_t rw(enum block_aio mode, int fd, const struct iovec *iov, int cnt,
		  off_t off, bool write)
{
	struct io_uring *ring = mode == BLOCK_AIO_IO_URING ? thread_ring()
							   : NULL;

	if (ring) {
		ssize_t n = uring_rw(ring, fd, iov, cnt, off, write);

		if (n != -2)
			return n;
	}
	return write ? pwritev(fd, iov, cnt, off) : preadv(fd, iov, cnt, off);
}

ssize_t block_preadv(enum block_aio mode, int fd, const struct iovec *iov,
		     int cnt, off_t off)
{
	return rw(mode, fd, iov, cnt, off, false);
}

ssize_t block_pwritev(enum block_aio mode, int fd, const struct iovec *iov,
		      int cnt, off_t off)
{
	return rw(mode, fd, iov, cnt, off, true);
}
