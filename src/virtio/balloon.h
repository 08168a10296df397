/*
 * virtio-balloon back end (virtio 1.2, section 5.5): inflateq, deflateq,
 * statsq (VIRTIO_BALLOON_F_STATS_VQ) and free page reporting
 * (VIRTIO_BALLOON_F_REPORTING, reporting_vq).
 *
 * Sizes. The host sets a target as the memory the guest should keep
 * (QEMU's `balloon` semantics): num_pages = (RAM - target) / 4 KiB. The
 * guest reports the pages it holds in the balloon in `actual`;
 * virtio_balloon_actual() turns that back into the guest's memory size.
 *
 * Memory. Pages the guest inflates, and free pages it reports, are given
 * back to the host with gmem_release_page(), so host RSS falls; they read
 * zero afterwards and are allocated again on the guest's next write, so
 * deflate needs no host action. Every page frame number is validated (RAM
 * only); others are ignored with a log line.
 *
 * TLBs. Harts cache host pointers of guest pages. After each batch of
 * releases (one request), before the guest sees the request completed,
 * opts->pages_released(opts->opaque) is called on the worker thread with no
 * device lock held. The board makes every hart drop its cached
 * translations before it executes more guest code. The hook must not wait
 * for vCPUs to acknowledge: a vCPU may be blocked in this device's reset(),
 * which waits for the worker.
 *
 * Ownership: the board creates one device per VM, passes
 * virtio_balloon_dev_ops(b) and b to virtio_mmio_create(), destroys the
 * transport first and the device after it. mem must outlive the device.
 *
 * Threads: one worker thread between start() and reset() handles all
 * queues. set_target/request_stats/get_* may be called from any thread.
 */
#ifndef SV_VIRTIO_BALLOON_H
#define SV_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

struct gmem;

/* Feature bits (5.5.3). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ	1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON	4
#define VIRTIO_BALLOON_F_REPORTING	5

#define VIRTIO_BALLOON_PFN_SHIFT   12  /* PFNs are in 4 KiB units */
#define VIRTIO_BALLOON_QUEUE_SIZE  128 /* Linux wants >= 32 for reporting */
#define VIRTIO_BALLOON_CONFIG_SIZE 16

/* Statistics tags (5.5.6.3; 10.. from virtio 1.3, sent by Linux >= 6.12). */
enum virtio_balloon_stat_tag {
	VIRTIO_BALLOON_S_SWAP_IN = 0,
	VIRTIO_BALLOON_S_SWAP_OUT = 1,
	VIRTIO_BALLOON_S_MAJFLT = 2,
	VIRTIO_BALLOON_S_MINFLT = 3,
	VIRTIO_BALLOON_S_MEMFREE = 4,
	VIRTIO_BALLOON_S_MEMTOT = 5,
	VIRTIO_BALLOON_S_AVAIL = 6,
	VIRTIO_BALLOON_S_CACHES = 7,
	VIRTIO_BALLOON_S_HTLB_PGALLOC = 8,
	VIRTIO_BALLOON_S_HTLB_PGFAIL = 9,
	VIRTIO_BALLOON_S_OOM_KILL = 10,
	VIRTIO_BALLOON_S_ALLOC_STALL = 11,
	VIRTIO_BALLOON_S_ASYNC_SCAN = 12,
	VIRTIO_BALLOON_S_DIRECT_SCAN = 13,
	VIRTIO_BALLOON_S_ASYNC_RECLAIM = 14,
	VIRTIO_BALLOON_S_DIRECT_RECLAIM = 15,
	VIRTIO_BALLOON_S_NR = 16,
};

/* The guest's last statistics. */
struct virtio_balloon_guest_stats {
	uint64_t val[VIRTIO_BALLOON_S_NR];
	uint32_t valid;	     /* bit t: the guest reported tag t */
	uint64_t updated_ns; /* CLOCK_MONOTONIC of the update; 0 = never */
};

/* Host-side view. */
struct virtio_balloon_info {
	uint64_t ram_bytes;	 /* guest RAM */
	uint64_t target_pages;	 /* num_pages (host's request) */
	uint64_t actual_pages;	 /* actual (guest's word, clamped to RAM) */
	uint64_t inflated_pages; /* PFNs released through inflateq */
	uint64_t deflated_pages; /* PFNs returned through deflateq */
	uint64_t reported_pages; /* pages released by free page reporting */
	uint64_t invalid_pfns;	 /* PFNs ignored (not guest RAM) */
	uint64_t stats_updates;	 /* statistics buffers received */
};

