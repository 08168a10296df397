/*
 * libFuzzer target: the boot loaders (src/machine/loader.c) on a hostile
 * kernel file: Linux Image and ELF headers, program headers and the
 * symbol table are parsed from the file. The input is written to a file,
 * probed as a kernel (raw allowed), laid out with an initrd in 64 MiB of
 * RAM, loaded, then searched for the HTIF symbols; the same file is also
 * loaded as an initrd. Checks: every failure is a negative errno with a
 * message, and a successful layout stays inside RAM; ASan/UBSan catch
 * the rest.
 *
 * Build and run: tools/fuzz loader.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/loader.h"
#include "mem/gmem.h"
#include "util/error.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (64ULL << 20)

static char path[64];
static struct gmem *mem;

static void init(void)
{
	snprintf(path, sizeof(path), "%s/fuzz-loader-%d.bin",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
		 (int)getpid());
	log_set_file(fopen("/dev/null", "w"));
	mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	CHECK(mem);
}

static void failed_cleanly(int r, const struct error *err)
{
	CHECK(r < 0 && err->code == -r && err->msg[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err = { 0 };
	struct loader_kernel k;
	struct loader_layout lay;
	uint64_t v;

	if (!mem)
		init();
	FILE *f = fopen(path, "wb");
	CHECK(f);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);

	int r = loader_probe_kernel("kernel", path, true, 0, &k, &err);
	if (r) {
		failed_cleanly(r, &err);
		goto initrd;
	}
	struct loader_layout_req req = {
		.ram_base = RAM_BASE,
		.ram_size = RAM_SIZE,
		.kernel = &k,
		.initrd_size = 4096,
		.dtb_size = 4096,
		.kernel_name = path,
		.initrd_name = "initrd",
	};
	r = loader_layout(&req, &lay, &err);
	if (r) {
		failed_cleanly(r, &err);
		goto initrd;
	}
	CHECK(lay.kernel_addr >= RAM_BASE &&
	      lay.kernel_end <= RAM_BASE + RAM_SIZE);
	CHECK(lay.dtb_end <= RAM_BASE + RAM_SIZE);
	error_clear(&err);
	r = loader_load_kernel(mem, "kernel", path, &k, lay.kernel_addr, &err);
	if (r)
		failed_cleanly(r, &err);
	error_clear(&err);
	r = loader_elf_symbol(path, "tohost", &v, &err);
	if (r && r != -ENOENT)
		failed_cleanly(r, &err);
initrd:
	error_clear(&err);
	r = loader_load_file(mem, "initrd", path, RAM_BASE + (32ULL << 20),
			     32ULL << 20, &err);
	if (r)
		failed_cleanly(r, &err);
	unlink(path);
	return 0;
}
