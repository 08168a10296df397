/*
 * The worker record's text format and files. See worker_record.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/worker_record.h"

#define MAGIC	  "softvisor-worker-record"
#define PID_LIMIT 4194304 /* the kernel's PID_MAX_LIMIT */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

static int check(const struct worker_record *r, struct error *err)
{
	if (r->vm_id < 1 || r->vm_id > (INT64_C(1) << 53))
		return error_set(err, EINVAL,
				 "worker record: vm_id %" PRId64
				 " out of range (1..2^53)",
				 r->vm_id);
	if (!name_ok(r->vm_name))
		return error_set(err, EINVAL,
				 "worker record: vm_name: expected 1..63 of "
				 "[A-Za-z0-9._-]");
	if (r->gen == 0)
		return error_set(err, EINVAL, "worker record: gen 0");
	if (r->pid < 2 || r->pid > PID_LIMIT)
		return error_set(err, EINVAL,
				 "worker record: pid %d out of range "
				 "(2..%d)",
				 (int)r->pid, PID_LIMIT);
	if (r->proto == 0 || r->proto > 0xffff)
		return error_set(err, EINVAL, "worker record: proto %u",
				 r->proto);
	return 0;
}

int worker_record_format(const struct worker_record *r, char *buf, size_t cap,
			 struct error *err)
{
	int rc = check(r, err);
	if (rc)
		return rc;
	int n = snprintf(buf, cap,
			 MAGIC
			 " %d\nvm_id %" PRId64 "\nvm_name %s\ngen %" PRIu32
			 "\npid %d\npid_start %" PRIu64 "\nproto %" PRIu32 "\n",
			 WORKER_RECORD_VERSION, r->vm_id, r->vm_name, r->gen,
			 (int)r->pid, r->pid_start, r->proto);
	if (n < 0 || (size_t)n >= cap)
		return error_set(err, ENOSPC,
				 "worker record: %zu bytes too "
				 "small",
				 cap);
	return n;
}

/* A decimal number of at most 20 digits, no sign, no leading zero (but
 * "0"), <= max. */
static bool number(const char *s, uint64_t max, uint64_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

enum { K_MAGIC, K_ID, K_NAME, K_GEN, K_PID, K_START, K_PROTO, K_N };

int worker_record_parse(const char *text, size_t len, struct worker_record *out,
			struct error *err)
{
	static const char *const keys[K_N] = { MAGIC,  "vm_id", "vm_name",
					       "gen",  "pid",	"pid_start",
					       "proto" };
	struct worker_record r = { 0 };
	bool seen[K_N] = { false };
	char line[128];
	size_t pos = 0;
	unsigned lineno = 0;

	if (len > WORKER_RECORD_MAX)
		return error_set(err, EINVAL,
				 "worker record: %zu bytes (at most %d)", len,
				 WORKER_RECORD_MAX);
	if (memchr(text, 0, len))
		return error_set(err, EINVAL, "worker record: a NUL byte");
	while (pos < len) {
		lineno++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		if (!nl)
			return error_set(err, EINVAL,
					 "worker record: line %u does not "
					 "end in a newline",
					 lineno);
		size_t n = (size_t)(nl - (text + pos));
		if (n >= sizeof(line))
			return error_set(err, EINVAL,
					 "worker record: line %u too long",
					 lineno);
		memcpy(line, text + pos, n);
		line[n] = 0;
		pos += n + 1;
		char *sp = strchr(line, ' ');
		if (!sp || sp == line || !sp[1] || strchr(sp + 1, ' '))
			return error_set(err, EINVAL,
					 "worker record: line %u: expected "
					 "\"key value\"",
					 lineno);
		*sp = 0;
		const char *val = sp + 1;
		unsigned k = 0;
		while (k < K_N && strcmp(line, keys[k]))
			k++;
		if (k == K_N)
			return error_set(err, EINVAL,
					 "worker record: line %u: unknown "
					 "key \"%.40s\"",
					 lineno, line);
		if ((k == K_MAGIC) != (lineno == 1))
			return error_set(err, EINVAL,
					 "worker record: line %u: the first "
					 "line must be \"" MAGIC " %d\"",
					 lineno, WORKER_RECORD_VERSION);
		if (seen[k])
			return error_set(err, EINVAL,
					 "worker record: line %u: %s twice",
					 lineno, keys[k]);
		seen[k] = true;
		uint64_t v = 0;
		bool ok = true;
		switch (k) {
		case K_MAGIC:
			ok = number(val, 1000, &v) &&
			     v == WORKER_RECORD_VERSION;
			break;
		case K_ID:
			ok = number(val, INT64_C(1) << 53, &v);
			r.vm_id = (int64_t)v;
			break;
		case K_NAME:
			ok = strlen(val) < sizeof(r.vm_name);
			if (ok)
				strcpy(r.vm_name, val);
			break;
		case K_GEN:
			ok = number(val, UINT32_MAX, &v);
			r.gen = (uint32_t)v;
			break;
		case K_PID:
			ok = number(val, PID_LIMIT, &v);
			r.pid = (pid_t)v;
			break;
		case K_START: ok = number(val, UINT64_MAX, &r.pid_start); break;
		case K_PROTO:
			ok = number(val, 0xffff, &v);
			r.proto = (uint32_t)v;
			break;
		}
		if (!ok)
			return error_set(err, EINVAL,
					 "worker record: line %u: bad %s "
					 "\"%.40s\"",
					 lineno, keys[k], val);
	}
	for (unsigned k = 0; k < K_N; k++)
		if (!seen[k])
			return error_set(err, EINVAL,
					 "worker record: no %s line", keys[k]);
	int rc = check(&r, err);
	if (rc)
		return rc;
	*out = r;
	return 0;
}

int worker_record_write(const char *path, const struct worker_record *r,
			struct error *err)
{
	char buf[WORKER_RECORD_MAX], tmp[4096];
	int n = worker_record_format(r, buf, sizeof(buf), err);
	if (n < 0)
		return n;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return error_set(err, ENAMETOOLONG, "%s: path too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, errno, "%s: %s", tmp, strerror(errno));
	int r2 = write(fd, buf, (size_t)n) == n && !fsync(fd) ? 0 : -errno;
	close(fd);
	if (!r2 && rename(tmp, path))
		r2 = -errno;
	if (r2) {
		unlink(tmp);
		return error_set(err, -r2, "%s: %s", path, strerror(-r2));
	}
	return 0;
}

int worker_record_read(const char *path, struct worker_record *out,
		       struct error *err)
{
	char buf[WORKER_RECORD_MAX + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return error_set(err, errno, "%s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf));
	int e = errno;
	close(fd);
	if (n < 0)
		return error_set(err, e, "%s: %s", path, strerror(e));
	int r = worker_record_parse(buf, (size_t)n, out, err);
	if (r) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		error_set(err, -r, "%s: %s", path, msg);
	}
	return r;
}

int worker_record_pid_start(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -EIO;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	/* the command may hold anything, spaces and ')' included: fields
	 * start after the last ')' (field 3 is the state) */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	p++;
	/* field 3, the state: a zombie (its parent has not reaped it) or a
	 * dead task is no process any more */
	while (*p == ' ')
		p++;
	if (*p == 'Z' || *p == 'X' || *p == 'x')
		return -ESRCH;
	/* field 22 is the 20th after the ')' */
	for (int f = 3; f <= 22; f++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EIO;
		if (f == 22) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(p, &end, 10);
			if (errno || end == p)
				return -EIO;
			*out = v;
			return 0;
		}
		while (*p && *p != ' ')
			p++;
	}
	return -EIO;
}
