/*
 * FENCE.I after a write by every kind of writer (docs/jit.md, "Seventh
 * pass", "Eighth pass"): a hart keeps its decoded blocks and translations
 * across a FENCE.I only when nobody can have written its code since its
 * last epoch, so each test rewrites a function the hart has run many
 * times (translated and linked with the translator), by a host copy, a
 * DMA write mapping, a bus write (virtqueue ring stores), other harts'
 * plain stores and AMOs (with the board's TLB sync: the epoch is kept on
 * the rounds without a write; without one: never), other harts whose
 * store TLBs held the function's frame writable before it was first
 * decoded, or another hart that then goes away, and checks that the call
 * after the next FENCE.I runs the new code. Both engines.
 *
 * The guest (M-mode, bare) loops: call f; wfi; fence.i; call f. At each
 * wfi (hart_run returns) the test checks what f returned and maybe
 * rewrites f's `li a0, K`.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>

#include "cpu/hart_impl.h"
#include "mem/gmem.h"
#include "mem/gmem_priv.h" /* code_clearing: a hart store's window */
#include "util/vclock.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)
#define CODE	 (RAM_BASE + 0x1000)
#define FUNC	 (RAM_BASE + 0x3000)
#define CODE_B	 (RAM_BASE + 0x5000)
#define CODE_AMO (RAM_BASE + 0x5100)
#define ROUNDS	 40
#define FLAG	 (RAM_BASE + 0x7000)
#define KMAX	 2000 /* fits li's 12-bit immediate */

static uint32_t i_type(unsigned op, unsigned rd, unsigned f3, unsigned rs1,
		       int imm)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 |
	       ((uint32_t)imm & 0xfff) << 20;
}

static uint32_t r_type(unsigned op, unsigned rd, unsigned f3, unsigned rs1,
		       unsigned rs2, unsigned f7)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 | f7 << 25;
}

static uint32_t s_type(unsigned f3, unsigned rs1, unsigned rs2, int imm)
{
	uint32_t u = (uint32_t)imm;
	return 0x23 | (u & 31) << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 |
	       ((u >> 5) & 0x7f) << 25;
}

static uint32_t jal(unsigned rd, int off)
{
	uint32_t u = (uint32_t)off;
	return 0x6f | rd << 7 | ((u >> 12) & 0xff) << 12 |
	       ((u >> 11) & 1) << 20 | ((u >> 1) & 0x3ff) << 21 |
	       ((u >> 20) & 1) << 31;
}

#define WFI	0x10500073u
#define FENCE_I 0x0000100fu

static uint32_t li_a0(int k)
{
	return i_type(0x13, 10, 0, 0, k); /* addi a0, x0, k */
}

/* The loop of hart A (x9 = FUNC). */
static void load_programs(struct gmem *mem)
{
	uint32_t c[] = {
		i_type(0x67, 1, 0, 9, 0),	/* jalr ra, 0(x9) */
		r_type(0x33, 20, 0, 20, 10, 0), /* add x20, x20, a0 */
		WFI,
		FENCE_I,
		i_type(0x67, 1, 0, 9, 0),	/* jalr ra, 0(x9) */
		r_type(0x33, 21, 0, 21, 10, 0), /* add x21, x21, a0 */
		jal(0, -24),			/* j loop */
	};
	uint32_t f[] = { li_a0(1), i_type(0x67, 0, 0, 1, 0) /* ret */ };
	/* the other harts: sw x15, 0(x14); wfi; j back */
	uint32_t b[] = { s_type(2, 14, 15, 0), WFI, jal(0, -8) };
	/* or amoswap.w x0, x15, (x14); wfi; j back */
	uint32_t amo[] = { r_type(0x2f, 0, 2, 14, 15, 1 << 2), WFI,
			   jal(0, -8) };
	assert_int_equal(gmem_write(mem, CODE, c, sizeof(c)), 0);
	assert_int_equal(gmem_write(mem, FUNC, f, sizeof(f)), 0);
	assert_int_equal(gmem_write(mem, CODE_B, b, sizeof(b)), 0);
	assert_int_equal(gmem_write(mem, CODE_AMO, amo, sizeof(amo)), 0);
}

