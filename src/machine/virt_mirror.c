/*
 * The block mirror of a live migration with --copy-storage
 * (docs/vm-state.md, "Disks copied with the VM"): QEMU's drive-mirror
 * (libvirt's --copy-storage-all), carried in the migration's own state
 * stream instead of an NBD connection.
 *
 *   begin        dirty tracking on for every disk (block/dirty.h): the
 *                block layer marks each 64 KiB granule a write,
 *                write-zeroes or discard touched, once it completed
 *   copy         a header section per disk, then every granule that is
 *                not zeros ("disk-mirror" sections of data runs) while
 *                the guest runs; then passes of the granules marked
 *                meanwhile (data, or a zero run) until what is left is
 *                small (MIRROR_SMALL) or the passes run out
 *   RAM passes   each is followed by the disks' dirty granules
 *   final pause  devices quiesced: the last dirty granules go before the
 *                machine's state; tracking off
 *
 * The source's images are only read. The destination's worker writes
 * each section into the image its daemon created (virtio_blk_mirror_open,
 * on the first section of a disk), before the machine's state; the
 * guest runs there only after the last one, so it finds every write the
 * source acknowledged. A granule read while a write to it is in flight
 * is marked once the write completes and goes again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "machine/virt_impl.h"
#include "util/clock.h"
#include "util/state_io.h"
#include "virtio/blk.h"

#define MIRROR_VERSION	  1
#define MIRROR_GRANULE	  (64u << 10)
#define MIRROR_READ	  (1u << 20) /* bytes per read */
#define MIRROR_SECTION	  (4u << 20) /* data per section, about */
#define MIRROR_SMALL	  (4u << 20) /* a dirty rest this small: done */
#define MIRROR_MAX_PASSES 10
#define MIRROR_REPORT	  (16u << 20) /* progress every so many bytes */
#define RUN_DATA	  0
#define RUN_ZERO	  1

struct mirror_disk {
	struct blockdev *bd;
	uint64_t size;
	size_t words;
	uint64_t *pending; /* collected, not yet sent */
	uint64_t n_pending;
};

struct virt_mirror {
	unsigned n;
	struct mirror_disk d[VIRT_MAX_VIRTIO];
	uint8_t *buf; /* MIRROR_READ */
	uint64_t done, total, sent, last_report;
	/* the section being filled */
	bool open;
	unsigned disk;
	size_t sect_bytes;
};

int virt_mirror_begin(struct virt *vm, struct virt_mirror **out,
		      struct error *err)
{
	struct virt_mirror *m = calloc(1, sizeof(*m));

	if (!m || !(m->buf = malloc(MIRROR_READ))) {
		free(m);
		return error_set(err, ENOMEM, "out of memory");
	}
	int r = 0;
	for (unsigned i = 0; i < VIRT_MAX_VIRTIO && vm->io.blk[i] && !r; i++) {
		struct mirror_disk *d = &m->d[i];
		d->bd = virtio_blk_blockdev(vm->io.blk[i]);
		m->n = i + 1;
		if (blockdev_readonly(d->bd)) {
			r = error_set(err, EINVAL,
				      "disk %s is read-only: --copy-storage "
				      "copies writable disks only",
				      blockdev_path(d->bd));
			break;
		}
		d->size = blockdev_size(d->bd);
		m->total += d->size;
		r = blockdev_dirty_start(d->bd, MIRROR_GRANULE);
		if (r) {
			error_set(err, -r, "disk %s: dirty tracking: %s",
				  blockdev_path(d->bd), strerror(-r));
			d->bd = NULL; /* not ours to stop */
			break;
		}
		d->words = blockdev_dirty_words(d->bd);
		d->pending = calloc(d->words ? d->words : 1, sizeof(uint64_t));
		if (!d->pending)
			r = error_set(err, ENOMEM, "out of memory");
	}
	if (r) {
		virt_mirror_end(m);
		return r;
	}
	*out = m;
	return 0;
}

void virt_mirror_end(struct virt_mirror *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->n; i++) {
		if (m->d[i].bd)
			blockdev_dirty_stop(m->d[i].bd);
		free(m->d[i].pending);
	}
	free(m->buf);
	free(m);
}

void virt_mirror_progress(const struct virt_mirror *m,
			  struct virt_precopy_progress *p)
{
	uint64_t dirty = 0;

	for (unsigned i = 0; i < m->n; i++)
		dirty += m->d[i].n_pending;
	p->disk_done = m->done;
	p->disk_total = m->total;
	p->disk_dirty = dirty * MIRROR_GRANULE;
	p->disk_sent = m->sent;
}

/* ---- the sections --------------------------------------------------------- */

static int sect_close(struct virt_mirror *m, struct state_writer *w,
		      struct error *err)
{
	if (!m->open)
		return 0;
	uint64_t b0 = w->bytes;
	m->open = false;
	int r = state_end(w, err);
	m->sent += w->bytes - b0;
	return r;
}

