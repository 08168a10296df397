/*
 * softvisor __vm-worker --fd N [--sandbox on|off]: the VM worker process
 * (issue 14), started by the daemon only (hidden from the command list).
 * Runs one VM for the daemon on the SOCK_SEQPACKET socket N; see
 * vmm/vmworker.h. In the sandbox by default (cli/worker_sandbox.h,
 * docs/security.md); the daemon's --sandbox off passes --sandbox off.
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/worker_sandbox.h"
#include "util/parse.h"
#include "vmm/vmworker.h"

int cmd_vm_worker(int argc, char **argv)
{
	struct error err = { 0 };
	uint64_t fd;

	bool sandbox = true;
	if (argc == 5 && !strcmp(argv[3], "--sandbox") &&
	    (!strcmp(argv[4], "on") || !strcmp(argv[4], "off"))) {
		sandbox = !strcmp(argv[4], "on");
		argc = 3;
	}
	if (argc != 3 || strcmp(argv[1], "--fd") != 0) {
		fprintf(stderr, "softvisor __vm-worker: started by the daemon "
				"only (usage: __vm-worker --fd N "
				"[--sandbox on|off])\n");
		return CLI_EXIT_USAGE;
	}
	if (parse_u64(argv[2], 3, 1023, &fd, "--fd", &err)) {
		fprintf(stderr, "softvisor __vm-worker: %s\n", err.msg);
		return CLI_EXIT_USAGE;
	}
	int type = 0;
	socklen_t tl = sizeof(type);
	if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) ||
	    type != SOCK_SEQPACKET) {
		fprintf(stderr,
			"softvisor __vm-worker: fd %d is not the daemon's "
			"socket\n",
			(int)fd);
		return CLI_EXIT_USAGE;
	}
	/* keep nothing else the daemon may have leaked to us */
	if (fd > 3)
		close_range(3, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0u, 0);
	signal(SIGPIPE, SIG_IGN);

	/* the sandbox's first step now, before anything is opened; the
	 * rest in the hooks (docs/security.md, "Daemon workers") */
	struct vmworker_hooks hooks;
	if (!sandbox) {
		worker_hooks_plain(&hooks);
	} else if (worker_sandbox_init((int)fd, &hooks, &err)) {
		fprintf(stderr, "softvisor __vm-worker: %s\n", err.msg);
		return CLI_EXIT_FAIL;
	}
	return worker_sandbox_exit(vmworker_main((int)fd, &hooks));
}
