/*
 * Templates and clones of the daemon's VMs (daemon_snapshot.h): mark a VM
 * that is off as a template, refuse what would write its images, and make
 * new VMs from it, linked (qcow2 overlays on its images, at once) or full
 * (copies, in a task with progress). docs/api.md "Snapshots, templates
 * and clones".
 */
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "api/daemon_impl.h"
#include "api/daemon_snapshot.h"
#include "api/inventory_snapshot.h"
#include "block/image.h"
#include "util/log.h"

#define LOG "daemon"

_Static_assert(sizeof(((struct vmdef_disk *)0)->path) == VMDEF_PATH_MAX,
	       "a disk path is VMDEF_PATH_MAX bytes");

static void tmpl_event(struct daemon *d, const char *vm, const char *actor,
		       const char *action, int r, const char *msg)
{
	struct error e2 = { 0 };
	if (inventory_event_add(d->inv, vm, actor, action, r ? "failed" : "ok",
				msg, &e2))
		log_warn(LOG, "event not recorded: %s", e2.msg);
}

void daemon_templates_load(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next) {
		struct error e = { 0 };
		bool is = false;
		if (inventory_template_get(d->inv, v->id, &is, &e))
			log_error(LOG, "%s: %s", v->def.name, e.msg);
		v->is_template = is;
	}
	pthread_mutex_unlock(&d->lock);
}

int daemon_template_check_start(struct daemon *d, struct dvm *v,
				struct error *err)
{
	(void)d;
	if (!v->is_template)
		return 0;
	return error_set(err, EBUSY,
			 "%s is a template: it cannot start (clone it: "
			 "softvisor vm clone %s NEW)",
			 v->def.name, v->def.name);
}

int daemon_template_check_delete(struct daemon *d, struct dvm *v,
				 struct error *err)
{
	char names[512];
	unsigned n;
	int r = inventory_clone_names(d->inv, v->id, names, sizeof(names), &n,
				      err);
	if (r || !n)
		return r;
	return error_set(err, EBUSY,
			 "%s: %u linked clone%s use%s its images: %s (delete "
			 "them first)",
			 v->def.name, n, n == 1 ? "" : "s", n == 1 ? "s" : "",
			 names);
}

/* ---- template ------------------------------------------------------------ */

static int parse_template_body(const char *body, bool *on, struct error *err)
{
	*on = true;
	if (!body || !*body)
		return 0;
	json_t *o = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	int r = 0;
	if (!json_is_object(o))
		r = error_set(err, EINVAL,
			      "body: expected {\"template\": true|false}");
	const char *key;
	json_t *val;
	if (!r)
		json_object_foreach(o, key, val)
		{
			if (strcmp(key, "template") || !json_is_boolean(val)) {
				r = error_set(err, EINVAL,
					      "body: expected {\"template\": "
					      "true|false}, not field '%s'",
					      key);
				break;
			}
			*on = json_is_true(val);
		}
	json_decref(o);
	return r;
}

int daemon_vm_template(struct daemon *d, const char *actor, const char *ref,
		       const char *body, json_t **out, struct error *err)
{
	bool on;
	int r = parse_template_body(body, &on, err);
	if (r)
		return r;
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v)
		return -ENOENT;
	if (on && v->vm)
		r = error_set(err, EBUSY,
			      "%s is %s: only a VM that is off can become a "
			      "template",
			      v->def.name, vm_state_name(v->state));
	if (!r && !on)
		r = daemon_template_check_delete(d, v, err);
	if (!r)
		r = inventory_template_set(d->inv, v->id, on, err);
	if (!r) {
		pthread_mutex_lock(&d->lock);
		v->is_template = on;
		pthread_mutex_unlock(&d->lock);
	}
	tmpl_event(d, v->def.name, actor, on ? "template" : "untemplate", r,
		   r ? err->msg : NULL);
	dvm_op_end(d, v);
	if (!r)
		r = daemon_vm_get(d, ref, out, err);
	return r;
}

/* ---- clone --------------------------------------------------------------- */

struct clone_job {
	struct daemon *d;
	struct dvm *tmpl; /* a reference */
	int64_t task;
	bool linked;
	char actor[64];
	char name[VMDEF_NAME_MAX + 1];
	struct vmdef def; /* the new VM; its disks' paths are the new ones */
	char src[VMDEF_MAX_DISKS][VMDEF_PATH_MAX]; /* "" : shared as is */
	unsigned made;				   /* new images made */
	struct disk_copy_progress cp;		   /* full clone */
	/* full clone: the copies' new key-secret ("": the template's) */
	char key_secret[VMDEF_PATH_MAX + 8];
};

