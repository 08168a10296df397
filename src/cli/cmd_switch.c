/*
 * softvisor switch: virtual switches (docs/network.md, docs/cli.md).
 *
 *   the daemon's switches (REST /v1/switches):
 *     create NAME [--mtu N] [--portgroup SPEC]...   list   show NAME
 *     delete NAME   portgroup-add SWITCH SPEC   portgroup-delete SWITCH PG
 *   standalone:
 *     serve NAME [--socket PATH] [--mtu N] [--portgroup SPEC]...
 *       run a switch in this process until SIGINT/SIGTERM (for VMs of
 *       `softvisor run --net switch=NAME`).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "api/etcd.h"
#include "api/switch_json.h"
#include "cli/cmdutil.h"
#include "cli/output.h"
#include "net/switch_svc.h"
#include "net/swport.h"
#include "net/tap.h"
#include "net/user.h"
#include "util/parse.h"

static void serve_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor switch serve NAME [--socket PATH] [--mtu N]\n"
		"                              [--portgroup SPEC]...\n"
		"Run switch NAME in this process until SIGINT or SIGTERM.\n"
		"VMs join with --net switch=NAME[,portgroup=PG] (or\n"
		"switch=PATH with --socket).\n"
		"  --socket PATH     its socket (default DIR/NAME.sock, DIR "
		"from\n"
		"                    $SOFTVISOR_SWITCH_DIR or the runtime "
		"dir)\n"
		"  --mtu N           576..65500 (default 1500)\n"
		"  --portgroup SPEC  NAME[,vlan=N][,promiscuous=on|off]\n"
		"                    [,mac-changes=on|off]"
		"[,forged-transmits=on|off]\n"
		"                    [,shape-tx=AVG:PEAK:BURST]"
		"[,shape-rx=...]\n"
		"                    (Kbit/s, Kbit/s, KB); repeatable; a "
		"port\n"
		"                    group 'default' (VLAN 0) always exists\n"
		"  --uplink bridge=BR[,portgroup=PG]\n"
		"                    a TAP device sv-NAME attached to the "
		"existing\n"
		"                    Linux or Open vSwitch bridge BR, a port "
		"of\n"
		"                    PG (default 'default'); needs "
		"CAP_NET_ADMIN\n"
		"  --uplink ovs-bridge=BR[,portgroup=PG]\n"
		"                    the same, BR an Open vSwitch bridge (the "
		"port\n"
		"                    tagged with PG's VLAN)\n"
		"  --uplink routed=ADDR/PREFIX[,dhcp=on][,nat=on]"
		"[,portgroup=PG]\n"
		"                    a TAP device sv-NAME with the host's "
		"address\n"
		"                    on the switch's subnet (dnsmasq for "
		"DHCP;\n"
		"                    nat=on: nftables masquerade in table\n"
		"                    ip softvisor)\n"
		"  --uplink nat[,portgroup=PG][,hostfwd=RULE]...\n"
		"                    user-mode NAT (10.0.2.0/24, DHCP) shared "
		"by\n"
		"                    the VMs of PG\n"
		"  --distributed local=ADDR[:PORT][,peer=ADDR[:PORT]]..."
		"[,vni-base=N]\n"
		"                    a distributed switch: every VLAN to the "
		"peers\n"
		"                    over VXLAN (UDP, port 4789 by default), "
		"VNI\n"
		"                    N + VLAN (default N 10000)\n");
}

static int mkdir_parent(const char *path)
{
	char dir[108], *p;

	snprintf(dir, sizeof(dir), "%s", path);
	for (p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

#define MAX_PG_ARGS 64

struct uplink_args {
	char kind[8];  /* "", "bridge", "nat", "routed" */
	uint32_t addr; /* routed: network byte order */
	unsigned prefix;
	bool dhcp;
	bool masq; /* routed: nat=on, masquerade */
	char bridge[16];
	bool ovs; /* ovs-bridge=BR: an Open vSwitch bridge */
	char pg[32];
	struct net_user_config nat;
};

