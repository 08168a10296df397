/* The terminal side of `softvisor top -D` and `-N` (top_screen.h). */
#include <stdio.h>

#include <curses.h>

#include "cli/top_screen.h"

static SCREEN *screen;

uint64_t top_clock_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void top_sleep_s(double s)
{
	struct timespec ts = {
		.tv_sec = (time_t)s,
		.tv_nsec = (long)((s - (double)(time_t)s) * 1e9),
	};
	nanosleep(&ts, NULL);
}

bool top_screen_begin(void)
{
	screen = newterm(NULL, stdout, stdin);
	if (!screen) {
		fprintf(stderr, "softvisor: top: cannot drive the terminal\n");
		return false;
	}
	cbreak();
	noecho();
	curs_set(0);
	return true;
}

void top_screen_end(void)
{
	endwin();
	delscreen(screen);
	screen = NULL;
}

void top_screen_draw(const char *title, const char *status, const char *heading,
		     top_row_fn row, const void *rows, size_t n)
{
	char line[512];
	int cols = COLS > 0 ? COLS : 1;

	erase();
	mvprintw(0, 0, "%s", title);
	if (status[0])
		mvprintw(1, 0, "%s", status);
	attron(A_REVERSE);
	mvprintw(2, 0, "%-*s", cols, heading);
	attroff(A_REVERSE);
	for (size_t i = 0; i < n && (int)i + 3 < LINES; i++) {
		row(line, sizeof(line), rows, i);
		mvprintw((int)i + 3, 0, "%.*s", cols, line);
	}
	refresh();
}

bool top_screen_wait(double delay_s, volatile sig_atomic_t *stop)
{
	uint64_t next = top_clock_ms(CLOCK_MONOTONIC) +
			(uint64_t)(delay_s * 1000);

	while (!*stop && top_clock_ms(CLOCK_MONOTONIC) < next) {
		int ch;

		timeout(250);
		ch = getch();
		if (ch == 'q' || ch == 'Q')
			return false;
		if (ch == ' ')
			break;
	}
	return !*stop;
}
