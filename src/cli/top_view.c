/*
 * softvisor top: HostStats JSON -> rows -> screen lines / CSV.
 * The daemon is a separate process whose reply we do not trust blindly:
 * every field is type-checked, strings are truncated into fixed buffers,
 * non-finite or negative figures become 0.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/top_view.h"

/* A tid or count past this is nonsense; keeps the formatting bounded. */
#define TOP_LONG_MAX 999999999L

static int bad_field(struct error *err, const char *where, const char *field,
		     const char *want)
{
	return error_set(err, EPROTO, "host stats: %s%s: expected %s", where,
			 field, want);
}

/* A number field: absent -> 0 (older daemons send fewer figures). */
static int get_double(const json_t *o, const char *field, const char *where,
		      double *out, bool *present, struct error *err)
{
	const json_t *v = json_object_get(o, field);

	*out = 0;
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_number(v))
		return bad_field(err, where, field, "a number");
	*out = json_number_value(v);
	if (!isfinite(*out) || *out < 0)
		*out = 0;
	return 0;
}

static int get_u64(const json_t *o, const char *field, const char *where,
		   uint64_t *out, struct error *err)
{
	const json_t *v = json_object_get(o, field);

	*out = 0;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		*out = i > 0 ? (uint64_t)i : 0;
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		/* 2^64 is not representable in uint64_t: stay below it. */
		if (isfinite(d) && d > 0 && d < 18446744073709549568.0)
			*out = (uint64_t)d;
		return 0;
	}
	return bad_field(err, where, field, "a number");
}

static int get_long(const json_t *o, const char *field, const char *where,
		    long *out, struct error *err)
{
	uint64_t v;
	int r = get_u64(o, field, where, &v, err);

	if (r)
		return r;
	*out = v > (uint64_t)TOP_LONG_MAX ? TOP_LONG_MAX : (long)v;
	return 0;
}

static int get_string(const json_t *o, const char *field, const char *where,
		      char *buf, size_t len, bool required, struct error *err)
{
	const json_t *v = json_object_get(o, field);

	buf[0] = '\0';
	if (!v && !required)
		return 0;
	if (!json_is_string(v))
		return bad_field(err, where, field, "a string");
	snprintf(buf, len, "%s", json_string_value(v));
	/* Control characters would garble the terminal: blank them. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return 0;
}

/* vcpus[].pcpu, optional: the pCPU held or held last, -1 for none yet. */
static int get_pcpu(const json_t *o, const char *where, struct top_row *r,
		    struct error *err)
{
	const json_t *v = json_object_get(o, "pcpu");

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < -1 ||
	    json_integer_value(v) > 9999)
		return bad_field(err, where, "pcpu", "an integer -1..9999");
	if (json_integer_value(v) < 0)
		snprintf(r->cpus, sizeof(r->cpus), "-");
	else
		snprintf(r->cpus, sizeof(r->cpus), "%d",
			 (int)json_integer_value(v));
	return 0;
}

/* The figures VmStats and its vcpus[] entries share. */
static int parse_figures(const json_t *o, const char *where, struct top_row *r,
			 struct error *err)
{
	int e = 0;

	e = e
		    ?: get_string(o, "state", where, r->state, sizeof(r->state),
				  false, err);
	e = e ?: get_double(o, "used_pct", where, &r->used_pct, NULL, err);
	e = e ?: get_double(o, "ready_pct", where, &r->ready_pct, NULL, err);
	e = e ?: get_double(o, "wait_pct", where, &r->wait_pct, NULL, err);
	e = e ?: get_double(o, "costop_pct", where, &r->costop_pct, NULL, err);
	e = e
		    ?: get_double(o, "limited_pct", where, &r->limited_pct,
				  &r->has_limited, err);
	e = e ?: get_u64(o, "used_us", where, &r->used_us, err);
	e = e ?: get_u64(o, "ready_us", where, &r->ready_us, err);
	e = e ?: get_u64(o, "wait_us", where, &r->wait_us, err);
	e = e ?: get_u64(o, "costop_us", where, &r->costop_us, err);
	return e;
}

/* VmStats "memory", optional (a VM the memory manager did not measure,
 * an older daemon). */
static int parse_mem(const json_t *o, const char *where, struct top_mem *m,
		     struct error *err)
{
	const json_t *mo = json_object_get(o, "memory"), *b;
	char w[80];
	int e;

