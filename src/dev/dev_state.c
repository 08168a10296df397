/* Platform devices <-> VM state sections (dev_state.h). */
#include "dev/dev_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev/aclint.h"
#include "dev/goldfish_rtc.h"
#include "dev/plic.h"
#include "dev/uart16550.h"
#include "util/state_io.h"

/* The reader's section must be name/instance of a version we read. */
static int expect(struct state_reader *r, const char *name, uint32_t instance,
		  struct error *err)
{
	if (!state_is(r, name) || r->instance != instance)
		return state_fail(r, err, EINVAL, "expected %s/%u", name,
				  instance);
	return state_check_version(r, 1, err);
}

/* ---- uart16550 ------------------------------------------------------------- */

void uart_state_save(struct uart16550 *u, uint32_t instance,
		     struct state_writer *w)
{
	struct uart_state st;

	uart_save(u, &st);
	state_begin(w, "uart16550", instance, 1);
	state_put_u8(w, UART_FIFO_SIZE);
	state_put_bytes(w, st.rx_fifo, UART_FIFO_SIZE);
	state_put_u8(w, st.rx_head);
	state_put_u8(w, st.rx_count);
	state_put_u8(w, st.ier);
	state_put_u8(w, st.fcr);
	state_put_u8(w, st.lcr);
	state_put_u8(w, st.mcr);
	state_put_u8(w, st.msr);
	state_put_u8(w, st.scr);
	state_put_u8(w, st.dll);
	state_put_u8(w, st.dlm);
	state_put_u8(w, st.lsr_err);
	state_put_u8(w, st.thr_ipending);
}

int uart_state_load(struct uart16550 *u, uint32_t instance,
		    struct state_reader *r, struct error *err)
{
	struct uart_state st;
	int rc = expect(r, "uart16550", instance, err);
	if (rc)
		return rc;
	unsigned fifo = state_get_u8(r);
	if (fifo != UART_FIFO_SIZE && !r->short_read)
		return state_fail(r, err, EINVAL, "FIFO of %u bytes, not %u",
				  fifo, UART_FIFO_SIZE);
	state_get_bytes(r, st.rx_fifo, UART_FIFO_SIZE);
	st.rx_head = state_get_u8(r);
	st.rx_count = state_get_u8(r);
	st.ier = state_get_u8(r);
	st.fcr = state_get_u8(r);
	st.lcr = state_get_u8(r);
	st.mcr = state_get_u8(r);
	st.msr = state_get_u8(r);
	st.scr = state_get_u8(r);
	st.dll = state_get_u8(r);
	st.dlm = state_get_u8(r);
	st.lsr_err = state_get_u8(r);
	st.thr_ipending = state_get_u8(r);
	rc = state_section_done(r, err);
	if (rc)
		return rc;
	uart_load(u, &st);
	return 0;
}

/* ---- aclint ---------------------------------------------------------------- */

void aclint_state_save(struct aclint *a, struct state_writer *w)
{
	struct aclint_state st;

	aclint_save(a, &st);
	state_begin(w, "aclint", 0, 1);
	state_put_u32(w, st.num_harts);
	for (unsigned i = 0; i < st.num_harts && i < ACLINT_MAX_HARTS; i++) {
		state_put_u32(w, st.msip[i]);
		state_put_u64(w, st.mtimecmp[i]);
	}
}

int aclint_state_load(struct aclint *a, struct state_reader *r,
		      struct error *err)
{
	struct aclint_state st;
	int rc = expect(r, "aclint", 0, err);
	if (rc)
		return rc;
	memset(&st, 0, sizeof(st));
	st.num_harts = state_get_u32(r);
	if (st.num_harts > ACLINT_MAX_HARTS)
		return state_fail(r, err, EINVAL, "%u harts, at most %u",
				  st.num_harts, ACLINT_MAX_HARTS);
	for (unsigned i = 0; i < st.num_harts; i++) {
		st.msip[i] = state_get_u32(r);
		st.mtimecmp[i] = state_get_u64(r);
	}
	rc = state_section_done(r, err);
	if (rc)
		return rc;
	if (aclint_load(a, &st))
		return state_fail(r, err, EINVAL,
				  "saved for %u harts, this VM has another "
				  "number (--cpus)",
				  st.num_harts);
	return 0;
}

