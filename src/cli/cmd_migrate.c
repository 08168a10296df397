/*
 * softvisor vm migrate NAME --to URL: live migration to another daemon
 * (docs/cli.md, docs/vm-state.md "Live migration"). The source daemon
 * (the one this command talks to) does the work as a task; this polls it
 * and draws a progress bar on a terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmdutil.h"
#include "cli/output.h"
#include "util/parse.h"

enum {
	O_TO = 256,
	O_TO_TOKEN,
	O_TO_INSECURE,
	O_TO_CA,
	O_NO_WAIT,
	O_DOWNTIME,
	O_COPY_STORAGE,
};

struct migrate_args {
	const char *to, *token, *ca;
	bool insecure, no_wait, copy_storage;
	uint64_t downtime_ms;
	bool has_downtime;
};

static int migrate_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct migrate_args *a = opaque;

	switch (c) {
	case O_DOWNTIME:
		a->has_downtime = true;
		return parse_u64(arg, 0, 60000, &a->downtime_ms, "--downtime",
				 err);
	case O_TO: a->to = arg; break;
	case O_TO_TOKEN: a->token = arg; break;
	case O_TO_CA: a->ca = arg; break;
	case O_TO_INSECURE: a->insecure = true; break;
	case O_COPY_STORAGE: a->copy_storage = true; break;
	default: a->no_wait = true; break;
	}
	return 0;
}

static void migrate_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor vm migrate NAME --to https://HOST:PORT\n"
		"         [--to-token TOKEN] [--to-insecure | --to-ca FILE]\n"
		"         [--downtime MS] [--copy-storage] [--no-wait]\n\n"
		"Move the running VM to another softvisor daemon without "
		"stopping it\n(docs/vm-state.md). The destination's API token "
		"comes from --to-token\nor $SOFTVISOR_MIGRATE_TOKEN. A failure "
		"leaves the VM running here.\n--downtime: the budget for the "
		"part copied with the VM paused\n(default 50 ms; 0: all of "
		"it, stop-and-copy). --copy-storage (libvirt's\n"
		"--copy-storage-all): the disks are copied too, into new "
		"images the\ndestination creates, for disks it cannot reach "
		"(no shared storage).\n--no-wait prints the task id and "
		"returns at once.\n\n");
	client_opts_usage(f);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void progress_bar(const json_t *task)
{
	const json_t *x = json_object_get(task, "transfer");
	int pct = (int)cmd_jnum(task, "progress");
	char bar[31];

	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	memset(bar, ' ', 30);
	memset(bar, '#', (size_t)(pct * 30 / 100));
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %3d%% %8.1f MiB sent, %8.1f MiB left", bar, pct,
		cmd_jnum(x, "bytes_sent") / 1048576.0,
		cmd_jnum(x, "bytes_remaining") / 1048576.0);
	if (json_object_get(x, "disk_bytes_total")) /* --copy-storage */
		fprintf(stderr, ", disks %.0f/%.0f MiB",
			cmd_jnum(x, "disk_bytes_done") / 1048576.0,
			cmd_jnum(x, "disk_bytes_total") / 1048576.0);
}

int cmd_vm_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, O_TO },
		{ "to-token", required_argument, NULL, O_TO_TOKEN },
		{ "to-insecure", no_argument, NULL, O_TO_INSECURE },
		{ "to-ca", required_argument, NULL, O_TO_CA },
		{ "no-wait", no_argument, NULL, O_NO_WAIT },
		{ "downtime", required_argument, NULL, O_DOWNTIME },
		{ "copy-storage", no_argument, NULL, O_COPY_STORAGE },
		{ "copy-storage-all", no_argument, NULL, O_COPY_STORAGE },
		{ NULL, 0, NULL, 0 },
	};
	struct migrate_args a = { 0 };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	const char *name;
	struct client *c;
	json_t *body, *task = NULL;
	char tpath[64];
	int r = cmd_parse(argc, argv, "vm migrate", opts, migrate_opt, &a, 1,
			  &name, &o, migrate_usage);

	if (r >= 0)
		return r;
	if (!a.token)
		a.token = getenv("SOFTVISOR_MIGRATE_TOKEN");
	if (!a.to || !a.token) {
		error_set(&err, EINVAL,
			  "%s is needed (see 'softvisor vm migrate --help')",
			  !a.to ? "--to https://HOST:PORT"
				: "--to-token (or $SOFTVISOR_MIGRATE_TOKEN)");
		return cmd_usage_error("vm migrate", &err);
	}
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	body = json_pack("{s:s, s:s, s:b}", "to", a.to, "token", a.token,
			 "insecure", a.insecure);
	if (body && a.has_downtime)
		json_object_set_new(body, "downtime_ms",
				    json_integer((json_int_t)a.downtime_ms));
	if (body && a.copy_storage)
		json_object_set_new(body, "copy_storage", json_true());
	if (body && a.ca)
		json_object_set_new(body, "ca_file", json_string(a.ca));
	char *path = cmd_vm_path(name, "/migrate");
	r = cmd_call(c, "POST", path, body, &task);
	free(path);
	json_decref(body);
	if (r)
		goto out;
	snprintf(tpath, sizeof(tpath), "/v1/tasks/%lld",
		 (long long)cmd_jnum(task, "id"));
	bool tty = isatty(2) && client_output(c) != CLIENT_OUTPUT_JSON;
	while (!a.no_wait && !strcmp(cmd_jstr(task, "state"), "running")) {
		if (tty)
			progress_bar(task);
		sleep_ms(200);
		json_decref(task);
		task = NULL;
		if ((r = cmd_call(c, "GET", tpath, NULL, &task)) != 0)
			goto out;
	}
	if (tty && !a.no_wait) {
		progress_bar(task);
		fputc('\n', stderr);
	}
	if (client_output(c) == CLIENT_OUTPUT_JSON)
		output_json(stdout, task);
	else if (a.no_wait)
		printf("%s: migrating (task %lld)\n", name,
		       (long long)cmd_jnum(task, "id"));
	else if (!strcmp(cmd_jstr(task, "state"), "success"))
		printf("%s: %s\n", name, cmd_jstr(task, "message"));
	if (!a.no_wait && strcmp(cmd_jstr(task, "state"), "success")) {
		error_set(&err, EIO, "migration of %s failed: %s", name,
			  cmd_jstr(task, "message"));
		r = cmd_fail(&err);
	}
out:
	json_decref(task);
	client_close(c);
	return r;
}
