/*
 * The VM worker's side of save and restore (docs/vm-state.md, issue 18):
 * the worker cannot open paths (its sandbox), so the daemon passes it the
 * descriptor to write the state to (VMPROTO_SAVE) or to read it from
 * (VMPROTO_START with VMPROTO_START_RESTORE, handled by the start).
 */
#ifndef SV_VMM_VMWORKER_STATE_H
#define SV_VMM_VMWORKER_STATE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Write vm's state to fd (-1: the message came without one) and answer
 * VMPROTO_SAVED on sock with the request's seq. budget_ms > 0: live
 * migration's pre-copy with that downtime budget, VMPROTO_PROGRESS after
 * each pass. migrate (VMPROTO_SAVE_MIGRATE): a live migration, also with
 * budget_ms 0 (stop-and-copy): the disks are handed over at the final
 * pause, or with mirror (VMPROTO_SAVE_MIRROR, --copy-storage) copied
 * into the stream. The VM stays paused after a successful save; the daemon
 * then stops or resumes it. snapshot (VMPROTO_SAVE_SNAPSHOT, else NULL):
 * a snapshot with memory of that name (vm_snapshot_save), after which
 * the VM runs on. On the worker's main thread. */
void vmworker_save(struct vm *vm, int sock, uint32_t seq, int fd,
		   unsigned budget_ms, bool migrate, bool mirror,
		   const char *snapshot);

#endif
