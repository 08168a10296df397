/*
 * Control and status registers (priv. spec ch. 2-4; Zicntr; Sstc; the F
 * extension's fcsr). csr_read/csr_write enforce the privilege encoded in
 * the CSR number (2.1) and the counter-enable gates (3.1.11); the caller
 * rejects writes to read-only CSRs.
 */
#include "cpu/exec.h"

#define MSTATUS_WRITABLE                                                       \
	(MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE |             \
	 MSTATUS_SPP | MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | \
	 MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
#define SSTATUS_VIEW                                                          \
	(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_XS | \
	 MSTATUS_SUM | MSTATUS_MXR | MSTATUS_UXL | MSTATUS_SD)
#define SSTATUS_WRITABLE                                                       \
	(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | \
	 MSTATUS_MXR)

/* UXL = SXL = 2 (64-bit), fixed. */
#define MSTATUS_FIXED ((2ULL << 32) | (2ULL << 34))

#define MISA_VALUE                                                      \
	((2ULL << 62) | (1 << ('A' - 'A')) | (1 << ('C' - 'A')) |       \
	 (1 << ('D' - 'A')) | (1 << ('F' - 'A')) | (1 << ('I' - 'A')) | \
	 (1 << ('M' - 'A')) | (1 << ('S' - 'A')) | (1 << ('U' - 'A')))

static uint64_t mstatus_read(const struct hart *h)
{
	uint64_t st = (h->s.mstatus & ~MSTATUS_SD) | MSTATUS_FIXED;
	if ((st & MSTATUS_FS) == MSTATUS_FS)
		st |= MSTATUS_SD;
	return st;
}

static void mstatus_write(struct hart *h, uint64_t val, uint64_t mask)
{
	uint64_t old = h->s.mstatus;
	uint64_t nv = (old & ~mask) | (val & mask);
	/* MPP is WARL over {U, S, M}: the reserved value 2 keeps the old */
	if (((nv & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT) == 2)
		nv = (nv & ~MSTATUS_MPP) | (old & MSTATUS_MPP);
	h->s.mstatus = nv;
	if ((old ^ nv) & MSTATUS_MXR)
		tlb_flush_all(h);
	hart_update_tlb_ctx(h);
	h->irq_check = true;
}

/* Counter gate (3.1.11, 4.1.5): bit of counter csr in mcounteren (and
 * scounteren for U-mode). */
static bool counter_allowed(const struct hart *h, unsigned csr)
{
	unsigned bit = csr & 31;
	if (h->s.priv == PRIV_M)
		return true;
	if (!((h->s.mcounteren >> bit) & 1))
		return false;
	if (h->s.priv == PRIV_U && !((h->s.scounteren >> bit) & 1))
		return false;
	return true;
}

static bool fp_allowed(const struct hart *h)
{
	return (h->s.mstatus & MSTATUS_FS) != 0;
}

static bool stimecmp_allowed(const struct hart *h)
{
	if (h->s.priv == PRIV_M)
		return true;
	return (h->s.menvcfg & MENVCFG_STCE) && (h->s.mcounteren & 2);
}

int csr_read(struct hart *h, unsigned csr, uint64_t *val, unsigned idx)
{
	if (((csr >> 8) & 3) > h->s.priv)
		return -1;

	switch (csr) {
	case CSR_FFLAGS:
		if (!fp_allowed(h))
			return -1;
		*val = h->s.fflags;
		return 0;
	case CSR_FRM:
		if (!fp_allowed(h))
			return -1;
		*val = h->s.frm;
		return 0;
	case CSR_FCSR:
		if (!fp_allowed(h))
			return -1;
		*val = (h->s.frm << 5) | h->s.fflags;
		return 0;
	case CSR_CYCLE:
	case CSR_INSTRET:
		if (!counter_allowed(h, csr))
			return -1;
		*val = h->s.instret - h->cur_n + idx +
		       (csr == CSR_CYCLE ? h->s.mcycle_offset : 0);
		return 0;
	case CSR_TIME:
		if (!counter_allowed(h, csr))
			return -1;
		*val = vclock_now(h->clock);
		return 0;
	case CSR_MCYCLE:
		*val = h->s.instret - h->cur_n + idx + h->s.mcycle_offset;
		return 0;
	case CSR_MINSTRET: *val = h->s.instret - h->cur_n + idx; return 0;

	case CSR_SSTATUS: *val = mstatus_read(h) & SSTATUS_VIEW; return 0;
	case CSR_SIE: *val = h->s.mie & h->s.mideleg; return 0;
	case CSR_STVEC: *val = h->s.stvec; return 0;
	case CSR_SCOUNTEREN: *val = h->s.scounteren; return 0;
	case CSR_SENVCFG: *val = h->s.senvcfg; return 0;
	case CSR_SSCRATCH: *val = h->s.sscratch; return 0;
	case CSR_SEPC: *val = h->s.sepc; return 0;
	case CSR_SCAUSE: *val = h->s.scause; return 0;
	case CSR_STVAL: *val = h->s.stval; return 0;
	case CSR_SIP:
		hart_poll_timers(h);
		*val = hart_mip(h) & h->s.mideleg;
		return 0;
	case CSR_STIMECMP:
		if (!stimecmp_allowed(h))
			return -1;
		*val = h->s.stimecmp;
		return 0;
	case CSR_SATP:
		if (h->s.priv == PRIV_S && (h->s.mstatus & MSTATUS_TVM))
			return -1;
		*val = h->s.satp;
		return 0;

	case CSR_MVENDORID:
	case CSR_MARCHID:
	case CSR_MIMPID:
	case CSR_MCONFIGPTR: *val = 0; return 0;
	case CSR_MHARTID: *val = h->hartid; return 0;
	case CSR_MSTATUS: *val = mstatus_read(h); return 0;
	case CSR_MISA: *val = MISA_VALUE; return 0;
	case CSR_MEDELEG: *val = h->s.medeleg; return 0;
	case CSR_MIDELEG: *val = h->s.mideleg; return 0;
	case CSR_MIE: *val = h->s.mie; return 0;
	case CSR_MTVEC: *val = h->s.mtvec; return 0;
	case CSR_MCOUNTEREN: *val = h->s.mcounteren; return 0;
	case CSR_MENVCFG: *val = h->s.menvcfg; return 0;
	case CSR_MCOUNTINHIBIT: *val = h->s.mcountinhibit; return 0;
	case CSR_MSCRATCH: *val = h->s.mscratch; return 0;
	case CSR_MEPC: *val = h->s.mepc; return 0;
	case CSR_MCAUSE: *val = h->s.mcause; return 0;
	case CSR_MTVAL: *val = h->s.mtval; return 0;
	case CSR_MIP:
		hart_poll_timers(h);
		*val = hart_mip(h);
		return 0;
	}
	if (csr >= CSR_HPMCOUNTER3 && csr <= CSR_HPMCOUNTER31) {
		if (!counter_allowed(h, csr))
			return -1;
		*val = 0;
		return 0;
	}
	if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
	    (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31)) {
		*val = 0;
		return 0;
	}
	if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
		/* RV64: only even pmpcfg registers exist; 0 and 2 hold our
		 * 16 entries, the rest read zero */
		unsigned n = csr - CSR_PMPCFG0;
		if (n & 1)
			return -1;
		uint64_t v = 0;
		if (n < PMP_COUNT / 4)
			for (int i = 0; i < 8; i++)
				v |= (uint64_t)h->s.pmpcfg[n * 4 + i]
				     << (8 * i);
		*val = v;
		return 0;
	}
	if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) {
		unsigned n = csr - CSR_PMPADDR0;
		*val = n < PMP_COUNT ? h->s.pmpaddr[n] : 0;
		return 0;
	}
	if (csr >= CSR_TSELECT && csr <= CSR_TINFO)
		return trig_csr_read(h, csr, val);
	return -1;
}

