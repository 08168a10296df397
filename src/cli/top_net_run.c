/* softvisor top -N, the I/O: fetching, the screen, batch (top_net.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curses.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/top_net.h"

struct sample {
	struct top_net_port *p;
	size_t n;
	uint64_t t_ms; /* monotonic */
};

static uint64_t now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int fetch(struct client *c, struct sample *s, struct error *err)
{
	json_t *reply = NULL;
	int status = 0;
	int r = client_request(c, "GET", "/v1/switches", NULL, &reply, &status,
			       err);

	s->t_ms = now_ms(CLOCK_MONOTONIC);
	if (r == 0)
		r = top_net_parse(reply, &s->p, &s->n, err);
	json_decref(reply);
	return r;
}

/* The rates of cur against prev, into a malloc'd array. */
static struct top_net_rate *rates(const struct sample *prev,
				  const struct sample *cur)
{
	struct top_net_rate *r = calloc(cur->n + 1, sizeof(*r));

	if (r)
		top_net_rates(prev->p, prev->n, cur->p, cur->n,
			      (double)(cur->t_ms - prev->t_ms) / 1000.0, r);
	return r;
}

static void sleep_s(double s)
{
	struct timespec ts = {
		.tv_sec = (time_t)s,
		.tv_nsec = (long)((s - (double)(time_t)s) * 1e9),
	};
	nanosleep(&ts, NULL);
}

static void draw(const struct top_net_rate *r, size_t n, const char *status)
{
	char line[512];

	erase();
	mvprintw(0, 0,
		 "softvisor top - network (q quits; every port of every "
		 "switch, * the whole switch; %%CPU: switching its frames)");
	if (status[0])
		mvprintw(1, 0, "%s", status);
	top_net_heading(line, sizeof(line));
	attron(A_REVERSE);
	mvprintw(2, 0, "%-*s", COLS > 0 ? COLS : 1, line);
	attroff(A_REVERSE);
	for (size_t i = 0; i < n && (int)i + 3 < LINES; i++) {
		top_net_row(line, sizeof(line), &r[i]);
		mvprintw((int)i + 3, 0, "%.*s", COLS > 0 ? COLS : 1, line);
	}
	refresh();
}

/* Wait delay_s for a key: false when the user quit. */
static bool wait_keys(double delay_s, volatile sig_atomic_t *stop)
{
	uint64_t next = now_ms(CLOCK_MONOTONIC) + (uint64_t)(delay_s * 1000);

	while (!*stop && now_ms(CLOCK_MONOTONIC) < next) {
		int ch;

		timeout(250);
		ch = getch();
		if (ch == 'q' || ch == 'Q')
			return false;
		if (ch == ' ')
			break;
	}
	return true;
}

static int run_screen(struct client *c, double delay_s, long count,
		      volatile sig_atomic_t *stop)
{
	struct sample prev = { 0 }, cur = { 0 };
	struct error err = { 0 };
	char status[600] = "";
	long samples = 0;
	SCREEN *scr;

	if (fetch(c, &prev, &err) < 0) {
		fprintf(stderr, "softvisor: top: %s\n", err.msg);
		return CLI_EXIT_FAIL;
	}
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		free(prev.p);
		fprintf(stderr, "softvisor: top: cannot drive the terminal\n");
		return CLI_EXIT_FAIL;
	}
	cbreak();
	noecho();
	curs_set(0);
	draw(NULL, 0, "measuring...");
	bool go = wait_keys(delay_s, stop);
	while (go && !*stop) {
		status[0] = '\0';
		if (fetch(c, &cur, &err) < 0) {
			snprintf(status, sizeof(status), "%s", err.msg);
			draw(NULL, 0, status);
		} else {
			struct top_net_rate *r = rates(&prev, &cur);
			draw(r, r ? cur.n : 0, r ? "" : "out of memory");
			free(r);
			free(prev.p);
			prev = cur;
			cur = (struct sample){ 0 };
		}
		if (count > 0 && ++samples >= count)
			break;
		go = wait_keys(delay_s, stop);
	}
	endwin();
	delscreen(scr);
	free(prev.p);
	return *stop ? 128 + *stop : CLI_EXIT_OK;
}

int top_net_run(struct client *c, double delay_s, long count, int batch,
		volatile sig_atomic_t *stop)
{
	struct sample prev = { 0 }, cur = { 0 };
	struct error err = { 0 };
	int r = 0;

	if (!batch)
		return run_screen(c, delay_s, count, stop);
	/* the first line of figures needs two samples: one interval */
	if (fetch(c, &prev, &err) < 0) {
		fprintf(stderr, "softvisor: top: %s\n", err.msg);
		return CLI_EXIT_FAIL;
	}
	for (long k = 0; count < 0 || k < count; k++) {
		sleep_s(delay_s);
		if (*stop)
			break;
		if (fetch(c, &cur, &err) < 0) {
			fprintf(stderr, "softvisor: top: %s\n", err.msg);
			free(prev.p);
			return CLI_EXIT_FAIL;
		}
		struct top_net_rate *rt = rates(&prev, &cur);
		r = !rt ? -ENOMEM : k == 0 ? top_net_csv_header(stdout) : 0;
		if (!r)
			r = top_net_csv(stdout, rt, cur.n,
					now_ms(CLOCK_REALTIME));
		free(rt);
		free(prev.p);
		prev = cur;
		cur = (struct sample){ 0 };
		if (r || fflush(stdout)) {
			fprintf(stderr, "softvisor: top: writing: %s\n",
				strerror(r	 ? -r
					 : errno ? errno
						 : EIO));
			free(prev.p);
			return CLI_EXIT_FAIL;
		}
	}
	free(prev.p);
	return *stop ? 128 + *stop : CLI_EXIT_OK;
}
