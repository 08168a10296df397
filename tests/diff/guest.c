/*
 * riscv64 Linux user-mode half of the differential test: reads struct
 * diff_case records on stdin, executes each as the real instruction (under
 * Debian's qemu-riscv64), writes struct diff_result records on stdout.
 * Built with riscv64-linux-gnu-gcc -static; see meson.build.
 *
 * Rounding: the case's rm goes to frm and the instruction uses the dynamic
 * mode. f-register operands are loaded with fmv.d.x (so single-precision
 * cases may carry improperly NaN-boxed values on purpose) and f results are
 * read back with fmv.x.d (so the test also sees the NaN-boxing of results).
 */
#include <stdint.h>
#include <stdio.h>

#include "diff_ops.h"

#define LOAD3 "fmv.d.x ft0, %1\n\tfmv.d.x ft1, %2\n\tfmv.d.x ft3, %3\n\t"

/* f = op(f, f[, f]) */
#define FFF(insn)                                                       \
	__asm__ volatile(LOAD3 insn " ft2, ft0, ft1\n\tfmv.x.d %0, ft2" \
			 : "=r"(r)                                      \
			 : "r"(a), "r"(b), "r"(c)                       \
			 : "ft0", "ft1", "ft2", "ft3")
#define FF(insn)                                                   \
	__asm__ volatile(LOAD3 insn " ft2, ft0\n\tfmv.x.d %0, ft2" \
			 : "=r"(r)                                 \
			 : "r"(a), "r"(b), "r"(c)                  \
			 : "ft0", "ft1", "ft2", "ft3")
#define FFFF(insn)                                                           \
	__asm__ volatile(LOAD3 insn " ft2, ft0, ft1, ft3\n\tfmv.x.d %0, ft2" \
			 : "=r"(r)                                           \
			 : "r"(a), "r"(b), "r"(c)                            \
			 : "ft0", "ft1", "ft2", "ft3")
/* x = op(f, f) and x = op(f) */
#define XFF(insn)                                   \
	__asm__ volatile(LOAD3 insn " %0, ft0, ft1" \
			 : "=r"(r)                  \
			 : "r"(a), "r"(b), "r"(c)   \
			 : "ft0", "ft1", "ft2", "ft3")
#define XF(insn)                                  \
	__asm__ volatile(LOAD3 insn " %0, ft0"    \
			 : "=r"(r)                \
			 : "r"(a), "r"(b), "r"(c) \
			 : "ft0", "ft1", "ft2", "ft3")
/* f = op(x) */
#define FX(insn)                                            \
	__asm__ volatile(insn " ft2, %1\n\tfmv.x.d %0, ft2" \
			 : "=r"(r)                          \
			 : "r"(a)                           \
			 : "ft2")
/* integer */
#define XXX(insn) \
	__asm__ volatile(insn " %0, %1, %2" : "=r"(r) : "r"(a), "r"(b))
#define XX(insn) __asm__ volatile(insn " %0, %1" : "=r"(r) : "r"(a))

/* Immediate forms: one case per shift amount. */
#define IC(insn, n)                                 \
	case (n):                                   \
		__asm__ volatile(insn " %0, %1, %2" \
				 : "=r"(r)          \
				 : "r"(a), "i"(n)); \
		break;
/* clang-format off */
#define IC8(insn, n) \
	IC(insn, (n)) IC(insn, (n) + 1) IC(insn, (n) + 2) IC(insn, (n) + 3) \
	IC(insn, (n) + 4) IC(insn, (n) + 5) IC(insn, (n) + 6) IC(insn, (n) + 7)
/* clang-format on */
#define IC32(insn) IC8(insn, 0) IC8(insn, 8) IC8(insn, 16) IC8(insn, 24)
#define IC64(insn) \
	IC32(insn) IC8(insn, 32) IC8(insn, 40) IC8(insn, 48) IC8(insn, 56)