struct rig {
	struct vclock clock;
	struct gmem *mem;
	struct hart *a, *b, *c;
	bool jit;
	struct iovec iov; /* the held DMA mapping of FUNC's page */
	bool mapped;
	unsigned syncs;	 /* rig_sync calls */
	unsigned probes; /* rig_probe calls that found an entry */
};

/*
 * The board's TLB sync (virt.c's tlb_sync) for harts that one thread runs
 * in turn: every hart gets a flush request; the caller (inside hart_run)
 * serves its own, the others are outside hart_run, so theirs stays
 * pending until their next run begins (hart_request_done).
 */
static void rig_sync(void *opaque)
{
	struct rig *r = opaque;
	struct hart *hs[] = { r->a, r->b, r->c };

	r->syncs++;
	for (unsigned i = 0; i < 3; i++)
		if (hs[i])
			hart_request(hs[i], HART_REQ_TLB_FLUSH);
	for (unsigned i = 0; i < 3; i++) {
		if (!hs[i])
			continue;
		if (atomic_load(&hs[i]->in_run))
			hart_service_tlb_flush(hs[i]);
		assert_true(hart_request_done(hs[i], HART_REQ_TLB_FLUSH));
	}
}

/* The board's store probe (virt.c's store_probe): another hart's store
 * TLB, the caller being the hart inside hart_run. */
static bool rig_probe(void *opaque, uint64_t gpa_page)
{
	struct rig *r = opaque;
	struct hart *hs[] = { r->a, r->b, r->c };

	for (unsigned i = 0; i < 3; i++)
		if (hs[i] && !atomic_load(&hs[i]->in_run) &&
		    hart_tlb_maps_store(hs[i], gpa_page)) {
			r->probes++;
			return true;
		}
	return false;
}

static struct hart *make_hart(struct rig *r, uint64_t id, uint64_t pc)
{
	struct hart_config cfg = {
		.hartid = id, .mem = r->mem, .clock = &r->clock, .jit = r->jit
	};
	struct hart *h = hart_create(&cfg, NULL);
	assert_non_null(h);
	hart_reset(h, pc, PRIV_M);
	h->jit_hot = 1;
	return h;
}

enum rig_sync {
	NO_SYNC,    /* a board without a TLB sync */
	SYNC,	    /* every first mark syncs (no store probe) */
	SYNC_PROBE, /* as the board: only when the probe finds an entry */
};

/* harts: 1 (A alone), 2 (B stores) or 3 (B and C store); sync: whether
 * the board's TLB sync is set (other harts' stores are logged) */
static void rig_init(struct rig *r, bool jit, unsigned harts,
		     enum rig_sync sync, uint64_t pc_writers)
{
	memset(r, 0, sizeof(*r));
	vclock_init(&r->clock);
	r->jit = jit;
	r->mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(r->mem);
	if (sync != NO_SYNC)
		gmem_set_tlb_sync(r->mem, rig_sync, r);
	if (sync == SYNC_PROBE)
		gmem_set_store_probe(r->mem, rig_probe);
	load_programs(r->mem);
	r->a = make_hart(r, 0, CODE);
	r->a->s.x[9] = FUNC;
	if (harts >= 2) {
		r->b = make_hart(r, 1, pc_writers);
		r->b->s.x[14] = FUNC;
	}
	if (harts >= 3) {
		r->c = make_hart(r, 2, pc_writers);
		r->c->s.x[14] = FUNC;
	}
}

static void rig_destroy(struct rig *r)
{
	if (r->mapped)
		gmem_dma_unpin(r->mem, FUNC, 8);
	hart_destroy(r->a);
	hart_destroy(r->b);
	hart_destroy(r->c);
	gmem_destroy(r->mem);
}

/* Run hart h up to its next wfi. */
static void run_to_wfi(struct hart *h)
{
	assert_int_equal(hart_run(h, 1000000), HART_RUN_WFI);
}

enum writer {
	W_HOST,	    /* gmem_write: a loader, a device's bulk copy */
	W_DMA,	    /* map, write through the iovec, unpin */
	W_DMA_HELD, /* a write mapping held across the hart's runs */
	W_BUS,	    /* gmem_bus_write: virtqueue ring stores */
	W_HART,	    /* hart B's plain store (its store TLB, after the first) */
	W_HARTS,    /* B and C in turn (rig_init's pc_writers: stores, AMOs) */
};

