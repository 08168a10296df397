/* priv_pmp.S - physical memory protection (priv 3.7): 16 entries,
 * OFF/TOR/NA4/NAPOT, priority of the lowest matching entry, partial
 * matches fail, no match fails for S/U, unlocked entries do not bind M,
 * the lock bit binds M and freezes the entry (and the TOR base below). */
#include "test.h"

#define A_OFF 0x00
#define A_TOR 0x08
#define A_NA4 0x10
#define A_NAPOT 0x18
#define P_R 1
#define P_W 2
#define P_X 4
#define P_L 0x80

/* set cfg byte of entry i (0-7 in pmpcfg0, 8-15 in pmpcfg2) */
#define CFG0(i, v) li t0, 0xff << (8 * (i)); csrc pmpcfg0, t0; \
	li t0, (v) << (8 * (i)); csrs pmpcfg0, t0; sfence.vma
#define CFG2(i, v) li t0, 0xff << (8 * ((i) - 8)); csrc pmpcfg2, t0; \
	li t0, (v) << (8 * ((i) - 8)); csrs pmpcfg2, t0; sfence.vma
/* NAPOT address of a naturally aligned region: pmpaddr = base>>2 | (size/8-1) */
#define NAPOT(reg, label, size) la reg, label; srli reg, reg, 2; \
	ori reg, reg, ((size) / 8 - 1)

#define ECALL_CAUSE(prv) (8 + (prv))
#define FAULT_IN(n, prv, cause, ...) \
	TEST(n); CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_MODE(prv, 2f); \
2:	__VA_ARGS__; j fail; \
1:	CHECK_MCAUSE(cause); CHECK_MEPC(2b)
#define OK_IN(n, prv, ...) \
	TEST(n); CLEAR_TRAPS; EXPECT_TRAP(1f); GOTO_MODE(prv, 2f); \
2:	__VA_ARGS__; ecall; j fail; \
1:	CHECK_MCAUSE(ECALL_CAUSE(prv))

RVTEST_CODE_BEGIN
	/* catch-all RWX in entry 15, everything else off */
	li t0, -1
	csrw pmpaddr15, t0
	csrw pmpcfg0, zero
	CFG2(15, A_NAPOT | P_R | P_W | P_X)
	la s0, pmp_page
	li t0, 0x800
	add s1, s0, t0                  /* s1 = pmp_page + 0x800 */
	li t0, 0x1000
	add s2, s0, t0                  /* s2 = pmp_page2 */
	li a0, 0x1234
	sd a0, 0(s0)
	sd a0, 0x100(s0)
	sd a0, 0(s1)
	TEST(1)                         /* all 16 pmpaddr registers exist */
	li t0, 0x1000
	csrw pmpaddr14, t0
	csrr a0, pmpaddr14
	CHECK_EQ(a0, 0x1000)
	csrw pmpaddr14, zero

	/* NAPOT read-only page */
	NAPOT(t1, pmp_page, 4096)
	csrw pmpaddr0, t1
	CFG0(0, A_NAPOT | P_R)
	OK_IN(2, PRV_S, ld a1, 0(s0))
	CHECK_EQ(a1, 0x1234)
	FAULT_IN(3, PRV_S, CAUSE_STORE_ACCESS, sd a1, 8(s0))
	addi t4, s0, 8
	CHECK_MTVAL_REG(t4)
	FAULT_IN(4, PRV_U, CAUSE_STORE_ACCESS, amoadd.d a1, a1, (s0))
	TEST(5)                         /* not locked: M ignores it */
	sd a0, 16(s0)
	/* execute-only */
	CFG0(0, A_NAPOT | P_X)
	FAULT_IN(6, PRV_U, CAUSE_LOAD_ACCESS, lw a1, 0(s1))
	CHECK_MTVAL_REG(s1)
	/* code in the page: runs only with X */
	li t0, 0x00008067               /* ret */
	sw t0, 0x400(s0)
	fence.i
	OK_IN(7, PRV_S, addi t2, s0, 0x400; jalr t2)
	CFG0(0, A_NAPOT | P_R | P_W)
	TEST(8)
	CLEAR_TRAPS
	addi t2, s0, 0x400
	EXPECT_TRAP(3f)
	GOTO_S(4f)
4:	jalr t2
	j fail
