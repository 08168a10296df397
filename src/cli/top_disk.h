/*
 * softvisor top -D: the per-disk view (GET /v1/host/disks; docs/cli.md,
 * docs/block.md "Disk shares"): IOPS read/write, MB/s, latency, time
 * throttled, shares and the datastore cap of every running VM's disks,
 * as CSV (-b) or a screen refreshed every delay. The parsing and the
 * formatting are plain functions (tested in tests/unit/cli).
 */
#ifndef SV_CLI_TOP_DISK_H
#define SV_CLI_TOP_DISK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util/error.h"

struct client;

struct top_disk {
	char vm[64];
	int disk;
	char datastore[256]; /* "" when none is configured */
	uint32_t shares;
	double rd_iops, wr_iops, rd_bps, wr_bps;
	double latency_ms, throttled_ms;
	uint64_t cap_iops, cap_bps;
};

/* Parse a /v1/host/disks reply into *out (malloc'd, sorted by VM then
 * disk), *n of them. -EPROTO naming the field when the reply is not what
 * the API promises. */
int top_disk_parse(const json_t *reply, struct top_disk **out, size_t *n,
		   struct error *err);

/* The CSV heading, and one line per disk. 0 or -errno. */
int top_disk_csv_header(FILE *f);
int top_disk_csv(FILE *f, const struct top_disk *d, size_t n, uint64_t time_ms);

/* The screen's heading and one row (no newline). */
void top_disk_heading(char *buf, size_t len);
void top_disk_row(char *buf, size_t len, const struct top_disk *d);

/* The view itself: count samples (< 0: until *stop), every delay_s; CSV
 * with batch. Returns a CLI exit status. */
int top_disk_run(struct client *c, double delay_s, long count, int batch,
		 volatile sig_atomic_t *stop);

#endif
