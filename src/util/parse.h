/* Parsing of user-supplied numbers and sizes, with messages that say what is
 * expected. All functions return 0 or a negative errno and fill err. */
#ifndef SV_UTIL_PARSE_H
#define SV_UTIL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* "512M", "2G", "4096", "1.5G" is rejected (integers only). Suffixes K, M, G,
 * T (powers of 1024), optional trailing "B"/"iB". A bare number is bytes
 * unless default_unit is not 1 (QEMU's -m takes MiB). what names the option. */
int parse_size(const char *s, uint64_t default_unit, uint64_t *out,
	       const char *what, struct error *err);

/* Unsigned decimal or 0x-hex integer in [min, max]. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
	      const char *what, struct error *err);

/* "on", "yes", "true", "1" -> true; "off", "no", "false", "0" -> false;
 * anything else -EINVAL (err not touched: the caller names the option). */
int parse_bool(const char *s, bool *out);

/* A MAC address "52:54:00:12:34:56" (hex digits in either case, ':' between
 * the six bytes, nothing after). 0 or -EINVAL (err not touched: the caller
 * says what the address is for and which addresses it refuses). */
int parse_mac(const char *s, uint8_t mac[6]);

/* Copy the next comma-separated field of *sp into out (",," is a literal
 * comma) and advance *sp past its comma (to the NUL at the end). Returns
 * the field's length, or -1 if it does not fit in size bytes (*sp is then
 * left unchanged). Used by the option strings of --disk and --net. */
int parse_next_field(const char **sp, char *out, size_t size);

#endif