static void write_func(struct rig *r, enum writer w, int k)
{
	uint32_t insn = li_a0(k);
	switch (w) {
	case W_HOST:
		assert_int_equal(gmem_write(r->mem, FUNC, &insn, 4), 0);
		break;
	case W_DMA:
		assert_int_equal(
			gmem_dma_map(r->mem, FUNC, 4, GMEM_WRITE, &r->iov, 1),
			1);
		memcpy(r->iov.iov_base, &insn, 4);
		gmem_dma_unpin(r->mem, FUNC, 4);
		break;
	case W_DMA_HELD: memcpy(r->iov.iov_base, &insn, 4); break;
	case W_BUS:
		assert_int_equal(gmem_bus_write(r->mem, FUNC, 4, insn), 0);
		break;
	case W_HART:
		r->b->s.x[15] = insn;
		run_to_wfi(r->b);
		break;
	case W_HARTS: {
		struct hart *h = r->c && k % 4 == 0 ? r->c : r->b;
		h->s.x[15] = insn;
		run_to_wfi(h);
		break;
	}
	}
}

/* ROUNDS rounds; the writer rewrites f on every other one (the others
 * check that nothing stale shows and let FENCE.I keep the epoch). */
static void rounds(struct rig *r, enum writer w)
{
	int cur = 1;
	if (w == W_DMA_HELD) {
		/* mapped before f first runs: every read of f is unsure */
		assert_int_equal(
			gmem_dma_map(r->mem, FUNC, 8, GMEM_WRITE, &r->iov, 1),
			1);
		r->mapped = true;
	}
	for (int k = 0; k < ROUNDS; k++) {
		run_to_wfi(r->a);
		assert_int_equal(r->a->s.x[10], (uint64_t)cur);
		if (k % 2 == 0) {
			cur = k + 2;
			write_func(r, w, cur);
		}
	}
	run_to_wfi(r->a);
	assert_int_equal(r->a->s.x[10], (uint64_t)cur);
}

/* A's FENCE.I counts after rounds(): keeps says whether the rounds
 * without a write may keep the epoch. */
static void check_rounds(struct rig *r, bool keeps)
{
	/* the 40 rounds' fence.i, and no more */
	assert_int_equal(r->a->bc.fence_i, ROUNDS);
	if (!keeps) /* another hart may store unseen: never kept */
		assert_int_equal(r->a->bc.fence_i_kept, 0);
	else /* the rounds without a write */
		assert_true(r->a->bc.fence_i_kept >= ROUNDS / 2 - 1);
	print_message("%s: %llu of %d fence.i kept the epoch, %u syncs, "
		      "%u probes found an entry\n",
		      r->jit ? "jit" : "interp",
		      (unsigned long long)r->a->bc.fence_i_kept, ROUNDS,
		      r->syncs, r->probes);
}

/* sync: with the board's TLB sync, both with and without its probe */
static void one_writer(enum writer w, unsigned harts, bool sync,
		       uint64_t pc_writers)
{
	for (int jit = 0; jit < 2; jit++) {
		for (int probe = 0; probe <= sync; probe++) {
			struct rig r;
			rig_init(&r, jit, harts,
				 !sync	 ? NO_SYNC
				 : probe ? SYNC_PROBE
					 : SYNC,
				 pc_writers);
			rounds(&r, w);
			check_rounds(&r,
				     (harts == 1 || sync) && w != W_DMA_HELD);
			rig_destroy(&r);
		}
	}
}

static void test_host_write(void **state)
{
	(void)state;
	one_writer(W_HOST, 1, false, 0);
}

static void test_dma_write(void **state)
{
	(void)state;
	one_writer(W_DMA, 1, false, 0);
}

static void test_dma_write_held(void **state)
{
	(void)state;
	one_writer(W_DMA_HELD, 1, false, 0);
}

static void test_bus_write(void **state)
{
	(void)state;
	one_writer(W_BUS, 1, false, 0);
}

/* No TLB sync (a board without one): B's stores through its TLB are
 * unseen, so nothing is kept. */
static void test_other_hart_unsynced(void **state)
{
	(void)state;
	one_writer(W_HART, 2, false, CODE_B);
}

