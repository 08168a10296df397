/*
 * The host-wide pool of shared guest frames: see mem_pool.h and
 * docs/memory.md, "Sharing identical pages across VMs".
 *
 * Tables, all lazily committed (mmap MAP_NORESERVE) and indexed by pool
 * frame: its reference count, its content hash (computed here from the
 * bytes, never taken from a worker) and the next frame of its hash chain
 * (or of the free list). Buckets hold frame + 1 (0: empty).
 *
 * Offers that found nothing are candidates (hash -> VM, gfn, batch), in
 * a table that grows with them: the worker keeps such a frame offered
 * (read-only) until the guest writes it, so it is offered and read here
 * once, not once a scanner pass. The next offer of the same hash from any
 * frame is compared with the candidate and, if equal, the pool gets a new
 * frame; the candidate's VM gets a late answer for it (its worker checks
 * that the frame is still offered in that batch and still equal, or gives
 * the reference back). Each VM remembers the hash its gfns are candidates
 * under, so a frame offered again (written since) replaces its old
 * candidate instead of leaving a stale one.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/mem_pool.h"

#define PG		   4096u
#define MAX_RAM		   (1ULL << 40)
#define MAX_CHAIN_COMPARES 4
#define CAND_MIN	   1024u /* table slots, a power of two */

struct cand {
	uint64_t hash;
	struct mem_pool_vm *vm; /* NULL: empty */
	uint32_t gfn, batch;
};

struct mem_pool {
	pthread_mutex_t lock;
	int fd;		    /* read-write: ours */
	uint8_t *base;	    /* mapped read-write */
	uint64_t max;	    /* frames */
	uint64_t top;	    /* frames ever handed out */
	uint32_t free_head; /* frame + 1, 0: none */
	uint32_t *refs;
	uint32_t *next; /* hash chain or free list: frame + 1 */
	uint64_t *hash;
	uint32_t *bucket;
	uint64_t n_buckets; /* power of two */
	struct cand *cand;  /* open addressing, linear probing */
	uint64_t n_cand, cand_slots;
	uint64_t frames, total_refs, compared, mismatches;
	struct mem_pool_vm *late_vms; /* with late answers to send */
	uint8_t buf[2][PG];
};

struct mem_pool_vm {
	struct mem_pool *pool;
	int ram_fd; /* -1: no RAM yet */
	uint32_t gen;
	uint64_t ram_frames;
	uint32_t *ref;	     /* per gfn: pool frame + 1, 0: none */
	uint32_t *ref_batch; /* per gfn: the batch the reference answered */
	uint64_t *cand_of;   /* per gfn: its candidate's hash, 0: none */
	size_t ref_bytes;
	uint64_t n_refs;
	/* late answers: called with the pool's lock held; the ones of the
	 * offers being answered wait in late_buf (one message a VM) */
	bool (*late)(void *opaque, uint32_t gen, const struct gmem_pool_pair *a,
		     unsigned n);
	void *late_opaque;
	struct gmem_pool_pair *late_buf;
	unsigned n_late;
	struct mem_pool_vm *late_next; /* on pool->late_vms */
	bool late_queued;
};