/* --uplink bridge=BR[,portgroup=PG] | nat[,portgroup=PG][,hostfwd=R]... */
static int parse_uplink(const char *spec, struct uplink_args *u,
			struct error *err)
{
	char buf[512], *save = NULL, *tok;

	memset(u, 0, sizeof(*u));
	if (strlen(spec) >= sizeof(buf))
		return error_set(err, EINVAL, "--uplink: too long");
	strcpy(buf, spec);
	tok = strtok_r(buf, ",", &save);
	if (tok && !strncmp(tok, "bridge=", 7) && tok[7] &&
	    strlen(tok + 7) < sizeof(u->bridge)) {
		strcpy(u->kind, "bridge");
		strcpy(u->bridge, tok + 7);
	} else if (tok && !strncmp(tok, "ovs-bridge=", 11) && tok[11] &&
		   strlen(tok + 11) < sizeof(u->bridge)) {
		strcpy(u->kind, "bridge");
		strcpy(u->bridge, tok + 11);
		u->ovs = true;
	} else if (tok && !strcmp(tok, "nat")) {
		strcpy(u->kind, "nat");
	} else if (tok && !strncmp(tok, "routed=", 7)) {
		strcpy(u->kind, "routed");
		if (net_parse_cidr(tok + 7, &u->addr, &u->prefix))
			return error_set(err, EINVAL,
					 "--uplink %s: expected "
					 "routed=ADDRESS/PREFIX like "
					 "10.78.0.1/24",
					 spec);
	} else {
		return error_set(err, EINVAL,
				 "--uplink %s: expected bridge=BRIDGE or "
				 "ovs-bridge=BRIDGE (1..15 characters), nat or "
				 "routed=ADDR/PREFIX, then ,portgroup=PG",
				 spec);
	}
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strncmp(tok, "portgroup=", 10) && tok[10] &&
		    strlen(tok + 10) < sizeof(u->pg)) {
			strcpy(u->pg, tok + 10);
		} else if (!strcmp(tok, "dhcp=on") &&
			   !strcmp(u->kind, "routed")) {
			u->dhcp = true;
		} else if (!strcmp(tok, "nat=on") &&
			   !strcmp(u->kind, "routed")) {
			u->masq = true;
		} else if (!strncmp(tok, "hostfwd=", 8) &&
			   !strcmp(u->kind, "nat")) {
			if (u->nat.n_fwd == NET_USER_MAX_HOSTFWD)
				return error_set(err, EINVAL,
						 "--uplink: more than %d "
						 "hostfwd",
						 NET_USER_MAX_HOSTFWD);
			if (net_hostfwd_parse(tok + 8,
					      &u->nat.fwd[u->nat.n_fwd++], err))
				return -EINVAL;
		} else {
			return error_set(err, EINVAL,
					 "--uplink %s: unknown option '%s' "
					 "(expected portgroup=PG%s)",
					 spec, tok,
					 !strcmp(u->kind, "nat")
						 ? " or hostfwd=RULE"
					 : !strcmp(u->kind, "routed")
						 ? ", dhcp=on or nat=on"
						 : "");
		}
	}
	return 0;
}

/* --distributed local=ADDR[:PORT][,peer=ADDR[:PORT]]...[,vni-base=N]:
 * cfg parsed; json (may be NULL) gets the definition's "vxlan" object. */
