/*
 * softvisor image create|info|check|convert|resize: raw and qcow2 image
 * files for users without qemu-img (docs/cli.md). Works on files directly,
 * not through the daemon; the image lock (docs/block.md) keeps these
 * commands off images a VM is writing.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "block/image.h"
#include "cli/cli.h"
#include "cli/cmd_image_chain.h"
#include "cli/output.h"
#include "util/parse.h"

/* qemu-img check's exit statuses */
enum { CHECK_CORRUPT = 2, CHECK_LEAKS = 3 };

#define CONVERT_CHUNK (1u << 20)
#define CONVERT_GRAIN (64u << 10) /* qcow2's default cluster */

static void image_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor image COMMAND ...\n"
		"\n"
		"Raw and qcow2 disk images (compatible with qemu-img).\n"
		"\n"
		"  create FILE [SIZE] [--format qcow2|raw] [--backing FILE\n"
		"                     [--backing-format raw|qcow2]]\n"
		"                     new image (default qcow2); SIZE like "
		"10G,\n"
		"                     optional with --backing (its size)\n"
		"                     [--key-secret file:PATH|env:NAME\n"
		"                     [--iter-time MS]]: encrypted qcow2\n"
		"                     (LUKS, as qemu-img's "
		"encrypt.format=luks)\n"
		"  info FILE [--json] format, sizes, backing file\n"
		"  check FILE         qcow2 refcount/leak/corruption check;\n"
		"                     exit 0 clean, 2 corrupt, 3 leaks only\n"
		"  convert SRC DST [-f FMT] [-O qcow2|raw]\n"
		"                     copy SRC into a new image DST (default\n"
		"                     raw); zero areas stay unallocated\n"
		"  resize FILE SIZE   grow the image to SIZE (or +SIZE)\n"
		"  clone TEMPLATE NEW [-f raw|qcow2]\n"
		"                     linked clone: a new qcow2 overlay NEW\n"
		"                     reading through to TEMPLATE (stored\n"
		"                     absolute); copies nothing\n"
		"  snapshot FILE create|list|apply|delete [NAME]\n"
		"                     internal qcow2 snapshots (as qemu-img\n"
		"                     snapshot -c|-l|-a|-d)\n"
		"  snapshot --external FILE OVERLAY [-f raw|qcow2]\n"
		"                     external snapshot: a new qcow2 overlay\n"
		"                     on FILE (virsh snapshot-create "
		"--disk-only)\n"
		"  commit OVERLAY     write OVERLAY's clusters into its "
		"backing\n"
		"                     file (qemu-img commit -d, blockcommit)\n"
		"  pull OVERLAY       copy the backing chain into OVERLAY and\n"
		"                     drop it (blockpull, block-stream)\n"
		"  rebase -u -b BACKING|\"\" [-F raw|qcow2] FILE\n"
		"                     name another backing file, copying\n"
		"                     nothing (qemu-img rebase -u)\n"
		"  info FILE --backing-chain [--json]\n"
		"                     every image of the chain, top first\n");
}

static int fail(struct error *err)
{
	fprintf(stderr, "softvisor image: %s\n", err->msg);
	return CLI_EXIT_FAIL;
}

static int bad_format(const char *opt, const char *v)
{
	fprintf(stderr,
		"softvisor image: %s %s: unknown format (expected qcow2 or "
		"raw)\n",
		opt, v);
	return CLI_EXIT_USAGE;
}

static bool known_format(const char *v)
{
	return !strcmp(v, "qcow2") || !strcmp(v, "raw");
}

/* create's --key-secret and --iter-time (NULL/0 when not given) */
static const char *opt_key_secret;
static unsigned opt_iter_ms;

/* getopt over argv (argv[0] = the subcommand); long options only plus
 * -O/-f. Returns the index of the first operand, or -1 after a message. */
