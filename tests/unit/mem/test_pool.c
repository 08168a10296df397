/* Unit tests for cross-VM sharing, the worker's side (src/mem/pool.c):
 * an offered frame is committed to a pool frame only when the bytes are
 * equal, untouched since the offer and unpinned; its slot goes back after
 * one more flush; a store copies the pool frame back (a COW break) and
 * gives the reference back; releases too; the scanner offers and hashes,
 * lifts offers it cannot send, keeps unmatched offers offered (not
 * offered again until written) and rests when it only offered; late
 * answers commit unless the frame was written; writers racing the
 * scanner never lose a store. The pool here is a memfd mapped read-only, as a worker maps the
 * daemon's. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mem/gmem.h"
#include "share_owner.h"

#define RAM_BASE    0x80000000ULL
#define RAM_SIZE    (1ULL << 20)
#define PG	    GUEST_PAGE_SIZE
#define NFRAMES	    (RAM_SIZE / PG)
#define POOL_FRAMES 1024u

/* The fake daemon: its pool (written through pool_rw, mapped read-only
 * as pool_ro by the gmem), and what the gmem sent it. */
struct fake {
	int fd;
	uint8_t *pool_rw;
	const uint8_t *pool_ro;
	uint32_t next_frame;
	bool held[POOL_FRAMES]; /* answered and not dropped since */
	struct gmem *gm;
	bool answer_at_once; /* the offer callback answers (a new frame) */
	bool answer_none;    /* the offer callback answers no match yet */
	uint32_t last_batch; /* of the last offer */
	bool refuse_send;    /* the offer callback fails (no daemon) */
	bool racing;	     /* writers may change frames after the offer */
	unsigned n_offers;
	struct gmem_pool_offer offers[GMEM_SHARE_BATCH];
	unsigned n_drops;
	struct gmem_pool_pair drops[4096];
};

/* The next pool frame after the last one handed out that no VM holds,
 * taken; GMEM_POOL_NONE when all are. */
static uint32_t fake_free_frame(struct fake *f)
{
	for (uint32_t k = 0; k < POOL_FRAMES; k++) {
		uint32_t fr = f->next_frame++ % POOL_FRAMES;

		if (!f->held[fr]) {
			f->held[fr] = true;
			return fr;
		}
	}
	return GMEM_POOL_NONE;
}

static bool fake_offer(void *opaque, uint32_t gen, uint32_t batch,
		       const struct gmem_pool_offer *o, unsigned n)
{
	struct fake *f = opaque;

	(void)gen;
	if (f->refuse_send)
		return false;
	for (unsigned i = 0; i < n; i++) {
		/* the hash is of the frame's content */
		uint8_t page[PG];
		assert_int_equal(
			gmem_read(f->gm, RAM_BASE + o[i].gfn * PG, page, PG),
			0);
		if (!f->racing)
			assert_true(gmem_pool_hash(page) == o[i].hash);
		f->offers[f->n_offers++ % GMEM_SHARE_BATCH] = o[i];
		f->last_batch = batch;
		if (f->answer_none)
			assert_false(gmem_pool_answer(f->gm, 1, batch, o[i].gfn,
						      GMEM_POOL_NONE));
		if (f->answer_at_once) {
			/* a daemon that read the frame: a new pool frame,
			 * one that nobody holds (the gmem still maps those) */
			uint32_t fr = fake_free_frame(f);
			if (fr != GMEM_POOL_NONE)
				memcpy(f->pool_rw + (uint64_t)fr * PG, page,
				       PG);
			(void)gmem_pool_answer(f->gm, 1, batch, o[i].gfn, fr);
		}
	}
	return true;
}

static void fake_drop(void *opaque, uint32_t gen,
		      const struct gmem_pool_pair *d, unsigned n)
{
	struct fake *f = opaque;

	assert_int_equal(gen, 1);
	for (unsigned i = 0; i < n; i++) {
		f->drops[f->n_drops++ % 4096] = d[i];
		if (d[i].frame < POOL_FRAMES)
			f->held[d[i].frame] = false;
	}
}

