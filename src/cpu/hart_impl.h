/*
 * Inside the hart: its state, software TLB, decoded instructions and blocks.
 * Only src/cpu includes this file; everything else uses hart.h.
 *
 * Threading: struct hart is owned by the thread running hart_run(). Other
 * threads touch only `requests`, `irq_lines`, `mtimecmp`, `sbi_timecmp` and
 * `parked` (all atomics), then wake the owner (hart_request and friends).
 */
#ifndef SV_CPU_HART_IMPL_H
#define SV_CPU_HART_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cpu/hart.h"
#include "cpu/riscv.h"
#include "mem/gmem.h"
#include "util/compiler.h"

/* ---- software TLB (ARCHITECTURE.md, "The hot path") ---------------------
 *
 * Direct-mapped, TLB_SIZE entries per array. An entry maps one guest virtual
 * page to host memory: hit = ((va & tlb_cmp_mask(size)) == tag), host address
 * = va + addend. The access size's alignment bits are part of the compare, so
 * a misaligned access misses and takes the slow path (TinyEMU's trick): no
 * extra branch on the fast path. An empty entry has tag TLB_TAG_EMPTY, whose
 * low bits can never match.
 *
 * Invariant: pages that are MMIO, the zero frame, read-only frames, or hold
 * decoded code (for the store TLB) never get an entry where a hit would be
 * wrong. Any change to translation (satp, sfence.vma, PMP, privilege or
 * MPRV/SUM/MXR) must go through tlb_flush*() or selecting another context.
 */
#define TLB_BITS      8
#define TLB_SIZE      (1u << TLB_BITS)
#define TLB_TAG_EMPTY (~0ULL)
_Static_assert(IS_POW2(TLB_SIZE), "TLB size must be a power of two");

struct tlb_entry {
	uint64_t tag;	   /* guest virtual page address, or TLB_TAG_EMPTY */
	uintptr_t addend;  /* host address - guest virtual address */
	uint64_t gpa_page; /* guest physical page (for code-page shootdown) */
	uint64_t pad;	   /* 32 bytes: translated code indexes by a shift */
};

/* Data TLB contexts: one per effective (privilege, SUM) pair, so that
 * switching privilege or toggling SUM (Linux does it on every user copy)
 * selects another array instead of flushing. */
enum tlb_ctx {
	TLB_CTX_U = 0,
	TLB_CTX_S = 1,
	TLB_CTX_S_SUM = 2,
	TLB_CTX_M = 3,
	TLB_NCTX = 4,
};

static inline uint64_t tlb_cmp_mask(unsigned size)
{
	return ~(GUEST_PAGE_MASK) | (uint64_t)(size - 1);
}

/* ---- decoded instructions and blocks -------------------------------------
 *
 * Each guest instruction is decoded once into a struct insn and cached in a
 * block keyed by the guest physical address of its first instruction.
 * Dispatch is threaded through a handler table: insn->fn is the
 * instruction's semantic function, and each handler ends by tail-calling the
 * next instruction's handler (NEXT_INSN), so every handler has its own
 * indirect jump and the host's branch predictor learns guest sequences.
 * A handler that ends the block (taken control transfer, trap, or a state
 * change) sets h->pc itself and returns. Every block ends with a sentinel
 * (op_block_end) that advances pc past the block, so falling off the end is
 * also a return. Blocks hold at most BLOCK_MAX_INSNS + 1 entries, which
 * bounds the stack even where the compiler does not turn the tail calls into
 * jumps (-O0, sanitizers).
 *
 * During a block h->pc holds the virtual address of its first instruction;
 * an instruction's own pc is h->pc + insn->pc_off. instret is credited for
 * the whole block on entry; a trap takes back what did not retire.
 */
/* Operation of a decoded instruction (struct insn.op), one per row of
 * decode.c's pattern table; the translator switches on it. */
