/*
 * Boot loaders: put a kernel (Linux RISC-V Image, ELF64 RISC-V or raw
 * binary), an initrd, firmware and the device tree into guest RAM, and
 * decide where each goes.
 *
 * Three steps, so the policy is testable without files or RAM:
 *   1. loader_probe_kernel()  reads the kernel's headers: format, size in
 *                             RAM, load offset or fixed address, entry;
 *   2. loader_layout()        pure: computes every address from sizes;
 *   3. loader_load_*()        copy into RAM through gmem_write() only
 *                             (guest RAM is never assumed contiguous on the
 *                             host; see src/mem/gmem.h).
 *
 * Placement follows Linux Documentation/arch/riscv/boot.rst and
 * boot-image-header.rst; docs/boot.md has the resulting memory map.
 *
 * Errors: every failure returns a negative errno and one line in err naming
 * the file and the problem ("kernel /x: not a RISC-V Image, ELF or ...").
 * Thread safety: reentrant, no global state. Load before the harts start.
 */
#ifndef SV_MACHINE_LOADER_H
#define SV_MACHINE_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

struct gmem;

#define LOADER_MIB	    (1ULL << 20)
#define LOADER_KERNEL_ALIGN (2 * LOADER_MIB) /* RV64 kernel: PMD aligned */
#define LOADER_DTB_MAX	    (2 * LOADER_MIB) /* Linux maps at most 2 MiB */
#define LOADER_DTB_SLACK    (64 * 1024)	     /* room for OpenSBI fix-ups */
#define LOADER_FW_INFO_SIZE 48 /* struct fw_dynamic_info, 6 x u64 */

enum loader_format {
	LOADER_FMT_IMAGE, /* Linux RISC-V Image (possibly EFI "MZ" stub) */
	LOADER_FMT_ELF,	  /* ELF64 little-endian RISC-V executable */
	LOADER_FMT_RAW,	  /* flat binary */
};

/* What the kernel file needs, as read from its headers. */
struct loader_kernel {
	enum loader_format format;
	uint64_t file_size;
	/* Bytes of RAM the kernel occupies from its load address, including
	 * bss (Image: image_size; ELF: lowest to highest segment end; raw:
	 * file size). Nothing else may be placed there. */
	uint64_t mem_size;
	/* Image/raw: offset from the start of RAM the kernel wants
	 * (Image: text_offset, at least the 2 MiB alignment). */
	uint64_t text_offset;
	/* ELF: segments go to fixed physical addresses [fixed_addr,
	 * fixed_addr + mem_size); entry is e_entry (translated to physical). */
	bool fixed;
	uint64_t fixed_addr;
	uint64_t entry_offset; /* entry - load address (Image/raw: 0) */
};

/* Read path's headers. what names it in messages ("kernel", "bios").
 * A file that is neither an Image nor an ELF is an error, unless allow_raw:
 * then it is a flat binary placed at ram_base + raw_offset. */
int loader_probe_kernel(const char *what, const char *path, bool allow_raw,
			uint64_t raw_offset, struct loader_kernel *k,
			struct error *err);

/* Inputs of the layout. Sizes are byte counts; 0 means "absent". */
struct loader_layout_req {
	uint64_t ram_base, ram_size;
	uint64_t fw_size; /* M-mode firmware loaded at ram_base */
	const struct loader_kernel *kernel; /* NULL: no kernel */
	uint64_t initrd_size;
	uint64_t dtb_size; /* <= LOADER_DTB_MAX */
	bool fw_info;	   /* reserve a fw_dynamic_info slot */
	/* Names for messages ("kernel /boot/vmlinuz"). */
	const char *kernel_name, *initrd_name, *fw_name;
};

/* Resulting guest physical addresses ([addr, end) ranges; 0 = absent). */
struct loader_layout {
	uint64_t fw_addr, fw_end;
	uint64_t kernel_addr, kernel_end, kernel_entry;
	uint64_t initrd_addr, initrd_end;
	uint64_t dtb_addr, dtb_end; /* end includes LOADER_DTB_SLACK */
	uint64_t fw_info_addr;
};

/*
 * Compute the placement (pure function):
 *   firmware  at ram_base;
 *   kernel    Image/raw at ram_base + text_offset, moved up to the next
 *             2 MiB boundary above the firmware if they would overlap
 *             (0x80200000 with OpenSBI or the built-in SBI alike);
 *             ELF at its own physical addresses;
 *   DTB       at the top of RAM, 2 MiB aligned down (as QEMU does), with
 *             LOADER_DTB_SLACK bytes of room behind it;
 *   fw info   4 KiB below the DTB;
 *   initrd    just below that, 4 KiB aligned, above the kernel's mem_size.
 * Fails if anything leaves RAM or overlaps.
 */
int loader_layout(const struct loader_layout_req *req,
		  struct loader_layout *out, struct error *err);

/* Load the file probed as k at addr (normally lay.kernel_addr or
 * lay.fw_addr; ELF segments go to their own addresses and their bss is
 * zeroed). what names it in messages. */
int loader_load_kernel(struct gmem *gm, const char *what, const char *path,
		       const struct loader_kernel *k, uint64_t addr,
		       struct error *err);

/* Copy a whole file to gpa; fails if it is larger than max_size.
 * what names it in messages ("initrd", "bios"). */
int loader_load_file(struct gmem *gm, const char *what, const char *path,
		     uint64_t gpa, uint64_t max_size, struct error *err);

/* Size of a regular file (for the layout), or a negative errno. */
int loader_file_size(const char *what, const char *path, uint64_t *size,
		     struct error *err);

/* Look up a symbol's value in an ELF file's .symtab (bare-metal HTIF
 * programs: "tohost", "fromhost"). Returns 0, -ENOENT if absent (err
 * untouched), or another negative errno on a bad file. */
int loader_elf_symbol(const char *path, const char *name, uint64_t *value,
		      struct error *err);

/* OpenSBI docs/firmware/fw_dynamic.md. */
#define FW_DYNAMIC_MAGIC	 0x4942534fULL /* "OSBI" */
#define FW_DYNAMIC_VERSION	 2
#define FW_DYNAMIC_NEXT_MODE_U	 0
#define FW_DYNAMIC_NEXT_MODE_S	 1
#define FW_DYNAMIC_NEXT_MODE_M	 3
#define FW_DYNAMIC_BOOT_HART_ANY UINT64_MAX

/* Write struct fw_dynamic_info at gpa (8-byte aligned). The firmware is
 * then entered on every hart with a0 = hartid, a1 = DTB, a2 = gpa. */
int loader_write_fw_dynamic_info(struct gmem *gm, uint64_t gpa,
				 uint64_t next_addr, uint64_t next_mode,
				 uint64_t options, uint64_t boot_hart,
				 struct error *err);

#endif
