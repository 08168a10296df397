/*
 * VM definitions from flags (vmargs.h). Field names: docs/vm-definition.md.
 * The option strings are parsed by the definition's own parsers
 * (vmdef_opt_*, vmm/vmdef.h), so a bad flag is refused here with a message
 * naming it (exit 2) before anything is sent; the daemon checks the whole
 * definition with vmdef_validate().
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/vmargs.h"
#include "util/parse.h"
#include "vmm/vmdef.h"

int vmargs_abspath(const char *path, char *out, size_t size, struct error *err)
{
	char cwd[PATH_MAX], *real;
	int n;

	if (!path[0])
		return error_set(err, EINVAL, "empty path");
	if (path[0] == '/') {
		n = snprintf(out, size, "%s", path);
	} else if ((real = realpath(path, NULL)) != NULL) {
		n = snprintf(out, size, "%s", real);
		free(real);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return error_set(err, errno, "%s: %s", path,
					 strerror(errno));
		while (path[0] == '.' && path[1] == '/')
			path += 2;
		n = snprintf(out, size, "%s/%s", strcmp(cwd, "/") ? cwd : "",
			     path);
	}
	if (n < 0 || (size_t)n >= size)
		return error_set(err, ENAMETOOLONG, "%s: path too long", path);
	return 0;
}

int vmargs_set(json_t *obj, const char *kv, struct error *err)
{
	const char *eq = strchr(kv, '=');
	char key[256], *dot, *k;
	json_t *v, *o = obj;
	bool b;

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key))
		return error_set(err, EINVAL,
				 "--set %s: expected KEY=VALUE (cpus=2, "
				 "memory=1G, autostart=true)",
				 kv);
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	if (parse_bool(eq + 1, &b) == 0 && strcmp(eq + 1, "0") &&
	    strcmp(eq + 1, "1"))
		v = json_boolean(b);
	else if (!(v = json_loads(eq + 1, JSON_DECODE_ANY, NULL)))
		v = json_string(eq + 1);
	if (!v)
		return error_set(err, EINVAL, "--set %s: value is not UTF-8",
				 kv);
	/* walk "a.b.c", creating objects; k is the last component */
	for (k = key; (dot = strchr(k, '.')) != NULL; k = dot + 1) {
		json_t *sub;

		*dot = '\0';
		if (!k[0])
			goto bad_key;
		sub = json_object_get(o, k);
		if (!json_is_object(sub)) {
			sub = json_object();
			json_object_set_new(o, k, sub);
		}
		o = sub;
	}
	if (!k[0])
		goto bad_key;
	json_object_set_new(o, k, v);
	return 0;
bad_key:
	json_decref(v);
	return error_set(err, EINVAL, "--set %s: empty key component", kv);
}

int vmargs_load_json(const char *file, json_t **out, struct error *err)
{
	json_error_t je;
	json_t *j;

	if (!strcmp(file, "-"))
		j = json_loadf(stdin, JSON_REJECT_DUPLICATES, &je);
	else
		j = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return error_set(err, EINVAL, "%s:%d: %s",
				 strcmp(file, "-") ? file : "stdin", je.line,
				 je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return error_set(err, EINVAL, "%s: expected a JSON object",
				 file);
	}
	*out = j;
	return 0;
}

json_t *vmargs_merge_diff(const json_t *old, const json_t *new_)
{
	json_t *patch = json_object(), *ov, *d;
	const char *k;
	json_t *nv;

	if (!patch)
		return NULL;
	json_object_foreach((json_t *)old, k, ov)
	{
		if (!json_object_get(new_, k))
			json_object_set_new(patch, k, json_null());
	}
	json_object_foreach((json_t *)new_, k, nv)
	{
		ov = json_object_get(old, k);
		if (ov && json_is_object(ov) && json_is_object(nv)) {
			d = vmargs_merge_diff(ov, nv);
			if (!d) {
				json_decref(patch);
				return NULL;
			}
			if (json_object_size(d))
				json_object_set_new(patch, k, d);
			else
				json_decref(d);
		} else if (!ov || !json_equal(ov, nv)) {
			json_object_set(patch, k, nv);
		}
	}
	return patch;
}

/* ---- vm create ----------------------------------------------------------- */

