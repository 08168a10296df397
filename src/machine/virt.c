/*
 * The virt board: builds guest RAM, the platform devices and the harts in
 * QEMU virt's layout, loads firmware/kernel/initrd/device tree, runs one
 * host thread per hart and waits for the guest to power off or reboot.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dev/aclint.h"
#include "dev/goldfish_rtc.h"
#include "dev/plic.h"
#include "dev/pvpanic.h"
#include "dev/syscon.h"
#include "dev/uart16550.h"
#include "machine/fdt_board.h"
#include "machine/loader.h"
#include "machine/virt_impl.h"
#include "mem/gmem.h"
#include "util/clock.h"
#include "util/log.h"

#define LOG "virt"

/* Instructions a hart runs between looks at the VM's state. */
#define HART_SLICE 1000000

/*
 * The first event of a boot wins: what the guest asks after that dies with
 * its boot. But a stop from the host (virt_stop, C-a x, QMP quit) must
 * never be lost, and the control thread leaves REBOOT in vm->event while
 * it tears the machine down and builds it again: a stop replaces a
 * reboot, pending or under way, and build() keeps it for the new boot.
 */
void virt_post_event(struct virt *vm, enum virt_event ev, int code)
{
	pthread_mutex_lock(&vm->ev_lock);
	int cur = atomic_load(&vm->event);
	if (cur == VIRT_EV_NONE ||
	    (ev == VIRT_EV_QUIT && cur == VIRT_EV_REBOOT)) {
		atomic_store(&vm->event, (int)ev);
		vm->exit_code = code;
		pthread_cond_broadcast(&vm->ev_cond);
	}
	pthread_mutex_unlock(&vm->ev_lock);
}

/* A stop came while the control thread rebooted; its code. */
static bool stop_pending(struct virt *vm, int *code)
{
	pthread_mutex_lock(&vm->ev_lock);
	bool stop = atomic_load(&vm->event) == VIRT_EV_QUIT;
	if (stop)
		*code = vm->exit_code;
	pthread_mutex_unlock(&vm->ev_lock);
	return stop;
}

void virt_console_write(struct virt *vm, const uint8_t *buf, size_t len)
{
	if (vm->console)
		console_write(vm->console, buf, len);
}

void virt_hsm_kick(struct virt *vm)
{
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

/* ---- wiring: device outputs to hart inputs -------------------------------- */

static void line_set(void *opaque, int level)
{
	struct virt_line *l = opaque;
	hart_set_irq(l->vh->h, l->bit, level != 0);
}

static void aclint_set_mtimecmp(void *opaque, unsigned hart, uint64_t val)
{
	struct virt *vm = opaque;
	if (hart < vm->n_harts)
		hart_set_mtimecmp(vm->harts[hart].h, val);
}

static uint64_t aclint_get_mtimecmp(void *opaque, unsigned hart)
{
	struct virt *vm = opaque;
	return hart < vm->n_harts ? hart_get_mtimecmp(vm->harts[hart].h) : 0;
}

static const struct aclint_timer_ops aclint_timer = {
	.set_mtimecmp = aclint_set_mtimecmp,
	.get_mtimecmp = aclint_get_mtimecmp,
};

static void on_poweroff(void *opaque, int code)
{
	virt_post_event(opaque, VIRT_EV_POWEROFF, code);
}

static void on_reboot(void *opaque)
{
	virt_post_event(opaque, VIRT_EV_REBOOT, 0);
}

static const struct syscon_ops syscon_cb = {
	.on_poweroff = on_poweroff,
	.on_reboot = on_reboot,
};

/* A hart's store: only note it, the control thread reports it. */
static void on_pvpanic(void *opaque, unsigned events)
{
	struct virt *vm = opaque;

	if (!(events & PVPANIC_PANICKED))
		return; /* a crash kernel takes over: nothing to do */
	pthread_mutex_lock(&vm->ev_lock);
	atomic_store(&vm->pvpanic_seen, true);
	pthread_cond_broadcast(&vm->ev_cond);
	pthread_mutex_unlock(&vm->ev_lock);
}

static const struct pvpanic_ops pvpanic_cb = { .event = on_pvpanic };

/* Linux's panic() prints this on the console before it stops or, with
 * panic=N, reboots: a reboot that follows it is a panic reboot. */
static const char panic_banner[] = "Kernel panic - not syncing";

static void scan_for_panic(struct virt *vm, const uint8_t *buf, size_t len)
{
	unsigned k = vm->panic_match;

	for (size_t i = 0; i < len; i++) {
		/* the banner's first letter occurs once in it: on a mismatch
		 * the match restarts at 0 or 1 */
		if (buf[i] == (uint8_t)panic_banner[k])
			k++;
		else
			k = buf[i] == (uint8_t)panic_banner[0];
		if (k == sizeof(panic_banner) - 1) {
			atomic_store(&vm->console_panic, true);
			k = 0;
		}
	}
	vm->panic_match = k;
}

static void uart_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct virt *vm = opaque;
	scan_for_panic(vm, buf, len);
	if (vm->hops.console_output)
		vm->hops.console_output(vm->hops.opaque, buf, len);
	else
		virt_console_write(vm, buf, len);
}

static void uart_rx_ready(void *opaque)
{
	struct virt *vm = opaque;
	if (vm->hops.console_rx_ready)
		vm->hops.console_rx_ready(vm->hops.opaque);
	else if (vm->console)
		console_kick_input(vm->console);
}

/* The platform default: the translator where it has a backend (x86-64),
 * the interpreter elsewhere (docs/jit.md). */
#if defined(__x86_64__)
#define VIRT_ACCEL_DEFAULT_JIT true
#else
#define VIRT_ACCEL_DEFAULT_JIT false
#endif

static bool virt_accel_is_jit(enum virt_accel accel)
{
	return accel == VIRT_ACCEL_JIT ||
	       (accel == VIRT_ACCEL_DEFAULT && VIRT_ACCEL_DEFAULT_JIT);
}

static void hart_fatal(void *opaque, struct hart *h, const char *msg)
{
	struct virt_hart *vh = opaque;
	log_error(LOG, "hart %u: %s", vh->id, msg);
	virt_post_event(vh->vm, VIRT_EV_FATAL, 1);
}

/* ---- hart threads --------------------------------------------------------- */

/* May this hart run guest code now? Called with vm->lock held. */
static bool hart_may_run(struct virt *vm, struct virt_hart *vh)
{
	return !vm->paused && atomic_load(&vh->hsm) != HSM_STOPPED &&
	       !atomic_load(&vm->stopping);
}

