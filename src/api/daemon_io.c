/*
 * Disk figures and disk shares between VMs on one datastore: see
 * daemon_io.h and docs/block.md, "Disk shares".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "api/daemon_impl.h"
#include "api/daemon_io.h"
#include "block/throttle.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/parse.h"
#include "vmm/io_policy.h"

#define LOG "daemon-io"

/* One disk of a running VM, from one period to the next. */
struct io_rec {
	int64_t vm_id;
	unsigned gen, idx;
	bool seen;  /* in this period's sample */
	bool valid; /* figures below are from a whole period */
	char vm[VMDEF_NAME_MAX + 1];
	char path[VIRTIO_BLK_PATH_MAX];
	dev_t dev;
	int ds; /* configured datastore, -1: none */
	uint32_t shares;
	uint64_t limit_iops, limit_bps;
	struct virtio_blk_stats prev;
	uint64_t prev_ns;
	struct daemon_io_figures fig;
	uint64_t want_iops, want_bps; /* caps computed this period */
};

struct io_ds {
	struct daemon_datastore_cfg cfg;
	dev_t dev;
	unsigned contended; /* IO_CONTENDED_* of the last period */
	double iops, bps;   /* delivered in the last period */
	unsigned n_disks;
};

struct daemon_io {
	struct daemon *d;
	pthread_t thread;
	pthread_mutex_t lock; /* recs, ds figures */
	pthread_cond_t cond;
	bool stop;
	struct io_ds ds[DAEMON_IO_MAX_DATASTORES];
	unsigned n_ds;
	struct io_rec *recs;
	size_t n_recs, cap_recs;
};

/* ---- configuration ----------------------------------------------------------- */

int daemon_io_parse_datastore(const char *arg, struct daemon_datastore_cfg *out,
			      struct error *err)
{
	char buf[4200], *save = NULL, *tok;
	struct stat st;

	memset(out, 0, sizeof(*out));
	if (strlen(arg) >= sizeof(buf))
		return error_set(err, EINVAL, "--datastore: too long");
	strcpy(buf, arg);
	tok = strtok_r(buf, ",", &save);
	if (!tok || strlen(tok) >= sizeof(out->path))
		return error_set(err, EINVAL,
				 "--datastore %s: expected "
				 "PATH,iops=N[,bps=N]",
				 arg);
	strcpy(out->path, tok);
	if (stat(out->path, &st) < 0)
		return error_set(err, EINVAL, "--datastore %s: %s", out->path,
				 strerror(errno));
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *val = strchr(tok, '=');
		char what[64];
		uint64_t *dst;

		if (val)
			*val++ = '\0';
		if (!strcmp(tok, "iops"))
			dst = &out->iops;
		else if (!strcmp(tok, "bps"))
			dst = &out->bps;
		else
			return error_set(err, EINVAL,
					 "--datastore %s: unknown option '%s' "
					 "(expected iops=N or bps=N)",
					 out->path, tok);
		snprintf(what, sizeof(what), "--datastore %s", tok);
		if (!val ||
		    parse_u64(val, 1, THROTTLE_VALUE_MAX, dst, what, err) < 0)
			return error_set(
				err, EINVAL,
				"--datastore %s: %s needs a number "
				"from 1 to %llu",
				out->path, tok,
				(unsigned long long)THROTTLE_VALUE_MAX);
	}
	if (!out->iops && !out->bps)
		return error_set(err, EINVAL,
				 "--datastore %s: give its capacity, iops=N "
				 "and/or bps=N",
				 out->path);
	return 0;
}

/* ---- sampling ------------------------------------------------------------------ */

static struct io_rec *rec_get(struct daemon_io *io, int64_t id, unsigned gen,
			      unsigned idx)
{
	for (size_t i = 0; i < io->n_recs; i++) {
		struct io_rec *r = &io->recs[i];

		if (r->vm_id == id && r->gen == gen && r->idx == idx)
			return r;
	}
	if (io->n_recs == io->cap_recs) {
		size_t n = io->cap_recs ? 2 * io->cap_recs : 16;
		struct io_rec *p = realloc(io->recs, n * sizeof(*p));

		if (!p)
			return NULL;
		io->recs = p;
		io->cap_recs = n;
	}
	struct io_rec *r = &io->recs[io->n_recs++];

	memset(r, 0, sizeof(*r));
	r->vm_id = id;
	r->gen = gen;
	r->idx = idx;
	r->ds = -1;
	return r;
}

