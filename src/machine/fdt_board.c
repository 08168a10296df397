/*
 * Device tree of the virt board (see fdt_board.h). Built with libfdt's
 * sequential-write API: nodes come out in the order written here, so
 * phandles are assigned up front and virtio slot 0 is probed first.
 */
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "machine/fdt_board.h"
#include "util/compiler.h"

static const char *const default_isa_ext[] = {
	"i", "m", "a", "f", "d", "c", "zicsr", "zifencei",
};

void fdt_board_init(struct fdt_board *b)
{
	memset(b, 0, sizeof(*b));
	b->n_harts = 1;
	b->isa = "rv64imafdc_zicsr_zifencei";
	b->isa_base = "rv64i";
	b->isa_extensions = default_isa_ext;
	b->n_isa_extensions = ARRAY_SIZE(default_isa_ext);
	b->mmu_type = "riscv,sv57";
	b->timebase_hz = VIRT_TIMEBASE_HZ;
	b->ram_base = VIRT_RAM_BASE;
	b->ram_size = 512ULL << 20;
	b->stdout_path = VIRT_STDOUT_PATH;
	b->plic_ndev = VIRT_PLIC_NDEV;
}

/*
 * A writer with a sticky error: every helper is a no-op once a libfdt call
 * failed, so the builder below reads as a plain description of the tree and
 * the caller checks rc once (and retries with a larger buffer on NOSPACE).
 */
struct fdtw {
	void *buf;
	int rc;
};

static void w_begin(struct fdtw *w, const char *name)
{
	if (!w->rc)
		w->rc = fdt_begin_node(w->buf, name);
}

/* A node named "<base>@<hex unit address>". */
static void w_begin_at(struct fdtw *w, const char *base, uint64_t addr)
{
	char name[64];

	snprintf(name, sizeof(name), "%s@%llx", base, (unsigned long long)addr);
	w_begin(w, name);
}

static void w_end(struct fdtw *w)
{
	if (!w->rc)
		w->rc = fdt_end_node(w->buf);
}

static void w_prop(struct fdtw *w, const char *name, const void *val, int len)
{
	if (!w->rc)
		w->rc = fdt_property(w->buf, name, val, len);
}

static void w_empty(struct fdtw *w, const char *name)
{
	w_prop(w, name, NULL, 0);
}

static void w_str(struct fdtw *w, const char *name, const char *s)
{
	if (!w->rc)
		w->rc = fdt_property_string(w->buf, name, s);
}

static void w_u32(struct fdtw *w, const char *name, uint32_t v)
{
	if (!w->rc)
		w->rc = fdt_property_u32(w->buf, name, v);
}

static void w_u64(struct fdtw *w, const char *name, uint64_t v)
{
	if (!w->rc)
		w->rc = fdt_property_u64(w->buf, name, v);
}

/* A property of n big-endian cells. */
static void w_cells(struct fdtw *w, const char *name, const uint32_t *cells,
		    unsigned n)
{
	fdt32_t *be;
	unsigned i;

	if (w->rc)
		return;
	be = malloc((n ? n : 1) * sizeof(*be));
	if (!be) {
		w->rc = -FDT_ERR_INTERNAL;
		return;
	}
	for (i = 0; i < n; i++)
		be[i] = cpu_to_fdt32(cells[i]);
	w->rc = fdt_property(w->buf, name, be, (int)(n * sizeof(*be)));
	free(be);
}

/* reg = <addr size> with #address-cells = #size-cells = 2. */
static void w_reg(struct fdtw *w, uint64_t addr, uint64_t size)
{
	uint32_t c[4] = { addr >> 32, (uint32_t)addr, size >> 32,
			  (uint32_t)size };

	w_cells(w, "reg", c, 4);
}

/* A string list ("a\0b\0") from an array. */
static void w_strlist(struct fdtw *w, const char *name, const char *const *s,
		      unsigned n)
{
	size_t len = 0, off = 0;
	unsigned i;
	char *buf;

	if (w->rc)
		return;
	for (i = 0; i < n; i++)
		len += strlen(s[i]) + 1;
	buf = malloc(len ? len : 1);
	if (!buf) {
		w->rc = -FDT_ERR_INTERNAL;
		return;
	}
	for (i = 0; i < n; i++) {
		size_t l = strlen(s[i]) + 1;

		memcpy(buf + off, s[i], l);
		off += l;
	}
	w_prop(w, name, buf, (int)len);
	free(buf);
}

