/* Unit tests of the daemon <-> VM worker protocol (vmm/vmproto.c): every
 * message type round trip, descriptors over SCM_RIGHTS, and malformed
 * packets from a hostile peer rejected with a clear error. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/vmproto.h"

static uint8_t rxbuf[VMPROTO_RXBUF];

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
}

/* Send a raw packet (what a hostile peer could write). */
static void raw(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, 0), (ssize_t)n);
}

/* A valid header for type with len bytes of data following. */
static size_t hdr(uint8_t *p, uint16_t magic, uint16_t type, uint32_t len)
{
	uint32_t z = 0;
	memcpy(p, &magic, 2);
	memcpy(p + 2, &type, 2);
	memcpy(p + 4, &z, 4);
	memcpy(p + 8, &z, 4);
	memcpy(p + 12, &z, 4);
	memcpy(p + 16, &len, 4);
	return 20;
}

/* Descriptors open in this process. */
static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct vmproto_msg m;
	int sv[2];
	pair(sv);

	const char *json = "{\"name\":\"a\"}";
	struct vmproto_msg s = { .type = VMPROTO_START,
				 .seq = 42,
				 .a0 = 1,
				 .a1 = -7,
				 .data = json,
				 .len = (uint32_t)strlen(json) };
	assert_int_equal(vmproto_send(sv[0], &s, NULL, 0, 0, &err), 0);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err), 0);
	assert_int_equal(m.type, VMPROTO_START);
	assert_int_equal(m.seq, 42);
	assert_int_equal(m.a0, 1);
	assert_int_equal(m.a1, -7);
	assert_int_equal(m.len, strlen(json));
	assert_memory_equal(m.data, json, m.len);
	assert_string_equal(vmproto_type_name(m.type), "start");

	/* every type without data goes through */
	unsigned plain[] = {
		VMPROTO_STOP,	      VMPROTO_PAUSE,	  VMPROTO_RESUME,
		VMPROTO_RESET,	      VMPROTO_POWER,	  VMPROTO_STATS,
		VMPROTO_GATE_GRANT,   VMPROTO_GATE_KICK,  VMPROTO_HELLO,
		VMPROTO_STARTED,      VMPROTO_REPLY,	  VMPROTO_ENDED,
		VMPROTO_GATE_ENTER,   VMPROTO_GATE_LEAVE, VMPROTO_GATE_CLOSING,
		VMPROTO_GATE_OPENING, VMPROTO_BALLOON
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		assert_int_equal(vmproto_send_simple(sv[1], plain[i], 9,
						     (int32_t)i, 3, &err),
				 0);
		assert_int_equal(
			vmproto_recv(sv[0], rxbuf, &m, NULL, NULL, &err), 0);
		assert_int_equal(m.type, plain[i]);
		assert_int_equal(m.a0, (int32_t)i);
		assert_int_equal(m.len, 0);
		assert_null(m.data);
	}

	/* the statistics have their exact size */
	static struct vmproto_stats st;
	st.n_vcpus = 2;
	st.instret[1] = 12345;
	s = (struct vmproto_msg){ .type = VMPROTO_STATS_REPLY,
				  .data = &st,
				  .len = sizeof(st) };
	assert_int_equal(vmproto_send(sv[0], &s, NULL, 0, 0, &err), 0);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err), 0);
	assert_int_equal(m.len, sizeof(st));
	assert_memory_equal(m.data, &st, sizeof(st));

	/* the peer closing is its own error */
	close(sv[0]);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -ECONNRESET);
	assert_string_equal(err.msg, "vmproto: peer closed");
	close(sv[1]);
}

static void test_encode_refuses(void **state)
{
	(void)state;
	struct error err = { 0 };
	uint8_t out[64];
	struct vmproto_msg m = { .type = 0 };
	assert_int_equal(vmproto_encode(&m, out, sizeof(out), &err), -EINVAL);
	assert_string_equal(err.msg, "vmproto: unknown type 0");
	m = (struct vmproto_msg){ .type = VMPROTO_PAUSE,
				  .data = "x",
				  .len = 1 };
	assert_int_equal(vmproto_encode(&m, out, sizeof(out), &err), -EINVAL);
	assert_string_equal(err.msg, "vmproto: pause: 1 bytes of data (0..0)");
	/* the balloon's size travels in a0: no data */
	m = (struct vmproto_msg){ .type = VMPROTO_BALLOON,
				  .data = "x",
				  .len = 1 };
	assert_int_equal(vmproto_encode(&m, out, sizeof(out), &err), -EINVAL);
	assert_string_equal(err.msg,
			    "vmproto: balloon: 1 bytes of data (0..0)");
	m = (struct vmproto_msg){ .type = VMPROTO_CONSOLE_OUT, .len = 0 };
	assert_int_equal(vmproto_encode(&m, out, sizeof(out), &err), -EINVAL);
	char big[100] = { 0 };
	m = (struct vmproto_msg){ .type = VMPROTO_CONSOLE_OUT,
				  .data = big,
				  .len = sizeof(big) };
	assert_int_equal(vmproto_encode(&m, out, sizeof(out), &err), -EINVAL);
	assert_string_equal(err.msg, "vmproto: buffer too small");
	assert_int_equal(vmproto_encode(&m, out, 20, &err), -EINVAL);
	m.len = 10;
	assert_int_equal(vmproto_encode(&m, out, sizeof(out), &err), 30);
}

