/* I/O limits: QEMU's leaky buckets, groups and shares. See throttle.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/throttle.h"
#include "util/clock.h"
#include "util/parse.h"

#define NS_PER_S 1000000000.0

static const char *const bucket_names[THROTTLE_N_BUCKETS] = {
	"bps-total",  "bps-read",  "bps-write",
	"iops-total", "iops-read", "iops-write",
};

const char *throttle_bucket_name(enum throttle_bucket b)
{
	return (unsigned)b < THROTTLE_N_BUCKETS ? bucket_names[b] : "?";
}

/* ---- configuration ------------------------------------------------------- */

bool throttle_config_enabled(const struct throttle_config *cfg)
{
	for (int b = 0; b < THROTTLE_N_BUCKETS; b++)
		if (cfg->l[b].avg)
			return true;
	return false;
}

int throttle_config_set(struct throttle_config *cfg, const char *key,
			const char *val, struct error *err)
{
	char what[64];
	uint64_t v;

	snprintf(what, sizeof(what), "throttling.%s", key);
	if (!val)
		return error_set(err, EINVAL, "%s needs a value", what);
	if (!strcmp(key, "group")) {
		size_t n = strlen(val);

		if (n == 0 || n >= THROTTLE_GROUP_MAX)
			return error_set(err, EINVAL,
					 "%s: a name of 1 to %d characters",
					 what, THROTTLE_GROUP_MAX - 1);
		for (size_t i = 0; i < n; i++)
			if (val[i] <= 0x20 || val[i] > 0x7e)
				return error_set(err, EINVAL,
						 "%s: printable ASCII without "
						 "spaces",
						 what);
		memcpy(cfg->group, val, n + 1);
		return 0;
	}
	if (!strcmp(key, "shares")) {
		/* the presets of CPU shares per vCPU and of VMware SIOC */
		static const struct {
			const char *name;
			uint32_t v;
		} presets[] = { { "low", 500 },
				{ "normal", 1000 },
				{ "high", 2000 } };

		for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]);
		     i++)
			if (!strcmp(val, presets[i].name)) {
				cfg->shares = presets[i].v;
				return 0;
			}
		if (parse_u64(val, 1, THROTTLE_SHARES_MAX, &v, what, err) < 0)
			return -EINVAL;
		cfg->shares = (uint32_t)v;
		return 0;
	}
	if (!strcmp(key, "iops-size"))
		return parse_u64(val, 0, THROTTLE_VALUE_MAX, &cfg->iops_size,
				 what, err);
	for (int b = 0; b < THROTTLE_N_BUCKETS; b++) {
		size_t n = strlen(bucket_names[b]);
		uint64_t *dst;

		if (strncmp(key, bucket_names[b], n))
			continue;
		if (!key[n])
			dst = &cfg->l[b].avg;
		else if (!strcmp(key + n, "-max"))
			dst = &cfg->l[b].max;
		else if (!strcmp(key + n, "-max-length"))
			dst = &cfg->l[b].max_length;
		else
			continue;
		return parse_u64(val, 0, THROTTLE_VALUE_MAX, dst, what, err);
	}
	return error_set(err, EINVAL,
			 "unknown option %s (expected bps-total, bps-read, "
			 "bps-write, iops-total, iops-read, iops-write, each "
			 "optionally with -max or -max-length, iops-size, "
			 "group or shares)",
			 what);
}

int throttle_config_check(const struct throttle_config *cfg, struct error *err)
{
	for (int kind = 0; kind < THROTTLE_N_BUCKETS; kind += 3) {
		const struct throttle_limit *t = &cfg->l[kind];
		const struct throttle_limit *r = &cfg->l[kind + 1];
		const struct throttle_limit *w = &cfg->l[kind + 2];

		if ((t->avg && (r->avg || w->avg)) ||
		    (t->max && (r->max || w->max)))
			return error_set(err, EINVAL,
					 "throttling.%s cannot be combined "
					 "with %s or %s",
					 bucket_names[kind],
					 bucket_names[kind + 1],
					 bucket_names[kind + 2]);
	}
	for (int b = 0; b < THROTTLE_N_BUCKETS; b++) {
		const struct throttle_limit *l = &cfg->l[b];

		if (l->avg > THROTTLE_VALUE_MAX || l->max > THROTTLE_VALUE_MAX)
			return error_set(
				err, EINVAL, "throttling.%s: at most %llu",
				bucket_names[b],
				(unsigned long long)THROTTLE_VALUE_MAX);
		if (l->max && !l->avg)
			return error_set(err, EINVAL,
					 "throttling.%s-max needs "
					 "throttling.%s",
					 bucket_names[b], bucket_names[b]);
		if (l->max && l->max < l->avg)
			return error_set(
				err, EINVAL,
				"throttling.%s-max (%llu) cannot be "
				"lower than throttling.%s (%llu)",
				bucket_names[b], (unsigned long long)l->max,
				bucket_names[b], (unsigned long long)l->avg);
		if (l->max_length > 1 && !l->max)
			return error_set(err, EINVAL,
					 "throttling.%s-max-length needs "
					 "throttling.%s-max",
					 bucket_names[b], bucket_names[b]);
		/* A burst of max for max_length seconds must fit a double
		 * exactly enough and not overflow the product. */
		if (l->max_length > 86400)
			return error_set(err, EINVAL,
					 "throttling.%s-max-length: at most "
					 "86400 seconds",
					 bucket_names[b]);
	}
	if (cfg->shares > THROTTLE_SHARES_MAX)
		return error_set(err, EINVAL, "throttling.shares: at most %u",
				 THROTTLE_SHARES_MAX);
	return 0;
}