static int parse_distributed(const char *spec, struct vxlan_config *cfg,
			     json_t **json, struct error *err)
{
	char buf[2048], *save = NULL, *tok;
	json_t *peers = json_array();
	const char *local = NULL, *etcd = NULL;
	uint64_t base = VXLAN_VNI_BASE;
	int r = -EINVAL;

	memset(cfg, 0, sizeof(*cfg));
	if (!peers)
		return error_set(err, ENOMEM, "out of memory");
	if (strlen(spec) >= sizeof(buf)) {
		error_set(err, EINVAL, "--distributed: too long");
		goto out;
	}
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "local=", 6)) {
			if (vxlan_parse_addr(tok + 6, VXLAN_PORT, &cfg->local,
					     "--distributed local", err))
				goto out;
			local = tok;
		} else if (!strncmp(tok, "peer=", 5)) {
			if (cfg->n_peers == VXLAN_MAX_PEERS) {
				error_set(err, EINVAL,
					  "--distributed: more than %d peers",
					  VXLAN_MAX_PEERS);
				goto out;
			}
			if (vxlan_parse_addr(tok + 5, VXLAN_PORT,
					     &cfg->peers[cfg->n_peers],
					     "--distributed peer", err))
				goto out;
			cfg->n_peers++;
			json_array_append_new(peers, json_string(tok + 5));
		} else if (!strncmp(tok, "etcd=", 5) && json) {
			if (etcd_check_url(tok + 5, err)) {
				error_prefix(err, "--distributed");
				goto out;
			}
			etcd = tok + 5;
		} else if (!strncmp(tok, "vni-base=", 9)) {
			if (parse_u64(tok + 9, 0, VXLAN_VNI_MAX - 4094, &base,
				      "--distributed vni-base", err))
				goto out;
		} else {
			error_set(err, EINVAL,
				  "--distributed %s: unknown option '%s' "
				  "(expected local=ADDR[:PORT], "
				  "peer=ADDR[:PORT], vni-base=N%s)",
				  spec, tok, json ? " or etcd=URL" : "");
			goto out;
		}
	}
	if (!local) {
		error_set(err, EINVAL,
			  "--distributed %s: local=ADDR[:PORT] is required "
			  "(this host's VXLAN endpoint)",
			  spec);
		goto out;
	}
	cfg->vni_base = (uint32_t)base;
	if (json) {
		char l[32];
		vxlan_format_addr(&cfg->local, l, sizeof(l));
		*json = json_pack("{s:s,s:O,s:I}", "local", l, "peers", peers,
				  "vni_base", (json_int_t)base);
		if (*json && etcd)
			json_object_set_new(*json, "etcd", json_string(etcd));
	}
	r = 0;
out:
	json_decref(peers);
	return r;
}

