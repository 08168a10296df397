/*
 * The x86-64 backend of the translator (docs/jit.md): the code of each
 * translated RISC-V operation, written with its own instruction encoder
 * (x86_64.h). No IR: one pass over the decoded block.
 *
 * Host registers: rbx holds the struct hart (pinned for the whole time
 * translated code runs); r15 holds h->s.pc (the running block's first
 * instruction) and r14 h->jit_left (the countdown of instructions), so
 * that going from block to block touches no memory; rbp, r12, r13, rdi
 * and r8-r11 hold eight guest registers, the same ones in every block of
 * a code-cache generation (j->pin: the ones the running code uses most,
 * jit.c), so that chained blocks pass them in host registers. Each block
 * records how often it reads and writes every guest register (its
 * profile, before its code) for that choice. All are loaded when the
 * dispatcher enters translated code, stored when it returns there, and
 * written back before every helper call (which may read any of them and
 * writes at most rd and jit_left: only those and the caller-saved ones
 * are reloaded). rax, rcx,
 * rdx and rsi are scratch. The System V ABI keeps rbx, rbp and r12-r15
 * across the calls into C helpers.
 */
#include <stddef.h>
#include <string.h>

#include "cpu/exec.h"
#include "cpu/jit/jit_impl.h"
#include "cpu/jit/x86_64.h"

/* the host registers of the pinned guest registers j->pin[k]: the
 * callee-saved ones first, which need no reload after a helper call */
static const uint8_t pinned_host[JIT_PINNED] = { RBP, R12, R13, RDI,
						 R8,  R9,  R10, R11 };
#define RPC   R15 /* h->s.pc */
#define RLEFT R14 /* h->jit_left */

static bool caller_saved(unsigned hr)
{
	return hr == RDI || (hr >= R8 && hr <= R11);
}

/* ---- guest registers ------------------------------------------------------- */

/* x0, or the sink the decoder maps rd = x0 to */
static bool is_zero_reg(unsigned g)
{
	return g == 0 || g == 32;
}

/* One read or write of guest register g (not x0) in the main line, for
 * the block's profile. */
static void use(struct tctx *t, unsigned g)
{
	if (t->uses[g] < UINT8_MAX)
		t->uses[g]++;
}

/* A host register holding guest register g: its own, or scratch loaded. */
static unsigned src(struct tctx *t, unsigned g, unsigned scratch)
{
	if (g == 0 || g == 32) {
		mov_ri(t, scratch, 0);
		return scratch;
	}
	use(t, g);
	if (t->host[g] >= 0)
		return (unsigned)t->host[g];
	if (scratch == RAX && t->fwd_end == off(t) && t->fwd_g == g)
		return RAX; /* stored from rax by the code just before */
	ld64(t, scratch, RBX, XOFF(g));
	return scratch;
}

/* Guest register g into exactly host register d. */
static void load_to(struct tctx *t, unsigned d, unsigned g)
{
	mov_rr(t, d, src(t, g, d));
}

static void set_rd(struct tctx *t, unsigned g, unsigned s)
{
	if (g == 0 || g == 32)
		return;
	use(t, g);
	if (t->host[g] >= 0) {
		mov_rr(t, (unsigned)t->host[g], s);
	} else {
		st64(t, RBX, XOFF(g), s);
		if (s == RAX) {
			t->fwd_end = off(t);
			t->fwd_g = (uint8_t)g;
		}
	}
}

/* The pinned registers into the hart (before a helper reads them). */
static void write_back(struct tctx *t)
{
	for (unsigned k = 0; k < JIT_PINNED; k++)
		st64(t, RBX, XOFF(t->j->pin[k]), pinned_host[k]);
	st64(t, RBX, HOFF(s.pc), RPC);
	st64(t, RBX, HOFF(jit_left), RLEFT);
}

static void load_pinned(struct tctx *t)
{
	for (unsigned k = 0; k < JIT_PINNED; k++)
		ld64(t, pinned_host[k], RBX, XOFF(t->j->pin[k]));
	ld64(t, RPC, RBX, HOFF(s.pc));
	ld64(t, RLEFT, RBX, HOFF(jit_left));
}

/* After a helper that went on with the block: it wrote at most rd and
 * jit_left in memory (pc stays the block's), and the call clobbered the
 * caller-saved pinned registers. */
static void reload(struct tctx *t, unsigned rd)
{
	for (unsigned k = 0; k < JIT_PINNED; k++) {
		unsigned hr = pinned_host[k], g = t->j->pin[k];
		if (g == rd || caller_saved(hr))
			ld64(t, hr, RBX, XOFF(g));
	}
	ld64(t, RLEFT, RBX, HOFF(jit_left));
}

static void allocate(struct tctx *t)
{
	memset(t->host, -1, sizeof(t->host));
	for (unsigned k = 0; k < JIT_PINNED; k++)
		t->host[t->j->pin[k]] = (int8_t)pinned_host[k];
}

/* ---- exits ----------------------------------------------------------------- */

static void jump_to_ended(struct tctx *t, uint32_t fix)
{
	t->ended_fix[t->n_ended++] = fix;
}

static void jump_to_ended_mem(struct tctx *t, uint32_t fix)
{
	t->ended_mem_fix[t->n_ended_mem++] = fix;
}

static void jump_cache(struct tctx *t);

/* Leave the block for pc = block start + delta (a known target): set
 * pc, then a jump that is linked to the target's translation once both
 * are known to be in the same guest page. A target in another page goes
 * through the jump cache, which checks the page's current mapping (the
 * fetch TLB) as the dispatcher would. */
static void exit_to(struct tctx *t, int64_t delta)
{
	if (delta)
		alu_ri(t, W, 0, RPC, (int32_t)delta);
	int64_t target = (int64_t)(t->b->gpa & GUEST_PAGE_MASK) + delta;
	if (target >= 0 && target < (int64_t)GUEST_PAGE_SIZE) {
		uint32_t site = jmp(t); /* rel32 0: falls to the stub */
		uint32_t x = jit_new_exit(t->j, site,
					  t->b->gpa & ~GUEST_PAGE_MASK,
					  (uint32_t)target);
		if (x) {
			/* mov dword [rbx + jit_link], x */
			rm(t, 0, 0xc7, 0, RBX, HOFF(jit_link));
			b4(t, x);
		}
		jump_to_ended(t, jmp(t));
		return;
	}
	mov_rr(t, RDX, RPC);
	jump_cache(t);
}

/* Leave the block for pc = rdx (= r15), a computed target (jalr): find
 * its translation through the fetch TLB (as the dispatcher does: the
 * mapping, privilege and execute permission of now) and the jump cache
 * (guest physical address -> chained entry, jit.c), else return to the
 * dispatcher. */
