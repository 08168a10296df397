/*
 * Inside the x86-64 backend (x86_64.c): the translation context of one
 * block and the instruction encoder (Intel SDM vol. 2, ch. 2 "Instruction
 * Format"): REX/ModRM/SIB and the handful of instructions the backend
 * uses, writing at t->p. Single-threaded: one hart translates into its own
 * code cache.
 */
#ifndef SV_CPU_JIT_X86_64_H
#define SV_CPU_JIT_X86_64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu/jit/jit_impl.h"

enum {
	RAX = 0,
	RCX,
	RDX,
	RBX,
	RSP,
	RBP,
	RSI,
	RDI,
	R8,
	R9,
	R10,
	R11,
	R12,
	R13,
	R14,
	R15,
};

/* condition codes (the low nibble of Jcc/SETcc/CMOVcc) */
enum {
	CC_O = 0,
	CC_B = 2,
	CC_AE = 3,
	CC_E = 4,
	CC_NE = 5,
	CC_BE = 6,
	CC_A = 7,
	CC_P = 0xa,
	CC_L = 0xc,
	CC_GE = 0xd,
	CC_LE = 0xe,
	CC_G = 0xf,
};

/* operand-size flags of an encoding, and the mandatory prefixes of SSE
 * instructions (which go before REX) */
enum { W = 1, B8 = 2, P66 = 4, PF2 = 8, PF3 = 16 };

#define XOFF(g) ((int32_t)(offsetof(struct hart, s.x) + 8 * (g)))
#define FOFF(r) ((int32_t)(offsetof(struct hart, s.f) + 8 * (r)))
#define HOFF(f) ((int32_t)offsetof(struct hart, f))

/* Out-of-line code emitted after the block's main line. COLD_RUN: the
 * accesses of a run (x86_64.c, mem_run) one by one, for when they are not
 * all in one page or the first took its handler. COLD_CALL: for when one
 * of the guards of an instruction's inline code fails (x86_64_fp.c), the
 * interpreter runs the rest of the block from it (jit_exec_rest). */
enum cold_kind { COLD_BRANCH, COLD_MEM, COLD_RUN, COLD_CALL };
/* guards of one instruction: at most 7 (a fused single: FS, frm, NX,
 * three boxes, the result) */
#define COLD_GUARDS 8
struct cold {
	enum cold_kind kind;
	uint32_t fix; /* rel32 of the jump to this code */
	/* COLD_CALL: the rel32 of every guard's jump (fix unused) */
	uint32_t guard[COLD_GUARDS];
	unsigned n_guard;
	uint32_t resume; /* COLD_MEM, COLD_RUN: where the main line goes on */
	uint32_t access; /* COLD_MEM: the access, after the TLB lookup */
	int32_t tlb_field;
	unsigned size;	/* COLD_MEM: bytes accessed; COLD_RUN: accesses */
	unsigned first; /* COLD_RUN: the cold entry of its first access */
	const struct insn *in;
};

struct tctx {
	struct jit *j;
	struct hart *h;
	struct block *b;
	uint8_t *base; /* RW view of the cache; offsets are the same in RX */
	uint8_t *p;
	uint8_t *limit;
	int8_t host[33];  /* guest register -> host register, or -1 */
	uint8_t uses[33]; /* the block's profile: main-line reads and writes
			   * of each guest register (saturating) */
	/* rax still holds guest register fwd_g (just stored to the hart
	 * from it) while the code ends at fwd_end and nothing jumps there:
	 * the next read of fwd_g takes rax instead of reloading it (0:
	 * none) */
	uint32_t fwd_end;
	uint8_t fwd_g;
	/* in a run of accesses sharing the first one's TLB lookup (rsi =
	 * its address, rcx = the entry's addend): accesses still to come,
	 * the first, and its COLD_RUN entry */
	unsigned run_left;
	const struct insn *run_first;
	unsigned run_cold;
	/* x86_64_fp.c: what the guards on the main line have tested so far
	 * (a failing guard leaves the block for good, and nothing on the
	 * main line falsifies them but a handler call, which clears this) */
	unsigned fp_known;
	/* the F/D instruction being translated and its COLD_CALL, made by
	 * its first guard (jx_guard) */
	const struct insn *fp_in;
	struct cold *fp_cold;
	/* jumps to the block's common exit, with the pinned registers live
	 * (ended) or already in h->s.x (after a helper ended the block) */
	unsigned n_ended, n_ended_mem;
	uint32_t ended_fix[3 * BLOCK_MAX_INSNS + 8];
	uint32_t ended_mem_fix[2 * BLOCK_MAX_INSNS + 2];
	struct cold cold[2 * BLOCK_MAX_INSNS + 2];
	unsigned n_cold;
	/* SV_JIT_PERFMAP: where each main-line instruction's code starts */
	uint32_t insn_off[BLOCK_MAX_INSNS + 1];
};

