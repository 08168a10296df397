/*
 * The inventory's audit log (src/api/inventory_audit.c): records, filters
 * and order, append-only enforcement, and the schema migration that adds
 * it to an inventory written by an earlier softvisor (schema 1).
 */
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

static void rm_dir(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void add(struct inventory *inv, int64_t t, const char *principal,
		int64_t uid, const char *action, const char *target, int status)
{
	struct inventory_audit a = { .time_ms = t,
				     .uid = uid,
				     .status = status,
				     .token_id = uid < 0 ? 42 : 0 };
	struct error err = { 0 };

	snprintf(a.principal, sizeof(a.principal), "%s", principal);
	snprintf(a.source, sizeof(a.source), "%s",
		 uid >= 0 ? "unix" : "127.0.0.1:4000");
	snprintf(a.action, sizeof(a.action), "%s", action);
	snprintf(a.target, sizeof(a.target), "%s", target);
	if (inventory_audit_add(inv, &a, &err))
		fail_msg("%s", err.msg);
}

static void test_records(void **state)
{
	struct fixture *f = *state;
	struct inventory_audit *a;
	struct error err = { 0 };
	size_t n;

	add(f->inv, 1000, "local", 1000, "vm.create", "web1", 201);
	add(f->inv, 2000, "token:ci", -1, "vm.start", "web1", 200);
	add(f->inv, 3000, "token:ci", -1, "vm.start", "web1", 409);
	add(f->inv, 4000, "local", 0, "token.create", "web1", 201);
	add(f->inv, 5000, "local", 1000, "vm.delete", "db", 204);
	add(f->inv, 6000, "unauthenticated", -1, "vm.stop", "WEB1", 401);

	/* all, oldest first, every field back */
	assert_int_equal(inventory_audit_list(f->inv, 0, NULL, 0, &a, &n, &err),
			 0);
	assert_int_equal(n, 6);
	assert_true(a[0].id < a[1].id);
	assert_int_equal(a[0].time_ms, 1000);
	assert_string_equal(a[0].principal, "local");
	assert_int_equal(a[0].uid, 1000);
	assert_string_equal(a[0].source, "unix");
	assert_string_equal(a[0].action, "vm.create");
	assert_string_equal(a[0].target, "web1");
	assert_int_equal(a[0].status, 201);
	assert_int_equal(a[1].uid, -1); /* NULL in the table */
	assert_int_equal(a[1].token_id, 42);
	assert_int_equal(a[0].token_id, 0);
	assert_string_equal(a[2].source, "127.0.0.1:4000");
	assert_int_equal(a[2].status, 409);
	free(a);

	/* vm: its calls only (case-insensitive like VM names), not a token
	 * of the same name */
	assert_int_equal(
		inventory_audit_list(f->inv, 0, "web1", 0, &a, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(a[0].action, "vm.create");
	assert_string_equal(a[3].principal, "unauthenticated");
	free(a);

	/* since (inclusive) and limit: the newest, still oldest first */
	assert_int_equal(
		inventory_audit_list(f->inv, 3000, NULL, 0, &a, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(a[0].time_ms, 3000);
	free(a);
	assert_int_equal(inventory_audit_list(f->inv, 0, NULL, 2, &a, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(a[0].time_ms, 5000);
	assert_int_equal(a[1].time_ms, 6000);
	free(a);

	/* time 0: now */
	add(f->inv, 0, "local", 1, "vm.pause", "x", 200);
	assert_int_equal(inventory_audit_list(f->inv, 0, "x", 0, &a, &n, &err),
			 0);
	assert_int_equal(n, 1);
	assert_true(a[0].time_ms > 1700000000000LL);
	free(a);

	/* required fields */
	struct inventory_audit bad = { .uid = -1 };
	assert_int_equal(inventory_audit_add(f->inv, &bad, &err), -EINVAL);
}

static sqlite3 *db_open(const char *dir)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/%s", dir, INVENTORY_FILE);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	return db;
}

/* Another program with write access still cannot rewrite history. */
static void test_append_only(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;

	add(f->inv, 1000, "local", 0, "vm.start", "web1", 200);
	db = db_open(f->dir);
	assert_int_not_equal(
		sqlite3_exec(db, "UPDATE audit SET principal = 'nobody'", NULL,
			     NULL, NULL),
		SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
	assert_int_not_equal(
		sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
}

/* Schema 1 as softvisor wrote it before the audit log (inventory.c's
 * first migration step, verbatim). */
static const char schema1[] =
	"CREATE TABLE vms ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" definition TEXT NOT NULL CHECK (json_valid(definition)),"
	" state TEXT NOT NULL CHECK (state IN ('defined', 'running',"
	"  'paused', 'stopped', 'crashed')),"
	" autostart INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL,"
	" vm TEXT NOT NULL DEFAULT '',"
	" actor TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" result TEXT NOT NULL,"
	" message TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX events_vm ON events (vm, id);"
	"CREATE TABLE tokens ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL,"
	" salt BLOB NOT NULL,"
	" hash BLOB NOT NULL,"
	" created INTEGER NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX tokens_name ON tokens (name) WHERE revoked = 0;"
	"PRAGMA user_version = 1;"
	"INSERT INTO vms (name, definition, state, created, updated) VALUES"
	" ('old1', '{\"name\":\"old1\",\"boot\":{\"kernel\":\"/k\"}}',"
	"  'stopped', 1, 2);"
	"INSERT INTO events (time, vm, actor, action, result)"
	" VALUES (5, 'old1', 'unix', 'create', 'ok');"
	"INSERT INTO tokens (name, salt, hash, created)"
	" VALUES ('oldtok', x'00', x'00', 7);";

static void test_migrate_from_1(void **state)
{
	(void)state;
	char dir[] = "/tmp/sv-audit-XXXXXX";
	struct inventory *inv;
	struct inventory_vm vm;
	struct inventory_event *ev;
	struct inventory_audit *a;
	struct error err = { 0 };
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t n;

	assert_non_null(mkdtemp(dir));
	db = db_open(dir);
	assert_int_equal(sqlite3_exec(db, schema1, NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	if (inventory_open(dir, &inv, &err))
		fail_msg("%s", err.msg);
	/* what was there is still there */
	assert_int_equal(inventory_vm_get_by_name(inv, "old1", &vm, &err), 0);
	assert_int_equal(vm.state, VM_STATE_STOPPED);
	inventory_vm_clear(&vm);
	assert_int_equal(inventory_event_list(inv, "old1", 0, 0, &ev, &n, &err),
			 0);
	assert_int_equal(n, 1);
	free(ev);
	/* a token made before roles is an unscoped admin, never expires */
	struct inventory_token *tok;
	assert_int_equal(inventory_token_list(inv, &tok, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(tok[0].name, "oldtok");
	assert_int_equal(tok[0].grant.role, GRANT_ADMIN);
	assert_int_equal(tok[0].grant.n_vms, 0);
	assert_int_equal(tok[0].expires_ms, 0);
	free(tok);
	/* and the audit log works */
	add(inv, 0, "local", 0, "vm.start", "old1", 200);
	assert_int_equal(inventory_audit_list(inv, 0, NULL, 0, &a, &n, &err),
			 0);
	assert_int_equal(n, 1);
	free(a);
	inventory_close(inv);

	db = db_open(dir);
	assert_int_equal(
		sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), INVENTORY_SCHEMA_VERSION);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* opening again migrates nothing and keeps the record */
	assert_int_equal(inventory_open(dir, &inv, &err), 0);
	assert_int_equal(inventory_audit_list(inv, 0, NULL, 0, &a, &n, &err),
			 0);
	assert_int_equal(n, 1);
	free(a);
	inventory_close(inv);
	rm_dir(dir);
}

/* Tokens keep their role, VM scope and expiry; an expired one is
 * refused like a revoked one. */
static void test_token_grants(void **state)
{
	struct fixture *f = *state;
	char secret[INVENTORY_SECRET_MAX], old[INVENTORY_SECRET_MAX];
	struct inventory_token t, *list;
	struct error err = { 0 };
	struct grant g;
	size_t n;

	grant_admin(&g);
	g.role = GRANT_OPERATOR;
	assert_int_equal(grant_vms_parse("web1,db-2", &g, &err), 0);
	assert_int_equal(inventory_token_create_grant(f->inv, "ops", &g, 0,
						      secret, NULL, &err),
			 0);
	assert_int_equal(inventory_token_verify(f->inv, secret, &t, &err), 0);
	assert_int_equal(t.grant.role, GRANT_OPERATOR);
	assert_int_equal(t.grant.n_vms, 2);
	assert_string_equal(t.grant.vms[1], "db-2");
	assert_true(grant_vm(&t.grant, "WEB1"));
	assert_false(grant_vm(&t.grant, "web"));

	/* expired (1 ms after the epoch) and not yet expired */
	g.role = GRANT_READ_ONLY;
	g.n_vms = 0;
	assert_int_equal(inventory_token_create_grant(f->inv, "old", &g, 1, old,
						      NULL, &err),
			 0);
	assert_int_equal(inventory_token_verify(f->inv, old, NULL, &err),
			 -EACCES);
	assert_int_equal(inventory_token_create_grant(f->inv, "later", &g,
						      4102444800000LL, secret,
						      NULL, &err),
			 0);
	assert_int_equal(inventory_token_verify(f->inv, secret, &t, &err), 0);
	assert_int_equal(t.grant.role, GRANT_READ_ONLY);
	assert_int_equal(inventory_token_list(f->inv, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(list[1].expires_ms, 1);
	assert_int_equal(list[2].grant.role, GRANT_READ_ONLY);
	free(list);

	/* the pure parts */
	struct grant p;
	assert_int_equal(grant_vms_parse("a,,b", &p, &err), -EINVAL);
	assert_int_equal(grant_vms_parse("a b", &p, &err), -EINVAL);
	assert_int_equal(grant_vms_parse("", &p, &err), 0);
	assert_int_equal(p.n_vms, 0);
	enum grant_role role;
	assert_int_equal(grant_role_parse("administrator", &role), 0);
	assert_int_equal(role, GRANT_ADMIN);
	assert_int_equal(grant_role_parse("root", &role), -EINVAL);
	p.role = GRANT_OPERATOR;
	assert_true(grant_has(&p, GRANT_READ | GRANT_POWER));
	assert_false(grant_has(&p, GRANT_CONFIGURE));
	assert_false(grant_has(&p, GRANT_AUDIT));
	p.role = GRANT_READ_ONLY;
	assert_false(grant_has(&p, GRANT_POWER));
	assert_string_equal(grant_roles_with(GRANT_POWER), "operator or admin");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_only, setup,
						teardown),
		cmocka_unit_test(test_migrate_from_1),
		cmocka_unit_test_setup_teardown(test_token_grants, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
