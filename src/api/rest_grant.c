/*
 * Roles and scoped tokens in the REST layer (api/grant.h; docs/api.md
 * "Roles and scoped tokens"): the 403 replies and the filtering of
 * replies down to a scoped token's VMs.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/rest_priv.h"

int64_t rest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rest_refuse_role(struct mg_connection *conn, const char *actor,
		     const struct grant *g, unsigned perms)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);

	return rest_send_error(conn, 403, "forbidden", NULL,
			       "%s has the %s role: %s %s needs the %s role",
			       actor, grant_role_name(g->role),
			       ri->request_method, ri->local_uri,
			       grant_roles_with(perms));
}

int rest_refuse_vm(struct mg_connection *conn, const char *actor,
		   const struct grant *g, const char *vm)
{
	char list[GRANT_MAX_VMS * GRANT_NAME_MAX];

	grant_vms_format(g, list, sizeof(list));
	return rest_send_error(conn, 403, "forbidden", NULL,
			       "%s is limited to the VMs %s: not '%s'", actor,
			       list, vm);
}

bool rest_grant_keeps(const struct grant *g, const json_t *o, const char *key)
{
	const char *name = json_string_value(json_object_get(o, key));

	if (!g->n_vms)
		return true;
	/* audit records: only calls on its VMs, not tokens of that name */
	if (!strcmp(key, "target")) {
		const char *a = json_string_value(json_object_get(o, "action"));

		if (!a || strncmp(a, "vm.", 3) != 0)
			return false;
	}
	return name && name[0] && grant_vm(g, name);
}

void rest_grant_filter(const struct grant *g, json_t *arr, const char *key)
{
	size_t i = 0;

	if (!g->n_vms || !json_is_array(arr))
		return;
	while (i < json_array_size(arr)) {
		if (rest_grant_keeps(g, json_array_get(arr, i), key))
			i++;
		else
			json_array_remove(arr, i);
	}
}
