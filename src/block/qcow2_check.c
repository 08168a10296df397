/*
 * image_check() (image.h): rebuild every cluster's reference count from
 * the header, the refcount structures, the L1/L2 tables of the active
 * image and of internal snapshots, and compare with the stored refcounts.
 * Stored < references is a corruption (the cluster may be handed out
 * twice), stored > references a leak (space lost, data safe), as qemu-img
 * check counts them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "block/image.h"
#include "block/qcow2_int.h"

#define CHECK_MAX_CLUSTERS (1ull << 28)

struct ck {
	struct qcow2 *q;
	FILE *out;
	struct image_check *res;
	uint32_t *refs;
	uint64_t n; /* clusters tracked */
	/* one bit per cluster: L2 table walked for the current L1 table.
	 * Reset per L1 table: an L2 table shared by the active L1 and a
	 * snapshot's holds one reference on its data clusters for each (as
	 * qemu-img check counts); within one L1 a table is walked once. */
	uint8_t *seen_l2;
};

static void report(struct ck *k, const char *fmt, ...) SV_PRINTF(2, 3);

static void report(struct ck *k, const char *fmt, ...)
{
	va_list ap;

	if (!k->out)
		return;
	va_start(ap, fmt);
	vfprintf(k->out, fmt, ap);
	va_end(ap);
	fputc('\n', k->out);
}

/* Count one reference to each cluster of [off, off+len). */
static void ref(struct ck *k, const char *what, uint64_t off, uint64_t len)
{
	uint64_t a = off >> k->q->cluster_bits;
	uint64_t b = (off + len - 1) >> k->q->cluster_bits;

	for (uint64_t c = a; c <= b; c++) {
		if (c >= k->n) {
			report(k,
			       "ERROR %s at offset 0x%" PRIx64
			       " is beyond the end of the image file",
			       what, off);
			k->res->corruptions++;
			return;
		}
		if (k->refs[c] != UINT32_MAX)
			k->refs[c]++;
	}
}

static int walk_l2(struct ck *k, uint64_t l2off, bool active)
{
	struct qcow2 *q = k->q;
	uint64_t *t = malloc(q->cluster_size), rc;
	int r;

	if (!t)
		return -ENOMEM;
	r = qcow2_pread(q, t, q->cluster_size, l2off);
	for (uint64_t i = 0; r == 0 && i < q->l2_entries; i++) {
		uint64_t e = qcow2_be64(&t[i]), host = e & QCOW2_OFFSET_MASK;

		if (e & QCOW2_OFLAG_COMPRESSED) {
			uint64_t off, len;

			qcow2_compressed(q, e, &off, &len);
			ref(k, "compressed cluster", off, len);
			if (active)
				k->res->allocated++;
			continue;
		}
		if (e & QCOW2_L2_RESERVED) {
			report(k,
			       "ERROR L2 table at 0x%" PRIx64 " entry %" PRIu64
			       ": reserved bits set (0x%" PRIx64 ")",
			       l2off, i, e);
			k->res->corruptions++;
			continue;
		}
		if (!host)
			continue;
		if (host % q->cluster_size) {
			report(k,
			       "ERROR L2 table at 0x%" PRIx64 " entry %" PRIu64
			       ": data cluster 0x%" PRIx64 " is misaligned",
			       l2off, i, host);
			k->res->corruptions++;
			continue;
		}
		ref(k, "data cluster", host, q->cluster_size);
		if (!active)
			continue;
		if (!(e & QCOW2_OFLAG_ZERO) || q->version < 3)
			k->res->allocated++;
		r = qcow2_refcount_get(q, host >> q->cluster_bits, &rc);
		if (r == 0 && (rc == 1) != !!(e & QCOW2_OFLAG_COPIED)) {
			report(k,
			       "ERROR OFLAG_COPIED data cluster: "
			       "l2_entry=%" PRIx64 " refcount=%" PRIu64,
			       e, rc);
			k->res->corruptions++;
		}
	}
	free(t);
	return r;
}

