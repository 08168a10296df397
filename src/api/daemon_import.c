/*
 * VMs created from an image (issue 19; Proxmox's import-from): POST
 * /v1/vms with disks[].import_from (daemon.h daemon_vm_create_api,
 * docs/vm-definition.md "Disks from an image"). Each such disk becomes a
 * new qcow2 image <state_dir>/disks/<vm>-disk<i>.qcow2 (as the disks a
 * migration brings, named like a clone's): a linked overlay on the image
 * or a full copy of it. The image is only read, never written.
 *
 * As a clone, the request answers with a task: linked images are made
 * before the answer (the task has ended then), copies in the task's
 * thread with progress; the VM is created once every image is made, from
 * the definition that names them (import_from gone). A failure removes
 * the images made and leaves no VM.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/daemon_impl.h"
#include "block/image.h"
#include "util/log.h"

#define LOG "daemon"

struct import_job {
	struct daemon *d;
	int64_t task;
	char actor[64];
	struct vmdef def; /* the new VM: import_from replaced by the paths */
	/* per disk: the image it is made from ("": not imported) */
	char src[VMDEF_MAX_DISKS][VMDEF_PATH_MAX];
	char src_fmt[VMDEF_MAX_DISKS][8];
	bool linked[VMDEF_MAX_DISKS];
	bool made[VMDEF_MAX_DISKS];
	unsigned n_linked, n_copied;
	bool create_tried; /* daemon_vm_create records its own event */
	struct disk_copy_progress cp; /* of the copies */
};

static void import_event(struct daemon *d, const char *vm, const char *actor,
			 int r, const char *msg)
{
	struct error e = { 0 };
	if (inventory_event_add(d->inv, vm, actor, "create",
				r ? "failed" : "ok", msg, &e))
		log_warn(LOG, "event not recorded: %s", e.msg);
}

static void remove_made(struct import_job *j)
{
	for (unsigned i = 0; i < j->def.n_disks; i++)
		if (j->made[i] && unlink(j->def.disks[i].path) < 0)
			log_warn(LOG, "%s: %s", j->def.disks[i].path,
				 strerror(errno));
}

/* Check every image and name every new one: nothing is made yet. */
static int import_plan(struct import_job *j, struct error *err)
{
	struct vmdef *def = &j->def;
	for (unsigned i = 0; i < def->n_disks; i++) {
		struct vmdef_disk *dk = &def->disks[i];
		struct image_info info;
		if (!dk->import_from[0])
			continue;
		if (image_import_check(dk->import_from, &info, err)) {
			error_prefix(err, "disks[%u].import_from", i);
			/* a bad definition (400), whatever the file said;
			 * an image a running VM writes is a conflict */
			if (err->code != EBUSY)
				err->code = EINVAL;
			return -err->code;
		}
		memcpy(j->src[i], dk->import_from, sizeof(j->src[i]));
		snprintf(j->src_fmt[i], sizeof(j->src_fmt[i]), "%s",
			 info.format);
		j->linked[i] = dk->linked;
		if (!dk->linked)
			j->cp.total += info.virtual_size;
		if (daemon_new_image_path(j->d, def->name, i, "qcow2", false,
					  dk->path, sizeof(dk->path), err)) {
			error_prefix(err, "disks[%u]", i);
			return -err->code;
		}
		dk->import_from[0] = '\0';
		dk->linked = false;
		snprintf(dk->format, sizeof(dk->format), "qcow2");
	}
	/* what will be stored: valid before anything is made */
	return vmdef_validate(def, VMDEF_HOST_DAEMON, err);
}

