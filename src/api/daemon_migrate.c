/*
 * Live migration between two daemons (issue 18; docs/vm-state.md, "Live
 * migration"), stop-and-copy over the destination's TLS API with its
 * token:
 *
 *   source (POST /v1/vms/NAME/migrate, a task)     destination
 *   the worker writes the VM's state into a socket
 *   (the VM pauses) ── POST /v1/migrations/incoming ─▶ a VM record is
 *   "SVMIGR1\n", the definition, the state stream     created, a worker
 *                                                     restores it from
 *                  ◀── 200, the VM (paused) ───────── the stream, paused
 *   ── POST /v1/vms/NAME/resume ─────────────────────▶ it runs
 *   the source's machine ends and its record goes
 *
 * The worker's state stream is pre-copy (machine/virt_migrate.c): RAM
 * passes while the guest runs, then the paused rest within the downtime
 * budget ("downtime_ms", default 50; 0: stop-and-copy, all of it paused).
 *
 * A failure at any point before the destination answered the resume
 * leaves the VM on the source, which continues it (resume), and the
 * destination drops what it received; if the resume's answer is lost the
 * source asks the destination to stop and delete its copy before it
 * continues (the guest never runs on both: the destination's copy stays
 * paused until that resume). Shared storage: disks are not copied; the
 * source's worker hands each image over at the final pause (written
 * back, unlocked) and the destination's opens it at the resume
 * (machine/virt_disks.c). With disks, a resume whose answer is lost
 * leaves the VM paused here: the copy there may have written them.
 *
 * The source holds the VM's op_lock for the whole migration (no start,
 * stop or edit meanwhile).
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/daemon_impl.h"
#include "api/tls.h"
#include "util/clock.h"
#include "util/log.h"
#include "vmm/lifecycle.h"

#define LOG	   "migrate"
#define MIGR_MAGIC "SVMIGR1\n"
#define RELAY_BUF  (256u * 1024)
#define REPLY_MAX  (64u * 1024)
#define URL_MAX	   512
#define TOKEN_MAX  256
#define STALL_S	   30L /* a transfer that moves nothing this long fails */

static void record(struct daemon *d, const char *vm, const char *actor,
		   const char *action, bool ok, const char *msg)
{
	struct error e = { 0 };

	if (inventory_event_add(d->inv, vm, actor, action, ok ? "ok" : "failed",
				msg, &e))
		log_warn(LOG, "event not recorded: %s", e.msg);
}

/* ---- the destination ------------------------------------------------------ */

/* Copies the request body into the socket the restoring worker reads. */
struct relay {
	int fd;
	long (*rd)(void *opaque, void *buf, size_t n);
	void *opaque;
	uint64_t bytes;
};

static void *relay_thread(void *arg)
{
	struct relay *x = arg;
	char *buf = malloc(RELAY_BUF);

	while (buf) {
		long n = x->rd(x->opaque, buf, RELAY_BUF);
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			ssize_t w = send(x->fd, buf + off, (size_t)(n - off),
					 MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) /* the worker stopped reading: failed */
				goto out;
			off += w;
			x->bytes += (uint64_t)w;
		}
	}
out:
	free(buf);
	shutdown(x->fd, SHUT_WR);
	return NULL;
}