static int parse_clone_body(const char *body, struct clone_job *j,
			    struct error *err)
{
	json_t *o = json_loads(body ? body : "", JSON_REJECT_DUPLICATES, NULL);
	int r = 0;
	if (!json_is_object(o))
		r = error_set(err, EINVAL,
			      "body: expected {\"name\": NEW, \"mode\": "
			      "\"linked\"|\"full\"}");
	const char *key;
	json_t *val;
	j->linked = true;
	if (!r)
		json_object_foreach(o, key, val)
		{
			const char *s = json_string_value(val);
			if (!strcmp(key, "name") && s) {
				snprintf(j->name, sizeof(j->name), "%s", s);
				if (strlen(s) > VMDEF_NAME_MAX)
					r = error_set(err, EINVAL,
						      "name: longer than %d",
						      VMDEF_NAME_MAX);
			} else if (!strcmp(key, "mode") && s &&
				   (!strcmp(s, "linked") ||
				    !strcmp(s, "full"))) {
				j->linked = !strcmp(s, "linked");
			} else if (!strcmp(key, "key_secret") && s) {
				/* a reference, never the secret itself */
				if ((strncmp(s, "file:/", 6) &&
				     strncmp(s, "env:", 4)) ||
				    strlen(s) >= sizeof(j->key_secret))
					r = error_set(err, EINVAL,
						      "key_secret: expected "
						      "file:/ABSOLUTE/PATH or "
						      "env:NAME");
				else
					snprintf(j->key_secret,
						 sizeof(j->key_secret), "%s",
						 s);
			} else {
				r = error_set(err, EINVAL,
					      "%s: expected name (a string) "
					      "or mode (\"linked\" or "
					      "\"full\")",
					      key);
			}
			if (r)
				break;
		}
	if (!r && !j->name[0])
		r = error_set(err, EINVAL, "name: required");
	if (!r && j->linked && j->key_secret[0])
		r = error_set(err, EINVAL,
			      "key_secret: only for a full clone (a linked "
			      "clone reads the template's images, so it uses "
			      "their key-secret)");
	json_decref(o);
	return r;
}

