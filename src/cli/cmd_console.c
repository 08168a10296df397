/*
 * softvisor vm console NAME: the VM's serial console over the daemon's
 * WebSocket (GET /v1/vms/NAME/console, docs/api.md): guest output to
 * stdout, stdin to the guest (the writer role unless --read-only).
 *
 * On a terminal, stdin is put in raw mode (restored on every exit path,
 * signals included) and Ctrl-] detaches. Without a terminal, stdin is
 * forwarded until EOF; output is printed until the server closes, or for
 * --linger seconds after stdin's EOF.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmdutil.h"
#include "cli/wsclient.h"
#include "util/parse.h"

#define CONSOLE_DETACH 0x1d /* Ctrl-] */

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void tty_restore(void)
{
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
		tio_saved = 0;
	}
}

static void on_signal(int sig)
{
	tty_restore(); /* tcsetattr is async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

static int tty_raw(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -errno;
	t = saved_tio;
	cfmakeraw(&t);
	atexit(tty_restore);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGQUIT, on_signal);
	/* TCSANOW, not TCSAFLUSH: what was typed before the attach is
	 * kept and goes to the guest, not dropped */
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0)
		return -errno;
	tio_saved = 1;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct console_args {
	bool read_only;
	uint64_t linger_s;
};

enum { O_READ_ONLY = 256, O_LINGER };

static int console_opt(int c, const char *arg, void *opaque, struct error *err)
{
	struct console_args *a = opaque;

	if (c == O_READ_ONLY) {
		a->read_only = true;
		return 0;
	}
	return parse_u64(arg, 0, 86400, &a->linger_s, "--linger", err);
}

static void console_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor vm console NAME [--read-only] [--linger S]\n"
		"\n"
		"Attach to a running VM's serial console. The last 64 KiB\n"
		"of output are shown first. Ctrl-] detaches. One writer at a\n"
		"time; --read-only only watches. Without a terminal, stdin\n"
		"is sent to the guest and output is printed until the VM\n"
		"stops, or until --linger S seconds (default 1) after the\n"
		"end of stdin.\n\n");
	client_opts_usage(f);
}

/* Handle the frames in the buffer. 1: the server closed; 0: go on;
 * <0: error (err set). */
static int drain_frames(struct ws_conn *ws, struct error *err)
{
	struct ws_frame f;
	int r;

	while ((r = ws_next(ws, &f, err)) > 0) {
		switch (f.opcode) {
		case WS_OP_BINARY:
		case WS_OP_TEXT:
		case WS_OP_CONT:
			if (write_all(STDOUT_FILENO, f.payload, f.len) < 0)
				return error_set(err, EPIPE,
						 "console: cannot write the "
						 "output");
			break;
		case WS_OP_CLOSE:
			/* section 5.5.1: echo the status code, then end */
			ws_send_close(ws,
				      f.len >= 2
					      ? (uint16_t)(f.payload[0] << 8 |
							   f.payload[1])
					      : WS_CLOSE_NORMAL,
				      NULL);
			return 1;
		default: break; /* ping answered by ws_next; pong ignored */
		}
	}
	return r;
}

/* Forward stdin. 1 detach (Ctrl-]), 2 EOF, 0 go on, <0 error. */
static int pump_stdin(struct ws_conn *ws, bool tty, bool writer,
		      struct error *err)
{
	uint8_t buf[4096];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	size_t len;
	uint8_t *esc;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return 2;
	len = (size_t)n;
	esc = tty ? memchr(buf, CONSOLE_DETACH, len) : NULL;
	if (esc)
		len = (size_t)(esc - buf);
	if (writer && len && ws_send(ws, WS_OP_BINARY, buf, len, err) < 0)
		return -EPIPE;
	return esc ? 1 : 0;
}

int cmd_vm_console(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "read-only", no_argument, NULL, O_READ_ONLY },
		{ "linger", required_argument, NULL, O_LINGER },
		{ NULL, 0, NULL, 0 },
	};
	struct console_args a = { .linger_s = 1 };
	struct client_opts o = { 0 };
	struct error err = { 0 };
	bool tty = isatty(STDIN_FILENO), stdin_open = true;
	int64_t deadline = -1;
	struct ws_conn *ws = NULL;
	struct client *c;
	const char *name;
	char *path;
	int r, st;

	r = cmd_parse(argc, argv, "vm console", opts, console_opt, &a, 1, &name,
		      &o, console_usage);
	if (r >= 0)
		return r;
	/* the client only resolves the connection options here */
	if ((r = cmd_open(&o, &c)) != 0)
		return r;
	path = cmd_vm_path(name, a.read_only ? "/console" : "/console?write=1");
	if (!path) {
		client_close(c);
		return CLI_EXIT_FAIL;
	}
	r = ws_connect(client_resolved(c), path, &ws, &st, &err);
	free(path);
	client_close(c);
	if (r < 0)
		return cmd_fail(&err);
	signal(SIGPIPE, SIG_IGN);
	if (tty) {
		fprintf(stderr, "[attached to %s%s; Ctrl-] detaches]\r\n", name,
			a.read_only ? " (read-only)" : "");
		if (tty_raw() < 0) {
			error_set(&err, errno, "console: terminal: %s",
				  strerror(errno));
			ws_close(ws);
			return cmd_fail(&err);
		}
	}
	/* a read-only console on a terminal still watches for Ctrl-] */
	if (a.read_only && !tty)
		stdin_open = false;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = ws_fd(ws), .events = POLLIN },
			{ .fd = STDIN_FILENO, .events = POLLIN },
		};
		int timeout = -1;

		if (ws_pending(ws)) {
			timeout = 0;
		} else if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				ws_send_close(ws, WS_CLOSE_NORMAL, NULL);
				r = CLI_EXIT_OK;
				break;
			}
			timeout = (int)left;
		}
		if (poll(p, stdin_open ? 2 : 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			r = CLI_EXIT_FAIL;
			break;
		}
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) ||
		    ws_pending(ws)) {
			ssize_t n = ws_fill(ws, &err);
			if (n < 0 && n != -EAGAIN) {
				tty_restore();
				r = cmd_fail(&err);
				break;
			}
			r = drain_frames(ws, &err);
			if (r < 0) {
				tty_restore();
				r = cmd_fail(&err);
				break;
			}
			if (r == 1) {
				tty_restore();
				if (tty)
					fprintf(stderr,
						"\n[console of %s "
						"closed]\n",
						name);
				r = CLI_EXIT_OK;
				break;
			}
			if (n == 0) {
				tty_restore();
				error_set(&err, ECONNRESET,
					  "console of %s: the daemon closed "
					  "the connection",
					  name);
				r = cmd_fail(&err);
				break;
			}
		}
		if (stdin_open && (p[1].revents & (POLLIN | POLLHUP))) {
			r = pump_stdin(ws, tty, !a.read_only, &err);
			if (r == 1) {
				ws_send_close(ws, WS_CLOSE_NORMAL, NULL);
				tty_restore();
				fprintf(stderr, "\n[detached]\n");
				r = CLI_EXIT_OK;
				break;
			}
			if (r < 0) {
				tty_restore();
				r = cmd_fail(&err);
				break;
			}
			if (r == 2) {
				stdin_open = false;
				deadline = now_ms() +
					   (int64_t)a.linger_s * 1000;
			}
		}
	}
	tty_restore();
	ws_close(ws);
	return r;
}
