/* VM definition as JSON: read (types and shapes; the rules are
 * vmdef_validate()'s) and write the normalized form (vmdef.h,
 * docs/vm-definition.md). */
#include "vmm/vmdef.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/aio.h"
#include "util/parse.h"
#include "vmm/vmdef_priv.h"

#define FIELD_MAX 64 /* "nics[7].hostfwd[15]" and the like */

/* ---- helpers: messages ------------------------------------------------- */

/* What a JSON value is, for "got ..." in messages. */
static void describe(const json_t *v, char *buf, size_t len)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(buf, len, "\"%.64s\"%s", json_string_value(v),
			 json_string_length(v) > 64 ? "..." : "");
		break;
	case JSON_INTEGER:
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		break;
	case JSON_REAL: snprintf(buf, len, "%g", json_real_value(v)); break;
	case JSON_TRUE: snprintf(buf, len, "true"); break;
	case JSON_FALSE: snprintf(buf, len, "false"); break;
	case JSON_NULL: snprintf(buf, len, "null"); break;
	case JSON_OBJECT: snprintf(buf, len, "an object"); break;
	case JSON_ARRAY: snprintf(buf, len, "an array"); break;
	default: snprintf(buf, len, "?"); break;
	}
}

static int bad_type(const char *field, const char *expected, const json_t *v,
		    struct error *err)
{
	char got[96];

	describe(v, got, sizeof(got));
	return error_set(err, EINVAL, "%s: expected %s, got %s", field,
			 expected, got);
}

/* Reject members of obj not in allowed (NULL-terminated). where names the
 * object in the message ("definition", "disks[0]"). */
static int check_keys(const json_t *obj, const char *const *allowed,
		      const char *where, struct error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		const char *const *a;

		for (a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (!*a)
			return error_set(err, EINVAL,
					 "unknown field '%.64s' in %s", key,
					 where);
	}
	return 0;
}

/* out = "parent.key" (or "key" at the top), truncated if ever too long. */
static void sub(char *out, const char *parent, const char *key)
{
	int n = parent[0] ? snprintf(out, FIELD_MAX, "%s.%s", parent, key)
			  : snprintf(out, FIELD_MAX, "%s", key);

	if (n < 0)
		out[0] = '\0';
}

/* ---- helpers: typed getters -------------------------------------------- */

/* A string member into buf (size len, NUL included). Missing: -ENOENT
 * (not an error for the caller to report unless required). */
static int get_str(const json_t *obj, const char *parent, const char *key,
		   char *buf, size_t len, bool required, struct error *err)
{
	char field[FIELD_MAX];
	json_t *v = json_object_get(obj, key);

	sub(field, parent, key);
	if (!v) {
		if (required)
			return error_set(err, EINVAL, "%s: required", field);
		return -ENOENT;
	}
	if (!json_is_string(v))
		return bad_type(field, "a string", v, err);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return error_set(err, EINVAL, "%s: contains a NUL character",
				 field);
	if (json_string_length(v) >= len)
		return error_set(err, EINVAL,
				 "%s: too long (%zu bytes, at most %zu)", field,
				 json_string_length(v), len - 1);
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_bool(const json_t *obj, const char *parent, const char *key,
		    bool *out, struct error *err)
{
	char field[FIELD_MAX];
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	sub(field, parent, key);
	if (!json_is_boolean(v))
		return bad_type(field, "true or false", v, err);
	*out = json_is_true(v);
	return 0;
}

/* An integer member in [min, max]; missing leaves *out alone. */
static int get_uint(const json_t *obj, const char *parent, const char *key,
		    uint64_t min, uint64_t max, uint64_t *out,
		    struct error *err)
{
	char field[FIELD_MAX], expected[64];
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (!v)
		return 0;
	sub(field, parent, key);
	snprintf(expected, sizeof(expected), "an integer %" PRIu64 "..%" PRIu64,
		 min, max);
	if (!json_is_integer(v))
		return bad_type(field, expected, v, err);
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return error_set(err, EINVAL,
				 "%s: %" JSON_INTEGER_FORMAT
				 " is out of range %" PRIu64 "..%" PRIu64,
				 field, i, min, max);
	*out = (uint64_t)i;
	return 0;
}

/* A size: an integer (bytes) or a string like "512M". Missing: -ENOENT. */
static int get_size(const json_t *obj, const char *parent, const char *key,
		    uint64_t *out, struct error *err)
{
	char field[FIELD_MAX], got[96];
	json_t *v = json_object_get(obj, key);

	if (!v)
		return -ENOENT;
	sub(field, parent, key);
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return error_set(err, EINVAL,
					 "%s: %" JSON_INTEGER_FORMAT
					 " is negative; expected a size like "
					 "512M or 2G",
					 field, json_integer_value(v));
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	describe(v, got, sizeof(got));
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    parse_size(json_string_value(v), 1, out, field, NULL) < 0)
		return error_set(err, EINVAL,
				 "%s: expected a size like 512M or 2G, got %s",
				 field, got);
	return 0;
}