/* ---- groups ---------------------------------------------------------------- */

struct bucket {
	double level;	    /* units charged and not yet leaked */
	double burst_level; /* the same, leaking at max (bursts > 1 s) */
};

struct throttle_group {
	char name[THROTTLE_GROUP_MAX]; /* "" for a private group */
	struct throttle_config cfg;    /* the limits (group/shares unused) */
	struct throttle_clock clock;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct bucket b[THROTTLE_N_BUCKETS];
	uint64_t last_ns; /* time the buckets last leaked */
	double vtime;	  /* virtual start time of the last admission */
	struct throttle_waiter *queue, **tail;
	unsigned limited;	     /* bit set of the buckets with a limit */
	unsigned refs;		     /* members */
	struct throttle_group *next; /* named groups */
};

struct throttle_member {
	struct throttle_group *g;
	uint32_t shares;
	double vtime;	    /* service received / shares */
	unsigned n_waiting; /* its waiters in g->queue */
	uint64_t waited_ns;
};

/* Named groups of this process. */
static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static struct throttle_group *groups;

static uint64_t host_now(void *opaque)
{
	(void)opaque;
	return clock_monotonic_ns();
}

static void host_wait_until(void *opaque, pthread_cond_t *cond,
			    pthread_mutex_t *mu, uint64_t deadline_ns)
{
	struct timespec ts;

	(void)opaque;
	if (deadline_ns == UINT64_MAX) {
		pthread_cond_wait(cond, mu);
		return;
	}
	ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
	ts.tv_nsec = (long)(deadline_ns % 1000000000u);
	pthread_cond_timedwait(cond, mu, &ts);
}

static const struct throttle_clock host_clock = { host_now, host_wait_until,
						  NULL };

static bool same_limits(const struct throttle_config *a,
			const struct throttle_config *b)
{
	return !memcmp(a->l, b->l, sizeof(a->l)) &&
	       a->iops_size == b->iops_size;
}

static struct throttle_group *group_new(const struct throttle_config *cfg,
					const struct throttle_clock *clock)
{
	struct throttle_group *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;

	if (!g)
		return NULL;
	memcpy(g->name, cfg->group, sizeof(g->name));
	g->name[sizeof(g->name) - 1] = '\0';
	g->cfg = *cfg;
	g->clock = clock ? *clock : host_clock;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < THROTTLE_N_BUCKETS; i++)
		if (cfg->l[i].avg)
			g->limited |= 1u << i;
	g->tail = &g->queue;
	g->last_ns = g->clock.now(g->clock.opaque);
	return g;
}

