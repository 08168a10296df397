/*
 * NS16550A UART. Section numbers refer to the PC16550D data sheet (National
 * Semiconductor / TI, SNLS378C), section 8 "Registers".
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dev/uart16550.h"
#include "util/error.h"

/* register offsets (reg-shift 0) */
enum {
	UART_RBR = 0, /* read, DLAB=0; THR on write; DLL with DLAB=1 */
	UART_IER = 1, /* DLM with DLAB=1 */
	UART_IIR = 2, /* read; FCR on write */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */

#define IIR_NONE 0x01
#define IIR_MSI	 0x00
#define IIR_THRI 0x02
#define IIR_RDI	 0x04
#define IIR_RLSI 0x06
#define IIR_CTI	 0x0c
#define IIR_FIFO 0xc0 /* FIFOs enabled */

#define FCR_FIFOE   0x01
#define FCR_RXRESET 0x02
#define FCR_TXRESET 0x04
#define FCR_TRIGGER 0xc0

#define LCR_DLAB 0x80

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR	 0x01
#define LSR_OE	 0x02
#define LSR_PE	 0x04
#define LSR_FE	 0x08
#define LSR_BI	 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS	 0x10
#define MSR_DSR	 0x20
#define MSR_RI	 0x40
#define MSR_DCD	 0x80

struct uart16550 {
	pthread_mutex_t lock;
	struct irq_line irq;
	struct uart_backend be;
	bool irq_level;
	bool rx_blocked; /* a uart_receive was short: call rx_ready */
	uint8_t iid;	 /* current interrupt identification */
	struct uart_state s;
};

/* What the caller must do after dropping the lock. */
struct uart_after {
	bool out;
	uint8_t byte;
	bool rx_ready;
};

static unsigned uart_rx_cap(const struct uart16550 *u)
{
	return u->s.fcr & FCR_FIFOE ? UART_FIFO_SIZE : 1;
}

static unsigned uart_rx_trigger(const struct uart16550 *u)
{
	static const unsigned trig[4] = { 1, 4, 8, 14 }; /* 8.5 FCR bits 7:6 */
	return u->s.fcr & FCR_FIFOE ? trig[u->s.fcr >> 6] : 1;
}

/* Interrupt identification in priority order (8.4, Table 4). */
static void uart_update(struct uart16550 *u)
{
	uint8_t iid = IIR_NONE;

	if ((u->s.ier & IER_ELSI) && (u->s.lsr_err & LSR_ERRS))
		iid = IIR_RLSI;
	else if ((u->s.ier & IER_ERBFI) && u->s.rx_count)
		iid = u->s.rx_count >= uart_rx_trigger(u) ? IIR_RDI : IIR_CTI;
	else if ((u->s.ier & IER_ETBEI) && u->s.thr_ipending)
		iid = IIR_THRI;
	else if ((u->s.ier & IER_EDSSI) && (u->s.msr & 0x0f))
		iid = IIR_MSI;
	u->iid = iid;

	bool lvl = !(iid & IIR_NONE);
	if (lvl != u->irq_level) {
		u->irq_level = lvl;
		irq_line_set(&u->irq, lvl);
	}
}

/* Recompute the modem status lines from MCR (8.7, 8.8). */
static void uart_update_msr(struct uart16550 *u)
{
	uint8_t m = u->s.mcr, hi, old = u->s.msr, d = 0;

	if (m & MCR_LOOP)
		hi = (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) |
		     (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0);
	else
		hi = MSR_CTS | MSR_DSR | MSR_DCD;
	if ((hi ^ old) & MSR_CTS)
		d |= MSR_DCTS;
	if ((hi ^ old) & MSR_DSR)
		d |= MSR_DDSR;
	if ((old & MSR_RI) && !(hi & MSR_RI))
		d |= MSR_TERI; /* trailing edge only */
	if ((hi ^ old) & MSR_DCD)
		d |= MSR_DDCD;
	u->s.msr = (uint8_t)((old & 0x0f) | d | hi);
}

static void uart_rx_push(struct uart16550 *u, uint8_t b)
{
	unsigned tail = (u->s.rx_head + u->s.rx_count) % UART_FIFO_SIZE;
	u->s.rx_fifo[tail] = b;
	u->s.rx_count++;
}

static void uart_rx_flush(struct uart16550 *u, struct uart_after *after)
{
	u->s.rx_head = 0;
	u->s.rx_count = 0;
	if (u->rx_blocked) {
		u->rx_blocked = false;
		after->rx_ready = true;
	}
}

static uint8_t uart_reg_read(struct uart16550 *u, unsigned reg,
			     struct uart_after *after)
{
	uint8_t v = 0;

