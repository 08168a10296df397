/*
 * The qcow2 format (versions 2 and 3, QEMU's docs/interop/qcow2.txt): guest
 * reads and writes, zero clusters, zlib-compressed clusters (read),
 * backing files, discard, write-zeroes, flush. Metadata handling lives in
 * qcow2_meta.c; locking and the crash-consistent order in qcow2_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "block/qcow2_int.h"
#include "util/hostfile.h"
#include "util/log.h"

#define QCOW2_BATCH 64 /* L2 entries looked up at once */

/* A position in a caller's iovec array. */
struct iovc {
	const struct iovec *iov;
	int cnt;
	int i;
	size_t off;
};

/* Copy n bytes between the cursor and buf (to_buf: cursor -> buf), or
 * zero them (buf NULL, !to_buf); advances the cursor. */
static void iovc_copy(struct iovc *c, void *buf, size_t n, bool to_buf)
{
	uint8_t *b = buf;

	while (n && c->i < c->cnt) {
		size_t k = c->iov[c->i].iov_len - c->off;
		uint8_t *p = (uint8_t *)c->iov[c->i].iov_base + c->off;

		if (k > n)
			k = n;
		if (to_buf)
			memcpy(b, p, k);
		else if (b)
			memcpy(p, b, k);
		else
			memset(p, 0, k);
		if (b)
			b += k;
		n -= k;
		c->off += k;
		if (c->off == c->iov[c->i].iov_len) {
			c->i++;
			c->off = 0;
		}
	}
}

/* Describe the next n bytes of the cursor in out[] (at most max entries;
 * returns the count or -E2BIG) and advance. */
static int iovc_slice(struct iovc *c, size_t n, struct iovec *out, int max)
{
	int k = 0;

	while (n && c->i < c->cnt) {
		size_t len = c->iov[c->i].iov_len - c->off;

		if (len > n)
			len = n;
		if (len) {
			if (k == max)
				return -E2BIG;
			out[k].iov_base = (uint8_t *)c->iov[c->i].iov_base +
					  c->off;
			out[k++].iov_len = len;
		}
		n -= len;
		c->off += len;
		if (c->off == c->iov[c->i].iov_len) {
			c->i++;
			c->off = 0;
		}
	}
	return k;
}

/* preadv/pwritev n bytes of the cursor at host offset off. */
static int data_io_plain(struct qcow2 *q, struct iovc *c, size_t n,
			 uint64_t off, bool write)
{
	struct iovec v[IOV_MAX];

	while (n) {
		struct iovc save = *c;
		int k = iovc_slice(c, n, v, IOV_MAX);
		size_t got = 0;

		if (k == -E2BIG) {
			/* more pieces than IOV_MAX: do the first IOV_MAX */
			*c = save;
			k = IOV_MAX;
			for (int j = 0; j < k; j++)
				got += v[j].iov_len;
			iovc_slice(c, got, v, IOV_MAX);
		} else {
			got = n;
		}
		for (int j = 0; j < k;) {
			ssize_t r =
				write ? block_pwritev(q->bd.aio, q->fd, v + j,
						      k - j, (off_t)off)
				      : block_preadv(q->bd.aio, q->fd, v + j,
						     k - j, (off_t)off);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0) {
				if (write)
					return -EIO;
				for (; j < k; j++)
					memset(v[j].iov_base, 0, v[j].iov_len);
				break;
			}
			off += (uint64_t)r;
			while (j < k && (size_t)r >= v[j].iov_len)
				r -= (ssize_t)v[j++].iov_len;
			if (j < k) {
				v[j].iov_base = (uint8_t *)v[j].iov_base + r;
				v[j].iov_len -= (size_t)r;
			}
		}
		/* q->file_size is not touched: in-place writes run under
		 * the shared lock, and new clusters were counted in it by
		 * qcow2_alloc already */
		n -= got;
	}
	return 0;
}

/* Bounce buffer for encrypted I/O: 1 MiB at a time. */
#define CRYPT_CHUNK (1u << 20)

