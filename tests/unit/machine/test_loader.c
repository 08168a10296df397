/*
 * Unit tests for the boot loaders and layout (src/machine/loader.c).
 * Guest RAM is a fake gmem defined here (a flat buffer), so the test does
 * not depend on src/mem; the loader only calls gmem_load(), gmem_write()
 * and gmem_map_file().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/loader.h"
#include "mem/gmem.h"

#define MiB (1ULL << 20)
#define RAM 0x80000000ULL

/* ---- fake gmem ---------------------------------------------------------- */

struct gmem {
	uint64_t base, size;
	uint8_t *mem;
	bool maps_files; /* gmem_map_file takes the file (else -ENOTSUP) */
	unsigned mapped; /* files it took */
};

int gmem_write(struct gmem *gm, uint64_t gpa, const void *buf, size_t len)
{
	if (gpa < gm->base || len > gm->size || gpa - gm->base > gm->size - len)
		return -EFAULT;
	memcpy(gm->mem + (gpa - gm->base), buf, len);
	return 0;
}

/* the real one skips zeros over the zero frame: the same content */
int gmem_load(struct gmem *gm, uint64_t gpa, const void *buf, size_t len)
{
	return gmem_write(gm, gpa, buf, len);
}

/* the real one maps a sealed memfd's pages: the same content */
int gmem_map_file(struct gmem *gm, uint64_t gpa, int fd, uint64_t len)
{
	if (gpa < gm->base || len > gm->size || gpa - gm->base > gm->size - len)
		return -EFAULT;
	if (!gm->maps_files)
		return -ENOTSUP;
	if (pread(fd, gm->mem + (gpa - gm->base), len, 0) != (ssize_t)len)
		return -EIO;
	gm->mapped++;
	return 0;
}

static struct gmem *fake_ram(uint64_t size, uint8_t fill)
{
	struct gmem *gm = calloc(1, sizeof(*gm));

	assert_non_null(gm);
	gm->base = RAM;
	gm->size = size;
	gm->mem = malloc(size);
	assert_non_null(gm->mem);
	memset(gm->mem, fill, size);
	return gm;
}

static void free_ram(struct gmem *gm)
{
	free(gm->mem);
	free(gm);
}

static uint8_t *at(struct gmem *gm, uint64_t gpa)
{
	return gm->mem + (gpa - gm->base);
}

/* ---- temp files --------------------------------------------------------- */

