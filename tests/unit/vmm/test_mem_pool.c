/* Unit tests for the daemon's pool of shared frames (src/vmm/mem_pool.c):
 * offers are confirmed byte for byte against the VM's RAM memfd (a lying
 * hash or content changed since gets nothing), an unmatched offer is a
 * candidate whose VM gets a late answer when an equal offer comes,
 * references are counted per (VM, gfn) and only what a VM holds (in the
 * batch named) can be dropped, a frame whose last
 * reference goes is punched and reused, a VM's end or new RAM drops all of
 * its references, the workers' descriptor is read-only; and end to end
 * with two guest RAMs (gmem) sharing through the pool, a store breaks the
 * sharing of one and the pool frame and the other stay intact. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mem/gmem.h"
#include "vmm/mem_pool.h"
#include "../mem/share_owner.h"

#define PG     4096u
#define FRAMES 64u
#define NONE   GMEM_POOL_NONE
#define LIFT   GMEM_POOL_LIFT

/* Late answers the pool sent (mem_pool_vm_link), to whom. */
static struct late_log {
	void *to;
	uint32_t gen;
	struct gmem_pool_pair a;
} late[16];
static unsigned n_late;
static bool late_refuse; /* the link is full */

static bool late_rec(void *opaque, uint32_t gen, const struct gmem_pool_pair *a,
		     unsigned n)
{
	assert_int_equal(n, 1);
	if (late_refuse)
		return false;
	late[n_late % 16] = (struct late_log){ opaque, gen, a[0] };
	n_late++;
	return true;
}

/* A fake VM RAM: a memfd of FRAMES frames. */
static int ram_new(void)
{
	int fd = memfd_create("test-ram", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, FRAMES * PG), 0);
	return fd;
}

static void ram_fill(int fd, uint32_t gfn, uint8_t b)
{
	uint8_t buf[PG];

	for (unsigned i = 0; i < PG; i++)
		buf[i] = (uint8_t)(b ^ (i / 64));
	assert_int_equal(pwrite(fd, buf, PG, (off_t)gfn * PG), PG);
}

static uint64_t ram_hash(int fd, uint32_t gfn)
{
	uint8_t buf[PG];

	assert_int_equal(pread(fd, buf, PG, (off_t)gfn * PG), PG);
	return gmem_pool_hash(buf);
}

static struct mem_pool_vm *vm_with_ram(struct mem_pool *pool, int *fd)
{
	struct error err = { 0 };
	struct mem_pool_vm *vm = mem_pool_vm_new(pool);

	assert_non_null(vm);
	mem_pool_vm_link(vm, late_rec, vm);
	*fd = ram_new();
	assert_int_equal(mem_pool_vm_ram(vm, dup(*fd), FRAMES * PG, 1, &err),
			 0);
	return vm;
}

/* One offer in batch 7 (the batch is echoed in the answer). */
static uint32_t offer1(struct mem_pool_vm *vm, uint32_t gfn, uint64_t h)
{
	struct gmem_pool_offer o = { gfn, 0, h };
	struct gmem_pool_pair a = { 0, 0, 0, 0 };

	assert_int_equal(mem_pool_offer(vm, 1, 7, &o, 1, &a), 1);
	assert_int_equal(a.gfn, gfn);
	assert_int_equal(a.batch, 7);
	return a.frame;
}

static struct mem_pool_stats pstats(struct mem_pool *pool)
{
	struct mem_pool_stats st;

	mem_pool_stats(pool, &st);
	return st;
}