/* The hart this thread runs, NULL on other threads (tlb_sync). */
static _Thread_local struct virt_hart *this_hart;

static void *hart_thread(void *arg)
{
	struct virt_hart *vh = arg;
	struct virt *vm = vh->vm;
	const struct virt_vcpu_gate *gate = vm->hops.gate;

	this_hart = vh;
	atomic_store(&vh->tid, (int)gettid());
	while (!atomic_load(&vm->stopping)) {
		/* paused or HSM-stopped: sleep until that changes */
		pthread_mutex_lock(&vm->lock);
		while (!hart_may_run(vm, vh) && !atomic_load(&vm->stopping))
			pthread_cond_wait(&vm->cond, &vm->lock);
		pthread_mutex_unlock(&vm->lock);
		if (atomic_load(&vm->stopping))
			break;

		if (gate && !gate->enter(gate->opaque, vh->id, vh->h))
			continue;
		pthread_mutex_lock(&vm->lock);
		bool run = hart_may_run(vm, vh);
		if (run) {
			vm->in_guest++;
			if (atomic_load(&vh->hsm) == HSM_START_PENDING) {
				hart_reset(vh->h, vh->start_addr, PRIV_S);
				hart_set_reg(vh->h, 10, vh->id);
				hart_set_reg(vh->h, 11, vh->start_opaque);
				atomic_store(&vh->hsm, HSM_STARTED);
			}
		}
		pthread_mutex_unlock(&vm->lock);
		enum hart_run_result r = HART_RUN_EXIT;
		if (run) {
			r = hart_run(vh->h, HART_SLICE);
			pthread_mutex_lock(&vm->lock);
			if (--vm->in_guest == 0 && vm->paused)
				pthread_cond_broadcast(&vm->cond);
			pthread_mutex_unlock(&vm->lock);
		}
		bool parks = r == HART_RUN_WFI || !run;
		if (gate)
			gate->leave(gate->opaque, vh->id, !parks);
		if (r == HART_RUN_WFI)
			hart_park(vh->h, UINT64_MAX);
		if (hart_stopped(vh->h))
			break;
	}
	atomic_store(&vh->tid, 0);
	return NULL;
}

/*
 * gmem's TLB sync (gmem_set_tlb_sync): a shared frame is about to leave
 * the pool. Returns once every hart flushed its TLBs or will before its
 * next guest access (parked, outside its run, inside a device model).
 * Called by a hart from inside its own store: it serves its own flush
 * (and flushes asked of it by another hart doing the same meanwhile)
 * instead of waiting for itself. Like an SBI remote fence, but from any
 * thread.
 */
static void tlb_sync(void *opaque)
{
	struct virt *vm = opaque;
	struct virt_hart *self = this_hart && this_hart->vm == vm ? this_hart
								  : NULL;

	for (unsigned i = 0; i < vm->n_harts; i++)
		if (vm->harts[i].h)
			hart_request(vm->harts[i].h, HART_REQ_TLB_FLUSH);
	for (unsigned i = 0; i < vm->n_harts; i++) {
		struct virt_hart *t = &vm->harts[i];

		if (t != self && t->h)
			virt_wait_hart(vm, t, HART_REQ_TLB_FLUSH,
				       self ? self->h : NULL,
				       hart_service_tlb_flush);
	}
	if (self)
		hart_service_tlb_flush(self->h);
}

void virt_wait_hart(struct virt *vm, struct virt_hart *t, unsigned req,
		    struct hart *self, void (*serve)(struct hart *self))
{
	for (unsigned spins = 0;
	     !hart_request_done(t->h, req) &&
	     atomic_load(&t->hsm) != HSM_STOPPED && !atomic_load(&vm->stopping);
	     spins++) {
		if (self)
			serve(self);
		if (spins >= 64)
			sched_yield();
	}
}

/*
 * gmem's store probe (gmem_set_store_probe): a hart's first mark of a code
 * frame asks whether another hart's store TLB may map it, so that it calls
 * tlb_sync only then. Another hart's store TLB is read while it runs; the
 * caller's own is its own (it drops the frame's entries as it marks).
 */
static bool store_probe(void *opaque, uint64_t gpa_page)
{
	struct virt *vm = opaque;

	for (unsigned i = 0; i < vm->n_harts; i++) {
		struct virt_hart *t = &vm->harts[i];

		if (t != this_hart && t->h &&
		    hart_tlb_maps_store(t->h, gpa_page))
			return true;
	}
	return false;
}

/* ---- console input -------------------------------------------------------- */

static size_t console_input(void *opaque, const uint8_t *buf, size_t len)
{
	return virt_console_input(opaque, buf, len);
}

static void console_quit(void *opaque)
{
	virt_post_event(opaque, VIRT_EV_QUIT, 0);
}

static bool console_listening(void *opaque)
{
	struct virt *vm = opaque;
	bool on = false;

	pthread_mutex_lock(&vm->uart_lock);
	if (vm->uart)
		on = uart_rx_listening(vm->uart);
	pthread_mutex_unlock(&vm->uart_lock);
	return on;
}

/* ---- building the machine ------------------------------------------------- */

static int map(struct virt *vm, uint64_t base, uint64_t size,
	       const struct mmio_ops *ops, void *dev, const char *name,
	       struct error *err)
{
	size = (size + GUEST_PAGE_MASK) & ~GUEST_PAGE_MASK;
	return gmem_map_mmio(vm->mem, base, size, ops, dev, name, err);
}

