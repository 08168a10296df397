/*
 * softvisor top's memory view (issue 15): esxtop's memory columns from
 * the VmStats "memory" objects top_view.c parsed. See top_view.h and
 * docs/cli.md.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/top_view.h"

#define MIB (1024.0 * 1024.0)

/* A size cell in MiB, or "-" without a figure. */
static void cell(char *buf, size_t len, bool have, uint64_t bytes)
{
	if (have)
		snprintf(buf, len, "%.0f", (double)bytes / MIB);
	else
		snprintf(buf, len, "-");
}

void top_format_mem_host(char *buf, size_t len, const struct top_sample *s)
{
	uint64_t size = 0, target = 0;
	size_t n = 0;

	for (size_t i = 0; i < s->n_vms; i++) {
		const struct top_mem *m = &s->vms[i].row.mem;
		if (!m->present)
			continue;
		n++;
		size += m->size;
		target += m->target;
	}
	snprintf(buf, len,
		 "host memory: budget %.0f MiB, %.0f MiB reserved; %zu VMs "
		 "measured: %.0f MiB configured, %.0f MiB granted by the "
		 "policy",
		 (double)s->mem_budget / MIB, (double)s->mem_reserved / MIB, n,
		 (double)size / MIB, (double)target / MIB);
}

void top_format_mem_heading(char *buf, size_t len, int name_w)
{
	snprintf(buf, len,
		 "%-*s %-8s %8s %8s %8s %8s %8s %8s %5s %8s %8s %7s %7s",
		 name_w, "NAME", "STATE", "MEMSZ", "GRANT", "SZTGT", "ACTV",
		 "ZERO", "SHRD", "MCTL?", "MCTLTGT", "MCTLSZ", "ZIP", "SWCUR");
}

void top_format_mem_row(char *buf, size_t len, const struct top_row *r,
			int name_w)
{
	const struct top_mem *m = &r->mem;
	bool p = m->present;
	char sz[24], gr[24], tg[24], ac[24], ze[24], sh[24], bt[24], bs[24],
		zi[24], sw[24];

	cell(sz, sizeof(sz), p, m->size);
	cell(gr, sizeof(gr), p, m->consumed);
	cell(tg, sizeof(tg), p, m->target);
	cell(ac, sizeof(ac), p, m->active);
	cell(ze, sizeof(ze), p, m->zero_shared);
	/* SHRD: frames shared with other VMs, the pool's and the kernel's */
	cell(sh, sizeof(sh), p && (m->has_pool || m->has_kernel),
	     m->pool_shared + m->kernel_shared);
	cell(bt, sizeof(bt), p && m->balloon, m->balloon_target);
	cell(bs, sizeof(bs), p && m->balloon, m->balloon_size);
	cell(zi, sizeof(zi), p && m->has_compressed, m->compressed);
	cell(sw, sizeof(sw), p && m->has_swapped, m->swapped);
	snprintf(buf, len,
		 "%-*.*s %-8.8s %8s %8s %8s %8s %8s %8s %5s %8s %8s %7s %7s",
		 name_w, name_w, r->name, r->state, sz, gr, tg, ac, ze, sh,
		 !p	      ? "-"
		 : m->balloon ? "Y"
			      : "N",
		 bt, bs, zi, sw);
}

int top_mem_csv_header(FILE *f)
{
	fputs("timestamp_ms,vm,state,memsz,grant,sztgt,active,zero_shared,"
	      "balloon,mctltgt,mctlsz,compressed,swapped,pool_shared,"
	      "kernel_shared\n",
	      f);
	return ferror(f) ? -EIO : 0;
}

/* A byte figure, or an empty field without one. */
static void csv_num(FILE *f, bool have, uint64_t v)
{
	fputc(',', f);
	if (have)
		fprintf(f, "%llu", (unsigned long long)v);
}

/* The VM name and state are the daemon's: quoted if they need it. */
static void csv_text(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int top_mem_csv_sample(FILE *f, const struct top_sample *s, uint64_t time_ms)
{
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct top_row *r = &s->vms[i].row;
		const struct top_mem *m = &r->mem;
		bool p = m->present;

		fprintf(f, "%llu,", (unsigned long long)time_ms);
		csv_text(f, r->name);
		fputc(',', f);
		csv_text(f, r->state);
		csv_num(f, p, m->size);
		csv_num(f, p, m->consumed);
		csv_num(f, p, m->target);
		csv_num(f, p, m->active);
		csv_num(f, p, m->zero_shared);
		fprintf(f, ",%s", !p ? "" : m->balloon ? "1" : "0");
		csv_num(f, p && m->balloon, m->balloon_target);
		csv_num(f, p && m->balloon, m->balloon_size);
		csv_num(f, p && m->has_compressed, m->compressed);
		csv_num(f, p && m->has_swapped, m->swapped);
		csv_num(f, p && m->has_pool, m->pool_shared);
		csv_num(f, p && m->has_kernel, m->kernel_shared);
		fputc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}
