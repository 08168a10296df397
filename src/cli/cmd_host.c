/*
 * softvisor host info, softvisor events, softvisor token ...: the host-wide
 * commands of the client (docs/cli.md).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/client_stream.h"
#include "cli/cmdutil.h"
#include "cli/output.h"
#include "util/parse.h"

/* ---- host info -------------------------------------------------------------- */

static void host_usage(FILE *f)
{
	fprintf(f, "usage: softvisor host info [--output json|table]\n\n"
		   "The host's capacity and what the VMs use of it.\n\n");
	client_opts_usage(f);
}

static void print_host(const json_t *h)
{
	char b[64];

	printf("%-26s  %s\n", "hostname", cmd_jstr(h, "hostname"));
	printf("%-26s  %s\n", "version", cmd_jstr(h, "version"));
	printf("%-26s  %.0f\n", "pcpus", cmd_jnum(h, "pcpus"));
	printf("%-26s  %.0f\n", "MHz per pcpu", cmd_jnum(h, "mhz_per_pcpu"));
	printf("%-26s  %.0f\n", "capacity MHz", cmd_jnum(h, "capacity_mhz"));
	printf("%-26s  %.0f\n", "reserved MHz", cmd_jnum(h, "reserved_mhz"));
	fmt_size((uint64_t)cmd_jnum(h, "memory_total"), b, sizeof(b));
	printf("%-26s  %s\n", "memory", b);
	fmt_size((uint64_t)cmd_jnum(h, "memory_configured_running"), b,
		 sizeof(b));
	printf("%-26s  %s\n", "memory of running VMs", b);
	fmt_size((uint64_t)cmd_jnum(h, "memory_budget"), b, sizeof(b));
	printf("%-26s  %s\n", "memory budget", b);
	fmt_size((uint64_t)cmd_jnum(h, "memory_reserved"), b, sizeof(b));
	printf("%-26s  %s\n", "memory reserved", b);
	printf("%-26s  %.0f\n", "vms", cmd_jnum(h, "vms_total"));
	printf("%-26s  %.0f\n", "vms running", cmd_jnum(h, "vms_running"));
	fmt_duration(cmd_jnum(h, "uptime_s"), b, sizeof(b));
	printf("%-26s  %s\n", "daemon uptime", b);
}

int cmd_host(int argc, char **argv)
{
	struct client_opts o = { 0 };
	struct client *c;
	json_t *h = NULL;
	int r;

	if (argc < 2 || (strcmp(argv[1], "info") && strcmp(argv[1], "--help") &&
			 strcmp(argv[1], "-h"))) {
		if (argc >= 2)
			fprintf(stderr,
				"softvisor host: unknown command "
				"'%s'\n",
				argv[1]);
		host_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "info")) {
		host_usage(stdout);
		return CLI_EXIT_OK;
	}
	r = cmd_parse(argc - 1, argv + 1, "host info", NULL, NULL, NULL, 0,
		      NULL, &o, host_usage);
	if (r >= 0)
		return r;
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	r = cmd_call(c, "GET", "/v1/host", NULL, &h);
	if (!r) {
		if (client_output(c) == CLIENT_OUTPUT_JSON)
			output_json(stdout, h);
		else
			print_host(h);
	}
	json_decref(h);
	client_close(c);
	return r;
}

/* ---- events ----------------------------------------------------------------- */

struct events_args {
	const char *vm;
	bool follow;
	uint64_t limit;
};

enum { O_VM = 256, O_FOLLOW, O_LIMIT };

static int events_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct events_args *a = opaque;

	switch (c) {
	case O_VM: a->vm = arg; return 0;
	case O_FOLLOW: a->follow = true; return 0;
	default: return parse_u64(arg, 1, 100000, &a->limit, "--limit", err);
	}
}

static void events_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor events [--vm NAME] [--follow] [--limit N]\n"
		"\n"
		"The daemon's event log: who did what to which VM, and how\n"
		"it ended. --follow keeps printing new events (one JSON\n"
		"object per line with --output json) until interrupted.\n\n");
	client_opts_usage(f);
}

