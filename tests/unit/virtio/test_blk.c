/*
 * Unit tests for virtio-blk (src/virtio/blk.c): the --disk parser, the
 * request parser on hand-built requests (iovecs in host memory), config
 * space, and the threaded path through a fake transport: this file defines
 * the virtq/virtio functions blk.c calls, so it links blk.c alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtio/blk.h"
#include "virtio/virtq.h"

#define IMG_SIZE (1u << 20)

static char img[64];

static int setup(void **state)
{
	int fd;

	strcpy(img, "/tmp/sv-test-blk-XXXXXX");
	fd = mkstemp(img);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(img);
	return 0;
}

static struct virtio_blk *make(bool ro, const char *serial)
{
	struct virtio_blk_config cfg = { 0 };
	struct error err = { 0 };
	struct virtio_blk *blk;

	strcpy(cfg.path, img);
	strcpy(cfg.format, "raw");
	cfg.readonly = ro;
	strcpy(cfg.serial, serial);
	blk = virtio_blk_create(&cfg, &err);
	if (!blk)
		fail_msg("create: %s", err.msg);
	return blk;
}

/* ---- request building ---- */

struct fake {
	uint8_t hdr[16];
	uint8_t status;
	struct virtq_req req;
};

static void hdr(struct fake *f, uint32_t type, uint64_t sector)
{
	memset(f, 0, sizeof(*f));
	f->status = 0xee;
	memcpy(f->hdr, &type, 4);
	memcpy(f->hdr + 8, &sector, 8);
}

static void add(struct virtq_req *r, void *buf, size_t len, bool writable)
{
	struct iovec *v = &r->iov[r->n_out + r->n_in];

	v->iov_base = buf;
	v->iov_len = len;
	if (writable) {
		r->n_in++;
		r->in_len += len;
	} else {
		assert_int_equal(r->n_in, 0);
		r->n_out++;
		r->out_len += len;
	}
}

/* header + data (out for writes, in for reads) + status */
static int run(struct virtio_blk *blk, struct fake *f, void *data, size_t len,
	       bool data_in, uint32_t *written)
{
	add(&f->req, f->hdr, 16, false);
	if (len)
		add(&f->req, data, len, data_in);
	add(&f->req, &f->status, 1, true);
	return virtio_blk_handle_sync(blk, &f->req, written);
}

