/*
 * Unit tests of switch definitions in JSON (src/api/switch_json.c): the
 * round trip, defaults, and refusals that name the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "api/switch_json.h"

static int parse(const char *text, struct switch_def *def, struct error *e)
{
	json_t *j = json_loads(text, 0, NULL);
	int r;

	assert_non_null(j);
	r = switch_def_from_json(j, def, e);
	json_decref(j);
	return r;
}

static void test_round_trip(void **state)
{
	static struct switch_def def, back;
	struct error err = { 0 };

	assert_int_equal(
		parse("{\"name\":\"sw0\",\"mtu\":9000,\"portgroups\":["
		      "{\"name\":\"red\",\"vlan\":10,\"promiscuous\":true,"
		      "\"shaping_tx\":{\"average_kbps\":1000,"
		      "\"peak_kbps\":2000,\"burst_kb\":100}},"
		      "{\"name\":\"t\",\"vlan\":4095,\"forged_transmits\":"
		      "false,"
		      "\"shaping_rx\":null}]}",
		      &def, &err),
		0);
	assert_string_equal(def.name, "sw0");
	assert_int_equal(def.mtu, 9000);
	assert_int_equal(def.n_pgs, 2);
	assert_int_equal(def.pgs[0].vlan, 10);
	assert_true(def.pgs[0].policy.promiscuous);
	assert_true(def.pgs[0].policy.mac_changes);
	assert_true(def.pgs[0].shape_tx.enabled);
	assert_int_equal(def.pgs[0].shape_tx.avg_bps, 1000000);
	assert_int_equal(def.pgs[0].shape_tx.burst_bytes, 102400);
	assert_false(def.pgs[1].policy.forged_transmits);
	assert_false(def.pgs[1].shape_rx.enabled);

	json_t *j = switch_def_to_json(&def);
	assert_non_null(j);
	assert_int_equal(switch_def_from_json(j, &back, &err), 0);
	json_decref(j);
	assert_memory_equal(&def, &back, sizeof(def));

	/* defaults: MTU 1500, one port group "default" */
	assert_int_equal(parse("{\"name\":\"b\",\"uplink\":{\"type\":"
			       "\"bridge\",\"bridge\":\"br0\","
			       "\"portgroup\":\"red\"}}",
			       &def, &err),
			 0);
	assert_string_equal(def.uplink.type, "bridge");
	assert_string_equal(def.uplink.bridge, "br0");
	assert_string_equal(def.uplink.portgroup, "red");
	assert_int_equal(parse("{\"name\":\"r\",\"uplink\":{\"type\":"
			       "\"routed\",\"address\":\"10.78.0.1/24\","
			       "\"dhcp\":true}}",
			       &def, &err),
			 0);
	assert_string_equal(def.uplink.address, "10.78.0.1/24");
	assert_true(def.uplink.dhcp);
	j = switch_def_to_json(&def);
	assert_int_equal(switch_def_from_json(j, &back, &err), 0);
	json_decref(j);
	/* a detail of parsing: the first had no "portgroups" */
	back.pgs_given = def.pgs_given;
	assert_memory_equal(&def, &back, sizeof(def));
	assert_int_equal(parse("{\"name\":\"b\",\"uplink\":{\"type\":"
			       "\"bridge\",\"bridge\":\"br0\","
			       "\"portgroup\":\"red\"}}",
			       &def, &err),
			 0);
	assert_string_equal(def.uplink.type, "bridge");
	assert_string_equal(def.uplink.bridge, "br0");
	assert_string_equal(def.uplink.portgroup, "red");
	assert_int_equal(parse("{\"name\":\"a\"}", &def, &err), 0);
	assert_string_equal(def.uplink.type, "none");
	assert_string_equal(def.uplink.type, "none");
	assert_int_equal(def.mtu, VSWITCH_MTU_DEFAULT);
	assert_int_equal(def.n_pgs, 1);
	assert_string_equal(def.pgs[0].name, "default");
	assert_int_equal(def.pgs[0].vlan, 0);
}

