/* Unit tests for compression and swap (src/mem/reclaim.c): pages go out
 * compressed or to the swap file and come back intact on any access, swap
 * slots are reused, touched and pinned frames stay, a release to zero
 * frees the copy, the scanner keeps a VM at its limit, and two threads
 * that model harts (cached TLB pointers, flushed only between "blocks")
 * never read a stale value while the reclaimer takes their frames. */
#include <errno.h>
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

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)
#define PG	 GUEST_PAGE_SIZE
#define NFRAMES	 (RAM_SIZE / PG)

static uint64_t gpa_of(uint64_t gfn)
{
	return RAM_BASE + gfn * PG;
}

static struct gmem_stats stats(const struct gmem *gm)
{
	struct gmem_stats st;

	gmem_get_stats(gm, &st);
	return st;
}

/* A scratch swap file, already unlinked. */
static int swap_file(void)
{
	char path[] = "/tmp/sv-test-swap-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	/* garbage from "a previous run": setup must truncate it */
	assert_int_equal(write(fd, "junk", 4), 4);
	return fd;
}

static struct gmem *new_gmem(uint64_t limit, int swap_fd)
{
	struct error err = { 0 };
	struct gmem *gm = gmem_create(RAM_BASE, RAM_SIZE, &err);

	assert_non_null(gm);
	assert_int_equal(gmem_reclaim_setup(gm, limit, swap_fd, &err), 0);
	return gm;
}

/* Compressible content: a few words that name the frame and a seed. */
static void fill_text(uint8_t *p, uint64_t gfn, uint64_t seed)
{
	memset(p, 0, PG);
	for (unsigned i = 0; i < PG; i += 64)
		snprintf((char *)p + i, 64, "frame %llu seed %llu",
			 (unsigned long long)gfn, (unsigned long long)seed);
}