enum insn_op {
	OP_ILLEGAL = 0,
	OP_LUI,
	OP_AUIPC,
	OP_JAL,
	OP_JALR,
	OP_BEQ,
	OP_BNE,
	OP_BLT,
	OP_BGE,
	OP_BLTU,
	OP_BGEU,
	OP_LB,
	OP_LH,
	OP_LW,
	OP_LD,
	OP_LBU,
	OP_LHU,
	OP_LWU,
	OP_SB,
	OP_SH,
	OP_SW,
	OP_SD,
	OP_ADDI,
	OP_SLTI,
	OP_SLTIU,
	OP_XORI,
	OP_ORI,
	OP_ANDI,
	OP_SLLI,
	OP_SRLI,
	OP_SRAI,
	OP_ADD,
	OP_SUB,
	OP_SLL,
	OP_SLT,
	OP_SLTU,
	OP_XOR,
	OP_SRL,
	OP_SRA,
	OP_OR,
	OP_AND,
	OP_ADDIW,
	OP_SLLIW,
	OP_SRLIW,
	OP_SRAIW,
	OP_ADDW,
	OP_SUBW,
	OP_SLLW,
	OP_SRLW,
	OP_SRAW,
	OP_FENCE,
	OP_FENCE_I,
	OP_ECALL,
	OP_EBREAK,
	OP_MRET,
	OP_SRET,
	OP_WFI,
	OP_SFENCE_VMA,
	OP_CSRRW,
	OP_CSRRS,
	OP_CSRRC,
	OP_CSRRWI,
	OP_CSRRSI,
	OP_CSRRCI,
	OP_MUL,
	OP_MULH,
	OP_MULHSU,
	OP_MULHU,
	OP_DIV,
	OP_DIVU,
	OP_REM,
	OP_REMU,
	OP_MULW,
	OP_DIVW,
	OP_DIVUW,
	OP_REMW,
	OP_REMUW,
	OP_LR_W,
	OP_SC_W,
	OP_AMOSWAP_W,
	OP_AMOADD_W,
	OP_AMOXOR_W,
	OP_AMOAND_W,
	OP_AMOOR_W,
	OP_AMOMIN_W,
	OP_AMOMAX_W,
	OP_AMOMINU_W,
	OP_AMOMAXU_W,
	OP_LR_D,
	OP_SC_D,
	OP_AMOSWAP_D,
	OP_AMOADD_D,
	OP_AMOXOR_D,
	OP_AMOAND_D,
	OP_AMOOR_D,
	OP_AMOMIN_D,
	OP_AMOMAX_D,
	OP_AMOMINU_D,
	OP_AMOMAXU_D,
	OP_FLW,
	OP_FLD,
	OP_FSW,
	OP_FSD,
	OP_FMADD_S,
	OP_FMSUB_S,
	OP_FNMSUB_S,
	OP_FNMADD_S,
	OP_FMADD_D,
	OP_FMSUB_D,
	OP_FNMSUB_D,
	OP_FNMADD_D,
	OP_FADD_S,
	OP_FSUB_S,
	OP_FMUL_S,
	OP_FDIV_S,
	OP_FSQRT_S,
	OP_FSGNJ_S,
	OP_FSGNJN_S,
	OP_FSGNJX_S,
	OP_FMIN_S,
	OP_FMAX_S,
	OP_FCVT_W_S,
	OP_FCVT_WU_S,
	OP_FCVT_L_S,
	OP_FCVT_LU_S,
	OP_FMV_X_W,
	OP_FCLASS_S,
	OP_FEQ_S,
	OP_FLT_S,
	OP_FLE_S,
	OP_FCVT_S_W,
	OP_FCVT_S_WU,
	OP_FCVT_S_L,
	OP_FCVT_S_LU,
	OP_FMV_W_X,
	OP_FADD_D,
	OP_FSUB_D,
	OP_FMUL_D,
	OP_FDIV_D,
	OP_FSQRT_D,
	OP_FSGNJ_D,
	OP_FSGNJN_D,
	OP_FSGNJX_D,
	OP_FMIN_D,
	OP_FMAX_D,
	OP_FCVT_S_D,
	OP_FCVT_D_S,
	OP_FEQ_D,
	OP_FLT_D,
	OP_FLE_D,
	OP_FCLASS_D,
	OP_FCVT_W_D,
	OP_FCVT_WU_D,
	OP_FCVT_L_D,
	OP_FCVT_LU_D,
	OP_FCVT_D_W,
	OP_FCVT_D_WU,
	OP_FCVT_D_L,
	OP_FCVT_D_LU,
	OP_FMV_X_D,
	OP_FMV_D_X,
	OP_SH1ADD,
	OP_SH2ADD,
	OP_SH3ADD,
	OP_ADD_UW,
	OP_SH1ADD_UW,
	OP_SH2ADD_UW,
	OP_SH3ADD_UW,
	OP_SLLI_UW,
	OP_ANDN,
	OP_ORN,
	OP_XNOR,
	OP_CLZ,
	OP_CTZ,
	OP_CPOP,
	OP_CLZW,
	OP_CTZW,
	OP_CPOPW,
	OP_MAX,
	OP_MAXU,
	OP_MIN,
	OP_MINU,
	OP_SEXT_B,
	OP_SEXT_H,
	OP_ZEXT_H,
	OP_ROL,
	OP_ROR,
	OP_ROLW,
	OP_RORW,
	OP_RORI,
	OP_RORIW,
	OP_ORC_B,
	OP_REV8,
	OP_BCLR,
	OP_BCLRI,
	OP_BEXT,
	OP_BEXTI,
	OP_BINV,
	OP_BINVI,
	OP_BSET,
	OP_BSETI,
	OP_CZERO_EQZ,
	OP_CZERO_NEZ,
	OP_COUNT
};

