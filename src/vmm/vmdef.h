/*
 * VM definition: what one VM is (harts, memory, boot images, devices, QoS),
 * the one description behind both ways to run a VM (schema and example:
 * docs/vm-definition.md):
 *
 *   the daemon        JSON --vmdef_parse()--------------+
 *   softvisor run     flags --vmdef_opt_*() + vmdef_validate()
 *                                                        v
 *                     struct vmdef --vmdef_to_virt_config()--> virt_config
 *
 * Every rule lives here once: vmdef_validate() checks a whole definition
 * (ranges, combinations, the board's slots, the scheduler's limits); the
 * JSON reader (vmdef_json.c) checks types and calls it; the option-string
 * parsers (vmdef_opts.c: --memory, --disk, --net, --cpu-shares, MHz, ...)
 * check the syntax of one flag and name the flag in their messages. Which
 * host runs the definition changes two rules (enum vmdef_host).
 *
 *   struct vmdef *def = calloc(1, sizeof(*def));      (it is large)
 *   if (vmdef_parse(json_text, def, &err) < 0)
 *       reply 400 with err.msg   ("disks[1].path: required")
 *   char *text = vmdef_to_json(def);                  (free() it)
 *   struct virt_config *cfg = calloc(1, sizeof(*cfg));
 *   if (vmdef_to_virt_config(def, cfg, &err) < 0) ...
 *
 * A struct vmdef that vmdef_validate() accepted converts to a virt_config
 * without a further user error (except for the files themselves, which are
 * opened only when the VM starts). Unknown JSON fields are rejected, never
 * ignored. Messages start with the path of the field that is wrong
 * ("qos.cpu.shares: ...") or, from vmdef_opt_*(), with the option
 * ("--memory 5X: expected a size like 512M or 2G").
 *
 * Adding a field: a member here (plain data), its default in vmdef_init(),
 * its rule in vmdef_validate(), its JSON key in vmdef_json.c (reader and
 * writer: the round-trip test checks both), its use in
 * vmdef_to_virt_config(), and a flag in cli/ that sets it.
 *
 * Ownership: struct vmdef is plain data (fixed buffers, no pointers), so it
 * can be copied with memcpy and compared with vmdef_equal(). A virt_config
 * filled by vmdef_to_virt_config() BORROWS the strings of the vmdef: keep
 * the vmdef alive (and unchanged) as long as the virt_config is used.
 *
 * Threads: every function is pure (no global state); any thread.
 * Errors: 0 or -EINVAL (-ENOMEM where noted) with the message in err.
 */
#ifndef SV_VMM_VMDEF_H
#define SV_VMM_VMDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "machine/virt.h"
#include "net/user.h"
#include "util/error.h"
#include "virtio/blk.h"

#define VMDEF_NAME_MAX	  63 /* a DNS label */
#define VMDEF_PATH_MAX	  4096
#define VMDEF_APPEND_MAX  4096
#define VMDEF_CPUS_MAX	  VIRT_MAX_HARTS
#define VMDEF_MEM_MIN	  (16ULL << 20)
#define VMDEF_MEM_MAX	  (1ULL << 40)
#define VMDEF_MAX_DISKS	  VIRT_MAX_VIRTIO
#define VMDEF_MAX_NICS	  VIRT_MAX_VIRTIO
#define VMDEF_HOSTFWD_LEN 64
#define VMDEF_SWITCH_LEN  108	    /* a unix socket path */
#define VMDEF_SHARES_MAX  1000000   /* a custom share count, VM total */
#define VMDEF_MHZ_MAX	  100000000 /* reservation and limit */

/* Share presets (ARCHITECTURE.md "vCPU scheduling"): CPU shares per vCPU,
 * memory shares per MiB of configured memory (as ESXi does). */
#define VMDEF_CPU_SHARES_LOW	500
#define VMDEF_CPU_SHARES_NORMAL 1000
#define VMDEF_CPU_SHARES_HIGH	2000
#define VMDEF_MEM_SHARES_LOW	5
#define VMDEF_MEM_SHARES_NORMAL 10
#define VMDEF_MEM_SHARES_HIGH	20

