/* A scanner owner for unit tests whose harts (none) have always flushed:
 * gmem_share_step commits every step. */
#ifndef SV_TEST_SHARE_OWNER_H
#define SV_TEST_SHARE_OWNER_H

#include <stdbool.h>

#include "mem/gmem.h"

static inline void no_flush(void *opaque)
{
	(void)opaque;
}

static inline bool always_flushed(void *opaque)
{
	(void)opaque;
	return true;
}

#endif
