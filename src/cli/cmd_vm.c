/*
 * softvisor vm ...: manage the daemon's VMs over the REST API
 * (docs/cli.md "softvisor vm", the API in docs/api.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmdutil.h"
#include "cli/output.h"
#include "cli/vmargs.h"
#include "util/parse.h"

struct vm_sub {
	const char *name;
	const char *help;
	int (*fn)(int argc, char **argv);
};

/* ---- create ---------------------------------------------------------------- */

static int vm_create(int argc, char **argv)
{
	struct client_opts o = { 0 };
	struct error err = { 0 };
	struct client *c;
	json_t *def, *vm = NULL;
	int r;

	r = vmargs_parse_create(argc, argv, &o, &def, &err);
	if (r > 0)
		return CLI_EXIT_OK;
	if (r < 0)
		return cmd_usage_error("vm create", &err);
	if ((r = cmd_open(&o, &c)) != 0) {
		json_decref(def);
		return r;
	}
	int status = 0;
	if (client_request(c, "POST", "/v1/vms", def, &vm, &status, &err) < 0) {
		json_decref(vm);
		vm = NULL;
		r = cmd_fail(&err);
	}
	/* disks made from images: a task (202), followed as vm clone does */
	if (!r && status == 202)
		r = cmd_task_wait(c, &vm);
	if (r) {
		/* printed */
	} else if (client_output(c) == CLIENT_OUTPUT_JSON) {
		output_json(stdout, vm);
	} else if (status != 202) {
		printf("created %s (id %lld)\n", cmd_jstr(vm, "name"),
		       (long long)cmd_jnum(vm, "id"));
	} else if (!strcmp(cmd_jstr(vm, "state"), "success")) {
		printf("%s\n", cmd_jstr(vm, "message"));
	}
	if (!r && status == 202 && strcmp(cmd_jstr(vm, "state"), "success")) {
		error_set(&err, EIO, "creating %s failed: %s",
			  cmd_jstr(vm, "vm"), cmd_jstr(vm, "message"));
		r = cmd_fail(&err);
	}
	json_decref(vm);
	json_decref(def);
	client_close(c);
	return r;
}

/* ---- list / info / stats ------------------------------------------------- */

static void list_usage(FILE *f)
{
	fprintf(f, "usage: softvisor vm list [--output json|table]\n\n"
		   "The daemon's VMs: name, state, vCPUs, memory, uptime.\n\n");
	client_opts_usage(f);
}

