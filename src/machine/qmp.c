/*
 * QMP-style control channel. See qmp.h and docs/qmp.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "machine/qmp.h"
#include "util/log.h"

#define LOG_SUB "qmp"

#define SEND_TIMEOUT_MS 1000

struct qmp_client {
	int fd;
	bool negotiated;
	bool discard; /* inside an over-long line: drop up to '\n' */
	bool dead;    /* a send failed (q->lock): the thread frees it */
	size_t len;
	char buf[QMP_MAX_LINE];
};

struct qmp {
	const struct qmp_ops *ops;
	void *opaque;
	char path[108];
	int listen_fd;
	int wake[2]; /* pipe: qmp_close and qmp_attach_fd wake the thread */
	pthread_t thread;
	bool thread_started;
	int version[3];
	char package[64];

	/* Clients: the array and every write to a client's socket. */
	pthread_mutex_t lock;
	struct qmp_client *clients[QMP_MAX_CLIENTS];
	atomic_bool stop;
	bool quit_requested;  /* thread: run ops->quit after the reply */
	bool powerdown_event; /* thread: send POWERDOWN after the reply */
};

struct qmp_stats {
	json_t *root;
	const char *filter; /* only this device, or NULL */
};

/* ---- spec ------------------------------------------------------------- */

int qmp_parse(const char *s, struct qmp_spec *spec, struct error *err)
{
	static const char *const ignored[] = { "server", "nowait", "server=on",
					       "wait=off" };
	const char *p, *comma;
	size_t len;

	memset(spec, 0, sizeof(*spec));
	if (strncmp(s, "unix:", 5) != 0)
		return error_set(err, EINVAL, "--qmp %s: expected unix:PATH",
				 s);
	p = s + 5;
	comma = strchr(p, ',');
	len = comma ? (size_t)(comma - p) : strlen(p);
	if (len == 0)
		return error_set(err, EINVAL,
				 "--qmp %s: expected unix:PATH (empty path)",
				 s);
	if (len >= sizeof(spec->path))
		return error_set(err, ENAMETOOLONG,
				 "--qmp %s: socket path longer than %zu bytes",
				 s, sizeof(spec->path) - 1);
	memcpy(spec->path, p, len);
	while (comma) {
		const char *opt = comma + 1;
		size_t olen, i;
		bool ok = false;

		comma = strchr(opt, ',');
		olen = comma ? (size_t)(comma - opt) : strlen(opt);
		for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
			if (strlen(ignored[i]) == olen &&
			    !strncmp(opt, ignored[i], olen))
				ok = true;
		}
		if (!ok)
			return error_set(
				err, EINVAL,
				"--qmp %s: unknown option '%.*s' "
				"(expected unix:PATH[,server][,nowait])",
				s, (int)olen, opt);
	}
	return 0;
}

/* ---- stats ------------------------------------------------------------- */

static json_t *stats_dev(struct qmp_stats *st, const char *dev)
{
	json_t *o;

	if (st->filter && strcmp(st->filter, dev) != 0)
		return NULL;
	o = json_object_get(st->root, dev);
	if (!o) {
		o = json_object();
		if (json_object_set_new(st->root, dev, o) < 0)
			return NULL;
	}
	return json_is_object(o) ? o : NULL;
}

void qmp_stats_u64(struct qmp_stats *st, const char *dev, const char *key,
		   uint64_t val)
{
	json_t *o = stats_dev(st, dev);

	/* JSON integers here are int64: saturate (a counter never gets
	 * there in practice). */
	if (o)
		json_object_set_new(o, key,
				    json_integer(val > INT64_MAX
							 ? INT64_MAX
							 : (json_int_t)val));
}

void qmp_stats_str(struct qmp_stats *st, const char *dev, const char *key,
		   const char *val)
{
	json_t *o = stats_dev(st, dev);

	if (o)
		json_object_set_new(o, key, json_string(val ? val : ""));
}

/* ---- commands ---------------------------------------------------------- */

struct qmp_err {
	const char *cls;
	char desc[256];
};

static json_t *fail(struct qmp_err *e, const char *cls, const char *fmt, ...)
	SV_PRINTF(3, 4);

static json_t *fail(struct qmp_err *e, const char *cls, const char *fmt, ...)
{
	va_list ap;

	e->cls = cls;
	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
	return NULL;
}

