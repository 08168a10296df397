/*
 * The terminal side shared by `softvisor top -D` and `-N` (top_disk_run.c,
 * top_net_run.c): a title, a status line, a reverse-video heading and one
 * line per row, refreshed every delay; q quits, space refreshes now.
 * Thread safety: curses is not thread-safe; one screen per process.
 */
#ifndef SV_CLI_TOP_SCREEN_H
#define SV_CLI_TOP_SCREEN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on clk (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for
 * the CSV's time column). */
uint64_t top_clock_ms(clockid_t clk);
/* Sleep s seconds (a signal ends it early). */
void top_sleep_s(double s);

/* Take the terminal (newterm, no echo, no cursor); false if it cannot be
 * driven, with the message printed. top_screen_end gives it back. */
bool top_screen_begin(void);
void top_screen_end(void);

/* Format row i of rows into buf (len bytes). */
typedef void (*top_row_fn)(char *buf, size_t len, const void *rows, size_t i);
/* Draw one screen: title, status (may be ""), heading, the rows that fit. */
void top_screen_draw(const char *title, const char *status, const char *heading,
		     top_row_fn row, const void *rows, size_t n);
/* Wait delay_s for a key: false when the user quit (q) or *stop is set,
 * true when the delay passed or space asked for a refresh now. */
bool top_screen_wait(double delay_s, volatile sig_atomic_t *stop);

#endif