/* The VM list as a table (tests call it through output.h helpers). */
static void print_vm_table(const json_t *vms)
{
	static const char *const hdr[] = { "NAME", "STATE", "CPUS", "MEMORY",
					   "UPTIME" };
	struct table *t = table_new(5, hdr);
	const json_t *vm;
	size_t i;

	if (!t)
		return;
	table_align_right(t, 2);
	table_align_right(t, 3);
	table_align_right(t, 4);
	json_array_foreach(vms, i, vm)
	{
		char cpus[16], mem[32], up[32];
		const char *cells[5];

		snprintf(cpus, sizeof(cpus), "%.0f", cmd_jnum(vm, "cpus"));
		fmt_size((uint64_t)cmd_jnum(vm, "memory"), mem, sizeof(mem));
		fmt_duration(cmd_jnum(vm, "uptime_s"), up, sizeof(up));
		cells[0] = cmd_jstr(vm, "name");
		cells[1] = json_is_true(json_object_get(vm, "template"))
				   ? "template"
				   : cmd_jstr(vm, "state");
		cells[2] = cpus;
		cells[3] = mem;
		cells[4] = up;
		table_add(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

static int vm_list(int argc, char **argv)
{
	struct client_opts o = { 0 };
	struct client *c;
	json_t *reply = NULL;
	int r;

	r = cmd_parse(argc, argv, "vm list", NULL, NULL, NULL, 0, NULL, &o,
		      list_usage);
	if (r >= 0)
		return r;
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	r = cmd_call(c, "GET", "/v1/vms", NULL, &reply);
	if (!r) {
		if (client_output(c) == CLIENT_OUTPUT_JSON)
			output_json(stdout, reply);
		else
			print_vm_table(json_object_get(reply, "vms"));
	}
	json_decref(reply);
	client_close(c);
	return r;
}

static void info_usage(FILE *f)
{
	fprintf(f, "usage: softvisor vm info NAME [--output json|table]\n\n"
		   "A VM's state and its whole definition.\n\n");
	client_opts_usage(f);
}

static void print_vm_info(const json_t *vm)
{
	char buf[64];

	printf("%-24s  %s\n", "name", cmd_jstr(vm, "name"));
	printf("%-24s  %.0f\n", "id", cmd_jnum(vm, "id"));
	printf("%-24s  %s\n", "state", cmd_jstr(vm, "state"));
	printf("%-24s  %.0f\n", "cpus", cmd_jnum(vm, "cpus"));
	fmt_size((uint64_t)cmd_jnum(vm, "memory"), buf, sizeof(buf));
	printf("%-24s  %s\n", "memory", buf);
	fmt_duration(cmd_jnum(vm, "uptime_s"), buf, sizeof(buf));
	printf("%-24s  %s\n", "uptime", buf);
	printf("%-24s  %s\n", "autostart",
	       json_is_true(json_object_get(vm, "autostart")) ? "true"
							      : "false");
	fmt_time_ms((int64_t)cmd_jnum(vm, "created_ms"), buf, sizeof(buf));
	printf("%-24s  %s\n", "created", buf);
	fmt_time_ms((int64_t)cmd_jnum(vm, "updated_ms"), buf, sizeof(buf));
	printf("%-24s  %s\n", "updated", buf);
	printf("definition:\n");
	output_flat(stdout, "", json_object_get(vm, "definition"), 24);
}

/* GET one object of a VM and print it as JSON or with print. */
static int vm_get_and_print(int argc, char **argv, const char *cmd,
			    const char *suffix, void (*usage)(FILE *f),
			    void (*print)(const json_t *))
{
	struct client_opts o = { 0 };
	const char *name;
	struct client *c;
	json_t *reply = NULL;
	char *path;
	int r;

	r = cmd_parse(argc, argv, cmd, NULL, NULL, NULL, 1, &name, &o, usage);
	if (r >= 0)
		return r;
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	path = cmd_vm_path(name, suffix);
	r = cmd_call(c, "GET", path, NULL, &reply);
	if (!r) {
		if (client_output(c) == CLIENT_OUTPUT_JSON)
			output_json(stdout, reply);
		else
			print(reply);
	}
	free(path);
	json_decref(reply);
	client_close(c);
	return r;
}

static int vm_info(int argc, char **argv)
{
	return vm_get_and_print(argc, argv, "vm info", "", info_usage,
				print_vm_info);
}

static void stats_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor vm stats NAME [--output json|table]\n\n"
		"Scheduler figures of a VM over the daemon's last accounting\n"
		"interval (~2 s): used, ready, wait and co-stop percent, per\n"
		"VM and per vCPU.\n\n");
	client_opts_usage(f);
}

static void print_vm_stats(const json_t *s)
{
	static const char *const hdr[] = { "VCPU",   "TID",   "STATE",	"USED%",
					   "READY%", "WAIT%", "COSTOP%" };
	struct table *t;
	const json_t *v;
	size_t i;

	printf("%-14s  %s\n", "vm", cmd_jstr(s, "vm"));
	printf("%-14s  %s\n", "state", cmd_jstr(s, "state"));
	printf("%-14s  %.1f ms\n", "interval",
	       cmd_jnum(s, "interval_us") / 1e3);
	printf("%-14s  %.1f\n", "used %", cmd_jnum(s, "used_pct"));
	printf("%-14s  %.1f\n", "ready %", cmd_jnum(s, "ready_pct"));
	printf("%-14s  %.1f\n", "wait %", cmd_jnum(s, "wait_pct"));
	printf("%-14s  %.1f\n", "costop %", cmd_jnum(s, "costop_pct"));
	printf("%-14s  %.0f\n", "entitled MHz", cmd_jnum(s, "entitled_mhz"));
	printf("%-14s  %.0f\n", "demand MHz", cmd_jnum(s, "demand_mhz"));
	if (!json_array_size(json_object_get(s, "vcpus")))
		return;
	t = table_new(7, hdr);
	if (!t)
		return;
	for (unsigned col = 0; col < 7; col++)
		if (col != 2)
			table_align_right(t, col);
	putchar('\n');
	json_array_foreach(json_object_get(s, "vcpus"), i, v)
	{
		char b[6][24];
		const char *cells[7];

		snprintf(b[0], sizeof(b[0]), "%.0f", cmd_jnum(v, "vcpu"));
		snprintf(b[1], sizeof(b[1]), "%.0f", cmd_jnum(v, "tid"));
		snprintf(b[2], sizeof(b[2]), "%.1f", cmd_jnum(v, "used_pct"));
		snprintf(b[3], sizeof(b[3]), "%.1f", cmd_jnum(v, "ready_pct"));
		snprintf(b[4], sizeof(b[4]), "%.1f", cmd_jnum(v, "wait_pct"));
		snprintf(b[5], sizeof(b[5]), "%.1f", cmd_jnum(v, "costop_pct"));
		cells[0] = b[0];
		cells[1] = b[1];
		cells[2] = cmd_jstr(v, "state");
		cells[3] = b[2];
		cells[4] = b[3];
		cells[5] = b[4];
		cells[6] = b[5];
		table_add(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

static int vm_stats(int argc, char **argv)
{
	return vm_get_and_print(argc, argv, "vm stats", "/stats", stats_usage,
				print_vm_stats);
}

/* ---- power actions, delete ----------------------------------------------- */

static const char *action_help(const char *a)
{
	if (!strcmp(a, "start"))
		return "Power on a defined or stopped VM.";
	if (!strcmp(a, "stop"))
		return "Power off at once (as pulling the plug); see shutdown.";
	if (!strcmp(a, "pause"))
		return "Stop running the vCPUs; memory stays.";
	if (!strcmp(a, "resume"))
		return "Continue a paused or suspended VM.";
	if (!strcmp(a, "suspend"))
		return "Save the VM's state to the daemon's disk and free its "
		       "memory;\n'vm resume' (or 'vm start') continues it "
		       "(docs/vm-state.md).";
	if (!strcmp(a, "reset"))
		return "Hard reset: the VM boots again.";
	if (!strcmp(a, "announce"))
		return "Every NIC announces itself to the network (RARP "
		       "frames from its MAC,\nand the guest's gratuitous ARP "
		       "where its driver can), as after a\nmigration "
		       "(QEMU's announce-self; docs/net.md).";
	return "Remove a VM that is not running (its disks stay).";
}

static const char *usage_action; /* for action_usage() */

static void action_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor vm %s NAME [--output json|table]\n\n%s\n\n",
		usage_action, action_help(usage_action));
	client_opts_usage(f);
}

/* start, stop, pause, resume, reset (POST .../ACTION) and delete. */
static int vm_action(int argc, char **argv)
{
	bool del = !strcmp(argv[0], "delete");
	struct client_opts o = { 0 };
	const char *name;
	struct client *c;
	json_t *vm = NULL;
	char cmd[32], suffix[16], *path;
	int r;

	snprintf(cmd, sizeof(cmd), "vm %s", argv[0]);
	snprintf(suffix, sizeof(suffix), "/%s", argv[0]);
	usage_action = argv[0];
	r = cmd_parse(argc, argv, cmd, NULL, NULL, NULL, 1, &name, &o,
		      action_usage);
	if (r >= 0)
		return r;
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	path = cmd_vm_path(name, del ? "" : suffix);
	r = cmd_call(c, del ? "DELETE" : "POST", path, NULL, &vm);
	if (!r) {
		if (client_output(c) == CLIENT_OUTPUT_JSON && vm)
			output_json(stdout, vm);
		else if (del)
			printf("deleted %s\n", name);
		else
			printf("%s: %s\n", cmd_jstr(vm, "name"),
			       cmd_jstr(vm, "state"));
	}
	free(path);
	json_decref(vm);
	client_close(c);
	return r;
}

/* ---- shutdown (asynchronous: a task) ------------------------------------- */

struct shutdown_args {
	uint64_t timeout_s; /* 0: the daemon's default */
	bool no_wait;
};

enum { O_TIMEOUT = 256, O_NO_WAIT };

static int shutdown_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct shutdown_args *a = opaque;

	if (c == O_NO_WAIT) {
		a->no_wait = true;
		return 0;
	}
	return parse_u64(arg, 1, 86400, &a->timeout_s, "--timeout", err);
}

static void shutdown_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor vm shutdown NAME [--timeout S] [--no-wait]\n"
		"\n"
		"Ask the guest to power off cleanly and wait until it did.\n"
		"After --timeout seconds\n"
		"(default: the daemon's, 120) the daemon powers it off hard.\n"
		"--no-wait prints the task id and returns at once.\n\n");
	client_opts_usage(f);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int vm_shutdown(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "no-wait", no_argument, NULL, O_NO_WAIT },
		{ NULL, 0, NULL, 0 },
	};
	struct shutdown_args a = { 0 };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	const char *name;
	struct client *c;
	json_t *body = NULL, *task = NULL;
	char *path, tpath[64];
	int r;

	r = cmd_parse(argc, argv, "vm shutdown", opts, shutdown_opt, &a, 1,
		      &name, &o, shutdown_usage);
	if (r >= 0)
		return r;
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	if (a.timeout_s)
		body = json_pack("{sI}", "timeout_s", (json_int_t)a.timeout_s);
	path = cmd_vm_path(name, "/shutdown");
	r = cmd_call(c, "POST", path, body, &task);
	free(path);
	json_decref(body);
	if (r)
		goto out;
	snprintf(tpath, sizeof(tpath), "/v1/tasks/%lld",
		 (long long)cmd_jnum(task, "id"));
	/* poll the task until it leaves "running" (docs/api.md Task) */
	while (!a.no_wait && !strcmp(cmd_jstr(task, "state"), "running")) {
		sleep_ms(250);
		json_decref(task);
		task = NULL;
		if ((r = cmd_call(c, "GET", tpath, NULL, &task)) != 0)
			goto out;
	}
	if (client_output(c) == CLIENT_OUTPUT_JSON) {
		output_json(stdout, task);
	} else if (a.no_wait) {
		printf("%s: shutting down (task %lld)\n", name,
		       (long long)cmd_jnum(task, "id"));
	} else if (!strcmp(cmd_jstr(task, "state"), "success")) {
		printf("%s: stopped\n", name);
	}
	if (!a.no_wait && strcmp(cmd_jstr(task, "state"), "success")) {
		const char *m = cmd_jstr(task, "message");
		error_set(&err, EIO, "shutdown of %s failed: %s", name,
			  strcmp(m, "-") && m[0] ? m : cmd_jstr(task, "state"));
		r = cmd_fail(&err);
	}
