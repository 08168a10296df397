/* Unit tests for the VM console backends (src/machine/console.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "machine/console.h"

/* ---- a sink that records what the console delivers ---------------------- */

struct sink {
	pthread_mutex_t lock;
	uint8_t buf[65536];
	size_t len;
	size_t limit; /* accept at most this many bytes in total */
	int quits;
	bool listening; /* what the listening callback answers */
};

static size_t sink_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *s = opaque;
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->limit > s->len ? s->limit - s->len : 0;
	if (n > len)
		n = len;
	if (n > sizeof(s->buf) - s->len)
		n = sizeof(s->buf) - s->len;
	memcpy(s->buf + s->len, buf, n);
	s->len += n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void sink_quit(void *opaque)
{
	struct sink *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->quits++;
	pthread_mutex_unlock(&s->lock);
}

static const struct console_ops sink_ops = {
	.input = sink_input,
	.quit = sink_quit,
};

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->limit = SIZE_MAX;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait up to 20 s (a loaded host) until the sink holds want (exactly). */
static void sink_expect(struct sink *s, const void *want, size_t len)
{
	int i;

	for (i = 0; i < 2000; i++) {
		pthread_mutex_lock(&s->lock);
		if (s->len >= len) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);
		sleep_ms(10);
	}
	sleep_ms(20); /* nothing extra arrives */
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->len, len);
	assert_memory_equal(s->buf, want, len);
	pthread_mutex_unlock(&s->lock);
}

/* Read from fd until buf holds len bytes or 20 s pass; returns bytes read. */
static size_t read_for(int fd, void *buf, size_t len)
{
	size_t got = 0;
	int i;

	for (i = 0; i < 2000 && got < len; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10) <= 0)
			continue;
		n = read(fd, (uint8_t *)buf + got, len - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
	}
	return got;
}

static void write_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

/* ---- spec parsing -------------------------------------------------------- */

static void test_parse(void **state)
{
	struct console_spec sp;
	struct error err = { 0 };
	char longp[200];

	assert_int_equal(console_parse("stdio", &sp, &err), 0);
	assert_int_equal(sp.kind, CONSOLE_STDIO);
	assert_int_equal(console_parse("pty", &sp, &err), 0);
	assert_int_equal(sp.kind, CONSOLE_PTY);
	assert_int_equal(console_parse("none", &sp, &err), 0);
	assert_int_equal(sp.kind, CONSOLE_NONE);
	assert_int_equal(console_parse("unix:/run/x.sock", &sp, &err), 0);
	assert_int_equal(sp.kind, CONSOLE_UNIX);
	assert_string_equal(sp.path, "/run/x.sock");

	assert_int_equal(console_parse("unix:", &sp, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "socket path"));
	assert_int_equal(console_parse("serial", &sp, &err), -EINVAL);
	assert_string_equal(err.msg, "--console serial: expected stdio, pty, "
				     "unix:PATH or none");
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "unix:", 5);
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(console_parse(longp, &sp, &err), -ENAMETOOLONG);
}

/* ---- pty ----------------------------------------------------------------- */

static struct console *open_pty(struct sink *s, bool escape, int *slave)
{
	struct console_opts o = { .force_escape = escape, .quiet = true };
	struct console_spec sp = { .kind = CONSOLE_PTY };
	struct error err = { 0 };
	struct console *c;

	c = console_open(&sp, &sink_ops, s, &o, &err);
	assert_non_null(c);
	assert_non_null(console_pty_path(c));
	assert_non_null(strstr(console_pty_path(c), "/dev/pts/"));
	*slave = open(console_pty_path(c), O_RDWR | O_NOCTTY);
	assert_true(*slave >= 0);
	return c;
}

static void test_pty_round_trip(void **state)
{
	struct console *c;
	struct sink s;
	char buf[64] = { 0 };
	int slave;

	sink_init(&s);
	c = open_pty(&s, false, &slave);

	/* Host to guest: binary-clean without escape handling. */
	write_all(slave, "hello\x01x\r\n", 9);
	sink_expect(&s, "hello\x01x\r\n", 9);

	/* Guest to host, byte by byte as a UART does. */
	console_write(c, (const uint8_t *)"w", 1);
	console_write(c, (const uint8_t *)"orld\n", 5);
	assert_int_equal(read_for(slave, buf, 6), 6);
	assert_memory_equal(buf, "world\n", 6);
	assert_int_equal(console_dropped(c), 0);
	assert_int_equal(s.quits, 0);

	close(slave);
	console_close(c);
}

