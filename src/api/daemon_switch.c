/* The daemon's virtual switches (daemon_switch.h). */
#include "api/daemon_switch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/daemon_impl.h"
#include "api/daemon_switch_etcd.h"
#include "api/inventory_switch.h"
#include "api/switch_json.h"
#include "machine/virt.h"
#include "net/switch_svc.h"
#include "net/tap.h"
#include "net/swport.h"
#include "util/clock.h"
#include "util/log.h"

#define LOG "daemon"

struct dswitch {
	struct switch_def def;
	struct switch_svc *svc;
	struct etcd *etcd; /* distributed with vxlan.etcd, else NULL */
	char *published;   /* the VTEP record last written to etcd */
	int64_t lease;	   /* the VTEP record's etcd lease, 0: none yet */
	uint64_t lease_renewed_ns;
	bool etcd_failing; /* logged once until it works again */
	struct dswitch *next;
};

struct daemon_switches {
	pthread_mutex_t lock;
	struct dswitch *list;
	struct inventory *inv;
	/* etcd: VTEP records and peers refreshed every second */
	pthread_t sync;
	pthread_cond_t cond;
	bool stop, sync_started;
};

#define SYNC_PERIOD_S 1

static struct dswitch *find(struct daemon_switches *s, const char *name)
{
	for (struct dswitch *w = s->list; w; w = w->next)
		if (!strcasecmp(w->def.name, name))
			return w;
	return NULL;
}

/* ---- etcd (distributed switches) ------------------------------------------------ */

static bool same_peer_sets(const struct sockaddr_in *a, int na,
			   const struct sockaddr_in *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++) {
		int j;
		for (j = 0; j < nb; j++)
			if (a[i].sin_addr.s_addr == b[j].sin_addr.s_addr &&
			    a[i].sin_port == b[j].sin_port)
				break;
		if (j == nb)
			return false;
	}
	return true;
}

/* Write this host's VTEP record, take the peers from etcd (registry lock
 * held). */
static void etcd_sync_one(struct dswitch *w)
{
	struct sockaddr_in want[VXLAN_MAX_PEERS * 2], have[VXLAN_MAX_PEERS];
	struct error err = { 0 };
	unsigned kept;
	int n;

	if (!w->etcd)
		return;
	/* the VTEP record lives under a lease kept alive here: a daemon
	 * that dies (SIGKILL, a lost host) loses its record after the TTL */
	uint64_t now = clock_monotonic_ns();
	if (w->lease && now - w->lease_renewed_ns >=
				DSWITCH_LEASE_RENEW_S * 1000000000ull) {
		int t = etcd_lease_keepalive(w->etcd, w->lease, &err);
		if (t == -ENOENT) {
			log_warn(LOG, "switch %s: %s; a new one", w->def.name,
				 err.msg);
			w->lease = 0;
		} else if (t > 0) {
			w->lease_renewed_ns = now;
		}
	}
	if (!w->lease &&
	    !etcd_lease_grant(w->etcd, DSWITCH_LEASE_TTL_S, &w->lease, &err)) {
		w->lease_renewed_ns = now;
		free(w->published); /* put again, under the new lease */
		w->published = NULL;
	}
	if (!w->lease ||
	    dswitch_etcd_publish(w->etcd, &w->def, w->svc, w->lease,
				 &w->published, &err) ||
	    (n = dswitch_etcd_peers(w->etcd, &w->def, want, &err)) < 0) {
		if (!w->etcd_failing)
			log_warn(LOG, "switch %s: %s (peers unchanged)",
				 w->def.name, err.msg);
		w->etcd_failing = true;
		return;
	}
	if (w->etcd_failing)
		log_info(LOG, "switch %s: etcd answers again", w->def.name);
	w->etcd_failing = false;
	/* what the switch would keep: without itself and duplicates */
	struct sockaddr_in me;
	int k = 0;
	vxlan_parse_addr(w->def.vxlan.local, VXLAN_PORT, &me, "local", NULL);
	for (int i = 0; i < n && k < VXLAN_MAX_PEERS; i++) {
		bool dup = want[i].sin_addr.s_addr == me.sin_addr.s_addr &&
			   want[i].sin_port == me.sin_port;
		for (int j = 0; j < k && !dup; j++)
			dup = same_peer_sets(&want[i], 1, &want[j], 1);
		if (!dup)
			want[k++] = want[i];
	}
	int nh = switch_svc_vxlan_peers(w->svc, have);
	if (nh >= 0 && same_peer_sets(want, k, have, nh))
		return;
	if (!switch_svc_set_vxlan_peers(w->svc, want, (unsigned)k, &kept))
		log_info(LOG, "switch %s: %u VXLAN peer(s) from etcd",
			 w->def.name, kept);
}