static void jump_cache(struct tctx *t)
{
	_Static_assert(sizeof(struct tlb_entry) == 32 &&
			       sizeof(struct jit_jc) == 16,
		       "the inline lookups assume these sizes");
	rr(t, 0, 0x89, RDX, RAX); /* mov eax, edx */
	shift_ri(t, 0, 5, RAX, GUEST_PAGE_SHIFT - 5);
	alu_ri(t, 0, 4, RAX, (int32_t)((TLB_SIZE - 1) << 5));
	rm(t, W, 0x03, RAX, RBX, HOFF(tlb_fetch));
	mov_rr(t, RCX, RDX);
	alu_ri(t, W, 4, RCX, (int32_t)~GUEST_PAGE_MASK);
	rm(t, W, 0x3b, RCX, RAX, 0); /* cmp rcx, [rax + tag] */
	jump_to_ended(t, jcc(t, CC_NE));
	/* rcx = gpa = gpa_page | pc & page mask */
	rm(t, W, 0x8b, RCX, RAX, (int32_t)offsetof(struct tlb_entry, gpa_page));
	rr(t, 0, 0x89, RDX, RSI); /* mov esi, edx */
	alu_ri(t, 0, 4, RSI, (int32_t)GUEST_PAGE_MASK);
	rr(t, W, 0x09, RSI, RCX); /* or rcx, rsi */
	/* rax = &jc[(gpa >> 1) % JIT_JC_SIZE] */
	rr(t, 0, 0x89, RCX, RAX); /* mov eax, ecx */
	shift_ri(t, 0, 4, RAX, 3);
	alu_ri(t, 0, 4, RAX, (int32_t)((JIT_JC_SIZE - 1) << 4));
	rm(t, W, 0x03, RAX, RBX, HOFF(jit_jc));
	rm(t, W, 0x3b, RCX, RAX, 0); /* cmp rcx, [rax + gpa] */
	jump_to_ended(t, jcc(t, CC_NE));
	rm(t, 0, 0xff, 4, RAX, 8); /* jmp [rax + chain] */
}

/* What the interpreter's handlers expect of a running block, set only
 * before they are called: instructions in the block (for instret on a
 * trap) and its page (a store to it ends the block). */
static void handler_context(struct tctx *t)
{
	rm(t, 0, 0xc7, 0, RBX, HOFF(cur_n));
	b4(t, t->b->n);
	mov_ri(t, RAX, (int64_t)(t->b->gpa & ~GUEST_PAGE_MASK));
	st64(t, RBX, HOFF(running_block_page), RAX);
}

/* Run `in` through its interpreter handler; the block ends if it says
 * so. */
static void call_handler(struct tctx *t, const struct insn *in)
{
	write_back(t);
	handler_context(t);
	mov_rr(t, RDI, RBX);
	mov_ri(t, RSI, (int64_t)(uintptr_t)in);
	call(t, (const void *)jit_exec_one);
	rr(t, 0, 0x85, RAX, RAX); /* test eax, eax */
	jump_to_ended_mem(t, jcc(t, CC_E));
	reload(t, in->rd);
}

/* Run `in` through its interpreter handler. */
static bool fallback(struct tctx *t, const struct insn *in)
{
	call_handler(t, in);
	t->fp_known = 0; /* it may have changed FS, frm or fflags */
	t->j->stats.fallbacks++;
	return true;
}

/* Where to compute rd: its own host register when it has one and the
 * other source (other, or 0) is not rd itself, else rax. */
static unsigned dst(struct tctx *t, unsigned rd, unsigned other)
{
	if (rd > 0 && rd < 32 && t->host[rd] >= 0 && other != rd)
		return (unsigned)t->host[rd];
	return RAX;
}

/* ---- loads and stores: the soft-TLB fast path inline ----------------------- */

/* rsi = va, rcx = the entry's addend (the access is [rsi + rcx]); jumps
 * to the slow path on a miss. The index is computed from the base
 * register in parallel with rsi, and the addend is not added first: on
 * a chain of dependent loads (lists) each step is shorter by two
 * cycles. */
static void tlb_lookup(struct tctx *t, const struct insn *in, unsigned size,
		       int32_t tlb_field)
{
	unsigned a = src(t, in->rs1, RSI);
	/* eax = va (low half, for the index) before rsi changes */
	if (in->imm) {
		rm(t, 0, 0x8d, RAX, a, in->imm); /* lea eax, [a + imm] */
		rm(t, W, 0x8d, RSI, a, in->imm); /* lea rsi, [a + imm] */
	} else {
		rr(t, 0, 0x89, a, RAX); /* mov eax, a32 */
		mov_rr(t, RSI, a);
	}
	/* rax = index * 32: eax = (va >> 7) & 0x1fe0 */
	_Static_assert(sizeof(struct tlb_entry) == 32 && GUEST_PAGE_SHIFT > 5,
		       "the inline TLB index assumes entries of 32 bytes");
	shift_ri(t, 0, 5, RAX, GUEST_PAGE_SHIFT - 5);
	alu_ri(t, 0, 4, RAX, (int32_t)((TLB_SIZE - 1) << 5));
	rm(t, W, 0x03, RAX, RBX, tlb_field); /* add rax, [rbx + tlb_x] */
	mov_rr(t, RCX, RSI);
	alu_ri(t, W, 4, RCX, (int32_t)tlb_cmp_mask(size));
	rm(t, W, 0x3b, RCX, RAX, 0); /* cmp rcx, [rax] */
	struct cold *c = &t->cold[t->n_cold++];
	c->kind = COLD_MEM;
	c->fix = jcc(t, CC_NE);
	c->in = in;
	c->size = size;
	c->tlb_field = tlb_field;
	ld64(t, RCX, RAX, 8); /* mov rcx, [rax + addend] */
	c->access = off(t);
}

static void resume_here(struct tctx *t)
{
	t->cold[t->n_cold - 1].resume = off(t);
	t->fwd_end = 0; /* the slow path comes back here */
}

/* The load itself, once the lookup is done: rd = [rsi + rcx + disp],
 * straight into rd's host register when it has one. */
static void load_access(struct tctx *t, const struct insn *in, unsigned size,
			bool sign, int32_t disp)
{
	unsigned d = dst(t, in->rd, 0);
	switch (size) {
	case 1:
		rm_idx_disp(t, W, sign ? 0x0fbe : 0x0fb6, d, RSI, RCX, disp);
		break;
	case 2:
		rm_idx_disp(t, W, sign ? 0x0fbf : 0x0fb7, d, RSI, RCX, disp);
		break;
	case 4:
		if (sign)
			rm_idx_disp(t, W, 0x63, d, RSI, RCX, disp);
		else
			rm_idx_disp(t, 0, 0x8b, d, RSI, RCX, disp);
		break;
	default: rm_idx_disp(t, W, 0x8b, d, RSI, RCX, disp); break;
	}
	set_rd(t, in->rd, d);
}

