/*
 * Inside the qcow2 format driver (qcow2.c: guest I/O; qcow2_meta.c: header,
 * tables, refcounts, cluster allocation; qcow2_check.c: consistency check).
 * Not for use outside src/block. Format: QEMU's docs/interop/qcow2.txt
 * ("qcow2 image file format"); section names below refer to it.
 *
 * Locking (docs/block.md, "qcow2"): one reader-writer lock per image, io.
 *  - Reads and writes that touch only allocated clusters hold it shared:
 *    metadata cannot change under them, so they look up L2 entries and run
 *    their data I/O in parallel without any other lock.
 *  - Anything that changes metadata (allocating writes, discard,
 *    write-zeroes, resize) holds it exclusive. This also guarantees that a
 *    cluster is never freed (and reused) while an I/O that looked it up is
 *    still running.
 *
 * Crash consistency (the order every metadata change follows):
 *   allocate: refcount += 1, fdatasync, data, L2 entry (then acknowledge)
 *   new L2 table: refcount, fdatasync, zeroed table, fdatasync, L1 entry
 *   free: L2/L1 entry cleared, fdatasync, refcount -= 1
 * A crash at any point leaves at worst a leak (refcount > references), never
 * a reference to a cluster whose refcount is 0. A guest FLUSH is fdatasync.
 *
 * Errors: a structure that points outside the file, is misaligned or
 * malformed is refused with a message naming the image, the structure and
 * the offset (logged once per image for I/O-time errors, -EIO returned).
 */
#ifndef SV_BLOCK_QCOW2_INT_H
#define SV_BLOCK_QCOW2_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block_int.h"
#include "block/luks.h"

#define QCOW2_MAGIC	    0x514649fbu /* "QFI\xfb" */
#define QCOW2_HDR_V2_LEN    72
#define QCOW2_HDR_V3_LEN    104
#define QCOW2_MIN_CLUSTER   9
#define QCOW2_MAX_CLUSTER   21
#define QCOW2_MAX_BACKING   8	  /* backing chain depth limit */
#define QCOW2_BACKING_MAX   1023  /* spec: backing file name length */
#define QCOW2_DEF_CLUSTER   16	  /* 64 KiB, as qemu-img */
#define QCOW2_MAX_SNAPSHOTS 65536 /* as QEMU */
#define QCOW2_MAX_EOF_LEAKS 4096  /* used clusters past EOF we skip */
/* Data clusters are counted ahead in runs of up to this many clusters
 * (and bytes), one sync per run (qcow2_alloc_data). */
#define QCOW2_POOL_CLUSTERS 64
#define QCOW2_POOL_BYTES    (4u << 20)

/* L1/L2 entry bits (spec "Cluster mapping"). */
#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       1ull
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ull /* bits 9-55 */
#define QCOW2_L1_RESERVED      0x7f000000000001ffull
#define QCOW2_L2_RESERVED      0x3f000000000001feull
#define QCOW2_RT_RESERVED      0x1ffull

/* Incompatible feature bits (spec "Header"). */
#define QCOW2_INCOMPAT_DIRTY	   (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT	   (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE   (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2	   (1ull << 4)

/* Header extension types. */
#define QCOW2_EXT_END		0x00000000u
#define QCOW2_EXT_BACKING_FMT	0xe2792acau
#define QCOW2_EXT_FEATURE_NAME	0x6803f857u
#define QCOW2_EXT_BITMAPS	0x23852875u
#define QCOW2_EXT_CRYPTO	0x0537be77u /* full disk encryption header */
#define QCOW2_CRYPT_AES		1u	    /* legacy, refused */
#define QCOW2_CRYPT_LUKS	2u
#define QCOW2_CRYPT_HDR_MAX	(64ull << 20) /* bytes of a LUKS area */
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)

struct qcow2 {
	struct blockdev bd; /* first: qcow2_of() */
	int fd;
	char *name; /* image path, for messages */
	bool readonly;

	/* Header (host byte order). */
	uint32_t version;
	uint32_t cluster_bits;
	uint64_t cluster_size;
	uint64_t size; /* guest-visible bytes */
	uint64_t l1_offset;
	uint32_t l1_size;
	uint64_t rt_offset; /* refcount table */
	uint32_t rt_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompat, compat, autoclear;
	uint32_t refcount_order;
	uint32_t header_length;
	char backing_name[QCOW2_BACKING_MAX + 1];
	char backing_fmt[32];
	/* bitmaps extension (persistent dirty bitmaps; only counted by the
	 * check, and cleared with the autoclear bits on a writable open) */
	uint32_t nb_bitmaps;
	uint64_t bitmap_dir_size, bitmap_dir_offset;
	/* encryption (spec "Full disk encryption header pointer") */
	uint32_t crypt_method;	       /* 0 or QCOW2_CRYPT_LUKS */
	uint64_t crypt_off, crypt_len; /* the LUKS area in the file */
	struct luks *luks;	       /* unlocked; NULL: no key given */

	/* Derived. */
	uint64_t l2_entries; /* entries per L2 table */
	uint64_t rb_entries; /* refcounts per refcount block */
	uint64_t rt_entries;

