/* softvisor top -N, the pure part: parsing, rates, formatting (top_net.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/top_net.h"

static int u64(const json_t *o, const char *k, uint64_t *out)
{
	const json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int bad(struct error *err, size_t i, const char *what)
{
	return error_set(err, EPROTO,
			 "/v1/switches: switches[%zu]: %s missing or of the "
			 "wrong type",
			 i, what);
}

int top_net_parse(const json_t *reply, struct top_net_port **out, size_t *n,
		  struct error *err)
{
	const json_t *a = json_object_get(reply, "switches"), *sw;
	struct top_net_port *rows;
	size_t cap = 0, k = 0, i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a))
		return error_set(err, EPROTO,
				 "/v1/switches: no \"switches\" array");
	json_array_foreach(a, i, sw)
	{
		cap += 2 + json_array_size(json_object_get(sw, "ports"));
	}
	rows = calloc(cap + 1, sizeof(*rows));
	if (!rows)
		return error_set(err, ENOMEM, "out of memory");
	json_array_foreach(a, i, sw)
	{
		const char *name = json_string_value(
			json_object_get(sw, "name"));
		const json_t *ports = json_object_get(sw, "ports"), *p;
		struct top_net_port *tot = &rows[k++];
		size_t j;

		if (!name || !json_is_array(ports) ||
		    u64(sw, "cpu_us", &tot->cpu_us)) {
			free(rows);
			return bad(err, i, "name, ports or cpu_us");
		}
		snprintf(tot->sw, sizeof(tot->sw), "%s", name);
		snprintf(tot->port, sizeof(tot->port), "*");
		json_array_foreach(ports, j, p)
		{
			struct top_net_port *r = &rows[k++];
			const char *pg = json_string_value(
				json_object_get(p, "portgroup"));
			const char *mac = json_string_value(
				json_object_get(p, "mac"));
			uint64_t id;
			if (!pg || !mac || u64(p, "id", &id) ||
			    u64(p, "tx_frames", &r->tx_frames) ||
			    u64(p, "tx_bytes", &r->tx_bytes) ||
			    u64(p, "rx_frames", &r->rx_frames) ||
			    u64(p, "rx_bytes", &r->rx_bytes) ||
			    u64(p, "tx_dropped", &r->tx_dropped) ||
			    u64(p, "rx_dropped", &r->rx_dropped) ||
			    u64(p, "cpu_us", &r->cpu_us)) {
				free(rows);
				return bad(err, i, "a port's figures");
			}
			snprintf(r->sw, sizeof(r->sw), "%s", name);
			snprintf(r->port, sizeof(r->port), "%" PRIu64, id);
			snprintf(r->portgroup, sizeof(r->portgroup), "%s", pg);
			snprintf(r->mac, sizeof(r->mac), "%s", mac);
			tot->tx_frames += r->tx_frames;
			tot->tx_bytes += r->tx_bytes;
			tot->rx_frames += r->rx_frames;
			tot->rx_bytes += r->rx_bytes;
			tot->tx_dropped += r->tx_dropped;
			tot->rx_dropped += r->rx_dropped;
		}
		const char *ut = json_string_value(
			json_object_get(json_object_get(sw, "uplink"), "type"));
		uint64_t up;
		if ((json_object_get(sw, "vxlan") ||
		     (ut && strcmp(ut, "none"))) &&
		    !u64(sw, "uplink_cpu_us", &up)) {
			struct top_net_port *r = &rows[k++];
			snprintf(r->sw, sizeof(r->sw), "%s", name);
			snprintf(r->port, sizeof(r->port), "uplink");
			r->cpu_us = up;
			const json_t *uc = json_object_get(sw,
							   "uplink_counters");
			if (uc && (u64(uc, "tx_frames", &r->tx_frames) ||
				   u64(uc, "tx_bytes", &r->tx_bytes) ||
				   u64(uc, "rx_frames", &r->rx_frames) ||
				   u64(uc, "rx_bytes", &r->rx_bytes) ||
				   u64(uc, "tx_dropped", &r->tx_dropped) ||
				   u64(uc, "rx_dropped", &r->rx_dropped))) {
				free(rows);
				return bad(err, i, "uplink_counters");
			}
		}
	}
	*out = rows;
	*n = k;
	return 0;
}

static const struct top_net_port *match(const struct top_net_port *prev,
					size_t n, const struct top_net_port *c)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(prev[i].sw, c->sw) &&
		    !strcmp(prev[i].port, c->port) &&
		    !strcmp(prev[i].mac, c->mac))
			return &prev[i];
	return NULL;
}

/* A counter's growth; a counter that went back (a switch or port that
 * was recreated) counts from zero. */
