/*
 * The daemon's side of cross-VM page sharing for one worker (issue 15,
 * docs/memory.md "Sharing identical pages across VMs"): the worker gets
 * the host-wide pool read-only before its START, tells us each new RAM
 * (RAM_FD), offers frames by hash and gives references back; everything
 * it sends is checked (mem_pool.h), a wrong message is a protocol error.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "vmm/mem_pool.h"
#include "vmm/vmproc.h"
#include "vmm/vmproc_priv.h"

#define LOG "vmproc"

static struct mem_pool *g_pool;
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;
static atomic_bool g_on;

void vmproc_share_enable(bool on)
{
	atomic_store(&g_on, on);
}

static void pool_create(void)
{
	struct error err = { 0 };
	long pages = sysconf(_SC_PHYS_PAGES);

	/* the pool never holds more than the host's memory: address space
	 * only until used */
	g_pool = mem_pool_create(pages > 0 ? (uint64_t)pages : 0, &err);
	if (!g_pool)
		log_warn(LOG, "page sharing across VMs off: %s", err.msg);
}

struct mem_pool *vmproc_share_pool(void)
{
	if (!atomic_load(&g_on))
		return NULL;
	pthread_once(&g_pool_once, pool_create);
	return g_pool;
}

/* A late answer (mem_pool_vm_link): under the pool's lock, so it must
 * not block; a full link loses it (the frame stays offered unmatched). Its
 * own descriptor: p->sock is closed before the pool forgets the VM. */
static bool late_answer(void *opaque, uint32_t gen,
			const struct gmem_pool_pair *a, unsigned n)
{
	struct vmproc *p = opaque;
	struct vmproto_msg m = { .type = VMPROTO_SHARE_ANSWER,
				 .a0 = (int32_t)a[0].batch,
				 .a1 = (int32_t)gen,
				 .data = a,
				 .len = n * (uint32_t)sizeof(*a) };

	return vmproto_send(p->share_sock, &m, NULL, 0, MSG_DONTWAIT, NULL) ==
	       0;
}

void vmproc_share_start(struct vmproc *p)
{
	struct mem_pool *pool = vmproc_share_pool();
	uint64_t frames;
	int fd;

	if (!pool)
		return;
	p->share_in = malloc(GMEM_SHARE_BATCH * sizeof(*p->share_in));
	p->share_out = malloc(GMEM_SHARE_BATCH * sizeof(*p->share_out));
	p->pool_vm = mem_pool_vm_new(pool);
	fd = mem_pool_ro_fd(pool);
	if (!p->share_in || !p->share_out || !p->pool_vm || fd < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	p->share_sock = dup(p->sock);
	if (p->share_sock >= 0)
		mem_pool_vm_link(p->pool_vm, late_answer, p);
	frames = mem_pool_max_frames(pool);
	struct vmproto_msg m = { .type = VMPROTO_POOL,
				 .a0 = frames > INT32_MAX ? INT32_MAX
							  : (int32_t)frames };
	(void)vmproto_send(p->sock, &m, &fd, 1, 0, NULL);
	close(fd);
}

void vmproc_share_end(struct vmproc *p, bool worker_runs_on)
{
	if (worker_runs_on)
		mem_pool_vm_leave(p->pool_vm);
	else
		mem_pool_vm_free(p->pool_vm);
	p->pool_vm = NULL;
	if (p->share_sock >= 0)
		close(p->share_sock);
	p->share_sock = -1;
	free(p->share_in);
	free(p->share_out);
	p->share_in = NULL;
	p->share_out = NULL;
}

uint64_t vmproc_share_refs(struct vmproc *p)
{
	return p->pool_vm ? mem_pool_vm_refs(p->pool_vm) : 0;
}

/* Answer offers; without a view of the VM's RAM (a worker adopted after
 * a daemon restart, no pool) every offer is refused with LIFT, so that
 * the worker lifts them. */
static int offer(struct vmproc *p, const struct vmproto_msg *m,
		 struct error *err)
{
	unsigned n = m->len / (unsigned)sizeof(struct gmem_pool_offer), k = 0;

	if (m->len % sizeof(struct gmem_pool_offer))
		return error_set(err, EPROTO, "share-offer: %u bytes", m->len);
	memcpy(p->share_in, m->data, m->len); /* aligned */
	if (p->pool_vm)
		k = mem_pool_offer(p->pool_vm, (uint32_t)m->a1, (uint32_t)m->a0,
				   p->share_in, n, p->share_out);
	if (k == 0)
		for (k = 0; k < n; k++) {
			p->share_out[k].gfn = p->share_in[k].gfn;
			p->share_out[k].frame = GMEM_POOL_LIFT;
			p->share_out[k].batch = (uint32_t)m->a0;
			p->share_out[k].pad = 0;
		}
	struct vmproto_msg a = { .type = VMPROTO_SHARE_ANSWER,
				 .a0 = m->a0, /* the batch, echoed */
				 .a1 = m->a1,
				 .data = p->share_out,
				 .len = k * (uint32_t)sizeof(*p->share_out) };
	if (k && vmproto_send(p->sock, &a, NULL, 0, 0, NULL) && p->pool_vm)
		/* the worker is gone: the references with it */
		mem_pool_drop(p->pool_vm, (uint32_t)m->a1, p->share_out, k);
	return 0;
}

int vmproc_share_handle(struct vmproc *p, const struct vmproto_msg *m, int *fds,
			unsigned nfds, struct error *err)
{
	struct error e = { 0 };

	/* an adopted worker's vmproc never ran vmproc_share_start */
	if (!p->share_in)
		p->share_in = malloc(GMEM_SHARE_BATCH * sizeof(*p->share_in));
	if (!p->share_out)
		p->share_out = malloc(GMEM_SHARE_BATCH * sizeof(*p->share_out));
	if (!p->share_in || !p->share_out)
		return error_set(err, ENOMEM, "out of memory");
	switch (m->type) {
	case VMPROTO_RAM_FD:
		if (!p->pool_vm || nfds < 1 || m->a0 <= 0)
			return 0; /* its descriptor is closed by the reader */
		if (mem_pool_vm_ram(p->pool_vm, fds[0], (uint64_t)m->a0 << 20,
				    (uint32_t)m->a1, &e))
			log_warn(LOG, "worker %d: %s", (int)p->pid, e.msg);
		fds[0] = -1; /* taken */
		return 0;
	case VMPROTO_SHARE_OFFER: return offer(p, m, err);
	case VMPROTO_SHARE_DROP:
		if (m->len % sizeof(struct gmem_pool_pair))
			return error_set(err, EPROTO, "share-drop: %u bytes",
					 m->len);
		memcpy(p->share_out, m->data, m->len);
		if (p->pool_vm)
			mem_pool_drop(p->pool_vm, (uint32_t)m->a1, p->share_out,
				      m->len / (unsigned)sizeof(*p->share_out));
		return 0;
	default: return error_set(err, EPROTO, "not a sharing message");
	}
}