static int get_shares(const json_t *obj, const char *parent,
		      struct vmdef_shares *out, struct error *err)
{
	char field[FIELD_MAX];
	json_t *v = json_object_get(obj, "shares");
	char expected[64];

	if (!v)
		return 0;
	sub(field, parent, "shares");
	snprintf(expected, sizeof(expected),
		 "\"low\", \"normal\", \"high\" or a number 1..%d",
		 VMDEF_SHARES_MAX);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (strcmp(s, "low") == 0)
			*out = (struct vmdef_shares){ VMDEF_SHARES_LOW, 0 };
		else if (strcmp(s, "normal") == 0)
			*out = (struct vmdef_shares){ VMDEF_SHARES_NORMAL, 0 };
		else if (strcmp(s, "high") == 0)
			*out = (struct vmdef_shares){ VMDEF_SHARES_HIGH, 0 };
		else
			return bad_type(field, expected, v, err);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > VMDEF_SHARES_MAX)
		return bad_type(field, expected, v, err);
	out->kind = VMDEF_SHARES_CUSTOM;
	out->value = (uint32_t)json_integer_value(v);
	return 0;
}

/* obj[key] into *out if present (NULL if not) and of type, else a
 * message "field: expected <expected>, got ...". */
static int get_typed(const json_t *obj, const char *key, const char *field,
		     json_type type, const char *expected, json_t **out,
		     struct error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v && json_typeof(v) != type)
		return bad_type(field, expected, v, err);
	*out = v;
	return 0;
}

static int get_object(const json_t *obj, const char *key, const char *field,
		      json_t **out, struct error *err)
{
	return get_typed(obj, key, field, JSON_OBJECT, "an object", out, err);
}

static int get_array(const json_t *obj, const char *key, size_t max,
		     json_t **out, struct error *err)
{
	if (get_typed(obj, key, key, JSON_ARRAY, "an array", out, err))
		return -EINVAL;
	if (*out && json_array_size(*out) > max) {
		size_t n = json_array_size(*out);

		*out = NULL;
		return error_set(err, EINVAL, "%s: %zu entries, at most %zu",
				 key, n, max);
	}
	return 0;
}

/* ---- the sections ------------------------------------------------------ */

static int parse_boot(const json_t *root, struct vmdef *d, struct error *err)
{
	static const char *const keys[] = { "kernel", "initrd", "append",
					    "firmware", NULL };
	json_t *boot;

	if (get_object(root, "boot", "boot", &boot, err))
		return -EINVAL;
	if (!boot)
		return error_set(err, EINVAL,
				 "boot: required (an object with kernel, "
				 "initrd, append, or firmware)");
	if (check_keys(boot, keys, "boot", err) ||
	    get_str(boot, "boot", "kernel", d->kernel, sizeof(d->kernel), false,
		    err) == -EINVAL ||
	    get_str(boot, "boot", "firmware", d->firmware, sizeof(d->firmware),
		    false, err) == -EINVAL ||
	    get_str(boot, "boot", "initrd", d->initrd, sizeof(d->initrd), false,
		    err) == -EINVAL ||
	    get_str(boot, "boot", "append", d->append, sizeof(d->append), false,
		    err) == -EINVAL)
		return -EINVAL;
	return 0;
}