static void fake_init(struct fake *f)
{
	struct error err = { 0 };
	char path[64];
	int ro;

	memset(f, 0, sizeof(*f));
	f->fd = memfd_create("test-pool", MFD_CLOEXEC);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, POOL_FRAMES * PG), 0);
	f->pool_rw = mmap(NULL, POOL_FRAMES * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED, f->fd, 0);
	assert_true(f->pool_rw != MAP_FAILED);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", f->fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	/* read-only for good: no writable shared mapping of it */
	assert_true(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) ==
		    MAP_FAILED);
	f->pool_ro = mmap(NULL, POOL_FRAMES * PG, PROT_READ, MAP_SHARED, ro, 0);
	assert_true(f->pool_ro != MAP_FAILED);
	assert_int_equal(mprotect((void *)(uintptr_t)f->pool_ro, PG,
				  PROT_READ | PROT_WRITE),
			 -1);
	close(ro);
	f->gm = gmem_create(RAM_BASE, RAM_SIZE, &err);
	assert_non_null(f->gm);
	struct gmem_pool_ops ops = { fake_offer, fake_drop, f };
	gmem_pool_attach(f->gm, f->pool_ro, POOL_FRAMES, 1, &ops);
}

static void fake_fini(struct fake *f)
{
	gmem_destroy(f->gm);
	munmap((void *)(uintptr_t)f->pool_ro, POOL_FRAMES * PG);
	munmap(f->pool_rw, POOL_FRAMES * PG);
	close(f->fd);
}

static struct gmem_stats stats(const struct gmem *gm)
{
	struct gmem_stats st;

	gmem_get_stats(gm, &st);
	return st;
}

static void fill(struct gmem *gm, uint64_t gfn, uint8_t b)
{
	uint8_t buf[PG];

	for (unsigned i = 0; i < PG; i++)
		buf[i] = (uint8_t)(b + i / 512);
	assert_int_equal(gmem_write(gm, RAM_BASE + gfn * PG, buf, PG), 0);
}

/* Pool frame fr gets what gfn holds. */
static void pool_copy(struct fake *f, uint32_t fr, uint64_t gfn)
{
	assert_int_equal(gmem_read(f->gm, RAM_BASE + gfn * PG,
				   f->pool_rw + (uint64_t)fr * PG, PG),
			 0);
}

static unsigned flags_of(struct gmem *gm, uint64_t gfn, const uint8_t **p)
{
	unsigned flags = 0;
	const uint8_t *q = gmem_page(gm, RAM_BASE + gfn * PG, GMEM_READ,
				     &flags);

	assert_non_null(q);
	if (p)
		*p = q;
	return flags;
}

static blkcnt_t ram_blocks(struct gmem *gm)
{
	struct stat sb;

	assert_int_equal(fstat(gmem_ram_fd(gm), &sb), 0);
	return sb.st_blocks;
}

/* Offer, commit, the slot back after a flush, reads from the pool frame,
 * then a store breaks it: the content is kept, the pool frame untouched,
 * the reference given back. */
