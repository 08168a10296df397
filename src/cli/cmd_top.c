/*
 * softvisor top: esxtop-style view of the daemon's scheduler figures
 * (GET /v1/host/stats, every -d seconds). Interactive on a terminal with
 * ncurses, or CSV on stdout with -b for scripts. The parsing, sorting and
 * formatting live in top_view.c; this file does the I/O and the keys.
 *
 * The terminal must come back sane on every way out: 'q', an error after
 * the screen is up, SIGINT/SIGTERM/SIGHUP/SIGQUIT (a flag checked by the
 * key loop, which wakes at least every TOP_KEY_SLICE_MS), and crashes
 * (SIGSEGV & co. call endwin() and re-raise). atexit() covers exit().
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/top_disk.h"
#include "cli/top_net.h"
#include "cli/top_view.h"

#define TOP_KEY_SLICE_MS 250
#define TOP_DELAY_MIN	 0.1
#define TOP_DELAY_MAX	 86400.0

/* Screen rows above and below the table. */
#define TOP_ROW_TITLE	0
#define TOP_ROW_HOST	1
#define TOP_ROW_STATUS	2
#define TOP_ROW_HEADING 3
#define TOP_ROW_FIRST	4

struct top_args {
	struct client_opts copts;
	double delay_s;
	long count; /* samples to take; < 0 = until stopped */
	bool batch;
	bool vcpus;
	bool memory; /* the memory view (top_mem.c) */
	bool disks;  /* -D: the per-disk view (top_disk.c) */
	bool net;    /* -N: the network view (top_net.c) */
};

/* One line of the table: a VM (vcpu < 0) or one of its vCPUs. */
struct top_line {
	size_t vm;
	long vcpu;
};

struct top_ui {
	const struct top_args *args;
	struct client *client;
	struct top_sample s;
	enum top_sort_key key;
	bool reverse;
	/* Expanded VMs: expand_all XOR name in toggled[]. By name, so the
	 * state survives refreshes and re-sorting. */
	bool expand_all;
	char (*toggled)[TOP_NAME_MAX];
	size_t n_toggled;
	char selected[TOP_NAME_MAX]; /* the VM under the cursor */
	size_t sel_pos;		     /* its index, if it disappears */
	int scroll;
	struct top_line *lines;
	size_t n_lines;
	char status[512]; /* last fetch error (struct error size); "" = fine */
	bool memory;	  /* the memory view: VM rows only */
};

static volatile sig_atomic_t top_signal;
static bool top_curses_on;

static void top_restore_terminal(void)
{
	if (top_curses_on) {
		top_curses_on = false;
		endwin();
	}
}

static void top_on_signal(int sig)
{
	top_signal = sig;
}

/* Not async-signal-safe, but the process is dying anyway and a terminal
 * left in raw mode is the worse outcome. */
static void top_on_fatal(int sig)
{
	top_restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Quit signals set a flag; with fatal (only while the screen is up, so
 * sanitizers keep their own handlers in batch mode) crashes restore the
 * terminal first. */
static void top_signals(bool fatal)
{
	static const int quit_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	static const int fatal_sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
					  SIGABRT };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking read returns so the flag is seen. */
	sa.sa_handler = top_on_signal;
	for (size_t i = 0; i < ARRAY_SIZE(quit_sigs); i++)
		sigaction(quit_sigs[i], &sa, NULL);
	if (!fatal)
		return;
	sa.sa_handler = top_on_fatal;
	for (size_t i = 0; i < ARRAY_SIZE(fatal_sigs); i++)
		sigaction(fatal_sigs[i], &sa, NULL);
}

static uint64_t top_now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int top_fetch(struct client *c, struct top_sample *s, struct error *err)
{
	json_t *reply = NULL;
	int status = 0;
	int r;

	r = client_request(c, "GET", "/v1/host/stats", NULL, &reply, &status,
			   err);
	if (r == 0)
		r = top_sample_parse(reply, s, err);
	json_decref(reply);
	return r;
}

/* Batch mode: CSV lines (docs/cli.md), samples every delay_s on a
 * drift-free schedule. */