/* Check that args has only the keys in allowed (NULL-terminated). */
static bool args_only(json_t *args, const char *const *allowed,
		      struct qmp_err *e)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v)
	{
		const char *const *a;
		bool ok = false;

		for (a = allowed; *a; a++)
			ok |= !strcmp(*a, key);
		if (!ok) {
			fail(e, "GenericError", "Parameter '%s' is unexpected",
			     key);
			return false;
		}
	}
	return true;
}

static json_t *cmd_capabilities(struct qmp *q, json_t *args, bool *neg,
				struct qmp_err *e)
{
	static const char *const allowed[] = { "enable", NULL };

	if (*neg)
		return fail(e, "CommandNotFound",
			    "Capabilities negotiation is already complete, "
			    "command ignored");
	if (!args_only(args, allowed, e))
		return NULL;
	*neg = true;
	return json_object();
}

static json_t *cmd_query_status(struct qmp *q, json_t *args, bool *neg,
				struct qmp_err *e)
{
	const char *s = q->ops->query_status ? q->ops->query_status(q->opaque)
					     : NULL;

	if (!s)
		s = "running";
	return json_pack("{s:s, s:b, s:b}", "status", s, "running",
			 !strcmp(s, "running"), "singlestep", 0);
}

static json_t *version_json(struct qmp *q)
{
	return json_pack("{s:{s:i, s:i, s:i}, s:s}", "qemu", "major",
			 q->version[0], "minor", q->version[1], "micro",
			 q->version[2], "package", q->package);
}

static json_t *cmd_query_version(struct qmp *q, json_t *args, bool *neg,
				 struct qmp_err *e)
{
	return version_json(q);
}

static json_t *balloon_unavailable(struct qmp_err *e, int rc)
{
	if (rc == -ENODEV)
		return fail(e, "DeviceNotActive",
			    "No balloon device has been activated");
	return fail(e, "GenericError", "balloon: %s", strerror(-rc));
}

/* QEMU's `balloon`: value is the memory the guest should keep, bytes. */
static json_t *cmd_balloon(struct qmp *q, json_t *args, bool *neg,
			   struct qmp_err *e)
{
	static const char *const allowed[] = { "value", NULL };
	json_t *v = json_object_get(args, "value");
	int rc;

	if (!args_only(args, allowed, e))
		return NULL;
	if (!v)
		return fail(e, "GenericError", "Parameter 'value' is missing");
	if (!json_is_integer(v))
		return fail(e, "GenericError",
			    "Invalid parameter type for 'value', expected: "
			    "integer");
	if (json_integer_value(v) <= 0)
		return fail(e, "GenericError",
			    "Parameter 'value' expects a size in bytes > 0");
	if (!q->ops->set_balloon_target)
		return balloon_unavailable(e, -ENODEV);
	rc = q->ops->set_balloon_target(q->opaque,
					(uint64_t)json_integer_value(v));
	if (rc < 0)
		return balloon_unavailable(e, rc);
	return json_object();
}

static json_t *cmd_query_balloon(struct qmp *q, json_t *args, bool *neg,
				 struct qmp_err *e)
{
	static const char *const allowed[] = { NULL };
	uint64_t actual = 0;
	int rc;

	if (!args_only(args, allowed, e))
		return NULL;
	if (!q->ops->get_balloon)
		return balloon_unavailable(e, -ENODEV);
	rc = q->ops->get_balloon(q->opaque, &actual);
	if (rc < 0)
		return balloon_unavailable(e, rc);
	return json_pack("{s:I}", "actual",
			 (json_int_t)(actual > INT64_MAX ? INT64_MAX : actual));
}

static json_t *cmd_query_stats(struct qmp *q, json_t *args, bool *neg,
			       struct qmp_err *e)
{
	static const char *const allowed[] = { "device", NULL };
	json_t *dev = json_object_get(args, "device");
	struct qmp_stats st = { 0 };

	if (!args_only(args, allowed, e))
		return NULL;
	if (dev && !json_is_string(dev))
		return fail(e, "GenericError",
			    "Invalid parameter type for 'device', expected: "
			    "string");
	st.root = json_object();
	st.filter = dev ? json_string_value(dev) : NULL;
	if (q->ops->get_stats)
		q->ops->get_stats(q->opaque, &st);
	if (st.filter && !json_object_get(st.root, st.filter)) {
		fail(e, "DeviceNotFound", "Device '%s' not found", st.filter);
		json_decref(st.root);
		return NULL;
	}
	return st.root;
}

