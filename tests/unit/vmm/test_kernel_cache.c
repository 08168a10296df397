/* Unit tests of vmm/kernel_cache.h: the daemon's sealed kernel copies. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/kernel_cache.h"

static char dir[64];

static void path_of(char *out, size_t len, unsigned i)
{
	snprintf(out, len, "%s/k%u", dir, i);
}

static void write_file(unsigned i, const char *text)
{
	char p[96];
	FILE *f;

	path_of(p, sizeof(p), i);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/sv-kcache-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char p[96];

	(void)state;
	kernel_cache_clear();
	for (unsigned i = 0; i < KERNEL_CACHE_MAX + 2; i++) {
		path_of(p, sizeof(p), i);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static ino_t inode(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

/* The copy: the file's bytes, sealed against every change; the same copy
 * for the next start; a new one once the file changed. */
static void test_copy_sealed_and_kept(void **state)
{
	struct error err = { 0 };
	unsigned long made, hits;
	char p[96], buf[16] = "";
	int a, b, c;

	(void)state;
	write_file(0, "kernel-one");
	path_of(p, sizeof(p), 0);
	a = kernel_cache_get(p, &err);
	assert_true(a >= 0);
	assert_int_equal(pread(a, buf, sizeof(buf), 0), 10);
	assert_string_equal(buf, "kernel-one");
	int seals = fcntl(a, F_GET_SEALS);
	assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
				  F_SEAL_SEAL),
			 F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
				 F_SEAL_SEAL);
	assert_int_equal(pwrite(a, "X", 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(a, 1), -1);
	assert_int_equal(fcntl(a, F_ADD_SEALS, 0), -1); /* F_SEAL_SEAL */

	b = kernel_cache_get(p, &err);
	assert_true(b >= 0);
	assert_int_equal(inode(a), inode(b));
	kernel_cache_counts(&made, &hits);
	assert_int_equal(made, 1);
	assert_int_equal(hits, 1);

	/* the file rewritten in place: a new copy, the old one unchanged */
	write_file(0, "kernel-two");
	struct timeval tv[2] = { { 1, 0 }, { 1, 0 } };
	assert_int_equal(utimes(p, tv), 0);
	c = kernel_cache_get(p, &err);
	assert_true(c >= 0);
	assert_int_not_equal(inode(a), inode(c));
	assert_int_equal(pread(c, buf, sizeof(buf), 0), 10);
	assert_string_equal(buf, "kernel-two");
	assert_int_equal(pread(a, buf, sizeof(buf), 0), 10);
	assert_string_equal(buf, "kernel-one");
	close(a);
	close(b);
	close(c);
}

/* At most KERNEL_CACHE_MAX copies: the least recently used goes. */
static void test_least_recently_used_goes(void **state)
{
	struct error err = { 0 };
	ino_t first[KERNEL_CACHE_MAX + 1];
	char p[96];

	(void)state;
	for (unsigned i = 0; i <= KERNEL_CACHE_MAX; i++) {
		char text[16];
		snprintf(text, sizeof(text), "k%u", i);
		write_file(i, text);
	}
	for (unsigned i = 0; i < KERNEL_CACHE_MAX; i++) {
		path_of(p, sizeof(p), i);
		int fd = kernel_cache_get(p, &err);
		assert_true(fd >= 0);
		first[i] = inode(fd);
		close(fd);
	}
	path_of(p, sizeof(p), 0); /* k0 used again: k1 is the oldest */
	int fd = kernel_cache_get(p, &err);
	assert_int_equal(inode(fd), first[0]);
	close(fd);
	path_of(p, sizeof(p), KERNEL_CACHE_MAX);
	fd = kernel_cache_get(p, &err);
	assert_true(fd >= 0);
	close(fd);
	for (unsigned i = 0; i < KERNEL_CACHE_MAX; i++) {
		path_of(p, sizeof(p), i);
		fd = kernel_cache_get(p, &err);
		assert_true(fd >= 0);
		if (i == 1)
			assert_int_not_equal(inode(fd), first[i]);
		else if (i == 0)
			assert_int_equal(inode(fd), first[i]);
		close(fd);
	}
}

/* At most KERNEL_CACHE_BYTES together: three 100 MiB kernels (sparse
 * files) do not fit, the oldest copy goes. */
static void test_bytes_bounded(void **state)
{
	const off_t big = 100 << 20;
	struct error err = { 0 };
	ino_t ino[4];
	char p[96];
	int fd;

	(void)state;
	_Static_assert(3 * (100ULL << 20) > KERNEL_CACHE_BYTES &&
			       2 * (100ULL << 20) <= KERNEL_CACHE_BYTES,
		       "two of them fit, three do not");
	for (unsigned i = 1; i <= 3; i++) {
		write_file(i, "x");
		path_of(p, sizeof(p), i);
		assert_int_equal(truncate(p, big), 0);
		fd = kernel_cache_get(p, &err);
		assert_true(fd >= 0);
		ino[i] = inode(fd);
		close(fd);
	}
	path_of(p, sizeof(p), 3); /* kept */
	fd = kernel_cache_get(p, &err);
	assert_int_equal(inode(fd), ino[3]);
	close(fd);
	path_of(p, sizeof(p), 2); /* kept */
	fd = kernel_cache_get(p, &err);
	assert_int_equal(inode(fd), ino[2]);
	close(fd);
	path_of(p, sizeof(p), 1); /* dropped for k3: copied again */
	fd = kernel_cache_get(p, &err);
	assert_int_not_equal(inode(fd), ino[1]);
	close(fd);
}

/* Bad files: a clear error naming the path. */
static void test_bad_files(void **state)
{
	struct error err = { 0 };
	char p[96];

	(void)state;
	path_of(p, sizeof(p), 9);
	assert_int_equal(kernel_cache_get(p, &err), -ENOENT);
	assert_non_null(strstr(err.msg, p));
	assert_int_equal(kernel_cache_get(dir, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
	write_file(0, "");
	path_of(p, sizeof(p), 0);
	assert_int_equal(kernel_cache_get(p, &err), -EINVAL);
	/* larger than a copy may be (sparse: nothing is read) */
	assert_int_equal(truncate(p, (off_t)KERNEL_CACHE_FILE_MAX + 1), 0);
	assert_int_equal(kernel_cache_get(p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "128 MiB"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_sealed_and_kept,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_least_recently_used_goes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bytes_bounded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
