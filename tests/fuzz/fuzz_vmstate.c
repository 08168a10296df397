/*
 * libFuzzer target: the VM state file loader (docs/vm-state.md).
 *
 * The input is a state file. The harness reads it section by section
 * through src/util/state_io and hands each section to the loader its name
 * selects, on live objects: a hart on a small gmem, the ACLINT, PLIC, UART
 * and goldfish RTC, guest RAM, and a virtio-mmio transport with a fake
 * back end. Every rejection must be a clean error (ASan/UBSan catch the
 * rest); after a load that succeeded the objects must satisfy their
 * invariants (checked below). Seeds: tests/fuzz/gen_seeds_vmstate.py.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/hart.h"
#include "dev/aclint.h"
#include "dev/dev_state.h"
#include "dev/goldfish_rtc.h"
#include "dev/plic.h"
#include "dev/uart16550.h"
#include "mem/gmem.h"
#include "util/log.h"
#include "util/state_io.h"
#include "util/vclock.h"
#include "virtio/virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (1ull << 20)

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct gmem *gm;
static struct hart *h;
static struct vclock clk;
static struct aclint *aclint;
static struct plic *plic;
static struct uart16550 *uart;
static struct goldfish_rtc *rtc;
static struct virtio_dev *vd;
static int fd = -1;

static void no_line(void *opaque, int level)
{
}

static void no_output(void *opaque, const uint8_t *b, size_t n)
{
}

static uint64_t cmp;

static void set_cmp(void *opaque, unsigned hart, uint64_t v)
{
	cmp = v;
}

static uint64_t get_cmp(void *opaque, unsigned hart)
{
	return cmp;
}

static void fake_noop(void *opaque)
{
}

static void fake_start(void *opaque, struct virtio_dev *d)
{
}

static void fake_config_read(void *opaque, uint32_t off, void *buf,
			     uint32_t len)
{
	memset(buf, 0, len);
}

static const struct virtio_dev_ops fake_ops = {
	.name = "fuzz",
	.device_id = VIRTIO_ID_RNG,
	.n_queues = 2,
	.queue_max = 256,
	.config_size = 8,
	.config_read = fake_config_read,
	.start = fake_start,
	.reset = fake_noop,
	.quiesce = fake_noop,
};

static void setup(void)
{
	struct irq_line line = { no_line, NULL };
	struct irq_line lines[2] = { line, line };
	struct aclint_timer_ops tops = { set_cmp, get_cmp };
	struct uart_backend be = { no_output, NULL, NULL };

	log_configure("error", NULL, 0);
	vclock_init(&clk);
	gm = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	struct hart_config hc = { .hartid = 0, .mem = gm, .clock = &clk };
	h = hart_create(&hc, NULL);
	aclint = aclint_create(1, &clk, &line, &tops, NULL, NULL);
	plic = plic_create(8, 1, lines, NULL);
	uart = uart_create(&line, &be, NULL);
	rtc = goldfish_rtc_create(&line, NULL);
	vd = virtio_mmio_create(gm, &fake_ops, NULL, &line, NULL);
	fd = memfd_create("vmstate", 0);
	CHECK(gm && h && aclint && plic && uart && rtc && vd && fd >= 0);
}

static int load_section(struct state_reader *r, struct error *err)
{
	if (state_is(r, "hart"))
		return hart_state_load(h, r, err);
	if (state_is(r, "aclint"))
		return aclint_state_load(aclint, r, err);
	if (state_is(r, "plic"))
		return plic_state_load(plic, r, err);
	if (state_is(r, "uart16550"))
		return uart_state_load(uart, 0, r, err);
	if (state_is(r, "goldfish-rtc"))
		return goldfish_rtc_state_load(rtc, r, err);
	if (state_is(r, "ram") || state_is(r, "ram-pass")) /* + migration */
		return gmem_state_load(gm, r, err);
	if (state_is(r, "virtio-mmio"))
		return virtio_mmio_load(vd, 0, r, err);
	return state_fail(r, err, 22, "unknown section");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_reader r;
	struct error err = { 0 };

	if (!gm)
		setup();
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	int rc = state_reader_open(&r, fd, &err);
	while (!rc) {
		rc = state_next(&r, &err);
		if (rc <= 0)
			break;
		rc = load_section(&r, &err);
		if (!rc && state_is(&r, "hart")) {
			enum priv p = hart_get_priv(h);
			CHECK(p == PRIV_U || p == PRIV_S || p == PRIV_M);
			CHECK(hart_get_reg(h, 0) == 0);
		}
	}
	/* every failure says what it was */
	CHECK(rc >= 0 || err.msg[0] != 0);
	state_reader_close(&r);
	return 0;
}
