/* A test fixture: one hart, reset to M-mode at RAM_BASE, on RAM_SIZE bytes
 * of guest RAM (the includer defines both), for cmocka's group set-up. */
#ifndef SV_TEST_ONE_HART_H
#define SV_TEST_ONE_HART_H

#include "cpu/hart_impl.h"
#include "mem/gmem.h"
#include "util/vclock.h"

static struct gmem *mem;
static struct hart *h;
static struct vclock clock_;

static int setup(void **state)
{
	(void)state;
	vclock_init(&clock_);
	mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(mem);
	struct hart_config cfg = { .hartid = 0, .mem = mem, .clock = &clock_ };
	h = hart_create(&cfg, NULL);
	assert_non_null(h);
	hart_reset(h, RAM_BASE, PRIV_M);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hart_destroy(h);
	gmem_destroy(mem);
	return 0;
}

#endif
