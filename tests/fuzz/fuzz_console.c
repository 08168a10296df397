/*
 * libFuzzer target: the virtio-console request handlers (src/virtio/
 * console.c) and its input buffer: host input, transmitq and receiveq
 * requests as the worker thread sees them after virtq_pop().
 *
 * Input layout, repeated until the input ends:
 *   u8 op             % 3: 0 host input, 1 tx request, 2 rx request
 *   op 0: u8 len, len bytes of host input
 *   op 1/2: u8 n (% 8) buffers of { u8 flags (bit 0: writable),
 *           u16 len (% 4096), readable: len bytes of contents }
 *
 * Invariants: what the host sink receives equals the readable bytes of a
 * valid tx request; rx writes at most the writable bytes and exactly the
 * bytes that were buffered (in order); errors only for wrong directions.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "virtio/console.h"
#include "virtio/virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BUF 4096
#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct virtio_console *con;
static struct virtq_req req;
static uint8_t bufs[8][MAX_BUF];
static uint64_t sink_bytes;
/* Model of the device's input buffer: what rx must deliver next. */
static uint8_t model[VIRTIO_CONSOLE_IN_BUF];
static size_t model_len;

static void sink(void *opaque, const uint8_t *buf, size_t len)
{
	sink_bytes += len;
}

static void init(void)
{
	struct virtio_console_host h = { .output = sink };

	log_configure("error", NULL, 0);
	con = virtio_console_create(&h, NULL, NULL);
	if (!con)
		abort();
}

/* Build a request from the input; returns false when the input ran out. */
static bool build(const uint8_t **data, size_t *size)
{
	unsigned n, i;

	memset(&req, 0, sizeof(req));
	if (*size < 1)
		return false;
	n = (*data)[0] % 8;
	(*data)++;
	(*size)--;
	for (i = 0; i < n && *size >= 3; i++) {
		bool wr = (*data)[0] & 1;
		size_t len = ((*data)[1] | (size_t)(*data)[2] << 8) % MAX_BUF;
		struct iovec *v = &req.iov[req.n_out + req.n_in];

		*data += 3;
		*size -= 3;
		if (!wr && req.n_in)
			break;
		if (!wr) {
			if (len > *size)
				len = *size;
			memcpy(bufs[i], *data, len);
			*data += len;
			*size -= len;
			req.n_out++;
			req.out_len += len;
		} else {
			memset(bufs[i], 0xa5, len);
			req.n_in++;
			req.in_len += len;
		}
		v->iov_base = bufs[i];
		v->iov_len = len;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!con)
		init();
	while (size >= 1) {
		unsigned op = data[0] % 3;
		uint64_t before = sink_bytes;
		int ret;

		data++;
		size--;
		if (op == 0) {
			size_t len, got;

			if (size < 1)
				break;
			len = data[0];
			data++;
			size--;
			if (len > size)
				len = size;
			got = virtio_console_input(con, data, len);
			CHECK(got <= len);
			CHECK(got == len ||
			      model_len + got == VIRTIO_CONSOLE_IN_BUF);
			memcpy(model + model_len, data, got);
			model_len += got;
			data += len;
			size -= len;
			continue;
		}
		if (!build(&data, &size))
			break;
		if (op == 1) {
			ret = virtio_console_handle_tx(con, &req);
			if (ret == 0)
				CHECK(sink_bytes - before == req.out_len);
			else
				CHECK(ret == -EINVAL && req.n_in);
		} else {
			size_t off = 0;
			unsigned i;

			ret = virtio_console_handle_rx(con, &req);
			if (ret < 0) {
				CHECK(ret == -EINVAL);
				CHECK(req.n_out || !req.n_in);
				continue;
			}
			CHECK((uint64_t)ret <= req.in_len);
			CHECK((size_t)ret == (model_len < req.in_len
						      ? model_len
						      : req.in_len));
			for (i = 0; i < req.n_in && off < (size_t)ret; i++) {
				size_t l = req.iov[i].iov_len;

				if (l > (size_t)ret - off)
					l = (size_t)ret - off;
				CHECK(!memcmp(req.iov[i].iov_base, model + off,
					      l));
				off += l;
			}
			memmove(model, model + ret, model_len - (size_t)ret);
			model_len -= (size_t)ret;
		}
	}
	return 0;
}
