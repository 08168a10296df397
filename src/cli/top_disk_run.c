/* softvisor top -D, the I/O: fetching, the screen, batch (top_disk.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curses.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/top_disk.h"

static int fetch(struct client *c, struct top_disk **d, size_t *n,
		 struct error *err)
{
	json_t *reply = NULL;
	int status = 0;
	int r = client_request(c, "GET", "/v1/host/disks", NULL, &reply,
			       &status, err);

	if (r == 0)
		r = top_disk_parse(reply, d, n, err);
	json_decref(reply);
	return r;
}

static uint64_t now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void draw(const struct top_disk *d, size_t n, const char *status)
{
	char line[512];

	erase();
	mvprintw(0, 0,
		 "softvisor top - disks (q quits; every disk of every "
		 "running VM, the daemon's last period)");
	if (status[0])
		mvprintw(1, 0, "%s", status);
	top_disk_heading(line, sizeof(line));
	attron(A_REVERSE);
	mvprintw(2, 0, "%-*s", COLS > 0 ? COLS : 1, line);
	attroff(A_REVERSE);
	for (size_t i = 0; i < n && (int)i + 3 < LINES; i++) {
		top_disk_row(line, sizeof(line), &d[i]);
		mvprintw((int)i + 3, 0, "%.*s", COLS > 0 ? COLS : 1, line);
	}
	refresh();
}

static int run_screen(struct client *c, double delay_s, long count,
		      volatile sig_atomic_t *stop)
{
	struct top_disk *d = NULL;
	size_t n = 0;
	struct error err = { 0 };
	char status[600] = "";
	SCREEN *scr;
	long samples = 0;

	if (fetch(c, &d, &n, &err) < 0) {
		fprintf(stderr, "softvisor: top: %s\n", err.msg);
		return CLI_EXIT_FAIL;
	}
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		free(d);
		fprintf(stderr, "softvisor: top: cannot drive the terminal\n");
		return CLI_EXIT_FAIL;
	}
	cbreak();
	noecho();
	curs_set(0);
	for (;;) {
		uint64_t next = now_ms(CLOCK_MONOTONIC) +
				(uint64_t)(delay_s * 1000);
		bool quit = false;

		draw(d, n, status);
		samples++;
		while (!*stop && now_ms(CLOCK_MONOTONIC) < next) {
			int ch;

			timeout(250);
			ch = getch();
			if (ch == 'q' || ch == 'Q') {
				quit = true;
				break;
			}
			if (ch == ' ')
				break;
		}
		if (quit || *stop || (count > 0 && samples >= count))
			break;
		free(d);
		d = NULL;
		n = 0;
		status[0] = '\0';
		if (fetch(c, &d, &n, &err) < 0)
			snprintf(status, sizeof(status), "%s", err.msg);
	}
	endwin();
	delscreen(scr);
	free(d);
	return *stop ? 128 + *stop : CLI_EXIT_OK;
}

int top_disk_run(struct client *c, double delay_s, long count, int batch,
		 volatile sig_atomic_t *stop)
{
	struct error err = { 0 };

	if (!batch)
		return run_screen(c, delay_s, count, stop);
	for (long k = 0; count < 0 || k < count; k++) {
		struct top_disk *d = NULL;
		size_t n = 0;
		int r;

		if (k > 0) {
			struct timespec ts = {
				.tv_sec = (time_t)delay_s,
				.tv_nsec = (long)((delay_s -
						   (double)(time_t)delay_s) *
						  1e9),
			};
			nanosleep(&ts, NULL);
		}
		if (*stop)
			return 128 + *stop;
		if (fetch(c, &d, &n, &err) < 0) {
			fprintf(stderr, "softvisor: top: %s\n", err.msg);
			return CLI_EXIT_FAIL;
		}
		r = k == 0 ? top_disk_csv_header(stdout) : 0;
		if (!r)
			r = top_disk_csv(stdout, d, n, now_ms(CLOCK_REALTIME));
		free(d);
		if (r || fflush(stdout)) {
			fprintf(stderr, "softvisor: top: writing: %s\n",
				strerror(errno ? errno : EIO));
			return CLI_EXIT_FAIL;
		}
	}
	return CLI_EXIT_OK;
}
