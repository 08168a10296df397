/*
 * Disks in a live migration over shared storage (docs/vm-state.md, "Disks
 * on shared storage"): the image hand-over between the source's machine
 * and the destination's.
 *
 *   source, final pause    every disk quiesced (nothing in flight), then
 *                          virt_disks_release: written back, synced,
 *                          unlocked; a "disk-handover" section per disk
 *                          says how the file was left (size, mtime)
 *   destination, build     the disks are stand-ins opened without a lock
 *                          (cfg->start_paused: an incoming migration)
 *   destination, resume    virt_disks_activate: each image opened for
 *                          real (its lock, its metadata read now), the
 *                          file checked against the section, swapped in
 *   source, failure        virt_disks_activate takes the locks back
 *
 * The guest runs on neither side between the release and the activation,
 * so no write is lost and none is seen twice.
 */
#include <errno.h>
#include <string.h>

#include "machine/virt_impl.h"
#include "util/log.h"
#include "util/state_io.h"
#include "virtio/blk.h"
#include "virtio/virtio.h"

#define LOG		 "virt"
#define HANDOVER_VERSION 1

static unsigned n_disks(struct virt *vm)
{
	unsigned n = 0;

	while (n < VIRT_MAX_VIRTIO && vm->io.blk[n])
		n++;
	return n;
}

int virt_disks_release(struct virt *vm, struct error *err)
{
	unsigned n = n_disks(vm), i;
	int r = 0;

	for (i = 0; i < n && !r; i++) {
		r = virtio_blk_release(vm->io.blk[i], &vm->io.left[i], err);
		vm->io.handed[i] = !r;
	}
	if (!r)
		return 0;
	/* all or none: the ones already released are taken back */
	for (unsigned k = 0; k < n; k++) {
		struct error e = { 0 };
		if (vm->io.handed[k] && virtio_blk_activate(vm->io.blk[k], &e))
			log_warn(LOG, "%s", e.msg);
		vm->io.handed[k] = false;
	}
	return r;
}

int virt_disks_activate(struct virt *vm, struct error *err)
{
	int r = 0;

	pthread_mutex_lock(&vm->io_lock);
	unsigned n = n_disks(vm);
	bool done[VIRT_MAX_VIRTIO] = { false };
	for (unsigned i = 0; i < n && !r; i++) {
		if (!virtio_blk_inactive(vm->io.blk[i]))
			continue;
		/* the disks come first in the slots: vd[i] carries blk[i] */
		virtio_mmio_quiesce(vm->io.vd[i]);
		r = virtio_blk_activate(vm->io.blk[i], err);
		virtio_mmio_resume(vm->io.vd[i]);
		done[i] = !r;
		vm->io.handed[i] = false;
	}
	if (r) {
		/* none taken: a destination gives back what it locked, so the
		 * source can go on with all of them */
		for (unsigned i = 0; i < n; i++) {
			struct blockdev_identity id;
			struct error e = { 0 };
			if (!done[i])
				continue;
			virtio_mmio_quiesce(vm->io.vd[i]);
			if (virtio_blk_release(vm->io.blk[i], &id, &e))
				log_warn(LOG, "%s", e.msg);
			virtio_mmio_resume(vm->io.vd[i]);
		}
	} else {
		vm->disks_incoming = false;
	}
	pthread_mutex_unlock(&vm->io_lock);
	return r;
}

int virt_disks_state_write(struct virt *vm, struct state_writer *w,
			   struct error *err)
{
	for (unsigned i = 0; i < n_disks(vm); i++) {
		if (!vm->io.handed[i])
			continue;
		state_begin(w, "disk-handover", i, HANDOVER_VERSION);
		state_put_u64(w, vm->io.left[i].size);
		state_put_u64(w, (uint64_t)vm->io.left[i].mtime_ns);
		int r = state_end(w, err);
		if (r)
			return r;
	}
	return 0;
}

int virt_disks_state_load(struct virt *vm, struct state_reader *r,
			  struct error *err)
{
	int rc = state_check_version(r, HANDOVER_VERSION, err);
	if (rc)
		return rc;
	struct blockdev_identity id;
	id.size = state_get_u64(r);
	id.mtime_ns = (int64_t)state_get_u64(r);
	if ((rc = state_section_done(r, err)))
		return rc;
	if (r->instance >= n_disks(vm))
		return state_fail(r, err, EINVAL,
				  "this VM has %u disks, the source handed "
				  "over disk %u",
				  n_disks(vm), r->instance);
	if (!vm->disks_incoming)
		return state_fail(r, err, EINVAL,
				  "a disk hand-over, but this is not an "
				  "incoming migration");
	virtio_blk_expect(vm->io.blk[r->instance], &id);
	return 0;
}