/*
 * Phandles, fixed before writing: cpu N = 1 + 2N, its intc = 2 + 2N, then
 * the PLIC and the syscon.
 */
static uint32_t ph_cpu(unsigned n)
{
	return 1 + 2 * n;
}

static uint32_t ph_intc(unsigned n)
{
	return 2 + 2 * n;
}

static uint32_t ph_plic(const struct fdt_board *b)
{
	return 1 + 2 * b->n_harts;
}

static uint32_t ph_syscon(const struct fdt_board *b)
{
	return 2 + 2 * b->n_harts;
}

static void build_cpus(struct fdtw *w, const struct fdt_board *b)
{
	unsigned i;

	w_begin(w, "cpus");
	w_u32(w, "#address-cells", 1);
	w_u32(w, "#size-cells", 0);
	w_u32(w, "timebase-frequency", b->timebase_hz);
	for (i = 0; i < b->n_harts; i++) {
		w_begin_at(w, "cpu", i);
		w_str(w, "device_type", "cpu");
		w_u32(w, "reg", i);
		w_str(w, "status", "okay");
		w_str(w, "compatible", "riscv");
		w_str(w, "riscv,isa", b->isa);
		w_str(w, "riscv,isa-base", b->isa_base);
		w_strlist(w, "riscv,isa-extensions", b->isa_extensions,
			  b->n_isa_extensions);
		w_str(w, "mmu-type", b->mmu_type);
		w_u32(w, "phandle", ph_cpu(i));

		w_begin(w, "interrupt-controller");
		w_str(w, "compatible", "riscv,cpu-intc");
		w_empty(w, "interrupt-controller");
		w_u32(w, "#interrupt-cells", 1);
		/* Not in the binding's examples, but dtc >= 1.6 warns about
		 * an interrupt provider without it (QEMU's tree does). */
		w_u32(w, "#address-cells", 0);
		w_u32(w, "phandle", ph_intc(i));
		w_end(w);

		w_end(w);
	}
	/* cpu-map: one cluster, one core per hart (cpus.yaml, cpu-map). */
	w_begin(w, "cpu-map");
	w_begin(w, "cluster0");
	for (i = 0; i < b->n_harts; i++) {
		char core[32];

		snprintf(core, sizeof(core), "core%u", i);
		w_begin(w, core);
		w_u32(w, "cpu", ph_cpu(i));
		w_end(w);
	}
	w_end(w);
	w_end(w);
	w_end(w);
}

/* interrupts-extended = <&intcN a &intcN b> for every hart. */
static void w_hart_irqs(struct fdtw *w, const struct fdt_board *b, uint32_t a,
			uint32_t c)
{
	uint32_t *cells;
	unsigned i;

	if (w->rc)
		return;
	cells = malloc(b->n_harts * 4 * sizeof(*cells));
	if (!cells) {
		w->rc = -FDT_ERR_INTERNAL;
		return;
	}
	for (i = 0; i < b->n_harts; i++) {
		cells[4 * i + 0] = ph_intc(i);
		cells[4 * i + 1] = a;
		cells[4 * i + 2] = ph_intc(i);
		cells[4 * i + 3] = c;
	}
	w_cells(w, "interrupts-extended", cells, b->n_harts * 4);
	free(cells);
}

