/*
 * The built-in SBI: with `--bios builtin` no M-mode firmware runs and the
 * guest kernel's ECALLs from S-mode are hypercalls into the vmkernel, as a
 * hypervisor is its guests' supervisor execution environment. Implements
 * the RISC-V SBI specification 2.0: BASE (ch. 4), legacy (ch. 5), TIME (6),
 * IPI (7), RFENCE (8), HSM (9), SRST (10), PMU probing (11, absent), DBCN
 * (12). Every argument is guest-controlled and checked here.
 */
#include <stdint.h>

#include "machine/virt_impl.h"
#include "mem/gmem.h"
#include "util/log.h"

#define LOG "sbi"

enum sbi_error {
	SBI_SUCCESS = 0,
	SBI_ERR_FAILED = -1,
	SBI_ERR_NOT_SUPPORTED = -2,
	SBI_ERR_INVALID_PARAM = -3,
	SBI_ERR_DENIED = -4,
	SBI_ERR_INVALID_ADDRESS = -5,
	SBI_ERR_ALREADY_AVAILABLE = -6,
	SBI_ERR_ALREADY_STARTED = -7,
	SBI_ERR_ALREADY_STOPPED = -8,
};

enum sbi_ext {
	SBI_EXT_BASE = 0x10,
	SBI_EXT_TIME = 0x54494d45,
	SBI_EXT_IPI = 0x735049,
	SBI_EXT_RFENCE = 0x52464e43,
	SBI_EXT_HSM = 0x48534d,
	SBI_EXT_SRST = 0x53525354,
	SBI_EXT_PMU = 0x504d55,
	SBI_EXT_DBCN = 0x4442434e,
};

#define SBI_SPEC_VERSION ((2u << 24) | 0) /* 2.0 */
/* Implementation ID: not in the SBI registry; "SV" in ASCII. */
#define SBI_IMPL_ID	 0x5356
#define SBI_IMPL_VERSION 0x00010000

struct sbiret {
	long error;
	long value;
};

static struct sbiret ok(long v)
{
	return (struct sbiret){ SBI_SUCCESS, v };
}

static struct sbiret fail(long e)
{
	return (struct sbiret){ e, 0 };
}

/* ---- hart masks (SBI 3.1: hart_mask + hart_mask_base, base -1 = all) ---- */

typedef void (*hart_fn)(struct virt_hart *from, struct virt_hart *to,
			void *arg);

static struct sbiret for_harts(struct virt_hart *from, unsigned long mask,
			       unsigned long base, hart_fn fn, void *arg)
{
	struct virt *vm = from->vm;

	if (base == (unsigned long)-1) {
		for (unsigned i = 0; i < vm->n_harts; i++)
			fn(from, &vm->harts[i], arg);
		return ok(0);
	}
	if (base >= vm->n_harts && mask)
		return fail(SBI_ERR_INVALID_PARAM);
	for (unsigned b = 0; b < 64 && mask; b++, mask >>= 1) {
		if (!(mask & 1))
			continue;
		unsigned long id = base + b;
		if (id >= vm->n_harts)
			return fail(SBI_ERR_INVALID_PARAM);
		fn(from, &vm->harts[id], arg);
	}
	return ok(0);
}

static void send_ipi(struct virt_hart *from, struct virt_hart *to, void *arg)
{
	hart_raise_ssip(to->h);
}

static void send_fence(struct virt_hart *from, struct virt_hart *to, void *arg)
{
	unsigned req = *(unsigned *)arg;
	if (atomic_load(&to->hsm) == HSM_STOPPED)
		return; /* a stopped hart starts with empty TLBs and caches */
	hart_request(to->h, req);
}

/* ---- extensions ------------------------------------------------------------ */

static bool probe(unsigned long ext)
{
	switch (ext) {
	case SBI_EXT_BASE:
	case SBI_EXT_TIME:
	case SBI_EXT_IPI:
	case SBI_EXT_RFENCE:
	case SBI_EXT_HSM:
	case SBI_EXT_SRST:
	case SBI_EXT_DBCN:
	case 0x00 ... 0x08: /* legacy */ return true;
	default: return false; /* PMU, STA and the rest: not available */
	}
}

