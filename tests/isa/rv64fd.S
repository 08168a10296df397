/* rv64fd.S - F and D: arithmetic, fflags, static and dynamic rounding,
 * NaN boxing and canonical NaNs, moves, fclass, saturating conversions,
 * fmin/fmax, compares, FS tracking in mstatus (unpriv ch. 11-12,
 * priv 3.1.6.6). */
#include "test.h"

#define NX 1
#define UF 2
#define OF 4
#define DZ 8
#define NV 16

#define FS_(f, imm) li t0, imm; fmv.w.x f, t0
#define FD_(f, imm) li t0, imm; fmv.d.x f, t0
/* f must hold the NaN-boxed single imm32 */
#define CHECK_S(f, imm32) \
	fmv.x.d t5, f; CHECK_EQ(t5, (0xffffffff00000000 | (imm32)))
#define CHECK_D(f, imm) fmv.x.d t5, f; CHECK_EQ(t5, imm)
#define CHECK_FLAGS(v) csrr t5, fflags; CHECK_EQ(t5, v); csrwi fflags, 0

#define S_ONE 0x3f800000
#define S_TWO 0x40000000
#define S_THREE 0x40400000
#define S_CNAN 0x7fc00000
#define S_SNAN 0x7f800001
#define S_INF 0x7f800000
#define D_ONE 0x3ff0000000000000
#define D_TWO 0x4000000000000000
#define D_THREE 0x4008000000000000
#define D_CNAN 0x7ff8000000000000
#define D_SNAN 0x7ff0000000000001

RVTEST_CODE_BEGIN
	csrwi fcsr, 0
	/* basic arithmetic, exact => no flags */
	TEST(1)
	FS_(f1, S_ONE)
	FS_(f2, S_TWO)
	fadd.s f3, f1, f2
	CHECK_S(f3, S_THREE)
	CHECK_FLAGS(0)
	TEST(2)
	fsub.s f3, f1, f2
	CHECK_S(f3, 0xbf800000)
	TEST(3)
	fmul.s f3, f2, f2
	CHECK_S(f3, 0x40800000)
	TEST(4)
	FD_(f4, D_ONE)
	FD_(f5, D_TWO)
	fadd.d f6, f4, f5
	CHECK_D(f6, D_THREE)
	CHECK_FLAGS(0)
	TEST(5)
	fmadd.d f7, f5, f6, f4  /* 2*3+1 */
	CHECK_D(f7, 0x401c000000000000)
	TEST(6)
	fnmsub.s f3, f2, f2, f1  /* -(2*2)+1 */
	CHECK_S(f3, 0xc0400000)
	TEST(7)
	fmsub.s f3, f2, f2, f1   /* 2*2-1 */
	CHECK_S(f3, S_THREE)
	TEST(8)
	fnmadd.d f7, f5, f5, f4  /* -(2*2)-1 */
	CHECK_D(f7, 0xc014000000000000)
	TEST(9)
	FD_(f8, 0x4022000000000000)   /* 9.0 */
	fsqrt.d f9, f8
	CHECK_D(f9, D_THREE)
	CHECK_FLAGS(0)

	/* fflags: NX, DZ, NV, OF, UF */
	TEST(10)
	FS_(f1, S_ONE)
	FS_(f2, S_THREE)
	fdiv.s f3, f1, f2
	CHECK_S(f3, 0x3eaaaaab)
	CHECK_FLAGS(NX)
	TEST(11)
	fmv.w.x f2, zero
	fdiv.s f3, f1, f2
	CHECK_S(f3, S_INF)
	CHECK_FLAGS(DZ)
	TEST(12)
	FS_(f1, 0xbf800000)
	fsqrt.s f3, f1
	CHECK_S(f3, S_CNAN)
	CHECK_FLAGS(NV)
	TEST(13)
	FS_(f1, 0x7f7fffff)     /* FLT_MAX */
	fadd.s f3, f1, f1
	CHECK_S(f3, S_INF)
	CHECK_FLAGS(OF | NX)
	TEST(14)
	FS_(f1, 0x00800000)     /* FLT_MIN */
	FS_(f2, 0x3f000000)     /* 0.5 */
	fmul.s f3, f1, f2        /* exact subnormal: no UF (tininess+inexact) */
	CHECK_S(f3, 0x00400000)
	CHECK_FLAGS(0)
	TEST(15)
	FS_(f2, 0x3eaaaaab)
	fmul.s f3, f1, f2        /* inexact tiny => UF|NX */
	CHECK_FLAGS(UF | NX)
	TEST(16)
	FS_(f1, S_INF)
	fsub.s f3, f1, f1
	CHECK_S(f3, S_CNAN)
	CHECK_FLAGS(NV)
	/* fflags accumulate; fsflags/frflags aliases */
	TEST(17)
	li a0, 0x1f
	fsflags a1, a0
	CHECK_EQ(a1, 0)
	frflags a2
	CHECK_EQ(a2, 0x1f)
	csrr a3, fcsr
	CHECK_EQ(a3, 0x1f)
	csrwi fcsr, 0

	/* static rounding modes */
	TEST(18)
	FD_(f1, D_ONE)
	FD_(f2, D_THREE)
	fdiv.d f3, f1, f2, rup
	CHECK_D(f3, 0x3fd5555555555556)
	TEST(19)
	fdiv.d f3, f1, f2, rdn
	CHECK_D(f3, 0x3fd5555555555555)
	TEST(20)
	fdiv.d f3, f1, f2, rtz
	CHECK_D(f3, 0x3fd5555555555555)
	csrwi fflags, 0
	/* fcvt.w.s of 2.5 and -2.5 in every mode */
