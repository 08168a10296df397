/*
 * Guest panic detection for kernels without a pvpanic driver (Debian's
 * riscv64 kernel has CONFIG_PVPANIC off): Linux's panic() ends with
 * interrupts off, every other hart stopped, and one hart spinning in
 * mdelay() forever (panic_timeout 0), burning a host core while the VM
 * still looks running.
 *
 * The watch is fed one sample of every hart about once a second and says
 * when the guest has made no progress for a whole window:
 *
 *   - every hart is parked (WFI, stopped) or runs in S-mode, within a few
 *     code pages over the whole stretch,
 *   - and each running hart either took no trap (no interrupt, no
 *     exception) while unable to take an interrupt (sstatus.SIE clear, or
 *     none enabled in sie as in early boot: a healthy Linux never keeps
 *     interrupts off for seconds, its own soft-lockup detector would
 *     fire), or the kernel printed its panic banner on the console (Linux
 *     6.12's panic loop runs with interrupts on and takes timer ticks),
 *   - and at least one hart runs (a guest parked for good costs nothing
 *     and is halted, not panicked).
 *
 * Without the banner (a panic before the console exists, as Debian's
 * kernel in 64 MiB) the stretch must also be long in instructions: Linux's
 * early boot runs with interrupts off and no traps too, for a few hundred
 * million instructions (about 600 M with 1 GiB of RAM), which a slow
 * engine (the interpreter under a sanitizer) stretches over seconds. A
 * hart must retire PANIC_WATCH_SILENT_INSNS inside the stretch.
 *
 * M-mode code (bare-metal programs, firmware) is never judged: it may run
 * without traps for as long as it likes. Pure: no clock, no threads.
 */
#ifndef SV_MACHINE_PANIC_WATCH_H
#define SV_MACHINE_PANIC_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"

#define PANIC_WATCH_HARTS	 64
#define PANIC_WATCH_PAGES	 4
#define PANIC_WATCH_DEFAULT	 10000000ull /* us: 10 s */
#define PANIC_WATCH_SILENT_INSNS (1ull << 32)

struct panic_watch {
	uint64_t window_us;
	uint64_t since; /* start of the stretch; 0: none */
	unsigned int n_harts;
	uint64_t traps[PANIC_WATCH_HARTS];
	uint64_t instret[PANIC_WATCH_HARTS]; /* at the stretch's start */
	uint64_t pages[PANIC_WATCH_PAGES];
	unsigned int n_pages;
	bool primed; /* traps[] holds a previous sample */
	bool fired;  /* reported; quiet until panic_watch_reset */
};

void panic_watch_init(struct panic_watch *w, uint64_t window_us);
/* A new boot (reset, reboot): forget everything. */
void panic_watch_reset(struct panic_watch *w);
/* One sample of the n harts at time now (us, nondecreasing). True once,
 * when the guest has been stuck for the whole window. */
bool panic_watch_sample(struct panic_watch *w, uint64_t now_us,
			const struct hart_progress *s, unsigned int n,
			bool banner);

#endif
