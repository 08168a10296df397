/*
 * softvisor image snapshot --external | commit | pull | info
 * --backing-chain: external snapshots (overlay chains) of closed images
 * (src/block/image_chain.c; docs/cli.md, docs/block.md "External
 * snapshots"). Dispatched from cmd_image.c.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/image.h"
#include "cli/cli.h"
#include "cli/cmd_image_chain.h"
#include "cli/output.h"

static int fail(const char *cmd, struct error *err)
{
	fprintf(stderr, "softvisor image %s: %s\n", cmd, err->msg);
	return CLI_EXIT_FAIL;
}

/* -f FMT and FILE operands; a usage message on anything else. */
static int operands(const char *cmd, int argc, char **argv, int want,
		    const char **fmt, bool *json, const char *usage)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "backing-chain", no_argument, NULL, 'c' },
		{ "external", no_argument, NULL, 'e' },
		{ 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		if (c == 'f' && fmt &&
		    (!strcmp(optarg, "raw") || !strcmp(optarg, "qcow2")))
			*fmt = optarg;
		else if (c == 'j' && json)
			*json = true;
		else if (c != 'c' && c != 'e')
			goto bad;
	}
	if (argc - optind == want)
		return optind;
bad:
	fprintf(stderr, "usage: softvisor image %s %s\n", cmd, usage);
	return -1;
}

static void progress(void *opaque, uint64_t done, uint64_t total)
{
	const char *what = opaque;
	if (!isatty(2) || !total)
		return;
	fprintf(stderr, "\r%s: %5.1f%%", what, 100.0 * (double)done / total);
	if (done >= total)
		fputc('\n', stderr);
}

int image_cmd_snapshot_external(int argc, char **argv)
{
	const char *fmt = NULL;
	struct error err = { 0 };
	int i = operands("snapshot --external", argc, argv, 2, &fmt, NULL,
			 "FILE OVERLAY [-f raw|qcow2]");

	if (i < 0)
		return CLI_EXIT_USAGE;
	if (image_snapshot_external(argv[i], fmt, argv[i + 1], &err) < 0)
		return fail("snapshot", &err);
	printf("%s: external snapshot of %s (new writes go to %s)\n",
	       argv[i + 1], argv[i], argv[i + 1]);
	return CLI_EXIT_OK;
}

int image_cmd_commit(int argc, char **argv)
{
	struct error err = { 0 };
	int i = operands("commit", argc, argv, 1, NULL, NULL, "OVERLAY");

	if (i < 0)
		return CLI_EXIT_USAGE;
	if (image_commit(argv[i], progress, "commit", &err) < 0)
		return fail("commit", &err);
	printf("Image committed.\n");
	return CLI_EXIT_OK;
}

int image_cmd_pull(int argc, char **argv)
{
	struct error err = { 0 };
	int i = operands("pull", argc, argv, 1, NULL, NULL, "OVERLAY");

	if (i < 0)
		return CLI_EXIT_USAGE;
	if (image_pull(argv[i], progress, "pull", &err) < 0)
		return fail("pull", &err);
	printf("%s: backing chain pulled in; it stands alone\n", argv[i]);
	return CLI_EXIT_OK;
}

int image_cmd_chain(int argc, char **argv)
{
	const char *fmt = NULL;
	bool json = false;
	struct error err = { 0 };
	struct image_chain_entry *c;
	unsigned n;
	int i = operands("info --backing-chain", argc, argv, 1, &fmt, &json,
			 "FILE --backing-chain [-f raw|qcow2] [--json]");

	if (i < 0)
		return CLI_EXIT_USAGE;
	if (image_chain(argv[i], fmt, &c, &n, &err) < 0)
		return fail("info", &err);
	json_t *a = json_array();
	for (unsigned k = 0; k < n; k++) {
		json_t *o = json_pack(
			"{s:s, s:s, s:I, s:b, s:i}", "filename", c[k].path,
			"format", c[k].format, "virtual-size",
			(json_int_t)c[k].virtual_size, "encrypted",
			c[k].encrypted, "snapshots", (int)c[k].snapshots);
		if (c[k].backing[0])
			json_object_set_new(o, "backing-filename",
					    json_string(c[k].backing));
		json_array_append_new(a, o);
	}
	if (json) {
		output_json(stdout, a);
	} else {
		for (unsigned k = 0; k < n; k++)
			printf("%s%-18s %s\n%-18s %s\n%-18s %llu\n%s%s%s",
			       k ? "\n" : "", "image:", c[k].path,
			       "file format:", c[k].format, "virtual size:",
			       (unsigned long long)c[k].virtual_size,
			       c[k].backing[0] ? "backing file:      " : "",
			       c[k].backing, c[k].backing[0] ? "\n" : "");
	}
	json_decref(a);
	free(c);
	return CLI_EXIT_OK;
}

int image_cmd_rebase(int argc, char **argv)
{
	static const struct option opts[] = { { 0 } };
	const char *backing = NULL, *fmt = NULL;
	bool unsafe = false;
	struct error err = { 0 };
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ub:F:", opts, NULL)) != -1) {
		if (c == 'u')
			unsafe = true;
		else if (c == 'b')
			backing = optarg;
		else if (c == 'F' &&
			 (!strcmp(optarg, "raw") || !strcmp(optarg, "qcow2")))
			fmt = optarg;
		else
			goto usage;
	}
	if (argc - optind != 1 || !backing)
		goto usage;
	if (!unsafe) {
		fprintf(stderr,
			"softvisor image rebase: only -u (unsafe: nothing is "
			"copied; the new backing file must read as the old "
			"one); to make an image stand alone use 'softvisor "
			"image pull'\n");
		return CLI_EXIT_USAGE;
	}
	if (image_rebase_unsafe(argv[optind], backing[0] ? backing : NULL, fmt,
				&err) < 0)
		return fail("rebase", &err);
	return CLI_EXIT_OK;
usage:
	fprintf(stderr, "usage: softvisor image rebase -u -b BACKING|\"\" "
			"[-F raw|qcow2] FILE\n");
	return CLI_EXIT_USAGE;
}
