/* Unit tests of the inventory's snapshot, template and clone records
 * (src/api/inventory_snapshot.c): a database in a fresh temp directory
 * each. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "api/inventory_snapshot.h"
#include "inventory_fixture.h"

static int setup(void **state)
{
	return inventory_fixture_setup(state);
}

static int teardown(void **state)
{
	return inventory_fixture_teardown(state);
}

static int64_t create(struct inventory *inv, const char *name)
{
	struct vmdef *d = malloc(sizeof(*d));
	struct error err = { 0 };
	char json[256];
	int64_t id = 0;

	assert_non_null(d);
	snprintf(json, sizeof(json),
		 "{\"name\":\"%s\",\"boot\":{\"kernel\":\"/k\"}}", name);
	if (vmdef_parse(json, d, &err))
		fail_msg("%s", err.msg);
	if (inventory_vm_create(inv, d, &id, &err))
		fail_msg("%s", err.msg);
	free(d);
	return id;
}

static void test_snapshots(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	int64_t a = create(f->inv, "a"), b = create(f->inv, "b");
	struct inventory_snapshot s = { .created_ms = 1000,
					.disks = "[\"/x/a.qcow2\"]",
					.running = true },
				  got;
	struct inventory_snapshot *l;
	size_t n;

	snprintf(s.name, sizeof(s.name), "s1");
	snprintf(s.description, sizeof(s.description), "before upgrade");
	assert_int_equal(inventory_snapshot_add(f->inv, a, &s, &err), 0);
	/* the same name on the same VM: refused; on another VM: fine */
	assert_int_equal(inventory_snapshot_add(f->inv, a, &s, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "s1"));
	assert_int_equal(inventory_snapshot_add(f->inv, b, &s, &err), 0);
	s.created_ms = 2000;
	s.running = false;
	snprintf(s.name, sizeof(s.name), "s0");
	assert_int_equal(inventory_snapshot_add(f->inv, a, &s, &err), 0);
	/* unknown VM: the foreign key refuses it */
	assert_int_equal(inventory_snapshot_add(f->inv, 999, &s, &err),
			 -ENOENT);

	assert_int_equal(inventory_snapshot_get(f->inv, a, "s1", &got, &err),
			 0);
	assert_string_equal(got.description, "before upgrade");
	assert_string_equal(got.disks, "[\"/x/a.qcow2\"]");
	assert_true(got.running);
	assert_int_equal(got.created_ms, 1000);
	free(got.disks);
	assert_int_equal(inventory_snapshot_get(f->inv, a, "nope", &got, &err),
			 -ENOENT);

	/* oldest first, whatever the names */
	assert_int_equal(inventory_snapshot_list(f->inv, a, &l, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].name, "s1");
	assert_string_equal(l[1].name, "s0");
	assert_false(l[1].running);
	inventory_snapshot_list_free(l, n);

	assert_int_equal(inventory_snapshot_delete(f->inv, a, "s1", &err), 0);
	assert_int_equal(inventory_snapshot_delete(f->inv, a, "s1", &err),
			 -ENOENT);
	/* deleting the VM drops its records, not another VM's */
	assert_int_equal(inventory_vm_delete(f->inv, a, &err), 0);
	assert_int_equal(inventory_snapshot_list(f->inv, a, &l, &n, &err), 0);
	assert_int_equal(n, 0);
	inventory_snapshot_list_free(l, n);
	assert_int_equal(inventory_snapshot_list(f->inv, b, &l, &n, &err), 0);
	assert_int_equal(n, 1);
	inventory_snapshot_list_free(l, n);
}