/* With the board's TLB sync: B's stores reach the slow path and log. */
static void test_other_hart(void **state)
{
	(void)state;
	one_writer(W_HART, 2, true, CODE_B);
}

static void test_other_hart_amo(void **state)
{
	(void)state;
	one_writer(W_HARTS, 2, true, CODE_AMO);
}

/*
 * B and C stored into f's frame before A first decoded it, so their
 * store TLBs map it writable (through the translator's fill too); the
 * first mark's sync must take those entries away, or their later stores
 * would never move the generation.
 */
static void test_other_harts_filled_first(void **state)
{
	(void)state;
	for (int jit = 0; jit < 4; jit++) { /* bit 1: the store probe */
		for (int amo = 0; amo < 2; amo++) {
			struct rig r;
			rig_init(&r, jit & 1, 3, jit & 2 ? SYNC_PROBE : SYNC,
				 amo ? CODE_AMO : CODE_B);
			struct hart *hs[] = { r.b, r.c };
			for (unsigned i = 0; i < 2; i++) {
				/* the same bytes: f still returns 1; twice so
				 * the second runs translated */
				hs[i]->s.x[15] = li_a0(1);
				run_to_wfi(hs[i]);
				run_to_wfi(hs[i]);
				const struct tlb_entry *e =
					&hs[i]->tlb_store[(FUNC >> 12) &
							  (TLB_SIZE - 1)];
				if (!amo) /* AMOs never fill */
					assert_int_equal(
						e->tag,
						FUNC & ~GUEST_PAGE_MASK);
			}
			rounds(&r, W_HARTS);
			check_rounds(&r, true);
			if (!amo) /* B's and C's entries */
				assert_true(r.syncs >= 1);
			/* with the probe, a sync only for an entry it found
			 * (the interpreter's AMOs never fill: none) */
			if (jit & 2)
				assert_int_equal(r.syncs, r.probes);
			if ((jit & 2) && amo && !(jit & 1))
				assert_int_equal(r.syncs, 0);
			rig_destroy(&r);
		}
	}
}

/* Hart B stores into f through its store TLB and is destroyed: A, alone
 * now, must not keep its epoch across the next FENCE.I. */
static void test_other_hart_gone(void **state)
{
	(void)state;
	for (int jit = 0; jit < 2; jit++) {
		struct rig r;
		rig_init(&r, jit, 2, NO_SYNC, CODE_B);
		int cur = 1;
		for (int k = 0; k < 8; k++) {
			run_to_wfi(r.a);
			assert_int_equal(r.a->s.x[10], (uint64_t)cur);
			cur = k + 2;
			/* the first store fills B's store TLB */
			write_func(&r, W_HART, cur);
		}
		hart_destroy(r.b);
		r.b = NULL;
		run_to_wfi(r.a);
		assert_int_equal(r.a->s.x[10], (uint64_t)cur);
		/* alone, nothing written: kept from now on */
		uint64_t kept = r.a->bc.fence_i_kept;
		run_to_wfi(r.a);
		run_to_wfi(r.a);
		assert_int_equal(r.a->s.x[10], (uint64_t)cur);
		assert_true(r.a->bc.fence_i_kept > kept);
		rig_destroy(&r);
	}
}

