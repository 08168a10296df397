/*
 * Guest panic detection: see panic_watch.h.
 */
#include <string.h>

#include "machine/panic_watch.h"

#define PAGE_SHIFT 12

void panic_watch_init(struct panic_watch *w, uint64_t window_us)
{
	memset(w, 0, sizeof(*w));
	w->window_us = window_us ? window_us : PANIC_WATCH_DEFAULT;
}

void panic_watch_reset(struct panic_watch *w)
{
	panic_watch_init(w, w->window_us);
}

/* Add pc's page to the stretch's set; false if the set overflows. */
static bool note_page(struct panic_watch *w, uint64_t pc)
{
	uint64_t page = pc >> PAGE_SHIFT;

	for (unsigned int i = 0; i < w->n_pages; i++)
		if (w->pages[i] == page)
			return true;
	if (w->n_pages == PANIC_WATCH_PAGES)
		return false;
	w->pages[w->n_pages++] = page;
	return true;
}

/* This sample, compared with the previous one, looks stuck. */
static bool stuck(struct panic_watch *w, const struct hart_progress *s,
		  unsigned int n, bool banner)
{
	bool running = false;

	if (!w->primed || n != w->n_harts)
		return false;
	for (unsigned int i = 0; i < n; i++) {
		if (s[i].parked)
			continue;
		if (s[i].priv != PRIV_S)
			return false;
		if (!banner && (s[i].traps != w->traps[i] || !s[i].irqs_off))
			return false;
		if (!note_page(w, s[i].pc))
			return false;
		running = true;
	}
	return running;
}

/* Some running hart retired the silent threshold inside the stretch. */
static bool long_enough(const struct panic_watch *w,
			const struct hart_progress *s, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (!s[i].parked &&
		    s[i].instret - w->instret[i] >= PANIC_WATCH_SILENT_INSNS)
			return true;
	return false;
}

bool panic_watch_sample(struct panic_watch *w, uint64_t now_us,
			const struct hart_progress *s, unsigned int n,
			bool banner)
{
	if (n > PANIC_WATCH_HARTS)
		n = PANIC_WATCH_HARTS;
	if (stuck(w, s, n, banner)) {
		if (!w->since) {
			w->since = now_us ? now_us : 1;
			for (unsigned int i = 0; i < n; i++)
				w->instret[i] = s[i].instret;
		}
	} else {
		w->since = 0;
		w->n_pages = 0;
	}
	w->n_harts = n;
	w->primed = true;
	for (unsigned int i = 0; i < n; i++)
		w->traps[i] = s[i].traps;
	if (w->fired || !w->since || now_us - w->since < w->window_us)
		return false;
	if (!banner && !long_enough(w, s, n))
		return false;
	w->fired = true;
	return true;
}
