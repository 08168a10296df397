/*
 * Tasks: long operations answer 202 with a task the client polls
 * (GET /v1/tasks/ID). Today: shutdown; later clone and migration.
 *
 * Shutdown (docs/shutdown.md): press the machine's power button, wait up
 * to timeout_s for the guest to power off, then fall back to a hard stop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/daemon_impl.h"
#include "util/log.h"

#define LOG	     "daemon"
#define TASKS_KEPT   256
#define SHUTDOWN_MAX 3600

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *task_json(const struct daemon_task *t)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:i, s:s, s:I, s:I}", "id",
			      (json_int_t)t->id, "kind", t->kind, "vm", t->vm,
			      "state", t->state, "progress", t->progress,
			      "message", t->message, "created_ms",
			      (json_int_t)t->created_ms, "finished_ms",
			      (json_int_t)t->finished_ms);
	if (o && t->has_xfer) /* a migration */
		json_object_set_new(
			o, "transfer",
			json_pack("{s:I, s:I, s:f}", "bytes_sent",
				  (json_int_t)t->bytes_sent, "bytes_remaining",
				  (json_int_t)t->bytes_remaining,
				  "dirty_rate_bytes_s", t->dirty_rate));
	json_t *x = json_object_get(o, "transfer");
	if (x && t->has_disk) { /* --copy-storage */
		json_object_set_new(x, "disk_bytes_done",
				    json_integer((json_int_t)t->disk_done));
		json_object_set_new(x, "disk_bytes_total",
				    json_integer((json_int_t)t->disk_total));
		json_object_set_new(x, "disk_bytes_dirty",
				    json_integer((json_int_t)t->disk_dirty));
		json_object_set_new(x, "disk_bytes_sent",
				    json_integer((json_int_t)t->disk_sent));
	}
	return o;
}

/* A new task (d->lock held); the oldest finished one makes room. */
static struct daemon_task *task_new(struct daemon *d, const char *kind,
				    const char *vm)
{
	if (d->n_tasks == d->cap_tasks) {
		if (d->cap_tasks < TASKS_KEPT) {
			unsigned cap = d->cap_tasks ? d->cap_tasks * 2 : 16;
			struct daemon_task *t = realloc(d->tasks,
							cap * sizeof(*t));
			if (!t)
				return NULL;
			d->tasks = t;
			d->cap_tasks = cap;
		} else {
			unsigned i = 0;
			while (i < d->n_tasks &&
			       !strcmp(d->tasks[i].state, "running"))
				i++;
			if (i == d->n_tasks)
				return NULL;
			memmove(&d->tasks[i], &d->tasks[i + 1],
				(d->n_tasks - i - 1) * sizeof(d->tasks[0]));
			d->n_tasks--;
		}
	}
	struct daemon_task *t = &d->tasks[d->n_tasks++];
	memset(t, 0, sizeof(*t));
	t->id = ++d->next_task_id;
	snprintf(t->kind, sizeof(t->kind), "%s", kind);
	snprintf(t->vm, sizeof(t->vm), "%s", vm);
	snprintf(t->state, sizeof(t->state), "running");
	t->created_ms = wall_ms();
	return t;
}

static struct daemon_task *task_by_id(struct daemon *d, int64_t id)
{
	for (unsigned i = 0; i < d->n_tasks; i++)
		if (d->tasks[i].id == id)
			return &d->tasks[i];
	return NULL;
}

static void task_update(struct daemon *d, int64_t id, const char *state,
			int progress, const char *msg)
{
	pthread_mutex_lock(&d->lock);
	struct daemon_task *t = task_by_id(d, id);
	if (t) {
		if (state) {
			snprintf(t->state, sizeof(t->state), "%s", state);
			t->finished_ms = wall_ms();
		}
		t->progress = progress;
		snprintf(t->message, sizeof(t->message), "%s", msg);
	}
	pthread_mutex_unlock(&d->lock);
}

