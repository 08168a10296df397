/*
 * End-to-end differential test of the emulated instruction path: shared
 * declarations of the bare-metal riscv64 program (see README in meson.build
 * and cpudiff.py). The program runs the real M, Zba/Zbb/Zbs, F and D
 * instructions on edge-biased pseudo-random inputs, folds every result and
 * fflags into one hash per operation and prints `<op> <hash>` per line, so
 * the same ELF can be compared between Softvisor and QEMU.
 *
 * Two compilation units on purpose: support.c (PRNG, hash, generators,
 * output) is built without M, C and the bit-manipulation extensions and
 * uses no multiply or divide, so a wrong instruction in Softvisor shows up
 * as that instruction's line, not as every line; ops_*.c hold the
 * instructions under test.
 *
 * Single-threaded, M-mode only; nothing here is shared with the host.
 */
#ifndef SV_TESTS_DIFF_CPU_CPUDIFF_H
#define SV_TESTS_DIFF_CPU_CPUDIFF_H

#include <stdint.h>

/* Kinds of operand, which also select the input generator. */
enum cpudiff_kind {
	K_NONE = 0,
	K_X,	/* 64-bit integer */
	K_IMM5, /* shift immediate 0..31 */
	K_IMM6, /* shift immediate 0..63 */
	K_S,	/* binary32 in an f register, NaN-boxed (mostly) */
	K_D,	/* binary64 in an f register */
};

/* Per-op input filters (QEMU 7.2 deviations, see cpudiff.py). */
enum cpudiff_op_flags {
	/* ctzw: QEMU 7.2 returns ctz64 instead of 32 when the low word is
	 * zero; such inputs are not generated for this op. */
	OPF_LOW_WORD_NONZERO = 1u << 0,
	/* FP op: the rm argument goes to frm, which the instruction reads
	 * (dynamic rounding); for static modes frm holds a random other
	 * mode to prove it is ignored. */
	OPF_FP = 1u << 1,
	/* The op expects an illegal-instruction trap for some rm: rm is
	 * drawn from 0..7 instead of 0..4. */
	OPF_RM_ANY = 1u << 2,
};

/* Result of one executed instruction. */
struct cpudiff_res {
	uint64_t val;
	uint64_t fflags; /* fflags read after the op (then cleared) */
};

typedef struct cpudiff_res (*cpudiff_fn)(uint64_t a, uint64_t b, uint64_t c,
					 uint64_t rm);

struct cpudiff_op {
	const char *name;
	uint8_t kind[3]; /* enum cpudiff_kind of a, b, c */
	uint8_t flags;	 /* enum cpudiff_op_flags */
	cpudiff_fn fn;
};

/* Tables of operations (ops_int.c, ops_fp.c). */
extern const struct cpudiff_op cpudiff_int_ops[];
extern const unsigned cpudiff_n_int_ops;
extern const struct cpudiff_op cpudiff_fp_ops[];
extern const unsigned cpudiff_n_fp_ops;

/* Armed by an op that expects a trap: the trap handler (crt.S) records
 * mcause here, disarms and skips the 4-byte instruction. */
extern volatile uint64_t cpudiff_trap_armed;
extern volatile uint64_t cpudiff_trap_cause;

#endif