static void *sync_thread(void *arg)
{
	struct daemon_switches *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SYNC_PERIOD_S;
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		if (s->stop)
			break;
		for (struct dswitch *w = s->list; w; w = w->next)
			etcd_sync_one(w);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void dswitch_free(struct dswitch *w, bool deleted)
{
	if (w->etcd) {
		dswitch_etcd_leave(w->etcd, &w->def, deleted);
		if (w->lease)
			etcd_lease_revoke(w->etcd, w->lease, NULL);
		etcd_close(w->etcd);
	}
	free(w->published);
	free(w);
}

/* Start the service of def (port groups applied). */
static struct switch_svc *start(const struct switch_def *def, struct error *err)
{
	char path[108];
	struct switch_svc *svc;

	if (net_switch_socket_path(def->name, path, sizeof(path), err))
		return NULL;
	svc = switch_svc_start(def->name, path, def->mtu, err);
	if (!svc)
		return NULL;
	/* the definition is the whole truth: drop the implicit default
	 * unless it names it */
	bool has_default = false;
	for (unsigned i = 0; i < def->n_pgs; i++) {
		if (switch_svc_portgroup_set(svc, &def->pgs[i], err)) {
			switch_svc_stop(svc);
			return NULL;
		}
		has_default |= !strcmp(def->pgs[i].name, SWITCH_SVC_DEFAULT_PG);
	}
	if (!has_default)
		switch_svc_portgroup_del(svc, SWITCH_SVC_DEFAULT_PG, NULL);
	const struct switch_uplink *u = &def->uplink;
	const char *pg = u->portgroup[0] ? u->portgroup : NULL;
	struct net_user_config nat = { 0 };
	int r = 0;
	if (def->distributed) {
		struct vxlan_config vc;
		r = switch_def_vxlan_config(def, &vc, err);
		if (!r)
			r = switch_svc_set_uplink_vxlan(svc, &vc, err);
	} else if (!strcmp(u->type, "bridge"))
		r = switch_svc_set_uplink_bridge_kind(
			svc, u->bridge,
			!strcmp(u->bridge_type, "ovs")	   ? SWITCH_BRIDGE_OVS
			: !strcmp(u->bridge_type, "linux") ? SWITCH_BRIDGE_LINUX
							   : SWITCH_BRIDGE_AUTO,
			pg, err);
	else if (!strcmp(u->type, "nat"))
		r = switch_svc_set_uplink_nat(svc, &nat, pg, err);
	else if (!strcmp(u->type, "routed")) {
		uint32_t addr;
		unsigned prefix;
		r = net_parse_cidr(u->address, &addr, &prefix);
		if (!r)
			r = switch_svc_set_uplink_routed(svc, addr, prefix,
							 u->dhcp, pg, err);
		if (!r && u->nat)
			r = switch_svc_set_masquerade(svc, err);
	}
	if (r) {
		error_prefix(err, "switch %s: uplink", def->name);
		switch_svc_stop(svc);
		return NULL;
	}
	return svc;
}

static int store(struct daemon_switches *s, const struct switch_def *def,
		 struct error *err)
{
	json_t *j = switch_def_to_json(def);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int r;

	json_decref(j);
	if (!text)
		return error_set(err, ENOMEM, "out of memory");
	r = inventory_switch_put(s->inv, def->name, text, err);
	free(text);
	return r;
}

static json_t *to_json(struct dswitch *w)
{
	static struct switch_port_info ports[VSWITCH_MAX_PORTS];
	json_t *o = switch_def_to_json(&w->def), *pa = json_array();
	unsigned n;

	if (!o || !pa)
		goto fail;
	/* ports under the registry lock: the static buffer is ours */
	n = switch_svc_ports(w->svc, ports, VSWITCH_MAX_PORTS);
	for (unsigned i = 0; i < n && i < VSWITCH_MAX_PORTS; i++) {
		const struct switch_port_info *p = &ports[i];
		char mac[18];
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 p->mac[0], p->mac[1], p->mac[2], p->mac[3], p->mac[4],
			 p->mac[5]);
		if (json_array_append_new(
			    pa,
			    json_pack("{s:I,s:i,s:s,s:s,s:I,s:I,s:I,s:I,s:I,"
				      "s:I}",
				      "cpu_us", (json_int_t)(p->cpu_ns / 1000),
				      "id", p->id, "portgroup", p->portgroup,
				      "mac", mac, "tx_frames",
				      (json_int_t)p->st.tx_frames, "tx_bytes",
				      (json_int_t)p->st.tx_bytes, "rx_frames",
				      (json_int_t)p->st.rx_frames, "rx_bytes",
				      (json_int_t)p->st.rx_bytes, "tx_dropped",
				      (json_int_t)p->st.tx_dropped,
				      "rx_dropped",
				      (json_int_t)(p->st.rx_dropped +
						   p->sock_dropped))))
			goto fail;
	}
	struct sockaddr_in peers[VXLAN_MAX_PEERS];
	int np = switch_svc_vxlan_peers(w->svc, peers);
	if (np >= 0) {
		json_t *pl = json_array();
		for (int i = 0; pl && i < np; i++) {
			char a[32];
			vxlan_format_addr(&peers[i], a, sizeof(a));
			json_array_append_new(pl, json_string(a));
		}
		if (json_object_set_new(o, "vxlan_peers", pl))
			goto fail;
	}
	struct vxlan_stats vs;
	if (!switch_svc_vxlan_stats(w->svc, &vs) &&
	    json_object_set_new(
		    o, "vxlan_stats",
		    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
			      "s:I}",
			      "tx_packets", (json_int_t)vs.tx_packets,
			      "tx_bytes", (json_int_t)vs.tx_bytes, "tx_flooded",
			      (json_int_t)vs.tx_flooded, "tx_dropped",
			      (json_int_t)vs.tx_dropped, "rx_packets",
			      (json_int_t)vs.rx_packets, "rx_bytes",
			      (json_int_t)vs.rx_bytes, "rx_not_peer",
			      (json_int_t)vs.rx_not_peer, "rx_short",
			      (json_int_t)vs.rx_short, "rx_bad_flags",
			      (json_int_t)vs.rx_bad_flags, "rx_bad_vni",
			      (json_int_t)vs.rx_bad_vni, "rx_bad_frame",
			      (json_int_t)vs.rx_bad_frame, "fdb_learned",
			      (json_int_t)vs.fdb_learned)))
		goto fail;
	char upn[32];
	struct vswitch_port_stats us;
	if (!switch_svc_uplink_stats(w->svc, &us) &&
	    json_object_set_new(
		    o, "uplink_counters",
		    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "tx_frames",
			      (json_int_t)us.tx_frames, "tx_bytes",
			      (json_int_t)us.tx_bytes, "rx_frames",
			      (json_int_t)us.rx_frames, "rx_bytes",
			      (json_int_t)us.rx_bytes, "tx_dropped",
			      (json_int_t)us.tx_dropped, "rx_dropped",
			      (json_int_t)us.rx_dropped)))
		goto fail;
	switch_svc_uplink_name(w->svc, upn, sizeof(upn));
	if (upn[0] && strcmp(upn, "nat") && strcmp(upn, "vxlan") &&
	    json_object_set_new(o, "uplink_device", json_string(upn)))
		goto fail;
	if (switch_svc_bridge_kind(w->svc)[0] &&
	    json_object_set_new(o, "uplink_bridge",
				json_string(switch_svc_bridge_kind(w->svc))))
		goto fail;
	if (json_object_set_new(o, "socket",
				json_string(switch_svc_path(w->svc))) ||
	    json_object_set_new(
		    o, "cpu_ms",
		    json_integer((json_int_t)(switch_svc_cpu_ns(w->svc) /
					      1000000))) ||
	    json_object_set_new(
		    o, "cpu_us",
		    json_integer(
			    (json_int_t)(switch_svc_cpu_ns(w->svc) / 1000))) ||
	    json_object_set_new(
		    o, "uplink_cpu_us",
		    json_integer((json_int_t)(switch_svc_uplink_cpu_ns(w->svc) /
					      1000))) ||
	    json_object_set_new(o, "ports", pa))
		goto fail_o;
	return o;