static void build_soc(struct fdtw *w, const struct fdt_board *b)
{
	static const char *const clint_compat[] = { "sifive,clint0",
						    "riscv,clint0" };
	static const char *const plic_compat[] = { "sifive,plic-1.0.0",
						   "riscv,plic0" };
	unsigned i;

	w_begin(w, "soc");
	w_u32(w, "#address-cells", 2);
	w_u32(w, "#size-cells", 2);
	w_str(w, "compatible", "simple-bus");
	w_empty(w, "ranges");

	/* syscon: poweroff/reboot nodes at the root point here by regmap. */
	w_begin_at(w, "syscon", VIRT_SYSCON_BASE);
	w_str(w, "compatible", "syscon");
	w_reg(w, VIRT_SYSCON_BASE, VIRT_SYSCON_SIZE);
	w_u32(w, "phandle", ph_syscon(b));
	w_end(w);

	/* pvpanic-mmio (QEMU's binding): one byte register, the kernel
	 * writes 1 when it panics */
	w_begin_at(w, "pvpanic", VIRT_PVPANIC_BASE);
	w_str(w, "compatible", "qemu,pvpanic-mmio");
	w_reg(w, VIRT_PVPANIC_BASE, 2);
	w_end(w);

	w_begin_at(w, "rtc", VIRT_RTC_BASE);
	w_str(w, "compatible", "google,goldfish-rtc");
	w_reg(w, VIRT_RTC_BASE, VIRT_RTC_SIZE);
	w_u32(w, "interrupt-parent", ph_plic(b));
	w_u32(w, "interrupts", VIRT_RTC_IRQ);
	w_end(w);

	/* CLINT: MSIP (3) and MTIP (7) of every hart (M-mode only). */
	w_begin_at(w, "clint", VIRT_CLINT_BASE);
	w_strlist(w, "compatible", clint_compat, 2);
	w_reg(w, VIRT_CLINT_BASE, VIRT_CLINT_SIZE);
	w_hart_irqs(w, b, 3, 7);
	w_end(w);

	/* PLIC: context 2N is hart N's M-mode (MEIP 11), 2N+1 its S-mode
	 * (SEIP 9), the order the interrupts-extended list defines. */
	w_begin_at(w, "plic", VIRT_PLIC_BASE);
	w_strlist(w, "compatible", plic_compat, 2);
	w_reg(w, VIRT_PLIC_BASE, VIRT_PLIC_SIZE);
	w_u32(w, "#address-cells", 0);
	w_u32(w, "#interrupt-cells", 1);
	w_empty(w, "interrupt-controller");
	w_u32(w, "riscv,ndev", b->plic_ndev);
	w_hart_irqs(w, b, 11, 9);
	w_u32(w, "phandle", ph_plic(b));
	w_end(w);

	w_begin_at(w, "serial", VIRT_UART0_BASE);
	w_str(w, "compatible", "ns16550a");
	w_reg(w, VIRT_UART0_BASE, VIRT_UART0_SIZE);
	w_u32(w, "clock-frequency", VIRT_UART0_CLOCK_HZ);
	w_u32(w, "interrupt-parent", ph_plic(b));
	w_u32(w, "interrupts", VIRT_UART0_IRQ);
	w_end(w);

	for (i = 0; i < b->n_virtio; i++) {
		uint64_t base = VIRT_VIRTIO_BASE + i * VIRT_VIRTIO_STRIDE;

		w_begin_at(w, "virtio_mmio", base);
		w_str(w, "compatible", "virtio,mmio");
		w_reg(w, base, VIRT_VIRTIO_STRIDE);
		w_u32(w, "interrupt-parent", ph_plic(b));
		w_u32(w, "interrupts", VIRT_VIRTIO_IRQ_BASE + i);
		w_end(w);
	}
	w_end(w);
}

static void build_chosen(struct fdtw *w, const struct fdt_board *b)
{
	w_begin(w, "chosen");
	if (b->bootargs)
		w_str(w, "bootargs", b->bootargs);
	w_str(w, "stdout-path", b->stdout_path);
	if (b->has_initrd) {
		/* chosen.yaml: u32 or u64; u64 always fits. */
		w_u64(w, "linux,initrd-start", b->initrd_start);
		w_u64(w, "linux,initrd-end", b->initrd_end);
	}
	if (b->rng_seed) {
		uint8_t seed[32];

		/* Best effort: without entropy the property is left out. */
		if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) ==
		    (ssize_t)sizeof(seed))
			w_prop(w, "rng-seed", seed, sizeof(seed));
	}
	w_end(w);
}