	switch (reg) {
	case UART_RBR:
		if (u->s.lcr & LCR_DLAB)
			return u->s.dll;
		if (u->s.rx_count) {
			v = u->s.rx_fifo[u->s.rx_head];
			u->s.rx_head = (u->s.rx_head + 1) % UART_FIFO_SIZE;
			u->s.rx_count--;
			if (!u->s.rx_count && u->rx_blocked) {
				u->rx_blocked = false;
				after->rx_ready = true;
			}
		}
		break;
	case UART_IER: return u->s.lcr & LCR_DLAB ? u->s.dlm : u->s.ier;
	case UART_IIR:
		v = u->iid | (u->s.fcr & FCR_FIFOE ? IIR_FIFO : 0);
		/* 8.4: reading IIR clears a THRE interrupt it reports */
		if (u->iid == IIR_THRI)
			u->s.thr_ipending = 0;
		break;
	case UART_LCR: return u->s.lcr;
	case UART_MCR: return u->s.mcr;
	case UART_LSR:
		v = u->s.lsr_err | (u->s.rx_count ? LSR_DR : 0) | LSR_THRE |
		    LSR_TEMT;
		u->s.lsr_err = 0; /* 8.6: error bits clear on read */
		break;
	case UART_MSR:
		v = u->s.msr;
		u->s.msr &= 0xf0; /* delta bits clear on read */
		break;
	case UART_SCR: return u->s.scr;
	default: return 0;
	}
	uart_update(u);
	return v;
}

static void uart_reg_write(struct uart16550 *u, unsigned reg, uint8_t v,
			   struct uart_after *after)
{
	switch (reg) {
	case UART_RBR:
		if (u->s.lcr & LCR_DLAB) {
			u->s.dll = v;
			return;
		}
		if (u->s.mcr & MCR_LOOP) {
			if (u->s.rx_count < uart_rx_cap(u))
				uart_rx_push(u, v);
			else
				u->s.lsr_err |= LSR_OE;
		} else {
			after->out = true;
			after->byte = v;
		}
		/* transmitted at once: THR is empty again */
		u->s.thr_ipending = 1;
		break;
	case UART_IER:
		if (u->s.lcr & LCR_DLAB) {
			u->s.dlm = v;
			return;
		}
		if ((v & IER_ETBEI) && !(u->s.ier & IER_ETBEI))
			u->s.thr_ipending = 1; /* THR is always empty */
		else if (!(v & IER_ETBEI))
			u->s.thr_ipending = 0;
		u->s.ier = v & 0x0f;
		break;
	case UART_IIR: /* FCR, 8.5 */
		if ((v ^ u->s.fcr) & FCR_FIFOE)
			uart_rx_flush(u, after); /* mode change resets FIFOs */
		if (v & FCR_RXRESET)
			uart_rx_flush(u, after);
		/* FCR_TXRESET: the TX FIFO is always empty */
		u->s.fcr = v & (FCR_FIFOE | FCR_TRIGGER);
		if (u->s.rx_count > uart_rx_cap(u))
			uart_rx_flush(u, after);
		break;
	case UART_LCR: u->s.lcr = v; return;
	case UART_MCR: {
		bool was_loop = u->s.mcr & MCR_LOOP;
		u->s.mcr = v & 0x1f;
		uart_update_msr(u);
		if (was_loop && !(u->s.mcr & MCR_LOOP) && u->rx_blocked &&
		    u->s.rx_count < uart_rx_cap(u)) {
			u->rx_blocked = false;
			after->rx_ready = true;
		}
		break;
	}
	case UART_SCR: u->s.scr = v; return;
	default: return; /* LSR, MSR: read-only */
	}
	uart_update(u);
}

static void uart_finish(struct uart16550 *u, const struct uart_after *after)
{
	if (after->out && u->be.output)
		u->be.output(u->be.opaque, &after->byte, 1);
	if (after->rx_ready && u->be.rx_ready)
		u->be.rx_ready(u->be.opaque);
}

static uint64_t uart_read(void *opaque, uint64_t off, unsigned size)
{
	struct uart16550 *u = opaque;
	struct uart_after after = { 0 };
	uint8_t v;

	if (off > UART_SCR)
		return 0;
	pthread_mutex_lock(&u->lock);
	v = uart_reg_read(u, (unsigned)off, &after);
	pthread_mutex_unlock(&u->lock);
	uart_finish(u, &after);
	return v;
}

static void uart_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct uart16550 *u = opaque;
	struct uart_after after = { 0 };

