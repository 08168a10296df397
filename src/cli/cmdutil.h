/*
 * Helpers shared by the client commands (vm, host, events, token, top):
 * option parsing with the global options, messages and exit statuses,
 * request paths.
 *
 * Threads: the CLI is single-threaded; these use getopt's globals.
 */
#ifndef SV_CLI_CMDUTIL_H
#define SV_CLI_CMDUTIL_H

#include <stdio.h>

#include "cli/client.h"
#include "util/error.h"

/* Print "softvisor: MSG" and return CLI_EXIT_FAIL (operation failed). */
int cmd_fail(const struct error *err);

/* Print "softvisor CMD: MSG" and return CLI_EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const struct error *err);

/* Parse argv (argv[0] is the subcommand name, for messages "vm start")
 * when it takes only the global options, the options in extra (may be
 * NULL; values >= 256, handled by on_opt) and exactly nargs positional
 * arguments (pos receives pointers into argv). --help prints usage to
 * stdout. Returns -1 to continue, or an exit status to return now. */
int cmd_parse(int argc, char **argv, const char *cmd,
	      const struct option *extra,
	      int (*on_opt)(int c, const char *arg, void *opaque,
			    struct error *err),
	      void *opaque, int nargs, const char **pos, struct client_opts *o,
	      void (*usage)(FILE *f));

/* client_open() with the message "softvisor: ..." on failure: 0 or
 * CLI_EXIT_FAIL. */
int cmd_open(const struct client_opts *o, struct client **c);

/* "/v1/vms/" + the percent-encoded name + suffix (may be ""); malloc'd,
 * NULL on out of memory. */
char *cmd_vm_path(const char *name, const char *suffix);

/* s percent-encoded for a path segment or query value (RFC 3986
 * unreserved characters kept); malloc'd. */
char *cmd_escape(const char *s);

/* client_request() with the failure printed ("softvisor: MSG"): 0 or
 * CLI_EXIT_FAIL. path NULL (out of memory) fails. *reply as
 * client_request(), NULL after a failure. */
int cmd_call(struct client *c, const char *method, const char *path,
	     const json_t *body, json_t **reply);

/* Follow the task *task (a 202 answer) with GET /v1/tasks/ID until it
 * leaves "running", *task replaced by each answer; on a terminal (stderr)
 * its progress and message on one line. 0 or CLI_EXIT_FAIL (the daemon
 * did not answer; printed). Whether the task succeeded is the caller's
 * to read. */
int cmd_task_wait(struct client *c, json_t **task);

/* o[key] as a string; "-" when absent or empty (for tables). */
const char *cmd_jstr(const json_t *o, const char *key);

/* o[key] as a number (integer or real); 0 when absent. */
double cmd_jnum(const json_t *o, const char *key);

/* `vm snapshot|template|clone`: cmd_snapshot.c (issue 16). */
int cmd_vm_snapshot(int argc, char **argv);
int cmd_vm_template(int argc, char **argv);
int cmd_vm_clone(int argc, char **argv);

/* `vm console NAME`: cmd_console.c. */
int cmd_vm_console(int argc, char **argv);
/* `vm migrate NAME --to URL`: cmd_migrate.c. */
int cmd_vm_migrate(int argc, char **argv);

#endif