static json_t *cmd_quit(struct qmp *q, json_t *args, bool *neg,
			struct qmp_err *e)
{
	static const char *const allowed[] = { NULL };

	if (!args_only(args, allowed, e))
		return NULL;
	q->quit_requested = true;
	return json_object();
}

static json_t *run_optional(struct qmp *q, int (*fn)(void *), const char *name,
			    struct qmp_err *e)
{
	int rc = fn(q->opaque);

	if (rc < 0)
		return fail(e, "GenericError", "%s: %s", name, strerror(-rc));
	return json_object();
}

static json_t *cmd_stop(struct qmp *q, json_t *args, bool *neg,
			struct qmp_err *e)
{
	return run_optional(q, q->ops->stop, "stop", e);
}

static json_t *cmd_cont(struct qmp *q, json_t *args, bool *neg,
			struct qmp_err *e)
{
	return run_optional(q, q->ops->cont, "cont", e);
}

/* QEMU's system_powerdown: ask the guest to shut down (docs/shutdown.md).
 * The POWERDOWN event follows the reply, as in QEMU. */
static json_t *cmd_system_powerdown(struct qmp *q, json_t *args, bool *neg,
				    struct qmp_err *e)
{
	static const char *const allowed[] = { NULL };
	int rc;

	if (!args_only(args, allowed, e))
		return NULL;
	rc = q->ops->system_powerdown(q->opaque);
	if (rc == -ENODEV)
		return fail(e, "DeviceNotActive",
			    "The machine has no power button (softvisor run "
			    "--power-button)");
	if (rc < 0)
		return fail(e, "GenericError", "system_powerdown: %s",
			    strerror(-rc));
	q->powerdown_event = true;
	return json_object();
}

/* QEMU's migrate, for the file: transport only (QEMU 8.2's "file:PATH"):
 * the whole VM is written to PATH before the reply (docs/vm-state.md). */
static json_t *cmd_migrate(struct qmp *q, json_t *args, bool *neg,
			   struct qmp_err *e)
{
	static const char *const allowed[] = { "uri", "detach", NULL };
	json_t *uri = json_object_get(args, "uri");
	char msg[512] = "";

	if (!args_only(args, allowed, e))
		return NULL;
	if (!uri || !json_is_string(uri))
		return fail(e, "GenericError",
			    "Parameter 'uri' is missing or not a string");
	const char *u = json_string_value(uri);
	if (strncmp(u, "file:", 5) != 0 || !u[5])
		return fail(e, "GenericError",
			    "migrate: uri '%s': only file:PATH is supported",
			    u);
	if (q->ops->migrate_file(q->opaque, u + 5, msg, sizeof(msg)) < 0)
		return fail(e, "GenericError", "migrate: %s", msg);
	return json_object();
}

/* QEMU's announce-self: RARP rounds from every NIC, and the guest's own
 * announce (docs/net.md). Its optional arguments and defaults. */
static json_t *cmd_announce_self(struct qmp *q, json_t *args, bool *neg,
				 struct qmp_err *e)
{
	static const char *const allowed[] = { "initial", "max", "rounds",
					       "step", NULL };
	const char *name[4] = { "rounds", "initial", "max", "step" };
	unsigned v[4] = { 5, 50, 550, 100 };
	char msg[512] = "";
	int rc;

	if (!args_only(args, allowed, e))
		return NULL;
	for (unsigned i = 0; i < 4; i++) {
		json_t *j = json_object_get(args, name[i]);
		if (!j)
			continue;
		if (!json_is_integer(j) || json_integer_value(j) < 0 ||
		    json_integer_value(j) > 1000000)
			return fail(e, "GenericError",
				    "Parameter '%s' expects an integer "
				    "0..1000000",
				    name[i]);
		v[i] = (unsigned)json_integer_value(j);
	}
	rc = q->ops->announce(q->opaque, v[0], v[1], v[2], v[3], msg,
			      sizeof(msg));
	if (rc == -ENODEV)
		return fail(e, "DeviceNotFound", "%s", msg);
	if (rc < 0)
		return fail(e, "GenericError", "%s", msg);
	return json_object();
}

