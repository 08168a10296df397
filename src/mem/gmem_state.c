/*
 * Guest RAM in the VM state file (docs/vm-state.md, sections "ram"): RAM is
 * cut into chunks of GMEM_STATE_CHUNK frames, one section each (so no
 * section gets near STATE_SECTION_MAX and a writer never buffers more than
 * one chunk). A section lists runs of frames that are not all zeros; the
 * frames of the chunk that no run names are zero. Zero frames cost nothing
 * in the file, and nothing after the load either: they stay on (or go back
 * to) the shared zero frame.
 *
 * Uses only gmem.h's public interface, so it does not depend on how frames
 * are backed (page sharing, swap).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "util/state_io.h"

#define RAM_VERSION	  1
#define RAM_VERSION_DELTA 2 /* frames no run names keep their content */

static const uint8_t zero_page[GUEST_PAGE_SIZE];

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	for (size_t i = 0; i < GUEST_PAGE_SIZE / 8; i++)
		if (q[i])
			return false;
	return true;
}

/* Host page of frame gfn if it holds anything but zeros, else NULL. */
static const uint8_t *frame_data(struct gmem *gm, uint64_t gfn)
{
	unsigned flags = 0;
	const uint8_t *p = gmem_page(
		gm, gmem_ram_base(gm) + (gfn << GUEST_PAGE_SHIFT), GMEM_READ,
		&flags);
	if (!p || (flags & GMEM_PAGE_ZERO) || page_is_zero(p))
		return NULL;
	return p;
}

uint32_t gmem_state_chunks(const struct gmem *gm)
{
	uint64_t frames = gmem_ram_size(gm) >> GUEST_PAGE_SHIFT;
	return (uint32_t)((frames + GMEM_STATE_CHUNK - 1) / GMEM_STATE_CHUNK);
}

/* Is frame gfn one to write: in the bitmap (NULL: every frame), and for
 * a full save not all zeros? */
static bool frame_wanted(struct gmem *gm, const uint64_t *bitmap, uint64_t gfn)
{
	if (bitmap)
		return (bitmap[gfn >> 6] >> (gfn & 63)) & 1;
	return frame_data(gm, gfn) != NULL;
}

int gmem_state_save(struct gmem *gm, struct state_writer *w,
		    struct gmem_state_stats *st, struct error *err)
{
	return gmem_state_save_frames(gm, w, "ram", NULL, st, err);
}

int gmem_state_save_frames(struct gmem *gm, struct state_writer *w,
			   const char *name, const uint64_t *bitmap,
			   struct gmem_state_stats *st, struct error *err)
{
	uint64_t frames = gmem_ram_size(gm) >> GUEST_PAGE_SHIFT;
	/* with a bitmap: a delta (frames not named keep their content);
	 * without: the whole RAM (frames not named are zero; the receiver's
	 * RAM holds the kernel its own build loaded) */
	uint32_t version = bitmap ? RAM_VERSION_DELTA : RAM_VERSION;

	for (uint32_t c = 0; c < gmem_state_chunks(gm); c++) {
		uint64_t first = (uint64_t)c * GMEM_STATE_CHUNK;
		uint64_t n = frames - first;
		if (n > GMEM_STATE_CHUNK)
			n = GMEM_STATE_CHUNK;
		state_begin(w, name, c, version);
		state_put_u64(w, gmem_ram_base(gm));
		state_put_u64(w, gmem_ram_size(gm));
		state_put_u64(w, first);
		state_put_u32(w, (uint32_t)n);
		uint64_t i = 0;
		while (i < n) {
			if (!frame_wanted(gm, bitmap, first + i)) {
				i++;
				continue;
			}
			uint64_t j = i + 1;
			while (j < n && frame_wanted(gm, bitmap, first + j))
				j++;
			state_put_u32(w, (uint32_t)i);
			state_put_u32(w, (uint32_t)(j - i));
			for (uint64_t k = i; k < j; k++) {
				/* read again: a page is never freed under us;
				 * one the running guest changes meanwhile
				 * (ram-pass) is dirty and sent again */
				const uint8_t *p = frame_data(gm, first + k);
				if (p)
					state_put_bytes(w, p, GUEST_PAGE_SIZE);
				else /* zeroed since the scan */
					state_put_bytes(w, zero_page,
							GUEST_PAGE_SIZE);
			}
			if (st)
				st->frames_saved += j - i;
			i = j;
		}
		int r = state_end(w, err);
		if (r)
			return r;
	}
	if (st)
		st->frames_total = frames;
	return 0;
}

