/*
 * qcow2 metadata: header and extensions, L1/L2 lookups, refcounts and
 * cluster allocation, growing the image. See qcow2_int.h for the locking
 * and the crash-consistent write order, docs/block.md for the design.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2_int.h"
#include "util/log.h"

int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!atomic_exchange(&q->logged, true))
		log_msg(LOG_LVL_ERROR, "qcow2", "image %s: %s", q->name, msg);
	return -EIO;
}

int qcow2_pread(struct qcow2 *q, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(q->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(q->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	if (off > q->file_size)
		q->file_size = off;
	return 0;
}

int qcow2_sync(struct qcow2 *q)
{
	return fdatasync(q->fd) < 0 ? -errno : 0;
}

/* ---- header (spec "Header", "Header extensions") ------------------------ */

static int load_extensions(struct qcow2 *q, const uint8_t *hdr, size_t len,
			   struct error *err)
{
	size_t pos = q->header_length;

	while (pos + 8 <= len) {
		uint32_t type = qcow2_be32(hdr + pos);
		uint32_t elen = qcow2_be32(hdr + pos + 4);

		pos += 8;
		if (type == QCOW2_EXT_END)
			return 0;
		if (elen > len - pos)
			return error_set(err, EINVAL,
					 "image %s: header extension 0x%08x at "
					 "offset %zu: length %u runs past the "
					 "header cluster",
					 q->name, type, pos - 8, elen);
		if (type == QCOW2_EXT_BACKING_FMT) {
			if (elen >= sizeof(q->backing_fmt))
				return error_set(err, EINVAL,
						 "image %s: backing format "
						 "extension at offset %zu: "
						 "%u bytes is too long",
						 q->name, pos - 8, elen);
			memcpy(q->backing_fmt, hdr + pos, elen);
			q->backing_fmt[elen] = '\0';
		}
		if (type == QCOW2_EXT_CRYPTO) {
			if (elen < 16)
				return error_set(err, EINVAL,
						 "image %s: encryption header "
						 "extension: %u bytes "
						 "(expected 16)",
						 q->name, elen);
			q->crypt_off = qcow2_be64(hdr + pos);
			q->crypt_len = qcow2_be64(hdr + pos + 8);
		}
		if (type == QCOW2_EXT_BITMAPS && elen >= 24) {
			q->nb_bitmaps = qcow2_be32(hdr + pos);
			q->bitmap_dir_size = qcow2_be64(hdr + pos + 8);
			q->bitmap_dir_offset = qcow2_be64(hdr + pos + 16);
		}
		pos += (elen + 7u) & ~7u;
	}
	return 0; /* no end marker before the cluster end: tolerated */
}

static int load_header(struct qcow2 *q, uint8_t *hdr, size_t hlen,
		       struct error *err)
{
	uint64_t backing_off, known;
	uint32_t backing_len, crypt;

