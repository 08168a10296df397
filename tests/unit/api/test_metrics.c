/*
 * The /metrics renderer (src/api/metrics.c) on a synthetic snapshot:
 * label escaping, the text format's structure (HELP and TYPE for every
 * family, contiguous families, names and values that parse), naming rules
 * and exact values.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/metrics.h"

static const char *const states[] = { "defined", "running", "paused", "stopped",
				      "crashed" };

/* Two VMs: web1 running (2 vCPUs, a disk, a NIC) and one with every
 * character a label value must escape, defined. */
static void snapshot(struct metrics_snapshot *s, struct metrics_vm vms[2],
		     struct metrics_api_count api[2])
{
	memset(s, 0, sizeof(*s));
	memset(vms, 0, 2 * sizeof(*vms));
	s->host = (struct metrics_host){
		.version = "1.2.3",
		.uptime_s = 12.5,
		.pcpus = 4,
		.mhz_per_pcpu = 2000,
		.capacity_mhz = 8000,
		.reserved_mhz = 500,
		.memory_bytes = 1ull << 33,
		.scheduler = true,
	};
	strcpy(vms[0].name, "web1");
	vms[0].id = 3;
	vms[0].state = "running";
	vms[0].cpus = 2;
	vms[0].memory_bytes = 256ull << 20;
	vms[0].cpu_shares = 2000;
	vms[0].cpu_reservation_mhz = 500;
	vms[0].live = vms[0].sched = true;
	vms[0].entitled_mhz = 4000;
	vms[0].n_vcpus = 2;
	vms[0].vcpu[0] = (struct metrics_vcpu){ .used_us = 1500000,
						.ready_us = 7,
						.wait_us = 20000000,
						.costop_us = 0,
						.instret = 123456789 };
	vms[0].vcpu[1].used_us = 42;
	vms[0].n_disks = 1;
	vms[0].disk[0] = (struct metrics_disk){ .rd_ops = 10,
						.rd_bytes = 40960,
						.wr_ops = 2,
						.wr_bytes = 8192,
						.rd_time_ns = 1500000123,
						.throttled_ns = 250000000,
						.cap_iops = 100,
						.shares = 2000 };
	vms[0].n_nics = 1;
	vms[0].nic[0] = (struct metrics_nic){ .rx_packets = 5,
					      .rx_bytes = 300,
					      .tx_packets = 6,
					      .tx_bytes = 400,
					      .tx_dropped = 1 };
	vms[0].has_mem = true;
	vms[0].mem = (struct metrics_mem){ .private_bytes = 100 << 20,
					   .compressed_bytes = 8192,
					   .compressed_store_bytes = 3000,
					   .swapped_bytes = 4096,
					   .limit_bytes = 96 << 20,
					   .swap_ins = 7 };
	s->host.mem_budget_bytes = 640ull << 20;
	s->host.mem_reserved_bytes = 64ull << 20;
	vms[0].mem_shares = 2560;
	vms[0].mem_live = vms[0].mem_has_balloon = true;
	vms[0].mem_target_bytes = 128ull << 20;
	vms[0].mem_active_bytes = 50ull << 20;
	vms[0].mem_balloon_target_bytes = 100ull << 20;
	vms[0].mem_balloon_bytes = 99ull << 20;
	vms[0].mem_cow_breaks = 7;
	strcpy(vms[1].name, "we\"ird\\na\nme");
	vms[1].id = 4;
	vms[1].state = "defined";
	vms[1].cpus = 1;
	vms[1].memory_bytes = 1 << 20;
	vms[1].cpu_limit_mhz = 100;
	s->vms = vms;
	s->n_vms = 2;
	s->states = states;
	s->n_states = 5;
	api[0] = (struct metrics_api_count){ .status = 404, .count = 2 };
	api[1] = (struct metrics_api_count){ .status = 200, .count = 17 };
	s->api = api;
	s->n_api = 2;
}

