/* Unit tests for src/mem: p2m and zero frame, first-write allocation (also
 * racing), release, MMIO bus, bulk copies, DMA mapping and the dirty log. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "mem/gmem.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (4ULL << 20)
#define PG	 GUEST_PAGE_SIZE

static struct gmem *new_gmem(void)
{
	struct error err = { 0 };
	struct gmem *gm = gmem_create(RAM_BASE, RAM_SIZE, &err);

	assert_non_null(gm);
	return gm;
}

static uint64_t n_private(const struct gmem *gm)
{
	struct gmem_stats st;

	gmem_get_stats(gm, &st);
	return st.frames_private;
}

/* ---- lifetime ---------------------------------------------------------- */

static void test_create_errors(void **state)
{
	struct error err = { 0 };
	struct gmem *gm;

	assert_null(gmem_create(RAM_BASE, 0, &err));
	assert_int_equal(err.code, EINVAL);
	assert_null(gmem_create(RAM_BASE, 4097, &err));
	assert_null(gmem_create(RAM_BASE + 1, PG, &err));
	assert_non_null(strstr(err.msg, "multiples of 4 KiB"));
	assert_null(gmem_create(UINT64_MAX - PG + 1, 2 * PG, &err));
	assert_non_null(strstr(err.msg, "does not fit"));
	assert_null(gmem_create(0, 0, NULL));

	/* RAM reaching the very top of the address space is fine. */
	gm = gmem_create(UINT64_MAX - 4 * PG + 1, 4 * PG, &err);
	assert_non_null(gm);
	assert_true(gmem_is_ram(gm, UINT64_MAX, 1));
	assert_non_null(gmem_page(gm, UINT64_MAX, GMEM_WRITE, NULL));
	assert_false(gmem_is_ram(gm, UINT64_MAX, 2));
	gmem_destroy(gm);
	gmem_destroy(NULL);
}

static void test_is_ram(void **state)
{
	struct gmem *gm = new_gmem();

	assert_int_equal(gmem_ram_base(gm), RAM_BASE);
	assert_int_equal(gmem_ram_size(gm), RAM_SIZE);
	assert_true(gmem_is_ram(gm, RAM_BASE, RAM_SIZE));
	assert_true(gmem_is_ram(gm, RAM_BASE + RAM_SIZE - 1, 1));
	assert_false(gmem_is_ram(gm, RAM_BASE + RAM_SIZE - 1, 2));
	assert_false(gmem_is_ram(gm, RAM_BASE - 1, 1));
	assert_false(gmem_is_ram(gm, RAM_BASE, RAM_SIZE + 1));
	assert_false(gmem_is_ram(gm, RAM_BASE + 8, UINT64_MAX));
	assert_false(gmem_is_ram(gm, UINT64_MAX, 2));
	assert_true(gmem_is_ram(gm, RAM_BASE, 0));
	assert_false(gmem_is_ram(gm, 0, 0));
	gmem_destroy(gm);
}

/* ---- zero frame and first write ---------------------------------------- */