/* The store itself: [rsi + rcx + disp] = rs2. */
static void store_access(struct tctx *t, const struct insn *in, unsigned size,
			 int32_t disp)
{
	unsigned v = src(t, in->rs2, RDX);
	switch (size) {
	case 1: rm_idx_disp(t, B8, 0x88, v, RSI, RCX, disp); break;
	case 2: rm_idx_disp(t, P66, 0x89, v, RSI, RCX, disp); break;
	case 4: rm_idx_disp(t, 0, 0x89, v, RSI, RCX, disp); break;
	default: rm_idx_disp(t, W, 0x89, v, RSI, RCX, disp); break;
	}
}

static void emit_load(struct tctx *t, const struct insn *in, unsigned size,
		      bool sign)
{
	tlb_lookup(t, in, size, HOFF(tlb_load));
	load_access(t, in, size, sign, 0);
	resume_here(t);
}

static void emit_store(struct tctx *t, const struct insn *in, unsigned size)
{
	tlb_lookup(t, in, size, HOFF(tlb_store));
	store_access(t, in, size, 0);
	resume_here(t);
}

/* ---- runs of accesses off one base register -------------------------------- */

/* A run is worth its page check from this many accesses on (the check
 * costs about what a lookup does); at most RUN_MAX bounds its cold copy
 * (and keeps a block's cold entries within 2 * BLOCK_MAX_INSNS + 2: a run
 * of k makes k + 2). */
#define RUN_MIN 3u
#define RUN_MAX 16u

/* The size of an integer load or store (0: another operation), whether
 * it stores, and whether a load sign-extends. */
static unsigned access_size(unsigned op, bool *store, bool *sign)
{
	*store = false;
	*sign = false;
	switch ((enum insn_op)op) {
	case OP_LB: *sign = true; return 1;
	case OP_LH: *sign = true; return 2;
	case OP_LW: *sign = true; return 4;
	case OP_LBU: return 1;
	case OP_LHU: return 2;
	case OP_LWU: return 4;
	case OP_LD: return 8;
	case OP_SB: *store = true; return 1;
	case OP_SH: *store = true; return 2;
	case OP_SW: *store = true; return 4;
	case OP_SD: *store = true; return 8;
	default: return 0;
	}
}

/* The length of the run at insn[i]: loads (or stores) off one base
 * register, one after the other, none wider than the first, each offset
 * from the first's by a multiple of its own size: so each is aligned if
 * the first is (sizes are powers of two), which the first's lookup
 * checks. A load that writes the base ends the run. If the lowest and
 * the highest offset (lo, hi) land in one page, every access lands in
 * the first one's page, none across its end, and hits where the first
 * hits: one check, one TLB lookup for the run (the register saves and
 * restores of prologues and epilogues, neighbouring fields). */
static unsigned mem_run(const struct block *b, unsigned i, int32_t *lo,
			int32_t *hi)
{
	const struct insn *f = &b->insn[i];
	bool store, st, sign;
	unsigned size = access_size(f->op, &store, &sign), k = 1;
	*lo = *hi = f->imm;
	if (!size || f->rs1 == 0 || (!store && f->rd == f->rs1))
		return 1;
	/* 12-bit offsets: lo and hi are always less than a page apart */
	while (i + k < b->n && k < RUN_MAX) {
		const struct insn *in = &b->insn[i + k];
		unsigned sz = access_size(in->op, &st, &sign);
		if (!sz || sz > size || st != store || in->rs1 != f->rs1 ||
		    (in->imm - f->imm) % (int32_t)sz)
			break;
		*lo = in->imm < *lo ? in->imm : *lo;
		*hi = in->imm > *hi ? in->imm : *hi;
		k++;
		if (!store && in->rd == f->rs1)
			break;
	}
	return k;
}

/* One load or store with its own lookup. */
static void emit_access(struct tctx *t, const struct insn *in)
{
	bool store, sign;
	unsigned size = access_size(in->op, &store, &sign);
	if (store)
		emit_store(t, in, size);
	else
		emit_load(t, in, size, sign);
}

/* The first access of a run of k: the page check, then the access with
 * its lookup, which leaves rsi and rcx for the others (run_next). */
static void run_start(struct tctx *t, const struct insn *in, unsigned k,
		      int32_t lo, int32_t hi)
{
	/* one page: base + lo and base + hi agree above the page offset
	 * (in 32 bits, as they are less than a page apart) */
	unsigned a = src(t, in->rs1, RDX);
	rm(t, 0, 0x8d, RAX, a, lo); /* lea eax, [a + lo] */
	rm(t, 0, 0x8d, RDX, a, hi); /* lea edx, [a + hi] */
	rr(t, 0, 0x31, RDX, RAX);   /* xor eax, edx */
	shift_ri(t, 0, 5, RAX, GUEST_PAGE_SHIFT);
	struct cold *c = &t->cold[t->n_cold++];
	c->kind = COLD_RUN;
	c->fix = jcc(t, CC_NE);
	c->in = in;
	c->size = k;
	c->first = t->n_cold; /* the lookup's, next */
	t->run_cold = t->n_cold - 1;
	t->run_first = in;
	t->run_left = k - 1;
	t->j->stats.run_shared += k - 1;
	emit_access(t, in);
}

/* A later access of the run: in the first one's page, through its entry. */
static void run_next(struct tctx *t, const struct insn *in)
{
	bool store, sign;
	unsigned size = access_size(in->op, &store, &sign);
	int32_t disp = in->imm - t->run_first->imm;
	if (store)
		store_access(t, in, size, disp);
	else
		load_access(t, in, size, sign, disp);
	if (--t->run_left == 0) {
		t->cold[t->run_cold].resume = off(t);
		t->fwd_end = 0; /* the cold copy comes back here */
	}
}

/* ---- integer operations ---------------------------------------------------- */