static int build_devices(struct virt *vm, struct error *err)
{
	unsigned n = vm->n_harts;
	struct irq_line ctx[2 * VIRT_MAX_HARTS], msip[VIRT_MAX_HARTS];

	for (unsigned i = 0; i < n; i++) {
		struct virt_hart *vh = &vm->harts[i];
		vh->line_mei = (struct virt_line){ vh, IRQ_MEI };
		vh->line_sei = (struct virt_line){ vh, IRQ_SEI };
		vh->line_msi = (struct virt_line){ vh, IRQ_MSI };
		ctx[2 * i] = (struct irq_line){ line_set, &vh->line_mei };
		ctx[2 * i + 1] = (struct irq_line){ line_set, &vh->line_sei };
		msip[i] = (struct irq_line){ line_set, &vh->line_msi };
	}
	vm->plic = plic_create(VIRT_PLIC_NDEV, n, ctx, err);
	if (!vm->plic)
		return -1;
	vm->aclint = aclint_create(n, &vm->clock, msip, &aclint_timer, vm, err);
	if (!vm->aclint)
		return -1;
	struct irq_line uart_irq = plic_source_line(vm->plic, VIRT_UART0_IRQ);
	struct uart_backend be = { uart_output, uart_rx_ready, vm };
	struct uart16550 *uart = uart_create(&uart_irq, &be, err);
	if (!uart)
		return -1;
	pthread_mutex_lock(&vm->uart_lock);
	vm->uart = uart;
	pthread_mutex_unlock(&vm->uart_lock);
	struct irq_line rtc_irq = plic_source_line(vm->plic, VIRT_RTC_IRQ);
	vm->rtc = goldfish_rtc_create(&rtc_irq, err);
	if (!vm->rtc)
		return -1;
	vm->syscon = syscon_create(&syscon_cb, vm, err);
	if (!vm->syscon)
		return -1;
	vm->pvpanic = pvpanic_create(&pvpanic_cb, vm, err);
	if (!vm->pvpanic)
		return -1;
	/* a new boot: panics are judged afresh */
	atomic_store(&vm->pvpanic_seen, false);
	atomic_store(&vm->console_panic, false);
	vm->panic_match = 0;
	memset(&vm->share, 0, sizeof(vm->share));
	panic_watch_reset(&vm->watch);
	vm->panic_reported = false;

	if (map(vm, VIRT_SYSCON_BASE, VIRT_SYSCON_SIZE, syscon_mmio_ops(),
		vm->syscon, "syscon", err) ||
	    map(vm, VIRT_PVPANIC_BASE, VIRT_PVPANIC_SIZE, pvpanic_mmio_ops(),
		vm->pvpanic, "pvpanic", err) ||
	    map(vm, VIRT_RTC_BASE, VIRT_RTC_SIZE, goldfish_rtc_mmio_ops(),
		vm->rtc, "rtc", err) ||
	    map(vm, VIRT_CLINT_BASE, VIRT_CLINT_SIZE, aclint_mmio_ops(),
		vm->aclint, "clint", err) ||
	    map(vm, VIRT_PLIC_BASE, PLIC_MMIO_SIZE(n), plic_mmio_ops(),
		vm->plic, "plic", err) ||
	    map(vm, VIRT_UART0_BASE, VIRT_UART0_SIZE, uart_mmio_ops(), vm->uart,
		"uart", err))
		return -1;
	return virt_io_create(vm, err);
}

static int build_fdt(struct virt *vm, const struct loader_layout *lay,
		     bool has_initrd, void **blob, size_t *size,
		     struct error *err)
{
	const struct virt_config *cfg = vm->cfg;
	struct fdt_board b;

	fdt_board_init(&b);
	b.n_harts = vm->n_harts;
	b.isa = hart_isa_string();
	b.isa_extensions = hart_isa_extensions(&b.n_isa_extensions);
	b.ram_size = cfg->ram_size;
	b.bootargs = cfg->append ? cfg->append : "";
	b.has_initrd = has_initrd;
	if (lay && has_initrd) {
		b.initrd_start = lay->initrd_addr;
		b.initrd_end = lay->initrd_end;
	}
	b.rng_seed = true;
	b.n_virtio = virt_virtio_count(cfg);
	return fdt_board_build(&b, blob, size, err);
}

static int load_images(struct virt *vm, struct error *err)
{
	const struct virt_config *cfg = vm->cfg;
	struct loader_kernel k;
	struct loader_layout lay;
	uint64_t fw_size = 0, initrd_size = 0;
	void *blob = NULL;
	size_t blob_size;
	int r;

	r = loader_probe_kernel("kernel", cfg->kernel, true, 0, &k, err);
	if (r)
		return r;
	if (cfg->bios == VIRT_BIOS_FILE) {
		r = loader_file_size("bios", cfg->bios_path, &fw_size, err);
		if (r)
			return r;
	}
	if (cfg->initrd) {
		r = loader_file_size("initrd", cfg->initrd, &initrd_size, err);
		if (r)
			return r;
	}
	/* the tree's size does not depend on the initrd addresses */
	r = build_fdt(vm, NULL, cfg->initrd != NULL, &blob, &blob_size, err);
	if (r)
		return r;
	free(blob);
	blob = NULL;

	struct loader_layout_req req = {
		.ram_base = VIRT_RAM_BASE,
		.ram_size = cfg->ram_size,
		.fw_size = fw_size,
		.kernel = &k,
		.initrd_size = initrd_size,
		.dtb_size = blob_size,
		.fw_info = cfg->bios == VIRT_BIOS_FILE,
		.kernel_name = cfg->kernel,
		.initrd_name = cfg->initrd,
		.fw_name = cfg->bios_path,
	};
	r = loader_layout(&req, &lay, err);
	if (r)
		return r;
	r = build_fdt(vm, &lay, cfg->initrd != NULL, &blob, &blob_size, err);
	if (r)
		return r;
	if (cfg->dump_dtb) {
		r = fdt_board_dump(cfg->dump_dtb, blob, blob_size, err);
		free(blob);
		return r ? r : 1; /* 1: done, do not run */
	}
	r = loader_load_kernel(vm->mem, "kernel", cfg->kernel, &k,
			       lay.kernel_addr, err);
	if (!r && cfg->initrd)
		r = loader_load_file(vm->mem, "initrd", cfg->initrd,
				     lay.initrd_addr, initrd_size, err);
	if (!r && cfg->bios == VIRT_BIOS_FILE)
		r = loader_load_file(vm->mem, "bios", cfg->bios_path,
				     lay.fw_addr, fw_size, err);
	if (!r && gmem_write(vm->mem, lay.dtb_addr, blob, blob_size))
		r = error_set(err, EFAULT, "device tree does not fit in RAM");
	free(blob);
	if (r)
		return r;
	if (cfg->bios == VIRT_BIOS_FILE) {
		r = loader_write_fw_dynamic_info(vm->mem, lay.fw_info_addr,
						 lay.kernel_entry,
						 FW_DYNAMIC_NEXT_MODE_S, 0,
						 FW_DYNAMIC_BOOT_HART_ANY, err);
		if (r)
			return r;
	}

	/* bare-metal programs talk HTIF through tohost/fromhost */
	vm->htif = false;
	if (cfg->bios == VIRT_BIOS_NONE && k.format == LOADER_FMT_ELF &&
	    loader_elf_symbol(cfg->kernel, "tohost", &vm->tohost, NULL) == 0) {
		vm->htif = true;
		if (loader_elf_symbol(cfg->kernel, "fromhost", &vm->fromhost,
				      NULL))
			vm->fromhost = vm->tohost + 8;
	}

	/* initial hart states */
	for (unsigned i = 0; i < vm->n_harts; i++) {
		struct virt_hart *vh = &vm->harts[i];
		struct hart *h = vh->h;
		switch (cfg->bios) {
		case VIRT_BIOS_BUILTIN:
			if (i == 0) {
				hart_reset(h, lay.kernel_entry, PRIV_S);
				hart_set_reg(h, 10, 0);
				hart_set_reg(h, 11, lay.dtb_addr);
				atomic_store(&vh->hsm, HSM_STARTED);
			} else {
				atomic_store(&vh->hsm, HSM_STOPPED);
			}
			break;
		case VIRT_BIOS_NONE:
			hart_reset(h, lay.kernel_entry, PRIV_M);
			hart_set_reg(h, 10, i);
			hart_set_reg(h, 11, lay.dtb_addr);
			atomic_store(&vh->hsm, HSM_STARTED);
			break;
		case VIRT_BIOS_FILE:
			hart_reset(h, lay.fw_addr, PRIV_M);
			hart_set_reg(h, 10, i);
			hart_set_reg(h, 11, lay.dtb_addr);
			hart_set_reg(h, 12, lay.fw_info_addr);
			atomic_store(&vh->hsm, HSM_STARTED);
			break;
		}
	}
	return 0;
}