	if (qcow2_be32(hdr) != QCOW2_MAGIC)
		return error_set(err, EINVAL, "image %s: not a qcow2 image",
				 q->name);
	q->version = qcow2_be32(hdr + 4);
	if (q->version != 2 && q->version != 3)
		return error_set(err, ENOTSUP,
				 "image %s: qcow2 version %u is not supported "
				 "(expected 2 or 3)",
				 q->name, q->version);
	backing_off = qcow2_be64(hdr + 8);
	backing_len = qcow2_be32(hdr + 16);
	q->cluster_bits = qcow2_be32(hdr + 20);
	q->size = qcow2_be64(hdr + 24);
	crypt = qcow2_be32(hdr + 32);
	q->l1_size = qcow2_be32(hdr + 36);
	q->l1_offset = qcow2_be64(hdr + 40);
	q->rt_offset = qcow2_be64(hdr + 48);
	q->rt_clusters = qcow2_be32(hdr + 56);
	q->nb_snapshots = qcow2_be32(hdr + 60);
	q->snapshots_offset = qcow2_be64(hdr + 64);
	q->refcount_order = 4;
	q->header_length = QCOW2_HDR_V2_LEN;
	if (q->version == 3) {
		q->incompat = qcow2_be64(hdr + 72);
		q->compat = qcow2_be64(hdr + 80);
		q->autoclear = qcow2_be64(hdr + 88);
		q->refcount_order = qcow2_be32(hdr + 96);
		q->header_length = qcow2_be32(hdr + 100);
	}
	if (q->cluster_bits < QCOW2_MIN_CLUSTER ||
	    q->cluster_bits > QCOW2_MAX_CLUSTER)
		return error_set(err, EINVAL,
				 "image %s: header: cluster_bits %u out of "
				 "range (expected %d to %d)",
				 q->name, q->cluster_bits, QCOW2_MIN_CLUSTER,
				 QCOW2_MAX_CLUSTER);
	q->cluster_size = 1ull << q->cluster_bits;
	if (crypt == QCOW2_CRYPT_AES)
		return error_set(err, ENOTSUP,
				 "image %s: encrypted with legacy AES "
				 "(crypt_method 1), which is insecure and not "
				 "supported; convert it with qemu-img to "
				 "encrypt.format=luks",
				 q->name);
	if (crypt && crypt != QCOW2_CRYPT_LUKS)
		return error_set(err, ENOTSUP,
				 "image %s: unknown crypt_method %u "
				 "(expected 0 or 2, LUKS)",
				 q->name, crypt);
	q->crypt_method = crypt;
	if (q->refcount_order > 6)
		return error_set(err, EINVAL,
				 "image %s: header: refcount_order %u out of "
				 "range (expected 0 to 6)",
				 q->name, q->refcount_order);
	if (q->version == 3 &&
	    (q->header_length < QCOW2_HDR_V3_LEN || q->header_length > hlen ||
	     q->header_length % 8))
		return error_set(err, EINVAL,
				 "image %s: header: header_length %u invalid "
				 "(expected a multiple of 8 from 104 to the "
				 "cluster size)",
				 q->name, q->header_length);
	known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
		QCOW2_INCOMPAT_COMPRESSION;
	if (q->incompat & ~known)
		return error_set(err, ENOTSUP,
				 "image %s: header: unsupported incompatible "
				 "features 0x%llx (external data file, "
				 "extended L2 or unknown)",
				 q->name,
				 (unsigned long long)(q->incompat & ~known));
	if ((q->incompat & QCOW2_INCOMPAT_COMPRESSION) &&
	    (q->header_length < 105 || hdr[104] != 0))
		return error_set(err, ENOTSUP,
				 "image %s: header: compression type %u is "
				 "not supported (only zlib)",
				 q->name,
				 q->header_length < 105 ? 0 : hdr[104]);
	if (!q->readonly && (q->incompat & QCOW2_INCOMPAT_CORRUPT))
		return error_set(err, EROFS,
				 "image %s: marked corrupt; open it read-only "
				 "or repair it (qemu-img check -r all)",
				 q->name);
	if (!q->readonly && (q->incompat & QCOW2_INCOMPAT_DIRTY))
		return error_set(err, EROFS,
				 "image %s: dirty (lazy refcounts were not "
				 "written back); repair it with qemu-img check "
				 "-r all before opening it for writing",
				 q->name);
	if (backing_off) {
		if (backing_len > QCOW2_BACKING_MAX || backing_off > hlen ||
		    backing_len > hlen - backing_off || backing_len == 0)
			return error_set(err, EINVAL,
					 "image %s: header: backing file name "
					 "at offset %llu, %u bytes, is not "
					 "inside the header cluster",
					 q->name,
					 (unsigned long long)backing_off,
					 backing_len);
		memcpy(q->backing_name, hdr + backing_off, backing_len);
		q->backing_name[backing_len] = '\0';
		if (strlen(q->backing_name) != backing_len)
			return error_set(err, EINVAL,
					 "image %s: header: backing file name "
					 "holds a NUL byte",
					 q->name);
	}
	if (q->version == 3)
		return load_extensions(q, hdr, hlen, err);
	return 0;
}

/* The table at off, n bytes long, lies inside the file and is aligned. */
static int check_table(struct qcow2 *q, const char *what, uint64_t off,
		       uint64_t n, struct error *err)
{
	if (off % q->cluster_size || off == 0 || off > q->file_size ||
	    n > q->file_size - off)
		return error_set(err, EINVAL,
				 "image %s: %s at offset 0x%llx, %llu bytes: "
				 "misaligned or beyond the end of the file "
				 "(%llu bytes)",
				 q->name, what, (unsigned long long)off,
				 (unsigned long long)n,
				 (unsigned long long)q->file_size);
	return 0;
}

static int load_table(struct qcow2 *q, const char *what, uint64_t off,
		      uint64_t n, uint64_t **out, struct error *err)
{
	uint64_t *t;
	int r;

	/* At least one entry so a table can grow in place in memory. */
	t = calloc(n ? n : 1, 8);
	if (!t)
		return error_set(err, ENOMEM, "image %s: %s: out of memory",
				 q->name, what);
	r = qcow2_pread(q, t, n * 8, off);
	if (r < 0) {
		free(t);
		return error_set(err, -r, "image %s: reading the %s: %s",
				 q->name, what, strerror(-r));
	}
	for (uint64_t i = 0; i < n; i++)
		t[i] = qcow2_be64(&t[i]);
	*out = t;
	return 0;
}

