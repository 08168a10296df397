/*
 * The virt board's virtio devices: virtio-mmio slots 0x1000_1000 + n *
 * 0x1000 on PLIC sources 1 + n, filled in order with the disks, NICs, rng,
 * balloon, console and power button (virtio-input, docs/shutdown.md) of
 * the configuration; and the parts that live as
 * long as the VM, across reboots: the hvc console backend and the QMP
 * control channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dev/plic.h"
#include "machine/fdt_board.h"
#include "machine/virt_impl.h"
#include "block/block.h"
#include "mem/gmem.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/balloon.h"
#include "virtio/console.h"
#include "virtio/input.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"

#define LOG "virt"

unsigned virt_virtio_count(const struct virt_config *cfg)
{
	return cfg->n_disks + cfg->n_nets + cfg->rng + cfg->balloon +
	       cfg->has_hvc + cfg->power_button;
}

/* ---- device lifetimes --------------------------------------------------- */

static void destroy_blk(void *d)
{
	virtio_blk_destroy(d);
}

static void destroy_net(void *d)
{
	virtio_net_destroy(d);
}

static void destroy_rng(void *d)
{
	virtio_rng_destroy(d);
}

static void destroy_balloon(void *d)
{
	virtio_balloon_destroy(d);
}

static void destroy_console(void *d)
{
	virtio_console_destroy(d);
}

static void destroy_input(void *d)
{
	virtio_input_destroy(d);
}

/* Pages went back to the host: every hart may cache pointers to them.
 * Post the flush and return; waiting here could deadlock against a vCPU
 * that resets the balloon (see balloon.h). */
static void balloon_pages_released(void *opaque)
{
	struct virt *vm = opaque;
	for (unsigned i = 0; i < vm->n_harts; i++)
		if (vm->harts[i].h)
			hart_request(vm->harts[i].h, HART_REQ_TLB_FLUSH);
}

static void hvc_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct virt *vm = opaque;
	if (vm->hvc_console)
		console_write(vm->hvc_console, buf, len);
}

static void hvc_input_ready(void *opaque)
{
	struct virt *vm = opaque;
	if (vm->hvc_console)
		console_kick_input(vm->hvc_console);
}

/* Put device `dev` with `ops` into the next slot. */
static int add_slot(struct virt *vm, const struct virtio_dev_ops *ops,
		    void *dev, void (*destroy)(void *), const char *name,
		    struct error *err)
{
	struct virt_io *io = &vm->io;
	unsigned n = io->n;
	struct irq_line irq = plic_source_line(vm->plic,
					       VIRT_VIRTIO_IRQ_BASE + n);
	char region[32];

	io->dev[n] = dev;
	io->destroy[n] = destroy;
	io->n = n + 1;
	io->vd[n] = virtio_mmio_create(vm->mem, ops, dev, &irq, err);
	if (!io->vd[n])
		return -EINVAL;
	snprintf(region, sizeof(region), "virtio%u (%s)", n, name);
	return gmem_map_mmio(vm->mem, VIRT_VIRTIO_BASE + n * VIRT_VIRTIO_STRIDE,
			     VIRT_VIRTIO_STRIDE, virtio_mmio_ops(), io->vd[n],
			     region, err);
}

int virt_io_create(struct virt *vm, struct error *err)
{
	const struct virt_config *cfg = vm->cfg;
	struct virt_io *io = &vm->io;
	int r = 0;

	pthread_mutex_lock(&vm->io_lock);
	memset(io, 0, sizeof(*io));
	for (unsigned i = 0; i < cfg->n_disks && !r; i++) {
		struct virtio_blk_config dc = cfg->disks[i];
		dc.incoming = vm->disks_incoming;
		struct virtio_blk *b = virtio_blk_create(&dc, err);
		if (!b) {
			r = -EINVAL;
			break;
		}
		io->blk[i] = b;
		r = add_slot(vm, virtio_blk_ops(b), b, destroy_blk, "blk", err);
	}
	for (unsigned i = 0; i < cfg->n_nets && !r; i++) {
		struct virtio_net *n = virtio_net_create(&cfg->nets[i], err);
		if (!n) {
			r = -EINVAL;
			break;
		}
		io->net[i] = n;
		r = add_slot(vm, virtio_net_dev_ops(n), n, destroy_net, "net",
			     err);
	}
	if (!r && cfg->rng) {
		io->rng = virtio_rng_create(err);
		r = io->rng ? add_slot(vm, virtio_rng_dev_ops(io->rng), io->rng,
				       destroy_rng, "rng", err)
			    : -EINVAL;
	}
	if (!r && cfg->balloon) {
		struct virtio_balloon_opts o = {
			.stats_interval_ms = 0,
			.pages_released = balloon_pages_released,
			.opaque = vm,
		};
		io->balloon = virtio_balloon_create(vm->mem, &o, err);
		r = io->balloon
			    ? add_slot(vm, virtio_balloon_dev_ops(io->balloon),
				       io->balloon, destroy_balloon, "balloon",
				       err)
			    : -EINVAL;
	}
	if (!r && cfg->has_hvc) {
		struct virtio_console_host host = { hvc_output, hvc_input_ready,
						    vm };
		io->hvc = virtio_console_create(&host, NULL, err);
		r = io->hvc ? add_slot(vm, virtio_console_dev_ops(io->hvc),
				       io->hvc, destroy_console, "console", err)
			    : -EINVAL;
	}
	if (!r && cfg->power_button) {
		io->power_button = virtio_input_create(err);
		r = io->power_button
			    ? add_slot(vm,
				       virtio_input_dev_ops(io->power_button),
				       io->power_button, destroy_input, "input",
				       err)
			    : -EINVAL;
	}
	pthread_mutex_unlock(&vm->io_lock);
	return r;
}