/* A disk's own average limits (throttling.*) in IOPS and bytes/s: the
 * total, else read + write; 0: none. */
static uint64_t own_limit(const struct throttle_config *c, int total)
{
	uint64_t t = c->l[total].avg, rd = c->l[total + 1].avg,
		 wr = c->l[total + 2].avg;

	if (t)
		return t;
	return rd && wr ? rd + wr : 0;
}

static double per_s(uint64_t now, uint64_t before, uint64_t ns)
{
	return now >= before ? (double)(now - before) * 1e9 / (double)ns : 0;
}

/* New counters of r at time now: the period's figures. */
static void rec_update(struct io_rec *r, const struct virtio_blk_stats *s,
		       uint64_t now)
{
	const struct virtio_blk_stats *p = &r->prev;
	uint64_t ns = now - r->prev_ns;

	r->valid = r->prev_ns && ns > 0 && s->rd_ops >= p->rd_ops &&
		   s->wr_ops >= p->wr_ops;
	if (r->valid) {
		uint64_t ops = (s->rd_ops - p->rd_ops) +
			       (s->wr_ops - p->wr_ops);
		uint64_t lat = (s->rd_lat_ns - p->rd_lat_ns) +
			       (s->wr_lat_ns - p->wr_lat_ns);

		r->fig.rd_iops = per_s(s->rd_ops, p->rd_ops, ns);
		r->fig.wr_iops = per_s(s->wr_ops, p->wr_ops, ns);
		r->fig.rd_bps = per_s(s->rd_bytes, p->rd_bytes, ns);
		r->fig.wr_bps = per_s(s->wr_bytes, p->wr_bytes, ns);
		r->fig.latency_ms = ops ? (double)lat / (double)ops / 1e6 : 0;
		r->fig.throttled_ms =
			per_s(s->throttled_ns, p->throttled_ns, ns) / 1e6;
	}
	r->fig.cap_iops = s->cap_iops;
	r->fig.cap_bps = s->cap_bps;
	r->prev = *s;
	r->prev_ns = now;
}

static int ds_of(const struct daemon_io *io, dev_t dev)
{
	for (unsigned i = 0; i < io->n_ds; i++)
		if (io->ds[i].dev == dev)
			return (int)i;
	return -1;
}

/* One disk as sampled under d->lock, before io->lock is taken (the lock
 * order is d->lock, then io->lock: /metrics asks for figures under
 * d->lock). */
struct io_sample {
	int64_t vm_id;
	unsigned gen, idx;
	char vm[VMDEF_NAME_MAX + 1];
	char path[VIRTIO_BLK_PATH_MAX];
	uint32_t shares;
	uint64_t limit_iops, limit_bps;
	struct virtio_blk_stats st;
	uint64_t now;
};

/* Sample every running VM's disks (no io->lock held); *n of them. */
static struct io_sample *collect(struct daemon *d, size_t *n)
{
	struct virt_dev_stats *ds = malloc(sizeof(*ds));
	struct io_sample *out = NULL;
	size_t cap = 0;

	*n = 0;
	if (!ds)
		return NULL;
	pthread_mutex_lock(&d->lock);
	for (struct dvm *v = d->vms; v; v = v->next) {
		/* a VM without disks has nothing to sample: no STATS round
		 * trip to its worker (a wake-up of its main thread a second) */
		if (!v->vm || !v->run_def.n_disks)
			continue;
		vm_dev_stats(v->vm, ds);
		uint64_t now = clock_monotonic_ns();

		for (unsigned i = 0; i < ds->n_disks && i < v->run_def.n_disks;
		     i++) {
			const struct vmdef_disk *k = &v->run_def.disks[i];
			struct io_sample *x;

			if (*n == cap) {
				size_t c = cap ? 2 * cap : 16;
				struct io_sample *p = realloc(out,
							      c * sizeof(*p));

				if (!p)
					goto done;
				out = p;
				cap = c;
			}
			x = &out[(*n)++];
			x->vm_id = v->id;
			x->gen = v->gen;
			x->idx = i;
			snprintf(x->vm, sizeof(x->vm), "%s", v->def.name);
			snprintf(x->path, sizeof(x->path), "%s", k->path);
			/* QoS may change while it runs (vm patch) */
			x->shares = k->throttle.shares
					    ? k->throttle.shares
					    : THROTTLE_SHARES_DEFAULT;
			x->limit_iops = own_limit(&k->throttle,
						  THROTTLE_IOPS_TOTAL);
			x->limit_bps = own_limit(&k->throttle,
						 THROTTLE_BPS_TOTAL);
			x->st = ds->disk[i];
			x->now = now;
		}
	}
done:
	pthread_mutex_unlock(&d->lock);
	free(ds);
	return out;
}

