/*
 * libFuzzer target: the QMP control channel's commands (src/machine/
 * qmp.c, docs/qmp.md) through qmp_handle_line(), the function its thread
 * calls for every line a client sends. The input is split at newlines;
 * every line is one command for one client (its capabilities state
 * carries over, and is negotiated first for half of the inputs so the
 * commands behind the handshake are reached). The VM side is a fake that
 * answers every operation. Checks: every reply is one JSON object with
 * "return" or "error" (or a greeting-free NULL for a blank line);
 * ASan/UBSan catch the rest.
 *
 * Build and run: tools/fuzz qmp.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/qmp.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct qmp *q;

static int set_target(void *opaque, uint64_t bytes)
{
	return bytes ? 0 : -22;
}

static int get_balloon(void *opaque, uint64_t *actual)
{
	*actual = 256ULL << 20;
	return 0;
}

static void get_stats(void *opaque, struct qmp_stats *st)
{
	qmp_stats_u64(st, "virtio-blk0", "read_bytes", 4096);
	qmp_stats_str(st, "virtio-blk0", "path", "/fuzz.img");
}

static void quit(void *opaque)
{
}

static int ok(void *opaque)
{
	return 0;
}

static const struct qmp_ops ops = {
	.set_balloon_target = set_target,
	.get_balloon = get_balloon,
	.get_stats = get_stats,
	.quit = quit,
	.stop = ok,
	.cont = ok,
	.system_powerdown = ok,
};

static void init(void)
{
	struct qmp_spec spec;
	struct error err = { 0 };

	log_set_file(fopen("/dev/null", "w"));
	snprintf(spec.path, sizeof(spec.path), "%s/fuzz-qmp-%d.sock",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
		 (int)getpid());
	q = qmp_open(&spec, &ops, NULL, NULL, &err);
	CHECK(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char caps[] = "{\"execute\":\"qmp_capabilities\"}";
	bool negotiated = false;

	if (!q)
		init();
	if (size && (data[0] & 1)) {
		free(qmp_handle_line(q, &negotiated, caps, strlen(caps)));
		CHECK(negotiated);
		data++;
		size--;
	}
	while (size) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;
		char *reply = qmp_handle_line(q, &negotiated,
					      (const char *)data, n);

		if (reply) {
			json_t *o = json_loads(reply, 0, NULL);
			CHECK(o && json_is_object(o));
			CHECK(json_object_get(o, "return") ||
			      json_object_get(o, "error"));
			json_decref(o);
			free(reply);
		}
		data += n + (nl != NULL);
		size -= n + (nl != NULL);
	}
	return 0;
}