fail:
	json_decref(pa);
fail_o:
	json_decref(o);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------- */

int daemon_switches_open(struct daemon *d, struct daemon_switches **out,
			 struct error *err)
{
	struct daemon_switches *s = calloc(1, sizeof(*s));
	struct inventory_switch *list = NULL;
	char dir[4096];
	size_t n = 0;
	int r;

	if (!s)
		return error_set(err, ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	s->inv = d->inv;
	if (snprintf(dir, sizeof(dir), "%s/switch", d->cfg.state_dir) >= 90) {
		log_warn(LOG,
			 "%s: too long for switch sockets; switches "
			 "live in the default runtime directory",
			 dir);
	} else {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			log_warn(LOG, "%s: %s", dir, strerror(errno));
		net_switch_set_dir(dir);
	}
	r = inventory_switch_list(d->inv, &list, &n, err);
	if (r) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		struct dswitch *w = calloc(1, sizeof(*w));
		struct error e = { 0 };
		json_t *j = json_loads(list[i].definition, 0, NULL);

		if (!w || !j || switch_def_from_json(j, &w->def, &e) ||
		    !(w->svc = start(&w->def, &e))) {
			log_error(LOG, "switch %s: %s (not started)",
				  list[i].name, e.msg[0] ? e.msg : "bad");
			free(w);
		} else {
			if (w->def.distributed && w->def.vxlan.etcd[0])
				w->etcd = etcd_open(w->def.vxlan.etcd, NULL);
			w->next = s->list;
			s->list = w;
		}
		json_decref(j);
	}
	inventory_switch_list_free(list, n);
	pthread_cond_init(&s->cond, NULL);
	if (pthread_create(&s->sync, NULL, sync_thread, s) == 0) {
		pthread_setname_np(s->sync, "switch-etcd");
		s->sync_started = true;
	} else {
		log_warn(LOG, "switches: no etcd sync thread");
	}
	*out = s;
	return 0;
}