/* rd = rs1 op rs2 (op: an ALU opcode with r/m = dest, reg = rs2) */
static void alu(struct tctx *t, const struct insn *in, unsigned op, bool word)
{
	if (in->rd == 32)
		return;
	/* a copy (mv and friends): add/or/xor with x0, or sub x0 from */
	bool comm = op == 0x01 || op == 0x09 || op == 0x31;
	unsigned copy = 0;
	if (comm && is_zero_reg(in->rs1) && !is_zero_reg(in->rs2))
		copy = in->rs2;
	else if ((comm || op == 0x29) && is_zero_reg(in->rs2) &&
		 !is_zero_reg(in->rs1))
		copy = in->rs1;
	if (copy) {
		if (word) {
			unsigned d = dst(t, in->rd, 0);
			movsxd(t, d, src(t, copy, d));
			set_rd(t, in->rd, d);
		} else {
			set_rd(t, in->rd, src(t, copy, RAX));
		}
		return;
	}
	unsigned d = dst(t, in->rd, in->rs2);
	load_to(t, d, in->rs1);
	unsigned g = in->rs2;
	if (g != 0 && g != 32 && t->host[g] < 0) {
		use(t, g);
		rm(t, W, op + 2, d, RBX, XOFF(g)); /* op d, [rbx + x] */
	} else {
		rr(t, W, op, src(t, g, RCX), d);
	}
	if (word)
		movsxd(t, d, d);
	set_rd(t, in->rd, d);
}

static void alu_imm(struct tctx *t, const struct insn *in, unsigned ext)
{
	if (in->rd == 32)
		return;
	unsigned d = dst(t, in->rd, 0);
	if (ext == 0 && in->rs1 && in->rs1 != 32) {
		/* addi: lea d, [rs1 + imm] */
		unsigned a = src(t, in->rs1, RAX);
		if (in->imm)
			rm(t, W, 0x8d, d, a, in->imm);
		else
			mov_rr(t, d, a);
	} else {
		load_to(t, d, in->rs1);
		if (in->imm || ext == 4)
			alu_ri(t, W, ext, d, in->imm);
	}
	set_rd(t, in->rd, d);
}

static void shift_reg(struct tctx *t, const struct insn *in, unsigned ext,
		      bool word)
{
	load_to(t, RCX, in->rs2);
	load_to(t, RAX, in->rs1);
	shift_cl(t, word ? 0 : W, ext, RAX);
	if (word)
		movsxd(t, RAX, RAX);
	set_rd(t, in->rd, RAX);
}

static void shift_imm(struct tctx *t, const struct insn *in, unsigned ext,
		      bool word)
{
	unsigned d = dst(t, in->rd, 0);
	load_to(t, d, in->rs1);
	shift_ri(t, word ? 0 : W, ext, d, (unsigned)in->imm);
	if (word)
		movsxd(t, d, d);
	set_rd(t, in->rd, d);
}

/* rd = (rs1 cc rs2 / imm) ? 1 : 0 */
static void set_less(struct tctx *t, const struct insn *in, unsigned cc,
		     bool imm)
{
	mov_ri(t, RDX, 0);
	unsigned a = src(t, in->rs1, RAX);
	if (imm)
		alu_ri(t, W, 7, a, in->imm);
	else
		rr(t, W, 0x39, src(t, in->rs2, RCX), a);
	setcc(t, cc, RDX);
	set_rd(t, in->rd, RDX);
}

static void minmax(struct tctx *t, const struct insn *in, unsigned cc)
{
	load_to(t, RAX, in->rs1);
	unsigned b = src(t, in->rs2, RCX);
	rr(t, W, 0x39, b, RAX); /* cmp rax, b */
	cmov(t, cc, RAX, b);
	set_rd(t, in->rd, RAX);
}

/* rd = (rs1 << n) + rs2, rs1 zero-extended from 32 bits if uw */
static void shadd(struct tctx *t, const struct insn *in, unsigned n, bool uw)
{
	unsigned a = src(t, in->rs1, RAX);
	if (uw)
		rr(t, 0, 0x89, a, RAX); /* mov eax, a32 */
	else
		mov_rr(t, RAX, a);
	if (n)
		shift_ri(t, W, 4, RAX, n);
	rr(t, W, 0x01, src(t, in->rs2, RCX), RAX);
	set_rd(t, in->rd, RAX);
}

/* bts/btr/btc rax, rcx (ext 5/6/7 of 0f ba for the immediate forms) */
static void bitop(struct tctx *t, const struct insn *in, unsigned op_reg,
		  unsigned ext, bool imm)
{
	load_to(t, RAX, in->rs1);
	if (imm) {
		prefix(t, W, 0, RAX);
		b1(t, 0x0f);
		b1(t, 0xba);
		b1(t, 0xc0 | ext << 3);
		b1(t, (unsigned)in->imm & 63);
	} else {
		load_to(t, RCX, in->rs2);
		rr(t, W, op_reg, RCX, RAX);
	}
	set_rd(t, in->rd, RAX);
}

/* The condition with its operands swapped: a cc b == b swapped(cc) a. */
static unsigned cc_swapped(unsigned cc)
{
	switch (cc) {
	case CC_L: return CC_G;
	case CC_G: return CC_L;
	case CC_GE: return CC_LE;
	case CC_LE: return CC_GE;
	case CC_B: return CC_A;
	case CC_A: return CC_B;
	case CC_AE: return CC_BE;
	case CC_BE: return CC_AE;
	default: return cc; /* E, NE */
	}
}

static void branch(struct tctx *t, const struct insn *in, unsigned cc)
{
	unsigned g1 = in->rs1, g2 = in->rs2;
	if (is_zero_reg(g1) && !is_zero_reg(g2)) {
		/* 0 cc b: test b, b and the swapped condition (test
		 * clears CF and OF, as cmp b, 0 does) */
		unsigned b = src(t, g2, RCX);
		rr(t, W, 0x85, b, b);
		cc = cc_swapped(cc);
	} else if (is_zero_reg(g2)) {
		unsigned a = src(t, g1, RAX);
		rr(t, W, 0x85, a, a);
	} else if (t->host[g2] < 0) {
		/* cmp a, [rbx + x2]: no load into a scratch register */
		use(t, g2);
		rm(t, W, 0x3b, src(t, g1, RAX), RBX, XOFF(g2));
	} else {
		unsigned a = src(t, g1, RAX);
		use(t, g2);
		rr(t, W, 0x39, (unsigned)t->host[g2], a);
	}
	struct cold *c = &t->cold[t->n_cold++];
	c->kind = COLD_BRANCH;
	c->fix = jcc(t, cc);
	c->in = in;
}

/* Division with RISC-V's results where x86 has none or traps: by zero
 * (quotient all ones, remainder the dividend) and the signed overflow
 * MIN / -1 (quotient MIN, remainder 0). word: 32-bit operands, result
 * sign-extended. */
