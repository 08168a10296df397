/*
 * Instruction decoder: 32-bit encodings are described as data (mask, match,
 * operand format, handler), bucketed by major opcode at start-up; 16-bit RVC
 * encodings are expanded to their 32-bit equivalents first (unprivileged
 * spec, ch. 16 "C" Standard Extension, tables 16.5-16.7), so each
 * instruction's semantics exist once.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/exec.h"
#include "cpu/hart_impl.h"

enum fmt {
	FMT_N,
	FMT_R,
	FMT_I,
	FMT_S,
	FMT_B,
	FMT_U,
	FMT_J,
	FMT_SH5,
	FMT_SH6,
	FMT_CSR,
	FMT_R4,
	FMT_RF,
	FMT_A
};

enum { PAT_ENDS_BLOCK = 1, PAT_FP_RD = 2 };

struct pattern {
	const char *name;
	uint32_t mask, match;
	enum fmt fmt;
	unsigned flags;
	insn_fn fn;
};

static const struct pattern patterns[] = {
	{ "lui", 0x0000007f, 0x00000037, FMT_U, 0, op_lui },
	{ "auipc", 0x0000007f, 0x00000017, FMT_U, 0, op_auipc },
	{ "jal", 0x0000007f, 0x0000006f, FMT_J, PAT_ENDS_BLOCK, op_jal },
	{ "jalr", 0x0000707f, 0x00000067, FMT_I, PAT_ENDS_BLOCK, op_jalr },
	{ "beq", 0x0000707f, 0x00000063, FMT_B, 0, op_beq },
	{ "bne", 0x0000707f, 0x00001063, FMT_B, 0, op_bne },
	{ "blt", 0x0000707f, 0x00004063, FMT_B, 0, op_blt },
	{ "bge", 0x0000707f, 0x00005063, FMT_B, 0, op_bge },
	{ "bltu", 0x0000707f, 0x00006063, FMT_B, 0, op_bltu },
	{ "bgeu", 0x0000707f, 0x00007063, FMT_B, 0, op_bgeu },
	{ "lb", 0x0000707f, 0x00000003, FMT_I, 0, op_lb },
	{ "lh", 0x0000707f, 0x00001003, FMT_I, 0, op_lh },
	{ "lw", 0x0000707f, 0x00002003, FMT_I, 0, op_lw },
	{ "ld", 0x0000707f, 0x00003003, FMT_I, 0, op_ld },
	{ "lbu", 0x0000707f, 0x00004003, FMT_I, 0, op_lbu },
	{ "lhu", 0x0000707f, 0x00005003, FMT_I, 0, op_lhu },
	{ "lwu", 0x0000707f, 0x00006003, FMT_I, 0, op_lwu },
	{ "sb", 0x0000707f, 0x00000023, FMT_S, 0, op_sb },
	{ "sh", 0x0000707f, 0x00001023, FMT_S, 0, op_sh },
	{ "sw", 0x0000707f, 0x00002023, FMT_S, 0, op_sw },
	{ "sd", 0x0000707f, 0x00003023, FMT_S, 0, op_sd },
	{ "addi", 0x0000707f, 0x00000013, FMT_I, 0, op_addi },
	{ "slti", 0x0000707f, 0x00002013, FMT_I, 0, op_slti },
	{ "sltiu", 0x0000707f, 0x00003013, FMT_I, 0, op_sltiu },
	{ "xori", 0x0000707f, 0x00004013, FMT_I, 0, op_xori },
	{ "ori", 0x0000707f, 0x00006013, FMT_I, 0, op_ori },
	{ "andi", 0x0000707f, 0x00007013, FMT_I, 0, op_andi },
	{ "slli", 0xfc00707f, 0x00001013, FMT_SH6, 0, op_slli },
	{ "srli", 0xfc00707f, 0x00005013, FMT_SH6, 0, op_srli },
	{ "srai", 0xfc00707f, 0x40005013, FMT_SH6, 0, op_srai },
	{ "add", 0xfe00707f, 0x00000033, FMT_R, 0, op_add },
	{ "sub", 0xfe00707f, 0x40000033, FMT_R, 0, op_sub },
	{ "sll", 0xfe00707f, 0x00001033, FMT_R, 0, op_sll },
	{ "slt", 0xfe00707f, 0x00002033, FMT_R, 0, op_slt },
	{ "sltu", 0xfe00707f, 0x00003033, FMT_R, 0, op_sltu },
	{ "xor", 0xfe00707f, 0x00004033, FMT_R, 0, op_xor },
	{ "srl", 0xfe00707f, 0x00005033, FMT_R, 0, op_srl },
	{ "sra", 0xfe00707f, 0x40005033, FMT_R, 0, op_sra },
	{ "or", 0xfe00707f, 0x00006033, FMT_R, 0, op_or },
	{ "and", 0xfe00707f, 0x00007033, FMT_R, 0, op_and },
	{ "addiw", 0x0000707f, 0x0000001b, FMT_I, 0, op_addiw },
	{ "slliw", 0xfe00707f, 0x0000101b, FMT_SH5, 0, op_slliw },
	{ "srliw", 0xfe00707f, 0x0000501b, FMT_SH5, 0, op_srliw },
	{ "sraiw", 0xfe00707f, 0x4000501b, FMT_SH5, 0, op_sraiw },
	{ "addw", 0xfe00707f, 0x0000003b, FMT_R, 0, op_addw },
	{ "subw", 0xfe00707f, 0x4000003b, FMT_R, 0, op_subw },
	{ "sllw", 0xfe00707f, 0x0000103b, FMT_R, 0, op_sllw },
	{ "srlw", 0xfe00707f, 0x0000503b, FMT_R, 0, op_srlw },
	{ "sraw", 0xfe00707f, 0x4000503b, FMT_R, 0, op_sraw },
	{ "fence", 0x0000707f, 0x0000000f, FMT_N, 0, op_fence },
	{ "fence.i", 0x0000707f, 0x0000100f, FMT_N, PAT_ENDS_BLOCK,
	  op_fence_i },
	{ "ecall", 0xffffffff, 0x00000073, FMT_N, PAT_ENDS_BLOCK, op_ecall },
	{ "ebreak", 0xffffffff, 0x00100073, FMT_N, PAT_ENDS_BLOCK, op_ebreak },
	{ "mret", 0xffffffff, 0x30200073, FMT_N, PAT_ENDS_BLOCK, op_mret },
	{ "sret", 0xffffffff, 0x10200073, FMT_N, PAT_ENDS_BLOCK, op_sret },
	{ "wfi", 0xffffffff, 0x10500073, FMT_N, PAT_ENDS_BLOCK, op_wfi },
	{ "sfence.vma", 0xfe007fff, 0x12000073, FMT_R, PAT_ENDS_BLOCK,
	  op_sfence_vma },
	{ "csrrw", 0x0000707f, 0x00001073, FMT_CSR, PAT_ENDS_BLOCK, op_csrrw },
	{ "csrrs", 0x0000707f, 0x00002073, FMT_CSR, PAT_ENDS_BLOCK, op_csrrs },
	{ "csrrc", 0x0000707f, 0x00003073, FMT_CSR, PAT_ENDS_BLOCK, op_csrrc },
	{ "csrrwi", 0x0000707f, 0x00005073, FMT_CSR, PAT_ENDS_BLOCK,
	  op_csrrwi },
	{ "csrrsi", 0x0000707f, 0x00006073, FMT_CSR, PAT_ENDS_BLOCK,
	  op_csrrsi },
	{ "csrrci", 0x0000707f, 0x00007073, FMT_CSR, PAT_ENDS_BLOCK,
	  op_csrrci },
	{ "mul", 0xfe00707f, 0x02000033, FMT_R, 0, op_mul },
	{ "mulh", 0xfe00707f, 0x02001033, FMT_R, 0, op_mulh },
	{ "mulhsu", 0xfe00707f, 0x02002033, FMT_R, 0, op_mulhsu },
	{ "mulhu", 0xfe00707f, 0x02003033, FMT_R, 0, op_mulhu },
	{ "div", 0xfe00707f, 0x02004033, FMT_R, 0, op_div },
	{ "divu", 0xfe00707f, 0x02005033, FMT_R, 0, op_divu },
	{ "rem", 0xfe00707f, 0x02006033, FMT_R, 0, op_rem },
	{ "remu", 0xfe00707f, 0x02007033, FMT_R, 0, op_remu },
	{ "mulw", 0xfe00707f, 0x0200003b, FMT_R, 0, op_mulw },
	{ "divw", 0xfe00707f, 0x0200403b, FMT_R, 0, op_divw },
	{ "divuw", 0xfe00707f, 0x0200503b, FMT_R, 0, op_divuw },
	{ "remw", 0xfe00707f, 0x0200603b, FMT_R, 0, op_remw },
	{ "remuw", 0xfe00707f, 0x0200703b, FMT_R, 0, op_remuw },
	{ "lr.w", 0xf9f0707f, 0x1000202f, FMT_A, 0, op_lr_w },
	{ "sc.w", 0xf800707f, 0x1800202f, FMT_A, 0, op_sc_w },
	{ "amoswap.w", 0xf800707f, 0x0800202f, FMT_A, 0, op_amoswap_w },
	{ "amoadd.w", 0xf800707f, 0x0000202f, FMT_A, 0, op_amoadd_w },
	{ "amoxor.w", 0xf800707f, 0x2000202f, FMT_A, 0, op_amoxor_w },
	{ "amoand.w", 0xf800707f, 0x6000202f, FMT_A, 0, op_amoand_w },
	{ "amoor.w", 0xf800707f, 0x4000202f, FMT_A, 0, op_amoor_w },
	{ "amomin.w", 0xf800707f, 0x8000202f, FMT_A, 0, op_amomin_w },
	{ "amomax.w", 0xf800707f, 0xa000202f, FMT_A, 0, op_amomax_w },
	{ "amominu.w", 0xf800707f, 0xc000202f, FMT_A, 0, op_amominu_w },
	{ "amomaxu.w", 0xf800707f, 0xe000202f, FMT_A, 0, op_amomaxu_w },
	{ "lr.d", 0xf9f0707f, 0x1000302f, FMT_A, 0, op_lr_d },
	{ "sc.d", 0xf800707f, 0x1800302f, FMT_A, 0, op_sc_d },
	{ "amoswap.d", 0xf800707f, 0x0800302f, FMT_A, 0, op_amoswap_d },
	{ "amoadd.d", 0xf800707f, 0x0000302f, FMT_A, 0, op_amoadd_d },
	{ "amoxor.d", 0xf800707f, 0x2000302f, FMT_A, 0, op_amoxor_d },
	{ "amoand.d", 0xf800707f, 0x6000302f, FMT_A, 0, op_amoand_d },
	{ "amoor.d", 0xf800707f, 0x4000302f, FMT_A, 0, op_amoor_d },
	{ "amomin.d", 0xf800707f, 0x8000302f, FMT_A, 0, op_amomin_d },
	{ "amomax.d", 0xf800707f, 0xa000302f, FMT_A, 0, op_amomax_d },
	{ "amominu.d", 0xf800707f, 0xc000302f, FMT_A, 0, op_amominu_d },
	{ "amomaxu.d", 0xf800707f, 0xe000302f, FMT_A, 0, op_amomaxu_d },
	{ "flw", 0x0000707f, 0x00002007, FMT_I, PAT_FP_RD, op_flw },
	{ "fld", 0x0000707f, 0x00003007, FMT_I, PAT_FP_RD, op_fld },
	{ "fsw", 0x0000707f, 0x00002027, FMT_S, 0, op_fsw },
	{ "fsd", 0x0000707f, 0x00003027, FMT_S, 0, op_fsd },
	{ "fmadd.s", 0x0600007f, 0x00000043, FMT_R4, PAT_FP_RD, op_fmadd_s },
	{ "fmsub.s", 0x0600007f, 0x00000047, FMT_R4, PAT_FP_RD, op_fmsub_s },
	{ "fnmsub.s", 0x0600007f, 0x0000004b, FMT_R4, PAT_FP_RD, op_fnmsub_s },
	{ "fnmadd.s", 0x0600007f, 0x0000004f, FMT_R4, PAT_FP_RD, op_fnmadd_s },
	{ "fmadd.d", 0x0600007f, 0x02000043, FMT_R4, PAT_FP_RD, op_fmadd_d },
	{ "fmsub.d", 0x0600007f, 0x02000047, FMT_R4, PAT_FP_RD, op_fmsub_d },
	{ "fnmsub.d", 0x0600007f, 0x0200004b, FMT_R4, PAT_FP_RD, op_fnmsub_d },
	{ "fnmadd.d", 0x0600007f, 0x0200004f, FMT_R4, PAT_FP_RD, op_fnmadd_d },
	{ "fadd.s", 0xfe00007f, 0x00000053, FMT_RF, PAT_FP_RD, op_fadd_s },
	{ "fsub.s", 0xfe00007f, 0x08000053, FMT_RF, PAT_FP_RD, op_fsub_s },
	{ "fmul.s", 0xfe00007f, 0x10000053, FMT_RF, PAT_FP_RD, op_fmul_s },
	{ "fdiv.s", 0xfe00007f, 0x18000053, FMT_RF, PAT_FP_RD, op_fdiv_s },
	{ "fsqrt.s", 0xfff0007f, 0x58000053, FMT_RF, PAT_FP_RD, op_fsqrt_s },
	{ "fsgnj.s", 0xfe00707f, 0x20000053, FMT_R, PAT_FP_RD, op_fsgnj_s },
	{ "fsgnjn.s", 0xfe00707f, 0x20001053, FMT_R, PAT_FP_RD, op_fsgnjn_s },
	{ "fsgnjx.s", 0xfe00707f, 0x20002053, FMT_R, PAT_FP_RD, op_fsgnjx_s },
	{ "fmin.s", 0xfe00707f, 0x28000053, FMT_R, PAT_FP_RD, op_fmin_s },
	{ "fmax.s", 0xfe00707f, 0x28001053, FMT_R, PAT_FP_RD, op_fmax_s },
	{ "fcvt.w.s", 0xfff0007f, 0xc0000053, FMT_RF, 0, op_fcvt_w_s },
	{ "fcvt.wu.s", 0xfff0007f, 0xc0100053, FMT_RF, 0, op_fcvt_wu_s },
	{ "fcvt.l.s", 0xfff0007f, 0xc0200053, FMT_RF, 0, op_fcvt_l_s },
	{ "fcvt.lu.s", 0xfff0007f, 0xc0300053, FMT_RF, 0, op_fcvt_lu_s },
	{ "fmv.x.w", 0xfff0707f, 0xe0000053, FMT_R, 0, op_fmv_x_w },
	{ "fclass.s", 0xfff0707f, 0xe0001053, FMT_R, 0, op_fclass_s },
	{ "feq.s", 0xfe00707f, 0xa0002053, FMT_R, 0, op_feq_s },
	{ "flt.s", 0xfe00707f, 0xa0001053, FMT_R, 0, op_flt_s },
	{ "fle.s", 0xfe00707f, 0xa0000053, FMT_R, 0, op_fle_s },
	{ "fcvt.s.w", 0xfff0007f, 0xd0000053, FMT_RF, PAT_FP_RD, op_fcvt_s_w },
	{ "fcvt.s.wu", 0xfff0007f, 0xd0100053, FMT_RF, PAT_FP_RD,
	  op_fcvt_s_wu },
	{ "fcvt.s.l", 0xfff0007f, 0xd0200053, FMT_RF, PAT_FP_RD, op_fcvt_s_l },
	{ "fcvt.s.lu", 0xfff0007f, 0xd0300053, FMT_RF, PAT_FP_RD,
	  op_fcvt_s_lu },
	{ "fmv.w.x", 0xfff0707f, 0xf0000053, FMT_R, PAT_FP_RD, op_fmv_w_x },
	{ "fadd.d", 0xfe00007f, 0x02000053, FMT_RF, PAT_FP_RD, op_fadd_d },
	{ "fsub.d", 0xfe00007f, 0x0a000053, FMT_RF, PAT_FP_RD, op_fsub_d },
	{ "fmul.d", 0xfe00007f, 0x12000053, FMT_RF, PAT_FP_RD, op_fmul_d },
	{ "fdiv.d", 0xfe00007f, 0x1a000053, FMT_RF, PAT_FP_RD, op_fdiv_d },
	{ "fsqrt.d", 0xfff0007f, 0x5a000053, FMT_RF, PAT_FP_RD, op_fsqrt_d },
	{ "fsgnj.d", 0xfe00707f, 0x22000053, FMT_R, PAT_FP_RD, op_fsgnj_d },
	{ "fsgnjn.d", 0xfe00707f, 0x22001053, FMT_R, PAT_FP_RD, op_fsgnjn_d },
	{ "fsgnjx.d", 0xfe00707f, 0x22002053, FMT_R, PAT_FP_RD, op_fsgnjx_d },
	{ "fmin.d", 0xfe00707f, 0x2a000053, FMT_R, PAT_FP_RD, op_fmin_d },
	{ "fmax.d", 0xfe00707f, 0x2a001053, FMT_R, PAT_FP_RD, op_fmax_d },
	{ "fcvt.s.d", 0xfff0007f, 0x40100053, FMT_RF, PAT_FP_RD, op_fcvt_s_d },
	{ "fcvt.d.s", 0xfff0007f, 0x42000053, FMT_RF, PAT_FP_RD, op_fcvt_d_s },
	{ "feq.d", 0xfe00707f, 0xa2002053, FMT_R, 0, op_feq_d },
	{ "flt.d", 0xfe00707f, 0xa2001053, FMT_R, 0, op_flt_d },
	{ "fle.d", 0xfe00707f, 0xa2000053, FMT_R, 0, op_fle_d },
	{ "fclass.d", 0xfff0707f, 0xe2001053, FMT_R, 0, op_fclass_d },
	{ "fcvt.w.d", 0xfff0007f, 0xc2000053, FMT_RF, 0, op_fcvt_w_d },
	{ "fcvt.wu.d", 0xfff0007f, 0xc2100053, FMT_RF, 0, op_fcvt_wu_d },
	{ "fcvt.l.d", 0xfff0007f, 0xc2200053, FMT_RF, 0, op_fcvt_l_d },
	{ "fcvt.lu.d", 0xfff0007f, 0xc2300053, FMT_RF, 0, op_fcvt_lu_d },
	{ "fcvt.d.w", 0xfff0007f, 0xd2000053, FMT_RF, PAT_FP_RD, op_fcvt_d_w },
	{ "fcvt.d.wu", 0xfff0007f, 0xd2100053, FMT_RF, PAT_FP_RD,
	  op_fcvt_d_wu },
	{ "fcvt.d.l", 0xfff0007f, 0xd2200053, FMT_RF, PAT_FP_RD, op_fcvt_d_l },
	{ "fcvt.d.lu", 0xfff0007f, 0xd2300053, FMT_RF, PAT_FP_RD,
	  op_fcvt_d_lu },
	{ "fmv.x.d", 0xfff0707f, 0xe2000053, FMT_R, 0, op_fmv_x_d },
	{ "fmv.d.x", 0xfff0707f, 0xf2000053, FMT_R, PAT_FP_RD, op_fmv_d_x },
	{ "sh1add", 0xfe00707f, 0x20002033, FMT_R, 0, op_sh1add },
	{ "sh2add", 0xfe00707f, 0x20004033, FMT_R, 0, op_sh2add },
	{ "sh3add", 0xfe00707f, 0x20006033, FMT_R, 0, op_sh3add },
	{ "add.uw", 0xfe00707f, 0x0800003b, FMT_R, 0, op_add_uw },
	{ "sh1add.uw", 0xfe00707f, 0x2000203b, FMT_R, 0, op_sh1add_uw },
	{ "sh2add.uw", 0xfe00707f, 0x2000403b, FMT_R, 0, op_sh2add_uw },
	{ "sh3add.uw", 0xfe00707f, 0x2000603b, FMT_R, 0, op_sh3add_uw },
	{ "slli.uw", 0xfc00707f, 0x0800101b, FMT_SH6, 0, op_slli_uw },
	{ "andn", 0xfe00707f, 0x40007033, FMT_R, 0, op_andn },
	{ "orn", 0xfe00707f, 0x40006033, FMT_R, 0, op_orn },
	{ "xnor", 0xfe00707f, 0x40004033, FMT_R, 0, op_xnor },
	{ "clz", 0xfff0707f, 0x60001013, FMT_R, 0, op_clz },
	{ "ctz", 0xfff0707f, 0x60101013, FMT_R, 0, op_ctz },
	{ "cpop", 0xfff0707f, 0x60201013, FMT_R, 0, op_cpop },
	{ "clzw", 0xfff0707f, 0x6000101b, FMT_R, 0, op_clzw },
	{ "ctzw", 0xfff0707f, 0x6010101b, FMT_R, 0, op_ctzw },
	{ "cpopw", 0xfff0707f, 0x6020101b, FMT_R, 0, op_cpopw },
	{ "max", 0xfe00707f, 0x0a006033, FMT_R, 0, op_max },
	{ "maxu", 0xfe00707f, 0x0a007033, FMT_R, 0, op_maxu },
	{ "min", 0xfe00707f, 0x0a004033, FMT_R, 0, op_min },
	{ "minu", 0xfe00707f, 0x0a005033, FMT_R, 0, op_minu },
	{ "sext.b", 0xfff0707f, 0x60401013, FMT_R, 0, op_sext_b },
	{ "sext.h", 0xfff0707f, 0x60501013, FMT_R, 0, op_sext_h },
	{ "zext.h", 0xfff0707f, 0x0800403b, FMT_R, 0, op_zext_h },
	{ "rol", 0xfe00707f, 0x60001033, FMT_R, 0, op_rol },
	{ "ror", 0xfe00707f, 0x60005033, FMT_R, 0, op_ror },
	{ "rolw", 0xfe00707f, 0x6000103b, FMT_R, 0, op_rolw },
	{ "rorw", 0xfe00707f, 0x6000503b, FMT_R, 0, op_rorw },
	{ "rori", 0xfc00707f, 0x60005013, FMT_SH6, 0, op_rori },
	{ "roriw", 0xfe00707f, 0x6000501b, FMT_SH5, 0, op_roriw },
	{ "orc.b", 0xfff0707f, 0x28705013, FMT_R, 0, op_orc_b },
	{ "rev8", 0xfff0707f, 0x6b805013, FMT_R, 0, op_rev8 },
	{ "bclr", 0xfe00707f, 0x48001033, FMT_R, 0, op_bclr },
	{ "bclri", 0xfc00707f, 0x48001013, FMT_SH6, 0, op_bclri },
	{ "bext", 0xfe00707f, 0x48005033, FMT_R, 0, op_bext },
	{ "bexti", 0xfc00707f, 0x48005013, FMT_SH6, 0, op_bexti },
	{ "binv", 0xfe00707f, 0x68001033, FMT_R, 0, op_binv },
	{ "binvi", 0xfc00707f, 0x68001013, FMT_SH6, 0, op_binvi },
	{ "bset", 0xfe00707f, 0x28001033, FMT_R, 0, op_bset },
	{ "bseti", 0xfc00707f, 0x28001013, FMT_SH6, 0, op_bseti },
	{ "czero.eqz", 0xfe00707f, 0x0e005033, FMT_R, 0, op_czero_eqz },
	{ "czero.nez", 0xfe00707f, 0x0e007033, FMT_R, 0, op_czero_nez },
};

/* Patterns grouped by the 7-bit major opcode; each list ends with -1. */
#define MAX_PER_OPCODE 64
static int16_t by_opcode[128][MAX_PER_OPCODE];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
	int n[128] = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(patterns); i++) {
		/* every pattern fixes the 7 opcode bits */
		unsigned op = patterns[i].match & 0x7f;
		by_opcode[op][n[op]++] = (int16_t)i;
	}
	for (int op = 0; op < 128; op++)
		by_opcode[op][n[op]] = -1;
}