static void test_commit_and_cow(void **state)
{
	struct fake f;
	const uint8_t *p;
	uint8_t want[PG], got[PG];
	uint64_t h;
	blkcnt_t before;

	(void)state;
	fake_init(&f);
	fill(f.gm, 3, 0x40);
	assert_int_equal(gmem_read(f.gm, RAM_BASE + 3 * PG, want, PG), 0);
	pool_copy(&f, 7, 3);
	assert_true(gmem_pool_protect(f.gm, 3));
	/* offered: read-only, reads see the content through the slot (a
	 * TLB may cache them: the slot is punched only after the flush
	 * that follows the commit) */
	assert_int_equal(flags_of(f.gm, 3, &p) &
				 (GMEM_PAGE_READONLY | GMEM_PAGE_NOCACHE),
			 GMEM_PAGE_READONLY);
	assert_memory_equal(p, want, PG);
	assert_true(gmem_pool_offered(f.gm, 3, &h));
	assert_true(h == gmem_pool_hash(want));
	before = ram_blocks(f.gm);
	assert_true(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 3, 7));
	assert_int_equal(stats(f.gm).frames_pool_shared, 1);
	assert_int_equal(stats(f.gm).frames_private, 0);
	assert_int_equal(flags_of(f.gm, 3, &p) & GMEM_PAGE_NOCACHE,
			 GMEM_PAGE_NOCACHE);
	assert_ptr_equal(p, gmem_pool_frame(f.gm, 7));
	/* the slot stays until one more flush of every hart */
	gmem_pool_flushed(f.gm);
	assert_true(ram_blocks(f.gm) == before);
	gmem_pool_flushed(f.gm);
	assert_true(before - ram_blocks(f.gm) >= (blkcnt_t)(PG / 512));
	assert_int_equal(gmem_read(f.gm, RAM_BASE + 3 * PG, got, PG), 0);
	assert_memory_equal(got, want, PG);

	/* a store: copy back, the pool frame keeps its content */
	uint64_t v = 0x1122334455667788ULL;
	assert_int_equal(gmem_write(f.gm, RAM_BASE + 3 * PG + 64, &v, 8), 0);
	memcpy(want + 64, &v, 8);
	assert_int_equal(gmem_read(f.gm, RAM_BASE + 3 * PG, got, PG), 0);
	assert_memory_equal(got, want, PG);
	assert_int_not_equal(memcmp(gmem_pool_frame(f.gm, 7), want, PG), 0);
	assert_int_equal(stats(f.gm).frames_pool_shared, 0);
	assert_int_equal(stats(f.gm).frames_private, 1);
	assert_int_equal(stats(f.gm).pool_cow_breaks, 1);
	assert_int_equal(flags_of(f.gm, 3, NULL) & GMEM_PAGE_NOCACHE, 0);
	assert_int_equal(f.n_drops, 0);
	gmem_pool_send_drops(f.gm);
	assert_int_equal(f.n_drops, 1);
	assert_int_equal(f.drops[0].gfn, 3);
	assert_int_equal(f.drops[0].frame, 7);
	/* the punch of a frame broken before its slot went leaves it be */
	fill(f.gm, 4, 0x50);
	pool_copy(&f, 8, 4);
	assert_true(gmem_pool_protect(f.gm, 4));
	assert_true(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 4, 8));
	gmem_pool_flushed(f.gm);
	fill(f.gm, 4, 0x60); /* COW break: the slot is private again */
	gmem_pool_flushed(f.gm);
	assert_int_equal(gmem_read(f.gm, RAM_BASE + 4 * PG, got, PG), 0);
	assert_int_equal(got[0], 0x60);
	assert_int_equal(got[PG - 1], (uint8_t)(0x60 + 7));
	fake_fini(&f);
}

/* A TLB sync that looks at the frame while the gmem waits for it. */
struct sync_probe {
	struct gmem *gm;
	uint64_t gfn;
	const uint8_t *pool; /* the pool frame gfn maps until the sync */
	unsigned calls, nocache, on_pool;
};

static void probe_sync(void *opaque)
{
	struct sync_probe *sp = opaque;
	const uint8_t *q;
	unsigned fl = flags_of(sp->gm, sp->gfn, &q);

	sp->calls++;
	sp->nocache += !!(fl & GMEM_PAGE_NOCACHE);
	sp->on_pool += q == sp->pool;
}

/* With a TLB sync, a pooled frame may be cached for reads; a store and a
 * release first make it uncacheable, then sync, then move it. */
