/*
 * Host side of the VM console: connects the board's UART to the user's
 * terminal, a pseudo-terminal or a unix socket.
 *
 * Backends (spec strings, --console):
 *   "stdio"       the terminal: raw mode when stdin is a tty, restored on
 *                 every exit path (console_close, exit()/atexit, fatal and
 *                 terminating signals whose disposition was the default);
 *                 QEMU's escape keys: Ctrl-A x quit, Ctrl-A h help,
 *                 Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A c (no monitor:
 *                 ignored), any other Ctrl-A sequence is dropped.
 *                 When stdin is a pipe or a file (a script drives the
 *                 VM), its bytes wait until the guest listens (the
 *                 listening callback: a program has the console open), so
 *                 none is lost to the driver's start-up, and its end
 *                 reaches the guest as one Ctrl-D (EOT) after them, as if
 *                 typed: a shell reading the console in canonical mode
 *                 sees end of file.
 *   "pty"         a new pseudo-terminal in raw mode; its slave path is
 *                 printed on stderr ("console: /dev/pts/N") and returned by
 *                 console_pty_path().
 *   "unix:PATH"   a listening stream socket at PATH; one client at a time
 *                 (others are told "console busy" and closed); a client may
 *                 disconnect and a new one connect.
 *   "none"        output discarded, no input.
 *
 * Input: a background thread polls the host side and hands bytes to the
 * sink callback (the UART's receiver). The sink returns how many bytes it
 * took; the rest is kept and offered again after console_kick_input() or a
 * 10 ms retry. The sink and quit callbacks run on that thread.
 *
 * Output: console_write() never blocks: bytes go into a bounded ring
 * (CONSOLE_OUT_RING bytes) drained by the thread. If the consumer is slower
 * than the guest or absent (pty nobody reads, socket without a client) the
 * OLDEST unread bytes are dropped, so a client that connects later sees the
 * most recent output. A vCPU is never held up by a slow consumer.
 *
 * Thread safety: console_write() and console_kick_input() may be called
 * from any thread. console_open/close from the owner thread only; close
 * joins the thread, so the callbacks are not running after it returns.
 */
#ifndef SV_MACHINE_CONSOLE_H
#define SV_MACHINE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define CONSOLE_OUT_RING (256 * 1024)
#define CONSOLE_ESCAPE	 0x01 /* Ctrl-A */

enum console_kind {
	CONSOLE_NONE,
	CONSOLE_STDIO,
	CONSOLE_PTY,
	CONSOLE_UNIX,
};

struct console_spec {
	enum console_kind kind;
	char path[108]; /* CONSOLE_UNIX: socket path (sun_path limit) */
};

/* Parse "stdio", "pty", "unix:PATH" or "none". */
int console_parse(const char *s, struct console_spec *spec, struct error *err);

struct console_ops {
	/* Deliver guest input; return the number of bytes accepted. */
	size_t (*input)(void *opaque, const uint8_t *buf, size_t len);
	/* Ctrl-A x: the user wants the VM to stop. May be NULL. Runs on
	 * the console thread: it must not call console_close() itself. */
	void (*quit)(void *opaque);
	/* Whether the guest reads its console now (see "stdio" above).
	 * May be NULL (always). */
	bool (*listening)(void *opaque);
};

struct console_opts {
	/* Handle the Ctrl-A escape keys on input. Default for stdio; pass
	 * force_escape to enable it on pty/unix too (tests), or
	 * no_escape to make stdio binary-clean. */
	bool force_escape, no_escape;
	/* stdio: do not print "console: ..." banners (pty path is still
	 * available from console_pty_path). */
	bool quiet;
};

struct console;

/* Open the backend and start its thread. opts may be NULL. */
struct console *console_open(const struct console_spec *spec,
			     const struct console_ops *ops, void *opaque,
			     const struct console_opts *opts,
			     struct error *err);

/* Stop the thread, flush pending output (best effort, bounded), restore the
 * terminal, close and unlink what was opened. NULL is a no-op. */
void console_close(struct console *c);

/* Queue guest output (see "Output" above). Any thread; never blocks. */
void console_write(struct console *c, const uint8_t *buf, size_t len);

/* The sink can take input again (the UART's RX FIFO drained). Any thread. */
void console_kick_input(struct console *c);

/* Slave path of a pty console, NULL for other kinds. */
const char *console_pty_path(const struct console *c);

/* Bytes of output dropped because the ring was full (statistics). */
uint64_t console_dropped(const struct console *c);

/* Restore the terminal if a stdio console put it in raw mode. Safe to call
 * from a signal handler and more than once; a caller that installs its
 * own SIGINT/SIGTERM handlers should call it before exiting abnormally. */
void console_restore_terminal(void);

#endif
