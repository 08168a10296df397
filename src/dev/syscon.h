/*
 * Power/reset control register (`syscon`, compatible with QEMU's
 * "sifive,test0" finisher) at 0x0010_0000, size 0x1000. One 32-bit register
 * at offset 0, as Linux's `syscon-poweroff` and `syscon-reboot` drivers use
 * it through a regmap:
 *
 *   0x5555            power off, exit code 0   (syscon-poweroff value)
 *   0x7777            reboot                   (syscon-reboot value)
 *   0x3333 | code<<16 power off "failed" with exit code `code` (1..65535;
 *                     code 0 is reported as 1 so a failure never looks
 *                     like success)
 *
 * Other values and offsets are ignored; reads return 0 (regmap's
 * read-modify-write of the whole register then writes the value as is).
 * Accesses of 4 or 8 bytes at offset 0 use the low 32 bits; a 2-byte write
 * acts with code 0; 1-byte writes are ignored.
 *
 * The device has no guest-visible state (nothing to save).
 * Thread safety: the callbacks run on the thread of the guest store (a hart),
 * without any device lock; the board must stop the VM from there.
 */
#ifndef SV_DEV_SYSCON_H
#define SV_DEV_SYSCON_H

#include "mem/gmem.h"
#include "util/error.h"

#define SYSCON_BASE	 0x00100000ULL
#define SYSCON_MMIO_SIZE 0x1000ULL
#define SYSCON_FAIL	 0x3333
#define SYSCON_POWEROFF	 0x5555
#define SYSCON_REBOOT	 0x7777

struct syscon;

struct syscon_ops {
	void (*on_poweroff)(void *opaque, int exit_code);
	void (*on_reboot)(void *opaque);
};

/* Create; ops is copied, opaque is passed to the callbacks. Returns NULL
 * (err set) if out of memory. */
struct syscon *syscon_create(const struct syscon_ops *ops, void *opaque,
			     struct error *err);
/* Free the device (NULL is fine). */
void syscon_destroy(struct syscon *s);

/* The MMIO callbacks; pass the syscon as opaque. */
const struct mmio_ops *syscon_mmio_ops(void);

#endif