/* Incompressible content: xorshift noise. */
static void fill_noise(uint8_t *p, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (unsigned i = 0; i < PG; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

static void put(struct gmem *gm, uint64_t gfn, const uint8_t *buf)
{
	assert_int_equal(gmem_write(gm, gpa_of(gfn), buf, PG), 0);
}

static void check(struct gmem *gm, uint64_t gfn, const uint8_t *want)
{
	uint8_t got[PG];

	assert_int_equal(gmem_read(gm, gpa_of(gfn), got, PG), 0);
	assert_memory_equal(got, want, PG);
}

/* Is the host page at p backed by memory? */
static bool resident(const uint8_t *p)
{
	unsigned char v = 0;

	assert_int_equal(mincore((void *)(uintptr_t)p, PG, &v), 0);
	return v & 1;
}

/* probe, commit, release: what the scanner does across two flushes. */
static enum gmem_reclaim_result reclaim(struct gmem *gm, uint64_t gfn)
{
	enum gmem_reclaim_result r;

	assert_true(gmem_reclaim_probe(gm, gfn));
	r = gmem_reclaim_commit(gm, gfn);
	if (r == GMEM_RECLAIM_OUT)
		assert_true(gmem_reclaim_release(gm, gfn));
	return r;
}

static void test_compress_round_trip(void **state)
{
	struct gmem *gm = new_gmem(64 * PG, -1);
	uint8_t buf[16][PG];
	uint8_t *slot[16];
	struct gmem_stats st;
	uint64_t priv;

	(void)state;
	for (uint64_t g = 0; g < 16; g++) {
		fill_text(buf[g], g, 7);
		put(gm, g, buf[g]);
		slot[g] = gmem_page(gm, gpa_of(g), GMEM_WRITE, NULL);
		assert_true(resident(slot[g]));
	}
	priv = stats(gm).frames_private;
	for (uint64_t g = 0; g < 16; g++) {
		assert_int_equal(reclaim(gm, g), GMEM_RECLAIM_OUT);
		assert_false(resident(slot[g])); /* the memory went back */
	}
	st = stats(gm);
	assert_int_equal(st.frames_compressed, 16);
	assert_int_equal(st.frames_private, priv - 16);
	assert_true(st.bytes_compressed > 0 &&
		    st.bytes_compressed < 16 * PG / 2);
	/* reads bring them back, writes too */
	for (uint64_t g = 0; g < 8; g++)
		check(gm, g, buf[g]);
	for (uint64_t g = 8; g < 16; g++) {
		uint8_t *p = gmem_page(gm, gpa_of(g), GMEM_WRITE, NULL);

		assert_non_null(p);
		assert_memory_equal(p, buf[g], PG);
	}
	st = stats(gm);
	assert_int_equal(st.decompressions, 16);
	assert_int_equal(st.frames_compressed, 0);
	assert_int_equal(st.bytes_compressed, 0);
	assert_int_equal(st.frames_private, priv);
	gmem_destroy(gm);
}

static void test_incompressible_stays_without_swap(void **state)
{
	struct gmem *gm = new_gmem(64 * PG, -1);
	uint8_t buf[PG];

	(void)state;
	fill_noise(buf, 3);
	put(gm, 5, buf);
	assert_int_equal(reclaim(gm, 5), GMEM_RECLAIM_KEPT);
	assert_int_equal(stats(gm).reclaim_kept, 1);
	assert_int_equal(stats(gm).frames_private, 1);
	check(gm, 5, buf);
	/* and it can be probed again: the commit put it back private */
	assert_true(gmem_reclaim_probe(gm, 5));
	gmem_reclaim_unprobe(gm, 5);
	gmem_destroy(gm);
}

static void test_swap_round_trip_and_slot_reuse(void **state)
{
	int fd = swap_file();
	struct gmem *gm = new_gmem(64 * PG, fd);
	uint8_t buf[8][PG];
	struct stat sb;

	(void)state;
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_size, 0); /* truncated: scratch */
	for (uint64_t g = 0; g < 8; g++) {
		fill_noise(buf[g], g + 100);
		put(gm, g, buf[g]);
	}
	for (uint64_t g = 0; g < 3; g++)
		assert_int_equal(reclaim(gm, g), GMEM_RECLAIM_OUT);
	assert_int_equal(stats(gm).frames_swapped, 3);
	assert_int_equal(gmem_swap_slots_top(gm), 3);
	assert_int_equal(gmem_swap_slots_used(gm), 3);
	check(gm, 1, buf[1]); /* frees slot 1 */
	assert_int_equal(stats(gm).swap_ins, 1);
	assert_int_equal(gmem_swap_slots_used(gm), 2);
	/* the next page out takes the freed slot: the file does not grow */
	assert_int_equal(reclaim(gm, 4), GMEM_RECLAIM_OUT);
	assert_int_equal(gmem_swap_slots_top(gm), 3);
	assert_int_equal(gmem_swap_slots_used(gm), 3);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_true(sb.st_size <= (off_t)(3 * PG));
	check(gm, 0, buf[0]);
	check(gm, 2, buf[2]);
	check(gm, 4, buf[4]);
	assert_int_equal(stats(gm).frames_swapped, 0);
	assert_int_equal(stats(gm).swap_ins, 4);
	gmem_destroy(gm);
	close(fd);
}

static void test_touched_frames_stay(void **state)
{
	struct gmem *gm = new_gmem(64 * PG, -1);
	uint8_t buf[PG];
	unsigned flags = 0;

	(void)state;
	fill_text(buf, 9, 1);
	put(gm, 9, buf);
	assert_true(gmem_reclaim_probe(gm, 9));
	/* while probed, nothing may cache it (hart TLBs must come back) */
	(void)gmem_page(gm, gpa_of(9) + 100, GMEM_READ, &flags);
	assert_int_equal(flags, 0); /* the read ended the probe */
	assert_int_equal(gmem_reclaim_commit(gm, 9), GMEM_RECLAIM_TOUCHED);
	assert_int_equal(stats(gm).reclaim_touched, 1);
	check(gm, 9, buf);
	/* probed frames hand out "read-only, do not cache" */
	assert_true(gmem_reclaim_probe(gm, 9));
	assert_true(gmem_reclaim_commit(gm, 9) == GMEM_RECLAIM_OUT);
	/* out but still held: a fault just drops the copy */
	check(gm, 9, buf);
	assert_int_equal(stats(gm).decompressions, 0);
	assert_int_equal(stats(gm).frames_compressed, 0);
	assert_false(gmem_reclaim_release(gm, 9));
	gmem_destroy(gm);
}

static void test_dma_pinned_frames_are_never_reclaimed(void **state)
{
	int fd = swap_file();
	struct gmem *gm = new_gmem(64 * PG, fd);
	uint8_t buf[PG];
	struct iovec iov[2];

	(void)state;
	fill_text(buf, 3, 3);
	put(gm, 3, buf);
	put(gm, 4, buf);
	/* pinned before the probe: not even probed */
	assert_int_equal(gmem_dma_map(gm, gpa_of(3), PG, GMEM_READ, iov, 2), 1);
	assert_false(gmem_reclaim_probe(gm, 3));
	/* pinned between probe and commit (a device mapped it meanwhile):
	 * the commit sees the pin and keeps it */
	assert_true(gmem_reclaim_probe(gm, 4));
	assert_int_equal(gmem_dma_map(gm, gpa_of(4), PG, GMEM_WRITE, iov, 2),
			 1);
	/* the map was an access: the probe is over */
	assert_int_equal(gmem_reclaim_commit(gm, 4), GMEM_RECLAIM_TOUCHED);
	assert_true(gmem_reclaim_probe(gm, 4) == false);
	/* the device writes through its mapping; nothing was taken */
	memset(iov[0].iov_base, 0x5a, 16);
	gmem_dma_unpin(gm, gpa_of(3), PG);
	gmem_dma_unpin(gm, gpa_of(4), PG);
	memset(buf, 0x5a, 16);
	check(gm, 4, buf);
	assert_int_equal(stats(gm).frames_compressed, 0);
	assert_int_equal(stats(gm).frames_swapped, 0);
	/* unpinned, they go */
	assert_int_equal(reclaim(gm, 3), GMEM_RECLAIM_OUT);
	assert_int_equal(reclaim(gm, 4), GMEM_RECLAIM_OUT);
	gmem_destroy(gm);
	close(fd);
}

static void test_zero_and_release(void **state)
{
	int fd = swap_file();
	struct gmem *gm = new_gmem(64 * PG, fd);
	uint8_t buf[PG], zero[PG] = { 0 };

	(void)state;
	put(gm, 1, zero); /* private, all zeros */
	assert_int_equal(reclaim(gm, 1), GMEM_RECLAIM_ZERO);
	assert_int_equal(stats(gm).frames_zero_shared, 1);
	/* the balloon gives out frames back: their copies go */
	fill_text(buf, 2, 2);
	put(gm, 2, buf);
	fill_noise(buf, 4);
	put(gm, 3, buf);
	assert_int_equal(reclaim(gm, 2), GMEM_RECLAIM_OUT);
	assert_int_equal(reclaim(gm, 3), GMEM_RECLAIM_OUT);
	assert_int_equal(gmem_release_page(gm, gpa_of(2)), 0);
	assert_int_equal(gmem_release_page(gm, gpa_of(3)), 0);
	assert_int_equal(stats(gm).frames_compressed, 0);
	assert_int_equal(stats(gm).frames_swapped, 0);
	assert_int_equal(gmem_swap_slots_used(gm), 0);
	check(gm, 2, zero);
	check(gm, 3, zero);
	/* a probed frame and a held one released too */
	put(gm, 5, buf);
	assert_true(gmem_reclaim_probe(gm, 5));
	assert_int_equal(gmem_release_page(gm, gpa_of(5)), 0);
	put(gm, 6, buf);
	assert_true(gmem_reclaim_probe(gm, 6));
	assert_int_equal(gmem_reclaim_commit(gm, 6), GMEM_RECLAIM_OUT);
	assert_int_equal(gmem_release_page(gm, gpa_of(6)), 0);
	check(gm, 5, zero);
	check(gm, 6, zero);
	assert_int_equal(stats(gm).frames_private, 0);
	gmem_destroy(gm);
	close(fd);
}

/* ---- the scanner at a limit, with two "harts" --------------------------- */

/*
 * Each hart keeps a TLB: cached read and write pointers per frame, filled
 * only when gmem_page's flags allow, dropped when the owner asks for a
 * flush, which it acknowledges between "blocks" (every 64 accesses). It
 * writes a new value to one word of a frame of its working set or reads
 * one back and checks it against what it last wrote there. Half its frames start as
 * noise (they go to swap), half as text (compressed).
 */
#define HARTS	    2
#define H_FRAMES    48
#define LIMIT	    16 /* frames: far below what the harts touch */
#define BACK_WANTED 100
#define STEPS_LIMIT 100000

struct race {
	struct gmem *gm;
	_Atomic unsigned flush_gen;
	_Atomic unsigned ack[HARTS];
	_Atomic bool stop;
	_Atomic unsigned bad;
};

struct hart_sim {
	struct race *r;
	unsigned id;
	uint64_t last[H_FRAMES]; /* value of word (frame % 512) */
	uint8_t init[H_FRAMES][PG];
};

static uint64_t *word(uint8_t *page, unsigned f)
{
	return (uint64_t *)(void *)(page + 8 * (f % 512));
}

static void *hart_main(void *arg)
{
	struct hart_sim *h = arg;
	uint8_t *rd[H_FRAMES] = { 0 }, *wr[H_FRAMES] = { 0 };
	unsigned seen = 0;
	uint64_t x = h->id + 1;

	for (uint64_t i = 0; !atomic_load(&h->r->stop); i++) {
		if (i % 64 == 0) {
			unsigned gen = atomic_load(&h->r->flush_gen);

			if (gen != seen) {
				memset(rd, 0, sizeof(rd));
				memset(wr, 0, sizeof(wr));
				seen = gen;
				atomic_store(&h->r->ack[h->id], gen);
			}
		}
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* a working set of 8 frames that moves on now and then:
		 * the frames it left go cold and out, and come back when it
		 * returns */
		unsigned f = (unsigned)((i / 4096 * 8 + x % 8) % H_FRAMES);
		uint64_t gpa = gpa_of(h->id * H_FRAMES + f);
		unsigned flags;
		uint8_t *p;

		if (x & (1ULL << 40)) {
			p = wr[f];
			if (!p) {
				p = gmem_page(h->r->gm, gpa, GMEM_WRITE,
					      &flags);
				if (!(flags &
				      (GMEM_PAGE_READONLY | GMEM_PAGE_ZERO)))
					wr[f] = p;
			}
			h->last[f] = i;
			atomic_store_explicit((_Atomic uint64_t *)word(p, f), i,
					      memory_order_relaxed);
		} else {
			p = rd[f];
			if (!p) {
				p = gmem_page(h->r->gm, gpa, GMEM_READ, &flags);
				if (!(flags & GMEM_PAGE_ZERO))
					rd[f] = p;
			}
			uint64_t v = atomic_load_explicit(
				(_Atomic uint64_t *)word(p, f),
				memory_order_relaxed);
			if (v != h->last[f])
				atomic_fetch_add(&h->r->bad, 1);
		}
	}
	atomic_store(&h->r->ack[h->id], UINT32_MAX); /* parked */
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

	for (unsigned i = 0; i < HARTS; i++) {
		unsigned a = atomic_load(&r->ack[i]);

		if (a != gen && a != UINT32_MAX)
			return false;
	}
	return true;
}

static void test_harts_racing_the_reclaimer(void **state)
{
	int fd = swap_file();
	struct race r = { .gm = new_gmem(LIMIT * PG, fd) };
	static struct hart_sim h[HARTS];
	pthread_t t[HARTS];
	struct gmem_share *s = calloc(1, sizeof(*s));
	const struct gmem_share_ops ops = { race_flush, race_flushed, &r };
	struct gmem_stats st;

	(void)state;
	assert_non_null(s);
	for (unsigned i = 0; i < HARTS; i++) {
		h[i].r = &r;
		h[i].id = i;
		for (unsigned f = 0; f < H_FRAMES; f++) {
			uint64_t gfn = i * H_FRAMES + f;

			if (f % 2)
				fill_noise(h[i].init[f], gfn);
			else
				fill_text(h[i].init[f], gfn, 0);
			memcpy(h[i].init[f] + 8 * (f % 512), &h[i].last[f], 8);
			put(r.gm, gfn, h[i].init[f]);
		}
	}
	for (unsigned i = 0; i < HARTS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hart_main, &h[i]),
				 0);
	for (unsigned n = 0; n < STEPS_LIMIT; n++) {
		(void)gmem_share_step(r.gm, s, &ops, 0);
		st = stats(r.gm);
		if (st.decompressions >= BACK_WANTED &&
		    st.swap_ins >= BACK_WANTED)
			break;
		usleep(50);
	}
	atomic_store(&r.stop, true);
	for (unsigned i = 0; i < HARTS; i++)
		pthread_join(t[i], NULL);
	gmem_share_abort(r.gm, s);
	st = stats(r.gm);
	print_message("probed %llu touched %llu decompressions %llu swap-ins "
		      "%llu\n",
		      (unsigned long long)st.reclaim_probed,
		      (unsigned long long)st.reclaim_touched,
		      (unsigned long long)st.decompressions,
		      (unsigned long long)st.swap_ins);
	assert_true(st.decompressions >= BACK_WANTED);
	assert_true(st.swap_ins >= BACK_WANTED);
	assert_int_equal(atomic_load(&r.bad), 0);
	/* every frame holds its initial content but the word its hart last
	 * wrote */
	for (unsigned i = 0; i < HARTS; i++)
		for (unsigned f = 0; f < H_FRAMES; f++) {
			memcpy(h[i].init[f] + 8 * (f % 512), &h[i].last[f], 8);
			check(r.gm, i * H_FRAMES + f, h[i].init[f]);
		}
	/* frames_private counts the frames whose slot holds memory (all
	 * hold non-zero content) */
	{
		uint8_t *base = gmem_page(r.gm, gpa_of(0), GMEM_READ, NULL);
		uint64_t res = 0;

		for (uint64_t g = 0; g < NFRAMES; g++)
			res += resident(base + g * PG);
		assert_int_equal(stats(r.gm).frames_private, res);
	}
	free(s);
	gmem_destroy(r.gm);
	close(fd);
}

