/*
 * The descriptor allow-list: a VM process keeps what it inherited only
 * when it was asked to (its console on 0..2, descriptors the parent passed
 * on purpose). Anything else a parent leaked (a daemon's listening socket,
 * a test harness's pipes, another VM's image) is closed before the process
 * opens its own files.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vmm/sandbox.h"

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Close [lo, hi]; close_range where the kernel has it (5.9). */
static int close_span(unsigned lo, unsigned hi)
{
	if (close_range(lo, hi, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	struct rlimit rl;
	unsigned top = hi;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top)
		top = (unsigned)rl.rlim_cur;
	for (unsigned fd = lo; fd <= top && fd < INT_MAX; fd++)
		(void)close((int)fd);
	return 0;
}

int sandbox_close_fds(const int *keep, unsigned n, struct error *err)
{
	int k[SANDBOX_MAX_KEEP + 3] = { 0, 1, 2 };
	unsigned nk = 3;

	if (n > SANDBOX_MAX_KEEP)
		return error_set(err, EINVAL,
				 "sandbox: %u descriptors to keep, at most %d",
				 n, SANDBOX_MAX_KEEP);
	for (unsigned i = 0; i < n; i++) {
		if (keep[i] < 0)
			return error_set(err, EBADF,
					 "sandbox: bad descriptor %d to keep",
					 keep[i]);
		k[nk++] = keep[i];
	}
	qsort(k, nk, sizeof(k[0]), cmp_int);
	unsigned lo = 0;
	for (unsigned i = 0; i < nk; i++) {
		unsigned fd = (unsigned)k[i];

		if (fd > lo) {
			int r = close_span(lo, fd - 1);
			if (r)
				return error_set(
					err, -r,
					"sandbox: closing descriptors: "
					"%s",
					strerror(-r));
		}
		if (fd + 1 > lo)
			lo = fd + 1;
	}
	int r = close_span(lo, ~0U);
	if (r)
		return error_set(err, -r, "sandbox: closing descriptors: %s",
				 strerror(-r));
	return 0;
}