void virt_io_destroy(struct virt *vm)
{
	struct virt_io *io = &vm->io;

	pthread_mutex_lock(&vm->io_lock);
	/* each transport first (it resets its back end), then the device */
	for (unsigned i = io->n; i-- > 0;) {
		if (io->vd[i])
			virtio_mmio_destroy(io->vd[i]);
		if (io->dev[i])
			io->destroy[i](io->dev[i]);
	}
	memset(io, 0, sizeof(*io));
	pthread_mutex_unlock(&vm->io_lock);
}

int virt_io_power_button(struct virt *vm)
{
	int r = -ENODEV;

	pthread_mutex_lock(&vm->io_lock);
	if (vm->io.power_button) {
		virtio_input_power_press(vm->io.power_button);
		r = 0;
	}
	pthread_mutex_unlock(&vm->io_lock);
	return r;
}

int virt_io_announce(struct virt *vm, const struct netdev_announce_params *p,
		     struct error *err)
{
	int r = -ENODEV;

	pthread_mutex_lock(&vm->io_lock);
	for (unsigned i = 0; i < VIRT_MAX_VIRTIO && vm->io.net[i]; i++) {
		r = virtio_net_announce(vm->io.net[i], p, err);
		if (r)
			break;
	}
	pthread_mutex_unlock(&vm->io_lock);
	if (r == -ENODEV)
		error_set(err, ENODEV, "announce: the VM has no network card");
	return r;
}

/* ---- hvc console backend ------------------------------------------------ */

static size_t hvc_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct virt *vm = opaque;
	size_t n = 0;
	pthread_mutex_lock(&vm->io_lock);
	if (vm->io.hvc)
		n = virtio_console_input(vm->io.hvc, buf, len);
	pthread_mutex_unlock(&vm->io_lock);
	return n;
}

/* ---- QMP ---------------------------------------------------------------- */

static int qmp_set_balloon(void *opaque, uint64_t bytes)
{
	struct virt *vm = opaque;
	int r = -ENODEV;
	pthread_mutex_lock(&vm->io_lock);
	if (vm->io.balloon) {
		virtio_balloon_set_target(vm->io.balloon, bytes);
		r = 0;
	}
	pthread_mutex_unlock(&vm->io_lock);
	return r;
}

static int qmp_get_balloon(void *opaque, uint64_t *actual)
{
	struct virt *vm = opaque;
	int r = -ENODEV;
	pthread_mutex_lock(&vm->io_lock);
	if (vm->io.balloon) {
		*actual = virtio_balloon_actual(vm->io.balloon);
		r = 0;
	}
	pthread_mutex_unlock(&vm->io_lock);
	return r;
}

void virt_dev_stats(const struct virt *vm, struct virt_dev_stats *st)
{
	/* io_lock: a reboot replaces the devices under it */
	struct virt *m = (struct virt *)vm;
	const struct virt_io *io = &m->io;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&m->io_lock);
	for (unsigned i = 0; i < VIRT_MAX_VIRTIO && io->blk[i]; i++)
		virtio_blk_get_stats(io->blk[i], &st->disk[st->n_disks++]);
	for (unsigned i = 0; i < VIRT_MAX_VIRTIO && io->net[i]; i++)
		virtio_net_get_stats(io->net[i], &st->net[st->n_nets++]);
	if (m->mem) {
		gmem_get_stats(m->mem, &st->mem);
		st->has_mem = true;
	}
	pthread_mutex_unlock(&m->io_lock);
}

