/*
 * Integer instructions: RV64I computational and control transfer, M, Zba,
 * Zbb, Zbs, Zicond (unprivileged spec ch. 2, 5, 7, 28 and the Zicond spec).
 * Each returns 0 to continue the block; control transfers set h->pc and
 * return 1.
 */
#include "cpu/exec.h"

#define RS1 X(in->rs1)
#define RS2 X(in->rs2)
#define RD  X(in->rd)
#define IMM ((int64_t)in->imm)
#define PC  (h->s.pc + in->pc_off)

static inline uint64_t sext32(uint64_t v)
{
	return (uint64_t)(int64_t)(int32_t)v;
}

/* Control transfer to target. Without C, a target not 4-byte aligned would
 * raise instruction-address-misaligned; with C (always on here) only bit 0
 * matters, and JALR clears it, branches and JAL cannot set it. */
static inline int jump(struct hart *h, uint64_t target)
{
	h->s.pc = target;
	return 1;
}

static inline int branch(struct hart *h, const struct insn *in, bool taken)
{
	return jump(h, taken ? PC + (uint64_t)IMM : PC + in->len);
}

int op_lui(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)IMM;
	return 0;
}

int op_auipc(struct hart *h, const struct insn *in)
{
	RD = PC + (uint64_t)IMM;
	return 0;
}

int op_jal(struct hart *h, const struct insn *in)
{
	uint64_t pc = PC;
	RD = pc + in->len;
	return jump(h, pc + (uint64_t)IMM);
}

int op_jalr(struct hart *h, const struct insn *in)
{
	uint64_t target = (RS1 + (uint64_t)IMM) & ~1ULL;
	RD = PC + in->len;
	return jump(h, target);
}

int op_beq(struct hart *h, const struct insn *in)
{
	return branch(h, in, RS1 == RS2);
}

int op_bne(struct hart *h, const struct insn *in)
{
	return branch(h, in, RS1 != RS2);
}

int op_blt(struct hart *h, const struct insn *in)
{
	return branch(h, in, (int64_t)RS1 < (int64_t)RS2);
}

int op_bge(struct hart *h, const struct insn *in)
{
	return branch(h, in, (int64_t)RS1 >= (int64_t)RS2);
}

int op_bltu(struct hart *h, const struct insn *in)
{
	return branch(h, in, RS1 < RS2);
}

int op_bgeu(struct hart *h, const struct insn *in)
{
	return branch(h, in, RS1 >= RS2);
}

int op_addi(struct hart *h, const struct insn *in)
{
	RD = RS1 + (uint64_t)IMM;
	return 0;
}

int op_slti(struct hart *h, const struct insn *in)
{
	RD = (int64_t)RS1 < IMM;
	return 0;
}

int op_sltiu(struct hart *h, const struct insn *in)
{
	RD = RS1 < (uint64_t)IMM;
	return 0;
}

int op_xori(struct hart *h, const struct insn *in)
{
	RD = RS1 ^ (uint64_t)IMM;
	return 0;
}

int op_ori(struct hart *h, const struct insn *in)
{
	RD = RS1 | (uint64_t)IMM;
	return 0;
}

int op_andi(struct hart *h, const struct insn *in)
{
	RD = RS1 & (uint64_t)IMM;
	return 0;
}

int op_slli(struct hart *h, const struct insn *in)
{
	RD = RS1 << in->imm;
	return 0;
}

int op_srli(struct hart *h, const struct insn *in)
{
	RD = RS1 >> in->imm;
	return 0;
}

int op_srai(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)((int64_t)RS1 >> in->imm);
	return 0;
}

int op_add(struct hart *h, const struct insn *in)
{
	RD = RS1 + RS2;
	return 0;
}

int op_sub(struct hart *h, const struct insn *in)
{
	RD = RS1 - RS2;
	return 0;
}

int op_sll(struct hart *h, const struct insn *in)
{
	RD = RS1 << (RS2 & 63);
	return 0;
}