/*
 * Guest data at host offset off: in place, or for an encrypted image
 * through a bounce buffer, each 512-byte sector en/decrypted with its host
 * sector number as IV (offsets and lengths are sector multiples: checked
 * by readv/writev).
 */
static int data_io(struct qcow2 *q, struct iovc *c, size_t n, uint64_t off,
		   bool write)
{
	size_t blen = n < CRYPT_CHUNK ? n : CRYPT_CHUNK;
	uint8_t *buf;
	int r = 0;

	if (!q->crypt_method)
		return data_io_plain(q, c, n, off, write);
	if (!q->luks)
		return -EACCES; /* opened for metadata only */
	buf = malloc(blen);
	if (!buf)
		return -ENOMEM;
	while (n && r == 0) {
		size_t k = n < CRYPT_CHUNK ? n : CRYPT_CHUNK;
		struct iovec v = { buf, k };
		struct iovc bc = { &v, 1, 0, 0 };

		if (write) {
			iovc_copy(c, buf, k, true);
			r = luks_crypt(q->luks, off / LUKS_SECTOR, buf, k,
				       true);
			if (r == 0)
				r = data_io_plain(q, &bc, k, off, true);
		} else {
			r = data_io_plain(q, &bc, k, off, false);
			if (r == 0)
				r = luks_crypt(q->luks, off / LUKS_SECTOR, buf,
					       k, false);
			if (r == 0)
				iovc_copy(c, buf, k, false);
		}
		off += k;
		n -= k;
	}
	explicit_bzero(buf, blen);
	free(buf);
	return r;
}

/* Inflate the compressed cluster of entry e into out (cluster_size). */
static int read_compressed(struct qcow2 *q, uint64_t gc, uint64_t e,
			   uint8_t *out)
{
	uint64_t off, len;
	z_stream zs = { 0 };
	uint8_t *in;
	int r;

	if (q->crypt_method)
		return qcow2_corrupt(
			q,
			"L2 entry of guest offset 0x%llx: a "
			"compressed cluster in an encrypted image",
			(unsigned long long)(gc << q->cluster_bits));
	qcow2_compressed(q, e, &off, &len);
	if (off >= q->file_size)
		return qcow2_corrupt(
			q,
			"L2 entry of guest offset 0x%llx: "
			"compressed data at 0x%llx beyond the end "
			"of the file",
			(unsigned long long)(gc << q->cluster_bits),
			(unsigned long long)off);
	in = malloc(len);
	if (!in)
		return -ENOMEM;
	r = qcow2_pread(q, in, len, off);
	if (r < 0) {
		free(in);
		return r;
	}
	/* raw deflate, 4 KiB window, as QEMU writes it */
	if (inflateInit2(&zs, -12) != Z_OK) {
		free(in);
		return -ENOMEM;
	}
	zs.next_in = in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)q->cluster_size;
	r = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	free(in);
	if ((r == Z_STREAM_END || r == Z_BUF_ERROR) && zs.avail_out == 0)
		return 0;
	return qcow2_corrupt(q,
			     "compressed cluster at 0x%llx (guest offset "
			     "0x%llx) does not inflate to %llu bytes",
			     (unsigned long long)off,
			     (unsigned long long)(gc << q->cluster_bits),
			     (unsigned long long)q->cluster_size);
}

/* Read n bytes of the backing image at guest offset pos (zeros past its
 * end, or without a backing image). */
static int backing_read(struct qcow2 *q, struct iovc *c, size_t n, uint64_t pos)
{
	uint64_t bsize = q->backing ? blockdev_size(q->backing) : 0;
	size_t have = pos < bsize ? (size_t)(bsize - pos < n ? bsize - pos : n)
				  : 0;
	struct iovec v[IOV_MAX];
	int r;

	while (have) {
		struct iovc save = *c;
		size_t got = have;
		int k = iovc_slice(c, have, v, IOV_MAX);

		if (k == -E2BIG) {
			*c = save;
			got = 0;
			for (int j = 0; j < IOV_MAX; j++)
				got += v[j].iov_len;
			k = iovc_slice(c, got, v, IOV_MAX);
		}
		r = blockdev_readv(q->backing, v, k, pos);
		if (r < 0)
			return r;
		pos += got;
		have -= got;
		n -= got;
	}
	iovc_copy(c, NULL, n, false);
	return 0;
}

