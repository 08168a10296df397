/*
 * In-memory fake of the daemon core (src/api/daemon.h) for test_rest.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/daemon.h"
#include "api/metrics.h"
#include "fake_daemon.h"

#define FAKE_MAX 64

struct fake_vm {
	int64_t id;
	char name[64];
	const char *state;
	json_t *def;
};

struct daemon_console {
	struct fake_vm *vm;
	struct daemon_console_ops ops;
	bool writer, open;
};

struct fake_token {
	char name[64], secret[96];
	int64_t id, revoked_ms;
	struct grant grant;
};

struct daemon {
	int dummy;
};

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_vm vms[FAKE_MAX];
static struct daemon_console *consoles[FAKE_MAX];
static struct fake_token tokens[FAKE_MAX];
static json_t *events, *tasks;
static int64_t next_vm_id = 1, next_event_id = 1, next_task_id = 1;
static int64_t next_token_id = 1;
static size_t input_bytes;

size_t fake_daemon_input_bytes(void)
{
	size_t n;

	pthread_mutex_lock(&fake_lock);
	n = input_bytes;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

int daemon_open(const struct daemon_config *cfg, struct daemon **out,
		struct error *err)
{
	*out = calloc(1, sizeof(**out));
	events = json_array();
	tasks = json_array();
	return 0;
}

void daemon_close(struct daemon *d)
{
	int i;

	for (i = 0; i < FAKE_MAX; i++) {
		json_decref(vms[i].def);
		vms[i].def = NULL;
		vms[i].id = 0;
	}
	json_decref(events);
	json_decref(tasks);
	free(d);
}

int daemon_http_status(int err, const char **code)
{
	int st;
	const char *c;

	switch (err) {
	case -EINVAL: st = 400, c = "bad_request"; break;
	case -EACCES: st = 401, c = "unauthorized"; break;
	case -EPERM: st = 403, c = "forbidden"; break;
	case -ENOENT: st = 404, c = "not_found"; break;
	case -EEXIST:
	case -EBUSY:
	case -EALREADY:
	case -ENOSPC: st = 409, c = "conflict"; break;
	default: st = 500, c = "internal"; break;
	}
	if (code)
		*code = c;
	return st;
}

static void event_add(const char *vm, const char *actor, const char *action)
{
	json_array_append_new(events,
			      json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s}", "id",
					(json_int_t)next_event_id++, "time_ms",
					(json_int_t)1700000000000, "vm",
					vm ? vm : "", "actor", actor, "action",
					action, "result", "ok", "message", ""));
}

static struct fake_vm *find_vm(const char *vm)
{
	int i;

	for (i = 0; i < FAKE_MAX; i++) {
		char id[32];

		if (!vms[i].id)
			continue;
		snprintf(id, sizeof(id), "%lld", (long long)vms[i].id);
		if (!strcmp(vms[i].name, vm) || !strcmp(id, vm))
			return &vms[i];
	}
	return NULL;
}

static json_t *vm_json(struct fake_vm *v)
{
	return json_pack("{s:I,s:s,s:s,s:O,s:O,s:f,s:b,s:I,s:I,s:O}", "id",
			 (json_int_t)v->id, "name", v->name, "state", v->state,
			 "cpus", json_object_get(v->def, "cpus"), "memory",
			 json_object_get(v->def, "memory"), "uptime_s", 0.0,
			 "autostart", 0, "created_ms",
			 (json_int_t)1700000000000, "updated_ms",
			 (json_int_t)1700000000000, "definition", v->def);
}

#define LOCKED_ERR(code, ...)                                \
	do {                                                 \
		int rc_ = error_set(err, code, __VA_ARGS__); \
		pthread_mutex_unlock(&fake_lock);            \
		return rc_;                                  \
	} while (0)

#define LOOKUP(v, name)                                               \
	do {                                                          \
		pthread_mutex_lock(&fake_lock);                       \
		v = find_vm(name);                                    \
		if (!v)                                               \
			LOCKED_ERR(ENOENT, "vm %s: not found", name); \
	} while (0)

int daemon_vm_list(struct daemon *d, json_t **out, struct error *err)
{
	json_t *a = json_array();
	int i;

	pthread_mutex_lock(&fake_lock);
	for (i = 0; i < FAKE_MAX; i++)
		if (vms[i].id)
			json_array_append_new(a, vm_json(&vms[i]));
	pthread_mutex_unlock(&fake_lock);
	*out = json_pack("{s:o}", "vms", a);
	return 0;
}

/* GET /v1/vms?view=summary: the same VMs, and a host */
int daemon_vm_summary(struct daemon *d, json_t **out, struct error *err)
{
	int r = daemon_vm_list(d, out, err);

	if (!r)
		json_object_set_new(*out, "host",
				    json_pack("{s:s}", "hostname", "fake"));
	return r;
}

