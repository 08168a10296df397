/*
 * Save and load a hart's architectural state (docs/vm-state.md, section
 * "hart"). Loading starts from an architectural reset and writes every CSR
 * through the same WARL checks a guest's csrw goes through, so a file can
 * never put the hart in a state the ISA does not allow; values that would
 * be silently changed by WARL (a reserved privilege, an unsupported satp
 * mode) are refused instead, naming the field.
 *
 * Not saved, rebuilt instead: the software TLBs, decoded blocks and
 * translated code (flushed by the reset), and the LR reservation (dropped:
 * an SC after the restore fails, which the ISA allows at any time).
 */
#include <errno.h>
#include <stdatomic.h>

#include "cpu/hart_impl.h"
#include "util/state_io.h"

#define HART_STATE_VERSION 1

void hart_state_save(struct hart *h, struct state_writer *w)
{
	const struct hart_state *s = &h->s;

	state_begin(w, "hart", (uint32_t)h->hartid, HART_STATE_VERSION);
	state_put_u64(w, s->pc);
	state_put_u8(w, (uint8_t)s->priv);
	state_put_u8(w, s->wfi);
	for (unsigned i = 1; i < 32; i++)
		state_put_u64(w, s->x[i]);
	for (unsigned i = 0; i < 32; i++)
		state_put_u64(w, s->f[i]);
	state_put_u32(w, s->fflags);
	state_put_u32(w, s->frm);
	state_put_u64(w, s->mstatus);
	state_put_u64(w, s->medeleg);
	state_put_u64(w, s->mideleg);
	state_put_u64(w, s->mie);
	state_put_u64(w, s->mip_sw);
	state_put_u64(w, s->mtvec);
	state_put_u64(w, s->stvec);
	state_put_u64(w, s->mepc);
	state_put_u64(w, s->sepc);
	state_put_u64(w, s->mcause);
	state_put_u64(w, s->scause);
	state_put_u64(w, s->mtval);
	state_put_u64(w, s->stval);
	state_put_u64(w, s->mscratch);
	state_put_u64(w, s->sscratch);
	state_put_u32(w, s->mcounteren);
	state_put_u32(w, s->scounteren);
	state_put_u32(w, s->mcountinhibit);
	state_put_u64(w, s->menvcfg);
	state_put_u64(w, s->senvcfg);
	state_put_u64(w, s->satp);
	state_put_u64(w, s->stimecmp);
	state_put_u64(w, s->mcycle_offset);
	state_put_u64(w, s->instret);
	state_put_u8(w, PMP_COUNT);
	for (unsigned i = 0; i < PMP_COUNT; i++) {
		state_put_u8(w, s->pmpcfg[i]);
		state_put_u64(w, s->pmpaddr[i]);
	}
	state_put_u8(w, TRIG_COUNT);
	state_put_u64(w, s->tselect);
	for (unsigned i = 0; i < TRIG_COUNT; i++) {
		state_put_u64(w, s->tdata1[i]);
		state_put_u64(w, s->tdata2[i]);
	}
	state_put_u64(w, atomic_load(&h->mtimecmp));
	state_put_u64(w, atomic_load(&h->sbi_timecmp));
}

/* csr_write as M-mode; the load only uses CSRs every hart implements. */
static void csr_put(struct hart *h, unsigned csr, uint64_t val)
{
	(void)csr_write(h, csr, val);
}

