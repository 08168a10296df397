/*
 * The virt board: a whole RISC-V computer in the layout of QEMU's `virt`
 * machine (ARCHITECTURE.md "I/O"), run in this process until the guest
 * powers off. This is the one-shot form of the vmkernel behind
 * `softvisor run`; the daemon (later) runs many of them.
 */
#ifndef SV_MACHINE_VIRT_H
#define SV_MACHINE_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/console.h"
#include "machine/qmp.h"
#include "mem/gmem.h"
#include "util/error.h"
#include "virtio/blk.h"
#include "virtio/net.h"

#define VIRT_MAX_HARTS	 64
#define VIRT_DEFAULT_RAM (512ULL << 20)
/* virtio-mmio slots at 0x1000_1000 + n * 0x1000, PLIC source 1 + n */
#define VIRT_MAX_VIRTIO 8

enum virt_bios {
	VIRT_BIOS_BUILTIN, /* built-in SBI: the kernel starts in S-mode */
	VIRT_BIOS_NONE,	   /* no firmware: the kernel/ELF starts in M-mode */
	VIRT_BIOS_FILE,	   /* M-mode firmware (OpenSBI fw_dynamic.bin) */
};

/* CPU engine of the harts (docs/jit.md). DEFAULT (a zeroed config) is
 * the platform's choice: the translator where a backend exists. */
enum virt_accel {
	VIRT_ACCEL_DEFAULT = 0,
	VIRT_ACCEL_INTERP, /* the interpreter only */
	VIRT_ACCEL_JIT,	   /* translate hot blocks (interpreter elsewhere) */
};

/* What the machine does when its guest panics (virt_config.on_panic),
 * after telling the host: stop is QEMU's -action panic=shutdown and
 * libvirt's on_crash=destroy, the default of both. */
enum virt_on_panic {
	VIRT_ON_PANIC_STOP = 0, /* end with VIRT_END_PANICKED */
	VIRT_ON_PANIC_PAUSE,	/* keep it, paused, for inspection */
	VIRT_ON_PANIC_RESTART,	/* reboot it */
};

struct virt_config {
	uint64_t ram_size;
	unsigned n_harts;
	const char *kernel; /* required */
	const char *initrd; /* optional */
	const char *append; /* kernel command line, optional */
	enum virt_bios bios;
	const char *bios_path; /* VIRT_BIOS_FILE */
	enum virt_accel accel;
	const char *dump_dtb; /* write the device tree here and exit */
	struct console_spec console;
	unsigned timeout_s; /* 0: none */

	/* virtio devices, in slot order: disks, NICs, rng, balloon, console */
	unsigned n_disks, n_nets;
	struct virtio_blk_config disks[VIRT_MAX_VIRTIO];
	struct virtio_net_config nets[VIRT_MAX_VIRTIO];
	bool rng;
	bool balloon;
	bool has_hvc; /* virtio-console (hvc0) on hvc */
	struct console_spec hvc;
	bool has_qmp; /* control channel (docs/qmp.md) */
	struct qmp_spec qmp;
	bool power_button; /* virtio-input power button (docs/shutdown.md) */
	const char *name;  /* for logs and thread names; may be NULL */
	/* guest panic detection: how long a guest may make no progress
	 * with interrupts off (panic_watch.h); 0 = 10 s */
	uint64_t panic_window_us;
	enum virt_on_panic on_panic;
	/* page sharing (docs/memory.md): frames the scanner looks at per
	 * second; 0 = VIRT_SHARE_DEFAULT, VIRT_SHARE_OFF = none */
	uint32_t share_rate;
	/* compression and swap (docs/memory.md): frames past mem_limit
	 * bytes (0 = none) are reclaimed; mem_swap is the swap file's path
	 * (NULL = none: frames that do not compress stay), opened once by
	 * the first virt_start, before before_guest */
	uint64_t mem_limit;
	const char *mem_swap;
	/* or the swap file as a descriptor someone else opened (the
	 * daemon's): duplicated by the first virt_start, not closed */
	bool mem_swap_by_fd;
	int mem_swap_fd;
	/* docs/vm-state.md: start from this saved state instead of booting
	 * (same configuration required); save to this file when told to
	 * (virt_run: SIGUSR1 or SIGTERM), then end */
	const char *restore;
	const char *save;
	/* The same through descriptors someone else opened (the sandboxed
	 * VM process, the daemon's worker: they cannot open paths).
	 * restore_by_fd: read the state from restore_fd (not closed) instead
	 * of restore. save_by_fd: write --save to save_fd (rewound and
	 * truncated first, fsynced, not renamed) and then write one byte to
	 * save_done_fd, so that the opener can put the file in place. */
	bool restore_by_fd, save_by_fd;
	int restore_fd, save_fd, save_done_fd;
	/* The harts wait, paused, before their first instruction until
	 * virt_resume (an incoming migration: the source still owns the
	 * guest until it lets go). */
	bool start_paused;
	/* The same pause before the first instruction without an incoming
	 * migration's disk hand-over: the revert to a snapshot with memory
	 * of a VM that was paused (docs/vm-state.md). */
	bool start_held;
	/* An incoming migration whose disks are a block mirror's new
	 * images: only then may the stream's disk-mirror sections write
	 * them (a source that sends them for shared storage is refused). */
	bool mirror_in;
	/* Called once by virt_start on the caller's thread, after the
	 * first boot's RAM, devices, images and host channels are open and
	 * before the first guest instruction: the VM process's sandbox
	 * goes in here (vmm/sandbox.h). Non-zero fails virt_start with err
	 * set. May be NULL. */
	int (*before_guest)(void *opaque, struct error *err);
	void *before_guest_opaque;
	/* Cross-VM page sharing (docs/memory.md): the daemon's pool, mapped
	 * read-only by the VM worker, or NULL. Each RAM the machine builds
	 * (every boot) is attached to it with a new generation, announced
	 * first through ram() (its memfd, borrowed: the callee dups or
	 * sends it). Unused with share_rate VIRT_SHARE_OFF. */
	const struct virt_pool *pool;
};
struct virt_pool {
	const void *base;
	uint64_t frames;
	struct gmem_pool_ops ops;
	void (*ram)(void *opaque, int fd, uint64_t bytes, uint32_t gen);
};
#define VIRT_SHARE_DEFAULT 16384u /* 64 MiB/s */
#define VIRT_SHARE_OFF	   UINT32_MAX