int daemon_task_list(struct daemon *d, json_t **out, struct error *err)
{
	(void)err;
	json_t *arr = json_array();
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < d->n_tasks; i++)
		json_array_append_new(arr, task_json(&d->tasks[i]));
	pthread_mutex_unlock(&d->lock);
	*out = json_pack("{s:o}", "tasks", arr);
	return 0;
}

int daemon_task_get(struct daemon *d, int64_t id, json_t **out,
		    struct error *err)
{
	pthread_mutex_lock(&d->lock);
	struct daemon_task *t = task_by_id(d, id);
	if (t)
		*out = task_json(t);
	pthread_mutex_unlock(&d->lock);
	if (!t)
		return error_set(err, ENOENT, "no task %lld", (long long)id);
	return 0;
}

struct shutdown_job {
	struct daemon *d;
	struct dvm *v; /* a reference */
	unsigned gen;
	int64_t task;
	unsigned timeout_s;
	char actor[64];
};

static void *shutdown_thread(void *arg)
{
	struct shutdown_job *j = arg;
	struct daemon *d = j->d;
	char msg[160];

	snprintf(msg, sizeof(msg),
		 "power button pressed, waiting up to %u s for the guest",
		 j->timeout_s);
	task_update(d, j->task, NULL, 10, msg);
	bool ended = dvm_wait_ended(d, j->v, j->gen,
				    (uint64_t)j->timeout_s * 1000);
	if (ended) {
		task_update(d, j->task, "success", 100,
			    "the guest powered off");
	} else {
		dvm_stop_gen(d, j->v, j->gen, j->actor);
		snprintf(msg, sizeof(msg),
			 "the guest did not power off within %u s: stopped "
			 "(hard power-off)",
			 j->timeout_s);
		task_update(d, j->task, "success", 100, msg);
		log_info(LOG, "%s: %s", j->v->def.name, msg);
	}
	dvm_put(d, j->v);
	pthread_mutex_lock(&d->lock);
	d->tasks_running--;
	pthread_cond_broadcast(&d->task_cond);
	pthread_mutex_unlock(&d->lock);
	free(j);
	return NULL;
}

int daemon_shutdown_task(struct daemon *d, struct dvm *v, const char *actor,
			 const char *body, json_t **out, struct error *err)
{
	unsigned timeout = d->cfg.shutdown_timeout_s ? d->cfg.shutdown_timeout_s
						     : 120;
	if (body && *body) {
		json_error_t jerr;
		json_t *o = json_loads(body, 0, &jerr);
		if (!o || !json_is_object(o)) {
			json_decref(o);
			return error_set(err, EINVAL,
					 "body: expected a JSON object like "
					 "{\"timeout_s\": 60}");
		}
		const char *key;
		json_t *val;
		json_object_foreach(o, key, val)
		{
			if (strcmp(key, "timeout_s")) {
				json_decref(o);
				return error_set(err, EINVAL,
						 "unknown field '%s'", key);
			}
			if (!json_is_integer(val) ||
			    json_integer_value(val) < 0 ||
			    json_integer_value(val) > SHUTDOWN_MAX) {
				json_decref(o);
				return error_set(err, EINVAL,
						 "timeout_s: expected 0..%d "
						 "seconds",
						 SHUTDOWN_MAX);
			}
			timeout = (unsigned)json_integer_value(val);
		}
		json_decref(o);
	}
	int r = vm_lifecycle_check(v->state, VM_OP_SHUTDOWN, v->def.name, err);
	if (r)
		return r;
	r = vm_power_button(v->vm);
	if (r && r != -ENODEV)
		return error_set(err, -r, "%s: power button: %s", v->def.name,
				 strerror(-r));
	struct shutdown_job *j = calloc(1, sizeof(*j));
	if (!j)
		return error_set(err, ENOMEM, "out of memory");
	j->d = d;
	j->v = v;
	j->gen = v->gen;
	/* without a power button there is nothing to wait for */
	j->timeout_s = r == -ENODEV ? 0 : timeout;
	snprintf(j->actor, sizeof(j->actor), "%s", actor);

	pthread_mutex_lock(&d->lock);
	struct daemon_task *t = task_new(d, "shutdown", v->def.name);
	if (!t) {
		pthread_mutex_unlock(&d->lock);
		free(j);
		return error_set(err, EBUSY, "too many tasks running");
	}
	j->task = t->id;
	*out = task_json(t);
	v->refs++;
	d->tasks_running++;
	pthread_mutex_unlock(&d->lock);

	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, shutdown_thread, j)) {
		pthread_attr_destroy(&attr);
		task_update(d, j->task, "error", 0, "cannot start a thread");
		pthread_mutex_lock(&d->lock);
		d->tasks_running--;
		pthread_mutex_unlock(&d->lock);
		dvm_put(d, v);
		free(j);
		json_decref(*out);
		*out = NULL;
		return error_set(err, EAGAIN, "cannot start a thread");
	}
	pthread_attr_destroy(&attr);
	return 0;
}

