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
	enum insn_op op;
};

static const struct pattern patterns[] = {
	{ "lui", 0x0000007f, 0x00000037, FMT_U, 0, op_lui, OP_LUI },
	{ "auipc", 0x0000007f, 0x00000017, FMT_U, 0, op_auipc, OP_AUIPC },
	{ "jal", 0x0000007f, 0x0000006f, FMT_J, PAT_ENDS_BLOCK, op_jal,
	  OP_JAL },
	{ "jalr", 0x0000707f, 0x00000067, FMT_I, PAT_ENDS_BLOCK, op_jalr,
	  OP_JALR },
	{ "beq", 0x0000707f, 0x00000063, FMT_B, 0, op_beq, OP_BEQ },
	{ "bne", 0x0000707f, 0x00001063, FMT_B, 0, op_bne, OP_BNE },
	{ "blt", 0x0000707f, 0x00004063, FMT_B, 0, op_blt, OP_BLT },
	{ "bge", 0x0000707f, 0x00005063, FMT_B, 0, op_bge, OP_BGE },
	{ "bltu", 0x0000707f, 0x00006063, FMT_B, 0, op_bltu, OP_BLTU },
	{ "bgeu", 0x0000707f, 0x00007063, FMT_B, 0, op_bgeu, OP_BGEU },
	{ "lb", 0x0000707f, 0x00000003, FMT_I, 0, op_lb, OP_LB },
	{ "lh", 0x0000707f, 0x00001003, FMT_I, 0, op_lh, OP_LH },
	{ "lw", 0x0000707f, 0x00002003, FMT_I, 0, op_lw, OP_LW },
	{ "ld", 0x0000707f, 0x00003003, FMT_I, 0, op_ld, OP_LD },
	{ "lbu", 0x0000707f, 0x00004003, FMT_I, 0, op_lbu, OP_LBU },
	{ "lhu", 0x0000707f, 0x00005003, FMT_I, 0, op_lhu, OP_LHU },
	{ "lwu", 0x0000707f, 0x00006003, FMT_I, 0, op_lwu, OP_LWU },
	{ "sb", 0x0000707f, 0x00000023, FMT_S, 0, op_sb, OP_SB },
	{ "sh", 0x0000707f, 0x00001023, FMT_S, 0, op_sh, OP_SH },
	{ "sw", 0x0000707f, 0x00002023, FMT_S, 0, op_sw, OP_SW },
	{ "sd", 0x0000707f, 0x00003023, FMT_S, 0, op_sd, OP_SD },
	{ "addi", 0x0000707f, 0x00000013, FMT_I, 0, op_addi, OP_ADDI },
	{ "slti", 0x0000707f, 0x00002013, FMT_I, 0, op_slti, OP_SLTI },
	{ "sltiu", 0x0000707f, 0x00003013, FMT_I, 0, op_sltiu, OP_SLTIU },
	{ "xori", 0x0000707f, 0x00004013, FMT_I, 0, op_xori, OP_XORI },
	{ "ori", 0x0000707f, 0x00006013, FMT_I, 0, op_ori, OP_ORI },
	{ "andi", 0x0000707f, 0x00007013, FMT_I, 0, op_andi, OP_ANDI },
	{ "slli", 0xfc00707f, 0x00001013, FMT_SH6, 0, op_slli, OP_SLLI },
	{ "srli", 0xfc00707f, 0x00005013, FMT_SH6, 0, op_srli, OP_SRLI },
	{ "srai", 0xfc00707f, 0x40005013, FMT_SH6, 0, op_srai, OP_SRAI },
	{ "add", 0xfe00707f, 0x00000033, FMT_R, 0, op_add, OP_ADD },
	{ "sub", 0xfe00707f, 0x40000033, FMT_R, 0, op_sub, OP_SUB },
	{ "sll", 0xfe00707f, 0x00001033, FMT_R, 0, op_sll, OP_SLL },
	{ "slt", 0xfe00707f, 0x00002033, FMT_R, 0, op_slt, OP_SLT },
	{ "sltu", 0xfe00707f, 0x00003033, FMT_R, 0, op_sltu, OP_SLTU },
	{ "xor", 0xfe00707f, 0x00004033, FMT_R, 0, op_xor, OP_XOR },
	{ "srl", 0xfe00707f, 0x00005033, FMT_R, 0, op_srl, OP_SRL },
	{ "sra", 0xfe00707f, 0x40005033, FMT_R, 0, op_sra, OP_SRA },
	{ "or", 0xfe00707f, 0x00006033, FMT_R, 0, op_or, OP_OR },
	{ "and", 0xfe00707f, 0x00007033, FMT_R, 0, op_and, OP_AND },
	{ "addiw", 0x0000707f, 0x0000001b, FMT_I, 0, op_addiw, OP_ADDIW },
	{ "slliw", 0xfe00707f, 0x0000101b, FMT_SH5, 0, op_slliw, OP_SLLIW },
	{ "srliw", 0xfe00707f, 0x0000501b, FMT_SH5, 0, op_srliw, OP_SRLIW },
	{ "sraiw", 0xfe00707f, 0x4000501b, FMT_SH5, 0, op_sraiw, OP_SRAIW },
	{ "addw", 0xfe00707f, 0x0000003b, FMT_R, 0, op_addw, OP_ADDW },
	{ "subw", 0xfe00707f, 0x4000003b, FMT_R, 0, op_subw, OP_SUBW },
	{ "sllw", 0xfe00707f, 0x0000103b, FMT_R, 0, op_sllw, OP_SLLW },
	{ "srlw", 0xfe00707f, 0x0000503b, FMT_R, 0, op_srlw, OP_SRLW },
	{ "sraw", 0xfe00707f, 0x4000503b, FMT_R, 0, op_sraw, OP_SRAW },
	{ "fence", 0x0000707f, 0x0000000f, FMT_N, 0, op_fence, OP_FENCE },
	{ "fence.i", 0x0000707f, 0x0000100f, FMT_N, PAT_ENDS_BLOCK, op_fence_i,
	  OP_FENCE_I },
	{ "ecall", 0xffffffff, 0x00000073, FMT_N, PAT_ENDS_BLOCK, op_ecall,
	  OP_ECALL },
	{ "ebreak", 0xffffffff, 0x00100073, FMT_N, PAT_ENDS_BLOCK, op_ebreak,
	  OP_EBREAK },
	{ "mret", 0xffffffff, 0x30200073, FMT_N, PAT_ENDS_BLOCK, op_mret,
	  OP_MRET },
	{ "sret", 0xffffffff, 0x10200073, FMT_N, PAT_ENDS_BLOCK, op_sret,
	  OP_SRET },
	{ "wfi", 0xffffffff, 0x10500073, FMT_N, PAT_ENDS_BLOCK, op_wfi,
	  OP_WFI },
	{ "sfence.vma", 0xfe007fff, 0x12000073, FMT_R, PAT_ENDS_BLOCK,
	  op_sfence_vma, OP_SFENCE_VMA },
	{ "csrrw", 0x0000707f, 0x00001073, FMT_CSR, PAT_ENDS_BLOCK, op_csrrw,
	  OP_CSRRW },
	{ "csrrs", 0x0000707f, 0x00002073, FMT_CSR, PAT_ENDS_BLOCK, op_csrrs,
	  OP_CSRRS },
	{ "csrrc", 0x0000707f, 0x00003073, FMT_CSR, PAT_ENDS_BLOCK, op_csrrc,
	  OP_CSRRC },
	{ "csrrwi", 0x0000707f, 0x00005073, FMT_CSR, PAT_ENDS_BLOCK, op_csrrwi,
	  OP_CSRRWI },
	{ "csrrsi", 0x0000707f, 0x00006073, FMT_CSR, PAT_ENDS_BLOCK, op_csrrsi,
	  OP_CSRRSI },
	{ "csrrci", 0x0000707f, 0x00007073, FMT_CSR, PAT_ENDS_BLOCK, op_csrrci,
	  OP_CSRRCI },
	{ "mul", 0xfe00707f, 0x02000033, FMT_R, 0, op_mul, OP_MUL },
	{ "mulh", 0xfe00707f, 0x02001033, FMT_R, 0, op_mulh, OP_MULH },
	{ "mulhsu", 0xfe00707f, 0x02002033, FMT_R, 0, op_mulhsu, OP_MULHSU },
	{ "mulhu", 0xfe00707f, 0x02003033, FMT_R, 0, op_mulhu, OP_MULHU },
	{ "div", 0xfe00707f, 0x02004033, FMT_R, 0, op_div, OP_DIV },
	{ "divu", 0xfe00707f, 0x02005033, FMT_R, 0, op_divu, OP_DIVU },
	{ "rem", 0xfe00707f, 0x02006033, FMT_R, 0, op_rem, OP_REM },
	{ "remu", 0xfe00707f, 0x02007033, FMT_R, 0, op_remu, OP_REMU },
	{ "mulw", 0xfe00707f, 0x0200003b, FMT_R, 0, op_mulw, OP_MULW },
	{ "divw", 0xfe00707f, 0x0200403b, FMT_R, 0, op_divw, OP_DIVW },
	{ "divuw", 0xfe00707f, 0x0200503b, FMT_R, 0, op_divuw, OP_DIVUW },
	{ "remw", 0xfe00707f, 0x0200603b, FMT_R, 0, op_remw, OP_REMW },
	{ "remuw", 0xfe00707f, 0x0200703b, FMT_R, 0, op_remuw, OP_REMUW },
	{ "lr.w", 0xf9f0707f, 0x1000202f, FMT_A, 0, op_lr_w, OP_LR_W },
	{ "sc.w", 0xf800707f, 0x1800202f, FMT_A, 0, op_sc_w, OP_SC_W },
	{ "amoswap.w", 0xf800707f, 0x0800202f, FMT_A, 0, op_amoswap_w,
	  OP_AMOSWAP_W },
	{ "amoadd.w", 0xf800707f, 0x0000202f, FMT_A, 0, op_amoadd_w,
	  OP_AMOADD_W },
	{ "amoxor.w", 0xf800707f, 0x2000202f, FMT_A, 0, op_amoxor_w,
	  OP_AMOXOR_W },
	{ "amoand.w", 0xf800707f, 0x6000202f, FMT_A, 0, op_amoand_w,
	  OP_AMOAND_W },
	{ "amoor.w", 0xf800707f, 0x4000202f, FMT_A, 0, op_amoor_w, OP_AMOOR_W },
	{ "amomin.w", 0xf800707f, 0x8000202f, FMT_A, 0, op_amomin_w,
	  OP_AMOMIN_W },
	{ "amomax.w", 0xf800707f, 0xa000202f, FMT_A, 0, op_amomax_w,
	  OP_AMOMAX_W },
	{ "amominu.w", 0xf800707f, 0xc000202f, FMT_A, 0, op_amominu_w,
	  OP_AMOMINU_W },
	{ "amomaxu.w", 0xf800707f, 0xe000202f, FMT_A, 0, op_amomaxu_w,
	  OP_AMOMAXU_W },
	{ "lr.d", 0xf9f0707f, 0x1000302f, FMT_A, 0, op_lr_d, OP_LR_D },
	{ "sc.d", 0xf800707f, 0x1800302f, FMT_A, 0, op_sc_d, OP_SC_D },
	{ "amoswap.d", 0xf800707f, 0x0800302f, FMT_A, 0, op_amoswap_d,
	  OP_AMOSWAP_D },
	{ "amoadd.d", 0xf800707f, 0x0000302f, FMT_A, 0, op_amoadd_d,
	  OP_AMOADD_D },
	{ "amoxor.d", 0xf800707f, 0x2000302f, FMT_A, 0, op_amoxor_d,
	  OP_AMOXOR_D },
	{ "amoand.d", 0xf800707f, 0x6000302f, FMT_A, 0, op_amoand_d,
	  OP_AMOAND_D },
	{ "amoor.d", 0xf800707f, 0x4000302f, FMT_A, 0, op_amoor_d, OP_AMOOR_D },
	{ "amomin.d", 0xf800707f, 0x8000302f, FMT_A, 0, op_amomin_d,
	  OP_AMOMIN_D },
	{ "amomax.d", 0xf800707f, 0xa000302f, FMT_A, 0, op_amomax_d,
	  OP_AMOMAX_D },
	{ "amominu.d", 0xf800707f, 0xc000302f, FMT_A, 0, op_amominu_d,
	  OP_AMOMINU_D },
	{ "amomaxu.d", 0xf800707f, 0xe000302f, FMT_A, 0, op_amomaxu_d,
	  OP_AMOMAXU_D },
	{ "flw", 0x0000707f, 0x00002007, FMT_I, PAT_FP_RD, op_flw, OP_FLW },
	{ "fld", 0x0000707f, 0x00003007, FMT_I, PAT_FP_RD, op_fld, OP_FLD },
	{ "fsw", 0x0000707f, 0x00002027, FMT_S, 0, op_fsw, OP_FSW },
	{ "fsd", 0x0000707f, 0x00003027, FMT_S, 0, op_fsd, OP_FSD },
	{ "fmadd.s", 0x0600007f, 0x00000043, FMT_R4, PAT_FP_RD, op_fmadd_s,
	  OP_FMADD_S },
	{ "fmsub.s", 0x0600007f, 0x00000047, FMT_R4, PAT_FP_RD, op_fmsub_s,
	  OP_FMSUB_S },
	{ "fnmsub.s", 0x0600007f, 0x0000004b, FMT_R4, PAT_FP_RD, op_fnmsub_s,
	  OP_FNMSUB_S },
	{ "fnmadd.s", 0x0600007f, 0x0000004f, FMT_R4, PAT_FP_RD, op_fnmadd_s,
	  OP_FNMADD_S },
	{ "fmadd.d", 0x0600007f, 0x02000043, FMT_R4, PAT_FP_RD, op_fmadd_d,
	  OP_FMADD_D },
	{ "fmsub.d", 0x0600007f, 0x02000047, FMT_R4, PAT_FP_RD, op_fmsub_d,
	  OP_FMSUB_D },
	{ "fnmsub.d", 0x0600007f, 0x0200004b, FMT_R4, PAT_FP_RD, op_fnmsub_d,
	  OP_FNMSUB_D },
	{ "fnmadd.d", 0x0600007f, 0x0200004f, FMT_R4, PAT_FP_RD, op_fnmadd_d,
	  OP_FNMADD_D },
	{ "fadd.s", 0xfe00007f, 0x00000053, FMT_RF, PAT_FP_RD, op_fadd_s,
	  OP_FADD_S },
	{ "fsub.s", 0xfe00007f, 0x08000053, FMT_RF, PAT_FP_RD, op_fsub_s,
	  OP_FSUB_S },
	{ "fmul.s", 0xfe00007f, 0x10000053, FMT_RF, PAT_FP_RD, op_fmul_s,
	  OP_FMUL_S },
	{ "fdiv.s", 0xfe00007f, 0x18000053, FMT_RF, PAT_FP_RD, op_fdiv_s,
	  OP_FDIV_S },
	{ "fsqrt.s", 0xfff0007f, 0x58000053, FMT_RF, PAT_FP_RD, op_fsqrt_s,
	  OP_FSQRT_S },
	{ "fsgnj.s", 0xfe00707f, 0x20000053, FMT_R, PAT_FP_RD, op_fsgnj_s,
	  OP_FSGNJ_S },
	{ "fsgnjn.s", 0xfe00707f, 0x20001053, FMT_R, PAT_FP_RD, op_fsgnjn_s,
	  OP_FSGNJN_S },
	{ "fsgnjx.s", 0xfe00707f, 0x20002053, FMT_R, PAT_FP_RD, op_fsgnjx_s,
	  OP_FSGNJX_S },
	{ "fmin.s", 0xfe00707f, 0x28000053, FMT_R, PAT_FP_RD, op_fmin_s,
	  OP_FMIN_S },
	{ "fmax.s", 0xfe00707f, 0x28001053, FMT_R, PAT_FP_RD, op_fmax_s,
	  OP_FMAX_S },
	{ "fcvt.w.s", 0xfff0007f, 0xc0000053, FMT_RF, 0, op_fcvt_w_s,
	  OP_FCVT_W_S },
	{ "fcvt.wu.s", 0xfff0007f, 0xc0100053, FMT_RF, 0, op_fcvt_wu_s,
	  OP_FCVT_WU_S },
	{ "fcvt.l.s", 0xfff0007f, 0xc0200053, FMT_RF, 0, op_fcvt_l_s,
	  OP_FCVT_L_S },
	{ "fcvt.lu.s", 0xfff0007f, 0xc0300053, FMT_RF, 0, op_fcvt_lu_s,
	  OP_FCVT_LU_S },
	{ "fmv.x.w", 0xfff0707f, 0xe0000053, FMT_R, 0, op_fmv_x_w, OP_FMV_X_W },
	{ "fclass.s", 0xfff0707f, 0xe0001053, FMT_R, 0, op_fclass_s,
	  OP_FCLASS_S },
	{ "feq.s", 0xfe00707f, 0xa0002053, FMT_R, 0, op_feq_s, OP_FEQ_S },
	{ "flt.s", 0xfe00707f, 0xa0001053, FMT_R, 0, op_flt_s, OP_FLT_S },
	{ "fle.s", 0xfe00707f, 0xa0000053, FMT_R, 0, op_fle_s, OP_FLE_S },
	{ "fcvt.s.w", 0xfff0007f, 0xd0000053, FMT_RF, PAT_FP_RD, op_fcvt_s_w,
	  OP_FCVT_S_W },
	{ "fcvt.s.wu", 0xfff0007f, 0xd0100053, FMT_RF, PAT_FP_RD, op_fcvt_s_wu,
	  OP_FCVT_S_WU },
	{ "fcvt.s.l", 0xfff0007f, 0xd0200053, FMT_RF, PAT_FP_RD, op_fcvt_s_l,
	  OP_FCVT_S_L },
	{ "fcvt.s.lu", 0xfff0007f, 0xd0300053, FMT_RF, PAT_FP_RD, op_fcvt_s_lu,
	  OP_FCVT_S_LU },
	{ "fmv.w.x", 0xfff0707f, 0xf0000053, FMT_R, PAT_FP_RD, op_fmv_w_x,
	  OP_FMV_W_X },
	{ "fadd.d", 0xfe00007f, 0x02000053, FMT_RF, PAT_FP_RD, op_fadd_d,
	  OP_FADD_D },
	{ "fsub.d", 0xfe00007f, 0x0a000053, FMT_RF, PAT_FP_RD, op_fsub_d,
	  OP_FSUB_D },
	{ "fmul.d", 0xfe00007f, 0x12000053, FMT_RF, PAT_FP_RD, op_fmul_d,
	  OP_FMUL_D },
	{ "fdiv.d", 0xfe00007f, 0x1a000053, FMT_RF, PAT_FP_RD, op_fdiv_d,
	  OP_FDIV_D },
	{ "fsqrt.d", 0xfff0007f, 0x5a000053, FMT_RF, PAT_FP_RD, op_fsqrt_d,
	  OP_FSQRT_D },
	{ "fsgnj.d", 0xfe00707f, 0x22000053, FMT_R, PAT_FP_RD, op_fsgnj_d,
	  OP_FSGNJ_D },
	{ "fsgnjn.d", 0xfe00707f, 0x22001053, FMT_R, PAT_FP_RD, op_fsgnjn_d,
	  OP_FSGNJN_D },
	{ "fsgnjx.d", 0xfe00707f, 0x22002053, FMT_R, PAT_FP_RD, op_fsgnjx_d,
	  OP_FSGNJX_D },
	{ "fmin.d", 0xfe00707f, 0x2a000053, FMT_R, PAT_FP_RD, op_fmin_d,
	  OP_FMIN_D },
	{ "fmax.d", 0xfe00707f, 0x2a001053, FMT_R, PAT_FP_RD, op_fmax_d,
	  OP_FMAX_D },
	{ "fcvt.s.d", 0xfff0007f, 0x40100053, FMT_RF, PAT_FP_RD, op_fcvt_s_d,
	  OP_FCVT_S_D },
	{ "fcvt.d.s", 0xfff0007f, 0x42000053, FMT_RF, PAT_FP_RD, op_fcvt_d_s,
	  OP_FCVT_D_S },
	{ "feq.d", 0xfe00707f, 0xa2002053, FMT_R, 0, op_feq_d, OP_FEQ_D },
	{ "flt.d", 0xfe00707f, 0xa2001053, FMT_R, 0, op_flt_d, OP_FLT_D },
	{ "fle.d", 0xfe00707f, 0xa2000053, FMT_R, 0, op_fle_d, OP_FLE_D },
	{ "fclass.d", 0xfff0707f, 0xe2001053, FMT_R, 0, op_fclass_d,
	  OP_FCLASS_D },
	{ "fcvt.w.d", 0xfff0007f, 0xc2000053, FMT_RF, 0, op_fcvt_w_d,
	  OP_FCVT_W_D },
	{ "fcvt.wu.d", 0xfff0007f, 0xc2100053, FMT_RF, 0, op_fcvt_wu_d,
	  OP_FCVT_WU_D },
	{ "fcvt.l.d", 0xfff0007f, 0xc2200053, FMT_RF, 0, op_fcvt_l_d,
	  OP_FCVT_L_D },
	{ "fcvt.lu.d", 0xfff0007f, 0xc2300053, FMT_RF, 0, op_fcvt_lu_d,
	  OP_FCVT_LU_D },
	{ "fcvt.d.w", 0xfff0007f, 0xd2000053, FMT_RF, PAT_FP_RD, op_fcvt_d_w,
	  OP_FCVT_D_W },
	{ "fcvt.d.wu", 0xfff0007f, 0xd2100053, FMT_RF, PAT_FP_RD, op_fcvt_d_wu,
	  OP_FCVT_D_WU },
	{ "fcvt.d.l", 0xfff0007f, 0xd2200053, FMT_RF, PAT_FP_RD, op_fcvt_d_l,
	  OP_FCVT_D_L },
	{ "fcvt.d.lu", 0xfff0007f, 0xd2300053, FMT_RF, PAT_FP_RD, op_fcvt_d_lu,
	  OP_FCVT_D_LU },
	{ "fmv.x.d", 0xfff0707f, 0xe2000053, FMT_R, 0, op_fmv_x_d, OP_FMV_X_D },
	{ "fmv.d.x", 0xfff0707f, 0xf2000053, FMT_R, PAT_FP_RD, op_fmv_d_x,
	  OP_FMV_D_X },
	{ "sh1add", 0xfe00707f, 0x20002033, FMT_R, 0, op_sh1add, OP_SH1ADD },
	{ "sh2add", 0xfe00707f, 0x20004033, FMT_R, 0, op_sh2add, OP_SH2ADD },
	{ "sh3add", 0xfe00707f, 0x20006033, FMT_R, 0, op_sh3add, OP_SH3ADD },
	{ "add.uw", 0xfe00707f, 0x0800003b, FMT_R, 0, op_add_uw, OP_ADD_UW },
	{ "sh1add.uw", 0xfe00707f, 0x2000203b, FMT_R, 0, op_sh1add_uw,
	  OP_SH1ADD_UW },
	{ "sh2add.uw", 0xfe00707f, 0x2000403b, FMT_R, 0, op_sh2add_uw,
	  OP_SH2ADD_UW },
	{ "sh3add.uw", 0xfe00707f, 0x2000603b, FMT_R, 0, op_sh3add_uw,
	  OP_SH3ADD_UW },
	{ "slli.uw", 0xfc00707f, 0x0800101b, FMT_SH6, 0, op_slli_uw,
	  OP_SLLI_UW },
	{ "andn", 0xfe00707f, 0x40007033, FMT_R, 0, op_andn, OP_ANDN },
	{ "orn", 0xfe00707f, 0x40006033, FMT_R, 0, op_orn, OP_ORN },
	{ "xnor", 0xfe00707f, 0x40004033, FMT_R, 0, op_xnor, OP_XNOR },
	{ "clz", 0xfff0707f, 0x60001013, FMT_R, 0, op_clz, OP_CLZ },
	{ "ctz", 0xfff0707f, 0x60101013, FMT_R, 0, op_ctz, OP_CTZ },
	{ "cpop", 0xfff0707f, 0x60201013, FMT_R, 0, op_cpop, OP_CPOP },
	{ "clzw", 0xfff0707f, 0x6000101b, FMT_R, 0, op_clzw, OP_CLZW },
	{ "ctzw", 0xfff0707f, 0x6010101b, FMT_R, 0, op_ctzw, OP_CTZW },
	{ "cpopw", 0xfff0707f, 0x6020101b, FMT_R, 0, op_cpopw, OP_CPOPW },
	{ "max", 0xfe00707f, 0x0a006033, FMT_R, 0, op_max, OP_MAX },
	{ "maxu", 0xfe00707f, 0x0a007033, FMT_R, 0, op_maxu, OP_MAXU },
	{ "min", 0xfe00707f, 0x0a004033, FMT_R, 0, op_min, OP_MIN },
	{ "minu", 0xfe00707f, 0x0a005033, FMT_R, 0, op_minu, OP_MINU },
	{ "sext.b", 0xfff0707f, 0x60401013, FMT_R, 0, op_sext_b, OP_SEXT_B },
	{ "sext.h", 0xfff0707f, 0x60501013, FMT_R, 0, op_sext_h, OP_SEXT_H },
	{ "zext.h", 0xfff0707f, 0x0800403b, FMT_R, 0, op_zext_h, OP_ZEXT_H },
	{ "rol", 0xfe00707f, 0x60001033, FMT_R, 0, op_rol, OP_ROL },
	{ "ror", 0xfe00707f, 0x60005033, FMT_R, 0, op_ror, OP_ROR },
	{ "rolw", 0xfe00707f, 0x6000103b, FMT_R, 0, op_rolw, OP_ROLW },
	{ "rorw", 0xfe00707f, 0x6000503b, FMT_R, 0, op_rorw, OP_RORW },
	{ "rori", 0xfc00707f, 0x60005013, FMT_SH6, 0, op_rori, OP_RORI },
	{ "roriw", 0xfe00707f, 0x6000501b, FMT_SH5, 0, op_roriw, OP_RORIW },
	{ "orc.b", 0xfff0707f, 0x28705013, FMT_R, 0, op_orc_b, OP_ORC_B },
	{ "rev8", 0xfff0707f, 0x6b805013, FMT_R, 0, op_rev8, OP_REV8 },
	{ "bclr", 0xfe00707f, 0x48001033, FMT_R, 0, op_bclr, OP_BCLR },
	{ "bclri", 0xfc00707f, 0x48001013, FMT_SH6, 0, op_bclri, OP_BCLRI },
	{ "bext", 0xfe00707f, 0x48005033, FMT_R, 0, op_bext, OP_BEXT },
	{ "bexti", 0xfc00707f, 0x48005013, FMT_SH6, 0, op_bexti, OP_BEXTI },
	{ "binv", 0xfe00707f, 0x68001033, FMT_R, 0, op_binv, OP_BINV },
	{ "binvi", 0xfc00707f, 0x68001013, FMT_SH6, 0, op_binvi, OP_BINVI },
	{ "bset", 0xfe00707f, 0x28001033, FMT_R, 0, op_bset, OP_BSET },
	{ "bseti", 0xfc00707f, 0x28001013, FMT_SH6, 0, op_bseti, OP_BSETI },
	{ "czero.eqz", 0xfe00707f, 0x0e005033, FMT_R, 0, op_czero_eqz,
	  OP_CZERO_EQZ },
	{ "czero.nez", 0xfe00707f, 0x0e007033, FMT_R, 0, op_czero_nez,
	  OP_CZERO_NEZ },
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
		in->op = OP_ILLEGAL;
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
	in->op = (uint16_t)p->op;
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