/*
 * Read [in, in+n) of guest cluster gc, whose L2 entry is e, into the
 * cursor. Normal clusters are host-contiguous runs handled by the caller
 * when it can merge them; this handles one cluster of any kind.
 */
static int read_one(struct qcow2 *q, uint64_t gc, uint64_t e, uint64_t in,
		    size_t n, struct iovc *c)
{
	uint64_t host = e & QCOW2_OFFSET_MASK;
	uint8_t *buf;
	int r;

	if (e & QCOW2_OFLAG_COMPRESSED) {
		buf = malloc(q->cluster_size);
		if (!buf)
			return -ENOMEM;
		r = read_compressed(q, gc, e, buf);
		if (r == 0)
			iovc_copy(c, buf + in, n, false);
		free(buf);
		return r;
	}
	if ((e & QCOW2_OFLAG_ZERO) && q->version >= 3) {
		iovc_copy(c, NULL, n, false);
		return 0;
	}
	if (!host)
		return backing_read(q, c, n, (gc << q->cluster_bits) + in);
	r = qcow2_check_data(q, gc, host);
	if (r < 0)
		return r;
	return data_io(q, c, n, host + in, false);
}

/* True if the entry maps a plain allocated cluster (in-place I/O). */
static bool is_plain(const struct qcow2 *q, uint64_t e)
{
	return !(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_OFFSET_MASK) &&
	       !((e & QCOW2_OFLAG_ZERO) && q->version >= 3);
}

/* True if guest cluster gc (entry e) may be written in place: plain, and
 * neither it nor its L2 table is shared with a snapshot (COPIED set in
 * both entries: refcount 1). Otherwise the write copies it. */
static bool is_own(const struct qcow2 *q, uint64_t gc, uint64_t e)
{
	return is_plain(q, e) && (e & QCOW2_OFLAG_COPIED) &&
	       (q->l1[gc / q->l2_entries] & QCOW2_OFLAG_COPIED);
}

/*
 * Read or write (plain clusters only, see need_alloc) the request. Runs of
 * host-contiguous plain clusters become one preadv/pwritev. Caller holds
 * io (shared is enough). For a write, *need_alloc is set and nothing is
 * written if any cluster is not plain.
 */