	if (!mo)
		return 0;
	if (!json_is_object(mo))
		return bad_field(err, where, "memory", "an object");
	snprintf(w, sizeof(w), "%smemory.", where);
	e = get_u64(mo, "size", w, &m->size, err);
	e = e ?: get_u64(mo, "target", w, &m->target, err);
	e = e ?: get_u64(mo, "active", w, &m->active, err);
	e = e ?: get_u64(mo, "consumed", w, &m->consumed, err);
	e = e ?: get_u64(mo, "zero_shared", w, &m->zero_shared, err);
	m->has_pool = json_object_get(mo, "pool_shared") != NULL;
	if (m->has_pool)
		e = e ?: get_u64(mo, "pool_shared", w, &m->pool_shared, err);
	m->has_kernel = json_object_get(mo, "kernel_shared") != NULL;
	if (m->has_kernel)
		e = e
			    ?: get_u64(mo, "kernel_shared", w,
				       &m->kernel_shared, err);
	e = e ?: get_u64(mo, "balloon_target", w, &m->balloon_target, err);
	e = e ?: get_u64(mo, "balloon_size", w, &m->balloon_size, err);
	if (e)
		return e;
	b = json_object_get(mo, "balloon");
	if (b && !json_is_boolean(b))
		return bad_field(err, w, "balloon", "true or false");
	m->balloon = json_is_true(b);
	/* the daemon names them compressed_bytes and swapped_bytes (the
	 * machine's figures, docs/api.yaml VmMemoryStats) */
	const char *ck = json_object_get(mo, "compressed_bytes")
				 ? "compressed_bytes"
				 : "compressed";
	const char *sk = json_object_get(mo, "swapped_bytes") ? "swapped_bytes"
							      : "swapped";
	m->has_compressed = json_object_get(mo, ck) != NULL;
	m->has_swapped = json_object_get(mo, sk) != NULL;
	e = get_u64(mo, ck, w, &m->compressed, err);
	e = e ?: get_u64(mo, sk, w, &m->swapped, err);
	m->present = e == 0;
	return e;
}

static int parse_vm(const json_t *o, size_t idx, struct top_vm *vm,
		    bool *limited, struct error *err)
{
	char where[64]; /* "vms[N].vcpus[M]." with 20-digit N, M */
	const json_t *vcpus, *c;
	size_t i;
	int e;

	snprintf(where, sizeof(where), "vms[%zu].", idx);
	if (!json_is_object(o))
		return error_set(err, EPROTO,
				 "host stats: vms[%zu]: expected an object",
				 idx);
	vm->row.vcpu = -1;
	e = get_string(o, "vm", where, vm->row.name, sizeof(vm->row.name), true,
		       err);
	e = e ?: parse_figures(o, where, &vm->row, err);
	e = e ?: get_u64(o, "entitled_mhz", where, &vm->row.entitled_mhz, err);
	e = e ?: get_u64(o, "demand_mhz", where, &vm->row.demand_mhz, err);
	e = e
		    ?: get_string(o, "affinity", where, vm->row.cpus,
				  sizeof(vm->row.cpus), false, err);
	e = e ?: parse_mem(o, where, &vm->row.mem, err);
	if (e)
		return e;
	*limited |= vm->row.has_limited;

	vcpus = json_object_get(o, "vcpus");
	if (!vcpus)
		return 0;
	if (!json_is_array(vcpus))
		return bad_field(err, where, "vcpus", "an array");
	if (json_array_size(vcpus) == 0)
		return 0;
	vm->vcpus = calloc(json_array_size(vcpus), sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return error_set(err, ENOMEM, "host stats: out of memory");
	json_array_foreach(vcpus, i, c)
	{
		struct top_row *r = &vm->vcpus[i];
		long idx_v;

		snprintf(where, sizeof(where), "vms[%zu].vcpus[%zu].", idx, i);
		if (!json_is_object(c))
			return error_set(err, EPROTO,
					 "host stats: %.*s: expected an object",
					 (int)strlen(where) - 1, where);
		memcpy(r->name, vm->row.name, sizeof(r->name));
		e = get_long(c, "vcpu", where, &idx_v, err);
		e = e ?: get_long(c, "tid", where, &r->tid, err);
		e = e ?: parse_figures(c, where, r, err);
		e = e ?: get_pcpu(c, where, r, err);
		if (e)
			return e;
		/* The daemon numbers vCPUs; fall back to the position. */
		r->vcpu = json_object_get(c, "vcpu") ? (int)(idx_v & 0xffff)
						     : (int)i;
		*limited |= r->has_limited;
		vm->n_vcpus++;
	}
	return 0;
}

int top_sample_parse(const json_t *stats, struct top_sample *out,
		     struct error *err)
{
	const json_t *vms, *o;
	size_t i;
	int e;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(stats))
		return error_set(err, EPROTO,
				 "host stats: expected a JSON object");
	e = get_long(stats, "pcpus", "", &out->pcpus, err);
	e = e ?: get_u64(stats, "capacity_mhz", "", &out->capacity_mhz, err);
	e = e ?: get_double(stats, "used_pct", "", &out->used_pct, NULL, err);
	e = e ?: get_u64(stats, "memory_budget", "", &out->mem_budget, err);
	e = e ?: get_u64(stats, "memory_reserved", "", &out->mem_reserved, err);
	if (e)
		return e;
	vms = json_object_get(stats, "vms");
	if (!json_is_array(vms))
		return bad_field(err, "", "vms", "an array");
	if (json_array_size(vms)) {
		out->vms = calloc(json_array_size(vms), sizeof(*out->vms));
		if (!out->vms)
			return error_set(err, ENOMEM,
					 "host stats: out of memory");
	}
	json_array_foreach(vms, i, o)
	{
		/* Count first so a failure frees the half-filled entry too. */
		out->n_vms++;
		e = parse_vm(o, i, &out->vms[i], &out->has_limited, err);
		if (e) {
			top_sample_free(out);
			return e;
		}
		if (strcmp(out->vms[i].row.state, "running") == 0)
			out->n_running++;
	}
	return 0;
}

