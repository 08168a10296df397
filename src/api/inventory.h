/*
 * The daemon's inventory: VM definitions and states, the event log and API
 * tokens, in one SQLite database <state-dir>/inventory.db (tables and
 * durability: docs/inventory.md).
 *
 *   struct inventory *inv;
 *   if (inventory_open(state_dir, &inv, &err) < 0) ...
 *   inventory_vm_create(inv, &def, &id, &err);     (-EEXIST: duplicate)
 *   inventory_vm_set_state(inv, id, VM_STATE_RUNNING, &err);
 *   inventory_event_add(inv, "web1", "token:ci", "start", "ok", NULL, &err);
 *   inventory_close(inv);
 *
 * Durability: every change is one SQLite transaction (WAL journal,
 * synchronous=FULL): after a crash a change is either wholly there or not
 * at all; a function that returned 0 has reached stable storage.
 *
 * Threads: every function may be called from any thread at the same time.
 * The inventory has one connection guarded by a mutex, so calls are
 * serialized (each is a short transaction). The inventory does NOT check
 * lifecycle transitions (that is the daemon's state machine); it refuses
 * only what would corrupt it (duplicate names, deleting a running VM).
 *
 * Ownership: records returned are plain structs owned by the caller;
 * free struct inventory_vm's definition text with inventory_vm_clear() and
 * arrays with the matching *_free function.
 *
 * Errors: 0 or a negative errno with err filled: -ENOENT (no such VM or
 * token), -EEXIST (duplicate name), -EBUSY (VM running), -EACCES (token
 * bad or revoked), -EIO (database), -EINVAL (bad argument).
 */
#ifndef SV_API_INVENTORY_H
#define SV_API_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/grant.h"
#include "vmm/lifecycle.h"
#include "vmm/vmdef.h"
#include "util/error.h"

#define INVENTORY_FILE		 "inventory.db"
#define INVENTORY_SCHEMA_VERSION 4

/* enum vm_state, vm_state_name(), vm_state_parse(): vmm/lifecycle.h */

struct inventory;

struct inventory_vm {
	int64_t id;
	char name[VMDEF_NAME_MAX + 1];
	char *definition; /* JSON text (vmdef_to_json), owned */
	enum vm_state state;
	bool autostart;
	int64_t created_ms, updated_ms; /* wall clock, ms since the epoch */
};

struct inventory_event {
	int64_t id; /* increasing: page with after_id */
	int64_t time_ms;
	char vm[VMDEF_NAME_MAX + 1]; /* "" for host-level events */
	char actor[64];		     /* "cli", "token:NAME", "daemon" */
	char action[32];	     /* "create", "start", ... */
	char result[32];	     /* "ok", "failed", "crashed", ... */
	char message[512];	     /* truncated if longer */
};

struct inventory_token {
	int64_t id;
	char name[64];
	int64_t created_ms;
	int64_t revoked_ms; /* 0: valid */
	struct grant grant; /* role and VM scope (schema 3; older: admin) */
	int64_t expires_ms; /* 0: never */
};

/* Open (creating the directory (0700) and the database (0600) if needed)
 * and migrate the schema. -EPROTO if the file has a newer schema than this
 * program knows. */
int inventory_open(const char *state_dir, struct inventory **out,
		   struct error *err);
/* Close; NULL is a no-op. No call may be running. */
void inventory_close(struct inventory *inv);

/* Insert a VM in state "defined" with def (validated by the caller through
 * vmdef_parse). *id (may be NULL) receives its id. -EEXIST if the name is
 * taken (names compare case-insensitively). */
int inventory_vm_create(struct inventory *inv, const struct vmdef *def,
			int64_t *id, struct error *err);
/* Look a VM up by id or by name into out (inventory_vm_clear it). */
int inventory_vm_get(struct inventory *inv, int64_t id,
		     struct inventory_vm *out, struct error *err);
int inventory_vm_get_by_name(struct inventory *inv, const char *name,
			     struct inventory_vm *out, struct error *err);
/* Free what a record owns (not the record itself). */
void inventory_vm_clear(struct inventory_vm *vm);
/* All VMs ordered by name: *out is a malloc'd array of *n records (free
 * with inventory_vm_list_free). */
int inventory_vm_list(struct inventory *inv, struct inventory_vm **out,
		      size_t *n, struct error *err);
void inventory_vm_list_free(struct inventory_vm *vms, size_t n);
/* Replace the definition (a rename when def->name differs: -EEXIST if
 * taken). The state is kept. */
int inventory_vm_update(struct inventory *inv, int64_t id,
			const struct vmdef *def, struct error *err);