static void teardown(struct virt *vm)
{
	const struct virt_vcpu_gate *gate = vm->hops.gate;

	atomic_store(&vm->stopping, 1);
	if (gate && gate->closing)
		gate->closing(gate->opaque);
	for (unsigned i = 0; i < vm->n_harts; i++)
		if (vm->harts[i].h)
			hart_request(vm->harts[i].h, HART_REQ_EXIT);
	virt_hsm_kick(vm);
	for (unsigned i = 0; i < vm->n_harts; i++) {
		struct virt_hart *vh = &vm->harts[i];
		if (vh->thread_started)
			pthread_join(vh->thread, NULL);
		vh->thread_started = false;
	}
	for (unsigned i = 0; i < vm->n_harts; i++)
		if (vm->harts[i].h)
			log_info(
				LOG,
				"hart %u retired %llu instructions, stopped "
				"at pc %#llx in %c-mode (hsm state %d)",
				i,
				(unsigned long long)hart_instret(
					vm->harts[i].h),
				(unsigned long long)hart_get_pc(vm->harts[i].h),
				"US?M"[hart_get_priv(vm->harts[i].h)],
				atomic_load(&vm->harts[i].hsm));
	/* virtio back ends stop before the PLIC their lines point at */
	virt_io_destroy(vm);
	/* devices go before the harts their lines point at */
	goldfish_rtc_destroy(vm->rtc);
	pthread_mutex_lock(&vm->uart_lock);
	struct uart16550 *uart = vm->uart;
	vm->uart = NULL;
	pthread_mutex_unlock(&vm->uart_lock);
	uart_destroy(uart);
	syscon_destroy(vm->syscon);
	pvpanic_destroy(vm->pvpanic);
	aclint_destroy(vm->aclint);
	plic_destroy(vm->plic);
	vm->rtc = NULL;
	vm->syscon = NULL;
	vm->pvpanic = NULL;
	vm->aclint = NULL;
	vm->plic = NULL;
	/* under lock (virt_pause asks the harts to leave their runs) and
	 * io_lock (the QMP thread reads memory statistics, the daemon
	 * instruction counts), taken in that order */
	pthread_mutex_lock(&vm->lock);
	pthread_mutex_lock(&vm->io_lock);
	for (unsigned i = 0; i < vm->n_harts; i++) {
		hart_destroy(vm->harts[i].h);
		vm->harts[i].h = NULL;
	}
	gmem_destroy(vm->mem);
	vm->mem = NULL;
	pthread_mutex_unlock(&vm->io_lock);
	pthread_mutex_unlock(&vm->lock);
}

/* Compression and swap: the swap file is opened by the first build (before
 * the sandbox) and kept across reboots; its content is scratch. Every VM
 * gets a compressor, since the memory policy may set a target at any time
 * (virt_mem_target_set); it costs nothing until a limit is set. */