static int parse(int argc, char **argv, const char **format,
		 const char **src_format, const char **backing,
		 const char **backing_fmt, bool *json)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'O' },
		{ "backing", required_argument, NULL, 'b' },
		{ "backing-format", required_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "key-secret", required_argument, NULL, 'k' },
		{ "iter-time", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "O:f:F:h", opts, NULL)) != -1) {
		switch (c) {
		case 'O':
			if (!format || !known_format(optarg))
				return format ? bad_format("--format", optarg),
				       -1     : -1;
			*format = optarg;
			break;
		case 'f':
			if (!src_format || !known_format(optarg))
				return src_format ? bad_format("-f", optarg),
				       -1	  : -1;
			*src_format = optarg;
			break;
		case 'b':
			if (!backing)
				return -1;
			*backing = optarg;
			break;
		case 'F':
			if (!backing_fmt || !known_format(optarg))
				return backing_fmt
				       ? bad_format("--backing-format", optarg),
				       -1 : -1;
			*backing_fmt = optarg;
			break;
		case 'j':
			if (!json)
				return -1;
			*json = true;
			break;
		case 'k':
			if (strcmp(argv[0], "create"))
				goto unknown;
			opt_key_secret = optarg;
			break;
		case 'i': {
			struct error e = { 0 };
			uint64_t ms;

			if (strcmp(argv[0], "create"))
				goto unknown;
			if (parse_u64(optarg, 1, 600000, &ms, "--iter-time",
				      &e) < 0) {
				fprintf(stderr, "softvisor image create: %s\n",
					e.msg);
				return -1;
			}
			opt_iter_ms = (unsigned)ms;
			break;
		}
		case 'h': image_usage(stdout); exit(CLI_EXIT_OK);
		default:
unknown:
			fprintf(stderr,
				"softvisor image %s: unknown option '%s'\n",
				argv[0], argv[optind - 1]);
			return -1;
		}
	}
	return optind;
}

