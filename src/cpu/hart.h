/*
 * A RISC-V RV64GC hart: the vmkernel's CPU virtualization (trap-and-emulate of
 * a classically virtualizable ISA by an interpreter over decoded blocks).
 *
 * The hart sees memory only through struct gmem and interrupts only as the
 * inputs below; it knows no device. One thread at a time runs a hart
 * (hart_run); that thread "owns" it. Functions marked "any thread" may be
 * called concurrently with hart_run from other threads (devices, other
 * harts, the VM's owner): they touch only atomics and wake the owner.
 */
#ifndef SV_CPU_HART_H
#define SV_CPU_HART_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/vclock.h"

struct gmem;
struct hart;
struct state_reader;
struct state_writer;

/* Privilege levels (encoding of mstatus.MPP). */
enum priv {
	PRIV_U = 0,
	PRIV_S = 1,
	PRIV_M = 3,
};

/* mip/mie bit numbers = interrupt cause codes. */
enum irq_bit {
	IRQ_SSI = 1,
	IRQ_MSI = 3,
	IRQ_STI = 5,
	IRQ_MTI = 7,
	IRQ_SEI = 9,
	IRQ_MEI = 11,
};

/* Ask the hart to do something at its next block boundary (any thread). */
enum hart_request {
	HART_REQ_EXIT = 1u << 0,      /* return from hart_run (HART_RUN_EXIT) */
	HART_REQ_TLB_FLUSH = 1u << 1, /* flush all TLBs (remote sfence.vma) */
	HART_REQ_FENCE_I = 1u << 2,   /* drop decoded blocks (remote fence.i) */
};

enum hart_run_result {
	HART_RUN_BUDGET, /* executed about max_insns instructions */
	HART_RUN_WFI,	 /* WFI with no interrupt pending: park the hart */
	HART_RUN_EXIT,	 /* HART_REQ_EXIT seen, or the hart stopped itself */
};

struct hart_config {
	uint64_t hartid;
	struct gmem *mem;
	const struct vclock *clock;
	/*
	 * Built-in SBI: no M-mode software runs. ECALL from S-mode is a
	 * hypercall handled by sbi_call (which reads and writes a0..a7 via
	 * hart_get_reg/hart_set_reg and returns); the hart then continues after
	 * the ECALL. Traps that would enter M-mode are reported via fatal().
	 * When false, everything is architectural (M-mode firmware or
	 * bare-metal programs).
	 */
	bool sbi_builtin;
	void (*sbi_call)(void *opaque, struct hart *h);
	/* A guest state the hart cannot continue from (e.g. a trap into M-mode
	 * with built-in SBI). msg says what happened. The hart stops: hart_run
	 * returns HART_RUN_EXIT and hart_stopped() is true. */
	void (*fatal)(void *opaque, struct hart *h, const char *msg);
	void *opaque;
	/* Translate hot blocks to host code (src/cpu/jit). Ignored where
	 * the host has no backend or refuses executable memory: the hart
	 * interprets (hart_jit_enabled tells). */
	bool jit;
};

/* Does the hart run translated code (struct hart_config.jit honoured)? */
bool hart_jit_enabled(const struct hart *h);

/* Create a hart in reset state (M-mode, pc = 0). */
struct hart *hart_create(const struct hart_config *cfg, struct error *err);
void hart_destroy(struct hart *h);

/* Architectural reset, then start at pc in privilege priv (owner thread, or
 * while the hart is not running). For priv S with built-in SBI, delegation
 * (medeleg/mideleg) is set as an SBI implementation would. */
void hart_reset(struct hart *h, uint64_t pc, enum priv priv);

/* Run until about max_insns instructions executed, WFI or a request to exit.
 * Owner thread only. */
enum hart_run_result hart_run(struct hart *h, uint64_t max_insns);

/* ---- registers (owner thread, or while stopped) ------------------------ */
uint64_t hart_get_reg(const struct hart *h, unsigned reg); /* x0..x31 */
void hart_set_reg(struct hart *h, unsigned reg, uint64_t val);
uint64_t hart_get_pc(const struct hart *h);
void hart_set_pc(struct hart *h, uint64_t pc);
enum priv hart_get_priv(const struct hart *h);
uint64_t hart_get_id(const struct hart *h);
/* Read a CSR as M-mode would see it; -EINVAL if not implemented. */
int hart_get_csr(struct hart *h, unsigned csr, uint64_t *val);
/* True once the hart stopped itself through fatal(). */
bool hart_stopped(const struct hart *h);
/* Instructions retired (minstret). */
uint64_t hart_instret(const struct hart *h);