/* Record a new state (no transition check). */
int inventory_vm_set_state(struct inventory *inv, int64_t id,
			   enum vm_state state, struct error *err);
/* Remove a VM; -EBUSY while it is running or paused. Its events stay. */
int inventory_vm_delete(struct inventory *inv, int64_t id, struct error *err);

/* For a daemon that starts: every VM recorded running or paused becomes
 * crashed (with a "daemon"/"restart" event each), in one transaction.
 * *autostart_ids (may be NULL) receives a malloc'd array of the ids of
 * those that have autostart, *n_autostart their number. */
/* The same, except the VMs keep[0..n_keep) (re-attached after a daemon
 * restart): they stay as recorded. */
int inventory_mark_crashed_on_restart_except(struct inventory *inv,
					     const int64_t *keep, size_t n_keep,
					     struct error *err);
int inventory_mark_crashed_on_restart(struct inventory *inv,
				      int64_t **autostart_ids,
				      size_t *n_autostart, struct error *err);

/* Append an event; vm may be NULL or "" (host-level), message NULL. */
int inventory_event_add(struct inventory *inv, const char *vm,
			const char *actor, const char *action,
			const char *result, const char *message,
			struct error *err);
/* fn(opaque, e) is called with every event added from now on, with its
 * id and time, while the inventory's lock is held (so in id order): it
 * must be short and must not call into the inventory (the event bus,
 * src/api/event_bus.h). fn NULL: none. Set it before other threads use
 * the inventory. */
void inventory_set_event_hook(struct inventory *inv,
			      void (*fn)(void *opaque,
					 const struct inventory_event *e),
			      void *opaque);
/* Events with id > after_id, oldest first, at most limit (0 = 1000), of
 * one VM (vm != NULL) or all. *out is malloc'd (free()). */
int inventory_event_list(struct inventory *inv, const char *vm,
			 int64_t after_id, unsigned limit,
			 struct inventory_event **out, size_t *n,
			 struct error *err);

/* Length of a token secret including the NUL. */
#define INVENTORY_SECRET_MAX 96

/* Create a token named name (unique among tokens not revoked) and write
 * its secret ("svt_<id>_<64 hex>") to secret: shown this once, only a
 * salted SHA-256 of it is stored. */
int inventory_token_create(struct inventory *inv, const char *name,
			   char secret[INVENTORY_SECRET_MAX], int64_t *id,
			   struct error *err);
/* The same with a grant (NULL: unscoped admin) and an expiry (ms since
 * the epoch, 0: never). */
int inventory_token_create_grant(struct inventory *inv, const char *name,
				 const struct grant *grant, int64_t expires_ms,
				 char secret[INVENTORY_SECRET_MAX], int64_t *id,
				 struct error *err);
/* Check a presented secret: 0 with *out (may be NULL) filled, or -EACCES
 * (unknown, wrong, revoked or expired; the message does not say which). */
int inventory_token_verify(struct inventory *inv, const char *secret,
			   struct inventory_token *out, struct error *err);
/* All tokens (revoked ones too), by id. *out is malloc'd (free()). */
int inventory_token_list(struct inventory *inv, struct inventory_token **out,
			 size_t *n, struct error *err);
/* Revoke the valid token named name. -ENOENT if there is none. */
int inventory_token_revoke(struct inventory *inv, const char *name,
			   struct error *err);

/* ---- the audit log (inventory_audit.c) ----------------------------------- */

/* One API call that changes something (docs/api.md "Audit log"). */
struct inventory_audit {
	int64_t id;	    /* increasing */
	int64_t time_ms;    /* wall clock; 0 in inventory_audit_add: now */
	char principal[80]; /* "token:NAME", "local", "unauthenticated" */
	int64_t token_id;   /* the token's id; 0: none */
	int64_t uid;	    /* unix socket peer uid; -1: unknown or TLS */
	char source[64];    /* "unix" or the TLS client's "ADDR:PORT" */
	char action[32];    /* "vm.start", "token.create", ... */
	char target[128];   /* VM or token name, "" if none */
	int status;	    /* HTTP status of the reply */
};

/* Append a record (a->id is ignored). The caller keeps secrets out of
 * every field: nothing here is hidden or hashed. */
int inventory_audit_add(struct inventory *inv, const struct inventory_audit *a,
			struct error *err);
/* The newest records with time_ms >= since_ms (0: all) about VM vm (NULL:
 * any target), at most limit (0 = 100, at most 10000), oldest first.
 * *out is malloc'd (free()). */
int inventory_audit_list(struct inventory *inv, int64_t since_ms,
			 const char *vm, unsigned limit,
			 struct inventory_audit **out, size_t *n,
			 struct error *err);

#endif