static inline int32_t sext(uint32_t v, unsigned bits)
{
	return (int32_t)(v << (32 - bits)) >> (32 - bits);
}

static inline uint32_t bits(uint32_t v, unsigned hi, unsigned lo)
{
	return (v >> lo) & ((1u << (hi - lo + 1)) - 1);
}

static void operands(const struct pattern *p, uint32_t w, struct insn *in)
{
	in->rd = (uint8_t)bits(w, 11, 7);
	in->rs1 = (uint8_t)bits(w, 19, 15);
	in->rs2 = (uint8_t)bits(w, 24, 20);
	in->rs3 = (uint8_t)bits(w, 31, 27);
	in->rm = (uint8_t)bits(w, 14, 12);
	in->imm = 0;
	switch (p->fmt) {
	case FMT_I: in->imm = sext(w >> 20, 12); break;
	case FMT_S:
		in->imm = sext((bits(w, 31, 25) << 5) | bits(w, 11, 7), 12);
		break;
	case FMT_B:
		in->imm = sext((bits(w, 31, 31) << 12) | (bits(w, 7, 7) << 11) |
				       (bits(w, 30, 25) << 5) |
				       (bits(w, 11, 8) << 1),
			       13);
		break;
	case FMT_U: in->imm = (int32_t)(w & 0xfffff000u); break;
	case FMT_J:
		in->imm = sext((bits(w, 31, 31) << 20) |
				       (bits(w, 19, 12) << 12) |
				       (bits(w, 20, 20) << 11) |
				       (bits(w, 30, 21) << 1),
			       21);
		break;
	case FMT_SH5: in->imm = (int32_t)bits(w, 24, 20); break;
	case FMT_SH6: in->imm = (int32_t)bits(w, 25, 20); break;
	case FMT_CSR: in->imm = (int32_t)bits(w, 31, 20); break;
	case FMT_A: in->rm = (uint8_t)bits(w, 26, 25); break; /* aq, rl */
	case FMT_N:
	case FMT_R:
	case FMT_R4:
	case FMT_RF: break;
	}
}