struct hart;
struct insn;
typedef void (*insn_fn)(struct hart *h, const struct insn *in);

struct insn {
	insn_fn fn;
	int32_t imm;  /* immediate, CSR number, shift amount ... */
	uint32_t raw; /* instruction bits (16-bit form for RVC) */
	uint8_t rd;   /* destination; x0 is mapped to the sink x[32] */
	uint8_t rs1, rs2, rs3;
	uint8_t len;	 /* 2 or 4 */
	uint8_t rm;	 /* FP rounding mode field, or aq/rl for atomics */
	uint16_t pc_off; /* byte offset from the block's first instruction */
	uint16_t idx;	 /* index in the block (for instret inside a block) */
	uint16_t op;	 /* enum insn_op */
};
_Static_assert(sizeof(struct insn) == 32, "struct insn: 32 bytes");
_Static_assert(OP_COUNT <= 65535, "op codes fit insn.op");

#define BLOCK_MAX_INSNS 64
/* Successors a block remembers: its exits (taken branches inside it, the
 * end) are usually at most a few. */
#define BLOCK_SUCCS 4

/* Continue with the next instruction of the block. */
#define NEXT_INSN(h, in)                   \
	do {                               \
		(in)[1].fn((h), (in) + 1); \
		return;                    \
	} while (0)

struct block {
	uint64_t gpa;	/* guest physical address of the first instruction */
	uint64_t epoch; /* bcache epoch in which it was last checked */
	/* Chaining: the last BLOCK_SUCCS blocks that ran after this one, by virtual
	 * pc. Only a hint: the successor is used only if the fetch TLB maps
	 * the pc to its gpa and its epoch is current. */
	uint64_t succ_pc[BLOCK_SUCCS];
	struct block *succ[BLOCK_SUCCS];
	uint8_t next_slot;
	bool scratch;  /* the straddling-instruction block, never chained */
	uint32_t n;    /* number of instructions */
	uint32_t size; /* bytes covered */
	/* Translation (src/cpu/jit): valid while jit_gen == h->jit_gen.
	 * jit_entry is entered from the dispatcher, jit_chain from another
	 * translated block (it checks requests and budget first; links are
	 * undone when the epoch moves). */
	const void *jit_entry, *jit_chain;
	uint32_t jit_gen;
	uint32_t hits;	     /* runs in the interpreter, towards JIT_HOT */
	struct block *hnext; /* next block of its bcache table slot */
	struct insn insn[];
};