int op_slt(struct hart *h, const struct insn *in)
{
	RD = (int64_t)RS1 < (int64_t)RS2;
	return 0;
}

int op_sltu(struct hart *h, const struct insn *in)
{
	RD = RS1 < RS2;
	return 0;
}

int op_xor(struct hart *h, const struct insn *in)
{
	RD = RS1 ^ RS2;
	return 0;
}

int op_srl(struct hart *h, const struct insn *in)
{
	RD = RS1 >> (RS2 & 63);
	return 0;
}

int op_sra(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)((int64_t)RS1 >> (RS2 & 63));
	return 0;
}

int op_or(struct hart *h, const struct insn *in)
{
	RD = RS1 | RS2;
	return 0;
}

int op_and(struct hart *h, const struct insn *in)
{
	RD = RS1 & RS2;
	return 0;
}

int op_addiw(struct hart *h, const struct insn *in)
{
	RD = sext32(RS1 + (uint64_t)IMM);
	return 0;
}

int op_slliw(struct hart *h, const struct insn *in)
{
	RD = sext32((uint32_t)RS1 << in->imm);
	return 0;
}

int op_srliw(struct hart *h, const struct insn *in)
{
	RD = sext32((uint32_t)RS1 >> in->imm);
	return 0;
}

int op_sraiw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(int64_t)((int32_t)RS1 >> in->imm);
	return 0;
}

int op_addw(struct hart *h, const struct insn *in)
{
	RD = sext32(RS1 + RS2);
	return 0;
}

int op_subw(struct hart *h, const struct insn *in)
{
	RD = sext32(RS1 - RS2);
	return 0;
}

int op_sllw(struct hart *h, const struct insn *in)
{
	RD = sext32((uint32_t)RS1 << (RS2 & 31));
	return 0;
}

int op_srlw(struct hart *h, const struct insn *in)
{
	RD = sext32((uint32_t)RS1 >> (RS2 & 31));
	return 0;
}

int op_sraw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(int64_t)((int32_t)RS1 >> (RS2 & 31));
	return 0;
}

/* ---- M (ch. 7): division by zero and overflow have defined results ---- */

int op_mul(struct hart *h, const struct insn *in)
{
	RD = RS1 * RS2;
	return 0;
}

int op_mulh(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(((__int128)(int64_t)RS1 * (__int128)(int64_t)RS2) >>
			64);
	return 0;
}

int op_mulhsu(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(((__int128)(int64_t)RS1 *
			 (__int128)(unsigned __int128)RS2) >>
			64);
	return 0;
}

int op_mulhu(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(((unsigned __int128)RS1 * RS2) >> 64);
	return 0;
}

int op_div(struct hart *h, const struct insn *in)
{
	int64_t a = (int64_t)RS1, b = (int64_t)RS2;
	if (b == 0)
		RD = ~0ULL;
	else if (a == INT64_MIN && b == -1)
		RD = (uint64_t)a;
	else
		RD = (uint64_t)(a / b);
	return 0;
}

int op_divu(struct hart *h, const struct insn *in)
{
	RD = RS2 ? RS1 / RS2 : ~0ULL;
	return 0;
}

int op_rem(struct hart *h, const struct insn *in)
{
	int64_t a = (int64_t)RS1, b = (int64_t)RS2;
	if (b == 0)
		RD = (uint64_t)a;
	else if (a == INT64_MIN && b == -1)
		RD = 0;
	else
		RD = (uint64_t)(a % b);
	return 0;
}

int op_remu(struct hart *h, const struct insn *in)
{
	RD = RS2 ? RS1 % RS2 : RS1;
	return 0;
}

int op_mulw(struct hart *h, const struct insn *in)
{
	RD = sext32(RS1 * RS2);
	return 0;
}