static int parse_bios(const json_t *root, struct vmdef *d, struct error *err)
{
	char s[VMDEF_PATH_MAX];
	int r = get_str(root, "", "bios", s, sizeof(s), false, err);

	if (r == -ENOENT) {
		d->bios = d->firmware[0] ? VIRT_BIOS_NONE : VIRT_BIOS_BUILTIN;
		return 0;
	}
	if (r)
		return r;
	if (strcmp(s, "builtin") == 0) {
		d->bios = VIRT_BIOS_BUILTIN;
	} else if (strcmp(s, "none") == 0) {
		d->bios = VIRT_BIOS_NONE;
	} else if (s[0] == '/') {
		d->bios = VIRT_BIOS_FILE;
		memcpy(d->bios_path, s, strlen(s) + 1);
	} else {
		return error_set(err, EINVAL,
				 "bios: expected \"builtin\", \"none\" or an "
				 "absolute path, got \"%.64s\"",
				 s);
	}
	return 0;
}

static int parse_accel(const json_t *root, struct vmdef *d, struct error *err)
{
	char s[16];
	int r = get_str(root, "", "accel", s, sizeof(s), false, err);

	if (r == -ENOENT)
		return 0;
	return r ? r : vmdef_opt_accel(s, "accel:", &d->accel, err);
}

static int parse_on_panic(const json_t *root, struct vmdef *d,
			  struct error *err)
{
	char s[16];
	int r = get_str(root, "", "on_panic", s, sizeof(s), false, err);

	if (r == -ENOENT)
		return 0;
	return r ? r : vmdef_opt_on_panic(s, "on_panic:", &d->on_panic, err);
}

/* disks[i].throttling: {"bps-total": 1048576, "group": "db", ...}, QEMU's
 * throttling.* names without the prefix (docs/vm-definition.md). */
static int parse_throttling(const json_t *disk, const char *where,
			    struct throttle_config *cfg, struct error *err)
{
	json_t *o = json_object_get(disk, "throttling"), *v;
	char field[FIELD_MAX], val[64];
	const char *key;

	if (!o)
		return 0;
	sub(field, where, "throttling");
	if (!json_is_object(o))
		return bad_type(field, "an object", o, err);
	json_object_foreach(o, key, v)
	{
		const char *s = val;

		if (json_is_integer(v) && json_integer_value(v) >= 0)
			snprintf(val, sizeof(val), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(v));
		else if (json_is_string(v) &&
			 (!strcmp(key, "group") || !strcmp(key, "shares")))
			s = json_string_value(v);
		else {
			char f[FIELD_MAX];

			sub(f, field, key);
			return bad_type(f,
					strcmp(key, "group")
						? "a non-negative integer"
						: "a string",
					v, err);
		}
		if (throttle_config_set(cfg, key, s, err) < 0) {
			error_prefix(err, "%s", field);
			return -EINVAL;
		}
	}
	if (throttle_config_check(cfg, err) < 0) {
		error_prefix(err, "%s", field);
		return -EINVAL;
	}
	return 0;
}

/* disks[i].aio: "threads" (default), "auto" or "io_uring". */
static int parse_aio(const json_t *disk, const char *where, int *aio,
		     struct error *err)
{
	char s[16], field[FIELD_MAX];
	enum block_aio m;
	int r = get_str(disk, where, "aio", s, sizeof(s), false, err);

	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	sub(field, where, "aio");
	if (block_aio_parse(s, &m) < 0)
		return error_set(err, EINVAL,
				 "%s: expected \"auto\", \"threads\" or "
				 "\"io_uring\", got \"%s\"",
				 field, s);
	*aio = (int)m;
	return 0;
}

static int parse_disk(const json_t *v, unsigned i, struct vmdef_disk *dk,
		      struct error *err)
{
	static const char *const keys[] = {
		"path",	      "format", "readonly",    "serial", "throttling",
		"key_secret", "aio",	"import_from", "linked", NULL
	};
	char where[FIELD_MAX];

