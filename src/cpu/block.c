/*
 * Decoded-block cache (ARCHITECTURE.md, "The hot path": decode once).
 * Blocks are keyed by the guest physical address of their first instruction
 * and never cross a page, so a store to a page needs to drop only the blocks
 * of that page. A block ends at a control transfer, a CSR or system
 * instruction, the page end, or BLOCK_MAX_INSNS.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/exec.h"
#include "cpu/jit/jit.h"
#include "util/prefault.h"

#define BCACHE_TABLE_BYTES (BCACHE_SIZE * sizeof(struct block *))

/* The arena on transparent huge pages where the host allows them (a
 * madvise policy): it is written in order as blocks are decoded, and one
 * 2 MiB fault costs far less than 512 page faults on a virtualized host.
 * Not its first 2 MiB: after an idle trim an idle guest's ~1.5 MiB of
 * blocks would hold a whole huge page. MAP_FAILED on failure. */
static uint8_t *map_arena(void)
{
	const size_t huge = 2u << 20;
	uint8_t *p = mmap(NULL, BCACHE_ARENA + huge, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return p;
	uint8_t *a = (uint8_t *)(((uintptr_t)p + huge - 1) & ~(huge - 1));
	if (a != p)
		munmap(p, (size_t)(a - p));
	munmap(a + BCACHE_ARENA, (size_t)(p + huge - a));
	(void)madvise(a + huge, BCACHE_ARENA - huge, MADV_HUGEPAGE);
	return a;
}

int bcache_init(struct bcache *bc, struct gmem *mem)
{
	bc->ram_base = gmem_ram_base(mem);
	bc->n_frames = gmem_ram_size(mem) >> GUEST_PAGE_SHIFT;
	bc->code_pages = calloc((bc->n_frames + 63) / 64, sizeof(uint64_t));
	bc->arena = map_arena();
	bc->table = mmap(NULL, BCACHE_TABLE_BYTES, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!bc->code_pages || bc->arena == MAP_FAILED ||
	    bc->table == MAP_FAILED) {
		free(bc->code_pages);
		bc->code_pages = NULL;
		if (bc->arena != MAP_FAILED)
			munmap(bc->arena, BCACHE_ARENA);
		if (bc->table != MAP_FAILED)
			munmap(bc->table, BCACHE_TABLE_BYTES);
		bc->arena = NULL;
		bc->table = NULL;
		return -1;
	}
	bc->used = 0;
	bc->committed = 0;
	bc->trim_at = BCACHE_TRIM_MIN;
	bc->mem = mem;
	gmem_hart_attach(mem);
	return 0;
}

void bcache_destroy(struct bcache *bc)
{
	if (bc->mem)
		gmem_hart_detach(bc->mem);
	free(bc->code_pages);
	if (bc->arena)
		munmap(bc->arena, BCACHE_ARENA);
	if (bc->table)
		munmap(bc->table, BCACHE_TABLE_BYTES);
}

void bcache_flush(struct hart *h)
{
	struct bcache *bc = &h->bc;
	memset(bc->table, 0, BCACHE_TABLE_BYTES);
	memset(bc->code_pages, 0, (bc->n_frames + 63) / 64 * sizeof(uint64_t));
	bc->used = 0;
	bc->prev = NULL;
	/* translations point into the arena's blocks */
	jit_flush(h);
}

void bcache_trim(struct hart *h)
{
	struct bcache *bc = &h->bc;

	bc->trims++;
	if (bc->used < 2 * bc->trim_at)
		bc->trim_at = bc->used < BCACHE_TRIM_MAX / 2 ? 2 * bc->used
							     : BCACHE_TRIM_MAX;
	bcache_flush(h);
	/* the arena's pages go back to the host; the next blocks decoded
	 * (an idle guest's few) touch only what they need again */
	madvise(h->bc.arena, BCACHE_ARENA, MADV_DONTNEED);
	madvise(h->bc.table, BCACHE_TABLE_BYTES, MADV_DONTNEED);
	h->bc.committed = 0;
	jit_trim(h); /* and the translations' code pages */
}

/* Every block must prove its bytes again before it runs: the generation is
 * loaded first, so every write that moved it that far is seen by the
 * checks (which read memory later). */
static void new_epoch(struct bcache *bc)
{
	bc->code_gen = gmem_code_gen(bc->mem);
	bc->code_unsure = false;
	bc->epoch++;
	bc->epoch_moves++;
}

void bcache_fence_i(struct hart *h)
{
	struct bcache *bc = &h->bc;

	bc->fence_i++;
	/* This hart's own stores to its code pages moved the epoch already
	 * (bcache_invalidate_page); other writers moved the generation
	 * (code.c). Other harts' stores are logged only with a TLB sync
	 * (gmem_code_smp): without one, only a hart alone may keep it. */
	if (!bc->code_unsure &&
	    (gmem_code_smp(bc->mem) || gmem_harts(bc->mem) == 1) &&
	    gmem_code_gen(bc->mem) == bc->code_gen) {
		bc->fence_i_kept++;
		return;
	}
	new_epoch(bc);
}

/* About to read instructions from gpa's frame (decode, revalidation). */
static inline void code_read(struct bcache *bc, uint64_t gpa)
{
	if (!gmem_code_mark(bc->mem, gpa))
		bc->code_unsure = true;
}

/* Does memory still hold the instructions b was decoded from? */
static bool block_still_valid(const struct block *b, const uint8_t *page)
{
	const uint8_t *p = page + (b->gpa & GUEST_PAGE_MASK);
	if ((b->gpa & GUEST_PAGE_MASK) + b->size > GUEST_PAGE_SIZE)
		return false; /* the straddling scratch block: never cached */
	for (uint32_t i = 0; i < b->n; i++) {
		const struct insn *in = &b->insn[i];
		uint32_t raw;
		if (in->len == 2) {
			uint16_t r16;
			memcpy(&r16, p + in->pc_off, 2);
			raw = r16;
		} else {
			memcpy(&raw, p + in->pc_off, 4);
		}
		if (raw != in->raw)
			return false;
	}
	return true;
}

static inline unsigned bcache_index(uint64_t gpa)
{
	return (unsigned)((gpa >> 1) ^ (gpa >> (BCACHE_BITS + 1))) &
	       (BCACHE_SIZE - 1);
}

void bcache_invalidate_page(struct hart *h, uint64_t gpa_page)
{
	struct bcache *bc = &h->bc;
	uint64_t f = (gpa_page - bc->ram_base) >> GUEST_PAGE_SHIFT;
	if (f < bc->n_frames)
		bc->code_pages[f / 64] &= ~(1ULL << (f % 64));
	/* No need to find the page's blocks (they may also be reachable
	 * through chains or have lost their table slot): a new epoch makes
	 * every block prove its instruction bytes before it runs again. */
	new_epoch(bc);
}

static void mark_code_page(struct hart *h, uint64_t gpa)
{
	struct bcache *bc = &h->bc;
	uint64_t f = (gpa - bc->ram_base) >> GUEST_PAGE_SHIFT;
	if (f >= bc->n_frames || ((bc->code_pages[f / 64] >> (f % 64)) & 1))
		return;
	bc->code_pages[f / 64] |= 1ULL << (f % 64);
	/* from now on stores to the page must see it is code */
	tlb_flush_store_gpa(h, gpa & ~GUEST_PAGE_MASK);
}

/* Scratch block for an instruction that straddles two pages: decoded each
 * time it runs, never cached (its halves may be remapped independently). */
static _Thread_local struct {
	struct block b;
	struct insn in[2];
} straddle;

static void add_sentinel(struct block *b)
{
	struct insn *end = &b->insn[b->n];
	memset(end, 0, sizeof(*end));
	end->fn = op_block_end;
	end->pc_off = (uint16_t)b->size;
	end->idx = (uint16_t)b->n;
}

/* Translate pc for fetch; returns the host page and gpa, or NULL after
 * taking the trap. */
static uint8_t *fetch_page(struct hart *h, uint64_t pc, uint64_t *gpa)
{
	struct tlb_entry *e = &h->tlb_fetch[(pc >> 12) & (TLB_SIZE - 1)];
	if (likely(e->tag == (pc & ~GUEST_PAGE_MASK))) {
		*gpa = e->gpa_page | (pc & GUEST_PAGE_MASK);
		return (uint8_t *)(uintptr_t)(e->addend +
					      (pc & ~GUEST_PAGE_MASK));
	}
	int cause = mmu_translate(h, pc, MMU_FETCH, gpa);
	if (cause) {
		hart_trap(h, h->s.pc, (uint64_t)cause, pc);
		return NULL;
	}
	unsigned flags;
	uint8_t *page = gmem_page(h->mem, *gpa, GMEM_READ, &flags);
	if (!page || !pmp_check(h, *gpa, 2, h->s.priv, MMU_FETCH)) {
		hart_trap(h, h->s.pc, EXC_INSN_ACCESS, pc);
		return NULL;
	}
	if (!(flags & (GMEM_PAGE_ZERO | GMEM_PAGE_NOCACHE)) &&
	    pmp_check(h, *gpa & ~GUEST_PAGE_MASK, GUEST_PAGE_SIZE, h->s.priv,
		      MMU_FETCH)) {
		e->tag = pc & ~GUEST_PAGE_MASK;
		e->addend = (uintptr_t)page - (pc & ~GUEST_PAGE_MASK);
		e->gpa_page = *gpa & ~GUEST_PAGE_MASK;
	}
	return page;
}

static struct block *decode_straddling(struct hart *h, uint8_t *page,
				       uint64_t gpa)
{
	uint64_t pc = h->s.pc, gpa2;
	uint16_t lo, hi;
	code_read(&h->bc, gpa);
	memcpy(&lo, page + (gpa & GUEST_PAGE_MASK), 2);
	uint8_t *page2 = fetch_page(h, pc + 2, &gpa2);
	if (!page2)
		return NULL; /* trap taken with tval = pc + 2, epc = pc */
	code_read(&h->bc, gpa2);
	memcpy(&hi, page2, 2);
	struct block *b = &straddle.b;
	memset(b, 0, sizeof(*b));
	b->scratch = true;
	b->gpa = gpa;
	b->epoch = h->bc.epoch;
	b->n = 1;
	b->size = 4;
	decode_insn((uint32_t)lo | (uint32_t)hi << 16, &b->insn[0]);
	b->insn[0].pc_off = 0;
	b->insn[0].idx = 0;
	add_sentinel(b);
	mark_code_page(h, gpa);
	mark_code_page(h, gpa2);
	return b;
}

static struct block *decode_block(struct hart *h, uint8_t *page, uint64_t gpa)
{
	struct bcache *bc = &h->bc;
	size_t need = sizeof(struct block) +
		      (BLOCK_MAX_INSNS + 1) * sizeof(struct insn);
	if (bc->used + need > BCACHE_ARENA) {
		bc->arena_resets++;
		bcache_flush(h);
	}
	bc->decodes++;
	prefault_ahead(bc->arena, &bc->committed, bc->used + need, BCACHE_ARENA,
		       MADV_POPULATE_WRITE);
	struct block *b = (struct block *)(bc->arena + bc->used);
	unsigned off = (unsigned)(gpa & GUEST_PAGE_MASK), start = off;
	unsigned n = 0;

	code_read(bc, gpa);

	while (n < BLOCK_MAX_INSNS && off + 2 <= GUEST_PAGE_SIZE) {
		uint16_t lo;
		uint32_t raw;
		memcpy(&lo, page + off, 2);
		if ((lo & 3) == 3) {
			if (off + 4 > GUEST_PAGE_SIZE)
				break; /* straddles: own block next time */
			memcpy(&raw, page + off, 4);
		} else {
			raw = lo;
		}
		struct insn *in = &b->insn[n];
		bool ends = decode_insn(raw, in);
		in->pc_off = (uint16_t)(off - start);
		in->idx = (uint16_t)n;
		off += in->len;
		n++;
		if (ends)
			break;
	}
	b->gpa = gpa;
	b->epoch = bc->epoch;
	for (int k = 0; k < BLOCK_SUCCS; k++) {
		b->succ_pc[k] = ~0ULL;
		b->succ[k] = NULL;
	}
	b->next_slot = 0;
	b->scratch = false;
	b->jit_entry = b->jit_chain = NULL;
	b->jit_gen = 0;
	b->hits = 0;
	b->n = n;
	b->size = off - start;
	add_sentinel(b);
	bc->used += (sizeof(struct block) + (n + 1) * sizeof(struct insn) +
		     15) &
		    ~15UL;
	struct block **slot = &bc->table[bcache_index(gpa)];
	b->hnext = *slot;
	*slot = b;
	mark_code_page(h, gpa);
	return b;
}

static struct block *lookup_table(struct hart *h, uint8_t *page, uint64_t gpa)
{
	struct block **slot = &h->bc.table[bcache_index(gpa)], **pp, *b;
	for (pp = slot; (b = *pp); pp = &b->hnext) {
		if (b->gpa != gpa)
			continue;
		if (unlikely(b->epoch != h->bc.epoch)) {
			code_read(&h->bc, gpa);
			if (!block_still_valid(b, page)) {
				*pp = b->hnext; /* replaced below */
				break;
			}
			b->epoch = h->bc.epoch;
			/* a store may have unmarked its page meanwhile */
			mark_code_page(h, gpa);
		}
		if (pp != slot) { /* to the front: the next lookup is short */
			*pp = b->hnext;
			b->hnext = *slot;
			*slot = b;
		}
		return b;
	}
	uint16_t first;
	memcpy(&first, page + (gpa & GUEST_PAGE_MASK), 2);
	if ((first & 3) == 3 && (gpa & GUEST_PAGE_MASK) > GUEST_PAGE_SIZE - 4)
		return decode_straddling(h, page, gpa);
	return decode_block(h, page, gpa);
}

struct block *bcache_lookup_slow(struct hart *h)
{
	uint64_t pc = h->s.pc, gpa;
	uint8_t *page;
	const struct tlb_entry *e = &h->tlb_fetch[(pc >> 12) & (TLB_SIZE - 1)];

	if (likely(e->tag == (pc & ~GUEST_PAGE_MASK))) {
		gpa = e->gpa_page | (pc & GUEST_PAGE_MASK);
		page = (uint8_t *)(uintptr_t)(e->addend +
					      (pc & ~GUEST_PAGE_MASK));
	} else {
		page = fetch_page(h, pc, &gpa);
		if (unlikely(!page))
			return NULL;
	}

	struct block *prev = h->bc.prev, *b;
	if (prev) {
		int i = prev->succ_pc[0] == pc	 ? 0
			: prev->succ_pc[1] == pc ? 1
			: prev->succ_pc[2] == pc ? 2
			: prev->succ_pc[3] == pc ? 3
						 : -1;
		if (i >= 0) {
			b = prev->succ[i];
			if (likely(b->gpa == gpa && b->epoch == h->bc.epoch))
				return b;
		}
	}
	b = lookup_table(h, page, gpa);
	/* decoding may have flushed the arena, and prev with it */
	prev = h->bc.prev;
	if (b && prev && !b->scratch) {
		prev->succ_pc[prev->next_slot] = pc;
		prev->succ[prev->next_slot] = b;
		prev->next_slot = (prev->next_slot + 1) % BLOCK_SUCCS;
	}
	return b;
}