static int cmd_switch_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "portgroup", required_argument, NULL, 'p' },
		{ "uplink", required_argument, NULL, 'u' },
		{ "distributed", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct uplink_args up = { 0 };
	struct vxlan_config vxc;
	bool distributed = false;
	struct vswitch_portgroup_config pgs[MAX_PG_ARGS];
	unsigned n_pg = 0;
	const char *sock = NULL;
	uint64_t mtu = 0;
	struct error err = { 0 };
	char path[108];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'm':
			if (parse_u64(optarg, VSWITCH_MTU_MIN, VSWITCH_MTU_MAX,
				      &mtu, "--mtu", &err))
				return cmd_usage_error("switch serve", &err);
			break;
		case 'p':
			if (n_pg == MAX_PG_ARGS) {
				error_set(&err, EINVAL,
					  "more than %d --portgroup",
					  MAX_PG_ARGS);
				return cmd_usage_error("switch serve", &err);
			}
			if (vswitch_portgroup_parse(optarg, &pgs[n_pg], &err))
				return cmd_usage_error("switch serve", &err);
			n_pg++;
			break;
		case 'u':
			if (parse_uplink(optarg, &up, &err))
				return cmd_usage_error("switch serve", &err);
			break;
		case 'd':
			if (parse_distributed(optarg, &vxc, NULL, &err))
				return cmd_usage_error("switch serve", &err);
			distributed = true;
			break;
		case 'h': serve_usage(stdout); return CLI_EXIT_OK;
		default: serve_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		serve_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *name = argv[optind];
	if (vswitch_check_name(name, "switch", &err))
		return cmd_usage_error("switch serve", &err);
	if (distributed && up.kind[0]) {
		error_set(&err, EINVAL,
			  "--distributed and --uplink: a distributed "
			  "switch's uplink is its VXLAN endpoint");
		return cmd_usage_error("switch serve", &err);
	}
	if (net_switch_socket_path(sock ? sock : name, path, sizeof(path),
				   &err))
		return cmd_usage_error("switch serve", &err);
	if (mkdir_parent(path) < 0) {
		error_set(&err, errno,
			  "switch socket %s: cannot create its "
			  "directory",
			  path);
		return cmd_fail(&err);
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	struct switch_svc *svc = switch_svc_start(name, path, (uint32_t)mtu,
						  &err);
	if (!svc)
		return cmd_fail(&err);
	for (unsigned i = 0; i < n_pg; i++)
		if (switch_svc_portgroup_set(svc, &pgs[i], &err)) {
			switch_svc_stop(svc);
			return cmd_usage_error("switch serve", &err);
		}
	const char *up_pg = up.pg[0] ? up.pg : NULL;
	if ((!strcmp(up.kind, "bridge") &&
	     switch_svc_set_uplink_bridge_kind(svc, up.bridge,
					       up.ovs ? SWITCH_BRIDGE_OVS
						      : SWITCH_BRIDGE_AUTO,
					       up_pg, &err)) ||
	    (!strcmp(up.kind, "nat") &&
	     switch_svc_set_uplink_nat(svc, &up.nat, up_pg, &err)) ||
	    (distributed && switch_svc_set_uplink_vxlan(svc, &vxc, &err)) ||
	    (!strcmp(up.kind, "routed") &&
	     (switch_svc_set_uplink_routed(svc, up.addr, up.prefix, up.dhcp,
					   up_pg, &err) ||
	      (up.masq && switch_svc_set_masquerade(svc, &err))))) {
		switch_svc_stop(svc);
		return cmd_fail(&err);
	}
	printf("switch %s listening on %s\n", name, path);
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	switch_svc_stop(svc);
	return CLI_EXIT_OK;
}

/* ---- the daemon's switches ------------------------------------------------ */

static void client_usage(FILE *f)
{
	fprintf(f, "usage: softvisor switch create NAME [--mtu N] "
		   "[--portgroup SPEC]...\n"
		   "              [--uplink [ovs-]bridge=BR[,portgroup=PG] | "
		   "nat[,portgroup=PG] |\n"
		   "                        routed=ADDR/N[,dhcp=on][,nat=on]"
		   "[,portgroup=PG]]\n"
		   "              [--distributed local=ADDR[:PORT]"
		   "[,peer=ADDR[:PORT]]...[,vni-base=N]\n"
		   "                             [,etcd=http://HOST:PORT]]\n"
		   "       softvisor switch list\n"
		   "       softvisor switch show NAME\n"
		   "       softvisor switch delete NAME\n"
		   "       softvisor switch portgroup-add SWITCH SPEC\n"
		   "       softvisor switch portgroup-delete SWITCH PORTGROUP\n"
		   "SPEC: NAME[,vlan=N][,promiscuous=on|off]"
		   "[,mac-changes=on|off]\n"
		   "      [,forged-transmits=on|off][,shape-tx=AVG:PEAK:BURST]"
		   "[,shape-rx=...]\n"
		   "portgroup-add changes a port group of that name in "
		   "place.\n\n");
	client_opts_usage(f);
}

struct create_args {
	uint64_t mtu;
	json_t *pgs;
	json_t *uplink;
	json_t *vxlan; /* --distributed */
};

enum { O_MTU = 300, O_PG, O_UPLINK, O_DIST };

static int create_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct create_args *a = opaque;
	struct vswitch_portgroup_config pg;

	if (c == O_MTU)
		return parse_u64(arg, VSWITCH_MTU_MIN, VSWITCH_MTU_MAX, &a->mtu,
				 "--mtu", err);
	if (c == O_DIST) {
		struct vxlan_config vc;
		json_decref(a->vxlan);
		a->vxlan = NULL;
		return parse_distributed(arg, &vc, &a->vxlan, err);
	}
	if (c == O_UPLINK) {
		struct uplink_args u;
		if (parse_uplink(arg, &u, err))
			return -EINVAL;
		if (u.nat.n_fwd)
			return error_set(err, EINVAL,
					 "--uplink: hostfwd is for switch "
					 "serve only");
		json_decref(a->uplink);
		a->uplink = json_pack("{s:s}", "type", u.kind);
		if (u.bridge[0])
			json_object_set_new(a->uplink, "bridge",
					    json_string(u.bridge));
		if (u.ovs)
			json_object_set_new(a->uplink, "bridge_type",
					    json_string("ovs"));
		if (!strcmp(u.kind, "routed")) {
			char ip[INET_ADDRSTRLEN], cidr[INET_ADDRSTRLEN + 4];
			inet_ntop(AF_INET, &u.addr, ip, sizeof(ip));
			snprintf(cidr, sizeof(cidr), "%s/%u", ip, u.prefix);
			json_object_set_new(a->uplink, "address",
					    json_string(cidr));
			json_object_set_new(a->uplink, "dhcp",
					    json_boolean(u.dhcp));
			json_object_set_new(a->uplink, "nat",
					    json_boolean(u.masq));
		}
		if (u.pg[0])
			json_object_set_new(a->uplink, "portgroup",
					    json_string(u.pg));
		return 0;
	}
	if (vswitch_portgroup_parse(arg, &pg, err))
		return -EINVAL;
	return json_array_append_new(a->pgs, switch_portgroup_to_json(&pg))
		       ? error_set(err, ENOMEM, "out of memory")
		       : 0;
}