int qcow2_load(struct qcow2 *q, struct error *err)
{
	uint8_t first[4096];
	uint8_t *hdr;
	struct stat st;
	size_t hlen;
	uint64_t need;
	int r;

	if (fstat(q->fd, &st) < 0)
		return error_set(err, errno, "image %s: %s", q->name,
				 strerror(errno));
	q->file_size = (uint64_t)st.st_size;
	r = qcow2_pread(q, first, sizeof(first), 0);
	if (r < 0)
		return error_set(err, -r, "image %s: reading the header: %s",
				 q->name, strerror(-r));
	if (qcow2_be32(first) == QCOW2_MAGIC) {
		uint32_t cb = qcow2_be32(first + 20);

		if (cb < QCOW2_MIN_CLUSTER || cb > QCOW2_MAX_CLUSTER)
			return error_set(err, EINVAL,
					 "image %s: header: cluster_bits %u "
					 "out of range (expected %d to %d)",
					 q->name, cb, QCOW2_MIN_CLUSTER,
					 QCOW2_MAX_CLUSTER);
		hlen = (size_t)1 << cb;
	} else {
		hlen = sizeof(first);
	}
	hdr = calloc(1, hlen < sizeof(first) ? sizeof(first) : hlen);
	if (!hdr)
		return error_set(err, ENOMEM, "image %s: out of memory",
				 q->name);
	r = qcow2_pread(q, hdr, hlen, 0);
	if (r < 0)
		r = error_set(err, -r, "image %s: reading the header: %s",
			      q->name, strerror(-r));
	else
		r = load_header(q, hdr, hlen, err);
	free(hdr);
	if (r < 0)
		return r;

	q->l2_entries = q->cluster_size / 8;
	q->rb_entries = (q->cluster_size * 8) >> q->refcount_order;
	q->rt_entries = (uint64_t)q->rt_clusters * q->cluster_size / 8;
	/* L1 must map the whole disk: size <= l1_size * bytes per L2. */
	need = (q->size + (q->l2_entries << q->cluster_bits) - 1) /
	       (q->l2_entries << q->cluster_bits);
	if (q->size > (1ull << 56) || need > q->l1_size)
		return error_set(err, EINVAL,
				 "image %s: header: l1_size %u too small for "
				 "a disk of %llu bytes",
				 q->name, q->l1_size,
				 (unsigned long long)q->size);
	if (q->l1_size > (1u << 25))
		return error_set(err, EINVAL,
				 "image %s: header: l1_size %u too large",
				 q->name, q->l1_size);
	if (check_table(q, "L1 table", q->l1_offset, (uint64_t)q->l1_size * 8,
			err) ||
	    check_table(q, "refcount table", q->rt_offset,
			(uint64_t)q->rt_clusters * q->cluster_size, err))
		return -EINVAL;
	if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS ||
	    (q->nb_snapshots &&
	     check_table(q, "snapshot table", q->snapshots_offset,
			 (uint64_t)q->nb_snapshots * 40, err)))
		return error_set(err, EINVAL,
				 "image %s: header: %u snapshots at offset "
				 "0x%llx: too many (at most %d), misaligned or "
				 "beyond the end of the file",
				 q->name, q->nb_snapshots,
				 (unsigned long long)q->snapshots_offset,
				 QCOW2_MAX_SNAPSHOTS);
	if (q->rt_clusters == 0)
		return error_set(err, EINVAL,
				 "image %s: header: empty refcount table",
				 q->name);
	if (q->crypt_method == QCOW2_CRYPT_LUKS &&
	    (q->crypt_len < LUKS_HDR_LEN || q->crypt_len > QCOW2_CRYPT_HDR_MAX))
		return error_set(err, EINVAL,
				 "image %s: LUKS header: missing, or length "
				 "%llu out of range (%d to %llu)",
				 q->name, (unsigned long long)q->crypt_len,
				 LUKS_HDR_LEN,
				 (unsigned long long)QCOW2_CRYPT_HDR_MAX);
	if (q->crypt_method == QCOW2_CRYPT_LUKS &&
	    check_table(q, "LUKS header", q->crypt_off, q->crypt_len, err))
		return -EINVAL;
	r = load_table(q, "L1 table", q->l1_offset, q->l1_size, &q->l1, err);
	if (r < 0)
		return r;
	r = load_table(q, "refcount table", q->rt_offset, q->rt_entries, &q->rt,
		       err);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < q->rt_entries; i++) {
		uint64_t b = q->rt[i] & ~QCOW2_RT_RESERVED;

		if (q->rt[i] & QCOW2_RT_RESERVED ||
		    (b && (b % q->cluster_size || b >= q->file_size)))
			return error_set(
				err, EINVAL,
				"image %s: refcount table entry %llu "
				"(at offset 0x%llx): refcount block "
				"0x%llx misaligned or beyond the end "
				"of the file",
				q->name, (unsigned long long)i,
				(unsigned long long)(q->rt_offset + i * 8),
				(unsigned long long)q->rt[i]);
	}
	return 0;
}

