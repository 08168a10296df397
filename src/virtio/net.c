/*
 * virtio-net (virtio 1.2, section 5.1). See net.h; docs/net.md describes
 * the device as built.
 */
#include "virtio/net.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "net/swport.h"
#include "util/log.h"
#include "util/parse.h"

#define LOG_SUB "virtio-net"

#define RXQ 0
#define TXQ 1
/* transmit requests per poll before yielding to receive work */
#define TX_BUDGET 256

/* 5.1.6: struct virtio_net_hdr (little endian) */
#define NET_HDR_LEN	     12
#define NET_HDR_F_NEEDS_CSUM 1
#define NET_HDR_F_DATA_VALID 2
#define NET_HDR_GSO_NONE     0
#define VIRTIO_NET_S_LINK_UP 1

struct virtio_net {
	struct virtio_dev_ops ops;
	struct netdev *nd;
	bool own_nd;
	char id[16];
	uint8_t config[VIRTIO_NET_CONFIG_SIZE];

	/* lock: held by the netdev-thread callbacks while they use the
	 * queues, and by start/reset (vCPU thread, under the transport
	 * lock: transport lock -> this lock). */
	pthread_mutex_t lock;
	struct virtio_dev *vd; /* NULL when not started */
	uint64_t features;     /* negotiated at start */

	/* netdev thread only (under lock) */
	struct virtq_req **rx_stash; /* popped, not yet used rx buffers */
	unsigned rx_n, rx_cap;
	struct virtq_req tx_req;
	uint8_t *tx_buf; /* NETDEV_MAX_FRAME */

	uint64_t tx_bad, rx_too_big; /* atomics */
};

