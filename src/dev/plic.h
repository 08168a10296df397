/*
 * PLIC (`sifive,plic-1.0.0`, RISC-V PLIC spec 1.0.0) at 0x0C00_0000.
 *
 *   0x000000 + 4*src           priority[src]      (src 1..num_sources)
 *   0x001000 + 4*word          pending bits       (read-only)
 *   0x002000 + 0x80*ctx + 4*w  enable bits of ctx
 *   0x200000 + 0x1000*ctx      threshold of ctx
 *   0x200004 + 0x1000*ctx      claim (read) / complete (write) of ctx
 *
 * Contexts as on QEMU virt: context 2*h is hart h's M-mode external interrupt
 * (MEI), 2*h+1 its S-mode one (SEI). Priorities and thresholds have
 * PLIC_PRIO_BITS bits (0..7); priority 0 never interrupts. Sources are
 * level-triggered: a source is pending while its level is high and it is not
 * claimed; deasserting before the claim withdraws the request; after a
 * complete a still-high source becomes pending again.
 *
 * Ownership: plic_create copies the context output lines; their sinks must
 * outlive the device. Thread safety: every function except create/destroy
 * may be called from any thread (a mutex serializes them). Context output
 * sinks are called with that mutex held and only when the level changes:
 * they must not call back into the PLIC.
 */
#ifndef SV_DEV_PLIC_H
#define SV_DEV_PLIC_H

#include <stdint.h>

#include "mem/gmem.h"
#include "util/error.h"
#include "util/irq.h"

#define PLIC_BASE	  0x0c000000ULL
#define PLIC_MAX_SOURCES  1023 /* ids 1..1023; 0 means "no interrupt" */
#define PLIC_MAX_HARTS	  64
#define PLIC_MAX_CONTEXTS (2 * PLIC_MAX_HARTS)
#define PLIC_PRIO_BITS	  3
#define PLIC_WORDS	  ((PLIC_MAX_SOURCES + 1) / 32)

#define PLIC_PRIORITY_OFF   0x000000
#define PLIC_PENDING_OFF    0x001000
#define PLIC_ENABLE_OFF	    0x002000
#define PLIC_ENABLE_STRIDE  0x80
#define PLIC_CONTEXT_OFF    0x200000
#define PLIC_CONTEXT_STRIDE 0x1000

/* Size of the MMIO region for num_harts harts (2 contexts each):
 * 0x200000 + 0x1000 * 2 * num_harts; 0x280000 for 64 harts. */
#define PLIC_MMIO_SIZE(num_harts) \
	(PLIC_CONTEXT_OFF + PLIC_CONTEXT_STRIDE * 2ULL * (num_harts))

struct plic;

/* Guest-visible state, plain data for snapshot/migration. Bit i of word w
 * is source 32*w + i. */
struct plic_state {
	uint32_t num_sources;
	uint32_t num_contexts;
	uint32_t priority[PLIC_MAX_SOURCES + 1];
	uint32_t level[PLIC_WORDS]; /* input levels */
	uint32_t pending[PLIC_WORDS];
	uint32_t claimed[PLIC_WORDS]; /* in flight: claimed, not completed */
	uint32_t enable[PLIC_MAX_CONTEXTS][PLIC_WORDS];
	uint32_t threshold[PLIC_MAX_CONTEXTS];
};

/* Create with sources 1..num_sources (1..PLIC_MAX_SOURCES) for num_harts
 * harts (1..PLIC_MAX_HARTS). ctx_out[c] (2*num_harts entries) is the output
 * of context c. Returns NULL (with err set) on bad arguments. */
struct plic *plic_create(unsigned num_sources, unsigned num_harts,
			 const struct irq_line *ctx_out, struct error *err);
/* Free the device (NULL is fine). */
void plic_destroy(struct plic *p);

/* The MMIO callbacks; pass the plic as opaque. */
const struct mmio_ops *plic_mmio_ops(void);

/* Drive source src's input level (any thread). Out-of-range src ignored. */
void plic_set_irq(struct plic *p, unsigned src, int level);
/* An irq_line that drives source src (valid while the plic lives); a line
 * with no sink if src is out of range. */
struct irq_line plic_source_line(struct plic *p, unsigned src);

/* Copy the guest-visible state out. */
void plic_save(struct plic *p, struct plic_state *st);
/* Restore state from plic_save and re-drive the outputs. Returns 0, or
 * -EINVAL if st does not fit this device. */
int plic_load(struct plic *p, const struct plic_state *st);

#endif
