/* Unit tests for page sharing (src/mem/share.c): zero frames go back to the
 * shared zero frame in two phases, writes in between cancel, DMA pins keep
 * frames private, a write after the commit breaks the sharing, the scan
 * rests on a VM where it finds nothing, and writers racing the scanner
 * never lose a store. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "mem/gmem.h"
#include "share_owner.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)
#define PG	 GUEST_PAGE_SIZE
#define NFRAMES	 (RAM_SIZE / PG)

static struct gmem *new_gmem(void)
{
	struct error err = { 0 };
	struct gmem *gm = gmem_create(RAM_BASE, RAM_SIZE, &err);

	assert_non_null(gm);
	return gm;
}

static struct gmem_stats stats(const struct gmem *gm)
{
	struct gmem_stats st;

	gmem_get_stats(gm, &st);
	return st;
}

static uint64_t gpa_of(uint64_t gfn)
{
	return RAM_BASE + gfn * PG;
}

/* Make gfn private and fill it with byte b. */
static void fill(struct gmem *gm, uint64_t gfn, uint8_t b)
{
	uint8_t buf[PG];

	memset(buf, b, sizeof(buf));
	assert_int_equal(gmem_write(gm, gpa_of(gfn), buf, sizeof(buf)), 0);
}

static unsigned flags_of(struct gmem *gm, uint64_t gfn)
{
	unsigned flags = 0;

	assert_non_null(gmem_page(gm, gpa_of(gfn), GMEM_READ, &flags));
	return flags;
}

static bool resident(struct gmem *gm, uint64_t gfn)
{
	/* The slot of a private frame is what gmem_page(WRITE) returns; ask
	 * for the read view so the frame stays as it is. */
	uint8_t *p = gmem_page(gm, gpa_of(gfn), GMEM_READ, NULL);
	unsigned char v = 0;

	assert_int_equal(mincore(p, PG, &v), 0);
	return v & 1;
}