	snprintf(where, sizeof(where), "disks[%u]", i);
	if (!json_is_object(v))
		return bad_type(where, "an object", v, err);
	snprintf(dk->format, sizeof(dk->format), "raw");
	if (check_keys(v, keys, where, err) ||
	    get_str(v, where, "import_from", dk->import_from,
		    sizeof(dk->import_from), false, err) == -EINVAL ||
	    get_bool(v, where, "linked", &dk->linked, err))
		return -EINVAL;
	/* the new image is qcow2; the source's format is probed from it */
	if (dk->import_from[0] && json_object_get(v, "format"))
		return error_set(err, EINVAL,
				 "%s.format: not with import_from (the "
				 "image's format is detected, the new disk "
				 "is qcow2)",
				 where);
	if (dk->import_from[0])
		snprintf(dk->format, sizeof(dk->format), "qcow2");
	if (get_str(v, where, "path", dk->path, sizeof(dk->path), false, err) ==
		    -EINVAL ||
	    get_str(v, where, "format", dk->format, sizeof(dk->format), false,
		    err) == -EINVAL ||
	    get_bool(v, where, "readonly", &dk->readonly, err) ||
	    get_str(v, where, "serial", dk->serial, sizeof(dk->serial), false,
		    err) == -EINVAL ||
	    get_str(v, where, "key_secret", dk->key_secret,
		    sizeof(dk->key_secret), false, err) == -EINVAL ||
	    parse_aio(v, where, &dk->aio, err) ||
	    parse_throttling(v, where, &dk->throttle, err))
		return -EINVAL;
	return 0;
}

static int parse_nic(const json_t *v, unsigned i, struct vmdef_nic *nic,
		     struct error *err)
{
	static const char *const keys[] = { "type",	 "hostfwd",  "mac",
					    "mtu",	 "restrict", "switch",
					    "portgroup", NULL };
	char where[FIELD_MAX], field[FIELD_MAX];
	uint64_t mtu = 0;
	json_t *fwd;

	snprintf(where, sizeof(where), "nics[%u]", i);
	if (!json_is_object(v))
		return bad_type(where, "an object", v, err);
	if (check_keys(v, keys, where, err))
		return -EINVAL;
	snprintf(nic->type, sizeof(nic->type), "user");
	sub(field, where, "type");
	if (get_str(v, where, "type", nic->type, sizeof(nic->type), false,
		    err) == -EINVAL)
		return bad_type(field, "\"user\" or \"switch\"",
				json_object_get(v, "type"), err);
	sub(field, where, "switch");
	if (get_str(v, where, "switch", nic->sw, sizeof(nic->sw), false, err) ==
	    -EINVAL)
		return bad_type(field, "a switch name or socket path",
				json_object_get(v, "switch"), err);
	sub(field, where, "portgroup");
	if (get_str(v, where, "portgroup", nic->portgroup,
		    sizeof(nic->portgroup), false, err) == -EINVAL)
		return bad_type(field, "a port group name",
				json_object_get(v, "portgroup"), err);

	fwd = json_object_get(v, "hostfwd");
	sub(field, where, "hostfwd");
	if (fwd && !json_is_array(fwd))
		return bad_type(field, "an array of strings", fwd, err);
	if (fwd && json_array_size(fwd) > NET_USER_MAX_HOSTFWD)
		return error_set(err, EINVAL, "%s: %zu entries, at most %d",
				 field, json_array_size(fwd),
				 NET_USER_MAX_HOSTFWD);
	for (size_t k = 0; fwd && k < json_array_size(fwd); k++) {
		json_t *f = json_array_get(fwd, k);
		char fk[FIELD_MAX];

		if (snprintf(fk, sizeof(fk), "%s[%zu]", field, k) < 0)
			fk[0] = '\0';
		if (!json_is_string(f) ||
		    json_string_length(f) >= VMDEF_HOSTFWD_LEN ||
		    strlen(json_string_value(f)) != json_string_length(f))
			return bad_type(fk,
					"a forward like "
					"\"tcp:127.0.0.1:2222-:22\"",
					f, err);
		snprintf(nic->hostfwd[k], sizeof(nic->hostfwd[k]), "%s",
			 json_string_value(f));
		nic->n_hostfwd++;
	}

	sub(field, where, "mac");
	if (get_str(v, where, "mac", nic->mac, sizeof(nic->mac), false, err) ==
	    -EINVAL)
		return bad_type(field,
				"a unicast MAC like \"52:54:00:12:34:56\"",
				json_object_get(v, "mac"), err);
	if (get_uint(v, where, "mtu", NET_USER_MTU_MIN, NET_USER_MTU_MAX, &mtu,
		     err) ||
	    get_bool(v, where, "restrict", &nic->restricted, err))
		return -EINVAL;
	nic->mtu = (uint32_t)mtu;
	return 0;
}