/* Per-hart cache of decoded blocks: a hash table (chained through the
 * blocks) into an arena. The arena is reset as a whole when full; blocks are
 * never freed singly, so a block stays valid until the next block boundary
 * even if invalidated. A full Debian boot decodes ~150 000 distinct blocks
 * (~500 bytes each): an arena that holds a boot's working set keeps its hot
 * code decoded and translated (docs/jit.md, "Tenth pass"). */
#define BCACHE_BITS  15
#define BCACHE_SIZE  (1u << BCACHE_BITS)
#define BCACHE_ARENA (32u << 20)

struct bcache {
	struct block **table; /* BCACHE_SIZE chains, its own mapping */
	/* FENCE.I bumps the epoch instead of dropping every block: a block of
	 * an older epoch is checked against memory (its instruction bits)
	 * the next time it runs, and decoded again only if they changed.
	 * Linux issues FENCE.I for every executable page it maps, so a full
	 * flush there would re-decode the whole working set each time. */
	uint64_t epoch;
	/* block that ran last (for chaining); NULL after a flush */
	struct block *prev;
	uint8_t *arena;
	size_t used;
	size_t committed; /* arena bytes prefaulted (util/prefault.h) */
	/* Bitmap of RAM frames that hold decoded code of this hart: stores to
	 * them go the slow path and invalidate. */
	uint64_t *code_pages;
	uint64_t n_frames;
	uint64_t ram_base;
	/* an idle park trims the arena once it holds this much
	 * (bcache_trim raises it to what the idle guest needs) */
	size_t trim_at;
	/* FENCE.I keeps the epoch (links, jump cache, every block valid)
	 * when no one else can have written code since the last epoch move:
	 * other harts' stores are logged (a TLB sync, gmem_code_smp) or this
	 * hart is the only one on the RAM, the code-write generation
	 * (gmem.h) is still code_gen, loaded at that move, and nothing it
	 * decoded or revalidated since was read from a frame a host writer
	 * had pinned or while another hart's first mark synced
	 * (code_unsure). */
	struct gmem *mem;
	uint64_t code_gen;
	bool code_unsure;
	uint64_t fence_i, fence_i_kept; /* counts, for --log cpu=debug */
	uint64_t epoch_moves;
	uint64_t decodes, arena_resets, trims;
};

/* ---- the hart ------------------------------------------------------------ */

/* Architectural state that survives snapshot/migration: no host pointers. */
/* Sdtrig triggers (trigger.c) and the kinds of access they watch */
#define TRIG_COUNT 4
#define TRIG_EXEC  (1ULL << 2) /* mcontrol6 execute, store, load bits */
#define TRIG_STORE (1ULL << 1)
#define TRIG_LOAD  (1ULL << 0)

struct hart_state {
	uint64_t x[33]; /* x[0] is always 0; x[32] is the write sink for rd=0 */
	uint64_t pc;
	uint64_t f[32];
	enum priv priv;
	uint32_t fflags; /* accumulated exception flags */
	uint32_t frm;

	uint64_t mstatus; /* FS and SD kept inside; sstatus is a view */
	uint64_t medeleg, mideleg;
	uint64_t mie;
	uint64_t mip_sw; /* software-writable part of mip: SSIP, STIP, SEIP */
	uint64_t mtvec, stvec;
	uint64_t mepc, sepc, mcause, scause, mtval, stval;
	uint64_t mscratch, sscratch;
	uint32_t mcounteren, scounteren, mcountinhibit;
	uint64_t menvcfg, senvcfg;
	uint64_t satp;
	uint64_t stimecmp;
	uint64_t mcycle_offset; /* mcycle = instret + offset */
	uint64_t instret;
	uint8_t pmpcfg[PMP_COUNT];
	uint64_t pmpaddr[PMP_COUNT];
	/* Sdtrig (trigger.c) */
	uint64_t tselect;
	uint64_t tdata1[TRIG_COUNT], tdata2[TRIG_COUNT];

	/* LR/SC reservation */
	uint64_t resv_addr; /* physical; ~0 = none */
	uint64_t resv_value;
	bool wfi;
};

struct jit_jc;