/* Make the linked overlays (instant) or else the copies. */
static int import_make(struct import_job *j, bool copies, struct error *err)
{
	for (unsigned i = 0; i < j->def.n_disks; i++) {
		const char *dst = j->def.disks[i].path;
		int r;
		if (!j->src[i][0] || j->linked[i] != !copies)
			continue;
		if (!copies) {
			/* the image's format recorded as the backing format:
			 * a raw image is never probed again */
			r = image_clone(j->src[i], j->src_fmt[i], dst, err);
			j->n_linked += !r;
		} else {
			j->cp.disk = i;
			j->cp.disk_base = j->cp.done;
			r = image_copy(j->src[i], j->src_fmt[i], dst,
				       daemon_disk_copy_progress, &j->cp, err);
			j->n_copied += !r;
		}
		if (r) {
			error_prefix(err, "disks[%u]", i);
			return r;
		}
		j->made[i] = true;
	}
	return 0;
}

/* The VM, from the definition that names the images made. */
static int import_finish(struct import_job *j, struct error *err)
{
	char *json = vmdef_to_json(&j->def);
	json_t *vm = NULL;
	j->create_tried = json != NULL;
	int r = json ? daemon_vm_create(j->d, j->actor, json, &vm, err)
		     : error_set(err, ENOMEM, "out of memory");
	free(json);
	json_decref(vm);
	return r;
}

static void import_end(struct import_job *j, int r, const struct error *err)
{
	char msg[256];
	if (r) {
		remove_made(j);
		snprintf(msg, sizeof(msg), "%.255s", err->msg);
		if (!j->create_tried)
			import_event(j->d, j->def.name, j->actor, r, msg);
	} else {
		snprintf(msg, sizeof(msg),
			 "created %s from images (%u linked, %u copied)",
			 j->def.name, j->n_linked, j->n_copied);
	}
	daemon_task_end(j->d, j->task, r == 0, msg);
}

static void *import_thread(void *arg)
{
	struct import_job *j = arg;
	struct error err = { 0 };
	int r = import_make(j, true, &err);
	if (!r)
		r = import_finish(j, &err);
	import_end(j, r, &err);
	free(j);
	return NULL;
}

int daemon_vm_create_api(struct daemon *d, const char *actor, const char *body,
			 json_t **out, bool *task, struct error *err)
{
	struct import_job *j = calloc(1, sizeof(*j));
	*task = false;
	if (!j)
		return error_set(err, ENOMEM, "out of memory");
	/* nothing to import (or not even valid): as it always was */
	struct error e = { 0 };
	if (vmdef_parse(body, &j->def, &e) || vmdef_import_disk(&j->def) < 0) {
		free(j);
		return daemon_vm_create(d, actor, body, out, err);
	}
	j->d = d;
	snprintf(j->actor, sizeof(j->actor), "%s", actor);
	int r = 0;
	struct dvm *other = dvm_find(d, j->def.name, &e);
	if (other) {
		dvm_put(d, other);
		r = error_set(err, EEXIST, "a VM named %s exists", j->def.name);
	}
	if (!r)
		r = import_plan(j, err);
	bool copies = false;
	for (unsigned i = 0; i < j->def.n_disks; i++)
		copies |= j->src[i][0] && !j->linked[i];
	if (!r)
		r = daemon_task_begin(d, "create", j->def.name, &j->task, out,
				      err);
	if (r) { /* refused before a task: the answer says why */
		import_event(d, j->def.name, actor, r, err->msg);
		free(j);
		return r;
	}
	*task = true;
	j->cp.d = d;
	j->cp.task = j->task;
	r = import_make(j, false, err);
	if (!r && !copies)
		r = import_finish(j, err);
	if (r || !copies) {
		/* ended before the answer, as a linked clone */
		int64_t id = j->task;
		import_end(j, r, err);
		free(j);
		json_decref(*out);
		*out = NULL;
		return r ? r : daemon_task_get(d, id, out, err);
	}
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, import_thread, j)) {
		r = error_set(err, EAGAIN, "cannot start a thread");
		import_end(j, r, err);
		free(j);
		json_decref(*out);
		*out = NULL;
	}
	pthread_attr_destroy(&attr);
	return r;
}
