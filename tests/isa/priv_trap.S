/* priv_trap.S - privileged trap behaviour (priv spec 1.12, ch. 3-4):
 * exception causes with mepc/mtval from M, S and U; delegation through
 * medeleg with scause/sepc/stval/SPP; mret/sret state transitions incl.
 * MPRV; TSR, TW, TVM; sstatus as a view of mstatus; sie/sip as views
 * masked by mideleg; mip writability; access faults. */
#include "test.h"

/* Run the instruction(s) in __VA_ARGS__ in mode prv; expect an M trap
 * with `cause` at the first of them. */
#define TRAP_FROM(n, prv, cause, ...) \
	TRAP_FROM_ANYWHERE(n, prv, cause, __VA_ARGS__); CHECK_MEPC(2b)
/* Same, for traps that reach M from the S handler (delegated ones). */
#define TRAP_FROM_ANYWHERE(n, prv, cause, ...) \
	TEST(n); CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_MODE(prv, 2f); \
2:	__VA_ARGS__; j fail; \
1:	CHECK_MCAUSE(cause)

/* mtval must hold the 32-bit instruction at label 2 of the last macro */
#define CHECK_MTVAL_INSN lwu t4, 2b; CHECK_MTVAL_REG(t4)
#define CHECK_STVAL_INSN lwu t4, 2b; CHECK_STVAL_REG(t4)

/* MPP / SPP recorded at the trap */
#define CHECK_MPP(prv) LOAD_SAVE(t5, M_STATUS); srli t5, t5, 11; \
	andi t5, t5, 3; CHECK_EQ(t5, prv)
#define CHECK_SPP(prv) LOAD_SAVE(t5, S_STATUS); srli t5, t5, 8; \
	andi t5, t5, 1; CHECK_EQ(t5, prv)

#define BAD_ADDR 0x1000000000   /* 64 GiB: nothing there */

RVTEST_CODE_BEGIN
	SET_STVEC_DEFAULT
	/* ---- exceptions taken in M ---------------------------------- */
	TRAP_FROM(1, PRV_M, CAUSE_ECALL_M, ecall)
	CHECK_MTVAL(0)
	CHECK_MPP(PRV_M)
	TRAP_FROM(2, PRV_S, CAUSE_ECALL_S, ecall)
	CHECK_MTVAL(0)
	CHECK_MPP(PRV_S)
	TRAP_FROM(3, PRV_U, CAUSE_ECALL_U, ecall)
	CHECK_MTVAL(0)
	CHECK_MPP(PRV_U)
	TRAP_FROM(4, PRV_M, CAUSE_BREAKPOINT, ebreak)
	TRAP_FROM(5, PRV_U, CAUSE_BREAKPOINT, ebreak)
	CHECK_MPP(PRV_U)
	/* illegal instruction: mtval = instruction bits */
	TRAP_FROM(6, PRV_U, CAUSE_ILLEGAL, mret)
	CHECK_MTVAL_INSN
	TRAP_FROM(7, PRV_S, CAUSE_ILLEGAL, mret)
	CHECK_MTVAL_INSN
	TRAP_FROM(8, PRV_U, CAUSE_ILLEGAL, sret)
	CHECK_MTVAL_INSN
	TRAP_FROM(9, PRV_U, CAUSE_ILLEGAL, sfence.vma)
	CHECK_MTVAL_INSN
	TRAP_FROM(10, PRV_U, CAUSE_ILLEGAL, csrr a0, sstatus)
	CHECK_MTVAL_INSN
	TRAP_FROM(11, PRV_M, CAUSE_ILLEGAL, .word 0x0000000b)  /* custom-0 */
	CHECK_MTVAL(0x0000000b)
	TRAP_FROM(12, PRV_S, CAUSE_ILLEGAL, csrw mstatus, zero)
	CHECK_MTVAL_INSN
	/* access faults (no memory at BAD_ADDR): mtval = address */
	TEST(13)
	CLEAR_TRAPS
	li s0, BAD_ADDR
	EXPECT_TRAP(3f)
4:	ld a0, 0(s0)
	j fail
3:	CHECK_MCAUSE(CAUSE_LOAD_ACCESS)
	CHECK_MEPC(4b)
	CHECK_MTVAL(BAD_ADDR)
	TEST(14)
	EXPECT_TRAP(3f)
4:	sw a0, 8(s0)
	j fail
3:	CHECK_MCAUSE(CAUSE_STORE_ACCESS)
	CHECK_MTVAL(BAD_ADDR + 8)
	TEST(15)
	la ra, fail
	EXPECT_TRAP(3f)
	jalr ra, 0(s0)
