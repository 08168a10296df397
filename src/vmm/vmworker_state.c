/*
 * The VM worker's save (see vmworker_state.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "util/log.h"
#include "vmm/vm.h"
#include "vmm/vmproto.h"
#include "vmm/vmworker_state.h"

#define LOG "worker"

struct progress_ctx {
	int sock;
};

static void send_progress(void *opaque, const struct virt_precopy_progress *p)
{
	struct progress_ctx *c = opaque;
	struct vmproto_progress x = {
		.pass = p->pass,
		.bytes_sent = p->bytes_sent,
		.dirty_frames = p->dirty_frames,
		.dirty_rate = p->dirty_rate,
		.bandwidth = p->bandwidth,
		.disk_done = p->disk_done,
		.disk_total = p->disk_total,
		.disk_dirty = p->disk_dirty,
		.disk_sent = p->disk_sent,
	};
	struct vmproto_msg m = { .type = VMPROTO_PROGRESS,
				 .data = &x,
				 .len = sizeof(x) };
	vmproto_send(c->sock, &m, NULL, 0, MSG_DONTWAIT, NULL);
}

void vmworker_save(struct vm *vm, int sock, uint32_t seq, int fd,
		   unsigned budget_ms, bool migrate, bool mirror,
		   const char *snapshot)
{
	struct virt_save_stats st = { 0 };
	struct virt_precopy_result res = { 0 };
	struct vmproto_saved sv = { 0 };
	struct error err = { 0 };
	int r;

	if (fd < 0) {
		r = error_set(&err, EBADF,
			      "save: no descriptor came with the request");
	} else if (snapshot) {
		r = vm_snapshot_save(vm, snapshot, fd, &st, &err);
	} else if (budget_ms || migrate) {
		struct progress_ctx ctx = { sock };
		struct virt_precopy_params prm = {
			.downtime_ns = (uint64_t)budget_ms * 1000000,
			.progress = send_progress,
			.opaque = &ctx,
			.stop_and_copy = budget_ms == 0,
			.release_disks = migrate && !mirror,
			.mirror_disks = migrate && mirror,
		};
		r = vm_precopy_local(vm, fd, &prm, &st, &res, &err);
	} else {
		r = vm_save_fd(vm, fd, &st, &err);
	}
	struct vmproto_msg m = { .type = VMPROTO_SAVED, .seq = seq, .a0 = r };
	if (r) {
		log_warn(LOG, "%s", err.msg);
		m.data = err.msg;
		m.len = (uint32_t)strnlen(err.msg, 511);
	} else {
		sv.bytes = st.bytes;
		sv.ram_frames = st.ram_frames;
		sv.ram_frames_saved = st.ram_frames_saved;
		sv.pause_ns = st.pause_ns;
		sv.total_ns = st.total_ns;
		sv.passes = res.passes;
		sv.final_frames = res.final_frames;
		sv.final_pause_ns = res.final_pause_ns;
		sv.dirty_rate = res.dirty_rate;
		sv.disk_bytes = res.disk_bytes;
		m.data = &sv;
		m.len = sizeof(sv);
	}
	struct error e2 = { 0 };
	if (vmproto_send(sock, &m, NULL, 0, 0, &e2) && e2.code != EPIPE)
		log_warn(LOG, "%s", e2.msg);
}