static void test_cached_reads(void **state)
{
	struct fake f;
	struct sync_probe sp = { 0 };
	const uint8_t *p;
	uint8_t want[PG], got[PG];

	(void)state;
	fake_init(&f);
	gmem_set_tlb_sync(f.gm, probe_sync, &sp);
	sp.gm = f.gm;
	fill(f.gm, 3, 0x40);
	assert_int_equal(gmem_read(f.gm, RAM_BASE + 3 * PG, want, PG), 0);
	pool_copy(&f, 7, 3);
	assert_true(gmem_pool_protect(f.gm, 3));
	assert_int_equal(flags_of(f.gm, 3, NULL) &
				 (GMEM_PAGE_READONLY | GMEM_PAGE_NOCACHE),
			 GMEM_PAGE_READONLY);
	assert_true(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 3, 7));
	assert_int_equal(flags_of(f.gm, 3, &p) &
				 (GMEM_PAGE_READONLY | GMEM_PAGE_NOCACHE |
				  GMEM_PAGE_ZERO),
			 GMEM_PAGE_READONLY);
	assert_ptr_equal(p, gmem_pool_frame(f.gm, 7));
	assert_int_equal(sp.calls, 0);

	/* a store: the sync runs while the entry still maps the pool frame
	 * and hands it out uncached; the copy comes after */
	sp.gfn = 3;
	sp.pool = gmem_pool_frame(f.gm, 7);
	uint64_t v = 0x1122334455667788ULL;
	assert_int_equal(gmem_write(f.gm, RAM_BASE + 3 * PG + 64, &v, 8), 0);
	memcpy(want + 64, &v, 8);
	assert_int_equal(sp.calls, 1);
	assert_int_equal(sp.nocache, 1);
	assert_int_equal(sp.on_pool, 1);
	assert_int_equal(gmem_read(f.gm, RAM_BASE + 3 * PG, got, PG), 0);
	assert_memory_equal(got, want, PG);
	assert_int_equal(stats(f.gm).pool_cow_breaks, 1);
	gmem_pool_send_drops(f.gm);
	assert_int_equal(f.n_drops, 1);

	/* a release (balloon) of a pooled frame syncs before the
	 * reference goes back */
	fill(f.gm, 5, 0x70);
	pool_copy(&f, 9, 5);
	assert_true(gmem_pool_protect(f.gm, 5));
	assert_true(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 5, 9));
	sp.gfn = 5;
	sp.pool = gmem_pool_frame(f.gm, 9);
	assert_int_equal(gmem_release_page(f.gm, RAM_BASE + 5 * PG), 0);
	assert_int_equal(sp.calls, 2);
	assert_int_equal(sp.nocache, 2);
	assert_int_equal(sp.on_pool, 2);
	assert_int_equal(stats(f.gm).frames_pool_shared, 0);
	assert_int_equal(gmem_read(f.gm, RAM_BASE + 5 * PG, got, PG), 0);
	memset(want, 0, PG);
	assert_memory_equal(got, want, PG);
	gmem_pool_send_drops(f.gm);
	assert_int_equal(f.n_drops, 2);
	assert_int_equal(f.drops[1].gfn, 5);
	assert_int_equal(f.drops[1].frame, 9);
	/* private frames never sync */
	fill(f.gm, 3, 0x11);
	assert_int_equal(gmem_release_page(f.gm, RAM_BASE + 3 * PG), 0);
	assert_int_equal(sp.calls, 2);

	/* a batch (gmem_release_pages): both pooled frames uncached by
	 * one sync, both references back, the private one released too */
	for (uint64_t g = 6; g <= 7; g++) {
		fill(f.gm, g, (uint8_t)(0x60 + g));
		pool_copy(&f, (uint32_t)(4 + g), g);
		assert_true(gmem_pool_protect(f.gm, g));
	}
	for (uint64_t g = 6; g <= 7; g++)
		assert_true(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm),
					     (uint32_t)g, (uint32_t)(4 + g)));
	fill(f.gm, 8, 0x11);
	sp.gfn = 7;
	sp.pool = gmem_pool_frame(f.gm, 11);
	uint64_t batch[3] = { RAM_BASE + 6 * PG, RAM_BASE + 7 * PG,
			      RAM_BASE + 8 * PG };
	assert_int_equal(gmem_release_pages(f.gm, batch, 3), 3);
	assert_int_equal(sp.calls, 3);
	assert_int_equal(sp.nocache, 3);
	assert_int_equal(sp.on_pool, 3);
	assert_int_equal(stats(f.gm).frames_pool_shared, 0);
	for (uint64_t g = 6; g <= 8; g++) {
		assert_int_equal(gmem_read(f.gm, RAM_BASE + g * PG, got, PG),
				 0);
		assert_memory_equal(got, want, PG); /* zeros */
	}
	gmem_pool_send_drops(f.gm);
	assert_int_equal(f.n_drops, 4);
	fake_fini(&f);
}

/* Answers that must not commit: other bytes, a store since the offer, a
 * DMA pin, a bad frame, another RAM's gen; none at all. */
