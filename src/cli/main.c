/*
 * softvisor: the command-line entry point. Parses the subcommand and hands
 * over to the layer that does the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"

static const struct cli_command commands[] = {
	{ "run", "boot one virtual machine in this process", cmd_run },
	{ "daemon", "run the host daemon: VMs, scheduler, REST API",
	  cmd_daemon },
	{ "vm", "manage the daemon's VMs (create, start, console, ...)",
	  cmd_vm },
	{ "host", "the daemon's host: capacity and usage", cmd_host },
	{ "events", "the daemon's event log", cmd_events },
	{ "token", "API tokens for remote access", cmd_token },
	{ "top", "esxtop-style CPU figures of the daemon's VMs", cmd_top },
	{ "audit", "who changed what through the API (audit log)", cmd_audit },
	{ "image", "disk images: create, info, check, convert, resize",
	  cmd_image },
	{ "switch", "virtual switches, port groups and VLANs", cmd_switch },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: softvisor [--help] [--version] COMMAND [ARGS...]\n"
		   "\n"
		   "Softvisor is a software hypervisor: it runs RISC-V 64-bit\n"
		   "virtual machines that boot unmodified Debian Linux.\n"
		   "\n"
		   "commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'softvisor COMMAND --help' describes a command;"
		   " docs/cli.md has the reference.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("softvisor %s\n", SOFTVISOR_VERSION);
		return 0;
	}
	/* the daemon's VM worker (issue 14): not a user command */
	if (strcmp(argv[1], "__vm-worker") == 0)
		return cmd_vm_worker(argc - 1, argv + 1);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "softvisor: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