static void test_zero_reads(void **state)
{
	struct gmem *gm = new_gmem();
	uint8_t buf[3 * PG], *p0, *p1;
	unsigned flags = 0;
	uint64_t v = 1;
	size_t i;

	p0 = gmem_page(gm, RAM_BASE + 5, GMEM_READ, &flags);
	assert_non_null(p0);
	assert_int_equal((uintptr_t)p0 & (PG - 1), 0);
	assert_true(flags & GMEM_PAGE_READONLY);
	assert_true(flags & GMEM_PAGE_ZERO);
	/* One shared zero frame for every never-written guest frame. */
	p1 = gmem_page(gm, RAM_BASE + RAM_SIZE - 1, GMEM_READ, NULL);
	assert_ptr_equal(p0, p1);
	for (i = 0; i < PG; i++)
		assert_int_equal(p0[i], 0);

	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(gmem_read(gm, RAM_BASE + 100, buf, sizeof(buf)), 0);
	for (i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(gmem_bus_read(gm, RAM_BASE + 8, 8, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(n_private(gm), 0);

	assert_null(gmem_page(gm, RAM_BASE - 1, GMEM_READ, NULL));
	assert_null(gmem_page(gm, RAM_BASE + RAM_SIZE, GMEM_WRITE, NULL));
	assert_null(gmem_page(gm, 0, GMEM_READ, NULL));
	gmem_destroy(gm);
}

/* A bug that writes the zero frame must fault, not corrupt every guest. */
static void test_zero_frame_is_readonly(void **state)
{
	struct gmem *gm = new_gmem();
	volatile uint8_t *z = gmem_page(gm, RAM_BASE, GMEM_READ, NULL);
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Not cmocka's handler: it would longjmp back and let the
		 * child run the remaining tests. */
		signal(SIGSEGV, SIG_DFL);
		z[0] = 1;
		_exit(0); /* reached only if the zero frame was writable */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* Killed by SIGSEGV, or a sanitizer's SEGV report and exit(1). */
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(z[0], 0);
	gmem_destroy(gm);
}

static void test_first_write(void **state)
{
	struct gmem *gm = new_gmem();
	uint8_t *zero, *w, *r, *w2;
	unsigned flags = 7;

	zero = gmem_page(gm, RAM_BASE + PG, GMEM_READ, NULL);
	w = gmem_page(gm, RAM_BASE + PG + 17, GMEM_WRITE, &flags);
	assert_non_null(w);
	assert_ptr_not_equal(w, zero);
	assert_int_equal(flags, 0);
	assert_int_equal(n_private(gm), 1);
	/* A fresh private frame reads as zeros. */
	assert_int_equal(w[0], 0);
	assert_int_equal(w[PG - 1], 0);
	w[17] = 0x5a;

	r = gmem_page(gm, RAM_BASE + PG, GMEM_READ, &flags);
	assert_ptr_equal(r, w);
	assert_int_equal(flags, 0);
	assert_int_equal(r[17], 0x5a);
	/* Second write mapping: same frame, no new allocation. */
	assert_ptr_equal(gmem_page(gm, RAM_BASE + PG, GMEM_WRITE, NULL), w);
	assert_int_equal(n_private(gm), 1);
	/* Neighbours stay zero frames. */
	assert_ptr_equal(gmem_page(gm, RAM_BASE, GMEM_READ, NULL), zero);
	assert_ptr_equal(gmem_page(gm, RAM_BASE + 2 * PG, GMEM_READ, NULL),
			 zero);
	w2 = gmem_page(gm, RAM_BASE + 2 * PG, GMEM_WRITE, NULL);
	assert_ptr_not_equal(w2, w);
	assert_int_equal(n_private(gm), 2);
	gmem_destroy(gm);
}

/* ---- concurrent first writes ------------------------------------------- */

#define RACE_THREADS 4
#define RACE_PAGES   512

struct race {
	struct gmem *gm;
	pthread_barrier_t bar;
	uint8_t *ptr[RACE_THREADS][RACE_PAGES];
};

struct race_arg {
	struct race *r;
	unsigned id;
};

static void *race_thread(void *opaque)
{
	struct race_arg *a = opaque;
	struct race *r = a->r;
	unsigned i, k;

	for (k = 0; k < RACE_PAGES; k += 64) {
		/* Everyone starts each batch together to maximize collisions. */
		pthread_barrier_wait(&r->bar);
		for (i = k; i < k + 64; i++) {
			uint64_t gpa = RAM_BASE + (uint64_t)i * PG;
			uint8_t *p = gmem_page(r->gm, gpa, GMEM_WRITE, NULL);

			r->ptr[a->id][i] = p;
			p[a->id] = (uint8_t)(a->id + 1);
		}
	}
	return NULL;
}

static void test_concurrent_first_write(void **state)
{
	static struct race r;
	struct race_arg args[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	uint8_t buf[RACE_THREADS];
	unsigned t, i;

	memset(&r, 0, sizeof(r));
	r.gm = new_gmem();
	pthread_barrier_init(&r.bar, NULL, RACE_THREADS);
	for (t = 0; t < RACE_THREADS; t++) {
		args[t].r = &r;
		args[t].id = t;
		assert_int_equal(
			pthread_create(&th[t], NULL, race_thread, &args[t]), 0);
	}
	for (t = 0; t < RACE_THREADS; t++)
		pthread_join(th[t], NULL);

	for (i = 0; i < RACE_PAGES; i++) {
		for (t = 1; t < RACE_THREADS; t++)
			assert_ptr_equal(r.ptr[t][i], r.ptr[0][i]);
		/* No write was lost to a second allocation. */
		assert_int_equal(gmem_read(r.gm, RAM_BASE + (uint64_t)i * PG,
					   buf, sizeof(buf)),
				 0);
		for (t = 0; t < RACE_THREADS; t++)
			assert_int_equal(buf[t], t + 1);
	}
	assert_int_equal(n_private(r.gm), RACE_PAGES);
	pthread_barrier_destroy(&r.bar);
	gmem_destroy(r.gm);
}

/* ---- release ----------------------------------------------------------- */

/* Guest RAM is a memfd: what the guest wrote is at its offset in the file
 * (another process reads it there), and a release punches the frame out
 * of the file, not just out of this mapping. */
static void test_ram_memfd(void **state)
{
	struct gmem *gm = new_gmem();
	int fd = gmem_ram_fd(gm);
	uint8_t buf[PG], want[PG];
	struct stat sb;
	blkcnt_t blocks_full;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, RAM_SIZE);
	assert_int_equal(sb.st_blocks, 0); /* nothing committed yet */
	memset(want, 0x5a, sizeof(want));
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(gmem_write(gm,
					    RAM_BASE + (uint64_t)(i + 7) * PG,
					    want, PG),
				 0);
	assert_int_equal(pread(fd, buf, PG, 9 * PG), PG);
	assert_memory_equal(buf, want, PG);
	assert_int_equal(fstat(fd, &sb), 0);
	blocks_full = sb.st_blocks;
	assert_true(blocks_full >= (blkcnt_t)(16 * PG / 512));
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(gmem_release_page(
					 gm, RAM_BASE + (uint64_t)(i + 7) * PG),
				 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_true(blocks_full - sb.st_blocks >= (blkcnt_t)(16 * PG / 512));
	assert_int_equal(pread(fd, buf, PG, 9 * PG), PG);
	memset(want, 0, sizeof(want));
	assert_memory_equal(buf, want, PG);
	gmem_destroy(gm);
}

static blkcnt_t committed_pages(int fd)
{
	struct stat sb;

	assert_int_equal(fstat(fd, &sb), 0);
	return sb.st_blocks / (PG / 512);
}

/* The first write into a never-written group of 16 frames commits the
 * group's slots at once; the other frames stay on the zero frame, and a
 * frame released later is not committed again by a neighbour's first
 * write. */
static void test_first_write_populates_group(void **state)
{
	struct gmem *gm = new_gmem();
	int fd = gmem_ram_fd(gm);
	unsigned flags = 0;
	uint8_t b = 0xff;

	(void)state;
	assert_int_equal(committed_pages(fd), 0);
	assert_int_equal(gmem_write(gm, RAM_BASE + 3 * PG, "\x01", 1), 0);
	assert_int_equal(committed_pages(fd), 16);
	assert_int_equal(n_private(gm), 1);
	gmem_page(gm, RAM_BASE + 5 * PG, GMEM_READ, &flags);
	assert_true(flags & GMEM_PAGE_ZERO);
	assert_int_equal(gmem_read(gm, RAM_BASE + 5 * PG + 7, &b, 1), 0);
	assert_int_equal(b, 0);

	/* released, then a neighbour's first write: frame 3 stays out */
	assert_int_equal(gmem_release_page(gm, RAM_BASE + 3 * PG), 0);
	assert_int_equal(committed_pages(fd), 15);
	assert_int_equal(gmem_write(gm, RAM_BASE + 4 * PG, "\x02", 1), 0);
	assert_int_equal(committed_pages(fd), 15);
	assert_int_equal(n_private(gm), 1);

	/* the next group on its own first write */
	assert_int_equal(gmem_write(gm, RAM_BASE + 31 * PG, "\x03", 1), 0);
	assert_int_equal(committed_pages(fd), 31);

	/* under a memory limit only written frames are committed */
	gmem_set_limit(gm, RAM_SIZE / 2);
	assert_int_equal(gmem_write(gm, RAM_BASE + 40 * PG, "\x04", 1), 0);
	assert_int_equal(committed_pages(fd), 32);
	gmem_destroy(gm);
}

static long rss_pages(void)
{
	long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &size, &rss), 2);
	fclose(f);
	return rss;
}

static bool resident(const void *p)
{
	unsigned char vec = 0;

	assert_int_equal(mincore((void *)p, PG, &vec), 0);
	return vec & 1;
}

static void test_release(void **state)
{
	enum { N = 512 }; /* 2 MiB */
	struct gmem *gm = new_gmem();
	static uint8_t *slot[N];
	struct gmem_stats st;
	long rss_full, rss_after;
	uint8_t buf[16];
	unsigned i, n_resident = 0;

	for (i = 0; i < N; i++) {
		slot[i] = gmem_page(gm, RAM_BASE + (uint64_t)i * PG, GMEM_WRITE,
				    NULL);
		memset(slot[i], 0x11 + (i & 0x7f), PG);
	}
	assert_int_equal(n_private(gm), N);
	for (i = 0; i < N; i++)
		assert_true(resident(slot[i]));
	rss_full = rss_pages();

	for (i = 0; i < N; i++)
		assert_int_equal(
			gmem_release_page(gm, RAM_BASE + (uint64_t)i * PG + 9),
			0);
	for (i = 0; i < N; i++)
		n_resident += resident(slot[i]);
	assert_int_equal(n_resident, 0);
	rss_after = rss_pages();
	/* The host really got the memory back (allow some noise). */
	assert_true(rss_full - rss_after >= N / 2);

	gmem_get_stats(gm, &st);
	assert_int_equal(st.frames_private, 0);
	assert_int_equal(st.frames_released, N);
	assert_int_equal(st.frames_total, RAM_SIZE / PG);

	/* Reads see zeros again, through the shared zero frame. */
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(gmem_read(gm, RAM_BASE + 3 * PG, buf, sizeof(buf)), 0);
	for (i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	{
		unsigned flags = 0;

		gmem_page(gm, RAM_BASE + 3 * PG, GMEM_READ, &flags);
		assert_true(flags & GMEM_PAGE_ZERO);
	}
	/* Writing again gives a clean frame: only the new byte is set. */
	assert_int_equal(gmem_write(gm, RAM_BASE + 3 * PG + 1, "\x42", 1), 0);
	assert_int_equal(gmem_read(gm, RAM_BASE + 3 * PG, buf, 4), 0);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 0x42);
	assert_int_equal(buf[2], 0);
	assert_int_equal(n_private(gm), 1);

	/* Releasing a zero frame is fine; outside RAM is not. */
	assert_int_equal(gmem_release_page(gm, RAM_BASE + 100 * PG), 0);
	assert_int_equal(n_private(gm), 1);
	assert_int_equal(gmem_release_page(gm, RAM_BASE - PG), -EFAULT);
	assert_int_equal(gmem_release_page(gm, RAM_BASE + RAM_SIZE), -EFAULT);
	gmem_destroy(gm);
}

/* ---- MMIO bus ---------------------------------------------------------- */

struct fake_dev {
	uint64_t last_off, last_val;
	unsigned last_size, n_reads, n_writes;
	uint64_t read_val;
};

static uint64_t fake_read(void *opaque, uint64_t offset, unsigned size)
{
	struct fake_dev *d = opaque;

	d->last_off = offset;
	d->last_size = size;
	d->n_reads++;
	return d->read_val;
}

static void fake_write(void *opaque, uint64_t offset, uint64_t value,
		       unsigned size)
{
	struct fake_dev *d = opaque;

	d->last_off = offset;
	d->last_val = value;
	d->last_size = size;
	d->n_writes++;
}

static const struct mmio_ops fake_ops = {
	.read = fake_read,
	.write = fake_write,
};

static void test_bus_dispatch(void **state)
{
	struct gmem *gm = new_gmem();
	struct fake_dev uart = { 0 }, plic = { 0 };
	struct error err = { 0 };
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	uint64_t v;
	unsigned i;

	assert_int_equal(gmem_map_mmio(gm, 0x10000000, 0x1000, &fake_ops, &uart,
				       "uart", &err),
			 0);
	assert_int_equal(gmem_map_mmio(gm, 0x0c000000, 0x600000, &fake_ops,
				       &plic, "plic", &err),
			 0);

	uart.read_val = 0x1122334455667788ULL;
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned s = sizes[i];
		uint64_t mask = s == 8 ? ~0ULL : (1ULL << (8 * s)) - 1;

		/* Reads are zero-extended even if the device is sloppy. */
		assert_int_equal(gmem_bus_read(gm, 0x10000000 + 8 * s, s, &v),
				 0);
		assert_int_equal(v, uart.read_val & mask);
		assert_int_equal(uart.last_off, 8 * s);
		assert_int_equal(uart.last_size, s);
		/* Writes reach the device truncated to their size. */
		assert_int_equal(gmem_bus_write(gm, 0x10000000 + 0x100 + 1, s,
						0xa1b2c3d4e5f60718ULL),
				 s == 1 ? 0 : -EINVAL);
		assert_int_equal(gmem_bus_write(gm, 0x10000000 + 0x100, s,
						0xa1b2c3d4e5f60718ULL),
				 0);
		assert_int_equal(uart.last_off, 0x100);
		assert_int_equal(uart.last_size, s);
		assert_int_equal(uart.last_val, 0xa1b2c3d4e5f60718ULL & mask);
	}
	assert_int_equal(uart.n_reads, 4);
	assert_int_equal(uart.n_writes, 4 + 1);

	/* Last byte of a large region goes to the right device. */
	assert_int_equal(gmem_bus_write(gm, 0x0c000000 + 0x5ffffc, 4, 7), 0);
	assert_int_equal(plic.last_off, 0x5ffffc);
	assert_int_equal(plic.last_val, 7);
	assert_int_equal(uart.n_writes, 5);

	/* RAM through the bus, all sizes. */
	assert_int_equal(
		gmem_bus_write(gm, RAM_BASE + 0x10, 8, 0x0102030405060708ULL),
		0);
	assert_int_equal(gmem_bus_read(gm, RAM_BASE + 0x10, 1, &v), 0);
	assert_int_equal(v, 0x08);
	assert_int_equal(gmem_bus_read(gm, RAM_BASE + 0x12, 2, &v), 0);
	assert_int_equal(v, 0x0506);
	assert_int_equal(gmem_bus_read(gm, RAM_BASE + 0x14, 4, &v), 0);
	assert_int_equal(v, 0x01020304);
	assert_int_equal(gmem_bus_write(gm, RAM_BASE + 0x11, 1, 0xffff), 0);
	assert_int_equal(gmem_bus_read(gm, RAM_BASE + 0x10, 8, &v), 0);
	assert_int_equal(v, 0x010203040506ff08ULL);

	/* Holes: -EFAULT; bad sizes and misalignment: -EINVAL. */
	assert_int_equal(gmem_bus_read(gm, 0x10001000, 4, &v), -EFAULT);
	assert_int_equal(gmem_bus_write(gm, 0x0fffffff, 1, 0), -EFAULT);
	assert_int_equal(gmem_bus_read(gm, 0, 8, &v), -EFAULT);
	assert_int_equal(gmem_bus_read(gm, RAM_BASE + RAM_SIZE, 8, &v),
			 -EFAULT);
	assert_int_equal(gmem_bus_read(gm, UINT64_MAX - 7, 8, &v), -EFAULT);
	assert_int_equal(gmem_bus_read(gm, RAM_BASE, 3, &v), -EINVAL);
	assert_int_equal(gmem_bus_read(gm, RAM_BASE + 4, 8, &v), -EINVAL);
	assert_int_equal(gmem_bus_write(gm, 0x10000002, 4, 0), -EINVAL);

	assert_true(gmem_is_mmio(gm, 0x10000000));
	assert_true(gmem_is_mmio(gm, 0x10000fff));
	assert_false(gmem_is_mmio(gm, 0x10001000));
	assert_false(gmem_is_mmio(gm, 0x0bffffff));
	assert_true(gmem_is_mmio(gm, 0x0c5fffff));
	assert_false(gmem_is_mmio(gm, RAM_BASE));
	assert_false(gmem_is_mmio(gm, 0));
	assert_false(gmem_is_mmio(gm, UINT64_MAX));
	gmem_destroy(gm);
}

/* Many regions registered out of order: the sorted table finds each. */
static void test_bus_many_regions(void **state)
{
	enum { N = 40 };
	struct gmem *gm = new_gmem();
	static struct fake_dev devs[N];
	char name[16];
	uint64_t v;
	unsigned i, k;

	memset(devs, 0, sizeof(devs));
	for (k = 0; k < N; k++) {
		i = (k * 7) % N; /* 7 is coprime with 40: a permutation */
		snprintf(name, sizeof(name), "virtio%u", i);
		devs[i].read_val = i;
		assert_int_equal(gmem_map_mmio(gm, 0x10001000 + i * 0x2000ULL,
					       0x1000, &fake_ops, &devs[i],
					       name, NULL),
				 0);
	}
	for (i = 0; i < N; i++) {
		uint64_t base = 0x10001000 + i * 0x2000ULL;

		assert_int_equal(gmem_bus_read(gm, base + 0xffc, 4, &v), 0);
		assert_int_equal(v, i);
		assert_int_equal(devs[i].last_off, 0xffc);
		assert_false(gmem_is_mmio(gm, base + 0x1000));
		assert_int_equal(gmem_bus_read(gm, base + 0x1000, 4, &v),
				 -EFAULT);
	}
	gmem_destroy(gm);
}

static void test_bus_overlap(void **state)
{
	struct gmem *gm = new_gmem();
	struct fake_dev d = { 0 };
	struct error err = { 0 };
	const struct mmio_ops no_write = { .read = fake_read };

	assert_int_equal(gmem_map_mmio(gm, 0x10000000, 0x2000, &fake_ops, &d,
				       "uart", &err),
			 0);

	/* Overlaps RAM: both named. */
	assert_int_equal(gmem_map_mmio(gm, RAM_BASE - PG, 2 * PG, &fake_ops, &d,
				       "bad", &err),
			 -EEXIST);
	assert_non_null(strstr(err.msg, "bad"));
	assert_non_null(strstr(err.msg, "guest RAM"));
	assert_non_null(strstr(err.msg, "0x80000000..0x803fffff"));
	assert_int_equal(gmem_map_mmio(gm, RAM_BASE + RAM_SIZE - PG, PG,
				       &fake_ops, &d, "inside", &err),
			 -EEXIST);

	/* Overlaps a region from below, above, inside and around. */
	assert_int_equal(gmem_map_mmio(gm, 0x0ffff000, 0x2000, &fake_ops, &d,
				       "rtc", &err),
			 -EEXIST);
	assert_string_equal(err.msg,
			    "MMIO region rtc 0xffff000..0x10000fff overlaps "
			    "MMIO region uart 0x10000000..0x10001fff");
	assert_int_equal(gmem_map_mmio(gm, 0x10001000, 0x2000, &fake_ops, &d,
				       "above", &err),
			 -EEXIST);
	assert_non_null(strstr(err.msg, "uart"));
	assert_int_equal(gmem_map_mmio(gm, 0x10001000, 0x1000, &fake_ops, &d,
				       "inside", &err),
			 -EEXIST);
	assert_int_equal(gmem_map_mmio(gm, 0x0f000000, 0x2000000, &fake_ops, &d,
				       "around", &err),
			 -EEXIST);

	/* Alignment, size and wrap-around. */
	assert_int_equal(gmem_map_mmio(gm, 0x20000010, 0x1000, &fake_ops, &d,
				       "unaligned", &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "unaligned"));
	assert_non_null(strstr(err.msg, "4 KiB"));
	assert_int_equal(gmem_map_mmio(gm, 0x20000000, 0x10, &fake_ops, &d,
				       "short", &err),
			 -EINVAL);
	assert_int_equal(
		gmem_map_mmio(gm, 0x20000000, 0, &fake_ops, &d, "empty", &err),
		-EINVAL);
	assert_int_equal(gmem_map_mmio(gm, UINT64_MAX - PG + 1, 2 * PG,
				       &fake_ops, &d, "wrap", &err),
			 -EINVAL);
	assert_int_equal(
		gmem_map_mmio(gm, 0x20000000, PG, &no_write, &d, "ro", &err),
		-EINVAL);

	/* Touching neighbours are fine, including the last page. */
	assert_int_equal(gmem_map_mmio(gm, 0x0ffff000, 0x1000, &fake_ops, &d,
				       "below", &err),
			 0);
	assert_int_equal(gmem_map_mmio(gm, 0x10002000, 0x1000, &fake_ops, &d,
				       "after", &err),
			 0);
	assert_int_equal(gmem_map_mmio(gm, RAM_BASE + RAM_SIZE, PG, &fake_ops,
				       &d, "after-ram", &err),
			 0);
	assert_int_equal(gmem_map_mmio(gm, UINT64_MAX - PG + 1, PG, &fake_ops,
				       &d, "top", &err),
			 0);
	assert_true(gmem_is_mmio(gm, UINT64_MAX));
	gmem_destroy(gm);
}

/* ---- bulk copies ------------------------------------------------------- */

/* gmem_load: the loader's copy. Whole zero pages over the zero frame
 * stay unallocated, zeros over a written page are written, the rest (and
 * partial pages) as gmem_write; out of RAM refused. */
static void test_load(void **state)
{
	struct gmem *gm = new_gmem();
	const size_t len = 8 * PG + 100;
	uint8_t *img = calloc(1, len), *back = malloc(len);
	const uint64_t gpa = RAM_BASE + 16 * PG;

	(void)state;
	assert_non_null(img);
	assert_non_null(back);
	/* pages 0, 3 and 4 of the image hold data, 1, 2, 5-7 zeros; the
	 * tail (100 bytes of page 8) data */
	for (unsigned p = 0; p < 9; p++)
		if (p == 0 || p == 3 || p == 4 || p == 8)
			memset(img + p * PG, 0x40 + p, p == 8 ? 100 : PG);
	/* page 6 of the destination was written before (a reboot) */
	assert_int_equal(gmem_write(gm, gpa + 6 * PG + 8, "old", 3), 0);
	assert_int_equal(n_private(gm), 1);

	assert_int_equal(gmem_load(gm, gpa, img, len), 0);
	assert_int_equal(gmem_read(gm, gpa, back, len), 0);
	assert_memory_equal(back, img, len);
	/* 0, 3, 4, the tail's page and the old page 6 (now zeros) */
	assert_int_equal(n_private(gm), 5);
	assert_true(resident(gmem_page(gm, gpa, GMEM_READ, NULL)));
	unsigned fl = 0;
	(void)gmem_page(gm, gpa + PG, GMEM_READ, &fl);
	assert_true(fl & GMEM_PAGE_ZERO);
	(void)gmem_page(gm, gpa + 6 * PG, GMEM_READ, &fl);
	assert_false(fl & GMEM_PAGE_ZERO);

	/* unaligned: the partial head is written as gmem_write would */
	assert_int_equal(gmem_load(gm, gpa + 20 * PG + 7, img, 2 * PG), 0);
	assert_int_equal(gmem_read(gm, gpa + 20 * PG + 7, back, 2 * PG), 0);
	assert_memory_equal(back, img, 2 * PG);

	assert_int_equal(gmem_load(gm, RAM_BASE + RAM_SIZE - PG, img, 2 * PG),
			 -EFAULT);
	assert_int_equal(gmem_load(gm, gpa, img, 0), 0);
	free(img);
	free(back);
	gmem_destroy(gm);
}

static unsigned syncs;
static void count_sync(void *opaque)
{
	(void)opaque;
	syncs++;
}

/* A memfd holding len bytes of pattern, sealed as gmem_map_file wants it
 * (or not). */
static int pattern_memfd(size_t len, bool seal)
{
	int fd = memfd_create("test-file", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint8_t *b = malloc(len);

	assert_true(fd >= 0);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + i / PG + 1);
	assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
	free(b);
	if (seal)
		assert_int_equal(fcntl(fd, F_ADD_SEALS,
				       F_SEAL_WRITE | F_SEAL_SHRINK |
					       F_SEAL_GROW | F_SEAL_SEAL),
				 0);
	return fd;
}

/* gmem_map_file: the file's pages read through the p2m, shared and
 * read-only; a store or a release leaves the file as it was. */
static void test_map_file(void **state)
{
	struct gmem *gm = new_gmem();
	const size_t len = 4 * PG + 100;
	const uint64_t gpa = RAM_BASE + 32 * PG;
	int fd = pattern_memfd(len, true), loose = pattern_memfd(len, false);
	uint8_t *want = malloc(5 * PG), *back = malloc(5 * PG);
	struct gmem_stats st;
	unsigned fl = 0;

	(void)state;
	assert_non_null(want);
	assert_non_null(back);
	memset(want, 0, 5 * PG);
	assert_int_equal(pread(fd, want, len, 0), (ssize_t)len);

	/* without a TLB sync the harts could not cache it: copy instead */
	assert_int_equal(gmem_map_file(gm, gpa, fd, len), -ENOTSUP);
	gmem_set_tlb_sync(gm, count_sync, NULL);
	assert_int_equal(gmem_map_file(gm, gpa, loose, len), -ENOTSUP);
	assert_int_equal(gmem_map_file(gm, gpa, fd, len - 1), -ENOTSUP);
	assert_int_equal(gmem_map_file(gm, gpa + 8, fd, len), -EINVAL);
	assert_int_equal(gmem_map_file(gm, RAM_BASE + RAM_SIZE - PG, fd, len),
			 -EFAULT);
	/* a frame written before */
	assert_int_equal(gmem_write(gm, gpa + 2 * PG, "x", 1), 0);
	assert_int_equal(gmem_map_file(gm, gpa, fd, len), -EBUSY);
	assert_int_equal(gmem_release_page(gm, gpa + 2 * PG), 0);
	gmem_get_stats(gm, &st);
	assert_int_equal(st.frames_file, 0);
	uint64_t priv = st.frames_private;

	assert_int_equal(gmem_map_file(gm, gpa, fd, len), 0);
	gmem_get_stats(gm, &st);
	assert_int_equal(st.frames_file, 5);
	assert_int_equal(st.frames_private, priv);
	assert_int_equal(gmem_read(gm, gpa, back, 5 * PG), 0);
	assert_memory_equal(back, want, 5 * PG); /* the tail reads zeros */
	/* read-only, cacheable for reads, not the VM's slot */
	const uint8_t *p = gmem_page(gm, gpa + PG, GMEM_READ, &fl);
	assert_true(fl & GMEM_PAGE_READONLY);
	assert_false(fl & (GMEM_PAGE_NOCACHE | GMEM_PAGE_ZERO));
	assert_memory_equal(p, want + PG, PG);
	assert_int_equal(gmem_map_file(gm, gpa + 16 * PG, fd, len), -ENOTSUP);

	/* a store copies the page first, after the TLB sync */
	syncs = 0;
	assert_int_equal(gmem_write(gm, gpa + PG + 5, "new", 3), 0);
	assert_true(syncs >= 1);
	memcpy(want + PG + 5, "new", 3);
	assert_int_equal(gmem_read(gm, gpa, back, 5 * PG), 0);
	assert_memory_equal(back, want, 5 * PG);
	assert_true(gmem_page(gm, gpa + PG, GMEM_READ, &fl) != p);
	assert_false(fl & GMEM_PAGE_READONLY);
	/* a release gives back the zero frame */
	assert_int_equal(gmem_release_page(gm, gpa + 3 * PG), 0);
	memset(want + 3 * PG, 0, PG);
	assert_int_equal(gmem_read(gm, gpa, back, 5 * PG), 0);
	assert_memory_equal(back, want, 5 * PG);
	gmem_get_stats(gm, &st);
	assert_int_equal(st.frames_file, 3);
	assert_int_equal(st.frames_private, priv + 1);
	assert_int_equal(st.cow_breaks, 1);
	assert_int_equal(st.pool_cow_breaks, 0);
	assert_int_equal(st.frames_pool_shared, 0);
	/* the file is as it was */
	assert_int_equal(pread(fd, back, len, 0), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(back[i], (uint8_t)(i * 7 + i / PG + 1));
	gmem_destroy(gm);
	close(fd);
	close(loose);
	free(want);
	free(back);
}

/* gmem_release_pages: the file frames of a batch cost one TLB sync, not
 * one each; private frames, zero frames and gpas outside RAM mixed in. */
static void test_release_batch(void **state)
{
	struct gmem *gm = new_gmem();
	const size_t len = 8 * PG;
	const uint64_t gpa = RAM_BASE + 64 * PG;
	int fd = pattern_memfd(len, true);
	uint64_t list[12];
	uint8_t back[PG], zero[PG] = { 0 };
	struct gmem_stats st;

	(void)state;
	gmem_set_tlb_sync(gm, count_sync, NULL);
	assert_int_equal(gmem_map_file(gm, gpa, fd, len), 0);
	assert_int_equal(gmem_write(gm, gpa + 20 * PG, "p", 1), 0);
	for (unsigned i = 0; i < 8; i++)
		list[i] = gpa + i * PG + (i & 1) * 9; /* any offset */
	list[8] = gpa + 20 * PG;		      /* private */
	list[9] = gpa + 30 * PG;		      /* zero frame */
	list[10] = RAM_BASE + RAM_SIZE;		      /* outside RAM */
	list[11] = gpa + 3 * PG;		      /* twice */
	syncs = 0;
	assert_int_equal(gmem_release_pages(gm, list, 12), 11);
	assert_int_equal(syncs, 1);
	gmem_get_stats(gm, &st);
	assert_int_equal(st.frames_file, 0);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(gmem_read(gm, gpa + i * PG, back, PG), 0);
		assert_memory_equal(back, zero, PG);
	}
	assert_int_equal(gmem_read(gm, gpa + 20 * PG, back, PG), 0);
	assert_memory_equal(back, zero, PG);
	assert_int_equal(gmem_release_pages(gm, list, 0), 0);
	gmem_destroy(gm);
	close(fd);
}

static void test_rw_cross_page_and_bounds(void **state)
{
	struct gmem *gm = new_gmem();
	uint8_t src[3 * PG + 40], dst[sizeof(src)];
	uint64_t gpa = RAM_BASE + 2 * PG - 13; /* unaligned, crosses pages */
	size_t i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 31 + 7);
	assert_int_equal(gmem_write(gm, gpa, src, sizeof(src)), 0);
	assert_int_equal(n_private(gm), 5);
	memset(dst, 0, sizeof(dst));
	assert_int_equal(gmem_read(gm, gpa, dst, sizeof(dst)), 0);
	assert_memory_equal(src, dst, sizeof(src));
	/* Odd slices read back what the pages hold. */
	assert_int_equal(gmem_read(gm, gpa + 11, dst, 5), 0);
	assert_memory_equal(src + 11, dst, 5);

	/* Exactly up to the end of RAM works. */
	assert_int_equal(gmem_write(gm, RAM_BASE + RAM_SIZE - 10, src, 10), 0);
	assert_int_equal(gmem_read(gm, RAM_BASE + RAM_SIZE - 10, dst, 10), 0);
	assert_memory_equal(src, dst, 10);

	/* One byte too far: -EFAULT and nothing copied. */
	memset(dst, 0xee, sizeof(dst));
	assert_int_equal(gmem_write(gm, RAM_BASE + RAM_SIZE - 9, dst, 10),
			 -EFAULT);
	assert_int_equal(gmem_read(gm, RAM_BASE + RAM_SIZE - 10, dst, 10), 0);
	assert_memory_equal(src, dst, 10);
	memset(dst, 0xee, 11);
	assert_int_equal(gmem_read(gm, RAM_BASE + RAM_SIZE - 10, dst, 11),
			 -EFAULT);
	assert_int_equal(dst[0], 0xee);

	/* Below RAM, straddling the base, wrap-around, absurd lengths. */
	assert_int_equal(gmem_read(gm, RAM_BASE - 1, dst, 2), -EFAULT);
	assert_int_equal(gmem_write(gm, RAM_BASE - 4, src, 8), -EFAULT);
	assert_int_equal(gmem_read(gm, UINT64_MAX - 1, dst, 4), -EFAULT);
	assert_int_equal(gmem_read(gm, RAM_BASE + 1, dst, SIZE_MAX), -EFAULT);
	assert_int_equal(gmem_write(gm, RAM_BASE, src, RAM_SIZE + 1), -EFAULT);
	assert_int_equal(gmem_read(gm, 0, dst, 0), 0);
	assert_int_equal(n_private(gm), 6);
	gmem_destroy(gm);
}

