/*
 * FENCE.I after a write by every kind of writer (docs/jit.md, "Seventh
 * pass"): a hart keeps its decoded blocks and translations across a
 * FENCE.I only when nothing but itself can have written its code, so each
 * test rewrites a function the hart has run many times (translated and
 * linked with the translator), by a host copy, a DMA write mapping, a bus
 * write (virtqueue ring stores), another hart's plain stores, or another
 * hart that then goes away, and checks that the call after the next
 * FENCE.I runs the new code. Both engines.
 *
 * The guest (M-mode, bare) loops: call f; wfi; fence.i; call f. At each
 * wfi (hart_run returns) the test checks what f returned and maybe
 * rewrites f's `li a0, K`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>

#include "cpu/hart_impl.h"
#include "mem/gmem.h"
#include "util/vclock.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)
#define CODE	 (RAM_BASE + 0x1000)
#define FUNC	 (RAM_BASE + 0x3000)
#define CODE_B	 (RAM_BASE + 0x5000)
#define ROUNDS	 40

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
	/* hart B: sw x15, 0(x14); wfi; j back */
	uint32_t b[] = { s_type(2, 14, 15, 0), WFI, jal(0, -8) };
	assert_int_equal(gmem_write(mem, CODE, c, sizeof(c)), 0);
	assert_int_equal(gmem_write(mem, FUNC, f, sizeof(f)), 0);
	assert_int_equal(gmem_write(mem, CODE_B, b, sizeof(b)), 0);
}

struct rig {
	struct vclock clock;
	struct gmem *mem;
	struct hart *a, *b;
	bool jit;
	struct iovec iov; /* the held DMA mapping of FUNC's page */
	bool mapped;
};

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

static void rig_init(struct rig *r, bool jit, bool two)
{
	memset(r, 0, sizeof(*r));
	vclock_init(&r->clock);
	r->jit = jit;
	r->mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(r->mem);
	load_programs(r->mem);
	r->a = make_hart(r, 0, CODE);
	r->a->s.x[9] = FUNC;
	if (two) {
		r->b = make_hart(r, 1, CODE_B);
		r->b->s.x[14] = FUNC;
	}
}

static void rig_destroy(struct rig *r)
{
	if (r->mapped)
		gmem_dma_unpin(r->mem, FUNC, 8);
	hart_destroy(r->a);
	hart_destroy(r->b);
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

static void one_writer(enum writer w, bool two)
{
	for (int jit = 0; jit < 2; jit++) {
		struct rig r;
		rig_init(&r, jit, two);
		rounds(&r, w);
		/* the 40 rounds' fence.i, and no more */
		assert_int_equal(r.a->bc.fence_i, ROUNDS);
		if (two) /* another hart may store unseen: never kept */
			assert_int_equal(r.a->bc.fence_i_kept, 0);
		else if (w != W_DMA_HELD) /* the rounds without a write */
			assert_true(r.a->bc.fence_i_kept >= ROUNDS / 2 - 1);
		print_message("%s: %llu of %d fence.i kept the epoch\n",
			      jit ? "jit" : "interp",
			      (unsigned long long)r.a->bc.fence_i_kept, ROUNDS);
		rig_destroy(&r);
	}
}

static void test_host_write(void **state)
{
	(void)state;
	one_writer(W_HOST, false);
}

static void test_dma_write(void **state)
{
	(void)state;
	one_writer(W_DMA, false);
}

static void test_dma_write_held(void **state)
{
	(void)state;
	one_writer(W_DMA_HELD, false);
}

static void test_bus_write(void **state)
{
	(void)state;
	one_writer(W_BUS, false);
}

static void test_other_hart(void **state)
{
	(void)state;
	one_writer(W_HART, true);
}

/* Hart B stores into f through its store TLB and is destroyed: A, alone
 * now, must not keep its epoch across the next FENCE.I. */
static void test_other_hart_gone(void **state)
{
	(void)state;
	for (int jit = 0; jit < 2; jit++) {
		struct rig r;
		rig_init(&r, jit, true);
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
	/* harts: a detach moves it */
	gmem_hart_attach(mem);
	assert_int_equal(gmem_harts(mem), 1);
	g = gmem_code_gen(mem);
	gmem_hart_detach(mem);
	assert_int_equal(gmem_harts(mem), 0);
	assert_true(gmem_code_gen(mem) > g);
	gmem_destroy(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code_log),
		cmocka_unit_test(test_host_write),
		cmocka_unit_test(test_dma_write),
		cmocka_unit_test(test_dma_write_held),
		cmocka_unit_test(test_bus_write),
		cmocka_unit_test(test_other_hart),
		cmocka_unit_test(test_other_hart_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
