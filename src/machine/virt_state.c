/*
 * Save and restore of the whole virt machine (docs/vm-state.md): the
 * orchestration over the harts' (cpu/hart_state.c), the platform devices'
 * (dev/dev_state.c) and guest RAM's (mem/gmem_state.c) sections.
 *
 * Save: pause every vCPU at a block boundary (virt_pause: the guest clock
 * freezes with them), then write "machine", "hart" x n, "aclint", "plic",
 * "uart16550", "goldfish-rtc", "ram" x chunks, "virtio-mmio" x devices
 * (quiesced first: nothing in flight) and the end section to
 * PATH.tmp, fsync it and rename it to PATH, so PATH is either the old file
 * or a complete new one. The machine stays paused; the caller resumes or
 * stops it.
 *
 * Restore: the machine is built from the same configuration as a fresh
 * boot (so its devices exist), then every section is loaded in the same
 * fixed order over it; the first mismatch with the configuration (number of
 * vCPUs, RAM size, devices, firmware kind) or damage is an error naming the
 * section, and the machine does not start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dev/dev_state.h"
#include "machine/virt_impl.h"
#include "mem/gmem.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/state_io.h"
#include "virtio/virtio.h"

#define LOG		"virt"
#define MACHINE_VERSION 1

static uint64_t now_ns(void)
{
	return clock_monotonic_ns();
}

static void machine_save(struct virt *vm, struct state_writer *w)
{
	struct timespec rt;

	clock_gettime(CLOCK_REALTIME, &rt);
	state_begin(w, "machine", 0, MACHINE_VERSION);
	state_put_u32(w, vm->n_harts);
	state_put_u64(w, vm->cfg->ram_size);
	state_put_u32(w, (uint32_t)vm->cfg->bios);
	state_put_u32(w, vm->io.n);
	state_put_u64(w, vclock_now(&vm->clock));
	/* host wall clock at the save (informational) */
	state_put_u64(w, (uint64_t)rt.tv_sec * 1000000000ULL +
				 (uint64_t)rt.tv_nsec);
	for (unsigned i = 0; i < vm->n_harts; i++) {
		const struct virt_hart *vh = &vm->harts[i];
		state_put_u32(w, (uint32_t)atomic_load(&vh->hsm));
		state_put_u64(w, vh->start_addr);
		state_put_u64(w, vh->start_opaque);
	}
}

int virt_state_write(struct virt *vm, struct state_writer *w,
		     const uint64_t *dirty, struct virt_save_stats *st,
		     struct error *err)
{
	struct gmem_state_stats gs = { 0 };
	int r;

	machine_save(vm, w);
	if ((r = state_end(w, err)))
		return r;
	for (unsigned i = 0; i < vm->n_harts; i++) {
		hart_state_save(vm->harts[i].h, w);
		if ((r = state_end(w, err)))
			return r;
	}
	aclint_state_save(vm->aclint, w);
	if ((r = state_end(w, err)))
		return r;
	plic_state_save(vm->plic, w);
	if ((r = state_end(w, err)))
		return r;
	uart_state_save(vm->uart, 0, w);
	if ((r = state_end(w, err)))
		return r;
	goldfish_rtc_state_save(vm->rtc, w);
	if ((r = state_end(w, err)))
		return r;
	r = dirty ? gmem_state_save_frames(vm->mem, w, "ram", dirty, &gs, err)
		  : gmem_state_save(vm->mem, w, &gs, err);
	if (r)
		return r;
	for (unsigned i = 0; i < vm->io.n; i++) {
		virtio_mmio_save(vm->io.vd[i], i, w);
		if ((r = state_end(w, err)))
			return r;
	}
	if (st) {
		st->ram_frames = gs.frames_total;
		st->ram_frames_saved = gs.frames_saved;
	}
	return 0;
}

/* Can the machine be saved now? Under io_lock. */
int virt_state_savable(struct virt *vm, struct error *err)
{
	if (atomic_load(&vm->stopping) || !vm->mem)
		return error_set(err, EAGAIN,
				 "save: the VM is rebooting or stopping");
	for (unsigned i = 0; i < vm->io.n; i++)
		if (!virtio_mmio_can_save(vm->io.vd[i]))
			return error_set(err, ENOTSUP,
					 "save: %s (virtio slot %u) cannot "
					 "save its state yet",
					 virtio_mmio_name(vm->io.vd[i]), i);
	return 0;
}