/* ---- encoder --------------------------------------------------------------- */

static inline uint32_t off(const struct tctx *t)
{
	return (uint32_t)(t->p - t->base);
}

static inline void b1(struct tctx *t, unsigned v)
{
	*t->p++ = (uint8_t)v;
}

static inline void b4(struct tctx *t, uint32_t v)
{
	memcpy(t->p, &v, 4);
	t->p += 4;
}

static inline void b8(struct tctx *t, uint64_t v)
{
	memcpy(t->p, &v, 8);
	t->p += 8;
}

static inline void prefix(struct tctx *t, unsigned fl, unsigned reg,
			  unsigned rm)
{
	if (fl & P66)
		b1(t, 0x66);
	if (fl & PF2)
		b1(t, 0xf2);
	if (fl & PF3)
		b1(t, 0xf3);
	unsigned r = 0x40 | ((fl & W) ? 8 : 0) | ((reg >> 3) & 1) << 2 |
		     ((rm >> 3) & 1);
	/* byte registers 4..7 are spl..dil only with a REX prefix */
	if (r != 0x40 || ((fl & B8) && ((reg & ~3u) == 4 || (rm & ~3u) == 4)))
		b1(t, r);
}

static inline void opcode(struct tctx *t, unsigned op)
{
	if (op > 0xff)
		b1(t, op >> 8);
	b1(t, op & 0xff);
}

/* op reg, rm (register direct) */
static inline void rr(struct tctx *t, unsigned fl, unsigned op, unsigned reg,
		      unsigned rm)
{
	prefix(t, fl, reg, rm);
	opcode(t, op);
	b1(t, 0xc0 | (reg & 7) << 3 | (rm & 7));
}

/* op reg, [base + disp] */
static inline void rm(struct tctx *t, unsigned fl, unsigned op, unsigned reg,
		      unsigned base, int32_t disp)
{
	prefix(t, fl, reg, base);
	opcode(t, op);
	unsigned mod = (disp == 0 && (base & 7) != RBP) ? 0
		       : (disp >= -128 && disp <= 127)	? 1
							: 2;
	b1(t, mod << 6 | (reg & 7) << 3 | (base & 7));
	if ((base & 7) == RSP)
		b1(t, 0x24);
	if (mod == 1)
		b1(t, (uint8_t)disp);
	else if (mod == 2)
		b4(t, (uint32_t)disp);
}

/* op reg, [base + index + disp] (base not rbp/r13 without a
 * displacement, index below r8) */
static inline void rm_idx_disp(struct tctx *t, unsigned fl, unsigned op,
			       unsigned reg, unsigned base, unsigned index,
			       int32_t disp)
{
	unsigned mod = disp == 0 ? 0 : (disp >= -128 && disp <= 127) ? 1 : 2;
	prefix(t, fl, reg, base);
	opcode(t, op);
	b1(t, mod << 6 | (reg & 7) << 3 | 4);
	b1(t, (index & 7) << 3 | (base & 7));
	if (mod == 1)
		b1(t, (uint8_t)disp);
	else if (mod == 2)
		b4(t, (uint32_t)disp);
}

/* op reg, [base + index] */
static inline void rm_idx(struct tctx *t, unsigned fl, unsigned op,
			  unsigned reg, unsigned base, unsigned index)
{
	rm_idx_disp(t, fl, op, reg, base, index, 0);
}

static inline void mov_rr(struct tctx *t, unsigned d, unsigned s)
{
	if (d != s)
		rr(t, W, 0x89, s, d);
}

static inline void ld64(struct tctx *t, unsigned d, unsigned base, int32_t disp)
{
	rm(t, W, 0x8b, d, base, disp);
}

static inline void st64(struct tctx *t, unsigned base, int32_t disp, unsigned s)
{
	rm(t, W, 0x89, s, base, disp);
}

static inline void mov_ri(struct tctx *t, unsigned d, int64_t v)
{
	if (v == 0) {
		rr(t, 0, 0x31, d, d); /* xor d32, d32 */
	} else if (v == (int32_t)v) {
		prefix(t, W, 0, d);
		b1(t, 0xc7);
		b1(t, 0xc0 | (d & 7));
		b4(t, (uint32_t)v);
	} else if ((uint64_t)v <= 0xffffffffu) {
		prefix(t, 0, 0, d);
		b1(t, 0xb8 + (d & 7));
		b4(t, (uint32_t)v);
	} else {
		prefix(t, W, 0, d);
		b1(t, 0xb8 + (d & 7));
		b8(t, (uint64_t)v);
	}
}

