/* The VM state file's framing (docs/vm-state.md). */
#include "util/state_io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define SECT_TAG 0x54434553u /* "SECT" */
#define END_NAME "end"

/* ---- little-endian helpers ---------------------------------------------- */

static void le_put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0, or -EIO at end of file before len bytes, or -errno. */
static int read_all(int fd, void *p, size_t len, size_t *got)
{
	uint8_t *b = p;
	*got = 0;
	while (*got < len) {
		ssize_t n = read(fd, b + *got, len - *got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		*got += (size_t)n;
	}
	return 0;
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > STATE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* ---- writer --------------------------------------------------------------- */

int state_writer_open(struct state_writer *w, int fd, struct error *err)
{
	uint8_t hdr[16] = { 0 };

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	memcpy(hdr, STATE_MAGIC, sizeof(STATE_MAGIC));
	le_put(hdr + 8, STATE_FORMAT_VERSION, 4);
	int r = write_all(fd, hdr, sizeof(hdr));
	if (r)
		return error_set(err, -r, "writing the state header: %s",
				 strerror(-r));
	w->bytes = sizeof(hdr);
	return 0;
}

static void reserve(struct state_writer *w, size_t more)
{
	if (w->err)
		return;
	if (!w->open) {
		w->err = EINVAL;
		return;
	}
	if (w->len + more > STATE_SECTION_MAX) {
		w->err = EFBIG;
		return;
	}
	if (w->len + more <= w->cap)
		return;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap < w->len + more)
		cap *= 2;
	uint8_t *b = realloc(w->buf, cap);
	if (!b) {
		w->err = ENOMEM;
		return;
	}
	w->buf = b;
	w->cap = cap;
}

void state_begin(struct state_writer *w, const char *name, uint32_t instance,
		 uint32_t version)
{
	if (w->open && !w->err)
		w->err = EINVAL; /* previous section not ended */
	if (!name_ok(name) && !w->err)
		w->err = EINVAL;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->instance = instance;
	w->version = version;
	w->len = 0;
	w->open = true;
}

static void put_le(struct state_writer *w, uint64_t v, unsigned n)
{
	reserve(w, n);
	if (w->err)
		return;
	le_put(w->buf + w->len, v, n);
	w->len += n;
}

void state_put_u8(struct state_writer *w, uint8_t v)
{
	put_le(w, v, 1);
}

void state_put_u16(struct state_writer *w, uint16_t v)
{
	put_le(w, v, 2);
}

void state_put_u32(struct state_writer *w, uint32_t v)
{
	put_le(w, v, 4);
}

void state_put_u64(struct state_writer *w, uint64_t v)
{
	put_le(w, v, 8);
}

void state_put_bytes(struct state_writer *w, const void *p, size_t len)
{
	if (len == 0)
		return;
	reserve(w, len);
	if (w->err)
		return;
	memcpy(w->buf + w->len, p, len);
	w->len += len;
}

/* Section header after the tag: name length, name, instance, version,
 * payload length. Returns its size. */
static size_t sect_header(uint8_t *h, const char *name, uint32_t instance,
			  uint32_t version, uint64_t len)
{
	size_t n = strlen(name), o = 0;
	h[o++] = (uint8_t)n;
	memcpy(h + o, name, n);
	o += n;
	le_put(h + o, instance, 4);
	le_put(h + o + 4, version, 4);
	le_put(h + o + 8, len, 8);
	return o + 16;
}

int state_end(struct state_writer *w, struct error *err)
{
	uint8_t tag[4], hdr[1 + STATE_NAME_MAX + 16], crcb[4];

	if (w->err) {
		w->open = false;
		return error_set(err, w->err, "state section %s/%u: %s",
				 w->name, w->instance, strerror(w->err));
	}
	if (!w->open)
		return error_set(err, EINVAL, "state_end without state_begin");
	w->open = false;
	le_put(tag, SECT_TAG, 4);
	size_t hl = sect_header(hdr, w->name, w->instance, w->version, w->len);
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, hdr, (uInt)hl);
	if (w->len)
		crc = crc32(crc, w->buf, (uInt)w->len);
	le_put(crcb, crc, 4);
	int r = write_all(w->fd, tag, 4);
	if (!r)
		r = write_all(w->fd, hdr, hl);
	if (!r && w->len)
		r = write_all(w->fd, w->buf, w->len);
	if (!r)
		r = write_all(w->fd, crcb, 4);
	if (r) {
		w->err = -r;
		return error_set(err, -r, "writing state section %s: %s",
				 w->name, strerror(-r));
	}
	w->bytes += 4 + hl + w->len + 4;
	return 0;
}

