/* Layer-2 forwarding: MAC learning, flooding, VLANs, policies (vswitch.h). */
#include "net/vswitch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((VSWITCH_MAC_TABLE & (VSWITCH_MAC_TABLE - 1)) == 0,
	       "the MAC table size must be a power of two");

#define ETH_HLEN    14
#define ETH_P_8021Q 0x8100
/* Slots probed from a hash position; a full window evicts its oldest. */
#define MAC_PROBE 16

struct mac_entry {
	uint8_t mac[6];
	uint16_t vlan;
	int port; /* -1: free */
	uint64_t seen_ns;
};

struct pgroup {
	struct vswitch_portgroup_config cfg;
	bool used;
};

struct port {
	bool used;
	bool uplink; /* to the host's network: no MAC policies */
	int pg;	     /* index into pgs; -1: a trunk uplink of no group */
	uint8_t mac[6];
	vswitch_output_fn out;
	void *opaque;
	struct shaper tx, rx;
	struct vswitch_port_stats st;
};

struct vswitch {
	char name[VSWITCH_NAME_MAX + 1];
	uint32_t mtu;
	struct pgroup pgs[VSWITCH_MAX_PORTGROUPS];
	struct vswitch_portgroup_config pg_list[VSWITCH_MAX_PORTGROUPS];
	struct port ports[VSWITCH_MAX_PORTS];
	unsigned n_ports;
	int port_hi;	  /* ports[port_hi..] are all free */
	bool any_promisc; /* some port group is promiscuous */
	struct mac_entry macs[VSWITCH_MAC_TABLE];
	/* a frame re-tagged for one egress port */
	uint8_t scratch[VSWITCH_MAX_FRAME];
	/* a trunk's frame with its tag taken out */
	uint8_t untagged[VSWITCH_MAX_FRAME];
};

/* ---- small helpers -------------------------------------------------------- */

void vswitch_portgroup_init(struct vswitch_portgroup_config *pg,
			    const char *name)
{
	memset(pg, 0, sizeof(*pg));
	snprintf(pg->name, sizeof(pg->name), "%s", name ? name : "");
	pg->policy.mac_changes = true;
	pg->policy.forged_transmits = true;
}

int vswitch_check_name(const char *name, const char *what, struct error *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > VSWITCH_NAME_MAX || name[0] == '.' || name[0] == '-')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			goto bad;
	}
	return 0;
bad:
	return error_set(err, EINVAL,
			 "%s name '%s': expected 1..%d of letters, digits, "
			 "'_', '-', '.' (not first)",
			 what, name, VSWITCH_NAME_MAX);
}

static bool mac_is_multicast(const uint8_t *mac)
{
	return mac[0] & 1; /* includes broadcast */
}

