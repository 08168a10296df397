/*
 * The platform devices' sections of the VM state file (docs/vm-state.md):
 * one plain-data state struct per device (uart16550.h, aclint.h, plic.h,
 * goldfish_rtc.h) written as fixed-width little-endian fields.
 *
 * Save: the device may be live (each device's save takes its lock), but a
 * consistent machine state needs its harts paused. Load: takes the
 * reader's current section, which must be the device's name with the
 * given instance; checks counts against the device (a VM built with
 * another configuration is refused, naming the field) and loads through
 * the device's own sanitizing *_load. 0 or -errno with err set.
 */
#ifndef SV_DEV_DEV_STATE_H
#define SV_DEV_DEV_STATE_H

#include <stdint.h>

#include "util/error.h"

struct aclint;
struct goldfish_rtc;
struct plic;
struct state_reader;
struct state_writer;
struct uart16550;

void uart_state_save(struct uart16550 *u, uint32_t instance,
		     struct state_writer *w);
int uart_state_load(struct uart16550 *u, uint32_t instance,
		    struct state_reader *r, struct error *err);

void aclint_state_save(struct aclint *a, struct state_writer *w);
int aclint_state_load(struct aclint *a, struct state_reader *r,
		      struct error *err);

void plic_state_save(struct plic *p, struct state_writer *w);
int plic_state_load(struct plic *p, struct state_reader *r, struct error *err);

void goldfish_rtc_state_save(struct goldfish_rtc *rtc, struct state_writer *w);
int goldfish_rtc_state_load(struct goldfish_rtc *rtc, struct state_reader *r,
			    struct error *err);

#endif