static void test_zero_frame_is_shared(void **state)
{
	struct gmem *gm = new_gmem();
	struct gmem_stats st;
	uint8_t buf[8];

	(void)state;
	fill(gm, 3, 0);	   /* private, all zeros: shareable */
	fill(gm, 4, 0x5a); /* private, not zero */
	assert_int_equal(stats(gm).frames_private, 2);
	assert_true(resident(gm, 3));

	assert_true(gmem_share_protect_zero(gm, 3));
	assert_false(gmem_share_protect_zero(gm, 4));
	assert_false(gmem_share_protect_zero(gm, 5)); /* never written */
	assert_false(gmem_share_protect_zero(gm, NFRAMES));
	/* protected: read-only, not (yet) the zero frame */
	assert_int_equal(flags_of(gm, 3), GMEM_PAGE_READONLY);
	assert_true(gmem_share_commit_zero(gm, 3));
	assert_int_equal(flags_of(gm, 3), GMEM_PAGE_READONLY | GMEM_PAGE_ZERO);

	st = stats(gm);
	assert_int_equal(st.frames_private, 1);
	assert_int_equal(st.frames_zero_shared, 1);
	assert_int_equal(st.share_scanned, 3);
	assert_int_equal(gmem_read(gm, gpa_of(3) + 100, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0] | buf[7], 0);
	assert_int_equal(gmem_read(gm, gpa_of(4), buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 0x5a);

	/* A write breaks the sharing: private again, the data is there. */
	fill(gm, 3, 0x11);
	st = stats(gm);
	assert_int_equal(st.frames_private, 2);
	assert_int_equal(st.frames_zero_shared, 0);
	assert_int_equal(st.cow_breaks, 1);
	assert_int_equal(flags_of(gm, 3), 0);
	assert_int_equal(gmem_read(gm, gpa_of(3) + PG - 8, buf, sizeof(buf)),
			 0);
	assert_int_equal(buf[7], 0x11);
	gmem_destroy(gm);
}

static void test_commit_returns_memory(void **state)
{
	struct gmem *gm = new_gmem();

	(void)state;
	fill(gm, 7, 0);
	assert_true(resident(gm, 7));
	assert_true(gmem_share_protect_zero(gm, 7));
	assert_true(gmem_share_commit_zero(gm, 7));
	/* The read view is the zero frame now; the slot went to the host:
	 * make it private again with a read-only look at the slot address
	 * through a fresh write mapping, which must read zeros. */
	uint8_t *p = gmem_page(gm, gpa_of(7), GMEM_WRITE, NULL);
	unsigned char v = 1;

	assert_int_equal(mincore(p, PG, &v), 0);
	assert_int_equal(v & 1, 0);
	assert_int_equal(p[0] | p[PG - 1], 0);
	gmem_destroy(gm);
}

static void test_write_between_phases_cancels(void **state)
{
	struct gmem *gm = new_gmem();
	uint8_t b = 0;

	(void)state;
	fill(gm, 9, 0);
	assert_true(gmem_share_protect_zero(gm, 9));
	/* A store comes back through gmem_page (the TLB had no write entry
	 * after the protection) and lifts it. */
	uint8_t *p = gmem_page(gm, gpa_of(9), GMEM_WRITE, NULL);
	p[10] = 0x42;
	assert_false(gmem_share_commit_zero(gm, 9));
	assert_int_equal(gmem_read(gm, gpa_of(9) + 10, &b, 1), 0);
	assert_int_equal(b, 0x42);
	assert_int_equal(stats(gm).frames_zero_shared, 0);
	assert_int_equal(stats(gm).cow_breaks, 0);

	/* Content changed without a store through gmem_page (a stale
	 * pointer the flush should have removed): the commit looks again. */
	fill(gm, 10, 0);
	assert_true(gmem_share_protect_zero(gm, 10));
	p = gmem_page(gm, gpa_of(10), GMEM_READ, NULL);
	p[0] = 1; /* the slot is still mapped writable in the host */
	assert_false(gmem_share_commit_zero(gm, 10));
	assert_int_equal(flags_of(gm, 10), 0); /* protection lifted */

	/* unprotect without a commit */
	fill(gm, 11, 0);
	assert_true(gmem_share_protect_zero(gm, 11));
	gmem_share_unprotect(gm, 11);
	assert_int_equal(flags_of(gm, 11), 0);
	assert_false(gmem_share_commit_zero(gm, 11));
	gmem_destroy(gm);
}

static void test_dma_pins_keep_frames(void **state)
{
	struct gmem *gm = new_gmem();
	struct iovec iov[4];
	int n;

	(void)state;
	fill(gm, 20, 0);
	fill(gm, 21, 0);
	/* pinned before the scanner looks: not protected */
	n = gmem_dma_map(gm, gpa_of(20) + 100, PG, GMEM_READ, iov, 4);
	assert_true(n >= 1);
	assert_false(gmem_share_protect_zero(gm, 20));
	assert_false(gmem_share_protect_zero(gm, 21));
	gmem_dma_unpin(gm, gpa_of(20) + 100, PG);
	assert_true(gmem_share_protect_zero(gm, 20));

	/* pinned between the phases: the commit leaves it alone */
	n = gmem_dma_map(gm, gpa_of(20), 8, GMEM_READ, iov, 4);
	assert_int_equal(n, 1);
	assert_false(gmem_share_commit_zero(gm, 20));
	gmem_dma_unpin(gm, gpa_of(20), 8);
	assert_true(gmem_share_protect_zero(gm, 20));
	assert_true(gmem_share_commit_zero(gm, 20));

	/* a failed map pins nothing */
	fill(gm, 30, 0);
	fill(gm, 32, 0);
	n = gmem_dma_map(gm, gpa_of(30), 3 * PG, GMEM_READ, iov, 1);
	assert_int_equal(n, -ENOBUFS);
	assert_true(gmem_share_protect_zero(gm, 30));
	assert_true(gmem_share_protect_zero(gm, 32));
	gmem_destroy(gm);
}

/* A fake owner: flush() asks, done is set by the test. */
struct fake_owner {
	unsigned flushes;
	bool done;
};

static void fake_flush(void *opaque)
{
	struct fake_owner *o = opaque;

	o->flushes++;
	o->done = false;
}

static bool fake_flushed(void *opaque)
{
	return ((struct fake_owner *)opaque)->done;
}

static void test_step_waits_for_the_flush(void **state)
{
	struct gmem *gm = new_gmem();
	struct gmem_share *s = calloc(1, sizeof(*s));
	struct fake_owner o = { 0 };
	const struct gmem_share_ops ops = { fake_flush, fake_flushed, &o };

	(void)state;
	assert_non_null(s);
	for (uint64_t g = 0; g < 16; g++)
		fill(gm, g, g % 2 ? 0x33 : 0); /* 8 zero, 8 not */
	assert_int_equal(gmem_share_step(gm, s, &ops, 16), 0);
	assert_int_equal(o.flushes, 1);
	assert_int_equal(s->n, 8);
	/* no flush yet: nothing committed, and after 8 steps given up */
	for (int i = 0; i < 7; i++)
		assert_int_equal(gmem_share_step(gm, s, &ops, 0), 0);
	assert_int_equal(s->n, 8);
	assert_int_equal(gmem_share_step(gm, s, &ops, 0), 0);
	assert_int_equal(s->n, 0);
	assert_int_equal(flags_of(gm, 0), 0); /* unprotected */

	/* again, with the flush done: 8 shared */
	s->cursor = 0;
	assert_int_equal(gmem_share_step(gm, s, &ops, 16), 0);
	o.done = true;
	assert_int_equal(gmem_share_step(gm, s, &ops, 0), 8);
	assert_int_equal(stats(gm).frames_zero_shared, 8);
	assert_int_equal(stats(gm).frames_private, 8);

	/* abort lifts a batch in flight */
	fill(gm, 40, 0);
	s->cursor = 40;
	assert_int_equal(gmem_share_step(gm, s, &ops, 1), 0);
	assert_int_equal(s->n, 1);
	gmem_share_abort(gm, s);
	assert_int_equal(flags_of(gm, 40), 0);
	free(s);
	gmem_destroy(gm);
}

static uint64_t scanned(const struct gmem *gm)
{
	return stats(gm).share_scanned;
}

static struct gmem_share *new_scanner(void)
{
	struct gmem_share *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	return s;
}

/* A pass that found next to nothing (under a 256th of the VM: 1 frame
 * here) rests as many steps as it took, then three times as many; new
 * private frames end a rest, and a pass that finds something again
 * scans without rest. */
static void test_idle_pass_rests(void **state)
{
	struct gmem *gm = new_gmem();
	struct gmem_share *s = new_scanner();
	const struct gmem_share_ops ops = { no_flush, always_flushed, NULL };
	const unsigned quarter = NFRAMES / 4;

	(void)state;
	for (uint64_t g = 0; g < NFRAMES / 2; g++)
		fill(gm, g, 0x5a);
	for (int i = 0; i < 4; i++) /* the first pass: nothing */
		(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), NFRAMES);
	for (int i = 0; i < 4; i++) /* rests as long */
		(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), NFRAMES);
	for (int i = 0; i < 4; i++) /* the second pass */
		(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), 2 * NFRAMES);
	for (int i = 0; i < 12; i++) /* rests three times as long */
		(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), 2 * NFRAMES);
	(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), 2 * NFRAMES + quarter);

	/* into the next rest (7 passes' worth); the guest takes 4 frames
	 * (two of them zero): the rest ends at the next step */
	for (int i = 0; i < 3; i++)
		(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(s->idle_passes, 3);
	(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), 3 * NFRAMES);
	for (uint64_t g = NFRAMES / 2; g < NFRAMES / 2 + 4; g++) {
		fill(gm, g, 0x11);
		if (g % 2 == 0)
			fill(gm, g, 0);
	}
	(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), 3 * NFRAMES + quarter);
	/* this pass finds the two zero frames: no rest after it */
	for (int i = 0; i < 3; i++)
		(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(s->idle_passes, 0);
	assert_int_equal(stats(gm).frames_zero_shared, 2);
	(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), 4 * NFRAMES + quarter);
	gmem_share_abort(gm, s);
	free(s);
	gmem_destroy(gm);
}

