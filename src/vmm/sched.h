/*
 * vCPU scheduler mechanism (issue 7): vCPU threads gated by pCPU run tokens.
 * See docs/scheduler.md, "Mechanism".
 *
 * Every vCPU keeps its own host thread (the board's hart loop). A vCPU runs
 * guest code only while it holds one of the host's n_pcpus run tokens; the
 * pure policy (sched_policy.h) decides who gets a token and for how long.
 * The board's threads call the gate functions:
 *
 *   vmk_sched_enter(vm, vcpu, h)  before running guest code: blocks until
 *                                 the vCPU holds a token (false: shut down)
 *   vmk_sched_leave(vm, vcpu, r)  after hart_run returned: r = true when it
 *                                 was preempted or ran out of budget (it
 *                                 calls enter() again at once), false when
 *                                 it parks (WFI, HSM stop, pause)
 *
 * The leaving thread hands its token directly to the next vCPU the policy
 * picks. A timer thread ends slices (hart_request(h, HART_REQ_EXIT): the
 * vCPU stops at its next block boundary and calls leave) and re-picks idle
 * pCPUs when a throttled VM's idle period ends. It also samples the
 * counters every VMK_SCHED_SAMPLE_US for the percentages of
 * vmk_sched_vm_pct().
 *
 * Threads: every function may be called from any thread; one mutex per
 * struct vmk_sched serialises them. enter/leave for a vCPU are called only
 * by that vCPU's own thread, alternately, starting with enter. The hart
 * passed to enter() must stay alive until the matching leave().
 *
 * Ownership: vmk_sched_create() allocates the scheduler, vmk_sched_destroy()
 * frees it (after every VM was removed). vmk_sched_vm_add() returns a VM
 * handle owned by the scheduler until vmk_sched_vm_remove(), which may only
 * be called once none of the VM's threads is inside enter/leave any more
 * (after they were joined).
 */
#ifndef SV_VMM_SCHED_H
#define SV_VMM_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "vmm/sched_policy.h"

struct hart;
struct virt_vcpu_gate;
struct vmk_sched;
struct vmk_sched_vm;

/* Interval of the stats sampler (esxtop's default is 5 s; ours 2 s). */
#define VMK_SCHED_SAMPLE_US 2000000u

/* Nominal MHz of one host CPU: cpufreq base_frequency, else
 * cpuinfo_max_freq, else /proc/cpuinfo "cpu MHz", else 2000. */
uint64_t vmk_host_mhz(void);

/* Host CPUs this process may run on (sched_getaffinity, else sysconf),
 * at most SCHED_MAX_PCPUS. */
uint32_t vmk_host_pcpus(void);

/* Create the scheduler and start its timer thread. prm NULL: defaults for
 * this host (vmk_host_pcpus() x vmk_host_mhz()). 0 or -errno with err. */
int vmk_sched_create(const struct sched_params *prm, struct vmk_sched **out,
		     struct error *err);

/* Stop the timer thread and free s. Every VM must have been removed. */
void vmk_sched_destroy(struct vmk_sched *s);

/* The parameters in use (after defaults). */
void vmk_sched_params(const struct vmk_sched *s, struct sched_params *prm);

/* Host capacity (n_pcpus x MHz) and the sum of the VMs' reservations. */
uint64_t vmk_sched_capacity_mhz(struct vmk_sched *s);
uint64_t vmk_sched_reserved_mhz(struct vmk_sched *s);

/* Admission control: add a VM with all vCPUs idle. On success *out is its
 * handle. -ENOSPC (reservation does not fit), -EINVAL, -EMFILE with the
 * policy's message in err. */
int vmk_sched_vm_add(struct vmk_sched *s, const struct sched_vm_config *cfg,
		     struct vmk_sched_vm **out, struct error *err);

/* The VM's id for the stats functions below (a policy id, >= 0). */
int vmk_sched_vm_id(const struct vmk_sched_vm *vm);

