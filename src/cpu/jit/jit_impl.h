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
	struct jit_jc jc[JIT_JC_SIZE]; /* h->jit_jc points here */
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