static char *render(void)
{
	struct metrics_snapshot s;
	struct metrics_vm vms[2];
	struct metrics_api_count api[2];
	char *text = NULL;
	size_t len = 0;

	snapshot(&s, vms, api);
	assert_int_equal(metrics_render(&s, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void test_escape(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	metrics_write_label_value(f, "a\\b\"c\nd\té");
	fclose(f);
	assert_string_equal(buf, "a\\\\b\\\"c\\nd\té");
	free(buf);

	char *text = render();
	/* the odd VM's name, escaped, in its samples */
	assert_true(has_line(text, "softvisor_vm_vcpus{vm=\"we\\\"ird\\\\na"
				   "\\nme\"} 1"));
	assert_true(has_line(text, "softvisor_vm_state{vm=\"we\\\"ird\\\\na"
				   "\\nme\",state=\"defined\"} 1"));
	free(text);
}

static void test_values(void **state)
{
	(void)state;
	char *text = render();

	assert_true(
		has_line(text, "softvisor_build_info{version=\"1.2.3\"} 1"));
	assert_true(has_line(text, "softvisor_daemon_uptime_seconds 12.500"));
	/* sorted by code */
	const char *a = strstr(text,
			       "softvisor_api_requests_total{code=\"200\"}"
			       " 17\n");
	const char *b = strstr(text,
			       "softvisor_api_requests_total{code=\"404\"}"
			       " 2\n");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	assert_true(has_line(text, "softvisor_host_pcpus 4"));
	assert_true(has_line(text, "softvisor_host_cpu_capacity_hertz "
				   "8000000000"));
	assert_true(has_line(text, "softvisor_host_cpu_reserved_hertz "
				   "500000000"));
	assert_true(has_line(text, "softvisor_vm_state{vm=\"web1\","
				   "state=\"running\"} 1"));
	assert_true(has_line(text, "softvisor_vm_state{vm=\"web1\","
				   "state=\"paused\"} 0"));
	assert_true(has_line(text, "softvisor_vm_memory_bytes{vm=\"web1\"} "
				   "268435456"));
	assert_true(has_line(text, "softvisor_vm_cpu_used_seconds_total{vm="
				   "\"web1\",vcpu=\"0\"} 1.500000"));
	/* guest memory (docs/memory.md) */
	assert_true(has_line(text, "softvisor_vm_memory_private_bytes{vm="
				   "\"web1\"} 104857600"));
	assert_true(has_line(text, "softvisor_vm_memory_compressed_bytes{vm="
				   "\"web1\"} 8192"));
	assert_true(has_line(text, "softvisor_vm_memory_compression_cache_"
				   "bytes{vm=\"web1\"} 3000"));
	assert_true(has_line(text, "softvisor_vm_memory_swapped_bytes{vm="
				   "\"web1\"} 4096"));
	/* the limit is the configured qos.memory.limit (render_vm_memory),
	 * absent here; not the reclaimer's copy of it */
	assert_true(has_line(text, "softvisor_vm_memory_swap_ins_total{vm="
				   "\"web1\"} 7"));
	assert_true(has_line(text, "softvisor_vm_cpu_used_seconds_total{vm="
				   "\"web1\",vcpu=\"1\"} 0.000042"));
	assert_true(has_line(text, "softvisor_vm_cpu_wait_seconds_total{vm="
				   "\"web1\",vcpu=\"0\"} 20.000000"));
	assert_true(has_line(text, "softvisor_vm_cpu_instructions_total{vm="
				   "\"web1\",vcpu=\"0\"} 123456789"));
	assert_true(has_line(text, "softvisor_vm_disk_read_bytes_total{vm="
				   "\"web1\",disk=\"0\"} 40960"));
	assert_true(has_line(text, "softvisor_vm_disk_write_requests_total{vm="
				   "\"web1\",disk=\"0\"} 2"));
	/* disk times in seconds, exactly; the shares and the cap */
	assert_true(has_line(text, "softvisor_vm_disk_read_time_seconds_total"
				   "{vm=\"web1\",disk=\"0\"} 1.500000123"));
	assert_true(has_line(text, "softvisor_vm_disk_throttled_seconds_total"
				   "{vm=\"web1\",disk=\"0\"} 0.250000000"));
	assert_true(has_line(text, "softvisor_vm_disk_cap_iops{vm=\"web1\","
				   "disk=\"0\"} 100"));
	assert_true(has_line(text, "softvisor_vm_disk_shares{vm=\"web1\","
				   "disk=\"0\"} 2000"));
	assert_true(has_line(text, "# TYPE softvisor_vm_disk_cap_iops gauge"));
	assert_true(has_line(text, "softvisor_vm_nic_tx_dropped_total{vm="
				   "\"web1\",nic=\"0\"} 1"));
	assert_true(has_line(text, "softvisor_vm_cpu_limit_hertz{vm=\"we\\\""
				   "ird\\\\na\\nme\"} 100000000"));
	/* memory (issue 15) */
	assert_true(has_line(text, "softvisor_host_memory_budget_bytes "
				   "671088640"));
	assert_true(has_line(text, "softvisor_host_memory_reserved_bytes "
				   "67108864"));
	assert_true(has_line(text, "softvisor_vm_memory_shares{vm=\"web1\"} "
				   "2560"));
	assert_true(has_line(text, "softvisor_vm_memory_target_bytes{vm="
				   "\"web1\"} 134217728"));
	assert_true(has_line(text, "softvisor_vm_memory_balloon_bytes{vm="
				   "\"web1\"} 103809024"));
	assert_true(has_line(text, "softvisor_vm_memory_cow_breaks_total{vm="
				   "\"web1\"} 7"));
	assert_null(
		strstr(text, "softvisor_vm_memory_target_bytes{vm=\"we\\\""));
	assert_null(strstr(text, "softvisor_vm_memory_limit_bytes{vm="));
	/* a VM that does not run has no live figures; no limit: no sample */
	assert_null(strstr(text,
			   "softvisor_vm_cpu_used_seconds_total{vm=\"we\\\""));
	assert_null(strstr(text, "softvisor_vm_cpu_limit_hertz{vm=\"web1\""));
	free(text);
}

/* A metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static size_t name_len(const char *p, bool colon)
{
	size_t n = 0;

	while (isalpha((unsigned char)p[n]) || p[n] == '_' ||
	       (colon && p[n] == ':') || (n && isdigit((unsigned char)p[n])))
		n++;
	return n;
}

/* Parse one sample line "name{l="v",...} value"; the family's name into
 * fam. Fails the test on a malformed line. */
static void parse_sample(const char *line, char *fam, size_t fam_size)
{
	size_t n = name_len(line, true);
	const char *p = line + n;
	char *end;

	assert_true(n > 0 && n < fam_size);
	memcpy(fam, line, n);
	fam[n] = '\0';
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t ln = name_len(p, false);

			assert_true(ln > 0);
			p += ln;
			assert_int_equal(*p++, '=');
			assert_int_equal(*p++, '"');
			while (*p != '"') {
				assert_true(*p && *p != '\n');
				if (*p == '\\') {
					p++;
					assert_true(*p == '\\' || *p == '"' ||
						    *p == 'n');
				}
				p++;
			}
			p++;
			if (*p == ',')
				p++;
			else
				assert_int_equal(*p, '}');
		}
		p++;
	}
	assert_int_equal(*p++, ' ');
	strtod(p, &end);
	assert_true(end > p);
	assert_int_equal(*end, '\0');
}

static void test_format(void **state)
{
	(void)state;
	char *text = render(), *save = NULL;
	char help[128] = "", type[128] = "", kind[16] = "";
	char seen[4096] = " "; /* families already closed */
	unsigned samples = 0;

	assert_true(text[strlen(text) - 1] == '\n');
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char fam[128], probe[140];

		if (!strncmp(line, "# HELP ", 7)) {
			size_t n = name_len(line + 7, true);

			assert_true(n > 0 && line[7 + n] == ' ');
			/* a family appears once */
			snprintf(probe, sizeof(probe), " %.*s ", (int)n,
				 line + 7);
			assert_null(strstr(seen, probe));
			if (strlen(seen) + strlen(probe) < sizeof(seen))
				strcat(seen, probe + 1);
			snprintf(help, sizeof(help), "%.*s", (int)n, line + 7);
			type[0] = '\0';
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(
				sscanf(line + 7, "%127s %15s", type, kind), 2);
			assert_string_equal(type, help);
			assert_true(!strcmp(kind, "gauge") ||
				    !strcmp(kind, "counter"));
			/* naming: counters end in _total, others do not */
			size_t tl = strlen(type);
			bool total = tl > 6 && !strcmp(type + tl - 6, "_total");
			assert_int_equal(total, !strcmp(kind, "counter"));
			assert_int_equal(strncmp(type, "softvisor_", 10), 0);
			continue;
		}
		assert_true(line[0] != '#');
		parse_sample(line, fam, sizeof(fam));
		/* under the HELP and TYPE of its own family */
		assert_string_equal(fam, type);
		samples++;
	}
	assert_true(samples > 40);
	free(text);
}