static void test_confirm_and_refcount(void **state)
{
	struct error err = { 0 };
	struct mem_pool *pool = mem_pool_create(1024, &err);
	int fa, fb, fc;
	struct mem_pool_vm *a, *b, *c;
	uint32_t f0, f1;

	(void)state;
	assert_non_null(pool);
	a = vm_with_ram(pool, &fa);
	b = vm_with_ram(pool, &fb);
	c = vm_with_ram(pool, &fc);
	ram_fill(fa, 5, 0x11);
	ram_fill(fb, 9, 0x11);
	ram_fill(fc, 2, 0x22);

	/* the first offer of a content finds nothing (a candidate), the
	 * second one the first: a new frame with the bytes (read here, not
	 * sent), and a late answer for the first, with its reference */
	n_late = 0;
	assert_int_equal(offer1(a, 5, ram_hash(fa, 5)), NONE);
	assert_int_equal(pstats(pool).candidates, 1);
	f0 = offer1(b, 9, ram_hash(fb, 9));
	assert_int_not_equal(f0, NONE);
	assert_int_equal(pstats(pool).candidates, 0);
	assert_int_equal(n_late, 1);
	assert_ptr_equal(late[0].to, a);
	assert_int_equal(late[0].gen, 1);
	assert_int_equal(late[0].a.gfn, 5);
	assert_int_equal(late[0].a.frame, f0);
	assert_int_equal(late[0].a.batch, 7);
	assert_int_equal(pstats(pool).refs, 2);
	/* offered again (its worker refused the late answer, written the
	 * same bytes back): the old reference goes, a new one comes */
	assert_int_equal(offer1(a, 5, ram_hash(fa, 5)), f0);
	assert_int_equal(pstats(pool).frames, 1);
	assert_int_equal(pstats(pool).refs, 2);
	assert_int_equal(pstats(pool).saved_bytes, PG);
	assert_int_equal(mem_pool_vm_refs(a), 1);

	/* a lying hash: c claims its other page is the shared one */
	assert_int_equal(offer1(c, 2, ram_hash(fa, 5)), NONE);
	assert_true(pstats(pool).mismatches >= 1);
	/* the same content under a wrong hash is not believed either */
	ram_fill(fc, 3, 0x11);
	assert_int_equal(offer1(c, 3, 12345), NONE);
	assert_int_equal(offer1(b, 10, 12345), NONE); /* candidate: c's */
	assert_int_equal(pstats(pool).frames, 1);
	/* content changed after the candidate was offered */
	ram_fill(fa, 7, 0x33);
	assert_int_equal(offer1(a, 7, ram_hash(fa, 7)), NONE);
	uint64_t h33 = ram_hash(fa, 7);
	ram_fill(fa, 7, 0x34);
	ram_fill(fb, 7, 0x33);
	assert_int_equal(offer1(b, 7, h33), NONE);
	/* gfns past the RAM are skipped; another gen answers nothing */
	struct gmem_pool_offer bad[2] = { { FRAMES, 0, 1 }, { 5, 0, 1 } };
	struct gmem_pool_pair ans[2];
	assert_int_equal(mem_pool_offer(a, 1, 7, bad, 1, ans), 0);
	assert_int_equal(mem_pool_offer(a, 2, 7, bad + 1, 1, ans), 0);
	assert_int_equal(mem_pool_vm_refs(a), 1);

	/* c shares too: three references to one frame */
	ram_fill(fc, 4, 0x11);
	assert_int_equal(offer1(c, 4, ram_hash(fc, 4)), f0);
	assert_int_equal(pstats(pool).refs, 3);
	/* drops: only what the VM holds, by gfn, frame and batch */
	struct gmem_pool_pair d[4] = { { 4, f0 + 1, 7, 0 },
				       { 9, f0, 7, 0 },
				       { 63, f0, 7, 0 },
				       { 4, f0, 6, 0 } };
	/* wrong frame, not c's gfn, none, an older batch's (a refused late
	 * answer must not drop what a newer offer took) */
	mem_pool_drop(c, 1, d, 4);
	assert_int_equal(pstats(pool).refs, 3);
	mem_pool_drop(c, 2, (struct gmem_pool_pair[]){ { 4, f0, 7, 0 } }, 1);
	assert_int_equal(pstats(pool).refs, 3); /* another gen */
	mem_pool_drop(c, 1, (struct gmem_pool_pair[]){ { 4, f0, 7, 0 } }, 1);
	assert_int_equal(pstats(pool).refs, 2);
	/* re-offering a gfn drops what it mapped (it is private again) */
	assert_int_equal(offer1(a, 5, ram_hash(fa, 5)), f0);
	assert_int_equal(pstats(pool).refs, 2);

	/* the last references go: the frame is punched and reused */
	int ro = mem_pool_ro_fd(pool);
	struct stat sb;
	assert_true(ro >= 0);
	assert_int_equal(fstat(ro, &sb), 0);
	assert_true(sb.st_blocks >= (blkcnt_t)(PG / 512));
	mem_pool_vm_free(b); /* all of b's */
	assert_int_equal(pstats(pool).refs, 1);
	mem_pool_drop(a, 1, (struct gmem_pool_pair[]){ { 5, f0, 7, 0 } }, 1);
	assert_int_equal(pstats(pool).frames, 0);
	assert_int_equal(pstats(pool).refs, 0);
	assert_int_equal(fstat(ro, &sb), 0);
	assert_int_equal(sb.st_blocks, 0);
	ram_fill(fc, 8, 0x55);
	ram_fill(fa, 8, 0x55);
	/* c's link is full: its late answer is lost, and so is the
	 * reference it would have held */
	late_refuse = true;
	assert_int_equal(offer1(c, 8, ram_hash(fc, 8)), NONE);
	f1 = offer1(a, 8, ram_hash(fa, 8));
	late_refuse = false;
	assert_int_equal(f1, f0); /* reused */
	assert_int_equal(pstats(pool).refs, 1);
	uint8_t want[PG], got[PG];
	assert_int_equal(pread(fa, want, PG, 8 * PG), PG);
	assert_int_equal(pread(ro, got, PG, (off_t)f1 * PG), PG);
	assert_memory_equal(got, want, PG);

	/* a new RAM (a reboot) drops the old one's references */
	assert_int_equal(mem_pool_vm_ram(a, ram_new(), FRAMES * PG, 2, &err),
			 0);
	assert_int_equal(mem_pool_vm_refs(a), 0);
	assert_int_equal(pstats(pool).frames, 0);

	close(ro);
	close(fa);
	close(fb);
	close(fc);
	mem_pool_vm_free(a);
	mem_pool_vm_free(c);
	mem_pool_destroy(pool);
}

