/*
 * The daemon <-> VM worker protocol (issue 14, docs/architecture.md,
 * "Process per VM"): small framed messages over an AF_UNIX SOCK_SEQPACKET
 * socketpair, one message per packet, with file descriptors passed as
 * SCM_RIGHTS. Both ends validate everything: the worker runs a hostile
 * guest, so the daemon treats every message from it as untrusted input; a
 * malformed message is a protocol error (-EPROTO with a clear message),
 * never a crash, and the daemon then drops that worker.
 *
 *   struct vmproto_msg m = { .type = VMPROTO_PAUSE, .seq = 7 };
 *   vmproto_send(fd, &m, NULL, 0, &err);
 *   vmproto_recv(fd, &m, fds, &nfds, &err);   validated, or -EPROTO
 *
 * Threads: send may be called by several threads at once (each packet is
 * atomic); recv by one reader per socket.
 */
#ifndef SV_VMM_VMPROTO_H
#define SV_VMM_VMPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "machine/virt.h"
#include "util/error.h"

/* Version 2: ATTACH carries the VM's switch ports (a worker of 1 is
 * refused). Version 4: struct gmem_pool_pair carries the batch (late
 * answers, drops checked by batch). Descriptors: VIRT_MAX_HARTS gate sockets and a state (START)
 * or a switch port per NIC (ATTACH). */
#define VMPROTO_MAGIC	 0x5356u /* "SV" */
#define VMPROTO_VERSION	 4u
#define VMPROTO_MAX_DATA (64u * 1024)
#define VMPROTO_MAX_FDS	 (VIRT_MAX_HARTS + VIRT_MAX_VIRTIO)

