/*
 * Device tree of the virt board, generated with libfdt.
 *
 * The board follows the widely documented QEMU `virt` memory map so that
 * Linux's own device-tree bindings apply (ARCHITECTURE.md, "I/O"); the
 * constants below are that map. The tree is built from a plain description
 * (struct fdt_board) so the board code decides what exists and this file
 * only decides how it is spelled in the tree.
 *
 * Bindings followed (Linux Documentation/devicetree/bindings/):
 *   riscv/cpus.yaml, riscv/extensions.yaml     cpu@N, riscv,isa*, mmu-type
 *   interrupt-controller/riscv,cpu-intc.yaml   per-hart intc
 *   interrupt-controller/sifive,plic-1.0.0.yaml
 *   timer/sifive,clint.yaml
 *   serial/8250.yaml, rtc/google,goldfish-rtc, power/reset/syscon-*.yaml
 *   virtio/mmio.yaml, reserved-memory/reserved-memory.yaml, chosen.yaml
 *
 * Ownership: fdt_board_build() returns a malloc'd blob the caller frees.
 * Thread safety: all functions are reentrant (no global state).
 */
#ifndef SV_MACHINE_FDT_BOARD_H
#define SV_MACHINE_FDT_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* ---- the virt board memory map (QEMU-virt compatible) ------------------ */

#define VIRT_SYSCON_BASE   0x00100000ULL
#define VIRT_SYSCON_SIZE   0x1000ULL
#define VIRT_RTC_BASE	   0x00101000ULL
#define VIRT_RTC_SIZE	   0x1000ULL
#define VIRT_PVPANIC_BASE  0x00102000ULL
#define VIRT_PVPANIC_SIZE  0x1000ULL
#define VIRT_CLINT_BASE	   0x02000000ULL
#define VIRT_CLINT_SIZE	   0x10000ULL
#define VIRT_PLIC_BASE	   0x0c000000ULL
#define VIRT_PLIC_SIZE	   0x600000ULL
#define VIRT_UART0_BASE	   0x10000000ULL
#define VIRT_UART0_SIZE	   0x100ULL
#define VIRT_VIRTIO_BASE   0x10001000ULL
#define VIRT_VIRTIO_STRIDE 0x1000ULL
#define VIRT_VIRTIO_MAX	   8
#define VIRT_RAM_BASE	   0x80000000ULL

/* PLIC interrupt sources (source 0 does not exist). */
#define VIRT_VIRTIO_IRQ_BASE 1 /* slot n uses 1 + n */
#define VIRT_UART0_IRQ	     10
#define VIRT_RTC_IRQ	     11
#define VIRT_PLIC_NDEV	     95

#define VIRT_UART0_CLOCK_HZ  0x384000U /* 3.6864 MHz */
#define VIRT_TIMEBASE_HZ     10000000U
#define VIRT_SYSCON_POWEROFF 0x5555U
#define VIRT_SYSCON_REBOOT   0x7777U
#define VIRT_STDOUT_PATH     "/soc/serial@10000000"
#define FDT_BOARD_MAX_HARTS  512
#define FDT_BOARD_MAX_VIRTIO VIRT_VIRTIO_MAX

/* What the tree describes. Strings are borrowed for the duration of the
 * build call only. Zero/NULL fields take the defaults noted. */
struct fdt_board {
	unsigned n_harts;     /* 1..FDT_BOARD_MAX_HARTS, hartids 0..n-1 */
	const char *isa;      /* riscv,isa, e.g. "rv64imafdc_zicsr" */
	const char *isa_base; /* riscv,isa-base; default "rv64i" */
	const char *const *isa_extensions; /* riscv,isa-extensions */
	unsigned n_isa_extensions;
	const char *mmu_type; /* default "riscv,sv57" */
	uint32_t timebase_hz; /* default VIRT_TIMEBASE_HZ */

	uint64_t ram_base; /* default VIRT_RAM_BASE */
	uint64_t ram_size; /* required, > 0 */

	/* /chosen */
	const char *bootargs;	 /* NULL: no property */
	const char *stdout_path; /* default VIRT_STDOUT_PATH */
	bool has_initrd;
	uint64_t initrd_start, initrd_end; /* [start, end) */
	bool rng_seed; /* add 32 bytes from getrandom() as rng-seed */

	/* /reserved-memory: a no-map region for M-mode firmware, if size > 0.
	 * OpenSBI adds its own "mmode_resv*" nodes too; ours has another name
	 * so both coexist. */
	uint64_t fw_resv_base, fw_resv_size;

	unsigned plic_ndev; /* riscv,ndev; default VIRT_PLIC_NDEV */
	unsigned n_virtio;  /* virtio-mmio slots 0..n-1 (<= VIRT_VIRTIO_MAX) */
};

/* Fill every field with the board defaults (1 hart, 512 MiB, no bootargs). */
void fdt_board_init(struct fdt_board *b);

/* Build the flattened tree. On success *blob is malloc'd (caller frees) and
 * *size is its total size. Returns 0 or a negative errno with a message. */
int fdt_board_build(const struct fdt_board *b, void **blob, size_t *size,
		    struct error *err);

/* Write blob to path (the --dump-dtb FILE option). */
int fdt_board_dump(const char *path, const void *blob, size_t size,
		   struct error *err);

#endif
