/*
 * virtio-console back end (virtio 1.2, section 5.3): one port (hvc0 in a
 * Linux guest), no VIRTIO_CONSOLE_F_MULTIPORT. receiveq (queue 0) carries
 * host input to the guest, transmitq (queue 1) guest output to the host.
 * Offers VIRTIO_CONSOLE_F_SIZE when a size is configured and
 * VIRTIO_CONSOLE_F_EMERG_WRITE.
 *
 * Host side: like the UART, the device is a byte pipe the board connects to
 * a console backend (src/machine/console.h):
 *   - guest output goes to host->output(), called on the device's worker
 *     thread (or a vCPU thread for emergency writes): it must not block
 *     (console_write() fits);
 *   - virtio_console_input() takes host input into a small buffer
 *     (VIRTIO_CONSOLE_IN_BUF bytes) and returns how many bytes it accepted;
 *     after a short accept, host->input_ready() is called once there is
 *     room again (console_kick_input() fits).
 *
 * Ownership: the board creates the device, passes virtio_console_dev_ops(c)
 * and c to virtio_mmio_create(), destroys the transport first and the
 * device after it. host (and its opaque) must outlive the device or be
 * replaced with virtio_console_attach() first.
 *
 * Threads: one worker thread between start() and reset(). input(),
 * attach(), set_size() and get_stats() may be called from any thread.
 */
#ifndef SV_VIRTIO_CONSOLE_H
#define SV_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

/* Feature bits (5.3.3). */
#define VIRTIO_CONSOLE_F_SIZE	     0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

#define VIRTIO_CONSOLE_IN_BUF	   4096
#define VIRTIO_CONSOLE_QUEUE_SIZE  64
#define VIRTIO_CONSOLE_CONFIG_SIZE 12

struct virtio_console;

struct virtio_console_host {
	/* Guest output; must not block. May be NULL (output dropped). */
	void (*output)(void *opaque, const uint8_t *buf, size_t len);
	/* Input room again after a short virtio_console_input(). May be
	 * NULL. Called on the worker thread, without device locks held. */
	void (*input_ready)(void *opaque);
	void *opaque;
};

struct virtio_console_opts {
	/* Terminal size shown to the guest (both non-zero: F_SIZE). */
	uint16_t cols, rows;
};

struct virtio_console_stats {
	uint64_t rx_bytes;    /* host -> guest, delivered */
	uint64_t tx_bytes;    /* guest -> host */
	uint64_t tx_requests; /* transmitq buffers completed */
};

/* Create the device (no thread yet). host and opts may be NULL. */
struct virtio_console *virtio_console_create(
	const struct virtio_console_host *host,
	const struct virtio_console_opts *opts, struct error *err);
/* Free the device; the transport must be destroyed (reset) first. */
void virtio_console_destroy(struct virtio_console *c);
/* Back-end ops for virtio_mmio_create() (opaque = c). */
const struct virtio_dev_ops *virtio_console_dev_ops(struct virtio_console *c);
/* Replace the host side (e.g. once the console backend is open). */
void virtio_console_attach(struct virtio_console *c,
			   const struct virtio_console_host *host);
/* Host input: returns the number of bytes accepted (0..len). */
size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf,
			    size_t len);
/* Change the size shown to the guest (only if created with F_SIZE):
 * configuration change interrupt. */
void virtio_console_set_size(struct virtio_console *c, uint16_t cols,
			     uint16_t rows);
/* Counters (any thread). */
void virtio_console_get_stats(struct virtio_console *c,
			      struct virtio_console_stats *st);

/* Snapshot/migration state: plain data, no host pointers. */
#define VIRTIO_CONSOLE_STATE_VERSION 1
struct virtio_console_state {
	uint32_t version; /* VIRTIO_CONSOLE_STATE_VERSION */
	uint16_t cols, rows;
	uint32_t in_count; /* host input not yet delivered */
	uint8_t in_buf[VIRTIO_CONSOLE_IN_BUF];
};

/* Save the state (any time; pending input is copied consistently). */
void virtio_console_save(struct virtio_console *c,
			 struct virtio_console_state *st);
/* Load a saved state (before the device is started). -EINVAL for another
 * version or a bad count. */
int virtio_console_load(struct virtio_console *c,
			const struct virtio_console_state *st);

/* Request handlers of the worker (exposed for unit tests and fuzzing).
 * tx: hands the out-buffers to host->output; returns 0, or -EINVAL if the
 * request has a device-writable buffer (5.3.6.1). rx: moves buffered input
 * into the in-buffers and returns the bytes written, or -EINVAL if the
 * request has a device-readable buffer or none writable. */
int virtio_console_handle_tx(struct virtio_console *c,
			     const struct virtq_req *req);
int virtio_console_handle_rx(struct virtio_console *c,
			     const struct virtq_req *req);

#endif