struct hart {
	struct hart_state s;

	/* current TLB arrays, selected from the contexts below */
	struct tlb_entry *tlb_load, *tlb_store, *tlb_fetch;

	/* events from other threads: enum hart_request bits, plus
	 * HART_EV_IRQ when an interrupt line changed */
	_Atomic unsigned requests;
	_Atomic uint64_t irq_lines; /* MSIP, MEIP, SEIP driven by devices */
	_Atomic uint64_t mtimecmp;
	_Atomic uint64_t sbi_timecmp;
	_Atomic int parked;
	/* inside hart_run(): may use its TLB (hart_request_done) */
	_Atomic bool in_run;
	/* inside a device model or an SBI call (hart_device_enter) */
	_Atomic bool in_device;

	/* set when something that affects interrupt delivery changed */
	bool irq_check;
	/* some debug trigger watches execution / data accesses */
	bool trig_exec, trig_data;
	bool trig_continue; /* trig_run_block: the instruction went on */
	/* timer bits (MTIP, STIP) as of the last poll */
	uint64_t mip_timer;
	int poll_countdown;
	int64_t budget;
	/* PAUSEs since the last yield (op_fence), and the yields */
	unsigned pause_spins;
	uint64_t pause_yields;
	/* translated code counts down jit_left instead of instret and budget
	 * (one counter); jit_sync credits jit_left0 - jit_left to both */
	int64_t jit_left, jit_left0;
	bool stopped;
	bool ended_block_for_smc; /* a store invalidated the running block */
	uint32_t cur_n;		  /* instructions in the running block, or 0 */
	uint64_t running_block_page;

	/* configuration */
	uint64_t hartid;
	struct gmem *mem;
	const struct vclock *clock;
	bool sbi_builtin;
	void (*sbi_call)(void *opaque, struct hart *h);
	void (*fatal)(void *opaque, struct hart *h, const char *msg);
	void *opaque;
	bool pmp_active; /* some PMP entry is not OFF */
	bool trace;	 /* log every block (--log cpu=trace) */
	bool debug;	 /* log illegal instructions (--log cpu=debug) */
	/* traps taken (hart_trap), for watchdogs on other threads
	 * (hart_progress): written by the hart's thread only */
	uint64_t n_traps;

	struct bcache bc;

	/* the translator (src/cpu/jit), NULL when interpreting */
	struct jit *jit;
	uint32_t jit_gen;      /* bumped by every jit_flush */
	uint32_t jit_hot;      /* runs before a block is translated */
	uint32_t jit_link;     /* exit a translated block took, to be linked */
	struct jit_jc *jit_jc; /* the translator's jump cache */
	bool jit_continue;     /* jit_exec_one: the instruction did not end the
			      block */

	struct tlb_entry tlb_data[TLB_NCTX][2]
				 [TLB_SIZE]; /* [ctx][load/store] */
	struct tlb_entry tlb_code[TLB_NCTX][TLB_SIZE];
};

#define HART_EV_IRQ (1u << 16)
/* Zihintpause's PAUSE: FENCE with predecessor W, successor none. */
#define INSN_PAUSE 0x0100000fu
/* PAUSEs a hart spins through before it yields its host CPU (op_fence):
 * at ~30 ns a turn of Linux's spin loops, a few microseconds. */
#define HART_PAUSE_YIELD 64
/* How many blocks run between timer polls (time is read from the host
 * clock only this often; ~10-50 us of guest execution). */
#define HART_POLL_BLOCKS 1024

/* ---- internal interfaces between the cpu files ---------------------------- */

/* trap.c */
/* Take exception cause with tval at the instruction `in` of the running
 * block; returns 1 (helpers pass it up so their handler returns). */
int hart_exception(struct hart *h, const struct insn *in, uint64_t cause,
		   uint64_t tval);