static void test_refusals(void **state)
{
	struct fake f;
	struct iovec iov;
	uint8_t b = 1;

	(void)state;
	fake_init(&f);
	for (uint64_t g = 0; g < 6; g++) {
		fill(f.gm, g, (uint8_t)(0x10 * (g + 1)));
		pool_copy(&f, (uint32_t)g, g);
		assert_true(gmem_pool_protect(f.gm, g));
	}
	/* bytes differ (the daemon is never trusted either) */
	f.pool_rw[0 * PG + 100] ^= 0xff;
	assert_false(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 0, 0));
	/* written since the offer */
	assert_int_equal(gmem_write(f.gm, RAM_BASE + 1 * PG + 5, &b, 1), 0);
	pool_copy(&f, 1, 1);
	assert_false(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 1, 1));
	/* pinned by a device between the offer and the answer */
	assert_int_equal(
		gmem_dma_map(f.gm, RAM_BASE + 2 * PG, PG, GMEM_READ, &iov, 1),
		1);
	assert_false(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 2, 2));
	gmem_dma_unpin(f.gm, RAM_BASE + 2 * PG, PG);
	/* a frame outside the pool */
	assert_false(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 3,
				      POOL_FRAMES));
	/* an older RAM's answer: ignored, the offer stays */
	assert_false(gmem_pool_answer(f.gm, 2, gmem_pool_batch(f.gm), 4, 4));
	assert_true(flags_of(f.gm, 4, NULL) & GMEM_PAGE_READONLY);
	assert_true(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 4, 4));
	/* no match yet: the offer stays; not kept: it is lifted; nothing
	 * to give back either way */
	assert_false(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 5,
				      GMEM_POOL_NONE));
	assert_true(flags_of(f.gm, 5, NULL) & GMEM_PAGE_READONLY);
	assert_false(gmem_pool_answer(f.gm, 1, gmem_pool_batch(f.gm), 5,
				      GMEM_POOL_LIFT));
	assert_int_equal(flags_of(f.gm, 5, NULL), 0);

	for (uint64_t g = 0; g < 4; g++)
		assert_int_equal(flags_of(f.gm, g, NULL), 0);
	assert_int_equal(stats(f.gm).frames_pool_shared, 1);
	assert_int_equal(stats(f.gm).frames_private, 5);
	/* every refused reference goes back (the daemon took it) */
	gmem_pool_send_drops(f.gm);
	assert_int_equal(f.n_drops, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(f.drops[i].gfn, f.drops[i].frame);
		assert_int_equal(f.drops[i].batch, gmem_pool_batch(f.gm));
	}

	/* a release of a pooled frame: zeros, the reference goes back */
	assert_int_equal(gmem_release_page(f.gm, RAM_BASE + 4 * PG), 0);
	assert_int_equal(stats(f.gm).frames_pool_shared, 0);
	assert_int_equal(flags_of(f.gm, 4, NULL) & GMEM_PAGE_ZERO,
			 GMEM_PAGE_ZERO);
	gmem_pool_send_drops(f.gm);
	assert_int_equal(f.n_drops, 4);
	assert_int_equal(f.drops[3].gfn, 4);
	assert_int_equal(f.drops[3].frame, 4);
	fake_fini(&f);
}

/* The scanner: offers non-zero frames, hashes them after the flush,
 * lifts offers it could not send, and punches committed slots. */
static void test_step(void **state)
{
	struct fake f;
	struct gmem_share *s = calloc(1, sizeof(*s));
	const struct gmem_share_ops ops = { no_flush, always_flushed, NULL };
	blkcnt_t before;

	(void)state;
	fake_init(&f);
	for (uint64_t g = 0; g < 64; g++)
		fill(f.gm, g, (uint8_t)(g + 1));
	before = ram_blocks(f.gm);
	(void)gmem_share_step(f.gm, s, &ops, NFRAMES); /* protect */
	assert_int_equal(f.n_offers, 0);
	assert_int_equal(stats(f.gm).frames_private, 64);
	f.answer_at_once = true;
	(void)gmem_share_step(f.gm, s, &ops, 0); /* offer, answered */
	assert_int_equal(f.n_offers, 64);
	assert_int_equal(stats(f.gm).pool_offered, 64);
	assert_int_equal(stats(f.gm).frames_pool_shared, 64);
	(void)gmem_share_step(f.gm, s, &ops, 0); /* fresh -> next */
	(void)gmem_share_step(f.gm, s, &ops, 0); /* punched */
	assert_true(before - ram_blocks(f.gm) >= (blkcnt_t)(64 * PG / 512));
	for (uint64_t g = 0; g < 64; g++) {
		uint8_t got[PG];
		assert_int_equal(gmem_read(f.gm, RAM_BASE + g * PG, got, PG),
				 0);
		assert_int_equal(got[0], (uint8_t)(g + 1));
		assert_int_equal(got[PG - 1], (uint8_t)(g + 1 + 7));
	}
	/* no daemon to send to: the offers are lifted at once */
	for (uint64_t g = 64; g < 80; g++)
		fill(f.gm, g, (uint8_t)g);
	f.refuse_send = true;
	(void)gmem_share_step(f.gm, s, &ops, NFRAMES);
	(void)gmem_share_step(f.gm, s, &ops, 0);
	for (uint64_t g = 64; g < 80; g++)
		assert_int_equal(flags_of(f.gm, g, NULL), 0);
	fake_fini(&f);
	free(s);
}

