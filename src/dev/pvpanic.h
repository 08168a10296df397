/*
 * pvpanic, MMIO form (device tree compatible "qemu,pvpanic-mmio", as QEMU
 * and Linux's drivers/misc/pvpanic name it): a one-byte register at offset
 * 0 through which a guest kernel built with CONFIG_PVPANIC_MMIO reports
 * that it panicked.
 *
 *   read   the events the device supports: PANICKED | CRASH_LOADED
 *   write  the events that happened: PANICKED (the kernel panicked),
 *          CRASH_LOADED (it panicked and a crash kernel takes over: the
 *          guest goes on, nothing to do). Unknown bits are ignored.
 *
 * Only byte accesses at offset 0 act; everything else reads 0 and is
 * ignored. No guest-visible state (nothing to save). Callbacks run on the
 * storing hart's thread; the board must not stop the VM from there
 * synchronously.
 */
#ifndef SV_DEV_PVPANIC_H
#define SV_DEV_PVPANIC_H

#include "mem/gmem.h"
#include "util/error.h"

#define PVPANIC_PANICKED     (1u << 0)
#define PVPANIC_CRASH_LOADED (1u << 1)
#define PVPANIC_MMIO_SIZE    0x1000ULL

struct pvpanic;

struct pvpanic_ops {
	/* events: the PVPANIC_* bits the guest wrote (never 0) */
	void (*event)(void *opaque, unsigned events);
};

struct pvpanic *pvpanic_create(const struct pvpanic_ops *ops, void *opaque,
			       struct error *err);
void pvpanic_destroy(struct pvpanic *p);
const struct mmio_ops *pvpanic_mmio_ops(void);

#endif