static bool has_feature(const struct virtio_net *n, unsigned bit)
{
	return n->features & (1ull << bit);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- transmit (5.1.6.2) ------------------------------------------------------- */

/* Ones' complement sum of p[0..len) as 16-bit big-endian words (RFC 1071). */
static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < len)
		sum += (uint32_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int virtio_net_handle_tx(struct virtio_net *n, const struct virtq_req *req)
{
	uint8_t hdr[NET_HDR_LEN];
	size_t flen;

	/* 5.1.6.2: every packet is preceded by a virtio_net_hdr. */
	if (req->out_len < NET_HDR_LEN)
		return -EINVAL;
	flen = req->out_len - NET_HDR_LEN;
	if (flen < 14 || flen > NETDEV_MAX_FRAME)
		goto drop;
	virtq_req_read(req, 0, hdr, NET_HDR_LEN);
	/* We offer no GSO feature: a GSO packet is a driver bug; drop it. */
	if (hdr[1] != NET_HDR_GSO_NONE)
		goto drop;
	if (virtq_req_read(req, NET_HDR_LEN, n->tx_buf, flen) != flen)
		goto drop;
	if ((hdr[0] & NET_HDR_F_NEEDS_CSUM) &&
	    has_feature(n, VIRTIO_NET_F_CSUM_BIT)) {
		/* 5.1.6.2.1: checksum from csum_start to the end, stored at
		 * csum_start + csum_offset (the driver put the pseudo-header
		 * sum there). */
		size_t start = get_le16(hdr + 6), off = get_le16(hdr + 8);
		if (start + off + 2 > flen)
			goto drop;
		uint8_t *field = n->tx_buf + start + off;
		uint16_t c = inet_csum(n->tx_buf + start, flen - start);
		/* a zero UDP checksum means "none": send 0xffff instead */
		if (c == 0)
			c = 0xffff;
		field[0] = c >> 8;
		field[1] = c & 0xff;
	}
	struct iovec iov = { n->tx_buf, flen };
	if (netdev_send(n->nd, &iov, 1) < 0)
		goto drop;
	return 0;
drop:
	__atomic_fetch_add(&n->tx_bad, 1, __ATOMIC_RELAXED);
	return 1;
}

/* The netdev's poll callback: drain the transmit queue (netdev thread). */
static void net_poll(void *opaque)
{
	struct virtio_net *n = opaque;
	struct virtio_dev *vd;
	struct virtq *vq;
	unsigned budget = TX_BUDGET;
	bool pushed = false;
	int rc = 0;

	pthread_mutex_lock(&n->lock);
	vd = n->vd;
	if (!vd || virtio_broken(vd) || !(vq = virtio_queue(vd, TXQ)))
		goto out;
	/* no kicks while we drain; re-enabled (and re-checked) below */
	virtq_set_notify(vq, false);
	while (budget && (rc = virtq_pop(vq, &n->tx_req)) > 0) {
		budget--;
		if (virtio_net_handle_tx(n, &n->tx_req) < 0) {
			virtio_device_error(vd, "net: transmit request "
						"without virtio_net_hdr");
			goto out;
		}
		virtq_push(vq, &n->tx_req, 0);
		pushed = true;
	}
	if (rc < 0) {
		virtio_device_error(vd, "net: malformed transmit queue");
		goto out;
	}
	if (pushed)
		virtio_notify(vd, TXQ);
	virtq_set_notify(vq, true);
	if (!budget || virtq_has_work(vq))
		netdev_kick(n->nd); /* more to do: come back after rx work */
out:
	pthread_mutex_unlock(&n->lock);
}

/* ---- receive (5.1.6.3, 5.1.6.4) --------------------------------------------------- */

static void rx_stash_free(struct virtio_net *n)
{
	struct gmem *gm = n->vd ? virtio_mem(n->vd) : NULL;

	for (unsigned i = 0; i < n->rx_cap; i++) {
		if (i < n->rx_n && gm)
			virtq_req_release(gm, n->rx_stash[i]);
		free(n->rx_stash[i]);
	}
	free(n->rx_stash);
	n->rx_stash = NULL;
	n->rx_n = n->rx_cap = 0;
}

/* Make sure stash slot i exists. */
static bool rx_stash_slot(struct virtio_net *n, unsigned i)
{
	if (i < n->rx_cap)
		return true;
	if (i >= VIRTIO_NET_QUEUE_SIZE)
		return false;
	unsigned cap = n->rx_cap ? n->rx_cap * 2 : 4;
	if (cap > VIRTIO_NET_QUEUE_SIZE)
		cap = VIRTIO_NET_QUEUE_SIZE;
	struct virtq_req **s = realloc(n->rx_stash, cap * sizeof(*s));
	if (!s)
		return false;
	n->rx_stash = s;
	for (unsigned k = n->rx_cap; k < cap; k++) {
		s[k] = malloc(sizeof(*s[k]));
		if (!s[k]) {
			n->rx_cap = k;
			return i < k;
		}
	}
	n->rx_cap = cap;
	return true;
}

/* Copy len bytes of the frame from (iov, offset *pos) into buffer req at
 * in-offset off. */
static void rx_copy(const struct virtq_req *req, size_t off,
		    const struct iovec *iov, int n_iov, size_t *pos, size_t len)
{
	size_t skip = *pos;

	*pos += len;
	for (int i = 0; i < n_iov && len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t l = iov[i].iov_len - skip;
		if (l > len)
			l = len;
		virtq_req_write(req, off,
				(const uint8_t *)iov[i].iov_base + skip, l);
		off += l;
		len -= l;
		skip = 0;
	}
}

/* The netdev's receive callback: one frame toward the guest (netdev
 * thread). -EAGAIN when the guest has not posted enough buffers. */
static int net_receive(void *opaque, const struct iovec *iov, int n_iov)
{
	struct virtio_net *n = opaque;
	struct virtio_dev *vd;
	struct virtq *vq;
	size_t flen = 0, need, room = 0;
	unsigned used = 0;
	bool mrg;
	int r = 0;

	for (int i = 0; i < n_iov; i++)
		flen += iov[i].iov_len;
	pthread_mutex_lock(&n->lock);
	vd = n->vd;
	if (!vd || virtio_broken(vd) || !(vq = virtio_queue(vd, RXQ))) {
		r = -ENETDOWN;
		goto out;
	}
	mrg = has_feature(n, VIRTIO_NET_F_MRG_RXBUF_BIT);
	need = NET_HDR_LEN + flen;
	/* Gather buffers: one without MRG_RXBUF (it must hold the whole
	 * packet), as many as needed with it (5.1.6.3.1). */
	while (room < need) {
		if (used == n->rx_n) {
			if ((!mrg && used == 1) || !rx_stash_slot(n, used))
				break;
			int rc = virtq_pop(vq, n->rx_stash[used]);
			if (rc == 0) {
				r = -EAGAIN;
				goto out;
			}
			/* 5.1.6.3.1: receive buffers are device-writable and
			 * hold at least the header. */
			if (rc < 0 || n->rx_stash[used]->n_out ||
			    n->rx_stash[used]->in_len < NET_HDR_LEN) {
				virtio_device_error(
					vd, rc < 0 ? "net: malformed receive "
						     "queue"
						   : "net: receive buffer "
						     "smaller than the header "
						     "or device-readable");
				r = -EIO;
				goto out;
			}
			n->rx_n++;
		}
		room += n->rx_stash[used]->in_len;
		used++;
	}
	if (room < need) {
		/* Larger than the guest's buffer (or than a whole queue of
		 * them): drop the frame, keep the buffers for the next. */
		__atomic_fetch_add(&n->rx_too_big, 1, __ATOMIC_RELAXED);
		r = -EMSGSIZE;
		goto out;
	}

	uint8_t hdr[NET_HDR_LEN] = { 0 };
	/* slirp and the other back ends deliver frames with correct
	 * checksums: tell the driver it need not verify them (5.1.6.4). */
	if (has_feature(n, VIRTIO_NET_F_GUEST_CSUM_BIT))
		hdr[0] = NET_HDR_F_DATA_VALID;
	hdr[1] = NET_HDR_GSO_NONE;
	put_le16(hdr + 10, (uint16_t)used); /* num_buffers */
	virtq_req_write(n->rx_stash[0], 0, hdr, NET_HDR_LEN);

	size_t pos = 0;
	for (unsigned i = 0; i < used; i++) {
		const struct virtq_req *q = n->rx_stash[i];
		size_t off = i == 0 ? NET_HDR_LEN : 0;
		size_t len = q->in_len - off;
		if (len > flen - pos)
			len = flen - pos;
		rx_copy(q, off, iov, n_iov, &pos, len);
		virtq_push(vq, q, (uint32_t)(off + len));
	}
	/* rotate: unused buffers, in order, to the front */
	struct virtq_req *done[VIRTIO_NET_QUEUE_SIZE];
	memcpy(done, n->rx_stash, used * sizeof(*done));
	memmove(n->rx_stash, n->rx_stash + used,
		(n->rx_cap - used) * sizeof(*done));
	memcpy(n->rx_stash + n->rx_cap - used, done, used * sizeof(*done));
	n->rx_n -= used;
	virtio_notify(vd, RXQ);
out:
	pthread_mutex_unlock(&n->lock);
	return r;
}

/* ---- virtio_dev_ops --------------------------------------------------------------- */

static void net_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_net *n = opaque;

	memset(buf, 0, len);
	if (off < VIRTIO_NET_CONFIG_SIZE)
		memcpy(buf, n->config + off,
		       len < VIRTIO_NET_CONFIG_SIZE - off
			       ? len
			       : VIRTIO_NET_CONFIG_SIZE - off);
}