static void divide(struct tctx *t, const struct insn *in, bool sign, bool rem,
		   bool word)
{
	unsigned fl = word ? 0 : W;
	load_to(t, RCX, in->rs2);
	load_to(t, RAX, in->rs1);
	rr(t, fl, 0x85, RCX, RCX); /* test rcx, rcx */
	uint32_t by_zero = jcc(t, CC_E), minus_one = 0;
	if (sign) {
		alu_ri(t, fl, 7, RCX, -1);
		minus_one = jcc(t, CC_E);
		prefix(t, fl, 0, 0);
		b1(t, 0x99); /* cqo / cdq */
	} else {
		rr(t, 0, 0x31, RDX, RDX); /* xor edx, edx */
	}
	rr(t, fl, 0xf7, sign ? 7 : 6, RCX); /* idiv / div rcx */
	if (rem)
		mov_rr(t, RAX, RDX);
	uint32_t done[2];
	done[0] = jmp(t);
	patch(t, by_zero, off(t));
	if (!rem)
		mov_ri(t, RAX, -1); /* else rax is the dividend already */
	done[1] = sign ? jmp(t) : 0;
	if (sign) {
		patch(t, minus_one, off(t));
		if (rem)
			rr(t, 0, 0x31, RAX, RAX);
		else
			rr(t, fl, 0xf7, 3, RAX); /* neg: MIN stays MIN */
	}
	patch(t, done[0], off(t));
	if (done[1])
		patch(t, done[1], off(t));
	if (word)
		movsxd(t, RAX, RAX);
	set_rd(t, in->rd, RAX);
}

/* rax = h->s.pc + pc_off + add */
static void pc_plus(struct tctx *t, unsigned d, int64_t add)
{
	if (add == (int32_t)add) {
		rm(t, W, 0x8d, d, RPC, (int32_t)add); /* lea d, [pc + add] */
	} else {
		mov_rr(t, d, RPC);
		mov_ri(t, RCX, add);
		rr(t, W, 0x01, RCX, d);
	}
}

/* Emit one instruction; returns false if the block ends here (an exit
 * was emitted). */
