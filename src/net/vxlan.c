/* VXLAN encapsulation, peers and learned addresses (vxlan.h). */
#include "net/vxlan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETH_HLEN    14
#define ETH_P_8021Q 0x8100
#define VLAN_MAX    4094
#define FDB_PROBE   8

struct fdb_entry {
	uint32_t vni;
	uint8_t mac[6];
	int peer; /* -1: free */
	uint64_t seen_ns;
};

struct vxlan {
	struct vxlan_config cfg;
	struct vxlan_stats st;
	struct fdb_entry fdb[VXLAN_FDB_SIZE];
	/* a frame with its tag taken out (tx) or put in (rx) */
	uint8_t scratch[VXLAN_MAX_INNER + 4];
};

int vxlan_parse_addr(const char *s, uint16_t def_port, struct sockaddr_in *out,
		     const char *what, struct error *err)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	unsigned long port = def_port;

	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	if (n == 0 || n >= sizeof(host))
		goto bad;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		goto bad;
	if (colon) {
		char *end;
		if (!colon[1] || colon[1] == '-' || colon[1] == '+')
			goto bad;
		port = strtoul(colon + 1, &end, 10);
		if (*end || port < 1 || port > 65535)
			goto bad;
	}
	out->sin_port = htons((uint16_t)port);
	return 0;
bad:
	return error_set(err, EINVAL,
			 "%s '%s': expected an IPv4 address A.B.C.D or "
			 "A.B.C.D:PORT (port 1..65535)",
			 what, s);
}

void vxlan_format_addr(const struct sockaddr_in *a, char *buf, size_t size)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(buf, size, "%s:%u", ip, ntohs(a->sin_port));
}

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr &&
	       a->sin_port == b->sin_port;
}

int vxlan_set_peers(struct vxlan *vx, const struct sockaddr_in *peers,
		    unsigned n)
{
	if (n > VXLAN_MAX_PEERS)
		return -EINVAL;
	vx->cfg.n_peers = 0;
	for (unsigned i = 0; i < n; i++) {
		bool dup = same_addr(&peers[i], &vx->cfg.local);
		for (unsigned j = 0; j < vx->cfg.n_peers && !dup; j++)
			dup = same_addr(&peers[i], &vx->cfg.peers[j]);
		if (!dup)
			vx->cfg.peers[vx->cfg.n_peers++] = peers[i];
	}
	for (unsigned i = 0; i < VXLAN_FDB_SIZE; i++)
		vx->fdb[i].peer = -1;
	return (int)vx->cfg.n_peers;
}

struct vxlan *vxlan_new(const struct vxlan_config *cfg, struct error *err)
{
	struct vxlan *vx;

	if (cfg->vni_base > VXLAN_VNI_MAX - VLAN_MAX) {
		error_set(err, EINVAL,
			  "vxlan: vni base %u: expected 0..%u (VLAN 4094 must "
			  "fit in 24 bits)",
			  cfg->vni_base, VXLAN_VNI_MAX - VLAN_MAX);
		return NULL;
	}
	if (cfg->n_peers > VXLAN_MAX_PEERS) {
		error_set(err, EINVAL, "vxlan: more than %d peers",
			  VXLAN_MAX_PEERS);
		return NULL;
	}
	vx = calloc(1, sizeof(*vx));
	if (!vx) {
		error_set(err, ENOMEM, "vxlan: out of memory");
		return NULL;
	}
	vx->cfg = *cfg;
	vxlan_set_peers(vx, cfg->peers, cfg->n_peers);
	return vx;
}

void vxlan_free(struct vxlan *vx)
{
	free(vx);
}

const struct vxlan_config *vxlan_config(const struct vxlan *vx)
{
	return &vx->cfg;
}

void vxlan_stats(const struct vxlan *vx, struct vxlan_stats *st)
{
	*st = vx->st;
}

void vxlan_header(uint8_t hdr[VXLAN_HLEN], uint32_t vni)
{
	hdr[0] = VXLAN_FLAG_I;
	hdr[1] = hdr[2] = hdr[3] = 0;
	hdr[4] = (uint8_t)(vni >> 16);
	hdr[5] = (uint8_t)(vni >> 8);
	hdr[6] = (uint8_t)vni;
	hdr[7] = 0;
}

/* ---- learned addresses ------------------------------------------------------ */

static unsigned fdb_hash(uint32_t vni, const uint8_t mac[6])
{
	/* FNV-1a over the VNI and the MAC */
	uint32_t h = 2166136261u;
	uint8_t k[9] = { (uint8_t)(vni >> 16), (uint8_t)(vni >> 8),
			 (uint8_t)vni };

	memcpy(k + 3, mac, 6);
	for (unsigned i = 0; i < sizeof(k); i++)
		h = (h ^ k[i]) * 16777619u;
	return h & (VXLAN_FDB_SIZE - 1);
}

static bool live(const struct fdb_entry *e, uint64_t now)
{
	return e->peer >= 0 && now - e->seen_ns < VXLAN_AGE_NS;
}

static const struct fdb_entry *fdb_find(const struct vxlan *vx, uint32_t vni,
					const uint8_t mac[6], uint64_t now)
{
	unsigned h = fdb_hash(vni, mac);

	for (unsigned i = 0; i < FDB_PROBE; i++) {
		const struct fdb_entry *e =
			&vx->fdb[(h + i) & (VXLAN_FDB_SIZE - 1)];
		if (e->peer >= 0 && e->vni == vni && !memcmp(e->mac, mac, 6))
			return live(e, now) ? e : NULL;
	}
	return NULL;
}

