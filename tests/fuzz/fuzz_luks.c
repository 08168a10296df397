/*
 * libFuzzer target: the LUKS1 header parser and key-slot unlocking
 * (src/block/luks.c) on a hostile header. The input is the start of a LUKS
 * area (the 592-byte header, then key material), placed in a 1 MiB zeroed
 * area. luks_parse() must refuse anything inconsistent with a message and
 * never read outside the area; a header it accepts is unlocked with a
 * fixed passphrase when its PBKDF2 iteration counts are small (large ones
 * only cost time), which must fail cleanly (-EACCES) or succeed.
 * Seeds: tests/fuzz/corpus/luks/ (QEMU's header, iterations patched).
 *
 * Build and run: tools/fuzz luks (or see tests/fuzz/meson.build).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block/luks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AREA	 (1u << 20)
#define ITER_MAX 64u

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *area;
	struct luks_header h;
	struct error err = { 0 };
	struct luks *l = NULL;
	bool cheap;
	int r;

	if (!area && !(area = malloc(AREA)))
		abort();
	memset(area, 0, AREA);
	memcpy(area, data, size < AREA ? size : AREA);
	/* the parser alone on exactly the input's bytes */
	r = luks_parse(data, size, size, &h, &err);
	CHECK(r == 0 || (r < 0 && err.msg[0]));
	r = luks_parse(area, AREA, AREA, &h, &err);
	CHECK(r == 0 || (r < 0 && err.msg[0]));
	if (r < 0)
		return 0;
	cheap = h.mk_iterations <= ITER_MAX;
	for (int i = 0; i < LUKS_SLOTS; i++)
		if (h.slot[i].active == LUKS_SLOT_ACTIVE &&
		    h.slot[i].iterations > ITER_MAX)
			cheap = false;
	if (!cheap)
		return 0;
	r = luks_unlock(area, AREA, (const uint8_t *)"fuzz", 4, &l, &err);
	CHECK(r == 0 || r == -EACCES);
	CHECK((r == 0) == (l != NULL));
	if (l) {
		uint8_t buf[1024] = { 0 };

		CHECK(luks_crypt(l, 1, buf, sizeof(buf), true) == 0);
		CHECK(luks_crypt(l, 1, buf, sizeof(buf), false) == 0);
		for (size_t i = 0; i < sizeof(buf); i++)
			CHECK(buf[i] == 0);
	}
	luks_free(l);
	return 0;
}
