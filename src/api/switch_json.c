/* Virtual switch definitions in JSON (switch_json.h). */
#include "api/switch_json.h"

#include "api/etcd.h"
#include "net/tap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static json_t *shaping_to_json(const struct shaper_config *c)
{
	if (!c->enabled)
		return json_null();
	return json_pack("{s:I,s:I,s:I}", "average_kbps",
			 (json_int_t)(c->avg_bps / 1000), "peak_kbps",
			 (json_int_t)(c->peak_bps / 1000), "burst_kb",
			 (json_int_t)(c->burst_bytes / 1024));
}

json_t *switch_portgroup_to_json(const struct vswitch_portgroup_config *pg)
{
	return json_pack("{s:s,s:i,s:b,s:b,s:b,s:o,s:o}", "name", pg->name,
			 "vlan", (int)pg->vlan, "promiscuous",
			 pg->policy.promiscuous, "mac_changes",
			 pg->policy.mac_changes, "forged_transmits",
			 pg->policy.forged_transmits, "shaping_tx",
			 shaping_to_json(&pg->shape_tx), "shaping_rx",
			 shaping_to_json(&pg->shape_rx));
}

static int get_uint(const json_t *o, const char *where, const char *key,
		    uint64_t max, uint64_t *out, bool required,
		    struct error *err)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		if (required)
			return error_set(err, EINVAL, "%s.%s: required", where,
					 key);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return error_set(err, EINVAL,
				 "%s.%s: expected an integer 0..%llu", where,
				 key, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_bool(const json_t *o, const char *where, const char *key,
		    bool *out, struct error *err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return error_set(err, EINVAL, "%s.%s: expected true or false",
				 where, key);
	*out = json_is_true(v);
	return 0;
}

static int check_keys(const json_t *o, const char *where,
		      const char *const *keys, struct error *err)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v)
	{
		size_t i;
		for (i = 0; keys[i] && strcmp(keys[i], k); i++)
			;
		if (!keys[i])
			return error_set(err, EINVAL, "%s: unknown field '%s'",
					 where, k);
	}
	return 0;
}

static int shaping_from_json(const json_t *o, const char *where,
			     const char *key, struct shaper_config *c,
			     struct error *err)
{
	static const char *const keys[] = { "average_kbps", "peak_kbps",
					    "burst_kb", NULL };
	const uint64_t max = 100000000; /* 100 Gbit/s, 100 GB */
	json_t *v = json_object_get(o, key);
	char w[80];
	uint64_t a = 0, p = 0, b = 0;

	memset(c, 0, sizeof(*c));
	if (!v || json_is_null(v))
		return 0;
	snprintf(w, sizeof(w), "%s.%s", where, key);
	if (!json_is_object(v))
		return error_set(err, EINVAL, "%s: expected an object or null",
				 w);
	if (check_keys(v, w, keys, err) ||
	    get_uint(v, w, "average_kbps", max, &a, true, err) ||
	    get_uint(v, w, "peak_kbps", max, &p, true, err) ||
	    get_uint(v, w, "burst_kb", max, &b, true, err))
		return -EINVAL;
	c->enabled = true;
	c->avg_bps = a * 1000;
	c->peak_bps = p * 1000;
	c->burst_bytes = b * 1024;
	if (shaper_check(c, VSWITCH_MAX_FRAME, err)) {
		error_prefix(err, "%s", w);
		return -EINVAL;
	}
	return 0;
}

int switch_portgroup_from_json(const json_t *v, const char *where,
			       struct vswitch_portgroup_config *pg,
			       struct error *err)
{
	static const char *const keys[] = { "name",
					    "vlan",
					    "promiscuous",
					    "mac_changes",
					    "forged_transmits",
					    "shaping_tx",
					    "shaping_rx",
					    NULL };
	json_t *name;
	uint64_t vlan = 0;

