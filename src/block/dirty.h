/*
 * A dirty bitmap of a disk (block/dirty.c): one bit per granule of the
 * device's bytes, set by the block layer's write path while a block
 * mirror runs (blockdev_dirty_start, block.h; docs/vm-state.md "Disks
 * copied with the VM"). What QEMU calls a BdrvDirtyBitmap.
 *
 * Threading: block_dirty_mark may run on any number of threads at once
 * and beside one block_dirty_collect (atomic per 64-bit word: a bit set
 * during a collect is either in what it returns or left for the next
 * one, never lost). create/free: no other call at the same time.
 */
#ifndef SV_BLOCK_DIRTY_H
#define SV_BLOCK_DIRTY_H

#include <stddef.h>
#include <stdint.h>

struct block_dirty;

/* A bitmap of a device of size bytes with granules of gran bytes (a power
 * of two, 512 .. 16 MiB). NULL on a bad granule or out of memory. */
struct block_dirty *block_dirty_create(uint64_t size, uint32_t gran);
void block_dirty_free(struct block_dirty *b);

/* Mark every granule [off, off+len) touches (clamped to the size). */
void block_dirty_mark(struct block_dirty *b, uint64_t off, uint64_t len);

/* Move the set bits into out (words of 64 granules, OR-ed in) and clear
 * them; returns how many were set. n: the words of out (at least
 * block_dirty_words). */
uint64_t block_dirty_collect(struct block_dirty *b, uint64_t *out, size_t n);

/* Granules set now (informational: may change at once). */
uint64_t block_dirty_count(const struct block_dirty *b);

size_t block_dirty_words(const struct block_dirty *b);
uint32_t block_dirty_granule(const struct block_dirty *b);

#endif