/* ---- DMA --------------------------------------------------------------- */

static void test_dma_map(void **state)
{
	struct gmem *gm = new_gmem();
	struct iovec iov[8];
	uint8_t *zero = gmem_page(gm, RAM_BASE, GMEM_READ, NULL);
	uint64_t gpa = RAM_BASE + 4 * PG + 100;
	uint8_t buf[16];
	int n;

	/* Read mapping of never-written RAM: the zero frame, page by page. */
	n = gmem_dma_map(gm, gpa, 2 * PG, GMEM_READ, iov, 8);
	assert_int_equal(n, 3);
	assert_ptr_equal(iov[0].iov_base, zero + 100);
	assert_int_equal(iov[0].iov_len, PG - 100);
	assert_ptr_equal(iov[1].iov_base, zero);
	assert_int_equal(iov[1].iov_len, PG);
	assert_ptr_equal(iov[2].iov_base, zero);
	assert_int_equal(iov[2].iov_len, 100);
	gmem_dma_unpin(gm, gpa, 2 * PG);
	assert_int_equal(n_private(gm), 0);

	/* Write mapping: private, adjacent slots merge into one iovec. */
	n = gmem_dma_map(gm, gpa, 2 * PG, GMEM_WRITE, iov, 1);
	assert_int_equal(n, 1);
	assert_int_equal(iov[0].iov_len, 2 * PG);
	assert_int_equal(n_private(gm), 3);
	memset(iov[0].iov_base, 0x77, iov[0].iov_len);
	gmem_dma_unpin(gm, gpa, 2 * PG);
	assert_int_equal(gmem_read(gm, gpa + 2 * PG - 8, buf, 16), 0);
	assert_int_equal(buf[7], 0x77);
	assert_int_equal(buf[8], 0);
	assert_int_equal(gmem_read(gm, gpa - 1, buf, 2), 0);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 0x77);

	/* Private now, so a read mapping merges too. */
	n = gmem_dma_map(gm, gpa, 2 * PG, GMEM_READ, iov, 8);
	assert_int_equal(n, 1);

	/* Private, zero, private: three runs; too few iovecs -> -ENOBUFS. */
	assert_int_equal(gmem_write(gm, RAM_BASE + 10 * PG, "x", 1), 0);
	assert_int_equal(gmem_write(gm, RAM_BASE + 12 * PG, "y", 1), 0);
	n = gmem_dma_map(gm, RAM_BASE + 10 * PG, 3 * PG, GMEM_READ, iov, 8);
	assert_int_equal(n, 3);
	assert_ptr_equal(iov[1].iov_base, zero);
	assert_int_equal(
		gmem_dma_map(gm, RAM_BASE + 10 * PG, 3 * PG, GMEM_READ, iov, 2),
		-ENOBUFS);
	assert_int_equal(gmem_dma_map(gm, RAM_BASE, 1, GMEM_READ, iov, 0),
			 -ENOBUFS);
	/* The middle frame of a write mapping becomes private: one run. */
	n = gmem_dma_map(gm, RAM_BASE + 10 * PG, 3 * PG, GMEM_WRITE, iov, 8);
	assert_int_equal(n, 1);
	assert_int_equal(iov[0].iov_len, 3 * PG);

	/* Hostile ranges. */
	assert_int_equal(gmem_dma_map(gm, RAM_BASE - 1, 2, GMEM_READ, iov, 8),
			 -EFAULT);
	assert_int_equal(gmem_dma_map(gm, RAM_BASE + RAM_SIZE - 1, 2,
				      GMEM_WRITE, iov, 8),
			 -EFAULT);
	assert_int_equal(
		gmem_dma_map(gm, RAM_BASE + PG, UINT64_MAX, GMEM_WRITE, iov, 8),
		-EFAULT);
	assert_int_equal(
		gmem_dma_map(gm, UINT64_MAX - 15, 32, GMEM_READ, iov, 8),
		-EFAULT);
	assert_int_equal(gmem_dma_map(gm, 0x1000, PG, GMEM_READ, iov, 8),
			 -EFAULT);
	assert_int_equal(gmem_dma_map(gm, RAM_BASE, 0, GMEM_READ, iov, 8), 0);
	/* The whole of RAM, written: one iovec. */
	n = gmem_dma_map(gm, RAM_BASE, RAM_SIZE, GMEM_WRITE, iov, 8);
	assert_int_equal(n, 1);
	assert_int_equal(iov[0].iov_len, RAM_SIZE);
	assert_int_equal(n_private(gm), RAM_SIZE / PG);
	gmem_destroy(gm);
}