static int parse_devices(const json_t *root, struct vmdef *d, struct error *err)
{
	json_t *a;

	if (get_array(root, "disks", VMDEF_MAX_DISKS, &a, err))
		return -EINVAL;
	for (size_t i = 0; a && i < json_array_size(a); i++) {
		if (parse_disk(json_array_get(a, i), (unsigned)i, &d->disks[i],
			       err))
			return -EINVAL;
		d->n_disks++;
	}
	if (get_array(root, "nics", VMDEF_MAX_NICS, &a, err))
		return -EINVAL;
	for (size_t i = 0; a && i < json_array_size(a); i++) {
		if (parse_nic(json_array_get(a, i), (unsigned)i, &d->nics[i],
			      err))
			return -EINVAL;
		d->n_nics++;
	}
	if (get_bool(root, "", "rng", &d->rng, err) ||
	    get_bool(root, "", "balloon", &d->balloon, err) ||
	    get_bool(root, "", "mem_merge", &d->mem_merge, err))
		return -EINVAL;
	return 0;
}

static int parse_console(const json_t *root, struct vmdef *d, struct error *err)
{
	json_t *v = json_object_get(root, "console");
	const char *expected = "\"managed\", \"none\", \"pty\" or "
			       "\"unix:/PATH\"";
	const char *s;

	d->console = VMDEF_CONSOLE_MANAGED;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad_type("console", expected, v, err);
	s = json_string_value(v);
	if (strcmp(s, "managed") == 0)
		d->console = VMDEF_CONSOLE_MANAGED;
	else if (strcmp(s, "none") == 0)
		d->console = VMDEF_CONSOLE_NONE;
	else if (strcmp(s, "pty") == 0)
		d->console = VMDEF_CONSOLE_PTY;
	else if (strncmp(s, "unix:/", 6) == 0 &&
		 json_string_length(v) - 5 < sizeof(d->console_path) &&
		 strlen(s) == json_string_length(v)) {
		d->console = VMDEF_CONSOLE_UNIX;
		memcpy(d->console_path, s + 5, strlen(s + 5) + 1);
	} else
		return bad_type("console", expected, v, err);
	return 0;
}

static int parse_qos(const json_t *root, struct vmdef *d, struct error *err)
{
	static const char *const keys[] = { "cpu", "memory", NULL };
	static const char *const cpu_keys[] = { "shares", "reservation_mhz",
						"limit_mhz", "affinity", NULL };
	static const char *const mem_keys[] = { "shares", "reservation",
						"limit", NULL };
	json_t *qos, *cpu, *mem;
	int r;

	if (get_object(root, "qos", "qos", &qos, err))
		return -EINVAL;
	if (!qos)
		return 0;
	if (check_keys(qos, keys, "qos", err) ||
	    get_object(qos, "cpu", "qos.cpu", &cpu, err) ||
	    get_object(qos, "memory", "qos.memory", &mem, err))
		return -EINVAL;

	/* limit_mhz 0 and memory.limit 0 would read as "no limit": refused
	 * here, where the JSON still tells them apart */
	if (cpu && (check_keys(cpu, cpu_keys, "qos.cpu", err) ||
		    get_shares(cpu, "qos.cpu", &d->cpu_shares, err) ||
		    get_uint(cpu, "qos.cpu", "reservation_mhz", 0,
			     VMDEF_MHZ_MAX, &d->cpu_reservation_mhz, err) ||
		    get_uint(cpu, "qos.cpu", "limit_mhz", 1, VMDEF_MHZ_MAX,
			     &d->cpu_limit_mhz, err)))
		return -EINVAL;
	if (cpu && json_object_get(cpu, "affinity")) {
		char s[200];

		r = get_str(cpu, "qos.cpu", "affinity", s, sizeof(s), false,
			    err);
		if (r || vmdef_opt_cpuset(
				 s, "qos.cpu.affinity:", &d->cpu_affinity, err))
			return -EINVAL;
	}
	if (mem) {
		if (check_keys(mem, mem_keys, "qos.memory", err) ||
		    get_shares(mem, "qos.memory", &d->mem_shares, err))
			return -EINVAL;
		r = get_size(mem, "qos.memory", "reservation",
			     &d->mem_reservation, err);
		if (r && r != -ENOENT)
			return r;
		r = get_size(mem, "qos.memory", "limit", &d->mem_limit, err);
		if (r && r != -ENOENT)
			return r;
		if (r == 0 && d->mem_limit == 0)
			return error_set(err, EINVAL,
					 "qos.memory.limit: expected a "
					 "multiple of 4K of at least 16M");
	}
	return 0;
}

