/*
 * The option strings of the command line, parsed once for `softvisor run`
 * and `softvisor vm create/set` (vmdef.h). Each parser checks the syntax of
 * one flag and names the flag; vmdef_validate() checks the whole VM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/aio.h"
#include "block/block.h"
#include "block/image.h"
#include "machine/console.h"
#include "util/log.h"
#include "util/parse.h"
#include "virtio/net.h"
#include "vmm/vmdef.h"

int vmdef_opt_cpus(const char *s, const char *what, unsigned *out,
		   struct error *err)
{
	uint64_t v;

	if (parse_u64(s, 1, VMDEF_CPUS_MAX, &v, what, err) < 0)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int vmdef_opt_memory(const char *s, const char *what, uint64_t *out,
		     struct error *err)
{
	uint64_t v;

	if (parse_size(s, 1ULL << 20, &v, what, err) < 0)
		return -EINVAL;
	if (v < VMDEF_MEM_MIN || v > VMDEF_MEM_MAX || (v & 0xfff))
		return error_set(err, EINVAL,
				 "%s %s: expected a multiple of 4K between 16M "
				 "and 1T",
				 what, s);
	*out = v;
	return 0;
}

int vmdef_opt_shares(const char *s, const char *what, struct vmdef_shares *out,
		     struct error *err)
{
	uint64_t v;

	if (!strcmp(s, "low"))
		*out = (struct vmdef_shares){ VMDEF_SHARES_LOW, 0 };
	else if (!strcmp(s, "normal"))
		*out = (struct vmdef_shares){ VMDEF_SHARES_NORMAL, 0 };
	else if (!strcmp(s, "high"))
		*out = (struct vmdef_shares){ VMDEF_SHARES_HIGH, 0 };
	else if (parse_u64(s, 1, VMDEF_SHARES_MAX, &v, what, err) == 0)
		*out = (struct vmdef_shares){ VMDEF_SHARES_CUSTOM,
					      (uint32_t)v };
	else
		return error_set(err, EINVAL,
				 "%s %s: expected low, normal, high or a "
				 "number 1..%d",
				 what, s, VMDEF_SHARES_MAX);
	return 0;
}

int vmdef_opt_mhz(const char *s, const char *what, bool allow_unlimited,
		  uint64_t *out, struct error *err)
{
	/* a limit of 0 would read as "no limit": say unlimited instead */
	uint64_t min = allow_unlimited ? 1 : 0;

	if (allow_unlimited &&
	    (!strcmp(s, "unlimited") || !strcmp(s, "none"))) {
		*out = 0;
		return 0;
	}
	if (parse_u64(s, min, VMDEF_MHZ_MAX, out, what, err) < 0)
		return error_set(err, EINVAL,
				 "%s %s: expected MHz as a number %llu..%d%s",
				 what, s, (unsigned long long)min,
				 VMDEF_MHZ_MAX,
				 allow_unlimited ? " or unlimited" : "");
	return 0;
}

int vmdef_opt_path(const char *s, const char *what, char *buf, size_t size,
		   struct error *err)
{
	size_t n = strlen(s);

	if (n == 0)
		return error_set(err, EINVAL, "%s: expected a file name", what);
	if (n >= size)
		return error_set(err, ENAMETOOLONG,
				 "%s: path too long (%zu bytes, at most %zu)",
				 what, n, size - 1);
	memcpy(buf, s, n + 1);
	return 0;
}

/* Enumerations named on the command line and in definitions: the names
 * are indexed by the enum's value. */
