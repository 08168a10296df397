/* Unit tests of reading the kernel's seccomp audit records
 * (vmm/seccomp_audit.c): the record of our pid names the call; other
 * pids, other record types, older records and malformed ones do not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/seccomp_audit.h"

#define KILL                                                               \
	"5,171,55729138224,-;audit: type=1326 audit(1796458153.850:171): " \
	"auid=4294967295 uid=65534 gid=65534 ses=4294967295 pid=19168 "    \
	"comm=\"softvisor\" exe=\"/x/softvisor\" sig=31 arch=c000003e "    \
	"syscall=101 compat=0 ip=0x7f7a3c21b525 code=0x80000000\n"

static bool parse(const char *rec, pid_t pid, uint64_t since, long *nr)
{
	return seccomp_audit_parse(rec, strlen(rec), pid, since, nr);
}

static void test_match(void **state)
{
	(void)state;
	long nr = -1;
	assert_true(parse(KILL, 19168, 0, &nr));
	assert_int_equal(nr, 101);
	/* the timestamp bound is inclusive */
	assert_true(parse(KILL, 19168, 55729138224ull, &nr));
}

static void test_no_match(void **state)
{
	(void)state;
	long nr = -1;
	assert_false(parse(KILL, 1916, 0, &nr));   /* a pid prefix */
	assert_false(parse(KILL, 191688, 0, &nr)); /* a longer pid */
	assert_false(parse(KILL, 19168, 55729138225ull, &nr)); /* older */
	assert_false(parse("6,1,2,-;audit: type=1300 pid=19168 syscall=1\n",
			   19168, 0, &nr));
	/* auid= and ppid= are not pid= */
	assert_false(parse("6,1,2,-;audit: type=1326 ppid=5 syscall=1\n", 5, 0,
			   &nr));
	assert_int_equal(nr, -1);
}

static void test_malformed(void **state)
{
	(void)state;
	long nr = -1;
	static const char *const bad[] = {
		"",
		"no semicolon at all type=1326 pid=5 syscall=1",
		"x,y,z,-;audit: type=1326 pid=5 syscall=1",
		"5,1,2,-;audit: type=1326 pid=5 syscall=",
		"5,1,2,-;audit: type=1326 pid=5 syscall=12x",
		"5,1,2,-;audit: type=1326 pid=5",
		"5,1,2,-;audit: type=1326 pid=99999999999999 syscall=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(parse(bad[i], 5, 0, &nr));
	/* a record cut short inside the prefix */
	assert_false(seccomp_audit_parse(KILL, 5, 19168, 0, &nr));
	assert_int_equal(nr, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_no_match),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