int virt_set_disk_caps(struct virt *vm, const struct virt_disk_cap *caps,
		       unsigned n)
{
	const struct virt_io *io = &vm->io;
	int r = 0;

	pthread_mutex_lock(&vm->io_lock);
	for (unsigned i = 0; i < VIRT_MAX_VIRTIO && io->blk[i] && !r; i++)
		r = i < n ? virtio_blk_set_cap(io->blk[i], caps[i].iops,
					       caps[i].bps)
			  : virtio_blk_set_cap(io->blk[i], 0, 0);
	pthread_mutex_unlock(&vm->io_lock);
	return r;
}

static void qmp_get_stats(void *opaque, struct qmp_stats *st)
{
	struct virt *vm = opaque;
	struct virt_io *io = &vm->io;
	char name[16];

	pthread_mutex_lock(&vm->io_lock);
	for (unsigned i = 0; i < VIRT_MAX_VIRTIO && io->blk[i]; i++) {
		struct virtio_blk_stats s;
		virtio_blk_get_stats(io->blk[i], &s);
		snprintf(name, sizeof(name), "blk%u", i);
		qmp_stats_u64(st, name, "rd_ops", s.rd_ops);
		qmp_stats_u64(st, name, "rd_bytes", s.rd_bytes);
		qmp_stats_u64(st, name, "wr_ops", s.wr_ops);
		qmp_stats_u64(st, name, "wr_bytes", s.wr_bytes);
		qmp_stats_u64(st, name, "flush_ops", s.flush_ops);
		qmp_stats_u64(st, name, "errors", s.errors);
	}
	for (unsigned i = 0; i < VIRT_MAX_VIRTIO && io->net[i]; i++) {
		struct virtio_net_stats s;
		virtio_net_get_stats(io->net[i], &s);
		snprintf(name, sizeof(name), "net%u", i);
		qmp_stats_u64(st, name, "tx_bad", s.tx_bad);
		qmp_stats_u64(st, name, "rx_too_big", s.rx_too_big);
		qmp_stats_u64(st, name, "rx_filtered", s.rx_filtered);
		qmp_stats_u64(st, name, "announces", s.announces);
		qmp_stats_u64(st, name, "tx_frames", s.nd.tx_frames);
	}
	if (io->rng) {
		struct virtio_rng_stats s;
		virtio_rng_get_stats(io->rng, &s);
		qmp_stats_u64(st, "rng", "requests", s.requests);
		qmp_stats_u64(st, "rng", "bytes", s.bytes);
	}
	if (io->balloon) {
		struct virtio_balloon_info b;
		virtio_balloon_get_info(io->balloon, &b);
		qmp_stats_u64(st, "balloon", "target_pages", b.target_pages);
		qmp_stats_u64(st, "balloon", "actual_pages", b.actual_pages);
		qmp_stats_u64(st, "balloon", "inflated_pages",
			      b.inflated_pages);
		qmp_stats_u64(st, "balloon", "deflated_pages",
			      b.deflated_pages);
		qmp_stats_u64(st, "balloon", "reported_pages",
			      b.reported_pages);
	}
	if (io->hvc) {
		struct virtio_console_stats s;
		virtio_console_get_stats(io->hvc, &s);
		qmp_stats_u64(st, "console", "rx_bytes", s.rx_bytes);
		qmp_stats_u64(st, "console", "tx_bytes", s.tx_bytes);
	}
	if (io->power_button) {
		struct virtio_input_stats s;
		virtio_input_get_stats(io->power_button, &s);
		qmp_stats_u64(st, "power-button", "presses", s.presses);
		qmp_stats_u64(st, "power-button", "presses_dropped",
			      s.presses_dropped);
		qmp_stats_u64(st, "power-button", "events", s.events);
		qmp_stats_u64(st, "power-button", "pending", s.pending);
	}
	if (vm->mem) {
		struct gmem_stats g;
		gmem_get_stats(vm->mem, &g);
		qmp_stats_u64(st, "memory", "frames_total", g.frames_total);
		qmp_stats_u64(st, "memory", "frames_private", g.frames_private);
		qmp_stats_u64(st, "memory", "frames_released",
			      g.frames_released);
		qmp_stats_u64(st, "memory", "frames_zero_shared",
			      g.frames_zero_shared);
		qmp_stats_u64(st, "memory", "share_scanned", g.share_scanned);
		qmp_stats_u64(st, "memory", "cow_breaks", g.cow_breaks);
		qmp_stats_u64(st, "memory", "limit_frames", g.limit_frames);
		qmp_stats_u64(st, "memory", "frames_compressed",
			      g.frames_compressed);
		qmp_stats_u64(st, "memory", "bytes_compressed",
			      g.bytes_compressed);
		qmp_stats_u64(st, "memory", "frames_swapped", g.frames_swapped);
		qmp_stats_u64(st, "memory", "swap_ins", g.swap_ins);
		qmp_stats_u64(st, "memory", "decompressions", g.decompressions);
		qmp_stats_u64(st, "memory", "reclaim_probed", g.reclaim_probed);
		qmp_stats_u64(st, "memory", "reclaim_touched",
			      g.reclaim_touched);
		qmp_stats_u64(st, "memory", "reclaim_kept", g.reclaim_kept);
	}
	pthread_mutex_unlock(&vm->io_lock);
}

