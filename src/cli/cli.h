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

#endif