static int walk_l1(struct ck *k, const uint64_t *l1, uint64_t size, bool active)
{
	struct qcow2 *q = k->q;
	uint64_t rc;
	int r;

	for (uint64_t i = 0; i < size; i++) {
		uint64_t off = l1[i] & QCOW2_OFFSET_MASK, c;

		if (!off)
			continue;
		if (off % q->cluster_size || (l1[i] & QCOW2_L1_RESERVED)) {
			report(k,
			       "ERROR L1 entry %" PRIu64 ": L2 table 0x%" PRIx64
			       " is misaligned or has reserved bits set",
			       i, l1[i]);
			k->res->corruptions++;
			continue;
		}
		ref(k, "L2 table", off, q->cluster_size);
		c = off >> q->cluster_bits;
		if (active) {
			r = qcow2_refcount_get(q, c, &rc);
			if (r < 0)
				return r;
			if ((rc == 1) != !!(l1[i] & QCOW2_OFLAG_COPIED)) {
				report(k,
				       "ERROR OFLAG_COPIED L2 cluster: "
				       "l1_index=%" PRIu64 " l1_entry=%" PRIx64
				       " refcount=%" PRIu64,
				       i, l1[i], rc);
				k->res->corruptions++;
			}
		}
		if (c >= k->n || (k->seen_l2[c / 8] & (1u << (c % 8))))
			continue;
		k->seen_l2[c / 8] |= (uint8_t)(1u << (c % 8));
		r = walk_l2(k, off, active);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A table of n big-endian 64-bit entries at off (a snapshot's L1 table, a
 * bitmap table) whose bounds the caller checked: counted as one reference,
 * read and converted to host order into *out (free it). */
static int read_table(struct ck *k, const char *what, uint64_t off, uint32_t n,
		      uint64_t **out)
{
	uint64_t *t;
	int r;

	ref(k, what, off, (uint64_t)n * 8 + !n);
	t = calloc((size_t)n + 1, 8);
	if (!t)
		return -ENOMEM;
	r = qcow2_pread(k->q, t, (uint64_t)n * 8, off);
	if (r < 0) {
		free(t);
		return r;
	}
	for (uint32_t i = 0; i < n; i++)
		t[i] = qcow2_be64(&t[i]);
	*out = t;
	return 0;
}

/* The snapshot table (spec "Snapshots"): each snapshot's L1 table. */
static int walk_snapshots(struct ck *k)
{
	struct qcow2 *q = k->q;
	uint64_t pos = q->snapshots_offset;
	uint8_t h[40];
	int r;

	for (uint32_t s = 0; s < q->nb_snapshots; s++) {
		uint64_t l1off, *l1;
		uint32_t l1n, extra;
		uint16_t idl, nl;

		if (pos + sizeof(h) > q->file_size) {
			report(k,
			       "ERROR snapshot %u: header at 0x%" PRIx64
			       " beyond the end of the file",
			       s, pos);
			k->res->corruptions++;
			return 0;
		}
		r = qcow2_pread(q, h, sizeof(h), pos);
		if (r < 0)
			return r;
		l1off = qcow2_be64(h);
		l1n = qcow2_be32(h + 8);
		idl = (uint16_t)(h[12] << 8 | h[13]);
		nl = (uint16_t)(h[14] << 8 | h[15]);
		extra = qcow2_be32(h + 36);
		pos += (40 + (uint64_t)extra + idl + nl + 7) & ~7ull;
		if (l1n > (1u << 25) || l1off % q->cluster_size ||
		    l1off >= q->file_size ||
		    (uint64_t)l1n * 8 > q->file_size - l1off) {
			report(k,
			       "ERROR snapshot %u: L1 table 0x%" PRIx64
			       " invalid",
			       s, l1off);
			k->res->corruptions++;
			continue;
		}
		r = read_table(k, "snapshot L1 table", l1off, l1n, &l1);
		if (r < 0)
			return r;
		memset(k->seen_l2, 0, k->n / 8 + 1);
		r = walk_l1(k, l1, l1n, false);
		free(l1);
		if (r < 0)
			return r;
	}
	if (q->nb_snapshots)
		ref(k, "snapshot table", q->snapshots_offset,
		    pos - q->snapshots_offset);
	return 0;
}

/* Persistent dirty bitmaps (spec "Bitmaps extension"), counted only while
 * the autoclear bit says they are consistent: the directory, each bitmap
 * table and each data cluster it names. */
static int walk_bitmaps(struct ck *k)
{
	struct qcow2 *q = k->q;
	uint64_t pos = q->bitmap_dir_offset, end;
	uint8_t h[24];
	int r;

	if (!(q->autoclear & QCOW2_AUTOCLEAR_BITMAPS) || !q->nb_bitmaps)
		return 0;
	if (q->bitmap_dir_size > q->file_size ||
	    pos > q->file_size - q->bitmap_dir_size || !q->bitmap_dir_size) {
		report(k, "ERROR bitmap directory at 0x%" PRIx64 " invalid",
		       pos);
		k->res->corruptions++;
		return 0;
	}
	end = pos + q->bitmap_dir_size;
	ref(k, "bitmap directory", pos, q->bitmap_dir_size);
	for (uint32_t b = 0; b < q->nb_bitmaps && pos + 24 <= end; b++) {
		uint64_t toff, *t;
		uint32_t tsize, extra;
		uint16_t nl;

		r = qcow2_pread(q, h, sizeof(h), pos);
		if (r < 0)
			return r;
		toff = qcow2_be64(h);
		tsize = qcow2_be32(h + 8);
		nl = (uint16_t)(h[14] << 8 | h[15]);
		extra = qcow2_be32(h + 16);
		pos += (24 + (uint64_t)extra + nl + 7) & ~7ull;
		if (toff % q->cluster_size || toff >= q->file_size ||
		    (uint64_t)tsize * 8 > q->file_size - toff) {
			report(k,
			       "ERROR bitmap %u: table at 0x%" PRIx64
			       " invalid",
			       b, toff);
			k->res->corruptions++;
			continue;
		}
		r = read_table(k, "bitmap table", toff, tsize, &t);
		if (r < 0)
			return r;
		for (uint32_t i = 0; i < tsize; i++) {
			uint64_t off = t[i] & QCOW2_OFFSET_MASK;

			if (off)
				ref(k, "bitmap data", off, q->cluster_size);
		}
		free(t);
	}
	return 0;
}

/* Compare stored refcounts with the references, block by block. */
static int compare(struct ck *k)
{
	struct qcow2 *q = k->q;
	uint64_t stored;
	int r;

	/* Past the end of the file only a few leaked refcounts can be
	 * legitimate (qcow2_alloc); qemu-img does not look there at all. */
	uint64_t end = q->rt_entries * q->rb_entries;

	if (end > k->n + QCOW2_MAX_EOF_LEAKS)
		end = k->n + QCOW2_MAX_EOF_LEAKS;
	for (uint64_t c = 0; c < end; c++) {
		uint64_t want = c < k->n ? k->refs[c] : 0;

		if (c % q->rb_entries == 0 &&
		    !(q->rt[c / q->rb_entries] & ~QCOW2_RT_RESERVED)) {
			/* no block: every refcount of its range is 0 */
			for (uint64_t d = c; d < c + q->rb_entries && d < k->n;
			     d++)
				if (k->refs[d]) {
					report(k,
					       "ERROR cluster %" PRIu64
					       " refcount=0 reference=%u",
					       d, k->refs[d]);
					k->res->corruptions++;
				}
			c += q->rb_entries - 1;
			continue;
		}
		r = qcow2_refcount_get(q, c, &stored);
		if (r < 0)
			return r;
		if (stored < want) {
			report(k,
			       "ERROR cluster %" PRIu64 " refcount=%" PRIu64
			       " reference=%" PRIu64,
			       c, stored, want);
			k->res->corruptions++;
		} else if (stored > want) {
			report(k,
			       "Leaked cluster %" PRIu64 " refcount=%" PRIu64
			       " reference=%" PRIu64,
			       c, stored, want);
			k->res->leaks++;
		}
	}
	return 0;
}

int image_check(const char *path, FILE *out, struct image_check *res,
		struct error *err)
{
	struct ck k = { .out = out, .res = res };
	struct qcow2 *q;
	int r;

	memset(res, 0, sizeof(*res));
	q = (struct qcow2 *)qcow2_open(path, true, -1, NULL, err);
	if (!q)
		return -err->code;
	k.q = q;
	k.n = (q->file_size + q->cluster_size - 1) >> q->cluster_bits;
	res->total = (q->size + q->cluster_size - 1) >> q->cluster_bits;
	if (k.n > CHECK_MAX_CLUSTERS) {
		r = error_set(err, EFBIG,
			      "image %s: too many clusters to check (%llu)",
			      path, (unsigned long long)k.n);
		goto out;
	}
	k.refs = calloc(k.n + 1, sizeof(*k.refs));
	k.seen_l2 = calloc(k.n / 8 + 1, 1);
	if (!k.refs || !k.seen_l2) {
		r = error_set(err, ENOMEM, "image %s: out of memory", path);
		goto out;
	}
	ref(&k, "header", 0, q->cluster_size);
	ref(&k, "L1 table", q->l1_offset,
	    (uint64_t)q->l1_size * 8 + !q->l1_size);
	ref(&k, "refcount table", q->rt_offset,
	    (uint64_t)q->rt_clusters * q->cluster_size);
	if (q->crypt_method)
		ref(&k, "LUKS header", q->crypt_off, q->crypt_len);
	for (uint64_t i = 0; i < q->rt_entries; i++)
		if (q->rt[i] & ~QCOW2_RT_RESERVED)
			ref(&k, "refcount block", q->rt[i] & ~QCOW2_RT_RESERVED,
			    q->cluster_size);
	r = walk_l1(&k, q->l1, q->l1_size, true);
	if (r == 0)
		r = walk_snapshots(&k);
	if (r == 0)
		r = walk_bitmaps(&k);
	if (r == 0)
		r = compare(&k);
	if (r < 0)
		r = error_set(err, -r, "image %s: reading metadata: %s", path,
			      strerror(-r));
out:
	free(k.refs);
	free(k.seen_l2);
	q->bd.ops->close(&q->bd);
	return r;
}