int op_divw(struct hart *h, const struct insn *in)
{
	int32_t a = (int32_t)RS1, b = (int32_t)RS2;
	if (b == 0)
		RD = ~0ULL;
	else if (a == INT32_MIN && b == -1)
		RD = sext32((uint32_t)a);
	else
		RD = sext32((uint32_t)(a / b));
	return 0;
}

int op_divuw(struct hart *h, const struct insn *in)
{
	uint32_t a = (uint32_t)RS1, b = (uint32_t)RS2;
	RD = b ? sext32(a / b) : ~0ULL;
	return 0;
}

int op_remw(struct hart *h, const struct insn *in)
{
	int32_t a = (int32_t)RS1, b = (int32_t)RS2;
	if (b == 0)
		RD = sext32((uint32_t)a);
	else if (a == INT32_MIN && b == -1)
		RD = 0;
	else
		RD = sext32((uint32_t)(a % b));
	return 0;
}

int op_remuw(struct hart *h, const struct insn *in)
{
	uint32_t a = (uint32_t)RS1, b = (uint32_t)RS2;
	RD = sext32(b ? a % b : a);
	return 0;
}

/* ---- Zba ---------------------------------------------------------------- */

int op_sh1add(struct hart *h, const struct insn *in)
{
	RD = (RS1 << 1) + RS2;
	return 0;
}

int op_sh2add(struct hart *h, const struct insn *in)
{
	RD = (RS1 << 2) + RS2;
	return 0;
}

int op_sh3add(struct hart *h, const struct insn *in)
{
	RD = (RS1 << 3) + RS2;
	return 0;
}

int op_add_uw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(uint32_t)RS1 + RS2;
	return 0;
}

int op_sh1add_uw(struct hart *h, const struct insn *in)
{
	RD = ((uint64_t)(uint32_t)RS1 << 1) + RS2;
	return 0;
}

int op_sh2add_uw(struct hart *h, const struct insn *in)
{
	RD = ((uint64_t)(uint32_t)RS1 << 2) + RS2;
	return 0;
}

int op_sh3add_uw(struct hart *h, const struct insn *in)
{
	RD = ((uint64_t)(uint32_t)RS1 << 3) + RS2;
	return 0;
}

int op_slli_uw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(uint32_t)RS1 << in->imm;
	return 0;
}

/* ---- Zbb ---------------------------------------------------------------- */

int op_andn(struct hart *h, const struct insn *in)
{
	RD = RS1 & ~RS2;
	return 0;
}

int op_orn(struct hart *h, const struct insn *in)
{
	RD = RS1 | ~RS2;
	return 0;
}

int op_xnor(struct hart *h, const struct insn *in)
{
	RD = ~(RS1 ^ RS2);
	return 0;
}

int op_clz(struct hart *h, const struct insn *in)
{
	RD = RS1 ? (uint64_t)__builtin_clzll(RS1) : 64;
	return 0;
}

int op_ctz(struct hart *h, const struct insn *in)
{
	RD = RS1 ? (uint64_t)__builtin_ctzll(RS1) : 64;
	return 0;
}

int op_cpop(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)__builtin_popcountll(RS1);
	return 0;
}

int op_clzw(struct hart *h, const struct insn *in)
{
	uint32_t v = (uint32_t)RS1;
	RD = v ? (uint64_t)__builtin_clz(v) : 32;
	return 0;
}

int op_ctzw(struct hart *h, const struct insn *in)
{
	uint32_t v = (uint32_t)RS1;
	RD = v ? (uint64_t)__builtin_ctz(v) : 32;
	return 0;
}

int op_cpopw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)__builtin_popcount((uint32_t)RS1);
	return 0;
}

int op_max(struct hart *h, const struct insn *in)
{
	RD = (int64_t)RS1 > (int64_t)RS2 ? RS1 : RS2;
	return 0;
}

int op_maxu(struct hart *h, const struct insn *in)
{
	RD = RS1 > RS2 ? RS1 : RS2;
	return 0;
}

