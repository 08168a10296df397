/*
 * VM definitions from command-line flags (`vm create`, `vm set`,
 * `vm edit --set`): builds the JSON of docs/vm-definition.md with the
 * definition's own option parsers (vmdef_opt_*, vmm/vmdef.h), resolves
 * relative paths, and computes the merge patch (RFC 7396) between two
 * definitions for `vm edit`.
 *
 * Ownership: every json_t ** result is a new reference for the caller.
 * Threads: no shared state; but vmargs_parse_create() uses getopt (global
 * optind), so call it from one thread.
 */
#ifndef SV_CLI_VMARGS_H
#define SV_CLI_VMARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli/client.h"
#include "util/error.h"

/* path made absolute against the working directory (symlinks resolved when
 * the file exists; a missing file is kept as cwd/path, the daemon reports
 * it when the VM starts). 0 or -errno. */
int vmargs_abspath(const char *path, char *out, size_t size, struct error *err);

/* "key.sub=value" into obj (objects created on the way). value is JSON if
 * it parses as JSON (4, true, "x", null), on/off/yes/no are booleans,
 * anything else is a string ("2G"). */
int vmargs_set(json_t *obj, const char *kv, struct error *err);

/* Read a JSON object from FILE ("-": stdin). */
int vmargs_load_json(const char *file, json_t **out, struct error *err);

/* The merge patch that turns old into new_ (keys missing from new_ become
 * null, objects recurse, other values replace). An empty object if they
 * are equal. NULL on out of memory. */
json_t *vmargs_merge_diff(const json_t *old, const json_t *new_);

/* Parse `vm create` arguments (argv[0] is "create"): the definition to
 * POST in *def, the global options into o. 0; 1 when --help was asked
 * (usage printed to stdout); -EINVAL with err set on a bad command line. */
int vmargs_parse_create(int argc, char **argv, struct client_opts *o,
			json_t **def, struct error *err);

/* Parse the QoS flags of `vm set` (argv[0] is "set", argv[optind] the VM
 * name): the merge patch in *patch, the name in *name (points into argv).
 * 0, 1 for --help, -EINVAL. */
int vmargs_parse_set(int argc, char **argv, struct client_opts *o,
		     const char **name, json_t **patch, struct error *err);

#endif
