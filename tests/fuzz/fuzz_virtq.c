/*
 * libFuzzer target: the split virtqueue parser (src/virtio/virtq.c).
 *
 * The input is a small header followed by the contents of guest RAM, so the
 * descriptor table, the rings, indirect tables and the buffers are all
 * fuzzer-controlled. The harness plays the device: it pops every chain,
 * reads its out-buffers, fills its in-buffers, pushes it back and asks for
 * notifications, then lets the "driver" make more buffers available and
 * does it again. ASan/UBSan catch memory errors; the checks below catch
 * broken invariants of virtq.h.
 *
 * Input layout (little-endian):
 *   u8  size_log2     queue size = 1 << (size_log2 % 9)   (1..256)
 *   u8  flags         bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 ring
 *                     addresses as given (else aligned down), bit 3
 *                     notifications disabled, bits 4-7 == 1: release
 *                     pages (rarely: madvise is slow)
 *   u16 desc, avail, used   ring offsets into RAM
 *   u16 release       RAM pages given back (read as the zero frame): page
 *                     bits 0-3, and page bits 4-7 if bit 8 is set
 *   u16 more          phase 2: the driver's avail idx moves by this much
 *   ...               RAM contents from RAM_BASE on (the rest is zero)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "util/log.h"
#include "virtio/virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_BASE 0x10000ull
#define RAM_SIZE 0x10000ull /* 16 pages */
#define HDR_SIZE 12

static struct gmem *gm;
static struct virtq_req req;
static uint8_t ram_image[RAM_SIZE];
static uint8_t scratch[4096];
static volatile uint8_t sink;

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static void check_req(const struct virtq_req *r)
{
	uint64_t sum = 0;

	CHECK(r->n_out + r->n_in <= VIRTQ_MAX_IOV);
	CHECK(r->out_len + r->in_len <= VIRTQ_MAX_CHAIN_BYTES);
	for (unsigned i = 0; i < r->n_out + r->n_in; i++) {
		CHECK(r->iov[i].iov_len > 0);
		sum += r->iov[i].iov_len;
	}
	CHECK(sum == r->out_len + r->in_len);
}

/* Play the device: pop, consume, complete, until empty or broken. */
static void drain(struct virtq *vq, unsigned budget)
{
	while (budget--) {
		int r = virtq_pop(vq, &req);

		if (r <= 0) {
			/* A rejected chain leaves the queue where it was. */
			if (r < 0)
				CHECK(virtq_pop(vq, &req) == r);
			return;
		}
		check_req(&req);
		for (uint64_t off = 0; off < req.out_len;) {
			size_t n = virtq_req_read(&req, off, scratch,
						  sizeof(scratch));

			CHECK(n > 0);
			sink ^= scratch[0] ^ scratch[n - 1];
			off += n;
		}
		memset(scratch, 0xa5, sizeof(scratch));
		for (uint64_t off = 0; off < req.in_len;) {
			size_t n = virtq_req_write(&req, off, scratch,
						   sizeof(scratch));

			CHECK(n > 0);
			off += n;
		}
		virtq_push(vq, &req, (uint32_t)req.in_len);
		sink ^= (uint8_t)virtq_need_notify(vq);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t qsize, off[3], release, more, idx;
	uint8_t flags;
	size_t n;
	struct virtq *vq;

	if (!gm) {
		log_configure("error", NULL, 0);
		gm = gmem_create(RAM_BASE, RAM_SIZE, NULL);
		CHECK(gm);
	}
	if (size < HDR_SIZE)
		return 0;
	qsize = (uint16_t)(1u << (data[0] % 9));
	flags = data[1];
	for (int i = 0; i < 3; i++) {
		off[i] = get16(data + 2 + 2 * i);
		if (!(flags & 4))
			off[i] &= (uint16_t)~15u;
	}
	release = get16(data + 8);
	more = get16(data + 10);

	n = size - HDR_SIZE < RAM_SIZE ? size - HDR_SIZE : RAM_SIZE;
	memcpy(ram_image, data + HDR_SIZE, n);
	memset(ram_image + n, 0, RAM_SIZE - n);
	CHECK(gmem_write(gm, RAM_BASE, ram_image, RAM_SIZE) == 0);
	/* At most two pages, rarely: each release is an madvise() and a TLB
	 * shoot-down, which would dominate the run time. */
	if ((flags & 0xf0) == 0x10) {
		CHECK(gmem_release_page(gm, RAM_BASE + (release & 15) *
							       4096ull) == 0);
		if (release & 0x100)
			CHECK(gmem_release_page(
				      gm, RAM_BASE + ((release >> 4) & 15) *
							     4096ull) == 0);
	}

	vq = virtq_create(gm, qsize, RAM_BASE + off[0], RAM_BASE + off[1],
			  RAM_BASE + off[2], flags & 1, flags & 2);
	if (!vq)
		return 0;
	if (flags & 8)
		virtq_set_notify(vq, false);
	sink ^= (uint8_t)virtq_has_work(vq);
	drain(vq, 2u * qsize + 8);

	/* Phase 2: the driver makes `more` entries available (possibly far
	 * too many) and we go round again, past the used ring's wrap. */
	if (gmem_read(gm, RAM_BASE + off[1] + 2, &idx, 2) == 0) {
		idx = (uint16_t)(idx + more);
		CHECK(gmem_write(gm, RAM_BASE + off[1] + 2, &idx, 2) == 0);
	}
	virtq_set_notify(vq, true);
	drain(vq, 2u * qsize + 8);
	virtq_destroy(vq);
	return 0;
}