enum {
	O_CPUS = 256,
	O_MEMORY,
	O_KERNEL,
	O_INITRD,
	O_APPEND,
	O_FIRMWARE,
	O_BIOS,
	O_ACCEL,
	O_ON_PANIC,
	O_ON_CRASH,
	O_MEM_MERGE,
	O_DISK,
	O_NET,
	O_RNG,
	O_BALLOON,
	O_CONSOLE,
	O_AUTOSTART,
	O_CPU_SHARES,
	O_CPU_RES,
	O_CPU_LIMIT,
	O_CPU_AFFINITY,
	O_MEM_LIMIT,
	O_FROM_JSON,
	O_HELP,
};

static void create_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor vm create NAME [options]\n"
		"\n"
		"Define a VM in the daemon (docs/vm-definition.md).\n"
		"\n"
		"  --cpus N              harts, 1..64 (default 1)\n"
		"  --memory SIZE         RAM, e.g. 512M or 2G (default 512M)\n"
		"  --kernel FILE         Linux Image, ELF or raw binary\n"
		"  --initrd FILE         initial ramdisk\n"
		"  --append STR          kernel command line\n"
		"  --firmware FILE       M-mode image that boots on its own\n"
		"  --bios KIND           builtin (default), none or PATH\n"
		"  --accel ENGINE        jit, interp or default (the host's "
		"choice)\n"
		"  --on-panic ACTION     stop (default), pause or restart when "
		"the guest panics\n"
		"  --on-crash ACTION     preserve (default), destroy or "
		"restart "
		"when the\n"
		"                        VM's worker process dies (daemon)\n"
		"  --disk SPEC           PATH[,readonly][,serial=S] "
		"(repeatable), or\n"
		"                        import-from=IMAGE[,linked=on]: a new "
		"disk made\n"
		"                        from IMAGE (a copy; linked: an "
		"overlay)\n"
		"  --net SPEC            user[,hostfwd=RULE][,mac=MAC] "
		"(repeatable)\n"
		"  --rng                 virtio-rng\n"
		"  --balloon             virtio-balloon\n"
		"  --mem-merge on|off    share zero pages (default on)\n"
		"  --mem-limit SIZE      memory limit: cold pages past it are\n"
		"                        compressed (qos.memory.limit)\n"
		"  --console KIND        managed (default), none, pty, "
		"unix:PATH\n"
		"  --autostart           start again after a daemon crash\n"
		"  --cpu-shares S        low, normal, high or 1..1000000\n"
		"  --cpu-reservation MHZ guaranteed MHz\n"
		"  --cpu-limit MHZ       MHz cap\n"
		"  --cpu-affinity LIST   host pCPUs the vCPUs may run on, "
		"e.g. 0-1,3\n"
		"  --from-json FILE      start from a definition file (- for "
		"stdin);\n"
		"                        flags override its fields\n"
		"\n");
	client_opts_usage(f);
}

/* obj[key] (an object, created if missing) */
static json_t *sub_object(json_t *obj, const char *key)
{
	json_t *s = json_object_get(obj, key);

	if (!json_is_object(s)) {
		s = json_object();
		json_object_set_new(obj, key, s);
	}
	return s;
}

static int set_path(json_t *obj, const char *key, const char *file,
		    const char *what, struct error *err)
{
	char abs[4096];

	if (vmargs_abspath(file, abs, sizeof(abs), err) < 0) {
		error_prefix(err, "%s", what);
		return -EINVAL;
	}
	json_object_set_new(obj, key, json_string(abs));
	return 0;
}

static json_t *qos_cpu(json_t *def)
{
	return sub_object(sub_object(def, "qos"), "cpu");
}

/* A MHz flag: a number, or JSON null ("unlimited") to remove a limit in a
 * merge patch. */
static int mhz_json(const char *arg, const char *what, bool limit, json_t **out,
		    struct error *err)
{
	uint64_t v;

	if (vmdef_opt_mhz(arg, what, limit, &v, err) < 0)
		return -EINVAL;
	*out = limit && v == 0 ? json_null() : json_integer((json_int_t)v);
	return 0;
}

/* --console: the definition's parser; a socket path made absolute. */
static int console_json(const char *arg, json_t **out, struct error *err)
{
	enum vmdef_console kind;
	char path[108], abs[4096];

	if (vmdef_opt_console(arg, VMDEF_HOST_DAEMON, &kind, path, sizeof(path),
			      err) < 0)
		return -EINVAL;
	if (kind != VMDEF_CONSOLE_UNIX) {
		*out = json_string(arg);
		return 0;
	}
	if (vmargs_abspath(path, abs, sizeof(abs), err) < 0) {
		error_prefix(err, "--console");
		return -EINVAL;
	}
	*out = json_sprintf("unix:%s", abs);
	return 0;
}