/* QEMU's blockdev-snapshot-sync (an external snapshot: docs/block.md),
 * format qcow2 and mode absolute-paths only. */
static json_t *cmd_blockdev_snapshot_sync(struct qmp *q, json_t *args,
					  bool *neg, struct qmp_err *e)
{
	static const char *const allowed[] = { "device", "snapshot-file",
					       "format", "mode", NULL };
	const char *dev = json_string_value(json_object_get(args, "device"));
	const char *file = json_string_value(
		json_object_get(args, "snapshot-file"));
	const char *fmt = json_string_value(json_object_get(args, "format"));
	const char *mode = json_string_value(json_object_get(args, "mode"));
	char msg[512] = "";

	if (!args_only(args, allowed, e))
		return NULL;
	if (!dev || !file || !*file)
		return fail(e, "GenericError",
			    "Parameters 'device' and 'snapshot-file' are "
			    "required strings");
	if (fmt && strcmp(fmt, "qcow2"))
		return fail(e, "GenericError",
			    "blockdev-snapshot-sync: format '%s': only qcow2",
			    fmt);
	if (mode && strcmp(mode, "absolute-paths"))
		return fail(e, "GenericError",
			    "blockdev-snapshot-sync: mode '%s': only "
			    "absolute-paths (a new file)",
			    mode);
	int rc = q->ops->snapshot_external(q->opaque, dev, file, msg,
					   sizeof(msg));
	if (rc == -ENODEV)
		return fail(e, "DeviceNotFound", "Device '%s' not found", dev);
	if (rc < 0)
		return fail(e, "GenericError", "blockdev-snapshot-sync: %s",
			    msg);
	return json_object();
}

static json_t *cmd_query_commands(struct qmp *q, json_t *args, bool *neg,
				  struct qmp_err *e);

struct qmp_cmd {
	const char *name;
	json_t *(*fn)(struct qmp *q, json_t *args, bool *neg,
		      struct qmp_err *e);
	size_t optional_op; /* offsetof the qmp_ops member needed, or 0 */
};

#define OPT(m) offsetof(struct qmp_ops, m)

static const struct qmp_cmd commands[] = {
	{ "qmp_capabilities", cmd_capabilities, 0 },
	{ "query-status", cmd_query_status, 0 },
	{ "query-version", cmd_query_version, 0 },
	{ "query-commands", cmd_query_commands, 0 },
	{ "balloon", cmd_balloon, 0 },
	{ "query-balloon", cmd_query_balloon, 0 },
	{ "query-stats", cmd_query_stats, 0 },
	{ "quit", cmd_quit, 0 },
	{ "stop", cmd_stop, OPT(stop) },
	{ "cont", cmd_cont, OPT(cont) },
	{ "system_powerdown", cmd_system_powerdown, OPT(system_powerdown) },
	{ "migrate", cmd_migrate, OPT(migrate_file) },
	{ "blockdev-snapshot-sync", cmd_blockdev_snapshot_sync,
	  OPT(snapshot_external) },
	{ "announce-self", cmd_announce_self, OPT(announce) },
};

static bool cmd_available(struct qmp *q, const struct qmp_cmd *c)
{
	void *fn;

	if (!c->optional_op)
		return true;
	memcpy(&fn, (const char *)q->ops + c->optional_op, sizeof(fn));
	return fn != NULL;
}

static json_t *cmd_query_commands(struct qmp *q, json_t *args, bool *neg,
				  struct qmp_err *e)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (cmd_available(q, &commands[i]))
			json_array_append_new(
				list,
				json_pack("{s:s}", "name", commands[i].name));
	}
	return list;
}

