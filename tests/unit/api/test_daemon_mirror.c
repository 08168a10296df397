/* Unit tests for the daemons' side of --copy-storage (daemon_mirror.c):
 * the source's checks and query, the destination's new images, the
 * rewritten definition, the clean-up, and the reachability check of a
 * migration without it. Images are in a temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/daemon_impl.h"
#include "block/block.h"
#include "block/image.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/sv-test-mirror-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct daemon *fake_daemon(void)
{
	struct daemon *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	d->cfg.state_dir = dir;
	return d;
}

static char *def_json(const char *name, const char *p0, const char *f0,
		      const char *p1, const char *f1)
{
	json_t *disks = json_array();
	json_array_append_new(
		disks, json_pack("{s:s, s:s}", "path", p0, "format", f0));
	if (p1)
		json_array_append_new(disks, json_pack("{s:s, s:s}", "path", p1,
						       "format", f1));
	json_t *o = json_pack("{s:s, s:o}", "name", name, "disks", disks);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static const char *disk_path(const char *def, unsigned i, char *buf, size_t cap)
{
	json_t *o = json_loads(def, 0, NULL);
	snprintf(buf, cap, "%s",
		 json_string_value(json_object_get(
			 json_array_get(json_object_get(o, "disks"), i),
			 "path")));
	json_decref(o);
	return buf;
}

static void test_incoming_copy(void **state)
{
	(void)state;
	struct daemon *d = fake_daemon();
	struct error err = { 0 };
	struct daemon_mirror_in *mi = NULL;
	char *def = def_json("vm1", "/nowhere/a.qcow2", "qcow2",
			     "/nowhere/b.raw", "raw");
	char p0[4096], p1[4096], want[4096];

	assert_int_equal(daemon_mirror_prepare(d,
					       "copy_storage=1&disk_sizes="
					       "1073741824,4194304",
					       &def, &mi, &err),
			 0);
	assert_non_null(mi);
	snprintf(want, sizeof(want), "%s/disks/vm1-disk0.qcow2", dir);
	assert_string_equal(disk_path(def, 0, p0, sizeof(p0)), want);
	snprintf(want, sizeof(want), "%s/disks/vm1-disk1.raw", dir);
	assert_string_equal(disk_path(def, 1, p1, sizeof(p1)), want);
	struct image_info info;
	assert_int_equal(image_info(p0, &info, &err), 0);
	assert_string_equal(info.format, "qcow2");
	assert_int_equal(info.virtual_size, 1073741824);
	assert_string_equal(info.backing, "");
	assert_int_equal(image_info(p1, &info, &err), 0);
	assert_string_equal(info.format, "raw");
	assert_int_equal(info.virtual_size, 4194304);

	/* a second one of the same name: the next free names */
	struct daemon_mirror_in *mi2 = NULL;
	char *def2 = def_json("vm1", "/x.qcow2", "qcow2", NULL, NULL);
	assert_int_equal(
		daemon_mirror_prepare(d, "disk_sizes=65536&copy_storage=1",
				      &def2, &mi2, &err),
		0);
	snprintf(want, sizeof(want), "%s/disks/vm1-disk0-2.qcow2", dir);
	assert_string_equal(disk_path(def2, 0, p0, sizeof(p0)), want);
	/* failed: removed; succeeded: kept */
	daemon_mirror_done(mi2, false);
	assert_int_equal(access(want, F_OK), -1);
	daemon_mirror_done(mi, true);
	assert_int_equal(access(p1, F_OK), 0);
	free(def);
	free(def2);
	free(d);
}