	/* Metadata kept in memory (changed only under io held exclusive). */
	uint64_t *l1;	    /* l1_size entries, host order */
	uint64_t *rt;	    /* rt_entries entries, host order */
	uint64_t file_size; /* bytes; grows with allocations */
	uint64_t free_hint; /* no free cluster below this index */
	/* Clusters counted (refcount 1, synced) for guest data and not yet
	 * referenced by any L2 entry: [pool_next, pool_end). */
	uint64_t pool_next, pool_end;
	bool pool_stale; /* clusters were freed since the pool was filled */

	struct blockdev *backing; /* read-only, or NULL */
	pthread_rwlock_t io;
	atomic_bool logged; /* first I/O-time error logged */
	bool punch_ok;
};

static inline struct qcow2 *qcow2_of(const struct blockdev *bd)
{
	return (struct qcow2 *)bd;
}

static inline uint64_t qcow2_be64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static inline uint32_t qcow2_be32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static inline void qcow2_put64(void *p, uint64_t v)
{
	uint8_t *b = p;

	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline void qcow2_put32(void *p, uint32_t v)
{
	uint8_t *b = p;

	b[0] = v >> 24;
	b[1] = v >> 16;
	b[2] = v >> 8;
	b[3] = v;
}

/* ---- qcow2_meta.c ---------------------------------------------------- */

/* Parse and validate the header, extensions, L1 and refcount tables of the
 * image open at q->fd (q->name, q->readonly set). 0 or -errno with err. */
int qcow2_load(struct qcow2 *q, struct error *err);
/* Open the qcow2 overlay at path writable with backing (an open device:
 * the overlay's backing file, whose name the caller checked) as its
 * backing device instead of opening the file it names; on success the
 * overlay owns backing (closes it), on failure backing is untouched. */
struct blockdev *qcow2_open_over(const char *path, struct blockdev *backing,
				 struct error *err);
/* Write a new qcow2 image of size bytes into the file open at fd (path
 * for messages), backing file name backing (format backing_fmt). */
int qcow2_format_overlay(int fd, const char *path, uint64_t size,
			 const char *backing, const char *backing_fmt,
			 struct error *err);

/* Report a corrupt structure: logs once per image, returns -EIO. */
int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...) SV_PRINTF(2, 3);

/* pread/pwrite exactly len bytes (short read past EOF: zero-filled). */
int qcow2_pread(struct qcow2 *q, void *buf, size_t len, uint64_t off);
int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off);
int qcow2_sync(struct qcow2 *q);

/* L2 table offset for guest cluster index gc (0 = none), checked. */
int qcow2_l2_offset(struct qcow2 *q, uint64_t gc, uint64_t *l2off);

/* Read n L2 entries of guest clusters gc.. (all in one L2 table). */
int qcow2_l2_read(struct qcow2 *q, uint64_t gc, uint64_t *e, unsigned n);

/* Check a standard (non-compressed) entry's host offset: aligned, inside
 * the file. what names the structure for the message. */
int qcow2_check_data(struct qcow2 *q, uint64_t gc, uint64_t host);

/* Refcount of host cluster hc (0 for clusters no block covers). */
int qcow2_refcount_get(struct qcow2 *q, uint64_t hc, uint64_t *rc);

/* Add delta (+1/-1) to the refcounts of n host clusters from hc. Creates
 * refcount blocks as needed (each synced before the table points to it).
 * Caller holds io exclusive. */
int qcow2_refcount_add(struct qcow2 *q, uint64_t hc, uint64_t n, int delta);

/* Find n contiguous free clusters, set their refcounts to 1 and sync.
 * Returns the first cluster's byte offset in *off. io exclusive. */
int qcow2_alloc(struct qcow2 *q, uint64_t n, uint64_t *off);

/* The same for n clusters of guest data, taken from the pool of clusters
 * counted ahead: a sync only when the pool is refilled. io exclusive. */
int qcow2_alloc_data(struct qcow2 *q, uint64_t n, uint64_t *off);

/* Give the pool's clusters back (refcounts to 0, no sync: nothing refers
 * to them). At close, and before a refill. io exclusive. */
int qcow2_pool_release(struct qcow2 *q);

/* Make sure the L2 table for gc exists (allocating a zeroed one); its
 * offset in *l2off. io exclusive. */
int qcow2_l2_ensure(struct qcow2 *q, uint64_t gc, uint64_t *l2off);

/* Free the host clusters an L2 entry references (compressed: every
 * cluster its bytes touch). Caller has made the new entry durable. */
int qcow2_free_entry(struct qcow2 *q, uint64_t e);

/* Grow the guest size (L1 grows as needed). io exclusive. */
int qcow2_grow(struct qcow2 *q, uint64_t size, struct error *err);

/* Read the LUKS area and unlock it with the secret (luks.h) into q->luks.
 * 0 or -errno with err (-EACCES: wrong passphrase). */
int qcow2_crypt_unlock(struct qcow2 *q, const char *key_secret,
		       struct error *err);

/* A new LUKS area (luks_area_len() bytes, *area to free) keyed with the
 * secret named by key_secret ("file:PATH"/"env:NAME"), PBKDF2 timed to
 * iter_ms. For image creation. */
int qcow2_crypt_new_area(const char *key_secret, unsigned iter_ms,
			 uint8_t **area, uint64_t *len, struct error *err);

/* Decode a compressed entry: host byte offset and byte count. */
void qcow2_compressed(const struct qcow2 *q, uint64_t e, uint64_t *off,
		      uint64_t *len);

#endif