int state_writer_finish(struct state_writer *w, struct error *err)
{
	state_begin(w, END_NAME, 0, 1);
	int r = state_end(w, err);
	state_writer_abort(w);
	return r;
}

void state_writer_abort(struct state_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->cap = w->len = 0;
	w->open = false;
}

/* ---- reader --------------------------------------------------------------- */

int state_reader_open(struct state_reader *r, int fd, struct error *err)
{
	uint8_t hdr[16];
	size_t got;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	int rc = read_all(fd, hdr, sizeof(hdr), &got);
	if (rc == -EIO ||
	    (!rc && memcmp(hdr, STATE_MAGIC, sizeof(STATE_MAGIC)) != 0))
		return error_set(err, EINVAL,
				 "not a Softvisor VM state file (bad magic)");
	if (rc)
		return error_set(err, -rc, "reading the state header: %s",
				 strerror(-rc));
	uint32_t ver = (uint32_t)le_get(hdr + 8, 4);
	if (ver != STATE_FORMAT_VERSION)
		return error_set(err, EPROTONOSUPPORT,
				 "VM state format version %u, this softvisor "
				 "reads version %u",
				 ver, STATE_FORMAT_VERSION);
	return 0;
}

int state_next(struct state_reader *r, struct error *err)
{
	uint8_t tag[4], hdr[1 + STATE_NAME_MAX + 16], crcb[4];
	size_t got;
	unsigned idx = r->index + 1;

	if (r->ended)
		return 0;
	if (r->streamed && !r->checked) /* its rest is still in the fd */
		return state_fail(r, err, EINVAL,
				  "read before its end (state_section_done)");
	r->streamed = r->checked = false;
	r->name[0] = 0;
	r->len = r->pos = 0;
	r->short_read = false;
	int rc = read_all(r->fd, tag, 4, &got);
	if (rc == -EIO)
		return error_set(err, EINVAL,
				 "VM state truncated: section %u missing "
				 "(no end section)",
				 idx);
	if (!rc && le_get(tag, 4) != SECT_TAG)
		return error_set(err, EINVAL,
				 "VM state damaged: section %u has no "
				 "section tag",
				 idx);
	if (!rc)
		rc = read_all(r->fd, hdr, 1, &got);
	size_t nl = rc ? 0 : hdr[0];
	if (!rc && (nl == 0 || nl > STATE_NAME_MAX))
		return error_set(err, EINVAL,
				 "VM state damaged: section %u has a bad "
				 "name length %zu",
				 idx, nl);
	if (!rc)
		rc = read_all(r->fd, hdr + 1, nl + 16, &got);
	if (rc == -EIO)
		return error_set(err, EINVAL,
				 "VM state truncated in the header of "
				 "section %u",
				 idx);
	if (rc)
		return error_set(err, -rc, "reading the VM state: %s",
				 strerror(-rc));
	memcpy(r->name, hdr + 1, nl);
	r->name[nl] = 0;
	if (!name_ok(r->name)) {
		r->name[0] = 0;
		return error_set(err, EINVAL,
				 "VM state damaged: section %u has a bad "
				 "name",
				 idx);
	}
	r->instance = (uint32_t)le_get(hdr + 1 + nl, 4);
	r->version = (uint32_t)le_get(hdr + 1 + nl + 4, 4);
	uint64_t len = le_get(hdr + 1 + nl + 8, 8);
	if (len > STATE_SECTION_MAX)
		return state_fail(r, err, EINVAL,
				  "length %llu is over the limit of %u bytes "
				  "(damaged file?)",
				  (unsigned long long)len, STATE_SECTION_MAX);
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, hdr, (uInt)(1 + nl + 16));
	if (r->stream_over && len > r->stream_over) {
		/* the gets read the payload, state_section_done the CRC */
		r->streamed = true;
		r->read_err = 0;
		r->crc = crc;
		r->len = (size_t)len;
		r->index = idx;
		return 1;
	}
	if (len > r->cap) {
		uint8_t *b = realloc(r->buf, len);
		if (!b)
			return state_fail(r, err, ENOMEM, "out of memory");
		r->buf = b;
		r->cap = len;
	}
	rc = read_all(r->fd, r->buf, len, &got);
	if (!rc)
		rc = read_all(r->fd, crcb, 4, &got);
	if (rc == -EIO)
		return state_fail(r, err, EINVAL,
				  "truncated (the file ends inside it)");
	if (rc)
		return state_fail(r, err, -rc, "read: %s", strerror(-rc));
	if (len)
		crc = crc32(crc, r->buf, (uInt)len);
	if ((uint32_t)crc != (uint32_t)le_get(crcb, 4))
		return state_fail(r, err, EINVAL,
				  "CRC mismatch (the file is damaged)");
	r->len = (size_t)len;
	r->index = idx;
	if (strcmp(r->name, END_NAME) == 0) {
		r->ended = true;
		return 0;
	}
	return 1;
}

