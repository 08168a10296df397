/*
 * The daemon's audit log (daemon.h): records of API calls that change
 * something, kept in the inventory's append-only audit table. The REST
 * layer says who asked, from where and how it ended (rest_audit.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/daemon_impl.h"
#include "util/log.h"

void daemon_audit(struct daemon *d, const struct daemon_audit_record *r)
{
	struct inventory_audit a = { .uid = r->uid,
				     .token_id = r->token_id,
				     .status = r->status };
	struct error err = { 0 };

	snprintf(a.principal, sizeof(a.principal), "%s", r->principal);
	snprintf(a.source, sizeof(a.source), "%s", r->source);
	snprintf(a.action, sizeof(a.action), "%s", r->action);
	snprintf(a.target, sizeof(a.target), "%s", r->target ? r->target : "");
	if (inventory_audit_add(d->inv, &a, &err) < 0)
		log_error("audit", "%s %s by %s (%d) not recorded: %s",
			  a.action, a.target, a.principal, a.status, err.msg);
}

int daemon_audit_list(struct daemon *d, int64_t since_ms, const char *vm,
		      unsigned limit, json_t **out, struct error *err)
{
	struct inventory_audit *rec;
	size_t n;
	int r = inventory_audit_list(d->inv, since_ms, vm && *vm ? vm : NULL,
				     limit, &rec, &n, err);
	if (r)
		return r;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:i}",
				      "id", (json_int_t)rec[i].id, "time_ms",
				      (json_int_t)rec[i].time_ms, "principal",
				      rec[i].principal, "source", rec[i].source,
				      "action", rec[i].action, "target",
				      rec[i].target, "status", rec[i].status);
		if (!o) /* not UTF-8: a target the client sent */
			continue;
		json_object_set_new(o, "token_id",
				    rec[i].token_id > 0
					    ? json_integer(rec[i].token_id)
					    : json_null());
		json_object_set_new(o, "uid",
				    rec[i].uid >= 0 ? json_integer(rec[i].uid)
						    : json_null());
		json_array_append_new(arr, o);
	}
	free(rec);
	*out = json_pack("{s:o}", "audit", arr);
	return 0;
}

int daemon_vm_name(struct daemon *d, const char *ref, char *name, size_t size)
{
	struct error err = { 0 };
	struct dvm *v = dvm_find(d, ref, &err);

	if (!v)
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	snprintf(name, size, "%s", v->def.name);
	pthread_mutex_unlock(&d->lock);
	dvm_put(d, v);
	return 0;
}