static struct sbiret base(unsigned long fid, unsigned long a0)
{
	switch (fid) {
	case 0: return ok(SBI_SPEC_VERSION);
	case 1: return ok(SBI_IMPL_ID);
	case 2: return ok(SBI_IMPL_VERSION);
	case 3: return ok(probe(a0));
	case 4: /* mvendorid */
	case 5: /* marchid */
	case 6: /* mimpid */ return ok(0);
	default: return fail(SBI_ERR_NOT_SUPPORTED);
	}
}

static struct sbiret rfence(struct virt_hart *vh, unsigned long fid,
			    unsigned long mask, unsigned long mbase)
{
	unsigned req;

	switch (fid) {
	case 0: req = HART_REQ_FENCE_I; break;
	case 1: /* sfence.vma */
	case 2: /* sfence.vma.asid: TLB entries are not ASID-tagged */
		req = HART_REQ_TLB_FLUSH;
		break;
	default: return fail(SBI_ERR_NOT_SUPPORTED); /* hypervisor fences */
	}
	struct sbiret r = for_harts(vh, mask, mbase, send_fence, &req);
	if (r.error)
		return r;
	/* The caller may rely on the fence being done when the call returns
	 * (it is about to reuse the page): wait for every target to reach a
	 * block boundary, serving fences aimed at us meanwhile. */
	struct virt *vm = vh->vm;
	for (unsigned i = 0; i < vm->n_harts; i++)
		if (&vm->harts[i] != vh)
			virt_wait_hart(vm, &vm->harts[i], req, vh->h,
				       hart_service_requests);
	hart_service_requests(vh->h);
	return r;
}

static struct sbiret hsm(struct virt_hart *vh, unsigned long fid,
			 unsigned long a0, unsigned long a1, unsigned long a2)
{
	struct virt *vm = vh->vm;

	switch (fid) {
	case 0: { /* hart_start(hartid, start_addr, opaque) */
		if (a0 >= vm->n_harts)
			return fail(SBI_ERR_INVALID_PARAM);
		if (!gmem_is_ram(vm->mem, a1, 2))
			return fail(SBI_ERR_INVALID_ADDRESS);
		struct virt_hart *t = &vm->harts[a0];
		pthread_mutex_lock(&vm->lock);
		int st = atomic_load(&t->hsm);
		if (st != HSM_STOPPED) {
			pthread_mutex_unlock(&vm->lock);
			return fail(SBI_ERR_ALREADY_AVAILABLE);
		}
		t->start_addr = a1;
		t->start_opaque = a2;
		atomic_store(&t->hsm, HSM_START_PENDING);
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
		return ok(0);
	}
	case 1: /* hart_stop() */
		atomic_store(&vh->hsm, HSM_STOPPED);
		hart_request(vh->h, HART_REQ_EXIT);
		return ok(0);
	case 2: /* hart_get_status(hartid) */
		if (a0 >= vm->n_harts)
			return fail(SBI_ERR_INVALID_PARAM);
		return ok(atomic_load(&vm->harts[a0].hsm));
	case 3: /* hart_suspend(type, resume_addr, opaque) */
		if (a0 == 0) {
			/* default retentive suspend: like WFI, returns after an
			 * interrupt becomes pending */
			hart_park(vh->h, UINT64_MAX);
			return ok(0);
		}
		return fail(a0 == 0x80000000 ? SBI_ERR_NOT_SUPPORTED
					     : SBI_ERR_INVALID_PARAM);
	default: return fail(SBI_ERR_NOT_SUPPORTED);
	}
}

static struct sbiret srst(struct virt_hart *vh, unsigned long type,
			  unsigned long reason)
{
	switch (type) {
	case 0: /* shutdown: reason 1 = system failure */
		virt_post_event(vh->vm, VIRT_EV_POWEROFF, reason == 1 ? 1 : 0);
		break;
	case 1: /* cold reboot */
	case 2: /* warm reboot */
		virt_post_event(vh->vm, VIRT_EV_REBOOT, 0);
		break;
	default: return fail(SBI_ERR_INVALID_PARAM);
	}
	/* the hart does not return: stop it until the machine reacts */
	hart_request(vh->h, HART_REQ_EXIT);
	atomic_store(&vh->hsm, HSM_STOPPED);
	return ok(0);
}