static int img_create(int argc, char **argv)
{
	const char *format = "qcow2", *backing = NULL, *bfmt = NULL;
	struct error err = { 0 };
	uint64_t size = 0;
	int i = parse(argc, argv, &format, NULL, &backing, &bfmt, NULL);

	if (i < 0)
		return CLI_EXIT_USAGE;
	if (argc - i < 1 || argc - i > 2 || (argc - i == 1 && !backing)) {
		image_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (argc - i == 2 && parse_size(argv[i + 1], 1, &size, "SIZE", &err))
		return fprintf(stderr, "softvisor image create: %s\n", err.msg),
		       CLI_EXIT_USAGE;
	if (bfmt && !backing) {
		fprintf(stderr, "softvisor image create: --backing-format "
				"needs --backing\n");
		return CLI_EXIT_USAGE;
	}
	if (opt_iter_ms && !opt_key_secret) {
		fprintf(stderr, "softvisor image create: --iter-time needs "
				"--key-secret\n");
		return CLI_EXIT_USAGE;
	}
	if (opt_key_secret && strcmp(format, "qcow2")) {
		fprintf(stderr, "softvisor image create: --key-secret: only "
				"qcow2 images are encrypted\n");
		return CLI_EXIT_USAGE;
	}
	if (opt_key_secret
		    ? image_create_luks(argv[i], size, backing, bfmt,
					opt_key_secret, opt_iter_ms, &err) < 0
		    : image_create_backing(argv[i], format, size, backing, bfmt,
					   &err) < 0)
		return fail(&err);
	return CLI_EXIT_OK;
}

static int img_info(int argc, char **argv)
{
	struct image_info in;
	struct error err = { 0 };
	bool json = false;
	char b[64];
	int i;

	for (int k = 1; k < argc; k++)
		if (!strcmp(argv[k], "--backing-chain"))
			return image_cmd_chain(argc, argv);
	i = parse(argc, argv, NULL, NULL, NULL, NULL, &json);
	if (i < 0)
		return CLI_EXIT_USAGE;
	if (argc - i != 1) {
		image_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (image_info(argv[i], &in, &err) < 0)
		return fail(&err);
	if (json) {
		json_t *o = json_pack(
			"{s:s, s:s, s:I, s:I}", "filename", argv[i], "format",
			in.format, "virtual-size", (json_int_t)in.virtual_size,
			"actual-size", (json_int_t)in.disk_size);

		if (!strcmp(in.format, "qcow2")) {
			json_object_set_new(
				o, "cluster-size",
				json_integer((json_int_t)in.cluster_size));
			json_object_set_new(o, "version",
					    json_integer(in.version));
			json_object_set_new(o, "refcount-bits",
					    json_integer(in.refcount_bits));
			json_object_set_new(o, "snapshots",
					    json_integer(in.snapshots));
			json_object_set_new(o, "dirty", json_boolean(in.dirty));
			json_object_set_new(o, "encrypted",
					    json_boolean(in.encrypted));
			json_object_set_new(o, "corrupt",
					    json_boolean(in.corrupt));
			if (in.backing[0])
				json_object_set_new(o, "backing-filename",
						    json_string(in.backing));
			if (in.backing_format[0])
				json_object_set_new(
					o, "backing-filename-format",
					json_string(in.backing_format));
		}
		output_json(stdout, o);
		json_decref(o);
		return CLI_EXIT_OK;
	}
	printf("%-18s %s\n", "image:", argv[i]);
	printf("%-18s %s\n", "file format:", in.format);
	fmt_size(in.virtual_size, b, sizeof(b));
	printf("%-18s %s (%llu bytes)\n", "virtual size:", b,
	       (unsigned long long)in.virtual_size);
	fmt_size(in.disk_size, b, sizeof(b));
	printf("%-18s %s\n", "disk size:", b);
	if (strcmp(in.format, "qcow2"))
		return CLI_EXIT_OK;
	printf("%-18s %llu\n",
	       "cluster_size:", (unsigned long long)in.cluster_size);
	printf("%-18s %s\n", "compat:", in.version == 3 ? "1.1" : "0.10");
	printf("%-18s %u\n", "refcount bits:", in.refcount_bits);
	if (in.snapshots)
		printf("%-18s %u\n", "snapshots:", in.snapshots);
	if (in.encrypted)
		printf("%-18s %s\n", "encrypted:", "yes (luks)");
	if (in.backing[0])
		printf("%-18s %s%s%s%s\n", "backing file:", in.backing,
		       in.backing_format[0] ? " (format " : "",
		       in.backing_format, in.backing_format[0] ? ")" : "");
	if (in.dirty || in.corrupt)
		printf("%-18s %s%s\n", "flags:", in.dirty ? "dirty " : "",
		       in.corrupt ? "corrupt" : "");
	return CLI_EXIT_OK;
}

static int img_check(int argc, char **argv)
{
	struct image_check res;
	struct error err = { 0 };
	const char *fmt;
	int i = parse(argc, argv, NULL, NULL, NULL, NULL, NULL);

	if (i < 0)
		return CLI_EXIT_USAGE;
	if (argc - i != 1) {
		image_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	fmt = blockdev_probe(argv[i], &err);
	if (!fmt)
		return fail(&err);
	if (strcmp(fmt, "qcow2")) {
		printf("%s: a raw image has no metadata to check\n", argv[i]);
		return CLI_EXIT_OK;
	}
	if (image_check(argv[i], stdout, &res, &err) < 0)
		return fail(&err);
	if (res.corruptions)
		printf("\n%llu errors were found on the image.\n"
		       "Data may be corrupted, or further writes to the image "
		       "may corrupt it.\n",
		       (unsigned long long)res.corruptions);
	if (res.leaks)
		printf("\n%llu leaked clusters were found on the image.\n"
		       "This means waste of disk space, but no harm to data.\n",
		       (unsigned long long)res.leaks);
	if (!res.corruptions && !res.leaks)
		printf("No errors were found on the image.\n");
	printf("%llu/%llu = %.2f%% allocated\n",
	       (unsigned long long)res.allocated, (unsigned long long)res.total,
	       res.total ? 100.0 * (double)res.allocated / (double)res.total
			 : 0.0);
	return res.corruptions ? CHECK_CORRUPT
	       : res.leaks     ? CHECK_LEAKS
			       : CLI_EXIT_OK;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int img_convert(int argc, char **argv)
{
	const char *ofmt = "raw", *ifmt = NULL;
	struct error err = { 0 };
	struct blockdev *src = NULL, *dst = NULL;
	bool tty = isatty(2);
	uint8_t *buf = NULL;
	uint64_t size, last = UINT64_MAX;
	int r = CLI_EXIT_FAIL;
	int i = parse(argc, argv, &ofmt, &ifmt, NULL, NULL, NULL);

	if (i < 0)
		return CLI_EXIT_USAGE;
	if (argc - i != 2) {
		image_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!ifmt && !(ifmt = blockdev_probe(argv[i], &err)))
		return fail(&err);
	src = blockdev_open(argv[i], ifmt, true, &err);
	if (!src)
		return fail(&err);
	size = blockdev_size(src);
	if (image_create(argv[i + 1], ofmt, size, NULL, &err) < 0 ||
	    !(dst = blockdev_open(argv[i + 1], ofmt, false, &err)))
		goto out_err;
	buf = malloc(CONVERT_CHUNK);
	if (!buf)
		goto out;
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off < CONVERT_CHUNK ? (size_t)(size - off)
						      : CONVERT_CHUNK;
		struct iovec v = { buf, n };
		int e = blockdev_readv(src, &v, 1, off);

		/* write only the non-zero 64 KiB pieces: sparse output */
		for (size_t p = 0; e == 0 && p < n; p += CONVERT_GRAIN) {
			size_t k = n - p < CONVERT_GRAIN ? n - p
							 : CONVERT_GRAIN;
			struct iovec w = { buf + p, k };

			if (!all_zero(buf + p, k))
				e = blockdev_writev(dst, &w, 1, off + p);
		}
		if (e < 0) {
			error_set(&err, -e,
				  "convert %s -> %s at offset %llu: %s",
				  argv[i], argv[i + 1], (unsigned long long)off,
				  strerror(-e));
			goto out_err;
		}
		off += n;
		if (tty && off * 100 / size != last) {
			last = off * 100 / size;
			fprintf(stderr, "\r    (%3llu/100%%)",
				(unsigned long long)last);
		}
	}
	if (tty)
		fputc('\n', stderr);
	if (blockdev_flush(dst) < 0) {
		error_set(&err, EIO, "convert: flushing %s", argv[i + 1]);
		goto out_err;
	}
	r = CLI_EXIT_OK;
	goto out;
out_err:
	fail(&err);
out:
	free(buf);
	blockdev_close(src);
	blockdev_close(dst);
	return r;
}

static int img_resize(int argc, char **argv)
{
	struct error err = { 0 };
	struct blockdev *bd;
	const char *fmt, *s;
	uint64_t size;
	int i = parse(argc, argv, NULL, NULL, NULL, NULL, NULL), r;

	if (i < 0)
		return CLI_EXIT_USAGE;
	if (argc - i != 2) {
		image_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	s = argv[i + 1];
	if (parse_size(s[0] == '+' ? s + 1 : s, 1, &size, "SIZE", &err) < 0)
		return fprintf(stderr, "softvisor image resize: %s\n", err.msg),
		       CLI_EXIT_USAGE;
	fmt = blockdev_probe(argv[i], &err);
	if (!fmt || !(bd = blockdev_open(argv[i], fmt, false, &err)))
		return fail(&err);
	if (s[0] == '+')
		size += blockdev_size(bd);
	r = blockdev_resize(bd, size, &err);
	if (r == 0)
		r = blockdev_flush(bd);
	blockdev_close(bd);
	if (r < 0)
		return fail(&err);
	printf("Image resized.\n");
	return CLI_EXIT_OK;
}

static int img_clone(int argc, char **argv)
{
	struct error err = { 0 };
	const char *tfmt = NULL;
	int i = parse(argc, argv, NULL, &tfmt, NULL, NULL, NULL);

	if (i < 0)
		return CLI_EXIT_USAGE;
	if (argc - i != 2) {
		image_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (image_clone(argv[i], tfmt, argv[i + 1], &err) < 0)
		return fail(&err);
	return CLI_EXIT_OK;
}

static int img_snapshot(int argc, char **argv)
{
	struct error err = { 0 };
	struct image_snapshot *l;
	const char *op;
	unsigned n;
	int i, r;

	for (int k = 1; k < argc; k++)
		if (!strcmp(argv[k], "--external"))
			return image_cmd_snapshot_external(argc, argv);
	i = parse(argc, argv, NULL, NULL, NULL, NULL, NULL);
	if (i < 0)
		return CLI_EXIT_USAGE;
	op = argc - i >= 2 ? argv[i + 1] : "";
	if (!strcmp(op, "list") && argc - i == 2) {
		if (image_snapshot_list(argv[i], &l, &n, &err) < 0)
			return fail(&err);
		printf("Snapshot list:\n%-4s %-20s %19s %s\n", "ID", "TAG",
		       "DATE", "VM SIZE");
		for (unsigned k = 0; k < n; k++) {
			char d[32];
			time_t t = l[k].date_sec;

			strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S",
				 localtime(&t));
			printf("%-4s %-20s %19s %llu\n", l[k].id, l[k].name, d,
			       (unsigned long long)l[k].vm_state_size);
		}
		free(l);
		return CLI_EXIT_OK;
	}
	if (argc - i != 3) {
		image_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(op, "create"))
		r = image_snapshot_create(argv[i], argv[i + 2], &err);
	else if (!strcmp(op, "apply"))
		r = image_snapshot_apply(argv[i], argv[i + 2], &err);
	else if (!strcmp(op, "delete"))
		r = image_snapshot_delete(argv[i], argv[i + 2], &err);
	else {
		fprintf(stderr,
			"softvisor image snapshot: unknown operation '%s' "
			"(expected create, list, apply or delete)\n",
			op);
		return CLI_EXIT_USAGE;
	}
	return r < 0 ? fail(&err) : CLI_EXIT_OK;
}

int cmd_image(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} sub[] = {
		{ "create", img_create },     { "info", img_info },
		{ "check", img_check },	      { "convert", img_convert },
		{ "resize", img_resize },     { "clone", img_clone },
		{ "snapshot", img_snapshot }, { "commit", image_cmd_commit },
		{ "pull", image_cmd_pull },   { "rebase", image_cmd_rebase },
	};

	if (argc < 2) {
		image_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		image_usage(stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++)
		if (!strcmp(argv[1], sub[i].name))
			return sub[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "softvisor image: unknown command '%s'\n\n", argv[1]);
	image_usage(stderr);
	return CLI_EXIT_USAGE;
}