static const char *const accel_names[] = {
	[VIRT_ACCEL_DEFAULT] = "default",
	[VIRT_ACCEL_JIT] = "jit",
	[VIRT_ACCEL_INTERP] = "interp",
};
static const char *const on_panic_names[] = {
	[VIRT_ON_PANIC_STOP] = "stop",
	[VIRT_ON_PANIC_PAUSE] = "pause",
	[VIRT_ON_PANIC_RESTART] = "restart",
};
static const char *const on_crash_names[] = {
	[VMDEF_ON_CRASH_PRESERVE] = "preserve",
	[VMDEF_ON_CRASH_DESTROY] = "destroy",
	[VMDEF_ON_CRASH_RESTART] = "restart",
};
#define N_NAMES(a) (sizeof(a) / sizeof((a)[0]))

/* The value named s, or -1. */
static int name_value(const char *s, const char *const *names, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return (int)i;
	return -1;
}

int vmdef_opt_accel(const char *s, const char *what, enum virt_accel *accel,
		    struct error *err)
{
	int v = name_value(s, accel_names, N_NAMES(accel_names));

	if (v < 0)
		return error_set(err, EINVAL,
				 "%s %.64s: expected jit, interp or default",
				 what, s);
	*accel = (enum virt_accel)v;
	return 0;
}

const char *vmdef_accel_name(enum virt_accel accel)
{
	return (unsigned)accel < N_NAMES(accel_names) && accel_names[accel]
		       ? accel_names[accel]
		       : "default";
}

int vmdef_opt_cpuset(const char *s, const char *what, uint64_t *mask,
		     struct error *err)
{
	const char *p = s;
	uint64_t m = 0;

	if (!strcmp(s, "all")) {
		*mask = 0;
		return 0;
	}
	for (;;) {
		char *end;
		unsigned long a, b;

		if (*p < '0' || *p > '9')
			goto bad;
		a = b = strtoul(p, &end, 10);
		p = end;
		if (*p == '-') {
			if (p[1] < '0' || p[1] > '9')
				goto bad;
			b = strtoul(p + 1, &end, 10);
			p = end;
		}
		if (a > b || b > 63)
			goto bad;
		for (unsigned long c = a; c <= b; c++)
			m |= 1ull << c;
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto bad;
	}
	*mask = m;
	return 0;
bad:
	return error_set(err, EINVAL,
			 "%s %.64s: expected a CPU list such as 0-3,6 "
			 "(CPUs 0..63) or all",
			 what, s);
}

void vmdef_cpuset_str(uint64_t mask, char *buf, size_t size)
{
	size_t n = 0;

	if (!mask) {
		snprintf(buf, size, "all");
		return;
	}
	buf[0] = '\0';
	for (unsigned c = 0; c < 64 && n < size; c++) {
		unsigned e = c;

		if (!(mask >> c & 1))
			continue;
		while (e < 63 && mask >> (e + 1) & 1)
			e++;
		n += (size_t)snprintf(buf + n, size - n,
				      e > c ? "%s%u-%u" : "%s%u", n ? "," : "",
				      c, e);
		c = e;
	}
}

int vmdef_opt_onoff(const char *s, const char *what, bool *out,
		    struct error *err)
{
	if (parse_bool(s, out) < 0)
		return error_set(err, EINVAL, "%s %.64s: expected on or off",
				 what, s);
	return 0;
}

int vmdef_opt_on_panic(const char *s, const char *what, enum virt_on_panic *out,
		       struct error *err)
{
	int v = name_value(s, on_panic_names, N_NAMES(on_panic_names));

	if (v < 0)
		return error_set(err, EINVAL,
				 "%s %.64s: expected stop, pause or restart",
				 what, s);
	*out = (enum virt_on_panic)v;
	return 0;
}

int vmdef_opt_on_crash(const char *s, const char *what,
		       enum vmdef_on_crash *out, struct error *err)
{
	int v = name_value(s, on_crash_names, N_NAMES(on_crash_names));

	if (v < 0)
		return error_set(err, EINVAL,
				 "%s %.64s: expected preserve, destroy or "
				 "restart",
				 what, s);
	*out = (enum vmdef_on_crash)v;
	return 0;
}

