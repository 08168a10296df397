/*
 * The VM worker's save (see vmworker_state.h).
 */
#include <errno.h>
#include <string.h>

#include "util/log.h"
#include "vmm/vm.h"
#include "vmm/vmproto.h"
#include "vmm/vmworker_state.h"

#define LOG "worker"

void vmworker_save(struct vm *vm, int sock, uint32_t seq, int fd)
{
	struct virt_save_stats st = { 0 };
	struct vmproto_saved sv = { 0 };
	struct error err = { 0 };
	int r;

	if (fd < 0)
		r = error_set(&err, EBADF,
			      "save: no descriptor came with the request");
	else
		r = vm_save_fd(vm, fd, &st, &err);
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
		m.data = &sv;
		m.len = sizeof(sv);
	}
	struct error e2 = { 0 };
	if (vmproto_send(sock, &m, NULL, 0, 0, &e2) && e2.code != EPIPE)
		log_warn(LOG, "%s", e2.msg);
}
