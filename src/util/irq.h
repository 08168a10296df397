/*
 * An interrupt line: the only way a device signals anything to its VM.
 * The board (src/machine) wires each line to its sink: a PLIC source, or a
 * hart's interrupt input. Level-triggered: set(opaque, 1) asserts, 0 deasserts.
 *
 * Thread safety: set() may be called from any thread; sinks must cope.
 */
#ifndef SV_UTIL_IRQ_H
#define SV_UTIL_IRQ_H

struct irq_line {
	void (*set)(void *opaque, int level);
	void *opaque;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l->set)
		l->set(l->opaque, level);
}

#endif
