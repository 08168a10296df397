/* The netdev core: thread, poll loop, queues and client hand-off (netdev.h). */
#include "net/netdev.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/compiler.h"
#include "util/log.h"

#define LOG_SUB "net"

struct frame {
	size_t len;
	uint8_t data[];
};

struct netdev {
	const struct netdev_backend_ops *ops;
	void *be;
	char name[32];
	int evfd;
	pthread_t thread;
	bool started;

	/* lock protects everything down to txq */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct netdev_client client;
	bool has_client;
	bool busy; /* the thread is inside a client callback */
	bool stop;
	struct frame *txq[NETDEV_TX_QUEUE_MAX];
	unsigned tx_head, tx_n;

	/* set from any thread, consumed by the netdev thread */
	bool kick, rx_ready;

	/* self-announcement (under lock): rounds left, the next one's
	 * number and time (CLOCK_MONOTONIC ns) */
	struct netdev_announce_params ann;
	unsigned ann_left, ann_round;
	uint64_t ann_next;

	/* netdev thread only */
	struct frame *rxq[NETDEV_RX_QUEUE_MAX];
	unsigned rx_head, rx_n;
	bool rx_blocked; /* client said -EAGAIN; wait for rx_ready */
	bool in_client;
	uint8_t *linear; /* NETDEV_MAX_FRAME bytes for gathering iovecs */
	struct netdev_pollset ps;

	struct netdev_stats stats; /* updated with atomics */
};

static void stat_add(uint64_t *ctr, uint64_t v)
{
	__atomic_fetch_add(ctr, v, __ATOMIC_RELAXED);
}

/* ---- poll set --------------------------------------------------------------- */

int netdev_pollset_add(struct netdev_pollset *ps, int fd, short events)
{
	if (ps->n == ps->cap) {
		int cap = ps->cap ? ps->cap * 2 : 16;
		struct pollfd *f = realloc(ps->fds, cap * sizeof(*f));
		if (!f)
			return -1;
		ps->fds = f;
		ps->cap = cap;
	}
	ps->fds[ps->n].fd = fd;
	ps->fds[ps->n].events = events;
	ps->fds[ps->n].revents = 0;
	return ps->n++;
}

short netdev_pollset_revents(const struct netdev_pollset *ps, int idx)
{
	if (idx < 0 || idx >= ps->n)
		return 0;
	return ps->fds[idx].revents;
}

/* ---- client hand-off ---------------------------------------------------------- */

/* Enter a client callback section: copy the client, mark busy. */
static bool client_enter(struct netdev *nd, struct netdev_client *c)
{
	pthread_mutex_lock(&nd->lock);
	if (!nd->has_client) {
		pthread_mutex_unlock(&nd->lock);
		return false;
	}
	*c = nd->client;
	nd->busy = true;
	pthread_mutex_unlock(&nd->lock);
	nd->in_client = true;
	return true;
}

static void client_leave(struct netdev *nd)
{
	nd->in_client = false;
	pthread_mutex_lock(&nd->lock);
	nd->busy = false;
	pthread_cond_broadcast(&nd->cond);
	pthread_mutex_unlock(&nd->lock);
}

void netdev_attach(struct netdev *nd, const struct netdev_client *client)
{
	pthread_mutex_lock(&nd->lock);
	nd->client = *client;
	nd->has_client = true;
	pthread_mutex_unlock(&nd->lock);
	netdev_rx_ready(nd);
}

void netdev_detach(struct netdev *nd)
{
	pthread_mutex_lock(&nd->lock);
	nd->has_client = false;
	while (nd->busy)
		pthread_cond_wait(&nd->cond, &nd->lock);
	pthread_mutex_unlock(&nd->lock);
}

static void rxq_drop_all(struct netdev *nd)
{
	while (nd->rx_n) {
		free(nd->rxq[nd->rx_head]);
		nd->rx_head = (nd->rx_head + 1) % NETDEV_RX_QUEUE_MAX;
		nd->rx_n--;
		stat_add(&nd->stats.rx_dropped, 1);
	}
}

