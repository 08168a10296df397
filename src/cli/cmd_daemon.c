/*
 * softvisor daemon: the host's vmkernel and its management plane in one
 * process (docs/daemon.md): the inventory, every VM, the vCPU scheduler and
 * the REST API on a unix socket (and optionally TLS over TCP).
 */
#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/daemon.h"
#include "api/daemon_io.h"
#include "api/rest.h"
#include "cli/cli.h"
#include "util/log.h"
#include "util/parse.h"

static void daemon_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor daemon [OPTIONS]\n"
		"\n"
		"Run the host daemon: VMs, scheduler, inventory and REST API.\n"
		"\n"
		"  --state-dir DIR     inventory and certificates (default\n"
		"                      /var/lib/softvisor, or\n"
		"                      $XDG_STATE_HOME/softvisor when not "
		"root)\n"
		"  --socket PATH       API unix socket (default\n"
		"                      /run/softvisor/api.sock, or\n"
		"                      $XDG_RUNTIME_DIR/softvisor/api.sock)\n"
		"  --listen ADDR:PORT  also serve the API over TLS on TCP\n"
		"  --tls-cert FILE     PEM certificate+key for --listen "
		"(default:\n"
		"                      generated in STATE-DIR/tls/ on first "
		"start)\n"
		"  --pcpus N           host CPUs given to the vmkernel "
		"(default all)\n"
		"  --mhz N             nominal MHz per pCPU (default: the "
		"host's)\n"
		"  --shutdown-timeout S  seconds a guest gets to power off "
		"after\n"
		"                      the power button before a hard stop "
		"(120)\n"
		"  --no-scheduler      vCPU threads run freely (benchmarks)\n"
		"  --mem-budget SIZE   memory the VMs may hold in total, e.g. "
		"48G\n"
		"                      (default: host RAM minus the larger "
		"of 1G\n"
		"                      and 10 %%); docs/memory.md\n"
		"  --datastore PATH,iops=N[,bps=N]  the capacity of the file\n"
		"                      system holding PATH, divided by disk\n"
		"                      shares when its VMs contend "
		"(repeatable)\n"
		"  --in-process        run the VMs in the daemon's process,\n"
		"                      not one worker process each "
		"(debugging)\n"
		"  --sandbox on|off    VM workers in the sandbox (default on;\n"
		"                      docs/security.md)\n"
		"  --inter-vm-sharing on|off  share identical pages across "
		"VMs\n"
		"                      (default on; docs/memory.md)\n"
		"  --restart-limit N/S  on_crash restart: at most N restarts "
		"of a VM\n"
		"                      within S seconds (default 3/60)\n"
		"  --keep-vms[=S]      VMs outlive the daemon: a crash, or "
		"SIGUSR2,\n"
		"                      leaves them running; the next daemon "
		"on this\n"
		"                      state dir re-attaches them (their "
		"workers wait\n"
		"                      S seconds for it, default 300)\n"
		"  --log SPEC          log levels, e.g. daemon=debug\n");
}

static void default_paths(char *state, size_t ns, char *sock, size_t nk)
{
	const char *x = getenv("XDG_STATE_HOME");
	if (geteuid() == 0)
		snprintf(state, ns, "/var/lib/softvisor");
	else if (x && *x)
		snprintf(state, ns, "%s/softvisor", x);
	else
		snprintf(state, ns, "%s/.local/state/softvisor",
			 getenv("HOME") ? getenv("HOME") : "/tmp");
	if (rest_default_socket_path(sock, nk))
		snprintf(sock, nk, "/run/softvisor/api.sock");
}