/* A frame offered, written and offered again: a late answer to its first
 * offer must not commit it (the second offer's flush may not have
 * happened), only the answer to the batch it is offered in now. */
static void test_late_answer(void **state)
{
	struct fake f;
	struct gmem_share *s = calloc(1, sizeof(*s));
	const struct gmem_share_ops ops = { no_flush, always_flushed, NULL };
	uint32_t b0, b1;

	(void)state;
	fake_init(&f);
	fill(f.gm, 9, 0x21);
	pool_copy(&f, 3, 9);
	b0 = gmem_pool_batch(f.gm);
	(void)gmem_share_step(f.gm, s, &ops, NFRAMES); /* protected in b0 */
	(void)gmem_share_step(f.gm, s, &ops, 0);       /* b0 sent */
	assert_int_equal(f.n_offers, 1);
	fill(f.gm, 9, 0x21); /* the same bytes: only the batch tells */
	b1 = gmem_pool_batch(f.gm);
	assert_int_not_equal(b0, b1);
	s->rest = 0; /* the first pass found next to nothing: no rest here */
	(void)gmem_share_step(f.gm, s, &ops, NFRAMES); /* protected in b1 */
	assert_false(gmem_pool_answer(f.gm, 1, b0, 9, 3));
	assert_true(flags_of(f.gm, 9, NULL) & GMEM_PAGE_READONLY);
	gmem_pool_send_drops(f.gm);
	assert_int_equal(f.n_drops, 1); /* the daemon's reference back */
	assert_true(gmem_pool_answer(f.gm, 1, b1, 9, 3));
	assert_int_equal(stats(f.gm).frames_pool_shared, 1);
	gmem_share_abort(f.gm, s);
	fake_fini(&f);
	free(s);
}

/* An offer nobody matched stays (read-only, flushed) and the next pass
 * does not offer it again: the daemon reads each frame once. A store
 * ends the offer and a later pass offers the new content. A pass that
 * offered but shared nothing counts as idle: the scanner rests. */
static void test_unmatched_stays_offered(void **state)
{
	struct fake f;
	struct gmem_share *s = calloc(1, sizeof(*s));
	const struct gmem_share_ops ops = { no_flush, always_flushed, NULL };
	uint8_t b = 0x42;

	(void)state;
	fake_init(&f);
	f.answer_none = true;
	for (uint64_t g = 0; g < 16; g++)
		fill(f.gm, g, (uint8_t)(0x30 + g));
	(void)gmem_share_step(f.gm, s, &ops, NFRAMES); /* protect, pass */
	(void)gmem_share_step(f.gm, s, &ops, 0);       /* offered */
	assert_int_equal(f.n_offers, 16);
	for (uint64_t g = 0; g < 16; g++)
		assert_true(flags_of(f.gm, g, NULL) & GMEM_PAGE_READONLY);
	/* the pass offered 16 frames and shared none: it rests */
	assert_int_equal(s->idle_passes, 1);
	assert_true(s->rest > 0);
	s->rest = 0;
	(void)gmem_share_step(f.gm, s, &ops, NFRAMES);
	(void)gmem_share_step(f.gm, s, &ops, 0);
	assert_int_equal(f.n_offers, 16); /* none again */
	assert_int_equal(stats(f.gm).pool_offered, 16);
	assert_int_equal(s->idle_passes, 2);

	/* a store ends one offer; the next pass offers it, alone */
	assert_int_equal(gmem_write(f.gm, RAM_BASE + 3 * PG + 1, &b, 1), 0);
	assert_int_equal(flags_of(f.gm, 3, NULL), 0);
	s->rest = 0;
	(void)gmem_share_step(f.gm, s, &ops, NFRAMES);
	(void)gmem_share_step(f.gm, s, &ops, 0);
	assert_int_equal(f.n_offers, 17);
	assert_int_equal(f.offers[16].gfn, 3);
	uint8_t page[PG];
	assert_int_equal(gmem_read(f.gm, RAM_BASE + 3 * PG, page, PG), 0);
	assert_true(f.offers[16].hash == gmem_pool_hash(page));
	assert_int_equal(page[1], 0x42);
	gmem_share_abort(f.gm, s);
	fake_fini(&f);
	free(s);
}

