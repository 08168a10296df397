/*
 * Integer instructions: RV64I computational and control transfer, M, Zba,
 * Zbb, Zbs, Zicond (unprivileged spec ch. 2, 5, 7, 28 and the Zicond spec).
 * Each continues with the next instruction (NEXT_INSN); control transfers
 * set h->s.pc and return (hart_impl.h, "decoded instructions").
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

/* Conditional branches do not end a block: a not-taken branch falls
 * through inside it; a taken one leaves it, taking back the instret
 * credited for the rest of the block. */
static inline void branch_taken(struct hart *h, const struct insn *in)
{
	uint32_t rest = h->cur_n - in->idx - 1;
	h->s.instret -= rest;
	h->budget += rest;
	h->cur_n = 0;
	h->s.pc = PC + (uint64_t)IMM;
}

void op_lui(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)IMM;
	NEXT_INSN(h, in);
}

void op_auipc(struct hart *h, const struct insn *in)
{
	RD = PC + (uint64_t)IMM;
	NEXT_INSN(h, in);
}

void op_jal(struct hart *h, const struct insn *in)
{
	uint64_t pc = PC;
	RD = pc + in->len;
	jump(h, pc + (uint64_t)IMM);
}

void op_jalr(struct hart *h, const struct insn *in)
{
	uint64_t target = (RS1 + (uint64_t)IMM) & ~1ULL;
	RD = PC + in->len;
	jump(h, target);
}

void op_beq(struct hart *h, const struct insn *in)
{
	if (!(RS1 == RS2))
		NEXT_INSN(h, in);
	branch_taken(h, in);
}

void op_bne(struct hart *h, const struct insn *in)
{
	if (!(RS1 != RS2))
		NEXT_INSN(h, in);
	branch_taken(h, in);
}

void op_blt(struct hart *h, const struct insn *in)
{
	if (!((int64_t)RS1 < (int64_t)RS2))
		NEXT_INSN(h, in);
	branch_taken(h, in);
}

void op_bge(struct hart *h, const struct insn *in)
{
	if (!((int64_t)RS1 >= (int64_t)RS2))
		NEXT_INSN(h, in);
	branch_taken(h, in);
}

void op_bltu(struct hart *h, const struct insn *in)
{
	if (!(RS1 < RS2))
		NEXT_INSN(h, in);
	branch_taken(h, in);
}

void op_bgeu(struct hart *h, const struct insn *in)
{
	if (!(RS1 >= RS2))
		NEXT_INSN(h, in);
	branch_taken(h, in);
}

void op_addi(struct hart *h, const struct insn *in)
{
	RD = RS1 + (uint64_t)IMM;
	NEXT_INSN(h, in);
}

void op_slti(struct hart *h, const struct insn *in)
{
	RD = (int64_t)RS1 < IMM;
	NEXT_INSN(h, in);
}

void op_sltiu(struct hart *h, const struct insn *in)
{
	RD = RS1 < (uint64_t)IMM;
	NEXT_INSN(h, in);
}

void op_xori(struct hart *h, const struct insn *in)
{
	RD = RS1 ^ (uint64_t)IMM;
	NEXT_INSN(h, in);
}

void op_ori(struct hart *h, const struct insn *in)
{
	RD = RS1 | (uint64_t)IMM;
	NEXT_INSN(h, in);
}

void op_andi(struct hart *h, const struct insn *in)
{
	RD = RS1 & (uint64_t)IMM;
	NEXT_INSN(h, in);
}

void op_slli(struct hart *h, const struct insn *in)
{
	RD = RS1 << in->imm;
	NEXT_INSN(h, in);
}

void op_srli(struct hart *h, const struct insn *in)
{
	RD = RS1 >> in->imm;
	NEXT_INSN(h, in);
}

void op_srai(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)((int64_t)RS1 >> in->imm);
	NEXT_INSN(h, in);
}

void op_add(struct hart *h, const struct insn *in)
{
	RD = RS1 + RS2;
	NEXT_INSN(h, in);
}

void op_sub(struct hart *h, const struct insn *in)
{
	RD = RS1 - RS2;
	NEXT_INSN(h, in);
}

void op_sll(struct hart *h, const struct insn *in)
{
	RD = RS1 << (RS2 & 63);
	NEXT_INSN(h, in);
}

