/*
 * softvisor vm snapshot|template|clone: disk snapshots, templates and
 * clones of the daemon's VMs over the REST API (docs/cli.md, issue 16).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmdutil.h"
#include "cli/output.h"

/* ---- snapshot -------------------------------------------------------------- */

static void snapshot_usage(FILE *f)
{
	fprintf(f, "usage: softvisor vm snapshot create VM NAME "
		   "[--description TEXT] [--no-memory|--disk-only]\n"
		   "       softvisor vm snapshot list VM\n"
		   "       softvisor vm snapshot revert VM NAME\n"
		   "       softvisor vm snapshot delete VM NAME\n\n"
		   "Internal qcow2 snapshots of every writable disk of a VM, "
		   "taken at one\ninstant (a running VM is paused at a "
		   "consistent point and runs on), with\nthe VM's memory "
		   "state when it runs or is paused (--no-memory: the disks\n"
		   "only). revert of a snapshot with memory stops the VM, "
		   "reverts the disks\nand continues the VM from the "
		   "snapshot's instant; without memory it needs\nthe VM "
		   "stopped. NAME: 1..64 of A-Z a-z 0-9 . _ -.\n"
		   "--disk-only: an external snapshot (as virsh): each "
		   "writable disk gets a\nnew qcow2 overlay "
		   "(IMAGE.NAME.qcow2) and the VM writes there from then\n"
		   "on; delete commits the overlay into the image "
		   "(blockcommit, VM stopped).\n\n");
	client_opts_usage(f);
}

enum {
	O_DESC = 256,
	O_LINKED,
	O_FULL,
	O_NO_WAIT,
	O_OFF,
	O_DISK_ONLY,
	O_NO_MEMORY,
	O_KEY_SECRET
};

struct create_opts {
	const char *desc;
	bool disk_only, no_memory;
};

static int desc_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct create_opts *co = opaque;
	if (c == O_DISK_ONLY)
		co->disk_only = true;
	else if (c == O_NO_MEMORY)
		co->no_memory = true;
	else
		co->desc = arg;
	if (co->disk_only && co->no_memory)
		return error_set(err, EINVAL,
				 "--disk-only has no memory already: give "
				 "one of --disk-only and --no-memory");
	return 0;
}