/* The log itself: marks, pins, the generation. */
static void test_code_log(void **state)
{
	(void)state;
	struct gmem *mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(mem);
	uint64_t g = gmem_code_gen(mem);
	uint32_t v = 1;
	/* writes to frames nobody decoded move nothing */
	assert_int_equal(gmem_write(mem, FUNC, &v, 4), 0);
	assert_int_equal(gmem_release_page(mem, FUNC + 0x1000), 0);
	assert_int_equal(gmem_code_gen(mem), g);
	assert_true(gmem_code_mark(mem, FUNC));
	assert_int_equal(gmem_write(mem, FUNC + 8, &v, 4), 0);
	assert_true(gmem_code_gen(mem) > g);
	g = gmem_code_gen(mem);
	/* a read mapping is no write; a write mapping is, from the map */
	struct iovec iov;
	assert_int_equal(gmem_dma_map(mem, FUNC, 4, GMEM_READ, &iov, 1), 1);
	assert_int_equal(gmem_code_gen(mem), g);
	assert_false(gmem_code_mark(mem, FUNC)); /* pinned: unsure */
	gmem_dma_unpin(mem, FUNC, 4);
	assert_int_equal(gmem_dma_map(mem, FUNC, 4, GMEM_WRITE, &iov, 1), 1);
	assert_true(gmem_code_gen(mem) > g);
	gmem_dma_unpin(mem, FUNC, 4);
	assert_true(gmem_code_mark(mem, FUNC));
	g = gmem_code_gen(mem);
	assert_int_equal(gmem_bus_write(mem, FUNC, 4, 7), 0);
	assert_true(gmem_code_gen(mem) > g);
	g = gmem_code_gen(mem);
	assert_int_equal(gmem_release_page(mem, FUNC), 0);
	assert_true(gmem_code_gen(mem) > g);
	/* a hart's store outside its TLB: moves it and unmarks, once */
	assert_true(gmem_code_mark(mem, FUNC));
	assert_true(gmem_code_marked(mem, FUNC));
	g = gmem_code_gen(mem);
	gmem_code_store(mem, FUNC + 4);
	assert_true(gmem_code_gen(mem) > g);
	assert_false(gmem_code_marked(mem, FUNC));
	g = gmem_code_gen(mem);
	gmem_code_store(mem, FUNC + 4);
	assert_int_equal(gmem_code_gen(mem), g);
	/* harts: a detach moves it */
	gmem_hart_attach(mem);
	assert_int_equal(gmem_harts(mem), 1);
	g = gmem_code_gen(mem);
	gmem_hart_detach(mem);
	assert_int_equal(gmem_harts(mem), 0);
	assert_true(gmem_code_gen(mem) > g);
	gmem_destroy(mem);
}

/* A sync standing for another hart that reads the same frame while the
 * first mark's sync is still in flight: what it reads is unsure. */
static struct gmem *inner_mem;
static int inner_sure = -1;
static unsigned inner_calls;

static void inner_sync(void *opaque)
{
	(void)opaque;
	inner_calls++;
	inner_sure = gmem_code_mark(inner_mem, FUNC);
}

static void test_code_mark_sync(void **state)
{
	(void)state;
	struct gmem *mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(mem);
	inner_mem = mem;
	gmem_set_tlb_sync(mem, inner_sync, NULL);
	assert_true(gmem_code_smp(mem));
	/* one hart: a first mark needs no sync */
	gmem_hart_attach(mem);
	assert_true(gmem_code_mark(mem, CODE));
	assert_int_equal(inner_calls, 0);
	/* two: the first mark syncs, once; a reader meanwhile is unsure */
	gmem_hart_attach(mem);
	assert_true(gmem_code_mark(mem, FUNC));
	assert_int_equal(inner_calls, 1);
	assert_int_equal(inner_sure, 0);
	assert_true(gmem_code_mark(mem, FUNC));
	assert_int_equal(inner_calls, 1);
	assert_int_equal(gmem_code_syncs(mem), 1);
	/* unmarked by a store: the next mark syncs again */
	gmem_code_store(mem, FUNC);
	assert_true(gmem_code_mark(mem, FUNC));
	assert_int_equal(inner_calls, 2);
	/* another hart's store between its clear and its move: an unmarked
	 * frame keeps out of store TLBs, and other writers move themselves */
	uint32_t v = 0;
	atomic_fetch_add(&mem->code_clearing, 1);
	assert_true(gmem_code_marked(mem, CODE_B));
	uint64_t g = gmem_code_gen(mem);
	gmem_code_store(mem, CODE_B);
	assert_true(gmem_code_gen(mem) > g);
	g = gmem_code_gen(mem);
	assert_int_equal(gmem_write(mem, CODE_B, &v, 4), 0);
	assert_true(gmem_code_gen(mem) > g);
	atomic_fetch_sub(&mem->code_clearing, 1);
	assert_false(gmem_code_marked(mem, CODE_B));
	g = gmem_code_gen(mem);
	gmem_code_store(mem, CODE_B);
	assert_int_equal(gmem_write(mem, CODE_B, &v, 4), 0);
	assert_int_equal(gmem_code_gen(mem), g);
	gmem_hart_detach(mem);
	gmem_hart_detach(mem);
	gmem_destroy(mem);
}

