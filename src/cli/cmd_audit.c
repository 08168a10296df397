/*
 * softvisor audit: the daemon's audit log of changing API calls
 * (GET /v1/audit; docs/cli.md, docs/api.md "Audit log").
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmdutil.h"
#include "cli/output.h"
#include "util/parse.h"

struct audit_args {
	const char *vm;
	int64_t since_ms; /* 0: all */
	uint64_t limit;
};

enum { O_VM = 256, O_SINCE, O_LIMIT };

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --since: "30m", "2h", "1d", "90s" ago; "2026-12-04T17:00:00Z" (UTC);
 * or milliseconds since the epoch. */
static int audit_parse_since(const char *s, int64_t now, int64_t *out,
			     struct error *err)
{
	struct tm tm = { 0 };
	char *end;
	unsigned long long v;
	const char *p;

	if (s[0] >= '0' && s[0] <= '9') {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (!errno && v < (1ull << 62)) {
			static const struct {
				char unit;
				int64_t ms;
			} units[] = { { 's', 1000 },
				      { 'm', 60000 },
				      { 'h', 3600000 },
				      { 'd', 86400000 } };

			if (!*end) {
				*out = (int64_t)v;
				return 0;
			}
			for (size_t i = 0; i < sizeof(units) / sizeof(units[0]);
			     i++) {
				if (end[0] != units[i].unit || end[1])
					continue;
				if (v > (unsigned long long)(now / units[i].ms))
					break;
				*out = now - (int64_t)v * units[i].ms;
				return 0;
			}
		}
	}
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p && (!strcmp(p, "Z") || !strcmp(p, "+00:00"))) {
		time_t t = timegm(&tm);

		if (t >= 0) {
			*out = (int64_t)t * 1000;
			return 0;
		}
	}
	return error_set(err, EINVAL,
			 "--since %s: expected a duration ago (90s, 30m, 2h, "
			 "1d), a UTC time (2026-12-04T17:00:00Z) or ms since "
			 "the epoch",
			 s);
}

static int audit_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct audit_args *a = opaque;

	switch (c) {
	case O_VM: a->vm = arg; return 0;
	case O_SINCE:
		return audit_parse_since(arg, now_ms(), &a->since_ms, err);
	default: return parse_u64(arg, 1, 10000, &a->limit, "--limit", err);
	}
}

static void audit_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor audit [--vm NAME] [--since WHEN] [--limit "
		"N]\n"
		"\n"
		"The daemon's audit log: every API call that changed "
		"something\n"
		"or tried to (who, from where, what, on which VM or token, "
		"and\n"
		"the HTTP status), oldest first; the newest N (default 100).\n"
		"WHEN: a duration ago (90s, 30m, 2h, 1d), a UTC time\n"
		"(2026-12-04T17:00:00Z) or milliseconds since the epoch.\n\n");
	client_opts_usage(f);
}

static void print_audit(const json_t *audit)
{
	static const char *const hdr[] = { "TIME",   "PRINCIPAL", "UID",
					   "SOURCE", "ACTION",	  "TARGET",
					   "STATUS" };
	struct table *t = table_new(7, hdr);
	const json_t *e;
	size_t i;

	if (!t)
		return;
	json_array_foreach(audit, i, e)
	{
		char tm[32], uid[24], st[12], who[112];
		const char *cells[7];

		fmt_time_ms((int64_t)cmd_jnum(e, "time_ms"), tm, sizeof(tm));
		fmt_json_scalar(json_object_get(e, "uid"), uid, sizeof(uid));
		snprintf(st, sizeof(st), "%d", (int)cmd_jnum(e, "status"));
		cells[0] = tm;
		if (json_is_integer(json_object_get(e, "token_id")))
			snprintf(who, sizeof(who), "%s#%.0f",
				 cmd_jstr(e, "principal"),
				 cmd_jnum(e, "token_id"));
		else
			snprintf(who, sizeof(who), "%s",
				 cmd_jstr(e, "principal"));
		cells[1] = who;
		cells[2] = uid;
		cells[3] = cmd_jstr(e, "source");
		cells[4] = cmd_jstr(e, "action");
		cells[5] = cmd_jstr(e, "target");
		cells[6] = st;
		table_add(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

int cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, O_VM },
		{ "since", required_argument, NULL, O_SINCE },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ NULL, 0, NULL, 0 },
	};
	struct audit_args a = { 0 };
	struct client_opts o = { 0 };
	struct client *c;
	json_t *reply = NULL;
	char *vm = NULL, *path = NULL;
	int r;

	r = cmd_parse(argc, argv, "audit", opts, audit_opt, &a, 0, NULL, &o,
		      audit_usage);
	if (r >= 0)
		return r;
	if (a.vm && !(vm = cmd_escape(a.vm)))
		return CLI_EXIT_FAIL;
	if (asprintf(&path, "/v1/audit?since=%lld&limit=%llu%s%s",
		     (long long)a.since_ms, (unsigned long long)a.limit,
		     vm ? "&vm=" : "", vm ? vm : "") < 0)
		path = NULL;
	free(vm);
	if ((r = cmd_open(&o, &c)) != 0) {
		free(path);
		return r;
	}
	r = cmd_call(c, "GET", path, NULL, &reply);
	free(path);
	if (!r) {
		if (client_output(c) == CLIENT_OUTPUT_JSON)
			output_json(stdout, reply);
		else
			print_audit(json_object_get(reply, "audit"));
	}
	json_decref(reply);
	client_close(c);
	return r;
}