struct virtio_balloon_opts {
	/* Offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM (the guest may deflate
	 * under memory pressure without asking). */
	bool deflate_on_oom;
	/* Ask the guest for fresh statistics every interval (0: only on
	 * virtio_balloon_request_stats()). */
	unsigned stats_interval_ms;
	/* See "TLBs" above. May be NULL (tests). */
	void (*pages_released)(void *opaque);
	/* The guest changed `actual`: its memory size is now guest_bytes.
	 * Called on a vCPU thread under the transport's lock: only record
	 * or post it. May be NULL. */
	void (*actual_changed)(void *opaque, uint64_t guest_bytes);
	void *opaque;
};

struct virtio_balloon;

/* Create the device (no thread yet). opts may be NULL. */
struct virtio_balloon *virtio_balloon_create(
	struct gmem *mem, const struct virtio_balloon_opts *opts,
	struct error *err);
/* Free the device; the transport must be destroyed (reset) first. */
void virtio_balloon_destroy(struct virtio_balloon *b);
/* Back-end ops for virtio_mmio_create() (opaque = b). */
const struct virtio_dev_ops *virtio_balloon_dev_ops(struct virtio_balloon *b);

/* Ask the guest to keep guest_bytes of memory (clamped to RAM; rounded so
 * it keeps at least that much): sets num_pages and raises the
 * configuration change interrupt. */
void virtio_balloon_set_target(struct virtio_balloon *b, uint64_t guest_bytes);
/* The guest's memory size now: RAM - actual * 4 KiB. */
uint64_t virtio_balloon_actual(struct virtio_balloon *b);
/* Sizes and counters. */
void virtio_balloon_get_info(struct virtio_balloon *b,
			     struct virtio_balloon_info *info);
/* The guest's last statistics (valid == 0 before the first). */
void virtio_balloon_get_stats(struct virtio_balloon *b,
			      struct virtio_balloon_guest_stats *st);
/* Return the held statistics buffer to the guest so it sends fresh ones
 * (asynchronous: read them later with get_stats). */
void virtio_balloon_request_stats(struct virtio_balloon *b);
/* Name of a statistics tag as QEMU spells it ("stat-free-memory"), or NULL
 * for an unknown tag. */
const char *virtio_balloon_stat_name(unsigned tag);

/* Snapshot/migration state: plain data, no host pointers. The driver's
 * outstanding statistics buffer is part of it (a head the restored queue
 * still owes the driver). */
#define VIRTIO_BALLOON_STATE_VERSION 1
struct virtio_balloon_state {
	uint32_t version; /* VIRTIO_BALLOON_STATE_VERSION */
	uint32_t num_pages, actual;
	uint16_t stats_held; /* 1: stats_head is held by the device */
	uint16_t stats_head;
	uint32_t stats_valid;
	uint64_t stats_val[VIRTIO_BALLOON_S_NR];
};

/* Save the state. Call with the device quiesced (vCPUs paused, no kick in
 * flight), like the transport's own save. */
void virtio_balloon_save(struct virtio_balloon *b,
			 struct virtio_balloon_state *st);
/* Load a saved state before the transport restarts the device (start()
 * picks up the held statistics buffer). -EINVAL for another version. */
int virtio_balloon_load(struct virtio_balloon *b,
			const struct virtio_balloon_state *st);

/* Request handlers of the worker (exposed for unit tests and fuzzing).
 * Each returns >= 0 on success or -EINVAL for a malformed request (the
 * worker then calls virtio_device_error). */
/* inflateq (inflate) / deflateq: an out-buffer of le32 PFNs. Returns the
 * number of pages released (inflate) or accepted (deflate). */
int virtio_balloon_handle_pfns(struct virtio_balloon *b,
			       const struct virtq_req *req, bool inflate);
/* statsq: an out-buffer of 10-byte (le16 tag, le64 value) entries. */
int virtio_balloon_handle_stats(struct virtio_balloon *b,
				const struct virtq_req *req);
/* reporting_vq: in-buffers covering free guest pages. Returns the number
 * of pages released. */
int virtio_balloon_handle_report(struct virtio_balloon *b,
				 const struct virtq_req *req);

#endif