/* Number of virtio slots cfg asks for (checked against VIRT_MAX_VIRTIO). */
unsigned virt_virtio_count(const struct virt_config *cfg);

/* Exit statuses of virt_run besides the guest's own codes. */
enum {
	VIRT_EXIT_TIMEOUT = 124,
};

/* Build the machine, run it until the guest powers off (rebooting it when
 * the guest asks), and return the process exit status: 0 for a poweroff,
 * the guest's code for a failure report (syscon, HTIF), VIRT_EXIT_TIMEOUT,
 * or 128 + signal. Set-up errors return -errno with err filled. This is
 * `softvisor run`: virt_create + virt_start + signals + virt_wait. */
int virt_run(const struct virt_config *cfg, struct error *err);

/* ---- the machine as an object (the daemon runs many) -------------------- */

struct virt;
struct hart;

/* Why a started machine ended (virt_wait, virt_host_ops.exited). */
enum virt_end {
	VIRT_END_POWEROFF, /* the guest powered off (code: its status) */
	VIRT_END_STOPPED,  /* virt_stop() (code: what the caller gave) */
	VIRT_END_CRASHED,  /* a state the machine cannot continue from */
	VIRT_END_PANICKED, /* the guest panicked, on_panic is stop */
};

/*
 * The vCPU gate: how a scheduler multiplexes vCPU threads onto pCPUs
 * (issue 7; docs/scheduler.md). Every hart thread calls enter() before it
 * runs guest code and leave() when it stops running: runnable = true when
 * it was preempted (hart_run returned because of a request or its budget),
 * false when it parks (WFI, HSM stop, pause) and will call enter() again
 * on wake-up. enter() blocks until the vCPU holds a pCPU; to preempt, the
 * scheduler calls hart_request(h, HART_REQ_EXIT) and the thread calls
 * leave(runnable = true) at its next block boundary. enter() returns false
 * when the thread must not run (the gate is shutting the vCPU down); the
 * thread then re-checks the machine's state. All callbacks run on the
 * hart's own thread. NULL gate: harts run freely (one host thread each).
 */
struct virt_vcpu_gate {
	bool (*enter)(void *opaque, unsigned vcpu, struct hart *h);
	void (*leave)(void *opaque, unsigned vcpu, bool runnable);
	/* The machine is tearing its harts down (power-off, reboot): make
	 * enter() return false. May be NULL. Control or caller thread. */
	void (*closing)(void *opaque);
	/* New harts are about to start (first boot, reboot): enter() may
	 * grant again. May be NULL. */
	void (*opening)(void *opaque);
	void *opaque;
};

