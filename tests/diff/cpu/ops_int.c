/*
 * Integer instructions under test: M (RV64M incl. the W forms), Zba, Zbb and
 * Zbs, each executed as the real instruction through inline assembly.
 * Immediate forms get one instruction per immediate value (a switch), so
 * every shift amount is covered by its own encoding.
 */
#include <stdint.h>

#include "cpudiff.h"

/* rd = op(rs1, rs2) */
#define OP_RR(id, insn)                                                  \
	static struct cpudiff_res id(uint64_t a, uint64_t b, uint64_t c, \
				     uint64_t rm)                        \
	{                                                                \
		uint64_t r;                                              \
		(void)c;                                                 \
		(void)rm;                                                \
		__asm__ volatile(insn " %0, %1, %2"                      \
				 : "=r"(r)                               \
				 : "r"(a), "r"(b));                      \
		return (struct cpudiff_res){ r, 0 };                     \
	}

/* rd = op(rs1) */
#define OP_R(id, insn)                                                   \
	static struct cpudiff_res id(uint64_t a, uint64_t b, uint64_t c, \
				     uint64_t rm)                        \
	{                                                                \
		uint64_t r;                                              \
		(void)b;                                                 \
		(void)c;                                                 \
		(void)rm;                                                \
		__asm__ volatile(insn " %0, %1" : "=r"(r) : "r"(a));     \
		return (struct cpudiff_res){ r, 0 };                     \
	}

/* clang-format off */
#define IMM1(insn, n) \
	case (n): __asm__ volatile(insn " %0, %1, %2" : "=r"(r) : "r"(a), "i"(n)); break;
#define IMM8(insn, n) \
	IMM1(insn, (n)) IMM1(insn, (n) + 1) IMM1(insn, (n) + 2) \
	IMM1(insn, (n) + 3) IMM1(insn, (n) + 4) IMM1(insn, (n) + 5) \
	IMM1(insn, (n) + 6) IMM1(insn, (n) + 7)
#define IMM32(insn) IMM8(insn, 0) IMM8(insn, 8) IMM8(insn, 16) IMM8(insn, 24)
#define IMM64(insn) IMM32(insn) IMM8(insn, 32) IMM8(insn, 40) \
	IMM8(insn, 48) IMM8(insn, 56)
/* clang-format on */

/* rd = op(rs1, imm), imm = b (0..31 or 0..63) */
#define OP_RI(id, insn, cases)                                           \
	static struct cpudiff_res id(uint64_t a, uint64_t b, uint64_t c, \
				     uint64_t rm)                        \
	{                                                                \
		uint64_t r = 0;                                          \
		(void)c;                                                 \
		(void)rm;                                                \
		switch (b) {                                             \
			cases(insn)                                      \
		}                                                        \
		return (struct cpudiff_res){ r, 0 };                     \
	}

/* M */
OP_RR(op_mul, "mul")
OP_RR(op_mulh, "mulh")
OP_RR(op_mulhsu, "mulhsu")
OP_RR(op_mulhu, "mulhu")
OP_RR(op_div, "div")
OP_RR(op_divu, "divu")
OP_RR(op_rem, "rem")
OP_RR(op_remu, "remu")
OP_RR(op_mulw, "mulw")
OP_RR(op_divw, "divw")
OP_RR(op_divuw, "divuw")
OP_RR(op_remw, "remw")
OP_RR(op_remuw, "remuw")
/* Zba */
OP_RR(op_sh1add, "sh1add")
OP_RR(op_sh2add, "sh2add")
OP_RR(op_sh3add, "sh3add")
OP_RR(op_add_uw, "add.uw")
OP_RR(op_sh1add_uw, "sh1add.uw")
OP_RR(op_sh2add_uw, "sh2add.uw")
OP_RR(op_sh3add_uw, "sh3add.uw")
OP_RI(op_slli_uw, "slli.uw", IMM64)
/* Zbb */
OP_RR(op_andn, "andn")
OP_RR(op_orn, "orn")
OP_RR(op_xnor, "xnor")
OP_R(op_clz, "clz")
OP_R(op_clzw, "clzw")
OP_R(op_ctz, "ctz")
OP_R(op_ctzw, "ctzw")
OP_R(op_cpop, "cpop")
OP_R(op_cpopw, "cpopw")
OP_RR(op_max, "max")
OP_RR(op_maxu, "maxu")
OP_RR(op_min, "min")
OP_RR(op_minu, "minu")
OP_R(op_sext_b, "sext.b")
OP_R(op_sext_h, "sext.h")
OP_R(op_zext_h, "zext.h")
OP_RR(op_rol, "rol")
OP_RR(op_ror, "ror")
OP_RR(op_rolw, "rolw")
OP_RR(op_rorw, "rorw")
OP_RI(op_rori, "rori", IMM64)
OP_RI(op_roriw, "roriw", IMM32)
OP_R(op_orc_b, "orc.b")
OP_R(op_rev8, "rev8")
/* Zbs */
OP_RR(op_bclr, "bclr")
OP_RR(op_bext, "bext")
OP_RR(op_binv, "binv")
OP_RR(op_bset, "bset")
OP_RI(op_bclri, "bclri", IMM64)
OP_RI(op_bexti, "bexti", IMM64)
OP_RI(op_binvi, "binvi", IMM64)
OP_RI(op_bseti, "bseti", IMM64)

