/*
 * A fake virtio transport and virtqueue for device unit tests (console,
 * rng, balloon): implements the virtio.h back-end functions and the
 * virtq.h pop/push API over a FIFO of prepared requests, so a device's
 * worker thread runs for real without rings. Requests are built directly
 * as struct virtq_req (host buffers, or guest RAM through the gmem DMA API).
 */
#ifndef SV_TESTS_FAKE_TRANSPORT_H
#define SV_TESTS_FAKE_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"
#include "virtio/virtq.h"

struct gmem;

/* A device "transport" with n_queues fake queues. */
struct virtio_dev *fake_dev_new(struct gmem *mem, unsigned n_queues,
				uint64_t features);
void fake_dev_free(struct virtio_dev *vd);

/* Queue a copy of req on queue q (it is popped by the device). */
void fake_queue_add(struct virtio_dev *vd, unsigned q,
		    const struct virtq_req *req);
/* Make the next pop of queue q fail with rc (< 0). */
void fake_queue_fail_next(struct virtio_dev *vd, unsigned q, int rc);
/* Requests completed (pushed) on queue q so far. */
unsigned fake_used(struct virtio_dev *vd, unsigned q);
/* Requests of queue q popped so far (virtq_unpop gives them back). */
unsigned fake_popped(struct virtio_dev *vd, unsigned q);
/* head and written of the i-th completed request of queue q. */
uint16_t fake_used_head(struct virtio_dev *vd, unsigned q, unsigned i);
uint32_t fake_used_written(struct virtio_dev *vd, unsigned q, unsigned i);
/* Wait until at least n requests were completed on q (false: timeout). */
bool fake_wait_used(struct virtio_dev *vd, unsigned q, unsigned n,
		    unsigned timeout_ms);
/* Interrupts raised for queue q; configuration changes. */
unsigned fake_notifies(struct virtio_dev *vd, unsigned q);
unsigned fake_config_changes(struct virtio_dev *vd);
/* virtio_device_error() was called. */
bool fake_wait_broken(struct virtio_dev *vd, unsigned timeout_ms);

/* Request builders (req must start zeroed). Out-buffers must all be added
 * before in-buffers. */
void fake_req_out(struct virtq_req *req, const void *buf, size_t len);
void fake_req_in(struct virtq_req *req, void *buf, size_t len);
/* Guest RAM through gmem_dma_map (fills addr[] too). */
void fake_req_gpa(struct virtq_req *req, struct gmem *mem, uint64_t gpa,
		  uint64_t len, bool writable);

#endif
