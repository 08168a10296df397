/*
 * A fake of src/api/daemon_snapshot.h for the REST server's tests: VM
 * "rt1" has one snapshot "rt"; the rest answer as the daemon would for
 * it. The real calls are tested through the daemon
 * (tests/system/test_snapshot.py).
 */
#include <errno.h>
#include <string.h>

#include "api/daemon_snapshot.h"

static json_t *fake_snap(const char *name)
{
	return json_pack("{s:s,s:i,s:s,s:[s],s:s}", "name", name, "created_ms",
			 1, "description", "", "disks", "/x.qcow2", "vm_state",
			 "off");
}

static int known(const char *vm, const char *snap, struct error *err)
{
	if (strcmp(vm, "rt1"))
		return error_set(err, ENOENT, "no VM named %s", vm);
	if (snap && strcmp(snap, "rt"))
		return error_set(err, ENOENT, "%s has no snapshot named %s", vm,
				 snap);
	return 0;
}

int daemon_snapshot_list(struct daemon *d, const char *vm, json_t **out,
			 struct error *err)
{
	int r = known(vm, NULL, err);
	if (!r)
		*out = json_pack("{s:s,s:[o]}", "vm", vm, "snapshots",
				 fake_snap("rt"));
	return r;
}

int daemon_snapshot_get(struct daemon *d, const char *vm, const char *name,
			json_t **out, struct error *err)
{
	int r = known(vm, name, err);
	if (!r)
		*out = fake_snap(name);
	return r;
}

int daemon_snapshot_create(struct daemon *d, const char *actor, const char *vm,
			   const char *body, json_t **out, struct error *err)
{
	json_t *j = json_loads(body ? body : "", 0, NULL);
	const char *name = json_string_value(json_object_get(j, "name"));
	int r = known(vm, NULL, err);
	if (!r && !name)
		r = error_set(err, EINVAL, "name: required");
	if (!r)
		*out = fake_snap(name);
	json_decref(j);
	return r;
}

int daemon_snapshot_revert(struct daemon *d, const char *actor, const char *vm,
			   const char *name, json_t **out, struct error *err)
{
	int r = known(vm, name, err);
	if (!r)
		*out = json_pack("{s:s,s:s}", "name", vm, "state", "stopped");
	return r;
}

int daemon_snapshot_delete(struct daemon *d, const char *actor, const char *vm,
			   const char *name, struct error *err)
{
	return known(vm, name, err);
}

int daemon_vm_template(struct daemon *d, const char *actor, const char *vm,
		       const char *body, json_t **out, struct error *err)
{
	int r = known(vm, NULL, err);
	if (!r)
		*out = json_pack("{s:s,s:b}", "name", vm, "template", 1);
	return r;
}

int daemon_vm_clone(struct daemon *d, const char *actor, const char *vm,
		    const char *body, json_t **out, struct error *err)
{
	json_t *j = json_loads(body ? body : "", 0, NULL);
	const char *name = json_string_value(json_object_get(j, "name"));
	int r = known(vm, NULL, err);
	if (!r && !name)
		r = error_set(err, EINVAL, "name: required");
	if (!r)
		*out = json_pack("{s:i,s:s,s:s,s:s}", "id", 7, "kind", "clone",
				 "vm", name, "state", "success");
	json_decref(j);
	return r;
}
