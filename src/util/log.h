/*
 * Logging with levels and per-subsystem overrides.
 *
 * A subsystem is a short string ("cpu", "virtio-blk", "sbi"). The level of a
 * subsystem is its override if one was configured, else the default level.
 * Configuration comes from log_configure() with a spec such as
 *   "info"                 default level
 *   "warn,cpu=debug,sbi=trace"
 * Messages go to stderr (or the file given to log_set_file) as one line each:
 *   softvisor: warn: cpu: ...
 *
 * Thread safety: log_msg() may be called from any thread; each message is a
 * single write. log_configure() must be called before other threads start.
 */
#ifndef SV_UTIL_LOG_H
#define SV_UTIL_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include "util/compiler.h"

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL_TRACE,
};

/* Parse a spec (see above). Returns 0, or -EINVAL with a message in msg. */
int log_configure(const char *spec, char *msg, size_t msg_len);

/* Send log lines to f (default stderr). f stays owned by the caller. */
void log_set_file(FILE *f);

/* True when messages of this level for this subsystem are printed. */
bool log_enabled(enum log_level level, const char *subsys);

/* Print one message if enabled. */
void log_msg(enum log_level level, const char *subsys, const char *fmt, ...)
	SV_PRINTF(3, 4);

/* Name of a level ("error", "warn", ...). */
const char *log_level_name(enum log_level level);

#define log_error(sub, ...) log_msg(LOG_LVL_ERROR, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_msg(LOG_LVL_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...)  log_msg(LOG_LVL_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...) log_msg(LOG_LVL_DEBUG, sub, __VA_ARGS__)
#define log_trace(sub, ...) log_msg(LOG_LVL_TRACE, sub, __VA_ARGS__)

#endif