static int top_batch(const struct top_args *a, struct client *c)
{
	struct timespec next;
	uint64_t step_ns = (uint64_t)(a->delay_s * 1e9);
	struct error err = { 0 };
	int r;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long n = 0; a->count < 0 || n < a->count; n++) {
		struct top_sample s;

		if (n > 0) {
			uint64_t ns = (uint64_t)next.tv_nsec + step_ns;
			next.tv_sec += (time_t)(ns / 1000000000u);
			next.tv_nsec = (long)(ns % 1000000000u);
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
					       &next, NULL) == EINTR)
				if (top_signal)
					break;
		}
		if (top_signal)
			return 128 + top_signal;
		if (top_fetch(c, &s, &err) < 0) {
			fprintf(stderr, "softvisor: top: %s\n", err.msg);
			return CLI_EXIT_FAIL;
		}
		/* Scripts want a stable order: by name. */
		top_sample_sort(&s, TOP_SORT_NAME, false);
		/* The heading once, after the daemon answered: a failed
		 * connection leaves stdout empty. */
		if (a->memory) {
			r = n == 0 ? top_mem_csv_header(stdout) : 0;
			if (r == 0)
				r = top_mem_csv_sample(
					stdout, &s, top_now_ms(CLOCK_REALTIME));
		} else {
			r = n == 0 ? top_csv_header(stdout) : 0;
			if (r == 0)
				r = top_csv_sample(stdout, &s,
						   top_now_ms(CLOCK_REALTIME),
						   a->vcpus);
		}
		top_sample_free(&s);
		if (r || fflush(stdout)) {
			fprintf(stderr, "softvisor: top: writing: %s\n",
				strerror(errno ? errno : EIO));
			return CLI_EXIT_FAIL;
		}
	}
	return CLI_EXIT_OK;
}

static bool ui_toggled(const struct top_ui *u, const char *name, size_t *at)
{
	for (size_t i = 0; i < u->n_toggled; i++)
		if (strcmp(u->toggled[i], name) == 0) {
			if (at)
				*at = i;
			return true;
		}
	return false;
}

static bool ui_expanded(const struct top_ui *u, const char *name)
{
	if (u->memory) /* no per-vCPU memory figures */
		return false;
	return u->expand_all != ui_toggled(u, name, NULL);
}

static void ui_toggle(struct top_ui *u, const char *name)
{
	size_t at;
	void *p;

	if (ui_toggled(u, name, &at)) {
		memcpy(u->toggled[at], u->toggled[--u->n_toggled],
		       TOP_NAME_MAX);
		return;
	}
	p = realloc(u->toggled, (u->n_toggled + 1) * sizeof(*u->toggled));
	if (!p)
		return; /* keep the old view; not worth dying for */
	u->toggled = p;
	snprintf(u->toggled[u->n_toggled++], TOP_NAME_MAX, "%s", name);
}

/* Sort and flatten the sample into table lines; find the selection. */
static void ui_layout(struct top_ui *u)
{
	size_t n = u->s.n_vms;
	long sel;

	top_sample_sort(&u->s, u->key, u->reverse);
	for (size_t i = 0; i < u->s.n_vms; i++)
		if (ui_expanded(u, u->s.vms[i].row.name))
			n += u->s.vms[i].n_vcpus;
	free(u->lines);
	u->lines = n ? calloc(n, sizeof(*u->lines)) : NULL;
	u->n_lines = 0;
	if (n && !u->lines)
		return;
	for (size_t i = 0; i < u->s.n_vms; i++) {
		u->lines[u->n_lines++] = (struct top_line){ i, -1 };
		if (!ui_expanded(u, u->s.vms[i].row.name))
			continue;
		for (size_t j = 0; j < u->s.vms[i].n_vcpus; j++)
			u->lines[u->n_lines++] = (struct top_line){ i,
								    (long)j };
	}

	sel = top_sample_find(&u->s, u->selected);
	if (sel < 0 && u->s.n_vms) {
		/* The VM went away: stay at the same place in the list. */
		sel = (long)(u->sel_pos < u->s.n_vms ? u->sel_pos
						     : u->s.n_vms - 1);
		snprintf(u->selected, sizeof(u->selected), "%s",
			 u->s.vms[sel].row.name);
	}
	u->sel_pos = sel < 0 ? 0 : (size_t)sel;
}