/* Only frames shared count as finds, not frames protected: zero frames
 * that the guest writes again before the commit leave the pass idle,
 * and the scanner rests after it. */
static void test_protected_is_no_find(void **state)
{
	struct gmem *gm = new_gmem();
	struct gmem_share *s = new_scanner();
	const struct gmem_share_ops ops = { no_flush, always_flushed, NULL };
	const unsigned quarter = NFRAMES / 4;

	(void)state;
	for (uint64_t g = 0; g < NFRAMES; g++)
		fill(gm, g, 0x5a);
	for (uint64_t g = 0; g < 8; g++)
		fill(gm, g, 0);			     /* private zero frames */
	(void)gmem_share_step(gm, s, &ops, quarter); /* 8 protected */
	for (uint64_t g = 0; g < 8; g++)
		fill(gm, g, 0x11); /* written before the commit */
	for (int i = 0; i < 3; i++)
		(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), NFRAMES);
	assert_int_equal(stats(gm).frames_zero_shared, 0);
	assert_int_equal(s->idle_passes, 1);
	for (int i = 0; i < 4; i++) /* rests as long as the pass */
		(void)gmem_share_step(gm, s, &ops, quarter);
	assert_int_equal(scanned(gm), NFRAMES);
	gmem_share_abort(gm, s);
	free(s);
	gmem_destroy(gm);
}

/* ---- writers racing the scanner ------------------------------------------ */

