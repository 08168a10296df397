/*
 * Differential harness of the translator against the interpreter (the
 * reference): the same program and initial state on two harts with two
 * memories, one hart interpreting, the other translating (SV_JIT_HOT-like
 * threshold per run, so translated and interpreted blocks mix), then every
 * architectural register, CSR and byte of memory compared.
 *
 * Header-only (static functions) so that the unit test (random programs,
 * tests/unit/cpu/test_jit_diff.c) and the libFuzzer target
 * (tests/fuzz/fuzz_jit.c, programs from the fuzzer) share it.
 *
 * Machine: M-mode, bare, no interrupts (mie = 0), nothing reads the host
 * clock (the generator avoids time CSRs), so both runs are deterministic.
 * Layout: code at JD_CODE, a trap handler at JD_HANDLER that skips the
 * faulting 4-byte instruction, data around JD_DATA (a page boundary) and
 * at the very end of RAM (accesses that straddle the end fault half-way).
 * Reserved registers: x1 = JD_DATA, x2 = JD_CODE (stores through it modify
 * code), x3 = the handler's scratch, x4 = an instruction word that
 * self-modifying stores write, x5 = RAM end - 1024.
 */
#ifndef SV_TESTS_DIFF_JITDIFF_H
#define SV_TESTS_DIFF_JITDIFF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/exec.h"
#include "cpu/fpu.h"
#include "cpu/hart_impl.h"
#include "mem/gmem.h"
#include "util/vclock.h"

#define JD_RAM_BASE 0x80000000ULL
#define JD_RAM_SIZE (1ULL << 20)
/* not page-aligned: programs over 256 instructions cross a page, so
 * branches, jumps and falling through go from page to page */
#define JD_CODE	    (JD_RAM_BASE + 0x1c00)
#define JD_HANDLER  (JD_RAM_BASE + 0x10000)
#define JD_DATA	    (JD_RAM_BASE + 0x21000)
#define JD_DATA_LO  (JD_DATA - 0x1000)
#define JD_DATA_LEN 0x2000
#define JD_MAX_CODE 0x8000 /* bytes of program */
/* Page tables of a paged program (jd_prog.paging): root, level 1, level
 * 0, above the handler and below the data window */
#define JD_PT (JD_RAM_BASE + 0x30000)
/* ... which map RAM this far below its physical addresses: virtual and
 * physical addresses differ */
#define JD_VA_OFF 0x40000000ULL

struct jd_prog {
	uint32_t code[JD_MAX_CODE / 4];
	unsigned n; /* instructions */
	uint64_t x[32];
	uint64_t f[32];
	uint8_t data[JD_DATA_LEN];
	uint32_t frm;
	uint32_t fflags;
	unsigned fs; /* mstatus.FS (SD set with Dirty) */
	/* S-mode under Sv39 (jd_map) instead of M-mode, bare; the data
	 * window's upper page then readable and writable (0), read-only
	 * (1) or not mapped (2) */
	bool paging;
	unsigned hi_perm;
	unsigned jit_hot;
	uint64_t budget;
};

struct jd_side {
	struct gmem *mem;
	struct hart *h;
};

static struct vclock jd_clock;

static int jd_side_init(struct jd_side *s, bool jit)
{
	s->mem = gmem_create(JD_RAM_BASE, JD_RAM_SIZE, NULL);
	if (!s->mem)
		return -1;
	struct hart_config cfg = {
		.hartid = 0, .mem = s->mem, .clock = &jd_clock, .jit = jit
	};
	s->h = hart_create(&cfg, NULL);
	return s->h ? 0 : -1;
}

static inline void jd_side_fini(struct jd_side *s)
{
	hart_destroy(s->h);
	gmem_destroy(s->mem);
}

static void jd_write(struct jd_side *s, uint64_t gpa, const void *buf,
		     size_t len)
{
	if (gmem_write(s->mem, gpa, buf, len) < 0)
		abort();
}

/* RAM mapped JD_VA_OFF below its physical addresses by 4 KiB pages,
 * readable, writable and executable by S-mode (A and D set: no walk
 * writes them), but for the data window's upper page (hi_perm); then
 * satp on, S-mode, and the pc and the registers that hold addresses (x1,
 * x2, x5) virtual. Accesses across x1's page boundary take page faults,
 * and addresses off random registers mostly do. */