/* ---- RVC expansion --------------------------------------------------------
 * Builders for the 32-bit forms; register numbers are full 5-bit. */
static uint32_t enc_r(uint32_t op, unsigned rd, unsigned f3, unsigned rs1,
		      unsigned rs2, unsigned f7)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 | f7 << 25;
}

static uint32_t enc_i(uint32_t op, unsigned rd, unsigned f3, unsigned rs1,
		      int32_t imm)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 |
	       ((uint32_t)imm & 0xfff) << 20;
}

static uint32_t enc_s(uint32_t op, unsigned f3, unsigned rs1, unsigned rs2,
		      int32_t imm)
{
	uint32_t u = (uint32_t)imm;
	return op | (u & 0x1f) << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 |
	       ((u >> 5) & 0x7f) << 25;
}

static uint32_t enc_b(unsigned f3, unsigned rs1, unsigned rs2, int32_t imm)
{
	uint32_t u = (uint32_t)imm;
	return 0x63 | ((u >> 11) & 1) << 7 | ((u >> 1) & 0xf) << 8 | f3 << 12 |
	       rs1 << 15 | rs2 << 20 | ((u >> 5) & 0x3f) << 25 |
	       ((u >> 12) & 1) << 31;
}

static uint32_t enc_j(unsigned rd, int32_t imm)
{
	uint32_t u = (uint32_t)imm;
	return 0x6f | rd << 7 | ((u >> 12) & 0xff) << 12 |
	       ((u >> 11) & 1) << 20 | ((u >> 1) & 0x3ff) << 21 |
	       ((u >> 20) & 1) << 31;
}

