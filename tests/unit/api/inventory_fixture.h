/*
 * A fresh inventory in a temporary directory for each cmocka test of the
 * inventory (test_inventory.c, test_inventory_snapshot.c, test_audit.c):
 * inventory_fixture_setup / _teardown as the test's setup and teardown,
 * *state a struct fixture. Header-only: each test program compiles it in.
 */
#ifndef SV_TESTS_INVENTORY_FIXTURE_H
#define SV_TESTS_INVENTORY_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "api/inventory.h"

struct fixture {
	char dir[64];
	struct inventory *inv;
};

static inline int inventory_fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sv-inv-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	if (inventory_open(f->dir, &f->inv, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static inline int inventory_fixture_teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	int r;

	inventory_close(f->inv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	r = system(cmd);
	free(f);
	return r == 0 ? 0 : -1;
}

#endif