/* ---- dirty log --------------------------------------------------------- */

static bool bit(const uint64_t *bm, uint64_t i)
{
	return (bm[i / 64] >> (i % 64)) & 1;
}

static void test_dirty_log(void **state)
{
	struct gmem *gm = new_gmem();
	size_t nw = gmem_dirty_log_words(gm);
	uint64_t *bm = calloc(nw + 2, sizeof(*bm));
	const uint64_t last = RAM_SIZE / PG - 1;
	struct iovec iov[4];
	uint8_t buf[8];
	uint64_t v;

	assert_int_equal(nw, (RAM_SIZE / PG + 63) / 64);
	assert_false(gmem_dirty_log_active(gm));
	/* Writes before the log starts are not recorded. */
	assert_int_equal(gmem_write(gm, RAM_BASE + 9 * PG, "a", 1), 0);
	gmem_dirty_log_start(gm);
	assert_true(gmem_dirty_log_active(gm));
	assert_int_equal(gmem_dirty_log_collect(gm, bm, nw), 0);

	/* Every kind of write mapping sets its frame's bit... */
	assert_non_null(gmem_page(gm, RAM_BASE, GMEM_WRITE, NULL));
	assert_int_equal(gmem_write(gm, RAM_BASE + 5 * PG - 1, "ab", 2), 0);
	assert_int_equal(gmem_bus_write(gm, RAM_BASE + 64 * PG, 4, 1), 0);
	assert_int_equal(
		gmem_dma_map(gm, RAM_BASE + last * PG, 8, GMEM_WRITE, iov, 4),
		1);
	assert_int_equal(gmem_release_page(gm, RAM_BASE + 9 * PG), 0);
	/* ...even for a frame that was already private... */
	assert_non_null(gmem_page(gm, RAM_BASE, GMEM_WRITE, NULL));
	/* ...while reads do not. */
	assert_int_equal(gmem_read(gm, RAM_BASE + 100 * PG, buf, 8), 0);
	assert_int_equal(gmem_bus_read(gm, RAM_BASE + 101 * PG, 8, &v), 0);
	assert_int_equal(
		gmem_dma_map(gm, RAM_BASE + 102 * PG, 8, GMEM_READ, iov, 4), 1);
	assert_non_null(gmem_page(gm, RAM_BASE + 103 * PG, GMEM_READ, NULL));

	/* A store mapping while logging says it must not be cached (a TLB
	 * would hide later stores from the log)... */
	unsigned fl = 0;
	assert_non_null(gmem_page(gm, RAM_BASE + 200 * PG, GMEM_WRITE, &fl));
	assert_true(fl & GMEM_PAGE_LOGGED);
	/* ...and a device marks what it wrote through an older mapping. */
	gmem_dirty_log_mark(gm, RAM_BASE + 300 * PG + 10, PG);
	gmem_dirty_log_mark(gm, RAM_BASE + RAM_SIZE, PG); /* not RAM */

	memset(bm, 0xff, (nw + 2) * sizeof(*bm));
	assert_int_equal(gmem_dirty_log_collect(gm, bm, nw + 2), 9);
	assert_true(bit(bm, 200));
	assert_true(bit(bm, 300));
	assert_true(bit(bm, 301));
	assert_false(bit(bm, 302));
	assert_true(bit(bm, 0));
	assert_true(bit(bm, 4));
	assert_true(bit(bm, 5));
	assert_true(bit(bm, 9));
	assert_true(bit(bm, 64));
	assert_true(bit(bm, last));
	assert_false(bit(bm, 1));
	assert_false(bit(bm, 100));
	assert_false(bit(bm, 102));
	assert_int_equal(bm[nw], 0);
	assert_int_equal(bm[nw + 1], 0);

	/* Collecting cleared the log. */
	assert_int_equal(gmem_dirty_log_collect(gm, bm, nw), 0);
	assert_int_equal(bm[0], 0);

	/* A store through a pointer taken before that collect marks its
	 * frame again once written (the pass may have copied the frame
	 * between gmem_page's mark and the store). */
	uint8_t *p = gmem_page(gm, RAM_BASE + 400 * PG, GMEM_WRITE, NULL);
	assert_non_null(p);
	assert_int_equal(gmem_dirty_log_collect(gm, bm, nw), 1);
	p[8] = 1;
	gmem_dirty_log_wrote(gm, RAM_BASE + 400 * PG + 8, 1);
	assert_int_equal(gmem_dirty_log_collect(gm, bm, nw), 1);
	assert_true(bit(bm, 400));
	assert_int_equal(gmem_write(gm, RAM_BASE + 70 * PG, "z", 1), 0);

	/* Stop keeps what is set for a final collection, records no more. */
	gmem_dirty_log_stop(gm);
	assert_false(gmem_dirty_log_active(gm));
	assert_int_equal(gmem_write(gm, RAM_BASE + 71 * PG, "z", 1), 0);
	gmem_dirty_log_mark(gm, RAM_BASE + 73 * PG, PG);
	gmem_dirty_log_wrote(gm, RAM_BASE + 74 * PG, 8);
	fl = 0;
	assert_non_null(gmem_page(gm, RAM_BASE + 200 * PG, GMEM_WRITE, &fl));
	assert_false(fl & GMEM_PAGE_LOGGED);
	/* A short buffer collects only its words. */
	assert_int_equal(gmem_dirty_log_collect(gm, bm, 1), 0);
	assert_int_equal(gmem_dirty_log_collect(gm, bm, nw), 1);
	assert_true(bit(bm, 70));
	assert_false(bit(bm, 71));

	/* Start begins from a clean log. */
	assert_int_equal(gmem_write(gm, RAM_BASE + 72 * PG, "z", 1), 0);
	gmem_dirty_log_start(gm);
	assert_int_equal(gmem_dirty_log_collect(gm, bm, nw), 0);
	free(bm);
	gmem_destroy(gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_is_ram),
		cmocka_unit_test(test_zero_reads),
		cmocka_unit_test(test_zero_frame_is_readonly),
		cmocka_unit_test(test_first_write),
		cmocka_unit_test(test_concurrent_first_write),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_bus_dispatch),
		cmocka_unit_test(test_bus_many_regions),
		cmocka_unit_test(test_bus_overlap),
		cmocka_unit_test(test_rw_cross_page_and_bounds),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_map_file),
		cmocka_unit_test(test_release_batch),
		cmocka_unit_test(test_dma_map),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_ram_memfd),
		cmocka_unit_test(test_first_write_populates_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