/* The board's store probe stands for the other harts' store TLBs. */
static bool probe_answer;
static unsigned probe_calls;

static bool fake_probe(void *opaque, uint64_t gpa_page)
{
	(void)opaque;
	assert_int_equal(gpa_page, FUNC & ~GUEST_PAGE_MASK);
	probe_calls++;
	return probe_answer;
}

static void test_code_mark_probe(void **state)
{
	(void)state;
	struct gmem *mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(mem);
	inner_mem = mem;
	inner_calls = 0;
	gmem_set_tlb_sync(mem, inner_sync, NULL);
	gmem_set_store_probe(mem, fake_probe);
	gmem_hart_attach(mem);
	/* one hart: neither the probe nor the sync */
	assert_true(gmem_code_mark(mem, FUNC));
	assert_int_equal(probe_calls, 0);
	assert_int_equal(inner_calls, 0);
	/* one hart: a store looks no further, a fill keeps its entry */
	uint64_t g = gmem_code_gen(mem);
	gmem_code_stored(mem, FUNC);
	assert_int_equal(gmem_code_gen(mem), g);
	assert_true(gmem_code_fill_ok(mem, FUNC));
	gmem_code_store(mem, FUNC); /* unmarked again */

	gmem_hart_attach(mem);
	/* no other store TLB maps it: no sync */
	probe_answer = false;
	assert_true(gmem_code_mark(mem, FUNC));
	assert_int_equal(probe_calls, 1);
	assert_int_equal(inner_calls, 0);
	assert_int_equal(gmem_code_probed(mem), 1);
	assert_int_equal(gmem_code_syncs(mem), 0);
	/* marked already: asked no more */
	assert_true(gmem_code_mark(mem, FUNC));
	assert_int_equal(probe_calls, 1);

	/* a slow store that read the bit clear, then the first mark, then
	 * the write: its look after moves the generation the marker loaded
	 * before, and unmarks */
	gmem_code_store(mem, FUNC);
	assert_false(gmem_code_marked(mem, FUNC));
	g = gmem_code_gen(mem);
	assert_true(gmem_code_mark(mem, FUNC));
	gmem_code_stored(mem, FUNC);
	assert_true(gmem_code_gen(mem) > g);
	assert_false(gmem_code_marked(mem, FUNC));
	/* and a store that finds it unmarked moves nothing */
	g = gmem_code_gen(mem);
	gmem_code_stored(mem, FUNC);
	assert_int_equal(gmem_code_gen(mem), g);

	/* a fill published, then the first mark: the fill gives it back */
	assert_false(gmem_code_marked(mem, FUNC));
	assert_true(gmem_code_fill_ok(mem, FUNC));
	assert_true(gmem_code_mark(mem, FUNC));
	assert_false(gmem_code_fill_ok(mem, FUNC));
	assert_int_equal(inner_calls, 0);

	/* another hart's store TLB maps it: the sync, as without a probe */
	gmem_code_store(mem, FUNC);
	probe_answer = true;
	assert_true(gmem_code_mark(mem, FUNC));
	assert_int_equal(probe_calls, 4);
	assert_int_equal(inner_calls, 1);
	assert_int_equal(gmem_code_syncs(mem), 1);
	assert_int_equal(gmem_code_probed(mem), 3);
	gmem_hart_detach(mem);
	gmem_hart_detach(mem);
	gmem_destroy(mem);
}

/* hart_tlb_maps_store, the probe's answer for one hart */
static void test_tlb_maps_store(void **state)
{
	(void)state;
	for (int jit = 0; jit < 2; jit++) {
		struct rig r;
		rig_init(&r, jit, 2, SYNC_PROBE, CODE_B);
		assert_false(hart_tlb_maps_store(r.b, FUNC & ~GUEST_PAGE_MASK));
		/* B's stores to f fill its store TLB (the second through the
		 * translator's fill when it runs translated) */
		r.b->s.x[15] = li_a0(1);
		run_to_wfi(r.b);
		run_to_wfi(r.b);
		assert_true(hart_tlb_maps_store(r.b, FUNC & ~GUEST_PAGE_MASK));
		assert_false(hart_tlb_maps_store(r.b, CODE & ~GUEST_PAGE_MASK));
		assert_false(hart_tlb_maps_store(r.a, FUNC & ~GUEST_PAGE_MASK));
		tlb_flush_all(r.b);
		assert_false(hart_tlb_maps_store(r.b, FUNC & ~GUEST_PAGE_MASK));
		rig_destroy(&r);
	}
}

