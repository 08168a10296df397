/* Unit tests of the inventory: a database in a fresh temp directory each. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/inventory.h"
#include "inventory_fixture.h"

static int setup(void **state)
{
	return inventory_fixture_setup(state);
}

static int teardown(void **state)
{
	return inventory_fixture_teardown(state);
}

static struct vmdef *make_def(const char *name, bool autostart)
{
	struct vmdef *d = malloc(sizeof(*d));
	struct error err = { 0 };
	char json[256];

	assert_non_null(d);
	snprintf(json, sizeof(json),
		 "{\"name\":\"%s\",\"boot\":{\"kernel\":\"/k\"},"
		 "\"autostart\":%s}",
		 name, autostart ? "true" : "false");
	if (vmdef_parse(json, d, &err))
		fail_msg("%s", err.msg);
	return d;
}

static int64_t create(struct inventory *inv, const char *name, bool autostart)
{
	struct vmdef *d = make_def(name, autostart);
	struct error err = { 0 };
	int64_t id = 0;

	if (inventory_vm_create(inv, d, &id, &err))
		fail_msg("%s", err.msg);
	free(d);
	return id;
}

static void test_crud(void **state)
{
	struct fixture *f = *state;
	struct inventory_vm vm, *list;
	struct vmdef *def = malloc(sizeof(*def)), *d2;
	struct error err = { 0 };
	struct stat sb;
	char path[128];
	size_t n;
	int64_t a = create(f->inv, "alpha", false);
	int64_t b = create(f->inv, "beta", true);

	snprintf(path, sizeof(path), "%s/inventory.db", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_true(a > 0 && b > a);
	assert_int_equal(inventory_vm_get(f->inv, b, &vm, &err), 0);
	assert_string_equal(vm.name, "beta");
	assert_int_equal(vm.state, VM_STATE_DEFINED);
	assert_true(vm.autostart);
	assert_true(vm.created_ms > 0);
	assert_int_equal(vmdef_parse(vm.definition, def, &err), 0);
	assert_string_equal(def->name, "beta");
	inventory_vm_clear(&vm);

	assert_int_equal(inventory_vm_get_by_name(f->inv, "alpha", &vm, &err),
			 0);
	assert_int_equal(vm.id, a);
	inventory_vm_clear(&vm);
	assert_int_equal(inventory_vm_get_by_name(f->inv, "gamma", &vm, &err),
			 -ENOENT);
	assert_string_equal(err.msg, "vm 'gamma' not found");
	assert_int_equal(inventory_vm_get(f->inv, 999, &vm, &err), -ENOENT);

	assert_int_equal(inventory_vm_list(f->inv, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "alpha");
	assert_string_equal(list[1].name, "beta");
	inventory_vm_list_free(list, n);

	/* update: resize and rename */
	def->cpus = 8;
	snprintf(def->name, sizeof(def->name), "beta2");
	assert_int_equal(inventory_vm_update(f->inv, b, def, &err), 0);
	assert_int_equal(inventory_vm_get_by_name(f->inv, "beta2", &vm, &err),
			 0);
	d2 = malloc(sizeof(*d2));
	assert_int_equal(vmdef_parse(vm.definition, d2, &err), 0);
	assert_int_equal(d2->cpus, 8);
	inventory_vm_clear(&vm);
	snprintf(def->name, sizeof(def->name), "ALPHA");
	assert_int_equal(inventory_vm_update(f->inv, b, def, &err), -EEXIST);
	assert_int_equal(inventory_vm_update(f->inv, 999, d2, &err), -ENOENT);

	/* state and delete */
	assert_int_equal(
		inventory_vm_set_state(f->inv, a, VM_STATE_RUNNING, &err), 0);
	assert_int_equal(inventory_vm_delete(f->inv, a, &err), -EBUSY);
	assert_string_equal(err.msg, "vm 'alpha' is running; stop it first");
	assert_int_equal(
		inventory_vm_set_state(f->inv, a, VM_STATE_PAUSED, &err), 0);
	assert_int_equal(inventory_vm_delete(f->inv, a, &err), -EBUSY);
	assert_int_equal(
		inventory_vm_set_state(f->inv, a, VM_STATE_STOPPED, &err), 0);
	assert_int_equal(inventory_vm_delete(f->inv, a, &err), 0);
	assert_int_equal(inventory_vm_delete(f->inv, a, &err), -ENOENT);
	assert_int_equal(
		inventory_vm_set_state(f->inv, a, VM_STATE_RUNNING, &err),
		-ENOENT);
	assert_int_equal(inventory_vm_list(f->inv, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	inventory_vm_list_free(list, n);
	/* ids are not reused */
	assert_true(create(f->inv, "alpha", false) > b);
	free(def);
	free(d2);
}

static void test_duplicate(void **state)
{
	struct fixture *f = *state;
	struct vmdef *d = make_def("Web", false);
	struct error err = { 0 };

	create(f->inv, "web", false);
	assert_int_equal(inventory_vm_create(f->inv, d, NULL, &err), -EEXIST);
	assert_string_equal(err.msg, "vm 'Web' already exists");
	free(d);
}

static void test_states(void **state)
{
	enum vm_state s;

	for (unsigned i = VM_STATE_DEFINED; i <= VM_STATE_LAST; i++) {
		assert_int_equal(vm_state_parse(vm_state_name(i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(vm_state_name(VM_STATE_PAUSED), "paused");
	assert_int_equal(vm_state_parse("bogus", &s), -EINVAL);
}

static void test_events(void **state)
{
	struct fixture *f = *state;
	struct inventory_event *ev;
	struct error err = { 0 };
	size_t n;

	assert_int_equal(inventory_event_add(f->inv, "a", "cli", "create", "ok",
					     NULL, &err),
			 0);
	assert_int_equal(inventory_event_add(f->inv, "b", "token:ci", "start",
					     "failed", "no such kernel", &err),
			 0);
	assert_int_equal(inventory_event_add(f->inv, NULL, "daemon", "startup",
					     "ok", NULL, &err),
			 0);
	assert_int_equal(
		inventory_event_add(f->inv, "a", NULL, "x", "ok", NULL, &err),
		-EINVAL);

	assert_int_equal(
		inventory_event_list(f->inv, NULL, 0, 0, &ev, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ev[1].vm, "b");
	assert_string_equal(ev[1].actor, "token:ci");
	assert_string_equal(ev[1].action, "start");
	assert_string_equal(ev[1].result, "failed");
	assert_string_equal(ev[1].message, "no such kernel");
	assert_string_equal(ev[2].vm, "");
	assert_true(ev[0].id < ev[1].id && ev[1].id < ev[2].id);
	assert_true(ev[0].time_ms > 0);
	int64_t first = ev[0].id;
	free(ev);

	assert_int_equal(inventory_event_list(f->inv, "a", 0, 0, &ev, &n, &err),
			 0);
	assert_int_equal(n, 1);
	free(ev);
	assert_int_equal(
		inventory_event_list(f->inv, NULL, first, 1, &ev, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].vm, "b");
	free(ev);
}

static void test_tokens(void **state)
{
	struct fixture *f = *state;
	char secret[INVENTORY_SECRET_MAX], secret2[INVENTORY_SECRET_MAX];
	char bad[INVENTORY_SECRET_MAX];
	struct inventory_token tok, *list;
	struct error err = { 0 };
	int64_t id;
	size_t n;

	assert_int_equal(
		inventory_token_create(f->inv, "ci", secret, &id, &err), 0);
	assert_int_equal(strncmp(secret, "svt_", 4), 0);
	assert_int_equal(
		inventory_token_create(f->inv, "ci", secret2, NULL, &err),
		-EEXIST);
	assert_int_equal(inventory_token_create(f->inv, "has space", secret2,
						NULL, &err),
			 -EINVAL);
	assert_int_equal(
		inventory_token_create(f->inv, "ops", secret2, NULL, &err), 0);
	assert_string_not_equal(secret, secret2);

	assert_int_equal(inventory_token_verify(f->inv, secret, &tok, &err), 0);
	assert_int_equal(tok.id, id);
	assert_string_equal(tok.name, "ci");
	assert_int_equal(inventory_token_verify(f->inv, secret2, NULL, &err),
			 0);

	/* a wrong secret: one digit changed, another id, garbage */
	snprintf(bad, sizeof(bad), "%s", secret);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
	assert_int_equal(inventory_token_verify(f->inv, bad, NULL, &err),
			 -EACCES);
	assert_string_equal(err.msg, "invalid or revoked token");
	snprintf(bad, sizeof(bad), "svt_999%s", strchr(secret, '_') + 0);
	assert_int_equal(inventory_token_verify(f->inv, bad, NULL, &err),
			 -EACCES);
	assert_int_equal(inventory_token_verify(f->inv, "", NULL, &err),
			 -EACCES);
	assert_int_equal(inventory_token_verify(f->inv, NULL, NULL, &err),
			 -EACCES);
	assert_int_equal(inventory_token_verify(f->inv, "svt_1_zz", NULL, &err),
			 -EACCES);

	/* revoke */
	assert_int_equal(inventory_token_revoke(f->inv, "ci", &err), 0);
	assert_int_equal(inventory_token_verify(f->inv, secret, NULL, &err),
			 -EACCES);
	assert_int_equal(inventory_token_revoke(f->inv, "ci", &err), -ENOENT);
	assert_int_equal(inventory_token_verify(f->inv, secret2, NULL, &err),
			 0);
	/* the name is free again; the old secret stays dead */
	assert_int_equal(inventory_token_create(f->inv, "ci", bad, NULL, &err),
			 0);
	assert_int_equal(inventory_token_verify(f->inv, secret, NULL, &err),
			 -EACCES);
	assert_int_equal(inventory_token_verify(f->inv, bad, NULL, &err), 0);

	assert_int_equal(inventory_token_list(f->inv, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_true(list[0].revoked_ms > 0);
	assert_int_equal(list[1].revoked_ms, 0);
	free(list);
}

/* The secret itself never reaches the database file. */
static void test_secret_not_stored(void **state)
{
	struct fixture *f = *state;
	char secret[INVENTORY_SECRET_MAX], path[128], *buf;
	struct error err = { 0 };
	FILE *fp;
	size_t len;

	assert_int_equal(
		inventory_token_create(f->inv, "t", secret, NULL, &err), 0);
	inventory_close(f->inv);
	f->inv = NULL;
	snprintf(path, sizeof(path), "%s/inventory.db", f->dir);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	buf = calloc(1, 1 << 20);
	len = fread(buf, 1, (1 << 20) - 1, fp);
	fclose(fp);
	assert_true(len > 0);
	assert_null(memmem(buf, len, strrchr(secret, '_') + 1, 64));
	free(buf);
	assert_int_equal(inventory_open(f->dir, &f->inv, &err), 0);
	assert_int_equal(inventory_token_verify(f->inv, secret, NULL, &err), 0);
}

static void test_restart(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	struct inventory_vm vm;
	struct inventory_event *ev;
	int64_t *ids;
	size_t n, nev;
	int64_t a = create(f->inv, "a", true);
	int64_t b = create(f->inv, "b", false);
	int64_t c = create(f->inv, "c", true);
	int64_t d = create(f->inv, "d", true);
	int64_t e = create(f->inv, "e", true);

	/* suspended (schema 4): kept as is across a restart, its state
	 * file on disk is what it continues from */
	assert_int_equal(
		inventory_vm_set_state(f->inv, e, VM_STATE_SUSPENDED, &err), 0);
	assert_int_equal(
		inventory_vm_set_state(f->inv, a, VM_STATE_RUNNING, &err), 0);
	assert_int_equal(
		inventory_vm_set_state(f->inv, b, VM_STATE_RUNNING, &err), 0);
	assert_int_equal(
		inventory_vm_set_state(f->inv, c, VM_STATE_PAUSED, &err), 0);
	assert_int_equal(
		inventory_vm_set_state(f->inv, d, VM_STATE_STOPPED, &err), 0);
	/* the daemon "dies" and starts again */
	inventory_close(f->inv);
	assert_int_equal(inventory_open(f->dir, &f->inv, &err), 0);
	assert_int_equal(
		inventory_mark_crashed_on_restart(f->inv, &ids, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], a);
	assert_int_equal(ids[1], c);
	free(ids);
	for (int64_t id = a; id <= c; id++) {
		assert_int_equal(inventory_vm_get(f->inv, id, &vm, &err), 0);
		assert_int_equal(vm.state, VM_STATE_CRASHED);
		inventory_vm_clear(&vm);
	}
	assert_int_equal(inventory_vm_get(f->inv, d, &vm, &err), 0);
	assert_int_equal(vm.state, VM_STATE_STOPPED);
	inventory_vm_clear(&vm);
	assert_int_equal(inventory_vm_get(f->inv, e, &vm, &err), 0);
	assert_int_equal(vm.state, VM_STATE_SUSPENDED);
	inventory_vm_clear(&vm);
	assert_int_equal(
		inventory_event_list(f->inv, NULL, 0, 0, &ev, &nev, &err), 0);
	assert_int_equal(nev, 3);
	assert_string_equal(ev[2].vm, "c");
	assert_string_equal(ev[2].actor, "daemon");
	assert_string_equal(ev[2].result, "crashed");
	free(ev);
	/* nothing left to mark */
	assert_int_equal(
		inventory_mark_crashed_on_restart(f->inv, NULL, &n, &err), 0);
	assert_int_equal(n, 0);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	struct inventory_vm vm;
	struct vmdef *d = make_def("keep", true);
	char *orig = vmdef_to_json(d);
	int64_t id = create(f->inv, "keep", true);

	assert_int_equal(inventory_event_add(f->inv, "keep", "cli", "create",
					     "ok", NULL, &err),
			 0);
	inventory_close(f->inv);
	assert_int_equal(inventory_open(f->dir, &f->inv, &err), 0);
	assert_int_equal(inventory_vm_get_by_name(f->inv, "keep", &vm, &err),
			 0);
	assert_int_equal(vm.id, id);
	assert_string_equal(vm.definition, orig);
	inventory_vm_clear(&vm);
	free(orig);
	free(d);
}

static void test_newer_schema(void **state)
{
	char dir[] = "/tmp/sv-inv-XXXXXX", cmd[256];
	struct inventory *inv;
	struct error err = { 0 };

	assert_non_null(mkdtemp(dir));
	assert_int_equal(inventory_open(dir, &inv, &err), 0);
	inventory_close(inv);
	snprintf(cmd, sizeof(cmd),
		 "command -v sqlite3 >/dev/null || exit 77; "
		 "sqlite3 %s/inventory.db 'PRAGMA user_version = 99'",
		 dir);
	int rc = system(cmd);
	if (rc == 0) {
		assert_int_equal(inventory_open(dir, &inv, &err), -EPROTO);
		assert_non_null(strstr(err.msg, "schema version 99"));
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	/* a state directory that cannot be created */
	assert_true(inventory_open("/proc/no/such", &inv, &err) < 0);
}

/* Migration 4 rebuilds the vms table (the suspended state): rows, ids and
 * the AUTOINCREMENT sequence survive (ids are never reused). Run again
 * over a current database by setting user_version back to 3. */
static void test_migration_4(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	struct inventory_vm vm;
	char cmd[256];
	int64_t a = create(f->inv, "a", false);
	int64_t b = create(f->inv, "b", false);

	assert_int_equal(
		inventory_vm_set_state(f->inv, a, VM_STATE_PAUSED, &err), 0);
	assert_int_equal(inventory_vm_delete(f->inv, b, &err), 0);
	inventory_close(f->inv);
	snprintf(cmd, sizeof(cmd),
		 "command -v sqlite3 >/dev/null || exit 77; "
		 "sqlite3 %s/inventory.db 'PRAGMA user_version = 3'",
		 f->dir);
	int rc = system(cmd);
	assert_int_equal(inventory_open(f->dir, &f->inv, &err), 0);
	if (rc != 0)
		skip();
	assert_int_equal(inventory_vm_get(f->inv, a, &vm, &err), 0);
	assert_string_equal(vm.name, "a");
	assert_int_equal(vm.state, VM_STATE_PAUSED);
	inventory_vm_clear(&vm);
	assert_int_equal(
		inventory_vm_set_state(f->inv, a, VM_STATE_SUSPENDED, &err), 0);
	assert_true(create(f->inv, "c", false) > b);
}

#define N_THREADS  8
#define PER_THREAD 25

struct worker {
	struct inventory *inv;
	int index;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct vmdef *d = malloc(sizeof(*d));
	char json[256];

	for (int i = 0; d && i < PER_THREAD; i++) {
		struct error err = { 0 };
		struct inventory_vm vm;
		int64_t id;

		snprintf(json, sizeof(json),
			 "{\"name\":\"t%d-vm%d\",\"boot\":{\"kernel\":\"/k\"}}",
			 w->index, i);
		if (vmdef_parse(json, d, &err) ||
		    inventory_vm_create(w->inv, d, &id, &err) ||
		    inventory_event_add(w->inv, d->name, "test", "create", "ok",
					NULL, &err) ||
		    inventory_vm_set_state(w->inv, id, VM_STATE_RUNNING,
					   &err) ||
		    inventory_vm_get(w->inv, id, &vm, &err)) {
			w->failures++;
			continue;
		}
		inventory_vm_clear(&vm);
		/* everybody also races for one shared name */
		snprintf(d->name, sizeof(d->name), "shared");
		if (inventory_vm_create(w->inv, d, NULL, &err) == 0)
			w->failures -= 1000;
		else if (err.code != EEXIST)
			w->failures++;
	}
	free(d);
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t t[N_THREADS];
	struct worker w[N_THREADS];
	struct inventory_vm *list;
	struct inventory_event *ev;
	struct error err = { 0 };
	size_t n;
	int winners = 0;

	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){ f->inv, i, 0 };
		assert_int_equal(
			pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failures < 0) {
			winners++;
			w[i].failures += 1000;
		}
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(winners, 1);
	assert_int_equal(inventory_vm_list(f->inv, &list, &n, &err), 0);
	assert_int_equal(n, N_THREADS * PER_THREAD + 1);
	inventory_vm_list_free(list, n);
	assert_int_equal(
		inventory_event_list(f->inv, NULL, 0, 1000, &ev, &n, &err), 0);
	assert_int_equal(n, N_THREADS * PER_THREAD);
	free(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup,
						teardown),
		cmocka_unit_test(test_states),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_not_stored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_migration_4, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test(test_newer_schema),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