bool state_is(const struct state_reader *r, const char *name)
{
	return strcmp(r->name, name) == 0;
}

/* The next n bytes of a streamed section, from the fd into the buffer. */
static const uint8_t *take_streamed(struct state_reader *r, size_t n)
{
	size_t got;

	if (n > r->cap) {
		uint8_t *b = realloc(r->buf, n);
		if (!b) {
			r->read_err = -ENOMEM;
			return NULL;
		}
		r->buf = b;
		r->cap = n;
	}
	int rc = read_all(r->fd, r->buf, n, &got);
	if (rc) {
		r->read_err = rc;
		return NULL;
	}
	r->crc = crc32(r->crc, r->buf, (uInt)n);
	return r->buf;
}

static const uint8_t *take(struct state_reader *r, size_t n)
{
	if (r->short_read || n > r->len - r->pos) {
		r->short_read = true;
		r->pos = r->len;
		return NULL;
	}
	if (n == 0)
		return NULL; /* (an empty section has no buffer) */
	const uint8_t *p = r->streamed ? take_streamed(r, n) : r->buf + r->pos;
	if (!p) { /* the input ended or failed: counts as truncated */
		r->short_read = true;
		r->pos = r->len;
		return NULL;
	}
	r->pos += n;
	return p;
}

static uint64_t get_le(struct state_reader *r, unsigned n)
{
	const uint8_t *p = take(r, n);
	return p ? le_get(p, n) : 0;
}

uint8_t state_get_u8(struct state_reader *r)
{
	return (uint8_t)get_le(r, 1);
}

uint16_t state_get_u16(struct state_reader *r)
{
	return (uint16_t)get_le(r, 2);
}

uint32_t state_get_u32(struct state_reader *r)
{
	return (uint32_t)get_le(r, 4);
}

uint64_t state_get_u64(struct state_reader *r)
{
	return get_le(r, 8);
}

void state_get_bytes(struct state_reader *r, void *p, size_t len)
{
	const uint8_t *s = take(r, len);
	if (s)
		memcpy(p, s, len);
	else
		memset(p, 0, len);
}

const void *state_get_ptr(struct state_reader *r, size_t len)
{
	return take(r, len);
}

size_t state_remaining(const struct state_reader *r)
{
	return r->len - r->pos;
}

int state_section_done(struct state_reader *r, struct error *err)
{
	if (r->streamed && r->read_err && r->read_err != -EIO)
		return state_fail(r, err, -r->read_err, "read: %s",
				  strerror(-r->read_err));
	if (r->short_read)
		return state_fail(r, err, EINVAL,
				  "truncated (%zu bytes, more expected)",
				  r->len);
	if (r->pos != r->len)
		return state_fail(r, err, EINVAL,
				  "%zu unexpected bytes at "
				  "its end",
				  r->len - r->pos);
	if (r->streamed && !r->checked) {
		uint8_t crcb[4];
		size_t got;
		int rc = read_all(r->fd, crcb, 4, &got);
		if (rc == -EIO)
			return state_fail(r, err, EINVAL,
					  "truncated (the file ends inside "
					  "it)");
		if (rc)
			return state_fail(r, err, -rc, "read: %s",
					  strerror(-rc));
		if ((uint32_t)r->crc != (uint32_t)le_get(crcb, 4))
			return state_fail(r, err, EINVAL,
					  "CRC mismatch (the file is damaged)");
		r->checked = true;
	}
	return 0;
}

int state_check_version(struct state_reader *r, uint32_t max, struct error *err)
{
	if (r->version < 1 || r->version > max)
		return state_fail(r, err, EPROTONOSUPPORT,
				  "version %u, this softvisor reads 1..%u",
				  r->version, max);
	return 0;
}

int state_fail(struct state_reader *r, struct error *err, int code,
	       const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_set(err, code, "VM state section %s/%u: %s",
			 r->name[0] ? r->name : "?", r->instance, msg);
}

void state_reader_close(struct state_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}
