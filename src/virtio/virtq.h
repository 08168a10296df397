/*
 * Split virtqueues (virtio 1.2, section 2.7): walking the available ring,
 * descriptor chains (with VIRTIO_F_INDIRECT_DESC), mapping their buffers to
 * host iovecs through the gmem DMA API, and returning them on the used ring
 * (with VIRTIO_F_EVENT_IDX).
 *
 * Everything in the rings is guest-controlled. virtq_pop() rejects, with a
 * negative errno and without touching anything:
 *   - an avail index that moved by more than the queue size,
 *   - a head or next index >= queue size,
 *   - a chain longer than the queue size (loops), including an indirect
 *     table longer than its length allows or nested indirect tables,
 *   - an indirect descriptor with NEXT set in the same descriptor, or a
 *     table length not a multiple of 16 / zero,
 *   - a device-readable descriptor after a device-writable one,
 *   - buffers outside guest RAM, lengths that overflow, or a total length
 *     over VIRTQ_MAX_CHAIN_BYTES.
 * The caller then calls virtio_device_error().
 *
 * Threading: one thread at a time pops/pushes a given queue (the device's
 * back end); different queues of a device may be used from different threads.
 */
#ifndef SV_VIRTIO_VIRTQ_H
#define SV_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct gmem;

#define VIRTQ_MAX_IOV	      1024
#define VIRTQ_MAX_CHAIN_BYTES (256u << 20)

/* One request: a descriptor chain mapped to host memory. out = device-
 * readable (driver -> device), in = device-writable (device -> driver). */
struct virtq_req {
	uint16_t head; /* id to give back to virtq_push */
	unsigned n_out, n_in;
	uint64_t out_len, in_len;	 /* total bytes */
	struct iovec iov[VIRTQ_MAX_IOV]; /* out iovecs first, then in */
	/* Guest physical address of the first byte of each iov[i] (free
	 * page reporting releases the guest pages an in-buffer covers). */
	uint64_t addr[VIRTQ_MAX_IOV];
	/* Bytes of guest memory iov[i] pinned at pop time (back ends may
	 * trim iov_len; the unpin must see what the pin saw). */
	uint32_t pin_len[VIRTQ_MAX_IOV];
};

struct virtq;

/* Set up a queue from the addresses the driver wrote (transport use).
 * Returns NULL (and the transport fails QueueReady) if the rings are not
 * in RAM, misaligned, or size is not a power of two <= max. */
struct virtq *virtq_create(struct gmem *mem, uint16_t size, uint64_t desc,
			   uint64_t avail, uint64_t used, bool event_idx,
			   bool indirect);
void virtq_destroy(struct virtq *vq);

/* The device side of a queue, for the VM state file (docs/vm-state.md):
 * everything else of a queue is in guest RAM or the transport's registers.
 * Get/set only while no thread uses the queue (the back end quiesced). */
struct virtq_state {
	uint16_t last_avail;	 /* next avail ring entry to consume */
	uint16_t used_idx;	 /* our used->idx */
	uint16_t signalled_used; /* used_idx at the last notify decision */
	bool notify_enabled;
};
void virtq_get_state(const struct virtq *vq, struct virtq_state *st);
void virtq_set_state(struct virtq *vq, const struct virtq_state *st);
/* Give back the last n chains popped and not pushed (a device quiescing
 * with buffers it holds, such as virtio-net's receive buffers): they are
 * popped again, in the same order, after a restore. Only while no thread
 * uses the queue. */
void virtq_unpop(struct virtq *vq, uint16_t n);

/* Next available chain: 1 = *req filled, 0 = nothing available,
 * < 0 = malformed (see above). */
int virtq_pop(struct virtq *vq, struct virtq_req *req);
/* Give a chain back with `written` bytes written into its in-buffers. */
void virtq_push(struct virtq *vq, const struct virtq_req *req,
		uint32_t written);
/* Should the driver be interrupted now (after pushes)? Implements
 * used_event / VIRTQ_AVAIL_F_NO_INTERRUPT (2.7.7, 2.7.10). */
bool virtq_need_notify(struct virtq *vq);
/* Tell the driver whether we want notifications (avail_event or
 * VIRTQ_USED_F_NO_NOTIFY); used by back ends that poll. */
void virtq_set_notify(struct virtq *vq, bool enable);
/* Any chain available? */
bool virtq_has_work(struct virtq *vq);

/* Unpin a popped request's buffers without returning it (a device that
 * drops requests it holds on reset; virtq_push() does this itself). */
void virtq_req_release(struct gmem *mem, struct virtq_req *req);

/* Copy helpers over a request's iovecs. */
size_t virtq_req_read(const struct virtq_req *req, size_t off, void *buf,
		      size_t len); /* from out buffers */
size_t virtq_req_write(const struct virtq_req *req, size_t off, const void *buf,
		       size_t len); /* into in buffers */

#endif
