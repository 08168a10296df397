/* Unit tests of src/dev/dev_state.c: every platform device's state survives
 * a save and a load into a fresh device, and a mismatched or damaged
 * section is refused with a message naming it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "dev/aclint.h"
#include "dev/dev_state.h"
#include "dev/goldfish_rtc.h"
#include "dev/plic.h"
#include "dev/uart16550.h"
#include "util/state_io.h"

static int line_level[8];

static void line_set(void *opaque, int level)
{
	line_level[(uintptr_t)opaque] = level;
}

static void out_nothing(void *opaque, const uint8_t *b, size_t n)
{
}

/* Writer on a fresh memfd; the caller ends the section. */
static int wopen(struct state_writer *w)
{
	struct error err;
	int fd = memfd_create("dev", 0);
	assert_true(fd >= 0);
	assert_int_equal(state_writer_open(w, fd, &err), 0);
	return fd;
}

/* End the last section and the file, rewind, open a reader on it at the
 * first section. */
static void wdone(struct state_writer *w, int fd, struct state_reader *r)
{
	struct error err = { 0 };
	assert_int_equal(state_end(w, &err), 0);
	assert_int_equal(state_writer_finish(w, &err), 0);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(state_reader_open(r, fd, &err), 0);
	assert_int_equal(state_next(r, &err), 1);
}

static void test_uart(void **unused)
{
	struct irq_line irq = { line_set, (void *)0 };
	struct uart_backend be = { out_nothing, NULL, NULL };
	struct uart16550 *a = uart_create(&irq, &be, NULL);
	struct uart16550 *b = uart_create(&irq, &be, NULL);
	const struct mmio_ops *ops = uart_mmio_ops();
	struct state_writer w;
	struct state_reader r;
	struct error err = { 0 };

	ops->write(a, 3, 0x83, 1); /* DLAB */
	ops->write(a, 0, 0x0c, 1);
	ops->write(a, 3, 0x03, 1);
	ops->write(a, 2, 0x07, 1); /* FIFOs on */
	ops->write(a, 1, 0x01, 1); /* RX interrupt */
	ops->write(a, 7, 0x5a, 1);
	uart_receive(a, (const uint8_t *)"abc", 3);
	(void)ops->read(a, 0, 1); /* take 'a': head moves */

	int fd = wopen(&w);
	uart_state_save(a, 0, &w);
	wdone(&w, fd, &r);
	line_level[0] = 0;
	assert_int_equal(uart_state_load(b, 0, &r, &err), 0);
	struct uart_state sa, sb;
	memset(&sa, 0, sizeof(sa));
	memset(&sb, 0, sizeof(sb));
	uart_save(a, &sa);
	uart_save(b, &sb);
	assert_memory_equal(&sa, &sb, sizeof(sa));
	assert_int_equal(line_level[0], 1); /* RX data pending: line driven */
	assert_int_equal(ops->read(b, 0, 1), 'b');

	/* another instance is refused */
	state_reader_close(&r);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(state_reader_open(&r, fd, &err), 0);
	assert_int_equal(state_next(&r, &err), 1);
	assert_int_equal(uart_state_load(b, 1, &r, &err), -EINVAL);
	assert_string_equal(err.msg, "VM state section uart16550/0: "
				     "expected uart16550/1");
	state_reader_close(&r);
	close(fd);
	uart_destroy(a);
	uart_destroy(b);
}

static uint64_t cmp[4];

static void set_cmp(void *opaque, unsigned hart, uint64_t v)
{
	cmp[hart] = v;
}

static uint64_t get_cmp(void *opaque, unsigned hart)
{
	return cmp[hart];
}

static void test_aclint(void **unused)
{
	struct vclock clk;
	struct irq_line msip[2] = { { line_set, (void *)1 },
				    { line_set, (void *)2 } };
	struct aclint_timer_ops tops = { set_cmp, get_cmp };
	struct state_writer w;
	struct state_reader r;
	struct error err = { 0 };

	vclock_init(&clk);
	struct aclint *a = aclint_create(2, &clk, msip, &tops, NULL, NULL);
	struct aclint *b = aclint_create(2, &clk, msip, &tops, NULL, NULL);
	struct aclint *c = aclint_create(1, &clk, msip, &tops, NULL, NULL);
	const struct mmio_ops *ops = aclint_mmio_ops();
	ops->write(a, ACLINT_MSIP_OFF + 4, 1, 4);
	ops->write(a, ACLINT_MTIMECMP_OFF, 1000, 8);
	ops->write(a, ACLINT_MTIMECMP_OFF + 8, 2000, 8);

	int fd = wopen(&w);
	aclint_state_save(a, &w);
	wdone(&w, fd, &r);
	memset(cmp, 0, sizeof(cmp));
	line_level[2] = 0;
	assert_int_equal(aclint_state_load(b, &r, &err), 0);
	assert_int_equal(cmp[0], 1000);
	assert_int_equal(cmp[1], 2000);
	assert_int_equal(line_level[2], 1);
	assert_int_equal(ops->read(b, ACLINT_MSIP_OFF + 4, 4), 1);

	/* saved with 2 harts, loaded into 1 */
	state_reader_close(&r);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(state_reader_open(&r, fd, &err), 0);
	assert_int_equal(state_next(&r, &err), 1);
	assert_int_equal(aclint_state_load(c, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "aclint/0: saved for 2 harts"));
	state_reader_close(&r);
	close(fd);
	aclint_destroy(a);
	aclint_destroy(b);
	aclint_destroy(c);
}

