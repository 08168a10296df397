/*
 * The daemon's sealed copies of the kernels its VMs boot (docs/memory.md,
 * "Kernel images"). A worker's loader maps such a copy into guest RAM
 * instead of copying the file into fresh frames (gmem_map_file): a start
 * allocates nothing for the kernel, and its pages are one host copy for
 * every VM that boots it, until a guest writes one.
 *
 * A copy is made by the first start that names the file and kept while
 * the file stays the same (device, inode, size, modification and change
 * times); KERNEL_CACHE_MAX files and KERNEL_CACHE_BYTES at most, the
 * least recently used goes first (workers keep their mappings of it). The copy is a memfd sealed
 * against every change (F_SEAL_WRITE | SHRINK | GROW | SEAL): a worker
 * holding it can neither write it nor unseal it, and a later change of
 * the file on disk (even a truncation) never reaches a running guest.
 * Thread-safe.
 */
#ifndef SV_VMM_KERNEL_CACHE_H
#define SV_VMM_KERNEL_CACHE_H

#include "util/error.h"

/* At most this many copies, of at most KERNEL_CACHE_BYTES together (the
 * daemon's own memory, outside every VM's): a file over
 * KERNEL_CACHE_FILE_MAX is not copied (its workers copy it themselves). */
#define KERNEL_CACHE_MAX      4
#define KERNEL_CACHE_FILE_MAX (128ULL << 20)
#define KERNEL_CACHE_BYTES    (256ULL << 20)

/* A descriptor of the sealed copy of the regular file at path (the caller
 * closes it), or -errno with err naming the file and what was wrong. */
int kernel_cache_get(const char *path, struct error *err);
/* Copies made and copies handed out since the start (tests, logs). */
void kernel_cache_counts(unsigned long *made, unsigned long *hits);
/* Forget every copy (tests). */
void kernel_cache_clear(void);

#endif
