/*
 * A hart between runs and in spin loops: requests a parked hart need not
 * wake for (hart_request), and pause-loop exiting (op_fence), under both
 * engines.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpu/hart_impl.h"
#include "mem/gmem.h"
#include "util/vclock.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)
#define DATA	 (RAM_BASE + 0x8000)
#define FENCE	 0x0ff0000fu /* fence rw, rw */
#define J_SELF	 0x0000006fu /* j . */
#define J_BACK4	 0xffdff06fu /* j .-4 */

struct rig {
	struct vclock clock;
	struct gmem *mem;
	struct hart *h;
};

static void rig_init(struct rig *r, bool jit, const uint32_t *code, size_t n)
{
	vclock_init(&r->clock);
	r->mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(r->mem);
	assert_int_equal(gmem_write(r->mem, RAM_BASE, code, n * 4), 0);
	struct hart_config cfg = {
		.hartid = 0, .mem = r->mem, .clock = &r->clock, .jit = jit
	};
	r->h = hart_create(&cfg, NULL);
	assert_non_null(r->h);
	hart_reset(r->h, RAM_BASE, PRIV_M);
	r->h->jit_hot = 1;
}

static void rig_destroy(struct rig *r)
{
	hart_destroy(r->h);
	gmem_destroy(r->mem);
}

/* ---- requests a parked hart need not wake for ------------------------- */

struct parker {
	struct hart *h;
	_Atomic int tid;
	_Atomic bool returned;
};

static void *park_thread(void *arg)
{
	struct parker *p = arg;

	atomic_store(&p->tid, (int)syscall(SYS_gettid));
	hart_park(p->h, UINT64_MAX); /* no timer: only a wake ends it */
	atomic_store(&p->returned, true);
	return NULL;
}

/* Is thread tid of this process asleep (state S in its stat)? */
static bool sleeping(int tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *close = strrchr(buf, ')'); /* after the comm */
	return close && close[1] == ' ' && close[2] == 'S';
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/*
 * A TLB flush or remote FENCE.I posted to a parked hart counts as done at
 * once and does not wake it (a guest's flush_tlb_all asks every hart, idle
 * ones included); an interrupt event does. The hart serves what is
 * pending before its next guest access, and before it parks again.
 */
static void test_lazy_requests(void **state)
{
	(void)state;
	const uint32_t code[] = { J_SELF };
	struct rig r;
	rig_init(&r, false, code, 1);
	struct hart *h = r.h;

	/* posted before a park: served by it, the park still sleeps */
	h->tlb_data[TLB_CTX_M][1][0].tag = 0; /* a store entry for page 0 */
	h->tlb_data[TLB_CTX_M][1][0].gpa_page = RAM_BASE;
	assert_true(hart_tlb_maps_store(h, RAM_BASE));
	hart_request(h, HART_REQ_TLB_FLUSH);

	struct parker p = { .h = h };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, park_thread, &p), 0);
	/* wait until it sleeps in the futex (bounded: 10 s) */
	for (int i = 0;
	     i < 10000 && !(atomic_load(&p.tid) && atomic_load(&h->parked) &&
			    sleeping(atomic_load(&p.tid)));
	     i++)
		sleep_ms(1);
	assert_true(sleeping(atomic_load(&p.tid)));
	assert_false(atomic_load(&p.returned));
	assert_false(hart_tlb_maps_store(h, RAM_BASE)); /* served */
	assert_int_equal(atomic_load(&h->requests), 0);

	/* posted while parked: done at once, and it sleeps on */
	hart_request(h, HART_REQ_TLB_FLUSH);
	hart_request(h, HART_REQ_FENCE_I);
	assert_true(hart_request_done(h, HART_REQ_TLB_FLUSH));
	assert_true(hart_request_done(h, HART_REQ_FENCE_I));
	sleep_ms(100);
	assert_false(atomic_load(&p.returned));

	/* an interrupt event wakes it; the flushes wait for its run */
	hart_request(h, HART_EV_IRQ);
	pthread_join(t, NULL);
	assert_true(atomic_load(&p.returned));
	assert_int_equal(atomic_load(&h->requests),
			 HART_REQ_TLB_FLUSH | HART_REQ_FENCE_I | HART_EV_IRQ);
	uint64_t fences = h->bc.fence_i;
	assert_int_equal(hart_run(h, 100), HART_RUN_BUDGET);
	assert_int_equal(atomic_load(&h->requests), 0);
	assert_int_equal(h->bc.fence_i, fences + 1);
	rig_destroy(&r);
}

/* ---- pause-loop exiting ------------------------------------------------- */

/* A spin loop of PAUSEs yields the host CPU every HART_PAUSE_YIELD of
 * them; a loop of other fences never does. */
static void test_pause_loop_yields(void **state)
{
	(void)state;
	const uint32_t spin[] = { INSN_PAUSE, J_BACK4 };
	const uint32_t fences[] = { FENCE, J_BACK4 };

	for (int jit = 0; jit < 2; jit++) {
		struct rig r;
		rig_init(&r, jit, spin, 2);
		/* 64 000 instructions: 32 000 PAUSEs */
		for (int i = 0; i < 64; i++)
			hart_run(r.h, 1000);
		print_message("%s: %llu yields\n", jit ? "jit" : "interp",
			      (unsigned long long)r.h->pause_yields);
		assert_true(r.h->pause_yields >= 32000 / HART_PAUSE_YIELD - 2);
		assert_true(r.h->pause_yields <= 32000 / HART_PAUSE_YIELD + 2);
		rig_destroy(&r);

		rig_init(&r, jit, fences, 2);
		for (int i = 0; i < 64; i++)
			hart_run(r.h, 1000);
		assert_int_equal(r.h->pause_yields, 0);
		rig_destroy(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lazy_requests),
		cmocka_unit_test(test_pause_loop_yields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