static int do_rw(struct qcow2 *q, const struct iovec *iov, int iovcnt,
		 uint64_t off, uint64_t len, bool write, bool *need_alloc)
{
	struct iovc c = { iov, iovcnt, 0, 0 };
	uint64_t e[QCOW2_BATCH];
	uint64_t cs = q->cluster_size;
	int r;

	if (write) {
		/* all plain? */
		for (uint64_t p = off & ~(cs - 1); p < off + len;) {
			uint64_t gc = p >> q->cluster_bits;
			uint64_t left = (off + len - p + cs - 1) / cs;
			unsigned n = (unsigned)(q->l2_entries -
						gc % q->l2_entries);

			if (n > QCOW2_BATCH)
				n = QCOW2_BATCH;
			if (n > left)
				n = (unsigned)left;
			r = qcow2_l2_read(q, gc, e, n);
			if (r < 0)
				return r;
			for (unsigned i = 0; i < n; i++)
				if (!is_own(q, gc + i, e[i]))
					return *need_alloc = true, 0;
			p += (uint64_t)n * cs;
		}
	}
	while (len) {
		uint64_t gc = off >> q->cluster_bits, in = off & (cs - 1);
		uint64_t left = (in + len + cs - 1) / cs;
		unsigned n = (unsigned)(q->l2_entries - gc % q->l2_entries);

		if (n > QCOW2_BATCH)
			n = QCOW2_BATCH;
		if (n > left)
			n = (unsigned)left;
		r = qcow2_l2_read(q, gc, e, n);
		if (r < 0)
			return r;
		for (unsigned i = 0; i < n && len;) {
			uint64_t host = e[i] & QCOW2_OFFSET_MASK;
			size_t chunk = (size_t)(cs - in < len ? cs - in : len);
			unsigned j = i + 1;

			if (!is_plain(q, e[i])) {
				r = read_one(q, gc + i, e[i], in, chunk, &c);
				if (r < 0)
					return r;
				off += chunk;
				len -= chunk;
				in = 0;
				i++;
				continue;
			}
			r = qcow2_check_data(q, gc + i, host);
			if (r < 0)
				return r;
			/* merge following host-contiguous plain clusters */
			while (j < n && chunk < len && is_plain(q, e[j]) &&
			       (e[j] & QCOW2_OFFSET_MASK) ==
				       host + (j - i) * cs &&
			       qcow2_check_data(q, gc + j,
						host + (j - i) * cs) == 0) {
				chunk += (size_t)(cs < len - chunk
							  ? cs
							  : len - chunk);
				j++;
			}
			r = data_io(q, &c, chunk, host + in, write);
			if (r < 0)
				return r;
			off += chunk;
			len -= chunk;
			in = 0;
			i = j;
		}
	}
	return 0;
}

static int qcow2_readv(struct blockdev *bd, const struct iovec *iov, int iovcnt,
		       uint64_t off)
{
	struct qcow2 *q = qcow2_of(bd);
	uint64_t len = 0;
	int r;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (q->crypt_method && (off | len) % LUKS_SECTOR)
		return -EINVAL;
	pthread_rwlock_rdlock(&q->io);
	r = do_rw(q, iov, iovcnt, off, len, false, NULL);
	pthread_rwlock_unlock(&q->io);
	return r;
}

/* Write entries e[0..n) of guest clusters gc.. into their L2 table. */
static int l2_write(struct qcow2 *q, uint64_t l2off, uint64_t gc,
		    const uint64_t *e, unsigned n)
{
	uint64_t be[QCOW2_BATCH];

	for (unsigned i = 0; i < n; i++)
		qcow2_put64(&be[i], e[i]);
	return qcow2_pwrite(q, be, n * 8ull, l2off + (gc % q->l2_entries) * 8);
}

/* Fill guest cluster gc's new host cluster at host: the write's bytes
 * [in, in+chunk) from the cursor, the rest from the cluster's old contents
 * (entry e: backing file, zeros, compressed data). */
static int fill_cluster(struct qcow2 *q, struct iovc *c, uint64_t gc,
			uint64_t e, uint64_t in, size_t chunk, uint64_t host,
			uint8_t **buf)
{
	struct iovec v;
	struct iovc bc = { &v, 1, 0, 0 };
	int r;

	if (chunk == q->cluster_size)
		return data_io(q, c, chunk, host, true);
	if (!*buf && !(*buf = malloc(q->cluster_size)))
		return -ENOMEM;
	v.iov_base = *buf;
	v.iov_len = q->cluster_size;
	r = read_one(q, gc, e, 0, q->cluster_size, &bc);
	if (r < 0)
		return r;
	iovc_copy(c, *buf + in, chunk, true);
	if (q->crypt_method) {
		/* data_io encrypts: write the merged cluster through it */
		struct iovc wc = { &v, 1, 0, 0 };

		return data_io(q, &wc, q->cluster_size, host, true);
	}
	return qcow2_pwrite(q, *buf, q->cluster_size, host);
}

/*
 * The allocating write, io held exclusive. Plain clusters are written in
 * place. A run of clusters that need a new cluster (within one L2 table)
 * gets one contiguous host run: refcounts written and synced once
 * (qcow2_alloc), data written (the rest of partial clusters from their old
 * contents), then their L2 entries in one write. Old compressed or
 * preallocated zero clusters are freed after the new entries are durable.
 */