/* How a guest panic was noticed (virt_host_ops.panicked). */
enum virt_panic {
	VIRT_PANIC_PVPANIC, /* the kernel wrote PANICKED to pvpanic */
	VIRT_PANIC_STUCK,   /* no progress for the whole window */
	VIRT_PANIC_REBOOT,  /* it printed Linux's panic banner, then asked
			       for a reboot (panic=N) */
};

/* What the host side (daemon) gives a machine. Every member may be NULL. */
struct virt_host_ops {
	/* Guest UART output, instead of cfg->console (which should then be
	 * CONSOLE_NONE). Called from vCPU threads: must not block long. */
	void (*console_output)(void *opaque, const uint8_t *buf, size_t len);
	/* The UART has room again after virt_console_input() took less than
	 * it was offered. Any thread; must not call back into virt. */
	void (*console_rx_ready)(void *opaque);
	/* The machine ended (after its threads stopped, before virt_wait
	 * returns). Runs on the machine's control thread. */
	void (*ended)(void *opaque, enum virt_end why, int code);
	/* The guest panicked (once per boot): it said so through pvpanic,
	 * or it has made no progress for the panic window (panic_watch.h).
	 * Runs on the control thread, which the callback may use to pause,
	 * stop or reset the machine. */
	void (*panicked)(void *opaque, enum virt_panic how);
	const struct virt_vcpu_gate *gate;
	void *opaque;
};

/* Create a machine for cfg (borrowed: keep it alive until virt_destroy)
 * without building it. NULL with err set on a bad configuration. */
struct virt *virt_create(const struct virt_config *cfg,
			 const struct virt_host_ops *ops, struct error *err);
/* Build the first boot (RAM, devices, images: errors such as a missing
 * kernel are reported here, synchronously) and start the harts and the
 * control thread, which reboots the machine when the guest asks. 0 or
 * -errno with err set (the machine is then not running). Once. */
int virt_start(struct virt *vm, struct error *err);
/* Hard power-off (any thread, asynchronous; virt_wait to join): the
 * machine ends with VIRT_END_STOPPED and code, also when it comes while
 * the guest reboots (the next boot does not start, or stops at once).
 * No-op once ended. */
void virt_stop(struct virt *vm, int code);
/* Hard reset: rebuild and reboot as if the guest asked (any thread). */
void virt_reset(struct virt *vm);
/* Stop every vCPU at a block boundary and freeze the guest clock;
 * returns when no vCPU runs guest code (0) or -EINVAL if not running.
 * Paused vCPU threads sleep (no host CPU). */
int virt_pause(struct virt *vm);
/* Continue after virt_pause(): the clock resumes where it stopped. */
int virt_resume(struct virt *vm);
/* Every NIC of the VM announces itself (QEMU's announce-self: RARP
 * rounds into its back end, and the guest's own announce where its driver
 * negotiated VIRTIO_NET_F_GUEST_ANNOUNCE; docs/net.md). p NULL: the
 * defaults (5 rounds, 50 ms, +100 ms, at most 550 ms). Done by itself
 * after a restore. 0, -ENODEV (no NIC), -EINVAL (params) with err set.
 * Any thread; does not wait for the rounds. */
struct netdev_announce_params;
int virt_announce(struct virt *vm, const struct netdev_announce_params *p,
		  struct error *err);
/* Press the power button (virtio-input KEY_POWER; docs/shutdown.md): a
 * request the guest may honour. -ENODEV if the machine has none,
 * -EINVAL if not running. */
int virt_power_button(struct virt *vm);
/* Offer console input to the UART; returns the bytes taken (the rest:
 * wait for console_rx_ready). Any thread. */
size_t virt_console_input(struct virt *vm, const uint8_t *buf, size_t len);
/* True from virt_start until the machine ended. */
bool virt_running(const struct virt *vm);
/* Wait until the machine ended; returns what ended it and its code. */
enum virt_end virt_wait(struct virt *vm, int *code);
/* Host thread ids of the vCPUs (0 while a vCPU has no thread); n is the
 * array size. Returns the number of vCPUs. */
unsigned virt_vcpu_tids(const struct virt *vm, int *tids, unsigned n);
/* Guest instructions retired by vCPU i of the current boot (0 if none). */
uint64_t virt_vcpu_instret(const struct virt *vm, unsigned i);

/* Counters of the virtio disks (cfg->disks order) and NICs (cfg->nets
 * order) of the current boot: a reboot rebuilds the devices, so they
 * restart at 0. Zero counts while the devices do not exist. Any thread. */