static void test_rw(void **state)
{
	struct virtio_blk *blk = make(false, "sn1");
	static uint8_t data[4096], back[4096];
	struct fake f;
	uint32_t w;
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	/* OUT at sector 3 */
	hdr(&f, VIRTIO_BLK_T_OUT, 3);
	assert_int_equal(run(blk, &f, data, sizeof(data), false, &w),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(f.status, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1);
	fd = open(img, O_RDONLY);
	assert_int_equal(pread(fd, back, sizeof(back), 3 * 512),
			 (ssize_t)sizeof(back));
	close(fd);
	assert_memory_equal(back, data, sizeof(data));

	/* IN at sector 4, with the status byte sharing the data buffer */
	static uint8_t inbuf[1025];
	hdr(&f, VIRTIO_BLK_T_IN, 4);
	add(&f.req, f.hdr, 16, false);
	add(&f.req, inbuf, 1000, true);
	add(&f.req, inbuf + 1000, 25, true);
	assert_int_equal(virtio_blk_handle_sync(blk, &f.req, &w),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1025);
	assert_int_equal(inbuf[1024], VIRTIO_BLK_S_OK);
	assert_memory_equal(inbuf, data + 512, 1024);

	/* Header split over two descriptors */
	memset(back, 0, sizeof(back));
	hdr(&f, VIRTIO_BLK_T_IN, 3);
	add(&f.req, f.hdr, 5, false);
	add(&f.req, f.hdr + 5, 11, false);
	add(&f.req, back, 512, true);
	add(&f.req, &f.status, 1, true);
	assert_int_equal(virtio_blk_handle_sync(blk, &f.req, &w),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(back, data, 512);

	/* FLUSH */
	hdr(&f, VIRTIO_BLK_T_FLUSH, 0);
	assert_int_equal(run(blk, &f, NULL, 0, false, &w), VIRTIO_BLK_S_OK);

	/* GET_ID: 20 bytes NUL-padded */
	char id[20];
	memset(id, 'x', sizeof(id));
	hdr(&f, VIRTIO_BLK_T_GET_ID, 0);
	assert_int_equal(run(blk, &f, id, sizeof(id), true, &w),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(w, 21);
	assert_memory_equal(id, "sn1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);

	struct virtio_blk_stats st;
	virtio_blk_get_stats(blk, &st);
	assert_int_equal(st.wr_ops, 1);
	assert_int_equal(st.wr_bytes, 4096);
	assert_int_equal(st.rd_ops, 2);
	assert_int_equal(st.flush_ops, 1);
	assert_int_equal(st.errors, 0);
	virtio_blk_destroy(blk);
}

static void test_bad_requests(void **state)
{
	struct virtio_blk *blk = make(false, "");
	static uint8_t data[1024];
	struct fake f;
	uint32_t w;

	/* beyond the end: last sector is 2047 */
	hdr(&f, VIRTIO_BLK_T_IN, 2047);
	assert_int_equal(run(blk, &f, data, 1024, true, &w),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(f.status, VIRTIO_BLK_S_IOERR);
	hdr(&f, VIRTIO_BLK_T_IN, 2047);
	assert_int_equal(run(blk, &f, data, 512, true, &w), VIRTIO_BLK_S_OK);
	hdr(&f, VIRTIO_BLK_T_OUT, UINT64_MAX);
	assert_int_equal(run(blk, &f, data, 512, false, &w),
			 VIRTIO_BLK_S_IOERR);
	/* not a multiple of 512 */
	hdr(&f, VIRTIO_BLK_T_OUT, 0);
	assert_int_equal(run(blk, &f, data, 100, false, &w),
			 VIRTIO_BLK_S_IOERR);
	/* unknown type */
	hdr(&f, 99, 0);
	assert_int_equal(run(blk, &f, NULL, 0, false, &w), VIRTIO_BLK_S_UNSUPP);
	/* header too short */
	hdr(&f, VIRTIO_BLK_T_IN, 0);
	add(&f.req, f.hdr, 8, false);
	add(&f.req, &f.status, 1, true);
	assert_int_equal(virtio_blk_handle_sync(blk, &f.req, &w),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(f.status, VIRTIO_BLK_S_IOERR);
	/* no status byte at all: not a request (device error) */
	hdr(&f, VIRTIO_BLK_T_OUT, 0);
	add(&f.req, f.hdr, 16, false);
	add(&f.req, data, 512, false);
	assert_true(virtio_blk_handle_sync(blk, &f.req, &w) < 0);
	/* only zero-length writable buffers */
	hdr(&f, VIRTIO_BLK_T_FLUSH, 0);
	add(&f.req, f.hdr, 16, false);
	add(&f.req, &f.status, 0, true);
	assert_true(virtio_blk_handle_sync(blk, &f.req, &w) < 0);
	/* nothing at all */
	memset(&f, 0, sizeof(f));
	assert_true(virtio_blk_handle_sync(blk, &f.req, &w) < 0);
	virtio_blk_destroy(blk);
}

struct dwz {
	uint64_t sector;
	uint32_t num;
	uint32_t flags;
};

static void test_discard_zeroes(void **state)
{
	struct virtio_blk *blk = make(false, "");
	static uint8_t data[8192], back[8192];
	struct dwz seg[2];
	struct fake f;
	uint32_t w;

	memset(data, 0xab, sizeof(data));
	hdr(&f, VIRTIO_BLK_T_OUT, 0);
	assert_int_equal(run(blk, &f, data, sizeof(data), false, &w), 0);

	/* two segments: discard sectors 0-1 and 8-15 */
	seg[0] = (struct dwz){ 0, 2, 0 };
	seg[1] = (struct dwz){ 8, 8, 0 };
	hdr(&f, VIRTIO_BLK_T_DISCARD, 0);
	assert_int_equal(run(blk, &f, seg, sizeof(seg), false, &w),
			 VIRTIO_BLK_S_OK);
	/* write zeroes sectors 4..5 with unmap */
	seg[0] = (struct dwz){ 4, 2, 1 };
	hdr(&f, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	assert_int_equal(run(blk, &f, seg, sizeof(seg[0]), false, &w),
			 VIRTIO_BLK_S_OK);
	int fd = open(img, O_RDONLY);
	assert_int_equal(pread(fd, back, sizeof(back), 0),
			 (ssize_t)sizeof(back));
	close(fd);
	for (int s = 0; s < 16; s++) {
		bool zero = s < 2 || s == 4 || s == 5 || s >= 8;
		assert_int_equal(back[s * 512], zero ? 0 : 0xab);
		assert_int_equal(back[s * 512 + 511], zero ? 0 : 0xab);
	}

	/* unmap flag on discard, unknown flags: UNSUPP (5.2.6.2) */
	seg[0] = (struct dwz){ 0, 1, 1 };
	hdr(&f, VIRTIO_BLK_T_DISCARD, 0);
	assert_int_equal(run(blk, &f, seg, sizeof(seg[0]), false, &w),
			 VIRTIO_BLK_S_UNSUPP);
	seg[0] = (struct dwz){ 0, 1, 2 };
	hdr(&f, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	assert_int_equal(run(blk, &f, seg, sizeof(seg[0]), false, &w),
			 VIRTIO_BLK_S_UNSUPP);
	/* out of range, bad payload size */
	seg[0] = (struct dwz){ 2040, 9, 0 };
	hdr(&f, VIRTIO_BLK_T_DISCARD, 0);
	assert_int_equal(run(blk, &f, seg, sizeof(seg[0]), false, &w),
			 VIRTIO_BLK_S_IOERR);
	hdr(&f, VIRTIO_BLK_T_DISCARD, 0);
	assert_int_equal(run(blk, &f, seg, 10, false, &w), VIRTIO_BLK_S_IOERR);
	hdr(&f, VIRTIO_BLK_T_DISCARD, 0);
	assert_int_equal(run(blk, &f, NULL, 0, false, &w), VIRTIO_BLK_S_IOERR);
	virtio_blk_destroy(blk);
}

static void test_readonly(void **state)
{
	struct virtio_blk *blk = make(true, "");
	const struct virtio_dev_ops *ops = virtio_blk_ops(blk);
	static uint8_t data[512];
	struct dwz seg = { 0, 1, 0 };
	struct fake f;
	uint32_t w;

	assert_true(ops->features & (1ull << VIRTIO_BLK_F_RO));
	assert_false(ops->features & (1ull << VIRTIO_BLK_F_DISCARD));
	memset(data, 0x55, sizeof(data));
	hdr(&f, VIRTIO_BLK_T_OUT, 0);
	assert_int_equal(run(blk, &f, data, 512, false, &w),
			 VIRTIO_BLK_S_IOERR);
	hdr(&f, VIRTIO_BLK_T_DISCARD, 0);
	assert_int_equal(run(blk, &f, &seg, sizeof(seg), false, &w),
			 VIRTIO_BLK_S_UNSUPP);
	hdr(&f, VIRTIO_BLK_T_IN, 0);
	assert_int_equal(run(blk, &f, data, 512, true, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(data[0], 0); /* nothing was written */
	/* a second read-only user may share the image; a writer may not */
	struct virtio_blk_config cfg = { 0 };
	struct error err = { 0 };
	strcpy(cfg.path, img);
	cfg.readonly = false;
	assert_null(virtio_blk_create(&cfg, &err));
	assert_int_equal(err.code, EBUSY);
	cfg.readonly = true;
	struct virtio_blk *b2 = virtio_blk_create(&cfg, &err);
	assert_non_null(b2);
	virtio_blk_destroy(b2);
	virtio_blk_destroy(blk);
}

static void test_config(void **state)
{
	struct virtio_blk *blk = make(false, "");
	const struct virtio_dev_ops *ops = virtio_blk_ops(blk);
	uint64_t cap = 0;
	uint32_t v = 0;
	uint8_t tail[8];

	assert_int_equal(ops->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(ops->n_queues, 1);
	assert_true(ops->features & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_true(ops->features & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(ops->features & (1ull << VIRTIO_BLK_F_RO));
	ops->config_read(blk, 0, &cap, 8);
	assert_int_equal(cap, IMG_SIZE / 512);
	ops->config_read(blk, 20, &v, 4);
	assert_int_equal(v, 512); /* blk_size */
	ops->config_read(blk, 12, &v, 4);
	assert_true(v >= 1); /* seg_max */
	memset(tail, 0xff, sizeof(tail));
	ops->config_read(blk, ops->config_size - 2, tail, sizeof(tail));
	for (int i = 2; i < 8; i++)
		assert_int_equal(tail[i], 0);
	ops->config_read(blk, 4096, tail, sizeof(tail));
	assert_int_equal(tail[0], 0);
	virtio_blk_destroy(blk);
}

/* ---- fake transport: what blk.c calls ---- */

struct virtio_dev {
	int dummy;
};

static pthread_mutex_t fk_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fk_cond = PTHREAD_COND_INITIALIZER;
static struct virtq_req *fk_avail[16];
static int fk_n_avail, fk_pop_error;
static int fk_pushed, fk_notified, fk_errors;
static uint16_t fk_push_head[16];
static struct virtio_dev fk_dev;

struct virtq *virtio_queue(struct virtio_dev *vd, unsigned q)
{
	return (struct virtq *)vd;
}

int virtq_pop(struct virtq *vq, struct virtq_req *req)
{
	int ret = 0;

	pthread_mutex_lock(&fk_lock);
	if (fk_pop_error) {
		ret = fk_pop_error;
	} else if (fk_n_avail) {
		*req = *fk_avail[0];
		memmove(fk_avail, fk_avail + 1, --fk_n_avail * sizeof(void *));
		ret = 1;
	}
	pthread_mutex_unlock(&fk_lock);
	return ret;
}

void virtq_push(struct virtq *vq, const struct virtq_req *req, uint32_t written)
{
	pthread_mutex_lock(&fk_lock);
	fk_push_head[fk_pushed++ % 16] = req->head;
	pthread_cond_broadcast(&fk_cond);
	pthread_mutex_unlock(&fk_lock);
}

void virtio_notify(struct virtio_dev *vd, unsigned q)
{
	pthread_mutex_lock(&fk_lock);
	fk_notified++;
	pthread_cond_broadcast(&fk_cond);
	pthread_mutex_unlock(&fk_lock);
}

void virtio_device_error(struct virtio_dev *vd, const char *what)
{
	pthread_mutex_lock(&fk_lock);
	fk_errors++;
	pthread_cond_broadcast(&fk_cond);
	pthread_mutex_unlock(&fk_lock);
}

bool virtio_broken(const struct virtio_dev *vd)
{
	return __atomic_load_n(&fk_errors, __ATOMIC_SEQ_CST) != 0;
}

static void wait_for(int *counter, int n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&fk_lock);
	while (*counter < n)
		if (pthread_cond_timedwait(&fk_cond, &fk_lock, &ts))
			break;
	pthread_mutex_unlock(&fk_lock);
	assert_true(*counter >= n);
}

static void test_threaded(void **state)
{
	struct virtio_blk *blk = make(false, "abc");
	const struct virtio_dev_ops *ops = virtio_blk_ops(blk);
	static struct fake f[3];
	static uint8_t data[4096], back[4096];
	struct dwz seg = { 16, 1, 0 }; /* discard sector 16 */

	memset(data, 0x5a, sizeof(data));
	hdr(&f[0], VIRTIO_BLK_T_OUT, 16);
	add(&f[0].req, f[0].hdr, 16, false);
	add(&f[0].req, data, sizeof(data), false);
	add(&f[0].req, &f[0].status, 1, true);
	f[0].req.head = 7;
	hdr(&f[1], VIRTIO_BLK_T_FLUSH, 0);
	add(&f[1].req, f[1].hdr, 16, false);
	add(&f[1].req, &f[1].status, 1, true);
	f[1].req.head = 8;
	hdr(&f[2], VIRTIO_BLK_T_DISCARD, 0);
	add(&f[2].req, f[2].hdr, 16, false);
	add(&f[2].req, &seg, sizeof(seg), false);
	add(&f[2].req, &f[2].status, 1, true);
	f[2].req.head = 9;

	ops->start(blk, &fk_dev);
	pthread_mutex_lock(&fk_lock);
	fk_avail[fk_n_avail++] = &f[0].req;
	pthread_mutex_unlock(&fk_lock);
	ops->queue_notify(blk, 0);
	wait_for(&fk_pushed, 1);
	assert_int_equal(fk_push_head[0], 7);
	assert_int_equal(f[0].status, VIRTIO_BLK_S_OK);

	pthread_mutex_lock(&fk_lock);
	fk_avail[fk_n_avail++] = &f[1].req;
	fk_avail[fk_n_avail++] = &f[2].req;
	pthread_mutex_unlock(&fk_lock);
	ops->queue_notify(blk, 0);
	wait_for(&fk_pushed, 3);
	assert_int_equal(f[1].status, VIRTIO_BLK_S_OK);
	assert_int_equal(f[2].status, VIRTIO_BLK_S_OK);
	wait_for(&fk_notified, 3);
	int fd = open(img, O_RDONLY);
	assert_int_equal(pread(fd, back, sizeof(back), 16 * 512),
			 (ssize_t)sizeof(back));
	close(fd);
	assert_int_equal(back[0], 0); /* sector 16 discarded */
	assert_int_equal(back[512], 0x5a);

	/* reset and start again */
	ops->reset(blk);
	ops->reset(blk);
	ops->start(blk, &fk_dev);

	/* a malformed ring: device error, nothing pushed */
	pthread_mutex_lock(&fk_lock);
	fk_pop_error = -EINVAL;
	pthread_mutex_unlock(&fk_lock);
	ops->queue_notify(blk, 0);
	wait_for(&fk_errors, 1);
	assert_int_equal(fk_pushed, 3);
	ops->reset(blk);
	virtio_blk_destroy(blk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_discard_zeroes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threaded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