static void ui_select(struct top_ui *u, long pos)
{
	if (!u->s.n_vms)
		return;
	if (pos < 0)
		pos = 0;
	if (pos >= (long)u->s.n_vms)
		pos = (long)u->s.n_vms - 1;
	u->sel_pos = (size_t)pos;
	snprintf(u->selected, sizeof(u->selected), "%s",
		 u->s.vms[pos].row.name);
}

static void ui_line(int y, const char *text, attr_t attr)
{
	if (y < 0 || y >= LINES)
		return;
	attrset(attr);
	move(y, 0);
	addnstr(text, COLS);
	/* Reverse/underline rows run to the right edge. */
	for (int x = (int)strlen(text); attr && x < COLS; x++)
		addch(' ');
	clrtoeol();
	attrset(A_NORMAL);
}

static void ui_draw(struct top_ui *u)
{
	char buf[512], clock[16];
	int rows = LINES - TOP_ROW_FIRST - 1; /* minus the help line */
	int name_w = top_name_width(&u->s, true);
	bool lim = u->s.has_limited;
	long sel_line = 0;
	time_t t = time(NULL);
	struct tm tm;

	erase();
	localtime_r(&t, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	snprintf(buf, sizeof(buf), "softvisor top  %s  every %gs  %s", clock,
		 u->args->delay_s, client_target(u->client));
	ui_line(TOP_ROW_TITLE, buf, A_BOLD);
	if (u->memory)
		top_format_mem_host(buf, sizeof(buf), &u->s);
	else
		top_format_host(buf, sizeof(buf), &u->s);
	ui_line(TOP_ROW_HOST, buf, A_NORMAL);
	ui_line(TOP_ROW_STATUS, u->status, A_BOLD);
	if (u->memory)
		top_format_mem_heading(buf, sizeof(buf), name_w);
	else
		top_format_heading(buf, sizeof(buf), name_w, lim);
	ui_line(TOP_ROW_HEADING, buf, A_REVERSE);

	for (size_t i = 0; i < u->n_lines; i++)
		if (u->lines[i].vcpu < 0 && u->lines[i].vm == u->sel_pos)
			sel_line = (long)i;
	/* Keep the selected VM on screen. */
	if (rows > 0) {
		if (sel_line < u->scroll)
			u->scroll = (int)sel_line;
		if (sel_line >= u->scroll + rows)
			u->scroll = (int)sel_line - rows + 1;
		if (u->scroll > (int)u->n_lines - rows)
			u->scroll = (int)u->n_lines - rows;
		if (u->scroll < 0)
			u->scroll = 0;
	}
	for (int r = 0; r < rows && u->scroll + r < (int)u->n_lines; r++) {
		const struct top_line *l = &u->lines[u->scroll + r];
		const struct top_vm *vm = &u->s.vms[l->vm];
		const struct top_row *row = l->vcpu < 0 ? &vm->row
							: &vm->vcpus[l->vcpu];

		if (u->memory)
			top_format_mem_row(buf, sizeof(buf), row, name_w);
		else
			top_format_row(buf, sizeof(buf), row, vm->n_vcpus,
				       name_w, lim);
		ui_line(TOP_ROW_FIRST + r, buf,
			u->scroll + r == sel_line ? A_REVERSE : A_NORMAL);
	}
	snprintf(buf, sizeof(buf),
		 "sort %s%s | up/down move, Enter/e expand, E all, "
		 "U R W C N sort, m %s, space refresh, q quit",
		 top_sort_key_name(u->key), u->reverse ? " (reversed)" : "",
		 u->memory ? "CPU view" : "memory view");
	if (LINES > TOP_ROW_FIRST)
		ui_line(LINES - 1, buf, A_BOLD);
	refresh();
}

static void ui_refetch(struct top_ui *u)
{
	struct top_sample s;
	struct error err = { 0 };

	if (top_fetch(u->client, &s, &err) < 0) {
		/* Keep the last figures; the daemon may come back. */
		snprintf(u->status, sizeof(u->status), "%s", err.msg);
		return;
	}
	top_sample_free(&u->s);
	u->s = s;
	u->status[0] = '\0';
}

/* Handle one key; returns false to quit. */
static bool ui_key(struct top_ui *u, int ch, bool *refetch)
{
	enum top_sort_key key;
	int page = LINES - TOP_ROW_FIRST - 1;

	switch (ch) {
	case 'q':
	case 'Q': return false;
	case KEY_UP:
	case 'k': ui_select(u, (long)u->sel_pos - 1); break;
	case KEY_DOWN:
	case 'j': ui_select(u, (long)u->sel_pos + 1); break;
	case KEY_PPAGE: ui_select(u, (long)u->sel_pos - page); break;
	case KEY_NPAGE: ui_select(u, (long)u->sel_pos + page); break;
	case KEY_HOME: ui_select(u, 0); break;
	case KEY_END: ui_select(u, (long)u->s.n_vms - 1); break;
	case '\n':
	case '\r':
	case KEY_ENTER:
	case 'e':
		if (u->s.n_vms)
			ui_toggle(u, u->selected);
		break;
	case 'E':
		u->expand_all = !u->expand_all;
		u->n_toggled = 0;
		break;
	case ' ': *refetch = true; break;
	case 'm':
	case 'M': u->memory = !u->memory; break;
	case KEY_RESIZE: break; /* ncurses updated LINES/COLS */
	default:
		if (!top_sort_key_from_char(ch, &key))
			return true;
		/* The same key again flips the order (esxtop). */
		u->reverse = key == u->key ? !u->reverse : false;
		u->key = key;
		break;
	}
	return true;
}

static int top_interactive(const struct top_args *a, struct client *c)
{
	struct top_ui u = { .args = a,
			    .client = c,
			    .expand_all = a->vcpus,
			    .memory = a->memory };
	struct error err = { 0 };
	uint64_t step_ms = (uint64_t)(a->delay_s * 1000), next;
	SCREEN *scr;
	long samples = 1;
	int ret = CLI_EXIT_OK;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "softvisor: top: not a terminal; use -b for "
				"CSV output\n");
		return CLI_EXIT_USAGE;
	}
	/* Fail before the screen goes up: a plain message is clearer. */
	if (top_fetch(c, &u.s, &err) < 0) {
		fprintf(stderr, "softvisor: top: %s\n", err.msg);
		return CLI_EXIT_FAIL;
	}
	/* newterm(), unlike initscr(), returns NULL instead of exiting. */
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		top_sample_free(&u.s);
		fprintf(stderr, "softvisor: top: cannot drive terminal '%s'\n",
			getenv("TERM") ? getenv("TERM") : "(TERM unset)");
		return CLI_EXIT_FAIL;
	}
	top_curses_on = true;
	atexit(top_restore_terminal);
	cbreak(); /* ^C still raises SIGINT */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);

	next = top_now_ms(CLOCK_MONOTONIC) + step_ms;
	ui_layout(&u);
	ui_draw(&u);
	while (!top_signal) {
		uint64_t now = top_now_ms(CLOCK_MONOTONIC);
		bool refetch = false;
		int ch;

		if (now >= next) {
			refetch = true;
		} else {
			uint64_t wait = next - now;
			timeout(wait > TOP_KEY_SLICE_MS ? TOP_KEY_SLICE_MS
							: (int)wait);
			ch = getch();
			if (ch == ERR)
				continue;
			if (!ui_key(&u, ch, &refetch))
				break;
		}
		if (refetch) {
			/* -n on the screen: leave when the last sample had
			 * its full period. */
			if (a->count > 0 && samples >= a->count)
				break;
			samples++;
			ui_refetch(&u);
			next = top_now_ms(CLOCK_MONOTONIC) + step_ms;
		}
		ui_layout(&u);
		ui_draw(&u);
	}
	top_restore_terminal();
	delscreen(scr);
	if (top_signal)
		ret = 128 + top_signal;
	top_sample_free(&u.s);
	free(u.lines);
	free(u.toggled);
	return ret;
}