/*
 * Each writer models a hart: it keeps a cached write pointer per frame (its
 * TLB), drops all of them when the owner asks for a flush and acknowledges.
 * It writes a counter, or every third round zeros, to its frames in turn and
 * remembers the last value; at the end every frame must hold it. The
 * scanner runs until writes have broken its sharing many times. Writers
 * look at flush requests only now and then, as harts do between blocks.
 */
#define WRITERS	    2
#define W_FRAMES    32
#define COW_WANTED  20
#define STEPS_LIMIT 100000 /* 100 us apart: at most ~20 s */

struct race {
	struct gmem *gm;
	_Atomic unsigned flush_gen;
	_Atomic unsigned ack[WRITERS];
	_Atomic bool stop;
};

struct writer {
	struct race *r;
	unsigned id;
	uint64_t last[W_FRAMES];
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t *tlb[W_FRAMES] = { 0 };

	for (unsigned f = 0; f < W_FRAMES; f++)
		w->last[f] = 1; /* not written yet: write it */
	unsigned seen = 0;

	for (uint64_t i = 0; !atomic_load(&w->r->stop); i++) {
		unsigned gen = atomic_load(&w->r->flush_gen);
		unsigned f = i % W_FRAMES;
		uint64_t gfn = w->id * W_FRAMES + f;
		/* a quarter of the time a frame is zero and left alone */
		bool idle = ((i / (W_FRAMES * 512)) + f) % 4 == 0;
		uint64_t v = idle ? 0 : i + 1;

		/* a hart looks at its requests between blocks, which may be
		 * long */
		if (i % 4096 == 0 && gen != seen) {
			memset(tlb, 0, sizeof(tlb));
			seen = gen;
			atomic_store(&w->r->ack[w->id], gen);
		}
		if (idle && w->last[f] == 0)
			continue;
		if (!tlb[f])
			tlb[f] = gmem_page(w->r->gm, gpa_of(gfn), GMEM_WRITE,
					   NULL);
		atomic_store_explicit(
			(_Atomic uint64_t *)(void *)(tlb[f] + 8 * f), v,
			memory_order_relaxed);
		w->last[f] = v;
	}
	atomic_store(&w->r->ack[w->id], UINT32_MAX); /* parked */
	return NULL;
}

static void race_flush(void *opaque)
{
	atomic_fetch_add(&((struct race *)opaque)->flush_gen, 1);
}

static bool race_flushed(void *opaque)
{
	struct race *r = opaque;
	unsigned gen = atomic_load(&r->flush_gen);

	for (unsigned i = 0; i < WRITERS; i++) {
		unsigned a = atomic_load(&r->ack[i]);

		if (a != gen && a != UINT32_MAX)
			return false;
	}
	return true;
}

static void test_racing_writers_lose_nothing(void **state)
{
	struct race r = { .gm = new_gmem() };
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	struct gmem_share *s = calloc(1, sizeof(*s));
	const struct gmem_share_ops ops = { race_flush, race_flushed, &r };
	struct gmem_stats st;

	(void)state;
	assert_non_null(s);
	for (unsigned i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .r = &r, .id = i };
		assert_int_equal(
			pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (unsigned n = 0; n < STEPS_LIMIT; n++) {
		s->rest = 0; /* scan all the time: the race is the point */
		(void)gmem_share_step(r.gm, s, &ops, WRITERS * W_FRAMES);
		if (stats(r.gm).cow_breaks >= COW_WANTED)
			break;
		usleep(100);
	}
	atomic_store(&r.stop, true);
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	gmem_share_abort(r.gm, s);
	for (unsigned i = 0; i < WRITERS; i++)
		for (unsigned f = 0; f < W_FRAMES; f++) {
			uint64_t v = 1;

			assert_int_equal(
				gmem_read(r.gm,
					  gpa_of(i * W_FRAMES + f) + 8 * f, &v,
					  sizeof(v)),
				0);
			assert_int_equal(v, w[i].last[f]);
		}
	st = stats(r.gm);
	assert_true(st.cow_breaks >= COW_WANTED);
	assert_int_equal(st.frames_zero_shared + st.frames_private,
			 WRITERS * W_FRAMES);
	free(s);
	gmem_destroy(r.gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_frame_is_shared),
		cmocka_unit_test(test_commit_returns_memory),
		cmocka_unit_test(test_write_between_phases_cancels),
		cmocka_unit_test(test_dma_pins_keep_frames),
		cmocka_unit_test(test_step_waits_for_the_flush),
		cmocka_unit_test(test_idle_pass_rests),
		cmocka_unit_test(test_protected_is_no_find),
		cmocka_unit_test(test_racing_writers_lose_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
