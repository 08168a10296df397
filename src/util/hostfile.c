/*
 * Host files of a sandboxed process: a short list of (path, access mode,
 * duplicate fd). See hostfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/hostfile.h"

/* A VM opens a handful of files: kernel, initrd, firmware, disks and
 * their backing chains. */
#define HOSTFILE_MAX 64

struct hostfile {
	char *path;
	int accmode; /* O_RDONLY or O_RDWR */
	int fd;
	bool added; /* hostfile_add's: stands for the path while recording */
};

static pthread_mutex_t hf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hostfile hf[HOSTFILE_MAX];
static unsigned hf_n;
static bool hf_recording, hf_sealed;

/* The entry for path whose mode covers accmode: the exact mode first,
 * else a read-write one for a read-only open. Under hf_lock. */
static struct hostfile *find(const char *path, int accmode)
{
	struct hostfile *rw = NULL;

	for (unsigned i = 0; i < hf_n; i++) {
		if (strcmp(hf[i].path, path))
			continue;
		if (hf[i].accmode == accmode)
			return &hf[i];
		if (hf[i].accmode == O_RDWR && accmode == O_RDONLY)
			rw = &hf[i];
	}
	return rw;
}

static int dup_at_start(int fd, int flags)
{
	int d = fcntl(fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);

	if (d >= 0)
		(void)lseek(d, 0, SEEK_SET);
	return d;
}

int hostfile_open(const char *path, int flags)
{
	int accmode = flags & O_ACCMODE;
	int fd, e;

	pthread_mutex_lock(&hf_lock);
	struct hostfile *f = find(path, accmode);

	/* sealed: only what was recorded; else an added file stands for its
	 * path (recording or plain) */
	if (hf_sealed || (f && f->added)) {
		fd = f ? dup_at_start(f->fd, flags) : -1;
		e = f ? errno : EACCES;
		pthread_mutex_unlock(&hf_lock);
		if (fd < 0)
			errno = e;
		return fd;
	}
	fd = open(path, flags);
	e = errno;
	if (fd >= 0 && hf_recording && !f && hf_n < HOSTFILE_MAX &&
	    (accmode == O_RDONLY || accmode == O_RDWR)) {
		char *p = strdup(path);
		int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		if (p && d >= 0) {
			hf[hf_n++] = (struct hostfile){ p, accmode, d };
		} else {
			free(p);
			if (d >= 0)
				close(d);
		}
	}
	pthread_mutex_unlock(&hf_lock);
	errno = e;
	return fd;
}

int hostfile_add(const char *path, int fd, int accmode)
{
	int r = 0;

	pthread_mutex_lock(&hf_lock);
	if (!find(path, accmode)) {
		char *p = strdup(path);
		int d = hf_n < HOSTFILE_MAX ? fcntl(fd, F_DUPFD_CLOEXEC, 0)
					    : -1;

		if (p && d >= 0) {
			hf[hf_n++] = (struct hostfile){ p, accmode, d, true };
		} else {
			r = -1;
			errno = hf_n >= HOSTFILE_MAX ? ENOSPC
				: !p		     ? ENOMEM
						     : errno;
			free(p);
			if (d >= 0)
				close(d);
		}
	}
	pthread_mutex_unlock(&hf_lock);
	return r;
}

int hostfile_stat(const char *path, struct stat *st)
{
	pthread_mutex_lock(&hf_lock);
	if (hf_sealed) {
		struct hostfile *f = find(path, O_RDONLY);
		int r = f ? fstat(f->fd, st) : -1;
		int e = f ? errno : EACCES;

		pthread_mutex_unlock(&hf_lock);
		errno = e;
		return r;
	}
	pthread_mutex_unlock(&hf_lock);
	return stat(path, st);
}

void hostfile_record(void)
{
	pthread_mutex_lock(&hf_lock);
	hf_recording = true;
	pthread_mutex_unlock(&hf_lock);
}

void hostfile_seal(void)
{
	pthread_mutex_lock(&hf_lock);
	hf_sealed = true;
	pthread_mutex_unlock(&hf_lock);
}

unsigned hostfile_count(void)
{
	pthread_mutex_lock(&hf_lock);
	unsigned n = hf_n;
	pthread_mutex_unlock(&hf_lock);
	return n;
}

void hostfile_reset(void)
{
	pthread_mutex_lock(&hf_lock);
	for (unsigned i = 0; i < hf_n; i++) {
		close(hf[i].fd);
		free(hf[i].path);
	}
	hf_n = 0;
	hf_recording = hf_sealed = false;
	pthread_mutex_unlock(&hf_lock);
}
