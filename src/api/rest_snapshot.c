/*
 * REST routes of disk snapshots, templates and clones (docs/api.yaml,
 * daemon_snapshot.h): rest.c's route table sends them here with the op.
 */
#include <errno.h>
#include <stdio.h>

#include "api/daemon_snapshot.h"
#include "api/rest_priv.h"

int rest_storage_call(struct daemon *d, int op, const char *actor,
		      const char *const arg[2], const char *body, json_t **out,
		      char *headers, size_t hsize, struct error *err)
{
	const char *vm = arg[0], *snap = arg[1];
	int r;

	switch (op) {
	case REST_SNAP_LIST: return daemon_snapshot_list(d, vm, out, err);
	case REST_SNAP_GET: return daemon_snapshot_get(d, vm, snap, out, err);
	case REST_SNAP_CREATE:
		r = daemon_snapshot_create(d, actor, vm, body, out, err);
		if (!r)
			snprintf(headers, hsize,
				 "Location: /v1/vms/%s/snapshots/%s\r\n", vm,
				 json_string_value(
					 json_object_get(*out, "name")));
		return r;
	case REST_SNAP_REVERT:
		return daemon_snapshot_revert(d, actor, vm, snap, out, err);
	case REST_SNAP_DELETE:
		return daemon_snapshot_delete(d, actor, vm, snap, err);
	case REST_VM_TEMPLATE:
		return daemon_vm_template(d, actor, vm, body, out, err);
	case REST_VM_CLONE:
		r = daemon_vm_clone(d, actor, vm, body, out, err);
		if (!r)
			snprintf(headers, hsize,
				 "Location: /v1/tasks/%" JSON_INTEGER_FORMAT
				 "\r\n",
				 json_integer_value(
					 json_object_get(*out, "id")));
		return r;
	}
	return error_set(err, EINVAL, "unknown storage operation %d", op);
}
