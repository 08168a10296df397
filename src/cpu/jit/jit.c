/*
 * The translator's host-independent part (docs/jit.md): the code cache,
 * hotness, linking of block exits, and running a single instruction through
 * the interpreter for everything the backend leaves out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cpu/exec.h"
#include "cpu/jit/jit_impl.h"
#include "util/log.h"
#include "util/prefault.h"

/* Sentinel after a single instruction: the handler's NEXT_INSN lands here
 * and returns, telling jit_exec_one that the block goes on. */
static void op_jit_stop(struct hart *h, const struct insn *in)
{
	(void)in;
	h->jit_continue = true;
}

/* Translated code counts only jit_left down; credit what it ran to
 * instret and budget, so that C code sees the interpreter's values. */
#define JIT_STOP (1LL << 40)

static inline void jit_sync(struct hart *h)
{
	int64_t ran = h->jit_left0 - h->jit_left;
	h->s.instret += (uint64_t)ran;
	h->budget -= ran;
	h->jit_left0 = h->jit_left;
}

uint32_t jit_exec_one(struct hart *h, const struct insn *in)
{
	/* a copy of the instruction followed by the stop sentinel; the
	 * handler may read in[1].pc_off, idx (block end conventions) */
	struct insn pair[2];
	pair[0] = *in;
	memset(&pair[1], 0, sizeof(pair[1]));
	pair[1].fn = op_jit_stop;
	pair[1].op = OP_ILLEGAL;
	pair[1].pc_off = (uint16_t)(in->pc_off + in->len);
	pair[1].idx = (uint16_t)(in->idx + 1);
	jit_sync(h);
	uint64_t epoch = h->bc.epoch;
	h->jit_continue = false;
	pair->fn(h, pair);
	if (!h->jit_continue)
		return 0;
	/* a store into a code page (not this block's, else the handler
	 * ended it): the block goes on, as in the interpreter, but the
	 * next block must be revalidated by the dispatcher, not reached
	 * through a link. Shifting both ends of the countdown makes the
	 * next chained entry bail without changing what jit_sync credits. */
	if (unlikely(h->bc.epoch != epoch)) {
		h->jit_left -= JIT_STOP;
		h->jit_left0 -= JIT_STOP;
	}
	return 1;
}

void jit_exec_rest(struct hart *h, const struct insn *in)
{
	jit_sync(h);
	in->fn(h, in);
}

uint32_t jit_new_exit(struct jit *j, uint32_t site, uint64_t from_page,
		      uint32_t target_off)
{
	if (j->exits_used >= JIT_LINKS)
		return 0;
	struct jit_exit *x = &j->exits[j->exits_used];
	x->site = site;
	x->from_page = from_page;
	x->target_off = target_off;
	return (uint32_t)j->exits_used++;
}

static void jc_clear(struct jit *j)
{
	memset(j->jc, 0xff, sizeof(j->jc));
}

/* The pinned registers before the first samples: a5, sp, a4, a0, s0, a3,
 * a1, a2, the most used by static count in Debian's riscv64 libc. */
static const uint8_t default_pin[JIT_PINNED] = { 15, 2, 14, 10, 8, 13, 11, 12 };

/* The dispatcher's entry and exits, which load and store j->pin, at the
 * start of the (empty) code cache. */
static void emit_stubs(struct jit *j)
{
	j->used = 0;
	jit_be_stubs(j);
	j->stubs_end = j->used;
}

int jit_create(struct hart *h)
{
	struct jit *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->exits = calloc(JIT_LINKS, sizeof(*j->exits));
	j->linked = calloc(JIT_LINKS, sizeof(*j->linked));
	j->fd = memfd_create("softvisor-jit", MFD_CLOEXEC);
	int err = 0;
	if (!j->exits || !j->linked)
		err = -ENOMEM;
	else if (j->fd < 0 || ftruncate(j->fd, JIT_CODE_SIZE) < 0)
		err = -errno;
	if (!err) {
		void *rw = mmap(NULL, JIT_CODE_SIZE, PROT_READ | PROT_WRITE,
				MAP_SHARED, j->fd, 0);
		void *rx = mmap(NULL, JIT_CODE_SIZE, PROT_READ | PROT_EXEC,
				MAP_SHARED, j->fd, 0);
		if (rw == MAP_FAILED || rx == MAP_FAILED) {
			err = -errno;
			if (rw != MAP_FAILED)
				munmap(rw, JIT_CODE_SIZE);
			if (rx != MAP_FAILED)
				munmap(rx, JIT_CODE_SIZE);
		} else {
			j->rw = rw;
			j->rx = rx;
		}
	}
	if (err) {
		if (j->fd >= 0)
			close(j->fd);
		free(j->exits);
		free(j->linked);
		free(j);
		return err;
	}
	memcpy(j->pin, default_pin, sizeof(j->pin));
	j->repin_samples = JIT_REPIN_SAMPLES;
	const char *rs = getenv("SV_JIT_REPIN_SAMPLES");
	if (rs && atoi(rs) > 0)
		j->repin_samples = (uint32_t)atoi(rs);
	emit_stubs(j);
	j->committed = (j->used + 4095) & ~(size_t)4095;
	j->exits_used = 1;
	jc_clear(j);
	h->jit = j;
	h->jit_jc = j->jc;
	h->jit_gen = 1;
	h->jit_hot = JIT_HOT;
	const char *hot = getenv("SV_JIT_HOT");
	if (hot && atoi(hot) > 0)
		h->jit_hot = (uint32_t)atoi(hot);
	h->jit_link = 0;
	const char *pm = getenv("SV_JIT_PERFMAP");
	if (pm && *pm == '1') {
		char path[64];
		snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
		j->perfmap = fopen(path, "a");
		if (!j->perfmap)
			log_warn("cpu", "%s: cannot open the perf map", path);
	}
	return 0;
}