int daemon_task_begin(struct daemon *d, const char *kind, const char *vm,
		      int64_t *id, json_t **out, struct error *err)
{
	pthread_mutex_lock(&d->lock);
	struct daemon_task *t = task_new(d, kind, vm);
	if (!t) {
		pthread_mutex_unlock(&d->lock);
		return error_set(err, EBUSY, "too many tasks running");
	}
	*id = t->id;
	*out = task_json(t);
	d->tasks_running++;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void daemon_task_set(struct daemon *d, int64_t id, const char *state,
		     int progress, const char *msg)
{
	task_update(d, id, state, progress, msg);
}

void daemon_disk_copy_progress(void *opaque, uint64_t done, uint64_t total)
{
	struct disk_copy_progress *c = opaque;
	char msg[128];

	(void)total; /* of this disk: c->total counts them all */
	c->done = c->disk_base + done;
	snprintf(msg, sizeof(msg), "copying disk %u: %llu of %llu MiB", c->disk,
		 (unsigned long long)(c->done >> 20),
		 (unsigned long long)(c->total >> 20));
	daemon_task_set(c->d, c->task, NULL,
			c->total ? (int)(c->done * 99 / c->total) : 0, msg);
}

void daemon_task_progress(struct daemon *d, int64_t id, int progress,
			  const char *msg, uint64_t sent, uint64_t remaining,
			  double dirty_rate)
{
	pthread_mutex_lock(&d->lock);
	struct daemon_task *t = task_by_id(d, id);
	if (t) {
		t->has_xfer = true; /* a transfer: bytes and dirty rate shown */
		t->progress = progress;
		if (msg)
			snprintf(t->message, sizeof(t->message), "%s", msg);
		t->bytes_sent = sent;
		t->bytes_remaining = remaining;
		t->dirty_rate = dirty_rate;
	}
	pthread_mutex_unlock(&d->lock);
}

void daemon_task_disk_progress(struct daemon *d, int64_t id, uint64_t done,
			       uint64_t total, uint64_t dirty, uint64_t sent)
{
	pthread_mutex_lock(&d->lock);
	struct daemon_task *t = task_by_id(d, id);
	if (t) {
		t->has_disk = true;
		t->disk_done = done;
		t->disk_total = total;
		t->disk_dirty = dirty;
		t->disk_sent = sent;
	}
	pthread_mutex_unlock(&d->lock);
}

void daemon_task_end(struct daemon *d, int64_t id, bool ok, const char *msg)
{
	task_update(d, id, ok ? "success" : "error", ok ? 100 : 0, msg);
	pthread_mutex_lock(&d->lock);
	struct daemon_task *t = task_by_id(d, id);
	if (t && ok)
		t->bytes_remaining = t->disk_dirty = 0;
	d->tasks_running--;
	pthread_cond_broadcast(&d->task_cond);
	pthread_mutex_unlock(&d->lock);
}

void daemon_tasks_close(struct daemon *d)
{
	/* every VM is stopped by now, so shutdown tasks end at once */
	pthread_mutex_lock(&d->lock);
	while (d->tasks_running)
		pthread_cond_wait(&d->task_cond, &d->lock);
	free(d->tasks);
	d->tasks = NULL;
	d->n_tasks = d->cap_tasks = 0;
	pthread_mutex_unlock(&d->lock);
}