void daemon_switches_close(struct daemon_switches *s)
{
	if (!s)
		return;
	if (s->sync_started) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->sync, NULL);
	}
	while (s->list) {
		struct dswitch *w = s->list;
		s->list = w->next;
		switch_svc_stop(w->svc);
		dswitch_free(w, false); /* the host leaves; the switch stays */
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- API -------------------------------------------------------------------- */

int daemon_switch_metrics(struct daemon *d, struct metrics_switch **out,
			  size_t *n_out)
{
	static struct switch_port_info ports[VSWITCH_MAX_PORTS];
	struct daemon_switches *s = d->switches;
	struct metrics_switch *a = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*n_out = 0;
	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	for (struct dswitch *w = s->list; w; w = w->next)
		cap++;
	a = cap ? calloc(cap, sizeof(*a)) : NULL;
	for (struct dswitch *w = s->list; a && w; w = w->next) {
		struct metrics_switch *m = &a[n++];
		/* ports under the registry lock: the static buffer is ours */
		unsigned np = switch_svc_ports(w->svc, ports,
					       VSWITCH_MAX_PORTS);
		char up[32];
		if (np > VSWITCH_MAX_PORTS)
			np = VSWITCH_MAX_PORTS;
		switch_svc_uplink_name(w->svc, up, sizeof(up));
		snprintf(m->name, sizeof(m->name), "%s", w->def.name);
		m->cpu_ns = switch_svc_cpu_ns(w->svc);
		m->ports = calloc(np + 1, sizeof(*m->ports));
		if (!m->ports)
			continue;
		for (unsigned i = 0; i < np; i++) {
			struct metrics_switch_port *p = &m->ports[i];
			const uint8_t *x = ports[i].mac;
			snprintf(p->id, sizeof(p->id), "%d", ports[i].id);
			snprintf(p->mac, sizeof(p->mac),
				 "%02x:%02x:%02x:%02x:%02x:%02x", x[0], x[1],
				 x[2], x[3], x[4], x[5]);
			snprintf(p->portgroup, sizeof(p->portgroup), "%s",
				 ports[i].portgroup);
			p->cpu_ns = ports[i].cpu_ns;
			p->tx_frames = ports[i].st.tx_frames;
			p->tx_bytes = ports[i].st.tx_bytes;
			p->rx_frames = ports[i].st.rx_frames;
			p->rx_bytes = ports[i].st.rx_bytes;
		}
		m->n_ports = np;
		if (up[0]) {
			struct metrics_switch_port *p = &m->ports[np];
			snprintf(p->id, sizeof(p->id), "uplink");
			snprintf(p->portgroup, sizeof(p->portgroup), "%s",
				 w->def.uplink.portgroup[0]
					 ? w->def.uplink.portgroup
				 : w->def.distributed ? ""
						      : SWITCH_SVC_DEFAULT_PG);
			p->cpu_ns = switch_svc_uplink_cpu_ns(w->svc);
			struct vswitch_port_stats us;
			if (!switch_svc_uplink_stats(w->svc, &us)) {
				p->tx_frames = us.tx_frames;
				p->tx_bytes = us.tx_bytes;
				p->rx_frames = us.rx_frames;
				p->rx_bytes = us.rx_bytes;
			}
			m->n_ports++;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (cap && !a)
		return -ENOMEM;
	*out = a;
	*n_out = n;
	return 0;
}

int daemon_switch_list(struct daemon *d, json_t **out, struct error *err)
{
	struct daemon_switches *s = d->switches;
	json_t *a = json_array();

	if (!a)
		return error_set(err, ENOMEM, "out of memory");
	pthread_mutex_lock(&s->lock);
	for (struct dswitch *w = s->list; w; w = w->next)
		json_array_append_new(a, to_json(w));
	pthread_mutex_unlock(&s->lock);
	*out = json_pack("{s:o}", "switches", a);
	return *out ? 0 : error_set(err, ENOMEM, "out of memory");
}

static json_t *parse_body(const char *body, struct error *err)
{
	json_error_t je;
	json_t *j = json_loads(body ? body : "", 0, &je);

	if (!j)
		error_set(err, EINVAL, "body: not JSON: %s (line %d)", je.text,
			  je.line);
	return j;
}

int daemon_switch_create(struct daemon *d, const char *actor, const char *body,
			 json_t **out, struct error *err)
{
	struct daemon_switches *s = d->switches;
	struct dswitch *w = calloc(1, sizeof(*w));
	json_t *j = parse_body(body, err);
	int r;

	if (!w || !j) {
		free(w);
		json_decref(j);
		return w ? -EINVAL : error_set(err, ENOMEM, "out of memory");
	}
	r = switch_def_from_json(j, &w->def, err);
	json_decref(j);
	if (r) {
		free(w);
		return r;
	}
	pthread_mutex_lock(&s->lock);
	if (find(s, w->def.name)) {
		r = error_set(err, EEXIST, "switch '%s' exists", w->def.name);
	} else if (w->def.distributed && w->def.vxlan.etcd[0] &&
		   (r = dswitch_etcd_join(&w->def, !w->def.pgs_given, &w->etcd,
					  err))) {
		r = r == -EINVAL ? r : -EIO;
	} else if (!(w->svc = start(&w->def, err))) {
		int c = err ? err->code : 0;
		/* what this host cannot do as asked (no such bridge, an OVS
		 * port of that name that is not ours, no OVS): a bad request */
		r = c == EINVAL || c == ENAMETOOLONG || c == ENODEV ||
				    c == EADDRINUSE || c == EADDRNOTAVAIL ||
				    c == EEXIST || c == ENOENT ||
				    c == EOPNOTSUPP
			    ? -EINVAL
			    : -EIO;
	} else if ((r = store(s, &w->def, err))) {
		switch_svc_stop(w->svc);
	} else {
		w->next = s->list;
		s->list = w;
		etcd_sync_one(w);
		*out = to_json(w);
		log_info(LOG, "switch %s created by %s", w->def.name, actor);
	}
	pthread_mutex_unlock(&s->lock);
	if (r) {
		if (w->etcd)
			etcd_close(w->etcd);
		free(w);
	}
	return r;
}

int daemon_switch_get(struct daemon *d, const char *name, json_t **out,
		      struct error *err)
{
	struct daemon_switches *s = d->switches;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	struct dswitch *w = find(s, name);
	if (!w)
		r = error_set(err, ENOENT, "switch '%s' not found", name);
	else if (!(*out = to_json(w)))
		r = error_set(err, ENOMEM, "out of memory");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int daemon_switch_delete(struct daemon *d, const char *actor, const char *name,
			 struct error *err)
{
	struct daemon_switches *s = d->switches;
	struct switch_port_info one;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	struct dswitch **pp = &s->list;
	while (*pp && strcasecmp((*pp)->def.name, name))
		pp = &(*pp)->next;
	struct dswitch *w = *pp;
	unsigned ports = w ? switch_svc_ports(w->svc, &one, 1) : 0;
	if (!w)
		r = error_set(err, ENOENT, "switch '%s' not found", name);
	else if (ports)
		r = error_set(err, EBUSY,
			      "switch %s has %u connected port(s): stop or "
			      "move those VMs first",
			      w->def.name, ports);
	else if (!(r = inventory_switch_delete(s->inv, w->def.name, err))) {
		*pp = w->next;
		switch_svc_stop(w->svc);
		log_info(LOG, "switch %s deleted by %s", w->def.name, actor);
		dswitch_free(w, true);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int daemon_switch_portgroup_set(struct daemon *d, const char *actor,
				const char *sw, const char *body, json_t **out,
				struct error *err)
{
	struct daemon_switches *s = d->switches;
	struct vswitch_portgroup_config pg;
	json_t *j = parse_body(body, err);
	int r;

	if (!j)
		return -EINVAL;
	r = switch_portgroup_from_json(j, "portgroup", &pg, err);
	json_decref(j);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	struct dswitch *w = find(s, sw);
	struct switch_def next;
	unsigned i;
	if (!w) {
		r = error_set(err, ENOENT, "switch '%s' not found", sw);
		goto out;
	}
	next = w->def;
	for (i = 0; i < next.n_pgs && strcmp(next.pgs[i].name, pg.name); i++)
		;
	if (i == VSWITCH_MAX_PORTGROUPS) {
		r = error_set(err, ENOSPC,
			      "switch %s: more than %d port groups", sw,
			      VSWITCH_MAX_PORTGROUPS);
		goto out;
	}
	next.pgs[i] = pg;
	if (i == next.n_pgs)
		next.n_pgs++;
	if ((r = switch_svc_portgroup_set(w->svc, &pg, err)))
		goto out;
	if ((r = store(s, &next, err)))
		goto out;
	w->def = next;
	if (w->etcd && dswitch_etcd_put_definition(w->etcd, &w->def, err))
		log_warn(LOG, "switch %s: %s", sw, err->msg);
	*out = to_json(w);
	log_info(LOG, "switch %s: port group %s set by %s", sw, pg.name, actor);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

int daemon_switch_portgroup_delete(struct daemon *d, const char *actor,
				   const char *sw, const char *pg,
				   struct error *err)
{
	struct daemon_switches *s = d->switches;
	int r;

	pthread_mutex_lock(&s->lock);
	struct dswitch *w = find(s, sw);
	if (!w) {
		r = error_set(err, ENOENT, "switch '%s' not found", sw);
		goto out;
	}
	if ((r = switch_svc_portgroup_del(w->svc, pg, err)))
		goto out;
	struct switch_def next = w->def;
	unsigned k = 0;
	for (unsigned i = 0; i < next.n_pgs; i++)
		if (strcmp(next.pgs[i].name, pg))
			next.pgs[k++] = next.pgs[i];
	next.n_pgs = k;
	if (!(r = store(s, &next, err))) {
		w->def = next;
		struct error e2 = { 0 };
		if (w->etcd &&
		    dswitch_etcd_put_definition(w->etcd, &w->def, &e2))
			log_warn(LOG, "switch %s: %s", sw, e2.msg);
	}
	log_info(LOG, "switch %s: port group %s deleted by %s", sw, pg, actor);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- re-attach -------------------------------------------------------------- */

static bool serves(struct daemon_switches *s, const char *path)
{
	bool yes = false;

	pthread_mutex_lock(&s->lock);
	for (struct dswitch *w = s->list; w && !yes; w = w->next)
		yes = !strcmp(switch_svc_path(w->svc), path);
	pthread_mutex_unlock(&s->lock);
	return yes;
}

unsigned daemon_switch_dial_ports(struct daemon *d,
				  const struct virt_config *board, int *fds,
				  uint8_t *nics, char *note, size_t size)
{
	struct daemon_switches *s = d->switches;
	unsigned k = 0;
	size_t used = 0;

	char dir[108];
	size_t dl;

	if (size)
		note[0] = '\0';
	net_switch_dir(dir, sizeof(dir));
	dl = strlen(dir);
	for (unsigned i = 0; s && i < board->n_nets && i < VIRT_MAX_VIRTIO;
	     i++) {
		const struct virtio_net_config *n = &board->nets[i];
		struct error e = { 0 };
		int fd = -1;
		if (n->backend != VIRTIO_NET_BACKEND_SWITCH)
			continue;
		if (serves(s, n->switch_path))
			/* the registry's lock is not held: the hello waits
			 * for the switch's thread (a switch deleted since:
			 * connect fails) */
			fd = net_swport_dial(n->switch_path, n->portgroup,
					     n->mac, NULL, &e);
		else if (!strncmp(n->switch_path, dir, dl) &&
			 n->switch_path[dl] == '/') {
			/* one of ours by its place, but not running (it did
			 * not start: logged) */
			const char *name = n->switch_path + dl + 1;
			size_t len = strlen(name);
			if (len > 5 && !strcmp(name + len - 5, ".sock"))
				len -= 5;
			error_set(&e, ENOENT, "switch %.*s is not running",
				  (int)len, name);
		} else
			continue; /* not ours: its connection lives on */
		if (fd < 0) {
			int w = snprintf(note + used, size - used, "%s%s: %s",
					 used ? "; " : "", n->id, e.msg);
			if (w > 0)
				used += (size_t)w < size - used
						? (size_t)w
						: size - used - 1;
			continue;
		}
		fds[k] = fd;
		nics[k] = (uint8_t)i;
		k++;
	}
	return k;
}