static void test_incoming_refused(void **state)
{
	(void)state;
	struct daemon *d = fake_daemon();
	struct error err = { 0 };
	struct daemon_mirror_in *mi = NULL;
	char disks[128];
	snprintf(disks, sizeof(disks), "%s/disks", dir);
	static const char *const bad[] = {
		"copy_storage=1",		    /* no sizes */
		"copy_storage=1&disk_sizes=10",	    /* one of two */
		"copy_storage=1&disk_sizes=10,x",   /* not a number */
		"copy_storage=1&disk_sizes=0,4096", /* empty */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *def = def_json("vm2", "/a", "qcow2", "/b", "raw");
		char *orig = strdup(def);
		memset(&err, 0, sizeof(err));
		assert_int_equal(
			daemon_mirror_prepare(d, bad[i], &def, &mi, &err),
			-EINVAL);
		assert_null(mi);
		assert_string_equal(def, orig); /* untouched */
		free(def);
		free(orig);
	}
	/* nothing left behind (the sizes are checked before any file) */
	struct stat st;
	if (stat(disks, &st) == 0) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", disks);
		assert_int_equal(system(cmd), 0);
	}
	/* a name that is not one: no file made of it */
	char *def = def_json("../x", "/a", "raw", NULL, NULL);
	assert_int_equal(daemon_mirror_prepare(d,
					       "copy_storage=1&disk_sizes=4096",
					       &def, &mi, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "name"));
	free(def);
	free(d);
}

static void test_incoming_shared(void **state)
{
	(void)state;
	struct daemon *d = fake_daemon();
	struct error err = { 0 };
	struct daemon_mirror_in *mi = NULL;
	char here[128], gone[128];
	snprintf(here, sizeof(here), "%s/here.raw", dir);
	snprintf(gone, sizeof(gone), "%s/gone.raw", dir);
	assert_int_equal(image_create(here, "raw", 4096, NULL, &err), 0);
	/* reachable: nothing changes */
	char *def = def_json("vm3", here, "raw", NULL, NULL);
	char *orig = strdup(def);
	assert_int_equal(daemon_mirror_prepare(d, "", &def, &mi, &err), 0);
	assert_null(mi);
	assert_string_equal(def, orig);
	free(def);
	free(orig);
	/* not reachable: refused, the path named */
	def = def_json("vm3", here, "raw", gone, "raw");
	assert_int_equal(daemon_mirror_prepare(d, "x=1", &def, &mi, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, gone));
	assert_non_null(strstr(err.msg, "disk 1"));
	assert_non_null(strstr(err.msg, "not reachable"));
	free(def);
	free(d);
}

static void test_source_check(void **state)
{
	(void)state;
	struct vmdef def;
	struct error err = { 0 };
	char q[512], a[128], b[128], c[128];
	snprintf(a, sizeof(a), "%s/a.qcow2", dir);
	snprintf(b, sizeof(b), "%s/b.raw", dir);
	snprintf(c, sizeof(c), "%s/clone.qcow2", dir);
	assert_int_equal(image_create(a, "qcow2", 1 << 30, NULL, &err), 0);
	assert_int_equal(image_create(b, "raw", 1 << 20, NULL, &err), 0);
	memset(&def, 0, sizeof(def));
	def.n_disks = 2;
	snprintf(def.disks[0].path, sizeof(def.disks[0].path), "%s", a);
	snprintf(def.disks[0].format, sizeof(def.disks[0].format), "qcow2");
	snprintf(def.disks[1].path, sizeof(def.disks[1].path), "%s", b);
	snprintf(def.disks[1].format, sizeof(def.disks[1].format), "raw");
	assert_int_equal(daemon_mirror_check(&def, q, sizeof(q), &err), 0);
	assert_string_equal(q, "copy_storage=1&disk_sizes=1073741824,1048576");
	/* an image a VM holds locked for writing: read all the same */
	struct blockdev *bd = blockdev_open(a, "qcow2", false, &err);
	assert_non_null(bd);
	assert_int_equal(daemon_mirror_check(&def, q, sizeof(q), &err), 0);
	blockdev_close(bd);
	/* refused: read-only, a backing file, encrypted */
	def.disks[1].readonly = true;
	assert_int_equal(daemon_mirror_check(&def, q, sizeof(q), &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "read-only"));
	def.disks[1].readonly = false;
	assert_int_equal(image_clone(a, "qcow2", c, &err), 0);
	snprintf(def.disks[0].path, sizeof(def.disks[0].path), "%s", c);
	assert_int_equal(daemon_mirror_check(&def, q, sizeof(q), &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "backing file"));
	assert_non_null(strstr(err.msg, c));
	snprintf(def.disks[0].key_secret, sizeof(def.disks[0].key_secret),
		 "env:K");
	assert_int_equal(daemon_mirror_check(&def, q, sizeof(q), &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "encrypted"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_incoming_copy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_incoming_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_incoming_shared, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_source_check, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