/* What a worker gets cannot write the pool; a RAM that is not a memfd of
 * the size claimed is refused. */
static void test_read_only_and_bad_ram(void **state)
{
	struct error err = { 0 };
	struct mem_pool *pool = mem_pool_create(16, &err);
	struct mem_pool_vm *vm;
	int ro, fd;
	char path[] = "/tmp/test-mem-pool-XXXXXX";

	(void)state;
	assert_non_null(pool);
	ro = mem_pool_ro_fd(pool);
	assert_true(ro >= 0);
	assert_true(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) ==
		    MAP_FAILED);
	assert_int_equal(errno, EACCES);
	void *p = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(mprotect(p, PG, PROT_READ | PROT_WRITE), -1);
	munmap(p, PG);
	assert_int_equal(fallocate(ro,
				   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   0, PG),
			 -1);
	assert_int_equal(pwrite(ro, "x", 1, 0), -1);
	assert_int_equal(ftruncate(ro, 0), -1);
	/* the inode refuses writers too (unless the opener may override
	 * permissions: root) */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", ro);
	if (geteuid() != 0)
		assert_int_equal(open(path, O_RDWR), -1);
	close(ro);

	vm = mem_pool_vm_new(pool);
	fd = mkstemp((char[]){ "/tmp/test-mem-pool-XXXXXX" });
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, FRAMES * PG), 0);
	assert_int_equal(mem_pool_vm_ram(vm, fd, FRAMES * PG, 1, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "memfd"));
	assert_int_equal(
		mem_pool_vm_ram(vm, ram_new(), 2 * FRAMES * PG, 1, &err),
		-EINVAL);
	/* without a RAM, offers are not answered */
	struct gmem_pool_offer o = { 0, 0, 0 };
	struct gmem_pool_pair a;
	assert_int_equal(mem_pool_offer(vm, 1, 7, &o, 1, &a), 0);
	mem_pool_vm_free(vm);
	mem_pool_destroy(pool);
}

/* A VM whose worker runs on without the daemon (vmproc_detach) is
 * forgotten with its references kept: the frame it maps is neither
 * punched nor reused when the other VMs drop theirs. */