static void qmp_quit(void *opaque)
{
	virt_post_event(opaque, VIRT_EV_QUIT, 0);
}

static int qmp_powerdown(void *opaque)
{
	return virt_io_power_button(opaque);
}

static const char *qmp_status(void *opaque)
{
	struct virt *vm = opaque;
	pthread_mutex_lock(&vm->lock);
	bool paused = vm->paused;
	pthread_mutex_unlock(&vm->lock);
	return paused ? "paused" : "running";
}

static int qmp_stop(void *opaque)
{
	return virt_pause(opaque);
}

static int qmp_cont(void *opaque)
{
	return virt_resume(opaque);
}

static int qmp_migrate_file(void *opaque, const char *path, char *msg,
			    size_t msg_len)
{
	struct error err = { 0 };
	int rc = virt_save(opaque, path, NULL, &err);
	if (rc)
		snprintf(msg, msg_len, "%s", err.msg);
	return rc;
}

static int qmp_snapshot_external(void *opaque, const char *device,
				 const char *file, char *msg, size_t msg_len)
{
	struct virt *vm = opaque;
	const char *ov[VIRT_MAX_VIRTIO] = { 0 };
	struct error err = { 0 };
	unsigned k = 0, n = 0;
	int idx = -1, fd, rc;

	pthread_mutex_lock(&vm->io_lock);
	for (unsigned i = 0; i < VIRT_MAX_VIRTIO && vm->io.blk[i]; i++) {
		char name[16];
		bool ro = blockdev_readonly(virtio_blk_blockdev(vm->io.blk[i]));
		snprintf(name, sizeof(name), "blk%u", i);
		if (!strcmp(name, device) && !ro)
			idx = (int)(k = n);
		n += !ro;
	}
	pthread_mutex_unlock(&vm->io_lock);
	if (idx < 0) {
		snprintf(msg, msg_len, "no writable disk %s", device);
		return -ENODEV;
	}
	/* a new file (the sandboxed VM process cannot create one: take
	 * the snapshot through the daemon, or run with --sandbox off) */
	fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		snprintf(msg, msg_len, "%s: %s", file, strerror(errno));
		return rc;
	}
	close(fd);
	ov[k] = file;
	rc = virt_disk_snapshot_external(vm, ov, n, &err);
	if (rc) {
		unlink(file);
		snprintf(msg, msg_len, "%s", err.msg);
	}
	return rc;
}

static int qmp_announce(void *opaque, unsigned rounds, unsigned initial_ms,
			unsigned max_ms, unsigned step_ms, char *msg,
			size_t msg_len)
{
	struct netdev_announce_params p = { rounds, initial_ms, max_ms,
					    step_ms };
	struct error err = { 0 };
	int rc = virt_io_announce(opaque, &p, &err);
	if (rc)
		snprintf(msg, msg_len, "%s", err.msg);
	return rc;
}

static const struct qmp_ops qmp_cb = {
	.query_status = qmp_status,
	.set_balloon_target = qmp_set_balloon,
	.get_balloon = qmp_get_balloon,
	.get_stats = qmp_get_stats,
	.quit = qmp_quit,
	.stop = qmp_stop,
	.cont = qmp_cont,
	.system_powerdown = qmp_powerdown,
	.migrate_file = qmp_migrate_file,
	.snapshot_external = qmp_snapshot_external,
	.announce = qmp_announce,
};

int virt_io_open_host(struct virt *vm, struct error *err)
{
	const struct virt_config *cfg = vm->cfg;

	if (cfg->has_hvc && !vm->hvc_console) {
		struct console_ops ops = { hvc_input, NULL };
		struct console_opts opts = { .no_escape = true };
		vm->hvc_console = console_open(&cfg->hvc, &ops, vm, &opts, err);
		if (!vm->hvc_console)
			return -EIO;
	}
	if (cfg->has_qmp && !vm->qmp) {
		struct qmp_opts o = { .version = SOFTVISOR_VERSION };
		vm->qmp = qmp_open(&cfg->qmp, &qmp_cb, vm, &o, err);
		if (!vm->qmp)
			return -EIO;
	}
	return 0;
}

void virt_io_close_host(struct virt *vm)
{
	if (vm->qmp)
		qmp_close(vm->qmp);
	vm->qmp = NULL;
	if (vm->hvc_console)
		console_close(vm->hvc_console);
	vm->hvc_console = NULL;
}
