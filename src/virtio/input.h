/*
 * virtio-input back end (virtio 1.2, section 5.8) that is a power button:
 * one key, KEY_POWER, which the host presses (docs/shutdown.md). The guest
 * sees an input device named "Softvisor Power Button"; a Debian guest with
 * systemd-logind powers off on it, our test guest's /init does too.
 *
 * Queues (5.8.2): eventq (0) holds device-writable buffers the device fills
 * with one struct virtio_input_event each; statusq (1) carries the driver's
 * output events (LEDs, ...), which a power button has none of: they are
 * completed unread.
 *
 * Pending events: a press is four events (KEY_POWER 1, SYN_REPORT,
 * KEY_POWER 0, SYN_REPORT). Events that find no guest buffer (no driver
 * yet, a driver that does not refill) wait in a queue of
 * VIRTIO_INPUT_PENDING events and are delivered in order once buffers come.
 * When it is full the oldest whole press not yet being delivered is
 * dropped. Pending events survive a driver reset (the driver resets the
 * device when it probes); they go with the device, i.e. on a machine reboot.
 *
 * Ownership: the board creates the device, passes virtio_input_dev_ops(in)
 * and in to virtio_mmio_create(), destroys the transport first and the
 * device after it.
 *
 * Threads: one worker thread between start() and reset() fills the eventq
 * and drains the statusq. virtio_input_power_press(), get_stats() and
 * save() may be called from any thread; load() before the device starts.
 */
#ifndef SV_VIRTIO_INPUT_H
#define SV_VIRTIO_INPUT_H

#include <stdint.h>

#include "util/error.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

#define VIRTIO_INPUT_QUEUE_SIZE 64
/* struct virtio_input_config (5.8.4): select, subsel, size, reserved[5],
 * then a 128-byte union. */
#define VIRTIO_INPUT_CONFIG_SIZE 136
#define VIRTIO_INPUT_EVENT_SIZE	 8 /* struct virtio_input_event */
/* Events waiting for guest buffers: eight presses. */
#define VIRTIO_INPUT_PENDING 32

/* Configuration selectors (5.8.4: enum virtio_input_config_select). */
enum virtio_input_cfg_select {
	VIRTIO_INPUT_CFG_UNSET = 0x00,
	VIRTIO_INPUT_CFG_ID_NAME = 0x01,
	VIRTIO_INPUT_CFG_ID_SERIAL = 0x02,
	VIRTIO_INPUT_CFG_ID_DEVIDS = 0x03,
	VIRTIO_INPUT_CFG_PROP_BITS = 0x10,
	VIRTIO_INPUT_CFG_EV_BITS = 0x11,
	VIRTIO_INPUT_CFG_ABS_INFO = 0x12,
};

/* Linux input event codes (the evdev ABI 5.8 refers to). */
#define VIRTIO_INPUT_EV_SYN	 0x00
#define VIRTIO_INPUT_EV_KEY	 0x01
#define VIRTIO_INPUT_SYN_REPORT	 0
#define VIRTIO_INPUT_KEY_POWER	 116
#define VIRTIO_INPUT_BUS_VIRTUAL 0x06

/* What the guest sees. */
#define VIRTIO_INPUT_POWER_NAME	   "Softvisor Power Button"
#define VIRTIO_INPUT_POWER_SERIAL  "power0"
#define VIRTIO_INPUT_POWER_VENDOR  0x5356 /* "SV" */
#define VIRTIO_INPUT_POWER_PRODUCT 0x0001
#define VIRTIO_INPUT_POWER_VERSION 0x0001

/* One event in host byte order (le16 type, le16 code, le32 value on the
 * wire). */
struct virtio_input_event {
	uint16_t type;
	uint16_t code;
	uint32_t value;
};

struct virtio_input;

struct virtio_input_stats {
	uint64_t presses;	  /* virtio_input_power_press() calls */
	uint64_t presses_dropped; /* dropped because the queue was full */
	uint64_t events;	  /* events delivered into guest buffers */
	uint64_t status_events;	  /* statusq buffers completed */
	uint32_t pending;	  /* events waiting for a buffer now */
};

/* Create a power button (no thread yet). NULL with err set on failure. */
struct virtio_input *virtio_input_create(struct error *err);
/* Free the device; the transport must be destroyed (reset) first. */
void virtio_input_destroy(struct virtio_input *in);
/* Back-end ops for virtio_mmio_create() (opaque = in). */
const struct virtio_dev_ops *virtio_input_dev_ops(struct virtio_input *in);
/* Press and release the power button (any thread): queues KEY_POWER 1,
 * SYN_REPORT, KEY_POWER 0, SYN_REPORT. Returns 0; 1 if an older press
 * had to be dropped to make room. */
int virtio_input_power_press(struct virtio_input *in);
/* Counters (any thread). */
void virtio_input_get_stats(struct virtio_input *in,
			    struct virtio_input_stats *st);

/* Snapshot/migration state: plain data, no host pointers. */
#define VIRTIO_INPUT_STATE_VERSION 1
struct virtio_input_state {
	uint32_t version; /* VIRTIO_INPUT_STATE_VERSION */
	uint8_t select, subsel;
	uint32_t n_pending;
	struct virtio_input_event pending[VIRTIO_INPUT_PENDING];
	/* 1: pending[i] starts a group (a press); 0 on pending[0]: that
	 * group is partly delivered already. */
	uint8_t group_start[VIRTIO_INPUT_PENDING];
};

/* Save the state (any thread). */
void virtio_input_save(struct virtio_input *in, struct virtio_input_state *st);
/* Load a saved state (before the device starts): -EINVAL for another
 * version or counts out of range. */
int virtio_input_load(struct virtio_input *in,
		      const struct virtio_input_state *st);

/* Fill the config image (all VIRTIO_INPUT_CONFIG_SIZE bytes) for a
 * select/subsel pair (exposed for unit tests). */
void virtio_input_config_image(uint8_t select, uint8_t subsel,
			       uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE]);

#endif
