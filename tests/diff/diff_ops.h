/*
 * Operation codes shared by the differential test's host side (diff_fpu.c)
 * and its riscv64 guest (guest.c), and the binary record formats they
 * exchange over a pipe. Both sides are little-endian 64-bit.
 */
#ifndef SV_TESTS_DIFF_OPS_H
#define SV_TESTS_DIFF_OPS_H

#include <stdint.h>

/* One test case: the guest sets frm = rm, clears fflags and runs `op`. */
struct diff_case {
	uint32_t op;
	uint32_t rm;
	uint64_t a, b, c; /* raw register values (f registers: 64-bit image) */
};

/* The guest's answer: rd (f registers as their 64-bit image) and fflags. */
struct diff_result {
	uint64_t val;
	uint64_t fflags;
};

enum diff_op {
	/* F */
	OP_FADD_S,
	OP_FSUB_S,
	OP_FMUL_S,
	OP_FDIV_S,
	OP_FSQRT_S,
	OP_FMADD_S,
	OP_FMSUB_S,
	OP_FNMSUB_S,
	OP_FNMADD_S,
	OP_FMIN_S,
	OP_FMAX_S,
	OP_FEQ_S,
	OP_FLT_S,
	OP_FLE_S,
	OP_FCLASS_S,
	OP_FSGNJ_S,
	OP_FSGNJN_S,
	OP_FSGNJX_S,
	OP_FCVT_W_S,
	OP_FCVT_WU_S,
	OP_FCVT_L_S,
	OP_FCVT_LU_S,
	OP_FCVT_S_W,
	OP_FCVT_S_WU,
	OP_FCVT_S_L,
	OP_FCVT_S_LU,
	/* D */
	OP_FADD_D,
	OP_FSUB_D,
	OP_FMUL_D,
	OP_FDIV_D,
	OP_FSQRT_D,
	OP_FMADD_D,
	OP_FMSUB_D,
	OP_FNMSUB_D,
	OP_FNMADD_D,
	OP_FMIN_D,
	OP_FMAX_D,
	OP_FEQ_D,
	OP_FLT_D,
	OP_FLE_D,
	OP_FCLASS_D,
	OP_FSGNJ_D,
	OP_FSGNJN_D,
	OP_FSGNJX_D,
	OP_FCVT_W_D,
	OP_FCVT_WU_D,
	OP_FCVT_L_D,
	OP_FCVT_LU_D,
	OP_FCVT_D_W,
	OP_FCVT_D_WU,
	OP_FCVT_D_L,
	OP_FCVT_D_LU,
	OP_FCVT_S_D,
	OP_FCVT_D_S,
	/* M */
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
	/* Zba */
	OP_ADD_UW,
	OP_SH1ADD,
	OP_SH2ADD,
	OP_SH3ADD,
	OP_SH1ADD_UW,
	OP_SH2ADD_UW,
	OP_SH3ADD_UW,
	OP_SLLI_UW,
	/* Zbb */
	OP_ANDN,
	OP_ORN,
	OP_XNOR,
	OP_CLZ,
	OP_CLZW,
	OP_CTZ,
	OP_CTZW,
	OP_CPOP,
	OP_CPOPW,
	OP_MAX,
	OP_MAXU,
	OP_MIN,
	OP_MINU,
	OP_SEXT_B,
	OP_SEXT_H,
	OP_ZEXT_H,
	OP_ROL,
	OP_ROLW,
	OP_ROR,
	OP_RORW,
	OP_RORI,
	OP_RORIW,
	OP_ORC_B,
	OP_REV8,
	/* Zbs */
	OP_BCLR,
	OP_BCLRI,
	OP_BEXT,
	OP_BEXTI,
	OP_BINV,
	OP_BINVI,
	OP_BSET,
	OP_BSETI,
	OP_COUNT
};

#endif
