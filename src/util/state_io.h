/*
 * The VM state file (docs/vm-state.md): a file header, then sections, each
 * with a name, an instance number, a version, a length and a CRC-32 (zlib)
 * of its header and payload, then an "end" section. Every integer is
 * little-endian and of a fixed width, so the format does not depend on the
 * host's byte order, word size or ISA.
 *
 * Writing: state_writer_open, then per component state_begin, state_put_*,
 * state_end (the section is built in memory, then written whole, so the
 * output may be a pipe), then state_writer_finish. Put errors are sticky:
 * the first one is reported by state_end / state_writer_finish.
 *
 * Reading: state_reader_open checks the header; state_next reads the next
 * section whole and checks its length bound and CRC before any byte of it is
 * parsed; the state_get_* calls are bounds-checked and sticky (a short
 * section reads zeros and state_section_done reports "truncated"). The input
 * is untrusted: every failure is an error naming the section, never a
 * crash.
 *
 * A reader with stream_over set reads sections longer than that as they
 * are parsed instead (guest RAM: up to 64 MiB a section, which a live
 * migration's destination then applies while the rest still arrives,
 * instead of after): each get reads from the fd, the CRC is checked by
 * state_section_done, so the parser sees bytes the CRC has not vouched
 * for yet. Only a caller that drops all it built when the load fails
 * (a restore's machine does) may set it.
 *
 * Thread safety: a writer or reader is used by one thread at a time.
 */
#ifndef SV_UTIL_STATE_IO_H
#define SV_UTIL_STATE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define STATE_MAGIC	     "SVSTATE" /* 8 bytes with the NUL */
#define STATE_FORMAT_VERSION 1
#define STATE_NAME_MAX	     31
/* A section's payload may not be larger: a reader never allocates more
 * than this for one section whatever the file says. */
#define STATE_SECTION_MAX (80u << 20)

struct state_writer {
	int fd;
	uint8_t *buf; /* the section being built */
	size_t len, cap;
	bool open; /* between state_begin and state_end */
	int err;   /* first errno of a put or write, 0 if none */
	char name[STATE_NAME_MAX + 1];
	uint32_t instance, version;
	uint64_t bytes; /* written to fd so far */
};

/* Write the file header to fd (not closed by the writer). 0 or -errno. */
int state_writer_open(struct state_writer *w, int fd, struct error *err);
/* Start section name (1..STATE_NAME_MAX chars of [a-z0-9_.-]). */
void state_begin(struct state_writer *w, const char *name, uint32_t instance,
		 uint32_t version);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bytes(struct state_writer *w, const void *p, size_t len);
/* Finish the section and write it. 0 or -errno with err set. */
int state_end(struct state_writer *w, struct error *err);
/* Write the end section and free the buffer. 0 or -errno with err set. */
int state_writer_finish(struct state_writer *w, struct error *err);
/* Free the buffer after a failure (no end section). */
void state_writer_abort(struct state_writer *w);

struct state_reader {
	int fd;
	uint8_t *buf; /* the current section's payload */
	size_t cap;
	/* the current section */
	char name[STATE_NAME_MAX + 1];
	uint32_t instance, version;
	size_t len, pos;
	bool short_read; /* a get went past the end */
	bool ended;	 /* the end section was read */
	unsigned index;	 /* sections read so far */
	/* streaming (see the top): sections longer than stream_over (0:
	 * none) are read by the gets; streamed: the current one is;
	 * checked: its CRC was (state_section_done); crc: so far */
	size_t stream_over;
	bool streamed, checked;
	int read_err; /* a streamed read's -errno (-EIO: the input ended) */
	unsigned long crc;
};

/* Check the file header read from fd. 0 or -errno: -EINVAL "not a
 * Softvisor state file", -EPROTONOSUPPORT for another format version. */
int state_reader_open(struct state_reader *r, int fd, struct error *err);
/* Read the next section whole. 1 = a section is current, 0 = the end
 * section was read, -errno with err set (truncated file, bad CRC, bad
 * header, a section larger than STATE_SECTION_MAX). */
int state_next(struct state_reader *r, struct error *err);
/* Is the current section name? */
bool state_is(const struct state_reader *r, const char *name);
uint8_t state_get_u8(struct state_reader *r);
uint16_t state_get_u16(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
/* Copy len bytes out (zeros past the end). */
void state_get_bytes(struct state_reader *r, void *p, size_t len);
/* Pointer to the next len (> 0) bytes of the payload (valid until
 * state_next; in a streamed section until the next get), or NULL (and the
 * section counts as truncated) if fewer remain. */
const void *state_get_ptr(struct state_reader *r, size_t len);
/* Bytes of the current section not yet read. */
size_t state_remaining(const struct state_reader *r);
/* The current section was parsed: -EINVAL with err naming the section if
 * it was truncated or has bytes left over (or, streamed, its CRC does not
 * match); else 0. */
int state_section_done(struct state_reader *r, struct error *err);
/* Refuse the current section's version: -EPROTONOSUPPORT if it is not
 * in [1, max]. */
int state_check_version(struct state_reader *r, uint32_t max,
			struct error *err);
/* Set err to "section NAME/INSTANCE: <message>" and return -code. */
int state_fail(struct state_reader *r, struct error *err, int code,
	       const char *fmt, ...) SV_PRINTF(4, 5);
void state_reader_close(struct state_reader *r);

#endif
