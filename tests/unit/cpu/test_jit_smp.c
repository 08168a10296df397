/*
 * Four translating harts on four threads over one guest memory: each
 * loops N times doing an AMO add and an LR/SC increment on counters they
 * share, and rewrites an instruction of its own loop (toggling an addi's
 * immediate between 1 and 3, then FENCE.I) that it runs next time round.
 * The counters must be exactly 4N and each hart's sum exactly 2N: atomics
 * are host atomics, and code modification reaches translated code.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cpu/hart_impl.h"
#include "mem/gmem.h"
#include "util/vclock.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)
#define CTR_AMO	 (RAM_BASE + 0x10000)
#define CTR_LRSC (RAM_BASE + 0x10040)
#define NHARTS	 4
#define N	 20000

static uint32_t r_type(unsigned op, unsigned rd, unsigned f3, unsigned rs1,
		       unsigned rs2, unsigned f7)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 | f7 << 25;
}

static uint32_t i_type(unsigned op, unsigned rd, unsigned f3, unsigned rs1,
		       int imm)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 |
	       ((uint32_t)imm & 0xfff) << 20;
}

static uint32_t s_type(unsigned f3, unsigned rs1, unsigned rs2, int imm)
{
	uint32_t u = (uint32_t)imm;
	return 0x23 | (u & 31) << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 |
	       ((u >> 5) & 0x7f) << 25;
}

static uint32_t bne(unsigned rs1, unsigned rs2, int off)
{
	uint32_t u = (uint32_t)off;
	return 0x63 | ((u >> 11) & 1) << 7 | ((u >> 1) & 0xf) << 8 | 1u << 12 |
	       rs1 << 15 | rs2 << 20 | ((u >> 5) & 0x3f) << 25 |
	       ((u >> 12) & 1) << 31;
}

static unsigned program(uint32_t *c)
{
	unsigned n = 0;
	unsigned loop = n;
	c[n++] = i_type(0x13, 5, 0, 0, 1); /* li x5, 1 */
	c[n++] = r_type(0x2f, 0, 3, 11, 5,
			0x00 << 2); /* amoadd.d x0,x5,(x11) */
	unsigned retry = n;
	c[n++] = r_type(0x2f, 6, 3, 12, 0, 0x02 << 2); /* lr.d x6, (x12) */
	c[n++] = i_type(0x13, 6, 0, 6, 1);	       /* addi x6, x6, 1 */
	c[n++] = r_type(0x2f, 7, 3, 12, 6, 0x03 << 2); /* sc.d x7,x6,(x12) */
	c[n] = bne(7, 0, (int)(retry - n) * 4);
	n++;
	unsigned site = n;
	c[n++] = i_type(0x13, 20, 0, 20, 1); /* addi x20, x20, 1 (patched) */
	c[n++] = i_type(0x03, 15, 2, 14, 0); /* lw x15, 0(x14) */
	c[n++] = r_type(0x33, 15, 4, 15, 16, 0); /* xor x15, x15, x16 */
	c[n++] = s_type(2, 14, 15, 0);		 /* sw x15, 0(x14) */
	c[n++] = 0x0000100f;			 /* fence.i */
	c[n++] = i_type(0x13, 13, 0, 13, -1);	 /* addi x13, x13, -1 */
	c[n] = bne(13, 0, (int)(loop - n) * 4);
	n++;
	c[n++] = 0x0000006f; /* j . */
	return site;
}

struct vcpu {
	struct hart *h;
	pthread_t thread;
};

static void *run(void *arg)
{
	struct vcpu *v = arg;
	while (v->h->s.x[13] != 0)
		hart_run(v->h, 5000);
	return NULL;
}

static void test_smp_amo_lrsc_smc(void **state)
{
	(void)state;
	struct vclock clock;
	vclock_init(&clock);
	struct gmem *mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(mem);
	struct vcpu v[NHARTS];
	uint32_t code[32];
	unsigned site = program(code);
	for (unsigned i = 0; i < NHARTS; i++) {
		uint64_t base = RAM_BASE + 0x1000 * (i + 1);
		assert_int_equal(gmem_write(mem, base, code, sizeof(code)), 0);
		struct hart_config cfg = {
			.hartid = i, .mem = mem, .clock = &clock, .jit = true
		};
		v[i].h = hart_create(&cfg, NULL);
		assert_non_null(v[i].h);
		struct hart *h = v[i].h;
		hart_reset(h, base, PRIV_M);
		h->jit_hot = 2;
		h->s.x[11] = CTR_AMO;
		h->s.x[12] = CTR_LRSC;
		h->s.x[13] = N;
		h->s.x[14] = base + 4 * site;
		h->s.x[16] = 1u << 21; /* imm 1 <-> 3 */
	}
	for (unsigned i = 0; i < NHARTS; i++)
		assert_int_equal(pthread_create(&v[i].thread, NULL, run, &v[i]),
				 0);
	for (unsigned i = 0; i < NHARTS; i++)
		pthread_join(v[i].thread, NULL);
	uint64_t amo, lrsc;
	assert_int_equal(gmem_read(mem, CTR_AMO, &amo, 8), 0);
	assert_int_equal(gmem_read(mem, CTR_LRSC, &lrsc, 8), 0);
	assert_int_equal(amo, (uint64_t)NHARTS * N);
	assert_int_equal(lrsc, (uint64_t)NHARTS * N);
	for (unsigned i = 0; i < NHARTS; i++) {
		assert_int_equal(v[i].h->s.x[20], 2ULL * N);
		print_message("hart %u: jit %s\n", i,
			      hart_jit_enabled(v[i].h) ? "on" : "off");
		hart_destroy(v[i].h);
	}
	gmem_destroy(mem);
}