int daemon_migrate_incoming(struct daemon *d, const char *actor,
			    const char *def_json, bool mirror,
			    long (*rd)(void *opaque, void *buf, size_t n),
			    void *opaque, json_t **out, struct error *err)
{
	json_t *vmj = NULL;
	char name[VMDEF_NAME_MAX + 1];
	int r = daemon_vm_create(d, actor, def_json, &vmj, err);

	if (r)
		return r;
	snprintf(name, sizeof(name), "%s",
		 json_string_value(json_object_get(vmj, "name")));
	json_decref(vmj);
	struct dvm *v = dvm_op_begin(d, name, err);
	if (!v)
		return -ENOENT;
	int sv[2] = { -1, -1 };
	if (v->state != VM_STATE_DEFINED)
		r = error_set(err, EBUSY, "%s was started meanwhile", name);
	else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		r = error_set(err, errno, "socketpair: %s", strerror(errno));
	else
		tls_bound_buffer(sv[1], SO_SNDBUF); /* the relay's side */
	pthread_t th;
	struct relay x = { .fd = sv[1], .rd = rd, .opaque = opaque };
	bool relaying = !r && !pthread_create(&th, NULL, relay_thread, &x);
	if (!r && !relaying)
		r = error_set(err, EAGAIN, "cannot start a thread");
	uint64_t t0 = clock_monotonic_ns();
	if (!r) {
		v->restoring = true;
		v->restore_fd = sv[0];
		v->start_paused = true;
		v->mirror_in = mirror;
		r = dvm_start(d, v, err);
		v->restoring = v->start_paused = v->mirror_in = false;
		v->restore_fd = -1;
	}
	if (sv[0] >= 0) /* a relay still writing fails and ends */
		shutdown(sv[0], SHUT_RDWR);
	if (relaying)
		pthread_join(th, NULL);
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	/* its vCPUs wait (dvm_start left it paused): the source still owns
	 * the guest until it lets go with a resume */
	char msg[160];
	snprintf(msg, sizeof(msg), "%llu bytes received, restored in %.1f ms",
		 (unsigned long long)x.bytes,
		 (clock_monotonic_ns() - t0) / 1e6);
	record(d, name, actor, "migrate-in", !r, r ? err->msg : msg);
	dvm_op_end(d, v);
	if (r) {
		struct error e2 = { 0 };
		if (daemon_vm_delete(d, actor, name, &e2))
			log_warn(LOG, "%s: %s", name, e2.msg);
		error_prefix(err, "incoming migration of %s", name);
		return r;
	}
	log_info(LOG, "%s: %s", name, msg);
	return daemon_vm_get(d, name, out, err);
}

/* ---- the source ----------------------------------------------------------- */

struct migr_job {
	struct daemon *d;
	struct dvm *v; /* a reference */
	unsigned gen;
	int64_t task;
	char actor[64];
	char to[URL_MAX];
	char token[TOKEN_MAX];
	char ca_file[URL_MAX];
	bool insecure;
	unsigned downtime_ms; /* 0: stop-and-copy */
	/* --copy-storage (daemon_mirror.c): the disks go in the stream; the
	 * destination's query says their sizes */
	bool copy_storage;
	char mirror_query[512];
	/* one handle for every call: the resume after the stream reuses its
	 * connection (no TLS handshake inside the downtime) */
	CURL *curl;
	/* the last reply's Server-Timing "running" (the resume's: how long
	 * the guest had run there when it answered), ms; 0: none */
	double running_ms;
};

/* The worker's save into the socket, on its own thread. */
struct saver {
	struct vm *vm;
	int fd;
	unsigned budget_ms;
	bool copy_storage;
	int r;
	struct error err;
	struct virt_save_stats st;
	struct virt_precopy_result res;
	uint64_t t_start, t_end;
};

static void *saver_thread(void *arg)
{
	struct saver *s = arg;

	s->t_start = clock_monotonic_ns();
	s->r = vm_migrate_fd(s->vm, s->fd, s->budget_ms, s->copy_storage,
			     &s->st, &s->res, &s->err);
	if (!s->r && !s->res.final_pause_ns) /* stop-and-copy: all paused */
		s->res.final_pause_ns = s->t_start;
	s->t_end = clock_monotonic_ns();
	shutdown(s->fd, SHUT_WR); /* the end of the upload */
	return NULL;
}

/* --copy-storage: the disks' part of what is left, and their figures in
 * the task. */
static uint64_t mirror_left(struct migr_job *j,
			    const struct virt_precopy_progress *pr)
{
	daemon_task_disk_progress(j->d, j->task, pr->disk_done, pr->disk_total,
				  pr->disk_dirty, pr->disk_sent);
	/* scanned bytes that are zeros are not sent: what is left to scan
	 * is an upper bound */
	return (pr->disk_total > pr->disk_done ? pr->disk_total - pr->disk_done
					       : 0) +
	       pr->disk_dirty;
}