/* Offer queued frames to the client until it is full (netdev thread). */
static void rx_flush(struct netdev *nd)
{
	struct netdev_client c;

	if (!nd->rx_n || nd->rx_blocked || nd->in_client)
		return;
	if (!client_enter(nd, &c)) {
		rxq_drop_all(nd);
		return;
	}
	while (nd->rx_n) {
		struct frame *f = nd->rxq[nd->rx_head];
		struct iovec iov = { f->data, f->len };
		int r = c.receive(c.opaque, &iov, 1);

		if (r == -EAGAIN) {
			nd->rx_blocked = true;
			break;
		}
		nd->rx_head = (nd->rx_head + 1) % NETDEV_RX_QUEUE_MAX;
		nd->rx_n--;
		if (r == 0) {
			stat_add(&nd->stats.rx_frames, 1);
			stat_add(&nd->stats.rx_bytes, f->len);
		} else {
			stat_add(&nd->stats.rx_dropped, 1);
		}
		free(f);
	}
	client_leave(nd);
}

static void rxq_append(struct netdev *nd, const uint8_t *frame, size_t len)
{
	struct frame *f;

	if (nd->rx_n == NETDEV_RX_QUEUE_MAX ||
	    !(f = malloc(sizeof(*f) + len))) {
		stat_add(&nd->stats.rx_dropped, 1);
		return;
	}
	f->len = len;
	memcpy(f->data, frame, len);
	nd->rxq[(nd->rx_head + nd->rx_n) % NETDEV_RX_QUEUE_MAX] = f;
	nd->rx_n++;
}

void netdev_deliver(struct netdev *nd, const uint8_t *frame, size_t len)
{
	struct netdev_client c;
	int r;

	/* Keep order behind queued frames; never re-enter the client. */
	if (nd->rx_n || nd->in_client) {
		rxq_append(nd, frame, len);
		rx_flush(nd);
		return;
	}
	if (!client_enter(nd, &c)) {
		stat_add(&nd->stats.rx_dropped, 1);
		return;
	}
	struct iovec iov = { (void *)frame, len };
	r = c.receive(c.opaque, &iov, 1);
	client_leave(nd);
	if (r == 0) {
		stat_add(&nd->stats.rx_frames, 1);
		stat_add(&nd->stats.rx_bytes, len);
	} else if (r == -EAGAIN) {
		nd->rx_blocked = true;
		rxq_append(nd, frame, len);
	} else {
		stat_add(&nd->stats.rx_dropped, 1);
	}
}

static void client_poll(struct netdev *nd)
{
	struct netdev_client c;

	if (!client_enter(nd, &c))
		return;
	if (c.poll)
		c.poll(c.opaque);
	client_leave(nd);
	/* frames the back end answered with while poll() ran */
	rx_flush(nd);
}

/* ---- guest -> outside ----------------------------------------------------------- */

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > NETDEV_MAX_FRAME)
			return NETDEV_MAX_FRAME + 1;
		t += iov[i].iov_len;
	}
	return t;
}