static int write_alloc(struct qcow2 *q, struct iovc *c, uint64_t off,
		       uint64_t len)
{
	uint64_t cs = q->cluster_size, e[QCOW2_BATCH], ne[QCOW2_BATCH];
	uint8_t *buf = NULL;
	int r = 0;

	while (len && r == 0) {
		uint64_t gc = off >> q->cluster_bits, in = off & (cs - 1);
		uint64_t left = (in + len + cs - 1) / cs, l2off, host;
		unsigned n = (unsigned)(q->l2_entries - gc % q->l2_entries), k;
		bool freed = false;

		if (n > QCOW2_BATCH)
			n = QCOW2_BATCH;
		if (n > left)
			n = (unsigned)left;
		r = qcow2_l2_read(q, gc, e, n);
		if (r < 0)
			break;
		if (is_own(q, gc, e[0])) {
			size_t chunk = (size_t)(cs - in < len ? cs - in : len);

			r = qcow2_check_data(q, gc, e[0] & QCOW2_OFFSET_MASK);
			if (r == 0)
				r = data_io(q, c, chunk,
					    (e[0] & QCOW2_OFFSET_MASK) + in,
					    true);
			off += chunk;
			len -= chunk;
			continue;
		}
		for (k = 1; k < n && !is_own(q, gc + k, e[k]); k++)
			;
		r = qcow2_l2_ensure(q, gc, &l2off);
		if (r == 0)
			r = qcow2_alloc_data(q, k, &host);
		for (unsigned i = 0; i < k && r == 0; i++) {
			size_t chunk = (size_t)(cs - in < len ? cs - in : len);

			r = fill_cluster(q, c, gc + i, e[i], in, chunk,
					 host + i * cs, &buf);
			ne[i] = (host + i * cs) | QCOW2_OFLAG_COPIED;
			freed |= (e[i] & (QCOW2_OFLAG_COMPRESSED |
					  QCOW2_OFFSET_MASK)) != 0;
			off += chunk;
			len -= chunk;
			in = 0;
		}
		if (r == 0)
			r = l2_write(q, l2off, gc, ne, k);
		if (r == 0 && freed) {
			r = qcow2_sync(q);
			for (unsigned i = 0; i < k && r == 0; i++)
				r = qcow2_free_entry(q, e[i]);
		}
	}
	free(buf);
	return r;
}

static int qcow2_writev(struct blockdev *bd, const struct iovec *iov,
			int iovcnt, uint64_t off)
{
	struct qcow2 *q = qcow2_of(bd);
	bool need_alloc = false;
	uint64_t len = 0;
	int r;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (q->crypt_method && (off | len) % LUKS_SECTOR)
		return -EINVAL;
	pthread_rwlock_rdlock(&q->io);
	r = do_rw(q, iov, iovcnt, off, len, true, &need_alloc);
	pthread_rwlock_unlock(&q->io);
	if (r < 0 || !need_alloc)
		return r;
	pthread_rwlock_wrlock(&q->io);
	{
		struct iovc c = { iov, iovcnt, 0, 0 };

		r = write_alloc(q, &c, off, len);
	}
	pthread_rwlock_unlock(&q->io);
	return r;
}

static int qcow2_flush(struct blockdev *bd)
{
	return qcow2_sync(qcow2_of(bd));
}

/*
 * Discard (zero = false) or write zeros (zero = true) over whole clusters:
 * the L2 entries change (to unallocated, or to the v3 zero flag when a
 * backing file must stay hidden or for write-zeroes), are synced, then the
 * old clusters are freed. Partial clusters: write-zeroes writes zeros,
 * discard ignores them (a hint). io held exclusive.
 */