static void net_start(void *opaque, struct virtio_dev *vd)
{
	struct virtio_net *n = opaque;

	pthread_mutex_lock(&n->lock);
	n->features = virtio_features(vd);
	n->vd = vd;
	pthread_mutex_unlock(&n->lock);
	/* buffers may be queued already */
	netdev_rx_ready(n->nd);
	netdev_kick(n->nd);
}

static void net_reset(void *opaque)
{
	struct virtio_net *n = opaque;

	pthread_mutex_lock(&n->lock);
	rx_stash_free(n);
	n->vd = NULL;
	pthread_mutex_unlock(&n->lock);
}

/*
 * VM save: transmit requests are popped and pushed under the lock, so none
 * is in flight once we hold it. The receive buffers held in rx_stash are
 * the rx_n most recent pops, in order (pops append, frames consume from
 * the front): they go back to the queue (virtq_unpop) and are popped again
 * after a restore. Frames arriving until start() are dropped, as on a
 * wire while the VM is paused.
 */
static void net_quiesce(void *opaque)
{
	struct virtio_net *n = opaque;

	pthread_mutex_lock(&n->lock);
	struct virtq *vq = n->vd ? virtio_queue(n->vd, RXQ) : NULL;
	if (vq && n->rx_n)
		virtq_unpop(vq, (uint16_t)n->rx_n);
	rx_stash_free(n);
	n->vd = NULL;
	pthread_mutex_unlock(&n->lock);
}

static void net_queue_notify(void *opaque, unsigned q)
{
	struct virtio_net *n = opaque;

	if (q == RXQ)
		netdev_rx_ready(n->nd);
	else if (q == TXQ)
		netdev_kick(n->nd);
}

/* ---- life cycle --------------------------------------------------------------------- */

struct virtio_net *virtio_net_create(const struct virtio_net_config *cfg,
				     struct error *err)
{
	struct virtio_net *n;
	uint32_t mtu = cfg->user.mtu ? cfg->user.mtu : NET_USER_MTU_DEFAULT;

