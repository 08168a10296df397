/*
 * Crash consistency of qcow2 (docs/block.md, "Crash consistency"): a child
 * process writes, zeroes and discards at random on one qcow2 image and
 * flushes every few requests, telling the parent over a pipe how far each
 * flush reached; the parent SIGKILLs it at a random point, N times in a
 * row on the same image (QCOW2_CRASH_N, default 10; QCOW2_CRASH_CLUSTER=512
 * makes the image with qemu-img and that cluster size, so metadata grows
 * while the writer runs). After every kill:
 *   - the image checks without corruption (image_check, and qemu-img check
 *     if installed: exit 0, or 3 = leaks only);
 *   - every sector holds what the last write acknowledged before the last
 *     completed flush put there, or what a later (unacknowledged) request
 *     of the killed run put there, never anything else. Each written
 *     sector carries a stamp (request id, sector number), so data in the
 *     wrong place is caught too.
 * The kill time is random; nothing asserts on time.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "block/image.h"

#define DISK	    (16u << 20)
#define SECT	    512u
#define NSECT	    (DISK / SECT)
#define CS	    65536u
#define OPS	    4000 /* planned requests per run */
#define FLUSH_EVERY 6

enum { OP_WRITE, OP_ZERO, OP_DISCARD };

struct op {
	int type;
	uint32_t sect, n; /* sectors */
};

static void die(const char *fmt, ...) SV_PRINTF(1, 2);

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "test_qcow2_crash: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* The requests of run `run` (same sequence in parent and child). */
static void plan(unsigned run, struct op *ops)
{
	unsigned seed = 1000 + run;

	for (int i = 0; i < OPS; i++) {
		int t = rand_r(&seed) % 10;
		struct op *o = &ops[i];

		o->type = t < 8 ? OP_WRITE : t < 9 ? OP_ZERO : OP_DISCARD;
		o->n = (uint32_t)(rand_r(&seed) % 256) + 1;
		o->sect = (uint32_t)rand_r(&seed) % NSECT;
		if (o->type == OP_DISCARD) {
			/* whole clusters: discard then reads zeros */
			o->sect = o->sect / (CS / SECT) * (CS / SECT);
			o->n = ((o->n + CS / SECT - 1) / (CS / SECT)) *
			       (CS / SECT);
		}
		if (o->sect + o->n > NSECT)
			o->n = NSECT - o->sect;
	}
}

/* Request id of op i of run r as stored in a sector (0 = zeros). */
static uint32_t stamp_id(unsigned run, int i)
{
	return run * 65536u + (uint32_t)i + 1;
}

static void stamp(uint8_t *p, uint32_t id, uint32_t lba)
{
	memcpy(p, &id, 4);
	memcpy(p + 4, &lba, 4);
	for (unsigned k = 8; k < SECT; k++)
		p[k] = (uint8_t)(id * 13 + lba * 7 + k);
}

/* The id a sector holds: 0 for zeros, UINT32_MAX for garbage. */
static uint32_t decode(const uint8_t *p, uint32_t lba)
{
	uint8_t want[SECT];
	uint32_t id;
	bool zero = true;

	for (unsigned k = 0; k < SECT && zero; k++)
		zero = !p[k];
	if (zero)
		return 0;
	memcpy(&id, p, 4);
	stamp(want, id, lba);
	return memcmp(p, want, SECT) ? UINT32_MAX : id;
}

static void child(const char *path, unsigned run, int fd)
{
	static struct op ops[OPS];
	static uint8_t buf[256 * SECT];
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(path, "qcow2", false, &err);

	if (!bd) {
		fprintf(stderr, "child: %s\n", err.msg);
		_exit(3);
	}
	plan(run, ops);
	for (int i = 0; i < OPS; i++) {
		struct op *o = &ops[i];
		struct iovec v = { buf, (size_t)o->n * SECT };
		uint64_t off = (uint64_t)o->sect * SECT;
		int r;

		if (o->type == OP_WRITE) {
			for (uint32_t s = 0; s < o->n; s++)
				stamp(buf + s * SECT, stamp_id(run, i),
				      o->sect + s);
			r = blockdev_writev(bd, &v, 1, off);
		} else if (o->type == OP_ZERO) {
			r = blockdev_write_zeroes(bd, off, v.iov_len, i & 1);
		} else {
			r = blockdev_discard(bd, off, v.iov_len);
		}
		if (r < 0) {
			fprintf(stderr, "child: op %d: %s\n", i, strerror(-r));
			_exit(4);
		}
		if (i % FLUSH_EVERY == FLUSH_EVERY - 1) {
			int32_t done = i;

			if (blockdev_flush(bd) < 0)
				_exit(5);
			if (write(fd, &done, 4) != 4)
				_exit(6);
		}
	}
	blockdev_close(bd);
	_exit(0);
}