static void test_refusals(void **state)
{
	static const struct {
		const char *json, *msg;
	} bad[] = {
		{ "[]", "expected an object" },
		{ "{}", "name" },
		{ "{\"name\":\"a b\"}", "name" },
		{ "{\"name\":\"a\",\"x\":1}", "unknown field 'x'" },
		{ "{\"name\":\"a\",\"mtu\":100}", "mtu" },
		{ "{\"name\":\"a\",\"mtu\":70000}", "mtu" },
		{ "{\"name\":\"a\",\"portgroups\":{}}", "portgroups" },
		{ "{\"name\":\"a\",\"portgroups\":[{\"name\":\"p\","
		  "\"vlan\":4096}]}",
		  "portgroups[0].vlan" },
		{ "{\"name\":\"a\",\"portgroups\":[{\"name\":\"p\"},"
		  "{\"name\":\"p\"}]}",
		  "twice" },
		{ "{\"name\":\"a\",\"portgroups\":[{\"name\":\"p\","
		  "\"promiscuous\":1}]}",
		  "promiscuous" },
		{ "{\"name\":\"a\",\"portgroups\":[{\"name\":\"p\","
		  "\"shaping_tx\":{\"average_kbps\":10}}]}",
		  "peak_kbps" },
		{ "{\"name\":\"a\",\"portgroups\":[{\"name\":\"p\","
		  "\"shaping_tx\":{\"average_kbps\":10,\"peak_kbps\":5,"
		  "\"burst_kb\":100}}]}",
		  "peak" },
		{ "{\"name\":\"a\",\"portgroups\":[{\"name\":\"p\","
		  "\"shaping_tx\":{\"average_kbps\":10,\"peak_kbps\":50,"
		  "\"burst_kb\":1}}]}",
		  "burst" },
		{ "{\"name\":\"a\",\"portgroups\":[{\"vlan\":1}]}", "name" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"tap\"}}",
		  "uplink.type" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"routed\"}}",
		  "uplink.address" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"routed\","
		  "\"address\":\"10.0.0.1\"}}",
		  "A.B.C.D/N" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"nat\","
		  "\"dhcp\":true}}",
		  "uplink.dhcp" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"bridge\"}}",
		  "required" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"nat\","
		  "\"bridge\":\"br0\"}}",
		  "only for" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"bridge\","
		  "\"bridge\":\"a-very-long-bridge-name\"}}",
		  "1..15" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"tap\"}}",
		  "uplink.type" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"bridge\"}}",
		  "required" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"nat\","
		  "\"bridge\":\"br0\"}}",
		  "only for" },
		{ "{\"name\":\"a\",\"uplink\":{\"type\":\"bridge\","
		  "\"bridge\":\"a-very-long-bridge-name\"}}",
		  "1..15" },
	};
	static struct switch_def def;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct error err = { 0 };
		if (parse(bad[i].json, &def, &err) != -EINVAL)
			fail_msg("accepted %s", bad[i].json);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("%s: message '%s' lacks '%s'", bad[i].json,
				 err.msg, bad[i].msg);
	}
}

/* A distributed switch and a routed one with masquerade: round trip and
 * refusals naming the field. */