/* The pCPU vCPU vcpu of VM vm_id holds or held last; -1 if none yet. */
int vmk_sched_vcpu_pcpu(struct vmk_sched *s, int vm_id, int vcpu);

/* Change shares/reservation/limit (same n_vcpus); admission control
 * applies. Takes effect at the next pick; budgets at once. */
int vmk_sched_vm_set_qos(struct vmk_sched_vm *vm,
			 const struct sched_vm_config *cfg, struct error *err);

/* Restrict a vCPU to the pCPUs in mask (bit i = pCPU i). A running vCPU
 * outside its new mask is preempted. */
int vmk_sched_vcpu_set_affinity(struct vmk_sched_vm *vm, unsigned vcpu,
				uint64_t mask, struct error *err);

/* From now on enter() returns false for the VM's vCPUs, and running ones
 * are asked to exit (HART_REQ_EXIT): the VM's threads can stop. */
void vmk_sched_vm_shutdown(struct vmk_sched_vm *vm);

/* Undo vmk_sched_vm_shutdown() (e.g. before the harts of a reboot start). */
void vmk_sched_vm_reopen(struct vmk_sched_vm *vm);

/* Remove the VM and free its handle. Its threads must have ended (a vCPU
 * still holding a token is released). */
void vmk_sched_vm_remove(struct vmk_sched_vm *vm);

/* ---- the gate (struct virt_vcpu_gate; vCPU's own thread) --------------- */

/* Block until the vCPU holds a pCPU token. opaque is the VM handle. False
 * if the VM is shut down (the thread must not run guest code). */
bool vmk_sched_enter(void *opaque, unsigned vcpu, struct hart *h);

/* The vCPU stopped running guest code; runnable = false if it parks. The
 * token goes to the next vCPU at once. */
void vmk_sched_leave(void *opaque, unsigned vcpu, bool runnable);

/* For a VM whose harts run in another process (a VM worker, issue 14):
 * enter() is called with h = NULL by a proxy thread, and the scheduler
 * preempts a running vCPU by calling kick(opaque, vcpu) instead of
 * hart_request(); kick runs under the scheduler's lock and must not block
 * or call back into it. */
void vmk_sched_vm_set_kick(struct vmk_sched_vm *vm,
			   void (*kick)(void *opaque, unsigned vcpu),
			   void *opaque);

/* Fill gate for struct virt_host_ops.gate: vmk_sched_enter/leave, and
 * closing/opening as vmk_sched_vm_shutdown/reopen; vm is the opaque. */
void vmk_sched_vm_gate(struct vmk_sched_vm *vm, struct virt_vcpu_gate *gate);

/* ---- statistics (any thread) ------------------------------------------- */

/* Counters up to now of one vCPU, or (vcpu < 0) the sum over the VM.
 * -ENOENT if there is no such VM or vCPU. */
int vmk_sched_vm_stats(struct vmk_sched *s, int vm_id, int vcpu,
		       struct sched_stats *st);

/* The policy's state of one vCPU now (enum sched_vcpu_state: wait,
 * ready, costop, run); SCHED_WAIT if there is no such vCPU. */
int vmk_sched_vcpu_state(struct vmk_sched *s, int vm_id, int vcpu);

/* Percentages over the sampler's last complete interval (about
 * VMK_SCHED_SAMPLE_US) of one vCPU or (vcpu < 0) the VM (sums, may exceed
 * 100). -ENOENT as above, -EAGAIN before the first interval ended. */
int vmk_sched_vm_pct(struct vmk_sched *s, int vm_id, int vcpu,
		     struct sched_pct *pct);

/* The VM's entitlement and demand in MHz from the last accounting window.
 * -ENOENT if there is no such VM. */
int vmk_sched_vm_mhz(struct vmk_sched *s, int vm_id, uint64_t *entitled_mhz,
		     uint64_t *demand_mhz);

/* Run the sampler now (as the timer thread does every VMK_SCHED_SAMPLE_US);
 * for tests and for an on-demand refresh. */
void vmk_sched_sample(struct vmk_sched *s);

#endif