struct virt_dev_stats {
	unsigned n_disks, n_nets;
	struct virtio_blk_stats disk[VIRT_MAX_VIRTIO];
	struct virtio_net_stats net[VIRT_MAX_VIRTIO];
	bool has_mem; /* guest memory figures (docs/memory.md) */
	struct gmem_stats mem;
};
void virt_dev_stats(const struct virt *vm, struct virt_dev_stats *st);
/* Memory figures of the machine (virt_mem.c; docs/memory.md "The policy
 * loop"): RAM frames, page sharing, the balloon and the guest's own
 * statistics from it. Asks the guest for fresh statistics each call (they
 * arrive asynchronously: the next call sees them). Any thread. */
struct virt_mem_stats {
	uint64_t ram_pages;	       /* 4 KiB frames of guest RAM */
	uint64_t private_pages;	       /* backed by a private host frame */
	uint64_t zero_shared_pages;    /* on the shared zero frame (share.c) */
	uint64_t cow_breaks;	       /* total */
	uint32_t has_balloon;	       /* 1: a virtio-balloon device exists */
	uint32_t guest_stats;	       /* 1: guest_* are valid */
	uint64_t balloon_target_pages; /* pages asked of the guest now */
	uint64_t balloon_actual_pages; /* pages the guest holds in it */
	uint64_t guest_total_bytes;    /* MemTotal */
	uint64_t guest_avail_bytes;    /* MemAvailable */
	uint64_t guest_free_bytes;     /* MemFree */
	uint64_t guest_stats_age_ms;   /* since the guest sent them */
	/* the policy's reclaim target as set (virt_mem_target_set), 0: none;
	 * the other figures of compression are in struct gmem_stats */
	uint64_t policy_limit_pages;
	/* cross-VM sharing (pool.c): frames mapped to the daemon's pool now,
	 * COW breaks of such frames (total) */
	uint64_t pool_shared_pages;
	uint64_t pool_cow_breaks;
	/* frames reading the daemon's sealed copy of the kernel now
	 * (gmem_map_file, docs/memory.md "Kernel images") */
	uint64_t kernel_shared_pages;
};
void virt_mem_stats(const struct virt *vm, struct virt_mem_stats *st);
/* Ask the guest's balloon to hold pages 4 KiB pages (0: deflate all):
 * the guest then keeps RAM - pages * 4 KiB. -ENODEV without a balloon,
 * -EINVAL for more pages than RAM. Any thread. */
int virt_balloon_set(struct virt *vm, uint64_t pages);
/* The memory policy's reclaim target (docs/memory.md "The policy loop"):
 * compression (and swap) keep the VM's private frames and compressed
 * store within pages 4 KiB pages; 0 lifts it. With a configured limit
 * (cfg->mem_limit) the smaller one holds. Kept across guest reboots.
 * -EINVAL for more pages than RAM. Any thread. */
int virt_mem_target_set(struct virt *vm, uint64_t pages);
/* The daemon's answers to the current RAM's offers, at once or late
 * (gmem_pool_answer for each (gfn, frame, batch)). Any thread. */
void virt_pool_answer(struct virt *vm, uint32_t gen,
		      const struct gmem_pool_pair *a, unsigned n);
/* The limit the RAM is reclaimed to now (bytes, 0 = none): the smaller
 * of cfg->mem_limit and the policy's target. */
uint64_t virt_mem_limit(const struct virt *vm);
/* Datastore caps of the virtio disks (cfg->disks order; docs/block.md
 * "Disk shares"): caps[i] for disk i < n, 0 = none; disks past n are
 * uncapped. Applies while requests run. Any thread. 0 or -errno. */
struct virt_disk_cap {
	uint64_t iops, bps;
};
int virt_set_disk_caps(struct virt *vm, const struct virt_disk_cap *caps,
		       unsigned n);
/* Save the machine's complete state to path (docs/vm-state.md): pause
 * every vCPU at an instruction boundary, write, fsync and rename into
 * place. The machine stays paused (virt_resume or virt_stop after it).
 * Any thread but a vCPU's. 0 or -errno with err set (path is then left
 * as it was). */
struct virt_save_stats {
	uint64_t bytes;		   /* file size */
	uint64_t ram_frames;	   /* guest RAM frames */
	uint64_t ram_frames_saved; /* of which not all zeros (written) */
	uint64_t pause_ns;	   /* time to stop the vCPUs */
	uint64_t total_ns;	   /* pause + write + fsync */
};
int virt_save(struct virt *vm, const char *path, struct virt_save_stats *st,
	      struct error *err);
/* Internal snapshot name of every writable disk at one instant (or, del,
 * delete snapshot name from them): the vCPUs stop at a block boundary,
 * the disks' requests in flight complete and nothing new starts, the
 * images are flushed, each is snapshotted, then the machine runs on (stays
 * paused if it was). A create that fails on one disk deletes what it made
 * on the others; a delete skips disks without that snapshot. Any thread
 * but a vCPU's. 0 or -errno with err naming the disk (docs/block.md,
 * "Snapshots of a running VM"). */