/* One parsed input object -> reply object. */
static json_t *dispatch(struct qmp *q, bool *neg, json_t *in, struct qmp_err *e)
{
	json_t *exec, *args, *v;
	const char *key, *name;
	size_t i;

	if (!json_is_object(in))
		return fail(e, "GenericError",
			    "QMP input must be a JSON object");
	json_object_foreach(in, key, v)
	{
		if (strcmp(key, "execute") && strcmp(key, "arguments") &&
		    strcmp(key, "id"))
			return fail(e, "GenericError",
				    "QMP input member '%s' is unexpected", key);
	}
	exec = json_object_get(in, "execute");
	if (!exec)
		return fail(e, "GenericError",
			    "QMP input lacks member 'execute'");
	if (!json_is_string(exec))
		return fail(e, "GenericError",
			    "QMP input member 'execute' must be a string");
	args = json_object_get(in, "arguments");
	if (args && !json_is_object(args))
		return fail(e, "GenericError",
			    "QMP input member 'arguments' must be an object");
	name = json_string_value(exec);
	if (!*neg && strcmp(name, "qmp_capabilities"))
		return fail(e, "CommandNotFound",
			    "Expecting capabilities negotiation with "
			    "'qmp_capabilities'");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct qmp_cmd *c = &commands[i];
		json_t *empty, *r;

		if (strcmp(c->name, name) || !cmd_available(q, c))
			continue;
		if (args)
			return c->fn(q, args, neg, e);
		empty = json_object();
		r = c->fn(q, empty, neg, e);
		json_decref(empty);
		return r;
	}
	return fail(e, "CommandNotFound",
		    "The command %.64s has not been found", name);
}

char *qmp_handle_line(struct qmp *q, bool *negotiated, const char *line,
		      size_t len)
{
	struct qmp_err e = { 0 };
	json_error_t jerr;
	json_t *in, *ret, *reply;
	char *out;
	size_t i;

	for (i = 0; i < len && line[i] && strchr(" \t\r\n", line[i]); i++)
		;
	if (i == len)
		return NULL;
	in = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!in) {
		fail(&e, "GenericError", "JSON parse error, %s", jerr.text);
		ret = NULL;
	} else {
		ret = dispatch(q, negotiated, in, &e);
	}
	if (ret)
		reply = json_pack("{s:o}", "return", ret);
	else
		reply = json_pack("{s:{s:s, s:s}}", "error", "class", e.cls,
				  "desc", e.desc);
	/* QMP echoes a request's "id" in its reply. */
	if (reply && json_is_object(in) && json_object_get(in, "id"))
		json_object_set(reply, "id", json_object_get(in, "id"));
	json_decref(in);
	out = reply ? json_dumps(reply, JSON_COMPACT | JSON_ENSURE_ASCII)
		    : NULL;
	json_decref(reply);
	if (!out)
		out = strdup("{\"error\": {\"class\": \"GenericError\", "
			     "\"desc\": \"out of memory\"}}");
	return out;
}

/* ---- sockets ----------------------------------------------------------- */

/* Write one line; false if the client is gone or does not read. Called
 * with q->lock held. */
static bool client_send(struct qmp_client *c, const char *s)
{
	size_t len = strlen(s), off = 0;
	const char nl = '\n';

	if (c->dead)
		return false;
	while (off < len) {
		ssize_t n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto dead;
		off += (size_t)n;
	}
	while (send(c->fd, &nl, 1, MSG_NOSIGNAL) != 1) {
		if (errno != EINTR)
			goto dead;
	}
	return true;
dead:
	/* Only the channel thread frees clients: wake it through the
	 * socket itself (recv sees EOF). */
	c->dead = true;
	shutdown(c->fd, SHUT_RDWR);
	return false;
}

static void client_free(struct qmp_client *c)
{
	close(c->fd);
	free(c);
}

/* Remove client slot i (q->lock held). */
static void drop_client(struct qmp *q, int i)
{
	client_free(q->clients[i]);
	q->clients[i] = NULL;
}

static void wake_thread(struct qmp *q)
{
	char b = 1;

	while (write(q->wake[1], &b, 1) < 0 && errno == EINTR)
		;
}

int qmp_attach_fd(struct qmp *q, int fd)
{
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_MS / 1000,
			      .tv_usec = (SEND_TIMEOUT_MS % 1000) * 1000 };
	struct qmp_client *c;
	json_t *greet;
	char *s;
	int i, rc = 0;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	greet = json_pack("{s:{s:o, s:[]}}", "QMP", "version", version_json(q),
			  "capabilities");
	s = greet ? json_dumps(greet, JSON_COMPACT) : NULL;
	json_decref(greet);
	c = calloc(1, sizeof(*c));
	if (!c || !s) {
		free(c);
		free(s);
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	pthread_mutex_lock(&q->lock);
	for (i = 0; i < QMP_MAX_CLIENTS && q->clients[i]; i++)
		;
	if (i == QMP_MAX_CLIENTS) {
		client_send(c, "{\"error\": {\"class\": \"GenericError\", "
			       "\"desc\": \"too many QMP clients\"}}");
		client_free(c);
		rc = -EBUSY;
	} else if (!client_send(c, s)) {
		client_free(c);
		rc = -EPIPE;
	} else {
		q->clients[i] = c;
	}
	pthread_mutex_unlock(&q->lock);
	free(s);
	if (!rc)
		wake_thread(q);
	return rc;
}

