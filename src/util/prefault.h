/*
 * Committing a mapping's pages ahead of use, a chunk at a time: one
 * madvise(MADV_POPULATE_WRITE / _READ) instead of a host page fault per
 * page, which costs tens of microseconds on a virtualized host. For
 * buffers filled from the bottom up (the block cache's arena, the code
 * cache): `*mark` is how far the mapping was committed, `need` the end of
 * what is about to be written. Hosts before Linux 5.14 refuse the advice
 * and fault as before.
 */
#ifndef SV_UTIL_PREFAULT_H
#define SV_UTIL_PREFAULT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define PREFAULT_CHUNK ((size_t)256 << 10)

static inline void prefault_ahead(void *base, size_t *mark, size_t need,
				  size_t limit, int advice)
{
	size_t to;

	if (need <= *mark)
		return;
	to = (need + PREFAULT_CHUNK - 1) & ~(PREFAULT_CHUNK - 1);
	if (to > limit)
		to = limit;
	(void)madvise((uint8_t *)base + *mark, to - *mark, advice);
	*mark = to;
}

#endif
