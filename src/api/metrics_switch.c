/*
 * The virtual switches in GET /metrics (metrics.h, docs/metrics.md): the
 * CPU time of each switch's thread and, per port, the part of it spent
 * on the frames that port sent, with the port's frame and byte counters.
 */
#include "api/metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

static void port_labels(FILE *f, const char *name,
			const struct metrics_switch *sw,
			const struct metrics_switch_port *p)
{
	fprintf(f, "%s{switch=\"", name);
	metrics_write_label_value(f, sw->name);
	fputs("\",port=\"", f);
	metrics_write_label_value(f, p->id);
	fputs("\",portgroup=\"", f);
	metrics_write_label_value(f, p->portgroup);
	fputs("\",mac=\"", f);
	metrics_write_label_value(f, p->mac);
	fputc('"', f);
}

static void seconds(FILE *f, uint64_t ns)
{
	fprintf(f, "} %" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000u,
		ns % 1000000000u);
}

void metrics_render_switches(FILE *f, const struct metrics_snapshot *s)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} fam[] = {
		{ "softvisor_switch_port_transmit_frames_total",
		  "Frames a switch port sent into the switch (from its VM).",
		  offsetof(struct metrics_switch_port, tx_frames) },
		{ "softvisor_switch_port_transmit_bytes_total",
		  "Bytes a switch port sent into the switch.",
		  offsetof(struct metrics_switch_port, tx_bytes) },
		{ "softvisor_switch_port_receive_frames_total",
		  "Frames the switch delivered to a port (toward its VM).",
		  offsetof(struct metrics_switch_port, rx_frames) },
		{ "softvisor_switch_port_receive_bytes_total",
		  "Bytes the switch delivered to a port.",
		  offsetof(struct metrics_switch_port, rx_bytes) },
	};

	if (!s->n_switches)
		return;
	fprintf(f, "# HELP softvisor_switch_cpu_seconds_total CPU time of a "
		   "virtual switch's thread (switching, polling, hellos).\n"
		   "# TYPE softvisor_switch_cpu_seconds_total counter\n");
	for (size_t i = 0; i < s->n_switches; i++) {
		fputs("softvisor_switch_cpu_seconds_total{switch=\"", f);
		metrics_write_label_value(f, s->switches[i].name);
		fputc('"', f);
		seconds(f, s->switches[i].cpu_ns);
	}
	fprintf(f, "# HELP softvisor_switch_port_cpu_seconds_total CPU time "
		   "the switch spent on the frames a port sent (receiving, "
		   "forwarding and delivering them).\n"
		   "# TYPE softvisor_switch_port_cpu_seconds_total counter\n");
	for (size_t i = 0; i < s->n_switches; i++)
		for (size_t j = 0; j < s->switches[i].n_ports; j++) {
			port_labels(f,
				    "softvisor_switch_port_cpu_seconds_total",
				    &s->switches[i], &s->switches[i].ports[j]);
			seconds(f, s->switches[i].ports[j].cpu_ns);
		}
	for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", fam[k].name,
			fam[k].help, fam[k].name);
		for (size_t i = 0; i < s->n_switches; i++)
			for (size_t j = 0; j < s->switches[i].n_ports; j++) {
				const struct metrics_switch_port *p =
					&s->switches[i].ports[j];
				uint64_t v;
				memcpy(&v, (const char *)p + fam[k].off,
				       sizeof(v));
				port_labels(f, fam[k].name, &s->switches[i], p);
				fprintf(f, "} %" PRIu64 "\n", v);
			}
	}
}