/* ---- L1/L2 (spec "Cluster mapping") -------------------------------------- */

int qcow2_l2_offset(struct qcow2 *q, uint64_t gc, uint64_t *l2off)
{
	uint64_t i = gc / q->l2_entries, e, off;

	if (i >= q->l1_size)
		return qcow2_corrupt(q,
				     "guest cluster %llu beyond the L1 "
				     "table",
				     (unsigned long long)gc);
	e = q->l1[i];
	off = e & QCOW2_OFFSET_MASK;
	if ((e & QCOW2_L1_RESERVED) || off % q->cluster_size ||
	    (off && off >= q->file_size))
		return qcow2_corrupt(q,
				     "L1 entry %llu (at offset 0x%llx): L2 "
				     "table 0x%llx misaligned or beyond the "
				     "end of the file",
				     (unsigned long long)i,
				     (unsigned long long)(q->l1_offset + i * 8),
				     (unsigned long long)e);
	*l2off = off;
	return 0;
}

int qcow2_l2_read(struct qcow2 *q, uint64_t gc, uint64_t *e, unsigned n)
{
	uint64_t l2off;
	int r = qcow2_l2_offset(q, gc, &l2off);

	if (r < 0)
		return r;
	if (!l2off) {
		memset(e, 0, n * sizeof(*e));
		return 0;
	}
	r = qcow2_pread(q, e, n * 8ull, l2off + (gc % q->l2_entries) * 8);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		e[i] = qcow2_be64(&e[i]);
		if (!(e[i] & QCOW2_OFLAG_COMPRESSED) &&
		    (e[i] & QCOW2_L2_RESERVED))
			return qcow2_corrupt(
				q,
				"L2 table at 0x%llx, entry %llu: reserved "
				"bits set (0x%llx)",
				(unsigned long long)l2off,
				(unsigned long long)((gc + i) % q->l2_entries),
				(unsigned long long)e[i]);
	}
	return 0;
}

int qcow2_check_data(struct qcow2 *q, uint64_t gc, uint64_t host)
{
	if (host % q->cluster_size || host >= q->file_size)
		return qcow2_corrupt(
			q,
			"L2 entry of guest offset 0x%llx: data "
			"cluster 0x%llx misaligned or beyond the "
			"end of the file",
			(unsigned long long)(gc << q->cluster_bits),
			(unsigned long long)host);
	return 0;
}

void qcow2_compressed(const struct qcow2 *q, uint64_t e, uint64_t *off,
		      uint64_t *len)
{
	unsigned x = 62 - (q->cluster_bits - 8);
	uint64_t nsect = (e >> x) & ((1ull << (q->cluster_bits - 8)) - 1);

	*off = e & ((1ull << x) - 1);
	*len = (nsect + 1) * 512 - (*off & 511);
}

/* ---- refcounts (spec "Reference counts") --------------------------------- */

static uint64_t rb_get(const struct qcow2 *q, const uint8_t *blk, uint64_t i)
{
	unsigned bits = 1u << q->refcount_order;

	switch (bits) {
	case 64: return qcow2_be64(blk + i * 8);
	case 32: return qcow2_be32(blk + i * 4);
	case 16: return (uint64_t)blk[i * 2] << 8 | blk[i * 2 + 1];
	case 8: return blk[i];
	default:
		return (blk[i * bits / 8] >> (i * bits % 8)) &
		       ((1u << bits) - 1);
	}
}

/* Byte range of entry i in a block: where to pwrite after a change. */
static void rb_set(const struct qcow2 *q, uint8_t *blk, uint64_t i, uint64_t v,
		   uint64_t *byte, unsigned *nbytes)
{
	unsigned bits = 1u << q->refcount_order;

	*byte = i * bits / 8;
	*nbytes = bits >= 8 ? bits / 8 : 1;
	switch (bits) {
	case 64: qcow2_put64(blk + i * 8, v); break;
	case 32: qcow2_put32(blk + i * 4, (uint32_t)v); break;
	case 16:
		blk[i * 2] = (uint8_t)(v >> 8);
		blk[i * 2 + 1] = (uint8_t)v;
		break;
	case 8: blk[i] = (uint8_t)v; break;
	default: {
		unsigned sh = i * bits % 8, m = ((1u << bits) - 1) << sh;

		blk[*byte] = (uint8_t)((blk[*byte] & ~m) | ((v << sh) & m));
	}
	}
}

