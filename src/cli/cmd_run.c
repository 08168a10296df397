/* softvisor run: boot one VM in this process (the one-shot vmkernel). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_run(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: softvisor run --kernel FILE [options]\n");
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "softvisor run: the virtual machine is not available "
			"yet (the RISC-V hart and the virt board are still "
			"being built)\n");
	return CLI_EXIT_FAIL;
}
