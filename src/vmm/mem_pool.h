/*
 * The host-wide pool of shared guest frames (issue 15; docs/memory.md,
 * "Sharing identical pages across VMs"), owned by the daemon. Identical
 * non-zero frames of all VMs map one frame of the pool, a memfd the daemon
 * alone writes; workers map it read-only (mem_pool_ro_fd). A worker's
 * scanner offers frames by hash (gmem.h, "cross-VM sharing"); the pool
 * reads the offered frame from the VM's RAM memfd and compares it byte for
 * byte with the pool frame (or with an earlier offer of the same hash,
 * then copies it into a new pool frame): a worker's word is never trusted
 * for equality, only used as a lookup key. An offer that matches nothing
 * stays a candidate (its worker keeps the frame offered until the guest
 * writes it); a later equal offer makes it a pool frame and the
 * candidate's VM gets a late answer.
 *
 * References are counted per (VM, gfn) here, not by the workers: a worker
 * can give back only what it holds (a drop names the gfn and the frame,
 * and must match), and all of a VM's references go with it
 * (mem_pool_vm_free) or with its RAM (a reboot: mem_pool_vm_ram). A frame
 * whose last reference went is punched out of the pool and reused.
 *
 * Threads: every function may be called from any thread (one mutex).
 */
#ifndef SV_VMM_MEM_POOL_H
#define SV_VMM_MEM_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/gmem.h"
#include "util/error.h"

struct mem_pool;
struct mem_pool_vm;

/* A pool of at most max_frames 4 KiB frames (address space only until
 * used). NULL with err set. */
struct mem_pool *mem_pool_create(uint64_t max_frames, struct error *err);
void mem_pool_destroy(struct mem_pool *pool);
/* A new read-only descriptor of the pool for a worker (the kernel refuses
 * a writable shared mapping or a hole punch through it); the caller
 * closes it. -errno on failure. */
int mem_pool_ro_fd(struct mem_pool *pool);
uint64_t mem_pool_max_frames(const struct mem_pool *pool);

/* One VM's view: its RAM and its references. */
struct mem_pool_vm *mem_pool_vm_new(struct mem_pool *pool);
/* Late answers for the VM (a candidate of it matched another VM's
 * offer): late(opaque, gen, answers, n) is called with the pool's lock
 * held, on the thread of the offer that matched, so it must neither block
 * nor call back into the pool; it returns false if it could not send
 * (the reference is dropped then). opaque must stay valid until
 * mem_pool_vm_free/leave. Without it, no late answers: a candidate that
 * matches gets no pool frame. */
void mem_pool_vm_link(struct mem_pool_vm *vm,
		      bool (*late)(void *opaque, uint32_t gen,
				   const struct gmem_pool_pair *a, unsigned n),
		      void *opaque);
/* Drop every reference of the VM and forget it. NULL is fine. */
void mem_pool_vm_free(struct mem_pool_vm *vm);
/* Forget the VM but keep its references: its worker runs on without us
 * (the daemon leaves, vmproc_detach) and still reads those frames through
 * its mapping, so they are never punched or reused. NULL is fine. */
void mem_pool_vm_leave(struct mem_pool_vm *vm);
/* The VM's RAM is the memfd fd (taken: closed here on error too) of
 * ram_bytes (must be its size, a multiple of 4 KiB, at most 1 TiB),
 * generation gen: the references of its previous RAM are dropped.
 * -EINVAL with err for a descriptor that is not a memfd of that size. */
int mem_pool_vm_ram(struct mem_pool_vm *vm, int fd, uint64_t ram_bytes,
		    uint32_t gen, struct error *err);

/* Offers of the VM's RAM gen in batch (untrusted): fills one answer per
 * offer of the current RAM with a valid gfn, in order (frame
 * GMEM_POOL_NONE: no match, kept as a candidate; GMEM_POOL_LIFT: not
 * kept), and returns their number. A matched offer takes a reference
 * (and so does a candidate it matched, whose VM gets a late answer). */
unsigned mem_pool_offer(struct mem_pool_vm *vm, uint32_t gen, uint32_t batch,
			const struct gmem_pool_offer *o, unsigned n,
			struct gmem_pool_pair *answers);
/* The VM gives references back (untrusted): each (gfn, frame, batch)
 * that the VM holds is dropped, anything else ignored. */
void mem_pool_drop(struct mem_pool_vm *vm, uint32_t gen,
		   const struct gmem_pool_pair *d, unsigned n);

struct mem_pool_stats {
	uint64_t frames;      /* pool frames in use */
	uint64_t refs;	      /* references to them (guest frames) */
	uint64_t saved_bytes; /* (refs - frames) * 4 KiB */
	uint64_t compared;    /* byte comparisons, total */
	uint64_t mismatches;  /* offers whose hash matched, bytes did not */
	uint64_t candidates;  /* unmatched offers kept now */
};
void mem_pool_stats(struct mem_pool *pool, struct mem_pool_stats *st);
/* Guest frames of vm mapped to the pool now. */
uint64_t mem_pool_vm_refs(struct mem_pool_vm *vm);

#endif
