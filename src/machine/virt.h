/*
 * The virt board: a whole RISC-V computer in the layout of QEMU's `virt`
 * machine (ARCHITECTURE.md "I/O"), run in this process until the guest
 * powers off. This is the one-shot form of the vmkernel behind
 * `softvisor run`; the daemon (later) runs many of them.
 */
#ifndef SV_MACHINE_VIRT_H
#define SV_MACHINE_VIRT_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/console.h"
#include "machine/qmp.h"
#include "util/error.h"
#include "virtio/blk.h"
#include "virtio/net.h"

#define VIRT_MAX_HARTS	 64
#define VIRT_DEFAULT_RAM (512ULL << 20)
/* virtio-mmio slots at 0x1000_1000 + n * 0x1000, PLIC source 1 + n */
#define VIRT_MAX_VIRTIO 8

enum virt_bios {
	VIRT_BIOS_BUILTIN, /* built-in SBI: the kernel starts in S-mode */
	VIRT_BIOS_NONE,	   /* no firmware: the kernel/ELF starts in M-mode */
	VIRT_BIOS_FILE,	   /* M-mode firmware (OpenSBI fw_dynamic.bin) */
};

struct virt_config {
	uint64_t ram_size;
	unsigned n_harts;
	const char *kernel; /* required */
	const char *initrd; /* optional */
	const char *append; /* kernel command line, optional */
	enum virt_bios bios;
	const char *bios_path; /* VIRT_BIOS_FILE */
	const char *dump_dtb;  /* write the device tree here and exit */
	struct console_spec console;
	unsigned timeout_s; /* 0: none */

	/* virtio devices, in slot order: disks, NICs, rng, balloon, console */
	unsigned n_disks, n_nets;
	struct virtio_blk_config disks[VIRT_MAX_VIRTIO];
	struct virtio_net_config nets[VIRT_MAX_VIRTIO];
	bool rng;
	bool balloon;
	bool has_hvc; /* virtio-console (hvc0) on hvc */
	struct console_spec hvc;
	bool has_qmp; /* control channel (docs/qmp.md) */
	struct qmp_spec qmp;
};

/* Number of virtio slots cfg asks for (checked against VIRT_MAX_VIRTIO). */
unsigned virt_virtio_count(const struct virt_config *cfg);

/* Exit statuses of virt_run besides the guest's own codes. */
enum {
	VIRT_EXIT_TIMEOUT = 124,
};

/* Build the machine, run it until the guest powers off (rebooting it when
 * the guest asks), and return the process exit status: 0 for a poweroff,
 * the guest's code for a failure report (syscon, HTIF), VIRT_EXIT_TIMEOUT,
 * or 128 + signal. Set-up errors return -errno with err filled. */
int virt_run(const struct virt_config *cfg, struct error *err);

#endif