void top_sample_free(struct top_sample *s)
{
	for (size_t i = 0; i < s->n_vms; i++)
		free(s->vms[i].vcpus);
	free(s->vms);
	memset(s, 0, sizeof(*s));
}

struct sort_ctx {
	enum top_sort_key key;
	bool reverse;
};

static double sort_value(const struct top_row *r, enum top_sort_key key)
{
	switch (key) {
	case TOP_SORT_USED: return r->used_pct;
	case TOP_SORT_READY: return r->ready_pct;
	case TOP_SORT_WAIT: return r->wait_pct;
	case TOP_SORT_COSTOP: return r->costop_pct;
	case TOP_SORT_NAME: break;
	}
	return 0;
}

static int cmp_vm(const void *pa, const void *pb, void *pctx)
{
	const struct top_vm *a = pa, *b = pb;
	const struct sort_ctx *ctx = pctx;
	int c = 0;

	if (ctx->key != TOP_SORT_NAME) {
		double x = sort_value(&a->row, ctx->key);
		double y = sort_value(&b->row, ctx->key);
		c = x > y ? -1 : x < y ? 1 : 0; /* biggest first */
	}
	if (c == 0)
		c = strcasecmp(a->row.name, b->row.name);
	if (c == 0)
		c = strcmp(a->row.name, b->row.name);
	return ctx->reverse ? -c : c;
}

void top_sample_sort(struct top_sample *s, enum top_sort_key key, bool reverse)
{
	struct sort_ctx ctx = { key, reverse };

	if (s->n_vms > 1)
		qsort_r(s->vms, s->n_vms, sizeof(*s->vms), cmp_vm, &ctx);
}

bool top_sort_key_from_char(int ch, enum top_sort_key *key)
{
	switch (ch) {
	case 'U':
	case 'u': *key = TOP_SORT_USED; return true;
	case 'R':
	case 'r': *key = TOP_SORT_READY; return true;
	case 'W':
	case 'w': *key = TOP_SORT_WAIT; return true;
	case 'C':
	case 'c': *key = TOP_SORT_COSTOP; return true;
	case 'N':
	case 'n': *key = TOP_SORT_NAME; return true;
	}
	return false;
}

const char *top_sort_key_name(enum top_sort_key key)
{
	static const char *const names[] = {
		[TOP_SORT_USED] = "%USED", [TOP_SORT_READY] = "%RDY",
		[TOP_SORT_WAIT] = "%WAIT", [TOP_SORT_COSTOP] = "%CSTP",
		[TOP_SORT_NAME] = "NAME",
	};

	return (unsigned)key < ARRAY_SIZE(names) ? names[key] : "?";
}

long top_sample_find(const struct top_sample *s, const char *name)
{
	for (size_t i = 0; i < s->n_vms; i++)
		if (strcmp(s->vms[i].row.name, name) == 0)
			return (long)i;
	return -1;
}

/* The NAME cell of a vCPU row: indented under its VM. */
static int vcpu_label(char *buf, size_t len, const struct top_row *r)
{
	if (r->tid > 0)
		return snprintf(buf, len, "  vcpu%d tid %ld", r->vcpu, r->tid);
	return snprintf(buf, len, "  vcpu%d", r->vcpu);
}

