/*
 * virtio-blk back end (virtio 1.2, section 5.2) on a src/block disk.
 *
 *   struct virtio_blk_config cfg = { .path = "disk.img", .format = "raw" };
 *   struct virtio_blk *blk = virtio_blk_create(&cfg, &err);
 *   struct virtio_dev *vd = virtio_mmio_create(mem, virtio_blk_ops(blk),
 *                                              blk, &irq, &err);
 *   ...
 *   virtio_mmio_destroy(vd);   (resets: stops the back end)
 *   virtio_blk_destroy(blk);   (closes and unlocks the image)
 *
 * The image is opened (and locked) by virtio_blk_create(), so a disk that is
 * already in use fails there with a message naming the holder.
 *
 * Threads: the ops run as virtio.h describes (queue_notify on a vCPU thread
 * only wakes the device's I/O thread). The I/O thread pops requests and
 * hands reads, writes, flushes, discards and write-zeroes to a block_pool
 * (src/block/pool.h); a worker completes the request (status byte, used
 * ring, interrupt) when the host call returned. reset() stops the I/O
 * thread and waits for every request in flight.
 *
 * Ownership: the device owns its blockdev and threads; the caller owns the
 * device and destroys it after the transport.
 */
#ifndef SV_VIRTIO_BLK_H
#define SV_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "block/throttle.h"
#include "util/error.h"
#include "virtio/virtio.h"

struct virtq_req;

#define VIRTIO_BLK_ID_BYTES  20 /* GET_ID string length (5.2.6) */
#define VIRTIO_BLK_PATH_MAX  4096
#define VIRTIO_BLK_QUEUE_MAX 256

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_TOPOLOGY	  10
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK		  0
#define VIRTIO_BLK_S_IOERR	  1
#define VIRTIO_BLK_S_UNSUPP	  2

/* One disk of the board (from a VM definition, vmm/vmdef.h). Plain data:
 * no pointers, copyable. */
struct virtio_blk_config {
	char path[VIRTIO_BLK_PATH_MAX];
	char format[16]; /* "raw" */
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES + 1]; /* NUL-terminated, may be "" */
	struct throttle_config throttle;      /* I/O limits; all 0: none */
	/* an encrypted image's passphrase: "file:PATH" or "env:NAME"
	 * (never the secret itself); "" for none */
	char key_secret[VIRTIO_BLK_PATH_MAX + 8];
	int aio; /* enum block_aio: 0 threads, auto, io_uring */
	/* an incoming live migration: the source still writes the image;
	 * it is opened without a lock and for real by virtio_blk_activate
	 * (docs/vm-state.md, "Disks on shared storage") */
	bool incoming;
};

/* Per-device counters (any thread; a consistent-enough snapshot). */
struct virtio_blk_stats {
	uint64_t rd_ops, rd_bytes;
	uint64_t wr_ops, wr_bytes;
	uint64_t flush_ops, discard_ops, write_zeroes_ops;
	uint64_t errors; /* requests completed with IOERR or UNSUPP */
	/* nanoseconds from taking a read (write) off the ring to its
	 * completion, summed over rd_ops (wr_ops): the guest's latency,
	 * waits on limits and caps included */
	uint64_t rd_lat_ns, wr_lat_ns;
	uint64_t throttled_ns;	    /* waited on limits and the datastore cap */
	uint64_t cap_iops, cap_bps; /* the datastore cap now (0: none) */
};

struct virtio_blk;

/* Open (and lock) the image and create the device. NULL with a message in
 * err if the image cannot be opened. */
struct virtio_blk *virtio_blk_create(const struct virtio_blk_config *cfg,
				     struct error *err);

/* Stop (as reset) and free the device, closing the image. NULL is a
 * no-op. The transport must be destroyed first. */
void virtio_blk_destroy(struct virtio_blk *blk);

/* The ops to pass to virtio_mmio_create() with blk as opaque. They live as
 * long as blk (features depend on the image: read-only, discard). */
const struct virtio_dev_ops *virtio_blk_ops(struct virtio_blk *blk);

/* The device's open image (for internal snapshots of a running VM,
 * machine/virt_snap.c): use it only while the device is quiesced. */
struct blockdev *virtio_blk_blockdev(struct virtio_blk *blk);
/* Replace the device's image by bd, of the same size (an external
 * snapshot's overlay, which owns the old one): only while the device is
 * quiesced or not started. The old device is not closed here. */
void virtio_blk_set_blockdev(struct virtio_blk *blk, struct blockdev *bd);

/* Set the datastore cap of the disk (blockdev_set_cap): any thread, while
 * the device runs. 0 or -errno. */
int virtio_blk_set_cap(struct virtio_blk *blk, uint64_t iops, uint64_t bps);

/*
 * Live migration over shared storage (docs/vm-state.md): with the device
 * quiesced, release hands the image over (blockdev_release: written back,
 * synced, unlocked; id: the file as it was left); activate takes it:
 * an incoming device opens the image for real (its lock, its metadata
 * read now), checks that it is the file the source left (expect, from
 * virtio_blk_expect) and that its size did not change, and swaps it in; a
 * released one takes its lock back. Both 0 or -errno with err.
 */
struct blockdev_identity;
int virtio_blk_release(struct virtio_blk *blk, struct blockdev_identity *id,
		       struct error *err);
void virtio_blk_expect(struct virtio_blk *blk,
		       const struct blockdev_identity *id);
int virtio_blk_activate(struct virtio_blk *blk, struct error *err);
/* A block mirror's target (live migration with --copy-storage,
 * docs/vm-state.md "Disks copied with the VM"): an incoming device whose
 * image the destination created empty opens it for real (its lock, for
 * writing) so the source's disk-mirror sections can be written into it;
 * the device stays inactive until virtio_blk_activate, which then only
 * applies the disk's limits (no hand-over is expected). Device not
 * started. 0 or -errno with err (-EINVAL: not incoming, read-only). */
int virtio_blk_mirror_open(struct virtio_blk *blk, struct error *err);
/* Has virtio_blk_mirror_open taken the image? */
bool virtio_blk_mirror_target(struct virtio_blk *blk);
/* Does the device wait for (or has it done) a hand-over? */
bool virtio_blk_inactive(struct virtio_blk *blk);

/* Copy the counters. */
void virtio_blk_get_stats(struct virtio_blk *blk, struct virtio_blk_stats *st);

/*
 * For unit tests and the fuzz target: run one request synchronously on the
 * calling thread, as the device would (parse, I/O, status byte); req is
 * not modified (the buffers it points to are). Returns the status
 * written (VIRTIO_BLK_S_*) with *written set to the used length, or a
 * negative errno when the chain is unusable as a request (no writable
 * status byte), where the device would call virtio_device_error().
 */
int virtio_blk_handle_sync(struct virtio_blk *blk, struct virtq_req *req,
			   uint32_t *written);

#endif
