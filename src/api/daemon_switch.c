/* The daemon's virtual switches (daemon_switch.h). */
#include "api/daemon_switch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/daemon_impl.h"
#include "api/inventory_switch.h"
#include "api/switch_json.h"
#include "net/switch_svc.h"
#include "net/tap.h"
#include "net/swport.h"
#include "util/log.h"

#define LOG "daemon"

struct dswitch {
	struct switch_def def;
	struct switch_svc *svc;
	struct dswitch *next;
};

struct daemon_switches {
	pthread_mutex_t lock;
	struct dswitch *list;
	struct inventory *inv;
};

static struct dswitch *find(struct daemon_switches *s, const char *name)
{
	for (struct dswitch *w = s->list; w; w = w->next)
		if (!strcasecmp(w->def.name, name))
			return w;
	return NULL;
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
		r = switch_svc_set_uplink_bridge(svc, u->bridge, pg, err);
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
			    json_pack("{s:i,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I}",
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
	if (json_object_set_new(o, "socket",
				json_string(switch_svc_path(w->svc))) ||
	    json_object_set_new(
		    o, "cpu_ms",
		    json_integer((json_int_t)(switch_svc_cpu_ns(w->svc) /
					      1000000))) ||
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
			w->next = s->list;
			s->list = w;
		}
		json_decref(j);
	}
	inventory_switch_list_free(list, n);
	*out = s;
	return 0;
}

void daemon_switches_close(struct daemon_switches *s)
{
	if (!s)
		return;
	while (s->list) {
		struct dswitch *w = s->list;
		s->list = w->next;
		switch_svc_stop(w->svc);
		free(w);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- API -------------------------------------------------------------------- */

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
	} else if (!(w->svc = start(&w->def, err))) {
		int c = err ? err->code : 0;
		r = c == EINVAL || c == ENAMETOOLONG || c == ENODEV ||
				    c == EADDRINUSE || c == EADDRNOTAVAIL
			    ? -EINVAL
			    : -EIO;
	} else if ((r = store(s, &w->def, err))) {
		switch_svc_stop(w->svc);
	} else {
		w->next = s->list;
		s->list = w;
		*out = to_json(w);
		log_info(LOG, "switch %s created by %s", w->def.name, actor);
	}
	pthread_mutex_unlock(&s->lock);
	if (r)
		free(w);
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
		free(w);
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
	if (!(r = store(s, &next, err)))
		w->def = next;
	log_info(LOG, "switch %s: port group %s deleted by %s", sw, pg, actor);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}