static int reclaim_setup(struct virt *vm, struct error *err)
{
	const struct virt_config *cfg = vm->cfg;

	if (cfg->mem_swap_by_fd && !vm->swap_open) {
		int fd = fcntl(cfg->mem_swap_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return error_set(err, errno, "swap file: %s",
					 strerror(errno));
		vm->swap_fd = fd;
		vm->swap_open = true;
	}
	if (cfg->mem_swap && !vm->swap_open) {
		int fd = open(cfg->mem_swap, O_RDWR | O_CREAT | O_CLOEXEC,
			      0600);
		if (fd < 0)
			return error_set(err, errno,
					 "--mem-swap %s: cannot open: %s",
					 cfg->mem_swap, strerror(errno));
		vm->swap_fd = fd;
		vm->swap_open = true;
	}
	return gmem_reclaim_setup(vm->mem, virt_mem_limit(vm),
				  vm->swap_open ? vm->swap_fd : -1, err);
}

/* Build everything; returns 0, 1 (nothing to run: --dump-dtb), or <0.
 * keep_pause (a guest's reboot): a pause that came while the old boot went
 * down holds for the new one, whose harts then wait for virt_resume. */
static int build(struct virt *vm, bool keep_pause, struct error *err)
{
	const struct virt_config *cfg = vm->cfg;

	atomic_store(&vm->stopping, 0);
	pthread_mutex_lock(&vm->lock);
	bool paused = keep_pause && vm->paused;
	vm->paused = false;
	vm->in_guest = 0;
	/* under lock: a virt_pause from now on pauses the new clock */
	vclock_init(&vm->clock);
	if (paused) {
		vm->paused = true;
		vclock_pause(&vm->clock);
	}
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_lock(&vm->ev_lock);
	/* the old boot's events are void, not a stop (virt_post_event) */
	if (atomic_load(&vm->event) != VIRT_EV_QUIT) {
		atomic_store(&vm->event, VIRT_EV_NONE);
		vm->exit_code = 0;
	}
	pthread_mutex_unlock(&vm->ev_lock);
	struct gmem *mem = gmem_create(VIRT_RAM_BASE, cfg->ram_size, err);
	pthread_mutex_lock(&vm->io_lock);
	vm->mem = mem;
	pthread_mutex_unlock(&vm->io_lock);
	if (!vm->mem)
		return -ENOMEM;
	/* harts may cache reads of pool frames (docs/memory.md) */
	gmem_set_tlb_sync(vm->mem, tlb_sync, vm);
	gmem_set_store_probe(vm->mem, store_probe);
	if (reclaim_setup(vm, err))
		return -EINVAL;
	if (cfg->pool && cfg->share_rate != VIRT_SHARE_OFF) {
		/* a new RAM: the daemon forgets the old one's references
		 * when it hears of this one */
		uint32_t gen = ++vm->pool_gen;

		cfg->pool->ram(cfg->pool->ops.opaque, gmem_ram_fd(vm->mem),
			       cfg->ram_size, gen);
		gmem_pool_attach(vm->mem, cfg->pool->base, cfg->pool->frames,
				 gen, &cfg->pool->ops);
	}
	for (unsigned i = 0; i < vm->n_harts; i++) {
		struct virt_hart *vh = &vm->harts[i];
		vh->vm = vm;
		vh->id = i;
		struct hart_config hc = {
			.hartid = i,
			.mem = vm->mem,
			.clock = &vm->clock,
			.sbi_builtin = cfg->bios == VIRT_BIOS_BUILTIN,
			.sbi_call = sbi_handle,
			.fatal = hart_fatal,
			.opaque = vh,
			.jit = virt_accel_is_jit(cfg->accel),
		};
		vh->h = hart_create(&hc, err);
		if (!vh->h)
			return -ENOMEM;
	}
	if (build_devices(vm, err))
		return -EINVAL;
	return load_images(vm, err);
}

/* ---- control thread --------------------------------------------------------- */

static void htif_poll(struct virt *vm)
{
	uint64_t v;
	if (gmem_read(vm->mem, vm->tohost, &v, 8) || v == 0)
		return;
	unsigned dev = (unsigned)(v >> 56), cmd = (unsigned)(v >> 48) & 0xff;
	uint64_t payload = v & ((1ULL << 48) - 1);
	uint64_t zero = 0, one = 1;

	if (dev == 0 && cmd == 0 && (payload & 1)) {
		/* exit: payload >> 1 is the status (0 = pass) */
		virt_post_event(vm, VIRT_EV_POWEROFF, (int)(payload >> 1));
		return;
	}
	if (dev == 0 && cmd == 0) {
		/* syscall: payload points at magic_mem[8]; only write(fd, buf,
		 * len) to the console is served */
		uint64_t mm[4];
		int64_t ret = -38; /* ENOSYS */
		if (!gmem_read(vm->mem, payload, mm, sizeof(mm)) &&
		    mm[0] == 64) {
			uint8_t buf[256];
			/* a guest-given length: print at most 64 KiB */
			uint64_t len = mm[3] < 65536 ? mm[3] : 65536;
			uint64_t done = 0;
			while (done < len) {
				size_t n = len - done < sizeof(buf)
						   ? (size_t)(len - done)
						   : sizeof(buf);
				if (gmem_read(vm->mem, mm[2] + done, buf, n))
					break;
				uart_output(vm, buf, n);
				done += n;
			}
			ret = (int64_t)done;
		}
		if (gmem_write(vm->mem, payload, &ret, 8)) {
			/* bad pointer: nothing to answer */
		}
	} else if (dev == 1 && cmd == 1) {
		uint8_t c = (uint8_t)payload;
		uart_output(vm, &c, 1);
	}
	if (gmem_write(vm->mem, vm->tohost, &zero, 8) ||
	    gmem_write(vm->mem, vm->fromhost, &one, 8)) {
		/* tohost outside RAM cannot happen: the ELF loaded there */
	}
}

/* Wait for the next event; HTIF programs are polled every 200 us. */
static void report_panic(struct virt *vm, enum virt_panic how);

/* Control thread, every second and on a pvpanic report: report a guest
 * panic once per boot. Harts are not paused by the check; a paused
 * machine is not judged (its harts make no progress by design). */
static void panic_check(struct virt *vm)
{
	struct hart_progress s[VIRT_MAX_HARTS];
	enum virt_panic how = VIRT_PANIC_PVPANIC;
	struct timespec now;
	bool paused;

	if (vm->panic_reported || !vm->harts[0].h)
		return;
	if (!atomic_load(&vm->pvpanic_seen)) {
		pthread_mutex_lock(&vm->lock);
		paused = vm->paused;
		pthread_mutex_unlock(&vm->lock);
		if (paused) {
			panic_watch_reset(&vm->watch);
			return;
		}
		for (unsigned i = 0; i < vm->n_harts; i++)
			hart_progress(vm->harts[i].h, &s[i]);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!panic_watch_sample(&vm->watch,
					(uint64_t)now.tv_sec * 1000000 +
						(uint64_t)now.tv_nsec / 1000,
					s, vm->n_harts,
					atomic_load(&vm->console_panic)))
			return;
		how = VIRT_PANIC_STUCK;
	}
	report_panic(vm, how);
	switch (vm->cfg->on_panic) {
	case VIRT_ON_PANIC_PAUSE: virt_pause(vm); break;
	case VIRT_ON_PANIC_RESTART:
		virt_post_event(vm, VIRT_EV_REBOOT, 0);
		break;
	default: virt_post_event(vm, VIRT_EV_PANICKED, 1); break;
	}
}

static void report_panic(struct virt *vm, enum virt_panic how)
{
	static const char *const action[] = {
		[VIRT_ON_PANIC_STOP] = "stopping it",
		[VIRT_ON_PANIC_PAUSE] = "pausing it",
		[VIRT_ON_PANIC_RESTART] = "restarting it",
	};

	vm->panic_reported = true;
	log_warn(LOG, "%s: the guest panicked (%s); %s (on-panic)",
		 vm->cfg->name ? vm->cfg->name : "guest",
		 how == VIRT_PANIC_PVPANIC ? "it said so through pvpanic"
		 : how == VIRT_PANIC_STUCK ? "it stopped making progress"
					   : "it rebooted after a panic",
		 action[vm->cfg->on_panic]);
	if (vm->hops.panicked)
		vm->hops.panicked(vm->hops.opaque, how);
}

static void share_flush(void *opaque)
{
	struct virt *vm = opaque;

	for (unsigned i = 0; i < vm->n_harts; i++)
		if (vm->harts[i].h)
			hart_request(vm->harts[i].h, HART_REQ_TLB_FLUSH);
}