void op_slt(struct hart *h, const struct insn *in)
{
	RD = (int64_t)RS1 < (int64_t)RS2;
	NEXT_INSN(h, in);
}

void op_sltu(struct hart *h, const struct insn *in)
{
	RD = RS1 < RS2;
	NEXT_INSN(h, in);
}

void op_xor(struct hart *h, const struct insn *in)
{
	RD = RS1 ^ RS2;
	NEXT_INSN(h, in);
}

void op_srl(struct hart *h, const struct insn *in)
{
	RD = RS1 >> (RS2 & 63);
	NEXT_INSN(h, in);
}

void op_sra(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)((int64_t)RS1 >> (RS2 & 63));
	NEXT_INSN(h, in);
}

void op_or(struct hart *h, const struct insn *in)
{
	RD = RS1 | RS2;
	NEXT_INSN(h, in);
}

void op_and(struct hart *h, const struct insn *in)
{
	RD = RS1 & RS2;
	NEXT_INSN(h, in);
}

void op_addiw(struct hart *h, const struct insn *in)
{
	RD = sext32(RS1 + (uint64_t)IMM);
	NEXT_INSN(h, in);
}

void op_slliw(struct hart *h, const struct insn *in)
{
	RD = sext32((uint32_t)RS1 << in->imm);
	NEXT_INSN(h, in);
}

void op_srliw(struct hart *h, const struct insn *in)
{
	RD = sext32((uint32_t)RS1 >> in->imm);
	NEXT_INSN(h, in);
}

void op_sraiw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(int64_t)((int32_t)RS1 >> in->imm);
	NEXT_INSN(h, in);
}

void op_addw(struct hart *h, const struct insn *in)
{
	RD = sext32(RS1 + RS2);
	NEXT_INSN(h, in);
}

void op_subw(struct hart *h, const struct insn *in)
{
	RD = sext32(RS1 - RS2);
	NEXT_INSN(h, in);
}

void op_sllw(struct hart *h, const struct insn *in)
{
	RD = sext32((uint32_t)RS1 << (RS2 & 31));
	NEXT_INSN(h, in);
}

void op_srlw(struct hart *h, const struct insn *in)
{
	RD = sext32((uint32_t)RS1 >> (RS2 & 31));
	NEXT_INSN(h, in);
}

void op_sraw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(int64_t)((int32_t)RS1 >> (RS2 & 31));
	NEXT_INSN(h, in);
}

/* ---- M (ch. 7): division by zero and overflow have defined results ---- */

void op_mul(struct hart *h, const struct insn *in)
{
	RD = RS1 * RS2;
	NEXT_INSN(h, in);
}

void op_mulh(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(((__int128)(int64_t)RS1 * (__int128)(int64_t)RS2) >>
			64);
	NEXT_INSN(h, in);
}

void op_mulhsu(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(((__int128)(int64_t)RS1 *
			 (__int128)(unsigned __int128)RS2) >>
			64);
	NEXT_INSN(h, in);
}

void op_mulhu(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(((unsigned __int128)RS1 * RS2) >> 64);
	NEXT_INSN(h, in);
}

void op_div(struct hart *h, const struct insn *in)
{
	int64_t a = (int64_t)RS1, b = (int64_t)RS2;
	if (b == 0)
		RD = ~0ULL;
	else if (a == INT64_MIN && b == -1)
		RD = (uint64_t)a;
	else
		RD = (uint64_t)(a / b);
	NEXT_INSN(h, in);
}

void op_divu(struct hart *h, const struct insn *in)
{
	RD = RS2 ? RS1 / RS2 : ~0ULL;
	NEXT_INSN(h, in);
}

void op_rem(struct hart *h, const struct insn *in)
{
	int64_t a = (int64_t)RS1, b = (int64_t)RS2;
	if (b == 0)
		RD = (uint64_t)a;
	else if (a == INT64_MIN && b == -1)
		RD = 0;
	else
		RD = (uint64_t)(a % b);
	NEXT_INSN(h, in);
}

void op_remu(struct hart *h, const struct insn *in)
{
	RD = RS2 ? RS1 % RS2 : RS1;
	NEXT_INSN(h, in);
}

void op_mulw(struct hart *h, const struct insn *in)
{
	RD = sext32(RS1 * RS2);
	NEXT_INSN(h, in);
}

