/*
 * The hart's public API (hart.h): creation, reset, the run loop over decoded
 * blocks, inputs from other threads and parking.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpu/exec.h"
#include "cpu/jit/jit.h"
#include "util/log.h"

/* ---- the ISA this hart implements (must match the device tree) ---------- */

static const char *const isa_extensions[] = {
	"i",	    "m",     "a",   "f",   "d",	  "c",	    "zicntr", "zicsr",
	"zifencei", "zihpm", "zba", "zbb", "zbs", "zicond", "sstc",   "svadu",
};

const char *hart_isa_string(void)
{
	return "rv64imafdc_zicntr_zicsr_zifencei_zihpm_zba_zbb_zbs_zicond_"
	       "sstc_svadu";
}

const char *const *hart_isa_extensions(unsigned *count)
{
	*count = ARRAY_SIZE(isa_extensions);
	return isa_extensions;
}

/* ---- lifetime ------------------------------------------------------------- */

struct hart *hart_create(const struct hart_config *cfg, struct error *err)
{
	struct hart *h = calloc(1, sizeof(*h));
	if (!h) {
		error_set(err, ENOMEM, "hart %llu: out of memory",
			  (unsigned long long)cfg->hartid);
		return NULL;
	}
	h->hartid = cfg->hartid;
	h->mem = cfg->mem;
	h->clock = cfg->clock;
	h->sbi_builtin = cfg->sbi_builtin;
	h->sbi_call = cfg->sbi_call;
	h->fatal = cfg->fatal;
	h->opaque = cfg->opaque;
	h->trace = log_enabled(LOG_LVL_TRACE, "cpu");
	h->debug = log_enabled(LOG_LVL_DEBUG, "cpu");
	if (bcache_init(&h->bc, cfg->mem) < 0) {
		free(h);
		error_set(err, ENOMEM,
			  "hart %llu: no memory for the code cache",
			  (unsigned long long)cfg->hartid);
		return NULL;
	}
	if (cfg->jit && !h->trace) {
		int r = jit_create(h);
		if (r < 0)
			log_warn("cpu",
				 "hart %llu: no binary translator (%s): "
				 "interpreting",
				 (unsigned long long)cfg->hartid, strerror(-r));
	}
	hart_reset(h, 0, PRIV_M);
	return h;
}

bool hart_jit_enabled(const struct hart *h)
{
	return h->jit != NULL;
}

void hart_destroy(struct hart *h)
{
	if (!h)
		return;
	const struct jit_stats *js = jit_stats(h);
	uint8_t pin[32];
	char pinned[32 * 4 + 1] = "";
	for (unsigned k = 0, n = jit_pinned(h, pin); k < n; k++)
		snprintf(pinned + strlen(pinned),
			 sizeof(pinned) - strlen(pinned), " x%u", pin[k]);
	if (js)
		log_debug("cpu",
			  "hart %llu jit: %llu blocks, %llu insns (%llu by "
			  "handler), %llu bytes, %llu ns, %llu flushes, %llu "
			  "entries, %llu links, %llu repins (pinned:%s), %llu "
			  "accesses sharing a lookup",
			  (unsigned long long)h->hartid,
			  (unsigned long long)js->blocks,
			  (unsigned long long)js->insns,
			  (unsigned long long)js->fallbacks,
			  (unsigned long long)js->code_bytes,
			  (unsigned long long)js->ns,
			  (unsigned long long)js->flushes,
			  (unsigned long long)js->entries,
			  (unsigned long long)js->links,
			  (unsigned long long)js->repins, pinned,
			  (unsigned long long)js->run_shared);
	log_debug("cpu",
		  "hart %llu code: %llu fence.i (%llu kept the epoch), %llu "
		  "epoch moves, %llu TLB syncs for first marks (%llu spared by "
		  "the store probe; all harts); "
		  "%llu blocks decoded, %llu arena resets, %llu idle trims, "
		  "%llu pause-loop yields",
		  (unsigned long long)h->hartid,
		  (unsigned long long)h->bc.fence_i,
		  (unsigned long long)h->bc.fence_i_kept,
		  (unsigned long long)h->bc.epoch_moves,
		  (unsigned long long)gmem_code_syncs(h->mem),
		  (unsigned long long)gmem_code_probed(h->mem),
		  (unsigned long long)h->bc.decodes,
		  (unsigned long long)h->bc.arena_resets,
		  (unsigned long long)h->bc.trims,
		  (unsigned long long)h->pause_yields);
	jit_destroy(h);
	bcache_destroy(&h->bc);
	free(h);
}