#define CVT(n, src, rm, exp) TEST(n); FS_(f1, src); fcvt.w.s a0, f1, rm; \
	CHECK_EQ(a0, exp)
	CVT(21, 0x40200000, rne, 2)
	CVT(22, 0x40200000, rtz, 2)
	CVT(23, 0x40200000, rdn, 2)
	CVT(24, 0x40200000, rup, 3)
	CVT(25, 0x40200000, rmm, 3)
	CVT(26, 0xc0200000, rne, -2)
	CVT(27, 0xc0200000, rdn, -3)
	CVT(28, 0xc0200000, rup, -2)
	CVT(29, 0xc0200000, rmm, -3)
	CVT(30, 0x40600000, rne, 4)      /* 3.5 -> 4 (even) */
	CHECK_FLAGS(NX)
	/* dynamic rounding through frm */
	TEST(31)
	FS_(f1, S_ONE)
	FS_(f2, 0x33800000)      /* 2^-24: 1 + 2^-24 is a tie */
	fsrmi a1, 2              /* RDN */
	CHECK_EQ(a1, 0)
	fadd.s f3, f1, f2        /* dyn */
	CHECK_S(f3, S_ONE)
	TEST(32)
	fsrmi 3                  /* RUP */
	fadd.s f3, f1, f2
	CHECK_S(f3, 0x3f800001)
	TEST(33)
	frrm a2
	CHECK_EQ(a2, 3)
	csrr a3, fcsr
	CHECK_EQ(a3, (3 << 5) | NX)
	TEST(34)
	fsrmi 0                  /* RNE: tie to even */
	fadd.s f3, f1, f2
	CHECK_S(f3, S_ONE)
	TEST(35)
	fsrmi 4                  /* RMM: tie away */
	fadd.s f3, f1, f2
	CHECK_S(f3, 0x3f800001)
	TEST(36)
	fsrmi 1                  /* RTZ */
	FS_(f4, 0x40200000)
	fcvt.w.s a0, f4          /* dyn */
	CHECK_EQ(a0, 2)
	/* invalid frm with a dynamic-rm instruction => illegal */
	TEST(37)
	fsrmi 5
	CLEAR_TRAPS
	EXPECT_TRAP_SKIP
	fadd.s f3, f1, f2
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	TEST(38)
	fsrmi 7
	EXPECT_TRAP_SKIP
	fadd.d f3, f1, f2
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	csrwi fcsr, 0
	/* reserved static rm 5 => illegal (fadd.s f3,f1,f2 with rm=5) */
	TEST(39)
	CLEAR_TRAPS
	EXPECT_TRAP_SKIP
	.insn r 0x53, 5, 0x00, f3, f1, f2
	CHECK_MCAUSE(CAUSE_ILLEGAL)

	/* NaN boxing */
	TEST(40)
	li a0, 0x000000003f800000      /* not boxed */
	fmv.d.x f1, a0
	fadd.s f3, f1, f1
	CHECK_S(f3, S_CNAN)
	TEST(41)
	fmv.x.w a1, f1                 /* transfer op: raw low bits */
	CHECK_EQ(a1, 0x3f800000)
	TEST(42)
	fsgnjn.s f3, f1, f1            /* unboxed inputs act as canonical NaN */
	CHECK_S(f3, 0xffc00000)
	TEST(43)
	li a0, 0xbf800000
	fmv.w.x f1, a0                 /* boxes */
	fmv.x.d a1, f1
	CHECK_EQ(a1, 0xffffffffbf800000)
	fmv.x.w a2, f1                 /* sign-extends */
	CHECK_EQ(a2, 0xffffffffbf800000)
	TEST(44)
	la s0, fdata
	li a0, 0x40400000
	sw a0, 0(s0)
	flw f2, 0(s0)
	CHECK_S(f2, S_THREE)
	TEST(45)
	fsw f1, 4(s0)                  /* fsw stores the low 32 bits */
	lwu a1, 4(s0)
	CHECK_EQ(a1, 0xbf800000)
	TEST(46)
	li a0, 0x123456789abcdef0
	sd a0, 8(s0)
	fld f3, 8(s0)
	fsd f3, 16(s0)
	ld a1, 16(s0)
	CHECK_EQ(a1, 0x123456789abcdef0)
	TEST(47)
	fcvt.d.s f4, f1                /* -1.0f -> -1.0 */
	CHECK_D(f4, 0xbff0000000000000)
	TEST(48)
	FD_(f4, D_THREE)
	fcvt.s.d f5, f4
	CHECK_S(f5, S_THREE)
	TEST(49)
	FS_(f1, S_SNAN)
	fcvt.d.s f4, f1
	CHECK_D(f4, D_CNAN)
	CHECK_FLAGS(NV)
	TEST(50)                          /* sign injection on doubles */
	FD_(f1, D_ONE)
	FD_(f2, 0x8000000000000000)
	fsgnj.d f3, f1, f2
	CHECK_D(f3, 0xbff0000000000000)
	fsgnjx.d f3, f3, f2
	CHECK_D(f3, D_ONE)
	fabs.d f3, f2
	CHECK_D(f3, 0)

	/* fclass */