static int zero_or_discard(struct qcow2 *q, uint64_t off, uint64_t len,
			   bool zero, bool unmap)
{
	uint64_t cs = q->cluster_size, e[QCOW2_BATCH], ne[QCOW2_BATCH];
	static const uint8_t zeros[4096];
	int r = 0;

	while (len && r == 0) {
		uint64_t gc = off >> q->cluster_bits, in = off & (cs - 1);
		uint64_t whole = 0, l2off;
		unsigned n, changed = 0;

		/* a partial cluster (the disk's last one counts as whole if
		 * the range reaches the end of the disk) */
		/* v2 has no zero flag to hide a backing file: write zeros */
		if (in || (len < cs && off + len < q->size) ||
		    (zero && q->version < 3 && q->backing)) {
			size_t chunk = (size_t)(cs - in < len ? cs - in : len);

			if (zero) {
				struct iovec v[(1 << QCOW2_MAX_CLUSTER) / 4096];
				struct iovc c = { v, 0, 0, 0 };

				for (size_t k = 0; k < chunk; k += 4096) {
					v[c.cnt].iov_base = (void *)zeros;
					v[c.cnt++].iov_len = chunk - k < 4096
								     ? chunk - k
								     : 4096;
				}
				r = write_alloc(q, &c, off, chunk);
			}
			off += chunk;
			len -= chunk;
			continue;
		}
		n = (unsigned)(q->l2_entries - gc % q->l2_entries);
		if (n > QCOW2_BATCH)
			n = QCOW2_BATCH;
		whole = len / cs;
		if (len % cs && off + len == q->size)
			whole++;
		if (whole > n)
			whole = n;
		n = (unsigned)whole;
		r = qcow2_l2_offset(q, gc, &l2off);
		if (r < 0)
			break;
		r = qcow2_l2_read(q, gc, e, n);
		if (r < 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			uint64_t host = e[i] & QCOW2_OFFSET_MASK;
			bool plain = is_own(q, gc + i, e[i]);

			if (zero && q->version >= 3)
				ne[i] = QCOW2_OFLAG_ZERO |
					(!unmap && plain
						 ? host | QCOW2_OFLAG_COPIED
						 : 0);
			else if (!q->backing)
				ne[i] = 0;
			else if (q->version >= 3)
				ne[i] = QCOW2_OFLAG_ZERO;
			else
				ne[i] = e[i]; /* v2 + backing: keep */
			/* unallocated without a backing file reads as
			 * zeros already */
			if (!q->backing && e[i] == 0)
				ne[i] = 0;
			if (ne[i] != e[i])
				changed++;
		}
		if (changed && (!l2off || !(q->l1[gc / q->l2_entries] &
					    QCOW2_OFLAG_COPIED))) {
			/* only zero flags over a backing file need a table */
			r = qcow2_l2_ensure(q, gc, &l2off);
			if (r < 0)
				break;
		}
		if (changed) {
			bool freed = false;

			r = l2_write(q, l2off, gc, ne, n);
			for (unsigned i = 0; i < n; i++)
				if ((e[i] & (QCOW2_OFFSET_MASK |
					     QCOW2_OFLAG_COMPRESSED)) &&
				    (ne[i] & QCOW2_OFFSET_MASK) !=
					    (e[i] & QCOW2_OFFSET_MASK))
					freed = true;
			if (r == 0 && freed)
				r = qcow2_sync(q);
			for (unsigned i = 0; i < n && r == 0; i++)
				if ((e[i] & (QCOW2_OFFSET_MASK |
					     QCOW2_OFLAG_COMPRESSED)) &&
				    (ne[i] & QCOW2_OFFSET_MASK) !=
					    (e[i] & QCOW2_OFFSET_MASK))
					r = qcow2_free_entry(q, e[i]);
		}
		off += (uint64_t)n * cs;
		len = len > (uint64_t)n * cs ? len - (uint64_t)n * cs : 0;
	}
	return r;
}

static int qcow2_discard(struct blockdev *bd, uint64_t off, uint64_t len)
{
	struct qcow2 *q = qcow2_of(bd);
	int r;

	pthread_rwlock_wrlock(&q->io);
	r = zero_or_discard(q, off, len, false, true);
	pthread_rwlock_unlock(&q->io);
	return r;
}