/* The running block ends after instruction `in` (which retired). */
void hart_end_block_after(struct hart *h, const struct insn *in);
/* Take a trap at pc (used outside blocks: fetch faults). */
void hart_trap(struct hart *h, uint64_t pc, uint64_t cause, uint64_t tval);
/* Highest-priority interrupt that should be taken now, or -1. */
int hart_pending_irq(struct hart *h);
uint64_t hart_mip(struct hart *h);
void hart_poll_timers(struct hart *h);
/* Privilege or mstatus fields that select TLB contexts changed. */
void hart_update_tlb_ctx(struct hart *h);
int hart_illegal(struct hart *h, const struct insn *in);
/* Sentinel ending every block: pc moves past the block. */
void op_block_end(struct hart *h, const struct insn *in);

/* mmu.c */
enum mmu_access { MMU_LOAD = 0, MMU_STORE = 1, MMU_FETCH = 2 };
void tlb_flush_all(struct hart *h);
void tlb_flush_va(struct hart *h, uint64_t va);
/* Drop store-TLB entries that map guest physical page gpa_page. */
void tlb_flush_store_gpa(struct hart *h, uint64_t gpa_page);
/* Translate va for access; returns 0 and *gpa, or the exception cause
 * (> 0) to raise with tval = va. */
int mmu_translate(struct hart *h, uint64_t va, enum mmu_access acc,
		  uint64_t *gpa);
/* Slow paths of loads and stores (any size 1/2/4/8, any alignment).
 * Return 0 or an exception cause (> 0); tval is the faulting va. */
int mmu_load_slow(struct hart *h, uint64_t va, unsigned size, uint64_t *val,
		  uint64_t *tval);
int mmu_store_slow(struct hart *h, uint64_t va, unsigned size, uint64_t val,
		   uint64_t *tval);
/* The translator's TLB miss: fill the load (store false) or store TLB
 * entry of va as the slow path of an aligned access of size bytes would
 * after the access, without doing it; false if the access must take the
 * slow path (fault, MMIO, misaligned, the zero frame for loads, a code
 * page for stores, triggers, a page PMP does not cover whole). A
 * successful walk may set A/D, as the access itself then does. */
bool mmu_jit_fill(struct hart *h, uint64_t va, unsigned size, bool store);
/* Host pointer for an atomic access of size bytes at va (aligned, RAM
 * only), or an exception cause via *cause. */
void *mmu_amo_ptr(struct hart *h, uint64_t va, unsigned size, uint64_t *gpa,
		  int *cause);
/* Same for LR: needs only read permission; causes are load causes. */
void *mmu_lr_ptr(struct hart *h, uint64_t va, unsigned size, uint64_t *gpa,
		 int *cause);
/* PMP check of [pa, pa+size) for priv; true if allowed. */
bool pmp_check(struct hart *h, uint64_t pa, uint64_t size, enum priv priv,
	       enum mmu_access acc);
void pmp_update(struct hart *h);

/* block.c */
int bcache_init(struct bcache *bc, struct gmem *mem);
void bcache_destroy(struct bcache *bc);
void bcache_flush(struct hart *h);
/* Flush and return the arena's pages to the host (an idle hart: the
 * worker's memory overhead, docs/performance.md). Hart thread only. An
 * arena under twice bc.trim_at held little more than the idle guest
 * decodes again between two trims (its timers' code: ~1 MiB for
 * Debian's kernel), so the next trim waits for twice what it held, at
 * most BCACHE_TRIM_MAX: trimming that would only make every wake-up
 * decode and translate it again. */
void bcache_trim(struct hart *h);
/* A park at least this long trims a block cache holding at least
 * bc.trim_at bytes (first BCACHE_TRIM_MIN): the guest went idle, what its
 * boot or its last burst decoded is unlikely to run soon, and an idle VM
 * should not hold tens of MiB of decoded blocks per vCPU. */
#define BCACHE_TRIM_IDLE_NS 200000000ull
#define BCACHE_TRIM_MIN	    (1u << 20)
#define BCACHE_TRIM_MAX	    (4u << 20)
/* FENCE.I: later fetches must see every store made before it (by this
 * hart, another hart, a device or the host). */