void qmp_event(struct qmp *q, const char *name, const char *data_json)
{
	struct timespec ts;
	json_t *ev, *data = NULL;
	char *s;
	int i;

	if (data_json) {
		data = json_loads(data_json, 0, NULL);
		if (!json_is_object(data)) {
			log_warn(LOG_SUB, "event %s: data is not a JSON object",
				 name);
			json_decref(data);
			return;
		}
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ev = json_pack("{s:s, s:{s:I, s:I}}", "event", name, "timestamp",
		       "seconds", (json_int_t)ts.tv_sec, "microseconds",
		       (json_int_t)(ts.tv_nsec / 1000));
	if (ev && data)
		json_object_set_new(ev, "data", data);
	else
		json_decref(data);
	s = ev ? json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(ev);
	if (!s)
		return;
	pthread_mutex_lock(&q->lock);
	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		if (q->clients[i] && q->clients[i]->negotiated)
			client_send(q->clients[i], s);
	}
	pthread_mutex_unlock(&q->lock);
	free(s);
}

/* Consume the complete lines in c's buffer. Returns false to drop it. */
static bool client_lines(struct qmp *q, struct qmp_client *c)
{
	char *nl;

	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t n = (size_t)(nl - c->buf);
		char *reply = NULL;
		bool ok = true, neg = c->negotiated;

		if (c->discard)
			c->discard = false;
		else
			reply = qmp_handle_line(q, &neg, c->buf, n);
		memmove(c->buf, nl + 1, c->len - n - 1);
		c->len -= n + 1;
		pthread_mutex_lock(&q->lock);
		c->negotiated = neg; /* qmp_event reads it */
		if (reply)
			ok = client_send(c, reply);
		pthread_mutex_unlock(&q->lock);
		free(reply);
		if (q->powerdown_event) {
			q->powerdown_event = false;
			qmp_event(q, "POWERDOWN", NULL);
		}
		if (q->quit_requested) {
			q->quit_requested = false;
			if (q->ops->quit)
				q->ops->quit(q->opaque);
		}
		if (!ok)
			return false;
	}
	if (c->len == sizeof(c->buf)) {
		bool ok = true;

		/* A line longer than QMP_MAX_LINE: answer once, then skip
		 * the rest of it. */
		if (!c->discard) {
			pthread_mutex_lock(&q->lock);
			ok = client_send(c, "{\"error\": {\"class\": "
					    "\"GenericError\", \"desc\": "
					    "\"QMP input line too long\"}}");
			pthread_mutex_unlock(&q->lock);
		}
		c->discard = true;
		c->len = 0;
		return ok;
	}
	return true;
}

static void accept_client(struct qmp *q)
{
	int fd = accept4(q->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (qmp_attach_fd(q, fd) == -EBUSY)
		log_warn(LOG_SUB, "%s: too many clients, one refused", q->path);
}

static void *qmp_thread(void *arg)
{
	struct qmp *q = arg;

	while (!atomic_load(&q->stop)) {
		struct pollfd pfd[QMP_MAX_CLIENTS + 2];
		struct qmp_client *who[QMP_MAX_CLIENTS + 2] = { 0 };
		int n = 0, i;

		pfd[n++] = (struct pollfd){ .fd = q->wake[0],
					    .events = POLLIN };
		if (q->listen_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = q->listen_fd,
						    .events = POLLIN };
		pthread_mutex_lock(&q->lock);
		for (i = 0; i < QMP_MAX_CLIENTS; i++) {
			if (!q->clients[i])
				continue;
			who[n] = q->clients[i];
			pfd[n++] = (struct pollfd){ .fd = q->clients[i]->fd,
						    .events = POLLIN };
		}
		pthread_mutex_unlock(&q->lock);
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		if (pfd[0].revents) {
			char b[64];

			while (read(q->wake[0], b, sizeof(b)) < 0 &&
			       errno == EINTR)
				;
		}
		if (atomic_load(&q->stop))
			break;
		for (i = 1; i < n; i++) {
			struct qmp_client *c = who[i];
			ssize_t got;
			int slot;

			if (!pfd[i].revents)
				continue;
			if (!c) {
				accept_client(q);
				continue;
			}
			got = recv(c->fd, c->buf + c->len,
				   sizeof(c->buf) - c->len, 0);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got > 0) {
				c->len += (size_t)got;
				if (client_lines(q, c))
					continue;
			}
			/* EOF, error, or the client stopped reading. */
			pthread_mutex_lock(&q->lock);
			for (slot = 0; slot < QMP_MAX_CLIENTS; slot++) {
				if (q->clients[slot] == c)
					drop_client(q, slot);
			}
			pthread_mutex_unlock(&q->lock);
		}
	}
	return NULL;
}