static void print_events(const json_t *events)
{
	static const char *const hdr[] = { "TIME",   "VM",     "ACTOR",
					   "ACTION", "RESULT", "MESSAGE" };
	struct table *t = table_new(6, hdr);
	const json_t *e;
	size_t i;

	if (!t)
		return;
	json_array_foreach(events, i, e)
	{
		char tm[32];
		const char *cells[6];

		fmt_time_ms((int64_t)cmd_jnum(e, "time_ms"), tm, sizeof(tm));
		cells[0] = tm;
		cells[1] = cmd_jstr(e, "vm");
		cells[2] = cmd_jstr(e, "actor");
		cells[3] = cmd_jstr(e, "action");
		cells[4] = cmd_jstr(e, "result");
		cells[5] = cmd_jstr(e, "message");
		table_add(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

/* One row without the header (follow mode after the first page). */
static void print_event_line(const json_t *e)
{
	char tm[32];

	fmt_time_ms((int64_t)cmd_jnum(e, "time_ms"), tm, sizeof(tm));
	printf("%s  %s  %s  %s  %s  %s\n", tm, cmd_jstr(e, "vm"),
	       cmd_jstr(e, "actor"), cmd_jstr(e, "action"),
	       cmd_jstr(e, "result"), cmd_jstr(e, "message"));
}

static char *events_path(const struct events_args *a, int64_t after)
{
	char *vm = a->vm ? cmd_escape(a->vm) : NULL, *p = NULL;
	char lim[32] = "", aft[40] = "";

	if (a->vm && !vm)
		return NULL;
	if (a->limit)
		snprintf(lim, sizeof(lim), "&limit=%llu",
			 (unsigned long long)a->limit);
	if (after > 0)
		snprintf(aft, sizeof(aft), "&after=%lld", (long long)after);
	if (asprintf(&p, "/v1/events?%s%s%s%s", vm ? "vm=" : "", vm ? vm : "",
		     lim, aft) < 0)
		p = NULL;
	free(vm);
	/* "?&limit=" is harmless, but keep the query tidy */
	if (p) {
		char *q = strstr(p, "?&");
		if (q)
			memmove(q + 1, q + 2, strlen(q + 2) + 1);
		else if (p[strlen(p) - 1] == '?')
			p[strlen(p) - 1] = '\0';
	}
	return p;
}

static volatile sig_atomic_t stop_follow;

struct follow {
	bool json;
	int64_t last;
};

static int on_follow_event(void *opaque, const struct client_sse_event *ev)
{
	struct follow *f = opaque;
	json_t *e;

	if (strcmp(ev->event, "event") != 0)
		return 0; /* overflow: the stream ends, we resume */
	e = json_loads(ev->data, 0, NULL);
	if (!e)
		return 0;
	if (f->json) {
		json_dumpf(e, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		print_event_line(e);
	}
	fflush(stdout);
	if (cmd_jnum(e, "id") > (double)f->last)
		f->last = (int64_t)cmd_jnum(e, "id");
	json_decref(e);
	return 0;
}

/* The stream of --follow (the vm filter; where to start is sent as
 * Last-Event-ID). */
static char *follow_path(const struct events_args *a)
{
	char *vm = a->vm ? cmd_escape(a->vm) : NULL, *p = NULL;

	if (a->vm && !vm)
		return NULL;
	if (asprintf(&p, "/v1/events/stream%s%s", vm ? "?vm=" : "",
		     vm ? vm : "") < 0)
		p = NULL;
	free(vm);
	return p;
}

static void on_int(int sig)
{
	stop_follow = 1;
}

int cmd_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, O_VM },
		{ "follow", no_argument, NULL, O_FOLLOW },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ NULL, 0, NULL, 0 },
	};
	struct events_args a = { 0 };
	struct client_opts o = { 0 };
	struct client *c;
	json_t *reply = NULL, *e;
	int64_t last = 0;
	bool json;
	char *path;
	size_t i;
	int r;

	r = cmd_parse(argc, argv, "events", opts, events_opt, &a, 0, NULL, &o,
		      events_usage);
	if (r >= 0)
		return r;
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	json = client_output(c) == CLIENT_OUTPUT_JSON;
	path = events_path(&a, 0);
	r = cmd_call(c, "GET", path, NULL, &reply);
	free(path);
	if (r)
		goto out;
	if (json && !a.follow)
		output_json(stdout, reply);
	else if (!json)
		print_events(json_object_get(reply, "events"));
	json_array_foreach(json_object_get(reply, "events"), i, e)
	{
		if (json && a.follow) {
			json_dumpf(e, stdout, JSON_COMPACT);
			putchar('\n');
		}
		if (cmd_jnum(e, "id") > (double)last)
			last = (int64_t)cmd_jnum(e, "id");
	}
	if (!a.follow)
		goto out;
	signal(SIGINT, on_int);
	signal(SIGTERM, on_int);
	fflush(stdout);
	/* follow: the live stream, resumed after the last event seen when
	 * the server ends it (a client that fell behind is dropped) */
	path = follow_path(&a);
	if (!path) {
		r = CLI_EXIT_FAIL;
		goto out;
	}
	bool busy_told = false;

	while (!stop_follow) {
		struct follow f = { .json = json, .last = last };
		struct error err = { 0 };

		r = client_stream(c, path, last, on_follow_event, &f,
				  &stop_follow, &err);
		last = f.last;
		if (r == -EAGAIN) {
			/* the daemon has too many streams: wait for a place */
			struct timespec ts = { 5, 0 };

			if (!busy_told)
				fprintf(stderr, "softvisor: %s: retrying\n",
					err.msg);
			busy_told = true;
			nanosleep(&ts, NULL);
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "softvisor: %s\n", err.msg);
			free(path);
			r = CLI_EXIT_FAIL;
			goto out;
		}
		if (!stop_follow) {
			struct timespec ts = { 1, 0 };

			nanosleep(&ts, NULL);
		}
	}
	free(path);
	r = CLI_EXIT_OK;