/* The host that runs a definition; it decides two rules. */
enum vmdef_host {
	/* The daemon (JSON over the API): paths must be absolute (its
	 * working directory means nothing to a client), a name is required,
	 * the console cannot be stdio (a daemon has no terminal). */
	VMDEF_HOST_DAEMON,
	/* `softvisor run`: paths relative to the working directory, no
	 * name needed, the console may be stdio. */
	VMDEF_HOST_RUN,
};

enum vmdef_shares_kind {
	VMDEF_SHARES_NORMAL, /* the default */
	VMDEF_SHARES_LOW,
	VMDEF_SHARES_HIGH,
	VMDEF_SHARES_CUSTOM, /* value holds the number */
};

struct vmdef_shares {
	enum vmdef_shares_kind kind;
	uint32_t value; /* VMDEF_SHARES_CUSTOM: 1..VMDEF_SHARES_MAX */
};

/* What the console field says. MANAGED (the daemon's default) means the
 * daemon owns the UART (streamed over the API); the board sees
 * CONSOLE_NONE and the daemon installs its own back end. STDIO is the
 * terminal of `softvisor run` (its default). */
enum vmdef_console {
	VMDEF_CONSOLE_MANAGED,
	VMDEF_CONSOLE_NONE,
	VMDEF_CONSOLE_PTY,
	VMDEF_CONSOLE_UNIX,
	VMDEF_CONSOLE_STDIO,
};

struct vmdef_disk {
	char path[VIRTIO_BLK_PATH_MAX];
	char format[16]; /* "raw" */
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES + 1]; /* may be "" */
	struct throttle_config throttle;      /* throttling.*; all 0: none */
	/* key-secret: "file:PATH" or "env:NAME" of an encrypted qcow2
	 * image's passphrase (the secret is never stored); "" for none */
	char key_secret[VIRTIO_BLK_PATH_MAX + 8];
	int aio; /* enum block_aio (block/aio.h): 0 threads, auto, io_uring */
	/* import_from: the disk is to be made from this image (raw or
	 * qcow2) when the daemon creates the VM (docs/vm-definition.md
	 * "Disks from an image"); path is "" and format "qcow2" (what the
	 * new image will be) until the daemon names the image it made.
	 * linked: that image is a qcow2 overlay on import_from, not a
	 * copy. A stored definition never holds import_from. */
	char import_from[VIRTIO_BLK_PATH_MAX];
	bool linked;
};

struct vmdef_nic {
	char type[8]; /* "user" or "switch" */
	/* type "switch": a switch name or a socket path (holds a '/'), and
	 * the port group ("" = the switch's default) */
	char sw[VMDEF_SWITCH_LEN];
	char portgroup[32];
	/* QEMU syntax as given ("tcp:127.0.0.1:2222-:22") */
	char hostfwd[NET_USER_MAX_HOSTFWD][VMDEF_HOSTFWD_LEN];
	unsigned n_hostfwd;
	char mac[18];	 /* "52:54:00:..." or "" for the default */
	uint32_t mtu;	 /* 0: NET_USER_MTU_DEFAULT */
	bool restricted; /* only the host forwards, no NAT (docs/net.md) */
};

/* What the daemon does when a VM's worker process dies (a crash, kill -9,
 * a seccomp violation; docs/daemon.md, "When a worker dies"). libvirt's
 * names: preserve keeps the VM crashed, destroy turns it off (stopped),
 * restart starts it again (at most a few times in a row). */
enum vmdef_on_crash {
	VMDEF_ON_CRASH_PRESERVE = 0, /* state crashed (the default) */
	VMDEF_ON_CRASH_DESTROY,	     /* state stopped, reason crashed */
	VMDEF_ON_CRASH_RESTART,	     /* started again by the daemon */
};

struct vmdef {
	char name[VMDEF_NAME_MAX + 1]; /* "" only for VMDEF_HOST_RUN */
	unsigned cpus;
	uint64_t memory; /* bytes */

	/* boot: either a kernel (+ initrd, append) or a firmware image */
	char kernel[VMDEF_PATH_MAX];
	char initrd[VMDEF_PATH_MAX];
	char append[VMDEF_APPEND_MAX];
	char firmware[VMDEF_PATH_MAX]; /* runs in M-mode ("--bios none") */
	enum virt_bios bios;
	char bios_path[VMDEF_PATH_MAX]; /* VIRT_BIOS_FILE */
	enum virt_accel accel; /* CPU engine; DEFAULT: the host's choice */
	enum virt_on_panic on_panic;  /* what a guest panic does */
	enum vmdef_on_crash on_crash; /* what the daemon does when the
					 VM's worker dies */