static bool share_flushed(void *opaque)
{
	struct virt *vm = opaque;

	for (unsigned i = 0; i < vm->n_harts; i++)
		if (vm->harts[i].h &&
		    !hart_request_done(vm->harts[i].h, HART_REQ_TLB_FLUSH))
			return false;
	return true;
}

/* Control thread, every second (full): one step of the zero-page scanner;
 * in between, while the VM is over its memory limit, steps that only
 * reclaim (docs/memory.md, "Compression and swap"). */
static void share_tick(struct virt *vm, bool full)
{
	const struct gmem_share_ops ops = { share_flush, share_flushed, vm };
	uint32_t rate = vm->cfg->share_rate ? vm->cfg->share_rate
					    : VIRT_SHARE_DEFAULT;

	if (!vm->mem || !vm->harts[0].h)
		return;
	if (rate == VIRT_SHARE_OFF && !gmem_get_limit(vm->mem))
		return;
	if (!full || rate == VIRT_SHARE_OFF)
		rate = 0;
	(void)gmem_share_step(vm->mem, &vm->share, &ops, rate);
}

/* How long the control thread sleeps: 1 s, 5 ms while reclaiming. */
static uint64_t tick_ns(struct virt *vm)
{
	if (vm->mem && gmem_get_limit(vm->mem) &&
	    (gmem_reclaim_excess(vm->mem) || vm->share.n_held ||
	     vm->share.n_cold))
		return 5000000;
	return 1000000000;
}

static int wait_event(struct virt *vm)
{
	pthread_mutex_lock(&vm->ev_lock);
	for (;;) {
		int ev = atomic_load(&vm->event);
		if (ev != VIRT_EV_NONE) {
			pthread_mutex_unlock(&vm->ev_lock);
			return ev;
		}
		if (vm->htif) {
			pthread_mutex_unlock(&vm->ev_lock);
			htif_poll(vm);
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
			pthread_mutex_lock(&vm->ev_lock);
			continue;
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		uint64_t now = (uint64_t)until.tv_sec * 1000000000 +
			       (uint64_t)until.tv_nsec;
		uint64_t wake = now + tick_ns(vm);
		until.tv_sec = (time_t)(wake / 1000000000);
		until.tv_nsec = (long)(wake % 1000000000);
		pthread_cond_timedwait(&vm->ev_cond, &vm->ev_lock, &until);
		if (atomic_load(&vm->event) == VIRT_EV_NONE) {
			pthread_mutex_unlock(&vm->ev_lock);
			clock_gettime(CLOCK_MONOTONIC, &until);
			now = (uint64_t)until.tv_sec * 1000000000 +
			      (uint64_t)until.tv_nsec;
			bool full = now - vm->share_full_ns >= 999000000;
			if (full) {
				vm->share_full_ns = now;
				panic_check(vm);
			}
			share_tick(vm, full);
			pthread_mutex_lock(&vm->ev_lock);
		}
	}
}

static int start_harts(struct virt *vm, struct error *err)
{
	const struct virt_vcpu_gate *gate = vm->hops.gate;

	if (gate && gate->opening)
		gate->opening(gate->opaque);
	for (unsigned i = 0; i < vm->n_harts; i++) {
		struct virt_hart *vh = &vm->harts[i];
		if (pthread_create(&vh->thread, NULL, hart_thread, vh))
			return error_set(err, EAGAIN,
					 "cannot start a thread for hart %u",
					 i);
		char name[16];
		snprintf(name, sizeof(name), "vcpu%u", i);
		pthread_setname_np(vh->thread, name);
		vh->thread_started = true;
	}
	return 0;
}

/* Pause a machine whose harts have not started yet (they wait for
 * virt_resume before their first instruction). */
static void virt_pause_before_start(struct virt *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->paused) {
		vm->paused = true;
		vclock_pause(&vm->clock);
	}
	pthread_mutex_unlock(&vm->lock);
}

static void *control_thread(void *arg)
{
	struct virt *vm = arg;
	enum virt_end why;
	int code;

	for (;;) {
		int ev = wait_event(vm);
		code = vm->exit_code;
		bool pause_after = false;
		if (ev == VIRT_EV_REBOOT && atomic_load(&vm->console_panic) &&
		    !vm->panic_reported) {
			/* panic=N: the guest reboots itself after a panic */
			report_panic(vm, VIRT_PANIC_REBOOT);
			if (vm->cfg->on_panic == VIRT_ON_PANIC_STOP) {
				ev = VIRT_EV_PANICKED;
				code = 1;
			}
			/* its memory goes with its own reboot: pause waits
			 * at the start of the next boot */
			pause_after = vm->cfg->on_panic == VIRT_ON_PANIC_PAUSE;
		}
		teardown(vm);
		if (ev == VIRT_EV_REBOOT && stop_pending(vm, &code))
			ev = VIRT_EV_QUIT; /* stopped while rebooting */
		if (ev == VIRT_EV_REBOOT) {
			struct error err = { 0 };
			log_info(LOG, "%s: rebooting",
				 vm->cfg->name ? vm->cfg->name : "guest");
			int r = build(vm, true, &err);
			if (!r && pause_after)
				virt_pause_before_start(vm);
			if (!r)
				r = start_harts(vm, &err);
			if (!r)
				continue;
			log_error(LOG, "reboot failed: %s", err.msg);
			teardown(vm);
			why = VIRT_END_CRASHED;
			code = 1;
			break;
		}
		why = ev == VIRT_EV_POWEROFF   ? VIRT_END_POWEROFF
		      : ev == VIRT_EV_FATAL    ? VIRT_END_CRASHED
		      : ev == VIRT_EV_PANICKED ? VIRT_END_PANICKED
					       : VIRT_END_STOPPED;
		break;
	}
	if (vm->hops.ended)
		vm->hops.ended(vm->hops.opaque, why, code);
	pthread_mutex_lock(&vm->ev_lock);
	vm->end_why = why;
	vm->end_code = code;
	vm->ended = true;
	atomic_store(&vm->running, false);
	pthread_cond_broadcast(&vm->ev_cond);
	pthread_mutex_unlock(&vm->ev_lock);
	return NULL;
}

/* ---- the machine object ----------------------------------------------------- */