/* Four harts take a spinlock made of amoswap.w (acquire/release) around
 * a plain ld/addi/sd increment, set and clear their own bit of a shared
 * word with amoor.d/amoand.d, toggle it in another with amoxor.d and
 * count with amoadd.w. Translated inline, these are xchg, lock xadd and
 * lock cmpxchg loops: any non-atomic step loses an increment or leaves
 * a bit behind. */
#define LOCK	 (RAM_BASE + 0x20000)
#define COUNTER	 (RAM_BASE + 0x20040)
#define BITS	 (RAM_BASE + 0x20080)
#define XORW	 (RAM_BASE + 0x200c0)
#define ADDW	 (RAM_BASE + 0x20100)
#define N_LOCKED 100000 /* even: every xor toggle is undone */

static unsigned lock_program(uint32_t *c)
{
	unsigned n = 0;
	unsigned loop = n;
	c[n++] = i_type(0x13, 5, 0, 0, 1); /* li x5, 1 */
	unsigned acquire = n;
	c[n++] = r_type(0x2f, 6, 2, 11, 5, 0x04 | 2); /* amoswap.w.aq x6 */
	c[n] = bne(6, 0, (int)(acquire - n) * 4);
	n++;
	c[n++] = i_type(0x03, 7, 3, 12, 0);		/* ld x7, 0(x12) */
	c[n++] = i_type(0x13, 7, 0, 7, 1);		/* addi x7, x7, 1 */
	c[n++] = s_type(3, 12, 7, 0);			/* sd x7, 0(x12) */
	c[n++] = r_type(0x2f, 0, 2, 11, 0, 0x04 | 1);	/* amoswap.w.rl */
	c[n++] = r_type(0x2f, 0, 3, 14, 15, 0x08 << 2); /* amoor.d */
	c[n++] = r_type(0x2f, 0, 3, 16, 15, 0x04 << 2); /* amoxor.d */
	c[n++] = r_type(0x2f, 0, 3, 14, 18, 0x0c << 2); /* amoand.d */
	c[n++] = r_type(0x2f, 0, 2, 19, 5, 0x00);	/* amoadd.w */
	c[n++] = i_type(0x13, 13, 0, 13, -1);		/* addi x13, x13, -1 */
	c[n] = bne(13, 0, (int)(loop - n) * 4);
	n++;
	c[n++] = 0x0000006f; /* j . */
	return n;
}

static void test_smp_lock_bits(void **state)
{
	(void)state;
	struct vclock clock;
	vclock_init(&clock);
	struct gmem *mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(mem);
	struct vcpu v[NHARTS];
	uint32_t code[32];
	unsigned len = lock_program(code);
	for (unsigned i = 0; i < NHARTS; i++) {
		uint64_t base = RAM_BASE + 0x1000 * (i + 1);
		assert_int_equal(gmem_write(mem, base, code, 4 * len), 0);
		struct hart_config cfg = {
			.hartid = i, .mem = mem, .clock = &clock, .jit = true
		};
		v[i].h = hart_create(&cfg, NULL);
		assert_non_null(v[i].h);
		struct hart *h = v[i].h;
		hart_reset(h, base, PRIV_M);
		h->jit_hot = 2;
		h->s.x[11] = LOCK;
		h->s.x[12] = COUNTER;
		h->s.x[13] = N_LOCKED;
		h->s.x[14] = BITS;
		h->s.x[15] = 1ULL << (8 * i + 3);
		h->s.x[16] = XORW;
		h->s.x[18] = ~(1ULL << (8 * i + 3));
		h->s.x[19] = ADDW;
	}
	for (unsigned i = 0; i < NHARTS; i++)
		assert_int_equal(pthread_create(&v[i].thread, NULL, run, &v[i]),
				 0);
	for (unsigned i = 0; i < NHARTS; i++)
		pthread_join(v[i].thread, NULL);
	uint64_t counter, bits, xorw, lock;
	uint32_t addw;
	assert_int_equal(gmem_read(mem, COUNTER, &counter, 8), 0);
	assert_int_equal(gmem_read(mem, BITS, &bits, 8), 0);
	assert_int_equal(gmem_read(mem, XORW, &xorw, 8), 0);
	assert_int_equal(gmem_read(mem, LOCK, &lock, 8), 0);
	assert_int_equal(gmem_read(mem, ADDW, &addw, 4), 0);
	assert_int_equal(counter, (uint64_t)NHARTS * N_LOCKED);
	assert_int_equal(addw, NHARTS * N_LOCKED);
	assert_int_equal(bits, 0);
	assert_int_equal(xorw, 0);
	assert_int_equal(lock, 0);
	for (unsigned i = 0; i < NHARTS; i++) {
		assert_true(hart_jit_enabled(v[i].h));
		hart_destroy(v[i].h);
	}
	gmem_destroy(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smp_amo_lrsc_smc),
		cmocka_unit_test(test_smp_lock_bits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
