/*
 * libFuzzer target: the qcow2 format driver (src/block/qcow2*.c) and its
 * checker on a hostile image. The input is the image file itself; it is
 * opened (writable, else read-only), read at its start, middle and end,
 * written, zeroed, discarded, flushed, closed, then checked with
 * image_check(). ASan/UBSan catch memory errors; the checks catch broken
 * promises of block.h (an I/O error is a negative errno, never a crash).
 * Seeds: tests/fuzz/corpus/qcow2/ (small qemu-img images).
 *
 * Build and run: tools/fuzz qcow2 (or see tests/fuzz/meson.build).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "block/image.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

#define BUF (256u << 10)

static char path[64];
static uint8_t *buf;

static void init(void)
{
	/* tmpfs: the driver's fdatasync calls cost nothing there */
	snprintf(path, sizeof(path), "%s/fuzz-qcow2-%d.img",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
		 (int)getpid());
	buf = malloc(BUF);
	CHECK(buf);
	log_set_file(fopen("/dev/null", "w"));
}

static void io(struct blockdev *bd, bool write, uint64_t off, size_t len)
{
	uint64_t size = blockdev_size(bd);
	struct iovec v[2];
	int r;

	if (off >= size)
		return;
	if (len > size - off)
		len = (size_t)(size - off);
	if (len > BUF)
		len = BUF;
	v[0] = (struct iovec){ buf, len / 2 };
	v[1] = (struct iovec){ buf + len / 2, len - len / 2 };
	if (write)
		memset(buf, 0x5a, len);
	r = write ? blockdev_writev(bd, v, 2, off)
		  : blockdev_readv(bd, v, 2, off);
	CHECK(r <= 0 && r > -4096);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err = { 0 };
	struct image_check res;
	struct blockdev *bd;
	uint64_t dsize;
	int fd;

	if (!buf)
		init();
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);

	bd = blockdev_open(path, "qcow2", false, &err);
	if (!bd)
		bd = blockdev_open(path, "qcow2", true, &err);
	if (bd) {
		dsize = blockdev_size(bd);
		io(bd, false, 0, BUF);
		io(bd, false, dsize / 2 & ~511ull, 8192);
		io(bd, false, dsize > 4096 ? dsize - 4096 : 0, 4096);
		if (!blockdev_readonly(bd)) {
			io(bd, true, 512, 4096);
			io(bd, true, dsize / 3 & ~511ull, 70000);
			CHECK(blockdev_discard(bd, 0,
					       dsize < 131072 ? dsize
							      : 131072) <= 0);
			CHECK(blockdev_write_zeroes(
				      bd, dsize / 2 & ~511ull,
				      dsize / 2 < 200000 ? dsize / 2 : 200000,
				      true) <= 0);
			io(bd, false, 0, BUF);
			CHECK(blockdev_flush(bd) <= 0);
		}
		blockdev_close(bd);
	} else {
		CHECK(err.code > 0 && err.msg[0]);
	}
	if (image_check(path, NULL, &res, &err) < 0)
		CHECK(err.code > 0 && err.msg[0]);
	unlink(path);
	return 0;
}
