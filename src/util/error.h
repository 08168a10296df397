/*
 * Errors that must reach a user travel up as a struct error: an errno-style
 * code plus a message naming what was wrong and what would be right.
 *
 *   int disk_open(const char *path, struct error *err)
 *   {
 *       if (fd < 0)
 *           return error_set(err, errno, "disk %s: %s", path, strerror(errno));
 *   }
 *
 * error_set() returns the negative code so a failing path is one statement.
 * err may be NULL when the caller does not want the message.
 */
#ifndef SV_UTIL_ERROR_H
#define SV_UTIL_ERROR_H

#include <stddef.h>

#include "util/compiler.h"

struct error {
	int code; /* positive errno; 0 = no error */
	char msg[512];
};

/* Record code and message in err (if not NULL); return -code. */
int error_set(struct error *err, int code, const char *fmt, ...)
	SV_PRINTF(3, 4);

/* Prefix the existing message with "prefix: " (context from a caller). */
void error_prefix(struct error *err, const char *fmt, ...) SV_PRINTF(2, 3);

/* Reset to "no error". */
void error_clear(struct error *err);

#endif