/* Fold the samples into the records (io->lock held). */
static void update(struct daemon_io *io, const struct io_sample *x, size_t n)
{
	for (size_t i = 0; i < io->n_recs; i++)
		io->recs[i].seen = false;
	for (size_t i = 0; i < n; i++) {
		struct io_rec *r = rec_get(io, x[i].vm_id, x[i].gen, x[i].idx);
		struct stat st;

		if (!r)
			break;
		r->seen = true;
		if (!r->prev_ns) { /* first sight: who it is */
			snprintf(r->vm, sizeof(r->vm), "%s", x[i].vm);
			snprintf(r->path, sizeof(r->path), "%s", x[i].path);
			if (stat(x[i].path, &st) == 0) {
				r->dev = st.st_dev;
				r->ds = ds_of(io, st.st_dev);
			}
		}
		r->shares = x[i].shares;
		r->fig.shares = r->shares;
		r->limit_iops = x[i].limit_iops;
		r->limit_bps = x[i].limit_bps;
		rec_update(r, &x[i].st, x[i].now);
	}
	/* disks of VMs that stopped */
	for (size_t i = 0; i < io->n_recs;) {
		if (io->recs[i].seen) {
			i++;
			continue;
		}
		io->recs[i] = io->recs[--io->n_recs];
	}
}

/* ---- shares ---------------------------------------------------------------------- */

static void allocate(struct daemon_io *io)
{
	size_t n = io->n_recs;
	struct io_disk_sample *s = calloc(n ? n : 1, sizeof(*s));
	struct io_grant *g = calloc(n ? n : 1, sizeof(*g));
	size_t *which = calloc(n ? n : 1, sizeof(*which));

	for (size_t i = 0; i < n; i++)
		io->recs[i].want_iops = io->recs[i].want_bps = 0;
	if (!s || !g || !which)
		goto out;
	for (unsigned k = 0; k < io->n_ds; k++) {
		struct io_ds *ds = &io->ds[k];
		struct io_capacity cap = { .iops = ds->cfg.iops,
					   .kbps = ds->cfg.bps / 1024 };
		unsigned m = 0;

		if (ds->cfg.bps && !cap.kbps)
			cap.kbps = 1;
		ds->iops = ds->bps = 0;
		for (size_t i = 0; i < n; i++) {
			const struct io_rec *r = &io->recs[i];
			const struct daemon_io_figures *f = &r->fig;

			if (r->ds != (int)k || !r->valid)
				continue;
			ds->iops += f->rd_iops + f->wr_iops;
			ds->bps += f->rd_bps + f->wr_bps;
			s[m] = (struct io_disk_sample){
				.shares = r->shares,
				.limit_iops = r->limit_iops,
				.limit_kbps = r->limit_bps ? (r->limit_bps +
							      1023) / 1024
							   : 0,
				.iops = (uint64_t)(f->rd_iops + f->wr_iops +
						   0.5),
				.kbps = (uint64_t)((f->rd_bps + f->wr_bps) /
						   1024),
				.waited = f->throttled_ms > 0,
			};
			which[m++] = i;
		}
		ds->n_disks = m;
		ds->contended = io_policy_allocate(s, m, &cap, g);
		for (unsigned j = 0; j < m; j++) {
			io->recs[which[j]].want_iops = g[j].iops;
			io->recs[which[j]].want_bps = g[j].kbps * 1024;
		}
	}
out:
	free(s);
	free(g);
	free(which);
}

/* The caps of one VM to send. */
struct io_push {
	int64_t vm_id;
	unsigned gen, n;
	char vm[VMDEF_NAME_MAX + 1];
	struct virt_disk_cap caps[VIRT_MAX_VIRTIO];
};

/* The VMs whose caps differ from what their disks report (a worker that
 * rebuilt its devices reports none) (io->lock held). */
static struct io_push *to_push(struct daemon_io *io, size_t *n_out)
{
	struct io_push *out = calloc(io->n_recs ? io->n_recs : 1, sizeof(*out));
	size_t n = 0;