/* The upload: the stream's header, then what the worker writes. */
struct upload {
	struct migr_job *j;
	struct vm *vm;
	char *head;
	size_t head_len, head_pos;
	int fd;
	uint64_t sent, estimate, last_report;
	bool read_error;
};

static size_t upload_read(char *buf, size_t size, size_t nmemb, void *opaque)
{
	struct upload *u = opaque;
	size_t cap = size * nmemb, n;

	if (u->head_pos < u->head_len) {
		n = u->head_len - u->head_pos;
		if (n > cap)
			n = cap;
		memcpy(buf, u->head + u->head_pos, n);
		u->head_pos += n;
		return n;
	}
	ssize_t r;
	do
		r = read(u->fd, buf, cap);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		u->read_error = true;
		return CURL_READFUNC_ABORT;
	}
	u->sent += (uint64_t)r;
	if (u->sent - u->last_report >= (1u << 20) || r == 0) {
		struct virt_precopy_progress pr;
		vm_migrate_progress(u->vm, &pr);
		/* pass 0: the RAM's size is the estimate; then what the last
		 * pass left dirty */
		uint64_t ram_sent = u->sent - pr.disk_sent;
		uint64_t left = pr.pass ? pr.dirty_frames * 4096
				: u->estimate > ram_sent
					? u->estimate - ram_sent
					: 0;
		if (u->j->copy_storage)
			left += mirror_left(u->j, &pr);
		int pct = (int)(u->sent * 95 / (u->sent + left + 1));
		char msg[128];
		snprintf(msg, sizeof(msg),
			 "copying: pass %u, %llu MiB sent, %llu MiB dirty",
			 pr.pass, (unsigned long long)(u->sent >> 20),
			 (unsigned long long)(left >> 20));
		daemon_task_progress(u->j->d, u->j->task, pct, msg, u->sent,
				     left, pr.dirty_rate);
		u->last_report = u->sent;
	}
	return (size_t)r;
}

struct reply {
	char *buf;
	size_t len;
};

/* The stream's socket holds little (tls.h, TLS_STREAM_BUFFER): what it
 * holds at the final pause is sent inside the downtime. */
static int sockopt_bound(void *opaque, curl_socket_t fd, curlsocktype purpose)
{
	(void)opaque;
	if (purpose == CURLSOCKTYPE_IPCXN)
		tls_bound_buffer(fd, SO_SNDBUF);
	return CURL_SOCKOPT_OK;
}

/* "Server-Timing: running;desc=...;dur=MS" of the destination's resume
 * (rest.c) into j->running_ms. */
static size_t header_seen(char *p, size_t size, size_t nmemb, void *opaque)
{
	struct migr_job *j = opaque;
	size_t n = size * nmemb;
	char line[256];
	const char *name = "server-timing:";

	if (n >= sizeof(line) || n < strlen(name) ||
	    strncasecmp(p, name, strlen(name)))
		return n;
	memcpy(line, p, n);
	line[n] = '\0';
	const char *m = strstr(line, "running;");
	const char *dur = m ? strstr(m, "dur=") : NULL;
	double ms = dur ? strtod(dur + 4, NULL) : 0;
	if (ms > 0 && ms < 60000)
		j->running_ms = ms;
	return n;
}

static size_t reply_write(char *p, size_t size, size_t nmemb, void *opaque)
{
	struct reply *rp = opaque;
	size_t n = size * nmemb;

	if (rp->len + n > REPLY_MAX)
		return n; /* keep the start only */
	char *b = realloc(rp->buf, rp->len + n + 1);
	if (!b)
		return 0;
	rp->buf = b;
	memcpy(b + rp->len, p, n);
	rp->len += n;
	b[rp->len] = '\0';
	return n;
}

/* A request to the destination; 0 with *status, or -EIO with err. body:
 * up (streamed, may be NULL: empty). The reply's error message, if any,
 * goes into err on a status >= 300. */