out:
	json_decref(task);
	client_close(c);
	return r;
}

/* ---- set (QoS) ----------------------------------------------------------- */

/* PATCH the definition and report the VM. */
static int patch_vm(struct client *c, const char *name, const json_t *patch)
{
	char *path = cmd_vm_path(name, "");
	json_t *vm = NULL;
	int r = cmd_call(c, "PATCH", path, patch, &vm);

	if (!r) {
		if (client_output(c) == CLIENT_OUTPUT_JSON)
			output_json(stdout, vm);
		else
			printf("updated %s\n", cmd_jstr(vm, "name"));
	}
	free(path);
	json_decref(vm);
	return r;
}

static int vm_set(int argc, char **argv)
{
	struct client_opts o = { 0 };
	struct error err = { 0 };
	const char *name;
	struct client *c;
	json_t *patch;
	int r;

	r = vmargs_parse_set(argc, argv, &o, &name, &patch, &err);
	if (r > 0)
		return CLI_EXIT_OK;
	if (r < 0)
		return cmd_usage_error("vm set", &err);
	if ((r = cmd_open(&o, &c)) == 0) {
		r = patch_vm(c, name, patch);
		client_close(c);
	}
	json_decref(patch);
	return r;
}

/* ---- edit ----------------------------------------------------------------- */