#define CLS_S(n, v, bit) TEST(n); FS_(f1, v); fclass.s a0, f1; CHECK_EQ(a0, 1 << (bit))
#define CLS_D(n, v, bit) TEST(n); FD_(f1, v); fclass.d a0, f1; CHECK_EQ(a0, 1 << (bit))
	CLS_S(51, 0xff800000, 0)
	CLS_S(52, 0xbf800000, 1)
	CLS_S(53, 0x80000001, 2)
	CLS_S(54, 0x80000000, 3)
	CLS_S(55, 0x00000000, 4)
	CLS_S(56, 0x00000001, 5)
	CLS_S(57, 0x3f800000, 6)
	CLS_S(58, 0x7f800000, 7)
	CLS_S(59, 0x7f800001, 8)
	CLS_S(60, 0x7fc00000, 9)
	CLS_D(61, 0xfff0000000000000, 0)
	CLS_D(62, 0x000fffffffffffff, 5)
	CLS_D(63, 0x7ff0000000000001, 8)
	CLS_D(64, 0x7ff8000000000000, 9)
	TEST(65)                     /* unboxed single classifies as qNaN */
	li a0, 0x3f800000
	fmv.d.x f1, a0
	fclass.s a1, f1
	CHECK_EQ(a1, 1 << 9)

	/* saturating conversions */
	csrwi fflags, 0