void hart_reset(struct hart *h, uint64_t pc, enum priv priv)
{
	memset(&h->s, 0, sizeof(h->s));
	h->s.pc = pc;
	h->s.priv = priv;
	h->s.resv_addr = ~0ULL;
	atomic_store(&h->mtimecmp, UINT64_MAX);
	atomic_store(&h->sbi_timecmp, UINT64_MAX);
	h->mip_timer = 0;
	h->stopped = false;
	h->ended_block_for_smc = false;
	trig_reset(h);
	if (h->sbi_builtin) {
		/* What an SBI implementation leaves for its S-mode payload:
		 * every delegable exception and the S interrupts delegated,
		 * counters and Sstc available, FP usable, PMP open. */
		h->s.medeleg = MEDELEG_MASK & ~(1ULL << EXC_ECALL_S);
		h->s.mideleg = MIP_S_MASK;
		h->s.mcounteren = ~0u;
		/* like OpenSBI: U-mode may read cycle, time, instret (the
		 * vDSO's clock_gettime uses rdtime) */
		h->s.scounteren = 7;
		h->s.menvcfg = MENVCFG_STCE;
		h->s.mstatus = (uint64_t)FS_INITIAL << MSTATUS_FS_SHIFT;
		h->s.stimecmp = UINT64_MAX;
		h->s.pmpaddr[0] = ~0ULL >> 10;
		h->s.pmpcfg[0] = PMP_A_NAPOT | PMP_R | PMP_W | PMP_X;
	}
	pmp_update(h);
	tlb_flush_all(h);
	bcache_flush(h);
	hart_update_tlb_ctx(h);
	h->irq_check = true;
}

/* ---- the run loop --------------------------------------------------------- */

static void handle_requests(struct hart *h, unsigned req)
{
	if (req & HART_REQ_TLB_FLUSH)
		tlb_flush_all(h);
	if (req & HART_REQ_FENCE_I)
		bcache_fence_i(h);
	if (req & HART_EV_IRQ) {
		hart_poll_timers(h);
		h->irq_check = true;
	}
}

/* --log cpu=trace: every block with its instructions (slow; debugging). */
static void trace_block(struct hart *h, const struct block *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		const struct insn *in = &b->insn[i];
		log_trace("cpu", "hart %llu %c %#llx: %08x %s",
			  (unsigned long long)h->hartid, "US?M"[h->s.priv],
			  (unsigned long long)(h->s.pc + in->pc_off), in -> raw,
			  decode_name(in->raw));
	}
}

static enum hart_run_result run_blocks(struct hart *h)
{
	for (;;) {
		unsigned req = atomic_load_explicit(&h->requests,
						    memory_order_relaxed);
		if (unlikely(req)) {
			req = atomic_exchange(&h->requests, 0);
			handle_requests(h, req);
			if (req & HART_REQ_EXIT)
				return HART_RUN_EXIT;
		}
		if (unlikely(--h->poll_countdown <= 0)) {
			h->poll_countdown = HART_POLL_BLOCKS;
			hart_poll_timers(h);
		}
		if (unlikely(h->irq_check)) {
			h->irq_check = false;
			int irq = hart_pending_irq(h);
			if (irq >= 0)
				hart_trap(h, h->s.pc,
					  CAUSE_INTERRUPT | (uint64_t)irq, 0);
		}
		if (unlikely(h->stopped))
			return HART_RUN_EXIT;

		struct block *b = bcache_lookup(h);
		if (unlikely(!b))
			continue; /* fetch fault, trap taken */

		if (unlikely(h->trace))
			trace_block(h, b);
		if (unlikely(h->trig_exec)) {
			trig_run_block(h, b); /* each pc checked first */
		} else if (h->jit && jit_block_ready(h, b)) {
			/* runs, maybe chained, until an exit; sets bc.prev */
			jit_run(h, b);
			h->cur_n = 0;
		} else {
			h->jit_link = 0;
			h->running_block_page = b->gpa & ~GUEST_PAGE_MASK;
			h->cur_n = b->n;
			h->s.instret += b->n;
			h->budget -= b->n;
			b->insn[0].fn(h, b->insn);
			h->cur_n = 0;
			h->bc.prev = b->scratch ? NULL : b;
		}

		if (unlikely((h->budget <= 0) | h->s.wfi))
			return h->s.wfi ? HART_RUN_WFI : HART_RUN_BUDGET;
	}
}

