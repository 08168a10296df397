/* zicntr.S - Zicntr: cycle/instret move forward, mcycle/minstret are
 * writable in M, and mcounteren / scounteren gate S- and U-mode reads
 * (priv 3.1.11, 4.1.4).  The time CSR is covered by zicntr_time.S. */
#include "test.h"

RVTEST_CODE_BEGIN
	TEST(1)
	rdcycle a0
	nop
	nop
	rdcycle a1
	bltu a0, a1, 1f
	j fail
1:	TEST(2)
	rdinstret a0
	nop
	nop
	rdinstret a1
	sub a2, a1, a0
	li t0, 3
	bgeu a2, t0, 2f
	j fail
2:	/* checks 3-4 (time) are in zicntr_time.S: QEMU's spike board has
	 * no time CSR (rdtime is illegal there). */
	TEST(5)                 /* minstret is writable */
	li a0, 1000000
	csrw minstret, a0
	csrr a1, minstret
	sub a2, a1, a0          /* QEMU counts host ticks: be generous */
	li t0, 1 << 40
	bltu a2, t0, 8f
	j fail
8:	TEST(6)
	li a0, 1 << 40
	csrw mcycle, a0
	csrr a1, mcycle
	bgeu a1, a0, 9f
	j fail
9:	/* gating */
	TEST(7)                 /* S with mcounteren = 7 may read all three */
	csrwi mcounteren, 7
	csrwi scounteren, 0
	CLEAR_TRAPS
	EXPECT_TRAP(10f)
	GOTO_S(11f)
11:	rdcycle a0
	rdinstret a0
	ecall
10:	CHECK_MCAUSE(CAUSE_ECALL_S)
	CHECK_MCOUNT(1)
#define GATED(n, prv, inst) \
	TEST(n); CLEAR_TRAPS; EXPECT_TRAP(12f); GOTO_MODE(prv, 13f); \
13:	inst a0; j fail; \
12:	CHECK_MCAUSE(CAUSE_ILLEGAL); CHECK_MEPC(13b)
	GATED(8, PRV_U, rdcycle)    /* scounteren = 0 */
	GATED(10, PRV_U, rdinstret)
	csrwi mcounteren, 0
	csrwi scounteren, 7
	GATED(11, PRV_S, rdcycle)
	GATED(13, PRV_S, rdinstret)
	GATED(14, PRV_U, rdcycle)   /* mcounteren gates U too */
	csrwi mcounteren, 5         /* CY and IR only */
	TEST(16)
	CLEAR_TRAPS
	EXPECT_TRAP(14f)
	GOTO_U(15f)
15:	rdcycle a0
	rdinstret a0
	ecall
14:	CHECK_MCAUSE(CAUSE_ECALL_U)
	CHECK_MCOUNT(1)
	csrwi mcounteren, 7
	TEST(17)                    /* M is never gated */
	csrwi mcounteren, 0
	rdcycle a0
	rdinstret a0
	csrwi mcounteren, 7
	RVTEST_PASS
RVTEST_CODE_END