#define OP_LOAD	    0x03
#define OP_LOAD_FP  0x07
#define OP_IMM	    0x13
#define OP_IMM32    0x1b
#define OP_STORE    0x23
#define OP_STORE_FP 0x27
#define OP_OP	    0x33
#define OP_LUI	    0x37
#define OP_OP32	    0x3b
#define OP_JALR	    0x67

/* Expand a 16-bit instruction; 0 if reserved/illegal (0 is never a valid
 * 32-bit instruction either). */
static uint32_t rvc_expand(uint32_t c)
{
	unsigned f3 = bits(c, 15, 13);
	unsigned rd = bits(c, 11, 7), rs2 = bits(c, 6, 2);
	unsigned rdp = bits(c, 4, 2) + 8, rs1p = bits(c, 9, 7) + 8;
	int32_t imm6 = sext((bits(c, 12, 12) << 5) | bits(c, 6, 2), 6);
	uint32_t u;

	switch (c & 3) {
	case 0:
		switch (f3) {
		case 0: /* c.addi4spn */
			u = (bits(c, 12, 11) << 4) | (bits(c, 10, 7) << 6) |
			    (bits(c, 6, 6) << 2) | (bits(c, 5, 5) << 3);
			return u ? enc_i(OP_IMM, rdp, 0, 2, (int32_t)u) : 0;
		case 1: /* c.fld */
			u = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
			return enc_i(OP_LOAD_FP, rdp, 3, rs1p, (int32_t)u);
		case 2: /* c.lw */
			u = (bits(c, 12, 10) << 3) | (bits(c, 6, 6) << 2) |
			    (bits(c, 5, 5) << 6);
			return enc_i(OP_LOAD, rdp, 2, rs1p, (int32_t)u);
		case 3: /* c.ld */
			u = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
			return enc_i(OP_LOAD, rdp, 3, rs1p, (int32_t)u);
		case 5: /* c.fsd */
			u = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
			return enc_s(OP_STORE_FP, 3, rs1p, rdp, (int32_t)u);
		case 6: /* c.sw */
			u = (bits(c, 12, 10) << 3) | (bits(c, 6, 6) << 2) |
			    (bits(c, 5, 5) << 6);
			return enc_s(OP_STORE, 2, rs1p, rdp, (int32_t)u);
		case 7: /* c.sd */
			u = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
			return enc_s(OP_STORE, 3, rs1p, rdp, (int32_t)u);
		default: return 0;
		}
	case 1:
		switch (f3) {
		case 0: /* c.addi (c.nop, hints) */
			return enc_i(OP_IMM, rd, 0, rd, imm6);
		case 1: /* c.addiw */
			return rd ? enc_i(OP_IMM32, rd, 0, rd, imm6) : 0;
		case 2: /* c.li */ return enc_i(OP_IMM, rd, 0, 0, imm6);
		case 3:
			if (rd == 2) { /* c.addi16sp */
				int32_t v = sext((bits(c, 12, 12) << 9) |
							 (bits(c, 6, 6) << 4) |
							 (bits(c, 5, 5) << 6) |
							 (bits(c, 4, 3) << 7) |
							 (bits(c, 2, 2) << 5),
						 10);
				return v ? enc_i(OP_IMM, 2, 0, 2, v) : 0;
			}
			/* c.lui */
			if (imm6 == 0)
				return 0;
			return OP_LUI | rd << 7 | ((uint32_t)imm6 << 12);
		case 4:
			switch (bits(c, 11, 10)) {
			case 0: /* c.srli */
				u = (bits(c, 12, 12) << 5) | rs2;
				return enc_i(OP_IMM, rs1p, 5, rs1p, (int32_t)u);
			case 1: /* c.srai */
				u = (bits(c, 12, 12) << 5) | rs2;
				return enc_i(OP_IMM, rs1p, 5, rs1p,
					     (int32_t)(u | 0x400));
			case 2: /* c.andi */
				return enc_i(OP_IMM, rs1p, 7, rs1p, imm6);
			default: {
				static const uint8_t f3s[4] = { 0, 4, 6, 7 };
				unsigned k = bits(c, 6, 5);
				if (!bits(c, 12, 12))
					return enc_r(OP_OP, rs1p, f3s[k], rs1p,
						     rdp, k == 0 ? 0x20 : 0);
				if (k == 0) /* c.subw */
					return enc_r(OP_OP32, rs1p, 0, rs1p,
						     rdp, 0x20);
				if (k == 1) /* c.addw */
					return enc_r(OP_OP32, rs1p, 0, rs1p,
						     rdp, 0);
				return 0;
			}
			}
		case 5: /* c.j */
			return enc_j(0, sext((bits(c, 12, 12) << 11) |
						     (bits(c, 11, 11) << 4) |
						     (bits(c, 10, 9) << 8) |
						     (bits(c, 8, 8) << 10) |
						     (bits(c, 7, 7) << 6) |
						     (bits(c, 6, 6) << 7) |
						     (bits(c, 5, 3) << 1) |
						     (bits(c, 2, 2) << 5),
					     12));
		default: { /* c.beqz, c.bnez */
			int32_t off = sext((bits(c, 12, 12) << 8) |
						   (bits(c, 11, 10) << 3) |
						   (bits(c, 6, 5) << 6) |
						   (bits(c, 4, 3) << 1) |
						   (bits(c, 2, 2) << 5),
					   9);
			return enc_b(f3 == 6 ? 0 : 1, rs1p, 0, off);
		}
		}
	case 2:
		switch (f3) {
		case 0: /* c.slli */
			u = (bits(c, 12, 12) << 5) | rs2;
			return enc_i(OP_IMM, rd, 1, rd, (int32_t)u);
		case 1: /* c.fldsp */
			u = (bits(c, 12, 12) << 5) | (bits(c, 6, 5) << 3) |
			    (bits(c, 4, 2) << 6);
			return enc_i(OP_LOAD_FP, rd, 3, 2, (int32_t)u);
		case 2: /* c.lwsp */
			u = (bits(c, 12, 12) << 5) | (bits(c, 6, 4) << 2) |
			    (bits(c, 3, 2) << 6);
			return rd ? enc_i(OP_LOAD, rd, 2, 2, (int32_t)u) : 0;
		case 3: /* c.ldsp */
			u = (bits(c, 12, 12) << 5) | (bits(c, 6, 5) << 3) |
			    (bits(c, 4, 2) << 6);
			return rd ? enc_i(OP_LOAD, rd, 3, 2, (int32_t)u) : 0;
		case 4:
			if (!bits(c, 12, 12)) {
				if (rs2 == 0) /* c.jr */
					return rd ? enc_i(OP_JALR, 0, 0, rd, 0)
						  : 0;
				return enc_r(OP_OP, rd, 0, 0, rs2,
					     0); /* c.mv */
			}
			if (rd == 0 && rs2 == 0)
				return 0x00100073; /* c.ebreak */
			if (rs2 == 0)		   /* c.jalr */
				return enc_i(OP_JALR, 1, 0, rd, 0);
			return enc_r(OP_OP, rd, 0, rd, rs2, 0); /* c.add */
		case 5:						/* c.fsdsp */
			u = (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6);
			return enc_s(OP_STORE_FP, 3, 2, rs2, (int32_t)u);
		case 6: /* c.swsp */
			u = (bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6);
			return enc_s(OP_STORE, 2, 2, rs2, (int32_t)u);
		default: /* c.sdsp */
			u = (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6);
			return enc_s(OP_STORE, 3, 2, rs2, (int32_t)u);
		}
	}
	return 0;
}