int virt_save_fd(struct virt *vm, int fd, struct virt_save_stats *st,
		 struct error *err)
{
	struct state_writer w;
	uint64_t t0 = now_ns();

	if (!atomic_load(&vm->running))
		return error_set(err, EINVAL, "save: the VM is not running");
	/* io_lock: a reboot (the control thread) destroys the devices, then
	 * the harts and RAM, only after it got io_lock (virt_io_destroy);
	 * it sets stopping first */
	pthread_mutex_lock(&vm->io_lock);
	int r = virt_state_savable(vm, err);
	if (r) {
		pthread_mutex_unlock(&vm->io_lock);
		return r;
	}
	virt_pause(vm);
	/* requests the devices took are completed into guest RAM and the
	 * interrupt controllers before anything is written */
	for (unsigned i = 0; i < vm->io.n; i++)
		virtio_mmio_quiesce(vm->io.vd[i]);
	uint64_t t_paused = now_ns();
	r = state_writer_open(&w, fd, err);
	if (!r) {
		r = virt_state_write(vm, &w, NULL, st, err);
		if (!r)
			r = state_writer_finish(&w, err);
		else
			state_writer_abort(&w);
	}
	/* the vCPUs stay paused, so the devices find nothing new to do */
	for (unsigned i = 0; i < vm->io.n; i++)
		virtio_mmio_resume(vm->io.vd[i]);
	pthread_mutex_unlock(&vm->io_lock);
	if (r)
		return r;
	if (st) {
		st->bytes = w.bytes;
		st->pause_ns = t_paused - t0;
		st->total_ns = now_ns() - t0;
	}
	return 0;
}

int virt_save(struct virt *vm, const char *path, struct virt_save_stats *st,
	      struct error *err)
{
	char tmp[4096];
	uint64_t t0 = now_ns();

	if (!atomic_load(&vm->running))
		return error_set(err, EINVAL, "save: the VM is not running");
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return error_set(err, ENAMETOOLONG, "save: path too long");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, errno, "save: %s: %s", tmp,
				 strerror(errno));
	int r = virt_save_fd(vm, fd, st, err);
	if (!r && fsync(fd))
		r = error_set(err, errno, "save: fsync %s: %s", tmp,
			      strerror(errno));
	close(fd);
	if (!r && rename(tmp, path))
		r = error_set(err, errno, "save: rename to %s: %s", path,
			      strerror(errno));
	if (r) {
		unlink(tmp);
		error_prefix(err, "saving the VM to %s", path);
		return r;
	}
	if (st)
		st->total_ns = now_ns() - t0;
	return 0;
}

/* ---- restore ---------------------------------------------------------------- */

