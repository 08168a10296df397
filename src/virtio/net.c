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
#include "util/state_io.h"

#define LOG_SUB "virtio-net"

#define RXQ   0
#define TXQ   1
#define CTRLQ 2 /* with VIRTIO_NET_F_CTRL_VQ (one queue pair: index 2) */
/* transmit requests per poll before yielding to receive work */
#define TX_BUDGET 256

/* 5.1.6: struct virtio_net_hdr (little endian) */
#define NET_HDR_LEN	     12
#define NET_HDR_F_NEEDS_CSUM 1
#define NET_HDR_F_DATA_VALID 2
#define NET_HDR_GSO_NONE     0

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
	struct virtq_req ctrl_req;

	/* Receive filter (5.1.6.5.1, 5.1.6.5.2) and the announce (5.1.6.5.4):
	 * under lock; back to the reset state by reset(), kept across
	 * quiesce/start, saved with the device. */
	const uint8_t *cfg_mac; /* the configured address (config[0..5]) */
	uint8_t mac[6];		/* current: MAC_ADDR_SET changes it */
	bool promisc, allmulti;
	bool uc_overflow, mc_overflow; /* a longer table: accept all */
	unsigned n_uc, n_mc;
	uint8_t uc[VIRTIO_NET_MAC_TABLE_MAX][6];
	uint8_t mc[VIRTIO_NET_MAC_TABLE_MAX][6];
	bool announce_pending; /* VIRTIO_NET_S_ANNOUNCE, not acked yet */

	uint64_t tx_bad, rx_too_big, rx_filtered, announces; /* atomics */
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

/* ---- control queue (5.1.6.5) ------------------------------------------------- */