enum vmproto_type {
	/* daemon -> worker */
	VMPROTO_START = 1,  /* data: VM definition (JSON); a0: gate on */
	VMPROTO_STOP,	    /* a0: exit code; hard power-off */
	VMPROTO_PAUSE,	    /* reply: a0 = 0 or -errno */
	VMPROTO_RESUME,	    /* reply */
	VMPROTO_RESET,	    /* reply */
	VMPROTO_POWER,	    /* power button; reply */
	VMPROTO_CONSOLE_IN, /* data: bytes; reply a0 = bytes taken */
	VMPROTO_STATS,	    /* reply: VMPROTO_STATS_REPLY */
	VMPROTO_GATE_GRANT, /* a0: vCPU, a1: 1 granted, 0 shut down */
	VMPROTO_GATE_KICK,  /* a0: vCPU: leave at the next block end */
	/* worker -> daemon */
	VMPROTO_HELLO,	      /* a0: protocol version, a1: worker pid */
	VMPROTO_STARTED,      /* a0: 0 or -errno; data: error message */
	VMPROTO_REPLY,	      /* a0: result (seq: the request's) */
	VMPROTO_STATS_REPLY,  /* data: struct vmproto_stats */
	VMPROTO_CONSOLE_OUT,  /* data: bytes */
	VMPROTO_ENDED,	      /* a0: enum virt_end, a1: exit code */
	VMPROTO_GATE_ENTER,   /* gate socket; a0: vCPU; answer: GATE_GRANT */
	VMPROTO_GATE_LEAVE,   /* gate socket; a0: vCPU, a1: 1 runnable */
	VMPROTO_GATE_CLOSING, /* seq; answered by REPLY once in effect */
	VMPROTO_GATE_OPENING, /* seq; answered by REPLY once in effect */
	VMPROTO_RAM_FD,	      /* one fd: guest RAM (memfd) of a new boot;
				 a0: size MiB, a1: its generation (page
				 sharing, docs/memory.md) */
	/* daemon -> worker: internal snapshot of every writable disk at
	 * one instant (virt_disk_snapshot); data: the snapshot's name;
	 * a0: 0 create, 1 delete; reply a0 = 0 or -errno */
	VMPROTO_DISK_SNAPSHOT,
	VMPROTO_PANICKED, /* a0: enum virt_panic, a1: the on_panic
				 action the machine takes (issue 19) */
	/* docs/vm-state.md: save and restore through descriptors the
	 * daemon opened (the worker cannot open paths) */
	VMPROTO_SAVE,	  /* daemon -> worker, one fd: write the VM's state
			  to it (the VM stays paused); answer: SAVED.
			  a0 > 0: live migration, pre-copy with a downtime
			  budget of a0 ms (PROGRESS after each pass) */
	VMPROTO_SAVED,	  /* a0: 0 or -errno; data: struct vmproto_saved on
			  success, the error message otherwise */
	VMPROTO_PROGRESS, /* worker -> daemon during a pre-copy:
			     struct vmproto_progress */
	/* daemon -> worker (issue 15, the memory policy loop) */
	VMPROTO_BALLOON, /* a0: 4 KiB pages the balloon should hold (0 ..
			    RAM); reply a0 = 0, -ENODEV (none), -EINVAL */
	/* daemon -> worker: datastore caps of the disks (disk shares,
	 * docs/block.md); data: struct virt_disk_cap per disk, in order;
	 * reply a0 = 0 or -errno */
	VMPROTO_DISK_CAP,
	/* daemon -> worker (issue 15): the memory policy's reclaim target,
	 * a0: 4 KiB pages (0 = none, 1 .. RAM) that compression keeps the
	 * VM within; reply a0 = 0 or -EINVAL */
	VMPROTO_MEM_TARGET,
	/* daemon -> worker: external snapshot of every writable disk at one
	 * instant (virt_disk_snapshot_external); a0: n; n fds, the new
	 * empty overlay files opened read-write; data: their n absolute
	 * paths, each NUL-terminated; reply a0 = 0 or -errno */
	VMPROTO_DISK_SNAPSHOT_EXT,
	/* re-attaching workers after a daemon restart (docs/architecture.md,
	 * "Re-attaching workers"): RENDEZVOUS, daemon -> worker, one fd: a
	 * bound AF_UNIX SOCK_SEQPACKET socket the worker listens on; a0:
	 * grace period in seconds (1..VMPROTO_GRACE_MAX), a1: the run's
	 * generation; reply a0 = 0 or -errno. ATTACH, a new daemon -> worker
	 * on an accepted connection: a0 protocol version, a1 generation,
	 * fds: one gate socket per vCPU (none without a scheduler), then
	 * one connected switch port (past its hello) per byte of data, the
	 * byte the index of the NIC whose port it replaces (the daemon's
	 * switches died with the old daemon; the sandboxed worker cannot
	 * connect); answer ATTACHED: a0 = 0 or -errno, data: struct
	 * vmproto_attached or the error message. */
	VMPROTO_RENDEZVOUS,
	VMPROTO_ATTACH,
	VMPROTO_ATTACHED,
	/* daemon -> worker: every NIC announces itself (virt_announce,
	 * docs/net.md); reply a0 = 0, -ENODEV (no NIC) or -errno */
	VMPROTO_ANNOUNCE,
	/* cross-VM page sharing (issue 15, docs/memory.md "Sharing
	 * identical pages across VMs"). POOL, daemon -> worker before
	 * START, one fd: the host-wide pool, read-only; a0: its frames.
	 * SHARE_OFFER, worker -> daemon: a0 the batch, a1 the RAM's
	 * generation, data: struct gmem_pool_offer[] (1..GMEM_SHARE_BATCH).
	 * SHARE_ANSWER, daemon -> worker, the answer to an offer or a late
	 * answer (a frame kept as a candidate matched a later offer): a0
	 * the batch of the first pair, a1 the generation, data: struct
	 * gmem_pool_pair[] (each with its batch; frame GMEM_POOL_NONE: no
	 * match yet, the offer stays; GMEM_POOL_LIFT: not kept, lifted).
	 * SHARE_DROP, worker -> daemon: a1 the generation, data: struct
	 * gmem_pool_pair[], references given back (with the batch they
	 * were answered for). */
	VMPROTO_POOL,
	VMPROTO_SHARE_OFFER,
	VMPROTO_SHARE_ANSWER,
	VMPROTO_SHARE_DROP,
	/* daemon -> worker before START, one fd: the daemon's sealed copy
	 * of a file the VM boots (vmm/kernel_cache.h), which the worker's
	 * loader maps instead of copying; data: the file's path as the
	 * VM definition names it, NUL-terminated. A worker that cannot use
	 * it opens the path as before. */
	VMPROTO_KERNEL_FILE,
	VMPROTO_TYPE_END
};

#define VMPROTO_STATS_VCPUS VIRT_MAX_HARTS

/* Fixed-layout statistics of VMPROTO_STATS_REPLY (host byte order: both
 * ends are the same binary on the same host). */
struct vmproto_stats {
	uint32_t n_vcpus; /* <= VMPROTO_STATS_VCPUS */
	int32_t tids[VMPROTO_STATS_VCPUS];
	uint64_t instret[VMPROTO_STATS_VCPUS];
	struct virt_dev_stats dev;
	struct virt_mem_stats mem; /* untrusted: the daemon clamps it */
};

/* The longest a worker waits for a new daemon (seconds). */
#define VMPROTO_GRACE_MAX (24 * 3600)

/* VMPROTO_ATTACHED on success (host byte order). */
struct vmproto_attached {
	int32_t pid;	     /* the worker's, as the daemon numbers it */
	uint32_t gen;	     /* the run's generation (RENDEZVOUS a1) */
	uint32_t n_vcpus;    /* of its machine */
	uint32_t paused;     /* 1: the machine is paused */
	uint32_t detached_s; /* how long it ran without a daemon */
	uint32_t ports;	     /* switch ports taken from ATTACH */
	char name[64];	     /* the VM's name, NUL-terminated */
};

