/*
 * softvisor switch: virtual switches.
 *
 *   softvisor switch serve NAME [--socket PATH] [--mtu N] [--portgroup SPEC]...
 *       run a switch in this process until SIGINT/SIGTERM (for VMs of
 *       `softvisor run --net switch=NAME`).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cmdutil.h"
#include "net/switch_svc.h"
#include "net/swport.h"
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
		"                    group 'default' (VLAN 0) always exists\n");
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

static int cmd_switch_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "portgroup", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
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
	printf("switch %s listening on %s\n", name, path);
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	switch_svc_stop(svc);
	return CLI_EXIT_OK;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: softvisor switch COMMAND [ARGS...]\n"
		   "commands:\n"
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
	fprintf(stderr, "softvisor switch: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
