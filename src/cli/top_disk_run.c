/* softvisor top -D, the I/O: fetching, the screen, batch (top_disk.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/top_disk.h"
#include "cli/top_screen.h"

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

static void row(char *buf, size_t len, const void *rows, size_t i)
{
	top_disk_row(buf, len, (const struct top_disk *)rows + i);
}

static int run_screen(struct client *c, double delay_s, long count,
		      volatile sig_atomic_t *stop)
{
	struct top_disk *d = NULL;
	size_t n = 0;
	struct error err = { 0 };
	char heading[512], status[600] = "";
	long samples = 0;

	if (fetch(c, &d, &n, &err) < 0) {
		fprintf(stderr, "softvisor: top: %s\n", err.msg);
		return CLI_EXIT_FAIL;
	}
	if (!top_screen_begin()) {
		free(d);
		return CLI_EXIT_FAIL;
	}
	top_disk_heading(heading, sizeof(heading));
	for (;;) {
		top_screen_draw("softvisor top - disks (q quits; every disk of "
				"every running VM, the daemon's last period)",
				status, heading, row, d, n);
		samples++;
		if (!top_screen_wait(delay_s, stop) ||
		    (count > 0 && samples >= count))
			break;
		free(d);
		d = NULL;
		n = 0;
		status[0] = '\0';
		if (fetch(c, &d, &n, &err) < 0)
			snprintf(status, sizeof(status), "%s", err.msg);
	}
	top_screen_end();
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

		if (k > 0)
			top_sleep_s(delay_s);
		if (*stop)
			return 128 + *stop;
		if (fetch(c, &d, &n, &err) < 0) {
			fprintf(stderr, "softvisor: top: %s\n", err.msg);
			return CLI_EXIT_FAIL;
		}
		r = k == 0 ? top_disk_csv_header(stdout) : 0;
		if (!r)
			r = top_disk_csv(stdout, d, n,
					 top_clock_ms(CLOCK_REALTIME));
		free(d);
		if (r || fflush(stdout)) {
			fprintf(stderr, "softvisor: top: writing: %s\n",
				strerror(errno ? errno : EIO));
			return CLI_EXIT_FAIL;
		}
	}
	return CLI_EXIT_OK;
}