/* The daemon keeps an unmatched offer as a candidate and answers it when
 * another VM offers the same bytes, maybe long after: that late answer
 * commits a frame still offered in that batch, and the slot goes back
 * after the next flushes; a frame written since (offered again or not)
 * refuses it and gives the reference back with the batch answered. */
static void test_late_match(void **state)
{
	struct fake f;
	struct gmem_share *s = calloc(1, sizeof(*s));
	const struct gmem_share_ops ops = { no_flush, always_flushed, NULL };
	uint32_t b0, b1;
	uint8_t v = 0x99, got[PG];
	blkcnt_t before;

	(void)state;
	fake_init(&f);
	f.answer_none = true;
	for (uint64_t g = 0; g < 3; g++) {
		fill(f.gm, g, (uint8_t)(0x50 + g));
		pool_copy(&f, (uint32_t)(10 + g), g); /* what the daemon has */
	}
	(void)gmem_share_step(f.gm, s, &ops, NFRAMES);
	(void)gmem_share_step(f.gm, s, &ops, 0);
	assert_int_equal(f.n_offers, 3);
	b0 = f.last_batch;
	before = ram_blocks(f.gm);
	/* many steps later (the scanner resting) */
	for (unsigned i = 0; i < 8; i++)
		(void)gmem_share_step(f.gm, s, &ops, NFRAMES);
	assert_int_equal(f.n_offers, 3);

	/* gfn 0: untouched, the late match commits */
	assert_true(gmem_pool_answer(f.gm, 1, b0, 0, 10));
	assert_int_equal(stats(f.gm).frames_pool_shared, 1);
	/* gfn 1: a store since; the late match is refused */
	assert_int_equal(gmem_write(f.gm, RAM_BASE + 1 * PG + 7, &v, 1), 0);
	assert_false(gmem_pool_answer(f.gm, 1, b0, 1, 11));
	assert_int_equal(flags_of(f.gm, 1, NULL), 0);
	assert_int_equal(gmem_read(f.gm, RAM_BASE + 1 * PG, got, PG), 0);
	assert_int_equal(got[7], 0x99);
	/* gfn 2: a store, the same bytes back, offered again in a newer
	 * batch: the late answer to the old one must not commit it (the
	 * new offer's flush may not have happened), the new one may */
	fill(f.gm, 2, 0x52);
	s->rest = 0;
	(void)gmem_share_step(f.gm, s, &ops, NFRAMES); /* protected */
	b1 = gmem_pool_batch(f.gm);
	assert_int_not_equal(b0, b1);
	assert_false(gmem_pool_answer(f.gm, 1, b0, 2, 12));
	assert_true(flags_of(f.gm, 2, NULL) & GMEM_PAGE_READONLY);
	(void)gmem_share_step(f.gm, s, &ops, 0); /* offered in b1 */
	assert_int_equal(f.n_offers, 5);
	/* both refused references go back, each with its batch */
	gmem_pool_send_drops(f.gm);
	assert_int_equal(f.n_drops, 2);
	assert_int_equal(f.drops[0].gfn, 1);
	assert_int_equal(f.drops[0].frame, 11);
	assert_int_equal(f.drops[0].batch, b0);
	assert_int_equal(f.drops[1].gfn, 2);
	assert_int_equal(f.drops[1].batch, b0);
	assert_true(gmem_pool_answer(f.gm, 1, b1, 2, 12));
	assert_int_equal(stats(f.gm).frames_pool_shared, 2);

	/* the late commits' slots go back after the flushes */
	for (unsigned i = 0; i < 3; i++)
		(void)gmem_share_step(f.gm, s, &ops, 0);
	assert_true(before - ram_blocks(f.gm) >= (blkcnt_t)(PG / 512));
	assert_int_equal(gmem_read(f.gm, RAM_BASE, got, PG), 0);
	assert_int_equal(got[0], 0x50);
	/* a COW break gives the reference back with the commit's batch */
	assert_int_equal(gmem_write(f.gm, RAM_BASE + 5, &v, 1), 0);
	gmem_pool_send_drops(f.gm);
	assert_int_equal(f.n_drops, 3);
	assert_int_equal(f.drops[2].gfn, 0);
	assert_int_equal(f.drops[2].frame, 10);
	assert_int_equal(f.drops[2].batch, b0);
	gmem_share_abort(f.gm, s);
	fake_fini(&f);
	free(s);
}