out:
	json_decref(reply);
	client_close(c);
	return r;
}

/* ---- tokens ------------------------------------------------------------------ */

static const char *token_sub; /* for token_usage() */

static void token_usage(FILE *f)
{
	if (token_sub && !strcmp(token_sub, "create"))
		fprintf(f,
			"usage: softvisor token create NAME [--role ROLE] "
			"[--vm VM]... [--expires-in DUR]\n\n"
			"Create an API token for remote access (--url).\n"
			"The secret is printed once; store it.\n"
			"ROLE: admin (default), operator (power operations\n"
			"and console) or read-only. --vm (repeatable) limits\n"
			"the token to those VMs. DUR: 90s, 30m, 12h, 30d.\n\n");
	else if (token_sub && !strcmp(token_sub, "list"))
		fprintf(f, "usage: softvisor token list\n\n"
			   "The API tokens (never their secrets).\n\n");
	else if (token_sub && !strcmp(token_sub, "revoke"))
		fprintf(f, "usage: softvisor token revoke NAME\n\n"
			   "Revoke a token: requests with it get 401.\n\n");
	else
		fprintf(f, "usage: softvisor token create NAME | list | "
			   "revoke NAME\n\n"
			   "API tokens for remote (TLS) access; managed over\n"
			   "the local socket only.\n\n");
	client_opts_usage(f);
}