static void top_usage(FILE *f)
{
	fprintf(f,
		"usage: softvisor top [-b] [-n COUNT] [-d SECONDS] [-H] [-m] "
		"[connection options]\n"
		"\n"
		"Show the scheduler's per-VM and per-vCPU figures (esxtop "
		"style),\n"
		"refreshed every -d seconds. docs/cli.md explains the "
		"columns.\n"
		"\n"
		"  -d, --delay SECONDS  time between samples (default 2; "
		"0.1..86400)\n"
		"  -b, --batch          CSV on stdout instead of the screen\n"
		"  -n, --iterations N   take N samples, then exit (default: "
		"until\n"
		"                       stopped)\n"
		"  -H, --vcpus          batch: a line per vCPU too; screen: "
		"start\n"
		"                       with every VM expanded\n"
		"  -m, --memory         the memory view (MEMSZ, GRANT, SZTGT, "
		"ACTV,\n"
		"                       ZERO, balloon; key m switches)\n"
		"  -D, --disks          per-disk figures instead: IOPS, MB/s,\n"
		"                       latency, time throttled, shares, cap\n"
		"  -N, --network        per-port figures of the switches: "
		"frames,\n"
		"                       Mbit/s, drops, %%CPU of switching\n"
		"  -h, --help           this text\n"
		"\n"
		"keys: up/down/PgUp/PgDn/Home/End move, Enter or e expands "
		"the\n"
		"selected VM into its vCPUs, E expands all, U %%USED, R %%RDY, "
		"W %%WAIT,\n"
		"C %%CSTP, N name sort (again: reverse), m memory/CPU view, "
		"space\n"
		"refreshes, q quits.\n"
		"\n");
	client_opts_usage(f);
}