static void jd_map(struct jd_side *s, const struct jd_prog *p)
{
	static uint64_t pt[3][512];
	const uint64_t leaf = PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D;
	const uint64_t va = JD_RAM_BASE - JD_VA_OFF;
	memset(pt, 0, sizeof(pt));
	pt[0][(va >> 30) & 511] = ((JD_PT + 0x1000) >> 12) << 10 | PTE_V;
	pt[1][(va >> 21) & 511] = ((JD_PT + 0x2000) >> 12) << 10 | PTE_V;
	for (uint64_t i = 0; i < JD_RAM_SIZE >> 12; i++)
		pt[2][i] = ((JD_RAM_BASE >> 12) + i) << 10 | leaf;
	uint64_t *hi = &pt[2][(JD_DATA - JD_RAM_BASE) >> 12];
	if (p->hi_perm == 1)
		*hi &= ~(PTE_W | PTE_X | PTE_D);
	else if (p->hi_perm == 2)
		*hi = 0;
	jd_write(s, JD_PT, pt, sizeof(pt));
	struct hart *h = s->h;
	if (csr_write(h, CSR_SATP,
		      (uint64_t)SATP_MODE_SV39 << SATP_MODE_SHIFT |
			      JD_PT >> 12))
		abort();
	h->s.priv = PRIV_S;
	hart_update_tlb_ctx(h);
	h->s.pc -= JD_VA_OFF;
	h->s.x[1] -= JD_VA_OFF;
	h->s.x[2] -= JD_VA_OFF;
	h->s.x[5] -= JD_VA_OFF;
}

static void jd_load(struct jd_side *s, const struct jd_prog *p)
{
	static uint8_t zero[JD_RAM_SIZE];
	jd_write(s, JD_RAM_BASE, zero, sizeof(zero));
	jd_write(s, JD_CODE, p->code, p->n * 4);
	/* end: back to the start, so blocks get hot; the budget stops */
	uint32_t u = (uint32_t)(-(int32_t)(p->n * 4)), back;
	back = 0x6f | ((u >> 12) & 0xff) << 12 | ((u >> 11) & 1) << 20 |
	       ((u >> 1) & 0x3ff) << 21 | ((u >> 20) & 1) << 31;
	jd_write(s, JD_CODE + p->n * 4, &back, 4);
	/* handler: csrr x3, mepc; addi x3, x3, 4; csrw mepc, x3; mret */
	static const uint32_t handler[] = { 0x341021f3, 0x00418193, 0x34119073,
					    0x30200073 };
	jd_write(s, JD_HANDLER, handler, sizeof(handler));
	jd_write(s, JD_DATA_LO, p->data, JD_DATA_LEN);
	jd_write(s, JD_RAM_BASE + JD_RAM_SIZE - JD_DATA_LEN / 2, p->data,
		 JD_DATA_LEN / 2);

	struct hart *h = s->h;
	hart_reset(h, JD_CODE, PRIV_M);
	for (unsigned r = 1; r < 32; r++)
		h->s.x[r] = p->x[r];
	memcpy(h->s.f, p->f, sizeof(h->s.f));
	h->s.frm = p->frm & 7;
	h->s.fflags = p->fflags & 31;
	h->s.mtvec = JD_HANDLER;
	h->s.mstatus = (uint64_t)(p->fs & 3) << MSTATUS_FS_SHIFT;
	if ((p->fs & 3) == FS_DIRTY)
		h->s.mstatus |= MSTATUS_SD;
	/* PMP open for M is implicit; no interrupts */
	h->s.mie = 0;
	if (p->paging)
		jd_map(s, p);
	if (h->jit)
		h->jit_hot = p->jit_hot ? p->jit_hot : 1;
}

static void jd_run(struct jd_side *s, uint64_t budget)
{
	uint64_t start = s->h->s.instret;
	for (int i = 0; i < 1000 && s->h->s.instret - start < budget; i++) {
		enum hart_run_result r = hart_run(s->h, budget / 4 + 1);
		if (r == HART_RUN_EXIT)
			break;
	}
}

#define JD_CMP(field)                                                    \
	do {                                                             \
		if (a->s.field != b->s.field) {                          \
			snprintf(why, len, "%s: interp %#llx jit %#llx", \
				 #field, (unsigned long long)a->s.field, \
				 (unsigned long long)b->s.field);        \
			return false;                                    \
		}                                                        \
	} while (0)