static void test_leave_keeps_frames(void **state)
{
	struct error err = { 0 };
	struct mem_pool *pool = mem_pool_create(FRAMES, &err);
	int fa, fb;

	(void)state;
	assert_non_null(pool);
	struct mem_pool_vm *a = vm_with_ram(pool, &fa);
	struct mem_pool_vm *b = vm_with_ram(pool, &fb);
	ram_fill(fa, 3, 0x5a);
	ram_fill(fb, 7, 0x5a);
	assert_int_equal(offer1(a, 3, ram_hash(fa, 3)), NONE);
	uint32_t f = offer1(b, 7, ram_hash(fb, 7));
	assert_int_not_equal(f, NONE);
	assert_int_equal(pstats(pool).refs, 2); /* a's by a late answer */

	mem_pool_vm_leave(a);
	mem_pool_vm_free(b);
	assert_int_equal(pstats(pool).frames, 1);
	assert_int_equal(pstats(pool).refs, 1);
	/* its content is still there, read as the worker reads it */
	int ro = mem_pool_ro_fd(pool);
	uint8_t got[PG], want[PG];
	assert_int_equal(pread(ro, got, PG, (off_t)f * PG), PG);
	assert_int_equal(pread(fa, want, PG, 3 * PG), PG);
	assert_memory_equal(got, want, PG);
	/* a new frame goes elsewhere */
	struct mem_pool_vm *c = vm_with_ram(pool, &fb);
	ram_fill(fb, 1, 0x11);
	ram_fill(fb, 2, 0x11);
	assert_int_equal(offer1(c, 1, ram_hash(fb, 1)), NONE);
	uint32_t g = offer1(c, 2, ram_hash(fb, 2));
	assert_int_not_equal(g, NONE);
	assert_int_not_equal(g, f);
	assert_int_equal(pread(ro, got, PG, (off_t)f * PG), PG);
	assert_memory_equal(got, want, PG);

	close(ro);
	close(fa);
	close(fb);
	mem_pool_vm_free(c);
	mem_pool_vm_leave(NULL);
	mem_pool_destroy(pool);
}

/* End to end: two guest RAMs with the same content share it through the
 * pool (the worker side from src/mem, the daemon side here, the
 * messages replaced by calls); a store in one breaks its sharing only. */
struct e2e {
	struct gmem *gm;
	struct mem_pool_vm *vm;
	struct gmem_pool_pair ans[GMEM_SHARE_BATCH];
	unsigned late_msgs, late_pairs;
};

static bool e2e_offer(void *opaque, uint32_t gen, uint32_t batch,
		      const struct gmem_pool_offer *o, unsigned n)
{
	struct e2e *e = opaque;
	unsigned k = mem_pool_offer(e->vm, gen, batch, o, n, e->ans);

	for (unsigned i = 0; i < k; i++)
		(void)gmem_pool_answer(e->gm, gen, e->ans[i].batch,
				       e->ans[i].gfn, e->ans[i].frame);
	return true;
}

/* A late answer: at once, as the worker's link thread would. */
static bool e2e_late(void *opaque, uint32_t gen, const struct gmem_pool_pair *a,
		     unsigned n)
{
	struct e2e *e = opaque;

	e->late_msgs++;
	e->late_pairs += n;
	for (unsigned i = 0; i < n; i++)
		(void)gmem_pool_answer(e->gm, gen, a[i].batch, a[i].gfn,
				       a[i].frame);
	return true;
}

static void e2e_drop(void *opaque, uint32_t gen, const struct gmem_pool_pair *d,
		     unsigned n)
{
	struct e2e *e = opaque;

	mem_pool_drop(e->vm, gen, d, n);
}

