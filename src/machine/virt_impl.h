/* Inside the virt board: shared by virt.c (assembly, threads) and sbi.c
 * (the built-in SBI). */
#ifndef SV_MACHINE_VIRT_IMPL_H
#define SV_MACHINE_VIRT_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "block/block.h"
#include "cpu/hart.h"
#include "machine/panic_watch.h"
#include "machine/virt.h"
#include "mem/gmem.h"
#include "util/vclock.h"

struct gmem;
struct netdev_announce_params;
struct virt;
struct virtio_dev;
struct virtio_input;

/* The virtio devices of one boot (rebuilt on reboot). */
struct virt_io {
	unsigned n;
	struct virtio_dev *vd[VIRT_MAX_VIRTIO];
	void *dev[VIRT_MAX_VIRTIO];
	void (*destroy[VIRT_MAX_VIRTIO])(void *dev);
	struct virtio_blk *blk[VIRT_MAX_VIRTIO];
	struct virtio_net *net[VIRT_MAX_VIRTIO];
	struct virtio_rng *rng;
	struct virtio_balloon *balloon;
	struct virtio_console *hvc;
	struct virtio_input *power_button; /* cfg->power_button */
	/* live migration (virt_disks.c): the identity each released disk
	 * was left with, written as its "disk-handover" section */
	bool handed[VIRT_MAX_VIRTIO];
	struct blockdev_identity left[VIRT_MAX_VIRTIO];
};

/* SBI HSM states (SBI spec 2.0, section 9, table 9.1). */
enum hsm_state {
	HSM_STARTED = 0,
	HSM_STOPPED = 1,
	HSM_START_PENDING = 2,
	HSM_STOP_PENDING = 3,
	HSM_SUSPENDED = 4,
	HSM_SUSPEND_PENDING = 5,
	HSM_RESUME_PENDING = 6,
};

struct virt_line {
	struct virt_hart *vh;
	enum irq_bit bit;
};

struct virt_hart {
	struct virt *vm;
	struct hart *h;
	unsigned id;
	pthread_t thread;
	bool thread_started;
	_Atomic int tid; /* host thread id while the thread lives */
	_Atomic int hsm;
	/* HSM start request (under vm->lock) */
	uint64_t start_addr, start_opaque;
	struct virt_line line_mei, line_sei, line_msi;
};

enum virt_event {
	VIRT_EV_NONE = 0,
	VIRT_EV_POWEROFF,
	VIRT_EV_REBOOT,
	VIRT_EV_QUIT,
	VIRT_EV_FATAL,
	VIRT_EV_PANICKED, /* the guest panicked and on_panic says stop */
};

struct virt {
	const struct virt_config *cfg;
	struct virt_host_ops hops;
	struct gmem *mem;
	struct vclock clock;
	struct aclint *aclint;
	struct plic *plic;
	struct uart16550 *uart;
	struct goldfish_rtc *rtc;
	struct syscon *syscon;
	struct pvpanic *pvpanic;
	/* guest panic: pvpanic's report (any hart), the watch (control
	 * thread), reported once per boot */
	_Atomic bool pvpanic_seen;
	struct panic_watch watch;
	bool panic_reported;
	_Atomic bool console_panic; /* the panic banner went by */
	/* page sharing: the scanner's state (control thread) */
	struct gmem_share share;
	uint64_t share_full_ns; /* when the last full scanner step ran */
	int swap_fd;		/* the swap file, if swap_open */
	/* the memory policy's reclaim target (bytes, 0 = none): with
	 * cfg->mem_limit the smaller one is the RAM's limit (virt_mem.c) */
	_Atomic uint64_t policy_limit;
	uint32_t pool_gen; /* of the last RAM attached to the pool */
	bool swap_open;
	unsigned panic_match; /* bytes of the banner matched */
	struct console *console;
	unsigned n_harts;
	struct virt_hart harts[VIRT_MAX_HARTS];

	/* HSM transitions, pause: hart threads wait on cond */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	_Atomic int stopping;
	bool paused;	   /* under lock */
	unsigned in_guest; /* hart threads inside hart_run, under lock */

	/* events for the control thread, written under ev_lock: the first
	 * one of a boot wins, except that a stop (VIRT_EV_QUIT) replaces a
	 * reboot, also one under way, and survives into the next boot
	 * (virt_post_event, build) */
	pthread_mutex_t ev_lock;
	pthread_cond_t ev_cond;
	_Atomic int event;
	int exit_code;

	/* lifecycle: the control thread reboots and ends the machine */
	pthread_t ctl_thread;
	bool ctl_started;
	_Atomic bool running; /* virt_start .. end */
	bool ended;	      /* under ev_lock */
	enum virt_end end_why;
	int end_code;
	/* guards vm->uart against console input while a reboot swaps it */
	pthread_mutex_t uart_lock;

	/* virtio devices; io_lock guards them against the QMP thread while
	 * they are created and destroyed */
	pthread_mutex_t io_lock;
	struct virt_io io;
	struct console *hvc_console;
	struct qmp *qmp;