/*
 * in_run tells other threads whether this hart may be using its TLB now.
 * Outside hart_run() a request posted to it counts as done
 * (hart_request_done): it is served at the top of the next run, before any
 * guest instruction. The store and the requests load are ordered by a full
 * fence against the poster's fetch_or and load of in_run, so either the
 * poster sees in_run or the run sees the request.
 */
enum hart_run_result hart_run(struct hart *h, uint64_t max_insns)
{
	enum hart_run_result r;

	h->budget = max_insns > INT64_MAX ? INT64_MAX : (int64_t)max_insns;
	h->s.wfi = false;
	atomic_store(&h->in_run, true);
	atomic_thread_fence(memory_order_seq_cst);
	r = run_blocks(h);
	atomic_store_explicit(&h->in_run, false, memory_order_release);
	return r;
}

/* ---- registers ------------------------------------------------------------ */

uint64_t hart_get_reg(const struct hart *h, unsigned reg)
{
	return reg < 32 ? h->s.x[reg] : 0;
}

void hart_set_reg(struct hart *h, unsigned reg, uint64_t val)
{
	if (reg > 0 && reg < 32)
		h->s.x[reg] = val;
}

uint64_t hart_get_pc(const struct hart *h)
{
	return h->s.pc;
}

void hart_set_pc(struct hart *h, uint64_t pc)
{
	h->s.pc = pc;
}

enum priv hart_get_priv(const struct hart *h)
{
	return h->s.priv;
}

uint64_t hart_get_id(const struct hart *h)
{
	return h->hartid;
}

int hart_get_csr(struct hart *h, unsigned csr, uint64_t *val)
{
	enum priv saved = h->s.priv;
	h->s.priv = PRIV_M;
	int r = csr_read(h, csr, val, 0);
	h->s.priv = saved;
	return r ? -EINVAL : 0;
}

bool hart_stopped(const struct hart *h)
{
	return h->stopped;
}

uint64_t hart_instret(const struct hart *h)
{
	return h->s.instret;
}

void hart_progress(const struct hart *h, struct hart_progress *p)
{
	uint64_t mstatus = __atomic_load_n(&h->s.mstatus, __ATOMIC_RELAXED);
	uint64_t mie = __atomic_load_n(&h->s.mie, __ATOMIC_RELAXED);

	p->traps = __atomic_load_n(&h->n_traps, __ATOMIC_RELAXED);
	p->pc = __atomic_load_n(&h->s.pc, __ATOMIC_RELAXED);
	p->instret = __atomic_load_n(&h->s.instret, __ATOMIC_RELAXED);
	p->priv = (enum priv)__atomic_load_n(&h->s.priv, __ATOMIC_RELAXED);
	p->irqs_off = !(mstatus & MSTATUS_SIE) || !(mie & MIP_S_MASK);
	p->parked = atomic_load_explicit(&h->parked, memory_order_relaxed) ||
		    __atomic_load_n(&h->stopped, __ATOMIC_RELAXED);
}

/* ---- inputs from other threads -------------------------------------------- */

static void wake(struct hart *h)
{
	if (atomic_load(&h->parked))
		syscall(SYS_futex, &h->requests, FUTEX_WAKE_PRIVATE, INT_MAX,
			NULL, NULL, 0);
}

/* Requests a parked hart need not wake for: it counts as done
 * (hart_request_done) and serves them before its next guest access. A
 * guest's flush_tlb_all() asks every hart, idle ones included: woken,
 * each would flush, run its idle loop to the next WFI and park again. */
#define HART_REQS_LAZY (HART_REQ_TLB_FLUSH | HART_REQ_FENCE_I)

void hart_request(struct hart *h, unsigned reqs)
{
	atomic_fetch_or(&h->requests, reqs);
	if (reqs & ~HART_REQS_LAZY)
		wake(h);
}

bool hart_request_done(struct hart *h, unsigned reqs)
{
	return !(atomic_load(&h->requests) & reqs) || atomic_load(&h->parked) ||
	       !atomic_load(&h->in_run) || h->stopped ||
	       (reqs == HART_REQ_TLB_FLUSH && atomic_load(&h->in_device));
}