static bool emit_insn(struct tctx *t, const struct insn *in)
{
	int64_t imm = in->imm;
	switch ((enum insn_op)in->op) {
	case OP_LUI:
		mov_ri(t, RAX, imm);
		set_rd(t, in->rd, RAX);
		return true;
	case OP_AUIPC:
		pc_plus(t, RAX, in->pc_off + imm);
		set_rd(t, in->rd, RAX);
		return true;
	case OP_JAL:
		pc_plus(t, RAX, in->pc_off + in->len);
		set_rd(t, in->rd, RAX);
		exit_to(t, in->pc_off + imm);
		return false;
	case OP_JALR:
		load_to(t, RDX, in->rs1);
		if (imm)
			alu_ri(t, W, 0, RDX, (int32_t)imm);
		alu_ri(t, W, 4, RDX, -2);
		pc_plus(t, RAX, in->pc_off + in->len);
		set_rd(t, in->rd, RAX);
		mov_rr(t, RPC, RDX);
		jump_cache(t);
		return false;
	case OP_BEQ: branch(t, in, CC_E); return true;
	case OP_BNE: branch(t, in, CC_NE); return true;
	case OP_BLT: branch(t, in, CC_L); return true;
	case OP_BGE: branch(t, in, CC_GE); return true;
	case OP_BLTU: branch(t, in, CC_B); return true;
	case OP_BGEU: branch(t, in, CC_AE); return true;
	case OP_LB:
	case OP_LH:
	case OP_LW:
	case OP_LD:
	case OP_LBU:
	case OP_LHU:
	case OP_LWU:
	case OP_SB:
	case OP_SH:
	case OP_SW:
	case OP_SD: emit_access(t, in); return true;
	case OP_ADDI: alu_imm(t, in, 0); return true;
	case OP_XORI: alu_imm(t, in, 6); return true;
	case OP_ORI: alu_imm(t, in, 1); return true;
	case OP_ANDI: alu_imm(t, in, 4); return true;
	case OP_SLTI: set_less(t, in, CC_L, true); return true;
	case OP_SLTIU: set_less(t, in, CC_B, true); return true;
	case OP_SLLI: shift_imm(t, in, 4, false); return true;
	case OP_SRLI: shift_imm(t, in, 5, false); return true;
	case OP_SRAI: shift_imm(t, in, 7, false); return true;
	case OP_ADD: alu(t, in, 0x01, false); return true;
	case OP_SUB: alu(t, in, 0x29, false); return true;
	case OP_XOR: alu(t, in, 0x31, false); return true;
	case OP_OR: alu(t, in, 0x09, false); return true;
	case OP_AND: alu(t, in, 0x21, false); return true;
	case OP_SLT: set_less(t, in, CC_L, false); return true;
	case OP_SLTU: set_less(t, in, CC_B, false); return true;
	case OP_SLL: shift_reg(t, in, 4, false); return true;
	case OP_SRL: shift_reg(t, in, 5, false); return true;
	case OP_SRA: shift_reg(t, in, 7, false); return true;
	case OP_ADDIW: {
		/* lea d32, [rs1 + imm]; movsxd d, d32 */
		unsigned d = dst(t, in->rd, 0);
		rm(t, 0, 0x8d, d, src(t, in->rs1, RAX), (int32_t)imm);
		movsxd(t, d, d);
		set_rd(t, in->rd, d);
		return true;
	}
	case OP_SLLIW: shift_imm(t, in, 4, true); return true;
	case OP_SRLIW: shift_imm(t, in, 5, true); return true;
	case OP_SRAIW: shift_imm(t, in, 7, true); return true;
	case OP_ADDW: alu(t, in, 0x01, true); return true;
	case OP_SUBW: alu(t, in, 0x29, true); return true;
	case OP_SLLW: shift_reg(t, in, 4, true); return true;
	case OP_SRLW: shift_reg(t, in, 5, true); return true;
	case OP_SRAW: shift_reg(t, in, 7, true); return true;
	case OP_MUL:
	case OP_MULW:
		load_to(t, RAX, in->rs1);
		rr(t, W, 0x0faf, RAX, src(t, in->rs2, RCX));
		if (in->op == OP_MULW)
			movsxd(t, RAX, RAX);
		set_rd(t, in->rd, RAX);
		return true;
	case OP_DIV: divide(t, in, true, false, false); return true;
	case OP_DIVU: divide(t, in, false, false, false); return true;
	case OP_REM: divide(t, in, true, true, false); return true;
	case OP_REMU: divide(t, in, false, true, false); return true;
	case OP_DIVW: divide(t, in, true, false, true); return true;
	case OP_DIVUW: divide(t, in, false, false, true); return true;
	case OP_REMW: divide(t, in, true, true, true); return true;
	case OP_REMUW: divide(t, in, false, true, true); return true;
	case OP_MULH:
	case OP_MULHU:
		load_to(t, RAX, in->rs1);
		/* imul/mul r/m64: rdx:rax = rax * r/m */
		rr(t, W, 0xf7, in->op == OP_MULH ? 5 : 4, src(t, in->rs2, RCX));
		set_rd(t, in->rd, RDX);
		return true;
	case OP_SH1ADD: shadd(t, in, 1, false); return true;
	case OP_SH2ADD: shadd(t, in, 2, false); return true;
	case OP_SH3ADD: shadd(t, in, 3, false); return true;
	case OP_ADD_UW: shadd(t, in, 0, true); return true;
	case OP_SH1ADD_UW: shadd(t, in, 1, true); return true;
	case OP_SH2ADD_UW: shadd(t, in, 2, true); return true;
	case OP_SH3ADD_UW: shadd(t, in, 3, true); return true;
	case OP_SLLI_UW:
		rr(t, 0, 0x89, src(t, in->rs1, RAX), RAX);
		shift_ri(t, W, 4, RAX, (unsigned)imm);
		set_rd(t, in->rd, RAX);
		return true;
	case OP_ANDN:
	case OP_ORN:
		load_to(t, RCX, in->rs2);
		rr(t, W, 0xf7, 2, RCX); /* not rcx */
		load_to(t, RAX, in->rs1);
		rr(t, W, in->op == OP_ANDN ? 0x21 : 0x09, RCX, RAX);
		set_rd(t, in->rd, RAX);
		return true;
	case OP_XNOR:
		load_to(t, RAX, in->rs1);
		rr(t, W, 0x31, src(t, in->rs2, RCX), RAX);
		rr(t, W, 0xf7, 2, RAX);
		set_rd(t, in->rd, RAX);
		return true;
	case OP_MIN: minmax(t, in, CC_G); return true;
	case OP_MAX: minmax(t, in, CC_L); return true;
	case OP_MINU: minmax(t, in, CC_A); return true;
	case OP_MAXU: minmax(t, in, CC_B); return true;
	case OP_SEXT_B:
		rr(t, W | B8, 0x0fbe, RAX, src(t, in->rs1, RAX));
		set_rd(t, in->rd, RAX);
		return true;
	case OP_SEXT_H:
		rr(t, W, 0x0fbf, RAX, src(t, in->rs1, RAX));
		set_rd(t, in->rd, RAX);
		return true;
	case OP_ZEXT_H:
		rr(t, 0, 0x0fb7, RAX, src(t, in->rs1, RAX));
		set_rd(t, in->rd, RAX);
		return true;
	case OP_ROL: shift_reg(t, in, 0, false); return true;
	case OP_ROR: shift_reg(t, in, 1, false); return true;
	case OP_ROLW: shift_reg(t, in, 0, true); return true;
	case OP_RORW: shift_reg(t, in, 1, true); return true;
	case OP_RORI: shift_imm(t, in, 1, false); return true;
	case OP_RORIW: shift_imm(t, in, 1, true); return true;
	case OP_REV8:
		load_to(t, RAX, in->rs1);
		prefix(t, W, 0, RAX);
		b1(t, 0x0f);
		b1(t, 0xc8); /* bswap rax */
		set_rd(t, in->rd, RAX);
		return true;
	case OP_BSET: bitop(t, in, 0x0fab, 5, false); return true;
	case OP_BCLR: bitop(t, in, 0x0fb3, 6, false); return true;
	case OP_BINV: bitop(t, in, 0x0fbb, 7, false); return true;
	case OP_BSETI: bitop(t, in, 0, 5, true); return true;
	case OP_BCLRI: bitop(t, in, 0, 6, true); return true;
	case OP_BINVI: bitop(t, in, 0, 7, true); return true;
	case OP_BEXT:
	case OP_BEXTI:
		if (in->op == OP_BEXT) {
			load_to(t, RCX, in->rs2);
			load_to(t, RAX, in->rs1);
			shift_cl(t, W, 5, RAX);
		} else {
			load_to(t, RAX, in->rs1);
			shift_ri(t, W, 5, RAX, (unsigned)imm & 63);
		}
		alu_ri(t, 0, 4, RAX, 1);
		set_rd(t, in->rd, RAX);
		return true;
	case OP_CZERO_EQZ:
	case OP_CZERO_NEZ: {
		load_to(t, RAX, in->rs1);
		mov_ri(t, RDX, 0);
		unsigned c = src(t, in->rs2, RCX);
		rr(t, W, 0x85, c, c);
		cmov(t, in->op == OP_CZERO_EQZ ? CC_E : CC_NE, RAX, RDX);
		set_rd(t, in->rd, RAX);
		return true;
	}
	case OP_CLZ:
	case OP_CLZW:
	case OP_CTZ:
	case OP_CTZW: return jx_bitcount(t, in);
	case OP_CPOP:
	case OP_CPOPW:
		if (!__builtin_cpu_supports("popcnt"))
			return fallback(t, in);
		return jx_bitcount(t, in);
	case OP_ORC_B: {
		/* bytes that are zero -> 0x00, others -> 0xff: pcmpeqb
		 * against zero, inverted */
		unsigned a = src(t, in->rs1, RAX);
		rr(t, P66 | W, 0x0f6e, 0, a);	/* movq xmm0, a */
		rr(t, P66, 0x0fef, 1, 1);	/* pxor xmm1, xmm1 */
		rr(t, P66, 0x0f74, 0, 1);	/* pcmpeqb xmm0, xmm1 */
		rr(t, P66 | W, 0x0f7e, 0, RAX); /* movq rax, xmm0 */
		rr(t, W, 0xf7, 2, RAX);		/* not rax */
		set_rd(t, in->rd, RAX);
		return true;
	}
	case OP_LR_W:
	case OP_LR_D:
	case OP_SC_W:
	case OP_SC_D:
	case OP_AMOSWAP_W:
	case OP_AMOSWAP_D:
	case OP_AMOADD_W:
	case OP_AMOADD_D:
	case OP_AMOXOR_W:
	case OP_AMOXOR_D:
	case OP_AMOAND_W:
	case OP_AMOAND_D:
	case OP_AMOOR_W:
	case OP_AMOOR_D:
	case OP_AMOMIN_W:
	case OP_AMOMIN_D:
	case OP_AMOMAX_W:
	case OP_AMOMAX_D:
	case OP_AMOMINU_W:
	case OP_AMOMINU_D:
	case OP_AMOMAXU_W:
	case OP_AMOMAXU_D: return jx_atomic(t, in);
	case OP_FLW:
	case OP_FLD:
	case OP_FSW:
	case OP_FSD:
	case OP_FMADD_S:
	case OP_FMSUB_S:
	case OP_FNMSUB_S:
	case OP_FNMADD_S:
	case OP_FMADD_D:
	case OP_FMSUB_D:
	case OP_FNMSUB_D:
	case OP_FNMADD_D:
	case OP_FADD_S:
	case OP_FSUB_S:
	case OP_FMUL_S:
	case OP_FDIV_S:
	case OP_FSQRT_S:
	case OP_FADD_D:
	case OP_FSUB_D:
	case OP_FMUL_D:
	case OP_FDIV_D:
	case OP_FSQRT_D:
	case OP_FSGNJ_S:
	case OP_FSGNJN_S:
	case OP_FSGNJX_S:
	case OP_FSGNJ_D:
	case OP_FSGNJN_D:
	case OP_FSGNJX_D:
	case OP_FEQ_S:
	case OP_FLT_S:
	case OP_FLE_S:
	case OP_FEQ_D:
	case OP_FLT_D:
	case OP_FLE_D:
	case OP_FCVT_W_S:
	case OP_FCVT_L_S:
	case OP_FCVT_W_D:
	case OP_FCVT_L_D:
	case OP_FCVT_S_W:
	case OP_FCVT_S_L:
	case OP_FCVT_D_W:
	case OP_FCVT_D_L:
	case OP_FCVT_S_D:
	case OP_FCVT_D_S:
	case OP_FMV_X_W:
	case OP_FMV_W_X:
	case OP_FMV_X_D:
	case OP_FMV_D_X: return jx_fp(t, in);
	case OP_FENCE: {
		if (in->raw == INSN_PAUSE)
			return fallback(t, in); /* may yield (op_fence) */
		/* x86-64 keeps every order RVWMO asks of loads and stores
		 * but store -> load: only a fence ordering earlier writes
		 * (W, O) before later reads (R, I) needs mfence (the
		 * interpreter's full barrier is not weaker than that) */
		unsigned pred = (in->raw >> 24) & 15,
			 succ = (in->raw >> 20) & 15;
		if ((pred & 5) && (succ & 10)) {
			b1(t, 0x0f);
			b1(t, 0xae);
			b1(t, 0xf0); /* mfence */
		}
		return true;
	}
	default: return fallback(t, in);
	}
}

