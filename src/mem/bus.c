/*
 * The MMIO bus: a table of device regions sorted by base address, looked up
 * by binary search, and the 1/2/4/8-byte bus accessors that dispatch to RAM
 * or to a device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "mem/gmem_priv.h"

/* Ranges print as first..last byte: a region may end at 2^64. */
#define RANGE_FMT "0x%llx..0x%llx"
#define RANGE_ARG(base, size) \
	(unsigned long long)(base), (unsigned long long)((base) + (size)-1)

/* Index of the first region whose base is > gpa. */
static size_t bus_upper_bound(const struct gmem *gm, uint64_t gpa)
{
	size_t lo = 0, hi = gm->n_regions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (gm->regions[mid].base <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct mmio_region *gmem_find_mmio(const struct gmem *gm, uint64_t gpa)
{
	size_t i = bus_upper_bound(gm, gpa);
	const struct mmio_region *r;

	if (i == 0)
		return NULL;
	r = &gm->regions[i - 1];
	return gpa - r->base < r->size ? r : NULL;
}

/* Do [a, a+as) and [b, b+bs) intersect? Sizes are > 0 and the last bytes
 * do not wrap (checked at registration); a range may end exactly at 2^64. */
static bool ranges_overlap(uint64_t a, uint64_t as, uint64_t b, uint64_t bs)
{
	return a <= b + (bs - 1) && b <= a + (as - 1);
}

int gmem_map_mmio(struct gmem *gm, uint64_t base, uint64_t size,
		  const struct mmio_ops *ops, void *opaque, const char *name,
		  struct error *err)
{
	struct mmio_region *r;
	size_t i;

	if (!name)
		name = "(unnamed)";
	if (!ops || !ops->read || !ops->write)
		return error_set(err, EINVAL,
				 "MMIO region %s: needs read and write "
				 "callbacks",
				 name);
	if (size == 0 || ((base | size) & GUEST_PAGE_MASK))
		return error_set(err, EINVAL,
				 "MMIO region %s at 0x%llx size 0x%llx: base "
				 "and size must be multiples of 4 KiB and size "
				 "> 0",
				 name, (unsigned long long)base,
				 (unsigned long long)size);
	if (base + (size - 1) < base)
		return error_set(err, EINVAL,
				 "MMIO region %s at 0x%llx size 0x%llx: wraps "
				 "around the physical address space",
				 name, (unsigned long long)base,
				 (unsigned long long)size);
	if (ranges_overlap(base, size, gm->ram_base, gm->ram_size))
		return error_set(err, EEXIST,
				 "MMIO region %s " RANGE_FMT
				 " overlaps guest RAM " RANGE_FMT,
				 name, RANGE_ARG(base, size),
				 RANGE_ARG(gm->ram_base, gm->ram_size));

	/* Sorted and disjoint: only the neighbours can overlap. */
	i = bus_upper_bound(gm, base);
	if (i > 0) {
		r = &gm->regions[i - 1];
		if (ranges_overlap(base, size, r->base, r->size))
			goto overlap;
	}
	if (i < gm->n_regions) {
		r = &gm->regions[i];
		if (ranges_overlap(base, size, r->base, r->size))
			goto overlap;
	}

	if (gm->n_regions == gm->cap_regions) {
		size_t cap = gm->cap_regions ? gm->cap_regions * 2 : 16;
		struct mmio_region *n = realloc(gm->regions, cap * sizeof(*n));

		if (!n)
			return error_set(err, ENOMEM,
					 "MMIO region %s: out of host memory",
					 name);
		gm->regions = n;
		gm->cap_regions = cap;
	}
	memmove(&gm->regions[i + 1], &gm->regions[i],
		(gm->n_regions - i) * sizeof(*gm->regions));
	r = &gm->regions[i];
	r->base = base;
	r->size = size;
	r->ops = ops;
	r->opaque = opaque;
	snprintf(r->name, sizeof(r->name), "%s", name);
	gm->n_regions++;
	return 0;

overlap:
	return error_set(err, EEXIST,
			 "MMIO region %s " RANGE_FMT
			 " overlaps MMIO region %s " RANGE_FMT,
			 name, RANGE_ARG(base, size), r->name,
			 RANGE_ARG(r->base, r->size));
}

void gmem_bus_destroy(struct gmem *gm)
{
	free(gm->regions);
	gm->regions = NULL;
	gm->n_regions = gm->cap_regions = 0;
}

bool gmem_is_mmio(const struct gmem *gm, uint64_t gpa)
{
	return gmem_find_mmio(gm, gpa) != NULL;
}

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static bool bus_size_ok(uint64_t gpa, unsigned size)
{
	return (size == 1 || size == 2 || size == 4 || size == 8) &&
	       !(gpa & (size - 1));
}

/* Aligned RAM accesses are single-copy atomic, as RISC-V requires of
 * naturally aligned loads and stores (RVWMO, unpriv. spec ch. 17). */
static uint64_t ram_load(const uint8_t *p, unsigned size)
{
	switch (size) {
	case 1: return __atomic_load_n(p, __ATOMIC_RELAXED);
	case 2: return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
	case 4: return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
	default: return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
	}
}

static void ram_store(uint8_t *p, unsigned size, uint64_t val)
{
	switch (size) {
	case 1: __atomic_store_n(p, (uint8_t)val, __ATOMIC_RELAXED); break;
	case 2:
		__atomic_store_n((uint16_t *)p, (uint16_t)val,
				 __ATOMIC_RELAXED);
		break;
	case 4:
		__atomic_store_n((uint32_t *)p, (uint32_t)val,
				 __ATOMIC_RELAXED);
		break;
	default: __atomic_store_n((uint64_t *)p, val, __ATOMIC_RELAXED); break;
	}
}

int gmem_bus_read(struct gmem *gm, uint64_t gpa, unsigned size, uint64_t *val)
{
	const struct mmio_region *r;
	const uint8_t *page;

	if (unlikely(!bus_size_ok(gpa, size)))
		return -EINVAL;
	page = gmem_page(gm, gpa, GMEM_READ, NULL);
	if (page) {
		*val = ram_load(page + (gpa & GUEST_PAGE_MASK), size);
		return 0;
	}
	r = gmem_find_mmio(gm, gpa);
	if (!r)
		return -EFAULT;
	*val = r->ops->read(r->opaque, gpa - r->base, size) & size_mask(size);
	return 0;
}

int gmem_bus_write(struct gmem *gm, uint64_t gpa, unsigned size, uint64_t val)
{
	const struct mmio_region *r;
	uint8_t *page;

	if (unlikely(!bus_size_ok(gpa, size)))
		return -EINVAL;
	if (gmem_is_ram(gm, gpa, size)) {
		/* pinned as a bulk copy: a host write for the code log
		 * (code.c), and no commit takes the frame meanwhile */
		uint64_t gfn = (gpa - gm->ram_base) >> GUEST_PAGE_SHIFT;

		atomic_fetch_add(&gm->pins[gfn], 1);
		atomic_thread_fence(memory_order_seq_cst);
		gmem_code_write(gm, gfn, gfn);
		page = gmem_page(gm, gpa, GMEM_WRITE, NULL);
		ram_store(page + (gpa & GUEST_PAGE_MASK), size, val);
		gmem_dirty_log_wrote(gm, gpa, size);
		atomic_fetch_sub(&gm->pins[gfn], 1);
		return 0;
	}
	r = gmem_find_mmio(gm, gpa);
	if (!r)
		return -EFAULT;
	r->ops->write(r->opaque, gpa - r->base, val & size_mask(size), size);
	return 0;
}