int cmd_daemon(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "pcpus", required_argument, NULL, 'p' },
		{ "mhz", required_argument, NULL, 'm' },
		{ "shutdown-timeout", required_argument, NULL, 't' },
		{ "no-scheduler", no_argument, NULL, 'n' },
		{ "in-process", no_argument, NULL, 'i' },
		{ "sandbox", required_argument, NULL, 'X' },
		{ "inter-vm-sharing", required_argument, NULL, 'I' },
		{ "restart-limit", required_argument, NULL, 'R' },
		{ "mem-budget", required_argument, NULL, 'B' },
		{ "datastore", required_argument, NULL, 'D' },
		{ "log", required_argument, NULL, 'L' },
		{ "keep-vms", optional_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char state_dir[4096], sock[4096];
	struct daemon_config dc = { .inter_vm_sharing = true };
	struct rest_config rc = { 0 };
	struct error err = { 0 };
	uint64_t u;
	int c;

	default_paths(state_dir, sizeof(state_dir), sock, sizeof(sock));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snprintf(state_dir, sizeof(state_dir), "%s", optarg);
			break;
		case 'S': snprintf(sock, sizeof(sock), "%s", optarg); break;
		case 'l': rc.listen = optarg; break;
		case 'c': rc.tls_cert = optarg; break;
		case 'k': rc.tls_key = optarg; break;
		case 'n': dc.no_scheduler = true; break;
		case 'i': dc.in_process = true; break;
		case 'K':
			dc.keep_vms = true;
			if (optarg && parse_u64(optarg, 1, 86400, &u,
						"--keep-vms", &err)) {
				fprintf(stderr, "softvisor daemon: %s\n",
					err.msg);
				return CLI_EXIT_USAGE;
			}
			dc.keep_vms_grace_s = optarg ? (unsigned)u : 0;
			break;
		case 'X':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr,
					"softvisor daemon: --sandbox: "
					"on or off, not '%s'\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			dc.no_sandbox = !strcmp(optarg, "off");
			break;
		case 'I':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr,
					"softvisor daemon: --inter-vm-sharing: "
					"on or off, not '%s'\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			dc.inter_vm_sharing = !strcmp(optarg, "on");
			break;
		case 'R': {
			unsigned n = 0, s = 0;
			char tail;
			if (sscanf(optarg, "%u/%u%c", &n, &s, &tail) != 2 ||
			    n < 1 || n > 16 || s < 1 || s > 86400) {
				fprintf(stderr,
					"softvisor daemon: --restart-limit: "
					"N/SECONDS with N 1..16, SECONDS "
					"1..86400, not '%s'\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			dc.restart_limit = n;
			dc.restart_window_s = s;
			break;
		}
		case 'B':
			if (parse_size(optarg, 1ull << 20, &dc.mem_budget,
				       "--mem-budget", &err)) {
				fprintf(stderr, "softvisor daemon: %s\n",
					err.msg);
				return CLI_EXIT_USAGE;
			}
			if (dc.mem_budget < (16ull << 20)) {
				fprintf(stderr,
					"softvisor daemon: --mem-budget %s: "
					"expected at least 16M\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'D': {
			static struct daemon_datastore_cfg
				ds[DAEMON_IO_MAX_DATASTORES];

			if (dc.n_datastores == DAEMON_IO_MAX_DATASTORES) {
				fprintf(stderr,
					"softvisor daemon: --datastore: at "
					"most %u\n",
					DAEMON_IO_MAX_DATASTORES);
				return CLI_EXIT_USAGE;
			}
			if (daemon_io_parse_datastore(
				    optarg, &ds[dc.n_datastores], &err)) {
				fprintf(stderr, "softvisor daemon: %s\n",
					err.msg);
				return CLI_EXIT_USAGE;
			}
			dc.datastores = ds;
			dc.n_datastores++;
			break;
		}
		case 'p':
		case 'm':
		case 't':
			if (parse_u64(optarg, 1,
				      c == 'p'	 ? 64
				      : c == 'm' ? 1000000
						 : 3600,
				      &u,
				      c == 'p'	 ? "--pcpus"
				      : c == 'm' ? "--mhz"
						 : "--shutdown-timeout",
				      &err)) {
				fprintf(stderr, "softvisor daemon: %s\n",
					err.msg);
				return CLI_EXIT_USAGE;
			}
			if (c == 'p')
				dc.pcpus = (unsigned)u;
			else if (c == 'm')
				dc.mhz = u;
			else
				dc.shutdown_timeout_s = (unsigned)u;
			break;
		case 'L': {
			char msg[256];
			if (log_configure(optarg, msg, sizeof(msg))) {
				fprintf(stderr, "softvisor daemon: --log: %s\n",
					msg);
				return CLI_EXIT_USAGE;
			}
			break;
		}
		case 'h': daemon_usage(stdout); return CLI_EXIT_OK;
		default: daemon_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "softvisor daemon: unexpected argument '%s'\n",
			argv[optind]);
		return CLI_EXIT_USAGE;
	}
	dc.state_dir = state_dir;
	rc.socket_path = sock;
	rc.state_dir = state_dir;

	/* signals are taken synchronously by this thread; every thread
	 * created from here on inherits the mask */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR2); /* leave the VMs running (--keep-vms) */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct daemon *d;
	if (daemon_open(&dc, &d, &err)) {
		fprintf(stderr, "softvisor daemon: %s\n", err.msg);
		return CLI_EXIT_FAIL;
	}
	struct rest *rest;
	if (rest_start(d, &rc, &rest, &err)) {
		fprintf(stderr, "softvisor daemon: %s\n", err.msg);
		daemon_close(d);
		return CLI_EXIT_FAIL;
	}
	fprintf(stderr, "softvisor daemon: listening on %s%s%s (state in %s)\n",
		sock, rc.listen ? " and https://" : "",
		rc.listen ? rc.listen : "", state_dir);

	int sig;
	while (sigwait(&sigs, &sig) == 0) {
		if (sig == SIGHUP)
			continue; /* no configuration to reload yet */
		break;
	}
	bool leave = sig == SIGUSR2 && dc.keep_vms;
	fprintf(stderr, "softvisor daemon: signal %d: %s\n", sig,
		leave ? "leaving the VMs running" : "stopping VMs");
	rest_stop(rest);
	if (leave)
		daemon_close_leave_vms(d);
	else
		daemon_close(d);
	fprintf(stderr, "softvisor daemon: stopped\n");
	return CLI_EXIT_OK;
}