	if (!json_is_object(v))
		return error_set(err, EINVAL, "%s: expected an object", where);
	if (check_keys(v, where, keys, err))
		return -EINVAL;
	name = json_object_get(v, "name");
	if (!json_is_string(name))
		return error_set(err, EINVAL, "%s.name: expected a string",
				 where);
	vswitch_portgroup_init(pg, json_string_value(name));
	if (strlen(json_string_value(name)) > VSWITCH_NAME_MAX ||
	    vswitch_check_name(json_string_value(name), "port group", err)) {
		if (!err || !err->code)
			error_set(err, EINVAL, "%s.name: too long", where);
		error_prefix(err, "%s", where);
		return -EINVAL;
	}
	if (get_uint(v, where, "vlan", VSWITCH_VLAN_TRUNK, &vlan, false, err) ||
	    get_bool(v, where, "promiscuous", &pg->policy.promiscuous, err) ||
	    get_bool(v, where, "mac_changes", &pg->policy.mac_changes, err) ||
	    get_bool(v, where, "forged_transmits", &pg->policy.forged_transmits,
		     err) ||
	    shaping_from_json(v, where, "shaping_tx", &pg->shape_tx, err) ||
	    shaping_from_json(v, where, "shaping_rx", &pg->shape_rx, err))
		return -EINVAL;
	pg->vlan = (uint16_t)vlan;
	return 0;
}

json_t *switch_def_to_json(const struct switch_def *def)
{
	json_t *pgs = json_array();

	for (unsigned i = 0; pgs && i < def->n_pgs; i++)
		if (json_array_append_new(
			    pgs, switch_portgroup_to_json(&def->pgs[i])))
			goto fail;
	if (!pgs)
		return NULL;
	json_t *up = json_pack("{s:s}", "type",
			       def->uplink.type[0] ? def->uplink.type : "none");
	if (up && def->uplink.bridge[0])
		json_object_set_new(up, "bridge",
				    json_string(def->uplink.bridge));
	if (up && def->uplink.bridge_type[0])
		json_object_set_new(up, "bridge_type",
				    json_string(def->uplink.bridge_type));
	if (up && def->uplink.address[0])
		json_object_set_new(up, "address",
				    json_string(def->uplink.address));
	if (up && !strcmp(def->uplink.type, "routed")) {
		json_object_set_new(up, "dhcp", json_boolean(def->uplink.dhcp));
		json_object_set_new(up, "nat", json_boolean(def->uplink.nat));
	}
	if (up && def->uplink.portgroup[0])
		json_object_set_new(up, "portgroup",
				    json_string(def->uplink.portgroup));
	json_t *o = json_pack(
		"{s:s,s:s,s:i,s:o,s:o*}", "name", def->name, "type",
		def->distributed ? "distributed" : "standard", "mtu",
		(int)def->mtu, "portgroups", pgs, "uplink", up);
	if (o && def->distributed) {
		json_t *peers = json_array();
		for (unsigned i = 0; peers && i < def->vxlan.n_peers; i++)
			json_array_append_new(peers,
					      json_string(def->vxlan.peers[i]));
		json_t *x = json_pack(
			"{s:s,s:o*,s:I}", "local", def->vxlan.local, "peers",
			peers, "vni_base", (json_int_t)def->vxlan.vni_base);
		if (x && def->vxlan.etcd[0])
			json_object_set_new(x, "etcd",
					    json_string(def->vxlan.etcd));
		json_object_set_new(o, "vxlan", x);
	}
	return o;
fail:
	json_decref(pgs);
	return NULL;
}

static int uplink_from_json(const json_t *u, struct switch_uplink *up,
			    struct error *err)
{
	static const char *const keys[] = { "type",	   "bridge",
					    "bridge_type", "portgroup",
					    "address",	   "dhcp",
					    "nat",	   NULL };
	const char *t, *b, *pg;