3:	CHECK_MCAUSE(CAUSE_FETCH_ACCESS)
	CHECK_MTVAL(BAD_ADDR)
	CHECK_SAVE(M_EPC, BAD_ADDR)

	/* ---- delegation to S ---------------------------------------- */
	li t0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ILLEGAL) | (1 << CAUSE_BREAKPOINT)
	csrw medeleg, t0
	TEST(16)
	S_EXPECT(2)
	TRAP_FROM_ANYWHERE(16, PRV_U, CAUSE_ECALL_S, ecall)   /* S handler ecalls */
	CHECK_SCAUSE(CAUSE_ECALL_U)
	CHECK_SEPC(2b)
	CHECK_STVAL(0)
	CHECK_SPP(PRV_U)
	CHECK_SCOUNT(1)
	CHECK_MCOUNT(1)
	S_EXPECT(2)
	TRAP_FROM_ANYWHERE(17, PRV_U, CAUSE_ECALL_S, mret)
	CHECK_SCAUSE(CAUSE_ILLEGAL)
	CHECK_STVAL_INSN
	CHECK_SEPC(2b)
	S_EXPECT(2)
	TRAP_FROM_ANYWHERE(18, PRV_S, CAUSE_ECALL_S, ebreak)
	CHECK_SCAUSE(CAUSE_BREAKPOINT)
	CHECK_SPP(PRV_S)
	/* a delegated trap resumed in U with sret (skip), then another */
	TEST(19)
	CLEAR_TRAPS
	S_EXPECT(1)                      /* skip */
	EXPECT_TRAP(5f)
	GOTO_U(6f)
6:	li a0, 1
	.word 0x0000000b                 /* illegal -> S, skipped */
	addi a0, a0, 1
	S_EXPECT(2)
	ecall                            /* -> S -> ecall to M */
	j fail
5:	CHECK_EQ(a0, 2)
	CHECK_SCOUNT(2)
	CHECK_SCAUSE(CAUSE_ECALL_U)
	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_MCOUNT(1)
	/* M-mode traps are never delegated */
	TRAP_FROM(20, PRV_M, CAUSE_ILLEGAL, .word 0x0000000b)
	CHECK_SCOUNT(0)
	TRAP_FROM(21, PRV_M, CAUSE_BREAKPOINT, ebreak)
	CHECK_SCOUNT(0)
	csrwi medeleg, 0
	/* check 22 (medeleg[11] read-only zero) is in priv_strict.S */

	/* ---- mret / sret transitions --------------------------------- */
	TEST(23)                         /* mret to M: MIE=MPIE, MPIE=1, MPP=U */
	li t0, MSTATUS_MIE | MSTATUS_MPP
	csrc mstatus, t0
	li t0, MSTATUS_MPIE | MSTATUS_MPP
	csrs mstatus, t0
	la t0, 8f
	csrw mepc, t0
	mret
8:	csrr a0, mstatus
	li t0, MSTATUS_MIE
	csrc mstatus, t0
	li t1, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP
	and a1, a0, t1
	CHECK_EQ(a1, MSTATUS_MIE | MSTATUS_MPIE)
	/* check 24 (mret to S clears MPRV) is in priv_strict.S */
	TEST(25)                         /* mret to M keeps MPRV */
	li t0, MSTATUS_MPP
	csrs mstatus, t0
	li t0, MSTATUS_MPRV
	csrs mstatus, t0
	la t0, 9f
	csrw mepc, t0
	mret
9:	csrr a0, mstatus
	li t0, MSTATUS_MPRV
	csrc mstatus, t0
	and a0, a0, t0
	CHECK_EQ(a0, MSTATUS_MPRV)
	TEST(26)                         /* sret to U: SIE=SPIE, SPIE=1, SPP=U */
	CLEAR_TRAPS
	EXPECT_TRAP(10f)
	GOTO_S(11f)
11:	li t0, MSTATUS_SIE | MSTATUS_SPP
	csrc sstatus, t0
	li t0, MSTATUS_SPIE
	csrs sstatus, t0
	la t0, 12f
	csrw sepc, t0
	sret
12:	ecall
	j fail
10:	CHECK_MCAUSE(CAUSE_ECALL_U)
	CHECK_MEPC(12b)
	LOAD_SAVE(t5, M_STATUS)
	andi t5, t5, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP
	CHECK_EQ(t5, MSTATUS_SIE | MSTATUS_SPIE)
	li t0, MSTATUS_SIE
	csrc mstatus, t0
	TEST(27)                         /* sret to S: SPP becomes U */
	CLEAR_TRAPS
	EXPECT_TRAP(13f)
	GOTO_S(14f)
14:	li t0, MSTATUS_SPP | MSTATUS_SPIE
	csrs sstatus, t0
	la t0, 15f
	csrw sepc, t0
	sret
15:	csrr a0, sstatus
	ecall
