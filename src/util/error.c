/* Error objects: see error.h. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int error_set(struct error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code <= 0)
		code = code < 0 ? -code : 1;
	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -code;
}

void error_prefix(struct error *err, const char *fmt, ...)
{
	char prefix[256];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* "prefix: old message", cut at the buffer's end if too long */
	size_t plen = strlen(prefix), cap = sizeof(err->msg) - 1;
	if (plen + 2 > cap)
		plen = cap - 2;
	size_t olen = strnlen(err->msg, cap);
	if (plen + 2 + olen > cap)
		olen = cap - plen - 2;
	memmove(err->msg + plen + 2, err->msg, olen);
	memcpy(err->msg, prefix, plen);
	err->msg[plen] = ':';
	err->msg[plen + 1] = ' ';
	err->msg[plen + 2 + olen] = '\0';
}

void error_clear(struct error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