void jit_perfmap(struct jit *j, uint32_t start, uint32_t end, const char *name)
{
	if (end > start)
		fprintf(j->perfmap, "%lx %x %s\n",
			(unsigned long)(uintptr_t)(j->rx + start), end - start,
			name);
}

void jit_destroy(struct hart *h)
{
	struct jit *j = h->jit;
	if (!j)
		return;
	if (j->perfmap) {
		/* and the code (of the current generation) beside it, for
		 * objdump -b binary --adjust-vma=<the first line's address> */
		char path[64];
		snprintf(path, sizeof(path), "/tmp/perf-%d.code",
			 (int)getpid());
		FILE *f = fopen(path, "w");
		if (f) {
			fprintf(j->perfmap, "%lx 0 jit:code-base\n",
				(unsigned long)(uintptr_t)j->rx);
			fwrite(j->rw, 1, j->used, f);
			fclose(f);
		}
		fclose(j->perfmap);
	}
	munmap(j->rw, JIT_CODE_SIZE);
	munmap((void *)j->rx, JIT_CODE_SIZE);
	close(j->fd);
	free(j->exits);
	free(j->linked);
	free(j);
	h->jit = NULL;
}

void jit_flush(struct hart *h)
{
	struct jit *j = h->jit;
	if (!j)
		return;
	j->used = j->stubs_end;
	j->exits_used = 1;
	j->n_linked = 0;
	jc_clear(j);
	j->stats.flushes++;
	j->gen_blocks = 0;
	h->jit_gen++; /* every block's translation is now stale */
	h->jit_link = 0;
}

/* Pin the JIT_PINNED guest registers the samples used most, if they
 * were used enough more than the pinned ones (see jit_impl.h): a flush
 * and new stubs. */
static void repin(struct hart *h, struct jit *j)
{
	uint8_t best[JIT_PINNED];
	bool taken[32] = { [0] = true };
	uint64_t w_best = 0, w_cur = 0;
	uint32_t mask = 0;
	for (unsigned k = 0; k < JIT_PINNED; k++) {
		unsigned g = 0;
		for (unsigned r = 1; r < 32; r++)
			if (!taken[r] && (!g || j->use[r] > j->use[g]))
				g = r;
		taken[g] = true;
		best[k] = (uint8_t)g;
		mask |= 1u << g;
		w_best += j->use[g];
		w_cur += j->use[j->pin[k]];
	}
	/* the gain, in accesses per instruction x 256 */
	uint64_t gain = (w_best - w_cur) / j->weight;
	bool worth = w_best > w_cur + w_cur / JIT_REPIN_GAIN &&
		     gain >= 1u << JIT_REPIN_MIN_SHIFT &&
		     gain * JIT_REPIN_PAYBACK >= j->gen_blocks;
	/* and the same set won the period before: not a passing phase */
	bool again = worth && mask == j->candidate;
	j->candidate = worth ? mask : 0;
	if (again) {
		_Static_assert(JIT_PINNED == 8, "the log names eight");
		log_debug(
			"cpu",
			"hart %llu: new pinned registers x%u x%u x%u x%u "
			"x%u x%u x%u x%u (%llu/256 fewer accesses to the hart "
			"per instruction; %llu blocks to translate again)",
			(unsigned long long)h->hartid, best[0], best[1],
			best[2], best[3], best[4], best[5], best[6], best[7],
			(unsigned long long)gain,
			(unsigned long long)j->gen_blocks);
		memcpy(j->pin, best, sizeof(j->pin));
		jit_flush(h);
		emit_stubs(j);
		j->stats.repins++;
	}
	/* older samples count half in the next choice */
	for (unsigned r = 0; r < 32; r++)
		j->use[r] /= 2;
	j->weight /= 2;
	j->samples = 0;
}

/* The block b that the dispatcher enters after the countdown ran out:
 * its profile is one sample of what the guest runs. False when a new
 * pinned set left b without a translation. */