static void test_fd_passing(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct vmproto_msg m;
	int sv[2], fds[VMPROTO_MAX_FDS];
	unsigned n;
	pair(sv);

	int mfd = memfd_create("ram", 0);
	assert_true(mfd >= 0);
	assert_int_equal(write(mfd, "guest", 5), 5);
	struct vmproto_msg s = { .type = VMPROTO_RAM_FD, .a0 = 64 };
	assert_int_equal(vmproto_send(sv[0], &s, &mfd, 1, 0, &err), 0);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, fds, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_not_equal(fds[0], mfd);
	char buf[8] = { 0 };
	assert_int_equal(pread(fds[0], buf, 5, 0), 5);
	assert_string_equal(buf, "guest");
	assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	close(fds[0]);

	/* a descriptor on a message that takes none is closed, not kept */
	int before = count_fds();
	s = (struct vmproto_msg){ .type = VMPROTO_PAUSE };
	assert_int_equal(vmproto_send(sv[0], &s, &mfd, 1, 0, &err), 0);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, fds, &n, &err),
			 -EPROTO);
	assert_string_equal(err.msg, "vmproto: pause: 1 descriptors attached "
				     "(allowed 0)");
	assert_int_equal(n, 0);
	assert_int_equal(count_fds(), before);

	/* the RAM message without its descriptor */
	s = (struct vmproto_msg){ .type = VMPROTO_RAM_FD };
	assert_int_equal(vmproto_send(sv[0], &s, NULL, 0, 0, &err), 0);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, fds, &n, &err),
			 -EPROTO);
	assert_string_equal(err.msg, "vmproto: ram-fd: 0 descriptors attached "
				     "(expected 1)");

	/* too many descriptors at once: the kernel truncates, we refuse and
	 * close what arrived */
	int many[VMPROTO_MAX_FDS + 1];
	for (unsigned i = 0; i <= VMPROTO_MAX_FDS; i++)
		many[i] = mfd;
	assert_int_equal(
		vmproto_send(sv[0], &s, many, VMPROTO_MAX_FDS + 1, 0, &err),
		-EINVAL);
	close(mfd);
	close(sv[0]);
	close(sv[1]);
}

static void test_malformed(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct vmproto_msg m;
	static uint8_t p[VMPROTO_RXBUF + 64];
	int sv[2];
	pair(sv);

	raw(sv[0], "SV", 2);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -EPROTO);
	assert_string_equal(err.msg,
			    "vmproto: short message (2 bytes, header is 20)");

	size_t n = hdr(p, 0x1234, VMPROTO_PAUSE, 0);
	raw(sv[0], p, n);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -EPROTO);
	assert_string_equal(err.msg, "vmproto: bad magic 0x1234");

	n = hdr(p, VMPROTO_MAGIC, 999, 0);
	raw(sv[0], p, n);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -EPROTO);
	assert_string_equal(err.msg, "vmproto: unknown type 999");

	n = hdr(p, VMPROTO_MAGIC, 0, 0);
	raw(sv[0], p, n);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -EPROTO);

	/* the length field disagrees with the packet */
	n = hdr(p, VMPROTO_MAGIC, VMPROTO_CONSOLE_OUT, 100);
	memcpy(p + n, "hello", 5);
	raw(sv[0], p, n + 5);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -EPROTO);
	assert_string_equal(err.msg, "vmproto: console-out: length field 100 "
				     "but 5 bytes of data");

	/* data where the type takes none; stats of the wrong size */
	n = hdr(p, VMPROTO_MAGIC, VMPROTO_ENDED, 3);
	raw(sv[0], p, n + 3);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -EPROTO);
	assert_string_equal(err.msg, "vmproto: ended: 3 bytes of data "
				     "(allowed 0..0)");
	n = hdr(p, VMPROTO_MAGIC, VMPROTO_STATS_REPLY, 8);
	raw(sv[0], p, n + 8);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -EPROTO);

	/* console output larger than a packet of its type may be */
	n = hdr(p, VMPROTO_MAGIC, VMPROTO_CONSOLE_OUT, 5000);
	raw(sv[0], p, n + 5000);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -EPROTO);
	assert_string_equal(err.msg, "vmproto: console-out: 5000 bytes of "
				     "data (allowed 1..4096)");

	/* a packet larger than any message: truncated, refused */
	int big = (int)sizeof(p);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	n = hdr(p, VMPROTO_MAGIC, VMPROTO_START, VMPROTO_RXBUF + 44);
	raw(sv[0], p, sizeof(p));
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err),
			 -EPROTO);
	assert_string_equal(err.msg, "vmproto: message longer than 65568 "
				     "bytes");

	/* after all that, a good message still comes through */
	assert_int_equal(
		vmproto_send_simple(sv[0], VMPROTO_REPLY, 5, -16, 0, &err), 0);
	assert_int_equal(vmproto_recv(sv[1], rxbuf, &m, NULL, NULL, &err), 0);
	assert_int_equal(m.type, VMPROTO_REPLY);
	assert_int_equal(m.seq, 5);
	assert_int_equal(m.a0, -16);
	close(sv[0]);
	close(sv[1]);
}

/* Random packets never crash the decoder; each is accepted or refused. */
static void test_random(void **state)
{
	(void)state;
	struct error err = { 0 };
	struct vmproto_msg m;
	uint8_t p[64];
	srand(1);
	for (int i = 0; i < 100000; i++) {
		size_t n = (size_t)rand() % sizeof(p);
		for (size_t k = 0; k < n; k++)
			p[k] = (uint8_t)rand();
		if (n >= 20 && (i & 1)) { /* mostly well-formed headers */
			uint16_t t = (uint16_t)(rand() %
						(VMPROTO_TYPE_END + 2));
			hdr(p, VMPROTO_MAGIC, t, (uint32_t)(n - 20));
		}
		int r = vmproto_decode(p, n, &m, &err);
		assert_true(r == 0 || r == -EPROTO);
		if (!r)
			assert_true(m.len == n - 20);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_fd_passing),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