int top_name_width(const struct top_sample *s, bool vcpus)
{
	char label[TOP_NAME_MAX];
	int w = 4;

	for (size_t i = 0; i < s->n_vms; i++) {
		int n = (int)strlen(s->vms[i].row.name);
		if (n > w)
			w = n;
		for (size_t j = 0; vcpus && j < s->vms[i].n_vcpus; j++) {
			n = vcpu_label(label, sizeof(label),
				       &s->vms[i].vcpus[j]);
			if (n > w)
				w = n;
		}
	}
	return w > TOP_NAME_MAX - 1 ? TOP_NAME_MAX - 1 : w;
}

void top_format_host(char *buf, size_t len, const struct top_sample *s)
{
	snprintf(buf, len,
		 "host: %ld pCPUs, %llu MHz capacity, %.1f%% used, "
		 "%zu of %zu VMs running",
		 s->pcpus, (unsigned long long)s->capacity_mhz, s->used_pct,
		 s->n_running, s->n_vms);
}

/*
 * Columns (docs/cli.md): NAME STATE NVCPU CPUS %USED %RDY %WAIT %CSTP
 * [%MLMTD] ENTMHZ DMDMHZ. CPUS is a VM's affinity and the pCPU of a vCPU. Percentages of a VM are sums over its vCPUs and reach
 * 100 x NVCPU, so they get 7 characters ("6400.0" plus a space).
 */
void top_format_heading(char *buf, size_t len, int name_w, bool limited)
{
	snprintf(buf, len, "%-*s %-8s %5s %-8s %7s %7s %7s %7s%s %8s %8s",
		 name_w, "NAME", "STATE", "NVCPU", "CPUS", "%USED", "%RDY",
		 "%WAIT", "%CSTP", limited ? "  %MLMTD" : "", "ENTMHZ",
		 "DMDMHZ");
}

void top_format_row(char *buf, size_t len, const struct top_row *r,
		    size_t nvcpu, int name_w, bool limited)
{
	char name[TOP_NAME_MAX], nv[8] = "", lim[16] = "", ent[24] = "",
				 dmd[24] = "";

	if (r->vcpu < 0) {
		snprintf(name, sizeof(name), "%s", r->name);
		snprintf(nv, sizeof(nv), "%zu", nvcpu > 9999 ? 9999 : nvcpu);
		snprintf(ent, sizeof(ent), "%llu",
			 (unsigned long long)r->entitled_mhz);
		snprintf(dmd, sizeof(dmd), "%llu",
			 (unsigned long long)r->demand_mhz);
	} else {
		vcpu_label(name, sizeof(name), r);
	}
	if (limited)
		snprintf(lim, sizeof(lim), " %7.1f", r->limited_pct);
	snprintf(buf, len,
		 "%-*.*s %-8.8s %5s %-8.8s %7.1f %7.1f %7.1f %7.1f%s %8s %8s",
		 name_w, name_w, name, r->state, nv, r->cpus, r->used_pct,
		 r->ready_pct, r->wait_pct, r->costop_pct, lim, ent, dmd);
}

/* RFC 4180: quote a field holding a separator, quote or line break. */
static void csv_field(FILE *f, const char *s)
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

int top_csv_header(FILE *f)
{
	fputs("timestamp_ms,vm,vcpu,state,used_pct,ready_pct,wait_pct,"
	      "costop_pct,used_us,ready_us,wait_us,costop_us,cpus\n",
	      f);
	return ferror(f) ? -EIO : 0;
}

static void csv_row(FILE *f, const struct top_row *r, uint64_t time_ms)
{
	fprintf(f, "%llu,", (unsigned long long)time_ms);
	csv_field(f, r->name);
	if (r->vcpu >= 0)
		fprintf(f, ",%d,", r->vcpu);
	else
		fputs(",,", f);
	csv_field(f, r->state);
	fprintf(f, ",%.2f,%.2f,%.2f,%.2f,%llu,%llu,%llu,%llu,", r->used_pct,
		r->ready_pct, r->wait_pct, r->costop_pct,
		(unsigned long long)r->used_us, (unsigned long long)r->ready_us,
		(unsigned long long)r->wait_us,
		(unsigned long long)r->costop_us);
	csv_field(f, r->cpus);
	fputc('\n', f);
}

int top_csv_sample(FILE *f, const struct top_sample *s, uint64_t time_ms,
		   bool vcpus)
{
	for (size_t i = 0; i < s->n_vms; i++) {
		csv_row(f, &s->vms[i].row, time_ms);
		for (size_t j = 0; vcpus && j < s->vms[i].n_vcpus; j++)
			csv_row(f, &s->vms[i].vcpus[j], time_ms);
	}
	return ferror(f) ? -EIO : 0;
}