static uint64_t rc_max(const struct qcow2 *q)
{
	return q->refcount_order == 6 ? UINT64_MAX
				      : (1ull << (1u << q->refcount_order)) - 1;
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t hc, uint64_t *rc)
{
	uint64_t ti = hc / q->rb_entries, i = hc % q->rb_entries, b;
	unsigned bits = 1u << q->refcount_order;
	uint8_t buf[8];
	int r;

	*rc = 0;
	if (ti >= q->rt_entries)
		return 0;
	b = q->rt[ti] & ~QCOW2_RT_RESERVED;
	if (!b)
		return 0;
	r = qcow2_pread(q, buf, bits >= 8 ? bits / 8 : 1, b + i * bits / 8);
	if (r < 0)
		return r;
	/* rb_get on a one-entry window: shift the index into it. */
	*rc = rb_get(q, buf, bits >= 8 ? 0 : i % (8 / bits));
	return 0;
}

/*
 * Grow the refcount table so that entry ti exists. The new table goes to
 * the end of the file, followed by the refcount blocks needed to count
 * the new clusters that no block covers yet; the new clusters are counted
 * in those blocks or in existing ones. Order: new blocks and table written
 * and the counts in existing blocks bumped, fdatasync, header switched
 * (refcount_table_offset and _clusters in one 12-byte write), fdatasync,
 * old table freed. A crash before the switch leaks the new clusters; after
 * it, the old table.
 */
static int rt_grow(struct qcow2 *q, uint64_t ti)
{
	const uint64_t cs = q->cluster_size, per = cs / 8;
	uint64_t at = (q->file_size + cs - 1) >> q->cluster_bits;
	uint64_t entries = q->rt_entries * 2 > ti + 1 ? q->rt_entries * 2
						      : ti + 1;
	uint64_t nc, nb, end, *rt = NULL, old = q->rt_offset;
	uint64_t old_nc = q->rt_clusters;
	uint8_t hdr[12], *blk = NULL;
	int r = 0;

	for (;;) {
		nc = (entries + per - 1) / per;
		/* blocks for the new clusters: iterate until they cover
		 * themselves too */
		nb = 0;
		for (;;) {
			uint64_t need = 0;

			end = at + nc + nb;
			for (uint64_t t = at / q->rb_entries;
			     t <= (end - 1) / q->rb_entries; t++)
				if (t >= q->rt_entries || !q->rt[t])
					need++;
			if (need <= nb)
				break;
			nb = need;
		}
		if ((end - 1) / q->rb_entries < nc * per)
			break;
		entries = ((end - 1) / q->rb_entries + 1) * 2;
	}
	if (nc > (1u << 24) || (end << q->cluster_bits) > (1ull << 56))
		return qcow2_corrupt(q,
				     "refcount table cannot grow to %llu "
				     "clusters",
				     (unsigned long long)nc);
	rt = calloc(nc, cs);
	blk = malloc(cs);
	if (!rt || !blk) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < q->rt_entries; i++)
		rt[i] = q->rt[i];
	/* assign the new blocks, in order, after the table */
	{
		uint64_t next = at + nc;

		for (uint64_t t = at / q->rb_entries;
		     t <= (end - 1) / q->rb_entries; t++)
			if (!rt[t])
				rt[t] = (next++) << q->cluster_bits;
	}
	q->file_size = end << q->cluster_bits; /* claim [at, end) */
	/* count [at, end): in new blocks (written whole) or existing ones */
	for (uint64_t t = at / q->rb_entries;
	     r == 0 && t <= (end - 1) / q->rb_entries; t++) {
		uint64_t lo = t * q->rb_entries, hi = lo + q->rb_entries;
		bool fresh = t >= q->rt_entries || !q->rt[t];
		uint64_t byte;
		unsigned n;

		if (lo < at)
			lo = at;
		if (hi > end)
			hi = end;
		if (!fresh) {
			r = qcow2_refcount_add(q, lo, hi - lo, 1);
			continue;
		}
		memset(blk, 0, cs);
		for (uint64_t c = lo; c < hi; c++)
			rb_set(q, blk, c % q->rb_entries, 1, &byte, &n);
		r = qcow2_pwrite(q, blk, cs, rt[t]);
	}
	if (r == 0) {
		uint64_t *be = malloc(nc * cs);

		if (!be) {
			r = -ENOMEM;
			goto out;
		}
		for (uint64_t i = 0; i < nc * per; i++)
			qcow2_put64(&be[i], rt[i]);
		r = qcow2_pwrite(q, be, nc * cs, at << q->cluster_bits);
		free(be);
	}
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		goto out;
	qcow2_put64(hdr, at << q->cluster_bits);
	qcow2_put32(hdr + 8, (uint32_t)nc);
	r = qcow2_pwrite(q, hdr, sizeof(hdr), 48);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		goto out;
	free(q->rt);
	q->rt = rt;
	rt = NULL;
	q->rt_offset = at << q->cluster_bits;
	q->rt_clusters = (uint32_t)nc;
	q->rt_entries = nc * per;
	r = qcow2_refcount_add(q, old >> q->cluster_bits, old_nc, -1);
