/*
 * libFuzzer target: the virtio-blk request parser and executor
 * (src/virtio/blk.c, virtio_blk_handle_sync) on a small raw image.
 *
 * The input describes one descriptor chain as it looks after virtq_pop():
 * a list of buffers, each device-readable (contents from the input) or
 * device-writable (filled with 0xa5). ASan/UBSan catch memory errors; the
 * checks catch broken promises of blk.h (status byte written, used length
 * within the writable bytes).
 *
 * Input layout:
 *   u8 n              number of buffers (n % 16)
 *   n x { u8 flags (bit 0: writable), u16 len (% 8192, little-endian),
 *         readable: len bytes of contents }
 *
 * Build (ASan + UBSan):
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc -Ibuild \
 *     tests/fuzz/fuzz_blk.c src/virtio/blk.c src/block/[a-z]*.c \
 *     src/util/log.c src/util/error.c -o fuzz_blk
 * (The real virtq/virtio functions are stubbed below: only the parser is
 * exercised.)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BUF 8192
#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct virtio_blk *blk;
static struct virtq_req req;
static uint8_t bufs[16][MAX_BUF];

/* Stubs: handle_sync never reaches the transport. */
struct virtq *virtio_queue(struct virtio_dev *vd, unsigned q)
{
	abort();
}
int virtq_pop(struct virtq *vq, struct virtq_req *r)
{
	abort();
}
void virtq_push(struct virtq *vq, const struct virtq_req *r, uint32_t w)
{
	abort();
}
void virtio_notify(struct virtio_dev *vd, unsigned q)
{
	abort();
}
void virtio_device_error(struct virtio_dev *vd, const char *what)
{
	abort();
}
bool virtio_broken(const struct virtio_dev *vd)
{
	abort();
}

static void init(void)
{
	struct virtio_blk_config cfg = { 0 };
	struct error err;
	char path[] = "/tmp/sv-fuzz-blk-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, 64 << 10) < 0)
		abort();
	close(fd);
	log_configure("error,block=error,virtio-blk=error", NULL, 0);
	snprintf(cfg.path, sizeof(cfg.path), "%s", path);
	strcpy(cfg.serial, "fuzz");
	blk = virtio_blk_create(&cfg, &err);
	unlink(path); /* the open descriptor keeps it */
	if (!blk)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned n;
	uint64_t in_len = 0;
	uint32_t written = 0;
	int ret;

	if (!blk)
		init();
	if (size < 1)
		return 0;
	n = data[0] % 16;
	data++;
	size--;
	memset(&req, 0, sizeof(req));
	for (unsigned i = 0; i < n && size >= 3; i++) {
		bool wr = data[0] & 1;
		size_t len = (data[1] | (size_t)data[2] << 8) % MAX_BUF;
		struct iovec *v = &req.iov[req.n_out + req.n_in];

		data += 3;
		size -= 3;
		if (!wr && req.n_in)
			break; /* virtq_pop guarantees out before in */
		if (!wr) {
			if (len > size)
				len = size;
			memcpy(bufs[i], data, len);
			data += len;
			size -= len;
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
	in_len = req.in_len;
	ret = virtio_blk_handle_sync(blk, &req, &written);
	if (ret >= 0) {
		CHECK(ret <= VIRTIO_BLK_S_UNSUPP);
		CHECK(in_len >= 1 && written >= 1 && written <= in_len);
	} else {
		/* only a chain without a writable byte is refused */
		CHECK(in_len == 0);
	}
	return 0;
}
