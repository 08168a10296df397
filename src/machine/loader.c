/*
 * Boot loaders and boot layout (see loader.h).
 *
 * Files are never trusted: every header field is range-checked against the
 * file size before use, and all arithmetic on guest addresses is checked for
 * overflow. RAM is written only through gmem_load() and gmem_write(), or
 * mapped from a sealed file with gmem_map_file().
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "machine/loader.h"
#include "mem/gmem.h"
#include "util/compiler.h"
#include "util/hostfile.h"

#define CHUNK (256 * 1024)

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Human size for messages: "40 MiB", "1.5 MiB", "300 KiB", "12 bytes". */
static const char *fmt_size(char *buf, size_t len, uint64_t n)
{
	if (n >= LOADER_MIB && n % LOADER_MIB == 0)
		snprintf(buf, len, "%llu MiB", (unsigned long long)(n >> 20));
	else if (n >= LOADER_MIB)
		snprintf(buf, len, "%.1f MiB", (double)n / LOADER_MIB);
	else if (n >= 1024)
		snprintf(buf, len, "%llu KiB",
			 (unsigned long long)((n + 1023) >> 10));
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)n);
	return buf;
}

static int open_file(const char *what, const char *path, uint64_t *size,
		     struct error *err)
{
	struct stat st;
	int fd;

