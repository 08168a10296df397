/* Unit tests for src/dev/uart16550: registers, DLAB, FIFO, LSR, IIR
 * priorities, THRE semantics, loopback, flow control, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dev/uart16550.h"

enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };

static uint8_t outbuf[256];
static size_t outlen;
static int irq_level, irq_calls, rx_ready_calls;
static const struct mmio_ops *ops;

static void out_cb(void *opaque, const uint8_t *buf, size_t len)
{
	memcpy(outbuf + outlen, buf, len);
	outlen += len;
}

static void rx_ready_cb(void *opaque)
{
	rx_ready_calls++;
}

static void irq_set(void *opaque, int level)
{
	irq_level = level;
	irq_calls++;
}

static struct uart16550 *mk(void)
{
	struct irq_line l = { irq_set, NULL };
	struct uart_backend be = { out_cb, rx_ready_cb, NULL };
	struct error err;

	outlen = 0;
	irq_level = irq_calls = rx_ready_calls = 0;
	ops = uart_mmio_ops();
	struct uart16550 *u = uart_create(&l, &be, &err);
	assert_non_null(u);
	return u;
}

static uint8_t rd(struct uart16550 *u, unsigned reg)
{
	return (uint8_t)ops->read(u, reg, 1);
}

static void wr(struct uart16550 *u, unsigned reg, uint8_t v)
{
	ops->write(u, reg, v, 1);
}

static void test_reset_and_dlab(void **state)
{
	struct uart16550 *u = mk();

	assert_int_equal(rd(u, IIR), 0x01);
	assert_int_equal(rd(u, LSR), 0x60); /* THRE | TEMT */
	assert_int_equal(rd(u, IER), 0);
	assert_int_equal(rd(u, MSR) & 0xf0, 0xb0); /* CTS DSR DCD */

	wr(u, LCR, 0x83); /* DLAB, 8N1 */
	wr(u, RBR, 0x01);
	wr(u, IER, 0x02);
	assert_int_equal(rd(u, RBR), 0x01);
	assert_int_equal(rd(u, IER), 0x02);
	assert_int_equal(outlen, 0); /* divisor write is no output */
	wr(u, LCR, 0x03);
	assert_int_equal(rd(u, LCR), 0x03);
	assert_int_equal(rd(u, IER), 0); /* IER untouched by DLM write */
	wr(u, IER, 0xff);
	assert_int_equal(rd(u, IER), 0x0f); /* bits 7:4 read 0 */
	wr(u, SCR, 0x5a);
	assert_int_equal(rd(u, SCR), 0x5a);
	/* LCR=0xbf: offset 2 still reads IIR (no EFR) */
	wr(u, LCR, 0xbf);
	assert_int_not_equal(rd(u, IIR), 0);
	uart_destroy(u);
}

static void test_tx_and_thre(void **state)
{
	struct uart16550 *u = mk();

	wr(u, RBR, 'h');
	wr(u, RBR, 'i');
	assert_int_equal(outlen, 2);
	assert_memory_equal(outbuf, "hi", 2);
	assert_int_equal(irq_level, 0); /* IER off */

	/* 8250 THRE test: enable THRI -> IIR shows THRI, read clears it */
	wr(u, IER, 0x02);
	assert_int_equal(irq_level, 1);
	assert_int_equal(rd(u, IIR), 0x02);
	assert_int_equal(irq_level, 0);
	assert_int_equal(rd(u, IIR), 0x01);
	wr(u, IER, 0x00);
	wr(u, IER, 0x02); /* 0 -> 1 again */
	assert_int_equal(rd(u, IIR), 0x02);
	/* re-writing IER with THRI already set does not re-raise */
	wr(u, IER, 0x02);
	assert_int_equal(rd(u, IIR), 0x01);
	/* a THR write empties at once: THRE pending again */
	wr(u, RBR, 'x');
	assert_int_equal(irq_level, 1);
	assert_int_equal(rd(u, LSR) & 0x60, 0x60);
	/* clearing ETBEI drops it */
	wr(u, IER, 0x00);
	assert_int_equal(irq_level, 0);
	assert_int_equal(rd(u, IIR), 0x01);
	uart_destroy(u);
}

static void test_rx_fifo(void **state)
{
	struct uart16550 *u = mk();
	uint8_t buf[32];

	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	/* FIFOs off: one byte holding register */
	assert_int_equal(uart_receive(u, buf, 4), 1);
	assert_int_equal(uart_rx_space(u), 0);
	assert_int_equal(rd(u, LSR) & 1, 1);
	assert_int_equal(rd(u, RBR), 0);
	assert_int_equal(rx_ready_calls, 1); /* short accept -> told */
	assert_int_equal(rd(u, LSR) & 1, 0);

	/* FIFOs on, trigger 8; the driver listens once the receive
	 * interrupt is on too */
	assert_false(uart_rx_listening(u));
	wr(u, IIR, 0x81);
	assert_int_equal(rd(u, IIR) & 0xc0, 0xc0);
	assert_false(uart_rx_listening(u));
	wr(u, IER, 0x01);
	assert_true(uart_rx_listening(u));
	assert_int_equal(uart_receive(u, buf, 4), 4);
	assert_int_equal(irq_level, 1);
	assert_int_equal(rd(u, IIR), 0xcc); /* below trigger: timeout */
	assert_int_equal(uart_receive(u, buf + 4, 4), 4);
	assert_int_equal(rd(u, IIR), 0xc4); /* at trigger: data available */
	assert_int_equal(uart_receive(u, buf + 8, 24), 8);
	assert_int_equal(uart_rx_space(u), 0);
	rx_ready_calls = 0;
	for (int i = 0; i < 16; i++) {
		assert_int_equal(rd(u, LSR) & 1, 1);
		assert_int_equal(rd(u, RBR), i);
	}
	assert_int_equal(rd(u, LSR) & 1, 0);
	assert_int_equal(rx_ready_calls, 1); /* emptied after short accept */
	assert_int_equal(irq_level, 0);
	assert_int_equal(rd(u, RBR), 0); /* empty FIFO reads 0 */

	/* FCR RX reset */
	assert_int_equal(uart_receive(u, buf, 3), 3);
	wr(u, IIR, 0x83);
	assert_int_equal(rd(u, LSR) & 1, 0);
	assert_int_equal(irq_level, 0);
	uart_destroy(u);
}

