/* zifencei_nofence.S - Softvisor promise beyond the spec: on the SAME
 * hart, a store to code is visible to the next fetch of that code even
 * without FENCE.I (decoded-block invalidation on stores to code pages),
 * including an instruction later in the block being executed.  The
 * unprivileged spec does not require this, so it is registered for
 * Softvisor only (QEMU 7.2 TCG passes checks 1-2 but not 3: it finishes
 * the translation block it is executing). */
#include "test.h"

#define LI_A0(v) (0x00000513 | ((v) << 20))

RVTEST_CODE_BEGIN
	la s0, patch
	TEST(1)
	jal patch
	CHECK_EQ(a0, 1)
	li s1, 2
1:	TEST(2)
	li t0, LI_A0(0)
	slli t1, s1, 20
	or t0, t0, t1
	sw t0, 0(s0)
	jal patch
	CHECK_REG(a0, s1)
	addi s1, s1, 1
	li t0, 10
	blt s1, t0, 1b
	TEST(3)                 /* patch a later instruction of this block */
	la s2, 2f
	li t0, LI_A0(99)
	li a0, 0
	sw t0, 0(s2)
	nop
2:	li a0, 5                /* replaced by li a0, 99 before it runs */
	CHECK_EQ(a0, 99)
	TEST(4)                 /* a loop whose body is rewritten each turn */
	la s2, 3f
	li s1, 0
	li a1, 0
4:	li t0, 0x00158593       /* addi a1, a1, 1 */
	slli t1, s1, 20
	add t0, t0, t1          /* addi a1, a1, 1 + s1 */
	sw t0, 0(s2)
3:	nop
	addi s1, s1, 1
	li t0, 5
	blt s1, t0, 4b
	CHECK_EQ(a1, 1 + 2 + 3 + 4 + 5)
	RVTEST_PASS

	.align 3
patch:
	li a0, 1
	ret
RVTEST_CODE_END
