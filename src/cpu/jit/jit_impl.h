/*
 * Inside the translator: the code cache and the interface between the
 * host-independent part (jit.c) and the one backend per host ISA
 * (x86_64.c). A backend for another host implements the three jit_be_*
 * functions and nothing else changes.
 */
#ifndef SV_CPU_JIT_JIT_IMPL_H
#define SV_CPU_JIT_JIT_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cpu/jit/jit.h"

/* Code cache: one memfd mapped twice, RW to emit and RX to run; never
 * writable and executable in one mapping. Flushed whole when full. */
#define JIT_CODE_SIZE (32u << 20)
/* Worst case code of one block (64 instructions, cold paths included). */
#define JIT_BLOCK_MAX (48u << 10)
#define JIT_LINKS     (512u << 10)
/* The jump cache: computed jumps (jalr) from translated code go straight
 * to the target's translation when it is here. Keyed by guest physical
 * address (found through the fetch TLB, as the dispatcher does), filled
 * by the dispatcher, cleared when the bcache epoch moves or the cache is
 * flushed (the same lifetime as the links). */
#define JIT_JC_SIZE 1024u

/* Guest registers the backend keeps in host registers (j->pin), and each
 * block's profile: JIT_PROFILE_BYTES just before its chained entry
 * (jit_chain), byte g the main-line reads and writes of guest register g
 * (at most 255).
 *
 * The pinned set follows the running code. Every JIT_SAMPLE_EVERY-th
 * time the countdown runs out (after JIT_POLL_INSNS instructions of
 * chained code, so a block is hit in proportion to the instructions it
 * runs), the block entered next adds its uses per instruction (x 256) to
 * j->use. Every
 * JIT_REPIN_SAMPLES samples, the JIT_PINNED registers used most replace
 * the pinned ones if they were used more by over 1/JIT_REPIN_GAIN
 * (12.5 %), by 1/2^JIT_REPIN_MIN_SHIFT of an access per instruction, and
 * by enough to pay, within one period of JIT_REPIN_SAMPLES samples, for
 * translating again what the flush drops: the gain (accesses per
 * instruction x 256) times JIT_REPIN_PAYBACK at least the blocks
 * translated since the last flush. (A block costs ~4.5 us to translate,
 * an access to the hart ~0.5 ns; over a period, 33.5 M instructions, a
 * gain of g / 256 saves 0.065 g ms, which pays for about 12 g blocks.)
 * The samples only vouch for the period they cover: a Debian boot's
 * phases are shorter than what a flush of its thousands of blocks needs,
 * and the set of one phase is worse for the next (docs/jit.md, "Twelfth
 * pass"). And the same set must have won the period before (so a phase
 * shorter than two periods does not get its own set). So a loop repins
 * after two periods, a kernel hardly ever. Then the counts are halved
 * (older samples weigh less). */
#define JIT_PINNED	    8u
#define JIT_PROFILE_BYTES   32u
#define JIT_SAMPLE_EVERY    4u /* a power of two */
#define JIT_REPIN_SAMPLES   1024u
#define JIT_REPIN_GAIN	    8u
#define JIT_REPIN_MIN_SHIFT 4u
#define JIT_REPIN_PAYBACK   12u
struct jit_jc {
	uint64_t gpa; /* ~0: empty */
	const void *chain;
};

/* A chainable exit: a direct jump that leaves its block for a target in
 * the same guest page, initially to the exit stub. Linked (patched to the
 * target's chained entry) when the dispatcher next finds the target
 * translated and in the same physical page. */
struct jit_exit {
	uint32_t site;	     /* code offset of the jump's rel32 field */
	uint32_t target_off; /* target's offset in the page */
	uint64_t from_page;  /* guest physical page of the source block */
};

struct jit {
	int fd;
	uint8_t *rw;	   /* emitting view */
	const uint8_t *rx; /* running view, same pages */
	size_t used;
	/* dispatcher -> translated code: saves the host callee-saved
	 * registers, pins h, jumps to code */
	void (*enter)(struct hart *h, const void *code);
	/* translated code -> dispatcher: stores the pinned guest
	 * registers into h->s.x first; epilogue_mem when they are there */
	const uint8_t *epilogue, *epilogue_mem;
	size_t stubs_end;
	size_t committed;	/* code bytes prefaulted in both views */
	struct jit_exit *exits; /* [0] unused: h->jit_link = 0 is none */
	size_t exits_used;
	/* sites patched into direct jumps, undone when the bcache epoch
	 * moves (a linked target would otherwise skip its revalidation) */
	uint32_t *linked;
	size_t n_linked;
	uint64_t link_epoch;
	struct jit_jc jc[JIT_JC_SIZE];	 /* h->jit_jc points here */
	uint8_t pin[JIT_PINNED];	 /* pinned guest registers, see above */
	bool sample;			 /* profile the next block entered */
	uint32_t polls;			 /* countdowns run out */
	uint32_t samples, repin_samples; /* SV_JIT_REPIN_SAMPLES for tests */
	uint64_t weight;		 /* samples in use[], halved with it */
	uint64_t gen_blocks;		 /* translated since the last flush */
	uint32_t candidate; /* the set that won the last period, as a mask */
	uint64_t use[32];   /* sampled reads and writes of each register */
	struct jit_stats stats;
	/* SV_JIT_PERFMAP=1: /tmp/perf-PID.map, each range of translated
	 * code named by what it does, for perf report (docs/performance.md) */
	FILE *perfmap;
};

/* jit.c, for the backend */
/* Run one decoded instruction (in its block, which outlives the
 * translation) through its interpreter handler; 1 if the block continues
 * after it, 0 if it ended the block (trap, jump, state change: h->s.pc is
 * already set). */
uint32_t jit_exec_one(struct hart *h, const struct insn *in);
/* Run the rest of the block from in (which is in the block's own array,
 * so each handler goes on to the next) as the interpreter does, to the
 * block's end: the block is over, h->s.pc set. */
void jit_exec_rest(struct hart *h, const struct insn *in);
/* Register a chainable exit; returns its number (never 0), or 0 if the
 * table is full (the exit then simply is not chainable). */
uint32_t jit_new_exit(struct jit *j, uint32_t site, uint64_t from_page,
		      uint32_t target_off);

/* Name the code at [start, end) (code offsets) in the perf map. */
void jit_perfmap(struct jit *j, uint32_t start, uint32_t end, const char *name);

/* the backend */
/* Emit the enter/epilogue stubs at the start of the cache. */
void jit_be_stubs(struct jit *j);
/* Translate b at j->used; sets b->jit_entry and jit_chain and advances
 * j->used. false if the cache or a table is too full (caller flushes). */
bool jit_be_block(struct jit *j, struct hart *h, struct block *b);
/* Patch the jump whose rel32 field is at code offset site to target;
 * target NULL undoes the link (the jump goes to its exit stub again). */
void jit_be_link(struct jit *j, uint32_t site, const void *target);

#endif