struct virt *virt_create(const struct virt_config *cfg,
			 const struct virt_host_ops *ops, struct error *err)
{
	if (cfg->n_harts < 1 || cfg->n_harts > VIRT_MAX_HARTS) {
		error_set(err, EINVAL, "--cpus %u: expected 1..%d",
			  cfg->n_harts, VIRT_MAX_HARTS);
		return NULL;
	}
	if (virt_virtio_count(cfg) > VIRT_MAX_VIRTIO) {
		error_set(err, EINVAL,
			  "%u virtio devices asked for, the board has %d slots",
			  virt_virtio_count(cfg), VIRT_MAX_VIRTIO);
		return NULL;
	}
	struct virt *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	vm->cfg = cfg;
	if (ops)
		vm->hops = *ops;
	vm->n_harts = cfg->n_harts;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	pthread_mutex_init(&vm->ev_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->ev_cond, &ca);
	pthread_condattr_destroy(&ca);
	panic_watch_init(&vm->watch, cfg->panic_window_us);
	pthread_mutex_init(&vm->io_lock, NULL);
	pthread_mutex_init(&vm->uart_lock, NULL);
	return vm;
}

int virt_announce(struct virt *vm, const struct netdev_announce_params *p,
		  struct error *err)
{
	if (!atomic_load(&vm->running))
		return error_set(err, EINVAL,
				 "announce: the VM is not running");
	return virt_io_announce(vm, p, err);
}

/* The guest runs again after a restore (here or, for an incoming
 * migration, at the destination's resume): its NICs announce their new
 * place to the network. */
static void announce_if_restored(struct virt *vm)
{
	struct error err = { 0 };

	if (!atomic_exchange(&vm->announce_pending, false))
		return;
	int r = virt_io_announce(vm, NULL, &err);
	if (r && r != -ENODEV)
		log_warn(LOG, "%s", err.msg);
}

int virt_start(struct virt *vm, struct error *err)
{
	const struct virt_config *cfg = vm->cfg;
	/* an incoming migration: its disks wait for the source's hand-over
	 * (virt_disks.c) */
	vm->disks_incoming = cfg->start_paused;
	int r = build(vm, false, err);

	if (r == 1) { /* --dump-dtb */
		teardown(vm);
		return 1;
	}
	if (!r && cfg->restore_by_fd)
		r = virt_state_read(vm, cfg->restore_fd, err);
	else if (!r && cfg->restore)
		r = virt_state_load(vm, cfg->restore, err);
	if (r) {
		teardown(vm);
		return r < 0 ? r : -EINVAL;
	}
	if (cfg->restore_by_fd || cfg->restore)
		atomic_store(&vm->announce_pending, true);
	if (!vm->console && cfg->console.kind != CONSOLE_NONE) {
		struct console_ops cops = { console_input, console_quit,
					    console_listening };
		struct console_opts copts = { 0 };
		vm->console = console_open(&cfg->console, &cops, vm, &copts,
					   err);
		if (!vm->console) {
			teardown(vm);
			return -EIO;
		}
	}
	if (virt_io_open_host(vm, err)) {
		teardown(vm);
		return -EIO;
	}
	if (cfg->before_guest &&
	    (r = cfg->before_guest(cfg->before_guest_opaque, err)) != 0) {
		teardown(vm);
		return r < 0 ? r : -EPERM;
	}
	atomic_store(&vm->running, true);
	if (cfg->start_paused || cfg->start_held)
		virt_pause_before_start(vm);
	r = start_harts(vm, err);
	if (!r && pthread_create(&vm->ctl_thread, NULL, control_thread, vm))
		r = error_set(err, EAGAIN, "cannot start the control thread");
	if (r) {
		teardown(vm);
		atomic_store(&vm->running, false);
		return r;
	}
	vm->ctl_started = true;
	if (!cfg->start_paused)
		announce_if_restored(vm);
	return 0;
}

void virt_stop(struct virt *vm, int code)
{
	virt_post_event(vm, VIRT_EV_QUIT, code);
}

void virt_reset(struct virt *vm)
{
	virt_post_event(vm, VIRT_EV_REBOOT, 0);
}

int virt_pause(struct virt *vm)
{
	if (!atomic_load(&vm->running))
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->paused) {
		pthread_mutex_unlock(&vm->lock);
		return 0;
	}
	vm->paused = true;
	for (unsigned i = 0; i < vm->n_harts; i++)
		if (vm->harts[i].h)
			hart_request(vm->harts[i].h, HART_REQ_EXIT);
	while (vm->in_guest > 0 && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->cond, &vm->lock);
	vclock_pause(&vm->clock);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int virt_resume(struct virt *vm)
{
	if (!atomic_load(&vm->running))
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->paused) {
		vclock_resume(&vm->clock);
		vm->paused = false;
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
	announce_if_restored(vm);
	return 0;
}

int virt_power_button(struct virt *vm)
{
	if (!atomic_load(&vm->running))
		return -EINVAL;
	return virt_io_power_button(vm);
}

size_t virt_console_input(struct virt *vm, const uint8_t *buf, size_t len)
{
	size_t n = len; /* no UART (between boots): input is dropped */
	pthread_mutex_lock(&vm->uart_lock);
	if (vm->uart)
		n = uart_receive(vm->uart, buf, len);
	pthread_mutex_unlock(&vm->uart_lock);
	return n;
}

bool virt_running(const struct virt *vm)
{
	return atomic_load(&vm->running);
}

enum virt_end virt_wait(struct virt *vm, int *code)
{
	pthread_mutex_lock(&vm->ev_lock);
	while (vm->ctl_started && !vm->ended)
		pthread_cond_wait(&vm->ev_cond, &vm->ev_lock);
	enum virt_end why = vm->end_why;
	if (code)
		*code = vm->end_code;
	pthread_mutex_unlock(&vm->ev_lock);
	if (vm->ctl_started) {
		pthread_join(vm->ctl_thread, NULL);
		vm->ctl_started = false;
	}
	return why;
}

unsigned virt_vcpu_tids(const struct virt *vm, int *tids, unsigned n)
{
	for (unsigned i = 0; i < vm->n_harts && i < n; i++)
		tids[i] = atomic_load(&vm->harts[i].tid);
	return vm->n_harts;
}

uint64_t virt_vcpu_instret(const struct virt *vm, unsigned i)
{
	/* a reboot replaces the harts under io_lock */
	struct virt *m = (struct virt *)vm;
	uint64_t n = 0;
	pthread_mutex_lock(&m->io_lock);
	if (i < vm->n_harts && vm->harts[i].h)
		n = hart_instret(vm->harts[i].h);
	pthread_mutex_unlock(&m->io_lock);
	return n;
}

