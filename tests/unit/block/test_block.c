/* Unit tests for src/block: raw round trips, holes, locks, read-only, the
 * I/O pool. Images are temporary files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "block/pool.h"

#define IMG_SIZE (1u << 20)

static char img[64];

static int setup(void **state)
{
	int fd;

	strcpy(img, "/tmp/sv-test-block-XXXXXX");
	fd = mkstemp(img);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(img);
	return 0;
}

static void fill(void *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(seed + i * 7);
}

static bool is_zero(const void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (((const uint8_t *)buf)[i])
			return false;
	return true;
}

static void test_raw_rw(void **state)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, "raw", false, &err);
	static uint8_t a[1000], b[3096], c[4096], out[8192];
	struct iovec wv[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct iovec rv[2] = { { out, 100 }, { out + 100, 3996 } };

	assert_non_null(bd);
	assert_int_equal(blockdev_size(bd), IMG_SIZE);
	assert_string_equal(blockdev_format(bd), "raw");
	assert_false(blockdev_readonly(bd));
	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	assert_int_equal(blockdev_writev(bd, wv, 2, 8192), 0);
	assert_int_equal(blockdev_readv(bd, rv, 2, 8192), 0);
	assert_memory_equal(out, a, sizeof(a));
	assert_memory_equal(out + sizeof(a), b, sizeof(b));
	assert_int_equal(blockdev_flush(bd), 0);

	/* Exactly at the end is fine, one byte past is not. */
	struct iovec cv = { c, sizeof(c) };
	assert_int_equal(blockdev_writev(bd, &cv, 1, IMG_SIZE - 4096), 0);
	assert_int_equal(blockdev_readv(bd, &cv, 1, IMG_SIZE - 4095), -EINVAL);
	assert_int_equal(blockdev_writev(bd, &cv, 1, UINT64_MAX - 10), -EINVAL);
	assert_int_equal(blockdev_discard(bd, IMG_SIZE, 1), -EINVAL);
	blockdev_close(bd);

	/* Persisted: read back through a new open. */
	bd = blockdev_open(img, NULL, true, &err);
	assert_non_null(bd);
	memset(out, 0, sizeof(out));
	struct iovec ov = { out, 4096 };
	assert_int_equal(blockdev_readv(bd, &ov, 1, 8192), 0);
	assert_memory_equal(out, a, sizeof(a));
	blockdev_close(bd);
}

static void test_raw_discard_zeroes(void **state)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, "raw", false, &err);
	static uint8_t buf[256 << 10], out[256 << 10];
	struct iovec v = { buf, sizeof(buf) }, o = { out, sizeof(out) };
	struct stat st1, st2;

	assert_non_null(bd);
	fill(buf, sizeof(buf), 3);
	assert_int_equal(blockdev_writev(bd, &v, 1, 0), 0);
	assert_int_equal(blockdev_flush(bd), 0);
	stat(img, &st1);

	/* discard [64K, 128K): zeros there (a hole on Linux), data around */
	assert_int_equal(blockdev_discard(bd, 64 << 10, 64 << 10), 0);
	assert_int_equal(blockdev_readv(bd, &o, 1, 0), 0);
	assert_memory_equal(out, buf, 64 << 10);
	assert_true(is_zero(out + (64 << 10), 64 << 10));
	assert_memory_equal(out + (128 << 10), buf + (128 << 10), 128 << 10);
	stat(img, &st2);
	if (blockdev_can_unmap(bd))
		assert_true(st2.st_blocks < st1.st_blocks);

	/* write-zeroes without unmap: allocated zeros; with unmap: a hole */
	assert_int_equal(blockdev_write_zeroes(bd, 130 << 10, 4000, false), 0);
	assert_int_equal(blockdev_write_zeroes(bd, 200 << 10, 8192, true), 0);
	assert_int_equal(blockdev_readv(bd, &o, 1, 0), 0);
	assert_true(is_zero(out + (130 << 10), 4000));
	assert_int_equal(out[(130 << 10) + 4000], buf[(130 << 10) + 4000]);
	assert_int_equal(out[(130 << 10) - 1], buf[(130 << 10) - 1]);
	assert_true(is_zero(out + (200 << 10), 8192));
	assert_memory_equal(out + (208 << 10), buf + (208 << 10), 48 << 10);
	/* size unchanged (KEEP_SIZE) */
	assert_int_equal(blockdev_size(bd), IMG_SIZE);
	blockdev_close(bd);
	stat(img, &st2);
	assert_int_equal(st2.st_size, IMG_SIZE);
}

static void test_raw_readonly(void **state)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, "raw", true, &err);
	uint8_t buf[512] = { 1 };
	struct iovec v = { buf, sizeof(buf) };

	assert_non_null(bd);
	assert_true(blockdev_readonly(bd));
	assert_false(blockdev_can_unmap(bd));
	assert_int_equal(blockdev_writev(bd, &v, 1, 0), -EROFS);
	assert_int_equal(blockdev_discard(bd, 0, 512), -EROFS);
	assert_int_equal(blockdev_write_zeroes(bd, 0, 512, true), -EROFS);
	assert_int_equal(blockdev_flush(bd), 0);
	assert_int_equal(blockdev_readv(bd, &v, 1, 0), 0);
	assert_true(is_zero(buf, sizeof(buf)));
	blockdev_close(bd);
}