/* ---- plic ------------------------------------------------------------------ */

static unsigned plic_words(unsigned num_sources)
{
	return (num_sources + 1 + 31) / 32;
}

void plic_state_save(struct plic *p, struct state_writer *w)
{
	struct plic_state *st = malloc(sizeof(*st));

	state_begin(w, "plic", 0, 1);
	if (!st) {
		/* an empty section: the load refuses it as truncated */
		return;
	}
	plic_save(p, st);
	unsigned nw = plic_words(st->num_sources);
	state_put_u32(w, st->num_sources);
	state_put_u32(w, st->num_contexts);
	for (unsigned s = 1; s <= st->num_sources; s++)
		state_put_u32(w, st->priority[s]);
	for (unsigned i = 0; i < nw; i++) {
		state_put_u32(w, st->level[i]);
		state_put_u32(w, st->pending[i]);
		state_put_u32(w, st->claimed[i]);
	}
	for (unsigned c = 0; c < st->num_contexts; c++) {
		state_put_u32(w, st->threshold[c]);
		for (unsigned i = 0; i < nw; i++)
			state_put_u32(w, st->enable[c][i]);
	}
	free(st);
}

int plic_state_load(struct plic *p, struct state_reader *r, struct error *err)
{
	int rc = expect(r, "plic", 0, err);
	if (rc)
		return rc;
	struct plic_state *st = calloc(1, sizeof(*st));
	if (!st)
		return state_fail(r, err, ENOMEM, "out of memory");
	st->num_sources = state_get_u32(r);
	st->num_contexts = state_get_u32(r);
	if (st->num_sources > PLIC_MAX_SOURCES ||
	    st->num_contexts > PLIC_MAX_CONTEXTS) {
		rc = state_fail(r, err, EINVAL,
				"%u sources, %u contexts: over the "
				"PLIC's limits",
				st->num_sources, st->num_contexts);
		goto out;
	}
	unsigned nw = plic_words(st->num_sources);
	for (unsigned s = 1; s <= st->num_sources; s++)
		st->priority[s] = state_get_u32(r);
	for (unsigned i = 0; i < nw; i++) {
		st->level[i] = state_get_u32(r);
		st->pending[i] = state_get_u32(r);
		st->claimed[i] = state_get_u32(r);
	}
	for (unsigned c = 0; c < st->num_contexts; c++) {
		st->threshold[c] = state_get_u32(r);
		for (unsigned i = 0; i < nw; i++)
			st->enable[c][i] = state_get_u32(r);
	}
	rc = state_section_done(r, err);
	if (!rc && plic_load(p, st))
		rc = state_fail(r, err, EINVAL,
				"saved with %u sources and %u contexts, "
				"this VM has others (--cpus or devices "
				"differ)",
				st->num_sources, st->num_contexts);
out:
	free(st);
	return rc;
}

/* ---- goldfish rtc ---------------------------------------------------------- */

void goldfish_rtc_state_save(struct goldfish_rtc *rtc, struct state_writer *w)
{
	struct goldfish_rtc_state st;

	goldfish_rtc_save(rtc, &st);
	state_begin(w, "goldfish-rtc", 0, 1);
	state_put_u64(w, (uint64_t)st.offset_ns);
	state_put_u64(w, st.alarm_ns);
	state_put_u32(w, st.time_high);
	state_put_u32(w, st.alarm_high);
	state_put_u32(w, st.alarm_running);
	state_put_u32(w, st.irq_pending);
	state_put_u32(w, st.irq_enabled);
}

int goldfish_rtc_state_load(struct goldfish_rtc *rtc, struct state_reader *r,
			    struct error *err)
{
	struct goldfish_rtc_state st;
	int rc = expect(r, "goldfish-rtc", 0, err);
	if (rc)
		return rc;
	st.offset_ns = (int64_t)state_get_u64(r);
	st.alarm_ns = state_get_u64(r);
	st.time_high = state_get_u32(r);
	st.alarm_high = state_get_u32(r);
	st.alarm_running = state_get_u32(r);
	st.irq_pending = state_get_u32(r);
	st.irq_enabled = state_get_u32(r);
	rc = state_section_done(r, err);
	if (rc)
		return rc;
	goldfish_rtc_load(rtc, &st);
	return 0;
}