static void print_switch(const json_t *sw)
{
	const json_t *pg, *p;
	size_t i;

	const json_t *up = json_object_get(sw, "uplink");
	printf("switch %s  mtu %.0f  cpu %.0f ms  socket %s  uplink %s%s%s\n",
	       cmd_jstr(sw, "name"), cmd_jnum(sw, "mtu"),
	       cmd_jnum(sw, "cpu_ms"), cmd_jstr(sw, "socket"),
	       up ? cmd_jstr(up, "type") : "none",
	       up && json_object_get(up, "bridge") ? " " : "",
	       up && json_object_get(up, "bridge") ? cmd_jstr(up, "bridge")
						   : "");
	const json_t *vx = json_object_get(sw, "vxlan");
	if (vx) {
		const json_t *st = json_object_get(sw, "vxlan_stats"), *pe;
		size_t k;
		printf("distributed: VXLAN endpoint %s  VNI %.0f + VLAN  peers",
		       cmd_jstr(vx, "local"), cmd_jnum(vx, "vni_base"));
		json_array_foreach(json_object_get(vx, "peers"), k, pe)
			printf(" %s", json_string_value(pe));
		printf("\n");
		if (st)
			printf("  vxlan tx %.0f (flooded %.0f, dropped %.0f)  "
			       "rx %.0f  dropped: not a peer %.0f, short "
			       "%.0f, flags %.0f, vni %.0f, frame %.0f\n",
			       cmd_jnum(st, "tx_packets"),
			       cmd_jnum(st, "tx_flooded"),
			       cmd_jnum(st, "tx_dropped"),
			       cmd_jnum(st, "rx_packets"),
			       cmd_jnum(st, "rx_not_peer"),
			       cmd_jnum(st, "rx_short"),
			       cmd_jnum(st, "rx_bad_flags"),
			       cmd_jnum(st, "rx_bad_vni"),
			       cmd_jnum(st, "rx_bad_frame"));
	}
	printf("%-16s %5s  %-5s %-5s %-5s %s\n", "PORTGROUP", "VLAN", "PROMI",
	       "MACCH", "FORGE", "SHAPING tx / rx (avg:peak kbit/s:burst KB)");
	json_array_foreach(json_object_get(sw, "portgroups"), i, pg)
	{
		char sh[2][64];
		const char *k[2] = { "shaping_tx", "shaping_rx" };
		for (int d = 0; d < 2; d++) {
			const json_t *x = json_object_get(pg, k[d]);
			if (json_is_object(x))
				snprintf(sh[d], sizeof(sh[d]), "%.0f:%.0f:%.0f",
					 cmd_jnum(x, "average_kbps"),
					 cmd_jnum(x, "peak_kbps"),
					 cmd_jnum(x, "burst_kb"));
			else
				snprintf(sh[d], sizeof(sh[d]), "-");
		}
		printf("%-16s %5.0f  %-5s %-5s %-5s %s / %s\n",
		       cmd_jstr(pg, "name"), cmd_jnum(pg, "vlan"),
		       json_is_true(json_object_get(pg, "promiscuous")) ? "yes"
									: "no",
		       json_is_true(json_object_get(pg, "mac_changes")) ? "yes"
									: "no",
		       json_is_true(json_object_get(pg, "forged_transmits"))
			       ? "yes"
			       : "no",
		       sh[0], sh[1]);
	}
	if (json_object_get(sw, "uplink_device"))
		printf("uplink device %s%s%s%s  cpu %.3f ms\n",
		       cmd_jstr(sw, "uplink_device"),
		       json_object_get(sw, "uplink_bridge") ? " (bridge: " : "",
		       json_object_get(sw, "uplink_bridge")
			       ? cmd_jstr(sw, "uplink_bridge")
			       : "",
		       json_object_get(sw, "uplink_bridge") ? ")" : "",
		       cmd_jnum(sw, "uplink_cpu_us") / 1000.0);
	printf("%-4s %-16s %-17s %12s %12s %10s %10s %10s\n", "PORT",
	       "PORTGROUP", "MAC", "TX FRAMES", "RX FRAMES", "TX DROP",
	       "RX DROP", "CPU ms");
	json_array_foreach(json_object_get(sw, "ports"), i, p) printf(
		"%-4.0f %-16s %-17s %12.0f %12.0f %10.0f %10.0f %10.3f\n",
		cmd_jnum(p, "id"), cmd_jstr(p, "portgroup"), cmd_jstr(p, "mac"),
		cmd_jnum(p, "tx_frames"), cmd_jnum(p, "rx_frames"),
		cmd_jnum(p, "tx_dropped"), cmd_jnum(p, "rx_dropped"),
		cmd_jnum(p, "cpu_us") / 1000.0);
}