static struct sbiret dbcn(struct virt_hart *vh, unsigned long fid,
			  unsigned long num, unsigned long lo, unsigned long hi)
{
	struct virt *vm = vh->vm;
	uint8_t buf[512];

	switch (fid) {
	case 0: { /* console_write(num_bytes, base_lo, base_hi) */
		if (hi != 0)
			return fail(SBI_ERR_INVALID_PARAM);
		size_t n = num < sizeof(buf) ? num : sizeof(buf);
		if (gmem_read(vm->mem, lo, buf, n))
			return fail(SBI_ERR_INVALID_PARAM);
		virt_console_write(vm, buf, n);
		return ok((long)n);
	}
	case 1: /* console_read: input belongs to the UART */
		if (hi != 0 || !gmem_is_ram(vm->mem, lo, num ? num : 1))
			return fail(SBI_ERR_INVALID_PARAM);
		return ok(0);
	case 2: { /* console_write_byte(byte) */
		uint8_t c = (uint8_t)num;
		virt_console_write(vm, &c, 1);
		return ok(0);
	}
	default: return fail(SBI_ERR_NOT_SUPPORTED);
	}
}

/* Legacy extensions (SBI ch. 5): the return value is a0 only. Hart masks
 * are passed as a pointer to an unsigned long in guest memory. */
static long legacy(struct virt_hart *vh, unsigned long eid, unsigned long a0,
		   unsigned long a1)
{
	struct virt *vm = vh->vm;
	unsigned long mask = 0;
	bool all = false;

	if (eid >= 0x04 && eid <= 0x07) {
		if (a0 == 0)
			all = true;
		else if (gmem_read(vm->mem, a0, &mask, sizeof(mask)))
			return SBI_ERR_INVALID_ADDRESS;
	}
	unsigned long mbase = all ? (unsigned long)-1 : 0;
	switch (eid) {
	case 0x00: /* set_timer */ hart_set_sbi_timer(vh->h, a0); return 0;
	case 0x01: { /* console_putchar */
		uint8_t c = (uint8_t)a0;
		virt_console_write(vm, &c, 1);
		return 0;
	}
	case 0x02: /* console_getchar: no input here (the UART has it) */
		return -1;
	case 0x03: /* clear_ipi: SSIP is cleared through sip by S-mode */
		return 0;
	case 0x04: return for_harts(vh, mask, mbase, send_ipi, NULL).error;
	case 0x05: return rfence(vh, 0, mask, mbase).error;
	case 0x06:
	case 0x07: return rfence(vh, 1, mask, mbase).error;
	case 0x08: /* shutdown */ srst(vh, 0, 0); return 0;
	default: return SBI_ERR_NOT_SUPPORTED;
	}
}

void sbi_handle(void *opaque, struct hart *h)
{
	struct virt_hart *vh = opaque;
	unsigned long a0 = hart_get_reg(h, 10), a1 = hart_get_reg(h, 11);
	unsigned long a2 = hart_get_reg(h, 12);
	unsigned long fid = hart_get_reg(h, 16), eid = hart_get_reg(h, 17);
	struct sbiret r;

	if (eid <= 0x08) {
		hart_set_reg(h, 10, (uint64_t)legacy(vh, eid, a0, a1));
		return;
	}
	switch (eid) {
	case SBI_EXT_BASE: r = base(fid, a0); break;
	case SBI_EXT_TIME:
		if (fid != 0) {
			r = fail(SBI_ERR_NOT_SUPPORTED);
			break;
		}
		hart_set_sbi_timer(h, a0);
		r = ok(0);
		break;
	case SBI_EXT_IPI:
		r = fid == 0 ? for_harts(vh, a0, a1, send_ipi, NULL)
			     : fail(SBI_ERR_NOT_SUPPORTED);
		break;
	case SBI_EXT_RFENCE: r = rfence(vh, fid, a0, a1); break;
	case SBI_EXT_HSM: r = hsm(vh, fid, a0, a1, a2); break;
	case SBI_EXT_SRST:
		r = fid == 0 ? srst(vh, a0, a1) : fail(SBI_ERR_NOT_SUPPORTED);
		break;
	case SBI_EXT_DBCN: r = dbcn(vh, fid, a0, a1, a2); break;
	default:
		log_debug(LOG, "hart %u: unsupported extension %#lx fid %lu",
			  vh->id, eid, fid);
		r = fail(SBI_ERR_NOT_SUPPORTED);
	}
	hart_set_reg(h, 10, (uint64_t)r.error);
	hart_set_reg(h, 11, (uint64_t)r.value);
}