/* Writer threads (device-like bulk stores, and harts' stores through
 * gmem_page: pooled frames are never cached, so each store looks up)
 * race the scanner, whose fake daemon answers every offer with a copy;
 * until 50 COW breaks of pooled frames, no store may be lost. */
#define RACE_PAGES 32
struct race {
	struct fake *f;
	unsigned id;
	atomic_bool stop;
	uint64_t last[RACE_PAGES / 2];
};

/* Writers between their gmem_page() and their store: a flush is done
 * only when none is (no store through an old pointer can land later). */
static _Atomic int writers_busy;

static bool writers_flushed(void *opaque)
{
	(void)opaque;
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load(&writers_busy) == 0;
}

static void *writer(void *arg)
{
	struct race *r = arg;
	uint64_t v = 0;

	while (!atomic_load(&r->stop)) {
		for (unsigned k = 0; k < RACE_PAGES / 2; k++) {
			uint64_t gfn = r->id * (RACE_PAGES / 2) + k;
			uint64_t gpa = RAM_BASE + gfn * PG + 8 * r->id;

			v++;
			if (v & 1) {
				assert_int_equal(
					gmem_write(r->f->gm, gpa, &v, 8), 0);
			} else {
				/* as a hart's store: the owner's flush waits
				 * until it is done (writers_flushed) */
				unsigned fl;
				atomic_fetch_add(&writers_busy, 1);
				uint8_t *p = gmem_page(r->f->gm, gpa,
						       GMEM_WRITE, &fl);
				memcpy(p + 8 * r->id, &v, 8);
				atomic_fetch_sub(&writers_busy, 1);
			}
			r->last[k] = v;
		}
		/* idle a while: frames must stay put long enough to be
		 * offered and committed */
		for (volatile unsigned i = 0; i < 200000; i++)
			;
	}
	return NULL;
}

static void test_race_writers(void **state)
{
	struct fake f;
	struct gmem_share *s = calloc(1, sizeof(*s));
	const struct gmem_share_ops ops = { no_flush, writers_flushed, NULL };
	struct race r[2];
	pthread_t t[2];
	unsigned steps = 0;

	(void)state;
	fake_init(&f);
	f.answer_at_once = true;
	f.racing = true;
	for (uint64_t g = 0; g < RACE_PAGES; g++)
		fill(f.gm, g, 0x77);
	for (unsigned i = 0; i < 2; i++) {
		r[i].f = &f;
		r[i].id = i;
		/* what fill() wrote there: a writer that the scheduler starts
		 * late may not store before the others reach the goal */
		for (unsigned k = 0; k < RACE_PAGES / 2; k++)
			r[i].last[k] = 0x7777777777777777ULL;
		atomic_init(&r[i].stop, false);
		assert_int_equal(pthread_create(&t[i], NULL, writer, &r[i]), 0);
	}
	while (stats(f.gm).pool_cow_breaks < 50 && steps < 2000000) {
		(void)gmem_share_step(f.gm, s, &ops, RACE_PAGES);
		steps++;
	}
	for (unsigned i = 0; i < 2; i++) {
		atomic_store(&r[i].stop, true);
		pthread_join(t[i], NULL);
	}
	assert_true(stats(f.gm).pool_cow_breaks >= 50);
	for (unsigned i = 0; i < 2; i++)
		for (unsigned k = 0; k < RACE_PAGES / 2; k++) {
			uint64_t gfn = i * (RACE_PAGES / 2) + k, v;
			assert_int_equal(gmem_read(f.gm,
						   RAM_BASE + gfn * PG + 8 * i,
						   &v, 8),
					 0);
			assert_true(v == r[i].last[k]);
		}
	gmem_share_abort(f.gm, s);
	fake_fini(&f);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_and_cow),
		cmocka_unit_test(test_cached_reads),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_late_answer),
		cmocka_unit_test(test_unmatched_stays_offered),
		cmocka_unit_test(test_late_match),
		cmocka_unit_test(test_race_writers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