struct edit_args {
	json_t *sets; /* merge patch from --set */
	const char *from;
};

enum { O_SET = 300, O_FROM_JSON };

static int edit_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct edit_args *a = opaque;

	if (c == O_FROM_JSON) {
		a->from = arg;
		return 0;
	}
	return vmargs_set(a->sets, arg, err);
}

static void edit_usage(FILE *f)
{
	fprintf(f, "usage: softvisor vm edit NAME [--set KEY=VALUE]... "
		   "[--from-json FILE]\n"
		   "\n"
		   "Without options, open $EDITOR (default vi) on the VM's\n"
		   "definition and apply what changed. --set changes single\n"
		   "fields (cpus=2, memory=1G, autostart=true,\n"
		   "qos.cpu.limit_mhz=2000). --from-json FILE (- for stdin)\n"
		   "replaces the whole definition with the file's. cpus,\n"
		   "memory, boot and devices change only while the VM is not\n"
		   "running.\n\n");
	client_opts_usage(f);
}

/* Let the user edit def in $EDITOR; the edited object in *out. */
static int run_editor(const json_t *def, json_t **out, struct error *err)
{
	char tmpl[] = "/tmp/softvisor-edit-XXXXXX.json";
	const char *editor = getenv("VISUAL");
	char *script;
	json_error_t je;
	int fd, st;
	pid_t pid;
	FILE *f;

	if (!editor || !editor[0])
		editor = getenv("EDITOR");
	if (!editor || !editor[0])
		editor = "vi";
	fd = mkstemps(tmpl, 5);
	if (fd < 0)
		return error_set(err, errno, "temporary file: %s",
				 strerror(errno));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmpl);
		return error_set(err, errno, "temporary file: %s",
				 strerror(errno));
	}
	json_dumpf(def, f, JSON_INDENT(2));
	fputc('\n', f);
	fclose(f);
	/* $EDITOR may carry arguments ("code --wait") and quotes: it is
	 * shell text (as git does), the file a positional parameter */
	if (asprintf(&script, "%s \"$@\"", editor) < 0) {
		unlink(tmpl);
		return error_set(err, ENOMEM, "out of memory");
	}
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", script, editor, tmpl,
		      (char *)NULL);
		_exit(127);
	}
	free(script);
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		unlink(tmpl);
		return error_set(err, EIO,
				 "editor '%s' failed; nothing changed", editor);
	}
	*out = json_load_file(tmpl, JSON_REJECT_DUPLICATES, &je);
	if (!*out || !json_is_object(*out)) {
		error_set(err, EINVAL,
			  "the edited definition is not a JSON object (line "
			  "%d: %s); nothing changed, your text is in %s",
			  je.line, *out ? "not an object" : je.text, tmpl);
		json_decref(*out);
		*out = NULL;
		return -EINVAL;
	}
	unlink(tmpl);
	return 0;
}