static int dest_call(struct migr_job *j, const char *method, const char *path,
		     struct upload *up, long *status, struct error *err)
{
	char url[URL_MAX + 256], auth[TOKEN_MAX + 32];
	struct reply rp = { 0 };
	struct curl_slist *h = NULL;
	CURL *c = j->curl;

	if (!c)
		return error_set(err, ENOMEM, "curl: cannot start");
	curl_easy_reset(c); /* options go, the connection stays */
	snprintf(url, sizeof(url), "%s%s", j->to, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", j->token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, "Content-Type: application/octet-stream");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_S);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &rp);
	j->running_ms = 0;
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_seen);
	curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, sockopt_bound);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, j);
	if (j->ca_file[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, j->ca_file);
	if (j->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	if (up) {
		curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
		curl_easy_setopt(c, CURLOPT_READDATA, up);
		h = curl_slist_append(h, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	} else {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	CURLcode cc = curl_easy_perform(c);
	int r = 0;
	if (cc != CURLE_OK) {
		r = error_set(err, EIO, "%s %s: %s", method, url,
			      curl_easy_strerror(cc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		if (*status >= 300) {
			json_t *o = rp.buf ? json_loads(rp.buf, 0, NULL) : NULL;
			const char *m = json_string_value(json_object_get(
				json_object_get(o, "error"), "message"));
			error_set(err, EIO, "%s %s: %ld %s", method, url,
				  *status, m ? m : "");
			json_decref(o);
		}
	}
	curl_slist_free_all(h);
	free(rp.buf);
	return r;
}

/* Phase 1: the state to the destination, which restores it paused. */
static int send_state(struct migr_job *j, struct dvm *v, struct saver *s,
		      struct upload *up, struct error *err)
{
	int sv[2];
	pthread_t th;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return error_set(err, errno, "socketpair: %s", strerror(errno));
	s->vm = v->vm;
	s->fd = sv[1];
	s->budget_ms = j->downtime_ms;
	s->copy_storage = j->copy_storage;
	up->vm = v->vm;
	if (pthread_create(&th, NULL, saver_thread, s)) {
		close(sv[0]);
		close(sv[1]);
		return error_set(err, EAGAIN, "cannot start a thread");
	}
	up->fd = sv[0];
	long status = 0;
	char path[sizeof(j->mirror_query) + 32];
	snprintf(path, sizeof(path), "/v1/migrations/incoming%s%s",
		 j->copy_storage ? "?" : "",
		 j->copy_storage ? j->mirror_query : "");
	int r = dest_call(j, "POST", path, up, &status, err);
	/* a worker still writing gets EPIPE and its save fails */
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
	/* the destination's answer says more than the broken pipe it made
	 * of the save */
	if (r)
		return r;
	if (status != 200)
		return -EIO; /* err says why */
	if (s->r) {
		*err = s->err;
		return s->r;
	}
	return 0;
}

static void *migrate_thread(void *arg)
{
	struct migr_job *j = arg;
	struct daemon *d = j->d;
	struct dvm *v = j->v;
	struct error err = { 0 };
	struct saver s = { 0 };
	char name[VMDEF_NAME_MAX + 1], msg[640], path[VMDEF_NAME_MAX + 32];
	bool moved = false, unknown = false;
	uint64_t t0 = clock_monotonic_ns(), t_resumed = 0, t_answered = 0;
	int r = 0;

	j->curl = curl_easy_init();
	pthread_mutex_lock(&v->op_lock);
	snprintf(name, sizeof(name), "%s", v->def.name);
	if (v->deleted || v->gen != j->gen || !vm_state_live(v->state))
		r = error_set(&err, EBUSY,
			      "%s stopped before the migration began", name);
	bool was_running = v->state == VM_STATE_RUNNING;
	char *def = r ? NULL : vmdef_to_json(&v->def);
	struct upload up = { .j = j, .estimate = v->def.memory };
	if (!r && def) {
		size_t n = strlen(def);
		up.head = malloc(12 + n);
		if (up.head) {
			memcpy(up.head, MIGR_MAGIC, 8);
			for (int i = 0; i < 4; i++)
				up.head[8 + i] = (char)((n >> (8 * i)) & 0xff);
			memcpy(up.head + 12, def, n);
			up.head_len = 12 + n;
		}
	}
	if (!r && !up.head)
		r = error_set(&err, ENOMEM, "out of memory");
	if (!r)
		r = send_state(j, v, &s, &up, &err);
	uint64_t t_restored = clock_monotonic_ns();
	if (!r) {
		/* phase 2: the destination's copy runs */
		long status = 0;
		snprintf(path, sizeof(path), "/v1/vms/%s/resume", name);
		int r2 = dest_call(j, "POST", path, NULL, &status, &err);
		if (!r2 && status == 200) {
			moved = true;
			t_answered = clock_monotonic_ns();
			/* the guest ran there before the answer left (its
			 * state, event and audit record come after) */
			uint64_t ran = (uint64_t)(j->running_ms * 1e6);
			t_resumed = t_answered - ran > t_restored
					    ? t_answered - ran
					    : t_restored;
		} else {
			/* no answer: the copy there may have run and written
			 * the disks; the source must not go on over them */
			unknown = r2 && v->def.n_disks;
			/* whatever became of the resume: the copy goes */
			struct error e2 = { 0 };
			snprintf(path, sizeof(path), "/v1/vms/%s/stop", name);
			dest_call(j, "POST", path, NULL, &status, &e2);
			snprintf(path, sizeof(path), "/v1/vms/%s", name);
			dest_call(j, "DELETE", path, NULL, &status, &e2);
			r = r2 ? r2 : -EIO;
		}
	}
	if (moved) {
		unsigned gen = v->gen;
		vm_stop(v->vm, 0);
		dvm_finalize(d, v, gen, j->actor);
		snprintf(msg, sizeof(msg),
			 "migrated to %.200s: downtime %.1f ms, total %.1f ms, "
			 "%llu bytes sent, %u passes, %llu pages paused, "
			 "dirty rate %.1f MB/s "
			 "(paused: %.1f ms writing, %.1f ms to the "
			 "destination's restore, %.1f ms to its resume; "
			 "answered %.1f ms later)",
			 j->to, (t_resumed - s.res.final_pause_ns) / 1e6,
			 (t_answered - t0) / 1e6, (unsigned long long)up.sent,
			 s.res.passes, (unsigned long long)s.res.final_frames,
			 s.res.dirty_rate / 1e6,
			 (s.t_end - s.res.final_pause_ns) / 1e6,
			 (t_restored - s.t_end) / 1e6,
			 (t_resumed - t_restored) / 1e6,
			 (t_answered - t_resumed) / 1e6);
		if (j->copy_storage) { /* the disks' part of the bytes */
			size_t l = strlen(msg);
			snprintf(msg + l, sizeof(msg) - l,
				 "; disks copied: %llu bytes",
				 (unsigned long long)s.res.disk_bytes);
		}
	} else if (unknown) {
		struct error e2 = { 0 };
		if (dvm_set_state(d, v, VM_STATE_PAUSED, &e2))
			log_warn(LOG, "%s: %s", name, e2.msg);
		snprintf(msg, sizeof(msg),
			 "%.200s: the destination's resume went unanswered; "
			 "the VM stays paused here (the copy there may have "
			 "written its disks: check it before resuming this "
			 "one)",
			 err.msg);
	} else {
		/* the VM stays here: the save paused it */
		if (was_running && v->vm && vm_resume(v->vm))
			log_warn(LOG,
				 "%s: not resumed after the failed "
				 "migration",
				 name);
		snprintf(msg, sizeof(msg), "%.200s (the VM goes on here)",
			 err.msg);
	}
	record(d, name, j->actor, "migrate", moved, msg);
	log_info(LOG, "%s: %s", name, msg);
	pthread_mutex_unlock(&v->op_lock);
	if (moved) { /* it lives on the destination now */
		struct error e2 = { 0 };
		if (daemon_vm_delete(d, j->actor, name, &e2))
			log_warn(LOG, "%s: %s", name, e2.msg);
	}
	daemon_task_end(d, j->task, moved, msg);
	if (j->curl)
		curl_easy_cleanup(j->curl);
	free(up.head);
	free(def);
	dvm_put(d, v);
	free(j);
	return NULL;
}

/* Fill j from the request body {"to", "token", "insecure", "ca_file"}. */
static int parse_body(const char *body, struct migr_job *j, struct error *err)
{
	json_error_t jerr;
	json_t *o = body && *body ? json_loads(body, 0, &jerr) : NULL;
	const char *key;
	json_t *val;
	int r = 0;

	if (!json_is_object(o)) {
		json_decref(o);
		return error_set(
			err, EINVAL,
			"body: expected {\"to\": \"https://HOST:PORT\", "
			"\"token\": \"...\"}");
	}
	json_object_foreach(o, key, val)
	{
		const char *s = json_string_value(val);
		if (!strcmp(key, "insecure") && json_is_boolean(val))
			j->insecure = json_is_true(val);
		else if (!strcmp(key, "copy_storage") && json_is_boolean(val))
			j->copy_storage = json_is_true(val);
		else if (!strcmp(key, "downtime_ms") && json_is_integer(val) &&
			 json_integer_value(val) >= 0 &&
			 json_integer_value(val) <= 60000)
			j->downtime_ms = (unsigned)json_integer_value(val);
		else if (!strcmp(key, "to") && s && strlen(s) < URL_MAX)
			snprintf(j->to, sizeof(j->to), "%s", s);
		else if (!strcmp(key, "token") && s && strlen(s) < TOKEN_MAX)
			snprintf(j->token, sizeof(j->token), "%s", s);
		else if (!strcmp(key, "ca_file") && s && strlen(s) < URL_MAX)
			snprintf(j->ca_file, sizeof(j->ca_file), "%s", s);
		else {
			r = error_set(err, EINVAL, "body: bad field '%s'", key);
			break;
		}
	}
	json_decref(o);
	size_t n = strlen(j->to);
	while (!r && n && j->to[n - 1] == '/')
		j->to[--n] = '\0';
	if (!r && strncmp(j->to, "https://", 8))
		r = error_set(err, EINVAL,
			      "to: expected the destination daemon's "
			      "https://HOST:PORT");
	if (!r && !j->token[0])
		r = error_set(err, EINVAL,
			      "token: the destination daemon's API token is "
			      "needed");
	for (const char *p = j->token; !r && *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			r = error_set(err, EINVAL, "token: not a token");
	return r;
}

int daemon_vm_migrate(struct daemon *d, struct dvm *v, const char *actor,
		      const char *body, json_t **out, struct error *err)
{
	struct migr_job *j = calloc(1, sizeof(*j));

	if (!j)
		return error_set(err, ENOMEM, "out of memory");
	j->downtime_ms = 50;
	int r = parse_body(body, j, err);
	if (!r && !vm_state_live(v->state))
		r = error_set(err, EBUSY, "%s is %s, not running", v->def.name,
			      vm_state_name(v->state));
	/* --copy-storage: the disks can be copied (daemon_mirror.c) */
	if (!r && j->copy_storage)
		r = daemon_mirror_check(&v->def, j->mirror_query,
					sizeof(j->mirror_query), err);
	if (!r)
		r = daemon_task_begin(d, "migrate", v->def.name, &j->task, out,
				      err);
	if (r) {
		free(j);
		return r;
	}
	j->d = d;
	j->v = v;
	j->gen = v->gen;
	snprintf(j->actor, sizeof(j->actor), "%s", actor);
	pthread_mutex_lock(&d->lock);
	v->refs++;
	pthread_mutex_unlock(&d->lock);
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, migrate_thread, j)) {
		pthread_attr_destroy(&attr);
		daemon_task_end(d, j->task, false, "cannot start a thread");
		dvm_put(d, v);
		free(j);
		json_decref(*out);
		*out = NULL;
		return error_set(err, EAGAIN, "cannot start a thread");
	}
	pthread_attr_destroy(&attr);
	return 0;
}
