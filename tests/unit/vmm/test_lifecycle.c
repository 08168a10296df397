/* Unit tests of the VM lifecycle state machine (vmm/lifecycle.c): every
 * operation in every state, where it leads, the end of a machine, names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/lifecycle.h"

#define D VM_STATE_DEFINED
#define R VM_STATE_RUNNING
#define P VM_STATE_PAUSED
#define S VM_STATE_STOPPED
#define C VM_STATE_CRASHED
#define U VM_STATE_SUSPENDED

static void test_allowed(void **state)
{
	(void)state;
	/* allowed[op][state] */
	/* states: D R P S C U */
	static const bool allowed[8][6] = {
		[VM_OP_START] = { 1, 0, 0, 1, 1, 1 },
		[VM_OP_STOP] = { 0, 1, 1, 0, 0, 1 },
		[VM_OP_SHUTDOWN] = { 0, 1, 0, 0, 0, 0 },
		[VM_OP_PAUSE] = { 0, 1, 0, 0, 0, 0 },
		[VM_OP_RESUME] = { 0, 0, 1, 0, 0, 1 },
		[VM_OP_RESET] = { 0, 1, 0, 0, 0, 0 },
		[VM_OP_DELETE] = { 1, 0, 0, 1, 1, 1 },
		[VM_OP_SUSPEND] = { 0, 1, 1, 0, 0, 0 },
	};
	for (int op = 0; op < 8; op++)
		for (int st = 0; st < 6; st++) {
			struct error err = { 0 };
			int r = vm_lifecycle_check((enum vm_state)st,
						   (enum vm_op)op, "vm1", &err);
			assert_int_equal(r, allowed[op][st] ? 0 : -EBUSY);
			if (r)
				assert_non_null(strstr(err.msg, "vm1 is "));
		}
}

static void test_messages(void **state)
{
	(void)state;
	struct error err = { 0 };
	vm_lifecycle_check(R, VM_OP_START, "a", &err);
	assert_string_equal(err.msg, "a is already running");
	vm_lifecycle_check(S, VM_OP_STOP, "a", &err);
	assert_string_equal(err.msg, "a is stopped, not running");
	vm_lifecycle_check(R, VM_OP_RESUME, "a", &err);
	assert_string_equal(err.msg, "a is running, not paused or suspended");
	vm_lifecycle_check(S, VM_OP_SUSPEND, "a", &err);
	assert_string_equal(err.msg, "a is stopped, not running");
	vm_lifecycle_check(P, VM_OP_DELETE, "a", &err);
	assert_string_equal(err.msg, "a is paused: stop it before deleting it");
	assert_int_equal(
		vm_lifecycle_check((enum vm_state)9, VM_OP_START, "a", &err),
		-EINVAL);
	assert_int_equal(vm_lifecycle_check(R, (enum vm_op)42, "a", &err),
			 -EINVAL);
}

static void test_transitions(void **state)
{
	(void)state;
	assert_int_equal(vm_lifecycle_next(D, VM_OP_START), R);
	assert_int_equal(vm_lifecycle_next(C, VM_OP_START), R);
	assert_int_equal(vm_lifecycle_next(R, VM_OP_PAUSE), P);
	assert_int_equal(vm_lifecycle_next(P, VM_OP_RESUME), R);
	assert_int_equal(vm_lifecycle_next(P, VM_OP_STOP), S);
	assert_int_equal(vm_lifecycle_next(R, VM_OP_RESET), R);
	assert_int_equal(vm_lifecycle_next(R, VM_OP_SHUTDOWN), R);
	assert_int_equal(vm_lifecycle_next(R, VM_OP_SUSPEND), U);
	assert_int_equal(vm_lifecycle_next(P, VM_OP_SUSPEND), U);
	assert_int_equal(vm_lifecycle_next(U, VM_OP_START), R);
	assert_int_equal(vm_lifecycle_next(U, VM_OP_RESUME), R);
	assert_int_equal(vm_lifecycle_next(U, VM_OP_STOP), S);
	assert_int_equal(vm_lifecycle_ended(VIRT_END_POWEROFF), S);
	assert_int_equal(vm_lifecycle_ended(VIRT_END_STOPPED), S);
	assert_int_equal(vm_lifecycle_ended(VIRT_END_CRASHED), C);
	assert_int_equal(vm_lifecycle_ended(VIRT_END_PANICKED), C);
	assert_true(vm_state_live(R) && vm_state_live(P));
	assert_false(vm_state_live(D) || vm_state_live(S) || vm_state_live(C) ||
		     vm_state_live(U));
}

static void test_names(void **state)
{
	(void)state;
	for (int st = 0; st < 6; st++) {
		enum vm_state back;
		assert_int_equal(
			vm_state_parse(vm_state_name((enum vm_state)st), &back),
			0);
		assert_int_equal(back, st);
	}
	enum vm_state x;
	assert_int_equal(vm_state_parse("zombie", &x), -EINVAL);
	assert_int_equal(vm_state_parse(NULL, &x), -EINVAL);
	assert_string_equal(vm_state_name((enum vm_state)77), "?");
	assert_string_equal(vm_op_name(VM_OP_RESUME), "resume");
	assert_string_equal(vm_op_name(VM_OP_SUSPEND), "suspend");
	assert_string_equal(vm_state_name(U), "suspended");
	assert_string_equal(vm_op_name((enum vm_op)77), "?");
}

static void test_restart_rate(void **state)
{
	(void)state;
	struct vm_restarts r = { 0 };
	/* 3 per 60 s: the fourth within the minute is refused */
	assert_true(vm_restarts_take(&r, 1000, 3, 60000));
	assert_true(vm_restarts_take(&r, 2000, 3, 60000));
	assert_true(vm_restarts_take(&r, 3000, 3, 60000));
	assert_int_equal(vm_restarts_recent(&r, 3000, 60000), 3);
	assert_false(vm_restarts_take(&r, 4000, 3, 60000));
	assert_false(vm_restarts_take(&r, 60999, 3, 60000));
	/* the first one left the window */
	assert_true(vm_restarts_take(&r, 61000, 3, 60000));
	assert_false(vm_restarts_take(&r, 61500, 3, 60000));
	assert_int_equal(vm_restarts_recent(&r, 200000, 60000), 0);
	/* limit 0: never; a limit above the memory is capped */
	struct vm_restarts z = { 0 };
	assert_false(vm_restarts_take(&z, 5, 0, 1000));
	for (unsigned i = 0; i < VM_RESTART_MAX; i++)
		assert_true(vm_restarts_take(&z, 10 + i, 1000, 1000));
	assert_false(vm_restarts_take(&z, 100, 1000, 1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_restart_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