/* Same architectural state and memory? If not, why says where. */
static bool jd_compare(const struct jd_side *ia, const struct jd_side *jb,
		       char *why, size_t len)
{
	const struct hart *a = ia->h, *b = jb->h;
	for (unsigned r = 0; r < 32; r++)
		if (a->s.x[r] != b->s.x[r]) {
			snprintf(why, len, "x%u: interp %#llx jit %#llx", r,
				 (unsigned long long)a->s.x[r],
				 (unsigned long long)b->s.x[r]);
			return false;
		}
	for (unsigned r = 0; r < 32; r++)
		if (a->s.f[r] != b->s.f[r]) {
			snprintf(why, len, "f%u: interp %#llx jit %#llx", r,
				 (unsigned long long)a->s.f[r],
				 (unsigned long long)b->s.f[r]);
			return false;
		}
	JD_CMP(pc);
	JD_CMP(instret);
	JD_CMP(priv);
	JD_CMP(fflags);
	JD_CMP(frm);
	JD_CMP(mstatus);
	JD_CMP(mepc);
	JD_CMP(mcause);
	JD_CMP(mtval);
	JD_CMP(mscratch);
	JD_CMP(sepc);
	JD_CMP(scause);
	JD_CMP(stval);
	JD_CMP(sscratch);
	JD_CMP(mcycle_offset);
	JD_CMP(resv_addr);
	JD_CMP(resv_value);
	JD_CMP(satp);
	static uint8_t ma[JD_RAM_SIZE], mb[JD_RAM_SIZE];
	if (gmem_read(ia->mem, JD_RAM_BASE, ma, sizeof(ma)) < 0 ||
	    gmem_read(jb->mem, JD_RAM_BASE, mb, sizeof(mb)) < 0)
		abort();
	for (size_t i = 0; i < sizeof(ma); i++)
		if (ma[i] != mb[i]) {
			snprintf(why, len,
				 "memory at %#llx: interp %#x jit %#x",
				 (unsigned long long)(JD_RAM_BASE + i), ma[i],
				 mb[i]);
			return false;
		}
	return true;
}

/* Run p on both; true if they agree (else why is filled). */
static bool jd_check(struct jd_side *interp, struct jd_side *jit,
		     const struct jd_prog *p, char *why, size_t len)
{
	jd_load(interp, p);
	jd_load(jit, p);
	jd_run(interp, p->budget);
	jd_run(jit, p->budget);
	return jd_compare(interp, jit, why, len);
}

/* ---- the random program generator ------------------------------------------ */