void op_divw(struct hart *h, const struct insn *in)
{
	int32_t a = (int32_t)RS1, b = (int32_t)RS2;
	if (b == 0)
		RD = ~0ULL;
	else if (a == INT32_MIN && b == -1)
		RD = sext32((uint32_t)a);
	else
		RD = sext32((uint32_t)(a / b));
	NEXT_INSN(h, in);
}

void op_divuw(struct hart *h, const struct insn *in)
{
	uint32_t a = (uint32_t)RS1, b = (uint32_t)RS2;
	RD = b ? sext32(a / b) : ~0ULL;
	NEXT_INSN(h, in);
}

void op_remw(struct hart *h, const struct insn *in)
{
	int32_t a = (int32_t)RS1, b = (int32_t)RS2;
	if (b == 0)
		RD = sext32((uint32_t)a);
	else if (a == INT32_MIN && b == -1)
		RD = 0;
	else
		RD = sext32((uint32_t)(a % b));
	NEXT_INSN(h, in);
}

void op_remuw(struct hart *h, const struct insn *in)
{
	uint32_t a = (uint32_t)RS1, b = (uint32_t)RS2;
	RD = sext32(b ? a % b : a);
	NEXT_INSN(h, in);
}

/* ---- Zba ---------------------------------------------------------------- */

void op_sh1add(struct hart *h, const struct insn *in)
{
	RD = (RS1 << 1) + RS2;
	NEXT_INSN(h, in);
}

void op_sh2add(struct hart *h, const struct insn *in)
{
	RD = (RS1 << 2) + RS2;
	NEXT_INSN(h, in);
}

void op_sh3add(struct hart *h, const struct insn *in)
{
	RD = (RS1 << 3) + RS2;
	NEXT_INSN(h, in);
}

void op_add_uw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(uint32_t)RS1 + RS2;
	NEXT_INSN(h, in);
}

void op_sh1add_uw(struct hart *h, const struct insn *in)
{
	RD = ((uint64_t)(uint32_t)RS1 << 1) + RS2;
	NEXT_INSN(h, in);
}

void op_sh2add_uw(struct hart *h, const struct insn *in)
{
	RD = ((uint64_t)(uint32_t)RS1 << 2) + RS2;
	NEXT_INSN(h, in);
}

void op_sh3add_uw(struct hart *h, const struct insn *in)
{
	RD = ((uint64_t)(uint32_t)RS1 << 3) + RS2;
	NEXT_INSN(h, in);
}

void op_slli_uw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(uint32_t)RS1 << in->imm;
	NEXT_INSN(h, in);
}

/* ---- Zbb ---------------------------------------------------------------- */

void op_andn(struct hart *h, const struct insn *in)
{
	RD = RS1 & ~RS2;
	NEXT_INSN(h, in);
}

void op_orn(struct hart *h, const struct insn *in)
{
	RD = RS1 | ~RS2;
	NEXT_INSN(h, in);
}

void op_xnor(struct hart *h, const struct insn *in)
{
	RD = ~(RS1 ^ RS2);
	NEXT_INSN(h, in);
}

void op_clz(struct hart *h, const struct insn *in)
{
	RD = RS1 ? (uint64_t)__builtin_clzll(RS1) : 64;
	NEXT_INSN(h, in);
}

void op_ctz(struct hart *h, const struct insn *in)
{
	RD = RS1 ? (uint64_t)__builtin_ctzll(RS1) : 64;
	NEXT_INSN(h, in);
}

void op_cpop(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)__builtin_popcountll(RS1);
	NEXT_INSN(h, in);
}

void op_clzw(struct hart *h, const struct insn *in)
{
	uint32_t v = (uint32_t)RS1;
	RD = v ? (uint64_t)__builtin_clz(v) : 32;
	NEXT_INSN(h, in);
}

void op_ctzw(struct hart *h, const struct insn *in)
{
	uint32_t v = (uint32_t)RS1;
	RD = v ? (uint64_t)__builtin_ctz(v) : 32;
	NEXT_INSN(h, in);
}

void op_cpopw(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)__builtin_popcount((uint32_t)RS1);
	NEXT_INSN(h, in);
}

void op_max(struct hart *h, const struct insn *in)
{
	RD = (int64_t)RS1 > (int64_t)RS2 ? RS1 : RS2;
	NEXT_INSN(h, in);
}