/* --disk: the definition's parser, the path made absolute. */
static int disk_json(const char *arg, json_t **out, struct error *err)
{
	static struct vmdef_disk d; /* 12 KB; getopt makes this one thread */
	char abs[VIRTIO_BLK_PATH_MAX];

	if (vmdef_opt_disk(arg, &d, err) < 0)
		return -EINVAL;
	/* import-from=IMAGE: the daemon reads IMAGE, so it is made
	 * absolute as a disk's own image is */
	char *p = d.import_from[0] ? d.import_from : d.path;
	if (vmargs_abspath(p, abs, sizeof(abs), err) < 0) {
		error_prefix(err, "--disk");
		return -EINVAL;
	}
	memcpy(p, abs, sizeof(abs));
	/* the daemon's worker reads the key file: make its path absolute */
	if (!strncmp(d.key_secret, "file:", 5)) {
		/* abs (VIRTIO_BLK_PATH_MAX) + "file:" fits key_secret */
		if (vmargs_abspath(d.key_secret + 5, abs, sizeof(abs), err) <
		    0) {
			error_prefix(err, "--disk key-secret");
			return -EINVAL;
		}
		snprintf(d.key_secret, sizeof(d.key_secret), "file:%s", abs);
	}
	*out = vmdef_disk_to_json(&d, false);
	return 0;
}

/* Store v (a new reference, NULL when out of memory) as obj[key], or at
 * the end of obj when key is NULL (an array). */
static int put(json_t *obj, const char *key, json_t *v, struct error *err)
{
	if (!v || (key ? json_object_set_new(obj, key, v)
		       : json_array_append_new(obj, v)))
		return error_set(err, ENOMEM, "out of memory");
	return 0;
}

/* One option of create/set applied to the definition. */
static int apply_opt(json_t *def, int c, const char *arg, struct error *err)
{
	struct vmdef_shares sh;
	struct vmdef_nic nic;
	enum virt_bios bios;
	enum virt_accel accel;
	enum virt_on_panic on_panic;
	enum vmdef_on_crash on_crash;
	char path[VMDEF_PATH_MAX];
	unsigned cpus;
	json_t *v;
	uint64_t u;
	bool none;

	switch (c) {
	case O_CPUS:
		if (vmdef_opt_cpus(arg, "--cpus", &cpus, err) < 0)
			return -EINVAL;
		return put(def, "cpus", json_integer(cpus), err);
	case O_MEMORY:
		if (vmdef_opt_memory(arg, "--memory", &u, err) < 0)
			return -EINVAL;
		return put(def, "memory", json_integer((json_int_t)u), err);
	case O_MEM_LIMIT:
		if (vmdef_opt_memory(arg, "--mem-limit", &u, err) < 0)
			return -EINVAL;
		return put(sub_object(sub_object(def, "qos"), "memory"),
			   "limit", json_integer((json_int_t)u), err);
	case O_KERNEL:
		return set_path(sub_object(def, "boot"), "kernel", arg,
				"--kernel", err);
	case O_INITRD:
		return set_path(sub_object(def, "boot"), "initrd", arg,
				"--initrd", err);
	case O_FIRMWARE:
		return set_path(sub_object(def, "boot"), "firmware", arg,
				"--firmware", err);
	case O_APPEND:
		return put(sub_object(def, "boot"), "append", json_string(arg),
			   err);
	case O_BIOS:
		if (vmdef_opt_bios(arg, &bios, path, sizeof(path), err) < 0)
			return -EINVAL;
		if (bios != VIRT_BIOS_FILE)
			return put(def, "bios", json_string(arg), err);
		return set_path(def, "bios", arg, "--bios", err);
	case O_ACCEL:
		if (vmdef_opt_accel(arg, "--accel", &accel, err) < 0)
			return -EINVAL;
		return put(def, "accel", json_string(vmdef_accel_name(accel)),
			   err);
	case O_ON_PANIC:
		if (vmdef_opt_on_panic(arg, "--on-panic", &on_panic, err) < 0)
			return -EINVAL;
		return put(def, "on_panic",
			   json_string(vmdef_on_panic_name(on_panic)), err);
	case O_ON_CRASH:
		if (vmdef_opt_on_crash(arg, "--on-crash", &on_crash, err) < 0)
			return -EINVAL;
		return put(def, "on_crash",
			   json_string(vmdef_on_crash_name(on_crash)), err);
	case O_MEM_MERGE:
		if (vmdef_opt_onoff(arg, "--mem-merge", &none, err) < 0)
			return -EINVAL;
		return put(def, "mem_merge", json_boolean(none), err);
	case O_DISK:
		if (disk_json(arg, &v, err) < 0)
			return -EINVAL;
		return put(json_object_get(def, "disks"), NULL, v, err);
	case O_NET:
		if (vmdef_opt_nic(arg, &nic, &none, err) < 0)
			return -EINVAL;
		if (none)
			return 0;
		return put(json_object_get(def, "nics"), NULL,
			   vmdef_nic_to_json(&nic, false), err);
	case O_RNG: return put(def, "rng", json_true(), err);
	case O_BALLOON: return put(def, "balloon", json_true(), err);
	case O_AUTOSTART: return put(def, "autostart", json_true(), err);
	case O_CONSOLE:
		if (console_json(arg, &v, err) < 0)
			return -EINVAL;
		return put(def, "console", v, err);
	case O_CPU_SHARES:
		if (vmdef_opt_shares(arg, "--cpu-shares", &sh, err) < 0)
			return -EINVAL;
		return put(qos_cpu(def), "shares", vmdef_shares_to_json(&sh),
			   err);
	case O_CPU_RES:
		if (mhz_json(arg, "--cpu-reservation", false, &v, err) < 0)
			return -EINVAL;
		return put(qos_cpu(def), "reservation_mhz", v, err);
	case O_CPU_LIMIT:
		if (mhz_json(arg, "--cpu-limit", true, &v, err) < 0)
			return -EINVAL;
		return put(qos_cpu(def), "limit_mhz", v, err);
	case O_CPU_AFFINITY: {
		char set[200];

		if (vmdef_opt_cpuset(arg, "--cpu-affinity", &u, err) < 0)
			return -EINVAL;
		vmdef_cpuset_str(u, set, sizeof(set));
		return put(qos_cpu(def), "affinity", json_string(set), err);
	}
	default: return -ENOENT;
	}
}

