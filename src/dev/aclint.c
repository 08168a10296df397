/*
 * ACLINT MSWI + MTIMER in the SiFive CLINT layout (RISC-V ACLINT spec 1.0,
 * sections 2 and 3; SiFive FU540 manual, chapter 9 "CLINT").
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev/aclint.h"
#include "util/error.h"

struct aclint {
	pthread_mutex_t lock;
	unsigned num_harts;
	const struct vclock *clock;
	struct irq_line msip_line[ACLINT_MAX_HARTS];
	struct aclint_timer_ops tops;
	void *topaque;
	uint32_t msip[ACLINT_MAX_HARTS];
};

/* The register file as 32-bit words (every register is one or two words). */
static uint32_t aclint_read32(struct aclint *a, uint64_t off)
{
	if (off < ACLINT_MTIMECMP_OFF) {
		uint64_t hart = off / 4;
		return hart < a->num_harts ? a->msip[hart] : 0;
	}
	if (off < ACLINT_MTIMECMP_OFF + 8ULL * a->num_harts) {
		unsigned hart = (unsigned)((off - ACLINT_MTIMECMP_OFF) / 8);
		uint64_t v = a->tops.get_mtimecmp(a->topaque, hart);
		return (uint32_t)(off & 4 ? v >> 32 : v);
	}
	if (off == ACLINT_MTIME_OFF)
		return (uint32_t)vclock_now(a->clock);
	if (off == ACLINT_MTIME_OFF + 4)
		return (uint32_t)(vclock_now(a->clock) >> 32);
	return 0;
}

static void aclint_set_msip(struct aclint *a, unsigned hart, uint32_t v)
{
	a->msip[hart] = v & 1; /* MSWI spec 2.1: bits 31:1 are zero */
	irq_line_set(&a->msip_line[hart], (int)a->msip[hart]);
}

static void aclint_write32(struct aclint *a, uint64_t off, uint32_t val)
{
	if (off < ACLINT_MTIMECMP_OFF) {
		uint64_t hart = off / 4;
		if (hart < a->num_harts)
			aclint_set_msip(a, (unsigned)hart, val);
		return;
	}
	if (off < ACLINT_MTIMECMP_OFF + 8ULL * a->num_harts) {
		unsigned hart = (unsigned)((off - ACLINT_MTIMECMP_OFF) / 8);
		uint64_t v = a->tops.get_mtimecmp(a->topaque, hart);
		if (off & 4)
			v = (v & 0xffffffffULL) | ((uint64_t)val << 32);
		else
			v = (v & ~0xffffffffULL) | val;
		a->tops.set_mtimecmp(a->topaque, hart, v);
	}
	/* mtime and holes: writes ignored (see aclint.h) */
}

static bool aclint_is_timer64(const struct aclint *a, uint64_t off)
{
	return (off >= ACLINT_MTIMECMP_OFF &&
		off < ACLINT_MTIMECMP_OFF + 8ULL * a->num_harts) ||
	       off == ACLINT_MTIME_OFF;
}

static uint64_t aclint_read(void *opaque, uint64_t off, unsigned size)
{
	struct aclint *a = opaque;
	uint64_t v = 0;

	if (off >= ACLINT_MMIO_SIZE || size > ACLINT_MMIO_SIZE - off ||
	    (size != 1 && size != 2 && size != 4 && size != 8) ||
	    (off & (size - 1)))
		return 0;

	pthread_mutex_lock(&a->lock);
	if (size == 8 && aclint_is_timer64(a, off)) {
		/* one 64-bit read: no torn mtime/mtimecmp */
		if (off == ACLINT_MTIME_OFF)
			v = vclock_now(a->clock);
		else
			v = a->tops.get_mtimecmp(
				a->topaque,
				(unsigned)((off - ACLINT_MTIMECMP_OFF) / 8));
	} else if (size == 8) {
		v = aclint_read32(a, off) | (uint64_t)aclint_read32(a, off + 4)
						    << 32;
	} else {
		uint32_t w = aclint_read32(a, off & ~3ULL);
		v = (w >> ((off & 3) * 8)) &
		    (size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1);
	}
	pthread_mutex_unlock(&a->lock);
	return v;
}

static void aclint_write(void *opaque, uint64_t off, uint64_t val,
			 unsigned size)
{
	struct aclint *a = opaque;

	if (off >= ACLINT_MMIO_SIZE || size > ACLINT_MMIO_SIZE - off ||
	    (size != 1 && size != 2 && size != 4 && size != 8) ||
	    (off & (size - 1)))
		return;

	pthread_mutex_lock(&a->lock);
	if (size == 8 && aclint_is_timer64(a, off)) {
		if (off != ACLINT_MTIME_OFF)
			a->tops.set_mtimecmp(
				a->topaque,
				(unsigned)((off - ACLINT_MTIMECMP_OFF) / 8),
				val);
	} else if (size == 8) {
		aclint_write32(a, off, (uint32_t)val);
		aclint_write32(a, off + 4, (uint32_t)(val >> 32));
	} else if (size == 4) {
		aclint_write32(a, off, (uint32_t)val);
	} else {
		/* byte/halfword: read-modify-write of the containing word */
		unsigned shift = (unsigned)(off & 3) * 8;
		uint32_t mask = ((1u << (size * 8)) - 1) << shift;
		uint32_t w = aclint_read32(a, off & ~3ULL);
		w = (w & ~mask) | (((uint32_t)val << shift) & mask);
		aclint_write32(a, off & ~3ULL, w);
	}
	pthread_mutex_unlock(&a->lock);
}

static const struct mmio_ops aclint_ops = {
	.read = aclint_read,
	.write = aclint_write,
};

const struct mmio_ops *aclint_mmio_ops(void)
{
	return &aclint_ops;
}

struct aclint *aclint_create(unsigned num_harts, const struct vclock *clock,
			     const struct irq_line *msip,
			     const struct aclint_timer_ops *timer_ops,
			     void *timer_opaque, struct error *err)
{
	struct aclint *a;

	if (num_harts < 1 || num_harts > ACLINT_MAX_HARTS) {
		error_set(err, EINVAL, "aclint: %u harts: expected 1..%u",
			  num_harts, ACLINT_MAX_HARTS);
		return NULL;
	}
	if (!clock || !msip || !timer_ops || !timer_ops->set_mtimecmp ||
	    !timer_ops->get_mtimecmp) {
		error_set(err, EINVAL, "aclint: missing clock, lines or ops");
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		error_set(err, ENOMEM, "aclint: out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	a->num_harts = num_harts;
	a->clock = clock;
	memcpy(a->msip_line, msip, num_harts * sizeof(*msip));
	a->tops = *timer_ops;
	a->topaque = timer_opaque;
	return a;
}

void aclint_destroy(struct aclint *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

void aclint_save(struct aclint *a, struct aclint_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&a->lock);
	st->num_harts = a->num_harts;
	for (unsigned i = 0; i < a->num_harts; i++) {
		st->msip[i] = a->msip[i];
		st->mtimecmp[i] = a->tops.get_mtimecmp(a->topaque, i);
	}
	pthread_mutex_unlock(&a->lock);
}

int aclint_load(struct aclint *a, const struct aclint_state *st)
{
	if (st->num_harts != a->num_harts)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < a->num_harts; i++) {
		aclint_set_msip(a, i, st->msip[i]);
		a->tops.set_mtimecmp(a->topaque, i, st->mtimecmp[i]);
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}