/* group-1 ALU with an immediate: ext = 0 add, 1 or, 4 and, 5 sub, 6 xor,
 * 7 cmp */
static inline void alu_ri(struct tctx *t, unsigned fl, unsigned ext, unsigned d,
			  int32_t imm)
{
	prefix(t, fl, 0, d);
	if (imm >= -128 && imm <= 127) {
		b1(t, 0x83);
		b1(t, 0xc0 | ext << 3 | (d & 7));
		b1(t, (uint8_t)imm);
	} else {
		b1(t, 0x81);
		b1(t, 0xc0 | ext << 3 | (d & 7));
		b4(t, (uint32_t)imm);
	}
}

static inline void alu_mi(struct tctx *t, unsigned fl, unsigned ext,
			  unsigned base, int32_t disp, int32_t imm)
{
	bool small = imm >= -128 && imm <= 127;
	rm(t, fl, small ? 0x83 : 0x81, ext, base, disp);
	if (small)
		b1(t, (uint8_t)imm);
	else
		b4(t, (uint32_t)imm);
}

/* shifts and rotates: ext = 0 rol, 1 ror, 4 shl, 5 shr, 7 sar */
static inline void shift_ri(struct tctx *t, unsigned fl, unsigned ext,
			    unsigned d, unsigned n)
{
	prefix(t, fl, 0, d);
	b1(t, 0xc1);
	b1(t, 0xc0 | ext << 3 | (d & 7));
	b1(t, n);
}

static inline void shift_cl(struct tctx *t, unsigned fl, unsigned ext,
			    unsigned d)
{
	prefix(t, fl, 0, d);
	b1(t, 0xd3);
	b1(t, 0xc0 | ext << 3 | (d & 7));
}

static inline void movsxd(struct tctx *t, unsigned d, unsigned s)
{
	rr(t, W, 0x63, d, s);
}

static inline uint32_t jcc(struct tctx *t, unsigned cc)
{
	b1(t, 0x0f);
	b1(t, 0x80 + cc);
	b4(t, 0);
	return off(t) - 4;
}

static inline uint32_t jmp(struct tctx *t)
{
	b1(t, 0xe9);
	b4(t, 0);
	return off(t) - 4;
}

static inline void patch(struct tctx *t, uint32_t fix, uint32_t target)
{
	int32_t rel = (int32_t)(target - (fix + 4));
	memcpy(t->base + fix, &rel, 4);
	if (target >= t->fwd_end)
		t->fwd_end = 0; /* a jump lands there: rax is not known */
}

static inline void call(struct tctx *t, const void *fn)
{
	mov_ri(t, RAX, (int64_t)(uintptr_t)fn);
	b1(t, 0xff);
	b1(t, 0xd0); /* call rax */
}

static inline void setcc(struct tctx *t, unsigned cc, unsigned d)
{
	prefix(t, B8, 0, d);
	b1(t, 0x0f);
	b1(t, 0x90 + cc);
	b1(t, 0xc0 | (d & 7));
}

static inline void cmov(struct tctx *t, unsigned cc, unsigned d, unsigned s)
{
	rr(t, W, 0x0f40 + cc, d, s);
}

/* x86_64.c, for x86_64_ops.c */
unsigned jx_src(struct tctx *t, unsigned g, unsigned scratch);
void jx_use(struct tctx *t, unsigned g);
void jx_set_rd(struct tctx *t, unsigned g, unsigned s);
void jx_tlb_lookup(struct tctx *t, const struct insn *in, unsigned size,
		   int32_t tlb_field);
void jx_resume_here(struct tctx *t);
bool jx_fallback(struct tctx *t, const struct insn *in);
/* A conditional jump out of t->fp_in's inline code to its COLD_CALL
 * (made at the first): the interpreter runs the rest of the block. */
void jx_guard(struct tctx *t, unsigned cc);
/* x86_64_fp.c */
bool jx_fp(struct tctx *t, const struct insn *in);
/* x86_64_ops.c */
bool jx_bitcount(struct tctx *t, const struct insn *in);
bool jx_atomic(struct tctx *t, const struct insn *in);
void jx_perfmap_block(struct tctx *t, uint32_t chain, uint32_t entry,
		      uint32_t main_end, uint32_t cold_end, uint32_t end);

#endif