	strcpy(up->type, "none");
	if (!u || json_is_null(u))
		return 0;
	if (!json_is_object(u))
		return error_set(err, EINVAL, "uplink: expected an object");
	if (check_keys(u, "uplink", keys, err))
		return -EINVAL;
	t = json_string_value(json_object_get(u, "type"));
	b = json_string_value(json_object_get(u, "bridge"));
	pg = json_string_value(json_object_get(u, "portgroup"));
	if (!t || (strcmp(t, "none") && strcmp(t, "bridge") &&
		   strcmp(t, "nat") && strcmp(t, "routed")))
		return error_set(err, EINVAL,
				 "uplink.type: expected \"none\", "
				 "\"bridge\", \"nat\" or \"routed\"");
	strcpy(up->type, t);
	const char *a = json_string_value(json_object_get(u, "address"));
	uint32_t addr;
	unsigned prefix;
	if (!strcmp(t, "routed") != (a != NULL))
		return error_set(err, EINVAL, "uplink.address: %s",
				 a ? "only for type \"routed\""
				   : "required for type \"routed\"");
	if (a) {
		if (strlen(a) >= sizeof(up->address) ||
		    net_parse_cidr(a, &addr, &prefix) || prefix > 29)
			return error_set(err, EINVAL,
					 "uplink.address: '%s': expected "
					 "A.B.C.D/N like 10.78.0.1/24 (N "
					 "1..29)",
					 a);
		strcpy(up->address, a);
	}
	json_t *dh = json_object_get(u, "dhcp");
	if (dh && (!json_is_boolean(dh) || strcmp(t, "routed")))
		return error_set(err, EINVAL,
				 "uplink.dhcp: true or false, for type "
				 "\"routed\"");
	up->dhcp = json_is_true(dh);
	json_t *nat = json_object_get(u, "nat");
	if (nat && (!json_is_boolean(nat) || strcmp(t, "routed")))
		return error_set(err, EINVAL,
				 "uplink.nat: true or false, for type "
				 "\"routed\" (type \"nat\" is user-mode "
				 "NAT)");
	up->nat = json_is_true(nat);
	if (!strcmp(t, "bridge") != (b != NULL))
		return error_set(err, EINVAL, "uplink.bridge: %s",
				 b ? "only for type \"bridge\""
				   : "required for type \"bridge\"");
	if (b) {
		if (!b[0] || strlen(b) >= sizeof(up->bridge) || strchr(b, '/'))
			return error_set(err, EINVAL,
					 "uplink.bridge: expected an "
					 "interface name of 1..15 characters");
		strcpy(up->bridge, b);
	}
	json_t *bt = json_object_get(u, "bridge_type");
	if (bt) {
		const char *v = json_string_value(bt);
		if (strcmp(t, "bridge") || !v ||
		    (strcmp(v, "linux") && strcmp(v, "ovs")))
			return error_set(err, EINVAL,
					 "uplink.bridge_type: \"linux\" or "
					 "\"ovs\", for type \"bridge\"");
		strcpy(up->bridge_type, v);
	}
	if (json_object_get(u, "portgroup")) {
		if (!pg || vswitch_check_name(pg, "port group", err)) {
			error_prefix(err, "uplink.portgroup");
			return -EINVAL;
		}
		strcpy(up->portgroup, pg);
	}
	return 0;
}

int switch_def_vxlan_config(const struct switch_def *def,
			    struct vxlan_config *cfg, struct error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->vni_base = def->vxlan.vni_base;
	if (vxlan_parse_addr(def->vxlan.local, VXLAN_PORT, &cfg->local,
			     "vxlan.local", err))
		return -EINVAL;
	for (unsigned i = 0; i < def->vxlan.n_peers; i++)
		if (vxlan_parse_addr(def->vxlan.peers[i], VXLAN_PORT,
				     &cfg->peers[i], "vxlan.peers[]", err))
			return -EINVAL;
	cfg->n_peers = def->vxlan.n_peers;
	return 0;
}

static int vxlan_from_json(const json_t *x, struct switch_vxlan *vx,
			   struct error *err)
{
	static const char *const keys[] = { "local", "peers", "vni_base",
					    "etcd", NULL };
	struct sockaddr_in a;
	uint64_t base = VXLAN_VNI_BASE;

	if (!json_is_object(x))
		return error_set(err, EINVAL,
				 "vxlan: an object {\"local\": \"A.B.C.D"
				 "[:PORT]\", \"peers\": [...]} is required "
				 "for type \"distributed\"");
	if (check_keys(x, "vxlan", keys, err))
		return -EINVAL;
	const char *l = json_string_value(json_object_get(x, "local"));
	if (!l || strlen(l) >= sizeof(vx->local))
		return error_set(err, EINVAL,
				 "vxlan.local: expected \"A.B.C.D[:PORT]\"");
	if (vxlan_parse_addr(l, VXLAN_PORT, &a, "vxlan.local", err))
		return -EINVAL;
	strcpy(vx->local, l);
	json_t *peers = json_object_get(x, "peers");
	if (peers &&
	    (!json_is_array(peers) || json_array_size(peers) > VXLAN_MAX_PEERS))
		return error_set(err, EINVAL,
				 "vxlan.peers: expected an array of at most "
				 "%d addresses",
				 VXLAN_MAX_PEERS);
	for (size_t i = 0; i < json_array_size(peers); i++) {
		const char *p = json_string_value(json_array_get(peers, i));
		char w[48];
		snprintf(w, sizeof(w), "vxlan.peers[%zu]", i);
		if (!p || strlen(p) >= sizeof(vx->peers[0]))
			return error_set(err, EINVAL,
					 "%s: expected \"A.B.C.D[:PORT]\"", w);
		if (vxlan_parse_addr(p, VXLAN_PORT, &a, w, err))
			return -EINVAL;
		strcpy(vx->peers[vx->n_peers++], p);
	}
	if (get_uint(x, "vxlan", "vni_base", VXLAN_VNI_MAX - 4094, &base, false,
		     err))
		return -EINVAL;
	vx->vni_base = (uint32_t)base;
	json_t *et = json_object_get(x, "etcd");
	if (et) {
		const char *u = json_string_value(et);
		if (!u || strlen(u) >= sizeof(vx->etcd))
			return error_set(err, EINVAL,
					 "vxlan.etcd: expected "
					 "\"http://HOST:PORT\"");
		if (etcd_check_url(u, err)) {
			error_prefix(err, "vxlan.etcd");
			return -EINVAL;
		}
		strcpy(vx->etcd, u);
	}
	return 0;
}

