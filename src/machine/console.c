/*
 * Host side of the VM console (see console.h).
 *
 * One thread per console polls: the wake eventfd (output queued, input
 * kicked, stop), the input fd, the output fd when the ring holds bytes, and
 * the listening socket. Output is a ring addressed by two running byte
 * counters (rd, wr): the writer never waits for the thread, and the thread
 * writes outside the lock, so a slow terminal holds up only this thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "machine/console.h"
#include "util/compiler.h"
#include "util/log.h"

_Static_assert(IS_POW2(CONSOLE_OUT_RING), "ring size must be a power of 2");

#define IN_BUF	       4096
#define RETRY_MS       10
#define CLOSE_FLUSH_MS 500

struct console {
	enum console_kind kind;
	struct console_ops ops;
	void *opaque;
	bool escape;

	int in_fd, out_fd; /* -1 when absent (the same fd for pty/unix) */
	int listen_fd;	   /* unix */
	int slave_fd;	   /* pty: held open so the master never sees HUP */
	char pty_path[64];
	char sock_path[108];
	int wake_fd;

	pthread_t thread;
	bool thread_started;
	atomic_bool stop;

	/* Output ring: bytes [rd, wr) are unread; both only grow. */
	pthread_mutex_t lock;
	uint8_t *ring;
	uint64_t rd, wr;
	atomic_uint_fast64_t dropped; /* written under lock, read lock-free */
	bool notified; /* a wake-up is already on its way to the thread */

	/* Input (console thread only), after escape processing. */
	uint8_t in_buf[IN_BUF];
	size_t in_off, in_len;
	atomic_bool in_pending;
	bool got_escape;
	bool in_eof;
	/* stdio from a pipe or a file (see console.h): input waits until
	 * the guest listens, and its end is typed as Ctrl-D (EOT) */
	bool scripted;
	bool eot_pending;
};

/* ---- terminal ------------------------------------------------------------ */

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

void console_restore_terminal(void)
{
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		tio_saved = 0;
	}
}

static void restore_and_reraise(int sig)
{
	/* SA_RESETHAND made the disposition default again: the re-raised
	 * signal does what it would have done without us. */
	console_restore_terminal();
	raise(sig);
}

static void install_restore_handlers(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV,
				    SIGBUS, SIGFPE,  SIGILL, SIGABRT };
	static bool done;
	unsigned i;

	if (done)
		return;
	done = true;
	atexit(console_restore_terminal);
	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		struct sigaction old, sa;

		/* Only where nobody else handles it: an owner's handler
		 * takes over and must exit normally or call
		 * console_restore_terminal(). */
		if (sigaction(sigs[i], NULL, &old) < 0 ||
		    old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = restore_and_reraise;
		sa.sa_flags = SA_RESETHAND;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

static int stdio_raw(struct error *err)
{
	struct termios tio;

	if (!isatty(STDIN_FILENO))
		return 0;
	if (tcgetattr(STDIN_FILENO, &tio) < 0)
		return error_set(err, errno, "console stdio: tcgetattr: %s",
				 strerror(errno));
	saved_tio = tio;
	tio_saved = 1;
	install_restore_handlers();
	/* Raw input, no signals from keys (Ctrl-C goes to the guest), but
	 * keep output processing so host log lines still start at column
	 * 0, as QEMU does. */
	cfmakeraw(&tio);
	tio.c_oflag |= OPOST;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &tio) < 0) {
		tio_saved = 0;
		return error_set(err, errno, "console stdio: tcsetattr: %s",
				 strerror(errno));
	}
	return 0;
}

/* ---- spec ---------------------------------------------------------------- */

int console_parse(const char *s, struct console_spec *spec, struct error *err)
{
	memset(spec, 0, sizeof(*spec));
	if (!s || !strcmp(s, "stdio")) {
		spec->kind = CONSOLE_STDIO;
		return 0;
	}
	if (!strcmp(s, "pty")) {
		spec->kind = CONSOLE_PTY;
		return 0;
	}
	if (!strcmp(s, "none")) {
		spec->kind = CONSOLE_NONE;
		return 0;
	}
	if (!strncmp(s, "unix:", 5)) {
		const char *p = s + 5;

		if (!*p)
			return error_set(err, EINVAL,
					 "--console %s: expected a socket "
					 "path after unix:",
					 s);
		if (strlen(p) >= sizeof(spec->path))
			return error_set(err, ENAMETOOLONG,
					 "--console %s: socket path longer "
					 "than %zu bytes",
					 s, sizeof(spec->path) - 1);
		spec->kind = CONSOLE_UNIX;
		strcpy(spec->path, p);
		return 0;
	}
	return error_set(err, EINVAL,
			 "--console %s: expected stdio, pty, unix:PATH or none",
			 s);
}

