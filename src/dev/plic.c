/*
 * Platform-Level Interrupt Controller (RISC-V PLIC spec 1.0.0, chapters
 * "Interrupt Gateways", "Memory Map", "Interrupt Claim/Completion").
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dev/plic.h"
#include "util/error.h"

#define PLIC_PRIO_MASK ((1u << PLIC_PRIO_BITS) - 1)

struct plic_src_ref {
	struct plic *plic;
	unsigned src;
};

struct plic {
	pthread_mutex_t lock;
	unsigned num_sources;
	unsigned num_contexts;
	unsigned num_words; /* words of the bit arrays in use */
	uint64_t mmio_size;
	uint32_t valid[PLIC_WORDS]; /* bits of existing sources */
	struct irq_line out[PLIC_MAX_CONTEXTS];
	bool out_level[PLIC_MAX_CONTEXTS];
	struct plic_src_ref *refs;
	struct plic_state s;
};

static inline bool bit_test(const uint32_t *a, unsigned i)
{
	return a[i / 32] >> (i % 32) & 1;
}

static inline void bit_assign(uint32_t *a, unsigned i, bool v)
{
	if (v)
		a[i / 32] |= 1u << (i % 32);
	else
		a[i / 32] &= ~(1u << (i % 32));
}

/* Highest-priority pending source enabled for ctx with priority above the
 * threshold; ties go to the lowest id (spec: "Interrupt Priorities"). */
static unsigned plic_best(const struct plic *p, unsigned ctx)
{
	unsigned best = 0;
	uint32_t best_prio = p->s.threshold[ctx];

	for (unsigned w = 0; w < p->num_words; w++) {
		uint32_t bits = p->s.pending[w] & p->s.enable[ctx][w];
		while (bits) {
			unsigned src = w * 32 + (unsigned)__builtin_ctz(bits);
			bits &= bits - 1;
			if (p->s.priority[src] > best_prio) {
				best = src;
				best_prio = p->s.priority[src];
			}
		}
	}
	return best;
}

/* Re-evaluate every context's output; drive only the lines that change. */
static void plic_update(struct plic *p)
{
	for (unsigned c = 0; c < p->num_contexts; c++) {
		bool lvl = plic_best(p, c) != 0;
		if (lvl != p->out_level[c]) {
			p->out_level[c] = lvl;
			irq_line_set(&p->out[c], lvl);
		}
	}
}

/* Gateway for a level-triggered source: forwards a request while the level
 * is high and no request of this source is in flight. */
static void plic_gateway(struct plic *p, unsigned src)
{
	bool pend = bit_test(p->s.level, src) && !bit_test(p->s.claimed, src);
	bit_assign(p->s.pending, src, pend);
}

void plic_set_irq(struct plic *p, unsigned src, int level)
{
	if (src == 0 || src > p->num_sources)
		return;
	pthread_mutex_lock(&p->lock);
	if (bit_test(p->s.level, src) != (level != 0)) {
		bool was = bit_test(p->s.pending, src);
		bit_assign(p->s.level, src, level != 0);
		plic_gateway(p, src);
		if (bit_test(p->s.pending, src) != was)
			plic_update(p);
	}
	pthread_mutex_unlock(&p->lock);
}

static void plic_line_set(void *opaque, int level)
{
	struct plic_src_ref *r = opaque;
	plic_set_irq(r->plic, r->src, level);
}

struct irq_line plic_source_line(struct plic *p, unsigned src)
{
	struct irq_line l = { 0 };
	if (src >= 1 && src <= p->num_sources) {
		l.set = plic_line_set;
		l.opaque = &p->refs[src];
	}
	return l;
}

static uint32_t plic_claim(struct plic *p, unsigned ctx)
{
	unsigned src = plic_best(p, ctx);
	if (src) {
		bit_assign(p->s.claimed, src, true);
		plic_gateway(p, src);
		plic_update(p);
	}
	return src;
}

static void plic_complete(struct plic *p, unsigned ctx, uint32_t src)
{
	/* spec: a completion for a source that is not enabled for this
	 * context is silently ignored; so is one for a source not in flight */
	if (src == 0 || src > p->num_sources ||
	    !bit_test(p->s.enable[ctx], src) || !bit_test(p->s.claimed, src))
		return;
	bit_assign(p->s.claimed, src, false);
	plic_gateway(p, src);
	if (bit_test(p->s.pending, src))
		plic_update(p);
}

