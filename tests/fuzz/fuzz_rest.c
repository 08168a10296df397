/*
 * libFuzzer target: the REST API's VM definition bodies (POST /vms,
 * PUT /vms/NAME; docs/api.md, docs/vm-definition.md), the largest request
 * body an API client sends: the JSON text goes through vmdef_parse(), the
 * parser and rules the daemon runs on it. Checks: a refused body is a
 * negative errno with a message; an accepted one survives the JSON round
 * trip unchanged (vmdef_from_json(vmdef_to_json_value(d)) == d) and
 * converts to a board configuration. ASan/UBSan catch the rest.
 * Seeds: tests/fuzz/corpus/rest/.
 *
 * Build and run: tools/fuzz rest.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine/virt.h"
#include "util/log.h"
#include "vmm/vmdef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct vmdef def, back;
static struct virt_config cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err = { 0 };
	static bool quiet;

	if (!quiet) {
		log_set_file(fopen("/dev/null", "w"));
		quiet = true;
	}
	char *body = malloc(size + 1);
	CHECK(body);
	memcpy(body, data, size);
	body[size] = '\0';
	int r = vmdef_parse(body, &def, &err);
	free(body);
	if (r) {
		CHECK(r < 0 && err.msg[0]);
		return 0;
	}
	json_t *j = vmdef_to_json_value(&def);
	CHECK(j);
	error_clear(&err);
	CHECK(vmdef_from_json(j, &back, &err) == 0);
	CHECK(vmdef_equal(&def, &back));
	json_decref(j);
	error_clear(&err);
	r = vmdef_to_virt_config(&def, &cfg, &err);
	CHECK(r == 0 || (r < 0 && err.msg[0]));
	return 0;
}