/* The switch families: the thread's CPU time and each port's share, in
 * seconds exactly; label values escaped. */
static void test_switches(void **state)
{
	(void)state;
	struct metrics_switch_port ports[2] = {
		{ .id = "3",
		  .mac = "52:54:00:00:00:01",
		  .portgroup = "red",
		  .cpu_ns = 1500000001,
		  .tx_frames = 7,
		  .rx_bytes = 9 },
		{ .id = "uplink", .portgroup = "r\"d", .cpu_ns = 20 },
	};
	struct metrics_switch sw = { .name = "lan",
				     .cpu_ns = 2000000000,
				     .n_ports = 2,
				     .ports = ports };
	struct metrics_snapshot s = { .host = { .version = "x" },
				      .switches = &sw,
				      .n_switches = 1 };
	char *text = NULL;
	size_t len;

	assert_int_equal(metrics_render(&s, &text, &len), 0);
	assert_true(has_line(
		text, "softvisor_switch_cpu_seconds_total{switch=\"lan\"} "
		      "2.000000000"));
	assert_true(has_line(text, "softvisor_switch_port_cpu_seconds_total{"
				   "switch=\"lan\",port=\"3\",portgroup="
				   "\"red\",mac=\"52:54:00:00:00:01\"} "
				   "1.500000001"));
	assert_true(has_line(text, "softvisor_switch_port_cpu_seconds_total{"
				   "switch=\"lan\",port=\"uplink\","
				   "portgroup=\"r\\\"d\",mac=\"\"} "
				   "0.000000020"));
	assert_true(has_line(text,
			     "softvisor_switch_port_transmit_frames_total{"
			     "switch=\"lan\",port=\"3\",portgroup="
			     "\"red\",mac=\"52:54:00:00:00:01\"} 7"));
	assert_non_null(
		strstr(text, "# TYPE softvisor_switch_port_receive_bytes_total "
			     "counter\n"));
	free(text);
}

static void test_empty(void **state)
{
	(void)state;
	struct metrics_snapshot s = { .host = { .version = "x" } };
	char *text = NULL;
	size_t len;

	assert_int_equal(metrics_render(&s, &text, &len), 0);
	assert_non_null(strstr(text, "# TYPE softvisor_vm_state gauge\n"));
	assert_null(strstr(text, "{vm="));
	assert_non_null(
		strstr(text, "\nsoftvisor_host_cpu_reserved_hertz 0\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),	 cmocka_unit_test(test_values),
		cmocka_unit_test(test_format),	 cmocka_unit_test(test_empty),
		cmocka_unit_test(test_switches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
