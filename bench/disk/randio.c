/*
 * Guest side of bench/disk/run --test rand4k: 4 KiB random writes, then
 * 4 KiB random reads, O_DIRECT, one request at a time (queue depth 1), on
 * the first SPAN MiB of a block device, each phase for SECS seconds of the
 * guest's monotonic clock. Prints "randwrite: IOPS" and "randread: IOPS".
 * Built static for riscv64 by the bench script (riscv64-linux-gnu-gcc) and
 * handed to the guest on a second disk.
 *
 *   randio /dev/vda SPAN_MIB SECS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double phase(int fd, void *buf, uint64_t blocks, double secs, int write)
{
	double t0 = now(), t;
	uint64_t n = 0;

	do {
		off_t off = (off_t)(next() % blocks) * 4096;
		ssize_t r = write ? pwrite(fd, buf, 4096, off)
				  : pread(fd, buf, 4096, off);

		if (r != 4096) {
			perror(write ? "pwrite" : "pread");
			exit(1);
		}
		n++;
	} while ((t = now()) - t0 < secs);
	return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
	void *buf;
	int fd;
	uint64_t blocks;
	double secs;

	if (argc != 4)
		return 2;
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign(&buf, 4096, 4096))
		return perror("open"), 1;
	memset(buf, 0xa5, 4096);
	blocks = (uint64_t)atoi(argv[2]) * 256;
	secs = atof(argv[3]);
	printf("randwrite: %.1f\n", phase(fd, buf, blocks, secs, 1));
	printf("randread: %.1f\n", phase(fd, buf, blocks, secs, 0));
	fflush(stdout);
	return 0;
}
