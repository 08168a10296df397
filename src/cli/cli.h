/* Subcommands of the softvisor CLI. Each takes argv starting at its own name
 * and returns the process exit status. */
#ifndef SV_CLI_CLI_H
#define SV_CLI_CLI_H

#include "util/compiler.h"

/* Exit statuses (docs/cli.md). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,  /* the operation failed */
	CLI_EXIT_USAGE = 2, /* bad command line or bad input */
};

struct cli_command {
	const char *name;
	const char *help;
	int (*fn)(int argc, char **argv);
};

int cmd_run(int argc, char **argv);
int cmd_daemon(int argc, char **argv); /* softvisor daemon (cmd_daemon.c) */
/* softvisor __vm-worker (cmd_worker.c): started by the daemon only. */
int cmd_vm_worker(int argc, char **argv);

/* Clients of the daemon's REST API (client.h): cmd_vm.c, cmd_host.c. */
int cmd_vm(int argc, char **argv);
int cmd_host(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_top(int argc, char **argv);    /* softvisor top (cmd_top.c) */
int cmd_audit(int argc, char **argv);  /* softvisor audit (cmd_audit.c) */
int cmd_image(int argc, char **argv);  /* softvisor image (cmd_image.c) */
int cmd_switch(int argc, char **argv); /* virtual switches (cmd_switch.c) */

#endif