static void test_pty_backpressure(void **state)
{
	struct console *c;
	struct sink s;
	int slave;

	sink_init(&s);
	s.limit = 2; /* the "UART FIFO" takes two bytes, then is full */
	c = open_pty(&s, false, &slave);
	write_all(slave, "abcdef", 6);
	sink_expect(&s, "ab", 2);

	pthread_mutex_lock(&s.lock);
	s.limit = 4;
	pthread_mutex_unlock(&s.lock);
	console_kick_input(c);
	sink_expect(&s, "abcd", 4);

	/* Without a kick the 10 ms retry delivers too. */
	pthread_mutex_lock(&s.lock);
	s.limit = SIZE_MAX;
	pthread_mutex_unlock(&s.lock);
	sink_expect(&s, "abcdef", 6);
	close(slave);
	console_close(c);
}

static void test_escape_keys(void **state)
{
	static const char help_start[] = "\r\nC-a h    print this help";
	static const char notice[] = "\r\nsoftvisor: terminated by C-a x\r\n";
	char buf[256] = { 0 };
	struct console *c;
	struct sink s;
	int slave;

	sink_init(&s);
	c = open_pty(&s, true, &slave);

	/* C-a C-a -> one 0x01; C-a z (unknown) -> nothing; then C-a x. */
	write_all(slave,
		  "a\x01\x01"
		  "b\x01z",
		  6);
	sink_expect(&s,
		    "a\x01"
		    "b",
		    3);
	assert_int_equal(s.quits, 0);

	/* The escape may be split across reads. */
	write_all(slave, "\x01", 1);
	sleep_ms(30);
	write_all(slave, "x", 1);
	sink_expect(&s,
		    "a\x01"
		    "b",
		    3);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.quits, 1);
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(read_for(slave, buf, strlen(notice)), strlen(notice));
	assert_memory_equal(buf, notice, strlen(notice));

	/* C-a h prints the help to the host side, not to the guest. */
	memset(buf, 0, sizeof(buf));
	write_all(slave, "\x01h", 2);
	assert_true(read_for(slave, buf, strlen(help_start)) ==
		    strlen(help_start));
	assert_memory_equal(buf, help_start, strlen(help_start));
	sink_expect(&s,
		    "a\x01"
		    "b",
		    3);

	close(slave);
	console_close(c);
}

/* ---- unix socket --------------------------------------------------------- */

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void test_unix_round_trip(void **state)
{
	struct console_spec sp;
	struct error err = { 0 };
	struct console *c;
	struct sink s;
	char spec[128], buf[64] = { 0 };
	int a, b;

	snprintf(spec, sizeof(spec), "unix:/tmp/sv-test-console-%d.sock",
		 (int)getpid());
	assert_int_equal(console_parse(spec, &sp, &err), 0);
	sink_init(&s);
	c = console_open(&sp, &sink_ops, &s, NULL, &err);
	assert_non_null(c);

	/* Output before any client is kept for the first one. */
	console_write(c, (const uint8_t *)"early ", 6);
	a = connect_to(sp.path);
	console_write(c, (const uint8_t *)"late", 4);
	assert_int_equal(read_for(a, buf, 10), 10);
	assert_memory_equal(buf, "early late", 10);

	write_all(a, "in\x01", 3); /* no escape handling on sockets */
	sink_expect(&s, "in\x01", 3);

	/* A second client is turned away while the first is connected. */
	b = connect_to(sp.path);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read_for(b, buf, sizeof(buf)), 14);
	assert_string_equal(buf, "console busy\r\n");
	close(b);

	/* Reconnect after the first leaves. */
	close(a);
	sleep_ms(50);
	b = connect_to(sp.path);
	sleep_ms(50);
	console_write(c, (const uint8_t *)"again", 5);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read_for(b, buf, 5), 5);
	assert_string_equal(buf, "again");
	write_all(b, "x", 1);
	sink_expect(&s, "in\x01x", 4);
	close(b);

	console_close(c);
	assert_int_equal(access(sp.path, F_OK), -1); /* unlinked */
}