void op_maxu(struct hart *h, const struct insn *in)
{
	RD = RS1 > RS2 ? RS1 : RS2;
	NEXT_INSN(h, in);
}

void op_min(struct hart *h, const struct insn *in)
{
	RD = (int64_t)RS1 < (int64_t)RS2 ? RS1 : RS2;
	NEXT_INSN(h, in);
}

void op_minu(struct hart *h, const struct insn *in)
{
	RD = RS1 < RS2 ? RS1 : RS2;
	NEXT_INSN(h, in);
}

void op_sext_b(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(int64_t)(int8_t)RS1;
	NEXT_INSN(h, in);
}

void op_sext_h(struct hart *h, const struct insn *in)
{
	RD = (uint64_t)(int64_t)(int16_t)RS1;
	NEXT_INSN(h, in);
}

void op_zext_h(struct hart *h, const struct insn *in)
{
	RD = (uint16_t)RS1;
	NEXT_INSN(h, in);
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

void op_rol(struct hart *h, const struct insn *in)
{
	RD = rol64(RS1, (unsigned)RS2);
	NEXT_INSN(h, in);
}

void op_ror(struct hart *h, const struct insn *in)
{
	RD = rol64(RS1, 64 - (unsigned)(RS2 & 63));
	NEXT_INSN(h, in);
}

void op_rolw(struct hart *h, const struct insn *in)
{
	RD = sext32(rol32((uint32_t)RS1, (unsigned)RS2));
	NEXT_INSN(h, in);
}

void op_rorw(struct hart *h, const struct insn *in)
{
	RD = sext32(rol32((uint32_t)RS1, 32 - (unsigned)(RS2 & 31)));
	NEXT_INSN(h, in);
}

void op_rori(struct hart *h, const struct insn *in)
{
	RD = rol64(RS1, 64 - (unsigned)in->imm);
	NEXT_INSN(h, in);
}

void op_roriw(struct hart *h, const struct insn *in)
{
	RD = sext32(rol32((uint32_t)RS1, 32 - (unsigned)in->imm));
	NEXT_INSN(h, in);
}

void op_orc_b(struct hart *h, const struct insn *in)
{
	uint64_t v = RS1, r = 0;
	for (int i = 0; i < 64; i += 8)
		if ((v >> i) & 0xff)
			r |= 0xffULL << i;
	RD = r;
	NEXT_INSN(h, in);
}

void op_rev8(struct hart *h, const struct insn *in)
{
	RD = __builtin_bswap64(RS1);
	NEXT_INSN(h, in);
}

/* ---- Zbs ---------------------------------------------------------------- */

void op_bclr(struct hart *h, const struct insn *in)
{
	RD = RS1 & ~(1ULL << (RS2 & 63));
	NEXT_INSN(h, in);
}

void op_bclri(struct hart *h, const struct insn *in)
{
	RD = RS1 & ~(1ULL << in->imm);
	NEXT_INSN(h, in);
}

void op_bext(struct hart *h, const struct insn *in)
{
	RD = (RS1 >> (RS2 & 63)) & 1;
	NEXT_INSN(h, in);
}

void op_bexti(struct hart *h, const struct insn *in)
{
	RD = (RS1 >> in->imm) & 1;
	NEXT_INSN(h, in);
}

void op_binv(struct hart *h, const struct insn *in)
{
	RD = RS1 ^ (1ULL << (RS2 & 63));
	NEXT_INSN(h, in);
}

void op_binvi(struct hart *h, const struct insn *in)
{
	RD = RS1 ^ (1ULL << in->imm);
	NEXT_INSN(h, in);
}

void op_bset(struct hart *h, const struct insn *in)
{
	RD = RS1 | (1ULL << (RS2 & 63));
	NEXT_INSN(h, in);
}

void op_bseti(struct hart *h, const struct insn *in)
{
	RD = RS1 | (1ULL << in->imm);
	NEXT_INSN(h, in);
}

/* ---- Zicond ------------------------------------------------------------- */

void op_czero_eqz(struct hart *h, const struct insn *in)
{
	RD = RS2 == 0 ? 0 : RS1;
	NEXT_INSN(h, in);
}

void op_czero_nez(struct hart *h, const struct insn *in)
{
	RD = RS2 != 0 ? 0 : RS1;
	NEXT_INSN(h, in);
}