out:
	free(rt);
	free(blk);
	return r;
}

/*
 * Create the refcount block for table entry ti. It is placed at the end of
 * the file; if it covers its own cluster it counts itself, else its own
 * cluster is counted first (recursively, in the block that covers it).
 * Written and synced before the table entry points to it.
 */
static int rb_create(struct qcow2 *q, uint64_t ti)
{
	uint64_t at = (q->file_size + q->cluster_size - 1) >> q->cluster_bits;
	uint8_t *blk;
	uint64_t byte, be;
	unsigned nb;
	int r;

	if (ti >= q->rt_entries) {
		r = rt_grow(q, ti);
		if (r < 0 || q->rt[ti])
			return r;
		at = (q->file_size + q->cluster_size - 1) >> q->cluster_bits;
	}
	blk = calloc(1, q->cluster_size);
	if (!blk)
		return -ENOMEM;
	if (at / q->rb_entries == ti) {
		rb_set(q, blk, at % q->rb_entries, 1, &byte, &nb);
	} else {
		/* Reserve the cluster at 'at' by extending the file first so
		 * the recursive call places its own block after it. */
		r = qcow2_pwrite(q, blk, q->cluster_size,
				 at << q->cluster_bits);
		if (r == 0)
			r = qcow2_refcount_add(q, at, 1, 1);
		if (r < 0) {
			free(blk);
			return r;
		}
	}
	r = qcow2_pwrite(q, blk, q->cluster_size, at << q->cluster_bits);
	free(blk);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		return r;
	qcow2_put64(&be, at << q->cluster_bits);
	r = qcow2_pwrite(q, &be, 8, q->rt_offset + ti * 8);
	if (r == 0)
		r = qcow2_sync(q);
	if (r == 0)
		q->rt[ti] = at << q->cluster_bits;
	return r;
}

int qcow2_refcount_add(struct qcow2 *q, uint64_t hc, uint64_t n, int delta)
{
	uint8_t *blk = malloc(q->cluster_size);
	uint64_t cur_ti = UINT64_MAX, b = 0;
	int r = 0;

	if (!blk)
		return -ENOMEM;
	for (uint64_t c = hc; c < hc + n && r == 0; c++) {
		uint64_t ti = c / q->rb_entries, i = c % q->rb_entries, v, byte;
		unsigned nb;

		if (ti != cur_ti) {
			if (ti >= q->rt_entries ||
			    !(q->rt[ti] & ~QCOW2_RT_RESERVED)) {
				if (delta < 0) {
					r = qcow2_corrupt(
						q,
						"freeing host cluster 0x%llx "
						"that has no refcount block",
						(unsigned long long)c);
					break;
				}
				r = rb_create(q, ti);
				if (r < 0)
					break;
			}
			b = q->rt[ti] & ~QCOW2_RT_RESERVED;
			r = qcow2_pread(q, blk, q->cluster_size, b);
			if (r < 0)
				break;
			cur_ti = ti;
		}
		v = rb_get(q, blk, i);
		if ((delta < 0 && v == 0) || (delta > 0 && v == rc_max(q))) {
			r = qcow2_corrupt(
				q,
				"refcount of host cluster 0x%llx "
				"(block at 0x%llx) would %s",
				(unsigned long long)(c << q->cluster_bits),
				(unsigned long long)b,
				delta < 0 ? "drop below 0" : "overflow");
			break;
		}
		rb_set(q, blk, i, v + (uint64_t)(int64_t)delta, &byte, &nb);
		r = qcow2_pwrite(q, blk + byte, nb, b + byte);
		if (delta < 0 && c < q->free_hint)
			q->free_hint = c;
		if (delta < 0 && v == 1)
			q->pool_stale = true; /* a hole the pool may skip */
	}
	free(blk);
	return r;
}