static void print_tokens(const json_t *tokens)
{
	static const char *const hdr[] = { "NAME",   "ID",	"ROLE",
					   "VMS",    "CREATED", "EXPIRES",
					   "REVOKED" };
	struct table *t = table_new(7, hdr);
	const json_t *k;
	size_t i;

	if (!t)
		return;
	json_array_foreach(tokens, i, k)
	{
		char id[24], cr[32], ex[32], rv[32], vms[256] = "";
		const char *cells[7] = {
			cmd_jstr(k, "name"), id, "admin", vms, cr, ex, rv
		};
		const json_t *v;
		size_t j;

		snprintf(id, sizeof(id), "%.0f", cmd_jnum(k, "id"));
		if (json_is_string(json_object_get(k, "role")))
			cells[2] = cmd_jstr(k, "role");
		json_array_foreach(json_object_get(k, "vms"), j, v)
		{
			size_t used = strlen(vms);

			snprintf(vms + used, sizeof(vms) - used, "%s%s",
				 j ? "," : "", json_string_value(v));
		}
		if (!vms[0])
			snprintf(vms, sizeof(vms), "all");
		fmt_time_ms((int64_t)cmd_jnum(k, "created_ms"), cr, sizeof(cr));
		fmt_time_ms((int64_t)cmd_jnum(k, "expires_ms"), ex, sizeof(ex));
		fmt_time_ms((int64_t)cmd_jnum(k, "revoked_ms"), rv, sizeof(rv));
		table_add(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

struct token_args {
	const char *role;
	json_t *vms;
	uint64_t expires_s;
};

enum { O_ROLE = 300, O_TVM, O_EXPIRES };

static int token_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct token_args *a = opaque;
	char *end;
	unsigned long long v;

	switch (c) {
	case O_ROLE: a->role = arg; return 0;
	case O_TVM: json_array_append_new(a->vms, json_string(arg)); return 0;
	default:
		errno = 0;
		v = strtoull(arg, &end, 10);
		if (!errno && end != arg && v > 0 && v < (1ull << 40)) {
			uint64_t mul = !strcmp(end, "s")   ? 1
				       : !strcmp(end, "m") ? 60
				       : !strcmp(end, "h") ? 3600
				       : !strcmp(end, "d") ? 86400
							   : 0;
			if (mul) {
				a->expires_s = v * mul;
				return 0;
			}
		}
		return error_set(err, EINVAL,
				 "--expires-in %s: expected a duration "
				 "(90s, 30m, 12h, 30d)",
				 arg);
	}
}

int cmd_token(int argc, char **argv)
{
	static const struct option create_opts[] = {
		{ "role", required_argument, NULL, O_ROLE },
		{ "vm", required_argument, NULL, O_TVM },
		{ "expires-in", required_argument, NULL, O_EXPIRES },
		{ NULL, 0, NULL, 0 },
	};
	struct token_args ta = { .vms = json_array() };
	struct client_opts o = { 0 };
	const char *name = NULL;
	struct client *c;
	json_t *reply = NULL, *body = NULL;
	char cmd[32], *path = NULL;
	int nargs, r;

	token_sub = argc >= 2 ? argv[1] : NULL;
	if (!token_sub ||
	    (strcmp(token_sub, "create") && strcmp(token_sub, "list") &&
	     strcmp(token_sub, "revoke"))) {
		bool help = token_sub && (!strcmp(token_sub, "--help") ||
					  !strcmp(token_sub, "-h"));
		if (token_sub && !help)
			fprintf(stderr,
				"softvisor token: unknown command "
				"'%s'\n",
				token_sub);
		token_sub = NULL;
		token_usage(help ? stdout : stderr);
		return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	snprintf(cmd, sizeof(cmd), "token %s", token_sub);
	nargs = strcmp(token_sub, "list") ? 1 : 0;
	bool create = !strcmp(token_sub, "create");
	r = cmd_parse(argc - 1, argv + 1, cmd, create ? create_opts : NULL,
		      create ? token_opt : NULL, &ta, nargs, &name, &o,
		      token_usage);
	if (r >= 0 || (r = cmd_open(&o, &c)) != 0) {
		json_decref(ta.vms);
		return r;
	}
	if (create) {
		body = json_pack("{ss}", "name", name);
		if (ta.role)
			json_object_set_new(body, "role", json_string(ta.role));
		if (json_array_size(ta.vms))
			json_object_set(body, "vms", ta.vms);
		if (ta.expires_s)
			json_object_set_new(
				body, "expires_in_s",
				json_integer((json_int_t)ta.expires_s));
		r = cmd_call(c, "POST", "/v1/tokens", body, &reply);
		if (!r && client_output(c) == CLIENT_OUTPUT_JSON) {
			output_json(stdout, reply);
		} else if (!r) {
			printf("%s\n", cmd_jstr(reply, "secret"));
			fprintf(stderr,
				"token %s created; the secret above is "
				"shown only once\n",
				name);
		}
	} else if (!strcmp(token_sub, "list")) {
		r = cmd_call(c, "GET", "/v1/tokens", NULL, &reply);
		if (!r && client_output(c) == CLIENT_OUTPUT_JSON)
			output_json(stdout, reply);
		else if (!r)
			print_tokens(json_object_get(reply, "tokens"));
	} else {
		char *e = cmd_escape(name);
		if (e && asprintf(&path, "/v1/tokens/%s", e) < 0)
			path = NULL;
		free(e);
		r = cmd_call(c, "DELETE", path, NULL, NULL);
		if (!r)
			printf("revoked %s\n", name);
	}
	free(path);
	json_decref(ta.vms);
	json_decref(body);
	json_decref(reply);
	client_close(c);
	return r;
}
