/*
 * virtio-rng back end (virtio 1.2, section 5.4): one request queue whose
 * device-writable buffers are filled with host entropy from getrandom(2).
 *
 * Ownership: the board creates one device per VM, passes
 * virtio_rng_dev_ops(r) and r to virtio_mmio_create(), destroys the
 * transport first and the device after it.
 *
 * Threads: the device runs one worker thread between start() and reset();
 * requests are served there, never on a vCPU. Each request gets at most
 * VIRTIO_RNG_MAX_REQ bytes (the driver asks again for more).
 */
#ifndef SV_VIRTIO_RNG_H
#define SV_VIRTIO_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

#define VIRTIO_RNG_MAX_REQ    (64u * 1024)
#define VIRTIO_RNG_QUEUE_SIZE 64

struct virtio_rng;

struct virtio_rng_stats {
	uint64_t requests; /* requests completed */
	uint64_t bytes;	   /* entropy bytes handed to the guest */
};

/* Create the device (no thread yet). NULL with err set on failure. */
struct virtio_rng *virtio_rng_create(struct error *err);
/* Free the device; the transport must be destroyed (reset) first. */
void virtio_rng_destroy(struct virtio_rng *r);
/* Back-end ops for virtio_mmio_create() (opaque = r). */
const struct virtio_dev_ops *virtio_rng_dev_ops(struct virtio_rng *r);
/* Counters (any thread). */
void virtio_rng_get_stats(struct virtio_rng *r, struct virtio_rng_stats *st);

/* Serve one request (worker thread; exposed for unit tests and fuzzing):
 * fills its in-buffers (at most VIRTIO_RNG_MAX_REQ bytes) and returns the
 * number of bytes written, or a negative errno if the request is malformed
 * (it has no device-writable buffer). */
int virtio_rng_handle(struct virtio_rng *r, const struct virtq_req *req);

#endif