#define RR(name, fn)                              \
	{                                         \
		name, { K_X, K_X, K_NONE }, 0, fn \
	}
#define R1(name, fn)                                 \
	{                                            \
		name, { K_X, K_NONE, K_NONE }, 0, fn \
	}
#define RI(name, fn, imm)                         \
	{                                         \
		name, { K_X, imm, K_NONE }, 0, fn \
	}

const struct cpudiff_op cpudiff_int_ops[] = {
	RR("mul", op_mul),
	RR("mulh", op_mulh),
	RR("mulhsu", op_mulhsu),
	RR("mulhu", op_mulhu),
	RR("div", op_div),
	RR("divu", op_divu),
	RR("rem", op_rem),
	RR("remu", op_remu),
	RR("mulw", op_mulw),
	RR("divw", op_divw),
	RR("divuw", op_divuw),
	RR("remw", op_remw),
	RR("remuw", op_remuw),
	RR("sh1add", op_sh1add),
	RR("sh2add", op_sh2add),
	RR("sh3add", op_sh3add),
	RR("add.uw", op_add_uw),
	RR("sh1add.uw", op_sh1add_uw),
	RR("sh2add.uw", op_sh2add_uw),
	RR("sh3add.uw", op_sh3add_uw),
	RI("slli.uw", op_slli_uw, K_IMM6),
	RR("andn", op_andn),
	RR("orn", op_orn),
	RR("xnor", op_xnor),
	R1("clz", op_clz),
	R1("clzw", op_clzw),
	R1("ctz", op_ctz),
	/* QEMU 7.2 bug: ctzw of a value whose low word is zero gives
	 * ctz64(x), not 32; that input class is left out here (Softvisor's
	 * answer is checked by tests/isa/zb.S and the unit tests). */
	{ "ctzw", { K_X, K_NONE, K_NONE }, OPF_LOW_WORD_NONZERO, op_ctzw },
	R1("cpop", op_cpop),
	R1("cpopw", op_cpopw),
	RR("max", op_max),
	RR("maxu", op_maxu),
	RR("min", op_min),
	RR("minu", op_minu),
	R1("sext.b", op_sext_b),
	R1("sext.h", op_sext_h),
	R1("zext.h", op_zext_h),
	RR("rol", op_rol),
	RR("ror", op_ror),
	RR("rolw", op_rolw),
	RR("rorw", op_rorw),
	RI("rori", op_rori, K_IMM6),
	RI("roriw", op_roriw, K_IMM5),
	R1("orc.b", op_orc_b),
	R1("rev8", op_rev8),
	RR("bclr", op_bclr),
	RR("bext", op_bext),
	RR("binv", op_binv),
	RR("bset", op_bset),
	RI("bclri", op_bclri, K_IMM6),
	RI("bexti", op_bexti, K_IMM6),
	RI("binvi", op_binvi, K_IMM6),
	RI("bseti", op_bseti, K_IMM6),
};
const unsigned cpudiff_n_int_ops = sizeof(cpudiff_int_ops) /
				   sizeof(cpudiff_int_ops[0]);