static const struct pattern *find_pattern(uint32_t w)
{
	const int16_t *list = by_opcode[w & 0x7f];

	for (; *list >= 0; list++) {
		const struct pattern *p = &patterns[*list];
		if ((w & p->mask) == p->match)
			return p;
	}
	return NULL;
}

bool decode_insn(uint32_t raw, struct insn *in)
{
	uint32_t w = raw;
	const struct pattern *p = NULL;

	pthread_once(&table_once, build_table);
	in->len = (raw & 3) == 3 ? 4 : 2;
	if (in->len == 2) {
		raw &= 0xffff;
		w = rvc_expand(raw);
	}
	in->raw = raw;
	if (w)
		p = find_pattern(w);
	if (!p) {
		in->fn = op_illegal;
		in->rd = in->rs1 = in->rs2 = in->rs3 = 0;
		in->imm = 0;
		in->rm = 0;
		return true;
	}
	operands(p, w, in);
	/* Writes to x0 go to the sink register x[32], so handlers need no
	 * rd != 0 test; FP destinations are real registers f0..f31. */
	if (in->rd == 0 && !(p->flags & PAT_FP_RD))
		in->rd = 32;
	in->fn = p->fn;
	return p->flags & PAT_ENDS_BLOCK;
}

const char *decode_name(uint32_t raw)
{
	uint32_t w = raw;

	pthread_once(&table_once, build_table);
	if ((raw & 3) != 3)
		w = rvc_expand(raw & 0xffff);
	const struct pattern *p = w ? find_pattern(w) : NULL;
	return p ? p->name : "illegal";
}