3:	CHECK_MCAUSE(CAUSE_FETCH_ACCESS)
	CHECK_MTVAL_REG(t2)
	CHECK_SAVE_REG(M_EPC, t2)
	OK_IN(9, PRV_U, sd a0, 24(s0))

	/* TOR: [pmp_page, pmp_page + 0x800) no access; entry 0 is OFF but
	 * supplies the base */
	la t1, pmp_page
	srli t1, t1, 2
	csrw pmpaddr0, t1
	addi t1, t1, 0x800 >> 2
	csrw pmpaddr1, t1
	CFG0(0, A_OFF | P_R | P_W | P_X)   /* OFF: never matches itself */
	CFG0(1, A_TOR)
	FAULT_IN(10, PRV_S, CAUSE_LOAD_ACCESS, ld a1, 0x7f8(s0))
	OK_IN(11, PRV_S, ld a1, 0(s1))
	CHECK_EQ(a1, 0x1234)
	FAULT_IN(12, PRV_U, CAUSE_LOAD_ACCESS, lbu a1, 0(s0))
	/* priority: a lower entry granting access wins over entry 1 */
	NAPOT(t1, pmp_page, 4096)
	csrw pmpaddr0, t1
	CFG0(0, A_NAPOT | P_R)
	la t1, pmp_page
	srli t1, t1, 2
	csrw pmpaddr2, t1
	CFG0(1, A_OFF)
	OK_IN(13, PRV_S, ld a1, 0x100(s0))
	CFG0(0, A_OFF)
	/* TOR with base 0 (entry 0) */
	la t1, pmp_page
	srli t1, t1, 2
	csrw pmpaddr0, t1
	CFG0(0, A_TOR | P_R | P_W | P_X)   /* [0, pmp_page) */
	OK_IN(14, PRV_S, ld a1, -8(s0))
	CFG0(0, A_OFF)

	/* NA4 */
	addi t1, s0, 0x100
	srli t1, t1, 2
	csrw pmpaddr3, t1
	CFG0(3, A_NA4)
	FAULT_IN(15, PRV_S, CAUSE_LOAD_ACCESS, lw a1, 0x100(s0))
	OK_IN(16, PRV_S, lw a1, 0x104(s0); lw a2, 0xfc(s0))
	/* partial match fails, even with RWX */
	CFG0(3, A_NA4 | P_R | P_W | P_X)
	OK_IN(17, PRV_S, lw a1, 0x100(s0))
	FAULT_IN(18, PRV_S, CAUSE_LOAD_ACCESS, ld a1, 0x100(s0))
	CFG0(3, A_OFF)

	/* bigger NAPOT (8 KiB = pmp_page and pmp_page2) */
	NAPOT(t1, pmp_page, 8192)
	csrw pmpaddr4, t1
	CFG0(4, A_NAPOT)
	FAULT_IN(19, PRV_S, CAUSE_STORE_ACCESS, sd a1, 0x7f8(s2))
	FAULT_IN(20, PRV_S, CAUSE_LOAD_ACCESS, ld a1, 0(s0))
	CFG0(4, A_OFF)

	/* no matching entry: S/U fail, M succeeds */
	la t1, pmp_page
	srli t1, t1, 2
	csrw pmpaddr13, zero
	csrw pmpaddr14, t1
	CFG2(14, A_TOR | P_R | P_W | P_X)  /* [0, pmp_page): code, data */
	CFG2(15, A_OFF)
	FAULT_IN(21, PRV_S, CAUSE_LOAD_ACCESS, ld a1, 0(s0))
	TEST(22)
	ld a1, 0(s0)
	CFG2(15, A_NAPOT | P_R | P_W | P_X)
	CFG2(14, A_OFF)

	/* lock: applies to M, entry frozen */
	NAPOT(t1, pmp_page, 4096)
	csrw pmpaddr5, t1
	CFG0(5, A_NAPOT | P_R | P_L)
	TEST(23)
	CLEAR_TRAPS
	EXPECT_TRAP(5f)
6:	sd a0, 0(s0)
	j fail
5:	CHECK_MCAUSE(CAUSE_STORE_ACCESS)
	CHECK_MEPC(6b)
	TEST(24)
	ld a1, 0(s0)                    /* R still allowed in M */
	CHECK_EQ(a1, 0x1234)
	TEST(25)                        /* cfg and addr are frozen */
	CFG0(5, A_NAPOT | P_R | P_W | P_X)
	csrr a0, pmpcfg0
	srli a0, a0, 40
	andi a0, a0, 0xff
	CHECK_EQ(a0, A_NAPOT | P_R | P_L)
	csrr a2, pmpaddr5
	csrw pmpaddr5, zero
	csrr a3, pmpaddr5
	CHECK_REG(a2, a3)
	TEST(26)                        /* other entries still writable */
	li t0, 0x123
	csrw pmpaddr6, t0
	csrr a0, pmpaddr6
	CHECK_EQ(a0, 0x123)
	/* a locked TOR entry freezes the pmpaddr below it */
	TEST(27)
	la t1, pmp_page2
	srli t1, t1, 2
	csrw pmpaddr6, t1
	addi t1, t1, 1
	csrw pmpaddr7, t1
	CFG0(7, A_TOR | P_R | P_L)
	csrr a2, pmpaddr6
	csrw pmpaddr6, zero
	csrr a3, pmpaddr6
	CHECK_REG(a2, a3)
	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 12
pmp_page:
	.zero 4096
pmp_page2:
	.zero 4096