/* Frame gfn reads as zero from now on. */
/* Frames of a run read and applied at a time (1 MiB). */
#define LOAD_PIECE 256u

static void frame_zero(struct gmem *gm, uint64_t gfn)
{
	unsigned flags = 0;
	uint64_t gpa = gmem_ram_base(gm) + (gfn << GUEST_PAGE_SHIFT);
	const uint8_t *p = gmem_page(gm, gpa, GMEM_READ, &flags);
	if (p && !(flags & GMEM_PAGE_ZERO) && !page_is_zero(p))
		(void)gmem_release_page(gm, gpa);
}

int gmem_state_load(struct gmem *gm, struct state_reader *r, struct error *err)
{
	uint64_t frames = gmem_ram_size(gm) >> GUEST_PAGE_SHIFT;

	bool pass = state_is(r, "ram-pass");
	if (!pass && !state_is(r, "ram"))
		return state_fail(r, err, EINVAL, "expected a ram section");
	(void)pass;
	int rc = state_check_version(r, RAM_VERSION_DELTA, err);
	if (rc)
		return rc;
	/* a delta (a later pass, the final RAM after passes): frames not
	 * named stay as they are */
	bool keep = r->version == RAM_VERSION_DELTA;
	uint64_t base = state_get_u64(r), size = state_get_u64(r);
	uint64_t first = state_get_u64(r);
	uint32_t n = state_get_u32(r);
	if (r->short_read)
		return state_section_done(r, err);
	if (base != gmem_ram_base(gm) || size != gmem_ram_size(gm))
		return state_fail(
			r, err, EINVAL,
			"saved with %llu MiB of RAM at 0x%llx, this "
			"VM has %llu MiB (--memory)",
			(unsigned long long)(size >> 20),
			(unsigned long long)base,
			(unsigned long long)(gmem_ram_size(gm) >> 20));
	if (r->instance >= gmem_state_chunks(gm) ||
	    first != (uint64_t)r->instance * GMEM_STATE_CHUNK ||
	    n != (frames - first < GMEM_STATE_CHUNK ? frames - first
						    : GMEM_STATE_CHUNK))
		return state_fail(r, err, EINVAL,
				  "frames %llu+%u do not form chunk %u",
				  (unsigned long long)first, n, r->instance);
	uint64_t next = 0; /* runs are sorted and disjoint */
	while (state_remaining(r) > 0) {
		uint32_t at = state_get_u32(r), cnt = state_get_u32(r);
		if (r->short_read)
			break;
		if (at > n || at < next || cnt == 0 || cnt > n - at)
			return state_fail(r, err, EINVAL,
					  "bad run of %u frames at %u", cnt,
					  at);
		for (uint64_t k = next; k < at && !keep; k++)
			frame_zero(gm, first + k);
		/* a run in pieces: a streamed section (state_io.h) reads
		 * each as it is applied */
		for (uint32_t done = 0; done < cnt;) {
			uint32_t m = cnt - done < LOAD_PIECE ? cnt - done
							     : LOAD_PIECE;
			const uint8_t *data = state_get_ptr(
				r, (size_t)m * GUEST_PAGE_SIZE);
			if (!data)
				break;
			uint64_t gpa = base + ((first + at + done)
					       << GUEST_PAGE_SHIFT);
			if (gmem_write(gm, gpa, data,
				       (size_t)m * GUEST_PAGE_SIZE))
				return state_fail(r, err, EFAULT,
						  "run at frame %u is not RAM",
						  at);
			done += m;
		}
		if (r->short_read)
			break;
		next = (uint64_t)at + cnt;
	}
	rc = state_section_done(r, err);
	if (rc)
		return rc;
	for (uint64_t k = next; k < n && !keep; k++)
		frame_zero(gm, first + k);
	return 0;
}
