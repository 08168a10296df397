/*
 * softvisor run: boot one VM in this process (the one-shot vmkernel).
 * Option names follow QEMU where QEMU has the option (docs/cli.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "machine/virt.h"
#include "util/log.h"
#include "util/parse.h"

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
		"  --console SPEC    stdio (default), pty, unix:PATH or none\n"
		"  --dump-dtb FILE   write the device tree to FILE and exit\n"
		"  --timeout S       stop the VM after S seconds (exit 124)\n"
		"  --disk SPEC       virtio-blk disk: PATH[,format=raw]\n"
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
		"  --help            this text\n"
		"\n"
		"On the stdio console, Ctrl-A x quits and Ctrl-A h lists the\n"
		"other keys. Exit status: 0 when the guest powers off, the\n"
		"guest's code when it reports a failure, 124 on --timeout,\n"
		"128+N on signal N, 2 for bad options or files.\n");
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
		{ NULL, 0, NULL, 0 },
	};
	/* static: the disk and NIC configurations are large */
	static struct virt_config cfg;
	cfg = (struct virt_config){
		.ram_size = VIRT_DEFAULT_RAM,
		.n_harts = 1,
		.bios = VIRT_BIOS_BUILTIN,
		.console = { .kind = CONSOLE_STDIO },
	};
	struct error err = { 0 };
	uint64_t v;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_KERNEL: cfg.kernel = optarg; break;
		case O_INITRD: cfg.initrd = optarg; break;
		case O_APPEND: cfg.append = optarg; break;
		case O_CPUS:
			if (parse_u64(optarg, 1, VIRT_MAX_HARTS, &v, "--cpus",
				      &err))
				goto bad;
			cfg.n_harts = (unsigned)v;
			break;
		case O_MEMORY:
			if (parse_size(optarg, 1ULL << 20, &v, "--memory",
				       &err))
				goto bad;
			if (v < (16ULL << 20) || v > (1ULL << 40) ||
			    (v & 0xfff)) {
				error_set(&err, 0,
					  "--memory %s: expected a multiple of "
					  "4K between 16M and 1T",
					  optarg);
				goto bad;
			}
			cfg.ram_size = v;
			break;
		case O_BIOS:
			if (strcmp(optarg, "builtin") == 0) {
				cfg.bios = VIRT_BIOS_BUILTIN;
			} else if (strcmp(optarg, "none") == 0) {
				cfg.bios = VIRT_BIOS_NONE;
			} else {
				cfg.bios = VIRT_BIOS_FILE;
				cfg.bios_path = optarg;
			}
			break;
		case O_ACCEL:
			if (strcmp(optarg, "jit") == 0) {
				cfg.accel = VIRT_ACCEL_JIT;
			} else if (strcmp(optarg, "interp") == 0) {
				cfg.accel = VIRT_ACCEL_INTERP;
			} else {
				error_set(&err, EINVAL,
					  "--accel %s: expected jit or interp",
					  optarg);
				goto bad;
			}
			break;
		case O_CONSOLE:
			if (console_parse(optarg, &cfg.console, &err))
				goto bad;
			break;
		case O_DUMP_DTB: cfg.dump_dtb = optarg; break;
		case O_TIMEOUT:
			if (parse_u64(optarg, 1, 86400 * 365, &v, "--timeout",
				      &err))
				goto bad;
			cfg.timeout_s = (unsigned)v;
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
		case O_DISK:
			if (virt_virtio_count(&cfg) >= VIRT_MAX_VIRTIO)
				goto too_many;
			if (virtio_blk_parse(optarg, &cfg.disks[cfg.n_disks],
					     &err))
				goto bad;
			cfg.n_disks++;
			break;
		case O_NET: {
			struct virtio_net_config *n = &cfg.nets[cfg.n_nets];
			if (virt_virtio_count(&cfg) >= VIRT_MAX_VIRTIO)
				goto too_many;
			virtio_net_config_init(n, cfg.n_nets);
			if (virtio_net_parse(optarg, n, &err))
				goto bad;
			if (n->backend != VIRTIO_NET_BACKEND_NONE)
				cfg.n_nets++;
			break;
		}
		case O_RNG: cfg.rng = true; break;
		case O_BALLOON: cfg.balloon = true; break;
		case O_POWER_BUTTON:
			if (!cfg.power_button &&
			    virt_virtio_count(&cfg) >= VIRT_MAX_VIRTIO)
				goto too_many;
			cfg.power_button = true;
			break;
		case O_HVC:
			if (console_parse(optarg, &cfg.hvc, &err) ||
			    cfg.hvc.kind == CONSOLE_NONE) {
				error_set(
					&err, EINVAL,
					"--virtio-console %s: expected stdio, "
					"pty or unix:PATH",
					optarg);
				goto bad;
			}
			cfg.has_hvc = true;
			break;
		case O_QMP:
			if (qmp_parse(optarg, &cfg.qmp, &err))
				goto bad;
			cfg.has_qmp = true;
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
	if (!cfg.kernel) {
		fprintf(stderr, "softvisor run: --kernel FILE is required (see "
				"'softvisor run --help')\n");
		return CLI_EXIT_USAGE;
	}
	int r = virt_run(&cfg, &err);
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
