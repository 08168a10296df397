/*
 * Internal snapshots of a running machine's disks (virt.h,
 * virt_disk_snapshot; docs/block.md "Snapshots of a running VM").
 *
 * The consistent point: the vCPUs stopped (virt_pause) so the guest issues
 * nothing new, every virtio-blk device quiesced (its I/O thread ends and
 * its pool drains: each request it took is complete and in the used
 * ring), then each image is flushed and snapshotted in turn. Requests the
 * guest queued but the device had not taken stay in the avail ring and
 * run after the resume: the guest saw no completion for them, so leaving
 * them out of the snapshot is what a power cut at that instant would do.
 */
#include <errno.h>
#include <string.h>

#include "block/block.h"
#include "machine/virt_impl.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/state_io.h"
#include "virtio/blk.h"
#include "virtio/virtio.h"

#define LOG "virt"

/* The arguments of one operation on the quiesced disks. */
struct disk_op {
	const char *name;	     /* internal: the snapshot's name ... */
	bool del;		     /* ... made or deleted */
	const char *const *overlays; /* external: one per writable disk */
	unsigned n;
};

static int each_disk(struct virt *vm, const struct disk_op *op,
		     struct error *err)
{
	const char *name = op->name;
	bool del = op->del;
	struct virt_io *io = &vm->io;
	unsigned done = 0;
	int r = 0;

	for (unsigned i = 0; i < VIRT_MAX_VIRTIO && io->blk[i] && !r; i++) {
		struct blockdev *bd = virtio_blk_blockdev(io->blk[i]);
		if (blockdev_readonly(bd))
			continue; /* its contents never change */
		if (!del) {
			r = blockdev_snapshot_create(bd, name, err);
			done = i + 1;
			continue;
		}
		struct error e = { 0 };
		r = blockdev_snapshot_delete(bd, name, &e);
		if (r == -ENOENT) /* a disk added after the snapshot */
			r = 0;
		else if (r)
			*err = e;
	}
	if (r && !del) {
		/* all disks or none: undo the snapshots made on the others */
		for (unsigned i = 0; i + 1 < done; i++) {
			struct blockdev *bd = virtio_blk_blockdev(io->blk[i]);
			struct error e = { 0 };
			if (!blockdev_readonly(bd) &&
			    blockdev_snapshot_delete(bd, name, &e))
				log_warn(LOG, "undoing snapshot %s: %s", name,
					 e.msg);
		}
	}
	return r;
}

/* The external snapshot on the quiesced disks: all or none. */
static int each_disk_external(struct virt *vm, const struct disk_op *op,
			      struct error *err)
{
	const char *const *overlays = op->overlays;
	unsigned n = op->n;
	struct virt_io *io = &vm->io;
	struct virt_config *cfg = (struct virt_config *)vm->cfg;
	struct blockdev *made[VIRT_MAX_VIRTIO] = { 0 };
	unsigned k = 0, i;
	int r = 0;

	for (i = 0; i < VIRT_MAX_VIRTIO && io->blk[i]; i++)
		k += !blockdev_readonly(virtio_blk_blockdev(io->blk[i]));
	if (k != n)
		return error_set(err, EINVAL,
				 "external snapshot: %u overlays for %u "
				 "writable disks",
				 n, k);
	k = 0;
	for (i = 0; i < VIRT_MAX_VIRTIO && io->blk[i] && !r; i++) {
		struct blockdev *bd = virtio_blk_blockdev(io->blk[i]);
		if (blockdev_readonly(bd))
			continue;
		if (overlays[k]) /* NULL: this disk stays as it is */
			r = blockdev_snapshot_external(bd, overlays[k],
						       &made[i], err);
		k++;
	}
	for (i = 0; i < VIRT_MAX_VIRTIO && io->blk[i]; i++) {
		if (!made[i])
			continue;
		if (r) { /* undo: the old image again */
			blockdev_snapshot_external_undo(made[i]);
			continue;
		}
		virtio_blk_set_blockdev(io->blk[i], made[i]);
		/* a reboot rebuilds the devices from the definition */
		snprintf(cfg->disks[i].path, sizeof(cfg->disks[i].path), "%s",
			 blockdev_path(made[i]));
		snprintf(cfg->disks[i].format, sizeof(cfg->disks[i].format),
			 "qcow2");
	}
	return r;
}