/* "52:54:00" and three random bytes (QEMU's prefix, as its default). */
static void new_mac(char mac[18])
{
	uint8_t b[3] = { 0 };
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		log_warn(LOG, "getrandom failed: a weak MAC");
	snprintf(mac, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
}

/* The new VM's definition: the template's, renamed, new MACs, each
 * writable disk a new image NEW-diskI.qcow2 next to the template's. */
static int clone_def(const struct dvm *t, struct clone_job *j,
		     struct error *err)
{
	j->def = t->def;
	snprintf(j->def.name, sizeof(j->def.name), "%s", j->name);
	j->def.autostart = false;
	for (unsigned i = 0; i < j->def.n_nics; i++)
		new_mac(j->def.nics[i].mac);
	for (unsigned i = 0; i < j->def.n_disks; i++) {
		struct vmdef_disk *dk = &j->def.disks[i];
		if (dk->readonly)
			continue; /* never written: shared */
		/* encrypted: a linked clone keeps the template's key-secret
		 * (image_clone_luks); a full one may get a new one */
		if (!j->linked && j->key_secret[0])
			snprintf(dk->key_secret, sizeof(dk->key_secret), "%s",
				 j->key_secret);
		char dir[VMDEF_PATH_MAX], path[VMDEF_PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", dk->path);
		memcpy(j->src[i], dir, sizeof(j->src[i])); /* before dirname */
		if (snprintf(path, sizeof(path), "%s/%s-disk%u.qcow2",
			     dirname(dir), j->name, i) >= (int)sizeof(path))
			return error_set(err, ENAMETOOLONG,
					 "clone %s: disk %u: path too long",
					 j->name, i);
		memcpy(dk->path, path, sizeof(dk->path));
		if (!access(dk->path, F_OK))
			return error_set(err, EEXIST,
					 "clone %s: %s exists already (a "
					 "clone's disk is a new file)",
					 j->name, dk->path);
		snprintf(dk->format, sizeof(dk->format), "qcow2");
	}
	return 0;
}

static void remove_made(struct clone_job *j)
{
	for (unsigned i = 0; i < j->made && i < j->def.n_disks; i++)
		if (j->src[i][0])
			unlink(j->def.disks[i].path);
}

/* Make the new images (overlays or copies), then the VM. */
static int clone_run(struct clone_job *j, json_t **vm, struct error *err)
{
	struct daemon *d = j->d;
	const struct vmdef *td = &j->tmpl->def;
	int r = 0;
	for (unsigned i = 0; i < j->def.n_disks && !r; i++) {
		if (!j->src[i][0]) {
			j->made = i + 1;
			continue;
		}
		j->cp.disk = i;
		j->cp.disk_base = j->cp.done;
		const char *key = td->disks[i].key_secret[0]
					  ? td->disks[i].key_secret
					  : NULL;
		const char *nkey = j->def.disks[i].key_secret[0]
					   ? j->def.disks[i].key_secret
					   : NULL;
		if (j->linked && key) {
			r = image_clone_luks(j->src[i], td->disks[i].format,
					     j->def.disks[i].path, key, 0, err);
		} else if (j->linked) {
			r = image_clone(j->src[i], td->disks[i].format,
					j->def.disks[i].path, err);
		} else {
			r = image_copy_secret(j->src[i], td->disks[i].format,
					      key, j->def.disks[i].path, nkey,
					      0, daemon_disk_copy_progress,
					      &j->cp, err);
		}
		j->made = r ? i : i + 1;
	}
	char *json = r ? NULL : vmdef_to_json(&j->def);
	if (!r && !json)
		r = error_set(err, ENOMEM, "out of memory");
	if (!r)
		r = daemon_vm_create(d, j->actor, json, vm, err);
	free(json);
	if (!r) {
		int64_t id = (int64_t)json_integer_value(
			json_object_get(*vm, "id"));
		r = inventory_clone_add(d->inv, id, j->tmpl->id, j->linked,
					err);
		if (r) { /* no record to keep the template: no clone */
			struct error e = { 0 };
			char ref[32];
			snprintf(ref, sizeof(ref), "%lld", (long long)id);
			daemon_vm_delete(d, "daemon", ref, &e);
			json_decref(*vm);
			*vm = NULL;
		}
	}
	if (r)
		remove_made(j);
	return r;
}

static void *clone_thread(void *arg)
{
	struct clone_job *j = arg;
	struct daemon *d = j->d;
	struct error err = { 0 };
	json_t *vm = NULL;
	int r = clone_run(j, &vm, &err);
	char msg[256];
	if (r)
		snprintf(msg, sizeof(msg), "%.255s", err.msg);
	else
		snprintf(msg, sizeof(msg), "created %s, a full clone of %s",
			 j->name, j->tmpl->def.name);
	daemon_task_end(d, j->task, r == 0, msg);
	tmpl_event(d, j->tmpl->def.name, j->actor, "clone", r, msg);
	json_decref(vm);
	dvm_put(d, j->tmpl);
	free(j);
	return NULL;
}

int daemon_vm_clone(struct daemon *d, const char *actor, const char *ref,
		    const char *body, json_t **out, struct error *err)
{
	struct clone_job *j = calloc(1, sizeof(*j));
	if (!j)
		return error_set(err, ENOMEM, "out of memory");
	j->d = d;
	snprintf(j->actor, sizeof(j->actor), "%s", actor);
	int r = parse_clone_body(body, j, err);
	if (r) {
		free(j);
		return r;
	}
	struct dvm *v = dvm_op_begin(d, ref, err);
	if (!v) {
		free(j);
		return -ENOENT;
	}
	j->tmpl = v;
	if (j->linked && !v->is_template)
		r = error_set(err, EINVAL,
			      "%s is not a template: a linked clone needs one "
			      "(softvisor vm template %s), or make a full "
			      "clone",
			      v->def.name, v->def.name);
	if (!r && v->vm)
		r = error_set(err, EBUSY, "%s is %s: clone a VM that is off",
			      v->def.name, vm_state_name(v->state));
	if (!r)
		r = clone_def(v, j, err);
	/* the new definition is valid (its name above all) before any
	 * image is made */
	if (!r)
		r = vmdef_validate(&j->def, VMDEF_HOST_DAEMON, err);
	if (!r) {
		struct error e = { 0 };
		struct dvm *other = dvm_find(d, j->name, &e);
		if (other) {
			dvm_put(d, other);
			r = error_set(err, EEXIST, "a VM named %s exists",
				      j->name);
		}
	}
	if (!r && !j->linked) {
		j->cp.total = 0;
		for (unsigned i = 0; i < j->def.n_disks; i++) {
			struct image_info info;
			struct error e = { 0 };
			if (j->src[i][0] && !image_info(j->src[i], &info, &e))
				j->cp.total += info.virtual_size;
		}
	}
	int64_t task = 0;
	if (!r)
		r = daemon_task_begin(d, "clone", j->name, &task, out, err);
	j->task = task;
	j->cp.d = d;
	j->cp.task = task;
	if (!r && j->linked) {
		/* no data to copy: done before the reply */
		json_t *vm = NULL;
		char msg[256];
		r = clone_run(j, &vm, err);
		if (r)
			snprintf(msg, sizeof(msg), "%.255s", err->msg);
		else
			snprintf(msg, sizeof(msg),
				 "created %s, a linked clone of %s", j->name,
				 v->def.name);
		daemon_task_end(d, task, r == 0, msg);
		json_decref(vm);
		if (!r) { /* the task as it is now */
			json_decref(*out);
			*out = NULL;
			r = daemon_task_get(d, task, out, err);
		} else {
			json_decref(*out);
			*out = NULL;
		}
		tmpl_event(d, v->def.name, actor, "clone", r, msg);
		dvm_op_end(d, v);
		free(j);
		return r;
	}
	if (!r) {
		pthread_mutex_lock(&d->lock);
		v->refs++; /* the job's */
		pthread_mutex_unlock(&d->lock);
		pthread_t th;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &attr, clone_thread, j)) {
			daemon_task_end(d, task, false,
					"cannot start a thread");
			dvm_put(d, v);
			json_decref(*out);
			*out = NULL;
			r = error_set(err, EAGAIN, "cannot start a thread");
		} else {
			j = NULL; /* the thread's */
		}
		pthread_attr_destroy(&attr);
	}
	if (r)
		tmpl_event(d, v->def.name, actor, "clone", r, err->msg);
	dvm_op_end(d, v);
	free(j);
	return r;
}
