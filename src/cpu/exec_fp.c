/*
 * F and D instructions (unprivileged spec ch. 11-12): operand fetch with
 * NaN-boxing, rounding-mode resolution, fflags accumulation and FS dirty
 * tracking. The arithmetic itself is in fpu.c.
 */
#include "cpu/exec.h"
#include "cpu/fpu.h"

/* FP instructions are illegal while mstatus.FS = Off. An rm of 7 selects
 * frm; rm 5 and 6 (and frm >= 5 when selected) are reserved: illegal. */
static inline bool fp_rm(struct hart *h, const struct insn *in, unsigned *rm)
{
	unsigned r = in->rm == 7 ? h->s.frm : in->rm;
	*rm = r;
	return !hart_fs_off(h) && r <= 4;
}

#define FS(r) fpu_unbox_s(h->s.f[(r)])
#define FD(r) (h->s.f[(r)])

static inline int set_s(struct hart *h, const struct insn *in, uint32_t v,
			unsigned fl)
{
	h->s.f[in->rd] = fpu_box_s(v);
	h->s.fflags |= fl;
	hart_fs_dirty(h);
	return 0;
}

static inline int set_d(struct hart *h, const struct insn *in, uint64_t v,
			unsigned fl)
{
	h->s.f[in->rd] = v;
	h->s.fflags |= fl;
	hart_fs_dirty(h);
	return 0;
}

/* integer destination (compare, classify, convert to integer, move) */
static inline int set_x(struct hart *h, const struct insn *in, uint64_t v,
			unsigned fl)
{
	X(in->rd) = v;
	if (fl) {
		h->s.fflags |= fl;
		hart_fs_dirty(h);
	}
	return 0;
}

void op_fadd_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_add_s(FS(in->rs1), FS(in->rs2), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsub_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_sub_s(FS(in->rs1), FS(in->rs2), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmul_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_mul_s(FS(in->rs1), FS(in->rs2), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fdiv_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_div_s(FS(in->rs1), FS(in->rs2), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsqrt_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_sqrt_s(FS(in->rs1), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmadd_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_madd_s(FS(in->rs1), FS(in->rs2), FS(in->rs3), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmsub_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_msub_s(FS(in->rs1), FS(in->rs2), FS(in->rs3), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fnmsub_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_nmsub_s(FS(in->rs1), FS(in->rs2), FS(in->rs3), rm,
				 &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fnmadd_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_nmadd_s(FS(in->rs1), FS(in->rs2), FS(in->rs3), rm,
				 &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsgnj_s(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_sgnj_s(FS(in->rs1), FS(in->rs2));
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsgnjn_s(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_sgnjn_s(FS(in->rs1), FS(in->rs2));
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsgnjx_s(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_sgnjx_s(FS(in->rs1), FS(in->rs2));
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmin_s(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_min_s(FS(in->rs1), FS(in->rs2), &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmax_s(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_max_s(FS(in->rs1), FS(in->rs2), &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_feq_s(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = (uint64_t)fpu_eq_s(FS(in->rs1), FS(in->rs2), &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_flt_s(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = (uint64_t)fpu_lt_s(FS(in->rs1), FS(in->rs2), &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fle_s(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = (uint64_t)fpu_le_s(FS(in->rs1), FS(in->rs2), &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fclass_s(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_class_s(FS(in->rs1));
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_w_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_w_s(FS(in->rs1), rm, &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_s_w(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_cvt_s_w(X(in->rs1), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_wu_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_wu_s(FS(in->rs1), rm, &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_s_wu(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_cvt_s_wu(X(in->rs1), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_l_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_l_s(FS(in->rs1), rm, &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_s_l(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_cvt_s_l(X(in->rs1), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_lu_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_lu_s(FS(in->rs1), rm, &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_s_lu(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_cvt_s_lu(X(in->rs1), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fadd_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_add_d(FD(in->rs1), FD(in->rs2), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsub_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_sub_d(FD(in->rs1), FD(in->rs2), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmul_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_mul_d(FD(in->rs1), FD(in->rs2), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fdiv_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_div_d(FD(in->rs1), FD(in->rs2), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsqrt_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_sqrt_d(FD(in->rs1), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmadd_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_madd_d(FD(in->rs1), FD(in->rs2), FD(in->rs3), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmsub_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_msub_d(FD(in->rs1), FD(in->rs2), FD(in->rs3), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fnmsub_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_nmsub_d(FD(in->rs1), FD(in->rs2), FD(in->rs3), rm,
				 &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fnmadd_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_nmadd_d(FD(in->rs1), FD(in->rs2), FD(in->rs3), rm,
				 &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsgnj_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_sgnj_d(FD(in->rs1), FD(in->rs2));
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsgnjn_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_sgnjn_d(FD(in->rs1), FD(in->rs2));
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fsgnjx_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_sgnjx_d(FD(in->rs1), FD(in->rs2));
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmin_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_min_d(FD(in->rs1), FD(in->rs2), &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmax_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_max_d(FD(in->rs1), FD(in->rs2), &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_feq_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = (uint64_t)fpu_eq_d(FD(in->rs1), FD(in->rs2), &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_flt_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = (uint64_t)fpu_lt_d(FD(in->rs1), FD(in->rs2), &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fle_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = (uint64_t)fpu_le_d(FD(in->rs1), FD(in->rs2), &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fclass_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_class_d(FD(in->rs1));
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_w_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_w_d(FD(in->rs1), rm, &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_d_w(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_d_w(X(in->rs1), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_wu_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_wu_d(FD(in->rs1), rm, &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_d_wu(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_d_wu(X(in->rs1), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_l_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_l_d(FD(in->rs1), rm, &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_d_l(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_d_l(X(in->rs1), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_lu_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_lu_d(FD(in->rs1), rm, &fl);
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_d_lu(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_d_lu(X(in->rs1), rm, &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_s_d(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = fpu_cvt_s_d(FD(in->rs1), rm, &fl);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fcvt_d_s(struct hart *h, const struct insn *in)
{
	unsigned rm, fl = 0;
	if (!fp_rm(h, in, &rm)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = fpu_cvt_d_s(FS(in->rs1), &fl);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmv_x_w(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = (uint64_t)(int64_t)(int32_t)h->s.f[in->rs1];
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmv_x_d(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = h->s.f[in->rs1];
	set_x(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmv_w_x(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint32_t v = (uint32_t)X(in->rs1);
	set_s(h, in, v, fl);
	NEXT_INSN(h, in);
}

void op_fmv_d_x(struct hart *h, const struct insn *in)
{
	unsigned fl = 0;
	if (hart_fs_off(h)) {
		hart_illegal(h, in);
		return;
	}
	uint64_t v = X(in->rs1);
	set_d(h, in, v, fl);
	NEXT_INSN(h, in);
}