/*
 * Two harts on two threads, with a TLB sync like the board's (virt.c's
 * tlb_sync: post, wait for each other hart, serve one's own meanwhile).
 * B rewrites f to return k, fences and publishes k (k = 1..KMAX); A
 * loops: read the published k, fence, fence.i, call f, which must return
 * at least k. B's stores race with A's marks (B's slow store unmarks f's
 * frame and fills its store TLB, A's revalidation marks it again).
 */
static _Thread_local struct hart *thread_hart;

struct sync_rig {
	struct hart *h[2];
	_Atomic unsigned syncs;
	_Atomic unsigned probes; /* probes that found an entry */
};

static bool threads_probe(void *opaque, uint64_t gpa_page)
{
	struct sync_rig *r = opaque;

	for (unsigned i = 0; i < 2; i++)
		if (r->h[i] != thread_hart &&
		    hart_tlb_maps_store(r->h[i], gpa_page)) {
			atomic_fetch_add(&r->probes, 1);
			return true;
		}
	return false;
}

static void threads_sync(void *opaque)
{
	struct sync_rig *r = opaque;

	atomic_fetch_add(&r->syncs, 1);
	for (unsigned i = 0; i < 2; i++)
		hart_request(r->h[i], HART_REQ_TLB_FLUSH);
	for (unsigned i = 0; i < 2; i++)
		for (unsigned spins = 0;
		     r->h[i] != thread_hart &&
		     !hart_request_done(r->h[i], HART_REQ_TLB_FLUSH);
		     spins++) {
			if (thread_hart)
				hart_service_tlb_flush(thread_hart);
			if (spins >= 64)
				sched_yield();
		}
	if (thread_hart)
		hart_service_tlb_flush(thread_hart);
}

static void *threads_run(void *arg)
{
	struct hart *h = arg;

	thread_hart = h;
	/* until its wfi, or A's thread ended (HART_REQ_EXIT) */
	for (;;) {
		enum hart_run_result res = hart_run(h, 20000);
		if (res == HART_RUN_WFI || res == HART_RUN_EXIT)
			break;
	}
	return NULL;
}

static uint32_t b_type(unsigned f3, unsigned rs1, unsigned rs2, int off)
{
	uint32_t u = (uint32_t)off;
	return 0x63 | ((u >> 11) & 1) << 7 | ((u >> 1) & 0xf) << 8 | f3 << 12 |
	       rs1 << 15 | rs2 << 20 | ((u >> 5) & 0x3f) << 25 |
	       ((u >> 12) & 1) << 31;
}

