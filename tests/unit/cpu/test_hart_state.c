/* Unit tests of src/cpu/hart_state.c: a hart's state survives a save and
 * load into another hart exactly, and damaged sections are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpu/hart_impl.h"
#include "mem/gmem.h"
#include "util/state_io.h"
#include "util/vclock.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (16ULL << 20)

static struct gmem *mem;
static struct hart *h1, *h2;
static struct vclock clock_;

static int setup(void **state)
{
	vclock_init(&clock_);
	mem = gmem_create(RAM_BASE, RAM_SIZE, NULL);
	assert_non_null(mem);
	struct hart_config cfg = { .hartid = 0, .mem = mem, .clock = &clock_ };
	h1 = hart_create(&cfg, NULL);
	h2 = hart_create(&cfg, NULL);
	assert_non_null(h1);
	assert_non_null(h2);
	return 0;
}

static int teardown(void **state)
{
	hart_destroy(h1);
	hart_destroy(h2);
	gmem_destroy(mem);
	return 0;
}

/* Give h1 a state in which every saved field differs from reset. */
static void scramble(struct hart *h)
{
	hart_reset(h, RAM_BASE, PRIV_M);
	for (unsigned i = 1; i < 32; i++)
		h->s.x[i] = 0x1111111111111111ULL * (i % 15) + i;
	for (unsigned i = 0; i < 32; i++)
		h->s.f[i] = 0xffffffff00000000ULL | (i * 77);
	h->s.fflags = 0x15;
	h->s.frm = 3;
	assert_int_equal(csr_write(h, CSR_PMPADDR0 + 1, 0x1234), 0);
	assert_int_equal(csr_write(h, CSR_PMPCFG0, 0x0f00), 0); /* TOR RWX */
	assert_int_equal(csr_write(h, CSR_MEDELEG, 0xb1ff), 0);
	assert_int_equal(csr_write(h, CSR_MIDELEG, MIP_S_MASK), 0);
	assert_int_equal(csr_write(h, CSR_MIE, 0xaaa), 0);
	assert_int_equal(csr_write(h, CSR_MTVEC, RAM_BASE + 0x101), 0);
	assert_int_equal(csr_write(h, CSR_STVEC, RAM_BASE + 0x200), 0);
	assert_int_equal(csr_write(h, CSR_MEPC, RAM_BASE + 0x40), 0);
	assert_int_equal(csr_write(h, CSR_SEPC, RAM_BASE + 0x44), 0);
	assert_int_equal(csr_write(h, CSR_MCAUSE, 0x8000000000000007ULL), 0);
	assert_int_equal(csr_write(h, CSR_SCAUSE, 13), 0);
	assert_int_equal(csr_write(h, CSR_MTVAL, 0xdead), 0);
	assert_int_equal(csr_write(h, CSR_STVAL, 0xbeef), 0);
	assert_int_equal(csr_write(h, CSR_MSCRATCH, 0x5a5a), 0);
	assert_int_equal(csr_write(h, CSR_SSCRATCH, 0xa5a5), 0);
	assert_int_equal(csr_write(h, CSR_MCOUNTEREN, 5), 0);
	assert_int_equal(csr_write(h, CSR_SCOUNTEREN, 7), 0);
	assert_int_equal(csr_write(h, CSR_MCOUNTINHIBIT, 4), 0);
	assert_int_equal(csr_write(h, CSR_MENVCFG, MENVCFG_STCE), 0);
	assert_int_equal(csr_write(h, CSR_SENVCFG, MENVCFG_FIOM), 0);
	assert_int_equal(
		csr_write(h, CSR_SATP, (8ULL << SATP_MODE_SHIFT) | 0x80123), 0);
	assert_int_equal(csr_write(h, CSR_STIMECMP, 123456789), 0);
	assert_int_equal(csr_write(h, CSR_TSELECT, 2), 0);
	assert_int_equal(csr_write(h, CSR_TDATA2, 0x80001000), 0);
	assert_int_equal(csr_write(h, CSR_MSTATUS,
				   MSTATUS_MPP | MSTATUS_FS | (1ULL << 1)),
			 0);
	h->s.mip_sw = MIP_SSIP;
	h->s.instret = 987654321;
	h->s.mcycle_offset = 42;
	h->s.priv = PRIV_S;
	h->s.pc = RAM_BASE + 0x1234;
	h->s.resv_addr = RAM_BASE + 0x100; /* not carried over */
	atomic_store(&h->mtimecmp, 5555);
	atomic_store(&h->sbi_timecmp, 6666);
}

