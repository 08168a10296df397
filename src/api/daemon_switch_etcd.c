/* A distributed switch's definition and VTEPs in etcd (daemon_switch_etcd.h). */
#include "api/daemon_switch_etcd.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define LOG "daemon"

static void key(char *buf, size_t size, const struct switch_def *def,
		const char *what)
{
	snprintf(buf, size, DSWITCH_ETCD_PREFIX "%s/%s", def->name, what);
}

int dswitch_etcd_put_definition(struct etcd *e, const struct switch_def *def,
				struct error *err)
{
	char k[128];
	json_t *j = switch_def_to_json(def);
	json_t *x = json_object_get(j, "vxlan");
	char *text;
	int r;

	json_object_del(x, "local");
	json_object_del(x, "peers");
	json_object_del(x, "etcd");
	json_object_del(j, "uplink");
	text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!text)
		return error_set(err, ENOMEM, "out of memory");
	key(k, sizeof(k), def, "definition");
	r = etcd_put(e, k, text, err);
	free(text);
	return r;
}

int dswitch_etcd_join(struct switch_def *def, bool adopt, struct etcd **out,
		      struct error *err)
{
	struct etcd *e = etcd_open(def->vxlan.etcd, err);
	char k[128], *text = NULL;
	int r;

	if (!e)
		return -EINVAL;
	key(k, sizeof(k), def, "definition");
	r = etcd_get(e, k, &text, err);
	if (r == -ENOENT || (!r && !adopt)) {
		free(text);
		r = dswitch_etcd_put_definition(e, def, err);
	} else if (!r) {
		/* the shared definition, with this host's endpoint */
		json_t *j = json_loads(text, 0, NULL);
		json_t *x = json_object_get(j, "vxlan");
		struct switch_def shared;
		free(text);
		if (x) {
			json_object_set_new(x, "local",
					    json_string(def->vxlan.local));
			json_object_set_new(x, "etcd",
					    json_string(def->vxlan.etcd));
		}
		r = j && x ? switch_def_from_json(j, &shared, err)
			   : error_set(err, EPROTO, "not a distributed switch");
		json_decref(j);
		if (r) {
			error_prefix(err, "etcd %s", k);
		} else {
			def->mtu = shared.mtu;
			def->vxlan.vni_base = shared.vxlan.vni_base;
			memcpy(def->pgs, shared.pgs, sizeof(def->pgs));
			def->n_pgs = shared.n_pgs;
			def->pgs_given = true;
		}
	}
	if (r) {
		etcd_close(e);
		return r;
	}
	*out = e;
	return 0;
}

int dswitch_etcd_publish(struct etcd *e, const struct switch_def *def,
			 struct switch_svc *svc, int64_t lease, char **last,
			 struct error *err)
{
	static struct switch_port_info ports[VSWITCH_MAX_PORTS];
	static pthread_mutex_t ports_lock = PTHREAD_MUTEX_INITIALIZER;
	struct sockaddr_in me;
	char vtep[32], k[160];
	json_t *pa = json_array();
	int r;

	if (vxlan_parse_addr(def->vxlan.local, VXLAN_PORT, &me, "vxlan.local",
			     err)) {
		json_decref(pa);
		return -EINVAL;
	}
	vxlan_format_addr(&me, vtep, sizeof(vtep));
	pthread_mutex_lock(&ports_lock);
	unsigned n = switch_svc_ports(svc, ports, VSWITCH_MAX_PORTS);
	for (unsigned i = 0; pa && i < n && i < VSWITCH_MAX_PORTS; i++) {
		char mac[18];
		const uint8_t *m = ports[i].mac;
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 m[0], m[1], m[2], m[3], m[4], m[5]);
		json_array_append_new(pa, json_pack("{s:s,s:s}", "mac", mac,
						    "portgroup",
						    ports[i].portgroup));
	}
	pthread_mutex_unlock(&ports_lock);
	json_t *j = json_pack("{s:s,s:o*}", "vtep", vtep, "ports", pa);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return error_set(err, ENOMEM, "out of memory");
	if (*last && !strcmp(*last, text)) {
		free(text);
		return 0;
	}
	snprintf(k, sizeof(k), DSWITCH_ETCD_PREFIX "%s/vteps/%s", def->name,
		 vtep);
	r = etcd_put_lease(e, k, text, lease, err);
	if (!r) {
		free(*last);
		*last = text;
	} else {
		free(text);
	}
	return r;
}

struct peers {
	struct sockaddr_in *out;
	int n;
};

static void add_peer(const char *k, const char *value, void *opaque)
{
	struct peers *p = opaque;
	json_t *j = json_loads(value, 0, NULL);
	const char *v = json_string_value(json_object_get(j, "vtep"));
	struct sockaddr_in a;

	/* a record that is not ours to read is skipped, not trusted */
	if (v && p->n < VXLAN_MAX_PEERS &&
	    !vxlan_parse_addr(v, VXLAN_PORT, &a, "vtep", NULL))
		p->out[p->n++] = a;
	else
		log_warn(LOG, "etcd %s: not a VTEP record (skipped)", k);
	json_decref(j);
}

int dswitch_etcd_peers(struct etcd *e, const struct switch_def *def,
		       struct sockaddr_in *out, struct error *err)
{
	struct peers p = { out, 0 };
	char k[128];
	int r;

	for (unsigned i = 0; i < def->vxlan.n_peers && i < VXLAN_MAX_PEERS; i++)
		if (!vxlan_parse_addr(def->vxlan.peers[i], VXLAN_PORT,
				      &out[p.n], "peer", NULL))
			p.n++;
	key(k, sizeof(k), def, "vteps/");
	r = etcd_list(e, k, add_peer, &p, err);
	return r < 0 ? r : p.n;
}

void dswitch_etcd_leave(struct etcd *e, const struct switch_def *def,
			bool forget)
{
	struct sockaddr_in me;
	struct error err = { 0 };
	char vtep[32], k[160];

	if (!vxlan_parse_addr(def->vxlan.local, VXLAN_PORT, &me, "local",
			      NULL)) {
		vxlan_format_addr(&me, vtep, sizeof(vtep));
		snprintf(k, sizeof(k), DSWITCH_ETCD_PREFIX "%s/vteps/%s",
			 def->name, vtep);
		if (etcd_delete(e, k, false, &err) < 0)
			log_warn(LOG, "%s", err.msg);
	}
	if (!forget)
		return;
	key(k, sizeof(k), def, "vteps/");
	struct sockaddr_in none[VXLAN_MAX_PEERS];
	struct peers p = { none, 0 };
	if (etcd_list(e, k, add_peer, &p, &err) == 0) {
		key(k, sizeof(k), def, "definition");
		etcd_delete(e, k, false, NULL);
	}
}
