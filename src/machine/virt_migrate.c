/*
 * Live migration's pre-copy (docs/vm-state.md, "Live migration"): the
 * machine's state written to a stream while the guest runs on.
 *
 *   dirty log on      pause, every hart drops its TLBs, the log goes on,
 *                     resume: from here every store takes the slow path
 *                     (gmem_page marks the frame; GMEM_PAGE_LOGGED keeps
 *                     it out of the soft TLB, so the interpreter's and the
 *                     JIT's inline stores miss too) and devices mark what
 *                     they wrote when they release a buffer (virtq.c)
 *   pass 0            "ram-pass" sections: every frame that is not zeros
 *   pass 1..n         collect the log, send the frames dirtied meanwhile,
 *                     until what is left would take no longer than the
 *                     downtime budget at the bandwidth of the last pass
 *                     (or the passes run out: the rest goes paused)
 *   final             pause, quiesce the devices, collect once more, and
 *                     write the whole state with RAM as a delta ("ram"
 *                     version 2) of the frames still dirty; log off
 *
 * The receiver applies the passes in order; a frame sent twice simply
 * ends with its latest content. The machine stays paused afterwards, as
 * after virt_save_fd. io_lock is held throughout: a guest reboot waits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/hart.h"
#include "machine/virt_impl.h"
#include "mem/gmem.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/state_io.h"
#include "virtio/virtio.h"

#define PRECOPY_MAX_PASSES 30

/* Every hart drops its TLBs before its next block: its store entries were
 * cached before the log went on. The harts are paused. */
static void flush_tlbs(struct virt *vm)
{
	for (unsigned i = 0; i < vm->n_harts; i++)
		if (vm->harts[i].h)
			hart_request(vm->harts[i].h, HART_REQ_TLB_FLUSH);
}

static bool user_paused(struct virt *vm)
{
	pthread_mutex_lock(&vm->lock);
	bool p = vm->paused;
	pthread_mutex_unlock(&vm->lock);
	return p;
}

/* Passes while the guest runs; returns with the frames still to send in
 * pending (collected, not sent). */
static int passes(struct virt *vm, struct state_writer *w,
		  const struct virt_precopy_params *prm, uint64_t *pending,
		  size_t words, struct virt_mirror *mirror,
		  struct virt_precopy_result *res, struct error *err)
{
	struct gmem_state_stats gs = { 0 };
	uint64_t t0 = clock_monotonic_ns(), b0 = w->bytes;
	/* the frames a collect finds were dirtied since the one before (the
	 * first: since the log went on, just before pass 0) */
	uint64_t t_collect = t0;
	int r = gmem_state_save_frames(vm->mem, w, "ram-pass", NULL, &gs, err);
	if (r)
		return r;
	uint64_t t_last = clock_monotonic_ns();
	double bw = (double)(w->bytes - b0) / ((t_last - t0) / 1e9 + 1e-6);
	unsigned max = prm->max_passes ? prm->max_passes : PRECOPY_MAX_PASSES;

	for (res->passes = 1; res->passes <= max; res->passes++) {
		uint64_t n = gmem_dirty_log_collect(vm->mem, pending, words);
		/* the disks' dirty granules count against the budget too */
		uint64_t disk = mirror ? virt_mirror_dirty(mirror) : 0;
		uint64_t t = clock_monotonic_ns();
		struct virt_precopy_progress pr = {
			.pass = res->passes,
			.bytes_sent = w->bytes,
			.dirty_frames = n,
			.dirty_rate = (double)(n * GUEST_PAGE_SIZE) /
				      ((t - t_collect) / 1e9 + 1e-6),
			.bandwidth = bw,
		};
		if (mirror)
			virt_mirror_progress(mirror, &pr);
		res->dirty_rate = pr.dirty_rate;
		t_collect = t;
		if (prm->progress)
			prm->progress(prm->opaque, &pr);
		/* what is left fits the budget: it goes paused */
		if ((double)(n * GUEST_PAGE_SIZE + disk) <=
		    bw * (prm->downtime_ns / 1e9))
			return 0;
		if (res->passes == max)
			return 0;
		t0 = t;
		b0 = w->bytes;
		r = gmem_state_save_frames(vm->mem, w, "ram-pass", pending,
					   NULL, err);
		if (!r && mirror)
			r = virt_mirror_send_dirty(mirror, w, err);
		if (r)
			return r;
		memset(pending, 0, words * sizeof(*pending));
		t_last = clock_monotonic_ns();
		bw = (double)(w->bytes - b0) / ((t_last - t0) / 1e9 + 1e-6);
	}
	return 0;
}

