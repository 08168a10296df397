/*
 * libFuzzer target: the built-in SBI (src/machine/sbi.c), the ECALL
 * interface an S-mode guest kernel reaches directly. A two-hart machine
 * of real harts and guest RAM (tests/unit/machine/sbi_machine.h); the
 * input is first copied into guest RAM (hart masks and console buffers
 * are read from there), then read as a sequence of calls of 32 bytes:
 *
 *   byte 0      extension: an index into the known EIDs, or 0xff then a
 *               raw EID in bytes 4..7
 *   byte 1      function id
 *   byte 2      bit n set: argument n points into RAM (RAM base + value
 *               modulo the RAM size), else it is used as is
 *   bytes 8..31 a0, a1, a2
 *
 * Hart 0 makes every call; after each, the harts go back to "0 started,
 * 1 stopped" (a started hart 1 has no thread here to serve a remote
 * fence). Checks: a standard extension's error is 0 or an SBI error code
 * (-1..-13), never anything else; ASan/UBSan catch the rest.
 *
 * Build and run: tools/fuzz sbi.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/hart.h"
#include "machine/virt_impl.h"
#include "mem/gmem.h"
#include "util/log.h"
#include "../unit/machine/sbi_machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)

static const uint32_t eids[] = {
	0x00,	    0x01,	0x02,	    0x03,	0x04,
	0x05,	    0x06,	0x07,	    0x08,	0x10,
	0x54494d45, 0x735049,	0x52464e43, 0x48534d,	0x53525354,
	0x504d55,   0x4442434e, 0x53555350, 0x43505043, 0x4e41434c,
};

static struct virt *vm;

static void init(void)
{
	log_set_file(fopen("/dev/null", "w"));
	vm = sbi_machine_new(RAM_BASE, RAM_SIZE);
	CHECK(vm);
}

static uint64_t u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!vm)
		init();
	for (unsigned i = 0; i < 2; i++)
		hart_reset(vm->harts[i].h, RAM_BASE, PRIV_S);
	atomic_store(&vm->event, VIRT_EV_NONE);
	CHECK(gmem_write(vm->mem, RAM_BASE, data,
			 size < RAM_SIZE ? size : RAM_SIZE) == 0);

	for (size_t off = 0; off + 32 <= size && off < 32 * 64; off += 32) {
		const uint8_t *c = data + off;
		struct hart *h = vm->harts[0].h;
		uint32_t eid;

		atomic_store(&vm->harts[0].hsm, HSM_STARTED);
		atomic_store(&vm->harts[1].hsm, HSM_STOPPED);
		if (c[0] == 0xff)
			memcpy(&eid, c + 4, 4);
		else
			eid = eids[c[0] % (sizeof(eids) / sizeof(eids[0]))];
		for (unsigned a = 0; a < 3; a++) {
			uint64_t v = u64(c + 8 + 8 * a);
			if (c[2] & (1u << a))
				v = RAM_BASE + v % RAM_SIZE;
			hart_set_reg(h, 10 + a, v);
		}
		hart_set_reg(h, 16, c[1]);
		hart_set_reg(h, 17, eid);
		sbi_handle(&vm->harts[0], h);
		int64_t err = (int64_t)hart_get_reg(h, 10);
		if (eid >= 0x10)
			CHECK(err <= 0 && err >= -13);
	}
	return 0;
}