static void test_templates_and_clones(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	int64_t t = create(f->inv, "tmpl"), c1 = create(f->inv, "web2"),
		c2 = create(f->inv, "web1"), full = create(f->inv, "copy");
	bool is, linked;
	char names[128];
	unsigned n;
	int64_t origin;

	assert_int_equal(inventory_template_get(f->inv, t, &is, &err), 0);
	assert_false(is);
	assert_int_equal(inventory_template_set(f->inv, t, true, &err), 0);
	assert_int_equal(inventory_template_set(f->inv, t, true, &err), 0);
	assert_int_equal(inventory_template_get(f->inv, t, &is, &err), 0);
	assert_true(is);
	assert_int_equal(inventory_template_set(f->inv, 999, true, &err),
			 -ENOENT);

	assert_int_equal(inventory_clone_add(f->inv, c1, t, true, &err), 0);
	assert_int_equal(inventory_clone_add(f->inv, c2, t, true, &err), 0);
	assert_int_equal(inventory_clone_add(f->inv, full, t, false, &err), 0);
	assert_int_equal(inventory_clone_add(f->inv, c1, t, true, &err),
			 -EEXIST);
	/* the linked ones only, by name */
	assert_int_equal(inventory_clone_names(f->inv, t, names, sizeof(names),
					       &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(names, "web1, web2");
	assert_int_equal(
		inventory_clone_origin(f->inv, full, &origin, &linked, &err),
		0);
	assert_int_equal(origin, t);
	assert_false(linked);
	assert_int_equal(
		inventory_clone_origin(f->inv, t, &origin, &linked, &err), 0);
	assert_int_equal(origin, 0);

	/* the database itself keeps a template with linked clones */
	assert_int_not_equal(inventory_vm_delete(f->inv, t, &err), 0);
	assert_int_equal(inventory_vm_delete(f->inv, c1, &err), 0);
	assert_int_equal(inventory_vm_delete(f->inv, c2, &err), 0);
	assert_int_equal(inventory_clone_names(f->inv, t, names, sizeof(names),
					       &n, &err),
			 0);
	assert_int_equal(n, 0);
	assert_string_equal(names, "");
	/* a full clone does not hold it */
	assert_int_equal(inventory_vm_delete(f->inv, t, &err), 0);
	assert_int_equal(inventory_vm_delete(f->inv, full, &err), 0);
}

/* Snapshots with memory: the two later columns round-trip, and a table
 * made before them gains them when an inventory opens it. */
static void test_memory_columns(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	int64_t id = create(f->inv, "m");
	char path[128], sql[512];
	sqlite3 *db;

	inventory_close(f->inv);
	snprintf(path, sizeof(path), "%s/inventory.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE vm_snapshots (vm INTEGER NOT NULL REFERENCES"
		 " vms(id) ON DELETE CASCADE, name TEXT NOT NULL, created"
		 " INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '',"
		 " disks TEXT NOT NULL CHECK (json_valid(disks)), running"
		 " INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (vm, name));"
		 "INSERT INTO vm_snapshots VALUES (%lld, 'old', 5, '',"
		 " '[\"/x/m.qcow2\"]', 1);",
		 (long long)id);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	if (inventory_open(f->dir, &f->inv, &err))
		fail_msg("%s", err.msg);

	struct inventory_snapshot got, s = { .disks = "[\"/x/m.qcow2\"]",
					     .running = true,
					     .paused = true,
					     .memory_bytes = 73289409 };
	assert_int_equal(inventory_snapshot_get(f->inv, id, "old", &got, &err),
			 0);
	assert_true(got.running);
	assert_false(got.paused);
	assert_int_equal(got.memory_bytes, 0);
	free(got.disks);
	snprintf(s.name, sizeof(s.name), "new");
	assert_int_equal(inventory_snapshot_add(f->inv, id, &s, &err), 0);
	assert_int_equal(inventory_snapshot_get(f->inv, id, "new", &got, &err),
			 0);
	assert_true(got.paused);
	assert_int_equal(got.memory_bytes, 73289409);
	free(got.disks);
	struct inventory_snapshot *l;
	size_t n;
	assert_int_equal(inventory_snapshot_list(f->inv, id, &l, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].name, "old");
	assert_int_equal(l[1].memory_bytes, 73289409);
	inventory_snapshot_list_free(l, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshots, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_templates_and_clones,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_columns, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