/* Make sure a section of disk i is open with room for a run. */
static int sect_for(struct virt_mirror *m, struct state_writer *w, unsigned i,
		    struct error *err)
{
	if (m->open && (m->disk != i || m->sect_bytes >= MIRROR_SECTION)) {
		int r = sect_close(m, w, err);
		if (r)
			return r;
	}
	if (!m->open) {
		state_begin(w, "disk-mirror", i, MIRROR_VERSION);
		state_put_u64(w, m->d[i].size);
		m->open = true;
		m->disk = i;
		m->sect_bytes = 0;
	}
	return 0;
}

static int put_run(struct virt_mirror *m, struct state_writer *w, unsigned i,
		   uint64_t off, uint32_t len, int kind, const void *data,
		   struct error *err)
{
	int r = sect_for(m, w, i, err);
	if (r)
		return r;
	state_put_u64(w, off);
	state_put_u32(w, len);
	state_put_u8(w, (uint8_t)kind);
	if (kind == RUN_DATA)
		state_put_bytes(w, data, len);
	m->sect_bytes += 13 + (kind == RUN_DATA ? len : 0);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	const uint64_t *q = (const uint64_t *)p;

	for (size_t i = 0; i < n / 8; i++)
		if (q[i])
			return false;
	for (size_t i = n & ~(size_t)7; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Send [g, g+count) granules of disk i (count * granule <= MIRROR_READ):
 * one read, then runs of data and, unless skip_zero, of zeros. */
static int send_granules(struct virt_mirror *m, struct state_writer *w,
			 unsigned i, uint64_t g, unsigned count, bool skip_zero,
			 struct error *err)
{
	struct mirror_disk *d = &m->d[i];
	uint64_t off = g * MIRROR_GRANULE;
	uint64_t len = (uint64_t)count * MIRROR_GRANULE;

	if (off >= d->size)
		return 0;
	if (len > d->size - off)
		len = d->size - off;
	struct iovec iov = { m->buf, (size_t)len };
	int r = blockdev_readv_unlimited(d->bd, &iov, 1, off);
	if (r < 0)
		return error_set(err, -r, "disk %s: read at %llu: %s",
				 blockdev_path(d->bd), (unsigned long long)off,
				 strerror(-r));
	/* runs of granules of one kind */
	for (uint64_t pos = 0; pos < len;) {
		uint64_t n = len - pos < MIRROR_GRANULE ? len - pos
							: MIRROR_GRANULE;
		bool zero = all_zero(m->buf + pos, (size_t)n);
		uint64_t end = pos + n;
		while (end < len) {
			uint64_t k = len - end < MIRROR_GRANULE
					     ? len - end
					     : MIRROR_GRANULE;
			if (all_zero(m->buf + end, (size_t)k) != zero)
				break;
			end += k;
		}
		if (!(zero && skip_zero)) {
			r = put_run(m, w, i, off + pos, (uint32_t)(end - pos),
				    zero ? RUN_ZERO : RUN_DATA, m->buf + pos,
				    err);
			if (r)
				return r;
		}
		pos = end;
	}
	return 0;
}

static void report(struct virt_mirror *m, const struct virt_precopy_params *prm,
		   struct state_writer *w)
{
	if (!prm->progress ||
	    m->done + m->sent - m->last_report < MIRROR_REPORT)
		return;
	struct virt_precopy_progress p = { .bytes_sent = w->bytes };
	virt_mirror_progress(m, &p);
	prm->progress(prm->opaque, &p);
	m->last_report = m->done + m->sent;
}

/* ---- the source ----------------------------------------------------------- */

uint64_t virt_mirror_dirty(struct virt_mirror *m)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < m->n; i++) {
		struct mirror_disk *d = &m->d[i];
		blockdev_dirty_collect(d->bd, d->pending, d->words);
		d->n_pending = 0;
		for (size_t k = 0; k < d->words; k++)
			d->n_pending += (uint64_t)__builtin_popcountll(
				d->pending[k]);
		n += d->n_pending;
	}
	return n * MIRROR_GRANULE;
}

static int send_pending(struct virt_mirror *m, struct state_writer *w,
			const struct virt_precopy_params *prm,
			struct error *err)
{
	const unsigned per_read = MIRROR_READ / MIRROR_GRANULE;

	for (unsigned i = 0; i < m->n; i++) {
		struct mirror_disk *d = &m->d[i];
		uint64_t granules = d->words * 64;
		for (uint64_t g = 0; g < granules;) {
			if (!d->pending[g / 64]) {
				g = (g / 64 + 1) * 64;
				continue;
			}
			if (!((d->pending[g / 64] >> (g % 64)) & 1)) {
				g++;
				continue;
			}
			unsigned c = 0;
			while (c < per_read && g + c < granules &&
			       ((d->pending[(g + c) / 64] >> ((g + c) % 64)) &
				1)) {
				d->pending[(g + c) / 64] &= ~(
					1ull << ((g + c) % 64));
				c++;
			}
			int r = send_granules(m, w, i, g, c, false, err);
			if (r)
				return r;
			d->n_pending -= c < d->n_pending ? c : d->n_pending;
			if (prm)
				report(m, prm, w);
			g += c;
		}
		d->n_pending = 0;
	}
	return sect_close(m, w, err);
}

