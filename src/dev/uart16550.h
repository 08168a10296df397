/*
 * NS16550A UART (`ns16550a`) at 0x1000_0000, size 0x100, reg-shift 0, 8-bit
 * registers, as Linux's 8250 driver expects (register set, bit names and
 * interrupt priorities from the TI/National PC16550D data sheet, section 8).
 *
 * Transmission is instantaneous: a byte written to THR goes straight to the
 * backend's output callback (or, in loopback mode, into the RX FIFO), so
 * THR/TSR are always empty (LSR.THRE = LSR.TEMT = 1) and the divisor has no
 * timing effect. The THRE interrupt follows the data sheet: it becomes pending
 * when THR empties (i.e. after every THR write) and when IER.ETBEI goes 0->1
 * while THR is empty; it is cleared by an IIR read that reports it, by a THR
 * write (which re-empties at once) and by clearing IER.ETBEI.
 *
 * Reception: the backend pushes bytes with uart_receive(), which accepts at
 * most the free space of the RX FIFO (16 bytes, or 1 with FIFOs off) and
 * returns how many it took. Nothing is ever dropped for lack of space; after
 * a short accept the backend is called back through rx_ready() once the guest
 * has emptied the FIFO, and can poll uart_rx_space() instead. The character
 * timeout interrupt is approximated: data below the trigger level raises the
 * timeout indication (IIR 0xc) at once, because a uart_receive() batch ends
 * with an idle line.
 *
 * Modem lines: outside loopback CTS, DSR and DCD read as asserted and RI as
 * clear. In loopback (MCR bit 4) they follow RTS, DTR, OUT1, OUT2 and input
 * from the backend is refused (uart_receive returns 0).
 *
 * Accesses wider than one byte act on the register at that offset with the
 * low byte of the value; offsets 8..0xff read 0 and ignore writes.
 *
 * Thread safety: every function except create/destroy may be called from any
 * thread (a mutex serializes them). The irq_line is driven with the mutex
 * held (its sink must not call back into the UART). The backend callbacks are
 * called without the mutex held, on the thread of the guest access (a hart),
 * so they may call uart_receive(); output must not block for long.
 */
#ifndef SV_DEV_UART16550_H
#define SV_DEV_UART16550_H

#include <stddef.h>
#include <stdint.h>

#include "mem/gmem.h"
#include "util/error.h"
#include "util/irq.h"

#define UART_BASE      0x10000000ULL
#define UART_MMIO_SIZE 0x100ULL
#define UART_FIFO_SIZE 16

struct uart16550;

struct uart_backend {
	/* bytes the guest transmitted */
	void (*output)(void *opaque, const uint8_t *buf, size_t len);
	/* room in the RX FIFO again after a short uart_receive (optional) */
	void (*rx_ready)(void *opaque);
	void *opaque;
};

/* Guest-visible state, plain data for snapshot/migration. */
struct uart_state {
	uint8_t rx_fifo[UART_FIFO_SIZE];
	uint8_t rx_head; /* index of the oldest byte */
	uint8_t rx_count;
	uint8_t ier, fcr, lcr, mcr, msr, scr, dll, dlm;
	uint8_t lsr_err;      /* OE/PE/FE/BI bits not yet read */
	uint8_t thr_ipending; /* THRE interrupt pending */
};

/* Create in reset state; irq is the line to the PLIC; backend is copied.
 * Returns NULL (with err set) if out of memory. */
struct uart16550 *uart_create(const struct irq_line *irq,
			      const struct uart_backend *backend,
			      struct error *err);
/* Free the device (NULL is fine). */
void uart_destroy(struct uart16550 *u);

/* The MMIO callbacks; pass the uart as opaque. */
const struct mmio_ops *uart_mmio_ops(void);

/* Put up to len received bytes into the RX FIFO; returns how many were
 * accepted (0..len). */
size_t uart_receive(struct uart16550 *u, const uint8_t *buf, size_t len);
/* The guest's driver listens: receive interrupt and FIFOs enabled (what
 * Linux's 8250 driver leaves once a program opened the tty; bytes taken
 * before that are lost to the FIFO resets of its start-up). */
bool uart_rx_listening(struct uart16550 *u);
/* Bytes uart_receive would accept now. */
size_t uart_rx_space(struct uart16550 *u);

/* Copy the guest-visible state out. */
void uart_save(struct uart16550 *u, struct uart_state *st);
/* Restore state from uart_save (sanitized) and re-drive the IRQ line. */
void uart_load(struct uart16550 *u, const struct uart_state *st);

#endif