int op_min(struct hart *h, const struct insn *in)
{
	RD = (int64_t)RS1 < (int64_t)RS2 ? RS1 : RS2;
	return 0;
}

int op_minu(struct hart *h, const struct insn *in)
{
	RD = RS1 < RS2 ? RS1 : RS2;
	return 0;
}

int op_sext_b(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(int64_t)(int8_t)RS1;
	return 0;
}

int op_sext_h(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(int64_t)(int16_t)RS1;
	return 0;
}

int op_zext_h(struct hart *h, const struct insn *in)
{
	RD = (uint16_t)RS1;
	return 0;
}

static inline uint64_t rol64(uint64_t v, unsigned n)
{
	n &= 63;
	return n ? (v << n) | (v >> (64 - n)) : v;
}

static inline uint32_t rol32(uint32_t v, unsigned n)
{
	n &= 31;
	return n ? (v << n) | (v >> (32 - n)) : v;
}

int op_rol(struct hart *h, const struct insn *in)
{
	RD = rol64(RS1, (unsigned)RS2);
	return 0;
}

int op_ror(struct hart *h, const struct insn *in)
{
	RD = rol64(RS1, 64 - (unsigned)(RS2 & 63));
	return 0;
}

int op_rolw(struct hart *h, const struct insn *in)
{
	RD = sext32(rol32((uint32_t)RS1, (unsigned)RS2));
	return 0;
}

int op_rorw(struct hart *h, const struct insn *in)
{
	RD = sext32(rol32((uint32_t)RS1, 32 - (unsigned)(RS2 & 31)));
	return 0;
}

int op_rori(struct hart *h, const struct insn *in)
{
	RD = rol64(RS1, 64 - (unsigned)in->imm);
	return 0;
}

int op_roriw(struct hart *h, const struct insn *in)
{
	RD = sext32(rol32((uint32_t)RS1, 32 - (unsigned)in->imm));
	return 0;
}

int op_orc_b(struct hart *h, const struct insn *in)
{
	uint64_t v = RS1, r = 0;
	for (int i = 0; i < 64; i += 8)
		if ((v >> i) & 0xff)
			r |= 0xffULL << i;
	RD = r;
	return 0;
}

int op_rev8(struct hart *h, const struct insn *in)
{
	RD = __builtin_bswap64(RS1);
	return 0;
}

/* ---- Zbs ---------------------------------------------------------------- */

int op_bclr(struct hart *h, const struct insn *in)
{
	RD = RS1 & ~(1ULL << (RS2 & 63));
	return 0;
}

int op_bclri(struct hart *h, const struct insn *in)
{
	RD = RS1 & ~(1ULL << in->imm);
	return 0;
}

int op_bext(struct hart *h, const struct insn *in)
{
	RD = (RS1 >> (RS2 & 63)) & 1;
	return 0;
}

int op_bexti(struct hart *h, const struct insn *in)
{
	RD = (RS1 >> in->imm) & 1;
	return 0;
}

int op_binv(struct hart *h, const struct insn *in)
{
	RD = RS1 ^ (1ULL << (RS2 & 63));
	return 0;
}

int op_binvi(struct hart *h, const struct insn *in)
{
	RD = RS1 ^ (1ULL << in->imm);
	return 0;
}

int op_bset(struct hart *h, const struct insn *in)
{
	RD = RS1 | (1ULL << (RS2 & 63));
	return 0;
}

int op_bseti(struct hart *h, const struct insn *in)
{
	RD = RS1 | (1ULL << in->imm);
	return 0;
}

/* ---- Zicond ------------------------------------------------------------- */

int op_czero_eqz(struct hart *h, const struct insn *in)
{
	RD = RS2 == 0 ? 0 : RS1;
	return 0;
}

int op_czero_nez(struct hart *h, const struct insn *in)
{
	RD = RS2 != 0 ? 0 : RS1;
	return 0;
}
