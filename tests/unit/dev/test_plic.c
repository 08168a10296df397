/* Unit tests for src/dev/plic: priorities, enables, thresholds,
 * claim/complete per context, level semantics, bounds. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dev/plic.h"

#define NHARTS 2
#define NCTX   (2 * NHARTS)
#define NSRC   95

static int out_level[PLIC_MAX_CONTEXTS];
static int out_calls[PLIC_MAX_CONTEXTS];

static void out_set(void *opaque, int level)
{
	unsigned c = (unsigned)(uintptr_t)opaque;
	out_level[c] = level;
	out_calls[c]++;
}

static struct plic *mk(unsigned nsrc, unsigned nharts)
{
	struct irq_line *l = calloc(2 * nharts, sizeof(*l));
	struct error err;

	memset(out_level, 0, sizeof(out_level));
	memset(out_calls, 0, sizeof(out_calls));
	for (uintptr_t c = 0; c < 2 * nharts; c++)
		l[c] = (struct irq_line){ out_set, (void *)c };
	struct plic *p = plic_create(nsrc, nharts, l, &err);
	free(l);
	assert_non_null(p);
	return p;
}

static const struct mmio_ops *ops;

static uint32_t rd(struct plic *p, uint64_t off)
{
	return (uint32_t)ops->read(p, off, 4);
}

static void wr(struct plic *p, uint64_t off, uint32_t v)
{
	ops->write(p, off, v, 4);
}

static void prio(struct plic *p, unsigned src, uint32_t v)
{
	wr(p, PLIC_PRIORITY_OFF + 4 * src, v);
}

static void enable(struct plic *p, unsigned ctx, unsigned src, int on)
{
	uint64_t off = PLIC_ENABLE_OFF + PLIC_ENABLE_STRIDE * ctx +
		       4 * (src / 32);
	uint32_t w = rd(p, off);
	w = on ? w | 1u << (src % 32) : w & ~(1u << (src % 32));
	wr(p, off, w);
}

static void threshold(struct plic *p, unsigned ctx, uint32_t v)
{
	wr(p, PLIC_CONTEXT_OFF + PLIC_CONTEXT_STRIDE * ctx, v);
}

static uint32_t claim(struct plic *p, unsigned ctx)
{
	return rd(p, PLIC_CONTEXT_OFF + PLIC_CONTEXT_STRIDE * ctx + 4);
}

static void complete(struct plic *p, unsigned ctx, uint32_t src)
{
	wr(p, PLIC_CONTEXT_OFF + PLIC_CONTEXT_STRIDE * ctx + 4, src);
}

static bool pending(struct plic *p, unsigned src)
{
	return rd(p, PLIC_PENDING_OFF + 4 * (src / 32)) >> (src % 32) & 1;
}

static void test_registers(void **state)
{
	struct plic *p = mk(NSRC, NHARTS);

	ops = plic_mmio_ops();
	prio(p, 10, 0xffffffff);
	assert_int_equal(rd(p, 4 * 10), 7); /* 3 priority bits */
	prio(p, 0, 5);
	assert_int_equal(rd(p, 0), 0); /* source 0 reserved */
	prio(p, NSRC + 1, 5);
	assert_int_equal(rd(p, 4 * (NSRC + 1)), 0);

	/* enable bits: source 0 and sources > NSRC are hardwired 0 */
	wr(p, PLIC_ENABLE_OFF, 0xffffffff);
	assert_int_equal(rd(p, PLIC_ENABLE_OFF), 0xfffffffe);
	wr(p, PLIC_ENABLE_OFF + 8, 0xffffffff); /* sources 64..95 */
	assert_int_equal(rd(p, PLIC_ENABLE_OFF + 8), 0xffffffff);
	wr(p, PLIC_ENABLE_OFF + 12, 0xffffffff); /* 96..: none exist */
	assert_int_equal(rd(p, PLIC_ENABLE_OFF + 12), 0);
	/* contexts are independent */
	assert_int_equal(rd(p, PLIC_ENABLE_OFF + PLIC_ENABLE_STRIDE), 0);

	threshold(p, 3, 0xff);
	assert_int_equal(rd(p, PLIC_CONTEXT_OFF + 3 * PLIC_CONTEXT_STRIDE), 7);
	assert_int_equal(rd(p, PLIC_CONTEXT_OFF), 0);

	/* pending is read-only */
	wr(p, PLIC_PENDING_OFF, 0xffffffff);
	assert_int_equal(rd(p, PLIC_PENDING_OFF), 0);

	/* byte access RMW on priority */
	ops->write(p, 4 * 11, 3, 1);
	assert_int_equal(rd(p, 4 * 11), 3);
	assert_int_equal(ops->read(p, 4 * 11, 1), 3);
	plic_destroy(p);
}