	fd = hostfile_open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "%s %s: %s", what, path,
				 strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, EINVAL, "%s %s: not a regular file", what,
				 path);
	}
	if (st.st_size == 0) {
		close(fd);
		return error_set(err, EINVAL, "%s %s: file is empty", what,
				 path);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* pread exactly len bytes at off; short file = -EIO. */
static int read_at(int fd, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int loader_file_size(const char *what, const char *path, uint64_t *size,
		     struct error *err)
{
	int fd = open_file(what, path, size, err);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* ---- probing ------------------------------------------------------------ */

/*
 * Linux RISC-V Image header, Documentation/arch/riscv/boot-image-header.rst:
 *   0x00 code0/code1 (an EFI kernel starts with "MZ" here), 0x08 text_offset,
 *   0x10 image_size, 0x18 flags (bit 0: big endian), 0x20 version,
 *   0x30 magic "RISCV\0\0\0" (deprecated), 0x38 magic2 "RSC\x05",
 *   0x3c PE header offset.
 */
#define IMAGE_HDR_SIZE 64

static bool is_riscv_image(const uint8_t *h, size_t n)
{
	if (n < IMAGE_HDR_SIZE)
		return false;
	return memcmp(h + 0x38, "RSC\x05", 4) == 0 ||
	       memcmp(h + 0x30, "RISCV\0\0\0", 8) == 0;
}

static int probe_image(const char *what, const char *path, const uint8_t *h,
		       struct loader_kernel *k, struct error *err)
{
	uint64_t text_offset = le64(h + 0x08);
	uint64_t image_size = le64(h + 0x10);
	uint64_t flags = le64(h + 0x18);

	if (flags & 1)
		return error_set(err, EINVAL,
				 "%s %s: big-endian RISC-V Image is not "
				 "supported",
				 what, path);
	if (text_offset % 4096 || text_offset > (1ULL << 32))
		return error_set(err, EINVAL,
				 "%s %s: RISC-V Image text_offset 0x%llx is "
				 "invalid",
				 what, path, (unsigned long long)text_offset);
	/* image_size 0 comes from very old kernels: the file is all we know */
	if (image_size < k->file_size)
		image_size = k->file_size;
	k->format = LOADER_FMT_IMAGE;
	k->text_offset = text_offset;
	k->mem_size = image_size;
	k->entry_offset = 0;
	return 0;
}

static int bad_elf(const char *what, const char *path, const char *why,
		   struct error *err)
{
	return error_set(err, EINVAL, "%s %s: %s", what, path, why);
}

static int check_ehdr(const char *what, const char *path, const Elf64_Ehdr *e,
		      uint64_t file_size, struct error *err)
{
	if (e->e_ident[EI_CLASS] != ELFCLASS64 ||
	    e->e_ident[EI_DATA] != ELFDATA2LSB)
		return bad_elf(what, path,
			       "ELF file is not 64-bit little-endian", err);
	if (e->e_machine != EM_RISCV)
		return bad_elf(what, path, "ELF file is not for RISC-V", err);
	if (e->e_type != ET_EXEC)
		return bad_elf(what, path,
			       "ELF file is not an executable (ET_EXEC)", err);
	if (e->e_phentsize != sizeof(Elf64_Phdr) || e->e_phnum == 0 ||
	    e->e_phoff > file_size ||
	    (uint64_t)e->e_phnum * sizeof(Elf64_Phdr) > file_size - e->e_phoff)
		return bad_elf(what, path, "ELF program headers are invalid",
			       err);
	return 0;
}

/* Read and validate the program headers; caller frees *out. */
static int read_phdrs(int fd, const char *what, const char *path,
		      const Elf64_Ehdr *e, uint64_t file_size, Elf64_Phdr **out,
		      struct error *err)
{
	Elf64_Phdr *ph;
	unsigned i;
	int rc;

	ph = calloc(e->e_phnum, sizeof(*ph));
	if (!ph)
		return error_set(err, ENOMEM, "%s %s: out of memory", what,
				 path);
	rc = read_at(fd, e->e_phoff, ph, e->e_phnum * sizeof(*ph));
	if (rc) {
		free(ph);
		return error_set(err, -rc, "%s %s: reading ELF headers: %s",
				 what, path, strerror(-rc));
	}
	for (i = 0; i < e->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (p->p_filesz > p->p_memsz || p->p_offset > file_size ||
		    p->p_filesz > file_size - p->p_offset ||
		    p->p_paddr + p->p_memsz < p->p_paddr ||
		    p->p_vaddr + p->p_memsz < p->p_vaddr) {
			free(ph);
			return bad_elf(what, path,
				       "ELF segment lies outside the file or "
				       "wraps the address space",
				       err);
		}
	}
	*out = ph;
	return 0;
}

static int probe_elf(int fd, const char *what, const char *path,
		     struct loader_kernel *k, struct error *err)
{
	uint64_t lo = UINT64_MAX, hi = 0, entry = UINT64_MAX;
	Elf64_Phdr *ph;
	Elf64_Ehdr e;
	unsigned i;
	int rc;

	if (k->file_size < sizeof(e))
		return bad_elf(what, path, "ELF header is truncated", err);
	rc = read_at(fd, 0, &e, sizeof(e));
	if (rc)
		return error_set(err, -rc, "%s %s: %s", what, path,
				 strerror(-rc));
	rc = check_ehdr(what, path, &e, k->file_size, err);
	if (rc)
		return rc;
	rc = read_phdrs(fd, what, path, &e, k->file_size, &ph, err);
	if (rc)
		return rc;
	for (i = 0; i < e.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (p->p_paddr < lo)
			lo = p->p_paddr;
		if (p->p_paddr + p->p_memsz > hi)
			hi = p->p_paddr + p->p_memsz;
		/* e_entry is virtual; the hart starts with paging off. */
		if (e.e_entry >= p->p_vaddr &&
		    e.e_entry - p->p_vaddr < p->p_memsz)
			entry = e.e_entry - p->p_vaddr + p->p_paddr;
	}
	free(ph);
	if (lo == UINT64_MAX)
		return bad_elf(what, path, "ELF file has no loadable segment",
			       err);
	if (entry == UINT64_MAX)
		return bad_elf(what, path,
			       "ELF entry point is outside its segments", err);
	k->format = LOADER_FMT_ELF;
	k->fixed = true;
	k->fixed_addr = lo;
	k->mem_size = hi - lo;
	k->entry_offset = entry - lo;
	return 0;
}

int loader_probe_kernel(const char *what, const char *path, bool allow_raw,
			uint64_t raw_offset, struct loader_kernel *k,
			struct error *err)
{
	uint8_t h[IMAGE_HDR_SIZE] = { 0 };
	size_t n;
	int fd, rc;

	memset(k, 0, sizeof(*k));
	fd = open_file(what, path, &k->file_size, err);
	if (fd < 0)
		return fd;
	n = k->file_size < sizeof(h) ? (size_t)k->file_size : sizeof(h);
	rc = read_at(fd, 0, h, n);
	if (rc) {
		close(fd);
		return error_set(err, -rc, "%s %s: %s", what, path,
				 strerror(-rc));
	}
	if (n >= 4 && memcmp(h, ELFMAG, SELFMAG) == 0)
		rc = probe_elf(fd, what, path, k, err);
	else if (is_riscv_image(h, n))
		rc = probe_image(what, path, h, k, err);
	else if (allow_raw) {
		k->format = LOADER_FMT_RAW;
		k->text_offset = raw_offset;
		k->mem_size = k->file_size;
		rc = 0;
	} else if (n >= 2 && h[0] == 'M' && h[1] == 'Z')
		rc = error_set(err, EINVAL,
			       "%s %s: EFI executable without a RISC-V Image "
			       "header (not a RISC-V Linux kernel?)",
			       what, path);
	else
		rc = error_set(err, EINVAL,
			       "%s %s: not a RISC-V Linux Image or RISC-V "
			       "ELF64 executable",
			       what, path);
	close(fd);
	return rc;
}

/* ---- layout ------------------------------------------------------------- */

struct range {
	const char *name;
	uint64_t start, end;
};

static int check_in_ram(const struct loader_layout_req *r, const char *name,
			uint64_t start, uint64_t size, struct error *err)
{
	uint64_t ram_end = r->ram_base + r->ram_size;
	char a[32], b[32];

	if (start < r->ram_base || start + size < start ||
	    start + size > ram_end)
		return error_set(err, EINVAL,
				 "%s (%s at 0x%llx) does not fit in RAM "
				 "0x%llx..0x%llx (%s)",
				 name, fmt_size(a, sizeof(a), size),
				 (unsigned long long)start,
				 (unsigned long long)r->ram_base,
				 (unsigned long long)ram_end,
				 fmt_size(b, sizeof(b), r->ram_size));
	return 0;
}

static int place_kernel(const struct loader_layout_req *r,
			struct loader_layout *o, const char *kname,
			struct error *err)
{
	const struct loader_kernel *k = r->kernel;
	uint64_t addr;
	int rc;

	if (k->fixed) {
		addr = k->fixed_addr;
	} else {
		if (k->text_offset > r->ram_size)
			return error_set(err, EINVAL,
					 "%s: load offset 0x%llx is beyond "
					 "RAM",
					 kname,
					 (unsigned long long)k->text_offset);
		addr = r->ram_base + k->text_offset;
		/* boot.rst: an RV64 kernel runs from a PMD (2 MiB) aligned
		 * address; a raw binary goes exactly where asked. */
		if (k->format == LOADER_FMT_IMAGE)
			addr = align_up(addr, LOADER_KERNEL_ALIGN);
		if (o->fw_end > addr)
			addr = align_up(o->fw_end, LOADER_KERNEL_ALIGN);
	}
	rc = check_in_ram(r, kname, addr, k->mem_size, err);
	if (rc)
		return rc;
	o->kernel_addr = addr;
	o->kernel_end = addr + k->mem_size;
	o->kernel_entry = addr + k->entry_offset;
	return 0;
}

int loader_layout(const struct loader_layout_req *r, struct loader_layout *o,
		  struct error *err)
{
	const char *kname = r->kernel_name ? r->kernel_name : "kernel";
	const char *iname = r->initrd_name ? r->initrd_name : "initrd";
	const char *fname = r->fw_name ? r->fw_name : "firmware";
	uint64_t ram_end = r->ram_base + r->ram_size;
	uint64_t top, floor;
	struct range rg[5];
	unsigned n = 0, i, j;
	char a[32], b[32];
	int rc;

	memset(o, 0, sizeof(*o));
	if (r->ram_size == 0 || ram_end < r->ram_base || r->ram_base % 4096 ||
	    r->ram_size % 4096)
		return error_set(err, EINVAL, "RAM 0x%llx+0x%llx is invalid",
				 (unsigned long long)r->ram_base,
				 (unsigned long long)r->ram_size);
	if (r->fw_size) {
		rc = check_in_ram(r, fname, r->ram_base, r->fw_size, err);
		if (rc)
			return rc;
		o->fw_addr = r->ram_base;
		o->fw_end = r->ram_base + r->fw_size;
	}
	if (r->kernel) {
		rc = place_kernel(r, o, kname, err);
		if (rc)
			return rc;
	}
	floor = o->fw_end > o->kernel_end ? o->fw_end : o->kernel_end;
	if (floor < r->ram_base)
		floor = r->ram_base;

	/* Top down: DTB, fw_dynamic info, initrd (as QEMU places them). */
	top = ram_end;
	if (r->dtb_size) {
		uint64_t need = r->dtb_size + LOADER_DTB_SLACK;

		if (r->dtb_size > LOADER_DTB_MAX)
			return error_set(
				err, EINVAL,
				"device tree of %s is larger than "
				"the %s Linux accepts",
				fmt_size(a, sizeof(a), r->dtb_size),
				fmt_size(b, sizeof(b), LOADER_DTB_MAX));
		if (need > top - floor ||
		    align_down(top - need, LOADER_KERNEL_ALIGN) < floor)
			return error_set(err, ENOSPC,
					 "device tree (%s) does not fit in "
					 "%s of RAM above the %s",
					 fmt_size(a, sizeof(a), r->dtb_size),
					 fmt_size(b, sizeof(b), top - floor),
					 r->kernel ? "kernel" : "firmware");
		o->dtb_addr = align_down(top - need, LOADER_KERNEL_ALIGN);
		o->dtb_end = o->dtb_addr + need;
		top = o->dtb_addr;
	}
	if (r->fw_info) {
		top = align_down(top, 4096);
		if (top < floor + 4096)
			return error_set(err, ENOSPC,
					 "no room for the firmware info "
					 "above the kernel");
		top -= 4096;
		o->fw_info_addr = top;
	}
	if (r->initrd_size) {
		uint64_t room = top > floor ? align_down(top, 4096) - floor : 0;

		if (r->initrd_size > room ||
		    align_down(top - r->initrd_size, 4096) < floor)
			return error_set(err, ENOSPC,
					 "%s (%s) does not fit in %s of RAM "
					 "above the %s",
					 iname,
					 fmt_size(a, sizeof(a), r->initrd_size),
					 fmt_size(b, sizeof(b), room),
					 r->kernel ? "kernel" : "firmware");
		o->initrd_addr = align_down(top - r->initrd_size, 4096);
		o->initrd_end = o->initrd_addr + r->initrd_size;
	}

	/* Belt and braces: nothing overlaps (a fixed ELF may sit anywhere). */
	if (o->fw_end)
		rg[n++] = (struct range){ fname, o->fw_addr, o->fw_end };
	if (r->kernel)
		rg[n++] = (struct range){ kname, o->kernel_addr,
					  o->kernel_end };
	if (o->initrd_end)
		rg[n++] = (struct range){ iname, o->initrd_addr,
					  o->initrd_end };
	if (o->dtb_end)
		rg[n++] = (struct range){ "device tree", o->dtb_addr,
					  o->dtb_end };
	if (r->fw_info)
		rg[n++] = (struct range){ "firmware info", o->fw_info_addr,
					  o->fw_info_addr + 4096 };
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (rg[i].start < rg[j].end && rg[j].start < rg[i].end)
				return error_set(
					err, EINVAL,
					"%s (0x%llx..0x%llx) overlaps %s "
					"(0x%llx..0x%llx)",
					rg[i].name,
					(unsigned long long)rg[i].start,
					(unsigned long long)rg[i].end,
					rg[j].name,
					(unsigned long long)rg[j].start,
					(unsigned long long)rg[j].end);
	return 0;
}

/* ---- loading ------------------------------------------------------------ */

/* Copy len bytes of fd from off to gpa, in chunks. */
static int copy_to_guest(struct gmem *gm, int fd, uint64_t off, uint64_t gpa,
			 uint64_t len, const char *what, const char *path,
			 struct error *err)
{
	uint8_t *buf;
	int rc = 0;

	buf = malloc(CHUNK);
	if (!buf)
		return error_set(err, ENOMEM, "%s %s: out of memory", what,
				 path);
	while (len) {
		size_t n = len < CHUNK ? (size_t)len : CHUNK;

		rc = read_at(fd, off, buf, n);
		if (rc) {
			rc = error_set(err, -rc, "%s %s: read: %s", what, path,
				       strerror(-rc));
			break;
		}
		if (gmem_load(gm, gpa, buf, n)) {
			rc = error_set(err, EFAULT,
				       "%s %s: 0x%llx is not guest RAM", what,
				       path, (unsigned long long)gpa);
			break;
		}
		off += n;
		gpa += n;
		len -= n;
	}
	free(buf);
	return rc;
}

static int zero_guest(struct gmem *gm, uint64_t gpa, uint64_t len,
		      const char *what, const char *path, struct error *err)
{
	static const uint8_t zero[4096];

	while (len) {
		size_t n = len < sizeof(zero) ? (size_t)len : sizeof(zero);

		if (gmem_load(gm, gpa, zero, n))
			return error_set(err, EFAULT,
					 "%s %s: 0x%llx is not guest RAM", what,
					 path, (unsigned long long)gpa);
		gpa += n;
		len -= n;
	}
	return 0;
}

static int load_elf(struct gmem *gm, int fd, const char *what, const char *path,
		    uint64_t file_size, struct error *err)
{
	Elf64_Phdr *ph;
	Elf64_Ehdr e;
	unsigned i;
	int rc;

	rc = read_at(fd, 0, &e, sizeof(e));
	if (rc)
		return error_set(err, -rc, "%s %s: %s", what, path,
				 strerror(-rc));
	rc = check_ehdr(what, path, &e, file_size, err);
	if (rc)
		return rc;
	rc = read_phdrs(fd, what, path, &e, file_size, &ph, err);
	if (rc)
		return rc;
	for (i = 0; i < e.e_phnum && !rc; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		rc = copy_to_guest(gm, fd, p->p_offset, p->p_paddr, p->p_filesz,
				   what, path, err);
		if (!rc)
			rc = zero_guest(gm, p->p_paddr + p->p_filesz,
					p->p_memsz - p->p_filesz, what, path,
					err);
	}
	free(ph);
	return rc;
}

int loader_load_kernel(struct gmem *gm, const char *what, const char *path,
		       const struct loader_kernel *k, uint64_t addr,
		       struct error *err)
{
	uint64_t size;
	int fd, rc;

	fd = open_file(what, path, &size, err);
	if (fd < 0)
		return fd;
	if (size != k->file_size) {
		close(fd);
		return error_set(err, EAGAIN,
				 "%s %s: file changed while loading", what,
				 path);
	}
	if (k->format == LOADER_FMT_ELF)
		rc = load_elf(gm, fd, what, path, size, err);
	else {
		/* Image and raw: the whole file; Linux clears its own bss.
		 * A sealed memfd (the daemon's copy of the file, shared by
		 * its VMs) is mapped, anything else copied. */
		rc = gmem_map_file(gm, addr, fd, size);
		if (rc == -EFAULT)
			rc = error_set(err, EFAULT,
				       "%s %s: 0x%llx is not guest RAM", what,
				       path, (unsigned long long)addr);
		else if (rc)
			rc = copy_to_guest(gm, fd, 0, addr, size, what, path,
					   err);
	}
	close(fd);
	return rc;
}

int loader_load_file(struct gmem *gm, const char *what, const char *path,
		     uint64_t gpa, uint64_t max_size, struct error *err)
{
	char a[32], b[32];
	uint64_t size;
	int fd, rc;

	fd = open_file(what, path, &size, err);
	if (fd < 0)
		return fd;
	if (size > max_size) {
		close(fd);
		return error_set(err, ENOSPC,
				 "%s %s (%s) is larger than the %s "
				 "reserved for it",
				 what, path, fmt_size(a, sizeof(a), size),
				 fmt_size(b, sizeof(b), max_size));
	}
	rc = copy_to_guest(gm, fd, 0, gpa, size, what, path, err);
	close(fd);
	return rc;
}

/* ---- ELF symbols -------------------------------------------------------- */

#define SYMTAB_MAX (64u << 20)

static void *read_section(int fd, const Elf64_Shdr *s, uint64_t file_size)
{
	void *buf;

	if (s->sh_offset > file_size || s->sh_size > file_size - s->sh_offset ||
	    s->sh_size > SYMTAB_MAX || s->sh_size == 0)
		return NULL;
	buf = malloc(s->sh_size);
	if (buf && read_at(fd, s->sh_offset, buf, s->sh_size)) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

int loader_elf_symbol(const char *path, const char *name, uint64_t *value,
		      struct error *err)
{
	Elf64_Shdr *sh = NULL, *symsh = NULL;
	Elf64_Sym *syms = NULL;
	char *strs = NULL;
	uint64_t size, nsyms, i;
	Elf64_Ehdr e;
	int fd, rc = -ENOENT;

	fd = open_file("ELF", path, &size, err);
	if (fd < 0)
		return fd;
	if (size < sizeof(e) || read_at(fd, 0, &e, sizeof(e)) ||
	    memcmp(e.e_ident, ELFMAG, SELFMAG) != 0 ||
	    e.e_ident[EI_CLASS] != ELFCLASS64) {
		rc = bad_elf("ELF", path, "not an ELF64 file", err);
		goto out;
	}
	if (e.e_shnum == 0 || e.e_shentsize != sizeof(Elf64_Shdr) ||
	    e.e_shoff > size ||
	    (uint64_t)e.e_shnum * sizeof(Elf64_Shdr) > size - e.e_shoff) {
		rc = bad_elf("ELF", path, "section headers are invalid", err);
		goto out;
	}
	sh = calloc(e.e_shnum, sizeof(*sh));
	if (!sh || read_at(fd, e.e_shoff, sh, e.e_shnum * sizeof(*sh))) {
		rc = bad_elf("ELF", path, "cannot read section headers", err);
		goto out;
	}
	for (i = 0; i < e.e_shnum; i++)
		if (sh[i].sh_type == SHT_SYMTAB) {
			symsh = &sh[i];
			break;
		}
	if (!symsh || symsh->sh_link >= e.e_shnum)
		goto out; /* stripped: -ENOENT */
	syms = read_section(fd, symsh, size);
	strs = read_section(fd, &sh[symsh->sh_link], size);
	if (!syms || !strs) {
		rc = bad_elf("ELF", path, "symbol table is invalid", err);
		goto out;
	}
	nsyms = symsh->sh_size / sizeof(Elf64_Sym);
	for (i = 0; i < nsyms; i++) {
		uint64_t off = syms[i].st_name;
		uint64_t strsz = sh[symsh->sh_link].sh_size;

		if (off >= strsz)
			continue;
		if (strnlen(strs + off, strsz - off) == strsz - off)
			continue; /* unterminated */
		if (strcmp(strs + off, name) == 0 &&
		    syms[i].st_shndx != SHN_UNDEF) {
			*value = syms[i].st_value;
			rc = 0;
			break;
		}
	}
out:
	free(syms);
	free(strs);
	free(sh);
	close(fd);
	return rc;
}

/* ---- fw_dynamic --------------------------------------------------------- */

int loader_write_fw_dynamic_info(struct gmem *gm, uint64_t gpa,
				 uint64_t next_addr, uint64_t next_mode,
				 uint64_t options, uint64_t boot_hart,
				 struct error *err)
{
	/* struct fw_dynamic_info: magic, version, next_addr, next_mode,
	 * options, boot_hart; unsigned long each (RV64: 8 bytes, LE). */
	const uint64_t f[6] = { FW_DYNAMIC_MAGIC, FW_DYNAMIC_VERSION,
				next_addr,	  next_mode,
				options,	  boot_hart };
	uint8_t buf[LOADER_FW_INFO_SIZE];
	unsigned i, b;

	_Static_assert(sizeof(buf) == sizeof(f), "fw_dynamic_info size");
	if (gpa % 8)
		return error_set(err, EINVAL,
				 "fw_dynamic info at 0x%llx is not 8-byte "
				 "aligned",
				 (unsigned long long)gpa);
	for (i = 0; i < 6; i++)
		for (b = 0; b < 8; b++)
			buf[i * 8 + b] = (uint8_t)(f[i] >> (8 * b));
	if (gmem_write(gm, gpa, buf, sizeof(buf)))
		return error_set(err, EFAULT,
				 "fw_dynamic info at 0x%llx is not guest RAM",
				 (unsigned long long)gpa);
	return 0;
}
