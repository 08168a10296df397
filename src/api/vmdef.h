/*
 * VM definition: the JSON document that describes one VM of the daemon
 * (schema and example: docs/vm-definition.md).
 *
 *   struct vmdef *def = calloc(1, sizeof(*def));      (it is large)
 *   if (vmdef_parse(json_text, def, &err) < 0)
 *       reply 400 with err.msg   ("disks[1].path: required")
 *   char *text = vmdef_to_json(def);                  (free() it)
 *   struct virt_config *cfg = calloc(1, sizeof(*cfg));
 *   if (vmdef_to_virt_config(def, cfg, &err) < 0) ...
 *
 * Validation is complete at parse time: a struct vmdef that vmdef_parse()
 * accepted converts to a virt_config without a further user error (except
 * for the files themselves, which are opened only when the VM starts).
 * Unknown fields are rejected, never ignored. Every message starts with the
 * path of the field that is wrong ("qos.cpu.shares: ...").
 *
 * Ownership: struct vmdef is plain data (fixed buffers, no pointers), so it
 * can be copied with memcpy and compared with vmdef_equal(). A virt_config
 * filled by vmdef_to_virt_config() BORROWS the strings of the vmdef: keep
 * the vmdef alive (and unchanged) as long as the virt_config is used.
 *
 * Threads: every function is pure (no global state); any thread.
 */
#ifndef SV_API_VMDEF_H
#define SV_API_VMDEF_H

#include <stdbool.h>
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
#define VMDEF_SHARES_MAX  1000000

/* Share presets (ARCHITECTURE.md "vCPU scheduling"): CPU shares per vCPU,
 * memory shares per MiB of configured memory (as ESXi does). */
#define VMDEF_CPU_SHARES_LOW	500
#define VMDEF_CPU_SHARES_NORMAL 1000
#define VMDEF_CPU_SHARES_HIGH	2000
#define VMDEF_MEM_SHARES_LOW	5
#define VMDEF_MEM_SHARES_NORMAL 10
#define VMDEF_MEM_SHARES_HIGH	20

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

/* What the console field says. MANAGED (the default) means the daemon owns
 * the UART (streamed over the API); the board sees CONSOLE_NONE and the
 * daemon installs its own back end. */
enum vmdef_console {
	VMDEF_CONSOLE_MANAGED,
	VMDEF_CONSOLE_NONE,
	VMDEF_CONSOLE_PTY,
	VMDEF_CONSOLE_UNIX,
};

struct vmdef_disk {
	char path[VIRTIO_BLK_PATH_MAX]; /* absolute */
	char format[16];		/* "raw" */
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES + 1]; /* may be "" */
};

struct vmdef_nic {
	char type[8]; /* "user" */
	/* QEMU syntax as given ("tcp:127.0.0.1:2222-:22"), validated */
	char hostfwd[NET_USER_MAX_HOSTFWD][VMDEF_HOSTFWD_LEN];
	unsigned n_hostfwd;
	char mac[18]; /* "52:54:00:..." or "" for the default */
};

struct vmdef {
	char name[VMDEF_NAME_MAX + 1];
	unsigned cpus;
	uint64_t memory; /* bytes */

	/* boot: either a kernel (+ initrd, append) or a firmware image */
	char kernel[VMDEF_PATH_MAX];
	char initrd[VMDEF_PATH_MAX];
	char append[VMDEF_APPEND_MAX];
	char firmware[VMDEF_PATH_MAX]; /* runs in M-mode ("--bios none") */
	enum virt_bios bios;
	char bios_path[VMDEF_PATH_MAX]; /* VIRT_BIOS_FILE */

	struct vmdef_disk disks[VMDEF_MAX_DISKS];
	unsigned n_disks;
	struct vmdef_nic nics[VMDEF_MAX_NICS];
	unsigned n_nics;

	enum vmdef_console console;
	char console_path[108]; /* VMDEF_CONSOLE_UNIX (sun_path limit) */
	bool rng;
	bool balloon;

	/* QoS (consumed by the scheduler and memory manager); 0 = none */
	struct vmdef_shares cpu_shares;
	uint64_t cpu_reservation_mhz;
	uint64_t cpu_limit_mhz;
	struct vmdef_shares mem_shares;
	uint64_t mem_reservation; /* bytes */
	uint64_t mem_limit;	  /* bytes */

	bool autostart;
};

/* Set def to the defaults of an empty definition (1 cpu, 512M, built-in
 * SBI, managed console, normal shares); name and boot stay empty. */
void vmdef_init(struct vmdef *def);

/* Parse and validate a JSON text into out (fully overwritten). 0, or
 * -EINVAL with a message naming the field in err. */
int vmdef_parse(const char *json, struct vmdef *out, struct error *err);

/* The same for a parsed JSON value (borrowed). */
int vmdef_from_json(const json_t *root, struct vmdef *out, struct error *err);

/* Serialize def as a JSON object with every field (defaults explicit);
 * vmdef_from_json(vmdef_to_json_value(d)) == d. New reference, or NULL on
 * out of memory. */
json_t *vmdef_to_json_value(const struct vmdef *def);

/* vmdef_to_json_value() as compact text; malloc'd (free()), or NULL. */
char *vmdef_to_json(const struct vmdef *def);

/* Field-by-field equality (ignores bytes after the NUL of strings). */
bool vmdef_equal(const struct vmdef *a, const struct vmdef *b);

/* Effective shares: presets scaled by cpus (CPU) or MiB of memory. */
uint64_t vmdef_cpu_shares(const struct vmdef *def);
uint64_t vmdef_mem_shares(const struct vmdef *def);

/* Fill the board configuration (cfg is fully overwritten; see Ownership
 * above: cfg borrows def's strings). 0 or -EINVAL with err set if def
 * does not hold a valid definition (not from vmdef_parse). */
int vmdef_to_virt_config(const struct vmdef *def, struct virt_config *cfg,
			 struct error *err);

#endif