/* Run fn at the consistent point (this file's header) of a running VM. */
static int with_disks_quiesced(struct virt *vm,
			       int (*fn)(struct virt *vm,
					 const struct disk_op *op,
					 struct error *err),
			       const struct disk_op *op, struct error *err)
{
	if (!atomic_load(&vm->running))
		return error_set(err, EINVAL,
				 "snapshot: the VM is not running");
	/* io_lock: a reboot destroys the devices only after it got it */
	pthread_mutex_lock(&vm->io_lock);
	if (atomic_load(&vm->stopping) || !vm->mem) {
		pthread_mutex_unlock(&vm->io_lock);
		return error_set(err, EAGAIN,
				 "snapshot: the VM is rebooting or stopping");
	}
	pthread_mutex_lock(&vm->lock);
	bool was_paused = vm->paused;
	pthread_mutex_unlock(&vm->lock);
	virt_pause(vm);
	/* the disks come first in the slots (virt_io_create): vd[i] is the
	 * transport of blk[i] */
	for (unsigned i = 0; i < vm->io.n && vm->io.blk[i]; i++)
		virtio_mmio_quiesce(vm->io.vd[i]);
	int r = fn(vm, op, err);
	for (unsigned i = 0; i < vm->io.n && vm->io.blk[i]; i++)
		virtio_mmio_resume(vm->io.vd[i]);
	if (!was_paused)
		virt_resume(vm);
	pthread_mutex_unlock(&vm->io_lock);
	return r;
}

int virt_disk_snapshot_external(struct virt *vm, const char *const *overlays,
				unsigned n, struct error *err)
{
	const struct disk_op op = { .overlays = overlays, .n = n };

	return with_disks_quiesced(vm, each_disk_external, &op, err);
}

int virt_disk_snapshot(struct virt *vm, const char *name, bool del,
		       struct error *err)
{
	const struct disk_op op = { .name = name, .del = del };

	return with_disks_quiesced(vm, each_disk, &op, err);
}

int virt_snapshot_save(struct virt *vm, const char *name, int fd,
		       struct virt_save_stats *st, struct error *err)
{
	uint64_t t0 = clock_monotonic_ns();

	if (!atomic_load(&vm->running))
		return error_set(err, EINVAL,
				 "snapshot: the VM is not running");
	pthread_mutex_lock(&vm->io_lock);
	/* a device that cannot save refuses before any disk changes */
	int r = virt_state_savable(vm, err);
	if (r) {
		pthread_mutex_unlock(&vm->io_lock);
		return r;
	}
	pthread_mutex_lock(&vm->lock);
	bool was_paused = vm->paused;
	pthread_mutex_unlock(&vm->lock);
	virt_pause(vm);
	/* every device, not only the disks: the state written below must
	 * have nothing in flight, and no disk request may complete between
	 * the disks' snapshot and the state (the guest would see a write
	 * done that the snapshot lacks) */
	for (unsigned i = 0; i < vm->io.n; i++)
		virtio_mmio_quiesce(vm->io.vd[i]);
	uint64_t t_paused = clock_monotonic_ns();
	r = each_disk(vm, &(struct disk_op){ .name = name }, err);
	struct state_writer w = { 0 };
	if (!r) {
		r = state_writer_open(&w, fd, err);
		if (!r) {
			r = virt_state_write(vm, &w, NULL, st, err);
			if (!r)
				r = state_writer_finish(&w, err);
			else
				state_writer_abort(&w);
		}
		if (r) { /* no state: no snapshot either */
			struct error e = { 0 };
			if (each_disk(vm,
				      &(struct disk_op){ .name = name,
							 .del = true },
				      &e))
				log_warn(LOG, "undoing snapshot %s: %s", name,
					 e.msg);
		}
	}
	for (unsigned i = 0; i < vm->io.n; i++)
		virtio_mmio_resume(vm->io.vd[i]);
	if (!was_paused)
		virt_resume(vm);
	pthread_mutex_unlock(&vm->io_lock);
	if (!r && st) {
		st->bytes = w.bytes;
		st->pause_ns = t_paused - t0;
		st->total_ns = clock_monotonic_ns() - t0;
	}
	return r;
}