static char *write_temp(const void *data, size_t len)
{
	char *path = strdup("/tmp/sv-test-loader-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void drop_temp(char *path)
{
	unlink(path);
	free(path);
}

static void put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* An EFI-stub style Image: "MZ" first, the RISC-V header at its offsets. */
static char *make_image(uint64_t text_offset, uint64_t image_size,
			size_t file_size)
{
	uint8_t *f = calloc(1, file_size);
	char *path;
	size_t i;

	assert_non_null(f);
	for (i = 64; i < file_size; i++)
		f[i] = (uint8_t)i;
	f[0] = 'M';
	f[1] = 'Z';
	put64(f + 0x08, text_offset);
	put64(f + 0x10, image_size);
	memcpy(f + 0x30, "RISCV\0\0\0", 8);
	memcpy(f + 0x38, "RSC\x05", 4);
	path = write_temp(f, file_size);
	free(f);
	return path;
}

/*
 * A bare-metal ELF: .text (16 bytes at 0x80000000), .data (8 bytes + 56
 * bytes bss at 0x80001000), and a symtab with tohost/fromhost.
 */
static char *make_elf(uint16_t machine)
{
	static const char strtab[] = "\0tohost\0fromhost\0";
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph[2];
		uint8_t text[16];
		uint8_t data[8];
		Elf64_Sym sym[3];
		char str[sizeof(strtab)];
		Elf64_Shdr sh[3];
	} f;

	memset(&f, 0, sizeof(f));
	memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
	f.eh.e_ident[EI_CLASS] = ELFCLASS64;
	f.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	f.eh.e_ident[EI_VERSION] = EV_CURRENT;
	f.eh.e_type = ET_EXEC;
	f.eh.e_machine = machine;
	f.eh.e_version = EV_CURRENT;
	f.eh.e_entry = RAM + 4;
	f.eh.e_phoff = offsetof(__typeof__(f), ph);
	f.eh.e_shoff = offsetof(__typeof__(f), sh);
	f.eh.e_ehsize = sizeof(Elf64_Ehdr);
	f.eh.e_phentsize = sizeof(Elf64_Phdr);
	f.eh.e_phnum = 2;
	f.eh.e_shentsize = sizeof(Elf64_Shdr);
	f.eh.e_shnum = 3;

	f.ph[0].p_type = PT_LOAD;
	f.ph[0].p_offset = offsetof(__typeof__(f), text);
	f.ph[0].p_vaddr = f.ph[0].p_paddr = RAM;
	f.ph[0].p_filesz = f.ph[0].p_memsz = 16;
	f.ph[1].p_type = PT_LOAD;
	f.ph[1].p_offset = offsetof(__typeof__(f), data);
	f.ph[1].p_vaddr = f.ph[1].p_paddr = RAM + 0x1000;
	f.ph[1].p_filesz = 8;
	f.ph[1].p_memsz = 64;
	memset(f.text, 0x13, sizeof(f.text));
	memset(f.data, 0x5a, sizeof(f.data));

	f.sym[1].st_name = 1; /* tohost */
	f.sym[1].st_value = RAM + 0x1000;
	f.sym[1].st_shndx = 1;
	f.sym[2].st_name = 8; /* fromhost */
	f.sym[2].st_value = RAM + 0x1040;
	f.sym[2].st_shndx = 1;
	memcpy(f.str, strtab, sizeof(strtab));
	f.sh[1].sh_type = SHT_SYMTAB;
	f.sh[1].sh_offset = offsetof(__typeof__(f), sym);
	f.sh[1].sh_size = sizeof(f.sym);
	f.sh[1].sh_entsize = sizeof(Elf64_Sym);
	f.sh[1].sh_link = 2;
	f.sh[2].sh_type = SHT_STRTAB;
	f.sh[2].sh_offset = offsetof(__typeof__(f), str);
	f.sh[2].sh_size = sizeof(f.str);
	return write_temp(&f, sizeof(f));
}

/* ---- probing ------------------------------------------------------------ */

static void test_probe_image(void **state)
{
	char *path = make_image(0x200000, 3 * MiB, 8192);
	struct error err = { 0 };
	struct loader_kernel k;

	assert_int_equal(
		loader_probe_kernel("kernel", path, false, 0, &k, &err), 0);
	assert_int_equal(k.format, LOADER_FMT_IMAGE);
	assert_int_equal(k.text_offset, 0x200000);
	assert_int_equal(k.mem_size, 3 * MiB);
	assert_int_equal(k.file_size, 8192);
	assert_false(k.fixed);
	drop_temp(path);
}

static void test_probe_rejects(void **state)
{
	static const uint8_t mz[128] = { 'M', 'Z' };
	static const uint8_t junk[100] = { 1, 2, 3 };
	struct error err = { 0 };
	struct loader_kernel k;
	char *path;

	path = write_temp(junk, sizeof(junk));
	assert_int_equal(
		loader_probe_kernel("kernel", path, false, 0, &k, &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "not a RISC-V Linux Image"));
	/* ... but fine as a raw binary. */
	assert_int_equal(loader_probe_kernel("bios", path, true, 0, &k, &err),
			 0);
	assert_int_equal(k.format, LOADER_FMT_RAW);
	assert_int_equal(k.mem_size, sizeof(junk));
	drop_temp(path);

	path = write_temp(mz, sizeof(mz));
	assert_int_equal(
		loader_probe_kernel("kernel", path, false, 0, &k, &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "EFI"));
	drop_temp(path);

	path = make_elf(EM_X86_64);
	assert_int_equal(
		loader_probe_kernel("kernel", path, false, 0, &k, &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "not for RISC-V"));
	drop_temp(path);

	assert_int_equal(loader_probe_kernel("kernel", "/nonexistent/vmlinuz",
					     false, 0, &k, &err),
			 -ENOENT);
	assert_string_equal(err.msg,
			    "kernel /nonexistent/vmlinuz: No such file or "
			    "directory");
}

static void test_probe_truncated_elf(void **state)
{
	uint8_t f[100] = { 0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB };
	struct error err = { 0 };
	struct loader_kernel k;
	char *path = write_temp(f, sizeof(f));

	assert_int_equal(
		loader_probe_kernel("kernel", path, false, 0, &k, &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "ELF"));
	drop_temp(path);
}

/* ---- ELF load and symbols ----------------------------------------------- */

static void test_elf_load_and_symbols(void **state)
{
	struct gmem *gm = fake_ram(16 * MiB, 0xaa);
	char *path = make_elf(EM_RISCV);
	struct error err = { 0 };
	struct loader_layout_req req = { .ram_base = RAM,
					 .ram_size = 16 * MiB };
	struct loader_layout lay;
	struct loader_kernel k;
	uint64_t v = 0;
	unsigned i;

	assert_int_equal(
		loader_probe_kernel("kernel", path, false, 0, &k, &err), 0);
	assert_int_equal(k.format, LOADER_FMT_ELF);
	assert_true(k.fixed);
	assert_int_equal(k.fixed_addr, RAM);
	assert_int_equal(k.mem_size, 0x1040);
	req.kernel = &k;
	req.dtb_size = 4096;
	assert_int_equal(loader_layout(&req, &lay, &err), 0);
	assert_int_equal(lay.kernel_addr, RAM);
	assert_int_equal(lay.kernel_entry, RAM + 4);

	assert_int_equal(loader_load_kernel(gm, "kernel", path, &k,
					    lay.kernel_addr, &err),
			 0);
	for (i = 0; i < 16; i++)
		assert_int_equal(*at(gm, RAM + i), 0x13);
	assert_int_equal(*at(gm, RAM + 16), 0xaa); /* gap untouched */
	for (i = 0; i < 8; i++)
		assert_int_equal(*at(gm, RAM + 0x1000 + i), 0x5a);
	for (i = 8; i < 64; i++) /* bss zeroed */
		assert_int_equal(*at(gm, RAM + 0x1000 + i), 0);
	assert_int_equal(*at(gm, RAM + 0x1040), 0xaa);

	assert_int_equal(loader_elf_symbol(path, "tohost", &v, &err), 0);
	assert_int_equal(v, RAM + 0x1000);
	assert_int_equal(loader_elf_symbol(path, "fromhost", &v, &err), 0);
	assert_int_equal(v, RAM + 0x1040);
	assert_int_equal(loader_elf_symbol(path, "nosuch", &v, &err), -ENOENT);
	drop_temp(path);
	free_ram(gm);
}

/* ---- Image and raw loads ------------------------------------------------ */

static void test_image_load(void **state)
{
	struct gmem *gm = fake_ram(32 * MiB, 0);
	char *path = make_image(0x200000, 2 * MiB, 300000);
	struct error err = { 0 };
	struct loader_kernel k;

	assert_int_equal(
		loader_probe_kernel("kernel", path, false, 0, &k, &err), 0);
	assert_int_equal(loader_load_kernel(gm, "kernel", path, &k,
					    RAM + 0x200000, &err),
			 0);
	assert_int_equal(*at(gm, RAM + 0x200000), 'M');
	assert_int_equal(*at(gm, RAM + 0x200000 + 299999), (uint8_t)299999);
	/* Past the end of RAM: clear error. */
	assert_int_equal(loader_load_kernel(gm, "kernel", path, &k,
					    RAM + 32 * MiB - 4096, &err),
			 -EFAULT);
	assert_non_null(strstr(err.msg, "not guest RAM"));
	assert_int_equal(gm->mapped, 0);
	drop_temp(path);
	free_ram(gm);
}

/* A gmem that maps the file: the loader copies nothing itself, and a map
 * outside RAM is the same clear error. */
static void test_image_mapped(void **state)
{
	struct gmem *gm = fake_ram(32 * MiB, 0xaa);
	char *path = make_image(0x200000, 2 * MiB, 300000);
	struct error err = { 0 };
	struct loader_kernel k;

	gm->maps_files = true;
	assert_int_equal(
		loader_probe_kernel("kernel", path, false, 0, &k, &err), 0);
	assert_int_equal(loader_load_kernel(gm, "kernel", path, &k,
					    RAM + 0x200000, &err),
			 0);
	assert_int_equal(gm->mapped, 1);
	assert_int_equal(*at(gm, RAM + 0x200000), 'M');
	assert_int_equal(*at(gm, RAM + 0x200000 + 299999), (uint8_t)299999);
	assert_int_equal(*at(gm, RAM + 0x200000 + 300000), 0xaa);
	assert_int_equal(loader_load_kernel(gm, "kernel", path, &k,
					    RAM + 32 * MiB - 4096, &err),
			 -EFAULT);
	assert_non_null(strstr(err.msg, "not guest RAM"));
	assert_int_equal(gm->mapped, 1);
	drop_temp(path);
	free_ram(gm);
}

static void test_load_file_limits(void **state)
{
	static const uint8_t data[5000] = { 7 };
	struct gmem *gm = fake_ram(4 * MiB, 0);
	struct error err = { 0 };
	char *path = write_temp(data, sizeof(data));

	assert_int_equal(
		loader_load_file(gm, "initrd", path, RAM + 8, 5000, &err), 0);
	assert_int_equal(*at(gm, RAM + 8), 7);
	assert_int_equal(loader_load_file(gm, "initrd", path, RAM, 4999, &err),
			 -ENOSPC);
	assert_non_null(strstr(err.msg, "initrd"));
	drop_temp(path);
	free_ram(gm);
}

/* ---- layout ------------------------------------------------------------- */

static struct loader_kernel image_kernel(uint64_t mem_size)
{
	struct loader_kernel k = { .format = LOADER_FMT_IMAGE,
				   .file_size = mem_size / 2,
				   .mem_size = mem_size,
				   .text_offset = 0x200000 };
	return k;
}

static void test_layout_opensbi(void **state)
{
	struct loader_kernel k = image_kernel(30 * MiB);
	struct loader_layout_req req = {
		.ram_base = RAM,
		.ram_size = 512 * MiB,
		.fw_size = 270000,
		.kernel = &k,
		.initrd_size = 20 * MiB + 123,
		.dtb_size = 8192,
		.fw_info = true,
	};
	struct error err = { 0 };
	struct loader_layout lay;

	assert_int_equal(loader_layout(&req, &lay, &err), 0);
	assert_int_equal(lay.fw_addr, RAM);
	assert_int_equal(lay.fw_end, RAM + 270000);
	assert_int_equal(lay.kernel_addr, 0x80200000ULL);
	assert_int_equal(lay.kernel_entry, 0x80200000ULL);
	assert_int_equal(lay.kernel_end, 0x80200000ULL + 30 * MiB);
	assert_int_equal(lay.dtb_addr, RAM + 510 * MiB);
	assert_int_equal(lay.dtb_addr % (2 * MiB), 0);
	assert_true(lay.dtb_end <= RAM + 512 * MiB);
	assert_int_equal(lay.fw_info_addr, lay.dtb_addr - 4096);
	assert_int_equal(lay.initrd_addr % 4096, 0);
	assert_true(lay.initrd_end <= lay.fw_info_addr);
	assert_true(lay.initrd_addr >= lay.kernel_end);
	assert_int_equal(lay.initrd_end - lay.initrd_addr, 20 * MiB + 123);
}

static void test_layout_builtin_same_kernel_addr(void **state)
{
	struct loader_kernel k = image_kernel(30 * MiB);
	struct loader_layout_req req = { .ram_base = RAM,
					 .ram_size = 128 * MiB,
					 .kernel = &k,
					 .dtb_size = 4096 };
	struct error err = { 0 };
	struct loader_layout lay;

	assert_int_equal(loader_layout(&req, &lay, &err), 0);
	assert_int_equal(lay.kernel_addr, 0x80200000ULL);
	assert_int_equal(lay.fw_end, 0);
	assert_int_equal(lay.initrd_end, 0);
	assert_int_equal(lay.dtb_addr, RAM + 126 * MiB);
}

static void test_layout_big_firmware_moves_kernel(void **state)
{
	struct loader_kernel k = image_kernel(4 * MiB);
	struct loader_layout_req req = { .ram_base = RAM,
					 .ram_size = 64 * MiB,
					 .fw_size = 3 * MiB,
					 .kernel = &k };
	struct error err = { 0 };
	struct loader_layout lay;

	assert_int_equal(loader_layout(&req, &lay, &err), 0);
	assert_int_equal(lay.kernel_addr, RAM + 4 * MiB);
}

static void test_layout_initrd_too_big(void **state)
{
	struct loader_kernel k = image_kernel(16 * MiB);
	struct loader_layout_req req = {
		.ram_base = RAM,
		.ram_size = 64 * MiB,
		.kernel = &k,
		.initrd_size = 45 * MiB,
		.dtb_size = 4096,
		.initrd_name = "initrd /y",
	};
	struct error err = { 0 };
	struct loader_layout lay;

	assert_int_equal(loader_layout(&req, &lay, &err), -ENOSPC);
	/* RAM 64 MiB - 2 (kernel offset) - 16 (kernel) - 2 (DTB slot). */
	assert_string_equal(err.msg, "initrd /y (45 MiB) does not fit in "
				     "44 MiB of RAM above the kernel");
	req.initrd_size = 44 * MiB;
	assert_int_equal(loader_layout(&req, &lay, &err), 0);
	assert_int_equal(lay.initrd_addr, RAM + 18 * MiB);
}

static void test_layout_kernel_too_big(void **state)
{
	struct loader_kernel k = image_kernel(64 * MiB);
	struct loader_layout_req req = { .ram_base = RAM,
					 .ram_size = 64 * MiB,
					 .kernel = &k,
					 .kernel_name = "kernel /x" };
	struct error err = { 0 };
	struct loader_layout lay;

	assert_int_equal(loader_layout(&req, &lay, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "kernel /x (64 MiB at 0x80200000) "
					"does not fit in RAM"));
}

static void test_layout_no_room_for_dtb(void **state)
{
	struct loader_kernel k = image_kernel(6 * MiB - 4096);
	struct loader_layout_req req = { .ram_base = RAM,
					 .ram_size = 8 * MiB,
					 .kernel = &k,
					 .dtb_size = 4096 };
	struct error err = { 0 };
	struct loader_layout lay;

	assert_int_equal(loader_layout(&req, &lay, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "device tree"));
	req.dtb_size = 3 * MiB;
	assert_int_equal(loader_layout(&req, &lay, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "larger than"));
}

static void test_layout_elf_overlaps_firmware(void **state)
{
	struct loader_kernel k = { .format = LOADER_FMT_ELF,
				   .fixed = true,
				   .fixed_addr = RAM + 0x1000,
				   .mem_size = 0x1000 };
	struct loader_layout_req req = { .ram_base = RAM,
					 .ram_size = 16 * MiB,
					 .fw_size = 0x80000,
					 .kernel = &k };
	struct error err = { 0 };
	struct loader_layout lay;

	assert_int_equal(loader_layout(&req, &lay, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "overlaps"));
	/* ELF outside RAM. */
	k.fixed_addr = 0x1000;
	req.fw_size = 0;
	assert_int_equal(loader_layout(&req, &lay, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "does not fit in RAM"));
}

static void test_layout_bad_ram(void **state)
{
	struct loader_layout_req req = { .ram_base = RAM, .ram_size = 0 };
	struct error err = { 0 };
	struct loader_layout lay;

	assert_int_equal(loader_layout(&req, &lay, &err), -EINVAL);
	req.ram_size = 4096;
	req.fw_size = 8192;
	assert_int_equal(loader_layout(&req, &lay, &err), -EINVAL);
}

/* ---- fw_dynamic --------------------------------------------------------- */

static void test_fw_dynamic_info(void **state)
{
	static const uint8_t want[48] = {
		0x4f, 0x53, 0x42, 0x49, 0,    0,    0,	  0, /* magic "OSBI" */
		2,    0,    0,	  0,	0,    0,    0,	  0, /* version */
		0,    0,    0x20, 0x80, 0,    0,    0,	  0, /* next_addr */
		1,    0,    0,	  0,	0,    0,    0,	  0, /* next_mode S */
		0,    0,    0,	  0,	0,    0,    0,	  0, /* options */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* any */
	};
	struct gmem *gm = fake_ram(1 * MiB, 0);
	struct error err = { 0 };

	assert_int_equal(
		loader_write_fw_dynamic_info(gm, RAM + 0x1000, 0x80200000ULL,
					     FW_DYNAMIC_NEXT_MODE_S, 0,
					     FW_DYNAMIC_BOOT_HART_ANY, &err),
		0);
	assert_memory_equal(at(gm, RAM + 0x1000), want, sizeof(want));
	assert_int_equal(
		loader_write_fw_dynamic_info(gm, RAM + 4, 0, 1, 0, 0, &err),
		-EINVAL);
	assert_int_equal(
		loader_write_fw_dynamic_info(gm, 0x1000, 0, 1, 0, 0, &err),
		-EFAULT);
	free_ram(gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_image),
		cmocka_unit_test(test_probe_rejects),
		cmocka_unit_test(test_probe_truncated_elf),
		cmocka_unit_test(test_elf_load_and_symbols),
		cmocka_unit_test(test_image_load),
		cmocka_unit_test(test_image_mapped),
		cmocka_unit_test(test_load_file_limits),
		cmocka_unit_test(test_layout_opensbi),
		cmocka_unit_test(test_layout_builtin_same_kernel_addr),
		cmocka_unit_test(test_layout_big_firmware_moves_kernel),
		cmocka_unit_test(test_layout_initrd_too_big),
		cmocka_unit_test(test_layout_kernel_too_big),
		cmocka_unit_test(test_layout_no_room_for_dtb),
		cmocka_unit_test(test_layout_elf_overlaps_firmware),
		cmocka_unit_test(test_layout_bad_ram),
		cmocka_unit_test(test_fw_dynamic_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
