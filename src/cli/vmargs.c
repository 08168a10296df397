/*
 * VM definitions from flags (vmargs.h). Field names: docs/vm-definition.md.
 * The daemon validates everything again; the checks here exist to give the
 * user a message naming the flag (exit 2) before anything is sent.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/vmargs.h"
#include "util/parse.h"

#define SHARES_MAX 1000000
#define MHZ_MAX	   (1ULL << 40)

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

/* Next comma-separated field of *p into out (",," is a literal comma).
 * Returns false at the end of the string. */
static bool next_field(const char **p, char *out, size_t size, bool *trunc)
{
	const char *s = *p;
	size_t n = 0;

	if (!s)
		return false;
	for (; *s; s++) {
		if (*s == ',') {
			if (s[1] != ',')
				break;
			s++;
		}
		if (n + 1 < size)
			out[n++] = *s;
		else
			*trunc = true;
	}
	out[n] = '\0';
	*p = *s ? s + 1 : NULL;
	return true;
}

static int onoff(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") ||
	    !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") ||
		 !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

int vmargs_disk(const char *spec, json_t **out, struct error *err)
{
	char f[4096], abs[4096];
	const char *p = spec;
	bool trunc = false, b;
	json_t *d;

	*out = NULL;
	if (!next_field(&p, f, sizeof(f), &trunc) || !f[0])
		return error_set(err, EINVAL,
				 "--disk %s: expected PATH[,readonly]"
				 "[,serial=S]",
				 spec);
	if (vmargs_abspath(f, abs, sizeof(abs), err) < 0) {
		error_prefix(err, "--disk");
		return -EINVAL;
	}
	d = json_pack("{ss}", "path", abs);
	while (d && next_field(&p, f, sizeof(f), &trunc)) {
		char *eq = strchr(f, '=');
		const char *v = eq ? eq + 1 : NULL;

		if (eq)
			*eq = '\0';
		if (!strcmp(f, "readonly") || !strcmp(f, "ro")) {
			if (v && onoff(v, &b) < 0)
				goto bad;
			json_object_set_new(d, "readonly",
					    json_boolean(v ? b : true));
		} else if (!strcmp(f, "serial") && v) {
			json_object_set_new(d, "serial", json_string(v));
		} else if (!strcmp(f, "format") && v) {
			json_object_set_new(d, "format", json_string(v));
		} else {
			goto bad;
		}
	}
	if (!d)
		return error_set(err, ENOMEM, "out of memory");
	if (trunc) {
		json_decref(d);
		return error_set(err, EINVAL, "--disk %s: field too long",
				 spec);
	}
	*out = d;
	return 0;
bad:
	json_decref(d);
	return error_set(err, EINVAL,
			 "--disk %s: unknown option '%s' (expected readonly, "
			 "serial=S or format=raw)",
			 spec, f);
}

int vmargs_nic(const char *spec, json_t **out, struct error *err)
{
	const char *p = spec;
	char f[256];
	bool trunc = false;
	json_t *n, *fwd;

	*out = NULL;
	if (!next_field(&p, f, sizeof(f), &trunc))
		f[0] = '\0';
	if (!strcmp(f, "none") && !p)
		return 0;
	if (strcmp(f, "user") != 0)
		return error_set(err, EINVAL,
				 "--net %s: expected user[,hostfwd=RULE]"
				 "[,mac=MAC] or none",
				 spec);
	n = json_pack("{ss}", "type", "user");
	fwd = json_array();
	while (n && fwd && next_field(&p, f, sizeof(f), &trunc)) {
		char *eq = strchr(f, '=');

		if (!eq)
			goto bad;
		*eq = '\0';
		if (!strcmp(f, "hostfwd") && eq[1])
			json_array_append_new(fwd, json_string(eq + 1));
		else if (!strcmp(f, "mac") && eq[1])
			json_object_set_new(n, "mac", json_string(eq + 1));
		else
			goto bad;
	}
	if (!n || !fwd) {
		json_decref(n);
		json_decref(fwd);
		return error_set(err, ENOMEM, "out of memory");
	}
	if (trunc) {
		json_decref(n);
		json_decref(fwd);
		return error_set(err, EINVAL, "--net %s: field too long", spec);
	}
	if (json_array_size(fwd))
		json_object_set_new(n, "hostfwd", fwd);
	else
		json_decref(fwd);
	*out = n;
	return 0;
bad:
	json_decref(n);
	json_decref(fwd);
	return error_set(err, EINVAL,
			 "--net %s: unknown option '%s' (expected "
			 "hostfwd=RULE or mac=MAC)",
			 spec, f);
}

int vmargs_shares(const char *s, const char *what, json_t **out,
		  struct error *err)
{
	uint64_t v;

	if (!strcmp(s, "low") || !strcmp(s, "normal") || !strcmp(s, "high")) {
		*out = json_string(s);
	} else {
		if (parse_u64(s, 1, SHARES_MAX, &v, what, err) < 0)
			return error_set(err, EINVAL,
					 "%s %s: expected low, normal, high or "
					 "a number 1..%d",
					 what, s, SHARES_MAX);
		*out = json_integer((json_int_t)v);
	}
	return *out ? 0 : error_set(err, ENOMEM, "out of memory");
}

int vmargs_mhz(const char *s, const char *what, bool allow_unlimited,
	       json_t **out, struct error *err)
{
	uint64_t v;

	if (allow_unlimited &&
	    (!strcmp(s, "unlimited") || !strcmp(s, "none"))) {
		*out = json_null();
		return 0;
	}
	if (parse_u64(s, 0, MHZ_MAX, &v, what, err) < 0)
		return error_set(err, EINVAL,
				 "%s %s: expected MHz as a number%s", what, s,
				 allow_unlimited ? " or unlimited" : "");
	*out = json_integer((json_int_t)v);
	return *out ? 0 : error_set(err, ENOMEM, "out of memory");
}

int vmargs_memory(const char *s, const char *what, uint64_t *out,
		  struct error *err)
{
	uint64_t v;

	if (parse_size(s, 1ULL << 20, &v, what, err) < 0)
		return -EINVAL;
	if (v < (16ULL << 20) || v > (1ULL << 40) || (v & 0xfff))
		return error_set(err, EINVAL,
				 "%s %s: expected a multiple of 4K between 16M "
				 "and 1T",
				 what, s);
	*out = v;
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
	if (onoff(eq + 1, &b) == 0 && strcmp(eq + 1, "0") &&
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
	O_DISK,
	O_NET,
	O_RNG,
	O_BALLOON,
	O_CONSOLE,
	O_AUTOSTART,
	O_CPU_SHARES,
	O_CPU_RES,
	O_CPU_LIMIT,
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
		"  --disk SPEC           PATH[,readonly][,serial=S] "
		"(repeatable)\n"
		"  --net SPEC            user[,hostfwd=RULE][,mac=MAC] "
		"(repeatable)\n"
		"  --rng                 virtio-rng\n"
		"  --balloon             virtio-balloon\n"
		"  --console KIND        managed (default), none, pty, "
		"unix:PATH\n"
		"  --autostart           start again after a daemon crash\n"
		"  --cpu-shares S        low, normal, high or 1..1000000\n"
		"  --cpu-reservation MHZ guaranteed MHz\n"
		"  --cpu-limit MHZ       MHz cap\n"
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

/* One option of create/set applied to the definition. */
static int apply_opt(json_t *def, int c, const char *arg, struct error *err)
{
	json_t *v;
	uint64_t u;

	switch (c) {
	case O_CPUS:
		if (parse_u64(arg, 1, 64, &u, "--cpus", err) < 0)
			return -EINVAL;
		json_object_set_new(def, "cpus", json_integer((json_int_t)u));
		return 0;
	case O_MEMORY:
		if (vmargs_memory(arg, "--memory", &u, err) < 0)
			return -EINVAL;
		json_object_set_new(def, "memory", json_integer((json_int_t)u));
		return 0;
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
		json_object_set_new(sub_object(def, "boot"), "append",
				    json_string(arg));
		return 0;
	case O_BIOS:
		if (!strcmp(arg, "builtin") || !strcmp(arg, "none")) {
			json_object_set_new(def, "bios", json_string(arg));
			return 0;
		}
		return set_path(def, "bios", arg, "--bios", err);
	case O_DISK:
		if (vmargs_disk(arg, &v, err) < 0)
			return -EINVAL;
		json_array_append_new(json_object_get(def, "disks"), v);
		return 0;
	case O_NET:
		if (vmargs_nic(arg, &v, err) < 0)
			return -EINVAL;
		if (v)
			json_array_append_new(json_object_get(def, "nics"), v);
		return 0;
	case O_RNG: json_object_set_new(def, "rng", json_true()); return 0;
	case O_BALLOON:
		json_object_set_new(def, "balloon", json_true());
		return 0;
	case O_AUTOSTART:
		json_object_set_new(def, "autostart", json_true());
		return 0;
	case O_CONSOLE:
		if (!strncmp(arg, "unix:", 5)) {
			char abs[4096];
			if (vmargs_abspath(arg + 5, abs, sizeof(abs), err) < 0)
				return -EINVAL;
			v = json_sprintf("unix:%s", abs);
		} else if (!strcmp(arg, "managed") || !strcmp(arg, "none") ||
			   !strcmp(arg, "pty")) {
			v = json_string(arg);
		} else {
			return error_set(err, EINVAL,
					 "--console %s: expected managed, "
					 "none, pty or unix:PATH",
					 arg);
		}
		json_object_set_new(def, "console", v);
		return 0;
	case O_CPU_SHARES:
		if (vmargs_shares(arg, "--cpu-shares", &v, err) < 0)
			return -EINVAL;
		json_object_set_new(qos_cpu(def), "shares", v);
		return 0;
	case O_CPU_RES:
		if (vmargs_mhz(arg, "--cpu-reservation", false, &v, err) < 0)
			return -EINVAL;
		json_object_set_new(qos_cpu(def), "reservation_mhz", v);
		return 0;
	case O_CPU_LIMIT:
		if (vmargs_mhz(arg, "--cpu-limit", true, &v, err) < 0)
			return -EINVAL;
		json_object_set_new(qos_cpu(def), "limit_mhz", v);
		return 0;
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
		{ "disk", required_argument, NULL, O_DISK },
		{ "net", required_argument, NULL, O_NET },
		{ "rng", no_argument, NULL, O_RNG },
		{ "balloon", no_argument, NULL, O_BALLOON },
		{ "console", required_argument, NULL, O_CONSOLE },
		{ "autostart", no_argument, NULL, O_AUTOSTART },
		{ "cpu-shares", required_argument, NULL, O_CPU_SHARES },
		{ "cpu-reservation", required_argument, NULL, O_CPU_RES },
		{ "cpu-limit", required_argument, NULL, O_CPU_LIMIT },
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
		   "\n"
		   "Change a VM's CPU QoS; applies to a running VM within one\n"
		   "accounting interval.\n"
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
			      "--cpu-reservation or --cpu-limit");
		goto fail;
	}
	*name = argv[optind];
	*patch = p;
	return 0;
fail:
	json_decref(p);
	return r;
}