/* First fit of a free run of at least min_n clusters, extended up to
 * max_n while the clusters after it are free: counted (refcount 1) and
 * synced; its first cluster in *first, its length in *got. */
static int alloc_run(struct qcow2 *q, uint64_t min_n, uint64_t max_n,
		     uint64_t *first, uint64_t *got)
{
	uint64_t c = q->free_hint ? q->free_hint : 1, run = 0, start = 0, rc;
	int r;

	/* Past the end of the file clusters are free unless a refcount says
	 * otherwise (a crash after the refcount was synced and before the
	 * data extended the file leaves such a cluster: it is a leak,
	 * skipped like any used cluster). */
	for (; run < max_n; c++) {
		uint64_t end = q->file_size >> q->cluster_bits;

		if (c >= (1ull << (56 - q->cluster_bits))) {
			if (run >= min_n)
				break;
			return -ENOSPC;
		}
		/* leaks past the end come one run per crash: a long run of
		 * them is a corrupt refcount structure, not worth a long
		 * scan */
		if (c > end + QCOW2_MAX_EOF_LEAKS && run < min_n)
			return qcow2_corrupt(
				q,
				"no free cluster within %d "
				"clusters past the end of the "
				"file (refcounts from 0x%llx on)",
				QCOW2_MAX_EOF_LEAKS,
				(unsigned long long)(end << q->cluster_bits));
		r = qcow2_refcount_get(q, c, &rc);
		if (r < 0)
			return r;
		if (rc) {
			if (run >= min_n)
				break;
			run = 0;
			if (c == q->free_hint)
				q->free_hint = c + 1;
			continue;
		}
		if (!run)
			start = c;
		run++;
	}
	/* Claim the run before counting it, so a refcount block created on
	 * the way (placed at the end of the file) does not land in it. */
	if ((start + run) << q->cluster_bits > q->file_size)
		q->file_size = (start + run) << q->cluster_bits;
	r = qcow2_refcount_add(q, start, run, 1);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		return r;
	*first = start;
	*got = run;
	return 0;
}

int qcow2_alloc(struct qcow2 *q, uint64_t n, uint64_t *off)
{
	uint64_t first, got;
	int r = alloc_run(q, n, n, &first, &got);

	if (r == 0)
		*off = first << q->cluster_bits;
	return r;
}

int qcow2_pool_release(struct qcow2 *q)
{
	uint64_t n = q->pool_end - q->pool_next;
	int r = n ? qcow2_refcount_add(q, q->pool_next, n, -1) : 0;

	q->pool_next = q->pool_end = 0;
	return r;
}

/*
 * Guest data is what allocates most, one cluster at a time under random
 * writes to fresh space: counting a run of clusters ahead with one sync
 * keeps the crash-consistent order (the refcount is durable before any L2
 * entry can point to the cluster) at one sync per run instead of one per
 * request. A crash leaks at most the rest of the run; a clean close gives
 * it back (docs/block.md).
 */
int qcow2_alloc_data(struct qcow2 *q, uint64_t n, uint64_t *off)
{
	uint64_t want = QCOW2_POOL_BYTES >> q->cluster_bits, first, got;
	int r;

	/* refilled after frees too, so freed clusters are used first and
	 * the file does not grow past its holes */
	if (q->pool_end - q->pool_next < n || q->pool_stale) {
		if (want > QCOW2_POOL_CLUSTERS)
			want = QCOW2_POOL_CLUSTERS;
		r = qcow2_pool_release(q);
		if (r == 0)
			r = alloc_run(q, n, want > n ? want : n, &first, &got);
		if (r < 0)
			return r;
		q->pool_next = first;
		q->pool_end = first + got;
		q->pool_stale = false;
	}
	*off = q->pool_next << q->cluster_bits;
	q->pool_next += n;
	return 0;
}

