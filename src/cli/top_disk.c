/* softvisor top -D, the pure part: parsing and formatting (top_disk.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/top_disk.h"

static int bad(struct error *err, size_t i, const char *field)
{
	return error_set(err, EPROTO,
			 "/v1/host/disks: disks[%zu].%s missing or of the "
			 "wrong type",
			 i, field);
}

static int num(const json_t *o, const char *k, double *out)
{
	const json_t *v = json_object_get(o, k);

	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return *out >= 0 ? 0 : -1;
}

static int cmp_disk(const void *a, const void *b)
{
	const struct top_disk *x = a, *y = b;
	int c = strcmp(x->vm, y->vm);

	return c ? c : x->disk - y->disk;
}

int top_disk_parse(const json_t *reply, struct top_disk **out, size_t *n,
		   struct error *err)
{
	const json_t *a = json_object_get(reply, "disks");
	struct top_disk *d;
	size_t k;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a))
		return error_set(err, EPROTO,
				 "/v1/host/disks: no \"disks\" array");
	d = calloc(json_array_size(a) + 1, sizeof(*d));
	if (!d)
		return error_set(err, ENOMEM, "out of memory");
	for (k = 0; k < json_array_size(a); k++) {
		const json_t *o = json_array_get(a, k);
		const json_t *vm = json_object_get(o, "vm");
		const json_t *ds = json_object_get(o, "datastore");
		double disk, shares, cap_iops, cap_bps;
		struct top_disk *x = &d[k];
		const char *f = NULL;

		if (!json_is_string(vm))
			f = "vm";
		else if (num(o, "disk", &disk))
			f = "disk";
		else if (num(o, "shares", &shares))
			f = "shares";
		else if (num(o, "read_iops", &x->rd_iops))
			f = "read_iops";
		else if (num(o, "write_iops", &x->wr_iops))
			f = "write_iops";
		else if (num(o, "read_bytes_per_s", &x->rd_bps))
			f = "read_bytes_per_s";
		else if (num(o, "write_bytes_per_s", &x->wr_bps))
			f = "write_bytes_per_s";
		else if (num(o, "latency_ms", &x->latency_ms))
			f = "latency_ms";
		else if (num(o, "throttled_ms_per_s", &x->throttled_ms))
			f = "throttled_ms_per_s";
		else if (num(o, "cap_iops", &cap_iops))
			f = "cap_iops";
		else if (num(o, "cap_bytes_per_s", &cap_bps))
			f = "cap_bytes_per_s";
		else if (ds && !json_is_string(ds) && !json_is_null(ds))
			f = "datastore";
		if (f) {
			free(d);
			return bad(err, k, f);
		}
		snprintf(x->vm, sizeof(x->vm), "%s", json_string_value(vm));
		snprintf(x->datastore, sizeof(x->datastore), "%s",
			 json_is_string(ds) ? json_string_value(ds) : "");
		x->disk = disk < 1000 ? (int)disk : 999;
		x->shares = shares < 1e9 ? (uint32_t)shares : 0;
		x->cap_iops = (uint64_t)cap_iops;
		x->cap_bps = (uint64_t)cap_bps;
	}
	qsort(d, k, sizeof(*d), cmp_disk);
	*out = d;
	*n = k;
	return 0;
}

/* A CSV field: quoted, with quotes doubled (a VM or path may hold any
 * printable character the API allows). */
static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int top_disk_csv_header(FILE *f)
{
	fputs("time_ms,vm,disk,datastore,shares,read_iops,write_iops,"
	      "read_mb_s,write_mb_s,latency_ms,throttled_ms_per_s,cap_iops,"
	      "cap_mb_s\n",
	      f);
	return ferror(f) ? -EIO : 0;
}

int top_disk_csv(FILE *f, const struct top_disk *d, size_t n, uint64_t time_ms)
{
	for (size_t i = 0; i < n; i++) {
		const struct top_disk *x = &d[i];

		fprintf(f, "%" PRIu64 ",", time_ms);
		csv_str(f, x->vm);
		fprintf(f, ",%d,", x->disk);
		csv_str(f, x->datastore);
		fprintf(f,
			",%" PRIu32 ",%.1f,%.1f,%.3f,%.3f,%.3f,%.1f,%" PRIu64
			",%.3f\n",
			x->shares, x->rd_iops, x->wr_iops, x->rd_bps / 1e6,
			x->wr_bps / 1e6, x->latency_ms, x->throttled_ms,
			x->cap_iops, (double)x->cap_bps / 1e6);
	}
	return ferror(f) ? -EIO : 0;
}

void top_disk_heading(char *buf, size_t len)
{
	snprintf(buf, len, "%-16s %4s %6s %8s %8s %8s %8s %8s %8s %8s %s", "VM",
		 "DISK", "SHARES", "RIOPS", "WIOPS", "RMB/s", "WMB/s", "LAT/ms",
		 "THR%", "CAPIOPS", "DATASTORE");
}

void top_disk_row(char *buf, size_t len, const struct top_disk *d)
{
	char cap[24];

	if (d->cap_iops)
		snprintf(cap, sizeof(cap), "%" PRIu64, d->cap_iops);
	else
		snprintf(cap, sizeof(cap), "-");
	/* THR%: the share of the period requests spent waiting on limits
	 * and caps (ms per s / 10; over 100 with several waiting at once) */
	snprintf(buf, len,
		 "%-16.16s %4d %6" PRIu32
		 " %8.1f %8.1f %8.2f %8.2f %8.2f %8.1f %8s %s",
		 d->vm, d->disk, d->shares, d->rd_iops, d->wr_iops,
		 d->rd_bps / 1e6, d->wr_bps / 1e6, d->latency_ms,
		 d->throttled_ms / 10, cap,
		 d->datastore[0] ? d->datastore : "-");
}