static void test_claim_complete(void **state)
{
	struct plic *p = mk(NSRC, NHARTS);

	ops = plic_mmio_ops();
	prio(p, 5, 1);
	prio(p, 7, 3);
	prio(p, 40, 3);
	for (unsigned s = 1; s <= NSRC; s++)
		enable(p, 1, s, 1); /* hart 0 S-mode */

	plic_set_irq(p, 5, 1);
	assert_true(pending(p, 5));
	assert_int_equal(out_level[1], 1);
	assert_int_equal(out_level[0], 0); /* M context has nothing enabled */
	plic_set_irq(p, 40, 1);
	plic_set_irq(p, 7, 1);
	assert_int_equal(out_calls[1], 1); /* driven only on change */

	/* highest priority first, ties to the lowest id */
	assert_int_equal(claim(p, 1), 7);
	assert_false(pending(p, 7));
	assert_int_equal(claim(p, 1), 40);
	assert_int_equal(claim(p, 1), 5);
	assert_int_equal(out_level[1], 0);
	assert_int_equal(claim(p, 1), 0);

	/* still asserted: pending again only after complete */
	complete(p, 1, 40);
	assert_true(pending(p, 40));
	assert_int_equal(out_level[1], 1);
	/* completes for unclaimed / bogus / unenabled ids are ignored */
	complete(p, 1, 0);
	complete(p, 1, 1000);
	complete(p, 1, 40); /* already completed */
	complete(p, 0, 7);  /* 7 not enabled in ctx 0 */
	assert_false(pending(p, 7));
	plic_set_irq(p, 7, 0);
	complete(p, 1, 7);
	assert_false(pending(p, 7)); /* deasserted: stays idle */
	plic_destroy(p);
}

static void test_threshold_and_contexts(void **state)
{
	struct plic *p = mk(NSRC, NHARTS);

	ops = plic_mmio_ops();
	prio(p, 3, 2);
	enable(p, 0, 3, 1); /* hart 0 M */
	enable(p, 3, 3, 1); /* hart 1 S */
	threshold(p, 0, 2);
	plic_set_irq(p, 3, 1);
	assert_int_equal(out_level[0], 0); /* priority must exceed threshold */
	assert_int_equal(out_level[3], 1);
	assert_int_equal(claim(p, 0), 0);
	threshold(p, 0, 1);
	assert_int_equal(out_level[0], 1);
	/* a claim by one context withdraws it from the other */
	assert_int_equal(claim(p, 3), 3);
	assert_int_equal(out_level[0], 0);
	assert_int_equal(out_level[3], 0);
	complete(p, 3, 3);
	assert_int_equal(out_level[0], 1);
	assert_int_equal(out_level[3], 1);

	/* priority 0 never interrupts */
	prio(p, 3, 0);
	assert_int_equal(out_level[0], 0);
	assert_int_equal(out_level[3], 0);
	assert_int_equal(claim(p, 3), 0);
	prio(p, 3, 1);
	/* disabling drops the output */
	enable(p, 0, 3, 0);
	assert_int_equal(out_level[0], 0);
	assert_int_equal(out_level[3], 1);
	plic_destroy(p);
}

static void test_level(void **state)
{
	struct plic *p = mk(NSRC, NHARTS);
	struct irq_line l = plic_source_line(p, 9);

	ops = plic_mmio_ops();
	prio(p, 9, 1);
	enable(p, 1, 9, 1);
	irq_line_set(&l, 1);
	assert_true(pending(p, 9));
	assert_int_equal(out_level[1], 1);
	irq_line_set(&l, 0); /* deasserted before claim */
	assert_false(pending(p, 9));
	assert_int_equal(out_level[1], 0);
	assert_int_equal(claim(p, 1), 0);

	/* deassert while claimed: nothing pending after complete */
	irq_line_set(&l, 1);
	assert_int_equal(claim(p, 1), 9);
	irq_line_set(&l, 0);
	irq_line_set(&l, 1);
	assert_false(pending(p, 9)); /* gateway blocked until complete */
	complete(p, 1, 9);
	assert_true(pending(p, 9));

	/* out-of-range sources are harmless */
	plic_set_irq(p, 0, 1);
	plic_set_irq(p, NSRC + 1, 1);
	plic_set_irq(p, 5000, 1);
	struct irq_line bad = plic_source_line(p, 5000);
	irq_line_set(&bad, 1);
	assert_null(bad.set);
	plic_destroy(p);
}