#define SAT(n, inst, fp, v, exp, flags) TEST(n); fp(f1, v); \
	inst a0, f1, rtz; CHECK_EQ(a0, exp); CHECK_FLAGS(flags)
	SAT(66, fcvt.w.s, FS_, 0x4f32d05e, 0x7fffffff, NV)       /* 3e9 */
	SAT(67, fcvt.w.s, FS_, 0xff800000, 0xffffffff80000000, NV)
	SAT(68, fcvt.w.s, FS_, S_CNAN, 0x7fffffff, NV)
	SAT(69, fcvt.wu.s, FS_, 0xbf800000, 0, NV)
	SAT(70, fcvt.wu.s, FS_, 0x4f32d05e, 0xffffffffb2d05e00, 0) /* sext */
	SAT(71, fcvt.wu.s, FS_, 0xbf000000, 0, NX)                 /* -0.5 */
	SAT(72, fcvt.l.d, FD_, D_CNAN, 0x7fffffffffffffff, NV)
	SAT(73, fcvt.l.d, FD_, 0xc3e0000000000001, 0x8000000000000000, NV)
	SAT(74, fcvt.lu.d, FD_, 0x7ff0000000000000, -1, NV)
	SAT(75, fcvt.lu.d, FD_, 0xbff0000000000000, 0, NV)
	SAT(76, fcvt.l.s, FS_, 0xff800000, 0x8000000000000000, NV)
	SAT(77, fcvt.w.d, FD_, 0x41e0000000000000, 0x7fffffff, NV)  /* 2^31 */
	SAT(78, fcvt.w.d, FD_, 0xc1e0000000000000, 0xffffffff80000000, 0)
	TEST(79)
	li a0, -7
	fcvt.s.w f1, a0
	CHECK_S(f1, 0xc0e00000)
	fcvt.d.lu f2, a0             /* 2^64-7 rounds */
	CHECK_D(f2, 0x43f0000000000000)
	CHECK_FLAGS(NX)
	TEST(80)
	li a0, 0xffffffff
	fcvt.s.wu f1, a0
	CHECK_S(f1, 0x4f800000)
	csrwi fflags, 0

	/* fmin/fmax, compares */
	TEST(81)
	FS_(f1, 0x80000000)
	fmv.w.x f2, zero
	fmin.s f3, f1, f2
	CHECK_S(f3, 0x80000000)
	fmax.s f3, f1, f2
	CHECK_S(f3, 0)
	TEST(82)
	FS_(f1, S_CNAN)
	FS_(f2, S_ONE)
	fmin.s f3, f1, f2
	CHECK_S(f3, S_ONE)
	CHECK_FLAGS(0)
	TEST(83)
	FS_(f1, S_SNAN)
	fmax.s f3, f1, f2
	CHECK_S(f3, S_ONE)
	CHECK_FLAGS(NV)
	TEST(84)
	fmax.s f3, f1, f1
	CHECK_S(f3, S_CNAN)
	CHECK_FLAGS(NV)
	TEST(85)
	FD_(f1, D_CNAN)
	FD_(f2, D_ONE)
	feq.d a0, f1, f2
	CHECK_EQ(a0, 0)
	CHECK_FLAGS(0)
	flt.d a0, f1, f2
	CHECK_EQ(a0, 0)
	CHECK_FLAGS(NV)
	TEST(86)
	FD_(f1, D_SNAN)
	feq.d a0, f1, f1
	CHECK_EQ(a0, 0)
	CHECK_FLAGS(NV)
	TEST(87)
	FS_(f1, 0x80000000)
	fmv.w.x f2, zero
	feq.s a0, f1, f2             /* -0 == +0 */
	CHECK_EQ(a0, 1)
	fle.s a0, f2, f1
	CHECK_EQ(a0, 1)
	flt.s a0, f1, f2
	CHECK_EQ(a0, 0)
	CHECK_FLAGS(0)

	/* FS tracking */
	TEST(88)
	li t0, MSTATUS_FS
	csrc mstatus, t0               /* FS = Off */
	CLEAR_TRAPS
	EXPECT_TRAP_SKIP
	fadd.s f3, f1, f2
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	TEST(89)
	EXPECT_TRAP_SKIP
	csrr a0, fcsr
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	TEST(90)
	EXPECT_TRAP_SKIP
	fld f1, 0(s0)
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	TEST(91)
	EXPECT_TRAP_SKIP
	fmv.x.d a0, f1
	CHECK_MCAUSE(CAUSE_ILLEGAL)
	CHECK_MCOUNT(4)
	TEST(92)
	csrr a0, mstatus
	srli a0, a0, 63
	CHECK_EQ(a0, 0)                /* SD clear with FS off (XS=0) */
	TEST(93)
	li t0, MSTATUS_FS_INIT         /* Initial */
	csrs mstatus, t0
	fadd.s f3, f1, f2
	csrr a0, mstatus
	li t0, MSTATUS_FS
	and a1, a0, t0
	CHECK_EQ(a1, MSTATUS_FS_DIRTY)
	srli a0, a0, 63
	CHECK_EQ(a0, 1)
	TEST(94)
	li t0, MSTATUS_FS
	csrc mstatus, t0
	li t0, 0x4000                  /* Clean */
	csrs mstatus, t0
	csrwi fflags, 0                /* a CSR write dirties */
	csrr a0, mstatus
	li t0, MSTATUS_FS
	and a1, a0, t0
	CHECK_EQ(a1, MSTATUS_FS_DIRTY)
	TEST(95)
	li t0, MSTATUS_FS
	csrc mstatus, t0
	li t0, 0x4000
	csrs mstatus, t0
	fld f1, 8(s0)                  /* a load dirties */
	csrr a0, mstatus
	li t0, MSTATUS_FS
	and a1, a0, t0
	CHECK_EQ(a1, MSTATUS_FS_DIRTY)
	TEST(96)                       /* sstatus mirrors FS and SD */
	csrr a0, sstatus
	li t0, MSTATUS_FS
	and a1, a0, t0
	CHECK_EQ(a1, MSTATUS_FS_DIRTY)
	srli a0, a0, 63
	CHECK_EQ(a0, 1)
	RVTEST_PASS
RVTEST_CODE_END

	.data
	.align 4
fdata:
	.zero 32