static int vm_edit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "set", required_argument, NULL, O_SET },
		{ "from-json", required_argument, NULL, O_FROM_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct edit_args a = { .sets = json_object() };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	json_t *vm = NULL, *edited = NULL, *patch = NULL;
	const char *name;
	struct client *c = NULL;
	char *path = NULL;
	int r;

	r = cmd_parse(argc, argv, "vm edit", opts, edit_opt, &a, 1, &name, &o,
		      edit_usage);
	if (r >= 0)
		goto out;
	if (json_object_size(a.sets) && a.from) {
		error_set(&err, EINVAL,
			  "--set and --from-json exclude each "
			  "other");
		r = cmd_usage_error("vm edit", &err);
		goto out;
	}
	if (a.from && vmargs_load_json(a.from, &edited, &err) < 0) {
		r = cmd_usage_error("vm edit", &err);
		goto out;
	}
	if ((r = cmd_open(&o, &c)) != 0)
		goto out;
	if (json_object_size(a.sets)) {
		r = patch_vm(c, name, a.sets);
		goto out;
	}
	path = cmd_vm_path(name, "");
	if ((r = cmd_call(c, "GET", path, NULL, &vm)) != 0)
		goto out;
	if (!edited &&
	    run_editor(json_object_get(vm, "definition"), &edited, &err) < 0) {
		r = cmd_fail(&err);
		goto out;
	}
	patch = vmargs_merge_diff(json_object_get(vm, "definition"), edited);
	if (!patch) {
		error_set(&err, ENOMEM, "out of memory");
		r = cmd_fail(&err);
	} else if (!json_object_size(patch)) {
		printf("%s: no changes\n", name);
	} else {
		r = patch_vm(c, name, patch);
	}
out:
	json_decref(a.sets);
	json_decref(vm);
	json_decref(edited);
	json_decref(patch);
	free(path);
	client_close(c);
	return r;
}