int switch_def_from_json(const json_t *v, struct switch_def *def,
			 struct error *err)
{
	static const char *const keys[] = { "name",  "type",	   "mtu",
					    "vxlan", "portgroups", "uplink",
					    NULL };
	json_t *name, *pgs;
	uint64_t mtu = VSWITCH_MTU_DEFAULT;

	memset(def, 0, sizeof(*def));
	if (!json_is_object(v))
		return error_set(err, EINVAL, "switch: expected an object");
	if (check_keys(v, "switch", keys, err))
		return -EINVAL;
	name = json_object_get(v, "name");
	if (!json_is_string(name))
		return error_set(err, EINVAL, "name: expected a string");
	if (strlen(json_string_value(name)) > VSWITCH_NAME_MAX ||
	    vswitch_check_name(json_string_value(name), "switch", err))
		return error_set(err, EINVAL,
				 "name: '%s': expected 1..%d of letters, "
				 "digits, '_', '-', '.' (not first)",
				 json_string_value(name), VSWITCH_NAME_MAX);
	strcpy(def->name, json_string_value(name));
	if (get_uint(v, "switch", "mtu", VSWITCH_MTU_MAX, &mtu, false, err))
		return -EINVAL;
	if (mtu < VSWITCH_MTU_MIN)
		return error_set(err, EINVAL, "mtu: %llu: expected %d..%d",
				 (unsigned long long)mtu, VSWITCH_MTU_MIN,
				 VSWITCH_MTU_MAX);
	def->mtu = (uint32_t)mtu;
	if (uplink_from_json(json_object_get(v, "uplink"), &def->uplink, err))
		return -EINVAL;
	json_t *type = json_object_get(v, "type");
	if (type && (!json_is_string(type) ||
		     (strcmp(json_string_value(type), "standard") &&
		      strcmp(json_string_value(type), "distributed"))))
		return error_set(err, EINVAL,
				 "type: expected \"standard\" or "
				 "\"distributed\"");
	def->distributed = type &&
			   !strcmp(json_string_value(type), "distributed");
	if (!def->distributed && json_object_get(v, "vxlan"))
		return error_set(err, EINVAL,
				 "vxlan: only for type \"distributed\"");
	if (def->distributed) {
		if (strcmp(def->uplink.type, "none"))
			return error_set(err, EINVAL,
					 "uplink: a distributed switch's "
					 "uplink is its VXLAN endpoint (no "
					 "\"uplink\")");
		if (vxlan_from_json(json_object_get(v, "vxlan"), &def->vxlan,
				    err))
			return -EINVAL;
	}
	pgs = json_object_get(v, "portgroups");
	def->pgs_given = pgs != NULL;
	if (!pgs) {
		vswitch_portgroup_init(&def->pgs[0], "default");
		def->n_pgs = 1;
		return 0;
	}
	if (!json_is_array(pgs) ||
	    json_array_size(pgs) > VSWITCH_MAX_PORTGROUPS)
		return error_set(err, EINVAL,
				 "portgroups: expected an array of at most %d",
				 VSWITCH_MAX_PORTGROUPS);
	for (size_t i = 0; i < json_array_size(pgs); i++) {
		char w[48];

		snprintf(w, sizeof(w), "portgroups[%zu]", i);
		if (switch_portgroup_from_json(json_array_get(pgs, i), w,
					       &def->pgs[i], err))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(def->pgs[j].name, def->pgs[i].name))
				return error_set(err, EINVAL,
						 "%s.name: '%s' twice", w,
						 def->pgs[i].name);
		def->n_pgs++;
	}
	return 0;
}
