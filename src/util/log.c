/* Logging: see log.h. */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define LOG_MAX_OVERRIDES 32
#define LOG_SUBSYS_LEN	  24

struct log_override {
	char subsys[LOG_SUBSYS_LEN];
	enum log_level level;
};

static struct {
	enum log_level level;
	int n_overrides;
	struct log_override overrides[LOG_MAX_OVERRIDES];
	FILE *file;
} log_cfg = { .level = LOG_LVL_WARN };

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error", [LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",   [LOG_LVL_DEBUG] = "debug",
	[LOG_LVL_TRACE] = "trace",
};

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level >= ARRAY_SIZE(level_names))
		return "?";
	return level_names[level];
}

static int parse_level(const char *s, size_t len, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strlen(level_names[i]) == len &&
		    strncmp(level_names[i], s, len) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_configure(const char *spec, char *msg, size_t msg_len)
{
	enum log_level level = log_cfg.level;
	struct log_override ov[LOG_MAX_OVERRIDES];
	int n = 0;
	const char *p = spec;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);

		if (!eq) {
			if (parse_level(p, len, &level) < 0)
				goto bad;
		} else {
			size_t name_len = (size_t)(eq - p);
			if (name_len == 0 || name_len >= LOG_SUBSYS_LEN ||
			    n == LOG_MAX_OVERRIDES)
				goto bad;
			memcpy(ov[n].subsys, p, name_len);
			ov[n].subsys[name_len] = '\0';
			if (parse_level(eq + 1, len - name_len - 1,
					&ov[n].level) < 0)
				goto bad;
			n++;
		}
		p += len;
		if (*p == ',')
			p++;
		continue;
bad:
		snprintf(msg, msg_len,
			 "log spec '%.*s': expected LEVEL or SUBSYSTEM=LEVEL "
			 "with LEVEL one of error, warn, info, debug, trace",
			 (int)len, p);
		return -EINVAL;
	}
	log_cfg.level = level;
	memcpy(log_cfg.overrides, ov, sizeof(ov[0]) * (size_t)n);
	log_cfg.n_overrides = n;
	return 0;
}

void log_set_file(FILE *f)
{
	log_cfg.file = f;
}

bool log_enabled(enum log_level level, const char *subsys)
{
	for (int i = 0; i < log_cfg.n_overrides; i++)
		if (strcmp(log_cfg.overrides[i].subsys, subsys) == 0)
			return level <= log_cfg.overrides[i].level;
	return level <= log_cfg.level;
}

void log_msg(enum log_level level, const char *subsys, const char *fmt, ...)
{
	char buf[1024];
	int n;
	va_list ap;

	if (!log_enabled(level, subsys))
		return;
	n = snprintf(buf, sizeof(buf),
		     "softvisor: %s: %s: ", log_level_name(level), subsys);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	/* A raw-mode terminal needs the carriage return. */
	buf[n++] = '\n';
	FILE *f = log_cfg.file ? log_cfg.file : stderr;
	fwrite(buf, 1, (size_t)n, f);
	fflush(f);
}