/* Register access by 32-bit word; off is 4-aligned and inside the region.
 * claim_ok: a read of a claim register claims (false for partial reads). */
static uint32_t plic_read32(struct plic *p, uint64_t off, bool claim_ok)
{
	if (off < PLIC_PENDING_OFF) {
		unsigned src = (unsigned)(off / 4);
		return src <= p->num_sources ? p->s.priority[src] : 0;
	}
	if (off < PLIC_ENABLE_OFF) {
		uint64_t w = (off - PLIC_PENDING_OFF) / 4;
		return w < p->num_words ? p->s.pending[w] : 0;
	}
	if (off < PLIC_CONTEXT_OFF) {
		uint64_t ctx = (off - PLIC_ENABLE_OFF) / PLIC_ENABLE_STRIDE;
		unsigned w = (unsigned)(off % PLIC_ENABLE_STRIDE) / 4;
		if (ctx >= p->num_contexts || w >= p->num_words)
			return 0;
		return p->s.enable[ctx][w];
	}
	uint64_t ctx = (off - PLIC_CONTEXT_OFF) / PLIC_CONTEXT_STRIDE;
	if (ctx >= p->num_contexts)
		return 0;
	switch (off % PLIC_CONTEXT_STRIDE) {
	case 0: return p->s.threshold[ctx];
	case 4: return claim_ok ? plic_claim(p, (unsigned)ctx) : 0;
	default: return 0;
	}
}

static void plic_write32(struct plic *p, uint64_t off, uint32_t val,
			 bool complete_ok)
{
	if (off < PLIC_PENDING_OFF) {
		unsigned src = (unsigned)(off / 4);
		if (src >= 1 && src <= p->num_sources) {
			p->s.priority[src] = val & PLIC_PRIO_MASK;
			plic_update(p);
		}
		return;
	}
	if (off < PLIC_ENABLE_OFF)
		return; /* pending bits are read-only */
	if (off < PLIC_CONTEXT_OFF) {
		uint64_t ctx = (off - PLIC_ENABLE_OFF) / PLIC_ENABLE_STRIDE;
		unsigned w = (unsigned)(off % PLIC_ENABLE_STRIDE) / 4;
		if (ctx >= p->num_contexts || w >= p->num_words)
			return;
		p->s.enable[ctx][w] = val & p->valid[w];
		plic_update(p);
		return;
	}
	uint64_t ctx = (off - PLIC_CONTEXT_OFF) / PLIC_CONTEXT_STRIDE;
	if (ctx >= p->num_contexts)
		return;
	switch (off % PLIC_CONTEXT_STRIDE) {
	case 0:
		p->s.threshold[ctx] = val & PLIC_PRIO_MASK;
		plic_update(p);
		break;
	case 4:
		if (complete_ok)
			plic_complete(p, (unsigned)ctx, val);
		break;
	default: break;
	}
}

static bool plic_access_ok(const struct plic *p, uint64_t off, unsigned size)
{
	return (size == 1 || size == 2 || size == 4 || size == 8) &&
	       off < p->mmio_size && size <= p->mmio_size - off &&
	       !(off & (size - 1));
}

/* The PLIC's registers are 32 bits wide. An 8-byte access is two word
 * accesses (low word first); a 1/2-byte access reads or read-modify-writes
 * the containing word, except that it never claims or completes. */
static uint64_t plic_read(void *opaque, uint64_t off, unsigned size)
{
	struct plic *p = opaque;
	uint64_t v;

	if (!plic_access_ok(p, off, size))
		return 0;
	pthread_mutex_lock(&p->lock);
	if (size == 8) {
		v = plic_read32(p, off, true) |
		    (uint64_t)plic_read32(p, off + 4, true) << 32;
	} else if (size == 4) {
		v = plic_read32(p, off, true);
	} else {
		uint32_t w = plic_read32(p, off & ~3ULL, false);
		v = (w >> ((off & 3) * 8)) & ((1u << (size * 8)) - 1);
	}
	pthread_mutex_unlock(&p->lock);
	return v;
}