static bool sample(struct hart *h, struct jit *j, struct block *b)
{
	const uint8_t *p = j->rw + ((const uint8_t *)b->jit_chain - j->rx) -
			   JIT_PROFILE_BYTES;
	uint32_t per_insn = (1u << 16) / b->n; /* 1/n, x 2^16 */
	j->sample = false;
	for (unsigned r = 1; r < 32; r++)
		j->use[r] += (p[r] * per_insn) >> 8;
	j->weight++;
	if (++j->samples < j->repin_samples)
		return true;
	repin(h, j);
	return b->jit_gen == h->jit_gen || jit_translate(h, b);
}

void jit_trim(struct hart *h)
{
	struct jit *j = h->jit;
	if (!j)
		return;
	/* the memfd's pages stay resident after a flush, at the high-water
	 * mark of the boot (MiBs, counted once per view): punch them out,
	 * keeping the stubs' pages (fallocate is on the sandbox's list) */
	size_t keep = (j->stubs_end + 4095) & ~(size_t)4095;
	if (fallocate(j->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)keep, (off_t)(JIT_CODE_SIZE - keep)))
		log_debug("cpu", "jit trim: %s", strerror(errno));
	j->committed = keep;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool jit_translate(struct hart *h, struct block *b)
{
	struct jit *j = h->jit;
	if (!j || h->trace)
		return false;
	uint64_t t0 = now_ns();
	size_t before = j->used;
	if (j->used + JIT_BLOCK_MAX > JIT_CODE_SIZE ||
	    j->exits_used + b->n + 2 > JIT_LINKS) {
		/* whole-cache flush: blocks stay decoded, only translations
		 * go (and the links between them, which live in the code) */
		jit_flush(h);
		before = j->used;
	}
	size_t from = j->committed;
	prefault_ahead(j->rw, &j->committed, j->used + JIT_BLOCK_MAX,
		       JIT_CODE_SIZE, MADV_POPULATE_WRITE);
	if (j->committed != from)
		(void)madvise((void *)(j->rx + from), j->committed - from,
			      MADV_POPULATE_READ);
	if (!jit_be_block(j, h, b)) {
		jit_flush(h);
		return false;
	}
	b->jit_gen = h->jit_gen;
	j->gen_blocks++;
	j->stats.blocks++;
	j->stats.insns += b->n;
	j->stats.code_bytes += j->used - before;
	j->stats.ns += now_ns() - t0;
	return true;
}

/* The exit the last translated block left by leads to b: patch it into a
 * direct jump when b starts where the exit goes, in the same page. */
static void link_exit(struct hart *h, struct jit *j, const struct block *b)
{
	const struct jit_exit *x = &j->exits[h->jit_link];
	h->jit_link = 0;
	if ((b->gpa & ~GUEST_PAGE_MASK) != x->from_page ||
	    (b->gpa & GUEST_PAGE_MASK) != x->target_off)
		return;
	if (j->n_linked == JIT_LINKS)
		return; /* cannot be undone: leave it to the stub */
	jit_be_link(j, x->site, b->jit_chain);
	j->linked[j->n_linked++] = x->site;
	j->stats.links++;
}

/* The bcache epoch moved (FENCE.I, a store to code): every block must be
 * revalidated by the dispatcher before it runs again, so no link may
 * bypass it. They are made again as the blocks run. */
static void unlink_all(struct hart *h, struct jit *j)
{
	for (size_t i = 0; i < j->n_linked; i++)
		jit_be_link(j, j->linked[i], NULL);
	j->n_linked = 0;
	j->link_epoch = h->bc.epoch;
	h->jit_link = 0;
	jc_clear(j);
}

void jit_run(struct hart *h, struct block *b)
{
	struct jit *j = h->jit;
	if (unlikely(j->sample) && !sample(h, j, b))
		return;
	if (unlikely(j->link_epoch != h->bc.epoch))
		unlink_all(h, j);
	if (h->jit_link)
		link_exit(h, j, b);
	struct jit_jc *e = &j->jc[(b->gpa >> 1) % JIT_JC_SIZE];
	e->gpa = b->gpa;
	e->chain = b->jit_chain;
	j->stats.entries++;
	int64_t left = h->budget < JIT_POLL_INSNS ? h->budget : JIT_POLL_INSNS;
	h->jit_left = h->jit_left0 = left;
	j->enter(h, b->jit_entry);
	jit_sync(h);
	if (h->jit_left <= 0)
		h->poll_countdown = 1; /* ran JIT_POLL_INSNS: poll now */
	/* the countdown ran out: every JIT_SAMPLE_EVERY-th time, a sample */
	if (h->jit_left < BLOCK_MAX_INSNS &&
	    !(++j->polls & (JIT_SAMPLE_EVERY - 1)))
		j->sample = true;
}

const struct jit_stats *jit_stats(const struct hart *h)
{
	return h->jit ? &h->jit->stats : NULL;
}

unsigned jit_pinned(const struct hart *h, uint8_t *regs)
{
	if (!h->jit)
		return 0;
	memcpy(regs, h->jit->pin, JIT_PINNED);
	return JIT_PINNED;
}