	if (!cfg->netdev && cfg->backend != VIRTIO_NET_BACKEND_USER &&
	    cfg->backend != VIRTIO_NET_BACKEND_SWITCH) {
		error_set(err, EINVAL, "virtio-net %s: no back end", cfg->id);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->tx_buf = malloc(NETDEV_MAX_FRAME))) {
		free(n);
		error_set(err, ENOMEM, "virtio-net %s: out of memory", cfg->id);
		return NULL;
	}
	snprintf(n->id, sizeof(n->id), "%s", cfg->id[0] ? cfg->id : "net");
	pthread_mutex_init(&n->lock, NULL);
	if (cfg->netdev) {
		n->nd = cfg->netdev;
	} else if (cfg->backend == VIRTIO_NET_BACKEND_SWITCH) {
		uint32_t sw_mtu = 0;

		n->nd = net_swport_create(cfg->switch_path, cfg->portgroup,
					  cfg->mac, n->id, &sw_mtu, err);
		if (!n->nd) {
			pthread_mutex_destroy(&n->lock);
			free(n->tx_buf);
			free(n);
			return NULL;
		}
		n->own_nd = true;
		if (!cfg->user.mtu || cfg->user.mtu > sw_mtu)
			mtu = sw_mtu;
	} else {
		n->nd = net_user_create(&cfg->user, n->id, err);
		if (!n->nd) {
			pthread_mutex_destroy(&n->lock);
			free(n->tx_buf);
			free(n);
			return NULL;
		}
		n->own_nd = true;
	}

	/* 5.1.4: mac, status, max_virtqueue_pairs, mtu */
	memcpy(n->config, cfg->mac, 6);
	put_le16(n->config + 6, VIRTIO_NET_S_LINK_UP);
	put_le16(n->config + 8, 1);
	put_le16(n->config + 10, (uint16_t)mtu);

	n->ops = (struct virtio_dev_ops){
		.name = "virtio-net",
		.device_id = VIRTIO_ID_NET,
		.n_queues = 2,
		.queue_max = VIRTIO_NET_QUEUE_SIZE,
		.features = 1ull << VIRTIO_NET_F_CSUM_BIT |
			    1ull << VIRTIO_NET_F_GUEST_CSUM_BIT |
			    1ull << VIRTIO_NET_F_MTU_BIT |
			    1ull << VIRTIO_NET_F_MAC_BIT |
			    1ull << VIRTIO_NET_F_MRG_RXBUF_BIT |
			    1ull << VIRTIO_NET_F_STATUS_BIT,
		.config_size = VIRTIO_NET_CONFIG_SIZE,
		.config_read = net_config_read,
		.config_write = NULL, /* mac is read-only without legacy */
		.start = net_start,
		.reset = net_reset,
		.quiesce = net_quiesce,
		.queue_notify = net_queue_notify,
	};
	/* until a driver negotiates: what we offer (for handle_tx users) */
	n->features = n->ops.features;

	struct netdev_client c = { net_receive, net_poll, n };
	netdev_attach(n->nd, &c);
	return n;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	netdev_detach(n->nd);
	if (n->own_nd)
		netdev_destroy(n->nd);
	net_reset(n);
	pthread_mutex_destroy(&n->lock);
	free(n->tx_buf);
	free(n);
}

const struct virtio_dev_ops *virtio_net_dev_ops(struct virtio_net *n)
{
	return &n->ops;
}

struct netdev *virtio_net_netdev(struct virtio_net *n)
{
	return n->nd;
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *st)
{
	netdev_get_stats(n->nd, &st->nd);
	st->tx_bad = __atomic_load_n(&n->tx_bad, __ATOMIC_RELAXED);
	st->rx_too_big = __atomic_load_n(&n->rx_too_big, __ATOMIC_RELAXED);
}

/* ---- configuration and --net parsing ---------------------------------------------- */

void virtio_net_config_init(struct virtio_net_config *cfg, unsigned index)
{
	static const uint8_t mac[6] = VIRTIO_NET_DEFAULT_MAC;

	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = VIRTIO_NET_BACKEND_USER;
	snprintf(cfg->id, sizeof(cfg->id), "net%u", index % 1000);
	memcpy(cfg->mac, mac, 6);
	cfg->mac[5] = (uint8_t)(cfg->mac[5] + index);
}

int virtio_net_parse_mac(const char *s, uint8_t mac[6], struct error *err)
{
	uint8_t m[6];

	if (parse_mac(s, m) < 0)
		return error_set(err, EINVAL,
				 "mac=%s: expected six hex byte pairs "
				 "like 52:54:00:12:34:56",
				 s);
	if (m[0] & 1)
		return error_set(err, EINVAL,
				 "mac=%s: a multicast address (the first byte "
				 "must be even, e.g. 52:54:00:...)",
				 s);
	if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return error_set(err, EINVAL, "mac=%s: all-zero address", s);
	memcpy(mac, m, 6);
	return 0;
}