static void plic_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct plic *p = opaque;

	if (!plic_access_ok(p, off, size))
		return;
	pthread_mutex_lock(&p->lock);
	if (size == 8) {
		plic_write32(p, off, (uint32_t)val, true);
		plic_write32(p, off + 4, (uint32_t)(val >> 32), true);
	} else if (size == 4) {
		plic_write32(p, off, (uint32_t)val, true);
	} else {
		unsigned shift = (unsigned)(off & 3) * 8;
		uint32_t mask = ((1u << (size * 8)) - 1) << shift;
		uint32_t w = plic_read32(p, off & ~3ULL, false);
		w = (w & ~mask) | (((uint32_t)val << shift) & mask);
		plic_write32(p, off & ~3ULL, w, false);
	}
	pthread_mutex_unlock(&p->lock);
}

static const struct mmio_ops plic_ops = {
	.read = plic_read,
	.write = plic_write,
};

const struct mmio_ops *plic_mmio_ops(void)
{
	return &plic_ops;
}

struct plic *plic_create(unsigned num_sources, unsigned num_harts,
			 const struct irq_line *ctx_out, struct error *err)
{
	struct plic *p;

	if (num_sources < 1 || num_sources > PLIC_MAX_SOURCES) {
		error_set(err, EINVAL, "plic: %u sources: expected 1..%u",
			  num_sources, PLIC_MAX_SOURCES);
		return NULL;
	}
	if (num_harts < 1 || num_harts > PLIC_MAX_HARTS) {
		error_set(err, EINVAL, "plic: %u harts: expected 1..%u",
			  num_harts, PLIC_MAX_HARTS);
		return NULL;
	}
	if (!ctx_out) {
		error_set(err, EINVAL, "plic: no context outputs");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->refs = calloc(num_sources + 1, sizeof(*p->refs));
	if (!p || !p->refs) {
		free(p);
		error_set(err, ENOMEM, "plic: out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->num_sources = num_sources;
	p->num_contexts = 2 * num_harts;
	p->num_words = num_sources / 32 + 1;
	p->mmio_size = PLIC_MMIO_SIZE(num_harts);
	for (unsigned s = 1; s <= num_sources; s++) {
		bit_assign(p->valid, s, true);
		p->refs[s].plic = p;
		p->refs[s].src = s;
	}
	memcpy(p->out, ctx_out, p->num_contexts * sizeof(*ctx_out));
	p->s.num_sources = num_sources;
	p->s.num_contexts = p->num_contexts;
	return p;
}

void plic_destroy(struct plic *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->refs);
	free(p);
}

void plic_save(struct plic *p, struct plic_state *st)
{
	pthread_mutex_lock(&p->lock);
	*st = p->s;
	pthread_mutex_unlock(&p->lock);
}

int plic_load(struct plic *p, const struct plic_state *st)
{
	if (st->num_sources != p->num_sources ||
	    st->num_contexts != p->num_contexts)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	p->s = *st;
	/* sanitize: the state may come from a file */
	for (unsigned w = 0; w < PLIC_WORDS; w++) {
		p->s.level[w] &= p->valid[w];
		p->s.claimed[w] &= p->valid[w];
		for (unsigned c = 0; c < PLIC_MAX_CONTEXTS; c++)
			p->s.enable[c][w] = c < p->num_contexts
						    ? p->s.enable[c][w] &
							      p->valid[w]
						    : 0;
	}
	for (unsigned s = 0; s <= PLIC_MAX_SOURCES; s++)
		p->s.priority[s] = s && s <= p->num_sources
					   ? p->s.priority[s] & PLIC_PRIO_MASK
					   : 0;
	for (unsigned c = 0; c < PLIC_MAX_CONTEXTS; c++)
		p->s.threshold[c] &= PLIC_PRIO_MASK;
	for (unsigned s = 1; s <= p->num_sources; s++)
		plic_gateway(p, s);
	/* force every output to be driven once */
	for (unsigned c = 0; c < p->num_contexts; c++) {
		p->out_level[c] = plic_best(p, c) != 0;
		irq_line_set(&p->out[c], p->out_level[c]);
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}
