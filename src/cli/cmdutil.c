/* Helpers shared by the client commands (cmdutil.h). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmdutil.h"

#define CMD_MAX_OPTS 32

int cmd_fail(const struct error *err)
{
	fprintf(stderr, "softvisor: %s\n", err->msg);
	return CLI_EXIT_FAIL;
}

int cmd_usage_error(const char *cmd, const struct error *err)
{
	fprintf(stderr, "softvisor %s: %s\n", cmd, err->msg);
	return CLI_EXIT_USAGE;
}

int cmd_parse(int argc, char **argv, const char *cmd,
	      const struct option *extra,
	      int (*on_opt)(int c, const char *arg, void *opaque,
			    struct error *err),
	      void *opaque, int nargs, const char **pos, struct client_opts *o,
	      void (*usage)(FILE *f))
{
	static const struct option global[] = {
		CLIENT_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
	};
	struct option opts[CMD_MAX_OPTS + 1];
	struct error err = { 0 };
	size_t n = 0;
	int c, r;

	for (size_t i = 0; i < ARRAY_SIZE(global); i++)
		opts[n++] = global[i];
	for (; extra && extra->name && n < CMD_MAX_OPTS; extra++)
		opts[n++] = *extra;
	memset(&opts[n], 0, sizeof(opts[n]));

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		r = client_opts_handle(o, c, optarg, &err);
		if (r == 0 && c >= 256 && on_opt)
			r = on_opt(c, optarg, opaque, &err) < 0 ? -1 : 1;
		if (r < 0)
			return cmd_usage_error(cmd, &err);
		if (r > 0)
			continue;
		if (optopt)
			error_set(&err, EINVAL, "option '%s' needs a value",
				  argv[optind - 1]);
		else
			error_set(&err, EINVAL,
				  "unknown option '%s' (see 'softvisor %s "
				  "--help')",
				  argv[optind - 1], cmd);
		return cmd_usage_error(cmd, &err);
	}
	if (argc - optind < nargs) {
		error_set(&err, EINVAL,
			  "missing argument (see 'softvisor %s "
			  "--help')",
			  cmd);
		return cmd_usage_error(cmd, &err);
	}
	if (argc - optind > nargs) {
		error_set(&err, EINVAL, "unexpected argument '%s'",
			  argv[optind + nargs]);
		return cmd_usage_error(cmd, &err);
	}
	for (int i = 0; i < nargs; i++)
		pos[i] = argv[optind + i];
	return -1;
}

int cmd_open(const struct client_opts *o, struct client **c)
{
	struct error err = { 0 };

	if (client_open(o, c, &err) < 0)
		return cmd_fail(&err);
	return 0;
}

char *cmd_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *q = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			*q++ = (char)ch;
		} else {
			*q++ = '%';
			*q++ = hex[ch >> 4];
			*q++ = hex[ch & 15];
		}
	}
	*q = '\0';
	return out;
}

char *cmd_vm_path(const char *name, const char *suffix)
{
	char *e = cmd_escape(name), *p = NULL;

	if (e && asprintf(&p, "/v1/vms/%s%s", e, suffix) < 0)
		p = NULL;
	free(e);
	return p;
}

int cmd_call(struct client *c, const char *method, const char *path,
	     const json_t *body, json_t **reply)
{
	struct error err = { 0 };
	int st;

	if (!path) {
		error_set(&err, ENOMEM, "out of memory");
		return cmd_fail(&err);
	}
	if (client_request(c, method, path, body, reply, &st, &err) < 0) {
		if (reply) {
			json_decref(*reply);
			*reply = NULL;
		}
		return cmd_fail(&err);
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int cmd_task_wait(struct client *c, json_t **task)
{
	char tpath[64];
	int r = 0, shown = -1;
	bool tty = isatty(2);

	snprintf(tpath, sizeof(tpath), "/v1/tasks/%lld",
		 (long long)cmd_jnum(*task, "id"));
	/* poll the task until it leaves "running" (docs/api.md Task) */
	while (!strcmp(cmd_jstr(*task, "state"), "running")) {
		int pct = (int)cmd_jnum(*task, "progress");
		if (tty && pct != shown) {
			fprintf(stderr, "\r    (%3d/100%%) %s", pct,
				cmd_jstr(*task, "message"));
			shown = pct;
		}
		sleep_ms(200);
		json_decref(*task);
		*task = NULL;
		if ((r = cmd_call(c, "GET", tpath, NULL, task)) != 0)
			break;
	}
	if (tty && shown >= 0)
		fputc('\n', stderr);
	return r;
}

const char *cmd_jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && s[0] ? s : "-";
}

double cmd_jnum(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}