static double delta(uint64_t now, uint64_t before)
{
	return now >= before ? (double)(now - before) : (double)now;
}

void top_net_rates(const struct top_net_port *prev, size_t n_prev,
		   const struct top_net_port *cur, size_t n_cur, double dt_s,
		   struct top_net_rate *out)
{
	static const struct top_net_port zero;

	if (dt_s <= 0)
		dt_s = 1;
	for (size_t i = 0; i < n_cur; i++) {
		const struct top_net_port *c = &cur[i];
		const struct top_net_port *p = match(prev, n_prev, c);
		struct top_net_rate *r = &out[i];

		if (!p)
			p = &zero;
		r->cur = *c;
		r->tx_pps = delta(c->tx_frames, p->tx_frames) / dt_s;
		r->rx_pps = delta(c->rx_frames, p->rx_frames) / dt_s;
		r->tx_mbps = delta(c->tx_bytes, p->tx_bytes) * 8 / 1e6 / dt_s;
		r->rx_mbps = delta(c->rx_bytes, p->rx_bytes) * 8 / 1e6 / dt_s;
		r->drop_tx = delta(c->tx_dropped, p->tx_dropped) / dt_s;
		r->drop_rx = delta(c->rx_dropped, p->rx_dropped) / dt_s;
		r->cpu_pct = delta(c->cpu_us, p->cpu_us) / 1e4 / dt_s;
	}
}

void top_net_heading(char *buf, size_t len)
{
	snprintf(buf, len, "%-12s %-6s %-12s %-17s %9s %8s %9s %8s %7s %7s %6s",
		 "SWITCH", "PORT", "PORTGROUP", "MAC", "PKTTX/s", "MbTX/s",
		 "PKTRX/s", "MbRX/s", "DRPTX/s", "DRPRX/s", "%CPU");
}

void top_net_row(char *buf, size_t len, const struct top_net_rate *r)
{
	snprintf(buf, len,
		 "%-12.12s %-6s %-12.12s %-17s %9.0f %8.2f %9.0f %8.2f %7.0f "
		 "%7.0f %6.2f",
		 r->cur.sw, r->cur.port,
		 r->cur.portgroup[0] ? r->cur.portgroup : "-",
		 r->cur.mac[0] ? r->cur.mac : "-", r->tx_pps, r->tx_mbps,
		 r->rx_pps, r->rx_mbps, r->drop_tx, r->drop_rx, r->cpu_pct);
}

int top_net_csv_header(FILE *f)
{
	return fputs("time_ms,switch,port,portgroup,mac,tx_pps,tx_mbps,rx_pps,"
		     "rx_mbps,drop_tx_ps,drop_rx_ps,cpu_pct,cpu_us\n",
		     f) < 0
		       ? -EIO
		       : 0;
}

int top_net_csv(FILE *f, const struct top_net_rate *r, size_t n,
		uint64_t time_ms)
{
	for (size_t i = 0; i < n; i++)
		if (fprintf(f,
			    "%" PRIu64 ",%s,%s,%s,%s,%.1f,%.3f,%.1f,%.3f,%.1f,"
			    "%.1f,%.3f,%" PRIu64 "\n",
			    time_ms, r[i].cur.sw, r[i].cur.port,
			    r[i].cur.portgroup, r[i].cur.mac, r[i].tx_pps,
			    r[i].tx_mbps, r[i].rx_pps, r[i].rx_mbps,
			    r[i].drop_tx, r[i].drop_rx, r[i].cpu_pct,
			    r[i].cur.cpu_us) < 0)
			return -EIO;
	return 0;
}