void hart_service_tlb_flush(struct hart *h)
{
	if (atomic_load(&h->requests) & HART_REQ_TLB_FLUSH) {
		atomic_fetch_and(&h->requests, ~(unsigned)HART_REQ_TLB_FLUSH);
		tlb_flush_all(h);
	}
}

void hart_service_requests(struct hart *h)
{
	unsigned mine = atomic_load(&h->requests) & HART_REQS_LAZY;
	if (mine) {
		atomic_fetch_and(&h->requests, ~mine);
		handle_requests(h, mine);
	}
}

void hart_set_irq(struct hart *h, enum irq_bit irq, bool level)
{
	uint64_t bit = 1ULL << irq;
	uint64_t old = level ? atomic_fetch_or(&h->irq_lines, bit)
			     : atomic_fetch_and(&h->irq_lines, ~bit);
	if (((old & bit) != 0) != level)
		hart_request(h, HART_EV_IRQ);
}

void hart_raise_ssip(struct hart *h)
{
	/* SSIP lives in the software part of mip, owned by the hart's
	 * thread: deliver it as a line pulse that the hart folds in. */
	atomic_fetch_or(&h->irq_lines, MIP_SSIP);
	hart_request(h, HART_EV_IRQ);
}

void hart_set_mtimecmp(struct hart *h, uint64_t val)
{
	atomic_store(&h->mtimecmp, val);
	hart_request(h, HART_EV_IRQ);
}

uint64_t hart_get_mtimecmp(const struct hart *h)
{
	return atomic_load(&((struct hart *)h)->mtimecmp);
}

void hart_set_sbi_timer(struct hart *h, uint64_t val)
{
	atomic_store(&h->sbi_timecmp, val);
	hart_request(h, HART_EV_IRQ);
}

/* ---- parking -------------------------------------------------------------- */

uint64_t hart_next_deadline(const struct hart *h)
{
	/* Only a timer whose interrupt is enabled can end a WFI: firmware
	 * often leaves mtimecmp in the past with MTIE clear, which must not
	 * turn every WFI into a busy loop. */
	uint64_t d = UINT64_MAX;
	if (h->s.mie & MIP_MTIP) {
		uint64_t m = atomic_load(&((struct hart *)h)->mtimecmp);
		if (m < d)
			d = m;
	}
	if (h->s.mie & MIP_STIP) {
		uint64_t s = atomic_load(&((struct hart *)h)->sbi_timecmp);
		if (s < d)
			d = s;
		if ((h->s.menvcfg & MENVCFG_STCE) && h->s.stimecmp < d)
			d = h->s.stimecmp;
	}
	return d;
}

bool hart_wake_pending(struct hart *h)
{
	if (atomic_load(&h->requests))
		return true;
	hart_poll_timers(h);
	return (hart_mip(h) & h->s.mie) != 0;
}

void hart_park(struct hart *h, uint64_t timeout_ns)
{
	uint64_t deadline = hart_next_deadline(h);
	uint64_t now_ticks = vclock_now(h->clock);
	uint64_t wait_ns = timeout_ns;

	if (deadline != UINT64_MAX) {
		uint64_t t = deadline > now_ticks ? (deadline - now_ticks) *
							    VCLOCK_NS_PER_TICK
						  : 0;
		if (t < wait_ns)
			wait_ns = t;
	}
	atomic_store(&h->parked, 1);
	/* the lazy requests so far: they do not end the park, and the futex
	 * waits for a requests word of 0 */
	hart_service_requests(h);
	if (!hart_wake_pending(h) && wait_ns > 0) {
		struct timespec ts = {
			.tv_sec = (time_t)(wait_ns / 1000000000ULL),
			.tv_nsec = (long)(wait_ns % 1000000000ULL)
		};
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		syscall(SYS_futex, &h->requests, FUTEX_WAIT_PRIVATE, 0,
			wait_ns == UINT64_MAX ? NULL : &ts, NULL, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		uint64_t slept = (uint64_t)(t1.tv_sec - t0.tv_sec) *
					 1000000000ULL +
				 (uint64_t)(t1.tv_nsec - t0.tv_nsec);
		if (slept >= BCACHE_TRIM_IDLE_NS && h->bc.used >= h->bc.trim_at)
			bcache_trim(h);
	}
	atomic_store(&h->parked, 0);
	h->irq_check = true;
}