static int top_parse_args(int argc, char **argv, struct top_args *a)
{
	static const struct option opts[] = {
		{ "batch", no_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "delay", required_argument, NULL, 'd' },
		{ "vcpus", no_argument, NULL, 'H' },
		{ "memory", no_argument, NULL, 'm' },
		{ "disks", no_argument, NULL, 'D' },
		{ "network", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		CLIENT_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct error err = { 0 };
	char *end;
	int c;

	a->delay_s = 2;
	a->count = -1;
	while ((c = getopt_long(argc, argv, "bn:d:HmDNh", opts, NULL)) != -1) {
		switch (c) {
		case 'b': a->batch = true; break;
		case 'H': a->vcpus = true; break;
		case 'm': a->memory = true; break;
		case 'D': a->disks = true; break;
		case 'N': a->net = true; break;
		case 'h': top_usage(stdout); return 1;
		case 'n':
			errno = 0;
			a->count = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || a->count < 1) {
				fprintf(stderr,
					"softvisor: top: -n %s: expected a "
					"number of samples >= 1\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			errno = 0;
			a->delay_s = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !isfinite(a->delay_s) ||
			    a->delay_s < TOP_DELAY_MIN ||
			    a->delay_s > TOP_DELAY_MAX) {
				fprintf(stderr,
					"softvisor: top: -d %s: expected "
					"seconds between 0.1 and 86400\n",
					optarg);
				return -EINVAL;
			}
			break;
		case '?': return -EINVAL; /* getopt printed why */
		default:
			if (client_opts_handle(&a->copts, c, optarg, &err) <
			    0) {
				fprintf(stderr, "softvisor: top: %s\n",
					err.msg);
				return -EINVAL;
			}
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "softvisor: top: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int cmd_top(int argc, char **argv)
{
	struct top_args a = { 0 };
	struct error err = { 0 };
	struct client *c;
	int r;

	r = top_parse_args(argc, argv, &a);
	if (r)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (client_open(&a.copts, &c, &err) < 0) {
		fprintf(stderr, "softvisor: top: %s\n", err.msg);
		return CLI_EXIT_USAGE;
	}
	top_signals(!a.batch);
	if (a.net)
		r = top_net_run(c, a.delay_s, a.count, a.batch, &top_signal);
	else if (a.disks)
		r = top_disk_run(c, a.delay_s, a.count, a.batch, &top_signal);
	else
		r = a.batch ? top_batch(&a, c) : top_interactive(&a, c);
	client_close(c);
	return r;
}