static int unknown_opt(char **argv, const char *cmd, struct error *err)
{
	const char *bad = argv[optind - 1];

	if (optopt == 0)
		return error_set(err, EINVAL,
				 "unknown option '%s' (see 'softvisor vm %s "
				 "--help')",
				 bad, cmd);
	return error_set(err, EINVAL, "option '%s' needs a value", bad);
}

int vmargs_parse_create(int argc, char **argv, struct client_opts *o,
			json_t **def, struct error *err)
{
	static const struct option opts[] = {
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "append", required_argument, NULL, O_APPEND },
		{ "firmware", required_argument, NULL, O_FIRMWARE },
		{ "bios", required_argument, NULL, O_BIOS },
		{ "accel", required_argument, NULL, O_ACCEL },
		{ "on-panic", required_argument, NULL, O_ON_PANIC },
		{ "on-crash", required_argument, NULL, O_ON_CRASH },
		{ "mem-merge", required_argument, NULL, O_MEM_MERGE },
		{ "disk", required_argument, NULL, O_DISK },
		{ "net", required_argument, NULL, O_NET },
		{ "rng", no_argument, NULL, O_RNG },
		{ "balloon", no_argument, NULL, O_BALLOON },
		{ "console", required_argument, NULL, O_CONSOLE },
		{ "autostart", no_argument, NULL, O_AUTOSTART },
		{ "cpu-shares", required_argument, NULL, O_CPU_SHARES },
		{ "cpu-reservation", required_argument, NULL, O_CPU_RES },
		{ "cpu-limit", required_argument, NULL, O_CPU_LIMIT },
		{ "cpu-affinity", required_argument, NULL, O_CPU_AFFINITY },
		{ "mem-limit", required_argument, NULL, O_MEM_LIMIT },
		{ "from-json", required_argument, NULL, O_FROM_JSON },
		{ "help", no_argument, NULL, O_HELP },
		CLIENT_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	/* flags go into a separate object merged over --from-json at the
	 * end, so the order on the command line does not matter */
	json_t *flags = json_pack("{s[]s[]}", "disks", "nics");
	json_t *base = NULL;
	const char *from = NULL;
	int c, r;

	*def = NULL;
	if (!flags)
		return error_set(err, ENOMEM, "out of memory");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == O_HELP) {
			create_usage(stdout);
			json_decref(flags);
			return 1;
		}
		if (c == O_FROM_JSON) {
			from = optarg;
			continue;
		}
		r = client_opts_handle(o, c, optarg, err);
		if (r > 0)
			continue;
		if (r == 0)
			r = apply_opt(flags, c, optarg, err);
		if (r == -ENOENT)
			r = unknown_opt(argv, "create", err);
		if (r < 0)
			goto fail;
	}
	if (argc - optind > 1) {
		r = error_set(err, EINVAL, "unexpected argument '%s'",
			      argv[optind + 1]);
		goto fail;
	}
	if (from) {
		if (vmargs_load_json(from, &base, err) < 0) {
			r = -EINVAL;
			goto fail;
		}
	} else {
		base = json_object();
	}
	if (optind < argc)
		json_object_set_new(flags, "name", json_string(argv[optind]));
	else if (!json_is_string(json_object_get(base, "name"))) {
		r = error_set(err, EINVAL,
			      "a NAME is required (softvisor vm create NAME "
			      "...)");
		goto fail;
	}
	/* --disk/--net replace the file's lists; absent, the file's stay */
	if (!json_array_size(json_object_get(flags, "disks")))
		json_object_del(flags, "disks");
	if (!json_array_size(json_object_get(flags, "nics")))
		json_object_del(flags, "nics");
	json_object_update_recursive(base, flags);
	if (!json_is_object(json_object_get(base, "boot"))) {
		r = error_set(err, EINVAL,
			      "--kernel FILE or --firmware FILE is required");
		goto fail;
	}
	json_decref(flags);
	*def = base;
	return 0;