static void test_two_guests(void **state)
{
	struct error err = { 0 };
	struct mem_pool *pool = mem_pool_create(1024, &err);
	struct e2e e[2];
	const struct gmem_share_ops sops = { no_flush, always_flushed, NULL };
	struct gmem_share *s[2];
	int ro = mem_pool_ro_fd(pool);
	const uint8_t *base;
	const uint64_t base_gpa = 0x80000000ULL;

	(void)state;
	base = mmap(NULL, 1024 * PG, PROT_READ, MAP_SHARED, ro, 0);
	assert_true(base != MAP_FAILED);
	close(ro);
	for (unsigned i = 0; i < 2; i++) {
		e[i].gm = gmem_create(base_gpa, FRAMES * PG, &err);
		assert_non_null(e[i].gm);
		e[i].vm = mem_pool_vm_new(pool);
		e[i].late_msgs = e[i].late_pairs = 0;
		mem_pool_vm_link(e[i].vm, e2e_late, &e[i]);
		assert_int_equal(mem_pool_vm_ram(e[i].vm,
						 dup(gmem_ram_fd(e[i].gm)),
						 FRAMES * PG, 1, &err),
				 0);
		struct gmem_pool_ops ops = { e2e_offer, e2e_drop, &e[i] };
		gmem_pool_attach(e[i].gm, base, 1024, 1, &ops);
		s[i] = calloc(1, sizeof(*s[i]));
		/* 32 frames alike in both, 8 of each its own */
		for (uint64_t g = 0; g < 40; g++) {
			uint8_t buf[PG];
			memset(buf,
			       g < 32 ? (int)(g + 1) : (int)(100 * i + g + 50),
			       PG);
			assert_int_equal(
				gmem_write(e[i].gm, base_gpa + g * PG, buf, PG),
				0);
		}
	}
	/* one pass each: the first VM's offers are candidates (they stay
	 * offered), the second VM's match them and the first VM gets late
	 * answers for its frames; a second pass offers nothing again */
	for (unsigned pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < 2; i++)
			for (unsigned k = 0; k < 4; k++)
				(void)gmem_share_step(e[i].gm, s[i], &sops,
						      k == 0 ? FRAMES : 0);
	struct gmem_stats g0, g1;
	gmem_get_stats(e[0].gm, &g0);
	gmem_get_stats(e[1].gm, &g1);
	assert_int_equal(g0.pool_offered, 40);
	assert_int_equal(g1.pool_offered, 40);
	assert_int_equal(pstats(pool).candidates, 16);
	/* the 32 late answers of one round of offers: one message */
	assert_int_equal(e[0].late_msgs, 1);
	assert_int_equal(e[0].late_pairs, 32);
	assert_int_equal(e[1].late_msgs, 0);
	assert_int_equal(g0.frames_pool_shared, 32);
	assert_int_equal(g1.frames_pool_shared, 32);
	assert_int_equal(g0.frames_private, 8);
	assert_int_equal(pstats(pool).frames, 32);
	assert_int_equal(pstats(pool).refs, 64);
	assert_int_equal(pstats(pool).saved_bytes, 32 * PG);
	assert_int_equal(mem_pool_vm_refs(e[0].vm), 32);

	/* a store into guest 0's frame 5: its own copy from now on */
	uint8_t v = 0xee, got[PG], want[PG];
	assert_int_equal(gmem_write(e[0].gm, base_gpa + 5 * PG + 9, &v, 1), 0);
	(void)gmem_share_step(e[0].gm, s[0], &sops, 0); /* drops sent */
	assert_int_equal(pstats(pool).refs, 63);
	assert_int_equal(mem_pool_vm_refs(e[0].vm), 31);
	memset(want, 6, PG);
	assert_int_equal(gmem_read(e[1].gm, base_gpa + 5 * PG, got, PG), 0);
	assert_memory_equal(got, want, PG);
	want[9] = 0xee;
	assert_int_equal(gmem_read(e[0].gm, base_gpa + 5 * PG, got, PG), 0);
	assert_memory_equal(got, want, PG);

	/* guest 1 ends: its references go, the frames stay for guest 0 */
	mem_pool_vm_free(e[1].vm);
	gmem_destroy(e[1].gm);
	assert_int_equal(pstats(pool).refs, 31);
	assert_int_equal(pstats(pool).frames, 31);
	assert_int_equal(gmem_read(e[0].gm, base_gpa + 6 * PG, got, PG), 0);
	memset(want, 7, PG);
	assert_memory_equal(got, want, PG);
	mem_pool_vm_free(e[0].vm);
	gmem_destroy(e[0].gm);
	assert_int_equal(pstats(pool).frames, 0);
	munmap((void *)(uintptr_t)base, 1024 * PG);
	free(s[0]);
	free(s[1]);
	mem_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confirm_and_refcount),
		cmocka_unit_test(test_read_only_and_bad_ram),
		cmocka_unit_test(test_leave_keeps_frames),
		cmocka_unit_test(test_two_guests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
