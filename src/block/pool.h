/*
 * Asynchronous block I/O: a small pool of worker threads that run block
 * jobs (a request handler that calls the synchronous blockdev_* functions)
 * off the submitter's thread. See docs/block.md for why a thread pool and
 * not io_uring.
 *
 *   struct my_req { struct block_job job; ... };
 *   static void run(struct block_job *j) { ... blockdev_readv(...); ... }
 *   r->job.fn = run;
 *   block_pool_submit(pool, &r->job);
 *
 * Jobs start in submission order but run concurrently (up to max_threads
 * at once) and complete in any order. Workers are started on demand and
 * stay until block_pool_destroy().
 *
 * Thread safety: block_pool_submit() and block_pool_drain() may be called
 * from any thread, including from inside a job (submit only). The job memory
 * belongs to the submitter; the pool does not touch it after calling fn.
 */
#ifndef SV_BLOCK_POOL_H
#define SV_BLOCK_POOL_H

#include "util/error.h"

struct block_job {
	void (*fn)(struct block_job *job); /* runs on a worker thread */
	struct block_job *next;		   /* pool use */
};

struct block_pool;

/* A pool of at most max_threads (>= 1) workers; name shows in thread
 * names ("blk-NAME"). NULL on failure with a message in err. */
struct block_pool *block_pool_create(unsigned max_threads, const char *name,
				     struct error *err);

/* Queue a job; it runs on a worker as soon as one is free. */
void block_pool_submit(struct block_pool *pool, struct block_job *job);

/* Wait until every job submitted so far (and any they submit) finished. */
void block_pool_drain(struct block_pool *pool);

/* Drain, stop the workers and free the pool. NULL is a no-op. */
void block_pool_destroy(struct block_pool *pool);

#endif
