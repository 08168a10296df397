/*
 * The pure half of `softvisor top`: turn a HostStats reply
 * (GET /v1/host/stats, notes in docs/cli.md) into rows, sort them, format
 * them as screen lines or as batch CSV. No I/O besides the FILE * handed
 * to the CSV writers, no curses, so all of it is unit-tested with canned
 * JSON (tests/unit/cli/test_top.c).
 *
 * Ownership: a struct top_sample owns its arrays; free it with
 * top_sample_free(). Rows are plain copies of the JSON (no pointers into
 * it), so the json_t may be released right after top_sample_parse().
 * Thread safety: none needed; every function works on caller-owned data.
 */
#ifndef SV_CLI_TOP_VIEW_H
#define SV_CLI_TOP_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

/* A VM name is a DNS label of at most 63 characters (docs/vm-definition.md);
 * longer strings from the daemon are truncated, never overflowed. */
#define TOP_NAME_MAX  64
#define TOP_STATE_MAX 16
#define TOP_CPUS_MAX  24

/* The memory figures of a VM row (VmStats "memory", docs/memory.md), in
 * bytes; present only when the daemon's memory manager measured the VM.
 * Compression and swap are not in the API yet: has_* stay false and the
 * columns show "-". */
struct top_mem {
	bool present;
	uint64_t size, target, active, consumed, zero_shared;
	/* shared with other VMs through the daemon's pool (absent from an
	 * older daemon: has_pool false) */
	bool has_pool;
	uint64_t pool_shared;
	/* reading the daemon's sealed kernel copy, also shared with other
	 * VMs (absent from an older daemon: has_kernel false) */
	bool has_kernel;
	uint64_t kernel_shared;
	bool balloon; /* the VM has a balloon device */
	uint64_t balloon_target, balloon_size;
	bool has_compressed, has_swapped;
	uint64_t compressed, swapped;
};

/* One line of figures: a VM (vcpu < 0) or one of its vCPUs. */
struct top_row {
	char name[TOP_NAME_MAX];   /* the VM's name, also on vCPU rows */
	char state[TOP_STATE_MAX]; /* VM or vCPU state as the daemon says */
	int vcpu;		   /* vCPU index; -1 on a VM row */
	long tid;		   /* host thread of a vCPU; 0 if unknown */
	double used_pct, ready_pct, wait_pct, costop_pct;
	double limited_pct; /* only meaningful if has_limited */
	bool has_limited;   /* the daemon sent limited_pct */
	uint64_t used_us, ready_us, wait_us, costop_us;
	uint64_t entitled_mhz, demand_mhz; /* VM rows only */
	/* CPUS column: a VM's affinity ("all", "0-3"), the pCPU a vCPU
	 * holds or held last ("-" never); "" if the daemon did not say */
	char cpus[TOP_CPUS_MAX];
	struct top_mem mem; /* VM rows only */
};

struct top_vm {
	struct top_row row;
	size_t n_vcpus;
	struct top_row *vcpus; /* in the daemon's order (by index) */
};

struct top_sample {
	long pcpus;
	uint64_t capacity_mhz;
	double used_pct;
	bool has_limited; /* any VM or vCPU carried limited_pct */
	size_t n_vms;
	size_t n_running; /* VMs whose state is "running" */
	/* the host's memory budget and reservations (0: not sent) */
	uint64_t mem_budget, mem_reserved;
	struct top_vm *vms;
};

enum top_sort_key {
	TOP_SORT_USED = 0, /* default: busiest first */
	TOP_SORT_READY,
	TOP_SORT_WAIT,
	TOP_SORT_COSTOP,
	TOP_SORT_NAME,
};

/* Parse a HostStats object into out (zeroed first). Returns 0, or -EPROTO
 * with a message naming the bad field; out is then empty. */
int top_sample_parse(const json_t *stats, struct top_sample *out,
		     struct error *err);

/* Release the arrays of s and zero it; s may be empty or zeroed. */
void top_sample_free(struct top_sample *s);

/* Sort the VMs: numbers biggest first, names A..Z; reverse flips that.
 * Ties go by name so the order is stable between refreshes. vCPUs stay
 * in index order. */
void top_sample_sort(struct top_sample *s, enum top_sort_key key, bool reverse);

/* Map a key press ('U', 'R', 'W', 'C', 'N', either case) to a sort key;
 * returns false for other keys. */
bool top_sort_key_from_char(int ch, enum top_sort_key *key);

/* The column heading a sort key orders by ("%USED", ..., "NAME"). */
const char *top_sort_key_name(enum top_sort_key key);

/* Index of the VM called name in s, or -1. */
long top_sample_find(const struct top_sample *s, const char *name);

/* Width of the NAME column for s: the longest name (or "vcpuN tid T"
 * label when vcpus are shown), at least 4, at most TOP_NAME_MAX - 1. */
int top_name_width(const struct top_sample *s, bool vcpus);

/* The one-line host summary shown above the table. */
void top_format_host(char *buf, size_t len, const struct top_sample *s);

/* The column headings line for a NAME column of name_w characters. */
void top_format_heading(char *buf, size_t len, int name_w, bool limited);

/* One table line for r (a VM row, or a vCPU row indented under its VM)
 * in the layout of top_format_heading(). nvcpu is printed on VM rows. */
void top_format_row(char *buf, size_t len, const struct top_row *r,
		    size_t nvcpu, int name_w, bool limited);

/* Write the batch CSV heading line (see docs/cli.md). Returns 0 or -EIO. */
int top_csv_header(FILE *f);

/* Write one CSV line per VM of s (and with vcpus, one per vCPU after its
 * VM), all stamped time_ms. Returns 0 or -EIO. */
int top_csv_sample(FILE *f, const struct top_sample *s, uint64_t time_ms,
		   bool vcpus);

/* ---- the memory view (top_mem.c; `top -m`, key 'm') -------------------- */

/* The one-line host summary of the memory view. */
void top_format_mem_host(char *buf, size_t len, const struct top_sample *s);
/* Headings and one VM line of the memory view (esxtop's memory columns,
 * docs/cli.md): NAME STATE MEMSZ GRANT SZTGT ACTV ZERO MCTL? MCTLTGT
 * MCTLSZ ZIP SWCUR, sizes in MiB, "-" where there is no figure. */
void top_format_mem_heading(char *buf, size_t len, int name_w);
void top_format_mem_row(char *buf, size_t len, const struct top_row *r,
			int name_w);
/* Batch CSV of the memory view (bytes; empty fields: no figure).
 * Returns 0 or -EIO. */
int top_mem_csv_header(FILE *f);
int top_mem_csv_sample(FILE *f, const struct top_sample *s, uint64_t time_ms);

#endif