static int parse_on_crash(const json_t *root, struct vmdef *d,
			  struct error *err)
{
	char s[16];
	int r = get_str(root, "", "on_crash", s, sizeof(s), false, err);

	if (r == -ENOENT)
		return 0;
	return r ? r : vmdef_opt_on_crash(s, "on_crash:", &d->on_crash, err);
}

/* ---- public ------------------------------------------------------------ */

int vmdef_from_json(const json_t *root, struct vmdef *d, struct error *err)
{
	static const char *const keys[] = {
		"name",	    "cpus",	"memory", "boot",      "bios",
		"accel",    "on_panic", "disks",  "nics",      "console",
		"rng",	    "balloon",	"qos",	  "autostart", "mem_merge",
		"on_crash", NULL,
	};
	uint64_t v;
	int r;

	vmdef_init(d);
	if (!json_is_object(root))
		return bad_type("definition", "a JSON object", root, err);
	if (check_keys(root, keys, "definition", err))
		return -EINVAL;

	r = get_str(root, "", "name", d->name, sizeof(d->name), true, err);
	if (r)
		return r;
	v = d->cpus;
	if (get_uint(root, "", "cpus", 1, VMDEF_CPUS_MAX, &v, err))
		return -EINVAL;
	d->cpus = (unsigned)v;
	r = get_size(root, "", "memory", &d->memory, err);
	if (r && r != -ENOENT)
		return r;

	if (parse_boot(root, d, err) || parse_bios(root, d, err) ||
	    parse_accel(root, d, err) || parse_on_panic(root, d, err) ||
	    parse_on_crash(root, d, err) || parse_devices(root, d, err) ||
	    parse_console(root, d, err) || parse_qos(root, d, err) ||
	    get_bool(root, "", "autostart", &d->autostart, err))
		return -EINVAL;
	return vmdef_validate(d, VMDEF_HOST_DAEMON, err);
}

int vmdef_parse(const char *json, struct vmdef *out, struct error *err)
{
	json_error_t jerr;
	json_t *root;
	int r;

	if (!json)
		return error_set(err, EINVAL, "definition: empty");
	root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_set(err, EINVAL,
				 "definition: invalid JSON at line %d, "
				 "column %d: %s",
				 jerr.line, jerr.column, jerr.text);
	r = vmdef_from_json(root, out, err);
	json_decref(root);
	return r;
}

json_t *vmdef_shares_to_json(const struct vmdef_shares *s)
{
	switch (s->kind) {
	case VMDEF_SHARES_LOW: return json_string("low");
	case VMDEF_SHARES_HIGH: return json_string("high");
	case VMDEF_SHARES_CUSTOM: return json_integer(s->value);
	default: return json_string("normal");
	}
}

static json_t *size_json(uint64_t v)
{
	char s[32];

	vmdef_format_size(v, s, sizeof(s));
	return json_string(s);
}