static void test_priorities(void **state)
{
	struct uart16550 *u = mk();
	uint8_t b = 'a';

	wr(u, IIR, 0x01); /* FIFO, trigger 1 */
	wr(u, MCR, 0x10); /* loopback */
	wr(u, IER, 0x0f);
	/* loopback MCR change -> MSR deltas; RX empty; THRE pending */
	assert_int_equal(rd(u, IIR), 0xc2); /* THRE outranks MSR */
	assert_int_equal(rd(u, IIR), 0xc0); /* then modem status */
	rd(u, MSR);
	assert_int_equal(rd(u, IIR), 0xc1);

	/* overrun in loopback: RLS outranks RX data */
	for (int i = 0; i < 17; i++)
		wr(u, RBR, (uint8_t)('A' + i));
	assert_int_equal(outlen, 0); /* loopback: nothing leaves */
	assert_int_equal(rd(u, IIR), 0xc6);
	assert_int_equal(rd(u, LSR) & 0x03, 0x03); /* OE | DR, OE cleared */
	assert_int_equal(rd(u, LSR) & 0x02, 0);
	assert_int_equal(rd(u, IIR), 0xc4);
	assert_int_equal(rd(u, RBR), 'A');
	/* backend input is refused in loopback */
	assert_int_equal(uart_receive(u, &b, 1), 0);
	uart_destroy(u);
}

static void test_loopback_msr(void **state)
{
	struct uart16550 *u = mk();
	uint8_t b = 'z';

	/* Linux 8250 autoconfig loopback test */
	wr(u, MCR, 0x10 | 0x0a);
	assert_int_equal(rd(u, MSR) & 0xf0, 0x90);
	wr(u, MCR, 0x10 | 0x05);		   /* DTR, OUT1 */
	assert_int_equal(rd(u, MSR), 0x60 | 0x0b); /* DSR RI + deltas */
	wr(u, MCR, 0x10);
	assert_int_equal(rd(u, MSR), 0x06); /* DDSR, TERI on RI falling */
	wr(u, RBR, 'q');
	assert_int_equal(rd(u, RBR), 'q');
	/* leaving loopback after a refused receive tells the backend */
	rx_ready_calls = 0;
	assert_int_equal(uart_receive(u, &b, 1), 0);
	wr(u, MCR, 0x0b);
	assert_int_equal(rx_ready_calls, 1);
	assert_int_equal(rd(u, MSR) & 0xf0, 0xb0);
	assert_int_equal(uart_receive(u, &b, 1), 1);
	uart_destroy(u);
}

static void test_bounds_and_state(void **state)
{
	struct uart16550 *u = mk();
	struct uart_state st;
	uint8_t b[3] = { 1, 2, 3 };

	for (uint64_t off = 8; off < 0x100; off += 8)
		for (unsigned sz = 1; sz <= 8; sz *= 2) {
			assert_int_equal(ops->read(u, off, sz), 0);
			ops->write(u, off, ~0ULL, sz);
		}
	assert_int_equal(ops->read(u, UINT64_MAX, 1), 0);
	ops->write(u, 1ULL << 40, 0, 8);
	/* a wide access hits the register at its offset with the low byte */
	ops->write(u, SCR, 0x1234, 4);
	assert_int_equal(ops->read(u, SCR, 4), 0x34);
	assert_int_equal(outlen, 0);

	wr(u, IIR, 0x01);
	wr(u, IER, 0x01);
	assert_int_equal(uart_receive(u, b, 3), 3);
	uart_save(u, &st);
	uart_destroy(u);

	u = mk();
	uart_load(u, &st);
	assert_int_equal(irq_level, 1);
	assert_int_equal(rd(u, RBR), 1);
	assert_int_equal(rd(u, RBR), 2);
	assert_int_equal(rd(u, SCR), 0x34);
	/* garbage state is sanitized */
	memset(&st, 0xff, sizeof(st));
	uart_load(u, &st);
	for (int i = 0; i < 20; i++)
		rd(u, RBR);
	uart_destroy(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset_and_dlab),
		cmocka_unit_test(test_tx_and_thre),
		cmocka_unit_test(test_rx_fifo),
		cmocka_unit_test(test_priorities),
		cmocka_unit_test(test_loopback_msr),
		cmocka_unit_test(test_bounds_and_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