static bool mac_unicast(const uint8_t *m)
{
	return !(m[0] & 1) && (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

/* The filter's reset state: QEMU's, promiscuous until the driver says
 * otherwise (a driver without CTRL_RX hears everything), empty tables
 * (5.1.6.5.2.2), the configured address. Under lock. */
static void filter_reset(struct virtio_net *n)
{
	memcpy(n->mac, n->cfg_mac, 6);
	n->promisc = true;
	n->allmulti = false;
	n->uc_overflow = n->mc_overflow = false;
	n->n_uc = n->n_mc = 0;
	n->announce_pending = false;
}

/* VIRTIO_NET_CTRL_MAC_TABLE_SET: two struct virtio_net_ctrl_mac (le32
 * entries, entries x 6 bytes), unicast then multicast, filling the data
 * exactly. Applied only when all of it is well formed. */
static uint8_t ctrl_mac_table(struct virtio_net *n, const struct virtq_req *req)
{
	uint8_t tab[2][VIRTIO_NET_MAC_TABLE_MAX][6];
	unsigned cnt[2];
	bool over[2];
	uint64_t off = 2;

	for (unsigned t = 0; t < 2; t++) {
		uint8_t le[4];
		if (req->out_len - off < 4 ||
		    virtq_req_read(req, off, le, 4) != 4)
			return VIRTIO_NET_ERR;
		off += 4;
		uint64_t k = (uint64_t)le[0] | (uint64_t)le[1] << 8 |
			     (uint64_t)le[2] << 16 | (uint64_t)le[3] << 24;
		if (k * 6 > req->out_len - off)
			return VIRTIO_NET_ERR;
		over[t] = k > VIRTIO_NET_MAC_TABLE_MAX;
		cnt[t] = over[t] ? 0 : (unsigned)k;
		if (cnt[t] &&
		    virtq_req_read(req, off, tab[t], cnt[t] * 6) != cnt[t] * 6)
			return VIRTIO_NET_ERR;
		off += k * 6;
	}
	if (off != req->out_len)
		return VIRTIO_NET_ERR;
	n->n_uc = cnt[0];
	n->uc_overflow = over[0];
	memcpy(n->uc, tab[0], cnt[0] * 6);
	n->n_mc = cnt[1];
	n->mc_overflow = over[1];
	memcpy(n->mc, tab[1], cnt[1] * 6);
	return VIRTIO_NET_OK;
}

/* One control command: its ack (VIRTIO_NET_OK / VIRTIO_NET_ERR). A class
 * whose feature was not negotiated, an unknown command, or data of the
 * wrong size is VIRTIO_NET_ERR and changes nothing. Under lock. */
static uint8_t ctrl_command(struct virtio_net *n, const struct virtq_req *req)
{
	uint8_t hdr[2], b[6];
	uint64_t dlen = req->out_len - 2;

	virtq_req_read(req, 0, hdr, 2);
	switch (hdr[0]) {
	case VIRTIO_NET_CTRL_RX:
		if (!has_feature(n, VIRTIO_NET_F_CTRL_RX_BIT) || dlen != 1 ||
		    virtq_req_read(req, 2, b, 1) != 1 || b[0] > 1)
			return VIRTIO_NET_ERR;
		if (hdr[1] == VIRTIO_NET_CTRL_RX_PROMISC)
			n->promisc = b[0];
		else if (hdr[1] == VIRTIO_NET_CTRL_RX_ALLMULTI)
			n->allmulti = b[0];
		else
			return VIRTIO_NET_ERR;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC:
		if (hdr[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET &&
		    has_feature(n, VIRTIO_NET_F_CTRL_RX_BIT))
			return ctrl_mac_table(n, req);
		if (hdr[1] == VIRTIO_NET_CTRL_MAC_ADDR_SET &&
		    has_feature(n, VIRTIO_NET_F_CTRL_MAC_ADDR_BIT) &&
		    dlen == 6 && virtq_req_read(req, 2, b, 6) == 6 &&
		    mac_unicast(b)) {
			memcpy(n->mac, b, 6);
			return VIRTIO_NET_OK;
		}
		return VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (hdr[1] != VIRTIO_NET_CTRL_ANNOUNCE_ACK || dlen ||
		    !has_feature(n, VIRTIO_NET_F_GUEST_ANNOUNCE_BIT))
			return VIRTIO_NET_ERR;
		/* 5.1.6.5.4: the driver announced; clear the bit */
		n->announce_pending = false;
		return VIRTIO_NET_OK;
	default: return VIRTIO_NET_ERR;
	}
}

/* Serve the control queue (netdev thread, under lock). false: the device
 * is broken now. */
static bool ctrl_poll(struct virtio_net *n, struct virtio_dev *vd)
{
	struct virtq *vq = virtio_queue(vd, CTRLQ);
	bool pushed = false;
	int rc;

	if (!vq)
		return true;
	while ((rc = virtq_pop(vq, &n->ctrl_req)) > 0) {
		struct virtq_req *req = &n->ctrl_req;
		/* 5.1.6.5: class and command readable, the ack writable */
		if (req->out_len < 2 || req->in_len < 1) {
			virtio_device_error(vd, "net: control request without "
						"class and command or without "
						"the ack byte");
			return false;
		}
		uint8_t ack = ctrl_command(n, req);
		virtq_req_write(req, 0, &ack, 1);
		virtq_push(vq, req, 1);
		pushed = true;
	}
	if (rc < 0) {
		virtio_device_error(vd, "net: malformed control queue");
		return false;
	}
	if (pushed)
		virtio_notify(vd, CTRLQ);
	return true;
}

/* The netdev's poll callback: serve the control queue and drain the
 * transmit queue (netdev thread). */
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
	if (!vd || virtio_broken(vd) || !ctrl_poll(n, vd) ||
	    !(vq = virtio_queue(vd, TXQ)))
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

/* Does the receive filter let a frame to dst through? Under lock. */
static bool rx_accept(const struct virtio_net *n, const uint8_t *dst)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (n->promisc)
		return true;
	if (dst[0] & 1) {
		if (!memcmp(dst, bcast, 6) || n->allmulti || n->mc_overflow)
			return true;
		for (unsigned i = 0; i < n->n_mc; i++)
			if (!memcmp(dst, n->mc[i], 6))
				return true;
		return false;
	}
	if (!memcmp(dst, n->mac, 6) || n->uc_overflow)
		return true;
	for (unsigned i = 0; i < n->n_uc; i++)
		if (!memcmp(dst, n->uc[i], 6))
			return true;
	return false;
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
	uint8_t dst[6];
	size_t got = 0;
	for (int i = 0; i < n_iov && got < 6; i++) {
		size_t l = iov[i].iov_len < 6 - got ? iov[i].iov_len : 6 - got;
		memcpy(dst + got, iov[i].iov_base, l);
		got += l;
	}
	if (got < 6 || !rx_accept(n, dst)) {
		/* not for this NIC: taken and discarded, as a real NIC does
		 * (no guest buffer used) */
		__atomic_fetch_add(&n->rx_filtered, 1, __ATOMIC_RELAXED);
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
	uint8_t c[VIRTIO_NET_CONFIG_SIZE];

	memcpy(c, n->config, sizeof(c));
	pthread_mutex_lock(&n->lock);
	memcpy(c, n->mac, 6);
	if (n->announce_pending)
		put_le16(c + 6, VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	pthread_mutex_unlock(&n->lock);
	memset(buf, 0, len);
	if (off < VIRTIO_NET_CONFIG_SIZE)
		memcpy(buf, c + off,
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
	filter_reset(n);
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
	else if (q == TXQ || q == CTRLQ)
		netdev_kick(n->nd);
}

/* ---- device state (docs/vm-state.md: "virtio-mmio" version 2) ------------------- */

/* u8 promisc, allmulti, announce pending, mac[6], u8 unicast overflow,
 * multicast overflow, u32 unicast entries + 6 bytes each, u32 multicast
 * entries + 6 bytes each. */
static void net_save_state(void *opaque, struct state_writer *w)
{
	struct virtio_net *n = opaque;

	pthread_mutex_lock(&n->lock);
	state_put_u8(w, n->promisc);
	state_put_u8(w, n->allmulti);
	state_put_u8(w, n->announce_pending);
	state_put_bytes(w, n->mac, 6);
	state_put_u8(w, n->uc_overflow);
	state_put_u8(w, n->mc_overflow);
	state_put_u32(w, n->n_uc);
	state_put_bytes(w, n->uc, n->n_uc * 6);
	state_put_u32(w, n->n_mc);
	state_put_bytes(w, n->mc, n->n_mc * 6);
	pthread_mutex_unlock(&n->lock);
}

static int net_load_state(void *opaque, struct state_reader *r,
			  struct error *err)
{
	struct virtio_net *n = opaque;
	uint8_t flag[5], mac[6];
	const void *tab[2] = { NULL, NULL };
	uint32_t cnt[2];

	flag[0] = state_get_u8(r);
	flag[1] = state_get_u8(r);
	flag[2] = state_get_u8(r);
	state_get_bytes(r, mac, 6);
	flag[3] = state_get_u8(r);
	flag[4] = state_get_u8(r);
	for (unsigned t = 0; t < 2; t++) {
		cnt[t] = state_get_u32(r);
		if (r->short_read)
			return state_section_done(r, err);
		if (cnt[t] > VIRTIO_NET_MAC_TABLE_MAX)
			return state_fail(r, err, EINVAL,
					  "virtio-net: %s filter of %u "
					  "entries, at most %u",
					  t ? "multicast" : "unicast", cnt[t],
					  VIRTIO_NET_MAC_TABLE_MAX);
		if (cnt[t] && !(tab[t] = state_get_ptr(r, cnt[t] * 6)))
			return state_section_done(r, err);
	}
	for (unsigned i = 0; i < 5; i++)
		if (flag[i] > 1)
			return state_fail(r, err, EINVAL,
					  "virtio-net: filter flag %u is %u", i,
					  flag[i]);
	if (!mac_unicast(mac))
		return state_fail(r, err, EINVAL,
				  "virtio-net: MAC address "
				  "%02x:%02x:%02x:%02x:%02x:%02x is not a "
				  "unicast address",
				  mac[0], mac[1], mac[2], mac[3], mac[4],
				  mac[5]);
	pthread_mutex_lock(&n->lock);
	n->promisc = flag[0];
	n->allmulti = flag[1];
	n->announce_pending = flag[2];
	memcpy(n->mac, mac, 6);
	n->uc_overflow = flag[3];
	n->mc_overflow = flag[4];
	n->n_uc = cnt[0];
	n->n_mc = cnt[1];
	if (cnt[0])
		memcpy(n->uc, tab[0], cnt[0] * 6);
	if (cnt[1])
		memcpy(n->mc, tab[1], cnt[1] * 6);
	pthread_mutex_unlock(&n->lock);
	return 0;
}

/* ---- announce (5.1.6.5.4 and the host's RARP) ------------------------------------ */

/* One round (netdev thread, from the netdev core): the MAC to announce,
 * and ask the guest to announce itself if its driver can. */
static bool net_announce_round(void *opaque, uint8_t mac[6])
{
	struct virtio_net *n = opaque;
	struct virtio_dev *vd;

	pthread_mutex_lock(&n->lock);
	memcpy(mac, n->mac, 6);
	vd = n->vd;
	if (vd && !virtio_broken(vd) &&
	    has_feature(n, VIRTIO_NET_F_GUEST_ANNOUNCE_BIT) &&
	    has_feature(n, VIRTIO_NET_F_CTRL_VQ_BIT) &&
	    virtio_queue(vd, CTRLQ)) {
		n->announce_pending = true;
		virtio_config_changed(vd);
	}
	pthread_mutex_unlock(&n->lock);
	__atomic_fetch_add(&n->announces, 1, __ATOMIC_RELAXED);
	return true;
}

int virtio_net_announce(struct virtio_net *n,
			const struct netdev_announce_params *p,
			struct error *err)
{
	int r = netdev_announce(n->nd, p, err);
	if (r)
		error_prefix(err, "virtio-net %s", n->id);
	return r;
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
	n->cfg_mac = n->config;
	filter_reset(n);

	n->ops = (struct virtio_dev_ops){
		.name = "virtio-net",
		.device_id = VIRTIO_ID_NET,
		.n_queues = 3, /* receive, transmit, control */
		.queue_max = VIRTIO_NET_QUEUE_SIZE,
		.features = 1ull << VIRTIO_NET_F_CSUM_BIT |
			    1ull << VIRTIO_NET_F_GUEST_CSUM_BIT |
			    1ull << VIRTIO_NET_F_MTU_BIT |
			    1ull << VIRTIO_NET_F_MAC_BIT |
			    1ull << VIRTIO_NET_F_MRG_RXBUF_BIT |
			    1ull << VIRTIO_NET_F_STATUS_BIT |
			    1ull << VIRTIO_NET_F_CTRL_VQ_BIT |
			    1ull << VIRTIO_NET_F_CTRL_RX_BIT |
			    1ull << VIRTIO_NET_F_GUEST_ANNOUNCE_BIT |
			    1ull << VIRTIO_NET_F_CTRL_MAC_ADDR_BIT,
		.config_size = VIRTIO_NET_CONFIG_SIZE,
		.config_read = net_config_read,
		.config_write = NULL, /* mac is read-only without legacy */
		.start = net_start,
		.reset = net_reset,
		.quiesce = net_quiesce,
		.queue_notify = net_queue_notify,
		.save_state = net_save_state,
		.load_state = net_load_state,
	};
	/* until a driver negotiates: what we offer (for handle_tx users) */
	n->features = n->ops.features;

	struct netdev_client c = { net_receive, net_poll, n,
				   net_announce_round };
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
	st->rx_filtered = __atomic_load_n(&n->rx_filtered, __ATOMIC_RELAXED);
	st->announces = __atomic_load_n(&n->announces, __ATOMIC_RELAXED);
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
