/*
 * Suspend and resume of daemon VMs (issue 18; docs/vm-state.md, "Suspend
 * and resume"): the daemon opens the state file and hands the descriptor
 * to the VM's worker, which cannot open paths (its sandbox). The file is
 * <state_dir>/vmstate/<id>.state: by id, so that a rename of the VM does
 * not lose it.
 *
 * Suspend: PATH.tmp is created, the worker pauses the VM and writes its
 * state to it, the daemon fsyncs it, renames it to PATH, fsyncs the
 * directory, and only then ends the machine (its memory is freed with its
 * worker): a failure at any step leaves the VM as it was (running, or
 * paused if it was) and PATH as it was. Resume (or start) of a suspended
 * VM starts a worker that reads PATH before the guest's first
 * instruction; once it runs, PATH is removed. A restore that fails (the
 * definition changed, the file is damaged) leaves the VM suspended with
 * its file, and says why.
 *
 * All calls hold v->op_lock (daemon_vm_action).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/daemon_impl.h"
#include "util/log.h"
#include "vmm/lifecycle.h"

#define LOG "daemon"

int daemon_state_path(struct daemon *d, int64_t id, char *buf, size_t cap,
		      struct error *err)
{
	int n = snprintf(buf, cap, "%s/vmstate/%lld.state", d->cfg.state_dir,
			 (long long)id);
	if (n < 0 || (size_t)n + 8 >= cap) /* room for ".tmp" */
		return error_set(err, ENAMETOOLONG,
				 "the state directory's path is too long");
	return 0;
}

static int state_dir_ensure(struct daemon *d, struct error *err)
{
	char dir[4096];

	if (snprintf(dir, sizeof(dir), "%s/vmstate", d->cfg.state_dir) >=
	    (int)sizeof(dir))
		return error_set(err, ENAMETOOLONG,
				 "the state directory's path is too long");
	if (mkdir(dir, 0700) && errno != EEXIST)
		return error_set(err, errno, "%s: %s", dir, strerror(errno));
	return 0;
}

/* fsync the directory holding path, so that a rename in it is durable. */
static int fsync_dir_of(const char *path, struct error *err)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "%s: %s", dir, strerror(errno));
	int r = fsync(fd) ? error_set(err, errno, "fsync %s: %s", dir,
				      strerror(errno))
			  : 0;
	close(fd);
	return r;
}

/* Write v's state to path (PATH.tmp, fsync, rename). The machine is
 * paused afterwards whether or not it worked. */
static int save_to(struct dvm *v, const char *path, struct virt_save_stats *st,
		   struct error *err)
{
	char tmp[4104];

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, errno, "suspend: %s: %s", tmp,
				 strerror(errno));
	int r = vm_save_fd(v->vm, fd, st, err);
	if (!r && fsync(fd))
		r = error_set(err, errno, "suspend: fsync %s: %s", tmp,
			      strerror(errno));
	if (close(fd) && !r)
		r = error_set(err, errno, "suspend: close %s: %s", tmp,
			      strerror(errno));
	if (!r && rename(tmp, path))
		r = error_set(err, errno, "suspend: rename to %s: %s", path,
			      strerror(errno));
	if (!r)
		r = fsync_dir_of(path, err);
	if (r)
		unlink(tmp);
	return r;
}

int daemon_vm_suspend(struct daemon *d, struct dvm *v, const char *actor,
		      struct error *err)
{
	char path[4096];
	struct virt_save_stats st = { 0 };
	int r = vm_lifecycle_check(v->state, VM_OP_SUSPEND, v->def.name, err);

	if (!r)
		r = state_dir_ensure(d, err);
	if (!r)
		r = daemon_state_path(d, v->id, path, sizeof(path), err);
	if (r)
		return r;
	r = save_to(v, path, &st, err);
	if (r) {
		/* the save paused it: a running VM goes on running */
		if (v->state == VM_STATE_RUNNING && vm_resume(v->vm))
			log_warn(LOG, "%s: not resumed after the failed save",
				 v->def.name);
		error_prefix(err, "%s", v->def.name);
		return r;
	}
	unsigned gen = v->gen;
	v->suspending = true;
	vm_stop(v->vm, 0);
	dvm_finalize(d, v, gen, actor);
	v->suspending = false;
	log_info(LOG,
		 "%s: suspended to %s (%llu bytes, %llu of %llu RAM pages, "
		 "%.1f ms)",
		 v->def.name, path, (unsigned long long)st.bytes,
		 (unsigned long long)st.ram_frames_saved,
		 (unsigned long long)st.ram_frames, st.total_ns / 1e6);
	return 0;
}

int daemon_vm_restore(struct daemon *d, struct dvm *v, struct error *err)
{
	char path[4096];
	int r = daemon_state_path(d, v->id, path, sizeof(path), err);

	if (r)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno,
				 "%s: its saved state %s: %s (stop the VM to "
				 "discard the suspend and boot it afresh)",
				 v->def.name, path, strerror(errno));
	v->restoring = true;
	v->restore_fd = fd;
	r = dvm_start(d, v, err);
	v->restoring = false;
	v->restore_fd = -1;
	close(fd);
	if (r) {
		error_prefix(err, "%s: resuming from %s", v->def.name, path);
		return r;
	}
	/* the guest runs on: the file is spent (a second resume from it
	 * would fork the guest's history, its disks having moved on) */
	if (unlink(path))
		log_warn(LOG, "%s: %s: %s", v->def.name, path, strerror(errno));
	return 0;
}

int daemon_vm_discard_state(struct daemon *d, struct dvm *v, struct error *err)
{
	char path[4096];
	int r = daemon_state_path(d, v->id, path, sizeof(path), err);

	if (r)
		return r;
	if (unlink(path) && errno != ENOENT)
		return error_set(err, errno, "%s: %s: %s", v->def.name, path,
				 strerror(errno));
	return dvm_set_state(d, v, VM_STATE_STOPPED, err);
}
