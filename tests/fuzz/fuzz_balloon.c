/*
 * libFuzzer target: the virtio-balloon request parsers (src/virtio/
 * balloon.c): inflate/deflate PFN arrays, statistics buffers and free page
 * reporting buffers, called the way the worker thread calls them.
 *
 * The input is one request after virtq_pop(): out-buffers in host memory
 * (contents from the input), in-buffers in guest RAM (a 1 MiB gmem,
 * addresses from the input, mapped with gmem_dma_map like virtq.c does;
 * addr[] may be corrupted on purpose).
 *
 * Input layout:
 *   u8 kind           % 4: 0 inflate, 1 deflate, 2 stats, 3 report
 *   u8 n              number of buffers (% 16)
 *   n x { u8 flags    bit 0: writable, bit 1: corrupt addr[]
 *         u16 len     % 16384, little-endian
 *         readable: len bytes of contents
 *         writable: u32 gpa offset from RAM base - 64 KiB }
 *
 * Invariants: only -EINVAL is ever returned; released pages never exceed
 * the pages the buffers name; frames_private never exceeds the RAM frames.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "util/log.h"
#include "virtio/balloon.h"
#include "virtio/virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)
#define MAX_BUF	 16384
#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct gmem *gm;
static struct virtio_balloon *bal;
static struct virtq_req req;
static uint8_t bufs[16][MAX_BUF];

static void init(void)
{
	log_configure("error,virtio-balloon=error", NULL, 0);
	gm = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	if (!gm)
		abort();
	bal = virtio_balloon_create(gm, NULL, NULL);
	if (!bal)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem_stats st;
	unsigned kind, n, i;
	uint64_t pages = 0;
	int ret;

	if (!bal)
		init();
	if (size < 2)
		return 0;
	kind = data[0] % 4;
	n = data[1] % 16;
	data += 2;
	size -= 2;
	memset(&req, 0, sizeof(req));
	for (i = 0; i < n && size >= 3; i++) {
		bool wr = data[0] & 1, corrupt = data[0] & 2;
		size_t len = (data[1] | (size_t)data[2] << 8) % MAX_BUF;
		unsigned slot = req.n_out + req.n_in;

		data += 3;
		size -= 3;
		if (!wr) {
			if (req.n_in)
				break; /* virtq_pop: out before in */
			if (len > size)
				len = size;
			memcpy(bufs[i], data, len);
			data += len;
			size -= len;
			req.iov[slot].iov_base = bufs[i];
			req.iov[slot].iov_len = len;
			req.addr[slot] = 0;
			req.n_out++;
			req.out_len += len;
		} else {
			uint64_t gpa;
			uint32_t off;
			int k, m;

			if (size < 4)
				break;
			memcpy(&off, data, 4);
			data += 4;
			size -= 4;
			gpa = RAM_BASE - 65536 + off % (RAM_SIZE + 131072);
			if (!len)
				continue;
			m = gmem_dma_map(gm, gpa, len, GMEM_WRITE,
					 &req.iov[slot],
					 (int)(VIRTQ_MAX_IOV - slot));
			if (m <= 0)
				continue; /* virtq_pop would refuse it */
			for (k = 0; k < m; k++) {
				req.addr[slot + (unsigned)k] =
					corrupt ? gpa ^ 0x1000 : gpa;
				gpa += req.iov[slot + (unsigned)k].iov_len;
			}
			req.n_in += (unsigned)m;
			req.in_len += len;
			pages += len / GUEST_PAGE_SIZE + 1;
		}
	}
	switch (kind) {
	case 0:
	case 1:
		ret = virtio_balloon_handle_pfns(bal, &req, kind == 0);
		if (ret >= 0)
			CHECK((uint64_t)ret <= req.out_len / 4);
		break;
	case 2: ret = virtio_balloon_handle_stats(bal, &req); break;
	default:
		ret = virtio_balloon_handle_report(bal, &req);
		if (ret >= 0)
			CHECK((uint64_t)ret <= pages);
		break;
	}
	CHECK(ret >= 0 || ret == -EINVAL);
	gmem_get_stats(gm, &st);
	CHECK(st.frames_private <= st.frames_total);
	return 0;
}
