/*
 * softvisor run: boot one VM in this process (the one-shot vmkernel).
 * Option names follow QEMU where QEMU has the option (docs/cli.md). The
 * flags build the same VM definition the daemon runs (vmm/vmdef.h): the
 * same option parsers, rules and conversion to the board. What only this
 * process has (--dump-dtb, --timeout, --qmp, --virtio-console,
 * --power-button, --log) is added to the board configuration after.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/run_sandbox.h"
#include "machine/virt.h"
#include "util/log.h"
#include "util/parse.h"
#include "vmm/vmdef.h"

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor run --kernel FILE [options]\n"
		"\n"
		"Boot one RISC-V virtual machine (QEMU virt layout) in this\n"
		"process until the guest powers off.\n"
		"\n"
		"  --kernel FILE     Linux Image, ELF or raw binary "
		"(required)\n"
		"  --initrd FILE     initial ramdisk\n"
		"  --append STR      kernel command line\n"
		"  --cpus N          number of harts, 1..64 (default 1)\n"
		"  --memory SIZE     RAM, e.g. 512M or 2G; a bare number is\n"
		"                    MiB (default 512M)\n"
		"  --bios KIND       builtin (default: built-in SBI, kernel "
		"in\n"
		"                    S-mode), none (kernel/ELF in M-mode;\n"
		"                    HTIF tohost for bare-metal tests), or\n"
		"                    PATH of an M-mode firmware such as\n"
		"                    OpenSBI fw_dynamic.bin\n"
		"  --accel ENGINE    jit (translate hot code to x86-64) or\n"
		"                    interp (interpreter only); default: the\n"
		"                    platform's (docs/jit.md)\n"
		"  --on-panic ACTION stop (default: exit 1), pause or restart\n"
		"  --mem-merge on|off share zero pages (default on)\n"
		"                    when the guest panics (docs/shutdown.md)\n"
		"  --mem-limit SIZE  keep the VM's host memory near SIZE:\n"
		"                    cold pages are compressed (zstd) or\n"
		"                    swapped (docs/memory.md)\n"
		"  --mem-swap FILE   swap file for pages that do not\n"
		"                    compress (scratch: truncated at start)\n"
		"  --console SPEC    stdio (default), pty, unix:PATH or none\n"
		"  --dump-dtb FILE   write the device tree to FILE and exit\n"
		"  --timeout S       stop the VM after S seconds (exit 124)\n"
		"  --save FILE       on SIGUSR1 or SIGTERM, save the whole VM\n"
		"                    to FILE and exit 0 (docs/vm-state.md)\n"
		"  --restore FILE    continue the VM saved in FILE instead of\n"
		"                    booting (give the same options it had)\n"
		"  --disk SPEC       virtio-blk disk: PATH[,format=raw|qcow2]\n"
		"                    [,readonly=on][,serial=STR] (repeatable)\n"
		"  --net SPEC        virtio-net: "
		"user[,hostfwd=tcp:ADDR:PORT-:PORT]\n"
		"                    [,mac=52:54:00:12:34:56] or none\n"
		"                    (repeatable)\n"
		"  --rng             virtio-rng fed from the host's getrandom\n"
		"  --balloon         virtio-balloon (target set over --qmp)\n"
		"  --virtio-console SPEC  virtio-console (hvc0): stdio, pty,\n"
		"                    unix:PATH\n"
		"  --qmp unix:PATH   JSON control channel (docs/qmp.md)\n"
		"  --power-button    virtio-input power button, pressed by\n"
		"                    QMP system_powerdown (docs/shutdown.md)\n"
		"  --log SPEC        log levels, e.g. info or warn,sbi=debug\n"
		"  --sandbox on|off  run the VM in a sandboxed child process\n"
		"                    (default on; docs/security.md)\n"
		"  --help            this text\n"
		"\n"
		"On the stdio console, Ctrl-A x quits and Ctrl-A h lists the\n"
		"other keys. Exit status: 0 when the guest powers off, the\n"
		"guest's code when it reports a failure, 124 on --timeout,\n"
		"128+N on signal N (also when N killed the sandboxed VM\n"
		"process: 159 for a forbidden system call), 2 for bad\n"
		"options or files.\n");
}

/* What this process adds to the definition's board. */
struct run_extras {
	const char *dump_dtb;
	const char *save, *restore;
	unsigned timeout_s;
	bool has_hvc, has_qmp, power_button;
	struct console_spec hvc;
	struct qmp_spec qmp;
};