static void test_bounds_and_big(void **state)
{
	struct plic *p = mk(PLIC_MAX_SOURCES, PLIC_MAX_HARTS);
	unsigned last_ctx = PLIC_MAX_CONTEXTS - 1;

	ops = plic_mmio_ops();
	prio(p, 1023, 7);
	enable(p, last_ctx, 1023, 1);
	plic_set_irq(p, 1023, 1);
	assert_int_equal(out_level[last_ctx], 1);
	assert_int_equal(claim(p, last_ctx), 1023);
	complete(p, last_ctx, 1023);
	assert_int_equal(claim(p, last_ctx), 1023);

	/* beyond the last context / the region */
	uint64_t end = PLIC_MMIO_SIZE(PLIC_MAX_HARTS);
	assert_int_equal(end, 0x280000);
	static const uint64_t offs[] = { 0x280000,
					 0x280004,
					 0x3ffffc,
					 0x1ffffc,
					 0x2000 + 0x80 * PLIC_MAX_CONTEXTS,
					 0x1f80,
					 0xfffffff0,
					 UINT64_MAX - 7 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (unsigned sz = 1; sz <= 8; sz *= 2) {
			assert_int_equal(ops->read(p, offs[i], sz), 0);
			ops->write(p, offs[i], ~0ULL, sz);
		}
	}
	/* partial access to claim never claims or completes */
	plic_set_irq(p, 1022, 1);
	prio(p, 1022, 1);
	enable(p, 0, 1022, 1);
	assert_int_equal(ops->read(p, PLIC_CONTEXT_OFF + 4, 2), 0);
	assert_true(pending(p, 1022));
	/* misaligned */
	assert_int_equal(ops->read(p, PLIC_CONTEXT_OFF + 5, 4), 0);
	plic_destroy(p);

	struct irq_line l[2] = { { 0 } };
	struct error err;
	assert_null(plic_create(0, 1, l, &err));
	assert_null(plic_create(1024, 1, l, &err));
	assert_null(plic_create(10, 65, l, &err));
	assert_int_equal(err.code, EINVAL);
}

static void test_save_load(void **state)
{
	struct plic *p = mk(NSRC, NHARTS);
	struct plic_state *st = malloc(sizeof(*st));

	ops = plic_mmio_ops();
	prio(p, 4, 2);
	enable(p, 2, 4, 1);
	threshold(p, 2, 1);
	plic_set_irq(p, 4, 1);
	plic_save(p, st);
	plic_destroy(p);

	p = mk(NSRC, NHARTS);
	assert_int_equal(plic_load(p, st), 0);
	assert_int_equal(out_level[2], 1);
	assert_int_equal(claim(p, 2), 4);
	st->num_sources = 3;
	assert_int_equal(plic_load(p, st), -EINVAL);
	free(st);
	plic_destroy(p);
}

static void *toggler(void *arg)
{
	struct plic *p = arg;

	for (int i = 0; i < 20000; i++)
		plic_set_irq(p, 1 + (unsigned)i % 8, i & 1);
	for (unsigned s = 1; s <= 8; s++)
		plic_set_irq(p, s, 0);
	return NULL;
}

/* Sources change on other threads while a hart claims and completes. */
static void test_threads(void **state)
{
	struct plic *p = mk(NSRC, NHARTS);
	pthread_t t[2];

	ops = plic_mmio_ops();
	for (unsigned s = 1; s <= 8; s++) {
		prio(p, s, 1 + s % 7);
		enable(p, 1, s, 1);
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, toggler, p);
	for (int i = 0; i < 20000; i++) {
		uint32_t s = claim(p, 1);
		assert_true(s <= 8);
		if (s)
			complete(p, 1, s);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* all deasserted: nothing pending, output low */
	while (claim(p, 1))
		;
	for (unsigned s = 1; s <= 8; s++)
		complete(p, 1, s);
	assert_int_equal(rd(p, PLIC_PENDING_OFF), 0);
	assert_int_equal(out_level[1], 0);
	plic_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_claim_complete),
		cmocka_unit_test(test_threshold_and_contexts),
		cmocka_unit_test(test_level),
		cmocka_unit_test(test_bounds_and_big),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