/* The limits that are set, with their throttling.* names. */
static json_t *throttle_to_json(const struct throttle_config *c)
{
	static const char *const sfx[] = { "", "-max", "-max-length" };
	json_t *o = json_object();
	char key[48];
	int bad = !o;

	for (int b = 0; o && b < THROTTLE_N_BUCKETS; b++) {
		const uint64_t v[3] = { c->l[b].avg, c->l[b].max,
					c->l[b].max_length };

		for (int k = 0; k < 3; k++) {
			if (!v[k])
				continue;
			snprintf(key, sizeof(key), "%s%s",
				 throttle_bucket_name(b), sfx[k]);
			bad |= json_object_set_new(
				o, key, json_integer((json_int_t)v[k]));
		}
	}
	if (o && c->iops_size)
		bad |= json_object_set_new(
			o, "iops-size", json_integer((json_int_t)c->iops_size));
	if (o && c->group[0])
		bad |= json_object_set_new(o, "group", json_string(c->group));
	if (o && c->shares)
		bad |= json_object_set_new(o, "shares",
					   json_integer(c->shares));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *vmdef_disk_to_json(const struct vmdef_disk *k, bool full)
{
	json_t *o = json_object();
	int bad = !o;

	if (o && (k->path[0] || !k->import_from[0]))
		bad |= json_object_set_new(o, "path", json_string(k->path));
	if (o && k->import_from[0]) /* its format is the image's */
		bad |= json_object_set_new(o, "import_from",
					   json_string(k->import_from));
	else if (o && (full || strcmp(k->format, "raw") != 0))
		bad |= json_object_set_new(o, "format", json_string(k->format));
	if (o && (k->linked || (full && k->import_from[0])))
		bad |= json_object_set_new(o, "linked",
					   json_boolean(k->linked));
	if (o && (full || k->readonly))
		bad |= json_object_set_new(o, "readonly",
					   json_boolean(k->readonly));
	if (o && (full || k->serial[0]))
		bad |= json_object_set_new(o, "serial", json_string(k->serial));
	if (o && (full || k->aio))
		bad |= json_object_set_new(o, "aio",
					   json_string(block_aio_name(k->aio)));
	if (o && k->key_secret[0])
		bad |= json_object_set_new(o, "key_secret",
					   json_string(k->key_secret));
	if (o && (throttle_config_enabled(&k->throttle) ||
		  k->throttle.group[0] || k->throttle.shares))
		bad |= json_object_set_new(o, "throttling",
					   throttle_to_json(&k->throttle));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *vmdef_nic_to_json(const struct vmdef_nic *n, bool full)
{
	json_t *o = json_pack("{s:s}", "type", n->type);
	json_t *fw = json_array();
	int bad = !o || !fw;

	for (unsigned k = 0; !bad && k < n->n_hostfwd; k++)
		bad |= json_array_append_new(fw, json_string(n->hostfwd[k]));
	if (!bad && (full || n->n_hostfwd))
		bad |= json_object_set(o, "hostfwd", fw);
	if (!bad && n->sw[0])
		bad |= json_object_set_new(o, "switch", json_string(n->sw));
	if (!bad && n->portgroup[0])
		bad |= json_object_set_new(o, "portgroup",
					   json_string(n->portgroup));
	if (!bad && n->mac[0])
		bad |= json_object_set_new(o, "mac", json_string(n->mac));
	if (!bad && n->mtu)
		bad |= json_object_set_new(o, "mtu", json_integer(n->mtu));
	if (!bad && (full || n->restricted))
		bad |= json_object_set_new(o, "restrict",
					   json_boolean(n->restricted));
	json_decref(fw);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *vmdef_to_json_value(const struct vmdef *d)
{
	json_t *o = json_object(), *boot = json_object();
	json_t *disks = json_array(), *nics = json_array();
	json_t *qos = json_object(), *cpu = json_object(), *mem = json_object();
	char console[120];
	int bad = 0;

	if (!o || !boot || !disks || !nics || !qos || !cpu || !mem)
		goto oom;
	bad |= json_object_set_new(o, "name", json_string(d->name));
	bad |= json_object_set_new(o, "cpus", json_integer(d->cpus));
	bad |= json_object_set_new(o, "memory", size_json(d->memory));
	if (d->firmware[0]) {
		bad |= json_object_set_new(boot, "firmware",
					   json_string(d->firmware));
	} else {
		bad |= json_object_set_new(boot, "kernel",
					   json_string(d->kernel));
		if (d->initrd[0])
			bad |= json_object_set_new(boot, "initrd",
						   json_string(d->initrd));
		bad |= json_object_set_new(boot, "append",
					   json_string(d->append));
	}
	bad |= json_object_set(o, "boot", boot);
	bad |= json_object_set_new(
		o, "bios",
		json_string(d->bios == VIRT_BIOS_FILE	? d->bios_path
			    : d->bios == VIRT_BIOS_NONE ? "none"
							: "builtin"));
	bad |= json_object_set_new(o, "accel",
				   json_string(vmdef_accel_name(d->accel)));
	bad |= json_object_set_new(
		o, "on_panic", json_string(vmdef_on_panic_name(d->on_panic)));
	bad |= json_object_set_new(
		o, "on_crash", json_string(vmdef_on_crash_name(d->on_crash)));
	for (unsigned i = 0; i < d->n_disks; i++)
		bad |= json_array_append_new(
			disks, vmdef_disk_to_json(&d->disks[i], true));
	bad |= json_object_set(o, "disks", disks);
	for (unsigned i = 0; i < d->n_nics; i++)
		bad |= json_array_append_new(
			nics, vmdef_nic_to_json(&d->nics[i], true));
	bad |= json_object_set(o, "nics", nics);
	switch (d->console) {
	case VMDEF_CONSOLE_NONE:
		snprintf(console, sizeof(console), "none");
		break;
	case VMDEF_CONSOLE_PTY:
		snprintf(console, sizeof(console), "pty");
		break;
	case VMDEF_CONSOLE_UNIX:
		snprintf(console, sizeof(console), "unix:%s", d->console_path);
		break;
	case VMDEF_CONSOLE_STDIO: /* softvisor run only */
		snprintf(console, sizeof(console), "stdio");
		break;
	default: snprintf(console, sizeof(console), "managed"); break;
	}
	bad |= json_object_set_new(o, "console", json_string(console));
	bad |= json_object_set_new(o, "rng", json_boolean(d->rng));
	bad |= json_object_set_new(o, "balloon", json_boolean(d->balloon));
	bad |= json_object_set_new(o, "mem_merge", json_boolean(d->mem_merge));

	bad |= json_object_set_new(cpu, "shares",
				   vmdef_shares_to_json(&d->cpu_shares));
	bad |= json_object_set_new(
		cpu, "reservation_mhz",
		json_integer((json_int_t)d->cpu_reservation_mhz));
	if (d->cpu_limit_mhz)
		bad |= json_object_set_new(
			cpu, "limit_mhz",
			json_integer((json_int_t)d->cpu_limit_mhz));
	if (d->cpu_affinity) {
		char set[200];

		vmdef_cpuset_str(d->cpu_affinity, set, sizeof(set));
		bad |= json_object_set_new(cpu, "affinity", json_string(set));
	}
	bad |= json_object_set_new(mem, "shares",
				   vmdef_shares_to_json(&d->mem_shares));
	bad |= json_object_set_new(mem, "reservation",
				   size_json(d->mem_reservation));
	if (d->mem_limit)
		bad |= json_object_set_new(mem, "limit",
					   size_json(d->mem_limit));
	bad |= json_object_set(qos, "cpu", cpu);
	bad |= json_object_set(qos, "memory", mem);
	bad |= json_object_set(o, "qos", qos);
	bad |= json_object_set_new(o, "autostart", json_boolean(d->autostart));
	if (bad)
		goto oom;
	json_decref(boot);
	json_decref(disks);
	json_decref(nics);
	json_decref(cpu);
	json_decref(mem);
	json_decref(qos);
	return o;
oom:
	json_decref(o);
	json_decref(boot);
	json_decref(disks);
	json_decref(nics);
	json_decref(cpu);
	json_decref(mem);
	json_decref(qos);
	return NULL;
}

char *vmdef_to_json(const struct vmdef *def)
{
	json_t *o = vmdef_to_json_value(def);
	char *s;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

int vmdef_import_disk(const struct vmdef *def)
{
	for (unsigned i = 0; i < def->n_disks; i++)
		if (def->disks[i].import_from[0])
			return (int)i;
	return -1;
}

bool vmdef_equal(const struct vmdef *a, const struct vmdef *b)
{
	/* The serialized form holds every field, so equal JSON values are
	 * equal definitions. */
	json_t *ja = vmdef_to_json_value(a), *jb = vmdef_to_json_value(b);
	bool eq = ja && jb && json_equal(ja, jb);

	json_decref(ja);
	json_decref(jb);
	return eq;
}