static void print_snapshots(const json_t *list)
{
	static const char *const hdr[] = { "NAME",	 "CREATED", "VM STATE",
					   "DISKS",	 "TYPE",    "MEMORY",
					   "DESCRIPTION" };
	struct table *t = table_new(7, hdr);
	const json_t *s;
	size_t i;

	if (!t)
		return;
	table_align_right(t, 3);
	json_array_foreach(list, i, s)
	{
		char when[32], disks[16], mem[24] = "no";
		const char *cells[7];

		fmt_time_ms((int64_t)cmd_jnum(s, "created_ms"), when,
			    sizeof(when));
		snprintf(disks, sizeof(disks), "%zu",
			 json_array_size(json_object_get(s, "disks")));
		cells[0] = cmd_jstr(s, "name");
		cells[1] = when;
		cells[2] = cmd_jstr(s, "vm_state");
		cells[3] = disks;
		if (json_is_true(json_object_get(s, "memory")))
			fmt_size((uint64_t)cmd_jnum(s, "memory_bytes"), mem,
				 sizeof(mem));
		cells[4] = cmd_jstr(s, "type");
		cells[5] = mem;
		cells[6] = cmd_jstr(s, "description");
		table_add(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

int cmd_vm_snapshot(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "description", required_argument, NULL, O_DESC },
		{ "disk-only", no_argument, NULL, O_DISK_ONLY },
		{ "no-memory", no_argument, NULL, O_NO_MEMORY },
		{ NULL, 0, NULL, 0 },
	};
	struct create_opts co = { 0 };
	struct client_opts o = { 0 };
	const char *pos[2], *op = argc > 1 ? argv[1] : "";
	struct client *c;
	json_t *body = NULL, *reply = NULL;
	char cmd[48], *path = NULL, *esc = NULL, suffix[200];
	bool list = !strcmp(op, "list"), create = !strcmp(op, "create");
	int r;

	if (!strcmp(op, "--help") || !strcmp(op, "-h")) {
		snapshot_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!list && !create && strcmp(op, "revert") && strcmp(op, "delete")) {
		fprintf(stderr,
			"softvisor vm snapshot: expected create, list, revert "
			"or delete%s%s\n",
			op[0] ? ", not " : "", op);
		snapshot_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	snprintf(cmd, sizeof(cmd), "vm snapshot %s", op);
	r = cmd_parse(argc - 1, argv + 1, cmd, create ? opts : NULL,
		      create ? desc_opt : NULL, &co, list ? 1 : 2, pos, &o,
		      snapshot_usage);
	if (r >= 0)
		return r;
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	if (list || create) {
		path = cmd_vm_path(pos[0], "/snapshots");
	} else {
		esc = cmd_escape(pos[1]);
		snprintf(suffix, sizeof(suffix), "/snapshots/%s%s",
			 esc ? esc : "", strcmp(op, "revert") ? "" : "/revert");
		path = esc ? cmd_vm_path(pos[0], suffix) : NULL;
	}
	if (create) {
		body = json_pack("{s:s}", "name", pos[1]);
		if (co.desc)
			json_object_set_new(body, "description",
					    json_string(co.desc));
		if (co.disk_only)
			json_object_set_new(body, "disk_only", json_true());
		if (co.no_memory)
			json_object_set_new(body, "memory", json_false());
	}
	r = cmd_call(c,
		     list		     ? "GET"
		     : !strcmp(op, "delete") ? "DELETE"
					     : "POST",
		     path, body, &reply);
	if (!r && client_output(c) == CLIENT_OUTPUT_JSON && reply)
		output_json(stdout, reply);
	else if (!r && list)
		print_snapshots(json_object_get(reply, "snapshots"));
	else if (!r && create && co.disk_only)
		printf("%s: external snapshot %s taken (%zu overlay%s, VM "
		       "%s)\n",
		       pos[0], pos[1],
		       json_array_size(json_object_get(reply, "overlays")),
		       json_array_size(json_object_get(reply, "overlays")) == 1
			       ? ""
			       : "s",
		       cmd_jstr(reply, "vm_state"));
	else if (!r && create)
		printf("%s: snapshot %s taken (%zu disk%s%s, VM %s)\n", pos[0],
		       pos[1], json_array_size(json_object_get(reply, "disks")),
		       json_array_size(json_object_get(reply, "disks")) == 1
			       ? ""
			       : "s",
		       json_is_true(json_object_get(reply, "memory"))
			       ? " and memory"
			       : "",
		       cmd_jstr(reply, "vm_state"));
	else if (!r && !strcmp(op, "revert"))
		printf("%s: reverted to snapshot %s (VM %s)\n", pos[0], pos[1],
		       cmd_jstr(reply, "state"));
	else if (!r)
		printf("%s: snapshot %s deleted\n", pos[0], pos[1]);
	free(esc);
	free(path);
	json_decref(body);
	json_decref(reply);
	client_close(c);
	return r;
}

/* ---- template ------------------------------------------------------------ */

static void template_usage(FILE *f)
{
	fprintf(f, "usage: softvisor vm template VM [--off]\n\n"
		   "Mark a VM that is off as a template: it cannot start, its "
		   "snapshots\ncannot change, and it cannot be deleted while "
		   "linked clones use its\nimages. --off unmarks it (only "
		   "without linked clones).\n\n");
	client_opts_usage(f);
}

static int flag_opt(int c, const char *arg, void *opaque, struct error *err)
{
	(void)arg;
	(void)err;
	*(int *)opaque = c;
	return 0;
}

int cmd_vm_template(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "off", no_argument, NULL, O_OFF },
		{ NULL, 0, NULL, 0 },
	};
	struct client_opts o = { 0 };
	const char *name;
	struct client *c;
	json_t *body, *vm = NULL;
	int off = 0, r;

	r = cmd_parse(argc, argv, "vm template", opts, flag_opt, &off, 1, &name,
		      &o, template_usage);
	if (r >= 0)
		return r;
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	char *path = cmd_vm_path(name, "/template");
	body = json_pack("{s:b}", "template", off != O_OFF);
	r = cmd_call(c, "POST", path, body, &vm);
	if (!r && client_output(c) == CLIENT_OUTPUT_JSON)
		output_json(stdout, vm);
	else if (!r)
		printf("%s: %s\n", cmd_jstr(vm, "name"),
		       off == O_OFF ? "no longer a template" : "template");
	free(path);
	json_decref(body);
	json_decref(vm);
	client_close(c);
	return r;
}

