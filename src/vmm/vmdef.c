/* VM definition: defaults, the rules, conversion to the board (vmdef.h,
 * docs/vm-definition.md). */
#include "vmm/vmdef.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "net/swport.h"
#include "virtio/net.h"
#include "vmm/sched_policy.h"
#include "vmm/vmdef_priv.h"

/* The scheduler takes every share count a definition can hold, so the
 * daemon hands shares over as they are (no clamp): a custom count, and
 * the largest preset on the most vCPUs. */
_Static_assert(VMDEF_SHARES_MAX <= SCHED_MAX_SHARES,
	       "a custom share count must fit the scheduler");
_Static_assert((uint64_t)VMDEF_CPU_SHARES_HIGH *VMDEF_CPUS_MAX <=
		       SCHED_MAX_SHARES,
	       "the high preset on every vCPU must fit the scheduler");

void vmdef_format_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "TGMK";
	int shift = 40;

	for (const char *u = units; *u; u++, shift -= 10) {
		if (v && (v & ((1ULL << shift) - 1)) == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", v >> shift, *u);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64, v);
}

void vmdef_init(struct vmdef *def)
{
	memset(def, 0, sizeof(*def));
	def->cpus = 1;
	def->memory = VIRT_DEFAULT_RAM;
	def->bios = VIRT_BIOS_BUILTIN;
	def->console = VMDEF_CONSOLE_MANAGED;
	def->mem_merge = true;
}

unsigned vmdef_virtio_count(const struct vmdef *def)
{
	return def->n_disks + def->n_nics + def->rng + def->balloon;
}

/* ---- the rules ------------------------------------------------------------ */

/* DNS-label-like: letters, digits and '-', not at either end. */
static int check_name(const char *name, enum vmdef_host host, struct error *err)
{
	size_t n = strlen(name);

	if (n == 0)
		return host == VMDEF_HOST_DAEMON
			       ? error_set(err, EINVAL,
					   "name: must not be empty")
			       : 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-')
			goto bad;
	if (name[0] == '-' || name[n - 1] == '-')
		goto bad;
	return 0;
bad:
	return error_set(err, EINVAL,
			 "name: \"%s\": expected letters, digits and '-' "
			 "(not first or last), 1..63 characters",
			 name);
}

static int check_range(const char *field, uint64_t v, uint64_t min,
		       uint64_t max, struct error *err)
{
	if (v < min || v > max)
		return error_set(err, EINVAL,
				 "%s: %" PRIu64 " is out of range %" PRIu64
				 "..%" PRIu64,
				 field, v, min, max);
	return 0;
}

static int check_mem_range(const char *field, uint64_t v, struct error *err)
{
	char s[32];

	vmdef_format_size(v, s, sizeof(s));
	if (v < VMDEF_MEM_MIN || v > VMDEF_MEM_MAX)
		return error_set(err, EINVAL, "%s: %s is out of range 16M..1T",
				 field, s);
	if (v & 0xfff)
		return error_set(err, EINVAL, "%s: %s is not a multiple of 4K",
				 field, s);
	return 0;
}

/* A file name: present when required, absolute for the daemon (whose
 * working directory means nothing to its clients). */
static int check_path(const char *field, const char *path, bool required,
		      enum vmdef_host host, struct error *err)
{
	if (!path[0])
		return required ? error_set(err, EINVAL, "%s: required", field)
				: 0;
	if (host == VMDEF_HOST_DAEMON && path[0] != '/')
		return error_set(err, EINVAL,
				 "%s: expected an absolute path, got \"%.64s\"",
				 field, path);
	return 0;
}

static int check_shares(const char *field, const struct vmdef_shares *s,
			struct error *err)
{
	if (s->kind != VMDEF_SHARES_CUSTOM)
		return 0;
	return check_range(field, s->value, 1, VMDEF_SHARES_MAX, err);
}

static int check_boot(const struct vmdef *d, enum vmdef_host host,
		      struct error *err)
{
	if (check_path("boot.kernel", d->kernel, false, host, err) ||
	    check_path("boot.firmware", d->firmware, false, host, err) ||
	    check_path("boot.initrd", d->initrd, false, host, err))
		return -EINVAL;
	if (!d->kernel[0] && !d->firmware[0])
		return error_set(err, EINVAL,
				 "boot.kernel: required (or boot.firmware)");
	if (d->kernel[0] && d->firmware[0])
		return error_set(err, EINVAL,
				 "boot.firmware: cannot be combined with "
				 "boot.kernel");
	if (d->firmware[0] && (d->initrd[0] || d->append[0]))
		return error_set(err, EINVAL, "boot.%s: only with boot.kernel",
				 d->initrd[0] ? "initrd" : "append");
	if (d->bios == VIRT_BIOS_FILE) {
		if (!d->bios_path[0] ||
		    (host == VMDEF_HOST_DAEMON && d->bios_path[0] != '/'))
			return error_set(err, EINVAL,
					 "bios: expected \"builtin\", \"none\" "
					 "or an absolute path, got \"%.64s\"",
					 d->bios_path);
	}
	if (d->firmware[0] && d->bios != VIRT_BIOS_NONE)
		return error_set(err, EINVAL,
				 "bios: must be \"none\" with boot.firmware "
				 "(the firmware is the M-mode image)");
	return 0;
}

static int check_disk(const struct vmdef_disk *dk, unsigned i,
		      enum vmdef_host host, struct error *err)
{
	char field[64];

	if (dk->import_from[0] && host == VMDEF_HOST_RUN)
		return error_set(err, EINVAL,
				 "disks[%u].import_from: only a VM of the "
				 "daemon is created from an image (softvisor "
				 "vm create); softvisor run uses a disk image "
				 "as it is: give its path",
				 i);
	if (dk->import_from[0] && dk->path[0])
		return error_set(err, EINVAL,
				 "disks[%u]: path and import_from exclude each "
				 "other (path names the disk's image, "
				 "import_from an image to make it from)",
				 i);
	if (dk->linked && !dk->import_from[0])
		return error_set(err, EINVAL,
				 "disks[%u].linked: only with import_from", i);
	if (dk->import_from[0] && dk->key_secret[0])
		return error_set(err, EINVAL,
				 "disks[%u].key_secret: not with import_from "
				 "(encrypted images are not imported)",
				 i);
	snprintf(field, sizeof(field), "disks[%u].%s", i,
		 dk->import_from[0] ? "import_from" : "path");
	if (!dk->import_from[0] && !dk->path[0])
		return error_set(err, EINVAL,
				 "disks[%u].path: required (or import_from)",
				 i);
	if (check_path(field, dk->import_from[0] ? dk->import_from : dk->path,
		       true, host, err))
		return -EINVAL;
	if (strcmp(dk->format, "raw") != 0 && strcmp(dk->format, "qcow2") != 0)
		return error_set(err, EINVAL,
				 "disks[%u].format: expected \"raw\" or "
				 "\"qcow2\", got \"%s\"",
				 i, dk->format);
	for (const char *c = dk->serial; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			return error_set(err, EINVAL,
					 "disks[%u].serial: expected printable "
					 "ASCII",
					 i);
	if (dk->key_secret[0] && strncmp(dk->key_secret, "file:", 5) &&
	    strncmp(dk->key_secret, "env:", 4))
		return error_set(err, EINVAL,
				 "disks[%u].key_secret: expected file:PATH or "
				 "env:NAME (a secret is never given literally)",
				 i);
	snprintf(field, sizeof(field), "disks[%u].key_secret (file:)", i);
	if (!strncmp(dk->key_secret, "file:", 5) &&
	    check_path(field, dk->key_secret + 5, true, host, err))
		return -EINVAL;
	if (dk->key_secret[0] && strcmp(dk->format, "qcow2"))
		return error_set(err, EINVAL,
				 "disks[%u].key_secret: only for encrypted "
				 "qcow2 images (give format qcow2)",
				 i);
	if (throttle_config_check(&dk->throttle, err) < 0) {
		error_prefix(err, "disks[%u]", i);
		return -EINVAL;
	}
	return 0;
}

static int check_nic(const struct vmdef_nic *nic, unsigned i, struct error *err)
{
	struct net_hostfwd fwd[NET_USER_MAX_HOSTFWD];
	struct error e = { 0 };
	uint8_t mac[6];

	if (!strcmp(nic->type, "switch")) {
		char path[VMDEF_SWITCH_LEN];

		if (nic->n_hostfwd || nic->restricted)
			return error_set(err, EINVAL,
					 "nics[%u]: hostfwd and restrict are "
					 "for type \"user\"",
					 i);
		if (!nic->sw[0] ||
		    net_switch_socket_path(nic->sw, path, sizeof(path), &e))
			return error_set(err, EINVAL,
					 "nics[%u].switch: expected a switch "
					 "name or a socket path, got \"%s\"",
					 i, nic->sw);
	} else if (strcmp(nic->type, "user") != 0) {
		return error_set(err, EINVAL,
				 "nics[%u].type: expected \"user\" or "
				 "\"switch\", got \"%s\"",
				 i, nic->type);
	}
	if (nic->n_hostfwd > NET_USER_MAX_HOSTFWD)
		return error_set(err, EINVAL,
				 "nics[%u].hostfwd: %u entries, at most %d", i,
				 nic->n_hostfwd, NET_USER_MAX_HOSTFWD);
	for (unsigned k = 0; k < nic->n_hostfwd; k++) {
		if (net_hostfwd_parse(nic->hostfwd[k], &fwd[k], &e) < 0)
			return error_set(err, EINVAL,
					 "nics[%u].hostfwd[%u]: expected a "
					 "forward like "
					 "\"tcp:127.0.0.1:2222-:22\", got "
					 "\"%s\"",
					 i, k, nic->hostfwd[k]);
		/* one host socket per (protocol, address, port) */
		for (unsigned j = 0; j < k; j++)
			if (fwd[j].udp == fwd[k].udp &&
			    fwd[j].host_port == fwd[k].host_port &&
			    (fwd[j].host_addr.s_addr ==
				     fwd[k].host_addr.s_addr ||
			     !fwd[j].host_addr.s_addr ||
			     !fwd[k].host_addr.s_addr))
				return error_set(err, EINVAL,
						 "nics[%u].hostfwd[%u]: host "
						 "port %u is already "
						 "forwarded",
						 i, k, fwd[k].host_port);
	}
	if (nic->mac[0] && virtio_net_parse_mac(nic->mac, mac, &e) < 0)
		return error_set(err, EINVAL,
				 "nics[%u].mac: expected a unicast MAC like "
				 "\"52:54:00:12:34:56\", got \"%s\"",
				 i, nic->mac);
	if (nic->mtu) {
		char field[32];

		snprintf(field, sizeof(field), "nics[%u].mtu", i);
		return check_range(field, nic->mtu, NET_USER_MTU_MIN,
				   NET_USER_MTU_MAX, err);
	}
	return 0;
}

static int check_devices(const struct vmdef *d, enum vmdef_host host,
			 struct error *err)
{
	if (d->n_disks > VMDEF_MAX_DISKS || d->n_nics > VMDEF_MAX_NICS ||
	    vmdef_virtio_count(d) > VIRT_MAX_VIRTIO)
		return error_set(
			err, EINVAL,
			"disks, nics, rng, balloon: %u virtio devices, "
			"the board has %d slots",
			vmdef_virtio_count(d), VIRT_MAX_VIRTIO);
	for (unsigned i = 0; i < d->n_disks; i++)
		if (check_disk(&d->disks[i], i, host, err))
			return -EINVAL;
	for (unsigned i = 0; i < d->n_nics; i++)
		if (check_nic(&d->nics[i], i, err))
			return -EINVAL;
	if (d->console == VMDEF_CONSOLE_STDIO && host == VMDEF_HOST_DAEMON)
		return error_set(err, EINVAL,
				 "console: \"stdio\" needs a terminal and a "
				 "daemon has none (expected \"managed\", "
				 "\"none\", \"pty\" or \"unix:/PATH\")");
	if (d->console == VMDEF_CONSOLE_UNIX &&
	    check_path("console", d->console_path, true, host, err))
		return -EINVAL;
	return 0;
}

static int check_qos(const struct vmdef *d, struct error *err)
{
	char a[32], b[32];

	if (check_shares("qos.cpu.shares", &d->cpu_shares, err) ||
	    check_range("qos.cpu.reservation_mhz", d->cpu_reservation_mhz, 0,
			VMDEF_MHZ_MAX, err) ||
	    (d->cpu_limit_mhz &&
	     check_range("qos.cpu.limit_mhz", d->cpu_limit_mhz, 1,
			 VMDEF_MHZ_MAX, err)))
		return -EINVAL;
	/* Cannot fail for a definition within the ranges (static asserts
	 * at the top); stated so that a change of either limit is caught
	 * here, with a message, rather than clamped by the daemon. */
	if (vmdef_cpu_shares(d) > SCHED_MAX_SHARES)
		return error_set(err, EINVAL,
				 "qos.cpu.shares: %" PRIu64
				 " shares exceed the scheduler's limit %u",
				 vmdef_cpu_shares(d), SCHED_MAX_SHARES);
	if (d->cpu_limit_mhz && d->cpu_reservation_mhz > d->cpu_limit_mhz)
		return error_set(err, EINVAL,
				 "qos.cpu.reservation_mhz: %" PRIu64
				 " exceeds qos.cpu.limit_mhz %" PRIu64,
				 d->cpu_reservation_mhz, d->cpu_limit_mhz);

	if (check_shares("qos.memory.shares", &d->mem_shares, err))
		return -EINVAL;
	if (d->mem_reservation & 0xfff)
		return error_set(err, EINVAL,
				 "qos.memory.reservation: not a multiple of "
				 "4K");
	if (d->mem_limit &&
	    (d->mem_limit < VMDEF_MEM_MIN || (d->mem_limit & 0xfff)))
		return error_set(err, EINVAL,
				 "qos.memory.limit: expected a multiple of 4K "
				 "of at least 16M");
	vmdef_format_size(d->mem_reservation, a, sizeof(a));
	if (d->mem_reservation > d->memory) {
		vmdef_format_size(d->memory, b, sizeof(b));
		return error_set(err, EINVAL,
				 "qos.memory.reservation: %s exceeds memory %s",
				 a, b);
	}
	if (d->mem_limit && d->mem_reservation > d->mem_limit) {
		vmdef_format_size(d->mem_limit, b, sizeof(b));
		return error_set(err, EINVAL,
				 "qos.memory.reservation: %s exceeds "
				 "qos.memory.limit %s",
				 a, b);
	}
	return 0;
}

int vmdef_validate(const struct vmdef *d, enum vmdef_host host,
		   struct error *err)
{
	if (check_name(d->name, host, err) ||
	    check_range("cpus", d->cpus, 1, VMDEF_CPUS_MAX, err) ||
	    check_mem_range("memory", d->memory, err) ||
	    check_boot(d, host, err) || check_devices(d, host, err) ||
	    check_qos(d, err))
		return -EINVAL;
	return 0;
}

/* ---- shares --------------------------------------------------------------- */

static uint64_t shares_value(const struct vmdef_shares *s, uint64_t low,
			     uint64_t normal, uint64_t high, uint64_t scale)
{
	switch (s->kind) {
	case VMDEF_SHARES_LOW: return low * scale;
	case VMDEF_SHARES_HIGH: return high * scale;
	case VMDEF_SHARES_CUSTOM: return s->value;
	default: return normal * scale;
	}
}

uint64_t vmdef_cpu_shares(const struct vmdef *def)
{
	return shares_value(&def->cpu_shares, VMDEF_CPU_SHARES_LOW,
			    VMDEF_CPU_SHARES_NORMAL, VMDEF_CPU_SHARES_HIGH,
			    def->cpus);
}

uint64_t vmdef_mem_shares(const struct vmdef *def)
{
	return shares_value(&def->mem_shares, VMDEF_MEM_SHARES_LOW,
			    VMDEF_MEM_SHARES_NORMAL, VMDEF_MEM_SHARES_HIGH,
			    def->memory >> 20);
}

/* ---- the board ------------------------------------------------------------ */

static int nic_config(const struct vmdef_nic *n, unsigned i,
		      struct virtio_net_config *nc, struct error *err)
{
	virtio_net_config_init(nc, i);
	if (!strcmp(n->type, "switch")) {
		nc->backend = VIRTIO_NET_BACKEND_SWITCH;
		if (net_switch_socket_path(n->sw, nc->switch_path,
					   sizeof(nc->switch_path), err))
			return -EINVAL;
		snprintf(nc->portgroup, sizeof(nc->portgroup), "%s",
			 n->portgroup);
	}
	if (n->mac[0] && virtio_net_parse_mac(n->mac, nc->mac, err))
		return -EINVAL;
	for (unsigned k = 0; k < n->n_hostfwd; k++)
		if (net_hostfwd_parse(n->hostfwd[k], &nc->user.fwd[k], err))
			return -EINVAL;
	nc->user.n_fwd = n->n_hostfwd;
	nc->user.mtu = n->mtu;
	nc->user.restricted = n->restricted;
	return 0;
}

int vmdef_to_virt_config(const struct vmdef *d, struct virt_config *cfg,
			 struct error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	if (vmdef_validate(d, VMDEF_HOST_RUN, err))
		return -EINVAL;
	cfg->name = d->name[0] ? d->name : NULL;
	cfg->ram_size = d->memory;
	cfg->n_harts = d->cpus;
	cfg->kernel = d->firmware[0] ? d->firmware : d->kernel;
	cfg->initrd = d->initrd[0] ? d->initrd : NULL;
	cfg->append = d->append[0] ? d->append : NULL;
	cfg->bios = d->firmware[0] ? VIRT_BIOS_NONE : d->bios;
	cfg->bios_path = d->bios == VIRT_BIOS_FILE ? d->bios_path : NULL;
	cfg->accel = d->accel;
	cfg->on_panic = d->on_panic;
	switch (d->console) {
	case VMDEF_CONSOLE_STDIO: cfg->console.kind = CONSOLE_STDIO; break;
	case VMDEF_CONSOLE_PTY: cfg->console.kind = CONSOLE_PTY; break;
	case VMDEF_CONSOLE_UNIX:
		cfg->console.kind = CONSOLE_UNIX;
		snprintf(cfg->console.path, sizeof(cfg->console.path), "%s",
			 d->console_path);
		break;
	default: cfg->console.kind = CONSOLE_NONE; break;
	}

	for (unsigned i = 0; i < d->n_disks; i++) {
		struct virtio_blk_config *b = &cfg->disks[i];

		snprintf(b->path, sizeof(b->path), "%s", d->disks[i].path);
		snprintf(b->format, sizeof(b->format), "%s",
			 d->disks[i].format);
		b->readonly = d->disks[i].readonly;
		b->throttle = d->disks[i].throttle;
		snprintf(b->key_secret, sizeof(b->key_secret), "%s",
			 d->disks[i].key_secret);
		b->aio = d->disks[i].aio;
		snprintf(b->serial, sizeof(b->serial), "%s",
			 d->disks[i].serial);
	}
	cfg->n_disks = d->n_disks;
	for (unsigned i = 0; i < d->n_nics; i++)
		if (nic_config(&d->nics[i], i, &cfg->nets[i], err))
			return -EINVAL;
	cfg->n_nets = d->n_nics;
	cfg->rng = d->rng;
	cfg->balloon = d->balloon;
	cfg->share_rate = d->mem_merge ? 0 : VIRT_SHARE_OFF;
	cfg->mem_limit = d->mem_limit; /* compression (and swap) past it */
	return 0;
}