13:	CHECK_MCAUSE(CAUSE_ECALL_S)
	andi a0, a0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
	CHECK_EQ(a0, MSTATUS_SPIE | MSTATUS_SIE)
	li t0, MSTATUS_SIE
	csrc mstatus, t0

	/* ---- TSR, TW, TVM --------------------------------------------- */
	li t0, MSTATUS_TSR
	csrs mstatus, t0
	TRAP_FROM(28, PRV_S, CAUSE_ILLEGAL, sret)
	CHECK_MTVAL_INSN
	li t0, MSTATUS_TSR
	csrc mstatus, t0
	li t0, MSTATUS_TW
	csrs mstatus, t0
	TRAP_FROM(29, PRV_S, CAUSE_ILLEGAL, wfi)
	CHECK_MTVAL_INSN
	TRAP_FROM(30, PRV_U, CAUSE_ILLEGAL, wfi)
	li t0, MSTATUS_TW
	csrc mstatus, t0
	li t0, MSTATUS_TVM
	csrs mstatus, t0
	TRAP_FROM(31, PRV_S, CAUSE_ILLEGAL, csrr a0, satp)
	CHECK_MTVAL_INSN
	TRAP_FROM(32, PRV_S, CAUSE_ILLEGAL, csrw satp, zero)
	TRAP_FROM(33, PRV_S, CAUSE_ILLEGAL, sfence.vma)
	CHECK_MTVAL_INSN
	TEST(34)                         /* M is not affected by TVM */
	csrr a0, satp
	sfence.vma
	li t0, MSTATUS_TVM
	csrc mstatus, t0
	TRAP_FROM_ANYWHERE(35, PRV_S, CAUSE_ECALL_S, csrr a0, satp; sfence.vma; ecall)

	/* ---- sstatus is a view of mstatus ------------------------------ */
	TEST(36)
	li t0, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_TVM
	csrs mstatus, t0
	csrr a0, sstatus
	li t1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV
	and a1, a0, t1
	CHECK_EQ(a1, 0)
	TEST(37)
	li t0, MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
	csrs sstatus, t0
	csrr a0, mstatus
	and a1, a0, t0
	CHECK_REG(a1, t0)
	li t1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_TVM
	and a1, a0, t1
	CHECK_REG(a1, t1)              /* M-only bits untouched */
	TEST(38)
	li t0, -1
	csrc sstatus, t0                 /* clears only S-visible bits */
	csrr a0, mstatus
	li t1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_TVM
	and a1, a0, t1
	CHECK_REG(a1, t1)
	li t1, MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
	and a1, a0, t1
	CHECK_EQ(a1, 0)
	li t0, MSTATUS_MPIE | MSTATUS_TVM
	csrc mstatus, t0
	li t0, MSTATUS_FS_INIT
	csrs mstatus, t0

	/* ---- sie / sip are views masked by mideleg --------------------- */
	TEST(39)
	csrwi mideleg, 0
	li t0, 0x222
	csrs mie, t0
	csrr a0, sie
	CHECK_EQ(a0, 0)
	TEST(40)
	li t0, 0x222
	csrw mideleg, t0
	csrr a0, mideleg                 /* (QEMU's hart has H: VS bits are 1) */
	andi a0, a0, 0x222
	CHECK_EQ(a0, 0x222)
	csrr a0, sie
	CHECK_EQ(a0, 0x222)
	TEST(41)
	csrw sie, zero
	csrr a0, mie
	andi a0, a0, 0x222
	CHECK_EQ(a0, 0)
	TEST(42)
	csrsi sie, 2
	csrr a0, mie
	CHECK_EQ(a0, 2)
	csrw mie, zero
	TEST(43)
	csrsi mip, 2                     /* SSIP, visible in sip */
	csrr a0, sip
	CHECK_EQ(a0, 2)
	csrwi mideleg, 0
	csrr a0, sip                     /* not delegated: hidden */
	CHECK_EQ(a0, 0)
	csrr a0, mip
	andi a0, a0, 2
	CHECK_EQ(a0, 2)
	csrci mip, 2
	TEST(44)                         /* S writes sip.SSIP when delegated */
	li t0, 0x222
	csrw mideleg, t0
	CLEAR_TRAPS
	EXPECT_TRAP(16f)
	GOTO_S(17f)
17:	csrsi sip, 2
	csrr a0, sip
	csrr a1, sie
	csrci sip, 2
	csrr a2, sip
	ecall
16:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_EQ(a0, 2)
	CHECK_EQ(a1, 0)
	CHECK_EQ(a2, 0)
	csrr a0, mip
	andi a0, a0, 2
	CHECK_EQ(a0, 0)
	csrwi mideleg, 0

	/* ---- mip writability from M ------------------------------------ */
	TEST(45)
	li t0, 1 << 63
	csrc menvcfg, t0                 /* STCE = 0: STIP is writable */
	li s0, CLINT_BASE + CLINT_MTIMECMP
	li t0, -1
	sd t0, 0(s0)
	csrw mip, zero
	li t0, (1 << IRQ_SSI) | (1 << IRQ_STI)
	csrs mip, t0
	csrr a0, mip
	CHECK_REG(a0, t0)
	TEST(46)                         /* MTIP, MSIP, MEIP are read-only */
	csrw mip, zero
	li t0, (1 << IRQ_MTI) | (1 << IRQ_MSI) | (1 << IRQ_MEI)
	csrs mip, t0
	csrr a0, mip
	CHECK_EQ(a0, 0)
	RVTEST_PASS
RVTEST_CODE_END