/* With nobody touching the frames, the scanner brings the VM (its private
 * frames and its compressed store) to its limit within a few steps and no
 * further. */
static void test_step_keeps_the_limit(void **state)
{
	int fd = swap_file();
	struct gmem *gm = new_gmem(64 * PG, fd);
	struct gmem_share *s = calloc(1, sizeof(*s));
	struct race r = { .gm = gm };
	const struct gmem_share_ops ops = { race_flush, race_flushed, &r };
	uint8_t buf[PG];

	(void)state;
	assert_non_null(s);
	for (unsigned i = 0; i < HARTS; i++)
		r.ack[i] = UINT32_MAX; /* parked harts: always flushed */
	for (uint64_t g = 0; g < NFRAMES; g++) {
		if (g % 3)
			fill_text(buf, g, 5);
		else
			fill_noise(buf, g);
		put(gm, g, buf);
	}
	assert_int_equal(gmem_reclaim_excess(gm), NFRAMES - 64);
	for (unsigned n = 0; n < 10; n++)
		(void)gmem_share_step(gm, s, &ops, 0);
	/* the limit bounds the private frames and the compressed store */
	struct gmem_stats st = stats(gm);
	uint64_t used = st.frames_private + (st.bytes_compressed + PG - 1) / PG;

	assert_int_equal(gmem_reclaim_excess(gm), 0);
	assert_true(used <= 64 && used >= 60);
	assert_int_equal(st.frames_compressed + st.frames_swapped,
			 NFRAMES - st.frames_private);
	for (uint64_t g = 0; g < NFRAMES; g++) {
		if (g % 3)
			fill_text(buf, g, 5);
		else
			fill_noise(buf, g);
		check(gm, g, buf);
	}
	free(s);
	gmem_destroy(gm);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compress_round_trip),
		cmocka_unit_test(test_incompressible_stays_without_swap),
		cmocka_unit_test(test_swap_round_trip_and_slot_reuse),
		cmocka_unit_test(test_touched_frames_stay),
		cmocka_unit_test(test_dma_pinned_frames_are_never_reclaimed),
		cmocka_unit_test(test_zero_and_release),
		cmocka_unit_test(test_harts_racing_the_reclaimer),
		cmocka_unit_test(test_step_keeps_the_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