const char *vmdef_on_crash_name(enum vmdef_on_crash c)
{
	return (unsigned)c < N_NAMES(on_crash_names) && on_crash_names[c]
		       ? on_crash_names[c]
		       : "preserve";
}

const char *vmdef_on_panic_name(enum virt_on_panic p)
{
	return (unsigned)p < N_NAMES(on_panic_names) && on_panic_names[p]
		       ? on_panic_names[p]
		       : "stop";
}

int vmdef_opt_bios(const char *s, enum virt_bios *bios, char *path, size_t size,
		   struct error *err)
{
	path[0] = '\0';
	if (!strcmp(s, "builtin")) {
		*bios = VIRT_BIOS_BUILTIN;
		return 0;
	}
	if (!strcmp(s, "none")) {
		*bios = VIRT_BIOS_NONE;
		return 0;
	}
	*bios = VIRT_BIOS_FILE;
	return vmdef_opt_path(s, "--bios", path, size, err);
}

int vmdef_opt_console(const char *s, enum vmdef_host host,
		      enum vmdef_console *kind, char *path, size_t size,
		      struct error *err)
{
	struct console_spec spec;

	path[0] = '\0';
	if (host == VMDEF_HOST_DAEMON && !strcmp(s, "managed")) {
		*kind = VMDEF_CONSOLE_MANAGED;
		return 0;
	}
	if (host == VMDEF_HOST_DAEMON &&
	    (!strcmp(s, "stdio") || console_parse(s, &spec, NULL) < 0))
		return error_set(err, EINVAL,
				 "--console %s: expected managed, none, pty or "
				 "unix:PATH",
				 s);
	if (console_parse(s, &spec, err) < 0)
		return -EINVAL;
	switch (spec.kind) {
	case CONSOLE_STDIO: *kind = VMDEF_CONSOLE_STDIO; break;
	case CONSOLE_PTY: *kind = VMDEF_CONSOLE_PTY; break;
	case CONSOLE_NONE: *kind = VMDEF_CONSOLE_NONE; break;
	case CONSOLE_UNIX:
		*kind = VMDEF_CONSOLE_UNIX;
		return vmdef_opt_path(spec.path, "--console unix:", path, size,
				      err);
	}
	return 0;
}

/* ---- --disk PATH[,format=raw|qcow2][,readonly=on][,serial=STR]
 *             [,throttling.KEY=VALUE]... ------------------------------------ */

#define IMPORT_KEY "import-from="

#define DISK_USAGE                                                     \
	"expected PATH[,format=raw|qcow2][,readonly=on][,serial=STR]"  \
	"[,aio=auto|threads|io_uring][,key-secret=file:PATH|env:NAME]" \
	"[,shares=low|normal|high|N][,throttling.KEY=N]... or "        \
	"import-from=IMAGE[,linked=on][,...]"

/* One KEY[=VALUE] of --disk after the path; seen collects the keys given. */
static int disk_option(char *key, struct vmdef_disk *d, unsigned *seen,
		       struct error *err)
{
	static const char *const keys[] = { "format", "readonly", "serial" };
	char *val = strchr(key, '=');
	unsigned bit;
	size_t len;
	const char *name = d->path[0] ? d->path : d->import_from;

