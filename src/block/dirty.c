/*
 * Dirty bitmap of a disk (see dirty.h). Writers set bits with an atomic
 * OR; the collector swaps each word with zero, so a bit is reported by
 * exactly one collect. The block layer marks after the write completed
 * (blockdev.c): a mirror that read the granule while the write was in
 * flight sees the bit at its next collect and sends the granule again.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "block/dirty.h"

struct block_dirty {
	uint64_t size;
	unsigned shift; /* log2 of the granule */
	size_t words;
	_Atomic uint64_t bits[];
};

struct block_dirty *block_dirty_create(uint64_t size, uint32_t gran)
{
	if (gran < 512 || gran > (16u << 20) || (gran & (gran - 1)))
		return NULL;
	unsigned shift = (unsigned)__builtin_ctz(gran);
	uint64_t granules = (size >> shift) + ((size & (gran - 1)) != 0);
	size_t words = (size_t)((granules + 63) / 64);
	struct block_dirty *b = calloc(
		1, sizeof(*b) + (words ? words : 1) * sizeof(uint64_t));
	if (!b)
		return NULL;
	b->size = size;
	b->shift = shift;
	b->words = words;
	return b;
}

void block_dirty_free(struct block_dirty *b)
{
	free(b);
}

void block_dirty_mark(struct block_dirty *b, uint64_t off, uint64_t len)
{
	if (!len || off >= b->size)
		return;
	if (len > b->size - off)
		len = b->size - off;
	uint64_t first = off >> b->shift, last = (off + len - 1) >> b->shift;

	for (uint64_t g = first; g <= last;) {
		uint64_t w = g / 64, bit = g % 64;
		uint64_t n = last - g + 1 < 64 - bit ? last - g + 1 : 64 - bit;
		uint64_t mask = n == 64 ? ~0ull : ((1ull << n) - 1) << bit;
		atomic_fetch_or_explicit(&b->bits[w], mask,
					 memory_order_release);
		g += n;
	}
}

uint64_t block_dirty_collect(struct block_dirty *b, uint64_t *out, size_t n)
{
	uint64_t count = 0;

	for (size_t i = 0; i < b->words && i < n; i++) {
		if (!atomic_load_explicit(&b->bits[i], memory_order_relaxed))
			continue;
		uint64_t v = atomic_exchange_explicit(&b->bits[i], 0,
						      memory_order_acq_rel);
		out[i] |= v;
		count += (uint64_t)__builtin_popcountll(v);
	}
	return count;
}

uint64_t block_dirty_count(const struct block_dirty *b)
{
	uint64_t count = 0;

	for (size_t i = 0; i < b->words; i++)
		count += (uint64_t)__builtin_popcountll(atomic_load_explicit(
			&((struct block_dirty *)b)->bits[i],
			memory_order_relaxed));
	return count;
}

size_t block_dirty_words(const struct block_dirty *b)
{
	return b->words;
}

uint32_t block_dirty_granule(const struct block_dirty *b)
{
	return 1u << b->shift;
}