static void build_tree(struct fdtw *w, const struct fdt_board *b)
{
	if (!w->rc)
		w->rc = fdt_finish_reservemap(w->buf);
	w_begin(w, "");
	w_u32(w, "#address-cells", 2);
	w_u32(w, "#size-cells", 2);
	w_str(w, "compatible", "riscv-virtio");
	w_str(w, "model", "riscv-virtio,softvisor");

	build_chosen(w, b);

	w_begin(w, "aliases");
	w_str(w, "serial0", VIRT_STDOUT_PATH);
	w_end(w);

	w_begin_at(w, "memory", b->ram_base);
	w_str(w, "device_type", "memory");
	w_reg(w, b->ram_base, b->ram_size);
	w_end(w);

	if (b->fw_resv_size) {
		w_begin(w, "reserved-memory");
		w_u32(w, "#address-cells", 2);
		w_u32(w, "#size-cells", 2);
		w_empty(w, "ranges");
		w_begin_at(w, "firmware", b->fw_resv_base);
		w_reg(w, b->fw_resv_base, b->fw_resv_size);
		w_empty(w, "no-map");
		w_end(w);
		w_end(w);
	}

	build_cpus(w, b);
	build_soc(w, b);

	/* power/reset/syscon-poweroff.yaml and syscon-reboot.yaml. */
	w_begin(w, "poweroff");
	w_str(w, "compatible", "syscon-poweroff");
	w_u32(w, "regmap", ph_syscon(b));
	w_u32(w, "offset", 0);
	w_u32(w, "value", VIRT_SYSCON_POWEROFF);
	w_end(w);
	w_begin(w, "reboot");
	w_str(w, "compatible", "syscon-reboot");
	w_u32(w, "regmap", ph_syscon(b));
	w_u32(w, "offset", 0);
	w_u32(w, "value", VIRT_SYSCON_REBOOT);
	w_end(w);

	w_end(w);
	if (!w->rc)
		w->rc = fdt_finish(w->buf);
}

static int validate(const struct fdt_board *b, struct error *err)
{
	if (b->n_harts < 1 || b->n_harts > FDT_BOARD_MAX_HARTS)
		return error_set(err, EINVAL,
				 "device tree: %u harts: expected 1..%u",
				 b->n_harts, FDT_BOARD_MAX_HARTS);
	if (!b->isa || !b->isa_base || !b->mmu_type || !b->stdout_path ||
	    (b->n_isa_extensions && !b->isa_extensions))
		return error_set(err, EINVAL,
				 "device tree: ISA, MMU type or stdout-path "
				 "missing");
	if (b->ram_size == 0 || b->ram_base + b->ram_size < b->ram_base)
		return error_set(err, EINVAL,
				 "device tree: RAM size %llu at 0x%llx is "
				 "invalid",
				 (unsigned long long)b->ram_size,
				 (unsigned long long)b->ram_base);
	if (b->n_virtio > FDT_BOARD_MAX_VIRTIO)
		return error_set(
			err, EINVAL,
			"device tree: %u virtio-mmio slots: at most %d",
			b->n_virtio, FDT_BOARD_MAX_VIRTIO);
	if (b->has_initrd && b->initrd_end < b->initrd_start)
		return error_set(err, EINVAL,
				 "device tree: initrd end below its start");
	if (b->timebase_hz == 0)
		return error_set(err, EINVAL,
				 "device tree: timebase-frequency is 0");
	return 0;
}

int fdt_board_build(const struct fdt_board *b, void **blob, size_t *size,
		    struct error *err)
{
	size_t cap = 16384 + (size_t)b->n_harts * 1024;
	int rc;

	rc = validate(b, err);
	if (rc)
		return rc;
	for (;;) {
		struct fdtw w = { .buf = malloc(cap), .rc = 0 };

		if (!w.buf)
			return error_set(err, ENOMEM, "device tree: %s",
					 strerror(ENOMEM));
		w.rc = fdt_create(w.buf, (int)cap);
		build_tree(&w, b);
		if (w.rc == -FDT_ERR_NOSPACE && cap < (64u << 20)) {
			free(w.buf);
			cap *= 2;
			continue;
		}
		if (w.rc) {
			free(w.buf);
			return error_set(err, EINVAL, "device tree: libfdt: %s",
					 fdt_strerror(w.rc));
		}
		*size = fdt_totalsize(w.buf);
		*blob = w.buf;
		return 0;
	}
}

int fdt_board_dump(const char *path, const void *blob, size_t size,
		   struct error *err)
{
	const uint8_t *p = blob;
	size_t off = 0;
	int fd, e;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return error_set(err, errno, "--dump-dtb %s: %s", path,
				 strerror(errno));
	while (off < size) {
		ssize_t n = write(fd, p + off, size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			close(fd);
			return error_set(err, e, "--dump-dtb %s: %s", path,
					 strerror(e));
		}
		off += (size_t)n;
	}
	if (close(fd) < 0)
		return error_set(err, errno, "--dump-dtb %s: %s", path,
				 strerror(errno));
	return 0;
}