	if (val)
		*val++ = '\0';
	if (!strcmp(key, "linked")) {
		if (!d->import_from[0])
			return error_set(err, EINVAL,
					 "--disk %s: linked is for a disk made "
					 "from an image (import-from=IMAGE)",
					 name);
		if (!val)
			d->linked = true;
		else if (parse_bool(val, &d->linked) < 0)
			return error_set(err, EINVAL,
					 "--disk import-from=%s: linked=%s: "
					 "expected on or off",
					 name, val);
		return 0;
	}
	/* the new disk is qcow2, in clear; the image's format is probed */
	if (d->import_from[0] &&
	    (!strcmp(key, "format") || !strcmp(key, "key-secret")))
		return error_set(err, EINVAL,
				 "--disk import-from=%s: %s= cannot be given "
				 "(the image's format is detected; the new "
				 "disk is qcow2; encrypted images are not "
				 "imported)",
				 name, key);
	/* shares=: the disk's weight on its datastore and in its throttle
	 * group, throttling.shares (docs/block.md, "Disk shares") */
	if (!strcmp(key, "shares")) {
		if (throttle_config_set(&d->throttle, key, val, err) < 0) {
			error_prefix(err, "--disk %s", name);
			return -EINVAL;
		}
		return 0;
	}
	/* QEMU's -drive throttling.* options (docs/block.md, "I/O limits") */
	if (!strncmp(key, "throttling.", 11)) {
		if (throttle_config_set(&d->throttle, key + 11, val, err) < 0) {
			error_prefix(err, "--disk %s", name);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "aio")) {
		enum block_aio m;

		if (!val || block_aio_parse(val, &m) < 0)
			return error_set(err, EINVAL,
					 "--disk %s: aio=%s: expected auto, "
					 "threads or io_uring",
					 name, val ? val : "");
		d->aio = (int)m;
		return 0;
	}
	if (!strcmp(key, "key-secret")) {
		if (!val ||
		    (strncmp(val, "file:", 5) && strncmp(val, "env:", 4)))
			return error_set(err, EINVAL,
					 "--disk %s: key-secret: expected "
					 "file:PATH or env:NAME (a secret is "
					 "never given literally)",
					 name);
		if (strlen(val) >= sizeof(d->key_secret))
			return error_set(err, EINVAL,
					 "--disk %s: key-secret too long",
					 name);
		strcpy(d->key_secret, val);
		return 0;
	}
	if (!strcmp(key, "ro"))
		key = "readonly";
	for (bit = 0; bit < 3 && strcmp(key, keys[bit]); bit++)
		;
	if (bit == 3)
		return error_set(err, EINVAL,
				 "--disk %s: unknown option '%s' (expected "
				 "format, readonly, serial, aio, key-secret, "
				 "shares or throttling.*)",
				 name, key);
	if ((*seen & (1u << bit)) || (!val && bit != 1))
		return error_set(
			err, EINVAL,
			"--disk %s: option '%s' %s (" DISK_USAGE ")", name, key,
			*seen & (1u << bit) ? "given twice" : "needs a value");
	*seen |= 1u << bit;
	switch (bit) {
	case 0:
		if (strcmp(val, "raw") && strcmp(val, "qcow2"))
			return error_set(err, EINVAL,
					 "--disk %s: unknown format '%s' "
					 "(expected raw or qcow2)",
					 name, val);
		strcpy(d->format, val);
		return 0;
	case 1:
		/* a bare "readonly" means readonly=on */
		if (!val)
			d->readonly = true;
		else if (parse_bool(val, &d->readonly) < 0)
			return error_set(err, EINVAL,
					 "--disk %s: readonly=%s: expected on "
					 "or off",
					 name, val);
		return 0;
	default:
		len = strlen(val);
		if (len > VIRTIO_BLK_ID_BYTES)
			return error_set(err, EINVAL,
					 "--disk %s: serial '%s' is %zu bytes "
					 "long, at most %d allowed",
					 name, val, len, VIRTIO_BLK_ID_BYTES);
		for (size_t i = 0; i < len; i++)
			if (val[i] < 0x20 || val[i] > 0x7e)
				return error_set(err, EINVAL,
						 "--disk %s: serial may hold "
						 "only printable ASCII",
						 name);
		memcpy(d->serial, val, len + 1);
		return 0;
	}
}

/*
 * No format= given: probe as QEMU does (a file starting with the qcow2
 * magic is qcow2), warning that the format should be explicit. A probed
 * qcow2 image must not name a backing file: a guest that wrote a qcow2
 * header into a raw disk would otherwise make us open any host file it
 * names. An unreadable file stays raw (opening it reports the error).
 */
