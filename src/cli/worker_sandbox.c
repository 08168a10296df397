/*
 * The daemon's VM workers in the sandbox (see worker_sandbox.h). The
 * worker is a fresh process of its own (posix_spawn by the daemon), so no
 * keeper is needed: the daemon is its parent and names the cause of its
 * death (vmm/vmproc.c). As root the daemon spawns it as the init of a
 * PID namespace of its own (util/pidns.h): it numbers its threads in that
 * namespace and the daemon translates the ids it reports (vmproc.c).
 *
 * Test-only fault injection: SOFTVISOR_TEST_WORKER_FAULT=KIND:VM[,...]
 * makes the worker of VM fault when its guest first writes to the
 * console (on a vCPU thread, in the UART's transmit path, i.e. inside a
 * device model): KIND crash writes through a null pointer, syscall calls
 * ptrace (not on the allow-list), abort calls abort().
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli/worker_sandbox.h"
#include "util/clock.h"
#include "util/hostfile.h"
#include "util/log.h"
#include "vmm/sandbox.h"
#include "vmm/vmdef.h"

#define LOG "worker"

enum fault { FAULT_NONE, FAULT_CRASH, FAULT_SYSCALL, FAULT_ABORT };

static struct {
	struct sandbox sb;
	bool on;
	enum fault fault;
	uint64_t prepare_ns, netns_ns; /* what the steps cost (bench) */
} ws;

/* The fault SOFTVISOR_TEST_WORKER_FAULT asks of the VM called name. */
static enum fault fault_for(const char *name)
{
	const char *spec = getenv("SOFTVISOR_TEST_WORKER_FAULT");
	size_t n = strlen(name);

	while (spec && *spec) {
		const char *end = strchr(spec, ',');
		size_t len = end ? (size_t)(end - spec) : strlen(spec);
		const char *colon = memchr(spec, ':', len);
		if (colon && (size_t)(spec + len - colon - 1) == n &&
		    !memcmp(colon + 1, name, n)) {
			size_t k = (size_t)(colon - spec);
			if (k == 5 && !memcmp(spec, "crash", 5))
				return FAULT_CRASH;
			if (k == 7 && !memcmp(spec, "syscall", 7))
				return FAULT_SYSCALL;
			if (k == 5 && !memcmp(spec, "abort", 5))
				return FAULT_ABORT;
		}
		spec = end ? end + 1 : NULL;
	}
	return FAULT_NONE;
}

static void fault_crash(void)
{
	static int *volatile nowhere;

	*nowhere = 1;
}

static void first_output(void *opaque)
{
	(void)opaque;
	if (ws.fault == FAULT_NONE)
		return;
	log_warn(LOG, "test fault '%s' injected",
		 ws.fault == FAULT_CRASH     ? "crash"
		 : ws.fault == FAULT_SYSCALL ? "syscall"
					     : "abort");
	if (ws.fault == FAULT_SYSCALL)
		syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
	else if (ws.fault == FAULT_ABORT)
		abort();
	else
		fault_crash();
}

static int configure(void *opaque, const struct vmdef *def,
		     const struct virt_config *board, struct error *err)
{
	(void)opaque;
	ws.fault = fault_for(def->name);
	if (!ws.on)
		return 0;
	/* user networking (slirp) makes host sockets for the guest; every
	 * other VM can leave the host's network (the worker is still
	 * single-threaded: its threads inherit the namespace) */
	bool host_net = false;
	for (unsigned i = 0; i < board->n_nets; i++)
		host_net |= board->nets[i].backend == VIRTIO_NET_BACKEND_USER &&
			    !board->nets[i].netdev;
	ws.sb.cfg.host_net = host_net;
	if (!host_net && ws.sb.privileged) {
		uint64_t t0 = clock_monotonic_ns();
		int r = unshare(CLONE_NEWNET);
		ws.netns_ns = clock_monotonic_ns() - t0;
		if (r == 0)
			ws.sb.net_ns = true;
		else
			log_warn(LOG, "no network namespace: %s",
				 strerror(errno));
	}
	(void)err;
	/* a reboot opens the kernel and images again: as duplicates */
	hostfile_record();
	return 0;
}

static int prepare(void *opaque, const int *keep, unsigned n_keep,
		   struct error *err)
{
	(void)opaque, (void)keep, (void)n_keep;
	uint64_t t0 = clock_monotonic_ns();
	int r = sandbox_enter(&ws.sb, err);
	if (r)
		return r;
	hostfile_seal();
	log_info(LOG,
		 "sandbox: prepare %llu us, network namespace %llu us, "
		 "enter %llu us",
		 (unsigned long long)ws.prepare_ns / 1000,
		 (unsigned long long)ws.netns_ns / 1000,
		 (unsigned long long)(clock_monotonic_ns() - t0) / 1000);
	return 0;
}

void worker_hooks_plain(struct vmworker_hooks *hooks)
{
	memset(hooks, 0, sizeof(*hooks));
	hooks->configure = configure;
	hooks->first_output = first_output;
}

/* As a PID namespace's init we are not ended by a signal we do not
 * handle, even one we raise: abort() (a failed assertion in a device
 * model) would end in glibc's fallback, a SIGSEGV. Its SIGABRT ends us
 * with 128 + 6 instead, which the daemon reads as the signal (vmproc.c).
 * SIGTERM, SIGINT and SIGHUP stay blocked as the daemon spawned us
 * (docs/security.md, "Daemon workers"). */
static void end_on_abort(int sig)
{
	_exit(128 + sig);
}

int worker_sandbox_init(int sock, struct vmworker_hooks *hooks,
			struct error *err)
{
	struct sandbox_config sc = { 0 };
	const char *mode = getenv("SOFTVISOR_SECCOMP");

	sc.host_net = true; /* until the definition says otherwise */
	sc.keep[sc.n_keep++] = sock;
	sc.seccomp_trap = mode && !strcmp(mode, "trap");
	uint64_t t0 = clock_monotonic_ns();
	int r = sandbox_prepare(&ws.sb, &sc, err);
	if (r)
		return r;
	ws.prepare_ns = clock_monotonic_ns() - t0;
	ws.on = true;
	if (getpid() == 1) /* the daemon made us a PID namespace's init */
		signal(SIGABRT, end_on_abort);
	worker_hooks_plain(hooks);
	hooks->prepare = prepare;
	return 0;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define WORKER_ASAN 1
#endif

int worker_sandbox_exit(int status)
{
#ifdef WORKER_ASAN
	if (ws.on && ws.sb.seccomp) {
		fflush(stdout);
		fflush(stderr);
		syscall(SYS_exit_group, status);
	}
#endif
	return status;
}