int hart_state_load(struct hart *h, struct state_reader *r, struct error *err)
{
	uint64_t x[32], f[32], pmpaddr[PMP_COUNT];
	uint64_t tdata1[TRIG_COUNT], tdata2[TRIG_COUNT];
	uint8_t pmpcfg[PMP_COUNT];

	if (!state_is(r, "hart") || r->instance != h->hartid)
		return state_fail(r, err, EINVAL, "expected hart/%llu",
				  (unsigned long long)h->hartid);
	int rc = state_check_version(r, HART_STATE_VERSION, err);
	if (rc)
		return rc;
	uint64_t pc = state_get_u64(r);
	unsigned priv = state_get_u8(r);
	unsigned wfi = state_get_u8(r);
	x[0] = 0;
	for (unsigned i = 1; i < 32; i++)
		x[i] = state_get_u64(r);
	for (unsigned i = 0; i < 32; i++)
		f[i] = state_get_u64(r);
	uint32_t fflags = state_get_u32(r), frm = state_get_u32(r);
	uint64_t mstatus = state_get_u64(r), medeleg = state_get_u64(r);
	uint64_t mideleg = state_get_u64(r), mie = state_get_u64(r);
	uint64_t mip_sw = state_get_u64(r), mtvec = state_get_u64(r);
	uint64_t stvec = state_get_u64(r), mepc = state_get_u64(r);
	uint64_t sepc = state_get_u64(r), mcause = state_get_u64(r);
	uint64_t scause = state_get_u64(r), mtval = state_get_u64(r);
	uint64_t stval = state_get_u64(r), mscratch = state_get_u64(r);
	uint64_t sscratch = state_get_u64(r);
	uint32_t mcounteren = state_get_u32(r), scounteren = state_get_u32(r);
	uint32_t mcountinhibit = state_get_u32(r);
	uint64_t menvcfg = state_get_u64(r), senvcfg = state_get_u64(r);
	uint64_t satp = state_get_u64(r), stimecmp = state_get_u64(r);
	uint64_t mcycle_offset = state_get_u64(r), instret = state_get_u64(r);
	unsigned n_pmp = state_get_u8(r);
	if (n_pmp != PMP_COUNT && !r->short_read)
		return state_fail(r, err, EINVAL,
				  "%u PMP entries, this hart has %u", n_pmp,
				  PMP_COUNT);
	for (unsigned i = 0; i < PMP_COUNT; i++) {
		pmpcfg[i] = state_get_u8(r);
		pmpaddr[i] = state_get_u64(r);
	}
	unsigned n_trig = state_get_u8(r);
	if (n_trig != TRIG_COUNT && !r->short_read)
		return state_fail(r, err, EINVAL,
				  "%u triggers, this hart has %u", n_trig,
				  TRIG_COUNT);
	uint64_t tselect = state_get_u64(r);
	for (unsigned i = 0; i < TRIG_COUNT; i++) {
		tdata1[i] = state_get_u64(r);
		tdata2[i] = state_get_u64(r);
	}
	uint64_t mtimecmp = state_get_u64(r), sbi_timecmp = state_get_u64(r);
	rc = state_section_done(r, err);
	if (rc)
		return rc;

	/* values WARL would change are a damaged file, not a guest state */
	if (priv != PRIV_U && priv != PRIV_S && priv != PRIV_M)
		return state_fail(r, err, EINVAL, "privilege %u", priv);
	if (wfi > 1)
		return state_fail(r, err, EINVAL, "wfi %u", wfi);
	if (((mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT) == 2)
		return state_fail(r, err, EINVAL, "mstatus.MPP 2 (reserved)");
	unsigned mode = (unsigned)(satp >> SATP_MODE_SHIFT);
	if (mode != SATP_MODE_BARE && mode != SATP_MODE_SV39 &&
	    mode != SATP_MODE_SV48 && mode != SATP_MODE_SV57)
		return state_fail(r, err, EINVAL, "satp mode %u", mode);
	if (tselect >= TRIG_COUNT)
		return state_fail(r, err, EINVAL, "tselect %llu",
				  (unsigned long long)tselect);
	if (fflags > 0x1f || frm > 7)
		return state_fail(r, err, EINVAL, "fcsr fields %u/%u", fflags,
				  frm);

	hart_reset(h, pc, PRIV_M);
	for (unsigned i = 0; i < PMP_COUNT; i++)
		csr_put(h, CSR_PMPADDR0 + i, pmpaddr[i]);
	for (unsigned i = 0; i < PMP_COUNT; i += 8) {
		uint64_t v = 0;
		for (unsigned j = 0; j < 8; j++)
			v |= (uint64_t)pmpcfg[i + j] << (8 * j);
		csr_put(h, CSR_PMPCFG0 + i / 4, v);
	}
	for (unsigned i = 0; i < TRIG_COUNT; i++) {
		csr_put(h, CSR_TSELECT, i);
		csr_put(h, CSR_TDATA1, tdata1[i]);
		csr_put(h, CSR_TDATA2, tdata2[i]);
	}
	csr_put(h, CSR_TSELECT, tselect);
	csr_put(h, CSR_MEDELEG, medeleg);
	csr_put(h, CSR_MIDELEG, mideleg);
	csr_put(h, CSR_MIE, mie);
	csr_put(h, CSR_MTVEC, mtvec);
	csr_put(h, CSR_STVEC, stvec);
	csr_put(h, CSR_MEPC, mepc);
	csr_put(h, CSR_SEPC, sepc);
	csr_put(h, CSR_MCAUSE, mcause);
	csr_put(h, CSR_SCAUSE, scause);
	csr_put(h, CSR_MTVAL, mtval);
	csr_put(h, CSR_STVAL, stval);
	csr_put(h, CSR_MSCRATCH, mscratch);
	csr_put(h, CSR_SSCRATCH, sscratch);
	csr_put(h, CSR_MCOUNTEREN, mcounteren);
	csr_put(h, CSR_SCOUNTEREN, scounteren);
	csr_put(h, CSR_MCOUNTINHIBIT, mcountinhibit);
	csr_put(h, CSR_MENVCFG, menvcfg);
	csr_put(h, CSR_SENVCFG, senvcfg);
	csr_put(h, CSR_SATP, satp);
	csr_put(h, CSR_STIMECMP, stimecmp);
	csr_put(h, CSR_MSTATUS, mstatus);
	/* what a csrw cannot set directly, masked as the ISA masks it */
	h->s.mip_sw = mip_sw & MIP_S_MASK;
	h->s.fflags = fflags;
	h->s.frm = frm;
	for (unsigned i = 1; i < 32; i++)
		h->s.x[i] = x[i];
	for (unsigned i = 0; i < 32; i++)
		h->s.f[i] = f[i];
	h->s.instret = instret;
	h->s.mcycle_offset = mcycle_offset;
	h->s.wfi = wfi;
	h->s.pc = pc;
	atomic_store(&h->mtimecmp, mtimecmp);
	atomic_store(&h->sbi_timecmp, sbi_timecmp);
	h->s.priv = (enum priv)priv;
	hart_update_tlb_ctx(h);
	tlb_flush_all(h);
	h->irq_check = true;
	return 0;
}