/* import_from anywhere in the body: a task, as the daemon answers */
int daemon_vm_create_api(struct daemon *d, const char *actor, const char *body,
			 json_t **out, bool *task, struct error *err)
{
	*task = body && strstr(body, "\"import_from\"");
	if (!*task)
		return daemon_vm_create(d, actor, body, out, err);
	*out = json_pack("{s:i,s:s,s:s,s:s}", "id", 9, "kind", "create", "vm",
			 "imported", "state", "running");
	return 0;
}

int daemon_vm_create(struct daemon *d, const char *actor, const char *body,
		     json_t **out, struct error *err)
{
	json_error_t je;
	json_t *def = json_loads(body, 0, &je);
	const char *name = json_string_value(json_object_get(def, "name"));
	int i;

	if (!def || !json_is_object(def)) {
		json_decref(def);
		return error_set(err, EINVAL, "definition: invalid JSON: %s",
				 je.text);
	}
	if (!name || !name[0] || strlen(name) >= 64) {
		json_decref(def);
		return error_set(err, EINVAL, "name: required");
	}
	if (!json_object_get(def, "cpus"))
		json_object_set_new(def, "cpus", json_integer(1));
	if (!json_object_get(def, "memory"))
		json_object_set_new(def, "memory", json_integer(1 << 29));
	pthread_mutex_lock(&fake_lock);
	if (find_vm(name)) {
		int rc = error_set(err, EEXIST, "name: a VM named %s exists",
				   name);

		json_decref(def);
		pthread_mutex_unlock(&fake_lock);
		return rc;
	}
	for (i = 0; i < FAKE_MAX && vms[i].id; i++)
		;
	if (i == FAKE_MAX) {
		json_decref(def);
		LOCKED_ERR(ENOSPC, "too many VMs");
	}
	vms[i].id = next_vm_id++;
	snprintf(vms[i].name, sizeof(vms[i].name), "%s", name);
	vms[i].state = "defined";
	vms[i].def = def;
	event_add(name, actor, "create");
	*out = vm_json(&vms[i]);
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int daemon_vm_get(struct daemon *d, const char *vm, json_t **out,
		  struct error *err)
{
	struct fake_vm *v;

	LOOKUP(v, vm);
	*out = vm_json(v);
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

static bool active(struct fake_vm *v)
{
	return !strcmp(v->state, "running") || !strcmp(v->state, "paused");
}

int daemon_vm_patch(struct daemon *d, const char *actor, const char *vm,
		    const char *body, json_t **out, struct error *err)
{
	struct fake_vm *v;
	json_t *p = json_loads(body, 0, NULL);

	if (!json_is_object(p)) {
		json_decref(p);
		return error_set(err, EINVAL, "patch: expected a JSON object");
	}
	LOOKUP(v, vm);
	if (active(v) && json_object_get(p, "cpus")) {
		json_decref(p);
		LOCKED_ERR(EBUSY, "cpus: cannot change while %s", v->state);
	}
	json_object_update(v->def, p);
	json_decref(p);
	event_add(v->name, actor, "patch");
	*out = vm_json(v);
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int daemon_vm_delete(struct daemon *d, const char *actor, const char *vm,
		     struct error *err)
{
	struct fake_vm *v;

	LOOKUP(v, vm);
	if (active(v))
		LOCKED_ERR(EBUSY, "vm %s: is %s", v->name, v->state);
	event_add(v->name, actor, "delete");
	json_decref(v->def);
	memset(v, 0, sizeof(*v));
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int daemon_action_parse(const char *s, enum daemon_action *out)
{
	static const char *names[] = { "start",	 "stop",  "shutdown", "pause",
				       "resume", "reset", "suspend" };
	unsigned i;

	for (i = 0; i < 6; i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum daemon_action)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* The VM stopped: end the console streams. Called locked. */
static void consoles_closed(struct fake_vm *v)
{
	int i;

	for (i = 0; i < FAKE_MAX; i++) {
		struct daemon_console *c = consoles[i];

		if (c && c->vm == v && c->open) {
			c->open = false;
			c->ops.closed(c->ops.opaque);
		}
	}
}

uint64_t daemon_vm_resumed_for_ns(struct daemon *d, const char *vm)
{
	(void)d;
	(void)vm;
	return 0; /* the fake has no machines: no Server-Timing */
}

int daemon_vm_action(struct daemon *d, const char *actor, const char *vm,
		     enum daemon_action action, const char *body, json_t **out,
		     struct error *err)
{
	static const char *names[] = { "start",	 "stop",  "shutdown", "pause",
				       "resume", "reset", "suspend" };
	struct fake_vm *v;

	if (body) {
		json_t *o = json_loads(body, 0, NULL);
		bool ok = json_is_object(o);

		json_decref(o);
		if (!ok)
			return error_set(err, EINVAL,
					 "body: expected a JSON object");
	}
	LOOKUP(v, vm);
	switch (action) {
	case DAEMON_START:
		if (active(v))
			LOCKED_ERR(EBUSY, "vm %s: already %s", v->name,
				   v->state);
		v->state = "running";
		break;
	case DAEMON_STOP:
	case DAEMON_SHUTDOWN:
		if (!active(v))
			LOCKED_ERR(EBUSY, "vm %s: not running", v->name);
		v->state = "stopped";
		consoles_closed(v);
		break;
	case DAEMON_PAUSE:
		if (strcmp(v->state, "running"))
			LOCKED_ERR(EBUSY, "vm %s: not running", v->name);
		v->state = "paused";
		break;
	case DAEMON_RESUME:
		if (strcmp(v->state, "paused") && strcmp(v->state, "suspended"))
			LOCKED_ERR(EBUSY, "vm %s: not paused", v->name);
		v->state = "running";
		break;
	case DAEMON_MIGRATE:
		LOCKED_ERR(ENOTSUP, "vm %s: no migration in the fake", v->name);
	case DAEMON_SUSPEND:
		if (!active(v))
			LOCKED_ERR(EBUSY, "vm %s: not running", v->name);
		v->state = "suspended";
		consoles_closed(v);
		break;
	case DAEMON_RESET:
	case DAEMON_ANNOUNCE:
		if (!active(v))
			LOCKED_ERR(EBUSY, "vm %s: not running", v->name);
		break;
	}
	event_add(v->name, actor,
		  (unsigned)action < 7 ? names[action] : "action");
	if (action == DAEMON_SHUTDOWN) {
		json_t *t = json_pack("{s:I,s:s,s:s,s:s,s:i,s:s,s:I,s:I}", "id",
				      (json_int_t)next_task_id++, "kind",
				      "shutdown", "vm", v->name, "state",
				      "success", "progress", 100, "message", "",
				      "created_ms", (json_int_t)1700000000000,
				      "finished_ms", (json_int_t)1700000000001);
		json_array_append(tasks, t);
		*out = t;
	} else {
		*out = vm_json(v);
	}
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int daemon_vm_stats(struct daemon *d, const char *vm, json_t **out,
		    struct error *err)
{
	struct fake_vm *v;

	LOOKUP(v, vm);
	*out = json_pack("{s:s,s:s,s:I,s:f,s:[]}", "vm", v->name, "state",
			 v->state, "interval_us", (json_int_t)2000000,
			 "used_pct", 0.0, "vcpus");
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int daemon_console_attach(struct daemon *d, const char *vm, bool writer,
			  const struct daemon_console_ops *ops,
			  struct daemon_console **out, struct error *err)
{
	static const uint8_t scrollback[] = "scrollback\r\n";
	struct daemon_console *c;
	struct fake_vm *v;
	int i, slot = -1;

	LOOKUP(v, vm);
	if (!active(v))
		LOCKED_ERR(EBUSY, "vm %s: not running", v->name);
	for (i = 0; i < FAKE_MAX; i++) {
		if (!consoles[i] && slot < 0)
			slot = i;
		if (writer && consoles[i] && consoles[i]->vm == v &&
		    consoles[i]->writer)
			LOCKED_ERR(EBUSY, "vm %s: the console has a writer",
				   v->name);
	}
	if (slot < 0)
		LOCKED_ERR(ENOSPC, "too many viewers");
	c = calloc(1, sizeof(*c));
	c->vm = v;
	c->ops = *ops;
	c->writer = writer;
	c->open = true;
	consoles[slot] = c;
	ops->output(ops->opaque, scrollback, sizeof(scrollback) - 1);
	*out = c;
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int daemon_console_input(struct daemon_console *c, const uint8_t *buf,
			 size_t len)
{
	int i;

	if (!c->writer)
		return -EPERM;
	pthread_mutex_lock(&fake_lock);
	input_bytes += len;
	for (i = 0; i < FAKE_MAX; i++) /* the guest echoes */
		if (consoles[i] && consoles[i]->vm == c->vm &&
		    consoles[i]->open)
			consoles[i]->ops.output(consoles[i]->ops.opaque, buf,
						len);
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

void daemon_console_detach(struct daemon_console *c)
{
	int i;

	pthread_mutex_lock(&fake_lock);
	for (i = 0; i < FAKE_MAX; i++)
		if (consoles[i] == c)
			consoles[i] = NULL;
	pthread_mutex_unlock(&fake_lock);
	free(c);
}

int daemon_host_patch(struct daemon *d, const char *actor, const char *body,
		      json_t **out, struct error *err)
{
	(void)actor, (void)body;
	return daemon_host_info(d, out, err);
}

int daemon_host_info(struct daemon *d, json_t **out, struct error *err)
{
	*out = json_pack("{s:s,s:s,s:i,s:I,s:I,s:I}", "hostname", "test",
			 "version", "0.1.0", "pcpus", 4, "mhz_per_pcpu",
			 (json_int_t)1000, "capacity_mhz", (json_int_t)4000,
			 "reserved_mhz", (json_int_t)0);
	return 0;
}

int daemon_host_stats(struct daemon *d, json_t **out, struct error *err)
{
	*out = json_pack("{s:i,s:I,s:f,s:[]}", "pcpus", 4, "capacity_mhz",
			 (json_int_t)4000, "used_pct", 0.0, "vms");
	return 0;
}

int daemon_host_disks(struct daemon *d, json_t **out, struct error *err)
{
	*out = json_pack("{s:i,s:[],s:[{s:s,s:i},{s:s,s:i}]}", "period_ms",
			 1000, "datastores", "disks", "vm", "web1", "disk", 0,
			 "vm", "db", "disk", 0);
	return 0;
}

int daemon_event_list(struct daemon *d, const char *vm, int64_t after_id,
		      unsigned limit, json_t **out, struct error *err)
{
	json_t *a = json_array(), *e;
	size_t i;

	if (!limit)
		limit = 100;
	pthread_mutex_lock(&fake_lock);
	json_array_foreach(events, i, e)
	{
		if (json_array_size(a) >= limit)
			break;
		if (json_integer_value(json_object_get(e, "id")) <= after_id)
			continue;
		if (vm &&
		    strcmp(vm, json_string_value(json_object_get(e, "vm"))))
			continue;
		json_array_append(a, e);
	}
	pthread_mutex_unlock(&fake_lock);
	*out = json_pack("{s:o}", "events", a);
	return 0;
}

int daemon_task_list(struct daemon *d, json_t **out, struct error *err)
{
	pthread_mutex_lock(&fake_lock);
	*out = json_pack("{s:O}", "tasks", tasks);
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int daemon_task_get(struct daemon *d, int64_t id, json_t **out,
		    struct error *err)
{
	json_t *t;
	size_t i;

	pthread_mutex_lock(&fake_lock);
	json_array_foreach(tasks, i, t)
	{
		if (json_integer_value(json_object_get(t, "id")) == id) {
			*out = json_incref(t);
			pthread_mutex_unlock(&fake_lock);
			return 0;
		}
	}
	LOCKED_ERR(ENOENT, "task %lld: not found", (long long)id);
}

int daemon_token_create(struct daemon *d, const char *actor,
			const struct daemon_token_spec *spec, json_t **out,
			struct error *err)
{
	const char *name = spec->name;
	int i, slot = -1;

	if (!name[0] || strlen(name) >= 64)
		return error_set(err, EINVAL, "name: 1..63 characters");
	pthread_mutex_lock(&fake_lock);
	for (i = 0; i < FAKE_MAX; i++) {
		if (tokens[i].id && !strcmp(tokens[i].name, name))
			LOCKED_ERR(EEXIST, "token %s: exists", name);
		if (!tokens[i].id && slot < 0)
			slot = i;
	}
	if (slot < 0)
		LOCKED_ERR(ENOSPC, "too many tokens");
	tokens[slot].id = next_token_id++;
	tokens[slot].grant = spec->grant;
	snprintf(tokens[slot].name, sizeof(tokens[slot].name), "%s", name);
	snprintf(tokens[slot].secret, sizeof(tokens[slot].secret),
		 "svt_secret_%s", name);
	*out = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)tokens[slot].id,
			 "name", name, "secret", tokens[slot].secret);
	event_add(NULL, actor, "token-create");
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int daemon_token_list(struct daemon *d, json_t **out, struct error *err)
{
	json_t *a = json_array();
	int i;

	pthread_mutex_lock(&fake_lock);
	for (i = 0; i < FAKE_MAX; i++)
		if (tokens[i].id)
			json_array_append_new(
				a, json_pack("{s:I,s:s,s:I,s:I}", "id",
					     (json_int_t)tokens[i].id, "name",
					     tokens[i].name, "created_ms",
					     (json_int_t)1700000000000,
					     "revoked_ms",
					     (json_int_t)tokens[i].revoked_ms));
	pthread_mutex_unlock(&fake_lock);
	*out = json_pack("{s:o}", "tokens", a);
	return 0;
}

int daemon_token_revoke(struct daemon *d, const char *actor, const char *name,
			struct error *err)
{
	int i;

	pthread_mutex_lock(&fake_lock);
	for (i = 0; i < FAKE_MAX; i++) {
		if (tokens[i].id && !strcmp(tokens[i].name, name) &&
		    !tokens[i].revoked_ms) {
			tokens[i].revoked_ms = 1700000000002;
			pthread_mutex_unlock(&fake_lock);
			return 0;
		}
	}
	LOCKED_ERR(ENOENT, "token %s: not found", name);
}

int daemon_token_verify(struct daemon *d, const char *secret, char *actor,
			size_t actor_size, struct grant *grant,
			struct error *err)
{
	int i;

	pthread_mutex_lock(&fake_lock);
	for (i = 0; i < FAKE_MAX; i++) {
		if (tokens[i].id && !tokens[i].revoked_ms &&
		    !strcmp(tokens[i].secret, secret)) {
			snprintf(actor, actor_size, "token:%s", tokens[i].name);
			if (grant) {
				*grant = tokens[i].grant;
				grant->token_id = tokens[i].id;
			}
			pthread_mutex_unlock(&fake_lock);
			return 0;
		}
	}
	LOCKED_ERR(EACCES, "token: invalid or revoked");
}

/* /metrics: a fixed snapshot (the renderer has its own unit test). */
int daemon_metrics(struct daemon *d, struct metrics_snapshot *s,
		   struct error *err)
{
	static const char *const states[] = { "defined", "running" };
	static struct metrics_vm vm = {
		.name = "alpha",
		.id = 1,
		.cpus = 1,
		.memory_bytes = 1 << 20,
	};

	(void)d;
	(void)err;
	memset(s, 0, sizeof(*s));
	s->host.version = "test";
	vm.state = states[0];
	s->vms = &vm;
	s->n_vms = 1;
	s->states = states;
	s->n_states = 2;
	return 0;
}

void daemon_metrics_free(struct metrics_snapshot *s)
{
	s->vms = NULL;
}

/* The audit log: kept in memory, listed as the real one. */
#define FAKE_AUDIT_MAX 256
static struct {
	char principal[80], source[64], action[32], target[128];
	int64_t uid, token_id;
	int status;
} fake_audit[FAKE_AUDIT_MAX];
static unsigned fake_audit_n;
static pthread_mutex_t fake_audit_lock = PTHREAD_MUTEX_INITIALIZER;

void daemon_audit(struct daemon *d, const struct daemon_audit_record *r)
{
	(void)d;
	pthread_mutex_lock(&fake_audit_lock);
	if (fake_audit_n < FAKE_AUDIT_MAX) {
		unsigned i = fake_audit_n++;

		snprintf(fake_audit[i].principal,
			 sizeof(fake_audit[i].principal), "%s", r->principal);
		snprintf(fake_audit[i].source, sizeof(fake_audit[i].source),
			 "%s", r->source);
		snprintf(fake_audit[i].action, sizeof(fake_audit[i].action),
			 "%s", r->action);
		snprintf(fake_audit[i].target, sizeof(fake_audit[i].target),
			 "%s", r->target ? r->target : "");
		fake_audit[i].uid = r->uid;
		fake_audit[i].token_id = r->token_id;
		fake_audit[i].status = r->status;
	}
	pthread_mutex_unlock(&fake_audit_lock);
}

int daemon_audit_list(struct daemon *d, int64_t since_ms, const char *vm,
		      unsigned limit, json_t **out, struct error *err)
{
	json_t *arr = json_array();

	(void)d;
	(void)since_ms;
	(void)err;
	pthread_mutex_lock(&fake_audit_lock);
	for (unsigned i = 0; i < fake_audit_n; i++) {
		if (vm && strcmp(vm, fake_audit[i].target))
			continue;
		if (limit && json_array_size(arr) >= limit)
			break;
		json_t *o = json_pack(
			"{s:I, s:I, s:s, s:s, s:s, s:s, s:i}", "id",
			(json_int_t)i + 1, "time_ms", (json_int_t)0,
			"principal", fake_audit[i].principal, "source",
			fake_audit[i].source, "action", fake_audit[i].action,
			"target", fake_audit[i].target, "status",
			fake_audit[i].status);
		json_object_set_new(o, "token_id",
				    json_integer(fake_audit[i].token_id));
		json_object_set_new(o, "uid",
				    fake_audit[i].uid >= 0
					    ? json_integer(fake_audit[i].uid)
					    : json_null());
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&fake_audit_lock);
	*out = json_pack("{s:o}", "audit", arr);
	return 0;
}

int daemon_vm_name(struct daemon *d, const char *ref, char *name, size_t size)
{
	(void)d;
	(void)ref;
	(void)name;
	(void)size;
	return -ENOENT; /* names are what the request said */
}

/* No live events here: GET /v1/events/stream answers 503. The stream is
 * tested against the real daemon (tests/system/test_events_stream.py). */
struct event_bus *daemon_event_bus(struct daemon *d)
{
	(void)d;
	return NULL;
}

int daemon_migrate_incoming(struct daemon *d, const char *actor,
			    const char *def_json, bool mirror,
			    long (*rd)(void *opaque, void *buf, size_t n),
			    void *opaque, json_t **out, struct error *err)
{
	(void)d, (void)actor, (void)def_json, (void)rd, (void)opaque;
	(void)mirror;
	(void)out;
	return error_set(err, ENOTSUP, "no migration in the fake");
}

int daemon_mirror_prepare(struct daemon *d, const char *query, char **def_json,
			  struct daemon_mirror_in **mi, struct error *err)
{
	(void)d, (void)query, (void)def_json, (void)err;
	*mi = NULL;
	return 0;
}

void daemon_mirror_done(struct daemon_mirror_in *mi, bool ok)
{
	(void)mi, (void)ok;
}