static void group_free(struct throttle_group *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

struct throttle_member *throttle_member_new(const struct throttle_config *cfg,
					    const struct throttle_clock *clock,
					    struct error *err)
{
	struct throttle_member *m;
	struct throttle_group *g = NULL;

	if (throttle_config_check(cfg, err) < 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		error_set(err, ENOMEM, "throttling: out of memory");
		return NULL;
	}
	m->shares = cfg->shares ? cfg->shares : THROTTLE_SHARES_DEFAULT;
	if (!cfg->group[0]) {
		g = group_new(cfg, clock);
		if (!g)
			goto nomem;
		g->refs = 1;
		m->g = g;
		return m;
	}
	pthread_mutex_lock(&groups_lock);
	for (g = groups; g && strcmp(g->name, cfg->group); g = g->next)
		;
	if (g) {
		if (throttle_config_enabled(cfg) &&
		    !same_limits(cfg, &g->cfg)) {
			pthread_mutex_unlock(&groups_lock);
			free(m);
			error_set(err, EEXIST,
				  "throttling.group %s: the group exists with "
				  "other limits (give the same limits, or "
				  "none, to join it)",
				  cfg->group);
			return NULL;
		}
	} else {
		g = group_new(cfg, clock);
		if (!g) {
			pthread_mutex_unlock(&groups_lock);
			goto nomem;
		}
		g->next = groups;
		groups = g;
	}
	/* A joining member starts at the group's virtual time: no credit
	 * for the time before it joined. */
	pthread_mutex_lock(&g->lock);
	g->refs++;
	m->vtime = g->vtime;
	pthread_mutex_unlock(&g->lock);
	pthread_mutex_unlock(&groups_lock);
	m->g = g;
	return m;
nomem:
	free(m);
	error_set(err, ENOMEM, "throttling: out of memory");
	return NULL;
}

void throttle_member_free(struct throttle_member *m)
{
	struct throttle_group *g;
	bool last;

	if (!m)
		return;
	g = m->g;
	if (g->name[0]) {
		pthread_mutex_lock(&groups_lock);
		pthread_mutex_lock(&g->lock);
		last = --g->refs == 0;
		pthread_mutex_unlock(&g->lock);
		if (last) {
			struct throttle_group **p = &groups;

			while (*p != g)
				p = &(*p)->next;
			*p = g->next;
		}
		pthread_mutex_unlock(&groups_lock);
	} else {
		last = true;
	}
	if (last)
		group_free(g);
	free(m);
}

struct throttle_group *throttle_member_group(struct throttle_member *m)
{
	return m->g;
}

static void leak(struct throttle_group *g, uint64_t now);

int throttle_member_set_rate(struct throttle_member *m, uint64_t iops,
			     uint64_t bps)
{
	struct throttle_group *g = m->g;
	const int which[2] = { THROTTLE_IOPS_TOTAL, THROTTLE_BPS_TOTAL };
	const uint64_t rate[2] = { iops, bps };
	unsigned limited;

	if (g->name[0] || iops > THROTTLE_VALUE_MAX || bps > THROTTLE_VALUE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	leak(g, g->clock.now(g->clock.opaque));
	limited = g->limited;
	for (int k = 0; k < 2; k++) {
		struct throttle_limit *l = &g->cfg.l[which[k]];

		/* a bucket that did not leak while unlimited starts empty */
		if (!l->avg)
			g->b[which[k]] = (struct bucket){ 0 };
		*l = (struct throttle_limit){ .avg = rate[k] };
		if (rate[k])
			limited |= 1u << which[k];
		else
			limited &= ~(1u << which[k]);
	}
	__atomic_store_n(&g->limited, limited, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

uint64_t throttle_member_waited_ns(const struct throttle_member *m)
{
	uint64_t v;

	pthread_mutex_lock(&m->g->lock);
	v = m->waited_ns;
	pthread_mutex_unlock(&m->g->lock);
	return v;
}

/* ---- the leaky buckets ------------------------------------------------------ */

/* Bit set of the buckets a request in this direction is charged to. */
static unsigned buckets_for(bool is_write)
{
	return 1u << THROTTLE_BPS_TOTAL | 1u << THROTTLE_IOPS_TOTAL |
	       (is_write ? 1u << THROTTLE_BPS_WRITE | 1u << THROTTLE_IOPS_WRITE
			 : 1u << THROTTLE_BPS_READ | 1u << THROTTLE_IOPS_READ);
}

static double burst_length(const struct throttle_limit *l)
{
	return l->max_length ? (double)l->max_length : 1.0;
}

/* Leak every bucket for the time since the last leak. */
static void leak(struct throttle_group *g, uint64_t now)
{
	double dt;

	if (now <= g->last_ns)
		return;
	dt = (double)(now - g->last_ns) / NS_PER_S;
	g->last_ns = now;
	for (int i = 0; i < THROTTLE_N_BUCKETS; i++) {
		const struct throttle_limit *l = &g->cfg.l[i];
		struct bucket *b = &g->b[i];

		b->level -= (double)l->avg * dt;
		if (b->level < 0)
			b->level = 0;
		if (burst_length(l) > 1) {
			b->burst_level -= (double)l->max * dt;
			if (b->burst_level < 0)
				b->burst_level = 0;
		}
	}
}

/*
 * Nanoseconds until bucket i lets a request through. Without a burst rate
 * a bucket holds a tenth of a second of its average rate (so short bursts
 * pass unthrottled); with one it holds max for the burst length, and a
 * burst longer than a second is also held to max per second by the burst
 * level, which may hold a tenth of a second of max.
 */
static uint64_t bucket_wait(const struct throttle_group *g, int i)
{
	const struct throttle_limit *l = &g->cfg.l[i];
	const struct bucket *b = &g->b[i];
	double size, burst_size, extra;

	if (!l->avg)
		return 0;
	if (!l->max) {
		size = (double)l->avg / 10;
		burst_size = 0;
	} else {
		size = (double)l->max * burst_length(l);
		burst_size = (double)l->max / 10;
	}
	extra = b->level - size;
	if (extra > 0)
		return (uint64_t)(extra / (double)l->avg * NS_PER_S) + 1;
	if (burst_length(l) > 1) {
		extra = b->burst_level - burst_size;
		if (extra > 0)
			return (uint64_t)(extra / (double)l->max * NS_PER_S) +
			       1;
	}
	return 0;
}

static uint64_t request_wait(const struct throttle_group *g, bool is_write)
{
	unsigned set = buckets_for(is_write);
	uint64_t w = 0;

	for (int i = 0; i < THROTTLE_N_BUCKETS; i++)
		if (set & (1u << i)) {
			uint64_t x = bucket_wait(g, i);

			if (x > w)
				w = x;
		}
	return w;
}

static void charge(struct throttle_group *g, bool is_write, uint64_t bytes)
{
	unsigned set = buckets_for(is_write);
	double ios = 1;

	if (g->cfg.iops_size && bytes > g->cfg.iops_size)
		ios = (double)bytes / (double)g->cfg.iops_size;
	for (int i = 0; i < THROTTLE_N_BUCKETS; i++) {
		double units = i < THROTTLE_IOPS_TOTAL ? (double)bytes : ios;

		if (!(set & (1u << i)))
			continue;
		g->b[i].level += units;
		if (burst_length(&g->cfg.l[i]) > 1)
			g->b[i].burst_level += units;
	}
}

/* ---- the scheduler ---------------------------------------------------------- */

/* The fair-queuing cost of a request: its bytes plus 4 KiB for being one,
 * so that both bandwidth and IOPS limits are shared by shares. */
#define REQUEST_COST 4096.0

void throttle_sched_enqueue(struct throttle_waiter *w)
{
	struct throttle_member *m = w->m;
	struct throttle_group *g = m->g;

	/* A member that was idle takes no credit for its idle time. */
	if (m->n_waiting++ == 0 && m->vtime < g->vtime)
		m->vtime = g->vtime;
	w->admitted = false;
	w->next = NULL;
	*g->tail = w;
	g->tail = &w->next;
}

struct throttle_waiter *throttle_sched_dispatch(struct throttle_group *g,
						uint64_t now, uint64_t *wait_ns)
{
	struct throttle_waiter **best = NULL, **p;
	struct throttle_waiter *w;
	uint64_t min_wait = UINT64_MAX;

	*wait_ns = 0;
	if (!g->queue)
		return NULL;
	leak(g, now);
	/*
	 * The wait does not depend on a request's size, only on its
	 * direction; so of the requests that may go now, admit the one of the
	 * member with the least service per share (first queued on a tie).
	 */
	for (p = &g->queue; *p; p = &(*p)->next) {
		uint64_t x = request_wait(g, (*p)->is_write);

		if (x) {
			if (x < min_wait)
				min_wait = x;
			continue;
		}
		if (!best || (*p)->m->vtime < (*best)->m->vtime)
			best = p;
	}
	if (!best) {
		*wait_ns = min_wait;
		return NULL;
	}
	w = *best;
	*best = w->next;
	if (!*best)
		g->tail = best;
	w->next = NULL;
	w->admitted = true;
	w->m->n_waiting--;
	g->vtime = w->m->vtime;
	w->m->vtime += ((double)w->bytes + REQUEST_COST) * 1000.0 /
		       (double)w->m->shares;
	charge(g, w->is_write, w->bytes);
	return w;
}

void throttle_member_io(struct throttle_member *m, bool is_write,
			uint64_t bytes)
{
	struct throttle_waiter w = { .m = m,
				     .is_write = is_write,
				     .bytes = bytes };
	struct throttle_group *g;
	uint64_t start = 0;
	bool waited = false;

	if (!m)
		return;
	g = m->g;
	/* No limit applies to this direction: nothing to wait for, and the
	 * charge would never be looked at. */
	if (!(__atomic_load_n(&g->limited, __ATOMIC_RELAXED) &
	      buckets_for(is_write)))
		return;
	pthread_mutex_lock(&g->lock);
	throttle_sched_enqueue(&w);
	while (!w.admitted) {
		uint64_t now = g->clock.now(g->clock.opaque), wait;
		struct throttle_waiter *x;

		x = throttle_sched_dispatch(g, now, &wait);
		if (x) {
			if (x != &w)
				pthread_cond_broadcast(&g->cond);
			continue;
		}
		if (!waited) {
			waited = true;
			start = now;
		}
		g->clock.wait_until(g->clock.opaque, &g->cond, &g->lock,
				    now + wait);
	}
	if (waited) {
		uint64_t end = g->clock.now(g->clock.opaque);

		if (end > start)
			m->waited_ns += end - start;
	}
	pthread_mutex_unlock(&g->lock);
}