	struct vmdef_disk disks[VMDEF_MAX_DISKS];
	unsigned n_disks;
	struct vmdef_nic nics[VMDEF_MAX_NICS];
	unsigned n_nics;

	enum vmdef_console console;
	char console_path[108]; /* VMDEF_CONSOLE_UNIX (sun_path limit) */
	bool rng;
	bool balloon;
	/* page sharing (QEMU's -machine mem-merge): zero frames go back to
	 * the shared zero frame (docs/memory.md); default on */
	bool mem_merge;

	/* QoS (consumed by the scheduler and memory manager); 0 = none */
	struct vmdef_shares cpu_shares;
	uint64_t cpu_reservation_mhz;
	uint64_t cpu_limit_mhz;
	uint64_t cpu_affinity; /* host pCPUs the vCPUs may use; 0 = all */
	struct vmdef_shares mem_shares;
	uint64_t mem_reservation; /* bytes */
	uint64_t mem_limit;	  /* bytes */

	bool autostart;
};

/* ---- the definition (vmdef.c) ------------------------------------------- */

/* Set def to the defaults of an empty definition (1 cpu, 512M, built-in
 * SBI, managed console, normal shares); name and boot stay empty. */
void vmdef_init(struct vmdef *def);

/* Check every rule of docs/vm-definition.md for a VM run by host. 0 or
 * -EINVAL with a message that starts with the field's path. */
int vmdef_validate(const struct vmdef *def, enum vmdef_host host,
		   struct error *err);

/* virtio-mmio slots def takes (disks, NICs, rng, balloon). */
unsigned vmdef_virtio_count(const struct vmdef *def);

/* Effective shares: presets scaled by cpus (CPU) or MiB of memory. A
 * valid definition's CPU shares fit the scheduler (SCHED_MAX_SHARES). */
uint64_t vmdef_cpu_shares(const struct vmdef *def);
uint64_t vmdef_mem_shares(const struct vmdef *def);

/* Validate def (VMDEF_HOST_RUN rules: the daemon checked its own when it
 * parsed) and fill the board configuration (cfg is fully overwritten; see
 * Ownership above: cfg borrows def's strings). Host-side extras that are
 * not part of a definition (--dump-dtb, --timeout, --qmp, virtio-console,
 * power button) are the caller's to set afterwards. */
int vmdef_to_virt_config(const struct vmdef *def, struct virt_config *cfg,
			 struct error *err);

/* ---- JSON (vmdef_json.c) ------------------------------------------------- */

/* Parse a JSON text into out (fully overwritten) and validate it with the
 * VMDEF_HOST_DAEMON rules. */
int vmdef_parse(const char *json, struct vmdef *out, struct error *err);

/* The same for a parsed JSON value (borrowed). */
int vmdef_from_json(const json_t *root, struct vmdef *out, struct error *err);

/* Serialize def as a JSON object with every field (defaults explicit);
 * vmdef_from_json(vmdef_to_json_value(d)) == d. New reference, or NULL on
 * out of memory. */
json_t *vmdef_to_json_value(const struct vmdef *def);

/* vmdef_to_json_value() as compact text; malloc'd (free()), or NULL. */
char *vmdef_to_json(const struct vmdef *def);

/* One disks[] / nics[] entry, or a shares value, as JSON. full: every
 * field (the normalized form); otherwise only what differs from the
 * defaults (what a client sends). New reference, or NULL. */
json_t *vmdef_disk_to_json(const struct vmdef_disk *disk, bool full);
json_t *vmdef_nic_to_json(const struct vmdef_nic *nic, bool full);
json_t *vmdef_shares_to_json(const struct vmdef_shares *shares);

/* The first disk of def with import_from set, or -1: a definition the
 * daemon must import disks for before it can be stored. */
int vmdef_import_disk(const struct vmdef *def);

/* Field-by-field equality (ignores bytes after the NUL of strings). */
bool vmdef_equal(const struct vmdef *a, const struct vmdef *b);

/* ---- option strings of the command line (vmdef_opts.c) ------------------- */
/* Each parses one flag's value; what names the flag in messages
 * ("--memory"). Syntax is checked here; vmdef_validate() checks the
 * assembled definition. */

