/* Worker thread pool for block I/O: see pool.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/pool.h"
#include "util/log.h"

struct block_pool {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or stop */
	pthread_cond_t idle; /* pending reached 0 */
	struct block_job *head, **tail;
	unsigned pending; /* queued + running */
	unsigned n_threads, n_idle, max_threads;
	bool stop;
	pthread_t *threads;
	char name[16];
};

static void *pool_worker(void *arg)
{
	struct block_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct block_job *job;

		while (!p->head && !p->stop) {
			p->n_idle++;
			pthread_cond_wait(&p->work, &p->lock);
			p->n_idle--;
		}
		if (!p->head)
			break; /* stop, and the queue is empty */
		job = p->head;
		p->head = job->next;
		if (!p->head)
			p->tail = &p->head;
		pthread_mutex_unlock(&p->lock);

		job->fn(job);

		pthread_mutex_lock(&p->lock);
		if (--p->pending == 0)
			pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct block_pool *block_pool_create(unsigned max_threads, const char *name,
				     struct error *err)
{
	struct block_pool *p = calloc(1, sizeof(*p));

	if (!p || max_threads == 0) {
		free(p);
		error_set(err, p ? EINVAL : ENOMEM,
			  "block pool: cannot create");
		return NULL;
	}
	p->threads = calloc(max_threads, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		error_set(err, ENOMEM, "block pool: out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->tail = &p->head;
	p->max_threads = max_threads;
	snprintf(p->name, sizeof(p->name), "blk-%s", name ? name : "io");
	return p;
}

void block_pool_submit(struct block_pool *p, struct block_job *job)
{
	pthread_mutex_lock(&p->lock);
	job->next = NULL;
	*p->tail = job;
	p->tail = &job->next;
	p->pending++;
	/* Start another worker if every existing one is busy. A failure to
	 * start one is harmless while at least one worker exists. */
	if (p->n_idle == 0 && p->n_threads < p->max_threads) {
		pthread_t t;
		int ret = pthread_create(&t, NULL, pool_worker, p);

		if (ret == 0) {
			pthread_setname_np(t, p->name);
			p->threads[p->n_threads++] = t;
		} else if (p->n_threads == 0) {
			/* No worker at all: run it here rather than hang. */
			log_error("block", "%s: cannot start a worker: %s",
				  p->name, strerror(ret));
			p->head = NULL;
			p->tail = &p->head;
			pthread_mutex_unlock(&p->lock);
			job->fn(job);
			pthread_mutex_lock(&p->lock);
			if (--p->pending == 0)
				pthread_cond_broadcast(&p->idle);
			pthread_mutex_unlock(&p->lock);
			return;
		}
	}
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

void block_pool_drain(struct block_pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->pending)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void block_pool_destroy(struct block_pool *p)
{
	if (!p)
		return;
	block_pool_drain(p);
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}