static void test_threads(void **state)
{
	(void)state;
	/* A: x8 = FLAG (k; FLAG + 4: the last k A checked), x9 = FUNC,
	 * x7 = KMAX */
	uint32_t a[] = {
		i_type(0x03, 5, 2, 8, 0),  /* loop: lw x5, 0(x8) */
		0x0ff0000fu,		   /* fence */
		FENCE_I,		   /* fence.i */
		i_type(0x67, 1, 0, 9, 0),  /* jalr ra, 0(x9) */
		b_type(4, 10, 5, 24),	   /* blt a0, x5, fail */
		s_type(2, 8, 5, 4),	   /* sw x5, 4(x8) */
		i_type(0x13, 6, 0, 6, 1),  /* addi x6, x6, 1 */
		b_type(1, 5, 7, -28),	   /* bne x5, x7, loop */
		WFI,			   /* done */
		WFI,			   /* (unused) */
		i_type(0x13, 31, 0, 0, 1), /* fail: li x31, 1 */
		WFI,
	};
	/* B: x14 = FUNC, x8 = FLAG, x7 = KMAX, x15 = k */
	uint32_t b[] = {
		i_type(0x13, 15, 0, 15, 1),	/* loop: addi x15, x15, 1 */
		i_type(0x13, 16, 1, 15, 20),	/* slli x16, x15, 20 */
		i_type(0x13, 16, 6, 16, 0x513), /* ori x16, x16, li a0 */
		s_type(2, 14, 16, 0),		/* sw x16, 0(x14) */
		0x0110000fu,			/* fence w, w */
		s_type(2, 8, 15, 0),		/* sw x15, 0(x8) */
		i_type(0x03, 17, 2, 8, 4),	/* wait: lw x17, 4(x8) */
		b_type(1, 17, 15, -4),		/* bne x17, x15, wait */
		b_type(4, 15, 7, -32),		/* blt x15, x7, loop */
		WFI,
	};

	for (int v = 0; v < 4; v++) {
		bool jit = v & 1, probe = v & 2;
		struct vclock clock;
		struct sync_rig r = { 0 };
		vclock_init(&clock);
		struct gmem *mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
		assert_non_null(mem);
		gmem_set_tlb_sync(mem, threads_sync, &r);
		if (probe)
			gmem_set_store_probe(mem, threads_probe);
		uint32_t f[] = { li_a0(0), i_type(0x67, 0, 0, 1, 0) };
		uint32_t zero[2] = { 0, 0 };
		assert_int_equal(gmem_write(mem, CODE, a, sizeof(a)), 0);
		assert_int_equal(gmem_write(mem, CODE_B, b, sizeof(b)), 0);
		assert_int_equal(gmem_write(mem, FUNC, f, sizeof(f)), 0);
		assert_int_equal(gmem_write(mem, FLAG, zero, 8), 0);
		for (unsigned i = 0; i < 2; i++) {
			struct hart_config cfg = { .hartid = i,
						   .mem = mem,
						   .clock = &clock,
						   .jit = jit };
			r.h[i] = hart_create(&cfg, NULL);
			assert_non_null(r.h[i]);
			hart_reset(r.h[i], i ? CODE_B : CODE, PRIV_M);
			r.h[i]->jit_hot = 1;
			r.h[i]->s.x[8] = FLAG;
			r.h[i]->s.x[7] = KMAX;
		}
		r.h[0]->s.x[9] = FUNC;
		r.h[1]->s.x[14] = FUNC;
		pthread_t t[2];
		for (unsigned i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&t[i], NULL,
							threads_run, r.h[i]),
					 0);
		pthread_join(t[0], NULL);
		/* B waits for an answer A no longer gives if it failed */
		hart_request(r.h[1], HART_REQ_EXIT);
		pthread_join(t[1], NULL);
		if (r.h[0]->s.x[31])
			print_message("%s: f returned %llu after k %llu\n",
				      jit ? "jit" : "interp",
				      (unsigned long long)r.h[0]->s.x[10],
				      (unsigned long long)r.h[0]->s.x[5]);
		/* f never returned less than the k read before the fence.i */
		assert_int_equal(r.h[0]->s.x[31], 0);
		assert_int_equal(r.h[0]->s.x[10], KMAX);
		print_message("%s%s: %llu calls, %llu of %llu fence.i kept "
			      "the epoch, %u syncs, %u probes found an entry\n",
			      jit ? "jit" : "interp",
			      probe ? " with the store probe" : "",
			      (unsigned long long)r.h[0]->s.x[6],
			      (unsigned long long)r.h[0]->bc.fence_i_kept,
			      (unsigned long long)r.h[0]->bc.fence_i,
			      atomic_load(&r.syncs), atomic_load(&r.probes));
		hart_destroy(r.h[0]);
		hart_destroy(r.h[1]);
		gmem_destroy(mem);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code_log),
		cmocka_unit_test(test_code_mark_sync),
		cmocka_unit_test(test_code_mark_probe),
		cmocka_unit_test(test_tlb_maps_store),
		cmocka_unit_test(test_host_write),
		cmocka_unit_test(test_dma_write),
		cmocka_unit_test(test_dma_write_held),
		cmocka_unit_test(test_bus_write),
		cmocka_unit_test(test_other_hart_unsynced),
		cmocka_unit_test(test_other_hart),
		cmocka_unit_test(test_other_hart_amo),
		cmocka_unit_test(test_other_harts_filled_first),
		cmocka_unit_test(test_other_hart_gone),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