/* ---- clone ----------------------------------------------------------------- */

static void clone_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor vm clone TEMPLATE NEW [--linked|--full] "
		"[--no-wait]\n"
		"                        [--key-secret file:PATH|env:NAME]\n\n"
		"A new VM NEW from TEMPLATE, with new MACs. --linked (the "
		"default, needs\na template): its disks are qcow2 overlays "
		"on the template's images,\nmade at once. --full: copies, "
		"made by a daemon task with progress\n(--no-wait prints the "
		"task id and returns).\nEncrypted disks: a linked clone is "
		"encrypted under the template's key-secret;\n--full "
		"--key-secret file:PATH|env:NAME encrypts the copies under "
		"a new one.\n\n");
	client_opts_usage(f);
}

struct clone_args {
	bool full, linked, no_wait;
	const char *key_secret;
};

static int clone_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct clone_args *a = opaque;
	if (c == O_KEY_SECRET)
		a->key_secret = arg;
	else if (c == O_FULL)
		a->full = true;
	else if (c == O_LINKED)
		a->linked = true;
	else
		a->no_wait = true;
	if (a->full && a->linked)
		return error_set(err, EINVAL,
				 "--linked and --full: choose one");
	return 0;
}

int cmd_vm_clone(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "linked", no_argument, NULL, O_LINKED },
		{ "full", no_argument, NULL, O_FULL },
		{ "no-wait", no_argument, NULL, O_NO_WAIT },
		{ "key-secret", required_argument, NULL, O_KEY_SECRET },
		{ NULL, 0, NULL, 0 },
	};
	struct clone_args a = { 0 };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	const char *pos[2];
	struct client *c;
	json_t *body, *task = NULL;
	int r;

	r = cmd_parse(argc, argv, "vm clone", opts, clone_opt, &a, 2, pos, &o,
		      clone_usage);
	if (r >= 0)
		return r;
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	char *path = cmd_vm_path(pos[0], "/clone");
	body = json_pack("{s:s, s:s}", "name", pos[1], "mode",
			 a.full ? "full" : "linked");
	if (a.key_secret)
		json_object_set_new(body, "key_secret",
				    json_string(a.key_secret));
	r = cmd_call(c, "POST", path, body, &task);
	free(path);
	json_decref(body);
	if (!r && !a.no_wait)
		r = cmd_task_wait(c, &task);
	if (r)
		goto out;
	if (client_output(c) == CLIENT_OUTPUT_JSON)
		output_json(stdout, task);
	else if (a.no_wait)
		printf("%s: cloning to %s (task %lld)\n", pos[0], pos[1],
		       (long long)cmd_jnum(task, "id"));
	else if (!strcmp(cmd_jstr(task, "state"), "success"))
		printf("%s\n", cmd_jstr(task, "message"));
	if (!a.no_wait && strcmp(cmd_jstr(task, "state"), "success")) {
		error_set(&err, EIO, "clone of %s failed: %s", pos[0],
			  cmd_jstr(task, "message"));
		r = cmd_fail(&err);
	}
out:
	json_decref(task);
	client_close(c);
	return r;
}