uint64_t csr_rmw_base(const struct hart *h, unsigned csr, uint64_t read)
{
	/* mip.SEIP reads as the OR of the software bit and the PLIC line,
	 * but csrrs/csrrc write back from the software bit only (3.1.9);
	 * else an external interrupt that is up during M-mode's csrs mip
	 * would stick. */
	if (csr == CSR_MIP)
		return (read & ~MIP_SEIP) | (h->s.mip_sw & MIP_SEIP);
	return read;
}

static bool pmp_locked(const struct hart *h, unsigned i)
{
	return h->s.pmpcfg[i] & PMP_L;
}

static void pmpcfg_write(struct hart *h, unsigned n, uint64_t val)
{
	if (n >= PMP_COUNT / 4)
		return;
	for (int i = 0; i < 8; i++) {
		unsigned e = n * 4 + (unsigned)i;
		uint8_t b = (uint8_t)(val >> (8 * i));
		if (pmp_locked(h, e))
			continue;
		/* R=0 W=1 is reserved: treat as no access (WARL) */
		if ((b & (PMP_R | PMP_W)) == PMP_W)
			b &= (uint8_t) ~(PMP_R | PMP_W);
		h->s.pmpcfg[e] = b & (PMP_R | PMP_W | PMP_X | PMP_A | PMP_L);
	}
	pmp_update(h);
}

static void pmpaddr_write(struct hart *h, unsigned n, uint64_t val)
{
	if (n >= PMP_COUNT || pmp_locked(h, n))
		return;
	/* a locked TOR entry above also locks its base */
	if (n + 1 < PMP_COUNT && pmp_locked(h, n + 1) &&
	    (h->s.pmpcfg[n + 1] & PMP_A) == PMP_A_TOR)
		return;
	h->s.pmpaddr[n] = val & ((1ULL << 54) - 1);
	pmp_update(h);
}