static void test_unix_ring_drops_oldest(void **state)
{
	struct console_spec sp;
	struct error err = { 0 };
	struct console *c;
	uint8_t *big, *got;
	size_t n = CONSOLE_OUT_RING + 1000, i;
	char spec[128];
	int a;

	snprintf(spec, sizeof(spec), "unix:/tmp/sv-test-console-r%d.sock",
		 (int)getpid());
	assert_int_equal(console_parse(spec, &sp, &err), 0);
	c = console_open(&sp, NULL, NULL, NULL, &err);
	assert_non_null(c);
	big = malloc(n);
	got = malloc(n);
	assert_non_null(big);
	assert_non_null(got);
	for (i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 7);
	/* In two pieces: the first fills, the second overflows. */
	console_write(c, big, 1000);
	console_write(c, big + 1000, n - 1000);
	assert_int_equal(console_dropped(c), 1000);

	a = connect_to(sp.path);
	assert_int_equal(read_for(a, got, CONSOLE_OUT_RING), CONSOLE_OUT_RING);
	assert_memory_equal(got, big + 1000, CONSOLE_OUT_RING);
	close(a);
	free(big);
	free(got);
	console_close(c);
}

static void test_unix_rejects_non_socket(void **state)
{
	char path[] = "/tmp/sv-test-console-file-XXXXXX";
	struct console_spec sp = { .kind = CONSOLE_UNIX };
	struct error err = { 0 };
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	snprintf(sp.path, sizeof(sp.path), "%s", path);
	assert_null(console_open(&sp, NULL, NULL, NULL, &err));
	assert_non_null(strstr(err.msg, "not a socket"));
	unlink(path);
}

static bool sink_listening(void *opaque)
{
	struct sink *s = opaque;
	bool on;

	pthread_mutex_lock(&s->lock);
	on = s->listening;
	pthread_mutex_unlock(&s->lock);
	return on;
}

/* stdio from a pipe (a script drives the VM): nothing is delivered before
 * the guest listens, then everything in order and one Ctrl-D for the end
 * of the input, even while the sink takes a byte at a time. */
static void test_stdio_script(void **state)
{
	static const struct console_ops ops = { .input = sink_input,
						.listening = sink_listening };
	struct console_spec sp = { .kind = CONSOLE_STDIO };
	struct console_opts o = { .no_escape = true, .quiet = true };
	struct error err = { 0 };
	struct console *c;
	struct sink s;
	int p[2], saved = dup(STDIN_FILENO);

	sink_init(&s);
	assert_true(saved >= 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
	close(p[0]);
	c = console_open(&sp, &ops, &s, &o, &err);
	assert_non_null(c);
	write_all(p[1], "ls\n", 3);
	close(p[1]); /* end of the script */
	sleep_ms(100);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.len, 0); /* held: the guest does not listen */
	s.listening = true;
	s.limit = 1;
	pthread_mutex_unlock(&s.lock);
	sink_expect(&s, "l", 1);
	pthread_mutex_lock(&s.lock);
	s.limit = SIZE_MAX;
	pthread_mutex_unlock(&s.lock);
	sink_expect(&s, "ls\n\x04", 4);
	console_close(c);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
}

static void test_none(void **state)
{
	struct console_spec sp = { .kind = CONSOLE_NONE };
	struct error err = { 0 };
	struct console *c = console_open(&sp, NULL, NULL, NULL, &err);

	assert_non_null(c);
	console_write(c, (const uint8_t *)"x", 1);
	console_kick_input(c);
	assert_null(console_pty_path(c));
	console_close(c);
	console_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_pty_round_trip),
		cmocka_unit_test(test_pty_backpressure),
		cmocka_unit_test(test_escape_keys),
		cmocka_unit_test(test_unix_round_trip),
		cmocka_unit_test(test_unix_ring_drops_oldest),
		cmocka_unit_test(test_unix_rejects_non_socket),
		cmocka_unit_test(test_stdio_script),
		cmocka_unit_test(test_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
