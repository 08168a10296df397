/*
 * The binary translator (docs/jit.md): hot decoded blocks become host code.
 * The interpreter stays the reference: a translated block keeps the
 * interpreter's conventions (instret credited on entry and taken back on a
 * trap or taken branch, h->s.pc = the block's first instruction while it
 * runs), and every instruction the backend does not translate runs through
 * its interpreter handler (jit_exec_one), so nothing is ever an error.
 *
 * Per hart, like the decoded-block cache: only the hart's own thread calls
 * these functions, and translations are dropped with the bcache (they point
 * into its blocks).
 */
#ifndef SV_CPU_JIT_JIT_H
#define SV_CPU_JIT_JIT_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart_impl.h"

/* A block runs JIT_HOT times in the interpreter before it is translated:
 * code that runs a few times (boot, short-lived programs) never pays for
 * translation. The environment variable SV_JIT_HOT overrides it (tests
 * use 1: translate everything, so every instruction runs translated). */
#define JIT_HOT 48

/* Translated code runs (chained) for at most this many guest instructions
 * before it returns to the dispatcher, which then polls the timers: the
 * interpreter's HART_POLL_BLOCKS, counted in instructions. */
#define JIT_POLL_INSNS 8192

struct jit;

/* Counters for docs/jit.md and bench/cpu (hart's thread; read after). */
struct jit_stats {
	uint64_t blocks;     /* translations */
	uint64_t insns;	     /* guest instructions translated */
	uint64_t fallbacks;  /* of which run through interpreter handlers */
	uint64_t code_bytes; /* host code emitted */
	uint64_t ns;	     /* time spent translating */
	uint64_t flushes;    /* code cache flushed whole */
	uint64_t entries;    /* blocks entered from the dispatcher */
	uint64_t links;	     /* exits patched into direct jumps */
	uint64_t repins;     /* pinned registers chosen again (a flush) */
	uint64_t run_shared; /* accesses translated without their own TLB
			      * lookup (runs off one base register) */
};

#if SV_HAVE_JIT
/* Create the hart's translator (code cache); -errno if the host refuses
 * (no memfd or no executable mapping): the hart then interprets. */
int jit_create(struct hart *h);
void jit_destroy(struct hart *h);
/* Drop every translation (the bcache was flushed, or the cache is full). */
void jit_flush(struct hart *h);
/* After jit_flush: give the code cache's pages back to the host (the
 * guest went idle, bcache_trim); hart thread only. */
void jit_trim(struct hart *h);
/* Translate b; false if it cannot be (the interpreter runs it). */
bool jit_translate(struct hart *h, struct block *b);
/* Run b's translation (and whatever it chains to) from the dispatcher. */
void jit_run(struct hart *h, struct block *b);
const struct jit_stats *jit_stats(const struct hart *h);
/* The guest registers translated code keeps in host registers now, most
 * used first, into regs (room for 32); their number. */
unsigned jit_pinned(const struct hart *h, uint8_t *regs);

/* Is b translated (translating it now if it became hot)? */
static inline bool jit_block_ready(struct hart *h, struct block *b)
{
	if (likely(b->jit_entry && b->jit_gen == h->jit_gen))
		return true;
	if (b->scratch || ++b->hits < h->jit_hot)
		return false;
	return jit_translate(h, b);
}
#else
static inline int jit_create(struct hart *h)
{
	(void)h;
	return -95; /* EOPNOTSUPP: no backend for this host */
}
static inline void jit_destroy(struct hart *h)
{
	(void)h;
}
static inline void jit_flush(struct hart *h)
{
	(void)h;
}
static inline void jit_trim(struct hart *h)
{
	(void)h;
}
static inline bool jit_block_ready(struct hart *h, struct block *b)
{
	(void)h;
	(void)b;
	return false;
}
static inline void jit_run(struct hart *h, struct block *b)
{
	(void)h;
	(void)b;
}
static inline const struct jit_stats *jit_stats(const struct hart *h)
{
	(void)h;
	return 0;
}
static inline unsigned jit_pinned(const struct hart *h, uint8_t *regs)
{
	(void)h;
	(void)regs;
	return 0;
}
#endif

#endif