static int disk_probe(struct vmdef_disk *d, struct error *err)
{
	struct image_info info;
	struct error e = { 0 };
	const char *fmt = blockdev_probe(d->path, &e);

	if (!fmt || strcmp(fmt, "qcow2"))
		return 0;
	if (image_info(d->path, &info, &e) == 0 && info.backing[0])
		return error_set(err, EINVAL,
				 "--disk %s: the image looks like qcow2 with "
				 "backing file %s; a probed image may not "
				 "open a backing file: give format=qcow2 "
				 "(or format=raw) explicitly",
				 d->path, info.backing);
	log_msg(LOG_LVL_WARN, "disk",
		"--disk %s: image format was not specified; probed as qcow2. "
		"Give format=qcow2 (or format=raw) to make it explicit",
		d->path);
	strcpy(d->format, "qcow2");
	return 0;
}

int vmdef_opt_disk(const char *spec, struct vmdef_disk *out, struct error *err)
{
	char field[VIRTIO_BLK_PATH_MAX + 64];
	const char *s = spec ? spec : "";
	unsigned seen = 0;
	int n;

	memset(out, 0, sizeof(*out));
	strcpy(out->format, "raw");
	n = parse_next_field(&s, out->path, sizeof(out->path));
	if (n < 0)
		return error_set(err, EINVAL,
				 "--disk: image path too long (at most %d "
				 "bytes)",
				 VIRTIO_BLK_PATH_MAX - 1);
	if (n == 0)
		return error_set(err, EINVAL,
				 "--disk '%s': missing image path (" DISK_USAGE
				 ")",
				 spec ? spec : "");
	if (!strncmp(out->path, IMPORT_KEY, strlen(IMPORT_KEY))) {
		/* a disk the daemon makes from an image (docs/cli.md) */
		memcpy(out->import_from, out->path + strlen(IMPORT_KEY),
		       strlen(out->path + strlen(IMPORT_KEY)) + 1);
		out->path[0] = '\0';
		strcpy(out->format, "qcow2");
		if (!out->import_from[0])
			return error_set(err, EINVAL,
					 "--disk import-from=: missing image "
					 "path (expected import-from=IMAGE"
					 "[,linked=on])");
	}
	const char *name = out->path[0] ? out->path : out->import_from;
	while (*s) {
		if (parse_next_field(&s, field, sizeof(field)) < 0)
			return error_set(err, EINVAL,
					 "--disk %s: option too long", name);
		if (disk_option(field, out, &seen, err) < 0)
			return -EINVAL;
	}
	if (throttle_config_check(&out->throttle, err) < 0) {
		error_prefix(err, "--disk %s", name);
		return -EINVAL;
	}
	if (!(seen & 1) && !out->import_from[0])
		return disk_probe(out, err);
	return 0;
}

/* ---- --net user[,hostfwd=RULE]...[,mac=MAC][,mtu=N][,restrict=on|off] ---- */

