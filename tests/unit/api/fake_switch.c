/*
 * A fake of src/api/daemon_switch.h for the REST server's tests: one
 * switch "sw0" with no ports; create echoes the body's name. The real
 * registry is tested through the daemon (tests/system/test_switch.py).
 */
#include <errno.h>
#include <string.h>

#include "api/daemon_switch.h"

static json_t *fake_switch(const char *name)
{
	return json_pack("{s:s,s:i,s:[],s:[]}", "name", name, "mtu", 1500,
			 "portgroups", "ports");
}

int daemon_switch_list(struct daemon *d, json_t **out, struct error *err)
{
	*out = json_pack("{s:[o]}", "switches", fake_switch("sw0"));
	return 0;
}

int daemon_switch_create(struct daemon *d, const char *actor, const char *body,
			 json_t **out, struct error *err)
{
	json_t *j = json_loads(body ? body : "", 0, NULL);
	const char *name = json_string_value(json_object_get(j, "name"));
	int r = 0;

	if (!name)
		r = error_set(err, EINVAL, "name: expected a string");
	else if (!strcmp(name, "sw0"))
		r = error_set(err, EEXIST, "switch 'sw0' exists");
	else
		*out = fake_switch(name);
	json_decref(j);
	return r;
}

int daemon_switch_get(struct daemon *d, const char *name, json_t **out,
		      struct error *err)
{
	if (strcmp(name, "sw0"))
		return error_set(err, ENOENT, "switch '%s' not found", name);
	*out = fake_switch(name);
	return 0;
}

int daemon_switch_delete(struct daemon *d, const char *actor, const char *name,
			 struct error *err)
{
	if (strcmp(name, "sw0"))
		return error_set(err, ENOENT, "switch '%s' not found", name);
	return 0;
}

int daemon_switch_portgroup_set(struct daemon *d, const char *actor,
				const char *sw, const char *body, json_t **out,
				struct error *err)
{
	if (strcmp(sw, "sw0"))
		return error_set(err, ENOENT, "switch '%s' not found", sw);
	*out = fake_switch(sw);
	return 0;
}

int daemon_switch_portgroup_delete(struct daemon *d, const char *actor,
				   const char *sw, const char *pg,
				   struct error *err)
{
	if (strcmp(sw, "sw0"))
		return error_set(err, ENOENT, "switch '%s' not found", sw);
	return 0;
}
