/*
 * What an API client may do (docs/api.md "Roles and scoped tokens"): a
 * role and, optionally, the VMs it is limited to. The unix socket is
 * always an unscoped administrator; a token carries the grant it was
 * created with. Pure functions over plain data: any thread.
 *
 *   role       read  power (start, stop, ..., console typing)
 *              configure (create, edit, delete)  audit log
 *   read-only   x
 *   operator    x     x
 *   admin       x     x     x     x
 *
 * Errors: -EINVAL with a message naming the field.
 */
#ifndef SV_API_GRANT_H
#define SV_API_GRANT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/error.h"

#define GRANT_MAX_VMS  16
#define GRANT_NAME_MAX 64 /* a VM name and its NUL (VMDEF_NAME_MAX + 1) */

enum grant_role {
	GRANT_ADMIN,
	GRANT_OPERATOR,
	GRANT_READ_ONLY,
};

enum grant_perm {
	GRANT_READ =
		1u << 0, /* GET: VMs, stats, events, metrics, console view */
	GRANT_POWER =
		1u
		<< 1, /* start, stop, shutdown, pause, resume, reset, console input */
	GRANT_CONFIGURE = 1u << 2, /* create, edit, delete VMs */
	GRANT_AUDIT = 1u << 3,	   /* read the audit log */
};

struct grant {
	enum grant_role role;
	long long token_id; /* the token granting it; 0: the socket's owner */
	unsigned n_vms;	    /* 0: every VM */
	char vms[GRANT_MAX_VMS][GRANT_NAME_MAX];
};

/* An unscoped administrator (the unix socket, tokens made before roles). */
void grant_admin(struct grant *g);
/* "admin", "operator", "read-only". */
const char *grant_role_name(enum grant_role r);
/* The names above ("administrator" too). 0 or -EINVAL. */
int grant_role_parse(const char *s, enum grant_role *out);
/* True if the role has every permission in perms (enum grant_perm). */
bool grant_has(const struct grant *g, unsigned perms);
/* The roles that have perms, for messages ("operator or admin"). */
const char *grant_roles_with(unsigned perms);
/* True if VM name is in the scope (case-insensitive, as VM names). */
bool grant_vm(const struct grant *g, const char *name);
/* "web1,web2" (the scope as stored; "" for every VM) into buf. */
void grant_vms_format(const struct grant *g, char *buf, size_t size);
/* The stored form back; "" or NULL: every VM. 0 or -EINVAL. */
int grant_vms_parse(const char *list, struct grant *g, struct error *err);
/* From a token request's "role" (default admin) and "vms" (an array of
 * VM names; absent or empty: every VM). 0 or -EINVAL. */
int grant_from_json(const json_t *req, struct grant *g, struct error *err);

#endif