int qcow2_l2_ensure(struct qcow2 *q, uint64_t gc, uint64_t *l2off)
{
	uint64_t i = gc / q->l2_entries, off, be;
	void *zero;
	int r = qcow2_l2_offset(q, gc, l2off);

	uint64_t shared;

	/* a table with COPIED set is ours alone: written in place */
	if (r < 0 || (*l2off && (q->l1[i] & QCOW2_OFLAG_COPIED)))
		return r;
	shared = *l2off;
	r = qcow2_alloc(q, 1, &off);
	if (r < 0)
		return r;
	zero = calloc(1, q->cluster_size);
	if (!zero)
		return -ENOMEM;
	/* copy-on-write of a shared table (a snapshot holds it): the copy
	 * references the same data clusters, which the snapshot's count
	 * already covers; their entries stay without COPIED */
	r = shared ? qcow2_pread(q, zero, q->cluster_size, shared) : 0;
	for (uint64_t j = 0; shared && r == 0 && j < q->l2_entries; j++) {
		uint64_t *e = (uint64_t *)zero + j;

		if (!(qcow2_be64(e) & QCOW2_OFLAG_COMPRESSED))
			qcow2_put64(e, qcow2_be64(e) & ~QCOW2_OFLAG_COPIED);
	}
	if (r == 0)
		r = qcow2_pwrite(q, zero, q->cluster_size, off);
	free(zero);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		return r;
	qcow2_put64(&be, off | QCOW2_OFLAG_COPIED);
	r = qcow2_pwrite(q, &be, 8, q->l1_offset + i * 8);
	if (r < 0)
		return r;
	q->l1[i] = off | QCOW2_OFLAG_COPIED;
	*l2off = off;
	/* the old table loses our reference only once L1 is durable */
	if (shared) {
		r = qcow2_sync(q);
		if (r == 0)
			r = qcow2_refcount_add(q, shared >> q->cluster_bits, 1,
					       -1);
	}
	return r;
}

int qcow2_free_entry(struct qcow2 *q, uint64_t e)
{
	uint64_t off, len;

	if (e & QCOW2_OFLAG_COMPRESSED) {
		qcow2_compressed(q, e, &off, &len);
		return qcow2_refcount_add(q, off >> q->cluster_bits,
					  ((off + len - 1) >> q->cluster_bits) -
						  (off >> q->cluster_bits) + 1,
					  -1);
	}
	off = e & QCOW2_OFFSET_MASK;
	if (!off)
		return 0;
	return qcow2_refcount_add(q, off >> q->cluster_bits, 1, -1);
}

int qcow2_grow(struct qcow2 *q, uint64_t size, struct error *err)
{
	uint64_t per_l1 = q->l2_entries << q->cluster_bits;
	uint64_t need = (size + per_l1 - 1) / per_l1, off = q->l1_offset;
	uint64_t old_clusters, new_clusters, *l1 = NULL;
	uint8_t hdr[24];
	int r;

	if (size < q->size)
		return error_set(err, ENOTSUP,
				 "image %s: shrinking (from %llu to %llu "
				 "bytes) is not supported",
				 q->name, (unsigned long long)q->size,
				 (unsigned long long)size);
	if (size > (1ull << 56) || need > (1u << 25))
		return error_set(err, EINVAL, "image %s: size %llu too large",
				 q->name, (unsigned long long)size);
	old_clusters = ((uint64_t)q->l1_size * 8 + q->cluster_size - 1) >>
		       q->cluster_bits;
	if (need > q->l1_size) {
		new_clusters = (need * 8 + q->cluster_size - 1) >>
			       q->cluster_bits;
		l1 = calloc(new_clusters, q->cluster_size);
		if (!l1)
			return error_set(err, ENOMEM, "image %s: out of memory",
					 q->name);
		for (uint64_t i = 0; i < q->l1_size; i++)
			qcow2_put64(&l1[i], q->l1[i]);
		/* New table: counted, written, synced before the header
		 * points to it. */
		r = qcow2_alloc(q, new_clusters, &off);
		if (r == 0)
			r = qcow2_pwrite(q, l1, new_clusters * q->cluster_size,
					 off);
		if (r == 0)
			r = qcow2_sync(q);
		if (r < 0) {
			free(l1);
			return error_set(err, -r,
					 "image %s: writing the new L1 table: "
					 "%s",
					 q->name, strerror(-r));
		}
		for (uint64_t i = 0; i < need; i++)
			l1[i] = qcow2_be64(&l1[i]);
	}
	/* size (24), crypt_method (32), l1_size (36), l1_table_offset (40)
	 * in one write. */
	qcow2_put64(hdr, size);
	qcow2_put32(hdr + 8, q->crypt_method);
	qcow2_put32(hdr + 12, need > q->l1_size ? (uint32_t)need : q->l1_size);
	qcow2_put64(hdr + 16, off);
	r = qcow2_pwrite(q, hdr, sizeof(hdr), 24);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0) {
		free(l1);
		return error_set(err, -r, "image %s: writing the header: %s",
				 q->name, strerror(-r));
	}
	q->size = size;
	if (l1) {
		uint64_t old = q->l1_offset;

		free(q->l1);
		q->l1 = l1;
		q->l1_size = (uint32_t)need;
		q->l1_offset = off;
		r = qcow2_refcount_add(q, old >> q->cluster_bits, old_clusters,
				       -1);
		if (r < 0)
			return error_set(err, -r,
					 "image %s: freeing the old L1 table",
					 q->name);
	}
	return 0;
}