static int next(struct state_reader *r, const char *want, struct error *err)
{
	int rc = state_next(r, err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return error_set(err, EINVAL,
				 "VM state ends where section %s was expected",
				 want);
	if (!state_is(r, want))
		return state_fail(r, err, EINVAL,
				  "found where section %s was expected", want);
	return 0;
}

static int machine_load(struct virt *vm, struct state_reader *r,
			struct error *err)
{
	int rc = state_check_version(r, MACHINE_VERSION, err);
	if (rc)
		return rc;
	uint32_t n_harts = state_get_u32(r);
	uint64_t ram = state_get_u64(r);
	uint32_t bios = state_get_u32(r);
	uint32_t n_io = state_get_u32(r);
	uint64_t ticks = state_get_u64(r);
	(void)state_get_u64(r); /* wall clock at save */
	if (r->short_read)
		return state_section_done(r, err);
	if (n_harts != vm->n_harts)
		return state_fail(r, err, EINVAL,
				  "saved with %u vCPUs, this VM has %u "
				  "(--cpus)",
				  n_harts, vm->n_harts);
	if (ram != vm->cfg->ram_size)
		return state_fail(
			r, err, EINVAL,
			"saved with %llu MiB of RAM, this VM has "
			"%llu MiB (--memory)",
			(unsigned long long)(ram >> 20),
			(unsigned long long)(vm->cfg->ram_size >> 20));
	if (bios != (uint32_t)vm->cfg->bios)
		return state_fail(r, err, EINVAL,
				  "saved with another --bios kind");
	if (n_io != vm->io.n)
		return state_fail(r, err, EINVAL,
				  "saved with %u virtio devices, this VM has "
				  "%u",
				  n_io, vm->io.n);
	uint32_t hsm[VIRT_MAX_HARTS];
	uint64_t addr[VIRT_MAX_HARTS], opaque[VIRT_MAX_HARTS];
	for (unsigned i = 0; i < n_harts; i++) {
		hsm[i] = state_get_u32(r);
		addr[i] = state_get_u64(r);
		opaque[i] = state_get_u64(r);
		if (hsm[i] > HSM_RESUME_PENDING)
			return state_fail(r, err, EINVAL,
					  "hart %u: HSM state %u", i, hsm[i]);
	}
	rc = state_section_done(r, err);
	if (rc)
		return rc;
	for (unsigned i = 0; i < n_harts; i++) {
		atomic_store(&vm->harts[i].hsm, (int)hsm[i]);
		vm->harts[i].start_addr = addr[i];
		vm->harts[i].start_opaque = opaque[i];
	}
	/* the guest's time continues from where it was saved */
	atomic_store(&vm->clock.frozen_ticks, ticks);
	atomic_store(&vm->clock.paused, true);
	vclock_resume(&vm->clock);
	return 0;
}

static int load_sections(struct virt *vm, struct state_reader *r,
			 struct error *err)
{
	int rc = state_next(r, err);

	/* live migration: RAM sent while the guest still ran comes first,
	 * and with --copy-storage the disks' data (virt_mirror.c) */
	while (rc > 0 &&
	       (state_is(r, "ram-pass") || state_is(r, "disk-mirror"))) {
		rc = state_is(r, "disk-mirror")
			     ? virt_mirror_state_load(vm, r, err)
			     : gmem_state_load(vm->mem, r, err);
		if (!rc)
			rc = state_next(r, err);
	}
	if (rc < 0)
		return rc;
	if (rc == 0)
		return error_set(err, EINVAL,
				 "VM state ends where section machine was "
				 "expected");
	if (!state_is(r, "machine"))
		return state_fail(r, err, EINVAL,
				  "found where section machine was expected");
	if ((rc = machine_load(vm, r, err)))
		return rc;
	for (unsigned i = 0; i < vm->n_harts; i++)
		if ((rc = next(r, "hart", err)) ||
		    (rc = hart_state_load(vm->harts[i].h, r, err)))
			return rc;
	if ((rc = next(r, "aclint", err)) ||
	    (rc = aclint_state_load(vm->aclint, r, err)))
		return rc;
	if ((rc = next(r, "plic", err)) ||
	    (rc = plic_state_load(vm->plic, r, err)))
		return rc;
	if ((rc = next(r, "uart16550", err)) ||
	    (rc = uart_state_load(vm->uart, 0, r, err)))
		return rc;
	if ((rc = next(r, "goldfish-rtc", err)) ||
	    (rc = goldfish_rtc_state_load(vm->rtc, r, err)))
		return rc;
	for (uint32_t c = 0; c < gmem_state_chunks(vm->mem); c++) {
		if ((rc = next(r, "ram", err)))
			return rc;
		if (r->instance != c)
			return state_fail(r, err, EINVAL,
					  "found where ram/%u was expected", c);
		if ((rc = gmem_state_load(vm->mem, r, err)))
			return rc;
	}
	/* after RAM: a started device looks at its rings at once */
	for (unsigned i = 0; i < vm->io.n; i++)
		if ((rc = next(r, "virtio-mmio", err)) ||
		    (rc = virtio_mmio_load(vm->io.vd[i], i, r, err)))
			return rc;
	rc = state_next(r, err);
	/* live migration over shared storage: how the source left each
	 * disk (virt_disks.c) */
	while (rc > 0 && state_is(r, "disk-handover")) {
		rc = virt_disks_state_load(vm, r, err);
		if (!rc)
			rc = state_next(r, err);
	}
	if (rc < 0)
		return rc;
	if (rc > 0)
		return state_fail(r, err, EINVAL,
				  "unexpected section after the last one");
	return 0;
}

int virt_state_load(struct virt *vm, const char *path, struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "--restore %s: %s", path,
				 strerror(errno));
	int rc = virt_state_read(vm, fd, err);
	close(fd);
	if (rc)
		error_prefix(err, "--restore %s", path);
	return rc;
}

int virt_state_read(struct virt *vm, int fd, struct error *err)
{
	struct state_reader r;

	int rc = state_reader_open(&r, fd, err);
	/* RAM sections are applied as they arrive (a live migration's
	 * destination works while the source still sends): a failure
	 * drops the whole machine, so bytes applied before their CRC was
	 * checked never run */
	r.stream_over = 1u << 20;
	if (!rc)
		rc = load_sections(vm, &r, err);
	state_reader_close(&r);
	return rc;
}