void virt_destroy(struct virt *vm)
{
	if (!vm)
		return;
	if (vm->ctl_started) {
		virt_stop(vm, 0);
		virt_wait(vm, NULL);
	}
	virt_io_close_host(vm);
	if (vm->console)
		console_close(vm->console);
	if (vm->swap_open)
		close(vm->swap_fd);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->ev_lock);
	pthread_cond_destroy(&vm->ev_cond);
	pthread_mutex_destroy(&vm->io_lock);
	pthread_mutex_destroy(&vm->uart_lock);
	free(vm);
}

/* ---- softvisor run: one machine, signals, --timeout ------------------------- */

/* --save: write the state and report; 0 or -1. */
static int virt_run_save(struct virt *vm, const struct virt_config *cfg)
{
	struct virt_save_stats st;
	struct error err = { 0 };
	const char *path = cfg->save;
	int r;

	if (cfg->save_by_fd) {
		/* the keeper's PATH.tmp: it renames it once we said so */
		if (lseek(cfg->save_fd, 0, SEEK_SET) < 0 ||
		    ftruncate(cfg->save_fd, 0))
			r = error_set(&err, errno, "save: %s.tmp: %s", path,
				      strerror(errno));
		else
			r = virt_save_fd(vm, cfg->save_fd, &st, &err);
		if (!r && fsync(cfg->save_fd))
			r = error_set(&err, errno, "save: fsync %s.tmp: %s",
				      path, strerror(errno));
		if (!r && write(cfg->save_done_fd, "S", 1) != 1)
			r = error_set(&err, errno,
				      "save: telling the keeper: %s",
				      strerror(errno));
	} else {
		r = virt_save(vm, path, &st, &err);
	}
	if (r) {
		fprintf(stderr, "\r\nsoftvisor: %s\r\n", err.msg);
		return -1;
	}
	fprintf(stderr,
		"\r\nsoftvisor: VM state saved to %s (%llu bytes, %llu of "
		"%llu RAM pages, %.1f ms)\r\n",
		path, (unsigned long long)st.bytes,
		(unsigned long long)st.ram_frames_saved,
		(unsigned long long)st.ram_frames, st.total_ns / 1e6);
	return 0;
}

/* virt_run's thread, and whether its machine ended */
struct run_waiter {
	pthread_t thread;
	atomic_bool ended;
};

/* The machine ended (before virt_running says so): say it, then wake the
 * thread out of sigwaitinfo. */
static void run_ended(void *opaque, enum virt_end why, int code)
{
	struct run_waiter *w = opaque;

	(void)why;
	(void)code;
	atomic_store(&w->ended, true);
	pthread_kill(w->thread, SIGUSR2);
}

/* Never runs (SIGUSR2 stays blocked): a handler makes the signal count
 * where the default action would be dropped, in the sandbox's PID
 * namespace whose init this process is. */
static void run_ended_handler(int sig)
{
	(void)sig;
}

/* Wait for one of sigs until deadline_ns (0: none). The signal, 0 once
 * the deadline has passed, or -1 (EINTR, or it passed during the wait). */
static int run_wait(const sigset_t *sigs, uint64_t deadline_ns)
{
	uint64_t now, left;

	if (!deadline_ns)
		return sigwaitinfo(sigs, NULL);
	now = clock_monotonic_ns();
	if (now >= deadline_ns)
		return 0;
	left = deadline_ns - now;
	const struct timespec ts = { (time_t)(left / 1000000000ULL),
				     (long)(left % 1000000000ULL) };
	return sigtimedwait(sigs, NULL, &ts);
}

/* Take a SIGUSR2 the end left pending, then give the thread its mask and
 * the signal its action back. */
static void run_restore(const sigset_t *old, const struct sigaction *old_usr2)
{
	const struct timespec now = { 0, 0 };
	sigset_t end;

	sigemptyset(&end);
	sigaddset(&end, SIGUSR2);
	while (sigtimedwait(&end, NULL, &now) == SIGUSR2)
		;
	pthread_sigmask(SIG_SETMASK, old, NULL);
	sigaction(SIGUSR2, old_usr2, NULL);
}

int virt_run(const struct virt_config *cfg, struct error *err)
{
	sigset_t sigs, old;
	struct sigaction usr2 = { .sa_handler = run_ended_handler }, old_usr2;
	struct run_waiter waiter = { .thread = pthread_self() };
	const struct virt_host_ops ops = { .ended = run_ended,
					   .opaque = &waiter };
	struct virt *vm = virt_create(cfg, &ops, err);
	if (!vm)
		return -EINVAL;

	/* signals are taken synchronously here; every thread created from
	 * here on inherits the mask. The thread sleeps until one comes:
	 * the machine's end sends SIGUSR2 (an idle VM costs no polling). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR2);
	if (cfg->save)
		sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	sigaction(SIGUSR2, &usr2, &old_usr2);

	int ret = virt_start(vm, err);
	if (ret) {
		virt_destroy(vm);
		run_restore(&old, &old_usr2);
		return ret == 1 ? 0 : ret;
	}
	uint64_t deadline = cfg->timeout_s
				    ? clock_monotonic_ns() +
					      cfg->timeout_s * 1000000000ULL
				    : 0;
	while (!atomic_load(&waiter.ended) && virt_running(vm)) {
		int sig = run_wait(&sigs, deadline);
		if (sig == 0) {
			fprintf(stderr,
				"\r\nsoftvisor: --timeout %u s reached, "
				"stopping the VM\r\n",
				cfg->timeout_s);
			virt_stop(vm, VIRT_EXIT_TIMEOUT);
			break;
		}
		if (sig < 0 || sig == SIGUSR2)
			continue; /* EINTR, or the end: look again */
		if (cfg->save && (sig == SIGUSR1 || sig == SIGTERM)) {
			/* a failed save keeps the VM on SIGUSR1 */
			int saved = virt_run_save(vm, cfg);
			if (saved < 0 && sig == SIGUSR1) {
				virt_resume(vm);
				continue;
			}
			virt_stop(vm, saved < 0 ? 1 : 0);
			break;
		}
		fprintf(stderr, "\r\nsoftvisor: terminating on signal %d\r\n",
			sig);
		virt_stop(vm, 128 + sig);
		break;
	}
	int code = 0;
	enum virt_end why = virt_wait(vm, &code);
	virt_destroy(vm);
	run_restore(&old, &old_usr2);
	return why == VIRT_END_CRASHED && code == 0 ? 1 : code;
}