int csr_write(struct hart *h, unsigned csr, uint64_t val)
{
	if (((csr >> 8) & 3) > h->s.priv)
		return -1;

	switch (csr) {
	case CSR_FFLAGS:
		if (!fp_allowed(h))
			return -1;
		h->s.fflags = val & 0x1f;
		hart_fs_dirty(h);
		return 0;
	case CSR_FRM:
		if (!fp_allowed(h))
			return -1;
		h->s.frm = val & 7;
		hart_fs_dirty(h);
		return 0;
	case CSR_FCSR:
		if (!fp_allowed(h))
			return -1;
		h->s.fflags = val & 0x1f;
		h->s.frm = (val >> 5) & 7;
		hart_fs_dirty(h);
		return 0;
	case CSR_MCYCLE: h->s.mcycle_offset = val - h->s.instret; return 0;
	case CSR_MINSTRET:
		/* CSR instructions end their block, so instret already counts
		 * this one: the next instruction sees val */
		h->s.mcycle_offset += h->s.instret - val;
		h->s.instret = val;
		return 0;

	case CSR_SSTATUS: mstatus_write(h, val, SSTATUS_WRITABLE); return 0;
	case CSR_SIE:
		h->s.mie = (h->s.mie & ~h->s.mideleg) | (val & h->s.mideleg);
		h->irq_check = true;
		return 0;
	case CSR_STVEC:
		/* modes 0 (direct) and 1 (vectored); others reserved */
		h->s.stvec = (val & 3) >= 2 ? val & ~3ULL : val;
		return 0;
	case CSR_SCOUNTEREN: h->s.scounteren = (uint32_t)val; return 0;
	case CSR_SENVCFG: h->s.senvcfg = val & MENVCFG_FIOM; return 0;
	case CSR_SSCRATCH: h->s.sscratch = val; return 0;
	case CSR_SEPC: h->s.sepc = val & ~1ULL; return 0;
	case CSR_SCAUSE: h->s.scause = val; return 0;
	case CSR_STVAL: h->s.stval = val; return 0;
	case CSR_SIP:
		/* only SSIP is writable through sip (when delegated) */
		if (h->s.mideleg & MIP_SSIP)
			h->s.mip_sw = (h->s.mip_sw & ~MIP_SSIP) |
				      (val & MIP_SSIP);
		h->irq_check = true;
		return 0;
	case CSR_STIMECMP:
		if (!stimecmp_allowed(h))
			return -1;
		h->s.stimecmp = val;
		hart_poll_timers(h);
		return 0;
	case CSR_SATP: {
		if (h->s.priv == PRIV_S && (h->s.mstatus & MSTATUS_TVM))
			return -1;
		unsigned mode = (unsigned)(val >> SATP_MODE_SHIFT);
		if (mode != SATP_MODE_BARE && mode != SATP_MODE_SV39 &&
		    mode != SATP_MODE_SV48 && mode != SATP_MODE_SV57)
			return 0; /* unsupported mode: the write has no effect */
		h->s.satp = val;
		tlb_flush_all(h);
		return 0;
	}

	case CSR_MSTATUS: mstatus_write(h, val, MSTATUS_WRITABLE); return 0;
	case CSR_MISA: return 0; /* WARL, fixed */
	case CSR_MEDELEG: h->s.medeleg = val & MEDELEG_MASK; return 0;
	case CSR_MIDELEG:
		h->s.mideleg = val & MIP_S_MASK;
		h->irq_check = true;
		return 0;
	case CSR_MIE:
		h->s.mie = val & MIP_ALL;
		h->irq_check = true;
		return 0;
	case CSR_MTVEC:
		h->s.mtvec = (val & 3) >= 2 ? val & ~3ULL : val;
		return 0;
	case CSR_MCOUNTEREN: h->s.mcounteren = (uint32_t)val; return 0;
	case CSR_MENVCFG:
		h->s.menvcfg = val & (MENVCFG_FIOM | MENVCFG_STCE);
		hart_poll_timers(h);
		h->irq_check = true;
		return 0;
	case CSR_MCOUNTINHIBIT:
		h->s.mcountinhibit = (uint32_t)val & ~2u;
		return 0;
	case CSR_MSCRATCH: h->s.mscratch = val; return 0;
	case CSR_MEPC: h->s.mepc = val & ~1ULL; return 0;
	case CSR_MCAUSE: h->s.mcause = val; return 0;
	case CSR_MTVAL: h->s.mtval = val; return 0;
	case CSR_MIP: {
		/* SSIP, SEIP writable; STIP too unless Sstc drives it */
		uint64_t mask = MIP_SSIP | MIP_SEIP;
		if (!(h->s.menvcfg & MENVCFG_STCE))
			mask |= MIP_STIP;
		h->s.mip_sw = (h->s.mip_sw & ~mask) | (val & mask);
		h->irq_check = true;
		return 0;
	}
	}
	if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
	    (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31))
		return 0; /* not implemented: hardwired to zero */
	if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
		unsigned n = csr - CSR_PMPCFG0;
		if (n & 1)
			return -1;
		pmpcfg_write(h, n / 2 * 2, val);
		return 0;
	}
	if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) {
		pmpaddr_write(h, csr - CSR_PMPADDR0, val);
		return 0;
	}
	if (csr >= CSR_TSELECT && csr <= CSR_TINFO)
		return trig_csr_write(h, csr, val);
	return -1;
}