/* What a watchdog on another thread may sample while the hart runs (the
 * board's guest-panic detection): each field is one relaxed load of a word
 * the hart's thread writes, so the set is not a consistent snapshot; good
 * for heuristics only. pc is the last block boundary the hart passed. */
struct hart_progress {
	uint64_t traps; /* traps taken so far (interrupts and exceptions) */
	uint64_t instret;
	uint64_t pc;
	enum priv priv;
	bool irqs_off; /* no S-mode interrupt can be taken: sstatus.SIE
			  clear or none enabled in sie */
	bool parked;   /* in WFI or stopped: costs the host nothing */
};
void hart_progress(const struct hart *h, struct hart_progress *p);

/* ---- save and load (docs/vm-state.md) ------------------------------------
 * While the hart is not running (paused at a block boundary, or before its
 * thread starts). Save writes section "hart"/hartid: every register and CSR,
 * FP state, timer compares; the LR reservation is dropped. Load takes the
 * reader's current section (it must be hart/<hartid>), checks every field,
 * and leaves the hart as saved with its TLBs and decoded blocks flushed;
 * -EINVAL / -EPROTONOSUPPORT with err naming the section and the field. */
void hart_state_save(struct hart *h, struct state_writer *w);
int hart_state_load(struct hart *h, struct state_reader *r, struct error *err);

/* ---- inputs (any thread) ----------------------------------------------- */

/* Drive an external interrupt line: IRQ_MSI, IRQ_MEI or IRQ_SEI (the
 * ACLINT MSWI and the PLIC contexts). */
void hart_set_irq(struct hart *h, enum irq_bit irq, bool level);
/* Set mip.SSIP as the SBI IPI extension does. */
void hart_raise_ssip(struct hart *h);
/* The ACLINT MTIMER compare value of this hart; MTIP is pending while
 * time >= mtimecmp. */
void hart_set_mtimecmp(struct hart *h, uint64_t val);
uint64_t hart_get_mtimecmp(const struct hart *h);
/* The SBI TIME extension (built-in SBI): STIP pending while time >= val. */
void hart_set_sbi_timer(struct hart *h, uint64_t val);
/* Post requests (enum hart_request bits) and wake the hart if parked,
 * except for TLB_FLUSH and FENCE_I alone: a parked hart serves those when
 * it wakes for something else, before its next guest access. */
void hart_request(struct hart *h, unsigned reqs);
/* True once none of reqs is still waiting for h, or h is parked or outside
 * hart_run() (waiting for a pCPU, paused): such a hart handles its requests
 * before it runs guest code again. A hart inside a device model or an SBI
 * call (it may wait there for a thread that waits for this answer) counts
 * as done for HART_REQ_TLB_FLUSH alone: it flushes on its way back to
 * guest code. Any thread. */
bool hart_request_done(struct hart *h, unsigned reqs);
/* May h's store TLB map guest frame gpa_page? Read from any thread while
 * h runs (gmem_set_store_probe: code.c has why the answer holds once the
 * frame's code bit is set). */
bool hart_tlb_maps_store(const struct hart *h, uint64_t gpa_page);
/* Handle this hart's own pending TLB_FLUSH/FENCE_I requests now. Owner
 * thread, from inside a callback (sbi_call): lets two harts that wait for
 * each other's fences make progress. */
void hart_service_requests(struct hart *h);
/* Handle a pending TLB_FLUSH request now, even in the middle of an
 * instruction (decoded blocks stay): owner thread, from a callback that
 * waits for other harts' flushes (gmem's TLB sync). */
void hart_service_tlb_flush(struct hart *h);

/* ---- parking (owner thread) -------------------------------------------- */

/* Guest time (ticks) of the earliest timer that could wake this hart, or
 * UINT64_MAX. */
uint64_t hart_next_deadline(const struct hart *h);
/* True if an interrupt is pending and enabled in mie (WFI wake condition,
 * regardless of global enables) or a request is posted. */
bool hart_wake_pending(struct hart *h);
/* Sleep until hart_wake_pending() may be true, the next timer deadline
 * passes, or timeout_ns elapses (UINT64_MAX = no timeout). */
void hart_park(struct hart *h, uint64_t timeout_ns);

/* The ISA string this hart implements, e.g. "rv64imafdc_zicsr_..." (for
 * the device tree's riscv,isa), and the list of extension names for
 * riscv,isa-extensions. */
const char *hart_isa_string(void);
const char *const *hart_isa_extensions(unsigned *count);

#endif
