/* Roles and VM scopes of API clients: see grant.h. */
#include "api/grant.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const role_names[] = {
	[GRANT_ADMIN] = "admin",
	[GRANT_OPERATOR] = "operator",
	[GRANT_READ_ONLY] = "read-only",
};

static const unsigned role_perms[] = {
	[GRANT_ADMIN] = GRANT_READ | GRANT_POWER | GRANT_CONFIGURE |
			GRANT_AUDIT,
	[GRANT_OPERATOR] = GRANT_READ | GRANT_POWER,
	[GRANT_READ_ONLY] = GRANT_READ,
};

void grant_admin(struct grant *g)
{
	memset(g, 0, sizeof(*g));
	g->role = GRANT_ADMIN;
}

const char *grant_role_name(enum grant_role r)
{
	return (unsigned)r < sizeof(role_names) / sizeof(role_names[0])
		       ? role_names[r]
		       : "?";
}

int grant_role_parse(const char *s, enum grant_role *out)
{
	for (unsigned i = 0; i < sizeof(role_names) / sizeof(role_names[0]);
	     i++) {
		if (s && !strcmp(s, role_names[i])) {
			*out = (enum grant_role)i;
			return 0;
		}
	}
	if (s && !strcmp(s, "administrator")) {
		*out = GRANT_ADMIN;
		return 0;
	}
	return -EINVAL;
}

bool grant_has(const struct grant *g, unsigned perms)
{
	if ((unsigned)g->role >= sizeof(role_perms) / sizeof(role_perms[0]))
		return false;
	return (role_perms[g->role] & perms) == perms;
}

const char *grant_roles_with(unsigned perms)
{
	if ((role_perms[GRANT_READ_ONLY] & perms) == perms)
		return "read-only, operator or admin";
	if ((role_perms[GRANT_OPERATOR] & perms) == perms)
		return "operator or admin";
	return "admin";
}

bool grant_vm(const struct grant *g, const char *name)
{
	if (!g->n_vms)
		return true;
	for (unsigned i = 0; i < g->n_vms && i < GRANT_MAX_VMS; i++)
		if (name && !strcasecmp(g->vms[i], name))
			return true;
	return false;
}

void grant_vms_format(const struct grant *g, char *buf, size_t size)
{
	size_t len = 0;

	if (size)
		buf[0] = '\0';
	for (unsigned i = 0; i < g->n_vms && i < GRANT_MAX_VMS; i++) {
		int n = snprintf(buf + len, size - len, "%s%s", i ? "," : "",
				 g->vms[i]);
		if (n < 0 || (size_t)n >= size - len)
			return;
		len += (size_t)n;
	}
}

/* A VM name as vmdef accepts it (letters, digits, '-'), so that the
 * stored comma list is unambiguous. */
static bool name_ok(const char *s, size_t len)
{
	if (!len || len >= GRANT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

static int add_vm(struct grant *g, const char *s, size_t len, struct error *err)
{
	if (!name_ok(s, len))
		return error_set(err, EINVAL,
				 "vms: '%.*s' is not a VM name (1..%d "
				 "letters, digits and '-')",
				 (int)(len > 64 ? 64 : len), s,
				 GRANT_NAME_MAX - 1);
	if (g->n_vms == GRANT_MAX_VMS)
		return error_set(err, EINVAL, "vms: at most %d VMs",
				 GRANT_MAX_VMS);
	memcpy(g->vms[g->n_vms], s, len);
	g->vms[g->n_vms][len] = '\0';
	g->n_vms++;
	return 0;
}

int grant_vms_parse(const char *list, struct grant *g, struct error *err)
{
	g->n_vms = 0;
	if (!list || !list[0])
		return 0;
	for (const char *p = list;;) {
		size_t len = strcspn(p, ",");
		int r = add_vm(g, p, len, err);

		if (r)
			return r;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

int grant_from_json(const json_t *req, struct grant *g, struct error *err)
{
	const json_t *role = json_object_get(req, "role");
	const json_t *vms = json_object_get(req, "vms"), *v;
	size_t i;

	grant_admin(g);
	if (role && (!json_is_string(role) ||
		     grant_role_parse(json_string_value(role), &g->role) < 0))
		return error_set(err, EINVAL,
				 "role: expected \"admin\", \"operator\" or "
				 "\"read-only\"");
	if (vms && !json_is_null(vms) && !json_is_array(vms))
		return error_set(err, EINVAL,
				 "vms: expected an array of VM names");
	json_array_foreach(vms, i, v)
	{
		const char *s = json_string_value(v);
		int r;

		if (!s)
			return error_set(err, EINVAL,
					 "vms[%zu]: expected a VM name", i);
		r = add_vm(g, s, strlen(s), err);
		if (r)
			return r;
	}
	return 0;
}
