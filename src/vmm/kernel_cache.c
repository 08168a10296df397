/*
 * The daemon's sealed copies of kernels (see kernel_cache.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "vmm/kernel_cache.h"

#define LOG   "kernel-cache"
#define CHUNK (1u << 20)

struct entry {
	char *path;
	struct stat st; /* of the file the copy was made from */
	int fd;		/* the sealed memfd, -1: free */
	uint64_t used;	/* LRU tick */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry cache[KERNEL_CACHE_MAX] = { [0 ... KERNEL_CACHE_MAX -
						 1] = { .fd = -1 } };
static uint64_t tick;
static unsigned long n_made, n_hits;

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void entry_free(struct entry *e)
{
	free(e->path);
	if (e->fd >= 0)
		close(e->fd);
	*e = (struct entry){ .fd = -1 };
}

/* A duplicate of the copy of path made from the file st describes, or -1
 * (lock held). A stale copy of path is dropped. */
static int lookup(const char *path, const struct stat *st)
{
	for (unsigned i = 0; i < KERNEL_CACHE_MAX; i++) {
		struct entry *e = &cache[i];

		if (e->fd < 0 || strcmp(e->path, path))
			continue;
		if (!same_file(&e->st, st)) {
			entry_free(e);
			return -1;
		}
		e->used = ++tick;
		return fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
	}
	return -1;
}

/* The least recently used copy, or NULL (lock held). */
static struct entry *oldest(void)
{
	struct entry *v = NULL;

	for (unsigned i = 0; i < KERNEL_CACHE_MAX; i++)
		if (cache[i].fd >= 0 && (!v || cache[i].used < v->used))
			v = &cache[i];
	return v;
}

static uint64_t bytes_kept(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < KERNEL_CACHE_MAX; i++)
		if (cache[i].fd >= 0)
			n += (uint64_t)cache[i].st.st_size;
	return n;
}

/* Keep fd as the copy of path (lock held): in place of a racing start's
 * copy of the same file, else in a free slot, the least recently used
 * copies going first until the bytes fit. */
static void insert(const char *path, const struct stat *st, int fd)
{
	struct entry *v = NULL;
	char *p = strdup(path);

	if (!p)
		return;
	for (unsigned i = 0; i < KERNEL_CACHE_MAX && !v; i++)
		if (cache[i].fd >= 0 && !strcmp(cache[i].path, path))
			v = &cache[i];
	if (v)
		entry_free(v);
	while (bytes_kept() + (uint64_t)st->st_size > KERNEL_CACHE_BYTES &&
	       oldest())
		entry_free(oldest());
	for (unsigned i = 0; i < KERNEL_CACHE_MAX && !v; i++)
		if (cache[i].fd < 0)
			v = &cache[i];
	if (!v)
		v = oldest();
	entry_free(v);
	v->path = p;
	v->st = *st;
	v->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	v->used = ++tick;
	if (v->fd < 0)
		entry_free(v);
}

/* Copy src (size bytes) into a new memfd and seal it; the memfd or
 * -errno. */
static int make_copy(int src, uint64_t size, const char *path,
		     struct error *err)
{
	int fd = memfd_create("softvisor-kernel",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint8_t *buf = malloc(CHUNK);
	uint64_t off = 0;
	int r = 0;

	if (fd < 0 || !buf) {
		r = error_set(err, fd < 0 ? errno : ENOMEM,
			      "kernel %s: no memory for a copy: %s", path,
			      strerror(fd < 0 ? errno : ENOMEM));
		goto out;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		r = error_set(err, errno, "kernel %s: a copy of %llu bytes: %s",
			      path, (unsigned long long)size, strerror(errno));
		goto out;
	}
	while (off < size) {
		size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		ssize_t n = pread(src, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = error_set(err, n < 0 ? errno : EAGAIN,
				      "kernel %s: read at %llu: %s", path,
				      (unsigned long long)off,
				      n < 0 ? strerror(errno)
					    : "the file got shorter");
			goto out;
		}
		for (ssize_t w = 0; w < n;) {
			ssize_t k = pwrite(fd, buf + w, (size_t)(n - w),
					   (off_t)(off + (uint64_t)w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				r = error_set(err, k < 0 ? errno : EIO,
					      "kernel %s: copy: %s", path,
					      strerror(k < 0 ? errno : EIO));
				goto out;
			}
			w += k;
		}
		off += (uint64_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS,
		  F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		r = error_set(err, errno, "kernel %s: sealing the copy: %s",
			      path, strerror(errno));
out:
	free(buf);
	if (r && fd >= 0)
		close(fd);
	return r ? r : fd;
}

int kernel_cache_get(const char *path, struct error *err)
{
	struct stat st, after;
	int src, fd;

	src = open(path, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return error_set(err, errno, "kernel %s: %s", path,
				 strerror(errno));
	if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > KERNEL_CACHE_FILE_MAX) {
		close(src);
		return error_set(
			err, EINVAL,
			"kernel %s: not a regular file of 1 byte to "
			"%llu MiB",
			path,
			(unsigned long long)(KERNEL_CACHE_FILE_MAX >> 20));
	}
	pthread_mutex_lock(&lock);
	fd = lookup(path, &st);
	if (fd >= 0)
		n_hits++;
	pthread_mutex_unlock(&lock);
	if (fd >= 0) {
		close(src);
		return fd;
	}
	/* outside the lock: other starts go on meanwhile */
	fd = make_copy(src, (uint64_t)st.st_size, path, err);
	if (fd >= 0 && (fstat(src, &after) < 0 || !same_file(&st, &after))) {
		close(fd);
		fd = error_set(err, EAGAIN, "kernel %s: changed while copied",
			       path);
	}
	close(src);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&lock);
	insert(path, &st, fd);
	n_made++;
	pthread_mutex_unlock(&lock);
	log_info(LOG, "%s: a sealed copy of %llu KiB for the VMs that boot it",
		 path, (unsigned long long)(st.st_size + 1023) / 1024);
	return fd;
}

void kernel_cache_counts(unsigned long *made, unsigned long *hits)
{
	pthread_mutex_lock(&lock);
	*made = n_made;
	*hits = n_hits;
	pthread_mutex_unlock(&lock);
}

void kernel_cache_clear(void)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < KERNEL_CACHE_MAX; i++)
		entry_free(&cache[i]);
	n_made = n_hits = 0;
	pthread_mutex_unlock(&lock);
}
