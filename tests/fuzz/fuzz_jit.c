/*
 * libFuzzer target of the translator: the input is a program (and its
 * initial registers); it runs under the interpreter and under the
 * translator from the same state, and any difference in registers, CSRs
 * or memory aborts (tests/diff/jitdiff.h has the machine and the
 * comparison). Input layout: 32 x 8 bytes of x registers (the reserved
 * ones are overwritten), 1 byte of JIT threshold (bits 0-1) and F/D state
 * (bit 2), then instruction words.
 */
#include <stddef.h>
#include <stdint.h>

#include "../diff/jitdiff.h"

static struct jd_side interp, jit;
static struct jd_prog prog;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		vclock_init(&jd_clock);
		if (jd_side_init(&interp, false) || jd_side_init(&jit, true))
			abort();
		ready = true;
	}
	if (size < 32 * 8 + 1 + 4)
		return 0;
	/* data, f registers, frm; from the threshold byte's bit 2, the
	 * state the translator's inline F and D need (jd_fp_generate) */
	if (data[32 * 8] & 4)
		jd_fp_generate(&prog, 1, 1);
	else
		jd_generate(&prog, 1, 1);
	memcpy(prog.x, data, 32 * 8);
	prog.x[0] = 0;
	prog.x[1] = JD_DATA;
	prog.x[2] = JD_CODE;
	prog.x[3] = 0;
	prog.x[5] = JD_RAM_BASE + JD_RAM_SIZE - 1024;
	prog.jit_hot = 1 + data[32 * 8] % 3;
	data += 32 * 8 + 1;
	size -= 32 * 8 + 1;
	prog.n = (unsigned)(size / 4);
	if (prog.n > 500)
		prog.n = 500;
	memcpy(prog.code, data, prog.n * 4);
	prog.budget = 50 * prog.n + 100;
	char why[160];
	if (!jd_check(&interp, &jit, &prog, why, sizeof(why))) {
		fprintf(stderr, "fuzz_jit: engines differ: %s\n", why);
		abort();
	}
	return 0;
}
