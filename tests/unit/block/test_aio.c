/* Unit tests for the data I/O modes (src/block/aio.c): aio=io_uring and
 * aio=threads give the same bytes for raw and qcow2 images, from several
 * threads at once (a ring per thread), and aio=auto falls back to threads
 * when io_uring_setup fails: a child process forbids it with a seccomp
 * filter (ENOSYS, as a sandboxed process sees it). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <seccomp.h>

#include "block/aio.h"
#include "block/block.h"
#include "block/image.h"

#define IMG_SIZE (8u << 20)
#define CHUNK	 (64u << 10)

static char img[64];

static int setup_raw(void **state)
{
	struct error err = { 0 };

	(void)state;
	strcpy(img, "/tmp/sv-test-aio-XXXXXX");
	close(mkstemp(img));
	assert_int_equal(image_create(img, "raw", IMG_SIZE, NULL, &err), 0);
	return 0;
}

static int setup_qcow2(void **state)
{
	struct error err = { 0 };

	(void)state;
	strcpy(img, "/tmp/sv-test-aio-XXXXXX");
	close(mkstemp(img));
	assert_int_equal(image_create(img, "qcow2", IMG_SIZE, NULL, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(img);
	return 0;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 12));
}

static void test_parse(void **state)
{
	enum block_aio m;

	(void)state;
	assert_int_equal(block_aio_parse("auto", &m), 0);
	assert_int_equal(m, BLOCK_AIO_AUTO);
	assert_int_equal(block_aio_parse("threads", &m), 0);
	assert_int_equal(m, BLOCK_AIO_THREADS);
	assert_int_equal(block_aio_parse("io_uring", &m), 0);
	assert_int_equal(m, BLOCK_AIO_IO_URING);
	assert_int_equal(block_aio_parse("native", &m), -EINVAL);
	assert_string_equal(block_aio_name(BLOCK_AIO_IO_URING), "io_uring");
}

struct worker {
	struct blockdev *bd;
	unsigned id;
	int failed;
};

/* Each thread owns every 4th 64 KiB chunk: writes it (two iovecs), reads
 * it back (three iovecs), compares. */
static void *worker(void *p)
{
	struct worker *w = p;
	static __thread uint8_t a[CHUNK], b[CHUNK];

	for (unsigned c = w->id; c < IMG_SIZE / CHUNK; c += 4) {
		struct iovec wv[2] = { { a, 4096 },
				       { a + 4096, CHUNK - 4096 } };
		struct iovec rv[3] = { { b, 512 },
				       { b + 512, 8192 },
				       { b + 8704, CHUNK - 8704 } };

		fill(a, CHUNK, c);
		memset(b, 0, CHUNK);
		if (blockdev_writev(w->bd, wv, 2, (uint64_t)c * CHUNK) ||
		    blockdev_readv(w->bd, rv, 3, (uint64_t)c * CHUNK) ||
		    memcmp(a, b, CHUNK))
			w->failed++;
	}
	return NULL;
}

static void rw_threads(const char *fmt, int mode, const char *want)
{
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(img, fmt, false, &err);
	struct worker w[4];
	pthread_t t[4];
	static uint8_t a[CHUNK], b[CHUNK];
	struct iovec v = { b, CHUNK };

	assert_non_null(bd);
	assert_int_equal(blockdev_set_aio(bd, mode, &err), 0);
	assert_string_equal(blockdev_aio_name(bd), want);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ bd, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failed, 0);
	}
	blockdev_close(bd);
	/* what the other mode reads is the same */
	bd = blockdev_open(img, fmt, true, &err);
	assert_non_null(bd);
	assert_int_equal(blockdev_set_aio(bd, BLOCK_AIO_THREADS, &err), 0);
	for (unsigned c = 0; c < IMG_SIZE / CHUNK; c += 13) {
		fill(a, CHUNK, c);
		assert_int_equal(blockdev_readv(bd, &v, 1, (uint64_t)c * CHUNK),
				 0);
		assert_memory_equal(a, b, CHUNK);
	}
	blockdev_close(bd);
}

static void test_raw_uring(void **state)
{
	(void)state;
	if (!block_aio_uring_available()) {
		skip();
		return;
	}
	rw_threads("raw", BLOCK_AIO_IO_URING, "io_uring");
	rw_threads("raw", BLOCK_AIO_AUTO, "io_uring");
}

static void test_qcow2_uring(void **state)
{
	(void)state;
	if (!block_aio_uring_available()) {
		skip();
		return;
	}
	rw_threads("qcow2", BLOCK_AIO_IO_URING, "io_uring");
}

static void test_threads(void **state)
{
	(void)state;
	rw_threads("raw", BLOCK_AIO_THREADS, "threads");
}

/* In a child: io_uring_setup fails with ENOSYS (a seccomp filter), so
 * aio=auto is threads and works, aio=io_uring is refused with a message. */
static void test_fallback(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		struct error err = { 0 };
		struct blockdev *bd;
		uint8_t a[4096], b[4096];
		struct iovec wv = { a, sizeof(a) }, rv = { b, sizeof(b) };

		if (!ctx ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				     SCMP_SYS(io_uring_setup), 0) < 0 ||
		    seccomp_load(ctx) < 0)
			_exit(10);
		if (block_aio_uring_available())
			_exit(11);
		bd = blockdev_open(img, "raw", false, &err);
		if (!bd)
			_exit(12);
		if (blockdev_set_aio(bd, BLOCK_AIO_AUTO, &err) != 0 ||
		    strcmp(blockdev_aio_name(bd), "threads"))
			_exit(13);
		fill(a, sizeof(a), 5);
		if (blockdev_writev(bd, &wv, 1, 8192) ||
		    blockdev_readv(bd, &rv, 1, 8192) || memcmp(a, b, sizeof(a)))
			_exit(14);
		if (blockdev_set_aio(bd, BLOCK_AIO_IO_URING, &err) != -ENOSYS ||
		    !strstr(err.msg, "io_uring is not available") ||
		    !strstr(err.msg, "Function not implemented"))
			_exit(15);
		/* still threads after the refused switch */
		if (strcmp(blockdev_aio_name(bd), "threads"))
			_exit(16);
		blockdev_close(bd);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_raw_uring, setup_raw,
						teardown),
		cmocka_unit_test_setup_teardown(test_qcow2_uring, setup_qcow2,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup_raw,
						teardown),
		cmocka_unit_test_setup_teardown(test_fallback, setup_raw,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