void bcache_fence_i(struct hart *h);
/* A store hit page gpa_page that holds code: drop its blocks. */
void bcache_invalidate_page(struct hart *h, uint64_t gpa_page);
static inline bool bcache_is_code_page(const struct bcache *bc, uint64_t gpa)
{
	uint64_t f = (gpa - bc->ram_base) >> GUEST_PAGE_SHIFT;
	return f < bc->n_frames && (bc->code_pages[f / 64] >> (f % 64)) & 1;
}
/* Block at the current pc (translating and decoding as needed), or NULL if
 * fetching raised a trap (already taken). */
struct block *bcache_lookup_slow(struct hart *h);

/* The common case inline: the fetch TLB maps pc and the block that ran
 * last remembers this pc's block, still current. */
static inline struct block *bcache_lookup(struct hart *h)
{
	uint64_t pc = h->s.pc;
	const struct tlb_entry *e = &h->tlb_fetch[(pc >> 12) & (TLB_SIZE - 1)];
	const struct block *prev = h->bc.prev;

	if (likely(prev && e->tag == (pc & ~GUEST_PAGE_MASK))) {
		uint64_t gpa = e->gpa_page | (pc & GUEST_PAGE_MASK);
		for (int i = 0; i < BLOCK_SUCCS; i++) {
			struct block *b = prev->succ[i];
			if (prev->succ_pc[i] == pc) {
				if (likely(b->gpa == gpa &&
					   b->epoch == h->bc.epoch))
					return b;
				break;
			}
		}
	}
	return bcache_lookup_slow(h);
}

/* decode.c */
/* Decode one instruction (16- or 32-bit). Unknown encodings decode to an
 * illegal-instruction handler. Returns true if it ends a block. */
bool decode_insn(uint32_t raw, struct insn *in);

/* trigger.c: Sdtrig debug triggers */
/* Disarm every trigger (hart reset). */
void trig_reset(struct hart *h);
/* tselect, tdata1-3, tinfo; -1 for another CSR. */
int trig_csr_read(struct hart *h, unsigned csr, uint64_t *val);
int trig_csr_write(struct hart *h, unsigned csr, uint64_t val);
/* Does an armed trigger of one of these kinds (TRIG_*) match addr in the
 * current mode? Marks it hit. The caller raises the breakpoint. */
bool trig_fire(struct hart *h, uint64_t kinds, uint64_t addr);
/* Run b one instruction at a time, each after the execute triggers saw
 * its pc (the dispatcher, while h->trig_exec). */
void trig_run_block(struct hart *h, struct block *b);

/* csr.c */
/* Read/write a CSR with privilege checks. Return 0 or -1 (illegal). */
int csr_read(struct hart *h, unsigned csr, uint64_t *val, unsigned idx);
int csr_write(struct hart *h, unsigned csr, uint64_t val);
/* The value csrrs/csrrc modify, given what csr_read returned: the same,
 * except where the spec has a read-modify-write use other bits. */
uint64_t csr_rmw_base(const struct hart *h, unsigned csr, uint64_t read);

/* Registers used by handlers. */
#define X(r) (h->s.x[(r)])

static inline bool hart_fs_off(const struct hart *h)
{
	return (h->s.mstatus & MSTATUS_FS) == 0;
}

static inline void hart_fs_dirty(struct hart *h)
{
	h->s.mstatus |= MSTATUS_FS | MSTATUS_SD;
}

/*
 * Around a device model's callback (MMIO) or an SBI call: the hart may
 * block there on a lock or a thread that in turn waits for this hart's TLB
 * flush (a device thread breaking a shared frame, gmem's TLB sync). While
 * in_device, such a flush counts as done (hart_request_done), and the hart
 * serves it on the way out, before its next guest access. Both sides use
 * sequentially consistent accesses: either the poster sees in_device or
 * the hart sees the request when it leaves.
 */
static inline void hart_device_enter(struct hart *h)
{
	atomic_store(&h->in_device, true);
}

static inline void hart_device_leave(struct hart *h)
{
	atomic_store(&h->in_device, false);
	if (unlikely(atomic_load(&h->requests) & HART_REQ_TLB_FLUSH))
		hart_service_tlb_flush(h);
}

#endif