/* ---- cold code ------------------------------------------------------------- */

static void emit_cold(struct tctx *t, const struct cold *c)
{
	const struct insn *in = c->in;
	if (c->kind != COLD_CALL)
		patch(t, c->fix, off(t));
	if (c->kind == COLD_RUN) {
		/* not in one page: each access with its own lookup; or the
		 * first one took its handler (rcx is gone): the others */
		for (unsigned k = 0; k < c->size; k++) {
			if (k == 1)
				t->cold[c->first].resume = off(t);
			emit_access(t, &in[k]);
		}
		patch(t, jmp(t), c->resume);
		return;
	}
	if (c->kind == COLD_CALL) {
		/* the interpreter runs the rest of the block from here,
		 * and the block ends where the interpreter's would: so
		 * every main-line instruction after a guard has passed it
		 * (x86_64_fp.c shares them) */
		for (unsigned k = 0; k < c->n_guard; k++)
			patch(t, c->guard[k], off(t));
		write_back(t);
		handler_context(t);
		mov_rr(t, RDI, RBX);
		mov_ri(t, RSI, (int64_t)(uintptr_t)in);
		call(t, (const void *)jit_exec_rest);
		jump_to_ended_mem(t, jmp(t));
		return;
	}
	if (c->kind == COLD_BRANCH) {
		/* taken: the rest of the block does not retire */
		uint32_t rest = t->b->n - in->idx - 1;
		if (rest)
			alu_ri(t, W, 0, RLEFT, (int32_t)rest);
		exit_to(t, in->pc_off + (int64_t)in->imm);
		return;
	}
	/* TLB miss: try a refill first (mmu_jit_fill), which needs none of
	 * the guest registers in the hart: only the caller-saved pinned
	 * ones and the address are kept (six pushes keep the stack
	 * aligned); on success the lookup is redone and the access runs */
	static const uint8_t keep[] = { RDI, R8, R9, R10, R11, RSI };
	for (unsigned i = 0; i < ARRAY_SIZE(keep); i++) {
		prefix(t, 0, 0, keep[i]);
		b1(t, 0x50 + (keep[i] & 7));
	}
	mov_rr(t, RDI, RBX);
	mov_ri(t, RDX, c->size);
	mov_ri(t, RCX, c->tlb_field == HOFF(tlb_store));
	call(t, (const void *)mmu_jit_fill);
	for (unsigned i = ARRAY_SIZE(keep); i-- > 0;) {
		prefix(t, 0, 0, keep[i]);
		b1(t, 0x58 + (keep[i] & 7));
	}
	rr(t, B8, 0x84, RAX, RAX); /* test al, al */
	uint32_t slow = jcc(t, CC_E);
	rr(t, 0, 0x89, RSI, RAX); /* mov eax, esi */
	shift_ri(t, 0, 5, RAX, GUEST_PAGE_SHIFT - 5);
	alu_ri(t, 0, 4, RAX, (int32_t)((TLB_SIZE - 1) << 5));
	rm(t, W, 0x03, RAX, RBX, c->tlb_field);
	ld64(t, RCX, RAX, 8);
	patch(t, jmp(t), c->access);
	/* else the interpreter's handler takes the slow path */
	patch(t, slow, off(t));
	call_handler(t, in);
	patch(t, jmp(t), c->resume);
}

/* ---- stubs and blocks ------------------------------------------------------ */

void jit_be_stubs(struct jit *j)
{
	struct tctx t = { .j = j, .base = j->rw, .p = j->rw };
	/* enter(h, code): save callee-saved registers, keep the stack
	 * 16-byte aligned for helper calls, pin h in rbx */
	j->enter = (void (*)(struct hart *, const void *))(uintptr_t)j->rx;
	static const uint8_t save[] = { RBX, RBP, R12, R13, R14, R15 };
	for (unsigned i = 0; i < ARRAY_SIZE(save); i++) {
		prefix(&t, 0, 0, save[i]);
		b1(&t, 0x50 + (save[i] & 7));
	}
	alu_ri(&t, W, 5, RSP, 8);
	mov_rr(&t, RBX, RDI);
	load_pinned(&t);
	rr(&t, 0, 0xff, 4, RSI); /* jmp rsi */
	j->epilogue = j->rx + off(&t);
	write_back(&t);
	j->epilogue_mem = j->rx + off(&t);
	alu_ri(&t, W, 0, RSP, 8);
	for (unsigned i = ARRAY_SIZE(save); i-- > 0;) {
		prefix(&t, 0, 0, save[i]);
		b1(&t, 0x58 + (save[i] & 7));
	}
	b1(&t, 0xc3);
	j->used = (off(&t) + 63) & ~63u;
}