static void test_plic(void **unused)
{
	struct irq_line out[4] = {
		{ line_set, (void *)3 },
		{ line_set, (void *)4 },
		{ line_set, (void *)5 },
		{ line_set, (void *)6 },
	};
	struct state_writer w;
	struct state_reader r;
	struct error err = { 0 };
	struct plic *a = plic_create(40, 2, out, NULL);
	struct plic *b = plic_create(40, 2, out, NULL);
	struct plic *c = plic_create(41, 2, out, NULL);
	const struct mmio_ops *ops = plic_mmio_ops();

	ops->write(a, PLIC_PRIORITY_OFF + 4 * 33, 5, 4);
	ops->write(a, PLIC_PRIORITY_OFF + 4 * 7, 2, 4);
	ops->write(a, PLIC_ENABLE_OFF + PLIC_ENABLE_STRIDE * 1 + 4,
		   1u << (33 - 32), 4);
	ops->write(a, PLIC_CONTEXT_OFF + PLIC_CONTEXT_STRIDE * 1, 1, 4);
	plic_set_irq(a, 33, 1);
	plic_set_irq(a, 7, 1);

	int fd = wopen(&w);
	plic_state_save(a, &w);
	wdone(&w, fd, &r);
	line_level[4] = 0;
	assert_int_equal(plic_state_load(b, &r, &err), 0);
	struct plic_state *sa = malloc(sizeof(*sa)), *sb = malloc(sizeof(*sb));
	plic_save(a, sa);
	plic_save(b, sb);
	assert_memory_equal(sa, sb, sizeof(*sa));
	assert_int_equal(line_level[4], 1); /* context 1 sees source 33 */
	/* claim on the loaded PLIC */
	assert_int_equal(
		ops->read(b, PLIC_CONTEXT_OFF + PLIC_CONTEXT_STRIDE * 1 + 4, 4),
		33);

	state_reader_close(&r);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(state_reader_open(&r, fd, &err), 0);
	assert_int_equal(state_next(&r, &err), 1);
	assert_int_equal(plic_state_load(c, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "plic/0: saved with 40 sources"));
	state_reader_close(&r);
	close(fd);
	free(sa);
	free(sb);
	plic_destroy(a);
	plic_destroy(b);
	plic_destroy(c);
}

static void test_rtc(void **unused)
{
	struct irq_line irq = { line_set, (void *)7 };
	struct state_writer w;
	struct state_reader r;
	struct error err = { 0 };
	struct goldfish_rtc *a = goldfish_rtc_create(&irq, NULL);
	struct goldfish_rtc *b = goldfish_rtc_create(&irq, NULL);
	const struct mmio_ops *ops = goldfish_rtc_mmio_ops();

	/* set the guest clock to one hour after the epoch */
	uint64_t t = 3600ULL * 1000000000ULL;
	ops->write(a, 0x04, t >> 32, 4); /* TIME_HIGH */
	ops->write(a, 0x00, (uint32_t)t, 4);
	ops->write(a, 0x10, 1, 4); /* IRQ_ENABLED */

	int fd = wopen(&w);
	goldfish_rtc_state_save(a, &w);
	wdone(&w, fd, &r);
	assert_int_equal(goldfish_rtc_state_load(b, &r, &err), 0);
	struct goldfish_rtc_state sa, sb;
	memset(&sa, 0, sizeof(sa)); /* padding */
	memset(&sb, 0, sizeof(sb));
	goldfish_rtc_save(a, &sa);
	goldfish_rtc_save(b, &sb);
	/* field by field: the struct's tail padding is copied too */
	assert_int_equal(sa.offset_ns, sb.offset_ns);
	assert_int_equal(sa.alarm_ns, sb.alarm_ns);
	assert_int_equal(sa.time_high, sb.time_high);
	assert_int_equal(sa.alarm_high, sb.alarm_high);
	assert_int_equal(sa.alarm_running, sb.alarm_running);
	assert_int_equal(sa.irq_pending, sb.irq_pending);
	assert_int_equal(sa.irq_enabled, 1);
	assert_int_equal(sb.irq_enabled, 1);
	uint64_t nb = goldfish_rtc_now(b);
	assert_true(nb >= t && nb < t + 60ULL * 1000000000ULL);
	state_reader_close(&r);
	close(fd);
	goldfish_rtc_destroy(a);
	goldfish_rtc_destroy(b);
}

/* A section cut short (a valid CRC over fewer bytes) is refused. */
static void test_short_section(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	struct error err = { 0 };
	struct irq_line irq = { line_set, (void *)0 };
	struct uart_backend be = { out_nothing, NULL, NULL };
	struct uart16550 *u = uart_create(&irq, &be, NULL);

	int fd = wopen(&w);
	state_begin(&w, "uart16550", 0, 1);
	state_put_u8(&w, UART_FIFO_SIZE);
	state_put_bytes(&w, "0123456789abcdef", 16);
	wdone(&w, fd, &r);
	assert_int_equal(uart_state_load(u, 0, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "uart16550/0: truncated"));
	state_reader_close(&r);
	close(fd);
	uart_destroy(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uart),
		cmocka_unit_test(test_aclint),
		cmocka_unit_test(test_plic),
		cmocka_unit_test(test_rtc),
		cmocka_unit_test(test_short_section),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