fail:
	json_decref(flags);
	json_decref(base);
	return r;
}

/* ---- vm set -------------------------------------------------------------- */

static void set_usage(FILE *f)
{
	fprintf(f, "usage: softvisor vm set NAME [--cpu-shares S] "
		   "[--cpu-reservation MHZ]\n"
		   "                            [--cpu-limit MHZ|unlimited]\n"
		   "                            [--cpu-affinity LIST|all]\n"
		   "                            [--on-crash ACTION]\n"
		   "\n"
		   "Change a VM's CPU QoS; applies to a running VM within one\n"
		   "accounting interval. --on-crash: preserve, destroy or\n"
		   "restart when its worker process dies.\n"
		   "\n");
	client_opts_usage(f);
}

int vmargs_parse_set(int argc, char **argv, struct client_opts *o,
		     const char **name, json_t **patch, struct error *err)
{
	static const struct option opts[] = {
		{ "cpu-shares", required_argument, NULL, O_CPU_SHARES },
		{ "cpu-reservation", required_argument, NULL, O_CPU_RES },
		{ "cpu-limit", required_argument, NULL, O_CPU_LIMIT },
		{ "cpu-affinity", required_argument, NULL, O_CPU_AFFINITY },
		{ "on-crash", required_argument, NULL, O_ON_CRASH },
		{ "help", no_argument, NULL, O_HELP },
		CLIENT_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	json_t *p = json_object();
	int c, r;

	*patch = NULL;
	if (!p)
		return error_set(err, ENOMEM, "out of memory");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == O_HELP) {
			set_usage(stdout);
			json_decref(p);
			return 1;
		}
		r = client_opts_handle(o, c, optarg, err);
		if (r > 0)
			continue;
		if (r == 0)
			r = apply_opt(p, c, optarg, err);
		if (r == -ENOENT)
			r = unknown_opt(argv, "set", err);
		if (r < 0)
			goto fail;
	}
	if (argc - optind > 1) {
		r = error_set(err, EINVAL, "unexpected argument '%s'",
			      argv[optind + 1]);
		goto fail;
	}
	if (argc == optind) {
		r = error_set(err, EINVAL, "a VM NAME is required");
		goto fail;
	}
	if (!json_object_size(p)) {
		r = error_set(err, EINVAL,
			      "nothing to set: give --cpu-shares, "
			      "--cpu-reservation, --cpu-limit, "
			      "--cpu-affinity or --on-crash");
		goto fail;
	}
	*name = argv[optind];
	*patch = p;
	return 0;
fail:
	json_decref(p);
	return r;
}