static void apply_extras(const struct run_extras *x, struct virt_config *cfg)
{
	cfg->dump_dtb = x->dump_dtb;
	cfg->save = x->save;
	cfg->restore = x->restore;
	cfg->timeout_s = x->timeout_s;
	cfg->has_hvc = x->has_hvc;
	cfg->hvc = x->hvc;
	cfg->has_qmp = x->has_qmp;
	cfg->qmp = x->qmp;
	cfg->power_button = x->power_button;
}

/* A virtio slot is left for one more device. */
static bool slot_left(const struct vmdef *def, const struct run_extras *x)
{
	return vmdef_virtio_count(def) + x->has_hvc + x->power_button <
	       VIRT_MAX_VIRTIO;
}

int cmd_run(int argc, char **argv)
{
	enum {
		O_KERNEL = 256,
		O_INITRD,
		O_APPEND,
		O_CPUS,
		O_MEMORY,
		O_BIOS,
		O_CONSOLE,
		O_DUMP_DTB,
		O_TIMEOUT,
		O_LOG,
		O_HELP,
		O_DISK,
		O_NET,
		O_RNG,
		O_BALLOON,
		O_HVC,
		O_QMP,
		O_POWER_BUTTON,
		O_ACCEL,
		O_ON_PANIC,
		O_MEM_MERGE,
		O_MEM_LIMIT,
		O_MEM_SWAP,
		O_SAVE,
		O_RESTORE,
		O_SANDBOX,
	};
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "append", required_argument, NULL, O_APPEND },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "smp", required_argument, NULL, O_CPUS },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "bios", required_argument, NULL, O_BIOS },
		{ "console", required_argument, NULL, O_CONSOLE },
		{ "dump-dtb", required_argument, NULL, O_DUMP_DTB },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "log", required_argument, NULL, O_LOG },
		{ "help", no_argument, NULL, O_HELP },
		{ "disk", required_argument, NULL, O_DISK },
		{ "net", required_argument, NULL, O_NET },
		{ "rng", no_argument, NULL, O_RNG },
		{ "balloon", no_argument, NULL, O_BALLOON },
		{ "virtio-console", required_argument, NULL, O_HVC },
		{ "qmp", required_argument, NULL, O_QMP },
		{ "power-button", no_argument, NULL, O_POWER_BUTTON },
		{ "accel", required_argument, NULL, O_ACCEL },
		{ "on-panic", required_argument, NULL, O_ON_PANIC },
		{ "mem-merge", required_argument, NULL, O_MEM_MERGE },
		{ "mem-limit", required_argument, NULL, O_MEM_LIMIT },
		{ "mem-swap", required_argument, NULL, O_MEM_SWAP },
		{ "save", required_argument, NULL, O_SAVE },
		{ "restore", required_argument, NULL, O_RESTORE },
		{ "sandbox", required_argument, NULL, O_SANDBOX },
		{ NULL, 0, NULL, 0 },
	};
	/* static: the definition and the board configuration are large */
	static struct vmdef def;
	static struct virt_config cfg;
	struct run_extras x = { 0 };
	struct error err = { 0 };
	uint64_t v;
	bool none, sandbox = true;
	const char *mem_swap = NULL;
	int c;

	vmdef_init(&def);
	def.console = VMDEF_CONSOLE_STDIO;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_KERNEL:
			if (vmdef_opt_path(optarg, "--kernel", def.kernel,
					   sizeof(def.kernel), &err))
				goto bad;
			break;
		case O_INITRD:
			if (vmdef_opt_path(optarg, "--initrd", def.initrd,
					   sizeof(def.initrd), &err))
				goto bad;
			break;
		case O_APPEND:
			if (strlen(optarg) >= sizeof(def.append)) {
				error_set(&err, EINVAL,
					  "--append: too long (%zu bytes, at "
					  "most %zu)",
					  strlen(optarg),
					  sizeof(def.append) - 1);
				goto bad;
			}
			strcpy(def.append, optarg);
			break;
		case O_CPUS:
			if (vmdef_opt_cpus(optarg, "--cpus", &def.cpus, &err))
				goto bad;
			break;
		case O_MEMORY:
			if (vmdef_opt_memory(optarg, "--memory", &def.memory,
					     &err))
				goto bad;
			break;
		case O_BIOS:
			if (vmdef_opt_bios(optarg, &def.bios, def.bios_path,
					   sizeof(def.bios_path), &err))
				goto bad;
			break;
		case O_ACCEL:
			if (vmdef_opt_accel(optarg, "--accel", &def.accel,
					    &err))
				goto bad;
			break;
		case O_MEM_MERGE:
			if (vmdef_opt_onoff(optarg, "--mem-merge",
					    &def.mem_merge, &err))
				goto bad;
			break;
		case O_MEM_LIMIT:
			if (vmdef_opt_memory(optarg, "--mem-limit",
					     &def.mem_limit, &err))
				goto bad;
			break;
		case O_MEM_SWAP: mem_swap = optarg; break;
		case O_ON_PANIC:
			if (vmdef_opt_on_panic(optarg, "--on-panic",
					       &def.on_panic, &err))
				goto bad;
			break;
		case O_CONSOLE:
			if (vmdef_opt_console(optarg, VMDEF_HOST_RUN,
					      &def.console, def.console_path,
					      sizeof(def.console_path), &err))
				goto bad;
			break;
		case O_DUMP_DTB: x.dump_dtb = optarg; break;
		case O_SAVE: x.save = optarg; break;
		case O_RESTORE: x.restore = optarg; break;
		case O_TIMEOUT:
			if (parse_u64(optarg, 1, 86400 * 365, &v, "--timeout",
				      &err))
				goto bad;
			x.timeout_s = (unsigned)v;
			break;
		case O_LOG: {
			char msg[256];
			if (log_configure(optarg, msg, sizeof(msg))) {
				fprintf(stderr, "softvisor run: --log %s\n",
					msg);
				return CLI_EXIT_USAGE;
			}
			break;
		}
		case O_HELP: run_usage(stdout); return CLI_EXIT_OK;
		case O_SANDBOX:
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				error_set(&err, EINVAL,
					  "--sandbox %s: expected on or off",
					  optarg);
				goto bad;
			}
			sandbox = !strcmp(optarg, "on");
			break;
		case O_DISK:
			if (!slot_left(&def, &x))
				goto too_many;
			if (vmdef_opt_disk(optarg, &def.disks[def.n_disks],
					   &err))
				goto bad;
			def.n_disks++;
			break;
		case O_NET:
			if (!slot_left(&def, &x))
				goto too_many;
			if (vmdef_opt_nic(optarg, &def.nics[def.n_nics], &none,
					  &err))
				goto bad;
			if (!none)
				def.n_nics++;
			break;
		case O_RNG: def.rng = true; break;
		case O_BALLOON: def.balloon = true; break;
		case O_POWER_BUTTON:
			if (!x.power_button && !slot_left(&def, &x))
				goto too_many;
			x.power_button = true;
			break;
		case O_HVC:
			if (console_parse(optarg, &x.hvc, &err) ||
			    x.hvc.kind == CONSOLE_NONE) {
				error_set(
					&err, EINVAL,
					"--virtio-console %s: expected stdio, "
					"pty or unix:PATH",
					optarg);
				goto bad;
			}
			x.has_hvc = true;
			break;
		case O_QMP:
			if (qmp_parse(optarg, &x.qmp, &err))
				goto bad;
			x.has_qmp = true;
			break;
		default:
			fprintf(stderr,
				"softvisor run: unknown option '%s' (see "
				"'softvisor run --help')\n",
				argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "softvisor run: unexpected argument '%s'\n",
			argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (!def.kernel[0]) {
		fprintf(stderr, "softvisor run: --kernel FILE is required (see "
				"'softvisor run --help')\n");
		return CLI_EXIT_USAGE;
	}
	if (mem_swap && !def.mem_limit) {
		fprintf(stderr,
			"softvisor run: --mem-swap %s needs --mem-limit "
			"SIZE: without a limit nothing is swapped\n",
			mem_swap);
		return CLI_EXIT_USAGE;
	}
	/* the daemon's rules (vmdef_validate) and conversion, for this host */
	if (vmdef_to_virt_config(&def, &cfg, &err))
		goto bad;
	apply_extras(&x, &cfg);
	cfg.mem_swap = mem_swap;
	int r = sandbox && !x.dump_dtb ? run_sandboxed(&cfg, &err)
				       : virt_run(&cfg, &err);
	if (r < 0) {
		fprintf(stderr, "softvisor run: %s\n", err.msg);
		return CLI_EXIT_USAGE;
	}
	return r;
bad:
	fprintf(stderr, "softvisor run: %s\n", err.msg);
	return CLI_EXIT_USAGE;
too_many:
	fprintf(stderr,
		"softvisor run: %s: the board has %d virtio slots and they "
		"are all used\n",
		argv[optind - 1], VIRT_MAX_VIRTIO);
	return CLI_EXIT_USAGE;
}