	if (off > UART_SCR)
		return;
	pthread_mutex_lock(&u->lock);
	uart_reg_write(u, (unsigned)off, (uint8_t)val, &after);
	pthread_mutex_unlock(&u->lock);
	uart_finish(u, &after);
}

static const struct mmio_ops uart_ops = {
	.read = uart_read,
	.write = uart_write,
};

const struct mmio_ops *uart_mmio_ops(void)
{
	return &uart_ops;
}

size_t uart_receive(struct uart16550 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	if (!(u->s.mcr & MCR_LOOP)) {
		while (n < len && u->s.rx_count < uart_rx_cap(u))
			uart_rx_push(u, buf[n++]);
	}
	if (n < len)
		u->rx_blocked = true;
	if (n)
		uart_update(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

bool uart_rx_listening(struct uart16550 *u)
{
	bool on;

	pthread_mutex_lock(&u->lock);
	on = (u->s.ier & IER_ERBFI) && (u->s.fcr & FCR_FIFOE) &&
	     !(u->s.mcr & MCR_LOOP);
	pthread_mutex_unlock(&u->lock);
	return on;
}

size_t uart_rx_space(struct uart16550 *u)
{
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = u->s.mcr & MCR_LOOP ? 0 : uart_rx_cap(u) - u->s.rx_count;
	pthread_mutex_unlock(&u->lock);
	return n;
}

static void uart_reset(struct uart16550 *u)
{
	memset(&u->s, 0, sizeof(u->s));
	u->s.msr = MSR_CTS | MSR_DSR | MSR_DCD;
	u->iid = IIR_NONE;
}

struct uart16550 *uart_create(const struct irq_line *irq,
			      const struct uart_backend *backend,
			      struct error *err)
{
	struct uart16550 *u = calloc(1, sizeof(*u));

	if (!u) {
		error_set(err, ENOMEM, "uart: out of memory");
		return NULL;
	}
	pthread_mutex_init(&u->lock, NULL);
	if (irq)
		u->irq = *irq;
	if (backend)
		u->be = *backend;
	uart_reset(u);
	return u;
}

void uart_destroy(struct uart16550 *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

void uart_save(struct uart16550 *u, struct uart_state *st)
{
	pthread_mutex_lock(&u->lock);
	*st = u->s;
	pthread_mutex_unlock(&u->lock);
}

void uart_load(struct uart16550 *u, const struct uart_state *st)
{
	pthread_mutex_lock(&u->lock);
	u->s = *st;
	u->s.rx_head %= UART_FIFO_SIZE;
	u->s.ier &= 0x0f;
	u->s.fcr &= FCR_FIFOE | FCR_TRIGGER;
	u->s.mcr &= 0x1f;
	u->s.lsr_err &= LSR_ERRS;
	u->s.thr_ipending = !!u->s.thr_ipending;
	if (u->s.rx_count > uart_rx_cap(u))
		u->s.rx_count = (uint8_t)uart_rx_cap(u);
	u->rx_blocked = false;
	uart_update(u);
	/* drive the line once even if the cached level happens to match */
	irq_line_set(&u->irq, u->irq_level);
	pthread_mutex_unlock(&u->lock);
}
