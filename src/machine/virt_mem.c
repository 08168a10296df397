/*
 * The machine's memory figures and balloon control for the memory policy
 * loop of the daemon (docs/memory.md "The policy loop"): see virt.h.
 */
#include <errno.h>
#include <string.h>

#include "machine/virt_impl.h"
#include "mem/gmem.h"
#include "util/clock.h"
#include "virtio/balloon.h"

#define PAGE_SHIFT 12

static void balloon_figures(struct virtio_balloon *b, struct virt_mem_stats *st)
{
	struct virtio_balloon_info info;
	struct virtio_balloon_guest_stats g;
	const uint32_t need = 1u << VIRTIO_BALLOON_S_MEMTOT |
			      1u << VIRTIO_BALLOON_S_AVAIL |
			      1u << VIRTIO_BALLOON_S_MEMFREE;

	virtio_balloon_get_info(b, &info);
	st->has_balloon = 1;
	st->balloon_target_pages = info.target_pages;
	st->balloon_actual_pages = info.actual_pages;
	virtio_balloon_get_stats(b, &g);
	if ((g.valid & need) == need && g.updated_ns) {
		uint64_t now = clock_monotonic_ns();

		st->guest_stats = 1;
		st->guest_total_bytes = g.val[VIRTIO_BALLOON_S_MEMTOT];
		st->guest_avail_bytes = g.val[VIRTIO_BALLOON_S_AVAIL];
		st->guest_free_bytes = g.val[VIRTIO_BALLOON_S_MEMFREE];
		st->guest_stats_age_ms =
			now > g.updated_ns ? (now - g.updated_ns) / 1000000 : 0;
	}
	/* fresh figures for the next call */
	virtio_balloon_request_stats(b);
}

void virt_mem_stats(const struct virt *vm, struct virt_mem_stats *st)
{
	struct virt *m = (struct virt *)vm;

	memset(st, 0, sizeof(*st));
	/* io_lock: a reboot replaces the devices (and the RAM) under it */
	pthread_mutex_lock(&m->io_lock);
	if (m->mem) {
		struct gmem_stats g;

		gmem_get_stats(m->mem, &g);
		st->ram_pages = g.frames_total;
		st->private_pages = g.frames_private;
		st->zero_shared_pages = g.frames_zero_shared;
		st->cow_breaks = g.cow_breaks;
		st->pool_shared_pages = g.frames_pool_shared;
		st->pool_cow_breaks = g.pool_cow_breaks;
		st->kernel_shared_pages = g.frames_file;
	}
	st->policy_limit_pages = atomic_load(&m->policy_limit) >> PAGE_SHIFT;
	if (m->io.balloon)
		balloon_figures(m->io.balloon, st);
	pthread_mutex_unlock(&m->io_lock);
}

int virt_balloon_set(struct virt *vm, uint64_t pages)
{
	int r = -ENODEV;

	pthread_mutex_lock(&vm->io_lock);
	if (vm->io.balloon) {
		struct virtio_balloon_info info;

		virtio_balloon_get_info(vm->io.balloon, &info);
		uint64_t ram = info.ram_bytes >> PAGE_SHIFT;
		r = -EINVAL;
		if (pages <= ram) {
			virtio_balloon_set_target(vm->io.balloon,
						  (ram - pages) << PAGE_SHIFT);
			r = 0;
		}
	}
	pthread_mutex_unlock(&vm->io_lock);
	return r;
}

uint64_t virt_mem_limit(const struct virt *vm)
{
	uint64_t cfg = vm->cfg->mem_limit;
	uint64_t pol = atomic_load(&((struct virt *)vm)->policy_limit);

	if (!cfg)
		return pol;
	return pol && pol < cfg ? pol : cfg;
}

void virt_pool_answer(struct virt *vm, uint32_t gen,
		      const struct gmem_pool_pair *a, unsigned n)
{
	/* io_lock: a reboot replaces the RAM under it (an answer for the
	 * old RAM's gen is then ignored by gmem_pool_answer) */
	pthread_mutex_lock(&vm->io_lock);
	for (unsigned i = 0; vm->mem && i < n; i++)
		(void)gmem_pool_answer(vm->mem, gen, a[i].batch, a[i].gfn,
				       a[i].frame);
	pthread_mutex_unlock(&vm->io_lock);
}

int virt_mem_target_set(struct virt *vm, uint64_t pages)
{
	int r = 0;

	/* io_lock: a reboot replaces the RAM under it; the build applies
	 * virt_mem_limit() to the new one */
	pthread_mutex_lock(&vm->io_lock);
	if (vm->mem && pages > gmem_ram_size(vm->mem) >> PAGE_SHIFT) {
		r = -EINVAL;
	} else {
		atomic_store(&vm->policy_limit, pages << PAGE_SHIFT);
		if (vm->mem)
			gmem_set_limit(vm->mem, virt_mem_limit(vm));
	}
	pthread_mutex_unlock(&vm->io_lock);
	/* the control thread sleeps a second between steps: wake it so
	 * that it reclaims at its fast pace at once */
	if (!r && pages) {
		pthread_mutex_lock(&vm->ev_lock);
		pthread_cond_broadcast(&vm->ev_cond);
		pthread_mutex_unlock(&vm->ev_lock);
	}
	return r;
}