	*n_out = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < io->n_recs; i++) {
		const struct io_rec *r = &io->recs[i];
		struct io_push *p = &out[n];
		bool change = false;

		if (r->idx != 0)
			continue; /* once per VM, from its first disk */
		memset(p, 0, sizeof(*p));
		p->vm_id = r->vm_id;
		p->gen = r->gen;
		snprintf(p->vm, sizeof(p->vm), "%s", r->vm);
		for (size_t j = 0; j < io->n_recs; j++) {
			const struct io_rec *x = &io->recs[j];

			if (x->vm_id != r->vm_id || x->gen != r->gen ||
			    x->idx >= VIRT_MAX_VIRTIO)
				continue;
			p->caps[x->idx].iops = x->want_iops;
			p->caps[x->idx].bps = x->want_bps;
			if (x->idx + 1 > p->n)
				p->n = x->idx + 1;
			if (x->want_iops != x->fig.cap_iops ||
			    x->want_bps != x->fig.cap_bps)
				change = true;
		}
		if (change)
			n++;
	}
	*n_out = n;
	return out;
}

/* Send the caps (no io->lock held). Takes a VM's op_lock only if free: a
 * long operation on it (a snapshot) delays its caps by a period rather
 * than the loop. */
static void push(struct daemon *d, const struct io_push *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ref[24];
		struct error e = { 0 };
		struct dvm *v;

		snprintf(ref, sizeof(ref), "%" PRId64, p[i].vm_id);
		v = dvm_find(d, ref, &e);
		if (!v)
			continue;
		if (pthread_mutex_trylock(&v->op_lock) == 0) {
			if (v->vm && v->gen == p[i].gen) {
				int rc = vm_disk_caps(v->vm, p[i].caps, p[i].n);

				if (rc)
					log_warn(LOG, "%s: disk caps: %s",
						 p[i].vm, strerror(-rc));
				else
					log_debug(
						LOG,
						"%s: disk 0 capped at %" PRIu64
						" IOPS, %" PRIu64 " B/s",
						p[i].vm, p[i].caps[0].iops,
						p[i].caps[0].bps);
			}
			pthread_mutex_unlock(&v->op_lock);
		}
		dvm_put(d, v);
	}
}

static void *io_thread(void *arg)
{
	struct daemon_io *io = arg;
	struct timespec ts;

	pthread_mutex_lock(&io->lock);
	while (!io->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += DAEMON_IO_PERIOD_MS / 1000;
		ts.tv_nsec += (long)(DAEMON_IO_PERIOD_MS % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!io->stop &&
		       pthread_cond_timedwait(&io->cond, &io->lock, &ts) == 0)
			;
		if (io->stop)
			break;
		pthread_mutex_unlock(&io->lock);
		size_t n, n_push = 0;
		struct io_sample *x = collect(io->d, &n);
		struct io_push *p;

		pthread_mutex_lock(&io->lock);
		update(io, x, x ? n : 0);
		allocate(io);
		p = to_push(io, &n_push);
		pthread_mutex_unlock(&io->lock);
		free(x);
		push(io->d, p, p ? n_push : 0);
		free(p);
		pthread_mutex_lock(&io->lock);
	}
	pthread_mutex_unlock(&io->lock);
	return NULL;
}

int daemon_io_open(struct daemon *d, const struct daemon_datastore_cfg *cfg,
		   unsigned n, struct daemon_io **out, struct error *err)
{
	struct daemon_io *io;
	pthread_condattr_t ca;

	if (n > DAEMON_IO_MAX_DATASTORES)
		return error_set(err, EINVAL, "--datastore: at most %u",
				 DAEMON_IO_MAX_DATASTORES);
	io = calloc(1, sizeof(*io));
	if (!io)
		return error_set(err, ENOMEM, "out of memory");
	io->d = d;
	for (unsigned i = 0; i < n; i++) {
		struct stat st;

		if (stat(cfg[i].path, &st) < 0) {
			free(io);
			return error_set(err, EINVAL, "--datastore %s: %s",
					 cfg[i].path, strerror(errno));
		}
		int same = ds_of(io, st.st_dev);

		if (same >= 0) {
			error_set(err, EINVAL,
				  "--datastore %s: the same file system as %s",
				  cfg[i].path, io->ds[same].cfg.path);
			free(io);
			return -EINVAL;
		}
		io->ds[io->n_ds].cfg = cfg[i];
		io->ds[io->n_ds++].dev = st.st_dev;
	}
	pthread_mutex_init(&io->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&io->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&io->thread, NULL, io_thread, io)) {
		pthread_cond_destroy(&io->cond);
		pthread_mutex_destroy(&io->lock);
		free(io);
		return error_set(err, EAGAIN, "cannot start the I/O thread");
	}
	*out = io;
	return 0;
}