int virt_precopy_fd(struct virt *vm, int fd,
		    const struct virt_precopy_params *prm,
		    struct virt_save_stats *st, struct virt_precopy_result *res,
		    struct error *err)
{
	struct state_writer w;
	uint64_t t0 = clock_monotonic_ns();

	memset(res, 0, sizeof(*res));
	if (!atomic_load(&vm->running))
		return error_set(err, EINVAL, "save: the VM is not running");
	pthread_mutex_lock(&vm->io_lock);
	int r = virt_state_savable(vm, err);
	size_t words = vm->mem ? gmem_dirty_log_words(vm->mem) : 0;
	uint64_t *pending = r ? NULL : calloc(words, sizeof(uint64_t));
	uint64_t *last = r ? NULL : calloc(words, sizeof(uint64_t));
	if (!r && (!pending || !last))
		r = error_set(err, ENOMEM, "out of memory");
	if (!r)
		r = state_writer_open(&w, fd, err);
	struct virt_mirror *mirror = NULL;
	if (!r && prm->mirror_disks &&
	    (r = virt_mirror_begin(vm, &mirror, err)))
		state_writer_abort(&w);
	if (r) {
		pthread_mutex_unlock(&vm->io_lock);
		free(pending);
		free(last);
		return r;
	}
	/* the disks first, while the guest runs (stop-and-copy too: the
	 * budget is for RAM; a disk copied paused would stop the guest for
	 * as long as the copy takes) */
	if (mirror)
		r = virt_mirror_copy(mirror, &w, prm, err);
	if (!r && !prm->stop_and_copy) {
		bool was_paused = user_paused(vm);
		virt_pause(vm);
		flush_tlbs(vm);
		gmem_dirty_log_start(vm->mem);
		if (!was_paused)
			virt_resume(vm);
		r = passes(vm, &w, prm, pending, words, mirror, res, err);
	}

	/* the final pass: paused, nothing in flight */
	virt_pause(vm);
	res->final_pause_ns = clock_monotonic_ns();
	for (unsigned i = 0; i < vm->io.n; i++)
		virtio_mmio_quiesce(vm->io.vd[i]);
	if (!r && atomic_load(&vm->stopping))
		r = error_set(err, EAGAIN,
			      "save: the VM rebooted during the migration");
	if (!prm->stop_and_copy) {
		gmem_dirty_log_stop(vm->mem);
		gmem_dirty_log_collect(vm->mem, last, words);
		for (size_t i = 0; i < words; i++) {
			pending[i] |= last[i];
			res->final_frames += (uint64_t)__builtin_popcountll(
				pending[i]);
		}
	}
	/* nothing in flight, the guest stopped: the images go to the
	 * destination (virt_disks.c) */
	bool released = false;
	if (!r && prm->release_disks) {
		r = virt_disks_release(vm, err);
		released = !r;
	}
	/* the disks' last writes before the machine: the destination's
	 * guest must find them when it runs */
	if (!r && mirror) {
		virt_mirror_dirty(mirror);
		r = virt_mirror_send_dirty(mirror, &w, err);
		struct virt_precopy_progress p = { 0 };
		virt_mirror_progress(mirror, &p);
		res->disk_bytes = p.disk_sent;
	}
	/* nothing in flight: tracking can go */
	virt_mirror_end(mirror);
	if (!r)
		r = virt_state_write(
			vm, &w, prm->stop_and_copy ? NULL : pending, st, err);
	if (!r)
		r = virt_disks_state_write(vm, &w, err);
	if (!r)
		r = state_writer_finish(&w, err);
	else
		state_writer_abort(&w);
	for (unsigned i = 0; i < vm->io.n; i++)
		virtio_mmio_resume(vm->io.vd[i]);
	pthread_mutex_unlock(&vm->io_lock);
	free(pending);
	free(last);
	if (r && released) { /* the stream failed: the disks stay here */
		struct error e = { 0 };
		if (virt_disks_activate(vm, &e))
			log_warn("virt", "%s", e.msg);
	}
	if (r)
		return r;
	if (st) {
		st->bytes = w.bytes;
		st->pause_ns = clock_monotonic_ns() - res->final_pause_ns;
		st->total_ns = clock_monotonic_ns() - t0;
	}
	return 0;
}