/* Replace a stale socket file; refuse a live one or a non-socket. */
static int prepare_path(const char *path, struct error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return error_set(err, EEXIST,
				 "--qmp unix:%s: file exists and is not a "
				 "socket",
				 path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, errno, "qmp: socket: %s",
				 strerror(errno));
	memcpy(sa.sun_path, path, strlen(path));
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0)
		return error_set(err, EADDRINUSE,
				 "--qmp unix:%s: another process is listening "
				 "there",
				 path);
	unlink(path);
	return 0;
}

static void parse_version(struct qmp *q, const char *v)
{
	snprintf(q->package, sizeof(q->package), "softvisor %s",
		 v ? v : "unknown");
	if (v)
		sscanf(v, "%d.%d.%d", &q->version[0], &q->version[1],
		       &q->version[2]);
}

struct qmp *qmp_open(const struct qmp_spec *spec, const struct qmp_ops *ops,
		     void *opaque, const struct qmp_opts *opts,
		     struct error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp *q;
	int rc;

	if (!spec->path[0] || strlen(spec->path) >= sizeof(sa.sun_path)) {
		error_set(err, EINVAL, "qmp: bad socket path");
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		error_set(err, ENOMEM, "qmp: out of memory");
		return NULL;
	}
	q->ops = ops;
	q->opaque = opaque;
	q->listen_fd = -1;
	q->wake[0] = q->wake[1] = -1;
	pthread_mutex_init(&q->lock, NULL);
	parse_version(q, opts ? opts->version : NULL);
	snprintf(q->path, sizeof(q->path), "%s", spec->path);

	if (pipe2(q->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		error_set(err, errno, "qmp: pipe: %s", strerror(errno));
		goto fail;
	}
	if (prepare_path(q->path, err) < 0)
		goto fail;
	q->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->listen_fd < 0) {
		error_set(err, errno, "qmp: socket: %s", strerror(errno));
		goto fail;
	}
	memcpy(sa.sun_path, q->path, strlen(q->path));
	if (bind(q->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		error_set(err, errno, "--qmp unix:%s: %s", q->path,
			  strerror(errno));
		goto fail;
	}
	/* The channel can stop the VM: owner only. No client can connect
	 * before listen(), so there is no window. */
	if (chmod(q->path, 0600) < 0 || listen(q->listen_fd, 8) < 0) {
		error_set(err, errno, "--qmp unix:%s: %s", q->path,
			  strerror(errno));
		unlink(q->path);
		goto fail;
	}
	rc = pthread_create(&q->thread, NULL, qmp_thread, q);
	if (rc) {
		error_set(err, rc, "qmp: thread: %s", strerror(rc));
		unlink(q->path);
		goto fail;
	}
	q->thread_started = true;
	return q;
fail:
	if (q->listen_fd >= 0)
		close(q->listen_fd);
	q->listen_fd = -1;
	q->path[0] = 0;
	qmp_close(q);
	return NULL;
}

void qmp_close(struct qmp *q)
{
	int i;

	if (!q)
		return;
	if (q->thread_started) {
		atomic_store(&q->stop, true);
		wake_thread(q);
		pthread_join(q->thread, NULL);
	}
	for (i = 0; i < QMP_MAX_CLIENTS; i++) {
		if (q->clients[i])
			drop_client(q, i);
	}
	if (q->listen_fd >= 0) {
		close(q->listen_fd);
		unlink(q->path);
	}
	if (q->wake[0] >= 0)
		close(q->wake[0]);
	if (q->wake[1] >= 0)
		close(q->wake[1]);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
