/*
 * ACLINT / SiFive CLINT (`riscv,clint0`): the machine-level software
 * interrupt (MSWI) and timer (MTIMER) devices of the virt board, at
 * 0x0200_0000, size ACLINT_MMIO_SIZE.
 *
 *   0x0000 + 4*hart   msip[hart]      bit 0 drives the hart's MSIP input
 *   0x4000 + 8*hart   mtimecmp[hart]  64-bit, also as two 32-bit halves
 *   0xbff8            mtime           64-bit, read-only here (see below)
 *
 * The device knows no hart: the board passes, per hart, an irq_line for MSIP
 * and a pair of timer callbacks that store/load the hart's mtimecmp (the hart
 * itself raises MTIP while time >= mtimecmp). mtime is the VM's vclock; writes
 * to it are ignored, because the hart's `time` CSR reads the same vclock and
 * must stay equal to mtime (RISC-V ACLINT spec 1.0, section 3: mtime is shared
 * by all harts of the domain).
 *
 * Ownership: aclint_create copies the irq_line array and the ops struct; the
 * vclock and whatever the opaques point to must outlive the device.
 * Thread safety: the MMIO callbacks and aclint_save/aclint_load may be called
 * from any thread (a mutex serializes them). The MSIP irq_line sinks and the
 * timer ops are called with that mutex held: they must not call back into
 * the device.
 */
#ifndef SV_DEV_ACLINT_H
#define SV_DEV_ACLINT_H

#include <stdint.h>

#include "mem/gmem.h"
#include "util/error.h"
#include "util/irq.h"
#include "util/vclock.h"

#define ACLINT_BASE	    0x02000000ULL
#define ACLINT_MMIO_SIZE    0x10000ULL
#define ACLINT_MSIP_OFF	    0x0000
#define ACLINT_MTIMECMP_OFF 0x4000
#define ACLINT_MTIME_OFF    0xbff8
#define ACLINT_MAX_HARTS    64

struct aclint;

/* Per-hart timer compare, implemented by the hart (board: hart_set_mtimecmp /
 * hart_get_mtimecmp). */
struct aclint_timer_ops {
	void (*set_mtimecmp)(void *opaque, unsigned hart, uint64_t val);
	uint64_t (*get_mtimecmp)(void *opaque, unsigned hart);
};

/* Guest-visible state, plain data for snapshot/migration. */
struct aclint_state {
	uint32_t num_harts;
	uint32_t msip[ACLINT_MAX_HARTS];     /* bit 0 only */
	uint64_t mtimecmp[ACLINT_MAX_HARTS]; /* from/to the timer ops */
};

/* Create for num_harts (1..ACLINT_MAX_HARTS) harts. msip[i] is hart i's MSIP
 * line. Returns NULL (with err set) on bad arguments or no memory. */
struct aclint *aclint_create(unsigned num_harts, const struct vclock *clock,
			     const struct irq_line *msip,
			     const struct aclint_timer_ops *timer_ops,
			     void *timer_opaque, struct error *err);
/* Free the device (NULL is fine). */
void aclint_destroy(struct aclint *a);

/* The MMIO callbacks; pass the aclint as opaque to gmem_map_mmio. */
const struct mmio_ops *aclint_mmio_ops(void);

/* Copy the guest-visible state out (mtimecmp via get_mtimecmp). */
void aclint_save(struct aclint *a, struct aclint_state *st);
/* Restore state saved by aclint_save (re-drives MSIP lines and mtimecmp).
 * Returns 0, or -EINVAL if st does not fit this device. */
int aclint_load(struct aclint *a, const struct aclint_state *st);

#endif
