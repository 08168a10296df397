/* softvisor top -N, the I/O: fetching, the screen, batch (top_net.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/top_net.h"
#include "cli/top_screen.h"

struct sample {
	struct top_net_port *p;
	size_t n;
	uint64_t t_ms; /* monotonic */
};

static int fetch(struct client *c, struct sample *s, struct error *err)
{
	json_t *reply = NULL;
	int status = 0;
	int r = client_request(c, "GET", "/v1/switches", NULL, &reply, &status,
			       err);

	s->t_ms = top_clock_ms(CLOCK_MONOTONIC);
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

static void row(char *buf, size_t len, const void *rows, size_t i)
{
	top_net_row(buf, len, (const struct top_net_rate *)rows + i);
}

static void draw(const struct top_net_rate *r, size_t n, const char *status)
{
	char heading[512];

	top_net_heading(heading, sizeof(heading));
	top_screen_draw("softvisor top - network (q quits; every port of "
			"every switch, * the whole switch; %CPU: switching "
			"its frames)",
			status, heading, row, r, n);
}

static int run_screen(struct client *c, double delay_s, long count,
		      volatile sig_atomic_t *stop)
{
	struct sample prev = { 0 }, cur = { 0 };
	struct error err = { 0 };
	char status[600] = "";
	long samples = 0;

	if (fetch(c, &prev, &err) < 0) {
		fprintf(stderr, "softvisor: top: %s\n", err.msg);
		return CLI_EXIT_FAIL;
	}
	if (!top_screen_begin()) {
		free(prev.p);
		return CLI_EXIT_FAIL;
	}
	draw(NULL, 0, "measuring...");
	bool go = top_screen_wait(delay_s, stop);
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
		go = top_screen_wait(delay_s, stop);
	}
	top_screen_end();
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
		top_sleep_s(delay_s);
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
					top_clock_ms(CLOCK_REALTIME));
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