static int qcow2_write_zeroes(struct blockdev *bd, uint64_t off, uint64_t len,
			      bool may_unmap)
{
	struct qcow2 *q = qcow2_of(bd);
	int r;

	pthread_rwlock_wrlock(&q->io);
	r = zero_or_discard(q, off, len, true, may_unmap);
	pthread_rwlock_unlock(&q->io);
	return r;
}

static uint64_t qcow2_size(const struct blockdev *bd)
{
	return qcow2_of(bd)->size;
}

static void qcow2_close(struct blockdev *bd)
{
	struct qcow2 *q = qcow2_of(bd);

	/* the clusters counted ahead and not used: a clean close leaks none
	 * (a failure here is a leak, which qemu-img check -r leaks repairs) */
	if (q->pool_end > q->pool_next && qcow2_pool_release(q) == 0)
		qcow2_sync(q);
	blockdev_close(q->backing);
	luks_free(q->luks);
	if (q->fd >= 0)
		close(q->fd);
	pthread_rwlock_destroy(&q->io);
	free(q->l1);
	free(q->rt);
	free(q->name);
	free(q);
}

static int qcow2_resize(struct blockdev *bd, uint64_t size, struct error *err)
{
	struct qcow2 *q = qcow2_of(bd);
	int r;

	pthread_rwlock_wrlock(&q->io);
	r = qcow2_grow(q, size, err);
	pthread_rwlock_unlock(&q->io);
	return r;
}

/* Before another process takes the image over (a live migration's
 * destination): the clusters counted ahead go back, so that the image
 * the other one opens is complete and leaks nothing (qemu-img check). */
static int qcow2_release(struct blockdev *bd)
{
	struct qcow2 *q = qcow2_of(bd);

	pthread_rwlock_wrlock(&q->io);
	int r = qcow2_pool_release(q);
	if (r == 0)
		r = qcow2_sync(q);
	pthread_rwlock_unlock(&q->io);
	return r;
}

static const struct blockdev_ops qcow2_ops = {
	.format = "qcow2",
	.readv = qcow2_readv,
	.writev = qcow2_writev,
	.flush = qcow2_flush,
	.discard = qcow2_discard,
	.write_zeroes = qcow2_write_zeroes,
	.size = qcow2_size,
	.close = qcow2_close,
	.resize = qcow2_resize,
	.release = qcow2_release,
};

/* Open the backing file named in the header, relative to the image's
 * directory unless absolute; read-only, one level deeper. */
static int open_backing(struct qcow2 *q, int depth, const char *key_secret,
			struct error *err)
{
	char path[4096], *dup, *dir;
	struct stat st;
	const char *fmt = q->backing_fmt[0] ? q->backing_fmt : NULL;

	if (depth + 1 >= QCOW2_MAX_BACKING)
		return error_set(err, ELOOP,
				 "image %s: backing chain deeper than %d "
				 "images",
				 q->name, QCOW2_MAX_BACKING);
	if (q->backing_name[0] == '/') {
		snprintf(path, sizeof(path), "%s", q->backing_name);
	} else {
		dup = strdup(q->name);
		if (!dup)
			return error_set(err, ENOMEM, "out of memory");
		dir = dirname(dup);
		snprintf(path, sizeof(path), "%s/%s", dir, q->backing_name);
		free(dup);
	}
	/* a name is data from the image: only regular files and block
	 * devices (stat first: opening a FIFO would block) */
	if (hostfile_stat(path, &st) < 0)
		return error_set(err, errno, "image %s: backing file %s: %s",
				 q->name, path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return error_set(err, EINVAL,
				 "image %s: backing file %s is not a regular "
				 "file or block device",
				 q->name, path);
	if (fmt && strcmp(fmt, "raw") && strcmp(fmt, "qcow2"))
		return error_set(err, ENOTSUP,
				 "image %s: backing file %s has format '%s' "
				 "(expected raw or qcow2)",
				 q->name, path, fmt);
	if (!fmt) {
		fmt = blockdev_probe(path, err);
		if (!fmt)
			return -err->code;
		log_msg(LOG_LVL_WARN, "qcow2",
			"image %s: backing file %s has no recorded format; "
			"probed as %s",
			q->name, path, fmt);
	}
	/* an encrypted chain (a linked clone of an encrypted template) has
	 * one passphrase: the backing file gets the same key-secret */
	q->backing = block_open_depth(path, fmt, true, depth + 1,
				      strcmp(fmt, "qcow2") ? NULL : key_secret,
				      err);
	if (!q->backing) {
		error_prefix(err, "image %s: backing file", q->name);
		return -err->code;
	}
	return 0;
}

static struct blockdev *open_impl(const char *path, bool readonly, int depth,
				  const char *key_secret,
				  struct blockdev *backing, struct error *err)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	pthread_rwlockattr_t a;