int virt_disk_snapshot(struct virt *vm, const char *name, bool del,
		       struct error *err);
/* A snapshot with memory (docs/vm-state.md, "Snapshots with memory"):
 * at one pause, with every virtio device quiesced, internal snapshot
 * name of every writable disk (as virt_disk_snapshot) and the machine's
 * state written to fd (as virt_save_fd: no fsync, no rename). Then the
 * machine runs on (stays paused if it was). A device that cannot save is
 * refused before any disk changes; a failed write deletes the disks'
 * snapshots again. Any thread but a vCPU's. 0 with *st filled, or -errno
 * with err set. */
int virt_snapshot_save(struct virt *vm, const char *name, int fd,
		       struct virt_save_stats *st, struct error *err);
/* External snapshot of every writable disk at the same instant
 * (blockdev_snapshot_external): overlays[k] (n of them, one per writable
 * disk in order; empty files made by the caller) becomes the k-th
 * writable disk's image, its old image the overlay's backing file; the
 * definition's disk paths follow (a reboot opens the overlays). All or
 * none. overlays[k] NULL: that disk is left as it is. 0 or -errno with
 * err (docs/block.md "External snapshots"). */
int virt_disk_snapshot_external(struct virt *vm, const char *const *overlays,
				unsigned n, struct error *err);
/* The same state written to fd (a file, pipe or socket the caller opened:
 * the sandboxed VM process cannot create files) from its current offset;
 * no fsync, no rename: the caller owns fd and decides what a complete
 * write means. The machine stays paused. 0 or -errno with err set. */
int virt_save_fd(struct virt *vm, int fd, struct virt_save_stats *st,
		 struct error *err);
/* Live migration's pre-copy (docs/vm-state.md): the same state as
 * virt_save_fd, but RAM goes first while the guest runs, in passes of
 * the frames it dirtied meanwhile, until the rest fits downtime_ns at
 * the measured bandwidth; then the machine pauses and the rest follows.
 * The machine stays paused. progress runs on the caller's thread after
 * each pass. 0 or -errno with err set. */
struct virt_precopy_progress {
	unsigned pass;
	uint64_t bytes_sent;   /* so far */
	uint64_t dirty_frames; /* dirtied during the last pass */
	double dirty_rate;     /* bytes/s dirtied during the last pass */
	double bandwidth;      /* bytes/s written in the last pass */
	/* the block mirror (mirror_disks): bytes of the disks scanned of
	 * their total, bytes dirtied and not yet sent again, bytes of
	 * disk-mirror sections written */
	uint64_t disk_done, disk_total, disk_dirty, disk_sent;
};
struct virt_precopy_params {
	uint64_t downtime_ns; /* the budget for the paused part */
	unsigned max_passes;  /* 0: 30 */
	void (*progress)(void *opaque, const struct virt_precopy_progress *p);
	void *opaque;
	/* no passes: all of it paused (stop-and-copy) */
	bool stop_and_copy;
	/* a migration: the disks are handed over at the final pause
	 * (docs/vm-state.md, "Disks on shared storage"); the caller's
	 * failure path takes them back with virt_disks_activate (or
	 * vm_resume), the machine ends after a success */
	bool release_disks;
	/* a migration with --copy-storage: every disk's data goes into the
	 * stream (disk-mirror sections) while the guest runs, the guest's
	 * writes meanwhile again, the last ones paused; the images stay
	 * here, untouched (virt_mirror.c). Not with release_disks. */
	bool mirror_disks;
};
struct virt_precopy_result {
	unsigned passes;
	uint64_t final_frames;	 /* frames sent while paused */
	uint64_t final_pause_ns; /* CLOCK_MONOTONIC at the final pause */
	double dirty_rate;	 /* of the last pass, bytes/s */
	uint64_t disk_bytes;	 /* mirror_disks: of disk-mirror sections */
};
int virt_precopy_fd(struct virt *vm, int fd,
		    const struct virt_precopy_params *prm,
		    struct virt_save_stats *st, struct virt_precopy_result *res,
		    struct error *err);
/* Take the disks a migration released (the source, after a failure) or
 * open an incoming machine's disks for real (the destination, before its
 * first instruction). No-op without such disks. 0 or -errno with err. */
int virt_disks_activate(struct virt *vm, struct error *err);
/* Free an ended (or never started) machine. */
void virt_destroy(struct virt *vm);

#endif