static void test_distributed_and_nat(void **state)
{
	static struct switch_def def, back;
	struct vxlan_config vc;
	struct error err = { 0 };

	(void)state;
	assert_int_equal(parse("{\"name\":\"dvs\",\"type\":\"distributed\","
			       "\"vxlan\":{\"local\":\"127.0.0.2:4790\","
			       "\"peers\":[\"127.0.0.3\",\"127.0.0.4:5000\"],"
			       "\"vni_base\":7000}}",
			       &def, &err),
			 0);
	assert_true(def.distributed);
	assert_int_equal(def.vxlan.n_peers, 2);
	assert_int_equal(def.vxlan.vni_base, 7000);
	assert_int_equal(switch_def_vxlan_config(&def, &vc, &err), 0);
	assert_int_equal(ntohs(vc.local.sin_port), 4790);
	assert_int_equal(ntohs(vc.peers[0].sin_port), VXLAN_PORT);
	assert_int_equal(ntohs(vc.peers[1].sin_port), 5000);
	json_t *j = switch_def_to_json(&def);
	assert_string_equal(json_string_value(json_object_get(j, "type")),
			    "distributed");
	assert_int_equal(switch_def_from_json(j, &back, &err), 0);
	json_decref(j);
	assert_memory_equal(&def.vxlan, &back.vxlan, sizeof(def.vxlan));
	/* the default VNI base; a standard switch says so */
	assert_int_equal(parse("{\"name\":\"d\",\"type\":\"distributed\","
			       "\"vxlan\":{\"local\":\"10.0.0.1\"}}",
			       &def, &err),
			 0);
	assert_int_equal(def.vxlan.vni_base, VXLAN_VNI_BASE);
	assert_int_equal(def.vxlan.n_peers, 0);
	assert_int_equal(parse("{\"name\":\"s\"}", &def, &err), 0);
	j = switch_def_to_json(&def);
	assert_string_equal(json_string_value(json_object_get(j, "type")),
			    "standard");
	assert_null(json_object_get(j, "vxlan"));
	json_decref(j);
	/* routed with nat */
	assert_int_equal(parse("{\"name\":\"r\",\"uplink\":{\"type\":"
			       "\"routed\",\"address\":\"10.78.0.1/24\","
			       "\"nat\":true}}",
			       &def, &err),
			 0);
	assert_true(def.uplink.nat);
	j = switch_def_to_json(&def);
	assert_true(json_is_true(
		json_object_get(json_object_get(j, "uplink"), "nat")));
	json_decref(j);

	static const struct {
		const char *json, *word;
	} bad[] = {
		{ "{\"name\":\"d\",\"type\":\"distributed\"}", "vxlan" },
		{ "{\"name\":\"d\",\"type\":\"vds\"}", "type" },
		{ "{\"name\":\"d\",\"vxlan\":{\"local\":\"1.2.3.4\"}}",
		  "only for type" },
		{ "{\"name\":\"d\",\"type\":\"distributed\",\"vxlan\":"
		  "{\"local\":\"1.2.3\"}}",
		  "vxlan.local" },
		{ "{\"name\":\"d\",\"type\":\"distributed\",\"vxlan\":"
		  "{\"local\":\"1.2.3.4\",\"peers\":[\"x\"]}}",
		  "vxlan.peers[0]" },
		{ "{\"name\":\"d\",\"type\":\"distributed\",\"vxlan\":"
		  "{\"local\":\"1.2.3.4:0\"}}",
		  "vxlan.local" },
		{ "{\"name\":\"d\",\"type\":\"distributed\",\"vxlan\":"
		  "{\"local\":\"1.2.3.4\",\"vni_base\":16777215}}",
		  "vni_base" },
		{ "{\"name\":\"d\",\"type\":\"distributed\",\"vxlan\":"
		  "{\"local\":\"1.2.3.4\",\"group\":1}}",
		  "group" },
		{ "{\"name\":\"d\",\"type\":\"distributed\",\"vxlan\":"
		  "{\"local\":\"1.2.3.4\"},\"uplink\":{\"type\":"
		  "\"nat\"}}",
		  "uplink" },
		{ "{\"name\":\"r\",\"uplink\":{\"type\":\"nat\","
		  "\"nat\":true}}",
		  "uplink.nat" },
		{ "{\"name\":\"r\",\"uplink\":{\"type\":\"routed\","
		  "\"address\":\"10.78.0.1/24\",\"nat\":1}}",
		  "uplink.nat" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(parse(bad[i].json, &def, &err), -EINVAL);
		if (!strstr(err.msg, bad[i].word))
			fail_msg("%s: '%s' does not name %s", bad[i].json,
				 err.msg, bad[i].word);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_distributed_and_nat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