/* ---- output ring --------------------------------------------------------- */

static void wake(struct console *c)
{
	uint64_t one = 1;

	if (write(c->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("console", "wake: %s", strerror(errno));
}

void console_write(struct console *c, const uint8_t *buf, size_t len)
{
	bool need_wake = false;
	uint64_t over;
	size_t pos, n;

	if (!c || !len || c->kind == CONSOLE_NONE)
		return;
	pthread_mutex_lock(&c->lock);
	if (len > CONSOLE_OUT_RING) { /* only the tail can survive */
		atomic_fetch_add(&c->dropped, len - CONSOLE_OUT_RING);
		c->rd = c->wr;
		buf += len - CONSOLE_OUT_RING;
		len = CONSOLE_OUT_RING;
	}
	over = c->wr + len - c->rd;
	if (over > CONSOLE_OUT_RING) { /* drop the oldest */
		atomic_fetch_add(&c->dropped, over - CONSOLE_OUT_RING);
		c->rd += over - CONSOLE_OUT_RING;
	}
	pos = c->wr & (CONSOLE_OUT_RING - 1);
	n = CONSOLE_OUT_RING - pos < len ? CONSOLE_OUT_RING - pos : len;
	memcpy(c->ring + pos, buf, n);
	memcpy(c->ring, buf + n, len - n);
	c->wr += len;
	if (!c->notified) {
		c->notified = true;
		need_wake = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (need_wake)
		wake(c);
}

static void write_str(struct console *c, const char *s)
{
	console_write(c, (const uint8_t *)s, strlen(s));
}

static bool ring_empty(struct console *c)
{
	bool e;

	pthread_mutex_lock(&c->lock);
	e = c->rd == c->wr;
	pthread_mutex_unlock(&c->lock);
	return e;
}

static void drop_client(struct console *c);

/*
 * Write what the fd takes now. Returns false if the consumer went away.
 * `notified` is cleared only once the ring is empty: while bytes wait for a
 * blocked or absent consumer, writers need not wake us (we poll POLLOUT),
 * so a guest printing into a full pty costs no system call per byte.
 */
static bool drain(struct console *c)
{
	uint8_t chunk[16384];
	uint64_t start;
	ssize_t n;
	size_t len, pos;

	for (;;) {
		pthread_mutex_lock(&c->lock);
		if (c->rd == c->wr)
			c->notified = false;
		start = c->rd;
		len = c->wr - c->rd < sizeof(chunk) ? c->wr - c->rd
						    : sizeof(chunk);
		pos = start & (CONSOLE_OUT_RING - 1);
		if (len > CONSOLE_OUT_RING - pos)
			len = CONSOLE_OUT_RING - pos;
		memcpy(chunk, c->ring + pos, len);
		pthread_mutex_unlock(&c->lock);
		if (!len)
			return true;

		if (c->kind == CONSOLE_UNIX)
			n = send(c->out_fd, chunk, len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = write(c->out_fd, chunk, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;

		pthread_mutex_lock(&c->lock);
		if (c->rd < start + (uint64_t)n) /* unless dropped meanwhile */
			c->rd = start + (uint64_t)n;
		pthread_mutex_unlock(&c->lock);
	}
}

/* ---- input --------------------------------------------------------------- */

static const char help_text[] = "\r\nC-a h    print this help\r\n"
				"C-a x    exit emulator\r\n"
				"C-a c    (no monitor: ignored)\r\n"
				"C-a C-a  sends C-a\r\n";

/* Copy raw input into in_buf, applying the escape keys. */
static void take_input(struct console *c, const uint8_t *raw, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t ch = raw[i];

		if (!c->escape) {
			c->in_buf[c->in_len++] = ch;
			continue;
		}
		if (!c->got_escape) {
			if (ch == CONSOLE_ESCAPE)
				c->got_escape = true;
			else
				c->in_buf[c->in_len++] = ch;
			continue;
		}
		c->got_escape = false;
		switch (ch) {
		case CONSOLE_ESCAPE: c->in_buf[c->in_len++] = ch; break;
		case 'x':
		case 'X':
			write_str(c, "\r\nsoftvisor: terminated by C-a x\r\n");
			if (c->ops.quit)
				c->ops.quit(c->opaque);
			break;
		case 'h':
		case 'H':
		case '?': write_str(c, help_text); break;
		default: /* unknown escape: both bytes dropped, as QEMU */
			break;
		}
	}
}

static void deliver_buffer(struct console *c)
{
	if (c->scripted && c->ops.listening && !c->ops.listening(c->opaque))
		return; /* offered again after RETRY_MS */
	while (c->in_off < c->in_len) {
		size_t n = 0;

		if (c->ops.input)
			n = c->ops.input(c->opaque, c->in_buf + c->in_off,
					 c->in_len - c->in_off);
		else
			n = c->in_len - c->in_off; /* nobody listens */
		if (n == 0)
			break;
		if (n > c->in_len - c->in_off)
			n = c->in_len - c->in_off;
		c->in_off += n;
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
}

static void deliver(struct console *c)
{
	deliver_buffer(c);
	if (!c->in_len && c->eot_pending) {
		c->eot_pending = false;
		c->in_buf[0] = 0x04;
		c->in_len = 1;
		deliver_buffer(c);
	}
	atomic_store(&c->in_pending, c->in_len != 0);
}

/* Returns false on EOF or error of the input fd. */
static bool read_input(struct console *c)
{
	uint8_t raw[IN_BUF];
	ssize_t n;

	n = read(c->in_fd, raw, sizeof(raw));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	take_input(c, raw, (size_t)n);
	deliver(c);
	return true;
}

void console_kick_input(struct console *c)
{
	if (c && atomic_load(&c->in_pending))
		wake(c);
}

/* ---- unix socket clients ------------------------------------------------- */

static void drop_client(struct console *c)
{
	if (c->kind != CONSOLE_UNIX || c->in_fd < 0)
		return;
	close(c->in_fd);
	c->in_fd = c->out_fd = -1;
	c->got_escape = false;
	log_info("console", "unix:%s: client disconnected", c->sock_path);
}

static void accept_client(struct console *c)
{
	static const char busy[] = "console busy\r\n";
	int fd;

	fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (c->in_fd >= 0) {
		if (send(fd, busy, sizeof(busy) - 1,
			 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("console", "busy: %s", strerror(errno));
		close(fd);
		return;
	}
	c->in_fd = c->out_fd = fd;
	log_info("console", "unix:%s: client connected", c->sock_path);
}

/* ---- the thread ---------------------------------------------------------- */

static void *console_thread(void *arg)
{
	struct console *c = arg;

	while (!atomic_load(&c->stop)) {
		struct pollfd p[3];
		int np = 0, iw = -1, iio = -1, il = -1, timeout = -1;
		short ev = 0;

		p[np] = (struct pollfd){ .fd = c->wake_fd, .events = POLLIN };
		iw = np++;
		if (c->in_fd >= 0 && !c->in_eof && !c->in_len)
			ev |= POLLIN;
		if (c->out_fd >= 0 && !ring_empty(c))
			ev |= POLLOUT;
		if (c->in_len)
			timeout = RETRY_MS;
		if (c->in_fd == c->out_fd && c->in_fd >= 0) {
			p[np] = (struct pollfd){ .fd = c->in_fd, .events = ev };
			iio = np++;
		} else {
			if (ev & POLLIN) {
				p[np] = (struct pollfd){ .fd = c->in_fd,
							 .events = POLLIN };
				iio = np++;
			}
			if (ev & POLLOUT) {
				p[np] = (struct pollfd){ .fd = c->out_fd,
							 .events = POLLOUT };
				np++;
			}
		}
		if (c->listen_fd >= 0) {
			p[np] = (struct pollfd){ .fd = c->listen_fd,
						 .events = POLLIN };
			il = np++;
		}
		if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR) {
			log_error("console", "poll: %s", strerror(errno));
			break;
		}
		if (p[iw].revents & POLLIN) {
			uint64_t v;

			if (read(c->wake_fd, &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				log_warn("console", "wake read: %s",
					 strerror(errno));
		}
		if (c->in_len)
			deliver(c);
		if (iio >= 0 && p[iio].revents) {
			short re = p[iio].revents;
			bool gone = false;

			/* Read first: data may come with the hang-up. */
			if ((re & POLLIN) && !c->in_len)
				gone = !read_input(c);
			else if (re & (POLLHUP | POLLERR))
				gone = !(re & POLLIN);
			if (gone && c->kind == CONSOLE_UNIX)
				drop_client(c);
			else if (gone) {
				c->in_eof = true;
				c->eot_pending = c->scripted;
				deliver(c);
			}
		}
		if (c->out_fd >= 0 && !ring_empty(c) && !drain(c))
			drop_client(c);
		if (il >= 0 && (p[il].revents & POLLIN))
			accept_client(c);
	}
	return NULL;
}

/* ---- backends ------------------------------------------------------------ */

static int open_pty(struct console *c, const struct console_opts *o,
		    struct error *err)
{
	struct termios tio;
	const char *name;
	int m;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (m < 0)
		return error_set(err, errno, "console pty: posix_openpt: %s",
				 strerror(errno));
	if (grantpt(m) < 0 || unlockpt(m) < 0 || !(name = ptsname(m))) {
		int e = errno;

		close(m);
		return error_set(err, e, "console pty: %s", strerror(e));
	}
	snprintf(c->pty_path, sizeof(c->pty_path), "%s", name);
	c->slave_fd = open(c->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->slave_fd < 0) {
		int e = errno;

		close(m);
		return error_set(err, e, "console pty %s: %s", c->pty_path,
				 strerror(e));
	}
	/* A serial line: raw, no echo; whoever opens the slave may change
	 * it (screen, minicom, pexpect). */
	if (tcgetattr(c->slave_fd, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(c->slave_fd, TCSANOW, &tio);
	}
	c->in_fd = c->out_fd = m;
	if (!o->quiet)
		fprintf(stderr, "console: %s\n", c->pty_path);
	return 0;
}

static int open_unix(struct console *c, const struct console_spec *spec,
		     struct error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, e;

	snprintf(c->sock_path, sizeof(c->sock_path), "%s", spec->path);
	if (lstat(spec->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return error_set(err, EEXIST,
					 "console unix:%s: exists and is not "
					 "a socket",
					 spec->path);
		unlink(spec->path); /* a stale socket from an earlier run */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, errno, "console unix:%s: socket: %s",
				 spec->path, strerror(errno));
	memcpy(sa.sun_path, spec->path, strlen(spec->path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		e = errno;
		close(fd);
		return error_set(err, e, "console unix:%s: %s", spec->path,
				 strerror(e));
	}
	c->listen_fd = fd;
	return 0;
}

struct console *console_open(const struct console_spec *spec,
			     const struct console_ops *ops, void *opaque,
			     const struct console_opts *opts, struct error *err)
{
	static const struct console_opts no_opts;
	const struct console_opts *o = opts ? opts : &no_opts;
	struct console *c;
	sigset_t all, old;
	int rc = 0;

	c = calloc(1, sizeof(*c));
	if (!c || !(c->ring = malloc(CONSOLE_OUT_RING))) {
		free(c);
		error_set(err, ENOMEM, "console: out of memory");
		return NULL;
	}
	c->kind = spec->kind;
	c->wake_fd = -1;
	if (ops)
		c->ops = *ops;
	c->opaque = opaque;
	c->in_fd = c->out_fd = c->listen_fd = c->slave_fd = -1;
	c->escape = o->force_escape ||
		    (spec->kind == CONSOLE_STDIO && !o->no_escape);
	pthread_mutex_init(&c->lock, NULL);
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd < 0) {
		error_set(err, errno, "console: eventfd: %s", strerror(errno));
		goto fail;
	}
	switch (spec->kind) {
	case CONSOLE_STDIO:
		rc = stdio_raw(err);
		c->scripted = !isatty(STDIN_FILENO);
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		break;
	case CONSOLE_PTY: rc = open_pty(c, o, err); break;
	case CONSOLE_UNIX: rc = open_unix(c, spec, err); break;
	case CONSOLE_NONE: break;
	}
	if (rc)
		goto fail;

	/* The thread takes no process signals: they stay with the owner,
	 * and a SIGPIPE from a vanished reader becomes EPIPE here. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&c->thread, NULL, console_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		error_set(err, rc, "console: thread: %s", strerror(rc));
		goto fail;
	}
	c->thread_started = true;
	return c;
fail:
	console_close(c);
	return NULL;
}

/* Give queued output a bounded chance to leave before closing. */
static void flush_on_close(struct console *c)
{
	int waited = 0;

	while (c->out_fd >= 0 && !ring_empty(c) && waited < CLOSE_FLUSH_MS) {
		struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };

		if (poll(&p, 1, 10) > 0 && !drain(c))
			break;
		waited += 10;
	}
}

void console_close(struct console *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		atomic_store(&c->stop, true);
		wake(c);
		pthread_join(c->thread, NULL);
	}
	flush_on_close(c);
	if (c->kind == CONSOLE_STDIO)
		console_restore_terminal();
	if (c->kind == CONSOLE_PTY && c->in_fd >= 0)
		close(c->in_fd);
	if (c->kind == CONSOLE_UNIX) {
		drop_client(c);
		if (c->listen_fd >= 0) {
			close(c->listen_fd);
			unlink(c->sock_path);
		}
	}
	if (c->slave_fd >= 0)
		close(c->slave_fd);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	pthread_mutex_destroy(&c->lock);
	free(c->ring);
	free(c);
}

const char *console_pty_path(const struct console *c)
{
	return c && c->kind == CONSOLE_PTY ? c->pty_path : NULL;
}

uint64_t console_dropped(const struct console *c)
{
	return atomic_load(&c->dropped);
}
