/*
 * Virtio devices (virtio 1.2): the contract between a transport (virtio-mmio,
 * mmio.c), the split virtqueues it sets up (virtq.h) and a device back end
 * (blk.c, net.c, console.c, rng.c, balloon.c).
 *
 * Threads. Register accesses by the guest (MMIO) run on a vCPU thread and
 * are serialized per device by the transport's lock. A back end does its
 * work off the vCPU threads: queue_notify() only wakes the back end's own
 * thread (an eventfd, a condition variable); the vCPU never waits for I/O.
 * Back ends pop and push buffers and raise interrupts from their thread(s)
 * with virtq_pop/virtq_push/virtio_notify, which are safe against the
 * transport's register handlers.
 *
 * Hostile guests. Every ring index, descriptor, length and address is
 * guest-controlled. On anything malformed (see virtq.h) the queue reports
 * an error, the transport sets DEVICE_NEEDS_RESET and the device stops
 * processing until the driver resets it; the host process and other VMs are
 * never affected.
 */
#ifndef SV_VIRTIO_VIRTIO_H
#define SV_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/irq.h"

struct gmem;
struct state_reader;
struct state_writer;
struct virtq;
struct virtio_dev;

/* Device IDs (virtio 1.2, section 5). */
enum virtio_device_id {
	VIRTIO_ID_NET = 1,
	VIRTIO_ID_BLOCK = 2,
	VIRTIO_ID_CONSOLE = 3,
	VIRTIO_ID_RNG = 4,
	VIRTIO_ID_BALLOON = 5,
	VIRTIO_ID_INPUT = 18,
};

/* Reserved feature bits (section 6). */
#define VIRTIO_F_INDIRECT_DESC	 28
#define VIRTIO_F_EVENT_IDX	 29
#define VIRTIO_F_VERSION_1	 32
#define VIRTIO_F_ACCESS_PLATFORM 33

/* Device status bits (section 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 1
#define VIRTIO_STATUS_DRIVER		 2
#define VIRTIO_STATUS_DRIVER_OK		 4
#define VIRTIO_STATUS_FEATURES_OK	 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED		 128

#define VIRTIO_MAX_QUEUES 8

/*
 * What a back end provides. All callbacks get the back end's opaque.
 * config_read/config_write access the device-specific configuration space
 * (offset relative to its start, any width the guest uses).
 */
struct virtio_dev_ops {
	const char *name; /* "virtio-blk", for messages */
	enum virtio_device_id device_id;
	unsigned n_queues;  /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max; /* QueueNumMax, a power of two <= 32768 */
	/* Device feature bits; the transport adds VERSION_1, INDIRECT_DESC
	 * and EVENT_IDX. */
	uint64_t features;
	uint32_t config_size;
	void (*config_read)(void *opaque, uint32_t off, void *buf,
			    uint32_t len);
	void (*config_write)(void *opaque, uint32_t off, const void *buf,
			     uint32_t len); /* may be NULL: read-only config */
	/* DRIVER_OK was set: queues are ready; start processing. */
	void (*start)(void *opaque, struct virtio_dev *vd);
	/* The driver reset the device (or the VM stops): stop touching the
	 * queues and return only when no back-end thread uses them. Also
	 * called when the device was never started (the driver resets it at
	 * probe): must be idempotent. */
	void (*reset)(void *opaque);
	/* The guest notified queue q (vCPU thread): wake the back end. */
	void (*queue_notify)(void *opaque, unsigned q);
	/* VM save (docs/vm-state.md), with the vCPUs paused: stop taking
	 * requests and return once every request taken from the queues has
	 * been completed into the used ring (unlike reset(), completions are
	 * kept); start() continues. NULL: the device's state cannot be saved
	 * (a save is refused, naming it). */
	void (*quiesce)(void *opaque);
	/* The device's own state beyond the transport's (virtio-net's
	 * receive filter and pending announce), appended to its
	 * "virtio-mmio" section (version 2; docs/vm-state.md). save_state:
	 * quiesced, under the transport lock. load_state: after the
	 * transport was reset and before start(); read with state_get_*,
	 * check everything (the file is untrusted), apply; -errno with err
	 * set (state_fail) refuses the file. A version-1 section has no
	 * device part: load_state is not called and the device keeps its
	 * reset state. Both NULL: the device has no state of its own. */
	void (*save_state)(void *opaque, struct state_writer *w);
	int (*load_state)(void *opaque, struct state_reader *r,
			  struct error *err);
};

/* ---- transport: virtio-mmio version 2 (section 4.2) ----------------------- */

/* Create a virtio-mmio device at a slot: the board maps
 * virtio_mmio_ops() at its base (0x1000 bytes) and wires irq to the PLIC. */
struct virtio_dev *virtio_mmio_create(struct gmem *mem,
				      const struct virtio_dev_ops *ops,
				      void *opaque, const struct irq_line *irq,
				      struct error *err);
/* Reset the device (stopping the back end) and free the transport. */
void virtio_mmio_destroy(struct virtio_dev *vd);
const struct mmio_ops *virtio_mmio_ops(void);

/* ---- for back ends (any thread) ------------------------------------------ */

/* Queue q (valid from start() to the next reset()); NULL if the driver did
 * not set that queue up (e.g. a queue gated by a feature it refused). */
struct virtq *virtio_queue(struct virtio_dev *vd, unsigned q);
/* Features the driver accepted. */
uint64_t virtio_features(const struct virtio_dev *vd);
/* Raise the used-buffer interrupt for queue q if the driver wants one
 * (respects EVENT_IDX / VIRTQ_AVAIL_F_NO_INTERRUPT). */
void virtio_notify(struct virtio_dev *vd, unsigned q);
/* The device-specific configuration changed: bump the generation and
 * raise the configuration-change interrupt. */
void virtio_config_changed(struct virtio_dev *vd);
/* A malformed ring or request: set DEVICE_NEEDS_RESET, raise the
 * configuration interrupt, stop the device. what is logged once. */
void virtio_device_error(struct virtio_dev *vd, const char *what);
/* True after virtio_device_error until the driver resets the device. */
bool virtio_broken(const struct virtio_dev *vd);
/* Guest memory for DMA (the gmem DMA API). */
struct gmem *virtio_mem(const struct virtio_dev *vd);

/* ---- save and restore (docs/vm-state.md; the VM's owner thread) -------
 * Quiesce, save, then resume (or destroy); or, on a device just created
 * with the same ops, load. */

/* The device's name ("virtio-blk"), for messages. */
const char *virtio_mmio_name(const struct virtio_dev *vd);
/* Can the device's state be saved (its back end has quiesce)? */
bool virtio_mmio_can_save(const struct virtio_dev *vd);
/* Stop the back end with nothing in flight (ops->quiesce), if started. */
void virtio_mmio_quiesce(struct virtio_dev *vd);
/* Start the back end again after virtio_mmio_quiesce, if it was started. */
void virtio_mmio_resume(struct virtio_dev *vd);
/* Write section "virtio-mmio"/instance: registers, status, features,
 * interrupt status, every queue's addresses and device-side indices.
 * Quiesced first. */
void virtio_mmio_save(struct virtio_dev *vd, uint32_t instance,
		      struct state_writer *w);
/* Load the reader's current section over the device (reset first), check
 * it against the device (device type, queue limits, offered features,
 * rings in RAM), and start the back end if the driver had set DRIVER_OK.
 * Guest RAM must already be loaded. 0 or -errno with err set. */
int virtio_mmio_load(struct virtio_dev *vd, uint32_t instance,
		     struct state_reader *r, struct error *err);

#endif
