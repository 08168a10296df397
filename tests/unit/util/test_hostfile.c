/* Unit tests of util/hostfile.h: files a sandboxed process reopens. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/hostfile.h"

static char dir[64], file_a[96], file_b[96];

static int setup(void **state)
{
	strcpy(dir, "/tmp/sv-hostfile-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(file_a, sizeof(file_a), "%s/a", dir);
	snprintf(file_b, sizeof(file_b), "%s/b", dir);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(i ? file_b : file_a, "w");
		if (!f)
			return -1;
		fputs(i ? "bbbb" : "aaaa", f);
		fclose(f);
	}
	return 0;
}

static int teardown(void **state)
{
	hostfile_reset();
	unlink(file_a);
	unlink(file_b);
	rmdir(dir);
	return 0;
}

static void test_plain_open(void **state)
{
	/* neither recording nor sealed: open(2) */
	int fd = hostfile_open(file_b, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(hostfile_count(), 0);
}

static void test_sealed_reopen(void **state)
{
	char buf[4];
	struct stat st;

	hostfile_record();
	int fd = hostfile_open(file_a, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	/* the user's offset moves; a reopen still starts at 0 */
	assert_int_equal(read(fd, buf, 2), 2);
	close(fd);
	assert_int_equal(hostfile_count(), 1);
	hostfile_seal();
	/* the file is gone from the file system: the duplicate still works */
	char moved[128];
	snprintf(moved, sizeof(moved), "%s.moved", file_a);
	assert_int_equal(rename(file_a, moved), 0);
	fd = hostfile_open(file_a, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(read(fd, buf, 4), 4);
	assert_memory_equal(buf, "aaaa", 4);
	close(fd);
	/* read-only is covered by the read-write duplicate */
	fd = hostfile_open(file_a, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(hostfile_stat(file_a, &st), 0);
	assert_int_equal(st.st_size, 4);
	/* a file not opened before the seal cannot be opened */
	errno = 0;
	assert_int_equal(hostfile_open(file_b, O_RDONLY), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(hostfile_stat(file_b, &st), -1);
	assert_int_equal(rename(moved, file_a), 0);
}

/* What an open of path with flags reads: its first four bytes must be
 * want (from the start, whatever the offset of the descriptor it is a
 * duplicate of). */
static void opens_as(const char *path, int flags, const char *want)
{
	char buf[5] = "";
	int fd = hostfile_open(path, flags | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, 4), 4);
	assert_string_equal(buf, want);
	close(fd);
}

/* hostfile_add(path, a memfd holding "cccc", O_RDONLY). */
static void add_copy(const char *path)
{
	int mfd = memfd_create("kernel-copy", MFD_CLOEXEC);

	assert_true(mfd >= 0);
	assert_int_equal(write(mfd, "cccc", 4), 4);
	assert_int_equal(hostfile_add(path, mfd, O_RDONLY), 0);
	close(mfd);
}

/* A descriptor the daemon added stands for its path from then on, also
 * before the seal (a worker's first boot). */
static void test_added_stands_for_path(void **state)
{
	hostfile_record();
	add_copy(file_a);
	opens_as(file_a, O_RDONLY, "cccc");
	opens_as(file_b, O_RDONLY, "bbbb"); /* another path: its own file */
	hostfile_seal();
	opens_as(file_a, O_RDONLY, "cccc");
}

/* Without recording (a worker without the sandbox) too. */
static void test_added_without_recording(void **state)
{
	add_copy(file_a);
	opens_as(file_a, O_RDONLY, "cccc");
	/* not for another mode, nor another path; nothing else recorded */
	opens_as(file_a, O_RDWR, "aaaa");
	opens_as(file_b, O_RDONLY, "bbbb");
	assert_int_equal(hostfile_count(), 1);
}

static void test_mode_not_widened(void **state)
{
	hostfile_record();
	int fd = hostfile_open(file_b, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	hostfile_seal();
	/* recorded read-only: no write access afterwards */
	errno = 0;
	assert_int_equal(hostfile_open(file_b, O_RDWR), -1);
	assert_int_equal(errno, EACCES);
	fd = hostfile_open(file_b, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sealed_reopen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_added_stands_for_path,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_added_without_recording,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_not_widened, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