void daemon_io_close(struct daemon_io *io)
{
	if (!io)
		return;
	pthread_mutex_lock(&io->lock);
	io->stop = true;
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);
	pthread_join(io->thread, NULL);
	pthread_cond_destroy(&io->cond);
	pthread_mutex_destroy(&io->lock);
	free(io->recs);
	free(io);
}

/* ---- queries ------------------------------------------------------------------------ */

static json_t *disk_json(const struct daemon_io *io, const struct io_rec *r)
{
	const struct daemon_io_figures *f = &r->fig;
	char dev[32];

	snprintf(dev, sizeof(dev), "%u:%u", major(r->dev), minor(r->dev));
	return json_pack(
		"{s:s, s:I, s:i, s:s, s:s, s:o, s:i, s:f, s:f, s:f, s:f, "
		"s:f, s:f, s:I, s:I}",
		"vm", r->vm, "vm_id", (json_int_t)r->vm_id, "disk", (int)r->idx,
		"path", r->path, "dev", dev, "datastore",
		r->ds >= 0 ? json_string(io->ds[r->ds].cfg.path) : json_null(),
		"shares", (int)r->shares, "read_iops", f->rd_iops, "write_iops",
		f->wr_iops, "read_bytes_per_s", f->rd_bps, "write_bytes_per_s",
		f->wr_bps, "latency_ms", f->latency_ms, "throttled_ms_per_s",
		f->throttled_ms, "cap_iops", (json_int_t)f->cap_iops,
		"cap_bytes_per_s", (json_int_t)f->cap_bps);
}

int daemon_io_disks_json(struct daemon_io *io, json_t **out, struct error *err)
{
	json_t *o = json_object(), *dss = json_array(), *disks = json_array();
	int bad = !o || !dss || !disks;

	pthread_mutex_lock(&io->lock);
	for (unsigned k = 0; !bad && k < io->n_ds; k++) {
		const struct io_ds *ds = &io->ds[k];

		bad |= json_array_append_new(
			dss,
			json_pack("{s:s, s:I, s:I, s:b, s:b, s:f, s:f, s:i}",
				  "path", ds->cfg.path, "capacity_iops",
				  (json_int_t)ds->cfg.iops,
				  "capacity_bytes_per_s",
				  (json_int_t)ds->cfg.bps, "contended_iops",
				  !!(ds->contended & IO_CONTENDED_IOPS),
				  "contended_bytes",
				  !!(ds->contended & IO_CONTENDED_KBPS), "iops",
				  ds->iops, "bytes_per_s", ds->bps, "disks",
				  (int)ds->n_disks));
	}
	for (size_t i = 0; !bad && i < io->n_recs; i++)
		if (io->recs[i].valid)
			bad |= json_array_append_new(
				disks, disk_json(io, &io->recs[i]));
	pthread_mutex_unlock(&io->lock);
	if (!bad)
		bad |= json_object_set_new(o, "period_ms",
					   json_integer(DAEMON_IO_PERIOD_MS));
	if (!bad)
		bad |= json_object_set(o, "datastores", dss) |
		       json_object_set(o, "disks", disks);
	json_decref(dss);
	json_decref(disks);
	if (bad) {
		json_decref(o);
		return error_set(err, ENOMEM, "out of memory");
	}
	*out = o;
	return 0;
}

bool daemon_io_figures(struct daemon_io *io, int64_t vm_id, unsigned idx,
		       struct daemon_io_figures *out)
{
	bool found = false;

	if (!io)
		return false;
	pthread_mutex_lock(&io->lock);
	for (size_t i = 0; i < io->n_recs && !found; i++) {
		const struct io_rec *r = &io->recs[i];

		if (r->vm_id == vm_id && r->idx == idx && r->valid) {
			*out = r->fig;
			found = true;
		}
	}
	pthread_mutex_unlock(&io->lock);
	return found;
}

int daemon_host_disks(struct daemon *d, json_t **out, struct error *err)
{
	if (!d->io)
		return error_set(err, ENODEV, "no disk figures");
	return daemon_io_disks_json(d->io, out, err);
}