/* One key=value option of "user". */
static int nic_option(char *opt, struct vmdef_nic *nic, struct error *err)
{
	char *val = strchr(opt, '=');
	uint8_t mac[6];
	uint64_t v;

	if (!val)
		return error_set(err, EINVAL,
				 "option '%s' needs a value (KEY=VALUE)", opt);
	*val++ = '\0';
	bool sw = !strcmp(nic->type, "switch");

	if (sw && !strcmp(opt, "portgroup")) {
		if (strlen(val) >= sizeof(nic->portgroup) || !val[0])
			return error_set(err, EINVAL,
					 "portgroup=%s: expected a port group "
					 "name of 1..%zu bytes",
					 val, sizeof(nic->portgroup) - 1);
		strcpy(nic->portgroup, val);
		return 0;
	}
	if (sw && (!strcmp(opt, "hostfwd") || !strcmp(opt, "restrict")))
		return error_set(err, EINVAL,
				 "%s= is for user networking; a switch NIC "
				 "takes portgroup=, mac=, mtu=",
				 opt);
	if (!strcmp(opt, "hostfwd")) {
		struct net_hostfwd f;

		if (nic->n_hostfwd == NET_USER_MAX_HOSTFWD)
			return error_set(err, EINVAL,
					 "more than %d hostfwd options",
					 NET_USER_MAX_HOSTFWD);
		if (net_hostfwd_parse(val, &f, err) < 0)
			return -EINVAL;
		if (strlen(val) >= VMDEF_HOSTFWD_LEN)
			return error_set(err, EINVAL,
					 "hostfwd=%s: longer than %d bytes",
					 val, VMDEF_HOSTFWD_LEN - 1);
		strcpy(nic->hostfwd[nic->n_hostfwd++], val);
		return 0;
	}
	if (!strcmp(opt, "mac")) {
		if (virtio_net_parse_mac(val, mac, err) < 0)
			return -EINVAL;
		/* valid means 17 characters: it fits */
		snprintf(nic->mac, sizeof(nic->mac), "%s", val);
		return 0;
	}
	if (!strcmp(opt, "mtu")) {
		if (parse_u64(val, NET_USER_MTU_MIN, NET_USER_MTU_MAX, &v,
			      "mtu", err) < 0)
			return -EINVAL;
		nic->mtu = (uint32_t)v;
		return 0;
	}
	if (!strcmp(opt, "restrict")) {
		if (parse_bool(val, &nic->restricted) < 0)
			return error_set(err, EINVAL,
					 "restrict=%s: expected on or off",
					 val);
		return 0;
	}
	return error_set(err, EINVAL,
			 "unknown option '%s' (expected hostfwd=, mac=, mtu= "
			 "or restrict=)",
			 opt);
}

int vmdef_opt_nic(const char *spec, struct vmdef_nic *out, bool *none,
		  struct error *err)
{
	char *buf = strdup(spec), *save = NULL, *tok;
	int r = 0;

	*none = false;
	if (!buf)
		return error_set(err, ENOMEM, "--net: out of memory");
	memset(out, 0, sizeof(*out));
	strcpy(out->type, "user");
	tok = strtok_r(buf, ",", &save);
	if (!tok) {
		r = error_set(err, EINVAL,
			      "--net '%s': expected user[,OPTIONS], "
			      "switch=NAME[,OPTIONS] or none",
			      spec);
	} else if (!strcmp(tok, "none")) {
		*none = true;
		if (strtok_r(NULL, ",", &save))
			r = error_set(err, EINVAL,
				      "--net %s: 'none' takes no options",
				      spec);
	} else if (!strncmp(tok, "switch=", 7)) {
		strcpy(out->type, "switch");
		if (!tok[7] || strlen(tok + 7) >= sizeof(out->sw))
			r = error_set(err, EINVAL,
				      "--net %s: expected switch=NAME or "
				      "switch=SOCKET-PATH (< %zu bytes)",
				      spec, sizeof(out->sw));
		else
			strcpy(out->sw, tok + 7);
		while (!r && (tok = strtok_r(NULL, ",", &save)))
			if (nic_option(tok, out, err) < 0) {
				error_prefix(err, "--net %s", spec);
				r = -EINVAL;
			}
	} else if (!strcmp(tok, "user")) {
		while (!r && (tok = strtok_r(NULL, ",", &save)))
			if (nic_option(tok, out, err) < 0) {
				error_prefix(err, "--net %s", spec);
				r = -EINVAL;
			}
	} else {
		r = error_set(err, EINVAL,
			      "--net %s: unknown back end '%s' (expected user, "
			      "switch=NAME or none)",
			      spec, tok);
	}
	/* ",," or a trailing "," leave empty options: reject them too */
	if (!r && (strstr(spec, ",,") || spec[strlen(spec) - 1] == ','))
		r = error_set(err, EINVAL, "--net %s: empty option", spec);
	free(buf);
	return r;
}