int virt_mirror_send_dirty(struct virt_mirror *m, struct state_writer *w,
			   struct error *err)
{
	return send_pending(m, w, NULL, err);
}

int virt_mirror_copy(struct virt_mirror *m, struct state_writer *w,
		     const struct virt_precopy_params *prm, struct error *err)
{
	const unsigned per_read = MIRROR_READ / MIRROR_GRANULE;
	int r = 0;

	/* every disk gets its header section, data or not: the destination
	 * opens its image for writing on it */
	for (unsigned i = 0; i < m->n && !r; i++) {
		state_begin(w, "disk-mirror", i, MIRROR_VERSION);
		state_put_u64(w, m->d[i].size);
		uint64_t b0 = w->bytes;
		r = state_end(w, err);
		m->sent += w->bytes - b0;
	}
	for (unsigned i = 0; i < m->n && !r; i++) {
		uint64_t granules = (m->d[i].size + MIRROR_GRANULE - 1) /
				    MIRROR_GRANULE;
		for (uint64_t g = 0; g < granules && !r; g += per_read) {
			unsigned c = granules - g < per_read
					     ? (unsigned)(granules - g)
					     : per_read;
			r = send_granules(m, w, i, g, c, true, err);
			uint64_t left = m->d[i].size - g * MIRROR_GRANULE;
			m->done += left < MIRROR_READ ? left : MIRROR_READ;
			report(m, prm, w);
		}
	}
	if (!r)
		r = sect_close(m, w, err);
	/* what the guest wrote meanwhile, until the rest is small */
	uint64_t t_last = clock_monotonic_ns(), b_last = w->bytes;
	for (unsigned pass = 0; !r && pass < MIRROR_MAX_PASSES; pass++) {
		uint64_t dirty = virt_mirror_dirty(m);
		uint64_t t = clock_monotonic_ns();
		double bw = (double)(w->bytes - b_last) /
			    ((t - t_last) / 1e9 + 1e-6);
		if (dirty <= MIRROR_SMALL ||
		    (double)dirty <= bw * (prm->downtime_ns / 1e9))
			break;
		t_last = t;
		b_last = w->bytes;
		r = send_pending(m, w, prm, err);
	}
	return r;
}

/* ---- the destination ------------------------------------------------------ */

int virt_mirror_state_load(struct virt *vm, struct state_reader *r,
			   struct error *err)
{
	int rc = state_check_version(r, MIRROR_VERSION, err);
	if (rc)
		return rc;
	unsigned n = 0;
	while (n < VIRT_MAX_VIRTIO && vm->io.blk[n])
		n++;
	if (r->instance >= n)
		return state_fail(r, err, EINVAL,
				  "this VM has %u disks, the source mirrors "
				  "disk %u",
				  n, r->instance);
	if (!vm->disks_incoming || !vm->cfg->mirror_in)
		return state_fail(r, err, EINVAL,
				  "a disk mirror, but this is not an incoming "
				  "migration with --copy-storage");
	struct virtio_blk *blk = vm->io.blk[r->instance];
	if (!virtio_blk_mirror_target(blk) &&
	    (rc = virtio_blk_mirror_open(blk, err)))
		return rc;
	struct blockdev *bd = virtio_blk_blockdev(blk);
	uint64_t size = state_get_u64(r);
	if (!r->short_read && size != blockdev_size(bd))
		return state_fail(r, err, EINVAL,
				  "a disk of %llu bytes, %s has %llu",
				  (unsigned long long)size, blockdev_path(bd),
				  (unsigned long long)blockdev_size(bd));
	while (!r->short_read && state_remaining(r) > 0) {
		uint64_t off = state_get_u64(r);
		uint32_t len = state_get_u32(r);
		uint8_t kind = state_get_u8(r);
		if (r->short_read)
			break;
		if (kind > RUN_ZERO || !len || off > size || len > size - off)
			return state_fail(r, err, EINVAL,
					  "a run of kind %u, %u bytes at %llu "
					  "(the disk has %llu)",
					  kind, len, (unsigned long long)off,
					  (unsigned long long)size);
		if (kind == RUN_DATA) {
			const void *p = state_get_ptr(r, len);
			if (!p)
				break;
			struct iovec iov = { (void *)p, len };
			rc = blockdev_writev(bd, &iov, 1, off);
		} else {
			rc = blockdev_write_zeroes(bd, off, len, true);
		}
		if (rc < 0)
			return state_fail(
				r, err, -rc, "disk %s: write at %llu: %s",
				blockdev_path(bd), (unsigned long long)off,
				strerror(-rc));
	}
	return state_section_done(r, err);
}