static void fdb_learn(struct vxlan *vx, uint32_t vni, const uint8_t mac[6],
		      int peer, uint64_t now)
{
	unsigned h = fdb_hash(vni, mac);
	struct fdb_entry *slot = NULL;

	for (unsigned i = 0; i < FDB_PROBE; i++) {
		struct fdb_entry *e = &vx->fdb[(h + i) & (VXLAN_FDB_SIZE - 1)];
		if (e->peer >= 0 && e->vni == vni && !memcmp(e->mac, mac, 6)) {
			if (e->peer != peer)
				vx->st.fdb_learned++;
			e->peer = peer;
			e->seen_ns = now;
			return;
		}
		/* a free or aged slot, else the one seen longest ago */
		if (!slot || (live(slot, now) &&
			      (!live(e, now) || e->seen_ns < slot->seen_ns)))
			slot = e;
	}
	slot->vni = vni;
	memcpy(slot->mac, mac, 6);
	slot->peer = peer;
	slot->seen_ns = now;
	vx->st.fdb_learned++;
}

int vxlan_fdb_lookup(const struct vxlan *vx, uint32_t vni, const uint8_t mac[6],
		     uint64_t now_ns)
{
	const struct fdb_entry *e = fdb_find(vx, vni, mac, now_ns);

	return e ? e->peer : -1;
}

/* ---- the data path ------------------------------------------------------------- */

unsigned vxlan_encap(struct vxlan *vx, const uint8_t *frame, size_t len,
		     uint64_t now_ns, struct vxlan_tx *tx)
{
	uint16_t vlan = 0;
	const struct fdb_entry *e;

	tx->n_dst = 0;
	if (len < ETH_HLEN)
		goto drop;
	tx->inner = frame;
	tx->inner_len = len;
	if (frame[12] == ETH_P_8021Q >> 8 &&
	    frame[13] == (ETH_P_8021Q & 0xff)) {
		if (len < ETH_HLEN + 4)
			goto drop;
		vlan = (uint16_t)((frame[14] << 8 | frame[15]) & 0x0fff);
		if (vlan == 0 || vlan > VLAN_MAX)
			goto drop;
		memcpy(vx->scratch, frame, 12);
		if (len - 16 > sizeof(vx->scratch) - 12)
			goto drop;
		memcpy(vx->scratch + 12, frame + 16, len - 16);
		tx->inner = vx->scratch;
		tx->inner_len = len - 4;
	}
	if (tx->inner_len > VXLAN_MAX_INNER || !vx->cfg.n_peers)
		goto drop;
	uint32_t vni = vx->cfg.vni_base + vlan;
	vxlan_header(tx->hdr, vni);
	/* a known unicast: its peer; the rest: every peer */
	e = (tx->inner[0] & 1) ? NULL : fdb_find(vx, vni, tx->inner, now_ns);
	if (e) {
		tx->dst[tx->n_dst++] = (unsigned)e->peer;
	} else {
		for (unsigned i = 0; i < vx->cfg.n_peers; i++)
			tx->dst[tx->n_dst++] = i;
		vx->st.tx_flooded++;
	}
	vx->st.tx_packets += tx->n_dst;
	vx->st.tx_bytes += tx->n_dst * (tx->inner_len + VXLAN_HLEN);
	return tx->n_dst;
drop:
	vx->st.tx_dropped++;
	return 0;
}

int vxlan_decap(struct vxlan *vx, const uint8_t *pkt, size_t len,
		const struct sockaddr_in *from, uint64_t now_ns,
		const uint8_t **frame, size_t *frame_len)
{
	int peer = -1;

	for (unsigned i = 0; i < vx->cfg.n_peers && peer < 0; i++)
		if (same_addr(from, &vx->cfg.peers[i]))
			peer = (int)i;
	if (peer < 0) {
		vx->st.rx_not_peer++;
		return -EPERM;
	}
	if (len < VXLAN_HLEN + ETH_HLEN) {
		vx->st.rx_short++;
		return -EINVAL;
	}
	/* RFC 7348 5: I must be set; reserved bits are ignored on receipt */
	if (!(pkt[0] & VXLAN_FLAG_I)) {
		vx->st.rx_bad_flags++;
		return -EINVAL;
	}
	uint32_t vni = (uint32_t)pkt[4] << 16 | (uint32_t)pkt[5] << 8 | pkt[6];
	if (vni < vx->cfg.vni_base || vni - vx->cfg.vni_base > VLAN_MAX) {
		vx->st.rx_bad_vni++;
		return -ENOENT;
	}
	uint16_t vlan = (uint16_t)(vni - vx->cfg.vni_base);
	const uint8_t *in = pkt + VXLAN_HLEN;
	size_t n = len - VXLAN_HLEN;
	/* the inner frame: untagged (the VNI is its VLAN), a unicast
	 * source, within what a datagram can hold */
	if (n > VXLAN_MAX_INNER ||
	    (in[12] == ETH_P_8021Q >> 8 && in[13] == (ETH_P_8021Q & 0xff)) ||
	    (in[6] & 1)) {
		vx->st.rx_bad_frame++;
		return -EINVAL;
	}
	fdb_learn(vx, vni, in + 6, peer, now_ns);
	vx->st.rx_packets++;
	vx->st.rx_bytes += len;
	if (!vlan) {
		*frame = in;
		*frame_len = n;
		return 0;
	}
	memcpy(vx->scratch, in, 12);
	vx->scratch[12] = ETH_P_8021Q >> 8;
	vx->scratch[13] = ETH_P_8021Q & 0xff;
	vx->scratch[14] = (uint8_t)(vlan >> 8);
	vx->scratch[15] = (uint8_t)vlan;
	memcpy(vx->scratch + 16, in + 12, n - 12);
	*frame = vx->scratch;
	*frame_len = n + 4;
	return 0;
}