bool jit_be_block(struct jit *j, struct hart *h, struct block *b)
{
	static _Thread_local struct tctx t;
	memset(&t, 0, offsetof(struct tctx, ended_fix));
	t.j = j;
	t.h = h;
	t.b = b;
	t.base = j->rw;
	t.p = j->rw + j->used;
	t.limit = j->rw + JIT_CODE_SIZE - 1024;
	t.n_ended = 0;
	t.n_ended_mem = 0;
	t.n_cold = 0;
	allocate(&t);
	uint32_t profile = off(&t);
	t.p += JIT_PROFILE_BYTES; /* filled in at the end */
	uint32_t epilogue = (uint32_t)(j->epilogue - j->rx);
	uint32_t epilogue_mem = (uint32_t)(j->epilogue_mem - j->rx);

	/* chained entry: what the dispatcher checks between blocks. The
	 * epoch needs no test: links are undone when it moves (jit_run),
	 * and a helper that moves it ends the block (jit_exec_one); nor
	 * does irq_check: only the dispatcher and instructions that end
	 * the block (traps, CSR writes, xRET) set it. */
	uint32_t chain = off(&t), bail;
	alu_mi(&t, 0, 7, RBX, HOFF(requests), 0);
	bail = jcc(&t, CC_NE);
	/* the budget and the timer poll, in one countdown, credited on
	 * entry (jit_sync credits instret and budget from it): a block
	 * runs chained only if all of it fits, else the dispatcher polls
	 * first (the subtraction is undone on the way out) */
	alu_ri(&t, W, 5, RLEFT, (int32_t)b->n);
	uint32_t short_left = jcc(&t, CC_L); /* left < n */
	uint32_t body = off(&t);

	bool open = true;
	memset(t.insn_off, 0, sizeof(t.insn_off));
	t.insn_off[0] = body;
	for (uint32_t i = 0; i < b->n && open; i++) {
		if (t.p > t.limit - 2048)
			return false;
		if (i)
			t.insn_off[i] = off(&t);
		int32_t lo, hi;
		unsigned k;
		if (t.run_left)
			run_next(&t, &b->insn[i]);
		else if ((k = mem_run(b, i, &lo, &hi)) >= RUN_MIN)
			run_start(&t, &b->insn[i], k, lo, hi);
		else
			open = emit_insn(&t, &b->insn[i]);
	}
	if (open) {
		t.insn_off[b->n] = off(&t);
		exit_to(&t, b->size);
	}
	uint32_t main_end = off(&t);
	for (unsigned i = 0; i < t.n_cold; i++) {
		if (t.p > t.limit - 2048)
			return false;
		emit_cold(&t, &t.cold[i]);
	}

	/* the block's common exit: remember it for the dispatcher's
	 * successor hints, back to C */
	uint32_t ended = off(&t), cold_end = ended;
	mov_ri(&t, RAX, (int64_t)(uintptr_t)b);
	st64(&t, RBX, HOFF(bc.prev), RAX);
	patch(&t, jmp(&t), epilogue);
	for (unsigned i = 0; i < t.n_ended; i++)
		patch(&t, t.ended_fix[i], ended);
	if (t.n_ended_mem) {
		ended = off(&t);
		mov_ri(&t, RAX, (int64_t)(uintptr_t)b);
		st64(&t, RBX, HOFF(bc.prev), RAX);
		patch(&t, jmp(&t), epilogue_mem);
		for (unsigned i = 0; i < t.n_ended_mem; i++)
			patch(&t, t.ended_mem_fix[i], ended);
	}

	/* the countdown ran out at a chained entry: undo its subtraction */
	patch(&t, short_left, off(&t));
	alu_ri(&t, W, 0, RLEFT, (int32_t)b->n);
	uint32_t bailed = off(&t);
	/* bailed out of a chained entry: the previous block is not known
	 * here, and the hint is only a hint */
	rm(&t, W, 0xc7, 0, RBX, HOFF(bc.prev));
	b4(&t, 0);
	patch(&t, jmp(&t), epilogue);
	patch(&t, bail, bailed);

	/* entry from the dispatcher (jit_run), which polled already: the
	 * countdown's subtraction without the test */
	uint32_t entry = off(&t);
	alu_ri(&t, W, 5, RLEFT, (int32_t)b->n);
	patch(&t, jmp(&t), body);

	_Static_assert(JIT_PROFILE_BYTES == 32, "a byte per guest register");
	memcpy(t.base + profile, t.uses, JIT_PROFILE_BYTES);
	if (j->perfmap)
		jx_perfmap_block(&t, chain, body, main_end, cold_end, entry);
	b->jit_chain = j->rx + chain;
	b->jit_entry = j->rx + entry;
	j->used = (off(&t) + 15) & ~15u;
	return true;
}

void jit_be_link(struct jit *j, uint32_t site, const void *target)
{
	/* unlinked: rel32 0 falls through to the exit stub */
	int32_t rel = target ? (int32_t)((const uint8_t *)target - j->rx -
					 (int64_t)(site + 4))
			     : 0;
	memcpy(j->rw + site, &rel, 4);
}

/* ---- for x86_64_ops.c ------------------------------------------------------- */

unsigned jx_src(struct tctx *t, unsigned g, unsigned scratch)
{
	return src(t, g, scratch);
}

void jx_use(struct tctx *t, unsigned g)
{
	use(t, g);
}

void jx_set_rd(struct tctx *t, unsigned g, unsigned s)
{
	set_rd(t, g, s);
}

void jx_tlb_lookup(struct tctx *t, const struct insn *in, unsigned size,
		   int32_t tlb_field)
{
	tlb_lookup(t, in, size, tlb_field);
}

void jx_resume_here(struct tctx *t)
{
	resume_here(t);
}

bool jx_fallback(struct tctx *t, const struct insn *in)
{
	return fallback(t, in);
}

void jx_guard(struct tctx *t, unsigned cc)
{
	struct cold *c = t->fp_cold;
	if (!c) {
		c = t->fp_cold = &t->cold[t->n_cold++];
		c->kind = COLD_CALL;
		c->in = t->fp_in;
		c->n_guard = 0;
	}
	c->guard[c->n_guard++] = jcc(t, cc);
}