static size_t save(struct hart *h, uint8_t *buf, size_t cap)
{
	struct state_writer w;
	struct error err = { 0 };
	int fd = memfd_create("hart", 0);
	assert_true(fd >= 0);
	assert_int_equal(state_writer_open(&w, fd, &err), 0);
	hart_state_save(h, &w);
	assert_int_equal(state_end(&w, &err), 0);
	assert_int_equal(state_writer_finish(&w, &err), 0);
	ssize_t n = pread(fd, buf, cap, 0);
	assert_true(n > 0 && (size_t)n < cap);
	close(fd);
	return (size_t)n;
}

static int load(struct hart *h, const uint8_t *buf, size_t len,
		struct error *err)
{
	struct state_reader r;
	int fd = memfd_create("hart", 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	lseek(fd, 0, SEEK_SET);
	int rc = state_reader_open(&r, fd, err);
	if (!rc)
		rc = state_next(&r, err);
	if (rc == 1)
		rc = hart_state_load(h, &r, err);
	state_reader_close(&r);
	close(fd);
	return rc;
}

static void test_round_trip(void **state)
{
	uint8_t buf[4096];
	struct error err = { 0 };

	scramble(h1);
	size_t n = save(h1, buf, sizeof(buf));
	hart_reset(h2, 0, PRIV_M);
	assert_int_equal(load(h2, buf, n, &err), 0);

	struct hart_state a = h1->s;
	a.resv_addr = ~0ULL; /* dropped */
	a.resv_value = h2->s.resv_value;
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(h2->s.x[i], a.x[i]);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(h2->s.f[i], a.f[i]);
	assert_int_equal(h2->s.pc, a.pc);
	assert_int_equal(h2->s.priv, PRIV_S);
	assert_int_equal(h2->s.mstatus, a.mstatus);
	assert_int_equal(h2->s.satp, a.satp);
	assert_int_equal(h2->s.pmpaddr[1], 0x1234);
	assert_int_equal(h2->s.tdata2[2], 0x80001000);
	assert_int_equal(h2->s.tselect, 2);
	assert_int_equal(atomic_load(&h2->mtimecmp), 5555);
	assert_int_equal(atomic_load(&h2->sbi_timecmp), 6666);
	assert_true(h2->pmp_active);
	/* and everything else, byte for byte */
	assert_memory_equal(&h2->s, &a, sizeof(a));

	/* saving the loaded hart gives the same bytes */
	uint8_t buf2[4096];
	size_t n2 = save(h2, buf2, sizeof(buf2));
	assert_int_equal(n2, n);
	assert_memory_equal(buf, buf2, n);
}

/* Patch the u8 at payload offset off and re-save with a valid CRC: the
 * loader's own checks must catch it. */
static void test_bad_fields(void **state)
{
	struct error err = { 0 };
	uint8_t buf[4096];

	scramble(h1);
	h1->s.priv = 2; /* reserved */
	size_t n = save(h1, buf, sizeof(buf));
	assert_int_equal(load(h2, buf, n, &err), -EINVAL);
	assert_string_equal(err.msg, "VM state section hart/0: privilege 2");

	scramble(h1);
	h1->s.satp = 5ULL << SATP_MODE_SHIFT;
	n = save(h1, buf, sizeof(buf));
	assert_int_equal(load(h2, buf, n, &err), -EINVAL);
	assert_string_equal(err.msg, "VM state section hart/0: satp mode 5");

	scramble(h1);
	h1->hartid = 1; /* a section for another hart */
	n = save(h1, buf, sizeof(buf));
	h1->hartid = 0;
	assert_int_equal(load(h2, buf, n, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "VM state section hart/1: expected hart/0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_fields),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