static char *switch_path(const char *name, const char *suffix)
{
	char *e = cmd_escape(name), *p = NULL;
	size_t n;

	if (!e)
		return NULL;
	n = strlen("/v1/switches/") + strlen(e) + strlen(suffix) + 1;
	p = malloc(n);
	if (p)
		snprintf(p, n, "/v1/switches/%s%s", e, suffix);
	free(e);
	return p;
}

static int cmd_switch_client(int argc, char **argv)
{
	static const struct option create_opts[] = {
		{ "mtu", required_argument, NULL, O_MTU },
		{ "portgroup", required_argument, NULL, O_PG },
		{ "uplink", required_argument, NULL, O_UPLINK },
		{ "distributed", required_argument, NULL, O_DIST },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub = argv[1];
	struct create_args a = { 0, json_array(), NULL, NULL };
	struct client_opts o = { 0 };
	const char *pos[2] = { NULL, NULL };
	struct client *c;
	json_t *reply = NULL, *body = NULL;
	struct error err = { 0 };
	char cmd[48], *path = NULL;
	bool create = !strcmp(sub, "create");
	int nargs = !strcmp(sub, "list")	      ? 0
		    : !strncmp(sub, "portgroup-", 10) ? 2
						      : 1;
	int r;

	snprintf(cmd, sizeof(cmd), "switch %s", sub);
	r = cmd_parse(argc - 1, argv + 1, cmd, create ? create_opts : NULL,
		      create ? create_opt : NULL, &a, nargs, pos, &o,
		      client_usage);
	if (r >= 0)
		goto out;
	if (!strcmp(sub, "portgroup-add")) {
		struct vswitch_portgroup_config pg;
		if (vswitch_portgroup_parse(pos[1], &pg, &err)) {
			r = cmd_usage_error(cmd, &err);
			goto out;
		}
		body = switch_portgroup_to_json(&pg);
	} else if (create) {
		body = json_pack("{s:s,s:O}", "name", pos[0], "portgroups",
				 a.pgs);
		if (body && a.mtu)
			json_object_set_new(body, "mtu", json_integer(a.mtu));
		if (body && !json_array_size(a.pgs))
			json_object_del(body, "portgroups");
		if (body && a.uplink)
			json_object_set(body, "uplink", a.uplink);
		if (body && a.vxlan) {
			json_object_set_new(body, "type",
					    json_string("distributed"));
			json_object_set(body, "vxlan", a.vxlan);
		}
	}
	if ((r = cmd_open(&o, &c)) != 0)
		goto out;
	if (!strcmp(sub, "list")) {
		r = cmd_call(c, "GET", "/v1/switches", NULL, &reply);
	} else if (create) {
		r = cmd_call(c, "POST", "/v1/switches", body, &reply);
	} else if (!strcmp(sub, "show")) {
		r = cmd_call(c, "GET", path = switch_path(pos[0], ""), NULL,
			     &reply);
	} else if (!strcmp(sub, "delete")) {
		r = cmd_call(c, "DELETE", path = switch_path(pos[0], ""), NULL,
			     &reply);
	} else if (!strcmp(sub, "portgroup-add")) {
		r = cmd_call(c, "POST",
			     path = switch_path(pos[0], "/portgroups"), body,
			     &reply);
	} else {
		char *pg = cmd_escape(pos[1]), suffix[128];
		snprintf(suffix, sizeof(suffix), "/portgroups/%s",
			 pg ? pg : "");
		free(pg);
		r = cmd_call(c, "DELETE", path = switch_path(pos[0], suffix),
			     NULL, &reply);
	}
	if (!r && reply) {
		if (client_output(c) == CLIENT_OUTPUT_JSON) {
			output_json(stdout, reply);
		} else if (!strcmp(sub, "list")) {
			const json_t *sw;
			size_t i;
			printf("%-16s %6s %10s %6s\n", "NAME", "MTU",
			       "PORTGROUPS", "PORTS");
			json_array_foreach(json_object_get(reply, "switches"),
					   i, sw)
				printf("%-16s %6.0f %10zu %6zu\n",
				       cmd_jstr(sw, "name"),
				       cmd_jnum(sw, "mtu"),
				       json_array_size(json_object_get(
					       sw, "portgroups")),
				       json_array_size(
					       json_object_get(sw, "ports")));
		} else {
			print_switch(reply);
		}
	}
	client_close(c);
out:
	free(path);
	json_decref(reply);
	json_decref(body);
	json_decref(a.pgs);
	json_decref(a.uplink);
	json_decref(a.vxlan);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: softvisor switch COMMAND [ARGS...]\n"
		   "commands:\n"
		   "  create NAME [--mtu N] [--portgroup SPEC]... "
		   "[--uplink U | --distributed D]\n"
		   "  list | show NAME | delete NAME\n"
		   "  portgroup-add SWITCH SPEC | portgroup-delete SWITCH PG\n"
		   "                   the daemon's switches\n"
		   "  serve NAME ...   run a switch in this process\n"
		   "docs/network.md describes switches, port groups and "
		   "VLANs.\n");
}

int cmd_switch(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "serve"))
		return cmd_switch_serve(argc - 1, argv + 1);
	static const char *const client_cmds[] = {
		"create",	    "list", "show", "delete", "portgroup-add",
		"portgroup-delete", NULL
	};
	for (int i = 0; client_cmds[i]; i++)
		if (!strcmp(argv[1], client_cmds[i]))
			return cmd_switch_client(argc, argv);
	fprintf(stderr, "softvisor switch: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