static uint64_t run_imm(uint32_t op, uint64_t a, uint64_t imm)
{
	uint64_t r = 0;

	switch (op) {
	case OP_SLLI_UW:
		switch (imm & 63) {
			IC64("slli.uw")
		}
		break;
	case OP_RORI:
		switch (imm & 63) {
			IC64("rori")
		}
		break;
	case OP_RORIW:
		switch (imm & 31) {
			IC32("roriw")
		}
		break;
	case OP_BCLRI:
		switch (imm & 63) {
			IC64("bclri")
		}
		break;
	case OP_BEXTI:
		switch (imm & 63) {
			IC64("bexti")
		}
		break;
	case OP_BINVI:
		switch (imm & 63) {
			IC64("binvi")
		}
		break;
	case OP_BSETI:
		switch (imm & 63) {
			IC64("bseti")
		}
		break;
	}
	return r;
}

static void run(const struct diff_case *k, struct diff_result *out)
{
	uint64_t a = k->a, b = k->b, c = k->c, r = 0, fl = 0;

	__asm__ volatile("fsrm %0\n\tfsflags zero" : : "r"((uint64_t)k->rm));
	switch (k->op) {
	case OP_FADD_S: FFF("fadd.s"); break;
	case OP_FSUB_S: FFF("fsub.s"); break;
	case OP_FMUL_S: FFF("fmul.s"); break;
	case OP_FDIV_S: FFF("fdiv.s"); break;
	case OP_FSQRT_S: FF("fsqrt.s"); break;
	case OP_FMADD_S: FFFF("fmadd.s"); break;
	case OP_FMSUB_S: FFFF("fmsub.s"); break;
	case OP_FNMSUB_S: FFFF("fnmsub.s"); break;
	case OP_FNMADD_S: FFFF("fnmadd.s"); break;
	case OP_FMIN_S: FFF("fmin.s"); break;
	case OP_FMAX_S: FFF("fmax.s"); break;
	case OP_FEQ_S: XFF("feq.s"); break;
	case OP_FLT_S: XFF("flt.s"); break;
	case OP_FLE_S: XFF("fle.s"); break;
	case OP_FCLASS_S: XF("fclass.s"); break;
	case OP_FSGNJ_S: FFF("fsgnj.s"); break;
	case OP_FSGNJN_S: FFF("fsgnjn.s"); break;
	case OP_FSGNJX_S: FFF("fsgnjx.s"); break;
	case OP_FCVT_W_S: XF("fcvt.w.s"); break;
	case OP_FCVT_WU_S: XF("fcvt.wu.s"); break;
	case OP_FCVT_L_S: XF("fcvt.l.s"); break;
	case OP_FCVT_LU_S: XF("fcvt.lu.s"); break;
	case OP_FCVT_S_W: FX("fcvt.s.w"); break;
	case OP_FCVT_S_WU: FX("fcvt.s.wu"); break;
	case OP_FCVT_S_L: FX("fcvt.s.l"); break;
	case OP_FCVT_S_LU: FX("fcvt.s.lu"); break;
	case OP_FADD_D: FFF("fadd.d"); break;
	case OP_FSUB_D: FFF("fsub.d"); break;
	case OP_FMUL_D: FFF("fmul.d"); break;
	case OP_FDIV_D: FFF("fdiv.d"); break;
	case OP_FSQRT_D: FF("fsqrt.d"); break;
	case OP_FMADD_D: FFFF("fmadd.d"); break;
	case OP_FMSUB_D: FFFF("fmsub.d"); break;
	case OP_FNMSUB_D: FFFF("fnmsub.d"); break;
	case OP_FNMADD_D: FFFF("fnmadd.d"); break;
	case OP_FMIN_D: FFF("fmin.d"); break;
	case OP_FMAX_D: FFF("fmax.d"); break;
	case OP_FEQ_D: XFF("feq.d"); break;
	case OP_FLT_D: XFF("flt.d"); break;
	case OP_FLE_D: XFF("fle.d"); break;
	case OP_FCLASS_D: XF("fclass.d"); break;
	case OP_FSGNJ_D: FFF("fsgnj.d"); break;
	case OP_FSGNJN_D: FFF("fsgnjn.d"); break;
	case OP_FSGNJX_D: FFF("fsgnjx.d"); break;
	case OP_FCVT_W_D: XF("fcvt.w.d"); break;
	case OP_FCVT_WU_D: XF("fcvt.wu.d"); break;
	case OP_FCVT_L_D: XF("fcvt.l.d"); break;
	case OP_FCVT_LU_D: XF("fcvt.lu.d"); break;
	case OP_FCVT_D_W: FX("fcvt.d.w"); break;
	case OP_FCVT_D_WU: FX("fcvt.d.wu"); break;
	case OP_FCVT_D_L: FX("fcvt.d.l"); break;
	case OP_FCVT_D_LU: FX("fcvt.d.lu"); break;
	case OP_FCVT_S_D: FF("fcvt.s.d"); break;
	case OP_FCVT_D_S: FF("fcvt.d.s"); break;
	case OP_MUL: XXX("mul"); break;
	case OP_MULH: XXX("mulh"); break;
	case OP_MULHSU: XXX("mulhsu"); break;
	case OP_MULHU: XXX("mulhu"); break;
	case OP_DIV: XXX("div"); break;
	case OP_DIVU: XXX("divu"); break;
	case OP_REM: XXX("rem"); break;
	case OP_REMU: XXX("remu"); break;
	case OP_MULW: XXX("mulw"); break;
	case OP_DIVW: XXX("divw"); break;
	case OP_DIVUW: XXX("divuw"); break;
	case OP_REMW: XXX("remw"); break;
	case OP_REMUW: XXX("remuw"); break;
	case OP_ADD_UW: XXX("add.uw"); break;
	case OP_SH1ADD: XXX("sh1add"); break;
	case OP_SH2ADD: XXX("sh2add"); break;
	case OP_SH3ADD: XXX("sh3add"); break;
	case OP_SH1ADD_UW: XXX("sh1add.uw"); break;
	case OP_SH2ADD_UW: XXX("sh2add.uw"); break;
	case OP_SH3ADD_UW: XXX("sh3add.uw"); break;
	case OP_ANDN: XXX("andn"); break;
	case OP_ORN: XXX("orn"); break;
	case OP_XNOR: XXX("xnor"); break;
	case OP_CLZ: XX("clz"); break;
	case OP_CLZW: XX("clzw"); break;
	case OP_CTZ: XX("ctz"); break;
	case OP_CTZW: XX("ctzw"); break;
	case OP_CPOP: XX("cpop"); break;
	case OP_CPOPW: XX("cpopw"); break;
	case OP_MAX: XXX("max"); break;
	case OP_MAXU: XXX("maxu"); break;
	case OP_MIN: XXX("min"); break;
	case OP_MINU: XXX("minu"); break;
	case OP_SEXT_B: XX("sext.b"); break;
	case OP_SEXT_H: XX("sext.h"); break;
	case OP_ZEXT_H: XX("zext.h"); break;
	case OP_ROL: XXX("rol"); break;
	case OP_ROLW: XXX("rolw"); break;
	case OP_ROR: XXX("ror"); break;
	case OP_RORW: XXX("rorw"); break;
	case OP_ORC_B: XX("orc.b"); break;
	case OP_REV8: XX("rev8"); break;
	case OP_BCLR: XXX("bclr"); break;
	case OP_BEXT: XXX("bext"); break;
	case OP_BINV: XXX("binv"); break;
	case OP_BSET: XXX("bset"); break;
	default: r = run_imm(k->op, a, c); break;
	}
	__asm__ volatile("frflags %0" : "=r"(fl));
	out->val = r;
	out->fflags = fl;
}

int main(void)
{
	static struct diff_case in[4096];
	static struct diff_result out[4096];
	size_t n;

	while ((n = fread(in, sizeof(in[0]), 4096, stdin)) > 0) {
		for (size_t i = 0; i < n; i++)
			run(&in[i], &out[i]);
		if (fwrite(out, sizeof(out[0]), n, stdout) != n)
			return 1;
	}
	return ferror(stdin) ? 1 : 0;
}