	/* an incoming migration (cfg->start_paused): disks open as
	 * stand-ins until virt_disks_activate (virt_disks.c) */
	bool disks_incoming;
	/* restored from a saved state: the NICs announce themselves when
	 * the guest first runs (virt_start, or virt_resume if started
	 * paused) */
	_Atomic bool announce_pending;

	/* bare-metal HTIF (tohost/fromhost polled by the main thread) */
	bool htif;
	uint64_t tohost, fromhost;
};

/* Report an event to the main thread (first one wins). Any thread. */
void virt_post_event(struct virt *vm, enum virt_event ev, int code);
/* Write guest console output (SBI console, HTIF) to the VM console. */
void virt_console_write(struct virt *vm, const uint8_t *buf, size_t len);
/* Wake harts waiting in HSM STOPPED / SUSPENDED. */
void virt_hsm_kick(struct virt *vm);
/* Wait until hart t is done with req (hart_request_done), stopped, or the
 * VM stops. Meanwhile serve(self) answers what is asked of the caller's own
 * hart (self may be NULL: not a hart), so that two harts waiting for each
 * other go on; after 64 spins each turn yields the host CPU, which t may
 * be waiting for when there are more harts than host CPUs. */
void virt_wait_hart(struct virt *vm, struct virt_hart *t, unsigned req,
		    struct hart *self, void (*serve)(struct hart *self));

/* virt_io.c: create the configured virtio devices and map their slots
 * (after the PLIC exists); destroy them (before the PLIC goes). */
int virt_io_create(struct virt *vm, struct error *err);
void virt_io_destroy(struct virt *vm);
/* virt_io.c: press the power button (virtio-input KEY_POWER down and up).
 * -ENODEV without one. Any thread (takes io_lock). */
int virt_io_power_button(struct virt *vm);
/* Every NIC announces itself (virtio_net_announce; p NULL: defaults).
 * -ENODEV without a NIC. Any thread. */
int virt_io_announce(struct virt *vm, const struct netdev_announce_params *p,
		     struct error *err);
/* virt_io.c: the VM-lifetime parts: hvc console backend and QMP. */
int virt_io_open_host(struct virt *vm, struct error *err);
void virt_io_close_host(struct virt *vm);

/* virt_state.c: load the state file at path (or read from fd) over a
 * machine just built from the same configuration, before its harts start
 * (docs/vm-state.md). 0 or -errno with err naming the section. */
int virt_state_load(struct virt *vm, const char *path, struct error *err);
/* virt_state.c, for virt_migrate.c: can the machine be saved now (under
 * io_lock)? Write every section but the file header and end (dirty: RAM
 * as a delta of those frames; NULL: all of RAM). */
int virt_state_savable(struct virt *vm, struct error *err);
struct state_writer;
int virt_state_write(struct virt *vm, struct state_writer *w,
		     const uint64_t *dirty, struct virt_save_stats *st,
		     struct error *err);
int virt_state_read(struct virt *vm, int fd, struct error *err);

/* virt_disks.c: live migration over shared storage (docs/vm-state.md,
 * "Disks on shared storage"). release: every disk handed over (vCPUs
 * paused, devices quiesced, under io_lock), all or none. activate: take
 * them (back); takes io_lock. write/read: the "disk-handover" sections. */
int virt_disks_release(struct virt *vm, struct error *err);
int virt_disks_activate(struct virt *vm, struct error *err);
struct state_writer;
struct state_reader;
int virt_disks_state_write(struct virt *vm, struct state_writer *w,
			   struct error *err);
int virt_disks_state_load(struct virt *vm, struct state_reader *r,
			  struct error *err);

/* The block mirror of a live migration with --copy-storage (virt_mirror.c;
 * docs/vm-state.md "Disks copied with the VM"). Source, in
 * virt_precopy_fd (io_lock held): begin turns dirty tracking on for every
 * disk (all writable, without a backing file: the daemon checked);
 * copy sends every disk's data that is not zeros, then passes of what
 * the guest wrote meanwhile until the dirty rest is small; dirty
 * collects what was written since (the bytes pending) and send_dirty
 * sends it; end (no request in flight) turns tracking off and frees. */
struct virt_mirror;
int virt_mirror_begin(struct virt *vm, struct virt_mirror **out,
		      struct error *err);
int virt_mirror_copy(struct virt_mirror *m, struct state_writer *w,
		     const struct virt_precopy_params *prm, struct error *err);
uint64_t virt_mirror_dirty(struct virt_mirror *m);
int virt_mirror_send_dirty(struct virt_mirror *m, struct state_writer *w,
			   struct error *err);
void virt_mirror_progress(const struct virt_mirror *m,
			  struct virt_precopy_progress *p);
void virt_mirror_end(struct virt_mirror *m);
/* Destination: apply a "disk-mirror" section (an incoming machine). */
int virt_mirror_state_load(struct virt *vm, struct state_reader *r,
			   struct error *err);

/* sbi.c: the built-in SBI's ECALL handler (struct hart_config.sbi_call;
 * opaque is the struct virt_hart). */
void sbi_handle(void *opaque, struct hart *h);

#endif