/* Harts: 1..VMDEF_CPUS_MAX. */
int vmdef_opt_cpus(const char *s, const char *what, unsigned *out,
		   struct error *err);

/* Memory size: a bare number is MiB (as QEMU's -m), suffixes K/M/G/T;
 * VMDEF_MEM_MIN..VMDEF_MEM_MAX, a multiple of 4K. */
int vmdef_opt_memory(const char *s, const char *what, uint64_t *out,
		     struct error *err);

/* "low" | "normal" | "high" | 1..VMDEF_SHARES_MAX. */
int vmdef_opt_shares(const char *s, const char *what, struct vmdef_shares *out,
		     struct error *err);

/* MHz, 0..VMDEF_MHZ_MAX; with allow_unlimited also "unlimited" or "none"
 * (*out = 0, no limit). A limit of 0 MHz is refused (use unlimited). */
int vmdef_opt_mhz(const char *s, const char *what, bool allow_unlimited,
		  uint64_t *out, struct error *err);

/* A file name into buf (size VMDEF_PATH_MAX or less): "" and too long are
 * refused. No resolution: the caller makes it absolute if its host needs
 * that. */
int vmdef_opt_path(const char *s, const char *what, char *buf, size_t size,
		   struct error *err);

/* --bios: "builtin", "none" or the PATH of an M-mode firmware (into path,
 * size bytes, VIRT_BIOS_FILE). */
int vmdef_opt_bios(const char *s, enum virt_bios *bios, char *path, size_t size,
		   struct error *err);

/* --accel (named by what): "jit", "interp" or "default" (the host's
 * choice: the translator where a backend exists). */
int vmdef_opt_accel(const char *s, const char *what, enum virt_accel *accel,
		    struct error *err);
/* The name vmdef_opt_accel() and the JSON "accel" field use. */
const char *vmdef_accel_name(enum virt_accel accel);
/* A CPU list as taskset and cpuset write it ("0-3,6"; "all" = 0, no
 * restriction), of CPUs 0..63, into a mask. */
int vmdef_opt_cpuset(const char *s, const char *what, uint64_t *mask,
		     struct error *err);
/* The mask as such a list ("all" for 0); buf of at least 192 bytes. */
void vmdef_cpuset_str(uint64_t mask, char *buf, size_t size);
/* --mem-merge (named by what): on/off, yes/no, true/false, 1/0. */
int vmdef_opt_onoff(const char *s, const char *what, bool *out,
		    struct error *err);
/* --on-crash (named by what): "preserve", "destroy" or "restart". */
int vmdef_opt_on_crash(const char *s, const char *what,
		       enum vmdef_on_crash *out, struct error *err);
const char *vmdef_on_crash_name(enum vmdef_on_crash c);
/* --on-panic (named by what): "stop", "pause" or "restart". */
int vmdef_opt_on_panic(const char *s, const char *what, enum virt_on_panic *out,
		       struct error *err);
const char *vmdef_on_panic_name(enum virt_on_panic p);

/* --console for host: "stdio" (VMDEF_HOST_RUN only), "managed"
 * (VMDEF_HOST_DAEMON only), "pty", "none", "unix:PATH" (the socket path
 * into path, size bytes). */
int vmdef_opt_console(const char *s, enum vmdef_host host,
		      enum vmdef_console *kind, char *path, size_t size,
		      struct error *err);

/* --disk "PATH[,format=raw][,readonly[=on|off]][,serial=STR]" (",," is a
 * literal comma in PATH or STR; "ro" is readonly), or
 * "import-from=IMAGE[,linked[=on|off]][,readonly...]" (a disk the daemon
 * makes from IMAGE: import_from; format= and key-secret= refused). out is
 * overwritten. */
int vmdef_opt_disk(const char *spec, struct vmdef_disk *out, struct error *err);

/* --net "user[,hostfwd=RULE]...[,mac=MAC][,mtu=N][,restrict=on|off]",
 * "switch=NAME|PATH[,portgroup=PG][,mac=MAC][,mtu=N]" or "none" (*none =
 * true, out untouched). out is overwritten otherwise. */
int vmdef_opt_nic(const char *spec, struct vmdef_nic *out, bool *none,
		  struct error *err);

#endif