/* ---- dispatch -------------------------------------------------------------- */

static const struct vm_sub subs[] = {
	{ "create", "define a VM", vm_create },
	{ "list", "list the VMs", vm_list },
	{ "info", "a VM's state and definition", vm_info },
	{ "start", "power on", vm_action },
	{ "stop", "power off at once", vm_action },
	{ "shutdown", "ask the guest to power off and wait", vm_shutdown },
	{ "pause", "pause the vCPUs", vm_action },
	{ "resume", "continue a paused or suspended VM", vm_action },
	{ "suspend", "save to disk and free the memory", vm_action },
	{ "migrate", "move the running VM to another daemon", cmd_vm_migrate },
	{ "reset", "hard reset", vm_action },
	{ "announce", "the NICs announce themselves (after a move)",
	  vm_action },
	{ "delete", "remove a VM that is not running", vm_action },
	{ "edit", "change the definition ($EDITOR or --set)", vm_edit },
	{ "set", "change CPU QoS (shares, reservation, limit)", vm_set },
	{ "stats", "scheduler figures of a VM", vm_stats },
	{ "console", "attach to the serial console", cmd_vm_console },
	{ "snapshot", "disk snapshots: create|list|revert|delete",
	  cmd_vm_snapshot },
	{ "template", "mark a VM that is off as a template", cmd_vm_template },
	{ "clone", "a new VM from a template (linked or full)", cmd_vm_clone },
};

static void vm_usage(FILE *f)
{
	fprintf(f, "usage: softvisor vm COMMAND [ARGS...] [--help]\n\n"
		   "Manage the VMs of the softvisor daemon.\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		fprintf(f, "  %-10s %s\n", subs[i].name, subs[i].help);
	fprintf(f, "\n'softvisor vm COMMAND --help' describes a command.\n");
}

int cmd_vm(int argc, char **argv)
{
	if (argc < 2) {
		vm_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		vm_usage(stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	fprintf(stderr,
		"softvisor vm: unknown command '%s' (see 'softvisor "
		"vm --help')\n",
		argv[1]);
	return CLI_EXIT_USAGE;
}