static uint32_t mac_hash(uint16_t vlan, const uint8_t *mac)
{
	/* FNV-1a over the key: addresses of one vendor differ in the tail */
	uint32_t h = 2166136261u;

	h = (h ^ (vlan & 0xff)) * 16777619u;
	h = (h ^ (vlan >> 8)) * 16777619u;
	for (int i = 0; i < 6; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h;
}

static bool entry_live(const struct mac_entry *e, uint64_t now)
{
	return e->port >= 0 && now - e->seen_ns < VSWITCH_AGE_NS;
}

static struct mac_entry *mac_find(const struct vswitch *sw, uint16_t vlan,
				  const uint8_t *mac)
{
	uint32_t h = mac_hash(vlan, mac);

	for (unsigned i = 0; i < MAC_PROBE; i++) {
		const struct mac_entry *e =
			&sw->macs[(h + i) & (VSWITCH_MAC_TABLE - 1)];
		if (e->port >= 0 && e->vlan == vlan && !memcmp(e->mac, mac, 6))
			return (struct mac_entry *)e;
	}
	return NULL;
}

static void mac_learn(struct vswitch *sw, uint16_t vlan, const uint8_t *mac,
		      int port, uint64_t now)
{
	struct mac_entry *e = mac_find(sw, vlan, mac), *victim = NULL;
	uint32_t h;

	if (e) {
		e->port = port; /* a moved VM: the newest port wins */
		e->seen_ns = now;
		return;
	}
	h = mac_hash(vlan, mac);
	for (unsigned i = 0; i < MAC_PROBE; i++) {
		e = &sw->macs[(h + i) & (VSWITCH_MAC_TABLE - 1)];
		if (!entry_live(e, now)) {
			victim = e;
			break;
		}
		if (!victim || e->seen_ns < victim->seen_ns)
			victim = e;
	}
	memcpy(victim->mac, mac, 6);
	victim->vlan = vlan;
	victim->port = port;
	victim->seen_ns = now;
}

static void mac_forget(struct vswitch *sw, int port, int vlan)
{
	for (unsigned i = 0; i < VSWITCH_MAC_TABLE; i++)
		if (sw->macs[i].port >= 0 &&
		    (port < 0 || sw->macs[i].port == port) &&
		    (vlan < 0 || sw->macs[i].vlan == vlan))
			sw->macs[i].port = -1;
}

int vswitch_lookup(const struct vswitch *sw, uint16_t vlan,
		   const uint8_t mac[6], uint64_t now_ns)
{
	const struct mac_entry *e = mac_find(sw, vlan, mac);

	return e && entry_live(e, now_ns) ? e->port : -1;
}

/* ---- switch and port groups ------------------------------------------------- */

struct vswitch *vswitch_new(const char *name, uint32_t mtu)
{
	struct vswitch *sw = calloc(1, sizeof(*sw));

	if (!sw)
		return NULL;
	snprintf(sw->name, sizeof(sw->name), "%s", name);
	sw->mtu = mtu ? mtu : VSWITCH_MTU_DEFAULT;
	for (unsigned i = 0; i < VSWITCH_MAC_TABLE; i++)
		sw->macs[i].port = -1;
	return sw;
}

void vswitch_free(struct vswitch *sw)
{
	free(sw);
}

const char *vswitch_name(const struct vswitch *sw)
{
	return sw->name;
}

uint32_t vswitch_mtu(const struct vswitch *sw)
{
	return sw->mtu;
}

int vswitch_set_mtu(struct vswitch *sw, uint32_t mtu, struct error *err)
{
	if (mtu < VSWITCH_MTU_MIN || mtu > VSWITCH_MTU_MAX)
		return error_set(err, EINVAL, "mtu %u: expected %d..%d", mtu,
				 VSWITCH_MTU_MIN, VSWITCH_MTU_MAX);
	sw->mtu = mtu;
	return 0;
}

static int pg_find(const struct vswitch *sw, const char *name)
{
	for (int i = 0; i < VSWITCH_MAX_PORTGROUPS; i++)
		if (sw->pgs[i].used && !strcmp(sw->pgs[i].cfg.name, name))
			return i;
	return -1;
}

/* After a port or port group change: the bounds the forwarding loop
 * relies on. */
static void recompute(struct vswitch *sw)
{
	sw->port_hi = 0;
	for (int p = 0; p < VSWITCH_MAX_PORTS; p++)
		if (sw->ports[p].used)
			sw->port_hi = p + 1;
	sw->any_promisc = false;
	for (int i = 0; i < VSWITCH_MAX_PORTGROUPS; i++)
		if (sw->pgs[i].used && sw->pgs[i].cfg.policy.promiscuous)
			sw->any_promisc = true;
}

/* The settings of a port without a port group (a trunk uplink): every
 * VLAN, default policies, no shaping. */
static const struct vswitch_portgroup_config no_group = {
	.vlan = VSWITCH_VLAN_TRUNK,
	.policy = { .mac_changes = true, .forged_transmits = true },
};

static const struct vswitch_portgroup_config *port_cfg(const struct vswitch *sw,
						       const struct port *p)
{
	return p->pg < 0 ? &no_group : &sw->pgs[p->pg].cfg;
}

static void port_shapers_init(struct vswitch *sw, struct port *p)
{
	const struct vswitch_portgroup_config *c = port_cfg(sw, p);

	shaper_init(&p->tx, &c->shape_tx, VSWITCH_MAX_FRAME);
	shaper_init(&p->rx, &c->shape_rx, VSWITCH_MAX_FRAME);
}

int vswitch_portgroup_set(struct vswitch *sw,
			  const struct vswitch_portgroup_config *pg,
			  struct error *err)
{
	int i;

	if (vswitch_check_name(pg->name, "port group", err))
		return -EINVAL;
	if (pg->vlan > VSWITCH_VLAN_TRUNK)
		return error_set(err, EINVAL,
				 "port group %s: vlan %u: expected 0 (none), "
				 "1..4094 or 4095 (trunk)",
				 pg->name, pg->vlan);
	if (shaper_check(&pg->shape_tx, VSWITCH_MAX_FRAME, err) ||
	    shaper_check(&pg->shape_rx, VSWITCH_MAX_FRAME, err)) {
		error_prefix(err, "port group %s", pg->name);
		return -EINVAL;
	}
	i = pg_find(sw, pg->name);
	if (i < 0) {
		for (i = 0; i < VSWITCH_MAX_PORTGROUPS && sw->pgs[i].used; i++)
			;
		if (i == VSWITCH_MAX_PORTGROUPS)
			return error_set(err, ENOSPC,
					 "switch %s: more than %d port groups",
					 sw->name, VSWITCH_MAX_PORTGROUPS);
	} else if (sw->pgs[i].cfg.vlan != pg->vlan) {
		/* addresses learned by its ports may now sit in another VLAN */
		for (int p = 0; p < VSWITCH_MAX_PORTS; p++)
			if (sw->ports[p].used && sw->ports[p].pg == i)
				mac_forget(sw, p, -1);
	}
	sw->pgs[i].cfg = *pg;
	sw->pgs[i].used = true;
	recompute(sw);
	for (int p = 0; p < VSWITCH_MAX_PORTS; p++)
		if (sw->ports[p].used && sw->ports[p].pg == i)
			port_shapers_init(sw, &sw->ports[p]);
	return 0;
}

int vswitch_portgroup_del(struct vswitch *sw, const char *name,
			  struct error *err)
{
	int i = pg_find(sw, name);

	if (i < 0)
		return error_set(err, ENOENT, "switch %s: no port group '%s'",
				 sw->name, name);
	for (int p = 0; p < VSWITCH_MAX_PORTS; p++)
		if (sw->ports[p].used && sw->ports[p].pg == i)
			return error_set(err, EBUSY,
					 "port group %s is in use by a port",
					 name);
	sw->pgs[i].used = false;
	recompute(sw);
	return 0;
}

const struct vswitch_portgroup_config *vswitch_portgroups(
	const struct vswitch *sw, unsigned *n_out)
{
	struct vswitch *w = (struct vswitch *)sw; /* pg_list is a cache */
	unsigned n = 0;

	for (int i = 0; i < VSWITCH_MAX_PORTGROUPS; i++)
		if (sw->pgs[i].used)
			w->pg_list[n++] = sw->pgs[i].cfg;
	*n_out = n;
	return w->pg_list;
}

/* ---- ports ----------------------------------------------------------------------- */

int vswitch_port_add(struct vswitch *sw, const char *pg, const uint8_t mac[6],
		     vswitch_output_fn out, void *opaque, struct error *err)
{
	int g = pg_find(sw, pg);

	if (g < 0)
		return error_set(err, ENOENT, "switch %s: no port group '%s'",
				 sw->name, pg);
	for (int p = 0; p < VSWITCH_MAX_PORTS; p++) {
		struct port *po = &sw->ports[p];
		if (po->used)
			continue;
		memset(po, 0, sizeof(*po));
		po->used = true;
		po->pg = g;
		memcpy(po->mac, mac, 6);
		po->out = out;
		po->opaque = opaque;
		port_shapers_init(sw, po);
		sw->n_ports++;
		recompute(sw);
		return p;
	}
	return error_set(err, ENOSPC, "switch %s: all %d ports in use",
			 sw->name, VSWITCH_MAX_PORTS);
}

int vswitch_uplink_add(struct vswitch *sw, const char *pg,
		       vswitch_output_fn out, void *opaque, struct error *err)
{
	static const uint8_t none[6];
	int p = vswitch_port_add(sw, pg, none, out, opaque, err);

	if (p >= 0)
		sw->ports[p].uplink = true;
	return p;
}

int vswitch_trunk_uplink_add(struct vswitch *sw, vswitch_output_fn out,
			     void *opaque, struct error *err)
{
	for (int p = 0; p < VSWITCH_MAX_PORTS; p++) {
		struct port *po = &sw->ports[p];
		if (po->used)
			continue;
		memset(po, 0, sizeof(*po));
		po->used = true;
		po->uplink = true;
		po->pg = -1;
		po->out = out;
		po->opaque = opaque;
		port_shapers_init(sw, po);
		sw->n_ports++;
		recompute(sw);
		return p;
	}
	return error_set(err, ENOSPC, "switch %s: all %d ports in use",
			 sw->name, VSWITCH_MAX_PORTS);
}

static struct port *port_get(const struct vswitch *sw, int port)
{
	if (port < 0 || port >= VSWITCH_MAX_PORTS || !sw->ports[port].used)
		return NULL;
	return (struct port *)&sw->ports[port];
}

void vswitch_port_del(struct vswitch *sw, int port)
{
	struct port *p = port_get(sw, port);

	if (!p)
		return;
	mac_forget(sw, port, -1);
	p->used = false;
	sw->n_ports--;
	recompute(sw);
}

const char *vswitch_port_portgroup(const struct vswitch *sw, int port)
{
	struct port *p = port_get(sw, port);

	return p ? port_cfg(sw, p)->name : NULL;
}

int vswitch_port_stats(const struct vswitch *sw, int port,
		       struct vswitch_port_stats *st)
{
	struct port *p = port_get(sw, port);

	if (!p)
		return -ENOENT;
	*st = p->st;
	return 0;
}

unsigned vswitch_port_count(const struct vswitch *sw)
{
	return sw->n_ports;
}

int vswitch_port_next(const struct vswitch *sw, int port)
{
	for (int p = port < 0 ? 0 : port + 1; p < VSWITCH_MAX_PORTS; p++)
		if (sw->ports[p].used)
			return p;
	return -1;
}

/* ---- forwarding ------------------------------------------------------------------- */

static uint16_t pg_vlan(const struct vswitch *sw, const struct port *p)
{
	return port_cfg(sw, p)->vlan;
}

/* Is a frame of vlan carried by port p? */
static bool port_in_vlan(const struct vswitch *sw, const struct port *p,
			 uint16_t vlan)
{
	uint16_t v = pg_vlan(sw, p);

	return v == VSWITCH_VLAN_TRUNK || v == vlan;
}

/* Hand an untagged frame (payload after the addresses in body) of vlan to
 * port p: tagged for a trunk when vlan != 0, as is otherwise. */
static bool port_output(struct vswitch *sw, struct port *p, uint16_t vlan,
			const uint8_t *frame, size_t len, uint64_t now)
{
	const uint8_t *f = frame;
	size_t n = len;

	if (pg_vlan(sw, p) == VSWITCH_VLAN_TRUNK && vlan) {
		/* 802.1Q 9.3: TPID 0x8100, then PCP/DEI 0, VID */
		memcpy(sw->scratch, frame, 12);
		sw->scratch[12] = ETH_P_8021Q >> 8;
		sw->scratch[13] = ETH_P_8021Q & 0xff;
		sw->scratch[14] = (uint8_t)(vlan >> 8);
		sw->scratch[15] = (uint8_t)vlan;
		memcpy(sw->scratch + 16, frame + 12, len - 12);
		f = sw->scratch;
		n = len + 4;
	}
	if (!shaper_admit(&p->rx, n, now)) {
		p->st.rx_dropped++;
		p->st.rx_shaped++;
		return false;
	}
	p->st.rx_frames++;
	p->st.rx_bytes += n;
	p->out(p->opaque, f, n);
	return true;
}

int vswitch_input(struct vswitch *sw, int port, const uint8_t *frame,
		  size_t len, uint64_t now_ns)
{
	struct port *in = port_get(sw, port);
	const struct vswitch_policy *pol;
	const uint8_t *dst, *src, *f = frame;
	uint16_t vlan, pgv;
	size_t payload;
	int sent = 0, to = -1;

	if (!in)
		return 0;
	if (len < ETH_HLEN || len > VSWITCH_MAX_FRAME)
		goto drop;
	pgv = pg_vlan(sw, in);
	pol = &port_cfg(sw, in)->policy;
	dst = frame;
	src = frame + 6;
	vlan = pgv == VSWITCH_VLAN_TRUNK ? 0 : pgv;
	payload = len - ETH_HLEN;
	if (frame[12] == ETH_P_8021Q >> 8 &&
	    frame[13] == (ETH_P_8021Q & 0xff)) {
		/* only a trunk port may tag (VGT); an access port's guest
		 * cannot hop VLANs */
		if (pgv != VSWITCH_VLAN_TRUNK || len < ETH_HLEN + 4)
			goto drop;
		vlan = (uint16_t)((frame[14] << 8 | frame[15]) & 0x0fff);
		if (vlan == VSWITCH_VLAN_TRUNK)
			goto drop;
		/* switch it untagged: rebuild without the tag */
		memcpy(sw->untagged, frame, 12);
		memcpy(sw->untagged + 12, frame + 16, len - 16);
		len -= 4;
		payload = len - ETH_HLEN;
		f = dst = sw->untagged;
		src = f + 6;
	}
	if (payload > sw->mtu)
		goto drop;
	if (mac_is_multicast(src))
		goto drop; /* 802.3: a source address is never a group */
	if (!pol->forged_transmits && !in->uplink && memcmp(src, in->mac, 6))
		goto drop;
	if (!shaper_admit(&in->tx, len, now_ns)) {
		in->st.tx_shaped++;
		goto drop;
	}
	in->st.tx_frames++;
	in->st.tx_bytes += len;

	mac_learn(sw, vlan, src, port, now_ns);

	if (!mac_is_multicast(dst)) {
		const struct mac_entry *e = mac_find(sw, vlan, dst);
		if (e && entry_live(e, now_ns))
			to = e->port;
	}
	/* a known unicast and nobody promiscuous: one port, no scan */
	int lo = 0, hi = sw->port_hi;
	if (to >= 0 && !sw->any_promisc) {
		lo = to;
		hi = to + 1;
	}
	for (int p = lo; p < hi; p++) {
		struct port *o = &sw->ports[p];
		const struct vswitch_policy *op;
		bool want;

		if (!o->used || p == port || !port_in_vlan(sw, o, vlan))
			continue;
		op = &port_cfg(sw, o)->policy;
		if (mac_is_multicast(dst))
			want = true;
		else if (to >= 0)
			want = p == to || op->promiscuous;
		else /* unknown unicast: flood */
			want = true;
		/* MAC changes rejected: unicast only for the port's own MAC */
		if (want && !op->mac_changes && !o->uplink &&
		    !mac_is_multicast(dst) && !op->promiscuous &&
		    memcmp(dst, o->mac, 6))
			want = false;
		if (want && port_output(sw, o, vlan, f, len, now_ns))
			sent++;
	}
	return sent;
drop:
	in->st.tx_dropped++;
	return 0;
}