static uint64_t jd_rng(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t jd_value(uint64_t *s)
{
	static const uint64_t edge[] = { 0,
					 1,
					 ~0ULL,
					 0x7fffffffffffffffULL,
					 0x8000000000000000ULL,
					 0x7fffffff,
					 0x80000000,
					 0xffffffff,
					 0xffffffff80000000ULL,
					 0x3ff0000000000000ULL,
					 0x7ff8000000000000ULL,
					 0xffffffff7fc00000ULL,
					 63,
					 64 };
	uint64_t r = jd_rng(s);
	switch (r % 4) {
	case 0: return edge[(r >> 8) % ARRAY_SIZE(edge)];
	case 1: return (r >> 8) % 256;
	default: return jd_rng(s);
	}
}

/* CSRs a program may touch: none of them depends on the host clock. */
static const uint16_t jd_csrs[] = { 0x340, 0x341, 0x342, 0x343, 0x001,
				    0x002, 0x003, 0xc00, 0xc02, 0xb00,
				    0xb02, 0x140, 0x300, 0x7a0, 0xfff };

static uint32_t jd_insn(uint64_t *s, unsigned i, unsigned n)
{
	static const uint8_t opcodes[] = {
		0x13, 0x13, 0x13, 0x13, 0x33, 0x33, 0x33, 0x33, 0x3b, 0x1b,
		0x03, 0x03, 0x03, 0x23, 0x23, 0x23, 0x63, 0x63, 0x13, 0x53,
		0x53, 0x43, 0x4f, 0x07, 0x27, 0x2f, 0x2f, 0x37, 0x17, 0x33,
		0x13, 0x73, 0x0f, 0x33, 0x13, 0x3b, 0x33, 0x13, 0x03, 0x23,
		0x1b, 0x3b, 0x33, 0x13, 0x63, 0x6f, 0x67, 0x33, 0x13, 0x53,
		0x00, 0x00, 0x00, 0x63, 0x33, 0x3b,
	};
	/* the opcode is kept while retrying, or opcodes with few valid
	 * encodings (OP, OP-FP) would hardly ever be drawn */
	unsigned op = opcodes[jd_rng(s) % ARRAY_SIZE(opcodes)];
	for (;;) {
		uint32_t w = (uint32_t)jd_rng(s);
		/* funct7 from the ones in use, for OP and OP-32 */
		if (op == 0x33 || op == 0x3b) {
			static const uint8_t f7[] = { 0x00, 0x20, 0x01, 0x10,
						      0x05, 0x30, 0x14, 0x24,
						      0x34, 0x04, 0x07 };
			w = (w & 0x01ffffffu) |
			    (uint32_t)f7[jd_rng(s) % ARRAY_SIZE(f7)] << 25;
		}
		if (op == 0x00) {
			/* Zbb's unary operations (clz, ctz, cpop, their
			 * word forms, orc.b, sext, rev8): rare by chance */
			static const uint32_t unary[] = {
				0x60001013, 0x60101013, 0x60201013, 0x6000101b,
				0x6010101b, 0x6020101b, 0x28705013, 0x60401013,
				0x60501013, 0x6b805013, 0x0800403b,
			};
			w = (w & 0x000f8f80u) |
			    unary[jd_rng(s) % ARRAY_SIZE(unary)];
		} else {
			w = (w & ~0x7fu) | op;
		}
		unsigned rd = (w >> 7) & 31;
		if (rd >= 1 && rd <= 5)
			w ^= (uint32_t)(rd ^ (6 + jd_rng(s) % 26)) << 7;
		unsigned sel = (unsigned)(jd_rng(s) % 16);
		int64_t target;
		/* x0 as an operand (mv, neg, sext.w, beqz, bgtz ...) */
		if ((op == 0x33 || op == 0x3b || op == 0x63) && sel >= 12)
			w &= sel & 1 ? ~(31u << 15) : ~(31u << 20);
		switch (op) {
		case 0x03:
		case 0x07:
		case 0x23:
		case 0x27:
		case 0x2f: {
			/* base: mostly the data window, sometimes the end
			 * of RAM, code (self-modification) or anything */
			unsigned base = sel < 10   ? 1
					: sel < 12 ? 5
					: sel < 13 ? 2
						   : (w >> 15) & 31;
			w = (w & ~(31u << 15)) | base << 15;
			/* one AMO in four an LR (rs2 = 0 by chance only
			 * one time in 32): reservations to compare */
			if (op == 0x2f && (w >> 30) == 0)
				w = (w & ~(0x1fu << 27 | 31u << 20)) | 2u << 27;
			if (op == 0x23 && base == 2) {
				/* sw x4, off(x2): a valid instruction over
				 * one a little ahead */
				unsigned to = i + 1 + (unsigned)(jd_rng(s) % 8);
				uint32_t off = (to < n ? to : i) * 4;
				w = 0x23 | (off & 31) << 7 | 2u << 12 |
				    2u << 15 | 4u << 20 |
				    ((off >> 5) & 0x7f) << 25;
			}
			break;
		}
		case 0x63:
		case 0x6f:
			/* a nearby target inside the program */
			target = (int64_t)i + (int64_t)(jd_rng(s) % 24) - 6;
			if (target < 0 || target > (int64_t)n)
				target = i + 1;
			target = (target - (int64_t)i) * 4;
			if (op == 0x63) {
				uint32_t u = (uint32_t)target;
				w = (w & 0x01fff07fu) | ((u >> 11) & 1) << 7 |
				    ((u >> 1) & 0xf) << 8 |
				    ((u >> 5) & 0x3f) << 25 |
				    ((u >> 12) & 1) << 31;
			} else {
				uint32_t u = (uint32_t)target;
				w = (w & 0xfffu) | ((u >> 12) & 0xff) << 12 |
				    ((u >> 11) & 1) << 20 |
				    ((u >> 1) & 0x3ff) << 21 |
				    ((u >> 20) & 1) << 31;
			}
			break;
		case 0x67:
			/* jalr rd, off(x2): into the program */
			target = (int64_t)(jd_rng(s) % (n + 1)) * 4;
			if (target > 2044)
				target = 2044;
			w = (w & 0xfffu) | 2u << 15 | (uint32_t)target << 20;
			break;
		case 0x73:
			if (sel < 12) {
				w = (w & 0x000fffffu) |
				    (uint32_t)jd_csrs[jd_rng(s) %
						      ARRAY_SIZE(jd_csrs)]
					    << 20;
				if (((w >> 12) & 7) == 0 ||
				    ((w >> 12) & 7) == 4)
					w |= 2u << 12;
			} else if (sel < 14) {
				w = 0x00000073; /* ecall */
			} else if (sel < 15) {
				w = 0x00100073; /* ebreak */
			} else {
				w = 0x30200073; /* mret */
			}
			break;
		case 0x0f:
			/* fence with any predecessor and successor sets,
			 * fence.tso, fence.i */
			w = sel < 8    ? (w & 0x0ff00000u) | 0x0f
			    : sel < 10 ? 0x8330000f
				       : 0x0000100f;
			break;
		default: break;
		}
		/* mostly valid encodings; a few illegal ones trap */
		if (strcmp(decode_name(w), "illegal") == 0 && sel != 0)
			continue;
		return w;
	}
}

/* A load or store like w (same opcode and base) with funct3 f3, offset
 * imm and rd (or rs2) r. */
static uint32_t jd_access_like(uint32_t w, uint32_t f3, int32_t imm, uint32_t r)
{
	uint32_t u = (uint32_t)imm, op = w & 0x7f;
	uint32_t keep = (w & (31u << 15)) | f3 << 12;
	if (op == 0x03)
		return (u & 0xfff) << 20 | keep | r << 7 | op;
	return ((u >> 5) & 0x7f) << 25 | r << 20 | keep | (u & 31) << 7 | op;
}

/* Runs of loads or stores off one base register, as in prologues and
 * epilogues (the translator gives them one TLB lookup): half the accesses
 * off the data window or the end of RAM are followed by another, mostly
 * of the same size or narrower, with a nearby offset a multiple of its
 * size away; a quarter of the runs start next to the page boundary in the
 * window, or the end of RAM, so that they cross it. */
static void jd_runs(struct jd_prog *p, uint64_t *s)
{
	bool cont = false;
	for (unsigned i = 1; i < p->n; i++) {
		uint32_t prev = p->code[i - 1], op = prev & 0x7f;
		uint32_t base = (prev >> 15) & 31, f3 = (prev >> 12) & 7;
		bool was = cont;
		cont = false;
		if ((op != 0x03 && op != 0x23) || (base != 1 && base != 5) ||
		    jd_rng(s) % 2)
			continue;
		int32_t size = 1 << (f3 & 3);
		/* the next: mostly as wide or narrower (lb/lbu ... ld, sb
		 * ... sd), which may share the lookup, else any */
		uint32_t e = (uint32_t)(jd_rng(s) % 4
						? jd_rng(s) % ((f3 & 3) + 1)
						: jd_rng(s) % 4);
		uint32_t nf3 = e |
			       (op == 0x03 && e < 3 && jd_rng(s) % 2 ? 4 : 0);
		int32_t imm = op == 0x03 ? (int32_t)prev >> 20
					 : ((int32_t)prev >> 25) * 32 +
						   (int32_t)((prev >> 7) & 31);
		/* rd or rs2: not a reserved register */
		uint32_t r = 6 + (uint32_t)(jd_rng(s) % 26);
		if (!was && jd_rng(s) % 4 == 0) {
			/* x1 is at a page boundary, x5 1 KiB before the
			 * end of RAM */
			imm = (base == 5 ? 1024 : 0) +
			      size * ((int32_t)(jd_rng(s) % 4) - 3);
			uint32_t own = (prev >> (op == 0x03 ? 7 : 20)) & 31;
			p->code[i - 1] = jd_access_like(prev, f3, imm, own);
		}
		imm += (1 << e) * ((int32_t)(jd_rng(s) % 9) - 4);
		if (imm < -2048 || imm > 2047)
			continue;
		p->code[i] = jd_access_like(prev, nf3, imm, r);
		cont = true;
	}
}

/* n <= 500: offsets of jalr and self-modifying stores are 12-bit */
static void jd_generate(struct jd_prog *p, uint64_t seed, unsigned n)
{
	uint64_t s = seed;
	if (n > 500)
		n = 500;
	p->n = n;
	for (unsigned i = 0; i < n; i++)
		p->code[i] = jd_insn(&s, i, n);
	jd_runs(p, &s);
	for (unsigned r = 0; r < 32; r++) {
		p->x[r] = jd_value(&s);
		p->f[r] = jd_value(&s);
	}
	p->x[0] = 0;
	p->x[1] = JD_DATA;
	p->x[2] = JD_CODE;
	p->x[3] = 0;
	/* what self-modifying stores write: addi a0, a0, 1; xor a1, a1, a2;
	 * an illegal word; j +8 */
	static const uint32_t patches[] = { 0x00150513, 0x00c5c5b3, 0,
					    0x0080006f };
	p->x[4] = patches[jd_rng(&s) % ARRAY_SIZE(patches)];
	p->x[5] = JD_RAM_BASE + JD_RAM_SIZE - 1024;
	for (unsigned k = 0; k < JD_DATA_LEN; k++)
		p->data[k] = (uint8_t)jd_rng(&s);
	p->frm = (uint32_t)(jd_rng(&s) % 5);
	p->fflags = 0;
	p->fs = FS_INITIAL;
	p->paging = false;
	p->hi_perm = 0;
	p->jit_hot = 1 + (unsigned)(jd_rng(&s) % 3);
	p->budget = 20 * n + jd_rng(&s) % (40 * n + 1);
}

/* ---- F and D: programs for the translator's inline floating point ------ */

/* An f register's value: mostly numbers whose results stay normal (the
 * inline path), a double or a NaN-boxed single; else the edges that send
 * an operation to its handler: zeros, subnormals, the smallest normal,
 * the largest finite, infinities, NaNs (quiet, signalling), a single that
 * is not NaN-boxed. */
static uint64_t jd_fp_value(uint64_t *s, bool dbl)
{
	static const uint64_t edge[] = {
		0,
		0x8000000000000000ULL,
		0x3ff0000000000000ULL,
		0x0000000000000001ULL,
		0x0010000000000000ULL,
		0x0018000000000000ULL,
		0x7fefffffffffffffULL,
		0x7ff0000000000000ULL,
		0xfff0000000000000ULL,
		0x7ff8000000000000ULL,
		0x7ff4000000000000ULL,
		0x41e0000000000000ULL, /* 2^31 */
		0xc3e0000000000000ULL, /* -2^63 */
		0xffffffff00000000ULL,
		0xffffffff80000001ULL,
		0xffffffff00800000ULL,
		0xffffffff00c00000ULL,
		0xffffffff7f7fffffULL,
		0xffffffff7f800000ULL,
		0xffffffff7fc00000ULL,
		0xffffffff7fa00000ULL,
		0xffffffff4f000000ULL, /* 2^31 */
		0x000000003f800000ULL, /* 1.0f, not boxed */
	};
	uint64_t r = jd_rng(s), m = jd_rng(s);
	uint64_t sign = r >> 63;
	switch (r % 8) {
	case 0: return edge[(r >> 8) % ARRAY_SIZE(edge)];
	case 1: /* near the smallest normals: results may underflow */
		if (dbl)
			return sign << 63 | ((r >> 9) % 4) << 52 |
			       (m & 0xfffffffffffffULL);
		return 0xffffffff00000000ULL | sign << 31 |
		       ((r >> 9) % 4) << 23 | (m & 0x7fffff);
	case 2:
	case 3:
	case 4: /* integral or short fractions, as programs compute */
		if (dbl)
			return sign << 63 | (1023 + (r >> 9) % 40) << 52 |
			       (m & 0xfff0000000000ULL);
		return 0xffffffff00000000ULL | sign << 31 |
		       (127 + (r >> 9) % 30) << 23 | (m & 0x7f0000);
	default:
		if (dbl)
			return sign << 63 | (1023 + (r >> 9) % 160 - 80) << 52 |
			       (m & 0xfffffffffffffULL);
		return 0xffffffff00000000ULL | sign << 31 |
		       (127 + (r >> 9) % 60 - 30) << 23 | (m & 0x7fffff);
	}
}

/* A rounding mode field: mostly dynamic or RNE, sometimes another mode,
 * rarely a reserved one (illegal). */
static uint32_t jd_fp_rm(uint64_t *s)
{
	static const uint8_t rms[] = { 7, 7, 7, 0, 0, 0, 1, 2, 3, 4, 5 };
	return rms[jd_rng(s) % ARRAY_SIZE(rms)];
}

/* Doubles live in f0-f15, singles in f16-f31 (jd_fp_generate): an
 * operand of the format from there, and now and then any. */
static uint32_t jd_freg(uint64_t *s, bool dbl)
{
	uint64_t r = jd_rng(s);
	if (r % 8 == 0)
		return (uint32_t)(r >> 8) % 32;
	return (dbl ? 0 : 16) + (uint32_t)(r >> 8) % 16;
}

static uint32_t jd_fp_insn(uint64_t *s)
{
	/* funct7 and rs2 (or -1: any f register) of OP-FP operations */
	static const struct {
		uint8_t f7;
		int8_t rs2;
		int8_t rm; /* -1: a rounding mode */
	} opfp[] = {
		{ 0x00, -1, -1 }, { 0x01, -1, -1 }, /* fadd */
		{ 0x04, -1, -1 }, { 0x05, -1, -1 }, /* fsub */
		{ 0x08, -1, -1 }, { 0x09, -1, -1 }, /* fmul */
		{ 0x0c, -1, -1 }, { 0x0d, -1, -1 }, /* fdiv */
		{ 0x2c, 0, -1 },  { 0x2d, 0, -1 },  /* fsqrt */
		{ 0x10, -1, 0 },  { 0x10, -1, 1 },
		{ 0x10, -1, 2 }, /* fsgnj */
		{ 0x11, -1, 0 },  { 0x11, -1, 1 },
		{ 0x11, -1, 2 },  { 0x14, -1, 0 },
		{ 0x15, -1, 1 },		   /* fmin.s, fmax.d */
		{ 0x20, 1, -1 },  { 0x21, 0, -1 }, /* fcvt.s.d, fcvt.d.s */
		{ 0x50, -1, 2 },  { 0x50, -1, 1 },
		{ 0x50, -1, 0 }, /* feq */
		{ 0x51, -1, 2 },  { 0x51, -1, 1 },
		{ 0x51, -1, 0 },  { 0x70, 0, 0 },
		{ 0x71, 0, 0 }, /* fmv.x.w/d */
		{ 0x71, 0, 1 }, /* fclass.d */
		{ 0x60, 0, -1 },  { 0x60, 2, -1 },
		{ 0x60, 1, -1 }, /* fcvt.w */
		{ 0x61, 0, -1 },  { 0x61, 2, -1 },
		{ 0x61, 3, -1 },  { 0x68, 0, -1 },
		{ 0x68, 2, -1 }, /* fcvt.s.w/l */
		{ 0x69, 0, -1 },  { 0x69, 2, -1 },
		{ 0x69, 1, -1 },  { 0x78, 0, 0 },
		{ 0x79, 0, 0 }, /* fmv.w/d.x */
	};
	uint32_t r = (uint32_t)jd_rng(s);
	/* integer destinations and sources: not a reserved register, nor
	 * x30 and x31 (mstatus values, below) */
	uint32_t xd = 6 + (r >> 20) % 24, xs = 6 + (r >> 25) % 24;
	switch (jd_rng(s) % 16) {
	case 0: /* fld/flw, fsd/fsw around the data window's boundary */
	case 1: {
		uint32_t dbl = (r >> 30) & 1, st = r >> 31;
		int32_t imm = (int32_t)(jd_rng(s) % 64) * 4 - 128;
		uint32_t u = (uint32_t)imm & 0xfff, f3 = 2 + dbl;
		if (st)
			return (u >> 5) << 25 | jd_freg(s, dbl) << 20 |
			       1u << 15 | f3 << 12 | (u & 31) << 7 | 0x27;
		return u << 20 | 1u << 15 | f3 << 12 | jd_freg(s, dbl) << 7 |
		       0x07;
	}
	case 2: /* fmadd, fmsub, fnmsub, fnmadd */
	case 3: {
		static const uint8_t op[] = { 0x43, 0x47, 0x4b, 0x4f };
		bool dbl = (r >> 20) & 1;
		return jd_freg(s, dbl) << 27 | (uint32_t)dbl << 25 |
		       jd_freg(s, dbl) << 20 | jd_freg(s, dbl) << 15 |
		       jd_fp_rm(s) << 12 | jd_freg(s, dbl) << 7 |
		       op[(r >> 21) % 4];
	}
	case 4: /* now and then: clear NX, change frm, FS Off, Clean or
		 * Dirty */
		switch ((r >> 20) % 7) {
		case 0: return 0x0010f073;  /* csrci fflags, 1 */
		case 1: return 0x0020d073;  /* csrwi frm, 1 */
		case 2: return 0x00205073;  /* csrwi frm, 0 */
		case 3: return 0x300fb073;  /* csrc mstatus, x31 */
		case 4: return 0x300fa073;  /* csrs mstatus, x31 */
		case 5: return 0x300f1073;  /* csrw mstatus, x30 */
		default: return 0x0010e073; /* csrsi fflags, 1 */
		}
	default: {
		unsigned k = (unsigned)(jd_rng(s) % ARRAY_SIZE(opfp));
		uint32_t f7 = opfp[k].f7, rm = opfp[k].rm;
		/* the format: funct7's low bit, but for fcvt.s.d and
		 * fcvt.d.s the source's is the other one */
		bool dbl = f7 & 1, sdbl = f7 == 0x20 || (dbl && f7 != 0x21);
		uint32_t rd = jd_freg(s, dbl), rs1 = jd_freg(s, sdbl);
		uint32_t src2 = opfp[k].rs2 < 0 ? jd_freg(s, dbl)
						: (uint32_t)opfp[k].rs2;
		if (opfp[k].rm < 0)
			rm = jd_fp_rm(s);
		/* integer operands: fcvt/fmv from x take xs, compares,
		 * fclass, fcvt to integers and fmv to x write xd */
		if (f7 == 0x68 || f7 == 0x69 || f7 == 0x78 || f7 == 0x79)
			rs1 = xs;
		if (f7 == 0x50 || f7 == 0x51 || f7 == 0x60 || f7 == 0x61 ||
		    f7 == 0x70 || f7 == 0x71)
			rd = xd;
		return f7 << 25 | src2 << 20 | rs1 << 15 | rm << 12 | rd << 7 |
		       0x53;
	}
	}
}

/* Programs of F and D operations on values that mostly keep to the
 * translator's inline paths, with the state those need (FS Dirty, frm
 * and the rounding mode RNE, fflags.NX set) most of the time, and
 * instructions that take it away. n <= 500. */
static void jd_fp_generate(struct jd_prog *p, uint64_t seed, unsigned n)
{
	/* seeds k and k + 1 would give the same stream shifted by one
	 * draw: start from a hash of the seed */
	uint64_t s = seed;
	s = jd_rng(&s);
	jd_generate(p, seed, n);
	for (unsigned i = 0; i < p->n; i++)
		p->code[i] = jd_fp_insn(&s);
	for (unsigned r = 0; r < 32; r++)
		p->f[r] = jd_fp_value(&s, r < 16);
	for (unsigned r = 6; r < 31; r++)
		p->x[r] =
			jd_rng(&s) % 2
				? jd_value(&s)
				: (uint64_t)(int64_t)(int32_t)(jd_rng(&s) %
								       2000000 -
							       1000000);
	p->x[30] = (uint64_t)FS_CLEAN << MSTATUS_FS_SHIFT | MSTATUS_MPP;
	p->x[31] = MSTATUS_FS;
	for (unsigned k = 0; k < JD_DATA_LEN; k += 8) {
		uint64_t v = jd_fp_value(&s, (k >> 3) & 1);
		memcpy(&p->data[k], &v, 8);
	}
	static const uint8_t fs[] = { FS_DIRTY, FS_DIRTY,   FS_DIRTY, FS_DIRTY,
				      FS_CLEAN, FS_INITIAL, 0 };
	p->fs = fs[jd_rng(&s) % ARRAY_SIZE(fs)];
	p->frm = jd_rng(&s) % 4 ? 0 : (uint32_t)(jd_rng(&s) % 5);
	p->fflags = jd_rng(&s) % 4 ? FPU_NX : 0;
}

#endif
