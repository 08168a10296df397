/*
 * Disk snapshots, templates and clones of the daemon's VMs (issue 16;
 * docs/api.md "Snapshots, templates and clones", docs/block.md). Same
 * conventions as daemon.h: 0 or a negative errno with err filled, *out a
 * new JSON reference, a VM named by name or id, actor for the event log;
 * any thread, calls on one VM serialized by its op_lock.
 *
 * Snapshots are internal qcow2 snapshots of every writable disk of a VM,
 * all named alike, recorded in the inventory (inventory_snapshot.h):
 *  - a VM whose machine does not exist (defined, stopped, crashed): each
 *    image is snapshotted in turn here (image.h);
 *  - a running or paused VM: its worker takes them at one instant, vCPUs
 *    stopped and disk I/O drained (vm_disk_snapshot: the worker holds the
 *    images open, so only it may change them), and by default the VM's
 *    memory state (harts, RAM, devices) at the same instant
 *    (vm_snapshot_save), to <state_dir>/snapshots/<id>/<name>.state.
 * A writable raw disk makes create fail (-EINVAL naming it). Revert of a
 * snapshot without memory needs the machine off (-EBUSY); one with
 * memory stops the machine (a suspended VM's state is discarded),
 * reverts the disks and starts the VM from the snapshot's state, running
 * or paused as it was then. A template's snapshots cannot change (its
 * images are read by its linked clones).
 */
#ifndef SV_API_DAEMON_SNAPSHOT_H
#define SV_API_DAEMON_SNAPSHOT_H

#include <jansson.h>

#include "api/daemon.h"

/* {"snapshots": [Snapshot...]} oldest first (Snapshot: name, created_ms,
 * description, disks, vm_state "running", "paused" or "off", type,
 * memory, memory_bytes). */
int daemon_snapshot_list(struct daemon *d, const char *vm, json_t **out,
			 struct error *err);
int daemon_snapshot_get(struct daemon *d, const char *vm, const char *name,
			json_t **out, struct error *err);
/* body: {"name": "...", "description": "...", "disk_only": false,
 * "memory": bool}; *out the Snapshot. disk_only: an external snapshot
 * (overlays). memory: with the VM's memory state (default: when the VM
 * has a machine and not disk_only; true for a VM that is off is
 * refused). Names:
 * 1..64 of [A-Za-z0-9._-], starting with a letter or digit, not all
 * digits (qcow2 also finds a snapshot by its numeric id). */
int daemon_snapshot_create(struct daemon *d, const char *actor, const char *vm,
			   const char *body, json_t **out, struct error *err);
/* The VM's disks become what they were at the snapshot (and, with
 * memory, the VM runs on from the snapshot's instant); *out the VM. */
int daemon_snapshot_revert(struct daemon *d, const char *actor, const char *vm,
			   const char *name, json_t **out, struct error *err);
int daemon_snapshot_delete(struct daemon *d, const char *actor, const char *vm,
			   const char *name, struct error *err);

/* Remove the memory state files of VM id's snapshots (the VM is being
 * deleted; its records go with it). Failures are logged. */
void daemon_snapshot_files_remove(struct daemon *d, int64_t id);

/* External (disk-only) snapshots (daemon_snapshot_ext.c), called by the
 * functions above with v's op_lock held: create (s: name and description
 * parsed; s->disks set here), revert (the VM off) and delete (blockcommit,
 * the VM off) of the snapshot whose recorded disks are disks. */
struct dvm;
struct inventory_snapshot;
bool daemon_snapshot_is_external(const char *disks_json);
int daemon_snapshot_ext_create(struct daemon *d, struct dvm *v,
			       struct inventory_snapshot *s, struct error *err);
int daemon_snapshot_ext_revert(struct daemon *d, struct dvm *v,
			       const char *name, json_t *disks,
			       struct error *err);
int daemon_snapshot_ext_delete(struct daemon *d, struct dvm *v,
			       const char *name, json_t *disks,
			       struct error *err);

/* body: {"template": true|false} (NULL or {}: true). A template is a VM
 * that is not running; it cannot start, its snapshots cannot change, and
 * it cannot be deleted (nor unmarked) while linked clones use its images.
 * *out the VM. */
int daemon_vm_template(struct daemon *d, const char *actor, const char *vm,
		       const char *body, json_t **out, struct error *err);
/* body: {"name": NEW, "mode": "linked"|"full"} (linked by default).
 * linked: the template's writable disks become qcow2 overlays on its
 * images (NEW-diskN.qcow2 next to them), at once; full: copies (qcow2,
 * the backing chain flattened) made by a task. Either way *out is a Task
 * (kind "clone", vm NEW), finished already for a linked clone. The new
 * VM gets new MACs (and its own id); autostart off. */
int daemon_vm_clone(struct daemon *d, const char *actor, const char *vm,
		    const char *body, json_t **out, struct error *err);

#endif
