/*
 * softvisor top -N: the network view (esxtop's "n"), one row per port of
 * every virtual switch of the daemon (GET /v1/switches; docs/network.md)
 * and one per switch: frames and Mbit/s each way, drops, and the CPU cost
 * of switching, the switch thread's CPU time spent on the frames a port
 * sent, as a share of one host CPU (%CPU). Rates are the difference of
 * two samples. The parsing and the formatting are plain functions (tested
 * in tests/unit/cli); the I/O is top_net_run.c.
 */
#ifndef SV_CLI_TOP_NET_H
#define SV_CLI_TOP_NET_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util/error.h"

struct client;

/* Cumulative figures of one port ("uplink" for the uplink, "*" for the
 * whole switch: its thread's CPU time, the ports' counters summed). */
struct top_net_port {
	char sw[32];
	char port[12];
	char portgroup[32];
	char mac[18];
	uint64_t tx_frames, tx_bytes, rx_frames, rx_bytes;
	uint64_t tx_dropped, rx_dropped;
	uint64_t cpu_us;
};

/* What the screen shows of one port over one interval. */
struct top_net_rate {
	struct top_net_port cur;
	double tx_pps, rx_pps, tx_mbps, rx_mbps, drop_tx, drop_rx, cpu_pct;
};

/* Parse a /v1/switches reply into *out (malloc'd; per switch, its row
 * then its ports by id, the uplink last), *n rows. -EPROTO naming the
 * field when the reply is not what the API promises. */
int top_net_parse(const json_t *reply, struct top_net_port **out, size_t *n,
		  struct error *err);
/* Rates of cur against prev (matched by switch, port and MAC; a port not
 * in prev is new: counted from zero) over dt_s seconds. out has n_cur. */
void top_net_rates(const struct top_net_port *prev, size_t n_prev,
		   const struct top_net_port *cur, size_t n_cur, double dt_s,
		   struct top_net_rate *out);

void top_net_heading(char *buf, size_t len);
void top_net_row(char *buf, size_t len, const struct top_net_rate *r);
int top_net_csv_header(FILE *f);
int top_net_csv(FILE *f, const struct top_net_rate *r, size_t n,
		uint64_t time_ms);

/* The view: count screens (< 0: until *stop), every delay_s; CSV with
 * batch. Returns a CLI exit status. */
int top_net_run(struct client *c, double delay_s, long count, int batch,
		volatile sig_atomic_t *stop);

#endif