/* What a save wrote (VMPROTO_SAVED on success; host byte order). */
struct vmproto_saved {
	uint64_t bytes, ram_frames, ram_frames_saved, pause_ns, total_ns;
	/* pre-copy: passes, frames sent paused, CLOCK_MONOTONIC of the
	 * final pause, the last pass's dirty rate (bytes/s) */
	uint64_t passes, final_frames, final_pause_ns;
	double dirty_rate;
	uint64_t disk_bytes; /* --copy-storage: disk-mirror sections */
};

/* VMPROTO_PROGRESS (host byte order). */
struct vmproto_progress {
	uint64_t pass, bytes_sent, dirty_frames;
	double dirty_rate, bandwidth; /* bytes/s */
	/* --copy-storage: the block mirror (virt_precopy_progress) */
	uint64_t disk_done, disk_total, disk_dirty, disk_sent;
};

/* VMPROTO_SAVE: a1 bit: a live migration (a0 = 0: stop-and-copy): the
 * disks are handed over at the final pause (docs/vm-state.md). */
#define VMPROTO_SAVE_MIGRATE 1
/* VMPROTO_SAVE: a1 bit: a snapshot with memory (virt_snapshot_save);
 * data: the snapshot's name (1..64 bytes, no NUL); a0 = 0. The VM runs
 * on afterwards (stays paused if it was). */
#define VMPROTO_SAVE_SNAPSHOT 2
/* VMPROTO_SAVE: a1 bit, with VMPROTO_SAVE_MIGRATE: --copy-storage, the
 * disks are mirrored into the stream instead of handed over
 * (docs/vm-state.md, "Disks copied with the VM"). */
#define VMPROTO_SAVE_MIRROR 4

/* VMPROTO_START: a1 = VMPROTO_START_RESTORE when the last descriptor is a
 * VM state to continue from (read before the guest's first instruction,
 * then closed). */
#define VMPROTO_START_RESTORE 1
/* VMPROTO_START: a1 bit: the vCPUs wait, paused, until RESUME. */
#define VMPROTO_START_PAUSED 2
/* VMPROTO_START: a1 bit: the vCPUs wait, paused, until RESUME, the disks
 * opened as for a boot (a revert to a snapshot of a paused VM). */
#define VMPROTO_START_HELD 4
/* VMPROTO_START: a1 bit: an incoming migration with a block mirror: the
 * stream's disk-mirror sections may write its (new, empty) disks. */
#define VMPROTO_START_MIRROR 8
/* VMPROTO_START: a1 bit: the descriptor before the state (or the last one)
 * is the VM's swap file, made by the daemon (docs/memory.md, "Swap
 * file"). */
#define VMPROTO_START_SWAP 16

/* Bytes of a receive buffer: the largest packet and one more. */
#define VMPROTO_RXBUF (VMPROTO_MAX_DATA + 32)

/* A message; a received one's data points into the caller's receive
 * buffer (valid until the next recv into it). */
struct vmproto_msg {
	uint16_t type;
	uint32_t seq;
	int32_t a0, a1;
	const void *data;
	uint32_t len;
};

/* Name of a message type, "?" if unknown. */
const char *vmproto_type_name(unsigned type);

/* Encode m (type, seq, a0, a1, data/len) into out (cap bytes); returns the
 * packet size or -EINVAL. */
int vmproto_encode(const struct vmproto_msg *m, uint8_t *out, size_t cap,
		   struct error *err);

/* Validate and decode one packet of n bytes into m (m->data points into
 * pkt). -EPROTO with err on anything malformed. */
int vmproto_decode(const uint8_t *pkt, size_t n, struct vmproto_msg *m,
		   struct error *err);

/* Send m with nfds descriptors (0..VMPROTO_MAX_FDS). 0 or -errno (EPIPE
 * when the peer is gone). flags: MSG_DONTWAIT or 0. */
int vmproto_send(int sock, const struct vmproto_msg *m, const int *fds,
		 unsigned nfds, int flags, struct error *err);

/* Shorthand: send a message without data or fds. */
int vmproto_send_simple(int sock, unsigned type, uint32_t seq, int32_t a0,
			int32_t a1, struct error *err);

/* Receive and validate one message into buf (VMPROTO_RXBUF bytes, e.g.
 * heap: too large for small thread stacks). fds (may be NULL: received
 * descriptors are then closed) gets up to VMPROTO_MAX_FDS, *nfds their
 * count. 0, -ECONNRESET at end of stream (with err), -EPROTO malformed,
 * other -errno. Descriptors of a rejected message are closed. */
int vmproto_recv(int sock, uint8_t *buf, struct vmproto_msg *m, int *fds,
		 unsigned *nfds, struct error *err);

#endif