	if (!q) {
		error_set(err, ENOMEM, "image %s: out of memory", path);
		return NULL;
	}
	q->fd = -1;
	pthread_rwlockattr_init(&a);
	/* allocating writers must not starve behind a stream of readers */
	pthread_rwlockattr_setkind_np(
		&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&q->io, &a);
	pthread_rwlockattr_destroy(&a);
	q->bd.ops = &qcow2_ops;
	q->readonly = readonly;
	q->free_hint = 1;
	q->name = strdup(path);
	if (!q->name) {
		error_set(err, ENOMEM, "image %s: out of memory", path);
		goto fail;
	}
	q->fd = hostfile_open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (q->fd < 0) {
		error_set(err, errno, "disk %s: %s", path, strerror(errno));
		goto fail;
	}
	q->bd.lock_fd = q->fd;
	if (block_lock_file(q->fd, path, readonly, err) < 0)
		goto fail;
	if (qcow2_load(q, err) < 0)
		goto fail;
	/* depth -1 (the image tools' metadata opens) may go without the
	 * key: data I/O then fails with -EACCES */
	if (q->crypt_method && (key_secret || depth >= 0) &&
	    qcow2_crypt_unlock(q, key_secret, err) < 0)
		goto fail;
	if (!q->crypt_method && key_secret && depth <= 0) {
		error_set(err, EINVAL,
			  "image %s: key-secret given, but the image is not "
			  "encrypted",
			  path);
		goto fail;
	}
	/* spec "Header", autoclear_features: a writer that does not know
	 * these bits (persistent bitmaps, ...) clears them all, telling
	 * the next reader that what they describe may be stale */
	if (!readonly && q->version >= 3 && q->autoclear) {
		uint64_t zero = 0;
		int r = qcow2_pwrite(q, &zero, 8, 88);

		if (r == 0)
			r = qcow2_sync(q);
		if (r < 0) {
			error_set(err, -r,
				  "image %s: clearing autoclear "
				  "features: %s",
				  path, strerror(-r));
			goto fail;
		}
		q->autoclear = 0;
	}
	/* depth -1: metadata only (image info), the chain stays closed */
	if (backing && !q->backing_name[0]) {
		error_set(err, EINVAL, "image %s: names no backing file", path);
		goto fail;
	}
	if (backing) /* last: a failure never closes the caller's device */
		q->backing = backing;
	else if (q->backing_name[0] && depth >= 0 &&
		 open_backing(q, depth, key_secret, err) < 0)
		goto fail;
	q->bd.can_unmap = true;
	return &q->bd;
fail:
	qcow2_close(&q->bd);
	return NULL;
}

struct blockdev *qcow2_open(const char *path, bool readonly, int depth,
			    const char *key_secret, struct error *err)
{
	return open_impl(path, readonly, depth, key_secret, NULL, err);
}

struct blockdev *qcow2_open_over(const char *path, struct blockdev *backing,
				 struct error *err)
{
	return open_impl(path, false, 0, NULL, backing, err);
}