static void *map_table(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

struct mem_pool *mem_pool_create(uint64_t max_frames, struct error *err)
{
	struct mem_pool *pool = calloc(1, sizeof(*pool));
	int e;

	if (max_frames == 0 || max_frames >= UINT32_MAX)
		max_frames = UINT32_MAX - 1;
	if (!pool) {
		error_set(err, ENOMEM, "page sharing pool: out of memory");
		return NULL;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pool->max = max_frames;
	pool->n_buckets = 1024;
	while (pool->n_buckets < max_frames && pool->n_buckets < (1u << 30))
		pool->n_buckets <<= 1;
	pool->fd = memfd_create("softvisor-share-pool", MFD_CLOEXEC);
	if (pool->fd < 0 || ftruncate(pool->fd, (off_t)(max_frames * PG)))
		goto fail;
	/* Only the daemon may write it, even through a path in /proc:
	 * workers get a read-only descriptor, and the inode says so too. */
	(void)fchmod(pool->fd, 0400);
	pool->base = mmap(NULL, max_frames * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_NORESERVE, pool->fd, 0);
	if (pool->base == MAP_FAILED) {
		pool->base = NULL;
		goto fail;
	}
	pool->refs = map_table(max_frames * sizeof(*pool->refs));
	pool->next = map_table(max_frames * sizeof(*pool->next));
	pool->hash = map_table(max_frames * sizeof(*pool->hash));
	pool->bucket = map_table(pool->n_buckets * sizeof(*pool->bucket));
	pool->cand_slots = CAND_MIN;
	pool->cand = calloc(CAND_MIN, sizeof(*pool->cand));
	if (!pool->refs || !pool->next || !pool->hash || !pool->bucket ||
	    !pool->cand)
		goto fail;
	return pool;

fail:
	e = errno ? errno : ENOMEM;
	error_set(err, e, "page sharing pool of %llu MiB: %s",
		  (unsigned long long)(max_frames * PG >> 20), strerror(e));
	mem_pool_destroy(pool);
	return NULL;
}

void mem_pool_destroy(struct mem_pool *pool)
{
	if (!pool)
		return;
	if (pool->base)
		munmap(pool->base, pool->max * PG);
	if (pool->refs)
		munmap(pool->refs, pool->max * sizeof(*pool->refs));
	if (pool->next)
		munmap(pool->next, pool->max * sizeof(*pool->next));
	if (pool->hash)
		munmap(pool->hash, pool->max * sizeof(*pool->hash));
	if (pool->bucket)
		munmap(pool->bucket, pool->n_buckets * sizeof(*pool->bucket));
	free(pool->cand);
	if (pool->fd >= 0)
		close(pool->fd);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

int mem_pool_ro_fd(struct mem_pool *pool)
{
	char path[64];
	int fd;

	/* A new open file description, read-only: what the worker holds
	 * cannot be turned into write access (mmap, mprotect, fallocate,
	 * ftruncate all check it). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pool->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

uint64_t mem_pool_max_frames(const struct mem_pool *pool)
{
	return pool->max;
}

struct mem_pool_vm *mem_pool_vm_new(struct mem_pool *pool)
{
	struct mem_pool_vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vm->pool = pool;
	vm->ram_fd = -1;
	return vm;
}

/* Unlink frame f from its hash chain, punch it and put it on the free
 * list (lock held, refs[f] == 0). */
static void frame_free(struct mem_pool *pool, uint32_t f)
{
	uint32_t *link = &pool->bucket[pool->hash[f] & (pool->n_buckets - 1)];

	while (*link && *link != f + 1)
		link = &pool->next[*link - 1];
	if (*link)
		*link = pool->next[f];
	/* the workers that mapped it gave it up: its memory goes back */
	(void)fallocate(pool->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)f * PG, PG);
	pool->next[f] = pool->free_head;
	pool->free_head = f + 1;
	pool->frames--;
}

/* Drop the VM's reference of gfn, if any (lock held). */
static void ref_drop(struct mem_pool_vm *vm, uint32_t gfn)
{
	struct mem_pool *pool = vm->pool;
	uint32_t f;

	if (!vm->ref || gfn >= vm->ram_frames || !vm->ref[gfn])
		return;
	f = vm->ref[gfn] - 1;
	vm->ref[gfn] = 0;
	vm->n_refs--;
	pool->total_refs--;
	if (--pool->refs[f] == 0)
		frame_free(pool, f);
}

static void ref_take(struct mem_pool_vm *vm, uint32_t gfn, uint32_t f,
		     uint32_t batch)
{
	vm->ref[gfn] = f + 1;
	vm->ref_batch[gfn] = batch;
	vm->n_refs++;
	vm->pool->total_refs++;
	vm->pool->refs[f]++;
}

/* ---- candidates (lock held) ------------------------------------------ */

static uint64_t cand_home(const struct mem_pool *pool, uint64_t h)
{
	/* the bucket index uses the low bits: take others */
	return (h >> 32 ^ h >> 7) & (pool->cand_slots - 1);
}

/* The slot of hash h, or of the empty slot where it would go. */
static struct cand *cand_find(struct mem_pool *pool, uint64_t h)
{
	uint64_t i = cand_home(pool, h);

	while (pool->cand[i].vm && pool->cand[i].hash != h)
		i = (i + 1) & (pool->cand_slots - 1);
	return &pool->cand[i];
}

/* Empty slot c, shifting back the entries of its cluster that would no
 * longer be found (no tombstones). */
static void cand_remove(struct mem_pool *pool, struct cand *c)
{
	uint64_t mask = pool->cand_slots - 1;
	uint64_t i = (uint64_t)(c - pool->cand), j = i;

	c->vm->cand_of[c->gfn] = 0;
	pool->n_cand--;
	for (;;) {
		pool->cand[i].vm = NULL;
		for (;;) {
			uint64_t home;

			j = (j + 1) & mask;
			if (!pool->cand[j].vm)
				return;
			home = cand_home(pool, pool->cand[j].hash);
			/* j may move to i if its home is not in (i, j] */
			if (i <= j ? (home <= i || home > j)
				   : (home <= i && home > j))
				break;
		}
		pool->cand[i] = pool->cand[j];
		i = j;
	}
}

/* The VM's candidate for gfn, if any, goes. */
static void cand_forget(struct mem_pool_vm *vm, uint32_t gfn)
{
	struct cand *c;

	if (!vm->cand_of || !vm->cand_of[gfn])
		return;
	c = cand_find(vm->pool, vm->cand_of[gfn]);
	if (c->vm == vm && c->gfn == gfn)
		cand_remove(vm->pool, c);
	else
		vm->cand_of[gfn] = 0;
}

/* Twice the slots, entries moved (at half full). false: out of memory. */
static bool cand_grow(struct mem_pool *pool)
{
	struct cand *old = pool->cand;
	uint64_t n = pool->cand_slots;
	struct cand *nc = calloc(2 * n, sizeof(*nc));

	if (!nc)
		return false;
	pool->cand = nc;
	pool->cand_slots = 2 * n;
	for (uint64_t i = 0; i < n; i++)
		if (old[i].vm)
			*cand_find(pool, old[i].hash) = old[i];
	free(old);
	return true;
}

/* Gfn of vm, offered in batch, is the candidate for h (none held: the
 * caller removed any other of h). false: not kept (out of memory). */
static bool cand_add(struct mem_pool_vm *vm, uint32_t gfn, uint64_t h,
		     uint32_t batch)
{
	struct mem_pool *pool = vm->pool;
	struct cand *c;

	if (h == 0 || !vm->cand_of) /* 0 marks "none" in cand_of */
		return false;
	if (2 * (pool->n_cand + 1) > pool->cand_slots && !cand_grow(pool))
		return false;
	c = cand_find(pool, h);
	c->hash = h;
	c->vm = vm;
	c->gfn = gfn;
	c->batch = batch;
	vm->cand_of[gfn] = h;
	pool->n_cand++;
	return true;
}

/* Forget the VM's RAM (lock held); its references are dropped first
 * unless keep_refs. */
static void vm_reset(struct mem_pool_vm *vm, bool keep_refs)
{
	for (uint64_t g = 0; !keep_refs && vm->n_refs && g < vm->ram_frames;
	     g++)
		ref_drop(vm, (uint32_t)g);
	for (uint64_t g = 0; vm->cand_of && g < vm->ram_frames; g++)
		cand_forget(vm, (uint32_t)g);
	if (vm->ref)
		munmap(vm->ref, vm->ref_bytes);
	if (vm->ref_batch)
		munmap(vm->ref_batch, vm->ref_bytes);
	if (vm->cand_of)
		munmap(vm->cand_of, 2 * vm->ref_bytes);
	vm->ref = NULL;
	vm->ref_batch = NULL;
	vm->cand_of = NULL;
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	vm->ram_fd = -1;
	vm->ram_frames = 0;
}

static void vm_forget(struct mem_pool_vm *vm, bool keep_refs)
{
	if (!vm)
		return;
	pthread_mutex_lock(&vm->pool->lock);
	vm_reset(vm, keep_refs);
	pthread_mutex_unlock(&vm->pool->lock);
	free(vm->late_buf);
	free(vm);
}

void mem_pool_vm_link(struct mem_pool_vm *vm,
		      bool (*late)(void *opaque, uint32_t gen,
				   const struct gmem_pool_pair *a, unsigned n),
		      void *opaque)
{
	pthread_mutex_lock(&vm->pool->lock);
	vm->late = late;
	vm->late_opaque = opaque;
	pthread_mutex_unlock(&vm->pool->lock);
}

void mem_pool_vm_free(struct mem_pool_vm *vm)
{
	vm_forget(vm, false);
}

void mem_pool_vm_leave(struct mem_pool_vm *vm)
{
	vm_forget(vm, true);
}

int mem_pool_vm_ram(struct mem_pool_vm *vm, int fd, uint64_t ram_bytes,
		    uint32_t gen, struct error *err)
{
	struct stat sb;
	int r = 0;

	/* a memfd (only shmem and hugetlbfs files have seals) of exactly
	 * the size the worker claims, so a pread can neither block nor
	 * reach past what we account for */
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) ||
	    fcntl(fd, F_GET_SEALS) < 0 || ram_bytes == 0 ||
	    ram_bytes > MAX_RAM || (ram_bytes % PG) ||
	    (uint64_t)sb.st_size != ram_bytes) {
		close(fd);
		return error_set(err, EINVAL,
				 "page sharing: the VM's RAM descriptor is not "
				 "a memfd of %llu bytes",
				 (unsigned long long)ram_bytes);
	}
	pthread_mutex_lock(&vm->pool->lock);
	vm_reset(vm, false);
	vm->ref_bytes = ram_bytes / PG * sizeof(*vm->ref);
	vm->ref = map_table(vm->ref_bytes);
	vm->ref_batch = map_table(vm->ref_bytes);
	vm->cand_of = map_table(2 * vm->ref_bytes);
	if (!vm->ref || !vm->ref_batch || !vm->cand_of) {
		close(fd);
		r = error_set(err, ENOMEM, "page sharing: out of memory");
	} else {
		vm->ram_fd = fd;
		vm->ram_frames = ram_bytes / PG;
		vm->gen = gen;
	}
	pthread_mutex_unlock(&vm->pool->lock);
	return r;
}

/* Read frame gfn of a VM's RAM (lock held). */
static bool read_frame(struct mem_pool_vm *vm, uint32_t gfn, uint8_t *buf)
{
	return pread(vm->ram_fd, buf, PG, (off_t)gfn * PG) == PG;
}

/* A new pool frame holding buf, hashed h (lock held); UINT32_MAX if
 * the pool is full. */
static uint32_t frame_new(struct mem_pool *pool, const uint8_t *buf, uint64_t h)
{
	uint32_t f, *b;

	if (pool->free_head) {
		f = pool->free_head - 1;
		pool->free_head = pool->next[f];
	} else if (pool->top < pool->max) {
		f = (uint32_t)pool->top++;
	} else {
		return UINT32_MAX;
	}
	memcpy(pool->base + (uint64_t)f * PG, buf, PG);
	pool->hash[f] = h;
	pool->refs[f] = 0;
	b = &pool->bucket[h & (pool->n_buckets - 1)];
	pool->next[f] = *b;
	*b = f + 1;
	pool->frames++;
	return f;
}

/* Send the late answers waiting for vm, taking the references their
 * commits will hold (lock held). Not sent (its link is full or gone): no
 * references, and its frames stay offered unmatched until written. */
static void late_flush(struct mem_pool_vm *vm)
{
	bool sent = vm->late && vm->late(vm->late_opaque, vm->gen, vm->late_buf,
					 vm->n_late);

	for (unsigned i = 0; !sent && i < vm->n_late; i++)
		ref_drop(vm, vm->late_buf[i].gfn);
	vm->n_late = 0;
}

/* Every VM's late answers of this round of offers go (lock held). */
static void late_flush_all(struct mem_pool *pool)
{
	while (pool->late_vms) {
		struct mem_pool_vm *vm = pool->late_vms;

		pool->late_vms = vm->late_next;
		vm->late_next = NULL;
		vm->late_queued = false;
		late_flush(vm);
	}
}

/* cand's offer matched pool frame f: its VM gets a late answer, sent at
 * the end of this round of offers (lock held). The reference is taken
 * now, so that f stays while the answer waits. */
static void late_answer(struct cand *c, uint32_t f)
{
	struct mem_pool_vm *vm = c->vm;

	if (!vm->late)
		return;
	if (!vm->late_buf) {
		vm->late_buf = malloc(GMEM_SHARE_BATCH * sizeof(*vm->late_buf));
		if (!vm->late_buf)
			return;
	}
	if (vm->n_late == GMEM_SHARE_BATCH)
		late_flush(vm); /* stays on late_vms */
	if (!vm->late_queued) {
		vm->late_next = vm->pool->late_vms;
		vm->pool->late_vms = vm;
		vm->late_queued = true;
	}
	ref_take(vm, c->gfn, f, c->batch);
	vm->late_buf[vm->n_late++] = (struct gmem_pool_pair){ c->gfn, f,
							      c->batch, 0 };
}

/* One offer of batch (lock held): the pool frame gfn now maps,
 * GMEM_POOL_NONE (kept as a candidate) or GMEM_POOL_LIFT. */
static uint32_t offer_one(struct mem_pool_vm *vm, uint32_t gfn, uint64_t h,
			  uint32_t batch)
{
	struct mem_pool *pool = vm->pool;
	uint8_t *mine = pool->buf[0], *theirs = pool->buf[1];
	struct cand *c;
	unsigned tries = 0;
	uint32_t f;

	/* it offers gfn, so it no longer maps what we thought it did, and
	 * what it was a candidate for is gone */
	ref_drop(vm, gfn);
	cand_forget(vm, gfn);
	if (!read_frame(vm, gfn, mine))
		return GMEM_POOL_LIFT;
	for (uint32_t l = pool->bucket[h & (pool->n_buckets - 1)];
	     l && tries < MAX_CHAIN_COMPARES; l = pool->next[l - 1]) {
		f = l - 1;
		if (pool->hash[f] != h)
			continue;
		tries++;
		pool->compared++;
		if (!memcmp(mine, pool->base + (uint64_t)f * PG, PG)) {
			ref_take(vm, gfn, f, batch);
			return f;
		}
		pool->mismatches++;
	}
	c = cand_find(pool, h);
	if (c->vm) {
		bool same = false;

		/* the candidate's frame may have been written since: its
		 * bytes decide (and the hash is ours, not the worker's) */
		if (c->vm->ram_fd >= 0 && read_frame(c->vm, c->gfn, theirs)) {
			pool->compared++;
			same = !memcmp(mine, theirs, PG) &&
			       gmem_pool_hash(mine) == h;
			if (!same)
				pool->mismatches++;
		}
		if (same) {
			f = frame_new(pool, mine, h);
			if (f == UINT32_MAX)
				return GMEM_POOL_LIFT; /* full: try later */
			/* ours first: a late answer not sent drops its
			 * reference, which must not be the frame's last */
			ref_take(vm, gfn, f, batch);
			late_answer(c, f);
			cand_remove(pool, c);
			return f;
		}
		/* written since (or another page with this hash): ours is
		 * the candidate now */
		cand_remove(pool, c);
	}
	return cand_add(vm, gfn, h, batch) ? GMEM_POOL_NONE : GMEM_POOL_LIFT;
}

unsigned mem_pool_offer(struct mem_pool_vm *vm, uint32_t gen, uint32_t batch,
			const struct gmem_pool_offer *o, unsigned n,
			struct gmem_pool_pair *answers)
{
	unsigned k = 0;

	pthread_mutex_lock(&vm->pool->lock);
	if (vm->ram_fd < 0 || gen != vm->gen)
		n = 0; /* an older RAM's: the worker forgot them */
	for (unsigned i = 0; i < n; i++) {
		if (o[i].gfn >= vm->ram_frames)
			continue;
		answers[k].gfn = o[i].gfn;
		answers[k].frame = offer_one(vm, o[i].gfn, o[i].hash, batch);
		answers[k].batch = batch;
		answers[k].pad = 0;
		k++;
	}
	late_flush_all(vm->pool);
	pthread_mutex_unlock(&vm->pool->lock);
	return k;
}

void mem_pool_drop(struct mem_pool_vm *vm, uint32_t gen,
		   const struct gmem_pool_pair *d, unsigned n)
{
	pthread_mutex_lock(&vm->pool->lock);
	if (vm->ram_fd >= 0 && gen == vm->gen)
		for (unsigned i = 0; i < n; i++)
			/* the batch too: a refused late answer must not
			 * drop the reference a newer offer took */
			if (d[i].gfn < vm->ram_frames &&
			    vm->ref[d[i].gfn] == (uint64_t)d[i].frame + 1 &&
			    vm->ref_batch[d[i].gfn] == d[i].batch)
				ref_drop(vm, d[i].gfn);
	pthread_mutex_unlock(&vm->pool->lock);
}

void mem_pool_stats(struct mem_pool *pool, struct mem_pool_stats *st)
{
	pthread_mutex_lock(&pool->lock);
	st->frames = pool->frames;
	st->refs = pool->total_refs;
	st->saved_bytes = (pool->total_refs - pool->frames) * PG;
	st->compared = pool->compared;
	st->mismatches = pool->mismatches;
	st->candidates = pool->n_cand;
	pthread_mutex_unlock(&pool->lock);
}

uint64_t mem_pool_vm_refs(struct mem_pool_vm *vm)
{
	uint64_t n;

	pthread_mutex_lock(&vm->pool->lock);
	n = vm->n_refs;
	pthread_mutex_unlock(&vm->pool->lock);
	return n;
}
