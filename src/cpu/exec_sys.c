/*
 * Zicsr instructions (unprivileged spec ch. 9): read-modify-write of a CSR
 * with the rd/rs1 = x0 rules that decide whether the read or the write
 * happens at all. A CSR instruction always ends its block (it may change
 * translation, interrupts or the FP state).
 */
#include "cpu/exec.h"

enum csr_op { CSR_OP_W, CSR_OP_S, CSR_OP_C };

static int csr_insn(struct hart *h, const struct insn *in, enum csr_op op,
		    uint64_t src, bool do_write)
{
	unsigned csr = (unsigned)in->imm;
	uint64_t old = 0;

	if (do_write && (csr >> 10) == 3)
		return hart_illegal(h, in); /* read-only CSR */
	/* csrrw with rd = x0 does not read (no read side effects) */
	bool do_read = !(op == CSR_OP_W && in->rd == 32);
	if (do_read && csr_read(h, csr, &old, in->idx))
		return hart_illegal(h, in);
	if (do_write) {
		uint64_t base = csr_rmw_base(h, csr, old);
		uint64_t nv = op == CSR_OP_W   ? src
			      : op == CSR_OP_S ? base | src
					       : base & ~src;
		if (csr_write(h, csr, nv))
			return hart_illegal(h, in);
	}
	X(in->rd) = old;
	h->s.pc += in->pc_off + in->len;
	return 1;
}

void op_csrrw(struct hart *h, const struct insn *in)
{
	csr_insn(h, in, CSR_OP_W, X(in->rs1), true);
}

void op_csrrs(struct hart *h, const struct insn *in)
{
	csr_insn(h, in, CSR_OP_S, X(in->rs1), in->rs1 != 0);
}

void op_csrrc(struct hart *h, const struct insn *in)
{
	csr_insn(h, in, CSR_OP_C, X(in->rs1), in->rs1 != 0);
}

void op_csrrwi(struct hart *h, const struct insn *in)
{
	csr_insn(h, in, CSR_OP_W, in->rs1, true);
}

void op_csrrsi(struct hart *h, const struct insn *in)
{
	csr_insn(h, in, CSR_OP_S, in->rs1, in->rs1 != 0);
}

void op_csrrci(struct hart *h, const struct insn *in)
{
	csr_insn(h, in, CSR_OP_C, in->rs1, in->rs1 != 0);
}