static void test_open_errors(void **state)
{
	struct error err = { 0 };

	assert_null(blockdev_open("/nonexistent/x.img", "raw", false, &err));
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/x.img"));
	assert_null(blockdev_open(img, "vmdk", false, &err));
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "format 'vmdk' is not supported"));
	assert_null(blockdev_open("/tmp", "raw", true, &err));
	assert_non_null(strstr(err.msg, "not a regular file"));
}

static void test_lock_same_process(void **state)
{
	struct error err = { 0 };
	struct blockdev *a = blockdev_open(img, "raw", false, &err), *b;

	assert_non_null(a);
	/* A second writer in the same process (another VM) is refused. */
	b = blockdev_open(img, "raw", false, &err);
	assert_null(b);
	assert_int_equal(err.code, EBUSY);
	assert_non_null(strstr(err.msg, "locked by another VM or disk of "
					"this process"));
	/* So is a reader while it is written. */
	assert_null(blockdev_open(img, "raw", true, &err));
	assert_int_equal(err.code, EBUSY);
	blockdev_close(a);

	/* Readers share; a writer is refused while they read. */
	a = blockdev_open(img, "raw", true, &err);
	b = blockdev_open(img, "raw", true, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(blockdev_open(img, "raw", false, &err));
	assert_int_equal(err.code, EBUSY);
	blockdev_close(a);
	blockdev_close(b);

	/* Closing released the lock. */
	a = blockdev_open(img, "raw", false, &err);
	assert_non_null(a);
	blockdev_close(a);
}

static void test_lock_other_process(void **state)
{
	struct error err = { 0 };
	int to_parent[2], to_child[2];
	char c = 0, want[64];
	pid_t pid;

	assert_int_equal(pipe(to_parent), 0);
	assert_int_equal(pipe(to_child), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct blockdev *bd = blockdev_open(img, "raw", false, NULL);

		c = bd ? 'y' : 'n';
		if (write(to_parent[1], &c, 1) != 1)
			_exit(1);
		if (read(to_child[0], &c, 1) != 1)
			_exit(1);
		blockdev_close(bd);
		_exit(0);
	}
	assert_int_equal(read(to_parent[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_null(blockdev_open(img, "raw", false, &err));
	assert_int_equal(err.code, EBUSY);
	snprintf(want, sizeof(want), "locked by process %d (", (int)pid);
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, img));
	assert_int_equal(write(to_child[1], &c, 1), 1);
	waitpid(pid, NULL, 0);
	struct blockdev *bd = blockdev_open(img, "raw", false, &err);
	assert_non_null(bd);
	blockdev_close(bd);
	close(to_parent[0]);
	close(to_parent[1]);
	close(to_child[0]);
	close(to_child[1]);
}

/* A process that is the init of its own PID namespace (a daemon's
 * worker) but sees the host's /proc names itself by its host pid, not 1
 * (which is the host's init). Needs root to unshare: skipped without. */
static void test_lock_pid_namespace(void **state)
{
	int to_parent[2];
	char msg[1024] = "";
	pid_t outer;

	(void)state;
	assert_int_equal(pipe(to_parent), 0);
	outer = fork();
	assert_true(outer >= 0);
	if (outer == 0) {
		if (unshare(CLONE_NEWPID) < 0) {
			(void)!write(to_parent[1], "skip", 5);
			_exit(0);
		}
		pid_t inner = fork();
		if (inner == 0) {
			struct error err = { 0 };
			struct blockdev *a = blockdev_open(img, "raw", false,
							   &err);
			struct blockdev *b = blockdev_open(img, "raw", false,
							   &err);
			char out[sizeof(err.msg) + 16];
			snprintf(out, sizeof(out), "%d %s", (int)getpid(),
				 b ? "opened twice" : err.msg);
			(void)!write(to_parent[1], out, strlen(out) + 1);
			blockdev_close(b);
			blockdev_close(a);
			_exit(0);
		}
		waitpid(inner, NULL, 0);
		_exit(0);
	}
	close(to_parent[1]);
	assert_true(read(to_parent[0], msg, sizeof(msg) - 1) > 0);
	close(to_parent[0]);
	waitpid(outer, NULL, 0);
	if (!strcmp(msg, "skip"))
		skip();
	/* "1 disk ...: image is in use, locked by another VM or disk of
	 * this process (pid HOSTPID)" */
	assert_true(!strncmp(msg, "1 ", 2));
	assert_non_null(strstr(msg, "another VM or disk of this process"));
	assert_null(strstr(msg, "(pid 1)"));
}

/* ---- pool ---- */

struct count_job {
	struct block_job job;
	atomic_int *counter;
};

static void count_fn(struct block_job *j)
{
	struct count_job *c = (struct count_job *)j;

	usleep(100);
	atomic_fetch_add(c->counter, 1);
}

static void test_pool(void **state)
{
	struct error err = { 0 };
	struct block_pool *p = block_pool_create(4, "test", &err);
	static struct count_job jobs[200];
	atomic_int counter = 0;

	assert_non_null(p);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 100; i++) {
			jobs[round * 100 + i].job.fn = count_fn;
			jobs[round * 100 + i].counter = &counter;
			block_pool_submit(p, &jobs[round * 100 + i].job);
		}
		block_pool_drain(p);
		assert_int_equal(atomic_load(&counter), (round + 1) * 100);
	}
	block_pool_destroy(p);
	assert_null(block_pool_create(0, "x", &err));
	block_pool_destroy(NULL);
	blockdev_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raw_rw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_discard_zeroes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_raw_readonly, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lock_same_process, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lock_other_process, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lock_pid_namespace, setup,
						teardown),
		cmocka_unit_test(test_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
