/* Parsing helpers: see parse.h. */
#include "util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
	      const char *what, struct error *err)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		goto bad;
	if (v < min || v > max)
		return error_set(err, ERANGE,
				 "%s %s: out of range, expected %llu..%llu",
				 what, s, (unsigned long long)min,
				 (unsigned long long)max);
	*out = v;
	return 0;
bad:
	return error_set(err, EINVAL, "%s %s: expected an unsigned integer",
			 what, s ? s : "(null)");
}

int parse_size(const char *s, uint64_t default_unit, uint64_t *out,
	       const char *what, struct error *err)
{
	char *end;
	unsigned long long v;
	uint64_t unit = default_unit;

	if (!s || !isdigit((unsigned char)*s))
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		goto bad;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'B': unit = 1; break;
		case 'K': unit = 1ULL << 10; break;
		case 'M': unit = 1ULL << 20; break;
		case 'G': unit = 1ULL << 30; break;
		case 'T': unit = 1ULL << 40; break;
		default: goto bad;
		}
		end++;
		if (unit != 1 &&
		    (strcasecmp(end, "B") == 0 || strcasecmp(end, "iB") == 0))
			end += strlen(end);
		if (*end)
			goto bad;
	}
	if (v != 0 && unit > UINT64_MAX / v)
		return error_set(err, ERANGE, "%s %s: too large", what, s);
	*out = v * unit;
	return 0;
bad:
	return error_set(err, EINVAL, "%s %s: expected a size like 512M or 2G",
			 what, s ? s : "(null)");
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];

	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
		if (lo < 0 || p[2] != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, m, 6);
	return 0;
}

int parse_next_field(const char **sp, char *out, size_t size)
{
	const char *s = *sp;
	size_t n = 0;

	for (; *s; s++) {
		if (*s == ',') {
			if (s[1] != ',')
				break;
			s++;
		}
		if (n + 1 >= size)
			return -1;
		out[n++] = *s;
	}
	out[n] = '\0';
	*sp = *s ? s + 1 : s;
	return (int)n;
}