/* Sector states after the kill of run `run` whose last flush covered
 * requests 0..acked: check, then adopt what is on disk. */
static void verify(const char *path, unsigned run, int acked, uint32_t *state)
{
	static struct op ops[OPS];
	static uint8_t buf[NSECT / 64 * SECT];
	struct error err = { 0 };
	struct blockdev *bd = blockdev_open(path, "qcow2", true, &err);
	uint32_t chunk = NSECT / 64;

	if (!bd)
		die("after the kill of run %u: %s", run, err.msg);
	plan(run, ops);
	for (int i = 0; i <= acked && i < OPS; i++)
		for (uint32_t s = ops[i].sect; s < ops[i].sect + ops[i].n; s++)
			state[s] = ops[i].type == OP_WRITE ? stamp_id(run, i)
							   : 0;
	for (uint32_t base = 0; base < NSECT; base += chunk) {
		struct iovec v = { buf, (size_t)chunk * SECT };

		if (blockdev_readv(bd, &v, 1, (uint64_t)base * SECT) < 0)
			die("read failed (run %u)", run);
		for (uint32_t s = base; s < base + chunk; s++) {
			uint32_t got = decode(buf + (s - base) * SECT, s);
			bool ok = got == state[s];

			/* or a later, unacknowledged request of this run */
			for (int i = acked + 1; !ok && i < OPS; i++)
				if (s >= ops[i].sect &&
				    s < ops[i].sect + ops[i].n)
					ok = got == (ops[i].type == OP_WRITE
							     ? stamp_id(run, i)
							     : 0);
			if (!ok) {
				fprintf(stderr,
					"run %u (acked through %d): sector %u "
					"holds 0x%x, expected 0x%x\n",
					run, acked, s, got, state[s]);
				exit(1);
			}
			state[s] = got;
		}
	}
	blockdev_close(bd);
}

int main(void)
{
	const char *n_env = getenv("QCOW2_CRASH_N");
	int n = n_env ? atoi(n_env) : 10;
	const char *c_env = getenv("QCOW2_CRASH_CLUSTER");
	int cluster = c_env ? atoi(c_env) : 0;
	bool qemu = system("qemu-img --version >/dev/null 2>&1") == 0;
	static uint32_t state[NSECT];
	char dir[] = "/tmp/sv-test-crash-XXXXXX", path[64], cmd[160];
	struct error err = { 0 };
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int kills = 0;

	if (!mkdtemp(dir))
		die("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/crash.qcow2", dir);
	if (cluster) {
		/* small clusters (qemu-img): refcount blocks and the refcount
		 * table grow during the runs, so kills land in those too */
		if (!qemu) {
			printf("# skipped: QCOW2_CRASH_CLUSTER needs "
			       "qemu-img\n");
			return 77;
		}
		snprintf(cmd, sizeof(cmd),
			 "qemu-img create -q -f qcow2 -o cluster_size=%d %s %u",
			 cluster, path, DISK);
		if (system(cmd) != 0)
			die("%s failed", cmd);
	} else if (image_create(path, "qcow2", DISK, NULL, &err) < 0) {
		die("%s", err.msg);
	}
	printf("# %d runs, seed %u, qemu-img %s\n", n, seed,
	       qemu ? "present" : "absent (own check only)");
	for (int run = 1; run <= n; run++) {
		struct image_check res;
		int p[2], st, acked = -1;
		int32_t a;
		pid_t pid;

		if (pipe(p) < 0)
			die("pipe: %s", strerror(errno));
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			child(path, (unsigned)run, p[1]);
		}
		close(p[1]);
		/* random point: 0..400 ms into the run */
		usleep((useconds_t)(rand_r(&seed) % 400000));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		while (read(p[0], &a, 4) == 4)
			acked = a;
		close(p[0]);
		if (WIFSIGNALED(st))
			kills++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("run %d: the writer failed", run);
		if (image_check(path, stderr, &res, &err) < 0)
			die("%s (run %d)", err.msg, run);
		if (res.corruptions)
			die("run %d: corruption after the kill", run);
		if (qemu) {
			snprintf(cmd, sizeof(cmd), "qemu-img check -q %s",
				 path);
			st = system(cmd);
			if (!WIFEXITED(st) ||
			    (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3))
				die("run %d: qemu-img check failed", run);
		}
		verify(path, (unsigned)run, acked, state);
		printf("ok run %d: acked through request %d, %llu leaks\n", run,
		       acked, (unsigned long long)res.leaks);
	}
	printf("# %d of %d runs killed mid-way\n", kills, n);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return 0;
}
