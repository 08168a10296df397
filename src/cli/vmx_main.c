/*
 * softvisor-vmx: the daemon's per-VM worker executable (issue 14; as ESX
 * runs a VMX process per VM). It holds the layers one VM needs (util up
 * to vmm, and the worker's sandbox) and links only their libraries: a
 * worker maps none of the daemon's and the API clients' (libcurl,
 * SQLite, civetweb, ncurses, nftables, ...), docs/architecture.md.
 *
 * The daemon spawns it with the same arguments as its fallback,
 * `softvisor __vm-worker --fd N --sandbox on|off` (vmm/vmproc.c), and
 * it runs the same entry, cmd_vm_worker() (cmd_worker.c).
 */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "cli/cli.h"
#include "config.h"

#define VMX_NAME "softvisor-vmx"

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf(VMX_NAME " %s\n", SOFTVISOR_VERSION);
		return CLI_EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "__vm-worker") != 0) {
		fprintf(stderr, "softvisor-vmx: the VM worker of `softvisor "
				"daemon`, started by the daemon only\n");
		return CLI_EXIT_USAGE;
	}
	/* spawned through /proc/self/fd/N (vmm/vmproc_exe.c), the kernel
	 * named us "N": ps, top and the threads we start show this */
	prctl(PR_SET_NAME, VMX_NAME, 0, 0, 0);
	return cmd_vm_worker(argc - 1, argv + 1);
}
