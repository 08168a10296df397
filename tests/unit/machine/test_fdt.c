/* Unit tests for the virt board device tree (src/machine/fdt_board.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "machine/fdt_board.h"

static void *build(const struct fdt_board *b, size_t *size)
{
	struct error err = { 0 };
	void *blob = NULL;

	assert_int_equal(fdt_board_build(b, &blob, size, &err), 0);
	assert_non_null(blob);
	assert_int_equal(fdt_check_header(blob), 0);
	assert_int_equal((size_t)fdt_totalsize(blob), *size);
	return blob;
}

static void board_full(struct fdt_board *b, unsigned harts)
{
	fdt_board_init(b);
	b->n_harts = harts;
	b->ram_size = 1ULL << 30;
	b->bootargs = "console=ttyS0 earlycon=sbi";
	b->has_initrd = true;
	b->initrd_start = 0xb0000000ULL;
	b->initrd_end = 0xb1000000ULL;
	b->fw_resv_base = VIRT_RAM_BASE;
	b->fw_resv_size = 0x80000;
	b->n_virtio = 8;
	b->rng_seed = true;
}

/* Run dtc on the blob; return its stderr (malloc'd, "" when clean). */
static char *run_dtc(const void *blob, size_t size)
{
	char dtb[] = "/tmp/sv-test-fdt-XXXXXX";
	char errpath[] = "/tmp/sv-test-fdt-err-XXXXXX";
	const char *dtc = getenv("DTC") ? getenv("DTC") : "dtc";
	struct error err = { 0 };
	char cmd[512], *out;
	FILE *f;
	long len;
	int fd, st;

	fd = mkstemp(dtb);
	assert_true(fd >= 0);
	close(fd);
	fd = mkstemp(errpath);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fdt_board_dump(dtb, blob, size, &err), 0);
	snprintf(cmd, sizeof(cmd), "%s -I dtb -O dts -o /dev/null %s 2>%s", dtc,
		 dtb, errpath);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	f = fopen(errpath, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	out = calloc(1, (size_t)len + 1);
	assert_non_null(out);
	assert_int_equal(fread(out, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	unlink(dtb);
	unlink(errpath);
	return out;
}

static void check_dtc_clean(unsigned harts)
{
	struct fdt_board b;
	size_t size;
	void *blob;
	char *warn;

	board_full(&b, harts);
	blob = build(&b, &size);
	warn = run_dtc(blob, size);
	if (warn[0])
		fprintf(stderr, "dtc said:\n%s", warn);
	assert_string_equal(warn, "");
	free(warn);
	free(blob);
}

static void test_dtc_1_hart(void **state)
{
	check_dtc_clean(1);
}

static void test_dtc_4_harts(void **state)
{
	check_dtc_clean(4);
}

static void test_dtc_64_harts_minimal(void **state)
{
	struct fdt_board b;
	size_t size;
	void *blob;
	char *warn;

	fdt_board_init(&b);
	b.n_harts = 64;
	blob = build(&b, &size);
	warn = run_dtc(blob, size);
	assert_string_equal(warn, "");
	free(warn);
	free(blob);
}

static uint32_t prop_u32(const void *fdt, const char *path, const char *name)
{
	const fdt32_t *p;
	int node, len;

	node = fdt_path_offset(fdt, path);
	assert_true(node >= 0);
	p = fdt_getprop(fdt, node, name, &len);
	assert_non_null(p);
	assert_int_equal(len, 4);
	return fdt32_to_cpu(*p);
}

static const char *prop_str(const void *fdt, const char *path, const char *name)
{
	const char *s;
	int node;

	node = fdt_path_offset(fdt, path);
	assert_true(node >= 0);
	s = fdt_getprop(fdt, node, name, NULL);
	assert_non_null(s);
	return s;
}

static uint64_t get64(const void *p)
{
	fdt64_t v;

	memcpy(&v, p, sizeof(v));
	return fdt64_to_cpu(v);
}

static void test_properties(void **state)
{
	struct fdt_board b;
	const fdt32_t *ie;
	const void *p64;
	size_t size;
	void *fdt;
	int node, len, intc1;
	uint64_t base, sz;

	board_full(&b, 4);
	fdt = build(&b, &size);

	assert_int_equal(prop_u32(fdt, "/cpus", "timebase-frequency"),
			 10000000);
	assert_string_equal(prop_str(fdt, "/cpus/cpu@3", "riscv,isa"),
			    "rv64imafdc_zicsr_zifencei");
	assert_string_equal(prop_str(fdt, "/cpus/cpu@3", "riscv,isa-base"),
			    "rv64i");
	assert_string_equal(prop_str(fdt, "/cpus/cpu@0", "mmu-type"),
			    "riscv,sv57");
	assert_int_equal(prop_u32(fdt, "/cpus/cpu@2", "reg"), 2);
	node = fdt_path_offset(fdt, "/cpus/cpu@1");
	assert_int_equal(
		fdt_stringlist_count(fdt, node, "riscv,isa-extensions"), 8);
	assert_int_equal(fdt_stringlist_search(
				 fdt, node, "riscv,isa-extensions", "zifencei"),
			 7);
	assert_string_equal(
		prop_str(fdt, "/cpus/cpu@1/interrupt-controller", "compatible"),
		"riscv,cpu-intc");
	intc1 = fdt_path_offset(fdt, "/cpus/cpu@1/interrupt-controller");

	/* PLIC: 2 contexts per hart, S-mode of hart 1 is <&intc1 9>. */
	node = fdt_path_offset(fdt, "/soc/plic@c000000");
	assert_true(node >= 0);
	assert_int_equal(fdt_node_check_compatible(fdt, node, "riscv,plic0"),
			 0);
	ie = fdt_getprop(fdt, node, "interrupts-extended", &len);
	assert_non_null(ie);
	assert_int_equal(len, 4 * 4 * 4);
	assert_int_equal(fdt32_to_cpu(ie[4]), fdt_get_phandle(fdt, intc1));
	assert_int_equal(fdt32_to_cpu(ie[5]), 11);
	assert_int_equal(fdt32_to_cpu(ie[7]), 9);
	assert_int_equal(prop_u32(fdt, "/soc/plic@c000000", "riscv,ndev"), 95);

	/* CLINT: MSIP 3, MTIP 7. */
	node = fdt_path_offset(fdt, "/soc/clint@2000000");
	ie = fdt_getprop(fdt, node, "interrupts-extended", &len);
	assert_int_equal(len, 4 * 4 * 4);
	assert_int_equal(fdt32_to_cpu(ie[1]), 3);
	assert_int_equal(fdt32_to_cpu(ie[3]), 7);

	/* UART and its PLIC wiring. */
	assert_int_equal(prop_u32(fdt, "/soc/serial@10000000", "interrupts"),
			 10);
	assert_int_equal(
		prop_u32(fdt, "/soc/serial@10000000", "interrupt-parent"),
		fdt_get_phandle(fdt,
				fdt_path_offset(fdt, "/soc/plic@c000000")));
	assert_int_equal(
		prop_u32(fdt, "/soc/serial@10000000", "clock-frequency"),
		0x384000);
	assert_int_equal(
		prop_u32(fdt, "/soc/virtio_mmio@10008000", "interrupts"), 8);
	assert_int_equal(prop_u32(fdt, "/poweroff", "value"), 0x5555);
	assert_int_equal(prop_u32(fdt, "/reboot", "value"), 0x7777);
	assert_int_equal(
		prop_u32(fdt, "/reboot", "regmap"),
		fdt_get_phandle(fdt,
				fdt_path_offset(fdt, "/soc/syscon@100000")));

	/* Memory, chosen, reserved memory. */
	node = fdt_path_offset(fdt, "/memory@80000000");
	ie = fdt_getprop(fdt, node, "reg", &len);
	assert_int_equal(len, 16);
	base = ((uint64_t)fdt32_to_cpu(ie[0]) << 32) | fdt32_to_cpu(ie[1]);
	sz = ((uint64_t)fdt32_to_cpu(ie[2]) << 32) | fdt32_to_cpu(ie[3]);
	assert_int_equal(base, 0x80000000ULL);
	assert_int_equal(sz, 1ULL << 30);
	assert_string_equal(prop_str(fdt, "/chosen", "bootargs"),
			    "console=ttyS0 earlycon=sbi");
	assert_string_equal(prop_str(fdt, "/chosen", "stdout-path"),
			    "/soc/serial@10000000");
	node = fdt_path_offset(fdt, "/chosen");
	p64 = fdt_getprop(fdt, node, "linux,initrd-start", &len);
	assert_int_equal(len, 8);
	assert_int_equal(get64(p64), 0xb0000000ULL);
	p64 = fdt_getprop(fdt, node, "linux,initrd-end", &len);
	assert_int_equal(get64(p64), 0xb1000000ULL);
	assert_non_null(fdt_getprop(fdt, node, "rng-seed", &len));
	assert_int_equal(len, 32);
	node = fdt_path_offset(fdt, "/reserved-memory/firmware@80000000");
	assert_true(node >= 0);
	assert_non_null(fdt_getprop(fdt, node, "no-map", NULL));
	free(fdt);
}

static void test_minimal_has_no_optional_nodes(void **state)
{
	struct fdt_board b;
	size_t size;
	void *fdt;
	int node;

	fdt_board_init(&b);
	fdt = build(&b, &size);
	node = fdt_path_offset(fdt, "/chosen");
	assert_null(fdt_getprop(fdt, node, "bootargs", NULL));
	assert_null(fdt_getprop(fdt, node, "linux,initrd-start", NULL));
	assert_true(fdt_path_offset(fdt, "/reserved-memory") < 0);
	assert_true(fdt_path_offset(fdt, "/soc/virtio_mmio@10001000") < 0);
	free(fdt);
}

static void test_invalid(void **state)
{
	struct error err = { 0 };
	struct fdt_board b;
	size_t size;
	void *blob = NULL;

	fdt_board_init(&b);
	b.n_harts = 0;
	assert_int_equal(fdt_board_build(&b, &blob, &size, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "harts"));
	fdt_board_init(&b);
	b.n_virtio = 9;
	assert_int_equal(fdt_board_build(&b, &blob, &size, &err), -EINVAL);
	fdt_board_init(&b);
	b.ram_size = 0;
	assert_int_equal(fdt_board_build(&b, &blob, &size, &err), -EINVAL);
	assert_null(blob);
}

static void test_dump_error(void **state)
{
	struct error err = { 0 };
	char x[8] = { 0 };

	assert_true(fdt_board_dump("/nonexistent-dir/x.dtb", x, sizeof(x),
				   &err) < 0);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x.dtb"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtc_1_hart),
		cmocka_unit_test(test_dtc_4_harts),
		cmocka_unit_test(test_dtc_64_harts_minimal),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_minimal_has_no_optional_nodes),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_dump_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