static void iov_gather(uint8_t *dst, const struct iovec *iov, int n)
{
	for (int i = 0; i < n; i++) {
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

int netdev_send(struct netdev *nd, const struct iovec *iov, int n_iov)
{
	size_t len = iov_total(iov, n_iov);
	struct frame *f;

	if (len < 14 || len > NETDEV_MAX_FRAME) {
		stat_add(&nd->stats.tx_dropped, 1);
		return -EMSGSIZE;
	}
	if (netdev_on_thread(nd)) {
		const uint8_t *p = iov[0].iov_base;
		if (n_iov != 1) {
			iov_gather(nd->linear, iov, n_iov);
			p = nd->linear;
		}
		stat_add(&nd->stats.tx_frames, 1);
		stat_add(&nd->stats.tx_bytes, len);
		nd->ops->output(nd->be, p, len);
		return 0;
	}
	f = malloc(sizeof(*f) + len);
	if (!f) {
		stat_add(&nd->stats.tx_dropped, 1);
		return -ENOBUFS;
	}
	f->len = len;
	iov_gather(f->data, iov, n_iov);
	pthread_mutex_lock(&nd->lock);
	if (nd->tx_n == NETDEV_TX_QUEUE_MAX) {
		pthread_mutex_unlock(&nd->lock);
		free(f);
		stat_add(&nd->stats.tx_dropped, 1);
		return -ENOBUFS;
	}
	nd->txq[(nd->tx_head + nd->tx_n) % NETDEV_TX_QUEUE_MAX] = f;
	nd->tx_n++;
	pthread_mutex_unlock(&nd->lock);
	netdev_wake(nd);
	return 0;
}

/* Send the frames other threads queued (netdev thread). */
static void txq_drain(struct netdev *nd)
{
	for (;;) {
		struct frame *f = NULL;

		pthread_mutex_lock(&nd->lock);
		if (nd->tx_n) {
			f = nd->txq[nd->tx_head];
			nd->tx_head = (nd->tx_head + 1) % NETDEV_TX_QUEUE_MAX;
			nd->tx_n--;
		}
		pthread_mutex_unlock(&nd->lock);
		if (!f)
			return;
		stat_add(&nd->stats.tx_frames, 1);
		stat_add(&nd->stats.tx_bytes, f->len);
		nd->ops->output(nd->be, f->data, f->len);
		free(f);
	}
}

/* ---- self-announcement ------------------------------------------------------------ */

size_t netdev_rarp_frame(uint8_t *buf, const uint8_t mac[6])
{
	/* RFC 903 over Ethernet: hardware type 1, protocol IPv4, address
	 * lengths 6 and 4, opcode 3 (reverse request) */
	static const uint8_t arp_hdr[8] = { 0, 1, 0x08, 0x00, 6, 4, 0, 3 };
	uint8_t *p = buf;

	memset(buf, 0, NETDEV_RARP_LEN);
	memset(p, 0xff, 6); /* destination: broadcast */
	memcpy(p + 6, mac, 6);
	p[12] = 0x80; /* ethertype 0x8035 */
	p[13] = 0x35;
	p += 14;
	memcpy(p, arp_hdr, sizeof(arp_hdr));
	p += sizeof(arp_hdr);
	memcpy(p, mac, 6); /* sender hardware address */
	p += 6 + 4;	   /* sender protocol address 0.0.0.0 */
	memcpy(p, mac, 6); /* target hardware address */
	/* target protocol address 0.0.0.0, then padding to 60 bytes */
	return NETDEV_RARP_LEN;
}

int netdev_announce(struct netdev *nd, const struct netdev_announce_params *p,
		    struct error *err)
{
	static const struct netdev_announce_params def =
		NETDEV_ANNOUNCE_DEFAULTS;

	if (!p)
		p = &def;
	if (p->rounds < 1 || p->rounds > NETDEV_ANNOUNCE_MAX_ROUNDS)
		return error_set(err, EINVAL,
				 "announce rounds %u: expected 1..%u",
				 p->rounds, NETDEV_ANNOUNCE_MAX_ROUNDS);
	if (p->initial_ms > NETDEV_ANNOUNCE_MAX_MS ||
	    p->max_ms > NETDEV_ANNOUNCE_MAX_MS ||
	    p->step_ms > NETDEV_ANNOUNCE_MAX_MS)
		return error_set(err, EINVAL,
				 "announce intervals: initial, max and step "
				 "are at most %u ms",
				 NETDEV_ANNOUNCE_MAX_MS);
	if (p->max_ms < p->initial_ms)
		return error_set(err, EINVAL,
				 "announce max %u ms is below initial %u ms",
				 p->max_ms, p->initial_ms);
	pthread_mutex_lock(&nd->lock);
	nd->ann = *p;
	nd->ann_left = p->rounds;
	nd->ann_round = 0;
	nd->ann_next = clock_monotonic_ns();
	pthread_mutex_unlock(&nd->lock);
	netdev_wake(nd);
	return 0;
}

/* Run a due announce round (netdev thread); lower *timeout_ms to the next
 * one. */
static void announce_run(struct netdev *nd, int *timeout_ms)
{
	uint64_t now = clock_monotonic_ns();
	bool due;

	pthread_mutex_lock(&nd->lock);
	due = nd->ann_left && now >= nd->ann_next;
	if (due) {
		uint64_t ms = (uint64_t)nd->ann.initial_ms +
			      (uint64_t)nd->ann_round * nd->ann.step_ms;
		if (ms > nd->ann.max_ms)
			ms = nd->ann.max_ms;
		nd->ann_left--;
		nd->ann_round++;
		nd->ann_next = now + ms * 1000000;
	}
	unsigned left = nd->ann_left;
	uint64_t next = nd->ann_next;
	pthread_mutex_unlock(&nd->lock);

	if (due) {
		struct netdev_client c;
		uint8_t mac[6], f[NETDEV_RARP_LEN];
		bool send = false;

		if (!nd->in_client && client_enter(nd, &c)) {
			if (c.announce)
				send = c.announce(c.opaque, mac);
			client_leave(nd);
		}
		if (send) {
			netdev_rarp_frame(f, mac);
			stat_add(&nd->stats.tx_frames, 1);
			stat_add(&nd->stats.tx_bytes, sizeof(f));
			nd->ops->output(nd->be, f, sizeof(f));
		}
		now = clock_monotonic_ns();
	}
	if (left) {
		uint64_t wait = next > now ? (next - now + 999999) / 1000000
					   : 0;
		if (*timeout_ms < 0 || (uint64_t)*timeout_ms > wait)
			*timeout_ms = (int)wait;
	}
}

/* ---- the thread ------------------------------------------------------------------ */

void netdev_wake(struct netdev *nd)
{
	uint64_t one = 1;

	if (write(nd->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn(LOG_SUB, "%s: eventfd write: %s", nd->name,
			 strerror(errno));
}

void netdev_rx_ready(struct netdev *nd)
{
	__atomic_store_n(&nd->rx_ready, true, __ATOMIC_RELEASE);
	if (!netdev_on_thread(nd))
		netdev_wake(nd);
}

void netdev_kick(struct netdev *nd)
{
	__atomic_store_n(&nd->kick, true, __ATOMIC_RELEASE);
	if (!netdev_on_thread(nd))
		netdev_wake(nd);
}

/* The netdev whose thread this is (NULL on other threads). */
static __thread const struct netdev *current_netdev;

bool netdev_on_thread(const struct netdev *nd)
{
	return current_netdev == nd;
}

/* One loop iteration: pending work, then poll() for at most max_wait ms
 * (-1: until woken or the back end's next timer). */
static void netdev_iterate(struct netdev *nd, int max_wait)
{
	uint64_t cnt;

	if (read(nd->evfd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warn(LOG_SUB, "%s: eventfd read: %s", nd->name,
			 strerror(errno));
	if (__atomic_exchange_n(&nd->rx_ready, false, __ATOMIC_ACQUIRE)) {
		nd->rx_blocked = false;
		rx_flush(nd);
	}
	txq_drain(nd);
	if (__atomic_exchange_n(&nd->kick, false, __ATOMIC_ACQUIRE))
		client_poll(nd);

	int timeout = max_wait;
	nd->ps.n = 0;
	netdev_pollset_add(&nd->ps, nd->evfd, POLLIN);
	nd->ops->poll_prepare(nd->be, &nd->ps, &timeout);
	announce_run(nd, &timeout);
	/* a kick from our own callbacks: do not sleep */
	if (__atomic_load_n(&nd->kick, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&nd->rx_ready, __ATOMIC_ACQUIRE))
		timeout = 0;
	int r = poll(nd->ps.fds, nd->ps.n, timeout);
	if (r < 0 && errno == EINTR)
		return;
	nd->ops->poll_dispatch(nd->be, &nd->ps, r < 0);
}

static void *netdev_thread(void *arg)
{
	struct netdev *nd = arg;

	current_netdev = nd;
	for (;;) {
		pthread_mutex_lock(&nd->lock);
		bool stop = nd->stop;
		pthread_mutex_unlock(&nd->lock);
		if (stop)
			break;
		netdev_iterate(nd, -1);
	}
	return NULL;
}

void netdev_run_once(struct netdev *nd)
{
	const struct netdev *prev = current_netdev;

	if (nd->started)
		return;
	current_netdev = nd;
	/* twice: work queued by the first round's callbacks runs now */
	netdev_iterate(nd, 0);
	netdev_iterate(nd, 0);
	current_netdev = prev;
}

/* ---- life cycle -------------------------------------------------------------------- */

struct netdev *netdev_new(const struct netdev_backend_ops *ops, void *be,
			  const char *name, struct error *err)
{
	struct netdev *nd = calloc(1, sizeof(*nd));

	if (!nd) {
		error_set(err, ENOMEM, "net %s: out of memory", name);
		return NULL;
	}
	nd->linear = malloc(NETDEV_MAX_FRAME);
	if (!nd->linear) {
		free(nd);
		error_set(err, ENOMEM, "net %s: out of memory", name);
		return NULL;
	}
	nd->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (nd->evfd < 0) {
		error_set(err, errno, "net %s: eventfd: %s", name,
			  strerror(errno));
		free(nd->linear);
		free(nd);
		return NULL;
	}
	nd->ops = ops;
	nd->be = be;
	snprintf(nd->name, sizeof(nd->name), "%s", name);
	pthread_mutex_init(&nd->lock, NULL);
	pthread_cond_init(&nd->cond, NULL);
	return nd;
}

int netdev_start(struct netdev *nd, struct error *err)
{
	sigset_t all, old;
	int r;

	/* The netdev thread takes no signals: they belong to the main loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&nd->thread, NULL, netdev_thread, nd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return error_set(err, r, "net %s: cannot start thread: %s",
				 nd->name, strerror(r));
	nd->started = true;
	char tname[16]; /* the kernel keeps 15 characters */
	snprintf(tname, sizeof(tname), "net-%.11s", nd->name);
	pthread_setname_np(nd->thread, tname);
	return 0;
}

void netdev_get_stats(struct netdev *nd, struct netdev_stats *st)
{
	st->tx_frames = __atomic_load_n(&nd->stats.tx_frames, __ATOMIC_RELAXED);
	st->tx_bytes = __atomic_load_n(&nd->stats.tx_bytes, __ATOMIC_RELAXED);
	st->tx_dropped = __atomic_load_n(&nd->stats.tx_dropped,
					 __ATOMIC_RELAXED);
	st->rx_frames = __atomic_load_n(&nd->stats.rx_frames, __ATOMIC_RELAXED);
	st->rx_bytes = __atomic_load_n(&nd->stats.rx_bytes, __ATOMIC_RELAXED);
	st->rx_dropped = __atomic_load_n(&nd->stats.rx_dropped,
					 __ATOMIC_RELAXED);
}

const char *netdev_kind(const struct netdev *nd)
{
	return nd->ops->kind;
}

const char *netdev_name(const struct netdev *nd)
{
	return nd->name;
}

void *netdev_backend(struct netdev *nd, const struct netdev_backend_ops *ops)
{
	return nd && nd->ops == ops ? nd->be : NULL;
}

void netdev_count_tx_dropped(struct netdev *nd, uint64_t n)
{
	stat_add(&nd->stats.tx_dropped, n);
}

void netdev_destroy(struct netdev *nd)
{
	if (!nd)
		return;
	if (nd->started) {
		pthread_mutex_lock(&nd->lock);
		nd->stop = true;
		pthread_mutex_unlock(&nd->lock);
		netdev_wake(nd);
		pthread_join(nd->thread, NULL);
		nd->started = false;
	}
	rxq_drop_all(nd);
	while (nd->tx_n) {
		free(nd->txq[nd->tx_head]);
		nd->tx_head = (nd->tx_head + 1) % NETDEV_TX_QUEUE_MAX;
		nd->tx_n--;
	}
	if (nd->ops->destroy)
		nd->ops->destroy(nd->be);
	close(nd->evfd);
	pthread_mutex_destroy(&nd->lock);
	pthread_cond_destroy(&nd->cond);
	free(nd->ps.fds);
	free(nd->linear);
	free(nd);
}
